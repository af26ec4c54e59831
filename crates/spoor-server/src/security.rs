//! What protects Spoor's listeners beyond connection limits (docs/security.md):
//! TLS ([`crate::net::tls`]), authentication ([`crate::auth`]) and tenants
//! ([`crate::tenancy`]), each configured per listener [`Group`].

use serde::Deserialize;

/// The listener groups security is configured by. Every row of
/// [`crate::listeners::LISTENERS`] names its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Span receivers (OTLP, Jaeger, Zipkin) and remote sampling: what
    /// tracers and their SDKs talk to.
    Ingest,
    /// The query APIs, the web UI and export.
    Query,
    /// Health, readiness and metrics.
    Admin,
    /// Spoor's own API between its distributed roles.
    Internal,
}

impl Group {
    /// Every group, in the order the docs list them.
    pub const ALL: [Group; 4] = [Group::Ingest, Group::Query, Group::Admin, Group::Internal];

    /// Its name in configuration, logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Group::Ingest => "ingest",
            Group::Query => "query",
            Group::Admin => "admin",
            Group::Internal => "internal",
        }
    }
}

/// The `security:` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// TLS on TCP listeners; `None` = plain TCP.
    #[serde(default)]
    pub tls: Option<crate::net::tls::TlsSettings>,
    /// Who may call each listener group.
    #[serde(default)]
    pub auth: crate::auth::AuthSettings,
    /// Tenants kept apart; `None` = one tenant.
    #[serde(default)]
    pub tenancy: Option<crate::tenancy::TenancySettings>,
    /// The web UI's own OIDC login; `None` = no login page.
    #[serde(default)]
    pub login: Option<crate::auth::login::LoginSettings>,
}
