//! The engine's settings: where blocks go, the clock, sizes, ages and
//! maintenance policy, and their validation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::EngineError;
use crate::block::write::BlockWriteOptions;
use crate::wal;

/// Where blocks are written.
#[derive(Clone, Default)]
pub enum BlockStorage {
    /// `<data_dir>/blocks` on the local file system (files are fsynced).
    #[default]
    Local,
    /// Another local directory (`file://PATH`), treated as `Local` is:
    /// fsynced files, interrupted writes removed and damaged blocks moved to
    /// `<data_dir>/quarantine` at open.
    Dir(PathBuf),
    /// Any object store (S3, GCS, Azure, memory, …), used as the root of the
    /// block folders. The WAL stays on local disk either way.
    Custom(Arc<dyn object_store::ObjectStore>),
}

impl std::fmt::Debug for BlockStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlockStorage::Local => f.write_str("Local"),
            BlockStorage::Dir(dir) => write!(f, "Dir({})", dir.display()),
            BlockStorage::Custom(store) => write!(f, "Custom({store})"),
        }
    }
}

impl BlockStorage {
    /// The block storage a `storage.blocks_url` names:
    ///
    /// - `file://PATH`: a local directory (an absolute path);
    /// - `s3://BUCKET[/PREFIX][?KEY=VALUE&…]`: a bucket of Amazon S3 or an
    ///   S3-compatible store (build feature `aws`). Credentials, region and
    ///   endpoint come from the standard `AWS_*` environment variables
    ///   (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    ///   `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, web identity
    ///   and container credentials); the query may set the non-secret ones:
    ///   `endpoint`, `region`, `allow_http`, `virtual_hosted_style_request`
    ///   (off by default: path-style requests, as S3-compatible servers want);
    /// - `gs://BUCKET[/PREFIX][?KEY=VALUE&…]`: a Google Cloud Storage bucket
    ///   (build feature `gcp`). Credentials come from the standard Google
    ///   variables (`GOOGLE_APPLICATION_CREDENTIALS`,
    ///   `GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_SERVICE_ACCOUNT_KEY`), else the
    ///   metadata server (GCE, GKE workload identity); the query may set
    ///   `base_url` (an emulator or a private endpoint) and `allow_http`;
    /// - `az://CONTAINER[/PREFIX][?KEY=VALUE&…]`: an Azure Blob Storage
    ///   container (build feature `azure`). The account and its credentials
    ///   come from the standard `AZURE_*` variables
    ///   (`AZURE_STORAGE_ACCOUNT_NAME` with `AZURE_STORAGE_ACCOUNT_KEY` or
    ///   `AZURE_STORAGE_SAS_TOKEN`, or workload identity: `AZURE_CLIENT_ID`,
    ///   `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`), else a managed
    ///   identity; the query may set `account`, `endpoint`, `allow_http` and
    ///   `use_emulator` (Azurite at `AZURITE_BLOB_STORAGE_URL`).
    ///
    /// The prefix is the root of the block folders. Secrets in the query
    /// are refused: a URL ends up in logs and process lists.
    ///
    /// Nothing is contacted here: a wrong endpoint or missing bucket shows
    /// when the engine opens and lists the blocks.
    pub fn from_url(url: &str) -> Result<BlockStorage, EngineError> {
        let bad = |why: String| EngineError::Config(format!("blocks URL {url:?}: {why}"));
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(bad(
                "expected file://PATH, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or \
                 az://CONTAINER/PREFIX"
                    .into(),
            ));
        };
        match scheme {
            "file" => {
                let path = PathBuf::from(rest);
                if !path.is_absolute() {
                    return Err(bad(
                        "a file:// URL needs an absolute path (file:///var/lib/spoor/blocks)"
                            .into(),
                    ));
                }
                Ok(BlockStorage::Dir(path))
            }
            "s3" => cloud_from_url(Cloud::S3, rest).map_err(bad),
            "gs" => cloud_from_url(Cloud::Gcs, rest).map_err(bad),
            "az" => cloud_from_url(Cloud::Azure, rest).map_err(bad),
            "azure" | "abfs" | "abfss" | "adl" => Err(bad(format!(
                "{scheme}:// is not a blocks URL; an Azure Blob Storage container is \
                 az://CONTAINER/PREFIX (the account from AZURE_STORAGE_ACCOUNT_NAME or ?account=)"
            ))),
            "gcs" => Err(bad(
                "gcs:// is not a blocks URL; a Google Cloud Storage bucket is gs://BUCKET/PREFIX"
                    .into(),
            )),
            other => Err(bad(format!(
                "unknown scheme {other:?} (available: file, s3, gs, az)"
            ))),
        }
    }
}

/// The object stores a blocks URL can name besides a local folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cloud {
    /// `s3://`: Amazon S3 and S3-compatible stores.
    S3,
    /// `gs://`: Google Cloud Storage.
    Gcs,
    /// `az://`: Azure Blob Storage.
    Azure,
}

impl Cloud {
    fn scheme(self) -> &'static str {
        match self {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gs",
            Cloud::Azure => "az",
        }
    }

    /// What the first part of the URL's path names.
    fn bucket_word(self) -> &'static str {
        match self {
            Cloud::S3 | Cloud::Gcs => "bucket",
            Cloud::Azure => "container",
        }
    }

    /// The query keys a URL may carry: settings, never secrets.
    fn url_keys(self) -> &'static [&'static str] {
        match self {
            Cloud::S3 => &[
                "endpoint",
                "region",
                "allow_http",
                "virtual_hosted_style_request",
            ],
            Cloud::Gcs => &["base_url", "allow_http"],
            Cloud::Azure => &["account", "endpoint", "allow_http", "use_emulator"],
        }
    }

    /// Where credentials come from instead of the URL.
    fn credentials_hint(self) -> &'static str {
        match self {
            Cloud::S3 => {
                "credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the other \
                 AWS_* variables"
            }
            Cloud::Gcs => {
                "credentials come from GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_SERVICE_ACCOUNT or \
                 GOOGLE_SERVICE_ACCOUNT_KEY, else the metadata server (GKE workload identity)"
            }
            Cloud::Azure => {
                "the account comes from AZURE_STORAGE_ACCOUNT_NAME (or account=), credentials \
                 from AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN, or workload identity \
                 (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE), else a managed \
                 identity"
            }
        }
    }

    /// The build feature with this store's client.
    fn feature(self) -> &'static str {
        match self {
            Cloud::S3 => "aws",
            Cloud::Gcs => "gcp",
            Cloud::Azure => "azure",
        }
    }

    /// Checks a bucket (container) name against the provider's rules.
    fn check_name(self, name: &str) -> Result<(), String> {
        let lower_digit = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        match self {
            Cloud::S3 => {
                let valid = |c: char| lower_digit(c) || c == '-' || c == '.';
                if name.len() > 63 || !name.chars().all(valid) {
                    return Err(format!(
                        "{name:?} is not a bucket name (lowercase letters, digits, '-' and '.', \
                         at most 63)"
                    ));
                }
            }
            Cloud::Gcs => {
                // cloud.google.com/storage/docs/buckets#naming
                let rule = "3 to 63 lowercase letters, digits, '-', '_' and '.' (222 with dots, \
                            63 between dots), starting and ending with a letter or digit, not an \
                            IP address, not starting with \"goog\" nor containing \"google\"";
                let valid = |c: char| lower_digit(c) || matches!(c, '-' | '_' | '.');
                let ends_ok = name.starts_with(lower_digit) && name.ends_with(lower_digit);
                let max = if name.contains('.') { 222 } else { 63 };
                let parts_ok = name.split('.').all(|p| !p.is_empty() && p.len() <= 63);
                let is_ip = name.parse::<std::net::Ipv4Addr>().is_ok();
                if name.len() < 3
                    || name.len() > max
                    || !name.chars().all(valid)
                    || !ends_ok
                    || !parts_ok
                    || is_ip
                    || name.starts_with("goog")
                    || name.contains("google")
                {
                    return Err(format!("{name:?} is not a bucket name ({rule})"));
                }
            }
            Cloud::Azure => {
                // learn.microsoft.com: naming and referencing containers
                let valid = |c: char| lower_digit(c) || c == '-';
                if name.len() < 3
                    || name.len() > 63
                    || !name.chars().all(valid)
                    || !name.starts_with(lower_digit)
                    || !name.ends_with(lower_digit)
                    || name.contains("--")
                {
                    return Err(format!(
                        "{name:?} is not a container name (3 to 63 lowercase letters, digits and \
                         single '-' between them, starting and ending with a letter or digit)"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The parts of an `s3://`, `gs://` or `az://` URL after the scheme.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BucketLocation {
    /// The bucket (an Azure container).
    pub(crate) bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub(crate) prefix: String,
    /// The query's settings, in order, each key one of [`Cloud::url_keys`].
    pub(crate) options: Vec<(String, String)>,
}

/// The URL keys whose value is a boolean.
const BOOLEAN_URL_KEYS: &[&str] = &["allow_http", "virtual_hosted_style_request", "use_emulator"];

/// A boolean setting as `object_store` reads it.
fn url_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" | "y" => Some(true),
        "0" | "false" | "off" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// Splits and checks the part of a bucket URL after `SCHEME://`.
pub(crate) fn parse_bucket_url(cloud: Cloud, rest: &str) -> Result<BucketLocation, String> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    let word = cloud.bucket_word();
    if bucket.is_empty() {
        return Err(format!(
            "no {word} name ({}://{}/PREFIX)",
            cloud.scheme(),
            word.to_uppercase()
        ));
    }
    cloud.check_name(bucket)?;
    let prefix = prefix.trim_matches('/').to_owned();
    if prefix
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
        && !prefix.is_empty()
    {
        return Err(format!("the prefix {prefix:?} has an empty, . or .. part"));
    }
    let mut options = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !cloud.url_keys().contains(&key) {
            return Err(format!(
                "unknown or secret setting {key:?} in the URL (allowed: {}; {})",
                cloud.url_keys().join(", "),
                cloud.credentials_hint()
            ));
        }
        if options.iter().any(|(k, _)| k == key) {
            return Err(format!("the setting {key:?} is given twice"));
        }
        if BOOLEAN_URL_KEYS.contains(&key) && url_bool(value).is_none() {
            return Err(format!("{key}={value:?} is not true or false"));
        }
        options.push((key.to_owned(), value.to_owned()));
    }
    let has = |key: &str| options.iter().any(|(k, _)| k == key);
    if cloud == Cloud::Azure {
        if let Some((_, account)) = options.iter().find(|(k, _)| k == "account") {
            let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
            if !(3..=24).contains(&account.len()) || !account.chars().all(valid) {
                return Err(format!(
                    "{account:?} is not a storage account name (3 to 24 lowercase letters and \
                     digits)"
                ));
            }
        }
        let emulator = options
            .iter()
            .any(|(k, v)| k == "use_emulator" && url_bool(v) == Some(true));
        if emulator && has("endpoint") {
            return Err(
                "use_emulator takes Azurite's address from AZURITE_BLOB_STORAGE_URL (default \
                 http://127.0.0.1:10000), not from endpoint: give one or the other"
                    .into(),
            );
        }
    }
    Ok(BucketLocation {
        bucket: bucket.to_owned(),
        prefix,
        options,
    })
}

/// The parts of an `s3://` URL after the scheme.
#[cfg(test)]
fn parse_s3(rest: &str) -> Result<BucketLocation, String> {
    parse_bucket_url(Cloud::S3, rest)
}

/// The parts of a `gs://` URL after the scheme.
#[cfg(test)]
fn parse_gs(rest: &str) -> Result<BucketLocation, String> {
    parse_bucket_url(Cloud::Gcs, rest)
}

/// The parts of an `az://` URL after the scheme.
#[cfg(test)]
fn parse_az(rest: &str) -> Result<BucketLocation, String> {
    parse_bucket_url(Cloud::Azure, rest)
}

/// The store a checked bucket URL names, with the client of its build
/// feature; without that feature the URL is still checked, then refused.
fn cloud_from_url(cloud: Cloud, rest: &str) -> Result<BlockStorage, String> {
    let location = parse_bucket_url(cloud, rest)?;
    let store = match (cloud, &location) {
        #[cfg(feature = "aws")]
        (Cloud::S3, location) => crate::store::s3(location),
        #[cfg(feature = "gcp")]
        (Cloud::Gcs, location) => crate::store::gcs(location),
        #[cfg(feature = "azure")]
        (Cloud::Azure, location) => crate::store::azure(location),
        #[allow(unreachable_patterns)]
        _ => Err(format!(
            "this build has no {}:// support (spoor-engine's feature `{}`)",
            cloud.scheme(),
            cloud.feature()
        )),
    };
    store.map(BlockStorage::Custom)
}

/// The wall clock the engine reads ingest times and retention against
/// (Unix nanoseconds). [`Clock::system`] by default; tests inject their own.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(now_nanos))
    }

    /// A clock that reads `now`.
    pub fn new(now: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// The current time, Unix nanoseconds.
    pub fn now_nanos(&self) -> u64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now_nanos())
    }
}

/// A writer's folder of blocks awaiting upload, in the data directory.
pub(crate) const PENDING_DIR: &str = "pending";

/// The default [`EngineConfig::backlog_max_bytes`]: 4 GiB.
pub const DEFAULT_BACKLOG_MAX_BYTES: u64 = 4 << 30;

/// Engine settings. [`EngineConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Root of everything the engine stores (`./spoor-data` for the binary).
    pub data_dir: PathBuf,
    /// A WAL segment is sealed and a new one started past this size.
    pub wal_segment_bytes: u64,
    /// At most this many bytes of records are committed with one fsync.
    pub wal_group_bytes: usize,
    /// Writes waiting for the WAL writer, at most.
    pub wal_queue: usize,
    /// The head is cut into a block when it holds this many (estimated) bytes…
    pub head_cut_bytes: usize,
    /// …or when its oldest span arrived this long ago.
    pub head_cut_age: Duration,
    /// Memory for recent spans (the head and heads being cut), estimated;
    /// writes beyond it are refused with a retryable `Busy` error.
    pub head_max_bytes: usize,
    /// The backlog budget: bytes on local disk of spans acknowledged and
    /// not yet in the block store — the WAL segments no uploaded block
    /// covers, plus (for a writer) the blocks it keeps in
    /// `<data_dir>/pending` while the store fails. Checked before each
    /// write: at or beyond it writes are refused with a retryable `Busy`
    /// error until uploads (or a cut) bring it back under.
    pub backlog_max_bytes: u64,
    /// How often the background task checks whether a cut is due.
    pub maintenance_interval: Duration,
    /// Where blocks go.
    pub block_storage: BlockStorage,
    /// Parquet settings for new blocks.
    pub block_write: BlockWriteOptions,
    /// Merge small blocks in the background.
    pub compaction: bool,
    /// Blocks are grouped for compaction by the window (of this length)
    /// their latest span start falls in.
    pub compaction_window: Duration,
    /// A compacted block holds at most this many spans; blocks under half of
    /// it count as small.
    pub compaction_max_spans: u64,
    /// Small blocks of one window and one level are merged once there are
    /// this many; blocks cut from the head (level 0) also once there are two
    /// and the window ended (by span time) more than `head_cut_age` ago.
    pub compaction_min_blocks: usize,
    /// A block is deleted once Spoor received its newest span longer ago
    /// than this (ingest time, by `clock`; the spans' own timestamps play no
    /// part). `None` keeps everything.
    pub retention: Option<Duration>,
    /// The wall clock for ingest times and retention.
    pub clock: Clock,
    /// Where reads run their CPU-heavy decoding (share one pool with the
    /// rest of the process; ADR 0020). Maintenance (cutting, compaction,
    /// WAL replay) keeps threads of its own.
    pub cpu: spoor_storage::CpuPool,
    /// Bytes of block-file ranges and Parquet footers kept in memory after
    /// a read (0: none). Worth it for a remote store (`s3://`), where each
    /// read is a request; a local folder has the OS page cache.
    pub read_cache_bytes: usize,
    /// A directory for the read cache's disk tier: byte ranges of block
    /// files fetched from the store, checked by a CRC-32 when read back
    /// (`None`: no disk tier). Its cache files from an earlier run are
    /// removed at start.
    pub read_cache_dir: Option<PathBuf>,
    /// Bytes of cache files kept under `read_cache_dir`, least recently
    /// used first out (0: no disk tier).
    pub read_cache_disk_bytes: u64,
    /// How old a bucket index a reader (`spoor query`) reads its block list
    /// from, instead of listing the store (0: always list). Keep it below
    /// the collectors' recent-block window: a block published after the
    /// compactor last listed the store is then still named by its collector.
    pub bucket_index_max_age: Duration,
    /// What the engine does with the blocks of its store: all of it
    /// (all-in-one, the default), or one role's part of it when several
    /// processes share one store (ADR 0025).
    pub role: EngineRole,
}

/// An engine's part in a deployment whose processes share one block store
/// (ADR 0025).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EngineRole {
    /// All-in-one: loads every block of its store, cuts, compacts, expires
    /// and deletes blocks.
    #[default]
    Owner,
    /// `spoor collector`: cuts blocks from its WAL into the shared store and
    /// reads none back. Block IDs end with `-NODE`, so two writers never
    /// collide; the WAL segments a block covers are recorded in
    /// `<data_dir>/UPLOADED` before they are deleted. The blocks cut in the
    /// last `recent` stay listed in [`crate::Engine::recent_blocks`]
    /// (queriers load them at once instead of at their next refresh).
    Writer { node: String, recent: Duration },
    /// `spoor query`: reads the shared store's blocks, listing them again
    /// every `refresh` (a compacted block hides the blocks it replaces at
    /// once); writes and deletes nothing.
    Reader { refresh: Duration },
    /// `spoor compactor`: refreshes like a reader and, while it holds the
    /// lease in the store (renewed every `lease / 3`, taken over once
    /// expired), compacts and expires blocks, deleting a replaced or
    /// expired block `delete_delay` later (queriers drop it first).
    Compactor {
        node: String,
        refresh: Duration,
        lease: Duration,
        delete_delay: Duration,
    },
}

impl EngineRole {
    /// The node name block IDs carry, if any.
    pub(crate) fn node(&self) -> Option<&str> {
        match self {
            EngineRole::Writer { node, .. } | EngineRole::Compactor { node, .. } => Some(node),
            EngineRole::Owner | EngineRole::Reader { .. } => None,
        }
    }

    /// How often the block list is read again (readers and compactors).
    pub(crate) fn refresh(&self) -> Option<Duration> {
        match self {
            EngineRole::Reader { refresh } | EngineRole::Compactor { refresh, .. } => {
                Some(*refresh)
            }
            EngineRole::Owner | EngineRole::Writer { .. } => None,
        }
    }
}

/// Is `node` usable in block IDs: 1 to 63 lowercase ASCII letters, digits
/// and `-`, not starting or ending with `-` (a DNS label, as Kubernetes pod
/// names are)?
pub fn valid_node_name(node: &str) -> bool {
    !node.is_empty()
        && node.len() <= 63
        && !node.starts_with('-')
        && !node.ends_with('-')
        && node
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl EngineConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            wal_segment_bytes: 64 << 20,
            wal_group_bytes: 8 << 20,
            wal_queue: 4096,
            head_cut_bytes: 128 << 20,
            head_cut_age: Duration::from_secs(10 * 60),
            head_max_bytes: 512 << 20,
            backlog_max_bytes: DEFAULT_BACKLOG_MAX_BYTES,
            maintenance_interval: Duration::from_secs(1),
            block_storage: BlockStorage::Local,
            block_write: BlockWriteOptions::default(),
            compaction: true,
            compaction_window: Duration::from_secs(3_600),
            compaction_max_spans: 250_000,
            compaction_min_blocks: 4,
            retention: None,
            clock: Clock::system(),
            cpu: spoor_storage::CpuPool::default(),
            read_cache_bytes: 0,
            read_cache_dir: None,
            read_cache_disk_bytes: 0,
            bucket_index_max_age: Duration::from_secs(60),
            role: EngineRole::Owner,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), EngineError> {
        if self.wal_segment_bytes < 4096 {
            return Err(EngineError::Config(
                "wal_segment_bytes must be at least 4096".into(),
            ));
        }
        if self.wal_group_bytes == 0
            || self.wal_queue == 0
            || self.head_max_bytes == 0
            || self.head_cut_bytes == 0
            || self.backlog_max_bytes == 0
        {
            return Err(EngineError::Config(
                "wal_group_bytes, wal_queue, head_cut_bytes, head_max_bytes and \
                 backlog_max_bytes must be positive"
                    .into(),
            ));
        }
        if self.head_cut_bytes > self.head_max_bytes {
            return Err(EngineError::Config(
                "head_cut_bytes must not exceed head_max_bytes".into(),
            ));
        }
        if self.compaction_window.is_zero()
            || self.compaction_max_spans < 2
            || self.compaction_min_blocks < 2
        {
            return Err(EngineError::Config(
                "compaction_window must be positive, compaction_max_spans and \
                 compaction_min_blocks at least 2"
                    .into(),
            ));
        }
        if self.retention.is_some_and(|r| r.is_zero()) {
            return Err(EngineError::Config("retention must be positive".into()));
        }
        if let Some(node) = self.role.node()
            && !valid_node_name(node)
        {
            return Err(EngineError::Config(format!(
                "the node name {node:?} is not a DNS label (1 to 63 lowercase letters, digits \
                 and '-', not starting or ending with '-')"
            )));
        }
        match &self.role {
            EngineRole::Writer { recent, .. } if recent.is_zero() => {
                return Err(EngineError::Config(
                    "the recent-block window must be positive".into(),
                ));
            }
            EngineRole::Reader { refresh } | EngineRole::Compactor { refresh, .. }
                if refresh.is_zero() =>
            {
                return Err(EngineError::Config(
                    "the block refresh interval must be positive".into(),
                ));
            }
            EngineRole::Compactor {
                lease,
                delete_delay,
                ..
            } if lease.as_secs() < 3 || delete_delay.is_zero() => {
                return Err(EngineError::Config(
                    "the compactor lease must be at least 3 s and the delete delay positive".into(),
                ));
            }
            _ => {}
        }
        if self.maintenance_interval.is_zero() {
            return Err(EngineError::Config(
                "maintenance_interval must be positive".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn wal_dir(&self) -> PathBuf {
        self.data_dir.join("wal")
    }

    /// The local block folder (`<data_dir>/blocks` or a `file://` URL's).
    pub(crate) fn blocks_dir(&self) -> PathBuf {
        match &self.block_storage {
            BlockStorage::Dir(dir) => dir.clone(),
            _ => self.data_dir.join("blocks"),
        }
    }

    /// Are blocks in a local folder ([`EngineConfig::blocks_dir`])?
    pub(crate) fn local_blocks(&self) -> bool {
        !matches!(self.block_storage, BlockStorage::Custom(_))
    }

    pub(crate) fn quarantine_dir(&self) -> PathBuf {
        self.data_dir.join(wal::QUARANTINE_DIR)
    }

    /// A writer's blocks that could not be uploaded yet (`<data_dir>/pending`).
    pub(crate) fn pending_dir(&self) -> PathBuf {
        self.data_dir.join(PENDING_DIR)
    }
}

pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn s3_urls_name_a_bucket_a_prefix_and_only_non_secret_settings() {
        let l = parse_s3("spoor/a/b/?endpoint=http://127.0.0.1:8333&allow_http=true").unwrap();
        assert_eq!(l.bucket, "spoor");
        assert_eq!(l.prefix, "a/b");
        assert_eq!(
            l.options,
            vec![
                ("endpoint".to_owned(), "http://127.0.0.1:8333".to_owned()),
                ("allow_http".to_owned(), "true".to_owned()),
            ]
        );
        let root = parse_s3("spoor").unwrap();
        assert_eq!((root.bucket.as_str(), root.prefix.as_str()), ("spoor", ""));
        assert!(root.options.is_empty());
        for bad in [
            "",
            "/prefix",
            "UPPER/x",
            "spoor/a//b",
            "spoor/../x",
            "spoor/x?access_key_id=AKIA",
            "spoor/x?secret_access_key=s",
            "spoor/x?token=t",
        ] {
            assert!(parse_s3(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn blocks_urls_pick_the_storage() {
        assert!(matches!(
            BlockStorage::from_url("file:///var/lib/spoor/blocks").unwrap(),
            BlockStorage::Dir(p) if p == std::path::Path::new("/var/lib/spoor/blocks")
        ));
        for bad in ["file://rel", "gs://b/p", "az://c/p", "http://x", "blocks"] {
            let e = BlockStorage::from_url(bad).unwrap_err().to_string();
            assert!(e.contains("blocks URL"), "{bad}: {e}");
        }
        for (bad, says) in [
            ("azure://traces/p", "az://CONTAINER/PREFIX"),
            ("abfs://traces/p", "az://CONTAINER/PREFIX"),
            ("gcs://traces/p", "gs://BUCKET/PREFIX"),
            ("ftp://x/y", "available: file, s3, gs, az"),
            ("blocks", "gs://BUCKET/PREFIX or az://CONTAINER/PREFIX"),
        ] {
            let e = BlockStorage::from_url(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn gs_urls_name_a_bucket_a_prefix_and_only_non_secret_settings() {
        let l =
            parse_gs("spoor-traces/prod/blocks/?base_url=http://127.0.0.1:4443&allow_http=true")
                .unwrap();
        assert_eq!(l.bucket, "spoor-traces");
        assert_eq!(l.prefix, "prod/blocks");
        assert_eq!(
            l.options,
            vec![
                ("base_url".to_owned(), "http://127.0.0.1:4443".to_owned()),
                ("allow_http".to_owned(), "true".to_owned()),
            ]
        );
        for good in ["abc", "my_bucket-1", "traces.example.com", &"a".repeat(63)] {
            let l = parse_gs(good).unwrap();
            assert_eq!((l.bucket.as_str(), l.prefix.as_str()), (good, ""));
        }
        // 222 characters with dots, each part at most 63.
        let dotted = [
            &"a".repeat(63)[..],
            &"b".repeat(63),
            &"c".repeat(63),
            &"d".repeat(30),
        ]
        .join(".");
        assert_eq!(dotted.len(), 222);
        assert!(parse_gs(&dotted).is_ok());
        for bad in [
            String::new(),
            "/prefix".into(),
            "ab".into(),
            "UPPER".into(),
            "-spoor".into(),
            "spoor-".into(),
            "spoor.".into(),
            "sp..or".into(),
            "sp oor".into(),
            "goog-traces".into(),
            "my-google-traces".into(),
            "192.168.5.4".into(),
            "a".repeat(64),
            format!("{}.com", "a".repeat(64)),
            format!("{dotted}x"),
            "spoor/a//b".into(),
            "spoor/../x".into(),
            "spoor/x?allow_http=maybe".into(),
            // Unsigned requests: object_store 0.14.2 still asks the metadata
            // server for a token before each upload, so not offered.
            "spoor/x?skip_signature=true".into(),
            "spoor/x?base_url=http://a&base_url=http://b".into(),
            "spoor/x?endpoint=http://a".into(),
        ] {
            assert!(parse_gs(&bad).is_err(), "{bad}");
        }
        // Secrets are refused, naming the variables that carry them.
        for secret in [
            "service_account_key={}",
            "google_service_account_key={}",
            "bearer_token=ya29",
            "service_account=/k.json",
            "application_credentials=/k.json",
        ] {
            let e = parse_gs(&format!("spoor/x?{secret}")).unwrap_err();
            for var in [
                "GOOGLE_APPLICATION_CREDENTIALS",
                "GOOGLE_SERVICE_ACCOUNT",
                "GOOGLE_SERVICE_ACCOUNT_KEY",
            ] {
                assert!(e.contains(var), "{secret}: {e}");
            }
        }
    }

    #[test]
    fn az_urls_name_a_container_a_prefix_and_only_non_secret_settings() {
        let l = parse_az(
            "traces/prod?account=devstoreaccount1&endpoint=http://127.0.0.1:10000/devstoreaccount1&allow_http=true",
        )
        .unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("traces", "prod"));
        assert_eq!(
            l.options,
            vec![
                ("account".to_owned(), "devstoreaccount1".to_owned()),
                (
                    "endpoint".to_owned(),
                    "http://127.0.0.1:10000/devstoreaccount1".to_owned()
                ),
                ("allow_http".to_owned(), "true".to_owned()),
            ]
        );
        assert!(parse_az("traces?use_emulator=true").is_ok());
        assert!(parse_az("traces?use_emulator=false&endpoint=https://blobs.internal/a").is_ok());
        for good in ["abc", "spoor-traces-1", "0traces", &"a".repeat(63)] {
            assert_eq!(parse_az(good).unwrap().bucket, good);
        }
        for bad in [
            String::new(),
            "/prefix".into(),
            "ab".into(),
            "Traces".into(),
            "-traces".into(),
            "traces-".into(),
            "tra--ces".into(),
            "tra_ces".into(),
            "tra.ces".into(),
            "$root".into(),
            "a".repeat(64),
            "traces/a//b".into(),
            "traces/./x".into(),
            "traces?account=Dev".into(),
            "traces?account=ab".into(),
            format!("traces?account={}", "a".repeat(25)),
            "traces?use_emulator=perhaps".into(),
            "traces?use_emulator=true&endpoint=http://127.0.0.1:10000".into(),
            "traces?region=westeurope".into(),
            "traces?allow_http=true&allow_http=false".into(),
        ] {
            assert!(parse_az(&bad).is_err(), "{bad}");
        }
        for secret in [
            "access_key=abc",
            "account_key=abc",
            "azure_storage_account_key=abc",
            "sas_token=sv%3D2024",
            "sas_key=sv",
            "token=t",
            "bearer_token=t",
            "client_secret=s",
            "account_name=devstoreaccount1",
        ] {
            let e = parse_az(&format!("traces/x?{secret}")).unwrap_err();
            for var in [
                "AZURE_STORAGE_ACCOUNT_KEY",
                "AZURE_STORAGE_SAS_TOKEN",
                "AZURE_FEDERATED_TOKEN_FILE",
            ] {
                assert!(e.contains(var), "{secret}: {e}");
            }
        }
    }

    #[test]
    fn a_bucket_url_without_its_build_feature_is_checked_then_refused() {
        for (url, feature, enabled) in [
            ("s3://spoor-traces/p", "aws", cfg!(feature = "aws")),
            (
                "gs://spoor-traces/p?base_url=http://127.0.0.1:9&allow_http=true",
                "gcp",
                cfg!(feature = "gcp"),
            ),
            (
                "az://spoor-traces/p?account=devstoreaccount1&endpoint=http://127.0.0.1:9/devstoreaccount1&allow_http=true",
                "azure",
                cfg!(feature = "azure"),
            ),
        ] {
            // Building a client contacts nothing; only a listing would.
            match BlockStorage::from_url(url) {
                Ok(storage) => {
                    assert!(enabled, "{url}");
                    assert!(matches!(storage, BlockStorage::Custom(_)), "{url}");
                }
                Err(e) => {
                    assert!(!enabled, "{url}: {e}");
                    assert!(
                        e.to_string().contains(&format!("feature `{feature}`")),
                        "{e}"
                    );
                }
            }
        }
        // The URL is checked first either way.
        assert!(
            BlockStorage::from_url("gs://UPPER/p")
                .unwrap_err()
                .to_string()
                .contains("not a bucket name")
        );
        assert!(
            BlockStorage::from_url("az://traces?sas_token=x")
                .unwrap_err()
                .to_string()
                .contains("AZURE_STORAGE_SAS_TOKEN")
        );
    }

    #[test]
    fn a_file_url_is_the_local_blocks_folder() {
        let mut c = EngineConfig::new("/data");
        assert_eq!(c.blocks_dir(), std::path::Path::new("/data/blocks"));
        assert!(c.local_blocks());
        c.block_storage = BlockStorage::Dir("/mnt/blocks".into());
        assert_eq!(c.blocks_dir(), std::path::Path::new("/mnt/blocks"));
        assert!(c.local_blocks());
        c.block_storage = BlockStorage::Custom(Arc::new(object_store::memory::InMemory::new()));
        assert!(!c.local_blocks());
    }
}
