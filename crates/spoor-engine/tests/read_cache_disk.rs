//! The read cache's disk tier (`read_cache_dir`) in a reader engine over
//! an object store: a trace asked for again is answered from local files,
//! with fewer object-store requests, even with no memory tier at all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use spoor_engine::{BlockStorage, Engine, EngineConfig, EngineRole, EngineStats};
use spoor_model::TraceId;
use spoor_storage::federate::BlockCatalog;
use spoor_storage::{GetTraceQuery, SpanWriter, TraceReader};

fn requests(s: &EngineStats) -> u64 {
    s.store_gets + s.store_range_gets + s.store_heads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_answers_a_repeated_trace_by_id_from_the_disk_cache() {
    let root = common::temp_dir("read-cache-disk");
    let bucket: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::memory::InMemory::new());
    let writer = Engine::open(EngineConfig {
        block_storage: BlockStorage::Custom(Arc::clone(&bucket)),
        compaction: false,
        role: EngineRole::Writer {
            node: "collector-a".into(),
            recent: Duration::from_secs(60),
        },
        ..EngineConfig::new(root.join("collector"))
    })
    .await
    .unwrap();
    for seq in 0..3 {
        writer
            .write_spans(common::numbered_batch(1, seq, 20))
            .await
            .unwrap();
        assert!(matches!(writer.cut().await, Ok(1)));
    }
    let cache_dir = root.join("read-cache");
    let query = Engine::open(EngineConfig {
        block_storage: BlockStorage::Custom(Arc::clone(&bucket)),
        compaction: false,
        // No memory tier: every repeated read is the disk tier's.
        read_cache_bytes: 0,
        read_cache_dir: Some(cache_dir.clone()),
        read_cache_disk_bytes: 64 << 20,
        role: EngineRole::Reader {
            refresh: Duration::from_secs(3_600),
        },
        ..EngineConfig::new(root.join("query"))
    })
    .await
    .unwrap();
    assert!(
        query
            .ensure_blocks(&writer.recent_blocks())
            .await
            .is_empty()
    );

    let id = TraceId::from_halves(2, 1);
    let before = query.stats();
    let first = query.get_trace(GetTraceQuery::new(id)).await.unwrap();
    let first_cost = requests(&query.stats()) - requests(&before);
    assert_eq!(first.as_ref().map(|t| t.spans.len()), Some(20));
    assert!(first_cost > 0, "the first read goes to the store");
    assert_eq!(query.stats().read_cache_disk_hits, 0);

    // The ranges are written in the background: wait until every range
    // looked for and missed has its file, and the index counts them all.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = query.stats();
        let files: Vec<u64> = std::fs::read_dir(&cache_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "range"))
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .collect();
        if !files.is_empty()
            && files.len() as u64 == stats.read_cache_disk_misses
            && files.iter().sum::<u64>() == stats.read_cache_disk_bytes
        {
            break;
        }
        assert!(Instant::now() < until, "the disk tier was never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let before = query.stats();
    let again = query.get_trace(GetTraceQuery::new(id)).await.unwrap();
    let after = query.stats();
    let again_cost = requests(&after) - requests(&before);
    assert_eq!(again, first, "the same answer from the disk tier");
    assert!(
        again_cost < first_cost,
        "{again_cost} store requests again, {first_cost} the first time"
    );
    assert_eq!(
        after.store_range_gets, before.store_range_gets,
        "no range read again"
    );
    assert!(after.read_cache_disk_hits > 0, "{after:?}");
    assert_eq!(after.read_cache_disk_damaged, 0);
    assert!(after.read_cache_disk_bytes <= 64 << 20);
    let series = after.series();
    for name in [
        "spoor_engine_read_cache_disk_hits_total",
        "spoor_engine_read_cache_disk_misses_total",
        "spoor_engine_read_cache_disk_bytes",
        "spoor_engine_read_cache_disk_damaged_total",
        "spoor_engine_read_cache_disk_write_errors_total",
    ] {
        assert!(series.iter().any(|s| s.0 == name), "{name}");
    }
    writer.close().await.unwrap();
    query.close().await.unwrap();
}
