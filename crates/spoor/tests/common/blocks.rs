//! What the tests of blocks in an object store share: traces sent through
//! the OpenTelemetry SDK, read back by ID and by search, waiting for the
//! cut, and the objects of a bucket.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use spoor_engine::object_store::ObjectStore;

use super::{Spoor, canonical_trace_id, metric_value, poll_until, with_params};

pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The names of the objects under `prefix` (`""`: all), sorted.
pub fn objects(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let store = Arc::clone(store);
    let prefix = (!prefix.is_empty()).then(|| spoor_engine::object_store::path::Path::from(prefix));
    let mut names: Vec<String> = super::runtime().block_on(async move {
        store
            .list(prefix.as_ref())
            .map_ok(|o| o.location.to_string())
            .try_collect()
            .await
            .unwrap()
    });
    names.sort();
    names
}

/// Sends `traces` three-span traces of `service` through the OpenTelemetry
/// SDK (OTLP gRPC, batch processor; `tracer` names the scope) and returns
/// their IDs.
pub fn send_with_sdk(
    spoor: &Spoor,
    service: &str,
    traces: usize,
    tracer: &'static str,
) -> Vec<String> {
    let rt = super::runtime();
    let provider = super::otlp_grpc_provider(
        &rt,
        spoor.otlp_grpc_endpoint(),
        Resource::builder()
            .with_service_name(service.to_owned())
            .build(),
    );
    let tracer = provider.tracer(tracer);
    let mut ids = Vec::new();
    for i in 0..traces {
        let root = tracer
            .span_builder(format!("GET /orders/{i}"))
            .with_attributes(vec![KeyValue::new("order.id", i as i64)])
            .start_with_context(&tracer, &Context::new());
        let cx = Context::new().with_span(root);
        ids.push(cx.span().span_context().trace_id().to_string());
        for name in ["charge", "db.update"] {
            let child = tracer.span_builder(name).start_with_context(&tracer, &cx);
            drop(child);
        }
        cx.span().end();
    }
    provider.shutdown().expect("flush and shut down the SDK");
    drop(rt);
    ids
}

/// Span count of a trace through `/api/traces/{id}`; 0 when not found.
pub fn span_count(spoor: &Spoor, id: &str) -> usize {
    let (status, body) = spoor.get_json(&format!("/api/traces/{id}"));
    if status == 404 {
        return 0;
    }
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "no warnings: {body}");
    body["data"][0]["spans"].as_array().unwrap().len()
}

/// The trace IDs a search for `service` finds (limit 1,500, the last day).
pub fn search(spoor: &Spoor, service: &str) -> BTreeSet<String> {
    let now_us = now_nanos() / 1_000;
    let url = with_params(
        &spoor.query("/api/traces"),
        &[
            ("service", service.into()),
            ("start", (now_us - 86_400_000_000).to_string()),
            ("end", (now_us + 60_000_000).to_string()),
            ("limit", "1500".into()),
        ],
    );
    let reply = spoor.get(&url);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert!(body["errors"].is_null(), "no warnings: {body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| canonical_trace_id(t["traceID"].as_str().unwrap()))
        .collect()
}

/// Waits until everything in memory was cut into blocks.
pub fn wait_all_cut(spoor: &Spoor, timeout: Duration) {
    poll_until(timeout, || {
        let text = spoor.metrics();
        (metric_value(&text, "spoor_engine_head_spans") == 0.0
            && metric_value(&text, "spoor_engine_blocks") >= 1.0)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("the head was not cut into blocks:\n{}", spoor.metrics()));
}
