//! Blocks: search and lookup over head and blocks compared with the memory
//! backend, pruning, cutting by size and age, and recovery from crashes and
//! damage around a cut.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use spoor_engine::wal::list_segments;
use spoor_engine::{Engine, EngineConfig};
use spoor_model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanBatch, SpanId, SpanKind,
    SpanRecord, Status, StatusCode, Trace, TraceId,
};
use spoor_storage::conformance::{compare_span_sets, compare_traces};
use spoor_storage::memory::MemoryStore;
use spoor_storage::{
    DependencyReader, GetTraceQuery, OperationQuery, PrepareTrace, SpanWriter, SummaryFacts,
    SummaryOptions, TagFilter, TraceQuery, TraceReader,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const SERVICES: [&str; 3] = ["svc-a", "svc-b", "svc-c"];
const OPS: [&str; 4] = ["op-0", "op-1", "op-2", "op-3"];
const BASE: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;

fn random_span(
    rng: &mut Rng,
    trace: TraceId,
    index: u64,
    resources: &[Arc<Resource>],
    scopes: &[Arc<Scope>],
) -> SpanRecord {
    let start = BASE + trace.low() * 10 * SECOND + rng.below(5 * SECOND);
    let mut attributes = Vec::new();
    if rng.chance(50) {
        attributes.push(KeyValue::str("http.method", *rng.pick(&["GET", "POST"])));
    }
    if rng.chance(40) {
        attributes.push(KeyValue::new(
            "http.status_code",
            AnyValue::Int(*rng.pick(&[200, 404, 500])),
        ));
    }
    if rng.chance(40) {
        attributes.push(KeyValue::str("k1", *rng.pick(&["v1", "v2"])));
    }
    if rng.chance(20) {
        attributes.push(KeyValue::new("flag", AnyValue::Bool(rng.chance(50))));
    }
    if rng.chance(10) {
        // A second http.method that stays in the generic list.
        attributes.push(KeyValue::str("http.method", "PUT"));
    }
    if rng.chance(10) {
        attributes.push(KeyValue::new(
            "nested",
            AnyValue::KvList(vec![KeyValue::str("a", "b")]),
        ));
    }
    let events = if rng.chance(30) {
        vec![Event {
            time_unix_nano: start + 10,
            name: "ev".into(),
            attributes: vec![KeyValue::str("ev.key", *rng.pick(&["x", "y"]))],
            dropped_attributes_count: 0,
        }]
    } else {
        Vec::new()
    };
    let links = if rng.chance(15) {
        vec![Link {
            trace_id: TraceId::from_halves(9, rng.below(5)),
            span_id: SpanId::from_u64(rng.below(5) + 1),
            trace_state: String::new(),
            attributes: vec![KeyValue::str("link.key", "l")],
            dropped_attributes_count: 0,
            flags: 0,
        }]
    } else {
        Vec::new()
    };
    SpanRecord::new(
        Arc::clone(rng.pick(resources)),
        Arc::clone(rng.pick(scopes)),
        Span {
            trace_id: trace,
            span_id: SpanId::from_u64(index + 1),
            parent_span_id: if index == 0 {
                SpanId::ZERO
            } else {
                SpanId::from_u64(rng.below(index) + 1)
            },
            name: (*rng.pick(&OPS)).to_owned(),
            kind: SpanKind::from_i32(rng.below(6) as i32),
            start_time_unix_nano: start,
            end_time_unix_nano: start + rng.below(2 * SECOND),
            attributes,
            events,
            links,
            status: Status {
                code: StatusCode::from_i32(rng.below(3) as i32),
                message: String::new(),
            },
            ..Span::default()
        },
    )
}

fn random_query(rng: &mut Rng) -> TraceQuery {
    let tags: [(&str, &str); 12] = [
        ("http.method", "GET"),
        ("http.method", "PUT"),
        ("http.status_code", "500"),
        ("k1", "v1"),
        ("flag", "true"),
        ("error", "true"),
        ("span.kind", "server"),
        ("span.status", "OK"),
        ("resource.region", "eu"),
        ("scope.name", "lib-1"),
        ("ev.key", "x"),
        ("link.key", "l"),
    ];
    let mut q = TraceQuery {
        limit: 1 + rng.below(25) as usize,
        ..TraceQuery::default()
    };
    if rng.chance(60) {
        q.service = Some((*rng.pick(&SERVICES)).to_owned());
    }
    if rng.chance(30) {
        q.operation = Some((*rng.pick(&OPS)).to_owned());
    }
    for _ in 0..rng.below(3) {
        let (k, v) = *rng.pick(&tags);
        q.tags.push(TagFilter::new(k, v));
    }
    if rng.chance(30) {
        let from = BASE + rng.below(150) * 10 * SECOND;
        q.start_min = Some(from);
        q.start_max = Some(from + rng.below(60) * 10 * SECOND);
    }
    if rng.chance(20) {
        q.duration_min = Some(rng.below(SECOND));
    }
    if rng.chance(10) {
        q.duration_max = Some(SECOND);
    }
    if rng.chance(40) {
        let expr = random_filter(rng, 0);
        let parsed =
            spoor_storage::FilterExpr::parse(&expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        q.filter = Some(Arc::new(parsed));
    }
    if rng.chance(20) {
        q.trace_duration_min = Some(rng.below(3 * SECOND));
    }
    if rng.chance(10) {
        q.trace_duration_max = Some(SECOND + rng.below(2 * SECOND));
    }
    q
}

/// A random filter expression over the generated data's keys.
fn random_filter(rng: &mut Rng, depth: u32) -> String {
    const CONDITIONS: [&str; 18] = [
        "http.method=GET",
        "http.method!=GET",
        "http.status_code=~\"5..\"",
        "http.status_code!~\"2..\"",
        "k1",
        "k1=v2",
        "flag=true",
        "error",
        "error=true",
        "span.kind=~\"server|client\"",
        "resource.region=eu",
        "region=~u.",
        "scope.name=lib-2",
        "ev.key=x",
        "link.key",
        "nested",
        "absent.key",
        "absent.key!=x",
    ];
    if depth >= 2 || rng.chance(50) {
        let c = (*rng.pick(&CONDITIONS)).to_owned();
        return if rng.chance(20) {
            format!("NOT {c}")
        } else {
            c
        };
    }
    let a = random_filter(rng, depth + 1);
    let b = random_filter(rng, depth + 1);
    match rng.below(4) {
        0 => format!("{a} {b}"),
        1 => format!("({a}) AND ({b})"),
        2 => format!("({a} OR {b})"),
        _ => format!("!({a} OR {b})"),
    }
}

/// The dependency links of every stored span whose start falls in a minute
/// that `window` touches, computed from the memory backend's traces.
async fn per_minute_edges(
    memory: &MemoryStore,
    window: (u64, u64),
) -> Vec<spoor_model::DependencyLink> {
    const MINUTE: u64 = 60 * SECOND;
    let all = TraceQuery {
        limit: 1_000_000,
        ..TraceQuery::default()
    };
    let mut edges: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for trace in memory.find_traces(&all).await.unwrap() {
        let mut first = std::collections::HashMap::new();
        for (i, r) in trace.spans.iter().enumerate() {
            first.entry(r.span.span_id).or_insert(i);
        }
        for r in &trace.spans {
            let minute = r.span.start_time_unix_nano / MINUTE;
            if r.span.parent_span_id.is_zero()
                || minute < window.0 / MINUTE
                || minute > window.1 / MINUTE
            {
                continue;
            }
            if let Some(&p) = first.get(&r.span.parent_span_id) {
                let (ps, cs) = (trace.spans[p].service_name(), r.service_name());
                if ps != cs {
                    *edges.entry((ps.to_owned(), cs.to_owned())).or_default() += 1;
                }
            }
        }
    }
    edges
        .into_iter()
        .map(
            |((parent, child), call_count)| spoor_model::DependencyLink {
                parent,
                child,
                call_count,
            },
        )
        .collect()
}

/// Summary options as the query service sets them, with a stand-in for an
/// adjuster that changes summaries: a child starting before its parent is
/// moved to start with it, so the summary as stored is exact only when every
/// child lies within its parent.
fn summary_options() -> [SummaryOptions; 2] {
    let prepare: Arc<PrepareTrace> = Arc::new(|trace: &mut Trace| {
        let starts: HashMap<SpanId, u64> = trace
            .spans
            .iter()
            .map(|r| (r.span.span_id, r.span.start_time_unix_nano))
            .collect();
        for r in &mut trace.spans {
            let s = &mut r.span;
            if let Some(&parent) = starts.get(&s.parent_span_id)
                && s.start_time_unix_nano < parent
            {
                let shift = parent - s.start_time_unix_nano;
                s.start_time_unix_nano += shift;
                s.end_time_unix_nano += shift;
            }
        }
    });
    [
        SummaryOptions::default(),
        SummaryOptions {
            prepare: Some(prepare),
            stored_is_exact: Some(Arc::new(|f: &SummaryFacts| f.children_within_parents)),
            ..SummaryOptions::default()
        },
    ]
}

/// Summary searches: the engine answers the traces stored in one block from
/// the block's index and reads the others; the memory backend reads and
/// summarizes every trace. Both give the same rows.
async fn compare_summaries(engine: &Engine, memory: &MemoryStore, rng: &mut Rng, when: &str) {
    let before = engine.stats();
    for round in 0..60 {
        let q = random_query(rng);
        for (i, options) in summary_options().iter().enumerate() {
            let want = memory
                .find_trace_summaries_partial(&q, options)
                .await
                .unwrap();
            let got = engine
                .find_trace_summaries_partial(&q, options)
                .await
                .unwrap();
            assert_eq!(got, want, "{when}, round {round}, options {i}: {q:?}");
        }
    }
    let after = engine.stats();
    // Both ways were taken.
    assert!(
        after.stored_summaries > before.stored_summaries
            && after.block_trace_reads > before.block_trace_reads,
        "{when}: {before:?} {after:?}"
    );
}

/// Writes the same random data to the engine (cutting blocks at random
/// points, so traces are split between blocks and the head) and to the
/// memory backend, then compares many random searches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_over_head_and_blocks_matches_the_memory_backend() {
    let dir = common::temp_dir("differential");
    let config = common::quiet_config(&dir);
    let engine = Engine::open(config.clone()).await.unwrap();
    let memory = MemoryStore::new(100_000);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let resources: Vec<Arc<Resource>> = SERVICES
        .iter()
        .flat_map(|s| {
            ["eu", "us"].map(|region| {
                Arc::new(Resource {
                    attributes: vec![
                        KeyValue::str("service.name", *s),
                        KeyValue::str("region", region),
                    ],
                    ..Resource::default()
                })
            })
        })
        .collect();
    let scopes: Vec<Arc<Scope>> = ["lib-1", "lib-2"]
        .iter()
        .map(|n| {
            Arc::new(Scope {
                name: (*n).to_owned(),
                ..Scope::default()
            })
        })
        .collect();
    // 300 traces of 1 to 8 spans, written in 60 batches mixing traces.
    let mut spans: Vec<SpanRecord> = Vec::new();
    for t in 0..300u64 {
        let trace = TraceId::from_halves(0x77, t);
        for i in 0..1 + rng.below(8) {
            spans.push(random_span(&mut rng, trace, i, &resources, &scopes));
        }
    }
    for i in (1..spans.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        spans.swap(i, j);
    }
    let mut batches: Vec<SpanBatch> = spans
        .chunks(spans.len().div_ceil(60))
        .map(|c| SpanBatch { spans: c.to_vec() })
        .collect();
    // A batch written twice: identical spans are stored once.
    batches.push(batches[3].clone());
    for (i, batch) in batches.iter().enumerate() {
        engine.write_spans(batch.clone()).await.unwrap();
        memory.write_spans(batch.clone()).await.unwrap();
        if i % 7 == 6 {
            engine.cut().await.unwrap();
        }
    }
    let stats = engine.stats();
    assert!(stats.blocks >= 8 && stats.head_spans > 0, "{stats:?}");

    for round in 0..600 {
        let q = random_query(&mut rng);
        let want = memory.find_trace_ids(&q).await.unwrap();
        let got = engine.find_trace_ids(&q).await.unwrap();
        assert_eq!(got, want, "round {round}: {q:?}");
        if round % 10 == 0 {
            let want = memory.find_traces(&q).await.unwrap();
            let got = engine.find_traces(&q).await.unwrap();
            compare_traces(&want, &got).unwrap_or_else(|e| panic!("round {round}: {q:?}: {e}"));
        }
    }
    compare_summaries(&engine, &memory, &mut rng, "before restart").await;
    for t in (0..300u64).step_by(13) {
        let q = GetTraceQuery::new(TraceId::from_halves(0x77, t));
        let want = memory.get_trace(q).await.unwrap().unwrap();
        let got = engine.get_trace(q).await.unwrap().unwrap();
        assert_eq!(got.spans.len(), want.spans.len());
        compare_span_sets(&want.spans, &got.spans).unwrap();
    }
    assert_eq!(
        engine.services().await.unwrap(),
        memory.services().await.unwrap()
    );
    for service in SERVICES {
        for kind in [None, Some(SpanKind::Server)] {
            let q = OperationQuery {
                service: service.into(),
                span_kind: kind,
            };
            assert_eq!(
                engine.operations(&q).await.unwrap(),
                memory.operations(&q).await.unwrap()
            );
        }
    }
    // Over all time, the engine's per-minute edges add up to the memory
    // backend's per-trace edges.
    assert_eq!(
        engine.dependencies(0, u64::MAX).await.unwrap(),
        memory.dependencies(0, u64::MAX).await.unwrap()
    );
    // Over a window, edges count by the minute their child span starts.
    for (from, to) in [(1_000, 1_500), (0, 90), (2_000, 2_000), (2_990, 3_100)] {
        let window = (BASE + from * SECOND, BASE + to * SECOND);
        assert_eq!(
            engine.dependencies(window.0, window.1).await.unwrap(),
            per_minute_edges(&memory, window).await,
            "window {from}..{to} s"
        );
    }

    // The same answers after a restart, with the head cut too.
    engine.cut().await.unwrap();
    drop(engine);
    let engine = Engine::open(config).await.unwrap();
    assert_eq!(engine.stats().head_spans, 0);
    for round in 0..100 {
        let q = random_query(&mut rng);
        let want = memory.find_trace_ids(&q).await.unwrap();
        let got = engine.find_trace_ids(&q).await.unwrap();
        assert_eq!(got, want, "after restart, round {round}: {q:?}");
    }
    compare_summaries(&engine, &memory, &mut rng, "after restart").await;
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_trace_lookup_opens_only_blocks_that_hold_the_trace() {
    let dir = common::temp_dir("lookup");
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    for seq in 0..12 {
        engine
            .write_spans(common::numbered_batch(1, seq, 3))
            .await
            .unwrap();
        engine.cut().await.unwrap();
    }
    // Trace (1, 5) gets a second piece in a later block and a third in the head.
    let mut late = common::numbered_batch(1, 5, 5);
    late.spans.drain(..3);
    engine
        .write_spans(SpanBatch {
            spans: vec![late.spans[0].clone()],
        })
        .await
        .unwrap();
    engine.cut().await.unwrap();
    engine
        .write_spans(SpanBatch {
            spans: vec![late.spans[1].clone()],
        })
        .await
        .unwrap();
    assert_eq!(engine.stats().blocks, 13);

    let before = engine.stats().block_trace_reads;
    let trace = engine
        .get_trace(GetTraceQuery::new(TraceId::from_halves(2, 5)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(engine.stats().block_trace_reads - before, 2);
    compare_span_sets(&common::numbered_batch(1, 5, 5).spans, &trace.spans).unwrap();

    let before = engine.stats().block_trace_reads;
    assert!(
        engine
            .get_trace(GetTraceQuery::new(TraceId::from_halves(2, 99)))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(engine.stats().block_trace_reads, before);

    // The summary merges the three pieces.
    let summary = engine.trace_summary(&TraceId::from_halves(2, 5)).unwrap();
    assert_eq!(summary.span_count, 5);
    assert_eq!(summary.services, vec!["writer-1"]);
    let root = &common::numbered_batch(1, 5, 5).spans[0].span;
    assert_eq!(summary.start, root.start_time_unix_nano);
    assert_eq!(summary.root, Some(("writer-1".into(), "op-0".into())));
    assert_eq!(summary.error_count, 0);
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn search_visits_blocks_newest_first_and_stops_at_the_limit() {
    let dir = common::temp_dir("early-stop");
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    // Ten blocks of one trace each, later blocks holding later traces.
    for seq in 0..10 {
        engine
            .write_spans(common::numbered_batch(4, seq * 1_000, 2))
            .await
            .unwrap();
        engine.cut().await.unwrap();
    }
    let q = TraceQuery {
        service: Some("writer-4".into()),
        limit: 2,
        ..TraceQuery::default()
    };
    let before = engine.stats().block_scans;
    let found = engine.find_trace_ids(&q).await.unwrap();
    let ids: Vec<u64> = found.iter().map(|f| f.trace_id.low()).collect();
    assert_eq!(ids, vec![9_000, 8_000]);
    assert_eq!(engine.stats().block_scans - before, 2);
    // Result rows from the blocks' summaries, in the same order, without
    // reading a trace.
    let reads = engine.stats().block_trace_reads;
    let rows = engine
        .find_trace_summaries_partial(&q, &SummaryOptions::default())
        .await
        .unwrap()
        .value;
    let row_ids: Vec<u64> = rows.iter().map(|r| r.trace_id.low()).collect();
    assert_eq!(row_ids, ids);
    assert!(
        rows.iter().all(|r| r.span_count == 2
            && r.services.len() == 1
            && r.services[0].name == "writer-4")
    );
    assert_eq!(rows[0].min_start_time_unix_nano, found[0].start);
    assert_eq!(engine.stats().block_trace_reads, reads);
    assert_eq!(engine.stats().stored_summaries, 2);
    // A service no block holds is pruned without scanning.
    let q = TraceQuery {
        service: Some("nobody".into()),
        limit: 2,
        ..TraceQuery::default()
    };
    let before = engine.stats().block_scans;
    assert!(engine.find_trace_ids(&q).await.unwrap().is_empty());
    assert_eq!(engine.stats().block_scans, before);
    // So is an attribute key no block holds.
    let q = TraceQuery {
        tags: vec![TagFilter::new("absent.key", "x")],
        limit: 2,
        ..TraceQuery::default()
    };
    assert!(engine.find_trace_ids(&q).await.unwrap().is_empty());
    assert_eq!(engine.stats().block_scans, before);
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_is_cut_by_size_and_by_age_and_covered_wal_segments_go() {
    let dir = common::temp_dir("cut-policy");
    let config = EngineConfig {
        head_cut_bytes: 200 * 1024,
        head_max_bytes: 8 << 20,
        head_cut_age: Duration::from_millis(300),
        maintenance_interval: Duration::from_millis(20),
        wal_segment_bytes: 16 * 1024,
        ..common::quiet_config(&dir)
    };
    let engine = Engine::open(config).await.unwrap();
    // By size: well past 200 KiB.
    for seq in 0..200 {
        engine
            .write_spans(common::numbered_batch(5, seq, 10))
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while engine.stats().blocks == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(engine.stats().blocks >= 1, "cut by size");
    // By age: everything ends up in blocks within a moment.
    while engine.stats().head_spans > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = engine.stats();
    assert_eq!(stats.head_spans, 0, "cut by age: {stats:?}");
    assert_eq!(stats.block_spans, 2_000);
    // Only the open segment is left (covered segments go right after a cut).
    let mut segments = list_segments(&dir.join("wal")).unwrap();
    while segments.len() > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        segments = list_segments(&dir.join("wal")).unwrap();
    }
    assert_eq!(segments.len(), 1, "{segments:?}");
    for seq in (0..200).step_by(17) {
        let batch = common::numbered_batch(5, seq, 10);
        let trace = engine
            .get_trace(GetTraceQuery::new(batch.spans[0].span.trace_id))
            .await
            .unwrap()
            .unwrap();
        compare_span_sets(&batch.spans, &trace.spans).unwrap();
    }
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_crash_between_writing_a_block_and_deleting_its_wal_duplicates_nothing() {
    let dir = common::temp_dir("cut-crash");
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    for seq in 0..5 {
        engine
            .write_spans(common::numbered_batch(6, seq, 4))
            .await
            .unwrap();
    }
    // Keep a copy of the WAL as it was before the cut.
    let wal = dir.join("wal");
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = list_segments(&wal)
        .unwrap()
        .into_iter()
        .map(|(_, p)| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    engine.cut().await.unwrap();
    engine
        .write_spans(common::numbered_batch(6, 5, 4))
        .await
        .unwrap();
    drop(engine);
    for (path, bytes) in &saved {
        std::fs::write(path, bytes).unwrap();
    }
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    let stats = engine.stats();
    assert_eq!(stats.blocks, 1);
    assert_eq!(
        stats.wal_replayed_records, 1,
        "covered segments are not replayed"
    );
    for seq in 0..6 {
        let batch = common::numbered_batch(6, seq, 4);
        let trace = engine
            .get_trace(GetTraceQuery::new(batch.spans[0].span.trace_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(trace.spans.len(), 4);
        compare_span_sets(&batch.spans, &trace.spans).unwrap();
    }
    for (path, _) in &saved {
        assert!(!path.exists(), "{} is covered by the block", path.display());
    }
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn incomplete_blocks_are_removed_and_damaged_blocks_skipped() {
    let dir = common::temp_dir("damaged-blocks");
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    engine
        .write_spans(common::numbered_batch(7, 1, 3))
        .await
        .unwrap();
    engine.cut().await.unwrap();
    engine
        .write_spans(common::numbered_batch(7, 2, 3))
        .await
        .unwrap();
    engine.cut().await.unwrap();
    let blocks = engine.blocks();
    drop(engine);
    // A cut interrupted before meta.json was written (its WRITING marker
    // proves it never finished).
    let partial = dir.join("blocks/00000000000000000001-0000");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("WRITING"), b"").unwrap();
    std::fs::write(partial.join("spans.parquet"), b"half a file").unwrap();
    // A block whose trace index was damaged.
    let damaged = dir.join("blocks").join(&blocks[0].id).join("index.bin");
    let mut bytes = std::fs::read(&damaged).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();

    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    assert!(!partial.exists());
    let stats = engine.stats();
    assert_eq!(
        (stats.blocks, stats.blocks_quarantined),
        (1, 1),
        "{stats:?}"
    );
    // The damaged block was set aside, not deleted.
    assert!(
        dir.join("quarantine")
            .join(&blocks[0].id)
            .join("index.bin")
            .exists()
    );
    // The intact block still answers.
    let intact = &engine.blocks()[0];
    assert_ne!(intact.id, blocks[0].id);
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_small_blocks_once_and_survives_a_crash_midway() {
    let dir = common::temp_dir("compaction");
    let config = EngineConfig {
        compaction: false,
        ..EngineConfig::new(&dir)
    };
    let engine = Engine::open(config.clone()).await.unwrap();
    // Six blocks in one hour; trace (8, 0) has a piece in each, and one
    // batch is written twice (identical spans) into two blocks.
    for seq in 0..6u64 {
        engine
            .write_spans(common::numbered_batch(8, seq, 3))
            .await
            .unwrap();
        let mut piece = common::numbered_batch(8, 0, 6);
        let mine = piece.spans.remove(seq as usize);
        engine
            .write_spans(SpanBatch { spans: vec![mine] })
            .await
            .unwrap();
        if seq >= 4 {
            engine
                .write_spans(common::numbered_batch(8, 100, 2))
                .await
                .unwrap();
        }
        engine.cut().await.unwrap();
    }
    let before = engine.blocks();
    assert_eq!(before.len(), 6);
    // A reader holding the old blocks keeps their files until it is done.
    let dependencies_before = engine.dependencies(0, u64::MAX).await.unwrap();
    // Keep copies of the sources, to replay a crash after the compacted block
    // was written but before the sources were deleted.
    let saved = dir.join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    for b in &before {
        copy_dir(&dir.join("blocks").join(&b.id), &saved.join(&b.id));
    }

    assert_eq!(engine.compact().await.unwrap(), 1);
    let after = engine.blocks();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].level, 1);
    assert_eq!(after[0].replaces.len(), 6);
    // Trace (8, 0) is batch 0 plus its six-span version (whose first three
    // spans are identical to batch 0's), and batch 100 was written twice:
    // identical spans are kept once.
    assert_eq!(after[0].spans, 6 * 3 + 3 + 2);
    for b in &before {
        assert!(!dir.join("blocks").join(&b.id).exists(), "{} deleted", b.id);
    }
    async fn verify(engine: &Engine) {
        for seq in 0..6u64 {
            let batch = common::numbered_batch(8, seq, 3);
            let trace = engine
                .get_trace(GetTraceQuery::new(batch.spans[0].span.trace_id))
                .await
                .unwrap()
                .unwrap();
            let expected = if seq == 0 {
                common::numbered_batch(8, 0, 6)
            } else {
                batch
            };
            assert_eq!(trace.spans.len(), expected.spans.len());
            compare_span_sets(&expected.spans, &trace.spans).unwrap();
        }
        let dup = common::numbered_batch(8, 100, 2);
        let trace = engine
            .get_trace(GetTraceQuery::new(dup.spans[0].span.trace_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(trace.spans.len(), 2);
    }
    verify(&engine).await;
    assert_eq!(
        engine.dependencies(0, u64::MAX).await.unwrap(),
        dependencies_before
    );
    let compacted = after[0].id.clone();
    drop(engine);

    // The crash: the sources come back next to the compacted block.
    for b in &before {
        copy_dir(&saved.join(&b.id), &dir.join("blocks").join(&b.id));
    }
    let engine = Engine::open(config).await.unwrap();
    let blocks = engine.blocks();
    assert_eq!(blocks.len(), 1, "replaced blocks are dropped at open");
    assert_eq!(blocks[0].id, compacted);
    for b in &before {
        assert!(!dir.join("blocks").join(&b.id).exists());
    }
    verify(&engine).await;
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_task_compacts_and_enforces_retention() {
    let dir = common::temp_dir("retention");
    let (clock, lag) = common::lagging_clock();
    let config = EngineConfig {
        retention: Some(Duration::from_secs(3_600)),
        compaction_min_blocks: 3,
        maintenance_interval: Duration::from_millis(20),
        clock,
        ..EngineConfig::new(&dir)
    };
    let engine = Engine::open(config).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let shifted = |writer: u64, seq: u64, age: u64| {
        let mut batch = common::numbered_batch(writer, seq, 2);
        for r in &mut batch.spans {
            let offset = r.span.start_time_unix_nano - 1_700_000_000_000_000_000;
            r.span.start_time_unix_nano = now - age + offset % SECOND;
            r.span.end_time_unix_nano = r.span.start_time_unix_nano + 1_000;
            for e in &mut r.span.events {
                e.time_unix_nano = r.span.start_time_unix_nano;
            }
        }
        batch
    };
    // Two blocks of two-hour-old spans received two hours ago, three blocks
    // of recent ones received now.
    lag.store(7_200 * SECOND, std::sync::atomic::Ordering::Relaxed);
    for seq in 0..2 {
        engine
            .write_spans(shifted(9, seq, 7_200 * SECOND))
            .await
            .unwrap();
        engine.cut().await.unwrap();
    }
    lag.store(0, std::sync::atomic::Ordering::Relaxed);
    for seq in 10..13 {
        engine
            .write_spans(shifted(9, seq, 10 * SECOND))
            .await
            .unwrap();
        engine.cut().await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let stats = engine.stats();
        // The old blocks may be merged (their window closed) before they
        // expire: what counts is that only the recent data is left, in one
        // compacted block.
        if stats.blocks_expired >= 1
            && stats.blocks_compacted >= 1
            && (stats.blocks, stats.block_spans) == (1, 6)
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{stats:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let old = shifted(9, 0, 7_200 * SECOND);
    assert!(
        engine
            .get_trace(GetTraceQuery::new(old.spans[0].span.trace_id))
            .await
            .unwrap()
            .is_none()
    );
    for seq in 10..13 {
        let batch = shifted(9, seq, 10 * SECOND);
        let trace = engine
            .get_trace(GetTraceQuery::new(batch.spans[0].span.trace_id))
            .await
            .unwrap()
            .unwrap();
        compare_span_sets(&batch.spans, &trace.spans).unwrap();
    }
    engine.close().await.unwrap();
    let left: Vec<_> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    std::fs::remove_dir_all(dir).unwrap();
}
