//! The write path: a batch is checked against the memory bound, framed,
//! appended to the WAL and fsynced by the writer thread (group commit), then
//! applied to the active head, where it is searchable at once.

use std::sync::atomic::Ordering;
use std::time::Instant;

use spoor_model::SpanBatch;

use crate::state::Shared;
use crate::{EngineError, wal};

impl Shared {
    /// Called by the WAL writer with every durable group.
    pub(crate) fn apply(&self, batches: Vec<SpanBatch>) {
        let now = self.config.clock.now_nanos();
        let mut mem = self.mem.write();
        if mem.active_since.is_none() {
            mem.active_since = Some(Instant::now());
        }
        mem.active.note_ingest(now);
        let mut added = 0;
        for batch in batches {
            added += mem.active.insert_batch(batch);
        }
        let active = mem.active.bytes();
        self.mem_bytes.store(mem.bytes(), Ordering::Relaxed);
        drop(mem);
        self.stats
            .spans_written
            .fetch_add(added as u64, Ordering::Relaxed);
        if active >= self.config.head_cut_bytes {
            self.wake.notify_one();
        }
    }
}

/// Writes `batch`: returns once it is durable in the WAL and in the head.
/// Refused with `Busy` while the heads hold `head_max_bytes`, or while the
/// backlog on disk (acknowledged, not yet in the block store) is at
/// `backlog_max_bytes`.
pub(crate) async fn write(shared: &Shared, batch: SpanBatch) -> Result<(), EngineError> {
    if batch.is_empty() {
        return Ok(());
    }
    let budget = shared.config.backlog_max_bytes;
    let backlog = shared.backlog_bytes();
    if backlog >= budget {
        shared
            .stats
            .writes_rejected_backlog
            .fetch_add(1, Ordering::Relaxed);
        shared.wake.notify_one();
        if !shared.stats.backlog_full.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                backlog_bytes = backlog,
                backlog_max_bytes = budget,
                wal_bytes = shared.stats.wal_disk_bytes.load(Ordering::Relaxed),
                pending_bytes = shared.stats.pending_bytes.load(Ordering::Relaxed),
                "refusing writes (429 / RESOURCE_EXHAUSTED): the backlog of acknowledged spans \
                 not yet in the block store is at its budget"
            );
        }
        return Err(EngineError::Busy(format!(
            "{backlog} bytes acknowledged are waiting for the block store (budget {budget}); \
             retry later"
        )));
    }
    if shared.stats.backlog_full.swap(false, Ordering::Relaxed) {
        tracing::info!(
            backlog_bytes = backlog,
            backlog_max_bytes = budget,
            "accepting writes again: the backlog is under its budget"
        );
    }
    let max = shared.config.head_max_bytes;
    let held = shared.mem_bytes.load(Ordering::Relaxed);
    if held >= max {
        shared
            .stats
            .writes_rejected_busy
            .fetch_add(1, Ordering::Relaxed);
        shared.wake.notify_one();
        return Err(EngineError::Busy(format!(
            "{held} bytes of recent spans are waiting to be written to blocks (limit {max})"
        )));
    }
    let record = wal::frame_batch(&batch);
    if record.len() - wal::FRAME_LEN > wal::MAX_RECORD_BYTES {
        return Err(EngineError::Config(format!(
            "a batch of {} bytes exceeds the largest WAL record",
            record.len()
        )));
    }
    shared
        .request(|ack| wal::Request::Append { record, batch, ack })
        .await
}
