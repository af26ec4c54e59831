//! Real third-party senders over TLS, mTLS and with bearer tokens, against
//! the real `spoor` binary with TLS on every TCP listener (a CA made by the
//! test, `common::pki`), on the test's own loopback address 127.0.0.95:
//!
//! - the OpenTelemetry Python SDK's OTLP exporters (gRPC and HTTP/protobuf,
//!   1.45) and the OpenTelemetry JS SDK's OTLP/HTTP exporters (JSON and
//!   protobuf), configured only by the standard variables
//!   `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_CERTIFICATE`,
//!   `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_KEY`
//!   and `OTEL_EXPORTER_OTLP_HEADERS` (tests/clients/python/otel_otlp_send.py,
//!   tests/clients/node/otlp_env_send.mjs);
//! - the Zipkin senders (Python `opentelemetry-exporter-zipkin-json`, JS
//!   `@opentelemetry/exporter-zipkin`) and the Jaeger Thrift HTTP senders
//!   (Python `opentelemetry-exporter-jaeger-thrift`, JS
//!   `@opentelemetry/exporter-jaeger`) over HTTPS, trusting the CA the way
//!   their HTTP stacks do (`REQUESTS_CA_BUNDLE` for Python's requests,
//!   `SSL_CERT_FILE` for Thrift's `THttpClient`, `NODE_EXTRA_CA_CERTS`): none
//!   of them has a CA option of its own.
//!
//! Every trace is read back over HTTPS from the query API. The senders also
//! fail where they must: without the CA, without a client certificate when
//! one is required, with a certificate of another CA, with a wrong token.
//!
//! The Python venv `.venv-otel-otlp` (requirements-otel-otlp.txt) and the
//! Node packages are installed by scripts/test.sh; a missing install fails
//! the test with the command to run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::pki::{CertFiles, Pki};
use common::tls_spoor::TlsSpoor;
use common::{metric_sum, poll_until};
use serde_json::Value;

/// The test's own loopback address.
const HOST: &str = "127.0.0.95";
/// How long a trace may take to show up after its sender exited.
const ARRIVAL: Duration = Duration::from_secs(20);
/// The static token of the bearer-token test (`tokens_file`).
const TOKEN: &str = "tls-e2e-ingest-token-9f2c41";

/// `spoor` with TLS on every TCP listener on 127.0.0.95 (the test PKI's
/// server certificate) and `security_extra` under `security:` of its config
/// file (YAML lines: first those of `tls:`, indented four spaces, then other
/// sections indented two), presenting `client` when given.
fn start(
    pki: &Pki,
    security_extra: &str,
    client: Option<&CertFiles>,
) -> (TlsSpoor, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    std::fs::write(
        &config,
        format!("version: 1\nsecurity:\n  tls:\n    min_version: '1.2'\n{security_extra}"),
    )
    .unwrap();
    let config = config.display().to_string();
    let spoor = TlsSpoor::start(HOST, pki, &["--config", &config], client);
    (spoor, dir)
}

/// Waits until `GET https://…/api/traces/{id}` has `spans` spans of
/// `service`.
fn wait_for_trace(spoor: &TlsSpoor, id: &str, spans: usize, service: &str, what: &str) {
    let url = format!("https://{}/api/traces/{id}", spoor.addr("query-http"));
    let mut last = String::new();
    let found = poll_until(ARRIVAL, || {
        let resp = spoor.https.get(&url).send().ok()?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().ok()?;
        last = format!("{status} {body}");
        let trace = &body["data"][0];
        let got = trace["spans"].as_array().map_or(0, Vec::len);
        let services: Vec<&str> = trace["processes"]
            .as_object()
            .map(|p| {
                p.values()
                    .filter_map(|v| v["serviceName"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        (got == spans && services.iter().all(|s| *s == service)).then_some(())
    });
    assert!(
        found.is_some(),
        "{what}: trace {id} did not arrive with {spans} spans of {service} within \
         {ARRIVAL:?}; last answer: {last}\nspoor log:\n{}",
        spoor.log()
    );
}

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients")
}

fn unique_service(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}")
}

/// `script` with the Python of tests/clients/python/.venv-`venv`; no
/// OTEL_* or TLS variable of the caller leaks in.
fn python(venv: &str, script: &str) -> Command {
    let dir = clients_dir().join("python");
    let interpreter = dir.join(format!(".venv-{venv}/bin/python"));
    assert!(
        interpreter.is_file(),
        "the Python venv {venv} is missing ({}): run scripts/test.sh, or from the repository \
         root `python3 -m venv tests/clients/python/.venv-{venv} && \
         tests/clients/python/.venv-{venv}/bin/pip install -r \
         tests/clients/python/requirements-{venv}.txt`",
        interpreter.display()
    );
    let mut cmd = Command::new(interpreter);
    cmd.arg(script)
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python");
    cmd
}

/// `script` with Node.js in tests/clients/node; no OTEL_* or TLS variable of
/// the caller leaks in.
fn node(script: &str) -> Command {
    let dir = clients_dir().join("node");
    assert!(
        dir.join("node_modules/@opentelemetry/exporter-trace-otlp-proto/package.json")
            .is_file(),
        "the Node.js test clients are not installed: run `npm ci --prefix tests/clients/node`"
    );
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

/// Runs a sender; `Ok(trace ID)` when it exited 0 and printed one, else
/// `Err(its output)`.
fn run(mut cmd: Command) -> Result<String, String> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && stdout.len() == 32 && stdout.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(stdout.to_ascii_lowercase())
    } else {
        Err(format!(
            "exit {}\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        ))
    }
}

/// Runs a sender that must succeed, then checks its trace arrived.
fn send_and_find(spoor: &TlsSpoor, cmd: Command, spans: usize, service: &str, what: &str) {
    let id =
        run(cmd).unwrap_or_else(|e| panic!("{what} failed:\n{e}\nspoor log:\n{}", spoor.log()));
    wait_for_trace(spoor, &id, spans, service, what);
}

/// Runs a sender that must fail; returns its output.
fn send_fails(cmd: Command, what: &str) -> String {
    match run(cmd) {
        Ok(id) => panic!("{what} succeeded (trace {id}) but must fail"),
        Err(out) => out,
    }
}

/// The Python OTLP sender: `protocol` is `grpc` or `http/protobuf`, `tls`
/// the OTEL_EXPORTER_OTLP_* variables beside the endpoint.
fn python_otlp(spoor: &TlsSpoor, protocol: &str, service: &str, tls: &[(&str, String)]) -> Command {
    let endpoint = match protocol {
        "grpc" => format!("https://{}", spoor.addr("otlp-grpc")),
        _ => format!("https://{}", spoor.addr("otlp-http")),
    };
    let mut cmd = python("otel-otlp", "otel_otlp_send.py");
    cmd.env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        // A refused export fails within seconds, not after the default 10 s
        // of retries.
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "5")
        .env("SERVICE_NAME", service);
    for (k, v) in tls {
        cmd.env(k, v);
    }
    cmd
}

/// The Node OTLP/HTTP sender (`json` or `proto`).
fn node_otlp(spoor: &TlsSpoor, protocol: &str, service: &str, tls: &[(&str, String)]) -> Command {
    let mut cmd = node("otlp_env_send.mjs");
    cmd.env("PROTOCOL", protocol)
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("https://{}", spoor.addr("otlp-http")),
        )
        .env("SERVICE_NAME", service);
    for (k, v) in tls {
        cmd.env(k, v);
    }
    cmd
}

/// A path as an environment value.
fn path(p: &Path) -> String {
    p.display().to_string()
}

const CA: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
const CLIENT_CERT: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
const CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";

#[test]
fn sdks_and_senders_over_tls_trust_the_ca_they_are_given() {
    let pki = Pki::new(HOST);
    let (spoor, _config) = start(&pki, "", None);
    let ca = path(&pki.ca_file);

    for protocol in ["grpc", "http/protobuf"] {
        let service = unique_service("py-otlp-tls");
        let what = format!("Python OTLP {protocol} over TLS");
        send_and_find(
            &spoor,
            python_otlp(&spoor, protocol, &service, &[(CA, ca.clone())]),
            3,
            &service,
            &what,
        );
    }
    for protocol in ["json", "proto"] {
        let service = unique_service("node-otlp-tls");
        let what = format!("Node OTLP/HTTP {protocol} over TLS");
        send_and_find(
            &spoor,
            node_otlp(&spoor, protocol, &service, &[(CA, ca.clone())]),
            2,
            &service,
            &what,
        );
    }

    // Zipkin v2 JSON over HTTPS: the exporters take a URL and no CA option;
    // their HTTP stacks take the CA from the environment.
    let zipkin = format!("https://{}/api/v2/spans", spoor.addr("zipkin"));
    let service = unique_service("py-zipkin-tls");
    let mut cmd = python("otel-zipkin", "otel_zipkin_send.py");
    cmd.env("TARGET", &zipkin)
        .env("SERVICE_NAME", &service)
        .env("REQUESTS_CA_BUNDLE", &ca);
    send_and_find(&spoor, cmd, 3, &service, "Python Zipkin over HTTPS");
    let service = unique_service("node-zipkin-tls");
    let mut cmd = node("zipkin_send.mjs");
    cmd.env("TARGET", &zipkin)
        .env("SERVICE_NAME", &service)
        .env("NODE_EXTRA_CA_CERTS", &ca);
    send_and_find(&spoor, cmd, 3, &service, "Node Zipkin over HTTPS");

    // Jaeger Thrift over HTTP(S) to the collector endpoint, the same way.
    let jaeger = format!("https://{}/api/traces", spoor.addr("jaeger-http"));
    let service = unique_service("py-jaeger-tls");
    let mut cmd = python("otel-jaeger", "otel_jaeger_send.py");
    // Its Thrift HTTP transport uses Python's default SSL context.
    cmd.env("PROTOCOL", "http")
        .env("TARGET", &jaeger)
        .env("SERVICE_NAME", &service)
        .env("SSL_CERT_FILE", &ca);
    send_and_find(&spoor, cmd, 3, &service, "Python Jaeger Thrift over HTTPS");
    let service = unique_service("node-jaeger-tls");
    let mut cmd = node("otel_jaeger_send.mjs");
    cmd.env("PROTOCOL", "http")
        .env("TARGET", &jaeger)
        .env("SERVICE_NAME", &service)
        .env("NODE_EXTRA_CA_CERTS", &ca);
    send_and_find(&spoor, cmd, 3, &service, "Node Jaeger Thrift over HTTPS");

    // Without the CA, the SDKs refuse Spoor's certificate.
    let service = unique_service("py-otlp-no-ca");
    send_fails(
        python_otlp(&spoor, "http/protobuf", &service, &[]),
        "Python OTLP/HTTP without the CA",
    );
    send_fails(
        python_otlp(&spoor, "grpc", &service, &[]),
        "Python OTLP gRPC without the CA",
    );
    // Plain HTTP to a TLS listener gets no answer it can use.
    let plain = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let answer = plain
        .post(format!("http://{}/v1/traces", spoor.addr("otlp-http")))
        .header("content-type", "application/x-protobuf")
        .body(Vec::new())
        .send();
    assert!(
        !answer.as_ref().is_ok_and(|r| r.status().is_success()),
        "plain HTTP to the TLS OTLP listener: {answer:?}"
    );
}

#[test]
fn sdks_over_mtls_present_their_client_certificate() {
    let pki = Pki::new(HOST);
    let client = pki.client("otel-sdk");
    let extra = format!(
        "    client_ca_file: {}\n    client_auth: require\n",
        pki.ca_arg()
    );
    let (spoor, _config) = start(&pki, &extra, Some(&client));
    let ca = path(&pki.ca_file);
    let mtls = [
        (CA, ca.clone()),
        (CLIENT_CERT, client.cert_arg()),
        (CLIENT_KEY, client.key_arg()),
    ];

    for protocol in ["grpc", "http/protobuf"] {
        let service = unique_service("py-otlp-mtls");
        let what = format!("Python OTLP {protocol} over mTLS");
        send_and_find(
            &spoor,
            python_otlp(&spoor, protocol, &service, &mtls),
            3,
            &service,
            &what,
        );
    }
    for protocol in ["json", "proto"] {
        let service = unique_service("node-otlp-mtls");
        let what = format!("Node OTLP/HTTP {protocol} over mTLS");
        send_and_find(
            &spoor,
            node_otlp(&spoor, protocol, &service, &mtls),
            2,
            &service,
            &what,
        );
    }

    // No client certificate: refused in the handshake.
    let service = unique_service("py-otlp-no-client-cert");
    for protocol in ["grpc", "http/protobuf"] {
        send_fails(
            python_otlp(&spoor, protocol, &service, &[(CA, ca.clone())]),
            &format!("Python OTLP {protocol} without a client certificate"),
        );
    }
    // A client certificate of a CA Spoor does not trust: refused too.
    let other = Pki::named("Another CA", HOST);
    let stranger = other.client("otel-sdk");
    send_fails(
        python_otlp(
            &spoor,
            "http/protobuf",
            &service,
            &[
                (CA, ca.clone()),
                (CLIENT_CERT, stranger.cert_arg()),
                (CLIENT_KEY, stranger.key_arg()),
            ],
        ),
        "Python OTLP/HTTP with a certificate of another CA",
    );
    send_fails(
        node_otlp(
            &spoor,
            "proto",
            &service,
            &[
                (CA, ca.clone()),
                (CLIENT_CERT, stranger.cert_arg()),
                (CLIENT_KEY, stranger.key_arg()),
            ],
        ),
        "Node OTLP/HTTP with a certificate of another CA",
    );
}

#[test]
fn sdks_send_bearer_tokens_from_otel_exporter_otlp_headers() {
    let pki = Pki::new(HOST);
    let tokens = pki.path().join("ingest-tokens");
    std::fs::write(
        &tokens,
        format!("# tokens of the SDK tests\n{TOKEN} otel-sdk-tests\n"),
    )
    .unwrap();
    let extra = format!(
        "  auth:\n    ingest:\n      tokens_file: {}\n",
        tokens.display()
    );
    let (spoor, _config) = start(&pki, &extra, None);
    let ca = path(&pki.ca_file);
    // The specification's format: comma-separated key=value, values
    // URL-encoded (the space of "Bearer TOKEN").
    let headers = format!("authorization=Bearer%20{TOKEN}");
    let good = headers;
    let bad = "authorization=Bearer%20not-the-token".to_string();

    for protocol in ["grpc", "http/protobuf"] {
        let service = unique_service("py-otlp-token");
        let what = format!("Python OTLP {protocol} with a bearer token over TLS");
        send_and_find(
            &spoor,
            python_otlp(
                &spoor,
                protocol,
                &service,
                &[
                    (CA, ca.clone()),
                    ("OTEL_EXPORTER_OTLP_HEADERS", good.clone()),
                ],
            ),
            3,
            &service,
            &what,
        );
    }
    let service = unique_service("node-otlp-token");
    send_and_find(
        &spoor,
        node_otlp(
            &spoor,
            "proto",
            &service,
            &[
                (CA, ca.clone()),
                ("OTEL_EXPORTER_OTLP_HEADERS", good.clone()),
            ],
        ),
        2,
        &service,
        "Node OTLP/HTTP proto with a bearer token over TLS",
    );
    let ok = metric_sum(
        &spoor.metrics(),
        "spoor_auth_success_total",
        &[("group", "ingest"), ("method", "token")],
    );
    assert!(ok >= 3.0, "token authentications counted: {ok}");

    // A wrong token and no token are refused, by both protocols.
    let service = unique_service("py-otlp-bad-token");
    for protocol in ["grpc", "http/protobuf"] {
        send_fails(
            python_otlp(
                &spoor,
                protocol,
                &service,
                &[
                    (CA, ca.clone()),
                    ("OTEL_EXPORTER_OTLP_HEADERS", bad.clone()),
                ],
            ),
            &format!("Python OTLP {protocol} with a wrong token"),
        );
        send_fails(
            python_otlp(&spoor, protocol, &service, &[(CA, ca.clone())]),
            &format!("Python OTLP {protocol} without a token"),
        );
    }
    let text = spoor.metrics();
    let refused = metric_sum(&text, "spoor_auth_failures_total", &[("group", "ingest")]);
    assert!(refused >= 4.0, "refusals counted ({refused}):\n{text}");
    // The token never reaches the log.
    assert!(!spoor.log().contains(TOKEN), "the token is in the log");
}

/// The folder of the Java clients' jars (`scripts/tools/java-clients.sh`,
/// `SPOOR_TEST_JAVA_CLIENTS`), or `None` (skip) when Java or Maven is
/// missing.
fn java_clients() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SPOOR_TEST_JAVA_CLIENTS") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join(".complete").is_file(),
            "SPOOR_TEST_JAVA_CLIENTS={} holds no installed clients",
            dir.display()
        );
        return Some(dir);
    }
    let script = clients_dir().join("../../scripts/tools/java-clients.sh");
    let out = Command::new(script)
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    if !out.status.success() || Command::new("javac").arg("-version").output().is_err() {
        eprintln!("SKIPPED: no Java or Maven here (scripts/test.sh installs the Java clients)");
        return None;
    }
    Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()))
}

#[test]
fn the_java_agent_exports_over_mtls_with_a_bearer_token() {
    let Some(jars) = java_clients() else {
        return;
    };
    let pki = Pki::new(HOST);
    let client = pki.client("java-agent");
    let tokens = pki.path().join("ingest-tokens");
    std::fs::write(&tokens, format!("{TOKEN} java-agent\n")).unwrap();
    let extra = format!(
        "    client_ca_file: {}\n  auth:\n    ingest:\n      tokens_file: {}\n",
        pki.ca_arg(),
        tokens.display()
    );
    let (spoor, _config) = start(&pki, &extra, Some(&client));

    // The demo from classes (the agent does not attach to the source
    // launcher).
    let work = tempfile::tempdir().unwrap();
    let status = Command::new("javac")
        .arg("-d")
        .arg(work.path())
        .arg(clients_dir().join("java/SpoorDemo.java"))
        .status()
        .expect("run javac");
    assert!(status.success(), "javac failed");
    let port = TcpListener::bind((HOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let service = unique_service("java-mtls");
    let log = work.path().join("backend.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut backend = Command::new("java")
        .arg(format!(
            "-javaagent:{}",
            jars.join("opentelemetry-javaagent-2.31.1.jar").display()
        ))
        .arg("-cp")
        .arg(work.path())
        .args(["SpoorDemo", "backend", &port.to_string()])
        .env("DEMO_HOST", HOST)
        .env("OTEL_SERVICE_NAME", &service)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("https://{}", spoor.addr("otlp-grpc")),
        )
        .env(CA, pki.ca_arg())
        .env(CLIENT_CERT, client.cert_arg())
        .env(CLIENT_KEY, client.key_arg())
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("authorization=Bearer%20{TOKEN}"),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env("OTEL_METRICS_EXPORTER", "none")
        .env("OTEL_LOGS_EXPORTER", "none")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start java");
    let answered = poll_until(Duration::from_secs(60), || {
        reqwest::blocking::get(format!("http://{HOST}:{port}/price"))
            .ok()
            .filter(|r| r.status().is_success())
    });
    let url = format!(
        "https://{}/api/traces?service={service}&limit=5",
        spoor.addr("query-http")
    );
    let found = answered.is_some()
        && poll_until(Duration::from_secs(60), || {
            let body: Value = spoor.https.get(&url).send().ok()?.json().ok()?;
            let spans = body["data"].as_array()?.first()?["spans"].as_array()?.len();
            (spans >= 1).then_some(())
        })
        .is_some();
    let _ = backend.kill();
    let _ = backend.wait();
    assert!(
        found,
        "the Java agent's span did not arrive (answered: {})\n----- java -----\n{}\n\
         ----- spoor -----\n{}",
        answered.is_some(),
        std::fs::read_to_string(&log).unwrap_or_default(),
        spoor.log()
    );
    let ok = metric_sum(
        &spoor.metrics(),
        "spoor_auth_success_total",
        &[("group", "ingest"), ("method", "token")],
    );
    assert!(ok >= 1.0, "the agent's token was checked: {ok}");
}
