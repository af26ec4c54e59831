//! A real S3-compatible object store for the tests: SeaweedFS (`weed`,
//! installed by `scripts/tools/object-store.sh`, ADR 0024) started as a
//! small cluster on 127.0.0.40: one master, three volume servers with every
//! object replicated on all three (`002`), and a filer serving the S3 API
//! with one access key. Each process gets free ports and its own folder;
//! everything is stopped and removed on drop.
//!
//! Shared by the engine's tests and the binary's end-to-end tests (included
//! with `#[path]`), std only.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The loopback address every process of the store listens on.
pub const IP: &str = "127.0.0.40";
pub const ACCESS_KEY: &str = "spoor-test-access";
pub const SECRET_KEY: &str = "spoor-test-secret-key-0123456789";
pub const REGION: &str = "us-east-1";
/// How long the cluster may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the `weed` binary is: `SPOOR_TEST_S3_SERVER` (set by
/// scripts/test.sh), else the default install of scripts/tools/object-store.sh.
/// `None` when neither exists.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SPOOR_TEST_S3_SERVER") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SPOOR_TEST_S3_SERVER={} does not exist",
            path.display()
        );
        return Some(path);
    }
    let tools = std::env::var_os("SPOOR_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/spoor-tools"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(&tools)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin/weed"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// Starts the store, or prints why the test is skipped and returns `None`
/// when `SPOOR_TEST_S3_SERVER` is unset and no installed server is found.
pub fn start_or_skip(test: &str) -> Option<S3Server> {
    match binary() {
        Some(bin) => Some(S3Server::start(&bin)),
        None => {
            eprintln!(
                "SKIPPED {test}: no S3 server: SPOOR_TEST_S3_SERVER is unset and \
                 scripts/tools/object-store.sh has not installed one (scripts/test.sh does)"
            );
            None
        }
    }
}

/// A free HTTP port and its gRPC port: SeaweedFS derives a peer's gRPC
/// port as its HTTP port + 10000 in places (the S3 gateway's filer address),
/// so both must be free and follow that rule.
fn ports() -> (u16, u16) {
    static USED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut used = USED.lock().unwrap();
    let seed = std::process::id() as u64 * 7_919 + used.len() as u64 * 104_729;
    for i in 0..2_000u64 {
        let port = 20_000 + ((seed + i * 613) % 35_000) as u16;
        if used.contains(&port) {
            continue;
        }
        let http = TcpListener::bind((IP, port));
        let grpc = TcpListener::bind((IP, port + 10_000));
        if http.is_ok() && grpc.is_ok() {
            used.push(port);
            return (port, port + 10_000);
        }
    }
    panic!("no free port pair on {IP}");
}

/// One `weed` process.
struct Node {
    name: &'static str,
    args: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
}

/// A running SeaweedFS cluster with its S3 endpoint.
pub struct S3Server {
    bin: PathBuf,
    root: PathBuf,
    nodes: Vec<Node>,
    /// `http://127.0.0.40:PORT`
    pub endpoint: String,
    master: String,
}

impl S3Server {
    /// Starts the cluster and waits until its S3 endpoint answers and the
    /// three volume servers have joined.
    pub fn start(bin: &Path) -> S3Server {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let root = std::env::temp_dir().join(format!(
            "spoor-s3-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let identities = format!(
            r#"{{"identities":[{{"name":"spoor","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        );
        let s3_config = root.join("s3.json");
        std::fs::write(&s3_config, identities).unwrap();

        let (master_port, master_grpc) = ports();
        let master = format!("{IP}:{master_port}.{master_grpc}");
        let mut nodes = Vec::new();
        let dir = |name: &str| {
            let d = root.join(name);
            std::fs::create_dir_all(&d).unwrap();
            d.display().to_string()
        };
        nodes.push(Node {
            name: "master",
            args: vec![
                "master".into(),
                format!("-ip={IP}"),
                format!("-ip.bind={IP}"),
                format!("-port={master_port}"),
                format!("-port.grpc={master_grpc}"),
                format!("-mdir={}", dir("master")),
                "-defaultReplication=002".into(),
                // It would report usage statistics to the network.
                "-telemetry=false".into(),
                "-volumeSizeLimitMB=64".into(),
            ],
            child: None,
            log: root.join("master.log"),
        });
        // Replication 002: three copies on three servers of one rack.
        for name in ["volume1", "volume2", "volume3"] {
            let (port, grpc) = ports();
            nodes.push(Node {
                name,
                args: vec![
                    "volume".into(),
                    format!("-ip={IP}"),
                    format!("-ip.bind={IP}"),
                    format!("-port={port}"),
                    format!("-port.grpc={grpc}"),
                    format!("-dir={}", dir(name)),
                    format!("-mserver={master}"),
                    "-max=20".into(),
                ],
                child: None,
                log: root.join(format!("{name}.log")),
            });
        }
        let (filer_port, filer_grpc) = ports();
        let (s3_port, s3_grpc) = ports();
        nodes.push(Node {
            name: "filer+s3",
            args: vec![
                "filer".into(),
                format!("-ip={IP}"),
                format!("-ip.bind={IP}"),
                format!("-port={filer_port}"),
                format!("-port.grpc={filer_grpc}"),
                format!("-master={master}"),
                format!("-defaultStoreDir={}", dir("filer")),
                "-s3".into(),
                format!("-s3.port={s3_port}"),
                format!("-s3.port.grpc={s3_grpc}"),
                format!("-s3.config={}", s3_config.display()),
                // Off: their fixed default ports would collide between clusters.
                "-s3.port.iceberg=0".into(),
                "-s3.port.lance=0".into(),
            ],
            child: None,
            log: root.join("filer.log"),
        });
        let mut server = S3Server {
            bin: bin.to_path_buf(),
            root,
            nodes,
            endpoint: format!("http://{IP}:{s3_port}"),
            master,
        };
        let started = Instant::now();
        for i in 0..server.nodes.len() {
            server.spawn(i);
        }
        server.wait_ready(started);
        eprintln!(
            "object store: SeaweedFS, 1 master + 3 volume servers (replication 002) + filer/S3 \
             at {}, up in {:.1} s",
            server.endpoint,
            started.elapsed().as_secs_f64()
        );
        server
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap();
        let child = Command::new(&self.bin)
            .args(&node.args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        node.child = Some(child);
    }

    fn wait_ready(&mut self, since: Instant) {
        let s3 = self.endpoint.trim_start_matches("http://").to_owned();
        let master = self.master.split('.').take(4).collect::<Vec<_>>().join(".");
        loop {
            for node in &mut self.nodes {
                if let Some(Some(status)) = node.child.as_mut().map(|c| c.try_wait().unwrap()) {
                    panic!(
                        "the object store's {} exited with {status}:\n{}",
                        node.name,
                        std::fs::read_to_string(&node.log).unwrap_or_default()
                    );
                }
            }
            let volumes = http_get(&master, "/dir/status")
                .map(|body| body.matches("\"PublicUrl\"").count())
                .unwrap_or(0);
            let s3_up = http_get(&s3, "/").is_some();
            if volumes >= 3 && s3_up {
                return;
            }
            if since.elapsed() > START_TIMEOUT {
                panic!(
                    "the object store did not come up within {START_TIMEOUT:?} \
                     ({volumes} volume servers, S3 up: {s3_up}):\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every process's log.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            out.push_str(&format!(
                "----- {} -----\n{}\n",
                node.name,
                std::fs::read_to_string(&node.log).unwrap_or_default()
            ));
        }
        out
    }

    /// Creates a bucket (through `weed shell`, as an operator would).
    pub fn create_bucket(&self, name: &str) {
        let mut shell = Command::new(&self.bin)
            .args(["shell", &format!("-master={}", self.master)])
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        shell
            .stdin
            .take()
            .unwrap()
            .write_all(format!("s3.bucket.create -name {name}\nexit\n").as_bytes())
            .unwrap();
        let out = shell.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "weed shell failed: {text}");
        assert!(
            !text.to_lowercase().contains("error"),
            "creating bucket {name}: {text}"
        );
    }

    /// The `s3://` URL of `bucket/prefix` on this server, with its endpoint.
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "s3://{bucket}/{prefix}?endpoint={}&region={REGION}&allow_http=true",
            self.endpoint
        )
    }

    /// A client of `bucket` on this server (to create what a test needs
    /// there and look at what Spoor put there).
    pub fn bucket_client(
        &self,
        bucket: &str,
    ) -> std::sync::Arc<dyn spoor_engine::object_store::ObjectStore> {
        spoor_engine::install_tls_provider();
        std::sync::Arc::new(
            spoor_engine::object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_endpoint(&self.endpoint)
                .with_region(REGION)
                .with_allow_http(true)
                .with_access_key_id(ACCESS_KEY)
                .with_secret_access_key(SECRET_KEY)
                .build()
                .expect("an S3 client of the test server"),
        )
    }

    /// The environment a client of this server needs (credentials).
    pub fn env(&self) -> [(&'static str, &'static str); 2] {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ]
    }

    fn s3_node(&self) -> usize {
        self.nodes.len() - 1
    }

    /// Stops the S3 front (filer and S3 gateway): the endpoint refuses
    /// connections until [`S3Server::resume`].
    pub fn stop_s3(&mut self) {
        let i = self.s3_node();
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the S3 front again (same ports, same metadata) and waits for it.
    pub fn resume(&mut self) {
        let i = self.s3_node();
        self.spawn(i);
        self.wait_ready(Instant::now());
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().rev() {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `GET path` over plain HTTP/1.0; the body when the server answered at all.
fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut stream =
        TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(1)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    // Read what comes until the server closes or stops sending (a server
    // may keep an HTTP/1.0 connection open).
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    while let Ok(n) = stream.read(&mut chunk) {
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    text.starts_with("HTTP/").then_some(text)
}
