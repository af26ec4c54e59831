/// The kind of a storage failure; the server maps each kind to a status once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The query is not valid for this backend (a client error).
    InvalidQuery,
    /// The backend is out of capacity right now; the caller may retry.
    Unavailable,
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
}
