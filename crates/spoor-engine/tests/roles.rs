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

/// The bucket index: the compactor holding the lease writes it after each
/// refresh; a reader takes its block list from it while it is fresh (no
/// listing, no `meta.json` reads), keeps a block published after it, and
/// lists the store when it is stale, missing or damaged (counted, and the
/// damaged index left in place).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_take_the_block_list_from_the_bucket_index() {
    let root = common::temp_dir("bucket-index");
    let shared = root.join("bucket");
    let index = shared.join("spoor-bucket-index.json.gz");
    let a = Engine::open(config(&root.join("a"), &shared, writer("collector-a")))
        .await
        .unwrap();
    for seq in 0..2 {
        a.write_spans(common::numbered_batch(1, seq, 5))
            .await
            .unwrap();
        assert_eq!(a.cut().await.unwrap(), 1);
    }
    let k = Engine::open(config(
        &root.join("k"),
        &shared,
        compactor("compactor-1", Duration::from_secs(5)),
    ))
    .await
    .unwrap();
    wait_until("the compactor wrote the bucket index", || {
        k.holds_lease() && k.stats().bucket_index_writes >= 1 && index.is_file()
    })
    .await;
    // The compactor lists; it never reads the index.
    assert_eq!(k.stats().bucket_index_used, 0);
    k.close().await.unwrap();
    drop(k);

    let q = Engine::open(config(&root.join("q"), &shared, reader()))
        .await
        .unwrap();
    q.refresh_blocks().await.unwrap();
    let used = q.stats().bucket_index_used;
    assert!(used >= 1, "{:?}", q.stats());
    assert_eq!(
        q.stats().bucket_index_stale + q.stats().bucket_index_missing,
        0
    );
    assert_eq!(spans_seen(&q).await, 10);

    // A block published after the index: loaded when its writer names it,
    // and kept by a refresh from the index that does not list it yet.
    a.write_spans(common::numbered_batch(1, 2, 5))
        .await
        .unwrap();
    assert_eq!(a.cut().await.unwrap(), 1);
    assert!(q.ensure_blocks(&a.recent_blocks()).await.is_empty());
    assert_eq!(spans_seen(&q).await, 15);
    q.refresh_blocks().await.unwrap();
    assert_eq!(q.stats().bucket_index_used, used + 1);
    assert_eq!(spans_seen(&q).await, 15, "the young block is kept");

    // A damaged index: the reader lists the store instead and finds
    // every block; the index is left for the compactor to overwrite.
    std::fs::write(&index, b"\x1f\x8b not really gzip").unwrap();
    q.refresh_blocks().await.unwrap();
    assert_eq!(q.stats().bucket_index_damaged, 1);
    assert_eq!(spans_seen(&q).await, 15);
    assert!(index.is_file(), "a damaged index is never deleted");

    // Missing: listed as well.
    std::fs::remove_file(&index).unwrap();
    q.refresh_blocks().await.unwrap();
    assert_eq!(q.stats().bucket_index_missing, 1);
    assert_eq!(spans_seen(&q).await, 15);

    // Stale: a reader that accepts no index older than 1 ms lists.
    let k = Engine::open(config(
        &root.join("k"),
        &shared,
        compactor("compactor-1", Duration::from_secs(5)),
    ))
    .await
    .unwrap();
    wait_until("the compactor wrote the bucket index again", || {
        k.stats().bucket_index_writes >= 1 && index.is_file()
    })
    .await;
    let strict = Engine::open(EngineConfig {
        bucket_index_max_age: Duration::from_millis(1),
        ..config(&root.join("q2"), &shared, reader())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    strict.refresh_blocks().await.unwrap();
    assert!(
        strict.stats().bucket_index_stale >= 1,
        "{:?}",
        strict.stats()
    );
    assert_eq!(strict.stats().bucket_index_used, 0);
    assert_eq!(spans_seen(&strict).await, 15);
    for engine in [a, q, k, strict] {
        engine.close().await.unwrap();
    }
}
