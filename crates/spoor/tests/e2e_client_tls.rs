//! Spoor's own clients over TLS, through the real binary (docs/security.md,
//! "Outbound connections"): a collector with `--tls-cert-file` and
//! `--tls-key-file`; `spoor import` and `spoor export` over https with
//! `--tls-ca-file` (and refused without it); `spoor agent` forwarding spans
//! that `spoor tracegen` sent to it, over gRPC with TLS to the collector
//! (`--collector https://…`, `--collector-tls-ca-file`).
//!
//! Every server here listens on 127.0.0.92.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::pki::Pki;
use common::tls_spoor::TlsSpoor;

const IP: &str = "127.0.0.92";

/// The services the collector's query API knows.
fn services(spoor: &TlsSpoor, pki: &Pki) -> Vec<String> {
    let body: serde_json::Value = common::tls_spoor::https_client(pki, None)
        .get(spoor.url("query-http", "/api/services"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    body["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// One OTLP/JSON trace of service `service`, started a minute ago.
fn otlp_json_trace(service: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        - 60_000_000_000;
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"imported-op","kind":2,"startTimeUnixNano":"{now}","endTimeUnixNano":"{}"}}]}}]}}]}}"#,
        now + 1_000_000
    )
}

#[test]
fn import_export_and_the_agent_reach_a_tls_collector() {
    let pki = Pki::new(IP);
    let spoor = TlsSpoor::start(IP, &pki, &[], None);
    let ca = pki.ca_arg();
    let dir = tempfile::tempdir().unwrap();

    // spoor import over https: refused without the CA, accepted with it.
    let input = dir.path().join("trace.json");
    std::fs::write(&input, otlp_json_trace("imported-svc")).unwrap();
    let otlp = format!("https://{}", spoor.addr("otlp-http"));
    let input_arg = input.display().to_string();
    let import = |extra: &[&str]| {
        let mut args = vec![
            "import",
            "--format",
            "otlp-json",
            "--otlp",
            &otlp,
            "--max-retries",
            "0",
        ];
        args.extend_from_slice(extra);
        args.push(&input_arg);
        common::run_spoor(&args)
    };
    let refused = import(&[]);
    assert!(!refused.ok, "import without the CA succeeded");
    assert!(
        refused.stderr.contains("certificate") || refused.stderr.contains("UnknownIssuer"),
        "{}",
        refused.stderr
    );
    let imported = import(&["--tls-ca-file", &ca]);
    assert!(imported.ok, "import failed:\n{}", imported.stderr);
    assert!(services(&spoor, &pki).contains(&"imported-svc".to_string()));

    // spoor agent → collector over gRPC with TLS; tracegen → agent over UDP.
    let collector = format!("https://{}", spoor.addr("jaeger-grpc"));
    let agent = common::Agent::start(&collector, &["--collector-tls-ca-file", &ca]);
    let udp = agent.jaeger_compact.to_string();
    let sent = common::run_spoor(&[
        "tracegen",
        "--protocol",
        "jaeger-udp-compact",
        "--endpoint",
        &udp,
        "--traces",
        "5",
        "--rate",
        "0",
    ]);
    assert!(sent.ok, "tracegen failed:\n{}", sent.stderr);
    let forwarded = common::poll_until(Duration::from_secs(20), || {
        let s = services(&spoor, &pki);
        (s.len() > 1).then_some(s)
    });
    assert!(
        forwarded.is_some(),
        "no span reached the collector through the agent:\n{}",
        agent.log()
    );

    // An agent without the CA cannot deliver: its exports fail.
    let untrusting = common::Agent::start(&collector, &[]);
    let udp = untrusting.jaeger_compact.to_string();
    let sent = common::run_spoor(&[
        "tracegen",
        "--protocol",
        "jaeger-udp-compact",
        "--endpoint",
        &udp,
        "--traces",
        "1",
    ]);
    assert!(sent.ok, "tracegen failed:\n{}", sent.stderr);
    let failed = common::poll_until(Duration::from_secs(20), || {
        let m = untrusting.metrics();
        (common::metric_sum(&m, "spoor_forwarder_exports_total", &[("result", "error")]) > 0.0)
            .then_some(m)
    });
    let metrics = failed.unwrap_or_else(|| {
        panic!(
            "the untrusting agent reported no failed export:\n{}",
            untrusting.metrics()
        )
    });
    assert_eq!(
        common::metric_sum(&metrics, "spoor_forwarder_sent_spans_total", &[]),
        0.0,
        "{metrics}"
    );

    // spoor export over https: refused without the CA, complete with it.
    let url = format!("https://{}", spoor.addr("query-http"));
    let out = dir.path().join("out.jsonl");
    let out_arg = out.display().to_string();
    let refused = common::run_spoor(&["export", "--url", &url, "-o", &out_arg]);
    assert!(!refused.ok, "export without the CA succeeded");
    let exported = common::run_spoor(&[
        "export",
        "--url",
        &url,
        "--tls-ca-file",
        &ca,
        "--service",
        "imported-svc",
        "-o",
        &out_arg,
    ]);
    assert!(exported.ok, "export failed:\n{}", exported.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("imported-op"), "{text}");
}
