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
use bytes::Bytes;
use spoor_codec::{DecodeError, DecodeReport, Decoded};
use spoor_model::SpanBatch;
use spoor_service::{
    BatchSink, BudgetError, IngestError, ReceiverMetrics, RefuseReason, Reservation, Source,
    WarnLimiter,
};
use spoor_storage::{StorageError, StorageErrorKind};

use crate::admission::{AdmitError, SpanCounter, admit, check_spans};
use crate::body::{BodyError, content_encoding, decompress_reserved, read_reserved};
use crate::error::{go_http_error, overload_grpc, storage_grpc, storage_status};
use crate::{AppState, Limits};

/// What a receiver took: the sink accepted the batch; this is what the
/// decoder left out of it (for OTLP's partial success).
#[derive(Debug, Default)]
pub struct Accepted {
    pub report: DecodeReport,
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
    /// The body could not be read, was too large, was badly compressed
    /// (400, 413 or 415), or did not fit the memory budget (429 or 413).
    Body(BodyError),
    /// The payload did not decode (400).
    Malformed(DecodeError),
    /// Too many spans (413), or the decoded spans do not fit the memory
    /// budget (429 or 413).
    Admit(AdmitError),
    /// The pipeline is full; the sender should retry (429 + `Retry-After`).
    Overloaded,
    /// Storage failed to write the spans: 429 + `Retry-After` when it is
    /// busy (its memory for recent spans or its backlog is full), 503 +
    /// `Retry-After` when it cannot write right now, else 500.
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
            Refusal::Admit(AdmitError::Budget(BudgetError::Busy)) | Refusal::Overloaded => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Refusal::Admit(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Storage(e) => storage_status(e),
            Refusal::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the sender should retry later (`Retry-After`, `RetryInfo`).
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Refusal::Body(BodyError::Budget(BudgetError::Busy))
            | Refusal::Admit(AdmitError::Budget(BudgetError::Busy))
            | Refusal::Overloaded => true,
            Refusal::Storage(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// A message for the sender.
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::Body(BodyError::Budget(BudgetError::Busy))
            | Refusal::Admit(AdmitError::Budget(BudgetError::Busy))
            | Refusal::Overloaded => OVERLOADED_MESSAGE.to_string(),
            Refusal::Body(e) => e.to_string(),
            Refusal::Malformed(e) => e.to_string(),
            Refusal::Admit(e) => e.to_string(),
            Refusal::Storage(e) => e.message.clone(),
            Refusal::Internal(m) => m.clone(),
        }
    }

    /// How the refusal is counted.
    fn reason(&self) -> RefuseReason {
        match self {
            Refusal::Body(e) => e.reason(),
            Refusal::Admit(AdmitError::Budget(BudgetError::Busy)) | Refusal::Overloaded => {
                RefuseReason::Overloaded
            }
            Refusal::Admit(_) => RefuseReason::TooLarge,
            Refusal::Storage(e) if e.is_retryable() => RefuseReason::Overloaded,
            Refusal::Storage(_) => RefuseReason::StorageError,
            Refusal::Malformed(_) | Refusal::Internal(_) => RefuseReason::Malformed,
        }
    }

    /// The gRPC status answering this refusal, as the OTLP specification
    /// asks: throttling (a full memory budget, busy storage) is
    /// `RESOURCE_EXHAUSTED` and storage that cannot write right now
    /// `UNAVAILABLE`, both with `RetryInfo`; what can never succeed (too
    /// large, too many spans, malformed) is `INVALID_ARGUMENT`, which no
    /// client retries.
    pub(crate) fn grpc_status(&self, retry_after_secs: u32) -> tonic::Status {
        match self {
            Refusal::Storage(e) if e.kind == StorageErrorKind::Unavailable => overload_grpc(
                tonic::Code::Unavailable,
                e.message.clone(),
                retry_after_secs,
            ),
            Refusal::Storage(e) if e.kind == StorageErrorKind::Busy => overload_grpc(
                tonic::Code::ResourceExhausted,
                e.message.clone(),
                retry_after_secs,
            ),
            Refusal::Storage(e) => storage_grpc(e),
            _ if self.is_retryable() => overload_grpc(
                tonic::Code::ResourceExhausted,
                self.message(),
                retry_after_secs,
            ),
            Refusal::Internal(m) => tonic::Status::internal(m.clone()),
            _ => tonic::Status::invalid_argument(self.message()),
        }
    }

    /// Go's `http.Error` with `message`, plus `Retry-After` when the sender
    /// should retry: how the Jaeger and Zipkin HTTP receivers answer.
    pub(crate) fn plain_text(&self, message: &str, retry_after_secs: u32) -> Response {
        let mut resp = go_http_error(self.status(), message.as_bytes().to_vec());
        if self.is_retryable() {
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
    let reason = refusal.reason();
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

/// A request's payload as received, with the memory reserved for it.
pub(crate) struct Payload {
    /// The bytes as received (possibly compressed).
    pub raw: Bytes,
    /// The `Content-Encoding` / `grpc-encoding` to undo (`""` = none).
    pub encoding: String,
    /// Holds at least `raw`'s bytes.
    pub reservation: Reservation,
}

/// On the CPU pool: inflates `payload` into reserved memory, counts and
/// caps its spans and reserves their estimated memory, then decodes it.
/// Returns the batch with the reservation to hold until it is written.
fn inflate_admit_decode<D>(
    payload: Payload,
    limits: Limits,
    counter: SpanCounter,
    decode: D,
) -> Result<(Decoded, Reservation), Refusal>
where
    D: FnOnce(&[u8]) -> Result<Decoded, DecodeError>,
{
    let Payload {
        raw,
        encoding,
        mut reservation,
    } = payload;
    let wire = raw.len();
    let compressed = !matches!(encoding.as_str(), "" | "identity");
    let plain = decompress_reserved(
        &encoding,
        raw,
        limits.max_decompressed_bytes,
        &mut reservation,
    )
    .map_err(Refusal::Body)?;
    if compressed {
        // The compressed bytes are gone.
        reservation.shrink_to(reservation.bytes().saturating_sub(wire));
    }
    let estimate = admit(
        &plain,
        counter,
        limits.max_spans_per_request,
        &mut reservation,
    )
    .map_err(Refusal::Admit)?;
    let decoded = decode(&plain).map_err(Refusal::Malformed)?;
    check_spans(decoded.batch.len(), limits.max_spans_per_request).map_err(Refusal::Admit)?;
    drop(plain);
    // From here on only the decoded spans are held.
    reservation.shrink_to(estimate);
    Ok((decoded, reservation))
}

/// Inflates, admits and decodes `payload` on the CPU pool and hands the
/// batch to `sink`, counting refusals that happen before the sink and what
/// the decoder left out ([`count_report`]).
pub(crate) async fn ingest_payload<D>(
    state: &AppState,
    sink: &dyn BatchSink,
    source: Source,
    payload: Payload,
    counter: SpanCounter,
    decode: D,
) -> Result<Accepted, Refusal>
where
    D: FnOnce(&[u8]) -> Result<Decoded, DecodeError> + Send + 'static,
{
    let wire_bytes = payload.raw.len();
    let limits = state.limits;
    let decoded = state
        .cpu
        .run(move || inflate_admit_decode(payload, limits, counter, decode))
        .await;
    let (Decoded { batch, report }, reservation) = match decoded {
        Err(e) => {
            tracing::error!(receiver = source.receiver, error = %e, "decoder task failed");
            return Err(Refusal::Internal(e.to_string()));
        }
        Ok(Err(refusal)) => return Err(refuse_early(source, state, refusal)),
        Ok(Ok(decoded)) => decoded,
    };
    count_report(&state.metrics.receiver(source), source, &report);
    sink.submit_reserved(batch, reservation, wire_bytes, source)
        .await?;
    Ok(Accepted { report })
}

/// Reads an HTTP request body (chunked or not) within
/// `state.limits.max_request_bytes`, reserving it from the memory budget
/// before reading it (429 without reading when the budget is full), undoes
/// its `Content-Encoding` within `max_decompressed_bytes` and the budget,
/// caps and reserves its spans, and decodes it with `decode` on the CPU
/// pool, then hands the batch to `sink`. `Ok` means the sink took the spans;
/// what the decoder left out is counted ([`count_report`]) and returned.
pub(crate) async fn ingest_http_body<D>(
    state: &AppState,
    sink: &dyn BatchSink,
    source: Source,
    headers: HeaderMap,
    body: Body,
    counter: SpanCounter,
    decode: D,
) -> Result<Accepted, Refusal>
where
    D: for<'a> FnOnce(&'a [u8]) -> Result<Decoded, DecodeError> + Send + 'static,
{
    let mut reservation = state.ingester.budget().empty();
    let raw = read_reserved(
        &headers,
        body,
        state.limits.max_request_bytes,
        &mut reservation,
    )
    .await
    .map_err(|e| refuse_early(source, state, Refusal::Body(e)))?;
    let payload = Payload {
        raw,
        encoding: content_encoding(&headers),
        reservation,
    };
    ingest_payload(state, sink, source, payload, counter, decode).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::error::{GrpcStatusDetails, RETRY_INFO_TYPE_URL, RetryInfo};

    fn retry_secs(status: &tonic::Status) -> Option<i64> {
        let details = GrpcStatusDetails::decode(status.details()).ok()?;
        let any = details
            .details
            .iter()
            .find(|a| a.type_url == RETRY_INFO_TYPE_URL)?;
        Some(RetryInfo::decode(&any.value[..]).ok()?.retry_delay?.seconds)
    }

    #[test]
    fn refusals_map_to_otlp_retryable_and_permanent_codes() {
        let unavailable = Refusal::Storage(StorageError::new(
            StorageErrorKind::Unavailable,
            "disk full",
        ));
        let s = unavailable.grpc_status(3);
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert_eq!(retry_secs(&s), Some(3));
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(unavailable.is_retryable());
        assert_eq!(unavailable.reason(), RefuseReason::Overloaded);

        for busy in [
            Refusal::Overloaded,
            Refusal::Body(BodyError::Budget(BudgetError::Busy)),
            Refusal::Admit(AdmitError::Budget(BudgetError::Busy)),
        ] {
            let s = busy.grpc_status(1);
            assert_eq!(s.code(), tonic::Code::ResourceExhausted);
            assert_eq!(retry_secs(&s), Some(1));
            assert_eq!(busy.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(busy.reason(), RefuseReason::Overloaded);
        }

        for permanent in [
            Refusal::Admit(AdmitError::TooManySpans { spans: 9, max: 8 }),
            Refusal::Body(BodyError::TooLarge(8)),
            Refusal::Body(BodyError::DecompressedTooLarge(8)),
            Refusal::Body(BodyError::Budget(BudgetError::Exceeds {
                needed: 9,
                capacity: 8,
            })),
        ] {
            let s = permanent.grpc_status(1);
            assert_eq!(s.code(), tonic::Code::InvalidArgument, "{permanent:?}");
            assert_eq!(retry_secs(&s), None);
            assert_eq!(permanent.status(), StatusCode::PAYLOAD_TOO_LARGE);
            assert!(!permanent.is_retryable());
            assert_eq!(permanent.reason(), RefuseReason::TooLarge);
        }

        // Busy storage (its memory for recent spans or its backlog full)
        // throttles the sender, with the storage's own message.
        let busy = Refusal::Storage(StorageError::new(
            StorageErrorKind::Busy,
            "the backlog awaiting the block store is full",
        ));
        let s = busy.grpc_status(2);
        assert_eq!(s.code(), tonic::Code::ResourceExhausted);
        assert_eq!(retry_secs(&s), Some(2));
        assert!(s.message().contains("backlog"), "{}", s.message());
        assert_eq!(busy.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(busy.is_retryable());
        assert_eq!(busy.reason(), RefuseReason::Overloaded);
        let resp = busy.plain_text("busy", 2);
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");

        let internal = Refusal::Storage(StorageError::new(StorageErrorKind::Internal, "bug"));
        assert_eq!(internal.grpc_status(1).code(), tonic::Code::Internal);
        assert_eq!(internal.reason(), RefuseReason::StorageError);
    }
}
