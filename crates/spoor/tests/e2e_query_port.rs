//! The query port through the real binary: only the web app's own pages get
//! its HTML; any other path (the Jaeger UI's `/analytics/*` probe, a missing
//! asset, a path outside the base path) is a JSON 404 in Jaeger's envelope,
//! with and without `--base-path`. And hostile search parameters (negative
//! durations, limits, search depths, lookbacks; api_v3 times outside RFC
//! 3339's range) are 400s that say what is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Spoor;

/// Status, content type and body of `GET path` on the query port.
fn get(spoor: &Spoor, path: &str) -> (u16, String, String) {
    let reply = spoor.get(&spoor.query(path));
    let text = reply.text();
    (reply.status, reply.content_type, text)
}

fn assert_app_page(spoor: &Spoor, path: &str) {
    let (status, content_type, body) = get(spoor, path);
    assert_eq!(status, 200, "{path}: {body}");
    assert!(
        content_type.starts_with("text/html"),
        "{path}: {content_type}"
    );
    assert!(body.contains("<base href="), "{path}: {body}");
}

fn assert_json_404(spoor: &Spoor, path: &str) {
    let (status, content_type, body) = get(spoor, path);
    assert_eq!(status, 404, "{path}: {body}");
    assert_eq!(content_type, "application/json", "{path}");
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    assert_eq!(v["data"], serde_json::Value::Null, "{path}: {body}");
    assert_eq!(v["errors"][0]["code"], 404, "{path}: {body}");
    let msg = v["errors"][0]["msg"].as_str().unwrap();
    assert!(msg.contains(path), "{path}: {msg}");
}

#[test]
fn only_pages_of_the_app_get_its_html() {
    let spoor = Spoor::start(&["--storage", "memory"]);
    for page in [
        "/",
        "/search",
        "/search?service=a&lookback=1h",
        "/trace/0af7651916cd43dd8448eb211c80319c",
        "/trace/0af7651916cd43dd8448eb211c80319c...1af7651916cd43dd8448eb211c80319c",
        "/compare",
        "/dependencies",
        "/monitor",
        "/index.html",
    ] {
        assert_app_page(&spoor, page);
    }
    for other in [
        "/analytics/v1/deep-dependency-graph",
        "/analytics",
        "/foo.js",
        "/assets/missing-1234.js",
        "/favicon.ico",
        "/search/extra",
        "/trace/a/b",
        "/no-such-page",
    ] {
        assert_json_404(&spoor, other);
    }
    // Unknown API routes keep Jaeger's answer: the envelope as plain text.
    let (status, _, body) = get(&spoor, "/api/unknown");
    assert_eq!(status, 404, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errors"][0]["code"], 404, "{body}");
}

#[test]
fn only_pages_of_the_app_get_its_html_under_a_base_path() {
    let spoor = Spoor::start(&["--storage", "memory", "--base-path", "/jaeger"]);
    for page in [
        "/jaeger",
        "/jaeger/",
        "/jaeger/search",
        "/jaeger/trace/0af7651916cd43dd8448eb211c80319c",
        "/jaeger/dependencies",
        "/jaeger/monitor",
        "/jaeger/compare",
    ] {
        assert_app_page(&spoor, page);
    }
    for other in [
        "/jaeger/analytics/v1/deep-dependency-graph",
        "/jaeger/foo.js",
        "/jaeger/nope",
        "/search",
        "/analytics/x",
        "/",
    ] {
        assert_json_404(&spoor, other);
    }
    let (status, _, body) = get(&spoor, "/jaeger/api/services");
    assert_eq!(status, 200, "{body}");
}

/// `GET path` must answer 400 with a message holding every one of `words`.
fn assert_400(spoor: &Spoor, path: &str, words: &[&str]) {
    let (status, _, body) = get(spoor, path);
    assert_eq!(status, 400, "{path}: {body}");
    for w in words {
        assert!(body.contains(w), "{path}: {w:?} missing in {body}");
    }
}

#[test]
fn hostile_search_parameters_are_400s_with_a_message() {
    let spoor = Spoor::start(&["--storage", "memory"]);
    // The same searches with sane values work.
    for ok in [
        "/api/traces?service=a&minDuration=1ms&maxDuration=1s&limit=5&lookback=1h",
        "/api/traces?service=a&lookback=custom",
        "/api/dependencies?lookback=5&endTs=1000",
        "/api/v3/trace-summaries?query.serviceName=a&query.startTimeMin=2024-01-01T00:00:00Z&query.startTimeMax=2024-01-02T00:00:00Z&query.searchDepth=0",
    ] {
        let (status, _, body) = get(&spoor, ok);
        assert_eq!(status, 200, "{ok}: {body}");
    }
    assert_400(
        &spoor,
        "/api/traces?service=a&minDuration=-1s",
        &["minDuration", "negative"],
    );
    assert_400(
        &spoor,
        "/api/traces?service=a&maxDuration=-5ms",
        &["maxDuration", "negative"],
    );
    assert_400(
        &spoor,
        "/api/traces?service=a&minTraceDuration=-1s",
        &["minTraceDuration", "negative"],
    );
    assert_400(&spoor, "/api/traces?service=a&limit=-1", &["limit"]);
    assert_400(
        &spoor,
        "/api/traces?service=a&lookback=-5",
        &["lookback", "negative"],
    );
    assert_400(
        &spoor,
        "/api/dependencies?lookback=-5",
        &["lookback", "negative"],
    );
    assert_400(&spoor, "/api/dependencies?endTs=-1", &["endTs", "negative"]);
    let v3 = "/api/v3/traces?query.serviceName=a&query.startTimeMin=2024-01-01T00:00:00Z&query.startTimeMax=2024-01-02T00:00:00Z";
    assert_400(
        &spoor,
        &format!("{v3}&query.searchDepth=-5"),
        &["query.searchDepth", "negative"],
    );
    assert_400(
        &spoor,
        &format!("{v3}&query.durationMin=-1s"),
        &["query.durationMin", "negative"],
    );
    let summaries =
        "/api/v3/trace-summaries?query.serviceName=a&query.startTimeMin=2024-01-01T00:00:00Z";
    assert_400(
        &spoor,
        &format!("{summaries}&query.startTimeMax=10000-01-01T00:00:00Z"),
        &[
            "query.startTimeMax",
            "outside RFC 3339's range",
            "0000 to 9999",
        ],
    );
    assert_400(
        &spoor,
        "/api/v3/traces?query.startTimeMin=1969-12-31T23:59:59Z&query.startTimeMax=2024-01-01T00:00:00Z",
        &["query.startTimeMin", "before 1970-01-01T00:00:00Z"],
    );
    assert_400(
        &spoor,
        "/api/v3/traces/0af7651916cd43dd8448eb211c80319c?startTime=-0001-01-01T00:00:00Z",
        &["startTime", "outside RFC 3339's range"],
    );
}
