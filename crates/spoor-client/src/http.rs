//! The one HTTP/1.1 client construction of the workspace: pooled
//! keep-alive connections, `TCP_NODELAY` (requests are small and waited
//! for), plain `http://` only.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A pooled HTTP/1.1 client with whole request bodies.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The streamed body of a response.
pub type ResponseBody = hyper::body::Incoming;

/// A new pooled client.
pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
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
