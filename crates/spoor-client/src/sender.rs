//! Wire protocols: encoding a batch of spans into request bodies (or UDP
//! datagrams) and sending them, each answer read as an [`Outcome`].
//!
//! Encoding is separate from sending so that a refused request is retried
//! with the same bytes, and so that the benchmark can time either alone.
//! gRPC requests go out pre-encoded through a pass-through codec
//! ([`RawCodec`]), so the bytes counted are the bytes sent.
//!
//! Which answers are retryable is `spoor_service::retry`'s rule (OTLP's);
//! this module only reads statuses, `Retry-After` and `RetryInfo`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::ClientError;
use crate::credentials::ClientSecurity;
use crate::grpc::{GrpcChannel, RawCodec, lazy_channel};
use crate::http::{HttpClient, error_chain};
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use prost::Message;
use spoor_model::SpanRecord;
use spoor_model::group::{ArcIndex, Seen};
use spoor_proto::otlp_collector::ExportTraceServiceResponse;
use spoor_service::retry::{grpc_code_is_retryable, http_status_is_retryable};
use tonic::codec::CompressionEncoding;
use tonic::codegen::http::uri::PathAndQuery;

type Result<T, E = ClientError> = std::result::Result<T, E>;

fn config_error(message: String) -> ClientError {
    ClientError::Config(message)
}

/// Largest UDP datagram tracegen sends (Jaeger agents accept 65,000 bytes).
pub const MAX_DATAGRAM_BYTES: usize = 65_000;

/// Longest response body read (responses are small; this only bounds a
/// misbehaving target).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The gRPC path of OTLP's `TraceService/Export`.
pub const OTLP_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// The gRPC path of Jaeger's `CollectorService/PostSpans`.
pub const JAEGER_POST_SPANS_PATH: &str = "/jaeger.api_v2.CollectorService/PostSpans";

/// The wire protocols tracegen speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Protocol {
    /// OTLP over gRPC (`TraceService/Export`).
    OtlpGrpc,
    /// OTLP over HTTP, protobuf body (`POST /v1/traces`).
    OtlpHttp,
    /// OTLP over HTTP, JSON body (`POST /v1/traces`).
    OtlpHttpJson,
    /// Jaeger Thrift compact over UDP (`Agent.emitBatch`).
    JaegerUdpCompact,
    /// Jaeger Thrift binary over UDP (`Agent.emitBatch`).
    JaegerUdpBinary,
    /// Jaeger Thrift binary over HTTP (`POST /api/traces`).
    JaegerHttp,
    /// Jaeger gRPC (`CollectorService/PostSpans`).
    JaegerGrpc,
    /// Zipkin v2 JSON over HTTP (`POST /api/v2/spans`).
    Zipkin,
}

impl Protocol {
    /// The name used on the command line and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "otlp-grpc",
            Protocol::OtlpHttp => "otlp-http",
            Protocol::OtlpHttpJson => "otlp-http-json",
            Protocol::JaegerUdpCompact => "jaeger-udp-compact",
            Protocol::JaegerUdpBinary => "jaeger-udp-binary",
            Protocol::JaegerHttp => "jaeger-http",
            Protocol::JaegerGrpc => "jaeger-grpc",
            Protocol::Zipkin => "zipkin",
        }
    }

    /// Where Spoor (and Jaeger, and Zipkin) listen by default.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "http://127.0.0.1:4317",
            Protocol::OtlpHttp | Protocol::OtlpHttpJson => "http://127.0.0.1:4318/v1/traces",
            Protocol::JaegerUdpCompact => "127.0.0.1:6831",
            Protocol::JaegerUdpBinary => "127.0.0.1:6832",
            Protocol::JaegerHttp => "http://127.0.0.1:14268/api/traces",
            Protocol::JaegerGrpc => "http://127.0.0.1:14250",
            Protocol::Zipkin => "http://127.0.0.1:9411/api/v2/spans",
        }
    }

    /// The path an HTTP endpoint given without one gets.
    fn default_path(self) -> &'static str {
        match self {
            Protocol::OtlpHttp | Protocol::OtlpHttpJson => "/v1/traces",
            Protocol::JaegerHttp => "/api/traces",
            Protocol::Zipkin => "/api/v2/spans",
            _ => "/",
        }
    }

    /// UDP: nothing acknowledges what was sent.
    pub fn is_udp(self) -> bool {
        matches!(self, Protocol::JaegerUdpCompact | Protocol::JaegerUdpBinary)
    }

    /// gRPC: requests go through a channel.
    pub fn is_grpc(self) -> bool {
        matches!(self, Protocol::OtlpGrpc | Protocol::JaegerGrpc)
    }

    /// Whether `--compression gzip` applies.
    pub fn supports_gzip(self) -> bool {
        matches!(
            self,
            Protocol::OtlpGrpc | Protocol::OtlpHttp | Protocol::OtlpHttpJson | Protocol::Zipkin
        )
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A batch encoded for the wire: one or more requests (or datagrams).
#[derive(Debug, Clone, Default)]
pub struct Encoded {
    /// Each request body with the number of spans it carries.
    pub parts: Vec<(Bytes, u64)>,
    /// Spans that could not be encoded within the datagram limit.
    pub oversized: u64,
}

impl Encoded {
    /// Bytes over all parts.
    pub fn bytes(&self) -> u64 {
        self.parts.iter().map(|(b, _)| b.len() as u64).sum()
    }
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Acknowledged; `rejected` spans were refused by an OTLP partial success.
    Accepted { rejected: u64 },
    /// The target is overloaded or unavailable and said to retry: an answer
    /// OTLP calls retryable (HTTP 429/502/503/504; gRPC `UNAVAILABLE`,
    /// `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`, `RESOURCE_EXHAUSTED` with
    /// `RetryInfo`), with the wait it asked for.
    Refused {
        retry_after: Option<Duration>,
        reason: String,
    },
    /// No connection could be made: nothing was sent. Retryable.
    Unreachable { reason: String },
    /// The exchange broke off or timed out after the request went out (gRPC
    /// `CANCELLED`, `DEADLINE_EXCEEDED`): it may or may not have arrived.
    /// Retryable, as OTLP says.
    Lost { reason: String },
    /// An answer retrying cannot change (any other status), or a request
    /// that could not be sent at all.
    Rejected { reason: String },
}

impl Outcome {
    /// Whether OTLP says to send the request again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Outcome::Refused { .. } | Outcome::Unreachable { .. } | Outcome::Lost { .. }
        )
    }

    /// The wait the target asked for (`Retry-After`, `RetryInfo`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Outcome::Refused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Why the request did not succeed (empty when accepted).
    pub fn reason(&self) -> &str {
        match self {
            Outcome::Accepted { .. } => "",
            Outcome::Refused { reason, .. }
            | Outcome::Unreachable { reason }
            | Outcome::Lost { reason }
            | Outcome::Rejected { reason } => reason,
        }
    }
}

/// Settings shared by every sender.
#[derive(Debug, Clone)]
pub struct SenderOptions {
    pub protocol: Protocol,
    /// URL (HTTP, gRPC) or `host:port` (UDP); the protocol's default when empty.
    pub endpoint: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Compress request bodies with gzip.
    pub gzip: bool,
    /// TLS for `https://` endpoints and credentials on every request.
    pub security: ClientSecurity,
}

/// What every worker's sender shares: the gRPC channel or HTTP client (both
/// pool connections), or the UDP target.
#[derive(Debug, Clone)]
pub struct Connector {
    options: SenderOptions,
    target: TargetKind,
}

#[derive(Debug, Clone)]
enum TargetKind {
    Grpc(GrpcChannel),
    Http { client: Box<HttpClient>, uri: Uri },
    Udp(SocketAddr),
}

impl Connector {
    /// Checks the endpoint and prepares the transport. gRPC connects lazily,
    /// so an absent target shows up as refusals (UNAVAILABLE), not here.
    pub async fn new(options: SenderOptions) -> Result<Connector> {
        let protocol = options.protocol;
        if options.gzip && !protocol.supports_gzip() {
            return Err(config_error(format!(
                "--compression gzip is not supported for {protocol}"
            )));
        }
        let endpoint = if options.endpoint.is_empty() {
            protocol.default_endpoint().to_string()
        } else {
            options.endpoint.clone()
        };
        let mut endpoint = endpoint;
        let target = if protocol.is_udp() {
            let hostport = endpoint.strip_prefix("udp://").unwrap_or(&endpoint);
            let addr = tokio::net::lookup_host(hostport)
                .await
                .map_err(|source| ClientError::Io {
                    what: format!("cannot resolve {hostport:?}"),
                    source,
                })?
                .next()
                .ok_or_else(|| config_error(format!("{hostport:?} resolves to no address")))?;
            TargetKind::Udp(addr)
        } else {
            let uri = http_uri(&endpoint, protocol)?;
            endpoint = uri.to_string();
            if protocol.is_grpc() {
                let channel =
                    lazy_channel(uri, options.timeout, options.timeout, &options.security)?;
                TargetKind::Grpc(channel)
            } else {
                let client = Box::new(crate::http::client_with(&options.security)?);
                TargetKind::Http { client, uri }
            }
        };
        Ok(Connector {
            options: SenderOptions {
                endpoint,
                ..options
            },
            target,
        })
    }

    /// The endpoint in use.
    pub fn endpoint(&self) -> &str {
        &self.options.endpoint
    }

    /// A sender for one worker.
    pub async fn sender(&self) -> Result<Sender> {
        let transport = match &self.target {
            TargetKind::Grpc(channel) => {
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                if self.options.gzip {
                    grpc = grpc.send_compressed(CompressionEncoding::Gzip);
                }
                Transport::Grpc(grpc)
            }
            TargetKind::Http { client, uri } => Transport::Http {
                client: client.clone(),
                uri: uri.clone(),
            },
            TargetKind::Udp(addr) => {
                let local: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let socket =
                    tokio::net::UdpSocket::bind(local)
                        .await
                        .map_err(|source| ClientError::Io {
                            what: "cannot open a UDP socket".into(),
                            source,
                        })?;
                socket
                    .connect(addr)
                    .await
                    .map_err(|source| ClientError::Io {
                        what: format!("cannot address UDP {addr}"),
                        source,
                    })?;
                Transport::Udp(Arc::new(socket))
            }
        };
        Ok(Sender {
            protocol: self.options.protocol,
            timeout: self.options.timeout,
            gzip: self.options.gzip,
            transport,
        })
    }
}

/// Parses an HTTP(S) or gRPC endpoint, adding `http://` and the protocol's
/// default path when missing.
fn http_uri(endpoint: &str, protocol: Protocol) -> Result<Uri> {
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    let uri: Uri = with_scheme
        .parse()
        .map_err(|e| config_error(format!("invalid endpoint {endpoint:?}: {e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(config_error(format!(
                "endpoint {endpoint:?}: scheme {other:?} is not supported (use http or https)"
            )));
        }
        None => return Err(config_error(format!("endpoint {endpoint:?} has no scheme"))),
    }
    if uri.host().is_none() {
        return Err(config_error(format!("endpoint {endpoint:?} has no host")));
    }
    if protocol.is_grpc() || uri.path() != "/" {
        return Ok(uri);
    }
    let mut parts = uri.into_parts();
    parts.path_and_query = Some(PathAndQuery::from_static(protocol.default_path()));
    Uri::from_parts(parts).map_err(|e| config_error(format!("invalid endpoint {endpoint:?}: {e}")))
}

enum Transport {
    Grpc(tonic::client::Grpc<GrpcChannel>),
    Http { client: Box<HttpClient>, uri: Uri },
    Udp(Arc<tokio::net::UdpSocket>),
}

/// One worker's connection to the target.
pub struct Sender {
    protocol: Protocol,
    timeout: Duration,
    gzip: bool,
    transport: Transport,
}

impl Sender {
    /// Encodes `spans` for this protocol.
    pub fn encode(&self, spans: &[SpanRecord]) -> Encoded {
        let mut out = encode(self.protocol, spans);
        if self.gzip && !self.protocol.is_grpc() {
            for (body, _) in &mut out.parts {
                *body = gzip(body);
            }
        }
        out
    }

    /// Sends one part of an [`Encoded`] batch.
    pub async fn send(&mut self, body: &Bytes) -> Outcome {
        match &mut self.transport {
            Transport::Grpc(grpc) => {
                let path = match self.protocol {
                    Protocol::JaegerGrpc => JAEGER_POST_SPANS_PATH,
                    _ => OTLP_EXPORT_PATH,
                };
                send_grpc(grpc, path, body.clone(), self.timeout).await
            }
            Transport::Http { client, uri } => {
                send_http(
                    client,
                    uri,
                    self.protocol,
                    self.gzip,
                    body.clone(),
                    self.timeout,
                )
                .await
            }
            Transport::Udp(socket) => match socket.send(body).await {
                Ok(n) if n == body.len() => Outcome::Accepted { rejected: 0 },
                Ok(n) => Outcome::Rejected {
                    reason: format!("UDP datagram truncated to {n} of {} bytes", body.len()),
                },
                Err(e) => Outcome::Rejected {
                    reason: format!("UDP send failed: {e}"),
                },
            },
        }
    }
}

/// Encodes `spans` for `protocol` (without compression).
pub fn encode(protocol: Protocol, spans: &[SpanRecord]) -> Encoded {
    let n = spans.len() as u64;
    let one = |body: Vec<u8>| Encoded {
        parts: vec![(Bytes::from(body), n)],
        oversized: 0,
    };
    match protocol {
        Protocol::OtlpGrpc | Protocol::OtlpHttp => one(spoor_codec::otlp::encode_request(spans)),
        Protocol::OtlpHttpJson => one(spoor_codec::otlp_json::encode_to_vec(spans)),
        Protocol::Zipkin => one(spoor_codec::zipkin::encode_v2_json(spans)),
        Protocol::JaegerHttp => {
            let parts = spoor_codec::jaeger::model_to_jaeger_batches(spans)
                .into_iter()
                .map(|b| {
                    let count = b.spans.len() as u64;
                    (
                        Bytes::from(spoor_codec::jaeger_thrift::encode_batch_binary(&b)),
                        count,
                    )
                })
                .collect();
            Encoded {
                parts,
                oversized: 0,
            }
        }
        Protocol::JaegerGrpc => one(spoor_codec::jaeger_proto::encode_post_spans(spans)),
        Protocol::JaegerUdpCompact | Protocol::JaegerUdpBinary => {
            let mut out = Encoded::default();
            for group in group_by_resource(spans) {
                pack_datagrams(protocol, &group, &mut out);
            }
            out
        }
    }
}

/// Spans grouped by resource (one Jaeger process each), first-seen order.
fn group_by_resource(spans: &[SpanRecord]) -> Vec<Vec<SpanRecord>> {
    let mut index = ArcIndex::default();
    let mut groups: Vec<Vec<SpanRecord>> = Vec::new();
    for r in spans {
        match index.index(&r.resource) {
            Seen::New(_) => groups.push(vec![r.clone()]),
            Seen::Again(i) => groups[i].push(r.clone()),
        }
    }
    groups
}

/// Encodes spans of one resource as `emitBatch` datagrams of at most
/// [`MAX_DATAGRAM_BYTES`], splitting as needed.
fn pack_datagrams(protocol: Protocol, spans: &[SpanRecord], out: &mut Encoded) {
    if spans.is_empty() {
        return;
    }
    let body = emit_batch(protocol, spans);
    if body.len() <= MAX_DATAGRAM_BYTES {
        out.parts.push((Bytes::from(body), spans.len() as u64));
        return;
    }
    if spans.len() == 1 {
        out.oversized += 1;
        return;
    }
    // Split into enough pieces that each is likely to fit; recurse on any
    // piece that still does not.
    let pieces = (body.len() * 11 / 10)
        .div_ceil(MAX_DATAGRAM_BYTES)
        .clamp(2, spans.len());
    let per = spans.len().div_ceil(pieces);
    for chunk in spans.chunks(per) {
        pack_datagrams(protocol, chunk, out);
    }
}

/// One `emitBatch` call for spans of one resource.
fn emit_batch(protocol: Protocol, spans: &[SpanRecord]) -> Vec<u8> {
    let Some(batch) = spoor_codec::jaeger::model_to_jaeger_batches(spans)
        .into_iter()
        .next()
    else {
        return Vec::new();
    };
    match protocol {
        Protocol::JaegerUdpBinary => spoor_codec::jaeger_thrift::encode_emit_batch_binary(&batch),
        _ => spoor_codec::jaeger_thrift::encode_emit_batch_compact(&batch),
    }
}

fn gzip(body: &[u8]) -> Bytes {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(body);
    Bytes::from(enc.finish().unwrap_or_default())
}

/// Sends one pre-encoded request on `grpc` to `path` and reads the answer.
pub async fn send_grpc(
    grpc: &mut tonic::client::Grpc<GrpcChannel>,
    path: &'static str,
    body: Bytes,
    timeout: Duration,
) -> Outcome {
    let call = async {
        grpc.ready()
            .await
            .map_err(|e| Err(format!("not ready: {e}")))?;
        let mut request = tonic::Request::new(body);
        request.set_timeout(timeout);
        grpc.unary(request, PathAndQuery::from_static(path), RawCodec)
            .await
            .map_err(Ok)
    };
    let result = match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
        Ok(r) => r,
        Err(_) => {
            return Outcome::Lost {
                reason: format!("no answer within {timeout:?}"),
            };
        }
    };
    match result {
        Ok(resp) => {
            let body = resp.into_inner();
            // PostSpansResponse is empty; ExportTraceServiceResponse may say
            // some spans were rejected.
            let rejected = if path == OTLP_EXPORT_PATH {
                ExportTraceServiceResponse::decode(body)
                    .ok()
                    .and_then(|r| r.partial_success)
                    .map_or(0, |p| p.rejected_spans.max(0) as u64)
            } else {
                0
            };
            Outcome::Accepted { rejected }
        }
        // The channel could not connect: nothing was sent.
        Err(Err(reason)) => Outcome::Unreachable {
            reason: format!("gRPC Unavailable: {reason}"),
        },
        Err(Ok(status)) => grpc_outcome(&status),
    }
}

/// What a gRPC error status means for the sender.
pub fn grpc_outcome(status: &tonic::Status) -> Outcome {
    let code = status.code();
    let reason = format!("gRPC {code:?}: {}", status.message());
    let retry_after = retry_info(status.details());
    if matches!(code, tonic::Code::Cancelled | tonic::Code::DeadlineExceeded) {
        return Outcome::Lost { reason };
    }
    if grpc_code_is_retryable(code as i32, retry_after.is_some()) {
        Outcome::Refused {
            retry_after,
            reason,
        }
    } else {
        Outcome::Rejected { reason }
    }
}

use spoor_proto::{RETRY_INFO_TYPE_URL, RetryInfo, RpcStatus as StatusDetails};

/// The delay of a `RetryInfo` in a status's details, if there is one.
fn retry_info(details: &[u8]) -> Option<Duration> {
    if details.is_empty() {
        return None;
    }
    let status = StatusDetails::decode(details).ok()?;
    let any = status
        .details
        .iter()
        .find(|a| a.type_url == RETRY_INFO_TYPE_URL)?;
    let delay = RetryInfo::decode(any.value.as_slice()).ok()?.retry_delay?;
    let secs = u64::try_from(delay.seconds).unwrap_or(0);
    let nanos = u32::try_from(delay.nanos).unwrap_or(0).min(999_999_999);
    Some(Duration::new(secs, nanos))
}

async fn send_http(
    client: &HttpClient,
    uri: &Uri,
    protocol: Protocol,
    gzip: bool,
    body: Bytes,
    timeout: Duration,
) -> Outcome {
    let content_type = match protocol {
        Protocol::OtlpHttp => "application/x-protobuf",
        Protocol::OtlpHttpJson | Protocol::Zipkin => "application/json",
        _ => "application/x-thrift",
    };
    let mut builder = Request::post(uri.clone()).header(CONTENT_TYPE, content_type);
    if gzip {
        builder = builder.header(CONTENT_ENCODING, "gzip");
    }
    let request = match builder.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Rejected {
                reason: format!("cannot build the request: {e}"),
            };
        }
    };
    let exchange = async {
        let resp = client
            .request(request)
            .await
            .map_err(|e| (e.is_connect(), error_chain(&e)))?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Ok::<_, (bool, String)>((parts, body))
    };
    let (parts, body) = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => {
            return Outcome::Lost {
                reason: format!("no answer within {timeout:?}"),
            };
        }
        Ok(Err((true, e))) => {
            // No connection, so nothing was sent: the target is not there
            // (yet), as gRPC's UNAVAILABLE says. Safe to retry.
            return Outcome::Unreachable {
                reason: format!("cannot connect: {e}"),
            };
        }
        Ok(Err((false, e))) => {
            return Outcome::Lost {
                reason: format!("HTTP request failed: {e}"),
            };
        }
        Ok(Ok(r)) => r,
    };
    let status = parts.status;
    if http_status_is_retryable(status.as_u16()) {
        let retry_after = parts
            .headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Outcome::Refused {
            retry_after,
            reason: format!("HTTP {status}: {}", error_message(protocol, &body)),
        };
    }
    if !status.is_success() {
        return Outcome::Rejected {
            reason: format!("HTTP {status}: {}", error_message(protocol, &body)),
        };
    }
    let rejected = match protocol {
        Protocol::OtlpHttp => ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_spans.max(0) as u64),
        Protocol::OtlpHttpJson => json_rejected_spans(&body),
        _ => 0,
    };
    Outcome::Accepted { rejected }
}

/// The message of an error answer: for OTLP/HTTP protobuf the
/// `google.rpc.Status` message the receiver sends, else the body's start.
fn error_message(protocol: Protocol, body: &[u8]) -> String {
    if protocol == Protocol::OtlpHttp
        && let Ok(status) = spoor_proto::RpcStatus::decode(body)
        && !status.message.is_empty()
    {
        return status.message;
    }
    snippet(body)
}

/// `partialSuccess.rejectedSpans` of an OTLP/JSON response (an int64, so
/// written as a string or a number).
fn json_rejected_spans(body: &[u8]) -> u64 {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return 0;
    };
    let r = &v["partialSuccess"]["rejectedSpans"];
    r.as_u64()
        .or_else(|| r.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_get_a_scheme_and_a_default_path() {
        let u = http_uri("127.0.0.1:4318", Protocol::OtlpHttp).unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:4318/v1/traces");
        let u = http_uri("http://h:9411", Protocol::Zipkin).unwrap();
        assert_eq!(u.to_string(), "http://h:9411/api/v2/spans");
        let u = http_uri("http://h:1/custom", Protocol::Zipkin).unwrap();
        assert_eq!(u.path(), "/custom");
        let u = http_uri("h:4317", Protocol::OtlpGrpc).unwrap();
        assert_eq!(u.to_string(), "http://h:4317/");
        // TLS endpoints keep their scheme (`tls`).
        let u = http_uri("https://h:4317", Protocol::OtlpGrpc).unwrap();
        assert_eq!(u.scheme_str(), Some("https"));
        assert!(http_uri("ftp://h:4317", Protocol::OtlpGrpc).is_err());
        assert!(http_uri("http://", Protocol::OtlpGrpc).is_err());
    }

    #[test]
    fn json_partial_success_is_read_in_both_forms() {
        assert_eq!(
            json_rejected_spans(br#"{"partialSuccess":{"rejectedSpans":"3"}}"#),
            3
        );
        assert_eq!(
            json_rejected_spans(br#"{"partialSuccess":{"rejectedSpans":4}}"#),
            4
        );
        assert_eq!(json_rejected_spans(b"{}"), 0);
        assert_eq!(json_rejected_spans(b"not json"), 0);
    }

    #[test]
    fn grpc_statuses_are_read_as_otlp_says() {
        let outcome = |code| grpc_outcome(&tonic::Status::new(code, "x"));
        assert!(matches!(
            outcome(tonic::Code::Unavailable),
            Outcome::Refused {
                retry_after: None,
                ..
            }
        ));
        for code in [tonic::Code::DeadlineExceeded, tonic::Code::Cancelled] {
            assert!(matches!(outcome(code), Outcome::Lost { .. }), "{code:?}");
        }
        for code in [
            tonic::Code::ResourceExhausted,
            tonic::Code::Internal,
            tonic::Code::Unknown,
            tonic::Code::InvalidArgument,
        ] {
            assert!(
                matches!(outcome(code), Outcome::Rejected { .. }),
                "{code:?}"
            );
        }
        let retry = RetryInfo {
            retry_delay: Some(spoor_proto::prost_types::Duration {
                seconds: 1,
                nanos: 500_000_000,
            }),
        };
        let details = StatusDetails {
            code: tonic::Code::ResourceExhausted as i32,
            message: "full".into(),
            details: vec![spoor_proto::prost_types::Any {
                type_url: RETRY_INFO_TYPE_URL.into(),
                value: retry.encode_to_vec(),
            }],
        };
        let status = tonic::Status::with_details(
            tonic::Code::ResourceExhausted,
            "full",
            details.encode_to_vec().into(),
        );
        assert_eq!(
            grpc_outcome(&status),
            Outcome::Refused {
                retry_after: Some(Duration::from_millis(1500)),
                reason: "gRPC ResourceExhausted: full".into(),
            }
        );
    }

    #[test]
    fn gzip_bodies_decompress_to_the_original() {
        use std::io::Read as _;
        let body = b"hello hello hello hello".repeat(100);
        let packed = gzip(&body);
        assert!(packed.len() < body.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
    }

    #[test]
    fn snippets_are_bounded() {
        assert_eq!(snippet(b"  short "), "short");
        let long = "é".repeat(500);
        assert_eq!(snippet(long.as_bytes()).chars().count(), 201);
    }
}
