//! Crash safety of the storage engine through the real binary: a client
//! sends OTLP at a steady rate, `spoor` is killed with SIGKILL at a random
//! moment, restarted on the same data directory, and every span that was
//! acknowledged before the kill must be found again. Blocks are cut every
//! 256 KiB or second, so kills land during cuts and compactions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Spoor;
use spoor_model::{KeyValue, Resource, Scope, Span, SpanId, SpanKind, SpanRecord, TraceId};

const ROUNDS: u64 = 4;
const TRACES_PER_BATCH: u64 = 8;
const SPANS_PER_TRACE: u64 = 4;

/// A batch of whole traces with IDs unique to (round, batch).
fn batch(round: u64, seq: u64, now: u64) -> (Vec<u8>, Vec<TraceId>) {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::str("service.name", format!("crash-{round}"))],
        ..Resource::default()
    });
    let scope = Arc::new(Scope::default());
    let mut spans = Vec::new();
    let mut ids = Vec::new();
    for t in 0..TRACES_PER_BATCH {
        let trace_id = TraceId::from_halves(round + 1, (seq << 8) | t);
        ids.push(trace_id);
        for s in 0..SPANS_PER_TRACE {
            let span = Span {
                trace_id,
                span_id: SpanId::from_u64(s + 1),
                parent_span_id: if s == 0 {
                    SpanId::ZERO
                } else {
                    SpanId::from_u64(s)
                },
                name: format!("op-{s}"),
                kind: SpanKind::Server,
                start_time_unix_nano: now + s * 1_000,
                end_time_unix_nano: now + 100_000,
                attributes: vec![KeyValue::str("seq", seq.to_string())],
                ..Span::default()
            };
            spans.push(SpanRecord::new(resource.clone(), scope.clone(), span));
        }
    }
    (spoor_codec::otlp::encode_request(&spans), ids)
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// splitmix64, for kill moments that differ between runs but can be replayed.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn acknowledged_spans_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap().to_string();
    let args = [
        "--data-dir",
        dir_arg.as_str(),
        "--block-cut-bytes",
        "262144",
        "--block-cut-age",
        "1s",
    ];
    let mut seed = now_nanos();
    eprintln!("kill-moment seed: {seed}");
    // Every acknowledged trace across all rounds, with its span count.
    let mut acked: BTreeMap<TraceId, u64> = BTreeMap::new();
    for round in 0..ROUNDS {
        let mut spoor = Spoor::start(&args);
        let url = spoor.otlp_http_url("/v1/traces");
        let stop = Arc::new(AtomicBool::new(false));
        let round_acked = Arc::new(Mutex::new(Vec::new()));
        let sender = {
            let stop = stop.clone();
            let round_acked = round_acked.clone();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (body, ids) = batch(round, seq, now_nanos());
                    seq += 1;
                    let ok = client
                        .post(&url)
                        .header("Content-Type", "application/x-protobuf")
                        .body(body)
                        .send()
                        .map(|r| r.status().is_success())
                        .unwrap_or(false);
                    if !ok {
                        // The server is gone (killed); nothing after this is acknowledged.
                        break;
                    }
                    round_acked.lock().unwrap().extend(ids);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        let wait = Duration::from_millis(400 + next(&mut seed) % 2_000);
        std::thread::sleep(wait);
        spoor.sigkill();
        stop.store(true, Ordering::Relaxed);
        sender.join().unwrap();
        let got = round_acked.lock().unwrap().clone();
        eprintln!(
            "round {round}: killed after {wait:?}, {} traces acknowledged",
            got.len()
        );
        assert!(
            !got.is_empty(),
            "round {round}: nothing was acknowledged before the kill"
        );
        for id in got {
            acked.insert(id, SPANS_PER_TRACE);
        }
        drop(spoor);

        // Restart on the same directory: every acknowledged trace is complete.
        let restarted = Instant::now();
        let spoor = Spoor::start(&args);
        eprintln!("round {round}: restarted in {:?}", restarted.elapsed());
        let mut missing = Vec::new();
        for (id, spans) in &acked {
            let (status, body) = spoor.get_json(&format!("/api/traces/{}?raw=true", id.to_hex()));
            let found = if status == 200 {
                body["data"][0]["spans"].as_array().map_or(0, |s| s.len()) as u64
            } else {
                0
            };
            if found != *spans {
                missing.push(format!("{} ({found} of {spans} spans)", id.to_hex()));
            }
        }
        assert!(
            missing.is_empty(),
            "round {round}: {} acknowledged traces lost or incomplete after SIGKILL: {}",
            missing.len(),
            missing
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    eprintln!(
        "{} acknowledged traces survived {ROUNDS} kills",
        acked.len()
    );
}
