//! Remote sampling end to end inside the process: Jaeger's strategy fixtures
//! (`conformance/jaeger/sampling/`, from Jaeger's file provider tests)
//! through the codec and the provider, reloads from files and URLs, and the
//! HTTP and gRPC endpoints.
//!
//! The fixtures are read from `$SPOOR_CONFORMANCE_DIR/sampling`, or from the
//! shared `conformance/jaeger` folder next to the repository.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use spoor_codec::sampling_json::{decode_response, encode_response, parse_strategies};
use spoor_model::sampling::{SamplingStrategyResponse, StrategyType};
use spoor_proto::jaeger::api_v2 as pb;
use spoor_server::sampling::{
    FileSource, SERVICE_PARAM_ERROR, UrlSource, build_provider, http_router, serve_grpc,
};
use spoor_service::sampling::{
    Fetched, MergeRules, ReloadOutcome, SamplingError, SamplingOptions, SamplingProvider,
    Strategies, StrategyProvider, StrategySource,
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const JAEGER_DEFAULT: f64 = 0.001;

fn fixture_dir() -> PathBuf {
    spoor_storage::conformance::conformance_dir()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("sampling")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (set SPOOR_CONFORMANCE_DIR to the conformance/jaeger folder)",
            path.display()
        )
    })
}

fn options(default_probability: f64, merge_rules: MergeRules) -> SamplingOptions {
    SamplingOptions {
        default_probability,
        reload_interval: Duration::ZERO,
        merge_rules,
    }
}

/// The strategies of a fixture file, as Jaeger's provider would hold them.
fn strategies(
    name: &str,
    default_probability: f64,
    rules: MergeRules,
) -> (Strategies, Vec<String>) {
    let parsed = parse_strategies(&fixture(name), default_probability).unwrap();
    let doc = parsed.document.unwrap();
    (
        Strategies::from_document(doc, default_probability, rules),
        parsed.warnings,
    )
}

fn json(s: &SamplingStrategyResponse) -> String {
    String::from_utf8(encode_response(s)).unwrap()
}

fn ops(s: &SamplingStrategyResponse) -> Vec<(&str, f64)> {
    s.operation_sampling
        .as_ref()
        .unwrap()
        .per_operation
        .iter()
        .map(|o| (o.operation.as_str(), o.probabilistic.unwrap().sampling_rate))
        .collect()
}

fn op_default(s: &SamplingStrategyResponse) -> f64 {
    s.operation_sampling
        .as_ref()
        .unwrap()
        .default_sampling_probability
}

// ---------------------------------------------------------------------------
// Jaeger's fixtures
// ---------------------------------------------------------------------------

#[test]
fn fixture_strategies_json() {
    // TestStrategyStoreWithFile: foo 0.8, bar rate limiting 5, others 0.5.
    let (s, warnings) = strategies("strategies.json", JAEGER_DEFAULT, MergeRules::Jaeger);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        json(s.get("foo")),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.8}}"#
    );
    assert_eq!(
        json(s.get("bar")),
        r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}"#
    );
    assert_eq!(
        json(s.get("default")),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#
    );
}

#[test]
fn fixture_no_file_means_the_default_probability() {
    let s = Strategies::defaults(JAEGER_DEFAULT);
    assert_eq!(
        json(s.get("foo")),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}"#
    );
}

#[test]
fn fixture_service_no_per_operation_matches_the_snapshots() {
    // TestServiceNoPerOperationStrategies runs with DefaultSamplingProbability
    // unset (0) and compares against the two snapshots.
    let (s, _) = strategies("service_no_per_operation.json", 0.0, MergeRules::Jaeger);
    for service in ["ServiceA", "ServiceB"] {
        let file = format!("TestServiceNoPerOperationStrategies_{service}.json");
        let expected = decode_response(&fixture(&file)).unwrap();
        assert_eq!(s.get(service), &expected, "{file}");
    }
    // The same file under the rules before jaeger#5270 was fixed
    // (TestServiceNoPerOperationStrategiesDeprecatedBehavior).
    let (s, _) = strategies("service_no_per_operation.json", 0.0, MergeRules::Pre5270);
    for service in ["ServiceA", "ServiceB"] {
        let file = format!("TestServiceNoPerOperationStrategiesDeprecatedBehavior_{service}.json");
        let expected = decode_response(&fixture(&file)).unwrap();
        assert_eq!(s.get(service), &expected, "{file}");
    }
    // Byte-exact proto-JSON of ServiceB under today's rules.
    let (s, _) = strategies("service_no_per_operation.json", 0.0, MergeRules::Jaeger);
    assert_eq!(
        json(s.get("ServiceB")),
        concat!(
            r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":3},"#,
            r#""operationSampling":{"defaultSamplingProbability":0.2,"defaultLowerBoundTracesPerSecond":0,"#,
            r#""perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0.1}}],"#,
            r#""defaultUpperBoundTracesPerSecond":0}}"#
        )
    );
}

#[test]
fn fixture_snapshots_compare_equal_as_json_too() {
    // JSONEq against the snapshot, after writing our answer in the snapshot's
    // own form (Go's struct JSON: strategyType as a number, zero values left
    // out), so that every member is checked.
    let (s, _) = strategies("service_no_per_operation.json", 0.0, MergeRules::Jaeger);
    for service in ["ServiceA", "ServiceB"] {
        let file = format!("TestServiceNoPerOperationStrategies_{service}.json");
        let expected: serde_json::Value = serde_json::from_slice(&fixture(&file)).unwrap();
        let ours: serde_json::Value =
            serde_json::from_slice(&encode_response(s.get(service))).unwrap();
        assert_eq!(go_struct_form(ours), expected, "{file}");
    }
}

/// Proto-JSON → the form of Go's `json.Marshal` on the gogo struct
/// (`omitempty` everywhere, enum as its number).
fn go_struct_form(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let v = if k == "strategyType" {
                    match v.as_str() {
                        Some("RATE_LIMITING") => Value::from(1),
                        _ => Value::from(0),
                    }
                } else {
                    go_struct_form(v)
                };
                let empty = match &v {
                    Value::Null => true,
                    Value::Number(n) => n.as_f64() == Some(0.0),
                    Value::Array(a) => a.is_empty(),
                    Value::String(s) => s.is_empty(),
                    _ => false,
                };
                if !empty {
                    out.insert(k, v);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(go_struct_form).collect()),
        other => other,
    }
}

#[test]
fn fixture_operation_strategies() {
    // TestPerOperationSamplingStrategies.
    let (s, warnings) = strategies(
        "operation_strategies.json",
        JAEGER_DEFAULT,
        MergeRules::Jaeger,
    );
    let foo = s.get("foo");
    assert_eq!(foo.strategy_type, StrategyType::Probabilistic);
    assert_eq!(foo.probabilistic.unwrap().sampling_rate, 0.8);
    assert_eq!(op_default(foo), 0.8);
    assert_eq!(
        ops(foo),
        [("op6", 0.5), ("op1", 0.2), ("op0", 0.2), ("op7", 1.0)]
    );

    let bar = s.get("bar");
    assert_eq!(bar.strategy_type, StrategyType::RateLimiting);
    assert_eq!(bar.rate_limiting.unwrap().max_traces_per_second, 5);
    assert_eq!(op_default(bar), JAEGER_DEFAULT);
    assert_eq!(
        ops(bar),
        [
            ("op3", 0.3),
            ("op5", 0.4),
            ("op0", 0.2),
            ("op6", 0.0),
            ("op7", 1.0)
        ]
    );

    assert_eq!(
        json(s.get("default")),
        concat!(
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},"#,
            r#""operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,"#,
            r#""perOperationStrategies":[{"operation":"op0","probabilisticSampling":{"samplingRate":0.2}},"#,
            r#"{"operation":"op6","probabilisticSampling":{"samplingRate":0}},"#,
            r#"{"operation":"op7","probabilisticSampling":{"samplingRate":1}}],"#,
            r#""defaultUpperBoundTracesPerSecond":0}}"#
        )
    );
    // Jaeger warns about op2 (defaulting to 0.8), op4 (0.001) and spam (0.5).
    let warned = |op: &str, p: &str| {
        warnings
            .iter()
            .any(|w| w.contains(&format!("\"{op}\"")) && w.contains(p))
    };
    assert!(warned("op2", "0.8"), "{warnings:?}");
    assert!(warned("op4", "0.001"), "{warnings:?}");
    assert!(warned("spam", "0.5"), "{warnings:?}");
    assert_eq!(warnings.len(), 3, "{warnings:?}");
}

#[test]
fn fixture_missing_service_types() {
    // TestMissingServiceSamplingStrategyTypes.
    let (s, warnings) = strategies(
        "missing-service-types.json",
        JAEGER_DEFAULT,
        MergeRules::Jaeger,
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("unknown sampling strategy type")),
        "{warnings:?}"
    );
    let foo = s.get("foo");
    assert_eq!(foo.strategy_type, StrategyType::Probabilistic);
    assert_eq!(foo.probabilistic.unwrap().sampling_rate, JAEGER_DEFAULT);
    assert_eq!(op_default(foo), JAEGER_DEFAULT);
    assert_eq!(ops(foo), [("op1", 0.2)]);
    let bar = s.get("bar");
    assert_eq!(bar.probabilistic.unwrap().sampling_rate, JAEGER_DEFAULT);
    assert_eq!(op_default(bar), JAEGER_DEFAULT);
    assert_eq!(ops(bar), [("op3", 0.3), ("op5", 0.4)]);
    assert_eq!(
        s.get("default"),
        &SamplingStrategyResponse::probabilistic(0.5)
    );
}

#[test]
fn fixture_example_strategies() {
    // cmd/jaeger/sampling_strategies_example.json.
    let (s, warnings) = strategies(
        "example_strategies.json",
        JAEGER_DEFAULT,
        MergeRules::Jaeger,
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    let foo = s.get("foo");
    assert_eq!(op_default(foo), 0.8);
    assert_eq!(
        ops(foo),
        [
            ("op1", 0.2),
            ("op2", 0.4),
            ("/health", 0.0),
            ("/metrics", 0.0)
        ]
    );
    let bar = s.get("bar");
    assert_eq!(bar.rate_limiting.unwrap().max_traces_per_second, 5);
    assert_eq!(op_default(bar), 0.5);
    assert_eq!(ops(bar), [("/health", 0.0), ("/metrics", 0.0)]);
    let other = s.get("other");
    assert_eq!(other.probabilistic.unwrap().sampling_rate, 0.5);
    assert_eq!(ops(other), [("/health", 0.0), ("/metrics", 0.0)]);
}

#[test]
fn fixture_bad_strategies_is_rejected() {
    let err = parse_strategies(&fixture("bad_strategies.json"), JAEGER_DEFAULT).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected a JSON object, found a string"),
        "{err}"
    );
}

#[tokio::test]
async fn fixture_bad_strategies_fails_the_provider_start() {
    let path = fixture_dir().join("bad_strategies.json");
    let err = build_provider(path.to_str(), options(JAEGER_DEFAULT, MergeRules::Jaeger))
        .await
        .unwrap_err();
    assert!(matches!(err, SamplingError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("bad_strategies.json"), "{err}");

    let err = build_provider(
        Some("/nonexistent/strategies.json"),
        options(0.5, MergeRules::Jaeger),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("failed to read strategies file"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Reloads
// ---------------------------------------------------------------------------

struct TempFile(PathBuf);

impl TempFile {
    fn new(contents: &[u8]) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "spoor-sampling-{}-{}.json",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn rate(p: &SamplingProvider, service: &str) -> f64 {
    p.strategy(service)
        .probabilistic
        .map_or(-1.0, |p| p.sampling_rate)
}

async fn eventually(mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_changed_file_is_reloaded() {
    let original = fixture("strategies.json");
    let file = TempFile::new(&original);
    let opts = SamplingOptions {
        default_probability: JAEGER_DEFAULT,
        reload_interval: Duration::from_millis(10),
        merge_rules: MergeRules::Jaeger,
    };
    let provider = build_provider(file.path().to_str(), opts).await.unwrap();
    assert_eq!(rate(&provider, "foo"), 0.8);
    let stop = CancellationToken::new();
    let task = tokio::spawn(
        provider
            .clone()
            .run_reloader(stop.clone().cancelled_owned()),
    );

    let changed = String::from_utf8(original.clone())
        .unwrap()
        .replacen("0.8", "0.9", 1);
    std::fs::write(file.path(), changed).unwrap();
    eventually(|| rate(&provider, "foo") == 0.9).await;

    // A broken edit keeps the last good strategies.
    std::fs::write(file.path(), b"{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(rate(&provider, "foo"), 0.9);
    assert_eq!(
        provider.strategy("bar"),
        SamplingStrategyResponse::rate_limiting(5)
    );

    // So does a vanished file.
    std::fs::remove_file(file.path()).unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(rate(&provider, "foo"), 0.9);

    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn file_source_reports_missing_files() {
    let src = FileSource::new("/nonexistent/strategies.json");
    let err = src.fetch().await.unwrap_err();
    assert!(
        err.contains("failed to read strategies file /nonexistent/strategies.json"),
        "{err}"
    );
}

/// A local HTTP server serving strategies, or 503 while `unavailable`.
struct StrategyServer {
    url: String,
    body: Arc<Mutex<String>>,
    unavailable: Arc<std::sync::atomic::AtomicBool>,
    stop: CancellationToken,
}

impl StrategyServer {
    async fn start(body: &str) -> Self {
        use axum::routing::get;
        let body = Arc::new(Mutex::new(body.to_string()));
        let unavailable = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (b, u) = (body.clone(), unavailable.clone());
        let app = axum::Router::new()
            .route(
                "/bad-status",
                get(|| async { (StatusCode::NOT_FOUND, "nope") }),
            )
            .route("/bad-content", get(|| async { "bad-content" }))
            .fallback(get(move || {
                let (b, u) = (b.clone(), u.clone());
                async move {
                    if u.load(Ordering::Relaxed) {
                        (StatusCode::SERVICE_UNAVAILABLE, String::new())
                    } else {
                        (StatusCode::OK, b.lock().unwrap().clone())
                    }
                }
            }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(s.cancelled_owned())
                .await
                .unwrap();
        });
        StrategyServer {
            url,
            body,
            unavailable,
            stop,
        }
    }
}

impl Drop for StrategyServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn strategies_json(p: f64) -> String {
    format!(
        r#"{{"default_strategy":{{"type":"probabilistic","param":0.5}},
            "service_strategies":[{{"service":"foo","type":"probabilistic","param":{p}}},
                                  {{"service":"bar","type":"ratelimiting","param":5}}]}}"#
    )
}

#[tokio::test]
async fn strategies_come_from_a_url_and_are_reloaded() {
    let server = StrategyServer::start(&strategies_json(0.8)).await;
    let opts = options(JAEGER_DEFAULT, MergeRules::Jaeger);
    let provider = build_provider(Some(&server.url), opts).await.unwrap();
    assert_eq!(rate(&provider, "foo"), 0.8);
    assert_eq!(
        provider.strategy("bar"),
        SamplingStrategyResponse::rate_limiting(5)
    );
    assert_eq!(provider.reload().await, ReloadOutcome::Unchanged);

    *server.body.lock().unwrap() = strategies_json(0.9);
    assert_eq!(provider.reload().await, ReloadOutcome::Updated);
    assert_eq!(rate(&provider, "foo"), 0.9);

    // 503 keeps what we have.
    server.unavailable.store(true, Ordering::Relaxed);
    assert_eq!(provider.reload().await, ReloadOutcome::Unavailable);
    assert_eq!(rate(&provider, "foo"), 0.9);
    assert_eq!(rate(&provider, "unknown"), 0.5);
}

#[tokio::test]
async fn an_unavailable_url_at_start_means_defaults_until_it_answers() {
    let server = StrategyServer::start(&strategies_json(0.8)).await;
    server.unavailable.store(true, Ordering::Relaxed);
    let opts = SamplingOptions {
        default_probability: JAEGER_DEFAULT,
        reload_interval: Duration::from_millis(10),
        merge_rules: MergeRules::Jaeger,
    };
    let provider = build_provider(Some(&server.url), opts).await.unwrap();
    assert_eq!(rate(&provider, "foo"), JAEGER_DEFAULT);
    let stop = CancellationToken::new();
    let task = tokio::spawn(
        provider
            .clone()
            .run_reloader(stop.clone().cancelled_owned()),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(rate(&provider, "foo"), JAEGER_DEFAULT);
    server.unavailable.store(false, Ordering::Relaxed);
    eventually(|| rate(&provider, "foo") == 0.8).await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn url_errors_are_reported() {
    let server = StrategyServer::start("{}").await;
    let err = UrlSource::new(&format!("{}/bad-status", server.url))
        .unwrap()
        .fetch()
        .await
        .unwrap_err();
    assert!(
        err.contains("receiving 404 Not Found while downloading strategies file: nope"),
        "{err}"
    );
    let content = UrlSource::new(&format!("{}/bad-content", server.url))
        .unwrap()
        .fetch()
        .await
        .unwrap();
    assert_eq!(content, Fetched::Content(b"bad-content".to_vec()));
    let err = build_provider(
        Some(&format!("{}/bad-content", server.url)),
        options(0.5, MergeRules::Jaeger),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SamplingError::Parse { .. }), "{err}");

    // Nothing listens: a connection error, within the timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let err = UrlSource::new(&dead).unwrap().fetch().await.unwrap_err();
    assert!(
        err.contains("failed to download sampling strategies"),
        "{err}"
    );

    // A server that never answers: the timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let err = UrlSource::new(&url)
        .unwrap()
        .with_timeout(Duration::from_millis(200))
        .fetch()
        .await
        .unwrap_err();
    assert!(err.contains("no answer within"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);

    let err = build_provider(
        Some("https://example.invalid/s.json"),
        options(0.5, MergeRules::Jaeger),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("only http://"), "{err}");
}

// ---------------------------------------------------------------------------
// HTTP endpoints
// ---------------------------------------------------------------------------

async fn fixture_provider() -> Arc<SamplingProvider> {
    let path = fixture_dir().join("strategies.json");
    build_provider(path.to_str(), options(JAEGER_DEFAULT, MergeRules::Jaeger))
        .await
        .unwrap()
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

async fn get(router: &axum::Router, uri: &str) -> Reply {
    let resp = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

#[tokio::test]
async fn http_sampling_answers_proto_json() {
    let router = http_router(fixture_provider().await);
    for path in ["/sampling", "/api/sampling", "/any/path"] {
        let r = get(&router, &format!("{path}?service=foo")).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.content_type, "application/json");
        assert_eq!(
            r.body,
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.8}}"#
        );
    }
    let r = get(&router, "/sampling?service=bar").await;
    assert_eq!(
        r.body,
        r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}"#
    );
    // URL-encoded service names.
    let r = get(&router, "/sampling?service=some%20one").await;
    assert_eq!(
        r.body,
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#
    );
}

#[tokio::test]
async fn http_root_answers_the_legacy_form() {
    let router = http_router(fixture_provider().await);
    let r = get(&router, "/?service=foo").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(
        r.body,
        r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.8}}"#
    );
    let r = get(&router, "/?service=bar").await;
    assert_eq!(
        r.body,
        r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}"#
    );
}

#[tokio::test]
async fn http_baggage_restrictions_are_an_empty_list() {
    let router = http_router(fixture_provider().await);
    let r = get(&router, "/baggageRestrictions?service=foo").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.body, "[]");
    assert_eq!(
        get(&router, "/baggageRestrictions").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn http_service_must_be_given_exactly_once() {
    let router = http_router(fixture_provider().await);
    for uri in [
        "/sampling",
        "/sampling?service=a&service=b",
        "/?x=1",
        "/sampling?services=a",
    ] {
        let r = get(&router, uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(r.body, format!("{SERVICE_PARAM_ERROR}\n"), "{uri}");
        assert!(r.content_type.starts_with("text/plain"), "{uri}");
    }
    // An empty name is a name.
    assert_eq!(
        get(&router, "/sampling?service=").await.status,
        StatusCode::OK
    );
}

struct Failing;

#[tonic::async_trait]
impl StrategyProvider for Failing {
    async fn get_sampling_strategy(
        &self,
        _service: &str,
    ) -> Result<SamplingStrategyResponse, SamplingError> {
        Err(SamplingError::Upstream("collector unreachable".into()))
    }
}

struct Fixed(SamplingStrategyResponse);

#[tonic::async_trait]
impl StrategyProvider for Fixed {
    async fn get_sampling_strategy(
        &self,
        _service: &str,
    ) -> Result<SamplingStrategyResponse, SamplingError> {
        Ok(self.0.clone())
    }
}

#[tokio::test]
async fn http_provider_failures_are_500() {
    let router = http_router(Arc::new(Failing));
    let r = get(&router, "/sampling?service=x").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.body, "collector error: collector unreachable\n");
    // A rate the legacy form's i16 cannot carry.
    let router = http_router(Arc::new(Fixed(SamplingStrategyResponse::rate_limiting(
        70_000,
    ))));
    let r = get(&router, "/?service=x").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.body, "cannot marshall to JSON\n");
    assert_eq!(
        get(&router, "/sampling?service=x").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn http_defaults_sample_everything() {
    let provider = Arc::new(SamplingProvider::with_defaults(SamplingOptions::default()));
    let router = http_router(provider);
    let r = get(&router, "/sampling?service=anything").await;
    assert_eq!(
        r.body,
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1}}"#
    );
}

// ---------------------------------------------------------------------------
// gRPC
// ---------------------------------------------------------------------------

async fn grpc_client(
    provider: Arc<dyn StrategyProvider>,
) -> (
    pb::sampling_manager_client::SamplingManagerClient<tonic::transport::Channel>,
    CancellationToken,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(serve_grpc(listener, provider, stop.clone()));
    let client =
        pb::sampling_manager_client::SamplingManagerClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
    (client, stop)
}

#[tokio::test]
async fn grpc_get_sampling_strategy() {
    let path = fixture_dir().join("operation_strategies.json");
    let provider = build_provider(path.to_str(), options(JAEGER_DEFAULT, MergeRules::Jaeger))
        .await
        .unwrap();
    let expected = spoor_codec::sampling_json::to_proto(&provider.strategy("foo"));
    let (mut client, stop) = grpc_client(provider).await;
    let resp = client
        .get_sampling_strategy(pb::SamplingStrategyParameters {
            service_name: "foo".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp, expected);
    assert_eq!(
        resp.strategy_type,
        pb::SamplingStrategyType::Probabilistic as i32
    );
    assert_eq!(resp.probabilistic_sampling.unwrap().sampling_rate, 0.8);
    let names: Vec<String> = resp
        .operation_sampling
        .unwrap()
        .per_operation_strategies
        .into_iter()
        .map(|o| o.operation)
        .collect();
    assert_eq!(names, ["op6", "op1", "op0", "op7"]);
    let bar = client
        .get_sampling_strategy(pb::SamplingStrategyParameters {
            service_name: "bar".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        bar.strategy_type,
        pb::SamplingStrategyType::RateLimiting as i32
    );
    assert_eq!(bar.rate_limiting_sampling.unwrap().max_traces_per_second, 5);
    stop.cancel();
}

#[tokio::test]
async fn grpc_upstream_failures_are_unavailable() {
    let (mut client, stop) = grpc_client(Arc::new(Failing)).await;
    let status = client
        .get_sampling_strategy(pb::SamplingStrategyParameters {
            service_name: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(status.message().contains("collector unreachable"));
    stop.cancel();
}
