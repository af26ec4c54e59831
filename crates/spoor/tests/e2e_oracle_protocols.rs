//! The real Jaeger as the oracle, ingest side (issue 15): Jaeger v2.12.0
//! (see `common::oracle`) and Spoor get the same bytes over every protocol
//! both speak, and every trace is read back from both and compared:
//! OTLP gRPC, OTLP HTTP protobuf and JSON, Jaeger Thrift compact and binary
//! over UDP, Jaeger Thrift over HTTP, Jaeger api_v2 gRPC, Zipkin v1 JSON and
//! Thrift, Zipkin v2 JSON and protobuf.
//!
//! The traces: Jaeger's storage fixtures (typed tags of every kind, logs,
//! links with attributes, scopes, 64-bit and 128-bit IDs) plus a trace of
//! our own with clock skew between two hosts, an error status, events with
//! attributes, array attributes, a link to another trace and a service with
//! an empty name. Each protocol gets its own copy with the trace IDs moved
//! (one byte of the low half changed per protocol), so that every answer
//! holds what came over one protocol only.
//!
//! Compared per trace: `/api/traces/{id}` raw and adjusted and
//! `/api/v3/traces/{id}` raw and adjusted (raw first: difference 6 of
//! docs/api.md), then the services, operations and dependencies over
//! everything. The normalisations are those of `common::oracle`; the test
//! prints the table per protocol and fails on any other difference.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::Duration;

use common::conformance::load;
use common::oracle::{Jaeger, Report, get, jaeger_bin, urlencode};
use common::{Spoor, poll_until};
use prost::Message as _;
use serde_json::{Value, json};
use spoor_codec::jaeger::model_to_jaeger_batches;
use spoor_codec::thrift::{BinaryWriter, TType, ThriftWriter};
use spoor_model::SpanRecord;
use spoor_proto::jaeger::api_v2 as v2;
use spoor_proto::zipkin as zp;

const HOST: &str = "127.0.0.83";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Protocol {
    OtlpGrpc = 1,
    OtlpHttpProto,
    OtlpHttpJson,
    ThriftCompactUdp,
    ThriftBinaryUdp,
    ThriftHttp,
    JaegerGrpc,
    ZipkinV1Json,
    ZipkinV1Thrift,
    ZipkinV2Json,
    ZipkinV2Proto,
}

const PROTOCOLS: [Protocol; 11] = [
    Protocol::OtlpGrpc,
    Protocol::OtlpHttpProto,
    Protocol::OtlpHttpJson,
    Protocol::ThriftCompactUdp,
    Protocol::ThriftBinaryUdp,
    Protocol::ThriftHttp,
    Protocol::JaegerGrpc,
    Protocol::ZipkinV1Json,
    Protocol::ZipkinV1Thrift,
    Protocol::ZipkinV2Json,
    Protocol::ZipkinV2Proto,
];

/// Our own trace: `web` (host 10.0.0.1) calls `api` (host 10.0.0.2, whose
/// clock is 80 ms behind), which fails; events with attributes, arrays,
/// every scalar type, a link; a second trace of a service with an empty
/// name and a 64-bit ID.
fn specials(now_nanos: u64) -> Vec<SpanRecord> {
    let t0 = now_nanos - 3_600_000_000_000;
    let ns = |offset_us: u64| (t0 + offset_us * 1_000).to_string();
    let s = |v: &str| json!({"stringValue": v});
    let doc = json!({"resourceSpans": [
        {"resource": {"attributes": [
            {"key": "service.name", "value": s("web")},
            {"key": "ip", "value": s("10.0.0.1")},
            {"key": "host.name", "value": s("web-1")}]},
         "scopeSpans": [{"scope": {"name": "web-tracer", "version": "1.2"}, "spans": [
            {"traceId": "5eed0000000000000000000000000a01", "spanId": "00000000000000a1",
             "name": "GET /checkout", "kind": 2, "startTimeUnixNano": ns(100_000), "endTimeUnixNano": ns(300_000),
             "attributes": [
                {"key": "http.method", "value": s("GET")},
                {"key": "http.status_code", "value": {"intValue": "500"}},
                {"key": "ratio", "value": {"doubleValue": 0.25}},
                {"key": "cached", "value": {"boolValue": false}},
                {"key": "tags", "value": {"arrayValue": {"values": [s("a"), s("b")]}}},
                {"key": "raw", "value": {"bytesValue": "AQID"}}],
             "events": [{"timeUnixNano": ns(110_000), "name": "retry",
                         "attributes": [{"key": "attempt", "value": {"intValue": "2"}}]}],
             "links": [{"traceId": "5eed0000000000000000000000000b02", "spanId": "00000000000000b1",
                        "attributes": [{"key": "why", "value": s("batch")}]}],
             "status": {"code": 2, "message": "upstream failed"}},
            {"traceId": "5eed0000000000000000000000000a01", "spanId": "00000000000000a2",
             "parentSpanId": "00000000000000a1", "name": "POST /charge", "kind": 3,
             "startTimeUnixNano": ns(120_000), "endTimeUnixNano": ns(280_000),
             "attributes": [{"key": "peer.service", "value": s("api")}]}]}]},
        {"resource": {"attributes": [
            {"key": "service.name", "value": s("api")},
            {"key": "ip", "value": s("10.0.0.2")}]},
         "scopeSpans": [{"scope": {}, "spans": [
            {"traceId": "5eed0000000000000000000000000a01", "spanId": "00000000000000a3",
             "parentSpanId": "00000000000000a2", "name": "charge", "kind": 2,
             "startTimeUnixNano": ns(50_000), "endTimeUnixNano": ns(150_000),
             "events": [{"timeUnixNano": ns(80_000), "name": "exception",
                         "attributes": [{"key": "exception.message", "value": s("card declined")}]}],
             "status": {"code": 2}}]}]},
        {"resource": {"attributes": [{"key": "service.name", "value": s("")}]},
         "scopeSpans": [{"scope": {}, "spans": [
            {"traceId": "00000000000000000000000000000b02", "spanId": "00000000000000b1",
             "name": "nameless", "kind": 1, "startTimeUnixNano": ns(0), "endTimeUnixNano": ns(1_000)}]}]}
    ]});
    spoor_codec::otlp_json::decode(&serde_json::to_vec(&doc).unwrap())
        .unwrap()
        .spans
}

/// The same traces with every trace ID moved for `protocol`.
fn for_protocol(spans: &[SpanRecord], protocol: Protocol) -> Vec<SpanRecord> {
    let shift = |id: &mut spoor_model::TraceId| id.0[8] ^= (protocol as u8) << 3;
    spans
        .iter()
        .cloned()
        .map(|mut r| {
            shift(&mut r.span.trace_id);
            for link in &mut r.span.links {
                shift(&mut link.trace_id);
            }
            r
        })
        .collect()
}

/// Sends `traces` (each a list of spans of one trace) over `protocol` to
/// Jaeger and to Spoor.
fn send(protocol: Protocol, traces: &[Vec<SpanRecord>], jaeger: &Jaeger, spoor: &Spoor) {
    let http = reqwest::blocking::Client::new();
    let post = |url: String, content_type: &str, body: Vec<u8>| {
        let resp = http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        assert!(
            (200..300).contains(&status),
            "{protocol:?} to {url}: {status} {}",
            resp.text().unwrap_or_default()
        );
    };
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let jaeger_http = |path: &str, port: u16| format!("{}{path}", jaeger.base(port));
    for spans in traces {
        match protocol {
            Protocol::OtlpGrpc => {
                for endpoint in [jaeger.base(4317), spoor.otlp_grpc_endpoint()] {
                    common::grpc_export(&endpoint, spoor_codec::otlp::to_request(spans)).unwrap();
                }
            }
            Protocol::OtlpHttpProto | Protocol::OtlpHttpJson => {
                let (ct, body) = if protocol == Protocol::OtlpHttpProto {
                    (
                        "application/x-protobuf",
                        spoor_codec::otlp::encode_request(spans),
                    )
                } else {
                    (
                        "application/json",
                        spoor_codec::otlp_json::encode_to_vec(spans),
                    )
                };
                post(jaeger_http("/v1/traces", 4318), ct, body.clone());
                post(spoor.otlp_http_url("/v1/traces"), ct, body);
            }
            Protocol::ThriftCompactUdp | Protocol::ThriftBinaryUdp => {
                for batch in model_to_jaeger_batches(spans) {
                    let (bytes, jport, saddr) = if protocol == Protocol::ThriftCompactUdp {
                        (
                            spoor_codec::jaeger_thrift::encode_emit_batch_compact(&batch),
                            6831,
                            spoor.jaeger_compact,
                        )
                    } else {
                        (
                            spoor_codec::jaeger_thrift::encode_emit_batch_binary(&batch),
                            6832,
                            spoor.jaeger_binary,
                        )
                    };
                    udp.send_to(&bytes, (HOST, jport)).unwrap();
                    udp.send_to(&bytes, saddr).unwrap();
                    // Loopback drops what a full socket buffer cannot hold.
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            Protocol::ThriftHttp => {
                for batch in model_to_jaeger_batches(spans) {
                    let body = spoor_codec::jaeger_thrift::encode_batch_binary(&batch);
                    post(
                        jaeger_http("/api/traces", 14268),
                        "application/x-thrift",
                        body.clone(),
                    );
                    post(
                        format!("http://{}/api/traces", spoor.jaeger_http),
                        "application/x-thrift",
                        body,
                    );
                }
            }
            Protocol::JaegerGrpc => {
                for batch in model_to_jaeger_batches(spans) {
                    let request = v2::PostSpansRequest {
                        batch: Some(spoor_codec::jaeger_proto::jaeger_batch_to_proto(&batch)),
                    };
                    for endpoint in [jaeger.base(14250), format!("http://{}", spoor.jaeger_grpc)] {
                        let request = request.clone();
                        common::runtime().block_on(async move {
                            use v2::collector_service_client::CollectorServiceClient;
                            let mut c = CollectorServiceClient::connect(endpoint).await.unwrap();
                            c.post_spans(request).await.unwrap();
                        });
                    }
                }
            }
            Protocol::ZipkinV2Json | Protocol::ZipkinV2Proto => {
                let v2json = spoor_codec::zipkin::encode_v2_json(spans);
                let (ct, body) = if protocol == Protocol::ZipkinV2Json {
                    ("application/json", v2json)
                } else {
                    (
                        "application/x-protobuf",
                        zipkin_proto(&serde_json::from_slice(&v2json).unwrap()),
                    )
                };
                post(jaeger_http("/api/v2/spans", 9411), ct, body.clone());
                post(format!("http://{}/api/v2/spans", spoor.zipkin), ct, body);
            }
            Protocol::ZipkinV1Json | Protocol::ZipkinV1Thrift => {
                let v2json: Value =
                    serde_json::from_slice(&spoor_codec::zipkin::encode_v2_json(spans)).unwrap();
                let v1 = zipkin_v1(&v2json);
                let (ct, body) = if protocol == Protocol::ZipkinV1Json {
                    ("application/json", serde_json::to_vec(&v1).unwrap())
                } else {
                    ("application/x-thrift", zipkin_v1_thrift(&v1))
                };
                post(jaeger_http("/api/v1/spans", 9411), ct, body.clone());
                post(format!("http://{}/api/v1/spans", spoor.zipkin), ct, body);
            }
        }
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn zipkin_endpoint(e: &Value) -> Option<zp::Endpoint> {
    e.as_object()?;
    Some(zp::Endpoint {
        service_name: e["serviceName"].as_str().unwrap_or_default().into(),
        ipv4: e["ipv4"]
            .as_str()
            .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
            .map(|ip| ip.octets().to_vec())
            .unwrap_or_default(),
        ipv6: e["ipv6"]
            .as_str()
            .and_then(|ip| ip.parse::<std::net::Ipv6Addr>().ok())
            .map(|ip| ip.octets().to_vec())
            .unwrap_or_default(),
        port: e["port"].as_i64().unwrap_or_default() as i32,
    })
}

/// Zipkin v2 JSON spans as the `ListOfSpans` protobuf.
fn zipkin_proto(spans: &Value) -> Vec<u8> {
    let kind = |k: Option<&str>| match k {
        Some("CLIENT") => zp::span::Kind::Client,
        Some("SERVER") => zp::span::Kind::Server,
        Some("PRODUCER") => zp::span::Kind::Producer,
        Some("CONSUMER") => zp::span::Kind::Consumer,
        _ => zp::span::Kind::SpanKindUnspecified,
    };
    let list = zp::ListOfSpans {
        spans: spans
            .as_array()
            .unwrap()
            .iter()
            .map(|s| zp::Span {
                // Zipkin allows 8 bytes; Jaeger's reader (the OpenTelemetry
                // collector's) wants 16: a 64-bit ID goes zero-padded.
                trace_id: hex_bytes(&format!("{:0>32}", s["traceId"].as_str().unwrap())),
                parent_id: s["parentId"].as_str().map(hex_bytes).unwrap_or_default(),
                id: hex_bytes(s["id"].as_str().unwrap()),
                kind: kind(s["kind"].as_str()) as i32,
                name: s["name"].as_str().unwrap_or_default().into(),
                timestamp: s["timestamp"].as_u64().unwrap_or_default(),
                duration: s["duration"].as_u64().unwrap_or_default(),
                local_endpoint: zipkin_endpoint(&s["localEndpoint"]),
                remote_endpoint: zipkin_endpoint(&s["remoteEndpoint"]),
                annotations: s["annotations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| zp::Annotation {
                        timestamp: a["timestamp"].as_u64().unwrap_or_default(),
                        value: a["value"].as_str().unwrap_or_default().into(),
                    })
                    .collect(),
                tags: s["tags"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect(),
                debug: s["debug"].as_bool().unwrap_or_default(),
                shared: s["shared"].as_bool().unwrap_or_default(),
            })
            .collect(),
    };
    list.encode_to_vec()
}

/// Zipkin v2 JSON spans in the v1 model, as Zipkin's own converter lays
/// them out: the kind as the `cs`/`cr`, `sr`/`ss`, `ms` or `mr`
/// annotations, the remote endpoint as the `sa`/`ca`/`ma` address
/// annotation, a span without kind or annotations as the `lc` annotation,
/// tags as string binary annotations of the local endpoint.
fn zipkin_v1(spans: &Value) -> Value {
    let mut out = Vec::new();
    for s in spans.as_array().unwrap() {
        let local = s["localEndpoint"].clone();
        let ts = s["timestamp"].as_u64();
        let dur = s["duration"].as_u64();
        let mut annotations = Vec::new();
        let mut binary = Vec::new();
        let at = |t: u64, v: &str| json!({"timestamp": t, "value": v, "endpoint": local.clone()});
        let (first, last, addr) = match s["kind"].as_str() {
            Some("CLIENT") => (Some("cs"), Some("cr"), Some("sa")),
            Some("SERVER") => (Some("sr"), Some("ss"), Some("ca")),
            Some("PRODUCER") => (Some("ms"), None, Some("ma")),
            Some("CONSUMER") => (Some("mr"), None, Some("ma")),
            _ => (None, None, None),
        };
        if let (Some(first), Some(ts)) = (first, ts) {
            annotations.push(at(ts, first));
            if let (Some(last), Some(dur)) = (last, dur) {
                annotations.push(at(ts + dur, last));
            }
        }
        for a in s["annotations"].as_array().into_iter().flatten() {
            annotations.push(at(
                a["timestamp"].as_u64().unwrap_or_default(),
                a["value"].as_str().unwrap_or_default(),
            ));
        }
        if let (Some(addr), Some(remote)) = (addr, s["remoteEndpoint"].as_object()) {
            // Zipkin writes `true`; Jaeger's v1 JSON reader (the
            // OpenTelemetry collector's) takes string values only, so the
            // JSON form carries "true" (Thrift carries a BOOL).
            binary.push(json!({"key": addr, "value": "true", "endpoint": remote}));
        }
        if first.is_none() && annotations.is_empty() {
            binary.push(json!({"key": "lc", "value": "", "endpoint": local.clone()}));
        }
        for (k, v) in s["tags"].as_object().into_iter().flatten() {
            binary.push(json!({"key": k, "value": v, "endpoint": local.clone()}));
        }
        let mut span = json!({
            "traceId": s["traceId"], "id": s["id"], "name": s["name"],
            "annotations": annotations, "binaryAnnotations": binary,
        });
        if let Some(p) = s["parentId"].as_str() {
            span["parentId"] = json!(p);
        }
        if let Some(ts) = ts {
            span["timestamp"] = json!(ts);
        }
        if let Some(dur) = dur {
            span["duration"] = json!(dur);
        }
        if s["debug"].as_bool() == Some(true) {
            span["debug"] = json!(true);
        }
        out.push(span);
    }
    Value::Array(out)
}

fn write_v1_endpoint(w: &mut BinaryWriter, e: &Value) {
    w.write_struct_begin();
    if let Some(ip) = e["ipv4"]
        .as_str()
        .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
    {
        w.write_field_begin(TType::I32, 1);
        w.write_i32(u32::from(ip) as i32);
    }
    if let Some(port) = e["port"].as_i64() {
        w.write_field_begin(TType::I16, 2);
        w.write_i16(port as i16);
    }
    w.write_field_begin(TType::String, 3);
    w.write_string(e["serviceName"].as_str().unwrap_or_default());
    if let Some(ip) = e["ipv6"]
        .as_str()
        .and_then(|ip| ip.parse::<std::net::Ipv6Addr>().ok())
    {
        w.write_field_begin(TType::String, 4);
        w.write_binary(&ip.octets());
    }
    w.write_field_stop();
    w.write_struct_end();
}

/// Zipkin v1 spans (as [`zipkin_v1`] makes them) in Zipkin's Thrift: a
/// binary-protocol list of `Span` structs.
fn zipkin_v1_thrift(spans: &Value) -> Vec<u8> {
    let id = |v: &Value| u64::from_str_radix(v.as_str().unwrap(), 16).unwrap() as i64;
    let mut w = BinaryWriter::new();
    let spans = spans.as_array().unwrap();
    w.write_list_begin(TType::Struct, spans.len());
    for s in spans {
        let trace = s["traceId"].as_str().unwrap();
        let (high, low) = if trace.len() > 16 {
            trace.split_at(trace.len() - 16)
        } else {
            ("", trace)
        };
        w.write_struct_begin();
        w.write_field_begin(TType::I64, 1);
        w.write_i64(u64::from_str_radix(low, 16).unwrap() as i64);
        w.write_field_begin(TType::String, 3);
        w.write_string(s["name"].as_str().unwrap_or_default());
        w.write_field_begin(TType::I64, 4);
        w.write_i64(id(&s["id"]));
        if s.get("parentId").is_some() {
            w.write_field_begin(TType::I64, 5);
            w.write_i64(id(&s["parentId"]));
        }
        let annotations = s["annotations"].as_array().unwrap();
        w.write_field_begin(TType::List, 6);
        w.write_list_begin(TType::Struct, annotations.len());
        for a in annotations {
            w.write_struct_begin();
            w.write_field_begin(TType::I64, 1);
            w.write_i64(a["timestamp"].as_i64().unwrap());
            w.write_field_begin(TType::String, 2);
            w.write_string(a["value"].as_str().unwrap());
            w.write_field_begin(TType::Struct, 3);
            write_v1_endpoint(&mut w, &a["endpoint"]);
            w.write_field_stop();
            w.write_struct_end();
        }
        let binary = s["binaryAnnotations"].as_array().unwrap();
        w.write_field_begin(TType::List, 8);
        w.write_list_begin(TType::Struct, binary.len());
        for b in binary {
            w.write_struct_begin();
            w.write_field_begin(TType::String, 1);
            w.write_string(b["key"].as_str().unwrap());
            let key = b["key"].as_str().unwrap();
            let (value, kind): (Vec<u8>, i32) = if ["sa", "ca", "ma"].contains(&key) {
                (vec![1], 0)
            } else {
                (
                    b["value"].as_str().unwrap_or_default().as_bytes().to_vec(),
                    6,
                )
            };
            w.write_field_begin(TType::String, 2);
            w.write_binary(&value);
            w.write_field_begin(TType::I32, 3);
            w.write_i32(kind);
            w.write_field_begin(TType::Struct, 4);
            write_v1_endpoint(&mut w, &b["endpoint"]);
            w.write_field_stop();
            w.write_struct_end();
        }
        if s["debug"].as_bool() == Some(true) {
            w.write_field_begin(TType::Bool, 9);
            w.write_bool(true);
        }
        if let Some(ts) = s["timestamp"].as_i64() {
            w.write_field_begin(TType::I64, 10);
            w.write_i64(ts);
        }
        if let Some(d) = s["duration"].as_i64() {
            w.write_field_begin(TType::I64, 11);
            w.write_i64(d);
        }
        if !high.is_empty() {
            w.write_field_begin(TType::I64, 12);
            w.write_i64(u64::from_str_radix(high, 16).unwrap() as i64);
        }
        w.write_field_stop();
        w.write_struct_end();
    }
    w.into_bytes()
}

/// Trace ID (32 hex) → span count.
fn counts(traces: &[Vec<SpanRecord>]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for spans in traces {
        for r in spans {
            *out.entry(r.span.trace_id.to_hex()).or_insert(0) += 1;
        }
    }
    out
}

#[test]
fn every_protocol_lands_as_in_jaeger() {
    let Some(bin) = jaeger_bin() else {
        eprintln!(
            "SKIPPED e2e_oracle_protocols: no Jaeger binary (scripts/tools/jaeger.sh builds it; scripts/test.sh sets SPOOR_TEST_JAEGER)"
        );
        return;
    };
    common::install_tls_provider();
    let jaeger = Jaeger::start(
        &bin,
        HOST,
        r#"{"default_strategy":{"type":"probabilistic","param":1}}"#,
    );
    let spoor = Spoor::start(&[]);
    let fixtures = load();
    let mut base: Vec<Vec<SpanRecord>> =
        fixtures.traces.values().map(|b| b.spans.clone()).collect();
    let ours = specials(fixtures.now);
    let mut by_trace: BTreeMap<_, Vec<SpanRecord>> = BTreeMap::new();
    for r in ours {
        by_trace.entry(r.span.trace_id).or_default().push(r);
    }
    base.extend(by_trace.into_values());

    let mut sent: BTreeMap<Protocol, BTreeMap<String, usize>> = BTreeMap::new();
    for protocol in PROTOCOLS {
        let traces: Vec<Vec<SpanRecord>> = base.iter().map(|t| for_protocol(t, protocol)).collect();
        send(protocol, &traces, &jaeger, &spoor);
        sent.insert(protocol, counts(&traces));
    }
    let all: BTreeMap<String, usize> = sent
        .values()
        .flatten()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    jaeger.wait_for(&all);
    let spoor_has_all = poll_until(Duration::from_secs(30), || {
        all.iter()
            .all(|(id, n)| {
                let (status, body) = get(&spoor.query(&format!("/api/traces/{id}?raw=true")));
                status == 200 && body["data"][0]["spans"].as_array().map_or(0, Vec::len) >= *n
            })
            .then_some(())
    });
    assert!(spoor_has_all.is_some(), "spoor did not store every trace");

    let mut report = Report::default();
    for (protocol, ids) in &sent {
        // Difference 12: Jaeger reads Zipkin v2 tags (a JSON object, a proto
        // map) and an annotation's attributes into Go maps, so their stored
        // order changes from run to run.
        let zipkin_v2 = matches!(protocol, Protocol::ZipkinV2Json | Protocol::ZipkinV2Proto);
        for id in ids.keys() {
            for (api, path) in [
                (
                    format!("{protocol:?}: /api/traces/{{id}}?raw"),
                    format!("/api/traces/{id}?raw=true"),
                ),
                (
                    format!("{protocol:?}: /api/v3/traces/{{id}}?raw_traces"),
                    format!("/api/v3/traces/{id}?raw_traces=true"),
                ),
            ] {
                if zipkin_v2 {
                    report.compare_unordered(&api, &path, &jaeger, &spoor);
                } else {
                    report.compare(&api, &path, &jaeger, &spoor);
                }
            }
        }
    }
    for (protocol, ids) in &sent {
        for id in ids.keys() {
            report.compare(
                &format!("{protocol:?}: /api/traces/{{id}}"),
                &format!("/api/traces/{id}"),
                &jaeger,
                &spoor,
            );
            report.compare(
                &format!("{protocol:?}: /api/v3/traces/{{id}}"),
                &format!("/api/v3/traces/{id}"),
                &jaeger,
                &spoor,
            );
        }
    }
    report.compare("/api/services", "/api/services", &jaeger, &spoor);
    let services: Vec<String> = get(&jaeger.query("/api/services")).1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    for service in &services {
        let enc = urlencode(service);
        report.compare(
            "/api/operations",
            &format!("/api/operations?service={enc}"),
            &jaeger,
            &spoor,
        );
        report.compare(
            "/api/v3/operations",
            &format!("/api/v3/operations?service={enc}"),
            &jaeger,
            &spoor,
        );
    }
    let now_ms = fixtures.now / 1_000_000;
    report.compare(
        "/api/dependencies",
        &format!(
            "/api/dependencies?endTs={}&lookback={}",
            now_ms + 86_400_000,
            14 * 86_400_000u64
        ),
        &jaeger,
        &spoor,
    );
    report.finish("e2e_oracle_protocols: every protocol into Spoor and Jaeger v2.12.0");
}
