//! Per-minute service dependency edges of a block, computed when the block
//! is written, so dependency queries read a few numbers instead of spans.
//!
//! An edge is counted for every span whose parent (the first span of the
//! same trace with the parent's ID) is in the same block and belongs to
//! another service; it is bucketed by the minute the child span starts.
//! Traces with a span whose parent is not in the block are listed as
//! *unresolved*: their edges are found at query time, across blocks.
//!
//! Serialized form (`edges.bin`):
//!
//! ```text
//! magic "SPOOREDG" | version:u32le (=1) | crc32(body):u32le | body
//! body := strings edges unresolved
//! strings := count str*                                  (service names)
//! edges := count (minute:varint parent:varint child:varint calls:varint errors:varint)*
//!          (minute = unix time / 60 s; parent and child index `strings`;
//!           sorted by minute, parent, child)
//! unresolved := count trace_id:[16]*                      (sorted)
//! ```

use std::collections::{BTreeMap, HashMap};

use spoor_model::{SpanId, SpanRecord, StatusCode, TraceId, UnixNanos};

use crate::record::{Reader, RecordError, put_strings, put_varint};

const MAGIC: &[u8; 8] = b"SPOOREDG";
/// The edges format version this build writes and reads.
pub const EDGES_VERSION: u32 = 1;
/// Nanoseconds per bucket.
pub const MINUTE: u64 = 60 * 1_000_000_000;

/// One per-minute edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edge {
    pub(crate) minute: u64,
    parent: u32,
    child: u32,
    pub(crate) calls: u64,
    pub(crate) errors: u64,
}

/// A block's dependency edges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BlockEdges {
    strings: Vec<String>,
    edges: Vec<Edge>,
    /// Traces with a span whose parent is outside the block, sorted.
    pub(crate) unresolved: Vec<TraceId>,
}

/// Why a serialized edge list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgesError {
    #[error("not an edge list (bad magic or too short)")]
    BadHeader,
    #[error("unsupported edge list version {0}")]
    Version(u32),
    #[error("edge list checksum mismatch")]
    BadChecksum,
    #[error("malformed edge list: {0}")]
    Malformed(#[from] RecordError),
    #[error("invalid edge list: {0}")]
    Invalid(&'static str),
}

impl From<super::frame::FrameError> for EdgesError {
    fn from(e: super::frame::FrameError) -> Self {
        match e {
            super::frame::FrameError::BadHeader => EdgesError::BadHeader,
            super::frame::FrameError::Version(v) => EdgesError::Version(v),
            super::frame::FrameError::BadChecksum => EdgesError::BadChecksum,
        }
    }
}

fn intern<'a>(index: &mut HashMap<&'a str, u32>, strings: &mut Vec<String>, s: &'a str) -> u32 {
    *index.entry(s).or_insert_with(|| {
        strings.push(s.to_owned());
        strings.len() as u32 - 1
    })
}

/// The minute bucket of a time.
pub(crate) fn minute_of(t: UnixNanos) -> u64 {
    t / MINUTE
}

/// Adds the edges of one trace's spans to `out` (keyed by minute, parent
/// service, child service); returns whether a span's parent was missing.
pub(crate) fn trace_edges<'a>(
    spans: impl IntoIterator<Item = &'a SpanRecord> + Clone,
    mut count: impl FnMut(u64, &'a str, &'a str, bool),
) -> bool {
    let mut first: HashMap<SpanId, &'a SpanRecord> = HashMap::new();
    for r in spans.clone() {
        first.entry(r.span.span_id).or_insert(r);
    }
    let mut missing = false;
    for r in spans {
        if r.span.parent_span_id.is_zero() {
            continue;
        }
        match first.get(&r.span.parent_span_id) {
            Some(parent) => {
                let (p, c) = (parent.service_name(), r.service_name());
                if p != c {
                    count(
                        minute_of(r.span.start_time_unix_nano),
                        p,
                        c,
                        r.span.status.code == StatusCode::Error,
                    );
                }
            }
            None => missing = true,
        }
    }
    missing
}

impl BlockEdges {
    /// Computes the edges of spans sorted by trace ID.
    pub(crate) fn compute(spans: &[&SpanRecord]) -> BlockEdges {
        let mut counts: BTreeMap<(u64, &str, &str), (u64, u64)> = BTreeMap::new();
        let mut unresolved = Vec::new();
        for group in spans.chunk_by(|a, b| a.span.trace_id == b.span.trace_id) {
            let missing = trace_edges(group.iter().copied(), |minute, p, c, error| {
                let e = counts.entry((minute, p, c)).or_default();
                e.0 += 1;
                e.1 += u64::from(error);
            });
            if missing {
                unresolved.push(group[0].span.trace_id);
            }
        }
        let mut strings: Vec<String> = Vec::new();
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut edges = Vec::with_capacity(counts.len());
        for (&(minute, p, c), &(calls, errors)) in &counts {
            let parent = intern(&mut index, &mut strings, p);
            let child = intern(&mut index, &mut strings, c);
            edges.push(Edge {
                minute,
                parent,
                child,
                calls,
                errors,
            });
        }
        unresolved.sort_unstable();
        unresolved.dedup();
        BlockEdges {
            strings,
            edges,
            unresolved,
        }
    }

    /// Edges whose minute is in `[first, last]`, as (parent, child, calls, errors).
    pub(crate) fn in_minutes(
        &self,
        first: u64,
        last: u64,
    ) -> impl Iterator<Item = (&str, &str, u64, u64)> {
        let from = self.edges.partition_point(|e| e.minute < first);
        self.edges[from..]
            .iter()
            .take_while(move |e| e.minute <= last)
            .map(|e| {
                (
                    self.string(e.parent),
                    self.string(e.child),
                    e.calls,
                    e.errors,
                )
            })
    }

    fn string(&self, i: u32) -> &str {
        self.strings.get(i as usize).map_or("", String::as_str)
    }

    /// Bytes held in memory, roughly.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.edges.len() * std::mem::size_of::<Edge>()
            + self.unresolved.len() * 16
            + self.strings.iter().map(|s| s.len() + 24).sum::<usize>()
    }

    /// The serialized form.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        put_strings(&mut body, &self.strings);
        put_varint(&mut body, self.edges.len() as u64);
        for e in &self.edges {
            put_varint(&mut body, e.minute);
            put_varint(&mut body, u64::from(e.parent));
            put_varint(&mut body, u64::from(e.child));
            put_varint(&mut body, e.calls);
            put_varint(&mut body, e.errors);
        }
        put_varint(&mut body, self.unresolved.len() as u64);
        for id in &self.unresolved {
            body.extend_from_slice(&id.0);
        }
        super::frame::seal(MAGIC, EDGES_VERSION, &body)
    }

    /// Parses the serialized form; never panics.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<BlockEdges, EdgesError> {
        let body = super::frame::open(bytes, MAGIC, EDGES_VERSION)?;
        let mut r = Reader::new(body);
        let strings = r.strings()?;
        let n = r.count(5)?;
        let mut edges = Vec::with_capacity(n);
        for _ in 0..n {
            let minute = r.varint()?;
            let parent = r.varint()?;
            let child = r.varint()?;
            if parent >= strings.len() as u64 || child >= strings.len() as u64 {
                return Err(EdgesError::Invalid("service index out of range"));
            }
            let edge = Edge {
                minute,
                parent: parent as u32,
                child: child as u32,
                calls: r.varint()?,
                errors: r.varint()?,
            };
            if edges.last().is_some_and(|e: &Edge| e.minute > minute) {
                return Err(EdgesError::Invalid("edges are not sorted by minute"));
            }
            edges.push(edge);
        }
        let n = r.count(16)?;
        let mut unresolved = Vec::with_capacity(n);
        for _ in 0..n {
            unresolved.push(TraceId(r.array()?));
        }
        if r.remaining() != 0 {
            return Err(EdgesError::Invalid("trailing bytes"));
        }
        Ok(BlockEdges {
            strings,
            edges,
            unresolved,
        })
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
        start: u64,
        error: bool,
    ) -> SpanRecord {
        testing::record()
            .service(service)
            .trace(trace)
            .id(span)
            .parent(parent)
            .start(start)
            .duration(1)
            .error(error)
            .build()
    }

    #[test]
    fn edges_are_counted_per_minute_and_missing_parents_are_listed() {
        let spans = [
            rec("front", 1, 1, 0, 0, false),
            rec("back", 1, 2, 1, 10, true),
            rec("back", 1, 3, 1, MINUTE + 5, false),
            rec("back", 1, 4, 3, MINUTE + 6, false), // same service: no edge
            rec("db", 2, 7, 6, 20, false),           // parent elsewhere
            rec("front", 3, 1, 0, 30, false),
            rec("back", 3, 2, 1, 40, false),
        ];
        let refs: Vec<&SpanRecord> = spans.iter().collect();
        let edges = BlockEdges::compute(&refs);
        let minute0: Vec<_> = edges.in_minutes(0, 0).collect();
        assert_eq!(minute0, vec![("front", "back", 2, 1)]);
        let both: Vec<_> = edges.in_minutes(0, 5).collect();
        assert_eq!(both.len(), 2);
        assert_eq!(edges.in_minutes(2, 9).count(), 0);
        assert_eq!(edges.unresolved, vec![TraceId::from_halves(0, 2)]);

        let bytes = edges.to_bytes();
        assert_eq!(BlockEdges::from_bytes(&bytes).unwrap(), edges);
        for cut in 0..bytes.len() {
            assert!(BlockEdges::from_bytes(&bytes[..cut]).is_err());
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(BlockEdges::from_bytes(&flipped).is_err());
    }
}
