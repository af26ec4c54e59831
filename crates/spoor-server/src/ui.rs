//! Serves the embedded web UI: static assets by path, `index.html` for the
//! paths that are pages of the app ([`is_app_page`]; the app routes on the
//! client), with the server's settings injected at serve time. Any other
//! path (a missing asset, `/analytics/…`, a typo) is a 404 with a JSON body
//! in Jaeger's envelope, so a probe or a script never mistakes the app's
//! HTML for an answer.
//!
//! The injection replaces the `<!--SPOOR_CONFIG-->` marker in `index.html`
//! with `<script>window.SPOOR_CONFIG = {...}</script>` (keys: `basePath`,
//! `version`, `uiBuilt`, `capabilities`, `menu`) and adds a
//! `<base href="{basePath}/">` right after `<head>`, so the relative asset
//! URLs of the build resolve from any deep link (`/jaeger/trace/…`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::AppState;

/// Marker in `index.html` replaced by the injected configuration.
const CONFIG_MARKER: &str = "<!--SPOOR_CONFIG-->";

/// Longest menu link label accepted, in bytes.
const MAX_LABEL_BYTES: usize = 100;
/// Longest menu link URL accepted, in bytes.
const MAX_URL_BYTES: usize = 2048;
/// Most menu links accepted.
pub const MAX_MENU_LINKS: usize = 20;

/// What the server's settings tell the web UI. The storage-backed
/// capabilities (search without a service, RED metrics) are read from the
/// storage backend at serve time instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UiConfig {
    /// Extra links shown in the UI's top menu.
    pub menu: Vec<MenuLink>,
    /// `/api/archive/{id}` keeps traces beyond retention.
    pub archive: bool,
    /// `/api/export` streams search results in several formats.
    pub export: bool,
}

/// Which optional features the server backs; the UI hides or explains the
/// rest. Injected as `capabilities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UiCapabilities {
    /// `/api/traces` accepts a search without `service`.
    pub search_without_service: bool,
    /// The storage backend answers `/api/metrics/*` (RED metrics) with data.
    pub metrics: bool,
    /// `/api/archive/{id}` keeps traces beyond retention.
    pub archive: bool,
    /// `/api/export` streams search results in several formats.
    pub export: bool,
}

impl UiCapabilities {
    /// The storage backend's capabilities and the server's settings.
    pub fn of(storage: spoor_storage::Capabilities, ui: &UiConfig) -> Self {
        UiCapabilities {
            search_without_service: storage.search_without_service,
            metrics: storage.metrics,
            archive: ui.archive,
            export: ui.export,
        }
    }
}

/// One extra link of the UI's menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MenuLink {
    pub label: String,
    pub url: String,
}

/// A menu link setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MenuLinkError {
    #[error("menu link {0:?} is not LABEL=URL")]
    Syntax(String),
    #[error("menu link label must be 1 to {MAX_LABEL_BYTES} bytes")]
    Label,
    #[error(
        "menu link URL {0:?} must start with http://, https:// or / and be at most {MAX_URL_BYTES} bytes"
    )]
    Url(String),
}

impl MenuLink {
    /// Parses `Label=https://…` (the label may not contain `=`; the URL may).
    /// Only `http(s)://` URLs and absolute paths are accepted, so a setting
    /// cannot smuggle a `javascript:` link into the page.
    pub fn parse(spec: &str) -> Result<MenuLink, MenuLinkError> {
        let (label, url) = spec
            .split_once('=')
            .ok_or_else(|| MenuLinkError::Syntax(spec.chars().take(80).collect()))?;
        MenuLink::new(label, url)
    }

    /// A checked link.
    pub fn new(label: &str, url: &str) -> Result<MenuLink, MenuLinkError> {
        let label = label.trim();
        let url = url.trim();
        if label.is_empty() || label.len() > MAX_LABEL_BYTES || label.chars().any(char::is_control)
        {
            return Err(MenuLinkError::Label);
        }
        let lower = url.to_ascii_lowercase();
        let scheme_ok = lower.starts_with("http://")
            || lower.starts_with("https://")
            || (url.starts_with('/') && !url.starts_with("//"));
        if !scheme_ok
            || url.len() > MAX_URL_BYTES
            || url.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(MenuLinkError::Url(url.chars().take(80).collect()));
        }
        Ok(MenuLink {
            label: label.to_string(),
            url: url.to_string(),
        })
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(serve).with_state(state)
}

/// Serves the app at `{base}/` (with the trailing slash), which a router
/// nested at `base` does not match.
pub fn base_slash_router(state: Arc<AppState>, base: &str) -> Router {
    Router::new()
        .route(&format!("{base}/"), axum::routing::get(base_slash))
        .with_state(state)
}

async fn base_slash(State(state): State<Arc<AppState>>, req: Request) -> Response {
    if let Some(resp) = login_redirect(&state, &req) {
        return resp;
    }
    if let Some(jaeger) = &state.jaeger_ui {
        return crate::jaeger_ui::serve(&state, jaeger, "").await;
    }
    index(&state, &UiSession::of(&state, &req))
}

async fn serve(State(state): State<Arc<AppState>>, req: Request) -> Response {
    // The UI is read-only: a POST here is a client pointed at the wrong port,
    // and must not look like success.
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut resp = (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    if let Some(resp) = login_redirect(&state, &req) {
        return resp;
    }
    let path = req.uri().path().trim_start_matches('/');
    if let Some(jaeger) = &state.jaeger_ui {
        return crate::jaeger_ui::serve(&state, jaeger, path).await;
    }
    if !is_app_page(path) && spoor_ui::get(path).is_none() {
        // The whole path, base path included (nesting strips it), in the message.
        return not_found(&format!("{}{}", state.base_path, req.uri().path()));
    }
    if !path.is_empty()
        && let Some(asset) = spoor_ui::get(path)
        && path != "index.html"
    {
        let immutable = path.starts_with("assets/");
        let mut resp = (StatusCode::OK, asset.data.into_owned()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", asset.hash)) {
            h.insert(header::ETAG, etag);
        }
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            }),
        );
        return resp;
    }
    index(&state, &UiSession::of(&state, &req))
}

/// Who is looking at the UI and what they may pick, injected as
/// `SPOOR_CONFIG.session`: whether Spoor's own login is on, the user's name
/// (when logged in) and, with tenancy, the tenants the user may switch
/// between and the header that names the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UiSession {
    pub login: bool,
    pub user: Option<String>,
    pub tenants: Option<Vec<String>>,
    pub tenant_header: Option<String>,
}

impl UiSession {
    /// The session of `req`: its identity from the authentication layer,
    /// or from the login's session cookie.
    pub fn of(state: &AppState, req: &Request) -> Self {
        let from_layer = req
            .extensions()
            .get::<crate::auth::Identity>()
            .filter(|i| i.method != crate::auth::AuthMethod::Anonymous)
            .cloned();
        let identity = from_layer.or_else(|| {
            state
                .net
                .login
                .as_ref()
                .and_then(|l| l.sessions().identity(req.headers()))
        });
        let tenancy = state.net.config.security.tenancy.as_ref();
        let tenants = tenancy.map(|t| selectable_tenants(t, identity.as_ref()));
        UiSession {
            login: state.net.login.is_some(),
            user: identity.map(|i| i.subject),
            tenants,
            tenant_header: tenancy.map(|t| t.header.clone()),
        }
    }
}

/// The tenants of the allow-list `identity` may switch between: those its
/// credential grants and, when `grants` lists its subject, those listed.
pub fn selectable_tenants(
    tenancy: &crate::tenancy::TenancySettings,
    identity: Option<&crate::auth::Identity>,
) -> Vec<String> {
    tenancy
        .tenants
        .iter()
        .filter(|name| {
            identity.is_none_or(|i| {
                i.tenants.allows(name)
                    && tenancy
                        .grants
                        .get(&i.subject)
                        .is_none_or(|g| g.iter().any(|x| x == *name))
            })
        })
        .cloned()
        .collect()
}

/// With Spoor's own login on, a browser asking for a page without a session
/// is sent to the login first.
fn login_redirect(state: &AppState, req: &Request) -> Option<Response> {
    let login = state.net.login.as_ref()?;
    // Authenticated otherwise (a token, a trusted proxy...): no login needed.
    let authenticated = req
        .extensions()
        .get::<crate::auth::Identity>()
        .is_some_and(|i| i.method != crate::auth::AuthMethod::Anonymous);
    if authenticated || login.sessions().identity(req.headers()).is_some() {
        return None;
    }
    // Nesting strips the base path; the redirect names the whole path.
    let uri: axum::http::Uri = format!(
        "{}{}",
        state.base_path,
        req.uri()
            .path_and_query()
            .map_or(req.uri().path(), |pq| pq.as_str())
    )
    .parse()
    .ok()?;
    let uri = if uri.path() == state.base_path {
        format!("{}/", state.base_path).parse().ok()?
    } else {
        uri
    };
    crate::auth::login::browser_redirect(req.method(), &uri, req.headers(), &state.base_path)
}

/// `html` with `SPOOR_CONFIG.session` set right after the configuration
/// script (nothing when the page has none).
pub fn inject_session(html: &str, session: &UiSession) -> String {
    let Some(start) = html.find("<script>window.SPOOR_CONFIG = ") else {
        return html.to_string();
    };
    let Some(end) = html[start..]
        .find("</script>")
        .map(|i| start + i + "</script>".len())
    else {
        return html.to_string();
    };
    let json = serde_json::to_string(session)
        .unwrap_or_else(|_| "{}".into())
        .replace('<', "\\u003c");
    let script = format!("<script>window.SPOOR_CONFIG.session = {json};</script>");
    let mut out = html.to_string();
    out.insert_str(end, &script);
    out
}

/// Whether `path` (relative to the base path, without its leading `/`) is a
/// page of the web app, as `ui/src/App.tsx` routes them: the root (which
/// goes on to `/search`), `index.html`, `search`, `trace/<id>` (or
/// `trace/<a>...<b>`, a comparison; a trailing `/` allowed), `compare`,
/// `dependencies` and `monitor`.
pub fn is_app_page(path: &str) -> bool {
    match path {
        "" | "index.html" | "search" | "compare" | "dependencies" | "monitor" => true,
        _ => path.strip_prefix("trace/").is_some_and(|rest| {
            let id = rest.strip_suffix('/').unwrap_or(rest);
            !id.is_empty() && !id.contains('/')
        }),
    }
}

/// Longest part of a request path repeated in a 404 message, in characters.
const MAX_ECHOED_PATH: usize = 200;

/// A 404 for a path that is neither a page of the app, nor an asset, nor an
/// API route: Jaeger's error envelope as JSON.
pub fn not_found(path: &str) -> Response {
    let mut shown: String = path.chars().take(MAX_ECHOED_PATH).collect();
    if shown.len() < path.len() {
        shown.push('…');
    }
    let envelope = spoor_codec::jaeger::Envelope::<()>::error(
        404,
        format!(
            "404 page not found: {shown} is not a page of the web UI, an asset or an API route"
        ),
    );
    crate::error::json_response(
        StatusCode::NOT_FOUND,
        spoor_codec::gojson::to_vec(&envelope, false),
    )
}

/// The query server's answer to a path outside the base path.
pub async fn outside_base_path(req: Request) -> Response {
    not_found(req.uri().path())
}

/// The app's page with its configuration and, when there is one to tell,
/// the viewer's `session`.
fn index(state: &AppState, session: &UiSession) -> Response {
    let html = String::from_utf8_lossy(&spoor_ui::index_html()).into_owned();
    let capabilities = UiCapabilities::of(state.query.capabilities(), &state.ui);
    let mut html = inject(
        &html,
        &state.base_path,
        capabilities,
        &state.ui.menu,
        spoor_ui::is_built(),
    );
    if *session != UiSession::default() {
        html = inject_session(&html, session);
    }
    let mut resp = (StatusCode::OK, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The configuration object the page receives as `window.SPOOR_CONFIG`.
pub fn config_json(
    base_path: &str,
    capabilities: UiCapabilities,
    menu: &[MenuLink],
    ui_built: bool,
) -> serde_json::Value {
    serde_json::json!({
        "basePath": base_path,
        "version": env!("CARGO_PKG_VERSION"),
        "uiBuilt": ui_built,
        "capabilities": capabilities,
        "menu": menu,
    })
}

/// `html` with the configuration script in place of the marker (when there
/// is one) and a `<base>` element first in `<head>`.
pub fn inject(
    html: &str,
    base_path: &str,
    capabilities: UiCapabilities,
    menu: &[MenuLink],
    ui_built: bool,
) -> String {
    // `<` escaped, so no value can close the script element.
    let json = config_json(base_path, capabilities, menu, ui_built)
        .to_string()
        .replace('<', "\\u003c");
    let script = format!("<script>window.SPOOR_CONFIG = {json};</script>");
    let mut html = if html.contains(CONFIG_MARKER) {
        html.replacen(CONFIG_MARKER, &script, 1)
    } else {
        html.to_string()
    };
    // The base path is normalized (`""` or `/name`), but it came from
    // outside: keep only what cannot break out of the attribute.
    let href: String = format!("{base_path}/")
        .chars()
        .filter(|c| !matches!(c, '"' | '<' | '>' | '&' | '\'') && !c.is_control())
        .collect();
    if let Some(at) = head_end(&html) {
        html.insert_str(at, &format!("<base href=\"{href}\">"));
    }
    html
}

/// The byte offset just after the opening `<head …>` tag.
fn head_end(html: &str) -> Option<usize> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<head")?;
    // `<header` is not `<head`.
    let after = lower.as_bytes().get(start + 5).copied()?;
    if after != b'>' && !after.is_ascii_whitespace() {
        return None;
    }
    let close = lower[start..].find('>')?;
    Some(start + close + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_support::{Recorder, state_with};
    use crate::{Limits, ServerConfig};
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const CAPS: UiCapabilities = UiCapabilities {
        search_without_service: true,
        metrics: true,
        archive: false,
        export: true,
    };

    fn ui_config() -> UiConfig {
        UiConfig {
            archive: false,
            export: true,
            menu: vec![
                MenuLink::parse("Runbook=https://example.com/run?a=1&b=2").unwrap(),
                MenuLink::parse("</script><b>x=/internal").unwrap(),
            ],
        }
    }

    /// The object assigned to `window.SPOOR_CONFIG` in `html`.
    fn injected(html: &str) -> serde_json::Value {
        let start = html.find("window.SPOOR_CONFIG = ").unwrap() + 22;
        let end = start + html[start..].find(";</script>").unwrap();
        serde_json::from_str(&html[start..end]).unwrap()
    }

    #[test]
    fn the_marker_becomes_the_config_script_and_a_base_is_added() {
        let page = "<!doctype html><html><head><meta charset=\"utf-8\"><!--SPOOR_CONFIG--><script type=\"module\" src=\"./assets/app.js\"></script></head><body><header></header></body></html>";
        let html = inject(page, "/jaeger", CAPS, &ui_config().menu, true);
        assert!(!html.contains(CONFIG_MARKER));
        assert!(
            html.starts_with("<!doctype html><html><head><base href=\"/jaeger/\"><meta"),
            "{html}"
        );
        let config = injected(&html);
        assert_eq!(config["basePath"], "/jaeger");
        assert_eq!(config["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(config["uiBuilt"], true);
        assert_eq!(
            config["capabilities"],
            serde_json::json!({"searchWithoutService": true, "metrics": true, "archive": false, "export": true})
        );
        assert_eq!(config["menu"][0]["label"], "Runbook");
        assert_eq!(config["menu"][0]["url"], "https://example.com/run?a=1&b=2");
        // A label cannot end the script element early.
        assert_eq!(config["menu"][1]["label"], "</script><b>x");
        assert_eq!(html.matches("</script>").count(), 2, "{html}");
    }

    #[test]
    fn the_session_is_added_to_the_injected_config() {
        let html = inject(
            "<html><head><!--SPOOR_CONFIG--></head></html>",
            "",
            CAPS,
            &[],
            true,
        );
        let session = UiSession {
            login: true,
            user: Some("<ana>@example.com".into()),
            tenants: Some(vec!["a".into(), "b".into()]),
            tenant_header: Some("x-tenant".into()),
        };
        let out = inject_session(&html, &session);
        assert!(out.contains(
            "<script>window.SPOOR_CONFIG.session = {\"login\":true,\"user\":\"\\u003cana>@example.com\",\"tenants\":[\"a\",\"b\"],\"tenantHeader\":\"x-tenant\"};</script></head>"
        ), "{out}");
        let config_at = out.find("window.SPOOR_CONFIG = ").unwrap();
        assert!(config_at < out.find("window.SPOOR_CONFIG.session").unwrap());
        // No configuration script, no session script.
        assert_eq!(inject_session("<head></head>", &session), "<head></head>");
    }

    #[test]
    fn the_tenant_switcher_offers_the_tenants_the_user_may_use() {
        use crate::auth::{AuthMethod, Identity, TenantGrant};
        let mut tenancy = crate::tenancy::TenancySettings {
            tenants: vec!["a".into(), "b".into(), "c".into()],
            ..Default::default()
        };
        let who = |tenants| Identity {
            subject: "ana".into(),
            method: AuthMethod::Session,
            tenants,
        };
        assert_eq!(selectable_tenants(&tenancy, None), ["a", "b", "c"]);
        assert_eq!(
            selectable_tenants(
                &tenancy,
                Some(&who(TenantGrant::Only(vec!["b".into(), "z".into()])))
            ),
            ["b"]
        );
        tenancy
            .grants
            .insert("ana".into(), vec!["a".into(), "c".into()]);
        assert_eq!(
            selectable_tenants(&tenancy, Some(&who(TenantGrant::Any))),
            ["a", "c"]
        );
        assert!(
            selectable_tenants(&tenancy, Some(&who(TenantGrant::Only(vec!["b".into()]))))
                .is_empty()
        );
    }

    #[test]
    fn without_a_marker_only_the_base_is_added() {
        let html = inject(
            "<html><HEAD lang=\"en\"><title>t</title></HEAD></html>",
            "",
            CAPS,
            &[],
            false,
        );
        assert_eq!(
            html,
            "<html><HEAD lang=\"en\"><base href=\"/\"><title>t</title></HEAD></html>"
        );
        // No `<head>` at all (only a `<header>`): left as it is.
        assert_eq!(
            inject("<header>x</header>", "", CAPS, &[], false),
            "<header>x</header>"
        );
    }

    #[test]
    fn capabilities_come_from_storage_and_settings() {
        let storage = spoor_storage::Capabilities {
            search_without_service: true,
            ..spoor_storage::Capabilities::default()
        };
        let config = config_json(
            "",
            UiCapabilities::of(storage, &UiConfig::default()),
            &[],
            false,
        );
        assert_eq!(config["basePath"], "");
        assert_eq!(config["menu"], serde_json::json!([]));
        assert_eq!(
            config["capabilities"],
            serde_json::json!({"searchWithoutService": true, "metrics": false, "archive": false, "export": false})
        );
        let storage = spoor_storage::Capabilities {
            metrics: true,
            ..spoor_storage::Capabilities::default()
        };
        let caps = UiCapabilities::of(
            storage,
            &UiConfig {
                export: true,
                ..UiConfig::default()
            },
        );
        assert_eq!(
            serde_json::to_value(caps).unwrap(),
            serde_json::json!({"searchWithoutService": false, "metrics": true, "archive": false, "export": true})
        );
    }

    #[test]
    fn app_pages_are_the_routes_of_the_app() {
        for page in [
            "",
            "index.html",
            "search",
            "compare",
            "dependencies",
            "monitor",
            "trace/0af7651916cd43dd8448eb211c80319c",
            "trace/0af7651916cd43dd8448eb211c80319c/",
            "trace/a...b",
        ] {
            assert!(is_app_page(page), "{page}");
        }
        for other in [
            "analytics/v1/deep-dependency-graph",
            "api/unknown",
            "foo.js",
            "assets/x.js",
            "search/",
            "searchx",
            "trace/",
            "trace//",
            "trace/a/b",
            "favicon.ico",
        ] {
            assert!(!is_app_page(other), "{other}");
        }
        let long = format!("/{}", "x".repeat(10_000));
        let resp = not_found(&long);
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn menu_links_are_checked() {
        assert_eq!(
            MenuLink::parse(" Docs = https://x.test/a=b ").unwrap(),
            MenuLink {
                label: "Docs".into(),
                url: "https://x.test/a=b".into()
            }
        );
        assert!(MenuLink::parse("Grafana=/grafana/").is_ok());
        assert!(matches!(
            MenuLink::parse("no equals sign"),
            Err(MenuLinkError::Syntax(_))
        ));
        assert_eq!(
            MenuLink::parse("=https://x.test"),
            Err(MenuLinkError::Label)
        );
        assert_eq!(
            MenuLink::parse(&format!("{}=https://x.test", "l".repeat(101))),
            Err(MenuLinkError::Label)
        );
        for bad in [
            "x=javascript:alert(1)",
            "x=JavaScript:alert(1)",
            "x=data:text/html,hi",
            "x=//evil.test/",
            "x=ftp://x.test",
            "x=https://x.test/a b",
            "x=",
        ] {
            assert!(
                matches!(MenuLink::parse(bad), Err(MenuLinkError::Url(_))),
                "{bad}"
            );
        }
        let long = format!("x=https://x.test/{}", "a".repeat(MAX_URL_BYTES));
        assert!(matches!(MenuLink::parse(&long), Err(MenuLinkError::Url(_))));
    }

    async fn get(
        router: &Router,
        method: Method,
        path: &str,
    ) -> (StatusCode, Vec<(String, String)>, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The whole query router under `/jaeger`, as the binary builds it.
    fn router_under_base_path() -> (Router, UiCapabilities) {
        let base = state_with(Recorder::open(), Limits::default(), 1 << 20);
        let config = ServerConfig {
            base_path: "jaeger/".into(),
            ui: ui_config(),
            ..ServerConfig::default()
        };
        let state = AppState::new(
            base.query.clone(),
            base.ingester.clone(),
            base.metrics.clone(),
            &config,
        );
        let caps = UiCapabilities::of(state.query.capabilities(), &state.ui);
        (crate::query_router(Arc::new(state)), caps)
    }

    #[tokio::test]
    async fn index_and_assets_are_served_under_the_base_path() {
        let (router, caps) = router_under_base_path();
        for path in [
            "/jaeger",
            "/jaeger/",
            "/jaeger/search?service=a",
            "/jaeger/trace/0af7651916cd43dd8448eb211c80319c",
            "/jaeger/dependencies",
            // A comparison of two traces: dots, but not a file.
            "/jaeger/trace/0af7651916cd43dd8448eb211c80319c...00000000000000000000000000000001",
            "/jaeger/index.html",
        ] {
            let (status, headers, html) = get(&router, Method::GET, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(
                header(&headers, "content-type"),
                Some("text/html; charset=utf-8")
            );
            assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
            assert!(html.contains("<base href=\"/jaeger/\">"), "{path}: {html}");
            if spoor_ui::is_built() {
                let config = injected(&html);
                assert_eq!(config["basePath"], "/jaeger");
                assert_eq!(config["uiBuilt"], true);
                assert_eq!(config["capabilities"], serde_json::to_value(caps).unwrap());
                assert_eq!(config["capabilities"]["export"], true);
                assert_eq!(config["menu"][0]["label"], "Runbook");
            }
        }
        // The API still answers under the prefix, and not outside it.
        let (status, _, body) = get(&router, Method::GET, "/jaeger/api/services").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _, _) = get(&router, Method::GET, "/search").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // A missing asset is a 404, not the app shell.
        for missing in [
            "/jaeger/assets/nope-123.js",
            "/jaeger/favicon.ico",
            "/jaeger/assets/x",
        ] {
            let (status, _, _) = get(&router, Method::GET, missing).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        }
        // Not a page: Jaeger's error envelope as JSON, inside and outside the base path.
        for path in [
            "/jaeger/analytics/v1/deep-dependency-graph",
            "/jaeger/foo.js",
            "/jaeger/search/extra",
            "/jaeger/trace/",
            "/jaeger/trace/a/b",
            "/search",
            "/",
        ] {
            let (status, headers, body) = get(&router, Method::GET, path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(header(&headers, "content-type"), Some("application/json"));
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["data"], serde_json::Value::Null, "{body}");
            assert_eq!(v["errors"][0]["code"], 404, "{body}");
            assert!(
                v["errors"][0]["msg"].as_str().unwrap().contains(path),
                "{body}"
            );
        }
        let (status, headers, _) = get(&router, Method::POST, "/jaeger/search").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header(&headers, "allow"), Some("GET, HEAD"));
        // Every asset the page references loads under the prefix, with the
        // cache headers of its kind.
        if spoor_ui::is_built() {
            let (_, _, html) = get(&router, Method::GET, "/jaeger/").await;
            let assets: Vec<&str> = html
                .split(['"', '\''])
                .filter(|s| s.starts_with("./assets/") || s.starts_with("assets/"))
                .collect();
            assert!(!assets.is_empty(), "no assets referenced: {html}");
            for asset in assets {
                let path = format!("/jaeger/{}", asset.trim_start_matches("./"));
                let (status, headers, _) = get(&router, Method::GET, &path).await;
                assert_eq!(status, StatusCode::OK, "{path}");
                assert_eq!(
                    header(&headers, "cache-control"),
                    Some("public, max-age=31536000, immutable")
                );
                assert!(header(&headers, "etag").is_some());
            }
        }
    }
}
