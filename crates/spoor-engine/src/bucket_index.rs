//! The bucket index (ADR 0025): `spoor-bucket-index.json.gz` at the top of
//! a shared store, the list of its live blocks with their `meta.json`,
//! written by the compactor that holds the lease after each of its
//! refreshes, so that a querier reads one object per refresh instead of
//! listing the bucket and reading every new block's `meta.json`.
//!
//! A querier uses the index only while it is younger than
//! `bucket_index_max_age` (below the collectors' recent-block window, so a
//! block published after the compactor listed the store is still named by
//! its collector); a missing, stale, damaged or unreadable index makes it
//! list the bucket as before, counted in `/metrics`. Blocks created after
//! the index's listing are not dropped for being absent from it. The index
//! is never trusted blindly: every entry's `meta.json` goes through the
//! checks a block's own does, and a damaged index is left in place for the
//! compactor to overwrite.

use std::collections::{HashMap, HashSet};
use std::io::{Read as _, Write as _};
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::EngineError;
use crate::block::{BlockMeta, parse_meta};
use crate::state::Shared;

/// The index object, at the top of the store.
pub(crate) const INDEX_OBJECT: &str = "spoor-bucket-index.json.gz";

/// The index layout this build writes and reads.
const INDEX_VERSION: u32 = 1;

/// The most bytes an index may inflate to (about 100,000 blocks); a larger
/// one is refused as damaged.
const MAX_INDEX_BYTES: u64 = 256 << 20;

#[derive(Debug, Serialize, Deserialize)]
struct IndexFile {
    version: u32,
    /// When the compactor started listing the store (Unix ns): a block
    /// created later may be missing.
    listed_unix_nano: u64,
    /// The compactor that wrote it.
    writer: String,
    blocks: Vec<IndexEntry>,
    /// Folders the compactor found without `meta.json` (uploads under way
    /// or abandoned): never read, reported by queriers as they would by
    /// listing.
    #[serde(default)]
    incomplete: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct IndexEntry {
    id: String,
    /// The block's `meta.json`, when the compactor could read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    meta: Option<serde_json::Value>,
}

/// A bucket index as read: the live blocks, the metas it carries (checked),
/// and when it was listed.
#[derive(Debug)]
pub struct BucketIndex {
    pub(crate) ids: Vec<String>,
    pub(crate) metas: HashMap<String, BlockMeta>,
    pub(crate) listed_unix_nano: u64,
    pub(crate) incomplete: Vec<String>,
}

/// The index of `ids` (listed at `listed_unix_nano`), with the metas of the
/// blocks in `metas`, gzipped JSON.
pub(crate) fn encode(
    ids: &[String],
    metas: &HashMap<String, BlockMeta>,
    listed_unix_nano: u64,
    writer: &str,
    incomplete: &[String],
) -> Result<Bytes, EngineError> {
    let file = IndexFile {
        version: INDEX_VERSION,
        listed_unix_nano,
        writer: writer.to_owned(),
        incomplete: incomplete.to_vec(),
        blocks: ids
            .iter()
            .map(|id| IndexEntry {
                id: id.clone(),
                meta: metas.get(id).and_then(|m| serde_json::to_value(m).ok()),
            })
            .collect(),
    };
    let json = serde_json::to_vec(&file)
        .map_err(|e| EngineError::Config(format!("cannot encode the bucket index: {e}")))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&json)
        .and_then(|()| gz.finish())
        .map(Bytes::from)
        .map_err(|e| EngineError::Config(format!("cannot compress the bucket index: {e}")))
}

/// Reads an index's bytes; anything that is not a whole index of this
/// layout, with valid block IDs and metas that pass a block's own checks,
/// is damaged.
pub fn decode(bytes: &[u8]) -> Result<BucketIndex, EngineError> {
    let damaged = |why: String| EngineError::Damaged {
        block: INDEX_OBJECT.to_owned(),
        message: why,
    };
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_INDEX_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| damaged(format!("not gzip: {e}")))?;
    if json.len() as u64 > MAX_INDEX_BYTES {
        return Err(damaged(format!(
            "it inflates to more than {MAX_INDEX_BYTES} bytes"
        )));
    }
    let file: IndexFile =
        serde_json::from_slice(&json).map_err(|e| damaged(format!("not an index: {e}")))?;
    if file.version != INDEX_VERSION {
        return Err(EngineError::UnsupportedVersion {
            what: INDEX_OBJECT.to_owned(),
            version: file.version,
        });
    }
    let mut ids = Vec::with_capacity(file.blocks.len());
    let mut metas = HashMap::new();
    let mut seen = HashSet::new();
    for entry in file.blocks {
        if !crate::cluster::valid_block_id(&entry.id) || !seen.insert(entry.id.clone()) {
            return Err(damaged(format!(
                "{:?} is not a block ID, or is listed twice",
                entry.id
            )));
        }
        if let Some(meta) = entry.meta {
            let bytes = serde_json::to_vec(&meta)
                .map_err(|e| damaged(format!("the meta of {}: {e}", entry.id)))?;
            metas.insert(entry.id.clone(), parse_meta(&entry.id, &bytes)?);
        }
        ids.push(entry.id);
    }
    ids.sort();
    if let Some(bad) = file
        .incomplete
        .iter()
        .find(|id| !crate::cluster::valid_block_id(id))
    {
        return Err(damaged(format!("{bad:?} is not a block ID")));
    }
    Ok(BucketIndex {
        ids,
        metas,
        listed_unix_nano: file.listed_unix_nano,
        incomplete: file.incomplete,
    })
}

/// The index to read now, or `None` (then the bucket is listed): only a
/// reader with a positive `bucket_index_max_age` uses one, and only while
/// it is that young. Every outcome is counted; an unreadable or damaged
/// index is logged.
pub(crate) async fn read_fresh(shared: &Shared) -> Option<BucketIndex> {
    let max_age = shared.config.bucket_index_max_age;
    if max_age.is_zero() || !matches!(shared.config.role, crate::EngineRole::Reader { .. }) {
        return None;
    }
    let stats = &shared.stats;
    let index = match shared.store.get_object(INDEX_OBJECT).await {
        Ok(Some((bytes, _))) => match decode(&bytes) {
            Ok(index) => index,
            Err(e) => {
                stats.bucket_index_damaged.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(object = INDEX_OBJECT, error = %e, "the bucket index is damaged; listing the bucket instead (the compactor rewrites it)");
                return None;
            }
        },
        Ok(None) => {
            stats.bucket_index_missing.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Err(e) => {
            stats.bucket_index_damaged.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(object = INDEX_OBJECT, error = %e, "cannot read the bucket index; listing the bucket instead");
            return None;
        }
    };
    let age =
        Duration::from_nanos(crate::config::now_nanos().saturating_sub(index.listed_unix_nano));
    if age > max_age {
        stats.bucket_index_stale.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            age_ms = age.as_millis() as u64,
            "the bucket index is stale; listing the bucket"
        );
        return None;
    }
    stats.bucket_index_used.fetch_add(1, Ordering::Relaxed);
    Some(index)
}

/// Writes the index of `listed` (listed at `listed_unix_nano`) as the
/// compactor holding the lease sees the store: the blocks it holds, minus
/// those replaced by another or waiting for deletion, plus the listed ones
/// it could not load (without meta: a reader reads theirs itself).
pub(crate) async fn write(
    shared: &Shared,
    listed: &HashSet<String>,
    listed_unix_nano: u64,
    incomplete: &[String],
) {
    if !shared.lease_held.load(Ordering::Relaxed) {
        return;
    }
    let (metas, replaced): (HashMap<String, BlockMeta>, HashSet<String>) = {
        let mem = shared.mem.read();
        (
            mem.blocks
                .iter()
                .map(|b| (b.meta.id.clone(), b.meta.clone()))
                .collect(),
            mem.blocks
                .iter()
                .flat_map(|b| b.meta.replaces.iter().cloned())
                .collect(),
        )
    };
    let buried: HashSet<String> = shared
        .graveyard
        .lock()
        .iter()
        .map(|(b, _)| b.meta.id.clone())
        .collect();
    let mut ids: Vec<String> = listed
        .iter()
        .filter(|id| !replaced.contains(*id) && !buried.contains(*id))
        .cloned()
        .collect();
    ids.sort();
    let writer = shared.config.role.node().unwrap_or("compactor");
    let written = match encode(&ids, &metas, listed_unix_nano, writer, incomplete) {
        Ok(bytes) => shared.store.put_object(INDEX_OBJECT, bytes).await,
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => {
            shared
                .stats
                .bucket_index_writes
                .fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            shared
                .stats
                .bucket_index_write_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(object = INDEX_OBJECT, error = %e, "cannot write the bucket index; queriers list the bucket until it is written");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn meta(id: &str) -> BlockMeta {
        let json = serde_json::json!({
            "format_version": crate::block::FORMAT_VERSION,
            "id": id, "created_unix_nano": 1, "level": 0, "wal_seq": 0,
            "min_start_unix_nano": 1, "max_start_unix_nano": 2, "max_end_unix_nano": 3,
            "spans": 1, "traces": 1, "services": ["s"], "operations": [],
            "attribute_keys": null, "files": {},
        });
        serde_json::from_value(json).unwrap_or_else(|e| panic!("a minimal meta.json: {e}"))
    }

    #[test]
    fn an_index_round_trips_and_damage_is_refused() {
        let ids = vec![
            "1796000000000000000-1-c1".to_owned(),
            "1796000000000000001-2-c2".to_owned(),
        ];
        let metas: HashMap<String, BlockMeta> = [(ids[0].clone(), meta(&ids[0]))].into();
        let bytes = encode(&ids, &metas, 42, "k1", &[]).unwrap();
        let index = decode(&bytes).unwrap();
        assert_eq!(index.ids, ids);
        assert_eq!(index.listed_unix_nano, 42);
        assert_eq!(index.metas.len(), 1);
        assert_eq!(index.metas[&ids[0]].id, ids[0]);

        // Not gzip, truncated, not an index, a bad ID, a meta of another block.
        assert!(decode(b"garbage").is_err());
        assert!(decode(&bytes[..bytes.len() / 2]).is_err());
        let gz = |json: serde_json::Value| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(json.to_string().as_bytes()).unwrap();
            e.finish().unwrap()
        };
        assert!(decode(&gz(serde_json::json!({"hello": 1}))).is_err());
        let bad_id = gz(
            serde_json::json!({"version": 1, "listed_unix_nano": 1, "writer": "k",
            "blocks": [{"id": "../etc"}]}),
        );
        assert!(decode(&bad_id).is_err());
        let twice = gz(
            serde_json::json!({"version": 1, "listed_unix_nano": 1, "writer": "k",
            "blocks": [{"id": ids[0]}, {"id": ids[0]}]}),
        );
        assert!(decode(&twice).is_err());
        let other = gz(
            serde_json::json!({"version": 1, "listed_unix_nano": 1, "writer": "k",
            "blocks": [{"id": ids[1], "meta": serde_json::to_value(meta(&ids[0])).unwrap()}]}),
        );
        assert!(matches!(decode(&other), Err(EngineError::Damaged { .. })));
        let newer = gz(
            serde_json::json!({"version": 2, "listed_unix_nano": 1, "writer": "k",
            "blocks": []}),
        );
        assert!(matches!(
            decode(&newer),
            Err(EngineError::UnsupportedVersion { .. })
        ));
    }
}
