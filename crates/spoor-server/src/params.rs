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
