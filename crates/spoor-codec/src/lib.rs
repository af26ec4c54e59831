//! Pure, synchronous conversions between wire formats and the Spoor model.
//!
//! Every decoder takes bytes that may be hostile: it never panics, never
//! allocates more than a bounded multiple of its input, and answers with a
//! [`DecodeError`] that says what was wrong. Size caps on the input itself are
//! the caller's (the receiver's) job.
//!
//! - [`otlp`]: OTLP protobuf (`ExportTraceServiceRequest` / `TracesData`) to and from the model.
//! - [`otlp_json`]: OTLP JSON to and from the model (the encoder writes api_v3's form).
//! - [`jaeger`]: the Jaeger UI JSON model (`/api/traces`), OTLP → Jaeger mapping,
//!   and the Jaeger → model mapping used at ingest (`batch_to_model_as`).
//! - [`thrift`]: Thrift binary and compact protocol readers and writers.
//! - [`jaeger_thrift`]: Jaeger Thrift (`emitBatch` on UDP 6831/6832, `Batch` on HTTP 14268).
//! - [`jaeger_proto`]: Jaeger api_v2 protobuf (`CollectorService/PostSpans` on 14250).
//! - [`export`]: whole traces in the export file formats (Jaeger JSON lines or
//!   document, OTLP JSON or protobuf, CSV), as `/api/export` and `spoor export` write them.
//! - [`gojson`]: JSON output byte-compatible with Go's `encoding/json`.
//! - [`DecodeReport`]: fields dropped and spans left out by a decoder that
//!   could still decode the rest (one bad field never costs a batch).
//! - [`zipkin`]: Zipkin v1 (JSON, Thrift) and v2 (JSON, protobuf) to the model; the model as v2 JSON.

mod error;
pub mod export;
pub mod gojson;
pub mod jaeger;
pub mod jaeger_proto;
pub mod jaeger_thrift;
pub mod otlp;
pub mod otlp_json;
mod report;
pub mod sampling_json;
pub mod thrift;
pub mod zipkin;

pub use error::DecodeError;
pub use report::{DecodeReport, MAX_MESSAGES, reason};

/// A batch and what its decoder left out (see [`DecodeReport`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    pub batch: spoor_model::SpanBatch,
    pub report: DecodeReport,
}
