//! Jaeger api_v2 `PostSpansRequest` (gRPC 14250): never panics, and what
//! decodes re-encodes into a request that decodes to as many spans.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_codec::jaeger_proto as jp;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = jp::decode_post_spans(data) else {
        return;
    };
    let bytes = jp::encode_post_spans(&batch.spans);
    let again = match jp::decode_post_spans(&bytes) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded request does not decode: {e}"),
    };
    assert_eq!(batch.len(), again.len());
});
