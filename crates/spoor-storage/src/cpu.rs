//! The bounded pool every layer runs CPU-heavy work on (ADR 0020).

use std::sync::Arc;

use tokio::sync::Semaphore;

/// A bounded pool for CPU-heavy work (decoding large payloads, decoding
/// block tables, adjusting and summarizing large traces, computing metrics),
/// so that it never runs long on the async runtime's threads and never takes
/// more than a set number of threads at once. Cheap to clone; clones share
/// the slots.
#[derive(Clone)]
pub struct CpuPool {
    permits: Arc<Semaphore>,
    threads: usize,
}

impl std::fmt::Debug for CpuPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuPool")
            .field("threads", &self.threads)
            .field("free", &self.permits.available_permits())
            .finish()
    }
}

impl Default for CpuPool {
    /// One slot per available CPU (2 when unknown).
    fn default() -> Self {
        CpuPool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

impl CpuPool {
    /// Work on fewer spans than this runs inline ([`CpuPool::run_if_large`]).
    pub const SPAN_THRESHOLD: usize = 5_000;

    /// A pool running at most `threads` tasks at once (at least one).
    pub fn new(threads: usize) -> Self {
        CpuPool {
            permits: Arc::new(Semaphore::new(threads.max(1))),
            threads: threads.max(1),
        }
    }

    /// Runs `f` on a blocking thread once a slot is free.
    pub async fn run<T, F>(&self, f: F) -> Result<T, CpuPoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CpuPoolError)?;
        let out = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|_| CpuPoolError)?;
        Ok(out)
    }
}

impl CpuPool {
    /// Runs `f` inline when it handles fewer than
    /// [`CpuPool::SPAN_THRESHOLD`] spans, on the pool otherwise.
    pub async fn run_if_large<T, F>(&self, spans: usize, f: F) -> Result<T, CpuPoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if spans < Self::SPAN_THRESHOLD {
            return Ok(f());
        }
        self.run(f).await
    }
}

/// The pool was shut down or the task panicked.
#[derive(Debug, thiserror::Error)]
#[error("CPU pool task failed")]
pub struct CpuPoolError;
