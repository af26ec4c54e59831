//! The write-ahead log: every accepted batch is appended here and fsynced
//! before its sender is acknowledged.
//!
//! # Files
//!
//! The log is a directory of segments named `<seq>.wal` (`seq` a 20-digit,
//! zero-padded, increasing number). A segment is a 16-byte header followed by
//! records:
//!
//! ```text
//! header := magic "SPOORWAL" | version:u32le (=1) | crc32(magic ‖ version):u32le
//! record := length:u32le | crc32(length ‖ payload):u32le | payload[length]
//! payload := type:u8 (1 = span batch) | body (see `record.rs`, itself versioned)
//! ```
//!
//! # Writing: group commit
//!
//! One writer thread owns the open segment. Callers send it an already
//! framed record; the thread takes every request waiting in its queue (up to
//! a byte budget) as one group, writes the group with one `write`, calls
//! `sync_data` once, hands the group's batches to the head, and only then
//! acknowledges each caller. A segment that grows past its size limit is
//! sealed and a new one is started. A failed write or fsync fails the whole
//! group and moves the writer to a fresh segment, so any partial bytes stay
//! at the tail of the old one; if no new segment can be created the writer
//! refuses further writes.
//!
//! # Replay
//!
//! On open, every segment is read in order. Reading a segment stops at the
//! first record that is short, longer than the bytes left, fails its CRC or
//! does not decode; the segment is truncated there, the event is logged and
//! counted, and replay goes on with the next segment. A segment whose header
//! is damaged is renamed to `<seq>.wal.corrupt` and skipped. Nothing in
//! replay is fatal except failing to read or truncate a file at all.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use spoor_model::SpanBatch;
use tokio::sync::{mpsc, oneshot};

use crate::EngineError;
use crate::record::{RecordError, decode_batch, encode_batch};
use crate::stats::Stats;

/// Segment file magic.
pub const SEGMENT_MAGIC: &[u8; 8] = b"SPOORWAL";
/// The segment format version this build writes and reads.
pub const SEGMENT_VERSION: u32 = 1;
/// Size of a segment header.
pub const HEADER_LEN: usize = 16;
/// Size of a record's frame (length and CRC).
pub const FRAME_LEN: usize = 8;
/// Largest record payload accepted (on write and on replay).
pub const MAX_RECORD_BYTES: usize = 1 << 30;
/// Payload type of a span batch.
pub const RECORD_SPAN_BATCH: u8 = 1;

fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    let crc = crc32fast::hash(&h[..12]);
    h[12..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The path of segment `seq` in `dir`.
pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// Frames a span batch as one WAL record (length, CRC, payload).
pub fn frame_batch(batch: &SpanBatch) -> Vec<u8> {
    let mut out = vec![0u8; FRAME_LEN];
    out.push(RECORD_SPAN_BATCH);
    encode_batch(batch, &mut out);
    let len = (out.len() - FRAME_LEN) as u32;
    out[..4].copy_from_slice(&len.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&out[..4]);
    hasher.update(&out[FRAME_LEN..]);
    let crc = hasher.finalize();
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    out
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

fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| EngineError::io("fsync directory", dir, e))
}

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Segments read.
    pub segments: u64,
    /// Records (batches) replayed.
    pub records: u64,
    /// Spans replayed.
    pub spans: u64,
    /// Segments whose tail was cut off.
    pub truncated_segments: u64,
    /// Bytes cut off.
    pub truncated_bytes: u64,
    /// Segments set aside because their header was damaged.
    pub corrupt_segments: u64,
    /// The highest segment sequence number seen (0 when none).
    pub last_seq: u64,
}

/// Why reading a segment's records stopped early.
enum Tail {
    Short,
    TooLong(usize),
    BadCrc,
    Undecodable(RecordError),
}

impl std::fmt::Display for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tail::Short => f.write_str("a record frame is cut short"),
            Tail::TooLong(len) => write!(f, "a record claims {len} bytes, more than are left"),
            Tail::BadCrc => f.write_str("a record fails its CRC"),
            Tail::Undecodable(e) => write!(f, "a record does not decode: {e}"),
        }
    }
}

/// Reads one segment's records, calling `apply` for each; returns the offset
/// of the end of the last good record and why reading stopped early, if it did.
fn read_segment(bytes: &[u8], mut apply: impl FnMut(SpanBatch)) -> (usize, Option<Tail>) {
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        if bytes.len() - pos < FRAME_LEN {
            return (pos, Some(Tail::Short));
        }
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&bytes[pos..pos + 4]);
        let len = u32::from_le_bytes(len_bytes) as usize;
        if len > MAX_RECORD_BYTES || len > bytes.len() - pos - FRAME_LEN {
            return (pos, Some(Tail::TooLong(len)));
        }
        let mut crc_bytes = [0u8; 4];
        crc_bytes.copy_from_slice(&bytes[pos + 4..pos + 8]);
        let payload = &bytes[pos + FRAME_LEN..pos + FRAME_LEN + len];
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&len_bytes);
        hasher.update(payload);
        if hasher.finalize() != u32::from_le_bytes(crc_bytes) {
            return (pos, Some(Tail::BadCrc));
        }
        let batch = match payload.split_first() {
            Some((&RECORD_SPAN_BATCH, body)) => decode_batch(body),
            Some((&other, _)) => Err(RecordError::UnknownTag { tag: other, at: 0 }),
            None => Err(RecordError::Truncated(0)),
        };
        match batch {
            Ok(batch) => apply(batch),
            Err(e) => return (pos, Some(Tail::Undecodable(e))),
        }
        pos += FRAME_LEN + len;
    }
    (pos, None)
}

/// Replays every segment in `dir` in order, calling `apply(seq, batch)` for
/// each record, and repairs damaged tails (see the module documentation).
pub fn replay(
    dir: &Path,
    stats: &Stats,
    mut apply: impl FnMut(u64, SpanBatch),
) -> Result<ReplayReport, EngineError> {
    let mut report = ReplayReport::default();
    for (seq, path) in list_segments(dir)? {
        replay_segment(seq, &path, stats, &mut report, |batch| apply(seq, batch))?;
    }
    Ok(report)
}

/// Replays one segment, calling `apply` for each record, repairing a damaged
/// tail and adding what it found to `report`.
pub fn replay_segment(
    seq: u64,
    path: &Path,
    stats: &Stats,
    report: &mut ReplayReport,
    mut apply: impl FnMut(SpanBatch),
) -> Result<(), EngineError> {
    report.last_seq = report.last_seq.max(seq);
    let bytes = std::fs::read(path).map_err(|e| EngineError::io("read", path, e))?;
    if bytes.len() < HEADER_LEN || bytes[..HEADER_LEN] != header() {
        if bytes.len() < HEADER_LEN && header().starts_with(&bytes) {
            // Created but never written: a crash right after rotation.
            tracing::warn!(segment = %path.display(), bytes = bytes.len(), "removing an unfinished WAL segment");
            std::fs::remove_file(path).map_err(|e| EngineError::io("remove", path, e))?;
            return Ok(());
        }
        let aside = path.with_extension("wal.corrupt");
        tracing::error!(segment = %path.display(), moved_to = %aside.display(), "WAL segment header is damaged; setting the segment aside");
        std::fs::rename(path, &aside).map_err(|e| EngineError::io("rename", path, e))?;
        report.corrupt_segments += 1;
        stats.wal_corrupt_segments.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    report.segments += 1;
    let mut records = 0u64;
    let (good, tail) = read_segment(&bytes, |batch| {
        records += 1;
        report.spans += batch.len() as u64;
        apply(batch);
    });
    report.records += records;
    stats
        .wal_replayed_records
        .fetch_add(records, Ordering::Relaxed);
    if let Some(tail) = tail {
        let cut = (bytes.len() - good) as u64;
        tracing::warn!(
            segment = %path.display(),
            offset = good,
            truncated_bytes = cut,
            reason = %tail,
            "WAL segment has a torn or corrupt tail; truncating it"
        );
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| EngineError::io("open", path, e))?;
        file.set_len(good as u64)
            .and_then(|()| file.sync_all())
            .map_err(|e| EngineError::io("truncate", path, e))?;
        report.truncated_segments += 1;
        report.truncated_bytes += cut;
        stats.wal_truncations.fetch_add(1, Ordering::Relaxed);
        stats.wal_truncated_bytes.fetch_add(cut, Ordering::Relaxed);
    }
    Ok(())
}

/// Deletes every segment with a sequence number at most `max_seq`.
pub fn delete_segments_through(dir: &Path, max_seq: u64) -> Result<usize, EngineError> {
    let mut removed = 0;
    for (seq, path) in list_segments(dir)? {
        if seq > max_seq {
            break;
        }
        std::fs::remove_file(&path).map_err(|e| EngineError::io("remove", &path, e))?;
        removed += 1;
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

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
        file.write_all(&header())
            .and_then(|()| file.sync_all())
            .map_err(|e| EngineError::io("write", &path, e))?;
        sync_dir(dir)?;
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
    segment: Segment,
    apply: ApplyFn,
    stats: Arc<Stats>,
    /// Set when the writer can no longer write safely.
    poisoned: Option<String>,
}

struct Pending {
    batch: SpanBatch,
    ack: oneshot::Sender<Result<(), EngineError>>,
}

impl Writer {
    /// Opens a new segment at `config.next_seq`.
    pub fn new(
        config: WriterConfig,
        apply: ApplyFn,
        stats: Arc<Stats>,
    ) -> Result<Self, EngineError> {
        let segment = Segment::create(&config.dir, config.next_seq)?;
        Ok(Writer {
            config,
            segment,
            apply,
            stats,
            poisoned: None,
        })
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
                    // The records are written one after the other, not
                    // copied into one buffer: a group can be megabytes, and
                    // a buffer would keep its largest size for good.
                    let mut bytes = record.len();
                    let mut records = vec![record];
                    let mut group = vec![Pending { batch, ack }];
                    while bytes < self.config.group_bytes {
                        match rx.try_recv() {
                            Ok(Request::Append { record, batch, ack }) => {
                                bytes += record.len();
                                records.push(record);
                                group.push(Pending { batch, ack });
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit(&records, group);
                }
                Request::Rotate { then, done } => {
                    let result = self.rotate().inspect(|&sealed| then(sealed));
                    let _ = done.send(result);
                }
                Request::Reset { then, done } => {
                    let result = self.reset().map(|()| then());
                    let _ = done.send(result);
                }
            }
        }
        tracing::debug!(segment = %self.segment.path.display(), "WAL writer stopped");
    }

    fn commit(&mut self, records: &[Vec<u8>], group: Vec<Pending>) {
        if let Some(why) = &self.poisoned {
            for p in group {
                let _ = p.ack.send(Err(EngineError::Closed(why.clone())));
            }
            return;
        }
        let path = &self.segment.path;
        let len: usize = records.iter().map(Vec::len).sum();
        let written = records
            .iter()
            .try_for_each(|r| self.segment.file.write_all(r))
            .map_err(|e| EngineError::io("write", path, e))
            .and_then(|()| {
                self.segment
                    .file
                    .sync_data()
                    .map_err(|e| EngineError::io("fsync", path, e))
            });
        if let Err(e) = written {
            tracing::error!(error = %e, spans = group.iter().map(|p| p.batch.len()).sum::<usize>(), "WAL write failed; the group is rejected");
            self.stats.wal_write_errors.fetch_add(1, Ordering::Relaxed);
            let message = e.to_string();
            for p in group {
                let _ = p.ack.send(Err(EngineError::Closed(message.clone())));
            }
            // Leave the partial bytes at the tail of this segment (replay cuts
            // them off) and continue in a fresh one.
            if let Err(e) = self.start_next_segment() {
                tracing::error!(error = %e, "cannot start a new WAL segment; refusing further writes");
                self.poisoned = Some(format!("the write-ahead log failed: {e}"));
            }
            return;
        }
        self.segment.len += len as u64;
        self.stats.wal_groups.fetch_add(1, Ordering::Relaxed);
        self.stats
            .wal_records
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        self.stats
            .wal_bytes
            .fetch_add(len as u64, Ordering::Relaxed);
        let (batches, acks): (Vec<SpanBatch>, Vec<_>) =
            group.into_iter().map(|p| (p.batch, p.ack)).unzip();
        (self.apply)(batches);
        for ack in acks {
            let _ = ack.send(Ok(()));
        }
        if self.segment.len >= self.config.segment_bytes
            && let Err(e) = self.start_next_segment()
        {
            // Not fatal: keep appending to the current segment and retry later.
            tracing::warn!(error = %e, "cannot rotate the WAL segment");
        }
    }

    fn start_next_segment(&mut self) -> Result<u64, EngineError> {
        let sealed = self.segment.seq;
        self.segment = Segment::create(&self.config.dir, sealed + 1)?;
        self.stats
            .wal_segments_created
            .fetch_add(1, Ordering::Relaxed);
        Ok(sealed)
    }

    fn rotate(&mut self) -> Result<u64, EngineError> {
        if let Some(why) = &self.poisoned {
            return Err(EngineError::Closed(why.clone()));
        }
        self.start_next_segment()
    }

    fn reset(&mut self) -> Result<(), EngineError> {
        let next = self.segment.seq + 1;
        for (_, path) in list_segments(&self.config.dir)? {
            std::fs::remove_file(&path).map_err(|e| EngineError::io("remove", &path, e))?;
        }
        self.segment = Segment::create(&self.config.dir, next)?;
        self.poisoned = None;
        Ok(())
    }
}

/// Reads a segment's header and records without repairing anything
/// (diagnostics and tests): returns the batches and whether the tail is clean.
pub fn read_segment_file(path: &Path) -> Result<(Vec<SpanBatch>, bool), EngineError> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io("read", path, e))?;
    if bytes.len() < HEADER_LEN || bytes[..HEADER_LEN] != header() {
        return Err(EngineError::UnsupportedVersion {
            what: format!("WAL segment {}", path.display()),
            version: 0,
        });
    }
    let mut batches = Vec::new();
    let (_, tail) = read_segment(&bytes, |b| batches.push(b));
    Ok((batches, tail.is_none()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
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

    fn write_segment(dir: &Path, seq: u64, records: &[Vec<u8>]) -> PathBuf {
        let path = segment_path(dir, seq);
        let mut bytes = header().to_vec();
        for r in records {
            bytes.extend_from_slice(r);
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn replay_all(dir: &Path) -> (ReplayReport, Vec<(u64, SpanBatch)>) {
        let stats = Stats::default();
        let mut out = Vec::new();
        let report = replay(dir, &stats, |seq, b| out.push((seq, b))).unwrap();
        (report, out)
    }

    #[test]
    fn records_replay_in_order_across_segments() {
        let dir = temp_dir("wal-order");
        let batch = rich_batch();
        let record = frame_batch(&batch);
        write_segment(&dir, 1, &[record.clone(), record.clone()]);
        write_segment(&dir, 3, std::slice::from_ref(&record));
        let (report, batches) = replay_all(&dir);
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
    fn every_torn_tail_is_truncated_and_earlier_records_survive() {
        let batch = rich_batch();
        let record = frame_batch(&batch);
        let full_len = HEADER_LEN + 2 * record.len();
        // Cut the second record at every possible length.
        for keep in 0..record.len() {
            let dir = temp_dir("wal-torn");
            let path = write_segment(&dir, 7, &[record.clone(), record[..keep].to_vec()]);
            let (report, batches) = replay_all(&dir);
            assert_eq!(batches.len(), 1, "keep {keep}");
            let cut = u64::from(keep > 0);
            assert_eq!(report.truncated_segments, cut, "keep {keep}");
            assert_eq!(report.truncated_bytes, keep as u64);
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                (full_len - record.len()) as u64
            );
            // A second replay finds a clean segment.
            let (report, batches) = replay_all(&dir);
            assert_eq!((report.truncated_segments, batches.len()), (0, 1));
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn corrupt_records_and_headers_are_reported_not_fatal() {
        let batch = rich_batch();
        let record = frame_batch(&batch);
        let dir = temp_dir("wal-corrupt");
        // A flipped payload byte in the second record fails its CRC.
        let mut bad = record.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        write_segment(&dir, 1, &[record.clone(), bad, record.clone()]);
        // Garbage instead of a header.
        std::fs::write(segment_path(&dir, 2), b"not a wal segment at all").unwrap();
        // A header cut short by a crash during creation.
        std::fs::write(segment_path(&dir, 3), &header()[..5]).unwrap();
        // A length that points past the end.
        let mut long = record.clone();
        long[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        write_segment(&dir, 4, &[record.clone(), long]);
        let stats = Stats::default();
        let mut n = 0;
        let report = replay(&dir, &stats, |_, _| n += 1).unwrap();
        assert_eq!(n, 2);
        assert_eq!(report.truncated_segments, 2);
        assert_eq!(report.corrupt_segments, 1);
        assert_eq!(stats.wal_truncations.load(Ordering::Relaxed), 2);
        assert!(dir.join(format!("{:020}.wal.corrupt", 2)).exists());
        assert!(!segment_path(&dir, 3).exists());
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
        )
        .unwrap();
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
        let (report, batches) = replay_all(&dir);
        assert_eq!((report.records, batches.len()), (20, 20));
        assert_eq!(report.truncated_segments, 0);
        assert_eq!(
            delete_segments_through(&dir, sealed).unwrap(),
            segments.len() - 1
        );
        assert_eq!(list_segments(&dir).unwrap().len(), 1);
        let (clean_batches, clean) = read_segment_file(&segment_path(&dir, sealed + 1)).unwrap();
        assert!(clean && clean_batches.is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
