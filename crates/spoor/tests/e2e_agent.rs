//! `spoor agent` with real clients: legacy Jaeger clients send to the agent's
//! UDP ports, the agent forwards to a separate `spoor` collector (over
//! api_v2 gRPC `PostSpans`, or OTLP gRPC), and the trace is read back from
//! the collector's `/api/traces/{id}`. Sampling strategies asked of the
//! agent come from the collector, and a real client obeys them.
//!
//! Needs the clients installed (scripts/test.sh does it; see tests/clients).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients;
mod common;

use std::io::Write as _;

use clients::{
    Tracer, Venv, assert_accepted, check_opentracing_trace, metric, node, python, run, trace_id,
    unique_service, wait_for_trace,
};
use common::{Agent, Spoor, with_params};
use serde_json::{Value, json};

fn python_jaeger_client(agent: &Agent, collector: &Spoor, service: &str) -> String {
    let mut cmd = python(Venv::JaegerClient, "jaeger_client_send.py");
    cmd.env("AGENT_HOST", agent.jaeger_compact.ip().to_string())
        .env("AGENT_PORT", agent.jaeger_compact.port().to_string())
        .env("SERVICE_NAME", service);
    let out = run(cmd, "jaeger_client_send.py (to the agent)", collector);
    trace_id(&out, 16, "jaeger_client_send.py")
}

fn node_jaeger_client(agent: &Agent, collector: &Spoor, service: &str) -> String {
    let mut cmd = node("jaeger_client_send.mjs", &["jaeger-client"]);
    cmd.env("PROTOCOL", "udp")
        .env("TARGET", agent.jaeger_binary.to_string())
        .env("SERVICE_NAME", service);
    let out = run(cmd, "jaeger_client_send.mjs (to the agent)", collector);
    trace_id(&out, 16, "jaeger_client_send.mjs")
}

/// Waits for the trace at the collector; on failure, shows the agent's side too.
fn arrives(collector: &Spoor, agent: &Agent, id: &str, what: &str) -> Value {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for_trace(collector, id, 3, what)
    }));
    result.unwrap_or_else(|e| {
        eprintln!(
            "agent metrics:\n{}\nagent log:\n{}",
            agent.metrics(),
            agent.log()
        );
        std::panic::resume_unwind(e)
    })
}

/// The agent received `spans` spans per UDP format and sent them all.
fn assert_agent_forwarded(agent: &Agent, compact: u64, binary: u64) {
    let text = agent.metrics();
    for (format, spans) in [("thrift_compact", compact), ("thrift_binary", binary)] {
        let accepted = metric(
            &text,
            "spoor_receiver_accepted_spans_total",
            &[
                ("receiver", "jaeger"),
                ("transport", "udp"),
                ("format", format),
            ],
        );
        assert_eq!(accepted, spans as f64, "{format}:\n{text}");
    }
    assert_eq!(
        metric(&text, "spoor_forwarder_sent_spans_total", &[]),
        (compact + binary) as f64,
        "{text}"
    );
    assert_eq!(
        metric(&text, "spoor_forwarder_dropped_spans_total", &[]),
        0.0,
        "{text}"
    );
}

#[test]
fn agent_forwards_to_a_collector_over_jaeger_grpc() {
    let collector = Spoor::start(&[]);
    let agent = Agent::start(&collector.jaeger_grpc.to_string(), &[]);

    let service = unique_service("agent-py");
    let id = python_jaeger_client(&agent, &collector, &service);
    let trace = arrives(
        &collector,
        &agent,
        &id,
        "Python jaeger-client via the agent",
    );
    check_opentracing_trace(&trace, &id, &service, Tracer::Python);

    let service = unique_service("agent-node");
    let id = node_jaeger_client(&agent, &collector, &service);
    let trace = arrives(&collector, &agent, &id, "Node jaeger-client via the agent");
    check_opentracing_trace(&trace, &id, &service, Tracer::Node);

    assert_agent_forwarded(&agent, 3, 3);
    assert_accepted(&collector, ("jaeger", "grpc", "protobuf"), 6);
    // Nothing reached the collector's own UDP ports.
    let text = collector.metrics();
    assert_eq!(
        metric(
            &text,
            "spoor_receiver_accepted_spans_total",
            &[("transport", "udp")]
        ),
        0.0,
        "{text}"
    );
}

#[test]
fn agent_forwards_to_a_collector_over_otlp_grpc() {
    let collector = Spoor::start(&[]);
    let agent = Agent::start(
        &collector.otlp_grpc.to_string(),
        &[
            "--collector-protocol",
            "otlp",
            "--sampling-endpoint",
            &collector.sampling_grpc.to_string(),
        ],
    );

    let service = unique_service("agent-otlp-py");
    let id = python_jaeger_client(&agent, &collector, &service);
    let trace = arrives(
        &collector,
        &agent,
        &id,
        "Python jaeger-client via the agent (OTLP)",
    );
    check_opentracing_trace(&trace, &id, &service, Tracer::Python);

    let service = unique_service("agent-otlp-node");
    let id = node_jaeger_client(&agent, &collector, &service);
    let trace = arrives(
        &collector,
        &agent,
        &id,
        "Node jaeger-client via the agent (OTLP)",
    );
    check_opentracing_trace(&trace, &id, &service, Tracer::Node);

    assert_agent_forwarded(&agent, 3, 3);
    assert_accepted(&collector, ("otlp", "grpc", "protobuf"), 6);
}

/// `GET /sampling?service=` on the agent.
fn agent_strategy(agent: &Agent, service: &str) -> Value {
    let url = with_params(
        &format!("http://{}/sampling", agent.sampling_http),
        &[("service", service.to_string())],
    );
    let resp = reqwest::blocking::get(&url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    assert_eq!(
        status,
        200,
        "GET {url}: {text}\nagent log:\n{}",
        agent.log()
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e}: {text}"))
}

fn sampling_rate(strategy: &Value) -> f64 {
    assert_eq!(strategy["strategyType"], "PROBABILISTIC", "{strategy:#}");
    strategy["probabilisticSampling"]["samplingRate"]
        .as_f64()
        .unwrap_or_else(|| panic!("no samplingRate: {strategy:#}"))
}

#[test]
fn agent_serves_the_collectors_sampling_strategies_to_a_real_client() {
    let muted = unique_service("agent-sampled-never");
    let control = unique_service("agent-sampled-always");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strategies.json");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(
        json!({
            "service_strategies": [
                {"service": muted, "type": "probabilistic", "param": 0},
                {"service": control, "type": "probabilistic", "param": 1}
            ],
            "default_strategy": {"type": "ratelimiting", "param": 7}
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    drop(f);
    let collector = Spoor::start(&["--sampling-strategies", path.to_str().unwrap()]);
    let agent = Agent::start(&collector.jaeger_grpc.to_string(), &[]);

    assert_eq!(sampling_rate(&agent_strategy(&agent, &muted)), 0.0);
    assert_eq!(sampling_rate(&agent_strategy(&agent, &control)), 1.0);
    let other = agent_strategy(&agent, "agent-unknown-service");
    assert_eq!(other["strategyType"], "RATE_LIMITING", "{other:#}");
    assert_eq!(
        other["rateLimitingSampling"]["maxTracesPerSecond"], 7,
        "{other:#}"
    );

    // The real client polls the agent and obeys.
    let mut cmd = python(Venv::JaegerClient, "jaeger_client_sampling.py");
    cmd.args([&muted, &control])
        .env("AGENT_HOST", agent.jaeger_compact.ip().to_string())
        .env("AGENT_PORT", agent.jaeger_compact.port().to_string())
        .env("SAMPLING_PORT", agent.sampling_http.port().to_string())
        .env("TRACES", "3");
    let out = run(cmd, "jaeger_client_sampling.py (to the agent)", &collector);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    for (line, rate) in lines.iter().zip([0.0, 1.0]) {
        assert_eq!(line["sampler"], "ProbabilisticSampler", "{out}");
        assert_eq!(line["rate"].as_f64(), Some(rate), "{out}");
    }
    for t in lines[1]["traces"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        wait_for_trace(&collector, id, 2, "control service via the agent");
    }
    for t in lines[0]["traces"].as_array().unwrap() {
        assert_eq!(t["sampled"], false, "{out}");
        let id = t["id"].as_str().unwrap();
        let reply = collector.get(&collector.query(&format!("/api/traces/{id}")));
        assert_eq!(reply.status, 404, "{}", reply.text());
    }
}
