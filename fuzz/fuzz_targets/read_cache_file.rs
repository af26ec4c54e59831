//! The read cache's disk tier reads files back from a disk that may have
//! damaged them: any bytes are refused or returned only when they are a
//! whole, checked entry of the range asked for, never a panic; and what it
//! writes reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_engine::disk_cache::{file_bytes, read_file};

fuzz_target!(|data: &[u8]| {
    let path = "1796000000000000000-1-c1/spans.parquet";
    let range = 0..data.len() as u64;
    // Arbitrary bytes as a cache file: refused, or exactly `range`'s length.
    if let Some(bytes) = read_file(path, &range, data) {
        assert_eq!(bytes.len() as u64, range.end - range.start);
    }
    // A written entry reads back whole, and not for another range.
    let file = file_bytes(path, &range, data);
    assert_eq!(read_file(path, &range, &file).as_deref(), Some(data));
    assert!(read_file(path, &(1..data.len() as u64 + 1), &file).is_none());
});
