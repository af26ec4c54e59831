//! Jaeger Thrift compact decode of a typical UDP datagram: one
//! `Agent.emitBatch` from one process, filled with spans (10 tags each) up
//! to the 65,000-byte packet limit of Jaeger clients, as a busy client
//! sends it. `to_model` is what the UDP receiver does (Thrift → Jaeger
//! model → Spoor model); `to_jaeger_model` stops at Jaeger's model, as
//! `spoor agent` does when it forwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spoor_codec::jaeger::model_to_jaeger_batches;
use spoor_codec::jaeger_thrift::{
    decode_emit_batch_compact, encode_emit_batch_compact, read_emit_batch_compact,
};

/// Jaeger clients' largest UDP packet.
const MAX_PACKET: usize = 65_000;

/// The most spans of one process whose `emitBatch` fits in one packet.
fn full_datagram() -> (Vec<u8>, usize) {
    let encode = |n: usize| {
        let spans = common::spans(2, n, 16, 1);
        let batch = model_to_jaeger_batches(&spans).into_iter().next().unwrap();
        encode_emit_batch_compact(&batch)
    };
    let mut n = 1;
    while encode(n + 1).len() <= MAX_PACKET {
        n += 1;
    }
    (encode(n), n)
}

fn jaeger_thrift_decode(c: &mut Criterion) {
    let (datagram, spans) = full_datagram();
    assert_eq!(decode_emit_batch_compact(&datagram).unwrap().len(), spans);
    let mut group = c.benchmark_group("jaeger_thrift_compact_decode");
    group.throughput(Throughput::Elements(spans as u64));
    let label = format!("{spans}_spans/{}_bytes", datagram.len());
    group.bench_function(format!("to_model/{label}"), |b| {
        b.iter_with_large_drop(|| decode_emit_batch_compact(black_box(&datagram)).unwrap())
    });
    group.bench_function(format!("to_jaeger_model/{label}"), |b| {
        b.iter_with_large_drop(|| read_emit_batch_compact(black_box(&datagram)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, jaeger_thrift_decode);
criterion_main!(benches);
