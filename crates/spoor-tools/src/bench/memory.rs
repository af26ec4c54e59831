//! The memory scenario: a fresh child's resident memory while idle, and
//! while it ingests a steady OTLP gRPC load at a stated rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::child::ChildServer;
use super::ingest::send_until_accepted;
use super::payload::Payloads;
use super::report::median;
use crate::tracegen::run::TokenBucket;
use spoor_client::{Connector, Protocol, SenderOptions};

/// How long an idle child is left alone before it is measured.
pub const IDLE_SETTLE: Duration = Duration::from_secs(2);

/// How often resident memory is sampled under load.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// Resident memory in bytes: steady (the median of the samples taken in
/// the second half of the window) and peak (the kernel's high-water mark).
#[derive(Debug, Clone, Copy)]
pub struct MemoryFigures {
    pub steady: u64,
    pub peak: u64,
}

/// An idle child: started, left alone for [`IDLE_SETTLE`], measured.
pub async fn idle(child: &ChildServer) -> Result<MemoryFigures> {
    let mut samples = Vec::new();
    let until = Instant::now() + IDLE_SETTLE;
    while Instant::now() < until {
        samples.push(child.rss()?.current as f64);
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let rss = child.rss()?;
    samples.push(rss.current as f64);
    Ok(MemoryFigures {
        steady: second_half_median(&samples),
        peak: rss.peak,
    })
}

/// What a load pass measured.
#[derive(Debug, Clone, Copy)]
pub struct LoadedMemory {
    pub memory: MemoryFigures,
    /// Spans per second acknowledged.
    pub achieved_rate: f64,
    /// CPU cores the child used on average.
    pub server_cores: f64,
}

/// Sends OTLP gRPC payloads to `child` at `rate` spans per second for
/// `duration`, going round `payloads` as often as needed, with `in_flight`
/// requests at a time, and samples the child's resident memory.
pub async fn under_load(
    child: &ChildServer,
    payloads: &Arc<Payloads>,
    rate: u64,
    duration: Duration,
    in_flight: usize,
) -> Result<LoadedMemory> {
    let connector = Connector::new(SenderOptions {
        protocol: Protocol::OtlpGrpc,
        endpoint: format!("http://{}", child.otlp_grpc),
        timeout: Duration::from_secs(60),
        gzip: false,
        security: Default::default(),
    })
    .await?;
    let bucket = Arc::new(TokenBucket::new(
        rate.max(1) as f64,
        payloads.spans_per_part().max(1.0),
    ));
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let refusals = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let cpu_before = child.cpu_secs()?;
    let mut tasks = Vec::new();
    for _ in 0..in_flight.max(1) {
        let mut sender = connector.sender().await?;
        let (payloads, bucket, next, acked, refusals) = (
            payloads.clone(),
            bucket.clone(),
            next.clone(),
            acked.clone(),
            refusals.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline && !payloads.parts.is_empty() {
                let i = next.fetch_add(1, Ordering::Relaxed) % payloads.parts.len();
                let (body, spans) = &payloads.parts[i];
                let wait = bucket.reserve(*spans);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                send_until_accepted(&mut sender, body, &refusals).await?;
                acked.fetch_add(*spans, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let mut samples = Vec::new();
    let half = started + duration / 2;
    loop {
        let finished = tasks.iter().all(|t| t.is_finished());
        let rss = child.rss()?.current;
        if Instant::now() >= half {
            samples.push(rss as f64);
        }
        if finished {
            break;
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    for t in tasks {
        t.await.context("a load task failed")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let server_cores = (child.cpu_secs()? - cpu_before) / elapsed.max(1e-9);
    let rss = child.rss()?;
    if samples.is_empty() {
        samples.push(rss.current as f64);
    }
    Ok(LoadedMemory {
        memory: MemoryFigures {
            steady: median(&samples).unwrap_or(0.0) as u64,
            peak: rss.peak,
        },
        achieved_rate: acked.load(Ordering::Relaxed) as f64 / elapsed.max(1e-9),
        server_cores,
    })
}

fn second_half_median(samples: &[f64]) -> u64 {
    median(&samples[samples.len() / 2..]).unwrap_or(0.0) as u64
}
