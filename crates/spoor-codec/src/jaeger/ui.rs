//! The UI JSON model of Jaeger's `/api/traces*` responses and the writer from
//! [`JaegerTrace`].

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use base64::Engine as _;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use spoor_model::group::ArcIndex;

use super::{JaegerKeyValue, JaegerProcess, JaegerTrace, JaegerValue, RefType};

/// JavaScript's `Number.MAX_SAFE_INTEGER`; int64 tags beyond ± this are
/// written as strings so the UI does not lose precision.
const JS_MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A trace as the Jaeger UI reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UiTrace {
    /// The first span's trace ID (empty for a trace without spans).
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub spans: Vec<UiSpan>,
    pub processes: UiProcesses,
    /// `null` when there are none.
    pub warnings: Option<Vec<String>>,
}

/// The `processes` object: `"p1"`, `"p2"`, … in first-seen order.
///
/// Serialized with keys in byte order (`p1, p10, p11, …, p2`) because Go's
/// `encoding/json` sorts map keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UiProcesses(pub Vec<(String, UiProcess)>);

impl UiProcesses {
    /// The process with `key` (`"p1"`, …).
    pub fn get(&self, key: &str) -> Option<&UiProcess> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, p)| p)
    }

    /// How many distinct processes the trace has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the trace has no spans.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for UiProcesses {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<&(String, UiProcess)> = self.0.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut map = serializer.serialize_map(Some(sorted.len()))?;
        for (key, process) in sorted {
            map.serialize_entry(key, process)?;
        }
        map.end()
    }
}

/// A span as the Jaeger UI reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UiSpan {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    /// Omitted when zero (Go's `omitempty`).
    #[serde(skip_serializing_if = "is_zero")]
    pub flags: u32,
    #[serde(rename = "operationName")]
    pub operation_name: String,
    /// Always an array, possibly empty.
    pub references: Vec<UiReference>,
    /// Microseconds since the Unix epoch.
    #[serde(rename = "startTime")]
    pub start_time: u64,
    /// Microseconds.
    pub duration: u64,
    pub tags: Vec<UiKeyValue>,
    pub logs: Vec<UiLog>,
    #[serde(rename = "processID")]
    pub process_id: String,
    /// `null` when there are none.
    pub warnings: Option<Vec<String>>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A reference to another span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UiReference {
    #[serde(rename = "refType")]
    pub ref_type: RefType,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

/// A log (OTLP event).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UiLog {
    /// Microseconds since the Unix epoch.
    pub timestamp: u64,
    pub fields: Vec<UiKeyValue>,
}

/// A process (the service and its resource attributes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UiProcess {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    pub tags: Vec<UiKeyValue>,
}

/// A typed tag, written as `{"key", "type", "value"}`.
///
/// `value` is a JSON number for int64 within ±(2^53−1) and a decimal string
/// beyond; binary is a base64 string (`null` when empty, as Go writes a nil
/// `[]byte`); float64 is a number, or `"NaN"`, `"+Inf"`, `"-Inf"` as a
/// string (Go cannot encode those at all and fails the whole response).
#[derive(Debug, Clone, PartialEq)]
pub struct UiKeyValue {
    pub key: String,
    pub value: JaegerValue,
}

impl Serialize for UiKeyValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut st = serializer.serialize_struct("KeyValue", 3)?;
        st.serialize_field("key", &self.key)?;
        st.serialize_field("type", self.value.type_name())?;
        match &self.value {
            JaegerValue::Str(s) => st.serialize_field("value", s)?,
            JaegerValue::Bool(b) => st.serialize_field("value", b)?,
            JaegerValue::Int64(i) => {
                if (-JS_MAX_SAFE_INTEGER..=JS_MAX_SAFE_INTEGER).contains(i) {
                    st.serialize_field("value", i)?
                } else {
                    st.serialize_field("value", &i.to_string())?
                }
            }
            JaegerValue::Float64(f) => {
                if f.is_finite() {
                    st.serialize_field("value", f)?
                } else {
                    st.serialize_field("value", &crate::gojson::format_float(*f))?
                }
            }
            JaegerValue::Binary(b) => {
                if b.is_empty() {
                    st.serialize_field("value", &())?
                } else {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(b);
                    st.serialize_field("value", &encoded)?
                }
            }
        }
        st.end()
    }
}

fn convert_kvs(kvs: &[JaegerKeyValue]) -> Vec<UiKeyValue> {
    kvs.iter()
        .map(|kv| UiKeyValue {
            key: kv.key.clone(),
            value: kv.value.clone(),
        })
        .collect()
}

fn micros(nanos: u64) -> u64 {
    nanos / 1_000
}

fn warnings(w: &[String]) -> Option<Vec<String>> {
    if w.is_empty() { None } else { Some(w.to_vec()) }
}

/// Assigns `p1, p2, …` to distinct processes in first-seen order.
#[derive(Default)]
struct ProcessTable<'a> {
    /// Fast path: the same `Arc` seen before (by its address, which is
    /// stable while the trace is borrowed).
    by_ptr: ArcIndex<JaegerProcess>,
    /// Slow path: equal processes behind different `Arc`s.
    by_hash: HashMap<u64, Vec<usize>>,
    distinct: Vec<&'a JaegerProcess>,
}

impl<'a> ProcessTable<'a> {
    /// The 0-based index of `process` among the distinct processes.
    fn index(&mut self, process: &'a Arc<JaegerProcess>) -> usize {
        let ProcessTable {
            by_ptr,
            by_hash,
            distinct,
        } = self;
        by_ptr
            .index_by(process, |next| {
                let mut hasher = DefaultHasher::new();
                process.hash(&mut hasher);
                let candidates = by_hash.entry(hasher.finish()).or_default();
                match candidates
                    .iter()
                    .copied()
                    .find(|&i| distinct.get(i).is_some_and(|d| *d == process.as_ref()))
                {
                    Some(i) => i,
                    None => {
                        distinct.push(process.as_ref());
                        candidates.push(next);
                        next
                    }
                }
            })
            .index()
    }
}

fn process_key(index: usize) -> String {
    format!("p{}", index + 1)
}

/// Converts a trace in Jaeger's model to the UI JSON model, as Jaeger's
/// `FromDomain` does.
pub fn jaeger_to_ui(trace: &JaegerTrace) -> UiTrace {
    let mut table = ProcessTable::default();
    let spans: Vec<UiSpan> = trace
        .spans
        .iter()
        .map(|span| {
            let process_id = process_key(table.index(&span.process));
            UiSpan {
                trace_id: span.trace_id.to_jaeger_hex(),
                span_id: span.span_id.to_hex(),
                flags: span.flags,
                operation_name: span.operation_name.clone(),
                references: span
                    .references
                    .iter()
                    .map(|r| UiReference {
                        ref_type: r.ref_type,
                        trace_id: r.trace_id.to_jaeger_hex(),
                        span_id: r.span_id.to_hex(),
                    })
                    .collect(),
                start_time: micros(span.start_time_unix_nano),
                duration: micros(span.duration_nanos.max(0).unsigned_abs()),
                tags: convert_kvs(&span.tags),
                logs: span
                    .logs
                    .iter()
                    .map(|l| UiLog {
                        timestamp: micros(l.timestamp_unix_nano),
                        fields: convert_kvs(&l.fields),
                    })
                    .collect(),
                process_id,
                warnings: warnings(&span.warnings),
            }
        })
        .collect();
    let processes = table
        .distinct
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                process_key(i),
                UiProcess {
                    service_name: p.service_name.clone(),
                    tags: convert_kvs(&p.tags),
                },
            )
        })
        .collect();
    UiTrace {
        trace_id: spans
            .first()
            .map(|s| s.trace_id.clone())
            .unwrap_or_default(),
        spans,
        processes: UiProcesses(processes),
        warnings: warnings(&trace.warnings),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::{JaegerRef, JaegerSpan, parse_domain_trace};
    use super::*;
    use crate::gojson;
    use spoor_model::{SpanId, TraceId};

    const DOMAIN_01: &str = include_str!("../../testdata/jaeger-ui/domain_01.json");
    const UI_01: &str = include_str!("../../testdata/jaeger-ui/ui_01.json");

    #[test]
    fn golden_domain_01_becomes_ui_01() {
        let trace = parse_domain_trace(DOMAIN_01.as_bytes()).unwrap();
        let ui = jaeger_to_ui(&trace);
        let bytes = gojson::to_vec(&ui, false);
        let got: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let want: serde_json::Value = serde_json::from_str(UI_01).unwrap();
        assert_eq!(got, want);
        // Pretty output is the same document.
        let pretty: serde_json::Value = serde_json::from_slice(&gojson::to_vec(&ui, true)).unwrap();
        assert_eq!(pretty, want);
    }

    fn span(process: Arc<JaegerProcess>) -> JaegerSpan {
        JaegerSpan {
            trace_id: TraceId::from_halves(0, 0xab),
            span_id: SpanId::from_u64(1),
            operation_name: "GET /a<b>&c".into(),
            references: vec![],
            flags: 0,
            start_time_unix_nano: 1_500_999,
            duration_nanos: 2_999,
            tags: vec![],
            logs: vec![],
            process,
            warnings: vec![],
        }
    }

    #[test]
    fn exact_bytes_pin_go_escaping_and_int64_strings() {
        let process = Arc::new(JaegerProcess {
            service_name: "svc".into(),
            tags: vec![],
        });
        let mut s = span(process);
        s.tags = vec![
            JaegerKeyValue::new("big", JaegerValue::Int64(1 << 53)),
            JaegerKeyValue::new("safe", JaegerValue::Int64(-JS_MAX_SAFE_INTEGER)),
            JaegerKeyValue::new("neg", JaegerValue::Int64(-(1 << 53))),
            JaegerKeyValue::new("f", JaegerValue::Float64(1e21)),
            JaegerKeyValue::new("b", JaegerValue::Binary(vec![0xff, 0x00])),
            JaegerKeyValue::new("empty", JaegerValue::Binary(vec![])),
            JaegerKeyValue::new("nan", JaegerValue::Float64(f64::NAN)),
            JaegerKeyValue::string("s", "line\u{2028}\n"),
        ];
        s.flags = 1;
        let ui = jaeger_to_ui(&JaegerTrace {
            spans: vec![s],
            warnings: vec![],
        });
        let got = String::from_utf8(gojson::to_vec(&ui, false)).unwrap();
        let want = concat!(
            r#"{"traceID":"00000000000000ab","spans":[{"traceID":"00000000000000ab","#,
            r#""spanID":"0000000000000001","flags":1,"operationName":"GET /a\u003cb\u003e\u0026c","#,
            r#""references":[],"startTime":1500,"duration":2,"tags":["#,
            r#"{"key":"big","type":"int64","value":"9007199254740992"},"#,
            r#"{"key":"safe","type":"int64","value":-9007199254740991},"#,
            r#"{"key":"neg","type":"int64","value":"-9007199254740992"},"#,
            r#"{"key":"f","type":"float64","value":1e+21},"#,
            r#"{"key":"b","type":"binary","value":"/wA="},"#,
            r#"{"key":"empty","type":"binary","value":null},"#,
            r#"{"key":"nan","type":"float64","value":"NaN"},"#,
            r#"{"key":"s","type":"string","value":"line\u2028\n"}],"#,
            r#""logs":[],"processID":"p1","warnings":null}],"#,
            r#""processes":{"p1":{"serviceName":"svc","tags":[]}},"warnings":null}"#
        );
        assert_eq!(got, want);
    }

    #[test]
    fn pretty_bytes_match_marshal_indent() {
        let process = Arc::new(JaegerProcess {
            service_name: "svc".into(),
            tags: vec![JaegerKeyValue::new("n", JaegerValue::Bool(true))],
        });
        let mut s = span(process);
        s.references = vec![JaegerRef {
            ref_type: RefType::FollowsFrom,
            trace_id: TraceId::from_halves(1, 2),
            span_id: SpanId::from_u64(3),
        }];
        s.warnings = vec!["w".into()];
        let ui = jaeger_to_ui(&JaegerTrace {
            spans: vec![s],
            warnings: vec!["tw".into()],
        });
        let got = String::from_utf8(gojson::to_vec(&ui, true)).unwrap();
        let want = r#"{
    "traceID": "00000000000000ab",
    "spans": [
        {
            "traceID": "00000000000000ab",
            "spanID": "0000000000000001",
            "operationName": "GET /a\u003cb\u003e\u0026c",
            "references": [
                {
                    "refType": "FOLLOWS_FROM",
                    "traceID": "00000000000000010000000000000002",
                    "spanID": "0000000000000003"
                }
            ],
            "startTime": 1500,
            "duration": 2,
            "tags": [],
            "logs": [],
            "processID": "p1",
            "warnings": [
                "w"
            ]
        }
    ],
    "processes": {
        "p1": {
            "serviceName": "svc",
            "tags": [
                {
                    "key": "n",
                    "type": "bool",
                    "value": true
                }
            ]
        }
    },
    "warnings": [
        "tw"
    ]
}"#;
        assert_eq!(got, want);
    }

    #[test]
    fn processes_dedupe_by_value_and_sort_keys_like_go() {
        // Twelve distinct services, each seen twice through distinct Arcs.
        let mut spans = Vec::new();
        for round in 0..2 {
            for i in 0..12 {
                let p = Arc::new(JaegerProcess {
                    service_name: format!("svc-{i}"),
                    tags: vec![JaegerKeyValue::new("f", JaegerValue::Float64(0.5))],
                });
                let mut s = span(p);
                s.span_id = SpanId::from_u64(round * 100 + i);
                spans.push(s);
            }
        }
        let ui = jaeger_to_ui(&JaegerTrace {
            spans,
            warnings: vec![],
        });
        assert_eq!(ui.processes.len(), 12);
        assert_eq!(ui.spans[0].process_id, "p1");
        assert_eq!(ui.spans[11].process_id, "p12");
        assert_eq!(ui.spans[12].process_id, "p1");
        assert_eq!(ui.spans[23].process_id, "p12");
        assert_eq!(ui.processes.get("p10").unwrap().service_name, "svc-9");
        let json = String::from_utf8(gojson::to_vec(&ui.processes, false)).unwrap();
        let order: Vec<usize> = ["\"p1\"", "\"p10\"", "\"p11\"", "\"p12\"", "\"p2\""]
            .iter()
            .map(|k| json.find(k).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{json}");
    }

    #[test]
    fn negative_duration_is_clamped_and_empty_trace_is_valid() {
        let p = Arc::new(JaegerProcess::default());
        let mut s = span(p);
        s.duration_nanos = -5_000;
        let ui = jaeger_to_ui(&JaegerTrace {
            spans: vec![s],
            warnings: vec![],
        });
        assert_eq!(ui.spans[0].duration, 0);

        let empty = jaeger_to_ui(&JaegerTrace::default());
        assert_eq!(
            String::from_utf8(gojson::to_vec(&empty, false)).unwrap(),
            r#"{"traceID":"","spans":[],"processes":{},"warnings":null}"#
        );
    }
}
