//! The web UI's own login (`security.login`, docs/security.md "Web UI
//! login"): OpenID Connect's authorization-code flow with PKCE, ending in a
//! server-side session ([`super::session`]) found by the `spoor_session`
//! cookie.
//!
//! - `GET {base}/login[?return_to=…]` reads the issuer's discovery document,
//!   keeps `state`, `nonce` and a PKCE `code_verifier` server-side for ten
//!   minutes (a bounded map) and redirects to the authorization endpoint
//!   with the verifier's S256 challenge.
//! - `GET {base}/login/callback` takes the pending login of `state` (once),
//!   exchanges the code at the token endpoint with the client's secret and
//!   the verifier, verifies the ID token (signature against the issuer's
//!   JWKS, `iss`, `aud`, `exp`, `nonce`), starts a session, sets the cookie
//!   and redirects to the page the user asked for.
//! - `POST {base}/logout` ends the session and clears the cookie.
//!
//! These routes answer without authentication ([`is_login_path`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;

use super::TenantGrant;
use super::session::{CookieAttributes, SessionLimits, Sessions, random_token};
use crate::AppState;

/// How long a started login may take to come back.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// Most logins waiting for their callback at once.
const MAX_PENDING: usize = 10_000;
/// How long an answer of the issuer may take.
const ISSUER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read from the issuer.
const MAX_ISSUER_BODY: usize = 1 << 20;
/// How long the discovery document is used before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// `security.login` of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    /// The OIDC issuer URL (its discovery document is
    /// `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// Spoor's client ID at the issuer; also the ID token's audience.
    pub client_id: String,
    /// A file holding the client secret (trimmed); none for a public client.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The callback URL registered at the issuer; by default
    /// `http(s)://{Host}{base}/login/callback` of the request.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Scopes asked for; `openid` is always included.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Mark the cookie `Secure` even when the query listener has no TLS
    /// (Spoor behind a TLS-terminating proxy).
    #[serde(default)]
    pub cookie_secure: bool,
    /// A claim of the ID token naming the tenants the user may use (a
    /// string or an array); without it, every tenant.
    #[serde(default)]
    pub tenant_claim: Option<String>,
    /// A session unused for this long ends (seconds; default 2 hours).
    #[serde(default)]
    pub session_idle_timeout_secs: Option<u64>,
    /// A session ends this long after login (seconds; default 12 hours).
    #[serde(default)]
    pub session_max_age_secs: Option<u64>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}

/// Why a login failed. Shown to the user; never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the identity provider could not be reached or answered badly: {0}")]
    Issuer(String),
    #[error("the login expired or was already used; start again")]
    UnknownState,
    #[error("the identity provider refused the login: {0}")]
    Refused(String),
    #[error("the ID token is not valid: {0}")]
    IdToken(String),
    #[error("the client secret file cannot be read: {0}")]
    Secret(String),
    #[error("the system's random number generator failed")]
    Random,
}

/// What discovery tells about the issuer.
#[derive(Debug, Clone, Deserialize)]
pub struct Provider {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

/// A login between `/login` and its callback.
#[derive(Debug, Clone)]
struct Pending {
    verifier: String,
    nonce: String,
    redirect_uri: String,
    return_to: String,
    created: Instant,
}

/// Logins waiting for their callback, by `state`; bounded in count and age.
#[derive(Debug, Default)]
pub struct PendingLogins {
    map: HashMap<String, Pending>,
}

impl PendingLogins {
    fn insert(&mut self, state: String, p: Pending, now: Instant) {
        if self.map.len() >= MAX_PENDING {
            self.map
                .retain(|_, p| now.saturating_duration_since(p.created) < PENDING_TTL);
        }
        while self.map.len() >= MAX_PENDING {
            let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, p)| p.created)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.map.remove(&oldest);
        }
        self.map.insert(state, p);
    }

    /// The pending login of `state`, once, if it is not older than
    /// [`PENDING_TTL`].
    fn take(&mut self, state: &str, now: Instant) -> Option<Pending> {
        let p = self.map.remove(state)?;
        (now.saturating_duration_since(p.created) < PENDING_TTL).then_some(p)
    }

    /// Logins waiting.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The claims of a verified ID token.
pub type IdTokenClaims = serde_json::Map<String, serde_json::Value>;

/// Verifies ID tokens with the authentication layer's JWT verification
/// ([`super::oidc::OidcVerifier`]: signature against the issuer's JWKS,
/// `iss`, `aud` = the client ID, `exp`/`nbf`), then reads the verified
/// token's claims.
struct IdTokenVerifier {
    jwt: super::oidc::OidcVerifier,
}

impl IdTokenVerifier {
    fn new(provider: &Provider, client_id: &str) -> Result<Self, LoginError> {
        let settings = super::oidc::OidcSettings {
            issuer: provider.issuer.clone(),
            audience: client_id.to_string(),
            jwks_url: Some(provider.jwks_uri.clone()),
            ..Default::default()
        };
        super::oidc::OidcVerifier::new("query", &settings)
            .map(|jwt| IdTokenVerifier { jwt })
            .map_err(|e| LoginError::Issuer(e.to_string()))
    }

    async fn verify(&self, token: &str) -> Result<IdTokenClaims, String> {
        self.jwt
            .verify(token)
            .await
            .map_err(|f| f.message().to_string())?;
        // Verified: its payload is the issuer's.
        let payload = token.split('.').nth(1).ok_or("malformed token")?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| "malformed token payload")?;
        serde_json::from_slice(&bytes).map_err(|_| "malformed token payload".to_string())
    }
}

/// What discovery found: the endpoints and the verifier of its ID tokens.
struct Discovered {
    at: Instant,
    provider: Arc<Provider>,
    verifier: Arc<IdTokenVerifier>,
}

/// The login of the query listener: its settings, the sessions and the
/// logins in flight.
pub struct Login {
    settings: LoginSettings,
    /// The query listener has TLS (the cookie is then `Secure`).
    tls: bool,
    sessions: Arc<Sessions>,
    pending: Mutex<PendingLogins>,
    discovered: tokio::sync::Mutex<Option<Discovered>>,
    http: spoor_client::http::HttpClient,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl Login {
    /// The login for `settings`; `tls`: the query listener serves TLS.
    pub fn new(settings: LoginSettings, tls: bool) -> Self {
        let defaults = SessionLimits::default();
        let limits = SessionLimits {
            idle: settings
                .session_idle_timeout_secs
                .map_or(defaults.idle, Duration::from_secs),
            absolute: settings
                .session_max_age_secs
                .map_or(defaults.absolute, Duration::from_secs),
            ..defaults
        };
        Login {
            settings,
            tls,
            sessions: Arc::new(Sessions::new(limits)),
            pending: Mutex::new(PendingLogins::default()),
            discovered: tokio::sync::Mutex::new(None),
            http: spoor_client::http::client(),
        }
    }

    /// The sessions this login starts.
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// The settings.
    pub fn settings(&self) -> &LoginSettings {
        &self.settings
    }

    /// The session cookie's attributes under `base_path`.
    pub fn cookie(&self, base_path: &str) -> CookieAttributes {
        CookieAttributes::new(base_path, self.tls || self.settings.cookie_secure)
    }

    /// The issuer's discovery document and its ID token verifier, cached
    /// for an hour.
    async fn provider(&self) -> Result<(Arc<Provider>, Arc<IdTokenVerifier>), LoginError> {
        let mut cached = self.discovered.lock().await;
        if let Some(d) = cached.as_ref()
            && d.at.elapsed() < DISCOVERY_TTL
        {
            return Ok((d.provider.clone(), d.verifier.clone()));
        }
        let issuer = self.settings.issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let request =
            spoor_client::http::get_request(&url).map_err(|e| LoginError::Issuer(e.to_string()))?;
        let (status, body) = self.call(request).await?;
        if status != 200 {
            return Err(LoginError::Issuer(format!("{url} answered {status}")));
        }
        let p: Provider =
            serde_json::from_slice(&body).map_err(|e| LoginError::Issuer(format!("{url}: {e}")))?;
        if p.issuer.trim_end_matches('/') != issuer {
            return Err(LoginError::Issuer(format!(
                "the discovery document names issuer {:?}, not {issuer:?}",
                p.issuer
            )));
        }
        let verifier = Arc::new(IdTokenVerifier::new(&p, &self.settings.client_id)?);
        let provider = Arc::new(p);
        *cached = Some(Discovered {
            at: Instant::now(),
            provider: provider.clone(),
            verifier: verifier.clone(),
        });
        Ok((provider, verifier))
    }

    /// One request to the issuer: the status and the whole (bounded) body.
    async fn call(&self, request: http::Request<Full<Bytes>>) -> Result<(u16, Bytes), LoginError> {
        let call = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| spoor_client::http::error_chain(&e))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_ISSUER_BODY)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        match tokio::time::timeout(ISSUER_TIMEOUT, call).await {
            Err(_) => Err(LoginError::Issuer(format!(
                "no answer within {ISSUER_TIMEOUT:?}"
            ))),
            Ok(Err(e)) => Err(LoginError::Issuer(e)),
            Ok(Ok(answer)) => Ok(answer),
        }
    }

    /// Starts a login: the authorization endpoint's URL to redirect to.
    async fn start(&self, redirect_uri: String, return_to: String) -> Result<String, LoginError> {
        let (provider, _) = self.provider().await?;
        let state = random_token(32).map_err(|_| LoginError::Random)?;
        let nonce = random_token(32).map_err(|_| LoginError::Random)?;
        let verifier = random_token(32).map_err(|_| LoginError::Random)?;
        let challenge = pkce_challenge(&verifier);
        let mut scopes = vec!["openid".to_string()];
        for s in &self.settings.scopes {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        let sep = if provider.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{sep}{query}", provider.authorization_endpoint);
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                state,
                Pending {
                    verifier,
                    nonce,
                    redirect_uri,
                    return_to,
                    created: Instant::now(),
                },
                Instant::now(),
            );
        Ok(url)
    }

    /// Finishes a login: the session ID and the page to go back to.
    async fn finish(&self, state: &str, code: &str) -> Result<(String, String), LoginError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(state, Instant::now())
            .ok_or(LoginError::UnknownState)?;
        let (provider, verifier) = self.provider().await?;
        let secret = match &self.settings.client_secret_file {
            None => None,
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| LoginError::Secret(format!("{}: {e}", path.display())))?
                    .trim()
                    .to_string(),
            ),
        };
        let methods = &provider.token_endpoint_auth_methods_supported;
        let basic = secret.is_some()
            && methods.iter().any(|m| m == "client_secret_basic")
            && !methods.iter().any(|m| m == "client_secret_post");
        // The serializer is not `Send`: built and finished before any await.
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", &pending.redirect_uri)
                .append_pair("code_verifier", &pending.verifier)
                .append_pair("client_id", &self.settings.client_id);
            if let Some(secret) = &secret
                && !basic
            {
                form.append_pair("client_secret", secret);
            }
            form.finish()
        };
        let mut request = http::Request::post(&provider.token_endpoint)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        if let Some(secret) = secret.as_deref().filter(|_| basic) {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(&self.settings.client_id), enc(secret));
            request = request.header(
                header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            );
        }
        let request = request
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| LoginError::Issuer(e.to_string()))?;
        let (status, body) = self.call(request).await?;
        let answer: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            LoginError::Issuer(format!("the token endpoint answered {status} without JSON"))
        })?;
        if status != 200 {
            let error = answer
                .get("error")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown error");
            return Err(LoginError::Refused(format!(
                "token endpoint answered {status}: {}",
                error.chars().take(100).collect::<String>()
            )));
        }
        let id_token = answer
            .get("id_token")
            .and_then(|v| v.as_str())
            .ok_or_else(|| LoginError::IdToken("the token endpoint sent no id_token".into()))?;
        let claims = verifier
            .verify(id_token)
            .await
            .map_err(LoginError::IdToken)?;
        if claims.get("nonce").and_then(|v| v.as_str()) != Some(pending.nonce.as_str()) {
            return Err(LoginError::IdToken("its nonce is not this login's".into()));
        }
        let subject = subject_of(&claims)
            .ok_or_else(|| LoginError::IdToken("it has neither email nor sub".into()))?;
        let tenants = match &self.settings.tenant_claim {
            None => TenantGrant::Any,
            Some(claim) => TenantGrant::Only(tenants_of(claims.get(claim))),
        };
        let id = self
            .sessions
            .create(&subject, tenants)
            .map_err(|_| LoginError::Random)?;
        tracing::info!(subject = %subject, "web UI login");
        Ok((id, pending.return_to))
    }
}

/// PKCE's S256 challenge of `verifier`: base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// The session's subject: the `email` claim, else `sub`.
fn subject_of(claims: &IdTokenClaims) -> Option<String> {
    ["email", "sub"]
        .iter()
        .filter_map(|k| claims.get(*k).and_then(|v| v.as_str()))
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(|s| s.chars().take(256).collect())
}

/// Tenants named by a claim: a string (comma- or space-separated) or an array
/// of strings.
fn tenants_of(value: Option<&serde_json::Value>) -> Vec<String> {
    let mut out: Vec<String> = match value {
        Some(serde_json::Value::String(s)) => s
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    };
    out.dedup();
    out
}

/// Whether `path` (the whole request path) is one of the login routes, which
/// answer without authentication.
pub fn is_login_path(path: &str, base_path: &str) -> bool {
    path.strip_prefix(base_path)
        .is_some_and(|p| matches!(p, "/login" | "/login/callback" | "/logout"))
}

/// The page to return to after login: a path under the base path (never
/// another site), the search page by default.
pub fn safe_return_to(base_path: &str, wanted: Option<&str>) -> String {
    let fallback = format!("{base_path}/search");
    let Some(w) = wanted else {
        return fallback;
    };
    let ok = w.starts_with(&format!("{base_path}/"))
        && !w.starts_with("//")
        && !w.contains('\\')
        && !w.chars().any(char::is_control)
        && !is_login_path(w.split('?').next().unwrap_or(w), base_path);
    if ok { w.to_string() } else { fallback }
}

/// For a browser that asked for a page without a session: the redirect to
/// the login, coming back to that page. `None` for anything but a `GET` of
/// HTML (API calls get the authentication layer's 401).
pub fn browser_redirect(
    method: &http::Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    base_path: &str,
) -> Option<Response> {
    if !matches!(*method, http::Method::GET | http::Method::HEAD) {
        return None;
    }
    let accepts_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"));
    let path = uri.path();
    let page = path
        .strip_prefix(base_path)
        .map(|p| p.trim_start_matches('/'))
        .is_some_and(crate::ui::is_app_page);
    if !accepts_html || !page {
        return None;
    }
    let wanted = uri.path_and_query().map_or(path, |pq| pq.as_str());
    let return_to = safe_return_to(base_path, Some(wanted));
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", &return_to)
        .finish();
    Some(redirect(&format!("{base_path}/login?{query}")))
}

fn redirect(location: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn error_page(status: StatusCode, message: &str, base_path: &str) -> Response {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let html = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>Spoor: login failed</title>\
         <h1>Login failed</h1><p>{}</p><p><a href=\"{}/login\">Log in again</a></p>",
        escape(message),
        escape(base_path)
    );
    let mut resp = (status, html).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The login routes under the base path (mounted by
/// [`crate::query_router`] when login is configured).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/login", axum::routing::get(login))
        .route("/login/callback", axum::routing::get(callback))
        .route("/logout", axum::routing::post(logout))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
}

/// The callback URL: configured, or this request's origin under the base
/// path.
fn redirect_uri(login: &Login, state: &AppState, headers: &HeaderMap) -> Option<String> {
    if let Some(url) = &login.settings.redirect_url {
        return Some(url.clone());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    if host.is_empty() || host.contains(['/', '\\', '@', ' ']) {
        return None;
    }
    let scheme = if login.tls { "https" } else { "http" };
    Some(format!(
        "{scheme}://{host}{}/login/callback",
        state.base_path
    ))
}

async fn login(
    State(state): State<Arc<AppState>>,
    Query(q): Query<LoginQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(login) = state.net.login.clone() else {
        return crate::ui::not_found(&format!("{}/login", state.base_path));
    };
    let return_to = safe_return_to(&state.base_path, q.return_to.as_deref());
    let Some(redirect_uri) = redirect_uri(&login, &state, &headers) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "the request has no usable Host header; set security.login.redirect_url",
            &state.base_path,
        );
    };
    match login.start(redirect_uri, return_to).await {
        Ok(url) => redirect(&url),
        Err(e) => {
            tracing::warn!(error = %e, "web UI login could not start");
            error_page(StatusCode::BAD_GATEWAY, &e.to_string(), &state.base_path)
        }
    }
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

async fn callback(State(state): State<Arc<AppState>>, Query(q): Query<CallbackQuery>) -> Response {
    let base = &state.base_path;
    let Some(login) = state.net.login.clone() else {
        return crate::ui::not_found(&format!("{base}/login/callback"));
    };
    if let Some(error) = q.error {
        let error: String = error.chars().take(100).collect();
        tracing::warn!(error = %error, "web UI login refused by the identity provider");
        return error_page(
            StatusCode::UNAUTHORIZED,
            &LoginError::Refused(error).to_string(),
            base,
        );
    }
    let (Some(st), Some(code)) = (q.state, q.code) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "the callback lacks state or code",
            base,
        );
    };
    match login.finish(&st, &code).await {
        Ok((id, return_to)) => {
            let mut resp = redirect(&return_to);
            if let Some(cookie) = login
                .cookie(base)
                .set(&id, login.sessions.limits().absolute)
            {
                resp.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            resp
        }
        Err(e) => {
            tracing::warn!(error = %e, "web UI login failed");
            let status = match e {
                LoginError::UnknownState => StatusCode::BAD_REQUEST,
                LoginError::Issuer(_) | LoginError::Secret(_) => StatusCode::BAD_GATEWAY,
                LoginError::Random => StatusCode::INTERNAL_SERVER_ERROR,
                LoginError::Refused(_) | LoginError::IdToken(_) => StatusCode::UNAUTHORIZED,
            };
            error_page(status, &e.to_string(), base)
        }
    }
}

async fn logout(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let Some(login) = state.net.login.clone() else {
        return crate::ui::not_found(&format!("{}/logout", state.base_path));
    };
    login.sessions.end(req.headers());
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Some(cookie) = login.cookie(&state.base_path).clear() {
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_s256_of_the_verifier() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = random_token(32).unwrap();
        assert_eq!(v.len(), 43, "a verifier is 43 to 128 characters");
        assert_eq!(pkce_challenge(&v).len(), 43);
    }

    fn pending(created: Instant) -> Pending {
        Pending {
            verifier: "v".into(),
            nonce: "n".into(),
            redirect_uri: "http://h/login/callback".into(),
            return_to: "/search".into(),
            created,
        }
    }

    #[test]
    fn a_state_is_used_once_and_expires_after_ten_minutes() {
        let t0 = Instant::now();
        let mut p = PendingLogins::default();
        p.insert("s1".into(), pending(t0), t0);
        p.insert("s2".into(), pending(t0), t0);
        assert!(p.take("s1", t0 + Duration::from_secs(599)).is_some());
        assert!(
            p.take("s1", t0 + Duration::from_secs(600)).is_none(),
            "once"
        );
        assert!(p.take("s2", t0 + PENDING_TTL).is_none(), "expired");
        assert!(p.take("unknown", t0).is_none());
        assert!(p.is_empty());
    }

    #[test]
    fn pending_logins_are_bounded() {
        let t0 = Instant::now();
        let mut p = PendingLogins::default();
        for i in 0..MAX_PENDING + 5 {
            p.insert(
                format!("s{i}"),
                pending(t0 + Duration::from_millis(i as u64)),
                t0,
            );
        }
        assert_eq!(p.len(), MAX_PENDING);
        assert!(p.take("s0", t0).is_none(), "the oldest went first");
        assert!(p.take(&format!("s{}", MAX_PENDING + 4), t0).is_some());
    }

    #[test]
    fn return_to_stays_on_spoor() {
        assert_eq!(safe_return_to("", None), "/search");
        assert_eq!(safe_return_to("", Some("/trace/abc?x=1")), "/trace/abc?x=1");
        assert_eq!(
            safe_return_to("/spoor", Some("/spoor/monitor")),
            "/spoor/monitor"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/login",
            "/logout",
            "search",
        ] {
            assert_eq!(safe_return_to("", Some(bad)), "/search", "{bad}");
        }
        assert_eq!(safe_return_to("/spoor", Some("/other")), "/spoor/search");
    }

    #[test]
    fn browsers_asking_for_a_page_are_sent_to_the_login() {
        let html = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
            h
        };
        let page = "text/html,application/xhtml+xml,*/*;q=0.8";
        let uri: http::Uri = "/spoor/trace/abc?uiFind=x".parse().unwrap();
        let resp = browser_redirect(&http::Method::GET, &uri, &html(page), "/spoor").unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert_eq!(
            resp.headers()[header::LOCATION],
            "/spoor/login?return_to=%2Fspoor%2Ftrace%2Fabc%3FuiFind%3Dx"
        );
        // API calls, other methods and non-pages are not redirected.
        let api: http::Uri = "/spoor/api/services".parse().unwrap();
        assert!(browser_redirect(&http::Method::GET, &api, &html(page), "/spoor").is_none());
        assert!(
            browser_redirect(
                &http::Method::GET,
                &uri,
                &html("application/json"),
                "/spoor"
            )
            .is_none()
        );
        assert!(browser_redirect(&http::Method::POST, &uri, &html(page), "/spoor").is_none());
    }

    #[test]
    fn login_paths_are_recognized_under_the_base_path() {
        assert!(is_login_path("/login", ""));
        assert!(is_login_path("/login/callback", ""));
        assert!(is_login_path("/spoor/logout", "/spoor"));
        assert!(!is_login_path("/login", "/spoor"));
        assert!(!is_login_path("/api/services", ""));
    }

    #[test]
    fn subject_and_tenants_come_from_the_claims() {
        let claims: IdTokenClaims = serde_json::from_str(
            r#"{"sub":"123","email":"ana@example.com","t1":"a, b","t2":["x","y"]}"#,
        )
        .unwrap();
        assert_eq!(subject_of(&claims).unwrap(), "ana@example.com");
        let claims: IdTokenClaims = serde_json::from_str(r#"{"sub":"123"}"#).unwrap();
        assert_eq!(subject_of(&claims).unwrap(), "123");
        assert_eq!(
            tenants_of(Some(&serde_json::json!("a, b"))),
            vec!["a".to_string(), "b".to_string()]
        );
        assert_eq!(
            tenants_of(Some(&serde_json::json!(["x", "y"]))),
            vec!["x".to_string(), "y".to_string()]
        );
        assert!(tenants_of(None).is_empty());
    }

    #[test]
    fn settings_parse_with_defaults() {
        let s: LoginSettings = serde_json::from_value(serde_json::json!({
            "issuer": "http://127.0.0.1:1/oidc",
            "client_id": "spoor",
        }))
        .unwrap();
        assert_eq!(s.scopes, vec!["openid", "email", "profile"]);
        assert!(!s.cookie_secure);
        let login = Login::new(s, false);
        assert_eq!(login.cookie("/spoor").path, "/spoor/");
        assert!(!login.cookie("").secure);
        assert!(
            Login::new(login.settings().clone(), true).cookie("").secure,
            "Secure with TLS"
        );
    }
}
