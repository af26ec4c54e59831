//! A block's trace index: for every trace in the block, sorted by trace ID,
//! the range of its rows in `spans.parquet` and its summary: the search
//! result summary (`spoor_storage::TraceSummary`) of the trace's spans in
//! the block, with its `SummaryFacts`.
//!
//! Serialized form (`index.bin`):
//!
//! ```text
//! magic "SPOORIDX" | version:u32le (1 or 2) | crc32(body):u32le | body
//! body  := strings entries
//! strings := count str*                       (service and operation names)
//! entries := count entry*                     (sorted by trace ID, rows ascending)
//! entry := trace_id:[16] row_start:varint row_count:varint
//!          start:u64le end_minus_start:varint errors:varint
//!          root_service:varint root_name:varint   (string index + 1; 0 = no root span)
//!          services: count service*
//!          orphans:varint facts:varint            (version 2)
//! service := string_index                     (version 1: `service.name`, or
//!                                              Jaeger's placeholder)
//!          | string_index spans:varint errors:varint
//!                                             (version 2: named as the
//!                                              summary names services)
//! facts := bit 0: spans have unique IDs; bit 1: children lie within parents
//! ```
//!
//! A version 1 index (blocks of format 3 and before) has no per-service
//! counts, orphans or facts: its traces are summarized by reading them.

use std::collections::HashMap;

use spoor_model::{SpanRecord, TraceId, UnixNanos};
use spoor_storage::{ServiceSummary, SummaryBuilder, SummaryFacts, TraceSummary};

use crate::record::{Reader, RecordError, put_strings, put_varint};

const MAGIC: &[u8; 8] = b"SPOORIDX";
/// The index format version this build writes; it also reads version 1.
pub const INDEX_VERSION: u32 = 2;
/// The oldest index format version this build reads.
const OLDEST_INDEX_VERSION: u32 = 1;
const NONE: u32 = u32::MAX;
/// `facts` bits.
const FACT_SUMMARY: u8 = 1 << 7;
const FACT_UNIQUE_IDS: u8 = 1;
const FACT_WITHIN_PARENTS: u8 = 1 << 1;

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
    orphans: u32,
    /// `FACT_*` bits; without `FACT_SUMMARY` (a version 1 index) there are
    /// no per-service counts, orphans or facts.
    facts: u8,
}

/// The pieces of one trace (in the heads and blocks) merged, from memory:
/// its range, root, counts and services. Not the summary of search results
/// (`spoor_storage::TraceSummary`, which the engine answers from one
/// piece's index entry or by reading the trace): it has no per-service
/// counts and no orphan count (a span's parent may be in another piece),
/// counts a span written twice twice, and sees the spans as stored, before
/// the query service's adjusters.
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
    let mut builder = SummaryBuilder::new(trace_id);
    spans.iter().for_each(|r| builder.push(r));
    let has_root = builder.has_root();
    let (summary, _) = builder.finish();
    StoredSummary {
        trace_id,
        start: summary.min_start_time_unix_nano,
        end: summary.max_end_time_unix_nano,
        root: has_root.then_some((summary.root_service_name, summary.root_operation_name)),
        span_count: summary.span_count,
        error_count: summary.error_span_count,
        services: summary.services.into_iter().map(|s| s.name).collect(),
    }
}

/// The sorted trace index of one block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TraceIndex {
    strings: Vec<String>,
    entries: Vec<TraceEntry>,
    /// Per entry, `services_len` string indexes from `services_at`.
    services: Vec<u32>,
    /// Beside `services` (version 2): spans and error spans per service.
    service_counts: Vec<(u32, u32)>,
}

/// Builds a [`TraceIndex`] from spans sorted by trace ID.
#[derive(Default)]
pub(crate) struct IndexBuilder {
    index: TraceIndex,
    lookup: HashMap<String, u32>,
    /// The trace being added: its first row, its rows, its summary so far.
    current: Option<(u32, u32, SummaryBuilder)>,
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
        let trace_id = record.span.trace_id;
        if self
            .current
            .as_ref()
            .is_some_and(|(_, _, b)| b.trace_id() != trace_id)
        {
            self.flush();
        }
        let (_, rows, builder) = self
            .current
            .get_or_insert_with(|| (row, 0, SummaryBuilder::new(trace_id)));
        *rows += 1;
        builder.push(record);
    }

    fn flush(&mut self) {
        let Some((row_start, row_count, builder)) = self.current.take() else {
            return;
        };
        let has_root = builder.has_root();
        let (summary, facts) = builder.finish();
        let (root_service, root_name) = if has_root {
            (
                self.intern(&summary.root_service_name),
                self.intern(&summary.root_operation_name),
            )
        } else {
            (NONE, NONE)
        };
        let services_at = self.index.services.len() as u32;
        for service in &summary.services {
            let name = self.intern(&service.name);
            self.index.services.push(name);
            self.index.service_counts.push((
                saturate(service.span_count),
                saturate(service.error_span_count),
            ));
        }
        let mut bits = FACT_SUMMARY;
        if facts.unique_span_ids {
            bits |= FACT_UNIQUE_IDS;
        }
        if facts.children_within_parents {
            bits |= FACT_WITHIN_PARENTS;
        }
        self.index.entries.push(TraceEntry {
            trace_id: summary.trace_id,
            row_start,
            row_count,
            start: summary.min_start_time_unix_nano,
            end: summary.max_end_time_unix_nano,
            errors: saturate(summary.error_span_count),
            root_service,
            root_name,
            services_at,
            services_len: summary.services.len() as u32,
            orphans: saturate(summary.orphan_span_count),
            facts: bits,
        });
    }

    pub(crate) fn finish(mut self) -> TraceIndex {
        self.flush();
        self.index
    }
}

/// Counts within a block fit `u32` (a block has at most `u32::MAX` rows).
fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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

    fn string(&self, i: u32) -> String {
        self.strings.get(i as usize).cloned().unwrap_or_default()
    }

    fn service_range(&self, e: &TraceEntry) -> std::ops::Range<usize> {
        e.services_at as usize..(e.services_at + e.services_len) as usize
    }

    /// The summary of one entry.
    pub(crate) fn summary(&self, e: &TraceEntry) -> StoredSummary {
        let services = self
            .services
            .get(self.service_range(e))
            .unwrap_or_default()
            .iter()
            .map(|&i| self.string(i))
            .collect();
        StoredSummary {
            trace_id: e.trace_id,
            start: e.start,
            end: e.end,
            root: (e.root_service != NONE)
                .then(|| (self.string(e.root_service), self.string(e.root_name))),
            span_count: u64::from(e.row_count),
            error_count: u64::from(e.errors),
            services,
        }
    }

    /// The search result summary of the entry's spans as stored, with its
    /// facts; `None` for an entry of a version 1 index, which has neither.
    pub(crate) fn trace_summary(&self, e: &TraceEntry) -> Option<(TraceSummary, SummaryFacts)> {
        if e.facts & FACT_SUMMARY == 0 {
            return None;
        }
        let range = self.service_range(e);
        let names = self.services.get(range.clone())?;
        let counts = self.service_counts.get(range)?;
        let services = names
            .iter()
            .zip(counts)
            .map(|(&name, &(spans, errors))| ServiceSummary {
                name: self.string(name),
                span_count: u64::from(spans),
                error_span_count: u64::from(errors),
            })
            .collect();
        let (root_service_name, root_operation_name) = if e.root_service == NONE {
            (String::new(), String::new())
        } else {
            (self.string(e.root_service), self.string(e.root_name))
        };
        let summary = TraceSummary {
            trace_id: e.trace_id,
            root_service_name,
            root_operation_name,
            min_start_time_unix_nano: e.start,
            max_end_time_unix_nano: e.end,
            span_count: u64::from(e.row_count),
            error_span_count: u64::from(e.errors),
            orphan_span_count: u64::from(e.orphans),
            services,
        };
        let facts = SummaryFacts {
            unique_span_ids: e.facts & FACT_UNIQUE_IDS != 0,
            children_within_parents: e.facts & FACT_WITHIN_PARENTS != 0,
        };
        Some((summary, facts))
    }

    /// Bytes held in memory, roughly.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.entries.len() * std::mem::size_of::<TraceEntry>()
            + self.services.len() * 4
            + self.service_counts.len() * 8
            + self.strings.iter().map(|s| s.len() + 24).sum::<usize>()
    }

    /// The serialized form (always the current version: an index is only
    /// written from an [`IndexBuilder`], whose entries all have summaries).
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
            let range = self.service_range(e);
            for (&name, &(spans, errors)) in self.services[range.clone()]
                .iter()
                .zip(&self.service_counts[range])
            {
                put_varint(&mut body, u64::from(name));
                put_varint(&mut body, u64::from(spans));
                put_varint(&mut body, u64::from(errors));
            }
            put_varint(&mut body, u64::from(e.orphans));
            put_varint(&mut body, u64::from(e.facts & !FACT_SUMMARY));
        }
        super::frame::seal(MAGIC, INDEX_VERSION, &body)
    }

    /// Parses the serialized form, checking every invariant the readers rely
    /// on (sorted IDs, contiguous ascending rows, string indexes in range).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<TraceIndex, IndexError> {
        let (version, body) =
            super::frame::open_versions(bytes, MAGIC, OLDEST_INDEX_VERSION..=INDEX_VERSION)?;
        let with_summary = version >= 2;
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
        let mut service_counts = Vec::new();
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
            let len = r.count(if with_summary { 3 } else { 1 })?;
            let services_at = services.len() as u32;
            let (mut service_spans, mut service_errors) = (0u64, 0u64);
            for _ in 0..len {
                let s = r.varint()?;
                if s >= n_strings {
                    return Err(IndexError::Invalid("service index out of range"));
                }
                services.push(s as u32);
                if with_summary {
                    let (spans, errors) = (r.varint()?, r.varint()?);
                    if spans == 0 || errors > spans {
                        return Err(IndexError::Invalid("service counts out of range"));
                    }
                    service_spans += spans;
                    service_errors += errors;
                    service_counts.push((spans as u32, errors as u32));
                }
            }
            let (orphans, facts) = if with_summary {
                let orphans = r.varint()?;
                let facts = r.varint()?;
                if service_spans != row_count
                    || service_errors != u64::from(errors)
                    || orphans > row_count
                {
                    return Err(IndexError::Invalid("summary counts disagree with the rows"));
                }
                let facts = u8::try_from(facts)
                    .ok()
                    .filter(|f| f & !(FACT_UNIQUE_IDS | FACT_WITHIN_PARENTS) == 0)
                    .ok_or(IndexError::Invalid("unknown summary facts"))?;
                (orphans as u32, facts | FACT_SUMMARY)
            } else {
                (0, 0)
            };
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
                orphans,
                facts,
            });
        }
        if r.remaining() != 0 {
            return Err(IndexError::Invalid("trailing bytes"));
        }
        Ok(TraceIndex {
            strings,
            entries,
            services,
            service_counts,
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

    #[test]
    fn each_entry_keeps_the_search_result_summary_of_its_spans() {
        let index = sample();
        let spans = [
            rec("b", 1, 2, 1, "child", 20),
            rec("a", 1, 1, 0, "root", 10),
            rec("b", 1, 3, 1, "child", 30),
        ];
        let trace = spoor_model::Trace {
            trace_id: TraceId::from_halves(0, 1),
            spans: spans.to_vec(),
            warnings: Vec::new(),
        };
        let e = index.lookup(&trace.trace_id).unwrap();
        let (summary, facts) = index.trace_summary(e).unwrap();
        assert_eq!(summary, spoor_storage::summarize_trace(&trace));
        assert_eq!(summary.services[1].span_count, 2);
        // The children start after the root ends.
        assert!(facts.unique_span_ids && !facts.children_within_parents);
        let orphan = index.lookup(&TraceId::from_halves(0, 2)).unwrap();
        let (summary, _) = index.trace_summary(orphan).unwrap();
        assert_eq!(
            (
                summary.orphan_span_count,
                summary.root_service_name.as_str()
            ),
            (1, "")
        );
        // The same after a round trip.
        let back = TraceIndex::from_bytes(&index.to_bytes()).unwrap();
        assert_eq!(back.trace_summary(e), index.trace_summary(e));
    }

    /// One entry of trace 1 (rows 0..2) with services `a` (and, in version
    /// 2, the given per-service counts, orphans and facts).
    fn encoded(version: u32, counts: Option<(u64, u64, u64, u64)>) -> Vec<u8> {
        let mut body = Vec::new();
        put_strings(&mut body, &["a".to_owned(), "root".to_owned()]);
        put_varint(&mut body, 1);
        body.extend_from_slice(&TraceId::from_halves(0, 1).0);
        for v in [0, 2] {
            put_varint(&mut body, v);
        }
        body.extend_from_slice(&10u64.to_le_bytes());
        for v in [5, 1, 1, 2, 1, 0] {
            put_varint(&mut body, v); // end - start, errors, root, services
        }
        if let Some((spans, errors, orphans, facts)) = counts {
            for v in [spans, errors, orphans, facts] {
                put_varint(&mut body, v);
            }
        }
        super::super::frame::seal(MAGIC, version, &body)
    }

    #[test]
    fn a_version_1_index_is_read_without_summaries() {
        let index = TraceIndex::from_bytes(&encoded(1, None)).unwrap();
        let e = index.lookup(&TraceId::from_halves(0, 1)).unwrap();
        let s = index.summary(e);
        assert_eq!(
            (s.span_count, s.error_count, s.services),
            (2, 1, vec!["a".to_owned()])
        );
        assert_eq!(index.trace_summary(e), None);
    }

    #[test]
    fn summary_counts_that_disagree_with_the_rows_are_rejected() {
        let good = TraceIndex::from_bytes(&encoded(2, Some((2, 1, 0, 3)))).unwrap();
        let e = good.lookup(&TraceId::from_halves(0, 1)).unwrap();
        let (summary, facts) = good.trace_summary(e).unwrap();
        assert_eq!((summary.span_count, summary.error_span_count), (2, 1));
        assert!(facts.unique_span_ids && facts.children_within_parents);
        for bad in [
            (3, 1, 0, 0),
            (2, 0, 0, 0),
            (2, 3, 0, 0),
            (2, 1, 3, 0),
            (2, 1, 0, 8),
        ] {
            assert!(
                matches!(
                    TraceIndex::from_bytes(&encoded(2, Some(bad))),
                    Err(IndexError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            TraceIndex::from_bytes(&encoded(3, Some((2, 1, 0, 0)))),
            Err(IndexError::Version(3))
        ));
    }
}
