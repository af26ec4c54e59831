//! Jaeger's internal JSON API, `/api/*`, as Jaeger v2.20 serves it: the
//! envelope, microsecond timestamps, `p1…pN` processes and Go's JSON bytes.
//! Jaeger UI and Grafana's Jaeger data source use these routes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{any, get, post};
use bytes::Bytes;
use serde::Serialize;
use spoor_codec::gojson;
use spoor_codec::jaeger::{ApiError, Envelope, UiTrace, trace_to_ui};
use spoor_model::{AnyValue, SpanKind, Trace, TraceId, UnixNanos};
use spoor_storage::{GetTraceQuery, OperationQuery, Partial, TagFilter, TraceQuery};

use crate::AppState;
use crate::error::{LegacyApiError, json_response};
use crate::params::{
    QueryParams, check_lookback, check_not_negative, go_bool_error, parse_filters, parse_go_bool,
    parse_go_int, parse_non_negative_duration, parse_trace_id,
};

/// Jaeger's default search window when `start` is absent.
const DEFAULT_LOOKBACK: Duration = Duration::from_secs(2 * 24 * 3600);
/// Jaeger's default dependencies lookback.
const DEFAULT_DEPENDENCY_LOOKBACK_MS: i64 = 24 * 3600 * 1000;
/// Jaeger's default search limit.
const DEFAULT_LIMIT: i64 = 100;

type ApiResult = Result<Response, LegacyApiError>;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/services", get(services))
        .route("/api/services/{service}/operations", get(operations_legacy))
        .route("/api/operations", get(operations))
        .route("/api/traces", get(search))
        .route("/api/traces/{trace_id}", get(get_trace))
        .route("/api/archive/{trace_id}", post(archive))
        .route("/api/transform", post(transform))
        .route("/api/dependencies", get(dependencies))
        .route("/api", any(not_found))
        .route("/api/{*rest}", any(not_found))
        .with_state(state)
}

fn now_nanos() -> UnixNanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn respond<T: Serialize>(body: &T, params: &QueryParams) -> Response {
    json_response(StatusCode::OK, gojson::to_vec(body, params.pretty()))
}

fn observe(state: &AppState, endpoint: &'static str, started: Instant, ok: bool) {
    state.metrics.query(endpoint).observe(started.elapsed(), ok);
}

async fn not_found() -> LegacyApiError {
    LegacyApiError::not_found("404 page not found")
}

async fn services(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let started = Instant::now();
    let params = QueryParams::parse(q.as_deref());
    let result = state.query.services().await;
    observe(&state, "services", started, result.is_ok());
    let services = result?;
    let total = services.len();
    Ok(respond(&Envelope::ok(services, total), &params))
}

async fn operations_legacy(
    State(state): State<Arc<AppState>>,
    Path(service): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let started = Instant::now();
    let params = QueryParams::parse(q.as_deref());
    let result = state
        .query
        .operations(&OperationQuery {
            service,
            span_kind: None,
        })
        .await;
    observe(&state, "operations", started, result.is_ok());
    let mut names: Vec<String> = result?.into_iter().map(|o| o.name).collect();
    names.dedup();
    let total = names.len();
    Ok(respond(&Envelope::ok(names, total), &params))
}

#[derive(Serialize)]
struct UiOperation {
    name: String,
    #[serde(rename = "spanKind")]
    span_kind: &'static str,
}

async fn operations(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let started = Instant::now();
    let params = QueryParams::parse(q.as_deref());
    let service = params.get("service");
    if service.is_empty() {
        return Err(LegacyApiError::bad_request(
            "parameter 'service' is required",
        ));
    }
    let kind = params.get("spanKind");
    let span_kind = if kind.is_empty() {
        None
    } else {
        Some(SpanKind::from_jaeger_name(kind).ok_or_else(|| {
            LegacyApiError::bad_request(format!("unsupported span kind: '{kind}'"))
        })?)
    };
    let result = state
        .query
        .operations(&OperationQuery {
            service: service.to_string(),
            span_kind,
        })
        .await;
    observe(&state, "operations", started, result.is_ok());
    let ops: Vec<UiOperation> = result?
        .into_iter()
        .map(|o| UiOperation {
            name: o.name,
            span_kind: o.span_kind.jaeger_name(),
        })
        .collect();
    let total = ops.len();
    Ok(respond(&Envelope::ok(ops, total), &params))
}

fn parse_param_error(name: &str, err: impl std::fmt::Display) -> LegacyApiError {
    LegacyApiError::bad_request(format!("unable to parse param '{name}': {err}"))
}

/// `start`/`end` in microseconds since the epoch; `None` when absent.
fn parse_micros(params: &QueryParams, name: &str) -> Result<Option<UnixNanos>, LegacyApiError> {
    let v = params.get(name);
    if v.is_empty() {
        return Ok(None);
    }
    let micros = parse_go_int(v).map_err(|e| parse_param_error(name, e))?;
    Ok(Some((micros.max(0) as u64).saturating_mul(1_000)))
}

fn parse_raw(params: &QueryParams) -> Result<bool, LegacyApiError> {
    let v = params.get("raw");
    if v.is_empty() {
        return Ok(false);
    }
    parse_go_bool(v).ok_or_else(|| parse_param_error("raw", go_bool_error(v)))
}

fn parse_duration_param(params: &QueryParams, name: &str) -> Result<Option<u64>, LegacyApiError> {
    let v = params.get(name);
    if v.is_empty() {
        return Ok(None);
    }
    let d = parse_non_negative_duration(v).map_err(|e| parse_param_error(name, e))?;
    Ok((d > 0).then_some(d))
}

/// Tags from `tag=k:v` (repeatable) and `tags={json}` (repeatable, merged).
fn parse_tags(params: &QueryParams) -> Result<Vec<TagFilter>, LegacyApiError> {
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for tag in params.all("tag") {
        match tag.split_once(':') {
            Some((k, v)) => {
                tags.insert(k.to_string(), v.to_string());
            }
            None => {
                return Err(LegacyApiError::bad_request(format!(
                    "malformed 'tag' parameter, expecting key:value, received: {tag}"
                )));
            }
        }
    }
    for json in params.all("tags") {
        let map: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| {
            LegacyApiError::bad_request(format!(
                "malformed 'tags' parameter, cannot unmarshal JSON: {e}"
            ))
        })?;
        tags.extend(map);
    }
    Ok(tags
        .into_iter()
        .map(|(key, value)| TagFilter {
            key,
            value: AnyValue::Str(value),
        })
        .collect())
}

pub(crate) struct SearchRequest {
    pub(crate) query: TraceQuery,
    pub(crate) trace_ids: Vec<TraceId>,
    raw: bool,
    pub(crate) hint_start: Option<UnixNanos>,
    pub(crate) hint_end: Option<UnixNanos>,
}

pub(crate) fn parse_search(params: &QueryParams) -> Result<SearchRequest, LegacyApiError> {
    let now = now_nanos();
    let hint_start = parse_micros(params, "start")?;
    let hint_end = parse_micros(params, "end")?;
    let start = hint_start.unwrap_or(now.saturating_sub(DEFAULT_LOOKBACK.as_nanos() as u64));
    let end = hint_end.unwrap_or(now);
    let tags = parse_tags(params)?;
    let limit = match params.get("limit") {
        "" => DEFAULT_LIMIT,
        v => {
            let n = parse_go_int(v).map_err(LegacyApiError::bad_request)?;
            if n > i64::from(i32::MAX) || n < i64::from(i32::MIN) {
                return Err(LegacyApiError::bad_request(format!(
                    "strconv.ParseInt: parsing \"{v}\": value out of range"
                )));
            }
            n
        }
    };
    let duration_min = parse_duration_param(params, "minDuration")?;
    let duration_max = parse_duration_param(params, "maxDuration")?;
    // Beyond Jaeger: filter expressions and whole-trace duration bounds.
    let filter =
        parse_filters(&params.all("filter")).map_err(|e| parse_param_error("filter", e))?;
    let trace_duration_min = parse_duration_param(params, "minTraceDuration")?;
    let trace_duration_max = parse_duration_param(params, "maxTraceDuration")?;
    let mut trace_ids = Vec::new();
    for id in params.all("traceID") {
        let tid = parse_trace_id(id)
            .map_err(|e| LegacyApiError::bad_request(format!("cannot parse traceID param: {e}")))?;
        trace_ids.push(tid);
    }
    let raw = parse_raw(params)?;
    check_lookback(params.get("lookback")).map_err(|e| parse_param_error("lookback", e))?;
    if limit <= 0 {
        return Err(LegacyApiError::bad_request(
            "invalid parameter: limit must be greater than 0",
        ));
    }
    if start > end {
        return Err(LegacyApiError::bad_request(
            "invalid parameter: start time must be before end time",
        ));
    }
    if let (Some(min), Some(max)) = (duration_min, duration_max)
        && max < min
    {
        return Err(LegacyApiError::bad_request(
            "'maxDuration' should be greater than 'minDuration'",
        ));
    }
    if let (Some(min), Some(max)) = (trace_duration_min, trace_duration_max)
        && max < min
    {
        return Err(LegacyApiError::bad_request(
            "'maxTraceDuration' should be greater than 'minTraceDuration'",
        ));
    }
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(SearchRequest {
        query: TraceQuery {
            service: non_empty(params.get("service")),
            operation: non_empty(params.get("operation")),
            tags,
            start_min: Some(start),
            start_max: Some(end),
            duration_min,
            duration_max,
            filter,
            trace_duration_min,
            trace_duration_max,
            limit: limit as usize,
        },
        trace_ids,
        raw,
        hint_start,
        hint_end,
    })
}

async fn search(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let started = Instant::now();
    let params = QueryParams::parse(q.as_deref());
    let req = parse_search(&params)?;
    let max = state.query_limits.max_limit;
    if max > 0 && req.query.limit > max {
        return Err(LegacyApiError::bad_request(format!(
            "invalid parameter: limit {} exceeds the maximum of {max} (--query-max-limit)",
            req.query.limit
        )));
    }
    let slot = state.heavy_query_slot().await?;
    let mut errors = Vec::new();
    let traces = if req.trace_ids.is_empty() {
        let result = state.query.find_traces_partial(&req.query, req.raw).await;
        observe(&state, "find_traces", started, result.is_ok());
        let partial = result?;
        errors.extend(partial.warnings.into_iter().map(skipped_data));
        partial.value
    } else {
        let mut found = Vec::with_capacity(req.trace_ids.len());
        for id in &req.trace_ids {
            let q = GetTraceQuery {
                trace_id: *id,
                start: req.hint_start,
                end: req.hint_end,
            };
            let partial = state.query.get_trace_partial(q, req.raw).await?;
            errors.extend(partial.warnings.into_iter().map(skipped_data));
            match partial.value {
                Some(t) => found.push(t),
                None => errors.push(ApiError::trace_not_found(id.to_jaeger_hex())),
            }
        }
        observe(&state, "get_traces", started, true);
        found
    };
    let spans: usize = traces.iter().map(|t| t.spans.len()).sum();
    if spans > STREAM_CHUNK_SPANS && !params.pretty() {
        return Ok(stream_json(search_chunks(traces, errors), slot));
    }
    let data: Vec<UiTrace> = traces.iter().map(trace_to_ui).collect();
    let envelope = errors
        .into_iter()
        .fold(Envelope::ok(data, 0), Envelope::with_error);
    Ok(respond(&envelope, &params))
}

/// The chunks of a search answer, byte for byte what [`gojson::to_vec`]
/// writes for the whole envelope: each trace is converted to Jaeger UI's
/// form and encoded when its chunk is due (about `STREAM_CHUNK_SPANS` spans
/// a chunk), so the answer is never held whole in memory.
fn search_chunks(traces: Vec<Trace>, errors: Vec<ApiError>) -> impl Iterator<Item = Bytes> {
    let mut traces = traces.into_iter().peekable();
    let mut first = true;
    let body = std::iter::from_fn(move || {
        traces.peek()?;
        let mut out = Vec::new();
        let mut spans = 0;
        while spans < STREAM_CHUNK_SPANS {
            let Some(trace) = traces.next() else { break };
            spans += trace.spans.len().max(1);
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&gojson::to_vec(&trace_to_ui(&trace), false));
        }
        Some(Bytes::from(out))
    });
    let tail = std::iter::once_with(move || {
        let errors = errors
            .into_iter()
            .fold(Envelope::ok((), 0), Envelope::with_error)
            .errors;
        let mut out = b"],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":".to_vec();
        out.extend_from_slice(&gojson::to_vec(&errors, false));
        out.push(b'}');
        Bytes::from(out)
    });
    std::iter::once(Bytes::from_static(b"{\"data\":["))
        .chain(body)
        .chain(tail)
}

async fn get_trace(
    State(state): State<Arc<AppState>>,
    Path(trace_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let started = Instant::now();
    let params = QueryParams::parse(q.as_deref());
    let id = parse_trace_id(&trace_id).map_err(LegacyApiError::bad_request)?;
    let query = GetTraceQuery {
        trace_id: id,
        start: parse_micros(&params, "start")?,
        end: parse_micros(&params, "end")?,
    };
    let raw = parse_raw(&params)?;
    let slot = state.heavy_query_slot().await?;
    let result = state.query.get_trace_partial(query, raw).await;
    observe(&state, "get_trace", started, result.is_ok());
    let partial = result?;
    match partial.value {
        Some(trace) => {
            let ui = trace_to_ui(&trace);
            drop(trace);
            if ui.spans.len() <= STREAM_CHUNK_SPANS
                || params.pretty()
                || !partial.warnings.is_empty()
            {
                let envelope = partial
                    .warnings
                    .into_iter()
                    .map(skipped_data)
                    .fold(Envelope::ok(vec![ui], 0), Envelope::with_error);
                Ok(respond(&envelope, &params))
            } else {
                Ok(stream_ui_trace(ui, slot))
            }
        }
        None if !partial.warnings.is_empty() => Err(LegacyApiError {
            status: StatusCode::NOT_FOUND,
            msg: format!(
                "trace not found in the readable data; {}",
                partial.warnings.join("; ")
            ),
        }),
        None => Err(LegacyApiError::not_found("trace not found")),
    }
}

/// An `errors` entry for data storage had to skip (a damaged block): the
/// response still carries everything that could be read.
fn skipped_data(warning: String) -> ApiError {
    ApiError::new(Some(206), warning)
}

/// Spans encoded per chunk of a streamed trace response.
pub(crate) const STREAM_CHUNK_SPANS: usize = 1000;

/// The chunks of `{"data":[<trace>],"total":0,…}` for one large trace,
/// byte for byte what [`gojson::to_vec`] writes for the whole envelope,
/// encoded `STREAM_CHUNK_SPANS` spans at a time so that the answer is never
/// held whole in memory.
fn ui_trace_chunks(ui: UiTrace) -> impl Iterator<Item = Bytes> {
    let UiTrace {
        trace_id,
        spans,
        processes,
        warnings,
    } = ui;
    let mut head = b"{\"data\":[{\"traceID\":".to_vec();
    head.extend_from_slice(&gojson::to_vec(&trace_id, false));
    head.extend_from_slice(b",\"spans\":[");
    let mut spans = spans.into_iter().peekable();
    let mut first = true;
    let body = std::iter::from_fn(move || {
        spans.peek()?;
        let mut out = Vec::new();
        for span in spans.by_ref().take(STREAM_CHUNK_SPANS) {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&gojson::to_vec(&span, false));
        }
        Some(Bytes::from(out))
    });
    let tail = std::iter::once_with(move || {
        let mut out = b"],\"processes\":".to_vec();
        out.extend_from_slice(&gojson::to_vec(&processes, false));
        out.extend_from_slice(b",\"warnings\":");
        out.extend_from_slice(&gojson::to_vec(&warnings, false));
        out.extend_from_slice(b"}],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}");
        Bytes::from(out)
    });
    std::iter::once(Bytes::from(head)).chain(body).chain(tail)
}

/// A streamed JSON answer of `chunks`, holding `slot` until it is written.
pub(crate) fn stream_json<I>(chunks: I, slot: Option<tokio::sync::OwnedSemaphorePermit>) -> Response
where
    I: Iterator<Item = Bytes> + Send + 'static,
{
    let stream = futures::stream::unfold((chunks, slot), |(mut chunks, slot)| async move {
        let chunk = chunks.next()?;
        // Encoding is CPU work: let other tasks run between chunks.
        tokio::task::yield_now().await;
        Some((Ok::<Bytes, std::convert::Infallible>(chunk), (chunks, slot)))
    });
    let mut resp = Response::new(axum::body::Body::from_stream(stream));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn stream_ui_trace(ui: UiTrace, slot: Option<tokio::sync::OwnedSemaphorePermit>) -> Response {
    stream_json(ui_trace_chunks(ui), slot)
}

async fn archive(Path(trace_id): Path<String>) -> ApiResult {
    parse_trace_id(&trace_id).map_err(LegacyApiError::bad_request)?;
    Err(LegacyApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        msg: "archive span storage was not configured".into(),
    })
}

/// `POST /api/transform`: OTLP JSON in, the UI's traces out. The body is
/// read within `--max-request-bytes` (taken as `Body`, not `Bytes`, whose
/// extractor would stop at axum's 2 MiB default first) and inflated within
/// `--max-decompressed-bytes`; any content type is accepted.
async fn transform(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult {
    let params = QueryParams::parse(q.as_deref());
    let limit = state.limits.max_request_bytes;
    let body = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            LegacyApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                msg: format!("request body exceeds {limit} bytes"),
            }
        } else {
            LegacyApiError::bad_request(format!("cannot read the request body: {e}"))
        }
    })?;
    let body = crate::body::decompress(&headers, body, state.limits.max_decompressed_bytes)
        .map_err(|e| LegacyApiError {
            status: e.status(),
            msg: e.to_string(),
        })?;
    let batch = state
        .cpu
        .run(move || spoor_codec::otlp_json::decode(&body))
        .await
        .map_err(|e| LegacyApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            msg: e.to_string(),
        })?
        .map_err(|e| LegacyApiError::bad_request(e.to_string()))?;
    let traces = group_into_traces(batch.spans);
    let data: Vec<UiTrace> = traces.iter().map(trace_to_ui).collect();
    Ok(respond(&Envelope::ok(data, 0), &params))
}

/// Groups spans by trace ID, keeping the order in which traces first appear.
pub fn group_into_traces(spans: Vec<spoor_model::SpanRecord>) -> Vec<Trace> {
    let mut order: Vec<TraceId> = Vec::new();
    let mut by_id: std::collections::HashMap<TraceId, Trace> = std::collections::HashMap::new();
    for rec in spans {
        let id = rec.span.trace_id;
        by_id
            .entry(id)
            .or_insert_with(|| {
                order.push(id);
                Trace {
                    trace_id: id,
                    ..Trace::default()
                }
            })
            .spans
            .push(rec);
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect()
}

#[derive(Serialize)]
struct UiDependencyLink {
    parent: String,
    child: String,
    #[serde(rename = "callCount")]
    call_count: u64,
}

async fn dependencies(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let started = Instant::now();
    let params = QueryParams::parse(q.as_deref());
    let end_ms = match params.get("endTs") {
        "" => (now_nanos() / 1_000_000) as i64,
        v => parse_go_int(v)
            .and_then(|n| check_not_negative(n, v))
            .map_err(|e| parse_param_error("endTs", e))?,
    };
    let lookback_ms = match params.get("lookback") {
        "" => DEFAULT_DEPENDENCY_LOOKBACK_MS,
        v => parse_go_int(v)
            .and_then(|n| check_not_negative(n, v))
            .map_err(|e| parse_param_error("lookback", e))?,
    };
    let end = (end_ms.max(0) as u64).saturating_mul(1_000_000);
    let start = end.saturating_sub((lookback_ms.max(0) as u64).saturating_mul(1_000_000));
    let result = state.query.dependencies_partial(start, end).await;
    observe(&state, "dependencies", started, result.is_ok());
    let service = params.get("service");
    let Partial {
        value: links,
        warnings,
    } = result?;
    let links: Vec<UiDependencyLink> = links
        .into_iter()
        .filter(|l| service.is_empty() || l.parent == service || l.child == service)
        .map(|l| UiDependencyLink {
            parent: l.parent,
            child: l.child,
            call_count: l.call_count,
        })
        .collect();
    let envelope = warnings
        .into_iter()
        .fold(Envelope::ok(links, 0), |e, w| e.with_error(skipped_data(w)));
    Ok(respond(&envelope, &params))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod stream_tests {
    use super::*;
    use crate::test_support::sample_spans;

    #[test]
    fn a_streamed_trace_is_byte_for_byte_the_whole_envelope() {
        let spans = sample_spans("svc", "op", 2 * STREAM_CHUNK_SPANS + 7);
        let trace = Trace {
            trace_id: spans[0].span.trace_id,
            spans,
            warnings: vec!["w".into()],
        };
        let ui = trace_to_ui(&trace);
        let whole = gojson::to_vec(&Envelope::ok(vec![ui.clone()], 0), false);
        let chunks: Vec<Bytes> = ui_trace_chunks(ui).collect();
        assert_eq!(chunks.len(), 5, "head, three chunks of spans, tail");
        assert!(chunks.iter().all(|c| c.len() < whole.len() / 2));
        assert_eq!(chunks.concat(), whole);
    }

    #[test]
    fn a_streamed_search_is_byte_for_byte_the_whole_envelope() {
        let traces: Vec<Trace> = (0..5)
            .map(|i| {
                let spans = sample_spans(&format!("svc-{i}"), "op", 400 + i);
                Trace {
                    trace_id: spans[0].span.trace_id,
                    spans,
                    warnings: Vec::new(),
                }
            })
            .collect();
        let errors = vec![ApiError::trace_not_found("00000000000000ff")];
        let data: Vec<UiTrace> = traces.iter().map(trace_to_ui).collect();
        let whole = gojson::to_vec(
            &errors
                .clone()
                .into_iter()
                .fold(Envelope::ok(data, 0), Envelope::with_error),
            false,
        );
        let chunks: Vec<Bytes> = search_chunks(traces.clone(), errors).collect();
        assert_eq!(chunks.len(), 4, "head, two chunks of traces, tail");
        assert_eq!(chunks.concat(), whole);
        let none: Vec<Bytes> = search_chunks(traces.clone(), Vec::new()).collect();
        let data: Vec<UiTrace> = traces.iter().map(trace_to_ui).collect();
        assert_eq!(none.concat(), gojson::to_vec(&Envelope::ok(data, 0), false));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod limit_tests {
    use std::time::Duration;

    use crate::QueryLimits;
    use crate::test_support::{Framing, http, serve_router, state_with_query_limits};

    #[tokio::test]
    async fn saturated_heavy_queries_answer_503_and_light_ones_still_answer() {
        let state = state_with_query_limits(QueryLimits {
            max_limit: 100,
            max_concurrent: 1,
            queue_timeout: Duration::from_millis(50),
        });
        let addr = serve_router(crate::query_router(state.clone())).await;
        let get = |path: &'static str| http(addr, "GET", path, &[], b"", Framing::ContentLength);

        let over = get("/api/traces?service=a&limit=101").await;
        assert_eq!(over.status, 400, "{}", over.text());
        assert!(over.text().contains("maximum of 100"), "{}", over.text());
        assert_eq!(get("/api/traces?service=a&limit=100").await.status, 200);

        // Every heavy slot taken: searches, trace fetches and exports wait
        // for the queue timeout, then 503 + Retry-After.
        let held = state.heavy_query_slot().await.unwrap();
        for path in [
            "/api/traces?service=a",
            "/api/traces/0000000000000001",
            "/api/v3/traces/00000000000000000000000000000001",
            "/api/export?service=a",
        ] {
            let busy = get(path).await;
            assert_eq!(busy.status, 503, "{path}: {}", busy.text());
            assert_eq!(busy.header("retry-after"), Some("1"), "{path}");
        }
        // Light queries do not queue.
        let started = std::time::Instant::now();
        assert_eq!(get("/api/services").await.status, 200);
        assert!(started.elapsed() < Duration::from_millis(50));
        drop(held);
        assert_eq!(get("/api/traces?service=a").await.status, 200);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod transform_tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::Limits;
    use crate::test_support::{Recorder, state_with};

    /// An OTLP JSON document of exactly `bytes` bytes holding one span.
    fn document(bytes: usize) -> String {
        let doc = |name: &str| {
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"{name}"}}]}}]}}]}}"#
            )
        };
        let doc = doc(&"x".repeat(bytes - doc("").len()));
        assert_eq!(doc.len(), bytes);
        doc
    }

    async fn post(limits: Limits, body: String) -> (StatusCode, serde_json::Value) {
        let router = router(state_with(Recorder::open(), limits, 0));
        let req = Request::post("/api/transform")
            .header("content-type", "text/plain")
            .body(Body::from(body))
            .unwrap();
        let resp = router.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn bodies_up_to_max_request_bytes_are_converted_beyond_axums_default() {
        // 3 MiB: over axum's 2 MiB default body limit, under the 16 MiB default.
        let (status, body) = post(Limits::default(), document(3 << 20)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"][0]["spans"][0]["spanID"], "eee19b7ec3c1b174");
    }

    #[tokio::test]
    async fn a_body_over_max_request_bytes_is_a_413_with_the_envelope() {
        let limits = Limits {
            max_request_bytes: 4096,
            ..Limits::default()
        };
        let (status, body) = post(limits, document(4097)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["errors"][0]["msg"], "request body exceeds 4096 bytes");
        let (status, body) = post(limits, document(4096)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
