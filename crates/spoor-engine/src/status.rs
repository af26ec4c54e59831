//! The engine's [`StorageStatus`]: readiness and the series `/metrics` shows.

use spoor_storage::{StorageHealth, StorageMetric, StorageMetricKind, StorageStatus};

use crate::Engine;

impl StorageStatus for Engine {
    fn health(&self) -> StorageHealth {
        let h = Engine::health(self);
        StorageHealth {
            writable: h.writable,
            reason: h.reason,
        }
    }

    #[rustfmt::skip]
    fn metrics(&self) -> Vec<StorageMetric> {
        use StorageMetricKind::{Counter, Gauge};
        let s = self.stats();
        let h = Engine::health(self);
        let m = |name, kind, help, value| StorageMetric { name, help, kind, value };
        // Health, WAL writing and WAL recovery.
        let mut out = vec![
            m("spoor_engine_writable", Gauge, "1 when the storage engine can write, 0 while it cannot (full disk, quota, I/O errors) or is closed.", u64::from(h.writable)),
            m("spoor_engine_closed", Gauge, "1 once the storage engine was closed.", u64::from(h.closed)),
            m("spoor_engine_unwritable_episodes_total", Counter, "Times the storage engine became unable to write.", s.unwritable_episodes),
            m("spoor_engine_wal_groups_total", Counter, "WAL group commits (one write and one fsync each).", s.wal_groups),
            m("spoor_engine_wal_records_total", Counter, "Records (batches) appended to the WAL.", s.wal_records),
            m("spoor_engine_wal_bytes_total", Counter, "Bytes appended to the WAL.", s.wal_bytes),
            m("spoor_engine_wal_replayed_records_total", Counter, "WAL records replayed at open.", s.wal_replayed_records),
            m("spoor_engine_wal_damaged_ranges_total", Counter, "Damaged WAL byte ranges skipped at open (set aside in the quarantine folder).", s.wal_damaged_ranges),
            m("spoor_engine_wal_skipped_bytes_total", Counter, "Bytes in damaged WAL ranges skipped at open.", s.wal_skipped_bytes),
            m("spoor_engine_wal_damaged_headers_total", Counter, "WAL segments whose header was damaged (records recovered by scanning).", s.wal_damaged_headers),
            m("spoor_engine_quarantined_files_total", Counter, "Files the WAL replay wrote to the data directory's quarantine folder.", s.quarantined_files),
            m("spoor_engine_quarantine_errors_total", Counter, "Damaged WAL data that could not be set aside (left in place).", s.quarantine_errors),
            m("spoor_engine_writes_rejected_busy_total", Counter, "Writes refused because memory for recent spans was full.", s.writes_rejected_busy),
            m("spoor_engine_block_cut_failing", Gauge, "1 while the last block cut failed (it is retried).", u64::from(h.cut_failing)),
        ];
        // The engine's general counters and gauges. (The retention branch
        // renders these same names from `EngineStats::series`; when both are
        // merged, each name must be rendered once.)
        out.extend([
            m("spoor_engine_wal_write_errors_total", Counter, "WAL group commits that failed to write or fsync (their writers got a retryable error).", s.wal_write_errors),
            m("spoor_engine_wal_truncations_total", Counter, "Torn WAL tails cut off at open (their bytes set aside in the quarantine folder first).", s.wal_truncations),
            m("spoor_engine_wal_truncated_bytes_total", Counter, "Bytes cut off by WAL tail truncations.", s.wal_truncated_bytes),
            m("spoor_engine_blocks_cut_total", Counter, "Blocks cut from the head.", s.blocks_cut),
            m("spoor_engine_cut_errors_total", Counter, "Block cuts that failed (retried later).", s.cut_errors),
            m("spoor_engine_blocks_compacted_total", Counter, "Blocks written by compaction.", s.blocks_compacted),
            m("spoor_engine_compaction_errors_total", Counter, "Compactions that failed (retried later).", s.compaction_errors),
            m("spoor_engine_blocks_expired_total", Counter, "Blocks deleted by retention.", s.blocks_expired),
            m("spoor_engine_blocks_unreadable_total", Counter, "Blocks found at open that could not be read.", s.blocks_unreadable),
            m("spoor_engine_head_spans", Gauge, "Spans in memory (not yet in blocks).", s.head_spans),
            m("spoor_engine_head_bytes", Gauge, "Estimated bytes of spans in memory.", s.head_bytes),
            m("spoor_engine_blocks", Gauge, "Readable blocks.", s.blocks),
            m("spoor_engine_block_spans", Gauge, "Spans in readable blocks.", s.block_spans),
        ]);
        out
    }
}
