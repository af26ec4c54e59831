//! Remote sampling endpoints, and where strategies come from.
//!
//! - HTTP (5778), as Jaeger's sampling handler and v1 agent answer it:
//!   `GET /?service=` in the legacy form (`"strategyType":0|1`, for
//!   jaeger-client ≤ 0.9.2), `GET /baggageRestrictions?service=` with an empty
//!   list, and any other path (`/sampling`, `/api/sampling`, …) in proto-JSON
//!   (`"strategyType":"PROBABILISTIC"`). `service` must be given exactly once,
//!   else 400 `'service' parameter must be provided once`.
//! - gRPC `jaeger.api_v2.SamplingManager/GetSamplingStrategy`, on its own
//!   port (5779, [`serve_grpc`]) and next to `CollectorService` on 14250
//!   ([`sampling_manager_service`]).
//! - Strategy sources for the provider: a file ([`FileSource`]) or an
//!   `http://` URL ([`UrlSource`], fetched with a 1 s timeout; 503 means
//!   "keep what you have"). `https://` URLs are not supported: Spoor carries
//!   no TLS client.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use spoor_codec::sampling_json::{self, MAX_STRATEGIES_BYTES};
use spoor_model::sampling::ParsedStrategies;
use spoor_proto::jaeger::api_v2 as pb;
use spoor_proto::jaeger::api_v2::sampling_manager_server::{
    SamplingManager, SamplingManagerServer,
};
use spoor_service::sampling::{
    Fetched, SamplingError, SamplingOptions, SamplingProvider, StrategyProvider, StrategySource,
};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::error::{go_http_error, json_response};
use crate::params::QueryParams;
use crate::{AppState, ServerError};

/// Jaeger's timeout for fetching strategies from a URL.
pub const URL_FETCH_TIMEOUT: Duration = Duration::from_secs(1);

/// The 400 message of a request without exactly one `service`.
pub const SERVICE_PARAM_ERROR: &str = "'service' parameter must be provided once";

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// The sampling HTTP server's router (every path; see the module docs).
pub fn http_router(provider: Arc<dyn StrategyProvider>) -> Router {
    Router::new().fallback(serve_http).with_state(provider)
}

/// Which answer a path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Proto,
    Legacy,
    Baggage,
}

fn form_of(path: &str) -> Form {
    match path {
        "/" | "" => Form::Legacy,
        "/baggageRestrictions" | "/api/baggageRestrictions" => Form::Baggage,
        _ => Form::Proto,
    }
}

async fn serve_http(State(provider): State<Arc<dyn StrategyProvider>>, uri: Uri) -> Response {
    let params = QueryParams::parse(uri.query());
    let services = params.all("service");
    let [service] = services.as_slice() else {
        return go_http_error(StatusCode::BAD_REQUEST, SERVICE_PARAM_ERROR.into());
    };
    let form = form_of(uri.path());
    if form == Form::Baggage {
        // No baggage restrictions are configured: an empty list (as Jaeger's
        // all-in-one without a baggage manager answered).
        return json_response(StatusCode::OK, b"[]".to_vec());
    }
    let strategy = match provider.get_sampling_strategy(service).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(service = %service, error = %e, "sampling strategy request failed");
            return go_http_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("collector error: {e}").into_bytes(),
            );
        }
    };
    let body = match form {
        Form::Legacy => match sampling_json::encode_response_legacy(&strategy) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(service = %service, error = %e, "no legacy form for this strategy");
                return go_http_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    b"cannot marshall to JSON".to_vec(),
                );
            }
        },
        _ => sampling_json::encode_response(&strategy),
    };
    json_response(StatusCode::OK, body)
}

// ---------------------------------------------------------------------------
// gRPC
// ---------------------------------------------------------------------------

/// The gRPC `SamplingManager` over a [`StrategyProvider`].
pub struct SamplingGrpc {
    provider: Arc<dyn StrategyProvider>,
}

#[tonic::async_trait]
impl SamplingManager for SamplingGrpc {
    async fn get_sampling_strategy(
        &self,
        request: tonic::Request<pb::SamplingStrategyParameters>,
    ) -> Result<tonic::Response<pb::SamplingStrategyResponse>, tonic::Status> {
        let service = request.into_inner().service_name;
        match self.provider.get_sampling_strategy(&service).await {
            Ok(s) => Ok(tonic::Response::new(sampling_json::to_proto(&s))),
            Err(e) => {
                tracing::warn!(service = %service, error = %e, "sampling strategy request failed");
                Err(match e {
                    SamplingError::Upstream(m) => {
                        tonic::Status::unavailable(format!("collector error: {m}"))
                    }
                    other => tonic::Status::internal(other.to_string()),
                })
            }
        }
    }
}

/// A `SamplingManager` server answering from `provider`.
pub fn sampling_manager_server(
    provider: Arc<dyn StrategyProvider>,
) -> SamplingManagerServer<SamplingGrpc> {
    SamplingManagerServer::new(SamplingGrpc { provider })
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Zstd)
}

/// The `SamplingManager` service of a collector, to serve next to
/// `CollectorService` (port 14250) or alone (port 5779).
pub fn sampling_manager_service(
    state: Arc<AppState>,
) -> SamplingManagerServer<impl SamplingManager> {
    sampling_manager_server(state.sampling.clone())
}

/// Serves `SamplingManager` on `listener` until `shutdown`.
pub async fn serve_grpc(
    listener: impl Into<crate::net::ProtectedListener>,
    provider: Arc<dyn StrategyProvider>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let listener = listener.into();
    listener
        .grpc_server()
        .add_service(sampling_manager_server(provider))
        .serve_with_incoming_shutdown(listener.grpc_incoming(), shutdown.cancelled_owned())
        .await
        .map_err(|e| ServerError::Serve {
            what: "sampling gRPC",
            message: e.to_string(),
        })
}

// ---------------------------------------------------------------------------
// Strategy sources
// ---------------------------------------------------------------------------

/// A strategies source that cannot be used as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// `https://` (or another scheme) was given.
    #[error(
        "sampling strategies URL {0:?}: only http:// URLs are supported (Spoor has no TLS client); \
         use a local file or an http:// URL"
    )]
    UnsupportedScheme(String),
    /// The URL does not parse or lacks a host.
    #[error("sampling strategies URL {url:?} is invalid: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

fn parse_with_codec(bytes: &[u8], default_probability: f64) -> Result<ParsedStrategies, String> {
    sampling_json::parse_strategies(bytes, default_probability).map_err(|e| e.to_string())
}

/// Strategies from a local file, re-read on every reload.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    /// A source reading `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSource { path: path.into() }
    }
}

#[tonic::async_trait]
impl StrategySource for FileSource {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn fetch(&self) -> Result<Fetched, String> {
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
            use std::io::Read as _;
            let file = std::fs::File::open(&path)
                .map_err(|e| format!("failed to read strategies file {}: {e}", path.display()))?;
            let mut bytes = Vec::new();
            file.take(MAX_STRATEGIES_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("failed to read strategies file {}: {e}", path.display()))?;
            if bytes.len() > MAX_STRATEGIES_BYTES {
                return Err(format!(
                    "strategies file {} is larger than {MAX_STRATEGIES_BYTES} bytes",
                    path.display()
                ));
            }
            Ok(bytes)
        })
        .await
        .map_err(|e| format!("failed to read strategies file: {e}"))??;
        Ok(Fetched::Content(read))
    }

    fn parse(&self, bytes: &[u8], default_probability: f64) -> Result<ParsedStrategies, String> {
        parse_with_codec(bytes, default_probability)
    }
}

/// Strategies downloaded from an `http://` URL with a plain HTTP/1.1 GET.
#[derive(Debug, Clone)]
pub struct UrlSource {
    url: String,
    uri: Uri,
    timeout: Duration,
}

impl UrlSource {
    /// A source fetching `url` (which must be `http://…`) with Jaeger's 1 s timeout.
    pub fn new(url: &str) -> Result<Self, SourceError> {
        let uri: Uri =
            url.parse()
                .map_err(|e: axum::http::uri::InvalidUri| SourceError::InvalidUrl {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
        match uri.scheme_str() {
            Some("http") => {}
            _ => return Err(SourceError::UnsupportedScheme(url.to_string())),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(SourceError::InvalidUrl {
                url: url.to_string(),
                reason: "no host".into(),
            });
        }
        Ok(UrlSource {
            url: url.to_string(),
            uri,
            timeout: URL_FETCH_TIMEOUT,
        })
    }

    /// The same source with another fetch timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn get(&self) -> Result<(StatusCode, Bytes), String> {
        let host = self
            .uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = self.uri.port_u16().unwrap_or(80);
        let authority = self
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| host.clone());
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake failed: {e}"))?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::USER_AGENT, "spoor")
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let result = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_STRATEGIES_BYTES)
                .collect()
                .await
                .map_err(|e| format!("cannot read the response body: {e}"))?
                .to_bytes();
            Ok((status, body))
        }
        .await;
        driver.abort();
        result
    }
}

#[tonic::async_trait]
impl StrategySource for UrlSource {
    fn describe(&self) -> String {
        self.url.clone()
    }

    async fn fetch(&self) -> Result<Fetched, String> {
        let (status, body) = tokio::time::timeout(self.timeout, self.get())
            .await
            .map_err(|_| {
                format!(
                    "failed to download sampling strategies: no answer within {:?}",
                    self.timeout
                )
            })?
            .map_err(|e| format!("failed to download sampling strategies: {e}"))?;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return Ok(Fetched::Unavailable);
        }
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            return Err(format!(
                "receiving {status} while downloading strategies file: {text}"
            ));
        }
        Ok(Fetched::Content(body.to_vec()))
    }

    fn parse(&self, bytes: &[u8], default_probability: f64) -> Result<ParsedStrategies, String> {
        parse_with_codec(bytes, default_probability)
    }
}

/// The source named by `spec`: an `http://` URL, or else a file path.
pub fn strategy_source(spec: &str) -> Result<Arc<dyn StrategySource>, SourceError> {
    let spec = spec.trim();
    let lower = spec.to_ascii_lowercase();
    if lower.starts_with("http://") {
        Ok(Arc::new(UrlSource::new(spec)?))
    } else if lower.starts_with("https://") {
        Err(SourceError::UnsupportedScheme(spec.to_string()))
    } else {
        Ok(Arc::new(FileSource::new(spec)))
    }
}

/// A provider from `spec` (file or URL), or on defaults when `None`.
pub async fn build_provider(
    spec: Option<&str>,
    options: SamplingOptions,
) -> Result<Arc<SamplingProvider>, SamplingError> {
    let Some(spec) = spec else {
        tracing::info!(
            default_probability = options.default_probability,
            "no sampling strategies source; every service gets the default probability"
        );
        return Ok(Arc::new(SamplingProvider::with_defaults(options)));
    };
    let source = strategy_source(spec).map_err(|e| SamplingError::Fetch {
        origin: spec.to_string(),
        message: e.to_string(),
    })?;
    Ok(Arc::new(
        SamplingProvider::from_source(source, options).await?,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_select_the_answer_form() {
        assert_eq!(form_of("/"), Form::Legacy);
        assert_eq!(form_of("/sampling"), Form::Proto);
        assert_eq!(form_of("/api/sampling"), Form::Proto);
        assert_eq!(form_of("/anything/else"), Form::Proto);
        assert_eq!(form_of("/baggageRestrictions"), Form::Baggage);
    }

    #[test]
    fn sources_are_chosen_by_scheme() {
        assert!(strategy_source("/etc/spoor/strategies.json").is_ok());
        assert!(strategy_source("http://config:8080/strategies.json").is_ok());
        let err = strategy_source("https://config/strategies.json")
            .err()
            .unwrap();
        assert!(err.to_string().contains("only http://"), "{err}");
        assert!(matches!(
            UrlSource::new("http://"),
            Err(SourceError::InvalidUrl { .. })
        ));
        assert!(matches!(
            UrlSource::new("ftp://x/y"),
            Err(SourceError::UnsupportedScheme(_))
        ));
    }
}
