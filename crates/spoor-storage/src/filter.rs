//! Filter expressions: tag conditions combined with `AND`, `OR`, `NOT` and
//! parentheses, evaluated per span (the `filter=` parameter of `/api/traces`).
//!
//! Grammar (documented for users in `docs/api.md`):
//!
//! ```text
//! expr      := or
//! or        := and ( OR and )*
//! and       := unary ( [AND] unary )*          juxtaposition means AND
//! unary     := ( NOT | "!" ) unary | primary
//! primary   := "(" expr ")" | condition
//! condition := key                             the key exists on the span
//!            | key "="  value                  equal (Jaeger's tag semantics)
//!            | key "!=" value                  the key exists, with no such value
//!            | key "=~" value                  a value matches the regex (whole value)
//!            | key "!~" value                  the key exists, and no value matches
//! key       := quoted | bare
//! value     := quoted | run of characters up to whitespace or ")"
//! quoted    := '"' ( any character but '"' and '\' | '\' any character )* '"'
//! bare      := characters other than whitespace ( ) = ! ~ "
//! ```
//!
//! `AND`, `OR` and `NOT` are keywords in any letter case; quote a key that
//! is spelled like one. `NOT` binds tighter than `AND`, which binds tighter
//! than `OR`.
//!
//! Keys resolve as Jaeger's tags do ([`crate::matches_span`]): `error`,
//! `span.kind`, `span.status`, `scope.name`, `scope.version` and
//! `resource.<key>` are special; any other key is looked up in the span's,
//! its scope's, its resource's, its events' and its links' attributes, and
//! among the tags the Jaeger JSON synthesizes from span fields
//! ([`crate::SYNTHESIZED_TAGS`]: `otel.status_code`, `otel.scope.name`,
//! `event`, …); values compare as strings.

use std::sync::Arc;

use regex::{Regex, RegexBuilder};
use spoor_model::{SpanRecord, StatusCode};

use crate::TagFilter;
use crate::query::{for_each_value, tag_matches};

/// The longest expression accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4_096;
/// The deepest nesting of parentheses and `NOT`s accepted.
pub const MAX_FILTER_DEPTH: usize = 32;
/// The most conditions in one expression.
pub const MAX_FILTER_CONDITIONS: usize = 64;
/// The largest compiled regex, in bytes (the `regex` crate's size limit).
pub const MAX_REGEX_BYTES: usize = 256 * 1024;

/// Why an expression was rejected: where (1-based character position) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter at character {position}: {message}")]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

/// One condition on one key.
#[derive(Debug, Clone)]
pub enum Condition {
    Exists(String),
    Eq(String, String),
    Ne(String, String),
    Matches(String, Arc<Regex>),
    NotMatches(String, Arc<Regex>),
}

impl Condition {
    /// The key this condition reads.
    pub fn key(&self) -> &str {
        match self {
            Condition::Exists(k)
            | Condition::Eq(k, _)
            | Condition::Ne(k, _)
            | Condition::Matches(k, _)
            | Condition::NotMatches(k, _) => k,
        }
    }

    fn matches(&self, record: &SpanRecord) -> bool {
        match self {
            Condition::Exists(k) => has_key(record, k),
            Condition::Eq(k, v) => tag_matches(record, &TagFilter::new(k.clone(), v.clone())),
            Condition::Ne(k, v) => {
                has_key(record, k) && !tag_matches(record, &TagFilter::new(k.clone(), v.clone()))
            }
            Condition::Matches(k, re) => for_each_value(record, k, &mut |v| re.is_match(v)),
            Condition::NotMatches(k, re) => {
                has_key(record, k) && !for_each_value(record, k, &mut |v| re.is_match(v))
            }
        }
    }
}

/// Does the span carry `key` at all? `error`, `span.kind` and `span.status`
/// always exist; `scope.name` and `scope.version` when not empty.
fn has_key(record: &SpanRecord, key: &str) -> bool {
    for_each_value(record, key, &mut |_| true)
}

/// A node of a parsed expression.
#[derive(Debug, Clone)]
pub enum FilterNode {
    Condition(Condition),
    Not(Box<FilterNode>),
    And(Vec<FilterNode>),
    Or(Vec<FilterNode>),
}

impl FilterNode {
    fn matches(&self, record: &SpanRecord) -> bool {
        match self {
            FilterNode::Condition(c) => c.matches(record),
            FilterNode::Not(n) => !n.matches(record),
            FilterNode::And(ns) => ns.iter().all(|n| n.matches(record)),
            FilterNode::Or(ns) => ns.iter().any(|n| n.matches(record)),
        }
    }

    fn may_match(&self, possible: &mut dyn FnMut(&str) -> bool) -> bool {
        match self {
            // Every condition needs its key to be present on the span.
            FilterNode::Condition(c) => possible(c.key()),
            // A negation can hold on data without the key: never prunes.
            FilterNode::Not(_) => true,
            FilterNode::And(ns) => ns.iter().all(|n| n.may_match(possible)),
            FilterNode::Or(ns) => ns.iter().any(|n| n.may_match(possible)),
        }
    }

    fn keys<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            FilterNode::Condition(c) => out.push(c.key()),
            FilterNode::Not(n) => n.keys(out),
            FilterNode::And(ns) | FilterNode::Or(ns) => ns.iter().for_each(|n| n.keys(out)),
        }
    }
}

/// A parsed filter expression. Two expressions are equal when their source
/// texts are.
#[derive(Debug, Clone)]
pub struct FilterExpr {
    source: String,
    root: FilterNode,
}

impl PartialEq for FilterExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl FilterExpr {
    /// Parses an expression; see the [module documentation](self).
    pub fn parse(source: &str) -> Result<FilterExpr, FilterError> {
        if source.len() > MAX_FILTER_BYTES {
            return Err(FilterError {
                position: 1,
                message: format!("the expression is longer than {MAX_FILTER_BYTES} bytes"),
            });
        }
        let mut parser = Parser {
            src: source,
            pos: 0,
            depth: 0,
            conditions: 0,
        };
        parser.skip_ws();
        if parser.at_end() {
            return Err(parser.error("the expression is empty"));
        }
        let root = parser.or()?;
        parser.skip_ws();
        if !parser.at_end() {
            return Err(parser.error(match parser.peek() {
                Some(')') => "unbalanced ')'".to_owned(),
                _ => "expected AND, OR or the end of the expression".to_owned(),
            }));
        }
        Ok(FilterExpr {
            source: source.to_owned(),
            root,
        })
    }

    /// The text the expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parsed tree.
    pub fn root(&self) -> &FilterNode {
        &self.root
    }

    /// Does this span satisfy the expression?
    pub fn matches(&self, record: &SpanRecord) -> bool {
        self.root.matches(record)
    }

    /// Could a span satisfy the expression, given for each key whether it
    /// can be present (`possible(key)`)? False only when every way to
    /// satisfy it needs a key that is certainly absent; used to skip data.
    pub fn may_match(&self, possible: &mut dyn FnMut(&str) -> bool) -> bool {
        self.root.may_match(possible)
    }

    /// Every key the expression reads (with repeats).
    pub fn keys(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.root.keys(&mut out);
        out
    }
}

struct Parser<'a> {
    src: &'a str,
    /// Byte offset.
    pos: usize,
    depth: usize,
    conditions: usize,
}

fn is_bare_key_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '(' | ')' | '=' | '!' | '~' | '"'))
}

impl<'a> Parser<'a> {
    fn error(&self, message: impl Into<String>) -> FilterError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, byte: usize, message: impl Into<String>) -> FilterError {
        let byte = byte.min(self.src.len());
        FilterError {
            position: self.src[..byte].chars().count() + 1,
            message: message.into(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// The keyword at the cursor (a bare word equal to `word` in any case,
    /// followed by a non-key character), without consuming it.
    fn at_keyword(&self, word: &str) -> bool {
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|(_, c)| !is_bare_key_char(*c))
            .map_or(rest.len(), |(i, _)| i);
        rest[..end].eq_ignore_ascii_case(word)
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        if self.at_keyword(word) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(self.error(format!(
                "the expression nests deeper than {MAX_FILTER_DEPTH} levels"
            )));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<FilterNode, FilterError> {
        let mut items = vec![self.and()?];
        loop {
            self.skip_ws();
            if self.eat_keyword("or") {
                items.push(self.and()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            FilterNode::Or(items)
        })
    }

    fn and(&mut self) -> Result<FilterNode, FilterError> {
        let mut items = vec![self.unary()?];
        loop {
            self.skip_ws();
            if self.at_end() || self.peek() == Some(')') || self.at_keyword("or") {
                break;
            }
            self.eat_keyword("and");
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            FilterNode::And(items)
        })
    }

    fn unary(&mut self) -> Result<FilterNode, FilterError> {
        self.skip_ws();
        let negated = if self.peek() == Some('!') {
            self.bump();
            true
        } else {
            self.eat_keyword("not")
        };
        if negated {
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(FilterNode::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<FilterNode, FilterError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("unexpected end of the expression: expected a condition")),
            Some('(') => {
                let open = self.pos;
                self.bump();
                self.enter()?;
                self.skip_ws();
                if self.peek() == Some(')') {
                    return Err(self.error("empty parentheses"));
                }
                let inner = self.or()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return Err(self.error_at(open, "unclosed '('"));
                }
                self.bump();
                self.depth -= 1;
                Ok(inner)
            }
            Some(')') => Err(self.error("unexpected ')': expected a condition")),
            Some(_) => self.condition().map(FilterNode::Condition),
        }
    }

    fn quoted(&mut self) -> Result<String, FilterError> {
        let open = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error_at(open, "unterminated quoted string")),
                Some('"') => {
                    self.bump();
                    return Ok(out);
                }
                Some('\\') => {
                    self.bump();
                    match self.peek() {
                        None => return Err(self.error_at(open, "unterminated quoted string")),
                        Some(c) => {
                            out.push(match c {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            });
                            self.bump();
                        }
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.bump();
                }
            }
        }
    }

    fn condition(&mut self) -> Result<Condition, FilterError> {
        let key_at = self.pos;
        let key = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            let rest = self.rest();
            let end = rest
                .char_indices()
                .find(|(_, c)| !is_bare_key_char(*c))
                .map_or(rest.len(), |(i, _)| i);
            if end == 0 {
                return Err(self.error(format!(
                    "unexpected '{}': expected a key",
                    self.peek().unwrap_or(' ')
                )));
            }
            self.pos += end;
            rest[..end].to_owned()
        };
        if key.is_empty() {
            return Err(self.error_at(key_at, "empty key"));
        }
        self.conditions += 1;
        if self.conditions > MAX_FILTER_CONDITIONS {
            return Err(self.error_at(
                key_at,
                format!("more than {MAX_FILTER_CONDITIONS} conditions"),
            ));
        }
        // Look past spaces for an operator; without one the key stands alone.
        let before_op = self.pos;
        self.skip_ws();
        let rest = self.rest();
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op));
        let Some(op) = op else {
            self.pos = before_op;
            return Ok(Condition::Exists(key));
        };
        let op_at = self.pos;
        self.pos += op.len();
        self.skip_ws();
        let value = match self.peek() {
            Some('"') => self.quoted()?,
            None => return Err(self.error(format!("expected a value after '{op}'"))),
            Some(_) => {
                let rest = self.rest();
                let end = rest
                    .char_indices()
                    .find(|(_, c)| c.is_whitespace() || *c == ')')
                    .map_or(rest.len(), |(i, _)| i);
                if end == 0 {
                    return Err(self.error(format!("expected a value after '{op}'")));
                }
                self.pos += end;
                rest[..end].to_owned()
            }
        };
        Ok(match op {
            "=" => Condition::Eq(key, value),
            "!=" => Condition::Ne(key, value),
            "=~" => Condition::Matches(key, self.regex(&value, op_at)?),
            _ => Condition::NotMatches(key, self.regex(&value, op_at)?),
        })
    }

    fn regex(&self, pattern: &str, at: usize) -> Result<Arc<Regex>, FilterError> {
        RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(MAX_REGEX_BYTES)
            .dfa_size_limit(MAX_REGEX_BYTES)
            .nest_limit(MAX_FILTER_DEPTH as u32 * 2)
            .build()
            .map(Arc::new)
            .map_err(|e| {
                let text = match e {
                    regex::Error::CompiledTooBig(_) => {
                        format!("the regex is too large (limit {MAX_REGEX_BYTES} bytes compiled)")
                    }
                    other => format!("invalid regex: {other}"),
                };
                self.error_at(at, text)
            })
    }
}

/// The string values `key` has on a span, as the filter and Jaeger's tags see
/// them: `error` is `"true"`/`"false"`, `span.status` `OK`/`ERROR`/`UNSET`,
/// `span.kind` Jaeger's kind name (`""` for unspecified).
pub(crate) fn special_value(record: &SpanRecord, key: &str) -> Option<String> {
    let span = &record.span;
    Some(match key {
        "error" => (span.status.code == StatusCode::Error).to_string(),
        "span.status" => match span.status.code {
            StatusCode::Ok => "OK".to_owned(),
            StatusCode::Error => "ERROR".to_owned(),
            StatusCode::Unset => "UNSET".to_owned(),
        },
        "span.kind" => span.kind.jaeger_name().to_owned(),
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use spoor_model::testing;
    use spoor_model::{Event, KeyValue, Scope, SpanKind};

    use super::*;

    fn span(attrs: &[(&str, &str)], error: bool) -> SpanRecord {
        testing::record()
            .resource(&testing::resource_with(vec![
                KeyValue::str("service.name", "svc"),
                KeyValue::str("host", "h1"),
            ]))
            .scope(&Arc::new(Scope {
                name: "lib".into(),
                ..Scope::default()
            }))
            .name("op")
            .kind(SpanKind::Server)
            .str_attrs(attrs)
            .events(vec![Event {
                name: "ev".into(),
                attributes: vec![KeyValue::str("event.key", "boom")],
                ..Event::default()
            }])
            .error(error)
            .build()
    }

    fn m(expr: &str, record: &SpanRecord) -> bool {
        FilterExpr::parse(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .matches(record)
    }

    #[test]
    fn conditions_and_combinators() {
        let s = span(&[("http.method", "GET"), ("http.status_code", "503")], true);
        assert!(m("http.method=GET", &s));
        assert!(!m("http.method=POST", &s));
        assert!(m("http.method!=POST", &s));
        assert!(!m("http.method!=GET", &s));
        assert!(!m("missing!=x", &s), "!= needs the key");
        assert!(m("NOT missing=x", &s), "NOT does not");
        assert!(m("http.status_code=~5..", &s));
        assert!(!m("http.status_code=~5", &s), "regexes match whole values");
        assert!(m("http.status_code!~2..", &s));
        assert!(m("http.method", &s));
        assert!(!m("db.system", &s));
        assert!(m("!db.system", &s));
        assert!(m("http.method=GET error=true", &s), "juxtaposition is AND");
        assert!(m("http.method=POST OR error=true", &s));
        assert!(m("http.method=POST or (error and span.kind=server)", &s));
        assert!(!m("http.method=POST OR NOT error", &s));
        assert!(m("not (a=1 or b=2) and host=h1", &s), "resource attributes");
        assert!(m("resource.host=~h.", &s));
        assert!(!m("resource.http.method", &s));
        assert!(m("event.key=boom", &s), "event attributes");
        assert!(m("scope.name=lib scope.name", &s));
        assert!(!m("scope.version", &s), "an empty scope version is absent");
        assert!(m("span.status=~ERR.*", &s));
        assert!(m(r#""http.method" = "GET""#, &s));
        assert!(m(r#"http.method=~"G(E|X)T""#, &s));
        let q = span(&[("msg", "say \"hi\" (now)")], false);
        assert!(m(r#"msg="say \"hi\" (now)""#, &q));
        assert!(m("error=false", &q));
        assert!(m("((msg))", &q));
    }

    #[test]
    fn tags_the_jaeger_json_synthesizes_are_searchable() {
        use crate::{TagFilter, TraceQuery, matches_span};
        let tag = |r: &SpanRecord, k: &str, v: &str| {
            matches_span(
                r,
                &TraceQuery {
                    tags: vec![TagFilter::new(k, v)],
                    limit: 1,
                    ..TraceQuery::default()
                },
            )
        };
        let mut s = span(&[], true);
        s.span.status.message = "boom".into();
        s.span.trace_state = "vendor=x".into();
        s.scope = Arc::new(Scope {
            name: "lib".into(),
            version: "1.2.3".into(),
            ..Scope::default()
        });
        s.span.events.push(Event {
            name: "exception".into(),
            attributes: vec![KeyValue::str("exception.message", "bad")],
            ..Event::default()
        });
        s.span.events.push(Event {
            name: "hidden-name".into(),
            attributes: vec![KeyValue::str("event", "own")],
            ..Event::default()
        });
        for (k, v) in [
            ("otel.status_code", "ERROR"),
            ("otel.status_description", "boom"),
            ("otel.scope.name", "lib"),
            ("otel.scope.version", "1.2.3"),
            ("w3c.tracestate", "vendor=x"),
            ("event", "exception"),
            ("event", "ev"),
            ("event", "own"),
            ("exception.message", "bad"),
            ("error", "true"),
            ("span.kind", "server"),
        ] {
            assert!(tag(&s, k, v), "{k}={v}");
            assert!(m(&format!("{k}=\"{v}\""), &s), "filter {k}={v}");
        }
        for (k, v) in [
            ("otel.status_code", "OK"),
            ("otel.status_code", "error"),
            ("otel.status_description", "other"),
            ("event", "hidden-name"),
            ("w3c.tracestate", ""),
        ] {
            assert!(!tag(&s, k, v), "{k}={v}");
        }
        assert!(m(
            "otel.status_code AND w3c.tracestate AND event=~exc.*",
            &s
        ));
        // The JSON omits what is empty or unset: so does the search.
        let mut plain = span(&[], false);
        plain.scope = Arc::new(Scope::default());
        plain.span.events.clear();
        for k in [
            "otel.status_code",
            "otel.status_description",
            "otel.scope.name",
            "otel.scope.version",
            "w3c.tracestate",
            "event",
        ] {
            assert!(!m(k, &plain), "{k} is absent");
            assert!(!tag(&plain, k, ""), "{k}=\"\"");
        }
        plain.span.status.code = StatusCode::Ok;
        assert!(tag(&plain, "otel.status_code", "OK"));
        // An attribute of a synthesized name is found as well.
        let attr = span(&[("otel.status_code", "CUSTOM")], false);
        assert!(tag(&attr, "otel.status_code", "CUSTOM"));
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let s = span(&[("a", "1")], false);
        // a=1 OR (b=1 AND c=1)
        assert!(m("a=1 OR b=1 AND c=1", &s));
        // (NOT a=1) AND b — false
        assert!(!m("NOT a=1 b", &s));
        assert!(m("NOT NOT a=1", &s));
    }

    #[test]
    fn errors_say_where() {
        let cases = [
            ("", 1, "empty"),
            ("a=", 3, "expected a value after '='"),
            ("(a=1", 1, "unclosed '('"),
            ("a=1)", 4, "unbalanced ')'"),
            ("a=1 OR", 7, "expected a condition"),
            ("\"abc", 1, "unterminated"),
            ("a=~(", 2, "invalid regex"),
            ("()", 2, "empty parentheses"),
            ("=x", 1, "expected a key"),
            ("a=1 b=2 ) c", 9, "unbalanced"),
        ];
        for (expr, position, text) in cases {
            let e = FilterExpr::parse(expr).unwrap_err();
            assert_eq!(e.position, position, "{expr}: {e}");
            assert!(e.message.contains(text), "{expr}: {e}");
        }
    }

    #[test]
    fn hostile_expressions_are_capped() {
        let deep = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        assert!(
            FilterExpr::parse(&deep)
                .unwrap_err()
                .message
                .contains("deeper")
        );
        let nots = format!("{}a", "!".repeat(100));
        assert!(FilterExpr::parse(&nots).is_err());
        let long = "a ".repeat(MAX_FILTER_BYTES);
        assert!(
            FilterExpr::parse(&long)
                .unwrap_err()
                .message
                .contains("longer")
        );
        let many = "a ".repeat(MAX_FILTER_CONDITIONS + 1);
        assert!(
            FilterExpr::parse(&many)
                .unwrap_err()
                .message
                .contains("conditions")
        );
        let huge = "a=~\"(x{1000}){1000}\"";
        assert!(
            FilterExpr::parse(huge)
                .unwrap_err()
                .message
                .contains("too large")
        );
    }

    #[test]
    fn random_input_never_panics() {
        let alphabet: Vec<char> = "ab=!~()\" \\ORANDNOTé.5*?[]{}".chars().collect();
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let record = span(&[("a", "b")], true);
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            let s: String = (0..len)
                .map(|i| alphabet[((x >> (i % 8 * 8)) as usize + i * 7) % alphabet.len()])
                .collect();
            match FilterExpr::parse(&s) {
                Ok(e) => {
                    let _ = e.matches(&record);
                    let _ = e.may_match(&mut |_| false);
                }
                Err(e) => assert!(
                    e.position >= 1 && e.position <= s.chars().count() + 1,
                    "{s:?}: {e}"
                ),
            }
        }
    }

    #[test]
    fn pruning_only_relies_on_required_keys() {
        let e = FilterExpr::parse("a=1 (b OR c=~x) NOT d").unwrap();
        assert!(e.may_match(&mut |k| k != "d"));
        assert!(!e.may_match(&mut |k| k != "a"));
        assert!(e.may_match(&mut |k| k != "b"));
        assert!(!e.may_match(&mut |k| k != "b" && k != "c"));
        let n = FilterExpr::parse("NOT a").unwrap();
        assert!(n.may_match(&mut |_| false));
        assert_eq!(e.keys(), vec!["a", "b", "c", "d"]);
    }
}
