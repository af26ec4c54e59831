//! The data the whole suite writes: Jaeger's fixtures plus synthetic traces
//! built here from the model (no wire format involved).
//!
//! Every synthetic dataset has its own service names and trace IDs, and sits
//! in its own time range, so each check can tell its data apart from the rest
//! of the corpus, as in Jaeger's suite.

use std::collections::BTreeSet;
use std::sync::Arc;

use spoor_model::testing;
use spoor_model::{
    AnyValue, DependencyLink, KeyValue, Resource, SpanBatch, SpanId, SpanKind, SpanRecord, TraceId,
    UnixNanos, keys,
};

use super::fixtures::{Fixtures, NANOS_PER_DAY};

/// The fixture the service, operation and get-trace checks read.
pub(crate) const EXAMPLE_FIXTURE: &str = "example_trace";

pub(crate) const LARGE_TRACE_SERVICE: &str = "large-trace-service";
pub(crate) const LARGE_TRACE_SPANS: usize = 10_008;
pub(crate) const DUPLICATE_SPANS_SERVICE: &str = "duplicate-spans-service";
pub(crate) const DUPLICATE_TRACE_SPANS: usize = 200;
pub(crate) const DUPLICATE_EVERY: usize = 20;

/// The attribute the search-without-service check matches on (Jaeger's RFC 0013 check).
pub(crate) const CROSS_SERVICE_MARKER: &str = "rfc0013.cross.service";
pub(crate) const CROSS_SERVICES: [&str; 2] = ["cross-service-a", "cross-service-b"];

pub(crate) const ORDERING_SERVICE: &str = "ordering-service";

const SECOND: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * SECOND;

/// Everything `run_all` writes, and what the synthetic checks expect.
pub(crate) struct Corpus {
    pub example: SpanBatch,
    pub large: SpanBatch,
    pub duplicates: SpanBatch,
    pub cross_service: Vec<SpanBatch>,
    pub ordering: Vec<SpanBatch>,
    pub ordering_window: (UnixNanos, UnixNanos),
    pub dependencies: Vec<SpanBatch>,
    /// (window start, window end, expected links sorted by parent then child).
    pub dependency_windows: Vec<(UnixNanos, UnixNanos, Vec<DependencyLink>)>,
}

impl Corpus {
    /// Builds the synthetic data from the fixtures. Fails only when the
    /// example fixture is missing.
    pub fn build(fixtures: &Fixtures) -> Result<Corpus, String> {
        let example = fixtures
            .traces
            .get(EXAMPLE_FIXTURE)
            .filter(|b| !b.is_empty())
            .cloned()
            .ok_or_else(|| format!("the fixtures hold no {EXAMPLE_FIXTURE:?} trace"))?;
        let source = example.spans[0].clone();
        let large = synthetic_trace(&source, LARGE_TRACE_SPANS, None, LARGE_TRACE_SERVICE, 0xA1);
        let duplicates = synthetic_trace(
            &source,
            DUPLICATE_TRACE_SPANS,
            Some(DUPLICATE_EVERY),
            DUPLICATE_SPANS_SERVICE,
            0xD1,
        );
        let (ordering, ordering_window) = ordering_traces(fixtures.now);
        let (dependencies, dependency_windows) = dependency_traces(fixtures.now);
        Ok(Corpus {
            example,
            large,
            duplicates,
            cross_service: cross_service_traces(fixtures.now),
            ordering,
            ordering_window,
            dependencies,
            dependency_windows,
        })
    }

    /// Every synthetic batch, in the order `run_all` writes them (after the fixtures).
    pub fn synthetic_batches(&self) -> impl Iterator<Item = &SpanBatch> {
        [&self.large, &self.duplicates]
            .into_iter()
            .chain(&self.cross_service)
            .chain(&self.ordering)
            .chain(&self.dependencies)
    }

    /// Every service name the corpus (fixtures included) writes, sorted.
    pub fn services(&self, fixtures: &Fixtures) -> Vec<String> {
        let names: BTreeSet<String> = fixtures
            .traces
            .values()
            .chain(self.synthetic_batches())
            .flat_map(|b| b.spans.iter())
            .map(|r| r.service_name().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        names.into_iter().collect()
    }

    /// A trace ID no written span carries (all bytes equal, like Jaeger's probe).
    pub fn absent_trace_id(&self, fixtures: &Fixtures) -> Option<TraceId> {
        let present: BTreeSet<TraceId> = fixtures
            .traces
            .values()
            .chain(self.synthetic_batches())
            .flat_map(|b| b.spans.iter())
            .map(|r| r.span.trace_id)
            .collect();
        (0..=u8::MAX)
            .map(|b| TraceId([b; 16]))
            .find(|id| !present.contains(id))
    }
}

/// A trace ID whose first byte is `first` and whose other bytes count 1, 2, 3, …
fn counted_trace_id(first: u8) -> TraceId {
    let mut id = [0u8; 16];
    id[0] = first;
    for (i, b) in id.iter_mut().enumerate().skip(1) {
        *b = i as u8;
    }
    TraceId(id)
}

fn with_service(resource: &Resource, service: &str) -> Resource {
    let mut resource = resource.clone();
    match resource
        .attributes
        .iter_mut()
        .find(|kv| kv.key == keys::SERVICE_NAME)
    {
        Some(kv) => kv.value = AnyValue::Str(service.to_owned()),
        None => resource
            .attributes
            .push(KeyValue::str(keys::SERVICE_NAME, service)),
    }
    resource
}

/// Jaeger's large and duplicate traces: `count` copies of `source` under their
/// own service and trace ID, span `i` with ID `i + 1` and shifted by `i + 1`
/// seconds; with `dup_every`, every such span (past the first) repeats the
/// source's span ID instead.
fn synthetic_trace(
    source: &SpanRecord,
    count: usize,
    dup_every: Option<usize>,
    service: &str,
    first_id_byte: u8,
) -> SpanBatch {
    let resource = Arc::new(with_service(&source.resource, service));
    let trace_id = counted_trace_id(first_id_byte);
    let spans = (0..count)
        .map(|i| {
            let mut span = source.span.clone();
            span.trace_id = trace_id;
            span.span_id = match dup_every {
                Some(n) if i > 0 && i % n == 0 => source.span.span_id,
                _ => SpanId::from_u64(i as u64 + 1),
            };
            let shift = (i as u64 + 1) * SECOND;
            span.start_time_unix_nano += shift;
            span.end_time_unix_nano += shift;
            SpanRecord::new(Arc::clone(&resource), Arc::clone(&source.scope), span)
        })
        .collect();
    SpanBatch { spans }
}

struct SpanSpec<'a> {
    service: &'a str,
    trace_id: TraceId,
    span_id: u64,
    parent: u64,
    name: &'a str,
    kind: SpanKind,
    start: UnixNanos,
    duration: u64,
}

fn span(spec: SpanSpec<'_>) -> SpanRecord {
    testing::record()
        .service(spec.service)
        .trace_id(spec.trace_id)
        .id(spec.span_id)
        .parent(spec.parent)
        .name(spec.name)
        .kind(spec.kind)
        .start(spec.start)
        .duration(spec.duration)
        .build()
}

/// Two one-span traces of different services sharing a marker attribute, now.
fn cross_service_traces(now: UnixNanos) -> Vec<SpanBatch> {
    CROSS_SERVICES
        .iter()
        .enumerate()
        .map(|(i, service)| {
            let first = i as u8 + 1;
            let mut trace_id = [0u8; 16];
            let mut span_id = [0u8; 8];
            for (j, b) in trace_id.iter_mut().enumerate() {
                *b = if j == 0 { first } else { j as u8 + 1 };
            }
            for (j, b) in span_id.iter_mut().enumerate() {
                *b = if j == 0 { first } else { j as u8 + 1 };
            }
            let mut record = span(SpanSpec {
                service,
                trace_id: TraceId(trace_id),
                span_id: 0,
                parent: 0,
                name: "cross-service-op",
                kind: SpanKind::Server,
                start: now,
                duration: 1_000_000,
            });
            record.span.span_id = SpanId(span_id);
            record
                .span
                .attributes
                .push(KeyValue::str(CROSS_SERVICE_MARKER, "yes"));
            SpanBatch {
                spans: vec![record],
            }
        })
        .collect()
}

/// Traces of one service three days ago, written in scrambled order, with
/// equal start times to exercise the trace-ID tie-break, and one trace whose
/// earliest span is written last.
fn ordering_traces(now: UnixNanos) -> (Vec<SpanBatch>, (UnixNanos, UnixNanos)) {
    let base = now.saturating_sub(3 * NANOS_PER_DAY);
    // (trace ID low half, start offset in seconds), in write order.
    let plan: [(u64, u64); 7] = [
        (0x0e, 30),
        (0x0a, 50),
        (0x0c, 10),
        (0x0b, 50),
        (0x0f, 40),
        (0x0d, 50),
        (0x09, 20),
    ];
    let mut batches: Vec<SpanBatch> = plan
        .iter()
        .map(|&(low, offset)| SpanBatch {
            spans: vec![span(SpanSpec {
                service: ORDERING_SERVICE,
                trace_id: TraceId::from_halves(0x5900, low),
                span_id: 1,
                parent: 0,
                name: "ordering-op",
                kind: SpanKind::Server,
                start: base + offset * SECOND,
                duration: SECOND,
            })],
        })
        .collect();
    // Trace 0x0f gets a second span, written later, that starts before all others:
    // its trace start moves to base + 5 s.
    batches.push(SpanBatch {
        spans: vec![span(SpanSpec {
            service: ORDERING_SERVICE,
            trace_id: TraceId::from_halves(0x5900, 0x0f),
            span_id: 2,
            parent: 1,
            name: "ordering-child",
            kind: SpanKind::Client,
            start: base + 5 * SECOND,
            duration: SECOND,
        })],
    });
    (batches, (base, base + 10 * MINUTE))
}

/// Traces across services five and four days ago, and the links expected
/// in windows around them.
#[allow(clippy::type_complexity)]
fn dependency_traces(
    now: UnixNanos,
) -> (
    Vec<SpanBatch>,
    Vec<(UnixNanos, UnixNanos, Vec<DependencyLink>)>,
) {
    let day5 = now.saturating_sub(5 * NANOS_PER_DAY);
    let day4 = now.saturating_sub(4 * NANOS_PER_DAY);
    let id = |low| TraceId::from_halves(0xde9, low);
    let s = |service, trace_id, span_id, parent, start| {
        span(SpanSpec {
            service,
            trace_id,
            span_id,
            parent,
            name: "dep-op",
            kind: SpanKind::Server,
            start,
            duration: SECOND,
        })
    };
    let batches = vec![
        // Trace 1: frontend → backend twice, backend → db once, and a span whose
        // parent is not in the trace (no edge).
        SpanBatch {
            spans: vec![
                s("deps-frontend", id(1), 1, 0, day5),
                s("deps-backend", id(1), 2, 1, day5 + 1),
                s("deps-backend", id(1), 3, 1, day5 + 2),
                s("deps-db", id(1), 4, 3, day5 + 3),
                s("deps-db", id(1), 5, 0x77, day5 + 4),
            ],
        },
        // Trace 2, written in two batches, child before parent.
        SpanBatch {
            spans: vec![s("deps-backend", id(2), 2, 1, day5 + 20 * SECOND)],
        },
        SpanBatch {
            spans: vec![s("deps-frontend", id(2), 1, 0, day5 + 10 * SECOND)],
        },
        // Trace 3, a day later: frontend → mail.
        SpanBatch {
            spans: vec![
                s("deps-frontend", id(3), 1, 0, day4),
                s("deps-mail", id(3), 2, 1, day4 + 1),
            ],
        },
    ];
    let link = |parent: &str, child: &str, call_count| DependencyLink {
        parent: parent.into(),
        child: child.into(),
        call_count,
    };
    let windows = vec![
        (
            day5 - MINUTE,
            day5 + MINUTE,
            vec![
                link("deps-backend", "deps-db", 1),
                link("deps-frontend", "deps-backend", 3),
            ],
        ),
        (
            day4 - MINUTE,
            day4 + MINUTE,
            vec![link("deps-frontend", "deps-mail", 1)],
        ),
        (day4 + 10 * MINUTE, day4 + 20 * MINUTE, vec![]),
    ];
    (batches, windows)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn fixtures() -> Fixtures {
        let source = span(SpanSpec {
            service: "example-service-2",
            trace_id: TraceId::from_halves(0, 0x11),
            span_id: 4,
            parent: 0,
            name: "example-operation-2",
            kind: SpanKind::Unspecified,
            start: 1_000 * SECOND,
            duration: 100_000,
        });
        let mut traces = BTreeMap::new();
        traces.insert(
            EXAMPLE_FIXTURE.to_string(),
            SpanBatch {
                spans: vec![source],
            },
        );
        Fixtures {
            traces,
            queries: Vec::new(),
            now: 20_000 * NANOS_PER_DAY,
        }
    }

    #[test]
    fn synthetic_traces_follow_jaegers_recipe() {
        let corpus = Corpus::build(&fixtures()).unwrap();
        let large = &corpus.large.spans;
        assert_eq!(large.len(), LARGE_TRACE_SPANS);
        assert_eq!(large[0].service_name(), LARGE_TRACE_SERVICE);
        assert_eq!(
            large[0].span.trace_id.to_hex(),
            "a10102030405060708090a0b0c0d0e0f"
        );
        let ids: BTreeSet<SpanId> = large.iter().map(|r| r.span.span_id).collect();
        assert_eq!(ids.len(), LARGE_TRACE_SPANS);
        assert_eq!(large[9].span.start_time_unix_nano, 1_010 * SECOND);

        let dups = &corpus.duplicates.spans;
        assert_eq!(dups.len(), DUPLICATE_TRACE_SPANS);
        // Span 4 is written by i = 3 and again by i = 20, 40, …, 180.
        let fours = dups
            .iter()
            .filter(|r| r.span.span_id == SpanId::from_u64(4))
            .count();
        assert_eq!(fours, 1 + 9);
        assert_eq!(dups[20].span.span_id, SpanId::from_u64(4));
        assert_eq!(dups[21].span.span_id, SpanId::from_u64(22));
    }

    #[test]
    fn corpus_lists_services_and_finds_an_absent_id() {
        let f = fixtures();
        let corpus = Corpus::build(&f).unwrap();
        let services = corpus.services(&f);
        for s in [
            "example-service-2",
            LARGE_TRACE_SERVICE,
            DUPLICATE_SPANS_SERVICE,
            "cross-service-a",
            "cross-service-b",
            ORDERING_SERVICE,
            "deps-mail",
        ] {
            assert!(
                services.iter().any(|x| x == s),
                "{s} missing from {services:?}"
            );
        }
        let absent = corpus.absent_trace_id(&f).unwrap();
        assert_eq!(absent, TraceId([0; 16]));
        let mut no_example = f.clone();
        no_example.traces.clear();
        assert!(Corpus::build(&no_example).is_err());
    }
}
