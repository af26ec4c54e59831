//! A full disk through the real binary: the data directory is a small tmpfs;
//! a filler file takes its last byte; ingest is refused as overload (HTTP
//! 503 + `Retry-After`, gRPC `UNAVAILABLE` with `RetryInfo`), `/ready`
//! answers 503, `/status` says storage cannot write, `/metrics` shows it;
//! once the filler is deleted, writes resume by themselves (no restart) and
//! everything acknowledged is queryable.
//!
//! Needs root (to mount a tmpfs); skipped with a printed reason otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Spoor, metric_value};
use spoor_model::{KeyValue, Resource, Scope, Span, SpanId, SpanKind, SpanRecord, TraceId};

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn trace_id(n: u64) -> TraceId {
    TraceId::from_halves(0xf0_11, n + 1)
}

fn request(n: u64) -> Vec<u8> {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::str("service.name", "fulldisk")],
        ..Resource::default()
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let span = Span {
        trace_id: trace_id(n),
        span_id: SpanId::from_u64(1),
        name: "op".into(),
        kind: SpanKind::Server,
        start_time_unix_nano: now,
        end_time_unix_nano: now + 1_000,
        attributes: vec![KeyValue::str("payload", "y".repeat(20_000))],
        ..Span::default()
    };
    spoor_codec::otlp::encode_request(&[SpanRecord::new(
        resource,
        Arc::new(Scope::default()),
        span,
    )])
}

fn found(spoor: &Spoor, n: u64) -> bool {
    let (status, _) = spoor.get_json(&format!("/api/traces/{}?raw=true", trace_id(n).to_hex()));
    status == 200
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    let mut total = 0;
    while f.write_all(&chunk).is_ok() {
        total += chunk.len() as u64;
    }
    // The last bytes, one at a time.
    while f.write_all(&[0]).is_ok() {
        total += 1;
    }
    let _ = f.sync_all();
    total
}

fn ready_status(spoor: &Spoor) -> (u16, String) {
    let r = spoor.get(&spoor.admin("/ready"));
    (r.status, r.text())
}

#[test]
fn a_full_disk_refuses_ingest_as_overload_and_writes_resume_when_space_returns() {
    let tmpfs = match Tmpfs::mount("8m") {
        Ok(t) => t,
        Err(why) => {
            eprintln!(
                "SKIPPED a_full_disk_refuses_ingest…: cannot mount a tmpfs ({why}); needs root"
            );
            return;
        }
    };
    let data: PathBuf = tmpfs.path().join("data");
    // Blocks are cut a second after the first span, so a cut fails on the
    // full disk too and must be retried.
    let spoor = Spoor::start(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--block-cut-age",
        "1s",
    ]);
    let url = spoor.otlp_http_url("/v1/traces");
    let post = |n: u64| spoor.post(&url, "application/x-protobuf", request(n), &[]);
    assert_eq!(post(0).status, 200);
    assert_eq!(ready_status(&spoor).0, 200);

    let filler = tmpfs.path().join("filler");
    let filled = fill(&filler);
    eprintln!("filler took {filled} bytes");

    // Ingest is refused as overload, with a clear message.
    let refused = post(1);
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(
        refused.text().contains("cannot write to disk"),
        "{}",
        refused.text()
    );
    assert!(
        refused.text().contains("No space left on device"),
        "{}",
        refused.text()
    );
    // gRPC: UNAVAILABLE with RetryInfo.
    let grpc = {
        use prost::Message as _;
        let req =
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
                request(2).as_slice(),
            )
            .unwrap();
        common::grpc_export(&spoor.otlp_grpc_endpoint(), req).unwrap_err()
    };
    assert_eq!(grpc.code(), tonic::Code::Unavailable, "{grpc:?}");
    assert!(
        String::from_utf8_lossy(grpc.details())
            .contains("type.googleapis.com/google.rpc.RetryInfo"),
        "{grpc:?}"
    );
    // The HTTP answer carries Retry-After.
    let resp = reqwest::blocking::Client::new()
        .post(&url)
        .header("Content-Type", "application/x-protobuf")
        .body(request(3))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(
        resp.headers().get("retry-after").is_some(),
        "{:?}",
        resp.headers()
    );

    // Readiness fails; liveness answers and says why.
    let (code, body) = ready_status(&spoor);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("No space left on device"), "{body}");
    let status = spoor.get(&spoor.admin("/status"));
    assert_eq!(status.status, 200);
    assert_eq!(
        status.json()["storage"]["writable"],
        false,
        "{}",
        status.text()
    );
    let metrics = spoor.metrics();
    assert_eq!(metric_value(&metrics, "spoor_engine_writable"), 0.0);
    assert!(metric_value(&metrics, "spoor_engine_wal_write_errors_total") >= 1.0);
    assert_eq!(
        metric_value(&metrics, "spoor_engine_unwritable_episodes_total"),
        1.0
    );
    let cut_failed = common::poll_until(Duration::from_secs(10), || {
        (metric_value(&spoor.metrics(), "spoor_engine_cut_errors_total") >= 1.0).then_some(())
    });
    assert!(
        cut_failed.is_some(),
        "no block cut was tried on the full disk"
    );
    assert_eq!(
        metric_value(&spoor.metrics(), "spoor_engine_block_cut_failing"),
        1.0
    );
    assert!(found(&spoor, 0), "acknowledged data stays queryable");

    // Space returns: readiness recovers by itself, with no write to try.
    std::fs::remove_file(&filler).unwrap();
    let recovered = common::poll_until(Duration::from_secs(15), || {
        (ready_status(&spoor).0 == 200).then_some(())
    });
    assert!(recovered.is_some(), "/ready stayed 503:\n{}", spoor.log());
    assert_eq!(post(4).status, 200);
    assert!(found(&spoor, 0) && found(&spoor, 4));
    let status = spoor.get(&spoor.admin("/status"));
    assert_eq!(status.json()["storage"]["writable"], true);
    assert_eq!(metric_value(&spoor.metrics(), "spoor_engine_writable"), 1.0);
    // The failed cut is retried by itself.
    let cut = common::poll_until(Duration::from_secs(40), || {
        let m = spoor.metrics();
        (metric_value(&m, "spoor_engine_blocks") >= 1.0
            && metric_value(&m, "spoor_engine_block_cut_failing") == 0.0)
            .then_some(())
    });
    assert!(
        cut.is_some(),
        "the block cut was not retried:\n{}",
        spoor.metrics()
    );
    assert!(found(&spoor, 0) && found(&spoor, 4));
    drop(spoor);

    // The WAL was left consistent: a restart replays it with no damage.
    let spoor = Spoor::start(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--block-cut-age",
        "1h",
    ]);
    assert!(found(&spoor, 0) && found(&spoor, 4));
    let metrics = spoor.metrics();
    assert_eq!(
        metric_value(&metrics, "spoor_engine_wal_damaged_ranges_total"),
        0.0
    );
    assert_eq!(
        metric_value(&metrics, "spoor_engine_wal_truncations_total"),
        0.0
    );
}
