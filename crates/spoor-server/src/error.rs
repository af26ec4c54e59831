//! The one place where failures become HTTP and gRPC statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use spoor_codec::gojson;
use spoor_codec::jaeger::Envelope;
use spoor_storage::{StorageError, StorageErrorKind};

/// HTTP status for a storage failure.
pub fn storage_status(err: &StorageError) -> StatusCode {
    match err.kind {
        StorageErrorKind::InvalidQuery => StatusCode::BAD_REQUEST,
        StorageErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        StorageErrorKind::Busy => StatusCode::TOO_MANY_REQUESTS,
        StorageErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        StorageErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// gRPC status for a storage failure.
pub fn storage_grpc(err: &StorageError) -> tonic::Status {
    match err.kind {
        StorageErrorKind::InvalidQuery => tonic::Status::invalid_argument(err.message.clone()),
        StorageErrorKind::Unavailable => tonic::Status::unavailable(err.message.clone()),
        StorageErrorKind::Busy => tonic::Status::resource_exhausted(err.message.clone()),
        StorageErrorKind::Unsupported => tonic::Status::unimplemented(err.message.clone()),
        StorageErrorKind::Internal => tonic::Status::internal(err.message.clone()),
    }
}

pub use spoor_proto::{RETRY_INFO_TYPE_URL, RetryInfo, RpcStatus as GrpcStatusDetails};

/// A retryable gRPC status (`RESOURCE_EXHAUSTED` or `UNAVAILABLE`) whose
/// details hold `google.rpc.RetryInfo` with a delay of `retry_after_secs`,
/// as the OTLP specification's throttling asks.
pub fn overload_grpc(code: tonic::Code, message: String, retry_after_secs: u32) -> tonic::Status {
    use prost::Message;
    let retry = RetryInfo {
        retry_delay: Some(spoor_proto::prost_types::Duration {
            seconds: i64::from(retry_after_secs),
            nanos: 0,
        }),
    };
    let details = GrpcStatusDetails {
        code: code as i32,
        message: message.clone(),
        details: vec![spoor_proto::prost_types::Any {
            type_url: RETRY_INFO_TYPE_URL.into(),
            value: retry.encode_to_vec(),
        }],
    };
    tonic::Status::with_details(code, message, details.encode_to_vec().into())
}

/// Every slot for heavy queries stayed busy for the queue timeout.
#[derive(Debug, Clone, Copy)]
pub struct QueryBusy;

/// The message answered when heavy queries are saturated.
pub const QUERY_BUSY_MESSAGE: &str =
    "too many heavy queries (searches, trace fetches, exports) are running; retry later";

/// `Retry-After` (seconds) on the query API's 503 answers.
pub const QUERY_RETRY_AFTER_SECS: u32 = 1;

impl From<QueryBusy> for LegacyApiError {
    fn from(_: QueryBusy) -> Self {
        LegacyApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            msg: QUERY_BUSY_MESSAGE.into(),
        }
    }
}

impl From<QueryBusy> for V3ApiError {
    fn from(_: QueryBusy) -> Self {
        V3ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: QUERY_BUSY_MESSAGE.into(),
        }
    }
}

/// Adds `Retry-After` to a 503 answer: the query is worth retrying.
fn retry_after_on_503(mut resp: Response) -> Response {
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(QUERY_RETRY_AFTER_SECS),
        );
    }
    resp
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
        retry_after_on_503(go_http_error(self.status, gojson::to_vec(&env, false)))
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
        retry_after_on_503(go_http_error(self.status, gojson::to_vec(&body, false)))
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
