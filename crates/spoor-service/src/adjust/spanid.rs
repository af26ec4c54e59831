//! DeduplicateClientServerSpanIDs: gives Zipkin-style shared server spans an
//! ID of their own.

use std::collections::{HashMap, HashSet};

use spoor_model::{SpanId, SpanKind, Trace};

const TOO_MANY_SPANS: &str = "cannot assign unique span ID, too many spans in the trace";

/// Zipkin clients may reuse one span ID for the client and the server side of
/// a call. The UI needs unique IDs, so every server span whose ID is also used
/// by a client span gets the smallest unused ID (counting up from 1), its
/// parent becomes the shared ID (the client span), and the children of the
/// shared ID other than the server span are re-pointed to the new ID.
pub fn deduplicate_client_server_span_ids(trace: &mut Trace) {
    uniquify(trace, 0);
}

/// The adjuster with an explicit starting point for the ID search, so the
/// exhaustion path can be tested.
fn uniquify(trace: &mut Trace, start_after: u64) {
    let records = &mut trace.spans;
    let mut used: HashSet<SpanId> = HashSet::with_capacity(records.len());
    let mut shared_with_client: HashSet<SpanId> = HashSet::new();
    for r in records.iter() {
        used.insert(r.span.span_id);
        if r.span.kind == SpanKind::Client {
            shared_with_client.insert(r.span.span_id);
        }
    }
    if shared_with_client.is_empty() {
        return;
    }
    let mut next = start_after;
    let mut old_to_new: HashMap<SpanId, SpanId> = HashMap::new();
    for r in records.iter_mut() {
        let span = &mut r.span;
        if span.kind != SpanKind::Server || !shared_with_client.contains(&span.span_id) {
            continue;
        }
        match next_unused(&used, next) {
            Some(id) => {
                next = id;
                let new_id = SpanId::from_u64(id);
                used.insert(new_id);
                old_to_new.insert(span.span_id, new_id);
                span.parent_span_id = span.span_id;
                span.span_id = new_id;
            }
            None => r.warnings.push(TOO_MANY_SPANS.to_string()),
        }
    }
    if old_to_new.is_empty() {
        return;
    }
    for r in records.iter_mut() {
        if let Some(&new_parent) = old_to_new.get(&r.span.parent_span_id)
            && r.span.span_id != new_parent
        {
            r.span.parent_span_id = new_parent;
        }
    }
}

/// The first ID above `after` that is not used, stopping at the wrap to zero.
fn next_unused(used: &HashSet<SpanId>, after: u64) -> Option<u64> {
    let mut id = after.checked_add(1)?;
    loop {
        if !used.contains(&SpanId::from_u64(id)) {
            return Some(id);
        }
        id = id.checked_add(1)?;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::super::testutil::*;
    use super::*;
    use spoor_model::Resource;

    /// client 1, server 1 (shared ID), and a child of the shared ID with a big ID.
    fn zipkin_trace(with_client: bool) -> Trace {
        let res = Arc::new(Resource::default());
        let mut spans = Vec::new();
        if with_client {
            spans.push(record(&res, span(1, 0, SpanKind::Client)));
        }
        spans.push(record(&res, span(1, 0, SpanKind::Server)));
        spans.push(record(&res, span(1 << 56, 1, SpanKind::Unspecified)));
        trace(spans)
    }

    #[test]
    fn shared_server_span_gets_a_new_id_and_children_follow() {
        let mut t = zipkin_trace(true);
        deduplicate_client_server_span_ids(&mut t);
        let client = &t.spans[0].span;
        let server = &t.spans[1].span;
        let child = &t.spans[2].span;
        assert_eq!(client.span_id.as_u64(), 1, "client keeps its ID");
        // 1 is taken, so the first free ID counting up from 1 is 2
        assert_eq!(server.span_id.as_u64(), 2);
        assert_eq!(
            server.parent_span_id.as_u64(),
            1,
            "the client is the new parent"
        );
        assert_eq!(child.span_id.as_u64(), 1 << 56);
        assert_eq!(child.parent_span_id, server.span_id, "child re-pointed");
        assert!(t.spans.iter().all(|r| r.warnings.is_empty()));
    }

    #[test]
    fn server_span_without_a_client_twin_is_left_alone() {
        let mut t = zipkin_trace(false);
        let before = t.clone();
        deduplicate_client_server_span_ids(&mut t);
        assert_eq!(t, before);
        assert_eq!(t.spans[0].span.span_id.as_u64(), 1);
        assert_eq!(t.spans[1].span.parent_span_id.as_u64(), 1);
    }

    #[test]
    fn two_shared_pairs_get_distinct_ids() {
        let res = Arc::new(Resource::default());
        let mut t = trace(vec![
            record(&res, span(1, 0, SpanKind::Client)),
            record(&res, span(1, 0, SpanKind::Server)),
            record(&res, span(3, 1, SpanKind::Client)),
            record(&res, span(3, 1, SpanKind::Server)),
        ]);
        deduplicate_client_server_span_ids(&mut t);
        let ids: Vec<u64> = t.spans.iter().map(|r| r.span.span_id.as_u64()).collect();
        assert_eq!(ids, vec![1, 2, 3, 4]);
        // the second client was a child of the shared ID 1, so it now hangs off server 2
        assert_eq!(t.spans[2].span.parent_span_id.as_u64(), 2);
        assert_eq!(t.spans[3].span.parent_span_id.as_u64(), 3);
    }

    #[test]
    fn exhausted_id_space_warns() {
        let mut t = zipkin_trace(true);
        uniquify(&mut t, u64::MAX);
        assert_eq!(t.spans[1].warnings, vec![TOO_MANY_SPANS.to_string()]);
        assert_eq!(
            t.spans[1].span.span_id.as_u64(),
            1,
            "ID unchanged on failure"
        );
        assert_eq!(t.spans[2].span.parent_span_id.as_u64(), 1);
    }
}
