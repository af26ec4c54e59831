//! The benchmark's data: traces from the tracegen generator with a fixed
//! seed, cut into batches of a fixed number of spans, and encoded for the
//! wire before any clock starts.

use std::collections::VecDeque;

use anyhow::{Result, bail};
use bytes::Bytes;
use spoor_model::SpanRecord;

use crate::tracegen::generator::{GenConfig, Generator};
use crate::tracegen::run::now_nanos;
use spoor_client::Protocol;
use spoor_client::sender as senders;

/// What the generator makes and how it is batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSettings {
    pub seed: u64,
    /// Attributes per span.
    pub attrs: usize,
    /// Spans per batch (one OTLP or Zipkin request; split into datagrams for UDP).
    pub batch_size: usize,
}

/// Batches of exactly `batch_size` spans from the Train-Ticket generator; a
/// trace may straddle two batches, as it does in tracegen.
#[derive(Debug)]
pub struct Batcher {
    generator: Generator,
    pending: VecDeque<SpanRecord>,
    batch_size: usize,
}

impl Batcher {
    /// A batcher over the default topology (all services) seeded with `settings.seed`.
    pub fn new(settings: DataSettings) -> Result<Batcher> {
        if settings.batch_size == 0 {
            bail!("the batch size must be at least 1");
        }
        let config = GenConfig {
            attrs: settings.attrs,
            ..GenConfig::default()
        };
        Ok(Batcher {
            generator: Generator::train_ticket(config, None, settings.seed)?,
            pending: VecDeque::new(),
            batch_size: settings.batch_size,
        })
    }

    /// The next batch; its traces end now.
    pub fn next_batch(&mut self) -> Vec<SpanRecord> {
        self.next_batch_observing(|_| {})
    }

    /// The next batch, showing `on_trace` every trace as it is generated
    /// (whole, even when its spans go into more than one batch).
    pub fn next_batch_observing(
        &mut self,
        mut on_trace: impl FnMut(&[SpanRecord]),
    ) -> Vec<SpanRecord> {
        let mut batch = Vec::with_capacity(self.batch_size);
        while batch.len() < self.batch_size {
            if self.pending.is_empty() {
                let trace = self.generator.next_trace(now_nanos());
                on_trace(&trace);
                self.pending = trace.into();
            }
            let take = (self.batch_size - batch.len()).min(self.pending.len());
            batch.extend(self.pending.drain(..take));
        }
        batch
    }

    /// Traces started so far.
    pub fn traces(&self) -> u64 {
        self.generator.traces_generated()
    }
}

/// One protocol's pre-encoded payloads.
#[derive(Debug, Clone)]
pub struct Payloads {
    pub protocol: Protocol,
    /// Request bodies (datagrams for UDP), each with the spans it carries.
    pub parts: Vec<(Bytes, u64)>,
    /// Spans over all parts.
    pub spans: u64,
    /// Bytes over all parts.
    pub bytes: u64,
    /// Traces the spans belong to.
    pub traces: u64,
}

impl Payloads {
    /// Mean spans per part.
    pub fn spans_per_part(&self) -> f64 {
        self.spans as f64 / self.parts.len().max(1) as f64
    }
}

/// Generates `batches` batches once and encodes each for every protocol.
pub fn build(
    settings: DataSettings,
    batches: usize,
    protocols: &[Protocol],
) -> Result<Vec<Payloads>> {
    let mut batcher = Batcher::new(settings)?;
    let mut out: Vec<Payloads> = protocols
        .iter()
        .map(|&protocol| Payloads {
            protocol,
            parts: Vec::new(),
            spans: 0,
            bytes: 0,
            traces: 0,
        })
        .collect();
    for _ in 0..batches {
        let batch = batcher.next_batch();
        for p in &mut out {
            let encoded = senders::encode(p.protocol, &batch);
            if encoded.oversized > 0 {
                bail!(
                    "{} spans do not fit in one {} datagram",
                    encoded.oversized,
                    p.protocol
                );
            }
            for (body, spans) in encoded.parts {
                p.spans += spans;
                p.bytes += body.len() as u64;
                p.parts.push((body, spans));
            }
        }
    }
    let traces = batcher.traces();
    for p in &mut out {
        p.traces = traces;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn settings() -> DataSettings {
        DataSettings {
            seed: 7,
            attrs: 10,
            batch_size: 64,
        }
    }

    #[test]
    fn batches_are_full_and_seeded() {
        let mut a = Batcher::new(settings()).unwrap();
        let mut b = Batcher::new(settings()).unwrap();
        for _ in 0..5 {
            let x = a.next_batch();
            let y = b.next_batch();
            assert_eq!(x.len(), 64);
            let ids = |v: &[SpanRecord]| {
                v.iter()
                    .map(|r| (r.span.trace_id, r.span.span_id))
                    .collect::<Vec<_>>()
            };
            assert_eq!(ids(&x), ids(&y));
            assert!(x.iter().all(|r| r.span.attributes.len() == 10));
        }
    }

    #[test]
    fn every_protocol_carries_every_span() {
        let protocols = [
            Protocol::OtlpGrpc,
            Protocol::JaegerUdpCompact,
            Protocol::Zipkin,
        ];
        let sets = build(settings(), 3, &protocols).unwrap();
        assert_eq!(sets.len(), 3);
        for set in &sets {
            assert_eq!(set.spans, 3 * 64, "{}", set.protocol);
            assert_eq!(
                set.parts.iter().map(|(_, n)| n).sum::<u64>(),
                set.spans,
                "{}",
                set.protocol
            );
            assert!(set.bytes > 0 && set.traces > 0);
        }
        assert_eq!(sets[0].parts.len(), 3);
        assert_eq!(sets[2].parts.len(), 3);
        assert!(sets[1].parts.len() >= 3);
        let decoded: usize = sets[0]
            .parts
            .iter()
            .map(|(b, _)| spoor_codec::otlp::decode_request(b).unwrap().len())
            .sum();
        assert_eq!(decoded, 3 * 64);
    }
}
