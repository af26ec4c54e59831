//! `spoor tracegen` against a running `spoor`: for each protocol, the spans
//! tracegen says it sent are exactly the spans Spoor stores, read back
//! through `/api/v3/trace-summaries`. And tracegen fails (non-zero exit)
//! when the target refuses or rejects what it sends.
//!
//! No timing is asserted: the rate and duration only size the run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Spoor, poll_until, with_params};
use serde_json::Value;

/// A finished tracegen run.
struct Run {
    success: bool,
    summary: Value,
    stderr: String,
}

/// Runs the real binary's `tracegen` with `args` and `--json-summary`.
fn tracegen(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .arg("tracegen")
        .args(args)
        .args(["--json-summary", "--log", "warn"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run spoor tracegen");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("tracegen printed no JSON summary ({e}):\nstdout: {stdout}\nstderr: {stderr}")
    });
    Run {
        success: out.status.success(),
        summary,
        stderr,
    }
}

fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("summary has no {key}: {v}"))
}

fn rfc3339(t: SystemTime) -> String {
    spoor_model::format_rfc3339(t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64)
}

/// (traces, spans, orphan spans) stored with a start between `from` and
/// `to`, over every service: every trace summary, with no limit that could
/// cut the answer short.
fn stored(spoor: &Spoor, from: SystemTime, to: SystemTime) -> (u64, u64, u64) {
    let url = with_params(
        &spoor.query("/api/v3/trace-summaries"),
        &[
            ("query.startTimeMin", rfc3339(from)),
            ("query.startTimeMax", rfc3339(to)),
            ("query.searchDepth", "100000000".to_string()),
        ],
    );
    let reply = spoor.get(&url);
    if reply.status == 404 {
        return (0, 0, 0);
    }
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    let summaries = body["summaries"].as_array().expect("summaries array");
    let spans = summaries
        .iter()
        .map(|s| s["spanCount"].as_u64().unwrap_or(0))
        .sum();
    let orphans = summaries
        .iter()
        .map(|s| s["orphanSpanCount"].as_u64().unwrap_or(0))
        .sum();
    (summaries.len() as u64, spans, orphans)
}

/// Sends with `protocol` to `endpoint` for `duration` at `rate` spans/s,
/// then checks that Spoor stored every span tracegen reports as sent.
fn sends_and_spoor_stores_every_span(
    protocol: &str,
    endpoint: impl FnOnce(&Spoor) -> String,
    rate: &str,
    duration: &str,
) {
    sends_and_spoor_stores_every_span_with(protocol, endpoint, rate, duration, &[]);
}

fn sends_and_spoor_stores_every_span_with(
    protocol: &str,
    endpoint: impl FnOnce(&Spoor) -> String,
    rate: &str,
    duration: &str,
    extra: &[&str],
) {
    let spoor = Spoor::start(&["--max-traces", "1000000"]);
    let endpoint = endpoint(&spoor);
    let from = SystemTime::now() - Duration::from_secs(60);
    let mut args = vec![
        "--protocol",
        protocol,
        "--endpoint",
        &endpoint,
        "--rate",
        rate,
        "--duration",
        duration,
        "--seed",
        "7",
        "--large-trace-every",
        "100",
        "--large-trace-spans",
        "1500",
    ];
    args.extend_from_slice(extra);
    let run = tracegen(&args);
    let s = &run.summary;
    assert!(
        run.success,
        "tracegen failed: {s}\n{}\n{}",
        run.stderr,
        spoor.log()
    );
    assert_eq!(s["protocol"], protocol);
    let sent = n(s, "spans_sent");
    assert!(sent > 0, "{s}");
    assert_eq!(
        n(s, "spans_refused") + n(s, "spans_rejected") + n(s, "spans_failed"),
        0,
        "{s}"
    );
    assert_eq!(n(s, "requests_failed"), 0, "{s}");
    let to = SystemTime::now() + Duration::from_secs(60);
    // Acknowledged protocols have stored everything already; UDP is
    // decoded and written after the datagram arrived, so wait for it.
    let counted = poll_until(Duration::from_secs(30), || {
        let c = stored(&spoor, from, to);
        (c.1 == sent).then_some(c)
    });
    let (traces, spans, orphans) = counted.unwrap_or_else(|| stored(&spoor, from, to));
    assert_eq!(
        spans,
        sent,
        "stored spans ≠ sent spans for {protocol}: {s}\n{}",
        spoor.log()
    );
    // A trace cut short by the end of the run loses children, never parents.
    assert_eq!(orphans, 0);
    assert!(traces >= n(s, "traces_sent"), "{traces} stored traces: {s}");
}

#[test]
fn otlp_grpc() {
    sends_and_spoor_stores_every_span("otlp-grpc", Spoor::otlp_grpc_endpoint, "5000", "3s");
}

#[test]
fn otlp_http_protobuf() {
    sends_and_spoor_stores_every_span("otlp-http", |s| s.otlp_http_url("/v1/traces"), "5000", "3s");
}

#[test]
fn otlp_http_json() {
    sends_and_spoor_stores_every_span(
        "otlp-http-json",
        |s| s.otlp_http_url("/v1/traces"),
        "5000",
        "3s",
    );
}

#[test]
fn jaeger_http_thrift() {
    sends_and_spoor_stores_every_span(
        "jaeger-http",
        |s| format!("http://{}/api/traces", s.jaeger_http),
        "5000",
        "3s",
    );
}

#[test]
fn jaeger_grpc() {
    sends_and_spoor_stores_every_span(
        "jaeger-grpc",
        |s| format!("http://{}", s.jaeger_grpc),
        "5000",
        "3s",
    );
}

#[test]
fn zipkin_v2_json() {
    sends_and_spoor_stores_every_span(
        "zipkin",
        |s| format!("http://{}/api/v2/spans", s.zipkin),
        "5000",
        "3s",
    );
}

#[test]
fn otlp_grpc_and_http_gzip() {
    sends_and_spoor_stores_every_span_with(
        "otlp-grpc",
        Spoor::otlp_grpc_endpoint,
        "5000",
        "2s",
        &["--compression", "gzip", "--attrs", "20"],
    );
    sends_and_spoor_stores_every_span_with(
        "otlp-http",
        |s| s.otlp_http_url("/v1/traces"),
        "5000",
        "2s",
        &["--compression", "gzip", "--services", "10"],
    );
}

// UDP has no flow control: a moderate rate keeps the loopback socket
// buffers from overflowing on a busy test machine.
#[test]
fn jaeger_udp_compact() {
    sends_and_spoor_stores_every_span(
        "jaeger-udp-compact",
        |s| s.jaeger_compact.to_string(),
        "1500",
        "3s",
    );
}

#[test]
fn jaeger_udp_binary() {
    sends_and_spoor_stores_every_span(
        "jaeger-udp-binary",
        |s| s.jaeger_binary.to_string(),
        "1500",
        "3s",
    );
}

#[test]
fn a_trace_count_sends_exactly_that_many_whole_traces() {
    let spoor = Spoor::start(&["--max-traces", "1000000"]);
    let from = SystemTime::now() - Duration::from_secs(60);
    let run = tracegen(&[
        "--endpoint",
        &spoor.otlp_grpc_endpoint(),
        "--traces",
        "250",
        "--rate",
        "0",
        "--workers",
        "3",
        "--attrs",
        "4",
        "--error-rate",
        "0.5",
    ]);
    assert!(run.success, "{}\n{}", run.summary, run.stderr);
    assert_eq!(n(&run.summary, "traces_sent"), 250);
    let to = SystemTime::now() + Duration::from_secs(60);
    let (traces, spans, orphans) = stored(&spoor, from, to);
    assert_eq!(traces, 250);
    assert_eq!(spans, n(&run.summary, "spans_sent"));
    assert_eq!(orphans, 0);
}

#[test]
fn refusals_are_retried_then_make_tracegen_fail() {
    // Nothing listens there: gRPC says UNAVAILABLE, a refusal.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = tracegen(&[
        "--endpoint",
        &format!("http://127.0.0.1:{port}"),
        "--traces",
        "3",
        "--max-retries",
        "2",
        "--timeout",
        "2s",
    ]);
    assert!(!run.success, "{}", run.summary);
    let s = &run.summary;
    assert_eq!(n(s, "spans_sent"), 0);
    assert!(n(s, "spans_refused") > 0, "{s}");
    assert!(n(s, "retries") >= 2, "{s}");
    assert!(n(s, "refusals") > n(s, "retries"), "{s}");
    assert!(run.stderr.contains("refused or lost"), "{}", run.stderr);
}

#[test]
fn an_error_answer_makes_tracegen_fail() {
    let spoor = Spoor::start(&[]);
    // The admin server answers 404 to POST /v1/traces.
    let run = tracegen(&[
        "--protocol",
        "otlp-http",
        "--endpoint",
        &spoor.admin("/v1/traces"),
        "--traces",
        "2",
    ]);
    assert!(!run.success, "{}", run.summary);
    let s = &run.summary;
    assert!(n(s, "requests_failed") > 0, "{s}");
    assert_eq!(n(s, "spans_sent"), 0);
    assert!(
        s["first_error"]
            .as_str()
            .unwrap_or_default()
            .contains("404"),
        "{s}"
    );
}

#[test]
fn bad_flags_are_rejected_before_sending() {
    for args in [
        &["--error-rate", "2"][..],
        &["--duration", "soon"],
        &["--workers", "0"],
        &["--protocol", "jaeger-udp-compact", "--compression", "gzip"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_spoor"))
            .arg("tracegen")
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// A fake OTLP/HTTP target on loopback: answers the first `refuse`
/// requests with 429 (`Retry-After: 0`), then 200 with `ok_body`.
/// Returns its address and a counter of requests seen.
fn fake_otlp_http(
    refuse: usize,
    ok_body: &'static str,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut writer = conn;
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let reply = if n < refuse {
                        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 4\r\n\r\nbusy"
                            .to_string()
                    } else {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{ok_body}",
                            ok_body.len()
                        )
                    };
                    if writer.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[test]
fn http_429_is_retried_and_then_succeeds() {
    let (addr, seen) = fake_otlp_http(2, "{}");
    let run = tracegen(&[
        "--protocol",
        "otlp-http-json",
        "--endpoint",
        &format!("http://{addr}"),
        "--traces",
        "1",
        "--workers",
        "1",
        "--large-trace-every",
        "0",
    ]);
    let s = &run.summary;
    assert!(run.success, "{s}\n{}", run.stderr);
    assert_eq!(n(s, "refusals"), 2, "{s}");
    assert_eq!(n(s, "retries"), 2, "{s}");
    assert_eq!(n(s, "requests_ok"), 1, "{s}");
    assert!(n(s, "spans_sent") > 0, "{s}");
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[test]
fn a_partial_success_counts_rejected_spans_and_fails_the_run() {
    let (addr, _) = fake_otlp_http(
        0,
        r#"{"partialSuccess":{"rejectedSpans":"1","errorMessage":"no"}}"#,
    );
    let run = tracegen(&[
        "--protocol",
        "otlp-http-json",
        "--endpoint",
        &format!("http://{addr}/v1/traces"),
        "--traces",
        "1",
        "--workers",
        "1",
        "--large-trace-every",
        "0",
    ]);
    let s = &run.summary;
    assert!(!run.success, "{s}");
    assert_eq!(n(s, "spans_rejected"), 1, "{s}");
    assert_eq!(n(s, "traces_sent"), 0, "{s}");
}
