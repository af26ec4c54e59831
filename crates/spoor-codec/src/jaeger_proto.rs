//! Jaeger api_v2 protobuf (`jaeger.api_v2.Batch`, as carried by
//! `CollectorService/PostSpans` on 14250) to and from the model.
//!
//! IDs: a trace ID is 16 bytes big-endian (8 bytes are accepted as the low
//! half), a span ID 8 bytes; an absent ID is zero (and then refused by the
//! mapping). A span's own `process` takes priority over the batch's. Decoded
//! batches go through [`crate::jaeger::batch_to_model_as`] with the api_v2
//! rules ([`JaegerWire::Proto`]).

use std::sync::Arc;

use prost::Message;
use spoor_model::{SpanBatch, SpanId, SpanRecord, TraceId, UnixNanos};
use spoor_proto::jaeger::api_v2;
use spoor_proto::prost_types::{Duration, Timestamp};

use crate::jaeger::{
    JaegerBatch, JaegerKeyValue, JaegerLog, JaegerProcess, JaegerRef, JaegerSpan, JaegerValue,
    JaegerWire, RefType, batch_to_model_reported, model_to_jaeger_batches,
};
use crate::report::reason_of;
use crate::{DecodeError, DecodeReport};

/// Decodes a `PostSpans` request into the model, leaving out what cannot be
/// used (see [`from_post_spans_reported`]).
pub fn from_post_spans(req: api_v2::PostSpansRequest) -> Result<SpanBatch, DecodeError> {
    Ok(from_post_spans_reported(req, &mut DecodeReport::new()))
}

/// Decodes a `PostSpans` request into the model: a span whose trace or span
/// ID is missing, zero or of the wrong length is left out alone, a reference
/// with an ID of the wrong length is dropped, each counted in `report`.
pub fn from_post_spans_reported(
    req: api_v2::PostSpansRequest,
    report: &mut DecodeReport,
) -> SpanBatch {
    let batch = req.batch.unwrap_or_default();
    let batch = proto_to_jaeger_batch_reported(batch, report);
    batch_to_model_reported(batch, JaegerWire::Proto, report)
}

/// Decodes the protobuf bytes of a `PostSpansRequest` into the model.
pub fn decode_post_spans(bytes: &[u8]) -> Result<SpanBatch, DecodeError> {
    decode_post_spans_reported(bytes, &mut DecodeReport::new())
}

/// [`decode_post_spans`] counting what was left out in `report` (see
/// [`from_post_spans_reported`]); fails only when the bytes are not a
/// `PostSpansRequest`.
pub fn decode_post_spans_reported(
    bytes: &[u8],
    report: &mut DecodeReport,
) -> Result<SpanBatch, DecodeError> {
    let req = api_v2::PostSpansRequest::decode(bytes)
        .map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    Ok(from_post_spans_reported(req, report))
}

/// Encodes `spans` as the protobuf bytes of a `PostSpansRequest`
/// ([`to_post_spans`]).
pub fn encode_post_spans(spans: &[SpanRecord]) -> Vec<u8> {
    to_post_spans(spans).encode_to_vec()
}

/// Builds a `PostSpans` request carrying `spans`. When the spans share one
/// resource, its process is the batch's; otherwise every span carries its
/// own process and the batch has none (both forms are what Jaeger accepts).
pub fn to_post_spans(spans: &[SpanRecord]) -> api_v2::PostSpansRequest {
    let mut batches = model_to_jaeger_batches(spans);
    let batch = if batches.len() == 1 {
        batches
            .pop()
            .map(|b| jaeger_batch_to_proto(&b))
            .unwrap_or_default()
    } else {
        api_v2::Batch {
            spans: to_query_spans(spans),
            process: None,
        }
    };
    api_v2::PostSpansRequest { batch: Some(batch) }
}

/// `spans` as api_v2 spans, each carrying its own process: what Jaeger's
/// gRPC query service (`SpansResponseChunk`) returns.
pub fn to_query_spans(spans: &[SpanRecord]) -> Vec<api_v2::Span> {
    model_to_jaeger_batches(spans)
        .iter()
        .flat_map(|b| b.spans.iter())
        .map(|s| {
            let mut span = span_to_proto(s);
            span.process = Some(process_to_proto(&s.process));
            span
        })
        .collect()
}

/// Converts an api_v2 batch to Jaeger's model, attaching to each span its
/// own process or the batch's; spans with unusable IDs are left out (see
/// [`proto_to_jaeger_batch_reported`]).
pub fn proto_to_jaeger_batch(batch: api_v2::Batch) -> Result<JaegerBatch, DecodeError> {
    Ok(proto_to_jaeger_batch_reported(
        batch,
        &mut DecodeReport::new(),
    ))
}

/// [`proto_to_jaeger_batch`], counting in `report` the spans left out (a
/// trace or span ID of the wrong length) and references dropped.
pub fn proto_to_jaeger_batch_reported(
    batch: api_v2::Batch,
    report: &mut DecodeReport,
) -> JaegerBatch {
    let process = batch.process.map(process_from_proto);
    let shared = Arc::new(process.clone().unwrap_or_default());
    let mut spans = Vec::with_capacity(batch.spans.len());
    for (i, span) in batch.spans.into_iter().enumerate() {
        match span_from_proto(span, &shared, i, report) {
            Ok(span) => spans.push(span),
            Err(e) => report.reject_span(reason_of(&e), || e.to_string()),
        }
    }
    JaegerBatch { process, spans }
}

/// Converts Jaeger's model to an api_v2 batch: the batch process (or the
/// first span's) at batch level, none on the spans. This is how an agent
/// forwards a Thrift batch over gRPC without going through the model.
pub fn jaeger_batch_to_proto(batch: &JaegerBatch) -> api_v2::Batch {
    let process = batch
        .process
        .as_ref()
        .or_else(|| batch.spans.first().map(|s| s.process.as_ref()))
        .map(process_to_proto);
    api_v2::Batch {
        spans: batch.spans.iter().map(span_to_proto).collect(),
        process,
    }
}

fn trace_id_from_bytes(b: &[u8], field: impl Fn() -> String) -> Result<TraceId, DecodeError> {
    match b.len() {
        0 => Ok(TraceId::ZERO),
        8 => {
            let mut low = [0u8; 8];
            low.copy_from_slice(b);
            Ok(TraceId::from_halves(0, u64::from_be_bytes(low)))
        }
        16 => TraceId::from_slice(b).map_err(|e| DecodeError::invalid(field(), e.to_string())),
        n => Err(DecodeError::invalid(
            field(),
            format!("trace ID must be 16 or 8 bytes, got {n}"),
        )),
    }
}

fn span_id_from_bytes(b: &[u8], field: impl Fn() -> String) -> Result<SpanId, DecodeError> {
    if b.is_empty() {
        return Ok(SpanId::ZERO);
    }
    SpanId::from_slice(b).map_err(|e| DecodeError::invalid(field(), e.to_string()))
}

/// Nanoseconds since the epoch; times before it become 0.
fn timestamp_nanos(ts: Option<Timestamp>) -> UnixNanos {
    let Some(ts) = ts else { return 0 };
    let nanos = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
    u64::try_from(nanos.max(0)).unwrap_or(u64::MAX)
}

fn duration_nanos(d: Option<Duration>) -> i64 {
    let Some(d) = d else { return 0 };
    let nanos = i128::from(d.seconds) * 1_000_000_000 + i128::from(d.nanos);
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

fn key_value_from_proto(kv: api_v2::KeyValue) -> JaegerKeyValue {
    let value = match api_v2::ValueType::try_from(kv.v_type) {
        Ok(api_v2::ValueType::String) => JaegerValue::Str(kv.v_str),
        Ok(api_v2::ValueType::Bool) => JaegerValue::Bool(kv.v_bool),
        Ok(api_v2::ValueType::Int64) => JaegerValue::Int64(kv.v_int64),
        Ok(api_v2::ValueType::Float64) => JaegerValue::Float64(kv.v_float64),
        Ok(api_v2::ValueType::Binary) => JaegerValue::Binary(kv.v_binary),
        // contrib formats the enum with %q; Go names an unknown value by its number.
        Err(_) => JaegerValue::Str(format!("<Unknown Jaeger TagType \"{}\">", kv.v_type)),
    };
    JaegerKeyValue { key: kv.key, value }
}

fn process_from_proto(p: api_v2::Process) -> JaegerProcess {
    JaegerProcess {
        service_name: p.service_name,
        tags: p.tags.into_iter().map(key_value_from_proto).collect(),
    }
}

fn span_from_proto(
    span: api_v2::Span,
    batch_process: &Arc<JaegerProcess>,
    index: usize,
    report: &mut DecodeReport,
) -> Result<JaegerSpan, DecodeError> {
    let trace_id = trace_id_from_bytes(&span.trace_id, || format!("spans[{index}].traceId"))?;
    let span_id = span_id_from_bytes(&span.span_id, || format!("spans[{index}].spanId"))?;
    let mut references = Vec::with_capacity(span.references.len());
    for (j, r) in span.references.into_iter().enumerate() {
        let ids = trace_id_from_bytes(&r.trace_id, || {
            format!("spans[{index}].references[{j}].traceId")
        })
        .and_then(|t| {
            Ok((
                t,
                span_id_from_bytes(&r.span_id, || {
                    format!("spans[{index}].references[{j}].spanId")
                })?,
            ))
        });
        match ids {
            Ok((trace_id, span_id)) => references.push(JaegerRef {
                ref_type: match api_v2::SpanRefType::try_from(r.ref_type) {
                    Ok(api_v2::SpanRefType::ChildOf) => RefType::ChildOf,
                    _ => RefType::FollowsFrom,
                },
                trace_id,
                span_id,
            }),
            Err(e) => report.drop_field("reference", || e.to_string()),
        }
    }
    let process = match span.process {
        Some(p) => Arc::new(process_from_proto(p)),
        None => batch_process.clone(),
    };
    Ok(JaegerSpan {
        trace_id,
        span_id,
        operation_name: span.operation_name,
        references,
        flags: span.flags,
        start_time_unix_nano: timestamp_nanos(span.start_time),
        duration_nanos: duration_nanos(span.duration),
        tags: span.tags.into_iter().map(key_value_from_proto).collect(),
        logs: span
            .logs
            .into_iter()
            .map(|l| JaegerLog {
                timestamp_unix_nano: timestamp_nanos(l.timestamp),
                fields: l.fields.into_iter().map(key_value_from_proto).collect(),
            })
            .collect(),
        process,
        warnings: span.warnings,
    })
}

fn key_value_to_proto(kv: &JaegerKeyValue) -> api_v2::KeyValue {
    let mut out = api_v2::KeyValue {
        key: kv.key.clone(),
        ..Default::default()
    };
    match &kv.value {
        JaegerValue::Str(s) => {
            out.v_type = api_v2::ValueType::String as i32;
            out.v_str = s.clone();
        }
        JaegerValue::Bool(b) => {
            out.v_type = api_v2::ValueType::Bool as i32;
            out.v_bool = *b;
        }
        JaegerValue::Int64(i) => {
            out.v_type = api_v2::ValueType::Int64 as i32;
            out.v_int64 = *i;
        }
        JaegerValue::Float64(d) => {
            out.v_type = api_v2::ValueType::Float64 as i32;
            out.v_float64 = *d;
        }
        JaegerValue::Binary(b) => {
            out.v_type = api_v2::ValueType::Binary as i32;
            out.v_binary = b.clone();
        }
    }
    out
}

fn process_to_proto(p: &JaegerProcess) -> api_v2::Process {
    api_v2::Process {
        service_name: p.service_name.clone(),
        tags: p.tags.iter().map(key_value_to_proto).collect(),
    }
}

fn timestamp(nanos: UnixNanos) -> Timestamp {
    Timestamp {
        seconds: i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX),
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

fn duration(nanos: i64) -> Duration {
    Duration {
        seconds: nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

fn span_to_proto(s: &JaegerSpan) -> api_v2::Span {
    api_v2::Span {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        operation_name: s.operation_name.clone(),
        references: s
            .references
            .iter()
            .map(|r| api_v2::SpanRef {
                trace_id: r.trace_id.0.to_vec(),
                span_id: r.span_id.0.to_vec(),
                ref_type: match r.ref_type {
                    RefType::ChildOf => api_v2::SpanRefType::ChildOf as i32,
                    RefType::FollowsFrom => api_v2::SpanRefType::FollowsFrom as i32,
                },
            })
            .collect(),
        flags: s.flags,
        start_time: Some(timestamp(s.start_time_unix_nano)),
        duration: Some(duration(s.duration_nanos)),
        tags: s.tags.iter().map(key_value_to_proto).collect(),
        logs: s
            .logs
            .iter()
            .map(|l| api_v2::Log {
                timestamp: Some(timestamp(l.timestamp_unix_nano)),
                fields: l.fields.iter().map(key_value_to_proto).collect(),
            })
            .collect(),
        process: None,
        process_id: String::new(),
        warnings: s.warnings.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use spoor_model::{
        AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanKind, Status, StatusCode,
        find_attr,
    };

    fn kv_str(k: &str, v: &str) -> api_v2::KeyValue {
        api_v2::KeyValue {
            key: k.into(),
            v_type: api_v2::ValueType::String as i32,
            v_str: v.into(),
            ..Default::default()
        }
    }

    fn otel_exporter_like_span(id: u8, parent: Option<u8>) -> api_v2::Span {
        let mut trace_id = vec![0u8; 16];
        trace_id[0] = 0xaa;
        trace_id[15] = 0x01;
        api_v2::Span {
            trace_id: trace_id.clone(),
            span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
            operation_name: format!("op{id}"),
            references: parent
                .map(|p| {
                    vec![api_v2::SpanRef {
                        trace_id,
                        span_id: vec![0, 0, 0, 0, 0, 0, 0, p],
                        ref_type: api_v2::SpanRefType::ChildOf as i32,
                    }]
                })
                .unwrap_or_default(),
            flags: 1,
            start_time: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_789,
            }),
            duration: Some(Duration {
                seconds: 1,
                nanos: 500,
            }),
            tags: vec![
                kv_str("otel.scope.name", "my.lib"),
                kv_str("otel.scope.version", "0.1"),
                kv_str("span.kind", "client"),
                kv_str("otel.status_code", "ERROR"),
                api_v2::KeyValue {
                    key: "error".into(),
                    v_type: api_v2::ValueType::Bool as i32,
                    v_bool: true,
                    ..Default::default()
                },
                kv_str("otel.status_description", "bad thing"),
                api_v2::KeyValue {
                    key: "retries".into(),
                    v_type: api_v2::ValueType::Int64 as i32,
                    v_int64: 3,
                    ..Default::default()
                },
            ],
            logs: vec![api_v2::Log {
                timestamp: Some(Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 200_000_000,
                }),
                fields: vec![kv_str("event", "exception"), kv_str("exception.type", "E")],
            }],
            process: None,
            process_id: String::new(),
            warnings: vec![],
        }
    }

    fn process(service: &str) -> api_v2::Process {
        api_v2::Process {
            service_name: service.into(),
            tags: vec![kv_str("hostname", "h")],
        }
    }

    #[test]
    fn post_spans_with_a_batch_process() {
        let req = api_v2::PostSpansRequest {
            batch: Some(api_v2::Batch {
                spans: vec![
                    otel_exporter_like_span(1, None),
                    otel_exporter_like_span(2, Some(1)),
                ],
                process: Some(process("svc")),
            }),
        };
        // Through the wire bytes, as gRPC delivers it.
        let req = api_v2::PostSpansRequest::decode(req.encode_to_vec().as_slice()).unwrap();
        let batch = from_post_spans(req).unwrap();
        assert_eq!(batch.spans.len(), 2);
        let (a, b) = (&batch.spans[0], &batch.spans[1]);
        assert!(Arc::ptr_eq(&a.resource, &b.resource));
        assert!(Arc::ptr_eq(&a.scope, &b.scope));
        assert_eq!(a.service_name(), "svc");
        assert_eq!(
            find_attr(&a.resource.attributes, "host.name"),
            Some(&AnyValue::Str("h".into()))
        );
        assert_eq!(a.scope.name, "my.lib");
        assert_eq!(a.scope.version, "0.1");
        assert_eq!(a.span.trace_id.high(), 0xaa00_0000_0000_0000);
        assert_eq!(a.span.trace_id.low(), 1);
        assert_eq!(a.span.start_time_unix_nano, 1_700_000_000_123_456_789);
        assert_eq!(a.span.end_time_unix_nano, 1_700_000_001_123_457_289);
        assert_eq!(a.span.kind, SpanKind::Client);
        assert_eq!(a.span.status.code, StatusCode::Error);
        assert_eq!(a.span.status.message, "bad thing");
        assert_eq!(
            a.span.attributes,
            vec![KeyValue::new("retries", AnyValue::Int(3))]
        );
        assert_eq!(a.span.events[0].name, "exception");
        assert_eq!(a.span.events[0].time_unix_nano, 1_700_000_000_200_000_000);
        assert!(a.span.parent_span_id.is_zero());
        assert_eq!(b.span.parent_span_id.as_u64(), 1);
        assert!(b.span.links.is_empty());
    }

    #[test]
    fn span_processes_override_the_batch_process() {
        let mut s1 = otel_exporter_like_span(1, None);
        s1.process = Some(process("a"));
        let mut s2 = otel_exporter_like_span(2, None);
        s2.process = Some(process("b"));
        let mut s3 = otel_exporter_like_span(3, None);
        s3.process = Some(process("a"));
        let s4 = otel_exporter_like_span(4, None);
        let batch = from_post_spans(api_v2::PostSpansRequest {
            batch: Some(api_v2::Batch {
                spans: vec![s1, s2, s3, s4],
                process: None,
            }),
        })
        .unwrap();
        let names: Vec<&str> = batch.spans.iter().map(|r| r.service_name()).collect();
        assert_eq!(names, ["a", "b", "a", "OTLPResourceNoServiceName"]);
        assert!(Arc::ptr_eq(
            &batch.spans[0].resource,
            &batch.spans[2].resource
        ));
        assert!(batch.spans[3].resource.attributes.is_empty());
    }

    #[test]
    fn ids_of_other_lengths_are_invalid_and_eight_byte_trace_ids_are_low_halves() {
        let mut s = otel_exporter_like_span(1, None);
        s.trace_id = vec![0, 0, 0, 0, 0, 0, 0, 9];
        let batch = from_post_spans(api_v2::PostSpansRequest {
            batch: Some(api_v2::Batch {
                spans: vec![s],
                process: None,
            }),
        })
        .unwrap();
        assert_eq!(batch.spans[0].span.trace_id, TraceId::from_halves(0, 9));

        // A span with an ID of another length is left out alone.
        for (trace, span, why) in [
            (vec![1u8; 15], vec![1u8; 8], crate::reason::INVALID_TRACE_ID),
            (vec![1u8; 16], vec![1u8; 4], crate::reason::INVALID_SPAN_ID),
        ] {
            let mut s = otel_exporter_like_span(1, None);
            s.trace_id = trace;
            s.span_id = span;
            let mut report = DecodeReport::new();
            let batch = from_post_spans_reported(
                api_v2::PostSpansRequest {
                    batch: Some(api_v2::Batch {
                        spans: vec![otel_exporter_like_span(2, None), s],
                        process: None,
                    }),
                },
                &mut report,
            );
            assert_eq!(batch.len(), 1);
            assert_eq!(report.rejected_by_reason(), &[(why, 1)]);
            assert!(
                report.messages()[0].starts_with("invalid spans[1]."),
                "{:?}",
                report.messages()
            );
        }
        // Absent IDs are zero, which the mapping leaves out.
        let mut s = otel_exporter_like_span(1, None);
        s.trace_id.clear();
        let mut report = DecodeReport::new();
        let batch = from_post_spans_reported(
            api_v2::PostSpansRequest {
                batch: Some(api_v2::Batch {
                    spans: vec![s],
                    process: None,
                }),
            },
            &mut report,
        );
        assert!(batch.is_empty());
        assert_eq!(
            report.rejected_by_reason(),
            &[(crate::reason::INVALID_TRACE_ID, 1)]
        );
        // A reference with an ID of another length is dropped, the span kept.
        let mut s = otel_exporter_like_span(1, None);
        s.references = vec![api_v2::SpanRef {
            trace_id: vec![1; 3],
            span_id: vec![1; 8],
            ref_type: 0,
        }];
        let mut report = DecodeReport::new();
        let batch = from_post_spans_reported(
            api_v2::PostSpansRequest {
                batch: Some(api_v2::Batch {
                    spans: vec![s],
                    process: None,
                }),
            },
            &mut report,
        );
        assert_eq!(batch.len(), 1);
        assert_eq!(report.dropped_by_field(), &[("reference", 1)]);
        // An empty request is an empty batch.
        assert!(
            from_post_spans(api_v2::PostSpansRequest::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bytes_decode_and_garbage_is_a_protobuf_error() {
        let req = api_v2::PostSpansRequest {
            batch: Some(api_v2::Batch {
                spans: vec![otel_exporter_like_span(1, None)],
                process: Some(process("svc")),
            }),
        };
        let batch = decode_post_spans(&req.encode_to_vec()).unwrap();
        assert_eq!(batch.spans.len(), 1);
        let again = decode_post_spans(&encode_post_spans(&batch.spans)).unwrap();
        assert_eq!(again.spans[0].span, batch.spans[0].span);
        assert!(matches!(
            decode_post_spans(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(DecodeError::Protobuf(_))
        ));
    }

    #[test]
    fn unknown_value_types_become_a_marker_string() {
        let kv = key_value_from_proto(api_v2::KeyValue {
            key: "k".into(),
            v_type: 9,
            ..Default::default()
        });
        assert_eq!(
            kv.value,
            JaegerValue::Str("<Unknown Jaeger TagType \"9\">".into())
        );
    }

    #[test]
    fn model_round_trips_through_post_spans() {
        let res_a = Arc::new(Resource {
            attributes: vec![
                KeyValue::str("service.name", "a"),
                KeyValue::new("pid", AnyValue::Int(7)),
            ],
            ..Default::default()
        });
        let res_b = Arc::new(Resource {
            attributes: vec![KeyValue::str("service.name", "b")],
            ..Default::default()
        });
        let scope = Arc::new(Scope {
            name: "s".into(),
            version: "1".into(),
            ..Default::default()
        });
        let t = TraceId::from_halves(0x10, 0x20);
        let span = |id: u64, parent: u64| Span {
            trace_id: t,
            span_id: SpanId::from_u64(id),
            parent_span_id: SpanId::from_u64(parent),
            flags: 1,
            name: format!("op{id}"),
            kind: SpanKind::Server,
            start_time_unix_nano: 1_700_000_000_000_000_123,
            end_time_unix_nano: 1_700_000_000_500_000_123,
            attributes: vec![KeyValue::new("b", AnyValue::Bytes(vec![1]))],
            events: vec![Event {
                time_unix_nano: 1_700_000_000_100_000_000,
                name: "e".into(),
                ..Default::default()
            }],
            links: vec![Link {
                trace_id: TraceId::from_halves(1, 2),
                span_id: SpanId::from_u64(3),
                attributes: vec![KeyValue::str("opentracing.ref_type", "child_of")],
                ..Default::default()
            }],
            status: Status {
                code: StatusCode::Ok,
                message: String::new(),
            },
            ..Default::default()
        };
        let records = vec![
            SpanRecord::new(res_a.clone(), scope.clone(), span(1, 0)),
            SpanRecord::new(res_b.clone(), scope.clone(), span(2, 1)),
        ];
        // Two resources: processes travel on the spans.
        let req = to_post_spans(&records);
        let batch = req.batch.as_ref().unwrap();
        assert!(batch.process.is_none());
        assert!(batch.spans.iter().all(|s| s.process.is_some()));
        assert_eq!(batch.spans[0].trace_id.len(), 16);
        assert_eq!(batch.spans[0].span_id.len(), 8);
        let back = from_post_spans(req).unwrap();
        for (got, want) in back.spans.iter().zip(&records) {
            assert_eq!(got.span, want.span);
            assert_eq!(*got.resource, *want.resource);
            assert_eq!(*got.scope, *want.scope);
        }
        // One resource: the process is the batch's.
        let req = to_post_spans(&records[..1]);
        let batch = req.batch.as_ref().unwrap();
        assert_eq!(batch.process.as_ref().unwrap().service_name, "a");
        assert!(batch.spans[0].process.is_none());
        let back = from_post_spans(req).unwrap();
        assert_eq!(back.spans[0].span, records[0].span);
    }

    #[test]
    fn thrift_batches_forward_to_api_v2_unchanged() {
        let p = Arc::new(JaegerProcess {
            service_name: "svc".into(),
            tags: vec![JaegerKeyValue::new("n", JaegerValue::Float64(1.5))],
        });
        let jb = JaegerBatch {
            process: Some((*p).clone()),
            spans: vec![JaegerSpan {
                trace_id: TraceId::from_halves(0, 5),
                span_id: SpanId::from_u64(6),
                operation_name: "op".into(),
                references: vec![JaegerRef {
                    ref_type: RefType::FollowsFrom,
                    trace_id: TraceId::from_halves(0, 5),
                    span_id: SpanId::from_u64(1),
                }],
                flags: 3,
                start_time_unix_nano: 1_000_000,
                duration_nanos: 2_000,
                tags: vec![JaegerKeyValue::new("x", JaegerValue::Binary(vec![0]))],
                logs: vec![JaegerLog {
                    timestamp_unix_nano: 1_001_000,
                    fields: vec![JaegerKeyValue::string("event", "e")],
                }],
                process: p,
                warnings: vec![],
            }],
        };
        let proto = jaeger_batch_to_proto(&jb);
        assert_eq!(proto.spans[0].flags, 3);
        assert_eq!(proto_to_jaeger_batch(proto).unwrap(), jb);
    }

    #[test]
    fn negative_and_huge_times_do_not_panic() {
        let mut s = otel_exporter_like_span(1, None);
        s.start_time = Some(Timestamp {
            seconds: i64::MIN,
            nanos: -1,
        });
        s.duration = Some(Duration {
            seconds: i64::MAX,
            nanos: 999_999_999,
        });
        s.logs[0].timestamp = Some(Timestamp {
            seconds: i64::MAX,
            nanos: i32::MAX,
        });
        let batch = from_post_spans(api_v2::PostSpansRequest {
            batch: Some(api_v2::Batch {
                spans: vec![s],
                process: None,
            }),
        })
        .unwrap();
        let span = &batch.spans[0].span;
        assert_eq!(span.start_time_unix_nano, 0);
        assert_eq!(span.end_time_unix_nano, i64::MAX as u64);
        assert_eq!(span.events[0].time_unix_nano, u64::MAX);
    }
}
