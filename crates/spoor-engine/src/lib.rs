//! Spoor's storage engine.
//!
//! [`Engine`] implements the storage contracts of `spoor-storage`
//! (`SpanWriter`, `TraceReader`, `DependencyReader`, `RedStatsReader`,
//! `Purger`) with:
//!
//! - a write-ahead log ([`wal`]): every batch is appended and fsynced, with
//!   group commit, before `write_spans` returns; the log is replayed on open
//!   damaged records are skipped and set aside (replay resynchronises on
//!   the next valid record), a torn tail is truncated, never fatal; a full
//!   disk makes writes fail with a retryable error until space returns;
//! - a head: recent spans in memory, grouped by trace and indexed
//!   by service and operation, searchable as soon as they are acknowledged;
//!   its memory is bounded in bytes, and so is the backlog on disk of spans
//!   acknowledged and not yet in the block store (writes beyond either
//!   bound are refused as retryable `Busy` errors);
//! - blocks ([`block`]): the head is cut, by size or age, into immutable
//!   Apache Parquet blocks with a trace index, per-trace summaries and a
//!   trace-ID Bloom filter, written through `object_store` (a local directory
//!   by default); the WAL segments a block covers are then deleted;
//! - maintenance: small blocks of one time window are compacted, blocks past
//!   the retention are deleted whole, and per-minute service dependency edges
//!   and RED statistics (calls, errors, latency sketches per service,
//!   operation and span kind) computed when a block is written answer
//!   `dependencies` and `red_stats` (one task at a time changes the set of
//!   blocks).
//!
//! Search answers exactly as the memory backend does: a trace matches when
//! one of its spans satisfies [`spoor_storage::matches_span`]; results are
//! newest first (trace start descending, then trace ID). Pieces of one trace
//! held in the head and in several blocks are merged, identical spans once.
//!
//! Data directory layout (`docs/storage-format.md` has every format):
//!
//! ```text
//! <data_dir>/LOCK            exclusive lock held while an engine is open
//! <data_dir>/wal/<seq>.wal   write-ahead log segments
//! <data_dir>/blocks/<id>/    blocks (when blocks are stored locally)
//! <data_dir>/pending/<id>/   a collector's blocks the store did not take yet
//! <data_dir>/UPLOADED        a collector's last WAL segment its uploaded blocks cover
//! <data_dir>/quarantine/     damaged blocks (<id>/) and damaged WAL bytes set aside, never deleted
//! ```
//!
//! # Layers
//!
//! From storage primitives up to the facade. A new layer gets its own
//! module here and is reached from [`Engine`] through a method that
//! delegates to it; `state` and `maintenance` use each other (opening
//! replays the WAL and starts the maintenance task, which works on the
//! shared state).
//!
//! | module | layer |
//! |---|---|
//! | `config` | settings ([`EngineConfig`], [`BlockStorage`], [`Clock`]) |
//! | `record`, `wal` | the batch encoding and the write-ahead log |
//! | `store` | raw object-store access: block files, ranges, uploads, deletes; the read cache in memory |
//! | `disk_cache` | the read cache's optional disk tier: CRC-checked range files, LRU-bounded |
//! | `block` | the block format: `meta.json` and versions, Parquet schema, encoding (`write`) and decoding (`read`), trace index, edges, RED statistics |
//! | `bloom` | trace-ID Bloom filters |
//! | `scan` | a readable block and its scans (traces by rows, search, RED rows) |
//! | `head` | recent spans in memory |
//! | `state` | shared state, open and close |
//! | `write` | the write path |
//! | `reader` | the read side over heads and blocks (storage contracts) |
//! | `maintenance` | cutting, compaction, retention, damaged blocks |
//! | `fsck`, `status` | offline check, health and `/metrics` |
//! | this file | the facade: [`Engine`] and re-exports |

pub mod block;
mod bloom;
/// Public only to the fuzz targets (`cargo fuzz` sets `--cfg fuzzing`).
#[cfg(fuzzing)]
pub mod bucket_index;
#[cfg(not(fuzzing))]
mod bucket_index;
mod cluster;
mod config;
/// Public only to the fuzz targets (`cargo fuzz` sets `--cfg fuzzing`).
#[cfg(fuzzing)]
pub mod disk_cache;
#[cfg(not(fuzzing))]
mod disk_cache;
mod error;
pub mod fsck;
mod head;
mod maintenance;
mod reader;
/// Public only to the fuzz targets (`cargo fuzz` sets `--cfg fuzzing`).
#[cfg(fuzzing)]
pub mod record;
#[cfg(not(fuzzing))]
mod record;
mod scan;
mod state;
mod stats;
mod status;
mod store;
pub mod wal;
mod write;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use spoor_model::SpanBatch;
use spoor_storage::{SpanWriter, StorageError};

pub use block::index::StoredSummary;
pub use block::write::BlockWriteOptions;
pub use block::{BlockMeta, OperationMeta};
pub use config::{
    BlockStorage, Clock, DEFAULT_BACKLOG_MAX_BYTES, EngineConfig, EngineRole, valid_node_name,
};
pub use error::EngineError;
/// The `object_store` crate, for building a [`BlockStorage::Custom`] store.
pub use object_store;
pub use state::EngineHealth;
pub use stats::{EngineSeries, EngineStats};
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
pub use store::install_tls_provider;

use state::{Lifecycle, Shared};

/// The storage engine. See the [crate documentation](crate).
pub struct Engine {
    shared: Arc<Shared>,
    /// The WAL writer, the maintenance task and the lock; stopped when dropped.
    lifecycle: Lifecycle,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data_dir", &self.shared.config.data_dir)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens (or creates) the engine in `config.data_dir`: takes the
    /// directory's lock, loads the blocks' indexes and Bloom filters, replays
    /// the WAL segments no block covers into the head (cutting blocks on the
    /// way when the head fills up), and starts the WAL writer and the
    /// background maintenance task. Must be called within a Tokio runtime.
    pub async fn open(config: EngineConfig) -> Result<Engine, EngineError> {
        let lifecycle = Lifecycle::open(config).await?;
        Ok(Engine {
            shared: Arc::clone(&lifecycle.shared),
            lifecycle,
        })
    }

    /// The configuration the engine was opened with.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// Counters and gauges.
    pub fn stats(&self) -> EngineStats {
        let mut s = self.shared.stats.snapshot();
        let mem = self.shared.mem.read();
        s.head_spans = mem.heads().map(|h| h.span_count() as u64).sum();
        s.head_traces = mem.active.trace_count() as u64;
        s.head_bytes = mem.bytes() as u64;
        s.blocks = mem.blocks.len() as u64;
        s.block_spans = mem.blocks.iter().map(|b| b.meta.spans).sum();
        s.block_index_bytes = mem.blocks.iter().map(|b| b.memory_bytes() as u64).sum();
        s.recent_blocks = mem.recent.len() as u64;
        s.pending_blocks = if self.shared.spills() {
            mem.blocks.len() as u64
        } else {
            0
        };
        drop(mem);
        s.backlog_bytes = self.shared.backlog_bytes();
        s.backlog_max_bytes = self.shared.config.backlog_max_bytes;
        s.backlog_full = u64::from(s.backlog_bytes >= s.backlog_max_bytes);
        let cost = &self.shared.store.cost;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        s.store_gets = get(&cost.gets);
        s.store_range_gets = get(&cost.ranges);
        s.store_heads = get(&cost.heads);
        s.store_puts = get(&cost.puts);
        s.store_deletes = get(&cost.deletes);
        s.store_lists = get(&cost.lists);
        s.store_read_bytes = get(&cost.bytes_read);
        s.read_cache_hits = get(&cost.cache_hits);
        s.read_cache_bytes = get(&cost.cache_bytes);
        s.read_cache_disk_hits = get(&cost.disk_hits);
        s.read_cache_disk_misses = get(&cost.disk_misses);
        s.read_cache_disk_bytes = get(&cost.disk_bytes);
        s.read_cache_disk_damaged = get(&cost.disk_damaged);
        s.read_cache_disk_write_errors = get(&cost.disk_write_errors);
        s.queries = get(&cost.queries);
        s.query_store_requests = get(&cost.query_requests);
        s.query_store_read_bytes = get(&cost.query_bytes);
        s.compactor_lease_held = u64::from(self.shared.lease_held.load(Ordering::Relaxed));
        s
    }

    /// Whether the engine can take writes now, and if not, why.
    pub fn health(&self) -> EngineHealth {
        let closed =
            self.shared.closing.load(Ordering::Relaxed) || self.shared.wal_tx.lock().is_none();
        let unwritable = self.shared.stats.unwritable.lock().clone();
        EngineHealth {
            writable: !closed && unwritable.is_none(),
            closed,
            reason: if closed {
                Some("the storage engine is closed".into())
            } else {
                unwritable
            },
            cut_failing: self.shared.stats.cut_failing.load(Ordering::Relaxed),
        }
    }

    /// The metadata of every readable block, newest first.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.shared
            .mem
            .read()
            .blocks
            .iter()
            .map(|b| b.meta.clone())
            .collect()
    }

    /// Cuts the head into a block now (and retries any earlier cut that
    /// failed), whatever its size or age; returns the number of blocks
    /// written (0 when the head was empty). Writes continue meanwhile.
    pub async fn cut(&self) -> Result<usize, EngineError> {
        maintenance::cut(&self.shared).await
    }

    /// Merges small blocks now: every group (window and level) of at least
    /// two small blocks, whatever their age (the background task waits for
    /// `compaction_min_blocks`, or for the window to close). Returns the
    /// number of blocks written.
    pub async fn compact(&self) -> Result<usize, EngineError> {
        let mut written = 0;
        while maintenance::compact_once(&self.shared, true).await? {
            written += 1;
        }
        maintenance::reap(&self.shared).await;
        Ok(written)
    }

    /// Deletes the blocks past the retention now; returns how many.
    pub async fn expire(&self) -> Result<usize, EngineError> {
        let n = maintenance::expire(&self.shared).await?;
        maintenance::reap(&self.shared).await;
        Ok(n)
    }

    /// The blocks this writer (`EngineRole::Writer`) published within its
    /// recent window, oldest first; empty for other roles.
    pub fn recent_blocks(&self) -> Vec<String> {
        let mem = self.shared.mem.read();
        mem.recent.iter().map(|(id, _)| id.clone()).collect()
    }

    /// Lists the store again now and makes the readable blocks match it
    /// (readers and compactors do this every refresh interval).
    pub async fn refresh_blocks(&self) -> Result<(), EngineError> {
        cluster::refresh(&self.shared).await
    }

    /// Whether this compactor holds the compactors' lease.
    pub fn holds_lease(&self) -> bool {
        self.shared.lease_held.load(Ordering::Relaxed)
    }

    /// Stops accepting writes, finishes the cut in progress if any, lets the
    /// WAL writer finish what it was given and waits for it. Everything
    /// acknowledged is already durable; closing only releases resources.
    /// Later writes fail with `Unavailable`. A compactor gives up its lease.
    pub async fn close(&self) -> Result<(), EngineError> {
        self.lifecycle.close().await
    }
}

#[async_trait]
impl SpanWriter for Engine {
    async fn write_spans(&self, batch: SpanBatch) -> Result<(), StorageError> {
        write::write(&self.shared, batch)
            .await
            .map_err(StorageError::from)
    }
}

impl spoor_storage::federate::RecentBlocks for Engine {
    fn recent_blocks(&self) -> Vec<String> {
        Engine::recent_blocks(self)
    }
}

#[async_trait]
impl spoor_storage::federate::BlockCatalog for Engine {
    async fn ensure_blocks(&self, ids: &[String]) -> Vec<String> {
        cluster::ensure(&self.shared, ids).await
    }
}

/// Distinct trace IDs, for internal bookkeeping.
type TraceIdSet = HashSet<spoor_model::TraceId>;
