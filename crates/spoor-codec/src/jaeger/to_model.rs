//! Jaeger model → Spoor model, the ingest direction (Thrift over UDP and
//! HTTP, api_v2 protobuf over gRPC), following contrib's
//! `pkg/translator/jaeger/jaegerthrift_to_traces.go` and
//! `jaegerproto_to_traces.go` (reference §2.1):
//!
//! - process `serviceName` → resource `service.name` (an empty name with no
//!   tags, or no process, gives an empty resource, which reads back as
//!   `OTLPResourceNoServiceName`); process tags → resource attributes, then
//!   `hostname` → `host.name` and `jaeger.version` →
//!   `opencensus.exporterversion` = `Jaeger-<v>` (unless the target key is
//!   already there);
//! - span tags → attributes with map semantics (a repeated key keeps its first
//!   position and its last value); then `span.kind` → kind; `error` (bool),
//!   `otel.status_code`, `otel.status_description` → status, falling back to
//!   `http.status_code` (and `http.status_message`); consumed tags are removed
//!   the way OpenTelemetry's `pcommon.Map.Remove` removes (the last attribute
//!   moves into the hole), so tag order reads back exactly as in Jaeger;
//! - api_v2 only: `otel.scope.name`/`otel.scope.version` → scope and
//!   `w3c.tracestate` → trace state (the Thrift translator keeps both as
//!   attributes);
//! - binary tags stay bytes; logs → events (`event` field → name);
//! - parent = the first `CHILD_OF` reference in the same trace, else the
//!   first `FOLLOWS_FROM` one (Thrift's `parentSpanId` is turned into a
//!   leading `CHILD_OF` reference by the decoder, which gives Thrift's
//!   priority); every other reference → a link with `opentracing.ref_type`;
//! - the sampled flag (1) → OTLP's sampled trace flag; µs → ns.
//!
//! Spans that equal an all-default span are skipped (as contrib does); a
//! zero trace ID or span ID otherwise makes the whole batch invalid.

use std::collections::HashMap;
use std::sync::Arc;

use spoor_model::group::{ArcIndex, Seen};
use spoor_model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanBatch, SpanKind, SpanRecord,
    Status, StatusCode, keys,
};

use super::{
    JaegerBatch, JaegerKeyValue, JaegerLog, JaegerProcess, JaegerRef, JaegerSpan, JaegerValue,
    RefType, span_to_jaeger, tags,
};
use crate::{DecodeError, DecodeReport, reason};

/// Process tag Jaeger clients use for the host name.
const HOSTNAME: &str = "hostname";
/// Semantic-convention host name.
const HOST_NAME: &str = "host.name";
/// Process tag carrying the Jaeger client version.
const JAEGER_VERSION: &str = "jaeger.version";
/// OpenCensus exporter version, where `jaeger.version` ends up.
const EXPORTER_VERSION: &str = "opencensus.exporterversion";
/// HTTP status code tag used as a status fallback.
const HTTP_STATUS_CODE: &str = "http.status_code";
/// HTTP status message tag used as the status message.
const HTTP_STATUS_MESSAGE: &str = "http.status_message";
/// OTLP span flag: the W3C sampled bit.
pub const SPAN_FLAGS_SAMPLED: u32 = 0x1;
/// Jaeger span flag: sampled.
pub const JAEGER_FLAG_SAMPLED: u32 = 0x1;

/// Which Jaeger wire format a batch came in: contrib's two translators
/// differ slightly, and Spoor follows each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JaegerWire {
    /// Thrift (`emitBatch` over UDP, `Batch` over HTTP).
    #[default]
    Thrift,
    /// api_v2 protobuf (`CollectorService/PostSpans`): additionally takes the
    /// scope from `otel.scope.name`/`otel.scope.version` and the trace state
    /// from `w3c.tracestate`, and ignores a process named
    /// `OTLPResourceNoServiceName`.
    Proto,
}

/// Converts a decoded Thrift batch to the model with the Thrift rules; see
/// [`batch_to_model_as`].
pub fn batch_to_model(batch: JaegerBatch) -> Result<SpanBatch, DecodeError> {
    batch_to_model_as(batch, JaegerWire::Thrift)
}

/// Converts a Jaeger batch to the model with the rules of `wire` (module
/// docs). Spans with equal processes share one `Arc<Resource>`; spans with
/// equal scopes share one `Arc<Scope>`.
pub fn batch_to_model_as(batch: JaegerBatch, wire: JaegerWire) -> Result<SpanBatch, DecodeError> {
    Ok(batch_to_model_reported(
        batch,
        wire,
        &mut DecodeReport::new(),
    ))
}

/// [`batch_to_model_as`], counting in `report` the spans left out: a span
/// whose trace ID or span ID is zero is dropped alone (Jaeger's collector
/// refuses the whole batch).
pub fn batch_to_model_reported(
    batch: JaegerBatch,
    wire: JaegerWire,
    report: &mut DecodeReport,
) -> SpanBatch {
    let mut resources = ResourceCache::default();
    let mut scopes: HashMap<(String, String), Arc<Scope>> = HashMap::new();
    let default_scope = Arc::new(Scope::default());
    let mut out = Vec::with_capacity(batch.spans.len());
    for (index, jspan) in batch.spans.into_iter().enumerate() {
        if is_blank(&jspan) {
            continue;
        }
        if jspan.trace_id.is_zero() {
            report.reject_span(reason::INVALID_TRACE_ID, || {
                format!("invalid spans[{index}].traceId: trace ID is zero or missing")
            });
            continue;
        }
        if jspan.span_id.is_zero() {
            report.reject_span(reason::INVALID_SPAN_ID, || {
                format!("invalid spans[{index}].spanId: span ID is zero or missing")
            });
            continue;
        }
        let resource = resources.get(&jspan.process, wire);
        let (span, scope_key) = convert_span(jspan, wire);
        let scope = match scope_key {
            None => default_scope.clone(),
            Some(key) => scopes
                .entry(key)
                .or_insert_with_key(|(name, version)| {
                    Arc::new(Scope {
                        name: name.clone(),
                        version: version.clone(),
                        ..Default::default()
                    })
                })
                .clone(),
        };
        out.push(SpanRecord::new(resource, scope, span));
    }
    SpanBatch { spans: out }
}

/// Groups spans by resource (first-seen order) and maps each to Jaeger's
/// model with [`span_to_jaeger`]: one batch per resource, its process set
/// and shared by the batch's spans. The sampled trace flag becomes Jaeger's
/// sampled flag. This is what an agent forwards and what tracegen sends.
pub fn model_to_jaeger_batches(spans: &[SpanRecord]) -> Vec<JaegerBatch> {
    let mut resources: ArcIndex<Resource> = ArcIndex::new();
    let mut batches: Vec<JaegerBatch> = Vec::new();
    for record in spans {
        let mut jspan = span_to_jaeger(record);
        if record.span.flags & SPAN_FLAGS_SAMPLED != 0 {
            jspan.flags |= JAEGER_FLAG_SAMPLED;
        }
        match resources.index(&record.resource) {
            Seen::Again(i) if i < batches.len() => {
                let batch = &mut batches[i];
                if let Some(first) = batch.spans.first() {
                    jspan.process = first.process.clone();
                }
                batch.spans.push(jspan);
            }
            _ => {
                batches.push(JaegerBatch {
                    process: Some((*jspan.process).clone()),
                    spans: vec![jspan],
                });
            }
        }
    }
    batches
}

/// Contrib skips spans equal to a zero-value span.
fn is_blank(s: &JaegerSpan) -> bool {
    s.trace_id.is_zero()
        && s.span_id.is_zero()
        && s.operation_name.is_empty()
        && s.references.is_empty()
        && s.flags == 0
        && s.start_time_unix_nano == 0
        && s.duration_nanos == 0
        && s.tags.is_empty()
        && s.logs.is_empty()
}

/// Resources already built in this batch, by process.
#[derive(Default)]
struct ResourceCache {
    last: Option<(Arc<JaegerProcess>, Arc<Resource>)>,
    by_value: HashMap<Arc<JaegerProcess>, Arc<Resource>>,
}

impl ResourceCache {
    fn get(&mut self, process: &Arc<JaegerProcess>, wire: JaegerWire) -> Arc<Resource> {
        if let Some((p, r)) = &self.last
            && Arc::ptr_eq(p, process)
        {
            return r.clone();
        }
        let resource = self
            .by_value
            .entry(process.clone())
            .or_insert_with(|| Arc::new(process_to_resource(process, wire)))
            .clone();
        self.last = Some((process.clone(), resource.clone()));
        resource
    }
}

fn process_to_resource(process: &JaegerProcess, wire: JaegerWire) -> Resource {
    if wire == JaegerWire::Proto && process.service_name == keys::NO_SERVICE_NAME {
        return Resource::default();
    }
    if process.service_name.is_empty() && process.tags.is_empty() {
        return Resource::default();
    }
    let mut attrs = AttrMap::with_capacity(process.tags.len() + 1);
    if !process.service_name.is_empty() {
        attrs.put(
            keys::SERVICE_NAME.to_string(),
            AnyValue::Str(process.service_name.clone()),
        );
    }
    for tag in &process.tags {
        attrs.put(tag.key.clone(), tag_value(&tag.value));
    }
    if !attrs.contains(HOST_NAME)
        && let Some(hostname) = attrs.get(HOSTNAME).cloned()
    {
        attrs.put(HOST_NAME.to_string(), hostname);
        attrs.remove(HOSTNAME);
    }
    if !attrs.contains(EXPORTER_VERSION)
        && let Some(version) = attrs.get(JAEGER_VERSION)
    {
        let value = format!("Jaeger-{}", go_str(version));
        attrs.put(EXPORTER_VERSION.to_string(), AnyValue::Str(value));
        attrs.remove(JAEGER_VERSION);
    }
    Resource {
        attributes: attrs.into_vec(),
        ..Default::default()
    }
}

fn tag_value(v: &JaegerValue) -> AnyValue {
    match v {
        JaegerValue::Str(s) => AnyValue::Str(s.clone()),
        JaegerValue::Bool(b) => AnyValue::Bool(*b),
        JaegerValue::Int64(i) => AnyValue::Int(*i),
        JaegerValue::Float64(d) => AnyValue::Double(*d),
        JaegerValue::Binary(b) => AnyValue::Bytes(b.clone()),
    }
}

/// Go's `pcommon.Value.Str()`: the string, or empty for any other type.
fn go_str(v: &AnyValue) -> &str {
    match v {
        AnyValue::Str(s) => s,
        _ => "",
    }
}

/// Removes the first tag with `key` keeping the others in order, and returns
/// its string value (empty when not a string), as contrib's `getAndDeleteTag`.
fn take_tag(tags: &mut Vec<JaegerKeyValue>, key: &str) -> Option<String> {
    let i = tags.iter().position(|t| t.key == key)?;
    let tag = tags.remove(i);
    Some(match tag.value {
        JaegerValue::Str(s) => s,
        _ => String::new(),
    })
}

/// Converts one span; returns the scope `(name, version)` when the wire
/// carries one in tags.
fn convert_span(mut jspan: JaegerSpan, wire: JaegerWire) -> (Span, Option<(String, String)>) {
    let scope = if wire == JaegerWire::Proto {
        take_tag(&mut jspan.tags, tags::SCOPE_NAME).map(|name| {
            let version = take_tag(&mut jspan.tags, tags::SCOPE_VERSION).unwrap_or_default();
            (name, version)
        })
    } else {
        None
    };

    let mut attrs = AttrMap::with_capacity(jspan.tags.len());
    for tag in std::mem::take(&mut jspan.tags) {
        attrs.put(tag.key, tag_value(&tag.value));
    }
    let mut kind = SpanKind::Unspecified;
    if let Some(v) = attrs.get(tags::SPAN_KIND) {
        kind = span_kind(go_str(v));
        attrs.remove(tags::SPAN_KIND);
    }
    let status = take_status(&mut attrs, kind);
    let mut trace_state = String::new();
    if wire == JaegerWire::Proto
        && let Some(v) = attrs.get(tags::W3C_TRACESTATE)
    {
        trace_state = go_str(v).to_string();
        attrs.remove(tags::W3C_TRACESTATE);
    }

    let parent = parent_span_id(&jspan);
    let links = jspan
        .references
        .iter()
        .filter(|r| !(r.ref_type == RefType::ChildOf && Some(r.span_id) == parent))
        .map(|r| Link {
            trace_id: r.trace_id,
            span_id: r.span_id,
            attributes: vec![KeyValue::str(
                tags::OPENTRACING_REF_TYPE,
                match r.ref_type {
                    RefType::ChildOf => tags::REF_TYPE_CHILD_OF,
                    RefType::FollowsFrom => tags::REF_TYPE_FOLLOWS_FROM,
                },
            )],
            ..Default::default()
        })
        .collect();

    let start = jspan.start_time_unix_nano;
    let span = Span {
        trace_id: jspan.trace_id,
        span_id: jspan.span_id,
        parent_span_id: parent.unwrap_or_default(),
        trace_state,
        flags: if jspan.flags & JAEGER_FLAG_SAMPLED != 0 {
            SPAN_FLAGS_SAMPLED
        } else {
            0
        },
        name: jspan.operation_name,
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start.saturating_add_signed(jspan.duration_nanos),
        attributes: attrs.into_vec(),
        events: jspan.logs.into_iter().map(log_to_event).collect(),
        links,
        status,
        ..Default::default()
    };
    (span, scope)
}

/// Jaeger's `Span.ParentSpanID`: the first `CHILD_OF` reference in the same
/// trace, else the first `FOLLOWS_FROM` one in the same trace.
fn parent_span_id(span: &JaegerSpan) -> Option<spoor_model::SpanId> {
    let same_trace = |r: &&JaegerRef| r.trace_id == span.trace_id;
    span.references
        .iter()
        .filter(same_trace)
        .find(|r| r.ref_type == RefType::ChildOf)
        .or_else(|| {
            span.references
                .iter()
                .filter(same_trace)
                .find(|r| r.ref_type == RefType::FollowsFrom)
        })
        .map(|r| r.span_id)
        .filter(|id| !id.is_zero())
}

fn span_kind(s: &str) -> SpanKind {
    match s {
        "client" => SpanKind::Client,
        "server" => SpanKind::Server,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => SpanKind::Unspecified,
    }
}

/// contrib's `setInternalSpanStatus`: `error=true` (a bool) wins; else
/// `otel.status_code`; else the HTTP status code (4xx is an error for
/// clients only; anything outside 100–398 is an error).
fn take_status(attrs: &mut AttrMap, kind: SpanKind) -> Status {
    let mut code = StatusCode::Unset;
    let mut message = String::new();
    let mut exists = false;

    if let Some(AnyValue::Bool(true)) = attrs.get(tags::ERROR) {
        code = StatusCode::Error;
        attrs.remove(tags::ERROR);
        exists = true;
        if let Some(desc) = take_description(attrs) {
            message = desc;
        } else if let Some(m) = attrs.get(HTTP_STATUS_MESSAGE) {
            message = go_str(m).to_string();
        }
    }

    if let Some(v) = attrs.get(tags::STATUS_CODE) {
        if !exists {
            exists = true;
            match go_str(v).to_uppercase().as_str() {
                "OK" => code = StatusCode::Ok,
                "ERROR" => code = StatusCode::Error,
                _ => {}
            }
            if let Some(desc) = take_description(attrs) {
                message = desc;
            }
        }
        attrs.remove(tags::STATUS_CODE);
    } else if !exists
        && let Some(v) = attrs.get(HTTP_STATUS_CODE)
        && let Some(http) = http_code(v)
    {
        let from_http = status_from_http(http, kind);
        if from_http != StatusCode::Unset {
            exists = true;
            code = from_http;
        }
        if let Some(m) = attrs.get(HTTP_STATUS_MESSAGE) {
            message = go_str(m).to_string();
        }
    }

    if exists {
        Status { code, message }
    } else {
        Status::default()
    }
}

fn take_description(attrs: &mut AttrMap) -> Option<String> {
    let desc = go_str(attrs.get(tags::STATUS_DESCRIPTION)?).to_string();
    attrs.remove(tags::STATUS_DESCRIPTION);
    Some(desc)
}

/// An integer or a base-10 integer string.
fn http_code(v: &AnyValue) -> Option<i64> {
    match v {
        AnyValue::Int(i) => Some(*i),
        AnyValue::Str(s) => s.parse().ok(),
        _ => None,
    }
}

fn status_from_http(code: i64, kind: SpanKind) -> StatusCode {
    if (400..500).contains(&code) {
        match kind {
            SpanKind::Client => return StatusCode::Error,
            SpanKind::Server => return StatusCode::Unset,
            _ => {}
        }
    }
    // contrib's bound is `< 399`, so 399 counts as an error; kept as is.
    if (100..399).contains(&code) {
        StatusCode::Unset
    } else {
        StatusCode::Error
    }
}

fn log_to_event(log: JaegerLog) -> Event {
    let mut attrs = AttrMap::with_capacity(log.fields.len());
    for field in log.fields {
        attrs.put(field.key, tag_value(&field.value));
    }
    let mut name = String::new();
    if let Some(v) = attrs.get(tags::EVENT) {
        name = go_str(v).to_string();
        attrs.remove(tags::EVENT);
    }
    Event {
        time_unix_nano: log.timestamp_unix_nano,
        name,
        attributes: attrs.into_vec(),
        dropped_attributes_count: 0,
    }
}

/// An attribute list with OpenTelemetry `pcommon.Map` semantics: `put`
/// overwrites in place or appends; `remove` moves the last entry into the
/// removed slot. Large lists get a key index so hostile inputs with many tags
/// stay linear.
struct AttrMap {
    items: Vec<KeyValue>,
    index: Option<HashMap<String, usize>>,
}

/// Above this many entries, lookups go through a hash index.
const INDEX_THRESHOLD: usize = 16;

impl AttrMap {
    fn with_capacity(n: usize) -> Self {
        AttrMap {
            items: Vec::with_capacity(n.min(1024)),
            index: None,
        }
    }

    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.items.iter().position(|kv| kv.key == key),
        }
    }

    fn contains(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    fn get(&self, key: &str) -> Option<&AnyValue> {
        self.position(key).map(|i| &self.items[i].value)
    }

    fn put(&mut self, key: String, value: AnyValue) {
        if let Some(i) = self.position(&key) {
            self.items[i].value = value;
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.items.len());
        }
        self.items.push(KeyValue { key, value });
        if self.index.is_none() && self.items.len() > INDEX_THRESHOLD {
            self.index = Some(
                self.items
                    .iter()
                    .enumerate()
                    .map(|(i, kv)| (kv.key.clone(), i))
                    .collect(),
            );
        }
    }

    fn remove(&mut self, key: &str) {
        let Some(i) = self.position(key) else {
            return;
        };
        self.items.swap_remove(i);
        if let Some(index) = &mut self.index {
            index.remove(key);
            if let Some(moved) = self.items.get(i) {
                index.insert(moved.key.clone(), i);
            }
        }
    }

    fn into_vec(self) -> Vec<KeyValue> {
        self.items
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use spoor_model::{SpanId, TraceId};

    fn process(service: &str, tags: Vec<JaegerKeyValue>) -> Arc<JaegerProcess> {
        Arc::new(JaegerProcess {
            service_name: service.into(),
            tags,
        })
    }

    fn span(id: u64, process: &Arc<JaegerProcess>) -> JaegerSpan {
        JaegerSpan {
            trace_id: TraceId::from_halves(0, 0xabc),
            span_id: SpanId::from_u64(id),
            operation_name: format!("op{id}"),
            references: vec![],
            flags: 1,
            start_time_unix_nano: 1_000_000_000,
            duration_nanos: 5_000,
            tags: vec![],
            logs: vec![],
            process: process.clone(),
            warnings: vec![],
        }
    }

    fn one(jspan: JaegerSpan, wire: JaegerWire) -> SpanRecord {
        let batch = batch_to_model_as(
            JaegerBatch {
                process: None,
                spans: vec![jspan],
            },
            wire,
        )
        .unwrap();
        assert_eq!(batch.spans.len(), 1);
        batch.spans.into_iter().next().unwrap()
    }

    fn keys_of(attrs: &[KeyValue]) -> Vec<&str> {
        attrs.iter().map(|kv| kv.key.as_str()).collect()
    }

    fn s(k: &str, v: &str) -> JaegerKeyValue {
        JaegerKeyValue::string(k, v)
    }

    #[test]
    fn process_becomes_resource_with_hostname_and_version_renamed() {
        let p = process(
            "svc",
            vec![
                s("hostname", "h1"),
                s("ip", "10.0.0.1"),
                s("jaeger.version", "Python-4.8.0"),
                s("client-uuid", "u"),
            ],
        );
        let rec = one(span(1, &p), JaegerWire::Thrift);
        let attrs = &rec.resource.attributes;
        // service.name, hostname, ip, jaeger.version, client-uuid
        // → put host.name (appended), remove hostname (host.name moves to 1)
        // → put exporterversion (appended), remove jaeger.version (it moves to 3).
        assert_eq!(
            keys_of(attrs),
            [
                "service.name",
                "host.name",
                "ip",
                "opencensus.exporterversion",
                "client-uuid"
            ]
        );
        assert_eq!(rec.resource.service_name(), "svc");
        assert_eq!(
            find(attrs, "opencensus.exporterversion"),
            &AnyValue::Str("Jaeger-Python-4.8.0".into())
        );
        assert_eq!(find(attrs, "host.name"), &AnyValue::Str("h1".into()));
    }

    fn find<'a>(attrs: &'a [KeyValue], key: &str) -> &'a AnyValue {
        spoor_model::find_attr(attrs, key).unwrap()
    }

    #[test]
    fn existing_host_name_and_exporter_version_win() {
        let p = process(
            "svc",
            vec![
                s("hostname", "h1"),
                s("host.name", "h2"),
                s("jaeger.version", "Go-2"),
                s("opencensus.exporterversion", "x"),
            ],
        );
        let rec = one(span(1, &p), JaegerWire::Thrift);
        assert_eq!(
            keys_of(&rec.resource.attributes),
            [
                "service.name",
                "hostname",
                "host.name",
                "jaeger.version",
                "opencensus.exporterversion"
            ]
        );
    }

    #[test]
    fn empty_or_placeholder_process_gives_an_empty_resource() {
        let rec = one(span(1, &process("", vec![])), JaegerWire::Thrift);
        assert!(rec.resource.attributes.is_empty());
        assert_eq!(rec.service_name(), "OTLPResourceNoServiceName");
        // Empty name with tags: tags kept, no service.name.
        let rec = one(span(1, &process("", vec![s("a", "b")])), JaegerWire::Thrift);
        assert_eq!(keys_of(&rec.resource.attributes), ["a"]);
        // The placeholder name is dropped with its tags on api_v2 only.
        let p = process("OTLPResourceNoServiceName", vec![s("a", "b")]);
        assert!(
            one(span(1, &p), JaegerWire::Proto)
                .resource
                .attributes
                .is_empty()
        );
        assert_eq!(
            keys_of(&one(span(1, &p), JaegerWire::Thrift).resource.attributes),
            ["service.name", "a"]
        );
    }

    #[test]
    fn span_kind_and_consumed_tags_are_removed_like_pcommon() {
        let p = process("svc", vec![]);
        let mut sp = span(1, &p);
        sp.tags = vec![
            s("a", "1"),
            s("span.kind", "server"),
            s("b", "2"),
            s("c", "3"),
        ];
        let rec = one(sp, JaegerWire::Thrift);
        assert_eq!(rec.span.kind, SpanKind::Server);
        assert_eq!(keys_of(&rec.span.attributes), ["a", "c", "b"]);

        for (v, want) in [
            ("client", SpanKind::Client),
            ("producer", SpanKind::Producer),
            ("consumer", SpanKind::Consumer),
            ("internal", SpanKind::Internal),
            ("SERVER", SpanKind::Unspecified),
            ("rpc", SpanKind::Unspecified),
        ] {
            let mut sp = span(1, &p);
            sp.tags = vec![s("span.kind", v)];
            let rec = one(sp, JaegerWire::Thrift);
            assert_eq!(rec.span.kind, want, "{v}");
            assert!(rec.span.attributes.is_empty());
        }
    }

    #[test]
    fn repeated_tags_keep_first_position_and_last_value() {
        let p = process("svc", vec![]);
        let mut sp = span(1, &p);
        sp.tags = vec![s("a", "1"), s("b", "2"), s("a", "3")];
        let rec = one(sp, JaegerWire::Thrift);
        assert_eq!(
            rec.span.attributes,
            vec![KeyValue::str("a", "3"), KeyValue::str("b", "2")]
        );
        // Many tags (indexed path) behave the same.
        let mut sp = span(1, &p);
        sp.tags = (0..40)
            .map(|i| s(&format!("k{}", i % 30), &i.to_string()))
            .collect();
        sp.tags.insert(5, s("span.kind", "client"));
        let rec = one(sp, JaegerWire::Thrift);
        assert_eq!(rec.span.attributes.len(), 30);
        assert_eq!(rec.span.kind, SpanKind::Client);
        // span.kind was at 5: the last attribute (k29) moved there.
        assert_eq!(rec.span.attributes[5].key, "k29");
        assert_eq!(
            find(&rec.span.attributes, "k0"),
            &AnyValue::Str("30".into())
        );
    }

    fn status_of(tags: Vec<JaegerKeyValue>, kind: Option<&str>) -> (Status, Vec<String>) {
        let p = process("svc", vec![]);
        let mut sp = span(1, &p);
        sp.tags = tags;
        if let Some(k) = kind {
            sp.tags.push(s("span.kind", k));
        }
        let rec = one(sp, JaegerWire::Thrift);
        (
            rec.span.status,
            rec.span
                .attributes
                .iter()
                .map(|kv| kv.key.clone())
                .collect(),
        )
    }

    fn b(k: &str, v: bool) -> JaegerKeyValue {
        JaegerKeyValue::new(k, JaegerValue::Bool(v))
    }

    fn i(k: &str, v: i64) -> JaegerKeyValue {
        JaegerKeyValue::new(k, JaegerValue::Int64(v))
    }

    #[test]
    fn status_from_error_tag() {
        let (st, rest) = status_of(
            vec![b("error", true), s("otel.status_description", "boom")],
            None,
        );
        assert_eq!(st.code, StatusCode::Error);
        assert_eq!(st.message, "boom");
        assert!(rest.is_empty());
        // http.status_message is the message when there is no description.
        let (st, rest) = status_of(
            vec![b("error", true), s("http.status_message", "Not Found")],
            None,
        );
        assert_eq!(
            (st.code, st.message.as_str()),
            (StatusCode::Error, "Not Found")
        );
        assert_eq!(rest, ["http.status_message"]);
        // error=false stays an attribute and sets nothing.
        let (st, rest) = status_of(vec![b("error", false)], None);
        assert_eq!(st, Status::default());
        assert_eq!(rest, ["error"]);
        // A string "true" is not the error flag.
        let (st, rest) = status_of(vec![s("error", "true")], None);
        assert_eq!(st, Status::default());
        assert_eq!(rest, ["error"]);
        // error=true wins over otel.status_code, which is removed anyway.
        let (st, rest) = status_of(vec![b("error", true), s("otel.status_code", "OK")], None);
        assert_eq!(st.code, StatusCode::Error);
        assert!(rest.is_empty());
    }

    #[test]
    fn status_from_otel_status_code() {
        let (st, rest) = status_of(
            vec![
                s("otel.status_code", "ok"),
                s("otel.status_description", "fine"),
            ],
            None,
        );
        assert_eq!((st.code, st.message.as_str()), (StatusCode::Ok, "fine"));
        assert!(rest.is_empty());
        let (st, _) = status_of(vec![s("otel.status_code", "ERROR")], None);
        assert_eq!(st.code, StatusCode::Error);
        let (st, rest) = status_of(vec![s("otel.status_code", "weird")], None);
        assert_eq!(st.code, StatusCode::Unset);
        assert!(rest.is_empty());
        // otel.status_code set: the HTTP fallback does not run.
        let (st, rest) = status_of(
            vec![s("otel.status_code", "OK"), i("http.status_code", 500)],
            None,
        );
        assert_eq!(st.code, StatusCode::Ok);
        assert_eq!(rest, ["http.status_code"]);
    }

    #[test]
    fn status_falls_back_to_http_status_code() {
        let cases = [
            (i("http.status_code", 200), None, StatusCode::Unset),
            (i("http.status_code", 398), None, StatusCode::Unset),
            (i("http.status_code", 399), None, StatusCode::Error),
            (
                i("http.status_code", 404),
                Some("client"),
                StatusCode::Error,
            ),
            (
                i("http.status_code", 404),
                Some("server"),
                StatusCode::Unset,
            ),
            (i("http.status_code", 404), None, StatusCode::Error),
            (
                s("http.status_code", "503"),
                Some("server"),
                StatusCode::Error,
            ),
            (s("http.status_code", "abc"), None, StatusCode::Unset),
            (i("http.status_code", 99), None, StatusCode::Error),
        ];
        for (tag, kind, want) in cases {
            let (st, rest) = status_of(vec![tag.clone(), s("http.status_message", "m")], kind);
            assert_eq!(st.code, want, "{tag:?} {kind:?}");
            // The message only sticks when a status was set.
            let want_msg = if want == StatusCode::Unset { "" } else { "m" };
            assert_eq!(st.message, want_msg);
            assert_eq!(rest, ["http.status_code", "http.status_message"]);
        }
    }

    #[test]
    fn scope_and_trace_state_are_taken_on_api_v2_only() {
        let p = process("svc", vec![]);
        let mut sp = span(1, &p);
        sp.tags = vec![
            s("x", "1"),
            s("otel.scope.name", "lib"),
            s("otel.scope.version", "1.2"),
            s("w3c.tracestate", "k=v"),
            s("y", "2"),
        ];
        let rec = one(sp.clone(), JaegerWire::Proto);
        assert_eq!(rec.scope.name, "lib");
        assert_eq!(rec.scope.version, "1.2");
        assert_eq!(rec.span.trace_state, "k=v");
        assert_eq!(keys_of(&rec.span.attributes), ["x", "y"]);

        let rec = one(sp, JaegerWire::Thrift);
        assert_eq!(rec.scope.name, "");
        assert_eq!(rec.span.trace_state, "");
        assert_eq!(
            keys_of(&rec.span.attributes),
            [
                "x",
                "otel.scope.name",
                "otel.scope.version",
                "w3c.tracestate",
                "y"
            ]
        );

        // A version without a name is not a scope; the legacy library keys
        // are plain attributes.
        let mut sp = span(1, &p);
        sp.tags = vec![s("otel.scope.version", "1"), s("otel.library.name", "old")];
        let rec = one(sp, JaegerWire::Proto);
        assert_eq!(rec.scope.name, "");
        assert_eq!(
            keys_of(&rec.span.attributes),
            ["otel.scope.version", "otel.library.name"]
        );
    }

    #[test]
    fn spans_share_resources_and_scopes() {
        let p1 = process("a", vec![s("k", "v")]);
        let p1_copy = process("a", vec![s("k", "v")]);
        let p2 = process("b", vec![]);
        let mut spans = vec![span(1, &p1), span(2, &p1_copy), span(3, &p2), span(4, &p1)];
        spans[0].tags = vec![s("otel.scope.name", "lib")];
        spans[3].tags = vec![s("otel.scope.name", "lib")];
        let batch = batch_to_model_as(
            JaegerBatch {
                process: None,
                spans,
            },
            JaegerWire::Proto,
        )
        .unwrap();
        let r = &batch.spans;
        assert!(Arc::ptr_eq(&r[0].resource, &r[1].resource));
        assert!(Arc::ptr_eq(&r[0].resource, &r[3].resource));
        assert!(!Arc::ptr_eq(&r[0].resource, &r[2].resource));
        assert!(Arc::ptr_eq(&r[0].scope, &r[3].scope));
        assert!(Arc::ptr_eq(&r[1].scope, &r[2].scope));
        assert!(!Arc::ptr_eq(&r[0].scope, &r[1].scope));
    }

    #[test]
    fn binary_tags_stay_bytes_and_values_keep_types() {
        let p = process("svc", vec![]);
        let mut sp = span(1, &p);
        sp.tags = vec![
            JaegerKeyValue::new("bin", JaegerValue::Binary(vec![1, 2])),
            JaegerKeyValue::new("d", JaegerValue::Float64(0.5)),
            i("n", -3),
            b("t", true),
        ];
        let rec = one(sp, JaegerWire::Thrift);
        assert_eq!(
            rec.span.attributes,
            vec![
                KeyValue::new("bin", AnyValue::Bytes(vec![1, 2])),
                KeyValue::new("d", AnyValue::Double(0.5)),
                KeyValue::new("n", AnyValue::Int(-3)),
                KeyValue::new("t", AnyValue::Bool(true)),
            ]
        );
    }

    #[test]
    fn logs_become_events() {
        let p = process("svc", vec![]);
        let mut sp = span(1, &p);
        sp.logs = vec![
            JaegerLog {
                timestamp_unix_nano: 7_000,
                fields: vec![s("a", "1"), s("event", "retry"), s("b", "2"), s("c", "3")],
            },
            JaegerLog {
                timestamp_unix_nano: 8_000,
                fields: vec![i("event", 5), s("message", "m")],
            },
            JaegerLog {
                timestamp_unix_nano: 9_000,
                fields: vec![],
            },
        ];
        let rec = one(sp, JaegerWire::Thrift);
        let ev = &rec.span.events;
        assert_eq!(ev.len(), 3);
        assert_eq!(
            (ev[0].time_unix_nano, ev[0].name.as_str()),
            (7_000, "retry")
        );
        assert_eq!(keys_of(&ev[0].attributes), ["a", "c", "b"]);
        // A non-string event field gives an empty name and is still removed.
        assert_eq!(ev[1].name, "");
        assert_eq!(keys_of(&ev[1].attributes), ["message"]);
        assert_eq!((ev[2].time_unix_nano, ev[2].name.as_str()), (9_000, ""));
        assert!(ev[2].attributes.is_empty());
    }

    fn r(t: RefType, trace: TraceId, id: u64) -> JaegerRef {
        JaegerRef {
            ref_type: t,
            trace_id: trace,
            span_id: SpanId::from_u64(id),
        }
    }

    fn link_view(rec: &SpanRecord) -> Vec<(u64, String)> {
        rec.span
            .links
            .iter()
            .map(|l| {
                (
                    l.span_id.as_u64(),
                    go_str(find(&l.attributes, "opentracing.ref_type")).to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn references_become_parent_and_links() {
        let p = process("svc", vec![]);
        let t = TraceId::from_halves(0, 0xabc);
        let other = TraceId::from_halves(1, 1);

        // First CHILD_OF in the same trace is the parent; it is not a link.
        let mut sp = span(1, &p);
        sp.references = vec![
            r(RefType::ChildOf, other, 7),
            r(RefType::FollowsFrom, t, 8),
            r(RefType::ChildOf, t, 9),
            r(RefType::ChildOf, t, 10),
        ];
        let rec = one(sp, JaegerWire::Thrift);
        assert_eq!(rec.span.parent_span_id.as_u64(), 9);
        assert_eq!(
            link_view(&rec),
            [
                (7, "child_of".to_string()),
                (8, "follows_from".to_string()),
                (10, "child_of".to_string())
            ]
        );
        assert_eq!(rec.span.links[0].trace_id, other);

        // Only FOLLOWS_FROM in the trace: it becomes the parent and stays a link.
        let mut sp = span(1, &p);
        sp.references = vec![r(RefType::FollowsFrom, t, 8), r(RefType::FollowsFrom, t, 9)];
        let rec = one(sp, JaegerWire::Thrift);
        assert_eq!(rec.span.parent_span_id.as_u64(), 8);
        assert_eq!(link_view(&rec).len(), 2);

        // Only references to other traces: root span with links.
        let mut sp = span(1, &p);
        sp.references = vec![r(RefType::ChildOf, other, 3)];
        let rec = one(sp, JaegerWire::Thrift);
        assert!(rec.span.parent_span_id.is_zero());
        assert_eq!(link_view(&rec), [(3, "child_of".to_string())]);

        // A single CHILD_OF parent gives no links at all.
        let mut sp = span(1, &p);
        sp.references = vec![r(RefType::ChildOf, t, 3)];
        let rec = one(sp, JaegerWire::Proto);
        assert_eq!(rec.span.parent_span_id.as_u64(), 3);
        assert!(rec.span.links.is_empty());
    }

    #[test]
    fn times_flags_and_ids() {
        let p = process("svc", vec![]);
        let mut sp = span(1, &p);
        sp.trace_id = TraceId::from_halves(0x1122, 0x3344);
        let rec = one(sp.clone(), JaegerWire::Thrift);
        assert_eq!(rec.span.trace_id.high(), 0x1122);
        assert_eq!(rec.span.trace_id.low(), 0x3344);
        assert_eq!(rec.span.start_time_unix_nano, 1_000_000_000);
        assert_eq!(rec.span.end_time_unix_nano, 1_000_005_000);
        assert_eq!(rec.span.flags, SPAN_FLAGS_SAMPLED);
        sp.flags = 2; // debug only
        sp.duration_nanos = -2_000_000_000;
        let rec = one(sp, JaegerWire::Thrift);
        assert_eq!(rec.span.flags, 0);
        assert_eq!(rec.span.end_time_unix_nano, 0);
    }

    #[test]
    fn zero_ids_leave_out_the_span_alone_and_blank_spans_are_skipped() {
        let p = process("svc", vec![]);
        let mut sp = span(1, &p);
        sp.trace_id = TraceId::ZERO;
        let mut report = DecodeReport::new();
        let batch = batch_to_model_reported(
            JaegerBatch {
                process: None,
                spans: vec![span(2, &p), sp],
            },
            JaegerWire::Thrift,
            &mut report,
        );
        assert_eq!(batch.spans.len(), 1);
        assert_eq!(batch.spans[0].span.name, "op2");
        assert_eq!(
            report.rejected_by_reason(),
            &[(reason::INVALID_TRACE_ID, 1)]
        );
        assert_eq!(
            report.messages(),
            &["invalid spans[1].traceId: trace ID is zero or missing".to_string()]
        );
        let mut sp = span(1, &p);
        sp.span_id = SpanId::ZERO;
        let mut report = DecodeReport::new();
        let batch = batch_to_model_reported(
            JaegerBatch {
                process: None,
                spans: vec![sp],
            },
            JaegerWire::Thrift,
            &mut report,
        );
        assert!(batch.is_empty());
        assert_eq!(report.rejected_by_reason(), &[(reason::INVALID_SPAN_ID, 1)]);
        let blank = JaegerSpan {
            trace_id: TraceId::ZERO,
            span_id: SpanId::ZERO,
            operation_name: String::new(),
            references: vec![],
            flags: 0,
            start_time_unix_nano: 0,
            duration_nanos: 0,
            tags: vec![],
            logs: vec![],
            process: p.clone(),
            warnings: vec![],
        };
        let batch = batch_to_model(JaegerBatch {
            process: None,
            spans: vec![blank, span(3, &p)],
        })
        .unwrap();
        assert_eq!(batch.spans.len(), 1);
    }

    #[test]
    fn model_round_trips_through_jaeger_batches_with_api_v2_rules() {
        let res_a = Arc::new(Resource {
            attributes: vec![
                KeyValue::str("service.name", "a"),
                KeyValue::str("host.name", "h"),
            ],
            ..Default::default()
        });
        let res_b = Arc::new(Resource {
            attributes: vec![KeyValue::str("service.name", "b")],
            ..Default::default()
        });
        let scope = Arc::new(Scope {
            name: "lib".into(),
            version: "2".into(),
            ..Default::default()
        });
        let t = TraceId::from_halves(3, 4);
        let mk = |id: u64, parent: u64| Span {
            trace_id: t,
            span_id: SpanId::from_u64(id),
            parent_span_id: SpanId::from_u64(parent),
            trace_state: "x=y".into(),
            flags: SPAN_FLAGS_SAMPLED,
            name: format!("op{id}"),
            kind: SpanKind::Client,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 9_000,
            attributes: vec![KeyValue::new("n", AnyValue::Int(1))],
            events: vec![Event {
                time_unix_nano: 2_000,
                name: "ev".into(),
                attributes: vec![KeyValue::str("k", "v")],
                ..Default::default()
            }],
            links: vec![Link {
                trace_id: TraceId::from_halves(9, 9),
                span_id: SpanId::from_u64(5),
                attributes: vec![KeyValue::str("opentracing.ref_type", "follows_from")],
                ..Default::default()
            }],
            status: Status {
                code: StatusCode::Error,
                message: "bad".into(),
            },
            ..Default::default()
        };
        let records = vec![
            SpanRecord::new(res_a.clone(), scope.clone(), mk(1, 0)),
            SpanRecord::new(res_b.clone(), scope.clone(), mk(2, 1)),
            SpanRecord::new(res_a.clone(), scope.clone(), mk(3, 1)),
        ];
        let batches = model_to_jaeger_batches(&records);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].spans.len(), 2);
        assert_eq!(batches[0].process.as_ref().unwrap().service_name, "a");
        assert!(Arc::ptr_eq(
            &batches[0].spans[0].process,
            &batches[0].spans[1].process
        ));
        assert_eq!(batches[0].spans[0].flags, JAEGER_FLAG_SAMPLED);

        let mut back = Vec::new();
        for b in batches {
            back.extend(batch_to_model_as(b, JaegerWire::Proto).unwrap().spans);
        }
        let by_id = |id: u64| back.iter().find(|r| r.span.span_id.as_u64() == id).unwrap();
        for (orig, id) in [(&records[0], 1), (&records[1], 2), (&records[2], 3)] {
            let got = by_id(id);
            assert_eq!(got.span, orig.span, "span {id}");
            assert_eq!(*got.resource, *orig.resource);
            assert_eq!(*got.scope, *orig.scope);
        }
    }
}
