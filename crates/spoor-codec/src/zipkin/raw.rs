//! Reading Zipkin JSON without type expectations.
//!
//! Zipkin senders are sloppy about JSON types (timestamps as floats or
//! strings, booleans where strings belong). Every field is first read as a
//! [`Raw`] value, an [`Obj`] or a [`List`], none of which can fail on a type
//! mismatch; the conversion that follows checks types itself and names the
//! span and field in its error; only syntax errors fail during parsing.
//!
//! The structure read has a fixed depth (span, endpoint or annotation,
//! scalar). Anything nested deeper (unknown fields, an array where a scalar
//! belongs) is skipped by serde_json's iterative skipper, which uses no
//! recursion and keeps nothing, so nesting costs neither stack nor memory
//! beyond a small multiple of the input.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::DecodeError;

/// Any JSON value. Arrays and objects are read through and only their kind is
/// kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Raw {
    #[default]
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(String),
    Array,
    Object,
}

impl Raw {
    /// How the value is described in error messages.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Raw::Null => "null",
            Raw::Bool(_) => "a boolean",
            Raw::U64(_) | Raw::I64(_) | Raw::F64(_) => "a number",
            Raw::Str(_) => "a string",
            Raw::Array => "an array",
            Raw::Object => "an object",
        }
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::I64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::F64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Raw::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Raw::Object)
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

/// A JSON object read as `T`, or `null`, or something else (kept as its kind).
#[derive(Debug, Default)]
pub(super) enum Obj<T> {
    #[default]
    Null,
    Value(T),
    Wrong(&'static str),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Obj::Value)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Obj<T>, E> {
                Ok(Obj::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Obj<T>, E> {
                Ok(Obj::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Obj<T>, D::Error> {
                Obj::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Obj<T>, E> {
                Ok(Obj::Wrong("a boolean"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Obj<T>, E> {
                Ok(Obj::Wrong("a number"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Obj<T>, E> {
                Ok(Obj::Wrong("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Obj<T>, E> {
                Ok(Obj::Wrong("a number"))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Obj<T>, E> {
                Ok(Obj::Wrong("a string"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Obj<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Obj::Wrong("an array"))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A JSON array of `T`, or `null`, or something else (kept as its kind).
#[derive(Debug, Default)]
pub(super) enum List<T> {
    #[default]
    Null,
    Items(Vec<T>),
    Wrong(&'static str),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                // No capacity from size hints: the input bounds the length.
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<T>()? {
                    items.push(item);
                }
                Ok(List::Items(items))
            }
            fn visit_unit<E: de::Error>(self) -> Result<List<T>, E> {
                Ok(List::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<List<T>, E> {
                Ok(List::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<List<T>, D::Error> {
                List::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<List<T>, E> {
                Ok(List::Wrong("a boolean"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<List<T>, E> {
                Ok(List::Wrong("a number"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<List<T>, E> {
                Ok(List::Wrong("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<List<T>, E> {
                Ok(List::Wrong("a number"))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<List<T>, E> {
                Ok(List::Wrong("a string"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<List<T>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(List::Wrong("an object"))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// The entries of a JSON object in document order (duplicates kept).
#[derive(Debug, Default)]
pub(super) struct Entries(pub(super) Vec<(String, Raw)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Raw>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses `bytes` as a JSON array of `T` (`null` is an empty array). A UTF-8
/// byte-order mark is skipped.
pub(super) fn parse_array<T>(bytes: &[u8]) -> Result<Vec<Obj<T>>, DecodeError>
where
    T: for<'de> Deserialize<'de>,
{
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match serde_json::from_slice::<List<Obj<T>>>(bytes) {
        Ok(List::Items(items)) => Ok(items),
        Ok(List::Null) => Ok(Vec::new()),
        Ok(List::Wrong(kind)) => Err(DecodeError::Json(format!(
            "expected a JSON array of spans, got {kind}"
        ))),
        Err(e) => Err(DecodeError::Json(e.to_string())),
    }
}

// ---------------------------------------------------------------------------
// Typed reads with errors naming the field. `field` is only called on error.

fn wrong(field: impl FnOnce() -> String, want: &str, got: &Raw) -> DecodeError {
    DecodeError::invalid(field(), format!("must be {want}, got {}", got.kind()))
}

/// A string; `null` reads as empty. Booleans and numbers are refused.
pub(super) fn string(raw: Raw, field: impl FnOnce() -> String) -> Result<String, DecodeError> {
    match raw {
        Raw::Null => Ok(String::new()),
        Raw::Str(s) => Ok(s),
        other => Err(wrong(field, "a string", &other)),
    }
}

/// A string, or the text of a boolean or number (tag values and v1 binary
/// annotation values, which some senders write unquoted); `null` reads as
/// empty.
pub(super) fn text(raw: Raw, field: impl FnOnce() -> String) -> Result<String, DecodeError> {
    match raw {
        Raw::Null => Ok(String::new()),
        Raw::Str(s) => Ok(s),
        Raw::Bool(b) => Ok(if b { "true" } else { "false" }.to_owned()),
        Raw::U64(v) => Ok(v.to_string()),
        Raw::I64(v) => Ok(v.to_string()),
        Raw::F64(v) => Ok(v.to_string()),
        other => Err(wrong(field, "a string", &other)),
    }
}

/// Epoch or duration microseconds as nanoseconds: a non-negative JSON
/// integer, a non-negative float (kept to the nanosecond), or the same as a
/// decimal string. `None` for `null` or an absent field.
pub(super) fn micros_as_nanos(
    raw: &Raw,
    field: impl FnOnce() -> String,
) -> Result<Option<u64>, DecodeError> {
    fn from_f64(v: f64) -> Option<u64> {
        // Whole and fractional microseconds apart, so that the fraction is
        // not lost to the precision of a product near 1e18.
        if !(0.0..1.8e16).contains(&v) {
            return None;
        }
        let whole = v.trunc();
        let frac_ns = ((v - whole) * 1000.0).round() as u64;
        (whole as u64).checked_mul(1000)?.checked_add(frac_ns)
    }
    let reason = match raw {
        Raw::Null => return Ok(None),
        Raw::U64(v) => match v.checked_mul(1000) {
            Some(ns) => return Ok(Some(ns)),
            None => format!("is out of range: {v}"),
        },
        Raw::I64(v) => format!("must not be negative, got {v}"),
        Raw::F64(v) => match from_f64(*v) {
            Some(ns) => return Ok(Some(ns)),
            None => format!("must be a non-negative number of microseconds, got {v}"),
        },
        Raw::Str(s) => {
            let t = s.trim();
            let parsed = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                t.parse::<u64>().ok().and_then(|v| v.checked_mul(1000))
            } else {
                t.parse::<f64>().ok().and_then(from_f64)
            };
            match parsed {
                Some(ns) => return Ok(Some(ns)),
                None => format!("must be a non-negative number of microseconds, got {s:?}"),
            }
        }
        other => format!("must be a number, got {}", other.kind()),
    };
    Err(DecodeError::invalid(field(), reason))
}

/// A signed 64-bit integer (Zipkin v1 microseconds): a JSON integer, a float
/// rounded to the nearest integer, or a decimal string; `null` reads as 0.
pub(super) fn int64(raw: &Raw, field: impl FnOnce() -> String) -> Result<i64, DecodeError> {
    let from_f64 = |v: f64| {
        let r = v.round();
        // i64::MAX is not exactly representable; stay strictly inside.
        (-9.2e18..=9.2e18).contains(&r).then_some(r as i64)
    };
    match raw {
        Raw::Null => Ok(0),
        Raw::U64(v) => i64::try_from(*v)
            .map_err(|_| DecodeError::invalid(field(), "is out of range".to_owned())),
        Raw::I64(v) => Ok(*v),
        Raw::F64(v) => from_f64(*v)
            .ok_or_else(|| DecodeError::invalid(field(), format!("is out of range: {v}"))),
        Raw::Str(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(from_f64))
                .ok_or_else(|| {
                    DecodeError::invalid(field(), format!("must be an integer, got {s:?}"))
                })
        }
        other => Err(wrong(field, "a number", other)),
    }
}

/// A port number (0 to 65535); `null` reads as 0.
pub(super) fn port(raw: &Raw, field: impl FnOnce() -> String) -> Result<u16, DecodeError> {
    match raw {
        Raw::Null => Ok(0),
        Raw::U64(v) => u16::try_from(*v)
            .map_err(|_| DecodeError::invalid(field(), format!("must be 0 to 65535, got {v}"))),
        Raw::Str(s) => s
            .trim()
            .parse::<u16>()
            .map_err(|_| DecodeError::invalid(field(), format!("must be 0 to 65535, got {s:?}"))),
        other => Err(wrong(field, "a port number", other)),
    }
}

/// A 32-bit signed integer (a Zipkin v1 JSON port); `null` reads as 0.
pub(super) fn int32(raw: &Raw, field: impl FnOnce() -> String) -> Result<i32, DecodeError> {
    match raw {
        Raw::Null => Ok(0),
        Raw::U64(v) => i32::try_from(*v)
            .map_err(|_| DecodeError::invalid(field(), format!("is out of range: {v}"))),
        Raw::I64(v) => i32::try_from(*v)
            .map_err(|_| DecodeError::invalid(field(), format!("is out of range: {v}"))),
        Raw::Str(s) => s
            .trim()
            .parse::<i32>()
            .map_err(|_| DecodeError::invalid(field(), format!("must be an integer, got {s:?}"))),
        other => Err(wrong(field, "an integer", other)),
    }
}
