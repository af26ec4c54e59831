//! The head: recent spans in memory, grouped by trace, searchable at once.
//!
//! A [`Head`] only grows: spans are appended by the WAL writer after their
//! record is durable, and the whole head is later frozen and cut into a
//! block. Its search semantics are those of the memory backend: a trace
//! matches when one of its spans satisfies [`matches_span`]; writing a span
//! identical to one already held (same span ID and same content) is a no-op,
//! while distinct spans sharing a span ID are all kept.
//!
//! Indexes: service → trace IDs and (service, operation) → trace IDs narrow a
//! search to the traces that can match; the operation index also records the
//! span kinds seen, for [`Head::operations`]. Memory is accounted in
//! (estimated) bytes so the engine can bound it.

use std::collections::{HashMap, HashSet};
use std::mem::size_of;
use std::sync::Arc;

use spoor_model::{
    AnyValue, KeyValue, Resource, Scope, SpanBatch, SpanId, SpanKind, SpanRecord, SpanSet, TraceId,
    UnixNanos,
};
use spoor_storage::{Operation, TraceQuery, matches_span};

/// Every span kind, in numeric order.
pub(crate) const ALL_KINDS: [SpanKind; 6] = [
    SpanKind::Unspecified,
    SpanKind::Internal,
    SpanKind::Server,
    SpanKind::Client,
    SpanKind::Producer,
    SpanKind::Consumer,
];

/// One trace's spans held in the head.
#[derive(Debug)]
pub(crate) struct HeadTrace {
    pub(crate) spans: SpanSet,
    /// Earliest span start.
    pub(crate) start: UnixNanos,
    /// Latest span end.
    pub(crate) end: UnixNanos,
}

impl HeadTrace {
    fn new() -> Self {
        HeadTrace {
            spans: SpanSet::new(),
            start: UnixNanos::MAX,
            end: 0,
        }
    }

    /// Appends `record` unless an identical span is already stored.
    fn push(&mut self, record: SpanRecord) -> bool {
        let added = self.spans.push(record);
        (self.start, self.end) = (self.spans.start(), self.spans.end());
        added
    }

    /// Can any span of this trace start inside the query's window?
    fn may_match(&self, query: &TraceQuery) -> bool {
        !(query.start_max.is_some_and(|max| max < self.start)
            || query.start_min.is_some_and(|min| min > self.end))
    }
}

#[derive(Debug, Default)]
struct ServiceIndex {
    traces: HashSet<TraceId>,
    operations: HashMap<String, OperationIndex>,
}

#[derive(Debug, Default)]
struct OperationIndex {
    /// Bit `k` set when a span of kind `k` was seen.
    kinds: u8,
    traces: HashSet<TraceId>,
}

/// A matching trace piece: its ID and the time range of the spans held here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) trace_id: TraceId,
    pub(crate) start: UnixNanos,
    pub(crate) end: UnixNanos,
}

/// Recent spans in memory. See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Head {
    traces: HashMap<TraceId, HeadTrace>,
    services: HashMap<String, ServiceIndex>,
    bytes: usize,
    spans: usize,
    /// Earliest span start and latest span end held.
    min_start: UnixNanos,
    max_end: UnixNanos,
    /// Earliest and latest wall-clock time (Unix nanoseconds) at which
    /// Spoor received spans of this head; `None` before the first.
    ingest: Option<(u64, u64)>,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            traces: HashMap::new(),
            services: HashMap::new(),
            bytes: 0,
            spans: 0,
            min_start: UnixNanos::MAX,
            max_end: 0,
            ingest: None,
        }
    }
}

impl Head {
    /// Adds every span of `batch`; returns how many were new.
    pub(crate) fn insert_batch(&mut self, batch: SpanBatch) -> usize {
        // Resources and scopes are shared within a batch: count each once.
        let mut seen: HashSet<usize> = HashSet::new();
        let mut added = 0;
        for mut record in batch.spans {
            record.warnings.clear();
            if seen.insert(Arc::as_ptr(&record.resource) as usize) {
                self.bytes += resource_bytes(&record.resource);
            }
            if seen.insert(Arc::as_ptr(&record.scope) as usize) {
                self.bytes += scope_bytes(&record.scope);
            }
            let bytes = record_bytes(&record);
            let trace_id = record.span.trace_id;
            let service = record.service_name().to_owned();
            let name = record.span.name.clone();
            let kind = record.span.kind;
            let (start, end) = (
                record.span.start_time_unix_nano,
                record.span.end_time_unix_nano,
            );
            if !self.traces.contains_key(&trace_id) {
                self.bytes += size_of::<HeadTrace>() + size_of::<TraceId>() + 32;
                self.traces.insert(trace_id, HeadTrace::new());
            }
            let Some(trace) = self.traces.get_mut(&trace_id) else {
                continue;
            };
            if !trace.push(record) {
                continue;
            }
            added += 1;
            self.spans += 1;
            self.bytes += bytes;
            self.min_start = self.min_start.min(start);
            self.max_end = self.max_end.max(end);
            let entry = self.services.entry(service).or_default();
            if entry.traces.insert(trace_id) {
                self.bytes += 40;
            }
            let op = entry.operations.entry(name).or_default();
            op.kinds |= 1 << (kind as u8);
            if op.traces.insert(trace_id) {
                self.bytes += 40;
            }
        }
        added
    }

    /// Records that spans were received at `now` (wall clock, Unix nanoseconds).
    pub(crate) fn note_ingest(&mut self, now: u64) {
        self.ingest = Some(match self.ingest {
            Some((lo, hi)) => (lo.min(now), hi.max(now)),
            None => (now, now),
        });
    }

    /// Earliest and latest time spans of this head were received.
    pub(crate) fn ingest_range(&self) -> Option<(u64, u64)> {
        self.ingest
    }

    /// Estimated bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of spans held.
    pub(crate) fn span_count(&self) -> usize {
        self.spans
    }

    /// Number of traces held.
    pub(crate) fn trace_count(&self) -> usize {
        self.traces.len()
    }

    /// The spans of one trace held here.
    pub(crate) fn trace(&self, trace_id: &TraceId) -> Option<&HeadTrace> {
        self.traces.get(trace_id)
    }

    /// Every trace held, in no particular order.
    pub(crate) fn traces(&self) -> impl Iterator<Item = (&TraceId, &HeadTrace)> {
        self.traces.iter()
    }

    /// Every trace piece with a span matching `query` (no limit, no order).
    pub(crate) fn find(&self, query: &TraceQuery) -> Vec<Hit> {
        if self.spans == 0
            || query.start_max.is_some_and(|max| max < self.min_start)
            || query.start_min.is_some_and(|min| min > self.max_end)
        {
            return Vec::new();
        }
        let check = |id: &TraceId| -> Option<Hit> {
            let t = self.traces.get(id)?;
            (t.may_match(query) && t.spans.iter().any(|r| matches_span(r, query))).then_some(Hit {
                trace_id: *id,
                start: t.start,
                end: t.end,
            })
        };
        match &query.service {
            Some(service) => {
                let Some(entry) = self.services.get(service) else {
                    return Vec::new();
                };
                let ids = match &query.operation {
                    Some(op) => match entry.operations.get(op) {
                        Some(op) => &op.traces,
                        None => return Vec::new(),
                    },
                    None => &entry.traces,
                };
                ids.iter().filter_map(check).collect()
            }
            None => self.traces.keys().filter_map(check).collect(),
        }
    }

    /// Service names held (the empty name included; callers filter it).
    pub(crate) fn services(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// Operations of `service`, optionally of one kind, unsorted.
    pub(crate) fn operations(&self, service: &str, kind: Option<SpanKind>) -> Vec<Operation> {
        let Some(entry) = self.services.get(service) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, op) in &entry.operations {
            for k in ALL_KINDS {
                if op.kinds & (1 << (k as u8)) != 0 && kind.is_none_or(|want| want == k) {
                    out.push(Operation {
                        name: name.clone(),
                        span_kind: k,
                    });
                }
            }
        }
        out
    }
}

// ------------------------------------------------------------ size estimates

fn value_bytes(v: &AnyValue) -> usize {
    size_of::<AnyValue>()
        + match v {
            AnyValue::Str(s) => s.len(),
            AnyValue::Bytes(b) => b.len(),
            AnyValue::Array(items) => items.iter().map(value_bytes).sum(),
            AnyValue::KvList(kvs) => attrs_bytes(kvs),
            AnyValue::Empty | AnyValue::Bool(_) | AnyValue::Int(_) | AnyValue::Double(_) => 0,
        }
}

fn attrs_bytes(attrs: &[KeyValue]) -> usize {
    attrs
        .iter()
        .map(|kv| {
            size_of::<KeyValue>() - size_of::<AnyValue>() + kv.key.len() + value_bytes(&kv.value)
        })
        .sum()
}

fn resource_bytes(r: &Resource) -> usize {
    size_of::<Resource>() + attrs_bytes(&r.attributes) + r.schema_url.len()
}

fn scope_bytes(s: &Scope) -> usize {
    size_of::<Scope>()
        + s.name.len()
        + s.version.len()
        + attrs_bytes(&s.attributes)
        + s.schema_url.len()
}

/// Estimated heap and inline bytes of one stored record (resource and scope excluded).
pub(crate) fn record_bytes(r: &SpanRecord) -> usize {
    let s = &r.span;
    size_of::<SpanRecord>()
        // first_by_id entry and next_same_id slot
        + size_of::<SpanId>() + 2 * size_of::<u32>() + 8
        + s.trace_state.len()
        + s.name.len()
        + attrs_bytes(&s.attributes)
        + s.events
            .iter()
            .map(|e| size_of::<spoor_model::Event>() + e.name.len() + attrs_bytes(&e.attributes))
            .sum::<usize>()
        + s.links
            .iter()
            .map(|l| size_of::<spoor_model::Link>() + l.trace_state.len() + attrs_bytes(&l.attributes))
            .sum::<usize>()
        + s.status.message.len()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use spoor_model::testing;

    use super::*;

    fn record(service: &str, trace: u64, span: u64, name: &str, start: u64) -> SpanRecord {
        testing::record()
            .service(service)
            .trace(trace)
            .id(span)
            .name(name)
            .start(start)
            .duration(10)
            .build()
    }

    fn ids(hits: &[Hit]) -> Vec<u64> {
        let mut ids: Vec<u64> = hits.iter().map(|h| h.trace_id.low()).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn search_uses_the_indexes_and_the_reference_predicate() {
        let mut head = Head::default();
        let added = head.insert_batch(SpanBatch {
            spans: vec![
                record("a", 1, 1, "x", 100),
                record("a", 1, 2, "y", 200),
                record("b", 2, 1, "x", 300),
                record("", 3, 1, "x", 400),
            ],
        });
        assert_eq!(added, 4);
        assert_eq!((head.trace_count(), head.span_count()), (3, 4));
        let q = |service: Option<&str>, op: Option<&str>| TraceQuery {
            service: service.map(Into::into),
            operation: op.map(Into::into),
            limit: 10,
            ..TraceQuery::default()
        };
        assert_eq!(ids(&head.find(&q(Some("a"), None))), vec![1]);
        assert_eq!(ids(&head.find(&q(Some("a"), Some("x")))), vec![1]);
        assert_eq!(ids(&head.find(&q(None, Some("x")))), vec![1, 2, 3]);
        assert_eq!(ids(&head.find(&q(Some(""), None))), vec![3]);
        assert!(head.find(&q(Some("b"), Some("y"))).is_empty());
        assert!(head.find(&q(Some("c"), None)).is_empty());
        let hit = head.find(&q(Some("a"), Some("y")));
        assert_eq!((hit[0].start, hit[0].end), (100, 210));
        let windowed = TraceQuery {
            start_min: Some(250),
            start_max: Some(350),
            ..q(None, None)
        };
        assert_eq!(ids(&head.find(&windowed)), vec![2]);
    }

    #[test]
    fn identical_spans_are_kept_once_and_bytes_grow() {
        let mut head = Head::default();
        let a = record("a", 1, 1, "x", 100);
        let mut b = a.clone();
        b.span.start_time_unix_nano = 50;
        assert_eq!(
            head.insert_batch(SpanBatch {
                spans: vec![a.clone()]
            }),
            1
        );
        let before = head.bytes();
        assert!(before > 0);
        assert_eq!(
            head.insert_batch(SpanBatch {
                spans: vec![a.clone(), b.clone()]
            }),
            1
        );
        assert!(head.bytes() > before);
        let t = head.trace(&TraceId::from_halves(0, 1)).unwrap();
        assert_eq!(t.spans[..], [a, b]);
        assert_eq!((t.start, t.end), (50, 110));
    }

    #[test]
    fn operations_report_each_kind_seen() {
        let mut head = Head::default();
        let mut server = record("a", 1, 1, "x", 1);
        server.span.kind = SpanKind::Server;
        let mut client = record("a", 1, 2, "x", 1);
        client.span.kind = SpanKind::Client;
        head.insert_batch(SpanBatch {
            spans: vec![server, client],
        });
        let mut ops = head.operations("a", None);
        ops.sort();
        assert_eq!(
            ops.iter().map(|o| o.span_kind).collect::<Vec<_>>(),
            vec![SpanKind::Server, SpanKind::Client]
        );
        assert_eq!(head.operations("a", Some(SpanKind::Client)).len(), 1);
        assert!(head.operations("a", Some(SpanKind::Producer)).is_empty());
        assert!(head.operations("zzz", None).is_empty());
    }
}
