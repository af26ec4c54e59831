//! A `spoor` with TLS on every TCP listener, for the TLS tests: the test
//! PKI's server certificate given with `--tls-cert-file`/`--tls-key-file`,
//! every TCP listener on a free port of the test's loopback address, the UDP
//! receivers off; ready once `GET /status` answers over HTTPS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pki::{CertFiles, Pki};

/// The TCP listeners started, by flag name (`--KEY-addr`).
pub const TCP_LISTENERS: [&str; 10] = [
    "otlp-grpc",
    "otlp-http",
    "query-http",
    "admin-http",
    "jaeger-http",
    "jaeger-grpc",
    "zipkin",
    "sampling-http",
    "sampling-grpc",
    "query-grpc",
];

/// The running binary, killed on drop (its log printed when a test fails).
pub struct TlsSpoor {
    child: Child,
    log: tempfile::NamedTempFile,
    _data: tempfile::TempDir,
    addrs: BTreeMap<&'static str, SocketAddr>,
    /// Trusts the test CA, and presents the identity given at start.
    pub https: reqwest::blocking::Client,
}

/// A blocking HTTPS client trusting only `pki`'s CA, presenting `identity`
/// when given.
pub fn https_client(pki: &Pki, identity: Option<&CertFiles>) -> reqwest::blocking::Client {
    super::install_tls_provider();
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let mut b = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .tls_certs_only([ca]);
    if let Some(id) = identity {
        b = b.identity(reqwest::Identity::from_pem(&id.identity_pem()).unwrap());
    }
    b.build().unwrap()
}

impl TlsSpoor {
    /// Starts the binary on `ip` with `pki`'s server certificate and `extra`
    /// arguments; waits until `GET /status` answers 200 over HTTPS (with
    /// `identity` when mTLS requires one).
    pub fn start(ip: &str, pki: &Pki, extra: &[&str], identity: Option<&CertFiles>) -> TlsSpoor {
        for _ in 0..3 {
            if let Some(s) = Self::try_start(ip, pki, extra, identity) {
                return s;
            }
        }
        panic!("spoor could not bind its ports after 3 attempts");
    }

    fn try_start(
        ip: &str,
        pki: &Pki,
        extra: &[&str],
        identity: Option<&CertFiles>,
    ) -> Option<TlsSpoor> {
        let sockets: Vec<std::net::TcpListener> = TCP_LISTENERS
            .iter()
            .map(|_| std::net::TcpListener::bind((ip, 0)).expect("bind a free port"))
            .collect();
        let addrs: BTreeMap<&'static str, SocketAddr> = TCP_LISTENERS
            .iter()
            .zip(&sockets)
            .map(|(k, s)| (*k, s.local_addr().unwrap()))
            .collect();
        drop(sockets);
        let log = tempfile::NamedTempFile::new().unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(super::spoor_bin());
        for (k, a) in &addrs {
            cmd.arg(format!("--{k}-addr")).arg(a.to_string());
        }
        cmd.args([
            "--jaeger-compact-addr",
            "off",
            "--jaeger-binary-addr",
            "off",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--log", "info"])
        .arg("--tls-cert-file")
        .arg(&pki.server.cert_file)
        .arg("--tls-key-file")
        .arg(&pki.server.key_file)
        .args(extra)
        .env_remove("SPOOR_CONFIG")
        .env_remove("SPOOR_HOST")
        .env_remove("SPOOR_LOG")
        .env_remove("SPOOR_STORAGE")
        .env_remove("SPOOR_DATA_DIR")
        .env_remove("SPOOR_BLOCKS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log.reopen().unwrap()));
        let child = cmd.spawn().expect("spawn spoor");
        let mut spoor = TlsSpoor {
            child,
            log,
            _data: data,
            addrs,
            https: https_client(pki, identity),
        };
        let url = spoor.url("admin-http", "/status");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(exit) = spoor.child.try_wait().unwrap() {
                let log = spoor.log();
                if log.contains("cannot listen on") {
                    return None;
                }
                panic!("spoor exited with {exit}:\n{log}");
            }
            if let Ok(r) = spoor.https.get(&url).send()
                && r.status() == 200
            {
                return Some(spoor);
            }
            assert!(
                Instant::now() < deadline,
                "{url} did not answer over HTTPS:\n{}",
                spoor.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address of a listener, by flag name (`otlp-grpc`, `admin-http`, …).
    pub fn addr(&self, listener: &str) -> SocketAddr {
        self.addrs[listener]
    }

    /// `https://ADDR{path}` of a listener.
    pub fn url(&self, listener: &str, path: &str) -> String {
        format!("https://{}{path}", self.addr(listener))
    }

    /// What the binary logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// `GET /metrics` over HTTPS.
    pub fn metrics(&self) -> String {
        self.https
            .get(self.url("admin-http", "/metrics"))
            .send()
            .expect("GET /metrics")
            .text()
            .unwrap()
    }
}

impl Drop for TlsSpoor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- spoor log -----\n{}\n-----", self.log());
        }
    }
}
