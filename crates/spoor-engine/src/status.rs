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
        // The engine's general counters and gauges ([`EngineStats::series`]);
        // a name rendered above is not rendered twice.
        for (name, kind, help, value) in s.series() {
            if out.iter().any(|o| o.name == name) {
                continue;
            }
            let kind = if kind == "gauge" { Gauge } else { Counter };
            out.push(m(name, kind, help, value));
        }
        out
    }
}
