//! Configuration: defaults, then a versioned YAML file, then `SPOOR_*`
//! environment variables, then command-line flags (later wins).

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::LazyLock;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use serde::Deserialize;
use spoor_server::listeners::{ListenerAddrs, PerListener, Transport};
use spoor_server::roles::ALL_IN_ONE;
use spoor_server::{Listener, ListenerSpec, Role};

/// The config file format version this binary reads.
pub const CONFIG_VERSION: u32 = 1;

pub const DEFAULT_HOST: &str = "127.0.0.1";

/// Settings for running Spoor (all-in-one). Every flag can also be set by
/// its `SPOOR_…` environment variable or in the YAML config file.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs<R: RoleListeners + Clone + Default + std::fmt::Debug + Send + Sync = AllInOne> {
    /// YAML config file (see docs/configuration.md); flags and environment override it
    #[arg(long, short = 'c', env = "SPOOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Host every listener binds to, unless its own address names a host; a listener's address is `PORT`, `:PORT`, `HOST:PORT`, or `off` [default: 127.0.0.1]
    #[arg(long, env = "SPOOR_HOST", value_name = "HOST")]
    pub host: Option<String>,

    /// One `--KEY-addr` flag (and `SPOOR_KEY_ADDR` variable) per listener
    #[command(flatten)]
    pub listeners: ListenerArgs<R>,

    /// Sampling strategies: a JSON file (reloaded on change) or an http(s) URL (polled) [default: sample everything]
    #[arg(long, env = "SPOOR_SAMPLING_STRATEGIES", value_name = "FILE|URL")]
    pub sampling_strategies: Option<String>,

    /// Probability served to services no strategy names, when no strategies file is given [default: 1]
    #[arg(long, env = "SPOOR_SAMPLING_DEFAULT_PROBABILITY", value_name = "P")]
    pub sampling_default_probability: Option<f64>,

    /// How often the strategies file or URL is checked for changes, a Go duration [default: 1s]
    #[arg(long, env = "SPOOR_SAMPLING_RELOAD_INTERVAL", value_name = "DURATION")]
    pub sampling_reload_interval: Option<String>,

    /// UDP receivers: packets queued before new ones are dropped (and counted) [default: 1000]
    #[arg(long, env = "SPOOR_UDP_QUEUE_SIZE", value_name = "N")]
    pub udp_queue_size: Option<usize>,

    /// UDP receivers: workers decoding packets [default: 4]
    #[arg(long, env = "SPOOR_UDP_WORKERS", value_name = "N")]
    pub udp_workers: Option<usize>,

    /// UDP receivers: largest datagram accepted, in bytes [default: 65000]
    #[arg(long, env = "SPOOR_UDP_MAX_PACKET_BYTES", value_name = "BYTES")]
    pub udp_max_packet_bytes: Option<usize>,

    /// Storage backend: `engine` (persistent, in --data-dir) or `memory` [default: engine]
    #[arg(long, env = "SPOOR_STORAGE", value_name = "BACKEND", value_parser = ["engine", "memory"])]
    pub storage: Option<String>,

    /// Engine: directory for the write-ahead log and blocks [default: ./spoor-data]
    #[arg(long, env = "SPOOR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Engine: where blocks go, `file://PATH`, `s3://BUCKET/PREFIX` (query keys `endpoint`, `region`, `allow_http`, `virtual_hosted_style_request`; credentials from the AWS_* variables), `gs://BUCKET/PREFIX` (`base_url`, `allow_http`; GOOGLE_* variables or the metadata server) or `az://CONTAINER/PREFIX` (`account`, `endpoint`, `allow_http`, `use_emulator`; AZURE_* variables); the WAL stays in --data-dir [default: file://<data-dir>/blocks]
    #[arg(long, env = "SPOOR_BLOCKS_URL", value_name = "URL")]
    pub blocks_url: Option<String>,

    /// Engine: a block is deleted once Spoor received its newest span longer ago than this (ingest time, not the spans' timestamps), a Go duration; 0 keeps everything [default: 168h]
    #[arg(long, env = "SPOOR_RETENTION", value_name = "DURATION")]
    pub retention: Option<String>,

    /// Engine: recent spans are cut into a block once they take this many bytes in memory [default: 134217728]
    #[arg(long, env = "SPOOR_BLOCK_CUT_BYTES", value_name = "BYTES")]
    pub block_cut_bytes: Option<usize>,

    /// Engine: …or once the oldest of them arrived this long ago, a Go duration [default: 10m]
    #[arg(long, env = "SPOOR_BLOCK_CUT_AGE", value_name = "DURATION")]
    pub block_cut_age: Option<String>,

    /// Serve the Jaeger UI build in DIR (its index.html gets Jaeger's injections) instead of Spoor's UI [default: Spoor's UI]
    #[arg(long, env = "SPOOR_UI_ASSETS", value_name = "DIR")]
    pub ui_assets: Option<PathBuf>,

    /// Jaeger UI configuration injected into the --ui-assets build: a .json object or a .js file defining UIConfig() (Jaeger's query.ui-config); read again when it changes
    #[arg(long, env = "SPOOR_UI_CONFIG", value_name = "FILE")]
    pub ui_config: Option<PathBuf>,

    /// Engine: bytes of block-file ranges and Parquet footers kept in memory after a read; 0 turns it off [default: 134217728 with an s3://, gs:// or az:// blocks URL, else 0]
    #[arg(long, env = "SPOOR_READ_CACHE_BYTES", value_name = "BYTES")]
    pub read_cache_bytes: Option<usize>,

    /// Engine: a directory for the read cache's disk tier, block-file ranges fetched from the store kept as files checked by a CRC-32 (an emptyDir for a querier); its cache files from an earlier run are removed at start [default: none, no disk tier]
    #[arg(long, env = "SPOOR_READ_CACHE_DIR", value_name = "DIR")]
    pub read_cache_dir: Option<PathBuf>,

    /// Engine: bytes of cache files kept under --read-cache-dir, least recently used first out; 0 turns the disk tier off [default: 1073741824]
    #[arg(long, env = "SPOOR_READ_CACHE_DISK_BYTES", value_name = "BYTES")]
    pub read_cache_disk_bytes: Option<u64>,

    /// Engine: the backlog budget, bytes on local disk of spans acknowledged and not yet in the block store (the write-ahead log, and a collector's blocks kept while the store is down); at it, writes are refused with 429 / RESOURCE_EXHAUSTED until uploads drain it [default: 4294967296]
    #[arg(long, env = "SPOOR_BACKLOG_MAX_BYTES", value_name = "BYTES")]
    pub backlog_max_bytes: Option<u64>,

    /// Memory backend: most traces kept; the oldest is evicted first [default: 100000]
    #[arg(long, env = "SPOOR_MAX_TRACES", value_name = "N")]
    pub max_traces: Option<usize>,

    /// Largest request body (HTTP) or message (gRPC) accepted, in bytes [default: 16777216]
    #[arg(long, env = "SPOOR_MAX_REQUEST_BYTES", value_name = "BYTES")]
    pub max_request_bytes: Option<usize>,

    /// Largest request body after decompression, in bytes [default: 67108864]
    #[arg(long, env = "SPOOR_MAX_DECOMPRESSED_BYTES", value_name = "BYTES")]
    pub max_decompressed_bytes: Option<usize>,

    /// The ingest memory budget: bytes of request bodies, their decompressed bytes and their decoded spans held at once; beyond it senders are told to retry (429 / RESOURCE_EXHAUSTED with a retry delay) [default: 268435456]
    #[arg(long, env = "SPOOR_MAX_BYTES_IN_FLIGHT", value_name = "BYTES")]
    pub max_bytes_in_flight: Option<usize>,

    /// Most spans accepted in one request; 0 = no cap [default: 100000]
    #[arg(long, env = "SPOOR_MAX_SPANS_PER_REQUEST", value_name = "N")]
    pub max_spans_per_request: Option<usize>,

    /// URL prefix of the query server and UI, e.g. `/jaeger` [default: /]
    #[arg(long, env = "SPOOR_BASE_PATH", value_name = "PATH")]
    pub base_path: Option<String>,

    /// Extra link in the web UI's menu, `LABEL=URL` (http(s) URL or absolute path); repeatable; `|` separates several in the variable [default: none]
    #[arg(
        long = "ui-menu-link",
        env = "SPOOR_UI_MENU_LINKS",
        value_name = "LABEL=URL",
        value_delimiter = '|'
    )]
    pub ui_menu_links: Vec<String>,

    /// Largest clock-skew correction applied at query time, a Go duration such as `500ms`; 0 disables it [default: 0]
    #[arg(long, env = "SPOOR_MAX_CLOCK_SKEW_ADJUST", value_name = "DURATION")]
    pub max_clock_skew_adjust: Option<String>,

    /// Most spans returned per trace by the query APIs; 0 = unlimited [default: 0]
    #[arg(long, env = "SPOOR_MAX_TRACE_SIZE", value_name = "N")]
    pub max_trace_size: Option<usize>,

    /// Every TCP listener: a connection must send a complete request head within this long, a Go duration [default: 10s]
    #[arg(long, env = "SPOOR_HEADER_TIMEOUT", value_name = "DURATION")]
    pub header_timeout: Option<String>,

    /// Every TCP listener: a request body must arrive completely within this long after its head [default: 60s]
    #[arg(long, env = "SPOOR_BODY_TIMEOUT", value_name = "DURATION")]
    pub body_timeout: Option<String>,

    /// Every TCP listener: a connection with no request in flight is closed after this long [default: 60s]
    #[arg(long, env = "SPOOR_IDLE_TIMEOUT", value_name = "DURATION")]
    pub idle_timeout: Option<String>,

    /// Most connections open at once per TCP listener (lowered to keep file descriptors for storage) [default: 4096]
    #[arg(long, env = "SPOOR_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Host names accepted in the Host header besides loopback names and the listen address; `*` accepts any; comma-separated [default: any when bound to a non-loopback address]
    #[arg(
        long,
        env = "SPOOR_ALLOWED_HOSTS",
        value_name = "HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Origins allowed to call the query API from a browser (CORS), e.g. `https://grafana.example.com`; `*` allows any; comma-separated [default: none]
    #[arg(
        long,
        env = "SPOOR_CORS_ALLOWED_ORIGINS",
        value_name = "ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,

    /// Origins allowed to send spans to the HTTP receivers from a browser; other cross-origin requests get 403; comma-separated [default: none]
    #[arg(
        long,
        env = "SPOOR_RECEIVER_ALLOWED_ORIGINS",
        value_name = "ORIGINS",
        value_delimiter = ','
    )]
    pub receiver_allowed_origins: Vec<String>,

    /// TLS certificate chain (PEM, leaf first) served on every TCP listener; with `--tls-key-file` turns TLS on; reloaded when the file changes [default: none, plain TCP]
    #[arg(long, env = "SPOOR_TLS_CERT_FILE", value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// TLS private key (PEM) of `--tls-cert-file`; reloaded when the file changes [default: none]
    #[arg(long, env = "SPOOR_TLS_KEY_FILE", value_name = "FILE")]
    pub tls_key_file: Option<PathBuf>,

    /// CA certificates (PEM) that client certificates must chain to (mTLS) [default: none]
    #[arg(long, env = "SPOOR_TLS_CLIENT_CA_FILE", value_name = "FILE")]
    pub tls_client_ca_file: Option<PathBuf>,

    /// Client certificates: `none`, `optional` (verified when presented) or `require` [default: `require` with `--tls-client-ca-file`, else `none`]
    #[arg(long, env = "SPOOR_TLS_CLIENT_AUTH", value_name = "MODE")]
    pub tls_client_auth: Option<String>,

    /// Lowest TLS version accepted: `1.2` or `1.3` [default: 1.2]
    #[arg(long, env = "SPOOR_TLS_MIN_VERSION", value_name = "VERSION")]
    pub tls_min_version: Option<String>,

    /// Static bearer tokens / API keys for the ingest and query listeners: lines `<token> <name> [<tenant>,…|*]`; reloaded when the file changes (docs/security.md, "Authentication") [default: none]
    #[arg(long, env = "SPOOR_AUTH_TOKENS_FILE", value_name = "FILE")]
    pub auth_tokens_file: Option<PathBuf>,

    /// HTTP basic users (htpasswd file of bcrypt entries, `htpasswd -B`) for the ingest and query listeners; reloaded when the file changes [default: none]
    #[arg(long, env = "SPOOR_AUTH_HTPASSWD_FILE", value_name = "FILE")]
    pub auth_htpasswd_file: Option<PathBuf>,

    /// Tenants kept apart: the allow-list, comma-separated; turns tenancy on (docs/security.md, "Tenants") [default: none, one tenant]
    #[arg(
        long,
        env = "SPOOR_TENANTS",
        value_name = "TENANTS",
        value_delimiter = ','
    )]
    pub tenants: Vec<String>,

    /// The header (and gRPC metadata key) naming a request's tenant, e.g. `X-Scope-OrgID` [default: x-tenant]
    #[arg(long, env = "SPOOR_TENANCY_HEADER", value_name = "HEADER")]
    pub tenancy_header: Option<String>,

    /// Largest `limit` a trace search may ask for; larger ones are refused with 400; 0 = no maximum [default: 1500]
    #[arg(long, env = "SPOOR_QUERY_MAX_LIMIT", value_name = "N")]
    pub query_max_limit: Option<usize>,

    /// Heavy queries (searches, trace fetches, exports) running at once; 0 = unlimited [default: 8]
    #[arg(long, env = "SPOOR_QUERY_MAX_CONCURRENT", value_name = "N")]
    pub query_max_concurrent: Option<usize>,

    /// How long a heavy query waits for a slot before 503 + Retry-After, a Go duration [default: 10s]
    #[arg(long, env = "SPOOR_QUERY_QUEUE_TIMEOUT", value_name = "DURATION")]
    pub query_queue_timeout: Option<String>,

    /// Log filter, e.g. `info` or `spoor=debug,info` [default: info]
    #[arg(long, env = "SPOOR_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Log format [default: text]
    #[arg(long, env = "SPOOR_LOG_FORMAT", value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

/// A role's listener settings, generated from its list in
/// `spoor_server::roles`: the flag `--KEY-addr` and the variable
/// `{ENV_PREFIX}KEY_ADDR` of each of its listeners ([`ListenerArgs`]), the
/// `listeners.KEY` file keys when it reads a config file, and its listener
/// table in docs/configuration.md ([`listeners_markdown`]).
pub trait RoleListeners: 'static {
    /// The shared state of the role's handlers.
    type State: 'static;
    /// Its list of listeners.
    fn role() -> &'static Role<Self::State>;
    /// What its environment variables start with.
    const ENV_PREFIX: &'static str;
    /// Whether its listeners are also `listeners.KEY` in a config file.
    const CONFIG_FILE: bool;

    /// The environment variable of a listener's address:
    /// `{ENV_PREFIX}KEY_ADDR`.
    fn env(spec: &ListenerSpec) -> String {
        format!("{}{}_ADDR", Self::ENV_PREFIX, spec.key.to_ascii_uppercase())
    }
}

/// All-in-one's listeners: `--KEY-addr`, `SPOOR_KEY_ADDR`, `listeners.KEY`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllInOne;

impl RoleListeners for AllInOne {
    type State = spoor_server::AppState;
    fn role() -> &'static Role<Self::State> {
        &ALL_IN_ONE
    }
    const ENV_PREFIX: &'static str = "SPOOR_";
    const CONFIG_FILE: bool = true;
}

/// `spoor collector`'s listeners: `--KEY-addr`, `SPOOR_KEY_ADDR`, `listeners.KEY`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CollectorRole;

impl RoleListeners for CollectorRole {
    type State = spoor_server::AppState;
    fn role() -> &'static Role<Self::State> {
        &spoor_server::roles::COLLECTOR
    }
    const ENV_PREFIX: &'static str = "SPOOR_";
    const CONFIG_FILE: bool = true;
}

/// `spoor query`'s listeners: `--KEY-addr`, `SPOOR_KEY_ADDR`, `listeners.KEY`.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryRole;

impl RoleListeners for QueryRole {
    type State = spoor_server::AppState;
    fn role() -> &'static Role<Self::State> {
        &spoor_server::roles::QUERY
    }
    const ENV_PREFIX: &'static str = "SPOOR_";
    const CONFIG_FILE: bool = true;
}

/// `spoor compactor`'s listeners: `--KEY-addr`, `SPOOR_KEY_ADDR`, `listeners.KEY`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompactorRole;

impl RoleListeners for CompactorRole {
    type State = spoor_server::AppState;
    fn role() -> &'static Role<Self::State> {
        &spoor_server::roles::COMPACTOR
    }
    const ENV_PREFIX: &'static str = "SPOOR_";
    const CONFIG_FILE: bool = true;
}

/// The command-line flag of a listener's address: `KEY-addr` (after `--`).
pub fn listener_flag(spec: &ListenerSpec) -> String {
    format!("{}-addr", spec.key.replace('_', "-"))
}

/// All-in-one's environment variable of a listener's address: `SPOOR_KEY_ADDR`.
pub fn listener_env(spec: &ListenerSpec) -> String {
    AllInOne::env(spec)
}

/// The clap id of a listener's flag.
fn listener_arg_id(spec: &ListenerSpec) -> String {
    format!("{}_addr", spec.key)
}

/// A role's listener address flags, one per listener of `R`'s list:
/// `--KEY-addr` or `{ENV_PREFIX}KEY_ADDR`, each `PORT`, `:PORT`,
/// `HOST:PORT` or `off`.
#[derive(Debug, Clone)]
pub struct ListenerArgs<R = AllInOne>(pub PerListener<Option<String>>, PhantomData<R>);

impl<R> Default for ListenerArgs<R> {
    fn default() -> Self {
        ListenerArgs(PerListener::default(), PhantomData)
    }
}

impl<R: RoleListeners> clap::Args for ListenerArgs<R> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        R::role().listeners.iter().fold(cmd, |cmd, row| {
            let spec = row.spec();
            cmd.arg(
                clap::Arg::new(listener_arg_id(spec))
                    .long(listener_flag(spec))
                    .env(R::env(spec))
                    .value_name("ADDR")
                    .action(clap::ArgAction::Set)
                    .help(format!("{} [default: {}]", row.serves, row.port)),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl<R: RoleListeners> clap::FromArgMatches for ListenerArgs<R> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut args = ListenerArgs::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        for row in R::role().listeners {
            let id = listener_arg_id(row.spec());
            let value = matches.try_get_one::<String>(&id).map_err(|e| {
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!("flag {id}: {e}"),
                )
            })?;
            if let Some(value) = value {
                self.0[row.listener] = Some(value.clone());
            }
        }
        Ok(())
    }
}

/// Every listener of `role`: its address text (`text(listener)`: a flag,
/// a file key, …) resolved on `host`, else its default port in the role on
/// `host`; `off` turns it off. Errors say "invalid TEXT address".
pub fn resolve_listeners<S>(
    role: &Role<S>,
    host: &str,
    text: impl Fn(Listener) -> Option<String>,
) -> Result<ListenerAddrs> {
    let mut addrs = ListenerAddrs::default();
    for row in role.listeners {
        let text = text(row.listener);
        addrs[row.listener] = match text.as_deref().map(str::trim) {
            Some("off") => None,
            text => Some(
                resolve_addr(host, text, row.port)
                    .with_context(|| format!("invalid {} address", row.spec().text))?,
            ),
        };
    }
    Ok(addrs)
}

/// `listeners:` in the config file: an address per key of all-in-one's
/// listeners. Unknown keys are an error.
#[derive(Debug, Default)]
pub struct FileListeners(pub PerListener<Option<String>>);

/// The keys accepted under `listeners:`.
static FILE_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    spoor_server::listeners::LISTENERS
        .iter()
        .map(|spec| spec.key)
        .collect()
});

impl<'de> Deserialize<'de> for FileListeners {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = FileListeners;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map from listener to address")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<FileListeners, M::Error> {
                let mut listeners = FileListeners::default();
                let mut seen = PerListener::<bool>::default();
                let rows = spoor_server::listeners::LISTENERS;
                while let Some(key) = map.next_key::<String>()? {
                    let Some(spec) = rows.iter().find(|s| s.key == key) else {
                        return Err(serde::de::Error::unknown_field(&key, &FILE_KEYS));
                    };
                    if std::mem::replace(&mut seen[spec.listener], true) {
                        return Err(serde::de::Error::duplicate_field(spec.key));
                    }
                    listeners.0[spec.listener] = map.next_value()?;
                }
                Ok(listeners)
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// A role's listener table in docs/configuration.md, generated from its
/// list in `spoor_server::roles`.
pub fn listeners_markdown<R: RoleListeners>() -> String {
    let (key_head, key_rule) = if R::CONFIG_FILE {
        ("| key ", "|---")
    } else {
        ("", "")
    };
    let mut out = format!(
        "{key_head}| default | flag | environment | serves | connection protection |\n\
         {key_rule}|---|---|---|---|---|\n"
    );
    for row in R::role().listeners {
        let spec = row.spec();
        if R::CONFIG_FILE {
            out.push_str(&format!("| `listeners.{}` ", spec.key));
        }
        let udp = match spec.transport {
            Transport::Tcp => "",
            Transport::Udp => " UDP",
        };
        out.push_str(&format!(
            "| {}{udp} | `--{}` | `{}` | {} | {} |\n",
            row.port,
            listener_flag(spec),
            R::env(spec),
            row.serves,
            row.protection(),
        ));
    }
    out
}

/// The YAML config file. Unknown keys are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub version: u32,
    pub host: Option<String>,
    #[serde(default)]
    pub listeners: FileListeners,
    #[serde(default)]
    pub storage: FileStorage,
    #[serde(default)]
    pub ingest: FileIngest,
    #[serde(default)]
    pub query: FileQuery,
    #[serde(default)]
    pub sampling: FileSampling,
    #[serde(default)]
    pub log: FileLog,
    #[serde(default)]
    pub network: FileNetwork,
    /// The distributed roles' settings (`spoor collector`, `query`, `compactor`).
    #[serde(default)]
    pub cluster: FileCluster,
    /// TLS, authentication and tenants (docs/security.md).
    #[serde(default)]
    pub security: spoor_server::security::SecurityConfig,
}

/// `cluster:` — where the collectors are and who this process is, for the
/// distributed roles (docs/deploy.md).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileCluster {
    pub node_id: Option<String>,
    pub collectors: Option<String>,
    pub block_refresh_interval: Option<String>,
    pub bucket_index_max_age: Option<String>,
    pub recent_block_window: Option<String>,
    pub compactor_lease: Option<String>,
    pub delete_delay: Option<String>,
    /// A querier's connections to the collectors' internal API: TLS
    /// (`tls: true` or any `tls_*` file) and a bearer token (docs/security.md).
    pub tls: Option<bool>,
    pub tls_ca_file: Option<String>,
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    pub tls_server_name: Option<String>,
    pub bearer_token_file: Option<String>,
}

/// `network:` — timeouts, connection limits, Host and Origin checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileNetwork {
    pub header_timeout: Option<String>,
    pub body_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub max_connections: Option<usize>,
    pub allowed_hosts: Option<Vec<String>>,
    pub cors_allowed_origins: Option<Vec<String>>,
    pub receiver_allowed_origins: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSampling {
    pub strategies: Option<String>,
    pub default_probability: Option<f64>,
    pub reload_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStorage {
    pub backend: Option<String>,
    pub max_traces: Option<usize>,
    pub data_dir: Option<PathBuf>,
    pub blocks_url: Option<String>,
    pub retention: Option<String>,
    pub block_cut_bytes: Option<usize>,
    pub block_cut_age: Option<String>,
    pub read_cache_bytes: Option<usize>,
    pub read_cache_dir: Option<PathBuf>,
    pub read_cache_disk_bytes: Option<u64>,
    pub backlog_max_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIngest {
    pub max_request_bytes: Option<usize>,
    pub max_decompressed_bytes: Option<usize>,
    pub max_bytes_in_flight: Option<usize>,
    pub max_spans_per_request: Option<usize>,
    pub udp_queue_size: Option<usize>,
    pub udp_workers: Option<usize>,
    pub udp_max_packet_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileQuery {
    pub base_path: Option<String>,
    /// Extra links in the web UI's menu.
    pub ui_menu_links: Option<Vec<FileMenuLink>>,
    pub max_clock_skew_adjust: Option<String>,
    pub max_trace_size: Option<usize>,
    pub query_max_limit: Option<usize>,
    pub query_max_concurrent: Option<usize>,
    pub query_queue_timeout: Option<String>,
    /// A Jaeger UI build to serve instead of Spoor's UI.
    pub ui_assets: Option<PathBuf>,
    /// Jaeger UI configuration (`.json` or `.js`) for that build.
    pub ui_config: Option<PathBuf>,
}

/// One `query.ui_menu_links` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMenuLink {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLog {
    pub level: Option<String>,
    pub format: Option<String>,
}

impl FileConfig {
    /// An empty file of the current version.
    pub fn default_v1() -> Self {
        FileConfig {
            version: CONFIG_VERSION,
            ..FileConfig::default()
        }
    }
}

/// Where sampling strategies come from.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingSettings {
    /// A strategies file path or an http(s) URL; `None` = default probability for all.
    pub strategies: Option<String>,
    pub default_probability: f64,
    pub reload_interval_nanos: u64,
}

/// Which storage backend to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    Memory {
        max_traces: usize,
    },
    Engine {
        data_dir: PathBuf,
        /// `storage.blocks_url`; `None` = `<data_dir>/blocks`.
        blocks_url: Option<String>,
        /// `None` keeps everything.
        retention_nanos: Option<u64>,
        /// `None` = the engine's default.
        cut_bytes: Option<usize>,
        /// `None` = the engine's default.
        cut_age_nanos: Option<u64>,
        /// The read cache's bytes (0: none).
        read_cache_bytes: usize,
        /// The read cache's disk tier: its directory (`None`: none) and bytes.
        read_cache_dir: Option<PathBuf>,
        read_cache_disk_bytes: u64,
        /// Bytes acknowledged and not yet in the block store, at most.
        backlog_max_bytes: u64,
    },
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Each listener's address (all-in-one's listeners); `None` = off.
    pub listeners: ListenerAddrs,
    pub storage: Storage,
    pub sampling: SamplingSettings,
    pub udp_queue_size: usize,
    pub udp_workers: usize,
    pub udp_max_packet_bytes: usize,
    pub max_request_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub max_bytes_in_flight: usize,
    pub max_spans_per_request: usize,
    pub base_path: String,
    /// Extra links in the web UI's menu.
    pub ui_menu_links: Vec<spoor_server::ui::MenuLink>,
    pub max_clock_skew_adjust_nanos: u64,
    pub max_trace_size: usize,
    pub query_max_limit: usize,
    pub query_max_concurrent: usize,
    pub query_queue_timeout_nanos: u64,
    pub log: String,
    pub log_json: bool,
    /// Timeouts, connection limit, Host and Origin checks of TCP listeners
    /// (`max_connections_total` is set at start from the file descriptor limit).
    pub net: spoor_server::net::NetConfig,
    /// The file's `cluster:` section, resolved by a distributed role with its flags.
    pub cluster: FileCluster,
    /// A Jaeger UI build served instead of Spoor's UI, and its UI config file.
    pub ui_assets: Option<PathBuf>,
    pub ui_config: Option<PathBuf>,
}

impl Config {
    /// Merges defaults, the file named by `--config` (if any) and the flags.
    pub fn load<R: RunRole>(args: &RunArgs<R>) -> Result<Config> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                parse_file(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => FileConfig::default_v1(),
        };
        Config::merge_for(args, file)
    }

    /// Flags over the file over defaults, validated (all-in-one).
    pub fn merge(args: &RunArgs, file: FileConfig) -> Result<Config> {
        Config::merge_for(args, file)
    }

    /// Flags over the file over defaults, validated, for the role `R`.
    pub fn merge_for<R: RunRole>(args: &RunArgs<R>, file: FileConfig) -> Result<Config> {
        let host = pick(&args.host, file.host).unwrap_or_else(|| DEFAULT_HOST.to_string());
        let listeners = listener_addrs(&host, &args.listeners, &file.listeners)?;
        let cluster = file.cluster;
        let sampling = sampling_settings(args, file.sampling)?;
        let storage = storage(args, file.storage)?;
        let query = file.query;
        let skew = pick(&args.max_clock_skew_adjust, query.max_clock_skew_adjust);
        let skew_nanos = go_nanos(skew.as_deref().unwrap_or("0"), "max_clock_skew_adjust")?;
        ensure!(
            skew_nanos >= 0,
            "max_clock_skew_adjust must not be negative"
        );
        let queue_timeout = pick(&args.query_queue_timeout, query.query_queue_timeout);
        let queue_timeout_nanos = go_nanos(
            queue_timeout.as_deref().unwrap_or("10s"),
            "query_queue_timeout",
        )?;
        ensure!(
            queue_timeout_nanos >= 0,
            "query_queue_timeout must not be negative"
        );
        let log_json = match pick(&args.log_format, file.log.format).as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => bail!("unknown log format {other:?} (available: text, json)"),
        };
        let ui_menu_links = ui_menu_links(&args.ui_menu_links, query.ui_menu_links)?;
        let ui_assets = pick(&args.ui_assets, query.ui_assets.clone());
        let ui_config = pick(&args.ui_config, query.ui_config.clone());
        ensure!(
            ui_config.is_none() || ui_assets.is_some(),
            "ui_config (--ui-config) configures a Jaeger UI build: set ui_assets (--ui-assets) too"
        );
        let net = network_config(args, file.network, file.security)?;
        let ingest = file.ingest;
        let positive = |flag: &Option<usize>, file: Option<usize>, default: usize, what: &str| {
            let v = pick(flag, file).unwrap_or(default);
            ensure!(v > 0, "{what} must be greater than 0");
            Ok::<usize, anyhow::Error>(v)
        };
        Ok(Config {
            listeners,
            sampling,
            udp_queue_size: positive(
                &args.udp_queue_size,
                ingest.udp_queue_size,
                1000,
                "udp_queue_size",
            )?,
            udp_workers: positive(&args.udp_workers, ingest.udp_workers, 4, "udp_workers")?,
            udp_max_packet_bytes: positive(
                &args.udp_max_packet_bytes,
                ingest.udp_max_packet_bytes,
                65_000,
                "udp_max_packet_bytes",
            )?,
            storage,
            max_request_bytes: positive(
                &args.max_request_bytes,
                ingest.max_request_bytes,
                16 << 20,
                "max_request_bytes",
            )?,
            max_decompressed_bytes: positive(
                &args.max_decompressed_bytes,
                ingest.max_decompressed_bytes,
                64 << 20,
                "max_decompressed_bytes",
            )?,
            max_bytes_in_flight: positive(
                &args.max_bytes_in_flight,
                ingest.max_bytes_in_flight,
                256 << 20,
                "max_bytes_in_flight",
            )?,
            max_spans_per_request: pick(&args.max_spans_per_request, ingest.max_spans_per_request)
                .unwrap_or(spoor_server::DEFAULT_MAX_SPANS_PER_REQUEST),
            base_path: pick(&args.base_path, query.base_path).unwrap_or_else(|| "/".into()),
            ui_menu_links,
            max_clock_skew_adjust_nanos: skew_nanos as u64,
            max_trace_size: pick(&args.max_trace_size, query.max_trace_size).unwrap_or(0),
            query_max_limit: pick(&args.query_max_limit, query.query_max_limit)
                .unwrap_or(spoor_server::DEFAULT_QUERY_MAX_LIMIT),
            query_max_concurrent: pick(&args.query_max_concurrent, query.query_max_concurrent)
                .unwrap_or(8),
            query_queue_timeout_nanos: queue_timeout_nanos as u64,
            log: pick(&args.log, file.log.level).unwrap_or_else(|| "info".into()),
            log_json,
            net,
            cluster,
            ui_assets,
            ui_config,
        })
    }
}

/// The flag's value, else the file's.
pub fn pick<T: Clone>(flag: &Option<T>, file: Option<T>) -> Option<T> {
    flag.clone().or(file)
}

/// A Go duration (`10s`, `1h30m`) in nanoseconds; "invalid WHAT" when it does not parse.
pub fn go_nanos(text: &str, what: &str) -> Result<i64> {
    spoor_model::parse_go_duration(text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("invalid {what}"))
}

/// Every listener's address: its flag, else its file key, else its default
/// port on `host`; `off` turns it off.
fn listener_addrs<R: RoleListeners>(
    host: &str,
    flags: &ListenerArgs<R>,
    file: &FileListeners,
) -> Result<ListenerAddrs> {
    for spec in spoor_server::listeners::LISTENERS {
        if file.0[spec.listener].is_some()
            && !R::role()
                .listeners
                .iter()
                .any(|r| r.listener == spec.listener)
        {
            bail!(
                "listeners.{} in the config file: this role has no {} listener",
                spec.key,
                spec.text
            );
        }
    }
    resolve_listeners(R::role(), host, |l| pick(&flags.0[l], file.0[l].clone()))
}

/// A role whose settings are [`RunArgs`] (all-in-one and the distributed roles).
pub trait RunRole: RoleListeners + Clone + Default + std::fmt::Debug + Send + Sync {}
impl<R: RoleListeners + Clone + Default + std::fmt::Debug + Send + Sync> RunRole for R {}

fn sampling_settings<R: RunRole>(
    args: &RunArgs<R>,
    file: FileSampling,
) -> Result<SamplingSettings> {
    let reload = pick(&args.sampling_reload_interval, file.reload_interval);
    let reload_nanos = go_nanos(
        reload.as_deref().unwrap_or("1s"),
        "sampling reload interval",
    )?;
    ensure!(
        reload_nanos > 0,
        "the sampling reload interval must be positive"
    );
    let default_probability =
        pick(&args.sampling_default_probability, file.default_probability).unwrap_or(1.0);
    ensure!(
        (0.0..=1.0).contains(&default_probability),
        "the default sampling probability must be between 0 and 1"
    );
    Ok(SamplingSettings {
        strategies: pick(&args.sampling_strategies, file.strategies)
            .filter(|s| !s.trim().is_empty()),
        default_probability,
        reload_interval_nanos: reload_nanos as u64,
    })
}

fn storage<R: RunRole>(args: &RunArgs<R>, file: FileStorage) -> Result<Storage> {
    match pick(&args.storage, file.backend).as_deref() {
        None | Some("engine") => {
            let retention = pick(&args.retention, file.retention);
            let nanos = go_nanos(retention.as_deref().unwrap_or("168h"), "retention")?;
            ensure!(nanos >= 0, "retention must not be negative");
            let cut_age_nanos = match pick(&args.block_cut_age, file.block_cut_age) {
                None => None,
                Some(age) => {
                    let n = go_nanos(&age, "block cut age")?;
                    ensure!(n > 0, "the block cut age must be positive");
                    Some(n as u64)
                }
            };
            let cut_bytes = pick(&args.block_cut_bytes, file.block_cut_bytes);
            ensure!(
                cut_bytes != Some(0),
                "block_cut_bytes must be greater than 0"
            );
            let blocks_url = pick(&args.blocks_url, file.blocks_url).filter(|u| !u.is_empty());
            if let Some(url) = &blocks_url {
                // Checked now, so a wrong URL is a config error at start.
                spoor_engine::BlockStorage::from_url(url)?;
            }
            // A remote store answers each read with a request: cache by default.
            let remote = blocks_url
                .as_deref()
                .is_some_and(|u| !u.starts_with("file://"));
            let read_cache_bytes = pick(&args.read_cache_bytes, file.read_cache_bytes)
                .unwrap_or(if remote { 128 << 20 } else { 0 });
            let read_cache_dir = pick(&args.read_cache_dir, file.read_cache_dir);
            let read_cache_disk_bytes =
                pick(&args.read_cache_disk_bytes, file.read_cache_disk_bytes).unwrap_or(1 << 30);
            let backlog_max_bytes = pick(&args.backlog_max_bytes, file.backlog_max_bytes)
                .unwrap_or(spoor_engine::DEFAULT_BACKLOG_MAX_BYTES);
            ensure!(
                backlog_max_bytes > 0,
                "backlog_max_bytes must be greater than 0"
            );
            Ok(Storage::Engine {
                data_dir: pick(&args.data_dir, file.data_dir)
                    .unwrap_or_else(|| PathBuf::from("spoor-data")),
                blocks_url,
                retention_nanos: (nanos > 0).then_some(nanos as u64),
                cut_bytes,
                cut_age_nanos,
                read_cache_bytes,
                read_cache_dir,
                read_cache_disk_bytes,
                backlog_max_bytes,
            })
        }
        Some("memory") => {
            let max_traces = pick(&args.max_traces, file.max_traces).unwrap_or(100_000);
            ensure!(max_traces > 0, "storage.max_traces must be at least 1");
            Ok(Storage::Memory { max_traces })
        }
        Some(other) => bail!("unknown storage backend {other:?} (available: engine, memory)"),
    }
}

/// The web UI's extra menu links: the flags' `LABEL=URL`s replace the file's list.
fn ui_menu_links(
    flags: &[String],
    file: Option<Vec<FileMenuLink>>,
) -> Result<Vec<spoor_server::ui::MenuLink>> {
    let links = if flags.is_empty() {
        file.unwrap_or_default()
            .iter()
            .map(|l| spoor_server::ui::MenuLink::new(&l.label, &l.url))
            .collect::<Result<Vec<_>, _>>()
    } else {
        flags
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| spoor_server::ui::MenuLink::parse(s))
            .collect::<Result<Vec<_>, _>>()
    }
    .context("invalid UI menu link")?;
    ensure!(
        links.len() <= spoor_server::ui::MAX_MENU_LINKS,
        "at most {} UI menu links are accepted",
        spoor_server::ui::MAX_MENU_LINKS
    );
    Ok(links)
}

/// The `network` settings from flags over the file over defaults.
fn network_config<R: RunRole>(
    args: &RunArgs<R>,
    file: FileNetwork,
    security: spoor_server::security::SecurityConfig,
) -> Result<spoor_server::net::NetConfig> {
    let defaults = spoor_server::net::NetConfig::default();
    let duration = |flag: &Option<String>,
                    file: Option<String>,
                    default: std::time::Duration,
                    what: &str|
     -> Result<std::time::Duration> {
        let Some(text) = pick(flag, file) else {
            return Ok(default);
        };
        let nanos = go_nanos(&text, what)?;
        ensure!(nanos > 0, "{what} must be positive");
        Ok(std::time::Duration::from_nanos(nanos as u64))
    };
    let list = |flag: &[String], file: Option<Vec<String>>| -> Vec<String> {
        let items = if flag.is_empty() {
            file.unwrap_or_default()
        } else {
            flag.to_vec()
        };
        items
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let max_connections =
        pick(&args.max_connections, file.max_connections).unwrap_or(defaults.max_connections);
    ensure!(
        max_connections > 0,
        "max_connections must be greater than 0"
    );
    let origins = |v: Vec<String>, what: &str| -> Result<Vec<String>> {
        for o in &v {
            if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                bail!("{what}: {o:?} is not an origin such as https://app.example.com (or `*`)");
            }
        }
        Ok(v)
    };
    Ok(spoor_server::net::NetConfig {
        header_timeout: duration(
            &args.header_timeout,
            file.header_timeout,
            defaults.header_timeout,
            "header timeout",
        )?,
        body_timeout: duration(
            &args.body_timeout,
            file.body_timeout,
            defaults.body_timeout,
            "body timeout",
        )?,
        idle_timeout: duration(
            &args.idle_timeout,
            file.idle_timeout,
            defaults.idle_timeout,
            "idle timeout",
        )?,
        max_connections,
        max_connections_total: None,
        allowed_hosts: list(&args.allowed_hosts, file.allowed_hosts),
        cors_allowed_origins: origins(
            list(&args.cors_allowed_origins, file.cors_allowed_origins),
            "cors_allowed_origins",
        )?,
        receiver_allowed_origins: origins(
            list(
                &args.receiver_allowed_origins,
                file.receiver_allowed_origins,
            ),
            "receiver_allowed_origins",
        )?,
        security: security_config(args, security)?,
    })
}

/// The `security` settings: flags over the file (docs/security.md).
fn security_config<R: RunRole>(
    args: &RunArgs<R>,
    file: spoor_server::security::SecurityConfig,
) -> Result<spoor_server::security::SecurityConfig> {
    let mut security = file;
    security.tls = tls_config(args, security.tls.take())?;
    security.tenancy = tenancy_config(args, security.tenancy.take())?;
    auth_config(args, &mut security.auth)?;
    Ok(security)
}

/// `security.auth` with `--auth-tokens-file` and `--auth-htpasswd-file`
/// over it (both for the ingest and query groups); the files are read once
/// here so that a mistake stops the start with a clear message.
fn auth_config<R: RunRole>(
    args: &RunArgs<R>,
    auth: &mut spoor_server::auth::AuthSettings,
) -> Result<()> {
    use spoor_server::security::Group;
    for group in [Group::Ingest, Group::Query] {
        if let Some(f) = &args.auth_tokens_file {
            auth.group_mut(group).tokens_file = Some(f.clone());
        }
        if let Some(f) = &args.auth_htpasswd_file {
            auth.group_mut(group).htpasswd_file = Some(f.clone());
        }
    }
    spoor_server::auth::Auth::load(auth)
        .context("security.auth (--auth-tokens-file, --auth-htpasswd-file)")?;
    Ok(())
}

/// `security.tenancy` with `--tenants` and `--tenancy-header` over it,
/// checked (allow-list required, names safe as path segments).
fn tenancy_config<R: RunRole>(
    args: &RunArgs<R>,
    file: Option<spoor_server::tenancy::TenancySettings>,
) -> Result<Option<spoor_server::tenancy::TenancySettings>> {
    if file.is_none() && args.tenants.is_empty() && args.tenancy_header.is_none() {
        return Ok(None);
    }
    let mut tenancy = file.unwrap_or_default();
    if !args.tenants.is_empty() {
        tenancy.tenants = args.tenants.iter().map(|t| t.trim().to_owned()).collect();
    }
    if let Some(h) = &args.tenancy_header {
        tenancy.header = h.clone();
    }
    tenancy
        .validate()
        .context("security.tenancy (--tenants, --tenancy-header)")?;
    Ok(Some(tenancy))
}

/// `security.tls` with the `--tls-*` flags over it; the files are read once
/// here so that a missing or mismatched file stops the start with a clear
/// message.
fn tls_config<R: RunRole>(
    args: &RunArgs<R>,
    file: Option<spoor_server::net::tls::TlsSettings>,
) -> Result<Option<spoor_server::net::tls::TlsSettings>> {
    let any_flag = args.tls_cert_file.is_some()
        || args.tls_key_file.is_some()
        || args.tls_client_ca_file.is_some()
        || args.tls_client_auth.is_some()
        || args.tls_min_version.is_some();
    if file.is_none() && !any_flag {
        return Ok(None);
    }
    let mut tls = file.unwrap_or_default();
    if let Some(f) = &args.tls_cert_file {
        tls.cert_file = f.clone();
    }
    if let Some(f) = &args.tls_key_file {
        tls.key_file = f.clone();
    }
    if let Some(f) = &args.tls_client_ca_file {
        tls.client_ca_file = Some(f.clone());
    }
    if let Some(mode) = &args.tls_client_auth {
        tls.client_auth = Some(
            mode.parse()
                .map_err(|e: String| anyhow::anyhow!("--tls-client-auth: {e}"))?,
        );
    }
    if let Some(v) = &args.tls_min_version {
        tls.min_version = v
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--tls-min-version: {e}"))?;
    }
    spoor_server::net::tls::TlsServer::new(&tls)?;
    Ok(Some(tls))
}

/// Parses YAML and checks the version.
pub fn parse_file(text: &str) -> Result<FileConfig> {
    let file: FileConfig = serde_yaml_ng::from_str(text)?;
    if file.version != CONFIG_VERSION {
        bail!(
            "config version {} is not supported (this Spoor reads version {CONFIG_VERSION})",
            file.version
        );
    }
    Ok(file)
}

/// `PORT`, `:PORT`, `HOST:PORT` or `[V6]:PORT`; a missing host means `host`.
pub fn resolve_addr(host: &str, spec: Option<&str>, default_port: u16) -> Result<SocketAddr> {
    let host_ip = |h: &str| -> Result<IpAddr> {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        if h == "localhost" {
            return Ok(IpAddr::from([127, 0, 0, 1]));
        }
        h.parse::<IpAddr>()
            .with_context(|| format!("{h:?} is not an IP address"))
    };
    let Some(spec) = spec.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(SocketAddr::new(host_ip(host)?, default_port));
    };
    if let Ok(port) = spec.trim_start_matches(':').parse::<u16>()
        && !spec[1..].contains(':')
    {
        return Ok(SocketAddr::new(host_ip(host)?, port));
    }
    let (h, p) = spec
        .rsplit_once(':')
        .with_context(|| format!("{spec:?} is not PORT, :PORT or HOST:PORT"))?;
    let port: u16 = p
        .parse()
        .with_context(|| format!("{p:?} is not a port number"))?;
    let ip = if h.is_empty() {
        host_ip(host)?
    } else {
        host_ip(h)?
    };
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use spoor_server::Listener;

    /// A file of the repository, read from the source tree.
    fn repo_file(path: &str) -> String {
        let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
    }

    /// The part of `docs` from the line `heading` to the next `## ` heading.
    fn section<'a>(docs: &'a str, heading: &str) -> &'a str {
        let start = docs
            .find(&format!("\n{heading}\n"))
            .unwrap_or_else(|| panic!("docs/configuration.md has no {heading:?} section"));
        let rest = &docs[start + 1..];
        let end = rest[heading.len()..]
            .find("\n## ")
            .map_or(rest.len(), |i| i + heading.len());
        &rest[..end]
    }

    #[test]
    fn the_docs_list_every_listener() {
        let docs = repo_file("docs/configuration.md");
        for (heading, table) in [
            ("## Listeners", listeners_markdown::<AllInOne>()),
            (
                "## spoor agent",
                listeners_markdown::<crate::roles::agent::AgentRole>(),
            ),
            ("## spoor collector", listeners_markdown::<CollectorRole>()),
            ("## spoor query", listeners_markdown::<QueryRole>()),
            ("## spoor compactor", listeners_markdown::<CompactorRole>()),
        ] {
            assert!(
                section(&docs, heading).contains(&table),
                "docs/configuration.md must contain the listener table generated from \
                 spoor_server::roles; paste this under {heading:?}:\n\n{table}"
            );
        }
        for row in ALL_IN_ONE.listeners {
            let spec = row.spec();
            if spec.transport == Transport::Tcp {
                assert!(
                    docs.contains(&format!("`{}`", spec.name)),
                    "docs/configuration.md does not name the `listener` label {}",
                    spec.name
                );
            }
        }
        // README's "| port | what |" table names every default port in a first cell.
        let readme = repo_file("README.md");
        let first_cells: Vec<&str> = readme
            .lines()
            .skip_while(|l| !l.starts_with("| port |"))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.split('|').nth(1))
            .collect();
        assert!(!first_cells.is_empty(), "README.md has no `| port |` table");
        let roles = [
            &ALL_IN_ONE,
            &spoor_server::roles::COLLECTOR,
            &spoor_server::roles::QUERY,
            &spoor_server::roles::COMPACTOR,
        ];
        for row in roles.iter().flat_map(|r| r.listeners.iter()) {
            let port = row.port.to_string();
            assert!(
                first_cells
                    .iter()
                    .any(|c| c.split(|ch: char| !ch.is_ascii_digit()).any(|p| p == port)),
                "README.md's port table misses {port} ({})",
                row.spec().key
            );
        }
    }

    #[test]
    fn every_listener_has_its_flag_and_variable() {
        use clap::{CommandFactory, Parser};
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            run: RunArgs,
        }
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "spoor",
            "--zipkin-addr",
            "off",
            "--otlp-grpc-addr",
            ":1234",
            "--sampling-grpc-addr=127.0.0.2:5",
        ])
        .unwrap();
        let l = &cli.run.listeners.0;
        assert_eq!(l[Listener::Zipkin].as_deref(), Some("off"));
        assert_eq!(l[Listener::OtlpGrpc].as_deref(), Some(":1234"));
        assert_eq!(l[Listener::SamplingGrpc].as_deref(), Some("127.0.0.2:5"));
        assert_eq!(l[Listener::QueryHttp], None);
        let flags: Vec<String> = ALL_IN_ONE
            .listeners
            .iter()
            .map(|row| listener_flag(row.spec()))
            .collect();
        assert!(flags.contains(&"zipkin-addr".to_string()));
        assert!(flags.contains(&"admin-http-addr".to_string()));
        assert_eq!(
            listener_env(Listener::JaegerCompact.spec()),
            "SPOOR_JAEGER_COMPACT_ADDR"
        );
        let help = Cli::command().render_long_help().to_string();
        for row in ALL_IN_ONE.listeners {
            let spec = row.spec();
            assert!(
                help.contains(&format!("--{}", listener_flag(spec))),
                "{help}"
            );
            assert!(help.contains(&listener_env(spec)), "{help}");
        }
    }

    #[test]
    fn listener_keys_in_the_file_are_checked() {
        let file =
            parse_file("version: 1\nlisteners:\n  zipkin: 19411\n  sampling_http: ':1'\n").unwrap();
        assert_eq!(file.listeners.0[Listener::Zipkin].as_deref(), Some("19411"));
        assert_eq!(
            file.listeners.0[Listener::SamplingHttp].as_deref(),
            Some(":1")
        );
        let err = parse_file("version: 1\nlisteners:\n  zipkin_http: 1\n").unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("unknown field `zipkin_http`"), "{err}");
        assert!(err.contains("expected one of `otlp_grpc`"), "{err}");
        let err = Config::merge(
            &RunArgs::default(),
            parse_file("version: 1\nlisteners:\n  jaeger_compact: x:1\n").unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid Jaeger Thrift compact over UDP address"
        );
    }

    #[test]
    fn addresses_take_the_shared_host() {
        assert_eq!(
            resolve_addr("127.0.0.1", None, 4317).unwrap(),
            "127.0.0.1:4317".parse().unwrap()
        );
        assert_eq!(
            resolve_addr("0.0.0.0", Some(":9999"), 4317).unwrap(),
            "0.0.0.0:9999".parse().unwrap()
        );
        assert_eq!(
            resolve_addr("0.0.0.0", Some("9999"), 4317).unwrap(),
            "0.0.0.0:9999".parse().unwrap()
        );
        assert_eq!(
            resolve_addr("0.0.0.0", Some("10.1.2.3:80"), 4317).unwrap(),
            "10.1.2.3:80".parse().unwrap()
        );
        assert_eq!(
            resolve_addr("::1", Some("[::1]:80"), 4317).unwrap(),
            "[::1]:80".parse().unwrap()
        );
        assert!(resolve_addr("nope", None, 1).is_err());
        assert!(resolve_addr("127.0.0.1", Some("1.2.3.4:x"), 1).is_err());
    }

    #[test]
    fn host_moves_every_listener() {
        let args = RunArgs {
            host: Some("0.0.0.0".into()),
            ..RunArgs::default()
        };
        let c = Config::merge(&args, FileConfig::default_v1()).unwrap();
        let l = &c.listeners;
        for (spec, a) in l.iter() {
            if spec.listener == Listener::ClusterGrpc {
                // Not an all-in-one listener (the distributed roles' API).
                assert_eq!(*a, None);
                continue;
            }
            assert_eq!(
                a.map(|a| a.ip().to_string()).as_deref(),
                Some("0.0.0.0"),
                "{}",
                spec.key
            );
            assert_eq!(a.map(|a| a.port()), Some(spec.port));
        }
        assert_eq!(l[Listener::OtlpGrpc].map(|a| a.port()), Some(4317));
        assert_eq!(l[Listener::JaegerCompact].map(|a| a.port()), Some(6831));
        assert_eq!(l[Listener::AdminHttp].map(|a| a.port()), Some(13133));
        assert_eq!(c.sampling.default_probability, 1.0);
    }

    #[test]
    fn memory_and_query_limits_have_defaults_and_flags() {
        let c = Config::merge(&RunArgs::default(), FileConfig::default_v1()).unwrap();
        assert_eq!(c.max_spans_per_request, 100_000);
        assert_eq!(c.query_max_limit, 1500);
        assert_eq!(c.query_max_concurrent, 8);
        assert_eq!(c.query_queue_timeout_nanos, 10_000_000_000);
        let args = RunArgs {
            max_spans_per_request: Some(10),
            query_max_limit: Some(0),
            query_max_concurrent: Some(2),
            query_queue_timeout: Some("250ms".into()),
            ..RunArgs::default()
        };
        let c = Config::merge(&args, FileConfig::default_v1()).unwrap();
        assert_eq!(
            (
                c.max_spans_per_request,
                c.query_max_limit,
                c.query_max_concurrent
            ),
            (10, 0, 2)
        );
        assert_eq!(c.query_queue_timeout_nanos, 250_000_000);
        let bad = RunArgs {
            query_queue_timeout: Some("-1s".into()),
            ..RunArgs::default()
        };
        assert!(Config::merge(&bad, FileConfig::default_v1()).is_err());
    }

    #[test]
    fn the_engine_is_the_default_storage() {
        let c = Config::merge(&RunArgs::default(), FileConfig::default_v1()).unwrap();
        assert_eq!(
            c.storage,
            Storage::Engine {
                data_dir: PathBuf::from("spoor-data"),
                blocks_url: None,
                retention_nanos: Some(168 * 3_600_000_000_000),
                cut_bytes: None,
                cut_age_nanos: None,
                read_cache_bytes: 0,
                read_cache_dir: None,
                read_cache_disk_bytes: 1 << 30,
                backlog_max_bytes: spoor_engine::DEFAULT_BACKLOG_MAX_BYTES,
            }
        );
        let file = parse_file("version: 1\nstorage:\n  data_dir: /var/lib/spoor\n  retention: 0\n")
            .unwrap();
        let c = Config::merge(&RunArgs::default(), file).unwrap();
        assert_eq!(
            c.storage,
            Storage::Engine {
                data_dir: PathBuf::from("/var/lib/spoor"),
                blocks_url: None,
                retention_nanos: None,
                cut_bytes: None,
                cut_age_nanos: None,
                read_cache_bytes: 0,
                read_cache_dir: None,
                read_cache_disk_bytes: 1 << 30,
                backlog_max_bytes: spoor_engine::DEFAULT_BACKLOG_MAX_BYTES,
            }
        );
    }

    #[test]
    fn blocks_url_comes_from_the_flag_or_the_file_and_is_checked_at_start() {
        let url_of = |c: &Config| match &c.storage {
            Storage::Engine { blocks_url, .. } => blocks_url.clone(),
            Storage::Memory { .. } => panic!("not the engine"),
        };
        let yaml = "version: 1\nstorage:\n  blocks_url: s3://spoor/blocks?endpoint=http://127.0.0.1:8333&allow_http=true\n";
        let c = Config::merge(&RunArgs::default(), parse_file(yaml).unwrap()).unwrap();
        assert_eq!(
            url_of(&c).as_deref(),
            Some("s3://spoor/blocks?endpoint=http://127.0.0.1:8333&allow_http=true")
        );
        let flag = RunArgs {
            blocks_url: Some("file:///var/lib/spoor-blocks".into()),
            ..RunArgs::default()
        };
        let c = Config::merge(&flag, parse_file(yaml).unwrap()).unwrap();
        assert_eq!(url_of(&c).as_deref(), Some("file:///var/lib/spoor-blocks"));
        for bad in [
            "blocks",
            "file://relative/path",
            "ftp://host/x",
            "s3:///prefix",
            "s3://Bad_Bucket/x",
            "s3://spoor/x?secret_access_key=abc",
        ] {
            let args = RunArgs {
                blocks_url: Some(bad.into()),
                ..RunArgs::default()
            };
            let err = Config::merge(&args, FileConfig::default_v1()).unwrap_err();
            assert!(format!("{err:#}").contains("blocks URL"), "{bad}: {err:#}");
        }
    }

    #[test]
    fn the_backlog_budget_comes_from_the_flag_or_the_file_and_is_positive() {
        let budget_of = |c: &Config| match &c.storage {
            Storage::Engine {
                backlog_max_bytes, ..
            } => *backlog_max_bytes,
            Storage::Memory { .. } => panic!("not the engine"),
        };
        let yaml = "version: 1\nstorage:\n  backlog_max_bytes: 1073741824\n";
        let c = Config::merge(&RunArgs::default(), parse_file(yaml).unwrap()).unwrap();
        assert_eq!(budget_of(&c), 1 << 30);
        let flag = RunArgs {
            backlog_max_bytes: Some(8 << 20),
            ..RunArgs::default()
        };
        let c = Config::merge(&flag, parse_file(yaml).unwrap()).unwrap();
        assert_eq!(budget_of(&c), 8 << 20);
        let zero = RunArgs {
            backlog_max_bytes: Some(0),
            ..RunArgs::default()
        };
        let err = Config::merge(&zero, FileConfig::default_v1()).unwrap_err();
        assert!(format!("{err:#}").contains("backlog_max_bytes"), "{err:#}");
    }

    #[test]
    fn the_disk_read_cache_is_off_unless_a_folder_is_given() {
        let disk_of = |c: &Config| match &c.storage {
            Storage::Engine {
                read_cache_dir,
                read_cache_disk_bytes,
                ..
            } => (read_cache_dir.clone(), *read_cache_disk_bytes),
            Storage::Memory { .. } => panic!("not the engine"),
        };
        let c = Config::merge(&RunArgs::default(), FileConfig::default_v1()).unwrap();
        assert_eq!(disk_of(&c), (None, 1 << 30));
        let yaml =
            "version: 1\nstorage:\n  read_cache_dir: /cache\n  read_cache_disk_bytes: 4096\n";
        let c = Config::merge(&RunArgs::default(), parse_file(yaml).unwrap()).unwrap();
        assert_eq!(disk_of(&c), (Some(PathBuf::from("/cache")), 4096));
        let flag = RunArgs {
            read_cache_dir: Some(PathBuf::from("/other")),
            read_cache_disk_bytes: Some(8 << 20),
            ..RunArgs::default()
        };
        let c = Config::merge(&flag, parse_file(yaml).unwrap()).unwrap();
        assert_eq!(disk_of(&c), (Some(PathBuf::from("/other")), 8 << 20));
    }

    #[test]
    fn ui_menu_links_come_from_flags_or_the_file() {
        let file = || {
            parse_file(
                "version: 1\nquery:\n  ui_menu_links:\n    - label: Runbook\n      url: https://wiki.test/run\n",
            )
            .unwrap()
        };
        let c = Config::merge(&RunArgs::default(), file()).unwrap();
        assert_eq!(c.ui_menu_links.len(), 1);
        assert_eq!(c.ui_menu_links[0].label, "Runbook");
        // Flags replace the file's list.
        let args = RunArgs {
            ui_menu_links: vec![
                "Grafana=https://grafana.test/d?x=1".into(),
                "Logs=/logs/".into(),
            ],
            ..RunArgs::default()
        };
        let c = Config::merge(&args, file()).unwrap();
        let labels: Vec<&str> = c.ui_menu_links.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["Grafana", "Logs"]);
        assert_eq!(c.ui_menu_links[0].url, "https://grafana.test/d?x=1");
        let bad = RunArgs {
            ui_menu_links: vec!["x=javascript:alert(1)".into()],
            ..RunArgs::default()
        };
        assert!(Config::merge(&bad, FileConfig::default_v1()).is_err());
        let c = Config::merge(&RunArgs::default(), FileConfig::default_v1()).unwrap();
        assert!(c.ui_menu_links.is_empty());
    }

    #[test]
    fn a_listener_can_be_turned_off() {
        let mut args = RunArgs::default();
        args.listeners.0[Listener::Zipkin] = Some("off".into());
        let file = parse_file("version: 1\nlisteners:\n  jaeger_grpc: off\n").unwrap();
        let c = Config::merge(&args, file).unwrap();
        assert!(c.listeners[Listener::Zipkin].is_none());
        assert!(c.listeners[Listener::JaegerGrpc].is_none());
        assert!(c.listeners[Listener::OtlpGrpc].is_some());
    }

    #[test]
    fn file_is_versioned_strict_and_overridden_by_flags() {
        let yaml = "version: 1\nhost: 0.0.0.0\nstorage:\n  max_traces: 5\nquery:\n  max_clock_skew_adjust: 1s\n";
        let file = parse_file(yaml).unwrap();
        let args = RunArgs {
            storage: Some("memory".into()),
            max_traces: Some(7),
            ..RunArgs::default()
        };
        let c = Config::merge(&args, file).unwrap();
        assert_eq!(c.storage, Storage::Memory { max_traces: 7 });
        assert_eq!(c.max_clock_skew_adjust_nanos, 1_000_000_000);
        assert_eq!(
            c.listeners[Listener::QueryHttp]
                .map(|a| a.ip().to_string())
                .as_deref(),
            Some("0.0.0.0")
        );

        let err = parse_file("version: 1\nstorage:\n  max_trace: 5\n").unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
        let err = parse_file("version: 2\n").unwrap_err();
        assert!(err.to_string().contains("version 2"));
        assert!(parse_file("host: x\n").is_err(), "version is required");
    }

    #[test]
    fn network_settings_come_from_flags_or_the_file() {
        let c = Config::merge(&RunArgs::default(), FileConfig::default_v1()).unwrap();
        assert_eq!(c.net.header_timeout, std::time::Duration::from_secs(10));
        assert_eq!(c.net.max_connections, 4096);
        assert!(c.net.allowed_hosts.is_empty());
        let file = parse_file(
            "version: 1\nnetwork:\n  header_timeout: 3s\n  idle_timeout: 2m\n  max_connections: 50\n  allowed_hosts: [spoor.internal]\n  cors_allowed_origins: ['https://grafana.test']\n",
        )
        .unwrap();
        let args = RunArgs {
            body_timeout: Some("5s".into()),
            allowed_hosts: vec!["a.test".into(), "b.test".into()],
            ..RunArgs::default()
        };
        let c = Config::merge(&args, file).unwrap();
        assert_eq!(c.net.header_timeout, std::time::Duration::from_secs(3));
        assert_eq!(c.net.body_timeout, std::time::Duration::from_secs(5));
        assert_eq!(c.net.idle_timeout, std::time::Duration::from_secs(120));
        assert_eq!(c.net.max_connections, 50);
        assert_eq!(c.net.allowed_hosts, ["a.test", "b.test"]);
        assert_eq!(c.net.cors_allowed_origins, ["https://grafana.test"]);
        for bad in [
            RunArgs {
                header_timeout: Some("0s".into()),
                ..RunArgs::default()
            },
            RunArgs {
                max_connections: Some(0),
                ..RunArgs::default()
            },
            RunArgs {
                cors_allowed_origins: vec!["grafana.test".into()],
                ..RunArgs::default()
            },
        ] {
            assert!(Config::merge(&bad, FileConfig::default_v1()).is_err());
        }
    }

    #[test]
    fn bad_values_are_rejected() {
        let bad = [
            RunArgs {
                storage: Some("memory".into()),
                max_traces: Some(0),
                ..RunArgs::default()
            },
            RunArgs {
                retention: Some("-1h".into()),
                ..RunArgs::default()
            },
            RunArgs {
                max_clock_skew_adjust: Some("soon".into()),
                ..RunArgs::default()
            },
            RunArgs {
                max_request_bytes: Some(0),
                ..RunArgs::default()
            },
        ];
        for args in bad {
            assert!(Config::merge(&args, FileConfig::default_v1()).is_err());
        }
    }

    #[test]
    fn tls_flags_merge_over_the_file_and_are_checked_at_start() {
        // No TLS by default.
        let c = Config::merge(&RunArgs::default(), parse_file("version: 1\n").unwrap()).unwrap();
        assert!(c.net.security.tls.is_none());
        // The file's settings, checked: a missing file is named.
        let yaml = "version: 1\nsecurity:\n  tls:\n    cert_file: /nonexistent/c.pem\n    key_file: /nonexistent/k.pem\n    min_version: 1.3\n    reload_interval: 2s\n";
        let err = Config::merge(&RunArgs::default(), parse_file(yaml).unwrap()).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot read certificate file /nonexistent/c.pem"),
            "{err:#}"
        );
        // Flags win over the file.
        let flag = RunArgs {
            tls_cert_file: Some("/nonexistent/flag.pem".into()),
            ..RunArgs::default()
        };
        let err = Config::merge(&flag, parse_file(yaml).unwrap()).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/flag.pem"),
            "{err:#}"
        );
        // A flag alone turns TLS on (and needs both files).
        let err = Config::merge(&flag, parse_file("version: 1\n").unwrap()).unwrap_err();
        assert!(format!("{err:#}").contains("key file"), "{err:#}");
        for (args, what) in [
            (
                RunArgs {
                    tls_client_auth: Some("sometimes".into()),
                    ..RunArgs::default()
                },
                "--tls-client-auth",
            ),
            (
                RunArgs {
                    tls_min_version: Some("1.1".into()),
                    ..RunArgs::default()
                },
                "--tls-min-version",
            ),
        ] {
            let err = Config::merge(&args, parse_file("version: 1\n").unwrap()).unwrap_err();
            assert!(format!("{err:#}").contains(what), "{err:#}");
        }
        let err = parse_file("version: 1\nsecurity:\n  tls:\n    min_version: 1.1\n").unwrap_err();
        assert!(format!("{err:#}").contains("1.1"), "{err:#}");
    }
}
