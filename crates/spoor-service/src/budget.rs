//! The process's one memory budget for ingest: every request body, its
//! decompressed bytes and an estimate of its decoded spans are reserved here
//! before they are read, inflated or decoded, and released when the request
//! is done (ADR 0017).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a reservation could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// Not enough of the budget is free right now; the request may succeed
    /// later (HTTP 429 + `Retry-After`, gRPC `RESOURCE_EXHAUSTED` + `RetryInfo`).
    #[error("the ingest memory budget is in use; retry later")]
    Busy,
    /// The request needs more than the whole budget: it can never be
    /// admitted (HTTP 413, a non-retryable gRPC status).
    #[error(
        "the request needs {needed} bytes of memory, more than the whole ingest budget of {capacity} bytes"
    )]
    Exceeds {
        /// Bytes the request would hold in total.
        needed: usize,
        /// The whole budget.
        capacity: usize,
    },
}

/// A byte budget shared by every receiver. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct MemoryBudget {
    sem: Option<Arc<Semaphore>>,
    capacity: u32,
}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("capacity", &self.capacity)
            .field("available", &self.available())
            .finish()
    }
}

impl MemoryBudget {
    /// A budget of `bytes` (`0` = unlimited; capped at 4 GiB).
    pub fn new(bytes: usize) -> Self {
        let max = bytes.min(u32::MAX as usize).min(Semaphore::MAX_PERMITS);
        let capacity = u32::try_from(max).unwrap_or(u32::MAX);
        MemoryBudget {
            sem: (capacity > 0).then(|| Arc::new(Semaphore::new(capacity as usize))),
            capacity,
        }
    }

    /// The whole budget in bytes (`None` when unlimited).
    pub fn capacity(&self) -> Option<usize> {
        self.sem.as_ref().map(|_| self.capacity as usize)
    }

    /// Bytes not reserved right now (`None` when unlimited).
    pub fn available(&self) -> Option<usize> {
        self.sem.as_ref().map(|s| s.available_permits())
    }

    /// An empty reservation that can [`Reservation::grow`].
    pub fn empty(&self) -> Reservation {
        Reservation {
            sem: self.sem.clone(),
            capacity: self.capacity,
            permit: None,
            bytes: 0,
        }
    }

    /// Reserves `bytes` without waiting.
    pub fn reserve(&self, bytes: usize) -> Result<Reservation, BudgetError> {
        let mut r = self.empty();
        r.grow(bytes)?;
        Ok(r)
    }

    /// Reserves `bytes` without waiting; a request larger than the whole
    /// budget takes the whole budget (so it runs alone) instead of failing.
    /// For small, already-bounded inputs such as UDP datagrams.
    pub fn reserve_clamped(&self, bytes: usize) -> Result<Reservation, BudgetError> {
        self.reserve(bytes.min(self.capacity as usize).max(1))
    }
}

/// Bytes held from a [`MemoryBudget`]; released when dropped.
#[derive(Debug)]
pub struct Reservation {
    sem: Option<Arc<Semaphore>>,
    capacity: u32,
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl Reservation {
    /// A reservation from no budget (unlimited), for tests and for sinks
    /// without a budget.
    pub fn unlimited() -> Self {
        MemoryBudget::new(0).empty()
    }

    /// Bytes held (as asked for; with an unlimited budget nothing is held).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds `more` bytes in addition, without waiting.
    pub fn grow(&mut self, more: usize) -> Result<(), BudgetError> {
        if more == 0 {
            return Ok(());
        }
        let needed = self.bytes.saturating_add(more);
        let Some(sem) = &self.sem else {
            self.bytes = needed;
            return Ok(());
        };
        if needed > self.capacity as usize {
            return Err(BudgetError::Exceeds {
                needed,
                capacity: self.capacity as usize,
            });
        }
        let want = u32::try_from(more).map_err(|_| BudgetError::Exceeds {
            needed,
            capacity: self.capacity as usize,
        })?;
        let permit = Arc::clone(sem)
            .try_acquire_many_owned(want)
            .map_err(|_| BudgetError::Busy)?;
        match &mut self.permit {
            Some(p) => p.merge(permit),
            None => self.permit = Some(permit),
        }
        self.bytes = needed;
        Ok(())
    }

    /// Gives back everything above `bytes`.
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes >= self.bytes {
            return;
        }
        let give_back = self.bytes - bytes;
        if let Some(p) = &mut self.permit
            && let Some(released) = p.split(give_back)
        {
            drop(released);
        }
        self.bytes = bytes;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reservations_grow_shrink_and_release() {
        let b = MemoryBudget::new(100);
        let mut r = b.reserve(40).unwrap();
        assert_eq!(b.available(), Some(60));
        r.grow(50).unwrap();
        assert_eq!(b.available(), Some(10));
        assert_eq!(b.reserve(20).unwrap_err(), BudgetError::Busy);
        assert_eq!(
            r.grow(20).unwrap_err(),
            BudgetError::Exceeds {
                needed: 110,
                capacity: 100
            }
        );
        r.shrink_to(30);
        assert_eq!(b.available(), Some(70));
        assert_eq!(r.bytes(), 30);
        drop(r);
        assert_eq!(b.available(), Some(100));
        let whole = b.reserve_clamped(1_000).unwrap();
        assert_eq!(b.available(), Some(0));
        drop(whole);
        let mut u = Reservation::unlimited();
        u.grow(usize::MAX).unwrap();
        assert_eq!(MemoryBudget::new(0).available(), None);
    }
}
