//! OTLP protobuf decode of one 512-span `ExportTraceServiceRequest`
//! (10 attributes per span, 10 services), bytes → model, as the OTLP
//! receivers do. Freeing the decoded batch is not timed, as in
//! `spoor bench`'s decode-only rate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SPANS: usize = 512;

fn otlp_decode(c: &mut Criterion) {
    let spans = common::spans(1, SPANS, 16, 10);
    let body = spoor_codec::otlp::encode_request(&spans);
    assert_eq!(
        spoor_codec::otlp::decode_request(&body).unwrap().len(),
        SPANS
    );
    let mut group = c.benchmark_group("otlp_decode");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function(
        format!("decode_request/{SPANS}_spans/{}_bytes", body.len()),
        |b| b.iter_with_large_drop(|| spoor_codec::otlp::decode_request(black_box(&body)).unwrap()),
    );
    group.finish();
}

criterion_group!(benches, otlp_decode);
criterion_main!(benches);
