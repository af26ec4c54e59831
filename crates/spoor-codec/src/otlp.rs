//! OTLP protobuf (`ExportTraceServiceRequest`, and `TracesData`, which has the
//! same wire shape) to and from the model.
//!
//! Decoding validates identifiers the way Jaeger's collector does: a span
//! needs a 16-byte, non-zero trace ID and an 8-byte, non-zero span ID; an
//! empty parent span ID marks a root. Links may carry empty or all-zero IDs
//! (the query-time adjuster drops those). Unlike the collector, one bad span
//! does not fail the request (ADR 0015): a span without a usable trace or
//! span ID is left out alone, a parent ID of the wrong length is dropped
//! (the span becomes a root) and a link with an ID of the wrong length is
//! dropped, each counted in a [`DecodeReport`] (the receiver answers OTLP
//! partial success). Unknown enum numbers become `Unspecified` / `Unset`.
//!
//! Requests from OTLP clients older than protocol 0.19 that still send the
//! deprecated `instrumentation_library_spans` field (number 1000) are
//! migrated the way the OpenTelemetry collector does it: those scope spans
//! are used when `scope_spans` is empty.

use std::borrow::Cow;
use std::sync::Arc;

use prost::Message;
use spoor_model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanBatch, SpanId, SpanKind,
    SpanRecord, Status, StatusCode, TraceId, keys,
};
use spoor_proto::otlp_collector::ExportTraceServiceRequest;
use spoor_proto::{otlp_common as pc, otlp_resource as pr, otlp_trace as pt};

use crate::report::reason_of;
use crate::{DecodeError, DecodeReport};

/// Decodes a protobuf `ExportTraceServiceRequest` (or `TracesData`) into a
/// batch, leaving out what cannot be used (see [`decode_request_reported`]).
pub fn decode_request(bytes: &[u8]) -> Result<SpanBatch, DecodeError> {
    decode_request_reported(bytes, &mut DecodeReport::new())
}

/// Decodes a protobuf `ExportTraceServiceRequest` (or `TracesData`) into a
/// batch. Fails only when the bytes are not that message; a span whose trace
/// or span ID is unusable is left out and a parent ID or link of the wrong
/// length is dropped, each counted in `report`.
pub fn decode_request_reported(
    bytes: &[u8],
    report: &mut DecodeReport,
) -> Result<SpanBatch, DecodeError> {
    let compat = CompatRequest::decode(bytes).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    Ok(from_request_reported(compat.into_request(), report))
}

/// Converts an already decoded request (the gRPC receiver's case) into a
/// batch, leaving out what cannot be used (see [`from_request_reported`]).
pub fn from_request(req: ExportTraceServiceRequest) -> Result<SpanBatch, DecodeError> {
    Ok(from_request_reported(req, &mut DecodeReport::new()))
}

/// Converts an already decoded request into a batch; what cannot be used is
/// left out and counted in `report` (see [`decode_request_reported`]).
///
/// Records of one `ResourceSpans` share one `Arc<Resource>`, records of one
/// `ScopeSpans` share one `Arc<Scope>`.
pub fn from_request_reported(
    req: ExportTraceServiceRequest,
    report: &mut DecodeReport,
) -> SpanBatch {
    let total: usize = req
        .resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .map(|ss| ss.spans.len())
        .sum();
    let mut spans = Vec::with_capacity(total);
    for (ri, rs) in req.resource_spans.into_iter().enumerate() {
        let resource = Arc::new(resource_from_proto(rs.resource, rs.schema_url));
        for (si, ss) in rs.scope_spans.into_iter().enumerate() {
            let scope = Arc::new(scope_from_proto(ss.scope, ss.schema_url));
            for (pi, span) in ss.spans.into_iter().enumerate() {
                let at = Location {
                    resource: ri,
                    scope: si,
                    span: pi,
                };
                match span_from_proto(span, at, report) {
                    Ok(span) => spans.push(SpanRecord::new(resource.clone(), scope.clone(), span)),
                    Err(e) => report.reject_span(reason_of(&e), || e.to_string()),
                }
            }
        }
    }
    SpanBatch { spans }
}

/// Builds a request from records, grouping them into `ResourceSpans` by
/// resource and into `ScopeSpans` by scope, in first-seen order.
///
/// Query-time warnings of a record are written as the `@jaeger@warnings`
/// string-array span attribute, as Jaeger's api_v3 does.
pub fn to_request(spans: &[SpanRecord]) -> ExportTraceServiceRequest {
    let resource_spans = group_records(spans)
        .into_iter()
        .map(|rg| pt::ResourceSpans {
            resource: Some(pr::Resource {
                attributes: kvs_to_proto(&rg.resource.attributes),
                dropped_attributes_count: rg.resource.dropped_attributes_count,
                entity_refs: Vec::new(),
            }),
            scope_spans: rg
                .scopes
                .into_iter()
                .map(|sg| pt::ScopeSpans {
                    scope: Some(pc::InstrumentationScope {
                        name: sg.scope.name.clone(),
                        version: sg.scope.version.clone(),
                        attributes: kvs_to_proto(&sg.scope.attributes),
                        dropped_attributes_count: sg.scope.dropped_attributes_count,
                    }),
                    spans: sg.records.into_iter().map(span_to_proto).collect(),
                    schema_url: sg.scope.schema_url.clone(),
                })
                .collect(),
            schema_url: rg.resource.schema_url.clone(),
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// Encodes records as a protobuf `ExportTraceServiceRequest` (see [`to_request`]).
pub fn encode_request(spans: &[SpanRecord]) -> Vec<u8> {
    to_request(spans).encode_to_vec()
}

// ---------------------------------------------------------------------------
// Grouping, shared with the JSON encoder: resources then scopes in
// first-seen order, by `Arc` identity and then by value.
pub(crate) use spoor_model::group::{
    ResourceGroup, ScopeGroup, group_by_resource_and_scope as group_records,
};

/// The span's attributes with the record's warnings folded into the
/// `@jaeger@warnings` string array (appended to an existing array attribute
/// of that name, else added as a new attribute).
pub(crate) fn attributes_with_warnings(rec: &SpanRecord) -> Cow<'_, [KeyValue]> {
    if rec.warnings.is_empty() {
        return Cow::Borrowed(&rec.span.attributes);
    }
    let mut attrs = rec.span.attributes.clone();
    let new = rec.warnings.iter().map(|w| AnyValue::Str(w.clone()));
    match attrs
        .iter_mut()
        .find(|kv| kv.key == keys::JAEGER_WARNINGS && matches!(kv.value, AnyValue::Array(_)))
    {
        Some(KeyValue {
            value: AnyValue::Array(items),
            ..
        }) => items.extend(new),
        _ => attrs.push(KeyValue::new(
            keys::JAEGER_WARNINGS,
            AnyValue::Array(new.collect()),
        )),
    }
    Cow::Owned(attrs)
}

// ---------------------------------------------------------------------------
// Decoding.

/// Where a span sits in the request, for error messages.
#[derive(Clone, Copy)]
pub(crate) struct Location {
    pub(crate) resource: usize,
    pub(crate) scope: usize,
    pub(crate) span: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "resourceSpans[{}].scopeSpans[{}].spans[{}]",
            self.resource, self.scope, self.span
        )
    }
}

fn resource_from_proto(r: Option<pr::Resource>, schema_url: String) -> Resource {
    let r = r.unwrap_or_default();
    Resource {
        attributes: kvs_from_proto(r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
        schema_url,
    }
}

fn scope_from_proto(s: Option<pc::InstrumentationScope>, schema_url: String) -> Scope {
    let s = s.unwrap_or_default();
    Scope {
        name: s.name,
        version: s.version,
        attributes: kvs_from_proto(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        schema_url,
    }
}

fn span_from_proto(
    s: pt::Span,
    at: Location,
    report: &mut DecodeReport,
) -> Result<Span, DecodeError> {
    let trace_id = required_trace_id(&s.trace_id, "traceId", at)?;
    let span_id = required_span_id(&s.span_id, "spanId", at)?;
    let parent_span_id = match optional_span_id(&s.parent_span_id, "parentSpanId", at) {
        Ok(id) => id,
        Err(e) => {
            report.drop_field("parent_span_id", || e.to_string());
            SpanId::ZERO
        }
    };
    let mut links = Vec::with_capacity(s.links.len());
    for (li, l) in s.links.into_iter().enumerate() {
        match link_from_proto(l, at, li) {
            Ok(link) => links.push(link),
            Err(e) => report.drop_field("link", || e.to_string()),
        }
    }
    let status = s.status.unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: s.trace_state,
        flags: s.flags,
        name: s.name,
        kind: SpanKind::from_i32(s.kind),
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: kvs_from_proto(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .into_iter()
            .map(|e| Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name,
                attributes: kvs_from_proto(e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links,
        dropped_links_count: s.dropped_links_count,
        status: Status {
            code: StatusCode::from_i32(status.code),
            message: status.message,
        },
    })
}

fn link_from_proto(l: pt::span::Link, at: Location, li: usize) -> Result<Link, DecodeError> {
    let trace_id = if l.trace_id.is_empty() {
        TraceId::ZERO
    } else {
        TraceId::from_slice(&l.trace_id).map_err(|_| {
            DecodeError::invalid(
                "links.traceId",
                format!(
                    "must be 16 bytes, got {} at {at}.links[{li}]",
                    l.trace_id.len()
                ),
            )
        })?
    };
    let span_id = if l.span_id.is_empty() {
        SpanId::ZERO
    } else {
        SpanId::from_slice(&l.span_id).map_err(|_| {
            DecodeError::invalid(
                "links.spanId",
                format!(
                    "must be 8 bytes, got {} at {at}.links[{li}]",
                    l.span_id.len()
                ),
            )
        })?
    };
    Ok(Link {
        trace_id,
        span_id,
        trace_state: l.trace_state,
        attributes: kvs_from_proto(l.attributes),
        dropped_attributes_count: l.dropped_attributes_count,
        flags: l.flags,
    })
}

fn required_trace_id(b: &[u8], field: &str, at: Location) -> Result<TraceId, DecodeError> {
    let id = TraceId::from_slice(b).map_err(|_| {
        DecodeError::invalid(field, format!("must be 16 bytes, got {} at {at}", b.len()))
    })?;
    if id.is_zero() {
        return Err(DecodeError::invalid(
            field,
            format!("must not be all zeros at {at}"),
        ));
    }
    Ok(id)
}

fn required_span_id(b: &[u8], field: &str, at: Location) -> Result<SpanId, DecodeError> {
    let id = SpanId::from_slice(b).map_err(|_| {
        DecodeError::invalid(field, format!("must be 8 bytes, got {} at {at}", b.len()))
    })?;
    if id.is_zero() {
        return Err(DecodeError::invalid(
            field,
            format!("must not be all zeros at {at}"),
        ));
    }
    Ok(id)
}

fn optional_span_id(b: &[u8], field: &str, at: Location) -> Result<SpanId, DecodeError> {
    if b.is_empty() {
        return Ok(SpanId::ZERO);
    }
    SpanId::from_slice(b).map_err(|_| {
        DecodeError::invalid(
            field,
            format!("must be empty or 8 bytes, got {} at {at}", b.len()),
        )
    })
}

fn kvs_from_proto(kvs: Vec<pc::KeyValue>) -> Vec<KeyValue> {
    kvs.into_iter()
        .map(|kv| KeyValue {
            key: kv.key,
            value: kv.value.map(value_from_proto).unwrap_or_default(),
        })
        .collect()
}

/// Recursion is bounded by prost's decoding recursion limit (100 messages).
fn value_from_proto(v: pc::AnyValue) -> AnyValue {
    use pc::any_value::Value;
    match v.value {
        None => AnyValue::Empty,
        Some(Value::StringValue(s)) => AnyValue::Str(s),
        Some(Value::BoolValue(b)) => AnyValue::Bool(b),
        Some(Value::IntValue(i)) => AnyValue::Int(i),
        Some(Value::DoubleValue(d)) => AnyValue::Double(d),
        Some(Value::BytesValue(b)) => AnyValue::Bytes(b),
        Some(Value::ArrayValue(a)) => {
            AnyValue::Array(a.values.into_iter().map(value_from_proto).collect())
        }
        Some(Value::KvlistValue(l)) => AnyValue::KvList(kvs_from_proto(l.values)),
        // A string-table index only means something in profiles; spans have no table.
        Some(Value::StringValueStrindex(_)) => AnyValue::Empty,
    }
}

// ---------------------------------------------------------------------------
// Encoding.

fn span_to_proto(rec: &SpanRecord) -> pt::Span {
    let s = &rec.span;
    pt::Span {
        trace_id: trace_id_bytes(s.trace_id),
        span_id: span_id_bytes(s.span_id),
        trace_state: s.trace_state.clone(),
        parent_span_id: span_id_bytes(s.parent_span_id),
        flags: s.flags,
        name: s.name.clone(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: kvs_to_proto(&attributes_with_warnings(rec)),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| pt::span::Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.clone(),
                attributes: kvs_to_proto(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| pt::span::Link {
                trace_id: trace_id_bytes(l.trace_id),
                span_id: span_id_bytes(l.span_id),
                trace_state: l.trace_state.clone(),
                attributes: kvs_to_proto(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: Some(pt::Status {
            message: s.status.message.clone(),
            code: s.status.code as i32,
        }),
    }
}

/// All-zero IDs are written as empty bytes ("absent"), as pdata does.
fn trace_id_bytes(id: TraceId) -> Vec<u8> {
    if id.is_zero() {
        Vec::new()
    } else {
        id.0.to_vec()
    }
}

fn span_id_bytes(id: SpanId) -> Vec<u8> {
    if id.is_zero() {
        Vec::new()
    } else {
        id.0.to_vec()
    }
}

fn kvs_to_proto(kvs: &[KeyValue]) -> Vec<pc::KeyValue> {
    kvs.iter()
        .map(|kv| pc::KeyValue {
            key: kv.key.clone(),
            value: Some(value_to_proto(&kv.value)),
            key_strindex: 0,
        })
        .collect()
}

fn value_to_proto(v: &AnyValue) -> pc::AnyValue {
    use pc::any_value::Value;
    let value = match v {
        AnyValue::Empty => None,
        AnyValue::Str(s) => Some(Value::StringValue(s.clone())),
        AnyValue::Bool(b) => Some(Value::BoolValue(*b)),
        AnyValue::Int(i) => Some(Value::IntValue(*i)),
        AnyValue::Double(d) => Some(Value::DoubleValue(*d)),
        AnyValue::Bytes(b) => Some(Value::BytesValue(b.clone())),
        AnyValue::Array(items) => Some(Value::ArrayValue(pc::ArrayValue {
            values: items.iter().map(value_to_proto).collect(),
        })),
        AnyValue::KvList(kvs) => Some(Value::KvlistValue(pc::KeyValueList {
            values: kvs_to_proto(kvs),
        })),
    };
    pc::AnyValue { value }
}

// ---------------------------------------------------------------------------
// Wire compatibility with pre-1.0 OTLP senders.

/// `ExportTraceServiceRequest` / `TracesData` as it is on the wire, with the
/// deprecated field 1000 of `ResourceSpans` that `opentelemetry-proto` no
/// longer generates.
#[derive(Clone, PartialEq, prost::Message)]
struct CompatRequest {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<CompatResourceSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CompatResourceSpans {
    #[prost(message, optional, tag = "1")]
    resource: Option<pr::Resource>,
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<pt::ScopeSpans>,
    #[prost(string, tag = "3")]
    schema_url: String,
    /// `instrumentation_library_spans`: same layout as `ScopeSpans`
    /// (`InstrumentationLibrary` has `name` = 1 and `version` = 2, like
    /// `InstrumentationScope`).
    #[prost(message, repeated, tag = "1000")]
    deprecated_scope_spans: Vec<pt::ScopeSpans>,
}

impl CompatRequest {
    fn into_request(self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: self
                .resource_spans
                .into_iter()
                .map(|rs| pt::ResourceSpans {
                    resource: rs.resource,
                    scope_spans: if rs.scope_spans.is_empty() {
                        rs.deprecated_scope_spans
                    } else {
                        rs.scope_spans
                    },
                    schema_url: rs.schema_url,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    /// A small deterministic generator (SplitMix64), enough for property-style tests.
    pub(crate) struct Rng(pub(crate) u64);

    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        pub(crate) fn chance(&mut self, one_in: u64) -> bool {
            self.below(one_in) == 0
        }
        fn string(&mut self) -> String {
            const ALPHABET: &[&str] = &["a", "b", "Z", "0", " ", "é", "\"", "\\", "\n", "🙂", "."];
            let len = self.below(8);
            (0..len)
                .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
                .collect()
        }
        fn nonzero_trace_id(&mut self) -> TraceId {
            TraceId::from_halves(self.next(), self.next() | 1)
        }
        fn nonzero_span_id(&mut self) -> SpanId {
            SpanId::from_u64(self.next() | 1)
        }
        pub(crate) fn value(&mut self, depth: u32) -> AnyValue {
            let kinds = if depth >= 3 { 6 } else { 8 };
            match self.below(kinds) {
                0 => AnyValue::Empty,
                1 => AnyValue::Str(self.string()),
                2 => AnyValue::Bool(self.chance(2)),
                3 => AnyValue::Int(match self.below(4) {
                    0 => i64::MIN,
                    1 => i64::MAX,
                    2 => 0,
                    _ => self.next() as i64,
                }),
                4 => AnyValue::Double(match self.below(6) {
                    0 => f64::INFINITY,
                    1 => f64::NEG_INFINITY,
                    2 => 3.0,
                    3 => 1e300,
                    4 => -0.5,
                    _ => (self.next() as i64) as f64 / 1024.0,
                }),
                5 => AnyValue::Bytes((0..self.below(6)).map(|_| self.next() as u8).collect()),
                6 => AnyValue::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
                _ => AnyValue::KvList(self.attrs(depth + 1)),
            }
        }
        pub(crate) fn attrs(&mut self, depth: u32) -> Vec<KeyValue> {
            (0..self.below(4))
                .map(|_| KeyValue::new(self.string(), self.value(depth)))
                .collect()
        }
        fn small(&mut self) -> u32 {
            if self.chance(2) {
                0
            } else {
                self.next() as u32
            }
        }
        pub(crate) fn span(&mut self) -> Span {
            Span {
                trace_id: self.nonzero_trace_id(),
                span_id: self.nonzero_span_id(),
                parent_span_id: if self.chance(3) {
                    SpanId::ZERO
                } else {
                    self.nonzero_span_id()
                },
                trace_state: self.string(),
                flags: self.small(),
                name: self.string(),
                kind: SpanKind::from_i32(self.below(7) as i32),
                start_time_unix_nano: self.next(),
                end_time_unix_nano: self.next(),
                attributes: self.attrs(0),
                dropped_attributes_count: self.small(),
                events: (0..self.below(3))
                    .map(|_| Event {
                        time_unix_nano: self.next(),
                        name: self.string(),
                        attributes: self.attrs(0),
                        dropped_attributes_count: self.small(),
                    })
                    .collect(),
                dropped_events_count: self.small(),
                links: (0..self.below(3))
                    .map(|_| Link {
                        trace_id: if self.chance(4) {
                            TraceId::ZERO
                        } else {
                            self.nonzero_trace_id()
                        },
                        span_id: if self.chance(4) {
                            SpanId::ZERO
                        } else {
                            self.nonzero_span_id()
                        },
                        trace_state: self.string(),
                        attributes: self.attrs(0),
                        dropped_attributes_count: self.small(),
                        flags: self.small(),
                    })
                    .collect(),
                dropped_links_count: self.small(),
                status: Status {
                    code: StatusCode::from_i32(self.below(3) as i32),
                    message: self.string(),
                },
            }
        }
        /// A batch in canonical grouped order (as decoding produces it):
        /// distinct resources, each with distinct scopes.
        pub(crate) fn batch(&mut self) -> SpanBatch {
            let mut spans = Vec::new();
            for r in 0..self.below(4) {
                let mut attrs = self.attrs(0);
                attrs.push(KeyValue::new("resource.index", AnyValue::Int(r as i64)));
                let resource = Arc::new(Resource {
                    attributes: attrs,
                    dropped_attributes_count: self.small(),
                    schema_url: self.string(),
                });
                for s in 0..self.below(3) + 1 {
                    let scope = Arc::new(Scope {
                        name: format!("scope-{s}"),
                        version: self.string(),
                        attributes: self.attrs(0),
                        dropped_attributes_count: self.small(),
                        schema_url: self.string(),
                    });
                    for _ in 0..self.below(4) + 1 {
                        spans.push(SpanRecord::new(
                            resource.clone(),
                            scope.clone(),
                            self.span(),
                        ));
                    }
                }
            }
            SpanBatch { spans }
        }
    }

    fn minimal_span() -> pt::Span {
        pt::Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "op".into(),
            ..Default::default()
        }
    }

    fn request_with(span: pt::Span) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![pt::ResourceSpans {
                resource: None,
                scope_spans: vec![pt::ScopeSpans {
                    scope: None,
                    spans: vec![span],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn decode_span(span: pt::Span) -> Result<SpanBatch, DecodeError> {
        decode_request(&request_with(span).encode_to_vec())
    }

    #[test]
    fn random_batches_round_trip() {
        let mut rng = Rng(42);
        for _ in 0..300 {
            let batch = rng.batch();
            let bytes = encode_request(&batch.spans);
            let back = decode_request(&bytes).unwrap();
            assert_eq!(back, batch);
            // from_request on the typed request gives the same.
            assert_eq!(from_request(to_request(&batch.spans)).unwrap(), batch);
        }
    }

    #[test]
    fn decoded_records_share_resource_and_scope() {
        let mut req = request_with(minimal_span());
        let mut second = minimal_span();
        second.span_id = vec![3; 8];
        req.resource_spans[0].scope_spans[0].spans.push(second);
        req.resource_spans[0].scope_spans.push(pt::ScopeSpans {
            scope: Some(pc::InstrumentationScope {
                name: "other".into(),
                ..Default::default()
            }),
            spans: vec![minimal_span()],
            schema_url: "s".into(),
        });
        let batch = from_request(req).unwrap();
        assert_eq!(batch.len(), 3);
        let [a, b, c] = &batch.spans[..] else {
            unreachable!()
        };
        assert!(Arc::ptr_eq(&a.resource, &b.resource));
        assert!(Arc::ptr_eq(&a.resource, &c.resource));
        assert!(Arc::ptr_eq(&a.scope, &b.scope));
        assert!(!Arc::ptr_eq(&a.scope, &c.scope));
        assert_eq!(c.scope.name, "other");
        assert_eq!(c.scope.schema_url, "s");
        assert_eq!(a.service_name(), keys::NO_SERVICE_NAME);
    }

    #[test]
    fn grouping_uses_pointer_then_equality_in_first_seen_order() {
        let r1 = Arc::new(Resource {
            attributes: vec![KeyValue::str("service.name", "a")],
            ..Default::default()
        });
        let r1_copy = Arc::new((*r1).clone());
        let r2 = Arc::new(Resource {
            attributes: vec![KeyValue::str("service.name", "b")],
            ..Default::default()
        });
        let s1 = Arc::new(Scope {
            name: "s1".into(),
            ..Default::default()
        });
        let s2 = Arc::new(Scope {
            name: "s2".into(),
            ..Default::default()
        });
        let mut rng = Rng(7);
        let recs = vec![
            SpanRecord::new(r2.clone(), s1.clone(), rng.span()),
            SpanRecord::new(r1.clone(), s2.clone(), rng.span()),
            SpanRecord::new(r1_copy.clone(), s1.clone(), rng.span()),
            SpanRecord::new(r2.clone(), s1.clone(), rng.span()),
            SpanRecord::new(r1.clone(), Arc::new((*s2).clone()), rng.span()),
        ];
        let req = to_request(&recs);
        assert_eq!(req.resource_spans.len(), 2);
        let names: Vec<Vec<(&str, usize)>> = req
            .resource_spans
            .iter()
            .map(|rs| {
                rs.scope_spans
                    .iter()
                    .map(|ss| (ss.scope.as_ref().unwrap().name.as_str(), ss.spans.len()))
                    .collect()
            })
            .collect();
        assert_eq!(names, vec![vec![("s1", 2)], vec![("s2", 2), ("s1", 1)]]);
        // Span order inside a group follows the input.
        let rs1 = &req.resource_spans[1].scope_spans[0].spans;
        assert_eq!(rs1[0].span_id, recs[1].span.span_id.0.to_vec());
        assert_eq!(rs1[1].span_id, recs[4].span.span_id.0.to_vec());
    }

    #[test]
    fn warnings_become_the_jaeger_warnings_attribute() {
        let mut rng = Rng(3);
        let mut span = rng.span();
        span.attributes = vec![KeyValue::str("k", "v")];
        let mut rec = SpanRecord::new(Arc::default(), Arc::default(), span);
        rec.warnings = vec!["w1".into(), "w2".into()];
        let req = to_request(std::slice::from_ref(&rec));
        let back = from_request(req).unwrap();
        let attrs = &back.spans[0].span.attributes;
        assert_eq!(attrs.len(), 2);
        assert_eq!(
            attrs[1],
            KeyValue::new(
                keys::JAEGER_WARNINGS,
                AnyValue::Array(vec![AnyValue::Str("w1".into()), AnyValue::Str("w2".into())])
            )
        );
        // An existing array is extended.
        rec.span.attributes = back.spans[0].span.attributes.clone();
        rec.warnings = vec!["w3".into()];
        let again = from_request(to_request(std::slice::from_ref(&rec))).unwrap();
        let attrs = &again.spans[0].span.attributes;
        assert_eq!(attrs.len(), 2);
        assert_eq!(
            attrs[1].value,
            AnyValue::Array(vec![
                AnyValue::Str("w1".into()),
                AnyValue::Str("w2".into()),
                AnyValue::Str("w3".into())
            ])
        );
    }

    fn decode_reported(span: pt::Span) -> (SpanBatch, DecodeReport) {
        let mut report = DecodeReport::new();
        let batch =
            decode_request_reported(&request_with(span).encode_to_vec(), &mut report).unwrap();
        (batch, report)
    }

    #[test]
    fn a_span_with_unusable_ids_is_left_out_alone_and_named() {
        let cases: Vec<(pt::Span, &str)> = vec![
            (
                pt::Span {
                    trace_id: vec![1; 15],
                    ..minimal_span()
                },
                crate::reason::INVALID_TRACE_ID,
            ),
            (
                pt::Span {
                    trace_id: vec![],
                    ..minimal_span()
                },
                crate::reason::INVALID_TRACE_ID,
            ),
            (
                pt::Span {
                    trace_id: vec![0; 16],
                    ..minimal_span()
                },
                crate::reason::INVALID_TRACE_ID,
            ),
            (
                pt::Span {
                    span_id: vec![1; 9],
                    ..minimal_span()
                },
                crate::reason::INVALID_SPAN_ID,
            ),
            (
                pt::Span {
                    span_id: vec![],
                    ..minimal_span()
                },
                crate::reason::INVALID_SPAN_ID,
            ),
            (
                pt::Span {
                    span_id: vec![0; 8],
                    ..minimal_span()
                },
                crate::reason::INVALID_SPAN_ID,
            ),
        ];
        for (bad, reason) in cases {
            let mut req = request_with(minimal_span());
            req.resource_spans[0].scope_spans[0].spans.insert(0, bad);
            let mut report = DecodeReport::new();
            let batch = decode_request_reported(&req.encode_to_vec(), &mut report).unwrap();
            assert_eq!(batch.len(), 1, "the good span stays");
            assert_eq!(report.rejected_by_reason(), &[(reason, 1)]);
            assert!(
                report.messages()[0].contains("resourceSpans[0].scopeSpans[0].spans[0]"),
                "{:?}",
                report.messages()
            );
            // The report-less form leaves the span out the same way.
            assert_eq!(decode_request(&req.encode_to_vec()).unwrap().len(), 1);
        }
    }

    #[test]
    fn wrong_length_parent_and_link_ids_are_dropped_and_counted() {
        let (batch, report) = decode_reported(pt::Span {
            parent_span_id: vec![1; 4],
            ..minimal_span()
        });
        assert_eq!(batch.len(), 1);
        assert!(batch.spans[0].span.parent_span_id.is_zero());
        assert_eq!(report.dropped_by_field(), &[("parent_span_id", 1)]);
        assert!(report.messages()[0].contains("parentSpanId"));
        for link in [
            pt::span::Link {
                trace_id: vec![1; 8],
                ..Default::default()
            },
            pt::span::Link {
                trace_id: vec![1; 16],
                span_id: vec![1; 16],
                ..Default::default()
            },
        ] {
            let (batch, report) = decode_reported(pt::Span {
                links: vec![
                    link,
                    pt::span::Link {
                        trace_id: vec![2; 16],
                        span_id: vec![2; 8],
                        ..Default::default()
                    },
                ],
                ..minimal_span()
            });
            assert_eq!(batch.spans[0].span.links.len(), 1);
            assert_eq!(batch.spans[0].span.links[0].span_id, SpanId([2; 8]));
            assert_eq!(report.dropped_by_field(), &[("link", 1)]);
            assert_eq!(report.rejected_spans(), 0);
        }
    }

    #[test]
    fn empty_or_zero_parent_is_root_and_empty_link_ids_are_kept() {
        for parent in [vec![], vec![0; 8]] {
            let batch = decode_span(pt::Span {
                parent_span_id: parent,
                links: vec![
                    pt::span::Link::default(),
                    pt::span::Link {
                        trace_id: vec![0; 16],
                        span_id: vec![0; 8],
                        ..Default::default()
                    },
                ],
                ..minimal_span()
            })
            .unwrap();
            let span = &batch.spans[0].span;
            assert!(span.is_root());
            assert_eq!(span.links.len(), 2);
            assert!(
                span.links
                    .iter()
                    .all(|l| l.trace_id.is_zero() && l.span_id.is_zero())
            );
        }
    }

    #[test]
    fn unknown_enum_numbers_map_to_defaults() {
        let batch = decode_span(pt::Span {
            kind: 42,
            status: Some(pt::Status {
                code: -7,
                message: "m".into(),
            }),
            ..minimal_span()
        })
        .unwrap();
        let span = &batch.spans[0].span;
        assert_eq!(span.kind, SpanKind::Unspecified);
        assert_eq!(span.status.code, StatusCode::Unset);
        assert_eq!(span.status.message, "m");
    }

    #[test]
    fn malformed_protobuf_is_a_protobuf_error() {
        // Field 1, length-delimited, length 10 but only 2 bytes follow.
        let err = decode_request(&[0x0a, 0x0a, 0x01, 0x02]).unwrap_err();
        assert!(matches!(err, DecodeError::Protobuf(_)), "{err:?}");
        // Invalid UTF-8 in a span name.
        let mut bytes = request_with(pt::Span {
            name: "\u{7f}\u{7f}".into(),
            ..minimal_span()
        })
        .encode_to_vec();
        let pos = bytes.windows(2).position(|w| w == [0x7f, 0x7f]).unwrap();
        bytes[pos] = 0xff;
        assert!(matches!(
            decode_request(&bytes),
            Err(DecodeError::Protobuf(_))
        ));
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let mut v = pc::AnyValue {
            value: Some(pc::any_value::Value::IntValue(1)),
        };
        for _ in 0..200 {
            v = pc::AnyValue {
                value: Some(pc::any_value::Value::ArrayValue(pc::ArrayValue {
                    values: vec![v],
                })),
            };
        }
        let bytes = request_with(pt::Span {
            attributes: vec![pc::KeyValue {
                key: "deep".into(),
                value: Some(v),
                key_strindex: 0,
            }],
            ..minimal_span()
        })
        .encode_to_vec();
        assert!(matches!(
            decode_request(&bytes),
            Err(DecodeError::Protobuf(_))
        ));
    }

    #[test]
    fn empty_input_is_an_empty_batch() {
        assert!(decode_request(&[]).unwrap().is_empty());
        assert!(encode_request(&[]).is_empty());
    }

    #[test]
    fn deprecated_instrumentation_library_spans_are_migrated() {
        let legacy = CompatRequest {
            resource_spans: vec![CompatResourceSpans {
                resource: Some(pr::Resource {
                    attributes: vec![pc::KeyValue {
                        key: "service.name".into(),
                        value: Some(pc::AnyValue {
                            value: Some(pc::any_value::Value::StringValue("legacy".into())),
                        }),
                        key_strindex: 0,
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![],
                schema_url: String::new(),
                deprecated_scope_spans: vec![pt::ScopeSpans {
                    scope: Some(pc::InstrumentationScope {
                        name: "io.opentelemetry.old".into(),
                        version: "0.9".into(),
                        ..Default::default()
                    }),
                    spans: vec![minimal_span()],
                    schema_url: String::new(),
                }],
            }],
        };
        let batch = decode_request(&legacy.encode_to_vec()).unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.spans[0].service_name(), "legacy");
        assert_eq!(batch.spans[0].scope.name, "io.opentelemetry.old");
        assert_eq!(batch.spans[0].scope.version, "0.9");
    }

    #[test]
    fn string_table_index_values_become_empty() {
        let batch = decode_span(pt::Span {
            attributes: vec![pc::KeyValue {
                key: "k".into(),
                value: Some(pc::AnyValue {
                    value: Some(pc::any_value::Value::StringValueStrindex(3)),
                }),
                key_strindex: 0,
            }],
            ..minimal_span()
        })
        .unwrap();
        assert_eq!(batch.spans[0].span.attributes[0].value, AnyValue::Empty);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(99);
        let valid = encode_request(&rng.batch().spans);
        for _ in 0..2000 {
            let mut bytes = valid.clone();
            if bytes.is_empty() {
                bytes.push(0);
            }
            for _ in 0..rng.below(4) + 1 {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] = rng.next() as u8;
            }
            let cut = rng.below(bytes.len() as u64 + 1) as usize;
            let _ = decode_request(&bytes[..cut]);
        }
    }
}
