use std::sync::Arc;

use spoor_model::{AnyValue, KeyValue, SpanKind, SpanRecord, StatusCode, TraceId, UnixNanos};

use crate::filter::{FilterExpr, special_value};

/// One attribute filter. All filters of a query must hold on the same span.
#[derive(Debug, Clone, PartialEq)]
pub struct TagFilter {
    pub key: String,
    /// Compared against the attribute's string form (`AnyValue::to_string_lossy`).
    pub value: AnyValue,
}

impl TagFilter {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        TagFilter {
            key: key.into(),
            value: AnyValue::Str(value.into()),
        }
    }
}

/// A trace search. A trace matches when at least one of its spans matches
/// every given condition (Jaeger's per-span semantics).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceQuery {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub tags: Vec<TagFilter>,
    pub start_min: Option<UnixNanos>,
    pub start_max: Option<UnixNanos>,
    /// Span duration bounds, inclusive.
    pub duration_min: Option<u64>,
    pub duration_max: Option<u64>,
    /// A filter expression the same span must satisfy too (with the tags
    /// and every other span condition); see [`FilterExpr`].
    pub filter: Option<Arc<FilterExpr>>,
    /// Whole-trace duration bounds, inclusive: the latest span end minus the
    /// earliest span start over every stored span of the trace. Applied to
    /// traces (after the per-span match), before the limit.
    pub trace_duration_min: Option<u64>,
    pub trace_duration_max: Option<u64>,
    /// Maximum number of traces returned; must be at least 1.
    pub limit: usize,
}

impl TraceQuery {
    /// Does a trace spanning `[start, end]` satisfy the trace-duration bounds?
    pub fn trace_duration_matches(&self, start: UnixNanos, end: UnixNanos) -> bool {
        let duration = end.saturating_sub(start);
        !(self.trace_duration_min.is_some_and(|min| duration < min)
            || self.trace_duration_max.is_some_and(|max| duration > max))
    }

    /// Whether the query bounds the whole trace's duration.
    pub fn has_trace_duration(&self) -> bool {
        self.trace_duration_min.is_some() || self.trace_duration_max.is_some()
    }
}

/// Fetch one trace by ID; the time range is only a hint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GetTraceQuery {
    pub trace_id: TraceId,
    pub start: Option<UnixNanos>,
    pub end: Option<UnixNanos>,
}

impl GetTraceQuery {
    pub fn new(trace_id: TraceId) -> Self {
        GetTraceQuery {
            trace_id,
            start: None,
            end: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OperationQuery {
    pub service: String,
    /// `None` = all kinds.
    pub span_kind: Option<SpanKind>,
}

/// An operation (span name) of a service with its span kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Operation {
    pub name: String,
    pub span_kind: SpanKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundTrace {
    pub trace_id: TraceId,
    pub start: UnixNanos,
    pub end: UnixNanos,
}

/// What a reader supports beyond the baseline. The zero value is the least
/// capable reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Search works without a service name.
    pub search_without_service: bool,
    /// Dependencies can be read.
    pub dependencies: bool,
    /// RED statistics (calls, errors, latencies per service and operation)
    /// can be read through a [`crate::RedStatsReader`].
    pub metrics: bool,
}

fn attr_values(attrs: &[KeyValue], key: &str, f: &mut dyn FnMut(&str) -> bool) -> bool {
    attrs
        .iter()
        .any(|kv| kv.key == key && f(&kv.value.to_string_lossy()))
}

/// The tags the OTLP → Jaeger mapping adds to a span's Jaeger JSON from the
/// span's own fields (besides `error` and `span.kind`, which are special
/// keys): `otel.scope.name`, `otel.scope.version`, `otel.status_code`,
/// `otel.status_description`, `w3c.tracestate`, and the log field `event`
/// holding an event's name. [`matches_span`] finds these keys in the fields
/// as well as in attributes of that name.
pub const SYNTHESIZED_TAGS: &[&str] = &[
    "otel.scope.name",
    "otel.scope.version",
    "otel.status_code",
    "otel.status_description",
    "w3c.tracestate",
    "event",
];

/// Is `key` one of [`SYNTHESIZED_TAGS`]? A store that skips data by the
/// attribute keys it holds must not skip on these keys: their values come
/// from span fields too.
pub fn is_synthesized_tag(key: &str) -> bool {
    SYNTHESIZED_TAGS.contains(&key)
}

/// Calls `f` with each value of a [synthesized tag](SYNTHESIZED_TAGS) as the
/// Jaeger JSON shows it (none when the JSON omits the tag); false for any
/// other key.
fn synthesized_values(record: &SpanRecord, key: &str, f: &mut dyn FnMut(&str) -> bool) -> bool {
    let span = &record.span;
    let non_empty = |s: &str, f: &mut dyn FnMut(&str) -> bool| !s.is_empty() && f(s);
    match key {
        "otel.scope.name" => non_empty(&record.scope.name, f),
        "otel.scope.version" => non_empty(&record.scope.version, f),
        "otel.status_code" => match span.status.code {
            StatusCode::Unset => false,
            StatusCode::Ok => f("OK"),
            StatusCode::Error => f("ERROR"),
        },
        "otel.status_description" => non_empty(&span.status.message, f),
        "w3c.tracestate" => non_empty(&span.trace_state, f),
        // A log's `event` field: the event's name, unless its attributes
        // carry an `event` of their own (looked up with the attributes).
        "event" => span
            .events
            .iter()
            .any(|e| !e.attributes.iter().any(|kv| kv.key == key) && non_empty(&e.name, f)),
        _ => false,
    }
}

/// Calls `f` with the string form of every value `key` has on the span, as
/// Jaeger's tags resolve keys, until `f` returns true; returns whether it
/// did. `error`, `span.status` and `span.kind` have one value each (see
/// `filter::special_value`); `scope.name` and `scope.version` one unless
/// empty; `resource.<key>` the resource's attribute `<key>`; any other key
/// its [synthesized values](SYNTHESIZED_TAGS) and every span, scope,
/// resource, event and link attribute of that name.
pub(crate) fn for_each_value(
    record: &SpanRecord,
    key: &str,
    f: &mut dyn FnMut(&str) -> bool,
) -> bool {
    if let Some(v) = special_value(record, key) {
        return f(&v);
    }
    match key {
        "scope.name" => !record.scope.name.is_empty() && f(&record.scope.name),
        "scope.version" => !record.scope.version.is_empty() && f(&record.scope.version),
        key => {
            if let Some(rkey) = key.strip_prefix("resource.") {
                return attr_values(&record.resource.attributes, rkey, f);
            }
            let span = &record.span;
            synthesized_values(record, key, f)
                || attr_values(&span.attributes, key, f)
                || attr_values(&record.scope.attributes, key, f)
                || attr_values(&record.resource.attributes, key, f)
                || span
                    .events
                    .iter()
                    .any(|e| attr_values(&e.attributes, key, f))
                || span
                    .links
                    .iter()
                    .any(|l| attr_values(&l.attributes, key, f))
        }
    }
}

fn error_query_value(v: &AnyValue) -> Option<bool> {
    match v {
        AnyValue::Bool(b) => Some(*b),
        // Go's strconv.ParseBool
        AnyValue::Str(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Does this span satisfy every condition of `query`?
///
/// This is Jaeger's memory-backend predicate, the reference semantics for all
/// Spoor backends:
/// - service and operation compare exactly; start and duration bounds are inclusive;
/// - `error` (bool or Go-style boolean string): `true` needs status ERROR, `false` any other status;
/// - `span.status` (`OK`/`ERROR`/other = UNSET) and `span.kind` compare with the span's fields;
/// - `scope.name` / `scope.version` compare with the scope; `resource.<key>` looks only at resource attributes;
/// - any other key matches when span, scope, resource, any event's or any link's attributes
///   carry it with the same string form;
/// - so do the tags the Jaeger JSON of the span shows although no attribute holds them
///   ([`SYNTHESIZED_TAGS`]): `otel.scope.name`/`otel.scope.version` (when not empty),
///   `otel.status_code` (`OK`/`ERROR`, absent when unset), `otel.status_description` and
///   `w3c.tracestate` (when not empty), and `event`, an event's name (the log field the
///   JSON shows, unless the event's attributes carry their own `event`);
/// - the span must also satisfy `query.filter`, if any (same key resolution).
pub fn matches_span(record: &SpanRecord, query: &TraceQuery) -> bool {
    let span = &record.span;
    if let Some(service) = &query.service
        && record.service_name() != service
    {
        return false;
    }
    if let Some(op) = &query.operation
        && &span.name != op
    {
        return false;
    }
    let start = span.start_time_unix_nano;
    if query.start_min.is_some_and(|min| start < min)
        || query.start_max.is_some_and(|max| start > max)
    {
        return false;
    }
    let duration = span.duration_nanos();
    if query
        .duration_min
        .is_some_and(|min| min != 0 && duration < min)
        || query
            .duration_max
            .is_some_and(|max| max != 0 && duration > max)
    {
        return false;
    }
    query.tags.iter().all(|f| tag_matches(record, f))
        && query.filter.as_ref().is_none_or(|f| f.matches(record))
}

/// One Jaeger tag condition on one span (the semantics of [`matches_span`]).
pub(crate) fn tag_matches(record: &SpanRecord, filter: &TagFilter) -> bool {
    let span = &record.span;
    let want = filter.value.to_string_lossy();
    match filter.key.as_str() {
        "error" => match error_query_value(&filter.value) {
            Some(true) => span.status.code == StatusCode::Error,
            Some(false) => span.status.code != StatusCode::Error,
            None => false,
        },
        "span.status" => {
            let expected = match want.to_ascii_uppercase().as_str() {
                "OK" => StatusCode::Ok,
                "ERROR" => StatusCode::Error,
                _ => StatusCode::Unset,
            };
            span.status.code == expected
        }
        "span.kind" => {
            let expected = SpanKind::from_jaeger_name(&want).unwrap_or(SpanKind::Unspecified);
            span.kind == expected
        }
        "scope.name" => record.scope.name == want,
        "scope.version" => record.scope.version == want,
        key => for_each_value(record, key, &mut |v| v == want),
    }
}
