//! The one TLS client construction of the workspace: rustls on ring,
//! servers verified against the system's roots plus an optional CA file,
//! an optional client certificate (mTLS) and an optional server name that
//! replaces the URL's host in the check. Verification is never skipped.
//!
//! Used by [`crate::http`] (`https://` URLs) and [`crate::grpc`] (gRPC
//! channels to `https://` endpoints); the object store and the sampling
//! strategies URL have their own HTTP clients and take the same CA file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::ClientError;

/// How an outbound connection uses TLS (flags such as `--tls-ca-file`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Use TLS even where the address has no `https://` scheme (the agent's
    /// `HOST:PORT` collector). `https://` URLs always use TLS.
    pub enabled: bool,
    /// PEM file of CA certificates trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain presented to servers that ask (mTLS);
    /// needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// The name the server's certificate is checked against instead of the
    /// URL's host.
    pub server_name: Option<String>,
}

impl TlsOptions {
    /// Whether any TLS option was given (so a bare `HOST:PORT` means TLS).
    pub fn any_set(&self) -> bool {
        self.enabled
            || self.ca_file.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.server_name.is_some()
    }
}

fn config_error(message: String) -> ClientError {
    ClientError::Config(message)
}

/// The certificates of a PEM file (at least one).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            config_error(format!(
                "cannot read certificates from {}: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "{} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The trusted roots: the system's (when it has any) and the CA file's.
fn root_store(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "a system root certificate could not be loaded");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system root certificates");
    if let Some(path) = ca_file {
        for cert in read_certificates(path)? {
            roots.add(cert).map_err(|e| {
                config_error(format!(
                    "{}: not a usable CA certificate: {e}",
                    path.display()
                ))
            })?;
        }
    }
    if roots.is_empty() {
        // Plain `http://` still works; every `https://` handshake will fail
        // with an unknown issuer, which names the cause.
        tracing::debug!("no trusted CA certificates: the system has none and no CA file was given");
    }
    Ok(roots)
}

/// A rustls client configuration for `options`, offering `alpn` (e.g.
/// `h2` for gRPC; empty for HTTP/1.1).
pub fn client_config(
    options: &TlsOptions,
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(format!("TLS: {e}")))?
        .with_root_certificates(root_store(options.ca_file.as_deref())?);
    let mut config = match (&options.cert_file, &options.key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = read_certificates(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                config_error(format!(
                    "cannot read a private key from {}: {e}",
                    key.display()
                ))
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| config_error(format!("client certificate {}: {e}", cert.display())))?
        }
        (Some(_), None) => {
            return Err(config_error(
                "a TLS client certificate needs its key file".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(config_error(
                "a TLS client key needs its certificate file".into(),
            ));
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The name a server's certificate is checked against: the override when
/// given, else `host` (an IPv6 literal without its brackets).
pub fn server_name(options: &TlsOptions, host: &str) -> Result<ServerName<'static>, ClientError> {
    let name = options.server_name.as_deref().unwrap_or(host);
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    ServerName::try_from(name.to_string())
        .map_err(|e| config_error(format!("invalid TLS server name {name:?}: {e}")))
}
