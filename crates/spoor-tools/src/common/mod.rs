//! Pieces several tools share.

pub mod progress;
pub mod stream;

use anyhow::{Context, Result};

/// Logs to stderr with `filter` (e.g. `warn`), as text; a second call
/// (tests) is harmless.
pub fn init_logging(filter: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .with_context(|| format!("invalid log filter {filter:?}"))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
    Ok(())
}

/// TLS and credentials of a tool's requests (`spoor import`, `export`,
/// `tracegen`): `https://` URLs are verified against the system's roots
/// plus `--tls-ca-file`; the token, headers and tenant go on every request.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientArgs {
    /// PEM file of CA certificates trusted besides the system's roots, for `https://` URLs
    #[arg(long, value_name = "FILE")]
    pub tls_ca_file: Option<std::path::PathBuf>,

    /// PEM client certificate presented when the server asks for one (mTLS); needs `--tls-key-file`
    #[arg(long, value_name = "FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<std::path::PathBuf>,

    /// PEM private key of `--tls-cert-file`
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<std::path::PathBuf>,

    /// The name the server's certificate must carry, instead of the URL's host
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,

    /// File holding a token sent as `Authorization: Bearer TOKEN` (read again when it changes)
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<std::path::PathBuf>,

    /// Extra request header `NAME=VALUE` (repeatable; also `NAME=VALUE,NAME=VALUE`)
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<String>,

    /// Tenant sent in the `x-tenant` header (see `--tenant-header`)
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,

    /// Header that carries `--tenant`
    #[arg(long, value_name = "NAME", default_value = spoor_client::credentials::DEFAULT_TENANT_HEADER)]
    pub tenant_header: String,
}

impl ClientArgs {
    /// The flags as spoor-client's options (checked: header syntax).
    pub fn security(&self) -> Result<spoor_client::ClientSecurity> {
        let mut headers = Vec::new();
        for h in &self.headers {
            headers.extend(
                spoor_client::credentials::parse_headers(h)
                    .map_err(anyhow::Error::msg)
                    .context("invalid --header")?,
            );
        }
        Ok(spoor_client::ClientSecurity {
            tls: spoor_client::TlsOptions {
                enabled: false,
                ca_file: self.tls_ca_file.clone(),
                cert_file: self.tls_cert_file.clone(),
                key_file: self.tls_key_file.clone(),
                server_name: self.tls_server_name.clone(),
            },
            credentials: spoor_client::CredentialOptions {
                bearer_token_file: self.bearer_token_file.clone(),
                headers,
                tenant: self.tenant.clone(),
                tenant_header: Some(self.tenant_header.clone()),
            },
        })
    }
}
