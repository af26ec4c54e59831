//! Readable blocks: a block's metadata, trace index, Bloom filter and
//! dependency edges held in memory, its Parquet footer and resource/scope
//! tables loaded on first use, and the scans over its spans — whole traces
//! by row ranges, the search predicate over the columns it needs, RED
//! statistics. The bytes come from the block store (`store`), their
//! meaning from the block format (`block`).

use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use futures::TryStreamExt;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::file::metadata::PageIndexPolicy;
use spoor_model::{SpanRecord, TraceId};
use spoor_storage::CpuPool;
use tokio::sync::OnceCell;

use crate::EngineError;
use crate::block::edges::BlockEdges;
use crate::block::index::{TraceEntry, TraceIndex};
use crate::block::read::{self, SpanColumns, Tables};
use crate::block::{BlockMeta, damaged_err, files, red, schema, verify};
use crate::bloom::TraceBloom;
use crate::store::{BlockStore, FileReader};

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

pub(crate) fn block_err(block: &str, e: impl std::fmt::Display) -> EngineError {
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
                let (len, crc) = store.checksum(self.id(), files::SPANS).await?;
                verify(&self.meta, files::SPANS, len, || crc)
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

    fn object_reader(&self, store: &BlockStore) -> FileReader {
        store.file_reader(
            self.id(),
            files::SPANS,
            self.meta.files.get(files::SPANS).copied(),
        )
    }

    /// The block's resources and scopes.
    pub(crate) async fn tables(
        &self,
        store: &BlockStore,
        cpu: &CpuPool,
    ) -> Result<Arc<Tables>, EngineError> {
        self.tables
            .get_or_try_init(|| async {
                let resources = store.get_verified(&self.meta, files::RESOURCES).await?;
                let scopes = store.get_verified(&self.meta, files::SCOPES).await?;
                let id = self.id().to_owned();
                cpu.run(move || {
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
        cpu: &CpuPool,
        entries: &[TraceEntry],
    ) -> Result<Vec<SpanRecord>, EngineError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let ranges: Vec<std::ops::Range<usize>> = entries
            .iter()
            .map(|e| e.row_start as usize..(e.row_start + e.row_count) as usize)
            .collect();
        let tables = self.tables(store, cpu).await?;
        let batches = self.read_spans(store, Some(&ranges), None).await?;
        let rows: usize = ranges.iter().map(|r| r.len()).sum();
        let id = self.id().to_owned();
        // Decoding many rows (the traces of a whole search) is CPU work.
        cpu.run_if_large(rows, move || decode_records(&id, &batches, &tables, rows))
            .await
            .map_err(|e| block_err(self.id(), e))?
    }

    /// Every span of the block, in row order.
    pub(crate) async fn all_spans(
        &self,
        store: &BlockStore,
        cpu: &CpuPool,
    ) -> Result<Vec<SpanRecord>, EngineError> {
        let tables = self.tables(store, cpu).await?;
        let batches = self.read_spans(store, None, None).await?;
        decode_records(self.id(), &batches, &tables, self.meta.spans as usize)
    }
}

/// Every row of `batches` (`rows` in all) as a span record.
fn decode_records(
    block: &str,
    batches: &[RecordBatch],
    tables: &Tables,
    rows: usize,
) -> Result<Vec<SpanRecord>, EngineError> {
    let mut out = Vec::with_capacity(rows);
    for batch in batches {
        let cols = SpanColumns::new(batch).map_err(|e| block_err(block, e))?;
        for row in 0..cols.len() {
            out.push(
                cols.record(row, tables, true)
                    .map_err(|e| block_err(block, e))?,
            );
        }
    }
    Ok(out)
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
        cpu: &CpuPool,
        query: &spoor_storage::TraceQuery,
    ) -> Result<Vec<TraceId>, EngineError> {
        use schema::col;
        if !self.may_match(query) {
            return Ok(Vec::new());
        }
        let tables = self.tables(store, cpu).await?;
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

    use super::*;
    use crate::block::write::{BlockIdentity, BlockWriteOptions, build_block};
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
        let mut back = block
            .traces(&store, &CpuPool::new(1), block.index.entries())
            .await
            .unwrap();
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
        assert!(
            fresh
                .traces(&store, &CpuPool::new(1), fresh.index.entries())
                .await
                .is_err()
        );
        // A resources.parquet with the wrong schema.
        let spans = store.get("b1", files::SCOPES).await.unwrap();
        store.put("b1", files::RESOURCES, spans).await.unwrap();
        let fresh = Block::new(
            block.meta.clone(),
            block.index.clone(),
            block.bloom.clone(),
            block.edges.clone(),
        );
        assert!(fresh.tables(&store, &CpuPool::new(1)).await.is_err());
    }
}
