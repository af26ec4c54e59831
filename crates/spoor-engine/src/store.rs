//! Raw access to the block store: the `object_store` holding one folder per
//! block (by default the local directory `<data_dir>/blocks`). Everything
//! that talks to the object store is here: whole files (checked against
//! `meta.json`), streamed checksums, byte ranges for the Parquet reader,
//! uploads in the order that makes a half-written block recognisable,
//! deletion and listing. What the bytes mean is the block format's business
//! (`block`).

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};

use crate::EngineError;
use crate::block::{BlockMeta, damaged_err, files, parse_meta, verify};

/// Where blocks are kept.
#[derive(Clone)]
pub(crate) struct BlockStore {
    store: Arc<dyn ObjectStore>,
}

pub(crate) fn store_err(block: &str, what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Block {
        block: block.to_owned(),
        message: format!("{what}: {e}"),
    }
}

impl BlockStore {
    pub(crate) fn new(store: Arc<dyn ObjectStore>) -> Self {
        BlockStore { store }
    }

    fn path(block: &str, file: &str) -> ObjectPath {
        ObjectPath::from(format!("{block}/{file}"))
    }

    /// Reads a whole file of a block and checks it against the size and
    /// checksum `meta.json` records (format 3); a mismatch is `Damaged`.
    pub(crate) async fn get_verified(
        &self,
        meta: &BlockMeta,
        file: &str,
    ) -> Result<Bytes, EngineError> {
        let bytes = self.get(&meta.id, file).await?;
        verify(meta, file, bytes.len() as u64, || crc32fast::hash(&bytes))?;
        Ok(bytes)
    }

    pub(crate) async fn get(&self, block: &str, file: &str) -> Result<Bytes, EngineError> {
        let path = Self::path(block, file);
        let result = self.store.get(&path).await.map_err(|e| match e {
            // A file `meta.json` lists is gone: the block is damaged.
            e @ object_store::Error::NotFound { .. } => {
                damaged_err(block, format!("reading {file}: {e}"))
            }
            e => store_err(block, &format!("reading {file}"), e),
        })?;
        result
            .bytes()
            .await
            .map_err(|e| store_err(block, &format!("reading {file}"), e))
    }

    pub(crate) async fn put(
        &self,
        block: &str,
        file: &str,
        bytes: Bytes,
    ) -> Result<(), EngineError> {
        self.store
            .put(&Self::path(block, file), PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| store_err(block, &format!("writing {file}"), e))?;
        Ok(())
    }

    /// Uploads a built block: the `WRITING` marker, the block's files,
    /// its `meta.json`, then removes the marker. A folder with the marker
    /// and no `meta.json` is therefore a write that never finished; a folder
    /// without either is a damaged block.
    pub(crate) async fn upload(
        &self,
        meta: &BlockMeta,
        files: &[(&'static str, Bytes)],
    ) -> Result<(), EngineError> {
        self.put(&meta.id, files::WRITING, Bytes::new()).await?;
        for (name, bytes) in files {
            self.put(&meta.id, name, bytes.clone()).await?;
        }
        let json = serde_json::to_vec_pretty(meta)
            .map_err(|e| store_err(&meta.id, "encoding meta.json", e))?;
        self.put(&meta.id, files::META, Bytes::from(json)).await?;
        self.remove_marker(&meta.id).await
    }

    /// Removes a block's `WRITING` marker, if any.
    pub(crate) async fn remove_marker(&self, block: &str) -> Result<(), EngineError> {
        match self.store.delete(&Self::path(block, files::WRITING)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(block, "deleting the WRITING marker", e)),
        }
    }

    /// Does the block folder hold a `WRITING` marker?
    pub(crate) async fn has_marker(&self, block: &str) -> Result<bool, EngineError> {
        match self.store.head(&Self::path(block, files::WRITING)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_err(block, "checking the WRITING marker", e)),
        }
    }

    /// Deletes every object of a block: puts the `WRITING` marker back
    /// first and deletes `meta.json` next (so a half-deleted block is never
    /// mistaken for a complete or a damaged one), the marker last.
    pub(crate) async fn delete_block(&self, block: &str) -> Result<(), EngineError> {
        self.put(block, files::WRITING, Bytes::new()).await?;
        match self.store.delete(&Self::path(block, files::META)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_err(block, "deleting meta.json", e)),
        }
        let prefix = ObjectPath::from(block);
        let marker = Self::path(block, files::WRITING);
        let objects: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| store_err(block, "listing", e))?;
        for o in objects.iter().filter(|o| o.location != marker) {
            match self.store.delete(&o.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_err(block, "deleting", e)),
            }
        }
        self.remove_marker(block).await
    }

    /// A top-level object of the store (not in a block folder) with its
    /// version, `None` when it does not exist.
    pub(crate) async fn get_object(
        &self,
        name: &str,
    ) -> Result<Option<(Bytes, object_store::UpdateVersion)>, EngineError> {
        match self.store.get(&ObjectPath::from(name)).await {
            Ok(r) => {
                let version = object_store::UpdateVersion {
                    e_tag: r.meta.e_tag.clone(),
                    version: r.meta.version.clone(),
                };
                let bytes = r.bytes().await.map_err(|e| store_err(name, "reading", e))?;
                Ok(Some((bytes, version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(name, "reading", e)),
        }
    }

    /// Writes a top-level object only if it does not exist (`version`
    /// `None`) or is still at `version`; `Ok(false)` when another writer
    /// got there first. A store without conditional updates (a local
    /// directory) overwrites instead: one machine, one compactor.
    pub(crate) async fn put_object_if(
        &self,
        name: &str,
        bytes: Bytes,
        version: Option<object_store::UpdateVersion>,
    ) -> Result<bool, EngineError> {
        use object_store::{PutMode, PutOptions};
        let path = ObjectPath::from(name);
        let mode = match version.clone() {
            None => PutMode::Create,
            Some(v) => PutMode::Update(v),
        };
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from_bytes(bytes.clone()), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented { .. }) if version.is_some() => {
                self.store
                    .put(&path, PutPayload::from_bytes(bytes))
                    .await
                    .map_err(|e| store_err(name, "writing", e))?;
                Ok(true)
            }
            Err(e) => Err(store_err(name, "writing", e)),
        }
    }

    /// The folder names in the store.
    pub(crate) async fn list_blocks(&self) -> Result<Vec<String>, EngineError> {
        let listing = self
            .store
            .list_with_delimiter(None)
            .await
            .map_err(|e| store_err("*", "listing blocks", e))?;
        let mut ids: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.parts().next_back().map(|part| part.as_ref().to_owned()))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Reads a block's `meta.json`; `None` when it does not exist (an
    /// incomplete block).
    pub(crate) async fn read_meta(&self, block: &str) -> Result<Option<BlockMeta>, EngineError> {
        let bytes = match self.store.get(&Self::path(block, files::META)).await {
            Ok(r) => r
                .bytes()
                .await
                .map_err(|e| store_err(block, "reading meta.json", e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_err(block, "reading meta.json", e)),
        };
        parse_meta(block, &bytes).map(Some)
    }

    /// Streams a whole file of a block and returns its length and CRC-32
    /// (IEEE); a file that is gone is `Damaged`.
    pub(crate) async fn checksum(
        &self,
        block: &str,
        file: &str,
    ) -> Result<(u64, u32), EngineError> {
        let result = self
            .store
            .get(&Self::path(block, file))
            .await
            .map_err(|e| match e {
                e @ object_store::Error::NotFound { .. } => {
                    damaged_err(block, format!("reading {file}: {e}"))
                }
                e => store_err(block, &format!("reading {file}"), e),
            })?;
        let mut stream = result.into_stream();
        let mut hasher = crc32fast::Hasher::new();
        let mut len = 0u64;
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(|e| store_err(block, &format!("reading {file}"), e))?
        {
            hasher.update(&chunk);
            len += chunk.len() as u64;
        }
        Ok((len, hasher.finalize()))
    }

    /// A reader of byte ranges of one file of a block, for the Parquet
    /// reader; `size` is the file's size when known (from `meta.json`).
    pub(crate) fn file_reader(&self, block: &str, file: &str, size: Option<u64>) -> FileReader {
        FileReader {
            store: Arc::clone(&self.store),
            path: Self::path(block, file),
            size,
        }
    }
}

/// Reads byte ranges of a block file (`spans.parquet`) through the object store.
pub(crate) struct FileReader {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    /// The file's size, from `meta.json`.
    size: Option<u64>,
}

fn parquet_io(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for FileReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(parquet_io)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(parquet_io)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = match self.size {
                Some(size) => size,
                None => self.store.head(&self.path).await.map_err(parquet_io)?.size,
            };
            let metadata = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Optional)
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// Installs rustls's ring provider as the process's TLS crypto provider, if
/// none is installed yet. This build's HTTP client (reqwest's rustls without
/// a built-in provider, so that no C library is built: ADR 0024) needs one
/// before any object-store client is built; the engine calls it for the
/// stores it builds, code that builds its own `object_store` cloud client
/// calls it first.
#[cfg(feature = "aws")]
pub fn install_tls_provider() {
    // An error only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How long one object-store request is retried (with back-off) before it
/// fails; a failed cut keeps its spans in memory and in the WAL and is tried
/// again by the maintenance task, so this only bounds how long one attempt
/// (and a shutdown waiting for it) can take.
#[cfg(feature = "aws")]
const S3_RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// An S3 (or S3-compatible) store for an `s3://` URL: settings from the
/// `AWS_*` environment, then the URL's query, path-style requests unless
/// asked otherwise, and the URL's prefix as the root of the block folders.
#[cfg(feature = "aws")]
pub(crate) fn s3(location: &crate::config::S3Location) -> Result<Arc<dyn ObjectStore>, String> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    install_tls_provider();
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&location.bucket)
        .with_retry(object_store::RetryConfig {
            retry_timeout: S3_RETRY_TIMEOUT,
            ..object_store::RetryConfig::default()
        });
    for (key, value) in &location.options {
        let key: AmazonS3ConfigKey = key.parse().map_err(|e| format!("setting {key:?}: {e}"))?;
        builder = builder.with_config(key, value);
    }
    let s3 = builder.build().map_err(|e| e.to_string())?;
    if location.prefix.is_empty() {
        Ok(Arc::new(s3))
    } else {
        Ok(Arc::new(object_store::prefix::PrefixStore::new(
            s3,
            location.prefix.as_str(),
        )))
    }
}
