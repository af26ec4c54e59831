//! The storage and query scenarios: load a stated number of spans into a
//! fresh child over OTLP gRPC (generated and encoded while loading), note
//! the child's memory growth, then time queries client-side over HTTP
//! against Jaeger's `/api/traces`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use spoor_model::{AnyValue, SpanRecord, TraceId};
use tokio::sync::{Mutex, mpsc};

use super::child::ChildServer;
use super::http::{HttpClient, encode_component};
use super::ingest::send_until_accepted;
use super::payload::{Batcher, DataSettings};
use super::procfs::{self, Rss};
use super::report::percentile;
use crate::tracegen::rng::{Rng, derive_seed};
use spoor_client::sender as senders;
use spoor_client::{Connector, Protocol, SenderOptions};

/// Span attributes whose values repeat across traces; the tag of every
/// search is one of these, taken from a stored span.
pub const TAG_KEYS: &[&str] = &[
    "http.request.method",
    "http.route",
    "rpc.system",
    "rpc.service",
    "rpc.method",
    "db.system",
    "db.operation.name",
    "db.namespace",
    "db.collection.name",
    "messaging.system",
    "messaging.destination.name",
    "peer.service",
    "server.address",
];

/// Queries not timed at the start of each kind (connection set-up).
const WARMUP_QUERIES: usize = 3;

/// What to sample from the loaded data for the queries.
#[derive(Debug, Clone, Default)]
pub struct QuerySamples {
    /// Trace IDs, uniform over traces.
    pub trace_ids: Vec<TraceId>,
    /// (service, operation, tag key, tag value) of one span per sampled trace.
    pub tagged: Vec<(String, String, String, String)>,
    /// (tag key, tag value) of one span per sampled trace.
    pub attrs: Vec<(String, String)>,
}

/// Reservoir sampling of `k` items, uniform over everything offered.
#[derive(Debug)]
struct Reservoir<T> {
    k: usize,
    seen: u64,
    items: Vec<T>,
}

impl<T> Reservoir<T> {
    fn new(k: usize) -> Self {
        Reservoir {
            k,
            seen: 0,
            items: Vec::with_capacity(k),
        }
    }

    /// Offers one item, made only when it is kept.
    fn offer(&mut self, rng: &mut Rng, make: impl FnOnce() -> Option<T>) {
        self.seen += 1;
        if self.items.len() < self.k {
            if let Some(item) = make() {
                self.items.push(item);
            }
            return;
        }
        let j = rng.range(0, self.seen - 1) as usize;
        if j < self.k
            && let Some(item) = make()
        {
            self.items[j] = item;
        }
    }
}

/// A random span of `trace` with a string attribute among [`TAG_KEYS`]:
/// (service, operation, key, value).
fn tagged_span(rng: &mut Rng, trace: &[SpanRecord]) -> Option<(String, String, String, String)> {
    if trace.is_empty() {
        return None;
    }
    let start = rng.index(trace.len());
    for k in 0..trace.len() {
        let r = &trace[(start + k) % trace.len()];
        let tags: Vec<(&str, &str)> = r
            .span
            .attributes
            .iter()
            .filter(|kv| TAG_KEYS.contains(&kv.key.as_str()))
            .filter_map(|kv| match &kv.value {
                AnyValue::Str(v) => Some((kv.key.as_str(), v.as_str())),
                _ => None,
            })
            .collect();
        if !tags.is_empty() {
            let (key, value) = tags[rng.index(tags.len())];
            return Some((
                r.service_name().to_string(),
                r.span.name.clone(),
                key.to_string(),
                value.to_string(),
            ));
        }
    }
    None
}

/// What loading did.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Spans acknowledged (and so stored).
    pub spans: u64,
    pub traces: u64,
    pub wall_secs: f64,
    pub rss_before: Rss,
    pub rss_after: Rss,
    /// Why loading stopped before the requested size, if it did.
    pub stopped_early: Option<String>,
    pub samples: QuerySamples,
}

impl Loaded {
    /// The child's resident-memory growth per stored span.
    pub fn rss_bytes_per_span(&self) -> f64 {
        self.rss_after
            .current
            .saturating_sub(self.rss_before.current) as f64
            / self.spans.max(1) as f64
    }
}

/// Loads `batches` batches of generated spans into `child` over OTLP gRPC
/// with `in_flight` requests at a time. Loading stops early when the
/// machine's available memory falls below `mem_floor` bytes.
pub async fn load(
    child: &ChildServer,
    settings: DataSettings,
    batches: u64,
    in_flight: usize,
    samples_wanted: usize,
    mem_floor: u64,
) -> Result<Loaded> {
    let (tx, rx) = mpsc::channel::<(Bytes, u64)>(4 * in_flight.max(1));
    let stop = Arc::new(AtomicBool::new(false));
    let low_memory = Arc::new(AtomicBool::new(false));
    let generator = {
        let stop = stop.clone();
        let low_memory = low_memory.clone();
        std::thread::Builder::new()
            .name("bench-load".into())
            .spawn(move || -> Result<(QuerySamples, u64)> {
                let mut batcher = Batcher::new(settings)?;
                let mut rng = Rng::new(derive_seed(settings.seed, 0xB3AC));
                let mut ids = Reservoir::new(samples_wanted);
                let mut tagged = Reservoir::new(samples_wanted);
                let mut attrs = Reservoir::new(samples_wanted);
                for i in 0..batches {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if i % 64 == 0 && procfs::mem_available()? < mem_floor {
                        low_memory.store(true, Ordering::Relaxed);
                        break;
                    }
                    let batch = batcher.next_batch_observing(|trace| {
                        let Some(first) = trace.first() else { return };
                        let id = first.span.trace_id;
                        ids.offer(&mut rng, || Some(id));
                        // Which span of a kept trace is used comes from a
                        // stream of its own, so the reservoir's draws do not
                        // depend on whether a span was picked.
                        let mut pick = Rng::new(rng.next_u64());
                        tagged.offer(&mut rng, || tagged_span(&mut pick, trace));
                        let mut pick = Rng::new(rng.next_u64());
                        attrs.offer(&mut rng, || {
                            tagged_span(&mut pick, trace).map(|(_, _, k, v)| (k, v))
                        });
                    });
                    let encoded = senders::encode(Protocol::OtlpGrpc, &batch);
                    for part in encoded.parts {
                        if tx.blocking_send(part).is_err() {
                            bail!("the load senders stopped");
                        }
                    }
                }
                let samples = QuerySamples {
                    trace_ids: ids.items,
                    tagged: tagged.items,
                    attrs: attrs.items,
                };
                Ok((samples, batcher.traces()))
            })
            .context("cannot start the load generator thread")?
    };
    let connector = Connector::new(SenderOptions {
        protocol: Protocol::OtlpGrpc,
        endpoint: format!("http://{}", child.otlp_grpc),
        timeout: Duration::from_secs(60),
        gzip: false,
        security: Default::default(),
    })
    .await?;
    let rx = Arc::new(Mutex::new(rx));
    let refusals = Arc::new(AtomicU64::new(0));
    let rss_before = child.rss()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight.max(1) {
        let mut sender = connector.sender().await?;
        let rx = rx.clone();
        let refusals = refusals.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            loop {
                let next = rx.lock().await.recv().await;
                let Some((body, spans)) = next else {
                    return anyhow::Ok(sent);
                };
                if let Err(e) = send_until_accepted(&mut sender, &body, &refusals).await {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                sent += spans;
            }
        }));
    }
    // Only the tasks hold the queue now: if they all stop, the generator's
    // next send fails and it ends too.
    drop(rx);
    let mut spans = 0;
    let mut failure = None;
    for t in tasks {
        match t.await.context("a load task failed")? {
            Ok(n) => spans += n,
            Err(e) => failure = Some(e),
        }
    }
    let generated = tokio::task::spawn_blocking(move || generator.join())
        .await
        .context("cannot join the load generator")?
        .map_err(|_| anyhow::anyhow!("the load generator panicked"))?;
    if let Some(e) = failure {
        return Err(e.context("loading failed"));
    }
    let (samples, traces) = generated?;
    let wall_secs = started.elapsed().as_secs_f64();
    let rss_after = child.rss()?;
    let stopped_early = low_memory.load(Ordering::Relaxed).then(|| {
        format!(
            "stopped at {spans} spans: the machine's available memory fell below {} MiB",
            mem_floor >> 20
        )
    });
    Ok(Loaded {
        spans,
        traces,
        wall_secs,
        rss_before,
        rss_after,
        stopped_early,
        samples,
    })
}

/// The kinds of query timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// `GET /api/traces/{id}` without `start`/`end`.
    TraceById,
    /// `GET /api/traces?service=&operation=&tags=&limit=20`.
    ServiceOperationTag,
    /// `GET /api/traces?tags=&limit=20`, no service.
    Attribute,
}

impl QueryKind {
    /// Every kind, in report order.
    pub const ALL: [QueryKind; 3] = [
        QueryKind::TraceById,
        QueryKind::ServiceOperationTag,
        QueryKind::Attribute,
    ];

    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            QueryKind::TraceById => "trace by ID, no time hint",
            QueryKind::ServiceOperationTag => "search service + operation + tag, limit 20",
            QueryKind::Attribute => "search by attribute alone, limit 20",
        }
    }
}

/// The request paths (with query strings) of `kind`, from `samples`.
pub fn query_paths(kind: QueryKind, samples: &QuerySamples, limit: usize) -> Vec<String> {
    let tags = |k: &str, v: &str| {
        let mut m = BTreeMap::new();
        m.insert(k, v);
        encode_component(&serde_json::to_string(&m).unwrap_or_default())
    };
    match kind {
        QueryKind::TraceById => samples
            .trace_ids
            .iter()
            .map(|id| format!("/api/traces/{}", id.to_hex()))
            .collect(),
        QueryKind::ServiceOperationTag => samples
            .tagged
            .iter()
            .map(|(s, o, k, v)| {
                format!(
                    "/api/traces?service={}&operation={}&tags={}&limit={limit}",
                    encode_component(s),
                    encode_component(o),
                    tags(k, v)
                )
            })
            .collect(),
        QueryKind::Attribute => samples
            .attrs
            .iter()
            .map(|(k, v)| format!("/api/traces?tags={}&limit={limit}", tags(k, v)))
            .collect(),
    }
}

/// Latencies of one kind of query in one run.
#[derive(Debug, Clone)]
pub struct QueryRun {
    /// Milliseconds, ascending.
    pub latencies_ms: Vec<f64>,
    /// Answers that held at least one trace.
    pub non_empty: usize,
    /// Mean response body size in bytes.
    pub mean_bytes: f64,
}

impl QueryRun {
    pub fn p50(&self) -> Option<f64> {
        percentile(&self.latencies_ms, 50.0)
    }
    pub fn p99(&self) -> Option<f64> {
        percentile(&self.latencies_ms, 99.0)
    }
}

/// Runs the queries of `paths` one after another against `base` (e.g.
/// `http://127.0.0.1:16686`), at most `max` of them and for at most `budget`,
/// timing each from request to the last byte of the answer.
pub async fn run_queries(
    http: &HttpClient,
    base: &str,
    paths: &[String],
    max: usize,
    budget: Duration,
) -> Result<QueryRun> {
    if paths.is_empty() {
        bail!("no queries: the loaded data gave no samples");
    }
    for path in paths.iter().cycle().take(WARMUP_QUERIES) {
        answer(http, base, path).await?;
    }
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(max);
    let mut non_empty = 0;
    let mut bytes = 0u64;
    for path in paths.iter().cycle().take(max) {
        if !latencies.is_empty() && started.elapsed() > budget {
            break;
        }
        let t = Instant::now();
        let body = answer(http, base, path).await?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        bytes += body.len() as u64;
        if !body.starts_with(b"{\"data\":[]") {
            non_empty += 1;
        }
    }
    let n = latencies.len();
    latencies.sort_by(f64::total_cmp);
    Ok(QueryRun {
        latencies_ms: latencies,
        non_empty,
        mean_bytes: bytes as f64 / n.max(1) as f64,
    })
}

async fn answer(http: &HttpClient, base: &str, path: &str) -> Result<Bytes> {
    let url = format!("{base}{path}");
    let (status, body) = http.get(&url).await?;
    if status != 200 {
        bail!(
            "GET {url} answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_reservoir_keeps_k_items_spread_over_the_stream() {
        let mut rng = Rng::new(1);
        let mut r = Reservoir::new(100);
        for i in 0..10_000u32 {
            r.offer(&mut rng, || Some(i));
        }
        assert_eq!(r.items.len(), 100);
        // Uniform over 0..10,000: about half the items are in the upper half.
        let upper = r.items.iter().filter(|&&i| i >= 5_000).count();
        assert!((25..=75).contains(&upper), "{upper}");
    }

    #[test]
    fn queries_come_from_the_sampled_data() {
        let settings = DataSettings {
            seed: 3,
            attrs: 10,
            batch_size: 128,
        };
        let mut batcher = Batcher::new(settings).unwrap();
        let mut rng = Rng::new(9);
        let mut found = Vec::new();
        for _ in 0..5 {
            batcher.next_batch_observing(|t| found.extend(tagged_span(&mut rng, t)));
        }
        assert!(!found.is_empty());
        for (service, op, key, _) in &found {
            assert!(service.starts_with("ts-"), "{service}");
            assert!(!op.is_empty());
            assert!(TAG_KEYS.contains(&key.as_str()));
        }
        let samples = QuerySamples {
            trace_ids: vec![TraceId::from_halves(1, 2)],
            tagged: vec![(
                "ts-a".into(),
                "GET /x".into(),
                "db.system".into(),
                "mysql".into(),
            )],
            attrs: vec![("db.system".into(), "mysql".into())],
        };
        assert_eq!(
            query_paths(QueryKind::TraceById, &samples, 20),
            vec!["/api/traces/00000000000000010000000000000002"]
        );
        assert_eq!(
            query_paths(QueryKind::ServiceOperationTag, &samples, 20),
            vec![
                "/api/traces?service=ts-a&operation=GET%20%2Fx&tags=%7B%22db.system%22%3A%22mysql%22%7D&limit=20"
            ]
        );
        assert_eq!(
            query_paths(QueryKind::Attribute, &samples, 20),
            vec!["/api/traces?tags=%7B%22db.system%22%3A%22mysql%22%7D&limit=20"]
        );
    }
}
