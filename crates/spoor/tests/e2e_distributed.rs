//! The distributed roles as separate `spoor` processes (ADR 0025): two
//! collectors, two queriers and a compactor, each on its own loopback
//! address with the roles' default ports, sharing one block store — the
//! real S3-compatible store (SeaweedFS, three volume servers; see
//! `common::s3_server`) when one is installed, else a shared folder.
//!
//! - Jaeger's storage conformance suite passes through each querier, with
//!   every fixture trace split between the two collectors: while the spans
//!   are in the collectors' heads, after they were cut into blocks, and
//!   after the compactor merged those blocks (no span lost or doubled).
//! - Faults, each counted: a collector killed with SIGKILL mid-ingest and
//!   restarted (every acknowledged span is found through both queriers); a
//!   querier killed (the other answers everything); a collector down (the
//!   queriers answer with the rest and say which collector is missing); the
//!   compactor killed in the middle of a compaction, while its
//!   `spoor_engine_compaction_running` says so (its merged block is not
//!   published; a second takes the lease over once it expires and redoes
//!   the merge; nothing is lost or doubled; abandoned uploads are never
//!   read, counted, and removed once an hour old); with the real object
//!   store, the store stopped for 30 s mid-ingest (the collectors keep
//!   acknowledging, one on a 2 MiB backlog budget until it answers 429 /
//!   RESOURCE_EXHAUSTED, the queriers answer from their heads and pending
//!   blocks, and every acknowledged span is found once the store is back,
//!   when the refusing collector accepts again).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::conformance::{check_all, fixture_span_counts, load};
use common::s3_server::{self, S3Server};
use common::{metric_value, poll_until, spoor_bin, urlencode};
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;

/// One `spoor <role>` process on its own loopback address.
struct Role {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    host: &'static str,
    admin_port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Role {
    fn start(
        name: &str,
        role: &str,
        host: &'static str,
        admin_port: u16,
        args: &[String],
        env: &[(String, String)],
        log_dir: &Path,
    ) -> Role {
        let mut all = vec![
            role.to_owned(),
            "--host".to_owned(),
            host.to_owned(),
            "--log".to_owned(),
            "info".to_owned(),
        ];
        all.extend_from_slice(args);
        let mut process = Role {
            name: name.to_owned(),
            args: all,
            env: env.to_vec(),
            host,
            admin_port,
            child: None,
            log: log_dir.join(format!("{name}.log")),
        };
        process.spawn();
        process
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(spoor_bin())
            .args(&self.args)
            .env_remove("SPOOR_CONFIG")
            .env_remove("SPOOR_HOST")
            .env_remove("SPOOR_BLOCKS_URL")
            .env_remove("SPOOR_COLLECTORS")
            .env_remove("SPOOR_NODE_ID")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn spoor");
        self.child = Some(child);
        let url = self.url(self.admin_port, "/status");
        let up = poll_until(Duration::from_secs(60), || {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("{} exited with {status}:\n{}", self.name, self.log());
            }
            let resp = reqwest::blocking::get(&url).ok()?;
            (resp.status().as_u16() == 200).then_some(())
        });
        assert!(
            up.is_some(),
            "{} not healthy on {url}:\n{}",
            self.name,
            self.log()
        );
    }

    fn url(&self, port: u16, path: &str) -> String {
        format!("http://{}:{port}{path}", self.host)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn metrics(&self) -> String {
        reqwest::blocking::get(self.url(self.admin_port, "/metrics"))
            .and_then(|r| r.text())
            .unwrap_or_default()
    }

    fn sigkill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        self.sigkill();
        if std::thread::panicking() {
            eprintln!("----- {} log -----\n{}\n-----", self.name, self.log());
        }
    }
}

/// The shared store: the real object store, or a folder.
struct Store {
    url: String,
    env: Vec<(String, String)>,
    server: Option<S3Server>,
}

fn store(root: &Path) -> Store {
    match s3_server::binary() {
        Some(bin) => {
            let server = S3Server::start(&bin);
            server.create_bucket("spoor-distributed");
            Store {
                url: server.url("spoor-distributed", "prod/blocks"),
                env: server
                    .env()
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                server: Some(server),
            }
        }
        None => {
            eprintln!(
                "e2e_distributed: no S3 server installed (scripts/test.sh installs one); \
                 the roles share a folder instead"
            );
            let dir = root.join("bucket");
            std::fs::create_dir_all(&dir).unwrap();
            Store {
                url: format!("file://{}", dir.display()),
                env: Vec::new(),
                server: None,
            }
        }
    }
}

const C1: &str = "127.0.0.91";
const C2: &str = "127.0.0.92";
const Q1: &str = "127.0.0.93";
const Q2: &str = "127.0.0.94";
const K1: &str = "127.0.0.95";
const K2: &str = "127.0.0.96";

struct Cluster {
    store: Store,
    collectors: Vec<Role>,
    queriers: Vec<Role>,
    /// Dropped last: the roles' logs (printed when a test fails) are in it.
    root: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        Cluster::start_with_cut_age("3s")
    }

    /// The cluster with the collectors cutting blocks at `cut_age`.
    fn start_with_cut_age(cut_age: &str) -> Cluster {
        common::install_tls_provider();
        let root = tempfile::tempdir().unwrap();
        let store = store(root.path());
        let collectors = [("c1", C1), ("c2", C2)]
            .into_iter()
            .map(|(name, host)| collector(&root, &store, name, host, cut_age))
            .collect();
        let queriers = [("q1", Q1), ("q2", Q2)]
            .into_iter()
            .map(|(name, host)| {
                Role::start(
                    name,
                    "query",
                    host,
                    16687,
                    &args(&[
                        ("--data-dir", root.path().join(name).display().to_string()),
                        ("--blocks-url", store.url.clone()),
                        ("--collectors", format!("{C1}:14300,{C2}:14300")),
                        ("--block-refresh-interval", "1s".into()),
                    ]),
                    &store.env,
                    root.path(),
                )
            })
            .collect();
        Cluster {
            root,
            store,
            collectors,
            queriers,
        }
    }

    fn compactor(&self, name: &str, host: &'static str) -> Role {
        Role::start(
            name,
            "compactor",
            host,
            16688,
            &args(&[
                (
                    "--data-dir",
                    self.root.path().join(name).display().to_string(),
                ),
                ("--blocks-url", self.store.url.clone()),
                ("--node-id", name.to_owned()),
                ("--block-refresh-interval", "1s".into()),
                ("--compactor-lease", "4s".into()),
                ("--delete-delay", "5s".into()),
            ]),
            &self.store.env,
            self.root.path(),
        )
    }

    /// Traces (ID → span count) a querier returns for `service`.
    fn found(&self, querier: &Role, service: &str) -> (BTreeMap<String, usize>, serde_json::Value) {
        let url = querier.url(
            16686,
            &format!("/api/traces?service={service}&limit=1500&lookback=2d"),
        );
        let body: serde_json::Value = reqwest::blocking::get(&url).unwrap().json().unwrap();
        (common::legacy_span_counts(&body), body["errors"].clone())
    }
}

fn collector(
    root: &tempfile::TempDir,
    store: &Store,
    name: &str,
    host: &'static str,
    cut_age: &str,
) -> Role {
    Role::start(
        name,
        "collector",
        host,
        13133,
        &args(&[
            ("--data-dir", root.path().join(name).display().to_string()),
            ("--blocks-url", store.url.clone()),
            ("--node-id", name.to_owned()),
            ("--block-cut-age", cut_age.into()),
        ]),
        &store.env,
        root.path(),
    )
}

fn args(pairs: &[(&str, String)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| [(*k).to_owned(), v.clone()])
        .collect()
}

fn conformance_through(
    cluster: &Cluster,
    fixtures: &spoor_storage::conformance::Fixtures,
    when: &str,
) {
    for q in &cluster.queriers {
        let failures = check_all(&q.url(16686, ""), fixtures, |url| {
            let resp = reqwest::blocking::get(url).unwrap();
            let status = resp.status().as_u16();
            (status, resp.json().unwrap())
        });
        assert!(
            failures.is_empty(),
            "{when}, through {}: {} conformance failures:\n{}",
            q.name,
            failures.len(),
            failures.join("\n")
        );
    }
}

/// RED statistics through each querier count every fixture span once,
/// wherever it is (a collector's head, a block, or cut in between): per
/// service, the calls of `/api/metrics/calls` over hour windows (`step` =
/// `ratePer` = 1 h, so each point is that hour's calls per second) add up
/// to the fixture's spans of the service.
fn red_through(cluster: &Cluster, fixtures: &spoor_storage::conformance::Fixtures, when: &str) {
    const HOUR_MS: u64 = 3_600_000;
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let (mut min, mut max) = (u64::MAX, 0);
    for batch in fixtures.traces.values() {
        for r in &batch.spans {
            *expected.entry(r.service_name().to_owned()).or_default() += 1;
            min = min.min(r.span.start_time_unix_nano / 1_000_000);
            max = max.max(r.span.start_time_unix_nano / 1_000_000);
        }
    }
    let end = (max / HOUR_MS + 2) * HOUR_MS;
    let lookback = end - (min / HOUR_MS) * HOUR_MS;
    for q in &cluster.queriers {
        let mut got: BTreeMap<String, u64> = BTreeMap::new();
        for service in expected.keys() {
            let url = q.url(
                16686,
                &format!(
                    "/api/metrics/calls?service={}&endTs={end}&lookback={lookback}&step={HOUR_MS}\
                     &ratePer={HOUR_MS}&spanKind=unspecified&spanKind=internal&spanKind=server\
                     &spanKind=client&spanKind=producer&spanKind=consumer",
                    urlencode(service)
                ),
            );
            let body: serde_json::Value = reqwest::blocking::get(&url).unwrap().json().unwrap();
            let per_second: f64 = body["metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|m| m["metricPoints"].as_array().into_iter().flatten())
                .filter_map(|p| p["gaugeValue"]["doubleValue"].as_f64())
                .sum();
            got.insert(service.clone(), (per_second * 3_600.0).round() as u64);
        }
        assert_eq!(
            got, expected,
            "{when}, through {}: RED calls per service differ from the spans sent",
            q.name
        );
    }
}

#[test]
fn distributed_roles_answer_like_all_in_one_and_survive_faults() {
    let fixtures = load();
    let cluster = Cluster::start();

    // Every fixture trace split between the two collectors: its first half
    // of spans to c1 over OTLP gRPC, the rest to c2 over OTLP HTTP.
    send_split(&fixtures);
    // 1. From the collectors' heads, the moment they acknowledged.
    conformance_through(&cluster, &fixtures, "heads");
    red_through(&cluster, &fixtures, "heads");

    // 2. Cut into blocks in the store (the cut age is 3 s).
    for c in &cluster.collectors {
        let cut = poll_until(Duration::from_secs(60), || {
            (metric_value(&c.metrics(), "spoor_engine_blocks_cut_total") >= 1.0).then_some(())
        });
        assert!(cut.is_some(), "{} cut no block:\n{}", c.name, c.log());
    }
    conformance_through(&cluster, &fixtures, "blocks");
    red_through(&cluster, &fixtures, "blocks");

    // The same spans again (a sender's retry): a second block in each
    // collector, read without doubling anything.
    send_split(&fixtures);
    for c in &cluster.collectors {
        let cut = poll_until(Duration::from_secs(60), || {
            (metric_value(&c.metrics(), "spoor_engine_blocks_cut_total") >= 2.0).then_some(())
        });
        assert!(
            cut.is_some(),
            "{} cut no second block:\n{}",
            c.name,
            c.log()
        );
    }
    conformance_through(&cluster, &fixtures, "blocks sent twice");

    // 3. Merged by the compactor: c1's and c2's blocks of the same hour
    //    become one, and the queriers read it instead of its sources.
    let mut k1 = cluster.compactor("k1", K1);
    let compacted = poll_until(Duration::from_secs(60), || {
        (metric_value(&k1.metrics(), "spoor_engine_blocks_compacted_total") >= 1.0).then_some(())
    });
    assert!(compacted.is_some(), "k1 compacted nothing:\n{}", k1.log());
    for q in &cluster.queriers {
        // A refresh (1 s) later the querier reads the blocks the compactor
        // keeps, not the sources it replaced.
        let refreshed = poll_until(Duration::from_secs(30), || {
            let live = metric_value(&k1.metrics(), "spoor_engine_blocks");
            (metric_value(&q.metrics(), "spoor_engine_blocks") == live && live < 4.0).then_some(())
        });
        assert!(
            refreshed.is_some(),
            "{} still reads the compacted sources:\n{}",
            q.name,
            q.metrics()
        );
    }
    for q in &cluster.queriers {
        // Its block list now comes from the bucket index k1 writes.
        let indexed = poll_until(Duration::from_secs(30), || {
            (metric_value(&q.metrics(), "spoor_engine_bucket_index_used_total") >= 1.0)
                .then_some(())
        });
        assert!(
            indexed.is_some(),
            "{} never read the bucket index:\n{}",
            q.name,
            q.metrics()
        );
    }
    conformance_through(&cluster, &fixtures, "compacted");
    assert!(
        fixture_span_counts(&fixtures).len() > 10,
        "the suite covers many traces"
    );

    faults(cluster, &mut k1);
}

/// Every fixture trace split between the two collectors: its first half of
/// spans to c1 over OTLP gRPC, the rest to c2 over OTLP HTTP protobuf.
fn send_split(fixtures: &spoor_storage::conformance::Fixtures) {
    for batch in fixtures.traces.values() {
        let half = batch.spans.len().div_ceil(2);
        let (first, rest) = batch.spans.split_at(half);
        common::grpc_export(
            &format!("http://{C1}:4317"),
            spoor_codec::otlp::to_request(first),
        )
        .unwrap();
        if !rest.is_empty() {
            let resp = reqwest::blocking::Client::new()
                .post(format!("http://{C2}:4318/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(spoor_codec::otlp::encode_request(rest))
                .send()
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
        }
    }
}

/// Trace `n` of `service`: `spans` spans, a root and its children, now.
fn numbered_trace(service: &str, n: u64, spans: u64) -> Vec<spoor_model::SpanRecord> {
    trace_of(service, 0xd15, n, spans, now_nanos(), None)
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Trace (`high`, `n`) of `service`: `spans` spans, a root and its
/// children, starting at `start` (Unix nanoseconds); with `payload`, each
/// span has a few attributes plus a string attribute of that many bytes.
fn trace_of(
    service: &str,
    high: u64,
    n: u64,
    spans: u64,
    start: u64,
    payload: Option<usize>,
) -> Vec<spoor_model::SpanRecord> {
    let resource = Arc::new(spoor_model::Resource {
        attributes: vec![spoor_model::KeyValue::str("service.name", service)],
        ..spoor_model::Resource::default()
    });
    let scope = Arc::new(spoor_model::Scope::default());
    let trace_id = spoor_model::TraceId::from_halves(high, n + 1);
    (0..spans)
        .map(|i| {
            let attributes = match payload {
                None => Vec::new(),
                Some(bytes) => vec![
                    spoor_model::KeyValue::str("http.method", "GET"),
                    spoor_model::KeyValue::str("http.route", format!("/items/{}", i % 7)),
                    spoor_model::KeyValue::new("span.index", spoor_model::AnyValue::Int(i as i64)),
                    spoor_model::KeyValue::str(
                        "payload",
                        format!("{n:08}-{i:06}|").repeat(bytes / 16 + 1)[..bytes].to_owned(),
                    ),
                ],
            };
            spoor_model::SpanRecord {
                resource: Arc::clone(&resource),
                scope: Arc::clone(&scope),
                span: spoor_model::Span {
                    trace_id,
                    span_id: spoor_model::SpanId((i + 1).to_be_bytes()),
                    parent_span_id: if i > 0 {
                        spoor_model::SpanId(1u64.to_be_bytes())
                    } else {
                        spoor_model::SpanId::default()
                    },
                    name: format!("op-{i}"),
                    start_time_unix_nano: start + i * 1_000,
                    end_time_unix_nano: start + i * 1_000 + 500,
                    attributes,
                    ..spoor_model::Span::default()
                },
                warnings: Vec::new(),
            }
        })
        .collect()
}

/// Sends `traces` two-span traces of `service` through the OpenTelemetry
/// SDK to `collector` and returns their IDs (flushed: acknowledged).
fn send_with_sdk(collector: &str, service: &str, traces: usize) -> Vec<String> {
    let rt = common::runtime();
    let provider = common::otlp_grpc_provider(
        &rt,
        format!("http://{collector}:4317"),
        Resource::builder()
            .with_service_name(service.to_owned())
            .build(),
    );
    let tracer = provider.tracer("spoor-e2e-distributed");
    let mut ids = Vec::new();
    for i in 0..traces {
        let root = tracer
            .span_builder(format!("GET /item/{i}"))
            .with_attributes(vec![KeyValue::new("item.id", i as i64)])
            .start_with_context(&tracer, &Context::new());
        let cx = Context::new().with_span(root);
        ids.push(cx.span().span_context().trace_id().to_string());
        drop(tracer.span_builder("db").start_with_context(&tracer, &cx));
    }
    provider
        .force_flush()
        .expect("the SDK's export was acknowledged");
    provider.shutdown().expect("shut the SDK down");
    ids
}

fn faults(mut cluster: Cluster, k1: &mut Role) {
    // A collector killed with SIGKILL in the middle of ingest: every batch
    // it acknowledged survives its restart (WAL replay, then upload).
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let acknowledged = Arc::clone(&acknowledged);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let spans = numbered_trace("kill-test", n, 4);
                let id = spans[0].span.trace_id.to_hex();
                let request = spoor_codec::otlp::to_request(&spans);
                if common::grpc_export(&format!("http://{C1}:4317"), request).is_ok() {
                    acknowledged.lock().unwrap().push(id);
                }
                n += 1;
            }
        })
    };
    poll_until(Duration::from_secs(30), || {
        (acknowledged.lock().unwrap().len() >= 50).then_some(())
    })
    .expect("c1 acknowledged batches");
    cluster.collectors[0].sigkill();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let acked: Vec<String> = acknowledged.lock().unwrap().clone();

    // While c1 is down the queriers answer with c2 and the store, and say
    // which collector they could not reach.
    let (_, errors) = cluster.found(&cluster.queriers[0], "kill-test");
    let text = errors.to_string();
    assert!(text.contains(&format!("collector {C1}:14300")), "{text}");

    cluster.collectors[0].spawn();
    for q in &cluster.queriers {
        let all = poll_until(Duration::from_secs(30), || {
            let (found, _) = cluster.found(q, "kill-test");
            acked
                .iter()
                .all(|id| found.get(&common::canonical_trace_id(id)) == Some(&4))
                .then_some(found.len())
        });
        assert!(
            all.is_some(),
            "{}: not every acknowledged trace (of {}) is found complete after c1's restart",
            q.name,
            acked.len()
        );
    }
    eprintln!(
        "e2e_distributed: {} traces acknowledged before SIGKILL, all found through both queriers",
        acked.len()
    );

    // The real SDK through c2; then q1 is killed and q2 answers everything.
    let sdk_ids = send_with_sdk(C2, "sdk-service", 20);
    cluster.queriers[0].sigkill();
    let (found, errors) = cluster.found(&cluster.queriers[1], "sdk-service");
    assert!(errors.is_null(), "{errors}");
    for id in &sdk_ids {
        assert_eq!(found.get(&common::canonical_trace_id(id)), Some(&2), "{id}");
    }

    cluster.queriers[0].spawn();

    // The compactor killed in the middle of a compaction: a second one
    // waits for the lease to expire, takes it over and does the work again;
    // nothing is lost or doubled.
    let k2 = compactor_killed_mid_compaction(&cluster, k1);
    // Every acknowledged trace is there; a batch written before the kill
    // of c1 but whose answer was lost with the connection may be there too
    // (an unacknowledged write may or may not be stored).
    for q in &cluster.queriers {
        let (found, _) = cluster.found(q, "kill-test");
        for id in &acked {
            assert_eq!(
                found.get(&common::canonical_trace_id(id)),
                Some(&4),
                "{}: acknowledged trace {id} after the compactors changed hands",
                q.name
            );
        }
        assert!(
            found.len() <= acked.len() + 1,
            "{}: {} found, {} acknowledged",
            q.name,
            found.len(),
            acked.len()
        );
        assert!(
            found.values().all(|n| *n == 4),
            "{}: no span doubled: {found:?}",
            q.name
        );
    }

    if cluster.store.server.is_some() {
        object_store_outage(&mut cluster);
    }
    drop(k2);
}

/// Sends `signal` (`STOP`, `CONT`) to a role's process.
fn signal(role: &Role, signal: &str) {
    let pid = role.child.as_ref().expect("the role runs").id().to_string();
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {}", role.name);
}

/// One block folder of the shared store.
#[derive(Debug)]
struct StoredBlock {
    /// Its `meta.json`, when it has one (a complete block).
    meta: Option<serde_json::Value>,
    /// It holds the `WRITING` marker.
    writing: bool,
}

/// The shared store, as an object-store client sees it.
fn store_client(cluster: &Cluster) -> Arc<dyn spoor_engine::object_store::ObjectStore> {
    use spoor_engine::object_store;
    match &cluster.store.server {
        Some(server) => Arc::new(object_store::prefix::PrefixStore::new(
            server.bucket_client("spoor-distributed"),
            "prod/blocks",
        )),
        None => {
            let dir = cluster.store.url.trim_start_matches("file://");
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap())
        }
    }
}

/// Every block folder of the shared store.
fn store_blocks(cluster: &Cluster) -> BTreeMap<String, StoredBlock> {
    use futures::TryStreamExt;
    use spoor_engine::object_store::ObjectStoreExt;
    let store = store_client(cluster);
    common::runtime().block_on(async move {
        let objects: Vec<_> = store.list(None).try_collect().await.unwrap();
        let mut blocks: BTreeMap<String, StoredBlock> = BTreeMap::new();
        for o in objects {
            let path = o.location.to_string();
            let Some((id, file)) = path.split_once('/') else {
                continue; // the lease, at the top
            };
            let entry = blocks.entry(id.to_owned()).or_insert(StoredBlock {
                meta: None,
                writing: false,
            });
            match file {
                "meta.json" => {
                    let bytes = store.get(&o.location).await.unwrap().bytes().await.unwrap();
                    entry.meta = Some(serde_json::from_slice(&bytes).unwrap());
                }
                "WRITING" => entry.writing = true,
                _ => {}
            }
        }
        blocks
    })
}

/// Puts an upload that never finished into the store, as a process killed
/// mid-upload leaves it: the `WRITING` marker and a data file, no `meta.json`.
fn plant_abandoned_upload(cluster: &Cluster, id: &str) {
    use spoor_engine::object_store::ObjectStoreExt;
    use spoor_engine::object_store::path::Path as ObjectPath;
    let store = store_client(cluster);
    let id = id.to_owned();
    common::runtime().block_on(async move {
        store
            .put(
                &ObjectPath::from(format!("{id}/WRITING")),
                Vec::new().into(),
            )
            .await
            .unwrap();
        store
            .put(
                &ObjectPath::from(format!("{id}/spans.parquet")),
                vec![7u8; 4096].into(),
            )
            .await
            .unwrap();
    });
}

fn has_service(meta: &serde_json::Value, service: &str) -> bool {
    meta["services"]
        .as_array()
        .is_some_and(|s| s.iter().any(|v| v == service))
}

/// Traces of the mid-compaction kill: `COMPACTION_TRACES` traces of
/// `COMPACTION_SPANS` spans, stamped five hours ago (a closed compaction
/// window: two blocks cut from heads are merged at once).
const COMPACTION_TRACES: u64 = 600;
const COMPACTION_SPANS: u64 = 100;

/// The compactor killed in the middle of a compaction. k1 is paused
/// (SIGSTOP) while both collectors cut blocks of old spans (every trace
/// split between them), so that it finds them in one listing; resumed, it
/// starts merging them — `spoor_engine_compaction_running` is 1 with their
/// span count — and is killed with SIGKILL right then. The merged block
/// was not published: every source is still in the store and no block
/// replaces them. k2 waits for the lease to expire, takes it over, merges
/// the same blocks and publishes the result; both queriers then find every
/// trace complete with no span doubled. An upload abandoned by a killed
/// compactor (planted: the marker and a file, no `meta.json`) is never
/// read by the queriers and is counted by them and by k2, which removes
/// it once an hour old (one planted with an ID two hours old is removed).
fn compactor_killed_mid_compaction(cluster: &Cluster, k1: &mut Role) -> Role {
    assert_eq!(
        metric_value(&k1.metrics(), "spoor_engine_compactor_lease_held"),
        1.0,
        "k1 holds the lease"
    );
    // The collectors' heads are cut first, so that the blocks below hold
    // only the old spans (a block's compaction window is its latest span's).
    for c in &cluster.collectors {
        let empty = poll_until(Duration::from_secs(30), || {
            (metric_value(&c.metrics(), "spoor_engine_head_spans") == 0.0).then_some(())
        });
        assert!(
            empty.is_some(),
            "{} never cut its head:\n{}",
            c.name,
            c.log()
        );
    }
    signal(k1, "STOP");
    let started = Instant::now();
    let cut_before: Vec<f64> = cluster
        .collectors
        .iter()
        .map(|c| metric_value(&c.metrics(), "spoor_engine_blocks_cut_total"))
        .collect();
    let at = now_nanos() - 5 * 3_600 * 1_000_000_000;
    let mut ids = Vec::new();
    for first in (0..COMPACTION_TRACES).step_by(20) {
        let mut halves: [Vec<spoor_model::SpanRecord>; 2] = [Vec::new(), Vec::new()];
        for n in first..first + 20 {
            let spans = trace_of(
                "compaction-kill",
                0xc0,
                n,
                COMPACTION_SPANS,
                at + n * 1_000_000,
                Some(64),
            );
            ids.push(spans[0].span.trace_id.to_hex());
            let (a, b) = spans.split_at(spans.len() / 2);
            halves[0].extend_from_slice(a);
            halves[1].extend_from_slice(b);
        }
        for (host, half) in [C1, C2].into_iter().zip(&halves) {
            common::grpc_export(
                &format!("http://{host}:4317"),
                spoor_codec::otlp::to_request(half),
            )
            .unwrap_or_else(|s| panic!("{host} refused: {s:?}"));
        }
    }
    let sent = started.elapsed();
    // Both collectors cut what they hold (the cut age is 3 s).
    for (c, before) in cluster.collectors.iter().zip(&cut_before) {
        let cut = poll_until(Duration::from_secs(60), || {
            let m = c.metrics();
            (metric_value(&m, "spoor_engine_blocks_cut_total") > *before
                && metric_value(&m, "spoor_engine_head_spans") == 0.0)
                .then_some(())
        });
        assert!(cut.is_some(), "{} cut no block:\n{}", c.name, c.log());
    }
    let sources: BTreeMap<String, u64> = store_blocks(cluster)
        .into_iter()
        .filter_map(|(id, b)| {
            let meta = b.meta?;
            has_service(&meta, "compaction-kill").then(|| (id, meta["spans"].as_u64().unwrap()))
        })
        .collect();
    let total: u64 = sources.values().sum();
    assert_eq!(total, COMPACTION_TRACES * COMPACTION_SPANS, "{sources:?}");
    assert!(sources.len() >= 2, "{sources:?}");
    // Resumed, k1 lists the store, finds the blocks and merges them all in
    // one compaction; it is killed the moment its gauge says it runs.
    signal(k1, "CONT");
    let resumed = Instant::now();
    let mut scrapes = 0;
    loop {
        assert!(
            resumed.elapsed() < Duration::from_secs(60),
            "k1 never started the compaction of the {} blocks:\n{}",
            sources.len(),
            k1.log()
        );
        let m = k1.metrics();
        scrapes += 1;
        if !m.is_empty()
            && metric_value(&m, "spoor_engine_compaction_running") == 1.0
            && metric_value(&m, "spoor_engine_compaction_source_spans") == total as f64
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    k1.sigkill();
    let killed_after = resumed.elapsed();
    assert!(
        k1.log().contains("compacting blocks"),
        "k1 logged the start of the compaction:\n{}",
        k1.log()
    );
    // Not published: every source is still complete in the store and no
    // block replaces any of them.
    let after_kill = store_blocks(cluster);
    for id in sources.keys() {
        assert!(
            after_kill.get(id).is_some_and(|b| b.meta.is_some()),
            "source {id} is gone after the kill"
        );
    }
    let replacing: Vec<&String> = after_kill
        .iter()
        .filter(|(_, b)| {
            b.meta.as_ref().is_some_and(|m| {
                m["replaces"].as_array().is_some_and(|r| {
                    r.iter()
                        .any(|id| sources.contains_key(id.as_str().unwrap_or("")))
                })
            })
        })
        .map(|(id, _)| id)
        .collect();
    assert!(
        replacing.is_empty(),
        "k1's merged block was published before the kill: {replacing:?}"
    );
    // Uploads abandoned by a killed compactor, besides what k1 left (if
    // the kill landed in its upload): a fresh one, and one whose ID says it
    // started two hours ago (the removal's grace is an hour).
    let now = now_nanos();
    let fresh = format!("{now:020}-9999-k1");
    let stale = format!("{:020}-9998-k1", now - 2 * 3_600 * 1_000_000_000);
    plant_abandoned_upload(cluster, &fresh);
    plant_abandoned_upload(cluster, &stale);
    // What k1 left half uploaded, if the kill landed in its upload.
    let abandoned: Vec<&String> = after_kill
        .iter()
        .filter(|(id, b)| b.meta.is_none() && b.writing && **id != fresh && **id != stale)
        .map(|(id, _)| id)
        .collect();
    eprintln!(
        "e2e_distributed: {} spans sent in {:.1} s; k1 (paused meanwhile) started compacting \
         {} blocks of {total} spans {:.2} s after it was resumed ({scrapes} scrapes) and was \
         killed then; its merged block was not published; {} upload(s) left half done by the kill",
        total,
        sent.as_secs_f64(),
        sources.len(),
        killed_after.as_secs_f64(),
        abandoned.len()
    );

    // k2 takes the lease over once it expires, and redoes the compaction.
    let k2 = cluster.compactor("k2", K2);
    let taken_from = Instant::now();
    let taken = poll_until(Duration::from_secs(30), || {
        (metric_value(&k2.metrics(), "spoor_engine_compactor_lease_held") == 1.0).then_some(())
    });
    assert!(
        taken.is_some(),
        "k2 never took the lease over:\n{}",
        k2.log()
    );
    let taken_after = taken_from.elapsed();
    let merged = poll_until(Duration::from_secs(120), || {
        store_blocks(cluster)
            .into_iter()
            .find(|(_, b)| {
                b.meta.as_ref().is_some_and(|m| {
                    let replaces: Vec<&str> = m["replaces"]
                        .as_array()
                        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
                        .unwrap_or_default();
                    sources.keys().all(|s| replaces.contains(&s.as_str()))
                })
            })
            .map(|(id, b)| (id, b.meta.unwrap()))
    });
    let (merged_id, merged_meta) = merged.unwrap_or_else(|| {
        panic!(
            "k2 never merged the blocks k1 was killed merging:\n{}",
            k2.log()
        )
    });
    assert!(merged_id.ends_with("-k2"), "{merged_id}");
    assert_eq!(merged_meta["spans"].as_u64(), Some(total), "{merged_meta}");
    let k2_log = k2.log();
    let elapsed_ms = k2_log
        .lines()
        .filter(|l| l.contains("compacted blocks") && l.contains(&merged_id))
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("elapsed_ms=")?.parse::<u64>().ok())
        });
    eprintln!(
        "e2e_distributed: k2 took the lease over {:.1} s after k1 was killed and published \
         {merged_id} ({total} spans, the same compaction took k2 {} ms)",
        taken_after.as_secs_f64(),
        elapsed_ms.map_or("?".to_owned(), |ms| ms.to_string())
    );

    // Through both queriers: every trace complete, no span doubled (the
    // queriers read the merged block, not its sources, a refresh later).
    for q in &cluster.queriers {
        let complete = poll_until(Duration::from_secs(30), || {
            let (found, errors) = cluster.found(q, "compaction-kill");
            (errors.is_null()
                && found.len() == ids.len()
                && ids.iter().all(|id| {
                    found.get(&common::canonical_trace_id(id)) == Some(&(COMPACTION_SPANS as usize))
                }))
            .then_some(())
        });
        assert!(
            complete.is_some(),
            "{}: a trace of the interrupted compaction is missing, partial or doubled: {:?}",
            q.name,
            cluster
                .found(q, "compaction-kill")
                .0
                .values()
                .filter(|n| **n != COMPACTION_SPANS as usize)
                .count()
        );
    }
    // Abandoned uploads are never read; the queriers and k2 count the ones
    // they leave, and k2 (holding the lease) removed the one over an hour old.
    let removed = poll_until(Duration::from_secs(30), || {
        let blocks = store_blocks(cluster);
        (!blocks.contains_key(&stale)).then_some(blocks)
    });
    let blocks = removed.unwrap_or_else(|| {
        panic!(
            "k2 did not remove the upload abandoned two hours ago:\n{}",
            k2.log()
        )
    });
    assert!(
        blocks
            .get(&fresh)
            .is_some_and(|b| b.writing && b.meta.is_none()),
        "an abandoned upload younger than an hour stays"
    );
    let left = blocks
        .values()
        .filter(|b| b.meta.is_none() && b.writing)
        .count() as f64;
    assert!(
        metric_value(&k2.metrics(), "spoor_engine_blocks_incomplete_total") >= 1.0,
        "k2 counted the removal"
    );
    for role in cluster.queriers.iter().chain([&k2]) {
        let seen = poll_until(Duration::from_secs(30), || {
            (metric_value(&role.metrics(), "spoor_engine_incomplete_blocks_seen") == left)
                .then_some(())
        });
        assert!(
            seen.is_some(),
            "{} does not count the {left} abandoned upload(s):\n{}",
            role.name,
            role.metrics()
        );
    }
    k2
}

/// c1's backlog budget during the outage: a few MiB over what it holds
/// when the store stops (c2 keeps the default, 4 GiB).
const OUTAGE_BUDGET: u64 = 2 << 20;

/// Sends one trace to `host` over OTLP gRPC; its ID when acknowledged.
fn send_trace(host: &str, spans: &[spoor_model::SpanRecord]) -> Result<String, tonic::Status> {
    common::grpc_export(
        &format!("http://{host}:4317"),
        spoor_codec::otlp::to_request(spans),
    )
    .map(|()| common::canonical_trace_id(&spans[0].span.trace_id.to_hex()))
}

/// The object store stopped for 30 s mid-ingest, with c1 on a small
/// backlog budget: both collectors keep acknowledging into their WAL; c1,
/// fed large requests, reaches its budget and answers 429 /
/// `RESOURCE_EXHAUSTED` (with `Retry-After` / `RetryInfo`) while c2 keeps
/// accepting; their failed cuts are kept on local disk, out of memory, and
/// still served to the queriers. Once the store is back the uploads drain
/// the backlogs, c1 accepts again by itself, and every acknowledged span
/// is found through both queriers.
fn object_store_outage(cluster: &mut Cluster) {
    {
        let c1 = &mut cluster.collectors[0];
        c1.sigkill();
        c1.args
            .extend(["--backlog-max-bytes".to_owned(), OUTAGE_BUDGET.to_string()]);
        c1.spawn();
    }
    let cut_before: Vec<f64> = cluster
        .collectors
        .iter()
        .map(|c| metric_value(&c.metrics(), "spoor_engine_blocks_cut_total"))
        .collect();
    let (c1, c2) = (&cluster.collectors[0], &cluster.collectors[1]);
    let backlog_at_stop = metric_value(&c1.metrics(), "spoor_engine_backlog_bytes");
    cluster.store.server.as_mut().unwrap().stop_s3();
    let stopped = Instant::now();
    // Trace ID → spans, of every acknowledged trace.
    let mut acked: BTreeMap<String, usize> = BTreeMap::new();

    // c1 fed ~80 KiB requests until it refuses: its backlog is at its budget.
    let mut n = 0u64;
    let refusal = loop {
        assert!(
            stopped.elapsed() < Duration::from_secs(20),
            "c1 never refused with a {OUTAGE_BUDGET}-byte backlog budget:\n{}",
            c1.metrics()
        );
        let spans = trace_of("outage", 0xb1, n, 20, now_nanos(), Some(4_096));
        n += 1;
        match send_trace(C1, &spans) {
            Ok(id) => {
                acked.insert(id, 20);
            }
            Err(status) => break status,
        }
    };
    assert_eq!(
        refusal.code(),
        tonic::Code::ResourceExhausted,
        "{refusal:?}"
    );
    assert!(
        !refusal.details().is_empty(),
        "RESOURCE_EXHAUSTED carries RetryInfo"
    );
    assert!(refusal.message().contains("budget"), "{refusal:?}");
    let refused_http = reqwest::blocking::Client::new()
        .post(format!("http://{C1}:4318/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(spoor_codec::otlp::encode_request(&numbered_trace(
            "outage", 999_999, 3,
        )))
        .send()
        .unwrap();
    assert_eq!(refused_http.status().as_u16(), 429);
    assert!(
        refused_http.headers().contains_key("retry-after"),
        "{:?}",
        refused_http.headers()
    );
    let m = c1.metrics();
    assert_eq!(metric_value(&m, "spoor_engine_backlog_full"), 1.0);
    assert!(metric_value(&m, "spoor_engine_writes_rejected_backlog_total") >= 2.0);
    let backlog_refused = metric_value(&m, "spoor_engine_backlog_bytes");
    assert!(backlog_refused >= OUTAGE_BUDGET as f64, "{m}");
    eprintln!(
        "e2e_distributed: store down; c1 acknowledged {} requests of 20 spans (backlog {:.0} KiB \
         when the store stopped, {:.0} KiB when it refused; budget {} KiB), then answered \
         RESOURCE_EXHAUSTED and 429 after {:.1} s",
        acked.len(),
        backlog_at_stop / 1024.0,
        backlog_refused / 1024.0,
        OUTAGE_BUDGET / 1024,
        stopped.elapsed().as_secs_f64()
    );

    // c2 keeps acknowledging for the rest of the 30 s.
    let mut round = 0u64;
    while stopped.elapsed() < Duration::from_secs(30) {
        let spans = numbered_trace("outage", 1_000 + round, 3);
        let id = send_trace(C2, &spans)
            .unwrap_or_else(|s| panic!("{C2} refused while the store was down: {s:?}"));
        acked.insert(id, 3);
        round += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    // The collectors' cuts failed (their uploads are retried) and the
    // blocks are kept on local disk instead of in memory.
    for c in [c1, c2] {
        let spilled = poll_until(Duration::from_secs(30), || {
            let m = c.metrics();
            (metric_value(&m, "spoor_engine_cut_errors_total") >= 1.0
                && metric_value(&m, "spoor_engine_blocks_spilled_total") >= 1.0
                && metric_value(&m, "spoor_engine_pending_blocks") >= 1.0)
                .then_some(m)
        });
        let m = spilled.unwrap_or_else(|| {
            panic!(
                "{}: no failed cut kept on local disk while the store was down:\n{}",
                c.name,
                c.metrics()
            )
        });
        eprintln!(
            "e2e_distributed: {} during the outage: {} pending blocks ({:.0} KiB), backlog {:.0} \
             KiB, head {:.0} KiB in memory",
            c.name,
            metric_value(&m, "spoor_engine_pending_blocks"),
            metric_value(&m, "spoor_engine_pending_bytes") / 1024.0,
            metric_value(&m, "spoor_engine_backlog_bytes") / 1024.0,
            metric_value(&m, "spoor_engine_head_bytes") / 1024.0
        );
    }
    // Searchable meanwhile, from the collectors' heads and pending blocks.
    for q in &cluster.queriers {
        let (found, _) = cluster.found(q, "outage");
        for (id, spans) in &acked {
            assert_eq!(
                found.get(id),
                Some(spans),
                "{} during the outage: {id}",
                q.name
            );
        }
    }
    // Still refused while the store is down.
    let still = send_trace(C1, &numbered_trace("outage", 999_998, 3)).unwrap_err();
    assert_eq!(still.code(), tonic::Code::ResourceExhausted);
    let outage = stopped.elapsed();
    cluster.store.server.as_mut().unwrap().resume();
    let resumed = Instant::now();
    let (c1, c2) = (&cluster.collectors[0], &cluster.collectors[1]);

    // c1 accepts again by itself once its uploads drained the backlog.
    let mut m = 0u64;
    let accepted = poll_until(Duration::from_secs(120), || {
        m += 1;
        let spans = numbered_trace("outage", 2_000 + m, 3);
        match send_trace(C1, &spans) {
            Ok(id) => Some(id),
            Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                std::thread::sleep(Duration::from_millis(450));
                None
            }
            Err(s) => panic!("c1 answered {s:?} after the store came back"),
        }
    });
    let id = accepted.unwrap_or_else(|| {
        panic!(
            "c1 refuses writes 120 s after the store came back:\n{}",
            c1.metrics()
        )
    });
    acked.insert(id, 3);
    let accepting_after = resumed.elapsed();
    for (c, before) in [c1, c2].into_iter().zip(cut_before) {
        let drained = poll_until(Duration::from_secs(120), || {
            let m = c.metrics();
            (metric_value(&m, "spoor_engine_blocks_cut_total") > before
                && metric_value(&m, "spoor_engine_pending_blocks") == 0.0
                && metric_value(&m, "spoor_engine_backlog_full") == 0.0)
                .then_some(())
        });
        assert!(
            drained.is_some(),
            "{} did not upload its backlog after the store came back:\n{}",
            c.name,
            c.metrics()
        );
    }
    for q in &cluster.queriers {
        let complete = poll_until(Duration::from_secs(60), || {
            let (found, errors) = cluster.found(q, "outage");
            (errors.is_null() && acked.iter().all(|(id, spans)| found.get(id) == Some(spans)))
                .then_some(found)
        });
        let found = complete.unwrap_or_else(|| {
            panic!(
                "{}: an acknowledged span is missing after the outage",
                q.name
            )
        });
        // Refused requests were not stored; none was doubled.
        assert_eq!(found.len(), acked.len(), "{}: {found:?}", q.name);
    }
    eprintln!(
        "e2e_distributed: {} traces acknowledged while the object store was down for {:.0} s, all \
         found afterwards; c1 accepted again {:.1} s after the store came back",
        acked.len(),
        outage.as_secs_f64(),
        accepting_after.as_secs_f64()
    );
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(role: &Role) -> f64 {
    let Some(child) = role.child.as_ref() else {
        return 0.0;
    };
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of /proc/PID/stat (11 and 12 after the name).
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

/// Times `urls` through `querier`: milliseconds per request (sorted), and
/// the engine's object-store requests and bytes over them.
fn timed(querier: &Role, urls: &[String]) -> (Vec<f64>, f64, f64) {
    let client = reqwest::blocking::Client::new();
    let before = querier.metrics();
    let mut ms = Vec::with_capacity(urls.len());
    for url in urls {
        let started = Instant::now();
        let resp = client.get(url).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{url}");
        let _ = resp.bytes().unwrap();
        ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let after = querier.metrics();
    let delta = |name: &str| metric_value(&after, name) - metric_value(&before, name);
    ms.sort_by(f64::total_cmp);
    (
        ms,
        delta("spoor_engine_query_store_requests_total"),
        delta("spoor_engine_query_store_read_bytes_total"),
    )
}

/// The figures of BENCHMARKS.md's "Distributed roles": ingest per collector
/// CPU-second, and trace by ID and searches through a querier with a cold
/// and a warm read cache, with the object-store requests they cost. A
/// measurement, not a test (nothing is asserted on time); run it with a
/// release binary:
///
/// ```sh
/// cargo build --release -p spoor
/// SPOOR_E2E_BIN=target/release/spoor SPOOR_BENCH_TRACES=20000 \
///   cargo test -p spoor --test e2e_distributed -- --ignored --nocapture querier_figures
/// ```
#[test]
#[ignore = "a measurement for BENCHMARKS.md; run explicitly"]
fn querier_figures() {
    let traces: u64 = std::env::var("SPOOR_BENCH_TRACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut cluster = Cluster::start_with_cut_age("20s");
    let kind = if cluster.store.server.is_some() {
        "SeaweedFS, 3 volume servers"
    } else {
        "a shared folder"
    };
    // Load: tracegen to each collector at full speed, in parallel.
    let cpu_before: Vec<f64> = cluster.collectors.iter().map(cpu_seconds).collect();
    let started = Instant::now();
    let loaders: Vec<_> = [(C1, 7), (C2, 8)]
        .into_iter()
        .map(|(host, seed)| {
            std::process::Command::new(spoor_bin())
                .args(["tracegen", "--endpoint", &format!("http://{host}:4317")])
                .args([
                    "--traces",
                    &traces.to_string(),
                    "--rate",
                    "0",
                    "--workers",
                    "2",
                ])
                .args(["--seed", &seed.to_string(), "--json-summary"])
                .stderr(Stdio::null())
                .output()
                .unwrap()
        })
        .collect();
    let elapsed = started.elapsed();
    let mut spans = 0.0;
    for out in &loaders {
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        spans += summary["spans_acknowledged"]
            .as_f64()
            .or(summary["spans_sent"].as_f64())
            .unwrap_or(0.0);
    }
    let cpu: Vec<f64> = cluster
        .collectors
        .iter()
        .zip(&cpu_before)
        .map(|(c, b)| cpu_seconds(c) - b)
        .collect();
    // Everything cut into blocks before the queries.
    for c in &cluster.collectors {
        poll_until(Duration::from_secs(300), || {
            (metric_value(&c.metrics(), "spoor_engine_head_spans") == 0.0).then_some(())
        })
        .expect("the heads were cut");
    }
    let q = &cluster.queriers[0];
    poll_until(Duration::from_secs(60), || {
        (metric_value(&q.metrics(), "spoor_engine_block_spans") >= spans * 0.99).then_some(())
    });
    let base = q.url(16686, "");
    let services: serde_json::Value = reqwest::blocking::get(format!("{base}/api/services"))
        .unwrap()
        .json()
        .unwrap();
    let service = services["data"][0].as_str().unwrap().to_owned();
    let ops: serde_json::Value =
        reqwest::blocking::get(format!("{base}/api/operations?service={service}"))
            .unwrap()
            .json()
            .unwrap();
    let operation = ops["data"][0]["name"].as_str().unwrap().to_owned();
    let listed: serde_json::Value = reqwest::blocking::get(format!(
        "{base}/api/traces?service={service}&limit=200&lookback=2d"
    ))
    .unwrap()
    .json()
    .unwrap();
    let ids: Vec<String> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_owned())
        .take(100)
        .collect();
    let by_id: Vec<String> = ids
        .iter()
        .map(|id| format!("{base}/api/traces/{id}"))
        .collect();
    let search: Vec<String> = (0..50)
        .map(|i| {
            format!(
                "{base}/api/traces?service={service}&operation={}&limit=20&lookback=2d&minDuration={}us",
                urlencode(&operation),
                i % 5
            )
        })
        .collect();
    eprintln!(
        "\n{} spans in {:.1} s into 2 collectors on {kind}; collector CPU {:.1} s and {:.1} s: {:.0} and {:.0} spans per collector CPU-second",
        spans,
        elapsed.as_secs_f64(),
        cpu[0],
        cpu[1],
        spans / 2.0 / cpu[0].max(0.001),
        spans / 2.0 / cpu[1].max(0.001),
    );
    eprintln!(
        "| querier | queries | p50 ms | p99 ms | store requests / query | KiB read / query |"
    );
    eprintln!("|---|---:|---:|---:|---:|---:|");
    for (label, urls) in [
        ("trace by ID", &by_id),
        ("search service + operation, limit 20", &search),
    ] {
        // Cold: a querier started now (empty read cache), then warm: again.
        cluster.queriers[0].sigkill();
        cluster.queriers[0].spawn();
        let q = &cluster.queriers[0];
        for (state, round) in [("cold", 0), ("warm", 1)] {
            let _ = round;
            let (ms, requests, bytes) = timed(q, urls);
            let n = urls.len() as f64;
            eprintln!(
                "| {label}, {state} cache | {} | {:.1} | {:.1} | {:.1} | {:.0} |",
                urls.len(),
                percentile(&ms, 0.5),
                percentile(&ms, 0.99),
                requests / n,
                bytes / n / 1024.0
            );
        }
    }
    let q = &cluster.queriers[0];
    eprintln!(
        "querier: {} blocks, {:.1} MiB of indexes and Bloom filters, {:.1} MiB in the read cache, RSS {} MiB",
        metric_value(&q.metrics(), "spoor_engine_blocks"),
        metric_value(&q.metrics(), "spoor_engine_block_index_bytes") / 1048576.0,
        metric_value(&q.metrics(), "spoor_engine_read_cache_bytes") / 1048576.0,
        std::fs::read_to_string(format!("/proc/{}/status", q.child.as_ref().unwrap().id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v
                .trim()
                .trim_end_matches(" kB")
                .parse::<u64>()
                .unwrap_or(0)
                / 1024))
            .unwrap_or(0)
    );
}
