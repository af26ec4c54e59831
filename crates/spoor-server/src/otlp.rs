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
use spoor_codec::{DecodeError, DecodeReport, Decoded};
use spoor_proto::RpcStatus;
use spoor_proto::otlp_collector::trace_service_server::TraceServiceServer;
use spoor_proto::otlp_collector::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use spoor_service::Source;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;

use crate::admission::{OTLP_JSON, OTLP_PROTOBUF, SpanCounter};
use crate::grpc_ingest::{GrpcIngest, IngestMethod};
use crate::ingest::{Accepted, Refusal, decode_reported, ingest_http_body};
use crate::{AppState, ServerError};

const GRPC_SOURCE: Source = Source {
    receiver: "otlp",
    transport: "grpc",
    format: "protobuf",
};

/// The gRPC `TraceService/Export` method, served through the receivers'
/// admission ([`crate::grpc_ingest`]).
pub struct OtlpExport;

impl IngestMethod for OtlpExport {
    const SERVICE: &'static str = <TraceServiceServer<()> as NamedService>::NAME;
    const PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    const SOURCE: Source = GRPC_SOURCE;
    const COUNTER: SpanCounter = OTLP_PROTOBUF;
    type Response = ExportTraceServiceResponse;

    fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
        decode_reported(bytes, spoor_codec::otlp::decode_request_reported)
    }

    fn respond(accepted: &Accepted) -> ExportTraceServiceResponse {
        ExportTraceServiceResponse {
            partial_success: partial_success(&accepted.report),
        }
    }
}

/// Serves OTLP gRPC on `listener` until `shutdown`.
pub async fn serve_grpc(
    listener: impl Into<crate::net::ProtectedListener>,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let listener = listener.into();
    listener
        .grpc_server()
        .add_service(crate::tenancy::TenantGrpc::new(
            &state,
            GrpcIngest::<OtlpExport>::new,
        ))
        .serve_with_incoming_shutdown(listener.grpc_incoming(), shutdown.cancelled_owned())
        .await
        .map_err(|e| ServerError::Serve {
            what: "OTLP gRPC",
            message: e.to_string(),
        })
}

/// The OTLP/HTTP router (`POST /v1/traces`), per tenant under tenancy.
pub fn http_router(state: Arc<AppState>) -> Router {
    crate::tenancy::http_router(state, routes, crate::tenancy::Scope::All)
}

fn routes(state: Arc<AppState>) -> Router {
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

    fn decode(self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        match self {
            Format::Protobuf => decode_reported(bytes, spoor_codec::otlp::decode_request_reported),
            Format::Json => decode_reported(bytes, spoor_codec::otlp_json::decode_reported),
        }
    }
}

/// OTLP's partial success for what the decoder left out: the spans rejected
/// and a message naming them and the dropped fields. `None` (a plain
/// success) when nothing was left out; with only dropped fields,
/// `rejected_spans` is 0 and the message is a warning, as the OTLP
/// specification allows.
fn partial_success(report: &DecodeReport) -> Option<ExportTracePartialSuccess> {
    if report.is_empty() {
        return None;
    }
    Some(ExportTracePartialSuccess {
        rejected_spans: i64::try_from(report.rejected_spans()).unwrap_or(i64::MAX),
        error_message: report.summary(),
    })
}

/// google.rpc.Code values used in OTLP/HTTP error bodies.
const CODE_INVALID_ARGUMENT: i32 = 3;
const CODE_RESOURCE_EXHAUSTED: i32 = 8;
const CODE_INTERNAL: i32 = 13;
const CODE_UNAVAILABLE: i32 = 14;

fn status_body(format: Format, status: StatusCode, code: i32, message: String) -> Response {
    let body = match format {
        Format::Protobuf => RpcStatus {
            code,
            message,
            details: Vec::new(),
        }
        .encode_to_vec(),
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
    let counter = match format {
        Format::Protobuf => OTLP_PROTOBUF,
        Format::Json => OTLP_JSON,
    };
    match ingest_http_body(&state, sink, source, headers, body, counter, decode).await {
        Ok(accepted) => {
            let partial = partial_success(&accepted.report);
            let body = match (format, partial) {
                (Format::Protobuf, partial_success) => {
                    ExportTraceServiceResponse { partial_success }.encode_to_vec()
                }
                (Format::Json, None) => b"{}".to_vec(),
                // OTLP/JSON: lowerCamelCase keys, int64 as a decimal string.
                (Format::Json, Some(p)) => serde_json::to_vec(&serde_json::json!({
                    "partialSuccess": {
                        "rejectedSpans": p.rejected_spans.to_string(),
                        "errorMessage": p.error_message,
                    }
                }))
                .unwrap_or_default(),
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
                _ if status == StatusCode::PAYLOAD_TOO_LARGE => CODE_RESOURCE_EXHAUSTED,
                _ if status == StatusCode::TOO_MANY_REQUESTS => CODE_RESOURCE_EXHAUSTED,
                Refusal::Body(_) | Refusal::Malformed(_) | Refusal::Admit(_) => {
                    CODE_INVALID_ARGUMENT
                }
                Refusal::Overloaded => CODE_RESOURCE_EXHAUSTED,
                Refusal::Storage(_) if status == StatusCode::SERVICE_UNAVAILABLE => {
                    CODE_UNAVAILABLE
                }
                Refusal::Storage(_) | Refusal::Internal(_) => CODE_INTERNAL,
            };
            let mut resp = status_body(format, status, code, refusal.message());
            // Throttling per the OTLP specification: 429 or 503 with
            // `Retry-After`.
            if refusal.is_retryable() {
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
        Framing, ONE_SMALL_REQUEST, Recorder, eventually, gzip, http, names, requests,
        sample_spans, serve_router, state_with,
    };

    const PB: (&str, &str) = ("Content-Type", "application/x-protobuf");
    const JSON: (&str, &str) = ("Content-Type", "application/json");

    #[tokio::test]
    async fn http_answers_keep_their_otlp_shape() {
        let recorder = Recorder::open();
        let limits = Limits {
            max_request_bytes: 4096,
            max_decompressed_bytes: 8192,
            ..Limits::default()
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
    async fn http_answers_partial_success_for_spans_left_out() {
        let recorder = Recorder::open();
        let state = state_with(recorder.clone(), Limits::default(), 0);
        let addr = serve_router(http_router(state.clone())).await;
        let mut req = spoor_codec::otlp::to_request(&sample_spans("svc", "op", 3));
        req.resource_spans[0].scope_spans[0].spans[1].span_id = vec![0; 8];
        req.resource_spans[0].scope_spans[0].spans[2].parent_span_id = vec![1; 3];

        let resp = http(
            addr,
            "POST",
            "/v1/traces",
            &[PB],
            &req.encode_to_vec(),
            Framing::ContentLength,
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let partial = ExportTraceServiceResponse::decode(&resp.body[..])
            .unwrap()
            .partial_success
            .unwrap();
        assert_eq!(partial.rejected_spans, 1);
        assert!(
            partial
                .error_message
                .starts_with("1 span rejected, 1 field dropped: invalid spanId"),
            "{}",
            partial.error_message
        );
        assert_eq!(recorder.batches()[0].0.len(), 2);

        let json = spoor_codec::otlp_json::encode_to_vec(&sample_spans("svc", "op", 1))
            .iter()
            .map(|&b| b as char)
            .collect::<String>()
            .replace("\"traceId\":\"", "\"traceId\":\"zz");
        let resp = http(
            addr,
            "POST",
            "/v1/traces",
            &[JSON],
            json.as_bytes(),
            Framing::ContentLength,
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(body["partialSuccess"]["rejectedSpans"], "1", "{body}");
        assert!(
            body["partialSuccess"]["errorMessage"]
                .as_str()
                .unwrap()
                .contains("invalid traceId"),
            "{body}"
        );

        let text = state.metrics.render_prometheus();
        assert!(
            text.contains(
                "spoor_receiver_spans_rejected_total{receiver=\"otlp\",transport=\"http\",format=\"protobuf\",reason=\"invalid_span_id\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "spoor_receiver_fields_dropped_total{receiver=\"otlp\",transport=\"http\",format=\"protobuf\",field=\"parent_span_id\"} 1\n"
        ));
        assert!(text.contains(
            "spoor_receiver_spans_rejected_total{receiver=\"otlp\",transport=\"http\",format=\"json\",reason=\"invalid_trace_id\"} 1\n"
        ));
        // A clean request is a plain success.
        let clean = spoor_codec::otlp::encode_request(&sample_spans("svc", "op", 1));
        let resp = http(
            addr,
            "POST",
            "/v1/traces",
            &[PB],
            &clean,
            Framing::ContentLength,
        )
        .await;
        let r = ExportTraceServiceResponse::decode(&resp.body[..]).unwrap();
        assert!(r.partial_success.is_none());
    }

    #[tokio::test]
    async fn http_overload_answers_429_with_retry_after() {
        let recorder = Recorder::gated();
        let state = state_with(recorder.clone(), Limits::default(), ONE_SMALL_REQUEST);
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
