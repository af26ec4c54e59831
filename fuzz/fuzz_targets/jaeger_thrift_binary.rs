//! Jaeger `emitBatch` over UDP 6832 (Thrift binary): never panics, and what
//! reads re-encodes to a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_codec::jaeger_thrift as jt;

fuzz_target!(|data: &[u8]| {
    let _ = jt::decode_emit_batch_binary(data);
    let Ok(batch) = jt::read_emit_batch_binary(data) else {
        return;
    };
    let first = jt::encode_emit_batch_binary(&batch);
    let again = match jt::read_emit_batch_binary(&first) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded batch does not read: {e}"),
    };
    let second = jt::encode_emit_batch_binary(&again);
    assert!(first == second, "encoding is not a fixed point");
});
