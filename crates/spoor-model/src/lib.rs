//! Spoor's protocol-neutral span model.
//!
//! The model is OTLP-shaped (resources, scopes, spans, events, links, status)
//! because OTLP is a superset of what Jaeger and Zipkin carry, but it is owned
//! by Spoor: no wire format (protobuf, Thrift, JSON) leaks in here. Every
//! conversion to and from a wire format lives in `spoor-codec`.
//!
//! A stored or queried span is a [`SpanRecord`]: the span itself plus shared
//! (`Arc`) references to the resource and instrumentation scope that produced
//! it. Batches and traces are flat lists of records; grouping by resource or
//! scope is an encoding concern, done by [`group`]. A trace's spans without
//! duplicates are a [`SpanSet`].
//!
//! Feature `testing`: builders of records and batches for tests ([`testing`]).

pub mod group;
mod ids;
pub mod sampling;
mod span_set;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod time;
mod trace;
mod value;

pub use ids::{IdError, SpanId, TraceId};
pub use span_set::{SpanSet, same_stored_span};
pub use time::{
    UnixNanos, civil_from_days, days_from_civil, format_duration_go, format_rfc3339,
    parse_go_duration, parse_rfc3339, parse_rfc3339_signed,
};
pub use trace::{
    DependencyLink, Event, Link, Resource, Scope, Span, SpanBatch, SpanKind, SpanRecord, Status,
    StatusCode, Trace,
};
pub use value::{AnyValue, KeyValue, find_attr};

/// Well-known attribute keys used across Spoor.
pub mod keys {
    /// The resource attribute naming the service.
    pub const SERVICE_NAME: &str = "service.name";
    /// Service name used when a resource carries no `service.name` (Jaeger's value).
    pub const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
    /// Span attribute that carries Jaeger adjuster warnings through OTLP.
    pub const JAEGER_WARNINGS: &str = "@jaeger@warnings";
}
