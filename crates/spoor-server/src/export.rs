//! `GET /api/export`: every trace matching a search, streamed, without a
//! result limit (docs/export.md).
//!
//! The search parameters are those of `/api/traces` (parsed by the same
//! code), except that `limit` is ignored and a missing `start` means "from
//! the beginning" rather than "two days ago". `format` chooses the encoding.
//!
//! # Paging
//!
//! Storage answers a search with at most `limit` traces, newest first by
//! trace start. [`TracePager`] walks the requested span-start range
//! `[start, end]` backwards in windows `[lo, hi]` and asks storage for the
//! trace IDs of each window with a page limit (`pageSize`, 2,000), then reads
//! the traces of a complete window a few at a time. A window whose answer is *not* full is complete:
//! it holds every trace with a matching span starting in the window. A full
//! answer is thrown away and the window narrowed (to half the span of trace
//! starts the full answer covered), so the result is never truncated. A
//! window one nanosecond wide cannot be narrowed: its limit grows instead
//! (ties: any number of traces sharing one start time are exported).
//!
//! A trace with matching spans in several windows is found in each of them;
//! it is emitted in the first (newest) and remembered, with its start time,
//! only while a later window can still reach it (its start lies before the
//! window's `lo`). A trace starting at or after `lo` has no span in any older
//! window, so the memory of seen traces holds only traces that straddle a
//! window boundary. Every trace matching the search is therefore emitted
//! exactly once, for data that does not change during the export.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use base64::Engine as _;
use bytes::Bytes;
use spoor_codec::jaeger::trace_to_ui;
use spoor_codec::{gojson, otlp, otlp_json};
use spoor_model::{AnyValue, KeyValue, SpanKind, SpanRecord, StatusCode as SpanStatus, Trace};
use spoor_model::{TraceId, UnixNanos};
use spoor_service::QueryService;
use spoor_storage::{GetTraceQuery, StorageError, TraceQuery};

use crate::AppState;
use crate::api_legacy::parse_search;
use crate::error::LegacyApiError;
use crate::params::QueryParams;

/// Trace IDs asked of storage per window.
pub const DEFAULT_PAGE_TRACES: usize = 2_000;
/// Traces read from storage (and held in memory) at a time.
const FETCH_TRACES: usize = 32;
/// A single-nanosecond window holding more traces than this is refused.
const MAX_TIE_TRACES: usize = 1 << 22;
/// Encoded bytes are handed to the connection in chunks of about this size.
const CHUNK_BYTES: usize = 256 << 10;

/// The encodings of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    /// One Jaeger UI trace (as in `/api/traces`' `data`) per line.
    JaegerJsonl,
    /// One document shaped like the `/api/traces` response.
    JaegerJson,
    /// One OTLP/JSON `TracesData` document.
    OtlpJson,
    /// One OTLP/JSON `TracesData` per trace, one per line.
    OtlpJsonl,
    /// One OTLP protobuf `TracesData` message (the concatenation of one
    /// message per trace, which protobuf defines as their merge).
    OtlpProto,
    /// One row per span (see [`CSV_HEADER`]).
    Csv,
}

impl ExportFormat {
    /// Every format with its name.
    pub const ALL: [(ExportFormat, &'static str); 6] = [
        (ExportFormat::JaegerJsonl, "jaeger-jsonl"),
        (ExportFormat::JaegerJson, "jaeger-json"),
        (ExportFormat::OtlpJson, "otlp-json"),
        (ExportFormat::OtlpJsonl, "otlp-jsonl"),
        (ExportFormat::OtlpProto, "otlp-proto"),
        (ExportFormat::Csv, "csv"),
    ];

    /// The format named `name`.
    pub fn parse(name: &str) -> Option<ExportFormat> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    /// The format's name, as `format=` takes it.
    pub fn name(&self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| f == self)
            .map_or("", |(_, n)| n)
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(&self) -> &'static str {
        match self {
            ExportFormat::JaegerJson | ExportFormat::OtlpJson => "application/json",
            ExportFormat::JaegerJsonl | ExportFormat::OtlpJsonl => "application/x-ndjson",
            ExportFormat::OtlpProto => "application/x-protobuf",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Writes traces in one [`ExportFormat`]: [`begin`](Self::begin), then
/// [`trace`](Self::trace) for each trace, then [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct TraceEncoder {
    format: ExportFormat,
    first: bool,
}

/// The CSV header row.
pub const CSV_HEADER: &str = "trace_id,span_id,parent_span_id,service,operation,start,end,duration_nano,status,kind,attributes\n";

const OTLP_JSON_PREFIX: &[u8] = b"{\"resourceSpans\":[";
const OTLP_JSON_SUFFIX: &[u8] = b"]}";

impl TraceEncoder {
    pub fn new(format: ExportFormat) -> Self {
        TraceEncoder {
            format,
            first: true,
        }
    }

    /// The bytes before the first trace.
    pub fn begin(&self, out: &mut Vec<u8>) {
        match self.format {
            ExportFormat::JaegerJson => out.extend_from_slice(b"{\"data\":["),
            ExportFormat::OtlpJson => out.extend_from_slice(OTLP_JSON_PREFIX),
            ExportFormat::Csv => out.extend_from_slice(CSV_HEADER.as_bytes()),
            _ => {}
        }
    }

    /// Appends one trace.
    pub fn trace(&mut self, trace: &Trace, out: &mut Vec<u8>) {
        let first = std::mem::replace(&mut self.first, false);
        match self.format {
            ExportFormat::JaegerJsonl => {
                gojson::to_writer(&mut *out, &trace_to_ui(trace), false).unwrap_or(());
                out.push(b'\n');
            }
            ExportFormat::JaegerJson => {
                if !first {
                    out.push(b',');
                }
                gojson::to_writer(&mut *out, &trace_to_ui(trace), false).unwrap_or(());
            }
            ExportFormat::OtlpJson => {
                let doc = otlp_json::encode_to_vec(&trace.spans);
                // `{"resourceSpans":[A,B]}` contributes `A,B`.
                if let Some(inner) = doc
                    .strip_prefix(OTLP_JSON_PREFIX)
                    .and_then(|d| d.strip_suffix(OTLP_JSON_SUFFIX))
                    && !inner.is_empty()
                {
                    if !first {
                        out.push(b',');
                    }
                    out.extend_from_slice(inner);
                } else if first {
                    self.first = true;
                }
            }
            ExportFormat::OtlpJsonl => {
                out.extend_from_slice(&otlp_json::encode_to_vec(&trace.spans));
                out.push(b'\n');
            }
            ExportFormat::OtlpProto => out.extend_from_slice(&otlp::encode_request(&trace.spans)),
            ExportFormat::Csv => {
                for record in &trace.spans {
                    csv_row(record, out);
                }
            }
        }
    }

    /// The bytes after the last trace.
    pub fn finish(&self, out: &mut Vec<u8>) {
        match self.format {
            ExportFormat::JaegerJson => {
                out.extend_from_slice(b"],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}\n")
            }
            ExportFormat::OtlpJson => {
                out.extend_from_slice(OTLP_JSON_SUFFIX);
                out.push(b'\n');
            }
            _ => {}
        }
    }
}

/// `UNSET`, `OK` or `ERROR`.
pub fn status_name(code: SpanStatus) -> &'static str {
    match code {
        SpanStatus::Ok => "OK",
        SpanStatus::Error => "ERROR",
        _ => "UNSET",
    }
}

/// `UNSPECIFIED`, `INTERNAL`, `SERVER`, `CLIENT`, `PRODUCER` or `CONSUMER`.
pub fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "INTERNAL",
        SpanKind::Server => "SERVER",
        SpanKind::Client => "CLIENT",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
        _ => "UNSPECIFIED",
    }
}

/// An attribute value as plain JSON: strings, booleans and numbers as they
/// are, bytes as standard base64, arrays as arrays, maps as objects, an empty
/// value as `null`, and non-finite doubles as the strings `NaN`, `Infinity`,
/// `-Infinity`.
pub fn value_json(value: &AnyValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        AnyValue::Empty => Value::Null,
        AnyValue::Str(s) => Value::String(s.clone()),
        AnyValue::Bool(b) => Value::Bool(*b),
        AnyValue::Int(i) => Value::from(*i),
        AnyValue::Double(d) => serde_json::Number::from_f64(*d).map_or_else(
            || {
                Value::String(
                    if d.is_nan() {
                        "NaN"
                    } else if *d > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    }
                    .into(),
                )
            },
            Value::Number,
        ),
        AnyValue::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        AnyValue::Array(items) => Value::Array(items.iter().map(value_json).collect()),
        AnyValue::KvList(kvs) => Value::Object(attributes_map(kvs)),
    }
}

fn attributes_map(attrs: &[KeyValue]) -> serde_json::Map<String, serde_json::Value> {
    attrs
        .iter()
        .map(|kv| (kv.key.clone(), value_json(&kv.value)))
        .collect()
}

/// Attributes as one JSON object (`{"key": value, …}`, keys sorted; a
/// repeated key keeps its last value).
pub fn attributes_json(attrs: &[KeyValue]) -> String {
    serde_json::Value::Object(attributes_map(attrs)).to_string()
}

/// Events as a JSON array of `{"time_unix_nano", "name", "attributes"}`.
pub fn events_json(record: &SpanRecord) -> String {
    let events: Vec<serde_json::Value> = record
        .span
        .events
        .iter()
        .map(|e| {
            serde_json::json!({
                "time_unix_nano": e.time_unix_nano,
                "name": e.name,
                "attributes": attributes_map(&e.attributes),
            })
        })
        .collect();
    serde_json::Value::Array(events).to_string()
}

/// Links as a JSON array of `{"trace_id", "span_id", "trace_state", "attributes"}`.
pub fn links_json(record: &SpanRecord) -> String {
    let links: Vec<serde_json::Value> = record
        .span
        .links
        .iter()
        .map(|l| {
            serde_json::json!({
                "trace_id": l.trace_id.to_hex(),
                "span_id": l.span_id.to_hex(),
                "trace_state": l.trace_state,
                "attributes": attributes_map(&l.attributes),
            })
        })
        .collect();
    serde_json::Value::Array(links).to_string()
}

/// Appends one CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(out: &mut Vec<u8>, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

fn csv_row(record: &SpanRecord, out: &mut Vec<u8>) {
    let span = &record.span;
    let parent = if span.parent_span_id.is_zero() {
        String::new()
    } else {
        span.parent_span_id.to_hex()
    };
    let fields = [
        span.trace_id.to_hex(),
        span.span_id.to_hex(),
        parent,
        record.service_name().to_string(),
        span.name.clone(),
        spoor_model::format_rfc3339(span.start_time_unix_nano),
        spoor_model::format_rfc3339(span.end_time_unix_nano),
        span.duration_nanos().to_string(),
        status_name(span.status.code).to_string(),
        kind_name(span.kind).to_string(),
        attributes_json(&span.attributes),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, f);
    }
    out.push(b'\n');
}

/// Yields every trace of a search (or of a list of IDs) page by page, raw
/// (as stored: no adjusters, no truncation). See the module docs.
pub struct TracePager {
    service: Arc<QueryService>,
    mode: Mode,
    /// IDs of a complete window still to be read, newest first.
    pending: std::collections::VecDeque<TraceId>,
}

enum Mode {
    Search(Box<SearchState>),
    Ids(std::vec::IntoIter<TraceId>, usize),
    Done,
}

struct SearchState {
    base: TraceQuery,
    range_start: UnixNanos,
    /// Inclusive upper end of the next window.
    hi: UnixNanos,
    /// Width of the next window in nanoseconds, at least 1.
    width: u64,
    page: usize,
    /// Emitted traces that a later window may find again, with their start.
    carry: HashMap<TraceId, UnixNanos>,
}

impl TracePager {
    /// Every trace with a span matching `query` whose start lies in
    /// `[query.start_min, query.start_max]` (0 and `u64::MAX` when absent);
    /// `query.limit` is ignored. `page` traces are asked of storage at a time.
    pub fn search(service: Arc<QueryService>, query: TraceQuery, page: usize) -> TracePager {
        let range_start = query.start_min.unwrap_or(0);
        let hi = query.start_max.unwrap_or(u64::MAX);
        let mode = if hi < range_start {
            Mode::Done
        } else {
            Mode::Search(Box::new(SearchState {
                base: query,
                range_start,
                hi,
                width: (hi - range_start).saturating_add(1),
                page: page.max(1),
                carry: HashMap::new(),
            }))
        };
        TracePager {
            service,
            mode,
            pending: Default::default(),
        }
    }

    /// The traces with these IDs, in this order, each once; unknown IDs are
    /// skipped.
    pub fn by_ids(service: Arc<QueryService>, ids: Vec<TraceId>, page: usize) -> TracePager {
        let mut seen = HashSet::new();
        let ids: Vec<TraceId> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
        TracePager {
            service,
            mode: Mode::Ids(ids.into_iter(), page.clamp(1, FETCH_TRACES)),
            pending: Default::default(),
        }
    }

    /// The next non-empty page of traces, or `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Trace>>, StorageError> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(FETCH_TRACES);
                let queries: Vec<GetTraceQuery> =
                    self.pending.drain(..n).map(GetTraceQuery::new).collect();
                // IDs of one window are distinct; a trace deleted since the
                // search is skipped.
                let traces = self.service.get_traces(&queries, true).await?;
                if traces.is_empty() {
                    continue;
                }
                return Ok(Some(traces));
            }
            match &mut self.mode {
                Mode::Done => return Ok(None),
                Mode::Ids(ids, page) => {
                    let batch: Vec<TraceId> = ids.by_ref().take(*page).collect();
                    if batch.is_empty() {
                        self.mode = Mode::Done;
                        return Ok(None);
                    }
                    let queries: Vec<GetTraceQuery> =
                        batch.into_iter().map(GetTraceQuery::new).collect();
                    let traces = self.service.get_traces(&queries, true).await?;
                    if !traces.is_empty() {
                        return Ok(Some(traces));
                    }
                }
                Mode::Search(state) => {
                    let (ids, done) = state.next_window(&self.service).await?;
                    if done {
                        self.mode = Mode::Done;
                    }
                    self.pending.extend(ids.into_iter().flatten());
                }
            }
        }
    }
}

impl SearchState {
    /// Runs one window: `(Some(ids to emit), done)` when it was complete,
    /// `(None, false)` when it was narrowed and must be asked again.
    async fn next_window(
        &mut self,
        service: &QueryService,
    ) -> Result<(Option<Vec<TraceId>>, bool), StorageError> {
        let lo = self
            .hi
            .saturating_sub(self.width.saturating_sub(1))
            .max(self.range_start);
        let mut limit = self.page;
        let found = loop {
            let mut query = self.base.clone();
            query.start_min = Some(lo);
            query.start_max = Some(self.hi);
            query.limit = limit;
            let found = service.find_trace_ids(&query).await?;
            if found.len() < limit {
                break found;
            }
            if lo < self.hi {
                // Full: narrow the window to half of the trace starts the
                // answer covered (at least halving it) and ask again.
                let covered = found
                    .last()
                    .map(|f| f.start)
                    .filter(|s| *s > lo && *s <= self.hi)
                    .map_or(self.width / 4, |s| (self.hi - s) / 2);
                self.width = covered.min(self.width / 2).max(1);
                tracing::debug!(lo, hi = self.hi, width = self.width, "export window full");
                return Ok((None, false));
            }
            // One nanosecond holds `limit` traces or more: ask for more.
            if limit >= MAX_TIE_TRACES {
                return Err(StorageError::invalid_query(format!(
                    "more than {MAX_TIE_TRACES} traces start at the same nanosecond {lo}"
                )));
            }
            limit = limit.saturating_mul(4).min(MAX_TIE_TRACES);
        };
        let mut out = Vec::with_capacity(found.len());
        for f in found {
            if self.carry.contains_key(&f.trace_id) {
                continue;
            }
            // `f.start` is the trace's start over all its spans.
            if f.start < lo {
                self.carry.insert(f.trace_id, f.start);
            }
            out.push(f.trace_id);
        }
        // A trace starting at or after `lo` has no span in older windows.
        self.carry.retain(|_, start| *start < lo);
        if out.len() < self.page / 4 {
            self.width = self.width.saturating_mul(2);
        }
        if lo <= self.range_start {
            return Ok((Some(out), true));
        }
        self.hi = lo - 1;
        Ok((Some(out), false))
    }
}

/// The routes of the export endpoint.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/export", get(export))
        .with_state(state)
}

fn now_nanos() -> UnixNanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The `format` parameter (`jaeger-jsonl` when absent).
fn parse_format(params: &QueryParams) -> Result<ExportFormat, LegacyApiError> {
    Ok(match params.get("format") {
        "" => ExportFormat::JaegerJsonl,
        name => ExportFormat::parse(name).ok_or_else(|| {
            let names: Vec<&str> = ExportFormat::ALL.iter().map(|(_, n)| *n).collect();
            LegacyApiError::bad_request(format!(
                "unknown export format {name:?}; expected one of {}",
                names.join(", ")
            ))
        })?,
    })
}

/// The pager of an export from the search parameters of `/api/export` (a
/// raw query string, `format` and `limit` ignored), over `service`. `spoor
/// export --data-dir` uses this too, so both read a search the same way.
pub fn pager_from_query(
    service: Arc<QueryService>,
    raw_query: &str,
) -> Result<TracePager, LegacyApiError> {
    let params = QueryParams::parse(Some(raw_query));
    let page = match params.get("pageSize") {
        "" => DEFAULT_PAGE_TRACES,
        v => v
            .parse::<usize>()
            .ok()
            .filter(|n| (10..=100_000).contains(n))
            .ok_or_else(|| {
                LegacyApiError::bad_request(format!(
                    "invalid parameter: pageSize must be between 10 and 100000, got {v:?}"
                ))
            })?,
    };
    let req = parse_search(&params)?;
    if !req.trace_ids.is_empty() {
        return Ok(TracePager::by_ids(service, req.trace_ids, page));
    }
    let mut query = req.query;
    query.start_min = Some(req.hint_start.unwrap_or(0));
    query.start_max = Some(req.hint_end.unwrap_or_else(now_nanos));
    if query.start_min > query.start_max {
        return Err(LegacyApiError::bad_request(
            "invalid parameter: start time must be before end time",
        ));
    }
    if query.service.is_none() && !service.capabilities().search_without_service {
        return Err(LegacyApiError::bad_request(
            "this storage needs a service name to search",
        ));
    }
    Ok(TracePager::search(service, query, page))
}

struct Streaming {
    state: Arc<AppState>,
    pager: TracePager,
    encoder: TraceEncoder,
    pending: Option<Vec<Trace>>,
    finished: bool,
    traces: u64,
    started: Instant,
}

type Chunk = Result<Bytes, std::io::Error>;

impl Streaming {
    async fn next_chunk(&mut self) -> Option<Chunk> {
        if self.finished {
            return None;
        }
        let mut out = Vec::new();
        loop {
            let page = match self.pending.take() {
                Some(p) => Some(p),
                None => match self.pager.next_page().await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, traces = self.traces, "export failed midway");
                        self.finished = true;
                        return Some(Err(std::io::Error::other(e.to_string())));
                    }
                },
            };
            let Some(traces) = page else {
                self.encoder.finish(&mut out);
                self.finished = true;
                tracing::info!(
                    traces = self.traces,
                    elapsed_ms = self.started.elapsed().as_millis() as u64,
                    "export finished"
                );
                return Some(Ok(Bytes::from(out)));
            };
            self.traces += traces.len() as u64;
            let mut encoder = self.encoder.clone();
            let encoded = self
                .state
                .cpu
                .run(move || {
                    let mut buf = Vec::new();
                    for t in &traces {
                        encoder.trace(t, &mut buf);
                    }
                    (encoder, buf)
                })
                .await;
            match encoded {
                Ok((encoder, buf)) => {
                    self.encoder = encoder;
                    if out.is_empty() {
                        out = buf;
                    } else {
                        out.extend_from_slice(&buf);
                    }
                }
                Err(e) => {
                    self.finished = true;
                    return Some(Err(std::io::Error::other(e.to_string())));
                }
            }
            if out.len() >= CHUNK_BYTES {
                return Some(Ok(Bytes::from(out)));
            }
        }
    }
}

async fn export(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, LegacyApiError> {
    let params = QueryParams::parse(q.as_deref());
    let format = parse_format(&params)?;
    // Held until the whole export is streamed.
    let slot = state.heavy_query_slot().await?;
    let mut pager = pager_from_query(state.query.clone(), q.as_deref().unwrap_or(""))?;
    // The first page is read before answering, so that a bad query or a
    // storage failure is still an HTTP error rather than a cut body.
    let first = pager.next_page().await?;
    let encoder = TraceEncoder::new(format);
    let mut head = Vec::new();
    encoder.begin(&mut head);
    let pending = match first {
        Some(traces) => Some(traces),
        None => {
            encoder.finish(&mut head);
            None
        }
    };
    let streaming = Streaming {
        state: state.clone(),
        pager,
        encoder,
        finished: pending.is_none(),
        pending,
        traces: 0,
        started: Instant::now(),
    };
    let head = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(head)) });
    let rest = futures::stream::unfold((streaming, slot), |(mut s, slot)| async move {
        s.next_chunk().await.map(|chunk| (chunk, (s, slot)))
    });
    let body = Body::from_stream(futures::StreamExt::chain(head, rest));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    resp.headers_mut().insert(
        "x-spoor-export-format",
        HeaderValue::from_static(format.name()),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        let mut out = Vec::new();
        csv_field(&mut out, "plain");
        out.push(b'|');
        csv_field(&mut out, "a,b \"c\"\nd");
        assert_eq!(out, b"plain|\"a,b \"\"c\"\"\nd\"");
    }

    #[test]
    fn values_become_plain_json() {
        let attrs = vec![
            KeyValue::new("i", AnyValue::Int(3)),
            KeyValue::new("d", AnyValue::Double(f64::NAN)),
            KeyValue::new("b", AnyValue::Bytes(vec![1, 2])),
            KeyValue::new("a", AnyValue::Array(vec![AnyValue::Bool(true)])),
        ];
        assert_eq!(
            attributes_json(&attrs),
            r#"{"a":[true],"b":"AQI=","d":"NaN","i":3}"#
        );
    }

    #[test]
    fn formats_round_trip_their_names() {
        for (format, name) in ExportFormat::ALL {
            assert_eq!(ExportFormat::parse(name), Some(format));
            assert_eq!(format.name(), name);
        }
        assert_eq!(ExportFormat::parse("parquet"), None);
    }
}
