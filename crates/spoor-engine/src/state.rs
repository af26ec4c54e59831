//! The engine's state and lifecycle: what the engine handle, the WAL
//! writer thread and the background maintenance task share (the heads in
//! memory, the readable blocks, the block store, counters), and opening
//! (lock, blocks, WAL replay, threads) and closing it.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::config::{BlockStorage, EngineConfig, EngineRole, now_nanos};
use crate::head::Head;
use crate::scan::Block;
use crate::stats::Stats;
use crate::store::BlockStore;
use crate::{EngineError, cluster, maintenance, wal};

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

/// A head that was frozen for cutting, with the last WAL segment it covers.
#[derive(Debug)]
pub(crate) struct Frozen {
    pub(crate) head: Head,
    pub(crate) wal_seq: u64,
}

/// What readers see: the heads in memory and the readable blocks.
#[derive(Debug, Default)]
pub(crate) struct MemState {
    /// Receives new spans.
    pub(crate) active: Head,
    /// When the first span of `active` arrived.
    pub(crate) active_since: Option<Instant>,
    /// Heads being cut, oldest first.
    pub(crate) frozen: Vec<Arc<Frozen>>,
    /// Readable blocks, newest first (latest span start descending, then ID).
    pub(crate) blocks: Vec<Arc<Block>>,
    /// A writer's (`EngineRole::Writer`) blocks published lately, oldest
    /// first, with when: changed with `frozen` under one lock, so a reader
    /// that saw a head without a cut's spans sees the cut's block here.
    pub(crate) recent: std::collections::VecDeque<(String, Instant)>,
}

impl MemState {
    /// Estimated bytes of recent spans (active and frozen heads).
    pub(crate) fn bytes(&self) -> usize {
        self.active.bytes() + self.frozen.iter().map(|f| f.head.bytes()).sum::<usize>()
    }

    /// Every head, newest first.
    pub(crate) fn heads(&self) -> impl Iterator<Item = &Head> {
        std::iter::once(&self.active).chain(self.frozen.iter().rev().map(|f| &f.head))
    }

    pub(crate) fn insert_block(&mut self, block: Arc<Block>) {
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
pub(crate) struct Shared {
    pub(crate) config: EngineConfig,
    pub(crate) mem: RwLock<MemState>,
    /// `mem.bytes()`, readable without the lock.
    pub(crate) mem_bytes: AtomicUsize,
    pub(crate) stats: Arc<Stats>,
    pub(crate) store: BlockStore,
    /// The WAL writer's queue; taken (closing the queue) when the engine closes.
    pub(crate) wal_tx: Mutex<Option<mpsc::Sender<wal::Request>>>,
    /// Held by whoever changes the set of blocks (cut, purge, compaction).
    pub(crate) maintenance: tokio::sync::Mutex<()>,
    /// Wakes the maintenance task (the head reached its cut size, or closing).
    pub(crate) wake: Notify,
    pub(crate) closing: AtomicBool,
    pub(crate) block_counter: AtomicU64,
    /// Blocks no longer readable (compacted or expired) whose files are
    /// deleted once no query holds them and their time has come.
    pub(crate) graveyard: Mutex<Vec<(Arc<Block>, Instant)>>,
    /// IDs of blocks that failed to load, with when (not tried again for a while).
    pub(crate) load_failures: Mutex<std::collections::HashMap<String, Instant>>,
    /// Whether this compactor holds the lease (`EngineRole::Compactor`).
    pub(crate) lease_held: AtomicBool,
    /// A writer's local store of blocks awaiting upload (`<data_dir>/pending`):
    /// a cut whose upload fails is kept there, out of memory, and its
    /// blocks are a writer's only readable blocks (`MemState::blocks`)
    /// until uploaded, oldest first. `None` for other roles.
    pub(crate) pending: Option<BlockStore>,
    /// Pending blocks already uploaded whose local copy is deleted once no
    /// query holds them.
    pub(crate) uploaded_pending: Mutex<Vec<Arc<Block>>>,
}

impl Shared {
    pub(crate) fn sender(&self) -> Result<mpsc::Sender<wal::Request>, EngineError> {
        self.wal_tx
            .lock()
            .clone()
            .ok_or_else(|| EngineError::Closed("the engine was closed".into()))
    }

    /// Sends a request to the WAL writer and waits for its answer.
    pub(crate) async fn request<T>(
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

    /// A new, unique, time-ordered block ID: `<unix nanos>-<n>`, then
    /// `-<node>` for a role that shares its store.
    pub(crate) fn next_block_id(&self) -> (String, u64) {
        let now = now_nanos();
        let n = self.block_counter.fetch_add(1, Ordering::Relaxed);
        let id = match self.config.role.node() {
            Some(node) => format!("{now:020}-{:04}-{node}", n % 10_000),
            None => format!("{now:020}-{:04}", n % 10_000),
        };
        (id, now)
    }

    /// Where this engine's readable blocks are read from: a writer's are
    /// its pending blocks on local disk, everyone else's in the block store.
    pub(crate) fn read_store(&self) -> &BlockStore {
        self.pending.as_ref().unwrap_or(&self.store)
    }

    /// Whether this engine keeps blocks it could not upload on local disk
    /// (`EngineRole::Writer`).
    pub(crate) fn spills(&self) -> bool {
        self.pending.is_some()
    }

    /// The backlog: bytes on local disk of spans acknowledged and not yet
    /// in the block store (WAL segments and pending blocks).
    pub(crate) fn backlog_bytes(&self) -> u64 {
        self.stats
            .wal_disk_bytes
            .load(Ordering::Relaxed)
            .saturating_add(self.stats.pending_bytes.load(Ordering::Relaxed))
    }

    /// Hands removed blocks to the graveyard: deleted once no query holds
    /// them, and, for a compactor, not before its delete delay.
    pub(crate) fn bury(&self, blocks: impl IntoIterator<Item = Arc<Block>>) {
        let delay = match &self.config.role {
            crate::config::EngineRole::Compactor { delete_delay, .. } => *delete_delay,
            _ => Duration::ZERO,
        };
        let when = Instant::now() + delay;
        self.graveyard
            .lock()
            .extend(blocks.into_iter().map(|b| (b, when)));
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

pub(crate) fn join_err(e: tokio::task::JoinError) -> EngineError {
    EngineError::Closed(format!("a background task failed: {e}"))
}

/// How long dropping an engine waits for the WAL writer to stop.
const DROP_WAIT: Duration = Duration::from_secs(10);

/// The WAL writer's thread, which says when it stopped.
pub(crate) struct WalThread {
    handle: std::thread::JoinHandle<()>,
    /// Disconnected (or sent to) once the writer returned.
    stopped: std::sync::mpsc::Receiver<()>,
}

impl WalThread {
    fn spawn(
        writer: wal::Writer,
        rx: mpsc::Receiver<wal::Request>,
        wal_dir: &Path,
    ) -> Result<WalThread, EngineError> {
        let (stopped_tx, stopped) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("spoor-wal".into())
            .spawn(move || {
                writer.run(rx);
                let _ = stopped_tx.send(());
            })
            .map_err(|e| EngineError::io("spawn the WAL writer for", wal_dir, e))?;
        Ok(WalThread { handle, stopped })
    }

    /// Waits for the writer to stop (it finishes the requests it holds).
    fn join(self) -> std::thread::Result<()> {
        self.handle.join()
    }

    /// Waits at most `limit` for the writer to stop; false when it did not.
    fn join_within(self, limit: Duration) -> bool {
        match self.stopped.recv_timeout(limit) {
            // Sent when the writer returned; disconnected when it panicked.
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = self.handle.join();
                true
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => false,
        }
    }
}

/// An open engine's running parts: its shared state, the WAL writer
/// thread, the maintenance task and the data directory's lock. Dropping it
/// stops them (waiting at most 10 s for the writer).
pub(crate) struct Lifecycle {
    pub(crate) shared: Arc<Shared>,
    writer: Mutex<Option<WalThread>>,
    maintenance: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Held (locked) for the engine's lifetime; released when dropped.
    _lock: File,
}

impl Lifecycle {
    /// Opens (or creates) the engine in `config.data_dir`: takes the
    /// directory's lock, loads the blocks' indexes and Bloom filters, replays
    /// the WAL segments no block covers into the head (cutting blocks on the
    /// way when the head fills up), and starts the WAL writer and the
    /// background maintenance task. Must be called within a Tokio runtime.
    pub(crate) async fn open(config: EngineConfig) -> Result<Lifecycle, EngineError> {
        config.validate()?;
        let started = Instant::now();
        let wal_dir = config.wal_dir();
        let setup = config.clone();
        let (lock, quarantined) = tokio::task::spawn_blocking(move || {
            let mut quarantined = 0;
            std::fs::create_dir_all(setup.wal_dir())
                .map_err(|e| EngineError::io("create", setup.wal_dir(), e))?;
            let lock = lock_data_dir(&setup.data_dir)?;
            if setup.local_blocks() {
                std::fs::create_dir_all(setup.blocks_dir())
                    .map_err(|e| EngineError::io("create", setup.blocks_dir(), e))?;
            }
            // Only the owner of a block folder tidies it (others share it).
            if setup.local_blocks() && setup.role == EngineRole::Owner {
                quarantined =
                    maintenance::prepare_local(&setup.blocks_dir(), &setup.quarantine_dir())?;
            }
            if matches!(setup.role, EngineRole::Writer { .. }) {
                maintenance::prepare_pending(&setup.pending_dir())?;
            }
            Ok::<_, EngineError>((lock, quarantined))
        })
        .await
        .map_err(join_err)??;
        let store: Arc<dyn object_store::ObjectStore> = match &config.block_storage {
            BlockStorage::Local | BlockStorage::Dir(_) => Arc::new(
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
        let store = BlockStore::new(store)
            .with_cache(config.read_cache_bytes)
            .with_disk_cache(
                config.read_cache_dir.as_deref(),
                config.read_cache_disk_bytes,
            )?;
        let pending = match config.role {
            EngineRole::Writer { .. } => Some(BlockStore::new(Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(config.pending_dir())
                    .map_err(|e| EngineError::Block {
                        block: "*".into(),
                        message: format!("opening {}: {e}", config.pending_dir().display()),
                    })?
                    .with_fsync(true)
                    .with_automatic_cleanup(true),
            ))),
            _ => None,
        };
        let stats = Arc::new(Stats::default());
        stats
            .blocks_quarantined
            .fetch_add(quarantined, Ordering::Relaxed);
        let (blocks_dir, quarantine_dir) = (config.blocks_dir(), config.quarantine_dir());
        let local = config
            .local_blocks()
            .then_some((blocks_dir.as_path(), quarantine_dir.as_path()));
        let (blocks, covered) = match &config.role {
            EngineRole::Owner => {
                let blocks = maintenance::load_blocks(&store, &stats, local).await?;
                let covered = blocks.iter().map(|b| b.meta.wal_seq).max().unwrap_or(0);
                (blocks, covered)
            }
            // A writer reads no block back: what its blocks cover is recorded locally.
            EngineRole::Writer { .. } => (Vec::new(), cluster::read_uploaded(&config.data_dir)?),
            // Readers and compactors list the store below, deleting nothing.
            EngineRole::Reader { .. } | EngineRole::Compactor { .. } => (Vec::new(), 0),
        };

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
            load_failures: Mutex::new(std::collections::HashMap::new()),
            lease_held: AtomicBool::new(false),
            pending,
            uploaded_pending: Mutex::new(Vec::new()),
        });
        {
            let mut mem = shared.mem.write();
            for b in blocks {
                mem.insert_block(b);
            }
        }
        if config.role.refresh().is_some() {
            cluster::refresh(&shared).await?;
        }
        // The owner's blocks, or what a reader's or compactor's listing loaded.
        let block_count = shared.mem.read().blocks.len();
        let report = maintenance::replay_wal(&shared, &wal_dir, covered).await?;
        // What the replay left on disk is the backlog the writer starts from.
        let dir = wal_dir.clone();
        let wal_bytes = tokio::task::spawn_blocking(move || wal::segments_bytes(&dir))
            .await
            .map_err(join_err)??;
        stats.wal_disk_bytes.store(wal_bytes, Ordering::Relaxed);

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
        let thread = WalThread::spawn(writer, rx, &wal_dir)?;
        *shared.wal_tx.lock() = Some(tx);
        let task = tokio::spawn(maintenance::run(Arc::clone(&shared)));

        let (head_spans, head_bytes, pending_blocks) = {
            let mem = shared.mem.read();
            (
                mem.heads().map(Head::span_count).sum::<usize>(),
                mem.bytes(),
                if shared.spills() { mem.blocks.len() } else { 0 },
            )
        };
        tracing::info!(
            data_dir = %config.data_dir.display(),
            blocks = block_count,
            wal_segments = report.segments,
            wal_records = report.records,
            head_spans,
            head_bytes,
            wal_bytes,
            pending_blocks,
            truncated_segments = report.truncated_segments,
            truncated_bytes = report.truncated_bytes,
            damaged_ranges = report.damaged_ranges,
            skipped_bytes = report.skipped_bytes,
            damaged_headers = report.damaged_headers,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "storage engine opened"
        );
        Ok(Lifecycle {
            shared,
            writer: Mutex::new(Some(thread)),
            maintenance: Mutex::new(Some(task)),
            _lock: lock,
        })
    }

    /// Stops accepting writes, finishes the cut in progress if any, lets the
    /// WAL writer finish what it was given and waits for it. Everything
    /// acknowledged is already durable; closing only releases resources.
    /// Later writes fail with `Unavailable`.
    pub(crate) async fn close(&self) -> Result<(), EngineError> {
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
        let task = self.maintenance.lock().take();
        if let Some(task) = task {
            task.await.map_err(join_err)?;
        }
        cluster::release_lease(&self.shared).await;
        maintenance::reap(&self.shared).await;
        drop(self.shared.wal_tx.lock().take());
        let handle = self.writer.lock().take();
        if let Some(thread) = handle {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(join_err)?
                .map_err(|_| EngineError::Closed("the WAL writer panicked".into()))?;
        }
        Ok(())
    }
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        if let Some(task) = self.maintenance.get_mut().take() {
            task.abort();
        }
        drop(self.shared.wal_tx.lock().take());
        // The writer finishes the requests it already holds, then stops.
        if let Some(thread) = self.writer.get_mut().take()
            && !thread.join_within(DROP_WAIT)
        {
            tracing::warn!("the WAL writer did not stop within 10 s of the engine being dropped");
        }
    }
}
