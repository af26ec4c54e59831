//! A block's trace index: for every trace in the block, sorted by trace ID,
//! the range of its rows in `spans.parquet` and its summary (start, end,
//! root service and operation, span count, error count, services).
//!
//! Serialized form (`index.bin`):
//!
//! ```text
//! magic "SPOORIDX" | version:u32le (=1) | crc32(body):u32le | body
//! body  := strings entries
//! strings := count str*                       (service and operation names)
//! entries := count entry*                     (sorted by trace ID, rows ascending)
//! entry := trace_id:[16] row_start:varint row_count:varint
//!          start:u64le end_minus_start:varint errors:varint
//!          root_service:varint root_name:varint   (string index + 1; 0 = no root span)
//!          services: count string_index*
//! ```

use std::collections::HashMap;

use spoor_model::{SpanRecord, StatusCode, TraceId, UnixNanos};

use crate::record::{Reader, RecordError, put_strings, put_varint};

const MAGIC: &[u8; 8] = b"SPOORIDX";
/// The index format version this build writes and reads.
pub const INDEX_VERSION: u32 = 1;
const NONE: u32 = u32::MAX;

/// One trace's entry in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceEntry {
    pub(crate) trace_id: TraceId,
    pub(crate) row_start: u32,
    pub(crate) row_count: u32,
    pub(crate) start: UnixNanos,
    pub(crate) end: UnixNanos,
    pub(crate) errors: u32,
    root_service: u32,
    root_name: u32,
    services_at: u32,
    services_len: u32,
}

/// What a block's trace index keeps about a trace (or the pieces of one
/// trace merged across blocks and the head), answered from memory. Not the
/// summary of search results (`spoor_storage::TraceSummary`, Jaeger's):
/// it has no per-service counts and no orphan count (a span's parent may be
/// in another piece), counts a span written twice twice, and sees the
/// spans as stored, before the query service's adjusters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredSummary {
    pub trace_id: TraceId,
    /// Earliest span start.
    pub start: UnixNanos,
    /// Latest span end.
    pub end: UnixNanos,
    /// Service and operation of the root span (no parent), when present.
    pub root: Option<(String, String)>,
    pub span_count: u64,
    /// Spans with status ERROR.
    pub error_count: u64,
    /// Distinct services, sorted.
    pub services: Vec<String>,
}

impl StoredSummary {
    /// Folds in another piece of the same trace.
    pub fn merge(&mut self, other: &StoredSummary) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        if self.root.is_none() {
            self.root = other.root.clone();
        }
        self.span_count += other.span_count;
        self.error_count += other.error_count;
        for s in &other.services {
            if let Err(at) = self.services.binary_search(s) {
                self.services.insert(at, s.clone());
            }
        }
    }
}

/// The summary of spans of one trace held together (a head's piece).
pub(crate) fn summarize(trace_id: TraceId, spans: &[SpanRecord]) -> StoredSummary {
    let mut summary = StoredSummary {
        trace_id,
        start: UnixNanos::MAX,
        ..StoredSummary::default()
    };
    let mut root_start: Option<UnixNanos> = None;
    for r in spans {
        let s = &r.span;
        summary.start = summary.start.min(s.start_time_unix_nano);
        summary.end = summary.end.max(s.end_time_unix_nano);
        summary.span_count += 1;
        if s.status.code == StatusCode::Error {
            summary.error_count += 1;
        }
        let service = r.service_name();
        if let Err(at) = summary
            .services
            .binary_search_by(|x| x.as_str().cmp(service))
        {
            summary.services.insert(at, service.to_owned());
        }
        if s.is_root() && root_start.is_none_or(|t| s.start_time_unix_nano < t) {
            root_start = Some(s.start_time_unix_nano);
            summary.root = Some((service.to_owned(), s.name.clone()));
        }
    }
    if spans.is_empty() {
        summary.start = 0;
    }
    summary
}

/// The sorted trace index of one block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TraceIndex {
    strings: Vec<String>,
    entries: Vec<TraceEntry>,
    services: Vec<u32>,
}

/// Builds a [`TraceIndex`] from spans sorted by trace ID.
#[derive(Default)]
pub(crate) struct IndexBuilder {
    index: TraceIndex,
    lookup: HashMap<String, u32>,
    current: Option<Current>,
}

struct Current {
    entry: TraceEntry,
    root_start: Option<UnixNanos>,
    services: Vec<u32>,
}

impl IndexBuilder {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.lookup.get(s) {
            return i;
        }
        let i = self.index.strings.len() as u32;
        self.index.strings.push(s.to_owned());
        self.lookup.insert(s.to_owned(), i);
        i
    }

    /// Adds the span at `row`; spans must arrive sorted by trace ID.
    pub(crate) fn push(&mut self, row: u32, record: &SpanRecord) {
        let span = &record.span;
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.entry.trace_id != span.trace_id)
        {
            self.flush();
        }
        let service = self.intern(record.service_name());
        let root_name = span.is_root().then(|| self.intern(&span.name));
        let current = self.current.get_or_insert_with(|| Current {
            entry: TraceEntry {
                trace_id: span.trace_id,
                row_start: row,
                row_count: 0,
                start: UnixNanos::MAX,
                end: 0,
                errors: 0,
                root_service: NONE,
                root_name: NONE,
                services_at: 0,
                services_len: 0,
            },
            root_start: None,
            services: Vec::new(),
        });
        let e = &mut current.entry;
        e.row_count += 1;
        e.start = e.start.min(span.start_time_unix_nano);
        e.end = e.end.max(span.end_time_unix_nano);
        if span.status.code == StatusCode::Error {
            e.errors += 1;
        }
        if !current.services.contains(&service) {
            current.services.push(service);
        }
        if let Some(name) = root_name
            && current
                .root_start
                .is_none_or(|s| span.start_time_unix_nano < s)
        {
            current.root_start = Some(span.start_time_unix_nano);
            current.entry.root_service = service;
            current.entry.root_name = name;
        }
    }

    fn flush(&mut self) {
        if let Some(mut c) = self.current.take() {
            c.services.sort_unstable_by(|a, b| {
                self.index.strings[*a as usize].cmp(&self.index.strings[*b as usize])
            });
            c.entry.services_at = self.index.services.len() as u32;
            c.entry.services_len = c.services.len() as u32;
            self.index.services.extend(c.services);
            self.index.entries.push(c.entry);
        }
    }

    pub(crate) fn finish(mut self) -> TraceIndex {
        self.flush();
        self.index
    }
}

impl TraceIndex {
    /// Number of traces.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn entries(&self) -> &[TraceEntry] {
        &self.entries
    }

    /// The entry of `trace_id`, if the block holds it.
    pub(crate) fn lookup(&self, trace_id: &TraceId) -> Option<&TraceEntry> {
        self.entries
            .binary_search_by(|e| e.trace_id.cmp(trace_id))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The position of the entry holding `row`.
    pub(crate) fn entry_at_row(&self, row: u32) -> Option<usize> {
        let i = self.entries.partition_point(|e| e.row_start <= row);
        let i = i.checked_sub(1)?;
        let e = &self.entries[i];
        (row < e.row_start + e.row_count).then_some(i)
    }

    /// The summary of one entry.
    pub(crate) fn summary(&self, e: &TraceEntry) -> StoredSummary {
        let string = |i: u32| self.strings.get(i as usize).cloned().unwrap_or_default();
        let services = self
            .services
            .get(e.services_at as usize..(e.services_at + e.services_len) as usize)
            .unwrap_or_default()
            .iter()
            .map(|&i| string(i))
            .collect();
        StoredSummary {
            trace_id: e.trace_id,
            start: e.start,
            end: e.end,
            root: (e.root_service != NONE).then(|| (string(e.root_service), string(e.root_name))),
            span_count: u64::from(e.row_count),
            error_count: u64::from(e.errors),
            services,
        }
    }

    /// Bytes held in memory, roughly.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.entries.len() * std::mem::size_of::<TraceEntry>()
            + self.services.len() * 4
            + self.strings.iter().map(|s| s.len() + 24).sum::<usize>()
    }

    /// The serialized form.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        put_strings(&mut body, &self.strings);
        put_varint(&mut body, self.entries.len() as u64);
        let opt = |i: u32| if i == NONE { 0 } else { u64::from(i) + 1 };
        for e in &self.entries {
            body.extend_from_slice(&e.trace_id.0);
            put_varint(&mut body, u64::from(e.row_start));
            put_varint(&mut body, u64::from(e.row_count));
            body.extend_from_slice(&e.start.to_le_bytes());
            put_varint(&mut body, e.end.wrapping_sub(e.start));
            put_varint(&mut body, u64::from(e.errors));
            put_varint(&mut body, opt(e.root_service));
            put_varint(&mut body, opt(e.root_name));
            put_varint(&mut body, u64::from(e.services_len));
            let at = e.services_at as usize;
            for &s in &self.services[at..at + e.services_len as usize] {
                put_varint(&mut body, u64::from(s));
            }
        }
        super::frame::seal(MAGIC, INDEX_VERSION, &body)
    }

    /// Parses the serialized form, checking every invariant the readers rely
    /// on (sorted IDs, contiguous ascending rows, string indexes in range).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<TraceIndex, IndexError> {
        let body = super::frame::open(bytes, MAGIC, INDEX_VERSION)?;
        let mut r = Reader::new(body);
        let strings = r.strings()?;
        let n_strings = strings.len() as u64;
        let string_ref = |v: u64| -> Result<u32, IndexError> {
            if v > n_strings {
                return Err(IndexError::Invalid("string index out of range"));
            }
            Ok(if v == 0 { NONE } else { (v - 1) as u32 })
        };
        let n = r.count(16 + 8 + 6)?;
        let mut entries = Vec::with_capacity(n);
        let mut services = Vec::new();
        let mut next_row: u64 = 0;
        for _ in 0..n {
            let trace_id = TraceId(r.array()?);
            let row_start = r.varint()?;
            let row_count = r.varint()?;
            if row_start != next_row || row_count == 0 {
                return Err(IndexError::Invalid("row ranges are not contiguous"));
            }
            next_row = row_start + row_count;
            if next_row > u64::from(u32::MAX) {
                return Err(IndexError::Invalid("too many rows"));
            }
            let start = r.u64_le()?;
            let end = start.wrapping_add(r.varint()?);
            let errors = u32::try_from(r.varint()?)
                .map_err(|_| IndexError::Invalid("error count out of range"))?;
            let root_service = string_ref(r.varint()?)?;
            let root_name = string_ref(r.varint()?)?;
            let len = r.count(1)?;
            let services_at = services.len() as u32;
            for _ in 0..len {
                let s = r.varint()?;
                if s >= n_strings {
                    return Err(IndexError::Invalid("service index out of range"));
                }
                services.push(s as u32);
            }
            if let Some(prev) = entries.last().map(|e: &TraceEntry| e.trace_id)
                && prev >= trace_id
            {
                return Err(IndexError::Invalid("trace IDs are not sorted"));
            }
            entries.push(TraceEntry {
                trace_id,
                row_start: row_start as u32,
                row_count: row_count as u32,
                start,
                end,
                errors,
                root_service,
                root_name,
                services_at,
                services_len: len as u32,
            });
        }
        if r.remaining() != 0 {
            return Err(IndexError::Invalid("trailing bytes"));
        }
        Ok(TraceIndex {
            strings,
            entries,
            services,
        })
    }

    /// Total rows covered.
    pub(crate) fn rows(&self) -> u64 {
        self.entries
            .last()
            .map_or(0, |e| u64::from(e.row_start) + u64::from(e.row_count))
    }
}

/// Why a serialized index was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("not a trace index (bad magic or too short)")]
    BadHeader,
    #[error("unsupported trace index version {0}")]
    Version(u32),
    #[error("trace index checksum mismatch")]
    BadChecksum,
    #[error("malformed trace index: {0}")]
    Malformed(#[from] RecordError),
    #[error("invalid trace index: {0}")]
    Invalid(&'static str),
}

impl From<super::frame::FrameError> for IndexError {
    fn from(e: super::frame::FrameError) -> Self {
        match e {
            super::frame::FrameError::BadHeader => IndexError::BadHeader,
            super::frame::FrameError::Version(v) => IndexError::Version(v),
            super::frame::FrameError::BadChecksum => IndexError::BadChecksum,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use spoor_model::testing;

    use super::*;

    fn rec(
        service: &str,
        trace: u64,
        span: u64,
        parent: u64,
        name: &str,
        start: u64,
    ) -> SpanRecord {
        testing::node(service, trace, span, parent, name, start)
            .duration(5)
            .error(span == 3)
            .build()
    }

    fn sample() -> TraceIndex {
        let spans = [
            rec("b", 1, 2, 1, "child", 20),
            rec("a", 1, 1, 0, "root", 10),
            rec("b", 1, 3, 1, "child", 30),
            rec("c", 2, 7, 5, "orphan", 100),
        ];
        let mut b = IndexBuilder::default();
        for (row, s) in spans.iter().enumerate() {
            b.push(row as u32, s);
        }
        b.finish()
    }

    #[test]
    fn entries_and_summaries_describe_each_trace() {
        let index = sample();
        assert_eq!(index.len(), 2);
        assert_eq!(index.rows(), 4);
        let e = *index.lookup(&TraceId::from_halves(0, 1)).unwrap();
        assert_eq!((e.row_start, e.row_count), (0, 3));
        let s = index.summary(&e);
        assert_eq!((s.start, s.end), (10, 35));
        assert_eq!(s.root, Some(("a".into(), "root".into())));
        assert_eq!((s.span_count, s.error_count), (3, 1));
        assert_eq!(s.services, vec!["a", "b"]);
        let orphan = index.summary(index.lookup(&TraceId::from_halves(0, 2)).unwrap());
        assert_eq!(orphan.root, None);
        assert!(index.lookup(&TraceId::from_halves(0, 3)).is_none());
        assert_eq!(index.entry_at_row(2), Some(0));
        assert_eq!(index.entry_at_row(3), Some(1));
        assert_eq!(index.entry_at_row(4), None);

        let mut merged = s.clone();
        merged.merge(&orphan);
        assert_eq!(merged.services, vec!["a", "b", "c"]);
        assert_eq!((merged.start, merged.end, merged.span_count), (10, 105, 4));
    }

    #[test]
    fn the_index_round_trips_and_rejects_damage() {
        let index = sample();
        let bytes = index.to_bytes();
        assert_eq!(TraceIndex::from_bytes(&bytes).unwrap(), index);
        for cut in 0..bytes.len() {
            assert!(TraceIndex::from_bytes(&bytes[..cut]).is_err(), "cut {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x41;
            assert!(TraceIndex::from_bytes(&b).is_err(), "flip {i}");
        }
    }
}
