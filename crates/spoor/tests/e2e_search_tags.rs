//! Every tag the Jaeger JSON shows for a span can be searched, through the
//! real binary on both storage backends (the engine reading blocks after a
//! restart, and `--storage memory`): the tags the OTLP → Jaeger mapping
//! synthesizes (`otel.status_code`, `otel.status_description`, `error`,
//! `span.kind`, `otel.scope.name`, `otel.scope.version`, `w3c.tracestate`),
//! log fields (`event=exception`, event attributes) and process tags, with
//! `/api/traces` (`tags=` and `tag=`), `filter=` and
//! `/api/v3/trace-summaries`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Spoor, poll_until, with_params};
use serde_json::{Value, json};

const SERVICE: &str = "shown-tags-e2e";
const ERROR_TRACE: &str = "5a0e7a95000000000000000000000001";
const OK_TRACE: &str = "5a0e7a95000000000000000000000002";

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Two traces of one span each: one with a failed status, a scope with a
/// version, a trace state, an `exception` event and a process tag; one OK.
fn send(spoor: &Spoor, at: u64) {
    let body = json!({"resourceSpans": [
        {
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": SERVICE}},
                {"key": "host.name", "value": {"stringValue": "alpha"}}
            ]},
            "scopeSpans": [{
                "scope": {"name": "otel-lib", "version": "2.0.1"},
                "spans": [{
                    "traceId": ERROR_TRACE,
                    "spanId": "0000000000000001",
                    "traceState": "congo=t61rcWkgMzE",
                    "name": "GET /fail",
                    "kind": 2,
                    "startTimeUnixNano": at.to_string(),
                    "endTimeUnixNano": (at + 5_000_000).to_string(),
                    "attributes": [
                        {"key": "retries", "value": {"intValue": "3"}},
                        {"key": "cache.hit", "value": {"boolValue": false}}
                    ],
                    "events": [{
                        "timeUnixNano": (at + 1_000_000).to_string(),
                        "name": "exception",
                        "attributes": [
                            {"key": "exception.type", "value": {"stringValue": "IOError"}},
                            {"key": "exception.message", "value": {"stringValue": "connection refused"}}
                        ]
                    }],
                    "status": {"code": 2, "message": "connection refused"}
                }]
            }]
        },
        {
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": SERVICE}}
            ]},
            "scopeSpans": [{
                "scope": {"name": "other-lib"},
                "spans": [{
                    "traceId": OK_TRACE,
                    "spanId": "0000000000000002",
                    "name": "GET /ok",
                    "kind": 3,
                    "startTimeUnixNano": (at + 1_000_000_000).to_string(),
                    "endTimeUnixNano": (at + 1_002_000_000).to_string(),
                    "status": {"code": 1}
                }]
            }]
        }
    ]});
    let reply = spoor.post(
        &spoor.otlp_http_url("/v1/traces"),
        "application/json",
        serde_json::to_vec(&body).unwrap(),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// A tag value as the Jaeger UI sends it in `tags=` (logfmt values are strings).
fn as_query_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `GET path?params` on the query port, parsed as JSON.
fn get_json(spoor: &Spoor, path: &str, params: &[(&str, String)]) -> (u16, Value) {
    let reply = spoor.get(&with_params(&spoor.query(path), params));
    let body = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("{path} {params:?}: {e}: {}", reply.text()));
    (reply.status, body)
}

/// Trace IDs of a `/api/traces` answer.
fn legacy_ids(spoor: &Spoor, params: &[(&str, String)], window: (u64, u64)) -> Vec<String> {
    let mut all = vec![
        ("start", (window.0 / 1_000).to_string()),
        ("end", (window.1 / 1_000).to_string()),
    ];
    all.extend(params.iter().cloned());
    let (status, body) = get_json(spoor, "/api/traces", &all);
    assert_eq!(status, 200, "{all:?}: {body}");
    let mut ids: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| common::canonical_trace_id(t["traceID"].as_str().unwrap()))
        .collect();
    ids.sort();
    ids
}

/// Trace IDs of a `/api/v3/trace-summaries` answer.
fn summary_ids(spoor: &Spoor, attributes: &Value, window: (u64, u64)) -> Vec<String> {
    let params = [
        ("query.serviceName", SERVICE.to_string()),
        ("query.attributes", attributes.to_string()),
        ("query.startTimeMin", spoor_model::format_rfc3339(window.0)),
        ("query.startTimeMax", spoor_model::format_rfc3339(window.1)),
    ];
    let (status, body) = get_json(spoor, "/api/v3/trace-summaries", &params);
    assert_eq!(status, 200, "{attributes}: {body}");
    let mut ids: Vec<String> = body["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| common::canonical_trace_id(s["traceId"].as_str().unwrap()))
        .collect();
    ids.sort();
    ids
}

fn check(spoor: &Spoor, at: u64) {
    let window = (at - 60_000_000_000, at + 60_000_000_000);
    let service = ("service", SERVICE.to_string());
    let error_trace = vec![ERROR_TRACE.to_string()];
    let ok_trace = vec![OK_TRACE.to_string()];

    // The trace as the Jaeger JSON shows it: every span tag, process tag
    // and log field it shows must find it again.
    let (status, body) = spoor.get_json(&format!("/api/traces/{ERROR_TRACE}"));
    assert_eq!(status, 200, "{body}");
    let trace = &body["data"][0];
    let span = &trace["spans"][0];
    let process = &trace["processes"][span["processID"].as_str().unwrap()];
    let mut shown: Vec<(String, Value)> = Vec::new();
    let fields = span["tags"]
        .as_array()
        .unwrap()
        .iter()
        .chain(process["tags"].as_array().unwrap())
        .chain(
            span["logs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|l| l["fields"].as_array().unwrap()),
        );
    for kv in fields {
        shown.push((kv["key"].as_str().unwrap().to_owned(), kv["value"].clone()));
    }
    let keys: Vec<&str> = shown.iter().map(|(k, _)| k.as_str()).collect();
    for want in [
        "otel.scope.name",
        "otel.scope.version",
        "retries",
        "cache.hit",
        "span.kind",
        "otel.status_code",
        "error",
        "otel.status_description",
        "w3c.tracestate",
        "host.name",
        "event",
        "exception.type",
        "exception.message",
    ] {
        assert!(keys.contains(&want), "the JSON shows no {want}: {span}");
    }
    for (key, value) in &shown {
        let v = as_query_value(value);
        let tags = json!({ key.as_str(): v }).to_string();
        assert_eq!(
            legacy_ids(spoor, &[service.clone(), ("tags", tags.clone())], window),
            error_trace,
            "tags={tags}"
        );
        assert_eq!(
            legacy_ids(
                spoor,
                &[service.clone(), ("tag", format!("{key}:{v}"))],
                window
            ),
            error_trace,
            "tag={key}:{v}"
        );
        let filter = format!("{key}={}", json!(v));
        assert_eq!(
            legacy_ids(
                spoor,
                &[service.clone(), ("filter", filter.clone())],
                window
            ),
            error_trace,
            "filter={filter}"
        );
        assert_eq!(
            summary_ids(spoor, &json!({ key.as_str(): v }), window),
            error_trace,
            "trace summaries, attributes {key}={v}"
        );
    }

    // The OK trace's synthesized tags; and tags that only one trace shows.
    let cases: [(Value, &Vec<String>); 5] = [
        (json!({"otel.status_code": "OK"}), &ok_trace),
        (json!({"otel.scope.name": "other-lib"}), &ok_trace),
        (json!({"span.kind": "client"}), &ok_trace),
        (
            json!({"otel.status_code": "ERROR", "event": "exception", "otel.scope.version": "2.0.1"}),
            &error_trace,
        ),
        (json!({"otel.status_code": "UNSET"}), &Vec::new()),
    ];
    for (attrs, want) in cases {
        assert_eq!(
            &legacy_ids(
                spoor,
                &[service.clone(), ("tags", attrs.to_string())],
                window
            ),
            want,
            "tags={attrs}"
        );
        assert_eq!(
            &summary_ids(spoor, &attrs, window),
            want,
            "summaries {attrs}"
        );
    }
    // Without a service, and in a filter expression with a regex.
    assert_eq!(
        legacy_ids(
            spoor,
            &[("tags", json!({"event": "exception"}).to_string())],
            window
        ),
        error_trace
    );
    assert_eq!(
        legacy_ids(
            spoor,
            &[(
                "filter",
                "otel.status_code AND NOT event AND otel.scope.name=~\".*-lib\"".into()
            )],
            window
        ),
        ok_trace
    );
}

#[test]
fn shown_tags_are_searchable_on_the_engine_from_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    // Every write is cut into a block soon after it is acknowledged.
    let args = ["--data-dir", &data_dir, "--block-cut-bytes", "1"];
    let at = now_nanos() - 30_000_000_000;
    {
        let spoor = Spoor::start(&args);
        send(&spoor, at);
        check(&spoor, at);
        let blocks = dir.path().join("blocks");
        let cut = poll_until(Duration::from_secs(30), || {
            let n = std::fs::read_dir(&blocks).ok()?.count();
            (n > 0).then_some(n)
        });
        assert!(cut.is_some(), "no block was cut:\n{}", spoor.log());
    }
    // After a restart the answers come from the block.
    let spoor = Spoor::start(&args);
    check(&spoor, at);
}

#[test]
fn shown_tags_are_searchable_on_the_memory_backend() {
    let spoor = Spoor::start(&["--storage", "memory"]);
    let at = now_nanos() - 30_000_000_000;
    send(&spoor, at);
    check(&spoor, at);
}
