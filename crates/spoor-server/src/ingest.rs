//! The receive flow every HTTP and gRPC span receiver shares: read the body
//! within its cap, undo `Content-Encoding` and decode on the CPU pool, hand
//! the batch to the sink, and say precisely what went wrong.
//!
//! Refusals that happen before the sink sees a batch (unreadable, too large,
//! malformed) are counted here in `spoor_receiver_requests_total`; the sink
//! counts accepted spans and its own refusals (overloaded, storage errors).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use spoor_codec::DecodeError;
use spoor_model::SpanBatch;
use spoor_service::{BatchSink, IngestError, IngestOutcome, RefuseReason, Source};
use spoor_storage::StorageError;

use crate::AppState;
use crate::body::{BodyError, decompress, read_limited};
use crate::error::{go_http_error, ingest_grpc, storage_status};

/// The message answered when the pipeline is full.
pub(crate) const OVERLOADED_MESSAGE: &str = "ingest pipeline is full, retry later";

/// Why a request's spans were not taken.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The body could not be read, was too large, or was badly compressed
    /// (400, 413 or 415).
    Body(BodyError),
    /// The payload did not decode (400).
    Malformed(DecodeError),
    /// The pipeline is full; the sender should retry (429 + `Retry-After`).
    Overloaded,
    /// Storage failed to write the spans (503 or 500).
    Storage(StorageError),
    /// The CPU pool failed to run the decoder (500).
    Internal(String),
}

impl Refusal {
    /// The HTTP status answering this refusal.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refusal::Body(e) => e.status(),
            Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
            Refusal::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Storage(e) => storage_status(e),
            Refusal::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A message for the sender.
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::Body(e) => e.to_string(),
            Refusal::Malformed(e) => e.to_string(),
            Refusal::Overloaded => OVERLOADED_MESSAGE.to_string(),
            Refusal::Storage(e) => e.message.clone(),
            Refusal::Internal(m) => m.clone(),
        }
    }

    /// Whether the sender should retry later: the pipeline is full, or
    /// storage cannot take writes right now (e.g. a full disk). Answered with
    /// `Retry-After`.
    pub(crate) fn retry_later(&self) -> bool {
        match self {
            Refusal::Overloaded => true,
            Refusal::Storage(e) => e.kind == spoor_storage::StorageErrorKind::Unavailable,
            _ => false,
        }
    }

    /// Go's `http.Error` with `message`, plus `Retry-After` when overloaded:
    /// how the Jaeger and Zipkin HTTP receivers answer.
    pub(crate) fn plain_text(&self, message: &str, retry_after_secs: u32) -> Response {
        let mut resp = go_http_error(self.status(), message.as_bytes().to_vec());
        if self.retry_later() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        resp
    }
}

impl From<IngestError> for Refusal {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Overloaded => Refusal::Overloaded,
            IngestError::Storage(e) => Refusal::Storage(e),
        }
    }
}

/// Counts and logs a refusal that happened before the sink saw the batch.
fn refuse_early(source: Source, state: &AppState, refusal: Refusal) -> Refusal {
    let reason = match &refusal {
        Refusal::Body(e) => e.reason(),
        _ => RefuseReason::Malformed,
    };
    state.metrics.receiver(source).request_refused(reason);
    tracing::debug!(
        receiver = source.receiver,
        transport = source.transport,
        format = source.format,
        reason = reason.as_str(),
        error = %refusal.message(),
        "refused request"
    );
    refusal
}

/// Reads an HTTP request body (chunked or not) within
/// `state.limits.max_request_bytes`, undoes its `Content-Encoding` within
/// `max_decompressed_bytes` and decodes it with `decode` on the CPU pool,
/// then hands the batch to `sink`. `Ok` means the sink took the spans.
pub(crate) async fn ingest_http_body<D>(
    state: &AppState,
    sink: &dyn BatchSink,
    source: Source,
    headers: HeaderMap,
    body: Body,
    decode: D,
) -> Result<IngestOutcome, Refusal>
where
    D: FnOnce(&[u8]) -> Result<SpanBatch, DecodeError> + Send + 'static,
{
    let raw = read_limited(&headers, body, state.limits.max_request_bytes)
        .await
        .map_err(|e| refuse_early(source, state, Refusal::Body(e)))?;
    let wire_bytes = raw.len();
    let limit = state.limits.max_decompressed_bytes;
    let decoded = state
        .cpu
        .run(move || decompress(&headers, raw, limit).map(|b| decode(&b)))
        .await;
    let batch = match decoded {
        Err(e) => {
            tracing::error!(receiver = source.receiver, error = %e, "decoder task failed");
            return Err(Refusal::Internal(e.to_string()));
        }
        Ok(Err(e)) => return Err(refuse_early(source, state, Refusal::Body(e))),
        Ok(Ok(Err(e))) => return Err(refuse_early(source, state, Refusal::Malformed(e))),
        Ok(Ok(Ok(batch))) => batch,
    };
    Ok(sink.submit(batch, wire_bytes, source).await?)
}

/// Decodes a gRPC request message (`wire_bytes` long) with `decode` on the
/// CPU pool and hands the batch to `sink`: `InvalidArgument` when it does not
/// decode, `RESOURCE_EXHAUSTED` when the pipeline is full.
pub(crate) async fn ingest_grpc_message<T, D>(
    state: &AppState,
    sink: &dyn BatchSink,
    source: Source,
    message: T,
    wire_bytes: usize,
    decode: D,
) -> Result<IngestOutcome, tonic::Status>
where
    T: Send + 'static,
    D: FnOnce(T) -> Result<SpanBatch, DecodeError> + Send + 'static,
{
    let batch = match state.cpu.run(move || decode(message)).await {
        Err(e) => {
            tracing::error!(receiver = source.receiver, error = %e, "decoder task failed");
            return Err(tonic::Status::internal(e.to_string()));
        }
        Ok(Err(e)) => {
            let refusal = refuse_early(source, state, Refusal::Malformed(e));
            return Err(tonic::Status::invalid_argument(refusal.message()));
        }
        Ok(Ok(batch)) => batch,
    };
    sink.submit(batch, wire_bytes, source)
        .await
        .map_err(|e| ingest_grpc(&e, state.retry_after_secs))
}
