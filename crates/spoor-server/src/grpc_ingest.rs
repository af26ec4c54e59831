//! The gRPC span receivers (OTLP `TraceService/Export`, Jaeger
//! `CollectorService/PostSpans`) served through the same admission as the
//! HTTP receivers (ADR 0017):
//!
//! - the request body is watched as it arrives: each message's 5-byte gRPC
//!   prefix gives its length, which is checked against
//!   `max_request_bytes` (`INVALID_ARGUMENT`, never retried) and reserved
//!   from the memory budget (`RESOURCE_EXHAUSTED` with `RetryInfo` when
//!   full) before the message is buffered;
//! - compression is undone by Spoor, not by tonic, incrementally into
//!   reserved memory within `max_decompressed_bytes`;
//! - the spans are counted and capped, their memory reserved, and the
//!   message decoded on the CPU pool: a malformed message is
//!   `INVALID_ARGUMENT` (tonic's own codec would answer `INTERNAL`).

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame, SizeHint};
use spoor_codec::{DecodeError, Decoded};
use spoor_service::{BudgetError, RefuseReason, Reservation, Source};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::NamedService;

use crate::AppState;
use crate::admission::SpanCounter;
use crate::error::overload_grpc;
use crate::ingest::{Accepted, OVERLOADED_MESSAGE, Payload, ingest_payload};

/// One unary span-ingest method.
pub trait IngestMethod: Send + Sync + 'static {
    /// The gRPC service name (`package.Service`).
    const SERVICE: &'static str;
    /// The method's path (`/package.Service/Method`).
    const PATH: &'static str;
    /// Metric labels.
    const SOURCE: Source;
    /// How to count the spans of a message before decoding it.
    const COUNTER: SpanCounter;
    /// The response message.
    type Response: prost::Message + Default + Send + 'static;
    /// Decodes a (decompressed) request message into spans, reporting what
    /// it left out.
    fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError>;
    /// The answer once the spans were taken.
    fn respond(accepted: &Accepted) -> Self::Response;
}

/// A tonic service serving `M` (add it to a `tonic::transport::Server`).
pub struct GrpcIngest<M> {
    state: Arc<AppState>,
    _method: PhantomData<fn() -> M>,
}

impl<M> GrpcIngest<M> {
    pub fn new(state: Arc<AppState>) -> Self {
        GrpcIngest {
            state,
            _method: PhantomData,
        }
    }
}

impl<M> Clone for GrpcIngest<M> {
    fn clone(&self) -> Self {
        GrpcIngest::new(self.state.clone())
    }
}

impl<M: IngestMethod> NamedService for GrpcIngest<M> {
    const NAME: &'static str = M::SERVICE;
}

/// Compression encodings Spoor undoes itself.
const ENCODINGS: [&str; 4] = ["identity", "gzip", "deflate", "zstd"];

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<M: IngestMethod> tower::Service<http::Request<tonic::body::Body>> for GrpcIngest<M> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move { Ok(serve_unary::<M>(state, req).await) })
    }
}

async fn serve_unary<M: IngestMethod>(
    state: Arc<AppState>,
    req: http::Request<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    if req.uri().path() != M::PATH {
        let path = req.uri().path().to_string();
        return tonic::Status::unimplemented(format!("unknown method {path}")).into_http();
    }
    let (mut parts, body) = req.into_parts();
    // Spoor undoes the compression (within the budget), so tonic is shown
    // an uncompressed message.
    let encoding = match parts.headers.remove("grpc-encoding") {
        None => String::new(),
        Some(v) => {
            let e = v.to_str().unwrap_or("").trim().to_ascii_lowercase();
            if !ENCODINGS.contains(&e.as_str()) {
                let mut resp = tonic::Status::unimplemented(format!(
                    "grpc-encoding {e:?} is not supported; use gzip, deflate or zstd"
                ))
                .into_http();
                resp.headers_mut().insert(
                    "grpc-accept-encoding",
                    http::HeaderValue::from_static("gzip,deflate,zstd"),
                );
                return resp;
            }
            if e == "identity" { String::new() } else { e }
        }
    };
    let shared = Arc::new(Mutex::new(Shared::default()));
    let body = AdmissionBody {
        inner: body,
        state: state.clone(),
        source: M::SOURCE,
        has_encoding: !encoding.is_empty(),
        shared: shared.clone(),
        header: [0; 5],
        have: 0,
        body_left: 0,
    };
    let codec = RawCodec::<M::Response> {
        shared,
        _response: PhantomData,
    };
    let mut grpc = tonic::server::Grpc::new(codec)
        .max_decoding_message_size(state.limits.max_request_bytes.saturating_add(1));
    let svc = tower::service_fn(move |req: tonic::Request<Received>| {
        let state = state.clone();
        let encoding = encoding.clone();
        async move {
            let received = req.into_inner();
            let payload = Payload {
                raw: received.raw,
                encoding: if received.compressed {
                    encoding
                } else {
                    String::new()
                },
                reservation: received.reservation,
            };
            let sink = state.ingester.as_ref();
            match ingest_payload(&state, sink, M::SOURCE, payload, M::COUNTER, M::decode).await {
                Ok(accepted) => Ok(tonic::Response::new(M::respond(&accepted))),
                Err(refusal) => Err(refusal.grpc_status(state.retry_after_secs)),
            }
        }
    });
    let mut resp = grpc
        .unary(svc, http::Request::from_parts(parts, body))
        .await;
    resp.headers_mut().insert(
        "grpc-accept-encoding",
        http::HeaderValue::from_static("gzip,deflate,zstd"),
    );
    resp
}

/// What the request body's watcher tells the codec.
#[derive(Default)]
struct Shared {
    /// The message had the compressed flag (cleared before tonic saw it).
    compressed: bool,
    /// The message's bytes, reserved before they were buffered.
    reservation: Option<Reservation>,
}

/// A request message as received: its bytes and their reservation.
pub struct Received {
    raw: Bytes,
    compressed: bool,
    reservation: Reservation,
}

/// Hands the message's bytes over undecoded (decoding runs on the CPU
/// pool); encodes responses with prost.
struct RawCodec<R> {
    shared: Arc<Mutex<Shared>>,
    _response: PhantomData<fn() -> R>,
}

impl<R: prost::Message + Send + 'static> Codec for RawCodec<R> {
    type Encode = R;
    type Decode = Received;
    type Encoder = ProstEncoder<R>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder {
            shared: self.shared.clone(),
        }
    }
}

struct ProstEncoder<R>(PhantomData<fn() -> R>);

impl<R: prost::Message> Encoder for ProstEncoder<R> {
    type Item = R;
    type Error = tonic::Status;

    fn encode(&mut self, item: R, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

struct RawDecoder {
    shared: Arc<Mutex<Shared>>,
}

impl Decoder for RawDecoder {
    type Item = Received;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Received>, tonic::Status> {
        // Zero-copy: splits the message off tonic's buffer.
        let raw = src.copy_to_bytes(src.remaining());
        let mut shared = self
            .shared
            .lock()
            .map_err(|_| tonic::Status::internal("admission state poisoned"))?;
        Ok(Some(Received {
            raw,
            compressed: shared.compressed,
            reservation: shared
                .reservation
                .take()
                .unwrap_or_else(Reservation::unlimited),
        }))
    }
}

/// The request body, watched for gRPC message prefixes.
struct AdmissionBody {
    inner: tonic::body::Body,
    state: Arc<AppState>,
    source: Source,
    has_encoding: bool,
    shared: Arc<Mutex<Shared>>,
    header: [u8; 5],
    have: usize,
    body_left: usize,
}

impl AdmissionBody {
    fn refuse(&self, reason: RefuseReason, status: tonic::Status) -> tonic::Status {
        self.state
            .metrics
            .receiver(self.source)
            .request_refused(reason);
        tracing::debug!(
            receiver = self.source.receiver,
            transport = self.source.transport,
            reason = reason.as_str(),
            error = %status.message(),
            "refused request"
        );
        status
    }

    /// Checks and reserves every message prefix in `data`, clearing the
    /// compressed flag (Spoor decompresses).
    fn scan(&mut self, data: Bytes) -> Result<Bytes, tonic::Status> {
        let mut patched: Option<BytesMut> = None;
        let mut i = 0;
        while i < data.len() {
            if self.body_left > 0 {
                let take = self.body_left.min(data.len() - i);
                self.body_left -= take;
                i += take;
                continue;
            }
            let b = data[i];
            if self.have == 0 && b == 1 {
                if !self.has_encoding {
                    return Err(self.refuse(
                        RefuseReason::Malformed,
                        tonic::Status::internal(
                            "protocol error: compressed message without grpc-encoding",
                        ),
                    ));
                }
                patched.get_or_insert_with(|| BytesMut::from(&data[..]))[i] = 0;
                if let Ok(mut s) = self.shared.lock() {
                    s.compressed = true;
                }
            }
            self.header[self.have] = b;
            self.have += 1;
            i += 1;
            if self.have == 5 {
                self.have = 0;
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                self.admit(len)?;
                self.body_left = len;
            }
        }
        Ok(patched.map_or(data, BytesMut::freeze))
    }

    /// Refuses a message over the size limit, reserves its bytes.
    fn admit(&mut self, len: usize) -> Result<(), tonic::Status> {
        let max = self.state.limits.max_request_bytes;
        if len > max {
            return Err(self.refuse(
                RefuseReason::TooLarge,
                tonic::Status::invalid_argument(format!(
                    "message of {len} bytes exceeds the limit of {max} bytes; send smaller batches"
                )),
            ));
        }
        let budget = self.state.ingester.budget().clone();
        let grown = match self.shared.lock() {
            Ok(mut s) => s
                .reservation
                .get_or_insert_with(|| budget.empty())
                .grow(len),
            Err(_) => return Err(tonic::Status::internal("admission state poisoned")),
        };
        match grown {
            Ok(()) => Ok(()),
            Err(BudgetError::Busy) => Err(self.refuse(
                RefuseReason::Overloaded,
                overload_grpc(
                    tonic::Code::ResourceExhausted,
                    OVERLOADED_MESSAGE.into(),
                    self.state.retry_after_secs,
                ),
            )),
            Err(e @ BudgetError::Exceeds { .. }) => Err(self.refuse(
                RefuseReason::TooLarge,
                tonic::Status::invalid_argument(e.to_string()),
            )),
        }
    }
}

impl HttpBody for AdmissionBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => Poll::Ready(Some(this.scan(data).map(Frame::data))),
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
