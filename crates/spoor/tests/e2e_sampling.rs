//! Remote sampling with a real client: the Python `jaeger-client` 4.8,
//! configured without a sampler type, polls `GET /sampling?service=` on the
//! sampling port and obeys the strategy Spoor serves
//! (tests/clients/python/jaeger_client_sampling.py).
//!
//! A probabilistic strategy of 0 stops a service's traces while 1 lets a
//! control service's through; a changed strategies file is picked up; with
//! no file, all-in-one samples everything.
//!
//! Needs the clients installed (scripts/test.sh does it; see tests/clients).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients;
mod common;

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use clients::{ARRIVAL_TIMEOUT, Venv, python, run, tag, unique_service, wait_for_trace};
use common::{Spoor, poll_until, ui_span, with_params};
use serde_json::{Value, json};

/// What the sender reports for one service.
#[derive(Debug)]
struct Outcome {
    service: String,
    sampler: String,
    rate: f64,
    traces: Vec<(String, bool)>,
}

/// Runs the sender for `services` (in order) and returns its report.
fn run_client(spoor: &Spoor, services: &[&str], traces: usize) -> Vec<Outcome> {
    let mut cmd = python(Venv::JaegerClient, "jaeger_client_sampling.py");
    cmd.args(services)
        .env("AGENT_HOST", spoor.jaeger_compact.ip().to_string())
        .env("AGENT_PORT", spoor.jaeger_compact.port().to_string())
        .env("SAMPLING_PORT", spoor.sampling_http.port().to_string())
        .env("TRACES", traces.to_string());
    let out = run(cmd, "jaeger_client_sampling.py", spoor);
    let outcomes: Vec<Outcome> = out
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("bad line from the sender {line:?}: {e}"));
            assert!(v["queries"].as_u64().unwrap() >= 1, "{v}");
            Outcome {
                service: v["service"].as_str().unwrap().to_string(),
                sampler: v["sampler"].as_str().unwrap().to_string(),
                rate: v["rate"].as_f64().unwrap(),
                traces: v["traces"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| {
                        (
                            t["id"].as_str().unwrap().to_string(),
                            t["sampled"].as_bool().unwrap(),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let names: Vec<&str> = outcomes.iter().map(|o| o.service.as_str()).collect();
    assert_eq!(names, services, "{out}");
    outcomes
}

/// Every trace of `outcome` arrives, sampled by the probabilistic strategy
/// of rate 1 the client fetched (its root span carries the sampler tags).
fn assert_all_arrive(spoor: &Spoor, outcome: &Outcome) {
    assert_eq!(
        (outcome.sampler.as_str(), outcome.rate),
        ("ProbabilisticSampler", 1.0),
        "{outcome:?}"
    );
    for (id, sampled) in &outcome.traces {
        assert!(sampled, "{outcome:?}");
        let trace = wait_for_trace(spoor, id, 2, &outcome.service);
        let root = ui_span(&trace, "GET /work");
        assert_eq!(
            tag(root, "sampler.type"),
            ("string", &json!("probabilistic"))
        );
        // The client keeps the rate as parsed from the JSON: `1` (as Go
        // writes it) gives an int64 tag, `1.0` a float64 one.
        let (kind, param) = tag(root, "sampler.param");
        assert!(kind == "int64" || kind == "float64", "{root:#}");
        assert_eq!(param.as_f64(), Some(1.0), "{root:#}");
    }
}

/// None of the traces of `outcome` arrived (call after a later control
/// trace arrived, so that these had every chance).
fn assert_none_arrived(spoor: &Spoor, outcome: &Outcome) {
    assert_eq!(
        (outcome.sampler.as_str(), outcome.rate),
        ("ProbabilisticSampler", 0.0),
        "{outcome:?}"
    );
    for (id, sampled) in &outcome.traces {
        assert!(!sampled, "{outcome:?}");
        let reply = spoor.get(&spoor.query(&format!("/api/traces/{id}")));
        assert_eq!(reply.status, 404, "{}: {}", outcome.service, reply.text());
    }
    let search = with_params(
        &spoor.query("/api/traces"),
        &[("service", outcome.service.clone())],
    );
    let body = spoor.get(&search).json();
    assert_eq!(body["data"], json!([]), "{body:#}");
}

/// Replaces the strategies file at once (write, then rename), so the
/// reloader never sees it half-written.
fn write_strategies(path: &Path, strategies: &Value) {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).unwrap();
    f.write_all(&serde_json::to_vec_pretty(strategies).unwrap())
        .unwrap();
    f.sync_all().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// `GET /sampling?service=` as served now.
fn served(spoor: &Spoor, service: &str) -> Value {
    let url = with_params(
        &format!("http://{}/sampling", spoor.sampling_http),
        &[("service", service.to_string())],
    );
    let reply = spoor.get(&url);
    assert_eq!(reply.status, 200, "GET {url}: {}", reply.text());
    reply.json()
}

/// The probabilistic rate of a served strategy; fails on any other kind.
fn rate(strategy: &Value) -> f64 {
    assert_eq!(strategy["strategyType"], "PROBABILISTIC", "{strategy:#}");
    assert!(strategy.get("operationSampling").is_none(), "{strategy:#}");
    strategy["probabilisticSampling"]["samplingRate"]
        .as_f64()
        .unwrap_or_else(|| panic!("no samplingRate: {strategy:#}"))
}

#[test]
fn probabilistic_zero_stops_a_service_and_one_lets_it_through() {
    let muted = unique_service("sampled-never");
    let control = unique_service("sampled-always");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    write_strategies(
        &file,
        &json!({
            "service_strategies": [
                {"service": muted, "type": "probabilistic", "param": 0},
                {"service": control, "type": "probabilistic", "param": 1}
            ],
            "default_strategy": {"type": "probabilistic", "param": 0.5}
        }),
    );
    let path = file.to_str().unwrap().to_string();
    let spoor = Spoor::start(&["--sampling-strategies", &path]);
    assert_eq!(rate(&served(&spoor, &muted)), 0.0);
    assert_eq!(rate(&served(&spoor, &control)), 1.0);

    // The muted service goes first: by the time the control service's traces
    // are in, the muted ones would be too.
    let outcomes = run_client(&spoor, &[&muted, &control], 5);
    assert_all_arrive(&spoor, &outcomes[1]);
    assert_none_arrived(&spoor, &outcomes[0]);
}

#[test]
fn a_changed_strategies_file_reaches_the_client() {
    let service = unique_service("sampled-later");
    let control = unique_service("sampled-control");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    let strategies = |rate: f64| {
        json!({
            "service_strategies": [
                {"service": service, "type": "probabilistic", "param": rate}
            ],
            "default_strategy": {"type": "probabilistic", "param": 1}
        })
    };
    write_strategies(&file, &strategies(0.0));
    let path = file.to_str().unwrap().to_string();
    let spoor = Spoor::start(&[
        "--sampling-strategies",
        &path,
        "--sampling-reload-interval",
        "200ms",
    ]);
    assert_eq!(rate(&served(&spoor, &service)), 0.0);
    // The control service gets the default strategy (1).
    let outcomes = run_client(&spoor, &[&service, &control], 3);
    assert_all_arrive(&spoor, &outcomes[1]);
    assert_none_arrived(&spoor, &outcomes[0]);

    write_strategies(&file, &strategies(1.0));
    poll_until(ARRIVAL_TIMEOUT, || {
        (rate(&served(&spoor, &service)) == 1.0).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the changed strategies file was not served within {ARRIVAL_TIMEOUT:?}: {}\n{}",
            served(&spoor, &service),
            spoor.log()
        )
    });
    let outcomes = run_client(&spoor, &[&service], 3);
    assert_all_arrive(&spoor, &outcomes[0]);
}

#[test]
fn all_in_one_samples_everything_by_default() {
    let spoor = Spoor::start(&[]);
    let service = unique_service("sampled-by-default");
    assert_eq!(rate(&served(&spoor, &service)), 1.0);
    let outcomes = run_client(&spoor, &[&service], 3);
    assert_all_arrive(&spoor, &outcomes[0]);
    // Give a slow receiver no excuse: the traces are all there, none extra.
    std::thread::sleep(Duration::from_millis(200));
    let search = with_params(&spoor.query("/api/traces"), &[("service", service.clone())]);
    let body = spoor.get(&search).json();
    assert_eq!(body["data"].as_array().unwrap().len(), 3, "{body:#}");
}
