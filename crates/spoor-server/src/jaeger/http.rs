//! Jaeger Thrift over HTTP: `POST /api/traces` with a Thrift-binary `Batch`
//! body (port 14268), answered as Jaeger's `thrift_http` receiver answers:
//! **202 Accepted** with an empty body, or Go's `http.Error` text.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use spoor_service::{RefuseReason, Source};

use crate::AppState;
use crate::admission::SpanCounter;
use crate::error::go_http_error;
use crate::ingest::{Refusal, decode_reported, ingest_http_body};

/// The metric labels of `POST /api/traces`.
pub const HTTP_SOURCE: Source = Source {
    receiver: "jaeger",
    transport: "http",
    format: "thrift_binary",
};

/// The media types Jaeger accepts for a Thrift body.
const THRIFT_MEDIA_TYPES: [&str; 2] = [
    "application/x-thrift",
    "application/vnd.apache.thrift.binary",
];

/// The Jaeger collector HTTP router (`POST /api/traces`).
pub fn http_router(state: Arc<AppState>) -> Router {
    crate::tenancy::http_router(state, routes, crate::tenancy::Scope::All)
}

fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/traces", post(post_traces))
        .with_state(state)
}

async fn post_traces(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(message) = check_content_type(&headers) {
        state
            .metrics
            .receiver(HTTP_SOURCE)
            .request_refused(RefuseReason::Malformed);
        tracing::debug!(
            receiver = HTTP_SOURCE.receiver,
            transport = HTTP_SOURCE.transport,
            error = %message,
            "refused request"
        );
        return go_http_error(StatusCode::BAD_REQUEST, html_escape(&message).into_bytes());
    }
    let decode =
        |b: &[u8]| decode_reported(b, spoor_codec::jaeger_thrift::decode_batch_binary_reported);
    let sink = state.ingester.as_ref();
    let counter = SpanCounter::Unknown;
    match ingest_http_body(&state, sink, HTTP_SOURCE, headers, body, counter, decode).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(refusal) => {
            let message = match &refusal {
                Refusal::Malformed(e) => format!("Unable to process request body: {e}"),
                Refusal::Storage(_) | Refusal::Internal(_) => {
                    format!("Cannot submit Jaeger batch: {}", refusal.message())
                }
                Refusal::Body(_) | Refusal::Admit(_) | Refusal::Overloaded => refusal.message(),
            };
            refusal.plain_text(&html_escape(&message), state.retry_after_secs)
        }
    }
}

/// Checks `Content-Type` as Jaeger does (Go's `mime.ParseMediaType`, then
/// the accepted list), returning Jaeger's message when it is refused.
fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let media_type =
        parse_media_type(&value).map_err(|e| format!("Cannot parse content type: mime: {e}"))?;
    if THRIFT_MEDIA_TYPES.contains(&media_type.as_str()) {
        Ok(())
    } else {
        Err(format!("Unsupported content type: {media_type}"))
    }
}

/// The lower-cased media type of a `Content-Type` value, or the reason Go's
/// `mime.ParseMediaType` gives for refusing it. Parameters are not checked
/// (Go would refuse a malformed one; accepting it costs nothing).
fn parse_media_type(value: &str) -> Result<String, &'static str> {
    let media_type = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (kind, rest) = split_token(&media_type);
    if kind.is_empty() {
        return Err("no media type");
    }
    if rest.is_empty() {
        return Ok(media_type);
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return Err("expected slash after first token");
    };
    let (subtype, rest) = split_token(rest);
    if subtype.is_empty() {
        return Err("expected token after slash");
    }
    if !rest.is_empty() {
        return Err("unexpected content after media subtype");
    }
    Ok(media_type)
}

/// Splits off the leading RFC 1521 token (printable ASCII but no tspecials).
fn split_token(s: &str) -> (&str, &str) {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_graphic() || b"()<>@,;:\\\"/[]?=".contains(&b))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// Go's `html.EscapeString`, which Jaeger applies to its error messages.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::Limits;
    use crate::test_support::{
        Framing, Recorder, eventually, gzip, http, names, requests, sample_spans, serve_router,
        state_with,
    };

    const THRIFT: (&str, &str) = ("Content-Type", "application/x-thrift");

    fn body(service: &str, n: usize) -> Vec<u8> {
        let mut bodies =
            spoor_codec::jaeger_thrift::encode_spans_binary(&sample_spans(service, "op", n));
        assert_eq!(bodies.len(), 1);
        bodies.remove(0)
    }

    fn limits() -> Limits {
        Limits {
            max_request_bytes: 4096,
            max_decompressed_bytes: 8192,
            ..Limits::default()
        }
    }

    #[tokio::test]
    async fn batches_are_accepted_with_202_in_every_framing() {
        let recorder = Recorder::open();
        let state = state_with(recorder.clone(), limits(), 0);
        let addr = serve_router(http_router(state.clone())).await;
        let post = |headers: Vec<(&'static str, &'static str)>, body: Vec<u8>, framing| async move {
            http(addr, "POST", "/api/traces", &headers, &body, framing).await
        };
        let cases = [
            (vec![THRIFT], body("plain", 1), Framing::ContentLength),
            (vec![THRIFT], body("chunked", 1), Framing::Chunked),
            (
                vec![("Content-Type", "application/vnd.apache.thrift.binary")],
                body("vnd", 1),
                Framing::Chunked,
            ),
            (
                vec![THRIFT, ("Content-Encoding", "gzip")],
                gzip(&body("gzipped", 1)),
                Framing::Chunked,
            ),
        ];
        for (headers, body, framing) in cases {
            let reply = post(headers, body, framing).await;
            assert_eq!(reply.status, 202, "{}", reply.text());
            assert!(reply.body.is_empty(), "{}", reply.text());
        }
        let services: Vec<String> = names(&recorder.batches())
            .into_iter()
            .map(|n| n.0)
            .collect();
        assert_eq!(services, ["plain", "chunked", "vnd", "gzipped"]);
        assert_eq!(requests(&state.metrics, HTTP_SOURCE, "ok"), 4.0);
    }

    #[tokio::test]
    async fn a_span_with_a_zero_id_is_left_out_alone() {
        let recorder = Recorder::open();
        let state = state_with(recorder.clone(), limits(), 0);
        let addr = serve_router(http_router(state.clone())).await;
        let mut spans = sample_spans("svc", "op", 2);
        spans[0].span.span_id = spoor_model::SpanId::ZERO;
        let mut bodies = spoor_codec::jaeger_thrift::encode_spans_binary(&spans);
        let reply = http(
            addr,
            "POST",
            "/api/traces",
            &[THRIFT],
            &bodies.remove(0),
            Framing::ContentLength,
        )
        .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(
            names(&recorder.batches()),
            vec![("svc".to_string(), "op-1".to_string())]
        );
        assert_eq!(
            crate::test_support::metric(
                &state.metrics,
                "spoor_receiver_spans_rejected_total",
                &[
                    ("receiver", "jaeger"),
                    ("transport", "http"),
                    ("reason", "invalid_span_id")
                ]
            ),
            1.0
        );
    }

    #[tokio::test]
    async fn bad_requests_get_jaegers_answers() {
        let recorder = Recorder::open();
        let state = state_with(recorder.clone(), limits(), 0);
        let addr = serve_router(http_router(state.clone())).await;
        let valid = body("svc", 1);

        let reply = http(
            addr,
            "POST",
            "/api/traces",
            &[("Content-Type", "application/json")],
            &valid,
            Framing::ContentLength,
        )
        .await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.text(), "Unsupported content type: application/json\n");
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; charset=utf-8")
        );

        let reply = http(
            addr,
            "POST",
            "/api/traces",
            &[],
            &valid,
            Framing::ContentLength,
        )
        .await;
        assert_eq!(reply.status, 400);
        assert_eq!(
            reply.text(),
            "Cannot parse content type: mime: no media type\n"
        );

        let reply = http(
            addr,
            "POST",
            "/api/traces",
            &[THRIFT],
            b"\x0b\x00\x01garbage",
            Framing::Chunked,
        )
        .await;
        assert_eq!(reply.status, 400);
        assert!(
            reply.text().starts_with("Unable to process request body: "),
            "{}",
            reply.text()
        );

        let reply = http(
            addr,
            "POST",
            "/api/traces",
            &[THRIFT, ("Content-Encoding", "gzip")],
            &valid,
            Framing::ContentLength,
        )
        .await;
        assert_eq!(reply.status, 400, "not gzip: {}", reply.text());

        let reply = http(
            addr,
            "POST",
            "/api/traces",
            &[THRIFT],
            &vec![0u8; 5000],
            Framing::Chunked,
        )
        .await;
        assert_eq!(reply.status, 413, "{}", reply.text());

        let reply = http(addr, "GET", "/api/traces", &[], b"", Framing::ContentLength).await;
        assert_eq!(reply.status, 405);

        assert!(recorder.batches().is_empty());
        assert_eq!(requests(&state.metrics, HTTP_SOURCE, "malformed"), 4.0);
        assert_eq!(requests(&state.metrics, HTTP_SOURCE, "too_large"), 1.0);
        // A valid batch still gets through.
        let reply = http(
            addr,
            "POST",
            "/api/traces",
            &[THRIFT],
            &valid,
            Framing::ContentLength,
        )
        .await;
        assert_eq!(reply.status, 202);
    }

    #[tokio::test]
    async fn a_full_pipeline_answers_429_with_retry_after() {
        let recorder = Recorder::gated();
        let valid = body("svc", 1);
        // Room for one request: its bytes plus the decoded estimate (Thrift
        // spans are not counted before decoding), not for two.
        let one = valid.len() * (1 + crate::admission::DECODED_BYTES_FACTOR);
        let state = state_with(recorder.clone(), limits(), one + valid.len());
        let addr = serve_router(http_router(state.clone())).await;
        let first = {
            let valid = valid.clone();
            tokio::spawn(async move {
                http(
                    addr,
                    "POST",
                    "/api/traces",
                    &[THRIFT],
                    &valid,
                    Framing::ContentLength,
                )
                .await
            })
        };
        eventually("the first batch holds the budget", || {
            recorder.entered() == 1
        })
        .await;
        let reply = http(
            addr,
            "POST",
            "/api/traces",
            &[THRIFT],
            &valid,
            Framing::ContentLength,
        )
        .await;
        assert_eq!(reply.status, 429, "{}", reply.text());
        assert_eq!(reply.header("retry-after"), Some("7"));
        recorder.release(1);
        assert_eq!(first.await.unwrap().status, 202);
        assert_eq!(requests(&state.metrics, HTTP_SOURCE, "overloaded"), 1.0);
    }

    fn check(value: Option<&str>) -> Result<(), String> {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
        }
        check_content_type(&h)
    }

    #[test]
    fn content_types_are_checked_like_jaeger() {
        assert_eq!(check(Some("application/x-thrift")), Ok(()));
        assert_eq!(check(Some("Application/X-Thrift; charset=utf-8")), Ok(()));
        assert_eq!(check(Some("application/vnd.apache.thrift.binary")), Ok(()));
        assert_eq!(
            check(None).unwrap_err(),
            "Cannot parse content type: mime: no media type"
        );
        assert_eq!(
            check(Some("/x-thrift")).unwrap_err(),
            "Cannot parse content type: mime: no media type"
        );
        assert_eq!(
            check(Some("application x-thrift")).unwrap_err(),
            "Cannot parse content type: mime: expected slash after first token"
        );
        assert_eq!(
            check(Some("application/x-thrift x")).unwrap_err(),
            "Cannot parse content type: mime: unexpected content after media subtype"
        );
        assert_eq!(
            check(Some("thrift")).unwrap_err(),
            "Unsupported content type: thrift"
        );
        assert_eq!(
            check(Some("application/")).unwrap_err(),
            "Cannot parse content type: mime: expected token after slash"
        );
        assert_eq!(
            check(Some("application/json")).unwrap_err(),
            "Unsupported content type: application/json"
        );
        assert_eq!(
            check(Some("application/vnd.apache.thrift.compact")).unwrap_err(),
            "Unsupported content type: application/vnd.apache.thrift.compact"
        );
    }

    #[test]
    fn messages_are_html_escaped_like_go() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
