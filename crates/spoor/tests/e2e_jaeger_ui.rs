//! A Jaeger UI build served by the real binary (`--ui-assets`, `--ui-config`)
//! under a base path, as Jaeger's query service serves it: `index.html` for
//! the app's pages with Jaeger's injections (UI config, storage and backend
//! capabilities, version, base), files of the build by path, the UI config
//! read again when it changes, and a JSON 404 for the paths Jaeger UI probes
//! for features Spoor lacks. The build is `tests/fixtures/jaeger-ui`, an
//! `index.html` with Jaeger's placeholders (no Jaeger UI build is published
//! on the registries this project installs from).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::Spoor;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jaeger-ui")
}

#[test]
fn a_jaeger_ui_build_is_served_with_jaegers_injections() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ui-config.json");
    std::fs::write(
        &config,
        r#"{"monitor":{"menuEnabled":true},"dependencies":{"menuEnabled":true}}"#,
    )
    .unwrap();
    let assets = fixture();
    let spoor = Spoor::start(&[
        "--ui-assets",
        assets.to_str().unwrap(),
        "--ui-config",
        config.to_str().unwrap(),
        "--base-path",
        "/jaeger",
    ]);

    for page in [
        "/jaeger/",
        "/jaeger/search",
        "/jaeger/monitor",
        "/jaeger/trace/abc",
    ] {
        let reply = spoor.get(&spoor.query(page));
        assert_eq!(reply.status, 200, "{page}");
        let html = reply.text();
        assert!(
            html.contains(r#"const JAEGER_CONFIG = {"dependencies":{"menuEnabled":true},"monitor":{"menuEnabled":true}};"#),
            "{page}: {html}"
        );
        // The engine backs RED metrics: the Monitor tab is offered.
        assert!(html.contains(r#""metricsStorage":true"#), "{html}");
        assert!(
            html.contains(r#""searchWithoutServiceName":true"#),
            "{html}"
        );
        assert!(
            html.contains("const JAEGER_VERSION = {\"buildDate\":\"\""),
            "{html}"
        );
        assert!(
            html.contains(r#"<base href="/jaeger/" data-inject-target="BASE_URL" />"#),
            "{html}"
        );
    }
    let js = spoor.get(&spoor.query("/jaeger/static/index-fixture.js"));
    assert_eq!(js.status, 200);
    assert!(js.text().contains("fixture"));
    for probe in [
        "/jaeger/analytics/events",
        "/jaeger/qualitymetrics-v2",
        "/jaeger/serviceedges",
        "/jaeger/api/quality-metrics",
        "/jaeger/static/missing.js",
        "/jaeger/static/../../etc/passwd",
    ] {
        let reply = spoor.get(&spoor.query(probe));
        assert_eq!(reply.status, 404, "{probe}");
        assert_eq!(reply.json()["errors"][0]["code"], 404, "{probe}");
    }
    // The API is still the API.
    let (status, body) = spoor.get_json("/jaeger/api/services");
    assert_eq!(status, 200);
    assert!(body["data"].is_array());

    // The UI config is read again when it changes.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&config, r#"{"monitor":{"menuEnabled":false}}"#).unwrap();
    let html = spoor.get(&spoor.query("/jaeger/search")).text();
    assert!(
        html.contains(r#"const JAEGER_CONFIG = {"monitor":{"menuEnabled":false}};"#),
        "{html}"
    );
}

#[test]
fn a_ui_config_without_a_build_or_a_bad_one_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ui-config.json");
    std::fs::write(&config, "[1, 2]").unwrap();
    let run = common::run_spoor(&[
        "--ui-config",
        config.to_str().unwrap(),
        "--storage",
        "memory",
    ]);
    assert!(!run.ok);
    assert!(run.stderr.contains("--ui-assets"), "{}", run.stderr);
    let assets = fixture();
    let run = common::run_spoor(&[
        "--ui-assets",
        assets.to_str().unwrap(),
        "--ui-config",
        config.to_str().unwrap(),
        "--storage",
        "memory",
        "--host",
        "127.0.0.1",
        "--query-http-addr",
        "off",
    ]);
    assert!(!run.ok);
    assert!(run.stderr.contains("not a JSON object"), "{}", run.stderr);
}
