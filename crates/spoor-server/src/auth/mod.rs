//! Authentication of every request, per listener group (docs/security.md,
//! "Authentication").
//!
//! Each [`Group`] has its own methods ([`GroupAuthSettings`]); a group with
//! none is open and its requests carry an [`AuthMethod::Anonymous`]
//! identity. Otherwise the credentials a request carries decide, in this
//! order, and credentials that fail are refused (they never fall through to
//! another method or to anonymous):
//!
//! 1. `Authorization: Bearer …` or `x-api-key`: a static token of the
//!    tokens file ([`secrets`]); a bearer token that is not one of them is
//!    verified as an OIDC JWT when OIDC is configured ([`oidc`]);
//! 2. `Authorization: Basic …` against the htpasswd file (bcrypt);
//! 3. a verified client certificate ([`crate::net::tls::PeerCertificate`]);
//! 4. identity headers of a trusted reverse proxy, only from its addresses;
//! 5. the web UI's session cookie ([`session::Sessions`], query group).
//!
//! The [`layer`] applies this to HTTP and gRPC alike, counts successes and
//! failures ([`AuthMetrics`]) and slows repeated failures per peer IP
//! ([`throttle`]).

pub mod layer;
pub mod login;
pub mod oidc;
pub mod secrets;
pub mod session;
pub mod throttle;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use serde::Deserialize;

use crate::security::Group;

/// `security.auth` of the configuration file: the methods of each listener
/// group. A group that is absent (or has no method) is open.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    #[serde(default)]
    pub ingest: Option<GroupAuthSettings>,
    #[serde(default)]
    pub query: Option<GroupAuthSettings>,
    #[serde(default)]
    pub admin: Option<GroupAuthSettings>,
    #[serde(default)]
    pub internal: Option<GroupAuthSettings>,
}

impl AuthSettings {
    /// The settings of `group`, if any.
    pub fn group(&self, group: Group) -> Option<&GroupAuthSettings> {
        match group {
            Group::Ingest => self.ingest.as_ref(),
            Group::Query => self.query.as_ref(),
            Group::Admin => self.admin.as_ref(),
            Group::Internal => self.internal.as_ref(),
        }
    }

    /// The settings of `group`, created empty when absent (flags merge into it).
    pub fn group_mut(&mut self, group: Group) -> &mut GroupAuthSettings {
        match group {
            Group::Ingest => self.ingest.get_or_insert_with(Default::default),
            Group::Query => self.query.get_or_insert_with(Default::default),
            Group::Admin => self.admin.get_or_insert_with(Default::default),
            Group::Internal => self.internal.get_or_insert_with(Default::default),
        }
    }
}

/// `security.auth.<group>`: the methods that authenticate its requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupAuthSettings {
    /// Static bearer tokens / API keys: lines `<token> <name> [<tenant>,…|*]`.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
    /// HTTP basic: an htpasswd file of bcrypt entries.
    #[serde(default)]
    pub htpasswd_file: Option<PathBuf>,
    /// A verified TLS client certificate authenticates (its CN or first SAN).
    #[serde(default)]
    pub client_certificates: bool,
    /// OIDC/JWT bearer tokens.
    #[serde(default)]
    pub oidc: Option<oidc::OidcSettings>,
    /// Identity headers set by authenticating reverse proxies.
    #[serde(default)]
    pub trusted_proxies: Option<ProxySettings>,
    /// Admin group only: `GET /status`, `/health` and `/ready` stay open for
    /// probes (default true).
    #[serde(default)]
    pub public_status: Option<bool>,
}

impl GroupAuthSettings {
    /// Whether any method is configured.
    pub fn has_method(&self) -> bool {
        self.tokens_file.is_some()
            || self.htpasswd_file.is_some()
            || self.client_certificates
            || self.oidc.is_some()
            || self.trusted_proxies.is_some()
    }
}

/// `trusted_proxies`: reverse proxies (e.g. oauth2-proxy) whose identity
/// headers are believed, from these addresses only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// CIDR ranges or single IPs of the proxies (the TCP peer).
    pub addresses: Vec<String>,
    /// The user's name (default `X-Forwarded-User`; `X-Auth-Request-User`
    /// is also read).
    #[serde(default)]
    pub user_header: Option<String>,
    /// The user's e-mail (default `X-Forwarded-Email`).
    #[serde(default)]
    pub email_header: Option<String>,
    /// The user's groups (default `X-Forwarded-Groups`).
    #[serde(default)]
    pub groups_header: Option<String>,
}

/// Who made a request, put in its extensions by the authentication layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user, token name, certificate name or token subject; never a secret.
    pub subject: String,
    /// How it was established.
    pub method: AuthMethod,
    /// The tenants it may read and write.
    pub tenants: TenantGrant,
}

impl Identity {
    /// The identity of a request on an open group.
    pub fn anonymous() -> Self {
        Identity {
            subject: "anonymous".to_string(),
            method: AuthMethod::Anonymous,
            tenants: TenantGrant::Any,
        }
    }
}

/// How an [`Identity`] was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuthMethod {
    /// No authentication is configured for the listener group.
    Anonymous,
    /// A static bearer token or API key.
    Token,
    /// HTTP basic against an htpasswd file.
    Basic,
    /// A verified client certificate.
    ClientCertificate,
    /// An OIDC/JWT bearer token.
    Oidc,
    /// Identity headers from a trusted reverse proxy.
    Proxy,
    /// The web UI's login session cookie.
    Session,
}

impl AuthMethod {
    /// Its name in metrics and logs.
    pub const fn name(self) -> &'static str {
        match self {
            AuthMethod::Anonymous => "anonymous",
            AuthMethod::Token => "token",
            AuthMethod::Basic => "basic",
            AuthMethod::ClientCertificate => "client_certificate",
            AuthMethod::Oidc => "oidc",
            AuthMethod::Proxy => "proxy",
            AuthMethod::Session => "session",
        }
    }
}

/// The tenants an identity may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantGrant {
    /// Any tenant the configuration allows.
    Any,
    /// Only these.
    Only(Vec<String>),
}

impl TenantGrant {
    /// Whether `tenant` is granted.
    pub fn allows(&self, tenant: &str) -> bool {
        match self {
            TenantGrant::Any => true,
            TenantGrant::Only(list) => list.iter().any(|t| t == tenant),
        }
    }
}

/// A configuration that cannot be used (reported at start).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("security.auth.{group}.{what} {path}: {message}")]
    File {
        group: &'static str,
        what: &'static str,
        path: String,
        message: String,
    },
    #[error("security.auth.{group}.{what}: {message}")]
    Invalid {
        group: &'static str,
        what: &'static str,
        message: String,
    },
}

/// Why a request was refused: its `reason` label in
/// `spoor_auth_failures_total` and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// No credentials on a protected group.
    Missing,
    /// A malformed `Authorization` header or token.
    Malformed,
    /// A token that is neither a known static token nor a valid JWT.
    UnknownToken,
    /// A wrong user name or password.
    BadPassword,
    /// A method the group does not accept (e.g. basic without htpasswd).
    MethodNotAccepted,
    /// A JWT signature that does not verify, or an unusable algorithm.
    BadSignature,
    /// A JWT signed by a key the issuer's JWKS does not have.
    UnknownKey,
    /// A JWT past its `exp` (or before its `nbf`).
    Expired,
    /// A JWT from another issuer.
    WrongIssuer,
    /// A JWT for another audience.
    WrongAudience,
    /// A JWT without a required claim value.
    MissingClaim,
    /// The issuer's keys could not be fetched.
    IssuerUnavailable,
    /// Proxy identity headers from an address that is not a trusted proxy.
    UntrustedProxy,
}

impl Failure {
    /// Its label.
    pub const fn reason(self) -> &'static str {
        match self {
            Failure::Missing => "missing_credentials",
            Failure::Malformed => "malformed",
            Failure::UnknownToken => "unknown_token",
            Failure::BadPassword => "bad_password",
            Failure::MethodNotAccepted => "method_not_accepted",
            Failure::BadSignature => "bad_signature",
            Failure::UnknownKey => "unknown_key",
            Failure::Expired => "expired",
            Failure::WrongIssuer => "wrong_issuer",
            Failure::WrongAudience => "wrong_audience",
            Failure::MissingClaim => "missing_claim",
            Failure::IssuerUnavailable => "issuer_unavailable",
            Failure::UntrustedProxy => "untrusted_proxy",
        }
    }

    /// The message of the 401 answer (says what is wrong, never a secret).
    pub const fn message(self) -> &'static str {
        match self {
            Failure::Missing => "authentication required",
            Failure::Malformed => "malformed credentials",
            Failure::UnknownToken => "invalid token",
            Failure::BadPassword => "invalid user name or password",
            Failure::MethodNotAccepted => "this authentication method is not accepted here",
            Failure::BadSignature => "invalid token signature",
            Failure::UnknownKey => "token signed by an unknown key",
            Failure::Expired => "token expired or not yet valid",
            Failure::WrongIssuer => "token from another issuer",
            Failure::WrongAudience => "token for another audience",
            Failure::MissingClaim => "token lacks a required claim",
            Failure::IssuerUnavailable => "the token issuer's keys are unavailable",
            Failure::UntrustedProxy => "identity headers from an untrusted address",
        }
    }

    /// Whether credentials were presented (a guess worth slowing down);
    /// a request with none is refused at once.
    pub const fn is_attempt(self) -> bool {
        !matches!(self, Failure::Missing | Failure::IssuerUnavailable)
    }
}

/// Counters of `/metrics`: `spoor_auth_success_total{group,method}` and
/// `spoor_auth_failures_total{group,reason}`.
#[derive(Debug, Default)]
pub struct AuthMetrics {
    success: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    failures: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl AuthMetrics {
    fn bump(
        map: &Mutex<BTreeMap<(&'static str, &'static str), u64>>,
        key: (&'static str, &'static str),
    ) {
        *map.lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    /// One request let in.
    pub fn success(&self, group: Group, method: AuthMethod) {
        Self::bump(&self.success, (group.name(), method.name()));
    }

    /// One request refused.
    pub fn failure(&self, group: Group, failure: Failure) {
        Self::bump(&self.failures, (group.name(), failure.reason()));
    }

    /// Failures counted for `group` and `reason` (tests).
    pub fn failures(&self, group: Group, reason: &str) -> u64 {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|((g, r), _)| *g == group.name() && *r == reason)
            .map(|(_, v)| *v)
            .sum()
    }

    /// The series in Prometheus text format.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP spoor_auth_success_total Requests authenticated, by listener group and method.\n# TYPE spoor_auth_success_total counter"
        );
        for ((g, m), v) in self
            .success
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "spoor_auth_success_total{{group=\"{g}\",method=\"{m}\"}} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP spoor_auth_failures_total Requests refused by authentication, by listener group and reason.\n# TYPE spoor_auth_failures_total counter"
        );
        for ((g, r), v) in self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "spoor_auth_failures_total{{group=\"{g}\",reason=\"{r}\"}} {v}"
            );
        }
        out
    }
}

/// The authentication of a whole server: one [`GroupAuth`] per group, the
/// counters and the failure throttle they share.
#[derive(Debug)]
pub struct Auth {
    groups: [Arc<GroupAuth>; 4],
    metrics: Arc<AuthMetrics>,
}

impl Default for Auth {
    /// Every group open.
    fn default() -> Self {
        all_open()
    }
}

fn all_open() -> Auth {
    let metrics = Arc::new(AuthMetrics::default());
    let throttle = Arc::new(throttle::Throttle::default());
    Auth {
        groups: Group::ALL.map(|g| Arc::new(GroupAuth::open(g, metrics.clone(), throttle.clone()))),
        metrics,
    }
}

impl Auth {
    /// Reads every configured file and checks every setting, so that a
    /// mistake stops the start with a clear message.
    pub fn load(settings: &AuthSettings) -> Result<Auth, AuthError> {
        let metrics = Arc::new(AuthMetrics::default());
        let throttle = Arc::new(throttle::Throttle::default());
        let mut groups = Vec::with_capacity(4);
        for g in Group::ALL {
            let auth = match settings.group(g) {
                Some(s) => GroupAuth::load(g, s, metrics.clone(), throttle.clone())?,
                None => GroupAuth::open(g, metrics.clone(), throttle.clone()),
            };
            groups.push(Arc::new(auth));
        }
        let groups: [Arc<GroupAuth>; 4] = match groups.try_into() {
            Ok(g) => g,
            Err(_) => return Ok(all_open()),
        };
        Ok(Auth { groups, metrics })
    }

    /// The authentication of `group`'s listeners.
    pub fn group(&self, group: Group) -> &Arc<GroupAuth> {
        &self.groups[group as usize]
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<AuthMetrics> {
        &self.metrics
    }

    /// Accept the web UI's login sessions on the query group (when Spoor's
    /// own login is configured), whose routes are under `base_path`: they
    /// stay open, and a browser asking for a page without a session is sent
    /// to the login.
    pub fn set_login(&self, sessions: Arc<session::Sessions>, base_path: &str) {
        let _ = self.group(Group::Query).login.set(UiLogin {
            sessions,
            base_path: base_path.to_string(),
        });
    }
}

/// The methods of one listener group, built once at start.
#[derive(Debug)]
pub struct GroupAuth {
    pub(crate) group: Group,
    tokens: Option<secrets::TokenFile>,
    htpasswd: Option<secrets::Htpasswd>,
    client_certificates: bool,
    oidc: Option<oidc::OidcVerifier>,
    proxies: Option<TrustedProxies>,
    /// Admin: `/status`, `/health`, `/ready` open.
    public_status: bool,
    login: OnceLock<UiLogin>,
    pub(crate) metrics: Arc<AuthMetrics>,
    pub(crate) throttle: Arc<throttle::Throttle>,
}

/// The web UI's login, on the query group.
#[derive(Debug)]
struct UiLogin {
    sessions: Arc<session::Sessions>,
    base_path: String,
}

/// What the request carries, read once by the layer.
#[derive(Debug, Default)]
pub struct RequestFacts<'a> {
    pub headers: Option<&'a HeaderMap>,
    pub peer: Option<IpAddr>,
    pub certificate: Option<&'a crate::net::tls::PeerCertificate>,
}

impl GroupAuth {
    /// A group with no method: every request is anonymous.
    pub fn open(
        group: Group,
        metrics: Arc<AuthMetrics>,
        throttle: Arc<throttle::Throttle>,
    ) -> Self {
        GroupAuth {
            group,
            tokens: None,
            htpasswd: None,
            client_certificates: false,
            oidc: None,
            proxies: None,
            public_status: true,
            login: OnceLock::new(),
            metrics,
            throttle,
        }
    }

    /// `group` with `settings`' methods, files read.
    pub fn load(
        group: Group,
        settings: &GroupAuthSettings,
        metrics: Arc<AuthMetrics>,
        throttle: Arc<throttle::Throttle>,
    ) -> Result<Self, AuthError> {
        let g = group.name();
        let tokens = settings
            .tokens_file
            .as_ref()
            .map(|p| secrets::TokenFile::load(g, p))
            .transpose()?;
        let htpasswd = settings
            .htpasswd_file
            .as_ref()
            .map(|p| secrets::Htpasswd::load(g, p))
            .transpose()?;
        let oidc = settings
            .oidc
            .as_ref()
            .map(|o| oidc::OidcVerifier::new(g, o))
            .transpose()?;
        let proxies = settings
            .trusted_proxies
            .as_ref()
            .map(|p| TrustedProxies::new(g, p))
            .transpose()?;
        if settings.public_status.is_some() && group != Group::Admin {
            return Err(AuthError::Invalid {
                group: g,
                what: "public_status",
                message: "only the admin group has it".into(),
            });
        }
        Ok(GroupAuth {
            group,
            tokens,
            htpasswd,
            client_certificates: settings.client_certificates,
            oidc,
            proxies,
            public_status: settings.public_status.unwrap_or(true),
            login: OnceLock::new(),
            metrics,
            throttle,
        })
    }

    /// Whether requests need credentials.
    pub fn is_protected(&self) -> bool {
        self.tokens.is_some()
            || self.htpasswd.is_some()
            || self.client_certificates
            || self.oidc.is_some()
            || self.proxies.is_some()
            || self.login.get().is_some()
    }

    /// The UI login's base path, when login is on for this group.
    pub fn login_base_path(&self) -> Option<&str> {
        self.login.get().map(|l| l.base_path.as_str())
    }

    /// Whether `method path` stays open for probes (admin's status pages).
    pub fn is_public(&self, method: &http::Method, path: &str) -> bool {
        if let Some(login) = self.login.get()
            && login::is_login_path(path, &login.base_path)
        {
            return true;
        }
        self.group == Group::Admin
            && self.public_status
            && (method == http::Method::GET || method == http::Method::HEAD)
            && matches!(path, "/" | "/status" | "/health" | "/ready")
    }

    /// The `WWW-Authenticate` challenge: basic when it is the only way in.
    pub fn challenge(&self) -> &'static str {
        let bearer = self.tokens.is_some() || self.oidc.is_some();
        if self.htpasswd.is_some() && !bearer {
            "Basic realm=\"spoor\", charset=\"UTF-8\""
        } else {
            "Bearer realm=\"spoor\""
        }
    }

    /// Who sent a request with `facts`, or why it is refused.
    pub async fn authenticate(&self, facts: &RequestFacts<'_>) -> Result<Identity, Failure> {
        if !self.is_protected() {
            return Ok(Identity::anonymous());
        }
        let empty = HeaderMap::new();
        let headers = facts.headers.unwrap_or(&empty);
        if let Some(value) = headers.get(AUTHORIZATION) {
            let value = value.to_str().map_err(|_| Failure::Malformed)?.trim();
            let (scheme, rest) = value.split_once(' ').ok_or(Failure::Malformed)?;
            let rest = rest.trim();
            if scheme.eq_ignore_ascii_case("bearer") {
                return self.bearer(rest).await;
            }
            if scheme.eq_ignore_ascii_case("basic") {
                return self.basic(rest).await;
            }
            return Err(Failure::MethodNotAccepted);
        }
        if let Some(key) = headers.get("x-api-key") {
            let key = key.to_str().map_err(|_| Failure::Malformed)?.trim();
            let tokens = self.tokens.as_ref().ok_or(Failure::MethodNotAccepted)?;
            return tokens.identify(key).ok_or(Failure::UnknownToken);
        }
        if self.client_certificates
            && let Some(cert) = facts.certificate
        {
            let subject = cert
                .common_name
                .iter()
                .chain(&cert.dns_names)
                .chain(&cert.emails)
                .chain(&cert.uris)
                .find(|s| !s.is_empty());
            if let Some(subject) = subject {
                return Ok(Identity {
                    subject: subject.clone(),
                    method: AuthMethod::ClientCertificate,
                    tenants: TenantGrant::Any,
                });
            }
        }
        if let Some(proxies) = &self.proxies
            && let Some(identity) = proxies.identify(headers, facts.peer)?
        {
            return Ok(identity);
        }
        if let Some(login) = self.login.get()
            && let Some(identity) = login.sessions.identity(headers)
        {
            return Ok(identity);
        }
        Err(Failure::Missing)
    }

    async fn bearer(&self, token: &str) -> Result<Identity, Failure> {
        if token.is_empty() {
            return Err(Failure::Malformed);
        }
        if let Some(tokens) = &self.tokens
            && let Some(identity) = tokens.identify(token)
        {
            return Ok(identity);
        }
        match &self.oidc {
            Some(oidc) if token.bytes().filter(|b| *b == b'.').count() == 2 => {
                oidc.verify(token).await
            }
            Some(_) => Err(Failure::Malformed),
            None if self.tokens.is_some() => Err(Failure::UnknownToken),
            None => Err(Failure::MethodNotAccepted),
        }
    }

    async fn basic(&self, encoded: &str) -> Result<Identity, Failure> {
        let htpasswd = self.htpasswd.as_ref().ok_or(Failure::MethodNotAccepted)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| Failure::Malformed)?;
        let text = String::from_utf8(decoded).map_err(|_| Failure::Malformed)?;
        let (user, password) = text.split_once(':').ok_or(Failure::Malformed)?;
        htpasswd.verify(user, password).await
    }
}

/// The trusted proxies of a group and the headers they set.
#[derive(Debug)]
struct TrustedProxies {
    nets: Vec<ipnet::IpNet>,
    user: Vec<http::HeaderName>,
    email: Vec<http::HeaderName>,
    groups: Vec<http::HeaderName>,
}

impl TrustedProxies {
    fn new(group: &'static str, s: &ProxySettings) -> Result<Self, AuthError> {
        let invalid = |message: String| AuthError::Invalid {
            group,
            what: "trusted_proxies",
            message,
        };
        if s.addresses.is_empty() {
            return Err(invalid("addresses: list at least one proxy address".into()));
        }
        let mut nets = Vec::new();
        for a in &s.addresses {
            let net = a
                .parse::<ipnet::IpNet>()
                .or_else(|_| a.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    invalid(format!(
                        "addresses: {a:?} is not an IP address or CIDR range"
                    ))
                })?;
            nets.push(net);
        }
        let names = |configured: &Option<String>, defaults: &[&'static str]| {
            let mut out = Vec::new();
            if let Some(c) = configured {
                out.push(
                    http::HeaderName::try_from(c.as_str())
                        .map_err(|_| invalid(format!("{c:?} is not a header name")))?,
                );
            }
            for d in defaults {
                out.push(http::HeaderName::from_static(d));
            }
            Ok::<_, AuthError>(out)
        };
        Ok(TrustedProxies {
            nets,
            user: names(&s.user_header, &["x-forwarded-user", "x-auth-request-user"])?,
            email: names(
                &s.email_header,
                &["x-forwarded-email", "x-auth-request-email"],
            )?,
            groups: names(
                &s.groups_header,
                &["x-forwarded-groups", "x-auth-request-groups"],
            )?,
        })
    }

    fn first<'h>(headers: &'h HeaderMap, names: &[http::HeaderName]) -> Option<&'h str> {
        names
            .iter()
            .filter_map(|n| headers.get(n))
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .find(|v| !v.is_empty())
    }

    /// The proxy's user, when the request carries its headers: from a
    /// trusted peer it is believed, from anyone else it is refused.
    fn identify(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Option<Identity>, Failure> {
        let carries = self
            .user
            .iter()
            .chain(&self.email)
            .chain(&self.groups)
            .any(|n| headers.contains_key(n));
        if !carries {
            return Ok(None);
        }
        let trusted = peer.is_some_and(|ip| {
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
                v4 => v4,
            };
            self.nets.iter().any(|n| n.contains(&ip))
        });
        if !trusted {
            return Err(Failure::UntrustedProxy);
        }
        let subject = Self::first(headers, &self.user)
            .or_else(|| Self::first(headers, &self.email))
            .ok_or(Failure::Missing)?;
        Ok(Some(Identity {
            subject: subject.to_string(),
            method: AuthMethod::Proxy,
            tenants: TenantGrant::Any,
        }))
    }
}

/// Parses a duration setting (`30s`, `5m`, `1h`).
pub(crate) fn parse_interval(
    group: &'static str,
    what: &'static str,
    text: &str,
) -> Result<Duration, AuthError> {
    let nanos = spoor_model::parse_go_duration(text).map_err(|message| AuthError::Invalid {
        group,
        what,
        message,
    })?;
    u64::try_from(nanos)
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_nanos)
        .ok_or_else(|| AuthError::Invalid {
            group,
            what,
            message: format!("{text:?} must be positive"),
        })
}

impl crate::net::NetState {
    /// The server's authentication, built from `config.security.auth` on
    /// first use (files read then; errors are reported at start).
    pub fn auth(&self) -> Result<Arc<Auth>, AuthError> {
        let mut slot = self.auth.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(auth) = slot.as_ref() {
            return Ok(auth.clone());
        }
        let auth = Arc::new(Auth::load(&self.config.security.auth)?);
        *slot = Some(auth.clone());
        Ok(auth)
    }

    /// The authentication counters, when authentication was set up.
    pub fn render_auth_prometheus(&self) -> String {
        self.auth
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|a| a.metrics.render_prometheus())
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn tokens_group(
        group: Group,
        extra: impl FnOnce(&mut GroupAuthSettings),
    ) -> (GroupAuth, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, "tok-a alpha tenant-a\n").unwrap();
        let mut s = GroupAuthSettings {
            tokens_file: Some(path),
            ..Default::default()
        };
        extra(&mut s);
        let g = GroupAuth::load(group, &s, Arc::default(), Arc::default()).unwrap();
        (g, dir)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    async fn auth(g: &GroupAuth, h: &HeaderMap, peer: Option<IpAddr>) -> Result<Identity, Failure> {
        g.authenticate(&RequestFacts {
            headers: Some(h),
            peer,
            certificate: None,
        })
        .await
    }

    #[tokio::test]
    async fn an_open_group_is_anonymous_and_a_protected_one_needs_credentials() {
        let open = GroupAuth::open(Group::Ingest, Arc::default(), Arc::default());
        assert!(!open.is_protected());
        let h = headers(&[("authorization", "Bearer whatever")]);
        assert_eq!(auth(&open, &h, None).await.unwrap(), Identity::anonymous());

        let (g, _dir) = tokens_group(Group::Ingest, |_| {});
        assert!(g.is_protected());
        assert_eq!(
            auth(&g, &HeaderMap::new(), None).await.unwrap_err(),
            Failure::Missing
        );
        let id = auth(&g, &headers(&[("authorization", "Bearer tok-a")]), None)
            .await
            .unwrap();
        assert_eq!(
            (id.subject.as_str(), id.method),
            ("alpha", AuthMethod::Token)
        );
        assert_eq!(id.tenants, TenantGrant::Only(vec!["tenant-a".into()]));
        let id = auth(&g, &headers(&[("x-api-key", "tok-a")]), None)
            .await
            .unwrap();
        assert_eq!(id.subject, "alpha");
        assert_eq!(
            auth(&g, &headers(&[("authorization", "Bearer tok-b")]), None)
                .await
                .unwrap_err(),
            Failure::UnknownToken
        );
        // Basic is not configured: refused, not anonymous.
        assert_eq!(
            auth(&g, &headers(&[("authorization", "Basic YTpi")]), None)
                .await
                .unwrap_err(),
            Failure::MethodNotAccepted
        );
        assert_eq!(
            auth(&g, &headers(&[("authorization", "Bearer")]), None)
                .await
                .unwrap_err(),
            Failure::Malformed
        );
        assert_eq!(g.challenge(), "Bearer realm=\"spoor\"");
    }

    #[tokio::test]
    async fn client_certificates_authenticate_when_enabled() {
        let (g, _dir) = tokens_group(Group::Ingest, |s| s.client_certificates = true);
        let cert = crate::net::tls::PeerCertificate {
            common_name: None,
            dns_names: vec!["agent-1.example".into()],
            emails: vec![],
            uris: vec![],
        };
        let h = HeaderMap::new();
        let id = g
            .authenticate(&RequestFacts {
                headers: Some(&h),
                peer: None,
                certificate: Some(&cert),
            })
            .await
            .unwrap();
        assert_eq!(
            (id.subject.as_str(), id.method),
            ("agent-1.example", AuthMethod::ClientCertificate)
        );
        // Without the setting a certificate proves nothing.
        let (g, _dir) = tokens_group(Group::Ingest, |_| {});
        let r = g
            .authenticate(&RequestFacts {
                headers: Some(&h),
                peer: None,
                certificate: Some(&cert),
            })
            .await;
        assert_eq!(r.unwrap_err(), Failure::Missing);
    }

    #[tokio::test]
    async fn proxy_headers_are_believed_only_from_trusted_addresses() {
        let (g, _dir) = tokens_group(Group::Query, |s| {
            s.trusted_proxies = Some(ProxySettings {
                addresses: vec!["10.1.0.0/16".into(), "192.168.7.7".into()],
                ..Default::default()
            })
        });
        let h = headers(&[
            ("x-forwarded-user", "bob"),
            ("x-forwarded-email", "bob@example.com"),
        ]);
        let trusted: IpAddr = "10.1.2.3".parse().unwrap();
        let id = auth(&g, &h, Some(trusted)).await.unwrap();
        assert_eq!((id.subject.as_str(), id.method), ("bob", AuthMethod::Proxy));
        let mapped: IpAddr = "::ffff:192.168.7.7".parse().unwrap();
        assert_eq!(auth(&g, &h, Some(mapped)).await.unwrap().subject, "bob");
        let h2 = headers(&[("x-auth-request-email", "carol@example.com")]);
        assert_eq!(
            auth(&g, &h2, Some(trusted)).await.unwrap().subject,
            "carol@example.com"
        );
        // The same headers from anyone else are refused, not ignored.
        let untrusted: IpAddr = "10.2.0.1".parse().unwrap();
        assert_eq!(
            auth(&g, &h, Some(untrusted)).await.unwrap_err(),
            Failure::UntrustedProxy
        );
        assert_eq!(
            auth(&g, &h, None).await.unwrap_err(),
            Failure::UntrustedProxy
        );
        // A bad address is a start error.
        let bad = GroupAuthSettings {
            trusted_proxies: Some(ProxySettings {
                addresses: vec!["10.0.0.0/99".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = GroupAuth::load(Group::Query, &bad, Arc::default(), Arc::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("security.auth.query.trusted_proxies"),
            "{err}"
        );
    }

    #[test]
    fn settings_parse_from_yaml_and_public_status_is_admin_only() {
        let doc = serde_json::json!({
            "ingest": {"tokens_file": "/t", "client_certificates": true},
            "query": {
                "oidc": {"issuer": "http://i", "audience": "spoor", "required_claims": {"groups": "tracing"}},
                "trusted_proxies": {"addresses": ["127.0.0.1"]}
            },
            "admin": {"public_status": false}
        });
        let s: AuthSettings = serde_json::from_value(doc).unwrap();
        assert!(
            serde_json::from_value::<AuthSettings>(
                serde_json::json!({"ingest": {"token_file": "/t"}})
            )
            .is_err()
        );
        assert!(s.group(Group::Ingest).unwrap().has_method());
        assert_eq!(
            s.query
                .as_ref()
                .unwrap()
                .oidc
                .as_ref()
                .unwrap()
                .required_claims["groups"],
            "tracing"
        );
        assert_eq!(s.admin.as_ref().unwrap().public_status, Some(false));
        assert!(s.group(Group::Internal).is_none());
        let bad = GroupAuthSettings {
            public_status: Some(true),
            ..Default::default()
        };
        assert!(GroupAuth::load(Group::Query, &bad, Arc::default(), Arc::default()).is_err());
        let admin = GroupAuth::open(Group::Admin, Arc::default(), Arc::default());
        assert!(admin.is_public(&http::Method::GET, "/status"));
        assert!(!admin.is_public(&http::Method::GET, "/metrics"));
        assert!(!admin.is_public(&http::Method::POST, "/status"));
    }

    #[test]
    fn metrics_render_by_group_and_reason() {
        let m = AuthMetrics::default();
        m.failure(Group::Ingest, Failure::Missing);
        m.failure(Group::Ingest, Failure::Missing);
        m.success(Group::Query, AuthMethod::Basic);
        let text = m.render_prometheus();
        assert!(
            text.contains(
                "spoor_auth_failures_total{group=\"ingest\",reason=\"missing_credentials\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("spoor_auth_success_total{group=\"query\",method=\"basic\"} 1"),
            "{text}"
        );
        assert_eq!(m.failures(Group::Ingest, "missing_credentials"), 2);
    }
}
