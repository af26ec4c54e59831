//! `spoor agent`: a small sidecar that takes what legacy Jaeger clients send
//! to a local agent (Thrift over UDP on 6831/6832, sampling strategies over
//! HTTP on 5778) and forwards it to a collector over gRPC.
//!
//! This is the agent's wiring layer: flags (each also a `SPOOR_AGENT_*`
//! environment variable) are turned into a
//! [`spoor_server::agent::AgentConfig`], logging and signals are set up.
//! The listener flags are generated from `spoor_server::roles::AGENT`
//! ([`AgentRole`]).
//! The listeners, exporters and sampling proxy are `spoor_server::agent`;
//! the bounded buffer between receivers and exporter, with its retries, is
//! `spoor_service::forward` (waiting as `spoor_service::retry` says).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use spoor_client::credentials::parse_headers;
use spoor_client::{ClientSecurity, CredentialOptions, TlsOptions};
use spoor_server::agent::{AgentConfig, AgentListeners, AgentState, CollectorProtocol, run_agent};
use spoor_server::roles::AGENT;
use spoor_server::{Role, UdpConfig};
use spoor_service::Telemetry;
use spoor_service::forward::ForwarderOptions;
use tokio_util::sync::CancellationToken;

use crate::config::{ListenerArgs, RoleListeners, resolve_listeners};

/// The agent's listeners: `--KEY-addr` and `SPOOR_AGENT_KEY_ADDR` for each
/// of `spoor_server::roles::AGENT`'s; no config file.
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentRole;

impl RoleListeners for AgentRole {
    type State = AgentState;
    fn role() -> &'static Role<AgentState> {
        &AGENT
    }
    const ENV_PREFIX: &'static str = "SPOOR_AGENT_";
    const CONFIG_FILE: bool = false;
}

/// Port of a Spoor collector's gRPC `SamplingManager` besides 14250.
pub const SAMPLING_GRPC_PORT: u16 = spoor_server::Listener::SamplingGrpc.spec().port;

/// `spoor agent` settings. Every flag can also be set with its
/// `SPOOR_AGENT_*` environment variable (flags win).
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Collector to forward spans to, `HOST:PORT` or `https://HOST:PORT` for TLS (the port defaults to 14250 for `jaeger`, 4317 for `otlp`)
    #[arg(long, env = "SPOOR_AGENT_COLLECTOR", value_name = "HOST:PORT")]
    pub collector: String,

    /// Protocol spoken to the collector: `jaeger` (api_v2 `CollectorService/PostSpans`) or `otlp` (OTLP gRPC `TraceService/Export`)
    #[arg(
        long,
        env = "SPOOR_AGENT_COLLECTOR_PROTOCOL",
        value_name = "PROTOCOL",
        value_parser = ["jaeger", "otlp"],
        default_value = "jaeger"
    )]
    pub collector_protocol: String,

    /// Where sampling strategies are asked for (a gRPC `SamplingManager`), `HOST:PORT` [default: the collector for `jaeger`; the collector's host on port 5779 for `otlp`]
    #[arg(long, env = "SPOOR_AGENT_SAMPLING_ENDPOINT", value_name = "HOST:PORT")]
    pub sampling_endpoint: Option<String>,

    /// TLS to the collector (and the sampling endpoint): PEM file of CA certificates trusted besides the system's roots; any `--collector-tls-*` flag turns TLS on
    #[arg(long, env = "SPOOR_AGENT_COLLECTOR_TLS_CA_FILE", value_name = "FILE")]
    pub collector_tls_ca_file: Option<PathBuf>,

    /// TLS to the collector: PEM client certificate presented when the collector asks for one (mTLS); needs `--collector-tls-key-file`
    #[arg(long, env = "SPOOR_AGENT_COLLECTOR_TLS_CERT_FILE", value_name = "FILE")]
    pub collector_tls_cert_file: Option<PathBuf>,

    /// TLS to the collector: PEM private key of `--collector-tls-cert-file`
    #[arg(long, env = "SPOOR_AGENT_COLLECTOR_TLS_KEY_FILE", value_name = "FILE")]
    pub collector_tls_key_file: Option<PathBuf>,

    /// TLS to the collector: the name its certificate must carry, instead of the host of `--collector`
    #[arg(
        long,
        env = "SPOOR_AGENT_COLLECTOR_TLS_SERVER_NAME",
        value_name = "NAME"
    )]
    pub collector_tls_server_name: Option<String>,

    /// File holding a token sent to the collector as `Authorization: Bearer TOKEN` (read again when it changes)
    #[arg(
        long,
        env = "SPOOR_AGENT_COLLECTOR_BEARER_TOKEN_FILE",
        value_name = "FILE"
    )]
    pub collector_bearer_token_file: Option<PathBuf>,

    /// Extra headers sent to the collector, `NAME=VALUE,NAME=VALUE`
    #[arg(
        long,
        env = "SPOOR_AGENT_COLLECTOR_HEADERS",
        value_name = "NAME=VALUE,..."
    )]
    pub collector_headers: Option<String>,

    /// Tenant sent to the collector in the `x-tenant` header
    #[arg(long, env = "SPOOR_AGENT_COLLECTOR_TENANT", value_name = "TENANT")]
    pub collector_tenant: Option<String>,

    /// How long a sampling strategy from the collector is reused, a Go duration
    #[arg(
        long,
        env = "SPOOR_AGENT_SAMPLING_CACHE_TTL",
        value_name = "DURATION",
        default_value = "10s",
        value_parser = parse_duration
    )]
    pub sampling_cache_ttl: Duration,

    /// Host every listener binds to, unless its own address names one; use 0.0.0.0 to accept spans from other hosts; a listener's address is `PORT`, `:PORT`, `HOST:PORT`, or `off`
    #[arg(
        long,
        env = "SPOOR_AGENT_HOST",
        value_name = "HOST",
        default_value = "127.0.0.1"
    )]
    pub host: String,

    /// One `--KEY-addr` flag (and `SPOOR_AGENT_KEY_ADDR` variable) per listener
    #[command(flatten)]
    pub listeners: ListenerArgs<AgentRole>,

    /// UDP: packets queued before new ones are dropped (and counted)
    #[arg(
        long,
        env = "SPOOR_AGENT_UDP_QUEUE_SIZE",
        value_name = "N",
        default_value_t = 1000
    )]
    pub udp_queue_size: usize,

    /// UDP: workers decoding packets
    #[arg(
        long,
        env = "SPOOR_AGENT_UDP_WORKERS",
        value_name = "N",
        default_value_t = 4
    )]
    pub udp_workers: usize,

    /// UDP: largest datagram accepted, in bytes
    #[arg(
        long,
        env = "SPOOR_AGENT_UDP_MAX_PACKET_BYTES",
        value_name = "BYTES",
        default_value_t = 65_000
    )]
    pub udp_max_packet_bytes: usize,

    /// Most bytes of spans buffered for the collector (queued or being retried); beyond it new batches are dropped and counted
    #[arg(
        long,
        env = "SPOOR_AGENT_BUFFER_BYTES",
        value_name = "BYTES",
        default_value_t = 32 << 20
    )]
    pub buffer_bytes: usize,

    /// Most spans sent to the collector in one request
    #[arg(
        long,
        env = "SPOOR_AGENT_EXPORT_MAX_SPANS",
        value_name = "N",
        default_value_t = 1000
    )]
    pub export_max_spans: usize,

    /// Requests to the collector in flight at once
    #[arg(
        long,
        env = "SPOOR_AGENT_EXPORT_WORKERS",
        value_name = "N",
        default_value_t = 2
    )]
    pub export_workers: usize,

    /// Deadline of each request to the collector, a Go duration
    #[arg(
        long,
        env = "SPOOR_AGENT_REQUEST_TIMEOUT",
        value_name = "DURATION",
        default_value = "5s",
        value_parser = parse_duration
    )]
    pub request_timeout: Duration,

    /// First delay before retrying a failed send (doubled each time, with jitter)
    #[arg(
        long,
        env = "SPOOR_AGENT_RETRY_INITIAL_BACKOFF",
        value_name = "DURATION",
        default_value = "100ms",
        value_parser = parse_duration
    )]
    pub retry_initial_backoff: Duration,

    /// Longest delay between retries
    #[arg(
        long,
        env = "SPOOR_AGENT_RETRY_MAX_BACKOFF",
        value_name = "DURATION",
        default_value = "10s",
        value_parser = parse_duration
    )]
    pub retry_max_backoff: Duration,

    /// How long a batch is retried before it is dropped (and counted)
    #[arg(
        long,
        env = "SPOOR_AGENT_RETRY_MAX_ELAPSED",
        value_name = "DURATION",
        default_value = "5m",
        value_parser = parse_duration
    )]
    pub retry_max_elapsed: Duration,

    /// On shutdown, how long buffered spans keep being sent before the rest is dropped
    #[arg(
        long,
        env = "SPOOR_AGENT_DRAIN_TIMEOUT",
        value_name = "DURATION",
        default_value = "10s",
        value_parser = parse_duration
    )]
    pub drain_timeout: Duration,

    /// Log filter, e.g. `info` or `spoor=debug,info`
    #[arg(
        long,
        env = "SPOOR_AGENT_LOG",
        value_name = "FILTER",
        default_value = "info"
    )]
    pub log: String,

    /// Log format
    #[arg(
        long,
        env = "SPOOR_AGENT_LOG_FORMAT",
        value_name = "FORMAT",
        value_parser = ["text", "json"],
        default_value = "text"
    )]
    pub log_format: String,
}

/// A Go duration (`500ms`, `10s`, `5m`) that is not negative.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let nanos = spoor_model::parse_go_duration(s)?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("{s:?} is negative"))
}

/// Whether a gRPC target was given as `https://…`.
fn is_https(spec: &str) -> bool {
    spec.trim().starts_with("https://")
}

/// `HOST:PORT` for a gRPC target: `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT`,
/// a bare IPv6 address, optionally after `http://` or `https://` (TLS:
/// [`is_https`]).
pub fn grpc_target(spec: &str, default_port: u16) -> Result<String> {
    let s = spec.trim();
    let s = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .unwrap_or(s)
        .trim_end_matches('/');
    if s.contains("://") {
        bail!("{spec:?}: only HOST:PORT, http://HOST:PORT or https://HOST:PORT is supported");
    }
    if s.is_empty() {
        bail!("the collector address is empty");
    }
    let port_ok = |p: &str| {
        p.parse::<u16>()
            .with_context(|| format!("{spec:?}: {p:?} is not a port number"))
    };
    if let Some(rest) = s.strip_prefix('[') {
        let Some((_, after)) = rest.split_once(']') else {
            bail!("{spec:?}: unclosed '['");
        };
        return match after {
            "" => Ok(format!("{s}:{default_port}")),
            p => {
                let Some(p) = p.strip_prefix(':') else {
                    bail!("{spec:?}: expected :PORT after the IPv6 address");
                };
                port_ok(p)?;
                Ok(s.to_string())
            }
        };
    }
    if s.matches(':').count() > 1 {
        // A bare IPv6 address.
        return Ok(format!("[{s}]:{default_port}"));
    }
    match s.rsplit_once(':') {
        Some((host, port)) => {
            port_ok(port)?;
            if host.is_empty() {
                Ok(format!("127.0.0.1:{port}"))
            } else {
                Ok(s.to_string())
            }
        }
        None => Ok(format!("{s}:{default_port}")),
    }
}

/// The host part of a `HOST:PORT` made by [`grpc_target`].
fn target_host(target: &str) -> &str {
    target.rsplit_once(':').map_or(target, |(h, _)| h)
}

/// Validates the flags into the agent's configuration.
pub fn agent_config(args: &AgentArgs) -> Result<AgentConfig> {
    let protocol = match args.collector_protocol.as_str() {
        "jaeger" => CollectorProtocol::Jaeger,
        "otlp" => CollectorProtocol::Otlp,
        other => bail!("unknown collector protocol {other:?} (available: jaeger, otlp)"),
    };
    let collector =
        grpc_target(&args.collector, protocol.default_port()).context("invalid --collector")?;
    let sampling_endpoint = match &args.sampling_endpoint {
        Some(s) => grpc_target(s, SAMPLING_GRPC_PORT).context("invalid --sampling-endpoint")?,
        None => match protocol {
            CollectorProtocol::Jaeger => collector.clone(),
            CollectorProtocol::Otlp => format!("{}:{SAMPLING_GRPC_PORT}", target_host(&collector)),
        },
    };
    let collector_security = ClientSecurity {
        tls: TlsOptions {
            enabled: is_https(&args.collector),
            ca_file: args.collector_tls_ca_file.clone(),
            cert_file: args.collector_tls_cert_file.clone(),
            key_file: args.collector_tls_key_file.clone(),
            server_name: args.collector_tls_server_name.clone(),
        },
        credentials: CredentialOptions {
            bearer_token_file: args.collector_bearer_token_file.clone(),
            headers: match &args.collector_headers {
                Some(h) => parse_headers(h)
                    .map_err(anyhow::Error::msg)
                    .context("invalid --collector-headers")?,
                None => Vec::new(),
            },
            tenant: args.collector_tenant.clone(),
            tenant_header: None,
        },
    };
    // Checked now, so a bad file fails at start rather than at the first
    // batch.
    if collector_security.tls.any_set() {
        spoor_client::tls::client_config(&collector_security.tls, &[])
            .context("TLS to the collector")?;
    }
    spoor_client::Credentials::new(&collector_security.credentials)
        .context("credentials for the collector")?;
    // The sampling endpoint is reached with the collector's TLS settings
    // and credentials; `https://` on either turns TLS on.
    let mut sampling_security = collector_security.clone();
    sampling_security.tls.enabled |= args.sampling_endpoint.as_deref().is_some_and(is_https);
    let positive = |v: usize, what: &str| -> Result<usize> {
        if v == 0 {
            bail!("{what} must be greater than 0");
        }
        Ok(v)
    };
    if args.request_timeout.is_zero() {
        bail!("--request-timeout must be positive");
    }
    if args.retry_initial_backoff.is_zero() || args.retry_max_backoff < args.retry_initial_backoff {
        bail!("--retry-initial-backoff must be positive and at most --retry-max-backoff");
    }
    Ok(AgentConfig {
        listeners: resolve_listeners(&AGENT, &args.host, |l| args.listeners.0[l].clone())?,
        udp: UdpConfig {
            queue_size: positive(args.udp_queue_size, "--udp-queue-size")?,
            workers: positive(args.udp_workers, "--udp-workers")?,
            max_packet_bytes: positive(args.udp_max_packet_bytes, "--udp-max-packet-bytes")?,
        },
        collector,
        protocol,
        collector_security,
        sampling_security,
        sampling_endpoint,
        sampling_cache_ttl: args.sampling_cache_ttl,
        request_timeout: args.request_timeout,
        forwarder: ForwarderOptions {
            max_buffer_bytes: positive(args.buffer_bytes, "--buffer-bytes")?,
            max_export_spans: positive(args.export_max_spans, "--export-max-spans")?,
            workers: positive(args.export_workers, "--export-workers")?,
            initial_backoff: args.retry_initial_backoff,
            max_backoff: args.retry_max_backoff,
            max_elapsed: args.retry_max_elapsed,
            drain_timeout: args.drain_timeout,
            ..ForwarderOptions::default()
        },
    })
}

/// Entry point of `spoor agent`.
pub fn main(args: AgentArgs) -> Result<()> {
    let config = agent_config(&args)?;
    crate::init_logging_with(&args.log, args.log_format == "json")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spoor-agent")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(config, crate::shutdown_signal()))
}

/// Runs the agent until `shutdown` resolves, then drains.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    let metrics = Arc::new(Telemetry::new(env!("CARGO_PKG_VERSION")));
    let listeners = AgentListeners::bind(&config).await?;
    let drain = config.forwarder.drain_timeout;
    let token = CancellationToken::new();
    let mut task = tokio::spawn(run_agent(config, listeners, metrics, token.clone()));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "spoor agent started");
    tokio::select! {
        _ = shutdown => {}
        finished = &mut task => {
            return match finished {
                Ok(Ok(())) => Err(anyhow::anyhow!("agent stopped unexpectedly")),
                Ok(Err(e)) => Err(e).context("agent failed"),
                Err(e) => Err(anyhow::anyhow!("agent task failed: {e}")),
            };
        }
    }
    tracing::info!("shutting down");
    token.cancel();
    match tokio::time::timeout(drain + Duration::from_secs(15), task).await {
        Ok(Ok(result)) => result.context("agent failed")?,
        Ok(Err(e)) => return Err(anyhow::anyhow!("agent task failed: {e}")),
        Err(_) => tracing::warn!("the agent did not stop in time"),
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;
    use spoor_server::Listener;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        args: AgentArgs,
    }

    fn args(argv: &[&str]) -> AgentArgs {
        let mut full = vec!["agent"];
        full.extend_from_slice(argv);
        Wrap::try_parse_from(full).unwrap().args
    }

    #[test]
    fn collector_addresses_get_the_protocol_port() {
        assert_eq!(grpc_target("collector", 14250).unwrap(), "collector:14250");
        assert_eq!(
            grpc_target("collector:1234", 14250).unwrap(),
            "collector:1234"
        );
        assert_eq!(
            grpc_target("http://10.0.0.1:4317/", 14250).unwrap(),
            "10.0.0.1:4317"
        );
        assert_eq!(grpc_target("[::1]", 4317).unwrap(), "[::1]:4317");
        assert_eq!(grpc_target("[::1]:99", 4317).unwrap(), "[::1]:99");
        assert_eq!(grpc_target("::1", 4317).unwrap(), "[::1]:4317");
        assert_eq!(grpc_target(":7", 4317).unwrap(), "127.0.0.1:7");
        assert_eq!(grpc_target("https://c:1", 1).unwrap(), "c:1");
        assert!(is_https("https://c:1") && !is_https("c:1"));
        for bad in ["", "grpcs://c:1", "c:port", "[::1", "[::1]x"] {
            assert!(grpc_target(bad, 1).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn listener_flags_and_variables_keep_their_names() {
        use clap::CommandFactory;
        Wrap::command().debug_assert();
        let cmd = Wrap::command();
        let named: Vec<(String, String)> = cmd
            .get_arguments()
            .filter(|a| a.get_id().as_str().ends_with("_addr"))
            .map(|a| {
                let env = a.get_env().map(|e| e.to_string_lossy().into_owned());
                (a.get_long().unwrap().to_string(), env.unwrap())
            })
            .collect();
        let expected = [
            ("jaeger-compact-addr", "SPOOR_AGENT_JAEGER_COMPACT_ADDR"),
            ("jaeger-binary-addr", "SPOOR_AGENT_JAEGER_BINARY_ADDR"),
            ("sampling-http-addr", "SPOOR_AGENT_SAMPLING_HTTP_ADDR"),
            ("admin-http-addr", "SPOOR_AGENT_ADMIN_HTTP_ADDR"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(f, e)| (f.to_string(), e.to_string()))
            .collect();
        assert_eq!(named, expected);
        let help = cmd.clone().render_long_help().to_string();
        assert!(help.contains("[default: 14271]"), "{help}");
        let c = agent_config(&args(&[
            "--collector",
            "c",
            "--admin-http-addr",
            ":7",
            "--sampling-http-addr",
            "off",
        ]))
        .unwrap();
        assert_eq!(c.listeners[Listener::AdminHttp].unwrap().port(), 7);
        assert!(c.listeners[Listener::SamplingHttp].is_none());
        // Listeners the agent does not serve stay off.
        assert!(c.listeners[Listener::QueryHttp].is_none());
        let err =
            agent_config(&args(&["--collector", "c", "--jaeger-binary-addr", "x:1"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid Jaeger Thrift binary over UDP address"
        );
    }

    #[test]
    fn defaults_follow_jaegers_agent() {
        let c = agent_config(&args(&["--collector", "c"])).unwrap();
        assert_eq!(c.collector, "c:14250");
        assert_eq!(c.protocol, CollectorProtocol::Jaeger);
        assert_eq!(c.sampling_endpoint, "c:14250");
        let port = |l: Listener| c.listeners[l].unwrap().port();
        assert_eq!(port(Listener::JaegerCompact), 6831);
        assert_eq!(port(Listener::JaegerBinary), 6832);
        assert_eq!(port(Listener::SamplingHttp), 5778);
        assert_eq!(port(Listener::AdminHttp), 14271);
        assert_eq!(c.udp.max_packet_bytes, 65_000);
        assert_eq!(c.forwarder.max_buffer_bytes, 32 << 20);
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.forwarder.max_elapsed, Duration::from_secs(300));
    }

    #[test]
    fn otlp_collectors_and_explicit_settings() {
        let c = agent_config(&args(&[
            "--collector",
            "otel:4317",
            "--collector-protocol",
            "otlp",
            "--jaeger-binary-addr",
            "off",
            "--host",
            "0.0.0.0",
            "--retry-max-elapsed",
            "30s",
        ]))
        .unwrap();
        assert_eq!(c.protocol, CollectorProtocol::Otlp);
        assert_eq!(c.sampling_endpoint, "otel:5779");
        assert!(c.listeners[Listener::JaegerBinary].is_none());
        assert_eq!(
            c.listeners[Listener::JaegerCompact]
                .unwrap()
                .ip()
                .to_string(),
            "0.0.0.0"
        );
        assert_eq!(c.forwarder.max_elapsed, Duration::from_secs(30));
        let c = agent_config(&args(&[
            "--collector",
            "otel",
            "--collector-protocol",
            "otlp",
            "--sampling-endpoint",
            "spoor:14250",
        ]))
        .unwrap();
        assert_eq!(c.collector, "otel:4317");
        assert_eq!(c.sampling_endpoint, "spoor:14250");
    }

    #[test]
    fn tls_and_credentials_for_the_collector() {
        let c = agent_config(&args(&[
            "--collector",
            "https://c",
            "--collector-headers",
            "a=1,b=2",
            "--collector-tenant",
            "team-a",
        ]))
        .unwrap();
        assert_eq!(c.collector, "c:14250");
        assert!(c.collector_security.tls.enabled);
        assert_eq!(c.collector_security, c.sampling_security);
        assert_eq!(c.collector_security.credentials.headers.len(), 2);
        assert_eq!(
            c.collector_security.credentials.tenant.as_deref(),
            Some("team-a")
        );
        let plain = agent_config(&args(&["--collector", "c"])).unwrap();
        assert!(!plain.collector_security.tls.any_set());
    }

    #[test]
    fn bad_settings_are_rejected() {
        for argv in [
            &["--collector", "c", "--buffer-bytes", "0"][..],
            &["--collector", "c", "--request-timeout", "0s"],
            &[
                "--collector",
                "c",
                "--retry-initial-backoff",
                "1m",
                "--retry-max-backoff",
                "1s",
            ],
            &["--collector", "grpcs://c"],
            &[
                "--collector",
                "c",
                "--collector-tls-ca-file",
                "/nonexistent/ca.pem",
            ],
            &[
                "--collector",
                "c",
                "--collector-tls-key-file",
                "/nonexistent/k.pem",
            ],
            &["--collector", "c", "--collector-headers", "novalue"],
            &[
                "--collector",
                "c",
                "--collector-bearer-token-file",
                "/nonexistent/t",
            ],
            &["--collector", "c", "--sampling-http-addr", "nowhere"],
        ] {
            assert!(agent_config(&args(argv)).is_err(), "{argv:?}");
        }
        let mut full = vec!["agent", "--collector", "c", "--drain-timeout", "-1s"];
        assert!(Wrap::try_parse_from(full.clone()).is_err());
        full.truncate(1);
        assert!(
            Wrap::try_parse_from(full).is_err(),
            "--collector is required"
        );
    }
}
