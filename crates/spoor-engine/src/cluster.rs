//! The engine's part when several processes share one block store
//! (`EngineRole`, ADR 0025): a writer's record of what its blocks cover
//! and its list of recent blocks; a reader's and compactor's refresh of the
//! block list (and loading blocks a writer named); the compactor's lease.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::EngineError;
use crate::block::BlockMeta;
use crate::config::EngineRole;
use crate::scan::Block;
use crate::state::Shared;

/// `<data_dir>/UPLOADED`: the last WAL segment a writer's published blocks
/// cover (decimal), written before those segments are deleted.
const UPLOADED: &str = "UPLOADED";

/// The compactors' lease, at the top of the store.
pub(crate) const LEASE_OBJECT: &str = "spoor-compactor-lease.json";

/// How long a block that failed to load is left alone before it is tried again.
const RETRY_FAILED_LOAD: Duration = Duration::from_secs(300);

/// The last WAL segment a writer's blocks cover (0 when none was recorded).
pub(crate) fn read_uploaded(data_dir: &Path) -> Result<u64, EngineError> {
    let path = data_dir.join(UPLOADED);
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map_err(|_| EngineError::Damaged {
            block: path.display().to_string(),
            message: format!("it holds {text:?}, not a WAL segment number"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(EngineError::io("read", &path, e)),
    }
}

/// Records that the WAL segments through `seq` are in published blocks:
/// a new file, synced, renamed over the old one, directory synced.
pub(crate) fn write_uploaded(data_dir: &Path, seq: u64) -> Result<(), EngineError> {
    use std::io::Write as _;
    let path = data_dir.join(UPLOADED);
    let tmp = data_dir.join(format!("{UPLOADED}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(|e| EngineError::io("create", &tmp, e))?;
    file.write_all(format!("{seq}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| EngineError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| EngineError::io("rename", &tmp, e))?;
    std::fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| EngineError::io("sync", data_dir, e))
}

/// Forgets recent blocks published longer ago than `window`.
pub(crate) fn prune_recent(shared: &Shared, window: Duration) {
    let mut mem = shared.mem.write();
    while mem
        .recent
        .front()
        .is_some_and(|(_, at)| at.elapsed() > window)
    {
        mem.recent.pop_front();
    }
}

/// Is `id` a block ID this engine could have written (`<digits>-<digits>`
/// and an optional `-<node>`): never a path, never empty.
pub(crate) fn valid_block_id(id: &str) -> bool {
    let mut parts = id.splitn(3, '-');
    let digits =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next())
        && digits(parts.next())
        && parts.next().is_none_or(crate::config::valid_node_name)
}

/// The IDs a refresh or a load must not load again: blocks held, blocks
/// they replace, blocks waiting for deletion and recent load failures.
fn skip_set(shared: &Shared) -> HashSet<String> {
    let mut skip: HashSet<String> = HashSet::new();
    {
        let mem = shared.mem.read();
        for b in &mem.blocks {
            skip.insert(b.meta.id.clone());
            skip.extend(b.meta.replaces.iter().cloned());
        }
    }
    skip.extend(
        shared
            .graveyard
            .lock()
            .iter()
            .map(|(b, _)| b.meta.id.clone()),
    );
    let mut failures = shared.load_failures.lock();
    failures.retain(|_, at| at.elapsed() < RETRY_FAILED_LOAD);
    skip.extend(failures.keys().cloned());
    skip
}

/// Loads one block, with its `meta.json` from the bucket index when it has
/// it: `Ok(None)` when it has no `meta.json` (incomplete, or deleted
/// meanwhile).
async fn load_one(
    shared: &Shared,
    id: &str,
    known: Option<&BlockMeta>,
) -> Result<Option<Arc<Block>>, EngineError> {
    let meta = match known {
        Some(meta) => meta.clone(),
        None => match shared.store.read_meta(id).await? {
            Some(meta) => meta,
            None => return Ok(None),
        },
    };
    Ok(Some(Arc::new(Block::load(&shared.store, meta).await?)))
}

/// What loading the new blocks of a listing found.
#[derive(Default)]
struct Loaded {
    blocks: Vec<Arc<Block>>,
    warnings: Vec<String>,
    /// Folders left in place with the `WRITING` marker and no `meta.json`.
    incomplete: Vec<String>,
}

/// Loads the blocks of `ids` not in `skip`; failures are remembered,
/// counted and returned as warnings.
async fn load_new(
    shared: &Shared,
    ids: &[String],
    skip: &HashSet<String>,
    metas: &HashMap<String, BlockMeta>,
) -> Loaded {
    let mut loaded = Vec::new();
    let mut warnings = Vec::new();
    let mut incomplete = Vec::new();
    for id in ids.iter().filter(|id| !skip.contains(*id)) {
        match load_one(shared, id, metas.get(id)).await {
            Ok(Some(block)) => loaded.push(block),
            Ok(None) => {
                if remove_if_abandoned(shared, id).await {
                    incomplete.push(id.clone());
                }
            }
            Err(e) => {
                if matches!(e, EngineError::Damaged { .. }) {
                    shared.stats.blocks_damaged.fetch_add(1, Ordering::Relaxed);
                } else {
                    shared
                        .stats
                        .blocks_unreadable
                        .fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(block = %id, error = %e, "cannot load a block of the shared store; skipping it");
                shared
                    .load_failures
                    .lock()
                    .insert(id.clone(), Instant::now());
                warnings.push(format!("block {id} could not be loaded: {e}"));
            }
        }
    }
    Loaded {
        blocks: loaded,
        warnings,
        incomplete,
    }
}

/// A folder without `meta.json`: an upload in progress, or one that never
/// finished (its writer was killed). It is never read. The compactor
/// holding the lease removes it once it holds the `WRITING` marker and is
/// older than an hour (by the time in its ID); everyone else leaves it.
/// Returns whether it holds the marker and stays (an incomplete block).
async fn remove_if_abandoned(shared: &Shared, id: &str) -> bool {
    if !shared.store.has_marker(id).await.unwrap_or(false) {
        return false;
    }
    let old = crate::maintenance::block_created(id).is_some_and(|t| {
        crate::config::now_nanos().saturating_sub(t)
            > crate::maintenance::INCOMPLETE_GRACE.as_nanos() as u64
    });
    if !old || !shared.lease_held.load(Ordering::Relaxed) {
        return true;
    }
    tracing::warn!(block = %id, "removing an incomplete block (its upload never finished)");
    shared
        .stats
        .blocks_incomplete
        .fetch_add(1, Ordering::Relaxed);
    match shared.store.delete_block(id).await {
        Ok(()) => false,
        Err(e) => {
            tracing::warn!(block = %id, error = %e, "cannot remove an incomplete block");
            true
        }
    }
}

/// Adds `loaded` to the readable blocks, then drops every block a held
/// block replaces and, when `listed` is given, every block no longer
/// listed. A compactor buries what it drops (deleted after its delay);
/// others only stop reading it.
fn apply(shared: &Shared, loaded: Vec<Arc<Block>>, listing: Option<&Listed>) -> usize {
    let listed = listing.map(|l| &l.ids);
    // A block the bucket index may not know yet (created lately) is kept.
    let absent = |b: &Block| {
        listing.is_some_and(|l| {
            !l.ids.contains(&b.meta.id)
                && l.complete_before.is_none_or(|t| {
                    crate::maintenance::block_created(&b.meta.id)
                        .is_none_or(|c| c < t.saturating_sub(INDEX_KEEP_YOUNG.as_nanos() as u64))
                })
        })
    };
    let dropped: Vec<Arc<Block>> = {
        let mut mem = shared.mem.write();
        for block in loaded {
            if !mem.blocks.iter().any(|b| b.meta.id == block.meta.id) {
                mem.insert_block(block);
            }
        }
        let replaced: HashSet<String> = mem
            .blocks
            .iter()
            .flat_map(|b| b.meta.replaces.iter().cloned())
            .collect();
        let (drop, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut mem.blocks)
            .into_iter()
            .partition(|b| replaced.contains(&b.meta.id) || absent(b));
        mem.blocks = keep;
        drop
    };
    let n = dropped.len();
    if matches!(shared.config.role, EngineRole::Compactor { .. }) {
        let replaced: Vec<Arc<Block>> = dropped
            .into_iter()
            .filter(|b| listed.is_none_or(|l| l.contains(&b.meta.id)))
            .collect();
        shared.bury(replaced);
    }
    n
}

/// What a refresh read the block list from: a listing of the store, or
/// the bucket index (then blocks created after `complete_before`, minus
/// [`INDEX_KEEP_YOUNG`], may be missing from `ids` without being gone).
struct Listed {
    ids: HashSet<String>,
    complete_before: Option<u64>,
}

/// How recent a block absent from the bucket index must be to be kept:
/// uploads finish after the block's ID is chosen, and the index lags.
const INDEX_KEEP_YOUNG: Duration = Duration::from_secs(600);

/// Reads the block list (from the bucket index when a reader has a fresh
/// one, else by listing the store) and makes the readable blocks match it:
/// new blocks loaded, vanished and replaced blocks dropped. A compactor
/// holding the lease writes the bucket index of what it listed.
pub(crate) async fn refresh(shared: &Shared) -> Result<(), EngineError> {
    let started = Instant::now();
    let listed_at = crate::config::now_nanos();
    let (ids, metas, complete_before, indexed_incomplete) =
        match crate::bucket_index::read_fresh(shared).await {
            Some(index) => (
                index.ids,
                index.metas,
                Some(index.listed_unix_nano),
                Some(index.incomplete),
            ),
            None => (
                shared.store.list_blocks().await?,
                HashMap::new(),
                None,
                None,
            ),
        };
    let listed = Listed {
        ids: ids.iter().cloned().collect(),
        complete_before,
    };
    let skip = skip_set(shared);
    let Loaded {
        blocks: loaded,
        incomplete,
        ..
    } = load_new(shared, &ids, &skip, &metas).await;
    let added = loaded.len();
    let dropped = apply(shared, loaded, Some(&listed));
    let incomplete = indexed_incomplete.unwrap_or(incomplete);
    if complete_before.is_none() && matches!(shared.config.role, EngineRole::Compactor { .. }) {
        crate::bucket_index::write(shared, &listed.ids, listed_at, &incomplete).await;
    }
    let before = shared
        .stats
        .incomplete_blocks_seen
        .swap(incomplete.len() as u64, Ordering::Relaxed);
    if before != incomplete.len() as u64 {
        tracing::info!(
            incomplete = incomplete.len(),
            blocks = %incomplete.join(","),
            "block folders without meta.json in the store (uploads under way or abandoned): \
             never read; the compactor holding the lease removes them once an hour old"
        );
    }
    shared.stats.block_refreshes.fetch_add(1, Ordering::Relaxed);
    if added > 0 || dropped > 0 {
        tracing::info!(
            added,
            dropped,
            blocks = shared.mem.read().blocks.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "refreshed the block list"
        );
    }
    Ok(())
}

/// Refreshes when the role's interval has passed since `last`.
pub(crate) async fn refresh_when_due(shared: &Shared, last: &mut Instant) {
    let Some(every) = shared.config.role.refresh() else {
        return;
    };
    if last.elapsed() < every {
        return;
    }
    *last = Instant::now();
    if let Err(e) = refresh(shared).await {
        shared
            .stats
            .block_refresh_errors
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %e, "cannot list the shared block store; keeping the blocks known");
    }
}

/// Makes the blocks of `ids` readable now (a writer named them as recent);
/// returns a warning per block that could not be loaded.
pub(crate) async fn ensure(shared: &Shared, ids: &[String]) -> Vec<String> {
    let mut warnings = Vec::new();
    let valid: Vec<String> = ids
        .iter()
        .filter(|id| {
            let ok = valid_block_id(id);
            if !ok {
                warnings.push(format!("ignoring the block name {id:?}: not a block ID"));
            }
            ok
        })
        .cloned()
        .collect();
    let skip = skip_set(shared);
    if valid.iter().all(|id| skip.contains(id)) {
        return warnings;
    }
    let Loaded {
        blocks: loaded,
        warnings: failed,
        ..
    } = load_new(shared, &valid, &skip, &HashMap::new()).await;
    warnings.extend(failed);
    if !loaded.is_empty() {
        tracing::debug!(blocks = loaded.len(), "loaded blocks a writer named");
        apply(shared, loaded, None);
    }
    warnings
}

/// The lease document.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Lease {
    holder: String,
    expires_unix_nano: u64,
}

/// What a compactor knows of its lease between renewals.
#[derive(Debug, Default)]
pub(crate) struct LeaseState {
    last_try: Option<Instant>,
}

/// Takes, keeps or waits for the compactors' lease; returns whether this
/// compactor may change the set of blocks now. Tried every `lease / 3`;
/// held until its expiry passes without a renewal.
pub(crate) async fn keep_lease(shared: &Shared, state: &mut LeaseState) -> bool {
    let EngineRole::Compactor { node, lease, .. } = &shared.config.role else {
        return false;
    };
    if state.last_try.is_some_and(|t| t.elapsed() < *lease / 3) {
        return shared.lease_held.load(Ordering::Relaxed);
    }
    state.last_try = Some(Instant::now());
    let held = match try_lease(shared, node, *lease).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or renew the compactor lease");
            false
        }
    };
    let was = shared.lease_held.swap(held, Ordering::Relaxed);
    if held != was {
        if held {
            tracing::info!(node = %node, "holding the compactor lease: compacting and expiring blocks");
        } else {
            tracing::info!(node = %node, "another compactor holds the lease: waiting");
        }
    }
    held
}

async fn try_lease(shared: &Shared, node: &str, lease: Duration) -> Result<bool, EngineError> {
    let now = shared.config.clock.now_nanos();
    let mine = Lease {
        holder: node.to_owned(),
        expires_unix_nano: now.saturating_add(lease.as_nanos() as u64),
    };
    let bytes =
        Bytes::from(serde_json::to_vec(&mine).map_err(|e| EngineError::Config(e.to_string()))?);
    match shared.store.get_object(LEASE_OBJECT).await? {
        None => shared.store.put_object_if(LEASE_OBJECT, bytes, None).await,
        Some((held, version)) => {
            let current: Option<Lease> = serde_json::from_slice(&held).ok();
            let free = current
                .as_ref()
                .is_none_or(|l| l.holder == node || l.expires_unix_nano < now);
            if !free {
                return Ok(false);
            }
            shared
                .store
                .put_object_if(LEASE_OBJECT, bytes, Some(version))
                .await
        }
    }
}

/// Gives the lease up (on close), so another compactor need not wait for
/// it to expire.
pub(crate) async fn release_lease(shared: &Shared) {
    let EngineRole::Compactor { node, .. } = &shared.config.role else {
        return;
    };
    if !shared.lease_held.swap(false, Ordering::Relaxed) {
        return;
    }
    let released = Lease {
        holder: node.clone(),
        expires_unix_nano: 0,
    };
    let Ok(bytes) = serde_json::to_vec(&released) else {
        return;
    };
    if let Ok(Some((held, version))) = shared.store.get_object(LEASE_OBJECT).await
        && serde_json::from_slice::<Lease>(&held).is_ok_and(|l| l.holder == *node)
        && let Err(e) = shared
            .store
            .put_object_if(LEASE_OBJECT, Bytes::from(bytes), Some(version))
            .await
    {
        tracing::warn!(error = %e, "cannot release the compactor lease; it expires by itself");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_are_checked_before_they_become_paths() {
        assert!(valid_block_id("00000001765000000000-0001"));
        assert!(valid_block_id(
            "00000001765000000000-0001-spoor-collector-0"
        ));
        for bad in [
            "",
            "../x",
            "1-2/meta.json",
            "1",
            "a-1",
            "1-2-",
            "1-2-UPPER",
            "1-2-node/../../x",
        ] {
            assert!(!valid_block_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_uploaded_record_survives_and_damage_is_refused() {
        let dir = std::env::temp_dir().join(format!("spoor-uploaded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read_uploaded(&dir).unwrap(), 0);
        write_uploaded(&dir, 42).unwrap();
        assert_eq!(read_uploaded(&dir).unwrap(), 42);
        std::fs::write(dir.join(UPLOADED), "x").unwrap();
        assert!(matches!(
            read_uploaded(&dir),
            Err(EngineError::Damaged { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
