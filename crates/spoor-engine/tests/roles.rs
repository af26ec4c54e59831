//! The engine's roles over one shared block folder (ADR 0025): writers
//! that never collide and read nothing back, a reader that finds their
//! blocks (at once when told, otherwise at its refresh), compactors that
//! take turns through the lease, and deletes that wait for readers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use spoor_engine::{BlockStorage, Engine, EngineConfig, EngineRole};
use spoor_storage::federate::BlockCatalog;
use spoor_storage::{SpanWriter, TraceQuery, TraceReader};

fn config(data: &Path, shared: &Path, role: EngineRole) -> EngineConfig {
    EngineConfig {
        block_storage: BlockStorage::Dir(shared.to_path_buf()),
        compaction: !matches!(role, EngineRole::Writer { .. }),
        compaction_min_blocks: 2,
        maintenance_interval: Duration::from_millis(50),
        role,
        ..EngineConfig::new(data)
    }
}

fn writer(node: &str) -> EngineRole {
    EngineRole::Writer {
        node: node.into(),
        recent: Duration::from_secs(60),
    }
}

fn reader() -> EngineRole {
    EngineRole::Reader {
        // Long: the test drives refreshes itself.
        refresh: Duration::from_secs(3_600),
    }
}

fn compactor(node: &str, delete_delay: Duration) -> EngineRole {
    EngineRole::Compactor {
        node: node.into(),
        refresh: Duration::from_millis(100),
        lease: Duration::from_secs(3),
        delete_delay,
    }
}

/// Every span the reader returns for a search over all traces.
async fn spans_seen(engine: &Engine) -> usize {
    let traces = engine
        .find_traces(&TraceQuery {
            limit: 10_000,
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    traces.iter().map(|t| t.spans.len()).sum()
}

fn block_folders(shared: &Path) -> HashSet<String> {
    std::fs::read_dir(shared)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_type()
                .unwrap()
                .is_dir()
                .then(|| e.file_name().into_string().unwrap())
        })
        .collect()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_readers_and_compactors_share_one_store() {
    let root = common::temp_dir("roles");
    let shared = root.join("bucket");

    // Two writers: blocks named after their node, listed as recent, read
    // back by nobody (a writer's engine holds no block).
    let a = Engine::open(config(&root.join("a"), &shared, writer("collector-a")))
        .await
        .unwrap();
    let b = Engine::open(config(&root.join("b"), &shared, writer("collector-b")))
        .await
        .unwrap();
    let query = Engine::open(config(&root.join("q"), &shared, reader()))
        .await
        .unwrap();
    for seq in 0..3 {
        a.write_spans(common::numbered_batch(1, seq, 5))
            .await
            .unwrap();
        b.write_spans(common::numbered_batch(2, seq, 5))
            .await
            .unwrap();
        for (name, w) in [("a", &a), ("b", &b)] {
            let cut = w.cut().await;
            assert!(
                matches!(cut, Ok(1)),
                "writer {name}, batch {seq}: cut {cut:?}, {:?}",
                w.stats()
            );
        }
    }
    let recent_a = a.recent_blocks();
    assert_eq!(recent_a.len(), 3);
    assert!(
        recent_a.iter().all(|id| id.ends_with("-collector-a")),
        "{recent_a:?}"
    );
    assert!(
        b.recent_blocks()
            .iter()
            .all(|id| id.ends_with("-collector-b"))
    );
    assert_eq!(a.stats().blocks, 0, "a writer reads no block back");
    assert_eq!(
        spans_seen(&a).await,
        0,
        "a writer's engine answers from its head only"
    );
    assert_eq!(block_folders(&shared).len(), 6);

    // The reader listed the store before the cuts: told about a's blocks,
    // it reads them at once; b's arrive with its next refresh.
    assert_eq!(spans_seen(&query).await, 0);
    assert!(query.ensure_blocks(&recent_a).await.is_empty());
    assert_eq!(spans_seen(&query).await, 15);
    let warnings = query
        .ensure_blocks(&["../../etc".to_owned(), "1-2-collector-a".to_owned()])
        .await;
    assert_eq!(
        warnings.len(),
        1,
        "a name that is no block ID is refused: {warnings:?}"
    );
    query.refresh_blocks().await.unwrap();
    assert_eq!(spans_seen(&query).await, 30);

    // Two compactors: one holds the lease and compacts, the other waits.
    let c1 = Engine::open(config(
        &root.join("c1"),
        &shared,
        compactor("compactor-1", Duration::from_secs(5)),
    ))
    .await
    .unwrap();
    wait_until("compactor-1 holds the lease", || c1.holds_lease()).await;
    let c2 = Engine::open(config(
        &root.join("c2"),
        &shared,
        compactor("compactor-2", Duration::from_secs(5)),
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!c2.holds_lease(), "the lease has one holder");
    // (Its background task may have compacted already: the batches are old.)
    c1.compact().await.unwrap();
    let compacted: Vec<_> = c1
        .blocks()
        .into_iter()
        .filter(|b| !b.replaces.is_empty())
        .collect();
    assert!(!compacted.is_empty());
    assert!(
        compacted.iter().all(|b| b.id.ends_with("-compactor-1")),
        "only the lease holder compacts: {compacted:?}"
    );
    assert!(!c2.blocks().iter().any(|b| b.id.ends_with("-compactor-2")));

    // The reader, refreshed, reads the compacted block and hides the
    // blocks it replaces at once; their files wait for the delete delay.
    query.refresh_blocks().await.unwrap();
    assert_eq!(spans_seen(&query).await, 30, "no span lost or doubled");
    let replaced: Vec<String> = compacted.iter().flat_map(|b| b.replaces.clone()).collect();
    let folders = block_folders(&shared);
    assert!(
        replaced.iter().all(|id| folders.contains(id)),
        "replaced blocks are not deleted before the delay"
    );
    wait_until(
        "only the compactor's live blocks remain after the delay",
        || {
            let live: HashSet<String> = c1.blocks().into_iter().map(|b| b.id).collect();
            block_folders(&shared) == live
        },
    )
    .await;
    query.refresh_blocks().await.unwrap();
    assert_eq!(spans_seen(&query).await, 30);

    // The holder closes: the other takes the lease over without waiting
    // for it to expire.
    c1.close().await.unwrap();
    drop(c1);
    wait_until("compactor-2 took the lease over", || c2.holds_lease()).await;

    // A writer restarted after a crash replays only what its blocks do not
    // cover, and uploads that.
    a.write_spans(common::numbered_batch(1, 10, 5))
        .await
        .unwrap();
    drop(a);
    let before = block_folders(&shared);
    let a = Engine::open(config(&root.join("a"), &shared, writer("collector-a")))
        .await
        .unwrap();
    assert_eq!(
        a.stats().head_spans,
        5,
        "only the uncovered batch is replayed"
    );
    assert_eq!(a.cut().await.unwrap(), 1);
    let added: Vec<String> = block_folders(&shared)
        .difference(&before)
        .cloned()
        .collect();
    assert_eq!(added.len(), 1, "{added:?}");
    query.ensure_blocks(&a.recent_blocks()).await;
    assert_eq!(spans_seen(&query).await, 35);
    for engine in [a, b, query, c2] {
        engine.close().await.unwrap();
    }
}
