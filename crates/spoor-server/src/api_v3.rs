//! Jaeger's api_v3 over HTTP (`/api/v3/*`): OTLP-JSON traces, services,
//! operations and trace summaries, with the camelCase parameter names of
//! Jaeger v2.20 and the snake_case names of v2.16 and earlier.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use serde::Serialize;
use spoor_codec::gojson;
use spoor_model::{AnyValue, SpanKind, SpanRecord, Trace};
use spoor_service::TraceSummary;
use spoor_storage::{GetTraceQuery, OperationQuery, TagFilter, TraceQuery};

use crate::AppState;
use crate::api_legacy::{STREAM_CHUNK_SPANS, stream_json};
use crate::error::{V3ApiError, json_response};
use crate::params::{
    QueryParams, parse_api_time, parse_go_bool, parse_non_negative_duration, parse_trace_id,
};

const DEFAULT_SEARCH_DEPTH: usize = 100;

type V3Result = Result<Response, V3ApiError>;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v3/services", get(services))
        .route("/api/v3/operations", get(operations))
        .route("/api/v3/traces", get(find_traces))
        .route("/api/v3/traces/{trace_id}", get(get_trace))
        .route("/api/v3/trace-summaries", get(find_trace_summaries))
        .with_state(state)
}

fn ok<T: Serialize>(body: &T, params: &QueryParams) -> Response {
    json_response(StatusCode::OK, gojson::to_vec(body, params.pretty()))
}

#[derive(Serialize)]
struct ServicesResponse {
    services: Vec<String>,
}

async fn services(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> V3Result {
    let started = Instant::now();
    let params = QueryParams::parse(q.as_deref());
    let result = state.query.services().await;
    state
        .metrics
        .query("v3_services")
        .observe(started.elapsed(), result.is_ok());
    Ok(ok(&ServicesResponse { services: result? }, &params))
}

#[derive(Serialize)]
struct OperationsResponse {
    operations: Vec<V3Operation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct V3Operation {
    name: String,
    span_kind: &'static str,
}

async fn operations(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> V3Result {
    let started = Instant::now();
    let params = QueryParams::parse(q.as_deref());
    let (kind_param, kind) = params.get_any(&["spanKind", "span_kind"]);
    let span_kind = if kind.is_empty() {
        None
    } else {
        Some(SpanKind::from_jaeger_name(kind).ok_or_else(|| {
            V3ApiError::param(kind_param, format!("unsupported span kind: '{kind}'"))
        })?)
    };
    let result = state
        .query
        .operations(&OperationQuery {
            service: params.get("service").to_string(),
            span_kind,
        })
        .await;
    state
        .metrics
        .query("v3_operations")
        .observe(started.elapsed(), result.is_ok());
    let operations = result?
        .into_iter()
        .map(|o| V3Operation {
            name: o.name,
            span_kind: match o.span_kind {
                SpanKind::Unspecified => "internal",
                k => k.jaeger_name(),
            },
        })
        .collect();
    Ok(ok(&OperationsResponse { operations }, &params))
}

fn traces_response(
    traces: Vec<Trace>,
    warnings: Vec<String>,
    params: &QueryParams,
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
) -> V3Result {
    if traces.iter().all(|t| t.spans.is_empty()) {
        let mut message = "No traces found".to_owned();
        if !warnings.is_empty() {
            message = format!("{message} in the readable data; {}", warnings.join("; "));
        }
        return Err(V3ApiError::not_found(message));
    }
    // The encoder writes query-time warnings as the `@jaeger@warnings` attribute.
    // Each trace keeps its own `resourceSpans` groups, one trace after the
    // other, as Jaeger concatenates the traces it found.
    let traces: Vec<Vec<SpanRecord>> = traces
        .into_iter()
        .map(|t| t.spans)
        .filter(|s| !s.is_empty())
        .collect();
    let total: usize = traces.iter().map(Vec::len).sum();
    if total <= STREAM_CHUNK_SPANS || params.pretty() || !warnings.is_empty() {
        let mut groups = Vec::new();
        for spans in &traces {
            if let serde_json::Value::Object(mut m) = spoor_codec::otlp_json::encode(spans)
                && let Some(serde_json::Value::Array(g)) = m.remove("resourceSpans")
            {
                groups.extend(g);
            }
        }
        let mut body = serde_json::json!({ "result": { "resourceSpans": groups } });
        if let Some(error) = partial_error(warnings) {
            body["error"] = error;
        }
        return Ok(ok(&body, params));
    }
    Ok(stream_json(otlp_chunks(traces), slot))
}

/// `{"result":{"resourceSpans":[…]}}` encoded trace by trace,
/// `STREAM_CHUNK_SPANS` spans at a time (each chunk's resource and scope
/// groups are their own `resourceSpans` entries, which OTLP readers merge),
/// so that a large answer is never built whole.
fn otlp_chunks(traces: Vec<Vec<SpanRecord>>) -> impl Iterator<Item = Bytes> {
    let mut chunks = traces.into_iter().flat_map(|spans| {
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= spans.len() {
                return None;
            }
            let end = (pos + STREAM_CHUNK_SPANS).min(spans.len());
            let value = spoor_codec::otlp_json::encode(&spans[pos..end]);
            pos = end;
            Some(value)
        })
    });
    let mut first = true;
    let body = std::iter::from_fn(move || {
        let value = chunks.next()?;
        let mut out = Vec::new();
        if let Some(groups) = value.get("resourceSpans").and_then(|v| v.as_array()) {
            for group in groups {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(&gojson::to_vec(group, false));
            }
        }
        Some(Bytes::from(out))
    });
    std::iter::once(Bytes::from_static(b"{\"result\":{\"resourceSpans\":["))
        .chain(body)
        .chain(std::iter::once(Bytes::from_static(b"]}}")))
}

/// The `error` member of a 200 answer that holds only part of the data:
/// `{"httpCode":206,"message":"…","details":["…",…]}` (one detail per part
/// skipped, e.g. a damaged block); `None` for a complete answer.
fn partial_error(warnings: Vec<String>) -> Option<serde_json::Value> {
    if warnings.is_empty() {
        return None;
    }
    Some(serde_json::json!({
        "httpCode": 206,
        "message": format!("partial result: {}", warnings.join("; ")),
        "details": warnings,
    }))
}

fn parse_time(params: &QueryParams, names: &[&str]) -> Result<Option<u64>, V3ApiError> {
    let (name, v) = params.get_any(names);
    if v.is_empty() {
        return Ok(None);
    }
    parse_api_time(v)
        .map(Some)
        .map_err(|e| V3ApiError::param(name, format!("parsing time {v:?} failed: {e}")))
}

fn parse_bool(params: &QueryParams, names: &[&str]) -> Result<bool, V3ApiError> {
    let (name, v) = params.get_any(names);
    if v.is_empty() {
        return Ok(false);
    }
    parse_go_bool(v).ok_or_else(|| V3ApiError::param(name, crate::params::go_bool_error(v)))
}

async fn get_trace(
    State(state): State<Arc<AppState>>,
    Path(trace_id): Path<String>,
    RawQuery(q): RawQuery,
) -> V3Result {
    let started = Instant::now();
    let params = QueryParams::parse(q.as_deref());
    let id = parse_trace_id(&trace_id).map_err(|e| V3ApiError::param("trace_id", e))?;
    let query = GetTraceQuery {
        trace_id: id,
        start: parse_time(&params, &["startTime", "start_time"])?,
        end: parse_time(&params, &["endTime", "end_time"])?,
    };
    let raw = parse_bool(&params, &["rawTraces", "raw_traces"])?;
    let slot = state.heavy_query_slot().await?;
    let result = state.query.get_trace_partial(query, raw).await;
    state
        .metrics
        .query("v3_get_trace")
        .observe(started.elapsed(), result.is_ok());
    let partial = result?;
    traces_response(
        partial.value.into_iter().collect(),
        partial.warnings,
        &params,
        slot,
    )
}

struct V3Search {
    query: TraceQuery,
    raw: bool,
}

fn parse_find(params: &QueryParams) -> Result<V3Search, V3ApiError> {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let service = params
        .get_any(&["query.serviceName", "query.service_name"])
        .1;
    let operation = params
        .get_any(&["query.operationName", "query.operation_name"])
        .1;
    let min = parse_time(params, &["query.startTimeMin", "query.start_time_min"])?;
    let max = parse_time(params, &["query.startTimeMax", "query.start_time_max"])?;
    let (Some(min), Some(max)) = (min, max) else {
        return Err(V3ApiError::bad_request(
            "query.startTimeMin and query.startTimeMax are required",
        ));
    };
    if min > max {
        return Err(V3ApiError::bad_request(
            "query.startTimeMin must be before query.startTimeMax",
        ));
    }
    let (depth_name, depth) = params.get_any(&[
        "query.searchDepth",
        "query.search_depth",
        "query.num_traces",
    ]);
    let limit = if depth.is_empty() {
        DEFAULT_SEARCH_DEPTH
    } else {
        let n: i64 = depth.parse().map_err(|_| {
            V3ApiError::param(
                depth_name,
                format!("strconv.Atoi: parsing {depth:?}: invalid syntax"),
            )
        })?;
        let n = crate::params::check_not_negative(n, depth)
            .map_err(|e| V3ApiError::param(depth_name, e))?;
        if n == 0 {
            DEFAULT_SEARCH_DEPTH
        } else {
            n as usize
        }
    };
    let duration = |names: &[&str]| -> Result<Option<u64>, V3ApiError> {
        let (name, v) = params.get_any(names);
        if v.is_empty() {
            return Ok(None);
        }
        let d = parse_non_negative_duration(v).map_err(|e| V3ApiError::param(name, e))?;
        Ok((d > 0).then_some(d))
    };
    let duration_min = duration(&["query.durationMin", "query.duration_min"])?;
    let duration_max = duration(&["query.durationMax", "query.duration_max"])?;
    // Beyond Jaeger: a filter expression and whole-trace duration bounds.
    let trace_duration_min = duration(&["query.traceDurationMin", "query.trace_duration_min"])?;
    let trace_duration_max = duration(&["query.traceDurationMax", "query.trace_duration_max"])?;
    let filter = crate::params::parse_filters(&params.all("query.filter"))
        .map_err(|e| V3ApiError::param("query.filter", e))?;
    let mut tags = Vec::new();
    let attrs = params.get("query.attributes");
    if !attrs.is_empty() {
        let map: BTreeMap<String, String> =
            serde_json::from_str(attrs).map_err(|e| V3ApiError::param("query.attributes", e))?;
        tags = map
            .into_iter()
            .map(|(key, value)| TagFilter {
                key,
                value: AnyValue::Str(value),
            })
            .collect();
    }
    let raw = parse_bool(params, &["query.rawTraces", "query.raw_traces"])?;
    Ok(V3Search {
        query: TraceQuery {
            service: non_empty(service),
            operation: non_empty(operation),
            tags,
            start_min: Some(min),
            start_max: Some(max),
            duration_min,
            duration_max,
            filter,
            trace_duration_min,
            trace_duration_max,
            limit,
        },
        raw,
    })
}

/// Refuses a search depth above `--query-max-limit`.
fn check_depth(state: &AppState, search: &V3Search) -> Result<(), V3ApiError> {
    let max = state.query_limits.max_limit;
    if max > 0 && search.query.limit > max {
        return Err(V3ApiError::bad_request(format!(
            "query.searchDepth {} exceeds the maximum of {max} (--query-max-limit)",
            search.query.limit
        )));
    }
    Ok(())
}

async fn find_traces(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> V3Result {
    let started = Instant::now();
    let params = QueryParams::parse(q.as_deref());
    let search = parse_find(&params)?;
    check_depth(&state, &search)?;
    let slot = state.heavy_query_slot().await?;
    let result = state
        .query
        .find_traces_partial(&search.query, search.raw)
        .await;
    state
        .metrics
        .query("v3_find_traces")
        .observe(started.elapsed(), result.is_ok());
    let partial = result?;
    traces_response(partial.value, partial.warnings, &params, slot)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct V3ServiceSummary {
    name: String,
    #[serde(skip_serializing_if = "is_zero")]
    span_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    error_span_count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct V3TraceSummary {
    trace_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    root_service_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    root_operation_name: String,
    min_start_time_unix_nano: String,
    max_end_time_unix_nano: String,
    #[serde(skip_serializing_if = "is_zero")]
    span_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    error_span_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    orphan_span_count: u64,
    services: Vec<V3ServiceSummary>,
}

impl From<TraceSummary> for V3TraceSummary {
    fn from(s: TraceSummary) -> Self {
        V3TraceSummary {
            trace_id: s.trace_id.to_hex(),
            root_service_name: s.root_service_name,
            root_operation_name: s.root_operation_name,
            min_start_time_unix_nano: s.min_start_time_unix_nano.to_string(),
            max_end_time_unix_nano: s.max_end_time_unix_nano.to_string(),
            span_count: s.span_count,
            error_span_count: s.error_span_count,
            orphan_span_count: s.orphan_span_count,
            services: s
                .services
                .into_iter()
                .map(|svc| V3ServiceSummary {
                    name: svc.name,
                    span_count: svc.span_count,
                    error_span_count: svc.error_span_count,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct SummariesResponse {
    summaries: Vec<V3TraceSummary>,
    /// Present when part of the data could not be read (see `partial_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

async fn find_trace_summaries(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> V3Result {
    let started = Instant::now();
    let params = QueryParams::parse(q.as_deref());
    let search = parse_find(&params)?;
    // Summaries are small: no maximum depth, but a heavy-query slot.
    let _slot = state.heavy_query_slot().await?;
    let result = state
        .query
        .find_trace_summaries_partial(&search.query)
        .await;
    state
        .metrics
        .query("v3_trace_summaries")
        .observe(started.elapsed(), result.is_ok());
    let partial = result?;
    let summaries = partial
        .value
        .into_iter()
        .map(V3TraceSummary::from)
        .collect();
    Ok(ok(
        &SummariesResponse {
            summaries,
            error: partial_error(partial.warnings),
        },
        &params,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod stream_tests {
    use super::*;
    use crate::test_support::sample_spans;

    #[test]
    fn a_streamed_trace_holds_every_span_in_valid_otlp_json() {
        let n = 2 * STREAM_CHUNK_SPANS + 7;
        let chunks: Vec<Bytes> = otlp_chunks(vec![sample_spans("svc", "op", n)]).collect();
        assert_eq!(chunks.len(), 5);
        let body = chunks.concat();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let groups = v["result"]["resourceSpans"].as_array().unwrap();
        let spans: usize = groups
            .iter()
            .flat_map(|g| g["scopeSpans"].as_array().unwrap())
            .map(|s| s["spans"].as_array().unwrap().len())
            .sum();
        assert_eq!(spans, n);
        // Re-decoded as an OTLP request: the same spans.
        let inner = serde_json::to_vec(&v["result"]).unwrap();
        assert_eq!(spoor_codec::otlp_json::decode(&inner).unwrap().len(), n);
    }
}
