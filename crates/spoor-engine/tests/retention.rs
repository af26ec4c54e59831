//! Retention counts from when Spoor received the data (the blocks' ingest
//! time), never from the spans' own timestamps; damaged blocks are skipped,
//! set aside and reported, never deleted and never read as good data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use spoor_engine::{Clock, Engine, EngineConfig};
use spoor_model::{SpanBatch, TraceId};
use spoor_storage::conformance::compare_span_sets;
use spoor_storage::{GetTraceQuery, SpanWriter, TraceQuery, TraceReader};

const SECOND: u64 = 1_000_000_000;
const HOUR: u64 = 3_600 * SECOND;
const YEAR: u64 = 365 * 24 * HOUR;

/// A clock that reads an atomic (Unix nanoseconds), set by the test.
fn manual_clock(start: u64) -> (Clock, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(start));
    let read = Arc::clone(&now);
    (Clock::new(move || read.load(Ordering::Relaxed)), now)
}

/// `numbered_batch` moved so that its first span starts at `start`.
fn stamped(writer: u64, seq: u64, spans: u64, start: u64) -> SpanBatch {
    let mut batch = common::numbered_batch(writer, seq, spans);
    let base = batch.spans[0].span.start_time_unix_nano;
    for r in &mut batch.spans {
        let offset = r.span.start_time_unix_nano - base;
        r.span.start_time_unix_nano = start + offset;
        r.span.end_time_unix_nano = start + offset + 1_000;
        for e in &mut r.span.events {
            e.time_unix_nano = r.span.start_time_unix_nano;
        }
    }
    batch
}

fn config(dir: &std::path::Path, clock: Clock) -> EngineConfig {
    EngineConfig {
        retention: Some(Duration::from_secs(3_600)),
        // No background pass: the tests cut and expire themselves.
        maintenance_interval: Duration::from_secs(3_600),
        clock,
        ..common::quiet_config(dir)
    }
}

async fn trace_of(engine: &Engine, id: TraceId) -> Option<spoor_model::Trace> {
    engine.get_trace(GetTraceQuery::new(id)).await.unwrap()
}

#[tokio::test]
async fn data_stamped_long_ago_is_kept_for_the_retention_after_it_arrives() {
    let dir = common::temp_dir("ingest-retention");
    let now = common::now_nanos();
    let (clock, t) = manual_clock(now);
    let engine = Engine::open(config(&dir, clock)).await.unwrap();
    // A dataset recorded a year ago, and a span stamped 1970.
    let year_old = stamped(1, 1, 3, now - YEAR);
    let epoch = stamped(1, 2, 2, 1_000);
    engine.write_spans(year_old.clone()).await.unwrap();
    engine.write_spans(epoch.clone()).await.unwrap();
    engine.cut().await.unwrap();
    let meta = &engine.blocks()[0];
    assert_eq!(meta.format_version, spoor_engine::block::FORMAT_VERSION);
    assert_eq!(
        (meta.min_ingest_unix_nano, meta.max_ingest_unix_nano),
        (Some(now), Some(now))
    );
    // Minutes later (and just inside the retention): still there.
    t.store(now + HOUR - SECOND, Ordering::Relaxed);
    assert_eq!(engine.expire().await.unwrap(), 0);
    for batch in [&year_old, &epoch] {
        let trace = trace_of(&engine, batch.spans[0].span.trace_id)
            .await
            .expect("acknowledged data is kept");
        compare_span_sets(&batch.spans, &trace.spans).unwrap();
    }
    // Once it was received longer ago than the retention, it goes.
    t.store(now + HOUR + SECOND, Ordering::Relaxed);
    assert_eq!(engine.expire().await.unwrap(), 1);
    assert!(
        trace_of(&engine, year_old.spans[0].span.trace_id)
            .await
            .is_none()
    );
    assert_eq!(engine.stats().blocks_expired, 1);
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_span_stamped_in_the_far_future_does_not_keep_its_block_alive() {
    let dir = common::temp_dir("future-retention");
    let now = common::now_nanos();
    let (clock, t) = manual_clock(now);
    let engine = Engine::open(config(&dir, clock)).await.unwrap();
    // A batch with one span stamped in the year 2500.
    let mut batch = stamped(2, 1, 3, now);
    let year_2500 = 16_725_225_600 * SECOND;
    batch.spans[2].span.start_time_unix_nano = year_2500;
    batch.spans[2].span.end_time_unix_nano = year_2500 + 1_000;
    engine.write_spans(batch.clone()).await.unwrap();
    engine.cut().await.unwrap();
    assert_eq!(engine.blocks()[0].max_end_unix_nano, year_2500 + 1_000);
    // Two hours later another batch arrives, into its own block.
    t.store(now + 2 * HOUR, Ordering::Relaxed);
    let fresh = stamped(2, 2, 2, now + 2 * HOUR);
    engine.write_spans(fresh.clone()).await.unwrap();
    engine.cut().await.unwrap();
    assert_eq!(engine.expire().await.unwrap(), 1, "the old block expires");
    assert!(
        trace_of(&engine, batch.spans[0].span.trace_id)
            .await
            .is_none()
    );
    assert!(
        trace_of(&engine, fresh.spans[0].span.trace_id)
            .await
            .is_some()
    );
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn compaction_keeps_the_newest_ingest_time_of_its_inputs() {
    let dir = common::temp_dir("compaction-ingest");
    let now = common::now_nanos();
    let (clock, t) = manual_clock(now - 2 * HOUR);
    let engine = Engine::open(config(&dir, clock)).await.unwrap();
    // Both blocks hold spans of the same hour, so they compact together.
    let old = stamped(3, 1, 2, now - 3 * HOUR);
    engine.write_spans(old.clone()).await.unwrap();
    engine.cut().await.unwrap();
    t.store(now, Ordering::Relaxed);
    let new = stamped(3, 2, 2, now - 3 * HOUR + SECOND);
    engine.write_spans(new.clone()).await.unwrap();
    engine.cut().await.unwrap();
    assert_eq!(engine.compact().await.unwrap(), 1);
    let blocks = engine.blocks();
    assert_eq!(blocks.len(), 1);
    assert_eq!(
        (
            blocks[0].min_ingest_unix_nano,
            blocks[0].max_ingest_unix_nano
        ),
        (Some(now - 2 * HOUR), Some(now))
    );
    // The merged block lives as long as its newest data.
    assert_eq!(engine.expire().await.unwrap(), 0);
    assert!(
        trace_of(&engine, old.spans[0].span.trace_id)
            .await
            .is_some()
    );
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Rewrites a block's meta.json as a format 2 build wrote it (no ingest
/// times, no checksums) with the given creation time.
fn make_legacy(dir: &std::path::Path, id: &str, created: u64) {
    let path = dir.join("blocks").join(id).join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let object = meta.as_object_mut().unwrap();
    object.remove("min_ingest_unix_nano");
    object.remove("max_ingest_unix_nano");
    object.remove("checksums");
    object.insert("format_version".into(), 2.into());
    object.insert("created_unix_nano".into(), created.into());
    std::fs::write(&path, serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
}

#[tokio::test]
async fn blocks_without_an_ingest_time_count_from_their_creation() {
    let dir = common::temp_dir("legacy-retention");
    let now = common::now_nanos();
    let (clock, _) = manual_clock(now);
    let engine = Engine::open(config(&dir, clock.clone())).await.unwrap();
    // Both stamped 1970: span time must play no part either way.
    let old = stamped(4, 1, 2, 1_000);
    let recent = stamped(4, 2, 2, 2_000);
    engine.write_spans(old.clone()).await.unwrap();
    engine.cut().await.unwrap();
    engine.write_spans(recent.clone()).await.unwrap();
    engine.cut().await.unwrap();
    let mut ids: Vec<String> = engine.blocks().into_iter().map(|b| b.id).collect();
    ids.sort();
    engine.close().await.unwrap();
    drop(engine);
    make_legacy(&dir, &ids[0], now - 2 * HOUR);
    make_legacy(&dir, &ids[1], now - HOUR / 2);

    let engine = Engine::open(config(&dir, clock)).await.unwrap();
    assert_eq!(engine.blocks().len(), 2);
    assert_eq!(engine.expire().await.unwrap(), 1);
    assert!(
        trace_of(&engine, old.spans[0].span.trace_id)
            .await
            .is_none()
    );
    assert!(
        trace_of(&engine, recent.spans[0].span.trace_id)
            .await
            .is_some()
    );
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn spans_replayed_from_the_wal_keep_the_time_their_segment_was_written() {
    let dir = common::temp_dir("replay-ingest");
    let now = common::now_nanos();
    let (clock, _) = manual_clock(now);
    let engine = Engine::open(config(&dir, clock.clone())).await.unwrap();
    let batch = stamped(5, 1, 3, 1_000);
    engine.write_spans(batch.clone()).await.unwrap();
    engine.close().await.unwrap();
    drop(engine);
    // The segment was last written two hours ago.
    let segments = spoor_engine::wal::list_segments(&dir.join("wal")).unwrap();
    let two_hours_ago = std::time::UNIX_EPOCH + Duration::from_nanos(now - 2 * HOUR);
    for (_, path) in &segments {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
    }
    let engine = Engine::open(config(&dir, clock)).await.unwrap();
    engine.cut().await.unwrap();
    let meta = &engine.blocks()[0];
    let received = meta.max_ingest_unix_nano.unwrap();
    assert!(
        received.abs_diff(now - 2 * HOUR) < SECOND,
        "ingest time {received} is the segment's modification time"
    );
    assert_eq!(engine.expire().await.unwrap(), 1);
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Three blocks of service `svc` (one trace each, writer 6); returns their
/// batches and block IDs, oldest first.
async fn three_blocks(engine: &Engine) -> (Vec<SpanBatch>, Vec<String>) {
    // In one hour (one compaction window), an hour ago.
    let base = (common::now_nanos() / HOUR - 1) * HOUR;
    let mut batches = Vec::new();
    for seq in 0..3 {
        let batch = stamped(6, seq, 4, base + seq * 60 * SECOND);
        engine.write_spans(batch.clone()).await.unwrap();
        engine.cut().await.unwrap();
        batches.push(batch);
    }
    let mut ids: Vec<String> = engine.blocks().into_iter().map(|b| b.id).collect();
    ids.sort();
    (batches, ids)
}

fn search_all() -> TraceQuery {
    TraceQuery {
        service: Some("writer-6".into()),
        limit: 100,
        ..TraceQuery::default()
    }
}

/// Damages `spans.parquet` of a block: `flip` 8 bytes in its middle, or
/// truncates it to half.
fn damage_spans(dir: &std::path::Path, id: &str, flip: bool) {
    let path = dir.join("blocks").join(id).join("spans.parquet");
    let mut bytes = std::fs::read(&path).unwrap();
    if flip {
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 8] {
            *b ^= 0x5a;
        }
    } else {
        bytes.truncate(bytes.len() / 2);
    }
    std::fs::write(&path, bytes).unwrap();
}

async fn damaged_block_is_skipped_with_a_warning(flip: bool) {
    let dir = common::temp_dir(if flip { "flipped" } else { "truncated" });
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    let (batches, ids) = three_blocks(&engine).await;
    let meta = engine.blocks();
    assert!(
        meta.iter().all(|m| m.checksums.len() == m.files.len()),
        "every file has a checksum"
    );
    engine.close().await.unwrap();
    drop(engine);
    damage_spans(&dir, &ids[1], flip);

    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    // Search: the healthy traces, and a warning naming the damaged block.
    let found = engine.find_traces_partial(&search_all()).await.unwrap();
    let mut got: Vec<TraceId> = found.value.iter().map(|t| t.trace_id).collect();
    got.sort();
    let mut want = vec![
        batches[0].spans[0].span.trace_id,
        batches[2].spans[0].span.trace_id,
    ];
    want.sort();
    assert_eq!(got, want);
    for t in &found.value {
        let batch = batches
            .iter()
            .find(|b| b.spans[0].span.trace_id == t.trace_id)
            .unwrap();
        compare_span_sets(&batch.spans, &t.spans).unwrap();
    }
    assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
    assert!(found.warnings[0].contains(&ids[1]), "{:?}", found.warnings);
    // The plain method answers with the healthy data too.
    assert_eq!(engine.find_traces(&search_all()).await.unwrap().len(), 2);
    // The damaged trace is never returned with wrong data.
    let lost = engine
        .get_trace_partial(GetTraceQuery::new(batches[1].spans[0].span.trace_id))
        .await
        .unwrap();
    assert!(lost.value.is_none());
    assert_eq!(lost.warnings.len(), 1);
    let stats = engine.stats();
    assert_eq!(stats.blocks_damaged, 1, "{stats:?}");
    assert!(stats.damaged_block_reads >= 2, "{stats:?}");
    // Compaction leaves the damaged block alone and merges the others.
    assert_eq!(engine.compact().await.unwrap(), 1);
    assert_eq!(engine.blocks().len(), 2);
    assert!(
        dir.join("blocks")
            .join(&ids[1])
            .join("spans.parquet")
            .exists()
    );
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn eight_flipped_bytes_in_spans_parquet_are_detected_and_skipped() {
    damaged_block_is_skipped_with_a_warning(true).await;
}

#[tokio::test]
async fn a_truncated_spans_parquet_is_skipped_and_healthy_blocks_answer() {
    damaged_block_is_skipped_with_a_warning(false).await;
}

#[tokio::test]
async fn a_block_without_meta_json_is_quarantined_never_deleted() {
    let dir = common::temp_dir("no-meta");
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    let (batches, ids) = three_blocks(&engine).await;
    engine.close().await.unwrap();
    drop(engine);
    std::fs::remove_file(dir.join("blocks").join(&ids[0]).join("meta.json")).unwrap();
    // Unparsable meta.json.
    std::fs::write(
        dir.join("blocks").join(&ids[1]).join("meta.json"),
        b"{\"format_ver",
    )
    .unwrap();

    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    let stats = engine.stats();
    assert_eq!(
        (stats.blocks, stats.blocks_quarantined),
        (1, 2),
        "{stats:?}"
    );
    for id in &ids[..2] {
        let kept = dir.join("quarantine").join(id).join("spans.parquet");
        assert!(kept.exists(), "{} is kept", kept.display());
        assert!(!dir.join("blocks").join(id).exists());
    }
    assert!(
        trace_of(&engine, batches[2].spans[0].span.trace_id)
            .await
            .is_some()
    );
    engine.close().await.unwrap();
    drop(engine);
    // A second start leaves the quarantine alone.
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    assert_eq!(engine.stats().blocks_quarantined, 0);
    assert!(
        dir.join("quarantine")
            .join(&ids[0])
            .join("spans.parquet")
            .exists()
    );
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_write_protocol_tells_unfinished_writes_from_damaged_blocks() {
    let dir = common::temp_dir("protocol");
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    let (_, ids) = three_blocks(&engine).await;
    engine.close().await.unwrap();
    drop(engine);
    let blocks = dir.join("blocks");
    // Finished writes leave no marker behind.
    for id in &ids {
        assert!(!blocks.join(id).join("WRITING").exists());
    }
    // A crash after meta.json but before the marker went: a complete block.
    std::fs::write(blocks.join(&ids[0]).join("WRITING"), b"").unwrap();
    // A crash in the middle of deleting a block (marker put back, meta.json gone).
    std::fs::write(blocks.join(&ids[1]).join("WRITING"), b"").unwrap();
    std::fs::remove_file(blocks.join(&ids[1]).join("meta.json")).unwrap();

    // A crash while the marker itself was being written: only a staging file.
    let staged = blocks.join("00000000000000000002-0000");
    std::fs::create_dir_all(&staged).unwrap();
    std::fs::write(staged.join("WRITING#1"), b"").unwrap();

    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    let stats = engine.stats();
    assert_eq!(
        (stats.blocks, stats.blocks_quarantined),
        (2, 0),
        "{stats:?}"
    );
    assert!(!staged.exists());
    assert!(!blocks.join(&ids[0]).join("WRITING").exists());
    assert!(!blocks.join(&ids[1]).exists());
    assert!(!dir.join("quarantine").exists());
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_format_3_block_without_its_checksums_is_not_trusted() {
    let dir = common::temp_dir("no-checksums");
    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    let (_, ids) = three_blocks(&engine).await;
    engine.close().await.unwrap();
    drop(engine);
    // Dropping the checksums would turn verification off: refused.
    let path = dir.join("blocks").join(&ids[2]).join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    meta.as_object_mut().unwrap().remove("checksums");
    std::fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();

    let engine = Engine::open(common::quiet_config(&dir)).await.unwrap();
    let stats = engine.stats();
    assert_eq!(
        (stats.blocks, stats.blocks_quarantined),
        (2, 1),
        "{stats:?}"
    );
    assert!(
        dir.join("quarantine")
            .join(&ids[2])
            .join("meta.json")
            .exists()
    );
    engine.close().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
