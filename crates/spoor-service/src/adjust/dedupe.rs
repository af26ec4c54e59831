//! DeduplicateSpans: drops exact duplicate spans.

use std::collections::HashMap;

use spoor_model::{AnyValue, KeyValue, Span, SpanRecord, Trace};

/// Removes every span that is identical to an earlier one of the trace, keeping
/// the first.
///
/// Two records are duplicates when their span (every field, including IDs,
/// times, attributes, events, links and status), their resource attributes
/// and their scope (name, version, attributes) are equal; the warnings
/// collected so far count too, because in Jaeger they are a span attribute.
/// Records are compared through a canonical byte encoding hashed with FNV-1a.
/// Two deliberate differences from Jaeger, which hashes only the scope's
/// attributes and trusts the 64-bit hash: spans from differently named or
/// versioned scopes are not duplicates, and a hash match is confirmed by
/// comparing the encodings, so a collision never drops a distinct span. Run this after
/// [`sort_collections`](super::sort_collections) so that attribute order does
/// not matter.
pub fn deduplicate_spans(trace: &mut Trace) {
    let records = std::mem::take(&mut trace.spans);
    let mut kept: Vec<SpanRecord> = Vec::with_capacity(records.len());
    let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::with_capacity(records.len());
    let mut buf = Vec::new();
    let mut other = Vec::new();
    for record in records {
        buf.clear();
        encode_record(&record, &mut buf);
        let hash = fnv1a_64(&buf);
        let candidates = by_hash.entry(hash).or_default();
        let duplicate = candidates.iter().any(|&i| {
            other.clear();
            encode_record(&kept[i], &mut other);
            other == buf
        });
        if !duplicate {
            candidates.push(kept.len());
            kept.push(record);
        }
    }
    trace.spans = kept;
}

/// 64-bit FNV-1a.
pub(crate) fn fnv1a_64(data: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    data.iter().fold(OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(PRIME)
    })
}

/// Appends an unambiguous encoding of everything that makes a record distinct.
fn encode_record(record: &SpanRecord, out: &mut Vec<u8>) {
    encode_attrs(&record.resource.attributes, out);
    put_str(&record.scope.name, out);
    put_str(&record.scope.version, out);
    encode_attrs(&record.scope.attributes, out);
    encode_span(&record.span, out);
    put_len(record.warnings.len(), out);
    for w in &record.warnings {
        put_str(w, out);
    }
}

fn encode_span(span: &Span, out: &mut Vec<u8>) {
    out.extend_from_slice(&span.trace_id.0);
    out.extend_from_slice(&span.span_id.0);
    out.extend_from_slice(&span.parent_span_id.0);
    put_str(&span.trace_state, out);
    put_u64(u64::from(span.flags), out);
    put_str(&span.name, out);
    out.push(span.kind as u8);
    put_u64(span.start_time_unix_nano, out);
    put_u64(span.end_time_unix_nano, out);
    encode_attrs(&span.attributes, out);
    put_u64(u64::from(span.dropped_attributes_count), out);
    put_len(span.events.len(), out);
    for e in &span.events {
        put_u64(e.time_unix_nano, out);
        put_str(&e.name, out);
        encode_attrs(&e.attributes, out);
        put_u64(u64::from(e.dropped_attributes_count), out);
    }
    put_u64(u64::from(span.dropped_events_count), out);
    put_len(span.links.len(), out);
    for l in &span.links {
        out.extend_from_slice(&l.trace_id.0);
        out.extend_from_slice(&l.span_id.0);
        put_str(&l.trace_state, out);
        encode_attrs(&l.attributes, out);
        put_u64(u64::from(l.dropped_attributes_count), out);
        put_u64(u64::from(l.flags), out);
    }
    put_u64(u64::from(span.dropped_links_count), out);
    out.push(span.status.code as u8);
    put_str(&span.status.message, out);
}

fn encode_attrs(attrs: &[KeyValue], out: &mut Vec<u8>) {
    put_len(attrs.len(), out);
    for kv in attrs {
        put_str(&kv.key, out);
        encode_value(&kv.value, out);
    }
}

fn encode_value(value: &AnyValue, out: &mut Vec<u8>) {
    match value {
        AnyValue::Empty => out.push(0),
        AnyValue::Str(s) => {
            out.push(1);
            put_str(s, out);
        }
        AnyValue::Bool(b) => {
            out.push(2);
            out.push(u8::from(*b));
        }
        AnyValue::Int(i) => {
            out.push(3);
            out.extend_from_slice(&i.to_le_bytes());
        }
        AnyValue::Double(d) => {
            out.push(4);
            put_u64(d.to_bits(), out);
        }
        AnyValue::Bytes(b) => {
            out.push(5);
            put_len(b.len(), out);
            out.extend_from_slice(b);
        }
        AnyValue::Array(items) => {
            out.push(6);
            put_len(items.len(), out);
            for item in items {
                encode_value(item, out);
            }
        }
        AnyValue::KvList(kvs) => {
            out.push(7);
            encode_attrs(kvs, out);
        }
    }
}

fn put_u64(v: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_len(n: usize, out: &mut Vec<u8>) {
    put_u64(n as u64, out);
}

fn put_str(s: &str, out: &mut Vec<u8>) {
    put_len(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::super::testutil::*;
    use super::*;
    use spoor_model::{Resource, Scope, SpanKind};

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn identical_spans_are_dropped_even_across_resource_allocations() {
        let res1 = Arc::new(Resource {
            attributes: vec![KeyValue::str("service.name", "a")],
            ..Default::default()
        });
        let res2 = Arc::new((*res1).clone());
        let mut s = span(1, 0, SpanKind::Server);
        s.attributes = vec![KeyValue::new("n", AnyValue::Double(f64::NAN))];
        let mut t = trace(vec![
            record(&res1, s.clone()),
            record(&res1, span(2, 1, SpanKind::Client)),
            record(&res2, s.clone()),
            record(&res1, s),
        ]);
        deduplicate_spans(&mut t);
        let ids: Vec<u64> = t.spans.iter().map(|r| r.span.span_id.as_u64()).collect();
        assert_eq!(ids, vec![1, 2]);
    }

    #[test]
    fn spans_differing_in_span_resource_or_scope_are_kept() {
        let res_a = Arc::new(Resource {
            attributes: vec![KeyValue::str("service.name", "a")],
            ..Default::default()
        });
        let res_b = Arc::new(Resource {
            attributes: vec![KeyValue::str("service.name", "b")],
            ..Default::default()
        });
        let scope_x = Arc::new(Scope {
            attributes: vec![KeyValue::str("x", "1")],
            ..Default::default()
        });
        let base = span(1, 0, SpanKind::Server);
        let mut renamed = base.clone();
        renamed.name = "other".into();
        let mut typed = base.clone();
        typed.attributes = vec![KeyValue::new("k", AnyValue::Int(1))];
        let mut typed_str = base.clone();
        typed_str.attributes = vec![KeyValue::str("k", "1")];
        let mut t = trace(vec![
            record(&res_a, base.clone()),
            record(&res_a, renamed),
            record(&res_b, base.clone()),
            SpanRecord::new(res_a.clone(), scope_x, base.clone()),
            SpanRecord::new(
                res_a.clone(),
                Arc::new(Scope {
                    name: "lib".into(),
                    ..Default::default()
                }),
                base.clone(),
            ),
            record(&res_a, typed),
            record(&res_a, typed_str),
        ]);
        deduplicate_spans(&mut t);
        assert_eq!(t.spans.len(), 7);
    }

    #[test]
    fn warnings_distinguish_records() {
        let res = Arc::new(Resource::default());
        let mut warned = record(&res, span(1, 0, SpanKind::Server));
        warned.warnings.push("w".into());
        let mut t = trace(vec![record(&res, span(1, 0, SpanKind::Server)), warned]);
        deduplicate_spans(&mut t);
        assert_eq!(t.spans.len(), 2);
    }
}
