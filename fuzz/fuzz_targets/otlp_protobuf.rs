//! OTLP protobuf decoding: never panics, and whatever decodes re-encodes to a
//! fixed point (encode → decode → encode gives the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_codec::otlp;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = otlp::decode_request(data) else {
        return;
    };
    let first = otlp::encode_request(&batch.spans);
    let again = match otlp::decode_request(&first) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded batch does not decode: {e}"),
    };
    assert_eq!(batch.len(), again.len());
    let second = otlp::encode_request(&again.spans);
    assert!(first == second, "encoding is not a fixed point");
});
