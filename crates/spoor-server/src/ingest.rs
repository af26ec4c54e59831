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
use spoor_codec::{DecodeError, DecodeReport, Decoded};
use spoor_model::SpanBatch;
use spoor_service::{BatchSink, IngestError, ReceiverMetrics, RefuseReason, Source, WarnLimiter};
use spoor_storage::StorageError;

use crate::AppState;
use crate::body::{BodyError, decompress, read_limited};
use crate::error::{go_http_error, ingest_grpc, storage_status};

/// What a receiver took: the sink accepted the batch; this is what the
/// decoder left out of it (for OTLP's partial success).
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    pub(crate) report: DecodeReport,
}

/// Runs a `*_reported` decoder on `input`, keeping its report.
pub(crate) fn decode_reported<T>(
    input: T,
    decode: impl FnOnce(T, &mut DecodeReport) -> Result<SpanBatch, DecodeError>,
) -> Result<Decoded, DecodeError> {
    let mut report = DecodeReport::new();
    let batch = decode(input, &mut report)?;
    Ok(Decoded { batch, report })
}

/// One WARN line per this many seconds for dropped spans and fields (the
/// counters in `/metrics` count every one).
const REPORT_WARN_INTERVAL_SECS: u64 = 10;
static REPORT_WARN: WarnLimiter = WarnLimiter::new(REPORT_WARN_INTERVAL_SECS);

/// Counts what a decoder left out in `/metrics`
/// (`spoor_receiver_spans_rejected_total{receiver,reason}`,
/// `spoor_receiver_fields_dropped_total{receiver,field}`) and logs it as a
/// rate-limited WARN.
pub(crate) fn count_report(counters: &ReceiverMetrics, source: Source, report: &DecodeReport) {
    if report.is_empty() {
        return;
    }
    for &(reason, n) in report.rejected_by_reason() {
        counters.spans_rejected(reason, n);
    }
    for &(field, n) in report.dropped_by_field() {
        counters.fields_dropped(field, n);
    }
    if let Some(suppressed) = REPORT_WARN.allow() {
        tracing::warn!(
            receiver = source.receiver,
            transport = source.transport,
            format = source.format,
            rejected_spans = report.rejected_spans(),
            dropped_fields = report.dropped_fields(),
            suppressed_warnings = suppressed,
            detail = %report.summary(),
            "accepted a batch with unusable spans or fields left out"
        );
    }
}

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

    /// Go's `http.Error` with `message`, plus `Retry-After` when overloaded:
    /// how the Jaeger and Zipkin HTTP receivers answer.
    pub(crate) fn plain_text(&self, message: &str, retry_after_secs: u32) -> Response {
        let mut resp = go_http_error(self.status(), message.as_bytes().to_vec());
        if matches!(self, Refusal::Overloaded) {
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
/// then hands the batch to `sink`. `Ok` means the sink took the spans; what
/// the decoder left out is counted ([`count_report`]) and returned.
pub(crate) async fn ingest_http_body<D>(
    state: &AppState,
    sink: &dyn BatchSink,
    source: Source,
    headers: HeaderMap,
    body: Body,
    decode: D,
) -> Result<Accepted, Refusal>
where
    D: for<'a> FnOnce(&'a [u8]) -> Result<Decoded, DecodeError> + Send + 'static,
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
    let Decoded { batch, report } = match decoded {
        Err(e) => {
            tracing::error!(receiver = source.receiver, error = %e, "decoder task failed");
            return Err(Refusal::Internal(e.to_string()));
        }
        Ok(Err(e)) => return Err(refuse_early(source, state, Refusal::Body(e))),
        Ok(Ok(Err(e))) => return Err(refuse_early(source, state, Refusal::Malformed(e))),
        Ok(Ok(Ok(decoded))) => decoded,
    };
    count_report(&state.metrics.receiver(source), source, &report);
    sink.submit(batch, wire_bytes, source).await?;
    Ok(Accepted { report })
}

/// Decodes a gRPC request message (`wire_bytes` long) with `decode` on the
/// CPU pool and hands the batch to `sink`: `InvalidArgument` when it does not
/// decode, `RESOURCE_EXHAUSTED` when the pipeline is full. What the decoder
/// left out is counted ([`count_report`]) and returned.
pub(crate) async fn ingest_grpc_message<T, D>(
    state: &AppState,
    sink: &dyn BatchSink,
    source: Source,
    message: T,
    wire_bytes: usize,
    decode: D,
) -> Result<Accepted, tonic::Status>
where
    T: Send + 'static,
    D: FnOnce(T) -> Result<Decoded, DecodeError> + Send + 'static,
{
    let Decoded { batch, report } = match state.cpu.run(move || decode(message)).await {
        Err(e) => {
            tracing::error!(receiver = source.receiver, error = %e, "decoder task failed");
            return Err(tonic::Status::internal(e.to_string()));
        }
        Ok(Err(e)) => {
            let refusal = refuse_early(source, state, Refusal::Malformed(e));
            return Err(tonic::Status::invalid_argument(refusal.message()));
        }
        Ok(Ok(decoded)) => decoded,
    };
    count_report(&state.metrics.receiver(source), source, &report);
    sink.submit(batch, wire_bytes, source)
        .await
        .map_err(|e| ingest_grpc(&e))?;
    Ok(Accepted { report })
}
