//! Crash test: a child process writes batches to the engine and prints each
//! acknowledged batch; it is killed with SIGKILL at a random moment; the
//! parent then reopens the data directory and checks that every acknowledged
//! batch is there, span for span. Repeated over several rounds on the same
//! directory, so later rounds also replay (and repair) earlier crashes.
//!
//! The child cuts its head into a block every 256 KiB and compacts small
//! blocks in the background, so kills also land in the middle of cuts
//! (before, during or after a block upload and the deletion of the WAL
//! segments it covers) and of compactions.
//!
//! The child is this test binary itself, re-run with `--ignored --exact
//! crash_child` and the data directory in `SPOOR_ENGINE_CRASH_DIR`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spoor_engine::{Engine, EngineConfig};
use spoor_storage::conformance::compare_span_sets;
use spoor_storage::{GetTraceQuery, SpanWriter, TraceReader};

const DIR_ENV: &str = "SPOOR_ENGINE_CRASH_DIR";
const ROUND_ENV: &str = "SPOOR_ENGINE_CRASH_ROUND";
const WRITERS: u64 = 4;
const ROUNDS: u64 = 6;

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig {
        // Small segments and a small head, so kills also land around segment
        // rotation and in the middle of cutting blocks.
        wal_segment_bytes: 64 * 1024,
        head_cut_bytes: 256 * 1024,
        maintenance_interval: std::time::Duration::from_millis(20),
        ..EngineConfig::new(dir)
    }
}

/// Spans in batch `seq` (1 to 16, varying).
fn spans_of(seq: u64) -> u64 {
    1 + (seq * 7) % 16
}

/// The child process: writes until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of kill_9_loses_no_acknowledged_batch"]
async fn crash_child() {
    let dir = std::env::var_os(DIR_ENV).expect("run by kill_9_loses_no_acknowledged_batch");
    let round: u64 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let engine = Arc::new(
        Engine::open(config(std::path::Path::new(&dir)))
            .await
            .unwrap(),
    );
    println!("@ready");
    std::io::stdout().flush().unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let engine = Arc::clone(&engine);
        let writer = round * 100 + w;
        tasks.push(tokio::spawn(async move {
            for seq in 0.. {
                engine
                    .write_spans(common::numbered_batch(writer, seq, spans_of(seq)))
                    .await
                    .unwrap();
                {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "@ack {writer} {seq}").unwrap();
                    out.flush().unwrap();
                }
                // A steady client rather than a flood.
                tokio::time::sleep(std::time::Duration::from_millis(4)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn pseudo_random(seed: u64) -> u64 {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

#[test]
fn kill_9_loses_no_acknowledged_batch() {
    let dir = common::temp_dir("crash");
    let exe = std::env::current_exe().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut acknowledged: Vec<(u64, u64)> = Vec::new();
    let mut blocks_seen = 0;
    let mut compacted_seen = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_ENV, &dir)
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until the child has opened the engine (replay included).
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut lines = Vec::new();
        loop {
            let line = lines_rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("the child did not start");
            let ready = line.contains("@ready");
            lines.push(line);
            if ready {
                break;
            }
        }
        let delay = Duration::from_millis(50 + pseudo_random(seed + round) % 1_200);
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(lines_rx.try_iter());

        let mut this_round = 0;
        for line in &lines {
            let Some(at) = line.find("@ack ") else {
                continue;
            };
            let mut parts = line[at + 5..].split_whitespace();
            let writer: u64 = parts.next().unwrap().parse().unwrap();
            let seq: u64 = parts.next().unwrap().parse().unwrap();
            acknowledged.push((writer, seq));
            this_round += 1;
        }

        // Reopen and look for every batch acknowledged so far, in every round.
        let stats = runtime.block_on(async {
            let engine = Engine::open(config(&dir)).await.unwrap();
            for &(writer, seq) in &acknowledged {
                let batch = common::numbered_batch(writer, seq, spans_of(seq));
                let id = batch.spans[0].span.trace_id;
                let trace = engine
                    .get_trace(GetTraceQuery::new(id))
                    .await
                    .unwrap()
                    .unwrap_or_else(|| {
                        panic!("round {round}: acknowledged batch {writer}/{seq} is lost")
                    });
                compare_span_sets(&batch.spans, &trace.spans)
                    .unwrap_or_else(|e| panic!("round {round}: batch {writer}/{seq}: {e}"));
            }
            let stats = engine.stats();
            let compacted = engine.blocks().iter().filter(|b| b.level > 0).count();
            engine.close().await.unwrap();
            (stats, compacted)
        });
        let (stats, compacted) = stats;
        eprintln!(
            "round {round}: killed after {} ms; {this_round} batches acknowledged this round, \
             {} in all, all found; {} blocks ({compacted} compacted), replayed {} records, truncated {} tail(s) ({} bytes)",
            delay.as_millis(),
            acknowledged.len(),
            stats.blocks,
            stats.wal_replayed_records,
            stats.wal_truncations,
            stats.wal_truncated_bytes
        );
        blocks_seen = blocks_seen.max(stats.blocks);
        compacted_seen = compacted_seen.max(compacted);
    }
    assert!(blocks_seen > 0, "the children cut no block");
    assert!(compacted_seen > 0, "the children compacted no block");
    assert!(
        acknowledged.len() as u64 > ROUNDS,
        "the children acknowledged too little to prove anything: {}",
        acknowledged.len()
    );
    std::fs::remove_dir_all(dir).unwrap();
}
