//! CorrectClockSkew: shifts spans of other hosts to fit within their parent.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use spoor_model::{AnyValue, Resource, SpanId, SpanRecord, Trace, find_attr, format_duration_go};

use crate::shared::group_by;

const DUPLICATE_SPAN_ID: &str = "duplicate span IDs; skipping clock skew adjustment";

/// Corrects timestamps of child spans recorded on another host than their
/// parent, when they do not fit in the parent, following Jaeger's algorithm.
///
/// - The host of a span is its resource's `host.id`, else `host.ip` (a string,
///   or the first element of an array), else `host.name`; missing means unknown.
/// - Spans form trees by parent ID. A span whose ID was already seen is left
///   out and warned (`duplicate span IDs; …`); a span whose parent is not in the
///   trace is treated as a root and warned (`parent span ID=<id> is not in the
///   trace; …`).
/// - Walking down from each root, a span on a different (or unknown) host than
///   the current skew's host gets a new skew computed against its (already
///   adjusted) parent; spans on the same host inherit their parent's skew.
/// - The skew: if the child lasted longer than the parent, only make sure it
///   does not start before the parent; if it already fits, zero; otherwise
///   centre it, assuming the network latency splits evenly.
/// - A non-zero skew is applied to start, end and event times with the
///   warning `This span's timestamps were adjusted by <d>`, unless it exceeds
///   `max_delta` (`max clock skew adjustment delta of <max> exceeded; …`) or
///   the correction is disabled because `max_delta` is zero (`clock skew
///   adjustment disabled; not applying calculated delta of <d>`).
pub fn correct_clock_skew(trace: &mut Trace, max_delta: Duration) {
    let max_delta = i64::try_from(max_delta.as_nanos()).unwrap_or(i64::MAX);
    let records = &mut trace.spans;
    let n = records.len();

    // Host key per resource group, computed once.
    let groups = group_by(records, |r| &r.resource);
    let host_of_group: Vec<String> = groups.originals.iter().map(|r| host_key(r)).collect();
    let host = |i: usize| host_of_group[groups.of_record[i]].as_str();

    let mut by_id: HashMap<SpanId, usize> = HashMap::with_capacity(n);
    let mut in_tree = vec![false; n];
    for (i, record) in records.iter_mut().enumerate() {
        match by_id.entry(record.span.span_id) {
            Entry::Occupied(_) => record.warnings.push(DUPLICATE_SPAN_ID.to_string()),
            Entry::Vacant(slot) => {
                slot.insert(i);
                in_tree[i] = true;
            }
        }
    }

    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut roots: Vec<usize> = Vec::new();
    for i in (0..n).filter(|&i| in_tree[i]) {
        let parent_id = records[i].span.parent_span_id;
        if parent_id.is_zero() {
            roots.push(i);
        } else if let Some(&p) = by_id.get(&parent_id) {
            children[p].push(i);
        } else {
            records[i].warnings.push(format!(
                "parent span ID={} is not in the trace; skipping clock skew adjustment",
                parent_id.to_hex()
            ));
            roots.push(i);
        }
    }

    // Iterative depth-first walk: traces can be deep enough to overflow the
    // stack with recursion. Entries: (span, parent, inherited skew).
    struct Skew {
        delta: i64,
        host_of: usize,
    }
    let mut stack: Vec<(usize, Option<usize>, Skew)> = Vec::new();
    for &root in &roots {
        stack.push((
            root,
            None,
            Skew {
                delta: 0,
                host_of: root,
            },
        ));
        while let Some((node, parent, mut skew)) = stack.pop() {
            if let Some(parent) = parent
                && (host(node) != host(skew.host_of) || host(node).is_empty())
            {
                skew = Skew {
                    delta: calculate_skew(&records[node], &records[parent]),
                    host_of: node,
                };
            }
            adjust_timestamps(&mut records[node], skew.delta, max_delta);
            for &child in &children[node] {
                stack.push((
                    child,
                    Some(node),
                    Skew {
                        delta: skew.delta,
                        host_of: skew.host_of,
                    },
                ));
            }
        }
    }
}

/// Jaeger's host key: `host.id`, else `host.ip`, else `host.name`.
fn host_key(resource: &Resource) -> String {
    let attrs = &resource.attributes;
    if let Some(v) = find_attr(attrs, "host.id") {
        // A non-string value reads as empty, as pcommon's Str() does.
        return v.as_str().unwrap_or_default().to_string();
    }
    if let Some(v) = find_attr(attrs, "host.ip") {
        match v {
            AnyValue::Str(s) => return s.clone(),
            AnyValue::Array(items) if !items.is_empty() => return items[0].to_string_lossy(),
            _ => {}
        }
    }
    if let Some(v) = find_attr(attrs, "host.name") {
        return v.as_str().unwrap_or_default().to_string();
    }
    String::new()
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// The shift that makes `child` fit within `parent`, in nanoseconds.
fn calculate_skew(child: &SpanRecord, parent: &SpanRecord) -> i64 {
    let ps = i128::from(parent.span.start_time_unix_nano);
    let pe = i128::from(parent.span.end_time_unix_nano);
    let cs = i128::from(child.span.start_time_unix_nano);
    let ce = i128::from(child.span.end_time_unix_nano);
    let parent_duration = pe - ps;
    let child_duration = ce - cs;
    if child_duration > parent_duration {
        // An async child, or a parent that timed out: only keep the child
        // from starting before its parent.
        return if cs < ps { clamp_i64(ps - cs) } else { 0 };
    }
    if cs >= ps && ce <= pe {
        return 0;
    }
    // Assume the network latency splits evenly between request and response.
    let latency = (parent_duration - child_duration) / 2;
    clamp_i64(ps + latency - cs)
}

fn shift(t: u64, delta: i64) -> u64 {
    let shifted = i128::from(t) + i128::from(delta);
    u64::try_from(shifted.max(0)).unwrap_or(u64::MAX)
}

fn adjust_timestamps(record: &mut SpanRecord, delta: i64, max_delta: i64) {
    if delta == 0 {
        return;
    }
    let d = format_duration_go(delta);
    if delta.unsigned_abs() > max_delta.unsigned_abs() {
        record.warnings.push(if max_delta == 0 {
            format!("clock skew adjustment disabled; not applying calculated delta of {d}")
        } else {
            format!(
                "max clock skew adjustment delta of {} exceeded; not applying calculated delta of {d}",
                format_duration_go(max_delta)
            )
        });
        return;
    }
    let span = &mut record.span;
    span.start_time_unix_nano = shift(span.start_time_unix_nano, delta);
    span.end_time_unix_nano = shift(span.end_time_unix_nano, delta);
    for event in &mut span.events {
        event.time_unix_nano = shift(event.time_unix_nano, delta);
    }
    record
        .warnings
        .push(format!("This span's timestamps were adjusted by {d}"));
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::super::testutil::*;
    use super::*;
    use spoor_model::{Event, KeyValue, SpanKind};

    const MS: u64 = 1_000_000;

    struct Proto {
        id: u64,
        parent: u64,
        start_ms: u64,
        duration_ms: u64,
        host: &'static str,
        events_ms: Vec<u64>,
    }

    fn p(id: u64, parent: u64, start_ms: u64, duration_ms: u64, host: &'static str) -> Proto {
        Proto {
            id,
            parent,
            start_ms,
            duration_ms,
            host,
            events_ms: Vec::new(),
        }
    }

    fn build(protos: Vec<Proto>) -> Trace {
        let spans = protos
            .into_iter()
            .map(|pr| {
                let attrs = if pr.host.is_empty() {
                    vec![]
                } else {
                    vec![KeyValue::new(
                        "host.ip",
                        AnyValue::Array(vec![AnyValue::Str(pr.host.into())]),
                    )]
                };
                let res = Arc::new(Resource {
                    attributes: attrs,
                    ..Default::default()
                });
                let mut s = span(pr.id, pr.parent, SpanKind::Unspecified);
                s.start_time_unix_nano = pr.start_ms * MS;
                s.end_time_unix_nano = (pr.start_ms + pr.duration_ms) * MS;
                s.events = pr
                    .events_ms
                    .iter()
                    .map(|&t| Event {
                        time_unix_nano: t * MS,
                        name: "e".into(),
                        ..Default::default()
                    })
                    .collect();
                record(&res, s)
            })
            .collect();
        trace(spans)
    }

    fn starts_ms(t: &Trace) -> Vec<u64> {
        t.spans
            .iter()
            .map(|r| r.span.start_time_unix_nano / MS)
            .collect()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn missing_parent_warns_and_is_treated_as_root() {
        let mut t = build(vec![p(1, 99, 0, 100, "a")]);
        correct_clock_skew(&mut t, HOUR);
        assert_eq!(
            t.spans[0].warnings,
            vec![
                "parent span ID=0000000000000063 is not in the trace; skipping clock skew adjustment"
            ]
        );
    }

    #[test]
    fn duplicate_span_ids_warn() {
        let mut t = build(vec![p(1, 0, 0, 100, "a"), p(1, 0, 10, 10, "b")]);
        correct_clock_skew(&mut t, HOUR);
        assert!(t.spans[0].warnings.is_empty());
        assert_eq!(t.spans[1].warnings, vec![DUPLICATE_SPAN_ID]);
    }

    #[test]
    fn same_host_and_fitting_children_are_not_adjusted() {
        let mut t = build(vec![
            p(1, 0, 0, 100, "a"),
            p(2, 1, 10, 50, "b"),  // fits, other host
            p(3, 1, 200, 10, "a"), // does not fit, same host
        ]);
        correct_clock_skew(&mut t, HOUR);
        assert_eq!(starts_ms(&t), vec![0, 10, 200]);
        assert!(t.spans.iter().all(|r| r.warnings.is_empty()));
    }

    #[test]
    fn child_on_other_host_is_centred_and_grandchildren_follow() {
        let mut t = build(vec![
            p(1, 0, 0, 100, "a"),
            // child on host b starts 50ms before its parent: centre it.
            Proto {
                events_ms: vec![60],
                ..p(2, 1, 0, 50, "b")
            },
            // grandchild on host b inherits the skew of 25ms (child moved from 0 to 25)
            p(3, 2, 10, 20, "b"),
        ]);
        // Put the child before the parent: parent 100..200, child 0..50
        t.spans[0].span.start_time_unix_nano = 100 * MS;
        t.spans[0].span.end_time_unix_nano = 200 * MS;
        correct_clock_skew(&mut t, HOUR);
        // latency = (100 - 50) / 2 = 25 → child starts at 125: delta 125ms
        assert_eq!(starts_ms(&t), vec![100, 125, 135]);
        assert_eq!(t.spans[1].span.end_time_unix_nano, 175 * MS);
        assert_eq!(t.spans[1].span.events[0].time_unix_nano, 185 * MS);
        assert_eq!(
            t.spans[1].warnings,
            vec!["This span's timestamps were adjusted by 125ms"]
        );
        assert_eq!(
            t.spans[2].warnings,
            vec!["This span's timestamps were adjusted by 125ms"]
        );
    }

    #[test]
    fn longer_child_is_only_moved_to_start_with_its_parent() {
        let mut t = build(vec![p(1, 0, 100, 10, "a"), p(2, 1, 90, 100, "b")]);
        correct_clock_skew(&mut t, HOUR);
        assert_eq!(starts_ms(&t), vec![100, 100]);
        assert_eq!(
            t.spans[1].warnings,
            vec!["This span's timestamps were adjusted by 10ms"]
        );
        // a longer child that starts after its parent is left alone
        let mut t = build(vec![p(1, 0, 100, 10, "a"), p(2, 1, 105, 100, "b")]);
        correct_clock_skew(&mut t, HOUR);
        assert_eq!(starts_ms(&t), vec![100, 105]);
    }

    #[test]
    fn negative_skew_and_unknown_hosts() {
        // Unknown host on both sides still triggers a computation.
        let mut t = build(vec![p(1, 0, 0, 100, ""), p(2, 1, 80, 40, "")]);
        correct_clock_skew(&mut t, HOUR);
        // latency = 30 → child should start at 30: delta -50ms
        assert_eq!(starts_ms(&t), vec![0, 30]);
        assert_eq!(
            t.spans[1].warnings,
            vec!["This span's timestamps were adjusted by -50ms"]
        );
    }

    #[test]
    fn disabled_and_exceeded_limits_only_warn() {
        let mut t = build(vec![p(1, 0, 100, 100, "a"), p(2, 1, 0, 50, "b")]);
        correct_clock_skew(&mut t, Duration::ZERO);
        assert_eq!(starts_ms(&t), vec![100, 0]);
        assert_eq!(
            t.spans[1].warnings,
            vec!["clock skew adjustment disabled; not applying calculated delta of 125ms"]
        );

        let mut t = build(vec![p(1, 0, 100, 100, "a"), p(2, 1, 0, 50, "b")]);
        correct_clock_skew(&mut t, Duration::from_millis(10));
        assert_eq!(starts_ms(&t), vec![100, 0]);
        assert_eq!(
            t.spans[1].warnings,
            vec![
                "max clock skew adjustment delta of 10ms exceeded; not applying calculated delta of 125ms"
            ]
        );
    }

    #[test]
    fn host_key_precedence() {
        let res = |attrs: Vec<KeyValue>| Resource {
            attributes: attrs,
            ..Default::default()
        };
        assert_eq!(
            host_key(&res(vec![
                KeyValue::str("host.name", "n"),
                KeyValue::str("host.ip", "1.2.3.4"),
                KeyValue::str("host.id", "id"),
            ])),
            "id"
        );
        assert_eq!(
            host_key(&res(vec![
                KeyValue::str("host.name", "n"),
                KeyValue::str("host.ip", "1.2.3.4"),
            ])),
            "1.2.3.4"
        );
        assert_eq!(
            host_key(&res(vec![
                KeyValue::str("host.name", "n"),
                KeyValue::new("host.ip", AnyValue::Array(vec![])),
            ])),
            "n"
        );
        assert_eq!(
            host_key(&res(vec![KeyValue::new("host.id", AnyValue::Int(5))])),
            ""
        );
        assert_eq!(host_key(&res(vec![])), "");
    }

    #[test]
    fn deep_chains_do_not_overflow_the_stack() {
        let protos: Vec<Proto> = (1..=100_000u64)
            .map(|i| p(i, i - 1, i, 1, if i % 2 == 0 { "a" } else { "b" }))
            .collect();
        let mut t = build(protos);
        correct_clock_skew(&mut t, Duration::ZERO);
        assert_eq!(t.spans.len(), 100_000);
    }
}
