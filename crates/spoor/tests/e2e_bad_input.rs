//! Hostile and broken input against one running binary: every bad request
//! gets a clear error, and afterwards the binary still stores and serves
//! valid traces, reports healthy, and has counted the refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Spoor, grpc_export, metric_sum};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as PbSpan};
use prost::Message as _;
use prost::bytes::{Buf, BufMut};
use spoor_model::{KeyValue, Resource, Scope, Span, SpanId, SpanKind, SpanRecord, TraceId};

const MAX_REQUEST_BYTES: usize = 256 * 1024;
const MAX_DECOMPRESSED_BYTES: usize = 1024 * 1024;

/// `google.rpc.Status`, the body of OTLP/HTTP protobuf errors.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn start() -> Spoor {
    Spoor::start(&[
        "--max-request-bytes",
        &MAX_REQUEST_BYTES.to_string(),
        "--max-decompressed-bytes",
        &MAX_DECOMPRESSED_BYTES.to_string(),
    ])
}

/// Asserts an OTLP/HTTP protobuf error: status, a `google.rpc.Status` body
/// with a message, and returns the message.
fn expect_pb_error(reply: &common::Reply, status: u16, what: &str) -> String {
    assert_eq!(reply.status, status, "{what}: {}", reply.text());
    let st = RpcStatus::decode(&reply.body[..]).unwrap_or_else(|e| {
        panic!(
            "{what}: body is not a google.rpc.Status ({e}): {:?}",
            reply.body
        )
    });
    assert!(!st.message.is_empty(), "{what}: empty message");
    st.message
}

/// Asserts an OTLP/HTTP JSON error and returns its message.
fn expect_json_error(reply: &common::Reply, status: u16, what: &str) -> String {
    assert_eq!(reply.status, status, "{what}: {}", reply.text());
    let body = reply.json();
    let message = body["message"].as_str().unwrap_or_default().to_string();
    assert!(!message.is_empty(), "{what}: no message in {body}");
    message
}

/// A valid one-span trace with a fresh trace ID.
fn valid_trace(service: &str, salt: u64) -> (TraceId, Vec<SpanRecord>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let trace_id = TraceId::from_halves(0x5eed_0000_0000_0000 | salt, now);
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::str("service.name", service)],
        ..Resource::default()
    });
    let scope = Arc::new(Scope {
        name: "e2e-bad-input".into(),
        ..Scope::default()
    });
    let span = Span {
        trace_id,
        span_id: SpanId::from_u64(0xabc0 + salt),
        name: "survivor".into(),
        kind: SpanKind::Server,
        start_time_unix_nano: now - 5_000_000,
        end_time_unix_nano: now,
        ..Span::default()
    };
    (trace_id, vec![SpanRecord::new(resource, scope, span)])
}

/// How a raw request body is framed.
#[derive(Clone, Copy, Debug)]
enum Framing {
    ContentLength,
    Chunked,
}

/// Sends a POST over a raw socket (so the client never gives up early when
/// the server answers before reading the whole body) and returns the status
/// and the body text.
fn raw_post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    framing: Framing,
) -> (u16, String) {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match framing {
        Framing::ContentLength => head.push_str(&format!("Content-Length: {}\r\n", body.len())),
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    head.push_str("\r\n");
    // Write errors are expected once the server refuses the body and closes.
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        match framing {
            Framing::ContentLength => {
                let _ = writer.write_all(&body);
            }
            Framing::Chunked => {
                for chunk in body.chunks(16 * 1024) {
                    let framed =
                        [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
                    if writer.write_all(&framed).is_err() {
                        return;
                    }
                }
                let _ = writer.write_all(b"0\r\n\r\n");
            }
        }
    });
    let mut reader = stream.try_clone().unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    let response = loop {
        if let Some(r) = parse_response(&received) {
            break Some(r);
        }
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break parse_response(&received),
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    };
    let _ = stream.shutdown(Shutdown::Both);
    let _ = sender.join();
    response.unwrap_or_else(|| {
        panic!(
            "no complete HTTP response to POST {path} ({framing:?}): {:?}",
            String::from_utf8_lossy(&received)
        )
    })
}

/// A complete HTTP/1.1 response (status and body text), if `data` holds one.
fn parse_response(data: &[u8]) -> Option<(u16, String)> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = &data[end + 4..];
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    match length {
        Some(n) if body.len() >= n => {
            Some((status, String::from_utf8_lossy(&body[..n]).into_owned()))
        }
        Some(_) => None,
        None if head.contains("transfer-encoding: chunked") => body
            .windows(5)
            .any(|w| w == b"0\r\n\r\n")
            .then(|| (status, String::from_utf8_lossy(body).into_owned())),
        None => None,
    }
}

/// Sends raw bytes as the gRPC request message of `TraceService/Export`.
fn grpc_raw_export(endpoint: &str, message: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
    #[derive(Clone, Copy, Default)]
    struct RawCodec;
    struct RawEncoder;
    struct RawDecoder;
    impl tonic::codec::Encoder for RawEncoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(
            &mut self,
            item: Vec<u8>,
            dst: &mut tonic::codec::EncodeBuf<'_>,
        ) -> Result<(), tonic::Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }
    impl tonic::codec::Decoder for RawDecoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn decode(
            &mut self,
            src: &mut tonic::codec::DecodeBuf<'_>,
        ) -> Result<Option<Vec<u8>>, tonic::Status> {
            Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
        }
    }
    impl tonic::codec::Codec for RawCodec {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = RawEncoder;
        type Decoder = RawDecoder;
        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }
        fn decoder(&mut self) -> RawDecoder {
            RawDecoder
        }
    }

    let endpoint = endpoint.to_string();
    common::runtime().block_on(async move {
        let channel = tonic::transport::Endpoint::from_shared(endpoint)
            .map_err(|e| tonic::Status::internal(e.to_string()))?
            .connect()
            .await
            .map_err(|e| tonic::Status::unavailable(format!("cannot connect: {e}")))?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        grpc.unary(tonic::Request::new(message), path, RawCodec)
            .await
            .map(tonic::Response::into_inner)
    })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A gzip stream of `total` zero bytes, written in pieces to keep memory low.
fn gzip_zeros(total: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    let mut left = total;
    while left > 0 {
        let n = left.min(block.len());
        enc.write_all(&block[..n]).unwrap();
        left -= n;
    }
    enc.finish().unwrap()
}

#[test]
fn hostile_input_is_refused_and_hurts_nothing() {
    let spoor = start();
    let traces_url = spoor.otlp_http_url("/v1/traces");

    // (1) Garbage protobuf.
    let reply = spoor.post(
        &traces_url,
        "application/x-protobuf",
        b"\x0a\xff\xff\xff\xff\x0fnot protobuf at all".to_vec(),
        &[],
    );
    let msg = expect_pb_error(&reply, 400, "garbage protobuf");
    assert_eq!(RpcStatus::decode(&reply.body[..]).unwrap().code, 3, "{msg}");
    assert!(
        reply.content_type.starts_with("application/x-protobuf"),
        "{}",
        reply.content_type
    );

    // (2) Malformed JSON.
    let reply = spoor.post(
        &traces_url,
        "application/json",
        r#"{"resourceSpans": ["#,
        &[],
    );
    expect_json_error(&reply, 400, "malformed JSON");

    // (3) Well-formed JSON, but a 3-byte trace ID: the span is left out
    // alone and the sender told so by OTLP's partial success (ADR 0015).
    let short_id = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"bad"}}]},
        "scopeSpans":[{"spans":[{"traceId":"0a0b0c","spanId":"0102030405060708","name":"x",
        "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000000001000"}]}]}]}"#;
    let reply = spoor.post(&traces_url, "application/json", short_id, &[]);
    assert_eq!(
        reply.status,
        200,
        "3-byte trace ID in JSON: {}",
        reply.text()
    );
    let body = reply.json();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "1", "{body}");

    // (4) A body over --max-request-bytes, announced and chunked.
    let big = vec![0x0au8; MAX_REQUEST_BYTES + 64 * 1024];
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let (status, body) = raw_post(
            spoor.otlp_http,
            "/v1/traces",
            &[("Content-Type", "application/x-protobuf")],
            big.clone(),
            framing,
        );
        assert_eq!(status, 413, "oversized body, {framing:?}: {body}");
        assert!(
            body.contains("exceeds"),
            "oversized body, {framing:?}: {body}"
        );
    }
    // Just under the limit is not refused for its size.
    let (status, body) = raw_post(
        spoor.otlp_http,
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        spoor_codec::otlp::encode_request(&valid_trace("chunked-ok", 1).1),
        Framing::Chunked,
    );
    assert_eq!(status, 200, "a small chunked protobuf body: {body}");

    // (5) A gzip bomb: 100 MB of zeros in a body that fits the wire limit.
    let bomb = gzip_zeros(100 << 20);
    assert!(
        bomb.len() < MAX_REQUEST_BYTES,
        "the bomb ({} bytes) must pass the wire limit",
        bomb.len()
    );
    let reply = spoor.post(
        &traces_url,
        "application/x-protobuf",
        bomb,
        &[("Content-Encoding", "gzip")],
    );
    let msg = expect_pb_error(&reply, 413, "gzip bomb");
    assert!(msg.contains("decompressed"), "{msg}");
    // Corrupt gzip and an unknown encoding.
    let reply = spoor.post(
        &traces_url,
        "application/json",
        b"\x1f\x8b\x08\x00garbage".to_vec(),
        &[("Content-Encoding", "gzip")],
    );
    expect_json_error(&reply, 400, "corrupt gzip");
    let reply = spoor.post(
        &traces_url,
        "application/json",
        "{}",
        &[("Content-Encoding", "br")],
    );
    expect_json_error(&reply, 415, "unknown Content-Encoding");

    // (6) Unsupported Content-Type.
    let reply = spoor.post(&traces_url, "text/plain", "hello", &[]);
    assert_eq!(reply.status, 415, "text/plain: {}", reply.text());
    assert!(!reply.body.is_empty(), "415 needs a message");

    // (7) gRPC: a span whose trace ID has 3 bytes.
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(PbResource::default()),
            scope_spans: vec![ScopeSpans {
                spans: vec![PbSpan {
                    trace_id: vec![1, 2, 3],
                    span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
                    name: "short-id".into(),
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    end_time_unix_nano: 1_700_000_000_000_001_000,
                    ..PbSpan::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let response = common::grpc_export_response(&spoor.otlp_grpc_endpoint(), request)
        .expect("a span with a 3-byte trace ID is left out alone, not the request");
    let partial = response.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 1, "{partial:?}");
    assert!(partial.error_message.contains("traceId"), "{partial:?}");

    // (8) gRPC: bytes that are not a protobuf message at all.
    let result = grpc_raw_export(
        &spoor.otlp_grpc_endpoint(),
        b"\x0a\xff\xff\xff\xff\x0fgarbage".to_vec(),
    );
    let status = result.expect_err("undecodable gRPC message must fail");
    // INVALID_ARGUMENT, not tonic's INTERNAL (issue 12).
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    // A gRPC message over the size limit.
    let huge = vec![b'x'; MAX_REQUEST_BYTES + 1024];
    let oversized = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            schema_url: String::from_utf8(huge).unwrap(),
            ..ResourceSpans::default()
        }],
    };
    let status = grpc_export(&spoor.otlp_grpc_endpoint(), oversized)
        .expect_err("a message over the limit must be refused");
    assert!(
        // Not OUT_OF_RANGE, which OTLP clients retry forever (issue 12).
        status.code() == tonic::Code::InvalidArgument,
        "{status:?}"
    );

    // (9) The binary is unhurt: valid traces over HTTP and gRPC are stored.
    let (http_id, http_spans) = valid_trace("survivor-http", 2);
    let reply = spoor.post(
        &traces_url,
        "application/x-protobuf",
        gzip(&spoor_codec::otlp::encode_request(&http_spans)),
        &[("Content-Encoding", "gzip")],
    );
    assert_eq!(reply.status, 200, "valid gzip protobuf: {}", reply.text());
    let (grpc_id, grpc_spans) = valid_trace("survivor-grpc", 3);
    grpc_export(
        &spoor.otlp_grpc_endpoint(),
        spoor_codec::otlp::to_request(&grpc_spans),
    )
    .expect("a valid gRPC export succeeds");
    for (id, service) in [(http_id, "survivor-http"), (grpc_id, "survivor-grpc")] {
        let (status, body) = spoor.get_json(&format!("/api/traces/{}", id.to_hex()));
        assert_eq!(status, 200, "{body}");
        let trace = &body["data"][0];
        assert_eq!(trace["spans"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(trace["processes"]["p1"]["serviceName"], service);
    }
    let status = spoor.get(&spoor.admin("/status"));
    assert_eq!(status.status, 200, "{}", status.text());

    let metrics = spoor.metrics();
    let refused = |format: &str, result: &str| {
        metric_sum(
            &metrics,
            "spoor_receiver_requests_total",
            &[
                ("receiver", "otlp"),
                ("transport", "http"),
                ("format", format),
                ("result", result),
            ],
        )
    };
    assert!(refused("protobuf", "malformed") >= 1.0, "{metrics}");
    assert!(refused("json", "malformed") >= 2.0, "{metrics}");
    assert!(refused("protobuf", "too_large") >= 3.0, "{metrics}");
    assert!(refused("protobuf", "ok") >= 2.0, "{metrics}");
    let grpc_rejected = metric_sum(
        &metrics,
        "spoor_receiver_spans_rejected_total",
        &[("transport", "grpc"), ("reason", "invalid_trace_id")],
    );
    assert_eq!(grpc_rejected, 1.0, "{metrics}");
    let json_rejected = metric_sum(
        &metrics,
        "spoor_receiver_spans_rejected_total",
        &[
            ("transport", "http"),
            ("format", "json"),
            ("reason", "invalid_trace_id"),
        ],
    );
    assert_eq!(json_rejected, 1.0, "{metrics}");
}

#[test]
fn query_api_errors_and_the_ui_page() {
    let spoor = Spoor::start(&[]);

    let reply = spoor.get(&spoor.query("/api/nope"));
    assert_eq!(reply.status, 404, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["data"], serde_json::Value::Null, "{body}");
    assert_eq!(body["errors"][0]["code"], 404, "{body}");
    assert!(body["errors"][0]["msg"].is_string(), "{body}");

    let reply = spoor.get(&spoor.query("/api/traces/zzz"));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["errors"][0]["code"], 400);

    let reply = spoor.get(&spoor.query("/api/traces/00000000000000000000000000abcdef"));
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.json()["errors"][0]["msg"], "trace not found");

    let reply = spoor.get(&spoor.query("/api/v3/traces/00000000000000000000000000abcdef"));
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.json()["error"]["httpCode"], 404);

    for bad in [
        "/api/traces?service=x&start=soon",
        "/api/traces?service=x&limit=abc",
        "/api/traces?service=x&minDuration=fast",
        "/api/traces?service=x&tags=%7Bnot-json",
        "/api/operations",
        "/api/v3/traces?query.serviceName=x",
    ] {
        let reply = spoor.get(&spoor.query(bad));
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text());
        assert!(!reply.body.is_empty(), "{bad}: no message");
    }

    let reply = spoor.get(&spoor.query("/"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.content_type.starts_with("text/html"),
        "{}",
        reply.content_type
    );
    assert!(
        reply.text().to_ascii_lowercase().contains("<html"),
        "{}",
        reply.text()
    );

    // A sender pointed at the query port must not be told its data was taken.
    let reply = spoor.post(
        &spoor.query("/v1/traces"),
        "application/x-protobuf",
        b"x".to_vec(),
        &[],
    );
    assert_eq!(reply.status, 405, "{}", reply.text());

    let status = spoor.get(&spoor.admin("/status"));
    assert_eq!(status.status, 200);
}
