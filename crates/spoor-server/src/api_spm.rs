//! Jaeger's service performance monitoring API, `/api/metrics/*`, answered
//! from the storage's per-minute RED statistics (`spoor_service::spm`).
//!
//! - `GET /api/metrics/calls`, `/api/metrics/errors`,
//!   `/api/metrics/latencies` (`quantile` required): Jaeger's `MetricFamily`
//!   as protobuf JSON, without the `/api` envelope;
//! - `GET /api/metrics/minstep`: the envelope with the resolution in ms.
//!
//! Parameters as Jaeger parses them: `service` (repeatable, at least one),
//! `groupByOperation` (Go bool), `spanKind` (repeatable, default `server`),
//! `endTs` (ms, default now), `lookback` (ms, default 1 h), `step` (ms,
//! default 5 s), `ratePer` (ms, default 10 min). Errors are the `/api`
//! envelope with the status, as Jaeger's `handleError` writes them.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;
use spoor_codec::gojson;
use spoor_codec::jaeger::Envelope;
use spoor_model::{SpanKind, UnixNanos};
use spoor_service::spm::{MIN_STEP_NANOS, MetricFamily, MetricKind, MetricsQuery};

use crate::AppState;
use crate::error::{LegacyApiError, json_response};
use crate::params::{QueryParams, go_bool_error, parse_go_bool, parse_go_int};

const MS: u64 = 1_000_000;
const DEFAULT_LOOKBACK_MS: i64 = 3_600_000;
const DEFAULT_STEP_MS: i64 = 5_000;
const DEFAULT_RATE_PER_MS: i64 = 600_000;

type ApiResult = Result<Response, LegacyApiError>;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/metrics/calls", get(calls))
        .route("/api/metrics/errors", get(errors))
        .route("/api/metrics/latencies", get(latencies))
        .route("/api/metrics/minstep", get(min_step))
        .with_state(state)
}

fn param_error(name: &str, err: impl std::fmt::Display) -> LegacyApiError {
    LegacyApiError::bad_request(format!("unable to parse param '{name}': {err}"))
}

/// Jaeger's span kind names for metrics (`unspecified` included).
fn metrics_span_kind(s: &str) -> Option<SpanKind> {
    match s {
        "unspecified" => Some(SpanKind::Unspecified),
        "" => None,
        other => SpanKind::from_jaeger_name(other),
    }
}

fn millis(params: &QueryParams, name: &str, default: i64) -> Result<i64, LegacyApiError> {
    match params.get(name) {
        "" => Ok(default),
        v => parse_go_int(v).map_err(|e| param_error(name, e)),
    }
}

fn to_nanos(ms: i64) -> u64 {
    (ms.max(0) as u64).saturating_mul(MS)
}

/// The common metrics parameters.
pub fn parse_metrics_query(params: &QueryParams) -> Result<MetricsQuery, LegacyApiError> {
    if !params.has("service") {
        return Err(param_error(
            "service",
            "please provide at least one service name",
        ));
    }
    let services: Vec<String> = params
        .all("service")
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if services.is_empty() {
        return Err(param_error(
            "service",
            "please provide at least one service name",
        ));
    }
    let group = params.get("groupByOperation");
    let group_by_operation = if group.is_empty() {
        false
    } else {
        parse_go_bool(group).ok_or_else(|| param_error("groupByOperation", go_bool_error(group)))?
    };
    let span_kinds = if params.has("spanKind") {
        let mut kinds = Vec::new();
        for k in params.all("spanKind") {
            let kind = metrics_span_kind(k)
                .ok_or_else(|| param_error("spanKind", format!("unsupported span kind: '{k}'")))?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        kinds
    } else {
        vec![SpanKind::Server]
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let end = millis(params, "endTs", now_ms)?;
    let lookback = millis(params, "lookback", DEFAULT_LOOKBACK_MS)?;
    let step = millis(params, "step", DEFAULT_STEP_MS)?;
    let rate_per = millis(params, "ratePer", DEFAULT_RATE_PER_MS)?;
    for (name, v) in [
        ("lookback", lookback),
        ("step", step),
        ("ratePer", rate_per),
    ] {
        if v < 0 || (v == 0 && name != "lookback") {
            return Err(param_error(
                name,
                "must be a positive number of milliseconds",
            ));
        }
    }
    Ok(MetricsQuery {
        services,
        group_by_operation,
        span_kinds,
        end: to_nanos(end),
        lookback: to_nanos(lookback),
        step: to_nanos(step),
        rate_per: to_nanos(rate_per),
    })
}

#[derive(Serialize)]
struct JsonFamily {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    help: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    metrics: Vec<JsonMetric>,
}

#[derive(Serialize)]
struct JsonMetric {
    labels: Vec<JsonLabel>,
    #[serde(rename = "metricPoints")]
    metric_points: Vec<JsonPoint>,
}

#[derive(Serialize)]
struct JsonLabel {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
struct JsonPoint {
    #[serde(rename = "gaugeValue")]
    gauge_value: JsonGauge,
    timestamp: String,
}

#[derive(Serialize)]
struct JsonGauge {
    #[serde(rename = "doubleValue")]
    double_value: f64,
}

/// A `google.protobuf.Timestamp` as protobuf JSON writes it: RFC 3339 in
/// UTC with 0, 3, 6 or 9 fractional digits.
pub fn proto_timestamp(nanos: UnixNanos) -> String {
    let frac = nanos % 1_000_000_000;
    let whole = spoor_model::format_rfc3339(nanos - frac);
    let base = whole.trim_end_matches('Z');
    if frac == 0 {
        format!("{base}Z")
    } else if frac.is_multiple_of(1_000_000) {
        format!("{base}.{:03}Z", frac / 1_000_000)
    } else if frac.is_multiple_of(1_000) {
        format!("{base}.{:06}Z", frac / 1_000)
    } else {
        format!("{base}.{frac:09}Z")
    }
}

fn family_json(family: MetricFamily) -> JsonFamily {
    JsonFamily {
        name: family.name,
        kind: "GAUGE",
        help: family.help,
        metrics: family
            .series
            .into_iter()
            .map(|s| {
                let mut labels = vec![JsonLabel {
                    name: "service_name",
                    value: s.service,
                }];
                if let Some(op) = s.operation {
                    labels.push(JsonLabel {
                        name: "operation",
                        value: op,
                    });
                }
                JsonMetric {
                    labels,
                    metric_points: s
                        .points
                        .into_iter()
                        .map(|p| JsonPoint {
                            gauge_value: JsonGauge {
                                double_value: p.value,
                            },
                            timestamp: proto_timestamp(p.timestamp),
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

async fn metric(
    state: &AppState,
    params: &QueryParams,
    kind: MetricKind,
    endpoint: &'static str,
) -> ApiResult {
    let started = Instant::now();
    let query = parse_metrics_query(params)?;
    let result = state.query.metrics_partial(kind, &query).await;
    state
        .metrics
        .query(endpoint)
        .observe(started.elapsed(), result.is_ok());
    let spoor_storage::Partial {
        value: family,
        warnings,
    } = result?;
    let mut response = json_response(
        StatusCode::OK,
        gojson::to_vec(&family_json(family), params.pretty()),
    );
    // Jaeger's MetricFamily has no place for warnings: data skipped because
    // it could not be read (a damaged block) is said in a header.
    crate::export::warning_fields(response.headers_mut(), &warnings);
    Ok(response)
}

async fn calls(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = QueryParams::parse(q.as_deref());
    metric(&state, &params, MetricKind::Calls, "metrics_calls").await
}

async fn errors(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = QueryParams::parse(q.as_deref());
    metric(&state, &params, MetricKind::Errors, "metrics_errors").await
}

async fn latencies(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = QueryParams::parse(q.as_deref());
    let raw = params.get("quantile");
    let quantile: f64 = raw.parse().map_err(|_| {
        param_error(
            "quantile",
            format!("strconv.ParseFloat: parsing {raw:?}: invalid syntax"),
        )
    })?;
    if !(0.0..=1.0).contains(&quantile) {
        return Err(param_error("quantile", "must be between 0 and 1"));
    }
    metric(
        &state,
        &params,
        MetricKind::Latencies { quantile },
        "metrics_latencies",
    )
    .await
}

async fn min_step(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = QueryParams::parse(q.as_deref());
    if !state.query.has_metrics() {
        return Err(LegacyApiError {
            status: StatusCode::NOT_IMPLEMENTED,
            msg: "metrics are not available with this storage backend".into(),
        });
    }
    let ms = (MIN_STEP_NANOS / MS) as i64;
    Ok(json_response(
        StatusCode::OK,
        gojson::to_vec(&Envelope::ok(ms, 0), params.pretty()),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_protobuf_json_writes_them() {
        assert_eq!(proto_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            proto_timestamp(1_622_711_526_000_000_000),
            "2021-06-03T09:12:06Z"
        );
        assert_eq!(
            proto_timestamp(1_622_711_526_500_000_000),
            "2021-06-03T09:12:06.500Z"
        );
        assert_eq!(
            proto_timestamp(1_622_711_526_000_001_000),
            "2021-06-03T09:12:06.000001Z"
        );
        assert_eq!(
            proto_timestamp(1_622_711_526_000_000_001),
            "2021-06-03T09:12:06.000000001Z"
        );
    }

    #[test]
    fn parameters_are_parsed_as_jaeger_does() {
        let q = |s: &str| parse_metrics_query(&QueryParams::parse(Some(s)));
        let ok = q("service=a&service=b&groupByOperation=true&spanKind=client&spanKind=unspecified&endTs=1000&lookback=100&step=10&ratePer=60000").unwrap();
        assert_eq!(ok.services, vec!["a", "b"]);
        assert!(ok.group_by_operation);
        assert_eq!(ok.span_kinds, vec![SpanKind::Client, SpanKind::Unspecified]);
        assert_eq!(
            (ok.end, ok.lookback, ok.step),
            (1_000 * MS, 100 * MS, 10 * MS)
        );
        assert_eq!(ok.rate_per, 60_000 * MS);
        let defaults = q("service=a").unwrap();
        assert_eq!(defaults.span_kinds, vec![SpanKind::Server]);
        assert_eq!(defaults.lookback, 3_600_000 * MS);
        assert_eq!(defaults.step, 5_000 * MS);
        assert_eq!(defaults.rate_per, 600_000 * MS);
        let msg = |s: &str| q(s).unwrap_err().msg;
        assert_eq!(
            msg(""),
            "unable to parse param 'service': please provide at least one service name"
        );
        assert_eq!(
            msg("service=a&spanKind=bogus"),
            "unable to parse param 'spanKind': unsupported span kind: 'bogus'"
        );
        assert_eq!(
            msg("service=a&groupByOperation=maybe"),
            "unable to parse param 'groupByOperation': strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert!(
            msg("service=a&endTs=x").starts_with("unable to parse param 'endTs': strconv.ParseInt")
        );
        assert!(msg("service=a&step=0").starts_with("unable to parse param 'step'"));
    }
}
