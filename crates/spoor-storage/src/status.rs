//! How a backend is doing: whether it can take writes (readiness) and its
//! own counters and gauges (exposed on `/metrics`).

/// Whether a backend can take writes now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageHealth {
    /// Writes can be taken now.
    pub writable: bool,
    /// Why not, when not (e.g. "No space left on device").
    pub reason: Option<String>,
}

impl StorageHealth {
    /// A backend that can write.
    pub fn writable() -> Self {
        StorageHealth {
            writable: true,
            reason: None,
        }
    }
}

/// Whether a [`StorageMetric`] only goes up or is a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageMetricKind {
    /// Only increases (Prometheus `counter`; the name ends in `_total`).
    Counter,
    /// A level (Prometheus `gauge`).
    Gauge,
}

/// One series a backend exposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageMetric {
    /// The full metric name, e.g. `spoor_engine_wal_skipped_bytes_total`.
    pub name: &'static str,
    /// One line of help text.
    pub help: &'static str,
    pub kind: StorageMetricKind,
    pub value: u64,
}

/// Reports a backend's health and metrics. Cheap to call (no I/O).
pub trait StorageStatus: Send + Sync + 'static {
    /// Whether writes can be taken now.
    fn health(&self) -> StorageHealth;
    /// The backend's own series, in a stable order.
    fn metrics(&self) -> Vec<StorageMetric>;
}
