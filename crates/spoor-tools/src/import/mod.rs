//! `spoor import`: trace files into a running Spoor (OTLP/HTTP) or a data
//! directory, streamed (docs/export.md).
//!
//! Each file is read on its own thread, element by element ([`stream`]), and
//! converted to span batches that a bounded channel hands to the sink, so
//! memory holds a few batches whatever the file size.

pub mod jaeger;

use std::collections::HashSet;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use spoor_client::{Connector, Outcome, Protocol, SenderOptions, send_with_retry};
use spoor_model::{SpanBatch, TraceId};
use spoor_service::retry::RetryPolicy;
use spoor_storage::SpanWriter;
use tokio::sync::mpsc;

use crate::common::progress::{self, Progress, ProgressMode};
use crate::common::stream::{JsonElements, ProtoFields};

/// Where `spoor import` sends spans when neither `--otlp` nor `--data-dir`
/// is given: the OTLP/HTTP receiver of a local all-in-one Spoor.
pub const DEFAULT_OTLP_URL: &str = "http://127.0.0.1:4318";

/// Import trace files into Spoor.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Files to read (`-` reads standard input)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Input format; `auto` decides per file from its name and first bytes
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub format: InputFormat,

    /// A running Spoor's (or any collector's) OTLP/HTTP endpoint [default: http://127.0.0.1:4318, unless --data-dir is given]
    #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
    pub otlp: Option<String>,

    /// Write into this data directory (Spoor must be stopped)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Service name given to Jaeger spans whose process is unknown
    #[arg(long, value_name = "NAME", default_value = "unknown_service")]
    pub unknown_service: String,

    /// Spans per request or write
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    pub batch_spans: usize,

    /// Attempts per batch after the first when the receiver is busy or unreachable
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_retries: u32,

    /// Progress on stderr
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// Log filter for diagnostics on stderr
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub log: String,

    /// TLS and credentials of the requests to `--otlp`
    #[command(flatten)]
    pub client: crate::common::ClientArgs,
}

/// Formats `spoor import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    Auto,
    /// Jaeger UI JSON: `/api/traces` responses, the UI download, one trace per line or `jq` output
    JaegerJson,
    /// OTLP/JSON `TracesData` documents (one or many, e.g. one per line)
    OtlpJson,
    /// OTLP protobuf `TracesData` (or `ExportTraceServiceRequest`)
    OtlpProto,
    /// Zipkin v1 or v2 JSON span lists (the version is told per span)
    ZipkinJson,
}

/// What became of one input file.
#[derive(Debug)]
enum FileOutcome {
    /// Read to the end; every span went to the sink (`refused` of them were
    /// refused by the receiver).
    Imported { spans: u64, refused: u64 },
    /// Could not be opened or read to the end; `spans` were imported first.
    Failed {
        spans: u64,
        refused: u64,
        reason: String,
    },
    /// Never read: the sink failed on an earlier file.
    NotRead { reason: String },
}

impl FileOutcome {
    /// Not read to the end (refused spans are counted on their own).
    fn failed(&self) -> bool {
        !matches!(self, FileOutcome::Imported { .. })
    }

    /// One line of the per-file report.
    fn line(&self, file: &Path) -> String {
        let refused = |n: u64| {
            if n > 0 {
                format!(" ({n} refused by the receiver)")
            } else {
                String::new()
            }
        };
        match self {
            FileOutcome::Imported { spans, refused: r } => {
                format!("{}: imported {spans} spans{}", file.display(), refused(*r))
            }
            FileOutcome::Failed {
                spans: 0,
                refused: 0,
                reason,
            } => format!("{}: skipped: {reason}", file.display()),
            FileOutcome::Failed {
                spans,
                refused: r,
                reason,
            } => format!(
                "{}: failed after importing {spans} spans{}: {reason}",
                file.display(),
                refused(*r)
            ),
            FileOutcome::NotRead { reason } => format!("{}: not read: {reason}", file.display()),
        }
    }
}

/// Why one file's import stopped.
enum FileError {
    /// The file could not be opened or decoded: the next file may still work.
    Input(anyhow::Error),
    /// The sink failed (receiver unreachable, storage error): no later file
    /// can be written either.
    Sink(anyhow::Error),
}

/// Counts of one import.
#[derive(Debug, Default)]
struct Totals {
    files: u64,
    spans: u64,
    refused: u64,
    recovered: u64,
    without_service: u64,
    /// What the decoders left out (spans without usable IDs, unusable fields).
    left_out: spoor_codec::DecodeReport,
    /// Spans starting far before / after the import time (ADR 0015).
    far_past: u64,
    far_future: u64,
    traces: HashSet<TraceId>,
    bytes_read: u64,
}

/// Entry point of `spoor import`.
pub fn main(args: ImportArgs) -> Result<()> {
    crate::common::init_logging(&args.log)?;
    if args.batch_spans == 0 {
        bail!("--batch-spans must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spoor-import")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(args))
}

enum Sink {
    Otlp(Box<OtlpSink>),
    Engine(Arc<spoor_engine::Engine>),
}

async fn run(args: ImportArgs) -> Result<()> {
    let sink = match (&args.otlp, &args.data_dir) {
        (Some(url), _) => Sink::Otlp(Box::new(
            OtlpSink::new(url, args.max_retries, args.client.security()?).await?,
        )),
        (None, None) => Sink::Otlp(Box::new(
            OtlpSink::new(DEFAULT_OTLP_URL, args.max_retries, args.client.security()?).await?,
        )),
        (None, Some(dir)) => {
            let mut config = spoor_engine::EngineConfig::new(dir.clone());
            config.compaction = false;
            let engine = spoor_engine::Engine::open(config)
                .await
                .map_err(|e| open_error(e, dir))?;
            Sink::Engine(Arc::new(engine))
        }
    };
    let mut totals = Totals::default();
    let mut progress = Progress::new(args.progress);
    // Every file is tried; a failing file is reported and the next one read,
    // unless the sink itself failed (then no later file can be written).
    let mut outcomes: Vec<FileOutcome> = Vec::with_capacity(args.files.len());
    let mut stopped: Option<String> = None;
    for file in &args.files {
        if let Some(reason) = &stopped {
            outcomes.push(FileOutcome::NotRead {
                reason: reason.clone(),
            });
            continue;
        }
        let (spans, refused) = (totals.spans, totals.refused);
        let result = import_file(&args, file, &sink, &mut totals, &mut progress).await;
        let (spans, refused) = (totals.spans - spans, totals.refused - refused);
        outcomes.push(match result {
            Ok(()) => {
                totals.files += 1;
                FileOutcome::Imported { spans, refused }
            }
            Err(FileError::Input(e)) => FileOutcome::Failed {
                spans,
                refused,
                reason: format!("{e:#}"),
            },
            Err(FileError::Sink(e)) => {
                stopped = Some(format!(
                    "the import stopped when writing {} failed",
                    file.display()
                ));
                FileOutcome::Failed {
                    spans,
                    refused,
                    reason: format!("{e:#}"),
                }
            }
        });
    }
    progress.finish();
    let failed_files = outcomes.iter().filter(|o| o.failed()).count();
    if let Sink::Engine(engine) = &sink
        && let Err(e) = engine.close().await
    {
        tracing::warn!(error = %e, "closing the data directory failed");
    }
    let elapsed = progress.elapsed();
    for (file, outcome) in args.files.iter().zip(&outcomes) {
        eprintln!("{}", outcome.line(file));
    }
    let mut summary = format!(
        "imported {} file(s): {} traces, {} spans in {:.1}s ({} spans/s, {} read)",
        totals.files,
        totals.traces.len(),
        totals.spans,
        elapsed.as_secs_f64(),
        progress::rate(totals.spans, elapsed),
        progress::bytes(totals.bytes_read),
    );
    if totals.recovered > 0 {
        summary.push_str(&format!(
            "\n{} spans had no entry in their trace's processes: their service came from the span's own process field",
            totals.recovered
        ));
    }
    if totals.without_service > 0 {
        summary.push_str(&format!(
            "\n{} spans had no process at all: they were given the service name {:?} (--unknown-service)",
            totals.without_service, args.unknown_service
        ));
    }
    if !totals.left_out.is_empty() {
        summary.push_str(&format!(
            "\n{} spans were left out (no usable trace or span ID) and {} unusable fields dropped: {}",
            totals.left_out.rejected_spans(),
            totals.left_out.dropped_fields(),
            totals.left_out.summary()
        ));
    }
    if totals.far_past > 0 || totals.far_future > 0 {
        summary.push_str(&format!(
            "\n{} spans start more than 30 days in the past and {} more than 1 hour in the future: kept as recorded; search them with a time range that covers them",
            totals.far_past, totals.far_future
        ));
    }
    if totals.refused > 0 {
        summary.push_str(&format!(
            "\n{} spans were refused by the receiver",
            totals.refused
        ));
    }
    if failed_files > 0 {
        summary.push_str(&format!(
            "\n{failed_files} of {} file(s) were not imported completely (see above)",
            outcomes.len()
        ));
    }
    eprintln!("{summary}");
    if failed_files > 0 {
        bail!(
            "{failed_files} of {} file(s) were not imported completely",
            outcomes.len()
        );
    }
    if totals.refused > 0 {
        bail!("{} spans were not imported", totals.refused);
    }
    Ok(())
}

fn open_error(e: spoor_engine::EngineError, dir: &Path) -> anyhow::Error {
    if matches!(e, spoor_engine::EngineError::Locked(_)) {
        anyhow!(
            "the data directory {} is in use by a running Spoor; stop it first, or use --otlp to send to it",
            dir.display()
        )
    } else {
        anyhow!(e).context(format!("cannot open the data directory {}", dir.display()))
    }
}

/// What a reader thread sends.
enum Piece {
    Batch(SpanBatch),
    /// Counts of Jaeger spans whose process was recovered / missing.
    Jaeger(jaeger::JaegerStats),
    /// Bytes read so far from the file.
    Read(u64),
    /// What a decoder left out.
    Report(spoor_codec::DecodeReport),
}

async fn import_file(
    args: &ImportArgs,
    file: &Path,
    sink: &Sink,
    totals: &mut Totals,
    progress: &mut Progress,
) -> Result<(), FileError> {
    let (reader, format) = open_input(file, args.format).map_err(FileError::Input)?;
    tracing::info!(file = %file.display(), ?format, "importing");
    let (tx, mut rx) = mpsc::channel::<Piece>(4);
    let batch_spans = args.batch_spans;
    let unknown = args.unknown_service.clone();
    let thread = std::thread::Builder::new()
        .name("spoor-import-read".into())
        .spawn(move || read_file(reader, format, batch_spans, &unknown, &tx))
        .context("cannot start a reader thread")
        .map_err(FileError::Sink)?;
    let base_read = totals.bytes_read;
    let mut write_error = None;
    while let Some(piece) = rx.recv().await {
        match piece {
            Piece::Read(n) => totals.bytes_read = base_read + n,
            Piece::Report(r) => totals.left_out.merge(r),
            Piece::Jaeger(s) => {
                totals.recovered += s.recovered;
                totals.without_service += s.without_service;
            }
            Piece::Batch(batch) => {
                let now = spoor_service::ingest::now_unix_nanos();
                for r in &batch.spans {
                    totals.traces.insert(r.span.trace_id);
                    match spoor_service::ingest::timestamp_skew(r.span.start_time_unix_nano, now) {
                        Some(spoor_service::SkewDirection::Past) => totals.far_past += 1,
                        Some(spoor_service::SkewDirection::Future) => totals.far_future += 1,
                        None => {}
                    }
                }
                let n = batch.spans.len() as u64;
                match write(sink, batch).await {
                    Ok(refused) => {
                        totals.spans += n - refused.min(n);
                        totals.refused += refused.min(n);
                    }
                    Err(e) => {
                        write_error = Some(e);
                        break;
                    }
                }
                progress.update(|elapsed| {
                    format!(
                        "{} spans, {} traces, {} read, {} spans/s",
                        totals.spans,
                        totals.traces.len(),
                        progress::bytes(totals.bytes_read),
                        progress::rate(totals.spans, elapsed)
                    )
                });
            }
        }
    }
    drop(rx);
    let read_result = thread
        .join()
        .map_err(|_| FileError::Input(anyhow!("the reader thread failed")))?;
    if let Some(e) = write_error {
        return Err(FileError::Sink(e));
    }
    read_result.map_err(FileError::Input)
}

/// Opens a file (or stdin for `-`) and tells its format.
fn open_input(path: &Path, format: InputFormat) -> Result<(Box<dyn Read + Send>, InputFormat)> {
    let mut reader: Box<dyn Read + Send> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )
    };
    if format != InputFormat::Auto {
        return Ok((reader, format));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "pb" | "proto" | "binpb" | "otlp" => return Ok((reader, InputFormat::OtlpProto)),
        "parquet" | "csv" => bail!(
            "{} cannot be imported: Parquet and CSV exports are for analysis; export as jaeger-json, otlp-json or otlp-proto to re-import",
            path.display()
        ),
        _ => {}
    }
    let mut head = Vec::with_capacity(64 << 10);
    (&mut reader)
        .take(64 << 10)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let detected = sniff(&head).ok_or_else(|| {
        anyhow!(
            "cannot tell the format of {}; give --format",
            path.display()
        )
    })?;
    Ok((Box::new(std::io::Cursor::new(head).chain(reader)), detected))
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn sniff(head: &[u8]) -> Option<InputFormat> {
    let first = head
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0xEF | 0xBB | 0xBF))?;
    if first != b'{' && first != b'[' {
        return Some(InputFormat::OtlpProto);
    }
    if contains(head, "\"resourceSpans\"") || contains(head, "\"resource_spans\"") {
        Some(InputFormat::OtlpJson)
    } else if contains(head, "\"traceID\"")
        || contains(head, "\"operationName\"")
        || contains(head, "\"processID\"")
    {
        Some(InputFormat::JaegerJson)
    } else if contains(head, "\"traceId\"") {
        Some(InputFormat::ZipkinJson)
    } else {
        None
    }
}

/// Batches of about `batch_spans` spans built from a file's elements.
struct Batcher<'a> {
    tx: &'a mpsc::Sender<Piece>,
    spans: Vec<spoor_model::SpanRecord>,
    batch_spans: usize,
}

impl Batcher<'_> {
    fn add(&mut self, batch: SpanBatch) -> Result<()> {
        self.spans.extend(batch.spans);
        if self.spans.len() >= self.batch_spans {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.spans.is_empty() {
            return Ok(());
        }
        let spans = std::mem::take(&mut self.spans);
        self.send(Piece::Batch(SpanBatch { spans }))
    }

    /// Runs a `*_reported` decoder, sending what it left out to the summary.
    fn decode(
        &self,
        decode: impl FnOnce(
            &mut spoor_codec::DecodeReport,
        ) -> Result<SpanBatch, spoor_codec::DecodeError>,
    ) -> Result<SpanBatch, spoor_codec::DecodeError> {
        let mut report = spoor_codec::DecodeReport::new();
        let batch = decode(&mut report)?;
        if !report.is_empty() {
            // Only fails when the import stopped, which the next send reports.
            let _ = self.send(Piece::Report(report));
        }
        Ok(batch)
    }

    fn send(&self, piece: Piece) -> Result<()> {
        self.tx
            .blocking_send(piece)
            .map_err(|_| anyhow!("the import stopped"))
    }
}

/// Raw elements waiting to be decoded together.
const DECODE_GROUP_BYTES: usize = 4 << 20;

fn read_file(
    reader: Box<dyn Read + Send>,
    format: InputFormat,
    batch_spans: usize,
    unknown: &str,
    tx: &mpsc::Sender<Piece>,
) -> Result<()> {
    let mut out = Batcher {
        tx,
        spans: Vec::new(),
        batch_spans,
    };
    match format {
        InputFormat::JaegerJson => {
            let mut elements = JsonElements::new(reader, &["data"]);
            let mut index = 0u64;
            while let Some(element) = elements.next_element()? {
                let (batch, stats) =
                    jaeger::decode_trace(&element, unknown).with_context(|| {
                        format!("trace {index} (near byte {})", elements.position())
                    })?;
                index += 1;
                if stats.recovered > 0 || stats.without_service > 0 {
                    out.send(Piece::Jaeger(stats))?;
                }
                out.add(batch)?;
                out.send(Piece::Read(elements.position()))?;
            }
        }
        InputFormat::OtlpJson => {
            let mut elements = JsonElements::new(reader, &["resourceSpans", "resource_spans"]);
            let mut group: Vec<u8> = Vec::new();
            let decode = |group: &mut Vec<u8>, out: &mut Batcher| -> Result<()> {
                if group.is_empty() {
                    return Ok(());
                }
                let mut doc = b"{\"resourceSpans\":[".to_vec();
                doc.extend_from_slice(group);
                doc.extend_from_slice(b"]}");
                group.clear();
                let batch = out.decode(|r| spoor_codec::otlp_json::decode_reported(&doc, r));
                out.add(batch.context("invalid OTLP/JSON")?)
            };
            while let Some(element) = elements.next_element()? {
                if !group.is_empty() {
                    group.push(b',');
                }
                group.extend_from_slice(&element);
                if group.len() >= DECODE_GROUP_BYTES {
                    decode(&mut group, &mut out)?;
                    out.send(Piece::Read(elements.position()))?;
                }
            }
            decode(&mut group, &mut out)?;
            out.send(Piece::Read(elements.position()))?;
        }
        InputFormat::OtlpProto => {
            let mut fields = ProtoFields::default();
            let mut reader = reader;
            let mut buf = vec![0u8; 256 << 10];
            let mut group: Vec<u8> = Vec::new();
            let mut read = 0u64;
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                };
                read += n as u64;
                fields.push(&buf[..n]);
                while let Some((field, payload)) = fields.next_field()? {
                    if field != 1 {
                        continue;
                    }
                    crate::common::stream::push_field_1(&mut group, &payload);
                    if group.len() >= DECODE_GROUP_BYTES {
                        let batch =
                            out.decode(|r| spoor_codec::otlp::decode_request_reported(&group, r));
                        out.add(batch.context("invalid OTLP protobuf")?)?;
                        group.clear();
                        out.send(Piece::Read(read))?;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            if !fields.is_empty() {
                bail!("the protobuf input ends in the middle of a field");
            }
            if !group.is_empty() {
                let batch = out.decode(|r| spoor_codec::otlp::decode_request_reported(&group, r));
                out.add(batch.context("invalid OTLP protobuf")?)?;
            }
            out.send(Piece::Read(read))?;
        }
        InputFormat::ZipkinJson => {
            let mut elements = JsonElements::new(reader, &[]);
            let mut v1: Vec<u8> = Vec::new();
            let mut v2: Vec<u8> = Vec::new();
            let flush = |group: &mut Vec<u8>, version: u8, out: &mut Batcher| -> Result<()> {
                if group.is_empty() {
                    return Ok(());
                }
                let mut doc = Vec::with_capacity(group.len() + 2);
                doc.push(b'[');
                doc.extend_from_slice(group);
                doc.push(b']');
                group.clear();
                let batch = if version == 1 {
                    let now = spoor_service::ingest::now_unix_nanos();
                    out.decode(|r| spoor_codec::zipkin::decode_v1_json_reported(&doc, now, r))
                        .context("invalid Zipkin v1 JSON")?
                } else {
                    out.decode(|r| spoor_codec::zipkin::decode_v2_json_reported(&doc, r))
                        .context("invalid Zipkin v2 JSON")?
                };
                out.add(batch)
            };
            while let Some(element) = elements.next_element()? {
                // `[[span, …], …]` (a list of traces) or `[span, …]`.
                let spans: Vec<Vec<u8>> = if element.first() == Some(&b'[') {
                    let mut inner = JsonElements::new(element.as_slice(), &[]);
                    let mut v = Vec::new();
                    while let Some(e) = inner.next_element()? {
                        v.push(e);
                    }
                    v
                } else {
                    vec![element]
                };
                for span in spans {
                    let is_v1 = !contains(&span, "\"localEndpoint\"")
                        && !contains(&span, "\"remoteEndpoint\"")
                        && (contains(&span, "\"binaryAnnotations\"")
                            || contains(&span, "\"endpoint\""));
                    let group = if is_v1 { &mut v1 } else { &mut v2 };
                    if !group.is_empty() {
                        group.push(b',');
                    }
                    group.extend_from_slice(&span);
                    if group.len() >= DECODE_GROUP_BYTES {
                        flush(group, if is_v1 { 1 } else { 2 }, &mut out)?;
                        out.send(Piece::Read(elements.position()))?;
                    }
                }
            }
            flush(&mut v1, 1, &mut out)?;
            flush(&mut v2, 2, &mut out)?;
            out.send(Piece::Read(elements.position()))?;
        }
        InputFormat::Auto => bail!("the format was not decided"),
    }
    out.flush()
}

/// Writes one batch; returns how many spans were refused.
async fn write(sink: &Sink, batch: SpanBatch) -> Result<u64> {
    match sink {
        Sink::Otlp(otlp) => otlp.send(&batch).await,
        Sink::Engine(engine) => {
            // The same write-path sanitizers as every receiver (ADR 0015).
            let mut batch = batch;
            spoor_service::ingest::sanitize(&mut batch, spoor_service::ingest::now_unix_nanos());
            let n = batch.spans.len() as u64;
            let started = tokio::time::Instant::now();
            let mut retries = 0;
            loop {
                match engine.write_spans(batch.clone()).await {
                    Ok(()) => return Ok(0),
                    Err(e) if e.is_retryable() => {
                        let Some(delay) =
                            ENGINE_RETRY.next_delay(retries, started.elapsed(), None, 0.0)
                        else {
                            tracing::warn!(spans = n, "storage stayed busy; spans not written");
                            return Ok(n);
                        };
                        tracing::debug!(error = %e, "storage busy, retrying");
                        tokio::time::sleep(delay).await;
                        retries += 1;
                    }
                    Err(e) => return Err(anyhow!(e).context("writing spans failed")),
                }
            }
        }
    }
}

/// How `spoor import --data-dir` waits for a busy engine (a full disk that
/// heals): 50 ms doubling to 2 s, 20 attempts.
const ENGINE_RETRY: RetryPolicy = RetryPolicy {
    initial_backoff: Duration::from_millis(50),
    max_backoff: Duration::from_secs(2),
    jitter: 0.0,
    max_retry_after: Duration::ZERO,
    max_retries: Some(19),
    max_elapsed: None,
};

/// How `spoor import` retries: 200 ms doubling to 10 s, or the receiver's
/// `Retry-After` up to 60 s, at most `--max-retries` times.
fn retry_policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(10),
        jitter: 0.0,
        max_retry_after: Duration::from_secs(60),
        max_retries: Some(max_retries),
        max_elapsed: None,
    }
}

/// OTLP/HTTP protobuf sender with retries.
struct OtlpSink {
    connector: Connector,
    policy: RetryPolicy,
}

impl OtlpSink {
    async fn new(
        url: &str,
        max_retries: u32,
        security: spoor_client::ClientSecurity,
    ) -> Result<OtlpSink> {
        let trimmed = url.trim_end_matches('/');
        let full = if trimmed.ends_with("/v1/traces") {
            trimmed.to_string()
        } else {
            format!("{trimmed}/v1/traces")
        };
        let uri: http::Uri = full
            .parse()
            .with_context(|| format!("invalid --otlp URL {url:?}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            bail!("--otlp must be an http:// or https:// URL, got {url:?}");
        }
        let connector = Connector::new(SenderOptions {
            protocol: Protocol::OtlpHttp,
            endpoint: full,
            timeout: Duration::from_secs(60),
            gzip: false,
            security,
        })
        .await?;
        Ok(OtlpSink {
            connector,
            policy: retry_policy(max_retries),
        })
    }

    async fn send(&self, batch: &SpanBatch) -> Result<u64> {
        let body = Bytes::from(spoor_codec::otlp::encode_request(&batch.spans));
        let n = batch.spans.len() as u64;
        let mut sender = self.connector.sender().await?;
        let attempts =
            send_with_retry(&mut sender, &body, &self.policy, &mut || 0.0, None, |_| {}).await;
        let uri = self.connector.endpoint();
        match attempts.outcome {
            Outcome::Accepted { rejected } => Ok(rejected),
            Outcome::Rejected { reason } => {
                eprintln!("spoor import: {n} spans refused: {reason}");
                let _ = std::io::stderr().flush();
                Ok(n)
            }
            Outcome::Refused { .. } => {
                bail!("{uri} stayed busy after {} retries", attempts.retries)
            }
            Outcome::Unreachable { reason } | Outcome::Lost { reason } => {
                Err(anyhow!(reason).context(format!("cannot send to {uri}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(
            sniff(b" {\"resourceSpans\":[]}"),
            Some(InputFormat::OtlpJson)
        );
        assert_eq!(
            sniff(b"{\"data\":[{\"traceID\":\"1\"}]}"),
            Some(InputFormat::JaegerJson)
        );
        assert_eq!(
            sniff(b"[{\"traceId\":\"1\",\"id\":\"2\"}]"),
            Some(InputFormat::ZipkinJson)
        );
        assert_eq!(sniff(b"\x0a\x03abc"), Some(InputFormat::OtlpProto));
        assert_eq!(sniff(b"{}"), None);
    }
}
