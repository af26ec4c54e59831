//! Jaeger Thrift over HTTP 14268 (a bare binary-protocol `Batch`): never
//! panics, and what reads re-encodes to a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_codec::jaeger_thrift as jt;

fuzz_target!(|data: &[u8]| {
    let _ = jt::decode_batch_binary(data);
    let Ok(batch) = jt::read_batch_binary(data) else {
        return;
    };
    let first = jt::encode_batch_binary(&batch);
    let again = match jt::read_batch_binary(&first) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded batch does not read: {e}"),
    };
    let second = jt::encode_batch_binary(&again);
    assert!(first == second, "encoding is not a fixed point");
});
