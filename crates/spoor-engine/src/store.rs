//! Raw access to the block store: the `object_store` holding one folder per
//! block (by default the local directory `<data_dir>/blocks`). Everything
//! that talks to the object store is here: whole files (checked against
//! `meta.json`), streamed checksums, byte ranges for the Parquet reader,
//! uploads in the order that makes a half-written block recognisable,
//! deletion and listing. What the bytes mean is the block format's business
//! (`block`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
use crate::disk_cache::DiskCache;

/// Where blocks are kept: the object store, what its requests cost, and
/// an optional cache of byte ranges and Parquet footers read from it.
#[derive(Clone)]
pub(crate) struct BlockStore {
    store: Arc<dyn ObjectStore>,
    pub(crate) cost: Arc<StoreCost>,
    cache: Option<Arc<ReadCache>>,
    disk: Option<Arc<DiskCache>>,
}

/// The kinds of object-store requests counted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Request {
    Get,
    Range,
    Head,
    Put,
    Delete,
    List,
}

/// Object-store requests by kind and bytes read, since the engine opened.
#[derive(Debug, Default)]
pub(crate) struct StoreCost {
    pub(crate) gets: AtomicU64,
    pub(crate) ranges: AtomicU64,
    pub(crate) heads: AtomicU64,
    pub(crate) puts: AtomicU64,
    pub(crate) deletes: AtomicU64,
    pub(crate) lists: AtomicU64,
    pub(crate) bytes_read: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_bytes: AtomicU64,
    /// The read cache's disk tier (`disk_cache`): ranges served from it,
    /// looked for and not found, bytes of its files, files found damaged
    /// (removed, read again), writes that failed.
    pub(crate) disk_hits: AtomicU64,
    pub(crate) disk_misses: AtomicU64,
    pub(crate) disk_bytes: AtomicU64,
    pub(crate) disk_damaged: AtomicU64,
    pub(crate) disk_write_errors: AtomicU64,
    /// Queries answered and the requests and bytes they cost together.
    pub(crate) queries: AtomicU64,
    pub(crate) query_requests: AtomicU64,
    pub(crate) query_bytes: AtomicU64,
}

tokio::task_local! {
    /// The requests and bytes of the query running in this task.
    static QUERY_COST: std::cell::Cell<(u64, u64)>;
}

impl StoreCost {
    fn count(&self, request: Request, bytes: u64) {
        let counter = match request {
            Request::Get => &self.gets,
            Request::Range => &self.ranges,
            Request::Head => &self.heads,
            Request::Put => &self.puts,
            Request::Delete => &self.deletes,
            Request::List => &self.lists,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
        let _ = QUERY_COST.try_with(|c| {
            let (n, b) = c.get();
            c.set((n + 1, b + bytes));
        });
    }

    /// Runs one query, adding what it cost to the query counters.
    pub(crate) async fn query<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let (out, (requests, bytes)) = QUERY_COST
            .scope(std::cell::Cell::new((0, 0)), async {
                let out = work.await;
                (out, QUERY_COST.with(std::cell::Cell::get))
            })
            .await;
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.query_requests.fetch_add(requests, Ordering::Relaxed);
        self.query_bytes.fetch_add(bytes, Ordering::Relaxed);
        if requests > 0 {
            tracing::debug!(requests, bytes, "object-store requests of a query");
        }
        out
    }
}

pub(crate) fn store_err(block: &str, what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Block {
        block: block.to_owned(),
        message: format!("{what}: {e}"),
    }
}

impl BlockStore {
    pub(crate) fn new(store: Arc<dyn ObjectStore>) -> Self {
        BlockStore {
            store,
            cost: Arc::new(StoreCost::default()),
            cache: None,
            disk: None,
        }
    }

    /// Keeps up to `bytes` of byte ranges and Parquet footers read (0: none).
    pub(crate) fn with_cache(mut self, bytes: usize) -> Self {
        self.cache = (bytes > 0).then(|| Arc::new(ReadCache::new(bytes)));
        self
    }

    /// Keeps up to `bytes` of byte ranges read on disk under `dir` (the
    /// read cache's disk tier; `None` or 0 bytes: none).
    pub(crate) fn with_disk_cache(
        mut self,
        dir: Option<&std::path::Path>,
        bytes: u64,
    ) -> Result<Self, EngineError> {
        self.disk = match dir {
            Some(dir) if bytes > 0 => Some(Arc::new(DiskCache::open(dir, bytes).map_err(|e| {
                EngineError::Block {
                    block: "*".into(),
                    message: format!("opening the read cache {}: {e}", dir.display()),
                }
            })?)),
            _ => None,
        };
        Ok(self)
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
        self.cost.count(Request::Get, 0);
        let result = self.store.get(&path).await.map_err(|e| match e {
            // A file `meta.json` lists is gone: the block is damaged.
            e @ object_store::Error::NotFound { .. } => {
                damaged_err(block, format!("reading {file}: {e}"))
            }
            e => store_err(block, &format!("reading {file}"), e),
        })?;
        let bytes = result
            .bytes()
            .await
            .map_err(|e| store_err(block, &format!("reading {file}"), e))?;
        self.cost
            .bytes_read
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    pub(crate) async fn put(
        &self,
        block: &str,
        file: &str,
        bytes: Bytes,
    ) -> Result<(), EngineError> {
        self.cost.count(Request::Put, 0);
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
        self.cost.count(Request::Delete, 0);
        match self.store.delete(&Self::path(block, files::WRITING)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(block, "deleting the WRITING marker", e)),
        }
    }

    /// Does the block folder hold a `WRITING` marker?
    pub(crate) async fn has_marker(&self, block: &str) -> Result<bool, EngineError> {
        self.cost.count(Request::Head, 0);
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
        self.cost.count(Request::Delete, 0);
        match self.store.delete(&Self::path(block, files::META)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_err(block, "deleting meta.json", e)),
        }
        let prefix = ObjectPath::from(block);
        let marker = Self::path(block, files::WRITING);
        self.cost.count(Request::List, 0);
        let objects: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| store_err(block, "listing", e))?;
        for o in objects.iter().filter(|o| o.location != marker) {
            self.cost.count(Request::Delete, 0);
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
        self.cost.count(Request::Get, 0);
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

    /// Writes (or overwrites) a top-level object; a PUT is atomic, so a
    /// reader sees the old object or the new one whole.
    pub(crate) async fn put_object(&self, name: &str, bytes: Bytes) -> Result<(), EngineError> {
        self.cost.count(Request::Put, 0);
        self.store
            .put(&ObjectPath::from(name), PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(|e| store_err(name, "writing", e))
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
        self.cost.count(Request::Put, 0);
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
        self.cost.count(Request::List, 0);
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
        self.cost.count(Request::Get, 0);
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
        self.cost.count(Request::Get, 0);
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
            store: self.clone(),
            path: Self::path(block, file),
            size,
        }
    }
}

/// Reads byte ranges of a block file (`spans.parquet`) through the object store.
pub(crate) struct FileReader {
    store: BlockStore,
    path: ObjectPath,
    /// The file's size, from `meta.json`.
    size: Option<u64>,
}

fn parquet_io(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl FileReader {
    /// Looks for `ranges` in the disk tier (off the async threads), each
    /// found one also kept in memory.
    async fn read_disk(&self, ranges: Vec<std::ops::Range<u64>>) -> Vec<Option<Bytes>> {
        let (Some(disk), false) = (&self.store.disk, ranges.is_empty()) else {
            return vec![None; ranges.len()];
        };
        let (disk, cost, path) = (
            Arc::clone(disk),
            Arc::clone(&self.store.cost),
            self.path.to_string(),
        );
        let read = move || {
            ranges
                .iter()
                .map(|r| disk.get(&path, r, &cost).map(|b| (r.clone(), b)))
                .collect::<Vec<_>>()
        };
        let found = match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt.spawn_blocking(read).await.unwrap_or_else(|_| Vec::new()),
            Err(_) => read(),
        };
        let mut out = Vec::with_capacity(found.len());
        for hit in found {
            if let (Some((range, bytes)), Some(cache)) = (&hit, &self.store.cache) {
                cache.insert_range(&self.path, range.clone(), bytes.clone(), &self.store.cost);
            }
            out.push(hit.map(|(_, b)| b));
        }
        out
    }

    /// Writes ranges fetched from the store to the disk tier, in the
    /// background where a runtime runs (a failure is counted and logged).
    fn write_disk(&self, fetched: Vec<(std::ops::Range<u64>, Bytes)>) {
        let Some(disk) = &self.store.disk else {
            return;
        };
        let (disk, cost, path) = (
            Arc::clone(disk),
            Arc::clone(&self.store.cost),
            self.path.to_string(),
        );
        let write = move || {
            for (range, bytes) in &fetched {
                disk.put(&path, range, bytes, &cost);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(write)),
            Err(_) => write(),
        }
    }
}

impl AsyncFileReader for FileReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let mut ranges = self.get_byte_ranges(vec![range]).await?;
            ranges
                .pop()
                .ok_or_else(|| ParquetError::General("a byte range was not read".into()))
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            let store = &self.store;
            let mut out: Vec<Option<Bytes>> = match &store.cache {
                Some(cache) => ranges.iter().map(|r| cache.range(&self.path, r)).collect(),
                None => vec![None; ranges.len()],
            };
            let hits = out.iter().filter(|b| b.is_some()).count() as u64;
            store.cost.cache_hits.fetch_add(hits, Ordering::Relaxed);
            let missing = |out: &[Option<Bytes>]| -> Vec<std::ops::Range<u64>> {
                ranges
                    .iter()
                    .zip(out)
                    .filter(|(_, b)| b.is_none())
                    .map(|(r, _)| r.clone())
                    .collect()
            };
            let mut on_disk = self.read_disk(missing(&out)).await.into_iter();
            for slot in out.iter_mut().filter(|b| b.is_none()) {
                *slot = on_disk.next().flatten();
            }
            let missing = missing(&out);
            if !missing.is_empty() {
                let store = &self.store;
                let fetched = if let [range] = missing.as_slice() {
                    vec![
                        store
                            .store
                            .get_range(&self.path, range.clone())
                            .await
                            .map_err(parquet_io)?,
                    ]
                } else {
                    store
                        .store
                        .get_ranges(&self.path, &missing)
                        .await
                        .map_err(parquet_io)?
                };
                let bytes: u64 = fetched.iter().map(|b| b.len() as u64).sum();
                store.cost.count(Request::Range, bytes);
                let fetched: Vec<_> = missing.into_iter().zip(fetched).collect();
                let mut next = fetched.iter();
                for slot in out.iter_mut().filter(|b| b.is_none()) {
                    if let Some((range, bytes)) = next.next() {
                        if let Some(cache) = &store.cache {
                            cache.insert_range(
                                &self.path,
                                range.clone(),
                                bytes.clone(),
                                &store.cost,
                            );
                        }
                        *slot = Some(bytes.clone());
                    }
                }
                self.write_disk(fetched);
            }
            out.into_iter()
                .map(|b| b.ok_or_else(|| ParquetError::General("a byte range was not read".into())))
                .collect()
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            if let Some(hit) = self.store.cache.as_ref().and_then(|c| c.footer(&self.path)) {
                self.store.cost.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(hit);
            }
            let size = match self.size {
                Some(size) => size,
                None => {
                    self.store.cost.count(Request::Head, 0);
                    self.store
                        .store
                        .head(&self.path)
                        .await
                        .map_err(parquet_io)?
                        .size
                }
            };
            let metadata = Arc::new(
                ParquetMetaDataReader::new()
                    .with_page_index_policy(PageIndexPolicy::Optional)
                    .load_and_finish(&mut *self, size)
                    .await?,
            );
            if let Some(cache) = &self.store.cache {
                cache.insert_footer(&self.path, Arc::clone(&metadata), &self.store.cost);
            }
            Ok(metadata)
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
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
pub fn install_tls_provider() {
    // An error only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How long one object-store request is retried (with back-off) before it
/// fails; a failed cut keeps its spans in memory and in the WAL and is tried
/// again by the maintenance task, so this only bounds how long one attempt
/// (and a shutdown waiting for it) can take. The same for every cloud.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
const CLOUD_RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn cloud_retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        retry_timeout: CLOUD_RETRY_TIMEOUT,
        ..object_store::RetryConfig::default()
    }
}

/// A cloud store with the URL's prefix as the root of the block folders.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn rooted<S: ObjectStore>(store: S, prefix: &str) -> Arc<dyn ObjectStore> {
    if prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
    }
}

/// An S3 (or S3-compatible) store for an `s3://` URL: settings from the
/// `AWS_*` environment, then the URL's query, path-style requests unless
/// asked otherwise, and the URL's prefix as the root of the block folders.
#[cfg(feature = "aws")]
pub(crate) fn s3(location: &crate::config::BucketLocation) -> Result<Arc<dyn ObjectStore>, String> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    install_tls_provider();
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&location.bucket)
        .with_retry(cloud_retry());
    for (key, value) in &location.options {
        let key: AmazonS3ConfigKey = key.parse().map_err(|e| format!("setting {key:?}: {e}"))?;
        builder = builder.with_config(key, value);
    }
    let s3 = builder.build().map_err(|e| e.to_string())?;
    Ok(rooted(s3, &location.prefix))
}

/// A Google Cloud Storage store for a `gs://` URL: credentials and settings
/// from the `GOOGLE_*` environment (a service account file or key, the
/// application default credentials, else the metadata server), then the
/// URL's query (`base_url`, `allow_http`), and the URL's
/// prefix as the root of the block folders. Requests are signed with ring.
#[cfg(feature = "gcp")]
pub(crate) fn gcs(
    location: &crate::config::BucketLocation,
) -> Result<Arc<dyn ObjectStore>, String> {
    use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
    install_tls_provider();
    let mut builder = GoogleCloudStorageBuilder::from_env()
        .with_bucket_name(&location.bucket)
        .with_retry(cloud_retry());
    for (key, value) in &location.options {
        let key: GoogleConfigKey = key.parse().map_err(|e| format!("setting {key:?}: {e}"))?;
        builder = builder.with_config(key, value);
    }
    let gcs = builder.build().map_err(|e| e.to_string())?;
    Ok(rooted(gcs, &location.prefix))
}

/// An Azure Blob Storage store for an `az://` URL: the account and its
/// credentials from the `AZURE_*` environment (account key, SAS token,
/// workload identity, else a managed identity), then the URL's query
/// (`account`, `endpoint`, `allow_http`, `use_emulator`), and the URL's
/// prefix as the root of the block folders. Shared-key signing uses ring.
#[cfg(feature = "azure")]
pub(crate) fn azure(
    location: &crate::config::BucketLocation,
) -> Result<Arc<dyn ObjectStore>, String> {
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    install_tls_provider();
    let mut builder = MicrosoftAzureBuilder::from_env()
        .with_container_name(&location.bucket)
        .with_retry(cloud_retry());
    for (key, value) in &location.options {
        let key = match key.as_str() {
            "account" => AzureConfigKey::AccountName,
            other => other
                .parse()
                .map_err(|e| format!("setting {other:?}: {e}"))?,
        };
        builder = builder.with_config(key, value);
    }
    let azure = builder.build().map_err(|e| e.to_string())?;
    Ok(rooted(azure, &location.prefix))
}

/// A cache of byte ranges and parsed Parquet footers of block files,
/// bounded in bytes; the least recently used entries go first. Block files
/// never change once published, so entries never go stale.
pub(crate) struct ReadCache {
    budget: usize,
    inner: parking_lot::Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    tick: u64,
    bytes: usize,
    ranges: HashMap<(String, u64, u64), (Bytes, u64)>,
    footers: HashMap<String, (Arc<ParquetMetaData>, usize, u64)>,
}

impl ReadCache {
    pub(crate) fn new(budget: usize) -> Self {
        ReadCache {
            budget,
            inner: parking_lot::Mutex::new(CacheInner::default()),
        }
    }

    fn range(&self, path: &ObjectPath, range: &std::ops::Range<u64>) -> Option<Bytes> {
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner
            .ranges
            .get_mut(&(path.to_string(), range.start, range.end))?;
        entry.1 = tick;
        Some(entry.0.clone())
    }

    fn footer(&self, path: &ObjectPath) -> Option<Arc<ParquetMetaData>> {
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.footers.get_mut(path.as_ref())?;
        entry.2 = tick;
        Some(Arc::clone(&entry.0))
    }

    fn insert_range(
        &self,
        path: &ObjectPath,
        range: std::ops::Range<u64>,
        bytes: Bytes,
        cost: &StoreCost,
    ) {
        let size = bytes.len();
        if size > self.budget / 8 {
            return;
        }
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let key = (path.to_string(), range.start, range.end);
        if let Some((old, _)) = inner.ranges.insert(key, (bytes, tick)) {
            inner.bytes -= old.len();
        }
        inner.bytes += size;
        inner.evict(self.budget);
        cost.cache_bytes
            .store(inner.bytes as u64, Ordering::Relaxed);
    }

    fn insert_footer(&self, path: &ObjectPath, footer: Arc<ParquetMetaData>, cost: &StoreCost) {
        let size = footer.memory_size();
        if size > self.budget / 8 {
            return;
        }
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some((_, old, _)) = inner.footers.insert(path.to_string(), (footer, size, tick)) {
            inner.bytes -= old;
        }
        inner.bytes += size;
        inner.evict(self.budget);
        cost.cache_bytes
            .store(inner.bytes as u64, Ordering::Relaxed);
    }
}

impl CacheInner {
    /// Drops the least recently used entries until at most `budget` bytes remain.
    fn evict(&mut self, budget: usize) {
        while self.bytes > budget {
            let oldest_range = self
                .ranges
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, (_, t))| (k.clone(), *t));
            let oldest_footer = self
                .footers
                .iter()
                .min_by_key(|(_, (_, _, t))| *t)
                .map(|(k, (_, _, t))| (k.clone(), *t));
            match (oldest_range, oldest_footer) {
                (Some((k, tr)), Some((_, tf))) if tr <= tf => self.remove_range(&k),
                (Some((k, _)), None) => self.remove_range(&k),
                (_, Some((k, _))) => {
                    if let Some((_, size, _)) = self.footers.remove(&k) {
                        self.bytes -= size;
                    }
                }
                (None, None) => break,
            }
        }
    }

    fn remove_range(&mut self, key: &(String, u64, u64)) {
        if let Some((bytes, _)) = self.ranges.remove(key) {
            self.bytes -= bytes.len();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod cache_tests {
    use super::*;

    #[test]
    fn the_cache_keeps_recent_ranges_within_its_budget() {
        let cache = ReadCache::new(8_000);
        let cost = StoreCost::default();
        let path = ObjectPath::from("b/spans.parquet");
        for i in 0..10u64 {
            cache.insert_range(
                &path,
                i * 1000..i * 1000 + 1000,
                Bytes::from(vec![0; 1000]),
                &cost,
            );
            // Range 0 is used again and again: it stays.
            assert!(cache.range(&path, &(0..1000)).is_some());
        }
        let inner = cache.inner.lock();
        assert!(inner.bytes <= 8_000, "{}", inner.bytes);
        assert!(
            inner
                .ranges
                .contains_key(&("b/spans.parquet".into(), 0, 1000))
        );
        assert!(
            !inner
                .ranges
                .contains_key(&("b/spans.parquet".into(), 1000, 2000))
        );
        assert_eq!(cost.cache_bytes.load(Ordering::Relaxed), inner.bytes as u64);
        drop(inner);
        // Too large for the budget: not kept.
        cache.insert_range(&path, 0..5000, Bytes::from(vec![0; 5000]), &cost);
        assert!(cache.range(&path, &(0..5000)).is_none());
    }

    fn disk_dir(name: &str) -> std::path::PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "spoor-disk-cache-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A store holding one 10 000-byte file, read through a memory tier of
    /// `memory` bytes and a disk tier of 1 MB under a fresh directory.
    async fn two_tiers(name: &str, memory: usize) -> (BlockStore, std::path::PathBuf) {
        let objects = object_store::memory::InMemory::new();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        objects
            .put(&ObjectPath::from("b/spans.parquet"), data.into())
            .await
            .unwrap();
        let dir = disk_dir(name);
        let store = BlockStore::new(Arc::new(objects))
            .with_cache(memory)
            .with_disk_cache(Some(&dir), 1 << 20)
            .unwrap();
        (store, dir)
    }

    fn expected(range: std::ops::Range<u64>) -> Bytes {
        range.map(|i| (i % 251) as u8).collect::<Vec<_>>().into()
    }

    /// Waits until the disk tier holds `files` entries (writes run in the
    /// background).
    async fn settled(store: &BlockStore, files: usize) {
        for _ in 0..400 {
            let held = store.disk.as_ref().map_or(0, |d| d.entries());
            if held == files {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the disk tier never held {files} entries");
    }

    fn get(cost: &AtomicU64) -> u64 {
        cost.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn the_disk_tier_serves_ranges_once_the_memory_tier_is_empty() {
        let (mut store, dir) = two_tiers("hit", 1 << 20).await;
        let mut reader = store.file_reader("b", "spans.parquet", Some(10_000));
        assert_eq!(
            reader.get_bytes(100..600).await.unwrap(),
            expected(100..600)
        );
        assert_eq!(get(&store.cost.ranges), 1);
        assert_eq!(get(&store.cost.disk_misses), 1);
        settled(&store, 1).await;
        // The memory tier emptied (a restart of it, or its budget spent).
        store.cache = Some(Arc::new(ReadCache::new(1 << 20)));
        let mut reader = store.file_reader("b", "spans.parquet", Some(10_000));
        let got = reader
            .get_byte_ranges(vec![100..600, 700..900])
            .await
            .unwrap();
        assert_eq!(got, vec![expected(100..600), expected(700..900)]);
        assert_eq!(get(&store.cost.disk_hits), 1);
        // Only the range the disk did not hold went to the store.
        assert_eq!(get(&store.cost.ranges), 2);
        settled(&store, 2).await;
        // Without a memory tier at all, both come from disk.
        store.cache = None;
        let mut reader = store.file_reader("b", "spans.parquet", Some(10_000));
        let got = reader
            .get_byte_ranges(vec![100..600, 700..900])
            .await
            .unwrap();
        assert_eq!(got, vec![expected(100..600), expected(700..900)]);
        assert_eq!(get(&store.cost.disk_hits), 3);
        assert_eq!(get(&store.cost.ranges), 2);
        assert_eq!(get(&store.cost.disk_damaged), 0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_disk_tier_keeps_recent_ranges_within_its_budget() {
        let dir = disk_dir("budget");
        std::fs::create_dir_all(&dir).unwrap();
        // A file an earlier run left: removed at start. Others are kept.
        std::fs::write(dir.join("0123456789abcdef.range"), b"old").unwrap();
        std::fs::write(dir.join("notes.txt"), b"not ours").unwrap();
        let budget = 40_000;
        let disk = DiskCache::open(&dir, budget).unwrap();
        assert!(!dir.join("0123456789abcdef.range").exists());
        assert!(dir.join("notes.txt").exists());
        let cost = StoreCost::default();
        let data = vec![7u8; 1_000];
        for i in 0..200u64 {
            disk.put(
                "b/spans.parquet",
                &(i * 1000..i * 1000 + 1000),
                &data,
                &cost,
            );
            // Range 0 is used again and again: it stays.
            assert!(disk.get("b/spans.parquet", &(0..1000), &cost).is_some());
            let on_disk: u64 = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum::<u64>()
                - "not ours".len() as u64;
            assert!(on_disk <= budget, "{on_disk} bytes on disk after {i}");
            assert_eq!(on_disk, get(&cost.disk_bytes));
        }
        assert!(get(&cost.disk_bytes) > budget / 2);
        assert!(disk.get("b/spans.parquet", &(1000..2000), &cost).is_none());
        assert!(
            disk.get("b/spans.parquet", &(199_000..200_000), &cost)
                .is_some()
        );
        // Too large for the budget (over an eighth of it): not kept.
        disk.put("b/spans.parquet", &(0..6000), &vec![0; 6000], &cost);
        assert!(disk.get("b/spans.parquet", &(0..6000), &cost).is_none());
        assert_eq!(get(&cost.disk_damaged), 0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_damaged_disk_entry_is_detected_counted_and_read_again() {
        let (store, dir) = two_tiers("damaged", 0).await;
        let disk = store.disk.clone().unwrap();
        let mut reader = store.file_reader("b", "spans.parquet", Some(10_000));
        reader.get_bytes(0..1000).await.unwrap();
        settled(&store, 1).await;
        let file = disk.file_of("b/spans.parquet", &(0..1000));
        let good = std::fs::read(&file).unwrap();
        // A byte of the data, one of the header's object path, one of its
        // range, one of its CRC, and a truncated file: each found, none returned.
        let path_at = 8 + 4;
        let range_at = path_at + "b/spans.parquet".len();
        let crc_at = range_at + 24;
        type Damage = Box<dyn Fn(&mut Vec<u8>)>;
        let damages: Vec<Damage> = vec![
            Box::new(|f| *f.last_mut().unwrap() ^= 0x40),
            Box::new(move |f| f[path_at] ^= 1),
            Box::new(move |f| f[range_at] ^= 1),
            Box::new(move |f| f[crc_at] ^= 1),
            Box::new(|f| f.truncate(f.len() - 10)),
            Box::new(|f| f.truncate(5)),
        ];
        for (n, damage) in damages.iter().enumerate() {
            let mut bad = good.clone();
            damage(&mut bad);
            std::fs::write(&file, &bad).unwrap();
            let ranges_before = get(&store.cost.ranges);
            let got = reader.get_bytes(0..1000).await.unwrap();
            assert_eq!(got, expected(0..1000), "damage {n}");
            assert_eq!(get(&store.cost.disk_damaged), n as u64 + 1, "damage {n}");
            assert_eq!(
                get(&store.cost.ranges),
                ranges_before + 1,
                "damage {n}: read again"
            );
            // Written again from the store's bytes.
            settled(&store, 1).await;
            assert_eq!(std::fs::read(&file).unwrap(), good, "damage {n}");
        }
        let hits = get(&store.cost.disk_hits);
        assert_eq!(reader.get_bytes(0..1000).await.unwrap(), expected(0..1000));
        assert_eq!(get(&store.cost.disk_hits), hits + 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
