//! `spoor export`: every trace matching a search, out to a file, streamed
//! (docs/export.md).
//!
//! The source is a running Spoor (`--url`: its `GET /api/export`, read as
//! OTLP protobuf and regrouped into traces) or a data directory (`--data-dir`:
//! the engine opened in this process, paged by the same
//! `spoor_service::export::TracePager` the endpoint uses, from the search
//! read by `spoor_server::export::pager_from_query`). Either way one
//! trace at a time goes to the writer of the chosen format.

pub mod parquet;

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use http::Uri;
use http_body_util::BodyExt;
use spoor_client::http::{HttpClient, ResponseBody};
use spoor_codec::export::{ExportFormat, TraceEncoder};
use spoor_model::{SpanRecord, Trace, TraceId};
use spoor_service::export::TracePager;
use spoor_service::{QueryOptions, QueryService};

use crate::common::progress::{self, Progress, ProgressMode};
use crate::common::stream::ProtoFields;

/// Where `spoor export` reads when neither `--url` nor `--data-dir` is
/// given: the query server of a local all-in-one Spoor.
pub const DEFAULT_QUERY_URL: &str = "http://127.0.0.1:16686";

/// Export traces to a file.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A running Spoor's query address, with its base path if any [default: http://127.0.0.1:16686, unless --data-dir is given]
    #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
    pub url: Option<String>,

    /// Read a data directory directly (Spoor must be stopped)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Only traces with a span of this service
    #[arg(long)]
    pub service: Option<String>,

    /// …and this operation (span name)
    #[arg(long)]
    pub operation: Option<String>,

    /// Attribute filter `key=value` (repeatable; all must hold on one span)
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,

    /// Attribute filters as a JSON object, as `/api/traces` takes them
    #[arg(long = "tags", value_name = "JSON")]
    pub tags_json: Option<String>,

    /// Earliest span start: RFC 3339 (`2026-01-02T15:04:05Z`) or a time ago (`90m`, `2h`, `7d`); default: the beginning
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,

    /// Latest span start, same forms; default: now
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,

    /// Shortest matching span, a Go duration (`250ms`, `1.5s`)
    #[arg(long, value_name = "DURATION")]
    pub min_duration: Option<String>,

    /// Longest matching span, a Go duration
    #[arg(long, value_name = "DURATION")]
    pub max_duration: Option<String>,

    /// Export these traces (hex IDs; repeatable) instead of a search
    #[arg(long = "trace-id", value_name = "ID")]
    pub trace_ids: Vec<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::JaegerJsonl)]
    pub format: OutputFormat,

    /// Output file (default: standard output)
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Rows per Parquet row group (bounds the memory of a Parquet export)
    #[arg(long, value_name = "N", default_value_t = 64 * 1024)]
    pub row_group_spans: usize,

    /// Progress on stderr
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// Log filter for diagnostics on stderr
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub log: String,

    /// TLS and credentials of the requests to `--url`
    #[command(flatten)]
    pub client: crate::common::ClientArgs,
}

/// Formats `spoor export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One Jaeger UI trace per line (the elements of `/api/traces`' `data`)
    JaegerJsonl,
    /// One document shaped like the `/api/traces` response
    JaegerJson,
    /// One OTLP/JSON `TracesData` document
    OtlpJson,
    /// One OTLP/JSON `TracesData` per trace, one per line
    OtlpJsonl,
    /// One OTLP protobuf `TracesData` message
    OtlpProto,
    /// Apache Parquet, one row per span
    Parquet,
    /// CSV, one row per span
    Csv,
}

impl OutputFormat {
    fn encoded(self) -> Option<ExportFormat> {
        Some(match self {
            OutputFormat::JaegerJsonl => ExportFormat::JaegerJsonl,
            OutputFormat::JaegerJson => ExportFormat::JaegerJson,
            OutputFormat::OtlpJson => ExportFormat::OtlpJson,
            OutputFormat::OtlpJsonl => ExportFormat::OtlpJsonl,
            OutputFormat::OtlpProto => ExportFormat::OtlpProto,
            OutputFormat::Csv => ExportFormat::Csv,
            OutputFormat::Parquet => return None,
        })
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// RFC 3339, or a Go duration / `Nd` meaning that long before `now`.
pub fn parse_time(s: &str, now: u64) -> Result<u64> {
    if let Some(t) = spoor_model::parse_rfc3339(s) {
        return Ok(t);
    }
    let ago = if let Some(days) = s.strip_suffix('d') {
        let days: u64 = days.parse().map_err(|_| {
            anyhow!("invalid time {s:?}: expected RFC 3339 or a time ago like 2h or 7d")
        })?;
        days.saturating_mul(86_400_000_000_000)
    } else {
        let d = spoor_model::parse_go_duration(s).map_err(|e| {
            anyhow!("invalid time {s:?}: expected RFC 3339 or a time ago like 2h or 7d ({e})")
        })?;
        d.unsigned_abs()
    };
    Ok(now.saturating_sub(ago))
}

/// The search as `/api/export` query parameters, and its window (earliest
/// span start if bounded, latest span start) in nanoseconds.
fn query_string(args: &ExportArgs) -> Result<(String, (Option<u64>, u64))> {
    let now = now_nanos();
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = &args.service {
        q.append_pair("service", s);
    }
    if let Some(o) = &args.operation {
        q.append_pair("operation", o);
    }
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    if let Some(json) = &args.tags_json {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(json)
            .with_context(|| format!("--tags must be a JSON object, got {json:?}"))?;
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            tags.insert(k, v);
        }
    }
    for t in &args.tags {
        let (k, v) = t
            .split_once('=')
            .ok_or_else(|| anyhow!("--tag must be key=value, got {t:?}"))?;
        tags.insert(k.to_string(), v.to_string());
    }
    if !tags.is_empty() {
        q.append_pair("tags", &serde_json::to_string(&tags)?);
    }
    let start = args
        .start
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()?;
    let end = args
        .end
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        bail!("--start is after --end");
    }
    // `/api/*` takes microseconds; round outward so no nanosecond is lost.
    if let Some(s) = start {
        q.append_pair("start", &(s / 1_000).to_string());
    }
    q.append_pair("end", &end.unwrap_or(now).div_ceil(1_000).to_string());
    if let Some(d) = &args.min_duration {
        q.append_pair("minDuration", d);
    }
    if let Some(d) = &args.max_duration {
        q.append_pair("maxDuration", d);
    }
    for id in &args.trace_ids {
        q.append_pair("traceID", id);
    }
    Ok((q.finish(), (start, end.unwrap_or(now))))
}

/// Counts what goes through it.
struct Counting<W> {
    inner: W,
    bytes: Arc<std::sync::atomic::AtomicU64>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type Out = Counting<BufWriter<Box<dyn Write + Send>>>;

enum Writer {
    Encoded {
        encoder: TraceEncoder,
        out: Out,
        buf: Vec<u8>,
    },
    Parquet(Box<parquet::ParquetSink<Out>>),
}

impl Writer {
    fn new(format: OutputFormat, out: Out, row_group_spans: usize) -> Result<Writer> {
        Ok(match format.encoded() {
            Some(f) => {
                let encoder = TraceEncoder::new(f);
                let mut buf = Vec::new();
                encoder.begin(&mut buf);
                let mut out = out;
                out.write_all(&buf)?;
                buf.clear();
                Writer::Encoded { encoder, out, buf }
            }
            None => Writer::Parquet(Box::new(parquet::ParquetSink::new(out, row_group_spans)?)),
        })
    }

    fn trace(&mut self, trace: &Trace) -> Result<()> {
        match self {
            Writer::Encoded { encoder, out, buf } => {
                encoder.trace(trace, buf);
                out.write_all(buf).context("cannot write the output")?;
                buf.clear();
                Ok(())
            }
            Writer::Parquet(p) => p.trace(trace),
        }
    }

    fn finish(self) -> Result<()> {
        let mut out = match self {
            Writer::Encoded {
                encoder,
                mut out,
                mut buf,
            } => {
                encoder.finish(&mut buf);
                out.write_all(&buf)?;
                out
            }
            Writer::Parquet(p) => p.finish()?,
        };
        out.flush().context("cannot write the output")
    }
}

/// Where traces come from.
enum Source {
    Http(HttpSource),
    Engine {
        engine: Arc<spoor_engine::Engine>,
        pager: TracePager,
        page: std::vec::IntoIter<Trace>,
    },
}

/// Traces of `GET /api/export?format=otlp-proto`, regrouped: the endpoint
/// writes each trace as consecutive `ResourceSpans` of that trace only.
struct HttpSource {
    body: ResponseBody,
    /// The server's `Spoor-Warning` fields (head and trailer): data it skipped.
    warnings: Vec<String>,
    fields: ProtoFields,
    current: Option<Trace>,
    ready: std::collections::VecDeque<Trace>,
    ended: bool,
}

impl HttpSource {
    async fn next(&mut self) -> Result<Option<Trace>> {
        loop {
            if let Some(t) = self.ready.pop_front() {
                return Ok(Some(t));
            }
            if self.ended {
                return Ok(self.current.take());
            }
            while let Some((field, payload)) = self.fields.next_field()? {
                if field == 1 {
                    self.resource_spans(&payload)?;
                }
            }
            if !self.ready.is_empty() {
                continue;
            }
            match self.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.fields.push(&data),
                    Err(frame) => {
                        if let Ok(trailer) = frame.into_trailers() {
                            self.warnings.extend(warning_fields(&trailer));
                        }
                    }
                },
                Some(Err(e)) => {
                    return Err(anyhow!(e).context("the export stream from the server broke off"));
                }
                None => {
                    if !self.fields.is_empty() {
                        bail!("the export stream from the server ended in the middle of a trace");
                    }
                    self.ended = true;
                }
            }
        }
    }

    fn resource_spans(&mut self, payload: &[u8]) -> Result<()> {
        let mut message = Vec::with_capacity(payload.len() + 10);
        crate::common::stream::push_field_1(&mut message, payload);
        let batch = spoor_codec::otlp::decode_request(&message)
            .context("the server sent invalid OTLP protobuf")?;
        for record in batch.spans {
            self.add(record);
        }
        Ok(())
    }

    fn add(&mut self, record: SpanRecord) {
        let id = record.span.trace_id;
        match &mut self.current {
            Some(t) if t.trace_id == id => t.spans.push(record),
            _ => {
                let next = Trace {
                    trace_id: id,
                    spans: vec![record],
                    warnings: Vec::new(),
                };
                if let Some(done) = self.current.replace(next) {
                    self.ready.push_back(done);
                }
            }
        }
    }
}

/// The `Spoor-Warning` fields of a response head or trailer.
fn warning_fields(fields: &http::HeaderMap) -> Vec<String> {
    fields
        .get_all("spoor-warning")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

impl Source {
    /// Warnings about data the source skipped (a damaged block): the export
    /// lacks that data.
    fn take_warnings(&mut self) -> Vec<String> {
        match self {
            Source::Http(h) => std::mem::take(&mut h.warnings),
            Source::Engine { pager, .. } => pager.take_warnings(),
        }
    }

    async fn next(&mut self) -> Result<Option<Trace>> {
        match self {
            Source::Http(h) => h.next().await,
            Source::Engine { pager, page, .. } => loop {
                if let Some(t) = page.next() {
                    return Ok(Some(t));
                }
                match pager.next_page().await? {
                    Some(traces) => *page = traces.into_iter(),
                    None => return Ok(None),
                }
            },
        }
    }
}

fn base_url(url: &str) -> Result<String> {
    let base = url.trim_end_matches('/').to_string();
    let uri: Uri = base
        .parse()
        .with_context(|| format!("invalid --url {url:?}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        bail!("--url must be an http:// or https:// URL, got {url:?}");
    }
    Ok(base)
}

async fn http_get(client: &HttpClient, url: &str) -> Result<http::Response<ResponseBody>> {
    let req = spoor_client::http::get_request(url)?;
    client
        .request(req)
        .await
        .with_context(|| format!("cannot reach {url}"))
}

/// Service names of the source, for the "nothing matched" message.
async fn services(source: &Source, client: &HttpClient, base: Option<&str>) -> Result<Vec<String>> {
    match source {
        Source::Engine { engine, .. } => {
            Ok(spoor_storage::TraceReader::services(engine.as_ref()).await?)
        }
        Source::Http(_) => {
            let url = format!("{}/api/services", base.unwrap_or(""));
            let resp = http_get(client, &url).await?;
            let body = resp.into_body().collect().await?.to_bytes();
            let v: serde_json::Value =
                serde_json::from_slice(&body).context("/api/services did not answer JSON")?;
            Ok(v["data"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default())
        }
    }
}

/// Entry point of `spoor export`.
pub fn main(args: ExportArgs) -> Result<()> {
    crate::common::init_logging(&args.log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spoor-export")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: ExportArgs) -> Result<()> {
    for id in &args.trace_ids {
        TraceId::from_hex(id).map_err(|e| anyhow!("invalid --trace-id {id:?}: {e}"))?;
    }
    let (query, window) = query_string(&args)?;
    let client = spoor_client::http::client_with(&args.client.security()?)?;
    let mut base = None;
    let default_url = (args.url.is_none() && args.data_dir.is_none()).then_some(DEFAULT_QUERY_URL);
    let mut source = match (args.url.as_deref().or(default_url), &args.data_dir) {
        (Some(url), _) => {
            let b = base_url(url)?;
            let url = format!("{b}/api/export?{query}&format=otlp-proto");
            tracing::debug!(%url, "exporting");
            let resp = http_get(&client, &url).await.map_err(|e| {
                if default_url.is_some() {
                    e.context(format!(
                        "no Spoor answers at {DEFAULT_QUERY_URL} (the default); give --url URL or --data-dir DIR"
                    ))
                } else {
                    e
                }
            })?;
            let status = resp.status();
            if !status.is_success() {
                let body = resp.into_body().collect().await?.to_bytes();
                bail!(
                    "the server answered {status}: {}",
                    String::from_utf8_lossy(&body).trim()
                );
            }
            base = Some(b);
            let warnings = warning_fields(resp.headers());
            Source::Http(HttpSource {
                body: resp.into_body(),
                warnings,
                fields: ProtoFields::default(),
                current: None,
                ready: Default::default(),
                ended: false,
            })
        }
        (None, Some(dir)) => {
            let mut config = spoor_engine::EngineConfig::new(dir.clone());
            config.compaction = false;
            if !dir.join("wal").is_dir() && !dir.join("blocks").is_dir() {
                bail!("{} is not a Spoor data directory", dir.display());
            }
            let engine = spoor_engine::Engine::open(config).await.map_err(|e| {
                if matches!(e, spoor_engine::EngineError::Locked(_)) {
                    anyhow!(
                        "the data directory {} is in use by a running Spoor; stop it first, or export from it with --url",
                        dir.display()
                    )
                } else {
                    anyhow!(e).context(format!("cannot open the data directory {}", dir.display()))
                }
            })?;
            let engine = Arc::new(engine);
            let service = Arc::new(QueryService::new(
                engine.clone(),
                None,
                QueryOptions::default(),
            ));
            let pager = spoor_server::export::pager_from_query(service, &query)
                .map_err(|e| anyhow!("{}", e.msg))?;
            Source::Engine {
                engine,
                pager,
                page: Vec::new().into_iter(),
            }
        }
        (None, None) => bail!("give --url URL or --data-dir DIR"),
    };

    let bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sink: Box<dyn Write + Send> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let out = Counting {
        inner: BufWriter::with_capacity(1 << 20, sink),
        bytes: bytes.clone(),
    };
    let mut writer = Writer::new(args.format, out, args.row_group_spans)?;
    let mut progress = Progress::new(args.progress);
    let (mut traces, mut spans) = (0u64, 0u64);
    let result: Result<()> = async {
        while let Some(trace) = source.next().await? {
            traces += 1;
            spans += trace.spans.len() as u64;
            writer.trace(&trace)?;
            progress.update(|elapsed| {
                format!(
                    "exported {traces} traces, {spans} spans, {} written, {} spans/s",
                    progress::bytes(bytes.load(std::sync::atomic::Ordering::Relaxed)),
                    progress::rate(spans, elapsed)
                )
            });
        }
        Ok(())
    }
    .await;
    progress.finish();
    let finished = writer.finish();
    let elapsed = progress.elapsed();
    let nothing_matched = if result.is_ok() && traces == 0 && args.trace_ids.is_empty() {
        let probe = Probe {
            source: &source,
            client: &client,
            base: base.as_deref(),
        };
        Some(
            nothing_matched(&probe, args.service.as_deref(), window)
                .await
                .unwrap_or_else(|e| format!("no trace matched the filter ({e:#})")),
        )
    } else if result.is_ok() && traces == 0 {
        Some("none of the given trace IDs was found".to_string())
    } else {
        None
    };
    let warnings = source.take_warnings();
    if let Source::Engine { engine, .. } = &source
        && let Err(e) = engine.close().await
    {
        tracing::warn!(error = %e, "closing the data directory failed");
    }
    result?;
    finished?;
    let written = bytes.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "exported {traces} traces, {spans} spans, {} in {:.1}s ({} spans/s){}",
        progress::bytes(written),
        elapsed.as_secs_f64(),
        progress::rate(spans, elapsed.max(Duration::from_millis(1))),
        args.output
            .as_ref()
            .map(|p| format!(" to {}", p.display()))
            .unwrap_or_default()
    );
    if !warnings.is_empty() {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        bail!(
            "the export is incomplete: {} part(s) of the data could not be read and were skipped \
             (see the warnings above and docs/operations.md, \"Damaged blocks\"); everything else was written",
            warnings.len()
        );
    }
    if let Some(message) = nothing_matched {
        bail!("{message}");
    }
    Ok(())
}

/// The latest second a span can start at (`u64::MAX` nanoseconds, in 2554).
const LATEST_SECOND: u64 = u64::MAX / 1_000_000_000;

/// Asks the source cheap questions after a search matched nothing: one
/// search with limit 1 per question.
struct Probe<'a> {
    source: &'a Source,
    client: &'a HttpClient,
    base: Option<&'a str>,
}

impl Probe<'_> {
    /// Does a span (of `service`, if given) start in `[min, max]`?
    async fn any(&self, service: Option<&str>, min: u64, max: u64) -> Result<bool> {
        match self.source {
            Source::Engine { engine, .. } => {
                let query = spoor_storage::TraceQuery {
                    service: service.map(str::to_owned),
                    start_min: Some(min),
                    start_max: Some(max),
                    limit: 1,
                    ..spoor_storage::TraceQuery::default()
                };
                let found =
                    spoor_storage::TraceReader::find_trace_ids(engine.as_ref(), &query).await?;
                Ok(!found.is_empty())
            }
            Source::Http(_) => {
                let mut q = form_urlencoded::Serializer::new(String::new());
                if let Some(s) = service {
                    q.append_pair("query.serviceName", s);
                }
                q.append_pair("query.startTimeMin", &spoor_model::format_rfc3339(min));
                q.append_pair("query.startTimeMax", &spoor_model::format_rfc3339(max));
                q.append_pair("query.searchDepth", "1");
                let url = format!(
                    "{}/api/v3/trace-summaries?{}",
                    self.base.unwrap_or(""),
                    q.finish()
                );
                let resp = http_get(self.client, &url).await?;
                let status = resp.status();
                let body = resp.into_body().collect().await?.to_bytes();
                if !status.is_success() {
                    bail!(
                        "the server answered {status} to {url}: {}",
                        String::from_utf8_lossy(&body).trim()
                    );
                }
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .context("/api/v3/trace-summaries did not answer JSON")?;
                Ok(v["summaries"].as_array().is_some_and(|a| !a.is_empty()))
            }
        }
    }

    /// The first and the last second in which a span (of `service`, if
    /// given) starts, or `None` when there is none: two binary searches over
    /// the representable seconds, about 35 probes each.
    async fn data_range(&self, service: Option<&str>) -> Result<Option<(u64, u64)>> {
        let end_of = |second: u64| {
            second
                .saturating_mul(1_000_000_000)
                .saturating_add(999_999_999)
        };
        if !self.any(service, 0, u64::MAX).await? {
            return Ok(None);
        }
        // Nothing starts before `lo`; something starts at or before `hi`'s end.
        let (mut lo, mut hi) = (0, LATEST_SECOND);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.any(service, lo * 1_000_000_000, end_of(mid)).await? {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let first = lo;
        // Nothing starts after `hi`'s end; something starts at or after `lo`.
        let (mut lo, mut hi) = (first, LATEST_SECOND);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.any(service, mid * 1_000_000_000, end_of(hi)).await? {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(Some((first, lo)))
    }

    /// Service names of the source.
    async fn services(&self) -> Result<Vec<String>> {
        services(self.source, self.client, self.base).await
    }
}

/// Why a search found nothing, as far as the source can tell: whether the
/// service exists at all and, if it does, when its data starts and ends,
/// beside the window that was searched.
async fn nothing_matched(
    probe: &Probe<'_>,
    service: Option<&str>,
    (start, end): (Option<u64>, u64),
) -> Result<String> {
    let services = probe.services().await?;
    let listed = if services.is_empty() {
        "the source holds no spans at all".to_string()
    } else {
        format!("services that exist: {}", services.join(", "))
    };
    let searched = format!(
        "the search covered spans starting from {} to {}",
        start.map_or_else(|| "the beginning".to_string(), spoor_model::format_rfc3339),
        spoor_model::format_rfc3339(end)
    );
    let second = |s: u64| spoor_model::format_rfc3339(s.saturating_mul(1_000_000_000));
    Ok(match service {
        Some(name) if !services.iter().any(|s| s == name) => {
            format!("no trace matched the filter: there is no service {name:?}; {listed}")
        }
        Some(name) => match probe.data_range(Some(name)).await? {
            Some((first, last)) => format!(
                "no trace matched the filter: service {name:?} exists, its spans start between {} and {}; {searched}",
                second(first),
                second(last)
            ),
            None => format!(
                "no trace matched the filter: service {name:?} is known, but none of its spans can be found any more (removed by retention?); {searched}"
            ),
        },
        None if services.is_empty() => format!("no trace matched the filter: {listed}"),
        None => match probe.data_range(None).await? {
            Some((first, last)) => format!(
                "no trace matched the filter: the source holds spans starting between {} and {}; {searched}; {listed}",
                second(first),
                second(last)
            ),
            None => format!("no trace matched the filter; {searched}; {listed}"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_ago() {
        let now = 10 * 86_400_000_000_000;
        assert_eq!(parse_time("2h", now).ok(), Some(now - 7_200_000_000_000));
        assert_eq!(parse_time("1d", now).ok(), Some(now - 86_400_000_000_000));
        assert_eq!(
            parse_time("1970-01-01T00:00:01Z", now).ok(),
            Some(1_000_000_000)
        );
        assert!(parse_time("yesterday", now).is_err());
    }
}
