//! Parsing of query parameters the way Jaeger's Go handlers parse them, with
//! the same error texts, so clients see the messages they already know.

use base64::Engine as _;
use spoor_model::TraceId;

/// Go's `strconv.Quote` for the ASCII-printable common case.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub use spoor_model::parse_go_duration;

/// A Go duration that must not be negative: a span or trace cannot last
/// less than nothing, so `-1s` is an error rather than "no bound".
pub fn parse_non_negative_duration(s: &str) -> Result<u64, String> {
    let d = parse_go_duration(s)?;
    u64::try_from(d).map_err(|_| format!("{s:?} is negative; a duration must be 0 or more"))
}

/// A count (`limit`, `searchDepth`, a lookback) that must not be negative.
pub fn check_not_negative(value: i64, raw: &str) -> Result<i64, String> {
    if value < 0 {
        Err(format!("{raw:?} is negative; it must be 0 or more"))
    } else {
        Ok(value)
    }
}

/// The informational `lookback` of `/api/traces` (the Jaeger UI sends `1h`,
/// `2d`, `custom`, …; the server ignores it, as Jaeger does): an error only
/// when it is a negative number or duration.
pub fn check_lookback(s: &str) -> Result<(), String> {
    let t = s.trim();
    let negative = t.strip_prefix('-').is_some_and(|rest| {
        rest.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
    });
    if negative {
        Err(format!("{s:?} is negative; a lookback must be 0 or more"))
    } else {
        Ok(())
    }
}

/// An RFC 3339 time of api_v3 (`query.startTimeMin`, …) as nanoseconds
/// since the epoch. The error says why a time cannot be used: not RFC 3339
/// at all, a year outside RFC 3339's 0000–9999, or a valid time outside what
/// a span can carry (before 1970, after 2554).
pub fn parse_api_time(s: &str) -> Result<u64, String> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 4 && s.as_bytes().get(digits) == Some(&b'-') {
        return Err(format!(
            "{s:?} is outside RFC 3339's range: the year has {digits} digits, RFC 3339 years run from 0000 to 9999"
        ));
    }
    if matches!(s.as_bytes().first(), Some(b'-' | b'+'))
        && s.as_bytes().get(1).is_some_and(u8::is_ascii_digit)
    {
        return Err(format!(
            "{s:?} is outside RFC 3339's range: RFC 3339 years have no sign and run from 0000 to 9999"
        ));
    }
    let nanos = spoor_model::parse_rfc3339_signed(s)?;
    if nanos < 0 {
        return Err(format!(
            "{s:?} is before 1970-01-01T00:00:00Z, the earliest time a span can carry"
        ));
    }
    u64::try_from(nanos).map_err(|_| {
        format!(
            "{s:?} is after {}, the latest time a span can carry",
            spoor_model::format_rfc3339(u64::MAX)
        )
    })
}

/// Parses every `filter` value (Spoor's filter expressions,
/// `spoor_storage::FilterExpr`); several are combined with AND. The error
/// names the value and the character where parsing failed.
pub fn parse_filters(
    values: &[&str],
) -> Result<Option<std::sync::Arc<spoor_storage::FilterExpr>>, String> {
    let values: Vec<&str> = values
        .iter()
        .copied()
        .filter(|v| !v.trim().is_empty())
        .collect();
    for v in &values {
        spoor_storage::FilterExpr::parse(v).map_err(|e| e.to_string())?;
    }
    let combined = match values.as_slice() {
        [] => return Ok(None),
        [one] => (*one).to_owned(),
        many => many
            .iter()
            .map(|v| format!("({v})"))
            .collect::<Vec<_>>()
            .join(" AND "),
    };
    spoor_storage::FilterExpr::parse(&combined)
        .map(|f| Some(std::sync::Arc::new(f)))
        .map_err(|e| e.to_string())
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The error text of Go's `strconv.ParseBool`.
pub fn go_bool_error(s: &str) -> String {
    format!("strconv.ParseBool: parsing {}: invalid syntax", go_quote(s))
}

/// Go's `strconv.ParseInt(s, 10, 64)` with its error text.
pub fn parse_go_int(s: &str) -> Result<i64, String> {
    let err = |what: &str| format!("strconv.ParseInt: parsing {}: {what}", go_quote(s));
    if s.is_empty()
        || !s
            .trim_start_matches(['-', '+'])
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return Err(err("invalid syntax"));
    }
    s.parse::<i64>().map_err(|_| {
        if s.trim_start_matches(['-', '+']).is_empty() {
            err("invalid syntax")
        } else {
            err("value out of range")
        }
    })
}

/// Parses a trace ID as Jaeger v2.20 does: 1–32 hex characters, or base64
/// (standard or URL alphabet, padded or not) of 16 bytes.
pub fn parse_trace_id(s: &str) -> Result<TraceId, String> {
    if let Ok(id) = TraceId::from_hex(s) {
        return Ok(id);
    }
    if !s.is_empty() && s.len() <= 24 {
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for engine in engines {
            if let Ok(bytes) = engine.decode(s)
                && let Ok(id) = TraceId::from_slice(&bytes)
            {
                return Ok(id);
            }
        }
    }
    match TraceId::from_hex(s) {
        Err(e) => Err(e.to_string()),
        Ok(_) => Err("invalid trace ID".into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ints_and_bools() {
        assert_eq!(parse_go_int("123"), Ok(123));
        assert_eq!(
            parse_go_int("abc"),
            Err("strconv.ParseInt: parsing \"abc\": invalid syntax".into())
        );
        assert!(
            parse_go_int("99999999999999999999")
                .unwrap_err()
                .ends_with("value out of range")
        );
        assert_eq!(parse_go_bool("true"), Some(true));
        assert_eq!(parse_go_bool("yes"), None);
    }

    #[test]
    fn negative_durations_counts_and_lookbacks_are_errors() {
        assert_eq!(parse_non_negative_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_non_negative_duration("0"), Ok(0));
        let e = parse_non_negative_duration("-1s").unwrap_err();
        assert!(e.contains("negative"), "{e}");
        assert!(parse_non_negative_duration("fast").is_err());
        assert_eq!(check_not_negative(5, "5"), Ok(5));
        assert!(
            check_not_negative(-5, "-5")
                .unwrap_err()
                .contains("negative")
        );
        for ok in ["", "1h", "2d", "custom", "0", "anything"] {
            assert_eq!(check_lookback(ok), Ok(()), "{ok}");
        }
        for bad in ["-5", "-1h", "-.5h", " -3"] {
            assert!(check_lookback(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_times_say_why_they_cannot_be_used() {
        assert_eq!(parse_api_time("1970-01-01T00:00:01Z"), Ok(1_000_000_000));
        let cases = [
            ("10000-01-01T00:00:00Z", "outside RFC 3339's range"),
            ("99999999-01-01T00:00:00Z", "year has 8 digits"),
            ("-0001-01-01T00:00:00Z", "outside RFC 3339's range"),
            ("+2024-01-01T00:00:00Z", "outside RFC 3339's range"),
            ("1969-12-31T23:59:59Z", "before 1970-01-01T00:00:00Z"),
            ("9999-12-31T23:59:59Z", "after 2554-07-21T23:34:33"),
            ("2024-13-01T00:00:00Z", "no such date"),
            ("yesterday", "invalid RFC 3339 time"),
        ];
        for (input, want) in cases {
            let e = parse_api_time(input).unwrap_err();
            assert!(e.contains(want), "{input}: {e}");
        }
    }

    #[test]
    fn filters_parse_and_combine() {
        assert_eq!(parse_filters(&[]), Ok(None));
        assert_eq!(parse_filters(&["", " "]), Ok(None));
        let one = parse_filters(&["a=1 OR b"]).unwrap().unwrap();
        assert_eq!(one.source(), "a=1 OR b");
        let two = parse_filters(&["a=1 OR b", "c"]).unwrap().unwrap();
        assert_eq!(two.source(), "(a=1 OR b) AND (c)");
        let err = parse_filters(&["a=1", "b=~("]).unwrap_err();
        assert!(
            err.starts_with("invalid filter at character 2: invalid regex"),
            "{err}"
        );
    }

    #[test]
    fn trace_ids_hex_and_base64() {
        assert_eq!(parse_trace_id("1").unwrap(), TraceId::from_halves(0, 1));
        assert_eq!(
            parse_trace_id("AAAAAAAAAAAAAAAAAAAAAQ==").unwrap(),
            TraceId::from_halves(0, 1)
        );
        assert_eq!(
            parse_trace_id("AAAAAAAAAAAAAAAAAAAAAQ").unwrap(),
            TraceId::from_halves(0, 1)
        );
        assert!(parse_trace_id("not-an-id!").is_err());
        assert!(parse_trace_id(&"f".repeat(33)).is_err());
    }
}

/// A URL query string, with Go's `url.Values` access rules.
#[derive(Debug, Default, Clone)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        QueryParams { pairs }
    }

    /// The first value of `name`, or "" (Go's `Values.Get`).
    pub fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The first non-empty value among several names (new name, then aliases).
    pub fn get_any<'a>(&'a self, names: &[&'a str]) -> (&'a str, &'a str) {
        for n in names {
            let v = self.get(n);
            if !v.is_empty() {
                return (n, v);
            }
        }
        (names.first().copied().unwrap_or(""), "")
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// `prettyPrint` set to anything but "false".
    pub fn pretty(&self) -> bool {
        let v = self.get("prettyPrint");
        !v.is_empty() && v != "false"
    }
}
