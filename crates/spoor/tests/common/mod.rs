//! Test harness: starts the real `spoor` binary on free loopback ports and
//! talks to it over HTTP and gRPC.
//!
//! Each test file does `mod common;` and uses the parts it needs.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

pub mod blocks;
pub mod conformance;
pub mod oidc;
pub mod oracle;
pub mod pki;
pub mod s3_server;
pub mod tls_spoor;

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the binary may take to answer `GET /status` with 200.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `spoor` all-in-one process, killed on drop.
/// The binary under test: `SPOOR_E2E_BIN` when set (to run a test against
/// another build, a release binary say), else the one cargo built for the test.
pub fn spoor_bin() -> std::ffi::OsString {
    std::env::var_os("SPOOR_E2E_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_spoor").into())
}

pub struct Spoor {
    child: Child,
    log: tempfile::NamedTempFile,
    /// The engine's data directory (removed on drop).
    pub data_dir: tempfile::TempDir,
    pub otlp_grpc: SocketAddr,
    pub otlp_http: SocketAddr,
    pub query_http: SocketAddr,
    pub admin_http: SocketAddr,
    /// UDP: Jaeger Thrift compact.
    pub jaeger_compact: SocketAddr,
    /// UDP: Jaeger Thrift binary.
    pub jaeger_binary: SocketAddr,
    pub jaeger_http: SocketAddr,
    pub jaeger_grpc: SocketAddr,
    pub zipkin: SocketAddr,
    pub sampling_http: SocketAddr,
    pub sampling_grpc: SocketAddr,
    pub query_grpc: SocketAddr,
    http: reqwest::blocking::Client,
}

/// An HTTP response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response ({}) is not JSON: {e}\n{}",
                self.status,
                self.text()
            )
        })
    }
}

/// `N` distinct free loopback TCP ports. The listeners are held together so
/// no port repeats, then released for the binary to take.
pub fn free_addrs<const N: usize>() -> [SocketAddr; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("local address"))
}

/// `N` distinct free loopback UDP ports.
fn free_udp_addrs<const N: usize>() -> [SocketAddr; N] {
    let sockets: Vec<std::net::UdpSocket> = (0..N)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a free UDP port"))
        .collect();
    std::array::from_fn(|i| sockets[i].local_addr().expect("local address"))
}

/// Makes reqwest clients buildable: the workspace's reqwest has rustls
/// without a built-in crypto provider (spoor-engine's `aws` feature, ADR
/// 0023), so the process installs ring's before it builds any client.
/// [`Spoor::start`] calls it; a test building its own reqwest client (or an
/// SDK exporter using reqwest) before starting a `Spoor` calls it first.
pub fn install_tls_provider() {
    spoor_engine::install_tls_provider();
}

fn http_client() -> reqwest::blocking::Client {
    install_tls_provider();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build the HTTP client")
}

impl Spoor {
    /// Starts `spoor` with its four listeners on free loopback ports, `--log warn`
    /// and `extra_args`, and waits until `GET /status` answers 200.
    ///
    /// A port taken by someone else between picking and binding makes the
    /// binary exit; that case is retried with fresh ports.
    pub fn start(extra_args: &[&str]) -> Spoor {
        Self::start_with_fd_limit(None, extra_args)
    }

    /// As [`Spoor::start`], under a limit of `fd_limit` open files (soft and
    /// hard, set by a shell's `ulimit -n` that then `exec`s the binary).
    pub fn start_with_fd_limit(fd_limit: Option<u64>, extra_args: &[&str]) -> Spoor {
        Self::start_full(fd_limit, extra_args, &[])
    }

    /// As [`Spoor::start`], with `env` added to the binary's environment.
    pub fn start_with_env(extra_args: &[&str], env: &[(&str, &str)]) -> Spoor {
        Self::start_full(None, extra_args, env)
    }

    fn start_full(fd_limit: Option<u64>, extra_args: &[&str], env: &[(&str, &str)]) -> Spoor {
        let mut last_log = String::new();
        for _attempt in 0..3 {
            match Self::try_start(extra_args, fd_limit, env) {
                Ok(spoor) => return spoor,
                Err(log) if log.contains("cannot listen on") => last_log = log,
                Err(log) => panic!("spoor did not start:\n{log}"),
            }
        }
        panic!("spoor could not bind its ports after 3 attempts:\n{last_log}");
    }

    fn try_start(
        extra_args: &[&str],
        fd_limit: Option<u64>,
        env: &[(&str, &str)],
    ) -> Result<Spoor, String> {
        let [
            otlp_grpc,
            otlp_http,
            query_http,
            admin_http,
            jaeger_http,
            jaeger_grpc,
            zipkin,
            sampling_http,
            sampling_grpc,
            query_grpc,
        ] = free_addrs::<10>();
        let [jaeger_compact, jaeger_binary] = free_udp_addrs::<2>();
        let log = tempfile::NamedTempFile::new().expect("create the log file");
        let data_dir = tempfile::tempdir().expect("create the data directory");
        let stderr = log.reopen().expect("reopen the log file");
        let mut command = match fd_limit {
            None => Command::new(spoor_bin()),
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(spoor_bin());
                c
            }
        };
        let child = command
            .arg("--otlp-grpc-addr")
            .arg(otlp_grpc.to_string())
            .arg("--otlp-http-addr")
            .arg(otlp_http.to_string())
            .arg("--query-http-addr")
            .arg(query_http.to_string())
            .arg("--admin-http-addr")
            .arg(admin_http.to_string())
            .args(["--jaeger-compact-addr", &jaeger_compact.to_string()])
            .args(["--jaeger-binary-addr", &jaeger_binary.to_string()])
            .args(["--jaeger-http-addr", &jaeger_http.to_string()])
            .args(["--jaeger-grpc-addr", &jaeger_grpc.to_string()])
            .args(["--zipkin-addr", &zipkin.to_string()])
            .args(["--sampling-http-addr", &sampling_http.to_string()])
            .args(["--sampling-grpc-addr", &sampling_grpc.to_string()])
            .args(["--query-grpc-addr", &query_grpc.to_string()])
            // A test that names its own data directory (to restart on it) wins.
            .args(
                (!extra_args.contains(&"--data-dir"))
                    .then(|| ["--data-dir".as_ref(), data_dir.path().as_os_str()])
                    .into_iter()
                    .flatten(),
            )
            .arg("--log")
            .arg("warn")
            .args(extra_args)
            // The environment must not reconfigure the binary under test.
            .env_remove("SPOOR_CONFIG")
            .env_remove("SPOOR_HOST")
            .env_remove("SPOOR_LOG")
            .env_remove("SPOOR_SAMPLING_STRATEGIES")
            .env_remove("SPOOR_STORAGE")
            .env_remove("SPOOR_DATA_DIR")
            .env_remove("SPOOR_BLOCKS_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn the spoor binary");
        let mut spoor = Spoor {
            child,
            log,
            data_dir,
            otlp_grpc,
            otlp_http,
            query_http,
            admin_http,
            jaeger_compact,
            jaeger_binary,
            jaeger_http,
            jaeger_grpc,
            zipkin,
            sampling_http,
            sampling_grpc,
            query_grpc,
            http: http_client(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let probe = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("build the probe client");
        let status_url = spoor.admin("/status");
        loop {
            if let Some(exit) = spoor.child.try_wait().expect("poll the child") {
                let log = spoor.log();
                // Nothing to kill; keep Drop from printing the log a second time.
                return Err(format!("spoor exited with {exit}:\n{log}"));
            }
            if let Ok(resp) = probe.get(&status_url).send()
                && resp.status().as_u16() == 200
            {
                return Ok(spoor);
            }
            if Instant::now() > deadline {
                let log = spoor.log();
                return Err(format!(
                    "GET {status_url} did not answer 200 within {START_TIMEOUT:?}:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's resident memory now (`VmRSS`) and its peak (`VmHWM`), in bytes.
    pub fn rss(&self) -> (u64, u64) {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/<pid>/status");
        let field = |name: &str| -> u64 {
            let line = text.lines().find(|l| l.starts_with(name)).expect(name);
            let kib: u64 = line[name.len()..]
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .expect("a number of kB");
            kib * 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Everything the binary wrote to stderr so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        let _ = self
            .log
            .reopen()
            .and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    /// Open file descriptors of the binary (Linux: entries of `/proc/PID/fd`).
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or_else(|e| panic!("cannot list the fds of spoor: {e}"))
    }

    /// gRPC endpoint URL of the OTLP receiver (`http://127.0.0.1:PORT`).
    pub fn otlp_grpc_endpoint(&self) -> String {
        format!("http://{}", self.otlp_grpc)
    }

    /// URL of `path` on the OTLP/HTTP receiver.
    pub fn otlp_http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.otlp_http)
    }

    /// URL of `path` on the query server.
    pub fn query(&self, path: &str) -> String {
        format!("http://{}{path}", self.query_http)
    }

    /// URL of `path` on the admin server.
    pub fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_http)
    }

    /// `GET url`, fully read.
    pub fn get(&self, url: &str) -> Reply {
        let resp = self
            .http
            .get(url)
            .send()
            .unwrap_or_else(|e| panic!("GET {url} failed: {e}\n{}", self.log()));
        into_reply(resp)
    }

    /// `GET path` on the query server, with the body parsed as JSON.
    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let reply = self.get(&self.query(path));
        (reply.status, reply.json())
    }

    /// `POST url` with a body and extra headers.
    pub fn post(
        &self,
        url: &str,
        content_type: &str,
        body: impl Into<reqwest::blocking::Body>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .post(url)
            .header("Content-Type", content_type)
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("POST {url} failed: {e}\n{}", self.log()));
        into_reply(resp)
    }

    /// The Prometheus text of `GET /metrics`.
    pub fn metrics(&self) -> String {
        let reply = self.get(&self.admin("/metrics"));
        assert_eq!(reply.status, 200, "GET /metrics: {}", reply.text());
        reply.text()
    }
}

fn into_reply(resp: reqwest::blocking::Response) -> Reply {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.bytes().expect("read the response body").to_vec();
    Reply {
        status,
        content_type,
        body,
    }
}

impl Spoor {
    /// Sends SIGTERM and waits up to `timeout` for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process with SIGKILL (no shutdown, no flush) and waits for it.
    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Spoor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- spoor log -----\n{}\n----- end of spoor log -----",
                self.log()
            );
        }
    }
}

/// Calls `f` every 50 ms until it returns `Some`, for at most `timeout`.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A small Tokio runtime for the gRPC client side of a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a Tokio runtime")
}

/// Sends one OTLP `Export` over gRPC and returns the status.
pub fn grpc_export(
    endpoint: &str,
    request: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
) -> Result<(), tonic::Status> {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let endpoint = endpoint.to_string();
    runtime().block_on(async move {
        let mut client = TraceServiceClient::connect(endpoint)
            .await
            .map_err(|e| tonic::Status::unavailable(format!("cannot connect: {e}")))?;
        client.export(request).await.map(|_| ())
    })
}

/// Sends one OTLP `Export` over gRPC and returns the response (with its
/// partial success) or the status.
pub fn grpc_export_response(
    endpoint: &str,
    request: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
) -> Result<
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
    tonic::Status,
> {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let endpoint = endpoint.to_string();
    runtime().block_on(async move {
        let mut client = TraceServiceClient::connect(endpoint)
            .await
            .map_err(|e| tonic::Status::unavailable(format!("cannot connect: {e}")))?;
        client.export(request).await.map(|r| r.into_inner())
    })
}

/// A trace ID in a canonical form: 32 lowercase hex digits (Jaeger prints
/// 16 when the high half is zero; OTLP always 32).
pub fn canonical_trace_id(id: &str) -> String {
    format!("{:0>32}", id.to_ascii_lowercase())
}

/// `base` with `params` appended as a percent-encoded query string.
pub fn with_params(base: &str, params: &[(&str, String)]) -> String {
    reqwest::Url::parse_with_params(base, params.iter().map(|(k, v)| (*k, v.as_str())))
        .unwrap_or_else(|e| panic!("bad URL {base}: {e}"))
        .to_string()
}

/// Trace ID → number of spans, from the `data` of a Jaeger `/api/traces*` answer.
pub fn legacy_span_counts(body: &serde_json::Value) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for trace in body["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let id = canonical_trace_id(trace["traceID"].as_str().unwrap_or_default());
        let spans = trace["spans"].as_array().map_or(0, Vec::len);
        *out.entry(id).or_insert(0) += spans;
    }
    out
}

/// Every span of an api_v3 answer (`{"result": {"resourceSpans": …}}`), with
/// the service name of its resource.
pub fn v3_spans(body: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    let empty = Vec::new();
    for rs in body["result"]["resourceSpans"].as_array().unwrap_or(&empty) {
        let service = rs["resource"]["attributes"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .find(|kv| kv["key"] == "service.name")
            .and_then(|kv| kv["value"]["stringValue"].as_str())
            .unwrap_or_default()
            .to_string();
        for ss in rs["scopeSpans"].as_array().unwrap_or(&empty) {
            for span in ss["spans"].as_array().unwrap_or(&empty) {
                out.push((service.clone(), span.clone()));
            }
        }
    }
    out
}

/// Trace ID → number of spans, from an api_v3 answer.
pub fn v3_span_counts(body: &serde_json::Value) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for (_, span) in v3_spans(body) {
        let id = canonical_trace_id(span["traceId"].as_str().unwrap_or_default());
        *out.entry(id).or_insert(0) += 1;
    }
    out
}

/// The typed tag `key` of a Jaeger UI span (or log), as (type, value).
pub fn ui_tag<'a>(
    span: &'a serde_json::Value,
    key: &str,
) -> Option<(&'a str, &'a serde_json::Value)> {
    span["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| (t["type"].as_str().unwrap_or(""), &t["value"]))
}

/// The span named `name` of a Jaeger UI trace; panics when absent.
pub fn ui_span<'a>(trace: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operationName"] == name)
        .unwrap_or_else(|| panic!("no span {name:?} in {trace:#}"))
}

/// The references of a Jaeger UI span as (refType, traceID (32 hex), spanID).
pub fn ui_refs(span: &serde_json::Value) -> Vec<(String, String, String)> {
    span["references"]
        .as_array()
        .unwrap_or_else(|| panic!("references must be an array: {span:#}"))
        .iter()
        .map(|r| {
            (
                r["refType"].as_str().unwrap().to_string(),
                canonical_trace_id(r["traceID"].as_str().unwrap()),
                r["spanID"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The fields of a Jaeger UI log as key → (type, value).
pub fn ui_log_fields(
    log: &serde_json::Value,
) -> std::collections::BTreeMap<String, (String, serde_json::Value)> {
    log["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("log fields must be an array: {log:#}"))
        .iter()
        .map(|f| {
            (
                f["key"].as_str().unwrap().to_string(),
                (f["type"].as_str().unwrap().to_string(), f["value"].clone()),
            )
        })
        .collect()
}

/// An OTLP/JSON integer (api_v3 writes int64 as a string, like jsonpb).
pub fn otlp_int(v: &serde_json::Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

/// The value of attribute `key` of an OTLP/JSON span, event or link.
pub fn otlp_attr<'a>(item: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    item["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

/// A running `spoor agent`, killed on drop.
pub struct Agent {
    child: Child,
    log: tempfile::NamedTempFile,
    /// UDP: Jaeger Thrift compact.
    pub jaeger_compact: SocketAddr,
    /// UDP: Jaeger Thrift binary.
    pub jaeger_binary: SocketAddr,
    pub sampling_http: SocketAddr,
    pub admin_http: SocketAddr,
    http: reqwest::blocking::Client,
}

impl Agent {
    /// Starts `spoor agent --collector <collector>` with its listeners on
    /// free loopback ports, `--log warn` and `extra_args`, and waits until
    /// its `GET /status` answers 200. Ports taken meanwhile are retried.
    pub fn start(collector: &str, extra_args: &[&str]) -> Agent {
        let mut last_log = String::new();
        for _attempt in 0..3 {
            match Self::try_start(collector, extra_args) {
                Ok(agent) => return agent,
                Err(log) if log.contains("cannot listen on") || log.contains("in use") => {
                    last_log = log;
                }
                Err(log) => panic!("spoor agent did not start:\n{log}"),
            }
        }
        panic!("spoor agent could not bind its ports after 3 attempts:\n{last_log}");
    }

    fn try_start(collector: &str, extra_args: &[&str]) -> Result<Agent, String> {
        let [sampling_http, admin_http] = free_addrs::<2>();
        let [jaeger_compact, jaeger_binary] = free_udp_addrs::<2>();
        let log = tempfile::NamedTempFile::new().expect("create the log file");
        let stderr = log.reopen().expect("reopen the log file");
        let child = Command::new(spoor_bin())
            .arg("agent")
            .args(["--collector", collector])
            .args(["--jaeger-compact-addr", &jaeger_compact.to_string()])
            .args(["--jaeger-binary-addr", &jaeger_binary.to_string()])
            .args(["--sampling-http-addr", &sampling_http.to_string()])
            .args(["--admin-http-addr", &admin_http.to_string()])
            .args(["--log", "warn"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn spoor agent");
        let mut agent = Agent {
            child,
            log,
            jaeger_compact,
            jaeger_binary,
            sampling_http,
            admin_http,
            http: http_client(),
        };
        let status_url = format!("http://{admin_http}/status");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(exit) = agent.child.try_wait().expect("poll the agent") {
                return Err(format!("spoor agent exited with {exit}:\n{}", agent.log()));
            }
            if let Ok(resp) = agent.http.get(&status_url).send()
                && resp.status().as_u16() == 200
            {
                return Ok(agent);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "GET {status_url} did not answer 200 within {START_TIMEOUT:?}:\n{}",
                    agent.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the agent wrote to stderr so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        let _ = self
            .log
            .reopen()
            .and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    /// The Prometheus text of the agent's `GET /metrics`.
    pub fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.admin_http);
        let resp = self
            .http
            .get(&url)
            .send()
            .unwrap_or_else(|e| panic!("GET {url} failed: {e}\n{}", self.log()));
        let reply = into_reply(resp);
        assert_eq!(reply.status, 200, "GET {url}: {}", reply.text());
        reply.text()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- spoor agent log -----\n{}\n----- end of spoor agent log -----",
                self.log()
            );
        }
    }
}

/// Sum of the samples of `name` in Prometheus text whose labels include
/// every `labels` pair.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The value of the unlabelled series `name` in Prometheus text; panics
/// when it is absent.
pub fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no series {name} in /metrics:\n{text}"))
}

/// A finished `spoor` subcommand run by [`run_spoor`].
pub struct Run {
    pub ok: bool,
    pub stderr: String,
}

/// Runs the real binary with `args` (no `RUST_LOG`, no stdin) to its end.
pub fn run_spoor(args: &[&str]) -> Run {
    let out = Command::new(spoor_bin())
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run spoor");
    Run {
        ok: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An OTLP request of one resource (`service.name` = `service`) and one
/// scope holding `spans`.
pub fn otlp_service_request(
    service: &str,
    spans: Vec<opentelemetry_proto::tonic::trace::v1::Span>,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..KeyValue::default()
                }],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// An OpenTelemetry SDK tracer provider with the batch processor, exporting
/// over OTLP gRPC to `endpoint` (the exporter's tonic channel is made on
/// `rt`; the batch processor drives exports on its own thread).
pub fn otlp_grpc_provider(
    rt: &tokio::runtime::Runtime,
    endpoint: String,
    resource: opentelemetry_sdk::Resource,
) -> opentelemetry_sdk::trace::SdkTracerProvider {
    use opentelemetry_otlp::WithExportConfig;
    rt.block_on(async {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(10))
            .build()
            .expect("build the gRPC exporter");
        opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(exporter)
            .build()
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a
/// path segment or query value).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
