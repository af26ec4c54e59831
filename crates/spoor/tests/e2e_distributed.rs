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
//!   compactor killed while it holds the lease (a second takes the lease
//!   over once it expires, and nothing is lost or doubled); with the real
//!   object store, the store stopped for 30 s mid-ingest (the collectors
//!   keep acknowledging, the queriers answer from their heads, and every
//!   acknowledged span is found once the store is back).

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
use common::{metric_value, poll_until, spoor_bin};
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
    root: tempfile::TempDir,
    store: Store,
    collectors: Vec<Role>,
    queriers: Vec<Role>,
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

#[test]
fn distributed_roles_answer_like_all_in_one_and_survive_faults() {
    let fixtures = load();
    let cluster = Cluster::start();

    // Every fixture trace split between the two collectors: its first half
    // of spans to c1 over OTLP gRPC, the rest to c2 over OTLP HTTP.
    send_split(&fixtures);
    // 1. From the collectors' heads, the moment they acknowledged.
    conformance_through(&cluster, &fixtures, "heads");

    // 2. Cut into blocks in the store (the cut age is 3 s).
    for c in &cluster.collectors {
        let cut = poll_until(Duration::from_secs(60), || {
            (metric_value(&c.metrics(), "spoor_engine_blocks_cut_total") >= 1.0).then_some(())
        });
        assert!(cut.is_some(), "{} cut no block:\n{}", c.name, c.log());
    }
    conformance_through(&cluster, &fixtures, "blocks");

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
    let resource = Arc::new(spoor_model::Resource {
        attributes: vec![spoor_model::KeyValue::str("service.name", service)],
        ..spoor_model::Resource::default()
    });
    let scope = Arc::new(spoor_model::Scope::default());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let trace_id = spoor_model::TraceId::from_halves(0xd15, n + 1);
    (0..spans)
        .map(|i| spoor_model::SpanRecord {
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
                start_time_unix_nano: now + i * 1_000,
                end_time_unix_nano: now + i * 1_000 + 500,
                ..spoor_model::Span::default()
            },
            warnings: Vec::new(),
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

    // The compactor killed while it holds the lease: a second one waits
    // for the lease to expire, takes it over, and compacts; nothing is
    // lost or doubled.
    let lease_before = metric_value(&k1.metrics(), "spoor_engine_compactor_lease_held");
    assert_eq!(lease_before, 1.0, "k1 holds the lease");
    k1.sigkill();
    let k2 = cluster.compactor("k2", K2);
    let started = Instant::now();
    let taken = poll_until(Duration::from_secs(30), || {
        (metric_value(&k2.metrics(), "spoor_engine_compactor_lease_held") == 1.0).then_some(())
    });
    assert!(
        taken.is_some(),
        "k2 never took the lease over:\n{}",
        k2.log()
    );
    eprintln!(
        "e2e_distributed: k2 took the lease over {:?} after k1 was killed",
        started.elapsed()
    );
    // Every acknowledged trace is there; a batch written before the kill
    // but whose answer was lost with the connection may be there too (an
    // unacknowledged write may or may not be stored).
    let (found, _) = cluster.found(&cluster.queriers[1], "kill-test");
    for id in &acked {
        assert_eq!(
            found.get(&common::canonical_trace_id(id)),
            Some(&4),
            "acknowledged trace {id} after the compactors changed hands"
        );
    }
    assert!(
        found.len() <= acked.len() + 1,
        "{} found, {} acknowledged",
        found.len(),
        acked.len()
    );
    assert!(
        found.values().all(|n| *n == 4),
        "no span doubled: {found:?}"
    );

    cluster.queriers[0].spawn();
    if cluster.store.server.is_some() {
        object_store_outage(&mut cluster);
    }
}

/// The object store stopped for 30 s mid-ingest: the collectors keep
/// acknowledging (WAL and head; cuts fail and are retried), the queriers
/// answer from the heads, and once the store is back every acknowledged
/// span is found through both queriers.
fn object_store_outage(cluster: &mut Cluster) {
    let cut_before: Vec<f64> = cluster
        .collectors
        .iter()
        .map(|c| metric_value(&c.metrics(), "spoor_engine_blocks_cut_total"))
        .collect();
    cluster.store.server.as_mut().unwrap().stop_s3();
    let stopped = Instant::now();
    let mut acked: Vec<String> = Vec::new();
    let mut round = 0u64;
    while stopped.elapsed() < Duration::from_secs(30) {
        for (i, host) in [C1, C2].into_iter().enumerate() {
            let spans = numbered_trace("outage", 1_000 + round * 2 + i as u64, 3);
            let id = spans[0].span.trace_id.to_hex();
            let request = spoor_codec::otlp::to_request(&spans);
            common::grpc_export(&format!("http://{host}:4317"), request)
                .unwrap_or_else(|s| panic!("{host} refused while the store was down: {s:?}"));
            acked.push(id);
        }
        round += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    // The cut age (3 s) passed many times: cuts failed and are retried.
    for c in &cluster.collectors {
        assert!(
            metric_value(&c.metrics(), "spoor_engine_cut_errors_total") >= 1.0,
            "{}: no cut failed while the store was down",
            c.name
        );
    }
    // Searchable meanwhile, from the collectors' heads.
    for q in &cluster.queriers {
        let (found, _) = cluster.found(q, "outage");
        assert_eq!(found.len(), acked.len(), "{} during the outage", q.name);
    }
    cluster.store.server.as_mut().unwrap().resume();
    for (c, before) in cluster.collectors.iter().zip(cut_before) {
        let uploaded = poll_until(Duration::from_secs(120), || {
            (metric_value(&c.metrics(), "spoor_engine_blocks_cut_total") > before).then_some(())
        });
        assert!(
            uploaded.is_some(),
            "{} uploaded nothing after the store came back",
            c.name
        );
    }
    for q in &cluster.queriers {
        let complete = poll_until(Duration::from_secs(60), || {
            let (found, errors) = cluster.found(q, "outage");
            (errors.is_null()
                && acked
                    .iter()
                    .all(|id| found.get(&common::canonical_trace_id(id)) == Some(&3)))
            .then_some(())
        });
        assert!(
            complete.is_some(),
            "{}: an acknowledged span is missing after the outage",
            q.name
        );
    }
    eprintln!(
        "e2e_distributed: {} traces acknowledged while the object store was down for 30 s, all found afterwards",
        acked.len()
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

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
