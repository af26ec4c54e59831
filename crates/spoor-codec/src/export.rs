//! Trace files and streams in every export format: Jaeger UI JSON (one
//! trace per line or one `/api/traces`-shaped document), OTLP/JSON (one
//! document or one per line), OTLP protobuf and CSV, written one trace at a
//! time by a [`TraceEncoder`]; plus the plain-JSON renderings of attributes,
//! events and links that the CSV and Parquet writers share.
//!
//! Used by `GET /api/export` (spoor-server) and by `spoor export`
//! (spoor-tools), so a file and a download hold the same bytes.

use base64::Engine as _;
use spoor_model::{AnyValue, KeyValue, SpanKind, SpanRecord, StatusCode as SpanStatus, Trace};

use crate::jaeger::trace_to_ui;
use crate::{gojson, otlp, otlp_json};

/// The encodings of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    /// One Jaeger UI trace (as in `/api/traces`' `data`) per line.
    JaegerJsonl,
    /// One document shaped like the `/api/traces` response.
    JaegerJson,
    /// One OTLP/JSON `TracesData` document.
    OtlpJson,
    /// One OTLP/JSON `TracesData` per trace, one per line.
    OtlpJsonl,
    /// One OTLP protobuf `TracesData` message (the concatenation of one
    /// message per trace, which protobuf defines as their merge).
    OtlpProto,
    /// One row per span (see [`CSV_HEADER`]).
    Csv,
}

impl ExportFormat {
    /// Every format with its name.
    pub const ALL: [(ExportFormat, &'static str); 6] = [
        (ExportFormat::JaegerJsonl, "jaeger-jsonl"),
        (ExportFormat::JaegerJson, "jaeger-json"),
        (ExportFormat::OtlpJson, "otlp-json"),
        (ExportFormat::OtlpJsonl, "otlp-jsonl"),
        (ExportFormat::OtlpProto, "otlp-proto"),
        (ExportFormat::Csv, "csv"),
    ];

    /// The format named `name`.
    pub fn parse(name: &str) -> Option<ExportFormat> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    /// The format's name, as `format=` takes it.
    pub fn name(&self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| f == self)
            .map_or("", |(_, n)| n)
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(&self) -> &'static str {
        match self {
            ExportFormat::JaegerJson | ExportFormat::OtlpJson => "application/json",
            ExportFormat::JaegerJsonl | ExportFormat::OtlpJsonl => "application/x-ndjson",
            ExportFormat::OtlpProto => "application/x-protobuf",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Writes traces in one [`ExportFormat`]: [`begin`](Self::begin), then
/// [`trace`](Self::trace) for each trace, then [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct TraceEncoder {
    format: ExportFormat,
    first: bool,
}

/// The CSV header row.
pub const CSV_HEADER: &str = "trace_id,span_id,parent_span_id,service,operation,start,end,duration_nano,status,kind,attributes\n";

const OTLP_JSON_PREFIX: &[u8] = b"{\"resourceSpans\":[";
const OTLP_JSON_SUFFIX: &[u8] = b"]}";

impl TraceEncoder {
    pub fn new(format: ExportFormat) -> Self {
        TraceEncoder {
            format,
            first: true,
        }
    }

    /// The bytes before the first trace.
    pub fn begin(&self, out: &mut Vec<u8>) {
        match self.format {
            ExportFormat::JaegerJson => out.extend_from_slice(b"{\"data\":["),
            ExportFormat::OtlpJson => out.extend_from_slice(OTLP_JSON_PREFIX),
            ExportFormat::Csv => out.extend_from_slice(CSV_HEADER.as_bytes()),
            _ => {}
        }
    }

    /// Appends one trace.
    pub fn trace(&mut self, trace: &Trace, out: &mut Vec<u8>) {
        let first = std::mem::replace(&mut self.first, false);
        match self.format {
            ExportFormat::JaegerJsonl => {
                gojson::to_writer(&mut *out, &trace_to_ui(trace), false).unwrap_or(());
                out.push(b'\n');
            }
            ExportFormat::JaegerJson => {
                if !first {
                    out.push(b',');
                }
                gojson::to_writer(&mut *out, &trace_to_ui(trace), false).unwrap_or(());
            }
            ExportFormat::OtlpJson => {
                let doc = otlp_json::encode_to_vec(&trace.spans);
                // `{"resourceSpans":[A,B]}` contributes `A,B`.
                if let Some(inner) = doc
                    .strip_prefix(OTLP_JSON_PREFIX)
                    .and_then(|d| d.strip_suffix(OTLP_JSON_SUFFIX))
                    && !inner.is_empty()
                {
                    if !first {
                        out.push(b',');
                    }
                    out.extend_from_slice(inner);
                } else if first {
                    self.first = true;
                }
            }
            ExportFormat::OtlpJsonl => {
                out.extend_from_slice(&otlp_json::encode_to_vec(&trace.spans));
                out.push(b'\n');
            }
            ExportFormat::OtlpProto => out.extend_from_slice(&otlp::encode_request(&trace.spans)),
            ExportFormat::Csv => {
                for record in &trace.spans {
                    csv_row(record, out);
                }
            }
        }
    }

    /// The bytes after the last trace.
    pub fn finish(&self, out: &mut Vec<u8>) {
        match self.format {
            ExportFormat::JaegerJson => {
                out.extend_from_slice(b"],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}\n")
            }
            ExportFormat::OtlpJson => {
                out.extend_from_slice(OTLP_JSON_SUFFIX);
                out.push(b'\n');
            }
            _ => {}
        }
    }
}

/// `UNSET`, `OK` or `ERROR`.
pub fn status_name(code: SpanStatus) -> &'static str {
    match code {
        SpanStatus::Ok => "OK",
        SpanStatus::Error => "ERROR",
        _ => "UNSET",
    }
}

/// `UNSPECIFIED`, `INTERNAL`, `SERVER`, `CLIENT`, `PRODUCER` or `CONSUMER`.
pub fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "INTERNAL",
        SpanKind::Server => "SERVER",
        SpanKind::Client => "CLIENT",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
        _ => "UNSPECIFIED",
    }
}

/// An attribute value as plain JSON: strings, booleans and numbers as they
/// are, bytes as standard base64, arrays as arrays, maps as objects, an empty
/// value as `null`, and non-finite doubles as the strings `NaN`, `Infinity`,
/// `-Infinity`.
pub fn value_json(value: &AnyValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        AnyValue::Empty => Value::Null,
        AnyValue::Str(s) => Value::String(s.clone()),
        AnyValue::Bool(b) => Value::Bool(*b),
        AnyValue::Int(i) => Value::from(*i),
        AnyValue::Double(d) => serde_json::Number::from_f64(*d).map_or_else(
            || {
                Value::String(
                    if d.is_nan() {
                        "NaN"
                    } else if *d > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    }
                    .into(),
                )
            },
            Value::Number,
        ),
        AnyValue::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        AnyValue::Array(items) => Value::Array(items.iter().map(value_json).collect()),
        AnyValue::KvList(kvs) => Value::Object(attributes_map(kvs)),
    }
}

fn attributes_map(attrs: &[KeyValue]) -> serde_json::Map<String, serde_json::Value> {
    attrs
        .iter()
        .map(|kv| (kv.key.clone(), value_json(&kv.value)))
        .collect()
}

/// Attributes as one JSON object (`{"key": value, …}`, keys sorted; a
/// repeated key keeps its last value).
pub fn attributes_json(attrs: &[KeyValue]) -> String {
    serde_json::Value::Object(attributes_map(attrs)).to_string()
}

/// Events as a JSON array of `{"time_unix_nano", "name", "attributes"}`.
pub fn events_json(record: &SpanRecord) -> String {
    let events: Vec<serde_json::Value> = record
        .span
        .events
        .iter()
        .map(|e| {
            serde_json::json!({
                "time_unix_nano": e.time_unix_nano,
                "name": e.name,
                "attributes": attributes_map(&e.attributes),
            })
        })
        .collect();
    serde_json::Value::Array(events).to_string()
}

/// Links as a JSON array of `{"trace_id", "span_id", "trace_state", "attributes"}`.
pub fn links_json(record: &SpanRecord) -> String {
    let links: Vec<serde_json::Value> = record
        .span
        .links
        .iter()
        .map(|l| {
            serde_json::json!({
                "trace_id": l.trace_id.to_hex(),
                "span_id": l.span_id.to_hex(),
                "trace_state": l.trace_state,
                "attributes": attributes_map(&l.attributes),
            })
        })
        .collect();
    serde_json::Value::Array(links).to_string()
}

/// Appends one CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(out: &mut Vec<u8>, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

fn csv_row(record: &SpanRecord, out: &mut Vec<u8>) {
    let span = &record.span;
    let parent = if span.parent_span_id.is_zero() {
        String::new()
    } else {
        span.parent_span_id.to_hex()
    };
    let fields = [
        span.trace_id.to_hex(),
        span.span_id.to_hex(),
        parent,
        record.service_name().to_string(),
        span.name.clone(),
        spoor_model::format_rfc3339(span.start_time_unix_nano),
        spoor_model::format_rfc3339(span.end_time_unix_nano),
        span.duration_nanos().to_string(),
        status_name(span.status.code).to_string(),
        kind_name(span.kind).to_string(),
        attributes_json(&span.attributes),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, f);
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        let mut out = Vec::new();
        csv_field(&mut out, "plain");
        out.push(b'|');
        csv_field(&mut out, "a,b \"c\"\nd");
        assert_eq!(out, b"plain|\"a,b \"\"c\"\"\nd\"");
    }

    #[test]
    fn values_become_plain_json() {
        let attrs = vec![
            KeyValue::new("i", AnyValue::Int(3)),
            KeyValue::new("d", AnyValue::Double(f64::NAN)),
            KeyValue::new("b", AnyValue::Bytes(vec![1, 2])),
            KeyValue::new("a", AnyValue::Array(vec![AnyValue::Bool(true)])),
        ];
        assert_eq!(
            attributes_json(&attrs),
            r#"{"a":[true],"b":"AQI=","d":"NaN","i":3}"#
        );
    }

    #[test]
    fn formats_round_trip_their_names() {
        for (format, name) in ExportFormat::ALL {
            assert_eq!(ExportFormat::parse(name), Some(format));
            assert_eq!(format.name(), name);
        }
        assert_eq!(ExportFormat::parse("parquet"), None);
    }
}
