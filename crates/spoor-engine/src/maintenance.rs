//! Work that changes the set of blocks: loading them at open, replaying the
//! WAL, cutting the head into blocks, compacting small blocks, deleting
//! expired ones, and the background task that decides when. Everything that
//! changes the set of blocks holds `Shared::maintenance`, so only one of
//! these runs at a time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use spoor_model::SpanRecord;

use crate::EngineError;
use crate::block::write::{BlockIdentity, BuiltBlock, build_block};
use crate::config::{EngineRole, now_nanos};
use crate::head::Head;
use crate::reader::TraceMerger;
use crate::scan::Block;
use crate::state::{Frozen, Shared, join_err};
use crate::stats::Stats;
use crate::store::BlockStore;
use crate::wal::{self, ReplayReport};

/// Incomplete blocks in a shared (non-local) store are only removed once
/// they are this old, in case another process is still writing them.
pub(crate) const INCOMPLETE_GRACE: Duration = Duration::from_secs(3_600);

/// The creation time encoded in a block ID (`<unix nanos>-<n>`).
pub(crate) fn block_created(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

/// Moves a damaged local block folder into `quarantine` (created if needed),
/// never deleting it; returns where it went.
pub(crate) fn quarantine_local(
    block_dir: &Path,
    quarantine: &Path,
) -> Result<std::path::PathBuf, EngineError> {
    std::fs::create_dir_all(quarantine).map_err(|e| EngineError::io("create", quarantine, e))?;
    let name = block_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "block".into());
    let mut target = quarantine.join(&name);
    let mut n = 1;
    while target.exists() {
        target = quarantine.join(format!("{name}.{n}"));
        n += 1;
    }
    std::fs::rename(block_dir, &target).map_err(|e| EngineError::io("quarantine", block_dir, e))?;
    Ok(target)
}

/// Sorts out the folders of a local block root before the blocks are
/// loaded. A folder with `meta.json` is a block (a leftover `WRITING` marker
/// is removed: the write had finished). A folder with the `WRITING` marker
/// and no `meta.json` is a cut or compaction interrupted by a crash, proven
/// incomplete by the write protocol: it is removed, as is an empty folder.
/// Any other folder without `meta.json` is a damaged block: it is moved to
/// `quarantine`, logged, and counted in the returned number; never deleted.
pub(crate) fn prepare_local(root: &Path, quarantine: &Path) -> Result<u64, EngineError> {
    use crate::block::files;
    let entries = std::fs::read_dir(root).map_err(|e| EngineError::io("list", root, e))?;
    let mut quarantined = 0;
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io("list", root, e))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let marker = path.join(files::WRITING);
        if path.join(files::META).exists() {
            if marker.exists() {
                std::fs::remove_file(&marker).map_err(|e| EngineError::io("remove", &marker, e))?;
            }
            continue;
        }
        // The object store stages each file as `<name>#<n>` before renaming
        // it; a folder holding nothing else never got past its marker.
        let mut holds_data = false;
        for e in std::fs::read_dir(&path).map_err(|e| EngineError::io("list", &path, e))? {
            let e = e.map_err(|e| EngineError::io("list", &path, e))?;
            if !e.file_name().to_string_lossy().contains('#') {
                holds_data = true;
            }
        }
        if marker.exists() || !holds_data {
            tracing::warn!(block = %path.display(), "removing an incomplete block (its write never finished)");
            std::fs::remove_dir_all(&path).map_err(|e| EngineError::io("remove", &path, e))?;
            continue;
        }
        let to = quarantine_local(&path, quarantine)?;
        tracing::error!(
            block = %path.display(),
            quarantine = %to.display(),
            "a block has no meta.json although its write finished; moved it to quarantine"
        );
        quarantined += 1;
    }
    Ok(quarantined)
}

/// Empties a writer's folder of blocks awaiting upload when it opens: their
/// spans are still in the WAL segments after `UPLOADED` (deleted only once a
/// block covering them is in the store), so the replay cuts them again.
pub(crate) fn prepare_pending(dir: &Path) -> Result<(), EngineError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let blocks = entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .count();
            std::fs::remove_dir_all(dir).map_err(|e| EngineError::io("remove", dir, e))?;
            if blocks > 0 {
                tracing::warn!(
                    blocks,
                    dir = %dir.display(),
                    "discarding the blocks that awaited upload at the last stop; the WAL replay \
                     cuts their spans again"
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(EngineError::io("list", dir, e)),
    }
    std::fs::create_dir_all(dir).map_err(|e| EngineError::io("create", dir, e))
}

/// Sets a damaged block aside: moved to `quarantine` for a local store,
/// left in place (and skipped) otherwise; logged and counted either way.
async fn set_aside(
    id: &str,
    why: &str,
    quarantine: Option<&Path>,
    root: Option<&Path>,
    stats: &Stats,
) {
    stats.blocks_quarantined.fetch_add(1, Ordering::Relaxed);
    if let (Some(quarantine), Some(root)) = (quarantine, root) {
        let (dir, q) = (root.join(id), quarantine.to_path_buf());
        match tokio::task::spawn_blocking(move || quarantine_local(&dir, &q)).await {
            Ok(Ok(to)) => {
                tracing::error!(block = %id, reason = why, quarantine = %to.display(), "a block is damaged; moved it to quarantine");
                return;
            }
            Ok(Err(e)) => {
                tracing::error!(block = %id, error = %e, "cannot move a damaged block to quarantine")
            }
            Err(e) => {
                tracing::error!(block = %id, error = %e, "cannot move a damaged block to quarantine")
            }
        }
    }
    tracing::error!(block = %id, reason = why, "a block is damaged; skipping it (left in place)");
}

/// Skips a block that cannot be read now for a reason that is not proven
/// damage (a newer format, an I/O error); it stays in place for the next start.
fn skip_unreadable(id: &str, e: &EngineError, stats: &Stats) {
    tracing::error!(block = %id, error = %e, "cannot read a block; skipping it (left in place)");
    stats.blocks_unreadable.fetch_add(1, Ordering::Relaxed);
}

/// Loads every complete block of the store. With a local store (`local`:
/// the blocks root and the quarantine folder) damaged blocks (unreadable
/// `meta.json`, damaged index, Bloom filter or edges) are moved to
/// quarantine; in other stores they are left in place and skipped. A folder
/// without `meta.json` in another store is removed only when it holds the
/// `WRITING` marker and is older than an hour (another process may still
/// be writing it). Blocks replaced by a compacted block are deleted. Blocks
/// of a newer format, or that fail to read for a reason that is not proven
/// damage (an I/O error), are left in place and counted as unreadable.
pub(crate) async fn load_blocks(
    store: &BlockStore,
    stats: &Stats,
    local: Option<(&Path, &Path)>,
) -> Result<Vec<Arc<Block>>, EngineError> {
    let (root, quarantine) = (local.map(|l| l.0), local.map(|l| l.1));
    let mut metas = Vec::new();
    for id in store.list_blocks().await? {
        match store.read_meta(&id).await {
            Ok(Some(meta)) => metas.push(meta),
            Ok(None) => {
                if !store.has_marker(&id).await.unwrap_or(false) {
                    set_aside(&id, "no meta.json", quarantine, root, stats).await;
                    continue;
                }
                stats.blocks_incomplete.fetch_add(1, Ordering::Relaxed);
                let old = block_created(&id).is_some_and(|t| {
                    now_nanos().saturating_sub(t) > INCOMPLETE_GRACE.as_nanos() as u64
                });
                if local.is_some() || old {
                    tracing::warn!(block = %id, "removing an incomplete block (its write never finished)");
                    if let Err(e) = store.delete_block(&id).await {
                        tracing::warn!(block = %id, error = %e, "cannot remove an incomplete block");
                    }
                } else {
                    tracing::warn!(
                        block = %id,
                        "ignoring an incomplete block (WRITING marker, no meta.json): its upload \
                         never finished or is still running elsewhere; removed once an hour old"
                    );
                }
            }
            Err(e @ EngineError::Damaged { .. }) => {
                set_aside(&id, &e.to_string(), quarantine, root, stats).await;
            }
            // A newer format, or an I/O error that may pass: never moved.
            Err(e) => skip_unreadable(&id, &e, stats),
        }
    }
    let mut loaded = Vec::with_capacity(metas.len());
    for meta in metas {
        let id = meta.id.clone();
        match Block::load(store, meta).await {
            Ok(block) => loaded.push(Arc::new(block)),
            Err(e @ EngineError::Damaged { .. }) => {
                set_aside(&id, &e.to_string(), quarantine, root, stats).await;
            }
            Err(e) => skip_unreadable(&id, &e, stats),
        }
    }
    // A compacted block supersedes its sources once it is readable; sources
    // still present mean compaction stopped before deleting them.
    let replaced: HashSet<String> = loaded
        .iter()
        .flat_map(|b| b.meta.replaces.iter().cloned())
        .collect();
    let mut blocks = Vec::with_capacity(loaded.len());
    for block in loaded {
        if replaced.contains(&block.meta.id) {
            tracing::info!(block = %block.meta.id, "removing a block already replaced by compaction");
            if let Err(e) = store.delete_block(&block.meta.id).await {
                tracing::warn!(block = %block.meta.id, error = %e, "cannot remove a replaced block");
            }
            continue;
        }
        blocks.push(block);
    }
    Ok(blocks)
}

/// Replays the WAL segments after `covered` into the head, cutting a block
/// whenever the head reaches its cut size, and deletes segments a block
/// already covers.
pub(crate) async fn replay_wal(
    shared: &Arc<Shared>,
    wal_dir: &Path,
    covered: u64,
) -> Result<ReplayReport, EngineError> {
    let dir = wal_dir.to_path_buf();
    let segments = tokio::task::spawn_blocking(move || wal::list_segments(&dir))
        .await
        .map_err(join_err)??;
    let mut report = ReplayReport::default();
    let mut head = Head::default();
    let newest = segments.last().map(|(seq, _)| *seq);
    let quarantine = shared.config.quarantine_dir();
    for (seq, path) in segments {
        if seq <= covered {
            std::fs::remove_file(&path).map_err(|e| EngineError::io("remove", &path, e))?;
            continue;
        }
        let stats = Arc::clone(&shared.stats);
        let now = shared.config.clock.now_nanos();
        let quarantine = quarantine.clone();
        let is_newest = Some(seq) == newest;
        let (h, r) = tokio::task::spawn_blocking(move || {
            let mut report = report;
            let mut head = head;
            // The segment was last appended to at its modification time: no
            // record in it arrived later (and none after now).
            let received = segment_written(&path).map_or(now, |t| t.min(now));
            let before = head.span_count();
            wal::replay_segment(
                seq,
                &path,
                is_newest,
                &quarantine,
                &stats,
                &mut report,
                |batch| {
                    head.insert_batch(batch);
                },
            )?;
            if head.span_count() > before {
                head.note_ingest(received);
            }
            Ok::<_, EngineError>((head, report))
        })
        .await
        .map_err(join_err)??;
        head = h;
        report = r;
        if head.bytes() >= shared.config.head_cut_bytes {
            let frozen = Arc::new(Frozen {
                head: std::mem::take(&mut head),
                wal_seq: seq,
            });
            publish(shared, frozen).await;
        }
    }
    let mut mem = shared.mem.write();
    if head.span_count() > 0 {
        mem.active_since = Some(Instant::now());
    }
    mem.active = head;
    shared.mem_bytes.store(mem.bytes(), Ordering::Relaxed);
    Ok(report)
}

/// When a file was last modified, Unix nanoseconds.
fn segment_written(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_nanos()).ok()
}

/// Cuts `frozen` into a block during open (uploaded, or for a writer whose
/// store fails kept in `<data_dir>/pending`); on failure keeps it in memory
/// for the background task to retry.
async fn publish(shared: &Arc<Shared>, frozen: Arc<Frozen>) {
    match store_frozen(shared, &frozen, false).await {
        Ok(Stored::Uploaded) | Ok(Stored::Spilled(None)) => {}
        Ok(Stored::Spilled(Some(_))) => {
            shared.stats.cut_errors.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot cut a block while replaying the WAL; keeping the spans in memory");
            shared.stats.cut_errors.fetch_add(1, Ordering::Relaxed);
            let mut mem = shared.mem.write();
            mem.frozen.push(frozen);
            shared.mem_bytes.store(mem.bytes(), Ordering::Relaxed);
        }
    }
}

/// Makes a block just cut readable: in the engine's blocks, or, for a
/// writer that reads no block back, in its list of recent blocks.
fn add_cut_block(mem: &mut crate::state::MemState, shared: &Shared, block: Arc<Block>) {
    match shared.config.role {
        EngineRole::Writer { .. } => mem
            .recent
            .push_back((block.meta.id.clone(), Instant::now())),
        _ => mem.insert_block(block),
    }
}

/// The WAL segments through `seq` are in blocks: a writer records that
/// (it reads no block back to learn it), then they are deleted.
async fn covered_by_blocks(shared: &Shared, seq: u64) {
    if matches!(shared.config.role, EngineRole::Writer { .. }) {
        let dir = shared.config.data_dir.clone();
        let written =
            tokio::task::spawn_blocking(move || crate::cluster::write_uploaded(&dir, seq))
                .await
                .map_err(join_err)
                .and_then(|r| r);
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot record the uploaded WAL segments; keeping them");
            return;
        }
    }
    delete_wal_through(shared, seq).await;
}

async fn delete_wal_through(shared: &Shared, seq: u64) {
    let dir = shared.config.wal_dir();
    match tokio::task::spawn_blocking(move || wal::delete_segments_counted(&dir, seq)).await {
        Ok(Ok((_, bytes))) => {
            let _ = shared.stats.wal_disk_bytes.fetch_update(
                Ordering::Relaxed,
                Ordering::Relaxed,
                |held| Some(held.saturating_sub(bytes)),
            );
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot delete WAL segments covered by a block"),
        Err(e) => tracing::warn!(error = %e, "cannot delete WAL segments covered by a block"),
    }
}

/// Builds a block from a frozen head (in memory, not stored yet).
async fn build_head_block(
    shared: &Arc<Shared>,
    frozen: &Arc<Frozen>,
) -> Result<BuiltBlock, EngineError> {
    let (id, created) = shared.next_block_id();
    let identity = BlockIdentity {
        id: id.clone(),
        created_unix_nano: created,
        level: 0,
        wal_seq: frozen.wal_seq,
        replaces: Vec::new(),
        ingest: frozen.head.ingest_range(),
    };
    let options = shared.config.block_write;
    let source = Arc::clone(frozen);
    tokio::task::spawn_blocking(move || {
        let mut spans: Vec<&SpanRecord> = source
            .head
            .traces()
            .flat_map(|(_, t)| t.spans.iter())
            .collect();
        build_block(&mut spans, identity, &options)
    })
    .await
    .map_err(join_err)?
    .map_err(|message| EngineError::Block { block: id, message })
}

fn files_bytes(files: &[(&'static str, bytes::Bytes)]) -> u64 {
    files.iter().map(|(_, b)| b.len() as u64).sum()
}

fn readable(built: BuiltBlock) -> Arc<Block> {
    Arc::new(Block::new(
        built.meta,
        built.index,
        built.bloom,
        built.edges,
    ))
}

/// Where a frozen head's block went.
enum Stored {
    /// Into the block store: readable (or, for a writer, named as recent)
    /// and the WAL segments it covers deleted.
    Uploaded,
    /// Into a writer's `<data_dir>/pending`, with the upload error that sent
    /// it there (`None`: older pending blocks go first).
    Spilled(Option<EngineError>),
}

/// Whether a writer holds blocks not yet uploaded.
fn has_pending(shared: &Shared) -> bool {
    shared.spills() && !shared.mem.read().blocks.is_empty()
}

/// Cuts `frozen` into a block and stores it: uploaded to the block store;
/// or, for a writer, kept in `<data_dir>/pending` when the upload fails, when
/// `spill` says an upload just failed, or while older pending blocks wait
/// (blocks reach the store in WAL order, so `UPLOADED` only moves forward).
/// Either way `frozen` leaves memory under the lock that makes its block
/// readable. Another role's failed upload is an error: `frozen` stays.
async fn store_frozen(
    shared: &Arc<Shared>,
    frozen: &Arc<Frozen>,
    spill: bool,
) -> Result<Stored, EngineError> {
    let started = Instant::now();
    let built = build_head_block(shared, frozen).await?;
    let failed = if spill || has_pending(shared) {
        None
    } else {
        match shared.store.upload(&built.meta, &built.files).await {
            Ok(()) => {
                let (id, spans, traces) =
                    (built.meta.id.clone(), built.meta.spans, built.meta.traces);
                let bytes = files_bytes(&built.files);
                {
                    let mut mem = shared.mem.write();
                    mem.frozen.retain(|f| !Arc::ptr_eq(f, frozen));
                    add_cut_block(&mut mem, shared, readable(built));
                    shared.mem_bytes.store(mem.bytes(), Ordering::Relaxed);
                }
                shared.stats.blocks_cut.fetch_add(1, Ordering::Relaxed);
                covered_by_blocks(shared, frozen.wal_seq).await;
                tracing::info!(
                    block = %id,
                    spans,
                    traces,
                    bytes,
                    bytes_per_span = bytes as f64 / spans.max(1) as f64,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "cut a block"
                );
                return Ok(Stored::Uploaded);
            }
            Err(e) if shared.spills() => Some(e),
            Err(e) => return Err(e),
        }
    };
    spill_block(shared, frozen, built, failed.as_ref()).await?;
    Ok(Stored::Spilled(failed))
}

/// Keeps a writer's block in `<data_dir>/pending` (same write protocol as the
/// store: marker, files, `meta.json`; fsynced), and makes it readable in
/// place of `frozen`, whose memory is freed. The WAL segments it covers stay
/// until it is uploaded.
async fn spill_block(
    shared: &Arc<Shared>,
    frozen: &Arc<Frozen>,
    built: BuiltBlock,
    why: Option<&EngineError>,
) -> Result<(), EngineError> {
    let Some(pending) = &shared.pending else {
        return Err(EngineError::Config(
            "only a writer keeps blocks it could not upload".into(),
        ));
    };
    pending.upload(&built.meta, &built.files).await?;
    let bytes = files_bytes(&built.files);
    let (id, spans) = (built.meta.id.clone(), built.meta.spans);
    let pending_blocks = {
        let mut mem = shared.mem.write();
        mem.frozen.retain(|f| !Arc::ptr_eq(f, frozen));
        mem.insert_block(readable(built));
        shared.mem_bytes.store(mem.bytes(), Ordering::Relaxed);
        mem.blocks.len()
    };
    shared
        .stats
        .pending_bytes
        .fetch_add(bytes, Ordering::Relaxed);
    shared.stats.blocks_spilled.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        block = %id,
        spans,
        bytes,
        pending_blocks,
        backlog_bytes = shared.backlog_bytes(),
        backlog_max_bytes = shared.config.backlog_max_bytes,
        error = why.map(|e| e.to_string()).unwrap_or_else(|| "older blocks wait for their upload".into()),
        "keeping a block on local disk until the block store takes it"
    );
    Ok(())
}

/// Uploads a writer's pending blocks, oldest (by WAL segment) first, until
/// one fails; returns how many went. Each is uploaded under a fresh ID: its
/// upload starts now, and the one-hour grace the compactor gives an
/// unfinished upload counts from the time in the ID. Once uploaded, a block
/// moves from the readable blocks to the recent list under one lock (as a
/// cut does), the WAL segments it covers are recorded and deleted, and its
/// local copy is deleted once no query holds it.
async fn upload_pending(shared: &Arc<Shared>) -> Result<usize, EngineError> {
    let Some(pending) = &shared.pending else {
        return Ok(0);
    };
    let mut uploaded = 0;
    loop {
        let oldest = {
            let mem = shared.mem.read();
            mem.blocks
                .iter()
                .min_by(|a, b| (a.meta.wal_seq, &a.meta.id).cmp(&(b.meta.wal_seq, &b.meta.id)))
                .cloned()
        };
        let Some(block) = oldest else {
            break;
        };
        let started = Instant::now();
        let mut files = Vec::with_capacity(crate::block::files::DATA.len());
        for name in crate::block::files::DATA {
            if block.meta.checksums.contains_key(name) {
                files.push((name, pending.get_verified(&block.meta, name).await?));
            }
        }
        let mut meta = block.meta.clone();
        (meta.id, meta.created_unix_nano) = shared.next_block_id();
        shared.store.upload(&meta, &files).await?;
        let bytes = files_bytes(&files);
        let left = {
            let mut mem = shared.mem.write();
            mem.blocks.retain(|b| !Arc::ptr_eq(b, &block));
            mem.recent.push_back((meta.id.clone(), Instant::now()));
            mem.blocks.len()
        };
        let _ =
            shared
                .stats
                .pending_bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                    Some(held.saturating_sub(bytes))
                });
        shared.stats.blocks_cut.fetch_add(1, Ordering::Relaxed);
        covered_by_blocks(shared, meta.wal_seq).await;
        tracing::info!(
            block = %meta.id,
            kept_as = %block.meta.id,
            spans = meta.spans,
            bytes,
            pending_blocks = left,
            backlog_bytes = shared.backlog_bytes(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "uploaded a block kept on local disk"
        );
        shared.uploaded_pending.lock().push(block);
        uploaded += 1;
    }
    Ok(uploaded)
}

/// Moves the active head aside for cutting; runs on the WAL writer thread
/// right after segment `sealed` was sealed.
fn freeze(shared: &Shared, sealed: u64) {
    let mut mem = shared.mem.write();
    let head = std::mem::take(&mut mem.active);
    mem.active_since = None;
    if head.span_count() > 0 {
        mem.frozen.push(Arc::new(Frozen {
            head,
            wal_seq: sealed,
        }));
    }
}

/// Cuts the active head (if it holds anything) and every frozen head into
/// blocks, oldest first, after uploading a writer's pending blocks; returns
/// how many blocks reached the store. When the store fails, a writer keeps
/// the blocks it could not upload on local disk (freeing their memory) and
/// the error is returned (the cut is retried); other roles keep the frozen
/// heads in memory.
pub(crate) async fn cut(shared: &Arc<Shared>) -> Result<usize, EngineError> {
    let _guard = shared.maintenance.lock().await;
    if shared.mem.read().active.span_count() > 0 {
        let target = Arc::clone(shared);
        shared
            .request(|done| wal::Request::Rotate {
                then: Box::new(move |sealed| freeze(&target, sealed)),
                done,
            })
            .await?;
    }
    let mut written = 0;
    let mut failed = match upload_pending(shared).await {
        Ok(n) => {
            written += n;
            None
        }
        Err(e) => Some(e),
    };
    loop {
        let Some(frozen) = shared.mem.read().frozen.first().cloned() else {
            break;
        };
        match store_frozen(shared, &frozen, failed.is_some()).await? {
            Stored::Uploaded => written += 1,
            Stored::Spilled(Some(e)) => failed = Some(e),
            Stored::Spilled(None) => {}
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(written),
    }
}

/// Picks the blocks of one compaction. Small blocks are grouped by the
/// window their latest span start falls in and by level; a group is due when
/// it holds `compaction_min_blocks` blocks, or, for blocks cut from the head
/// (level 0), two once the window has closed. Merging only blocks of one
/// level keeps rewriting logarithmic. The oldest due group is compacted: as
/// many of its blocks (oldest first, at least two) as fit in
/// `compaction_max_spans`. With `force`, any group of two is due.
fn compaction_plan(shared: &Shared, force: bool) -> Option<Vec<Arc<Block>>> {
    let config = &shared.config;
    let window = config.compaction_window.as_nanos().max(1) as u64;
    let small = config.compaction_max_spans / 2;
    let settled = now_nanos().saturating_sub(config.head_cut_age.as_nanos() as u64);
    let mut groups: BTreeMap<(u64, u32), Vec<Arc<Block>>> = BTreeMap::new();
    for b in &shared.mem.read().blocks {
        if b.meta.spans < small && b.damaged().is_none() {
            groups
                .entry((b.meta.max_start_unix_nano / window, b.meta.level))
                .or_default()
                .push(Arc::clone(b));
        }
    }
    for ((w, level), mut blocks) in groups {
        let closed = (w + 1).saturating_mul(window) < settled;
        let due = force || blocks.len() >= config.compaction_min_blocks || (closed && level == 0);
        if blocks.len() < 2 || !due {
            continue;
        }
        blocks.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
        let mut total = 0;
        let picked: Vec<Arc<Block>> = blocks
            .into_iter()
            .take_while(|b| {
                total += b.meta.spans;
                total <= config.compaction_max_spans
            })
            .collect();
        if picked.len() >= 2 {
            return Some(picked);
        }
    }
    None
}

/// Says that a compaction runs (`spoor_engine_compaction_running`, and its
/// sources' spans) from its start until it is dropped, however it ends.
struct CompactionRunning<'a>(&'a Stats);

impl<'a> CompactionRunning<'a> {
    fn start(stats: &'a Stats, source_spans: u64) -> Self {
        stats
            .compaction_source_spans
            .store(source_spans, Ordering::Relaxed);
        stats.compaction_running.store(true, Ordering::Relaxed);
        CompactionRunning(stats)
    }
}

impl Drop for CompactionRunning<'_> {
    fn drop(&mut self) {
        self.0.compaction_running.store(false, Ordering::Relaxed);
        self.0.compaction_source_spans.store(0, Ordering::Relaxed);
    }
}

/// Compacts one group of small blocks into one block, if a group is due
/// (or, with `force`, if any window holds two small blocks). Returns
/// whether a block was written.
pub(crate) async fn compact_once(shared: &Arc<Shared>, force: bool) -> Result<bool, EngineError> {
    let _guard = shared.maintenance.lock().await;
    let Some(sources) = compaction_plan(shared, force) else {
        return Ok(false);
    };
    let started = Instant::now();
    let source_spans: u64 = sources.iter().map(|b| b.meta.spans).sum();
    let _running = CompactionRunning::start(&shared.stats, source_spans);
    tracing::info!(
        sources = sources.len(),
        spans = source_spans,
        level = sources.iter().map(|b| b.meta.level).max().unwrap_or(0) + 1,
        oldest = %sources.first().map(|b| b.meta.id.as_str()).unwrap_or(""),
        newest = %sources.last().map(|b| b.meta.id.as_str()).unwrap_or(""),
        "compacting blocks"
    );
    // Merge every piece of every trace, identical spans once.
    let mut traces: HashMap<spoor_model::TraceId, TraceMerger> = HashMap::new();
    for block in &sources {
        let records = match block.all_spans(&shared.store, &shared.config.cpu).await {
            Ok(records) => records,
            Err(e) => {
                // A damaged source is left out of later compactions.
                if let EngineError::Damaged { message, .. } = &e
                    && block.mark_damaged(message.clone())
                {
                    shared.stats.blocks_damaged.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(block = %block.id(), error = %e, "a block is damaged; skipping it in every read");
                }
                return Err(e);
            }
        };
        for record in records {
            traces
                .entry(record.span.trace_id)
                .or_default()
                .extend([record]);
        }
    }
    let spans: Vec<SpanRecord> = traces.into_values().flat_map(TraceMerger::finish).collect();
    let (id, created) = shared.next_block_id();
    let identity = BlockIdentity {
        id: id.clone(),
        created_unix_nano: created,
        level: sources.iter().map(|b| b.meta.level).max().unwrap_or(0) + 1,
        wal_seq: sources.iter().map(|b| b.meta.wal_seq).max().unwrap_or(0),
        replaces: sources.iter().map(|b| b.meta.id.clone()).collect(),
        ingest: Some((
            sources
                .iter()
                .map(|b| b.meta.oldest_ingest_unix_nano())
                .min()
                .unwrap_or(0),
            sources
                .iter()
                .map(|b| b.meta.newest_ingest_unix_nano())
                .max()
                .unwrap_or(0),
        )),
    };
    let options = shared.config.block_write;
    let built = tokio::task::spawn_blocking(move || {
        let mut refs: Vec<&SpanRecord> = spans.iter().collect();
        build_block(&mut refs, identity, &options)
    })
    .await
    .map_err(join_err)?
    .map_err(|message| EngineError::Block {
        block: id.clone(),
        message,
    })?;
    shared.store.upload(&built.meta, &built.files).await?;
    let block = Arc::new(Block::new(
        built.meta,
        built.index,
        built.bloom,
        built.edges,
    ));
    {
        let mut mem = shared.mem.write();
        mem.blocks
            .retain(|b| !sources.iter().any(|s| Arc::ptr_eq(s, b)));
        mem.insert_block(Arc::clone(&block));
    }
    shared.bury(sources.iter().cloned());
    shared
        .stats
        .blocks_compacted
        .fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        block = %id,
        sources = sources.len(),
        spans = block.meta.spans,
        level = block.meta.level,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "compacted blocks"
    );
    Ok(true)
}

/// Removes blocks whose newest span was received (ingest time) before the
/// retention; the spans' own timestamps play no part. Returns how many.
pub(crate) async fn expire(shared: &Arc<Shared>) -> Result<usize, EngineError> {
    let Some(retention) = shared.config.retention else {
        return Ok(0);
    };
    let _guard = shared.maintenance.lock().await;
    let cutoff = shared
        .config
        .clock
        .now_nanos()
        .saturating_sub(retention.as_nanos() as u64);
    let expired: Vec<Arc<Block>> = {
        let mut mem = shared.mem.write();
        let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut mem.blocks)
            .into_iter()
            .partition(|b| b.meta.newest_ingest_unix_nano() < cutoff);
        mem.blocks = keep;
        old
    };
    for b in &expired {
        tracing::info!(
            block = %b.meta.id,
            spans = b.meta.spans,
            newest_ingest_unix_nano = b.meta.newest_ingest_unix_nano(),
            "block expired (received longer ago than the retention)"
        );
    }
    shared
        .stats
        .blocks_expired
        .fetch_add(expired.len() as u64, Ordering::Relaxed);
    let n = expired.len();
    shared.bury(expired);
    Ok(n)
}

/// Deletes the files of removed blocks that no query holds any more, and
/// a writer's local copies of pending blocks it uploaded.
pub(crate) async fn reap(shared: &Shared) {
    if let Some(pending) = &shared.pending {
        let ready: Vec<Arc<Block>> = {
            let mut uploaded = shared.uploaded_pending.lock();
            let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut *uploaded)
                .into_iter()
                .partition(|b| Arc::strong_count(b) == 1);
            *uploaded = wait;
            ready
        };
        for b in ready {
            // Left behind on failure: the next start empties the folder.
            if let Err(e) = pending.delete_block(&b.meta.id).await {
                tracing::warn!(block = %b.meta.id, error = %e, "cannot delete the local copy of an uploaded block");
            }
        }
    }
    let ready: Vec<(Arc<Block>, Instant)> = {
        let mut graveyard = shared.graveyard.lock();
        let now = Instant::now();
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut *graveyard)
            .into_iter()
            .partition(|(b, when)| Arc::strong_count(b) == 1 && *when <= now);
        *graveyard = wait;
        ready
    };
    for (b, when) in ready {
        if let Err(e) = shared.store.delete_block(&b.meta.id).await {
            tracing::warn!(block = %b.meta.id, error = %e, "cannot delete a removed block; retrying later");
            shared.graveyard.lock().push((b, when));
        }
    }
}

/// While the WAL cannot write, asks the writer to check whether it can
/// again, so the engine becomes writable (and ready) with no write to try.
async fn probe_if_unwritable(shared: &Shared) {
    if shared.stats.unwritable.lock().is_none() {
        return;
    }
    let Ok(tx) = shared.sender() else {
        return;
    };
    let (done, wait) = tokio::sync::oneshot::channel();
    if tx.send(wal::Request::Probe { done }).await.is_ok() {
        let _ = wait.await;
    }
}

/// Waits `backoff` before retrying a failed cut, probing the WAL meanwhile
/// (so readiness recovers as soon as space returns); returns early when the
/// engine closes or becomes writable again.
async fn wait_for_retry(shared: &Shared, backoff: Duration) {
    let until = Instant::now() + backoff;
    let was_unwritable = shared.stats.unwritable.lock().is_some();
    while Instant::now() < until && !shared.closing.load(Ordering::Relaxed) {
        let step = shared
            .config
            .maintenance_interval
            .min(until.saturating_duration_since(Instant::now()));
        tokio::time::sleep(step).await;
        probe_if_unwritable(shared).await;
        if was_unwritable && shared.stats.unwritable.lock().is_none() {
            break;
        }
    }
}

fn cut_due(shared: &Shared) -> bool {
    // A full backlog is freed by a cut (the WAL it covers is deleted) or by
    // uploading pending blocks.
    if shared.backlog_bytes() >= shared.config.backlog_max_bytes {
        return true;
    }
    let mem = shared.mem.read();
    !mem.frozen.is_empty()
        || (shared.spills() && !mem.blocks.is_empty())
        || mem.active.bytes() >= shared.config.head_cut_bytes
        || mem
            .active_since
            .is_some_and(|t| t.elapsed() >= shared.config.head_cut_age)
}

/// The background task: cuts the head when it is due, until the engine closes.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut backoff = Duration::ZERO;
    let mut last_refresh = Instant::now();
    let mut lease = crate::cluster::LeaseState::default();
    loop {
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(shared.config.maintenance_interval) => {}
        }
        if shared.closing.load(Ordering::Relaxed) {
            break;
        }
        probe_if_unwritable(&shared).await;
        if cut_due(&shared) {
            match cut(&shared).await {
                Ok(_) => {
                    backoff = Duration::ZERO;
                    shared.stats.cut_failing.store(false, Ordering::Relaxed);
                }
                Err(e) => {
                    shared.stats.cut_errors.fetch_add(1, Ordering::Relaxed);
                    shared.stats.cut_failing.store(true, Ordering::Relaxed);
                    backoff = (backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
                    tracing::error!(error = %e, retry_in_s = backoff.as_secs(), "cutting a block failed");
                    wait_for_retry(&shared, backoff).await;
                    continue;
                }
            }
        }
        let may_change_blocks = match &shared.config.role {
            EngineRole::Owner => true,
            EngineRole::Writer { recent, .. } => {
                crate::cluster::prune_recent(&shared, *recent);
                false
            }
            EngineRole::Reader { .. } => {
                crate::cluster::refresh_when_due(&shared, &mut last_refresh).await;
                false
            }
            EngineRole::Compactor { .. } => {
                crate::cluster::refresh_when_due(&shared, &mut last_refresh).await;
                crate::cluster::keep_lease(&shared, &mut lease).await
            }
        };
        if !may_change_blocks {
            reap(&shared).await;
            continue;
        }
        if let Err(e) = expire(&shared).await {
            tracing::error!(error = %e, "enforcing retention failed");
        }
        if shared.config.compaction
            && let Err(e) = compact_once(&shared, false).await
        {
            shared
                .stats
                .compaction_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "compaction failed");
        }
        reap(&shared).await;
    }
}
