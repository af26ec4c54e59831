//! RED statistics: computed when blocks are cut, merged with the head's at
//! read time, rewritten by compaction, kept across restarts, absent (not an
//! error) in format 1 blocks, and dropped with expired blocks; always equal
//! to what the memory backend computes from the same spans.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use spoor_engine::{Engine, EngineConfig};
use spoor_model::{
    KeyValue, Resource, Scope, Span, SpanBatch, SpanId, SpanKind, SpanRecord, Status, StatusCode,
    TraceId,
};
use spoor_storage::memory::MemoryStore;
use spoor_storage::red::RED_MINUTE;
use spoor_storage::{RedQuery, RedRow, RedStatsReader, SpanWriter, TraceQuery, TraceReader};

const BASE: u64 = 1_700_000_000_000_000_000 - 1_700_000_000_000_000_000 % RED_MINUTE;
const MS: u64 = 1_000_000;

/// 40 traces over 8 minutes: a server span of `front` calling a client span
/// of `front` and a server span of `back`; every third back span fails.
fn traffic() -> Vec<SpanBatch> {
    let resource = |s: &str| {
        Arc::new(Resource {
            attributes: vec![KeyValue::str("service.name", s)],
            ..Resource::default()
        })
    };
    let (front, back) = (resource("front"), resource("back"));
    let scope = Arc::new(Scope::default());
    let mut batches = Vec::new();
    for t in 0..40u64 {
        let start = BASE + t * 12 * 1_000 * MS;
        let span =
            |id: u64, parent: u64, name: &str, kind, offset: u64, dur: u64, err: bool| Span {
                trace_id: TraceId::from_halves(0xed, t),
                span_id: SpanId::from_u64(id),
                parent_span_id: SpanId::from_u64(parent),
                name: name.into(),
                kind,
                start_time_unix_nano: start + offset,
                end_time_unix_nano: start + offset + dur,
                status: Status {
                    code: if err {
                        StatusCode::Error
                    } else {
                        StatusCode::Unset
                    },
                    message: String::new(),
                },
                ..Span::default()
            };
        let root = span(1, 0, "GET /", SpanKind::Server, 0, (20 + t) * MS, false);
        let call = span(
            2,
            1,
            "call back",
            SpanKind::Client,
            MS,
            (10 + t) * MS,
            false,
        );
        let serve = span(
            3,
            2,
            "handle",
            SpanKind::Server,
            2 * MS,
            (5 + t) * MS,
            t % 3 == 0,
        );
        // The back span arrives in its own batch, so traces split across blocks.
        batches.push(SpanBatch {
            spans: vec![
                SpanRecord::new(Arc::clone(&front), Arc::clone(&scope), root),
                SpanRecord::new(Arc::clone(&front), Arc::clone(&scope), call),
            ],
        });
        batches.push(SpanBatch {
            spans: vec![SpanRecord::new(
                Arc::clone(&back),
                Arc::clone(&scope),
                serve,
            )],
        });
    }
    batches
}

fn queries() -> Vec<RedQuery> {
    let all = RedQuery {
        services: Vec::new(),
        span_kinds: Vec::new(),
        start: BASE,
        end: BASE + 20 * RED_MINUTE,
    };
    vec![
        all.clone(),
        RedQuery {
            services: vec!["back".into()],
            ..all.clone()
        },
        RedQuery {
            span_kinds: vec![SpanKind::Server],
            ..all.clone()
        },
        RedQuery {
            services: vec!["front".into(), "back".into()],
            span_kinds: vec![SpanKind::Client, SpanKind::Server],
            start: BASE + 2 * RED_MINUTE + 5,
            end: BASE + 4 * RED_MINUTE,
        },
        RedQuery {
            start: BASE + 100 * RED_MINUTE,
            end: BASE + 101 * RED_MINUTE,
            ..all
        },
    ]
}

async fn red(reader: &dyn RedStatsReader) -> Vec<Vec<RedRow>> {
    let mut out = Vec::new();
    for q in queries() {
        out.push(reader.red_stats(&q).await.unwrap());
    }
    out
}

fn totals(rows: &[RedRow]) -> (u64, u64) {
    rows.iter()
        .fold((0, 0), |(c, e), r| (c + r.stats.calls, e + r.stats.errors))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_survive_cuts_compaction_and_restarts_and_match_the_memory_backend() {
    let dir = common::temp_dir("red");
    let config = common::quiet_config(&dir);
    let engine = Engine::open(config.clone()).await.unwrap();
    let memory = MemoryStore::new(10_000);
    for (i, batch) in traffic().into_iter().enumerate() {
        engine.write_spans(batch.clone()).await.unwrap();
        memory.write_spans(batch).await.unwrap();
        if i % 9 == 8 {
            engine.cut().await.unwrap();
        }
    }
    let want = red(&memory).await;
    assert_eq!(
        totals(&want[0]),
        (120, 14),
        "40 traces × 3 spans, 14 errors"
    );
    assert_eq!(totals(&want[1]), (40, 14));
    assert_eq!(totals(&want[2]), (80, 14));
    assert!(want[4].is_empty());
    let stats = engine.stats();
    assert!(stats.blocks >= 8 && stats.head_spans > 0, "{stats:?}");
    assert_eq!(red(&engine).await, want, "head + blocks");

    engine.cut().await.unwrap();
    assert_eq!(engine.stats().head_spans, 0);
    assert_eq!(red(&engine).await, want, "blocks only");

    let written = engine.compact().await.unwrap();
    assert!(written >= 1);
    assert!(engine.stats().blocks < stats.blocks);
    assert_eq!(red(&engine).await, want, "after compaction");

    drop(engine);
    let engine = Engine::open(config).await.unwrap();
    assert_eq!(red(&engine).await, want, "after a restart");
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_1_blocks_open_without_statistics_and_compaction_adds_them() {
    let dir = common::temp_dir("red-v1");
    let config = common::quiet_config(&dir);
    let engine = Engine::open(config.clone()).await.unwrap();
    let batches = traffic();
    for batch in &batches[..40] {
        engine.write_spans(batch.clone()).await.unwrap();
    }
    engine.cut().await.unwrap();
    for batch in &batches[40..] {
        engine.write_spans(batch.clone()).await.unwrap();
    }
    engine.cut().await.unwrap();
    let blocks = engine.blocks();
    assert_eq!(blocks.len(), 2);
    engine.close().await.unwrap();
    drop(engine);

    // Turn the older block into a format 1 block: no red.bin, and meta.json
    // as version 1 wrote it.
    let old = blocks.iter().min_by_key(|b| b.id.clone()).unwrap();
    let folder = dir.join("blocks").join(&old.id);
    std::fs::remove_file(folder.join("red.bin")).unwrap();
    let meta_path = folder.join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta["format_version"] = 1.into();
    meta["files"].as_object_mut().unwrap().remove("red.bin");
    std::fs::write(&meta_path, serde_json::to_vec_pretty(&meta).unwrap()).unwrap();

    let engine = Engine::open(config).await.unwrap();
    assert_eq!(engine.blocks().len(), 2, "the format 1 block opens");
    let q = &queries()[0];
    let rows = engine.red_stats(q).await.unwrap();
    // Only the newer block's 20 traces have statistics.
    assert_eq!(totals(&rows).0, 60);
    // Search reads the old block as before.
    let all = TraceQuery {
        limit: 1_000,
        ..TraceQuery::default()
    };
    assert_eq!(engine.find_trace_ids(&all).await.unwrap().len(), 40);
    // Compaction rewrites it in the current format, statistics included.
    assert_eq!(engine.compact().await.unwrap(), 1);
    let blocks = engine.blocks();
    assert_eq!(blocks.len(), 1);
    assert_eq!(
        blocks[0].format_version,
        spoor_engine::block::FORMAT_VERSION
    );
    assert!(blocks[0].files.contains_key("red.bin"));
    assert_eq!(totals(&engine.red_stats(q).await.unwrap()), (120, 14));
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_go_with_expired_blocks() {
    let dir = common::temp_dir("red-retention");
    let (clock, lag) = common::lagging_clock();
    let config = EngineConfig {
        // The first block is received two days ago: past a day's retention.
        retention: Some(Duration::from_secs(24 * 3600)),
        // No background pass: this test expires blocks itself.
        maintenance_interval: Duration::from_secs(3_600),
        clock,
        ..common::quiet_config(&dir)
    };
    let engine = Engine::open(config).await.unwrap();
    let batches = traffic();
    lag.store(
        2 * 24 * 3_600 * 1_000_000_000,
        std::sync::atomic::Ordering::Relaxed,
    );
    for batch in &batches[..20] {
        engine.write_spans(batch.clone()).await.unwrap();
    }
    engine.cut().await.unwrap();
    lag.store(0, std::sync::atomic::Ordering::Relaxed);
    for batch in &batches[20..] {
        engine.write_spans(batch.clone()).await.unwrap();
    }
    let q = &queries()[0];
    assert_eq!(totals(&engine.red_stats(q).await.unwrap()).0, 120);
    assert_eq!(engine.expire().await.unwrap(), 1);
    // Only the head's spans are left.
    let left = engine.stats().head_spans;
    assert_eq!(left, 120 - 30);
    assert_eq!(totals(&engine.red_stats(q).await.unwrap()).0, left);
    let bad = RedQuery {
        start: 10,
        end: 5,
        ..q.clone()
    };
    assert!(engine.red_stats(&bad).await.is_err());
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
