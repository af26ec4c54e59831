use std::sync::Arc;

use prost::Message;
use serde_json::json;
use spoor_model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanBatch, SpanId, SpanKind,
    SpanRecord, Status, StatusCode, TraceId, find_attr, keys,
};
use spoor_proto::zipkin as pb;

use super::*;
use crate::DecodeError;
use crate::thrift::{BinaryWriter, TType, ThriftWriter};

const TRACE: &str = "5af7183fb1d4cf5f";
const TRACE128: &str = "463ac35c9f6413ad48485a3953bb6124";

/// Runs a `*_reported` decoder and turns anything it left out into an error
/// carrying the report's summary, so that tests can check what was left
/// out and where (the leniency itself is tested in `lenient_*`).
fn strict<T>(
    input: T,
    decode: impl FnOnce(T, &mut crate::DecodeReport) -> Result<SpanBatch, DecodeError>,
) -> Result<SpanBatch, DecodeError> {
    let mut report = crate::DecodeReport::new();
    let batch = decode(input, &mut report)?;
    if report.is_empty() {
        Ok(batch)
    } else {
        Err(DecodeError::invalid("report", report.summary()))
    }
}

fn v2_bytes(body: &[u8]) -> Result<SpanBatch, DecodeError> {
    strict(body, decode_v2_json_reported)
}

fn v2(value: serde_json::Value) -> Result<SpanBatch, DecodeError> {
    v2_bytes(&serde_json::to_vec(&value).unwrap())
}

fn v2_one(span: serde_json::Value) -> SpanRecord {
    let mut b = v2(json!([span])).unwrap();
    assert_eq!(b.spans.len(), 1);
    b.spans.remove(0)
}

fn attr<'a>(r: &'a SpanRecord, key: &str) -> Option<&'a AnyValue> {
    find_attr(&r.span.attributes, key)
}

fn res_attr<'a>(r: &'a SpanRecord, key: &str) -> Option<&'a AnyValue> {
    find_attr(&r.resource.attributes, key)
}

fn s(v: &str) -> AnyValue {
    AnyValue::Str(v.to_owned())
}

fn err_text(r: Result<SpanBatch, DecodeError>) -> String {
    r.unwrap_err().to_string()
}

// ---------------------------------------------------------------------------
// v2 JSON: identifiers, times, kinds.

#[test]
fn v2_ids_times_and_name() {
    let r = v2_one(json!({
        "traceId": TRACE128, "id": "352bff9a74ca9ad2", "parentId": "6b221d5bc9e6496c",
        "name": "get /api", "timestamp": 1_556_604_172_355_737u64, "duration": 1431,
    }));
    assert_eq!(r.span.trace_id, TraceId::from_hex(TRACE128).unwrap());
    assert_eq!(
        r.span.span_id,
        SpanId::from_hex("352bff9a74ca9ad2").unwrap()
    );
    assert_eq!(
        r.span.parent_span_id,
        SpanId::from_hex("6b221d5bc9e6496c").unwrap()
    );
    assert_eq!(r.span.name, "get /api");
    assert_eq!(r.span.start_time_unix_nano, 1_556_604_172_355_737_000);
    assert_eq!(
        r.span.end_time_unix_nano,
        1_556_604_172_355_737_000 + 1_431_000
    );
    assert_eq!(r.span.flags, 0);
    assert!(attr(&r, START_TIME_ABSENT).is_none());

    // A 64-bit trace ID is the low half.
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 1}));
    assert_eq!(r.span.trace_id.high(), 0);
    assert_eq!(r.span.trace_id.to_jaeger_hex(), TRACE);
    assert!(r.span.parent_span_id.is_zero());
}

#[test]
fn v2_parent_equal_to_own_id_or_empty_is_a_root() {
    let r = v2_one(json!({"traceId": TRACE, "id": "abc", "parentId": "abc", "timestamp": 1}));
    assert!(r.span.parent_span_id.is_zero());
    let r = v2_one(json!({"traceId": TRACE, "id": "abc", "parentId": "", "timestamp": 1}));
    assert!(r.span.parent_span_id.is_zero());
    let r = v2_one(json!({"traceId": TRACE, "id": "abc", "parentId": null, "timestamp": 1}));
    assert!(r.span.parent_span_id.is_zero());
}

#[test]
fn v2_kinds() {
    for (kind, want) in [
        (json!("CLIENT"), SpanKind::Client),
        (json!("SERVER"), SpanKind::Server),
        (json!("PRODUCER"), SpanKind::Producer),
        (json!("CONSUMER"), SpanKind::Consumer),
        (json!("client"), SpanKind::Client),
        (json!(null), SpanKind::Unspecified),
    ] {
        let r = v2_one(json!({"traceId": TRACE, "id": "1", "kind": kind, "timestamp": 1}));
        assert_eq!(r.span.kind, want, "{kind}");
    }
    // An unknown kind is unspecified, and counted as a dropped field.
    let e = err_text(v2(
        json!([{"traceId": TRACE, "id": "1", "kind": "WHATEVER", "timestamp": 1}]),
    ));
    assert!(
        e.contains("span[0].kind: unknown span kind \"WHATEVER\""),
        "{e}"
    );
    let b = decode_v2_json(
        &serde_json::to_vec(&json!([{"traceId": TRACE, "id": "1", "kind": "WHATEVER"}])).unwrap(),
    )
    .unwrap();
    assert_eq!(b.spans[0].span.kind, SpanKind::Unspecified);
    // Absent kind with `span.kind: internal` is internal; the tag is consumed.
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 1,
        "tags": {"span.kind": "internal", "a": "b"}}));
    assert_eq!(r.span.kind, SpanKind::Internal);
    assert!(attr(&r, "span.kind").is_none());
    // Any other value is consumed too and leaves the kind unspecified.
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 1,
        "tags": {"span.kind": "server"}}));
    assert_eq!(r.span.kind, SpanKind::Unspecified);
    assert!(r.span.attributes.is_empty());
    // A real kind leaves the tag alone.
    let r = v2_one(
        json!({"traceId": TRACE, "id": "1", "kind": "CLIENT", "timestamp": 1,
        "tags": {"span.kind": "internal"}}),
    );
    assert_eq!(r.span.kind, SpanKind::Client);
    assert_eq!(attr(&r, "span.kind"), Some(&s("internal")));
}

#[test]
fn v2_missing_timestamp_is_epoch_with_marker() {
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "duration": 25}));
    assert_eq!(r.span.start_time_unix_nano, 0);
    assert_eq!(r.span.end_time_unix_nano, 25_000);
    assert_eq!(attr(&r, START_TIME_ABSENT), Some(&AnyValue::Bool(true)));
    // Zero counts as absent.
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 0}));
    assert_eq!(attr(&r, START_TIME_ABSENT), Some(&AnyValue::Bool(true)));
}

#[test]
fn v2_lenient_numbers_for_times() {
    let r = v2_one(json!({"traceId": TRACE, "id": "1",
        "timestamp": 1_700_000_000_123_456.5f64, "duration": "12"}));
    assert_eq!(r.span.start_time_unix_nano, 1_700_000_000_123_456_500);
    assert_eq!(r.span.duration_nanos(), 12_000);
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 1.58266276796031e15}));
    assert_eq!(r.span.start_time_unix_nano, 1_582_662_767_960_310_000);
    let e = err_text(v2(json!([{"traceId": TRACE, "id": "1", "timestamp": -5}])));
    assert!(
        e.contains("span[0].timestamp") && e.contains("negative"),
        "{e}"
    );
    let e = err_text(v2(
        json!([{"traceId": TRACE, "id": "1", "duration": "soon"}]),
    ));
    assert!(e.contains("span[0].duration"), "{e}");
    let e = err_text(v2(
        json!([{"traceId": TRACE, "id": "1", "timestamp": u64::MAX}]),
    ));
    assert!(e.contains("out of range"), "{e}");
}

// ---------------------------------------------------------------------------
// v2 JSON: endpoints, resources, scopes.

#[test]
fn v2_endpoints_map_to_resource_and_net_attributes() {
    let r = v2_one(json!({
        "traceId": TRACE, "id": "1", "timestamp": 1, "kind": "CLIENT",
        "localEndpoint": {"serviceName": "frontend", "ipv4": "192.168.99.101", "port": 9000},
        "remoteEndpoint": {"serviceName": "backend", "ipv6": "2001:db8::c001", "port": 8080},
        "tags": {"http.method": "GET"},
    }));
    assert_eq!(r.service_name(), "frontend");
    assert_eq!(
        r.resource.attributes,
        vec![KeyValue::str("service.name", "frontend")]
    );
    assert_eq!(
        r.span.attributes,
        vec![
            KeyValue::str("http.method", "GET"),
            KeyValue::str("net.host.ip", "192.168.99.101"),
            KeyValue::new("net.host.port", AnyValue::Int(9000)),
            KeyValue::str("peer.service", "backend"),
            KeyValue::str("net.peer.ip", "2001:db8::c001"),
            KeyValue::new("net.peer.port", AnyValue::Int(8080)),
        ]
    );
    // IPv6 wins over IPv4 for the same attribute; a zero port adds nothing;
    // an IPv4-mapped address prints dotted.
    let r = v2_one(json!({
        "traceId": TRACE, "id": "1", "timestamp": 1,
        "localEndpoint": {"serviceName": "a", "ipv4": "10.0.0.1", "ipv6": "::1", "port": 0},
        "remoteEndpoint": {"ipv4": "::ffff:10.1.2.3"},
    }));
    assert_eq!(attr(&r, "net.host.ip"), Some(&s("::1")));
    assert!(attr(&r, "net.host.port").is_none());
    assert_eq!(attr(&r, "net.peer.ip"), Some(&s("10.1.2.3")));
    assert!(attr(&r, "peer.service").is_none());
}

#[test]
fn v2_no_local_service_gives_the_placeholder() {
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 1,
        "localEndpoint": {"ipv4": "10.0.0.1"},
        "tags": {"host.name": "h1", "telemetry.sdk.name": "x", "k": "v"}}));
    assert!(r.resource.attributes.is_empty());
    assert_eq!(r.service_name(), keys::NO_SERVICE_NAME);
    // Resource tags are not span attributes, even without a resource.
    assert_eq!(
        r.span.attributes,
        vec![
            KeyValue::str("k", "v"),
            KeyValue::str("net.host.ip", "10.0.0.1")
        ]
    );
}

#[test]
fn v2_resource_tags_move_to_the_resource_and_resources_are_shared() {
    let span = |id: &str, svc: &str| {
        json!({"traceId": TRACE, "id": id, "timestamp": 1,
            "localEndpoint": {"serviceName": svc},
            "tags": {"service.version": "1.2", "host.name": "box", "telemetry.sdk.language": "python", "http.route": "/x"}})
    };
    let b = v2(json!([span("1", "a"), span("2", "b"), span("3", "a")])).unwrap();
    let [one, two, three] = &b.spans[..] else {
        panic!("three spans")
    };
    assert_eq!(
        one.resource.attributes,
        // In tag order (json! sorts the keys).
        vec![
            KeyValue::str("service.name", "a"),
            KeyValue::str("host.name", "box"),
            KeyValue::str("service.version", "1.2"),
            KeyValue::str("telemetry.sdk.language", "python"),
        ]
    );
    assert_eq!(one.span.attributes, vec![KeyValue::str("http.route", "/x")]);
    assert!(Arc::ptr_eq(&one.resource, &three.resource));
    assert!(!Arc::ptr_eq(&one.resource, &two.resource));
    assert!(Arc::ptr_eq(&one.scope, &two.scope));
    assert_eq!(two.service_name(), "b");
}

#[test]
fn v2_service_name_tag_and_name_source() {
    // A `service.name` tag overrides the endpoint's name in the resource.
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 1,
        "localEndpoint": {"serviceName": "endpoint-name"}, "tags": {"service.name": "tag-name"}}));
    assert_eq!(r.service_name(), "tag-name");
    // `otlp.service.name.source` says which attribute the endpoint's name fills.
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 1,
        "localEndpoint": {"serviceName": "svc"},
        "tags": {"otlp.service.name.source": "faas.name"}}));
    assert_eq!(
        r.resource.attributes,
        vec![KeyValue::str("faas.name", "svc")]
    );
    assert!(r.span.attributes.is_empty());
}

#[test]
fn v2_scope_from_library_or_scope_tags() {
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 1,
        "tags": {"otel.library.name": "lib", "otel.library.version": "1.0", "x": "y"}}));
    assert_eq!(
        (r.scope.name.as_str(), r.scope.version.as_str()),
        ("lib", "1.0")
    );
    assert_eq!(r.span.attributes, vec![KeyValue::str("x", "y")]);

    let b = v2(json!([
        {"traceId": TRACE, "id": "1", "timestamp": 1, "tags": {
            "otel.library.name": "old", "otel.library.version": "0",
            "otel.scope.name": "new", "otel.scope.version": "2"}},
        {"traceId": TRACE, "id": "2", "timestamp": 1, "tags": {
            "otel.scope.name": "new", "otel.scope.version": "2"}},
    ]))
    .unwrap();
    assert_eq!(
        (
            b.spans[0].scope.name.as_str(),
            b.spans[0].scope.version.as_str()
        ),
        ("new", "2")
    );
    assert!(b.spans[0].span.attributes.is_empty());
    assert!(Arc::ptr_eq(&b.spans[0].scope, &b.spans[1].scope));

    let r = v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 1}));
    assert_eq!(*r.scope, Scope::default());
}

// ---------------------------------------------------------------------------
// v2 JSON: status, tags, trace state, links.

fn status_of(tags: serde_json::Value) -> (Status, Vec<KeyValue>) {
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 1, "tags": tags}));
    (r.span.status, r.span.attributes)
}

#[test]
fn v2_status_rules() {
    let err = |m: &str| Status {
        code: StatusCode::Error,
        message: m.to_owned(),
    };
    let ok = Status {
        code: StatusCode::Ok,
        message: String::new(),
    };
    assert_eq!(
        status_of(
            json!({"otel.status_code": "STATUS_CODE_ERROR", "otel.status_description": "boom"})
        ),
        (err("boom"), vec![])
    );
    assert_eq!(
        status_of(json!({"otel.status_code": "Error"})),
        (err(""), vec![])
    );
    assert_eq!(
        status_of(json!({"otel.status_code": "ERROR"})),
        (err(""), vec![])
    );
    assert_eq!(
        status_of(json!({"otel.status_code": "OK"})),
        (ok.clone(), vec![])
    );
    assert_eq!(
        status_of(json!({"otel.status_code": "Ok"})),
        (ok.clone(), vec![])
    );
    assert_eq!(
        status_of(json!({"otel.status_code": "STATUS_CODE_OK"})),
        (ok, vec![])
    );
    // An unknown code is consumed and unset.
    assert_eq!(
        status_of(json!({"otel.status_code": "bad"})),
        (Status::default(), vec![])
    );
    // A description without a code stays an attribute.
    assert_eq!(
        status_of(json!({"otel.status_description": "d"})),
        (
            Status::default(),
            vec![KeyValue::str("otel.status_description", "d")]
        )
    );
    // `error: true` is consumed; any other value sets the error and stays.
    assert_eq!(status_of(json!({"error": "true"})), (err(""), vec![]));
    assert_eq!(
        status_of(json!({"error": "connection refused"})),
        (err(""), vec![KeyValue::str("error", "connection refused")])
    );
    assert_eq!(
        status_of(json!({"error": ""})),
        (err(""), vec![KeyValue::str("error", "")])
    );
    // `error` wins over an OK code.
    assert_eq!(
        status_of(json!({"otel.status_code": "OK", "error": "true"}))
            .0
            .code,
        StatusCode::Error
    );
}

#[test]
fn v2_tags_are_strings_in_order_last_duplicate_wins() {
    let b = decode_v2_json(
        br#"[{"traceId":"5af7183fb1d4cf5f","id":"1","timestamp":1,
              "tags":{"b":"1","a":"2","b":"3","n":42,"t":true,"f":1.5,"z":null}}]"#,
    )
    .unwrap();
    assert_eq!(
        b.spans[0].span.attributes,
        vec![
            KeyValue::str("b", "3"),
            KeyValue::str("a", "2"),
            KeyValue::str("n", "42"),
            KeyValue::str("t", "true"),
            KeyValue::str("f", "1.5"),
            KeyValue::str("z", ""),
        ]
    );
}

#[test]
fn v2_trace_state_and_links() {
    let r = v2_one(
        json!({"traceId": TRACE, "id": "1", "timestamp": 1, "tags": {
            "w3c.tracestate": "k=v",
            "otlp.link.0": format!("{TRACE128}|00f067aa0ba902b7|a=b|{{\"n\":1,\"s\":\"x|y\"}}|2"),
            "otlp.link.1": "too|few|parts",
            "otlp.link.3": "after a gap: ignored",
        }}),
    );
    assert_eq!(r.span.trace_state, "k=v");
    assert_eq!(
        r.span.links,
        vec![Link {
            trace_id: TraceId::from_hex(TRACE128).unwrap(),
            span_id: SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            trace_state: "a=b".into(),
            attributes: vec![
                KeyValue::new("n", AnyValue::Int(1)),
                KeyValue::str("s", "x|y")
            ],
            dropped_attributes_count: 2,
            flags: 0,
        }]
    );
    // Consumed up to the gap; the one after it stays a tag.
    assert_eq!(
        r.span.attributes,
        vec![KeyValue::str("otlp.link.3", "after a gap: ignored")]
    );
    // A malformed link fails the request and says where.
    let e = err_text(v2(json!([{"traceId": TRACE, "id": "1", "tags": {
        "otlp.link.0": "abc|00f067aa0ba902b7||{}|0"}}])));
    assert!(e.contains("span[0].tags[\"otlp.link.0\"]"), "{e}");
}

// ---------------------------------------------------------------------------
// v2 JSON: annotations.

#[test]
fn v2_annotations_become_events() {
    let r = v2_one(
        json!({"traceId": TRACE, "id": "1", "timestamp": 1, "annotations": [
            {"timestamp": 10, "value": "ws"},
            {"timestamp": 11, "value": "exception|{\"exception.type\":\"E\",\"n\":3,\"d\":2.5,\"b\":false,\"x\":[1]}|1"},
            {"timestamp": 12, "value": "GET /a|b"},
            {"timestamp": 13, "value": "name|not json|3"},
            {"timestamp": 14, "value": "name|{}|-1"},
        ]}),
    );
    let ev = |t: u64, n: &str| Event {
        time_unix_nano: t * 1000,
        name: n.into(),
        ..Event::default()
    };
    assert_eq!(
        r.span.events,
        vec![
            ev(10, "ws"),
            Event {
                attributes: vec![
                    KeyValue::str("exception.type", "E"),
                    KeyValue::new("n", AnyValue::Int(3)),
                    KeyValue::new("d", AnyValue::Double(2.5)),
                    KeyValue::new("b", AnyValue::Bool(false)),
                ],
                dropped_attributes_count: 1,
                ..ev(11, "exception")
            },
            ev(12, "GET /a"),
            ev(13, "name"),
            ev(14, "name"),
        ]
    );
}

#[test]
fn v2_annotation_errors() {
    let e = err_text(v2(json!([{"traceId": TRACE, "id": "1",
        "annotations": [{"timestamp": -1, "value": "x"}]}])));
    assert!(e.contains("span[0].annotations[0].timestamp"), "{e}");
    // A missing timestamp is the epoch (zipkin-go refuses the request).
    let r = v2_one(json!({"traceId": TRACE, "id": "1", "annotations": [{"value": "x"}]}));
    assert_eq!(r.span.events[0].time_unix_nano, 0);
    let e = err_text(v2(json!([{"traceId": TRACE, "id": "1",
        "annotations": [{"timestamp": 5, "value": 7}]}])));
    assert!(e.contains("span[0].annotations[0].value"), "{e}");
    let e = err_text(v2(
        json!([{"traceId": TRACE, "id": "1", "annotations": {}}]),
    ));
    assert!(e.contains("span[0].annotations"), "{e}");
    let e = err_text(v2(
        json!([{"traceId": TRACE, "id": "1", "annotations": ["x"]}]),
    ));
    assert!(e.contains("span[0].annotations[0]"), "{e}");
}

#[test]
fn v2_shared_client_and_server_spans_are_both_kept() {
    let b = v2(json!([
        {"traceId": TRACE, "id": "7", "kind": "CLIENT", "timestamp": 10, "duration": 50,
         "localEndpoint": {"serviceName": "frontend"}},
        {"traceId": TRACE, "id": "7", "kind": "SERVER", "shared": true, "timestamp": 20, "duration": 30,
         "localEndpoint": {"serviceName": "backend"}},
    ]))
    .unwrap();
    assert_eq!(b.spans.len(), 2);
    assert_eq!(b.spans[0].span.span_id, b.spans[1].span.span_id);
    assert_eq!(b.spans[0].span.kind, SpanKind::Client);
    assert_eq!(b.spans[1].span.kind, SpanKind::Server);
    assert_eq!(b.spans[1].service_name(), "backend");
}

#[test]
fn v2_debug_and_shared_do_not_change_flags() {
    let r =
        v2_one(json!({"traceId": TRACE, "id": "1", "timestamp": 1, "debug": true, "shared": true}));
    assert_eq!(r.span.flags, 0);
    assert!(r.span.attributes.is_empty());
}

// ---------------------------------------------------------------------------
// v2 JSON: what real senders send.

/// Shaped like `opentelemetry-exporter-zipkin-json` 1.x output: `kind: null`
/// for internal spans, resource attributes and both scope tag families in
/// `tags`, status as `OK`/`ERROR` plus `error`, events as JSON in `value`,
/// `debug: true` for sampled spans.
#[test]
fn v2_python_exporter_payload() {
    let body = br#"[
      {"traceId": "0af7651916cd43dd8448eb211c80319c", "id": "b7ad6b7169203331",
       "name": "work", "timestamp": 1700000000000001, "duration": 2500,
       "localEndpoint": {"serviceName": "py-svc"}, "kind": null,
       "tags": {"job": "7", "service.name": "py-svc", "telemetry.sdk.language": "python",
                "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.45.0",
                "otel.library.name": "demo", "otel.library.version": "0.1",
                "otel.scope.name": "demo", "otel.scope.version": "0.1",
                "otel.status_code": "ERROR", "error": "it broke"},
       "annotations": [{"timestamp": 1700000000000500,
                        "value": "{\"retry\": {\"attempt\": 2}}"}],
       "debug": true, "parentId": "00f067aa0ba902b7"},
      {"traceId": "0af7651916cd43dd8448eb211c80319c", "id": "00f067aa0ba902b7",
       "name": "GET /", "timestamp": 1700000000000000, "duration": 9000,
       "localEndpoint": {"serviceName": "py-svc"}, "kind": "SERVER",
       "tags": {"service.name": "py-svc", "telemetry.sdk.language": "python",
                "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.45.0",
                "otel.library.name": "demo", "otel.library.version": "0.1",
                "otel.scope.name": "demo", "otel.scope.version": "0.1",
                "otel.status_code": "OK"},
       "debug": true}
    ]"#;
    let b = decode_v2_json(body).unwrap();
    let [child, root] = &b.spans[..] else {
        panic!("two spans")
    };
    assert_eq!(child.service_name(), "py-svc");
    assert!(Arc::ptr_eq(&child.resource, &root.resource));
    assert!(Arc::ptr_eq(&child.scope, &root.scope));
    assert_eq!(
        res_attr(child, "telemetry.sdk.language"),
        Some(&s("python"))
    );
    assert_eq!(
        (child.scope.name.as_str(), child.scope.version.as_str()),
        ("demo", "0.1")
    );
    assert_eq!(child.span.kind, SpanKind::Unspecified);
    assert_eq!(child.span.parent_span_id, root.span.span_id);
    assert_eq!(child.span.status.code, StatusCode::Error);
    assert_eq!(
        child.span.attributes,
        vec![
            KeyValue::str("job", "7"),
            KeyValue::str("error", "it broke")
        ]
    );
    // The JSON-encoded event stays whole as the event name, as in Jaeger.
    assert_eq!(child.span.events.len(), 1);
    assert_eq!(child.span.events[0].name, r#"{"retry": {"attempt": 2}}"#);
    assert!(child.span.events[0].attributes.is_empty());
    assert_eq!(root.span.kind, SpanKind::Server);
    assert_eq!(root.span.status.code, StatusCode::Ok);
    assert!(root.span.attributes.is_empty());
}

/// Shaped like `@opentelemetry/exporter-zipkin` 2.x output: no `kind` for
/// internal spans, no `parentId` on roots, resource attributes in `tags`,
/// annotations carrying only the event name.
#[test]
fn v2_node_exporter_payload() {
    let body = br#"[{"traceId":"d4cda95b652f4a1592b449d5929fda1b","name":"tick",
      "id":"6e0c63257de34c92","timestamp":1700000000123456,"duration":42,
      "localEndpoint":{"serviceName":"node-svc"},
      "tags":{"count":"3","otel.status_code":"ERROR","error":"bad tick",
              "service.name":"node-svc","telemetry.sdk.language":"nodejs",
              "telemetry.sdk.name":"opentelemetry","telemetry.sdk.version":"2.0.1",
              "process.pid":"4242","host.name":"devbox"},
      "annotations":[{"timestamp":1700000000123460,"value":"started"}]}]"#;
    let b = decode_v2_json(body).unwrap();
    let r = &b.spans[0];
    assert_eq!(r.service_name(), "node-svc");
    assert_eq!(res_attr(r, "process.pid"), Some(&s("4242")));
    assert_eq!(res_attr(r, "host.name"), Some(&s("devbox")));
    assert_eq!(r.span.kind, SpanKind::Unspecified);
    assert!(r.span.is_root());
    assert_eq!(r.span.status.code, StatusCode::Error);
    assert_eq!(
        r.span.attributes,
        vec![
            KeyValue::str("count", "3"),
            KeyValue::str("error", "bad tick")
        ]
    );
    assert_eq!(r.span.events[0].name, "started");
    assert_eq!(r.span.events[0].time_unix_nano, 1_700_000_000_123_460_000);
}

// ---------------------------------------------------------------------------
// v2 JSON: malformed input.

#[test]
fn v2_malformed_input_is_a_clear_error() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"", "invalid JSON"),
        (b"{}", "expected a JSON array of spans, got an object"),
        (b"[1]", "span[0]"),
        (b"[{\"traceId\":\"xyz\",\"id\":\"1\"}]", "span[0].traceId"),
        (b"[{\"id\":\"1\"}]", "span[0].traceId: is required"),
        (b"[{\"traceId\":5,\"id\":\"1\"}]", "span[0].traceId"),
        (
            b"[{\"traceId\":\"000000000000000000000000000000000\",\"id\":\"1\"}]",
            "span[0].traceId",
        ),
        (
            b"[{\"traceId\":\"0\",\"id\":\"1\"}]",
            "must not be all zeros",
        ),
        (b"[{\"traceId\":\"1\"}]", "span[0].id: is required"),
        (
            b"[{\"traceId\":\"1\",\"id\":\"0000\"}]",
            "span[0].id: must not be all zeros",
        ),
        (
            b"[{\"traceId\":\"1\",\"id\":\"12345678901234567\"}]",
            "span[0].id",
        ),
        (
            b"[{\"traceId\":\"1\",\"id\":\"1\",\"parentId\":\"zz\"}]",
            "span[0].parentId",
        ),
        (
            b"[{\"traceId\":\"1\",\"id\":\"1\",\"name\":{}}]",
            "span[0].name",
        ),
        (
            b"[{\"traceId\":\"1\",\"id\":\"1\",\"localEndpoint\":\"x\"}]",
            "span[0].localEndpoint",
        ),
        (
            b"[{\"traceId\":\"1\",\"id\":\"1\",\"localEndpoint\":{\"ipv4\":\"1.2.3\"}}]",
            "span[0].localEndpoint.ipv4",
        ),
        (
            b"[{\"traceId\":\"1\",\"id\":\"1\",\"remoteEndpoint\":{\"port\":70000}}]",
            "span[0].remoteEndpoint.port",
        ),
        (
            b"[{\"traceId\":\"1\",\"id\":\"1\",\"tags\":[]}]",
            "span[0].tags",
        ),
        (
            b"[{\"traceId\":\"1\",\"id\":\"1\",\"tags\":{\"k\":{}}}]",
            "span[0].tags[\"k\"]",
        ),
        (
            b"[{\"traceId\":\"1\",\"id\":\"1\"},{\"traceId\":\"1\"}]",
            "span[1].id",
        ),
        (b"[{\"traceId\":\"1\",\"id\":\"1\"", "invalid JSON"),
    ];
    for (body, want) in cases {
        let e = v2_bytes(body).unwrap_err().to_string();
        assert!(e.contains(want), "{:?}: {e}", String::from_utf8_lossy(body));
    }
}

#[test]
fn v2_deep_nesting_costs_no_stack() {
    // The decoder reads a fixed-depth structure; anything nested deeper is
    // skipped by serde_json without recursion.
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let body = format!("[{{\"traceId\":\"1\",\"id\":\"1\",\"extra\":{deep}}}]");
    assert_eq!(decode_v2_json(body.as_bytes()).unwrap().len(), 1);
    let body = format!("[{{\"traceId\":\"1\",\"id\":\"1\",\"tags\":{{\"k\":{deep}}}}}]");
    let e = v2_bytes(body.as_bytes()).unwrap_err().to_string();
    assert!(
        e.contains("span[0].tags[\"k\"]: must be a string, got an array"),
        "{e}"
    );
    let body = format!(
        "[{{\"traceId\":\"1\",\"id\":\"1\",\"extra\":{}",
        "[".repeat(200_000)
    );
    assert!(matches!(
        decode_v2_json(body.as_bytes()),
        Err(DecodeError::Json(_))
    ));
}

#[test]
fn v2_null_body_and_null_spans_are_empty() {
    assert!(decode_v2_json(b"null").unwrap().is_empty());
    assert!(decode_v2_json(b"[]").unwrap().is_empty());
    assert_eq!(
        decode_v2_json(b"\xEF\xBB\xBF[null,{\"traceId\":\"1\",\"id\":\"1\"}]")
            .unwrap()
            .len(),
        1
    );
}

// ---------------------------------------------------------------------------
// v2 protobuf.

fn pb_span() -> pb::Span {
    pb::Span {
        trace_id: TraceId::from_hex(TRACE128).unwrap().0.to_vec(),
        parent_id: vec![0, 0, 0, 0, 0, 0, 0, 9],
        id: vec![0, 0, 0, 0, 0, 0, 0, 10],
        kind: 2,
        name: "rpc".into(),
        timestamp: 1_600_000_000_000_000,
        duration: 7,
        local_endpoint: Some(pb::Endpoint {
            service_name: "svc".into(),
            ipv4: vec![10, 0, 0, 1],
            ipv6: vec![],
            port: 8080,
        }),
        remote_endpoint: Some(pb::Endpoint {
            service_name: "db".into(),
            ipv4: vec![],
            ipv6: {
                let mut v = vec![0u8; 16];
                v[10] = 0xff;
                v[11] = 0xff;
                v[12..].copy_from_slice(&[192, 168, 1, 2]);
                v
            },
            port: 65_536 + 5432,
        }),
        annotations: vec![pb::Annotation {
            timestamp: 0,
            value: "boot".into(),
        }],
        tags: [("z", "1"), ("a", "2"), ("host.name", "h")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        debug: true,
        shared: false,
    }
}

fn proto(spans: Vec<pb::Span>) -> Result<SpanBatch, DecodeError> {
    strict(
        pb::ListOfSpans { spans }.encode_to_vec().as_slice(),
        decode_v2_proto_reported,
    )
}

#[test]
fn v2_proto_mapping() {
    let b = proto(vec![pb_span()]).unwrap();
    let r = &b.spans[0];
    assert_eq!(r.span.trace_id.to_hex(), TRACE128);
    assert_eq!(r.span.parent_span_id.as_u64(), 9);
    assert_eq!(r.span.span_id.as_u64(), 10);
    assert_eq!(r.span.kind, SpanKind::Server);
    assert_eq!(r.span.start_time_unix_nano, 1_600_000_000_000_000_000);
    assert_eq!(r.span.duration_nanos(), 7_000);
    assert_eq!(
        r.resource.attributes,
        vec![
            KeyValue::str("service.name", "svc"),
            KeyValue::str("host.name", "h")
        ]
    );
    // Tags sorted (a protobuf map has no order), then the endpoints.
    assert_eq!(
        r.span.attributes,
        vec![
            KeyValue::str("a", "2"),
            KeyValue::str("z", "1"),
            KeyValue::str("net.host.ip", "10.0.0.1"),
            KeyValue::new("net.host.port", AnyValue::Int(8080)),
            KeyValue::str("peer.service", "db"),
            KeyValue::str("net.peer.ip", "192.168.1.2"),
            KeyValue::new("net.peer.port", AnyValue::Int(5432)),
        ]
    );
    assert_eq!(r.span.events[0].name, "boot");
    assert_eq!(r.span.events[0].time_unix_nano, 0);
}

#[test]
fn v2_proto_zero_timestamp_is_epoch_without_marker_and_short_trace_ids() {
    let mut sp = pb_span();
    sp.timestamp = 0;
    sp.trace_id = vec![0, 0, 0, 0, 0, 0, 0, 1];
    sp.kind = 0;
    sp.tags.clear();
    let r = &proto(vec![sp]).unwrap().spans[0];
    assert_eq!(r.span.start_time_unix_nano, 0);
    assert_eq!(r.span.trace_id, TraceId::from_halves(0, 1));
    assert_eq!(r.span.kind, SpanKind::Unspecified);
    assert!(attr(r, START_TIME_ABSENT).is_none());
}

#[test]
fn v2_proto_errors() {
    let with = |f: fn(&mut pb::Span)| {
        let mut sp = pb_span();
        f(&mut sp);
        proto(vec![pb_span(), sp]).unwrap_err().to_string()
    };
    assert!(with(|s| s.trace_id = vec![1; 12]).contains("span[1].trace_id"));
    assert!(with(|s| s.trace_id = vec![0; 16]).contains("all zeros"));
    assert!(with(|s| s.id = vec![]).contains("span[1].id"));
    assert!(with(|s| s.id = vec![0; 8]).contains("all zeros"));
    assert!(with(|s| s.parent_id = vec![1; 3]).contains("span[1].parent_id"));
    assert!(with(|s| s.timestamp = u64::MAX).contains("span[1].timestamp"));
    assert!(matches!(
        decode_v2_proto(b"\x0a\xff\xff\xff\xff\x0f"),
        Err(DecodeError::Protobuf(_))
    ));
    assert!(decode_v2_proto(b"").unwrap().is_empty());
}

#[test]
fn go_ip_formatting() {
    assert_eq!(ip_bytes_to_string(&[]), None);
    assert_eq!(ip_bytes_to_string(&[1, 2, 3, 4]).unwrap(), "1.2.3.4");
    let mut v6 = [0u8; 16];
    v6[15] = 1;
    assert_eq!(ip_bytes_to_string(&v6).unwrap(), "::1");
    assert_eq!(ip_bytes_to_string(&[1, 2, 3]).unwrap(), "?010203");
}

// ---------------------------------------------------------------------------
// v1 JSON.

const NOW: u64 = 1_234_567_890_000_000_000;

fn v1(value: serde_json::Value) -> Result<SpanBatch, DecodeError> {
    strict(serde_json::to_vec(&value).unwrap().as_slice(), |b, r| {
        decode_v1_json_reported(b, NOW, r)
    })
}

fn ep(svc: &str, ipv4: &str, port: u16) -> serde_json::Value {
    json!({"serviceName": svc, "ipv4": ipv4, "port": port})
}

#[test]
fn v1_client_and_server_spans_from_core_annotations() {
    let client = ep("frontend", "10.0.0.1", 8080);
    let server = ep("backend", "10.0.0.2", 9000);
    let b = v1(json!([
        {"traceId": TRACE, "id": "0000000000000002", "parentId": "0000000000000001",
         "name": "get", "annotations": [
            {"timestamp": 100, "value": "cs", "endpoint": client},
            {"timestamp": 150, "value": "wire.send", "endpoint": client},
            {"timestamp": 400, "value": "cr", "endpoint": client}],
         "binaryAnnotations": [
            {"key": "http.path", "value": "/api", "endpoint": client},
            {"key": "sa", "value": true, "endpoint": server}]},
        {"traceId": TRACE, "id": "0000000000000002", "parentId": "0000000000000001",
         "name": "get", "timestamp": 200, "duration": 100, "annotations": [
            {"timestamp": 200, "value": "sr", "endpoint": server},
            {"timestamp": 300, "value": "ss", "endpoint": server}]},
    ]))
    .unwrap();
    let [c, srv] = &b.spans[..] else {
        panic!("two spans")
    };
    assert_eq!(c.span.kind, SpanKind::Client);
    assert_eq!(c.service_name(), "frontend");
    assert_eq!(
        c.resource.attributes,
        vec![
            KeyValue::str("service.name", "frontend"),
            KeyValue::str("ipv4", "10.0.0.1"),
            KeyValue::str("port", "8080"),
        ]
    );
    // Times from the earliest and latest annotation.
    assert_eq!(c.span.start_time_unix_nano, 100_000);
    assert_eq!(c.span.end_time_unix_nano, 400_000);
    // Core annotations are not events.
    assert_eq!(
        c.span.events,
        vec![Event {
            time_unix_nano: 150_000,
            name: "wire.send".into(),
            ..Event::default()
        }]
    );
    assert_eq!(
        c.span.attributes,
        vec![
            KeyValue::str("http.path", "/api"),
            KeyValue::str("sa", "true")
        ]
    );
    assert_eq!(c.span.parent_span_id.as_u64(), 1);

    assert_eq!(srv.span.kind, SpanKind::Server);
    assert_eq!(srv.service_name(), "backend");
    // The span's own timestamp wins over the annotations.
    assert_eq!(srv.span.start_time_unix_nano, 200_000);
    assert_eq!(srv.span.end_time_unix_nano, 300_000);
    assert!(srv.span.events.is_empty());
    assert!(Arc::ptr_eq(&c.scope, &srv.scope));
}

#[test]
fn v1_kind_from_first_core_annotation_and_messaging() {
    let kind_of = |values: &[&str]| {
        let anns: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"timestamp": 10 + i, "value": v}))
            .collect();
        v1(json!([{"traceId": TRACE, "id": "0000000000000001", "annotations": anns}]))
            .unwrap()
            .spans[0]
            .span
            .kind
    };
    assert_eq!(kind_of(&["sr", "cs"]), SpanKind::Server);
    assert_eq!(kind_of(&["x", "cr"]), SpanKind::Client);
    assert_eq!(kind_of(&["ms"]), SpanKind::Producer);
    assert_eq!(kind_of(&["mr"]), SpanKind::Consumer);
    assert_eq!(kind_of(&["foo"]), SpanKind::Unspecified);
}

#[test]
fn v1_service_name_fallbacks() {
    let svc = |anns: serde_json::Value, bins: serde_json::Value| {
        v1(
            json!([{"traceId": TRACE, "id": "0000000000000001", "timestamp": 5,
            "annotations": anns, "binaryAnnotations": bins}]),
        )
        .unwrap()
        .spans
        .remove(0)
    };
    // The first core annotation with a named endpoint.
    let r = svc(
        json!([{"timestamp": 1, "value": "cs", "endpoint": {"serviceName": ""}},
               {"timestamp": 2, "value": "cr", "endpoint": ep("named", "", 0)}]),
        json!([]),
    );
    assert_eq!(
        r.resource.attributes,
        vec![KeyValue::str("service.name", "named")]
    );
    // Else the last binary annotation endpoint with a name.
    let r = svc(
        json!([{"timestamp": 1, "value": "custom", "endpoint": ep("ignored", "", 0)}]),
        json!([{"key": "a", "value": "1", "endpoint": ep("first", "", 0)},
               {"key": "b", "value": "2", "endpoint": ep("last", "1.1.1.1", 1)},
               {"key": "c", "value": "3", "endpoint": {"serviceName": ""}}]),
    );
    assert_eq!(
        r.resource.attributes,
        vec![KeyValue::str("service.name", "last")]
    );
    // Else the local component, which is renamed `component`.
    let r = svc(json!([]), json!([{"key": "lc", "value": "scheduler"}]));
    assert_eq!(r.service_name(), "scheduler");
    assert_eq!(
        r.span.attributes,
        vec![KeyValue::str("component", "scheduler")]
    );
    // Else unknown-service.
    let r = svc(json!([]), json!([]));
    assert_eq!(r.service_name(), "unknown-service");
}

#[test]
fn v1_status_mapping() {
    let st = |bins: serde_json::Value| {
        let r = v1(
            json!([{"traceId": TRACE, "id": "0000000000000001", "timestamp": 5,
            "binaryAnnotations": bins}]),
        )
        .unwrap()
        .spans
        .remove(0);
        (r.span.status.code, r.span.status.message, r.span.attributes)
    };
    use StatusCode::*;
    assert_eq!(
        st(json!([{"key": "error", "value": "oops"}])),
        (Error, String::new(), vec![])
    );
    assert_eq!(
        st(
            json!([{"key": "http.status_code", "value": "503"}, {"key": "http.status_message", "value": "down"}])
        ),
        (
            Error,
            "down".into(),
            vec![
                KeyValue::str("http.status_code", "503"),
                KeyValue::str("http.status_message", "down")
            ]
        )
    );
    assert_eq!(
        st(json!([{"key": "http.status_code", "value": "200"}])).0,
        Unset
    );
    assert_eq!(
        st(json!([{"key": "http.status_code", "value": "99"}])).0,
        Error
    );
    assert_eq!(
        st(
            json!([{"key": "otel.status_code", "value": "1"}, {"key": "otel.status_description", "value": "fine"}])
        ),
        (Ok, "fine".into(), vec![])
    );
    // census beats otel beats error beats http.
    assert_eq!(
        st(json!([{"key": "census.status_code", "value": "0"},
                  {"key": "otel.status_code", "value": "2"},
                  {"key": "error", "value": "x"}]))
        .0,
        Ok
    );
    assert_eq!(
        st(json!([{"key": "http.status_code", "value": "500"},
                  {"key": "otel.status_code", "value": "1"}]))
        .0,
        Ok
    );
    // The error takes the census or otel description.
    assert_eq!(
        st(
            json!([{"key": "error", "value": ""}, {"key": "census.status_description", "value": "why"}])
        ),
        (Error, "why".into(), vec![])
    );
    // Unparseable codes are consumed without effect.
    assert_eq!(
        st(json!([{"key": "otel.status_code", "value": "ERROR"}])),
        (Unset, String::new(), vec![])
    );
}

#[test]
fn v1_span_without_times_gets_now_and_marker() {
    let r = &v1(json!([{"traceId": TRACE128, "id": "0000000000000001", "name": "x"}]))
        .unwrap()
        .spans[0];
    assert_eq!(r.span.start_time_unix_nano, NOW);
    assert_eq!(r.span.end_time_unix_nano, NOW);
    assert_eq!(attr(r, START_TIME_ABSENT), Some(&AnyValue::Bool(true)));
    assert_eq!(r.span.trace_id.to_hex(), TRACE128);
    assert_eq!(r.span.kind, SpanKind::Unspecified);
}

#[test]
fn v1_json_errors() {
    let cases = [
        (
            json!([{"traceId": "abc", "id": "0000000000000001"}]),
            "span[0].traceId",
        ),
        (
            json!([{"traceId": "0000000000000000", "id": "0000000000000001"}]),
            "all zeros",
        ),
        (
            json!([{"traceId": TRACE, "id": "1"}]),
            "span[0].id: must be 16 hex",
        ),
        (
            json!([{"traceId": TRACE, "id": "0000000000000000"}]),
            "span[0].id: must not be all zeros",
        ),
        (
            json!([{"traceId": TRACE, "id": "0000000000000001", "parentId": "0000000000000000"}]),
            "span[0].parentId",
        ),
        (
            json!([{"traceId": TRACE, "id": "0000000000000001", "annotations": [{"timestamp": "x"}]}]),
            "span[0].annotations[0].timestamp",
        ),
        (
            json!([{"traceId": TRACE, "id": "0000000000000001",
                    "binaryAnnotations": [{"key": "k", "value": [1]}]}]),
            "span[0].binaryAnnotations[0].value",
        ),
        (
            json!([{"traceId": TRACE, "id": "0000000000000001",
                    "annotations": [{"timestamp": 1, "value": "cs", "endpoint": {"port": "x"}}]}]),
            "span[0].annotations[0].endpoint.port",
        ),
    ];
    for (body, want) in cases {
        let e = err_text(v1(body.clone()));
        assert!(e.contains(want), "{body}: {e}");
    }
    assert!(matches!(decode_v1_json(b"[{"), Err(DecodeError::Json(_))));
    assert!(decode_v1_json(b"[]").unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// v1 Thrift.

struct TEndpoint<'a> {
    ipv4: i32,
    port: i16,
    service: &'a str,
    ipv6: Option<[u8; 16]>,
}

fn write_endpoint(w: &mut BinaryWriter, e: &TEndpoint<'_>) {
    w.write_struct_begin();
    w.write_field_begin(TType::I32, 1);
    w.write_i32(e.ipv4);
    w.write_field_begin(TType::I16, 2);
    w.write_i16(e.port);
    w.write_field_begin(TType::String, 3);
    w.write_string(e.service);
    if let Some(v6) = e.ipv6 {
        w.write_field_begin(TType::String, 4);
        w.write_binary(&v6);
    }
    w.write_field_stop();
    w.write_struct_end();
}

struct TSpan<'a> {
    trace_id: i64,
    trace_id_high: Option<i64>,
    id: i64,
    parent_id: Option<i64>,
    timestamp: Option<i64>,
    duration: Option<i64>,
    annotations: Vec<(i64, &'a str, Option<TEndpoint<'a>>)>,
    /// (key, value bytes, AnnotationType, host)
    binary: Vec<(&'a str, Vec<u8>, i32, Option<TEndpoint<'a>>)>,
}

fn write_span(w: &mut BinaryWriter, s: &TSpan<'_>) {
    w.write_struct_begin();
    w.write_field_begin(TType::I64, 1);
    w.write_i64(s.trace_id);
    w.write_field_begin(TType::String, 3);
    w.write_string("op");
    w.write_field_begin(TType::I64, 4);
    w.write_i64(s.id);
    if let Some(p) = s.parent_id {
        w.write_field_begin(TType::I64, 5);
        w.write_i64(p);
    }
    w.write_field_begin(TType::List, 6);
    w.write_list_begin(TType::Struct, s.annotations.len());
    for (ts, value, host) in &s.annotations {
        w.write_struct_begin();
        w.write_field_begin(TType::I64, 1);
        w.write_i64(*ts);
        w.write_field_begin(TType::String, 2);
        w.write_string(value);
        if let Some(h) = host {
            w.write_field_begin(TType::Struct, 3);
            write_endpoint(w, h);
        }
        w.write_field_stop();
        w.write_struct_end();
    }
    w.write_field_begin(TType::List, 8);
    w.write_list_begin(TType::Struct, s.binary.len());
    for (key, value, ty, host) in &s.binary {
        w.write_struct_begin();
        w.write_field_begin(TType::String, 1);
        w.write_string(key);
        w.write_field_begin(TType::String, 2);
        w.write_binary(value);
        w.write_field_begin(TType::I32, 3);
        w.write_i32(*ty);
        if let Some(h) = host {
            w.write_field_begin(TType::Struct, 4);
            write_endpoint(w, h);
        }
        w.write_field_stop();
        w.write_struct_end();
    }
    w.write_field_begin(TType::Bool, 9);
    w.write_bool(true);
    if let Some(t) = s.timestamp {
        w.write_field_begin(TType::I64, 10);
        w.write_i64(t);
    }
    if let Some(d) = s.duration {
        w.write_field_begin(TType::I64, 11);
        w.write_i64(d);
    }
    if let Some(h) = s.trace_id_high {
        w.write_field_begin(TType::I64, 12);
        w.write_i64(h);
    }
    // An unknown field is skipped.
    w.write_field_begin(TType::Map, 99);
    w.write_map_begin(TType::String, TType::I32, 1);
    w.write_string("k");
    w.write_i32(1);
    w.write_field_stop();
    w.write_struct_end();
}

fn thrift_body(spans: &[TSpan<'_>]) -> Vec<u8> {
    let mut w = BinaryWriter::new();
    w.write_list_begin(TType::Struct, spans.len());
    for s in spans {
        write_span(&mut w, s);
    }
    w.into_bytes()
}

fn client_thrift_span() -> TSpan<'static> {
    let host = || TEndpoint {
        ipv4: i32::from_be_bytes([10, 0, 0, 7]),
        port: -1,
        service: "thrift-svc",
        ipv6: None,
    };
    TSpan {
        trace_id: -2,
        trace_id_high: Some(1),
        id: 0x1234,
        parent_id: Some(0x99),
        timestamp: None,
        duration: None,
        annotations: vec![
            (1_000, "cs", Some(host())),
            (1_500, "retry", None),
            (3_000, "cr", Some(host())),
        ],
        binary: vec![
            ("b", vec![1], 0, None),
            ("bytes", vec![0, 0, 0x30, 0x39], 1, None),
            ("i16", (-2i16).to_be_bytes().to_vec(), 2, None),
            ("i32", 70_000i32.to_be_bytes().to_vec(), 3, None),
            ("i64", (-5i64).to_be_bytes().to_vec(), 4, None),
            ("d", 2.5f64.to_be_bytes().to_vec(), 5, None),
            ("s", b"text".to_vec(), 6, None),
            ("short", vec![1, 2], 4, None),
            ("odd", vec![], 42, None),
            ("http.status_code", 500i16.to_be_bytes().to_vec(), 2, None),
            ("lc", b"worker".to_vec(), 6, None),
            (
                "sa",
                vec![1],
                0,
                Some(TEndpoint {
                    ipv4: 0,
                    port: 3306,
                    service: "mysql",
                    ipv6: Some([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
                }),
            ),
        ],
    }
}

#[test]
fn v1_thrift_mapping() {
    let b = decode_v1_thrift(&thrift_body(&[client_thrift_span()])).unwrap();
    let r = &b.spans[0];
    assert_eq!(r.span.trace_id, TraceId::from_halves(1, u64::MAX - 1));
    assert_eq!(r.span.span_id.as_u64(), 0x1234);
    assert_eq!(r.span.parent_span_id.as_u64(), 0x99);
    assert_eq!(r.span.name, "op");
    assert_eq!(r.span.kind, SpanKind::Client);
    assert_eq!(
        r.resource.attributes,
        vec![
            KeyValue::str("service.name", "thrift-svc"),
            KeyValue::str("ipv4", "10.0.0.7"),
            KeyValue::str("port", "65535"),
        ]
    );
    assert_eq!(r.span.start_time_unix_nano, 1_000_000);
    assert_eq!(r.span.end_time_unix_nano, 3_000_000);
    assert_eq!(r.span.events.len(), 1);
    assert_eq!(r.span.events[0].name, "retry");
    assert_eq!(
        r.span.attributes,
        vec![
            KeyValue::new("b", AnyValue::Bool(true)),
            KeyValue::str("bytes", "AAAwOQ=="),
            KeyValue::new("i16", AnyValue::Int(-2)),
            KeyValue::new("i32", AnyValue::Int(70_000)),
            KeyValue::new("i64", AnyValue::Int(-5)),
            KeyValue::new("d", AnyValue::Double(2.5)),
            KeyValue::str("s", "text"),
            KeyValue::str("short", "<not enough bytes representing the number>"),
            KeyValue::str("odd", "<unknown zipkin v1 binary annotation type (42)>"),
            KeyValue::new("http.status_code", AnyValue::Int(500)),
            KeyValue::str("component", "worker"),
            KeyValue::new("sa", AnyValue::Bool(true)),
        ]
    );
    assert_eq!(r.span.status.code, StatusCode::Error);
    // No time fallback and no marker in Thrift.
    assert!(attr(r, START_TIME_ABSENT).is_none());
}

#[test]
fn v1_thrift_span_timestamp_and_host_fallback() {
    let span = TSpan {
        trace_id: 5,
        trace_id_high: None,
        id: 6,
        parent_id: None,
        timestamp: Some(10),
        duration: Some(5),
        annotations: vec![],
        binary: vec![(
            "k",
            b"v".to_vec(),
            6,
            Some(TEndpoint {
                ipv4: 0,
                port: 0,
                service: "from-host",
                ipv6: None,
            }),
        )],
    };
    let none = TSpan {
        timestamp: None,
        binary: vec![],
        id: 7,
        ..span_clone(&span)
    };
    let b = decode_v1_thrift(&thrift_body(&[span, none])).unwrap();
    assert_eq!(b.spans[0].service_name(), "from-host");
    assert_eq!(b.spans[0].span.start_time_unix_nano, 10_000);
    assert_eq!(b.spans[0].span.end_time_unix_nano, 15_000);
    assert!(b.spans[0].span.parent_span_id.is_zero());
    assert_eq!(b.spans[1].service_name(), "unknown-service");
    assert_eq!(b.spans[1].span.start_time_unix_nano, 0);
}

fn span_clone<'a>(s: &TSpan<'a>) -> TSpan<'a> {
    TSpan {
        trace_id: s.trace_id,
        trace_id_high: s.trace_id_high,
        id: s.id,
        parent_id: s.parent_id,
        timestamp: s.timestamp,
        duration: s.duration,
        annotations: vec![],
        binary: vec![],
    }
}

#[test]
fn v1_thrift_errors() {
    let mut zero = client_thrift_span();
    zero.trace_id = 0;
    zero.trace_id_high = None;
    let body = thrift_body(&[client_thrift_span(), zero]);
    let e = strict(body.as_slice(), decode_v1_thrift_reported)
        .unwrap_err()
        .to_string();
    assert!(e.contains("span[1].trace_id"), "{e}");

    let body = thrift_body(&[client_thrift_span()]);
    for cut in [0, 1, 5, body.len() / 2, body.len() - 1] {
        assert!(decode_v1_thrift(&body[..cut]).is_err(), "cut at {cut}");
    }
    // A list of strings is not a list of spans.
    let mut w = BinaryWriter::new();
    w.write_list_begin(TType::String, 1);
    w.write_string("x");
    assert!(decode_v1_thrift(&w.into_bytes()).is_err());
    // A claimed length far beyond the input is refused before allocating.
    assert!(decode_v1_thrift(&[12, 0x7f, 0xff, 0xff, 0xff]).is_err());
    // An empty list is an empty batch.
    let mut w = BinaryWriter::new();
    w.write_list_begin(TType::Struct, 0);
    assert!(decode_v1_thrift(&w.into_bytes()).unwrap().is_empty());
}

#[test]
fn v1_thrift_deep_nesting_is_refused() {
    // A span whose unknown field nests lists far deeper than the limit.
    let mut w = BinaryWriter::new();
    w.write_list_begin(TType::Struct, 1);
    w.write_field_begin(TType::List, 50);
    for _ in 0..10_000 {
        w.write_list_begin(TType::List, 1);
    }
    assert!(decode_v1_thrift(&w.into_bytes()).is_err());
}

// ---------------------------------------------------------------------------
// Encoding.

fn rich_batch() -> Vec<SpanRecord> {
    let resource = Arc::new(Resource {
        attributes: vec![
            KeyValue::str("service.name", "enc-svc"),
            KeyValue::str("host.name", "box"),
        ],
        ..Resource::default()
    });
    let scope = Arc::new(Scope {
        name: "lib".into(),
        version: "3".into(),
        ..Scope::default()
    });
    let trace_id = TraceId::from_hex(TRACE128).unwrap();
    let root = Span {
        trace_id,
        span_id: SpanId::from_u64(1),
        name: "root".into(),
        kind: SpanKind::Server,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_005_000_000,
        attributes: vec![
            KeyValue::str("http.method", "GET"),
            KeyValue::str("net.host.ip", "10.1.1.1"),
            KeyValue::new("net.host.port", AnyValue::Int(8080)),
            KeyValue::str("peer.service", "lb"),
            KeyValue::str("net.peer.ip", "2001:db8::1"),
            KeyValue::new("net.peer.port", AnyValue::Int(443)),
        ],
        events: vec![
            Event {
                time_unix_nano: 1_700_000_000_001_000_000,
                name: "plain".into(),
                ..Event::default()
            },
            Event {
                time_unix_nano: 1_700_000_000_002_000_000,
                name: "with attrs".into(),
                attributes: vec![
                    KeyValue::str("a", "x|y"),
                    KeyValue::new("b", AnyValue::Int(2)),
                    KeyValue::new("c", AnyValue::Bool(true)),
                    KeyValue::new("d", AnyValue::Double(0.5)),
                ],
                dropped_attributes_count: 1,
            },
        ],
        links: vec![Link {
            trace_id: TraceId::from_halves(7, 8),
            span_id: SpanId::from_u64(9),
            trace_state: "x=1".into(),
            attributes: vec![KeyValue::str("why", "batch")],
            dropped_attributes_count: 0,
            flags: 0,
        }],
        status: Status {
            code: StatusCode::Error,
            message: "failed".into(),
        },
        trace_state: "k=v".into(),
        ..Span::default()
    };
    let child = Span {
        trace_id,
        span_id: SpanId::from_u64(2),
        parent_span_id: SpanId::from_u64(1),
        name: "child".into(),
        kind: SpanKind::Internal,
        start_time_unix_nano: 0,
        end_time_unix_nano: 3_000,
        attributes: vec![KeyValue::new(START_TIME_ABSENT, AnyValue::Bool(true))],
        status: Status {
            code: StatusCode::Ok,
            message: String::new(),
        },
        ..Span::default()
    };
    vec![
        SpanRecord::new(resource.clone(), scope.clone(), root),
        SpanRecord::new(resource, scope, child),
    ]
}

#[test]
fn encode_then_decode_round_trips() {
    let input = rich_batch();
    let bytes = encode_v2_json(&input);
    let decoded = decode_v2_json(&bytes).unwrap();
    assert_eq!(decoded.spans.len(), 2);
    for (got, want) in decoded.spans.iter().zip(&input) {
        assert_eq!(*got.resource, *want.resource);
        assert_eq!(*got.scope, *want.scope);
        let mut want_span = want.span.clone();
        // JSON objects come back with keys sorted.
        for e in &mut want_span.events {
            e.attributes.sort_by(|a, b| a.key.cmp(&b.key));
        }
        assert_eq!(got.span, want_span);
    }
}

#[test]
fn encode_layout() {
    let v: serde_json::Value = serde_json::from_slice(&encode_v2_json(&rich_batch())).unwrap();
    assert_eq!(v[0]["traceId"], TRACE128);
    assert_eq!(v[0]["id"], "0000000000000001");
    assert_eq!(v[0]["kind"], "SERVER");
    assert_eq!(v[0]["timestamp"], 1_700_000_000_000_000u64);
    assert_eq!(v[0]["duration"], 5000);
    assert_eq!(
        v[0]["localEndpoint"],
        json!({"serviceName": "enc-svc", "ipv4": "10.1.1.1", "port": 8080})
    );
    assert_eq!(
        v[0]["remoteEndpoint"],
        json!({"serviceName": "lb", "ipv6": "2001:db8::1", "port": 443})
    );
    assert_eq!(v[0]["tags"]["otel.status_code"], "Error");
    assert_eq!(v[0]["tags"]["otel.library.name"], "lib");
    assert_eq!(v[0]["tags"]["host.name"], "box");
    assert_eq!(v[0]["annotations"][0]["value"], "plain");
    assert_eq!(v[1]["parentId"], "0000000000000001");
    assert!(v[1].get("timestamp").is_none());
    assert!(v[1].get("kind").is_none());
    assert_eq!(v[1]["tags"]["span.kind"], "internal");
    assert_eq!(encode_v2_json(&[]), b"[]");
}

// ---------------------------------------------------------------------------
// Robustness: every prefix and many mutations of valid inputs.

#[test]
fn many_keys_decode_in_linear_time() {
    // 100k distinct tags, event attributes and binary annotations: a
    // quadratic merge would take minutes here.
    const N: usize = 100_000;
    let tags: serde_json::Map<String, serde_json::Value> =
        (0..N).map(|i| (format!("k{i}"), json!("v"))).collect();
    let attrs: serde_json::Map<String, serde_json::Value> =
        (0..N).map(|i| (format!("a{i}"), json!(i))).collect();
    let started = std::time::Instant::now();
    let r = v2_one(
        json!({"traceId": TRACE, "id": "1", "timestamp": 1, "tags": tags,
        "annotations": [{"timestamp": 1, "value": format!("e|{}|0", serde_json::Value::Object(attrs))}]}),
    );
    assert_eq!(r.span.attributes.len(), N);
    assert_eq!(r.span.events[0].attributes.len(), N);
    let bins: Vec<_> = (0..N)
        .map(|i| json!({"key": format!("b{}", i % (N / 2)), "value": "x"}))
        .collect();
    let b = v1(
        json!([{"traceId": TRACE, "id": "0000000000000001", "timestamp": 1,
        "binaryAnnotations": bins}]),
    )
    .unwrap();
    assert_eq!(b.spans[0].span.attributes.len(), N / 2);
    let encoded = encode_v2_json(&[r]);
    assert_eq!(
        decode_v2_json(&encoded).unwrap().spans[0]
            .span
            .attributes
            .len(),
        N
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// What every fuzz target checks: a decoded batch re-encodes as v2 JSON that
/// decodes to the same spans.
fn assert_reencodes(batch: &SpanBatch) {
    let again = decode_v2_json(&encode_v2_json(&batch.spans)).unwrap();
    assert_eq!(again.len(), batch.len());
    for (a, b) in batch.spans.iter().zip(&again.spans) {
        assert_eq!(a.span.trace_id, b.span.trace_id);
        assert_eq!(a.span.span_id, b.span.span_id);
        assert_eq!(a.span.parent_span_id, b.span.parent_span_id);
        assert_eq!(a.span.name, b.span.name);
        assert_eq!(a.span.kind, b.span.kind);
        assert_eq!(a.span.events.len(), b.span.events.len());
    }
}

/// Fuzzer finds: events at the epoch (a v1 annotation without a timestamp,
/// a protobuf annotation with a zero one) re-encoded as `"timestamp": 0`,
/// which the v2 JSON decoder refused.
#[test]
fn regression_events_at_epoch_reencode() {
    let v1_json = br#"[{"traceId": "5af7182fb1d4cf5f", "id": "0000000000000002", "parentId": "0000000000000001", "name": "get", "timestamp": 100, "duration": 10, "annotations": [{"timestamp": 100, "value": "cs", "endpoint": {"seeName": "b"}}, {"key": "http.status_code", "value": "500"}, {"key": "error", "value": "e"}]}]"#;
    let b = decode_v1_json(v1_json).unwrap();
    assert_eq!(b.spans[0].span.events[0].time_unix_nano, 0);
    assert_reencodes(&b);

    let proto = b"\x0a\x71\x0a\x10\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x12\x08\x01\x02\x03\x04\x05\x06\x07\x08\x1a\x08\x02\x03\x04\x05\x06\x07\x08\x09\x20\x02\x2a\x03\x72\x70\x63\x31\x00\x00\xa4\x07\x31\xaf\x05\x00\x38\x07\x42\x0e\x0a\x03\x07\x08\x63\x1a\x04\x0a\x00\x00\x01\x20\x90\x3f\x4a\x0e\x0a\x03\x73\x76\x63\x12\x04\x0a\x36\x00\x01\x20\x90\x3f\x52\x0f\x29\x00\x00\xa4\x07\x31\xaf\x30\x00\xed\x04\x62\x6f\x6f\x74\x5a\x06\x0a\x01\x6b\x12\x01\x76";
    assert_reencodes(&decode_v2_proto(proto).unwrap());

    let thrift = b"\x0c\x00\x00\x00\x01\x0a\x00\x01\x00\x00\x00\x00\x00\x00\x00\x05\x0b\x00\x03\x00\x00\x00\x02\x6f\x70\x0a\x00\x04\x00\x00\x00\x00\x00\x00\x00\x06\x0f\x00\x06\x0c\x00\x00\x00\x01\x0a\x00\x61\x00\x00\x00\x00\x00\x00\x00\x64\x0b\x00\x02\x00\x00\x00\x04\x00\x00\x00\x05\x08\x00\x03\x00\x00\x00\x03\x00\x0a\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x64\x0a\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x0a\x00";
    assert_reencodes(&decode_v1_thrift(thrift).unwrap());
}

type Decoder = fn(&[u8]) -> Result<SpanBatch, DecodeError>;

#[test]
fn truncated_and_mutated_inputs_never_panic() {
    let v2_body = encode_v2_json(&rich_batch());
    let v1_body = serde_json::to_vec(&json!([{"traceId": TRACE, "id": "0000000000000001",
        "annotations": [{"timestamp": 1, "value": "cs", "endpoint": ep("a", "1.2.3.4", 1)}],
        "binaryAnnotations": [{"key": "lc", "value": "x"}]}]))
    .unwrap();
    let pb_body = pb::ListOfSpans {
        spans: vec![pb_span()],
    }
    .encode_to_vec();
    let thrift = thrift_body(&[client_thrift_span()]);
    let decoders: [(&[u8], Decoder); 4] = [
        (&v2_body, decode_v2_json),
        (&v1_body, decode_v1_json),
        (&pb_body, decode_v2_proto),
        (&thrift, decode_v1_thrift),
    ];
    for (body, decode) in decoders {
        for cut in 0..body.len() {
            let _ = decode(&body[..cut]);
        }
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..2000 {
            let mut b = body.to_vec();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let at = x as usize % b.len();
                b[at] = (x >> 8) as u8;
            }
            if let Ok(batch) = decode(&b) {
                assert_reencodes(&batch);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// One bad field never costs the batch (ADR 0015).

#[test]
fn lenient_v2_json_bad_address_is_dropped_and_the_batch_kept() {
    let mut spans: Vec<serde_json::Value> = (1..=175)
        .map(|i| {
            json!({"traceId": TRACE, "id": format!("{i:x}"), "name": "get",
                "timestamp": 1_700_000_000_000_000u64, "duration": 5,
                "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 80}})
        })
        .collect();
    spans[17]["localEndpoint"]["ipv4"] = json!("52.0.0.04");
    let mut report = crate::DecodeReport::new();
    let batch = decode_v2_json_reported(&serde_json::to_vec(&spans).unwrap(), &mut report).unwrap();
    assert_eq!(batch.len(), 175);
    assert_eq!(report.rejected_spans(), 0);
    assert_eq!(report.dropped_by_field(), &[("ipv4", 1)]);
    assert!(
        report.messages()[0].contains("span[17].localEndpoint.ipv4"),
        "{:?}",
        report.messages()
    );
    let r = &batch.spans[17];
    assert_eq!(r.service_name(), "frontend");
    assert!(attr(r, "net.host.ip").is_none());
    assert_eq!(attr(r, "net.host.port"), Some(&AnyValue::Int(80)));
    assert_eq!(attr(&batch.spans[16], "net.host.ip"), Some(&s("10.0.0.1")));
}

#[test]
fn lenient_v2_json_spans_and_fields_that_cannot_be_used() {
    let body = json!([
        {"traceId": TRACE, "id": "1", "name": "ok"},
        {"traceId": "", "id": "2"},
        {"traceId": TRACE, "id": "0000000000000000"},
        {"traceId": "00000000000000000000000000000000", "id": "3"},
        "not a span",
        {"traceId": TRACE, "id": "4", "kind": "SIDEWAYS", "parentId": "xyz",
         "name": 5, "timestamp": -1, "duration": "soon",
         "localEndpoint": {"serviceName": "svc", "ipv6": "::g", "port": 70000},
         "remoteEndpoint": "db",
         "annotations": [{"timestamp": 1, "value": "kept"}, {"timestamp": 1, "value": []}, 3],
         "tags": {"good": "1", "bad": {"x": 1}, "otlp.link.0": "abc|00f067aa0ba902b7||{}|0"}},
    ]);
    let mut report = crate::DecodeReport::new();
    let batch = decode_v2_json_reported(&serde_json::to_vec(&body).unwrap(), &mut report).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(
        report.rejected_by_reason(),
        &[
            (crate::reason::INVALID_TRACE_ID, 2),
            (crate::reason::INVALID_SPAN_ID, 1),
            (crate::reason::MALFORMED_SPAN, 1),
        ]
    );
    let mut dropped = report.dropped_by_field().to_vec();
    dropped.sort_unstable();
    assert_eq!(
        dropped,
        vec![
            ("annotation", 2),
            ("duration", 1),
            ("ipv6", 1),
            ("kind", 1),
            ("link", 1),
            ("name", 1),
            ("parent_id", 1),
            ("port", 1),
            ("remote_endpoint", 1),
            ("tag", 1),
            ("timestamp", 1),
        ]
    );
    let r = &batch.spans[1];
    assert_eq!(r.service_name(), "svc");
    assert_eq!(r.span.name, "");
    assert_eq!(r.span.kind, SpanKind::Unspecified);
    assert!(r.span.is_root());
    assert_eq!(attr(r, START_TIME_ABSENT), Some(&AnyValue::Bool(true)));
    assert_eq!(r.span.events.len(), 1);
    assert_eq!(attr(r, "good"), Some(&s("1")));
    assert!(attr(r, "bad").is_none());
    assert!(r.span.links.is_empty());
    // The report-less decoder is just as lenient.
    assert_eq!(
        decode_v2_json(&serde_json::to_vec(&body).unwrap())
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn lenient_v2_proto_v1_json_and_v1_thrift_leave_out_one_span() {
    let mut bad = pb_span();
    bad.id = vec![0; 8];
    let mut odd_parent = pb_span();
    odd_parent.parent_id = vec![1; 3];
    odd_parent.kind = 9;
    let mut report = crate::DecodeReport::new();
    let body = pb::ListOfSpans {
        spans: vec![pb_span(), bad, odd_parent],
    }
    .encode_to_vec();
    let batch = decode_v2_proto_reported(&body, &mut report).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(
        report.rejected_by_reason(),
        &[(crate::reason::INVALID_SPAN_ID, 1)]
    );
    assert_eq!(report.dropped_by_field(), &[("parent_id", 1), ("kind", 1)]);

    let body = json!([
        {"traceId": TRACE, "id": "0000000000000001", "name": "a"},
        {"traceId": TRACE, "id": "1"},
        {"traceId": TRACE, "id": "0000000000000002", "parentId": "12",
         "annotations": [{"timestamp": "x"}], "binaryAnnotations": [{"key": "k", "value": [1]}, 4]},
    ]);
    let mut report = crate::DecodeReport::new();
    let batch =
        decode_v1_json_reported(&serde_json::to_vec(&body).unwrap(), NOW, &mut report).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(
        report.rejected_by_reason(),
        &[(crate::reason::INVALID_SPAN_ID, 1)]
    );
    assert_eq!(
        report.dropped_by_field(),
        &[
            ("parent_id", 1),
            ("annotation", 1),
            ("binary_annotation", 2)
        ]
    );

    let mut zero = client_thrift_span();
    zero.id = 0;
    let mut report = crate::DecodeReport::new();
    let batch = decode_v1_thrift_reported(
        &thrift_body(&[client_thrift_span(), zero, client_thrift_span()]),
        &mut report,
    )
    .unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(
        report.rejected_by_reason(),
        &[(crate::reason::INVALID_SPAN_ID, 1)]
    );
}

/// Forms Zipkin allows and Jaeger's reader refuses (docs/api.md, "Compared
/// with the real Jaeger"): Spoor reads both forms alike.
#[test]
fn v1_address_annotation_true_as_bool_or_string_and_v2_proto_8_byte_trace_id() {
    let client = ep("frontend", "10.0.0.1", 8080);
    let server = ep("backend", "10.0.0.2", 9000);
    let span = |value: serde_json::Value| {
        json!([{"traceId": TRACE, "id": "0000000000000002", "name": "get", "annotations": [
            {"timestamp": 100, "value": "cs", "endpoint": client},
            {"timestamp": 400, "value": "cr", "endpoint": client}],
         "binaryAnnotations": [{"key": "sa", "value": value, "endpoint": server}]}])
    };
    let as_bool = v1(span(json!(true))).unwrap();
    let as_string = v1(span(json!("true"))).unwrap();
    assert_eq!(as_bool.spans[0].span, as_string.spans[0].span);
    assert_eq!(as_bool.spans[0].resource, as_string.spans[0].resource);

    let mut short = pb_span();
    short.trace_id = vec![0, 0, 0, 0, 0, 0, 0, 42];
    let mut long = pb_span();
    long.trace_id = [vec![0u8; 8], short.trace_id.clone()].concat();
    let (short, long) = (proto(vec![short]).unwrap(), proto(vec![long]).unwrap());
    assert_eq!(short.spans[0].span.trace_id.low(), 42);
    assert_eq!(short.spans[0].span, long.spans[0].span);
}
