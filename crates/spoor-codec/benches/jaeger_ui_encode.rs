//! Jaeger UI JSON of a 1,000-span trace (10 services, 10 attributes per
//! span), as `/api/traces/{id}` writes it: model → `trace_to_ui` →
//! `gojson::to_vec` (Go-compatible bytes). `gojson_only` times the last
//! step alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spoor_codec::gojson;
use spoor_codec::jaeger::trace_to_ui;

const SPANS: usize = 1_000;

fn jaeger_ui_encode(c: &mut Criterion) {
    let trace = common::trace(3, SPANS, 10);
    let ui = trace_to_ui(&trace);
    let bytes = gojson::to_vec(&ui, false);
    assert!(bytes.starts_with(b"{\"traceID\":"));
    let mut group = c.benchmark_group("jaeger_ui_json_encode");
    group.throughput(Throughput::Elements(SPANS as u64));
    let label = format!("{SPANS}_spans/{}_bytes", bytes.len());
    group.bench_function(format!("model_to_json/{label}"), |b| {
        b.iter_with_large_drop(|| gojson::to_vec(&trace_to_ui(black_box(&trace)), false))
    });
    group.bench_function(format!("gojson_only/{label}"), |b| {
        b.iter_with_large_drop(|| gojson::to_vec(black_box(&ui), false))
    });
    group.finish();
}

criterion_group!(benches, jaeger_ui_encode);
criterion_main!(benches);
