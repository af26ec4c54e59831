//! Jaeger's span model, its UI JSON (`/api/traces`), and the mapping from
//! Spoor's OTLP-shaped model.
//!
//! Conversion runs in two steps, as in Jaeger itself:
//!
//! 1. into [`JaegerTrace`], Jaeger's own model (a process per span, typed
//!    tags, logs, references in order, warnings). Two producers exist:
//!    [`trace_to_jaeger`] (OTLP → Jaeger, the rules of contrib's
//!    `traces_to_jaegerproto.go` plus Jaeger's warning transfer) and
//!    [`parse_domain_trace`] (Jaeger api_v2 proto-JSON);
//! 2. from [`JaegerTrace`] into [`UiTrace`] with [`jaeger_to_ui`] (Jaeger's
//!    `uimodel/converter/v1/json.FromDomain`): processes deduplicated as
//!    `p1…pN`, times in µs, IDs in hex, int64 beyond ±(2^53−1) as strings.
//!
//! The ingest direction, Jaeger's model (a [`JaegerBatch`] decoded from
//! Thrift or api_v2) → Spoor's model, is [`batch_to_model_as`] (contrib's
//! `jaegerthrift_to_traces.go` / `jaegerproto_to_traces.go`);
//! [`model_to_jaeger_batches`] groups model spans back into batches.
//!
//! [`Envelope`] and [`ApiError`] are the `/api/*` response wrapper. Serialize
//! any of these with [`crate::gojson`] to get Go's exact bytes.

mod domain_json;
mod envelope;
mod from_otlp;
mod to_model;
mod ui;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use spoor_model::{SpanId, TraceId, UnixNanos};

pub use domain_json::parse_domain_trace;
pub use envelope::{ApiError, Envelope};
pub use from_otlp::{span_to_jaeger, trace_to_jaeger, trace_to_ui};
pub use to_model::*;
pub use ui::{
    UiKeyValue, UiLog, UiProcess, UiProcesses, UiReference, UiSpan, UiTrace, jaeger_to_ui,
};

/// Well-known tag keys the OTLP → Jaeger mapping writes or reads.
pub mod tags {
    /// Instrumentation scope name.
    pub const SCOPE_NAME: &str = "otel.scope.name";
    /// Instrumentation scope version.
    pub const SCOPE_VERSION: &str = "otel.scope.version";
    /// Span kind (`client`, `server`, …).
    pub const SPAN_KIND: &str = "span.kind";
    /// Status code (`OK`, `ERROR`).
    pub const STATUS_CODE: &str = "otel.status_code";
    /// Status message.
    pub const STATUS_DESCRIPTION: &str = "otel.status_description";
    /// Boolean error flag.
    pub const ERROR: &str = "error";
    /// W3C trace state.
    pub const W3C_TRACESTATE: &str = "w3c.tracestate";
    /// Log field carrying the event name.
    pub const EVENT: &str = "event";
    /// Link attribute naming the OpenTracing reference type.
    pub const OPENTRACING_REF_TYPE: &str = "opentracing.ref_type";
    /// Value of [`OPENTRACING_REF_TYPE`] that makes a link a `CHILD_OF`.
    pub const REF_TYPE_CHILD_OF: &str = "child_of";
    /// Value of [`OPENTRACING_REF_TYPE`] for `FOLLOWS_FROM` links.
    pub const REF_TYPE_FOLLOWS_FROM: &str = "follows_from";
}

/// A trace in Jaeger's model: spans in order plus trace-level warnings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JaegerTrace {
    pub spans: Vec<JaegerSpan>,
    pub warnings: Vec<String>,
}

/// Spans as a Jaeger sender groups them: Thrift's `Batch`, api_v2's `Batch`.
///
/// Decoders attach the process to every span ([`JaegerSpan::process`]: the
/// span's own process in api_v2, else the batch's), so the mapping to the
/// model reads the process from the spans; `process` is the batch-level
/// process that encoders write (when `None`, the first span's).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JaegerBatch {
    pub process: Option<JaegerProcess>,
    pub spans: Vec<JaegerSpan>,
}

/// A span in Jaeger's model, with its process attached.
#[derive(Debug, Clone, PartialEq)]
pub struct JaegerSpan {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub operation_name: String,
    /// In order; by convention the parent (`CHILD_OF`) comes first.
    pub references: Vec<JaegerRef>,
    /// Jaeger span flags (sampled = 1, debug = 2). The OTLP mapping leaves 0.
    pub flags: u32,
    pub start_time_unix_nano: UnixNanos,
    /// May be negative in Jaeger's model; the UI JSON clamps it to zero.
    pub duration_nanos: i64,
    pub tags: Vec<JaegerKeyValue>,
    pub logs: Vec<JaegerLog>,
    /// Shared between the spans of one resource.
    pub process: Arc<JaegerProcess>,
    pub warnings: Vec<String>,
}

/// How a span relates to the span it references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefType {
    /// The referenced span is the parent (proto enum value 0).
    #[default]
    ChildOf,
    /// The referenced span caused this one without waiting for it (1).
    FollowsFrom,
}

impl RefType {
    /// `CHILD_OF` or `FOLLOWS_FROM`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RefType::ChildOf => "CHILD_OF",
            RefType::FollowsFrom => "FOLLOWS_FROM",
        }
    }
}

/// A reference from one span to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JaegerRef {
    pub ref_type: RefType,
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

/// A timestamped set of fields (an OTLP event).
#[derive(Debug, Clone, PartialEq)]
pub struct JaegerLog {
    pub timestamp_unix_nano: UnixNanos,
    pub fields: Vec<JaegerKeyValue>,
}

/// The service that emitted a span.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct JaegerProcess {
    pub service_name: String,
    pub tags: Vec<JaegerKeyValue>,
}

/// A typed tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JaegerKeyValue {
    pub key: String,
    pub value: JaegerValue,
}

impl JaegerKeyValue {
    /// A string tag.
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        JaegerKeyValue {
            key: key.into(),
            value: JaegerValue::Str(value.into()),
        }
    }

    /// A tag of any type.
    pub fn new(key: impl Into<String>, value: JaegerValue) -> Self {
        JaegerKeyValue {
            key: key.into(),
            value,
        }
    }
}

/// A tag value, typed as Jaeger types it (`vType`).
///
/// Equality and hashing compare floats bit for bit, so that processes can be
/// deduplicated with a hash map (Go compares with `==`; the two differ only
/// for NaN and signed zeros).
#[derive(Debug, Clone)]
pub enum JaegerValue {
    Str(String),
    Bool(bool),
    Int64(i64),
    Float64(f64),
    Binary(Vec<u8>),
}

impl JaegerValue {
    /// Jaeger's lowercase type name: `string`, `bool`, `int64`, `float64`, `binary`.
    pub fn type_name(&self) -> &'static str {
        match self {
            JaegerValue::Str(_) => "string",
            JaegerValue::Bool(_) => "bool",
            JaegerValue::Int64(_) => "int64",
            JaegerValue::Float64(_) => "float64",
            JaegerValue::Binary(_) => "binary",
        }
    }
}

impl PartialEq for JaegerValue {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (JaegerValue::Str(a), JaegerValue::Str(b)) => a == b,
            (JaegerValue::Bool(a), JaegerValue::Bool(b)) => a == b,
            (JaegerValue::Int64(a), JaegerValue::Int64(b)) => a == b,
            (JaegerValue::Float64(a), JaegerValue::Float64(b)) => a.to_bits() == b.to_bits(),
            (JaegerValue::Binary(a), JaegerValue::Binary(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for JaegerValue {}

impl Hash for JaegerValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            JaegerValue::Str(s) => s.hash(state),
            JaegerValue::Bool(b) => b.hash(state),
            JaegerValue::Int64(i) => i.hash(state),
            JaegerValue::Float64(f) => f.to_bits().hash(state),
            JaegerValue::Binary(b) => b.hash(state),
        }
    }
}
