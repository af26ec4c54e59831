//! The agent's exporters: a [`Forwarder`](spoor_service::forward::Forwarder)'s
//! batches sent on to a collector over gRPC, as Jaeger api_v2
//! `CollectorService/PostSpans` or OTLP `TraceService/Export`.
//!
//! Both go through `spoor-client`'s one sender (`send_grpc`: pre-encoded
//! bytes, answers read as OTLP says); its [`Outcome`] becomes the
//! forwarder's [`ExportError`] here, and the forwarder retries with
//! `spoor_service::retry`'s policy.

use std::time::Duration;

use spoor_client::Outcome;
use spoor_client::grpc::GrpcChannel;
use spoor_client::sender::{JAEGER_POST_SPANS_PATH, OTLP_EXPORT_PATH, grpc_outcome, send_grpc};
use spoor_model::SpanRecord;
use spoor_service::forward::{ExportError, Exporter};

/// What a sender's outcome means for the forwarder: retryable answers
/// (with the collector's `RetryInfo` when it gave one), an unreachable
/// collector and lost exchanges are retried; anything else is permanent.
pub fn export_error(outcome: Outcome) -> Result<(), ExportError> {
    match outcome {
        Outcome::Accepted { .. } => Ok(()),
        Outcome::Refused {
            retry_after: Some(retry_after),
            reason,
        } => Err(ExportError::RetryAfter {
            message: reason,
            retry_after,
        }),
        Outcome::Refused { reason, .. }
        | Outcome::Unreachable { reason }
        | Outcome::Lost { reason } => Err(ExportError::Retryable(reason)),
        Outcome::Rejected { reason } => Err(ExportError::Permanent(reason)),
    }
}

/// Whether a failed gRPC call is worth retrying (OTLP's rules,
/// `spoor_service::retry`).
pub fn classify(status: &tonic::Status) -> ExportError {
    match export_error(grpc_outcome(status)) {
        Err(e) => e,
        // An error status is never an acceptance.
        Ok(()) => ExportError::Permanent(format!("{:?}: {}", status.code(), status.message())),
    }
}

/// One gRPC unary method of a collector, fed pre-encoded requests.
struct GrpcMethod {
    grpc: tonic::client::Grpc<GrpcChannel>,
    path: &'static str,
    target: String,
    timeout: Duration,
}

impl GrpcMethod {
    async fn call(&self, body: Vec<u8>) -> Outcome {
        let mut grpc = self.grpc.clone();
        send_grpc(&mut grpc, self.path, body.into(), self.timeout).await
    }
}

/// Sends batches with Jaeger's `CollectorService/PostSpans`.
pub struct JaegerGrpcExporter(GrpcMethod);

impl JaegerGrpcExporter {
    /// An exporter over `channel` to `target` (for messages), each request
    /// given `request_timeout`.
    pub fn new(channel: GrpcChannel, target: impl Into<String>, request_timeout: Duration) -> Self {
        JaegerGrpcExporter(GrpcMethod {
            grpc: tonic::client::Grpc::new(channel),
            path: JAEGER_POST_SPANS_PATH,
            target: target.into(),
            timeout: request_timeout,
        })
    }
}

#[tonic::async_trait]
impl Exporter for JaegerGrpcExporter {
    fn describe(&self) -> String {
        format!("jaeger gRPC {}", self.0.target)
    }

    async fn export(&self, spans: &[SpanRecord]) -> Result<(), ExportError> {
        let body = spoor_codec::jaeger_proto::encode_post_spans(spans);
        export_error(self.0.call(body).await)
    }
}

/// Sends batches with OTLP's `TraceService/Export`.
pub struct OtlpGrpcExporter(GrpcMethod);

impl OtlpGrpcExporter {
    /// An exporter over `channel` to `target` (for messages), each request
    /// given `request_timeout`.
    pub fn new(channel: GrpcChannel, target: impl Into<String>, request_timeout: Duration) -> Self {
        OtlpGrpcExporter(GrpcMethod {
            grpc: tonic::client::Grpc::new(channel),
            path: OTLP_EXPORT_PATH,
            target: target.into(),
            timeout: request_timeout,
        })
    }
}

#[tonic::async_trait]
impl Exporter for OtlpGrpcExporter {
    fn describe(&self) -> String {
        format!("OTLP gRPC {}", self.0.target)
    }

    async fn export(&self, spans: &[SpanRecord]) -> Result<(), ExportError> {
        let body = spoor_codec::otlp::encode_request(spans);
        let outcome = self.0.call(body).await;
        if let Outcome::Accepted { rejected } = outcome
            && rejected > 0
        {
            tracing::warn!(
                collector = %self.0.target,
                rejected_spans = rejected,
                "collector rejected part of a batch"
            );
        }
        export_error(outcome)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A status carrying `google.rpc.RetryInfo`, as Spoor's receivers send.
    fn with_retry_info(code: tonic::Code) -> tonic::Status {
        crate::error::overload_grpc(code, "x".into(), 2)
    }

    #[test]
    fn statuses_split_into_retryable_and_permanent() {
        for code in [tonic::Code::Unavailable, tonic::Code::DeadlineExceeded] {
            assert!(matches!(
                classify(&tonic::Status::new(code, "x")),
                ExportError::Retryable(_)
            ));
        }
        // RESOURCE_EXHAUSTED is retryable when the collector says when (OTLP).
        assert_eq!(
            classify(&with_retry_info(tonic::Code::ResourceExhausted)),
            ExportError::RetryAfter {
                message: "gRPC ResourceExhausted: x".into(),
                retry_after: Duration::from_secs(2),
            }
        );
        for code in [
            tonic::Code::InvalidArgument,
            tonic::Code::Unimplemented,
            tonic::Code::PermissionDenied,
            tonic::Code::ResourceExhausted,
        ] {
            assert!(matches!(
                classify(&tonic::Status::new(code, "x")),
                ExportError::Permanent(_)
            ));
        }
    }
}
