//! Jaeger's domain model in api_v2 proto-JSON form (`model.Trace` as jsonpb
//! writes it): base64 IDs, `vType`/`vStr`/`vInt64`… tags, RFC 3339 times,
//! Go duration strings, a `process` embedded in each span or referenced by
//! `processId` through `processMap`, and trace-level `warnings`.
//!
//! Both the proto-JSON field names (`traceId`) and the original proto names
//! (`trace_id`) are accepted, and `null` means "absent", as jsonpb does.
//! IDs that are not valid base64 of the right length are also tried as hex.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value};
use spoor_model::{SpanId, TraceId, UnixNanos};

use super::{
    JaegerKeyValue, JaegerLog, JaegerProcess, JaegerRef, JaegerSpan, JaegerTrace, JaegerValue,
    RefType,
};
use crate::DecodeError;

/// Parses one trace in Jaeger's domain proto-JSON form.
///
/// Every span needs a process, either embedded (`process`) or by
/// `processId` into the trace's `processMap`.
pub fn parse_domain_trace(bytes: &[u8]) -> Result<JaegerTrace, DecodeError> {
    let root: Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Json(e.to_string()))?;
    let obj = as_object(&root, "trace")?;

    let mut process_map: HashMap<String, Arc<JaegerProcess>> = HashMap::new();
    match field(obj, &["processMap", "process_map"]) {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("processMap[{i}]");
                let entry = as_object(item, &path)?;
                let id = string(entry, &["processId", "process_id"], &path)?;
                let process = match field(entry, &["process"]) {
                    Some(p) => parse_process(p, &format!("{path}.process"))?,
                    None => JaegerProcess::default(),
                };
                process_map.insert(id, Arc::new(process));
            }
        }
        Some(Value::Object(map)) => {
            for (id, p) in map {
                let process = parse_process(p, &format!("processMap.{id}"))?;
                process_map.insert(id.clone(), Arc::new(process));
            }
        }
        Some(_) => return Err(shape("processMap", "an array")),
    }

    let spans = match field(obj, &["spans"]) {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| parse_span(s, &format!("spans[{i}]"), &process_map))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(shape("spans", "an array")),
    };

    Ok(JaegerTrace {
        spans,
        warnings: strings(obj, &["warnings"], "warnings")?,
    })
}

fn parse_span(
    v: &Value,
    path: &str,
    process_map: &HashMap<String, Arc<JaegerProcess>>,
) -> Result<JaegerSpan, DecodeError> {
    let obj = as_object(v, path)?;
    let process = match field(obj, &["process"]) {
        Some(p) => Arc::new(parse_process(p, &format!("{path}.process"))?),
        None => {
            let id = string(obj, &["processId", "process_id"], path)?;
            process_map.get(&id).cloned().ok_or_else(|| {
                DecodeError::invalid(
                    format!("{path}.processId"),
                    if id.is_empty() {
                        "span has neither a process nor a processId".to_string()
                    } else {
                        format!("no process {id:?} in processMap")
                    },
                )
            })?
        }
    };

    let references = match field(obj, &["references"]) {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, r)| parse_ref(r, &format!("{path}.references[{i}]")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(shape(&format!("{path}.references"), "an array")),
    };

    let logs = match field(obj, &["logs"]) {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, l)| parse_log(l, &format!("{path}.logs[{i}]")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(shape(&format!("{path}.logs"), "an array")),
    };

    Ok(JaegerSpan {
        trace_id: trace_id(obj, &["traceId", "trace_id"], path)?,
        span_id: span_id(obj, &["spanId", "span_id"], path)?,
        operation_name: string(obj, &["operationName", "operation_name"], path)?,
        references,
        flags: flags(obj, path)?,
        start_time_unix_nano: timestamp(obj, &["startTime", "start_time"], path)?,
        duration_nanos: duration(obj, path)?,
        tags: key_values(obj, &["tags"], path)?,
        logs,
        process,
        warnings: strings(obj, &["warnings"], &format!("{path}.warnings"))?,
    })
}

fn parse_process(v: &Value, path: &str) -> Result<JaegerProcess, DecodeError> {
    let obj = as_object(v, path)?;
    Ok(JaegerProcess {
        service_name: string(obj, &["serviceName", "service_name"], path)?,
        tags: key_values(obj, &["tags"], path)?,
    })
}

fn parse_ref(v: &Value, path: &str) -> Result<JaegerRef, DecodeError> {
    let obj = as_object(v, path)?;
    let ref_type = match field(obj, &["refType", "ref_type"]) {
        None => RefType::ChildOf,
        Some(Value::String(s)) if s == "CHILD_OF" => RefType::ChildOf,
        Some(Value::String(s)) if s == "FOLLOWS_FROM" => RefType::FollowsFrom,
        Some(Value::Number(n)) if n.as_u64() == Some(0) => RefType::ChildOf,
        Some(Value::Number(n)) if n.as_u64() == Some(1) => RefType::FollowsFrom,
        Some(other) => {
            return Err(DecodeError::invalid(
                format!("{path}.refType"),
                format!("unknown reference type {other}"),
            ));
        }
    };
    Ok(JaegerRef {
        ref_type,
        trace_id: trace_id(obj, &["traceId", "trace_id"], path)?,
        span_id: span_id(obj, &["spanId", "span_id"], path)?,
    })
}

fn parse_log(v: &Value, path: &str) -> Result<JaegerLog, DecodeError> {
    let obj = as_object(v, path)?;
    Ok(JaegerLog {
        timestamp_unix_nano: timestamp(obj, &["timestamp"], path)?,
        fields: key_values(obj, &["fields"], path)?,
    })
}

fn key_values(
    obj: &Map<String, Value>,
    names: &[&str],
    path: &str,
) -> Result<Vec<JaegerKeyValue>, DecodeError> {
    let path = format!("{path}.{}", names[0]);
    match field(obj, names) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, kv)| parse_key_value(kv, &format!("{path}[{i}]")))
            .collect(),
        Some(_) => Err(shape(&path, "an array")),
    }
}

fn parse_key_value(v: &Value, path: &str) -> Result<JaegerKeyValue, DecodeError> {
    let obj = as_object(v, path)?;
    let key = string(obj, &["key"], path)?;
    let v_type = match field(obj, &["vType", "v_type"]) {
        None => 0,
        Some(Value::String(s)) => match s.as_str() {
            "STRING" => 0,
            "BOOL" => 1,
            "INT64" => 2,
            "FLOAT64" => 3,
            "BINARY" => 4,
            _ => return Err(unknown_type(path, s)),
        },
        Some(Value::Number(n)) => n.as_u64().unwrap_or(u64::MAX),
        Some(other) => return Err(unknown_type(path, &other.to_string())),
    };
    let value = match v_type {
        0 => JaegerValue::Str(string(obj, &["vStr", "v_str"], path)?),
        1 => JaegerValue::Bool(match field(obj, &["vBool", "v_bool"]) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(shape(&format!("{path}.vBool"), "a boolean")),
        }),
        2 => JaegerValue::Int64(int64(field(obj, &["vInt64", "v_int64"]), path)?),
        3 => JaegerValue::Float64(float64(field(obj, &["vFloat64", "v_float64"]), path)?),
        4 => JaegerValue::Binary(match field(obj, &["vBinary", "v_binary"]) {
            None => Vec::new(),
            Some(Value::String(s)) => decode_base64(s).ok_or_else(|| {
                DecodeError::invalid(format!("{path}.vBinary"), "not valid base64")
            })?,
            Some(_) => return Err(shape(&format!("{path}.vBinary"), "a base64 string")),
        }),
        other => return Err(unknown_type(path, &other.to_string())),
    };
    Ok(JaegerKeyValue { key, value })
}

fn unknown_type(path: &str, what: &str) -> DecodeError {
    DecodeError::invalid(
        format!("{path}.vType"),
        format!("unknown value type {what}"),
    )
}

fn int64(v: Option<&Value>, path: &str) -> Result<i64, DecodeError> {
    let bad = || DecodeError::invalid(format!("{path}.vInt64"), "not a 64-bit integer");
    match v {
        None => Ok(0),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn float64(v: Option<&Value>, path: &str) -> Result<f64, DecodeError> {
    let bad = || DecodeError::invalid(format!("{path}.vFloat64"), "not a number");
    match v {
        None => Ok(0.0),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(bad),
        Some(Value::String(s)) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other.trim().parse().map_err(|_| bad()),
        },
        Some(_) => Err(bad()),
    }
}

fn flags(obj: &Map<String, Value>, path: &str) -> Result<u32, DecodeError> {
    let bad = || DecodeError::invalid(format!("{path}.flags"), "not a 32-bit unsigned integer");
    match field(obj, &["flags"]) {
        None => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|f| u32::try_from(f).ok())
            .ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn timestamp(
    obj: &Map<String, Value>,
    names: &[&str],
    path: &str,
) -> Result<UnixNanos, DecodeError> {
    match field(obj, names) {
        None => Ok(0),
        Some(Value::String(s)) => rfc3339(s)
            .map_err(|reason| DecodeError::invalid(format!("{path}.{}", names[0]), reason)),
        Some(_) => Err(shape(&format!("{path}.{}", names[0]), "an RFC 3339 string")),
    }
}

fn duration(obj: &Map<String, Value>, path: &str) -> Result<i64, DecodeError> {
    let field_path = || format!("{path}.duration");
    match field(obj, &["duration"]) {
        None => Ok(0),
        Some(Value::String(s)) => {
            go_duration(s).map_err(|reason| DecodeError::invalid(field_path(), reason))
        }
        // A bare number is nanoseconds (Go's time.Duration).
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| DecodeError::invalid(field_path(), "not a whole number of nanoseconds")),
        Some(_) => Err(shape(&field_path(), "a duration string")),
    }
}

fn trace_id(obj: &Map<String, Value>, names: &[&str], path: &str) -> Result<TraceId, DecodeError> {
    let field_path = || format!("{path}.{}", names[0]);
    match field(obj, names) {
        None => Ok(TraceId::ZERO),
        Some(Value::String(s)) => decode_base64(s)
            .and_then(|b| TraceId::from_slice(&b).ok())
            .or_else(|| TraceId::from_hex(s).ok())
            .ok_or_else(|| DecodeError::invalid(field_path(), "not a 16-byte base64 or hex ID")),
        Some(_) => Err(shape(&field_path(), "a string")),
    }
}

fn span_id(obj: &Map<String, Value>, names: &[&str], path: &str) -> Result<SpanId, DecodeError> {
    let field_path = || format!("{path}.{}", names[0]);
    match field(obj, names) {
        None => Ok(SpanId::ZERO),
        Some(Value::String(s)) => decode_base64(s)
            .and_then(|b| SpanId::from_slice(&b).ok())
            .or_else(|| SpanId::from_hex(s).ok())
            .ok_or_else(|| DecodeError::invalid(field_path(), "not an 8-byte base64 or hex ID")),
        Some(_) => Err(shape(&field_path(), "a string")),
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .ok()
}

/// The first of `names` present with a non-null value.
fn field<'a>(obj: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .filter_map(|n| obj.get(*n))
        .find(|v| !v.is_null())
}

fn as_object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, DecodeError> {
    v.as_object().ok_or_else(|| shape(path, "an object"))
}

fn string(obj: &Map<String, Value>, names: &[&str], path: &str) -> Result<String, DecodeError> {
    match field(obj, names) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(shape(&format!("{path}.{}", names[0]), "a string")),
    }
}

fn strings(
    obj: &Map<String, Value>,
    names: &[&str],
    path: &str,
) -> Result<Vec<String>, DecodeError> {
    match field(obj, names) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| shape(path, "an array of strings"))
            })
            .collect(),
        Some(_) => Err(shape(path, "an array of strings")),
    }
}

fn shape(path: &str, expected: &str) -> DecodeError {
    DecodeError::Json(format!("{path}: expected {expected}"))
}

/// An RFC 3339 timestamp as nanoseconds since the Unix epoch.
fn rfc3339(s: &str) -> Result<UnixNanos, String> {
    let nanos = spoor_model::parse_rfc3339_signed(s)?;
    u64::try_from(nanos).map_err(|_| format!("{s:?} is before 1970"))
}

/// A Go duration string as nanoseconds.
fn go_duration(s: &str) -> Result<i64, String> {
    spoor_model::parse_go_duration(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_golden_domain_fixture() {
        let t =
            parse_domain_trace(include_bytes!("../../testdata/jaeger-ui/domain_01.json")).unwrap();
        assert_eq!(t.spans.len(), 5);
        assert_eq!(t.warnings, ["some trace warning"]);
        let s0 = &t.spans[0];
        assert_eq!(s0.trace_id, TraceId::from_halves(0, 1));
        assert_eq!(s0.span_id, SpanId::from_u64(2));
        assert_eq!(s0.start_time_unix_nano, 1_485_467_191_639_875_139);
        assert_eq!(s0.duration_nanos, 5_000);
        assert_eq!(s0.process.service_name, "service-x");
        assert_eq!(
            s0.logs[0].fields,
            [JaegerKeyValue::string("event", "some-event")]
        );
        let s1 = &t.spans[1];
        assert_eq!(
            s1.tags[4],
            JaegerKeyValue::new(
                "javascript_limit",
                JaegerValue::Int64(9_223_372_036_854_775_222)
            )
        );
        assert_eq!(
            s1.tags[5],
            JaegerKeyValue::new("blob", JaegerValue::Binary(vec![0, 0, 0x30, 0x39]))
        );
        let s3 = &t.spans[3];
        assert_eq!(s3.references.len(), 3);
        assert_eq!(s3.references[0].trace_id, TraceId::from_halves(0, 0xff));
        assert_eq!(s3.references[2].ref_type, RefType::FollowsFrom);
        assert_eq!(s3.warnings, ["some span warning"]);
    }

    #[test]
    fn process_map_and_snake_case_names_are_accepted() {
        let json = r#"{
            "spans": [{"trace_id": "AAAAAAAAAAAAAAAAAAAAAQ==", "span_id": "0000000000000002",
                       "operation_name": "op", "process_id": "p9", "flags": 1,
                       "start_time": "1970-01-01T00:00:01Z", "duration": "1.5ms",
                       "tags": [{"key": "n", "v_type": 2, "v_int64": "-7"},
                                {"key": "f", "vType": "FLOAT64", "vFloat64": "NaN"},
                                {"key": "b", "vType": "BOOL"}]}],
            "processMap": [{"processId": "p9", "process": {"serviceName": "s", "tags": null}}]
        }"#;
        let t = parse_domain_trace(json.as_bytes()).unwrap();
        let s = &t.spans[0];
        assert_eq!(s.span_id, SpanId::from_u64(2));
        assert_eq!(s.process.service_name, "s");
        assert_eq!(s.flags, 1);
        assert_eq!(s.start_time_unix_nano, 1_000_000_000);
        assert_eq!(s.duration_nanos, 1_500_000);
        assert_eq!(s.tags[0].value, JaegerValue::Int64(-7));
        assert!(matches!(s.tags[1].value, JaegerValue::Float64(f) if f.is_nan()));
        assert_eq!(s.tags[2].value, JaegerValue::Bool(false));
    }

    #[test]
    fn bad_input_is_an_error_never_a_panic() {
        let cases: &[&str] = &[
            "",
            "[]",
            "{\"spans\": 3}",
            "{\"spans\": [1]}",
            "{\"spans\": [{\"traceId\": \"zz\", \"process\": {}}]}",
            "{\"spans\": [{\"spanId\": \"AAAAAAAAAAAAAAAAAAAAAQ==\", \"process\": {}}]}",
            "{\"spans\": [{}]}",
            "{\"spans\": [{\"processId\": \"p1\"}]}",
            "{\"spans\": [{\"process\": {}, \"startTime\": \"2017-13-01T00:00:00Z\"}]}",
            "{\"spans\": [{\"process\": {}, \"startTime\": \"1969-12-31T23:59:59Z\"}]}",
            "{\"spans\": [{\"process\": {}, \"duration\": \"5\"}]}",
            "{\"spans\": [{\"process\": {}, \"tags\": [{\"key\": \"k\", \"vType\": \"X\"}]}]}",
            "{\"spans\": [{\"process\": {}, \"tags\": [{\"key\": \"k\", \"vType\": 9}]}]}",
            "{\"spans\": [{\"process\": {}, \"tags\": [{\"key\": \"k\", \"vType\": \"INT64\", \"vInt64\": 1.5}]}]}",
            "{\"spans\": [{\"process\": {}, \"tags\": [{\"key\": \"k\", \"vType\": \"BINARY\", \"vBinary\": \"!!\"}]}]}",
            "{\"spans\": [{\"process\": {}, \"references\": [{\"refType\": \"SIBLING\"}]}]}",
            "{\"spans\": [{\"process\": {}, \"flags\": -1}]}",
            "{\"spans\": [{\"process\": {}, \"warnings\": [1]}]}",
            "{\"processMap\": 1}",
        ];
        for c in cases {
            assert!(parse_domain_trace(c.as_bytes()).is_err(), "accepted {c}");
        }
    }

    #[test]
    fn rfc3339_parsing() {
        let p = |s: &str| rfc3339(s);
        assert_eq!(p("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(p("1970-01-01T00:00:00.5Z"), Ok(500_000_000));
        assert_eq!(p("1970-01-01T01:00:00+01:00"), Ok(0));
        assert_eq!(p("2000-02-29T00:00:00Z"), Ok(951_782_400_000_000_000));
        assert_eq!(
            p("2017-01-26T16:46:31.639875139-05:00"),
            Ok(1_485_467_191_639_875_139)
        );
        assert_eq!(
            p("2017-01-26T21:46:31.6398751399999Z"),
            Ok(1_485_467_191_639_875_139)
        );
        assert!(p("2001-02-29T00:00:00Z").is_err());
        assert!(p("2017-01-26T16:46:31").is_err());
        assert!(p("2017-01-26T16:46:31.Z").is_err());
        assert!(p("2017-01-26T24:00:00Z").is_err());
        assert!(p("2017-01-26T16:46:31+0500").is_err());
        assert!(p("2017-01-26T16:46:31Zjunk").is_err());
        assert!(p("ÿÿÿÿ-01-26T16:46:31Z").is_err());
    }

    #[test]
    fn go_duration_parsing() {
        let p = |s: &str| go_duration(s);
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("5000ns"), Ok(5_000));
        assert_eq!(p("4µs"), Ok(4_000));
        assert_eq!(p("4μs"), Ok(4_000));
        assert_eq!(p("4us"), Ok(4_000));
        assert_eq!(p("1.5s"), Ok(1_500_000_000));
        assert_eq!(p(".5ms"), Ok(500_000));
        assert_eq!(p("1h2m3.5s"), Ok(3_723_500_000_000));
        assert_eq!(p("-2ms"), Ok(-2_000_000));
        assert_eq!(p("+2ms"), Ok(2_000_000));
        assert_eq!(p("0.000005s"), Ok(5_000));
        assert_eq!(p("-9223372036854775808ns"), Ok(i64::MIN));
        assert!(p("9223372036854775808ns").is_err());
        assert!(p("3000000h").is_err());
        assert!(p("").is_err());
        assert!(p("-").is_err());
        assert!(p("5").is_err());
        assert!(p(".s").is_err());
        assert!(p("5d").is_err());
        assert!(p("1s2").is_err());
        assert!(p("99999999999999999999999ns").is_err());
        assert_eq!(p("x"), Err("time: invalid duration \"x\"".into()));
    }
}
