//! Builders for span records in tests (feature `testing`).
//!
//! ```
//! use spoor_model::testing::{batch, record};
//! use spoor_model::SpanKind;
//!
//! let r = record()
//!     .service("frontend")
//!     .trace(1)
//!     .id(2)
//!     .parent(1)
//!     .name("GET /")
//!     .kind(SpanKind::Server)
//!     .start(1_000)
//!     .duration(10)
//!     .build();
//! assert_eq!(r.service_name(), "frontend");
//! assert_eq!(r.span.end_time_unix_nano, 1_010);
//! assert_eq!(batch([r]).len(), 1);
//! ```
//!
//! Every field not set is the model's default (an empty resource, the
//! default scope, zero IDs and times, no attributes), each record with its
//! own resource and scope allocations unless one is shared with
//! [`RecordBuilder::resource`] / [`RecordBuilder::scope`].

use std::sync::Arc;

use crate::{
    Event, KeyValue, Resource, Scope, Span, SpanBatch, SpanId, SpanKind, SpanRecord, Status,
    StatusCode, TraceId, UnixNanos, keys,
};

/// A resource with `service.name` only.
pub fn resource(service: &str) -> Arc<Resource> {
    resource_with(vec![KeyValue::str(keys::SERVICE_NAME, service)])
}

/// A resource with these attributes.
pub fn resource_with(attributes: Vec<KeyValue>) -> Arc<Resource> {
    Arc::new(Resource {
        attributes,
        ..Resource::default()
    })
}

/// A batch of these records.
pub fn batch(records: impl IntoIterator<Item = SpanRecord>) -> SpanBatch {
    SpanBatch {
        spans: records.into_iter().collect(),
    }
}

/// A trace ID with these 64 low bits (the high ones zero).
pub fn trace_id(low: u64) -> TraceId {
    TraceId::from_halves(0, low)
}

/// `span` with this (shared) resource and a new default scope.
pub fn record_of(resource: &Arc<Resource>, span: Span) -> SpanRecord {
    SpanRecord::new(Arc::clone(resource), Arc::default(), span)
}

/// Starts a record of a trace tree: a span of `service` with trace
/// `from_halves(0, trace)`, span ID `id`, parent `parent` (0: a root), this
/// name and start.
pub fn node(
    service: &str,
    trace: u64,
    id: u64,
    parent: u64,
    name: &str,
    start: UnixNanos,
) -> RecordBuilder {
    record()
        .service(service)
        .trace(trace)
        .id(id)
        .parent(parent)
        .name(name)
        .start(start)
}

/// Starts a record; see the [module documentation](self).
pub fn record() -> RecordBuilder {
    RecordBuilder::default()
}

/// A span record under construction.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RecordBuilder {
    resource: Option<Arc<Resource>>,
    scope: Option<Arc<Scope>>,
    span: Span,
    /// When set, the end is the start plus this, whatever the order of calls.
    duration: Option<u64>,
}

impl RecordBuilder {
    /// A new resource with `service.name` only.
    pub fn service(mut self, service: &str) -> Self {
        self.resource = Some(resource(service));
        self
    }

    /// Shares this resource.
    pub fn resource(mut self, resource: &Arc<Resource>) -> Self {
        self.resource = Some(Arc::clone(resource));
        self
    }

    /// Shares this scope.
    pub fn scope(mut self, scope: &Arc<Scope>) -> Self {
        self.scope = Some(Arc::clone(scope));
        self
    }

    /// The trace ID `from_halves(0, low)`.
    pub fn trace(self, low: u64) -> Self {
        self.trace_id(trace_id(low))
    }

    pub fn trace_id(mut self, id: TraceId) -> Self {
        self.span.trace_id = id;
        self
    }

    /// The span ID `from_u64(id)`.
    pub fn id(mut self, id: u64) -> Self {
        self.span.span_id = SpanId::from_u64(id);
        self
    }

    /// The parent span ID `from_u64(id)` (zero: a root).
    pub fn parent(mut self, id: u64) -> Self {
        self.span.parent_span_id = SpanId::from_u64(id);
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.span.name = name.into();
        self
    }

    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.span.kind = kind;
        self
    }

    pub fn flags(mut self, flags: u32) -> Self {
        self.span.flags = flags;
        self
    }

    pub fn start(mut self, start: UnixNanos) -> Self {
        self.span.start_time_unix_nano = start;
        self
    }

    pub fn end(mut self, end: UnixNanos) -> Self {
        self.span.end_time_unix_nano = end;
        self.duration = None;
        self
    }

    /// The end is the start plus `nanos`.
    pub fn duration(mut self, nanos: u64) -> Self {
        self.duration = Some(nanos);
        self
    }

    /// Status `Error` (no message) when `error`, else `Unset`.
    pub fn error(self, error: bool) -> Self {
        self.status(if error {
            StatusCode::Error
        } else {
            StatusCode::Unset
        })
    }

    /// This status code, no message.
    pub fn status(mut self, code: StatusCode) -> Self {
        self.span.status = Status {
            code,
            message: String::new(),
        };
        self
    }

    /// Appends a span attribute.
    pub fn attr(mut self, attribute: KeyValue) -> Self {
        self.span.attributes.push(attribute);
        self
    }

    /// Sets the span attributes.
    pub fn attrs(mut self, attributes: Vec<KeyValue>) -> Self {
        self.span.attributes = attributes;
        self
    }

    /// Sets the span attributes to these string pairs.
    pub fn str_attrs(mut self, attributes: &[(&str, &str)]) -> Self {
        self.span.attributes = attributes
            .iter()
            .map(|(k, v)| KeyValue::str(*k, *v))
            .collect();
        self
    }

    pub fn events(mut self, events: Vec<Event>) -> Self {
        self.span.events = events;
        self
    }

    /// Anything else about the span.
    pub fn with(mut self, f: impl FnOnce(&mut Span)) -> Self {
        f(&mut self.span);
        self
    }

    /// The span alone.
    pub fn span(self) -> Span {
        let mut span = self.span;
        if let Some(d) = self.duration {
            span.end_time_unix_nano = span.start_time_unix_nano + d;
        }
        span
    }

    /// The record: the resource and scope given or new defaults.
    pub fn build(mut self) -> SpanRecord {
        let resource = self.resource.take().unwrap_or_default();
        let scope = self.scope.take().unwrap_or_default();
        SpanRecord::new(resource, scope, self.span())
    }
}
