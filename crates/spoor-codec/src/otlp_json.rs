//! OTLP/JSON (the OTLP specification's JSON mapping of protobuf) to and from
//! the model.
//!
//! The decoder is as liberal as the OpenTelemetry collector: field names in
//! lowerCamelCase or in the proto's snake_case; trace and span IDs as hex in
//! either case (an empty string means absent); enums as numbers or as their
//! names (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`, any case); 64-bit integers
//! as JSON numbers or decimal strings; `doubleValue` as a number or as
//! `"NaN"`, `"Infinity"`, `"-Infinity"` (or any decimal string);
//! `bytesValue` as standard base64 with or without padding; `null` anywhere
//! meaning absent; unknown fields ignored; the pre-1.0
//! `instrumentationLibrarySpans` / `instrumentationLibrary` names accepted.
//! Nesting is bounded by `serde_json`'s recursion limit (128 levels), so a
//! deeply nested document is an error, never a stack overflow. IDs follow the
//! same rules as the protobuf decoder (see [`crate::otlp`]): a span without
//! usable IDs is left out alone and counted, never the whole request.
//!
//! The encoder writes what Jaeger's api_v3 HTTP gateway writes (the
//! collector's pdata JSON marshaler): lowerCamelCase keys in proto field
//! order, lowercase hex IDs, enums as integers, 64-bit integers as strings,
//! doubles as numbers, bytes as padded base64, fields holding their default
//! value left out, while `resource`, `scope`, `status` and an attribute's
//! `value` are always written (as `{}` when empty).

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use spoor_model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanBatch, SpanId, SpanKind,
    SpanRecord, Status, StatusCode, TraceId,
};
use std::sync::Arc;

use crate::otlp::{Location, ResourceGroup, ScopeGroup, attributes_with_warnings, group_records};
use crate::report::reason_of;
use crate::{DecodeError, DecodeReport};

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` or `TracesData`
/// (`{"resourceSpans":[…]}`) into a batch, leaving out what cannot be used
/// (see [`decode_reported`]).
pub fn decode(bytes: &[u8]) -> Result<SpanBatch, DecodeError> {
    decode_reported(bytes, &mut DecodeReport::new())
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` or `TracesData`. Fails
/// when the document is not valid JSON of that shape; a span without a
/// usable trace or span ID is left out, and a parent or link ID that is not
/// valid hex of the right length is dropped, each counted in `report` (as
/// the protobuf decoder does).
pub fn decode_reported(bytes: &[u8], report: &mut DecodeReport) -> Result<SpanBatch, DecodeError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // serde would also read a struct from an array; a request is an object.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') {
        return Err(DecodeError::Json(
            "expected a JSON object with \"resourceSpans\"".into(),
        ));
    }
    BAD_VALUES.with(|c| c.set(0));
    let req: Result<JRequest, _> = serde_json::from_slice(bytes);
    let bad_values = BAD_VALUES.with(|c| c.replace(0));
    let req = req.map_err(|e| DecodeError::Json(e.to_string()))?;
    if bad_values > 0 {
        report.drop_fields("attribute_value", bad_values, || {
            format!(
                "{bad_values} attribute value(s) of the wrong form (e.g. an intValue that is not an integer) kept as empty values"
            )
        });
    }
    Ok(convert(req, report))
}

/// Encodes records as OTLP/JSON, grouped as [`crate::otlp::to_request`] groups
/// them (warnings become the `@jaeger@warnings` attribute there too).
/// Prefer [`encode_to_vec`] for responses: it skips the intermediate `Value`.
pub fn encode(spans: &[SpanRecord]) -> serde_json::Value {
    let groups = group_records(spans);
    // Serializing these types cannot fail: every map key is a string.
    serde_json::to_value(OutRequest(&groups)).unwrap_or(serde_json::Value::Null)
}

/// [`encode`] written straight to bytes, keys in proto field order.
pub fn encode_to_vec(spans: &[SpanRecord]) -> Vec<u8> {
    let groups = group_records(spans);
    // Serializing these types cannot fail: every map key is a string.
    serde_json::to_vec(&OutRequest(&groups)).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Decoding: mirror structs.

/// Reads an optional value, treating `null` like an absent field.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JRequest {
    #[serde(alias = "resource_spans", deserialize_with = "nullable")]
    resource_spans: Vec<JResourceSpans>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JResourceSpans {
    resource: Option<JResource>,
    #[serde(alias = "scope_spans", deserialize_with = "nullable")]
    scope_spans: Vec<JScopeSpans>,
    #[serde(alias = "schema_url", deserialize_with = "nullable")]
    schema_url: String,
    /// Pre-1.0 name of `scopeSpans`.
    #[serde(alias = "instrumentation_library_spans", deserialize_with = "nullable")]
    instrumentation_library_spans: Vec<JScopeSpans>,
    /// The collector's own name for the deprecated field.
    #[serde(alias = "deprecated_scope_spans", deserialize_with = "nullable")]
    deprecated_scope_spans: Vec<JScopeSpans>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JResource {
    attributes: Attrs,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: U32,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JScopeSpans {
    #[serde(alias = "instrumentationLibrary", alias = "instrumentation_library")]
    scope: Option<JScope>,
    #[serde(deserialize_with = "nullable")]
    spans: Vec<JSpan>,
    #[serde(alias = "schema_url", deserialize_with = "nullable")]
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JScope {
    #[serde(deserialize_with = "nullable")]
    name: String,
    #[serde(deserialize_with = "nullable")]
    version: String,
    attributes: Attrs,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: U32,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JSpan {
    #[serde(alias = "trace_id")]
    trace_id: HexId<16>,
    #[serde(alias = "span_id")]
    span_id: HexId<8>,
    #[serde(alias = "trace_state", deserialize_with = "nullable")]
    trace_state: String,
    #[serde(alias = "parent_span_id")]
    parent_span_id: HexId<8>,
    flags: U32,
    #[serde(deserialize_with = "nullable")]
    name: String,
    kind: Kind,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: U64,
    #[serde(alias = "end_time_unix_nano")]
    end_time_unix_nano: U64,
    attributes: Attrs,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: U32,
    #[serde(deserialize_with = "nullable")]
    events: Vec<JEvent>,
    #[serde(alias = "dropped_events_count")]
    dropped_events_count: U32,
    #[serde(deserialize_with = "nullable")]
    links: Vec<JLink>,
    #[serde(alias = "dropped_links_count")]
    dropped_links_count: U32,
    status: Option<JStatus>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JEvent {
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: U64,
    #[serde(deserialize_with = "nullable")]
    name: String,
    attributes: Attrs,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: U32,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JLink {
    #[serde(alias = "trace_id")]
    trace_id: HexId<16>,
    #[serde(alias = "span_id")]
    span_id: HexId<8>,
    #[serde(alias = "trace_state", deserialize_with = "nullable")]
    trace_state: String,
    attributes: Attrs,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: U32,
    flags: U32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JStatus {
    #[serde(deserialize_with = "nullable")]
    message: String,
    code: Code,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JKeyValue {
    #[serde(deserialize_with = "nullable")]
    key: String,
    value: JValue,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JArrayValue {
    #[serde(deserialize_with = "nullable")]
    values: Vec<JValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JKvListValue {
    values: Attrs,
}

/// A list of attributes, decoded straight into the model.
#[derive(Default)]
struct Attrs(Vec<KeyValue>);

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let kvs: Vec<JKeyValue> = nullable(d)?;
        Ok(Attrs(
            kvs.into_iter()
                .map(|kv| KeyValue {
                    key: kv.key,
                    value: kv.value.0,
                })
                .collect(),
        ))
    }
}

/// An `AnyValue` object, decoded straight into the model. When several
/// value fields are present the last one wins, as in the collector.
#[derive(Default)]
struct JValue(AnyValue);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum ValueField {
    #[serde(alias = "string_value")]
    StringValue,
    #[serde(alias = "bool_value")]
    BoolValue,
    #[serde(alias = "int_value")]
    IntValue,
    #[serde(alias = "double_value")]
    DoubleValue,
    #[serde(alias = "bytes_value")]
    BytesValue,
    #[serde(alias = "array_value")]
    ArrayValue,
    #[serde(alias = "kvlist_value")]
    KvlistValue,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for JValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AnyValue object")
            }
            fn visit_unit<E: de::Error>(self) -> Result<JValue, E> {
                Ok(JValue(AnyValue::Empty))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JValue, A::Error> {
                let mut out = AnyValue::Empty;
                while let Some(field) = map.next_key::<ValueField>()? {
                    let v = match field {
                        ValueField::StringValue => {
                            lenient::<Option<String>, _>(&mut map)?.map(AnyValue::Str)
                        }
                        ValueField::BoolValue => {
                            lenient::<Option<bool>, _>(&mut map)?.map(AnyValue::Bool)
                        }
                        ValueField::IntValue => lenient::<I64, _>(&mut map)?.0.map(AnyValue::Int),
                        ValueField::DoubleValue => {
                            lenient::<F64, _>(&mut map)?.0.map(AnyValue::Double)
                        }
                        ValueField::BytesValue => {
                            lenient::<Bytes, _>(&mut map)?.0.map(AnyValue::Bytes)
                        }
                        ValueField::ArrayValue => map
                            .next_value::<Option<JArrayValue>>()?
                            .map(|a| AnyValue::Array(a.values.into_iter().map(|v| v.0).collect())),
                        ValueField::KvlistValue => map
                            .next_value::<Option<JKvListValue>>()?
                            .map(|l| AnyValue::KvList(l.values.0)),
                        ValueField::Other => {
                            map.next_value::<IgnoredAny>()?;
                            None
                        }
                    };
                    if let Some(v) = v {
                        out = v;
                    }
                }
                Ok(JValue(out))
            }
        }
        d.deserialize_any(V)
    }
}

thread_local! {
    /// Scalar attribute values of the wrong form seen by the decode running
    /// on this thread (decoding is synchronous: [`decode_reported`] resets
    /// and reads it around one `serde_json` call).
    static BAD_VALUES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Reads the next map value as `T`; a value of the wrong form (`"12x"` as an
/// `intValue`, bad base64, …) reads as `T::default()` (absent) and is counted
/// in [`BAD_VALUES`] instead of failing the whole document. The value is
/// buffered as a scalar `serde_json::Value` first; a nested value there is
/// of the wrong form anyway.
fn lenient<'de, T, A>(map: &mut A) -> Result<T, A::Error>
where
    T: serde::de::DeserializeOwned + Default,
    A: MapAccess<'de>,
{
    let raw: serde_json::Value = map.next_value()?;
    Ok(T::deserialize(raw).unwrap_or_else(|_| {
        BAD_VALUES.with(|c| c.set(c.get().saturating_add(1)));
        T::default()
    }))
}

/// Implements `Deserialize` for a newtype over `Option<$t>` that accepts a
/// JSON number or a decimal string, and `null` as absent.
macro_rules! integer_field {
    ($name:ident, $t:ty, $what:literal) => {
        #[derive(Default, Clone, Copy)]
        struct $name(Option<$t>);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<$name, E> {
                        Ok($name(None))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        <$t>::try_from(v)
                            .map(|v| $name(Some(v)))
                            .map_err(|_| E::custom(concat!("out of range for ", $what)))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        <$t>::try_from(v)
                            .map(|v| $name(Some(v)))
                            .map_err(|_| E::custom(concat!("out of range for ", $what)))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        // Accept `1e9` or `5.0`, but nothing with a fraction.
                        if v.fract() == 0.0 && v >= <$t>::MIN as f64 && v <= <$t>::MAX as f64 {
                            Ok($name(Some(v as $t)))
                        } else {
                            Err(E::custom(concat!("not a valid ", $what)))
                        }
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse::<$t>().map(|v| $name(Some(v))).map_err(|_| {
                            E::custom(format_args!(concat!("{:?} is not a valid ", $what), v))
                        })
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

integer_field!(U64, u64, "uint64");
integer_field!(I64, i64, "int64");
integer_field!(U32, u32, "uint32");

impl U64 {
    /// The value, zero when absent.
    fn get(self) -> u64 {
        self.0.unwrap_or_default()
    }
}

impl U32 {
    /// The value, zero when absent.
    fn get(self) -> u32 {
        self.0.unwrap_or_default()
    }
}

/// A double: a JSON number, or a string (`"NaN"`, `"Infinity"`,
/// `"-Infinity"`, or a decimal), or `null` as absent.
#[derive(Default)]
struct F64(Option<f64>);

impl<'de> Deserialize<'de> for F64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = F64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a double")
            }
            fn visit_unit<E: de::Error>(self) -> Result<F64, E> {
                Ok(F64(None))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<F64, E> {
                Ok(F64(Some(v as f64)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<F64, E> {
                Ok(F64(Some(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<F64, E> {
                Ok(F64(Some(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<F64, E> {
                // Rust's parser accepts "NaN", "Infinity", "-Infinity", "inf"
                // (any case) and decimals with exponents, like Go's ParseFloat.
                v.parse::<f64>()
                    .map(|v| F64(Some(v)))
                    .map_err(|_| E::custom(format_args!("{v:?} is not a valid double")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Standard base64, padding optional, stray trailing bits ignored (as Go's
/// `base64.StdEncoding` does).
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// `bytesValue`: base64 text, `null` as absent.
#[derive(Default)]
struct Bytes(Option<Vec<u8>>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Bytes, E> {
                Ok(Bytes(None))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                BASE64_LENIENT
                    .decode(v)
                    .map(|b| Bytes(Some(b)))
                    .map_err(|e| E::custom(format_args!("invalid base64 in bytesValue: {e}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A hex ID as read; validated (with the field's name) after parsing.
#[derive(Default, Clone, Copy)]
enum HexId<const N: usize> {
    #[default]
    Absent,
    Bytes([u8; N]),
    /// Number of characters.
    WrongLength(usize),
    NotHex,
}

impl<'de, const N: usize> Deserialize<'de> for HexId<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for V<N> {
            type Value = HexId<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hex string")
            }
            fn visit_unit<E: de::Error>(self) -> Result<HexId<N>, E> {
                Ok(HexId::Absent)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HexId<N>, E> {
                Ok(parse_hex_id(v.as_bytes()))
            }
        }
        d.deserialize_any(V::<N>)
    }
}

fn parse_hex_id<const N: usize>(s: &[u8]) -> HexId<N> {
    if s.is_empty() {
        return HexId::Absent;
    }
    if s.len() != 2 * N {
        return HexId::WrongLength(s.len());
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        match (hex_nibble(pair[0]), hex_nibble(pair[1])) {
            (Some(h), Some(l)) => *o = (h << 4) | l,
            _ => return HexId::NotHex,
        }
    }
    HexId::Bytes(out)
}

fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Implements `Deserialize` for an OTLP enum given as a number or a name.
macro_rules! enum_field {
    ($name:ident, $model:ty, $what:literal, [$(($str:literal, $num:literal)),* $(,)?]) => {
        #[derive(Default)]
        struct $name($model);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a ", $what, " number or name"))
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<$name, E> {
                        Ok($name(<$model>::default()))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        i32::try_from(v)
                            .map(|v| $name(<$model>::from_i32(v)))
                            .map_err(|_| E::custom(concat!("out of range for ", $what)))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        i32::try_from(v)
                            .map(|v| $name(<$model>::from_i32(v)))
                            .map_err(|_| E::custom(concat!("out of range for ", $what)))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        $(
                            if v.eq_ignore_ascii_case($str) {
                                return Ok($name(<$model>::from_i32($num)));
                            }
                        )*
                        if let Ok(n) = v.parse::<i32>() {
                            return Ok($name(<$model>::from_i32(n)));
                        }
                        Err(E::custom(format_args!(concat!("unknown ", $what, " {:?}"), v)))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

enum_field!(
    Kind,
    SpanKind,
    "span kind",
    [
        ("SPAN_KIND_UNSPECIFIED", 0),
        ("SPAN_KIND_INTERNAL", 1),
        ("SPAN_KIND_SERVER", 2),
        ("SPAN_KIND_CLIENT", 3),
        ("SPAN_KIND_PRODUCER", 4),
        ("SPAN_KIND_CONSUMER", 5),
    ]
);

enum_field!(
    Code,
    StatusCode,
    "status code",
    [
        ("STATUS_CODE_UNSET", 0),
        ("STATUS_CODE_OK", 1),
        ("STATUS_CODE_ERROR", 2),
    ]
);

// ---------------------------------------------------------------------------
// Decoding: mirror to model.

fn convert(req: JRequest, report: &mut DecodeReport) -> SpanBatch {
    let mut spans = Vec::new();
    for (ri, rs) in req.resource_spans.into_iter().enumerate() {
        let r = rs.resource.unwrap_or_default();
        let resource = Arc::new(Resource {
            attributes: r.attributes.0,
            dropped_attributes_count: r.dropped_attributes_count.get(),
            schema_url: rs.schema_url,
        });
        // The collector's migration: legacy lists are used only when
        // `scopeSpans` is empty.
        let scope_spans = if !rs.scope_spans.is_empty() {
            rs.scope_spans
        } else if !rs.instrumentation_library_spans.is_empty() {
            rs.instrumentation_library_spans
        } else {
            rs.deprecated_scope_spans
        };
        for (si, ss) in scope_spans.into_iter().enumerate() {
            let s = ss.scope.unwrap_or_default();
            let scope = Arc::new(Scope {
                name: s.name,
                version: s.version,
                attributes: s.attributes.0,
                dropped_attributes_count: s.dropped_attributes_count.get(),
                schema_url: ss.schema_url,
            });
            spans.reserve(ss.spans.len());
            for (pi, js) in ss.spans.into_iter().enumerate() {
                let at = Location {
                    resource: ri,
                    scope: si,
                    span: pi,
                };
                match convert_span(js, at, report) {
                    Ok(span) => spans.push(SpanRecord::new(resource.clone(), scope.clone(), span)),
                    Err(e) => report.reject_span(reason_of(&e), || e.to_string()),
                }
            }
        }
    }
    SpanBatch { spans }
}

fn convert_span(s: JSpan, at: Location, report: &mut DecodeReport) -> Result<Span, DecodeError> {
    let trace_id = match s.trace_id {
        HexId::Bytes(b) if b != [0; 16] => TraceId(b),
        other => return Err(required_id_error("traceId", other, 16, &at)),
    };
    let span_id = match s.span_id {
        HexId::Bytes(b) if b != [0; 8] => SpanId(b),
        other => return Err(required_id_error("spanId", other, 8, &at)),
    };
    let parent_span_id = match optional_id("parentSpanId", s.parent_span_id, &at) {
        Ok(id) => SpanId(id),
        Err(e) => {
            report.drop_field("parent_span_id", || e.to_string());
            SpanId::ZERO
        }
    };
    let mut links = Vec::with_capacity(s.links.len());
    for (li, l) in s.links.into_iter().enumerate() {
        let where_ = format!("{at}.links[{li}]");
        let ids = optional_id("links.traceId", l.trace_id, &where_)
            .and_then(|t| Ok((t, optional_id("links.spanId", l.span_id, &where_)?)));
        let (trace_id, span_id) = match ids {
            Ok(ids) => ids,
            Err(e) => {
                report.drop_field("link", || e.to_string());
                continue;
            }
        };
        links.push(Link {
            trace_id: TraceId(trace_id),
            span_id: SpanId(span_id),
            trace_state: l.trace_state,
            attributes: l.attributes.0,
            dropped_attributes_count: l.dropped_attributes_count.get(),
            flags: l.flags.get(),
        });
    }
    let status = s.status.unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: s.trace_state,
        flags: s.flags.get(),
        name: s.name,
        kind: s.kind.0,
        start_time_unix_nano: s.start_time_unix_nano.get(),
        end_time_unix_nano: s.end_time_unix_nano.get(),
        attributes: s.attributes.0,
        dropped_attributes_count: s.dropped_attributes_count.get(),
        events: s
            .events
            .into_iter()
            .map(|e| Event {
                time_unix_nano: e.time_unix_nano.get(),
                name: e.name,
                attributes: e.attributes.0,
                dropped_attributes_count: e.dropped_attributes_count.get(),
            })
            .collect(),
        dropped_events_count: s.dropped_events_count.get(),
        links,
        dropped_links_count: s.dropped_links_count.get(),
        status: Status {
            code: status.code.0,
            message: status.message,
        },
    })
}

fn required_id_error<const N: usize>(
    field: &str,
    id: HexId<N>,
    bytes: usize,
    at: &Location,
) -> DecodeError {
    let reason = match id {
        HexId::Absent => format!("is required at {at}"),
        HexId::Bytes(_) => format!("must not be all zeros at {at}"),
        HexId::WrongLength(n) => {
            format!(
                "must be {} hex characters ({bytes} bytes), got {n} at {at}",
                2 * bytes
            )
        }
        HexId::NotHex => format!("is not valid hex at {at}"),
    };
    DecodeError::invalid(field, reason)
}

/// Absent means all zeros (a root's parent, a link the adjuster will drop).
fn optional_id<const N: usize>(
    field: &str,
    id: HexId<N>,
    at: &dyn fmt::Display,
) -> Result<[u8; N], DecodeError> {
    match id {
        HexId::Absent => Ok([0; N]),
        HexId::Bytes(b) => Ok(b),
        HexId::WrongLength(n) => Err(DecodeError::invalid(
            field,
            format!(
                "must be empty or {} hex characters ({N} bytes), got {n} at {at}",
                2 * N
            ),
        )),
        HexId::NotHex => Err(DecodeError::invalid(
            field,
            format!("is not valid hex at {at}"),
        )),
    }
}

// ---------------------------------------------------------------------------
// Encoding.

struct OutRequest<'a>(&'a [ResourceGroup<'a>]);

impl Serialize for OutRequest<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if !self.0.is_empty() {
            m.serialize_entry("resourceSpans", &Seq(self.0, OutResourceSpans))?;
        }
        m.end()
    }
}

/// Serializes a slice through a wrapping function.
struct Seq<'a, T, W>(&'a [T], fn(&'a T) -> W);

impl<'a, T, W: Serialize> Serialize for Seq<'a, T, W> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&(self.1)(item))?;
        }
        seq.end()
    }
}

struct OutResourceSpans<'a>(&'a ResourceGroup<'a>);

impl Serialize for OutResourceSpans<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let g = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resource", &OutResource(g.resource))?;
        if !g.scopes.is_empty() {
            m.serialize_entry("scopeSpans", &Seq(&g.scopes, OutScopeSpans))?;
        }
        if !g.resource.schema_url.is_empty() {
            m.serialize_entry("schemaUrl", &g.resource.schema_url)?;
        }
        m.end()
    }
}

struct OutResource<'a>(&'a Resource);

impl Serialize for OutResource<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        attributes_entries(&mut m, &self.0.attributes, self.0.dropped_attributes_count)?;
        m.end()
    }
}

struct OutScopeSpans<'a>(&'a ScopeGroup<'a>);

impl Serialize for OutScopeSpans<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let g = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("scope", &OutScope(g.scope))?;
        if !g.records.is_empty() {
            m.serialize_entry("spans", &Seq(&g.records, |r: &&SpanRecord| OutSpan(r)))?;
        }
        if !g.scope.schema_url.is_empty() {
            m.serialize_entry("schemaUrl", &g.scope.schema_url)?;
        }
        m.end()
    }
}

struct OutScope<'a>(&'a Scope);

impl Serialize for OutScope<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sc = self.0;
        let mut m = s.serialize_map(None)?;
        if !sc.name.is_empty() {
            m.serialize_entry("name", &sc.name)?;
        }
        if !sc.version.is_empty() {
            m.serialize_entry("version", &sc.version)?;
        }
        attributes_entries(&mut m, &sc.attributes, sc.dropped_attributes_count)?;
        m.end()
    }
}

/// `attributes` (when not empty) and `droppedAttributesCount` (when not zero).
fn attributes_entries<M: SerializeMap>(
    m: &mut M,
    attrs: &[KeyValue],
    dropped: u32,
) -> Result<(), M::Error> {
    if !attrs.is_empty() {
        m.serialize_entry("attributes", &Seq(attrs, OutKeyValue))?;
    }
    if dropped != 0 {
        m.serialize_entry("droppedAttributesCount", &dropped)?;
    }
    Ok(())
}

fn non_empty_entry<M: SerializeMap>(m: &mut M, key: &str, v: &str) -> Result<(), M::Error> {
    if v.is_empty() {
        Ok(())
    } else {
        m.serialize_entry(key, v)
    }
}

fn non_zero_entry<M: SerializeMap>(m: &mut M, key: &str, v: u32) -> Result<(), M::Error> {
    if v == 0 {
        Ok(())
    } else {
        m.serialize_entry(key, &v)
    }
}

/// uint64 values are strings in the JSON mapping.
fn nanos_entry<M: SerializeMap>(m: &mut M, key: &str, v: u64) -> Result<(), M::Error> {
    if v == 0 {
        Ok(())
    } else {
        m.serialize_entry(key, &v.to_string())
    }
}

struct OutSpan<'a>(&'a SpanRecord);

impl Serialize for OutSpan<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sp = &self.0.span;
        let mut m = s.serialize_map(None)?;
        if !sp.trace_id.is_zero() {
            m.serialize_entry("traceId", &sp.trace_id.to_hex())?;
        }
        if !sp.span_id.is_zero() {
            m.serialize_entry("spanId", &sp.span_id.to_hex())?;
        }
        non_empty_entry(&mut m, "traceState", &sp.trace_state)?;
        if !sp.parent_span_id.is_zero() {
            m.serialize_entry("parentSpanId", &sp.parent_span_id.to_hex())?;
        }
        non_zero_entry(&mut m, "flags", sp.flags)?;
        non_empty_entry(&mut m, "name", &sp.name)?;
        if sp.kind != SpanKind::Unspecified {
            m.serialize_entry("kind", &(sp.kind as i32))?;
        }
        nanos_entry(&mut m, "startTimeUnixNano", sp.start_time_unix_nano)?;
        nanos_entry(&mut m, "endTimeUnixNano", sp.end_time_unix_nano)?;
        attributes_entries(
            &mut m,
            &attributes_with_warnings(self.0),
            sp.dropped_attributes_count,
        )?;
        if !sp.events.is_empty() {
            m.serialize_entry("events", &Seq(&sp.events, OutEvent))?;
        }
        non_zero_entry(&mut m, "droppedEventsCount", sp.dropped_events_count)?;
        if !sp.links.is_empty() {
            m.serialize_entry("links", &Seq(&sp.links, OutLink))?;
        }
        non_zero_entry(&mut m, "droppedLinksCount", sp.dropped_links_count)?;
        m.serialize_entry("status", &OutStatus(&sp.status))?;
        m.end()
    }
}

struct OutEvent<'a>(&'a Event);

impl Serialize for OutEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        nanos_entry(&mut m, "timeUnixNano", e.time_unix_nano)?;
        non_empty_entry(&mut m, "name", &e.name)?;
        attributes_entries(&mut m, &e.attributes, e.dropped_attributes_count)?;
        m.end()
    }
}

struct OutLink<'a>(&'a Link);

impl Serialize for OutLink<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let mut m = s.serialize_map(None)?;
        if !l.trace_id.is_zero() {
            m.serialize_entry("traceId", &l.trace_id.to_hex())?;
        }
        if !l.span_id.is_zero() {
            m.serialize_entry("spanId", &l.span_id.to_hex())?;
        }
        non_empty_entry(&mut m, "traceState", &l.trace_state)?;
        attributes_entries(&mut m, &l.attributes, l.dropped_attributes_count)?;
        non_zero_entry(&mut m, "flags", l.flags)?;
        m.end()
    }
}

struct OutStatus<'a>(&'a Status);

impl Serialize for OutStatus<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let st = self.0;
        let mut m = s.serialize_map(None)?;
        non_empty_entry(&mut m, "message", &st.message)?;
        if st.code != StatusCode::Unset {
            m.serialize_entry("code", &(st.code as i32))?;
        }
        m.end()
    }
}

struct OutKeyValue<'a>(&'a KeyValue);

impl Serialize for OutKeyValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        non_empty_entry(&mut m, "key", &self.0.key)?;
        m.serialize_entry("value", &OutValue(&self.0.value))?;
        m.end()
    }
}

struct OutValue<'a>(&'a AnyValue);

impl Serialize for OutValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(usize::from(!matches!(self.0, AnyValue::Empty))))?;
        match self.0 {
            AnyValue::Empty => {}
            AnyValue::Str(v) => m.serialize_entry("stringValue", v)?,
            AnyValue::Bool(v) => m.serialize_entry("boolValue", v)?,
            AnyValue::Int(v) => m.serialize_entry("intValue", &v.to_string())?,
            AnyValue::Double(v) => m.serialize_entry("doubleValue", &OutDouble(*v))?,
            AnyValue::Bytes(v) => m.serialize_entry(
                "bytesValue",
                &base64::engine::general_purpose::STANDARD.encode(v),
            )?,
            AnyValue::Array(items) => m.serialize_entry("arrayValue", &OutValues(items))?,
            AnyValue::KvList(kvs) => m.serialize_entry("kvlistValue", &OutKvList(kvs))?,
        }
        m.end()
    }
}

struct OutValues<'a>(&'a [AnyValue]);

impl Serialize for OutValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if !self.0.is_empty() {
            m.serialize_entry("values", &Seq(self.0, OutValue))?;
        }
        m.end()
    }
}

struct OutKvList<'a>(&'a [KeyValue]);

impl Serialize for OutKvList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if !self.0.is_empty() {
            m.serialize_entry("values", &Seq(self.0, OutKeyValue))?;
        }
        m.end()
    }
}

/// A double as Go writes it: whole numbers without a fraction (`3`, not
/// `3.0`), the non-finite values as the strings of the JSON mapping.
struct OutDouble(f64);

impl Serialize for OutDouble {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        if d.is_nan() {
            s.serialize_str("NaN")
        } else if d.is_infinite() {
            s.serialize_str(if d > 0.0 { "Infinity" } else { "-Infinity" })
        } else if d.fract() == 0.0 && d.abs() < 9.0e15 && !(d == 0.0 && d.is_sign_negative()) {
            // Exactly representable; below 2^53 so readers that parse JSON
            // numbers as doubles get the same value back.
            s.serialize_i64(d as i64)
        } else {
            s.serialize_f64(d)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::otlp::tests::Rng;
    use serde_json::json;
    use spoor_model::keys;

    fn conformance() -> String {
        spoor_storage::conformance::conformance_dir()
            .unwrap_or_else(|e| panic!("{e}"))
            .display()
            .to_string()
    }

    fn span_json(extra: serde_json::Value) -> Vec<u8> {
        let mut span = json!({
            "traceId": "0102030405060708090a0b0c0d0e0f10",
            "spanId": "1112131415161718",
            "name": "op"
        });
        if let (Some(obj), Some(extra)) = (span.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        serde_json::to_vec(&json!({
            "resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": [span]}]}]
        }))
        .unwrap()
    }

    fn decode_one(extra: serde_json::Value) -> Result<Span, DecodeError> {
        let batch = decode(&span_json(extra))?;
        assert_eq!(batch.len(), 1);
        Ok(batch.spans[0].span.clone())
    }

    fn attr_value(v: serde_json::Value) -> Result<AnyValue, DecodeError> {
        let span = decode_one(json!({"attributes": [{"key": "k", "value": v}]}))?;
        Ok(span.attributes[0].value.clone())
    }

    #[test]
    fn encodes_jaeger_get_trace_snapshot_exactly() {
        let text =
            std::fs::read_to_string(format!("{}/api-v3/GetTrace.json", conformance())).unwrap();
        let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
        let span = Span {
            trace_id: TraceId::from_halves(0, 1),
            span_id: SpanId::from_u64(2),
            name: "foobar".into(),
            kind: SpanKind::Server,
            status: Status {
                code: StatusCode::Error,
                message: String::new(),
            },
            ..Default::default()
        };
        let rec = SpanRecord::new(Arc::default(), Arc::default(), span);
        let recs = [rec];
        assert_eq!(encode(&recs), expected["result"]);
        let bytes = encode_to_vec(&recs);
        let reparsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(reparsed, expected["result"]);
        // Keys come out in proto field order, as pdata writes them.
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[{"traceId":"00000000000000000000000000000001","spanId":"0000000000000002","name":"foobar","kind":2,"status":{"code":2}}]}]}]}"#
        );
    }

    #[test]
    fn decodes_every_jaeger_storage_fixture() {
        let mut files: Vec<_> = std::fs::read_dir(format!("{}/storage/traces", conformance()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        assert!(files.len() >= 30, "fixtures missing: {files:?}");
        let mut total = 0;
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            let batch = decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!batch.is_empty(), "{}", path.display());
            total += batch.len();
            // What we decode, we encode and decode back unchanged.
            assert_eq!(decode(&encode_to_vec(&batch.spans)).unwrap(), batch);
        }
        assert!(total >= 32, "{total}");

        let load = |name: &str| {
            decode(&std::fs::read(format!("{}/storage/traces/{name}", conformance())).unwrap())
                .unwrap()
        };

        let example = load("example_trace.json");
        let services: Vec<&str> = example.spans.iter().map(|r| r.service_name()).collect();
        assert_eq!(
            services,
            [
                "example-service-2",
                "example-service-3",
                "example-service-1",
                "example-service-1",
                "example-service-1"
            ]
        );
        let s = &example.spans[3].span;
        assert_eq!(s.trace_id, TraceId::from_halves(0, 0x11));
        assert_eq!(s.span_id, SpanId::from_u64(6));
        assert_eq!(s.name, "example-operation-3");
        assert_eq!(s.kind, SpanKind::Server);
        assert_eq!(example.spans[4].span.kind, SpanKind::Client);
        assert_eq!(s.start_time_unix_nano, 1_485_449_191_639_875_000);
        assert_eq!(s.duration_nanos(), 100_000);
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.events[0].time_unix_nano, 1_485_449_191_639_875_000);
        assert!(Arc::ptr_eq(
            &example.spans[2].resource,
            &example.spans[4].resource
        ));

        let links = load("link_attributes_trace.json");
        let span = &links.spans[0].span;
        assert_eq!(span.links.len(), 3);
        let l = &span.links[0];
        assert_eq!(l.trace_id, TraceId::from_halves(0, 0xff));
        assert_eq!(l.span_id, SpanId::from_u64(0xff));
        let want = vec![
            KeyValue::str("opentracing.ref_type", "child_of"),
            KeyValue::str("sameplacelinkattribute1", "sameplacevalue"),
            KeyValue::new("sameplacelinkattribute2", AnyValue::Int(123)),
            KeyValue::new("sameplacelinkattribute4", AnyValue::Bool(true)),
            KeyValue::new("sameplacelinkattribute3", AnyValue::Double(72.5)),
            KeyValue::new("linkblob", AnyValue::Bytes(vec![0, 0, 0x30, 0x39])),
        ];
        assert_eq!(l.attributes, want);
        assert_eq!(
            span.links[2].attributes,
            [KeyValue::str("opentracing.ref_type", "follows_from")]
        );

        let scoped = load("scope_attributes_trace.json");
        let scope = &scoped.spans[0].scope;
        assert_eq!(scope.name, "testing-library");
        assert_eq!(scope.version, "1.1.1");
        assert_eq!(scope.attributes.len(), 5);
        assert_eq!(
            scope.attributes[4],
            KeyValue::new("scopeblob", AnyValue::Bytes(vec![0, 0, 0x30, 0x39]))
        );
        assert_eq!(scoped.spans[0].service_name(), "query24-service");

        let nv = load("scope_name_version_trace.json");
        assert!(
            nv.spans
                .iter()
                .any(|r| !r.scope.name.is_empty() && !r.scope.version.is_empty())
        );

        let parented = files
            .iter()
            .map(|p| decode(&std::fs::read(p).unwrap()).unwrap())
            .flat_map(|b| b.spans)
            .filter(|r| !r.span.is_root())
            .count();
        assert!(parented >= 1);
    }

    fn rich_batch() -> SpanBatch {
        let resource = Arc::new(Resource {
            attributes: vec![
                KeyValue::str("service.name", "svc"),
                KeyValue::new("host.cpus", AnyValue::Int(-8)),
            ],
            dropped_attributes_count: 2,
            schema_url: "https://opentelemetry.io/schemas/1.24.0".into(),
        });
        let scope = Arc::new(Scope {
            name: "lib".into(),
            version: "1.0".into(),
            attributes: vec![KeyValue::new("x", AnyValue::Bool(false))],
            dropped_attributes_count: 1,
            schema_url: "scope-schema".into(),
        });
        let span = Span {
            trace_id: TraceId::from_halves(0xdead_beef, 0xfeed),
            span_id: SpanId::from_u64(u64::MAX),
            parent_span_id: SpanId::from_u64(7),
            trace_state: "k=v".into(),
            flags: 0x301,
            name: "GET /x \"quoted\" ü".into(),
            kind: SpanKind::Consumer,
            start_time_unix_nano: u64::MAX - 1,
            end_time_unix_nano: u64::MAX,
            attributes: vec![
                KeyValue::new("empty", AnyValue::Empty),
                KeyValue::str("", ""),
                KeyValue::new("i", AnyValue::Int(i64::MIN)),
                KeyValue::new("d", AnyValue::Double(0.1)),
                KeyValue::new("whole", AnyValue::Double(3.0)),
                KeyValue::new("negzero", AnyValue::Double(-0.0)),
                KeyValue::new("big", AnyValue::Double(1e300)),
                KeyValue::new("inf", AnyValue::Double(f64::INFINITY)),
                KeyValue::new("ninf", AnyValue::Double(f64::NEG_INFINITY)),
                KeyValue::new("b", AnyValue::Bytes(vec![0, 255, 1])),
                KeyValue::new("nob", AnyValue::Bytes(vec![])),
                KeyValue::new(
                    "arr",
                    AnyValue::Array(vec![
                        AnyValue::Str("a".into()),
                        AnyValue::Array(vec![]),
                        AnyValue::KvList(vec![KeyValue::new("n", AnyValue::Empty)]),
                    ]),
                ),
                KeyValue::new("map", AnyValue::KvList(vec![])),
            ],
            dropped_attributes_count: 3,
            events: vec![
                Event {
                    time_unix_nano: 5,
                    name: "ev".into(),
                    attributes: vec![KeyValue::str("e", "1")],
                    dropped_attributes_count: 4,
                },
                Event::default(),
            ],
            dropped_events_count: 5,
            links: vec![
                Link {
                    trace_id: TraceId::from_halves(1, 2),
                    span_id: SpanId::from_u64(3),
                    trace_state: "ts".into(),
                    attributes: vec![KeyValue::str("l", "1")],
                    dropped_attributes_count: 6,
                    flags: 1,
                },
                Link::default(),
            ],
            dropped_links_count: 7,
            status: Status {
                code: StatusCode::Ok,
                message: "fine".into(),
            },
        };
        let mut second = span.clone();
        second.span_id = SpanId::from_u64(8);
        second.parent_span_id = SpanId::ZERO;
        let other_resource = Arc::new(Resource::default());
        SpanBatch {
            spans: vec![
                SpanRecord::new(resource.clone(), scope.clone(), span),
                SpanRecord::new(resource, scope, second),
                SpanRecord::new(
                    other_resource,
                    Arc::default(),
                    Span {
                        trace_id: TraceId::from_halves(0, 9),
                        span_id: SpanId::from_u64(9),
                        ..Default::default()
                    },
                ),
            ],
        }
    }

    #[test]
    fn rich_batch_round_trips() {
        let batch = rich_batch();
        let bytes = encode_to_vec(&batch.spans);
        let back = decode(&bytes).unwrap();
        assert_eq!(back, batch);
        let v = encode(&batch.spans);
        assert_eq!(decode(&serde_json::to_vec(&v).unwrap()).unwrap(), batch);
        // Resource and scope stay shared after the round trip.
        assert!(Arc::ptr_eq(
            &back.spans[0].resource,
            &back.spans[1].resource
        ));
        assert!(Arc::ptr_eq(&back.spans[0].scope, &back.spans[1].scope));
    }

    #[test]
    fn random_batches_round_trip() {
        let mut rng = Rng(1234);
        for _ in 0..300 {
            let batch = rng.batch();
            let back = decode(&encode_to_vec(&batch.spans)).unwrap();
            assert_eq!(back, batch);
        }
    }

    #[test]
    fn encoding_follows_the_json_mapping() {
        let batch = rich_batch();
        let v = encode(&batch.spans);
        let rs = &v["resourceSpans"][0];
        assert_eq!(rs["schemaUrl"], "https://opentelemetry.io/schemas/1.24.0");
        assert_eq!(rs["resource"]["droppedAttributesCount"], 2);
        assert_eq!(
            rs["resource"]["attributes"][1]["value"],
            json!({"intValue": "-8"})
        );
        let ss = &rs["scopeSpans"][0];
        assert_eq!(
            ss["scope"],
            json!({
                "name": "lib", "version": "1.0",
                "attributes": [{"key": "x", "value": {"boolValue": false}}],
                "droppedAttributesCount": 1
            })
        );
        assert_eq!(ss["schemaUrl"], "scope-schema");
        let sp = &ss["spans"][0];
        assert_eq!(sp["traceId"], "00000000deadbeef000000000000feed");
        assert_eq!(sp["spanId"], "ffffffffffffffff");
        assert_eq!(sp["parentSpanId"], "0000000000000007");
        assert_eq!(sp["flags"], 0x301);
        assert_eq!(sp["kind"], 5);
        assert_eq!(sp["startTimeUnixNano"], (u64::MAX - 1).to_string());
        assert_eq!(sp["status"], json!({"message": "fine", "code": 1}));
        let attrs = &sp["attributes"];
        assert_eq!(attrs[0], json!({"key": "empty", "value": {}}));
        assert_eq!(attrs[1], json!({"value": {"stringValue": ""}}));
        assert_eq!(attrs[2]["value"], json!({"intValue": i64::MIN.to_string()}));
        assert_eq!(attrs[3]["value"], json!({"doubleValue": 0.1}));
        assert_eq!(attrs[4]["value"], json!({"doubleValue": 3}));
        assert_eq!(attrs[7]["value"], json!({"doubleValue": "Infinity"}));
        assert_eq!(attrs[8]["value"], json!({"doubleValue": "-Infinity"}));
        assert_eq!(attrs[9]["value"], json!({"bytesValue": "AP8B"}));
        assert_eq!(attrs[10]["value"], json!({"bytesValue": ""}));
        assert_eq!(
            attrs[11]["value"],
            json!({"arrayValue": {"values": [
                {"stringValue": "a"},
                {"arrayValue": {}},
                {"kvlistValue": {"values": [{"key": "n", "value": {}}]}}
            ]}})
        );
        assert_eq!(attrs[12]["value"], json!({"kvlistValue": {}}));
        assert_eq!(sp["events"][1], json!({}));
        assert_eq!(sp["links"][1], json!({}));
        assert_eq!(sp["links"][0]["flags"], 1);
        assert_eq!(sp["droppedLinksCount"], 7);
        // Span with every field at its default.
        let bare = &v["resourceSpans"][1];
        assert_eq!(
            bare,
            &json!({"resource": {}, "scopeSpans": [{"scope": {}, "spans": [{
                "traceId": "00000000000000000000000000000009",
                "spanId": "0000000000000009",
                "status": {}
            }]}]})
        );
        assert_eq!(encode(&[]), json!({}));
        assert_eq!(encode_to_vec(&[]), b"{}");
    }

    #[test]
    fn nan_is_written_as_a_string_and_read_back() {
        let mut batch = rich_batch();
        batch.spans[0].span.attributes = vec![KeyValue::new("nan", AnyValue::Double(f64::NAN))];
        let v = encode(&batch.spans);
        assert_eq!(
            v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][0]["value"],
            json!({"doubleValue": "NaN"})
        );
        let back = decode(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert!(
            matches!(back.spans[0].span.attributes[0].value, AnyValue::Double(d) if d.is_nan())
        );
    }

    #[test]
    fn warnings_are_encoded_as_attribute() {
        let mut batch = rich_batch();
        batch.spans[2].warnings = vec!["clock skew adjusted".into()];
        let v = encode(&batch.spans);
        assert_eq!(
            v["resourceSpans"][1]["scopeSpans"][0]["spans"][0]["attributes"],
            json!([{"key": keys::JAEGER_WARNINGS, "value": {"arrayValue": {"values": [
                {"stringValue": "clock skew adjusted"}
            ]}}}])
        );
    }

    #[test]
    fn accepts_snake_case_names_enum_names_and_number_forms() {
        let doc = r#"{
            "resource_spans": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"string_value": "snake"}}],
                             "dropped_attributes_count": "3"},
                "schema_url": "rs",
                "scope_spans": [{
                    "scope": {"name": "n", "version": "v", "dropped_attributes_count": 1},
                    "schema_url": "ss",
                    "spans": [{
                        "trace_id": "0102030405060708090A0B0C0D0E0F10",
                        "span_id": "A1A2A3A4A5A6A7A8",
                        "parent_span_id": "",
                        "trace_state": "t",
                        "name": "x",
                        "kind": "SPAN_KIND_SERVER",
                        "start_time_unix_nano": 1700000000000000000,
                        "end_time_unix_nano": "1700000000000000001",
                        "dropped_attributes_count": "4",
                        "dropped_events_count": 5,
                        "dropped_links_count": "6",
                        "flags": "256",
                        "attributes": [
                            {"key": "i", "value": {"int_value": 42}},
                            {"key": "i2", "value": {"intValue": "-42"}},
                            {"key": "d", "value": {"double_value": "NaN"}},
                            {"key": "d2", "value": {"doubleValue": "-Infinity"}},
                            {"key": "d3", "value": {"doubleValue": 7}},
                            {"key": "d4", "value": {"doubleValue": "2.5e3"}},
                            {"key": "b", "value": {"bytes_value": "AAAwOQ"}},
                            {"key": "b2", "value": {"bytesValue": "AAAwOQ=="}},
                            {"key": "a", "value": {"array_value": {"values": [{"bool_value": true}]}}},
                            {"key": "m", "value": {"kvlist_value": {"values": [{"key": "z", "value": {"intValue": 1}}]}}}
                        ],
                        "events": [{"time_unix_nano": "9", "name": "e", "dropped_attributes_count": 2}],
                        "links": [{"trace_id": "0102030405060708090a0b0c0d0e0f10", "span_id": "0102030405060708",
                                   "trace_state": "lt", "flags": 1}],
                        "status": {"code": "STATUS_CODE_ERROR", "message": "bad"}
                    }]
                }]
            }]
        }"#;
        let batch = decode(doc.as_bytes()).unwrap();
        let rec = &batch.spans[0];
        assert_eq!(rec.service_name(), "snake");
        assert_eq!(rec.resource.dropped_attributes_count, 3);
        assert_eq!(rec.resource.schema_url, "rs");
        assert_eq!(rec.scope.schema_url, "ss");
        assert_eq!(rec.scope.dropped_attributes_count, 1);
        let s = &rec.span;
        assert_eq!(s.trace_id.to_hex(), "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(s.span_id.to_hex(), "a1a2a3a4a5a6a7a8");
        assert!(s.is_root());
        assert_eq!(s.kind, SpanKind::Server);
        assert_eq!(s.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(s.end_time_unix_nano, 1_700_000_000_000_000_001);
        assert_eq!(
            (
                s.dropped_attributes_count,
                s.dropped_events_count,
                s.dropped_links_count,
                s.flags
            ),
            (4, 5, 6, 256)
        );
        let a = &s.attributes;
        assert_eq!(a[0].value, AnyValue::Int(42));
        assert_eq!(a[1].value, AnyValue::Int(-42));
        assert!(matches!(a[2].value, AnyValue::Double(d) if d.is_nan()));
        assert_eq!(a[3].value, AnyValue::Double(f64::NEG_INFINITY));
        assert_eq!(a[4].value, AnyValue::Double(7.0));
        assert_eq!(a[5].value, AnyValue::Double(2500.0));
        assert_eq!(a[6].value, AnyValue::Bytes(vec![0, 0, 0x30, 0x39]));
        assert_eq!(a[7].value, AnyValue::Bytes(vec![0, 0, 0x30, 0x39]));
        assert_eq!(a[8].value, AnyValue::Array(vec![AnyValue::Bool(true)]));
        assert_eq!(
            a[9].value,
            AnyValue::KvList(vec![KeyValue::new("z", AnyValue::Int(1))])
        );
        assert_eq!(s.events[0].time_unix_nano, 9);
        assert_eq!(s.events[0].dropped_attributes_count, 2);
        assert_eq!(s.links[0].trace_state, "lt");
        assert_eq!(s.links[0].flags, 1);
        assert_eq!(s.status.code, StatusCode::Error);
        assert_eq!(s.status.message, "bad");
    }

    #[test]
    fn enum_forms() {
        assert_eq!(
            decode_one(json!({"kind": 3})).unwrap().kind,
            SpanKind::Client
        );
        assert_eq!(
            decode_one(json!({"kind": "span_kind_producer"}))
                .unwrap()
                .kind,
            SpanKind::Producer
        );
        assert_eq!(
            decode_one(json!({"kind": "4"})).unwrap().kind,
            SpanKind::Producer
        );
        assert_eq!(
            decode_one(json!({"kind": 99})).unwrap().kind,
            SpanKind::Unspecified
        );
        assert_eq!(
            decode_one(json!({"status": {"code": 7}}))
                .unwrap()
                .status
                .code,
            StatusCode::Unset
        );
        assert_eq!(
            decode_one(json!({"status": {"code": "STATUS_CODE_OK"}}))
                .unwrap()
                .status
                .code,
            StatusCode::Ok
        );
        assert!(matches!(
            decode_one(json!({"kind": "SERVERISH"})),
            Err(DecodeError::Json(_))
        ));
        assert!(matches!(
            decode_one(json!({"kind": 1e20})),
            Err(DecodeError::Json(_))
        ));
    }

    #[test]
    fn nulls_are_absent_and_unknown_fields_ignored() {
        let s = decode_one(json!({
            "parentSpanId": null, "traceState": null, "kind": null, "flags": null,
            "startTimeUnixNano": null, "attributes": null, "events": null, "links": null,
            "status": null, "droppedAttributesCount": null,
            "somethingNew": {"deep": [1, 2, {"x": null}]}, "name": "op"
        }))
        .unwrap();
        assert!(s.is_root());
        assert_eq!(s.kind, SpanKind::Unspecified);
        assert_eq!(s.start_time_unix_nano, 0);
        assert!(s.attributes.is_empty() && s.events.is_empty() && s.links.is_empty());
        assert_eq!(attr_value(json!(null)).unwrap(), AnyValue::Empty);
        assert_eq!(
            attr_value(json!({"stringValue": null})).unwrap(),
            AnyValue::Empty
        );
        assert_eq!(
            attr_value(json!({"intValue": null, "boolValue": true})).unwrap(),
            AnyValue::Bool(true)
        );
        assert_eq!(attr_value(json!({"future": 1})).unwrap(), AnyValue::Empty);
        // Last value field wins, as in the collector (json! would sort the keys).
        let text = String::from_utf8(span_json(json!({"attributes": [{"key": "k", "value": 0}]})))
            .unwrap()
            .replace(
                r#""value":0"#,
                r#""value":{"stringValue":"a","intValue":"5"}"#,
            );
        let span = &decode(text.as_bytes()).unwrap().spans[0].span;
        assert_eq!(span.attributes[0].value, AnyValue::Int(5));
        let batch = decode(br#"{"resourceSpans":[{"resource":null,"scopeSpans":[{"scope":null,"spans":null}]}],"x":1}"#).unwrap();
        assert!(batch.is_empty());
        assert!(decode(b"{}").unwrap().is_empty());
        assert!(
            decode(b"\xEF\xBB\xBF{\"resourceSpans\":[]}")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn legacy_instrumentation_library_spans_are_read() {
        let doc = json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "old"}}]},
            "instrumentationLibrarySpans": [{
                "instrumentationLibrary": {"name": "lib", "version": "0.1"},
                "spans": [{"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708"}]
            }]
        }]});
        let batch = decode(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.spans[0].service_name(), "old");
        assert_eq!(batch.spans[0].scope.name, "lib");
        assert_eq!(batch.spans[0].scope.version, "0.1");
    }

    #[test]
    fn id_errors_name_the_field() {
        let cases = [
            (json!({"traceId": "0102"}), "traceId"),
            (json!({"traceId": ""}), "traceId"),
            (json!({"traceId": null}), "traceId"),
            (
                json!({"traceId": "0102030405060708090a0b0c0d0e0fzz"}),
                "traceId",
            ),
            (
                json!({"traceId": "00000000000000000000000000000000"}),
                "traceId",
            ),
            (json!({"spanId": "01020304050607"}), "spanId"),
            (json!({"spanId": "0000000000000000"}), "spanId"),
            (json!({"spanId": "010203040506070g"}), "spanId"),
            (json!({"parentSpanId": "01"}), "parentSpanId"),
            (json!({"parentSpanId": "xx02030405060708"}), "parentSpanId"),
            (json!({"links": [{"traceId": "01"}]}), "links.traceId"),
            (
                json!({"links": [{"spanId": "0102030405060708090a"}]}),
                "links.spanId",
            ),
            (
                json!({"links": [{"spanId": "zz02030405060708"}]}),
                "links.spanId",
            ),
        ];
        for (extra, field) in cases {
            let mut report = DecodeReport::new();
            let batch = decode_reported(&span_json(extra.clone()), &mut report).unwrap();
            let message = &report.messages()[0];
            assert!(
                message.contains("resourceSpans[0].scopeSpans[0].spans[0]"),
                "{message}"
            );
            assert!(
                message.starts_with(&format!("invalid {field}:")),
                "{extra}: {message}"
            );
            match field {
                "traceId" => {
                    assert!(batch.is_empty(), "{extra}");
                    assert_eq!(
                        report.rejected_by_reason(),
                        &[(crate::reason::INVALID_TRACE_ID, 1)]
                    );
                }
                "spanId" => {
                    assert!(batch.is_empty(), "{extra}");
                    assert_eq!(
                        report.rejected_by_reason(),
                        &[(crate::reason::INVALID_SPAN_ID, 1)]
                    );
                }
                "parentSpanId" => {
                    assert!(batch.spans[0].span.is_root(), "{extra}");
                    assert_eq!(report.dropped_by_field(), &[("parent_span_id", 1)]);
                }
                _ => {
                    assert!(batch.spans[0].span.links.is_empty(), "{extra}");
                    assert_eq!(report.dropped_by_field(), &[("link", 1)]);
                }
            }
        }
        // Links may have absent or zero IDs.
        let s = decode_one(json!({"links": [
            {}, {"traceId": "", "spanId": ""},
            {"traceId": "00000000000000000000000000000000", "spanId": "0000000000000000"}
        ]}))
        .unwrap();
        assert_eq!(s.links.len(), 3);
        assert!(
            s.links
                .iter()
                .all(|l| l.trace_id.is_zero() && l.span_id.is_zero())
        );
        // A zero parent is a root.
        assert!(
            decode_one(json!({"parentSpanId": "0000000000000000"}))
                .unwrap()
                .is_root()
        );
    }

    #[test]
    fn malformed_values_are_json_errors() {
        // A scalar value of the wrong form is kept as an empty value and
        // counted, not a reason to lose the document (ADR 0015).
        let dropped = [
            json!({"bytesValue": "not base64!"}),
            json!({"bytesValue": 12}),
            json!({"intValue": "12x"}),
            json!({"intValue": "9223372036854775808"}),
            json!({"intValue": 1.5}),
            json!({"intValue": true}),
            json!({"doubleValue": "fast"}),
            json!({"doubleValue": ""}),
            json!({"boolValue": "true"}),
            json!({"stringValue": 5}),
            json!({"stringValue": "ok", "intValue": "x"}),
        ];
        for v in dropped {
            let doc = span_json(json!({"attributes": [
                {"key": "bad", "value": v.clone()},
                {"key": "good", "value": {"intValue": "7"}}
            ]}));
            let mut report = DecodeReport::new();
            let batch = decode_reported(&doc, &mut report).unwrap();
            let attrs = &batch.spans[0].span.attributes;
            let want = if v.get("stringValue") == Some(&json!("ok")) {
                AnyValue::Str("ok".into())
            } else {
                AnyValue::Empty
            };
            assert_eq!(attrs[0].value, want, "{v}");
            assert_eq!(attrs[1].value, AnyValue::Int(7), "{v}");
            assert_eq!(report.dropped_by_field(), &[("attribute_value", 1)], "{v}");
        }
        // The count is per decode, not per thread.
        let mut report = DecodeReport::new();
        decode_reported(&span_json(json!({})), &mut report).unwrap();
        assert!(report.is_empty());
        let bad = [
            json!({"arrayValue": [1]}),
            json!({"kvlistValue": {"values": {}}}),
            json!("just a string"),
        ];
        for v in bad {
            let err = attr_value(v.clone()).unwrap_err();
            assert!(matches!(err, DecodeError::Json(_)), "{v}: {err:?}");
        }
        let bad_spans = [
            json!({"traceId": 5}),
            json!({"startTimeUnixNano": "-1"}),
            json!({"startTimeUnixNano": -1}),
            json!({"flags": 4_294_967_296u64}),
            json!({"droppedEventsCount": "x"}),
            json!({"name": []}),
            json!({"events": {}}),
            json!({"attributes": [5]}),
            json!({"status": "ok"}),
        ];
        for v in bad_spans {
            let err = decode_one(v.clone()).unwrap_err();
            assert!(matches!(err, DecodeError::Json(_)), "{v}: {err:?}");
        }
    }

    #[test]
    fn malformed_documents_are_json_errors() {
        let full = span_json(json!({}));
        for cut in [1, full.len() / 3, full.len() / 2, full.len() - 1] {
            let err = decode(&full[..cut]).unwrap_err();
            assert!(matches!(err, DecodeError::Json(_)), "cut {cut}: {err:?}");
        }
        for doc in [
            &b""[..],
            b"null",
            b"[]",
            b"{\"resourceSpans\": {}}",
            b"{\"resourceSpans\": [5]}",
            b"{} trailing",
            b"{\"resourceSpans\": [\xff]}",
        ] {
            assert!(matches!(decode(doc), Err(DecodeError::Json(_))), "{doc:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        // 10,000 nested AnyValue arrays.
        let depth = 10_000;
        let mut v = String::new();
        for _ in 0..depth {
            v.push_str(r#"{"arrayValue":{"values":["#);
        }
        v.push_str(r#"{"intValue":"1"}"#);
        for _ in 0..depth {
            v.push_str("]}}");
        }
        let doc = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","attributes":[{{"key":"k","value":{v}}}]}}]}}]}}]}}"#
        );
        assert!(matches!(decode(doc.as_bytes()), Err(DecodeError::Json(_))));
        // 10,000 nested raw JSON arrays, at the top and inside an unknown field.
        let raw = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(matches!(decode(raw.as_bytes()), Err(DecodeError::Json(_))));
        // Unknown fields are skipped without recursion, however deep.
        let deeper = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        let inside = format!(r#"{{"unknown":{deeper}}}"#);
        assert!(decode(inside.as_bytes()).unwrap().is_empty());
        let unclosed = format!(r#"{{"unknown":{}"#, "[".repeat(1_000_000));
        assert!(matches!(
            decode(unclosed.as_bytes()),
            Err(DecodeError::Json(_))
        ));
        // Moderate nesting is fine.
        let mut ok = String::from(r#"{"intValue":"1"}"#);
        for _ in 0..30 {
            ok = format!(r#"{{"arrayValue":{{"values":[{ok}]}}}}"#);
        }
        let doc = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","attributes":[{{"key":"k","value":{ok}}}]}}]}}]}}]}}"#
        );
        assert_eq!(decode(doc.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn random_mutations_never_panic() {
        let mut rng = Rng(5);
        let valid = encode_to_vec(&rich_batch().spans);
        for _ in 0..3000 {
            let mut bytes = valid.clone();
            for _ in 0..rng.below(4) + 1 {
                let i = rng.below(bytes.len() as u64) as usize;
                const ALPHABET: &[u8] = b"{}[]\":,0aZ\\ \xff";
                bytes[i] = ALPHABET[rng.below(ALPHABET.len() as u64) as usize];
            }
            let cut = rng.below(bytes.len() as u64 + 1) as usize;
            let _ = decode(&bytes[..cut]);
        }
    }
}
