//! The engine's own compact binary encoding of a [`SpanBatch`] (WAL records)
//! and of single [`AnyValue`]s (complex attribute values in blocks).
//!
//! This is not a wire format and not protobuf: it is a private, versioned
//! layout that only the engine reads. All integers are unsigned LEB128
//! varints unless noted; signed integers are zigzag varints; strings and
//! byte strings are a varint length followed by the bytes (strings are UTF-8,
//! checked on read).
//!
//! ```text
//! batch     := version:u8(=1) resources scopes spans
//! resources := count (attrs dropped:varint schema_url:str)*
//! scopes    := count (name:str version:str attrs dropped:varint schema_url:str)*
//! spans     := count span*
//! span      := resource_index scope_index trace_id:[16] span_id:[8] parent_span_id:[8]
//!              trace_state:str flags:varint name:str kind:u8
//!              start:u64le duration:varint attrs dropped:varint
//!              events dropped_events:varint links dropped_links:varint
//!              status_code:u8 status_message:str
//! events    := count (time_delta_from_span_start:zigzag name:str attrs dropped:varint)*
//! links     := count (trace_id:[16] span_id:[8] trace_state:str attrs dropped:varint flags:varint)*
//! attrs     := count (key:str value)*
//! value     := tag:u8 payload   (0 empty, 1 str, 2 bool:u8, 3 int:zigzag,
//!                                4 double:u64le bits, 5 bytes, 6 array: count value*,
//!                                7 kvlist: attrs)
//! ```
//!
//! A span's end time is stored as its (saturating) duration when the end is
//! not before the start; otherwise the duration field is 0 and the span
//! carries the end explicitly, flagged by kind bit 7, so every span round-trips
//! exactly. Resources and scopes are written once per batch and shared by
//! index (the decoded spans of one batch share their `Arc`s).
//!
//! Decoding never panics: every read is bounds-checked, counts are checked
//! against the bytes left before anything is allocated, and nesting of
//! values is limited to [`MAX_DEPTH`].

use std::sync::Arc;

use spoor_model::group::ArcIndex;
use spoor_model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanBatch, SpanId, SpanKind,
    SpanRecord, Status, StatusCode, TraceId,
};

/// The batch layout version this build writes.
pub const BATCH_VERSION: u8 = 1;

/// Deepest nesting of arrays and maps a decoder accepts.
pub const MAX_DEPTH: usize = 64;

const KIND_EXPLICIT_END: u8 = 0x80;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("unexpected end of record at byte {0}")]
    Truncated(usize),
    #[error("varint too long at byte {0}")]
    VarintOverflow(usize),
    #[error("count {count} at byte {at} exceeds the bytes left")]
    CountTooLarge { count: u64, at: usize },
    #[error("invalid UTF-8 in a string at byte {0}")]
    InvalidUtf8(usize),
    #[error("unknown value tag {tag} at byte {at}")]
    UnknownTag { tag: u8, at: usize },
    #[error("values nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("{what} index {index} out of range")]
    BadIndex { what: &'static str, index: u64 },
    #[error("unsupported batch version {0}")]
    UnsupportedVersion(u8),
    #[error("{0} trailing byte(s) after the batch")]
    TrailingBytes(usize),
    #[error("value {0} does not fit")]
    Overflow(u64),
}

// ---------------------------------------------------------------- writing

/// Appends an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

/// A string table: its length, then each string; read by [`Reader::strings`].
pub(crate) fn put_strings<S: AsRef<str>>(out: &mut Vec<u8>, strings: &[S]) {
    put_varint(out, strings.len() as u64);
    for s in strings {
        put_str(out, s.as_ref());
    }
}

fn put_attrs(out: &mut Vec<u8>, attrs: &[KeyValue]) {
    put_varint(out, attrs.len() as u64);
    for kv in attrs {
        put_str(out, &kv.key);
        put_value(out, &kv.value);
    }
}

/// Appends one value in the layout described in the module documentation.
pub(crate) fn put_value(out: &mut Vec<u8>, v: &AnyValue) {
    match v {
        AnyValue::Empty => out.push(0),
        AnyValue::Str(s) => {
            out.push(1);
            put_str(out, s);
        }
        AnyValue::Bool(b) => {
            out.push(2);
            out.push(u8::from(*b));
        }
        AnyValue::Int(i) => {
            out.push(3);
            put_zigzag(out, *i);
        }
        AnyValue::Double(d) => {
            out.push(4);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        AnyValue::Bytes(b) => {
            out.push(5);
            put_bytes(out, b);
        }
        AnyValue::Array(items) => {
            out.push(6);
            put_varint(out, items.len() as u64);
            for item in items {
                put_value(out, item);
            }
        }
        AnyValue::KvList(kvs) => {
            out.push(7);
            put_attrs(out, kvs);
        }
    }
}

/// Encodes one value on its own (used for complex values in blocks).
pub fn encode_value(v: &AnyValue) -> Vec<u8> {
    let mut out = Vec::new();
    put_value(&mut out, v);
    out
}

/// Appends the encoding of `batch` to `out`.
pub fn encode_batch(batch: &SpanBatch, out: &mut Vec<u8>) {
    out.push(BATCH_VERSION);
    // Resources and scopes are shared by pointer within a batch; identical
    // copies behind different pointers are simply written twice.
    let mut resources: Vec<&Arc<Resource>> = Vec::new();
    let mut resource_index: ArcIndex<Resource> = ArcIndex::new();
    let mut scopes: Vec<&Arc<Scope>> = Vec::new();
    let mut scope_index: ArcIndex<Scope> = ArcIndex::new();
    let mut indexes = Vec::with_capacity(batch.spans.len());
    for record in &batch.spans {
        let r = resource_index.index(&record.resource);
        if r.is_new() {
            resources.push(&record.resource);
        }
        let s = scope_index.index(&record.scope);
        if s.is_new() {
            scopes.push(&record.scope);
        }
        indexes.push((r.index() as u64, s.index() as u64));
    }
    put_varint(out, resources.len() as u64);
    for r in &resources {
        put_attrs(out, &r.attributes);
        put_varint(out, u64::from(r.dropped_attributes_count));
        put_str(out, &r.schema_url);
    }
    put_varint(out, scopes.len() as u64);
    for s in &scopes {
        put_str(out, &s.name);
        put_str(out, &s.version);
        put_attrs(out, &s.attributes);
        put_varint(out, u64::from(s.dropped_attributes_count));
        put_str(out, &s.schema_url);
    }
    put_varint(out, batch.spans.len() as u64);
    for (record, (r, s)) in batch.spans.iter().zip(indexes) {
        put_varint(out, r);
        put_varint(out, s);
        put_span(out, &record.span);
    }
}

fn put_span(out: &mut Vec<u8>, span: &Span) {
    out.extend_from_slice(&span.trace_id.0);
    out.extend_from_slice(&span.span_id.0);
    out.extend_from_slice(&span.parent_span_id.0);
    put_str(out, &span.trace_state);
    put_varint(out, u64::from(span.flags));
    put_str(out, &span.name);
    let explicit_end = span.end_time_unix_nano < span.start_time_unix_nano;
    let kind = span.kind as u8 | if explicit_end { KIND_EXPLICIT_END } else { 0 };
    out.push(kind);
    out.extend_from_slice(&span.start_time_unix_nano.to_le_bytes());
    if explicit_end {
        put_varint(out, 0);
        out.extend_from_slice(&span.end_time_unix_nano.to_le_bytes());
    } else {
        put_varint(out, span.end_time_unix_nano - span.start_time_unix_nano);
    }
    put_attrs(out, &span.attributes);
    put_varint(out, u64::from(span.dropped_attributes_count));
    put_varint(out, span.events.len() as u64);
    for e in &span.events {
        // Event times are usually close to the span start: store the difference.
        put_zigzag(
            out,
            (e.time_unix_nano as i64).wrapping_sub(span.start_time_unix_nano as i64),
        );
        put_str(out, &e.name);
        put_attrs(out, &e.attributes);
        put_varint(out, u64::from(e.dropped_attributes_count));
    }
    put_varint(out, u64::from(span.dropped_events_count));
    put_varint(out, span.links.len() as u64);
    for l in &span.links {
        out.extend_from_slice(&l.trace_id.0);
        out.extend_from_slice(&l.span_id.0);
        put_str(out, &l.trace_state);
        put_attrs(out, &l.attributes);
        put_varint(out, u64::from(l.dropped_attributes_count));
        put_varint(out, u64::from(l.flags));
    }
    put_varint(out, u64::from(span.dropped_links_count));
    out.push(span.status.code as u8);
    put_str(out, &span.status.message);
}

// ---------------------------------------------------------------- reading

/// A bounds-checked cursor over a byte slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if n > self.remaining() {
            return Err(RecordError::Truncated(self.pos));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn varint(&mut self) -> Result<u64, RecordError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(RecordError::VarintOverflow(start));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(RecordError::VarintOverflow(start))
    }

    pub(crate) fn u32_varint(&mut self) -> Result<u32, RecordError> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| RecordError::Overflow(v))
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64, RecordError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A count of items that each take at least `min_item_bytes` bytes.
    pub(crate) fn count(&mut self, min_item_bytes: usize) -> Result<usize, RecordError> {
        let at = self.pos;
        let n = self.varint()?;
        let max = self.remaining() / min_item_bytes.max(1);
        if n > max as u64 {
            return Err(RecordError::CountTooLarge { count: n, at });
        }
        Ok(n as usize)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], RecordError> {
        let n = self.count(1)?;
        self.take(n)
    }

    pub(crate) fn string(&mut self) -> Result<String, RecordError> {
        let at = self.pos;
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| RecordError::InvalidUtf8(at))
    }

    /// A string table written by [`put_strings`].
    pub(crate) fn strings(&mut self) -> Result<Vec<String>, RecordError> {
        let n = self.count(1)?;
        let mut strings = Vec::with_capacity(n);
        for _ in 0..n {
            strings.push(self.string()?);
        }
        Ok(strings)
    }

    pub(crate) fn attrs(&mut self, depth: usize) -> Result<Vec<KeyValue>, RecordError> {
        // A key-value takes at least 2 bytes (empty key, empty value tag).
        let n = self.count(2)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let key = self.string()?;
            let value = self.value(depth)?;
            out.push(KeyValue { key, value });
        }
        Ok(out)
    }

    pub(crate) fn value(&mut self, depth: usize) -> Result<AnyValue, RecordError> {
        if depth > MAX_DEPTH {
            return Err(RecordError::TooDeep);
        }
        let at = self.pos;
        Ok(match self.u8()? {
            0 => AnyValue::Empty,
            1 => AnyValue::Str(self.string()?),
            2 => AnyValue::Bool(self.u8()? != 0),
            3 => AnyValue::Int(self.zigzag()?),
            4 => AnyValue::Double(f64::from_bits(self.u64_le()?)),
            5 => AnyValue::Bytes(self.bytes()?.to_vec()),
            6 => {
                let n = self.count(1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                AnyValue::Array(items)
            }
            7 => AnyValue::KvList(self.attrs(depth + 1)?),
            tag => return Err(RecordError::UnknownTag { tag, at }),
        })
    }

    fn span(&mut self) -> Result<Span, RecordError> {
        let trace_id = TraceId(self.array()?);
        let span_id = SpanId(self.array()?);
        let parent_span_id = SpanId(self.array()?);
        let trace_state = self.string()?;
        let flags = self.u32_varint()?;
        let name = self.string()?;
        let kind_byte = self.u8()?;
        let kind = SpanKind::from_i32(i32::from(kind_byte & !KIND_EXPLICIT_END));
        let start = self.u64_le()?;
        let duration = self.varint()?;
        let end = if kind_byte & KIND_EXPLICIT_END != 0 {
            self.u64_le()?
        } else {
            start
                .checked_add(duration)
                .ok_or(RecordError::Overflow(duration))?
        };
        let attributes = self.attrs(0)?;
        let dropped_attributes_count = self.u32_varint()?;
        // An event takes at least 4 bytes.
        let n_events = self.count(4)?;
        let mut events = Vec::with_capacity(n_events);
        for _ in 0..n_events {
            let delta = self.zigzag()?;
            events.push(Event {
                time_unix_nano: (start as i64).wrapping_add(delta) as u64,
                name: self.string()?,
                attributes: self.attrs(0)?,
                dropped_attributes_count: self.u32_varint()?,
            });
        }
        let dropped_events_count = self.u32_varint()?;
        // A link takes at least 28 bytes.
        let n_links = self.count(28)?;
        let mut links = Vec::with_capacity(n_links);
        for _ in 0..n_links {
            links.push(Link {
                trace_id: TraceId(self.array()?),
                span_id: SpanId(self.array()?),
                trace_state: self.string()?,
                attributes: self.attrs(0)?,
                dropped_attributes_count: self.u32_varint()?,
                flags: self.u32_varint()?,
            });
        }
        let dropped_links_count = self.u32_varint()?;
        let code = StatusCode::from_i32(i32::from(self.u8()?));
        let message = self.string()?;
        Ok(Span {
            trace_id,
            span_id,
            parent_span_id,
            trace_state,
            flags,
            name,
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            dropped_attributes_count,
            events,
            dropped_events_count,
            links,
            dropped_links_count,
            status: Status { code, message },
        })
    }
}

/// Decodes one value written by [`encode_value`]; the whole input must be used.
pub fn decode_value(bytes: &[u8]) -> Result<AnyValue, RecordError> {
    let mut r = Reader::new(bytes);
    let v = r.value(0)?;
    if r.remaining() != 0 {
        return Err(RecordError::TrailingBytes(r.remaining()));
    }
    Ok(v)
}

/// Decodes a batch written by [`encode_batch`]; the whole input must be used.
pub fn decode_batch(bytes: &[u8]) -> Result<SpanBatch, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.u8()?;
    if version != BATCH_VERSION {
        return Err(RecordError::UnsupportedVersion(version));
    }
    // A resource takes at least 3 bytes, a scope at least 5.
    let n = r.count(3)?;
    let mut resources = Vec::with_capacity(n);
    for _ in 0..n {
        resources.push(Arc::new(Resource {
            attributes: r.attrs(0)?,
            dropped_attributes_count: r.u32_varint()?,
            schema_url: r.string()?,
        }));
    }
    let n = r.count(5)?;
    let mut scopes = Vec::with_capacity(n);
    for _ in 0..n {
        scopes.push(Arc::new(Scope {
            name: r.string()?,
            version: r.string()?,
            attributes: r.attrs(0)?,
            dropped_attributes_count: r.u32_varint()?,
            schema_url: r.string()?,
        }));
    }
    // A span takes well over 40 bytes.
    let n = r.count(40)?;
    let mut spans = Vec::with_capacity(n);
    for _ in 0..n {
        let ri = r.varint()?;
        let si = r.varint()?;
        let resource = usize::try_from(ri)
            .ok()
            .and_then(|i| resources.get(i))
            .ok_or(RecordError::BadIndex {
                what: "resource",
                index: ri,
            })?;
        let scope =
            usize::try_from(si)
                .ok()
                .and_then(|i| scopes.get(i))
                .ok_or(RecordError::BadIndex {
                    what: "scope",
                    index: si,
                })?;
        let span = r.span()?;
        spans.push(SpanRecord::new(
            Arc::clone(resource),
            Arc::clone(scope),
            span,
        ));
    }
    if r.remaining() != 0 {
        return Err(RecordError::TrailingBytes(r.remaining()));
    }
    Ok(SpanBatch { spans })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    /// A batch exercising every field and value type.
    pub(crate) fn rich_batch() -> SpanBatch {
        let resource = Arc::new(Resource {
            attributes: vec![
                KeyValue::str("service.name", "svc"),
                KeyValue::new("host.cpu", AnyValue::Int(-4)),
            ],
            dropped_attributes_count: 2,
            schema_url: "https://schema".into(),
        });
        let other_resource = Arc::new(Resource::default());
        let scope = Arc::new(Scope {
            name: "lib".into(),
            version: "1.2".into(),
            attributes: vec![KeyValue::new("x", AnyValue::Bool(true))],
            dropped_attributes_count: 1,
            schema_url: String::new(),
        });
        let nested = AnyValue::KvList(vec![
            KeyValue::new(
                "arr",
                AnyValue::Array(vec![
                    AnyValue::Empty,
                    AnyValue::Double(f64::NAN),
                    AnyValue::Double(-0.0),
                    AnyValue::Bytes(vec![0, 255]),
                ]),
            ),
            KeyValue::new("deep", AnyValue::KvList(vec![KeyValue::str("ü", "ß")])),
        ]);
        let span = Span {
            trace_id: TraceId::from_halves(u64::MAX, 7),
            span_id: SpanId::from_u64(1),
            parent_span_id: SpanId::from_u64(2),
            trace_state: "k=v".into(),
            flags: 0x301,
            name: "GET /".into(),
            kind: SpanKind::Server,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_123_000_000,
            attributes: vec![
                KeyValue::new("i", AnyValue::Int(i64::MIN)),
                KeyValue::new("d", AnyValue::Double(1.5)),
                KeyValue::new("m", nested),
            ],
            dropped_attributes_count: 3,
            events: vec![
                Event {
                    time_unix_nano: 1_700_000_000_001_000_000,
                    name: "ev".into(),
                    attributes: vec![KeyValue::str("a", "b")],
                    dropped_attributes_count: 4,
                },
                Event {
                    time_unix_nano: 5,
                    ..Event::default()
                },
            ],
            dropped_events_count: 5,
            links: vec![Link {
                trace_id: TraceId::from_halves(1, 2),
                span_id: SpanId::from_u64(3),
                trace_state: "ts".into(),
                attributes: vec![KeyValue::str("l", "m")],
                dropped_attributes_count: 6,
                flags: 7,
            }],
            dropped_links_count: 8,
            status: Status {
                code: StatusCode::Error,
                message: "boom".into(),
            },
        };
        let mut backwards = span.clone();
        backwards.span_id = SpanId::from_u64(9);
        backwards.end_time_unix_nano = 10;
        backwards.kind = SpanKind::Consumer;
        let bare = Span {
            start_time_unix_nano: u64::MAX,
            end_time_unix_nano: u64::MAX,
            ..Span::default()
        };
        SpanBatch {
            spans: vec![
                SpanRecord::new(Arc::clone(&resource), Arc::clone(&scope), span),
                SpanRecord::new(Arc::clone(&resource), Arc::clone(&scope), backwards),
                SpanRecord::new(other_resource, Arc::new(Scope::default()), bare),
            ],
        }
    }

    /// Compares batches field by field, treating NaN as equal to NaN.
    fn same(a: &SpanBatch, b: &SpanBatch) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn a_batch_round_trips_exactly() {
        let batch = rich_batch();
        let mut bytes = Vec::new();
        encode_batch(&batch, &mut bytes);
        let back = decode_batch(&bytes).unwrap();
        assert!(same(&batch, &back), "{batch:?}\n!=\n{back:?}");
        // Resources and scopes stay shared within the batch.
        assert!(Arc::ptr_eq(
            &back.spans[0].resource,
            &back.spans[1].resource
        ));
        assert!(!Arc::ptr_eq(
            &back.spans[0].resource,
            &back.spans[2].resource
        ));
        // An empty batch is four bytes.
        let mut empty = Vec::new();
        encode_batch(&SpanBatch::default(), &mut empty);
        assert_eq!(empty, vec![BATCH_VERSION, 0, 0, 0]);
        assert_eq!(decode_batch(&empty).unwrap(), SpanBatch::default());
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        encode_batch(&rich_batch(), &mut bytes);
        for cut in 0..bytes.len() {
            assert!(decode_batch(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // Flip every byte in turn: decoding may succeed or fail, never panic.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = decode_batch(&b);
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode_batch(&trailing), Err(RecordError::TrailingBytes(1)));
        let mut future = bytes.clone();
        future[0] = 99;
        assert_eq!(
            decode_batch(&future),
            Err(RecordError::UnsupportedVersion(99))
        );
    }

    #[test]
    fn pseudo_random_bytes_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 200) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(b) = bytes.first_mut() {
                *b = BATCH_VERSION;
            }
            let _ = decode_batch(&bytes);
            let _ = decode_value(&bytes);
        }
    }

    #[test]
    fn huge_counts_and_deep_nesting_are_rejected() {
        // A batch claiming 2^62 resources.
        let mut bytes = vec![BATCH_VERSION];
        put_varint(&mut bytes, 1 << 62);
        assert!(matches!(
            decode_batch(&bytes),
            Err(RecordError::CountTooLarge { .. })
        ));
        // 100 nested arrays.
        let mut v = AnyValue::Int(1);
        for _ in 0..100 {
            v = AnyValue::Array(vec![v]);
        }
        assert_eq!(decode_value(&encode_value(&v)), Err(RecordError::TooDeep));
        let ok = AnyValue::Array(vec![AnyValue::Array(vec![AnyValue::Str("x".into())])]);
        assert_eq!(decode_value(&encode_value(&ok)), Ok(ok));
        // An 11-byte varint overflows.
        let mut r = Reader::new(&[0xff; 11]);
        assert!(matches!(r.varint(), Err(RecordError::VarintOverflow(0))));
        let mut bytes = Vec::new();
        put_varint(&mut bytes, u64::MAX);
        assert_eq!(Reader::new(&bytes).varint(), Ok(u64::MAX));
    }
}
