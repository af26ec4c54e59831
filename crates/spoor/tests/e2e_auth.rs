//! Authentication through the real binary (docs/security.md,
//! "Authentication"): static tokens, API keys and htpasswd users on the
//! ingest and query groups, over OTLP/HTTP, OTLP gRPC, the query HTTP API and
//! the gRPC query API; the admin group's probes stay open while `/metrics`
//! needs a token; failures are counted; OIDC bearer tokens from a real
//! provider (mockoidc, RS256) when it is built.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::Spoor;
use common::oidc::{CLIENT_ID, MockOidc, OidcUser};
use spoor_proto::jaeger::api_v2::GetServicesRequest;
use spoor_proto::jaeger::api_v2::query_service_client::QueryServiceClient;

const INGEST_TOKEN: &str = "ingest-token-6f1c2a";
const QUERY_TOKEN: &str = "query-token-93be41";
const ADMIN_TOKEN: &str = "admin-token-0d77e5";
/// bcrypt (cost 6) of `pa55-word`, as `htpasswd -B` writes it.
const HTPASSWD: &str = "alice:$2y$06$gAaxOb41reTbed2Qs5EXQuC6JWO897tnOoZ0lifc3izjPT7.8iHfe\n";

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn otlp_json(service: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "name": "op",
            "startTimeUnixNano": (now - 1_000_000).to_string(),
            "endTimeUnixNano": now.to_string(),
        }]}]
    }]})
    .to_string()
}

fn start() -> (Spoor, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        format!("# name tenants\n{INGEST_TOKEN} ingest-svc\n{QUERY_TOKEN} reader *\n"),
    )
    .unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, HTPASSWD).unwrap();
    let admin_tokens = dir.path().join("admin-tokens");
    std::fs::write(&admin_tokens, format!("{ADMIN_TOKEN} prometheus\n")).unwrap();
    let config = dir.path().join("spoor.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 1\nsecurity:\n  auth:\n    admin:\n      tokens_file: {}\n",
            admin_tokens.display()
        ),
    )
    .unwrap();
    // Ingest and query through the flags, admin through the file.
    let spoor = Spoor::start(&[
        "--config",
        config.to_str().unwrap(),
        "--auth-tokens-file",
        tokens.to_str().unwrap(),
        "--auth-htpasswd-file",
        htpasswd.to_str().unwrap(),
    ]);
    (spoor, dir)
}

fn get_with(spoor: &Spoor, url: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let client = reqwest::blocking::Client::new();
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}\n{}", spoor.log()));
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, challenge, resp.text().unwrap())
}

#[test]
fn tokens_and_basic_guard_ingest_query_and_admin() {
    let (spoor, _dir) = start();
    let url = spoor.otlp_http_url("/v1/traces");
    let body = otlp_json("auth-e2e");

    // OTLP/HTTP: refused without credentials, with a JSON error and a challenge.
    let r = spoor.post(&url, "application/json", body.clone(), &[]);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"], "authentication required");
    // Accepted with a bearer token, an API key and a basic user.
    let bearer = format!("Bearer {INGEST_TOKEN}");
    for headers in [
        vec![("Authorization", bearer.as_str())],
        vec![("x-api-key", INGEST_TOKEN)],
        vec![("Authorization", &*basic("alice", "pa55-word"))],
    ] {
        let r = spoor.post(&url, "application/json", body.clone(), &headers);
        assert_eq!(r.status, 200, "{headers:?}: {}", r.text());
    }
    // A wrong token is refused, after the failure delay.
    let t = Instant::now();
    let r = spoor.post(
        &url,
        "application/json",
        body.clone(),
        &[("Authorization", "Bearer not-a-token")],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid token");
    assert!(
        t.elapsed() >= Duration::from_millis(90),
        "{:?}",
        t.elapsed()
    );
    let r = spoor.post(
        &url,
        "application/json",
        body.clone(),
        &[("Authorization", &*basic("alice", "wrong"))],
    );
    assert_eq!(r.status, 401);
    // The secret is never logged.
    assert!(!spoor.log().contains("not-a-token"));

    // OTLP gRPC: UNAUTHENTICATED without, OK with the token as metadata.
    let request = common::otlp_service_request("auth-grpc", vec![]);
    let err = common::grpc_export(&spoor.otlp_grpc_endpoint(), request.clone()).unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    let endpoint = spoor.otlp_grpc_endpoint();
    common::runtime().block_on(async {
        use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
        let mut client = TraceServiceClient::connect(endpoint).await.unwrap();
        let mut req = tonic::Request::new(request);
        req.metadata_mut()
            .insert("authorization", bearer.parse().unwrap());
        client.export(req).await.unwrap();
    });

    // Query HTTP API: 401 without, 200 with a token or a basic user.
    let services = spoor.query("/api/services");
    let (status, challenge, text) = get_with(&spoor, &services, &[]);
    assert_eq!(status, 401, "{text}");
    assert_eq!(challenge, "Bearer realm=\"spoor\"");
    let query_bearer = format!("Bearer {QUERY_TOKEN}");
    let (status, _, text) = get_with(&spoor, &services, &[("Authorization", &query_bearer)]);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("auth-e2e"), "{text}");
    let (status, _, _) = get_with(
        &spoor,
        &services,
        &[("Authorization", &basic("alice", "pa55-word"))],
    );
    assert_eq!(status, 200);

    // gRPC query API: the same.
    let endpoint = format!("http://{}", spoor.query_grpc);
    common::runtime().block_on(async {
        let mut client = QueryServiceClient::connect(endpoint).await.unwrap();
        let err = client
            .get_services(GetServicesRequest {})
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
        let mut req = tonic::Request::new(GetServicesRequest {});
        req.metadata_mut()
            .insert("authorization", query_bearer.parse().unwrap());
        let services = client.get_services(req).await.unwrap().into_inner();
        assert!(services.services.contains(&"auth-e2e".to_string()));
    });

    // Admin: probes stay open, /metrics needs the admin token (the ingest
    // token is not one of the admin group's).
    let (status, _, _) = get_with(&spoor, &spoor.admin("/status"), &[]);
    assert_eq!(status, 200);
    let (status, _, _) = get_with(&spoor, &spoor.admin("/ready"), &[]);
    assert_eq!(status, 200);
    let (status, _, _) = get_with(&spoor, &spoor.admin("/metrics"), &[]);
    assert_eq!(status, 401);
    let (status, _, _) = get_with(
        &spoor,
        &spoor.admin("/metrics"),
        &[("Authorization", &bearer)],
    );
    assert_eq!(status, 401);
    let admin_bearer = format!("Bearer {ADMIN_TOKEN}");
    let (status, _, metrics) = get_with(
        &spoor,
        &spoor.admin("/metrics"),
        &[("Authorization", &admin_bearer)],
    );
    assert_eq!(status, 200);
    let count = |labels: &[(&str, &str)], name: &str| common::metric_sum(&metrics, name, labels);
    assert_eq!(
        count(
            &[("group", "ingest"), ("reason", "missing_credentials")],
            "spoor_auth_failures_total"
        ),
        2.0,
        "{metrics}"
    );
    assert_eq!(
        count(
            &[("group", "ingest"), ("reason", "unknown_token")],
            "spoor_auth_failures_total"
        ),
        1.0
    );
    assert_eq!(
        count(
            &[("group", "ingest"), ("reason", "bad_password")],
            "spoor_auth_failures_total"
        ),
        1.0
    );
    assert_eq!(
        count(
            &[("group", "admin"), ("reason", "unknown_token")],
            "spoor_auth_failures_total"
        ),
        1.0
    );
    assert_eq!(
        count(
            &[("group", "ingest"), ("method", "token")],
            "spoor_auth_success_total"
        ),
        3.0
    );
    assert_eq!(
        count(
            &[("group", "query"), ("method", "basic")],
            "spoor_auth_success_total"
        ),
        1.0
    );
}

#[test]
fn a_bad_auth_file_stops_the_start_with_a_clear_message() {
    let run = common::run_spoor(&["--auth-tokens-file", "/nonexistent/tokens"]);
    assert!(!run.ok);
    assert!(run.stderr.contains("/nonexistent/tokens"), "{}", run.stderr);
}

#[test]
fn oidc_tokens_of_a_real_provider_are_verified() {
    let Some(oidc) = MockOidc::start("127.0.0.93", &OidcUser::new("alice")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 1\nsecurity:\n  auth:\n    query:\n      oidc:\n        issuer: {}\n        \
             audience: {CLIENT_ID}\n        tenant_claim: tenant\n",
            oidc.issuer
        ),
    )
    .unwrap();
    let spoor = Spoor::start(&["--config", config.to_str().unwrap()]);
    let services = spoor.query("/api/services");
    let good = oidc.mint_token(serde_json::json!({"tenant": "acme"}));
    let (status, _, text) = get_with(
        &spoor,
        &services,
        &[("Authorization", &format!("Bearer {good}"))],
    );
    assert_eq!(status, 200, "{text}\n{}", spoor.log());
    let expired =
        oidc.mint_token(serde_json::json!({"exp": 1_000_000_000, "nbf": null, "iat": 999_999_000}));
    let (status, _, text) = get_with(
        &spoor,
        &services,
        &[("Authorization", &format!("Bearer {expired}"))],
    );
    assert_eq!(status, 401);
    assert!(text.contains("expired"), "{text}");
    let other = oidc.mint_token(serde_json::json!({"aud": "someone-else"}));
    let (status, _, text) = get_with(
        &spoor,
        &services,
        &[("Authorization", &format!("Bearer {other}"))],
    );
    assert_eq!(status, 401);
    assert!(text.contains("audience"), "{text}");
    // Ingest stays open (no method configured for it).
    let r = spoor.post(
        &spoor.otlp_http_url("/v1/traces"),
        "application/json",
        otlp_json("open"),
        &[],
    );
    assert_eq!(r.status, 200);
}
