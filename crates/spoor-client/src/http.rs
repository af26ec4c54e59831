//! The one HTTP/1.1 client construction of the workspace: pooled
//! keep-alive connections, `TCP_NODELAY` (requests are small and waited
//! for), `http://` and `https://` (servers verified as [`crate::tls`]
//! says), with the client's [`Credentials`] on every request.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::ClientError;
use crate::credentials::{ClientSecurity, Credentials};

/// A pooled HTTP/1.1 client with whole request bodies, adding its
/// credentials to every request. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    credentials: Credentials,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// The streamed body of a response.
pub type ResponseBody = hyper::body::Incoming;

/// Why a request failed (connection, TLS handshake or exchange).
pub type RequestError = hyper_util::client::legacy::Error;

impl HttpClient {
    /// Sends `request` with the client's credentials added.
    pub async fn request(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<ResponseBody>, RequestError> {
        self.credentials.apply(request.headers_mut());
        self.inner.request(request).await
    }
}

/// A new pooled client without credentials, `https://` verified against
/// the system's roots only.
///
/// Falls back to a plain-HTTP-only client (with a warning) when no TLS
/// configuration can be built, e.g. a system without root certificates.
pub fn client() -> HttpClient {
    match client_with(&ClientSecurity::default()) {
        Ok(client) => client,
        Err(e) => {
            tracing::debug!(error = %e, "no TLS for https:// URLs");
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            let https = HttpsConnectorBuilder::new()
                .with_tls_config(empty_tls_config())
                .https_or_http()
                .enable_http1()
                .wrap_connector(connector);
            HttpClient {
                inner: Client::builder(TokioExecutor::new()).build(https),
                credentials: Credentials::default(),
            }
        }
    }
}

/// A configuration that trusts nothing: every `https://` handshake fails.
fn empty_tls_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| {
        b.with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    })
    .unwrap_or_else(|_| {
        rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    })
}

/// A new pooled client with `security`'s TLS options (for `https://`
/// URLs) and credentials (on every request).
pub fn client_with(security: &ClientSecurity) -> Result<HttpClient, ClientError> {
    let tls = crate::tls::client_config(&security.tls, &[])?;
    let credentials = Credentials::new(&security.credentials)?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.enforce_http(false);
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let builder = match &security.tls.server_name {
        Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(
            crate::tls::server_name(&security.tls, name)?,
        )),
        None => builder,
    };
    let https = builder.enable_http1().wrap_connector(connector);
    Ok(HttpClient {
        inner: Client::builder(TokioExecutor::new()).build(https),
        credentials,
    })
}

/// Why a `GET` failed.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// Not a valid URL.
    #[error("invalid URL {0:?}")]
    Url(String),
    /// No answer in time.
    #[error("GET {url}: no answer within {timeout:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// How long was waited.
        timeout: Duration,
    },
    /// The connection or the body failed.
    #[error("GET {url} failed: {message}")]
    Failed {
        /// The URL.
        url: String,
        /// The error and its causes.
        message: String,
    },
}

/// A `GET` request for `url` (no body).
pub fn get_request(url: &str) -> Result<Request<Full<Bytes>>, GetError> {
    let uri: Uri = url.parse().map_err(|_| GetError::Url(url.to_string()))?;
    Request::get(uri)
        .body(Full::new(Bytes::new()))
        .map_err(|_| GetError::Url(url.to_string()))
}

/// `GET url`: the status and the whole body, within `timeout`.
pub async fn get(
    client: &HttpClient,
    url: &str,
    timeout: Duration,
) -> Result<(u16, Bytes), GetError> {
    let request = get_request(url)?;
    let call = async {
        let response = client.request(request).await.map_err(|e| error_chain(&e))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| error_chain(&e))?
            .to_bytes();
        Ok::<_, String>((status, body))
    };
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(GetError::Timeout {
            url: url.to_string(),
            timeout,
        }),
        Ok(Err(message)) => Err(GetError::Failed {
            url: url.to_string(),
            message,
        }),
        Ok(Ok(answer)) => Ok(answer),
    }
}

/// An error and its sources, `a: b: c`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg
}
