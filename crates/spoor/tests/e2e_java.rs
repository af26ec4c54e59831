//! The Java senders Spoor's users run, from Maven Central
//! (`tests/clients/java`, installed by `scripts/tools/java-clients.sh`,
//! which `scripts/test.sh` runs and whose folder it passes in
//! `SPOOR_TEST_JAVA_CLIENTS`), against the real binary:
//!
//! - the OpenTelemetry Java agent attached to two small JDK HTTP services
//!   (`SpoorDemo.java`), configured only by the environment the typical
//!   user sets (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`,
//!   `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_METRICS_EXPORTER=none`,
//!   `OTEL_LOGS_EXPORTER=none`, `OTEL_SERVICE_NAME`): one trace across both
//!   services, with the right parents and HTTP attributes;
//! - the legacy Jaeger Java client (`JaegerClientDemo.java`) configured only
//!   by `JAEGER_*` variables, over UDP with the `const` sampler, and with the
//!   `remote` sampler polling Spoor's sampling port (5778's listener).
//!
//! Skipped, with a printed reason, only when `SPOOR_TEST_JAVA_CLIENTS` is
//! unset and `java` or the clients are missing (scripts/test.sh sets it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Spoor, poll_until};
use serde_json::Value;

fn java_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/java")
}

/// The folder of the clients' jars, or `None` (skip) when none is installed.
fn clients(test: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SPOOR_TEST_JAVA_CLIENTS") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join(".complete").is_file(),
            "SPOOR_TEST_JAVA_CLIENTS={} holds no installed clients",
            dir.display()
        );
        return Some(dir);
    }
    let out = Command::new(java_dir().join("../../../scripts/tools/java-clients.sh"))
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    if !out.status.success() || Command::new("java").arg("-version").output().is_err() {
        eprintln!(
            "SKIPPED {test}: no Java or Maven here (scripts/test.sh installs the Java clients)"
        );
        return None;
    }
    Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()))
}

/// A child process killed when dropped (its output kept for failures).
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- {} -----\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

fn spawn(name: &'static str, mut cmd: Command, dir: &Path) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start java");
    Proc { name, child, log }
}

/// Compiles the Java sources into `out` (the agent does not attach to the
/// JDK's source launcher, so the demo runs from classes).
fn compile(jars: &Path, out: &Path) {
    let status = Command::new("javac")
        .arg("-d")
        .arg(out)
        .arg("-cp")
        .arg(format!("{}/*", jars.display()))
        .arg(java_dir().join("SpoorDemo.java"))
        .arg(java_dir().join("JaegerClientDemo.java"))
        .status()
        .expect("run javac");
    assert!(status.success(), "javac failed");
}

fn tag<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| &t["value"])
}

fn service_of<'a>(trace: &'a Value, span: &Value) -> &'a str {
    let process = span["processID"].as_str().unwrap();
    trace["processes"][process]["serviceName"].as_str().unwrap()
}

#[test]
fn the_opentelemetry_java_agent_traces_two_services() {
    let Some(jars) = clients("e2e_java") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    compile(&jars, work.path());
    let spoor = Spoor::start(&[]);
    let [frontend, backend] = common::free_addrs::<2>();
    let agent = jars.join("opentelemetry-javaagent-2.31.1.jar");
    let java = |service: &str, args: &[String]| {
        let mut cmd = Command::new("java");
        cmd.arg(format!("-javaagent:{}", agent.display()))
            .arg("-cp")
            .arg(work.path())
            .arg("SpoorDemo")
            .args(args)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", spoor.otlp_grpc_endpoint())
            .env("OTEL_METRICS_EXPORTER", "none")
            .env("OTEL_LOGS_EXPORTER", "none")
            .env("OTEL_SERVICE_NAME", service);
        cmd
    };
    let _backend = spawn(
        "backend",
        java(
            "java-backend",
            &["backend".into(), backend.port().to_string()],
        ),
        work.path(),
    );
    let _frontend = spawn(
        "frontend",
        java(
            "java-frontend",
            &[
                "frontend".into(),
                frontend.port().to_string(),
                format!("http://{backend}"),
            ],
        ),
        work.path(),
    );
    let answered = poll_until(Duration::from_secs(60), || {
        reqwest::blocking::get(format!("http://{frontend}/checkout"))
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|r| r.text().ok())
    });
    assert_eq!(answered.as_deref(), Some("total 9.99"));
    // The agent exports in batches (every 5 s by default).
    let trace = poll_until(Duration::from_secs(60), || {
        let (status, body) = spoor.get_json("/api/traces?service=java-frontend&limit=5");
        let trace = body["data"].as_array()?.first()?.clone();
        (status == 200 && trace["spans"].as_array()?.len() >= 3).then_some(trace)
    })
    .expect("the agent's trace arrived with three spans");
    let spans = trace["spans"].as_array().unwrap();
    let by_kind: BTreeMap<(String, String), &Value> = spans
        .iter()
        .map(|s| {
            (
                (
                    service_of(&trace, s).to_owned(),
                    tag(s, "span.kind")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                ),
                s,
            )
        })
        .collect();
    let root = by_kind[&("java-frontend".to_owned(), "server".to_owned())];
    let call = by_kind[&("java-frontend".to_owned(), "client".to_owned())];
    let served = by_kind[&("java-backend".to_owned(), "server".to_owned())];
    assert_eq!(root["operationName"], "GET /checkout");
    assert!(root["references"].as_array().unwrap().is_empty());
    let parent = |s: &Value| s["references"][0]["spanID"].as_str().unwrap().to_owned();
    assert_eq!(parent(call), root["spanID"].as_str().unwrap());
    assert_eq!(
        parent(served),
        call["spanID"].as_str().unwrap(),
        "context propagated"
    );
    assert_eq!(served["operationName"], "GET /price");
    for s in [root, call, served] {
        assert_eq!(tag(s, "http.request.method"), Some(&Value::from("GET")));
        assert_eq!(tag(s, "http.response.status_code"), Some(&Value::from(200)));
    }
    assert_eq!(tag(served, "url.path"), Some(&Value::from("/price")));
    let process = &trace["processes"][root["processID"].as_str().unwrap()];
    let has = |key: &str| {
        process["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == key)
    };
    assert!(
        has("telemetry.sdk.language") && has("process.runtime.name"),
        "{process}"
    );
}

#[test]
fn the_legacy_jaeger_java_client_reports_over_udp_with_both_samplers() {
    let Some(jars) = clients("e2e_java") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    compile(&jars, work.path());
    let strategies = work.path().join("strategies.json");
    std::fs::write(
        &strategies,
        r#"{"default_strategy":{"type":"probabilistic","param":0.5},
            "service_strategies":[{"service":"jaeger-java-remote","type":"probabilistic","param":1.0}]}"#,
    )
    .unwrap();
    let spoor = Spoor::start(&["--sampling-strategies", strategies.to_str().unwrap()]);
    let run = |service: &str, sampler: &[(&str, String)]| {
        let out = Command::new("java")
            .arg("-cp")
            .arg(format!("{}:{}/*", work.path().display(), jars.display()))
            .arg("JaegerClientDemo")
            .env("JAEGER_SERVICE_NAME", service)
            .env("JAEGER_AGENT_HOST", spoor.jaeger_compact.ip().to_string())
            .env("JAEGER_AGENT_PORT", spoor.jaeger_compact.port().to_string())
            .envs(sampler.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("run the Jaeger client");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let printed = run(
        "jaeger-java",
        &[
            ("JAEGER_SAMPLER_TYPE", "const".into()),
            ("JAEGER_SAMPLER_PARAM", "1".into()),
        ],
    );
    assert!(printed.contains("sampled true"), "{printed}");
    let printed = run(
        "jaeger-java-remote",
        &[
            ("JAEGER_SAMPLER_TYPE", "remote".into()),
            (
                "JAEGER_SAMPLER_MANAGER_HOST_PORT",
                spoor.sampling_http.to_string(),
            ),
        ],
    );
    // The initial remote sampler samples 0.1 %; the strategy says 100 %.
    assert!(printed.contains("sampled true"), "{printed}");
    for (service, sampler_type, param) in [
        ("jaeger-java", "const", Value::from(true)),
        ("jaeger-java-remote", "probabilistic", Value::from(1.0)),
    ] {
        let trace = poll_until(Duration::from_secs(20), || {
            let (_, body) = spoor.get_json(&format!("/api/traces?service={service}&limit=5"));
            body["data"].as_array()?.first().cloned()
        })
        .unwrap_or_else(|| panic!("no trace of {service}"));
        let spans = trace["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 2, "{service}");
        let root = spans
            .iter()
            .find(|s| s["operationName"] == "GET /jaeger-java")
            .unwrap();
        let child = spans
            .iter()
            .find(|s| s["operationName"] == "db.query")
            .unwrap();
        assert_eq!(child["references"][0]["spanID"], root["spanID"]);
        assert_eq!(
            tag(root, "sampler.type"),
            Some(&Value::from(sampler_type)),
            "{service}"
        );
        let got = tag(root, "sampler.param").cloned().unwrap_or(Value::Null);
        let same = match (&got, &param) {
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            (a, b) => a == b,
        };
        assert!(same, "{service}: sampler.param {got}, expected {param}");
        assert_eq!(tag(root, "http.status_code"), Some(&Value::from(200)));
        assert_eq!(tag(child, "db.system"), Some(&Value::from("postgresql")));
        assert_eq!(child["logs"][0]["fields"][0]["key"], "event");
        assert_eq!(service_of(&trace, root), service);
    }
}
