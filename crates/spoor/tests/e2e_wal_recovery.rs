//! Damaged WAL segments and blocks through the real binary: a flipped byte in
//! the middle of a segment loses only the record it hits (the damaged bytes
//! are set aside in the quarantine folder and counted in `/metrics`), a
//! damaged segment header hides nothing, and `spoor fsck` reports and
//! repairs a stopped data directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Spoor, metric_value};
use spoor_model::{KeyValue, Resource, Scope, Span, SpanId, SpanKind, SpanRecord, TraceId};

const TRACES: u64 = 40;

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn trace_id(n: u64) -> TraceId {
    TraceId::from_halves(0x5eed, n + 1)
}

/// One OTLP request holding trace `n` (3 spans with some bulk, so the
/// record is a few KiB).
fn request(n: u64) -> Vec<u8> {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::str("service.name", "walcheck")],
        ..Resource::default()
    });
    let scope = Arc::new(Scope::default());
    let now = now_nanos();
    let spans: Vec<SpanRecord> = (0..3u64)
        .map(|s| {
            let span = Span {
                trace_id: trace_id(n),
                span_id: SpanId::from_u64(s + 1),
                parent_span_id: if s == 0 {
                    SpanId::ZERO
                } else {
                    SpanId::from_u64(s)
                },
                name: format!("op-{s}"),
                kind: SpanKind::Server,
                start_time_unix_nano: now + s,
                end_time_unix_nano: now + 1_000,
                attributes: vec![KeyValue::str("payload", "x".repeat(1_000))],
                ..Span::default()
            };
            SpanRecord::new(resource.clone(), scope.clone(), span)
        })
        .collect();
    spoor_codec::otlp::encode_request(&spans)
}

fn send(spoor: &Spoor, n: u64) -> u16 {
    spoor
        .post(
            &spoor.otlp_http_url("/v1/traces"),
            "application/x-protobuf",
            request(n),
            &[],
        )
        .status
}

/// Starts `spoor` on `dir` with blocks cut only on demand (everything stays
/// in the WAL).
fn start(dir: &Path) -> Spoor {
    Spoor::start(&["--data-dir", dir.to_str().unwrap(), "--block-cut-age", "1h"])
}

/// Writes traces 0..TRACES, kills the server (so the WAL holds them all) and
/// returns the segment holding them.
fn fill_wal(dir: &Path) -> PathBuf {
    let mut spoor = start(dir);
    for n in 0..TRACES {
        assert_eq!(send(&spoor, n), 200);
    }
    spoor.sigkill();
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    segments.pop().unwrap()
}

fn found(spoor: &Spoor, n: u64) -> bool {
    let (status, body) = spoor.get_json(&format!("/api/traces/{}?raw=true", trace_id(n).to_hex()));
    status == 200 && body["data"][0]["spans"].as_array().map_or(0, Vec::len) == 3
}

fn quarantined(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("quarantine"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn fsck(dir: &Path, repair: bool) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spoor"));
    cmd.args(["fsck", "--data-dir", dir.to_str().unwrap()]);
    if repair {
        cmd.arg("--repair");
    }
    let out = cmd.env_remove("SPOOR_DATA_DIR").output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_flipped_byte_mid_segment_loses_only_the_record_it_hits() {
    let dir = tempfile::tempdir().unwrap();
    let segment = fill_wal(dir.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();

    let spoor = start(dir.path());
    let missing: Vec<u64> = (0..TRACES).filter(|&n| !found(&spoor, n)).collect();
    assert_eq!(
        missing.len(),
        1,
        "exactly the hit record is lost: {missing:?}"
    );
    let hit = missing[0];
    assert!(
        hit > 0 && hit < TRACES - 1,
        "the damage is mid-segment: {hit}"
    );
    let metrics = spoor.metrics();
    assert_eq!(
        metric_value(&metrics, "spoor_engine_wal_damaged_ranges_total"),
        1.0
    );
    let skipped = metric_value(&metrics, "spoor_engine_wal_skipped_bytes_total");
    assert!(
        skipped > 3_000.0 && skipped < 10_000.0,
        "one record: {skipped}"
    );
    assert_eq!(
        metric_value(&metrics, "spoor_engine_quarantined_files_total"),
        1.0
    );
    assert_eq!(
        metric_value(&metrics, "spoor_engine_wal_truncations_total"),
        0.0
    );
    assert!(
        spoor
            .log()
            .contains("skipped damaged bytes in a WAL segment")
    );
    // The damaged bytes are set aside; the segment itself is untouched.
    let aside = quarantined(dir.path());
    assert_eq!(aside.len(), 1, "{aside:?}");
    let saved = std::fs::read(dir.path().join("quarantine").join(&aside[0])).unwrap();
    assert_eq!(saved.len() as f64, skipped);
    let offset: usize = aside[0]
        .trim_end_matches(".bin")
        .rsplit('-')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(saved, bytes[offset..offset + saved.len()]);
    assert!(offset <= mid && mid < offset + saved.len());
    assert_eq!(std::fs::read(&segment).unwrap(), bytes);
}

#[test]
fn a_damaged_segment_header_hides_none_of_its_spans() {
    let dir = tempfile::tempdir().unwrap();
    let segment = fill_wal(dir.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[..16].copy_from_slice(b"garbage garbage!");
    std::fs::write(&segment, &bytes).unwrap();

    let spoor = start(dir.path());
    let missing: Vec<u64> = (0..TRACES).filter(|&n| !found(&spoor, n)).collect();
    assert!(missing.is_empty(), "lost {missing:?}");
    let metrics = spoor.metrics();
    assert_eq!(
        metric_value(&metrics, "spoor_engine_wal_damaged_headers_total"),
        1.0
    );
    assert_eq!(
        metric_value(&metrics, "spoor_engine_wal_skipped_bytes_total"),
        16.0
    );
    assert!(segment.exists(), "never renamed away");
    assert!(!segment.with_extension("wal.corrupt").exists());
}

#[test]
fn fsck_reports_refuses_a_running_directory_and_repairs() {
    let dir = tempfile::tempdir().unwrap();
    let segment = fill_wal(dir.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();

    let (code, out) = fsck(dir.path(), false);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("DAMAGED"), "{out}");
    assert!(out.contains("skipped"), "{out}");
    assert!(out.contains("1 damaged, 0 repaired, 1 unrepaired"), "{out}");
    assert!(out.contains("--repair"), "{out}");
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        bytes,
        "checking changes nothing"
    );

    let (code, out) = fsck(dir.path(), true);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("repaired: rewritten with its 39 valid record(s)"),
        "{out}"
    );
    let aside = quarantined(dir.path());
    assert!(aside.iter().any(|n| n.ends_with(".wal")), "{aside:?}");
    let (code, out) = fsck(dir.path(), false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 damaged"), "{out}");

    // The repaired directory opens clean, with the 39 intact traces.
    let spoor = start(dir.path());
    assert_eq!((0..TRACES).filter(|&n| found(&spoor, n)).count(), 39);
    let metrics = spoor.metrics();
    assert_eq!(
        metric_value(&metrics, "spoor_engine_wal_damaged_ranges_total"),
        0.0
    );
    // A directory in use is refused.
    let (code, out) = fsck(dir.path(), false);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("in use by a running Spoor"), "{out}");
}

#[test]
fn fsck_reports_and_quarantines_an_unreadable_block() {
    let dir = tempfile::tempdir().unwrap();
    let spoor = Spoor::start(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--block-cut-age",
        "1s",
    ]);
    for n in 0..5 {
        assert_eq!(send(&spoor, n), 200);
    }
    let blocks = dir.path().join("blocks");
    let block = common::poll_until(std::time::Duration::from_secs(20), || {
        std::fs::read_dir(&blocks)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.join("meta.json").exists())
    })
    .expect("a block was cut");
    drop(spoor);
    let (code, out) = fsck(dir.path(), false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("block OK"), "{out}");

    let spans = block.join("spans.parquet");
    let len = std::fs::metadata(&spans).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&spans)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let (code, out) = fsck(dir.path(), false);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("block DAMAGED"), "{out}");
    let (code, out) = fsck(dir.path(), true);
    assert_eq!(code, 0, "{out}");
    assert!(!block.exists());
    let id = block.file_name().unwrap();
    assert!(
        dir.path()
            .join("quarantine/blocks")
            .join(id)
            .join("spans.parquet")
            .exists()
    );
}
