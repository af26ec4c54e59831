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
        common::install_tls_provider();
        let root = tempfile::tempdir().unwrap();
        let store = store(root.path());
        let collectors = [("c1", C1), ("c2", C2)]
            .into_iter()
            .map(|(name, host)| collector(&root, &store, name, host))
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

fn collector(root: &tempfile::TempDir, store: &Store, name: &str, host: &'static str) -> Role {
    Role::start(
        name,
        "collector",
        host,
        13133,
        &args(&[
            ("--data-dir", root.path().join(name).display().to_string()),
            ("--blocks-url", store.url.clone()),
            ("--node-id", name.to_owned()),
            ("--block-cut-age", "3s".into()),
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
    let total: usize = acked.len();
    let (found, _) = cluster.found(&cluster.queriers[1], "kill-test");
    assert_eq!(found.len(), total);
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
