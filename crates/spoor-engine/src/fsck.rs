//! Offline check and repair of a data directory (`spoor fsck`).
//!
//! [`check`] takes the data directory's lock (so it refuses a directory a
//! running engine holds), reads every WAL segment with the same scanner
//! replay uses, and opens and reads every local block through the engine's
//! normal block reader. It reports each file as OK or damaged (what and
//! where). With `repair`:
//!
//! - a damaged WAL segment is rewritten holding only its valid records (in
//!   the current segment format); the original moves to
//!   `<data_dir>/quarantine/wal-<seq>.wal`;
//! - a block that cannot be read (or has no `meta.json`) moves to
//!   `<data_dir>/quarantine/blocks/<id>/`.
//!
//! Nothing is ever deleted: repair only moves damaged files aside.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::EngineError;
use crate::block::files;
use crate::scan::Block;
use crate::state::{join_err, lock_data_dir};
use crate::store::BlockStore;
use crate::wal::{self, QUARANTINE_DIR};

/// What kind of file a [`FileReport`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A WAL segment (`wal/<seq>.wal`).
    WalSegment,
    /// A block folder (`blocks/<id>/`).
    Block,
}

impl FileKind {
    /// A short name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::WalSegment => "wal",
            FileKind::Block => "block",
        }
    }
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub kind: FileKind,
    /// The segment file or block folder.
    pub path: PathBuf,
    /// Valid records (segments) or readable span rows (blocks).
    pub records: u64,
    /// Spans in them.
    pub spans: u64,
    /// What is wrong, with where; empty when the file is OK.
    pub problems: Vec<String>,
    /// Bytes found damaged (segments).
    pub damaged_bytes: u64,
    /// What repair did, when it did something.
    pub repaired: Option<String>,
    /// Repair was attempted and failed.
    pub repair_error: Option<String>,
}

impl FileReport {
    fn new(kind: FileKind, path: PathBuf) -> Self {
        FileReport {
            kind,
            path,
            records: 0,
            spans: 0,
            problems: Vec::new(),
            damaged_bytes: 0,
            repaired: None,
            repair_error: None,
        }
    }

    /// No problem found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What [`check`] found (and did).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Every segment and block, segments first.
    pub files: Vec<FileReport>,
}

impl FsckReport {
    /// Files with problems.
    pub fn damaged(&self) -> usize {
        self.files.iter().filter(|f| !f.is_ok()).count()
    }

    /// Files with problems that were not repaired.
    pub fn unrepaired(&self) -> usize {
        self.files
            .iter()
            .filter(|f| !f.is_ok() && f.repaired.is_none())
            .count()
    }

    /// Files of one kind.
    pub fn count(&self, kind: FileKind) -> usize {
        self.files.iter().filter(|f| f.kind == kind).count()
    }
}

/// Checks (and with `repair`, repairs) the data directory `data_dir`. Fails
/// with [`EngineError::Locked`] when a running engine holds it.
pub async fn check(data_dir: &Path, repair: bool) -> Result<FsckReport, EngineError> {
    let wal_dir = data_dir.join("wal");
    let blocks_dir = data_dir.join("blocks");
    if !wal_dir.is_dir() && !blocks_dir.is_dir() {
        return Err(EngineError::Config(format!(
            "{} is not a Spoor data directory (no wal/ or blocks/)",
            data_dir.display()
        )));
    }
    let dir = data_dir.to_path_buf();
    let lock = tokio::task::spawn_blocking(move || lock_data_dir(&dir))
        .await
        .map_err(join_err)??;
    let quarantine = data_dir.join(QUARANTINE_DIR);
    let mut report = FsckReport::default();
    let (blocks, covered) = if blocks_dir.is_dir() {
        check_blocks(&blocks_dir, &quarantine, repair).await?
    } else {
        (Vec::new(), 0)
    };
    if wal_dir.is_dir() {
        let (wal, q) = (wal_dir.clone(), quarantine.clone());
        let segments = tokio::task::spawn_blocking(move || check_wal(&wal, &q, repair, covered))
            .await
            .map_err(join_err)??;
        report.files.extend(segments);
    }
    report.files.extend(blocks);
    drop(lock);
    Ok(report)
}

/// Segments an older Spoor renamed `<seq>.wal.corrupt` (a damaged header)
/// and never replayed.
fn legacy_corrupt_segments(wal_dir: &Path) -> Result<Vec<(u64, PathBuf)>, EngineError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(wal_dir).map_err(|e| EngineError::io("list", wal_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io("list", wal_dir, e))?;
        let name = entry.file_name();
        if let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".wal.corrupt"))
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((seq, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(out)
}

/// Checks a segment an older Spoor set aside; with `repair`, writes its
/// valid records to a new segment numbered after every other one (so the
/// next start replays them; identical spans are stored once) and moves the
/// file to the quarantine folder.
fn check_legacy(path: &Path, next_seq: &mut u64, quarantine: &Path, repair: bool) -> FileReport {
    let mut file = FileReport::new(FileKind::WalSegment, path.to_path_buf());
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            file.problems.push(format!("cannot be read: {e}"));
            return file;
        }
    };
    let mut payloads: Vec<Range<usize>> = Vec::new();
    let scan = wal::scan_segment(&bytes, |payload, _| payloads.push(payload));
    file.records = scan.records;
    file.spans = scan.spans;
    file.damaged_bytes = scan.damaged_bytes();
    file.problems.push(format!(
        "set aside by an older Spoor and never replayed; {} record(s) recoverable",
        scan.records
    ));
    if repair {
        let result = (|| {
            let dir = path.parent().unwrap_or(Path::new("."));
            let mut written = None;
            if !payloads.is_empty() {
                let target = wal::segment_path(dir, *next_seq);
                let records: Vec<&[u8]> = payloads.iter().map(|r| &bytes[r.clone()]).collect();
                wal::write_segment_file(&target, &records)?;
                *next_seq += 1;
                written = Some(target);
            }
            std::fs::create_dir_all(quarantine)
                .map_err(|e| EngineError::io("create", quarantine, e))?;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("segment.wal.corrupt");
            let aside = free_path(quarantine, &format!("wal-{name}"));
            rename(path, &aside)?;
            wal::sync_dir(dir)?;
            wal::sync_dir(quarantine)?;
            Ok::<_, EngineError>(match written {
                Some(t) => format!(
                    "its {} record(s) written to {} (replayed at the next start); original moved to {}",
                    payloads.len(),
                    t.display(),
                    aside.display()
                ),
                None => format!("no valid record; moved to {}", aside.display()),
            })
        })();
        match result {
            Ok(what) => file.repaired = Some(what),
            Err(e) => file.repair_error = Some(e.to_string()),
        }
    }
    file
}

fn check_wal(
    wal_dir: &Path,
    quarantine: &Path,
    repair: bool,
    covered: u64,
) -> Result<Vec<FileReport>, EngineError> {
    let mut out = Vec::new();
    let segments = wal::list_segments(wal_dir)?;
    let legacy = legacy_corrupt_segments(wal_dir)?;
    let mut next_seq = segments
        .iter()
        .chain(&legacy)
        .map(|(seq, _)| *seq)
        .max()
        .unwrap_or(0)
        .max(covered)
        + 1;
    for (_, path) in &legacy {
        out.push(check_legacy(path, &mut next_seq, quarantine, repair));
    }
    for (seq, path) in segments {
        let mut file = FileReport::new(FileKind::WalSegment, path.clone());
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                file.problems.push(format!("cannot be read: {e}"));
                out.push(file);
                continue;
            }
        };
        let mut payloads: Vec<Range<usize>> = Vec::new();
        let scan = wal::scan_segment(&bytes, |payload, _| payloads.push(payload));
        file.records = scan.records;
        file.spans = scan.spans;
        file.damaged_bytes = scan.damaged_bytes();
        if scan.unfinished {
            file.problems.push(
                "unfinished: shorter than a segment header (a crash right after creation)".into(),
            );
        }
        if scan.header_damaged {
            file.problems.push("the segment header is damaged".into());
        }
        for d in &scan.damage {
            file.problems.push(format!(
                "bytes {}..{} ({} bytes) skipped: {}",
                d.start,
                d.end,
                d.len(),
                d.reason
            ));
        }
        if repair && !file.is_ok() {
            match repair_segment(seq, &path, &bytes, &payloads, quarantine) {
                Ok(what) => file.repaired = Some(what),
                Err(e) => file.repair_error = Some(e.to_string()),
            }
        }
        out.push(file);
    }
    Ok(out)
}

/// A path in `dir` named `name`, or `name.1`, `name.2`, … when taken.
fn free_path(dir: &Path, name: &str) -> PathBuf {
    let mut path = dir.join(name);
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    path
}

fn rename(from: &Path, to: &Path) -> Result<(), EngineError> {
    std::fs::rename(from, to).map_err(|e| EngineError::io("rename", from, e))
}

fn repair_segment(
    seq: u64,
    path: &Path,
    bytes: &[u8],
    payloads: &[Range<usize>],
    quarantine: &Path,
) -> Result<String, EngineError> {
    let wal_dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(quarantine).map_err(|e| EngineError::io("create", quarantine, e))?;
    let aside = free_path(quarantine, &format!("wal-{seq:020}.wal"));
    if payloads.is_empty() {
        rename(path, &aside)?;
        wal::sync_dir(wal_dir)?;
        wal::sync_dir(quarantine)?;
        return Ok(format!("no valid record; moved to {}", aside.display()));
    }
    let tmp = path.with_extension("wal.repair");
    let records: Vec<&[u8]> = payloads.iter().map(|r| &bytes[r.clone()]).collect();
    wal::write_segment_file(&tmp, &records)?;
    rename(path, &aside)?;
    rename(&tmp, path)?;
    wal::sync_dir(wal_dir)?;
    wal::sync_dir(quarantine)?;
    Ok(format!(
        "rewritten with its {} valid record(s); original moved to {}",
        records.len(),
        aside.display()
    ))
}

/// Checks every block; returns the reports and the highest WAL sequence
/// number a readable block covers.
async fn check_blocks(
    blocks_dir: &Path,
    quarantine: &Path,
    repair: bool,
) -> Result<(Vec<FileReport>, u64), EngineError> {
    let local = object_store::local::LocalFileSystem::new_with_prefix(blocks_dir).map_err(|e| {
        EngineError::Block {
            block: "*".into(),
            message: format!("opening {}: {e}", blocks_dir.display()),
        }
    })?;
    let store = BlockStore::new(Arc::new(local));
    let mut ids = Vec::new();
    let entries =
        std::fs::read_dir(blocks_dir).map_err(|e| EngineError::io("list", blocks_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io("list", blocks_dir, e))?;
        if entry.path().is_dir()
            && let Some(name) = entry.file_name().to_str()
        {
            ids.push(name.to_owned());
        }
    }
    ids.sort();
    let mut out = Vec::new();
    let mut covered = 0;
    for id in ids {
        let folder = blocks_dir.join(&id);
        let mut file = FileReport::new(FileKind::Block, folder.clone());
        match check_block(&store, &id, &mut file).await {
            Ok(wal_seq) => covered = covered.max(wal_seq),
            Err(problem) => file.problems.push(problem),
        }
        if repair && !file.is_ok() {
            let moved = (|| {
                let dir = quarantine.join("blocks");
                std::fs::create_dir_all(&dir).map_err(|e| EngineError::io("create", &dir, e))?;
                let aside = free_path(&dir, &id);
                rename(&folder, &aside)?;
                wal::sync_dir(blocks_dir)?;
                wal::sync_dir(&dir)?;
                Ok::<_, EngineError>(aside)
            })();
            match moved {
                Ok(aside) => file.repaired = Some(format!("moved to {}", aside.display())),
                Err(e) => file.repair_error = Some(e.to_string()),
            }
        }
        out.push(file);
    }
    Ok((out, covered))
}

/// Opens a block and reads every span of it through the normal reader;
/// returns the last WAL segment it covers.
async fn check_block(store: &BlockStore, id: &str, file: &mut FileReport) -> Result<u64, String> {
    let meta = match store.read_meta(id).await {
        Ok(Some(meta)) => meta,
        Ok(None) => {
            return Err(format!(
                "no {} (an incomplete or damaged block)",
                files::META
            ));
        }
        Err(e) => return Err(format!("{} cannot be read: {e}", files::META)),
    };
    let expected = meta.spans;
    let wal_seq = meta.wal_seq;
    let block = Block::load(store, meta)
        .await
        .map_err(|e| format!("cannot be opened: {e}"))?;
    let spans = block
        .all_spans(store, &spoor_storage::CpuPool::new(1))
        .await
        .map_err(|e| format!("spans cannot be read: {e}"))?;
    file.records = spans.len() as u64;
    file.spans = spans.len() as u64;
    if spans.len() as u64 != expected {
        return Err(format!(
            "holds {} spans, {} says {expected}",
            spans.len(),
            files::META
        ));
    }
    Ok(wal_seq)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::record::tests::rich_batch;
    use crate::wal::tests::{temp_dir, write_records};

    #[tokio::test]
    async fn reports_and_repairs_a_damaged_segment() {
        let dir = temp_dir("fsck");
        let wal_dir = dir.join("wal");
        std::fs::create_dir_all(&wal_dir).unwrap();
        let batch = rich_batch();
        let path = write_records(&wal_dir, 3, &[&batch, &batch, &batch]);
        write_records(&wal_dir, 4, &[&batch]);
        // Flip a byte in the middle record's payload.
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();

        let report = check(&dir, false).await.unwrap();
        assert_eq!(report.count(FileKind::WalSegment), 2);
        assert_eq!((report.damaged(), report.unrepaired()), (1, 1));
        let bad = &report.files[0];
        assert_eq!(bad.records, 2);
        assert!(bad.problems[0].contains("skipped"), "{:?}", bad.problems);
        assert!(report.files[1].is_ok());
        // Checking changed nothing.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);

        let report = check(&dir, true).await.unwrap();
        assert_eq!((report.damaged(), report.unrepaired()), (1, 0));
        let aside = dir.join("quarantine").join(format!("wal-{:020}.wal", 3));
        assert_eq!(
            std::fs::read(&aside).unwrap(),
            bytes,
            "the original is kept"
        );
        let report = check(&dir, false).await.unwrap();
        assert_eq!(report.damaged(), 0, "{report:?}");
        assert_eq!(report.files[0].records, 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn recovers_a_segment_an_older_spoor_set_aside() {
        let dir = temp_dir("fsck-legacy");
        let wal_dir = dir.join("wal");
        std::fs::create_dir_all(&wal_dir).unwrap();
        let batch = rich_batch();
        let path = write_records(&wal_dir, 2, &[&batch, &batch]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 0xff;
        let legacy = wal_dir.join(format!("{:020}.wal.corrupt", 2));
        std::fs::write(&legacy, &bytes).unwrap();
        std::fs::remove_file(&path).unwrap();
        write_records(&wal_dir, 5, &[&batch]);

        let report = check(&dir, false).await.unwrap();
        assert_eq!(report.unrepaired(), 1);
        assert!(report.files[0].problems[0].contains("2 record(s) recoverable"));
        let report = check(&dir, true).await.unwrap();
        assert_eq!(report.unrepaired(), 0, "{report:?}");
        assert!(!legacy.exists());
        // Written after every other segment, so the next start replays it.
        let (batches, scan) = wal::read_segment_file(&wal::segment_path(&wal_dir, 6)).unwrap();
        assert!(scan.is_clean());
        assert_eq!(batches.len(), 2);
        assert!(
            dir.join("quarantine")
                .join(format!("wal-{:020}.wal.corrupt", 2))
                .exists()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn refuses_a_directory_in_use_and_a_non_data_directory() {
        let dir = temp_dir("fsck-locked");
        assert!(matches!(
            check(&dir, false).await,
            Err(EngineError::Config(_))
        ));
        std::fs::create_dir_all(dir.join("wal")).unwrap();
        let held = lock_data_dir(&dir).unwrap();
        assert!(matches!(
            check(&dir, false).await,
            Err(EngineError::Locked(_))
        ));
        drop(held);
        assert_eq!(check(&dir, false).await.unwrap().files.len(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
