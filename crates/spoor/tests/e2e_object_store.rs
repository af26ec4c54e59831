//! Blocks on a real S3-compatible object store (SeaweedFS, three volume
//! servers, replication 3; `common::s3_server`), through the real binary:
//! spans sent by the OpenTelemetry SDK are cut into blocks in the bucket and
//! come back, by ID and by search, in a `spoor` started on a fresh data
//! directory; and with the store stopped mid-ingest, Spoor keeps
//! acknowledging, uploads once the store is back, and loses nothing it
//! acknowledged.
//!
//! Skipped (with a printed reason) only when `SPOOR_TEST_S3_SERVER` is unset
//! and no server was installed; scripts/test.sh installs one and sets it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::blocks::{now_nanos, objects, search, send_with_sdk, span_count, wait_all_cut};
use common::s3_server::{self, S3Server};
use common::{Spoor, metric_value, poll_until};
use serde_json::{Value, json};
use spoor_engine::object_store::ObjectStoreExt;

fn start_spoor(server: &S3Server, url: &str, extra: &[&str]) -> Spoor {
    let mut args = vec!["--blocks-url", url];
    args.extend_from_slice(extra);
    Spoor::start_with_env(&args, &server.env())
}

fn metric(spoor: &Spoor, name: &str) -> u64 {
    metric_value(&spoor.metrics(), name) as u64
}

#[test]
fn blocks_go_to_the_bucket_and_come_back_in_a_fresh_data_directory() {
    let Some(server) = s3_server::start_or_skip("e2e_object_store") else {
        return;
    };
    server.create_bucket("spoor-e2e");
    let url = server.url("spoor-e2e", "tenant-a/blocks");
    let spoor = start_spoor(&server, &url, &["--block-cut-age", "1s"]);

    let service = format!("s3-e2e-{}", std::process::id());
    let mut ids = send_with_sdk(&spoor, &service, 40, "spoor-e2e-object-store");
    wait_all_cut(&spoor, Duration::from_secs(30));
    // A second round, so there are several blocks.
    ids.extend(send_with_sdk(
        &spoor,
        &service,
        40,
        "spoor-e2e-object-store",
    ));
    wait_all_cut(&spoor, Duration::from_secs(30));
    assert!(metric(&spoor, "spoor_engine_blocks_cut_total") >= 2);
    assert_eq!(metric(&spoor, "spoor_engine_cut_errors_total"), 0);

    // Every block is a folder under the prefix with its meta.json, published
    // last; no upload left its WRITING marker.
    let bucket = server.bucket_client("spoor-e2e");
    let names = objects(&bucket, "");
    let metas: Vec<&String> = names.iter().filter(|n| n.ends_with("/meta.json")).collect();
    assert!(metas.len() >= 2, "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("tenant-a/blocks/")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with("/WRITING")), "{names:?}");
    for file in ["spans.parquet", "index.bin", "bloom.bin"] {
        assert!(
            names.iter().any(|n| n.ends_with(&format!("/{file}"))),
            "{file} in {names:?}"
        );
    }
    for id in &ids {
        assert_eq!(span_count(&spoor, id), 3, "trace {id}");
    }
    drop(spoor);

    // A new spoor with an empty data directory: everything comes from the bucket.
    let fresh = start_spoor(&server, &url, &[]);
    assert_eq!(metric(&fresh, "spoor_engine_head_spans"), 0);
    assert!(metric(&fresh, "spoor_engine_blocks") >= 1);
    for id in &ids {
        assert_eq!(span_count(&fresh, id), 3, "trace {id} after the restart");
    }
    let expected: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(search(&fresh, &service), expected);
    // Other prefixes of the bucket are other stores.
    let other = start_spoor(&server, &server.url("spoor-e2e", "tenant-b"), &[]);
    assert_eq!(metric(&other, "spoor_engine_blocks"), 0);
    assert!(search(&other, &service).is_empty());
    drop(other);

    // A half block (its data objects without meta.json, as an upload cut off
    // by a crash leaves it) is neither loaded nor deleted, and is counted.
    let source = metas[0].trim_end_matches("/meta.json").to_owned();
    let half = "tenant-a/blocks/00000000000000000001-0000";
    let copy_store = Arc::clone(&bucket);
    let copied: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with(&format!("{source}/")) && !n.ends_with("/meta.json"))
        .cloned()
        .collect();
    common::runtime().block_on(async move {
        for name in &copied {
            let to = name.replacen(&source, half, 1);
            copy_store
                .copy(&name.as_str().into(), &to.as_str().into())
                .await
                .unwrap();
        }
    });
    drop(fresh);
    let again = start_spoor(&server, &url, &[]);
    assert_eq!(metric(&again, "spoor_engine_blocks_quarantined_total"), 1);
    for id in &ids {
        assert_eq!(span_count(&again, id), 3, "trace {id}, once");
    }
    assert!(
        objects(&bucket, "").iter().any(|n| n.starts_with(half)),
        "a damaged block in a shared store is left in place"
    );
}

/// An OTLP/JSON request of one span of `service` in trace `trace`.
fn one_span(service: &str, trace: u64) -> Value {
    let now = now_nanos();
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "e2e"}, "spans": [{
            "traceId": format!("{:032x}", (0x53_u128 << 64) | u128::from(trace)),
            "spanId": format!("{:016x}", trace + 1),
            "name": "op",
            "kind": 2,
            "startTimeUnixNano": now.to_string(),
            "endTimeUnixNano": (now + 1_000_000).to_string(),
        }]}]
    }]})
}

#[test]
fn with_the_store_stopped_mid_ingest_spoor_keeps_acknowledging_and_loses_nothing() {
    let Some(mut server) = s3_server::start_or_skip("e2e_object_store") else {
        return;
    };
    server.create_bucket("spoor-outage");
    let url = server.url("spoor-outage", "blocks");
    let spoor = start_spoor(&server, &url, &["--block-cut-age", "1s"]);
    let service = "s3-outage";
    let mut acknowledged = Vec::new();
    let mut send = |spoor: &Spoor, n: u64| {
        let reply = spoor.post(
            &spoor.otlp_http_url("/v1/traces"),
            "application/json",
            serde_json::to_vec(&one_span(service, n)).unwrap(),
            &[],
        );
        if reply.status == 200 {
            acknowledged.push(format!("{:032x}", (0x53_u128 << 64) | u128::from(n)));
        }
        reply.status
    };
    let mut n = 0;
    for _ in 0..50 {
        assert_eq!(send(&spoor, n), 200);
        n += 1;
    }
    wait_all_cut(&spoor, Duration::from_secs(30));

    // The store goes away for 30 s; ingest goes on, every request answered.
    server.stop_s3();
    let outage = Instant::now();
    let mut refused = 0;
    while outage.elapsed() < Duration::from_secs(30) {
        match send(&spoor, n) {
            200 => {}
            429 | 503 => refused += 1,
            other => panic!("unexpected status {other} while the store is down"),
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = spoor.metrics();
    assert!(
        metric_value(&text, "spoor_engine_cut_errors_total") >= 1.0,
        "cuts failed while the store was down:\n{text}"
    );
    assert_eq!(metric_value(&text, "spoor_engine_block_cut_failing"), 1.0);
    assert_eq!(refused, 0, "memory for recent spans did not run out");
    // Served from memory meanwhile.
    for id in acknowledged.iter().rev().take(5) {
        assert_eq!(span_count(&spoor, id), 1, "trace {id} during the outage");
    }
    eprintln!(
        "store down {:.0} s: {} requests, all acknowledged",
        outage.elapsed().as_secs_f64(),
        acknowledged.len() - 50
    );

    // The store comes back: the maintenance task uploads what was waiting.
    server.resume();
    poll_until(Duration::from_secs(90), || {
        let text = spoor.metrics();
        (metric_value(&text, "spoor_engine_head_spans") == 0.0
            && metric_value(&text, "spoor_engine_block_cut_failing") == 0.0)
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "nothing was uploaded after the store came back:\n{}",
            spoor.metrics()
        )
    });
    drop(spoor);

    // Everything acknowledged is in the bucket: a fresh spoor finds it all.
    let fresh = start_spoor(&server, &url, &[]);
    let found = search(&fresh, service);
    let expected: BTreeSet<String> = acknowledged.iter().cloned().collect();
    let missing: Vec<&String> = expected.difference(&found).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    for id in acknowledged.iter().step_by(25) {
        assert_eq!(span_count(&fresh, id), 1, "trace {id}");
    }
}
