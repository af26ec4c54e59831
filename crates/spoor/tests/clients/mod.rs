//! Real third-party senders (tests/clients/): running them, waiting for
//! their traces, and reading `/metrics`.
//!
//! The Python senders run in venvs under tests/clients/python/.venv-*, the
//! Node.js ones in tests/clients/node; `scripts/test.sh` installs both. A
//! missing install fails the test (never skips it) with the command to run.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::{
    Spoor, canonical_trace_id, poll_until, ui_log_fields, ui_refs, ui_span, ui_tag,
};

/// How long a trace may take to show up after its sender exited.
pub const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(20);

/// The repository's tests/clients directory.
pub fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients")
}

/// One Python virtual environment of tests/clients/python (their pins
/// conflict, so each family of senders has its own).
#[derive(Debug, Clone, Copy)]
pub enum Venv {
    /// `jaeger-client` 4.8 (OpenTracing): requirements-jaeger-client.txt.
    JaegerClient,
    /// `opentelemetry-exporter-jaeger-{thrift,proto-grpc}` 1.21: requirements-otel-jaeger.txt.
    OtelJaeger,
    /// `opentelemetry-exporter-zipkin-json` 1.45: requirements-otel-zipkin.txt.
    OtelZipkin,
}

impl Venv {
    fn name(self) -> &'static str {
        match self {
            Venv::JaegerClient => "jaeger-client",
            Venv::OtelJaeger => "otel-jaeger",
            Venv::OtelZipkin => "otel-zipkin",
        }
    }
}

/// A command running `script` with the Python of `venv`, in tests/clients/python.
/// Fails when the venv is missing.
pub fn python(venv: Venv, script: &str) -> Command {
    let dir = clients_dir().join("python");
    let name = venv.name();
    let interpreter = dir.join(format!(".venv-{name}/bin/python"));
    assert!(
        interpreter.is_file(),
        "the Python venv for {name} is missing ({}): run scripts/test.sh, or from the \
         repository root `python3 -m venv tests/clients/python/.venv-{name} && \
         tests/clients/python/.venv-{name}/bin/pip install -r \
         tests/clients/python/requirements-{name}.txt`",
        interpreter.display()
    );
    let mut cmd = Command::new(interpreter);
    cmd.arg(script)
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("PYTHONPATH")
        // The gRPC exporter's generated code needs the pure-Python protobuf.
        .env("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python");
    cmd
}

/// A command running `script` with Node.js in tests/clients/node. Fails when
/// Node or the npm packages `needs` (paths under node_modules) are missing.
pub fn node(script: &str, needs: &[&str]) -> Command {
    let dir = clients_dir().join("node");
    for package in needs {
        assert!(
            dir.join("node_modules")
                .join(package)
                .join("package.json")
                .is_file(),
            "the Node.js package {package} is not installed in {}: run \
             `npm ci --prefix tests/clients/node` from the repository root",
            dir.display()
        );
    }
    let version = Command::new("node").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "`node` is not runnable ({version:?}); install Node.js 20 or later"
    );
    let mut cmd = Command::new("node");
    cmd.arg(script).current_dir(dir);
    cmd
}

/// Runs a sender to completion and returns its stdout (trimmed); fails with
/// its output and the binary's log when it exits non-zero.
pub fn run(mut cmd: Command, what: &str, spoor: &Spoor) -> String {
    let started = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({cmd:?}): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{what} failed with {} after {:?}:\nstdout: {stdout}\nstderr: {stderr}\nspoor log:\n{}",
        out.status,
        started.elapsed(),
        spoor.log()
    );
    stdout
}

/// Checks that a sender printed one trace ID of `hex_len` hex digits and
/// returns it in lower case.
pub fn trace_id(stdout: &str, hex_len: usize, what: &str) -> String {
    assert!(
        stdout.len() == hex_len && stdout.bytes().all(|b| b.is_ascii_hexdigit()),
        "{what} printed {stdout:?}, not a {hex_len}-digit trace ID"
    );
    stdout.to_ascii_lowercase()
}

/// A service name no other test uses.
pub fn unique_service(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}")
}

/// The machine's host name, as the tracers report it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read /proc/sys/kernel/hostname")
        .trim()
        .to_string()
}

/// Polls `GET /api/traces/{id}` until the trace has `spans` spans and
/// returns it (`data[0]`); fails with the last answer and the log.
pub fn wait_for_trace(spoor: &Spoor, id: &str, spans: usize, what: &str) -> Value {
    let path = format!("/api/traces/{id}");
    let mut last = String::new();
    poll_until(ARRIVAL_TIMEOUT, || {
        let reply = spoor.get(&spoor.query(&path));
        last = format!("{} {}", reply.status, reply.text());
        if reply.status != 200 {
            return None;
        }
        let body = reply.json();
        let trace = &body["data"][0];
        (trace["spans"].as_array().map_or(0, Vec::len) == spans).then(|| trace.clone())
    })
    .unwrap_or_else(|| {
        panic!(
            "{what}: trace {id} did not arrive with {spans} spans within {ARRIVAL_TIMEOUT:?}; \
             last answer to GET {path}: {last}\nmetrics:\n{}\nspoor log:\n{}",
            receiver_metrics(spoor),
            spoor.log()
        )
    })
}

/// The service name of a Jaeger UI span, through the trace's `processes`.
pub fn service_of<'a>(trace: &'a Value, span: &Value) -> &'a str {
    let pid = span["processID"].as_str().unwrap();
    trace["processes"][pid]["serviceName"]
        .as_str()
        .unwrap_or_else(|| panic!("span's process {pid} has no serviceName: {trace:#}"))
}

/// The process of a Jaeger UI span.
pub fn process_of<'a>(trace: &'a Value, span: &Value) -> &'a Value {
    let pid = span["processID"].as_str().unwrap();
    &trace["processes"][pid]
}

/// Checks the trace ID and that every span belongs to `service`.
pub fn check_trace_and_service(trace: &Value, trace_id: &str, service: &str) {
    assert_eq!(
        canonical_trace_id(trace["traceID"].as_str().unwrap()),
        canonical_trace_id(trace_id),
        "{trace:#}"
    );
    for span in trace["spans"].as_array().unwrap() {
        assert_eq!(
            canonical_trace_id(span["traceID"].as_str().unwrap()),
            canonical_trace_id(trace_id),
            "{span:#}"
        );
        assert_eq!(service_of(trace, span), service, "{trace:#}");
    }
}

/// The typed tag of a span as (type, value), or a failure naming the span.
pub fn tag<'a>(span: &'a Value, key: &str) -> (&'a str, &'a Value) {
    ui_tag(span, key).unwrap_or_else(|| {
        panic!(
            "span {:?} has no tag {key:?}: {:#}",
            span["operationName"], span["tags"]
        )
    })
}

/// Polls `GET /api/v3/traces/{id}` until it has `spans` spans and returns
/// the body (api_v3 wants the 32-digit ID).
pub fn wait_for_v3(spoor: &Spoor, id: &str, spans: usize) -> Value {
    let path = format!("/api/v3/traces/{}", canonical_trace_id(id));
    let mut last = String::new();
    poll_until(ARRIVAL_TIMEOUT, || {
        let reply = spoor.get(&spoor.query(&path));
        last = format!("{} {}", reply.status, reply.text());
        if reply.status != 200 {
            return None;
        }
        let body = reply.json();
        (crate::common::v3_spans(&body).len() == spans).then_some(body)
    })
    .unwrap_or_else(|| panic!("GET {path} never had {spans} spans; last answer: {last}"))
}

/// Checks the api_v3 form of the 3-span test trace: service, names, parents.
pub fn check_v3_chain(body: &Value, trace_id: &str, service: &str, names: [&str; 3]) {
    let spans = crate::common::v3_spans(body);
    assert_eq!(spans.len(), 3, "{body:#}");
    let find = |name: &str| {
        spans
            .iter()
            .find(|(_, s)| s["name"] == name)
            .map(|(svc, s)| {
                assert_eq!(svc, service, "{body:#}");
                assert_eq!(
                    s["traceId"].as_str().unwrap(),
                    canonical_trace_id(trace_id),
                    "{body:#}"
                );
                s
            })
            .unwrap_or_else(|| panic!("no span {name:?} in {body:#}"))
    };
    let [root, child, grandchild] = names.map(find);
    assert!(
        root["parentSpanId"].as_str().unwrap_or_default().is_empty(),
        "{root:#}"
    );
    assert_eq!(child["parentSpanId"], root["spanId"], "{body:#}");
    assert_eq!(grandchild["parentSpanId"], child["spanId"], "{body:#}");
}

/// Sum of every sample of metric `name` whose labels include all of
/// `labels` (0 when there is none).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric_name, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if metric_name != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// The receiver lines of `/metrics`, for failure messages.
pub fn receiver_metrics(spoor: &Spoor) -> String {
    let reply = spoor.get(&spoor.admin("/metrics"));
    reply
        .text()
        .lines()
        .filter(|l| l.starts_with("spoor_receiver_"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts that `/metrics` counts at least `spans` accepted spans for the
/// receiver series `(receiver, transport, format)`.
pub fn assert_accepted(spoor: &Spoor, source: (&str, &str, &str), spans: u64) {
    let (receiver, transport, format) = source;
    let text = spoor.metrics();
    let value = metric(
        &text,
        "spoor_receiver_accepted_spans_total",
        &[
            ("receiver", receiver),
            ("transport", transport),
            ("format", format),
        ],
    );
    assert!(
        value >= spans as f64,
        "spoor_receiver_accepted_spans_total{{receiver={receiver:?},transport={transport:?},\
         format={format:?}}} is {value}, expected at least {spans}:\n{}",
        text.lines()
            .filter(|l| l.starts_with("spoor_receiver_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Operation names of the 3-span trace every sender sends.
pub const ROOT: &str = "GET /checkout";
/// The client child of [`ROOT`].
pub const CHILD: &str = "charge-card";
/// The child of [`CHILD`], in error.
pub const GRANDCHILD: &str = "db.query";

/// Which OpenTracing `jaeger-client` sent the trace.
#[derive(Debug, Clone, Copy)]
pub enum Tracer {
    /// Python `jaeger-client` 4.8.
    Python,
    /// Node.js `jaeger-client` 3.19.
    Node,
}

impl Tracer {
    /// What Jaeger makes of the client's `jaeger.version` process tag.
    pub fn exporter_version(self) -> &'static str {
        match self {
            Tracer::Python => "Jaeger-Python-4.8.0",
            Tracer::Node => "Jaeger-Node-3.19.0",
        }
    }

    /// The typed form of an integer tag: Node's client sends every number
    /// as a Thrift DOUBLE.
    pub fn int(self, v: i64) -> (&'static str, Value) {
        match self {
            Tracer::Python => ("int64", json!(v)),
            Tracer::Node => ("float64", json!(v)),
        }
    }
}

/// A tag as (type, owned value), for comparisons.
pub fn typed<'a>(t: (&'a str, &'a Value)) -> (&'a str, Value) {
    (t.0, t.1.clone())
}

/// The field `key` of a log (see `ui_log_fields`) as (type, value).
pub fn field(
    fields: &std::collections::BTreeMap<String, (String, Value)>,
    key: &str,
) -> (String, Value) {
    fields
        .get(key)
        .cloned()
        .unwrap_or_else(|| panic!("log has no field {key:?}: {fields:?}"))
}

/// Checks a trace sent by an OpenTracing `jaeger-client` (the senders
/// tests/clients/python/jaeger_client_send.py and node/jaeger_client_send.mjs).
pub fn check_opentracing_trace(trace: &Value, id: &str, service: &str, tracer: Tracer) {
    check_trace_and_service(trace, id, service);
    let trace_id = canonical_trace_id(id);

    let root = ui_span(trace, ROOT);
    assert!(ui_refs(root).is_empty(), "{root:#}");
    assert_eq!(typed(tag(root, "span.kind")), ("string", json!("server")));
    assert_eq!(typed(tag(root, "http.method")), ("string", json!("GET")));
    assert_eq!(typed(tag(root, "http.status_code")), tracer.int(200));
    assert_eq!(typed(tag(root, "e2e.ratio")), ("float64", json!(0.25)));
    assert_eq!(typed(tag(root, "e2e.cached")), ("bool", json!(false)));
    assert_eq!(typed(tag(root, "sampler.type")), ("string", json!("const")));
    assert!(ui_tag(root, "error").is_none(), "{root:#}");

    let process = process_of(trace, root);
    assert_eq!(
        typed(tag(process, "host.name")),
        ("string", json!(hostname())),
        "the `hostname` process tag becomes host.name: {process:#}"
    );
    assert_eq!(
        typed(tag(process, "opencensus.exporterversion")),
        ("string", json!(tracer.exporter_version())),
        "{process:#}"
    );
    assert_eq!(typed(tag(process, "e2e.suite")), ("string", json!("spoor")));

    let child = ui_span(trace, CHILD);
    let root_id = root["spanID"].as_str().unwrap().to_string();
    assert_eq!(
        ui_refs(child),
        vec![("CHILD_OF".to_string(), trace_id.clone(), root_id)],
        "{child:#}"
    );
    assert_eq!(typed(tag(child, "span.kind")), ("string", json!("client")));
    assert_eq!(
        typed(tag(child, "peer.service")),
        ("string", json!("payments"))
    );
    let logs = child["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{child:#}");
    assert!(logs[0]["timestamp"].as_u64().unwrap() >= child["startTime"].as_u64().unwrap());
    let fields = ui_log_fields(&logs[0]);
    assert_eq!(
        field(&fields, "event"),
        ("string".into(), json!("card.validated"))
    );
    assert_eq!(
        field(&fields, "card.brand"),
        ("string".into(), json!("visa"))
    );
    let (t, v) = tracer.int(1);
    assert_eq!(field(&fields, "card.attempt"), (t.to_string(), v));

    let grandchild = ui_span(trace, GRANDCHILD);
    let child_id = child["spanID"].as_str().unwrap().to_string();
    assert_eq!(
        ui_refs(grandchild),
        vec![("CHILD_OF".to_string(), trace_id, child_id)],
        "{grandchild:#}"
    );
    assert_eq!(typed(tag(grandchild, "error")), ("bool", json!(true)));
    assert_eq!(
        typed(tag(grandchild, "otel.status_code")),
        ("string", json!("ERROR"))
    );
    assert_eq!(typed(tag(grandchild, "db.type")), ("string", json!("sql")));
    let logs = grandchild["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{grandchild:#}");
    let fields = ui_log_fields(&logs[0]);
    assert_eq!(field(&fields, "event"), ("string".into(), json!("error")));
    assert_eq!(
        field(&fields, "message"),
        ("string".into(), json!("connection reset"))
    );
}
