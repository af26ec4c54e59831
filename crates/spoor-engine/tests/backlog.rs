//! The backlog budget: bytes on local disk of spans acknowledged and not yet
//! in the block store (WAL segments, and a collector's blocks kept in
//! `<data_dir>/pending` while the store fails). While the store is down a
//! writer keeps acknowledging until the budget, then refuses with a
//! retryable `Busy` (429 / RESOURCE_EXHAUSTED at the receivers); once the
//! store is back its uploads drain the backlog and writes are taken again.
//! Nothing acknowledged is lost, across a restart in the middle too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::FlakyStore;
use spoor_engine::wal::list_segments;
use spoor_engine::{BlockStorage, Engine, EngineConfig, EngineRole};
use spoor_model::SpanBatch;
use spoor_storage::conformance::compare_span_sets;
use spoor_storage::{GetTraceQuery, SpanWriter, StorageErrorKind, TraceQuery, TraceReader};

const SPANS: u64 = 10;
const BUDGET: u64 = 256 * 1024;

fn writer_config(dir: &Path, store: &Arc<FlakyStore>) -> EngineConfig {
    EngineConfig {
        role: EngineRole::Writer {
            node: "c1".into(),
            recent: Duration::from_secs(60),
        },
        block_storage: BlockStorage::Custom(store.clone()),
        compaction: false,
        head_cut_bytes: 32 * 1024,
        // Memory is not what runs out here: the disk budget is.
        head_max_bytes: 256 << 20,
        backlog_max_bytes: BUDGET,
        maintenance_interval: Duration::from_millis(20),
        ..EngineConfig::new(dir)
    }
}

/// Writes numbered batches from `first` until one is refused; returns the
/// sequence numbers acknowledged and the refusal.
async fn write_until_refused(
    engine: &Engine,
    first: u64,
) -> (Vec<u64>, spoor_storage::StorageError) {
    let mut acknowledged = Vec::new();
    for seq in first..first + 100_000 {
        match engine
            .write_spans(common::numbered_batch(0, seq, SPANS))
            .await
        {
            Ok(()) => acknowledged.push(seq),
            Err(e) => return (acknowledged, e),
        }
    }
    panic!("100,000 writes and no refusal: the budget is not enforced");
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every acknowledged batch is found whole through `engine`, and nothing else.
async fn assert_exactly(engine: &Engine, acknowledged: &[u64]) {
    for &seq in acknowledged {
        let batch: SpanBatch = common::numbered_batch(0, seq, SPANS);
        let trace = engine
            .get_trace(GetTraceQuery::new(batch.spans[0].span.trace_id))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged batch {seq} is missing"));
        compare_span_sets(&batch.spans, &trace.spans).unwrap();
        assert_eq!(trace.spans.len(), batch.spans.len(), "batch {seq} doubled");
    }
    let all = engine
        .find_trace_ids(&TraceQuery {
            limit: 1_000_000,
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), acknowledged.len(), "only what was acknowledged");
}

/// Bytes of the WAL segments in `data/wal`.
fn wal_bytes_on_disk(data: &Path) -> u64 {
    list_segments(&data.join("wal"))
        .unwrap()
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum()
}

/// A reader of the shared store: what the queriers will find there.
async fn store_reader(dir: &Path, store: &Arc<FlakyStore>) -> Engine {
    Engine::open(EngineConfig {
        role: EngineRole::Reader {
            refresh: Duration::from_secs(3_600),
        },
        block_storage: BlockStorage::Custom(store.clone()),
        ..EngineConfig::new(dir.join("reader"))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_acknowledges_up_to_its_backlog_budget_while_the_store_is_down_then_refuses_and_recovers()
 {
    let dir = common::temp_dir("backlog-writer");
    let data = dir.join("c1");
    let store = Arc::new(FlakyStore::default());
    store.fail_writes.store(true, Ordering::Relaxed);
    let engine = Engine::open(writer_config(&data, &store)).await.unwrap();

    // The store is down: writes are acknowledged into the WAL until the
    // backlog reaches the budget, then refused as busy, retryably.
    let (acknowledged, refusal) = write_until_refused(&engine, 0).await;
    assert_eq!(refusal.kind, StorageErrorKind::Busy, "{refusal}");
    assert!(refusal.is_retryable());
    assert!(refusal.message.contains("budget"), "{refusal}");
    let stats = engine.stats();
    assert!(
        acknowledged.len() > 50,
        "acknowledged {} batches",
        acknowledged.len()
    );
    assert!(stats.writes_rejected_backlog >= 1, "{stats:?}");
    assert_eq!(stats.writes_rejected_busy, 0, "memory was not the limit");
    assert!(stats.backlog_bytes >= BUDGET, "{stats:?}");
    assert_eq!((stats.backlog_max_bytes, stats.backlog_full), (BUDGET, 1));
    // The backlog is what is on disk: the WAL (all of it, nothing uploaded)
    // plus the blocks kept locally.
    assert_eq!(stats.wal_disk_bytes, wal_bytes_on_disk(&data));
    assert_eq!(
        stats.backlog_bytes,
        stats.wal_disk_bytes + stats.pending_bytes
    );
    // Every further write is refused until the store is back.
    let again = engine
        .write_spans(common::numbered_batch(0, 1_000_000, SPANS))
        .await
        .unwrap_err();
    assert_eq!(again.kind, StorageErrorKind::Busy);

    // Failed cuts keep their blocks on local disk instead of in memory:
    // soon every acknowledged span is in a pending block, none in a head.
    wait_for(
        "every head is kept on disk",
        Duration::from_secs(30),
        || {
            let s = engine.stats();
            s.head_spans == 0 && s.pending_blocks >= 1
        },
    )
    .await;
    let stats = engine.stats();
    assert!(
        stats.cut_errors >= 1 && stats.blocks_spilled >= 1,
        "{stats:?}"
    );
    assert_eq!(stats.blocks_cut, 0, "nothing reached the store");
    assert_eq!(stats.head_bytes, 0, "{stats:?}");
    assert!(stats.pending_bytes > 0, "{stats:?}");
    let pending_folders = std::fs::read_dir(data.join("pending")).unwrap().count() as u64;
    assert_eq!(pending_folders, stats.pending_blocks);
    eprintln!(
        "store down: {} batches of {SPANS} spans acknowledged, then refused at a backlog of {} \
         bytes (WAL {}, {} pending blocks of {} bytes; budget {BUDGET})",
        acknowledged.len(),
        stats.backlog_bytes,
        stats.wal_disk_bytes,
        stats.pending_blocks,
        stats.pending_bytes
    );
    // They stay searchable (the collector serves them with its head).
    assert_exactly(&engine, &acknowledged).await;

    // The store is back: the pending blocks are uploaded oldest first, the
    // WAL they cover deleted, the backlog drains and writes are taken again.
    store.fail_writes.store(false, Ordering::Relaxed);
    wait_for("the backlog drained", Duration::from_secs(90), || {
        // Every block uploaded and the WAL it covered deleted: what
        // remains is the open segment's header.
        let s = engine.stats();
        s.pending_blocks == 0 && s.backlog_bytes < 1024
    })
    .await;
    let stats = engine.stats();
    assert!(stats.blocks_cut >= 1, "{stats:?}");
    assert_eq!((stats.pending_bytes, stats.backlog_full), (0, 0));
    assert_eq!(stats.wal_disk_bytes, wal_bytes_on_disk(&data));
    assert_eq!(engine.recent_blocks().len() as u64, stats.blocks_cut);
    let next = 2_000_000;
    engine
        .write_spans(common::numbered_batch(0, next, SPANS))
        .await
        .expect("writes are taken again");
    let mut all = acknowledged.clone();
    all.push(next);
    engine.cut().await.unwrap();
    // Uploaded blocks replace their local copies, which are deleted.
    wait_for(
        "the local copies are deleted",
        Duration::from_secs(10),
        || {
            std::fs::read_dir(data.join("pending"))
                .map(|d| d.count() == 0)
                .unwrap_or(false)
        },
    )
    .await;

    // Nothing acknowledged was lost or doubled: the store's blocks hold
    // exactly the acknowledged batches.
    let reader = store_reader(&dir, &store).await;
    assert_exactly(&reader, &all).await;
    assert_eq!(reader.stats().block_spans, all.len() as u64 * SPANS);
    engine.close().await.unwrap();
    reader.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_restarted_with_the_store_down_loses_nothing_it_acknowledged() {
    let dir = common::temp_dir("backlog-restart");
    let data = dir.join("c1");
    let store = Arc::new(FlakyStore::default());
    store.fail_writes.store(true, Ordering::Relaxed);
    let config = writer_config(&data, &store);
    let engine = Engine::open(config.clone()).await.unwrap();
    let (acknowledged, refusal) = write_until_refused(&engine, 0).await;
    assert_eq!(refusal.kind, StorageErrorKind::Busy);
    wait_for("a block is kept on disk", Duration::from_secs(30), || {
        engine.stats().pending_blocks >= 1
    })
    .await;
    engine.close().await.unwrap();
    drop(engine);

    // Reopened with the store still down: the pending blocks are cut again
    // from the WAL (which they did not let go of), kept on disk again, and
    // the budget still holds.
    let engine = Engine::open(config).await.unwrap();
    assert_exactly(&engine, &acknowledged).await;
    let refused = engine
        .write_spans(common::numbered_batch(0, 1_000_000, SPANS))
        .await
        .unwrap_err();
    assert_eq!(refused.kind, StorageErrorKind::Busy);
    let stats = engine.stats();
    assert!(stats.blocks_spilled >= 1, "{stats:?}");
    assert_eq!(stats.wal_disk_bytes, wal_bytes_on_disk(&data));

    store.fail_writes.store(false, Ordering::Relaxed);
    wait_for("the backlog drained", Duration::from_secs(90), || {
        let s = engine.stats();
        s.pending_blocks == 0 && s.head_spans == 0
    })
    .await;
    let reader = store_reader(&dir, &store).await;
    assert_exactly(&reader, &acknowledged).await;
    engine.close().await.unwrap();
    reader.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_in_one_counts_its_wal_against_the_budget_and_a_cut_frees_it() {
    let dir = common::temp_dir("backlog-owner");
    let store = Arc::new(FlakyStore::default());
    store.fail_writes.store(true, Ordering::Relaxed);
    let config = EngineConfig {
        block_storage: BlockStorage::Custom(store.clone()),
        compaction: false,
        head_cut_bytes: 32 * 1024,
        head_max_bytes: 256 << 20,
        backlog_max_bytes: BUDGET,
        maintenance_interval: Duration::from_millis(20),
        ..EngineConfig::new(&dir)
    };
    let engine = Engine::open(config).await.unwrap();
    let (acknowledged, refusal) = write_until_refused(&engine, 0).await;
    assert_eq!(refusal.kind, StorageErrorKind::Busy);
    let stats = engine.stats();
    // All-in-one keeps no block on local disk: its backlog is its WAL.
    assert_eq!(
        (
            stats.pending_blocks,
            stats.pending_bytes,
            stats.blocks_spilled
        ),
        (0, 0, 0)
    );
    assert_eq!(stats.backlog_bytes, stats.wal_disk_bytes);
    assert_eq!(stats.wal_disk_bytes, wal_bytes_on_disk(&dir));
    assert_exactly(&engine, &acknowledged).await;

    store.fail_writes.store(false, Ordering::Relaxed);
    engine.cut().await.unwrap();
    let stats = engine.stats();
    assert_eq!(stats.wal_disk_bytes, wal_bytes_on_disk(&dir));
    assert!(stats.backlog_bytes < BUDGET, "{stats:?}");
    assert_eq!(stats.backlog_full, 0);
    engine
        .write_spans(common::numbered_batch(0, 1_000_000, SPANS))
        .await
        .expect("a cut freed the backlog");
    let mut all = acknowledged;
    all.push(1_000_000);
    assert_exactly(&engine, &all).await;
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
