//! Spoor's storage engine.
//!
//! [`Engine`] implements the storage contracts of `spoor-storage`
//! (`SpanWriter`, `TraceReader`, `DependencyReader`, `MetricsReader`,
//! `Purger`) with:
//!
//! - a write-ahead log ([`wal`]): every batch is appended and fsynced, with
//!   group commit, before `write_spans` returns; the log is replayed on open
//!   damaged records are skipped and set aside (replay resynchronises on
//!   the next valid record), a torn tail is truncated, never fatal; a full
//!   disk makes writes fail with a retryable error until space returns;
//! - a head: recent spans in memory, grouped by trace and indexed
//!   by service and operation, searchable as soon as they are acknowledged;
//!   its memory is bounded in bytes (writes beyond the bound are refused as
//!   retryable `Unavailable` errors);
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
//! <data_dir>/quarantine/     damaged blocks (<id>/) and damaged WAL bytes set aside, never deleted
//! ```

pub mod block;
pub mod bloom;
mod error;
pub mod fsck;
mod head;
mod maintenance;
mod reader;
pub mod record;
mod stats;
mod status;
pub mod wal;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use spoor_model::SpanBatch;
use spoor_storage::{SpanWriter, StorageError};
use tokio::sync::{Notify, mpsc, oneshot};

pub use block::index::TraceSummary;
pub use block::write::BlockWriteOptions;
pub use block::{BlockMeta, OperationMeta};
pub use error::EngineError;
/// The `object_store` crate, for building a [`BlockStorage::Custom`] store.
pub use object_store;
pub use stats::{EngineSeries, EngineStats};

use block::{Block, BlockStore};
use head::Head;
use stats::Stats;

/// Where blocks are written.
#[derive(Clone, Default)]
pub enum BlockStorage {
    /// `<data_dir>/blocks` on the local file system (files are fsynced).
    #[default]
    Local,
    /// Any object store (S3, GCS, Azure, memory, …), used as the root of the
    /// block folders. The WAL stays on local disk either way.
    Custom(Arc<dyn object_store::ObjectStore>),
}

impl std::fmt::Debug for BlockStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlockStorage::Local => f.write_str("Local"),
            BlockStorage::Custom(store) => write!(f, "Custom({store})"),
        }
    }
}

/// The wall clock the engine reads ingest times and retention against
/// (Unix nanoseconds). [`Clock::system`] by default; tests inject their own.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(now_nanos))
    }

    /// A clock that reads `now`.
    pub fn new(now: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// The current time, Unix nanoseconds.
    pub fn now_nanos(&self) -> u64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now_nanos())
    }
}

/// Whether the engine can take writes ([`Engine::health`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineHealth {
    /// Writes can be taken now.
    pub writable: bool,
    /// The engine was closed (or is closing).
    pub closed: bool,
    /// Why it cannot write (the last write error), when it cannot.
    pub reason: Option<String>,
    /// The last attempt to cut a block failed (it is retried).
    pub cut_failing: bool,
}

/// Engine settings. [`EngineConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Root of everything the engine stores (`./spoor-data` for the binary).
    pub data_dir: PathBuf,
    /// A WAL segment is sealed and a new one started past this size.
    pub wal_segment_bytes: u64,
    /// At most this many bytes of records are committed with one fsync.
    pub wal_group_bytes: usize,
    /// Writes waiting for the WAL writer, at most.
    pub wal_queue: usize,
    /// The head is cut into a block when it holds this many (estimated) bytes…
    pub head_cut_bytes: usize,
    /// …or when its oldest span arrived this long ago.
    pub head_cut_age: Duration,
    /// Memory for recent spans (the head and heads being cut), estimated;
    /// writes beyond it are refused with a retryable `Unavailable` error.
    pub head_max_bytes: usize,
    /// How often the background task checks whether a cut is due.
    pub maintenance_interval: Duration,
    /// Where blocks go.
    pub block_storage: BlockStorage,
    /// Parquet settings for new blocks.
    pub block_write: BlockWriteOptions,
    /// Merge small blocks in the background.
    pub compaction: bool,
    /// Blocks are grouped for compaction by the window (of this length)
    /// their latest span start falls in.
    pub compaction_window: Duration,
    /// A compacted block holds at most this many spans; blocks under half of
    /// it count as small.
    pub compaction_max_spans: u64,
    /// Small blocks of one window and one level are merged once there are
    /// this many; blocks cut from the head (level 0) also once there are two
    /// and the window ended (by span time) more than `head_cut_age` ago.
    pub compaction_min_blocks: usize,
    /// A block is deleted once Spoor received its newest span longer ago
    /// than this (ingest time, by `clock`; the spans' own timestamps play no
    /// part). `None` keeps everything.
    pub retention: Option<Duration>,
    /// The wall clock for ingest times and retention.
    pub clock: Clock,
}

impl EngineConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            wal_segment_bytes: 64 << 20,
            wal_group_bytes: 8 << 20,
            wal_queue: 4096,
            head_cut_bytes: 128 << 20,
            head_cut_age: Duration::from_secs(10 * 60),
            head_max_bytes: 512 << 20,
            maintenance_interval: Duration::from_secs(1),
            block_storage: BlockStorage::Local,
            block_write: BlockWriteOptions::default(),
            compaction: true,
            compaction_window: Duration::from_secs(3_600),
            compaction_max_spans: 250_000,
            compaction_min_blocks: 4,
            retention: None,
            clock: Clock::system(),
        }
    }

    fn validate(&self) -> Result<(), EngineError> {
        if self.wal_segment_bytes < 4096 {
            return Err(EngineError::Config(
                "wal_segment_bytes must be at least 4096".into(),
            ));
        }
        if self.wal_group_bytes == 0
            || self.wal_queue == 0
            || self.head_max_bytes == 0
            || self.head_cut_bytes == 0
        {
            return Err(EngineError::Config(
                "wal_group_bytes, wal_queue, head_cut_bytes and head_max_bytes must be positive"
                    .into(),
            ));
        }
        if self.head_cut_bytes > self.head_max_bytes {
            return Err(EngineError::Config(
                "head_cut_bytes must not exceed head_max_bytes".into(),
            ));
        }
        if self.compaction_window.is_zero()
            || self.compaction_max_spans < 2
            || self.compaction_min_blocks < 2
        {
            return Err(EngineError::Config(
                "compaction_window must be positive, compaction_max_spans and \
                 compaction_min_blocks at least 2"
                    .into(),
            ));
        }
        if self.retention.is_some_and(|r| r.is_zero()) {
            return Err(EngineError::Config("retention must be positive".into()));
        }
        if self.maintenance_interval.is_zero() {
            return Err(EngineError::Config(
                "maintenance_interval must be positive".into(),
            ));
        }
        Ok(())
    }

    fn wal_dir(&self) -> PathBuf {
        self.data_dir.join("wal")
    }

    fn blocks_dir(&self) -> PathBuf {
        self.data_dir.join("blocks")
    }

    fn quarantine_dir(&self) -> PathBuf {
        self.data_dir.join(wal::QUARANTINE_DIR)
    }
}

/// A head that was frozen for cutting, with the last WAL segment it covers.
#[derive(Debug)]
struct Frozen {
    head: Head,
    wal_seq: u64,
}

/// What readers see: the heads in memory and the readable blocks.
#[derive(Debug, Default)]
struct MemState {
    /// Receives new spans.
    active: Head,
    /// When the first span of `active` arrived.
    active_since: Option<Instant>,
    /// Heads being cut, oldest first.
    frozen: Vec<Arc<Frozen>>,
    /// Readable blocks, newest first (latest span start descending, then ID).
    blocks: Vec<Arc<Block>>,
}

impl MemState {
    /// Estimated bytes of recent spans (active and frozen heads).
    fn bytes(&self) -> usize {
        self.active.bytes() + self.frozen.iter().map(|f| f.head.bytes()).sum::<usize>()
    }

    /// Every head, newest first.
    fn heads(&self) -> impl Iterator<Item = &Head> {
        std::iter::once(&self.active).chain(self.frozen.iter().rev().map(|f| &f.head))
    }

    fn insert_block(&mut self, block: Arc<Block>) {
        let key = |b: &Block| {
            (
                std::cmp::Reverse(b.meta.max_start_unix_nano),
                std::cmp::Reverse(b.meta.id.clone()),
            )
        };
        let at = self.blocks.partition_point(|b| key(b) <= key(&block));
        self.blocks.insert(at, block);
    }
}

/// State shared by the engine handle, the WAL writer thread and the
/// background maintenance task.
struct Shared {
    config: EngineConfig,
    mem: RwLock<MemState>,
    /// `mem.bytes()`, readable without the lock.
    mem_bytes: AtomicUsize,
    stats: Arc<Stats>,
    store: BlockStore,
    /// The WAL writer's queue; taken (closing the queue) when the engine closes.
    wal_tx: Mutex<Option<mpsc::Sender<wal::Request>>>,
    /// Held by whoever changes the set of blocks (cut, purge, compaction).
    maintenance: tokio::sync::Mutex<()>,
    /// Wakes the maintenance task (the head reached its cut size, or closing).
    wake: Notify,
    closing: AtomicBool,
    block_counter: AtomicU64,
    /// Blocks no longer readable (compacted or expired) whose files are
    /// deleted once no query holds them.
    graveyard: Mutex<Vec<Arc<Block>>>,
}

impl Shared {
    /// Called by the WAL writer with every durable group.
    fn apply(&self, batches: Vec<SpanBatch>) {
        let now = self.config.clock.now_nanos();
        let mut mem = self.mem.write();
        if mem.active_since.is_none() {
            mem.active_since = Some(Instant::now());
        }
        mem.active.note_ingest(now);
        let mut added = 0;
        for batch in batches {
            added += mem.active.insert_batch(batch);
        }
        let active = mem.active.bytes();
        self.mem_bytes.store(mem.bytes(), Ordering::Relaxed);
        drop(mem);
        self.stats
            .spans_written
            .fetch_add(added as u64, Ordering::Relaxed);
        if active >= self.config.head_cut_bytes {
            self.wake.notify_one();
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<wal::Request>, EngineError> {
        self.wal_tx
            .lock()
            .clone()
            .ok_or_else(|| EngineError::Closed("the engine was closed".into()))
    }

    /// Sends a request to the WAL writer and waits for its answer.
    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, EngineError>>) -> wal::Request,
    ) -> Result<T, EngineError> {
        let tx = self.sender()?;
        let (done, wait) = oneshot::channel();
        tx.send(make(done))
            .await
            .map_err(|_| EngineError::Closed("the WAL writer stopped".into()))?;
        drop(tx);
        wait.await
            .map_err(|_| EngineError::Closed("the WAL writer stopped".into()))?
    }

    /// A new, unique, time-ordered block ID.
    fn next_block_id(&self) -> (String, u64) {
        let now = now_nanos();
        let n = self.block_counter.fetch_add(1, Ordering::Relaxed);
        (format!("{now:020}-{:04}", n % 10_000), now)
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The storage engine. See the [crate documentation](crate).
pub struct Engine {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    maintenance: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Held (locked) for the engine's lifetime; released when dropped.
    _lock: File,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data_dir", &self.shared.config.data_dir)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock_data_dir(dir: &Path) -> Result<File, EngineError> {
    let path = dir.join("LOCK");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| EngineError::io("open", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(EngineError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(EngineError::io("lock", &path, e)),
    }
}

fn join_err(e: tokio::task::JoinError) -> EngineError {
    EngineError::Closed(format!("a background task failed: {e}"))
}

impl Engine {
    /// Opens (or creates) the engine in `config.data_dir`: takes the
    /// directory's lock, loads the blocks' indexes and Bloom filters, replays
    /// the WAL segments no block covers into the head (cutting blocks on the
    /// way when the head fills up), and starts the WAL writer and the
    /// background maintenance task. Must be called within a Tokio runtime.
    pub async fn open(config: EngineConfig) -> Result<Engine, EngineError> {
        config.validate()?;
        let started = Instant::now();
        let wal_dir = config.wal_dir();
        let setup = config.clone();
        let (lock, quarantined) = tokio::task::spawn_blocking(move || {
            let mut quarantined = 0;
            std::fs::create_dir_all(setup.wal_dir())
                .map_err(|e| EngineError::io("create", setup.wal_dir(), e))?;
            let lock = lock_data_dir(&setup.data_dir)?;
            if matches!(setup.block_storage, BlockStorage::Local) {
                std::fs::create_dir_all(setup.blocks_dir())
                    .map_err(|e| EngineError::io("create", setup.blocks_dir(), e))?;
                quarantined =
                    maintenance::prepare_local(&setup.blocks_dir(), &setup.quarantine_dir())?;
            }
            Ok::<_, EngineError>((lock, quarantined))
        })
        .await
        .map_err(join_err)??;
        let store: Arc<dyn object_store::ObjectStore> = match &config.block_storage {
            BlockStorage::Local => Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(config.blocks_dir())
                    .map_err(|e| EngineError::Block {
                        block: "*".into(),
                        message: format!("opening {}: {e}", config.blocks_dir().display()),
                    })?
                    .with_fsync(true)
                    .with_automatic_cleanup(true),
            ),
            BlockStorage::Custom(store) => Arc::clone(store),
        };
        let store = BlockStore::new(store);
        let stats = Arc::new(Stats::default());
        stats
            .blocks_quarantined
            .fetch_add(quarantined, Ordering::Relaxed);
        let (blocks_dir, quarantine_dir) = (config.blocks_dir(), config.quarantine_dir());
        let local = matches!(config.block_storage, BlockStorage::Local)
            .then_some((blocks_dir.as_path(), quarantine_dir.as_path()));
        let blocks = maintenance::load_blocks(&store, &stats, local).await?;
        let covered = blocks.iter().map(|b| b.meta.wal_seq).max().unwrap_or(0);
        let block_count = blocks.len();

        let shared = Arc::new(Shared {
            config: config.clone(),
            mem: RwLock::new(MemState::default()),
            mem_bytes: AtomicUsize::new(0),
            stats: Arc::clone(&stats),
            store,
            wal_tx: Mutex::new(None),
            maintenance: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            closing: AtomicBool::new(false),
            block_counter: AtomicU64::new(0),
            graveyard: Mutex::new(Vec::new()),
        });
        {
            let mut mem = shared.mem.write();
            for b in blocks {
                mem.insert_block(b);
            }
        }
        let report = maintenance::replay_wal(&shared, &wal_dir, covered).await?;

        let sink = Arc::clone(&shared);
        let next_seq = report.last_seq.max(covered) + 1;
        let writer_config = wal::WriterConfig {
            dir: wal_dir.clone(),
            next_seq,
            segment_bytes: config.wal_segment_bytes,
            group_bytes: config.wal_group_bytes,
        };
        let writer_stats = Arc::clone(&stats);
        let writer = tokio::task::spawn_blocking(move || {
            wal::Writer::new(
                writer_config,
                Box::new(move |batches| sink.apply(batches)),
                writer_stats,
            )
        })
        .await
        .map_err(join_err)?;
        let (tx, rx) = mpsc::channel(config.wal_queue);
        let thread = std::thread::Builder::new()
            .name("spoor-wal".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| EngineError::io("spawn the WAL writer for", &wal_dir, e))?;
        *shared.wal_tx.lock() = Some(tx);
        let task = tokio::spawn(maintenance::run(Arc::clone(&shared)));

        let (head_spans, head_bytes) = {
            let mem = shared.mem.read();
            (
                mem.heads().map(Head::span_count).sum::<usize>(),
                mem.bytes(),
            )
        };
        tracing::info!(
            data_dir = %config.data_dir.display(),
            blocks = block_count,
            wal_segments = report.segments,
            wal_records = report.records,
            head_spans,
            head_bytes,
            truncated_segments = report.truncated_segments,
            truncated_bytes = report.truncated_bytes,
            damaged_ranges = report.damaged_ranges,
            skipped_bytes = report.skipped_bytes,
            damaged_headers = report.damaged_headers,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "storage engine opened"
        );
        Ok(Engine {
            shared,
            writer: Mutex::new(Some(thread)),
            maintenance: Mutex::new(Some(task)),
            _lock: lock,
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

    /// Stops accepting writes, finishes the cut in progress if any, lets the
    /// WAL writer finish what it was given and waits for it. Everything
    /// acknowledged is already durable; closing only releases resources.
    /// Later writes fail with `Unavailable`.
    pub async fn close(&self) -> Result<(), EngineError> {
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
        let task = self.maintenance.lock().take();
        if let Some(task) = task {
            task.await.map_err(join_err)?;
        }
        maintenance::reap(&self.shared).await;
        drop(self.shared.wal_tx.lock().take());
        let handle = self.writer.lock().take();
        if let Some(handle) = handle {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(join_err)?
                .map_err(|_| EngineError::Closed("the WAL writer panicked".into()))?;
        }
        Ok(())
    }

    async fn write(&self, batch: SpanBatch) -> Result<(), EngineError> {
        if batch.is_empty() {
            return Ok(());
        }
        let max = self.shared.config.head_max_bytes;
        let held = self.shared.mem_bytes.load(Ordering::Relaxed);
        if held >= max {
            self.shared
                .stats
                .writes_rejected_busy
                .fetch_add(1, Ordering::Relaxed);
            self.shared.wake.notify_one();
            return Err(EngineError::Busy(format!(
                "{held} bytes of recent spans are waiting to be written to blocks (limit {max})"
            )));
        }
        let record = wal::frame_batch(&batch);
        if record.len() - wal::FRAME_LEN > wal::MAX_RECORD_BYTES {
            return Err(EngineError::Config(format!(
                "a batch of {} bytes exceeds the largest WAL record",
                record.len()
            )));
        }
        self.shared
            .request(|ack| wal::Request::Append { record, batch, ack })
            .await
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        if let Some(task) = self.maintenance.get_mut().take() {
            task.abort();
        }
        drop(self.shared.wal_tx.lock().take());
        if let Some(handle) = self.writer.get_mut().take() {
            // The writer finishes the requests it already holds, then stops.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                tracing::warn!(
                    "the WAL writer did not stop within 10 s of the engine being dropped"
                );
            }
        }
    }
}

#[async_trait]
impl SpanWriter for Engine {
    async fn write_spans(&self, batch: SpanBatch) -> Result<(), StorageError> {
        self.write(batch).await.map_err(StorageError::from)
    }
}

/// Distinct trace IDs, for internal bookkeeping.
type TraceIdSet = HashSet<spoor_model::TraceId>;
