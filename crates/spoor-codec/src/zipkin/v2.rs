//! Zipkin v2 (JSON and `zipkin.proto3`) to the model.

use prost::Message;
use serde::Deserialize;
use spoor_model::{
    AnyValue, Event, KeyValue, Link, Span, SpanBatch, SpanId, SpanKind, SpanRecord, Status,
    StatusCode, TraceId, keys,
};
use spoor_proto::zipkin as pb;

use super::raw::{self, Entries, List, Obj, Raw};
use super::{
    Interner, LIBRARY_NAME, LIBRARY_VERSION, LastWins, NET_HOST_IP, NET_HOST_PORT, NET_PEER_IP,
    NET_PEER_PORT, PEER_SERVICE, SCOPE_NAME, SCOPE_VERSION, SERVICE_NAME_SOURCE, START_TIME_ABSENT,
    ip_bytes_to_string, ip_to_string, is_non_span_key, is_resource_key, json_attributes,
    parse_u32_strict, upsert,
};
use crate::report::reason_of;
use crate::{DecodeError, DecodeReport, reason};

/// Decodes a Zipkin v2 JSON body (`POST /api/v2/spans`): an array of spans.
///
/// Trace IDs are 1 to 32 hex characters (16 or 32 in practice), span IDs 1
/// to 16; timestamps and durations are microseconds. See the
/// [module documentation](super) for the mapping.
pub fn decode_v2_json(bytes: &[u8]) -> Result<SpanBatch, DecodeError> {
    decode_v2_json_reported(bytes, &mut DecodeReport::new())
}

/// [`decode_v2_json`], counting what was left out in `report`: the request
/// fails only when it is not a JSON array; a span without a usable trace ID
/// or ID is left out alone, and a field that cannot be used (an address
/// that is not an IP, a value of the wrong type, a malformed link tag, …) is
/// dropped, as Zipkin's own server ignores such fields.
pub fn decode_v2_json_reported(
    bytes: &[u8],
    report: &mut DecodeReport,
) -> Result<SpanBatch, DecodeError> {
    let spans = raw::parse_array::<JSpan>(bytes)?;
    let mut interner = Interner::default();
    let mut out = Vec::with_capacity(spans.len());
    for (i, span) in spans.into_iter().enumerate() {
        let span = match span {
            Obj::Value(s) => s,
            Obj::Null => continue,
            Obj::Wrong(kind) => {
                report.reject_span(reason::MALFORMED_SPAN, || {
                    format!("span[{i}]: must be an object, got {kind}")
                });
                continue;
            }
        };
        match span_from_json(span, i, report) {
            Ok(z) => out.push(to_record(z, i, &mut interner, report)),
            Err(e) => report.reject_span(reason_of(&e), || e.to_string()),
        }
    }
    Ok(SpanBatch { spans: out })
}

/// Decodes a `zipkin.proto3.ListOfSpans` (`POST /api/v2/spans` with
/// `Content-Type: application/x-protobuf`).
///
/// Trace IDs are 16 or 8 bytes, span IDs 8 bytes, parent IDs empty or 8
/// bytes. As in the collector, a zero timestamp is the Unix epoch (protobuf
/// cannot tell it from an absent one) and carries no absent-start marker.
pub fn decode_v2_proto(bytes: &[u8]) -> Result<SpanBatch, DecodeError> {
    decode_v2_proto_reported(bytes, &mut DecodeReport::new())
}

/// [`decode_v2_proto`], counting what was left out in `report` (as
/// [`decode_v2_json_reported`] does).
pub fn decode_v2_proto_reported(
    bytes: &[u8],
    report: &mut DecodeReport,
) -> Result<SpanBatch, DecodeError> {
    let list = pb::ListOfSpans::decode(bytes).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    let mut interner = Interner::default();
    let mut out = Vec::with_capacity(list.spans.len());
    for (i, span) in list.spans.into_iter().enumerate() {
        match span_from_proto(span, i, report) {
            Ok(z) => out.push(to_record(z, i, &mut interner, report)),
            Err(e) => report.reject_span(reason_of(&e), || e.to_string()),
        }
    }
    Ok(SpanBatch { spans: out })
}

// ---------------------------------------------------------------------------
// The v2 span both encodings are read into.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZKind {
    Client,
    Server,
    Producer,
    Consumer,
    /// Absent, `null`, or not one of the four.
    Other,
}

#[derive(Debug, Default)]
struct ZEndpoint {
    service_name: String,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: u16,
}

#[derive(Debug)]
struct ZSpan {
    trace_id: TraceId,
    id: SpanId,
    /// Zero when absent.
    parent_id: SpanId,
    name: String,
    kind: ZKind,
    /// Nanoseconds since the epoch; `None` when the sender gave none.
    start: Option<u64>,
    duration: u64,
    local: ZEndpoint,
    remote: ZEndpoint,
    /// (nanoseconds, value)
    annotations: Vec<(u64, String)>,
    /// Unique keys, in the order first seen.
    tags: Vec<(String, String)>,
}

// ---------------------------------------------------------------------------
// JSON.

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JSpan {
    trace_id: Raw,
    id: Raw,
    parent_id: Raw,
    name: Raw,
    kind: Raw,
    timestamp: Raw,
    duration: Raw,
    local_endpoint: Obj<JEndpoint>,
    remote_endpoint: Obj<JEndpoint>,
    annotations: List<Obj<JAnnotation>>,
    tags: Obj<Entries>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JEndpoint {
    service_name: Raw,
    ipv4: Raw,
    ipv6: Raw,
    port: Raw,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JAnnotation {
    timestamp: Raw,
    value: Raw,
}

fn span_from_json(s: JSpan, i: usize, report: &mut DecodeReport) -> Result<ZSpan, DecodeError> {
    let field = |name: &str| format!("span[{i}].{name}");
    let trace_id = match &s.trace_id {
        Raw::Str(h) => TraceId::from_hex(h)
            .map_err(|e| DecodeError::invalid(field("traceId"), e.to_string()))?,
        Raw::Null => return Err(DecodeError::invalid(field("traceId"), "is required")),
        other => {
            return Err(DecodeError::invalid(
                field("traceId"),
                format!("must be a hex string, got {}", other.kind()),
            ));
        }
    };
    if trace_id.is_zero() {
        return Err(DecodeError::invalid(
            field("traceId"),
            "must not be all zeros",
        ));
    }
    let id = match &s.id {
        Raw::Str(h) => {
            SpanId::from_hex(h).map_err(|e| DecodeError::invalid(field("id"), e.to_string()))?
        }
        Raw::Null => return Err(DecodeError::invalid(field("id"), "is required")),
        other => {
            return Err(DecodeError::invalid(
                field("id"),
                format!("must be a hex string, got {}", other.kind()),
            ));
        }
    };
    if id.is_zero() {
        return Err(DecodeError::invalid(field("id"), "must not be all zeros"));
    }
    let parent_id = match &s.parent_id {
        Raw::Null => SpanId::ZERO,
        Raw::Str(h) if h.is_empty() => SpanId::ZERO,
        Raw::Str(h) => SpanId::from_hex(h).unwrap_or_else(|e| {
            report.drop_field("parent_id", || format!("{}: {e}", field("parentId")));
            SpanId::ZERO
        }),
        other => {
            report.drop_field("parent_id", || {
                format!(
                    "{}: must be a hex string, got {}",
                    field("parentId"),
                    other.kind()
                )
            });
            SpanId::ZERO
        }
    };
    let name = report.keep("name", raw::string(s.name, || field("name")));
    let kind_name = report.keep("kind", raw::string(s.kind, || field("kind")));
    let kind = match kind_name.to_ascii_uppercase().as_str() {
        "CLIENT" => ZKind::Client,
        "SERVER" => ZKind::Server,
        "PRODUCER" => ZKind::Producer,
        "CONSUMER" => ZKind::Consumer,
        "" => ZKind::Other,
        _ => {
            report.drop_field("kind", || {
                format!("{}: unknown span kind {kind_name:?}", field("kind"))
            });
            ZKind::Other
        }
    };
    // Zero means absent, as in zipkin-go.
    let start = report
        .keep(
            "timestamp",
            raw::micros_as_nanos(&s.timestamp, || field("timestamp")),
        )
        .filter(|&t| t > 0);
    let duration = report
        .keep(
            "duration",
            raw::micros_as_nanos(&s.duration, || field("duration")),
        )
        .unwrap_or(0);
    let local = endpoint_from_json(s.local_endpoint, i, "localEndpoint", report);
    let remote = endpoint_from_json(s.remote_endpoint, i, "remoteEndpoint", report);

    let annotations = match s.annotations {
        List::Null => Vec::new(),
        List::Wrong(kind) => {
            report.drop_field("annotations", || {
                format!("{}: must be an array, got {kind}", field("annotations"))
            });
            Vec::new()
        }
        List::Items(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (ai, a) in items.into_iter().enumerate() {
                let afield = |name: &str| format!("span[{i}].annotations[{ai}]{name}");
                let a = match a {
                    Obj::Value(a) => a,
                    Obj::Null => continue,
                    Obj::Wrong(kind) => {
                        report.drop_field("annotation", || {
                            format!("{}: must be an object, got {kind}", afield(""))
                        });
                        continue;
                    }
                };
                // zipkin-go refuses a missing or zero timestamp; like the
                // protobuf form, it is taken as the epoch here.
                let annotation = raw::micros_as_nanos(&a.timestamp, || afield(".timestamp"))
                    .and_then(|ts| {
                        Ok((ts.unwrap_or(0), raw::string(a.value, || afield(".value"))?))
                    });
                match annotation {
                    Ok(a) => out.push(a),
                    Err(e) => report.drop_field("annotation", || e.to_string()),
                }
            }
            out
        }
    };

    let tags = match s.tags {
        Obj::Null => Vec::new(),
        Obj::Wrong(kind) => {
            report.drop_field("tags", || {
                format!("{}: must be an object, got {kind}", field("tags"))
            });
            Vec::new()
        }
        Obj::Value(entries) => {
            let mut pairs = Vec::with_capacity(entries.0.len());
            for (k, v) in entries.0 {
                match raw::text(v, || format!("span[{i}].tags[{k:?}]")) {
                    Ok(v) => pairs.push((k, v)),
                    Err(e) => report.drop_field("tag", || e.to_string()),
                }
            }
            dedup_last_wins(pairs)
        }
    };

    Ok(ZSpan {
        trace_id,
        id,
        parent_id,
        name,
        kind,
        start,
        duration,
        local,
        remote,
        annotations,
        tags,
    })
}

fn endpoint_from_json(
    e: Obj<JEndpoint>,
    i: usize,
    which: &str,
    report: &mut DecodeReport,
) -> ZEndpoint {
    let field = |name: &str| format!("span[{i}].{which}{name}");
    let e = match e {
        Obj::Null => return ZEndpoint::default(),
        Obj::Wrong(kind) => {
            let label = if which == "localEndpoint" {
                "local_endpoint"
            } else {
                "remote_endpoint"
            };
            report.drop_field(label, || {
                format!("{}: must be an object, got {kind}", field(""))
            });
            return ZEndpoint::default();
        }
        Obj::Value(e) => e,
    };
    let mut ip = |raw: Raw, name: &str, label: &'static str| -> Option<String> {
        let s = report.keep(label, raw::string(raw, || field(name)));
        if s.is_empty() {
            return None;
        }
        match s.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(ip_to_string(ip)),
            Err(_) => {
                // Zipkin's server ignores an address it cannot read.
                report.drop_field(label, || {
                    format!("{}: is not an IP address: {s:?}", field(name))
                });
                None
            }
        }
    };
    let ipv4 = ip(e.ipv4, ".ipv4", "ipv4");
    let ipv6 = ip(e.ipv6, ".ipv6", "ipv6");
    ZEndpoint {
        service_name: report.keep(
            "service_name",
            raw::string(e.service_name, || field(".serviceName")),
        ),
        ipv4,
        ipv6,
        port: report.keep("port", raw::port(&e.port, || field(".port"))),
    }
}

/// Keeps one entry per key: the last value, at the position of the first.
fn dedup_last_wins(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out = LastWins::with_capacity(pairs.len());
    for (k, v) in pairs {
        out.set(k, v);
    }
    out.into_pairs()
}

// ---------------------------------------------------------------------------
// Protobuf.

fn span_from_proto(s: pb::Span, i: usize, report: &mut DecodeReport) -> Result<ZSpan, DecodeError> {
    let field = |name: &str| format!("span[{i}].{name}");
    let trace_id = match s.trace_id.len() {
        16 => TraceId::from_slice(&s.trace_id).unwrap_or_default(),
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&s.trace_id);
            TraceId::from_halves(0, u64::from_be_bytes(b))
        }
        n => {
            return Err(DecodeError::invalid(
                field("trace_id"),
                format!("must be 8 or 16 bytes, got {n}"),
            ));
        }
    };
    if trace_id.is_zero() {
        return Err(DecodeError::invalid(
            field("trace_id"),
            "must not be all zeros",
        ));
    }
    let id = SpanId::from_slice(&s.id).map_err(|_| {
        DecodeError::invalid(field("id"), format!("must be 8 bytes, got {}", s.id.len()))
    })?;
    if id.is_zero() {
        return Err(DecodeError::invalid(field("id"), "must not be all zeros"));
    }
    let parent_id = if s.parent_id.is_empty() {
        SpanId::ZERO
    } else {
        SpanId::from_slice(&s.parent_id).unwrap_or_else(|_| {
            report.drop_field("parent_id", || {
                format!(
                    "{}: must be empty or 8 bytes, got {}",
                    field("parent_id"),
                    s.parent_id.len()
                )
            });
            SpanId::ZERO
        })
    };
    let kind = match s.kind {
        1 => ZKind::Client,
        2 => ZKind::Server,
        3 => ZKind::Producer,
        4 => ZKind::Consumer,
        0 => ZKind::Other,
        n => {
            report.drop_field("kind", || {
                format!("{}: unknown span kind {n}", field("kind"))
            });
            ZKind::Other
        }
    };
    let micros = |us: u64, name: &str| {
        us.checked_mul(1000)
            .ok_or_else(|| DecodeError::invalid(field(name), format!("is out of range: {us}")))
    };
    let start = Some(report.keep("timestamp", micros(s.timestamp, "timestamp")));
    let duration = report.keep("duration", micros(s.duration, "duration"));
    let mut annotations = Vec::with_capacity(s.annotations.len());
    for (ai, a) in s.annotations.into_iter().enumerate() {
        match micros(a.timestamp, &format!("annotations[{ai}].timestamp")) {
            Ok(ts) => annotations.push((ts, a.value)),
            Err(e) => report.drop_field("annotation", || e.to_string()),
        }
    }
    // A protobuf map has no order; sort for deterministic output.
    let mut tags: Vec<(String, String)> = s.tags.into_iter().collect();
    tags.sort_unstable();
    Ok(ZSpan {
        trace_id,
        id,
        parent_id,
        name: s.name,
        kind,
        start,
        duration,
        local: endpoint_from_proto(s.local_endpoint),
        remote: endpoint_from_proto(s.remote_endpoint),
        annotations,
        tags,
    })
}

fn endpoint_from_proto(e: Option<pb::Endpoint>) -> ZEndpoint {
    let Some(e) = e else {
        return ZEndpoint::default();
    };
    ZEndpoint {
        service_name: e.service_name,
        ipv4: ip_bytes_to_string(&e.ipv4),
        ipv6: ip_bytes_to_string(&e.ipv6),
        // zipkin-go keeps the low 16 bits.
        port: e.port as u16,
    }
}

// ---------------------------------------------------------------------------
// v2 span to the model (the collector's `zipkinv2.ToTranslator`).

/// The span's tags while they are consumed.
struct Tags(Vec<(String, String)>);

impl Tags {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn remove(&mut self, key: &str) -> Option<String> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }
}

fn to_record(z: ZSpan, i: usize, interner: &mut Interner, report: &mut DecodeReport) -> SpanRecord {
    let mut tags = Tags(z.tags);

    // Resource: the local service plus resource-convention tags.
    let mut res: Vec<(String, String)> = Vec::new();
    if !z.local.service_name.is_empty() {
        let key = tags
            .get(SERVICE_NAME_SOURCE)
            .filter(|s| !s.is_empty())
            .unwrap_or(keys::SERVICE_NAME)
            .to_owned();
        res.push((key, z.local.service_name.clone()));
        for (k, v) in &tags.0 {
            if is_resource_key(k) {
                match res.iter_mut().find(|(rk, _)| rk == k) {
                    Some(slot) => slot.1 = v.clone(),
                    None => res.push((k.clone(), v.clone())),
                }
            }
        }
    }
    let resource = interner.resource(res);

    // Scope: otel.scope.* (consumed) or else otel.library.*.
    let scope = match tags.get(SCOPE_NAME).filter(|n| !n.is_empty()) {
        Some(name) => {
            let name = name.to_owned();
            tags.remove(SCOPE_NAME);
            let version = tags.remove(SCOPE_VERSION).unwrap_or_default();
            interner.scope(name, version)
        }
        None => match tags.get(LIBRARY_NAME).filter(|n| !n.is_empty()) {
            Some(name) => {
                let version = tags.get(LIBRARY_VERSION).unwrap_or_default().to_owned();
                interner.scope(name.to_owned(), version)
            }
            None => interner.scope(String::new(), String::new()),
        },
    };

    let trace_state = tags.remove("w3c.tracestate").unwrap_or_default();
    let parent_span_id = if z.parent_id == z.id {
        SpanId::ZERO
    } else {
        z.parent_id
    };
    let kind = match z.kind {
        ZKind::Client => SpanKind::Client,
        ZKind::Server => SpanKind::Server,
        ZKind::Producer => SpanKind::Producer,
        ZKind::Consumer => SpanKind::Consumer,
        ZKind::Other => match tags.remove("span.kind").as_deref() {
            Some("internal") => SpanKind::Internal,
            _ => SpanKind::Unspecified,
        },
    };

    let mut status = Status::default();
    if let Some(code) = tags.remove("otel.status_code") {
        status.code = status_code_from_name(&code);
        if let Some(message) = tags.remove("otel.status_description") {
            status.message = message;
        }
    }
    if let Some(error) = tags.get("error") {
        status.code = StatusCode::Error;
        if error == "true" {
            tags.remove("error");
        }
    }

    let mut links = Vec::new();
    for li in 0..128 {
        let key = format!("otlp.link.{li}");
        let Some(value) = tags.remove(&key) else {
            break;
        };
        match link_from_tag(&value, i, &key) {
            Ok(Some(link)) => links.push(link),
            Ok(None) => {}
            Err(e) => report.drop_field("link", || e.to_string()),
        }
    }

    let mut attributes: Vec<KeyValue> = Vec::with_capacity(tags.0.len() + 6);
    // Tag keys are unique already.
    for (k, v) in tags.0 {
        if !is_non_span_key(&k) {
            attributes.push(KeyValue {
                key: k,
                value: AnyValue::Str(v),
            });
        }
    }
    if let Some(ip) = z.local.ipv4 {
        upsert(&mut attributes, NET_HOST_IP, AnyValue::Str(ip));
    }
    if let Some(ip) = z.local.ipv6 {
        upsert(&mut attributes, NET_HOST_IP, AnyValue::Str(ip));
    }
    if z.local.port > 0 {
        upsert(
            &mut attributes,
            NET_HOST_PORT,
            AnyValue::Int(i64::from(z.local.port)),
        );
    }
    if !z.remote.service_name.is_empty() {
        upsert(
            &mut attributes,
            PEER_SERVICE,
            AnyValue::Str(z.remote.service_name),
        );
    }
    if let Some(ip) = z.remote.ipv4 {
        upsert(&mut attributes, NET_PEER_IP, AnyValue::Str(ip));
    }
    if let Some(ip) = z.remote.ipv6 {
        upsert(&mut attributes, NET_PEER_IP, AnyValue::Str(ip));
    }
    if z.remote.port > 0 {
        upsert(
            &mut attributes,
            NET_PEER_PORT,
            AnyValue::Int(i64::from(z.remote.port)),
        );
    }

    let (start, end) = match z.start {
        Some(start) => (start, start.saturating_add(z.duration)),
        None => {
            upsert(&mut attributes, START_TIME_ABSENT, AnyValue::Bool(true));
            (0, z.duration)
        }
    };

    let events = z
        .annotations
        .into_iter()
        .map(|(time, value)| event_from_annotation(time, &value))
        .collect();

    let span = Span {
        trace_id: z.trace_id,
        span_id: z.id,
        parent_span_id,
        trace_state,
        name: z.name,
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        events,
        links,
        status,
        ..Span::default()
    };
    SpanRecord::new(resource, scope, span)
}

/// The collector's status names, plus the upper-case ones the OpenTelemetry
/// Python and JavaScript Zipkin exporters write.
fn status_code_from_name(name: &str) -> StatusCode {
    match name {
        "STATUS_CODE_OK" | "Ok" | "OK" => StatusCode::Ok,
        "STATUS_CODE_ERROR" | "Error" | "ERROR" => StatusCode::Error,
        _ => StatusCode::Unset,
    }
}

/// An annotation as an event: `name`, or `name|{json attributes}|dropped`.
/// When the attribute part is not a JSON object or the dropped count not a
/// number, the event keeps just the name (the collector fails the request).
fn event_from_annotation(time: u64, value: &str) -> Event {
    let first = value.find('|');
    let name = match first {
        Some(at) => &value[..at],
        None => value,
    };
    let mut event = Event {
        time_unix_nano: time,
        name: name.to_owned(),
        ..Event::default()
    };
    let (Some(first), Some(last)) = (first, value.rfind('|')) else {
        return event;
    };
    if first == last {
        // `a|b`: two parts carry no attributes.
        return event;
    }
    let json = &value[first + 1..last];
    let dropped = &value[last + 1..];
    match (json_attributes(json), parse_u32_strict(dropped)) {
        (Some(attributes), Some(dropped)) => {
            event.attributes = attributes;
            event.dropped_attributes_count = dropped;
        }
        _ => {
            tracing::debug!(
                annotation = value,
                "zipkin annotation with malformed attributes; keeping its name"
            );
        }
    }
    event
}

/// An `otlp.link.N` tag: `traceId|spanId|traceState|{json attributes}|dropped`.
/// Fewer than five parts is no link; a malformed one is dropped and counted
/// (the collector fails the request).
fn link_from_tag(value: &str, i: usize, key: &str) -> Result<Option<Link>, DecodeError> {
    let parts: Vec<&str> = value.splitn(4, '|').collect();
    let [trace, span, state, rest] = parts[..] else {
        return Ok(None);
    };
    let Some(last) = rest.rfind('|') else {
        return Ok(None);
    };
    let field = || format!("span[{i}].tags[{key:?}]");
    let bad = |what: &str| DecodeError::invalid(field(), format!("invalid link {what}"));
    let trace_id = match unquote(trace) {
        "" => TraceId::ZERO,
        h if h.len() == 32 => TraceId::from_hex(h).map_err(|_| bad("trace ID"))?,
        _ => return Err(bad("trace ID length")),
    };
    let span_id = match unquote(span) {
        "" => SpanId::ZERO,
        h if h.len() == 16 => SpanId::from_hex(h).map_err(|_| bad("span ID"))?,
        _ => return Err(bad("span ID length")),
    };
    let attributes = json_attributes(&rest[..last]).ok_or_else(|| bad("attributes"))?;
    let dropped =
        parse_u32_strict(&rest[last + 1..]).ok_or_else(|| bad("dropped attributes count"))?;
    Ok(Some(Link {
        trace_id,
        span_id,
        trace_state: state.to_owned(),
        attributes,
        dropped_attributes_count: dropped,
        flags: 0,
    }))
}

/// Strips one pair of surrounding double quotes.
fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}
