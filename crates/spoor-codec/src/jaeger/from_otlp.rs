//! OTLP-shaped model → Jaeger model, following contrib's
//! `pkg/translator/jaeger/traces_to_jaegerproto.go` and Jaeger's
//! `v1adapter` warning transfer (reference §2.1).

use std::sync::Arc;

use spoor_model::group::{ArcIndex, Seen};
use spoor_model::{
    AnyValue, Event, KeyValue, Resource, SpanKind, SpanRecord, StatusCode, Trace, find_attr, keys,
};

use super::ui::{UiTrace, jaeger_to_ui};
use super::{
    JaegerKeyValue, JaegerLog, JaegerProcess, JaegerRef, JaegerSpan, JaegerTrace, JaegerValue,
    RefType, tags,
};

/// Converts a trace of the model to Jaeger's UI JSON model: the composition
/// of [`trace_to_jaeger`] and [`jaeger_to_ui`].
pub fn trace_to_ui(trace: &Trace) -> UiTrace {
    jaeger_to_ui(&trace_to_jaeger(trace))
}

/// Converts a trace of the model to Jaeger's model, span by span in order.
/// Spans that share a resource (`Arc`) share one process.
pub fn trace_to_jaeger(trace: &Trace) -> JaegerTrace {
    let mut resources: ArcIndex<Resource> = ArcIndex::new();
    let mut processes: Vec<Arc<JaegerProcess>> = Vec::new();
    let spans = trace
        .spans
        .iter()
        .map(|record| {
            let process = match resources.index(&record.resource) {
                Seen::New(_) => {
                    let process = Arc::new(resource_to_process(&record.resource));
                    processes.push(Arc::clone(&process));
                    process
                }
                Seen::Again(i) => match processes.get(i) {
                    Some(process) => Arc::clone(process),
                    None => Arc::new(resource_to_process(&record.resource)),
                },
            };
            convert_span(record, process)
        })
        .collect();
    JaegerTrace {
        spans,
        warnings: trace.warnings.clone(),
    }
}

/// Converts one span record (with its resource and scope) to Jaeger's model.
pub fn span_to_jaeger(record: &SpanRecord) -> JaegerSpan {
    convert_span(record, Arc::new(resource_to_process(&record.resource)))
}

/// The resource as a Jaeger process: `service.name` (Jaeger's placeholder
/// when absent or not a string) and every other attribute as a tag.
fn resource_to_process(resource: &Resource) -> JaegerProcess {
    JaegerProcess {
        service_name: resource.service_name().to_string(),
        tags: resource
            .attributes
            .iter()
            .filter(|kv| kv.key != keys::SERVICE_NAME)
            .map(attribute_to_tag)
            .collect(),
    }
}

/// One attribute as a typed tag. Maps and arrays become their compact JSON
/// string; an empty value becomes an empty string, as in Jaeger.
fn attribute_to_tag(kv: &KeyValue) -> JaegerKeyValue {
    let value = match &kv.value {
        AnyValue::Str(s) => JaegerValue::Str(s.clone()),
        AnyValue::Bool(b) => JaegerValue::Bool(*b),
        AnyValue::Int(i) => JaegerValue::Int64(*i),
        AnyValue::Double(d) => JaegerValue::Float64(*d),
        AnyValue::Bytes(b) => JaegerValue::Binary(b.clone()),
        AnyValue::Array(_) | AnyValue::KvList(_) => JaegerValue::Str(kv.value.to_string_lossy()),
        AnyValue::Empty => JaegerValue::Str(String::new()),
    };
    JaegerKeyValue {
        key: kv.key.clone(),
        value,
    }
}

fn convert_span(record: &SpanRecord, process: Arc<JaegerProcess>) -> JaegerSpan {
    let span = &record.span;
    let mut warnings = Vec::new();
    let mut tags = Vec::with_capacity(span.attributes.len() + 6);

    if !record.scope.name.is_empty() {
        tags.push(JaegerKeyValue::string(tags::SCOPE_NAME, &record.scope.name));
    }
    if !record.scope.version.is_empty() {
        tags.push(JaegerKeyValue::string(
            tags::SCOPE_VERSION,
            &record.scope.version,
        ));
    }
    for kv in &span.attributes {
        if kv.key == keys::JAEGER_WARNINGS {
            collect_warnings(&kv.value, &mut warnings);
        } else {
            tags.push(attribute_to_tag(kv));
        }
    }
    if span.kind != SpanKind::Unspecified {
        tags.push(JaegerKeyValue::string(
            tags::SPAN_KIND,
            span.kind.jaeger_name(),
        ));
    }
    match span.status.code {
        StatusCode::Unset => {}
        StatusCode::Ok => tags.push(JaegerKeyValue::string(tags::STATUS_CODE, "OK")),
        StatusCode::Error => {
            tags.push(JaegerKeyValue::string(tags::STATUS_CODE, "ERROR"));
            tags.push(JaegerKeyValue::new(tags::ERROR, JaegerValue::Bool(true)));
        }
    }
    if !span.status.message.is_empty() {
        tags.push(JaegerKeyValue::string(
            tags::STATUS_DESCRIPTION,
            &span.status.message,
        ));
    }
    if !span.trace_state.is_empty() {
        tags.push(JaegerKeyValue::string(
            tags::W3C_TRACESTATE,
            &span.trace_state,
        ));
    }
    // Stored warnings first, then those the query-time adjusters added.
    warnings.extend(record.warnings.iter().cloned());

    let duration = i128::from(span.end_time_unix_nano) - i128::from(span.start_time_unix_nano);
    JaegerSpan {
        trace_id: span.trace_id,
        span_id: span.span_id,
        operation_name: span.name.clone(),
        references: references(record),
        flags: 0,
        start_time_unix_nano: span.start_time_unix_nano,
        duration_nanos: i64::try_from(duration).unwrap_or(if duration < 0 {
            i64::MIN
        } else {
            i64::MAX
        }),
        tags,
        logs: span.events.iter().map(event_to_log).collect(),
        process,
        warnings,
    }
}

/// `@jaeger@warnings` holds a list of strings; anything else is taken as
/// one warning in its string form.
fn collect_warnings(value: &AnyValue, out: &mut Vec<String>) {
    match value {
        AnyValue::Array(items) => out.extend(items.iter().map(AnyValue::to_string_lossy)),
        AnyValue::Empty => {}
        other => out.push(other.to_string_lossy()),
    }
}

/// The parent first as `CHILD_OF` (same trace), then each link: `CHILD_OF`
/// when it carries `opentracing.ref_type = child_of`, else `FOLLOWS_FROM`.
/// A link to the parent itself sets the parent reference's type instead of
/// adding a second reference.
fn references(record: &SpanRecord) -> Vec<JaegerRef> {
    let span = &record.span;
    let has_parent = !span.parent_span_id.is_zero();
    let mut refs = Vec::with_capacity(span.links.len() + usize::from(has_parent));
    if has_parent {
        refs.push(JaegerRef {
            ref_type: RefType::ChildOf,
            trace_id: span.trace_id,
            span_id: span.parent_span_id,
        });
    }
    for link in &span.links {
        let ref_type = match find_attr(&link.attributes, tags::OPENTRACING_REF_TYPE) {
            Some(AnyValue::Str(s)) if s == tags::REF_TYPE_CHILD_OF => RefType::ChildOf,
            _ => RefType::FollowsFrom,
        };
        if has_parent && link.trace_id == span.trace_id && link.span_id == span.parent_span_id {
            if let Some(parent) = refs.first_mut() {
                parent.ref_type = ref_type;
            }
            continue;
        }
        refs.push(JaegerRef {
            ref_type,
            trace_id: link.trace_id,
            span_id: link.span_id,
        });
    }
    refs
}

/// An event as a log: an `event` field with the name first (when the name is
/// not empty and the attributes have no `event` of their own), then the
/// attributes.
fn event_to_log(event: &Event) -> JaegerLog {
    let mut fields = Vec::with_capacity(event.attributes.len() + 1);
    if !event.name.is_empty() && find_attr(&event.attributes, tags::EVENT).is_none() {
        fields.push(JaegerKeyValue::string(tags::EVENT, &event.name));
    }
    fields.extend(event.attributes.iter().map(attribute_to_tag));
    JaegerLog {
        timestamp_unix_nano: event.time_unix_nano,
        fields,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::gojson;
    use crate::jaeger::UiKeyValue;
    use spoor_model::testing;
    use spoor_model::{Link, Scope, Span, SpanId, Status, TraceId};

    fn resource(service: &str) -> Arc<Resource> {
        testing::resource_with(vec![
            KeyValue::str("service.name", service),
            KeyValue::str("host.name", "h1"),
        ])
    }

    fn base_span() -> Span {
        Span {
            trace_id: TraceId::from_halves(0, 0x10),
            span_id: SpanId::from_u64(2),
            name: "op".into(),
            start_time_unix_nano: 1_000_001_999,
            end_time_unix_nano: 1_000_004_998,
            ..Default::default()
        }
    }

    fn record(span: Span) -> SpanRecord {
        testing::record_of(&resource("svc"), span)
    }

    fn tag_keys(s: &JaegerSpan) -> Vec<&str> {
        s.tags.iter().map(|t| t.key.as_str()).collect()
    }

    fn tag<'a>(s: &'a JaegerSpan, key: &str) -> Option<&'a JaegerValue> {
        s.tags.iter().find(|t| t.key == key).map(|t| &t.value)
    }

    fn ui_value(kv: &JaegerKeyValue) -> serde_json::Value {
        let ui = UiKeyValue {
            key: kv.key.clone(),
            value: kv.value.clone(),
        };
        serde_json::from_slice(&gojson::to_vec(&ui, false)).unwrap()
    }

    #[test]
    fn process_is_service_name_plus_other_resource_attributes() {
        let s = span_to_jaeger(&record(base_span()));
        assert_eq!(s.process.service_name, "svc");
        assert_eq!(
            s.process.tags,
            vec![JaegerKeyValue::string("host.name", "h1")]
        );

        let bare = SpanRecord::new(
            Arc::new(Resource::default()),
            Arc::new(Scope::default()),
            base_span(),
        );
        let s = span_to_jaeger(&bare);
        assert_eq!(s.process.service_name, keys::NO_SERVICE_NAME);
        assert!(s.process.tags.is_empty());
    }

    #[test]
    fn span_kind_tag_is_lowercase_and_omitted_when_unspecified() {
        let s = span_to_jaeger(&record(base_span()));
        assert!(tag(&s, "span.kind").is_none());
        for (kind, name) in [
            (SpanKind::Internal, "internal"),
            (SpanKind::Server, "server"),
            (SpanKind::Client, "client"),
            (SpanKind::Producer, "producer"),
            (SpanKind::Consumer, "consumer"),
        ] {
            let mut sp = base_span();
            sp.kind = kind;
            let s = span_to_jaeger(&record(sp));
            assert_eq!(tag(&s, "span.kind"), Some(&JaegerValue::Str(name.into())));
        }
    }

    #[test]
    fn status_maps_to_status_code_error_and_description_tags() {
        let s = span_to_jaeger(&record(base_span()));
        assert!(tag(&s, "otel.status_code").is_none());
        assert!(tag(&s, "error").is_none());
        assert!(tag(&s, "otel.status_description").is_none());

        let mut sp = base_span();
        sp.status = Status {
            code: StatusCode::Ok,
            message: String::new(),
        };
        let s = span_to_jaeger(&record(sp));
        assert_eq!(
            tag(&s, "otel.status_code"),
            Some(&JaegerValue::Str("OK".into()))
        );
        assert!(tag(&s, "error").is_none());

        let mut sp = base_span();
        sp.status = Status {
            code: StatusCode::Error,
            message: "boom".into(),
        };
        let s = span_to_jaeger(&record(sp));
        assert_eq!(
            tag_keys(&s),
            ["otel.status_code", "error", "otel.status_description"]
        );
        assert_eq!(
            tag(&s, "otel.status_code"),
            Some(&JaegerValue::Str("ERROR".into()))
        );
        assert_eq!(tag(&s, "error"), Some(&JaegerValue::Bool(true)));
        assert_eq!(
            tag(&s, "otel.status_description"),
            Some(&JaegerValue::Str("boom".into()))
        );

        // A message without an error code is still written.
        let mut sp = base_span();
        sp.status.message = "note".into();
        let s = span_to_jaeger(&record(sp));
        assert_eq!(tag_keys(&s), ["otel.status_description"]);
    }

    #[test]
    fn tags_come_in_jaegers_order() {
        let mut sp = base_span();
        sp.attributes = vec![
            KeyValue::str("http.method", "GET"),
            KeyValue::new("n", AnyValue::Int(3)),
        ];
        sp.kind = SpanKind::Server;
        sp.status = Status {
            code: StatusCode::Error,
            message: "bad".into(),
        };
        sp.trace_state = "k=v".into();
        let rec = SpanRecord::new(
            resource("svc"),
            Arc::new(Scope {
                name: "lib".into(),
                version: "1.2".into(),
                ..Default::default()
            }),
            sp,
        );
        let s = span_to_jaeger(&rec);
        assert_eq!(
            tag_keys(&s),
            [
                "otel.scope.name",
                "otel.scope.version",
                "http.method",
                "n",
                "span.kind",
                "otel.status_code",
                "error",
                "otel.status_description",
                "w3c.tracestate",
            ]
        );
        assert_eq!(
            tag(&s, "w3c.tracestate"),
            Some(&JaegerValue::Str("k=v".into()))
        );
        assert_eq!(
            tag(&s, "otel.scope.version"),
            Some(&JaegerValue::Str("1.2".into()))
        );
    }

    #[test]
    fn scope_tags_only_when_non_empty() {
        let rec = SpanRecord::new(
            resource("svc"),
            Arc::new(Scope {
                name: "lib".into(),
                ..Default::default()
            }),
            base_span(),
        );
        assert_eq!(tag_keys(&span_to_jaeger(&rec)), ["otel.scope.name"]);
        let rec = SpanRecord::new(
            resource("svc"),
            Arc::new(Scope {
                version: "9".into(),
                ..Default::default()
            }),
            base_span(),
        );
        assert_eq!(tag_keys(&span_to_jaeger(&rec)), ["otel.scope.version"]);
    }

    #[test]
    fn parent_comes_first_and_links_follow() {
        let other = TraceId::from_halves(7, 8);
        let mut sp = base_span();
        sp.parent_span_id = SpanId::from_u64(1);
        sp.links = vec![
            Link {
                trace_id: other,
                span_id: SpanId::from_u64(9),
                ..Default::default()
            },
            Link {
                trace_id: other,
                span_id: SpanId::from_u64(10),
                attributes: vec![KeyValue::str("opentracing.ref_type", "child_of")],
                ..Default::default()
            },
            Link {
                trace_id: other,
                span_id: SpanId::from_u64(11),
                attributes: vec![KeyValue::str("opentracing.ref_type", "follows_from")],
                ..Default::default()
            },
            Link {
                trace_id: other,
                span_id: SpanId::from_u64(12),
                // Not a string: Jaeger reads it as "" and falls back.
                attributes: vec![KeyValue::new("opentracing.ref_type", AnyValue::Int(0))],
                ..Default::default()
            },
        ];
        let s = span_to_jaeger(&record(sp));
        let got: Vec<(RefType, TraceId, u64)> = s
            .references
            .iter()
            .map(|r| (r.ref_type, r.trace_id, r.span_id.as_u64()))
            .collect();
        assert_eq!(
            got,
            vec![
                (RefType::ChildOf, TraceId::from_halves(0, 0x10), 1),
                (RefType::FollowsFrom, other, 9),
                (RefType::ChildOf, other, 10),
                (RefType::FollowsFrom, other, 11),
                (RefType::FollowsFrom, other, 12),
            ]
        );
    }

    #[test]
    fn root_span_without_links_has_no_references() {
        let s = span_to_jaeger(&record(base_span()));
        assert!(s.references.is_empty());
        let ui = trace_to_ui(&Trace {
            trace_id: TraceId::from_halves(0, 0x10),
            spans: vec![record(base_span())],
            warnings: vec![],
        });
        assert!(ui.spans[0].references.is_empty());
    }

    #[test]
    fn link_equal_to_parent_overrides_the_parent_reference_type() {
        let mut sp = base_span();
        sp.parent_span_id = SpanId::from_u64(1);
        sp.links = vec![Link {
            trace_id: sp.trace_id,
            span_id: SpanId::from_u64(1),
            ..Default::default()
        }];
        let s = span_to_jaeger(&record(sp.clone()));
        assert_eq!(s.references.len(), 1);
        assert_eq!(s.references[0].ref_type, RefType::FollowsFrom);
        assert_eq!(s.references[0].span_id, SpanId::from_u64(1));

        sp.links[0].attributes = vec![KeyValue::str("opentracing.ref_type", "child_of")];
        let s = span_to_jaeger(&record(sp.clone()));
        assert_eq!(s.references.len(), 1);
        assert_eq!(s.references[0].ref_type, RefType::ChildOf);

        // Same span ID in another trace is a separate reference.
        sp.links[0].trace_id = TraceId::from_halves(1, 1);
        let s = span_to_jaeger(&record(sp.clone()));
        assert_eq!(s.references.len(), 2);

        // Without a parent, a link is always added.
        sp.parent_span_id = SpanId::ZERO;
        sp.links[0].trace_id = sp.trace_id;
        let s = span_to_jaeger(&record(sp));
        assert_eq!(s.references.len(), 1);
        assert_eq!(s.references[0].ref_type, RefType::ChildOf);
    }

    #[test]
    fn events_become_logs_with_event_field_first() {
        let mut sp = base_span();
        sp.events = vec![
            Event {
                time_unix_nano: 1_000_002_999,
                name: "exception".into(),
                attributes: vec![KeyValue::str("exception.type", "E")],
                ..Default::default()
            },
            Event {
                time_unix_nano: 5,
                name: "named".into(),
                attributes: vec![KeyValue::str("x", "1"), KeyValue::str("event", "own")],
                ..Default::default()
            },
            Event {
                time_unix_nano: 6,
                name: String::new(),
                attributes: vec![KeyValue::new("k", AnyValue::Bool(false))],
                ..Default::default()
            },
        ];
        let s = span_to_jaeger(&record(sp));
        assert_eq!(s.logs.len(), 3);
        assert_eq!(s.logs[0].timestamp_unix_nano, 1_000_002_999);
        assert_eq!(
            s.logs[0].fields,
            vec![
                JaegerKeyValue::string("event", "exception"),
                JaegerKeyValue::string("exception.type", "E"),
            ]
        );
        assert_eq!(
            s.logs[1].fields,
            vec![
                JaegerKeyValue::string("x", "1"),
                JaegerKeyValue::string("event", "own")
            ]
        );
        assert_eq!(
            s.logs[2].fields,
            vec![JaegerKeyValue::new("k", JaegerValue::Bool(false))]
        );
        let ui = trace_to_ui(&Trace {
            trace_id: TraceId::ZERO,
            spans: vec![record(span_with_events())],
            warnings: vec![],
        });
        assert_eq!(ui.spans[0].logs[0].timestamp, 1_000_002);
    }

    fn span_with_events() -> Span {
        let mut sp = base_span();
        sp.events = vec![Event {
            time_unix_nano: 1_000_002_999,
            name: "e".into(),
            ..Default::default()
        }];
        sp
    }

    #[test]
    fn attribute_types_map_to_jaeger_types() {
        let mut sp = base_span();
        sp.attributes = vec![
            KeyValue::str("s", "v"),
            KeyValue::new("b", AnyValue::Bool(true)),
            KeyValue::new("i", AnyValue::Int(42)),
            KeyValue::new("big", AnyValue::Int(i64::MAX)),
            KeyValue::new("small", AnyValue::Int(-(1 << 53) - 1)),
            KeyValue::new("d", AnyValue::Double(0.25)),
            KeyValue::new("bytes", AnyValue::Bytes(vec![0, 0, 0x30, 0x39])),
            KeyValue::new(
                "map",
                AnyValue::KvList(vec![
                    KeyValue::str("a", "x"),
                    KeyValue::new("n", AnyValue::Int(1)),
                ]),
            ),
            KeyValue::new(
                "arr",
                AnyValue::Array(vec![AnyValue::Str("a".into()), AnyValue::Bool(false)]),
            ),
            KeyValue::new("empty", AnyValue::Empty),
        ];
        let s = span_to_jaeger(&record(sp));
        let got: Vec<serde_json::Value> = s.tags.iter().map(ui_value).collect();
        let want = serde_json::json!([
            {"key": "s", "type": "string", "value": "v"},
            {"key": "b", "type": "bool", "value": true},
            {"key": "i", "type": "int64", "value": 42},
            {"key": "big", "type": "int64", "value": "9223372036854775807"},
            {"key": "small", "type": "int64", "value": "-9007199254740993"},
            {"key": "d", "type": "float64", "value": 0.25},
            {"key": "bytes", "type": "binary", "value": "AAAwOQ=="},
            {"key": "map", "type": "string", "value": "{\"a\":\"x\",\"n\":1}"},
            {"key": "arr", "type": "string", "value": "[\"a\",false]"},
            {"key": "empty", "type": "string", "value": ""},
        ]);
        assert_eq!(serde_json::Value::Array(got), want);
    }

    #[test]
    fn trace_ids_print_16_or_32_hex_characters() {
        let mut short = base_span();
        short.trace_id = TraceId::from_halves(0, 0xabc);
        short.parent_span_id = SpanId::from_u64(0xff);
        let mut long = base_span();
        long.trace_id = TraceId::from_halves(1, 0xabc);
        long.parent_span_id = SpanId::from_u64(0xff);

        let ui = trace_to_ui(&Trace {
            trace_id: short.trace_id,
            spans: vec![record(short)],
            warnings: vec![],
        });
        assert_eq!(ui.trace_id, "0000000000000abc");
        assert_eq!(ui.spans[0].trace_id, "0000000000000abc");
        assert_eq!(ui.spans[0].span_id, "0000000000000002");
        assert_eq!(ui.spans[0].references[0].trace_id, "0000000000000abc");
        assert_eq!(ui.spans[0].references[0].span_id, "00000000000000ff");

        let ui = trace_to_ui(&Trace {
            trace_id: long.trace_id,
            spans: vec![record(long)],
            warnings: vec![],
        });
        assert_eq!(ui.trace_id, "00000000000000010000000000000abc");
        assert_eq!(
            ui.spans[0].references[0].trace_id,
            "00000000000000010000000000000abc"
        );
    }

    #[test]
    fn times_are_truncated_to_microseconds() {
        let ui = trace_to_ui(&Trace {
            trace_id: TraceId::ZERO,
            spans: vec![record(base_span())],
            warnings: vec![],
        });
        // start 1_000_001_999 ns, end 1_000_004_998 ns: duration 2_999 ns.
        assert_eq!(ui.spans[0].start_time, 1_000_001);
        assert_eq!(ui.spans[0].duration, 2);
        assert_eq!(ui.spans[0].flags, 0);

        let mut sp = base_span();
        sp.end_time_unix_nano = 0;
        let s = span_to_jaeger(&record(sp));
        assert!(s.duration_nanos < 0);
    }

    #[test]
    fn processes_are_deduplicated_and_numbered_in_first_seen_order() {
        let a = resource("a");
        let a_again = resource("a"); // equal value, different Arc
        let b = resource("b");
        let scope = Arc::new(Scope::default());
        let mk = |r: &Arc<Resource>, id: u64| {
            let mut sp = base_span();
            sp.span_id = SpanId::from_u64(id);
            SpanRecord::new(r.clone(), scope.clone(), sp)
        };
        let trace = Trace {
            trace_id: TraceId::from_halves(0, 0x10),
            spans: vec![mk(&b, 1), mk(&a, 2), mk(&a_again, 3), mk(&b, 4)],
            warnings: vec![],
        };
        let ui = trace_to_ui(&trace);
        let ids: Vec<&str> = ui.spans.iter().map(|s| s.process_id.as_str()).collect();
        assert_eq!(ids, ["p1", "p2", "p2", "p1"]);
        assert_eq!(ui.processes.len(), 2);
        assert_eq!(ui.processes.get("p1").unwrap().service_name, "b");
        assert_eq!(ui.processes.get("p2").unwrap().service_name, "a");
        assert_eq!(ui.processes.get("p2").unwrap().tags[0].key, "host.name");

        // Same service, different tags: two processes.
        let c = Arc::new(Resource {
            attributes: vec![
                KeyValue::str("service.name", "a"),
                KeyValue::str("host.name", "h2"),
            ],
            ..Default::default()
        });
        let ui = trace_to_ui(&Trace {
            trace_id: TraceId::ZERO,
            spans: vec![mk(&a, 1), mk(&c, 2)],
            warnings: vec![],
        });
        assert_eq!(ui.processes.len(), 2);
    }

    #[test]
    fn jaeger_warnings_attribute_becomes_span_warnings_not_a_tag() {
        let mut sp = base_span();
        sp.attributes = vec![
            KeyValue::str("a", "1"),
            KeyValue::new(
                keys::JAEGER_WARNINGS,
                AnyValue::Array(vec![AnyValue::Str("w1".into()), AnyValue::Str("w2".into())]),
            ),
        ];
        let mut rec = record(sp);
        rec.warnings = vec!["adjusted".into()];
        let trace = Trace {
            trace_id: TraceId::ZERO,
            spans: vec![rec, record(base_span())],
            warnings: vec!["trace warning".into()],
        };
        let ui = trace_to_ui(&trace);
        assert_eq!(ui.spans[0].tags.len(), 1);
        assert_eq!(ui.spans[0].tags[0].key, "a");
        assert_eq!(
            ui.spans[0].warnings,
            Some(vec!["w1".to_string(), "w2".into(), "adjusted".into()])
        );
        assert_eq!(ui.spans[1].warnings, None);
        assert_eq!(ui.warnings, Some(vec!["trace warning".to_string()]));

        let no_warnings = trace_to_ui(&Trace {
            trace_id: TraceId::ZERO,
            spans: vec![record(base_span())],
            warnings: vec![],
        });
        let json: serde_json::Value =
            serde_json::from_slice(&gojson::to_vec(&no_warnings, false)).unwrap();
        assert_eq!(json["warnings"], serde_json::Value::Null);
        assert_eq!(json["spans"][0]["warnings"], serde_json::Value::Null);
    }

    #[test]
    fn end_to_end_bytes_for_a_small_otlp_trace() {
        let mut sp = base_span();
        sp.kind = SpanKind::Client;
        sp.attributes = vec![KeyValue::new("big", AnyValue::Int(1 << 60))];
        let rec = SpanRecord::new(
            Arc::new(Resource {
                attributes: vec![KeyValue::str("service.name", "<svc>")],
                ..Default::default()
            }),
            Arc::new(Scope::default()),
            sp,
        );
        let ui = trace_to_ui(&Trace {
            trace_id: TraceId::from_halves(0, 0x10),
            spans: vec![rec],
            warnings: vec![],
        });
        let got = String::from_utf8(gojson::to_vec(&ui, false)).unwrap();
        let want = concat!(
            r#"{"traceID":"0000000000000010","spans":[{"traceID":"0000000000000010","#,
            r#""spanID":"0000000000000002","operationName":"op","references":[],"#,
            r#""startTime":1000001,"duration":2,"tags":["#,
            r#"{"key":"big","type":"int64","value":"1152921504606846976"},"#,
            r#"{"key":"span.kind","type":"string","value":"client"}],"#,
            r#""logs":[],"processID":"p1","warnings":null}],"#,
            r#""processes":{"p1":{"serviceName":"\u003csvc\u003e","tags":[]}},"warnings":null}"#
        );
        assert_eq!(got, want);
    }
}
