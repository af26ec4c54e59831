//! RemoveEmptySpanLinks: drops links that point at no trace.

use spoor_model::Trace;

const INVALID_LINK: &str = "Invalid span link removed";

/// Removes every link whose trace ID is zero, adding one warning per removed
/// link to its span.
pub fn remove_empty_span_links(trace: &mut Trace) {
    for record in &mut trace.spans {
        let before = record.span.links.len();
        record.span.links.retain(|link| !link.trace_id.is_zero());
        let removed = before - record.span.links.len();
        for _ in 0..removed {
            record.warnings.push(INVALID_LINK.to_string());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::super::testutil::*;
    use super::*;
    use spoor_model::{Link, Resource, SpanId, SpanKind, TraceId};

    #[test]
    fn drops_links_with_empty_trace_id_and_warns_per_link() {
        let res = Arc::new(Resource::default());
        let mut s = span(1, 0, SpanKind::Server);
        s.links = vec![
            Link::default(),
            Link {
                trace_id: TraceId::from_halves(0, 7),
                span_id: SpanId::from_u64(7),
                ..Default::default()
            },
            Link {
                span_id: SpanId::from_u64(8),
                ..Default::default()
            },
        ];
        let mut t = trace(vec![
            record(&res, s),
            record(&res, span(2, 1, SpanKind::Client)),
        ]);
        remove_empty_span_links(&mut t);
        assert_eq!(t.spans[0].span.links.len(), 1);
        assert_eq!(t.spans[0].span.links[0].span_id.as_u64(), 7);
        assert_eq!(t.spans[0].warnings, vec![INVALID_LINK, INVALID_LINK]);
        assert!(t.spans[1].warnings.is_empty());
    }
}
