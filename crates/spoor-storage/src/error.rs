/// The kind of a storage failure; the server maps each kind to a status once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The query is not valid for this backend (a client error).
    InvalidQuery,
    /// The backend cannot take the request right now (a full disk, closing,
    /// a part unreachable); the caller may retry (HTTP 503, gRPC `UNAVAILABLE`).
    Unavailable,
    /// The backend holds as much as it may until it has moved data on (its
    /// memory for recent spans, or its backlog awaiting the block store, is
    /// full); the caller should slow down and retry (HTTP 429, gRPC
    /// `RESOURCE_EXHAUSTED`), as OTLP asks of a throttled sender.
    Busy,
    /// The backend does not support this operation.
    Unsupported,
    /// Anything else.
    Internal,
}

/// A storage failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    pub kind: StorageErrorKind,
    pub message: String,
}

impl StorageError {
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        StorageError {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(StorageErrorKind::InvalidQuery, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StorageErrorKind::Internal, message)
    }
    /// Whether the caller may succeed by retrying later (`Unavailable` or `Busy`).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            StorageErrorKind::Unavailable | StorageErrorKind::Busy
        )
    }
}
