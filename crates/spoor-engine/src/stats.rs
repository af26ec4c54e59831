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
    pub(crate) block_trace_reads: AtomicU64,
    pub(crate) block_scans: AtomicU64,
    pub(crate) compaction_errors: AtomicU64,
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
    /// Blocks found at open that could not be read (left in place, logged).
    pub blocks_unreadable: u64,
    /// Trace reads that opened a block's spans (after its Bloom filter and
    /// trace index said the block holds the trace).
    pub block_trace_reads: u64,
    /// Blocks scanned by searches (after pruning by metadata).
    pub block_scans: u64,
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
            block_trace_reads: get(&self.block_trace_reads),
            block_scans: get(&self.block_scans),
            ..EngineStats::default()
        }
    }
}
