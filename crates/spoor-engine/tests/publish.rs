//! Blocks are published, not just written: a block becomes visible only once
//! its publishing object, `meta.json`, exists, and `meta.json` is written
//! after every other object of the block. An upload cut off at any object
//! (a crash, a store that went away) therefore leaves no half block
//! visible, whichever engine opens the store next, and the objects it left
//! are reported and left in place, never loaded, never returned
//! (ARCHITECTURE.md, "A block is visible only when complete").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use spoor_engine::{BlockStorage, Engine, EngineConfig};
use spoor_storage::{GetTraceQuery, SpanWriter, TraceReader};

fn config(dir: &std::path::Path, store: &Arc<common::FlakyStore>) -> EngineConfig {
    EngineConfig {
        block_storage: BlockStorage::Custom(store.clone()),
        compaction: false,
        ..EngineConfig::new(dir)
    }
}

async fn objects(store: &common::FlakyStore) -> Vec<String> {
    common::object_names(&store.inner).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_off_at_any_object_leaves_no_block_visible() {
    let batch = common::numbered_batch(3, 1, 20);
    let trace_id = batch.spans[0].span.trace_id;

    // One complete cut, to count its puts and see which object comes last.
    let full = Arc::new(common::FlakyStore::default());
    let dir = common::temp_dir("publish-count");
    let engine = Engine::open(config(&dir, &full)).await.unwrap();
    engine.write_spans(batch.clone()).await.unwrap();
    assert_eq!(engine.cut().await.unwrap(), 1);
    engine.close().await.unwrap();
    let puts = full.puts.load(Ordering::Relaxed);
    let complete = objects(&full).await;
    assert!(puts >= 4, "marker, data files, meta.json: {puts} puts");
    assert!(
        complete.iter().any(|o| o.ends_with("/meta.json")),
        "{complete:?}"
    );
    assert!(
        !complete.iter().any(|o| o.ends_with("/WRITING")),
        "{complete:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();

    for cut_at in 1..=puts {
        let store = Arc::new(common::FlakyStore::default());
        store.fail_from_put.store(cut_at, Ordering::Relaxed);
        // The writer: acknowledges, then its upload stops at put `cut_at`.
        let writer_dir = common::temp_dir("publish-writer");
        let engine = Engine::open(config(&writer_dir, &store)).await.unwrap();
        engine.write_spans(batch.clone()).await.unwrap();
        assert!(engine.cut().await.is_err(), "put {cut_at} fails");
        drop(engine);
        store.fail_from_put.store(0, Ordering::Relaxed);
        let left = objects(&store).await;
        assert!(
            !left.iter().any(|o| o.ends_with("/meta.json")),
            "put {cut_at}: meta.json must be the last object written, found {left:?}"
        );

        // Another engine on the same store, with nothing of the writer's
        // WAL: the half block is neither loaded nor returned nor deleted,
        // and it is counted.
        let reader_dir = common::temp_dir("publish-reader");
        let reader = Engine::open(config(&reader_dir, &store)).await.unwrap();
        let stats = reader.stats();
        assert_eq!(stats.blocks, 0, "put {cut_at}: {stats:?}");
        assert_eq!(
            stats.blocks_quarantined, 0,
            "put {cut_at}: not damaged: {stats:?}"
        );
        assert_eq!(stats.blocks_unreadable, 0, "put {cut_at}: {stats:?}");
        assert_eq!(
            stats.blocks_incomplete,
            u64::from(!left.is_empty()),
            "put {cut_at}: {left:?} {stats:?}"
        );
        let found = reader
            .get_trace_partial(GetTraceQuery::new(trace_id))
            .await
            .unwrap();
        assert!(
            found.value.is_none(),
            "put {cut_at}: no span of a half block"
        );
        assert!(
            found.warnings.is_empty(),
            "put {cut_at}: {:?}",
            found.warnings
        );
        reader.close().await.unwrap();
        assert_eq!(objects(&store).await, left, "put {cut_at}: left in place");

        // The writer restarts: its WAL still holds the acknowledged spans,
        // and the next cut publishes them.
        let engine = Engine::open(config(&writer_dir, &store)).await.unwrap();
        assert_eq!(engine.stats().wal_replayed_records, 1);
        assert_eq!(engine.cut().await.unwrap(), 1);
        let trace = engine
            .get_trace(GetTraceQuery::new(trace_id))
            .await
            .unwrap()
            .expect("published after the restart");
        assert_eq!(trace.spans.len(), 20);
        engine.close().await.unwrap();
        std::fs::remove_dir_all(writer_dir).unwrap();
        std::fs::remove_dir_all(reader_dir).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_blocks_url_keeps_the_blocks_in_its_folder_and_the_wal_in_the_data_dir() {
    let dir = common::temp_dir("file-url-data");
    let blocks = common::temp_dir("file-url-blocks");
    let url = format!("file://{}", blocks.display());
    let config = EngineConfig {
        block_storage: BlockStorage::from_url(&url).unwrap(),
        compaction: false,
        ..EngineConfig::new(&dir)
    };
    let batch = common::numbered_batch(4, 2, 5);
    let engine = Engine::open(config.clone()).await.unwrap();
    engine.write_spans(batch.clone()).await.unwrap();
    assert_eq!(engine.cut().await.unwrap(), 1);
    engine.close().await.unwrap();
    let ids: Vec<_> = std::fs::read_dir(&blocks)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(ids[0].join("meta.json").is_file());
    assert!(!dir.join("blocks").exists(), "nothing in <data_dir>/blocks");
    assert!(dir.join("wal").is_dir());
    // Back from that folder after a restart with a fresh data directory.
    let fresh = common::temp_dir("file-url-fresh");
    let engine = Engine::open(EngineConfig {
        data_dir: fresh.clone(),
        ..config
    })
    .await
    .unwrap();
    assert_eq!(engine.stats().blocks, 1);
    let trace = engine
        .get_trace(GetTraceQuery::new(batch.spans[0].span.trace_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(trace.spans.len(), 5);
    engine.close().await.unwrap();
    for d in [dir, blocks, fresh] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
