//! Configuration: defaults, then a versioned YAML file, then `SPOOR_*`
//! environment variables, then command-line flags (later wins).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;

/// The config file format version this binary reads.
pub const CONFIG_VERSION: u32 = 1;

pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_OTLP_GRPC_PORT: u16 = 4317;
pub const DEFAULT_OTLP_HTTP_PORT: u16 = 4318;
pub const DEFAULT_QUERY_HTTP_PORT: u16 = 16686;
pub const DEFAULT_ADMIN_HTTP_PORT: u16 = 13133;

/// Settings for running Spoor (all-in-one). Every flag can also be set by
/// its `SPOOR_…` environment variable or in the YAML config file.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// YAML config file (see docs/configuration.md); flags and environment override it
    #[arg(long, short = 'c', env = "SPOOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Host every listener binds to, unless its own address names a host [default: 127.0.0.1]
    #[arg(long, env = "SPOOR_HOST", value_name = "HOST")]
    pub host: Option<String>,

    /// OTLP gRPC listener, `PORT`, `:PORT` or `HOST:PORT` [default: 4317]
    #[arg(long, env = "SPOOR_OTLP_GRPC_ADDR", value_name = "ADDR")]
    pub otlp_grpc_addr: Option<String>,

    /// OTLP HTTP listener (`POST /v1/traces`) [default: 4318]
    #[arg(long, env = "SPOOR_OTLP_HTTP_ADDR", value_name = "ADDR")]
    pub otlp_http_addr: Option<String>,

    /// Query HTTP listener: web UI, `/api/*`, `/api/v3/*` [default: 16686]
    #[arg(long, env = "SPOOR_QUERY_HTTP_ADDR", value_name = "ADDR")]
    pub query_http_addr: Option<String>,

    /// Admin HTTP listener: health `GET /status` and Prometheus `GET /metrics` [default: 13133]
    #[arg(long, env = "SPOOR_ADMIN_HTTP_ADDR", value_name = "ADDR")]
    pub admin_http_addr: Option<String>,

    /// Storage backend [default: memory]
    #[arg(long, env = "SPOOR_STORAGE", value_name = "BACKEND", value_parser = ["memory"])]
    pub storage: Option<String>,

    /// Memory backend: most traces kept; the oldest is evicted first [default: 100000]
    #[arg(long, env = "SPOOR_MAX_TRACES", value_name = "N")]
    pub max_traces: Option<usize>,

    /// Largest request body (HTTP) or message (gRPC) accepted, in bytes [default: 16777216]
    #[arg(long, env = "SPOOR_MAX_REQUEST_BYTES", value_name = "BYTES")]
    pub max_request_bytes: Option<usize>,

    /// Largest request body after decompression, in bytes [default: 67108864]
    #[arg(long, env = "SPOOR_MAX_DECOMPRESSED_BYTES", value_name = "BYTES")]
    pub max_decompressed_bytes: Option<usize>,

    /// Bytes of requests being ingested at once; beyond it senders are told to retry [default: 268435456]
    #[arg(long, env = "SPOOR_MAX_BYTES_IN_FLIGHT", value_name = "BYTES")]
    pub max_bytes_in_flight: Option<usize>,

    /// URL prefix of the query server and UI, e.g. `/jaeger` [default: /]
    #[arg(long, env = "SPOOR_BASE_PATH", value_name = "PATH")]
    pub base_path: Option<String>,

    /// Largest clock-skew correction applied at query time, a Go duration such as `500ms`; 0 disables it [default: 0]
    #[arg(long, env = "SPOOR_MAX_CLOCK_SKEW_ADJUST", value_name = "DURATION")]
    pub max_clock_skew_adjust: Option<String>,

    /// Most spans returned per trace by the query APIs; 0 = unlimited [default: 0]
    #[arg(long, env = "SPOOR_MAX_TRACE_SIZE", value_name = "N")]
    pub max_trace_size: Option<usize>,

    /// Log filter, e.g. `info` or `spoor=debug,info` [default: info]
    #[arg(long, env = "SPOOR_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Log format [default: text]
    #[arg(long, env = "SPOOR_LOG_FORMAT", value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
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
    pub log: FileLog,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileListeners {
    pub otlp_grpc: Option<String>,
    pub otlp_http: Option<String>,
    pub query_http: Option<String>,
    pub admin_http: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStorage {
    pub backend: Option<String>,
    pub max_traces: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIngest {
    pub max_request_bytes: Option<usize>,
    pub max_decompressed_bytes: Option<usize>,
    pub max_bytes_in_flight: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileQuery {
    pub base_path: Option<String>,
    pub max_clock_skew_adjust: Option<String>,
    pub max_trace_size: Option<usize>,
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

/// Which storage backend to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    Memory { max_traces: usize },
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub otlp_grpc: SocketAddr,
    pub otlp_http: SocketAddr,
    pub query_http: SocketAddr,
    pub admin_http: SocketAddr,
    pub storage: Storage,
    pub max_request_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub max_bytes_in_flight: usize,
    pub base_path: String,
    pub max_clock_skew_adjust_nanos: u64,
    pub max_trace_size: usize,
    pub log: String,
    pub log_json: bool,
}

impl Config {
    /// Merges defaults, the file named by `--config` (if any) and the flags.
    pub fn load(args: &RunArgs) -> Result<Config> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                parse_file(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => FileConfig::default_v1(),
        };
        Config::merge(args, file)
    }

    pub fn merge(args: &RunArgs, file: FileConfig) -> Result<Config> {
        let host = args
            .host
            .clone()
            .or(file.host)
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let addr = |flag: &Option<String>, file: Option<String>, port: u16, what: &str| {
            let spec = flag.clone().or(file);
            resolve_addr(&host, spec.as_deref(), port)
                .with_context(|| format!("invalid {what} address"))
        };
        let storage_name = args
            .storage
            .clone()
            .or(file.storage.backend)
            .unwrap_or_else(|| "memory".into());
        let storage = match storage_name.as_str() {
            "memory" => {
                let max_traces = args
                    .max_traces
                    .or(file.storage.max_traces)
                    .unwrap_or(100_000);
                if max_traces == 0 {
                    bail!("storage.max_traces must be at least 1");
                }
                Storage::Memory { max_traces }
            }
            other => bail!("unknown storage backend {other:?} (available: memory)"),
        };
        let skew = args
            .max_clock_skew_adjust
            .clone()
            .or(file.query.max_clock_skew_adjust)
            .unwrap_or_else(|| "0".into());
        let skew_nanos = spoor_server::params::parse_go_duration(&skew)
            .map_err(anyhow::Error::msg)
            .context("invalid max_clock_skew_adjust")?;
        if skew_nanos < 0 {
            bail!("max_clock_skew_adjust must not be negative");
        }
        let log_format = args
            .log_format
            .clone()
            .or(file.log.format)
            .unwrap_or_else(|| "text".into());
        let log_json = match log_format.as_str() {
            "text" => false,
            "json" => true,
            other => bail!("unknown log format {other:?} (available: text, json)"),
        };
        let positive = |v: usize, what: &str| -> Result<usize> {
            if v == 0 {
                bail!("{what} must be greater than 0");
            }
            Ok(v)
        };
        Ok(Config {
            otlp_grpc: addr(
                &args.otlp_grpc_addr,
                file.listeners.otlp_grpc,
                DEFAULT_OTLP_GRPC_PORT,
                "OTLP gRPC",
            )?,
            otlp_http: addr(
                &args.otlp_http_addr,
                file.listeners.otlp_http,
                DEFAULT_OTLP_HTTP_PORT,
                "OTLP HTTP",
            )?,
            query_http: addr(
                &args.query_http_addr,
                file.listeners.query_http,
                DEFAULT_QUERY_HTTP_PORT,
                "query HTTP",
            )?,
            admin_http: addr(
                &args.admin_http_addr,
                file.listeners.admin_http,
                DEFAULT_ADMIN_HTTP_PORT,
                "admin HTTP",
            )?,
            storage,
            max_request_bytes: positive(
                args.max_request_bytes
                    .or(file.ingest.max_request_bytes)
                    .unwrap_or(16 << 20),
                "max_request_bytes",
            )?,
            max_decompressed_bytes: positive(
                args.max_decompressed_bytes
                    .or(file.ingest.max_decompressed_bytes)
                    .unwrap_or(64 << 20),
                "max_decompressed_bytes",
            )?,
            max_bytes_in_flight: positive(
                args.max_bytes_in_flight
                    .or(file.ingest.max_bytes_in_flight)
                    .unwrap_or(256 << 20),
                "max_bytes_in_flight",
            )?,
            base_path: args
                .base_path
                .clone()
                .or(file.query.base_path)
                .unwrap_or_else(|| "/".into()),
            max_clock_skew_adjust_nanos: skew_nanos as u64,
            max_trace_size: args
                .max_trace_size
                .or(file.query.max_trace_size)
                .unwrap_or(0),
            log: args
                .log
                .clone()
                .or(file.log.level)
                .unwrap_or_else(|| "info".into()),
            log_json,
        })
    }
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
        for a in [c.otlp_grpc, c.otlp_http, c.query_http, c.admin_http] {
            assert_eq!(a.ip().to_string(), "0.0.0.0");
        }
        assert_eq!(c.otlp_grpc.port(), 4317);
        assert_eq!(c.admin_http.port(), 13133);
    }

    #[test]
    fn file_is_versioned_strict_and_overridden_by_flags() {
        let yaml = "version: 1\nhost: 0.0.0.0\nstorage:\n  max_traces: 5\nquery:\n  max_clock_skew_adjust: 1s\n";
        let file = parse_file(yaml).unwrap();
        let args = RunArgs {
            max_traces: Some(7),
            ..RunArgs::default()
        };
        let c = Config::merge(&args, file).unwrap();
        assert_eq!(c.storage, Storage::Memory { max_traces: 7 });
        assert_eq!(c.max_clock_skew_adjust_nanos, 1_000_000_000);
        assert_eq!(c.query_http.ip().to_string(), "0.0.0.0");

        let err = parse_file("version: 1\nstorage:\n  max_trace: 5\n").unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
        let err = parse_file("version: 2\n").unwrap_err();
        assert!(err.to_string().contains("version 2"));
        assert!(parse_file("host: x\n").is_err(), "version is required");
    }

    #[test]
    fn bad_values_are_rejected() {
        let bad = [
            RunArgs {
                max_traces: Some(0),
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
}
