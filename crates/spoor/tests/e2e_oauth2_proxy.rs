//! The web UI's query listener behind a real authenticating reverse proxy:
//! oauth2-proxy v7.15.6 (`scripts/tools/oauth2-proxy.sh`) with a real OIDC
//! provider, mockoidc (`scripts/tools/mockoidc.sh`), both on 127.0.0.96, in
//! front of the real `spoor` binary whose query group trusts the proxy's
//! identity headers (`security.auth.query.trusted_proxies`).
//!
//! A scripted browser (cookie jar, redirects followed) asks the proxy for
//! `/api/services`, is sent to mockoidc's authorize endpoint (which logs the
//! user in without a form), back to the proxy's callback, and then to Spoor
//! with `X-Forwarded-User`/`X-Forwarded-Email`. The same request straight to
//! Spoor, with forged identity headers, from an address that is not a trusted
//! proxy, is refused.
//!
//! Addresses: Linux gives a connection to any 127.x address the source
//! address 127.0.0.1 (the `src` of the `local 127.0.0.0/8` route) unless the
//! client binds another; oauth2-proxy cannot bind its upstream connections,
//! so the proxy reaches Spoor from 127.0.0.1, the address trusted here, and
//! the forging client binds 127.0.0.96, which is not trusted.
//!
//! Skipped (with a printed reason) when mockoidc or oauth2-proxy is not built
//! (scripts/test.sh builds both and sets `SPOOR_TEST_MOCKOIDC` and
//! `SPOOR_TEST_OAUTH2_PROXY`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::time::Duration;

use common::oidc::{Browser, MockOidc, OAuth2Proxy, OidcUser};
use common::{Spoor, metric_sum, poll_until};

/// The test's own loopback address (mockoidc, oauth2-proxy, the browser).
const HOST: &str = "127.0.0.96";
/// Where oauth2-proxy's connections to Spoor come from (see the module doc).
const PROXY_SOURCE: &str = "127.0.0.1/32";

/// Spoor with the query group authenticated only by the trusted proxy's
/// identity headers, and a span of service `behind-proxy` stored.
fn spoor() -> (Spoor, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 1\nsecurity:\n  auth:\n    query:\n      trusted_proxies:\n        \
             addresses: [\"{PROXY_SOURCE}\"]\n"
        ),
    )
    .unwrap();
    let spoor = Spoor::start(&["--config", config.to_str().unwrap()]);
    let body = serde_json::json!([{
        "traceId": "5b8efff798038103d269b633813fc60c",
        "id": "eee19b7ec3c1b174",
        "name": "get /cart",
        "timestamp": now_micros(),
        "duration": 1000,
        "localEndpoint": {"serviceName": "behind-proxy"},
    }])
    .to_string();
    let reply = spoor.post(
        &format!("http://{}/api/v2/spans", spoor.zipkin),
        "application/json",
        body,
        &[],
    );
    assert_eq!(reply.status, 202, "store a span: {}", reply.text());
    (spoor, dir)
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn metrics(spoor: &Spoor) -> String {
    spoor.metrics()
}

#[test]
fn login_through_oauth2_proxy_reaches_the_query_api_and_forged_headers_are_refused() {
    let Some(oidc) = MockOidc::start(HOST, &OidcUser::new("alice")) else {
        return;
    };
    let (spoor, _dir) = spoor();
    let Some(proxy) = OAuth2Proxy::start(HOST, &oidc, &spoor.query("/"), &[]) else {
        return;
    };

    // Straight to Spoor, from the test's address: no identity, refused.
    let mut direct = Browser::new(HOST);
    let (status, body) = direct.get(&spoor.query("/api/services"));
    assert_eq!(status, 401, "no credentials straight to Spoor: {body}");

    // Through the proxy without a session: sent to the provider, never to
    // Spoor (no redirect followed here).
    let plain = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let first = plain.get(proxy.url("/api/services")).send().unwrap();
    assert!(
        first.status().is_redirection() || first.status().as_u16() == 403,
        "no session at the proxy: {}",
        first.status()
    );
    let before = metrics(&spoor);
    let proxied_before = metric_sum(
        &before,
        "spoor_auth_success_total",
        &[("group", "query"), ("method", "proxy")],
    );

    // The scripted login: proxy → mockoidc → proxy's callback → Spoor.
    let mut browser = Browser::new(HOST);
    let (status, body) = browser.get(&proxy.url("/api/services"));
    assert_eq!(
        status,
        200,
        "GET /api/services through oauth2-proxy after login: {body}\nvisited {:?}\n\
         ----- oauth2-proxy -----\n{}\n----- mockoidc -----\n{}",
        browser.visited,
        proxy.log(),
        oidc.log()
    );
    assert!(
        browser.visited.iter().any(|u| u.starts_with(&oidc.issuer)),
        "the login went through the provider: {:?}",
        browser.visited
    );
    assert!(
        browser
            .visited
            .iter()
            .any(|u| u.contains("/oauth2/callback")),
        "the login came back through the proxy's callback: {:?}",
        browser.visited
    );
    let services: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        services["data"]
            .as_array()
            .is_some_and(|d| d.iter().any(|s| s == "behind-proxy")),
        "Spoor's answer through the proxy: {services}"
    );
    // Spoor took the proxy's identity headers (method `proxy`).
    let after = metrics(&spoor);
    let proxied = metric_sum(
        &after,
        "spoor_auth_success_total",
        &[("group", "query"), ("method", "proxy")],
    );
    assert!(
        proxied > proxied_before,
        "a request authenticated by the proxy's headers:\n{after}"
    );

    // The session is kept: a second request goes straight through.
    let n = browser.visited.len();
    let (status, _) = browser.get(&proxy.url("/api/services"));
    assert_eq!(status, 200);
    assert_eq!(browser.visited.len(), n + 1, "no new login");

    // A client of the proxy cannot pick its identity: oauth2-proxy replaces
    // the identity headers it is sent (the request still works as alice).
    let session: Vec<String> = browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let resp = plain
        .get(proxy.url("/api/services"))
        .header("Cookie", session.join("; "))
        .header("X-Forwarded-User", "mallory")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // Forged identity headers straight to Spoor from 127.0.0.96, not a
    // trusted proxy: refused, and counted as such.
    let forger = reqwest::blocking::Client::builder()
        .local_address(HOST.parse::<std::net::IpAddr>().ok())
        .build()
        .unwrap();
    let forged = forger
        .get(spoor.query("/api/services"))
        .header("X-Forwarded-User", "alice")
        .header("X-Forwarded-Email", "alice@example.com")
        .send()
        .unwrap();
    assert_eq!(
        forged.status().as_u16(),
        401,
        "forged identity headers from an untrusted address"
    );
    assert!(
        forged.headers().contains_key("www-authenticate"),
        "a 401 says how to authenticate"
    );
    let counted = poll_until(Duration::from_secs(5), || {
        let text = metrics(&spoor);
        (metric_sum(
            &text,
            "spoor_auth_failures_total",
            &[("group", "query"), ("reason", "untrusted_proxy")],
        ) >= 1.0)
            .then_some(())
    });
    assert!(
        counted.is_some(),
        "the forged request is counted as untrusted_proxy:\n{}",
        metrics(&spoor)
    );
}
