//! The read cache's optional local-disk tier (`--read-cache-dir`): byte
//! ranges of block files fetched from the object store, one file per
//! (object path, range) under one directory, bounded in bytes, least
//! recently used first out.
//!
//! Every range fetched from the store is written here (write-through,
//! whatever the memory tier keeps), off the query's path. A read looks in
//! memory, then here, then asks the store. Each file starts with a header
//! naming its object path, range and length and a CRC-32 of the bytes; an
//! entry whose header or CRC does not match is counted, removed and never
//! returned (the range is fetched again). The LRU index lives in memory;
//! at start the directory's cache files from an earlier run are removed,
//! not re-indexed. Block files never change once published, so entries
//! never go stale.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;

use crate::store::StoreCost;

/// The start of every cache file.
const MAGIC: &[u8; 8] = b"SPRCACH1";
/// The extension of cache files (and `.tmp` while one is written).
const EXT: &str = "range";
const TMP_EXT: &str = "tmp";

type Key = (String, u64, u64);

/// The disk tier: its directory, budget and in-memory LRU index.
pub(crate) struct DiskCache {
    dir: PathBuf,
    budget: u64,
    inner: parking_lot::Mutex<Index>,
    /// Temporary file names, unique within this process.
    seq: AtomicU64,
    /// A failed write was logged at warn level already (later ones: debug).
    warned: AtomicBool,
}

#[derive(Default)]
struct Index {
    tick: u64,
    bytes: u64,
    entries: HashMap<Key, (u64, u64)>,
    by_tick: BTreeMap<u64, Key>,
}

/// Why a cache file was not returned.
#[derive(Debug, thiserror::Error)]
enum Damage {
    #[error("the header does not parse")]
    Header,
    #[error("the header names another object or range")]
    Name,
    #[error("the length does not match the header")]
    Length,
    #[error("the CRC-32 does not match the header")]
    Crc,
}

impl DiskCache {
    /// Opens the tier over `dir` (created if missing), removing cache files
    /// an earlier run left there; other files are left alone.
    pub(crate) fn open(dir: &Path, budget: u64) -> std::io::Result<DiskCache> {
        std::fs::create_dir_all(dir)?;
        let mut removed = 0u64;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let ours = path.extension().is_some_and(|e| e == EXT || e == TMP_EXT);
            if ours && path.is_file() {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
        tracing::info!(dir = %dir.display(), budget, removed, "read cache on disk");
        Ok(DiskCache {
            dir: dir.to_path_buf(),
            budget,
            inner: parking_lot::Mutex::new(Index::default()),
            seq: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        })
    }

    fn file_name(key: &Key) -> String {
        // FNV-1a, 64 bits: stable across builds; the header names the entry,
        // so a collision reads as a mismatch, never as another range's bytes.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        eat(key.0.as_bytes());
        eat(&[0]);
        eat(&key.1.to_le_bytes());
        eat(&key.2.to_le_bytes());
        format!("{h:016x}.{EXT}")
    }

    fn header(key: &Key, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 4 + key.0.len() + 28);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(key.0.len() as u32).to_le_bytes());
        out.extend_from_slice(key.0.as_bytes());
        out.extend_from_slice(&key.1.to_le_bytes());
        out.extend_from_slice(&key.2.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
        out
    }

    /// The bytes of one cache file, checked against its header and `key`.
    fn decode(key: &Key, file: &[u8]) -> Result<Bytes, Damage> {
        fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], Damage> {
            if rest.len() < n {
                return Err(Damage::Header);
            }
            let (head, tail) = rest.split_at(n);
            *rest = tail;
            Ok(head)
        }
        fn u64_of(rest: &mut &[u8]) -> Result<u64, Damage> {
            let b = take(rest, 8)?;
            Ok(u64::from_le_bytes(
                b.try_into().map_err(|_| Damage::Header)?,
            ))
        }
        let mut rest = file;
        if take(&mut rest, 8)? != MAGIC {
            return Err(Damage::Header);
        }
        let n = take(&mut rest, 4)?;
        let n = u32::from_le_bytes(n.try_into().map_err(|_| Damage::Header)?) as usize;
        let path = take(&mut rest, n)?;
        let (start, end, len) = (u64_of(&mut rest)?, u64_of(&mut rest)?, u64_of(&mut rest)?);
        let crc = take(&mut rest, 4)?;
        let crc = u32::from_le_bytes(crc.try_into().map_err(|_| Damage::Header)?);
        if path != key.0.as_bytes() || start != key.1 || end != key.2 {
            return Err(Damage::Name);
        }
        if rest.len() as u64 != len || len != end.saturating_sub(start) {
            return Err(Damage::Length);
        }
        if crc32fast::hash(rest) != crc {
            return Err(Damage::Crc);
        }
        Ok(Bytes::copy_from_slice(rest))
    }

    /// The cached bytes of `range` of `path`, if this tier holds them
    /// intact. Blocking (file I/O): call it off the async threads.
    pub(crate) fn get(&self, path: &str, range: &Range<u64>, cost: &StoreCost) -> Option<Bytes> {
        let key = (path.to_owned(), range.start, range.end);
        {
            let mut inner = self.inner.lock();
            inner.tick += 1;
            let tick = inner.tick;
            let Some(entry) = inner.entries.get_mut(&key) else {
                drop(inner);
                cost.disk_misses.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            let old = std::mem::replace(&mut entry.1, tick);
            inner.by_tick.remove(&old);
            inner.by_tick.insert(tick, key.clone());
        }
        let file = self.dir.join(Self::file_name(&key));
        let found = match std::fs::read(&file) {
            Ok(data) => Self::decode(&key, &data).map_err(|e| {
                tracing::warn!(file = %file.display(), object = path, start = range.start,
                    end = range.end, error = %e, "a damaged read-cache file: removed, read again");
                cost.disk_damaged.fetch_add(1, Ordering::Relaxed);
            }),
            Err(e) => {
                tracing::debug!(file = %file.display(), error = %e, "a read-cache file is gone");
                Err(())
            }
        };
        match found {
            Ok(bytes) => {
                cost.disk_hits.fetch_add(1, Ordering::Relaxed);
                Some(bytes)
            }
            Err(()) => {
                let mut inner = self.inner.lock();
                inner.remove(&key);
                let _ = std::fs::remove_file(&file);
                cost.disk_bytes.store(inner.bytes, Ordering::Relaxed);
                drop(inner);
                cost.disk_misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Writes `bytes` (`range` of `path`) to the tier, evicting the least
    /// recently used entries over the budget. An entry over an eighth of
    /// the budget is not kept. A failed write is counted and logged, never
    /// an error. Blocking: call it off the async threads.
    pub(crate) fn put(&self, path: &str, range: &Range<u64>, bytes: &[u8], cost: &StoreCost) {
        let key = (path.to_owned(), range.start, range.end);
        let header = Self::header(&key, bytes);
        let size = (header.len() + bytes.len()) as u64;
        if size > self.budget / 8 || self.inner.lock().entries.contains_key(&key) {
            return;
        }
        let name = Self::file_name(&key);
        let tmp = self.dir.join(format!(
            "{name}-{}.{TMP_EXT}",
            self.seq.fetch_add(1, Ordering::Relaxed)
        ));
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(&header)?;
                f.write_all(bytes)
            })
            .and_then(|()| std::fs::rename(&tmp, self.dir.join(&name)));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            cost.disk_write_errors.fetch_add(1, Ordering::Relaxed);
            if self.warned.swap(true, Ordering::Relaxed) {
                tracing::debug!(dir = %self.dir.display(), error = %e, "read cache: a write failed");
            } else {
                tracing::warn!(dir = %self.dir.display(), error = %e,
                    "read cache: a write to disk failed (counted; later failures logged at debug)");
            }
            return;
        }
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        inner.remove(&key);
        inner.entries.insert(key.clone(), (size, tick));
        inner.by_tick.insert(tick, key);
        inner.bytes += size;
        while inner.bytes > self.budget {
            let Some((_, oldest)) = inner.by_tick.pop_first() else {
                break;
            };
            if let Some((size, _)) = inner.entries.remove(&oldest) {
                inner.bytes -= size;
            }
            // Under the lock, so that a newer file of the same entry is not
            // removed after it was indexed again.
            let _ = std::fs::remove_file(self.dir.join(Self::file_name(&oldest)));
        }
        cost.disk_bytes.store(inner.bytes, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn entries(&self) -> usize {
        self.inner.lock().entries.len()
    }

    #[cfg(test)]
    pub(crate) fn file_of(&self, path: &str, range: &Range<u64>) -> PathBuf {
        self.dir
            .join(Self::file_name(&(path.to_owned(), range.start, range.end)))
    }
}

impl Index {
    fn remove(&mut self, key: &Key) {
        if let Some((size, tick)) = self.entries.remove(key) {
            self.bytes -= size;
            self.by_tick.remove(&tick);
        }
    }
}

/// The bytes a cache file holds for `path` and `range`; `None` when the
/// file is damaged. The fuzz target's entry point (`--cfg fuzzing`).
#[cfg(fuzzing)]
pub fn read_file(path: &str, range: &Range<u64>, file: &[u8]) -> Option<Bytes> {
    DiskCache::decode(&(path.to_owned(), range.start, range.end), file).ok()
}

/// A cache file's bytes for `path`, `range` and `bytes` (the fuzz target's
/// round trip).
#[cfg(fuzzing)]
pub fn file_bytes(path: &str, range: &Range<u64>, bytes: &[u8]) -> Vec<u8> {
    let mut out = DiskCache::header(&(path.to_owned(), range.start, range.end), bytes);
    out.extend_from_slice(bytes);
    out
}
