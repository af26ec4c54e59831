//! The storage conformance suite against the engine, exactly as the memory
//! backend runs it: on fresh data in the head, on data cut into blocks (one
//! block per write, so every multi-batch trace is split across blocks), and
//! after restarts (data replayed from the WAL, or loaded from blocks).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::CutEveryWrite;
use spoor_engine::{Engine, EngineConfig};
use spoor_model::TraceId;
use spoor_storage::conformance::{
    Backend, Fixtures, check_queries, compare_traces, run_all, write_fixtures,
};
use spoor_storage::{GetTraceQuery, SpanWriter, TraceReader};

async fn check_every_fixture_trace(engine: &Engine, fixtures: &Fixtures) {
    for (stem, batch) in &fixtures.traces {
        let mut ids: Vec<TraceId> = batch.spans.iter().map(|r| r.span.trace_id).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            let trace = engine
                .get_trace(GetTraceQuery::new(id))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{stem}: trace {id} is missing"));
            let expected: Vec<_> = fixtures
                .traces
                .values()
                .flat_map(|b| b.spans.iter())
                .filter(|r| r.span.trace_id == id)
                .cloned()
                .collect();
            let expected = spoor_model::Trace {
                trace_id: id,
                spans: expected,
                warnings: Vec::new(),
            };
            compare_traces(&[expected], &[trace]).unwrap_or_else(|e| panic!("{stem}: {e}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_passes_the_whole_suite_on_fresh_data() {
    let fixtures = common::fixtures();
    assert_eq!(fixtures.traces.len(), 32, "Jaeger ships 32 trace fixtures");
    let dir = common::temp_dir("conformance-fresh");
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    let report = run_all(&Backend::of(&engine), &fixtures).await;
    eprintln!("{report}");
    report.assert_all_passed();
    assert!(report.passed_count() >= 2 * 25 + 14, "{report}");
    assert_eq!(report.passed_count(), report.checks.len(), "{report}");
    assert_eq!(engine.stats().head_spans, 0, "the suite purges at the end");
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_cases_pass_after_a_restart() {
    let fixtures = common::fixtures();
    let dir = common::temp_dir("conformance-restart");
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    write_fixtures(&engine, &fixtures).await.unwrap();
    drop(engine);

    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    assert_eq!(engine.stats().wal_replayed_records, 32);
    let report = check_queries(&engine, &fixtures).await;
    report.assert_all_passed();
    assert_eq!(report.checks.len(), 50);
    check_every_fixture_trace(&engine, &fixtures).await;
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_passes_the_whole_suite_with_every_write_cut_into_a_block() {
    let fixtures = common::fixtures();
    let dir = common::temp_dir("conformance-blocks");
    let engine = Arc::new(Engine::open(common::quiet_config(&dir)).await.unwrap());
    common::assert_suite_passes_cutting_every_write(&engine, &fixtures).await;
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_cases_pass_on_blocks_loaded_after_a_restart() {
    let fixtures = common::fixtures();
    let dir = common::temp_dir("conformance-block-restart");
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    // Half the fixtures in one block, the other half left in the WAL.
    let half = fixtures.traces.len() / 2;
    for (i, batch) in fixtures.traces.values().enumerate() {
        engine.write_spans(batch.clone()).await.unwrap();
        if i + 1 == half {
            assert_eq!(engine.cut().await.unwrap(), 1);
        }
    }
    drop(engine);

    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    let stats = engine.stats();
    assert_eq!(stats.blocks, 1, "{stats:?}");
    assert_eq!(
        stats.wal_replayed_records,
        (fixtures.traces.len() - half) as u64
    );
    let report = check_queries(&engine, &fixtures).await;
    report.assert_all_passed();
    check_every_fixture_trace(&engine, &fixtures).await;
    // Cut the rest too, restart again: everything comes from blocks.
    assert_eq!(engine.cut().await.unwrap(), 1);
    drop(engine);
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    let stats = engine.stats();
    assert_eq!(
        (stats.blocks, stats.head_spans, stats.wal_replayed_records),
        (2, 0, 0)
    );
    let report = check_queries(&engine, &fixtures).await;
    report.assert_all_passed();
    check_every_fixture_trace(&engine, &fixtures).await;
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_passes_the_whole_suite_on_compacted_blocks() {
    let fixtures = common::fixtures();
    let dir = common::temp_dir("conformance-compacted");
    let engine = Arc::new(Engine::open(EngineConfig::new(&dir)).await.unwrap());
    // Every write becomes a block; every fifth write, small blocks of the
    // same hour are merged, so the checks read compacted blocks, level-0
    // blocks written after the last compaction, and traces split between them.
    let writer = CutEveryWrite::new(&engine, Some(5));
    let backend = Backend {
        writer: &writer,
        reader: &*engine,
        dependencies: Some(&*engine),
        metrics: Some(&*engine),
        purger: &*engine,
    };
    let report = run_all(&backend, &fixtures).await;
    eprintln!("{report}");
    report.assert_all_passed();
    assert_eq!(report.passed_count(), report.checks.len(), "{report}");
    let stats = engine.stats();
    assert!(stats.blocks_compacted >= 5, "{stats:?}");
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
