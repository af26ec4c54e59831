//! Spoor's own metrics: a small lock-light registry rendered in the
//! Prometheus text exposition format 0.0.4.
//!
//! Every series is a set of atomics. Looking a series up takes a read lock on
//! a small map (a write lock only the first time a label set is seen); the
//! returned handles ([`ReceiverMetrics`], [`QueryMetrics`]) own an `Arc` to the
//! atomics, so callers that keep a handle never lock again.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use spoor_storage::{StorageMetricKind, StorageStatus};

/// Where a batch of spans came from; the labels of the receiver series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    /// The receiver, e.g. `"otlp"`, `"jaeger"`, `"zipkin"`.
    pub receiver: &'static str,
    /// The transport, e.g. `"grpc"`, `"http"`, `"udp"`.
    pub transport: &'static str,
    /// The payload format, e.g. `"protobuf"`, `"json"`, `"thrift"`.
    pub format: &'static str,
}

/// Why spans (or a request) were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefuseReason {
    /// The pipeline had no room for the request's bytes.
    Overloaded,
    /// The payload could not be decoded.
    Malformed,
    /// The payload exceeded a size limit.
    TooLarge,
    /// Storage failed to write the spans.
    StorageError,
}

impl RefuseReason {
    /// All reasons, in rendering order.
    pub const ALL: [RefuseReason; 4] = [
        RefuseReason::Overloaded,
        RefuseReason::Malformed,
        RefuseReason::TooLarge,
        RefuseReason::StorageError,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RefuseReason::Overloaded => "overloaded",
            RefuseReason::Malformed => "malformed",
            RefuseReason::TooLarge => "too_large",
            RefuseReason::StorageError => "storage_error",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Upper bounds (seconds) of the query latency histogram buckets.
pub const QUERY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct ReceiverSeries {
    accepted_spans: AtomicU64,
    refused_spans: [AtomicU64; 4],
    requests_ok: AtomicU64,
    requests_refused: [AtomicU64; 4],
    /// Spans a decoder left out of an accepted request, by reason (a small
    /// static set of labels; only touched when something was left out).
    rejected_spans: Mutex<Vec<(&'static str, u64)>>,
    /// Fields a decoder dropped or replaced, by field label.
    dropped_fields: Mutex<Vec<(&'static str, u64)>>,
}

fn add_labelled(counts: &Mutex<Vec<(&'static str, u64)>>, label: &'static str, n: u64) {
    let mut counts = counts.lock();
    match counts.iter_mut().find(|(l, _)| *l == label) {
        Some((_, c)) => *c = c.saturating_add(n),
        None => counts.push((label, n)),
    }
}

/// Which way a span's start time is far from its receive time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkewDirection {
    /// Older than the past threshold.
    Past,
    /// Later than the future threshold.
    Future,
}

impl SkewDirection {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SkewDirection::Past => "past",
            SkewDirection::Future => "future",
        }
    }
}

/// Allows one log line per interval and counts the ones it held back.
/// Const-constructible, so a `static` can hold one.
#[derive(Debug)]
pub struct WarnLimiter {
    interval_secs: u64,
    /// Unix seconds of the last allowed line plus one (0: never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl WarnLimiter {
    /// A limiter allowing one line per `interval_secs` seconds.
    pub const fn new(interval_secs: u64) -> Self {
        WarnLimiter {
            interval_secs,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last allowed one)` when a line may be
    /// logged now, `None` when it should be held back.
    pub fn allow(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now < last.saturating_add(self.interval_secs) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        match self
            .last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => Some(self.suppressed.swap(0, Ordering::Relaxed)),
            Err(_) => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

#[derive(Default)]
struct QuerySeries {
    /// Non-cumulative counts per bucket; the last slot is the +Inf overflow.
    buckets: [AtomicU64; QUERY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
    ok: AtomicU64,
    error: AtomicU64,
}

/// The registry. Create one per process and share it as `Arc<Telemetry>`.
pub struct Telemetry {
    version: String,
    start_time_seconds: f64,
    /// Spans ingested far in the past / future (`spoor_ingest_spans_timestamp_skew_total`).
    timestamp_skew: [AtomicU64; 2],
    receivers: RwLock<HashMap<Source, Arc<ReceiverSeries>>>,
    queries: RwLock<HashMap<&'static str, Arc<QuerySeries>>>,
    /// The storage backend's own series, when it reports any.
    storage: RwLock<Option<Arc<dyn StorageStatus>>>,
    /// Further families rendered last (per-tenant series, say).
    extra: RwLock<Vec<Arc<dyn ExtraMetrics>>>,
}

/// Series a component renders itself, appended to [`Telemetry`]'s text
/// (whole families in the Prometheus text format, names not used elsewhere).
pub trait ExtraMetrics: Send + Sync + 'static {
    /// Appends its families to `out`.
    fn render(&self, out: &mut String);
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("version", &self.version)
            .field("start_time_seconds", &self.start_time_seconds)
            .finish_non_exhaustive()
    }
}

/// Counters of one [`Source`].
#[derive(Clone)]
pub struct ReceiverMetrics {
    series: Arc<ReceiverSeries>,
}

/// Latency and outcome series of one query endpoint.
#[derive(Clone)]
pub struct QueryMetrics {
    series: Arc<QuerySeries>,
}

impl ReceiverMetrics {
    /// Counts spans that were written.
    pub fn accepted(&self, spans: u64) {
        self.series
            .accepted_spans
            .fetch_add(spans, Ordering::Relaxed);
    }

    /// Counts spans that were refused.
    pub fn refused(&self, spans: u64, reason: RefuseReason) {
        self.series.refused_spans[reason.index()].fetch_add(spans, Ordering::Relaxed);
    }

    /// Counts spans a decoder left out of an accepted request
    /// (`spoor_receiver_spans_rejected_total{…,reason}`).
    pub fn spans_rejected(&self, reason: &'static str, spans: u64) {
        add_labelled(&self.series.rejected_spans, reason, spans);
    }

    /// Counts fields a decoder dropped or replaced
    /// (`spoor_receiver_fields_dropped_total{…,field}`).
    pub fn fields_dropped(&self, field: &'static str, fields: u64) {
        add_labelled(&self.series.dropped_fields, field, fields);
    }

    /// Counts a request that succeeded (`result="ok"`).
    pub fn request_ok(&self) {
        self.series.requests_ok.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request that was refused (`result=<reason>`).
    pub fn request_refused(&self, reason: RefuseReason) {
        self.series.requests_refused[reason.index()].fetch_add(1, Ordering::Relaxed);
    }
}

impl QueryMetrics {
    /// Records one request of this endpoint: its latency and whether it succeeded.
    pub fn observe(&self, duration: Duration, ok: bool) {
        let s = &self.series;
        let secs = duration.as_secs_f64();
        let bucket = QUERY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(QUERY_BUCKETS.len());
        s.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        s.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        s.count.fetch_add(1, Ordering::Relaxed);
        if ok {
            s.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            s.error.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Telemetry {
    /// A registry for a process of this version, started now.
    pub fn new(version: impl Into<String>) -> Self {
        let start_time_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Telemetry {
            version: version.into(),
            start_time_seconds,
            timestamp_skew: [AtomicU64::new(0), AtomicU64::new(0)],
            receivers: RwLock::new(HashMap::new()),
            queries: RwLock::new(HashMap::new()),
            storage: RwLock::new(None),
            extra: RwLock::new(Vec::new()),
        }
    }

    /// Renders `extra`'s families after the others.
    pub fn add_extra(&self, extra: Arc<dyn ExtraMetrics>) {
        self.extra.write().push(extra);
    }

    /// Counts spans whose start time is far from their receive time
    /// (`spoor_ingest_spans_timestamp_skew_total{direction}`).
    pub fn timestamp_skew(&self, direction: SkewDirection, spans: u64) {
        let i = match direction {
            SkewDirection::Past => 0,
            SkewDirection::Future => 1,
        };
        self.timestamp_skew[i].fetch_add(spans, Ordering::Relaxed);
    }

    /// The counters of one source, created on first use.
    pub fn receiver(&self, source: Source) -> ReceiverMetrics {
        if let Some(series) = self.receivers.read().get(&source) {
            return ReceiverMetrics {
                series: Arc::clone(series),
            };
        }
        let series = Arc::clone(self.receivers.write().entry(source).or_default());
        ReceiverMetrics { series }
    }

    /// The series of one query endpoint (a short static name such as
    /// `"find_traces"`), created on first use.
    pub fn query(&self, endpoint: &'static str) -> QueryMetrics {
        if let Some(series) = self.queries.read().get(endpoint) {
            return QueryMetrics {
                series: Arc::clone(series),
            };
        }
        let series = Arc::clone(self.queries.write().entry(endpoint).or_default());
        QueryMetrics { series }
    }

    /// Renders the storage backend's own series (health and counters) too.
    pub fn set_storage_status(&self, status: Arc<dyn StorageStatus>) {
        *self.storage.write() = Some(status);
    }

    /// Every series in the Prometheus text exposition format 0.0.4, families
    /// in a fixed order and series sorted by labels.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut receivers: Vec<(Source, Arc<ReceiverSeries>)> = self
            .receivers
            .read()
            .iter()
            .map(|(k, v)| (*k, Arc::clone(v)))
            .collect();
        receivers.sort_by_key(|(k, _)| *k);
        let mut queries: Vec<(&'static str, Arc<QuerySeries>)> = self
            .queries
            .read()
            .iter()
            .map(|(k, v)| (*k, Arc::clone(v)))
            .collect();
        queries.sort_by_key(|(k, _)| *k);

        family(
            &mut out,
            "spoor_build_info",
            "gauge",
            "Build information of this Spoor process; the value is always 1.",
        );
        sample(
            &mut out,
            "spoor_build_info",
            &[("version", &self.version)],
            "1",
        );

        family(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
        );
        sample(
            &mut out,
            "process_start_time_seconds",
            &[],
            &fmt_float(self.start_time_seconds),
        );

        let name = "spoor_receiver_accepted_spans_total";
        family(
            &mut out,
            name,
            "counter",
            "Spans accepted by a receiver and written to storage.",
        );
        for (src, s) in &receivers {
            let v = s.accepted_spans.load(Ordering::Relaxed);
            sample(&mut out, name, &source_labels(src), &v.to_string());
        }

        let name = "spoor_receiver_refused_spans_total";
        family(
            &mut out,
            name,
            "counter",
            "Spans refused by a receiver, by reason.",
        );
        for (src, s) in &receivers {
            for reason in RefuseReason::ALL {
                let v = s.refused_spans[reason.index()].load(Ordering::Relaxed);
                let mut labels = source_labels(src).to_vec();
                labels.push(("reason", reason.as_str()));
                sample(&mut out, name, &labels, &v.to_string());
            }
        }

        let name = "spoor_receiver_requests_total";
        family(
            &mut out,
            name,
            "counter",
            "Requests handled by a receiver, by result (ok or the refusal reason).",
        );
        for (src, s) in &receivers {
            let mut results = vec![("ok", s.requests_ok.load(Ordering::Relaxed))];
            for reason in RefuseReason::ALL {
                results.push((
                    reason.as_str(),
                    s.requests_refused[reason.index()].load(Ordering::Relaxed),
                ));
            }
            for (result, v) in results {
                let mut labels = source_labels(src).to_vec();
                labels.push(("result", result));
                sample(&mut out, name, &labels, &v.to_string());
            }
        }

        for (name, help, pick) in [
            (
                "spoor_receiver_spans_rejected_total",
                "Spans left out of accepted requests because they cannot be used (e.g. a missing or zero trace or span ID), by reason.",
                0,
            ),
            (
                "spoor_receiver_fields_dropped_total",
                "Fields of accepted spans dropped or replaced because they cannot be used (e.g. an address that is not an IP), by field.",
                1,
            ),
        ] {
            family(&mut out, name, "counter", help);
            let label = if pick == 0 { "reason" } else { "field" };
            for (src, s) in &receivers {
                let mut counts = if pick == 0 {
                    s.rejected_spans.lock().clone()
                } else {
                    s.dropped_fields.lock().clone()
                };
                counts.sort_unstable();
                for (l, v) in counts {
                    let mut labels = source_labels(src).to_vec();
                    labels.push((label, l));
                    sample(&mut out, name, &labels, &v.to_string());
                }
            }
        }

        let name = "spoor_ingest_spans_timestamp_skew_total";
        family(
            &mut out,
            name,
            "counter",
            "Spans stored whose start time was far in the past or future of their receive time, by direction.",
        );
        for (i, direction) in [SkewDirection::Past, SkewDirection::Future]
            .into_iter()
            .enumerate()
        {
            let v = self.timestamp_skew[i].load(Ordering::Relaxed);
            sample(
                &mut out,
                name,
                &[("direction", direction.as_str())],
                &v.to_string(),
            );
        }

        let name = "spoor_query_duration_seconds";
        family(
            &mut out,
            name,
            "histogram",
            "Latency of query requests, by endpoint.",
        );
        for (endpoint, s) in &queries {
            let mut cumulative = 0u64;
            for (i, le) in QUERY_BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i].load(Ordering::Relaxed);
                sample(
                    &mut out,
                    "spoor_query_duration_seconds_bucket",
                    &[("endpoint", endpoint), ("le", &fmt_float(*le))],
                    &cumulative.to_string(),
                );
            }
            cumulative += s.buckets[QUERY_BUCKETS.len()].load(Ordering::Relaxed);
            sample(
                &mut out,
                "spoor_query_duration_seconds_bucket",
                &[("endpoint", endpoint), ("le", "+Inf")],
                &cumulative.to_string(),
            );
            let sum = s.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            sample(
                &mut out,
                "spoor_query_duration_seconds_sum",
                &[("endpoint", endpoint)],
                &fmt_float(sum),
            );
            // The count is the +Inf bucket, so the two always agree.
            sample(
                &mut out,
                "spoor_query_duration_seconds_count",
                &[("endpoint", endpoint)],
                &cumulative.to_string(),
            );
        }

        let name = "spoor_query_requests_total";
        family(
            &mut out,
            name,
            "counter",
            "Query requests, by endpoint and result (ok or error).",
        );
        for (endpoint, s) in &queries {
            for (result, v) in [
                ("error", s.error.load(Ordering::Relaxed)),
                ("ok", s.ok.load(Ordering::Relaxed)),
            ] {
                sample(
                    &mut out,
                    name,
                    &[("endpoint", endpoint), ("result", result)],
                    &v.to_string(),
                );
            }
        }
        let storage = self.storage.read().clone();
        if let Some(status) = storage {
            for m in status.metrics() {
                let kind = match m.kind {
                    StorageMetricKind::Counter => "counter",
                    StorageMetricKind::Gauge => "gauge",
                };
                family(&mut out, m.name, kind, m.help);
                sample(&mut out, m.name, &[], &m.value.to_string());
            }
        }
        let extra = self.extra.read().clone();
        for e in extra {
            e.render(&mut out);
        }
        out
    }
}

fn source_labels(src: &Source) -> [(&'static str, &'static str); 3] {
    [
        ("receiver", src.receiver),
        ("transport", src.transport),
        ("format", src.format),
    ]
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: &str) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label_value(v));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// HELP text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn fmt_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const OTLP_GRPC: Source = Source {
        receiver: "otlp",
        transport: "grpc",
        format: "protobuf",
    };

    /// A parsed sample line: name, labels, value.
    type Sample = (String, Vec<(String, String)>, f64);

    /// A small parser for the exposition format, strict enough to catch
    /// malformed output: every line is a comment or `name{labels} value`.
    fn parse(text: &str) -> (Vec<(String, String)>, Vec<Sample>) {
        let mut types = Vec::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                types.push((name.to_string(), kind.to_string()));
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            assert!(!line.starts_with('#'), "unexpected comment {line}");
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap(),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), Vec::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').unwrap();
                    (name.to_string(), parse_labels(body))
                }
            };
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "bad name {name}"
            );
            samples.push((name, labels, value));
        }
        (types, samples)
    }

    fn parse_labels(body: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut chars = body.chars().peekable();
        while chars.peek().is_some() {
            let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
            assert_eq!(chars.next(), Some('"'));
            let mut val = String::new();
            loop {
                match chars.next().unwrap() {
                    '\\' => match chars.next().unwrap() {
                        'n' => val.push('\n'),
                        c => val.push(c),
                    },
                    '"' => break,
                    c => val.push(c),
                }
            }
            out.push((key, val));
            if chars.peek() == Some(&',') {
                chars.next();
            }
        }
        out
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels.len() == l.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| s.2)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
    }

    #[test]
    fn renders_counters_histograms_and_info_in_exposition_format() {
        let m = Telemetry::new("1.2.3 \"quoted\" \\ back\nslash");
        let r = m.receiver(OTLP_GRPC);
        r.accepted(10);
        r.accepted(5);
        r.refused(3, RefuseReason::Overloaded);
        r.request_ok();
        r.request_refused(RefuseReason::Overloaded);
        m.receiver(OTLP_GRPC).accepted(1);
        let q = m.query("find_traces");
        q.observe(Duration::from_micros(500), true);
        q.observe(Duration::from_millis(30), true);
        q.observe(Duration::from_secs(20), false);

        let text = m.render_prometheus();
        let (types, samples) = parse(&text);
        let type_of = |n: &str| {
            types
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, k)| k.as_str())
        };
        assert_eq!(
            type_of("spoor_receiver_accepted_spans_total"),
            Some("counter")
        );
        assert_eq!(type_of("spoor_query_duration_seconds"), Some("histogram"));
        assert_eq!(type_of("spoor_build_info"), Some("gauge"));
        assert_eq!(type_of("process_start_time_seconds"), Some("gauge"));

        let src = [
            ("receiver", "otlp"),
            ("transport", "grpc"),
            ("format", "protobuf"),
        ];
        assert_eq!(
            value(&samples, "spoor_receiver_accepted_spans_total", &src),
            16.0
        );
        let with = |extra: (&'static str, &'static str)| {
            let mut l = src.to_vec();
            l.push(extra);
            l
        };
        assert_eq!(
            value(
                &samples,
                "spoor_receiver_refused_spans_total",
                &with(("reason", "overloaded"))
            ),
            3.0
        );
        assert_eq!(
            value(
                &samples,
                "spoor_receiver_refused_spans_total",
                &with(("reason", "storage_error"))
            ),
            0.0
        );
        assert_eq!(
            value(
                &samples,
                "spoor_receiver_requests_total",
                &with(("result", "ok"))
            ),
            1.0
        );
        assert_eq!(
            value(
                &samples,
                "spoor_receiver_requests_total",
                &with(("result", "overloaded"))
            ),
            1.0
        );

        // histogram: cumulative buckets ending with +Inf == count
        let ep = ("endpoint", "find_traces");
        let bucket = |le: &str| {
            value(
                &samples,
                "spoor_query_duration_seconds_bucket",
                &[ep, ("le", le)],
            )
        };
        assert_eq!(bucket("0.001"), 1.0);
        assert_eq!(bucket("0.025"), 1.0);
        assert_eq!(bucket("0.05"), 2.0);
        assert_eq!(bucket("10"), 2.0);
        assert_eq!(bucket("+Inf"), 3.0);
        assert_eq!(
            value(&samples, "spoor_query_duration_seconds_count", &[ep]),
            3.0
        );
        let sum = value(&samples, "spoor_query_duration_seconds_sum", &[ep]);
        assert!((sum - 20.0305).abs() < 1e-9, "{sum}");
        let buckets: Vec<f64> = samples
            .iter()
            .filter(|(n, _, _)| n == "spoor_query_duration_seconds_bucket")
            .map(|s| s.2)
            .collect();
        assert_eq!(buckets.len(), QUERY_BUCKETS.len() + 1);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "cumulative");
        assert_eq!(
            value(
                &samples,
                "spoor_query_requests_total",
                &[ep, ("result", "ok")]
            ),
            2.0
        );
        assert_eq!(
            value(
                &samples,
                "spoor_query_requests_total",
                &[ep, ("result", "error")]
            ),
            1.0
        );

        // escaped label value round-trips through the parser
        assert_eq!(
            value(
                &samples,
                "spoor_build_info",
                &[("version", "1.2.3 \"quoted\" \\ back\nslash")]
            ),
            1.0
        );
        assert!(text.contains(r#"version="1.2.3 \"quoted\" \\ back\nslash""#));
        assert!(value(&samples, "process_start_time_seconds", &[]) > 1.5e9);
        // every sample belongs to a declared family
        for (name, _, _) in &samples {
            let family = name
                .strip_suffix("_bucket")
                .or_else(|| name.strip_suffix("_sum"))
                .or_else(|| name.strip_suffix("_count"))
                .unwrap_or(name);
            assert!(
                type_of(family).is_some() || type_of(name).is_some(),
                "{name}"
            );
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn empty_registry_still_renders_info() {
        let text = Telemetry::new("0.1.0").render_prometheus();
        let (_, samples) = parse(&text);
        // build info, start time, and the two timestamp-skew directions.
        assert_eq!(samples.len(), 4);
        assert!(text.contains("# TYPE spoor_receiver_requests_total counter"));
        assert!(text.contains("# TYPE spoor_receiver_spans_rejected_total counter"));
        assert!(text.contains("# TYPE spoor_receiver_fields_dropped_total counter"));
        assert!(text.contains("spoor_ingest_spans_timestamp_skew_total{direction=\"past\"} 0\n"));
    }

    #[test]
    fn renders_the_storage_backends_series() {
        struct Fake;
        impl StorageStatus for Fake {
            fn health(&self) -> spoor_storage::StorageHealth {
                spoor_storage::StorageHealth::writable()
            }
            fn metrics(&self) -> Vec<spoor_storage::StorageMetric> {
                vec![
                    spoor_storage::StorageMetric {
                        name: "spoor_engine_wal_skipped_bytes_total",
                        help: "Skipped.",
                        kind: StorageMetricKind::Counter,
                        value: 42,
                    },
                    spoor_storage::StorageMetric {
                        name: "spoor_engine_writable",
                        help: "Writable.",
                        kind: StorageMetricKind::Gauge,
                        value: 0,
                    },
                ]
            }
        }
        let m = Telemetry::new("t");
        m.set_storage_status(Arc::new(Fake));
        let text = m.render_prometheus();
        let (_, samples) = parse(&text);
        assert_eq!(
            value(&samples, "spoor_engine_wal_skipped_bytes_total", &[]),
            42.0
        );
        assert_eq!(value(&samples, "spoor_engine_writable", &[]), 0.0);
        assert!(text.contains("# TYPE spoor_engine_writable gauge\n"));
        assert!(text.contains("# TYPE spoor_engine_wal_skipped_bytes_total counter\n"));
    }

    #[test]
    fn handles_are_shared_across_threads() {
        let m = Arc::new(Telemetry::new("t"));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        m.receiver(OTLP_GRPC).accepted(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (_, samples) = parse(&m.render_prometheus());
        let src = [
            ("receiver", "otlp"),
            ("transport", "grpc"),
            ("format", "protobuf"),
        ];
        assert_eq!(
            value(&samples, "spoor_receiver_accepted_spans_total", &src),
            4000.0
        );
    }
}
