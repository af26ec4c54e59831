//! Pure, synchronous conversions between wire formats and the Spoor model.
//!
//! Every decoder takes bytes that may be hostile: it never panics, never
//! allocates more than a bounded multiple of its input, and answers with a
//! [`DecodeError`] that says what was wrong. Size caps on the input itself are
//! the caller's (the receiver's) job.
//!
//! - [`otlp`]: OTLP protobuf (`ExportTraceServiceRequest` / `TracesData`) to and from the model.
//! - [`otlp_json`]: OTLP JSON to and from the model (the encoder writes api_v3's form).
//! - [`jaeger`]: the Jaeger UI JSON model (`/api/traces`), OTLP → Jaeger mapping.
//! - [`gojson`]: JSON output byte-compatible with Go's `encoding/json`.

mod error;
pub mod gojson;
pub mod jaeger;
pub mod otlp;
pub mod otlp_json;

pub use error::DecodeError;
