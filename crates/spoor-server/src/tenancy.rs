//! Tenants kept apart: which tenant a request is for, and each tenant's
//! storage, limits and metrics (docs/security.md, "Tenants").
//!
//! With `security.tenancy` set, every tenant of the allow-list gets its own
//! [`AppState`]: its own query service and ingester over its own store, its
//! own memory budget, heavy-query slots and ingest rate. Each listener of the
//! ingest and query groups then serves one router (HTTP) or service (gRPC)
//! per tenant, built from that tenant's state, and a dispatcher in front of
//! them resolves the request's tenant ([`Resolver`]) and hands the request to
//! that tenant's router with a [`Tenant`] in its extensions. Handlers thus
//! cannot reach another tenant's data: the state they were built with holds
//! only their tenant's. Without tenancy the routers are the plain ones and
//! nothing is added to the request path.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use spoor_model::SpanBatch;
use spoor_storage::{SpanWriter, StorageError, StorageErrorKind};

use crate::AppState;
use crate::auth::Identity;

/// The tenant header Jaeger uses by default.
pub const DEFAULT_HEADER: &str = "x-tenant";

/// `security.tenancy` of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancySettings {
    /// The header (HTTP) and metadata key (gRPC) naming the tenant,
    /// case-insensitive; Jaeger's `x-tenant` by default (Tempo and Mimir
    /// use `X-Scope-OrgID`).
    #[serde(default = "default_header")]
    pub header: String,
    /// The allow-list: every tenant Spoor keeps apart. Required.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// When set, a request without the header takes its tenant from its
    /// token: the one tenant the authenticated identity is granted (a
    /// tokens file's tenant column, an OIDC token's claim of this name).
    #[serde(default)]
    pub claim: Option<String>,
    /// Tenants each authenticated subject may use (intersected with what
    /// its credential grants). A subject not listed is bound by its
    /// credential only.
    #[serde(default)]
    pub grants: BTreeMap<String, Vec<String>>,
    /// The tenant of spans received over UDP (Jaeger Thrift, which carries
    /// no headers); without it UDP datagrams are refused and counted as drops.
    #[serde(default)]
    pub udp_tenant: Option<String>,
    /// Per-tenant limits.
    #[serde(default)]
    pub limits: LimitsSettings,
}

fn default_header() -> String {
    DEFAULT_HEADER.into()
}

impl Default for TenancySettings {
    fn default() -> Self {
        TenancySettings {
            header: default_header(),
            tenants: Vec::new(),
            claim: None,
            grants: BTreeMap::new(),
            udp_tenant: None,
            limits: LimitsSettings::default(),
        }
    }
}

/// `security.tenancy.limits`: the default and each tenant's overrides.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    /// Limits of every tenant not overriding them.
    #[serde(default)]
    pub default: TenantLimits,
    /// Per tenant: the fields set here replace the default's.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantLimits>,
}

/// One tenant's limits; an unset field is unlimited (or the process-wide
/// setting).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    /// Spans per second accepted (token bucket); beyond it 429 +
    /// `Retry-After` / `RESOURCE_EXHAUSTED`.
    #[serde(default)]
    pub ingest_rate: Option<f64>,
    /// Spans the bucket holds (bursts); default one second of `ingest_rate`.
    #[serde(default)]
    pub ingest_burst: Option<f64>,
    /// Bytes of requests in flight (the tenant's own memory budget);
    /// default the process's `max_bytes_in_flight`.
    #[serde(default)]
    pub max_bytes_in_flight: Option<usize>,
    /// Retention of the tenant's blocks (a Go duration such as `72h`);
    /// default the process's `storage.retention`.
    #[serde(default)]
    pub retention: Option<String>,
    /// Heavy queries running at once for the tenant; default the process's
    /// `query_max_concurrent`.
    #[serde(default)]
    pub query_max_concurrent: Option<usize>,
}

impl TenantLimits {
    /// These limits with `over`'s fields set replacing them.
    fn overlaid(&self, over: &TenantLimits) -> TenantLimits {
        TenantLimits {
            ingest_rate: over.ingest_rate.or(self.ingest_rate),
            ingest_burst: over.ingest_burst.or(self.ingest_burst),
            max_bytes_in_flight: over.max_bytes_in_flight.or(self.max_bytes_in_flight),
            retention: over.retention.clone().or_else(|| self.retention.clone()),
            query_max_concurrent: over.query_max_concurrent.or(self.query_max_concurrent),
        }
    }
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("security.tenancy.tenants is empty: the allow-list of tenants is required")]
    NoTenants,
    #[error(
        "invalid tenant name {0:?}: use 1 to 64 of A-Z a-z 0-9 . _ - (and not \".\" or \"..\")"
    )]
    InvalidName(String),
    #[error("tenant {0:?} is listed twice in security.tenancy.tenants")]
    Duplicate(String),
    #[error("security.tenancy.header {0:?} is not a valid header name")]
    InvalidHeader(String),
    #[error("{place} names tenant {tenant:?}, which is not in security.tenancy.tenants")]
    NotListed { place: String, tenant: String },
    #[error("security.tenancy.limits: {0}")]
    InvalidLimit(String),
}

/// Whether `name` is a valid tenant name: 1 to 64 of `[A-Za-z0-9._-]`, not
/// `.` or `..` — safe as a path segment and an object-store prefix.
pub fn valid_tenant_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != "."
        && name != ".."
}

impl TenancySettings {
    /// Checks the settings: a non-empty allow-list of valid, distinct names,
    /// a valid header, and every tenant named elsewhere on the list.
    pub fn validate(&self) -> Result<(), TenancyError> {
        if self.tenants.is_empty() {
            return Err(TenancyError::NoTenants);
        }
        for (i, t) in self.tenants.iter().enumerate() {
            if !valid_tenant_name(t) {
                return Err(TenancyError::InvalidName(t.clone()));
            }
            if self.tenants[..i].contains(t) {
                return Err(TenancyError::Duplicate(t.clone()));
            }
        }
        if HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            return Err(TenancyError::InvalidHeader(self.header.clone()));
        }
        let listed = |place: String, tenant: &String| {
            if self.tenants.contains(tenant) {
                Ok(())
            } else {
                Err(TenancyError::NotListed {
                    place,
                    tenant: tenant.clone(),
                })
            }
        };
        if let Some(t) = &self.udp_tenant {
            listed("security.tenancy.udp_tenant".into(), t)?;
        }
        for (subject, tenants) in &self.grants {
            for t in tenants {
                listed(format!("security.tenancy.grants.{subject}"), t)?;
            }
        }
        for t in self.limits.tenants.keys() {
            listed("security.tenancy.limits.tenants".into(), t)?;
        }
        for t in &self.tenants {
            let l = self.limits_of(t);
            if let Some(rate) = l.ingest_rate
                && !(rate.is_finite() && rate > 0.0)
            {
                return Err(TenancyError::InvalidLimit(format!(
                    "ingest_rate of {t:?} must be a positive number"
                )));
            }
            if let Some(burst) = l.ingest_burst
                && !(burst.is_finite() && burst >= 1.0)
            {
                return Err(TenancyError::InvalidLimit(format!(
                    "ingest_burst of {t:?} must be at least 1"
                )));
            }
            if l.max_bytes_in_flight == Some(0) {
                return Err(TenancyError::InvalidLimit(format!(
                    "max_bytes_in_flight of {t:?} must be greater than 0"
                )));
            }
        }
        Ok(())
    }

    /// `tenant`'s limits: the default with its overrides.
    pub fn limits_of(&self, tenant: &str) -> TenantLimits {
        match self.limits.tenants.get(tenant) {
            Some(over) => self.limits.default.overlaid(over),
            None => self.limits.default.clone(),
        }
    }
}

/// The tenant a request is for, put in its extensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant(pub String);

/// Why a request gets no tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No header and no tenant from the token (HTTP 401, gRPC `UNAUTHENTICATED`).
    Missing,
    /// The header was sent more than once or is not text (400, `INVALID_ARGUMENT`).
    Malformed,
    /// Not on the allow-list (403, `PERMISSION_DENIED`).
    Unknown(String),
    /// The identity may not use this tenant (403, `PERMISSION_DENIED`).
    NotGranted { tenant: String, subject: String },
}

impl Refusal {
    /// The message answered (no secrets: names only).
    pub fn message(&self) -> String {
        match self {
            Refusal::Missing => "missing tenant header".into(),
            Refusal::Malformed => "the tenant header must be sent once, as text".into(),
            Refusal::Unknown(t) => format!("unknown tenant {t:?}"),
            Refusal::NotGranted { tenant, .. } => {
                format!("not allowed to use tenant {tenant:?}")
            }
        }
    }

    /// Its HTTP status.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Refusal::Missing => StatusCode::UNAUTHORIZED,
            Refusal::Malformed => StatusCode::BAD_REQUEST,
            Refusal::Unknown(_) | Refusal::NotGranted { .. } => StatusCode::FORBIDDEN,
        }
    }

    /// Its gRPC status.
    pub fn grpc_status(&self) -> tonic::Status {
        let msg = self.message();
        match self {
            Refusal::Missing => tonic::Status::unauthenticated(msg),
            Refusal::Malformed => tonic::Status::invalid_argument(msg),
            Refusal::Unknown(_) | Refusal::NotGranted { .. } => {
                tonic::Status::permission_denied(msg)
            }
        }
    }

    /// Its label in `spoor_tenant_requests_refused_total`.
    fn reason(&self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::Unknown(_) => "unknown",
            Refusal::NotGranted { .. } => "not_granted",
        }
    }
}

/// Decides a request's tenant from its headers and identity.
#[derive(Debug, Clone)]
pub struct Resolver {
    header: HeaderName,
    tenants: Vec<String>,
    claim: bool,
    grants: BTreeMap<String, Vec<String>>,
}

impl Resolver {
    /// The resolver of valid `settings` ([`TenancySettings::validate`]).
    pub fn new(settings: &TenancySettings) -> Result<Self, TenancyError> {
        settings.validate()?;
        let header = HeaderName::from_bytes(settings.header.as_bytes())
            .map_err(|_| TenancyError::InvalidHeader(settings.header.clone()))?;
        Ok(Resolver {
            header,
            tenants: settings.tenants.clone(),
            claim: settings.claim.is_some(),
            grants: settings.grants.clone(),
        })
    }

    /// The request's tenant: the header's (sent once), else — when `claim`
    /// is set — the one tenant the identity's token grants; on the
    /// allow-list, granted to the identity and to its subject by `grants`.
    /// A request without an identity (no authentication layer) is bound by
    /// the allow-list only.
    pub fn resolve(
        &self,
        headers: &HeaderMap,
        identity: Option<&Identity>,
    ) -> Result<Tenant, Refusal> {
        let mut values = headers.get_all(&self.header).iter();
        let name = match (values.next(), values.next()) {
            (Some(v), None) => v
                .to_str()
                .map_err(|_| Refusal::Malformed)?
                .trim()
                .to_owned(),
            (Some(_), Some(_)) => return Err(Refusal::Malformed),
            (None, _) => match identity.map(|i| &i.tenants) {
                Some(crate::auth::TenantGrant::Only(list)) if self.claim && list.len() == 1 => {
                    list[0].clone()
                }
                _ => return Err(Refusal::Missing),
            },
        };
        if name.is_empty() {
            return Err(Refusal::Missing);
        }
        if !self.tenants.contains(&name) {
            return Err(Refusal::Unknown(name));
        }
        if let Some(id) = identity {
            let by_config = self
                .grants
                .get(&id.subject)
                .is_none_or(|list| list.contains(&name));
            if !id.tenants.allows(&name) || !by_config {
                return Err(Refusal::NotGranted {
                    tenant: name,
                    subject: id.subject.clone(),
                });
            }
        }
        Ok(Tenant(name))
    }
}

/// A token bucket of spans: `rate` per second, holding at most `burst`. A
/// batch is taken while the bucket holds any credit, even a batch larger than
/// the credit (the bucket then goes into debt and refuses until refilled),
/// so batches larger than the burst still pass and the average stays `rate`.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: std::sync::Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64) -> Self {
        TokenBucket {
            rate,
            burst,
            state: std::sync::Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes `n` spans at `now`; `false` when the bucket is empty.
    pub fn try_take_at(&self, n: u64, now: Instant) -> bool {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (tokens, last) = &mut *guard;
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.burst);
        *last = now;
        if *tokens > 0.0 {
            *tokens -= n as f64;
            true
        } else {
            false
        }
    }

    /// Takes `n` spans now.
    pub fn try_take(&self, n: u64) -> bool {
        self.try_take_at(n, Instant::now())
    }
}

/// One tenant's counters.
#[derive(Debug, Default)]
struct TenantCounters {
    received: AtomicU64,
    refused: AtomicU64,
    throttled: AtomicU64,
}

/// Per-tenant series of `/metrics`.
#[derive(Debug, Default)]
pub struct TenantMetrics {
    tenants: BTreeMap<String, TenantCounters>,
    /// Requests refused by tenant resolution, by reason.
    requests_refused: [AtomicU64; 4],
}

const REFUSAL_REASONS: [&str; 4] = ["missing", "malformed", "unknown", "not_granted"];

impl TenantMetrics {
    /// Counters for `tenants`.
    pub fn new<'a>(tenants: impl IntoIterator<Item = &'a String>) -> Self {
        TenantMetrics {
            tenants: tenants
                .into_iter()
                .map(|t| (t.clone(), TenantCounters::default()))
                .collect(),
            requests_refused: Default::default(),
        }
    }

    fn counters(&self, tenant: &str) -> Option<&TenantCounters> {
        self.tenants.get(tenant)
    }

    fn refusal(&self, r: &Refusal) {
        if let Some(i) = REFUSAL_REASONS.iter().position(|x| *x == r.reason()) {
            self.requests_refused[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Spans of `tenant` written, refused by storage, throttled by its rate.
    pub fn spans(&self, tenant: &str) -> Option<(u64, u64, u64)> {
        self.counters(tenant).map(|c| {
            (
                c.received.load(Ordering::Relaxed),
                c.refused.load(Ordering::Relaxed),
                c.throttled.load(Ordering::Relaxed),
            )
        })
    }

    /// The series in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        type Family = (&'static str, &'static str, fn(&TenantCounters) -> u64);
        let families: [Family; 3] = [
            (
                "spoor_tenant_spans_received_total",
                "Spans of each tenant written to its store.",
                |c| c.received.load(Ordering::Relaxed),
            ),
            (
                "spoor_tenant_spans_refused_total",
                "Spans of each tenant its store refused (busy, full, failing).",
                |c| c.refused.load(Ordering::Relaxed),
            ),
            (
                "spoor_tenant_spans_throttled_total",
                "Spans of each tenant refused over its ingest rate (429 / RESOURCE_EXHAUSTED).",
                |c| c.throttled.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, get) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (tenant, c) in &self.tenants {
                let _ = writeln!(out, "{name}{{tenant=\"{tenant}\"}} {}", get(c));
            }
        }
        let name = "spoor_tenant_requests_refused_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests refused because their tenant was missing, malformed, unknown or not granted.\n# TYPE {name} counter"
        );
        for (i, reason) in REFUSAL_REASONS.iter().enumerate() {
            let v = self.requests_refused[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {v}");
        }
    }
}

impl spoor_service::telemetry::ExtraMetrics for TenantMetrics {
    fn render(&self, out: &mut String) {
        TenantMetrics::render(self, out);
    }
}

/// A tenant's store behind its ingest rate: batches beyond the rate are
/// refused as `Busy` (429 + `Retry-After`, `RESOURCE_EXHAUSTED` +
/// `RetryInfo`), and written, refused and throttled spans are counted with
/// the tenant's label.
pub struct TenantWriter {
    tenant: String,
    inner: Arc<dyn SpanWriter>,
    bucket: Option<TokenBucket>,
    metrics: Arc<TenantMetrics>,
}

impl TenantWriter {
    /// `inner` as `tenant`'s store, limited by `limits.ingest_rate`.
    pub fn new(
        tenant: &str,
        inner: Arc<dyn SpanWriter>,
        limits: &TenantLimits,
        metrics: Arc<TenantMetrics>,
    ) -> Self {
        let bucket = limits
            .ingest_rate
            .map(|rate| TokenBucket::new(rate, limits.ingest_burst.unwrap_or(rate.max(1.0))));
        TenantWriter {
            tenant: tenant.to_owned(),
            inner,
            bucket,
            metrics,
        }
    }
}

impl SpanWriter for TenantWriter {
    fn write_spans<'a, 'b>(
        &'a self,
        batch: SpanBatch,
    ) -> Pin<Box<dyn Future<Output = Result<(), StorageError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            let spans = batch.len() as u64;
            let counters = self.metrics.counters(&self.tenant);
            if let Some(bucket) = &self.bucket
                && !bucket.try_take(spans)
            {
                if let Some(c) = counters {
                    c.throttled.fetch_add(spans, Ordering::Relaxed);
                }
                tracing::debug!(tenant = %self.tenant, spans, "ingest throttled: tenant over its ingest rate");
                return Err(StorageError::new(
                    StorageErrorKind::Busy,
                    format!(
                        "tenant {:?} is over its ingest rate; retry later",
                        self.tenant
                    ),
                ));
            }
            let result = self.inner.write_spans(batch).await;
            if let Some(c) = counters {
                match &result {
                    Ok(()) => c.received.fetch_add(spans, Ordering::Relaxed),
                    Err(_) => c.refused.fetch_add(spans, Ordering::Relaxed),
                };
            }
            result
        })
    }
}

/// A sink that refuses every batch: UDP receivers under tenancy without a
/// `udp_tenant` (the datagrams are counted as drops).
pub struct NoTenantSink;

#[async_trait::async_trait]
impl spoor_service::BatchSink for NoTenantSink {
    async fn submit(
        &self,
        _batch: SpanBatch,
        _wire_bytes: usize,
        _source: spoor_service::Source,
    ) -> Result<spoor_service::IngestOutcome, spoor_service::IngestError> {
        Err(spoor_service::IngestError::Storage(StorageError::new(
            StorageErrorKind::Unsupported,
            "tenancy is on and security.tenancy.udp_tenant is not set: UDP spans have no tenant",
        )))
    }
}

/// The tenants of a process: the resolver and each tenant's state.
pub struct Tenants {
    resolver: Resolver,
    states: HashMap<String, Arc<AppState>>,
    /// The allow-list, in configuration order.
    order: Vec<String>,
    udp_tenant: Option<String>,
    metrics: Arc<TenantMetrics>,
}

impl std::fmt::Debug for Tenants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenants")
            .field("tenants", &self.order)
            .finish_non_exhaustive()
    }
}

impl Tenants {
    /// The tenants of `settings`, each served with its state from `states`
    /// (one per tenant of the allow-list).
    pub fn new(
        settings: &TenancySettings,
        states: HashMap<String, Arc<AppState>>,
        metrics: Arc<TenantMetrics>,
    ) -> Result<Self, TenancyError> {
        let resolver = Resolver::new(settings)?;
        for t in &settings.tenants {
            if !states.contains_key(t) {
                return Err(TenancyError::NotListed {
                    place: "the tenants' stores".into(),
                    tenant: t.clone(),
                });
            }
        }
        Ok(Tenants {
            resolver,
            states,
            order: settings.tenants.clone(),
            udp_tenant: settings.udp_tenant.clone(),
            metrics,
        })
    }

    /// The resolver.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// `tenant`'s state.
    pub fn state(&self, tenant: &str) -> Option<&Arc<AppState>> {
        self.states.get(tenant)
    }

    /// The tenants, in configuration order.
    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// The per-tenant counters.
    pub fn metrics(&self) -> &Arc<TenantMetrics> {
        &self.metrics
    }

    /// Where UDP receivers hand their batches: `udp_tenant`'s ingester,
    /// else a sink refusing everything.
    pub fn udp_sink(&self) -> Arc<dyn spoor_service::BatchSink> {
        match self.udp_tenant.as_ref().and_then(|t| self.states.get(t)) {
            Some(state) => state.ingester.clone(),
            None => Arc::new(NoTenantSink),
        }
    }

    /// Resolves the tenant of a request, counting refusals.
    fn resolve(&self, headers: &HeaderMap, identity: Option<&Identity>) -> Result<Tenant, Refusal> {
        let result = self.resolver.resolve(headers, identity);
        if let Err(r) = &result {
            self.metrics.refusal(r);
            match r {
                Refusal::NotGranted { tenant, subject } => tracing::info!(
                    %tenant,
                    %subject,
                    "request refused: tenant not granted"
                ),
                other => tracing::debug!(reason = other.reason(), "request refused: no tenant"),
            }
        }
        result
    }
}

/// Which requests of a listener need a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every request (span receivers).
    All,
    /// Requests under `{base_path}/api` (the query HTTP listener); the web
    /// UI's pages and assets are served without one.
    Api,
}

/// The HTTP router of a listener, built by `build` from `state`: as is
/// without tenancy; with it, one router per tenant behind a dispatcher that
/// resolves each request's tenant (answering 400/401/403 with a JSON
/// `{"error": …}` when it cannot).
pub fn http_router(
    state: Arc<AppState>,
    build: fn(Arc<AppState>) -> axum::Router,
    scope: Scope,
) -> axum::Router {
    let Some(tenants) = state.tenants.clone() else {
        return build(state);
    };
    let routers: HashMap<String, axum::Router> = tenants
        .states
        .iter()
        .map(|(name, s)| (name.clone(), build(s.clone())))
        .collect();
    let open = match scope {
        Scope::All => None,
        Scope::Api => Some((build(state.clone()), state.base_path.clone())),
    };
    let dispatch = Arc::new(HttpDispatch {
        tenants,
        routers,
        open,
    });
    axum::Router::new().fallback(move |req: axum::extract::Request| {
        let dispatch = dispatch.clone();
        async move { dispatch.call(req).await }
    })
}

struct HttpDispatch {
    tenants: Arc<Tenants>,
    routers: HashMap<String, axum::Router>,
    /// The router serving requests outside the API without a tenant, and
    /// the base path.
    open: Option<(axum::Router, String)>,
}

impl HttpDispatch {
    async fn call(&self, mut req: axum::extract::Request) -> Response {
        use tower::ServiceExt as _;
        if let Some((router, base)) = &self.open {
            let path = req.uri().path();
            let rest = path.strip_prefix(base.as_str()).unwrap_or(path);
            let api = rest == "/api" || rest.starts_with("/api/");
            if !api {
                return match router.clone().oneshot(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                };
            }
        }
        let tenant = self
            .tenants
            .resolve(req.headers(), req.extensions().get::<Identity>());
        let tenant = match tenant {
            Ok(t) => t,
            Err(refusal) => {
                let body = serde_json::json!({ "error": refusal.message() });
                return (refusal.http_status(), axum::Json(body)).into_response();
            }
        };
        let Some(router) = self.routers.get(&tenant.0) else {
            return (
                StatusCode::FORBIDDEN,
                axum::Json(serde_json::json!({ "error": Refusal::Unknown(tenant.0).message() })),
            )
                .into_response();
        };
        req.extensions_mut().insert(tenant);
        match router.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    }
}

/// A gRPC service, one per tenant behind a dispatcher that resolves each
/// call's tenant from its metadata (and identity), answering
/// `UNAUTHENTICATED`, `INVALID_ARGUMENT` or `PERMISSION_DENIED` when it
/// cannot; without tenancy the one service as is.
pub struct TenantGrpc<S> {
    inner: Arc<GrpcRoutes<S>>,
}

impl<S> Clone for TenantGrpc<S> {
    fn clone(&self) -> Self {
        TenantGrpc {
            inner: self.inner.clone(),
        }
    }
}

enum GrpcRoutes<S> {
    Single(S),
    Tenants {
        tenants: Arc<Tenants>,
        services: HashMap<String, S>,
    },
}

impl<S> TenantGrpc<S> {
    /// The service `build` makes of `state`, or of each tenant's state.
    pub fn new(state: &Arc<AppState>, build: impl Fn(Arc<AppState>) -> S) -> Self {
        let inner = match &state.tenants {
            None => GrpcRoutes::Single(build(state.clone())),
            Some(tenants) => GrpcRoutes::Tenants {
                tenants: tenants.clone(),
                services: tenants
                    .states
                    .iter()
                    .map(|(name, s)| (name.clone(), build(s.clone())))
                    .collect(),
            },
        };
        TenantGrpc {
            inner: Arc::new(inner),
        }
    }
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for TenantGrpc<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower::Service<http::Request<tonic::body::Body>> for TenantGrpc<S>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        use tower::ServiceExt as _;
        let service = match &*self.inner {
            GrpcRoutes::Single(s) => s.clone(),
            GrpcRoutes::Tenants { tenants, services } => {
                let resolved = tenants.resolve(req.headers(), req.extensions().get::<Identity>());
                match resolved.and_then(|t| match services.get(&t.0) {
                    Some(s) => Ok((t, s.clone())),
                    None => Err(Refusal::Unknown(t.0)),
                }) {
                    Ok((tenant, s)) => {
                        req.extensions_mut().insert(tenant);
                        s
                    }
                    Err(refusal) => {
                        let resp = refusal.grpc_status().into_http();
                        return Box::pin(async move { Ok(resp) });
                    }
                }
            }
        };
        Box::pin(service.oneshot(req))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::auth::{AuthMethod, TenantGrant};
    use std::time::Duration;

    fn settings() -> TenancySettings {
        TenancySettings {
            tenants: vec!["a".into(), "b".into(), "c".into()],
            grants: BTreeMap::from([("alice".to_string(), vec!["a".to_string()])]),
            ..TenancySettings::default()
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn identity(subject: &str, tenants: TenantGrant) -> Identity {
        Identity {
            subject: subject.into(),
            method: AuthMethod::Token,
            tenants,
        }
    }

    #[test]
    fn tenant_names_are_safe_path_segments() {
        for good in ["a", "team-1", "A.b_c", &"x".repeat(64)] {
            assert!(valid_tenant_name(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "a\\b", &"x".repeat(65)] {
            assert!(!valid_tenant_name(bad), "{bad}");
        }
    }

    #[test]
    fn settings_are_checked() {
        assert!(settings().validate().is_ok());
        let mut s = settings();
        s.tenants.clear();
        assert!(matches!(s.validate(), Err(TenancyError::NoTenants)));
        let mut s = settings();
        s.tenants.push("../etc".into());
        assert!(matches!(s.validate(), Err(TenancyError::InvalidName(_))));
        let mut s = settings();
        s.tenants.push("a".into());
        assert!(matches!(s.validate(), Err(TenancyError::Duplicate(_))));
        let mut s = settings();
        s.udp_tenant = Some("z".into());
        assert!(matches!(s.validate(), Err(TenancyError::NotListed { .. })));
        let mut s = settings();
        s.header = "bad header".into();
        assert!(matches!(s.validate(), Err(TenancyError::InvalidHeader(_))));
        let mut s = settings();
        s.limits.tenants.insert("z".into(), TenantLimits::default());
        assert!(matches!(s.validate(), Err(TenancyError::NotListed { .. })));
        let mut s = settings();
        s.limits.default.ingest_rate = Some(0.0);
        assert!(matches!(s.validate(), Err(TenancyError::InvalidLimit(_))));
    }

    #[test]
    fn the_settings_parse_from_yaml_with_defaults() {
        let s: TenancySettings = serde_json::from_value(serde_json::json!({
            "tenants": ["a", "b"],
            "limits": {"default": {"ingest_rate": 100.0}, "tenants": {"b": {"ingest_rate": 5.0, "query_max_concurrent": 1}}}
        }))
        .unwrap();
        assert_eq!(s.header, "x-tenant");
        assert_eq!(s.limits_of("a").ingest_rate, Some(100.0));
        assert_eq!(s.limits_of("b").ingest_rate, Some(5.0));
        assert_eq!(s.limits_of("b").query_max_concurrent, Some(1));
        assert_eq!(s.limits_of("a").query_max_concurrent, None);
        assert!(
            serde_json::from_value::<TenancySettings>(
                serde_json::json!({"tenants": ["a"], "oops": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn the_header_decides_case_insensitively() {
        let r = Resolver::new(&settings()).unwrap();
        assert_eq!(
            r.resolve(&headers(&[("X-Tenant", "b")]), None),
            Ok(Tenant("b".into()))
        );
        assert_eq!(r.resolve(&headers(&[]), None), Err(Refusal::Missing));
        assert_eq!(
            r.resolve(&headers(&[("x-tenant", "")]), None),
            Err(Refusal::Missing)
        );
        assert_eq!(
            r.resolve(&headers(&[("x-tenant", "z")]), None),
            Err(Refusal::Unknown("z".into()))
        );
        assert_eq!(
            r.resolve(&headers(&[("x-tenant", "a"), ("x-tenant", "b")]), None),
            Err(Refusal::Malformed)
        );
        let mut s = settings();
        s.header = "X-Scope-OrgID".into();
        let r = Resolver::new(&s).unwrap();
        assert_eq!(
            r.resolve(&headers(&[("x-scope-orgid", "c")]), None),
            Ok(Tenant("c".into()))
        );
        assert_eq!(
            r.resolve(&headers(&[("x-tenant", "c")]), None),
            Err(Refusal::Missing)
        );
        assert_eq!(Refusal::Missing.http_status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            Refusal::Unknown("z".into()).grpc_status().code(),
            tonic::Code::PermissionDenied
        );
    }

    #[test]
    fn identities_bound_the_tenants() {
        let r = Resolver::new(&settings()).unwrap();
        let only_b = identity("ci", TenantGrant::Only(vec!["b".into()]));
        assert_eq!(
            r.resolve(&headers(&[("x-tenant", "b")]), Some(&only_b)),
            Ok(Tenant("b".into()))
        );
        assert!(matches!(
            r.resolve(&headers(&[("x-tenant", "a")]), Some(&only_b)),
            Err(Refusal::NotGranted { .. })
        ));
        // `grants` bounds a subject whose credential allows any tenant.
        let alice = identity("alice", TenantGrant::Any);
        assert_eq!(
            r.resolve(&headers(&[("x-tenant", "a")]), Some(&alice)),
            Ok(Tenant("a".into()))
        );
        assert!(matches!(
            r.resolve(&headers(&[("x-tenant", "b")]), Some(&alice)),
            Err(Refusal::NotGranted { .. })
        ));
        // Without `claim`, a token's one tenant does not replace the header.
        assert_eq!(
            r.resolve(&headers(&[]), Some(&only_b)),
            Err(Refusal::Missing)
        );
        let mut s = settings();
        s.claim = Some("tenant".into());
        let r = Resolver::new(&s).unwrap();
        assert_eq!(
            r.resolve(&headers(&[]), Some(&only_b)),
            Ok(Tenant("b".into()))
        );
        let two = identity("x", TenantGrant::Only(vec!["a".into(), "b".into()]));
        assert_eq!(r.resolve(&headers(&[]), Some(&two)), Err(Refusal::Missing));
        assert_eq!(
            r.resolve(&headers(&[("x-tenant", "b")]), Some(&two)),
            Ok(Tenant("b".into()))
        );
    }

    #[test]
    fn the_bucket_limits_the_average_rate_and_lets_large_batches_through() {
        let start = Instant::now();
        let b = TokenBucket::new(10.0, 10.0);
        assert!(b.try_take_at(8, start));
        assert!(b.try_take_at(8, start), "credit left: taken, into debt");
        assert!(!b.try_take_at(1, start));
        // 6 tokens of debt take 0.6 s to repay.
        assert!(!b.try_take_at(1, start + Duration::from_millis(500)));
        assert!(b.try_take_at(1, start + Duration::from_millis(700)));
        // A batch larger than the burst passes when the bucket is full.
        assert!(b.try_take_at(1000, start + Duration::from_secs(10)));
        assert!(!b.try_take_at(1, start + Duration::from_secs(11)));
    }

    struct Sink(std::sync::Mutex<usize>);

    impl SpanWriter for Sink {
        fn write_spans<'a, 'b>(
            &'a self,
            batch: SpanBatch,
        ) -> Pin<Box<dyn Future<Output = Result<(), StorageError>> + Send + 'b>>
        where
            'a: 'b,
            Self: 'b,
        {
            Box::pin(async move {
                *self.0.lock().unwrap() += batch.len();
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn a_tenant_over_its_rate_is_throttled_and_counted() {
        let metrics = Arc::new(TenantMetrics::new(&["a".to_string(), "b".to_string()]));
        let limits = TenantLimits {
            ingest_rate: Some(1.0),
            ingest_burst: Some(2.0),
            ..TenantLimits::default()
        };
        let sink = Arc::new(Sink(std::sync::Mutex::new(0)));
        let w = TenantWriter::new("a", sink.clone(), &limits, metrics.clone());
        let batch = || {
            spoor_model::testing::batch(
                (1..=3).map(|i| spoor_model::testing::record().trace(1).id(i).build()),
            )
        };
        assert!(w.write_spans(batch()).await.is_ok());
        let err = w.write_spans(batch()).await.unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Busy);
        assert_eq!(metrics.spans("a"), Some((3, 0, 3)));
        assert_eq!(*sink.0.lock().unwrap(), 3);
        let mut text = String::new();
        metrics.render(&mut text);
        assert!(text.contains("spoor_tenant_spans_throttled_total{tenant=\"a\"} 3\n"));
        assert!(text.contains("spoor_tenant_spans_received_total{tenant=\"b\"} 0\n"));
    }
}
