use std::sync::Arc;

use tokio::sync::Semaphore;

/// A bounded pool for CPU-heavy work (decoding large payloads), so that it
/// never runs long on the async runtime's threads and never takes more than
/// a set number of threads at once.
#[derive(Clone)]
pub struct CpuPool {
    permits: Arc<Semaphore>,
}

impl CpuPool {
    pub fn new(threads: usize) -> Self {
        CpuPool {
            permits: Arc::new(Semaphore::new(threads.max(1))),
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

/// The pool was shut down or the task panicked.
#[derive(Debug, thiserror::Error)]
#[error("CPU pool task failed")]
pub struct CpuPoolError;
