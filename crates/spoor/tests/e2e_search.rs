//! Search beyond Jaeger and RED metrics through the real binary: `filter=`
//! expressions, whole-trace duration bounds and search without a service on
//! `/api/traces` and `/api/v3/traces`, and Jaeger's `/api/metrics/*` after
//! known traffic (exact call and error counts), on the engine (spans cut
//! into blocks, then read again after a restart) and on the memory backend.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Spoor, poll_until, with_params};
use serde_json::{Value, json};

const MS: u64 = 1_000_000;

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[allow(clippy::too_many_arguments)]
fn span(
    trace: u64,
    id: u64,
    parent: u64,
    name: &str,
    kind: u8,
    start: u64,
    duration: u64,
    error: bool,
    attrs: &[(&str, &str)],
) -> Value {
    json!({
        "traceId": format!("{:032x}", (0xe2e5u128 << 64) | u128::from(trace)),
        "spanId": format!("{id:016x}"),
        "parentSpanId": if parent == 0 { String::new() } else { format!("{parent:016x}") },
        "name": name,
        "kind": kind,
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": (start + duration).to_string(),
        "attributes": attrs.iter().map(|(k, v)| json!({"key": k, "value": {"stringValue": v}})).collect::<Vec<_>>(),
        "status": if error { json!({"code": 2}) } else { json!({}) },
    })
}

fn resource_spans(service: &str, spans: Vec<Value>) -> Value {
    json!({
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "e2e"}, "spans": spans}]
    })
}

fn post(spoor: &Spoor, body: &Value) {
    let reply = spoor.post(
        &spoor.otlp_http_url("/v1/traces"),
        "application/json",
        serde_json::to_vec(body).unwrap(),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// Three traces for search, and known traffic of `red-svc` for metrics.
/// Returns the time the data was written around.
fn send(spoor: &Spoor) -> u64 {
    let now = now_nanos();
    let t0 = now - 120 * 1_000 * MS;
    // T1: front GET (20 ms) → db client (5 ms); T2: front POST, error, 3 s;
    // T3: back consumer, 100 ms.
    post(
        spoor,
        &json!({"resourceSpans": [
            resource_spans("shop-front", vec![
                span(1, 1, 0, "GET /cart", 2, t0, 20 * MS, false,
                     &[("http.method", "GET"), ("http.status_code", "200")]),
                span(2, 1, 0, "POST /pay", 2, t0 + 10_000 * MS, 3_000 * MS, true,
                     &[("http.method", "POST"), ("http.status_code", "503")]),
            ]),
            resource_spans("shop-db", vec![
                span(1, 2, 1, "SELECT", 3, t0 + MS, 5 * MS, false, &[("db.system", "postgres")]),
            ]),
        ]}),
    );
    // T3 in a request of its own.
    post(
        spoor,
        &json!({"resourceSpans": [resource_spans("shop-back", vec![
            span(3, 1, 0, "consume", 5, t0 + 20_000 * MS, 100 * MS, false,
                 &[("messaging.system", "kafka")]),
        ])]}),
    );
    // Metrics traffic: 30 server spans of GET /a (every fifth fails), 10 of
    // GET /b (250 ms each), 12 client spans (2 fail), in four requests.
    for part in 0..4u64 {
        let mut spans = Vec::new();
        for i in (part * 13)..((part + 1) * 13) {
            let start = t0 + 30_000 * MS + i * 100 * MS;
            let (name, kind, dur, err) = match i {
                0..30 => ("GET /a", 2, (10 + i) * MS, i % 5 == 0),
                30..40 => ("GET /b", 2, 250 * MS, false),
                _ => ("call", 3, 7 * MS, i >= 50),
            };
            spans.push(span(100 + i, 1, 0, name, kind, start, dur, err, &[]));
        }
        post(
            spoor,
            &json!({"resourceSpans": [resource_spans("red-svc", spans)]}),
        );
    }
    now
}

fn trace_ids(body: &Value) -> Vec<u64> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {body}"))
        .iter()
        .map(|t| {
            let id = t["traceID"].as_str().unwrap();
            u64::from_str_radix(&id[id.len() - 16..], 16).unwrap()
        })
        .collect()
}

fn search(spoor: &Spoor, params: &[(&str, String)]) -> (u16, Value) {
    let mut all = vec![("limit", "200".to_string())];
    all.extend(params.iter().cloned());
    let url = with_params(&spoor.query("/api/traces"), &all);
    let reply = spoor.get(&url);
    (reply.status, reply.json())
}

fn found(spoor: &Spoor, params: &[(&str, &str)]) -> Vec<u64> {
    let params: Vec<(&str, String)> = params.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let (status, body) = search(spoor, &params);
    assert_eq!(status, 200, "{params:?}: {body}");
    let mut ids = trace_ids(&body);
    // Metrics traffic is not part of these checks.
    ids.retain(|&id| id < 100);
    ids
}

fn check_search(spoor: &Spoor) {
    // Search without a service, newest first.
    assert_eq!(found(spoor, &[]), vec![3, 2, 1]);
    assert_eq!(
        found(
            spoor,
            &[("filter", "http.method=GET OR db.system=postgres")]
        ),
        vec![1]
    );
    assert_eq!(
        found(spoor, &[("filter", r#"http.status_code=~"5..""#)]),
        vec![2]
    );
    // Per span: T1's database span has no http.method; T2's one span has.
    assert_eq!(found(spoor, &[("filter", "NOT http.method")]), vec![3, 1]);
    assert_eq!(found(spoor, &[("filter", "http.method!=GET")]), vec![2]);
    assert_eq!(
        found(
            spoor,
            &[("filter", "span.kind=consumer messaging.system=kafka")]
        ),
        vec![3]
    );
    // Jaeger's tags and the filter, on the same span.
    assert_eq!(
        found(
            spoor,
            &[
                ("tags", r#"{"http.method":"POST"}"#),
                ("filter", "error=true")
            ]
        ),
        vec![2]
    );
    assert!(
        found(
            spoor,
            &[
                ("tags", r#"{"http.method":"POST"}"#),
                ("filter", "error=false")
            ]
        )
        .is_empty()
    );
    assert_eq!(
        found(
            spoor,
            &[("service", "shop-front"), ("tag", "http.method:GET")]
        ),
        vec![1]
    );
    // Whole-trace duration (T1 spans 20 ms although its spans are shorter).
    assert_eq!(found(spoor, &[("minTraceDuration", "1s")]), vec![2]);
    assert_eq!(found(spoor, &[("maxTraceDuration", "500ms")]), vec![3, 1]);
    assert_eq!(
        found(
            spoor,
            &[("minTraceDuration", "20ms"), ("maxTraceDuration", "20ms")]
        ),
        vec![1]
    );
    assert_eq!(
        found(
            spoor,
            &[("minTraceDuration", "10ms"), ("filter", "db.system")]
        ),
        vec![1]
    );

    // Bad input is a 400 that says where.
    let (status, body) = search(spoor, &[("filter", "(http.method=GET".into())]);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["msg"],
        "unable to parse param 'filter': invalid filter at character 1: unclosed '('"
    );
    let (status, body) = search(spoor, &[("filter", "a=~\"(\"".into())]);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("at character 2: invalid regex"),
        "{body}"
    );
    let (status, body) = search(
        spoor,
        &[
            ("minTraceDuration", "2s".into()),
            ("maxTraceDuration", "1s".into()),
        ],
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = search(spoor, &[("minTraceDuration", "soon".into())]);
    assert_eq!(status, 400);

    // api_v3: query.filter and query.traceDurationMin.
    let now = now_nanos();
    let v3 = |extra: &[(&str, String)]| {
        let mut params = vec![
            (
                "query.startTimeMin",
                spoor_model::format_rfc3339(now - 3_600_000 * MS),
            ),
            (
                "query.startTimeMax",
                spoor_model::format_rfc3339(now + 60_000 * MS),
            ),
        ];
        params.extend(extra.iter().cloned());
        let reply = spoor.get(&with_params(&spoor.query("/api/v3/traces"), &params));
        (reply.status, reply.json())
    };
    let (status, body) = v3(&[("query.filter", "http.status_code=~5.. error".into())]);
    assert_eq!(status, 200, "{body}");
    let spans = common::v3_spans(&body);
    assert_eq!(spans.len(), 1, "{body}");
    let (status, body) = v3(&[
        ("query.traceDurationMin", "1s".into()),
        ("query.serviceName", "shop-front".into()),
    ]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(common::v3_spans(&body).len(), 1);
    let (status, body) = v3(&[("query.filter", "a=".into())]);
    assert_eq!(status, 400, "{body}");
}

fn metric(spoor: &Spoor, what: &str, params: &[(&str, String)]) -> (u16, Value) {
    let reply = spoor.get(&with_params(
        &spoor.query(&format!("/api/metrics/{what}")),
        params,
    ));
    (reply.status, reply.json())
}

/// The last point's value of each series, by label values.
fn last_points(body: &Value) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for m in body["metrics"].as_array().unwrap_or(&Vec::new()) {
        let labels: Vec<String> = m["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                format!(
                    "{}={}",
                    l["name"].as_str().unwrap(),
                    l["value"].as_str().unwrap()
                )
            })
            .collect();
        let points = m["metricPoints"].as_array().unwrap();
        let last = points.last().unwrap();
        out.insert(
            labels.join(","),
            last["gaugeValue"]["doubleValue"].as_f64().unwrap(),
        );
    }
    out
}

fn check_metrics(spoor: &Spoor, written_at: u64) {
    // One point at the end over the last hour: calls / 3600 s.
    let end_ms = (written_at / MS + 60_000).to_string();
    let base = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        let mut p: Vec<(&'static str, String)> = vec![
            ("service", "red-svc".into()),
            ("endTs", end_ms.clone()),
            ("lookback", "3600000".into()),
            ("step", "3600000".into()),
            ("ratePer", "3600000".into()),
        ];
        p.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        p
    };
    let count = |rate: f64| (rate * 3_600.0).round() as u64;

    let (status, body) = metric(spoor, "calls", &base(&[]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "service_call_rate");
    assert_eq!(body["type"], "GAUGE");
    assert_eq!(body["help"], "calls/sec, grouped by service");
    let points = body["metrics"][0]["metricPoints"].as_array().unwrap();
    assert_eq!(points.len(), 2, "{body}");
    let ts = points[1]["timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() >= 20, "{ts}");
    let calls = last_points(&body);
    assert_eq!(
        calls.keys().collect::<Vec<_>>(),
        vec!["service_name=red-svc"]
    );
    assert_eq!(count(calls["service_name=red-svc"]), 40, "server spans");

    let (_, body) = metric(spoor, "calls", &base(&[("groupByOperation", "true")]));
    assert_eq!(body["name"], "service_operation_call_rate");
    let calls = last_points(&body);
    assert_eq!(
        count(calls["service_name=red-svc,operation=GET /a"]),
        30,
        "{body}"
    );
    assert_eq!(count(calls["service_name=red-svc,operation=GET /b"]), 10);

    let (_, body) = metric(spoor, "calls", &base(&[("spanKind", "client")]));
    assert_eq!(count(last_points(&body)["service_name=red-svc"]), 12);
    let (_, body) = metric(
        spoor,
        "calls",
        &base(&[("spanKind", "client"), ("spanKind", "server")]),
    );
    assert_eq!(count(last_points(&body)["service_name=red-svc"]), 52);

    let (status, body) = metric(spoor, "errors", &base(&[]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "service_error_rate");
    assert_eq!(last_points(&body)["service_name=red-svc"], 6.0 / 40.0);
    let (_, body) = metric(spoor, "errors", &base(&[("groupByOperation", "1")]));
    let errors = last_points(&body);
    assert_eq!(errors["service_name=red-svc,operation=GET /a"], 0.2);
    assert_eq!(errors["service_name=red-svc,operation=GET /b"], 0.0);
    let (_, body) = metric(spoor, "errors", &base(&[("spanKind", "client")]));
    assert_eq!(last_points(&body)["service_name=red-svc"], 2.0 / 12.0);

    let (status, body) = metric(
        spoor,
        "latencies",
        &base(&[("quantile", "0.5"), ("groupByOperation", "true")]),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "service_operation_latencies");
    assert_eq!(
        body["help"],
        "0.50th quantile latency, grouped by service & operation"
    );
    let lat = last_points(&body);
    let b = lat["service_name=red-svc,operation=GET /b"];
    assert!((b - 250.0).abs() <= 2.5, "p50 of GET /b: {b} ms");
    // GET /a: 10 … 39 ms; the median (rank 14) is 24 ms.
    let a = lat["service_name=red-svc,operation=GET /a"];
    assert!((a - 24.0).abs() <= 0.24 + 1e-9, "p50 of GET /a: {a} ms");

    // A service without traffic has no series.
    let (status, body) = metric(
        spoor,
        "calls",
        &[("service", "nobody".into()), ("endTs", end_ms.clone())],
    );
    assert_eq!(status, 200);
    assert!(body.get("metrics").is_none(), "{body}");

    let reply = spoor.get(&spoor.query("/api/metrics/minstep"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["data"], 60_000);

    // Bad parameters: 400 with Jaeger's messages.
    let (status, body) = metric(spoor, "latencies", &base(&[]));
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .starts_with("unable to parse param 'quantile'"),
        "{body}"
    );
    let (status, body) = metric(spoor, "calls", &[]);
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["msg"],
        "unable to parse param 'service': please provide at least one service name"
    );
    let (status, _) = metric(spoor, "calls", &base(&[("spanKind", "sideways")]));
    assert_eq!(status, 400);
    let (status, body) = metric(
        spoor,
        "calls",
        &[
            ("service", "red-svc".into()),
            ("lookback", "3600000".into()),
            ("step", "1".into()),
        ],
    );
    assert_eq!(status, 400, "too many points: {body}");
}

/// `/api/dependencies` sees the edge front → db.
fn check_dependencies(spoor: &Spoor) {
    let (status, body) = spoor.get_json("/api/dependencies?lookback=3600000");
    assert_eq!(status, 200, "{body}");
    let links = body["data"].as_array().unwrap();
    assert!(
        links
            .iter()
            .any(|l| l["parent"] == "shop-front" && l["child"] == "shop-db" && l["callCount"] == 1),
        "{body}"
    );
}

#[test]
fn search_and_metrics_on_the_engine_through_blocks_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    // Every write is cut into a block soon after it is acknowledged.
    let args = ["--data-dir", &data_dir, "--block-cut-bytes", "1"];
    let written_at;
    {
        let spoor = Spoor::start(&args);
        written_at = send(&spoor);
        check_search(&spoor);
        check_metrics(&spoor, written_at);
        check_dependencies(&spoor);
        // Wait until the head was cut (blocks exist on disk).
        let blocks = dir.path().join("blocks");
        let cut = poll_until(Duration::from_secs(30), || {
            let n = std::fs::read_dir(&blocks).ok()?.count();
            (n > 0).then_some(n)
        });
        assert!(cut.is_some(), "no block was cut:\n{}", spoor.log());
    }
    // After a restart the same answers, now read from blocks.
    let spoor = Spoor::start(&args);
    check_search(&spoor);
    check_metrics(&spoor, written_at);
    check_dependencies(&spoor);
}

#[test]
fn search_and_metrics_on_the_memory_backend() {
    let spoor = Spoor::start(&["--storage", "memory"]);
    let written_at = send(&spoor);
    check_search(&spoor);
    check_metrics(&spoor, written_at);
    check_dependencies(&spoor);
}
