//! The server under test: a `spoor` all-in-one child process on free
//! loopback ports, so that its CPU time and memory are its own and the load
//! generator's are not counted.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::StorageKind;
use super::http::HttpClient;
use super::procfs::{self, Rss};

/// How long a child may take to answer `GET /status`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How a child is started.
#[derive(Debug, Clone)]
pub struct ChildOptions {
    /// The `spoor` executable.
    pub exe: PathBuf,
    pub storage: StorageKind,
    /// Memory backend: most traces held.
    pub max_traces: usize,
    /// The child's log filter (its log goes to a file, shown when it fails).
    pub log: String,
}

/// A running `spoor` all-in-one, killed when dropped.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    log_path: PathBuf,
    /// The data directory (backends with data on disk), removed on drop.
    data_dir: Option<PathBuf>,
    /// OTLP gRPC.
    pub otlp_grpc: SocketAddr,
    /// Jaeger Thrift compact over UDP.
    pub jaeger_compact: SocketAddr,
    /// Zipkin HTTP.
    pub zipkin: SocketAddr,
    /// Query HTTP (`/api/*`).
    pub query_http: SocketAddr,
    /// Admin HTTP (`/status`, `/metrics`).
    pub admin_http: SocketAddr,
}

/// Free loopback TCP ports, held together so none repeats, then released.
fn free_tcp_addrs(n: usize) -> Result<Vec<SocketAddr>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("cannot find a free loopback TCP port")?;
    listeners
        .iter()
        .map(|l| l.local_addr().context("no local address"))
        .collect()
}

fn free_udp_addr() -> Result<SocketAddr> {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .context("cannot find a free loopback UDP port")
}

static NEXT_LOG: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl ChildServer {
    /// Starts a child and waits until it answers `GET /status`.
    pub async fn start(options: &ChildOptions, http: &HttpClient) -> Result<ChildServer> {
        let tcp = free_tcp_addrs(4)?;
        let (otlp_grpc, zipkin, query_http, admin_http) = (tcp[0], tcp[1], tcp[2], tcp[3]);
        let jaeger_compact = free_udp_addr()?;
        let n = NEXT_LOG.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log_path =
            std::env::temp_dir().join(format!("spoor-bench-{}-{n}.log", std::process::id()));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let data_dir = options.storage.has_disk_data().then(|| {
            std::env::temp_dir().join(format!("spoor-bench-{}-{n}-data", std::process::id()))
        });
        let mut cmd = Command::new(&options.exe);
        // The user's SPOOR_* settings must not change what is measured.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SPOOR_") {
                cmd.env_remove(&key);
            }
        }
        let addr = |a: SocketAddr| a.to_string();
        cmd.args(["--host", "127.0.0.1"])
            .args(["--otlp-grpc-addr", &addr(otlp_grpc)])
            .args(["--jaeger-compact-addr", &addr(jaeger_compact)])
            .args(["--zipkin-addr", &addr(zipkin)])
            .args(["--query-http-addr", &addr(query_http)])
            .args(["--admin-http-addr", &addr(admin_http)]);
        for off in [
            "--otlp-http-addr",
            "--jaeger-binary-addr",
            "--jaeger-http-addr",
            "--jaeger-grpc-addr",
            "--sampling-http-addr",
            "--sampling-grpc-addr",
            "--query-grpc-addr",
        ] {
            cmd.args([off, "off"]);
        }
        cmd.args(
            options
                .storage
                .server_args(options.max_traces, data_dir.as_deref()),
        )
        .args(["--log", &options.log])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", options.exe.display()))?;
        let mut server = ChildServer {
            child,
            log_path,
            data_dir,
            otlp_grpc,
            jaeger_compact,
            zipkin,
            query_http,
            admin_http,
        };
        server.wait_ready(http).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, http: &HttpClient) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("http://{}/status", self.admin_http);
        loop {
            if let Some(status) = self.child.try_wait().context("cannot poll the child")? {
                bail!(
                    "the spoor child exited during start ({status}); its log:\n{}",
                    self.log_tail()
                );
            }
            if let Ok((200, _)) = http.get(&url).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the spoor child did not answer {url} within {START_TIMEOUT:?}; its log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The child's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds the child used so far (all threads, user + system).
    pub fn cpu_secs(&self) -> Result<f64> {
        procfs::process_cpu_secs(self.pid())
    }

    /// The child's resident memory now and at its peak.
    pub fn rss(&self) -> Result<Rss> {
        procfs::process_rss(self.pid())
    }

    /// Fails, with the child's log, when the child has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait().context("cannot poll the child")? {
            bail!(
                "the spoor child exited ({status}); its log:\n{}",
                self.log_tail()
            );
        }
        Ok(())
    }

    /// The data directory, for backends with data on disk.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// The last lines of the child's log.
    pub fn log_tail(&self) -> String {
        tail(&self.log_path, 30)
    }

    /// Spans the child's receivers accepted and wrote, summed over receivers
    /// (`spoor_receiver_accepted_spans_total`).
    pub async fn accepted_spans(&self, http: &HttpClient) -> Result<u64> {
        let text = self.metrics(http).await?;
        Ok(sum_metric(
            &text,
            "spoor_receiver_accepted_spans_total",
            None,
        ))
    }

    /// UDP datagrams the child handled, whatever became of them (stored or
    /// dropped and counted).
    pub async fn udp_datagrams_handled(&self, http: &HttpClient) -> Result<u64> {
        let text = self.metrics(http).await?;
        Ok(sum_metric(
            &text,
            "spoor_receiver_requests_total",
            Some("transport=\"udp\""),
        ))
    }

    /// Spoor's Prometheus text.
    pub async fn metrics(&self, http: &HttpClient) -> Result<String> {
        let url = format!("http://{}/metrics", self.admin_http);
        let (status, body) = http.get(&url).await?;
        if status != 200 {
            bail!("GET {url} answered {status}");
        }
        String::from_utf8(body.to_vec()).context("metrics are not UTF-8")
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log_path);
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Sums the samples of `name` (without labels or with labels containing `label`).
fn sum_metric(text: &str, name: &str, label: Option<&str>) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => {
                    let (labels, value) = r.split_once('}')?;
                    (labels, value)
                }
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            if label.is_some_and(|want| !labels.contains(want)) {
                return None;
            }
            value.trim().parse::<f64>().ok()
        })
        .map(|v| v.max(0.0) as u64)
        .sum()
}

/// Bytes of the files under `dir` (apparent sizes), recursively; 0 when it
/// does not exist. Files that vanish meanwhile (a compaction) are skipped.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn directory_sizes_are_summed_recursively() {
        let dir = std::env::temp_dir().join(format!("spoor-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("x"), [0u8; 10]).unwrap();
        std::fs::write(dir.join("a/b/y"), [0u8; 32]).unwrap();
        assert_eq!(dir_bytes(&dir), 42);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(dir_bytes(&dir), 0);
    }

    #[test]
    fn metrics_are_summed_by_name_and_label() {
        let text = "# HELP spoor_receiver_accepted_spans_total x\n\
            spoor_receiver_accepted_spans_total{receiver=\"otlp\",transport=\"grpc\",format=\"protobuf\"} 1024\n\
            spoor_receiver_accepted_spans_total{receiver=\"jaeger\",transport=\"udp\",format=\"thrift_compact\"} 10\n\
            spoor_receiver_accepted_spans_total_other 99\n\
            spoor_receiver_requests_total{receiver=\"jaeger\",transport=\"udp\",format=\"thrift_compact\",result=\"ok\"} 3\n\
            spoor_receiver_requests_total{receiver=\"jaeger\",transport=\"udp\",format=\"thrift_compact\",result=\"overloaded\"} 2\n\
            spoor_receiver_requests_total{receiver=\"otlp\",transport=\"grpc\",format=\"protobuf\",result=\"ok\"} 7\n";
        assert_eq!(
            sum_metric(text, "spoor_receiver_accepted_spans_total", None),
            1034
        );
        assert_eq!(
            sum_metric(
                text,
                "spoor_receiver_requests_total",
                Some("transport=\"udp\"")
            ),
            5
        );
        assert_eq!(sum_metric(text, "absent", None), 0);
    }
}
