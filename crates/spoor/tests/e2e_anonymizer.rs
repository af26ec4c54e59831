//! Jaeger's own gRPC client against Spoor (issue 15): the real Jaeger
//! `anonymizer` (`cmd/anonymizer` of the Go module
//! github.com/jaegertracing/jaeger at v1.75.0, built by
//! `scripts/tools/jaeger-anonymizer.sh` and passed in
//! `SPOOR_TEST_JAEGER_ANONYMIZER` by scripts/test.sh) reads a trace from
//! Spoor's gRPC query API (api_v2 `QueryService/GetTrace`, streamed in
//! chunks) and writes it as it would from Jaeger: the captured spans, the
//! anonymized spans, the name mapping and the anonymized trace in the UI's
//! JSON form. Skipped (with a message) when the binary is not there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Spoor, poll_until};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span, status};
use serde_json::Value;

fn anonymizer_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SPOOR_TEST_JAEGER_ANONYMIZER") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SPOOR_TEST_JAEGER_ANONYMIZER={} does not exist",
            path.display()
        );
        return Some(path);
    }
    let path = PathBuf::from(
        std::env::var("SPOOR_TOOLS_DIR").unwrap_or_else(|_| "/var/tmp/spoor-tools".into()),
    )
    .join("jaeger-anonymizer-v1.75.0/bin/anonymizer");
    path.is_file().then_some(path)
}

/// The anonymizer's hash (Go's `hash/fnv` `New64`: FNV-1, 64 bits), as 16
/// hex digits.
fn fnv1_64(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        h ^= u64::from(b);
    }
    format!("{h:016x}")
}

fn str_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

fn int_attr(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..KeyValue::default()
    }
}

const TRACE_ID: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
];

type SpanSpec = (&'static str, u8, u8, &'static str, span::SpanKind);

/// (service, span id, parent id, operation, kind): 17 spans of three
/// services, so that Spoor streams the trace in two api_v2 chunks.
fn spans() -> Vec<SpanSpec> {
    let mut spans = vec![
        ("frontend", 1, 0, "GET /checkout", span::SpanKind::Server),
        ("frontend", 2, 1, "render", span::SpanKind::Internal),
        ("cart", 3, 1, "load cart", span::SpanKind::Server),
        ("cart", 4, 3, "SELECT carts", span::SpanKind::Client),
        ("payment", 5, 1, "charge", span::SpanKind::Server),
        ("payment", 6, 5, "charge", span::SpanKind::Internal),
    ];
    spans.extend((7..=17).map(|id| ("cart", id, 3, "SELECT items", span::SpanKind::Client)));
    spans
}

/// One OTLP request per service: spans with standard and custom tags, the
/// payment's charge failing, and a log (span event) on every span.
fn requests(start: u64) -> Vec<ExportTraceServiceRequest> {
    let mut by_service: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for (i, (service, id, parent, name, kind)) in spans().into_iter().enumerate() {
        let begin = start + i as u64 * 1_000_000;
        let mut attributes = vec![
            str_attr("user.id", "u-42"),
            int_attr("retry.count", i as i64),
        ];
        if kind == span::SpanKind::Server {
            attributes.push(str_attr("http.method", "GET"));
            attributes.push(int_attr("http.status_code", 200));
        }
        let failed = service == "payment" && parent == 1;
        by_service.entry(service).or_default().push(Span {
            trace_id: TRACE_ID.to_vec(),
            span_id: [0, 0, 0, 0, 0, 0, 0, id].to_vec(),
            parent_span_id: if parent == 0 {
                Vec::new()
            } else {
                [0, 0, 0, 0, 0, 0, 0, parent].to_vec()
            },
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: begin,
            end_time_unix_nano: begin + 500_000,
            attributes,
            events: vec![span::Event {
                time_unix_nano: begin + 100_000,
                name: "cache miss".into(),
                attributes: vec![str_attr("cache.key", "cart:42")],
                ..span::Event::default()
            }],
            status: failed.then(|| Status {
                code: status::StatusCode::Error as i32,
                message: "card declined".into(),
            }),
            ..Span::default()
        });
    }
    by_service
        .into_iter()
        .map(|(service, spans)| common::otlp_service_request(service, spans))
        .collect()
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the anonymizer wrote no {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn tag<'a>(tags: &'a Value, key: &str) -> Option<&'a Value> {
    tags.as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| &t["value"])
}

#[test]
fn jaegers_anonymizer_reads_a_trace_from_spoors_grpc_query_api() {
    let Some(bin) = anonymizer_bin() else {
        eprintln!(
            "SKIPPED e2e_anonymizer: no Jaeger anonymizer binary (scripts/tools/jaeger-anonymizer.sh builds it; scripts/test.sh sets SPOOR_TEST_JAEGER_ANONYMIZER)"
        );
        return;
    };
    let spoor = Spoor::start(&[]);
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        - 60_000_000_000;
    for request in requests(start) {
        common::grpc_export(&spoor.otlp_grpc_endpoint(), request).unwrap();
    }
    let sent_spans = spans();
    let trace_id: String = TRACE_ID.iter().map(|b| format!("{b:02x}")).collect();
    poll_until(Duration::from_secs(10), || {
        let (status, body) = spoor.get_json(&format!("/api/traces/{trace_id}"));
        (status == 200 && body["data"][0]["spans"].as_array()?.len() == sent_spans.len())
            .then_some(())
    })
    .expect("the trace is stored");

    let out = tempfile::tempdir().unwrap();
    let run = Command::new(&bin)
        .args([
            "--query-host-port",
            &spoor.query_grpc.to_string(),
            "--trace-id",
            &trace_id,
            "--output-dir",
            &out.path().display().to_string(),
            "--hash-custom-tags",
            "--hash-logs",
            "--hash-process",
        ])
        .current_dir(out.path())
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "anonymizer failed: {log}");
    let file = |suffix: &str| out.path().join(format!("{trace_id}.{suffix}"));

    // The captured spans, as Jaeger's api_v2 model in protobuf JSON.
    let original = read_json(&file("original.json"));
    let original = original.as_array().expect("an array of spans");
    assert_eq!(original.len(), sent_spans.len(), "{log}");
    let seen: BTreeSet<(String, String)> = original
        .iter()
        .map(|s| {
            (
                s["process"]["serviceName"].as_str().unwrap().to_owned(),
                s["operationName"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let sent: BTreeSet<(String, String)> = sent_spans
        .iter()
        .map(|&(service, _, _, name, _)| (service.to_owned(), name.to_owned()))
        .collect();
    assert_eq!(seen, sent);
    for s in original {
        assert!(
            s["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["key"] == "user.id" && t["vStr"] == "u-42"),
            "{s}"
        );
        assert_eq!(s["logs"].as_array().map(Vec::len), Some(1), "{s}");
    }

    // The mapping: every service and `[service]:operation` to its hash.
    let mapping = read_json(&file("mapping.json"));
    let services: BTreeMap<String, String> = sent_spans
        .iter()
        .map(|&(s, ..)| (s.to_owned(), fnv1_64(s)))
        .collect();
    let operations: BTreeMap<String, String> = sent_spans
        .iter()
        .map(|&(s, _, _, op, _)| {
            let key = format!("[{s}]:{op}");
            let hash = fnv1_64(&key);
            (key, hash)
        })
        .collect();
    assert_eq!(
        mapping["Services"],
        serde_json::to_value(&services).unwrap()
    );
    assert_eq!(
        mapping["Operations"],
        serde_json::to_value(&operations).unwrap()
    );

    // The anonymized spans (the UI's span form, process embedded): hashed
    // names, standard tags kept, custom tags and process hashed; no name or
    // custom tag left in clear.
    let anonymized_text = std::fs::read_to_string(file("anonymized.json")).unwrap();
    let anonymized = read_json(&file("anonymized.json"));
    let anonymized = anonymized.as_array().expect("an array of spans");
    assert_eq!(anonymized.len(), sent_spans.len());
    for s in anonymized {
        assert_eq!(s["traceID"], trace_id.as_str());
        let service = s["process"]["serviceName"].as_str().unwrap();
        assert!(services.values().any(|h| h == service), "{s}");
        let op = s["operationName"].as_str().unwrap();
        assert!(operations.values().any(|h| h == op), "{s}");
        let tags = &s["tags"];
        assert!(tag(tags, "span.kind").is_some(), "{s}");
        assert_eq!(
            tag(tags, &fnv1_64("user.id")),
            Some(&Value::from(fnv1_64("u-42"))),
            "{s}"
        );
        // v1.75.0's --hash-logs keeps every log but hashes nothing (it
        // assigns the hashes to a copy of each log: jaegertracing/jaeger
        // issue 9029), so the log arrives as Spoor served it.
        let logs = s["logs"].as_array().unwrap();
        assert_eq!(logs.len(), 1, "{s}");
        assert_eq!(
            tag(&logs[0]["fields"], "event"),
            Some(&Value::from("cache miss")),
            "{s}"
        );
        assert_eq!(
            tag(&logs[0]["fields"], "cache.key"),
            Some(&Value::from("cart:42")),
            "{s}"
        );
    }
    let server_spans = anonymized
        .iter()
        .filter(|s| tag(&s["tags"], "span.kind") == Some(&Value::from("server")))
        .count();
    assert_eq!(server_spans, 3);
    // The UI form of an embedded process writes every value as a string,
    // with its type beside it.
    let errors = anonymized
        .iter()
        .filter(|s| {
            s["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["key"] == "error" && t["type"] == "bool" && t["value"] == "true")
        })
        .count();
    assert_eq!(errors, 1, "{anonymized_text}");
    for clear in [
        "frontend",
        "payment",
        "GET /checkout",
        "SELECT carts",
        "u-42",
        "user.id",
    ] {
        assert!(
            !anonymized_text.contains(clear),
            "{clear:?} is left in clear: {anonymized_text}"
        );
    }

    // The anonymized trace in the UI's JSON form (`{"data":[trace]}`).
    let ui = read_json(&file("anonymized-ui-trace.json"));
    let trace = &ui["data"][0];
    assert_eq!(trace["traceID"], trace_id.as_str());
    assert_eq!(trace["spans"].as_array().unwrap().len(), sent_spans.len());
    let ui_services: BTreeSet<&str> = trace["processes"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p["serviceName"].as_str().unwrap())
        .collect();
    let hashed: BTreeSet<&str> = services.values().map(String::as_str).collect();
    assert_eq!(ui_services, hashed);
}
