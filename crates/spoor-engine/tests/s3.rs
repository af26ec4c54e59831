//! The engine on a real S3-compatible object store (SeaweedFS, three volume
//! servers, replication 3, started by the test; ADR 0024): the storage
//! conformance suite with every write cut into a block in the bucket, the
//! search cases again from a fresh data directory on the same bucket (every
//! block loaded from S3), and the half block an interrupted upload leaves:
//! never loaded, never deleted, counted.
//!
//! Skipped (with a printed reason) only when `SPOOR_TEST_S3_SERVER` is unset
//! and no server was installed; scripts/test.sh installs one and sets it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;
#[path = "../../spoor/tests/common/s3_server.rs"]
mod s3_server;

use std::sync::Arc;

use object_store::{ObjectStore, ObjectStoreExt};
use spoor_engine::{BlockStorage, Engine, EngineConfig, object_store};
use spoor_storage::conformance::{check_queries, write_fixtures};

fn bucket(server: &s3_server::S3Server, name: &str, prefix: &str) -> Arc<dyn ObjectStore> {
    server.create_bucket(name);
    Arc::new(object_store::prefix::PrefixStore::new(
        server.bucket_client(name),
        prefix,
    ))
}

fn config(dir: &std::path::Path, store: &Arc<dyn ObjectStore>) -> EngineConfig {
    EngineConfig {
        block_storage: BlockStorage::Custom(Arc::clone(store)),
        ..common::quiet_config(dir)
    }
}

async fn objects(store: &Arc<dyn ObjectStore>) -> Vec<String> {
    common::object_names(&**store).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_on_blocks_in_s3() {
    let Some(server) = s3_server::start_or_skip("spoor-engine s3") else {
        return;
    };
    let fixtures = common::fixtures();
    let store = bucket(&server, "conformance", "engine");

    // The whole suite, every write cut into a block in the bucket.
    let dir = common::temp_dir("s3-conformance");
    let engine = Arc::new(Engine::open(config(&dir, &store)).await.unwrap());
    let writer = common::assert_suite_passes_cutting_every_write(&engine, &fixtures).await;
    assert!(
        objects(&store).await.is_empty(),
        "the purge deleted every object"
    );

    // The fixtures again, cut into blocks; then another engine with an
    // empty data directory answers every search case from the bucket.
    for batch in fixtures.traces.values() {
        writer.write_spans_checked(batch.clone()).await;
    }
    engine.close().await.unwrap();
    let fresh_dir = common::temp_dir("s3-conformance-fresh");
    let fresh = Engine::open(config(&fresh_dir, &store)).await.unwrap();
    let stats = fresh.stats();
    assert_eq!(stats.blocks, 32, "{stats:?}");
    assert_eq!((stats.head_spans, stats.wal_replayed_records), (0, 0));
    let report = check_queries(&fresh, &fixtures).await;
    report.assert_all_passed();
    assert_eq!(report.checks.len(), 50);
    fresh.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(fresh_dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_uploaded_block_in_s3_is_never_loaded_nor_deleted() {
    let Some(server) = s3_server::start_or_skip("spoor-engine s3") else {
        return;
    };
    let fixtures = common::fixtures();
    let store = bucket(&server, "half-blocks", "blocks");
    let dir = common::temp_dir("s3-half");
    let engine = Engine::open(config(&dir, &store)).await.unwrap();
    write_fixtures(&engine, &fixtures).await.unwrap();
    assert_eq!(engine.cut().await.unwrap(), 1);
    engine.close().await.unwrap();
    let complete = objects(&store).await;
    let block = complete
        .iter()
        .find_map(|n| n.strip_suffix("/meta.json"))
        .unwrap()
        .to_owned();

    // Two copies of the block's data objects without its meta.json: one as
    // an upload in progress leaves it (the WRITING marker first), one
    // without the marker (a block that lost its meta.json: damaged).
    let now = common::now_nanos();
    let (writing, damaged) = (format!("{now:020}-0001"), format!("{now:020}-0002"));
    for name in complete.iter().filter(|n| !n.ends_with("/meta.json")) {
        for to in [&writing, &damaged] {
            let target = name.replacen(&block, to, 1);
            store
                .copy(&name.as_str().into(), &target.as_str().into())
                .await
                .unwrap();
        }
    }
    store
        .put(
            &format!("{writing}/WRITING").as_str().into(),
            Vec::<u8>::new().into(),
        )
        .await
        .unwrap();
    let before = objects(&store).await;

    let fresh_dir = common::temp_dir("s3-half-fresh");
    let fresh = Engine::open(config(&fresh_dir, &store)).await.unwrap();
    let stats = fresh.stats();
    assert_eq!(stats.blocks, 1, "only the published block: {stats:?}");
    assert_eq!(stats.blocks_incomplete, 1, "{stats:?}");
    assert_eq!(stats.blocks_quarantined, 1, "{stats:?}");
    // The fixtures are found once, from the published block only.
    let report = check_queries(&fresh, &fixtures).await;
    report.assert_all_passed();
    fresh.close().await.unwrap();
    assert_eq!(objects(&store).await, before, "nothing was deleted");
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(fresh_dir).unwrap();
}
