//! Zipkin's span receiver on 9411, as Jaeger's `zipkin` receiver behaves:
//!
//! - a `POST` to any path; a path containing `api/v1/spans` carries Zipkin v1
//!   (Thrift when `Content-Type` is `application/x-thrift`, else JSON), any
//!   other path Zipkin v2 (protobuf when `Content-Type` is
//!   `application/x-protobuf`, else JSON);
//! - `Content-Encoding: gzip`, `deflate` or `zlib`, chunked or not, within
//!   the request and decompression caps;
//! - **202 Accepted** with an empty body, also when spans or fields that
//!   cannot be used were left out (counted in `/metrics`; Zipkin's protocol
//!   has no place to say so), or Go's `http.Error` text with
//!   400 (not parseable at all), 413 (too large), 415 (unknown encoding),
//!   429 + `Retry-After` (pipeline full) or 5xx (storage).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use spoor_codec::{DecodeError, Decoded};
use spoor_service::Source;

use crate::AppState;
use crate::admission::{SpanCounter, ZIPKIN_JSON, ZIPKIN_PROTOBUF};
use crate::error::go_http_error;
use crate::ingest::{decode_reported, ingest_http_body};

/// The four Zipkin payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipkinFormat {
    /// Zipkin v1 JSON (`/api/v1/spans`).
    V1Json,
    /// Zipkin v1 Thrift `list<Span>` (`/api/v1/spans`, `application/x-thrift`).
    V1Thrift,
    /// Zipkin v2 JSON (`/api/v2/spans`).
    V2Json,
    /// Zipkin v2 protobuf `ListOfSpans` (`/api/v2/spans`, `application/x-protobuf`).
    V2Protobuf,
}

impl ZipkinFormat {
    /// Selects the payload as Jaeger does: by path (`api/v1/spans` anywhere
    /// in it means v1) and `Content-Type` (compared without parameters and
    /// case).
    pub fn select(path: &str, content_type: Option<&HeaderValue>) -> Self {
        let media_type = content_type
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if path.contains("api/v1/spans") {
            if media_type == "application/x-thrift" {
                ZipkinFormat::V1Thrift
            } else {
                ZipkinFormat::V1Json
            }
        } else if media_type == "application/x-protobuf" {
            ZipkinFormat::V2Protobuf
        } else {
            ZipkinFormat::V2Json
        }
    }

    /// The metric labels: receiver `zipkin`, transport `http`, format
    /// `v1_json`, `v1_thrift`, `v2_json` or `v2_protobuf`.
    pub fn source(self) -> Source {
        Source {
            receiver: "zipkin",
            transport: "http",
            format: match self {
                ZipkinFormat::V1Json => "v1_json",
                ZipkinFormat::V1Thrift => "v1_thrift",
                ZipkinFormat::V2Json => "v2_json",
                ZipkinFormat::V2Protobuf => "v2_protobuf",
            },
        }
    }

    /// Decodes a (decompressed) body; a span or field that cannot be used
    /// is left out and counted in the returned report.
    pub fn decode(self, body: &[u8]) -> Result<Decoded, DecodeError> {
        use spoor_codec::zipkin as z;
        match self {
            ZipkinFormat::V1Json => decode_reported(body, |b, r| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
                    .unwrap_or(0);
                z::decode_v1_json_reported(b, now, r)
            }),
            ZipkinFormat::V1Thrift => decode_reported(body, z::decode_v1_thrift_reported),
            ZipkinFormat::V2Json => decode_reported(body, z::decode_v2_json_reported),
            ZipkinFormat::V2Protobuf => decode_reported(body, z::decode_v2_proto_reported),
        }
    }
}

/// The Zipkin router: `POST` to any path.
pub fn http_router(state: Arc<AppState>) -> Router {
    crate::tenancy::http_router(state, routes, crate::tenancy::Scope::All)
}

fn routes(state: Arc<AppState>) -> Router {
    Router::new().fallback(post_spans).with_state(state)
}

async fn post_spans(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if method != Method::POST {
        let mut resp = go_http_error(
            StatusCode::METHOD_NOT_ALLOWED,
            b"method not allowed; POST spans to /api/v1/spans or /api/v2/spans".to_vec(),
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    let format = ZipkinFormat::select(uri.path(), headers.get(header::CONTENT_TYPE));
    let decode = move |b: &[u8]| format.decode(b);
    let counter = match format {
        ZipkinFormat::V1Json | ZipkinFormat::V2Json => ZIPKIN_JSON,
        ZipkinFormat::V2Protobuf => ZIPKIN_PROTOBUF,
        ZipkinFormat::V1Thrift => SpanCounter::Unknown,
    };
    let sink = state.ingester.as_ref();
    let source = format.source();
    match ingest_http_body(&state, sink, source, headers, body, counter, decode).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(refusal) => refusal.plain_text(&refusal.message(), state.retry_after_secs),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::net::SocketAddr;

    use prost::Message;
    use spoor_codec::thrift::{BinaryWriter, TType, ThriftWriter};

    use super::*;
    use crate::Limits;
    use crate::test_support::{
        Framing, ONE_SMALL_REQUEST, Recorder, Reply, gzip, http, names, requests, sample_spans,
        serve_router, state_with, zlib,
    };

    const JSON: (&str, &str) = ("Content-Type", "application/json");
    const PROTO: (&str, &str) = ("Content-Type", "application/x-protobuf");
    const THRIFT: (&str, &str) = ("Content-Type", "application/x-thrift");

    fn v2_json(service: &str) -> Vec<u8> {
        spoor_codec::zipkin::encode_v2_json(&sample_spans(service, "op", 1))
    }

    fn v2_proto(service: &str) -> Vec<u8> {
        use spoor_proto::zipkin::{Endpoint, ListOfSpans, Span};
        ListOfSpans {
            spans: vec![Span {
                trace_id: vec![7; 16],
                id: vec![8; 8],
                name: "proto-op".into(),
                kind: 2,
                timestamp: 1_700_000_000_000_000,
                duration: 1_500,
                local_endpoint: Some(Endpoint {
                    service_name: service.into(),
                    ..Endpoint::default()
                }),
                ..Span::default()
            }],
        }
        .encode_to_vec()
    }

    fn v1_json(service: &str) -> Vec<u8> {
        format!(
            r#"[{{"traceId":"00000000000000aa","id":"00000000000000bb","name":"v1-op",
                "timestamp":1700000000000000,"duration":2000,
                "annotations":[
                  {{"timestamp":1700000000000000,"value":"sr","endpoint":{{"serviceName":"{service}","ipv4":"10.0.0.1","port":8080}}}},
                  {{"timestamp":1700000000002000,"value":"ss","endpoint":{{"serviceName":"{service}","ipv4":"10.0.0.1","port":8080}}}}
                ],
                "binaryAnnotations":[{{"key":"http.path","value":"/x"}}]}}]"#
        )
        .into_bytes()
    }

    /// A binary-protocol `list<zipkincore.Span>` of one server span.
    fn v1_thrift(service: &str) -> Vec<u8> {
        let mut w = BinaryWriter::new();
        w.write_list_begin(TType::Struct, 1);
        w.write_struct_begin();
        w.write_field_begin(TType::I64, 1); // trace_id
        w.write_i64(0xaa);
        w.write_field_begin(TType::String, 3); // name
        w.write_string("thrift-op");
        w.write_field_begin(TType::I64, 4); // id
        w.write_i64(0xbb);
        w.write_field_begin(TType::List, 6); // annotations
        w.write_list_begin(TType::Struct, 2);
        for (ts, value) in [
            (1_700_000_000_000_000i64, "sr"),
            (1_700_000_000_003_000, "ss"),
        ] {
            w.write_struct_begin();
            w.write_field_begin(TType::I64, 1);
            w.write_i64(ts);
            w.write_field_begin(TType::String, 2);
            w.write_string(value);
            w.write_field_begin(TType::Struct, 3); // host
            w.write_struct_begin();
            w.write_field_begin(TType::I32, 1);
            w.write_i32(0x0a00_0001);
            w.write_field_begin(TType::I16, 2);
            w.write_i16(8080);
            w.write_field_begin(TType::String, 3);
            w.write_string(service);
            w.write_field_stop();
            w.write_struct_end();
            w.write_field_stop();
            w.write_struct_end();
        }
        w.write_field_begin(TType::I64, 10); // timestamp
        w.write_i64(1_700_000_000_000_000);
        w.write_field_begin(TType::I64, 11); // duration
        w.write_i64(3_000);
        w.write_field_stop();
        w.write_struct_end();
        w.into_bytes()
    }

    async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        http(addr, "POST", path, headers, body, Framing::Chunked).await
    }

    fn limits() -> Limits {
        Limits {
            max_request_bytes: 4096,
            max_decompressed_bytes: 8192,
            ..Limits::default()
        }
    }

    #[tokio::test]
    async fn every_format_is_routed_and_accepted_with_202() {
        let recorder = Recorder::open();
        let state = state_with(recorder.clone(), limits(), 0);
        let addr = serve_router(http_router(state.clone())).await;
        let cases = [
            (
                "/api/v2/spans",
                vec![JSON],
                v2_json("v2-json"),
                ZipkinFormat::V2Json,
            ),
            (
                "/api/v2/spans",
                vec![],
                v2_json("v2-no-type"),
                ZipkinFormat::V2Json,
            ),
            (
                "/api/v2/spans",
                vec![PROTO],
                v2_proto("v2-proto"),
                ZipkinFormat::V2Protobuf,
            ),
            (
                "/api/v1/spans",
                vec![JSON],
                v1_json("v1-json"),
                ZipkinFormat::V1Json,
            ),
            (
                "/api/v1/spans",
                vec![THRIFT],
                v1_thrift("v1-thrift"),
                ZipkinFormat::V1Thrift,
            ),
            // Any path: Jaeger only looks for "api/v1/spans" in it.
            (
                "/zipkin/api/v1/spans",
                vec![JSON],
                v1_json("v1-prefixed"),
                ZipkinFormat::V1Json,
            ),
            (
                "/",
                vec![PROTO],
                v2_proto("v2-root"),
                ZipkinFormat::V2Protobuf,
            ),
        ];
        for (path, headers, body, format) in &cases {
            let before = requests(&state.metrics, format.source(), "ok");
            let reply = post(addr, path, headers, body).await;
            assert_eq!(reply.status, 202, "{path} {headers:?}: {}", reply.text());
            assert!(reply.body.is_empty());
            assert_eq!(
                requests(&state.metrics, format.source(), "ok"),
                before + 1.0,
                "{path} {headers:?} counted as {format:?}"
            );
        }
        let got = names(&recorder.batches());
        let want = [
            ("v2-json", "op-0"),
            ("v2-no-type", "op-0"),
            ("v2-proto", "proto-op"),
            ("v1-json", "v1-op"),
            ("v1-thrift", "thrift-op"),
            ("v1-prefixed", "v1-op"),
            ("v2-root", "proto-op"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(s, n)| (s.to_string(), n.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_bad_field_or_span_never_costs_the_batch() {
        let recorder = Recorder::open();
        let state = state_with(recorder.clone(), Limits::default(), 0);
        let addr = serve_router(http_router(state.clone())).await;
        let body = br#"[
            {"traceId":"5af7183fb1d4cf5f","id":"1","name":"a","timestamp":1700000000000000,
             "localEndpoint":{"serviceName":"svc","ipv4":"52.0.0.04"}},
            {"traceId":"5af7183fb1d4cf5f","id":"0","name":"zero id"},
            {"traceId":"5af7183fb1d4cf5f","id":"2","name":"b","timestamp":1700000000000000,
             "kind":"SIDEWAYS","localEndpoint":{"serviceName":"svc"}}
        ]"#;
        let reply = post(addr, "/api/v2/spans", &[JSON], body).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        let got = names(&recorder.batches());
        assert_eq!(
            got,
            vec![
                ("svc".to_string(), "a".to_string()),
                ("svc".to_string(), "b".to_string())
            ]
        );
        let source = ZipkinFormat::V2Json.source();
        let m = |name: &str, label: (&str, &str)| {
            crate::test_support::metric(
                &state.metrics,
                name,
                &[("receiver", "zipkin"), ("format", source.format), label],
            )
        };
        assert_eq!(
            m("spoor_receiver_fields_dropped_total", ("field", "ipv4")),
            1.0
        );
        assert_eq!(
            m("spoor_receiver_fields_dropped_total", ("field", "kind")),
            1.0
        );
        assert_eq!(
            m(
                "spoor_receiver_spans_rejected_total",
                ("reason", "invalid_span_id")
            ),
            1.0
        );
        // Only a body that is not a JSON array at all is refused.
        let reply = post(addr, "/api/v2/spans", &[JSON], b"{\"not\":\"a list\"}").await;
        assert_eq!(reply.status, 400);
    }

    #[tokio::test]
    async fn compressed_bodies_are_accepted() {
        let recorder = Recorder::open();
        let state = state_with(recorder.clone(), limits(), 0);
        let addr = serve_router(http_router(state.clone())).await;
        for (encoding, body) in [
            ("gzip", gzip(&v2_json("gz"))),
            ("deflate", zlib(&v2_json("deflated"))),
            ("zlib", zlib(&v2_json("zlibbed"))),
        ] {
            let reply = post(
                addr,
                "/api/v2/spans",
                &[JSON, ("Content-Encoding", encoding)],
                &body,
            )
            .await;
            assert_eq!(reply.status, 202, "{encoding}: {}", reply.text());
        }
        let services: Vec<String> = names(&recorder.batches())
            .into_iter()
            .map(|n| n.0)
            .collect();
        assert_eq!(services, ["gz", "deflated", "zlibbed"]);
    }

    #[tokio::test]
    async fn bad_input_is_refused_and_counted() {
        let recorder = Recorder::open();
        let state = state_with(recorder.clone(), limits(), 0);
        let addr = serve_router(http_router(state.clone())).await;

        let reply = post(addr, "/api/v2/spans", &[JSON], b"[{\"traceId\":").await;
        assert_eq!(reply.status, 400);
        assert!(!reply.text().trim().is_empty());
        // A v2 protobuf body sent to the v1 path is read as v1 JSON.
        let reply = post(addr, "/api/v1/spans", &[PROTO], &v2_proto("x")).await;
        assert_eq!(reply.status, 400, "{}", reply.text());
        // Thrift is not a v2 format: the body is read as JSON.
        let reply = post(addr, "/api/v2/spans", &[THRIFT], &v1_thrift("x")).await;
        assert_eq!(reply.status, 400, "{}", reply.text());
        let reply = post(addr, "/api/v1/spans", &[THRIFT], b"\x0c\x00").await;
        assert_eq!(reply.status, 400, "{}", reply.text());
        let reply = post(
            addr,
            "/api/v2/spans",
            &[JSON, ("Content-Encoding", "gzip")],
            b"[]",
        )
        .await;
        assert_eq!(reply.status, 400, "not gzip: {}", reply.text());
        let reply = post(
            addr,
            "/api/v2/spans",
            &[JSON, ("Content-Encoding", "br")],
            b"[]",
        )
        .await;
        assert_eq!(reply.status, 415, "{}", reply.text());
        let reply = post(addr, "/api/v2/spans", &[JSON], &vec![b' '; 5000]).await;
        assert_eq!(reply.status, 413, "{}", reply.text());
        let bomb = gzip(&vec![b' '; 10_000]);
        let reply = post(
            addr,
            "/api/v2/spans",
            &[JSON, ("Content-Encoding", "gzip")],
            &bomb,
        )
        .await;
        assert_eq!(reply.status, 413, "{}", reply.text());
        let reply = http(
            addr,
            "GET",
            "/api/v2/spans",
            &[],
            b"",
            Framing::ContentLength,
        )
        .await;
        assert_eq!(reply.status, 405);
        assert_eq!(reply.header("allow"), Some("POST"));

        assert!(recorder.batches().is_empty());
        let m = &state.metrics;
        assert_eq!(requests(m, ZipkinFormat::V2Json.source(), "malformed"), 4.0);
        assert_eq!(requests(m, ZipkinFormat::V2Json.source(), "too_large"), 2.0);
        assert_eq!(requests(m, ZipkinFormat::V1Json.source(), "malformed"), 1.0);
        assert_eq!(
            requests(m, ZipkinFormat::V1Thrift.source(), "malformed"),
            1.0
        );
        // Still serving.
        let reply = post(addr, "/api/v2/spans", &[JSON], &v2_json("after")).await;
        assert_eq!(reply.status, 202);
    }

    #[tokio::test]
    async fn a_full_pipeline_answers_429_with_retry_after() {
        let recorder = Recorder::gated();
        let state = state_with(recorder.clone(), limits(), ONE_SMALL_REQUEST);
        let addr = serve_router(http_router(state.clone())).await;
        let first =
            tokio::spawn(async move { post(addr, "/api/v2/spans", &[JSON], &v2_json("a")).await });
        crate::test_support::eventually("the first batch holds the budget", || {
            recorder.entered() == 1
        })
        .await;
        let reply = post(addr, "/api/v2/spans", &[JSON], &v2_json("b")).await;
        assert_eq!(reply.status, 429, "{}", reply.text());
        assert_eq!(reply.header("retry-after"), Some("7"));
        recorder.release(1);
        assert_eq!(first.await.unwrap().status, 202);
    }

    #[test]
    fn formats_are_selected_by_path_and_content_type() {
        let ct = |s: &'static str| HeaderValue::from_static(s);
        let thrift = ct("application/x-thrift");
        let proto = ct("Application/X-Protobuf; charset=binary");
        let json = ct("application/json");
        let cases = [
            ("/api/v1/spans", None, ZipkinFormat::V1Json),
            ("/api/v1/spans", Some(&json), ZipkinFormat::V1Json),
            ("/api/v1/spans", Some(&thrift), ZipkinFormat::V1Thrift),
            (
                "/zipkin/api/v1/spans/x",
                Some(&thrift),
                ZipkinFormat::V1Thrift,
            ),
            ("/api/v1/spans", Some(&proto), ZipkinFormat::V1Json),
            ("/api/v2/spans", None, ZipkinFormat::V2Json),
            ("/api/v2/spans", Some(&proto), ZipkinFormat::V2Protobuf),
            ("/api/v2/spans", Some(&thrift), ZipkinFormat::V2Json),
            ("/", Some(&proto), ZipkinFormat::V2Protobuf),
            ("/anything", Some(&json), ZipkinFormat::V2Json),
        ];
        for (path, ct, want) in cases {
            assert_eq!(ZipkinFormat::select(path, ct), want, "{path} {ct:?}");
        }
        assert_eq!(ZipkinFormat::V2Protobuf.source().format, "v2_protobuf");
        assert_eq!(ZipkinFormat::V1Thrift.source().receiver, "zipkin");
    }
}
