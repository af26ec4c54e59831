//! JSON bytes exactly as Go's `encoding/json` writes them.
//!
//! Jaeger's `/api/*` responses come from `json.Marshal`, or from
//! `json.MarshalIndent(v, "", "    ")` when `prettyPrint` is set. Matching them
//! byte for byte needs three things serde_json does differently by default:
//!
//! - **Strings**: Go escapes `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`
//!   and U+2028 / U+2029 as `\u2028` / `\u2029`; control characters become
//!   `\b`, `\f`, `\n`, `\r`, `\t` or `\u00XX` (lowercase hex). DEL and every
//!   other character are written as they are.
//! - **Floats**: like ECMAScript's number-to-string: the shortest digits that
//!   round-trip, in plain decimal form (`100000000000000000000`, `0.000001`),
//!   or in exponent form (`1e+21`, `1e-7`) when the magnitude is below `1e-6`
//!   or at least `1e21`.
//! - **Pretty form**: a 4-space indent, `": "` after keys, and `[]` / `{}` for
//!   empty containers, with no trailing newline.
//!
//! Byte slices (`serialize_bytes`) are written as standard base64 strings, as
//! Go writes `[]byte`. Go refuses to encode NaN and infinities; serde_json
//! writes `null` for them and so do we (callers that care, such as the Jaeger
//! tag writer, turn them into strings first).

use std::io;

use base64::Engine as _;
use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

/// Serializes `value` as Go's `json.Marshal` (`pretty == false`) or
/// `json.MarshalIndent(v, "", "    ")` (`pretty == true`) would.
///
/// Serializing Spoor's own types cannot fail; if a caller's type does fail
/// (for example a map with non-string keys), the failure is logged and the
/// bytes of a Jaeger-style error envelope are returned instead.
pub fn to_vec<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Vec<u8> {
    match try_to_vec(value, pretty) {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::error!(error = %err, "failed to encode JSON response");
            let fallback = FallbackError {
                data: (),
                total: 0,
                limit: 0,
                offset: 0,
                errors: [FallbackMsg {
                    code: 500,
                    msg: format!("failed writing HTTP response: {err}"),
                }],
            };
            // A struct of plain fields cannot fail to serialize into memory.
            try_to_vec(&fallback, false).unwrap_or_default()
        }
    }
}

#[derive(Serialize)]
struct FallbackError {
    data: (),
    total: u8,
    limit: u8,
    offset: u8,
    errors: [FallbackMsg; 1],
}

#[derive(Serialize)]
struct FallbackMsg {
    code: u16,
    msg: String,
}

/// Like [`to_vec`], but hands the serialization error to the caller.
pub fn try_to_vec<T: Serialize + ?Sized>(
    value: &T,
    pretty: bool,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    to_writer(&mut out, value, pretty)?;
    Ok(out)
}

/// Streams `value` into `writer` in Go's form (see [`to_vec`]).
pub fn to_writer<W: io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
    pretty: bool,
) -> Result<(), serde_json::Error> {
    let mut ser = serde_json::Serializer::with_formatter(writer, GoFormatter::new(pretty));
    value.serialize(&mut ser)
}

/// A [`serde_json::ser::Formatter`] that writes what Go's `encoding/json`
/// writes, compact or indented with four spaces.
#[derive(Debug, Clone, Default)]
pub struct GoFormatter {
    pretty: bool,
    depth: usize,
    has_value: bool,
}

impl GoFormatter {
    /// A formatter for `json.Marshal` (`pretty == false`) or
    /// `json.MarshalIndent(v, "", "    ")` (`pretty == true`).
    pub fn new(pretty: bool) -> Self {
        GoFormatter {
            pretty,
            depth: 0,
            has_value: false,
        }
    }

    fn newline_indent<W: ?Sized + io::Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.depth {
            w.write_all(b"    ")?;
        }
        Ok(())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Formatter for GoFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(format_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        w.write_all(format_float32(value).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json has already split out `"`, `\` and control characters;
        // what is left to escape here is Go's HTML-safe set and U+2028/9.
        let bytes = fragment.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let escape: Option<&[u8]> = match bytes[i] {
                b'<' => Some(b"\\u003c"),
                b'>' => Some(b"\\u003e"),
                b'&' => Some(b"\\u0026"),
                // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
                0xE2 if bytes.get(i + 1) == Some(&0x80) => match bytes.get(i + 2) {
                    Some(0xA8) => Some(b"\\u2028"),
                    Some(0xA9) => Some(b"\\u2029"),
                    _ => None,
                },
                _ => None,
            };
            match escape {
                Some(esc) => {
                    w.write_all(&bytes[start..i])?;
                    w.write_all(esc)?;
                    i += if bytes[i] == 0xE2 { 3 } else { 1 };
                    start = i;
                }
                None => i += 1,
            }
        }
        w.write_all(&bytes[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        let control = |b: u8| {
            [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xF) as usize],
            ]
        };
        match char_escape {
            CharEscape::Quote => w.write_all(b"\\\""),
            CharEscape::ReverseSolidus => w.write_all(b"\\\\"),
            // Go never escapes '/', and serde_json never asks to.
            CharEscape::Solidus => w.write_all(b"/"),
            CharEscape::Backspace => w.write_all(b"\\b"),
            CharEscape::FormFeed => w.write_all(b"\\f"),
            CharEscape::LineFeed => w.write_all(b"\\n"),
            CharEscape::CarriageReturn => w.write_all(b"\\r"),
            CharEscape::Tab => w.write_all(b"\\t"),
            CharEscape::AsciiControl(b) => w.write_all(&control(b)),
        }
    }

    fn write_byte_array<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        value: &[u8],
    ) -> io::Result<()> {
        w.write_all(b"\"")?;
        w.write_all(
            base64::engine::general_purpose::STANDARD
                .encode(value)
                .as_bytes(),
        )?;
        w.write_all(b"\"")
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.pretty && self.has_value {
            self.newline_indent(w)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        if self.pretty {
            self.newline_indent(w)?;
        }
        Ok(())
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.pretty && self.has_value {
            self.newline_indent(w)?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        if self.pretty {
            self.newline_indent(w)?;
        }
        Ok(())
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(if self.pretty { b": " } else { b":" })
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Formats a finite `f64` as Go's `encoding/json` does: `strconv.AppendFloat`
/// with the shortest round-tripping digits, `'f'` format unless the magnitude
/// is below `1e-6` or at least `1e21`, then `'e'` format with a two-digit
/// negative exponent shortened (`1e-07` becomes `1e-7`).
///
/// Non-finite values, which Go refuses to encode, are written as Go's
/// `strconv` spells them: `NaN`, `+Inf`, `-Inf`.
pub fn format_float(value: f64) -> String {
    if !value.is_finite() {
        return non_finite(value.is_nan(), value > 0.0);
    }
    let abs = value.abs();
    let exponent_form = abs != 0.0 && !(1e-6..1e21).contains(&abs);
    layout(&format!("{value:e}"), exponent_form)
}

/// [`format_float`] for `f32`, with Go's float32 cut-offs and shortest digits.
pub fn format_float32(value: f32) -> String {
    if !value.is_finite() {
        return non_finite(value.is_nan(), value > 0.0);
    }
    let abs = value.abs();
    let exponent_form = abs != 0.0 && !(1e-6f32..1e21f32).contains(&abs);
    layout(&format!("{value:e}"), exponent_form)
}

fn non_finite(nan: bool, positive: bool) -> String {
    match (nan, positive) {
        (true, _) => "NaN".into(),
        (false, true) => "+Inf".into(),
        (false, false) => "-Inf".into(),
    }
}

/// Re-lays out Rust's shortest scientific form (`-1.2345e-7`, `1e21`) as Go
/// would print the same digits.
fn layout(sci: &str, exponent_form: bool) -> String {
    let (negative, rest) = match sci.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, sci),
    };
    let (mantissa, exp) = rest.split_once('e').unwrap_or((rest, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if exponent_form {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        // Go pads to two digits, then encoding/json strips the zero of
        // negative exponents; positive ones here are always >= 21.
        let e = exp.unsigned_abs();
        if exp >= 0 && e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
        return out;
    }
    // Plain decimal: the point goes after `exp + 1` digits.
    let point = exp + 1;
    let n = digits.len() as i64;
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..(-point) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if point >= n {
        out.push_str(&digits);
        for _ in 0..(point - n) {
            out.push('0');
        }
    } else {
        let p = point as usize;
        out.push_str(&digits[..p]);
        out.push('.');
        out.push_str(&digits[p..]);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn compact<T: Serialize + ?Sized>(v: &T) -> String {
        String::from_utf8(to_vec(v, false)).unwrap()
    }

    fn pretty<T: Serialize + ?Sized>(v: &T) -> String {
        String::from_utf8(to_vec(v, true)).unwrap()
    }

    #[test]
    fn escapes_html_characters_like_go() {
        assert_eq!(compact("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(compact("<>&"), r#""\u003c\u003e\u0026""#);
    }

    #[test]
    fn escapes_line_and_paragraph_separators() {
        assert_eq!(compact("x\u{2028}y\u{2029}z"), r#""x\u2028y\u2029z""#);
        // Other characters starting with the same UTF-8 bytes stay as they are.
        assert_eq!(compact("\u{2027}\u{202A}…"), "\"\u{2027}\u{202A}…\"");
    }

    #[test]
    fn escapes_control_characters_like_go() {
        assert_eq!(compact("\n\r\t"), r#""\n\r\t""#);
        assert_eq!(compact("\u{8}\u{c}"), r#""\b\f""#);
        assert_eq!(
            compact("\u{0}\u{1}\u{1b}\u{1f}"),
            r#""\u0000\u0001\u001b\u001f""#
        );
        assert_eq!(compact("q\"b\\"), r#""q\"b\\""#);
        // DEL, '/' and non-ASCII text are not escaped.
        assert_eq!(compact("\u{7f}/é日本"), "\"\u{7f}/é日本\"");
    }

    #[test]
    fn escapes_map_keys_too() {
        let mut m = BTreeMap::new();
        m.insert("<k>", 1);
        assert_eq!(compact(&m), r#"{"\u003ck\u003e":1}"#);
    }

    #[test]
    fn floats_use_plain_form_in_the_middle_range() {
        assert_eq!(compact(&72.5), "72.5");
        assert_eq!(compact(&1.0), "1");
        assert_eq!(compact(&-2.0), "-2");
        assert_eq!(compact(&0.0), "0");
        assert_eq!(compact(&-0.0), "-0");
        assert_eq!(compact(&0.1), "0.1");
        assert_eq!(compact(&1e20), "100000000000000000000");
        assert_eq!(compact(&123456789.125), "123456789.125");
        assert_eq!(compact(&0.000001), "0.000001");
        assert_eq!(compact(&1.5e-6), "0.0000015");
        assert_eq!(compact(&f64::MAX), "1.7976931348623157e+308");
    }

    #[test]
    fn floats_use_exponent_form_outside_the_middle_range() {
        assert_eq!(compact(&1e21), "1e+21");
        assert_eq!(compact(&-1.5e21), "-1.5e+21");
        assert_eq!(compact(&1e-7), "1e-7");
        assert_eq!(compact(&1.25e-7), "1.25e-7");
        assert_eq!(compact(&1e-10), "1e-10");
        assert_eq!(compact(&5e-324), "5e-324");
        assert_eq!(compact(&1e100), "1e+100");
    }

    #[test]
    fn float32_uses_its_own_shortest_digits() {
        assert_eq!(compact(&0.1f32), "0.1");
        assert_eq!(compact(&1e21f32), "1e+21");
        assert_eq!(compact(&3.4028235e38f32), "3.4028235e+38");
    }

    #[test]
    fn non_finite_floats_become_null() {
        assert_eq!(compact(&f64::NAN), "null");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
    }

    #[test]
    fn bytes_are_base64_like_go() {
        struct B(&'static [u8]);
        impl Serialize for B {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        assert_eq!(compact(&B(&[0, 0, 0x30, 0x39])), r#""AAAwOQ==""#);
    }

    #[test]
    fn compact_has_no_spaces() {
        let v = json!({"a": [1, 2, {}], "b": {"c": null, "d": []}});
        assert_eq!(compact(&v), r#"{"a":[1,2,{}],"b":{"c":null,"d":[]}}"#);
    }

    #[test]
    fn pretty_matches_marshal_indent_with_four_spaces() {
        let v = json!({"a": [1, "x"], "b": {}, "c": [], "d": {"e": null}});
        let expected = "{\n    \"a\": [\n        1,\n        \"x\"\n    ],\n    \"b\": {},\n    \"c\": [],\n    \"d\": {\n        \"e\": null\n    }\n}";
        assert_eq!(pretty(&v), expected);
        assert_eq!(pretty(&json!([])), "[]");
        assert_eq!(pretty(&json!({})), "{}");
        assert_eq!(pretty(&json!([[]])), "[\n    []\n]");
        assert_eq!(pretty(&json!("a<b")), r#""a\u003cb""#);
    }

    #[test]
    fn serialization_failure_falls_back_to_an_error_envelope() {
        // A map with non-string keys cannot be encoded as JSON.
        let mut m = BTreeMap::new();
        m.insert(vec![1u8], 1);
        let out: serde_json::Value = serde_json::from_slice(&to_vec(&m, false)).unwrap();
        assert_eq!(out["data"], serde_json::Value::Null);
        assert_eq!(out["errors"][0]["code"], 500);
        assert!(try_to_vec(&m, false).is_err());
    }

    #[test]
    fn float_layout_round_trips_many_values() {
        for &f in &[
            1.0e-6,
            9.99e-7,
            123.456,
            0.3,
            2.5e15,
            9.007199254740993e15,
            1e20,
            9.999e20,
            42.0,
        ] {
            let s = format_float(f);
            assert_eq!(s.parse::<f64>().unwrap(), f, "{s}");
        }
    }
}
