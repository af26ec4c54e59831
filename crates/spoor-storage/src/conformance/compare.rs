//! Normalised comparison of spans and traces, with readable differences.
//!
//! Spans are compared by content, not by position: each span becomes a
//! canonical text (span, resource and scope, with every attribute list, event
//! list and link list sorted) and two span sets are equal when their sorted,
//! de-duplicated canonical forms are equal. This is the normalisation Jaeger's
//! suite applies before comparing (`CompareTraceSlices`), except that Jaeger
//! de-duplicates by span ID while this keeps distinct spans that share an ID.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use spoor_model::{AnyValue, KeyValue, SpanId, SpanRecord, Trace, TraceId};

/// At most this many differences are spelled out in one message.
const MAX_LISTED: usize = 5;

/// A span reduced to a comparable form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CanonicalSpan {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// Everything else about the span, its resource and its scope, normalised.
    pub text: String,
}

/// The canonical form of one stored span (query-time warnings are ignored).
pub fn canonical_span(record: &SpanRecord) -> CanonicalSpan {
    let mut span = record.span.clone();
    sort_attributes(&mut span.attributes);
    for event in &mut span.events {
        sort_attributes(&mut event.attributes);
    }
    span.events
        .sort_by_cached_key(|e| (e.time_unix_nano, format!("{e:?}")));
    for link in &mut span.links {
        sort_attributes(&mut link.attributes);
    }
    span.links
        .sort_by_cached_key(|l| (l.trace_id, l.span_id, format!("{l:?}")));
    let mut resource = (*record.resource).clone();
    sort_attributes(&mut resource.attributes);
    let mut scope = (*record.scope).clone();
    sort_attributes(&mut scope.attributes);
    CanonicalSpan {
        trace_id: span.trace_id,
        span_id: span.span_id,
        text: format!("{span:?}\nresource: {resource:?}\nscope: {scope:?}"),
    }
}

fn sort_attributes(attrs: &mut [KeyValue]) {
    for kv in attrs.iter_mut() {
        normalise_value(&mut kv.value);
    }
    attrs.sort_by(|a, b| match a.key.cmp(&b.key) {
        Ordering::Equal => format!("{:?}", a.value).cmp(&format!("{:?}", b.value)),
        other => other,
    });
}

fn normalise_value(value: &mut AnyValue) {
    match value {
        AnyValue::KvList(kvs) => sort_attributes(kvs),
        AnyValue::Array(items) => items.iter_mut().for_each(normalise_value),
        _ => {}
    }
}

/// Compares two span sets by content. `Err` describes every difference
/// (the first few in detail).
pub fn compare_span_sets<'a>(
    expected: impl IntoIterator<Item = &'a SpanRecord>,
    actual: impl IntoIterator<Item = &'a SpanRecord>,
) -> Result<(), String> {
    let expected: BTreeSet<CanonicalSpan> = expected.into_iter().map(canonical_span).collect();
    let actual: BTreeSet<CanonicalSpan> = actual.into_iter().map(canonical_span).collect();
    let missing: Vec<&CanonicalSpan> = expected.difference(&actual).collect();
    let mut unexpected: Vec<Option<&CanonicalSpan>> =
        actual.difference(&expected).map(Some).collect();
    if missing.is_empty() && unexpected.is_empty() {
        return Ok(());
    }

    let mut lines = vec![format!(
        "{} expected span(s) not returned as written, {} returned span(s) not expected",
        missing.len(),
        unexpected.len()
    )];
    let mut listed = 0;
    for want in &missing {
        // A returned span with the same IDs is most likely the same span, altered.
        let twin = unexpected
            .iter_mut()
            .find(|u| u.is_some_and(|u| u.trace_id == want.trace_id && u.span_id == want.span_id));
        let line = match twin.and_then(Option::take) {
            Some(got) => format!(
                "span {}/{} differs: {}",
                want.trace_id,
                want.span_id,
                first_difference(&want.text, &got.text)
            ),
            None => format!(
                "missing span {}/{}: {}",
                want.trace_id,
                want.span_id,
                excerpt(&want.text, 0, 160)
            ),
        };
        if listed < MAX_LISTED {
            lines.push(line);
        }
        listed += 1;
    }
    for got in unexpected.into_iter().flatten() {
        if listed < MAX_LISTED {
            lines.push(format!(
                "unexpected span {}/{}: {}",
                got.trace_id,
                got.span_id,
                excerpt(&got.text, 0, 160)
            ));
        }
        listed += 1;
    }
    if listed > MAX_LISTED {
        lines.push(format!("… and {} more", listed - MAX_LISTED));
    }
    Err(lines.join("\n  "))
}

/// `expected …X… / got …Y…` around the first character where two texts differ.
fn first_difference(expected: &str, actual: &str) -> String {
    let common = expected
        .chars()
        .zip(actual.chars())
        .take_while(|(a, b)| a == b)
        .count();
    let from = common.saturating_sub(40);
    format!(
        "expected …{}… got …{}…",
        excerpt(expected, from, 120),
        excerpt(actual, from, 120)
    )
}

fn excerpt(text: &str, from_char: usize, len: usize) -> String {
    text.chars()
        .skip(from_char)
        .take(len)
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect()
}

/// Compares search or fetch results with the expected traces: the same trace
/// IDs, each exactly once, and the same spans in each (see
/// [`compare_span_sets`]). Order is not compared; see [`check_newest_first`].
pub fn compare_traces(expected: &[Trace], actual: &[Trace]) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for trace in actual {
        if !seen.insert(trace.trace_id) {
            problems.push(format!("trace {} returned more than once", trace.trace_id));
        }
        if let Some(stray) = trace
            .spans
            .iter()
            .find(|r| r.span.trace_id != trace.trace_id)
        {
            problems.push(format!(
                "trace {} holds span {} of trace {}",
                trace.trace_id, stray.span.span_id, stray.span.trace_id
            ));
        }
    }
    let wanted: BTreeSet<TraceId> = expected.iter().map(|t| t.trace_id).collect();
    let missing: Vec<&TraceId> = wanted.difference(&seen).collect();
    let extra: Vec<&TraceId> = seen.difference(&wanted).collect();
    if !missing.is_empty() {
        problems.push(format!("missing trace(s) {}", list_ids(&missing)));
    }
    if !extra.is_empty() {
        problems.push(format!("unexpected trace(s) {}", list_ids(&extra)));
    }
    for want in expected {
        let Some(got) = actual.iter().find(|t| t.trace_id == want.trace_id) else {
            continue;
        };
        if let Err(diff) = compare_span_sets(&want.spans, &got.spans) {
            problems.push(format!("trace {}: {diff}", want.trace_id));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The first few IDs, comma-separated, with a count of the rest.
fn list_ids(ids: &[&TraceId]) -> String {
    let mut text = ids
        .iter()
        .take(2 * MAX_LISTED)
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > 2 * MAX_LISTED {
        text.push_str(&format!(" … ({} in all)", ids.len()));
    }
    text
}

/// Checks that traces are ordered newest first (trace start descending), ties
/// broken by trace ID ascending.
pub fn check_newest_first(traces: &[Trace]) -> Result<(), String> {
    for pair in traces.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let ordered = match a.start_time().cmp(&b.start_time()) {
            Ordering::Greater => true,
            Ordering::Equal => a.trace_id < b.trace_id,
            Ordering::Less => false,
        };
        if !ordered {
            return Err(format!(
                "trace {} (start {}) is listed before trace {} (start {}); \
                 expected start time descending, then trace ID ascending",
                a.trace_id,
                a.start_time(),
                b.trace_id,
                b.start_time()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use spoor_model::Event;
    use spoor_model::testing;

    use super::*;

    fn record(trace: u64, span: u64, attrs: Vec<KeyValue>) -> SpanRecord {
        testing::record()
            .resource(&testing::resource_with(vec![
                KeyValue::str("service.name", "svc"),
                KeyValue::str("a", "1"),
            ]))
            .trace(trace)
            .id(span)
            .name("op")
            .start(10 * span)
            .attrs(attrs)
            .events(vec![
                Event {
                    time_unix_nano: 2,
                    name: "b".into(),
                    ..Event::default()
                },
                Event {
                    time_unix_nano: 1,
                    name: "a".into(),
                    ..Event::default()
                },
            ])
            .build()
    }

    fn trace(id: u64, spans: Vec<SpanRecord>) -> Trace {
        Trace {
            trace_id: TraceId::from_halves(0, id),
            spans,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn order_of_attributes_events_and_spans_does_not_matter() {
        let a = record(
            1,
            1,
            vec![
                KeyValue::str("x", "1"),
                KeyValue::new("y", AnyValue::Int(2)),
            ],
        );
        let mut b = record(
            1,
            1,
            vec![
                KeyValue::new("y", AnyValue::Int(2)),
                KeyValue::str("x", "1"),
            ],
        );
        b.span.events.reverse();
        Arc::make_mut(&mut b.resource).attributes.reverse();
        b.warnings.push("ignored".into());
        let c = record(1, 2, vec![]);
        assert_eq!(canonical_span(&a), canonical_span(&b));
        assert!(compare_span_sets([&a, &c], [&c, &b]).is_ok());
        // An exact duplicate in the results is tolerated, as in Jaeger's normalisation.
        assert!(compare_span_sets([&a, &c], [&c, &b, &a]).is_ok());
    }

    #[test]
    fn differences_are_reported_with_their_span_ids() {
        let a = record(1, 1, vec![KeyValue::str("x", "1")]);
        let changed = record(1, 1, vec![KeyValue::str("x", "2")]);
        let extra = record(1, 3, vec![]);
        let err = compare_span_sets([&a], [&changed, &extra]).unwrap_err();
        assert!(
            err.contains("1 expected span(s) not returned as written, 2 returned"),
            "{err}"
        );
        assert!(
            err.contains("span 00000000000000000000000000000001/0000000000000001 differs"),
            "{err}"
        );
        assert!(
            err.contains(r#"Str("1")"#) && err.contains(r#"Str("2")"#),
            "{err}"
        );
        assert!(
            err.contains("unexpected span 00000000000000000000000000000001/0000000000000003"),
            "{err}"
        );
        let err = compare_span_sets([&a, &extra], []).unwrap_err();
        assert!(err.contains("missing span"), "{err}");
        // Distinct spans sharing an ID are both required.
        assert!(compare_span_sets([&a, &changed], [&a]).is_err());
    }

    #[test]
    fn traces_must_match_exactly_once() {
        let t1 = trace(1, vec![record(1, 1, vec![])]);
        let t2 = trace(2, vec![record(2, 1, vec![])]);
        assert!(compare_traces(&[t1.clone(), t2.clone()], &[t2.clone(), t1.clone()]).is_ok());
        let err = compare_traces(std::slice::from_ref(&t1), &[t1.clone(), t2.clone()]).unwrap_err();
        assert!(
            err.contains("unexpected trace(s) 00000000000000000000000000000002"),
            "{err}"
        );
        let err = compare_traces(&[t1.clone(), t2.clone()], std::slice::from_ref(&t1)).unwrap_err();
        assert!(
            err.contains("missing trace(s) 00000000000000000000000000000002"),
            "{err}"
        );
        let err = compare_traces(std::slice::from_ref(&t1), &[t1.clone(), t1.clone()]).unwrap_err();
        assert!(err.contains("more than once"), "{err}");
        let mut mixed = t1.clone();
        mixed.spans.push(record(2, 5, vec![]));
        let err = compare_traces(std::slice::from_ref(&t1), &[mixed]).unwrap_err();
        assert!(
            err.contains("holds span 0000000000000005 of trace"),
            "{err}"
        );
        let mut short = t1.clone();
        short.spans.clear();
        assert!(compare_traces(&[t1], &[short]).is_err());
    }

    #[test]
    fn newest_first_order_is_checked() {
        // Starts: trace 1 → 10, trace 2 → 20, trace 3 → 20.
        let t = |id, span| trace(id, vec![record(id, span, vec![])]);
        assert!(check_newest_first(&[t(2, 2), t(3, 2), t(1, 1)]).is_ok());
        assert!(check_newest_first(&[]).is_ok());
        assert!(check_newest_first(&[t(3, 2), t(2, 2)]).is_err());
        assert!(check_newest_first(&[t(1, 1), t(2, 2)]).is_err());
    }
}
