//! Jaeger `emitBatch` over UDP 6831 (Thrift compact): never panics; what
//! reads re-encodes to a fixed point; what maps to the model survives the
//! model → Thrift → model trip with its span count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_codec::jaeger_thrift as jt;

fuzz_target!(|data: &[u8]| {
    let _ = jt::decode_emit_batch_compact(data);
    let Ok(batch) = jt::read_emit_batch_compact(data) else {
        return;
    };
    let first = jt::encode_emit_batch_compact(&batch);
    let again = match jt::read_emit_batch_compact(&first) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded batch does not read: {e}"),
    };
    let second = jt::encode_emit_batch_compact(&again);
    assert!(first == second, "encoding is not a fixed point");
    if let Ok(model) = jt::decode_emit_batch_compact(data) {
        let mut count = 0;
        for body in jt::encode_spans_binary(&model.spans) {
            match jt::decode_batch_binary(&body) {
                Ok(b) => count += b.len(),
                Err(e) => panic!("model spans re-encoded as Thrift do not decode: {e}"),
            }
        }
        assert_eq!(count, model.len());
    }
});
