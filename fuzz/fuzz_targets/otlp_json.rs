//! OTLP/JSON decoding: never panics; whatever decodes re-encodes to a fixed
//! point, and survives a trip through protobuf unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_codec::{otlp, otlp_json};

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = otlp_json::decode(data) else {
        return;
    };
    let first = otlp_json::encode_to_vec(&batch.spans);
    let again = match otlp_json::decode(&first) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded batch does not decode: {e}"),
    };
    assert_eq!(batch.len(), again.len());
    let second = otlp_json::encode_to_vec(&again.spans);
    assert!(first == second, "JSON encoding is not a fixed point");

    // Both wire formats carry the same information.
    let via_protobuf = match otlp::decode_request(&otlp::encode_request(&again.spans)) {
        Ok(b) => b,
        Err(e) => panic!("protobuf form of a JSON batch does not decode: {e}"),
    };
    assert!(
        otlp_json::encode_to_vec(&via_protobuf.spans) == second,
        "protobuf round trip changed the batch"
    );
});
