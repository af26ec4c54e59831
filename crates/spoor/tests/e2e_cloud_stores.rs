//! `gs://` and `az://` blocks URLs through the real binary, each against a
//! real emulator the test starts: Google Cloud Storage through
//! fake-gcs-server (v1.56.1 with the XML API's upload in front of it,
//! `scripts/tools/fake-gcs.sh`) on 127.0.0.98, Azure Blob Storage through
//! Azurite (3.37.0, `scripts/tools/azurite.sh`) on 127.0.0.97.
//!
//! For each: the conditional writes the compactor's lease is built on
//! (create-if-absent, update-if-unchanged) are checked on the emulator
//! itself; spans sent by the OpenTelemetry SDK are cut into blocks in the
//! bucket (container) under the URL's prefix and come back, by ID and by
//! search, in a `spoor` started on a fresh data directory; then a
//! `spoor compactor` takes the lease (`spoor_engine_compactor_lease_held`
//! = 1) and renews it, a second one waits, and takes it over once the first
//! stopped.
//!
//! Skipped (with a printed reason) when `SPOOR_TEST_FAKE_GCS` /
//! `SPOOR_TEST_AZURITE` is unset and no emulator was installed under
//! `${SPOOR_TOOLS_DIR:-/var/tmp/spoor-tools}`; scripts/test.sh installs both
//! and sets them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::blocks::{now_nanos, objects, search, send_with_sdk, span_count, wait_all_cut};
use common::{Spoor, metric_value, poll_until, spoor_bin};
use spoor_engine::object_store::{
    self, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};

const GCS_HOST: &str = "127.0.0.98";
const AZURITE_HOST: &str = "127.0.0.97";
/// The bucket (container) each test writes to, and the prefix in it.
const BUCKET: &str = "spoor-e2e";
const PREFIX: &str = "tenant-a/blocks";
/// Azurite's well-known development account and its published key
/// (learn.microsoft.com, "Use the Azurite emulator").
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The compactors' lease object, at the top of the store (spoor-engine's
/// `cluster::LEASE_OBJECT`).
const LEASE: &str = "spoor-compactor-lease.json";

/// An emulator's program: `$VAR` when set (it must exist), else the path
/// the install script puts it at, else `None` (the test is skipped).
fn tool(var: &str, installed: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{var}={} does not exist", path.display());
        return Some(path);
    }
    let path = PathBuf::from(
        std::env::var("SPOOR_TOOLS_DIR").unwrap_or_else(|_| "/var/tmp/spoor-tools".into()),
    )
    .join(installed);
    path.is_file().then_some(path)
}

/// A free TCP port on `host`.
fn free_port(host: &str) -> u16 {
    TcpListener::bind((host, 0))
        .expect("bind a free port")
        .local_addr()
        .unwrap()
        .port()
}

/// A process the test started, killed on drop (its log printed when the
/// test failed).
struct Process {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &str, command: &mut Command, dir: &Path) -> Process {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, then waits for the exit (a clean shutdown).
    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let exited = poll_until(Duration::from_secs(30), || child.try_wait().ok().flatten());
            if exited.is_none() {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} did not stop within 30 s:\n{}", self.name, self.log());
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- {} log -----\n{}\n----- end of {} log -----",
                self.name,
                self.log(),
                self.name
            );
        }
    }
}

/// One emulator, started and ready, with what Spoor and the test need to
/// use its bucket.
struct Cloud {
    /// `gs` or `az`, for messages.
    scheme: &'static str,
    /// The blocks URL every `spoor` of the test gets.
    url: String,
    /// Environment of the `spoor` processes (credentials).
    env: Vec<(&'static str, String)>,
    /// The test's own client of the bucket (container), at its root.
    bucket: Arc<dyn ObjectStore>,
    _emulator: Process,
    dir: tempfile::TempDir,
}

impl Cloud {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

/// fake-gcs-server on 127.0.0.98 with the bucket created through its JSON
/// API, or `None` when it is not installed.
fn start_fake_gcs() -> Option<Cloud> {
    let Some(bin) = tool(
        "SPOOR_TEST_FAKE_GCS",
        "fake-gcs-server-v1.56.1/bin/spoor-fake-gcs",
    ) else {
        eprintln!(
            "SKIPPED e2e_cloud_stores gs://: fake-gcs-server is not installed \
             (scripts/tools/fake-gcs.sh; scripts/test.sh sets SPOOR_TEST_FAKE_GCS)"
        );
        return None;
    };
    common::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::blocking::Client::new();
    for _attempt in 0..3 {
        let port = free_port(GCS_HOST);
        let base = format!("http://{GCS_HOST}:{port}");
        let mut emulator = Process::spawn(
            "fake-gcs-server",
            Command::new(&bin).args([
                "-scheme",
                "http",
                "-host",
                GCS_HOST,
                "-port",
                &port.to_string(),
                "-public-host",
                &format!("{GCS_HOST}:{port}"),
                "-backend",
                "memory",
                "-log-level",
                "warn",
            ]),
            dir.path(),
        );
        let up = poll_until(Duration::from_secs(30), || {
            if emulator.exited().is_some() {
                return Some(false);
            }
            let r = http.get(format!("{base}/storage/v1/b")).send().ok()?;
            r.status().is_success().then_some(true)
        });
        match up {
            Some(true) => {}
            // The port was taken between picking and binding: again.
            Some(false) if emulator.log().contains("address already in use") => continue,
            _ => panic!("fake-gcs-server did not start:\n{}", emulator.log()),
        }
        let created = http
            .post(format!("{base}/storage/v1/b?project=test"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"name":"{BUCKET}"}}"#))
            .send()
            .unwrap();
        assert!(
            created.status().is_success(),
            "creating the bucket: {}",
            created.text().unwrap_or_default()
        );
        let credentials = service_account_file(dir.path());
        let bucket = object_store::gcp::GoogleCloudStorageBuilder::new()
            .with_bucket_name(BUCKET)
            .with_config("base_url".parse().unwrap(), &base)
            .with_config("allow_http".parse().unwrap(), "true")
            .with_config("application_credentials".parse().unwrap(), &credentials)
            .build()
            .unwrap();
        return Some(Cloud {
            scheme: "gs",
            url: format!("gs://{BUCKET}/{PREFIX}?base_url={base}&allow_http=true"),
            // Credentials from the standard variable, as in production.
            env: vec![("GOOGLE_APPLICATION_CREDENTIALS", credentials)],
            bucket: Arc::new(bucket),
            _emulator: emulator,
            dir,
        });
    }
    panic!("fake-gcs-server could not bind a port after 3 attempts");
}

/// A service account key file (the JSON Google hands out) with a fresh
/// RSA key made by `openssl`: object_store signs its own JWTs with it
/// (RS256, ring) and sends them as bearer tokens, asking no token server;
/// fake-gcs-server accepts any. So the credential path of production runs,
/// and no request leaves loopback (without credentials object_store would
/// ask the GCE metadata server).
fn service_account_file(dir: &Path) -> String {
    let key = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl makes the service account's RSA key");
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let document = serde_json::json!({
        "type": "service_account",
        "project_id": "spoor-e2e",
        "private_key_id": "spoor-e2e-key",
        "private_key": String::from_utf8(key.stdout).unwrap(),
        "client_email": "spoor-e2e@spoor-e2e.iam.gserviceaccount.com",
        "client_id": "1",
    });
    let path = dir.join("service-account.json");
    std::fs::write(&path, document.to_string()).unwrap();
    path.display().to_string()
}

/// Azurite's blob service on 127.0.0.97 (in memory) with the container
/// created, or `None` when it is not installed.
fn start_azurite() -> Option<Cloud> {
    let Some(bin) = tool(
        "SPOOR_TEST_AZURITE",
        "azurite-3.37.0/node_modules/.bin/azurite-blob",
    ) else {
        eprintln!(
            "SKIPPED e2e_cloud_stores az://: Azurite is not installed \
             (scripts/tools/azurite.sh; scripts/test.sh sets SPOOR_TEST_AZURITE)"
        );
        return None;
    };
    common::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::blocking::Client::new();
    for _attempt in 0..3 {
        let port = free_port(AZURITE_HOST);
        let account_url = format!("http://{AZURITE_HOST}:{port}/{AZURITE_ACCOUNT}");
        let mut emulator = Process::spawn(
            "azurite",
            Command::new(&bin).args([
                "--blobHost",
                AZURITE_HOST,
                "--blobPort",
                &port.to_string(),
                "--inMemoryPersistence",
                "--silent",
                "--disableTelemetry",
            ]),
            dir.path(),
        );
        let up = poll_until(Duration::from_secs(60), || {
            if emulator.exited().is_some() {
                return Some(false);
            }
            // Any HTTP answer means it listens (an unsigned request gets 4xx).
            http.get(&account_url).send().ok().map(|_| true)
        });
        match up {
            Some(true) => {}
            Some(false) if emulator.log().contains("EADDRINUSE") => continue,
            _ => panic!("Azurite did not start:\n{}", emulator.log()),
        }
        create_container(&http, &account_url, BUCKET);
        let bucket = object_store::azure::MicrosoftAzureBuilder::new()
            .with_config("account_name".parse().unwrap(), AZURITE_ACCOUNT)
            .with_config("access_key".parse().unwrap(), AZURITE_KEY)
            .with_config("endpoint".parse().unwrap(), &account_url)
            .with_config("allow_http".parse().unwrap(), "true")
            .with_container_name(BUCKET)
            .build()
            .unwrap();
        return Some(Cloud {
            scheme: "az",
            url: format!(
                "az://{BUCKET}/{PREFIX}?account={AZURITE_ACCOUNT}&endpoint={account_url}&allow_http=true"
            ),
            // The key from the standard variable, as in production.
            env: vec![("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY.to_owned())],
            bucket: Arc::new(bucket),
            _emulator: emulator,
            dir,
        });
    }
    panic!("Azurite could not bind a port after 3 attempts");
}

/// Creates a container with one REST request (`PUT ?restype=container`),
/// signed with the account key (Azure Storage's SharedKey scheme:
/// HMAC-SHA256 of the canonical request, base64), as object_store has no
/// call for it.
fn create_container(http: &reqwest::blocking::Client, account_url: &str, container: &str) {
    use base64::Engine as _;
    let date = httpdate::fmt_http_date(SystemTime::now());
    let version = "2021-08-06";
    // Verb, then Content-Encoding … Range (all empty here; a zero
    // Content-Length is signed as empty), the x-ms- headers sorted, and
    // the resource: the account, the URL's path, its query sorted.
    let to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n\
         /{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{container}\nrestype:container"
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(AZURITE_KEY)
        .unwrap();
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        to_sign.as_bytes(),
    );
    let signature = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
    let reply = http
        .put(format!("{account_url}/{container}?restype=container"))
        .header("x-ms-date", &date)
        .header("x-ms-version", version)
        .header("content-length", "0")
        .header(
            "authorization",
            format!("SharedKey {AZURITE_ACCOUNT}:{signature}"),
        )
        .send()
        .unwrap();
    let status = reply.status();
    assert_eq!(
        status.as_u16(),
        201,
        "creating the container: {}",
        reply.text().unwrap_or_default()
    );
}

/// The two conditional writes the compactor's lease relies on, on the
/// emulator itself: a create that fails when the object exists, and an
/// update that fails when the object changed since it was read.
fn conditional_writes_are_honoured(cloud: &Cloud) {
    let store = Arc::clone(&cloud.bucket);
    let scheme = cloud.scheme;
    common::runtime().block_on(async move {
        let path = object_store::path::Path::from("probe/conditional");
        let put = |bytes: &'static [u8], mode: PutMode| {
            let store = Arc::clone(&store);
            let path = path.clone();
            async move {
                store
                    .put_opts(
                        &path,
                        PutPayload::from_static(bytes),
                        PutOptions {
                            mode,
                            ..PutOptions::default()
                        },
                    )
                    .await
            }
        };
        put(b"first", PutMode::Create)
            .await
            .unwrap_or_else(|e| panic!("{scheme}: create of a new object: {e}"));
        match put(b"second", PutMode::Create).await {
            Err(object_store::Error::AlreadyExists { .. }) => {}
            other => panic!("{scheme}: a create over an existing object must fail: {other:?}"),
        }
        let read = store.get(&path).await.unwrap();
        let version = UpdateVersion {
            e_tag: read.meta.e_tag.clone(),
            version: read.meta.version.clone(),
        };
        assert_eq!(read.bytes().await.unwrap().as_ref(), b"first");
        put(b"third", PutMode::Update(version.clone()))
            .await
            .unwrap_or_else(|e| panic!("{scheme}: an update at the version read: {e}"));
        match put(b"fourth", PutMode::Update(version)).await {
            Err(object_store::Error::Precondition { .. }) => {}
            other => panic!("{scheme}: an update at a stale version must fail: {other:?}"),
        }
        let now = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(
            now.as_ref(),
            b"third",
            "{scheme}: the refused writes changed nothing"
        );
        store.delete(&path).await.unwrap();
    });
}

/// Blocks into the bucket and back out of it in a fresh data directory.
fn blocks_round_trip(cloud: &Cloud) {
    let scheme = cloud.scheme;
    let start = |extra: &[&str]| {
        let mut args = vec!["--blocks-url", cloud.url.as_str()];
        args.extend_from_slice(extra);
        Spoor::start_with_env(&args, &cloud.env())
    };
    let spoor = start(&["--block-cut-age", "1s"]);
    let service = format!("{scheme}-e2e-{}", std::process::id());
    let mut ids = send_with_sdk(&spoor, &service, 40, "spoor-e2e-cloud-stores");
    wait_all_cut(&spoor, Duration::from_secs(60));
    // A second round, so there are several blocks.
    ids.extend(send_with_sdk(
        &spoor,
        &service,
        40,
        "spoor-e2e-cloud-stores",
    ));
    wait_all_cut(&spoor, Duration::from_secs(60));
    let text = spoor.metrics();
    assert!(
        metric_value(&text, "spoor_engine_blocks_cut_total") >= 2.0,
        "{text}"
    );
    assert_eq!(metric_value(&text, "spoor_engine_cut_errors_total"), 0.0);

    // Every block is a folder under the prefix, published by its meta.json;
    // no upload left its WRITING marker; nothing was written elsewhere.
    let names = objects(&cloud.bucket, "");
    let metas = names.iter().filter(|n| n.ends_with("/meta.json")).count();
    assert!(metas >= 2, "{scheme}: {names:?}");
    assert!(
        names.iter().all(|n| n.starts_with(&format!("{PREFIX}/"))),
        "{scheme}: {names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with("/WRITING")), "{names:?}");
    for file in ["spans.parquet", "index.bin", "bloom.bin"] {
        assert!(
            names.iter().any(|n| n.ends_with(&format!("/{file}"))),
            "{scheme}: {file} in {names:?}"
        );
    }
    for id in &ids {
        assert_eq!(span_count(&spoor, id), 3, "{scheme}: trace {id}");
    }
    drop(spoor);

    // A new spoor with an empty data directory: everything from the bucket.
    let fresh = start(&[]);
    let text = fresh.metrics();
    assert_eq!(metric_value(&text, "spoor_engine_head_spans"), 0.0);
    assert!(metric_value(&text, "spoor_engine_blocks") >= 2.0, "{text}");
    for id in &ids {
        assert_eq!(
            span_count(&fresh, id),
            3,
            "{scheme}: trace {id} after the restart"
        );
    }
    let expected: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(search(&fresh, &service), expected, "{scheme}");
}

/// `spoor compactor NAME` on the cloud's store; `--admin-http-addr` on a
/// free loopback port.
fn compactor(cloud: &Cloud, name: &str) -> (Process, String) {
    let port = free_port("127.0.0.1");
    let data_dir = cloud.dir.path().join(name);
    let url = cloud.url.clone();
    let admin = format!("127.0.0.1:{port}");
    let mut command = Command::new(spoor_bin());
    command
        .args(["compactor", "--host", "127.0.0.1", "--log", "info"])
        .args(["--admin-http-addr", &admin])
        .args(["--data-dir", &data_dir.display().to_string()])
        .args(["--blocks-url", &url])
        .args(["--node-id", name])
        .args(["--block-refresh-interval", "1s"])
        .args(["--compactor-lease", "3s"])
        .args(["--delete-delay", "5s"])
        .env_remove("SPOOR_CONFIG")
        .env_remove("SPOOR_HOST")
        .env_remove("SPOOR_BLOCKS_URL")
        .env_remove("SPOOR_NODE_ID")
        .envs(cloud.env.iter().map(|(k, v)| (*k, v.as_str())));
    let mut process = Process::spawn(name, &mut command, cloud.dir.path());
    let metrics_url = format!("http://{admin}/metrics");
    let up = poll_until(Duration::from_secs(60), || {
        if let Some(status) = process.exited() {
            panic!("{name} exited with {status}:\n{}", process.log());
        }
        let r = reqwest::blocking::get(format!("http://{admin}/status")).ok()?;
        (r.status().as_u16() == 200).then_some(())
    });
    assert!(up.is_some(), "{name} not healthy:\n{}", process.log());
    (process, metrics_url)
}

fn lease_held(metrics_url: &str) -> f64 {
    let text = reqwest::blocking::get(metrics_url)
        .and_then(|r| r.text())
        .unwrap_or_default();
    metric_value(&text, "spoor_engine_compactor_lease_held")
}

/// The lease document in the store: holder and expiry.
fn lease(cloud: &Cloud) -> (String, u64) {
    let store = Arc::clone(&cloud.bucket);
    let bytes = common::runtime().block_on(async move {
        let path = object_store::path::Path::from(format!("{PREFIX}/{LEASE}"));
        store.get(&path).await.unwrap().bytes().await.unwrap()
    });
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    (
        doc["holder"].as_str().unwrap().to_owned(),
        doc["expires_unix_nano"].as_u64().unwrap(),
    )
}

/// A compactor takes the lease and renews it; a second waits, and takes
/// it over once the first stopped (and released it).
fn the_compactor_lease_works(cloud: &Cloud) {
    let scheme = cloud.scheme;
    let (mut k1, k1_metrics) = compactor(cloud, "k1");
    poll_until(Duration::from_secs(30), || {
        (lease_held(&k1_metrics) == 1.0).then_some(())
    })
    .unwrap_or_else(|| panic!("{scheme}: k1 did not take the lease:\n{}", k1.log()));
    let (holder, first_expiry) = lease(cloud);
    assert_eq!(holder, "k1");
    assert!(first_expiry > now_nanos(), "{scheme}: an unexpired lease");

    let (mut k2, k2_metrics) = compactor(cloud, "k2");
    // Renewed every second (a third of the 3 s lease): the expiry moves on,
    // through updates conditional on the version read.
    std::thread::sleep(Duration::from_secs(4));
    let (holder, later_expiry) = lease(cloud);
    assert_eq!(holder, "k1", "{scheme}: k1 keeps the lease");
    assert!(
        later_expiry > first_expiry,
        "{scheme}: the lease was renewed ({first_expiry} → {later_expiry}):\n{}",
        k1.log()
    );
    assert_eq!(lease_held(&k1_metrics), 1.0, "{scheme}:\n{}", k1.log());
    assert_eq!(
        lease_held(&k2_metrics),
        0.0,
        "{scheme}: k2 waits:\n{}",
        k2.log()
    );

    // k1 stops cleanly and gives the lease up: k2 takes it at its next try.
    k1.terminate();
    poll_until(Duration::from_secs(15), || {
        (lease_held(&k2_metrics) == 1.0).then_some(())
    })
    .unwrap_or_else(|| panic!("{scheme}: k2 did not take the lease over:\n{}", k2.log()));
    assert_eq!(lease(cloud).0, "k2");
    for process in [&k1, &k2] {
        let log = process.log();
        assert!(
            !log.contains("cannot read or renew the compactor lease")
                && !log.contains("cannot release the compactor lease"),
            "{scheme}: {} had lease errors:\n{log}",
            process.name
        );
    }
    k2.terminate();
}

#[test]
fn gs_blocks_live_in_fake_gcs_and_the_compactor_lease_works() {
    let Some(cloud) = start_fake_gcs() else {
        return;
    };
    conditional_writes_are_honoured(&cloud);
    blocks_round_trip(&cloud);
    the_compactor_lease_works(&cloud);
}

#[test]
fn az_blocks_live_in_azurite_and_the_compactor_lease_works() {
    let Some(cloud) = start_azurite() else {
        return;
    };
    conditional_writes_are_honoured(&cloud);
    blocks_round_trip(&cloud);
    the_compactor_lease_works(&cloud);
}
