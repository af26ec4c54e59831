//! Immutable blocks: the head cut into Apache Parquet files plus a trace
//! index, a trace-ID Bloom filter and a `meta.json` written last.
//!
//! A block is the folder `<block id>/` in the block store (an `object_store`;
//! by default the local directory `<data_dir>/blocks`). See
//! `docs/storage-format.md` for every file's layout.

pub(crate) mod edges;
pub(crate) mod frame;
pub(crate) mod index;
pub(crate) mod read;
pub mod red;
pub(crate) mod schema;
pub mod tools;
pub(crate) mod write;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use serde::{Deserialize, Serialize};
use spoor_model::{SpanKind, SpanRecord, TraceId};
use tokio::sync::OnceCell;

use crate::EngineError;
use crate::bloom::TraceBloom;
use edges::BlockEdges;
use index::{TraceEntry, TraceIndex};
use read::{SpanColumns, Tables};

/// The block format version this build writes. It reads this version and
/// the ones before it: version 3 added the ingest times and per-file
/// checksums to `meta.json` (a version 1 or 2 block has neither: its ingest
/// time is taken to be its creation time, and its files are not verified);
/// version 2 added `red.bin` (RED statistics); a version 1 block has none,
/// and its statistics are absent until compaction rewrites it.
pub const FORMAT_VERSION: u32 = 3;
const OLDEST_READABLE_VERSION: u32 = 1;

/// File names inside a block folder.
pub mod files {
    /// Spans, one row each, sorted by trace ID then start time.
    pub const SPANS: &str = "spans.parquet";
    /// Resources referenced by `spans.parquet`'s `resource_index`.
    pub const RESOURCES: &str = "resources.parquet";
    /// Instrumentation scopes referenced by `scope_index`.
    pub const SCOPES: &str = "scopes.parquet";
    /// Trace index and summaries.
    pub const INDEX: &str = "index.bin";
    /// Trace-ID Bloom filter.
    pub const BLOOM: &str = "bloom.bin";
    /// Per-minute service dependency edges.
    pub const EDGES: &str = "edges.bin";
    /// Per-minute RED statistics (format 2 and later).
    pub const RED: &str = "red.bin";
    /// Block metadata, written after every other file.
    pub const META: &str = "meta.json";
    /// Written first and removed after `meta.json` (format 3 and later): a
    /// folder holding it and no `meta.json` is a write that never finished.
    pub const WRITING: &str = "WRITING";
}

/// One operation of a service in a block.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OperationMeta {
    pub service: String,
    pub name: String,
    /// OTLP span kind number (0 unspecified … 5 consumer).
    pub kind: u8,
}

/// The contents of `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Block format version.
    pub format_version: u32,
    /// The block's folder name.
    pub id: String,
    pub created_unix_nano: u64,
    /// 0 for a block cut from the head; compaction adds one to the highest input level.
    pub level: u32,
    /// Every WAL segment up to and including this sequence number is in
    /// this block or an older one.
    pub wal_seq: u64,
    /// Earliest and latest span start, latest span end.
    pub min_start_unix_nano: u64,
    pub max_start_unix_nano: u64,
    pub max_end_unix_nano: u64,
    pub spans: u64,
    pub traces: u64,
    /// Service names, sorted.
    pub services: Vec<String>,
    /// (service, operation, kind), sorted.
    pub operations: Vec<OperationMeta>,
    /// Every attribute key in the block (span, event, link, resource and
    /// scope attributes), sorted; absent when there are too many to list.
    pub attribute_keys: Option<Vec<String>>,
    /// File name → size in bytes.
    pub files: BTreeMap<String, u64>,
    /// Blocks this one replaces (compaction); they are deleted once it exists.
    #[serde(default)]
    pub replaces: Vec<String>,
    /// Wall-clock time (Unix nanoseconds) at which Spoor received the
    /// block's first and last span (format 3; compaction keeps the earliest
    /// and the latest of its inputs). Retention counts from the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ingest_unix_nano: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ingest_unix_nano: Option<u64>,
    /// File name → CRC-32 (IEEE) of its bytes (format 3), verified when the
    /// file is first read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, u32>,
}

impl BlockMeta {
    /// When Spoor received the block's newest span: `max_ingest_unix_nano`,
    /// or, for a block written before format 3, its creation time (never
    /// earlier than the arrival of any of its spans).
    pub fn newest_ingest_unix_nano(&self) -> u64 {
        self.max_ingest_unix_nano.unwrap_or(self.created_unix_nano)
    }

    /// When Spoor received the block's oldest span (see
    /// [`BlockMeta::newest_ingest_unix_nano`]).
    pub fn oldest_ingest_unix_nano(&self) -> u64 {
        self.min_ingest_unix_nano.unwrap_or(self.created_unix_nano)
    }

    /// Can a span starting in `[min, max]` be in this block?
    pub(crate) fn overlaps_starts(&self, min: Option<u64>, max: Option<u64>) -> bool {
        !(min.is_some_and(|m| m > self.max_start_unix_nano)
            || max.is_some_and(|m| m < self.min_start_unix_nano))
    }

    /// Operations of `service` (optionally of one kind).
    pub(crate) fn operations_of<'a>(
        &'a self,
        service: &'a str,
        kind: Option<SpanKind>,
    ) -> impl Iterator<Item = (&'a str, SpanKind)> + 'a {
        let from = self
            .operations
            .partition_point(|o| o.service.as_str() < service);
        self.operations[from..]
            .iter()
            .take_while(move |o| o.service == service)
            .map(|o| (o.name.as_str(), SpanKind::from_i32(i32::from(o.kind))))
            .filter(move |(_, k)| kind.is_none_or(|want| want == *k))
    }

    pub(crate) fn has_service(&self, service: &str) -> bool {
        self.services
            .binary_search_by(|s| s.as_str().cmp(service))
            .is_ok()
    }

    pub(crate) fn has_operation(&self, service: &str, name: &str) -> bool {
        self.operations_of(service, None).any(|(n, _)| n == name)
    }

    /// False when attribute key `key` certainly appears nowhere in the block.
    pub(crate) fn may_have_key(&self, key: &str) -> bool {
        match &self.attribute_keys {
            Some(keys) => keys.binary_search_by(|k| k.as_str().cmp(key)).is_ok(),
            None => true,
        }
    }
}

/// Where blocks are kept.
#[derive(Clone)]
pub(crate) struct BlockStore {
    store: Arc<dyn ObjectStore>,
}

fn store_err(block: &str, what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Block {
        block: block.to_owned(),
        message: format!("{what}: {e}"),
    }
}

impl BlockStore {
    pub(crate) fn new(store: Arc<dyn ObjectStore>) -> Self {
        BlockStore { store }
    }

    fn path(block: &str, file: &str) -> ObjectPath {
        ObjectPath::from(format!("{block}/{file}"))
    }

    /// Reads a whole file of a block and checks it against the size and
    /// checksum `meta.json` records (format 3); a mismatch is `Damaged`.
    pub(crate) async fn get_verified(
        &self,
        meta: &BlockMeta,
        file: &str,
    ) -> Result<Bytes, EngineError> {
        let bytes = self.get(&meta.id, file).await?;
        verify(meta, file, bytes.len() as u64, || crc32fast::hash(&bytes))?;
        Ok(bytes)
    }

    pub(crate) async fn get(&self, block: &str, file: &str) -> Result<Bytes, EngineError> {
        let path = Self::path(block, file);
        let result = self.store.get(&path).await.map_err(|e| match e {
            // A file `meta.json` lists is gone: the block is damaged.
            e @ object_store::Error::NotFound { .. } => {
                damaged_err(block, format!("reading {file}: {e}"))
            }
            e => store_err(block, &format!("reading {file}"), e),
        })?;
        result
            .bytes()
            .await
            .map_err(|e| store_err(block, &format!("reading {file}"), e))
    }

    async fn put(&self, block: &str, file: &str, bytes: Bytes) -> Result<(), EngineError> {
        self.store
            .put(&Self::path(block, file), PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| store_err(block, &format!("writing {file}"), e))?;
        Ok(())
    }

    /// Uploads a built block: the `WRITING` marker, the block's files,
    /// its `meta.json`, then removes the marker. A folder with the marker
    /// and no `meta.json` is therefore a write that never finished; a folder
    /// without either is a damaged block.
    pub(crate) async fn upload(
        &self,
        meta: &BlockMeta,
        files: &[(&'static str, Bytes)],
    ) -> Result<(), EngineError> {
        self.put(&meta.id, files::WRITING, Bytes::new()).await?;
        for (name, bytes) in files {
            self.put(&meta.id, name, bytes.clone()).await?;
        }
        let json = serde_json::to_vec_pretty(meta)
            .map_err(|e| store_err(&meta.id, "encoding meta.json", e))?;
        self.put(&meta.id, files::META, Bytes::from(json)).await?;
        self.remove_marker(&meta.id).await
    }

    /// Removes a block's `WRITING` marker, if any.
    pub(crate) async fn remove_marker(&self, block: &str) -> Result<(), EngineError> {
        match self.store.delete(&Self::path(block, files::WRITING)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(block, "deleting the WRITING marker", e)),
        }
    }

    /// Does the block folder hold a `WRITING` marker?
    pub(crate) async fn has_marker(&self, block: &str) -> Result<bool, EngineError> {
        match self.store.head(&Self::path(block, files::WRITING)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_err(block, "checking the WRITING marker", e)),
        }
    }

    /// Deletes every object of a block: puts the `WRITING` marker back
    /// first and deletes `meta.json` next (so a half-deleted block is never
    /// mistaken for a complete or a damaged one), the marker last.
    pub(crate) async fn delete_block(&self, block: &str) -> Result<(), EngineError> {
        self.put(block, files::WRITING, Bytes::new()).await?;
        match self.store.delete(&Self::path(block, files::META)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_err(block, "deleting meta.json", e)),
        }
        let prefix = ObjectPath::from(block);
        let marker = Self::path(block, files::WRITING);
        let objects: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| store_err(block, "listing", e))?;
        for o in objects.iter().filter(|o| o.location != marker) {
            match self.store.delete(&o.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_err(block, "deleting", e)),
            }
        }
        self.remove_marker(block).await
    }

    /// The folder names in the store.
    pub(crate) async fn list_blocks(&self) -> Result<Vec<String>, EngineError> {
        let listing = self
            .store
            .list_with_delimiter(None)
            .await
            .map_err(|e| store_err("*", "listing blocks", e))?;
        let mut ids: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.parts().next_back().map(|part| part.as_ref().to_owned()))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Reads a block's `meta.json`; `None` when it does not exist (an
    /// incomplete block).
    pub(crate) async fn read_meta(&self, block: &str) -> Result<Option<BlockMeta>, EngineError> {
        let bytes = match self.store.get(&Self::path(block, files::META)).await {
            Ok(r) => r
                .bytes()
                .await
                .map_err(|e| store_err(block, "reading meta.json", e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_err(block, "reading meta.json", e)),
        };
        let meta: BlockMeta = serde_json::from_slice(&bytes)
            .map_err(|e| damaged_err(block, format!("parsing meta.json: {e}")))?;
        if meta.format_version < OLDEST_READABLE_VERSION || meta.format_version > FORMAT_VERSION {
            return Err(EngineError::UnsupportedVersion {
                what: format!("block {block}"),
                version: meta.format_version,
            });
        }
        if meta.format_version >= 3 && meta.files.keys().any(|f| !meta.checksums.contains_key(f)) {
            return Err(damaged_err(
                block,
                "meta.json of a format 3 block lacks a checksum for some of its files",
            ));
        }
        if meta.id != block {
            return Err(damaged_err(
                block,
                format!("meta.json names block {}", meta.id),
            ));
        }
        Ok(Some(meta))
    }
}

/// Checks a file of `len` bytes against what `meta.json` records about it.
/// `crc` is only computed when a checksum is recorded (format 3).
pub(crate) fn verify(
    meta: &BlockMeta,
    file: &str,
    len: u64,
    crc: impl FnOnce() -> u32,
) -> Result<(), EngineError> {
    let Some(&want) = meta.checksums.get(file) else {
        return Ok(());
    };
    let damaged = |message: String| EngineError::Damaged {
        block: meta.id.clone(),
        message,
    };
    if let Some(&size) = meta.files.get(file)
        && size != len
    {
        return Err(damaged(format!(
            "{file} holds {len} bytes, meta.json records {size}"
        )));
    }
    let got = crc();
    if got != want {
        return Err(damaged(format!(
            "{file} fails its checksum (crc32 {got:08x}, meta.json records {want:08x})"
        )));
    }
    Ok(())
}

/// A readable block: its metadata, index and Bloom filter in memory, its
/// Parquet footer and resource/scope tables loaded on first use.
pub(crate) struct Block {
    pub(crate) meta: BlockMeta,
    pub(crate) index: TraceIndex,
    pub(crate) bloom: TraceBloom,
    pub(crate) edges: BlockEdges,
    reader_meta: OnceCell<ArrowReaderMetadata>,
    tables: OnceCell<Arc<Tables>>,
    /// Set once `spans.parquet` matched its checksum.
    spans_verified: OnceCell<()>,
    /// Why the block cannot be read, once found damaged; it is skipped then.
    damaged: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("id", &self.meta.id)
            .field("spans", &self.meta.spans)
            .finish_non_exhaustive()
    }
}

/// The block's stored bytes are not what was written (they fail to decode
/// or contradict `meta.json`): the block is damaged.
fn damaged_err(block: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Damaged {
        block: block.to_owned(),
        message: e.to_string(),
    }
}

fn block_err(block: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Block {
        block: block.to_owned(),
        message: e.to_string(),
    }
}

impl Block {
    /// A block from its parts (just built, or loaded).
    pub(crate) fn new(
        meta: BlockMeta,
        index: TraceIndex,
        bloom: TraceBloom,
        edges: BlockEdges,
    ) -> Self {
        Block {
            meta,
            index,
            bloom,
            edges,
            reader_meta: OnceCell::new(),
            tables: OnceCell::new(),
            spans_verified: OnceCell::new(),
            damaged: std::sync::OnceLock::new(),
        }
    }

    /// Why the block was found damaged, if it was.
    pub(crate) fn damaged(&self) -> Option<&str> {
        self.damaged.get().map(String::as_str)
    }

    /// Records that the block is damaged; true the first time.
    pub(crate) fn mark_damaged(&self, why: String) -> bool {
        self.damaged.set(why).is_ok()
    }

    /// Checks `spans.parquet` against its recorded size and checksum, once
    /// (reading it whole, streamed); later calls reuse the verdict.
    async fn verify_spans(&self, store: &BlockStore) -> Result<(), EngineError> {
        if let Some(why) = self.damaged() {
            return Err(EngineError::Damaged {
                block: self.id().to_owned(),
                message: why.to_owned(),
            });
        }
        if !self.meta.checksums.contains_key(files::SPANS) {
            return Ok(());
        }
        self.spans_verified
            .get_or_try_init(|| async {
                let path = BlockStore::path(self.id(), files::SPANS);
                let missing = |e: object_store::Error| EngineError::Damaged {
                    block: self.id().to_owned(),
                    message: format!("reading {}: {e}", files::SPANS),
                };
                let result = store.store.get(&path).await.map_err(|e| match e {
                    e @ object_store::Error::NotFound { .. } => missing(e),
                    e => store_err(self.id(), "reading spans.parquet", e),
                })?;
                let mut stream = result.into_stream();
                let mut hasher = crc32fast::Hasher::new();
                let mut len = 0u64;
                while let Some(chunk) = stream
                    .try_next()
                    .await
                    .map_err(|e| store_err(self.id(), "reading spans.parquet", e))?
                {
                    hasher.update(&chunk);
                    len += chunk.len() as u64;
                }
                verify(&self.meta, files::SPANS, len, || hasher.finalize())
            })
            .await
            .map(|_| ())
    }

    /// Loads a complete block's index and Bloom filter.
    pub(crate) async fn load(store: &BlockStore, meta: BlockMeta) -> Result<Block, EngineError> {
        let id = meta.id.clone();
        let index = store.get_verified(&meta, files::INDEX).await?;
        let index = TraceIndex::from_bytes(&index).map_err(|e| damaged_err(&id, e))?;
        let bloom = store.get_verified(&meta, files::BLOOM).await?;
        let bloom = TraceBloom::from_bytes(&bloom).map_err(|e| damaged_err(&id, e))?;
        if index.rows() != meta.spans || index.len() as u64 != meta.traces {
            return Err(damaged_err(&id, "the trace index does not match meta.json"));
        }
        let edges = store.get_verified(&meta, files::EDGES).await?;
        let edges = BlockEdges::from_bytes(&edges).map_err(|e| damaged_err(&id, e))?;
        Ok(Block::new(meta, index, bloom, edges))
    }

    pub(crate) fn id(&self) -> &str {
        &self.meta.id
    }

    /// Bytes held in memory for this block, roughly.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.index.memory_bytes() + self.bloom.memory_bytes() + self.edges.memory_bytes()
    }

    async fn reader_metadata(
        &self,
        store: &BlockStore,
    ) -> Result<ArrowReaderMetadata, EngineError> {
        self.reader_meta
            .get_or_try_init(|| async {
                let mut reader = self.object_reader(store);
                let options =
                    ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
                ArrowReaderMetadata::load_async(&mut reader, options)
                    .await
                    .map_err(|e| block_err(self.id(), e))
            })
            .await
            .cloned()
    }

    fn object_reader(&self, store: &BlockStore) -> SpansReader {
        SpansReader {
            store: Arc::clone(&store.store),
            path: BlockStore::path(self.id(), files::SPANS),
            size: self.meta.files.get(files::SPANS).copied(),
        }
    }

    /// The block's resources and scopes.
    pub(crate) async fn tables(&self, store: &BlockStore) -> Result<Arc<Tables>, EngineError> {
        self.tables
            .get_or_try_init(|| async {
                let resources = store.get_verified(&self.meta, files::RESOURCES).await?;
                let scopes = store.get_verified(&self.meta, files::SCOPES).await?;
                let id = self.id().to_owned();
                tokio::task::spawn_blocking(move || {
                    let resources = read::decode_resources(&read_all(resources)?)?;
                    let scopes = read::decode_scopes(&read_all(scopes)?)?;
                    Ok::<_, String>(Arc::new(Tables { resources, scopes }))
                })
                .await
                .map_err(|e| block_err(&id, e))?
                .map_err(|e| block_err(&id, e))
            })
            .await
            .cloned()
    }

    /// Reads rows of `spans.parquet`: the given row ranges (sorted, disjoint)
    /// or all rows, with the given top-level columns or all of them.
    pub(crate) async fn read_spans(
        &self,
        store: &BlockStore,
        ranges: Option<&[std::ops::Range<usize>]>,
        columns: Option<&[usize]>,
    ) -> Result<Vec<RecordBatch>, EngineError> {
        self.verify_spans(store).await?;
        let metadata = self.reader_metadata(store).await?;
        let mut builder =
            ParquetRecordBatchStreamBuilder::new_with_metadata(self.object_reader(store), metadata);
        if let Some(columns) = columns {
            let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        if let Some(ranges) = ranges {
            let total = self.meta.spans as usize;
            if ranges.iter().any(|r| r.end > total || r.start > r.end) {
                return Err(block_err(self.id(), "row range past the end of the block"));
            }
            builder = builder.with_row_selection(RowSelection::from_consecutive_ranges(
                ranges.iter().cloned(),
                total,
            ));
        }
        let stream = builder
            .with_batch_size(8 * 1024)
            .build()
            .map_err(|e| block_err(self.id(), e))?;
        stream
            .try_collect()
            .await
            .map_err(|e| block_err(self.id(), e))
    }

    /// Every span of the given index entries (sorted by row).
    pub(crate) async fn traces(
        &self,
        store: &BlockStore,
        entries: &[TraceEntry],
    ) -> Result<Vec<SpanRecord>, EngineError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let ranges: Vec<std::ops::Range<usize>> = entries
            .iter()
            .map(|e| e.row_start as usize..(e.row_start + e.row_count) as usize)
            .collect();
        let tables = self.tables(store).await?;
        let batches = self.read_spans(store, Some(&ranges), None).await?;
        let mut out = Vec::with_capacity(ranges.iter().map(|r| r.len()).sum());
        for batch in &batches {
            let cols = SpanColumns::new(batch).map_err(|e| block_err(self.id(), e))?;
            for row in 0..cols.len() {
                out.push(
                    cols.record(row, &tables, true)
                        .map_err(|e| block_err(self.id(), e))?,
                );
            }
        }
        Ok(out)
    }

    /// Every span of the block, in row order.
    pub(crate) async fn all_spans(
        &self,
        store: &BlockStore,
    ) -> Result<Vec<SpanRecord>, EngineError> {
        let tables = self.tables(store).await?;
        let batches = self.read_spans(store, None, None).await?;
        let mut out = Vec::with_capacity(self.meta.spans as usize);
        for batch in &batches {
            let cols = SpanColumns::new(batch).map_err(|e| block_err(self.id(), e))?;
            for row in 0..cols.len() {
                out.push(
                    cols.record(row, &tables, true)
                        .map_err(|e| block_err(self.id(), e))?,
                );
            }
        }
        Ok(out)
    }
}

/// Reads byte ranges of a block's `spans.parquet` through the object store.
struct SpansReader {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    /// The file's size, from `meta.json`.
    size: Option<u64>,
}

fn parquet_io(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for SpansReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(parquet_io)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(parquet_io)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = match self.size {
                Some(size) => size,
                None => self.store.head(&self.path).await.map_err(parquet_io)?.size,
            };
            let metadata = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Optional)
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// Reads a whole (small) Parquet file.
fn read_all(bytes: Bytes) -> Result<Vec<RecordBatch>, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// Is `key` a tag that `matches_span` answers from attribute lists (span,
/// scope, resource, event or link attributes), rather than from span fields,
/// the scope's name and version, or resource attributes alone? The
/// synthesized tags (`spoor_storage::SYNTHESIZED_TAGS`) are: they are read
/// from attribute lists as well as from span fields.
pub(crate) fn is_attribute_tag(key: &str) -> bool {
    !matches!(
        key,
        "error" | "span.status" | "span.kind" | "scope.name" | "scope.version"
    ) && !key.starts_with("resource.")
}

impl Block {
    /// Can this block hold a span matching `query`, judging by its metadata?
    pub(crate) fn may_match(&self, query: &spoor_storage::TraceQuery) -> bool {
        let meta = &self.meta;
        if meta.spans == 0 || !meta.overlaps_starts(query.start_min, query.start_max) {
            return false;
        }
        if let Some(service) = &query.service {
            if !meta.has_service(service) {
                return false;
            }
            if let Some(op) = &query.operation
                && !meta.has_operation(service, op)
            {
                return false;
            }
        } else if let Some(op) = &query.operation
            && !meta.operations.iter().any(|o| &o.name == op)
        {
            return false;
        }
        // A tag the Jaeger JSON synthesizes from span fields (`otel.status_code`,
        // `event`, …) can hold in a block without any attribute of its name.
        let mut possible = |key: &str| {
            let listed = key.strip_prefix("resource.").unwrap_or(key);
            !(is_attribute_tag(key) || key.starts_with("resource."))
                || spoor_storage::is_synthesized_tag(key)
                || meta.may_have_key(listed)
        };
        query.tags.iter().all(|t| possible(&t.key))
            && query
                .filter
                .as_ref()
                .is_none_or(|f| f.may_match(&mut possible))
    }

    /// The RED statistics rows of this block that `query` selects (none for
    /// a format 1 block, which has no `red.bin`).
    pub(crate) async fn red_rows(
        &self,
        store: &BlockStore,
        query: &spoor_storage::RedQuery,
    ) -> Result<Vec<spoor_storage::RedRow>, EngineError> {
        if !self.meta.files.contains_key(files::RED) {
            return Ok(Vec::new());
        }
        let bytes = store.get_verified(&self.meta, files::RED).await?;
        red::decode(&bytes, Some(query)).map_err(|e| block_err(self.id(), e))
    }

    /// Traces of this block with a span matching `query` (exactly as
    /// [`spoor_storage::matches_span`] decides).
    pub(crate) async fn find(
        &self,
        store: &BlockStore,
        query: &spoor_storage::TraceQuery,
    ) -> Result<Vec<TraceId>, EngineError> {
        use schema::col;
        if !self.may_match(query) {
            return Ok(Vec::new());
        }
        let tables = self.tables(store).await?;
        let filter_detail = query
            .filter
            .as_ref()
            .is_some_and(|f| f.keys().into_iter().any(is_attribute_tag));
        let detail = filter_detail || query.tags.iter().any(|t| is_attribute_tag(&t.key));
        let mut columns = vec![
            col::START,
            col::DURATION,
            col::NAME,
            col::KIND,
            col::STATUS_CODE,
            col::RESOURCE_INDEX,
            col::SCOPE_INDEX,
        ];
        if detail {
            // The status message and trace state back synthesized tags
            // (`otel.status_description`, `w3c.tracestate`).
            columns.extend([
                col::STATUS_MESSAGE,
                col::TRACE_STATE,
                col::ATTRIBUTES,
                col::EVENTS,
                col::LINKS,
            ]);
            columns.extend(col::HOT..col::HOT + schema::HOT_KEYS.len());
        }
        // Conditions that need no attribute list, checked first on a cheap record.
        let cheap = spoor_storage::TraceQuery {
            tags: query
                .tags
                .iter()
                .filter(|t| !is_attribute_tag(&t.key))
                .cloned()
                .collect(),
            filter: if filter_detail {
                None
            } else {
                query.filter.clone()
            },
            ..query.clone()
        };
        let batches = self.read_spans(store, None, Some(&columns)).await?;
        let mut found = Vec::new();
        let mut row_base = 0usize;
        // Rows of one trace are contiguous: once a trace matches, skip the rest of it.
        let mut matched_until = 0usize;
        for batch in &batches {
            let cols = SpanColumns::new(batch).map_err(|e| block_err(self.id(), e))?;
            for row in 0..cols.len() {
                let global = row_base + row;
                if global < matched_until {
                    continue;
                }
                let record = cols
                    .record(row, &tables, false)
                    .map_err(|e| block_err(self.id(), e))?;
                if !spoor_storage::matches_span(&record, &cheap) {
                    continue;
                }
                if detail {
                    let full = cols
                        .record(row, &tables, true)
                        .map_err(|e| block_err(self.id(), e))?;
                    if !spoor_storage::matches_span(&full, query) {
                        continue;
                    }
                }
                let Some(at) = self.index.entry_at_row(global as u32) else {
                    return Err(block_err(self.id(), "a row outside every trace"));
                };
                let entry = &self.index.entries()[at];
                found.push(entry.trace_id);
                matched_until = (entry.row_start + entry.row_count) as usize;
            }
            row_base += cols.len();
        }
        Ok(found)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use parquet::basic::{Compression, Encoding};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use spoor_model::{AnyValue, KeyValue, SpanBatch};

    use super::write::{BlockIdentity, BlockWriteOptions, build_block};
    use super::*;
    use crate::record::tests::rich_batch;

    fn batch_with_hot_keys() -> SpanBatch {
        let mut batch = rich_batch();
        let attrs = &mut batch.spans[0].span.attributes;
        attrs.insert(0, KeyValue::str("http.method", "GET"));
        attrs.push(KeyValue::new("http.status_code", AnyValue::Int(503)));
        // Same key again, and a hot key with the wrong type: both stay generic.
        attrs.push(KeyValue::str("http.method", "POST"));
        attrs.push(KeyValue::new("db.statement", AnyValue::Int(1)));
        batch.spans[1]
            .span
            .attributes
            .push(KeyValue::str("db.statement", "select 1"));
        batch
    }

    async fn built(batch: &SpanBatch) -> (BlockStore, Block) {
        let store = BlockStore::new(Arc::new(object_store::memory::InMemory::new()));
        let mut refs: Vec<&SpanRecord> = batch.spans.iter().collect();
        let built = build_block(
            &mut refs,
            BlockIdentity {
                id: "b1".into(),
                created_unix_nano: 1,
                level: 0,
                wal_seq: 3,
                replaces: Vec::new(),
                ingest: Some((10, 20)),
            },
            &BlockWriteOptions::default(),
        )
        .unwrap();
        store.upload(&built.meta, &built.files).await.unwrap();
        let meta = store.read_meta("b1").await.unwrap().unwrap();
        assert_eq!(meta, built.meta);
        let block = Block::load(&store, meta).await.unwrap();
        (store, block)
    }

    #[tokio::test]
    async fn spans_round_trip_through_a_block_exactly() {
        let batch = batch_with_hot_keys();
        let (store, block) = built(&batch).await;
        assert_eq!(block.meta.spans, 3);
        assert_eq!(block.meta.traces, 2);
        assert!(block.meta.may_have_key("http.method"));
        assert!(!block.meta.may_have_key("deep"));
        assert!(block.meta.may_have_key("m"));
        assert!(
            block.meta.may_have_key("host.cpu"),
            "resource keys are listed"
        );
        let mut back = block.traces(&store, block.index.entries()).await.unwrap();
        // Rows are sorted by trace ID then start; put both in one order to compare.
        let key = |r: &SpanRecord| format!("{:?}", (r.span.trace_id, r.span.span_id));
        back.sort_by_key(key);
        let mut want = batch.spans.clone();
        want.sort_by_key(key);
        assert_eq!(format!("{want:?}"), format!("{back:?}"));
        // Spans of one resource share one Arc after reading.
        let shared = back
            .iter()
            .filter(|r| r.service_name() == "svc")
            .map(|r| Arc::as_ptr(&r.resource))
            .collect::<std::collections::HashSet<_>>();
        assert_eq!(shared.len(), 1);
    }

    #[tokio::test]
    async fn hot_keys_live_in_their_own_columns() {
        let batch = batch_with_hot_keys();
        let (store, block) = built(&batch).await;
        let hot = schema::col::HOT + schema::hot_index("http.method").unwrap();
        let batches = block.read_spans(&store, None, Some(&[hot])).await.unwrap();
        let col = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        let values: Vec<Option<&str>> = col.iter().collect();
        assert!(values.contains(&Some("GET")));
        assert!(
            !values.contains(&Some("POST")),
            "only the first occurrence moves"
        );
    }

    #[tokio::test]
    async fn the_parquet_file_uses_dictionary_delta_and_zstd() {
        let batch = batch_with_hot_keys();
        let (store, _) = built(&batch).await;
        let bytes = store.get("b1", files::SPANS).await.unwrap();
        let reader = SerializedFileReader::new(bytes).unwrap();
        let rg = reader.metadata().row_group(0);
        let column = |name: &str| {
            rg.columns()
                .iter()
                .find(|c| c.column_path().string() == name)
                .unwrap_or_else(|| panic!("no column {name}"))
        };
        let start = column("start_time_unix_nano");
        assert!(matches!(start.compression(), Compression::ZSTD(_)));
        let encodings: Vec<Encoding> = start.encodings().collect();
        assert!(
            encodings.contains(&Encoding::DELTA_BINARY_PACKED),
            "{encodings:?}"
        );
        let events_time = column("events.list.element.time_unix_nano");
        let encodings: Vec<Encoding> = events_time.encodings().collect();
        assert!(
            encodings.contains(&Encoding::DELTA_BINARY_PACKED),
            "{encodings:?}"
        );
        let service = column("service_name");
        assert!(service.dictionary_page_offset().is_some());
        let span_id = column("span_id");
        assert!(span_id.dictionary_page_offset().is_none());
        assert!(
            column("attributes.list.element.key")
                .dictionary_page_offset()
                .is_some()
        );
    }

    #[tokio::test]
    async fn damaged_block_files_are_errors_not_panics() {
        let batch = batch_with_hot_keys();
        let (store, block) = built(&batch).await;
        // A spans.parquet that is not Parquet.
        store
            .put(
                "b1",
                files::SPANS,
                Bytes::from_static(b"PAR1 nothing here PAR1"),
            )
            .await
            .unwrap();
        let mut meta = block.meta.clone();
        meta.files.insert(files::SPANS.into(), 22);
        let fresh = Block::new(
            meta,
            block.index.clone(),
            block.bloom.clone(),
            block.edges.clone(),
        );
        assert!(fresh.traces(&store, fresh.index.entries()).await.is_err());
        // A resources.parquet with the wrong schema.
        let spans = store.get("b1", files::SCOPES).await.unwrap();
        store.put("b1", files::RESOURCES, spans).await.unwrap();
        let fresh = Block::new(
            block.meta.clone(),
            block.index.clone(),
            block.bloom.clone(),
            block.edges.clone(),
        );
        assert!(fresh.tables(&store).await.is_err());
    }
}
