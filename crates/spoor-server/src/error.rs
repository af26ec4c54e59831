//! The one place where failures become HTTP and gRPC statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use spoor_codec::gojson;
use spoor_codec::jaeger::Envelope;
use spoor_service::IngestError;
use spoor_storage::{StorageError, StorageErrorKind};

/// HTTP status for a storage failure.
pub fn storage_status(err: &StorageError) -> StatusCode {
    match err.kind {
        StorageErrorKind::InvalidQuery => StatusCode::BAD_REQUEST,
        StorageErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        StorageErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        StorageErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// gRPC status for a storage failure.
pub fn storage_grpc(err: &StorageError) -> tonic::Status {
    match err.kind {
        StorageErrorKind::InvalidQuery => tonic::Status::invalid_argument(err.message.clone()),
        StorageErrorKind::Unavailable => tonic::Status::unavailable(err.message.clone()),
        StorageErrorKind::Unsupported => tonic::Status::unimplemented(err.message.clone()),
        StorageErrorKind::Internal => tonic::Status::internal(err.message.clone()),
    }
}

/// gRPC status for an ingest failure. Storage that cannot take writes right
/// now (a full disk, memory for recent spans full) answers `UNAVAILABLE`
/// with a `google.rpc.RetryInfo` of `retry_after_secs`, which OTLP exporters
/// honour as "retry later".
pub fn ingest_grpc(err: &IngestError, retry_after_secs: u32) -> tonic::Status {
    match err {
        IngestError::Overloaded => {
            tonic::Status::resource_exhausted("ingest pipeline is full, retry later")
        }
        IngestError::Storage(e) if e.kind == StorageErrorKind::Unavailable => {
            unavailable_with_retry_info(&e.message, retry_after_secs)
        }
        IngestError::Storage(e) => storage_grpc(e),
    }
}

/// `google.rpc.Status` with details, as carried in `grpc-status-details-bin`.
#[derive(Clone, PartialEq, prost::Message)]
struct StatusWithDetails {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<spoor_proto::prost_types::Any>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<spoor_proto::prost_types::Duration>,
}

/// `UNAVAILABLE` with a `RetryInfo` detail asking to retry after `secs`.
pub fn unavailable_with_retry_info(message: &str, secs: u32) -> tonic::Status {
    use prost::Message as _;
    let retry = RetryInfo {
        retry_delay: Some(spoor_proto::prost_types::Duration {
            seconds: i64::from(secs),
            nanos: 0,
        }),
    };
    let details = StatusWithDetails {
        code: tonic::Code::Unavailable as i32,
        message: message.to_owned(),
        details: vec![spoor_proto::prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: retry.encode_to_vec(),
        }],
    };
    tonic::Status::with_details(
        tonic::Code::Unavailable,
        message.to_owned(),
        bytes::Bytes::from(details.encode_to_vec()),
    )
}

/// An error answered the way Jaeger's `/api/*` handlers answer: Go's
/// `http.Error` with the JSON envelope as a plain-text body.
#[derive(Debug)]
pub struct LegacyApiError {
    pub status: StatusCode,
    pub msg: String,
}

impl LegacyApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        LegacyApiError {
            status: StatusCode::BAD_REQUEST,
            msg: msg.into(),
        }
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        LegacyApiError {
            status: StatusCode::NOT_FOUND,
            msg: msg.into(),
        }
    }
}

impl From<StorageError> for LegacyApiError {
    fn from(err: StorageError) -> Self {
        let status = storage_status(&err);
        if status.is_server_error() {
            tracing::error!(error = %err, "query failed");
        }
        LegacyApiError {
            status,
            msg: err.message,
        }
    }
}

/// Go's `http.Error`: the message plus a newline, as plain text.
pub fn go_http_error(status: StatusCode, body: Vec<u8>) -> Response {
    let mut body = body;
    body.push(b'\n');
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

impl IntoResponse for LegacyApiError {
    fn into_response(self) -> Response {
        let env = Envelope::<()>::error(i32::from(self.status.as_u16()), self.msg);
        go_http_error(self.status, gojson::to_vec(&env, false))
    }
}

/// An error answered the way Jaeger's api_v3 HTTP gateway answers:
/// `{"error":{"httpCode":N,"message":"…"}}`.
#[derive(Debug)]
pub struct V3ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl V3ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        V3ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    pub fn param(name: &str, err: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("malformed parameter {name}: {err}"))
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        V3ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl From<StorageError> for V3ApiError {
    fn from(err: StorageError) -> Self {
        let status = storage_status(&err);
        if status.is_server_error() {
            tracing::error!(error = %err, "query failed");
        }
        V3ApiError {
            status,
            message: err.message,
        }
    }
}

#[derive(serde::Serialize)]
struct V3ErrorBody<'a> {
    error: V3ErrorDetails<'a>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct V3ErrorDetails<'a> {
    http_code: u16,
    message: &'a str,
}

impl IntoResponse for V3ApiError {
    fn into_response(self) -> Response {
        let body = V3ErrorBody {
            error: V3ErrorDetails {
                http_code: self.status.as_u16(),
                message: &self.message,
            },
        };
        go_http_error(self.status, gojson::to_vec(&body, false))
    }
}

/// A JSON response with `Content-Type: application/json`.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
