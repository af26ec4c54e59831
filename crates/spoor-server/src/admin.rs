//! The admin server: liveness and health (`GET /status`, also `/` and
//! `/health`), readiness (`GET /ready`) and Prometheus metrics (`GET /metrics`).
//!
//! `/status` answers 200 while the process serves (it says whether storage
//! can write, but does not fail for it: restarting does not free a disk);
//! `/ready` answers 503 until the listeners are up, while storage cannot
//! write (a full disk) and during shutdown, so a load balancer or a
//! Kubernetes readiness probe sends traffic elsewhere meanwhile.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use spoor_model::{format_duration_go, format_rfc3339};

use crate::AppState;
use crate::error::json_response;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(status))
        .route("/status", get(status))
        .route("/health", get(status))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    status: &'static str,
    up_since: String,
    uptime: String,
}

async fn status(State(state): State<Arc<AppState>>) -> Response {
    let resp = health_response(state.started_at, state.is_ready());
    let Some(storage) = &state.storage else {
        return resp;
    };
    // Jaeger's body, plus whether storage can write.
    let code = resp.status();
    let health = storage.health();
    let since = state
        .started_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let uptime = SystemTime::now()
        .duration_since(state.started_at)
        .map_or(0, |d| d.as_secs() as i64 * 1_000_000_000);
    let body = HealthWithStorage {
        status: if code == StatusCode::OK {
            "Server available"
        } else {
            "Server not available"
        },
        up_since: format_rfc3339(since),
        uptime: format_duration_go(uptime),
        storage: StorageBody {
            writable: health.writable,
            reason: health.reason,
        },
    };
    json_response(code, serde_json::to_vec(&body).unwrap_or_default())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HealthWithStorage {
    status: &'static str,
    up_since: String,
    uptime: String,
    storage: StorageBody,
}

#[derive(Serialize)]
struct StorageBody {
    writable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// `GET /ready`: 200 `{"ready":true}` when spans can be taken, else 503 with
/// the reason.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let reason = if !state.is_ready() {
        Some("the server is starting or shutting down".to_string())
    } else {
        state.storage.as_ref().and_then(|s| {
            let h = s.health();
            (!h.writable).then(|| {
                format!(
                    "storage cannot write: {}",
                    h.reason.unwrap_or_else(|| "unknown".into())
                )
            })
        })
    };
    let code = if reason.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        ready: reason.is_none(),
        reason,
    };
    json_response(code, serde_json::to_vec(&body).unwrap_or_default())
}

/// The health answer (`/status`) of a process started at `started_at`:
/// 200 when `ready`, else 503. Shared with `spoor agent`'s admin server.
pub fn health_response(started_at: SystemTime, ready: bool) -> Response {
    let since = started_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let uptime = SystemTime::now()
        .duration_since(started_at)
        .map_or(0, |d| d.as_secs() as i64 * 1_000_000_000);
    let body = Health {
        status: if ready {
            "Server available"
        } else {
            "Server not available"
        },
        up_since: format_rfc3339(since),
        uptime: format_duration_go(uptime),
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(code, serde_json::to_vec(&body).unwrap_or_default())
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut text = state.metrics.render_prometheus();
    text.push_str(&state.net.render_prometheus());
    text.push_str(&state.net.render_auth_prometheus());
    prometheus_response(text)
}

/// A Prometheus text exposition answer (`/metrics`).
pub fn prometheus_response(text: String) -> Response {
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
