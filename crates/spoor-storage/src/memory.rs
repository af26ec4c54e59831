//! The in-memory backend: a bounded set of traces, evicted oldest-first.
//!
//! [`MemoryStore`] keeps at most `max_traces` traces. When a span arrives for a
//! trace ID the store does not hold and the store is full, the trace that was
//! *inserted* first (not the one that started first) is evicted, which is the
//! ring-buffer behaviour of Jaeger's memory backend. Spans of a trace already
//! held are appended to it.
//!
//! Differences from Jaeger's memory backend, all deliberate:
//! - search results are ordered by trace start time (newest first, then trace
//!   ID), not by insertion order, so every backend answers the same way;
//! - the service and operation indexes are reference-counted per stored span
//!   and pruned when the last span of a service or operation is evicted
//!   (Jaeger keeps them forever), so the service list never names a service
//!   that has no data;
//! - dependencies are computed from every trace whose time range *intersects*
//!   the window (Jaeger needs the trace to lie strictly inside it);
//! - writing a span identical to one already stored (same span ID and same
//!   content) is a no-op, so writes are idempotent; distinct spans that share a
//!   span ID are all kept, as written.
//!
//! Concurrency: one `parking_lot::RwLock`; writers hold it for one batch,
//! readers for one query, and no lock is ever held across an `.await`.
//! Readers return owned data: span records are cloned, and the `Arc`s they
//! hold point to resources and scopes that are never mutated in place.

use std::collections::{BTreeMap, HashMap, VecDeque};

use async_trait::async_trait;
use parking_lot::RwLock;
use spoor_model::{
    DependencyLink, SpanBatch, SpanKind, SpanRecord, SpanSet, Trace, TraceId, UnixNanos,
};

use crate::{
    Capabilities, DependencyReader, FoundTrace, GetTraceQuery, Operation, OperationQuery, Purger,
    RedAccumulator, RedQuery, RedRow, RedStatsReader, SpanWriter, StorageError, TraceQuery,
    TraceReader, matches_span,
};

/// Number of [`SpanKind`] values, used to size per-kind counters.
const KINDS: usize = 6;

const ALL_KINDS: [SpanKind; KINDS] = [
    SpanKind::Unspecified,
    SpanKind::Internal,
    SpanKind::Server,
    SpanKind::Client,
    SpanKind::Producer,
    SpanKind::Consumer,
];

/// A bounded, in-process trace store. See the [module documentation](self).
#[derive(Debug)]
pub struct MemoryStore {
    max_traces: usize,
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    traces: HashMap<TraceId, StoredTrace>,
    /// Trace IDs in insertion order, oldest first.
    order: VecDeque<TraceId>,
    /// Service name → its operations, counted by stored span.
    services: HashMap<String, ServiceEntry>,
}

#[derive(Debug, Default)]
struct ServiceEntry {
    /// Stored spans of this service.
    spans: u64,
    /// Operation name → stored spans per span kind (indexed by `SpanKind as usize`).
    operations: HashMap<String, [u64; KINDS]>,
}

/// One trace's spans; writing a span already held is a no-op.
#[derive(Debug, Default)]
struct StoredTrace {
    spans: SpanSet,
}

impl StoredTrace {
    fn new() -> Self {
        StoredTrace::default()
    }

    /// Appends `record` unless an identical span is already stored.
    /// Returns whether it was appended.
    fn push(&mut self, record: SpanRecord) -> bool {
        self.spans.push(record)
    }

    fn intersects(&self, start: UnixNanos, end: UnixNanos) -> bool {
        self.spans.start() <= end && self.spans.end() >= start
    }

    /// Can any span of this trace start inside the query's window?
    fn may_match(&self, query: &TraceQuery) -> bool {
        // Every span starts at or after the earliest start and at or before the latest end.
        !(query.start_max.is_some_and(|max| max < self.spans.start())
            || query.start_min.is_some_and(|min| min > self.spans.end()))
    }

    fn to_trace(&self, trace_id: TraceId) -> Trace {
        Trace {
            trace_id,
            spans: self.spans.to_vec(),
            warnings: Vec::new(),
        }
    }
}

impl Inner {
    fn insert(&mut self, mut record: SpanRecord, max_traces: usize) {
        record.warnings.clear();
        let trace_id = record.span.trace_id;
        if !self.traces.contains_key(&trace_id) {
            while self.traces.len() >= max_traces {
                if !self.evict_oldest() {
                    break;
                }
            }
            self.order.push_back(trace_id);
            self.traces.insert(trace_id, StoredTrace::new());
        }
        let Inner {
            traces, services, ..
        } = self;
        let Some(trace) = traces.get_mut(&trace_id) else {
            return;
        };
        if trace.push(record)
            && let Some(stored) = trace.spans.last()
        {
            index_add(
                services,
                stored.service_name(),
                &stored.span.name,
                stored.span.kind,
            );
        }
    }

    /// Removes the oldest-inserted trace; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        let Some(id) = self.order.pop_front() else {
            return false;
        };
        if let Some(trace) = self.traces.remove(&id) {
            for record in &trace.spans {
                index_remove(
                    &mut self.services,
                    record.service_name(),
                    &record.span.name,
                    record.span.kind,
                );
            }
        }
        true
    }

    /// Matching traces as (start, ID), newest first then by ID, at most `limit`.
    fn find(&self, query: &TraceQuery) -> Result<Vec<(UnixNanos, TraceId)>, StorageError> {
        if query.limit == 0 {
            return Err(StorageError::invalid_query(
                "the search limit must be at least 1",
            ));
        }
        let mut hits: Vec<(UnixNanos, TraceId)> = self
            .traces
            .iter()
            .filter(|(_, t)| {
                t.may_match(query)
                    && query.trace_duration_matches(t.spans.start(), t.spans.end())
                    && t.spans.iter().any(|r| matches_span(r, query))
            })
            .map(|(id, t)| (t.spans.start(), *id))
            .collect();
        let order = |a: &(UnixNanos, TraceId), b: &(UnixNanos, TraceId)| {
            b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1))
        };
        if hits.len() > query.limit {
            hits.select_nth_unstable_by(query.limit, order);
            hits.truncate(query.limit);
        }
        hits.sort_unstable_by(order);
        Ok(hits)
    }
}

fn index_add(
    services: &mut HashMap<String, ServiceEntry>,
    service: &str,
    name: &str,
    kind: SpanKind,
) {
    // Jaeger does not index spans whose service name is empty.
    if service.is_empty() {
        return;
    }
    let entry = match services.get_mut(service) {
        Some(e) => e,
        None => services.entry(service.to_owned()).or_default(),
    };
    entry.spans += 1;
    let counts = match entry.operations.get_mut(name) {
        Some(c) => c,
        None => entry.operations.entry(name.to_owned()).or_default(),
    };
    counts[kind as usize] += 1;
}

fn index_remove(
    services: &mut HashMap<String, ServiceEntry>,
    service: &str,
    name: &str,
    kind: SpanKind,
) {
    let Some(entry) = services.get_mut(service) else {
        return;
    };
    if let Some(counts) = entry.operations.get_mut(name) {
        let slot = &mut counts[kind as usize];
        *slot = slot.saturating_sub(1);
        if counts.iter().all(|&c| c == 0) {
            entry.operations.remove(name);
        }
    }
    entry.spans = entry.spans.saturating_sub(1);
    if entry.spans == 0 {
        services.remove(service);
    }
}

impl MemoryStore {
    /// A store holding at most `max_traces` traces. A `max_traces` of 0 is
    /// clamped to 1 (Jaeger rejects 0; configuration validation should too).
    pub fn new(max_traces: usize) -> Self {
        MemoryStore {
            max_traces: max_traces.max(1),
            inner: RwLock::new(Inner::default()),
        }
    }

    /// The capacity in traces.
    pub fn max_traces(&self) -> usize {
        self.max_traces
    }

    /// Number of traces held now.
    pub fn trace_count(&self) -> usize {
        self.inner.read().traces.len()
    }

    /// Number of spans held now.
    pub fn span_count(&self) -> usize {
        self.inner
            .read()
            .traces
            .values()
            .map(|t| t.spans.len())
            .sum()
    }
}

#[async_trait]
impl SpanWriter for MemoryStore {
    async fn write_spans(&self, batch: SpanBatch) -> Result<(), StorageError> {
        let mut inner = self.inner.write();
        for record in batch.spans {
            inner.insert(record, self.max_traces);
        }
        Ok(())
    }
}

#[async_trait]
impl TraceReader for MemoryStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            search_without_service: true,
            dependencies: true,
            metrics: true,
        }
    }

    async fn get_trace(&self, query: GetTraceQuery) -> Result<Option<Trace>, StorageError> {
        let inner = self.inner.read();
        Ok(inner
            .traces
            .get(&query.trace_id)
            .map(|t| t.to_trace(query.trace_id)))
    }

    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError> {
        let inner = self.inner.read();
        let hits = inner.find(query)?;
        Ok(hits
            .into_iter()
            .filter_map(|(_, id)| inner.traces.get(&id).map(|t| t.to_trace(id)))
            .collect())
    }

    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<FoundTrace>, StorageError> {
        let inner = self.inner.read();
        let hits = inner.find(query)?;
        Ok(hits
            .into_iter()
            .filter_map(|(_, id)| {
                inner
                    .traces
                    .get(&id)
                    .map(|t| FoundTrace::new(id, t.spans.start(), t.spans.end()))
            })
            .collect())
    }

    async fn services(&self) -> Result<Vec<String>, StorageError> {
        let inner = self.inner.read();
        let mut names: Vec<String> = inner.services.keys().cloned().collect();
        names.sort_unstable();
        Ok(names)
    }

    async fn operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError> {
        let inner = self.inner.read();
        let Some(entry) = inner.services.get(&query.service) else {
            return Ok(Vec::new());
        };
        let mut ops: Vec<Operation> = entry
            .operations
            .iter()
            .flat_map(|(name, counts)| {
                ALL_KINDS
                    .iter()
                    .filter(move |k| counts[**k as usize] > 0)
                    .filter(|k| query.span_kind.is_none_or(|want| want == **k))
                    .map(move |k| Operation {
                        name: name.clone(),
                        span_kind: *k,
                    })
            })
            .collect();
        ops.sort_unstable();
        Ok(ops)
    }
}

#[async_trait]
impl DependencyReader for MemoryStore {
    async fn dependencies(
        &self,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        if end < start {
            return Err(StorageError::invalid_query(
                "the end of the dependency window is before its start",
            ));
        }
        let inner = self.inner.read();
        let mut edges: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for trace in inner.traces.values().filter(|t| t.intersects(start, end)) {
            for record in &trace.spans {
                if record.span.parent_span_id.is_zero() {
                    continue;
                }
                let Some(parent) = trace.spans.first_with_id(&record.span.parent_span_id) else {
                    continue;
                };
                let key = (parent.service_name(), record.service_name());
                // Calls inside one service are not service dependencies.
                if key.0 != key.1 {
                    *edges.entry(key).or_default() += 1;
                }
            }
        }
        Ok(edges
            .into_iter()
            .map(|((parent, child), call_count)| DependencyLink {
                parent: parent.to_owned(),
                child: child.to_owned(),
                call_count,
            })
            .collect())
    }
}

#[async_trait]
impl RedStatsReader for MemoryStore {
    /// Computed from the stored spans at query time.
    async fn red_stats(&self, query: &RedQuery) -> Result<Vec<RedRow>, StorageError> {
        if query.end < query.start {
            return Err(StorageError::invalid_query(
                "the end of the statistics window is before its start",
            ));
        }
        let inner = self.inner.read();
        let mut acc = RedAccumulator::default();
        for trace in inner.traces.values() {
            if trace.spans.start() > query.end.saturating_add(crate::red::RED_MINUTE) {
                continue;
            }
            for r in &trace.spans {
                if query.selects(r.service_name(), r.span.kind, r.span.start_time_unix_nano) {
                    acc.add_span(r);
                }
            }
        }
        Ok(acc.into_rows())
    }
}

#[async_trait]
impl Purger for MemoryStore {
    async fn purge(&self) -> Result<(), StorageError> {
        *self.inner.write() = Inner::default();
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use spoor_model::testing::{self, batch};

    use super::*;
    use crate::StorageErrorKind;

    fn record(
        service: &str,
        trace: u64,
        span: u64,
        parent: u64,
        name: &str,
        start: u64,
    ) -> SpanRecord {
        testing::node(service, trace, span, parent, name, start)
            .duration(10)
            .build()
    }

    fn query(limit: usize) -> TraceQuery {
        TraceQuery {
            limit,
            ..TraceQuery::default()
        }
    }

    async fn ids(store: &MemoryStore, q: &TraceQuery) -> Vec<u64> {
        store
            .find_traces(q)
            .await
            .unwrap()
            .iter()
            .map(|t| t.trace_id.low())
            .collect()
    }

    #[tokio::test]
    async fn evicts_the_oldest_inserted_trace() {
        let store = MemoryStore::new(2);
        // Trace 1 starts last but is inserted first: it is still the one evicted.
        store
            .write_spans(batch(vec![record("a", 1, 1, 0, "op", 300)]))
            .await
            .unwrap();
        store
            .write_spans(batch(vec![record("b", 2, 1, 0, "op", 100)]))
            .await
            .unwrap();
        // Appending to a held trace evicts nothing.
        store
            .write_spans(batch(vec![record("a", 1, 2, 1, "op2", 310)]))
            .await
            .unwrap();
        assert_eq!(store.trace_count(), 2);
        store
            .write_spans(batch(vec![record("c", 3, 1, 0, "op", 200)]))
            .await
            .unwrap();
        assert_eq!(store.trace_count(), 2);
        assert!(
            store
                .get_trace(GetTraceQuery::new(TraceId::from_halves(0, 1)))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(ids(&store, &query(10)).await, vec![3, 2]);
        // The evicted trace's service and operations are gone from the indexes.
        assert_eq!(store.services().await.unwrap(), vec!["b", "c"]);
        let ops = store
            .operations(&OperationQuery {
                service: "a".into(),
                span_kind: None,
            })
            .await
            .unwrap();
        assert!(ops.is_empty());
    }

    #[tokio::test]
    async fn zero_capacity_is_clamped_to_one() {
        let store = MemoryStore::new(0);
        assert_eq!(store.max_traces(), 1);
        store
            .write_spans(batch(vec![
                record("a", 1, 1, 0, "op", 1),
                record("a", 2, 1, 0, "op", 2),
            ]))
            .await
            .unwrap();
        assert_eq!(store.trace_count(), 1);
        assert_eq!(ids(&store, &query(10)).await, vec![2]);
    }

    #[tokio::test]
    async fn results_are_newest_first_then_by_id_and_limited() {
        let store = MemoryStore::new(100);
        let spans = vec![
            record("s", 5, 1, 0, "op", 100),
            record("s", 3, 1, 0, "op", 300),
            record("s", 4, 1, 0, "op", 300),
            record("s", 1, 1, 0, "op", 200),
            // Trace 2's start is its earliest span (50), even though a later span matches.
            record("s", 2, 1, 0, "late", 400),
            record("s", 2, 2, 1, "early", 50),
        ];
        store.write_spans(batch(spans)).await.unwrap();
        assert_eq!(ids(&store, &query(10)).await, vec![3, 4, 1, 5, 2]);
        assert_eq!(ids(&store, &query(2)).await, vec![3, 4]);
        let found = store.find_trace_ids(&query(10)).await.unwrap();
        let found_ids: Vec<u64> = found.iter().map(|f| f.trace_id.low()).collect();
        assert_eq!(found_ids, vec![3, 4, 1, 5, 2]);
        assert_eq!((found[4].start, found[4].end), (50, 410));

        let err = store.find_traces(&query(0)).await.unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::InvalidQuery);
        let err = store.find_trace_ids(&query(0)).await.unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::InvalidQuery);

        // A matching span anywhere in the trace returns the whole trace.
        let q = TraceQuery {
            operation: Some("late".into()),
            ..query(10)
        };
        let traces = store.find_traces(&q).await.unwrap();
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].spans.len(), 2);
        // The time window prunes by span start.
        let q = TraceQuery {
            start_min: Some(250),
            start_max: Some(350),
            ..query(10)
        };
        assert_eq!(ids(&store, &q).await, vec![3, 4]);
    }

    #[tokio::test]
    async fn operations_are_sorted_and_filtered_by_kind() {
        let store = MemoryStore::new(10);
        let mut server = record("svc", 1, 2, 0, "b-op", 1);
        server.span.kind = SpanKind::Server;
        let mut client = record("svc", 1, 3, 0, "a-op", 1);
        client.span.kind = SpanKind::Client;
        let mut client_too = record("svc", 1, 4, 0, "b-op", 1);
        client_too.span.kind = SpanKind::Client;
        let plain = record("svc", 1, 5, 0, "c-op", 1);
        let other = record("other", 1, 6, 0, "z-op", 1);
        store
            .write_spans(batch(vec![server, client, client_too, plain, other]))
            .await
            .unwrap();
        let all = store
            .operations(&OperationQuery {
                service: "svc".into(),
                span_kind: None,
            })
            .await
            .unwrap();
        let got: Vec<(&str, SpanKind)> =
            all.iter().map(|o| (o.name.as_str(), o.span_kind)).collect();
        assert_eq!(
            got,
            vec![
                ("a-op", SpanKind::Client),
                ("b-op", SpanKind::Server),
                ("b-op", SpanKind::Client),
                ("c-op", SpanKind::Unspecified),
            ]
        );
        let clients = store
            .operations(&OperationQuery {
                service: "svc".into(),
                span_kind: Some(SpanKind::Client),
            })
            .await
            .unwrap();
        let names: Vec<&str> = clients.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, vec!["a-op", "b-op"]);
        let none = store
            .operations(&OperationQuery {
                service: "missing".into(),
                span_kind: None,
            })
            .await
            .unwrap();
        assert!(none.is_empty());
        assert_eq!(store.services().await.unwrap(), vec!["other", "svc"]);
    }

    #[tokio::test]
    async fn dependencies_count_parent_child_pairs_in_the_window() {
        let store = MemoryStore::new(10);
        let spans = vec![
            // Trace 1 at t=1000: front → back twice, back → db once; back → back is
            // a call inside one service and gives no edge.
            record("front", 1, 1, 0, "root", 1000),
            record("back", 1, 2, 1, "call", 1001),
            record("back", 1, 3, 1, "call", 1002),
            record("db", 1, 4, 2, "query", 1003),
            record("back", 1, 5, 2, "inner", 1004),
            // A parent that is not in the trace gives no edge.
            record("db", 1, 6, 99, "orphan", 1005),
            // Trace 2 at t=5000, outside the first window.
            record("front", 2, 1, 0, "root", 5000),
            record("mail", 2, 2, 1, "send", 5001),
        ];
        store.write_spans(batch(spans)).await.unwrap();
        let link = |p: &str, c: &str, n| DependencyLink {
            parent: p.into(),
            child: c.into(),
            call_count: n,
        };
        assert_eq!(
            store.dependencies(0, 2000).await.unwrap(),
            vec![link("back", "db", 1), link("front", "back", 2)]
        );
        // A window that only touches the end of trace 1 still includes it.
        assert_eq!(store.dependencies(1014, 1014).await.unwrap().len(), 2);
        assert_eq!(
            store.dependencies(4000, 6000).await.unwrap(),
            vec![link("front", "mail", 1)]
        );
        assert!(store.dependencies(2000, 3000).await.unwrap().is_empty());
        let err = store.dependencies(10, 5).await.unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::InvalidQuery);
    }

    #[tokio::test]
    async fn identical_spans_are_stored_once_but_distinct_spans_sharing_an_id_are_kept() {
        let store = MemoryStore::new(10);
        let a = record("s", 1, 7, 0, "op", 100);
        let mut b = a.clone();
        b.span.start_time_unix_nano = 200;
        let mut with_warning = a.clone();
        with_warning.warnings.push("query-time only".into());
        store
            .write_spans(batch(vec![a.clone(), b.clone()]))
            .await
            .unwrap();
        store
            .write_spans(batch(vec![a.clone(), with_warning, b.clone()]))
            .await
            .unwrap();
        let trace = store
            .get_trace(GetTraceQuery::new(TraceId::from_halves(0, 1)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(trace.spans, vec![a, b]);
        assert_eq!(store.span_count(), 2);
    }

    #[tokio::test]
    async fn purge_removes_everything() {
        let store = MemoryStore::new(10);
        store
            .write_spans(batch(vec![
                record("a", 1, 1, 0, "op", 1),
                record("b", 2, 2, 1, "op", 2),
            ]))
            .await
            .unwrap();
        store.purge().await.unwrap();
        assert_eq!(store.trace_count(), 0);
        assert!(store.services().await.unwrap().is_empty());
        assert!(ids(&store, &query(10)).await.is_empty());
        assert!(store.dependencies(0, u64::MAX).await.unwrap().is_empty());
        // The store is usable afterwards.
        store
            .write_spans(batch(vec![record("c", 3, 1, 0, "op", 1)]))
            .await
            .unwrap();
        assert_eq!(store.services().await.unwrap(), vec!["c"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_and_readers_see_consistent_data() {
        let store = Arc::new(MemoryStore::new(1_000));
        let mut tasks = Vec::new();
        for writer in 0..8u64 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                for i in 0..50u64 {
                    let trace = writer * 1_000 + i;
                    // Two batches per trace, so appends interleave with other writers.
                    let root = record(&format!("svc-{writer}"), trace, 1, 0, "root", trace);
                    let child = record("shared", trace, 2, 1, "child", trace + 1);
                    store.write_spans(batch(vec![root])).await.unwrap();
                    store.write_spans(batch(vec![child])).await.unwrap();
                    let found = store.find_traces(&query(5)).await.unwrap();
                    assert!(found.len() <= 5);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.trace_count(), 400);
        assert_eq!(store.span_count(), 800);
        let services = store.services().await.unwrap();
        assert_eq!(services.len(), 9);
        let deps = store.dependencies(0, u64::MAX).await.unwrap();
        assert_eq!(deps.len(), 8);
        assert!(
            deps.iter()
                .all(|d| d.child == "shared" && d.call_count == 50)
        );
    }
}
