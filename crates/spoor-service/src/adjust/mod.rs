//! Query-time trace adjusters, as Jaeger v2 runs them before returning data
//! (`cmd/jaeger/internal/extension/jaegerquery/internal/adjuster`).
//!
//! Each adjuster is a function over a whole [`Trace`]; [`adjust_trace`] runs
//! them in Jaeger's order. Problems are reported as warnings on the affected
//! span ([`SpanRecord::warnings`](spoor_model::SpanRecord)), with Jaeger's
//! exact texts; encoders turn them into Jaeger's `warnings` or api_v3's
//! `@jaeger@warnings`.
//!
//! Resources and scopes are shared (`Arc`) between records. Where Jaeger
//! changes a resource, it changes the resource of one `ResourceSpans`, which
//! all its spans see; here the equivalent unit is the set of records sharing
//! one `Arc`, and the change is copy-on-write for exactly those records, so it
//! never leaks into another trace or into storage.

mod clockskew;
mod dedupe;
mod ipattr;
mod library;
mod links;
mod sort;
mod spanid;

use std::time::Duration;

use spoor_model::Trace;
use spoor_storage::SummaryFacts;

pub use clockskew::correct_clock_skew;
pub use dedupe::deduplicate_spans;
pub use ipattr::normalize_ip_attributes;
pub use library::move_library_attributes;
pub use links::remove_empty_span_links;
pub use sort::sort_collections;
pub use spanid::deduplicate_client_server_span_ids;

/// Settings of the adjusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdjustOptions {
    /// The largest clock-skew correction applied to a span.
    /// [`Duration::ZERO`] disables the correction (Jaeger's default); the
    /// computed delta is then only reported as a warning.
    pub max_clock_skew_adjust: Duration,
}

/// Runs every adjuster on `trace`, in Jaeger v2's order:
/// DeduplicateClientServerSpanIDs, SortCollections, DeduplicateSpans,
/// CorrectClockSkew, NormalizeIPAttributes, MoveLibraryAttributes,
/// RemoveEmptySpanLinks.
pub fn adjust_trace(trace: &mut Trace, opts: &AdjustOptions) {
    deduplicate_client_server_span_ids(trace);
    sort_collections(trace);
    // Deduplication hashes a canonical form, so it must follow sorting.
    deduplicate_spans(trace);
    correct_clock_skew(trace, opts.max_clock_skew_adjust);
    normalize_ip_attributes(trace);
    move_library_attributes(trace);
    remove_empty_span_links(trace);
}

/// Whether [`adjust_trace`] leaves the summary of a trace with these facts
/// unchanged, so that storage may answer a summary search from the summary
/// it keeps of the trace as stored
/// ([`SummaryOptions::stored_is_exact`](spoor_storage::SummaryOptions)):
/// - the client/server span-ID split and the removal of duplicate spans only
///   act on span IDs that appear twice;
/// - clock-skew correction only moves a span that lies outside its parent,
///   and only when corrections are enabled;
/// - the other adjusters change attributes, scopes, events and links (never
///   the order of spans), which the summary does not read.
pub fn leaves_summary_unchanged(facts: &SummaryFacts, opts: &AdjustOptions) -> bool {
    facts.unique_span_ids && (opts.max_clock_skew_adjust.is_zero() || facts.children_within_parents)
}

#[cfg(test)]
pub(crate) mod testutil {

    use spoor_model::testing;
    use spoor_model::{Span, SpanKind, SpanRecord, Trace, TraceId};

    pub fn trace_id() -> TraceId {
        TraceId::from_halves(2, 3)
    }

    pub fn span(id: u64, parent: u64, kind: SpanKind) -> Span {
        testing::record()
            .trace_id(trace_id())
            .id(id)
            .parent(parent)
            .kind(kind)
            .name(format!("op-{id}"))
            .span()
    }

    pub use spoor_model::testing::record_of as record;

    pub fn trace(spans: Vec<SpanRecord>) -> Trace {
        Trace {
            trace_id: trace_id(),
            spans,
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::testutil::*;
    use super::*;
    use spoor_model::{AnyValue, KeyValue, Resource, SpanKind};

    #[test]
    fn full_pipeline_runs_in_order_and_is_idempotent() {
        let res = Arc::new(Resource {
            attributes: vec![KeyValue::str("z", "1"), KeyValue::str("service.name", "a")],
            ..Default::default()
        });
        let mut client = span(1, 0, SpanKind::Client);
        client.start_time_unix_nano = 100;
        client.end_time_unix_nano = 200;
        let mut server = span(1, 0, SpanKind::Server);
        server.start_time_unix_nano = 120;
        server.end_time_unix_nano = 180;
        server
            .attributes
            .push(KeyValue::new("peer.ipv4", AnyValue::Int(0x7f00_0001)));
        let mut t = trace(vec![
            record(&res, client.clone()),
            record(&res, server),
            record(&res, client),
        ]);
        adjust_trace(&mut t, &AdjustOptions::default());
        // the duplicate client span is gone, the server span got a new ID
        assert_eq!(t.spans.len(), 2);
        assert_eq!(t.spans[1].span.span_id.as_u64(), 2);
        assert_eq!(t.spans[1].span.parent_span_id.as_u64(), 1);
        assert_eq!(t.spans[0].resource.attributes[0].key, "service.name");
        assert_eq!(
            t.spans[1].span.attributes[0].value,
            AnyValue::Str("127.0.0.1".into())
        );
        let once = t.clone();
        adjust_trace(&mut t, &AdjustOptions::default());
        assert_eq!(t, once);
    }

    /// Random small traces (repeated span IDs, client/server pairs, orphans,
    /// children outside their parents on other hosts): whenever
    /// the facts say the adjusters leave the summary alone, the summary of
    /// the adjusted trace is the summary of the trace as stored.
    #[test]
    fn the_summary_facts_predict_when_adjusting_leaves_the_summary_alone() {
        use spoor_model::testing;
        use spoor_storage::{SummaryBuilder, summarize_trace};

        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let resources = [
            testing::resource_with(vec![
                KeyValue::str("service.name", "a"),
                KeyValue::str("host.name", "h1"),
            ]),
            testing::resource_with(vec![
                KeyValue::str("service.name", "b"),
                KeyValue::str("host.name", "h2"),
            ]),
        ];
        let kinds = [SpanKind::Client, SpanKind::Server, SpanKind::Internal];
        let (mut predicted, mut changed) = (0, 0);
        for round in 0..4000 {
            let opts = AdjustOptions {
                max_clock_skew_adjust: if round % 2 == 0 {
                    Duration::ZERO
                } else {
                    Duration::from_secs(3600)
                },
            };
            let n = 1 + next(6);
            let spans = (0..n)
                .map(|i| {
                    let parent = if i == 0 || next(4) == 0 {
                        0
                    } else {
                        1 + next(n + 1)
                    };
                    let start = 100 + next(20) * 10;
                    testing::record()
                        .resource(&resources[next(2) as usize])
                        .trace_id(trace_id())
                        .id(1 + next(n))
                        .parent(parent)
                        .kind(kinds[next(3) as usize])
                        .name(format!("op-{}", next(3)))
                        .start(start)
                        .end(start + next(30) * 10)
                        .error(next(3) == 0)
                        .build()
                })
                .collect();
            let stored = trace(spans);
            let mut builder = SummaryBuilder::new(stored.trace_id);
            stored.spans.iter().for_each(|r| builder.push(r));
            let (before, facts) = builder.finish();
            assert_eq!(before, summarize_trace(&stored));
            let mut adjusted = stored.clone();
            adjust_trace(&mut adjusted, &opts);
            let after = summarize_trace(&adjusted);
            if leaves_summary_unchanged(&facts, &opts) {
                assert_eq!(before, after, "{facts:?} {opts:?} {stored:#?}");
                predicted += 1;
            } else if before != after {
                changed += 1;
            }
        }
        // Both outcomes are common, so the check above is not vacuous.
        assert!(predicted > 400 && changed > 400, "{predicted} {changed}");
    }
}
