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
use spoor_service::Source;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ingest::{Refusal, ingest_grpc_message, ingest_http_body};
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
        let state = &self.state;
        ingest_grpc_message(
            state,
            state.ingester.as_ref(),
            GRPC_SOURCE,
            req,
            wire_bytes,
            spoor_codec::otlp::from_request,
        )
        .await?;
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
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
    let sink = state.ingester.as_ref();
    let decode = move |b: &[u8]| format.decode(b);
    match ingest_http_body(&state, sink, source, headers, body, decode).await {
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
        Err(refusal) => {
            let status = refusal.status();
            let code = match &refusal {
                Refusal::Body(_) if status == StatusCode::PAYLOAD_TOO_LARGE => {
                    CODE_RESOURCE_EXHAUSTED
                }
                Refusal::Body(_) | Refusal::Malformed(_) => CODE_INVALID_ARGUMENT,
                Refusal::Overloaded => CODE_RESOURCE_EXHAUSTED,
                Refusal::Storage(_) if status == StatusCode::SERVICE_UNAVAILABLE => {
                    CODE_UNAVAILABLE
                }
                Refusal::Storage(_) | Refusal::Internal(_) => CODE_INTERNAL,
            };
            let mut resp = status_body(format, status, code, refusal.message());
            if refusal.retry_later() {
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(state.retry_after_secs),
                );
            }
            resp
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::Limits;
    use crate::test_support::{
        Framing, Recorder, eventually, gzip, http, names, requests, sample_spans, serve_router,
        state_with,
    };

    const PB: (&str, &str) = ("Content-Type", "application/x-protobuf");
    const JSON: (&str, &str) = ("Content-Type", "application/json");

    #[tokio::test]
    async fn http_answers_keep_their_otlp_shape() {
        let recorder = Recorder::open();
        let limits = Limits {
            max_request_bytes: 4096,
            max_decompressed_bytes: 8192,
        };
        let state = state_with(recorder.clone(), limits, 0);
        let addr = serve_router(http_router(state.clone())).await;
        let body = spoor_codec::otlp::encode_request(&sample_spans("otlp-svc", "op", 1));

        let h = [PB, ("Content-Encoding", "gzip")];
        let ok = http(
            addr,
            "POST",
            "/v1/traces",
            &h,
            &gzip(&body),
            Framing::Chunked,
        )
        .await;
        assert_eq!(ok.status, 200, "{}", ok.text());
        assert_eq!(ok.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(
            names(&recorder.batches()),
            vec![("otlp-svc".to_string(), "op-0".to_string())]
        );

        let bad = http(
            addr,
            "POST",
            "/v1/traces",
            &[JSON],
            b"{",
            Framing::ContentLength,
        )
        .await;
        assert_eq!(bad.status, 400);
        let msg: serde_json::Value = serde_json::from_slice(&bad.body).unwrap();
        assert_eq!(msg["code"], 3, "{msg}");

        let bad = http(
            addr,
            "POST",
            "/v1/traces",
            &[PB],
            b"\xff\xff",
            Framing::ContentLength,
        )
        .await;
        assert_eq!(bad.status, 400);
        assert_eq!(
            RpcStatus::decode(&bad.body[..]).unwrap().code,
            CODE_INVALID_ARGUMENT
        );

        let big = vec![0u8; 5000];
        let too_large = http(addr, "POST", "/v1/traces", &[PB], &big, Framing::Chunked).await;
        assert_eq!(too_large.status, 413);
        let st = RpcStatus::decode(&too_large.body[..]).unwrap();
        assert_eq!(st.code, CODE_RESOURCE_EXHAUSTED);

        let wrong = http(
            addr,
            "POST",
            "/v1/traces",
            &[("Content-Type", "text/plain")],
            b"x",
            Framing::ContentLength,
        )
        .await;
        assert_eq!(wrong.status, 415);

        let pb = Format::Protobuf.source();
        assert_eq!(requests(&state.metrics, pb, "ok"), 1.0);
        assert_eq!(requests(&state.metrics, pb, "malformed"), 1.0);
        assert_eq!(requests(&state.metrics, pb, "too_large"), 1.0);
        assert_eq!(
            requests(&state.metrics, Format::Json.source(), "malformed"),
            1.0
        );
    }

    #[tokio::test]
    async fn http_overload_answers_429_with_retry_after() {
        let recorder = Recorder::gated();
        let state = state_with(recorder.clone(), Limits::default(), 1);
        let addr = serve_router(http_router(state.clone())).await;
        let body = spoor_codec::otlp::encode_request(&sample_spans("svc", "op", 1));
        let first = {
            let body = body.clone();
            tokio::spawn(async move {
                http(
                    addr,
                    "POST",
                    "/v1/traces",
                    &[PB],
                    &body,
                    Framing::ContentLength,
                )
                .await
            })
        };
        eventually("first request holds the budget", || recorder.entered() == 1).await;
        let refused = http(
            addr,
            "POST",
            "/v1/traces",
            &[PB],
            &body,
            Framing::ContentLength,
        )
        .await;
        assert_eq!(refused.status, 429, "{}", refused.text());
        assert_eq!(refused.header("retry-after"), Some("7"));
        let st = RpcStatus::decode(&refused.body[..]).unwrap();
        assert_eq!(st.code, CODE_RESOURCE_EXHAUSTED);
        recorder.release(1);
        assert_eq!(first.await.unwrap().status, 200);
    }
}
