//! Engine counters.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Live counters, updated with relaxed atomics.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) wal_groups: AtomicU64,
    pub(crate) wal_records: AtomicU64,
    pub(crate) wal_bytes: AtomicU64,
    pub(crate) wal_write_errors: AtomicU64,
    pub(crate) wal_segments_created: AtomicU64,
    pub(crate) wal_truncations: AtomicU64,
    pub(crate) wal_truncated_bytes: AtomicU64,
    pub(crate) wal_damaged_headers: AtomicU64,
    pub(crate) wal_damaged_ranges: AtomicU64,
    pub(crate) wal_skipped_bytes: AtomicU64,
    pub(crate) quarantined_files: AtomicU64,
    pub(crate) quarantine_errors: AtomicU64,
    pub(crate) unwritable_episodes: AtomicU64,
    /// Why the WAL cannot write right now (`None` when it can).
    pub(crate) unwritable: Mutex<Option<String>>,
    /// The last cut attempt failed.
    pub(crate) cut_failing: std::sync::atomic::AtomicBool,
    pub(crate) wal_replayed_records: AtomicU64,
    pub(crate) spans_written: AtomicU64,
    pub(crate) writes_rejected_busy: AtomicU64,
    pub(crate) blocks_cut: AtomicU64,
    pub(crate) cut_errors: AtomicU64,
    pub(crate) blocks_compacted: AtomicU64,
    pub(crate) blocks_expired: AtomicU64,
    pub(crate) blocks_unreadable: AtomicU64,
    pub(crate) blocks_quarantined: AtomicU64,
    pub(crate) blocks_incomplete: AtomicU64,
    pub(crate) blocks_damaged: AtomicU64,
    pub(crate) damaged_block_reads: AtomicU64,
    pub(crate) block_trace_reads: AtomicU64,
    pub(crate) block_scans: AtomicU64,
    pub(crate) stored_summaries: AtomicU64,
    pub(crate) compaction_errors: AtomicU64,
    pub(crate) block_refreshes: AtomicU64,
    pub(crate) block_refresh_errors: AtomicU64,
    pub(crate) bucket_index_used: AtomicU64,
    pub(crate) bucket_index_missing: AtomicU64,
    pub(crate) bucket_index_stale: AtomicU64,
    pub(crate) bucket_index_damaged: AtomicU64,
    pub(crate) bucket_index_writes: AtomicU64,
    pub(crate) bucket_index_write_errors: AtomicU64,
    /// Bytes of WAL segments on disk (every segment no uploaded block covers).
    pub(crate) wal_disk_bytes: AtomicU64,
    /// Bytes of a writer's blocks in `<data_dir>/pending` not yet uploaded.
    pub(crate) pending_bytes: AtomicU64,
    pub(crate) writes_rejected_backlog: AtomicU64,
    /// The last write found the backlog at its budget (and was refused).
    pub(crate) backlog_full: std::sync::atomic::AtomicBool,
    pub(crate) blocks_spilled: AtomicU64,
    /// A compaction runs now, and the spans of its sources (0 when none runs).
    pub(crate) compaction_running: std::sync::atomic::AtomicBool,
    pub(crate) compaction_source_spans: AtomicU64,
    /// Incomplete block folders (a `WRITING` marker, no `meta.json`) the
    /// last listing of a shared store found.
    pub(crate) incomplete_blocks_seen: AtomicU64,
}

/// A snapshot of the engine's counters and gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Group commits (one write and one fsync each).
    pub wal_groups: u64,
    /// Records (batches) appended to the WAL.
    pub wal_records: u64,
    /// Bytes appended to the WAL.
    pub wal_bytes: u64,
    /// Groups that failed to write or fsync.
    pub wal_write_errors: u64,
    /// WAL segments started after the first.
    pub wal_segments_created: u64,
    /// Torn WAL tails (of the newest segment) cut off during replay, after
    /// their bytes were set aside in the quarantine folder.
    pub wal_truncations: u64,
    /// Bytes cut off by those truncations.
    pub wal_truncated_bytes: u64,
    /// WAL segments whose header was damaged (records recovered by scanning).
    pub wal_damaged_headers: u64,
    /// Damaged byte ranges skipped during replay (set aside in the quarantine folder).
    pub wal_damaged_ranges: u64,
    /// Bytes in those ranges.
    pub wal_skipped_bytes: u64,
    /// Files written to the quarantine folder.
    pub quarantined_files: u64,
    /// Damaged data that could not be set aside (left in place).
    pub quarantine_errors: u64,
    /// Times the engine became unable to write (a full disk, a quota, I/O errors).
    pub unwritable_episodes: u64,
    /// Records replayed from the WAL at open.
    pub wal_replayed_records: u64,
    /// New spans that reached the head (identical rewrites excluded).
    pub spans_written: u64,
    /// Writes refused because memory for recent spans was full.
    pub writes_rejected_busy: u64,
    /// Writes refused because the backlog (acknowledged, not yet in the
    /// block store) was at its budget.
    pub writes_rejected_backlog: u64,
    /// Bytes of WAL segments on disk.
    pub wal_disk_bytes: u64,
    /// A writer's blocks kept on local disk because the store failed, not
    /// yet uploaded, and their bytes.
    pub pending_blocks: u64,
    pub pending_bytes: u64,
    /// Blocks a writer kept on local disk because uploading them failed.
    pub blocks_spilled: u64,
    /// The backlog: WAL bytes plus pending block bytes on local disk.
    pub backlog_bytes: u64,
    /// Its budget (`backlog_max_bytes`).
    pub backlog_max_bytes: u64,
    /// 1 while the backlog is at its budget (writes are refused).
    pub backlog_full: u64,
    /// 1 while a compaction runs, and the spans of its source blocks.
    pub compaction_running: u64,
    pub compaction_source_spans: u64,
    /// Incomplete block folders (an upload that never finished, or one
    /// under way) the last listing of a shared store found; never read,
    /// removed by the lease holder once an hour old.
    pub incomplete_blocks_seen: u64,
    /// Blocks cut from the head.
    pub blocks_cut: u64,
    /// Cuts that failed (retried later).
    pub cut_errors: u64,
    /// Blocks written by compaction.
    pub blocks_compacted: u64,
    /// Compactions that failed (retried later).
    pub compaction_errors: u64,
    /// Blocks deleted by retention.
    pub blocks_expired: u64,
    /// Spans in memory (head and heads being cut).
    pub head_spans: u64,
    /// Traces in the active head.
    pub head_traces: u64,
    /// Estimated bytes in memory for recent spans.
    pub head_bytes: u64,
    /// Blocks readable now.
    pub blocks: u64,
    /// Spans in those blocks.
    pub block_spans: u64,
    /// Memory held by the blocks' trace indexes and Bloom filters, roughly.
    pub block_index_bytes: u64,
    /// Blocks found at open in a format this build does not read, or that
    /// failed to read for a reason other than damage (left in place, logged).
    pub blocks_unreadable: u64,
    /// Damaged blocks set aside at open (no or unreadable `meta.json`,
    /// damaged index files): moved to `<data_dir>/quarantine` with a local
    /// store, left in place otherwise; never deleted.
    pub blocks_quarantined: u64,
    /// Block folders found at open with the `WRITING` marker and no
    /// `meta.json`: an upload that never finished, never loaded. Removed with
    /// a local store; in a shared store left in place (another process may
    /// still be writing it) until it is an hour old, then removed.
    pub blocks_incomplete: u64,
    /// Blocks found damaged while reading them (a checksum mismatch or
    /// undecodable data); they are skipped from then on.
    pub blocks_damaged: u64,
    /// Reads that skipped a damaged or unreadable block (each answered
    /// with the healthy data and a warning).
    pub damaged_block_reads: u64,
    /// Trace reads that opened a block's spans (after its Bloom filter and
    /// trace index said the block holds the trace).
    pub block_trace_reads: u64,
    /// Blocks scanned by searches (after pruning by metadata).
    pub block_scans: u64,
    /// Summary search results answered from a block's trace index, without
    /// reading the trace.
    pub stored_summaries: u64,
    /// Listings of a shared block store (queriers and compactors).
    pub block_refreshes: u64,
    /// Listings of a shared block store that failed (the known blocks are kept).
    pub block_refresh_errors: u64,
    /// Refreshes a querier answered from the bucket index, and those that
    /// listed the bucket because the index was missing, stale, or damaged
    /// or unreadable.
    pub bucket_index_used: u64,
    pub bucket_index_missing: u64,
    pub bucket_index_stale: u64,
    pub bucket_index_damaged: u64,
    /// Bucket indexes the compactor wrote, and writes that failed.
    pub bucket_index_writes: u64,
    pub bucket_index_write_errors: u64,
    /// 1 while this compactor holds the compactors' lease.
    pub compactor_lease_held: u64,
    /// Blocks a collector published lately (named to queriers with every answer).
    pub recent_blocks: u64,
    /// Object-store requests by kind: whole-object GETs, ranged GETs (one
    /// per batch of ranges), HEADs, PUTs, DELETEs and LISTs.
    pub store_gets: u64,
    pub store_range_gets: u64,
    pub store_heads: u64,
    pub store_puts: u64,
    pub store_deletes: u64,
    pub store_lists: u64,
    /// Bytes read from the object store.
    pub store_read_bytes: u64,
    /// Reads answered by the read cache instead of the store.
    pub read_cache_hits: u64,
    /// Bytes held by the read cache.
    pub read_cache_bytes: u64,
    /// The read cache's disk tier (`--read-cache-dir`): ranges served from
    /// it, looked for and not there, bytes of its files, files found
    /// damaged (removed and read again from the store), failed writes.
    pub read_cache_disk_hits: u64,
    pub read_cache_disk_misses: u64,
    pub read_cache_disk_bytes: u64,
    pub read_cache_disk_damaged: u64,
    pub read_cache_disk_write_errors: u64,
    /// Queries answered, and the object-store requests and bytes they cost
    /// together (requests per query = the ratio of their rates).
    pub queries: u64,
    pub query_store_requests: u64,
    pub query_store_read_bytes: u64,
}

/// One series of [`EngineStats::series`]: name, Prometheus type, help, value.
pub type EngineSeries = (&'static str, &'static str, &'static str, u64);

impl EngineStats {
    /// The counters and gauges as Prometheus series (`spoor_engine_*`).
    pub fn series(&self) -> Vec<EngineSeries> {
        vec![
            (
                "spoor_engine_spans_written_total",
                "counter",
                "New spans that reached the engine's head.",
                self.spans_written,
            ),
            (
                "spoor_engine_wal_truncations_total",
                "counter",
                "Torn or corrupt WAL tails truncated during replay.",
                self.wal_truncations,
            ),
            (
                "spoor_engine_wal_truncated_bytes_total",
                "counter",
                "Bytes cut off by WAL truncations during replay.",
                self.wal_truncated_bytes,
            ),
            (
                "spoor_engine_wal_write_errors_total",
                "counter",
                "WAL groups that failed to write or fsync.",
                self.wal_write_errors,
            ),
            (
                "spoor_engine_blocks_cut_total",
                "counter",
                "Blocks cut from the head into the block store.",
                self.blocks_cut,
            ),
            (
                "spoor_engine_cut_errors_total",
                "counter",
                "Block cuts or uploads of pending blocks that failed (retried later).",
                self.cut_errors,
            ),
            (
                "spoor_engine_blocks_compacted_total",
                "counter",
                "Blocks written by compaction.",
                self.blocks_compacted,
            ),
            (
                "spoor_engine_compaction_errors_total",
                "counter",
                "Compactions that failed (retried later).",
                self.compaction_errors,
            ),
            (
                "spoor_engine_blocks_expired_total",
                "counter",
                "Blocks deleted by retention (received longer ago than the retention).",
                self.blocks_expired,
            ),
            (
                "spoor_engine_blocks_unreadable_total",
                "counter",
                "Blocks found at start in an unsupported format, or unreadable for a reason other than damage (an I/O error); left in place.",
                self.blocks_unreadable,
            ),
            (
                "spoor_engine_blocks_quarantined_total",
                "counter",
                "Damaged blocks set aside at start (moved to <data_dir>/quarantine for a local store), never deleted.",
                self.blocks_quarantined,
            ),
            (
                "spoor_engine_blocks_incomplete_total",
                "counter",
                "Block folders found at start whose upload never finished (WRITING marker, no meta.json); never loaded.",
                self.blocks_incomplete,
            ),
            (
                "spoor_engine_blocks_damaged_total",
                "counter",
                "Blocks found damaged while reading them (checksum mismatch or missing data); skipped from then on.",
                self.blocks_damaged,
            ),
            (
                "spoor_engine_damaged_block_reads_total",
                "counter",
                "Reads that skipped a damaged or unreadable block and answered with the healthy data and a warning.",
                self.damaged_block_reads,
            ),
            (
                "spoor_engine_writes_rejected_backlog_total",
                "counter",
                "Writes refused (429 / RESOURCE_EXHAUSTED) because the backlog of acknowledged spans not yet in the block store was at its budget.",
                self.writes_rejected_backlog,
            ),
            (
                "spoor_engine_backlog_bytes",
                "gauge",
                "Bytes on local disk of spans acknowledged and not yet in the block store: WAL segments plus blocks awaiting upload.",
                self.backlog_bytes,
            ),
            (
                "spoor_engine_backlog_max_bytes",
                "gauge",
                "The backlog budget (--backlog-max-bytes): writes are refused at or beyond it.",
                self.backlog_max_bytes,
            ),
            (
                "spoor_engine_backlog_full",
                "gauge",
                "1 while the backlog is at its budget and writes are refused.",
                self.backlog_full,
            ),
            (
                "spoor_engine_wal_disk_bytes",
                "gauge",
                "Bytes of write-ahead log segments on disk.",
                self.wal_disk_bytes,
            ),
            (
                "spoor_engine_pending_blocks",
                "gauge",
                "Blocks a collector keeps in <data_dir>/pending because the block store failed, not yet uploaded.",
                self.pending_blocks,
            ),
            (
                "spoor_engine_pending_bytes",
                "gauge",
                "Bytes of those blocks.",
                self.pending_bytes,
            ),
            (
                "spoor_engine_blocks_spilled_total",
                "counter",
                "Blocks a collector wrote to <data_dir>/pending because uploading them failed (uploaded later, in order).",
                self.blocks_spilled,
            ),
            (
                "spoor_engine_compaction_running",
                "gauge",
                "1 while a compaction runs (from reading its sources to publishing the merged block).",
                self.compaction_running,
            ),
            (
                "spoor_engine_compaction_source_spans",
                "gauge",
                "Spans in the source blocks of the compaction running now; 0 when none runs.",
                self.compaction_source_spans,
            ),
            (
                "spoor_engine_incomplete_blocks_seen",
                "gauge",
                "Block folders of a shared store with the WRITING marker and no meta.json at the last listing: never read; the compactor holding the lease removes them once an hour old.",
                self.incomplete_blocks_seen,
            ),
            (
                "spoor_engine_head_spans",
                "gauge",
                "Spans in memory (head and heads being cut).",
                self.head_spans,
            ),
            (
                "spoor_engine_head_bytes",
                "gauge",
                "Estimated bytes in memory for recent spans.",
                self.head_bytes,
            ),
            (
                "spoor_engine_blocks",
                "gauge",
                "Readable blocks.",
                self.blocks,
            ),
            (
                "spoor_engine_block_spans",
                "gauge",
                "Spans in readable blocks.",
                self.block_spans,
            ),
            (
                "spoor_engine_block_trace_reads_total",
                "counter",
                "Trace reads that opened a block's spans.",
                self.block_trace_reads,
            ),
            (
                "spoor_engine_block_scans_total",
                "counter",
                "Blocks scanned by searches after pruning.",
                self.block_scans,
            ),
            (
                "spoor_engine_stored_summaries_total",
                "counter",
                "Summary search results answered from a block's trace index without reading the trace.",
                self.stored_summaries,
            ),
            (
                "spoor_engine_block_refreshes_total",
                "counter",
                "Listings of the shared block store (spoor query, spoor compactor).",
                self.block_refreshes,
            ),
            (
                "spoor_engine_block_refresh_errors_total",
                "counter",
                "Listings of the shared block store that failed; the blocks known are kept.",
                self.block_refresh_errors,
            ),
            (
                "spoor_engine_bucket_index_used_total",
                "counter",
                "Refreshes of spoor query read from the bucket index instead of listing the bucket.",
                self.bucket_index_used,
            ),
            (
                "spoor_engine_bucket_index_missing_total",
                "counter",
                "Refreshes of spoor query that listed the bucket: no bucket index.",
                self.bucket_index_missing,
            ),
            (
                "spoor_engine_bucket_index_stale_total",
                "counter",
                "Refreshes of spoor query that listed the bucket: the bucket index was older than --bucket-index-max-age.",
                self.bucket_index_stale,
            ),
            (
                "spoor_engine_bucket_index_damaged_total",
                "counter",
                "Refreshes of spoor query that listed the bucket: the bucket index was damaged or unreadable.",
                self.bucket_index_damaged,
            ),
            (
                "spoor_engine_bucket_index_writes_total",
                "counter",
                "Bucket indexes this compactor wrote.",
                self.bucket_index_writes,
            ),
            (
                "spoor_engine_bucket_index_write_errors_total",
                "counter",
                "Bucket index writes of this compactor that failed.",
                self.bucket_index_write_errors,
            ),
            (
                "spoor_engine_compactor_lease_held",
                "gauge",
                "1 while this compactor holds the compactors' lease in the store.",
                self.compactor_lease_held,
            ),
            (
                "spoor_engine_recent_blocks",
                "gauge",
                "Blocks this collector published lately and names to queriers.",
                self.recent_blocks,
            ),
            (
                "spoor_engine_block_index_bytes",
                "gauge",
                "Memory held by the readable blocks' trace indexes and Bloom filters, roughly.",
                self.block_index_bytes,
            ),
            (
                "spoor_engine_store_get_requests_total",
                "counter",
                "Whole-object GET requests to the block store.",
                self.store_gets,
            ),
            (
                "spoor_engine_store_range_requests_total",
                "counter",
                "Ranged GET requests to the block store (one per batch of ranges of one file).",
                self.store_range_gets,
            ),
            (
                "spoor_engine_store_head_requests_total",
                "counter",
                "HEAD requests to the block store.",
                self.store_heads,
            ),
            (
                "spoor_engine_store_put_requests_total",
                "counter",
                "PUT requests to the block store.",
                self.store_puts,
            ),
            (
                "spoor_engine_store_delete_requests_total",
                "counter",
                "DELETE requests to the block store.",
                self.store_deletes,
            ),
            (
                "spoor_engine_store_list_requests_total",
                "counter",
                "LIST requests to the block store.",
                self.store_lists,
            ),
            (
                "spoor_engine_store_read_bytes_total",
                "counter",
                "Bytes read from the block store.",
                self.store_read_bytes,
            ),
            (
                "spoor_engine_read_cache_hits_total",
                "counter",
                "Block-file ranges and Parquet footers served from the read cache instead of the store.",
                self.read_cache_hits,
            ),
            (
                "spoor_engine_read_cache_bytes",
                "gauge",
                "Bytes held by the read cache (--read-cache-bytes).",
                self.read_cache_bytes,
            ),
            (
                "spoor_engine_read_cache_disk_hits_total",
                "counter",
                "Block-file ranges served from the read cache's disk tier (--read-cache-dir).",
                self.read_cache_disk_hits,
            ),
            (
                "spoor_engine_read_cache_disk_misses_total",
                "counter",
                "Block-file ranges looked for in the read cache's disk tier and not found there.",
                self.read_cache_disk_misses,
            ),
            (
                "spoor_engine_read_cache_disk_bytes",
                "gauge",
                "Bytes held by the read cache's disk tier (--read-cache-disk-bytes).",
                self.read_cache_disk_bytes,
            ),
            (
                "spoor_engine_read_cache_disk_damaged_total",
                "counter",
                "Read-cache files found damaged (header or CRC-32 mismatch): removed, never returned, read again from the store.",
                self.read_cache_disk_damaged,
            ),
            (
                "spoor_engine_read_cache_disk_write_errors_total",
                "counter",
                "Writes to the read cache's disk tier that failed (the query does not).",
                self.read_cache_disk_write_errors,
            ),
            (
                "spoor_engine_queries_total",
                "counter",
                "Reads answered by the engine (trace by ID, searches, summaries, dependencies, RED statistics).",
                self.queries,
            ),
            (
                "spoor_engine_query_store_requests_total",
                "counter",
                "Block-store requests made by those reads: divided by spoor_engine_queries_total, the requests one query cost.",
                self.query_store_requests,
            ),
            (
                "spoor_engine_query_store_read_bytes_total",
                "counter",
                "Bytes those reads fetched from the block store.",
                self.query_store_read_bytes,
            ),
        ]
    }
}

impl Stats {
    /// Copies the counters (gauges are filled in by the engine).
    pub(crate) fn snapshot(&self) -> EngineStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EngineStats {
            wal_groups: get(&self.wal_groups),
            wal_records: get(&self.wal_records),
            wal_bytes: get(&self.wal_bytes),
            wal_write_errors: get(&self.wal_write_errors),
            wal_segments_created: get(&self.wal_segments_created),
            wal_truncations: get(&self.wal_truncations),
            wal_truncated_bytes: get(&self.wal_truncated_bytes),
            wal_damaged_headers: get(&self.wal_damaged_headers),
            wal_damaged_ranges: get(&self.wal_damaged_ranges),
            wal_skipped_bytes: get(&self.wal_skipped_bytes),
            quarantined_files: get(&self.quarantined_files),
            quarantine_errors: get(&self.quarantine_errors),
            unwritable_episodes: get(&self.unwritable_episodes),
            wal_replayed_records: get(&self.wal_replayed_records),
            spans_written: get(&self.spans_written),
            writes_rejected_busy: get(&self.writes_rejected_busy),
            blocks_cut: get(&self.blocks_cut),
            cut_errors: get(&self.cut_errors),
            blocks_compacted: get(&self.blocks_compacted),
            compaction_errors: get(&self.compaction_errors),
            blocks_expired: get(&self.blocks_expired),
            blocks_unreadable: get(&self.blocks_unreadable),
            blocks_quarantined: get(&self.blocks_quarantined),
            blocks_incomplete: get(&self.blocks_incomplete),
            blocks_damaged: get(&self.blocks_damaged),
            damaged_block_reads: get(&self.damaged_block_reads),
            block_trace_reads: get(&self.block_trace_reads),
            block_scans: get(&self.block_scans),
            stored_summaries: get(&self.stored_summaries),
            block_refreshes: get(&self.block_refreshes),
            bucket_index_used: get(&self.bucket_index_used),
            bucket_index_missing: get(&self.bucket_index_missing),
            bucket_index_stale: get(&self.bucket_index_stale),
            bucket_index_damaged: get(&self.bucket_index_damaged),
            bucket_index_writes: get(&self.bucket_index_writes),
            bucket_index_write_errors: get(&self.bucket_index_write_errors),
            block_refresh_errors: get(&self.block_refresh_errors),
            writes_rejected_backlog: get(&self.writes_rejected_backlog),
            wal_disk_bytes: get(&self.wal_disk_bytes),
            pending_bytes: get(&self.pending_bytes),
            blocks_spilled: get(&self.blocks_spilled),
            compaction_running: u64::from(self.compaction_running.load(Ordering::Relaxed)),
            compaction_source_spans: get(&self.compaction_source_spans),
            incomplete_blocks_seen: get(&self.incomplete_blocks_seen),
            ..EngineStats::default()
        }
    }
}
