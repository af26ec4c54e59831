//! Durability of the engine across restarts, torn WAL tails and misuse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use spoor_engine::wal::{list_segments, segment_path};
use spoor_engine::{BlockStorage, Engine, EngineConfig, EngineError};
use spoor_model::{SpanBatch, TraceId};
use spoor_storage::conformance::compare_span_sets;
use spoor_storage::{GetTraceQuery, Purger, SpanWriter, StorageErrorKind, TraceQuery, TraceReader};

async fn assert_batch_present(engine: &Engine, batch: &SpanBatch) {
    let id = batch.spans[0].span.trace_id;
    let trace = engine
        .get_trace(GetTraceQuery::new(id))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("trace {id} is missing"));
    compare_span_sets(&batch.spans, &trace.spans).unwrap();
    assert_eq!(trace.spans.len(), batch.spans.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_every_acknowledged_span_and_writes_are_grouped() {
    let dir = common::temp_dir("restart");
    let engine = Arc::new(Engine::open(EngineConfig::new(&dir)).await.unwrap());
    let mut tasks = Vec::new();
    for writer in 0..8u64 {
        let engine = Arc::clone(&engine);
        tasks.push(tokio::spawn(async move {
            for seq in 0..40u64 {
                engine
                    .write_spans(common::numbered_batch(writer, seq, 5))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stats = engine.stats();
    assert_eq!(stats.wal_records, 320);
    assert_eq!(stats.spans_written, 1_600);
    assert!(
        stats.wal_groups < stats.wal_records,
        "concurrent writes share fsyncs: {stats:?}"
    );
    drop(engine);

    let engine = Engine::open(EngineConfig::new(&dir)).await.unwrap();
    let stats = engine.stats();
    assert_eq!(stats.wal_replayed_records, 320);
    assert_eq!(stats.head_spans, 1_600);
    assert_eq!(stats.wal_truncations, 0);
    for writer in 0..8u64 {
        for seq in 0..40u64 {
            assert_batch_present(&engine, &common::numbered_batch(writer, seq, 5)).await;
        }
    }
    // Writing after the restart goes to a new segment; a second restart sees both.
    engine
        .write_spans(common::numbered_batch(99, 1, 3))
        .await
        .unwrap();
    drop(engine);
    let engine = Engine::open(EngineConfig::new(&dir)).await.unwrap();
    assert_eq!(engine.stats().head_spans, 1_603);
    assert_batch_present(&engine, &common::numbered_batch(99, 1, 3)).await;
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_torn_wal_tail_is_truncated_and_earlier_records_survive() {
    let dir = common::temp_dir("torn");
    let engine = Engine::open(EngineConfig::new(&dir)).await.unwrap();
    for seq in 0..10 {
        engine
            .write_spans(common::numbered_batch(0, seq, 4))
            .await
            .unwrap();
    }
    engine.close().await.unwrap();
    drop(engine);
    let wal = dir.join("wal");
    let (_, last) = list_segments(&wal).unwrap().pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();

    // Cut the last record in half, as a crash in the middle of a write would.
    let record_len = spoor_engine::wal::frame_batch(&common::numbered_batch(0, 9, 4)).len() as u64;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - record_len / 2)
        .unwrap();
    let engine = Engine::open(EngineConfig::new(&dir)).await.unwrap();
    let stats = engine.stats();
    assert_eq!(stats.wal_truncations, 1, "{stats:?}");
    assert_eq!(stats.wal_truncated_bytes, record_len - record_len / 2);
    assert_eq!(stats.wal_replayed_records, 9);
    for seq in 0..9 {
        assert_batch_present(&engine, &common::numbered_batch(0, seq, 4)).await;
    }
    let lost = engine
        .get_trace(GetTraceQuery::new(TraceId::from_halves(1, 9)))
        .await
        .unwrap();
    assert!(lost.is_none(), "the torn record must not come back");
    assert_eq!(len - record_len, std::fs::metadata(&last).unwrap().len());
    // New writes after recovery survive the next restart.
    engine
        .write_spans(common::numbered_batch(0, 9, 4))
        .await
        .unwrap();
    drop(engine);

    // Garbage appended to the newest segment is cut off too.
    let (_, newest) = list_segments(&wal).unwrap().pop().unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&newest)
        .unwrap()
        .write_all(&[0xab; 100])
        .unwrap();
    let engine = Engine::open(EngineConfig::new(&dir)).await.unwrap();
    let stats = engine.stats();
    assert_eq!((stats.wal_truncations, stats.wal_truncated_bytes), (1, 100));
    for seq in 0..10 {
        assert_batch_present(&engine, &common::numbered_batch(0, seq, 4)).await;
    }
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_data_directory_is_used_by_one_engine_at_a_time() {
    let dir = common::temp_dir("lock");
    let engine = Engine::open(EngineConfig::new(&dir)).await.unwrap();
    let err = Engine::open(EngineConfig::new(&dir)).await.unwrap_err();
    assert!(matches!(err, EngineError::Locked(_)), "{err}");
    drop(engine);
    let engine = Engine::open(EngineConfig::new(&dir)).await.unwrap();
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_closed_engine_refuses_writes_as_unavailable() {
    let dir = common::temp_dir("closed");
    let engine = Engine::open(EngineConfig::new(&dir)).await.unwrap();
    let health = engine.health();
    assert!(health.writable && !health.closed, "{health:?}");
    engine.close().await.unwrap();
    let health = engine.health();
    assert!(!health.writable && health.closed, "{health:?}");
    let closed = spoor_storage::StorageStatus::metrics(&engine)
        .into_iter()
        .find(|m| m.name == "spoor_engine_closed")
        .unwrap();
    assert_eq!(closed.value, 1);
    let err = engine
        .write_spans(common::numbered_batch(0, 0, 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Unavailable);
    // Empty batches are accepted without touching the log.
    engine.write_spans(SpanBatch::default()).await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_is_bounded_while_blocks_cannot_be_written_and_nothing_is_lost() {
    let dir = common::temp_dir("bounded");
    let store = Arc::new(common::FlakyStore::default());
    store.fail_writes.store(true, Ordering::Relaxed);
    let config = EngineConfig {
        head_cut_bytes: 32 * 1024,
        head_max_bytes: 64 * 1024,
        maintenance_interval: std::time::Duration::from_millis(20),
        block_storage: BlockStorage::Custom(store.clone()),
        ..EngineConfig::new(&dir)
    };
    let engine = Engine::open(config.clone()).await.unwrap();
    let mut refused = None;
    for seq in 0..1_000 {
        if let Err(e) = engine.write_spans(common::numbered_batch(0, seq, 10)).await {
            refused = Some((seq, e));
            break;
        }
    }
    let (accepted, err) = refused.expect("writes beyond the bound are refused");
    assert_eq!(err.kind, StorageErrorKind::Busy);
    assert!(accepted > 0);
    // The background cut keeps failing (and is retried).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while engine.stats().cut_errors == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let stats = engine.stats();
    assert!(stats.writes_rejected_busy >= 1);
    assert!(stats.cut_errors >= 1, "{stats:?}");
    assert!(engine.health().cut_failing);
    assert!(engine.health().writable, "the WAL still writes");
    assert_eq!(stats.blocks, 0);
    assert!(stats.head_bytes >= 64 * 1024);
    assert!(stats.head_bytes < 2 * 64 * 1024, "{stats:?}");
    // Everything accepted is still readable, and survives a restart.
    for seq in 0..accepted {
        assert_batch_present(&engine, &common::numbered_batch(0, seq, 10)).await;
    }
    drop(engine);
    let engine = Engine::open(config).await.unwrap();
    assert_eq!(engine.stats().wal_replayed_records, accepted);
    // Once blocks can be written again, a cut frees the memory.
    store.fail_writes.store(false, Ordering::Relaxed);
    assert!(engine.cut().await.unwrap() >= 1);
    let stats = engine.stats();
    assert_eq!(stats.head_spans, 0, "{stats:?}");
    assert_eq!(stats.block_spans, accepted * 10);
    engine
        .write_spans(common::numbered_batch(0, accepted, 10))
        .await
        .unwrap();
    for seq in 0..=accepted {
        assert_batch_present(&engine, &common::numbered_batch(0, seq, 10)).await;
    }
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn purge_empties_memory_and_the_log() {
    let dir = common::temp_dir("purge");
    let engine = Engine::open(EngineConfig::new(&dir)).await.unwrap();
    for seq in 0..5 {
        engine
            .write_spans(common::numbered_batch(3, seq, 2))
            .await
            .unwrap();
    }
    engine.purge().await.unwrap();
    let q = TraceQuery {
        limit: 10,
        ..TraceQuery::default()
    };
    assert!(engine.find_traces(&q).await.unwrap().is_empty());
    assert!(engine.services().await.unwrap().is_empty());
    engine
        .write_spans(common::numbered_batch(3, 7, 2))
        .await
        .unwrap();
    drop(engine);
    let segments = list_segments(&dir.join("wal")).unwrap();
    assert_eq!(segments.len(), 1, "{segments:?}");
    assert!(segment_path(&dir.join("wal"), segments[0].0).exists());
    let engine = Engine::open(EngineConfig::new(&dir)).await.unwrap();
    assert_eq!(engine.stats().head_spans, 2);
    assert_eq!(engine.services().await.unwrap(), vec!["writer-3"]);
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
