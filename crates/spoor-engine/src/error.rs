use std::path::PathBuf;

use spoor_storage::{StorageError, StorageErrorKind};

use crate::record::RecordError;

/// A failure of the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A file-system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "write", "fsync", …).
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another engine (in this or another process) holds the data directory.
    #[error("data directory {} is in use by another Spoor engine", .0.display())]
    Locked(PathBuf),
    /// Stored bytes could not be decoded.
    #[error("corrupt data in {}: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: RecordError,
    },
    /// A stored object is not in a format this build reads.
    #[error("{what}: unsupported format version {version}")]
    UnsupportedVersion { what: String, version: u32 },
    /// The configuration is not usable.
    #[error("invalid engine configuration: {0}")]
    Config(String),
    /// The engine was closed, or its writer stopped after an unrecoverable error.
    #[error("the storage engine is closed: {0}")]
    Closed(String),
    /// The engine cannot write to its data directory right now (a full disk,
    /// a quota, an I/O error); writes resume by themselves once it can.
    #[error("the storage engine cannot write to disk, retry later: {0}")]
    Unwritable(String),
    /// Memory for recent spans is full until the next block is cut, or the
    /// backlog of acknowledged spans not yet in the block store is at its
    /// budget until uploads drain it (`StorageErrorKind::Busy`: HTTP 429,
    /// gRPC `RESOURCE_EXHAUSTED`).
    #[error("the storage engine is busy: {0}")]
    Busy(String),
    /// A block could not be written or read.
    #[error("block {block}: {message}")]
    Block { block: String, message: String },
    /// A block's files do not match what its `meta.json` records (size or
    /// checksum), or are missing: the block is damaged.
    #[error("block {block} is damaged: {message}")]
    Damaged { block: String, message: String },
}

impl EngineError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

impl From<EngineError> for StorageError {
    fn from(e: EngineError) -> Self {
        let kind = match &e {
            EngineError::Busy(_) => StorageErrorKind::Busy,
            EngineError::Closed(_) | EngineError::Unwritable(_) => StorageErrorKind::Unavailable,
            _ => StorageErrorKind::Internal,
        };
        StorageError::new(kind, e.to_string())
    }
}
