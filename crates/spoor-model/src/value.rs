use std::fmt::Write as _;

/// An attribute value, as OTLP defines it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AnyValue {
    #[default]
    Empty,
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<AnyValue>),
    KvList(Vec<KeyValue>),
}

/// One attribute.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyValue {
    pub key: String,
    pub value: AnyValue,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: AnyValue) -> Self {
        KeyValue {
            key: key.into(),
            value,
        }
    }
    pub fn str(key: impl Into<String>, v: impl Into<String>) -> Self {
        Self::new(key, AnyValue::Str(v.into()))
    }
}

/// Finds the first attribute with `key`.
pub fn find_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

impl AnyValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AnyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a string, as OpenTelemetry's `pcommon.Value.AsString`
    /// renders it: strings as they are, numbers and booleans in their plain
    /// form, bytes as standard base64, arrays and maps as compact JSON.
    /// Jaeger compares tag filters against this form.
    pub fn to_string_lossy(&self) -> String {
        match self {
            AnyValue::Str(s) => s.clone(),
            _ => {
                let mut out = String::new();
                self.write_plain(&mut out);
                out
            }
        }
    }

    fn write_plain(&self, out: &mut String) {
        match self {
            AnyValue::Empty => {}
            AnyValue::Str(s) => out.push_str(s),
            AnyValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            AnyValue::Int(i) => {
                let _ = write!(out, "{i}");
            }
            AnyValue::Double(d) => out.push_str(&format_float(*d)),
            AnyValue::Bytes(b) => out.push_str(&base64_std(b)),
            AnyValue::Array(_) | AnyValue::KvList(_) => self.write_json(out),
        }
    }

    /// Compact JSON form used for arrays and maps.
    fn write_json(&self, out: &mut String) {
        match self {
            AnyValue::Empty => out.push_str("null"),
            AnyValue::Str(s) => write_json_string(out, s),
            AnyValue::Bool(_) | AnyValue::Int(_) => self.write_plain(out),
            AnyValue::Double(d) => {
                if d.is_finite() {
                    out.push_str(&format_float(*d))
                } else {
                    write_json_string(out, &format_float(*d))
                }
            }
            AnyValue::Bytes(b) => write_json_string(out, &base64_std(b)),
            AnyValue::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            AnyValue::KvList(kvs) => {
                out.push('{');
                for (i, kv) in kvs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(out, &kv.key);
                    out.push(':');
                    kv.value.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// Shortest round-tripping decimal form of a float, like Go's
/// `strconv.FormatFloat(f, 'f', -1, 64)` for ordinary magnitudes.
pub(crate) fn format_float(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{d}");
    s
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Standard base64 with padding (no dependency needed for this one use).
pub(crate) fn base64_std(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_match_pcommon_as_string() {
        assert_eq!(AnyValue::Int(123).to_string_lossy(), "123");
        assert_eq!(AnyValue::Double(72.5).to_string_lossy(), "72.5");
        assert_eq!(AnyValue::Bool(true).to_string_lossy(), "true");
        assert_eq!(
            AnyValue::Bytes(vec![0, 0, 0x30, 0x39]).to_string_lossy(),
            "AAAwOQ=="
        );
        let arr = AnyValue::Array(vec![AnyValue::Str("a\"b".into()), AnyValue::Int(1)]);
        assert_eq!(arr.to_string_lossy(), r#"["a\"b",1]"#);
        let map = AnyValue::KvList(vec![KeyValue::str("k", "v")]);
        assert_eq!(map.to_string_lossy(), r#"{"k":"v"}"#);
    }
}
