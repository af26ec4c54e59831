//! The sender's encoders over a large generated trace: every protocol
//! carries every span, and UDP datagrams fit (moved with the sender to
//! spoor-client; they need tracegen's generator for their data).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use spoor_client::sender::{MAX_DATAGRAM_BYTES, Protocol, encode};
use spoor_model::SpanRecord;

fn sample_spans() -> Vec<SpanRecord> {
    use super::deployment::Deployment;
    use super::generator::{GenConfig, Generator};
    use super::topology::Topology;
    let topo = Topology::train_ticket(None).unwrap();
    let config = GenConfig {
        large_trace_every: 1,
        large_trace_spans: 3_000,
        ..GenConfig::default()
    };
    let mut g = Generator::new(Arc::new(Deployment::new(topo, 5)), config, 5);
    g.next_trace(1_750_000_000_000_000_000)
}

fn decode(protocol: Protocol, body: &[u8]) -> usize {
    use spoor_codec::{jaeger_proto, jaeger_thrift, otlp, otlp_json, zipkin};
    let batch = match protocol {
        Protocol::OtlpGrpc | Protocol::OtlpHttp => otlp::decode_request(body),
        Protocol::OtlpHttpJson => otlp_json::decode(body),
        Protocol::Zipkin => zipkin::decode_v2_json(body),
        Protocol::JaegerHttp => jaeger_thrift::decode_batch_binary(body),
        Protocol::JaegerGrpc => jaeger_proto::decode_post_spans(body),
        Protocol::JaegerUdpCompact => jaeger_thrift::decode_emit_batch_compact(body),
        Protocol::JaegerUdpBinary => jaeger_thrift::decode_emit_batch_binary(body),
    };
    batch.unwrap_or_else(|e| panic!("{protocol}: {e}")).len()
}

#[test]
fn every_protocol_encodes_every_span_and_datagrams_fit() {
    let spans = sample_spans();
    assert_eq!(spans.len(), 3_000);
    for protocol in [
        Protocol::OtlpGrpc,
        Protocol::OtlpHttp,
        Protocol::OtlpHttpJson,
        Protocol::Zipkin,
        Protocol::JaegerHttp,
        Protocol::JaegerGrpc,
        Protocol::JaegerUdpCompact,
        Protocol::JaegerUdpBinary,
    ] {
        let encoded = encode(protocol, &spans);
        assert_eq!(encoded.oversized, 0, "{protocol}");
        let counted: u64 = encoded.parts.iter().map(|(_, n)| n).sum();
        assert_eq!(counted, 3_000, "{protocol}");
        let decoded: usize = encoded.parts.iter().map(|(b, _)| decode(protocol, b)).sum();
        assert_eq!(decoded, 3_000, "{protocol}");
        for (body, n) in &encoded.parts {
            assert_eq!(decode(protocol, body) as u64, *n, "{protocol}");
            if protocol.is_udp() {
                assert!(
                    body.len() <= MAX_DATAGRAM_BYTES,
                    "{protocol}: {}",
                    body.len()
                );
            }
        }
        if protocol.is_udp() {
            assert!(
                encoded.parts.len() > 1,
                "a large trace needs many datagrams"
            );
        }
    }
}

#[test]
fn a_span_too_large_for_a_datagram_is_counted_not_sent() {
    let mut spans = sample_spans();
    spans.truncate(3);
    spans[1]
        .span
        .attributes
        .push(spoor_model::KeyValue::str("huge", "x".repeat(70_000)));
    let encoded = encode(Protocol::JaegerUdpCompact, &spans);
    assert_eq!(encoded.oversized, 1);
    let counted: u64 = encoded.parts.iter().map(|(_, n)| n).sum();
    assert_eq!(counted, 2);
}
