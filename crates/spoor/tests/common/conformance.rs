//! Jaeger's storage conformance cases over HTTP, shared by the tests that
//! run them through a `spoor` process (all-in-one, or a querier of the
//! distributed roles).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::SystemTime;

use spoor_model::{UnixNanos, format_rfc3339};
use spoor_storage::TraceQuery;
use spoor_storage::conformance::{Fixtures, QueryCase, load_fixtures};

use super::{Spoor, canonical_trace_id, legacy_span_counts, v3_span_counts, with_params};

/// Search window used where a query has no bound of its own: the fixtures
/// are dated yesterday and the day before.
const WIDE_LOOKBACK_NANOS: u64 = 7 * 86_400 * 1_000_000_000;

fn fixture_dir() -> PathBuf {
    spoor_storage::conformance::conformance_dir().unwrap_or_else(|e| panic!("{e}"))
}

pub fn load() -> Fixtures {
    let dir = fixture_dir();
    assert!(
        dir.join("storage").is_dir(),
        "Jaeger's conformance fixtures are missing: {} does not exist. Set SPOOR_CONFORMANCE_DIR \
         to the folder holding storage/queries.json and storage/traces/.",
        dir.join("storage").display()
    );
    load_fixtures(
        &dir,
        |bytes| spoor_codec::otlp_json::decode(bytes).map_err(|e| e.to_string()),
        SystemTime::now(),
    )
    .unwrap_or_else(|e| panic!("cannot load the conformance fixtures: {e}"))
}

/// Sends every fixture trace: even-numbered files over gRPC, odd ones over
/// HTTP protobuf.
pub fn ingest(spoor: &Spoor, fixtures: &Fixtures) {
    for (i, (stem, batch)) in fixtures.traces.iter().enumerate() {
        if i % 2 == 0 {
            let request = spoor_codec::otlp::to_request(&batch.spans);
            super::grpc_export(&spoor.otlp_grpc_endpoint(), request)
                .unwrap_or_else(|s| panic!("gRPC export of fixture {stem} failed: {s:?}"));
        } else {
            let body = spoor_codec::otlp::encode_request(&batch.spans);
            let reply = spoor.post(
                &spoor.otlp_http_url("/v1/traces"),
                "application/x-protobuf",
                body,
                &[],
            );
            assert_eq!(
                reply.status,
                200,
                "HTTP export of fixture {stem} failed: {}",
                reply.text()
            );
        }
    }
}

/// Trace ID (32 hex) → span count, over every fixture.
pub fn fixture_span_counts(fixtures: &Fixtures) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for batch in fixtures.traces.values() {
        for record in &batch.spans {
            *counts.entry(record.span.trace_id.to_hex()).or_insert(0) += 1;
        }
    }
    counts
}

fn window(query: &TraceQuery, now: UnixNanos) -> (UnixNanos, UnixNanos) {
    let start = query
        .start_min
        .unwrap_or(now.saturating_sub(WIDE_LOOKBACK_NANOS));
    let end = query.start_max.unwrap_or(now + WIDE_LOOKBACK_NANOS);
    (start, end)
}

fn tags_json(query: &TraceQuery) -> Option<String> {
    if query.tags.is_empty() {
        return None;
    }
    let map: BTreeMap<&str, String> = query
        .tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.to_string_lossy()))
        .collect();
    Some(serde_json::to_string(&map).unwrap())
}

pub fn legacy_url(query_base: &str, query: &TraceQuery, now: UnixNanos) -> String {
    let (start, end) = window(query, now);
    let mut params: Vec<(&str, String)> = vec![
        // Microseconds: round the window outwards, never inwards.
        ("start", (start / 1_000).to_string()),
        ("end", end.div_ceil(1_000).to_string()),
        ("limit", query.limit.to_string()),
    ];
    if let Some(s) = &query.service {
        params.push(("service", s.clone()));
    }
    if let Some(op) = &query.operation {
        params.push(("operation", op.clone()));
    }
    if let Some(tags) = tags_json(query) {
        params.push(("tags", tags));
    }
    if let Some(d) = query.duration_min {
        params.push(("minDuration", format!("{d}ns")));
    }
    if let Some(d) = query.duration_max {
        params.push(("maxDuration", format!("{d}ns")));
    }
    with_params(&format!("{query_base}/api/traces"), &params)
}

pub fn v3_url(query_base: &str, query: &TraceQuery, now: UnixNanos) -> String {
    let (start, end) = window(query, now);
    let mut params: Vec<(&str, String)> = vec![
        ("query.startTimeMin", format_rfc3339(start)),
        ("query.startTimeMax", format_rfc3339(end)),
        ("query.searchDepth", query.limit.to_string()),
    ];
    if let Some(s) = &query.service {
        params.push(("query.serviceName", s.clone()));
    }
    if let Some(op) = &query.operation {
        params.push(("query.operationName", op.clone()));
    }
    if let Some(tags) = tags_json(query) {
        params.push(("query.attributes", tags));
    }
    if let Some(d) = query.duration_min {
        params.push(("query.durationMin", format!("{d}ns")));
    }
    if let Some(d) = query.duration_max {
        params.push(("query.durationMax", format!("{d}ns")));
    }
    with_params(&format!("{query_base}/api/v3/traces"), &params)
}

/// Compares what came back with what the case expects; `None` when equal.
pub fn compare(
    api: &str,
    case: &QueryCase,
    expected: &BTreeSet<String>,
    fixture_counts: &BTreeMap<String, usize>,
    got: &BTreeMap<String, usize>,
) -> Option<String> {
    let got_ids: BTreeSet<String> = got.keys().cloned().collect();
    if &got_ids != expected {
        let missing: Vec<_> = expected.difference(&got_ids).collect();
        let extra: Vec<_> = got_ids.difference(expected).collect();
        return Some(format!(
            "{api} {:?}: missing traces {missing:?}, unexpected traces {extra:?}",
            case.caption
        ));
    }
    let wrong: Vec<String> = got
        .iter()
        .filter(|(id, n)| fixture_counts.get(*id) != Some(*n))
        .map(|(id, n)| format!("{id}: {n} spans, fixture has {:?}", fixture_counts.get(id)))
        .collect();
    if wrong.is_empty() {
        None
    } else {
        Some(format!(
            "{api} {:?}: incomplete traces {wrong:?}",
            case.caption
        ))
    }
}

/// Every trace by ID and every search case through the query server at
/// `query_base` (`http://HOST:PORT`), with `get` answering (status, body);
/// returns what failed.
pub fn check_all(
    query_base: &str,
    fixtures: &Fixtures,
    get: impl Fn(&str) -> (u16, serde_json::Value),
) -> Vec<String> {
    let counts = fixture_span_counts(fixtures);
    let mut failures = Vec::new();
    for (id, n) in &counts {
        let (status, body) = get(&format!("{query_base}/api/traces/{id}"));
        if status != 200 {
            failures.push(format!("GET /api/traces/{id}: HTTP {status}"));
            continue;
        }
        let got = legacy_span_counts(&body);
        if got.get(id) != Some(n) {
            failures.push(format!("GET /api/traces/{id}: {got:?}, expected {n} spans"));
        }
    }
    for case in &fixtures.queries {
        let expected: BTreeSet<String> = case
            .expected_trace_ids(fixtures)
            .iter()
            .map(|id| canonical_trace_id(&id.to_hex()))
            .collect();
        assert!(!expected.is_empty(), "{:?} expects no trace", case.caption);
        let url = legacy_url(query_base, &case.query, fixtures.now);
        let (status, body) = get(&url);
        if status == 200 {
            let got = legacy_span_counts(&body);
            failures.extend(compare("/api/traces", case, &expected, &counts, &got));
        } else {
            failures.push(format!(
                "/api/traces {:?}: HTTP {status} for {url}: {body}",
                case.caption
            ));
        }
        let url = v3_url(query_base, &case.query, fixtures.now);
        let (status, body) = get(&url);
        if status == 200 {
            let got = v3_span_counts(&body);
            failures.extend(compare("/api/v3/traces", case, &expected, &counts, &got));
        } else {
            failures.push(format!(
                "/api/v3/traces {:?}: HTTP {status} for {url}: {body}",
                case.caption
            ));
        }
    }
    failures
}
