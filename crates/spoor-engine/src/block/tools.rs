//! Whole-block encoding and checked reading outside a running engine: what
//! an offline check of a data directory and the block reader's fuzz target
//! need. Reading goes through exactly the code the engine uses (meta.json,
//! checksums, trace index, Bloom filter, edges, Parquet).

use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStore;
use spoor_model::{SpanBatch, SpanRecord};
use spoor_storage::CpuPool;

use super::files;
use super::write::{BlockIdentity, BlockWriteOptions, build_block};
use crate::EngineError;
use crate::scan::Block;
use crate::store::BlockStore;

/// The files of a block holding `batch`, `meta.json` included, as the
/// engine writes them (format [`super::FORMAT_VERSION`], checksums and all).
pub fn encode_block(id: &str, batch: &SpanBatch) -> Result<Vec<(String, Bytes)>, EngineError> {
    let mut spans: Vec<&SpanRecord> = batch.spans.iter().collect();
    let built = build_block(
        &mut spans,
        BlockIdentity {
            id: id.to_owned(),
            created_unix_nano: 1,
            level: 0,
            wal_seq: 0,
            replaces: Vec::new(),
            ingest: Some((1, 1)),
        },
        &BlockWriteOptions::default(),
    )
    .map_err(|message| EngineError::Block {
        block: id.to_owned(),
        message,
    })?;
    let meta = serde_json::to_vec_pretty(&built.meta).map_err(|e| EngineError::Block {
        block: id.to_owned(),
        message: format!("encoding meta.json: {e}"),
    })?;
    let mut out: Vec<(String, Bytes)> = built
        .files
        .into_iter()
        .map(|(name, bytes)| (name.to_owned(), bytes))
        .collect();
    out.push((files::META.to_owned(), Bytes::from(meta)));
    Ok(out)
}

/// Reads block `id` of `store` whole, as the engine would: its metadata,
/// every file checked against its recorded size and checksum (format 3),
/// and every span in row order. An error says why the block cannot be
/// trusted; `Ok(None)` means it has no `meta.json`.
pub async fn read_block(
    store: Arc<dyn ObjectStore>,
    id: &str,
) -> Result<Option<Vec<SpanRecord>>, EngineError> {
    let store = BlockStore::new(store);
    let Some(meta) = store.read_meta(id).await? else {
        return Ok(None);
    };
    let block = Block::load(&store, meta).await?;
    if let Some(red) = block.meta.files.get(files::RED).map(|_| files::RED) {
        store.get_verified(&block.meta, red).await?;
    }
    block.all_spans(&store, &CpuPool::new(1)).await.map(Some)
}
