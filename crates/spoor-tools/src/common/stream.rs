//! Incremental readers for files of any size: JSON documents split into
//! their elements, and protobuf messages split into their top-level fields.
//! Neither ever holds more than one element (bounded by a cap) in memory.

use std::io::Read;

use anyhow::{Result, bail};

/// Largest single element (a trace, a `ResourceSpans`, a span) accepted.
pub const MAX_ELEMENT_BYTES: usize = 512 << 20;

const READ_CHUNK: usize = 256 << 10;

/// Bytes from a reader, with one byte of lookahead.
struct Bytes<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Bytes consumed before `buf`.
    offset: u64,
}

impl<R: Read> Bytes<R> {
    fn new(inner: R) -> Self {
        Bytes {
            inner,
            buf: vec![0; READ_CHUNK],
            pos: 0,
            len: 0,
            offset: 0,
        }
    }

    fn fill(&mut self) -> Result<bool> {
        if self.pos < self.len {
            return Ok(true);
        }
        self.offset += self.len as u64;
        self.pos = 0;
        self.len = loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        Ok(self.len > 0)
    }

    fn peek(&mut self) -> Result<Option<u8>> {
        Ok(if self.fill()? {
            Some(self.buf[self.pos])
        } else {
            None
        })
    }

    fn next(&mut self) -> Result<Option<u8>> {
        let b = self.peek()?;
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }

    fn position(&self) -> u64 {
        self.offset + self.pos as u64
    }
}

/// The elements of JSON input, one at a time, as raw bytes:
///
/// - a top-level array yields its elements;
/// - a top-level object with one of the `container_keys` holding an array
///   (`{"data": [...]}`, `{"resourceSpans": [...]}`) yields that array's
///   elements, the other members are skipped;
/// - any other top-level object is an element itself.
///
/// Top-level values may follow each other (JSON Lines, `jq` output,
/// concatenated documents).
pub struct JsonElements<R> {
    bytes: Bytes<R>,
    container_keys: &'static [&'static str],
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Top,
    InArray { container: bool, first: bool },
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<R: Read> JsonElements<R> {
    pub fn new(reader: R, container_keys: &'static [&'static str]) -> Self {
        JsonElements {
            bytes: Bytes::new(reader),
            container_keys,
            state: State::Top,
        }
    }

    fn skip_ws(&mut self) -> Result<Option<u8>> {
        loop {
            match self.bytes.peek()? {
                Some(b) if is_ws(b) => self.bytes.pos += 1,
                // A UTF-8 byte order mark.
                Some(0xEF) if self.bytes.position() == 0 => {
                    for want in [0xEF, 0xBB, 0xBF] {
                        if self.bytes.next()? != Some(want) {
                            bail!("invalid byte at the start of the file");
                        }
                    }
                }
                other => return Ok(other),
            }
        }
    }

    fn error(&self, what: &str) -> anyhow::Error {
        anyhow::anyhow!("invalid JSON at byte {}: {what}", self.bytes.position())
    }

    fn expect(&mut self, want: u8) -> Result<()> {
        match self.skip_ws()? {
            Some(b) if b == want => {
                self.bytes.pos += 1;
                Ok(())
            }
            Some(b) => Err(self.error(&format!(
                "expected '{}', found '{}'",
                want as char,
                b.escape_ascii()
            ))),
            None => Err(self.error(&format!("expected '{}', found the end", want as char))),
        }
    }

    fn push(out: &mut Vec<u8>, b: u8) -> Result<()> {
        if out.len() >= MAX_ELEMENT_BYTES {
            bail!("a JSON element is larger than {MAX_ELEMENT_BYTES} bytes");
        }
        out.push(b);
        Ok(())
    }

    /// The rest of a string whose opening quote is already in `out`.
    fn string_rest(&mut self, out: &mut Vec<u8>) -> Result<()> {
        loop {
            let Some(b) = self.bytes.next()? else {
                return Err(self.error("unterminated string"));
            };
            Self::push(out, b)?;
            match b {
                b'"' => return Ok(()),
                b'\\' => {
                    let Some(e) = self.bytes.next()? else {
                        return Err(self.error("unterminated string"));
                    };
                    Self::push(out, e)?;
                }
                _ => {}
            }
        }
    }

    /// One complete value, appended to `out` as it is in the input.
    fn value(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let Some(first) = self.skip_ws()? else {
            return Err(self.error("expected a value, found the end"));
        };
        match first {
            b'"' => {
                self.bytes.pos += 1;
                Self::push(out, b'"')?;
                self.string_rest(out)
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    let Some(b) = self.bytes.next()? else {
                        return Err(self.error("unterminated object or array"));
                    };
                    Self::push(out, b)?;
                    match b {
                        b'"' => self.string_rest(out)?,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                // A number, true, false or null: up to the next delimiter.
                let start = out.len();
                while let Some(b) = self.bytes.peek()? {
                    if is_ws(b) || matches!(b, b',' | b'}' | b']' | b'{' | b'[') {
                        break;
                    }
                    self.bytes.pos += 1;
                    Self::push(out, b)?;
                }
                if out.len() == start {
                    return Err(self.error("expected a value"));
                }
                Ok(())
            }
        }
    }

    /// Reads the members of an object whose `{` was consumed. Returns the
    /// object when it has no container key; otherwise stops right after the
    /// container's `[` and returns `None`.
    fn object(&mut self) -> Result<Option<Vec<u8>>> {
        let mut out = vec![b'{'];
        let mut first = true;
        loop {
            match self.skip_ws()? {
                Some(b'}') => {
                    self.bytes.pos += 1;
                    out.push(b'}');
                    return Ok(Some(out));
                }
                Some(b',') if !first => {
                    self.bytes.pos += 1;
                    out.push(b',');
                }
                Some(b'"') => {
                    let mut key = Vec::new();
                    self.value(&mut key)?;
                    self.expect(b':')?;
                    let is_container = key.len() >= 2
                        && self
                            .container_keys
                            .iter()
                            .any(|k| k.as_bytes() == &key[1..key.len() - 1]);
                    if is_container && self.skip_ws()? == Some(b'[') {
                        self.bytes.pos += 1;
                        self.state = State::InArray {
                            container: true,
                            first: true,
                        };
                        return Ok(None);
                    }
                    out.extend_from_slice(&key);
                    out.push(b':');
                    self.value(&mut out)?;
                    first = false;
                }
                _ => return Err(self.error("expected a member name or '}'")),
            }
        }
    }

    /// Skips the members after a container array, through the closing `}`.
    fn rest_of_object(&mut self) -> Result<()> {
        loop {
            match self.skip_ws()? {
                Some(b'}') => {
                    self.bytes.pos += 1;
                    return Ok(());
                }
                Some(b',') => self.bytes.pos += 1,
                Some(b'"') => {
                    let mut skipped = Vec::new();
                    self.value(&mut skipped)?;
                    self.expect(b':')?;
                    skipped.clear();
                    self.value(&mut skipped)?;
                }
                _ => return Err(self.error("expected a member name or '}'")),
            }
        }
    }

    /// The next element, or `None` at the end of the input.
    pub fn next_element(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            match self.state {
                State::Top => match self.skip_ws()? {
                    None => return Ok(None),
                    Some(b'[') => {
                        self.bytes.pos += 1;
                        self.state = State::InArray {
                            container: false,
                            first: true,
                        };
                    }
                    Some(b'{') => {
                        self.bytes.pos += 1;
                        if let Some(element) = self.object()? {
                            return Ok(Some(element));
                        }
                    }
                    Some(b) => {
                        return Err(self.error(&format!(
                            "expected an object or an array, found '{}'",
                            b.escape_ascii()
                        )));
                    }
                },
                State::InArray { container, first } => match self.skip_ws()? {
                    Some(b']') => {
                        self.bytes.pos += 1;
                        if container {
                            self.rest_of_object()?;
                        }
                        self.state = State::Top;
                    }
                    Some(b',') if !first => {
                        self.bytes.pos += 1;
                        self.state = State::InArray {
                            container,
                            first: true,
                        };
                    }
                    Some(_) => {
                        let mut out = Vec::new();
                        self.value(&mut out)?;
                        self.state = State::InArray {
                            container,
                            first: false,
                        };
                        return Ok(Some(out));
                    }
                    None => return Err(self.error("unterminated array")),
                },
            }
        }
    }

    /// Bytes read so far.
    pub fn position(&self) -> u64 {
        self.bytes.position()
    }
}

/// Appends `payload` to `out` as protobuf field 1 (length-delimited): the
/// framing that turns one `ResourceSpans` read by [`ProtoFields`] back into a
/// request (`ExportTraceServiceRequest`/`TracesData`) of its own.
pub fn push_field_1(out: &mut Vec<u8>, payload: &[u8]) {
    out.push(0x0a);
    let mut len = payload.len() as u64;
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(payload);
}

/// Splits a protobuf message, pushed in pieces, into its top-level
/// length-delimited fields (`(field number, payload)`). Used for an OTLP
/// `TracesData`, whose only field is `resource_spans = 1`.
#[derive(Default)]
pub struct ProtoFields {
    buf: Vec<u8>,
    pos: usize,
}

fn varint(bytes: &[u8]) -> Result<Option<(u64, usize)>> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if bytes.len() >= 10 {
        bail!("invalid protobuf: a varint is longer than 10 bytes");
    }
    Ok(None)
}

impl ProtoFields {
    /// Adds bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > (1 << 20) {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete field, `None` when more bytes are needed.
    pub fn next_field(&mut self) -> Result<Option<(u32, Vec<u8>)>> {
        loop {
            let rest = &self.buf[self.pos..];
            let Some((tag, tag_len)) = varint(rest)? else {
                return Ok(None);
            };
            let field = (tag >> 3) as u32;
            let wire = tag & 7;
            let rest = &rest[tag_len..];
            match wire {
                2 => {
                    let Some((len, len_len)) = varint(rest)? else {
                        return Ok(None);
                    };
                    if len > MAX_ELEMENT_BYTES as u64 {
                        bail!("a protobuf field of {len} bytes is larger than {MAX_ELEMENT_BYTES}");
                    }
                    let len = len as usize;
                    if rest.len() < len_len + len {
                        return Ok(None);
                    }
                    let payload = rest[len_len..len_len + len].to_vec();
                    self.pos += tag_len + len_len + len;
                    return Ok(Some((field, payload)));
                }
                0 => {
                    // An unknown varint field: skip it.
                    let Some((_, n)) = varint(rest)? else {
                        return Ok(None);
                    };
                    self.pos += tag_len + n;
                }
                1 | 5 => {
                    let n = if wire == 1 { 8 } else { 4 };
                    if rest.len() < n {
                        return Ok(None);
                    }
                    self.pos += tag_len + n;
                }
                _ => bail!("invalid protobuf: wire type {wire} of field {field}"),
            }
        }
    }

    /// Whether every byte pushed was consumed (a complete message).
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn elements(input: &str, keys: &'static [&'static str]) -> Vec<String> {
        let mut it = JsonElements::new(input.as_bytes(), keys);
        let mut out = Vec::new();
        while let Some(e) = it.next_element().unwrap() {
            out.push(String::from_utf8(e).unwrap());
        }
        out
    }

    #[test]
    fn splits_documents_arrays_and_streams() {
        let keys = &["data"];
        assert_eq!(
            elements(
                r#"{"data":[{"a":"]}\""},{"b":[1,2]}],"total":0,"errors":null}"#,
                keys
            ),
            vec![r#"{"a":"]}\""}"#, r#"{"b":[1,2]}"#]
        );
        assert_eq!(
            elements("{\"traceID\": \"1\", \"spans\": []}\n{\"x\":true}", keys),
            vec![r#"{"traceID":"1","spans":[]}"#, r#"{"x":true}"#]
        );
        assert_eq!(elements("[1, 2 ,3]\n[]", keys), vec!["1", "2", "3"]);
        assert_eq!(elements("\u{feff}[]", keys), Vec::<String>::new());
    }

    #[test]
    fn bad_json_is_an_error_not_a_panic() {
        for bad in ["{", "[1,", "{\"data\":[1", "x", "{\"a\" 1}", "[\"abc"] {
            let mut it = JsonElements::new(bad.as_bytes(), &["data"]);
            let mut failed = false;
            for _ in 0..5 {
                match it.next_element() {
                    Err(_) => {
                        failed = true;
                        break;
                    }
                    Ok(None) => break,
                    Ok(Some(_)) => {}
                }
            }
            assert!(failed, "{bad} should fail");
        }
    }

    #[test]
    fn proto_fields_arrive_in_pieces() {
        let message = [0x0a, 0x02, 0xAA, 0xBB, 0x08, 0x05, 0x0a, 0x00];
        let mut p = ProtoFields::default();
        let mut got = Vec::new();
        for b in message {
            p.push(&[b]);
            while let Some(f) = p.next_field().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, vec![(1, vec![0xAA, 0xBB]), (1, vec![])]);
        assert!(p.is_empty());
    }
}
