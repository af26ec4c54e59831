//! Jaeger's 25 storage search queries, run through the real binary: every
//! fixture trace goes in over OTLP (half gRPC, half HTTP protobuf), and every
//! query comes back through `/api/traces` and `/api/v3/traces` with exactly
//! the expected traces, complete.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Spoor;
use common::conformance::{check_all, fixture_span_counts, ingest, load};

#[test]
fn jaeger_search_queries_through_the_binary() {
    let fixtures = load();
    assert_eq!(fixtures.queries.len(), 25, "Jaeger's suite has 25 queries");
    let spoor = Spoor::start(&[]);
    ingest(&spoor, &fixtures);
    // Every fixture trace is visible before the checks start.
    for id in fixture_span_counts(&fixtures).keys() {
        let visible = common::poll_until(Duration::from_secs(10), || {
            (spoor.get_json(&format!("/api/traces/{id}")).0 == 200).then_some(())
        });
        assert!(visible.is_some(), "GET /api/traces/{id}: not found");
    }
    let failures = check_all(&spoor.query(""), &fixtures, |url| {
        let reply = spoor.get(url);
        (reply.status, reply.json())
    });
    assert!(
        failures.is_empty(),
        "{} conformance failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
