//! The engine's per-block RED statistics decoder (`red.bin`): never panics
//! on any body (the fuzzer's bytes are framed with a valid header and
//! checksum so they reach the parser), and whatever decodes re-encodes to
//! bytes that decode to the same rows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_engine::block::red;

fuzz_target!(|data: &[u8]| {
    // Unframed bytes: a header or checksum error, never a panic.
    let _ = red::decode(data, None);
    let mut framed = Vec::with_capacity(16 + data.len());
    framed.extend_from_slice(b"SPOORRED");
    framed.extend_from_slice(&red::RED_VERSION.to_le_bytes());
    framed.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    framed.extend_from_slice(data);
    let Ok(rows) = red::decode(&framed, None) else {
        return;
    };
    let again = match red::decode(&red::encode_rows(&rows), None) {
        Ok(r) => r,
        Err(e) => panic!("re-encoded statistics do not decode: {e}"),
    };
    assert_eq!(rows.len(), again.len());
});
