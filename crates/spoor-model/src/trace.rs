use std::sync::Arc;

use crate::{KeyValue, SpanId, TraceId, UnixNanos, find_attr, keys};

/// The entity that produced spans (a service instance).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

impl Resource {
    /// `service.name`, or Jaeger's placeholder when it is absent or not a string.
    pub fn service_name(&self) -> &str {
        match find_attr(&self.attributes, keys::SERVICE_NAME) {
            Some(v) => v.as_str().unwrap_or(keys::NO_SERVICE_NAME),
            None => keys::NO_SERVICE_NAME,
        }
    }
}

/// The instrumentation scope (library) that produced spans.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    pub name: String,
    pub version: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

/// Span kind, numbered as in OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SpanKind {
    #[default]
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub fn from_i32(v: i32) -> SpanKind {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// Jaeger's lowercase name; empty for unspecified.
    pub fn jaeger_name(&self) -> &'static str {
        match self {
            SpanKind::Unspecified => "",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    /// Parses Jaeger's lowercase names (and the empty string as unspecified).
    pub fn from_jaeger_name(s: &str) -> Option<SpanKind> {
        Some(match s.to_ascii_lowercase().as_str() {
            "" | "unspecified" => SpanKind::Unspecified,
            "internal" => SpanKind::Internal,
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            _ => return None,
        })
    }
}

/// Status code, numbered as in OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl StatusCode {
    pub fn from_i32(v: i32) -> StatusCode {
        match v {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

/// A timed event within a span (a Jaeger log).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    pub time_unix_nano: UnixNanos,
    pub name: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
}

/// A link to another span (a Jaeger reference other than the parent).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
}

/// One span, without its resource and scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// Zero when the span is a root.
    pub parent_span_id: SpanId,
    pub trace_state: String,
    pub flags: u32,
    pub name: String,
    pub kind: SpanKind,
    pub start_time_unix_nano: UnixNanos,
    pub end_time_unix_nano: UnixNanos,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub events: Vec<Event>,
    pub dropped_events_count: u32,
    pub links: Vec<Link>,
    pub dropped_links_count: u32,
    pub status: Status,
}

impl Span {
    /// End minus start, saturating at zero.
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }

    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_zero()
    }
}

/// A span with the resource and scope it came with. Resources and scopes are
/// shared between the records of one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
    pub span: Span,
    /// Query-time annotations (adjuster warnings); never stored.
    pub warnings: Vec<String>,
}

impl SpanRecord {
    pub fn new(resource: Arc<Resource>, scope: Arc<Scope>, span: Span) -> Self {
        SpanRecord {
            resource,
            scope,
            span,
            warnings: Vec::new(),
        }
    }

    pub fn service_name(&self) -> &str {
        self.resource.service_name()
    }
}

/// A batch of spans as received, possibly from many traces.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanBatch {
    pub spans: Vec<SpanRecord>,
}

impl SpanBatch {
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// All spans of one trace that storage holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    pub trace_id: TraceId,
    pub spans: Vec<SpanRecord>,
    /// Trace-level warnings added at query time.
    pub warnings: Vec<String>,
}

impl Trace {
    /// Earliest span start, or 0 for an empty trace.
    pub fn start_time(&self) -> UnixNanos {
        self.spans
            .iter()
            .map(|r| r.span.start_time_unix_nano)
            .min()
            .unwrap_or(0)
    }

    /// Latest span end, or 0 for an empty trace.
    pub fn end_time(&self) -> UnixNanos {
        self.spans
            .iter()
            .map(|r| r.span.end_time_unix_nano)
            .max()
            .unwrap_or(0)
    }
}

/// A service-to-service call count (Jaeger's `DependencyLink`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DependencyLink {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
}

impl DependencyLink {
    /// One link per (parent, child), call counts summed (saturating),
    /// sorted by parent then child.
    pub fn merge(links: impl IntoIterator<Item = DependencyLink>) -> Vec<DependencyLink> {
        let mut merged: std::collections::BTreeMap<(String, String), u64> =
            std::collections::BTreeMap::new();
        for link in links {
            let count = merged.entry((link.parent, link.child)).or_default();
            *count = count.saturating_add(link.call_count);
        }
        merged
            .into_iter()
            .map(|((parent, child), call_count)| DependencyLink {
                parent,
                child,
                call_count,
            })
            .collect()
    }
}
