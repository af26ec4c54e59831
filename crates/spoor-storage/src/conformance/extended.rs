//! Checks beyond Jaeger's suite: filter expressions, whole-trace duration
//! bounds, search without a service, and RED statistics, on a small corpus of
//! its own (six days before the fixtures' "now", minute-aligned).
//!
//! The corpus (services `filter-front` and `filter-back`):
//!
//! | trace | start | spans | trace duration |
//! |---|---|---|---|
//! | F1 | base | front `GET /a` server (http.method=GET, http.status_code=200, 10 ms) → back `query` client (db.system=postgres, 5 ms) | 10 ms |
//! | F2 | base + 10 s | front `GET /b` server, ERROR (POST, 503, 2 s) → back `query` client (db.system=mysql, event exception.type=Timeout, 1 s → 3 s) | 3 s |
//! | F3 | base + 20 s | front `GET /c` server (GET, 404, resource deployment=canary, link link.kind=retry, 500 ms) | 500 ms |
//! | F4 | base + 70 s | back `consume` consumer (scope kafka-lib, 50 ms), and in a later batch front `produce` producer (http.method=PUT, 100 ms earlier, 10 ms) | 150 ms |

use std::collections::BTreeMap;
use std::sync::Arc;

use spoor_model::testing;
use spoor_model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, SpanBatch, SpanId, SpanKind, SpanRecord,
    Status, StatusCode, TraceId, UnixNanos, keys,
};

use super::fixtures::{Fixtures, NANOS_PER_DAY};
use super::{join_ids, storage_error};
use crate::red::{RED_MINUTE, SKETCH_RELATIVE_ACCURACY};
use crate::{FilterExpr, RedQuery, RedStatsReader, TagFilter, TraceQuery, TraceReader};

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;

pub(crate) const FRONT: &str = "filter-front";
pub(crate) const BACK: &str = "filter-back";

/// The extended corpus.
pub(crate) struct Extended {
    pub base: UnixNanos,
    pub batches: Vec<SpanBatch>,
}

fn tid(n: u64) -> TraceId {
    TraceId::from_halves(0xf11e_0000, n)
}

struct S<'a> {
    service: &'a str,
    trace: u64,
    id: u64,
    parent: u64,
    name: &'a str,
    kind: SpanKind,
    start: UnixNanos,
    duration: u64,
    attrs: &'a [(&'a str, &'a str)],
}

fn rec(s: S<'_>) -> SpanRecord {
    testing::record()
        .service(s.service)
        .trace_id(tid(s.trace))
        .id(s.id)
        .parent(s.parent)
        .name(s.name)
        .kind(s.kind)
        .start(s.start)
        .duration(s.duration)
        .str_attrs(s.attrs)
        .build()
}

impl Extended {
    pub(crate) fn build(fixtures: &Fixtures) -> Extended {
        let six_days = fixtures.now.saturating_sub(6 * NANOS_PER_DAY);
        let base = six_days - six_days % RED_MINUTE;
        let f1 = vec![
            rec(S {
                service: FRONT,
                trace: 1,
                id: 1,
                parent: 0,
                name: "GET /a",
                kind: SpanKind::Server,
                start: base,
                duration: 10 * MS,
                attrs: &[("http.method", "GET"), ("http.status_code", "200")],
            }),
            rec(S {
                service: BACK,
                trace: 1,
                id: 2,
                parent: 1,
                name: "query",
                kind: SpanKind::Client,
                start: base + MS,
                duration: 5 * MS,
                attrs: &[("db.system", "postgres")],
            }),
        ];
        let mut f2_root = rec(S {
            service: FRONT,
            trace: 2,
            id: 1,
            parent: 0,
            name: "GET /b",
            kind: SpanKind::Server,
            start: base + 10 * SECOND,
            duration: 2 * SECOND,
            attrs: &[("http.method", "POST"), ("http.status_code", "503")],
        });
        f2_root.span.status = Status {
            code: StatusCode::Error,
            message: "boom".into(),
        };
        let mut f2_child = rec(S {
            service: BACK,
            trace: 2,
            id: 2,
            parent: 1,
            name: "query",
            kind: SpanKind::Client,
            start: base + 11 * SECOND,
            duration: 2 * SECOND,
            attrs: &[("db.system", "mysql")],
        });
        f2_child.span.events.push(Event {
            name: "exception".into(),
            time_unix_nano: base + 12 * SECOND,
            attributes: vec![KeyValue::str("exception.type", "Timeout")],
            ..Event::default()
        });
        let mut f3 = rec(S {
            service: FRONT,
            trace: 3,
            id: 1,
            parent: 0,
            name: "GET /c",
            kind: SpanKind::Server,
            start: base + 20 * SECOND,
            duration: 500 * MS,
            attrs: &[("http.method", "GET"), ("http.status_code", "404")],
        });
        f3.resource = Arc::new(Resource {
            attributes: vec![
                KeyValue::str(keys::SERVICE_NAME, FRONT),
                KeyValue::str("deployment", "canary"),
            ],
            ..Resource::default()
        });
        f3.span.links.push(Link {
            trace_id: tid(2),
            span_id: SpanId::from_u64(1),
            attributes: vec![KeyValue::str("link.kind", "retry")],
            ..Link::default()
        });
        let mut f4_consume = rec(S {
            service: BACK,
            trace: 4,
            id: 2,
            parent: 1,
            name: "consume",
            kind: SpanKind::Consumer,
            start: base + 70 * SECOND,
            duration: 50 * MS,
            attrs: &[("messaging.system", "kafka")],
        });
        f4_consume.scope = Arc::new(Scope {
            name: "kafka-lib".into(),
            ..Scope::default()
        });
        f4_consume
            .span
            .attributes
            .push(KeyValue::new("retries", AnyValue::Int(3)));
        let f4_produce = rec(S {
            service: FRONT,
            trace: 4,
            id: 1,
            parent: 0,
            name: "produce",
            kind: SpanKind::Producer,
            start: base + 70 * SECOND - 100 * MS,
            duration: 10 * MS,
            attrs: &[("http.method", "PUT")],
        });
        Extended {
            base,
            batches: vec![
                SpanBatch { spans: f1 },
                SpanBatch {
                    spans: vec![f2_root, f2_child],
                },
                SpanBatch { spans: vec![f3] },
                SpanBatch {
                    spans: vec![f4_consume],
                },
                SpanBatch {
                    spans: vec![f4_produce],
                },
            ],
        }
    }
}

/// One search case: a query and the expected traces, newest first.
struct Case {
    name: String,
    query: TraceQuery,
    expected: Vec<u64>,
}

fn parse(expr: &str) -> Option<Arc<FilterExpr>> {
    // The cases are written here; a parse failure is reported by the check.
    FilterExpr::parse(expr).ok().map(Arc::new)
}

fn cases(base: UnixNanos) -> Vec<Case> {
    let window = |q: TraceQuery| TraceQuery {
        start_min: Some(base.saturating_sub(RED_MINUTE)),
        start_max: Some(base + 10 * RED_MINUTE),
        limit: q.limit.max(1),
        ..q
    };
    let f = |expr: &str, expected: Vec<u64>| Case {
        name: format!("filter {expr}"),
        query: window(TraceQuery {
            filter: parse(expr),
            limit: 20,
            ..TraceQuery::default()
        }),
        expected,
    };
    let d = |min: Option<u64>, max: Option<u64>, limit: usize, expected: Vec<u64>| Case {
        name: format!("trace duration {min:?}..{max:?}, limit {limit}"),
        query: window(TraceQuery {
            trace_duration_min: min,
            trace_duration_max: max,
            limit,
            ..TraceQuery::default()
        }),
        expected,
    };
    vec![
        f("http.method=GET", vec![3, 1]),
        f("http.method!=GET", vec![4, 2]),
        f("http.status_code=~\"5..\"", vec![2]),
        f("http.status_code!~2..", vec![3, 2]),
        f("db.system", vec![2, 1]),
        // Per span: every trace has a span without db.system.
        f("NOT db.system", vec![4, 3, 2, 1]),
        f("db.system=mysql OR deployment=canary", vec![3, 2]),
        f(
            "(http.method=GET OR http.method=PUT) AND NOT resource.deployment=canary",
            vec![4, 1],
        ),
        f("exception.type=Timeout", vec![2]),
        f("link.kind=retry", vec![3]),
        f("error=true http.method=POST", vec![2]),
        f("error=true db.system", vec![]),
        f("span.kind=consumer scope.name=kafka-lib", vec![4]),
        f("span.status=~\"ERR.*\"", vec![2]),
        f("retries=3", vec![4]),
        // Both conditions must hold on one span.
        f("db.system=postgres http.method=GET", vec![]),
        f("!(http.method OR db.system)", vec![4]),
        Case {
            name: "service, Jaeger tags and a filter together".into(),
            query: window(TraceQuery {
                service: Some(FRONT.into()),
                tags: vec![TagFilter::new("http.method", "GET")],
                filter: parse("http.status_code=404"),
                limit: 20,
                ..TraceQuery::default()
            }),
            expected: vec![3],
        },
        Case {
            name: "service, operation and a regex filter".into(),
            query: window(TraceQuery {
                service: Some(BACK.into()),
                operation: Some("query".into()),
                filter: parse("db.system=~\"my.*\""),
                limit: 20,
                ..TraceQuery::default()
            }),
            expected: vec![2],
        },
        d(Some(SECOND), None, 20, vec![2]),
        d(None, Some(100 * MS), 20, vec![1]),
        d(Some(100 * MS), Some(SECOND), 20, vec![4, 3]),
        d(Some(10 * MS), Some(10 * MS), 20, vec![1]),
        d(Some(100 * MS), None, 1, vec![4]),
        d(Some(100 * MS), None, 2, vec![4, 3]),
        Case {
            name: "trace duration with a filter".into(),
            query: window(TraceQuery {
                filter: parse("http.method=GET"),
                trace_duration_min: Some(100 * MS),
                limit: 20,
                ..TraceQuery::default()
            }),
            expected: vec![3],
        },
        Case {
            name: "trace duration with span duration".into(),
            query: window(TraceQuery {
                // A span of at most 20 ms in a trace of at least 100 ms: F4.
                duration_max: Some(20 * MS),
                trace_duration_min: Some(100 * MS),
                limit: 20,
                ..TraceQuery::default()
            }),
            expected: vec![4],
        },
    ]
}

/// Runs the search cases; `Err` lists every failing case.
pub(crate) async fn check_search(reader: &dyn TraceReader, ext: &Extended) -> Result<(), String> {
    let mut errors = Vec::new();
    for case in cases(ext.base) {
        if case.query.filter.is_none() && case.name.starts_with("filter") {
            errors.push(format!("{}: the expression does not parse", case.name));
            continue;
        }
        let want: Vec<TraceId> = case.expected.iter().map(|&n| tid(n)).collect();
        match reader.find_traces(&case.query).await {
            Ok(traces) => {
                let got: Vec<TraceId> = traces.iter().map(|t| t.trace_id).collect();
                if got != want {
                    errors.push(format!(
                        "{}: find_traces expected [{}], got [{}]",
                        case.name,
                        join_ids(&want),
                        join_ids(&got)
                    ));
                }
                // Whole traces come back, pieces from every batch included.
                if let Some(t) = traces.iter().find(|t| t.trace_id == tid(4))
                    && t.spans.len() != 2
                {
                    errors.push(format!(
                        "{}: trace F4 came back with {} span(s), not 2",
                        case.name,
                        t.spans.len()
                    ));
                }
            }
            Err(e) => errors.push(format!("{}: {}", case.name, storage_error(e))),
        }
        match reader.find_trace_ids(&case.query).await {
            Ok(found) => {
                let got: Vec<TraceId> = found.iter().map(|f| f.trace_id).collect();
                if got != want {
                    errors.push(format!(
                        "{}: find_trace_ids expected [{}], got [{}]",
                        case.name,
                        join_ids(&want),
                        join_ids(&got)
                    ));
                }
            }
            Err(e) => errors.push(format!("{}: {}", case.name, storage_error(e))),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// Every one of Jaeger's search cases, its tags rewritten as a filter
/// expression (`k="v"` joined by AND), must find what the tags find.
pub(crate) async fn check_tags_as_filters(
    reader: &dyn TraceReader,
    fixtures: &Fixtures,
) -> Result<(), String> {
    let mut errors = Vec::new();
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    for case in &fixtures.queries {
        if case.query.tags.is_empty() {
            continue;
        }
        let expr = case
            .query
            .tags
            .iter()
            .map(|t| format!("{}={}", quote(&t.key), quote(&t.value.to_string_lossy())))
            .collect::<Vec<_>>()
            .join(" AND ");
        let Some(filter) = parse(&expr) else {
            errors.push(format!("{}: {expr:?} does not parse", case.caption));
            continue;
        };
        let rewritten = TraceQuery {
            tags: Vec::new(),
            filter: Some(filter),
            ..case.query.clone()
        };
        let a = reader
            .find_trace_ids(&case.query)
            .await
            .map_err(storage_error)?;
        let b = reader
            .find_trace_ids(&rewritten)
            .await
            .map_err(storage_error)?;
        let ids = |v: &[crate::FoundTrace]| v.iter().map(|f| f.trace_id).collect::<Vec<_>>();
        if ids(&a) != ids(&b) {
            errors.push(format!(
                "{}: tags found [{}], the filter {expr} found [{}]",
                case.caption,
                join_ids(&ids(&a)),
                join_ids(&ids(&b))
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// (minute, service, operation, kind) of a statistics row.
type RowKey<'a> = (u64, &'a str, &'a str, SpanKind);

/// RED statistics of the corpus: exact calls and errors per minute,
/// service, operation and kind, and latency quantiles within the sketch's
/// accuracy.
pub(crate) async fn check_metrics(
    metrics: &dyn RedStatsReader,
    ext: &Extended,
) -> Result<(), String> {
    let m0 = ext.base / RED_MINUTE;
    let all = RedQuery {
        services: vec![FRONT.into(), BACK.into()],
        span_kinds: Vec::new(),
        start: ext.base,
        end: ext.base + 5 * RED_MINUTE,
    };
    let rows = metrics.red_stats(&all).await.map_err(storage_error)?;
    // (minute, service, operation, kind) → (calls, errors, p50 in ns)
    let expected: BTreeMap<RowKey<'_>, (u64, u64, u64)> = [
        ((m0, BACK, "query", SpanKind::Client), (2, 0, 5 * MS)),
        ((m0, FRONT, "GET /a", SpanKind::Server), (1, 0, 10 * MS)),
        ((m0, FRONT, "GET /b", SpanKind::Server), (1, 1, 2 * SECOND)),
        ((m0, FRONT, "GET /c", SpanKind::Server), (1, 0, 500 * MS)),
        (
            (m0 + 1, BACK, "consume", SpanKind::Consumer),
            (1, 0, 50 * MS),
        ),
        (
            (m0 + 1, FRONT, "produce", SpanKind::Producer),
            (1, 0, 10 * MS),
        ),
    ]
    .into_iter()
    .collect();
    let mut errors = Vec::new();
    let got: Vec<RowKey<'_>> = rows
        .iter()
        .map(|r| {
            (
                r.minute,
                r.service.as_str(),
                r.operation.as_str(),
                r.span_kind,
            )
        })
        .collect();
    let want: Vec<_> = expected.keys().copied().collect();
    if got != want {
        errors.push(format!("rows: expected {want:?} (sorted), got {got:?}"));
    }
    for r in &rows {
        let key = (
            r.minute,
            r.service.as_str(),
            r.operation.as_str(),
            r.span_kind,
        );
        let Some(&(calls, errs, p50)) = expected.get(&key) else {
            continue;
        };
        if (r.stats.calls, r.stats.errors, r.stats.latency.count()) != (calls, errs, calls) {
            errors.push(format!(
                "{key:?}: expected {calls} calls, {errs} errors, {calls} latencies; got {}, {}, {}",
                r.stats.calls,
                r.stats.errors,
                r.stats.latency.count()
            ));
        }
        let q = r.stats.latency.quantile(0.5).unwrap_or(0.0);
        if (q - p50 as f64).abs() > p50 as f64 * (SKETCH_RELATIVE_ACCURACY + 1e-9) {
            errors.push(format!(
                "{key:?}: median latency {q} ns, expected {p50} ns ± 1 %"
            ));
        }
    }
    // Filters: one service and one kind; one minute.
    let servers = RedQuery {
        services: vec![FRONT.into()],
        span_kinds: vec![SpanKind::Server],
        ..all.clone()
    };
    let rows = metrics.red_stats(&servers).await.map_err(storage_error)?;
    let calls: u64 = rows.iter().map(|r| r.stats.calls).sum();
    if rows.len() != 3 || calls != 3 {
        errors.push(format!(
            "front servers: expected 3 rows of 1 call, got {} rows, {calls} calls",
            rows.len()
        ));
    }
    let minute1 = RedQuery {
        start: ext.base + RED_MINUTE + SECOND,
        end: ext.base + RED_MINUTE + 2 * SECOND,
        ..all.clone()
    };
    let rows = metrics.red_stats(&minute1).await.map_err(storage_error)?;
    if rows.len() != 2 || rows.iter().any(|r| r.minute != m0 + 1) {
        errors.push(format!(
            "the second minute: expected its 2 rows, got {:?}",
            rows.iter()
                .map(|r| (r.minute, &r.operation))
                .collect::<Vec<_>>()
        ));
    }
    let none = RedQuery {
        services: vec!["no-such-service".into()],
        ..all.clone()
    };
    let rows = metrics.red_stats(&none).await.map_err(storage_error)?;
    if !rows.is_empty() {
        errors.push(format!("an unknown service: got {} rows", rows.len()));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}
