//! Jaeger UI JSON (the traces of `/api/traces`' `data`, the UI's download,
//! `jq '.data[] | {traceID, spans}'` output) to the model.
//!
//! A span's process is, in order: `processes[span.processID]` of its trace,
//! the span's own embedded `process` object (counted as recovered when the
//! trace has no `processes` entry for it), or a process named after
//! `--unknown-service` (counted as spans without a service).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use base64::Engine as _;
use serde::Deserialize;
use spoor_codec::jaeger::{
    JaegerBatch, JaegerKeyValue, JaegerLog, JaegerProcess, JaegerRef, JaegerSpan, JaegerValue,
    JaegerWire, RefType, batch_to_model_as,
};
use spoor_model::{SpanBatch, SpanId, TraceId};

#[derive(Deserialize)]
struct InTrace {
    #[serde(default)]
    spans: Option<Vec<InSpan>>,
    #[serde(default)]
    processes: Option<HashMap<String, InProcess>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InSpan {
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    #[serde(default)]
    flags: Option<u32>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    references: Option<Vec<InRef>>,
    #[serde(default)]
    start_time: Option<u64>,
    #[serde(default)]
    duration: Option<i64>,
    #[serde(default)]
    tags: Option<Vec<InKeyValue>>,
    #[serde(default)]
    logs: Option<Vec<InLog>>,
    #[serde(default, rename = "processID")]
    process_id: Option<String>,
    #[serde(default)]
    process: Option<InProcess>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct InRef {
    #[serde(default, rename = "refType")]
    ref_type: Option<String>,
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
}

#[derive(Deserialize)]
struct InLog {
    #[serde(default)]
    timestamp: Option<u64>,
    #[serde(default)]
    fields: Option<Vec<InKeyValue>>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct InProcess {
    #[serde(default)]
    service_name: Option<String>,
    #[serde(default)]
    tags: Option<Vec<InKeyValue>>,
}

#[derive(Deserialize, Clone)]
struct InKeyValue {
    key: String,
    #[serde(default, rename = "type")]
    vtype: Option<String>,
    #[serde(default)]
    value: serde_json::Value,
}

/// What converting one trace found.
#[derive(Debug, Default, Clone, Copy)]
pub struct JaegerStats {
    /// Spans whose service came from their embedded `process`.
    pub recovered: u64,
    /// Spans that had no process at all.
    pub without_service: u64,
}

fn micros_to_nanos(us: u64) -> u64 {
    us.saturating_mul(1_000)
}

fn value(kv: &InKeyValue) -> Result<JaegerValue> {
    use serde_json::Value;
    let v = &kv.value;
    let vtype = kv.vtype.as_deref().map(str::to_ascii_lowercase);
    let bad = || anyhow!("tag {:?}: value {v} does not fit its type", kv.key);
    Ok(match vtype.as_deref() {
        Some("string") | None if v.is_string() => JaegerValue::Str(v.as_str().unwrap_or("").into()),
        Some("string") => JaegerValue::Str(match v {
            Value::Null => String::new(),
            other => other.to_string(),
        }),
        Some("bool") => match v {
            Value::Bool(b) => JaegerValue::Bool(*b),
            Value::String(s) => JaegerValue::Bool(s.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        },
        Some("int64") => match v {
            Value::Number(n) => JaegerValue::Int64(n.as_i64().ok_or_else(bad)?),
            Value::String(s) => JaegerValue::Int64(s.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        },
        Some("float64") => match v {
            Value::Number(n) => JaegerValue::Float64(n.as_f64().ok_or_else(bad)?),
            Value::String(s) => JaegerValue::Float64(match s.as_str() {
                "NaN" => f64::NAN,
                "+Inf" | "Inf" | "Infinity" => f64::INFINITY,
                "-Inf" | "-Infinity" => f64::NEG_INFINITY,
                other => other.parse().map_err(|_| bad())?,
            }),
            _ => return Err(bad()),
        },
        Some("binary") => match v {
            Value::Null => JaegerValue::Binary(Vec::new()),
            Value::String(s) => JaegerValue::Binary(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|_| bad())?,
            ),
            _ => return Err(bad()),
        },
        // No or an unknown type: from the JSON value.
        _ => match v {
            Value::Bool(b) => JaegerValue::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => JaegerValue::Int64(i),
                None => JaegerValue::Float64(n.as_f64().unwrap_or(0.0)),
            },
            Value::Null => JaegerValue::Str(String::new()),
            other => JaegerValue::Str(other.to_string()),
        },
    })
}

fn tags(list: &Option<Vec<InKeyValue>>) -> Result<Vec<JaegerKeyValue>> {
    list.iter()
        .flatten()
        .map(|kv| Ok(JaegerKeyValue::new(kv.key.clone(), value(kv)?)))
        .collect()
}

fn process(p: &InProcess, unknown: &str) -> Result<JaegerProcess> {
    let name = p.service_name.as_deref().unwrap_or("");
    Ok(JaegerProcess {
        service_name: if name.is_empty() { unknown } else { name }.to_string(),
        tags: tags(&p.tags)?,
    })
}

/// Converts one trace element (raw JSON bytes) to the model.
pub fn decode_trace(bytes: &[u8], unknown_service: &str) -> Result<(SpanBatch, JaegerStats)> {
    let mut trace: InTrace = serde_json::from_slice(bytes).context("not a Jaeger JSON trace")?;
    if trace.spans.is_none() {
        // A lone span (`jq '.data[].spans[]'` output).
        let span: InSpan = serde_json::from_slice(bytes)
            .context("neither a Jaeger JSON trace (no \"spans\") nor a span")?;
        trace.spans = Some(vec![span]);
    }
    let mut stats = JaegerStats::default();
    let mut processes: HashMap<String, Arc<JaegerProcess>> = HashMap::new();
    for (key, p) in trace.processes.iter().flatten() {
        processes.insert(key.clone(), Arc::new(process(p, unknown_service)?));
    }
    let unknown = Arc::new(JaegerProcess {
        service_name: unknown_service.to_string(),
        tags: Vec::new(),
    });
    let mut spans = Vec::new();
    for (i, s) in trace.spans.into_iter().flatten().enumerate() {
        let ctx = || format!("spans[{i}]");
        let from_map = s.process_id.as_deref().and_then(|id| processes.get(id));
        let proc = match (from_map, &s.process) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) => {
                stats.recovered += 1;
                Arc::new(process(p, unknown_service)?)
            }
            (None, None) => {
                stats.without_service += 1;
                unknown.clone()
            }
        };
        let mut references = Vec::new();
        for r in s.references.iter().flatten() {
            references.push(JaegerRef {
                ref_type: match r.ref_type.as_deref() {
                    Some("FOLLOWS_FROM") | Some("follows_from") => RefType::FollowsFrom,
                    _ => RefType::ChildOf,
                },
                trace_id: TraceId::from_hex(&r.trace_id)
                    .with_context(|| format!("{}: reference traceID", ctx()))?,
                span_id: SpanId::from_hex(&r.span_id)
                    .with_context(|| format!("{}: reference spanID", ctx()))?,
            });
        }
        let mut logs = Vec::new();
        for l in s.logs.iter().flatten() {
            logs.push(JaegerLog {
                timestamp_unix_nano: micros_to_nanos(l.timestamp.unwrap_or(0)),
                fields: tags(&l.fields).with_context(ctx)?,
            });
        }
        spans.push(JaegerSpan {
            trace_id: TraceId::from_hex(&s.trace_id)
                .with_context(|| format!("{}: traceID", ctx()))?,
            span_id: SpanId::from_hex(&s.span_id).with_context(|| format!("{}: spanID", ctx()))?,
            operation_name: s.operation_name.unwrap_or_default(),
            references,
            flags: s.flags.unwrap_or(0),
            start_time_unix_nano: micros_to_nanos(s.start_time.unwrap_or(0)),
            duration_nanos: s.duration.unwrap_or(0).saturating_mul(1_000),
            tags: tags(&s.tags).with_context(ctx)?,
            logs,
            process: proc,
            warnings: s.warnings.unwrap_or_default(),
        });
    }
    let batch = JaegerBatch {
        process: None,
        spans,
    };
    let batch = batch_to_model_as(batch, JaegerWire::Proto).context("invalid Jaeger trace")?;
    Ok((batch, stats))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn services_come_from_processes_then_embedded_process_then_unknown() {
        let json = br#"{"traceID":"1","spans":[
            {"traceID":"1","spanID":"a","operationName":"x","startTime":5,"duration":2,"processID":"p1",
             "tags":[{"key":"n","type":"int64","value":3}]},
            {"traceID":"1","spanID":"b","operationName":"y","startTime":6,"duration":1,
             "process":{"serviceName":"embedded","tags":[]}},
            {"traceID":"1","spanID":"c","operationName":"z","startTime":7,"duration":1,"processID":"p9"}
        ],"processes":{"p1":{"serviceName":"front","tags":[]}}}"#;
        let (batch, stats) = decode_trace(json, "unknown_service").unwrap();
        let services: Vec<&str> = batch.spans.iter().map(|r| r.service_name()).collect();
        assert_eq!(services, vec!["front", "embedded", "unknown_service"]);
        assert_eq!(stats.recovered, 1);
        assert_eq!(stats.without_service, 1);
        assert_eq!(batch.spans[0].span.start_time_unix_nano, 5_000);
        assert_eq!(batch.spans[0].span.end_time_unix_nano, 7_000);
    }

    #[test]
    fn a_lone_span_is_a_trace_of_one() {
        let json =
            br#"{"traceID":"1","spanID":"a","operationName":"x","startTime":5,"duration":2}"#;
        let (batch, stats) = decode_trace(json, "u").unwrap();
        assert_eq!(batch.spans.len(), 1);
        assert_eq!(stats.without_service, 1);
        assert!(decode_trace(br#"{"foo":1}"#, "u").is_err());
    }

    #[test]
    fn bad_ids_are_errors() {
        let json = br#"{"spans":[{"traceID":"zz","spanID":"a"}]}"#;
        assert!(decode_trace(json, "u").is_err());
    }
}
