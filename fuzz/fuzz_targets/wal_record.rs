//! The storage engine's WAL record payload decoder: never panics on any
//! bytes (a corrupt record must be an error; replay skips it), and
//! whatever decodes re-encodes to a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_engine::record;

fuzz_target!(|data: &[u8]| {
    let _ = record::decode_value(data);
    let Ok(batch) = record::decode_batch(data) else {
        return;
    };
    let mut first = Vec::new();
    record::encode_batch(&batch, &mut first);
    let again = match record::decode_batch(&first) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded batch does not decode: {e}"),
    };
    assert_eq!(batch.len(), again.len());
    let mut second = Vec::new();
    record::encode_batch(&again, &mut second);
    assert!(first == second, "encoding is not a fixed point");
});
