//! OTLP receivers: gRPC `TraceService/Export` and HTTP `POST /v1/traces`
//! (protobuf and JSON, gzip or deflate, chunked or not).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prost::Message;
use spoor_codec::DecodeError;
use spoor_model::SpanBatch;
use spoor_proto::RpcStatus;
use spoor_proto::otlp_collector::trace_service_server::{TraceService, TraceServiceServer};
use spoor_proto::otlp_collector::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use spoor_service::{IngestError, RefuseReason, Source};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::body::{BodyError, decompress, read_limited};
use crate::error::ingest_grpc;
use crate::{AppState, ServerError};

const GRPC_SOURCE: Source = Source {
    receiver: "otlp",
    transport: "grpc",
    format: "protobuf",
};

/// The gRPC `TraceService`.
pub struct OtlpGrpc {
    state: Arc<AppState>,
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let req = request.into_inner();
        let wire_bytes = req.encoded_len();
        let metrics = self.state.metrics.receiver(GRPC_SOURCE);
        let batch = self
            .state
            .cpu
            .run(move || spoor_codec::otlp::from_request(req))
            .await
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                metrics.request_refused(RefuseReason::Malformed);
                tracing::debug!(error = %e, "rejected malformed OTLP gRPC request");
                return Err(tonic::Status::invalid_argument(e.to_string()));
            }
        };
        match self
            .state
            .ingester
            .submit(batch, wire_bytes, GRPC_SOURCE)
            .await
        {
            Ok(_) => Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            })),
            Err(e) => Err(ingest_grpc(&e)),
        }
    }
}

/// Serves OTLP gRPC on `listener` until `shutdown`.
pub async fn serve_grpc(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let limit = state.limits.max_request_bytes;
    let svc = TraceServiceServer::new(OtlpGrpc { state })
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Zstd)
        .max_decoding_message_size(limit);
    tonic::transport::Server::builder()
        .add_service(svc)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown.cancelled_owned(),
        )
        .await
        .map_err(|e| ServerError::Serve {
            what: "OTLP gRPC",
            message: e.to_string(),
        })
}

/// The OTLP/HTTP router (`POST /v1/traces`).
pub fn http_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/traces", post(export_http))
        .with_state(state)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn source(self) -> Source {
        Source {
            receiver: "otlp",
            transport: "http",
            format: match self {
                Format::Protobuf => "protobuf",
                Format::Json => "json",
            },
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }

    fn decode(self, bytes: &[u8]) -> Result<SpanBatch, DecodeError> {
        match self {
            Format::Protobuf => spoor_codec::otlp::decode_request(bytes),
            Format::Json => spoor_codec::otlp_json::decode(bytes),
        }
    }
}

/// google.rpc.Code values used in OTLP/HTTP error bodies.
const CODE_INVALID_ARGUMENT: i32 = 3;
const CODE_RESOURCE_EXHAUSTED: i32 = 8;
const CODE_INTERNAL: i32 = 13;
const CODE_UNAVAILABLE: i32 = 14;

fn status_body(format: Format, status: StatusCode, code: i32, message: String) -> Response {
    let body = match format {
        Format::Protobuf => RpcStatus { code, message }.encode_to_vec(),
        Format::Json => serde_json::to_vec(&serde_json::json!({"code": code, "message": message}))
            .unwrap_or_default(),
    };
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    resp
}

async fn export_http(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let format = match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Format::Protobuf,
        "application/json" => Format::Json,
        _ => {
            let msg = format!(
                "unsupported Content-Type {content_type:?}; use application/x-protobuf or application/json"
            );
            return status_body(
                Format::Json,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                CODE_INVALID_ARGUMENT,
                msg,
            );
        }
    };
    let source = format.source();
    let metrics = state.metrics.receiver(source);
    let body_error = |e: BodyError| {
        metrics.request_refused(if e.reason() == "too_large" {
            RefuseReason::TooLarge
        } else {
            RefuseReason::Malformed
        });
        tracing::debug!(error = %e, "rejected OTLP HTTP body");
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            CODE_RESOURCE_EXHAUSTED
        } else {
            CODE_INVALID_ARGUMENT
        };
        status_body(format, e.status(), code, e.to_string())
    };
    let raw = match read_limited(&headers, body, state.limits.max_request_bytes).await {
        Ok(b) => b,
        Err(e) => return body_error(e),
    };
    let wire_bytes = raw.len();
    let limit = state.limits.max_decompressed_bytes;
    let decoded = state
        .cpu
        .run(move || decompress(&headers, raw, limit).map(|b| format.decode(&b)))
        .await;
    let batch = match decoded {
        Err(e) => {
            return status_body(
                format,
                StatusCode::INTERNAL_SERVER_ERROR,
                CODE_INTERNAL,
                e.to_string(),
            );
        }
        Ok(Err(e)) => return body_error(e),
        Ok(Ok(Err(e))) => {
            metrics.request_refused(RefuseReason::Malformed);
            tracing::debug!(error = %e, "rejected malformed OTLP HTTP request");
            return status_body(
                format,
                StatusCode::BAD_REQUEST,
                CODE_INVALID_ARGUMENT,
                e.to_string(),
            );
        }
        Ok(Ok(Ok(b))) => b,
    };
    match state.ingester.submit(batch, wire_bytes, source).await {
        Ok(_) => {
            let body = match format {
                Format::Protobuf => ExportTraceServiceResponse {
                    partial_success: None,
                }
                .encode_to_vec(),
                Format::Json => b"{}".to_vec(),
            };
            let mut resp = (StatusCode::OK, body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            resp
        }
        Err(IngestError::Overloaded) => {
            let mut resp = status_body(
                format,
                StatusCode::TOO_MANY_REQUESTS,
                CODE_RESOURCE_EXHAUSTED,
                "ingest pipeline is full, retry later".into(),
            );
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(state.retry_after_secs),
            );
            resp
        }
        Err(IngestError::Storage(e)) => {
            let status = crate::error::storage_status(&e);
            let code = if status == StatusCode::SERVICE_UNAVAILABLE {
                CODE_UNAVAILABLE
            } else {
                CODE_INTERNAL
            };
            tracing::warn!(error = %e, "storage refused OTLP HTTP batch");
            status_body(format, status, code, e.message)
        }
    }
}
