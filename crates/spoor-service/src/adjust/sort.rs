//! SortCollections: a deterministic order for attributes and events.

use spoor_model::{KeyValue, Trace};

use crate::shared::rewrite_shared;

/// Sorts, by key, the attributes of every resource, scope, span, event and
/// link, and sorts each span's events by name. Both sorts are stable. Spans,
/// links and nested map values keep their order, as in Jaeger.
pub fn sort_collections(trace: &mut Trace) {
    let records = &mut trace.spans;
    rewrite_shared(
        records,
        |r| &r.resource,
        |r| &mut r.resource,
        |res| {
            (!is_sorted(&res.attributes)).then(|| {
                let mut res = res.clone();
                sort_attributes(&mut res.attributes);
                res
            })
        },
    );
    rewrite_shared(
        records,
        |r| &r.scope,
        |r| &mut r.scope,
        |scope| {
            (!is_sorted(&scope.attributes)).then(|| {
                let mut scope = scope.clone();
                sort_attributes(&mut scope.attributes);
                scope
            })
        },
    );
    for record in records.iter_mut() {
        let span = &mut record.span;
        sort_attributes(&mut span.attributes);
        span.events.sort_by(|a, b| a.name.cmp(&b.name));
        for event in &mut span.events {
            sort_attributes(&mut event.attributes);
        }
        for link in &mut span.links {
            sort_attributes(&mut link.attributes);
        }
    }
}

fn is_sorted(attrs: &[KeyValue]) -> bool {
    attrs.is_sorted_by(|a, b| a.key <= b.key)
}

fn sort_attributes(attrs: &mut [KeyValue]) {
    if !is_sorted(attrs) {
        attrs.sort_by(|a, b| a.key.cmp(&b.key));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::super::testutil::*;
    use super::*;
    use spoor_model::{AnyValue, Event, Link, Resource, Scope, SpanKind, SpanRecord};

    fn keys(attrs: &[KeyValue]) -> Vec<&str> {
        attrs.iter().map(|kv| kv.key.as_str()).collect()
    }

    fn unsorted() -> Vec<KeyValue> {
        vec![
            KeyValue::str("b", "1"),
            KeyValue::new("a", AnyValue::Int(2)),
            KeyValue::str("C", "3"),
        ]
    }

    #[test]
    fn sorts_every_attribute_collection_and_events_by_name() {
        let res = Arc::new(Resource {
            attributes: unsorted(),
            ..Default::default()
        });
        let scope = Arc::new(Scope {
            attributes: unsorted(),
            ..Default::default()
        });
        let mut s = span(1, 0, SpanKind::Server);
        s.attributes = unsorted();
        s.events = vec![
            Event {
                name: "z".into(),
                time_unix_nano: 1,
                attributes: unsorted(),
                ..Default::default()
            },
            Event {
                name: "a".into(),
                time_unix_nano: 3,
                ..Default::default()
            },
            Event {
                name: "a".into(),
                time_unix_nano: 2,
                ..Default::default()
            },
        ];
        s.links = vec![
            Link {
                span_id: spoor_model::SpanId::from_u64(9),
                attributes: unsorted(),
                ..Default::default()
            },
            Link {
                span_id: spoor_model::SpanId::from_u64(8),
                ..Default::default()
            },
        ];
        let mut t = trace(vec![SpanRecord::new(res.clone(), scope.clone(), s)]);
        sort_collections(&mut t);
        let r = &t.spans[0];
        // bytewise order: uppercase before lowercase
        assert_eq!(keys(&r.resource.attributes), vec!["C", "a", "b"]);
        assert_eq!(keys(&r.scope.attributes), vec!["C", "a", "b"]);
        assert_eq!(keys(&r.span.attributes), vec!["C", "a", "b"]);
        let ev: Vec<(&str, u64)> = r
            .span
            .events
            .iter()
            .map(|e| (e.name.as_str(), e.time_unix_nano))
            .collect();
        assert_eq!(ev, vec![("a", 3), ("a", 2), ("z", 1)], "stable by name");
        assert_eq!(keys(&r.span.events[2].attributes), vec!["C", "a", "b"]);
        // links keep their order, their attributes are sorted
        assert_eq!(r.span.links[0].span_id.as_u64(), 9);
        assert_eq!(keys(&r.span.links[0].attributes), vec!["C", "a", "b"]);
        // the shared originals were not touched
        assert_eq!(keys(&res.attributes), vec!["b", "a", "C"]);
        assert_eq!(keys(&scope.attributes), vec!["b", "a", "C"]);
    }

    #[test]
    fn already_sorted_resources_keep_their_allocation() {
        let res = Arc::new(Resource {
            attributes: vec![KeyValue::str("a", "1"), KeyValue::str("b", "2")],
            ..Default::default()
        });
        let mut t = trace(vec![
            record(&res, span(1, 0, SpanKind::Server)),
            record(&res, span(2, 1, SpanKind::Client)),
        ]);
        sort_collections(&mut t);
        assert!(Arc::ptr_eq(&t.spans[0].resource, &res));
        assert!(Arc::ptr_eq(&t.spans[1].resource, &res));
    }
}
