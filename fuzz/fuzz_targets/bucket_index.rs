//! The bucket index reader (`spoor-bucket-index.json.gz`, read by every
//! querier from the shared store): never panics on any bytes, raw or
//! gzipped (so that they reach the JSON and meta.json checks).
#![no_main]

use std::io::Write as _;

use libfuzzer_sys::fuzz_target;
use spoor_engine::bucket_index;

fuzz_target!(|data: &[u8]| {
    let _ = bucket_index::decode(data);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if gz.write_all(data).is_ok()
        && let Ok(bytes) = gz.finish()
    {
        let _ = bucket_index::decode(&bytes);
    }
});
