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
}
