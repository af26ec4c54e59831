//! NormalizeIPAttributes: numeric IPv4 attributes become dotted strings.

use spoor_model::{AnyValue, KeyValue, Trace};

use crate::shared::rewrite_shared;

/// Keys whose numeric values are IPv4 addresses packed into 32 bits.
const IP_KEYS: [&str; 2] = ["ip", "peer.ipv4"];

/// Replaces integer or floating-point `ip` and `peer.ipv4` attributes of
/// resources and spans with the dotted-quad string of their low 32 bits
/// (`2130706433` becomes `"127.0.0.1"`), in place.
pub fn normalize_ip_attributes(trace: &mut Trace) {
    rewrite_shared(
        &mut trace.spans,
        |r| &r.resource,
        |r| &mut r.resource,
        |res| {
            needs_fix(&res.attributes).then(|| {
                let mut res = res.clone();
                fix(&mut res.attributes);
                res
            })
        },
    );
    for record in &mut trace.spans {
        fix(&mut record.span.attributes);
    }
}

fn packed_ipv4(kv: &KeyValue) -> Option<u32> {
    if !IP_KEYS.contains(&kv.key.as_str()) {
        return None;
    }
    match kv.value {
        // Go's uint32(int64) keeps the low 32 bits.
        AnyValue::Int(i) => Some(i as u32),
        // Go truncates toward zero (via int64 on common platforms), then keeps the low 32 bits.
        AnyValue::Double(d) => Some(d as i64 as u32),
        _ => None,
    }
}

fn needs_fix(attrs: &[KeyValue]) -> bool {
    attrs.iter().any(|kv| packed_ipv4(kv).is_some())
}

fn fix(attrs: &mut [KeyValue]) {
    for kv in attrs {
        if let Some(ip) = packed_ipv4(kv) {
            let [a, b, c, d] = ip.to_be_bytes();
            kv.value = AnyValue::Str(format!("{a}.{b}.{c}.{d}"));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::super::testutil::*;
    use super::*;
    use spoor_model::{Resource, SpanKind};

    #[test]
    fn numeric_ips_become_dotted_strings_in_resources_and_spans() {
        let res = Arc::new(Resource {
            attributes: vec![
                KeyValue::new("ip", AnyValue::Int(0x0808_0808)),
                KeyValue::new("host", AnyValue::Int(1)),
            ],
            ..Default::default()
        });
        let mut s = span(1, 0, SpanKind::Server);
        s.attributes = vec![
            KeyValue::new("peer.ipv4", AnyValue::Double(3_232_235_777.0)),
            KeyValue::str("ip", "10.0.0.1"),
            KeyValue::new("peer.port", AnyValue::Int(80)),
            KeyValue::new("ip", AnyValue::Int(-1)),
        ];
        let mut t = trace(vec![record(&res, s)]);
        normalize_ip_attributes(&mut t);
        let r = &t.spans[0];
        assert_eq!(
            r.resource.attributes[0].value,
            AnyValue::Str("8.8.8.8".into())
        );
        assert_eq!(r.resource.attributes[1].value, AnyValue::Int(1));
        assert_eq!(
            r.span.attributes[0].value,
            AnyValue::Str("192.168.1.1".into())
        );
        assert_eq!(r.span.attributes[1].value, AnyValue::Str("10.0.0.1".into()));
        assert_eq!(r.span.attributes[2].value, AnyValue::Int(80));
        assert_eq!(
            r.span.attributes[3].value,
            AnyValue::Str("255.255.255.255".into())
        );
        assert_eq!(
            res.attributes[0].value,
            AnyValue::Int(0x0808_0808),
            "no leak"
        );
    }
}
