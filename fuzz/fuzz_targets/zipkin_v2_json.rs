//! Zipkin v2 JSON decoding: never panics, and whatever decodes re-encodes as
//! Zipkin v2 JSON that decodes again to the same spans (IDs, names, kinds,
//! event counts).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_codec::zipkin;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = zipkin::decode_v2_json(data) else {
        return;
    };
    let json = zipkin::encode_v2_json(&batch.spans);
    let again = match zipkin::decode_v2_json(&json) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded batch does not decode: {e}"),
    };
    assert_eq!(batch.len(), again.len());
    for (a, b) in batch.spans.iter().zip(&again.spans) {
        assert_eq!(a.span.trace_id, b.span.trace_id);
        assert_eq!(a.span.span_id, b.span.span_id);
        assert_eq!(a.span.parent_span_id, b.span.parent_span_id);
        assert_eq!(a.span.name, b.span.name);
        assert_eq!(a.span.kind, b.span.kind);
        assert_eq!(a.span.events.len(), b.span.events.len());
    }
});
