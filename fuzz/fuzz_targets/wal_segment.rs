//! The storage engine's WAL segment scanner (replay, `spoor fsck`): never
//! panics on any bytes; damaged ranges and valid records tile the segment in
//! order without overlapping; and a clean segment built from the records it
//! found, with a damaged range spliced in, gives back exactly those records
//! (resynchronisation never loses a valid record after damage).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_engine::wal;

fuzz_target!(|data: &[u8]| {
    let mut payloads = Vec::new();
    let scan = wal::scan_segment(data, |range, _| payloads.push(range));
    if scan.unfinished {
        assert!(payloads.is_empty() && scan.damage.is_empty());
        return;
    }
    assert_eq!(scan.records as usize, payloads.len());
    let mut last = 0u64;
    for d in &scan.damage {
        assert!(d.start < d.end && d.end <= data.len() as u64, "{d:?}");
        assert!(d.start >= last, "damage out of order");
        last = d.end;
    }
    for r in &payloads {
        assert!(r.start < r.end && r.end <= data.len());
        for d in &scan.damage {
            assert!(r.end as u64 <= d.start || r.start as u64 >= d.end, "a record inside damage");
        }
    }

    // Rebuild a clean segment of the same records, put garbage from the
    // input between the first and the rest, and scan again: every record
    // must come back, in order.
    if payloads.is_empty() {
        return;
    }
    let records: Vec<&[u8]> = payloads.iter().map(|r| &data[r.clone()]).collect();
    let clean = wal::encode_segment(&records);
    let mut again = 0;
    let rescan = wal::scan_segment(&clean, |_, _| again += 1);
    assert_eq!(again, records.len());
    assert!(rescan.is_clean(), "{rescan:?}");
    // Splice garbage (the input's first bytes) after the first record.
    let first_end = wal::HEADER_LEN + wal::FRAME_LEN + records[0].len();
    let garbage = &data[..data.len().min(64)];
    let mut spliced = clean[..first_end].to_vec();
    spliced.extend_from_slice(garbage);
    // Re-seal the later records at their new offsets.
    let mut at = first_end;
    for r in &records[1..] {
        let start = spliced.len();
        spliced.extend_from_slice(&clean[at..at + wal::FRAME_LEN + r.len()]);
        wal::seal_frame(&mut spliced[start..], start as u64);
        at += wal::FRAME_LEN + r.len();
    }
    let mut found = Vec::new();
    let _ = wal::scan_segment(&spliced, |range, _| found.push(spliced[range].to_vec()));
    // The garbage may itself hold a record; the real ones all come back.
    let mut want = records.iter();
    let mut next = want.next();
    for f in &found {
        if next.is_some_and(|w| *w == f.as_slice()) {
            next = want.next();
        }
    }
    assert!(next.is_none(), "a valid record after damage was lost");
});
