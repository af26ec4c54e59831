//! Zipkin v1 (JSON and Thrift) to the model, as the collector's `zipkinv1`
//! translator does it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::Deserialize;
use spoor_model::{
    AnyValue, Event, Scope, Span, SpanBatch, SpanId, SpanKind, SpanRecord, Status, StatusCode,
    TraceId, UnixNanos, keys,
};

use super::raw::{self, List, Obj, Raw};
use super::{Interner, LastWins, START_TIME_ABSENT, ip_bytes_to_string, upsert};
use crate::report::reason_of;
use crate::thrift::{BinaryReader, TType, ThriftError, ThriftReader};
use crate::{DecodeError, DecodeReport, reason};

/// The service name of a v1 span no endpoint names.
const UNKNOWN_SERVICE: &str = "unknown-service";

/// Decodes a Zipkin v1 JSON body (`POST /api/v1/spans`). A span with no
/// timestamp and no annotation times gets the current time (see
/// [`decode_v1_json_at`]).
pub fn decode_v1_json(bytes: &[u8]) -> Result<SpanBatch, DecodeError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    decode_v1_json_at(bytes, now)
}

/// [`decode_v1_json`] with the time given to spans that carry none (they
/// start and end at `now` and get the [`START_TIME_ABSENT`] attribute, as
/// in the collector).
///
/// Trace IDs are 16 or 32 hex characters, span and parent IDs 16, none of
/// them all zeros. Binary annotation values are strings (booleans and
/// numbers are taken as their text).
pub fn decode_v1_json_at(bytes: &[u8], now: UnixNanos) -> Result<SpanBatch, DecodeError> {
    decode_v1_json_reported(bytes, now, &mut DecodeReport::new())
}

/// [`decode_v1_json_at`], counting what was left out in `report`: the
/// request fails only when it is not a JSON array; a span without a usable
/// trace ID or ID is left out alone, and a field of the wrong type (an
/// annotation, a binary annotation, an endpoint, a parent ID, …) is dropped.
pub fn decode_v1_json_reported(
    bytes: &[u8],
    now: UnixNanos,
    report: &mut DecodeReport,
) -> Result<SpanBatch, DecodeError> {
    let spans = raw::parse_array::<JSpan>(bytes)?;
    let mut interner = Interner::default();
    let scope = Arc::new(Scope::default());
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
            Ok(v1) => out.push(to_record(v1, Source::Json { now }, &mut interner, &scope)),
            Err(e) => report.reject_span(reason_of(&e), || e.to_string()),
        }
    }
    Ok(SpanBatch { spans: out })
}

/// Decodes a Zipkin v1 Thrift body (`POST /api/v1/spans` with
/// `Content-Type: application/x-thrift`): a binary-protocol
/// `list<zipkincore.Span>`. Bytes after the list are ignored.
///
/// Binary annotation values keep their Thrift type (`BOOL`, `I16`, `I32`,
/// `I64`, `DOUBLE`; `BYTES` as base64); a value too short for its type
/// becomes a string saying so, as in the collector.
pub fn decode_v1_thrift(bytes: &[u8]) -> Result<SpanBatch, DecodeError> {
    decode_v1_thrift_reported(bytes, &mut DecodeReport::new())
}

/// [`decode_v1_thrift`], counting what was left out in `report`: a span
/// whose trace ID or ID is zero is left out alone; bytes that are not a
/// Thrift list of spans fail the request.
pub fn decode_v1_thrift_reported(
    bytes: &[u8],
    report: &mut DecodeReport,
) -> Result<SpanBatch, DecodeError> {
    let mut r = BinaryReader::new(bytes);
    let header = r.read_list_begin()?;
    if header.element_type != TType::Struct {
        return Err(DecodeError::invalid(
            "thrift",
            format!(
                "expected a list of Span structs, got a list of {:?}",
                header.element_type
            ),
        ));
    }
    let mut interner = Interner::default();
    let scope = Arc::new(Scope::default());
    // `len` is bounded by the remaining bytes; grow as spans are read anyway.
    let mut out = Vec::new();
    for i in 0..header.len {
        let v1 = read_span(&mut r)
            .map_err(|e| DecodeError::invalid(format!("span[{i}]"), e.to_string()))?;
        if v1.trace_id.is_zero() {
            report.reject_span(reason::INVALID_TRACE_ID, || {
                format!("invalid span[{i}].trace_id: must not be all zeros")
            });
            continue;
        }
        if v1.id.is_zero() {
            report.reject_span(reason::INVALID_SPAN_ID, || {
                format!("invalid span[{i}].id: must not be all zeros")
            });
            continue;
        }
        out.push(to_record(v1, Source::Thrift, &mut interner, &scope));
    }
    r.read_list_end()?;
    Ok(SpanBatch { spans: out })
}

// ---------------------------------------------------------------------------
// The v1 span both encodings are read into.

#[derive(Debug, Clone, Default, PartialEq)]
struct V1Endpoint {
    service_name: String,
    /// Dotted form, or empty.
    ipv4: String,
    /// Printed form, or empty.
    ipv6: String,
    port: i32,
}

#[derive(Debug, Default)]
struct V1Annotation {
    /// Epoch microseconds.
    timestamp: i64,
    value: String,
    endpoint: Option<V1Endpoint>,
}

#[derive(Debug)]
struct V1Binary {
    key: String,
    value: AnyValue,
    host: Option<V1Endpoint>,
    /// For the `lc` key: the value as text (Thrift: its raw bytes, whatever
    /// the type), which may name the service.
    local_component: Option<String>,
}

#[derive(Debug, Default)]
struct V1Span {
    trace_id: TraceId,
    id: SpanId,
    parent_id: SpanId,
    name: String,
    /// Epoch microseconds, when set.
    timestamp: Option<i64>,
    duration: i64,
    annotations: Vec<V1Annotation>,
    binary_annotations: Vec<V1Binary>,
}

/// The two encodings differ in small ways the collector preserves.
#[derive(Clone, Copy)]
enum Source {
    /// A span with no start time gets `now` and the absent-start marker; a
    /// binary annotation's endpoint names the service only when it has a
    /// service name.
    Json { now: UnixNanos },
    /// No time fallback; any binary annotation host counts, even unnamed.
    Thrift,
}

// ---------------------------------------------------------------------------
// JSON.

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JSpan {
    trace_id: Raw,
    name: Raw,
    parent_id: Raw,
    id: Raw,
    timestamp: Raw,
    duration: Raw,
    annotations: List<Obj<JAnnotation>>,
    binary_annotations: List<Obj<JBinary>>,
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
    endpoint: Obj<JEndpoint>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JBinary {
    key: Raw,
    value: Raw,
    endpoint: Obj<JEndpoint>,
}

fn span_from_json(s: JSpan, i: usize, report: &mut DecodeReport) -> Result<V1Span, DecodeError> {
    let field = |name: &str| format!("span[{i}].{name}");
    let trace_hex = raw::string(s.trace_id, || field("traceId"))?;
    if trace_hex.len() != 16 && trace_hex.len() != 32 {
        return Err(DecodeError::invalid(
            field("traceId"),
            format!("must be 16 or 32 hex characters, got {}", trace_hex.len()),
        ));
    }
    let trace_id = TraceId::from_hex(&trace_hex)
        .map_err(|e| DecodeError::invalid(field("traceId"), e.to_string()))?;
    if trace_id.is_zero() {
        return Err(DecodeError::invalid(
            field("traceId"),
            "must not be all zeros",
        ));
    }
    let id = span_id_16(raw::string(s.id, || field("id"))?, || field("id"))?;
    let parent_hex = report.keep("parent_id", raw::string(s.parent_id, || field("parentId")));
    let parent_id = if parent_hex.is_empty() {
        SpanId::ZERO
    } else {
        report.keep("parent_id", span_id_16(parent_hex, || field("parentId")))
    };
    let name = report.keep("name", raw::string(s.name, || field("name")));
    let timestamp = report.keep("timestamp", raw::int64(&s.timestamp, || field("timestamp")));
    let duration = report.keep("duration", raw::int64(&s.duration, || field("duration")));

    let mut annotations = Vec::new();
    match s.annotations {
        List::Null => {}
        List::Wrong(kind) => report.drop_field("annotations", || {
            format!("{}: must be an array, got {kind}", field("annotations"))
        }),
        List::Items(items) => {
            annotations.reserve(items.len());
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
                let annotation = (|| {
                    Ok::<_, DecodeError>(V1Annotation {
                        timestamp: raw::int64(&a.timestamp, || afield(".timestamp"))?,
                        value: raw::string(a.value, || afield(".value"))?,
                        endpoint: endpoint_from_json(a.endpoint, &|| afield(".endpoint"))?,
                    })
                })();
                match annotation {
                    Ok(a) => annotations.push(a),
                    Err(e) => report.drop_field("annotation", || e.to_string()),
                }
            }
        }
    }

    let mut binary_annotations = Vec::new();
    match s.binary_annotations {
        List::Null => {}
        List::Wrong(kind) => report.drop_field("binary_annotations", || {
            format!(
                "{}: must be an array, got {kind}",
                field("binaryAnnotations")
            )
        }),
        List::Items(items) => {
            binary_annotations.reserve(items.len());
            for (bi, b) in items.into_iter().enumerate() {
                let bfield = |name: &str| format!("span[{i}].binaryAnnotations[{bi}]{name}");
                let b = match b {
                    Obj::Value(b) => b,
                    Obj::Null => continue,
                    Obj::Wrong(kind) => {
                        report.drop_field("binary_annotation", || {
                            format!("{}: must be an object, got {kind}", bfield(""))
                        });
                        continue;
                    }
                };
                let binary = (|| {
                    let key = raw::string(b.key, || bfield(".key"))?;
                    let value = raw::text(b.value, || bfield(".value"))?;
                    Ok::<_, DecodeError>(V1Binary {
                        local_component: (key == "lc").then(|| value.clone()),
                        key,
                        value: AnyValue::Str(value),
                        host: endpoint_from_json(b.endpoint, &|| bfield(".endpoint"))?,
                    })
                })();
                match binary {
                    Ok(b) => binary_annotations.push(b),
                    Err(e) => report.drop_field("binary_annotation", || e.to_string()),
                }
            }
        }
    }

    Ok(V1Span {
        trace_id,
        id,
        parent_id,
        name,
        // Zero means unset in v1 JSON.
        timestamp: (timestamp != 0).then_some(timestamp),
        duration,
        annotations,
        binary_annotations,
    })
}

/// A v1 span ID: exactly 16 hex characters, not all zeros.
fn span_id_16(hex: String, field: impl Fn() -> String) -> Result<SpanId, DecodeError> {
    if hex.len() != 16 {
        return Err(DecodeError::invalid(
            field(),
            format!("must be 16 hex characters, got {}", hex.len()),
        ));
    }
    let id = SpanId::from_hex(&hex).map_err(|e| DecodeError::invalid(field(), e.to_string()))?;
    if id.is_zero() {
        return Err(DecodeError::invalid(field(), "must not be all zeros"));
    }
    Ok(id)
}

/// A v1 JSON endpoint: addresses are kept as written, as the collector does.
fn endpoint_from_json(
    e: Obj<JEndpoint>,
    field: &dyn Fn() -> String,
) -> Result<Option<V1Endpoint>, DecodeError> {
    let e = match e {
        Obj::Null => return Ok(None),
        Obj::Wrong(kind) => {
            return Err(DecodeError::invalid(
                field(),
                format!("must be an object, got {kind}"),
            ));
        }
        Obj::Value(e) => e,
    };
    Ok(Some(V1Endpoint {
        service_name: raw::string(e.service_name, || format!("{}.serviceName", field()))?,
        ipv4: raw::string(e.ipv4, || format!("{}.ipv4", field()))?,
        ipv6: raw::string(e.ipv6, || format!("{}.ipv6", field()))?,
        port: raw::int32(&e.port, || format!("{}.port", field()))?,
    }))
}

// ---------------------------------------------------------------------------
// Thrift (zipkinCore.thrift).

/// Reads one `Span` struct. Fields of an unexpected type are skipped, as
/// Thrift's generated readers do.
fn read_span<R: ThriftReader>(r: &mut R) -> Result<V1Span, ThriftError> {
    let mut s = V1Span::default();
    let mut trace_low = 0i64;
    let mut trace_high = 0i64;
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::I64) => trace_low = r.read_i64()?,
            (3, TType::String) => s.name = r.read_string()?,
            (4, TType::I64) => s.id = SpanId::from_u64(r.read_i64()? as u64),
            (5, TType::I64) => s.parent_id = SpanId::from_u64(r.read_i64()? as u64),
            (6, TType::List) => {
                let h = r.read_list_begin()?;
                if h.element_type == TType::Struct {
                    for _ in 0..h.len {
                        s.annotations.push(read_annotation(r)?);
                    }
                } else {
                    for _ in 0..h.len {
                        r.skip(h.element_type)?;
                    }
                }
                r.read_list_end()?;
            }
            (8, TType::List) => {
                let h = r.read_list_begin()?;
                if h.element_type == TType::Struct {
                    for _ in 0..h.len {
                        s.binary_annotations.push(read_binary_annotation(r)?);
                    }
                } else {
                    for _ in 0..h.len {
                        r.skip(h.element_type)?;
                    }
                }
                r.read_list_end()?;
            }
            (10, TType::I64) => s.timestamp = Some(r.read_i64()?),
            (11, TType::I64) => s.duration = r.read_i64()?,
            (12, TType::I64) => trace_high = r.read_i64()?,
            _ => r.skip(t)?,
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;
    s.trace_id = TraceId::from_halves(trace_high as u64, trace_low as u64);
    Ok(s)
}

fn read_annotation<R: ThriftReader>(r: &mut R) -> Result<V1Annotation, ThriftError> {
    let mut a = V1Annotation::default();
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::I64) => a.timestamp = r.read_i64()?,
            (2, TType::String) => a.value = r.read_string()?,
            (3, TType::Struct) => a.endpoint = Some(read_endpoint(r)?),
            _ => r.skip(t)?,
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;
    Ok(a)
}

/// `AnnotationType`: BOOL, BYTES, I16, I32, I64, DOUBLE, STRING.
fn read_binary_annotation<R: ThriftReader>(r: &mut R) -> Result<V1Binary, ThriftError> {
    let mut key = String::new();
    let mut bytes = Vec::new();
    let mut annotation_type = 0i32;
    let mut host = None;
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::String) => key = r.read_string()?,
            (2, TType::String) => bytes = r.read_binary()?,
            (3, TType::I32) => annotation_type = r.read_i32()?,
            (4, TType::Struct) => host = Some(read_endpoint(r)?),
            _ => r.skip(t)?,
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;
    let local_component = (key == "lc").then(|| String::from_utf8_lossy(&bytes).into_owned());
    Ok(V1Binary {
        value: typed_value(annotation_type, &bytes),
        key,
        host,
        local_component,
    })
}

fn typed_value(annotation_type: i32, b: &[u8]) -> AnyValue {
    const SHORT: &str = "<not enough bytes representing the number>";
    fn be<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
        b.get(..N).and_then(|s| s.try_into().ok())
    }
    match annotation_type {
        0 => AnyValue::Bool(b == [1]),
        1 => AnyValue::Str(base64::engine::general_purpose::STANDARD.encode(b)),
        2 => be::<2>(b).map_or(AnyValue::Str(SHORT.into()), |a| {
            AnyValue::Int(i64::from(i16::from_be_bytes(a)))
        }),
        3 => be::<4>(b).map_or(AnyValue::Str(SHORT.into()), |a| {
            AnyValue::Int(i64::from(i32::from_be_bytes(a)))
        }),
        4 => be::<8>(b).map_or(AnyValue::Str(SHORT.into()), |a| {
            AnyValue::Int(i64::from_be_bytes(a))
        }),
        5 => be::<8>(b).map_or(AnyValue::Str(SHORT.into()), |a| {
            AnyValue::Double(f64::from_be_bytes(a))
        }),
        6 => AnyValue::Str(String::from_utf8_lossy(b).into_owned()),
        other => AnyValue::Str(format!(
            "<unknown zipkin v1 binary annotation type ({other})>"
        )),
    }
}

/// `Endpoint{1: i32 ipv4, 2: i16 port, 3: string service_name, 4: binary ipv6}`.
fn read_endpoint<R: ThriftReader>(r: &mut R) -> Result<V1Endpoint, ThriftError> {
    let mut e = V1Endpoint::default();
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::I32) => {
                let v4 = r.read_i32()? as u32;
                if v4 != 0 {
                    e.ipv4 = std::net::Ipv4Addr::from(v4).to_string();
                }
            }
            // Ports travel as signed 16 bits; 65535 arrives as -1.
            (2, TType::I16) => e.port = i32::from(r.read_i16()? as u16),
            (3, TType::String) => e.service_name = r.read_string()?,
            (4, TType::String) => {
                e.ipv6 = ip_bytes_to_string(&r.read_binary()?).unwrap_or_default()
            }
            _ => r.skip(t)?,
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;
    Ok(e)
}

// ---------------------------------------------------------------------------
// v1 span to the model.

fn micros_to_nanos(us: i64) -> UnixNanos {
    if us <= 0 {
        0
    } else {
        (us as u64).saturating_mul(1000)
    }
}

fn to_record(s: V1Span, source: Source, interner: &mut Interner, scope: &Arc<Scope>) -> SpanRecord {
    // Kind, endpoint, times and events from the annotations.
    let mut kind = None;
    let mut endpoint: Option<V1Endpoint> = None;
    let mut earliest = i64::MAX;
    let mut latest = i64::MIN;
    let mut start: UnixNanos = 0;
    let mut end: UnixNanos = 0;
    let mut events = Vec::new();
    for a in s.annotations {
        if a.value.is_empty() {
            continue;
        }
        let core = match a.value.as_str() {
            "cs" | "cr" => Some(SpanKind::Client),
            "sr" | "ss" => Some(SpanKind::Server),
            "ms" => Some(SpanKind::Producer),
            "mr" => Some(SpanKind::Consumer),
            _ => None,
        };
        let named = a
            .endpoint
            .as_ref()
            .is_some_and(|e| !e.service_name.is_empty());
        if core.is_some() && endpoint.is_none() && named {
            endpoint = a.endpoint.clone();
        }
        if kind.is_none() {
            kind = core;
        }
        let time = micros_to_nanos(a.timestamp);
        if a.timestamp < earliest {
            earliest = a.timestamp;
            start = time;
        }
        if a.timestamp > latest {
            latest = a.timestamp;
            end = time;
        }
        if core.is_none() {
            events.push(Event {
                time_unix_nano: time,
                name: a.value,
                ..Event::default()
            });
        }
    }
    let mut endpoint = endpoint.unwrap_or_else(|| V1Endpoint {
        service_name: UNKNOWN_SERVICE.to_owned(),
        ..V1Endpoint::default()
    });

    // Attributes, status and a fallback service from the binary annotations.
    let mut attributes = LastWins::with_capacity(s.binary_annotations.len() + 1);
    let mut status = StatusMapper::default();
    let mut fallback = String::new();
    let mut local_component = String::new();
    for b in s.binary_annotations {
        match (&b.host, source) {
            (Some(h), Source::Json { .. }) if !h.service_name.is_empty() => {
                fallback.clone_from(&h.service_name);
            }
            (Some(h), Source::Thrift) => fallback.clone_from(&h.service_name),
            _ => {}
        }
        let key = match b.local_component {
            Some(text) => {
                local_component = text;
                "component".to_owned()
            }
            None => b.key,
        };
        if status.consume(&key, &b.value) {
            continue;
        }
        attributes.set(key, b.value);
    }
    let mut attributes = attributes.into_attributes();
    if fallback.is_empty() {
        fallback = local_component;
    }
    if endpoint.service_name == UNKNOWN_SERVICE && !fallback.is_empty() {
        endpoint.service_name = fallback;
    }

    if let Some(ts) = s.timestamp {
        start = micros_to_nanos(ts);
        end = micros_to_nanos(ts.saturating_add(s.duration));
    }
    if let Source::Json { now } = source
        && start == 0
    {
        start = now;
        end = now;
        upsert(&mut attributes, START_TIME_ABSENT, AnyValue::Bool(true));
    }

    let mut res = vec![(keys::SERVICE_NAME.to_owned(), endpoint.service_name)];
    if !endpoint.ipv4.is_empty() {
        res.push(("ipv4".to_owned(), endpoint.ipv4));
    }
    if !endpoint.ipv6.is_empty() {
        res.push(("ipv6".to_owned(), endpoint.ipv6));
    }
    if endpoint.port != 0 {
        res.push(("port".to_owned(), endpoint.port.to_string()));
    }
    let resource = interner.resource(res);

    let span = Span {
        trace_id: s.trace_id,
        span_id: s.id,
        // A span cannot be its own parent (v2 decoding drops such a parent too).
        parent_span_id: if s.parent_id == s.id {
            SpanId::ZERO
        } else {
            s.parent_id
        },
        name: s.name,
        kind: kind.unwrap_or(SpanKind::Unspecified),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        events,
        status: status.status(),
        ..Span::default()
    };
    SpanRecord::new(resource, scope.clone(), span)
}

/// Status from v1 binary annotations (the collector's `statusMapper`).
#[derive(Default)]
struct StatusMapper {
    census: (Option<StatusCode>, String),
    otel: (Option<StatusCode>, String),
    http: (Option<StatusCode>, String),
    error: bool,
}

impl StatusMapper {
    /// Looks at one binary annotation; `true` when it is consumed (not kept
    /// as an attribute).
    fn consume(&mut self, key: &str, value: &AnyValue) -> bool {
        match key {
            "census.status_code" => {
                if let Some(code) = int32_value(value) {
                    self.census.0 = Some(if code == 0 {
                        StatusCode::Ok
                    } else {
                        StatusCode::Error
                    });
                }
                true
            }
            "census.status_description" | "opencensus.status_description" => {
                self.census.1 = value.as_str().unwrap_or_default().to_owned();
                true
            }
            "otel.status_code" => {
                if let Some(code) = int32_value(value) {
                    self.otel.0 = Some(StatusCode::from_i32(code));
                }
                true
            }
            "otel.status_description" => {
                self.otel.1 = value.as_str().unwrap_or_default().to_owned();
                true
            }
            "http.status_code" => {
                if let Some(code) = int32_value(value) {
                    self.http.0 = Some(if (100..400).contains(&code) {
                        StatusCode::Unset
                    } else {
                        StatusCode::Error
                    });
                }
                false
            }
            "http.status_message" => {
                self.http.1 = value.as_str().unwrap_or_default().to_owned();
                false
            }
            "error" => {
                self.error = true;
                true
            }
            _ => false,
        }
    }

    fn status(self) -> Status {
        let (code, message) = if let (Some(code), message) = self.census {
            (code, message)
        } else if let (Some(code), message) = self.otel {
            (code, message)
        } else if self.error {
            let message = if !self.census.1.is_empty() {
                self.census.1
            } else {
                self.otel.1
            };
            (StatusCode::Error, message)
        } else if let (Some(code), message) = self.http {
            (code, message)
        } else {
            return Status::default();
        };
        Status { code, message }
    }
}

/// An integer or decimal-string attribute as an `i32` (out of range: none).
fn int32_value(v: &AnyValue) -> Option<i32> {
    match v {
        AnyValue::Int(i) => i32::try_from(*i).ok(),
        AnyValue::Str(s) => s.parse::<i64>().ok().and_then(|i| i32::try_from(i).ok()),
        _ => None,
    }
}
