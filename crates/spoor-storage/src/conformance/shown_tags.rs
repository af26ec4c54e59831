//! Every tag the Jaeger JSON shows for a span can be searched: the tags the
//! OTLP → Jaeger mapping synthesizes from span fields
//! ([`crate::SYNTHESIZED_TAGS`]), log fields (an event's name as `event`, its
//! attributes) and process tags (resource attributes), through Jaeger tags
//! and filter expressions alike.
//!
//! The corpus (service `shown-tags`, five days before the fixtures' "now"),
//! one batch per trace so that a backend cutting blocks per write holds each
//! trace in a block of its own, whose attribute keys never name the
//! synthesized tags (except S3's):
//!
//! | trace | start | the one span |
//! |---|---|---|
//! | S1 | base | server, scope `otel-lib` 2.0.1, status ERROR "connection refused", trace state `congo=t61rcWkgMzE`, event `exception` (exception.type=IOError), resource host.name=alpha |
//! | S2 | base + 10 s | client, scope `other-lib` (no version), status OK, event `retry` whose attributes carry `event=custom-event` |
//! | S3 | base + 20 s | internal, an attribute `otel.status_code=ERROR` (status unset) |
//! | S4 | base + 30 s | unspecified kind, nothing else |

use std::sync::Arc;

use spoor_model::testing;
use spoor_model::{
    Event, KeyValue, Resource, Scope, SpanBatch, SpanKind, SpanRecord, Status, StatusCode, TraceId,
    UnixNanos, keys,
};

use super::fixtures::{Fixtures, NANOS_PER_DAY};
use super::{join_ids, storage_error};
use crate::{FilterExpr, TagFilter, TraceQuery, TraceReader};

pub(crate) const SERVICE: &str = "shown-tags";

const SECOND: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * SECOND;

fn tid(n: u64) -> TraceId {
    TraceId::from_halves(0x5a0e_7a95, n)
}

/// The corpus: its time and one batch per trace.
pub(crate) struct ShownTags {
    pub base: UnixNanos,
    pub batches: Vec<SpanBatch>,
}

fn span(n: u64, start: UnixNanos, kind: SpanKind) -> SpanRecord {
    testing::record()
        .service(SERVICE)
        .trace_id(tid(n))
        .id(n)
        .name(format!("op-{n}"))
        .kind(kind)
        .start(start)
        .duration(SECOND / 10)
        .build()
}

impl ShownTags {
    pub(crate) fn build(fixtures: &Fixtures) -> ShownTags {
        let five_days = fixtures.now.saturating_sub(5 * NANOS_PER_DAY);
        let base = five_days - five_days % MINUTE;

        let mut s1 = span(1, base, SpanKind::Server);
        s1.resource = Arc::new(Resource {
            attributes: vec![
                KeyValue::str(keys::SERVICE_NAME, SERVICE),
                KeyValue::str("host.name", "alpha"),
            ],
            ..Resource::default()
        });
        s1.scope = Arc::new(Scope {
            name: "otel-lib".into(),
            version: "2.0.1".into(),
            ..Scope::default()
        });
        s1.span.status = Status {
            code: StatusCode::Error,
            message: "connection refused".into(),
        };
        s1.span.trace_state = "congo=t61rcWkgMzE".into();
        s1.span.events.push(Event {
            name: "exception".into(),
            time_unix_nano: base + 1_000,
            attributes: vec![KeyValue::str("exception.type", "IOError")],
            ..Event::default()
        });

        let mut s2 = span(2, base + 10 * SECOND, SpanKind::Client);
        s2.scope = Arc::new(Scope {
            name: "other-lib".into(),
            ..Scope::default()
        });
        s2.span.status = Status {
            code: StatusCode::Ok,
            message: String::new(),
        };
        s2.span.events.push(Event {
            name: "retry".into(),
            time_unix_nano: base + 10 * SECOND + 1_000,
            attributes: vec![KeyValue::str("event", "custom-event")],
            ..Event::default()
        });

        let mut s3 = span(3, base + 20 * SECOND, SpanKind::Internal);
        s3.span
            .attributes
            .push(KeyValue::str("otel.status_code", "ERROR"));

        let s4 = span(4, base + 30 * SECOND, SpanKind::Unspecified);

        ShownTags {
            base,
            batches: [s1, s2, s3, s4]
                .into_iter()
                .map(|r| SpanBatch { spans: vec![r] })
                .collect(),
        }
    }
}

struct Case {
    name: String,
    query: TraceQuery,
    expected: Vec<u64>,
}

fn cases(base: UnixNanos) -> Vec<Case> {
    let window =
        |service: bool, tags: Vec<TagFilter>, filter: Option<Arc<FilterExpr>>| TraceQuery {
            service: service.then(|| SERVICE.to_owned()),
            tags,
            filter,
            start_min: Some(base.saturating_sub(MINUTE)),
            start_max: Some(base + 10 * MINUTE),
            limit: 20,
            ..TraceQuery::default()
        };
    let tags = |pairs: &[(&str, &str)], expected: Vec<u64>| Case {
        name: format!(
            "tags {}",
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        query: window(
            true,
            pairs.iter().map(|(k, v)| TagFilter::new(*k, *v)).collect(),
            None,
        ),
        expected,
    };
    let filter = |expr: &str, expected: Vec<u64>| Case {
        name: format!("filter {expr}"),
        // A parse failure leaves the query without its filter: the case
        // then finds every trace, which the check reports.
        query: window(true, Vec::new(), FilterExpr::parse(expr).ok().map(Arc::new)),
        expected,
    };
    vec![
        tags(&[("otel.status_code", "ERROR")], vec![3, 1]),
        tags(&[("otel.status_code", "OK")], vec![2]),
        tags(&[("otel.status_code", "UNSET")], vec![]),
        tags(
            &[("otel.status_description", "connection refused")],
            vec![1],
        ),
        tags(&[("otel.scope.name", "otel-lib")], vec![1]),
        tags(&[("otel.scope.name", "other-lib")], vec![2]),
        tags(&[("otel.scope.version", "2.0.1")], vec![1]),
        tags(&[("w3c.tracestate", "congo=t61rcWkgMzE")], vec![1]),
        tags(&[("event", "exception")], vec![1]),
        // The JSON shows the event's own `event` attribute, not its name.
        tags(&[("event", "retry")], vec![]),
        tags(&[("event", "custom-event")], vec![2]),
        tags(&[("exception.type", "IOError")], vec![1]),
        tags(&[("host.name", "alpha")], vec![1]),
        tags(&[("error", "true")], vec![1]),
        tags(&[("span.kind", "client")], vec![2]),
        tags(
            &[
                ("otel.status_code", "ERROR"),
                ("event", "exception"),
                ("otel.scope.name", "otel-lib"),
                ("host.name", "alpha"),
            ],
            vec![1],
        ),
        Case {
            name: "tag event=exception without a service".into(),
            query: window(false, vec![TagFilter::new("event", "exception")], None),
            expected: vec![1],
        },
        Case {
            name: "tag otel.status_code=OK without a service".into(),
            query: window(false, vec![TagFilter::new("otel.status_code", "OK")], None),
            expected: vec![2],
        },
        filter("otel.status_code=ERROR AND otel.scope.name", vec![1]),
        filter("otel.status_code", vec![3, 2, 1]),
        filter("NOT otel.status_code", vec![4]),
        filter("event=~\"exc.*\"", vec![1]),
        filter("w3c.tracestate OR otel.scope.version", vec![1]),
        filter("otel.status_description!=other", vec![1]),
        filter(
            "otel.scope.name=~\".*-lib\" AND NOT event=exception",
            vec![2],
        ),
    ]
}

/// Runs the cases through `find_traces` and `find_trace_ids`; `Err` lists
/// every failing case.
pub(crate) async fn check(reader: &dyn TraceReader, corpus: &ShownTags) -> Result<(), String> {
    let mut errors = Vec::new();
    for case in cases(corpus.base) {
        if case.query.service.is_none() && !reader.capabilities().search_without_service {
            continue;
        }
        let want: Vec<TraceId> = case.expected.iter().map(|&n| tid(n)).collect();
        let traces = reader
            .find_traces(&case.query)
            .await
            .map(|ts| ts.iter().map(|t| t.trace_id).collect::<Vec<_>>());
        let ids = reader
            .find_trace_ids(&case.query)
            .await
            .map(|ts| ts.iter().map(|t| t.trace_id).collect::<Vec<_>>());
        for (what, got) in [("find_traces", traces), ("find_trace_ids", ids)] {
            match got {
                Ok(got) if got == want => {}
                Ok(got) => errors.push(format!(
                    "{what}: {}: expected [{}], got [{}]",
                    case.name,
                    join_ids(&want),
                    join_ids(&got)
                )),
                Err(e) => errors.push(format!("{what}: {}: {}", case.name, storage_error(e))),
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}
