//! The write-ahead log: every accepted batch is appended here and fsynced
//! before its sender is acknowledged.
//!
//! # Files
//!
//! The log is a directory of segments named `<seq>.wal` (`seq` a 20-digit,
//! zero-padded, increasing number). A segment is a 16-byte header followed by
//! records. This build writes version 2 and reads versions 1 and 2:
//!
//! ```text
//! header    := magic "SPOORWAL" | version:u32le | crc32(magic ‖ version):u32le
//! record v2 := magic "SWRC" | length:u32le | crc32(payload):u32le
//!              | crc32(magic ‖ length ‖ payload crc ‖ offset:u64le):u32le | payload[length]
//! record v1 := length:u32le | crc32(length ‖ payload):u32le | payload[length]
//! payload   := type:u8 (1 = span batch) | body (see `record.rs`, itself versioned)
//! ```
//!
//! Version 2's record magic and frame checksum (which also covers the
//! record's own file offset) let replay find the next record after damage
//! without trusting anything the damage may have changed; see "Replay".
//!
//! # Writing: group commit
//!
//! One writer thread owns the open segment. Callers send it an already
//! framed record; the thread takes every request waiting in its queue (up to
//! a byte budget) as one group, seals each record's frame with its offset,
//! writes the group with one `write`, calls `sync_data` once, hands the
//! group's batches to the head, and only then acknowledges each caller. A
//! segment that grows past its size limit is sealed and a new one is started.
//!
//! A failed write (a full disk, a quota, an I/O error) fails the whole group
//! with [`EngineError::Unwritable`], cuts the partial bytes off again (or, if
//! that fails too, or the fsync failed, abandons the segment and starts a new
//! one at the next write), and marks the engine unwritable. The next write,
//! or the background probe ([`Request::Probe`]), tries again: writes resume
//! by themselves once space returns.
//!
//! # Replay
//!
//! On open, every segment is read in order ([`scan_segment`]). A record that
//! is cut short, fails a checksum or does not decode is skipped: reading
//! resynchronises on the next valid record (for version 2 the next position
//! holding the record magic and a valid frame checksum whose record is
//! valid; when the damaged record's own frame is intact, its extent is
//! skipped exactly, so nothing inside it is ever taken for a record). The
//! damaged bytes are copied to `<data_dir>/quarantine/wal-<seq>-<offset>.bin`,
//! logged and counted; the segment itself is left as it is, except a damaged
//! tail of the newest segment (the torn write of a crash), which is cut off
//! once its bytes are safely set aside. A segment whose header is damaged is
//! scanned for records the same way. A file shorter than a header holding a
//! prefix of the header (a crash right after the file was created) is
//! removed. Nothing in replay is fatal except failing to read a file at all.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use spoor_model::SpanBatch;
use tokio::sync::{mpsc, oneshot};

use crate::EngineError;
use crate::record::{BATCH_VERSION, RecordError, decode_batch, encode_batch};
use crate::stats::Stats;

/// Segment file magic.
pub const SEGMENT_MAGIC: &[u8; 8] = b"SPOORWAL";
/// The segment format version this build writes.
pub const SEGMENT_VERSION: u32 = 2;
/// The oldest segment format version this build reads.
pub const SEGMENT_VERSION_V1: u32 = 1;
/// Size of a segment header.
pub const HEADER_LEN: usize = 16;
/// Magic that starts every version 2 record.
pub const RECORD_MAGIC: &[u8; 4] = b"SWRC";
/// Size of a version 2 record's frame (magic, length, payload CRC, frame CRC).
pub const FRAME_LEN: usize = 16;
/// Size of a version 1 record's frame (length and CRC).
pub const FRAME_LEN_V1: usize = 8;
/// Largest record payload accepted (on write and on replay).
pub const MAX_RECORD_BYTES: usize = 1 << 30;
/// Payload type of a span batch.
pub const RECORD_SPAN_BATCH: u8 = 1;

/// Name of the folder (under the data directory) holding damaged bytes set aside.
pub const QUARANTINE_DIR: &str = "quarantine";

/// Capacity the group-commit buffer keeps between groups.
const RETAINED_GROUP_BUFFER: usize = 256 << 10;

fn header_for(version: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&version.to_le_bytes());
    let crc = crc32fast::hash(&h[..12]);
    h[12..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The header of a segment written by this build.
pub fn header() -> [u8; HEADER_LEN] {
    header_for(SEGMENT_VERSION)
}

/// The path of segment `seq` in `dir`.
pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn frame_crc(frame12: &[u8], offset: u64) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(frame12);
    h.update(&offset.to_le_bytes());
    h.finalize()
}

/// Frames a span batch as one version 2 WAL record. The frame checksum is
/// left for [`seal_frame`], which needs the record's offset in its segment.
pub fn frame_batch(batch: &SpanBatch) -> Vec<u8> {
    let mut out = vec![0u8; FRAME_LEN];
    out.push(RECORD_SPAN_BATCH);
    encode_batch(batch, &mut out);
    frame_payload_in_place(&mut out);
    out
}

/// Fills magic, length and payload CRC of a record whose payload follows
/// `FRAME_LEN` reserved bytes.
fn frame_payload_in_place(out: &mut [u8]) {
    let len = (out.len() - FRAME_LEN) as u32;
    let crc = crc32fast::hash(&out[FRAME_LEN..]);
    out[..4].copy_from_slice(RECORD_MAGIC);
    out[4..8].copy_from_slice(&len.to_le_bytes());
    out[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// Writes the frame checksum of a version 2 record that will start at
/// `offset` in its segment.
pub fn seal_frame(record: &mut [u8], offset: u64) {
    if record.len() < FRAME_LEN {
        return;
    }
    let crc = frame_crc(&record[..12], offset);
    record[12..16].copy_from_slice(&crc.to_le_bytes());
}

/// Segments in `dir`, sorted by sequence number.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, EngineError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| EngineError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io("list", dir, e))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".wal") else {
            continue;
        };
        if let Ok(seq) = stem.parse::<u64>() {
            out.push((seq, path));
        }
    }
    out.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(out)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| EngineError::io("fsync directory", dir, e))
}

// ------------------------------------------------------------------ scanning

/// The record framing of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Version 1: length and CRC.
    V1,
    /// Version 2: magic, length, payload CRC and an offset-bound frame CRC.
    V2,
}

/// A damaged byte range of a segment: no valid record starts in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// First damaged byte (file offset).
    pub start: u64,
    /// One past the last damaged byte.
    pub end: u64,
    /// What was wrong at `start`.
    pub reason: String,
}

impl Damage {
    /// Bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the range is empty (never, for reported damage).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// What reading one segment found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentScan {
    /// The file's length.
    pub len: u64,
    /// The framing its records use (`None` when nothing was readable).
    pub framing: Option<Framing>,
    /// The header is damaged (records were found by scanning the body).
    pub header_damaged: bool,
    /// The file is shorter than a header and holds a prefix of one: created
    /// but never written (a crash right after rotation).
    pub unfinished: bool,
    /// Valid records.
    pub records: u64,
    /// Spans in those records.
    pub spans: u64,
    /// Damaged ranges, in file order, none adjacent to another.
    pub damage: Vec<Damage>,
}

impl SegmentScan {
    /// Damaged bytes in all.
    pub fn damaged_bytes(&self) -> u64 {
        self.damage.iter().map(Damage::len).sum()
    }

    /// Whether the segment holds nothing damaged.
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty() && !self.header_damaged
    }
}

enum Probe {
    Valid {
        end: usize,
        batch: SpanBatch,
    },
    /// Not a valid record; `extent` is where it ends when its frame can be
    /// trusted that far.
    Bad {
        extent: Option<usize>,
        reason: String,
    },
}

fn decode_payload(payload: &[u8]) -> Result<SpanBatch, RecordError> {
    match payload.split_first() {
        Some((&RECORD_SPAN_BATCH, body)) => decode_batch(body),
        Some((&other, _)) => Err(RecordError::UnknownTag { tag: other, at: 0 }),
        None => Err(RecordError::Truncated(0)),
    }
}

/// Whether a version 2 record frame starts at `pos` (magic and frame CRC).
fn frame_ok_v2(bytes: &[u8], pos: usize) -> bool {
    bytes.len() - pos >= FRAME_LEN
        && &bytes[pos..pos + 4] == RECORD_MAGIC
        && frame_crc(&bytes[pos..pos + 12], pos as u64) == u32_at(bytes, pos + 12)
}

fn probe(bytes: &[u8], pos: usize, framing: Framing) -> Probe {
    let rest = bytes.len() - pos;
    let bad = |extent, reason: String| Probe::Bad { extent, reason };
    let (frame, len) = match framing {
        Framing::V2 => {
            if rest < FRAME_LEN {
                return bad(None, "a record frame is cut short".into());
            }
            if &bytes[pos..pos + 4] != RECORD_MAGIC {
                return bad(None, "no record magic where a record should start".into());
            }
            if !frame_ok_v2(bytes, pos) {
                return bad(None, "a record frame fails its checksum".into());
            }
            (FRAME_LEN, u32_at(bytes, pos + 4) as usize)
        }
        Framing::V1 => {
            if rest < FRAME_LEN_V1 {
                return bad(None, "a record frame is cut short".into());
            }
            (FRAME_LEN_V1, u32_at(bytes, pos) as usize)
        }
    };
    if len > MAX_RECORD_BYTES || len > rest - frame {
        return bad(
            None,
            format!("a record claims {len} bytes, more than are left"),
        );
    }
    let end = pos + frame + len;
    let payload = &bytes[pos + frame..end];
    let crc_ok = match framing {
        Framing::V2 => crc32fast::hash(payload) == u32_at(bytes, pos + 8),
        Framing::V1 => {
            let mut h = crc32fast::Hasher::new();
            h.update(&bytes[pos..pos + 4]);
            h.update(payload);
            h.finalize() == u32_at(bytes, pos + 4)
        }
    };
    if !crc_ok {
        return bad(Some(end), "a record fails its checksum".into());
    }
    match decode_payload(payload) {
        Ok(batch) => Probe::Valid { end, batch },
        Err(e) => bad(Some(end), format!("a record does not decode: {e}")),
    }
}

/// The first position at or after `from` where a valid record starts.
/// For version 1 (no record magic) candidates are filtered by length and the
/// payload's first two bytes, and the bytes checksummed are limited by
/// `budget`; `None` when nothing (or nothing within the budget) was found.
fn resync(bytes: &[u8], from: usize, framing: Framing, budget: &mut u64) -> Option<usize> {
    let n = bytes.len();
    match framing {
        Framing::V2 => {
            let mut q = from;
            while q + FRAME_LEN <= n {
                if bytes[q] == RECORD_MAGIC[0]
                    && frame_ok_v2(bytes, q)
                    && matches!(probe(bytes, q, framing), Probe::Valid { .. })
                {
                    return Some(q);
                }
                q += 1;
            }
            None
        }
        Framing::V1 => {
            let mut q = from;
            while q + FRAME_LEN_V1 + 2 <= n {
                let len = u32_at(bytes, q) as usize;
                if (2..=MAX_RECORD_BYTES).contains(&len)
                    && len <= n - q - FRAME_LEN_V1
                    && bytes[q + FRAME_LEN_V1] == RECORD_SPAN_BATCH
                    && bytes[q + FRAME_LEN_V1 + 1] == BATCH_VERSION
                {
                    if *budget < len as u64 {
                        return None;
                    }
                    *budget -= len as u64;
                    if matches!(probe(bytes, q, framing), Probe::Valid { .. }) {
                        return Some(q);
                    }
                }
                q += 1;
            }
            None
        }
    }
}

/// Reads one segment's bytes: calls `apply(payload, batch)` for every valid
/// record, in order (`payload` is the record payload's range in `bytes`), skipping damaged ranges (see the module
/// documentation). Never fails and never panics.
pub fn scan_segment(
    bytes: &[u8],
    mut apply: impl FnMut(std::ops::Range<usize>, SpanBatch),
) -> SegmentScan {
    let n = bytes.len();
    let mut scan = SegmentScan {
        len: n as u64,
        ..SegmentScan::default()
    };
    if n < HEADER_LEN
        && (header_for(SEGMENT_VERSION).starts_with(bytes)
            || header_for(SEGMENT_VERSION_V1).starts_with(bytes))
    {
        scan.unfinished = true;
        return scan;
    }
    // Resynchronising on version 1 records checksums candidates; bound the work.
    let mut budget = 4 * n as u64 + (1 << 20);
    let start = if n >= HEADER_LEN && bytes[..HEADER_LEN] == header_for(SEGMENT_VERSION) {
        scan.framing = Some(Framing::V2);
        HEADER_LEN
    } else if n >= HEADER_LEN && bytes[..HEADER_LEN] == header_for(SEGMENT_VERSION_V1) {
        scan.framing = Some(Framing::V1);
        HEADER_LEN
    } else {
        scan.header_damaged = true;
        let found = resync(bytes, 0, Framing::V2, &mut budget)
            .map(|q| (q, Framing::V2))
            .or_else(|| resync(bytes, 0, Framing::V1, &mut budget).map(|q| (q, Framing::V1)));
        match found {
            Some((q, framing)) => {
                scan.framing = Some(framing);
                if q > 0 {
                    scan.damage.push(Damage {
                        start: 0,
                        end: q as u64,
                        reason: "the segment header is damaged".into(),
                    });
                }
                q
            }
            None => {
                scan.damage.push(Damage {
                    start: 0,
                    end: n as u64,
                    reason: "the segment header is damaged and no valid record was found".into(),
                });
                return scan;
            }
        }
    };
    let Some(framing) = scan.framing else {
        return scan;
    };
    let mut pos = start;
    while pos < n {
        match probe(bytes, pos, framing) {
            Probe::Valid { end, batch } => {
                let frame = if framing == Framing::V2 {
                    FRAME_LEN
                } else {
                    FRAME_LEN_V1
                };
                scan.records += 1;
                scan.spans += batch.len() as u64;
                apply(pos + frame..end, batch);
                pos = end;
            }
            Probe::Bad { extent, reason } => {
                let next = match (framing, extent) {
                    (_, Some(e)) if e >= n => None,
                    // The frame checksum vouches for the extent: resume after it.
                    (Framing::V2, Some(e)) => resync(bytes, e, framing, &mut budget),
                    (Framing::V1, Some(e))
                        if matches!(probe(bytes, e, framing), Probe::Valid { .. }) =>
                    {
                        Some(e)
                    }
                    _ => resync(bytes, pos + 1, framing, &mut budget),
                };
                let end = next.unwrap_or(n);
                match scan.damage.last_mut() {
                    Some(last) if last.end == pos as u64 => last.end = end as u64,
                    _ => scan.damage.push(Damage {
                        start: pos as u64,
                        end: end as u64,
                        reason,
                    }),
                }
                pos = end;
            }
        }
    }
    scan
}

// ------------------------------------------------------------------ quarantine

/// Copies `bytes` to `<quarantine>/<name>` (fsynced, with the folder) unless
/// a file of that name and size is already there. Returns the path and
/// whether a new file was written.
pub(crate) fn quarantine_bytes(
    quarantine: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(PathBuf, bool), EngineError> {
    let path = quarantine.join(name);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
        return Ok((path, false));
    }
    std::fs::create_dir_all(quarantine).map_err(|e| EngineError::io("create", quarantine, e))?;
    let tmp = quarantine.join(format!("{name}.tmp"));
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(EngineError::io("write", &tmp, e));
    }
    std::fs::rename(&tmp, &path).map_err(|e| EngineError::io("rename", &tmp, e))?;
    sync_dir(quarantine)?;
    Ok((path, true))
}

/// The quarantine file name of damaged bytes of segment `seq` at `offset`.
pub fn quarantine_name(seq: u64, offset: u64) -> String {
    format!("wal-{seq:020}-{offset}.bin")
}

// ------------------------------------------------------------------ replay

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Segments read.
    pub segments: u64,
    /// Records (batches) replayed.
    pub records: u64,
    /// Spans replayed.
    pub spans: u64,
    /// Segments whose torn tail was cut off.
    pub truncated_segments: u64,
    /// Bytes cut off (and set aside in the quarantine folder).
    pub truncated_bytes: u64,
    /// Damaged ranges skipped (set aside in the quarantine folder).
    pub damaged_ranges: u64,
    /// Bytes in those ranges.
    pub skipped_bytes: u64,
    /// Segments whose header was damaged (their records were found by scanning).
    pub damaged_headers: u64,
    /// The highest segment sequence number seen (0 when none).
    pub last_seq: u64,
}

/// Replays every segment in `dir` in order, calling `apply(seq, batch)` for
/// each record, and setting damaged bytes aside in `quarantine` (see the
/// module documentation).
pub fn replay(
    dir: &Path,
    quarantine: &Path,
    stats: &Stats,
    mut apply: impl FnMut(u64, SpanBatch),
) -> Result<ReplayReport, EngineError> {
    let mut report = ReplayReport::default();
    let segments = list_segments(dir)?;
    let newest = segments.last().map(|(seq, _)| *seq);
    for (seq, path) in segments {
        replay_segment(
            seq,
            &path,
            Some(seq) == newest,
            quarantine,
            stats,
            &mut report,
            |batch| apply(seq, batch),
        )?;
    }
    Ok(report)
}

/// Replays one segment, calling `apply` for each record, setting damaged
/// bytes aside in `quarantine`, cutting off a damaged tail when the segment
/// is the `newest`, and adding what it found to `report`.
pub fn replay_segment(
    seq: u64,
    path: &Path,
    newest: bool,
    quarantine: &Path,
    stats: &Stats,
    report: &mut ReplayReport,
    mut apply: impl FnMut(SpanBatch),
) -> Result<(), EngineError> {
    report.last_seq = report.last_seq.max(seq);
    let bytes = std::fs::read(path).map_err(|e| EngineError::io("read", path, e))?;
    let scan = scan_segment(&bytes, |_, batch| apply(batch));
    if scan.unfinished {
        // Created but never written: a crash right after rotation.
        tracing::warn!(segment = %path.display(), bytes = bytes.len(), "removing an unfinished WAL segment");
        std::fs::remove_file(path).map_err(|e| EngineError::io("remove", path, e))?;
        return Ok(());
    }
    report.segments += 1;
    report.records += scan.records;
    report.spans += scan.spans;
    stats
        .wal_replayed_records
        .fetch_add(scan.records, Ordering::Relaxed);
    if scan.header_damaged {
        report.damaged_headers += 1;
        stats.wal_damaged_headers.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            segment = %path.display(),
            records_recovered = scan.records,
            spans_recovered = scan.spans,
            "WAL segment header is damaged; recovered its records by scanning"
        );
    }
    let last = scan.damage.len().saturating_sub(1);
    for (i, d) in scan.damage.iter().enumerate() {
        let range = &bytes[d.start as usize..d.end as usize];
        let name = quarantine_name(seq, d.start);
        let saved = match quarantine_bytes(quarantine, &name, range) {
            Ok((aside, new)) => {
                if new {
                    stats.quarantined_files.fetch_add(1, Ordering::Relaxed);
                }
                Some(aside)
            }
            Err(e) => {
                stats.quarantine_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(segment = %path.display(), offset = d.start, bytes = d.len(), error = %e, "cannot set damaged WAL bytes aside; leaving them in place");
                None
            }
        };
        let torn = newest && i == last && d.end == scan.len && !scan.header_damaged;
        if torn && let Some(aside) = &saved {
            tracing::warn!(
                segment = %path.display(),
                offset = d.start,
                truncated_bytes = d.len(),
                reason = %d.reason,
                saved_to = %aside.display(),
                "WAL segment has a torn tail; truncating it"
            );
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| EngineError::io("open", path, e))?;
            file.set_len(d.start)
                .and_then(|()| file.sync_all())
                .map_err(|e| EngineError::io("truncate", path, e))?;
            report.truncated_segments += 1;
            report.truncated_bytes += d.len();
            stats.wal_truncations.fetch_add(1, Ordering::Relaxed);
            stats
                .wal_truncated_bytes
                .fetch_add(d.len(), Ordering::Relaxed);
        } else {
            tracing::error!(
                segment = %path.display(),
                offset = d.start,
                skipped_bytes = d.len(),
                reason = %d.reason,
                saved_to = %saved.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                "skipped damaged bytes in a WAL segment"
            );
            report.damaged_ranges += 1;
            report.skipped_bytes += d.len();
            stats.wal_damaged_ranges.fetch_add(1, Ordering::Relaxed);
            stats
                .wal_skipped_bytes
                .fetch_add(d.len(), Ordering::Relaxed);
        }
    }
    Ok(())
}

/// The bytes of a clean version 2 segment holding `payloads` (record
/// payloads, in order).
pub fn encode_segment(payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = header().to_vec();
    for payload in payloads {
        let at = out.len();
        out.resize(at + FRAME_LEN, 0);
        out.extend_from_slice(payload);
        frame_payload_in_place(&mut out[at..]);
        seal_frame(&mut out[at..], at as u64);
    }
    out
}

/// Writes a clean version 2 segment holding `payloads` (record payloads, in
/// order) to `path` (fsynced).
pub fn write_segment_file(path: &Path, payloads: &[&[u8]]) -> Result<(), EngineError> {
    let out = encode_segment(payloads);
    let written = File::create(path).and_then(|mut f| {
        f.write_all(&out)?;
        f.sync_all()
    });
    written.map_err(|e| EngineError::io("write", path, e))
}

/// Deletes every segment with a sequence number at most `max_seq`.
pub fn delete_segments_through(dir: &Path, max_seq: u64) -> Result<usize, EngineError> {
    delete_segments_counted(dir, max_seq).map(|(removed, _)| removed)
}

/// [`delete_segments_through`], also returning the bytes the deleted
/// segments held (sealed segments: their size no longer changes).
pub(crate) fn delete_segments_counted(
    dir: &Path,
    max_seq: u64,
) -> Result<(usize, u64), EngineError> {
    let mut removed = 0;
    let mut bytes = 0;
    for (seq, path) in list_segments(dir)? {
        if seq > max_seq {
            break;
        }
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        std::fs::remove_file(&path).map_err(|e| EngineError::io("remove", &path, e))?;
        removed += 1;
        bytes += len;
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok((removed, bytes))
}

/// The bytes of every segment in `dir`.
pub(crate) fn segments_bytes(dir: &Path) -> Result<u64, EngineError> {
    let mut bytes = 0;
    for (_, path) in list_segments(dir)? {
        bytes += std::fs::metadata(&path)
            .map_err(|e| EngineError::io("read the size of", &path, e))?
            .len();
    }
    Ok(bytes)
}

// ------------------------------------------------------------------ writing

/// The open segment.
struct Segment {
    seq: u64,
    path: PathBuf,
    file: File,
    len: u64,
}

impl Segment {
    fn create(dir: &Path, seq: u64) -> Result<Segment, EngineError> {
        let path = segment_path(dir, seq);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| EngineError::io("create", &path, e))?;
        let written = file
            .write_all(&header())
            .and_then(|()| file.sync_all())
            .map_err(|e| EngineError::io("write", &path, e))
            .and_then(|()| sync_dir(dir));
        if let Err(e) = written {
            // At most a header prefix: nothing to keep.
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Segment {
            seq,
            path,
            file,
            len: HEADER_LEN as u64,
        })
    }
}

/// Called by the writer thread with each durable group, before acknowledging it.
pub type ApplyFn = Box<dyn FnMut(Vec<SpanBatch>) + Send>;

/// Work for the writer thread.
pub enum Request {
    /// Append one framed record, apply its batch, then acknowledge.
    Append {
        record: Vec<u8>,
        batch: SpanBatch,
        ack: oneshot::Sender<Result<(), EngineError>>,
    },
    /// Seal the open segment and start a new one; then run `then` with the
    /// sequence number of the sealed segment (every record applied so far is
    /// in it or before it) on the writer thread, so no write interleaves.
    Rotate {
        then: Box<dyn FnOnce(u64) + Send>,
        done: oneshot::Sender<Result<u64, EngineError>>,
    },
    /// Delete every segment and start afresh; then run `then` on the writer thread.
    Reset {
        then: Box<dyn FnOnce() + Send>,
        done: oneshot::Sender<Result<(), EngineError>>,
    },
    /// While the log is unwritable: check whether it can write again (open a
    /// segment if none is open, write and fsync a probe file); answers
    /// whether it is writable now.
    Probe { done: oneshot::Sender<bool> },
}

/// Configuration of the writer thread.
pub struct WriterConfig {
    pub dir: PathBuf,
    /// First sequence number to use.
    pub next_seq: u64,
    pub segment_bytes: u64,
    pub group_bytes: usize,
}

/// The WAL writer (runs on its own thread; see [`Writer::run`]).
pub struct Writer {
    config: WriterConfig,
    /// `None` after a failure left no usable segment; the next write opens
    /// segment `next_seq`.
    segment: Option<Segment>,
    next_seq: u64,
    apply: ApplyFn,
    stats: Arc<Stats>,
    buf: Vec<u8>,
}

struct Pending {
    batch: SpanBatch,
    ack: oneshot::Sender<Result<(), EngineError>>,
}

/// Bytes written by the writability probe.
const PROBE_BYTES: usize = 256 << 10;
/// The probe file's name in the WAL folder (not a segment: no `.wal` suffix).
const PROBE_FILE: &str = "write-probe.tmp";

impl Writer {
    /// Opens a new segment at `config.next_seq`. If that fails, the writer
    /// still starts, unwritable, and retries at the next write or probe.
    pub fn new(config: WriterConfig, apply: ApplyFn, stats: Arc<Stats>) -> Self {
        let next_seq = config.next_seq;
        let mut writer = Writer {
            config,
            segment: None,
            next_seq,
            apply,
            stats,
            buf: Vec::new(),
        };
        if let Err(e) = writer.open_segment() {
            tracing::error!(error = %e, "cannot start a WAL segment; writes are refused until it can");
            writer.set_unwritable(&e);
        }
        writer
    }

    /// Serves requests until every sender is gone.
    pub fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let mut next: Option<Request> = None;
        loop {
            let request = match next.take() {
                Some(r) => r,
                None => match rx.blocking_recv() {
                    Some(r) => r,
                    None => break,
                },
            };
            match request {
                Request::Append { record, batch, ack } => {
                    // A group can be megabytes: a buffer keeping its largest
                    // size for good would hold that memory while idle.
                    self.buf.clear();
                    self.buf.shrink_to(RETAINED_GROUP_BUFFER);
                    let mut group = Vec::new();
                    self.push(record, batch, ack, &mut group);
                    while self.buf.len() < self.config.group_bytes {
                        match rx.try_recv() {
                            Ok(Request::Append { record, batch, ack }) => {
                                self.push(record, batch, ack, &mut group);
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit(group);
                }
                Request::Rotate { then, done } => {
                    let sealed = self.rotate();
                    then(sealed);
                    let _ = done.send(Ok(sealed));
                }
                Request::Reset { then, done } => {
                    let result = self.reset().map(|()| then());
                    let _ = done.send(result);
                }
                Request::Probe { done } => {
                    let _ = done.send(self.probe());
                }
            }
        }
        tracing::debug!(next_seq = self.next_seq, "WAL writer stopped");
    }

    /// Adds a record to the group buffer, sealing its frame with the offset
    /// it will have (assuming the open segment, or a fresh one).
    fn push(
        &mut self,
        mut record: Vec<u8>,
        batch: SpanBatch,
        ack: oneshot::Sender<Result<(), EngineError>>,
        group: &mut Vec<Pending>,
    ) {
        let base = self.segment.as_ref().map_or(HEADER_LEN as u64, |s| s.len);
        seal_frame(&mut record, base + self.buf.len() as u64);
        self.buf.extend_from_slice(&record);
        group.push(Pending { batch, ack });
    }

    fn set_unwritable(&self, e: &EngineError) {
        let mut state = self.stats.unwritable.lock();
        if state.is_none() {
            self.stats
                .unwritable_episodes
                .fetch_add(1, Ordering::Relaxed);
        }
        *state = Some(e.to_string());
    }

    fn set_writable(&self) {
        let mut state = self.stats.unwritable.lock();
        if let Some(why) = state.take() {
            tracing::info!(was = %why, "the write-ahead log can write again");
        }
    }

    fn open_segment(&mut self) -> Result<(), EngineError> {
        let segment = Segment::create(&self.config.dir, self.next_seq)?;
        self.stats
            .wal_disk_bytes
            .fetch_add(segment.len, Ordering::Relaxed);
        self.next_seq = segment.seq + 1;
        self.segment = Some(segment);
        Ok(())
    }

    fn reject(&self, group: Vec<Pending>, e: &EngineError) {
        self.stats.wal_write_errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, spans = group.iter().map(|p| p.batch.len()).sum::<usize>(), "WAL write failed; the group is rejected");
        self.set_unwritable(e);
        let message = e.to_string();
        for p in group {
            let _ = p.ack.send(Err(EngineError::Unwritable(message.clone())));
        }
    }

    fn commit(&mut self, group: Vec<Pending>) {
        // Frames were sealed for a fresh segment's offsets when none is open.
        if self.segment.is_none()
            && let Err(e) = self.open_segment()
        {
            self.reject(group, &e);
            return;
        }
        let Some(segment) = self.segment.as_mut() else {
            return;
        };
        let path = segment.path.clone();
        let before = segment.len;
        let written = segment
            .file
            .write_all(&self.buf)
            .map_err(|e| (false, EngineError::io("write", &path, e)))
            .and_then(|()| {
                segment
                    .file
                    .sync_data()
                    .map_err(|e| (true, EngineError::io("fsync", &path, e)))
            });
        if let Err((fsync_failed, e)) = written {
            // Cut the partial group off so the segment stays a clean run of
            // records. After a failed fsync the file's state is unknown:
            // abandon it (replay reads what it holds) and start afresh.
            // The file position must move back too, or the next write
            // would leave a hole where the partial bytes were.
            let cut = segment
                .file
                .set_len(before)
                .and_then(|()| segment.file.seek(SeekFrom::Start(before)))
                .and_then(|_| segment.file.sync_all());
            if fsync_failed || cut.is_err() {
                tracing::warn!(segment = %path.display(), "abandoning the WAL segment after a failed write");
                self.segment = None;
            }
            self.reject(group, &e);
            return;
        }
        segment.len += self.buf.len() as u64;
        self.stats
            .wal_disk_bytes
            .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        let full = segment.len >= self.config.segment_bytes;
        self.set_writable();
        self.stats.wal_groups.fetch_add(1, Ordering::Relaxed);
        self.stats
            .wal_records
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        self.stats
            .wal_bytes
            .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        let (batches, acks): (Vec<SpanBatch>, Vec<_>) =
            group.into_iter().map(|p| (p.batch, p.ack)).unzip();
        (self.apply)(batches);
        for ack in acks {
            let _ = ack.send(Ok(()));
        }
        if full {
            self.start_next_segment();
        }
    }

    /// Seals the open segment and tries to open the next; returns the sealed
    /// sequence number (every record so far is in it or before it).
    fn start_next_segment(&mut self) -> u64 {
        let sealed = match self.segment.take() {
            Some(s) => s.seq,
            None => self.next_seq.saturating_sub(1),
        };
        match self.open_segment() {
            Ok(()) => {
                self.stats
                    .wal_segments_created
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // Not fatal: the next write opens it.
                tracing::warn!(error = %e, "cannot start a new WAL segment; retrying at the next write");
            }
        }
        sealed
    }

    fn rotate(&mut self) -> u64 {
        self.start_next_segment()
    }

    fn probe(&mut self) -> bool {
        if self.stats.unwritable.lock().is_none() {
            return true;
        }
        let path = self.config.dir.join(PROBE_FILE);
        let result = (|| {
            if self.segment.is_none() {
                self.open_segment()?;
            }
            let written = File::create(&path).and_then(|mut f| {
                f.write_all(&vec![0u8; PROBE_BYTES])?;
                f.sync_all()
            });
            let _ = std::fs::remove_file(&path);
            written.map_err(|e| EngineError::io("write", &path, e))
        })();
        match result {
            Ok(()) => {
                self.set_writable();
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "the write-ahead log still cannot write");
                self.set_unwritable(&e);
                false
            }
        }
    }

    fn reset(&mut self) -> Result<(), EngineError> {
        self.segment = None;
        for (_, path) in list_segments(&self.config.dir)? {
            std::fs::remove_file(&path).map_err(|e| EngineError::io("remove", &path, e))?;
        }
        self.stats.wal_disk_bytes.store(0, Ordering::Relaxed);
        self.open_segment()
    }
}

/// Reads a segment without repairing anything (diagnostics and tests):
/// returns the batches and what scanning found.
pub fn read_segment_file(path: &Path) -> Result<(Vec<SpanBatch>, SegmentScan), EngineError> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io("read", path, e))?;
    let mut batches = Vec::new();
    let scan = scan_segment(&bytes, |_, b| batches.push(b));
    Ok((batches, scan))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;
    use crate::record::tests::rich_batch;

    pub(crate) fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "spoor-engine-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes segment `seq` holding `batches` as version 2 records.
    pub(crate) fn write_records(dir: &Path, seq: u64, batches: &[&SpanBatch]) -> PathBuf {
        let records: Vec<Vec<u8>> = batches.iter().map(|b| frame_batch(b)).collect();
        let payloads: Vec<&[u8]> = records.iter().map(|r| &r[FRAME_LEN..]).collect();
        let path = segment_path(dir, seq);
        write_segment_file(&path, &payloads).unwrap();
        path
    }

    /// Writes segment `seq` in the version 1 format.
    fn write_v1(dir: &Path, seq: u64, batches: &[&SpanBatch]) -> PathBuf {
        let mut bytes = header_for(SEGMENT_VERSION_V1).to_vec();
        for b in batches {
            let mut payload = vec![RECORD_SPAN_BATCH];
            encode_batch(b, &mut payload);
            let len = (payload.len() as u32).to_le_bytes();
            let mut h = crc32fast::Hasher::new();
            h.update(&len);
            h.update(&payload);
            bytes.extend_from_slice(&len);
            bytes.extend_from_slice(&h.finalize().to_le_bytes());
            bytes.extend_from_slice(&payload);
        }
        let path = segment_path(dir, seq);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn replay_all(dir: &Path) -> (ReplayReport, Vec<(u64, SpanBatch)>, Stats) {
        let stats = Stats::default();
        let mut out = Vec::new();
        let report = replay(dir, &dir.join("q"), &stats, |seq, b| out.push((seq, b))).unwrap();
        (report, out, stats)
    }

    fn numbered(n: u64) -> SpanBatch {
        let mut b = rich_batch();
        for r in &mut b.spans {
            r.span.name = format!("span {n}");
        }
        b
    }

    fn names(batches: &[(u64, SpanBatch)]) -> Vec<String> {
        batches
            .iter()
            .map(|(_, b)| b.spans[0].span.name.clone())
            .collect()
    }

    #[test]
    fn records_replay_in_order_across_segments() {
        let dir = temp_dir("wal-order");
        let batch = rich_batch();
        write_records(&dir, 1, &[&batch, &batch]);
        write_records(&dir, 3, &[&batch]);
        let (report, batches, _) = replay_all(&dir);
        assert_eq!(report.segments, 2);
        assert_eq!(report.records, 3);
        assert_eq!(report.spans, 9);
        assert_eq!(report.last_seq, 3);
        assert_eq!(report.truncated_segments, 0);
        assert_eq!(
            batches.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![1, 1, 3]
        );
        assert_eq!(format!("{:?}", batches[2].1), format!("{batch:?}"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn every_torn_tail_is_saved_aside_and_truncated_and_earlier_records_survive() {
        let batch = rich_batch();
        let record_len = frame_batch(&batch).len();
        let full_len = HEADER_LEN + 2 * record_len;
        // Cut the second record at every possible length.
        for keep in 0..record_len {
            let dir = temp_dir("wal-torn");
            let path = write_records(&dir, 7, &[&batch, &batch]);
            let whole = std::fs::read(&path).unwrap();
            std::fs::write(&path, &whole[..full_len - record_len + keep]).unwrap();
            let (report, batches, stats) = replay_all(&dir);
            assert_eq!(batches.len(), 1, "keep {keep}");
            let cut = u64::from(keep > 0);
            assert_eq!(report.truncated_segments, cut, "keep {keep}");
            assert_eq!(report.truncated_bytes, keep as u64);
            assert_eq!((report.damaged_ranges, report.skipped_bytes), (0, 0));
            assert_eq!(stats.quarantined_files.load(Ordering::Relaxed), cut);
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                (full_len - record_len) as u64
            );
            if keep > 0 {
                let aside = dir
                    .join("q")
                    .join(quarantine_name(7, (full_len - record_len) as u64));
                assert_eq!(
                    std::fs::read(aside).unwrap(),
                    &whole[full_len - record_len..full_len - record_len + keep]
                );
            }
            // A second replay finds a clean segment.
            let (report, batches, _) = replay_all(&dir);
            assert_eq!((report.truncated_segments, batches.len()), (0, 1));
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn a_flipped_byte_anywhere_loses_only_the_record_it_hits() {
        let batches: Vec<SpanBatch> = (0..5).map(numbered).collect();
        let refs: Vec<&SpanBatch> = batches.iter().collect();
        let dir = temp_dir("wal-flip");
        let path = write_records(&dir, 1, &refs);
        write_records(&dir, 2, &[&numbered(9)]);
        let clean = std::fs::read(&path).unwrap();
        let record_len = frame_batch(&batches[0]).len();
        // Every byte of the middle record (frame and payload), one at a time.
        let first = HEADER_LEN + 2 * record_len;
        for at in (first..first + record_len)
            .step_by(7)
            .chain([first, first + 4, first + 12])
        {
            let mut bytes = clean.clone();
            bytes[at] ^= 0x5a;
            std::fs::write(&path, &bytes).unwrap();
            let (report, replayed, stats) = replay_all(&dir);
            assert_eq!(
                names(&replayed),
                ["span 0", "span 1", "span 3", "span 4", "span 9"],
                "flip at {at}"
            );
            assert_eq!(report.damaged_ranges, 1, "flip at {at}");
            assert_eq!(report.skipped_bytes, record_len as u64, "flip at {at}");
            assert_eq!(report.truncated_segments, 0);
            assert_eq!(
                stats.wal_skipped_bytes.load(Ordering::Relaxed),
                record_len as u64
            );
            // Set aside, and the segment itself left alone.
            let aside = dir.join("q").join(quarantine_name(1, first as u64));
            assert_eq!(
                std::fs::read(&aside).unwrap(),
                &bytes[first..first + record_len]
            );
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
            std::fs::remove_dir_all(dir.join("q")).unwrap();
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn garbage_between_records_is_skipped() {
        let dir = temp_dir("wal-garbage");
        let path = write_records(&dir, 1, &[&numbered(0)]);
        let mut bytes = std::fs::read(&path).unwrap();
        // Garbage that even holds the record magic, then a valid record at
        // the offset it lands on.
        let garbage = b"SWRC garbage SWRC\0\0\0\0 more";
        bytes.extend_from_slice(garbage);
        let at = bytes.len();
        let mut record = frame_batch(&numbered(1));
        seal_frame(&mut record, at as u64);
        bytes.extend_from_slice(&record);
        std::fs::write(&path, &bytes).unwrap();
        let (report, replayed, _) = replay_all(&dir);
        assert_eq!(names(&replayed), ["span 0", "span 1"]);
        assert_eq!(report.skipped_bytes, garbage.len() as u64);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_record_copied_to_another_offset_is_not_taken() {
        // The frame checksum covers the offset: a valid record embedded at
        // another position (e.g. inside a span attribute) is not a record.
        let mut bytes = header().to_vec();
        let mut record = frame_batch(&numbered(0));
        seal_frame(&mut record, 1000);
        bytes.extend_from_slice(&record);
        let mut n = 0;
        let scan = scan_segment(&bytes, |_, _| n += 1);
        assert_eq!((n, scan.damage.len()), (0, 1));
    }

    #[test]
    fn a_damaged_header_hides_nothing() {
        let batches: Vec<SpanBatch> = (0..3).map(numbered).collect();
        let refs: Vec<&SpanBatch> = batches.iter().collect();
        for (name, damage) in [
            (
                "flip",
                &(|b: &mut Vec<u8>| b[3] ^= 1) as &dyn Fn(&mut Vec<u8>),
            ),
            ("zeroed", &|b: &mut Vec<u8>| b[..HEADER_LEN].fill(0)),
            ("garbage", &|b: &mut Vec<u8>| {
                b[..HEADER_LEN].copy_from_slice(b"not a wal segmen")
            }),
        ] {
            for v1 in [false, true] {
                let dir = temp_dir("wal-header");
                let path = if v1 {
                    write_v1(&dir, 4, &refs)
                } else {
                    write_records(&dir, 4, &refs)
                };
                let mut bytes = std::fs::read(&path).unwrap();
                damage(&mut bytes);
                std::fs::write(&path, &bytes).unwrap();
                let (report, replayed, stats) = replay_all(&dir);
                assert_eq!(
                    names(&replayed),
                    ["span 0", "span 1", "span 2"],
                    "{name} v1={v1}"
                );
                assert_eq!(report.damaged_headers, 1);
                assert_eq!(report.skipped_bytes, HEADER_LEN as u64);
                assert_eq!(stats.wal_damaged_headers.load(Ordering::Relaxed), 1);
                assert!(path.exists(), "the segment stays where it is");
                assert!(dir.join("q").join(quarantine_name(4, 0)).exists());
                std::fs::remove_dir_all(dir).unwrap();
            }
        }
    }

    #[test]
    fn version_1_segments_replay_and_resynchronise() {
        let batches: Vec<SpanBatch> = (0..4).map(numbered).collect();
        let refs: Vec<&SpanBatch> = batches.iter().collect();
        let dir = temp_dir("wal-v1");
        let path = write_v1(&dir, 1, &refs);
        write_records(&dir, 2, &[&numbered(9)]);
        let (_, replayed, _) = replay_all(&dir);
        assert_eq!(
            names(&replayed),
            ["span 0", "span 1", "span 2", "span 3", "span 9"]
        );
        // Damage the second record's length: resynchronise on the third.
        let mut bytes = std::fs::read(&path).unwrap();
        let record_len = (bytes.len() - HEADER_LEN) / 4;
        bytes[HEADER_LEN + record_len + 1] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let (report, replayed, _) = replay_all(&dir);
        assert_eq!(names(&replayed), ["span 0", "span 2", "span 3", "span 9"]);
        assert_eq!(report.skipped_bytes, record_len as u64);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unfinished_segments_are_removed_and_hopeless_ones_kept() {
        let dir = temp_dir("wal-unfinished");
        std::fs::write(segment_path(&dir, 3), &header()[..5]).unwrap();
        std::fs::write(segment_path(&dir, 4), b"not a wal segment at all").unwrap();
        write_records(&dir, 5, &[&numbered(0)]);
        let (report, replayed, _) = replay_all(&dir);
        assert_eq!(replayed.len(), 1);
        assert!(!segment_path(&dir, 3).exists());
        assert!(segment_path(&dir, 4).exists(), "never deleted");
        assert_eq!(report.damaged_headers, 1);
        assert_eq!(
            std::fs::read(dir.join("q").join(quarantine_name(4, 0))).unwrap(),
            b"not a wal segment at all"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_writer_groups_appends_and_acknowledges_after_applying() {
        let dir = temp_dir("wal-writer");
        let applied = Arc::new(parking_lot::Mutex::new(Vec::<usize>::new()));
        let sink = Arc::clone(&applied);
        let stats = Arc::new(Stats::default());
        let writer = Writer::new(
            WriterConfig {
                dir: dir.clone(),
                next_seq: 5,
                segment_bytes: 4096,
                group_bytes: 1 << 20,
            },
            Box::new(move |batches| sink.lock().push(batches.len())),
            Arc::clone(&stats),
        );
        let (tx, rx) = mpsc::channel(64);
        let batch = rich_batch();
        // Queue 20 appends before the thread starts, so they form groups.
        let mut acks = Vec::new();
        for _ in 0..20 {
            let (ack, wait) = oneshot::channel();
            tx.try_send(Request::Append {
                record: frame_batch(&batch),
                batch: batch.clone(),
                ack,
            })
            .ok()
            .unwrap();
            acks.push(wait);
        }
        let (done, rotated) = oneshot::channel();
        tx.try_send(Request::Rotate {
            then: Box::new(|_| {}),
            done,
        })
        .ok()
        .unwrap();
        let thread = std::thread::spawn(move || writer.run(rx));
        for a in acks {
            a.blocking_recv().unwrap().unwrap();
        }
        let sealed = rotated.blocking_recv().unwrap().unwrap();
        drop(tx);
        thread.join().unwrap();
        assert_eq!(applied.lock().iter().sum::<usize>(), 20);
        // Fewer fsyncs than records: the queued appends were grouped.
        let groups = stats.wal_groups.load(Ordering::Relaxed);
        assert!(groups < 20, "{groups} groups");
        // Size-based rotation happened (4 KiB segments), then the explicit one.
        let segments = list_segments(&dir).unwrap();
        assert!(segments.len() >= 2, "{segments:?}");
        assert_eq!(segments.last().unwrap().0, sealed + 1);
        let (report, batches, _) = replay_all(&dir);
        assert_eq!((report.records, batches.len()), (20, 20));
        assert_eq!(report.truncated_segments, 0);
        assert_eq!(report.damaged_ranges, 0);
        assert_eq!(
            delete_segments_through(&dir, sealed).unwrap(),
            segments.len() - 1
        );
        assert_eq!(list_segments(&dir).unwrap().len(), 1);
        let (clean_batches, scan) = read_segment_file(&segment_path(&dir, sealed + 1)).unwrap();
        assert!(scan.is_clean() && clean_batches.is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
