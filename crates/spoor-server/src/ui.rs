//! Serves the embedded web UI: static assets by path, `index.html` for every
//! other non-API path (the app routes on the client), with the server's
//! settings injected at serve time.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Marker in `index.html` replaced by the injected configuration.
const CONFIG_MARKER: &str = "<!--SPOOR_CONFIG-->";

pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(serve).with_state(state)
}

async fn serve(State(state): State<Arc<AppState>>, req: Request) -> Response {
    // The UI is read-only: a POST here is a client pointed at the wrong port,
    // and must not look like success.
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut resp = (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let path = req.uri().path().trim_start_matches('/');
    if !path.is_empty()
        && let Some(asset) = spoor_ui::get(path)
        && path != "index.html"
    {
        let immutable = path.starts_with("assets/");
        let mut resp = (StatusCode::OK, asset.data.into_owned()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", asset.hash)) {
            h.insert(header::ETAG, etag);
        }
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            }),
        );
        return resp;
    }
    if path.contains('.') && !path.ends_with(".html") {
        // A missing asset is a 404, not the app shell.
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    index(&state)
}

fn index(state: &AppState) -> Response {
    let html = String::from_utf8_lossy(&spoor_ui::index_html()).into_owned();
    let config = serde_json::json!({
        "basePath": state.base_path,
        "version": env!("CARGO_PKG_VERSION"),
        "uiBuilt": spoor_ui::is_built(),
    });
    let script = format!(
        "<script>window.SPOOR_CONFIG = {};</script>",
        config.to_string().replace('<', "\\u003c")
    );
    let html = if html.contains(CONFIG_MARKER) {
        html.replacen(CONFIG_MARKER, &script, 1)
    } else {
        html
    };
    let mut resp = (StatusCode::OK, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
