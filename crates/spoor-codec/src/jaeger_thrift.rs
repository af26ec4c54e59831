//! Jaeger's Thrift payloads (`jaeger-idl` `thrift/jaeger.thrift` and
//! `thrift/agent.thrift`) to and from the model.
//!
//! - UDP 6831: `Agent.emitBatch(1: Batch)` as a compact-protocol message
//!   ([`decode_emit_batch_compact`]);
//! - UDP 6832: the same in the binary protocol ([`decode_emit_batch_binary`]);
//! - HTTP 14268 `POST /api/traces`: a bare binary-protocol `Batch`
//!   ([`decode_batch_binary`]).
//!
//! Structs are read field by field as Apache Thrift's Go code reads them: an
//! unknown field, or a known field of an unexpected type, is skipped; a
//! required field that never came makes the payload invalid, except a
//! span's trace and span IDs: without them the span alone is left out
//! (counted in the [`DecodeReport`] of the `*_reported` decoders). Decoded batches
//! go through [`crate::jaeger::batch_to_model`] (the Thrift rules). The
//! `read_*` functions stop at Jaeger's own model ([`JaegerBatch`]) for
//! callers that forward batches rather than store them.
//!
//! The encoders write what Jaeger clients write (all required fields,
//! optional lists only when not empty), for tests, tracegen and the agent.

use std::sync::Arc;

use spoor_model::{SpanBatch, SpanId, SpanRecord, TraceId};

use crate::jaeger::{
    JaegerBatch, JaegerKeyValue, JaegerLog, JaegerProcess, JaegerRef, JaegerSpan, JaegerValue,
    JaegerWire, RefType, batch_to_model_as, batch_to_model_reported, model_to_jaeger_batches,
};
use crate::thrift::{
    BinaryReader, BinaryWriter, CompactReader, CompactWriter, MessageType, TType, ThriftError,
    ThriftReader, ThriftWriter,
};
use crate::{DecodeError, DecodeReport};

/// The agent method Jaeger clients call.
pub const EMIT_BATCH: &str = "emitBatch";
/// The agent's Zipkin method, which Jaeger v2 does not serve.
pub const EMIT_ZIPKIN_BATCH: &str = "emitZipkinBatch";

/// Decodes an `Agent.emitBatch` datagram in the compact protocol (UDP 6831).
pub fn decode_emit_batch_compact(datagram: &[u8]) -> Result<SpanBatch, DecodeError> {
    batch_to_model_as(read_emit_batch_compact(datagram)?, JaegerWire::Thrift)
}

/// Decodes an `Agent.emitBatch` datagram in the binary protocol (UDP 6832).
pub fn decode_emit_batch_binary(datagram: &[u8]) -> Result<SpanBatch, DecodeError> {
    batch_to_model_as(read_emit_batch_binary(datagram)?, JaegerWire::Thrift)
}

/// Decodes a bare binary-protocol `Batch` (HTTP 14268 `POST /api/traces`).
pub fn decode_batch_binary(body: &[u8]) -> Result<SpanBatch, DecodeError> {
    batch_to_model_as(read_batch_binary(body)?, JaegerWire::Thrift)
}

/// [`decode_emit_batch_compact`], counting in `report` the spans left out
/// (a zero trace or span ID); fails only when the datagram is not an
/// `emitBatch` call.
pub fn decode_emit_batch_compact_reported(
    datagram: &[u8],
    report: &mut DecodeReport,
) -> Result<SpanBatch, DecodeError> {
    let batch = read_emit_batch_compact(datagram)?;
    Ok(batch_to_model_reported(batch, JaegerWire::Thrift, report))
}

/// [`decode_emit_batch_binary`], counting in `report` the spans left out.
pub fn decode_emit_batch_binary_reported(
    datagram: &[u8],
    report: &mut DecodeReport,
) -> Result<SpanBatch, DecodeError> {
    let batch = read_emit_batch_binary(datagram)?;
    Ok(batch_to_model_reported(batch, JaegerWire::Thrift, report))
}

/// [`decode_batch_binary`], counting in `report` the spans left out.
pub fn decode_batch_binary_reported(
    body: &[u8],
    report: &mut DecodeReport,
) -> Result<SpanBatch, DecodeError> {
    let batch = read_batch_binary(body)?;
    Ok(batch_to_model_reported(batch, JaegerWire::Thrift, report))
}

/// Reads a compact-protocol `emitBatch` datagram into Jaeger's model.
pub fn read_emit_batch_compact(datagram: &[u8]) -> Result<JaegerBatch, DecodeError> {
    Ok(read_emit_batch(&mut CompactReader::new(datagram))?)
}

/// Reads a binary-protocol `emitBatch` datagram into Jaeger's model.
pub fn read_emit_batch_binary(datagram: &[u8]) -> Result<JaegerBatch, DecodeError> {
    Ok(read_emit_batch(&mut BinaryReader::new(datagram))?)
}

/// Reads a bare binary-protocol `Batch` into Jaeger's model.
pub fn read_batch_binary(body: &[u8]) -> Result<JaegerBatch, DecodeError> {
    Ok(read_batch(&mut BinaryReader::new(body))?)
}

/// Encodes `batch` as a compact-protocol `emitBatch` message (UDP 6831).
pub fn encode_emit_batch_compact(batch: &JaegerBatch) -> Vec<u8> {
    let mut w = CompactWriter::new();
    write_emit_batch(&mut w, batch);
    w.into_bytes()
}

/// Encodes `batch` as a binary-protocol `emitBatch` message (UDP 6832).
pub fn encode_emit_batch_binary(batch: &JaegerBatch) -> Vec<u8> {
    let mut w = BinaryWriter::new();
    write_emit_batch(&mut w, batch);
    w.into_bytes()
}

/// Encodes `batch` as a bare binary-protocol `Batch` (HTTP 14268).
pub fn encode_batch_binary(batch: &JaegerBatch) -> Vec<u8> {
    let mut w = BinaryWriter::new();
    write_batch(&mut w, batch);
    w.into_bytes()
}

/// Encodes model spans as binary-protocol `Batch` bodies, one per resource
/// (see [`model_to_jaeger_batches`]).
pub fn encode_spans_binary(spans: &[SpanRecord]) -> Vec<Vec<u8>> {
    model_to_jaeger_batches(spans)
        .iter()
        .map(encode_batch_binary)
        .collect()
}

fn invalid(msg: impl Into<String>) -> ThriftError {
    ThriftError::Invalid(msg.into())
}

fn require<T>(v: Option<T>, what: &str) -> Result<T, ThriftError> {
    v.ok_or_else(|| invalid(format!("required field {what} is not set")))
}

/// Reads an `emitBatch` call: the message header, then the arguments struct
/// whose field 1 is the batch.
fn read_emit_batch<R: ThriftReader>(r: &mut R) -> Result<JaegerBatch, ThriftError> {
    let header = r.read_message_begin()?;
    if !matches!(header.message_type, MessageType::Call | MessageType::Oneway) {
        return Err(invalid(format!(
            "expected a call, got a {:?} message",
            header.message_type
        )));
    }
    match header.name.as_str() {
        EMIT_BATCH => {}
        EMIT_ZIPKIN_BATCH => {
            return Err(invalid(
                "emitZipkinBatch is not supported; send Jaeger batches or use the Zipkin receiver",
            ));
        }
        other => return Err(invalid(format!("unknown method {other:?}"))),
    }
    let mut batch = None;
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::Struct) => batch = Some(read_batch(r)?),
            _ => r.skip(t)?,
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;
    r.read_message_end()?;
    require(batch, "emitBatch.batch")
}

/// Reads a list header and checks its elements are structs.
fn read_struct_list<R: ThriftReader>(r: &mut R, what: &str) -> Result<usize, ThriftError> {
    let h = r.read_list_begin()?;
    if h.element_type != TType::Struct {
        return Err(invalid(format!(
            "{what} must be a list of structs, got {:?} elements",
            h.element_type
        )));
    }
    Ok(h.len)
}

fn read_batch<R: ThriftReader>(r: &mut R) -> Result<JaegerBatch, ThriftError> {
    let mut process = None;
    let mut spans = None;
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::Struct) => process = Some(read_process(r)?),
            (2, TType::List) => {
                let n = read_struct_list(r, "Batch.spans")?;
                let mut list = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    list.push(read_span(r)?);
                }
                r.read_list_end()?;
                spans = Some(list);
            }
            _ => r.skip(t)?,
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;
    let process = require(process, "Batch.process")?;
    let mut spans = require(spans, "Batch.spans")?;
    let shared = Arc::new(process.clone());
    for span in &mut spans {
        span.process = shared.clone();
    }
    Ok(JaegerBatch {
        process: Some(process),
        spans,
    })
}

fn read_process<R: ThriftReader>(r: &mut R) -> Result<JaegerProcess, ThriftError> {
    let mut service_name = None;
    let mut tags = Vec::new();
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::String) => service_name = Some(r.read_string()?),
            (2, TType::List) => tags = read_tags(r, "Process.tags")?,
            _ => r.skip(t)?,
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;
    Ok(JaegerProcess {
        service_name: require(service_name, "Process.serviceName")?,
        tags,
    })
}

fn read_tags<R: ThriftReader>(r: &mut R, what: &str) -> Result<Vec<JaegerKeyValue>, ThriftError> {
    let n = read_struct_list(r, what)?;
    let mut tags = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        tags.push(read_tag(r)?);
    }
    r.read_list_end()?;
    Ok(tags)
}

/// Thrift `TagType` values.
mod tag_type {
    pub const STRING: i32 = 0;
    pub const DOUBLE: i32 = 1;
    pub const BOOL: i32 = 2;
    pub const LONG: i32 = 3;
    pub const BINARY: i32 = 4;
}

fn read_tag<R: ThriftReader>(r: &mut R) -> Result<JaegerKeyValue, ThriftError> {
    let mut key = None;
    let mut v_type = None;
    let mut v_str = None;
    let mut v_double = None;
    let mut v_bool = None;
    let mut v_long = None;
    let mut v_binary = None;
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::String) => key = Some(r.read_string()?),
            (2, TType::I32) => v_type = Some(r.read_i32()?),
            (3, TType::String) => v_str = Some(r.read_string()?),
            (4, TType::Double) => v_double = Some(r.read_double()?),
            (5, TType::Bool) => v_bool = Some(r.read_bool()?),
            (6, TType::I64) => v_long = Some(r.read_i64()?),
            (7, TType::String) => v_binary = Some(r.read_binary()?),
            _ => r.skip(t)?,
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;
    let key = require(key, "Tag.key")?;
    let value = match require(v_type, "Tag.vType")? {
        tag_type::STRING => JaegerValue::Str(v_str.unwrap_or_default()),
        tag_type::DOUBLE => JaegerValue::Float64(v_double.unwrap_or_default()),
        tag_type::BOOL => JaegerValue::Bool(v_bool.unwrap_or_default()),
        tag_type::LONG => JaegerValue::Int64(v_long.unwrap_or_default()),
        tag_type::BINARY => JaegerValue::Binary(v_binary.unwrap_or_default()),
        // What contrib writes for a TagType its generated code cannot name.
        _ => JaegerValue::Str("<Unknown Jaeger TagType \"<UNSET>\">".to_string()),
    };
    Ok(JaegerKeyValue { key, value })
}

fn read_log<R: ThriftReader>(r: &mut R) -> Result<JaegerLog, ThriftError> {
    let mut timestamp = None;
    let mut fields = None;
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::I64) => timestamp = Some(r.read_i64()?),
            (2, TType::List) => fields = Some(read_tags(r, "Log.fields")?),
            _ => r.skip(t)?,
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;
    Ok(JaegerLog {
        timestamp_unix_nano: micros_to_nanos(require(timestamp, "Log.timestamp")?),
        fields: require(fields, "Log.fields")?,
    })
}

fn read_span_ref<R: ThriftReader>(r: &mut R) -> Result<JaegerRef, ThriftError> {
    let mut ref_type = None;
    let mut low = None;
    let mut high = None;
    let mut span_id = None;
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::I32) => ref_type = Some(r.read_i32()?),
            (2, TType::I64) => low = Some(r.read_i64()?),
            (3, TType::I64) => high = Some(r.read_i64()?),
            (4, TType::I64) => span_id = Some(r.read_i64()?),
            _ => r.skip(t)?,
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;
    let ref_type = match require(ref_type, "SpanRef.refType")? {
        0 => RefType::ChildOf,
        _ => RefType::FollowsFrom,
    };
    Ok(JaegerRef {
        ref_type,
        trace_id: TraceId::from_halves(
            require(high, "SpanRef.traceIdHigh")? as u64,
            require(low, "SpanRef.traceIdLow")? as u64,
        ),
        span_id: SpanId::from_u64(require(span_id, "SpanRef.spanId")? as u64),
    })
}

fn read_span<R: ThriftReader>(r: &mut R) -> Result<JaegerSpan, ThriftError> {
    let mut trace_id_low = None;
    let mut trace_id_high = None;
    let mut span_id = None;
    let mut parent_span_id = None;
    let mut operation_name = None;
    let mut references = Vec::new();
    let mut flags = None;
    let mut start_time = None;
    let mut duration = None;
    let mut tags = Vec::new();
    let mut logs = Vec::new();
    r.read_struct_begin()?;
    while let Some((t, id)) = r.read_field_begin()? {
        match (id, t) {
            (1, TType::I64) => trace_id_low = Some(r.read_i64()?),
            (2, TType::I64) => trace_id_high = Some(r.read_i64()?),
            (3, TType::I64) => span_id = Some(r.read_i64()?),
            (4, TType::I64) => parent_span_id = Some(r.read_i64()?),
            (5, TType::String) => operation_name = Some(r.read_string()?),
            (6, TType::List) => {
                let n = read_struct_list(r, "Span.references")?;
                references = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    references.push(read_span_ref(r)?);
                }
                r.read_list_end()?;
            }
            (7, TType::I32) => flags = Some(r.read_i32()?),
            (8, TType::I64) => start_time = Some(r.read_i64()?),
            (9, TType::I64) => duration = Some(r.read_i64()?),
            (10, TType::List) => tags = read_tags(r, "Span.tags")?,
            (11, TType::List) => {
                let n = read_struct_list(r, "Span.logs")?;
                logs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    logs.push(read_log(r)?);
                }
                r.read_list_end()?;
            }
            _ => r.skip(t)?,
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;

    // A span without its required IDs cannot be used, but it is not a reason
    // to lose its batch (ADR 0015): zero IDs make the mapping leave it out
    // alone, counted.
    let trace_id = match (trace_id_high, trace_id_low) {
        (Some(high), Some(low)) => TraceId::from_halves(high as u64, low as u64),
        _ => TraceId::ZERO,
    };
    let parent = require(parent_span_id, "Span.parentSpanId")? as u64;
    // parentSpanId takes priority over references (contrib's Thrift
    // translator): it becomes a leading CHILD_OF reference, unless the
    // references already start with it.
    if parent != 0 {
        let parent_ref = JaegerRef {
            ref_type: RefType::ChildOf,
            trace_id,
            span_id: SpanId::from_u64(parent),
        };
        if references.first() != Some(&parent_ref) {
            references.insert(0, parent_ref);
        }
    }
    Ok(JaegerSpan {
        trace_id,
        span_id: SpanId::from_u64(span_id.unwrap_or(0) as u64),
        operation_name: require(operation_name, "Span.operationName")?,
        references,
        flags: require(flags, "Span.flags")? as u32,
        start_time_unix_nano: micros_to_nanos(require(start_time, "Span.startTime")?),
        duration_nanos: require(duration, "Span.duration")?.saturating_mul(1000),
        tags,
        logs,
        process: Arc::default(),
        warnings: Vec::new(),
    })
}

/// Epoch microseconds to nanoseconds; negative times become 0.
fn micros_to_nanos(us: i64) -> u64 {
    u64::try_from(us).unwrap_or(0).saturating_mul(1000)
}

fn nanos_to_micros(ns: u64) -> i64 {
    i64::try_from(ns / 1000).unwrap_or(i64::MAX)
}

fn write_emit_batch<W: ThriftWriter>(w: &mut W, batch: &JaegerBatch) {
    w.write_message_begin(EMIT_BATCH, MessageType::Oneway, 0);
    w.write_struct_begin();
    w.write_field_begin(TType::Struct, 1);
    write_batch(w, batch);
    w.write_field_end();
    w.write_field_stop();
    w.write_struct_end();
    w.write_message_end();
}

fn write_batch<W: ThriftWriter>(w: &mut W, batch: &JaegerBatch) {
    let fallback = JaegerProcess::default();
    let process = batch
        .process
        .as_ref()
        .or_else(|| batch.spans.first().map(|s| s.process.as_ref()))
        .unwrap_or(&fallback);
    w.write_struct_begin();
    w.write_field_begin(TType::Struct, 1);
    write_process(w, process);
    w.write_field_end();
    w.write_field_begin(TType::List, 2);
    w.write_list_begin(TType::Struct, batch.spans.len());
    for span in &batch.spans {
        write_span(w, span);
    }
    w.write_list_end();
    w.write_field_end();
    w.write_field_stop();
    w.write_struct_end();
}

fn write_process<W: ThriftWriter>(w: &mut W, process: &JaegerProcess) {
    w.write_struct_begin();
    w.write_field_begin(TType::String, 1);
    w.write_string(&process.service_name);
    w.write_field_end();
    if !process.tags.is_empty() {
        w.write_field_begin(TType::List, 2);
        write_tags(w, &process.tags);
        w.write_field_end();
    }
    w.write_field_stop();
    w.write_struct_end();
}

fn write_tags<W: ThriftWriter>(w: &mut W, tags: &[JaegerKeyValue]) {
    w.write_list_begin(TType::Struct, tags.len());
    for tag in tags {
        write_tag(w, tag);
    }
    w.write_list_end();
}

fn write_tag<W: ThriftWriter>(w: &mut W, tag: &JaegerKeyValue) {
    w.write_struct_begin();
    w.write_field_begin(TType::String, 1);
    w.write_string(&tag.key);
    w.write_field_end();
    w.write_field_begin(TType::I32, 2);
    match &tag.value {
        JaegerValue::Str(s) => {
            w.write_i32(tag_type::STRING);
            w.write_field_begin(TType::String, 3);
            w.write_string(s);
        }
        JaegerValue::Float64(d) => {
            w.write_i32(tag_type::DOUBLE);
            w.write_field_begin(TType::Double, 4);
            w.write_double(*d);
        }
        JaegerValue::Bool(b) => {
            w.write_i32(tag_type::BOOL);
            w.write_field_begin(TType::Bool, 5);
            w.write_bool(*b);
        }
        JaegerValue::Int64(i) => {
            w.write_i32(tag_type::LONG);
            w.write_field_begin(TType::I64, 6);
            w.write_i64(*i);
        }
        JaegerValue::Binary(b) => {
            w.write_i32(tag_type::BINARY);
            w.write_field_begin(TType::String, 7);
            w.write_binary(b);
        }
    }
    w.write_field_end();
    w.write_field_stop();
    w.write_struct_end();
}

fn write_span<W: ThriftWriter>(w: &mut W, span: &JaegerSpan) {
    // A leading CHILD_OF reference in the same trace is the parentSpanId;
    // like Jaeger's Java client, the references still list it, so reading
    // the bytes back gives exactly these references.
    let parent = match span.references.first() {
        Some(first) if first.ref_type == RefType::ChildOf && first.trace_id == span.trace_id => {
            first.span_id.as_u64()
        }
        _ => 0,
    };
    let references = span.references.as_slice();
    w.write_struct_begin();
    w.write_field_begin(TType::I64, 1);
    w.write_i64(span.trace_id.low() as i64);
    w.write_field_begin(TType::I64, 2);
    w.write_i64(span.trace_id.high() as i64);
    w.write_field_begin(TType::I64, 3);
    w.write_i64(span.span_id.as_u64() as i64);
    w.write_field_begin(TType::I64, 4);
    w.write_i64(parent as i64);
    w.write_field_begin(TType::String, 5);
    w.write_string(&span.operation_name);
    if !references.is_empty() {
        w.write_field_begin(TType::List, 6);
        w.write_list_begin(TType::Struct, references.len());
        for r in references {
            w.write_struct_begin();
            w.write_field_begin(TType::I32, 1);
            w.write_i32(match r.ref_type {
                RefType::ChildOf => 0,
                RefType::FollowsFrom => 1,
            });
            w.write_field_begin(TType::I64, 2);
            w.write_i64(r.trace_id.low() as i64);
            w.write_field_begin(TType::I64, 3);
            w.write_i64(r.trace_id.high() as i64);
            w.write_field_begin(TType::I64, 4);
            w.write_i64(r.span_id.as_u64() as i64);
            w.write_field_stop();
            w.write_struct_end();
        }
        w.write_list_end();
    }
    w.write_field_begin(TType::I32, 7);
    w.write_i32(span.flags as i32);
    w.write_field_begin(TType::I64, 8);
    w.write_i64(nanos_to_micros(span.start_time_unix_nano));
    w.write_field_begin(TType::I64, 9);
    w.write_i64(span.duration_nanos / 1000);
    if !span.tags.is_empty() {
        w.write_field_begin(TType::List, 10);
        write_tags(w, &span.tags);
    }
    if !span.logs.is_empty() {
        w.write_field_begin(TType::List, 11);
        w.write_list_begin(TType::Struct, span.logs.len());
        for log in &span.logs {
            w.write_struct_begin();
            w.write_field_begin(TType::I64, 1);
            w.write_i64(nanos_to_micros(log.timestamp_unix_nano));
            w.write_field_begin(TType::List, 2);
            write_tags(w, &log.fields);
            w.write_field_stop();
            w.write_struct_end();
        }
        w.write_list_end();
    }
    w.write_field_stop();
    w.write_struct_end();
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use spoor_model::{AnyValue, KeyValue, SpanKind, StatusCode, find_attr};

    /// What the Python `jaeger-client` sends: 64-bit IDs, parentSpanId,
    /// sampler tags on the root, hostname/ip/jaeger.version process tags.
    fn python_like_batch() -> JaegerBatch {
        let process = JaegerProcess {
            service_name: "frontend".into(),
            tags: vec![
                JaegerKeyValue::string("jaeger.version", "Python-4.8.0"),
                JaegerKeyValue::string("hostname", "web-1"),
                JaegerKeyValue::string("ip", "10.1.2.3"),
            ],
        };
        let p = Arc::new(process.clone());
        let trace_id = TraceId::from_halves(0, 0x6b1f_0c42_9a3e_d201);
        let root = JaegerSpan {
            trace_id,
            span_id: SpanId::from_u64(0x6b1f_0c42_9a3e_d201),
            operation_name: "GET /dispatch".into(),
            references: vec![],
            flags: 1,
            start_time_unix_nano: 1_700_000_000_123_456_000,
            duration_nanos: 2_500_000,
            tags: vec![
                JaegerKeyValue::string("sampler.type", "const"),
                JaegerKeyValue::new("sampler.param", JaegerValue::Bool(true)),
                JaegerKeyValue::string("span.kind", "server"),
                JaegerKeyValue::new("http.status_code", JaegerValue::Int64(500)),
            ],
            logs: vec![JaegerLog {
                timestamp_unix_nano: 1_700_000_000_124_000_000,
                fields: vec![
                    JaegerKeyValue::string("event", "error"),
                    JaegerKeyValue::string("message", "upstream failed"),
                ],
            }],
            process: p.clone(),
            warnings: vec![],
        };
        let child = JaegerSpan {
            trace_id,
            span_id: SpanId::from_u64(0x0000_0000_0000_00ff),
            operation_name: "redis GET".into(),
            references: vec![JaegerRef {
                ref_type: RefType::ChildOf,
                trace_id,
                span_id: root.span_id,
            }],
            flags: 1,
            start_time_unix_nano: 1_700_000_000_123_500_000,
            duration_nanos: 1_000_000,
            tags: vec![
                JaegerKeyValue::string("span.kind", "client"),
                JaegerKeyValue::new("error", JaegerValue::Bool(true)),
                JaegerKeyValue::new("db.bytes", JaegerValue::Binary(vec![0xde, 0xad])),
                JaegerKeyValue::new("ratio", JaegerValue::Float64(0.25)),
            ],
            logs: vec![],
            process: p,
            warnings: vec![],
        };
        JaegerBatch {
            process: Some(process),
            spans: vec![root, child],
        }
    }

    fn check_python_like(batch: &SpanBatch) {
        assert_eq!(batch.spans.len(), 2);
        let root = &batch.spans[0];
        let child = &batch.spans[1];
        assert!(Arc::ptr_eq(&root.resource, &child.resource));
        assert_eq!(root.service_name(), "frontend");
        let res = &root.resource.attributes;
        assert_eq!(
            find_attr(res, "host.name"),
            Some(&AnyValue::Str("web-1".into()))
        );
        assert_eq!(
            find_attr(res, "opencensus.exporterversion"),
            Some(&AnyValue::Str("Jaeger-Python-4.8.0".into()))
        );
        assert_eq!(
            find_attr(res, "ip"),
            Some(&AnyValue::Str("10.1.2.3".into()))
        );
        assert!(find_attr(res, "hostname").is_none());
        assert!(find_attr(res, "jaeger.version").is_none());

        assert_eq!(root.span.trace_id.high(), 0);
        assert_eq!(root.span.trace_id.low(), 0x6b1f_0c42_9a3e_d201);
        assert!(root.span.parent_span_id.is_zero());
        assert_eq!(root.span.name, "GET /dispatch");
        assert_eq!(root.span.kind, SpanKind::Server);
        // 500 on a server span: error from the HTTP fallback.
        assert_eq!(root.span.status.code, StatusCode::Error);
        assert_eq!(root.span.start_time_unix_nano, 1_700_000_000_123_456_000);
        assert_eq!(root.span.end_time_unix_nano, 1_700_000_000_125_956_000);
        assert_eq!(root.span.flags, 1);
        assert_eq!(
            root.span.attributes,
            vec![
                KeyValue::str("sampler.type", "const"),
                KeyValue::new("sampler.param", AnyValue::Bool(true)),
                KeyValue::new("http.status_code", AnyValue::Int(500)),
            ]
        );
        assert_eq!(root.span.events.len(), 1);
        assert_eq!(root.span.events[0].name, "error");
        assert_eq!(
            root.span.events[0].attributes,
            vec![KeyValue::str("message", "upstream failed")]
        );
        assert_eq!(
            root.span.events[0].time_unix_nano,
            1_700_000_000_124_000_000
        );

        assert_eq!(child.span.parent_span_id, root.span.span_id);
        assert!(child.span.links.is_empty());
        assert_eq!(child.span.kind, SpanKind::Client);
        assert_eq!(child.span.status.code, StatusCode::Error);
        assert_eq!(
            child.span.attributes,
            vec![
                KeyValue::new("ratio", AnyValue::Double(0.25)),
                KeyValue::new("db.bytes", AnyValue::Bytes(vec![0xde, 0xad])),
            ]
        );
    }

    #[test]
    fn python_like_batch_through_every_encoding() {
        let jb = python_like_batch();
        check_python_like(&decode_emit_batch_compact(&encode_emit_batch_compact(&jb)).unwrap());
        check_python_like(&decode_emit_batch_binary(&encode_emit_batch_binary(&jb)).unwrap());
        check_python_like(&decode_batch_binary(&encode_batch_binary(&jb)).unwrap());
    }

    #[test]
    fn jaeger_model_round_trips_through_thrift() {
        let mut jb = python_like_batch();
        // A second, non-parent reference and a 128-bit trace ID.
        jb.spans[1].trace_id = TraceId::from_halves(5, 6);
        jb.spans[1].references = vec![
            JaegerRef {
                ref_type: RefType::ChildOf,
                trace_id: TraceId::from_halves(5, 6),
                span_id: SpanId::from_u64(1),
            },
            JaegerRef {
                ref_type: RefType::FollowsFrom,
                trace_id: TraceId::from_halves(7, 8),
                span_id: SpanId::from_u64(2),
            },
        ];
        for bytes in [
            encode_emit_batch_compact(&jb),
            encode_emit_batch_binary(&jb),
        ] {
            let back = if bytes[0] == 0x82 {
                read_emit_batch_compact(&bytes).unwrap()
            } else {
                read_emit_batch_binary(&bytes).unwrap()
            };
            assert_eq!(back, jb);
        }
        assert_eq!(read_batch_binary(&encode_batch_binary(&jb)).unwrap(), jb);
    }

    /// A binary `Batch` with one span: IDs 1/2 in trace (0, 1), the given
    /// parentSpanId and CHILD_OF references (span IDs in the same trace).
    fn batch_with_parent(parent: i64, child_of: &[i64]) -> Vec<u8> {
        let mut w = BinaryWriter::new();
        w.write_struct_begin();
        w.write_field_begin(TType::Struct, 1);
        write_process(&mut w, &JaegerProcess::default());
        w.write_field_begin(TType::List, 2);
        w.write_list_begin(TType::Struct, 1);
        w.write_struct_begin();
        for (id, v) in [(1, 1i64), (2, 0), (3, 2), (4, parent), (8, 1), (9, 1)] {
            w.write_field_begin(TType::I64, id);
            w.write_i64(v);
        }
        w.write_field_begin(TType::String, 5);
        w.write_string("op");
        w.write_field_begin(TType::I32, 7);
        w.write_i32(1);
        w.write_field_begin(TType::List, 6);
        w.write_list_begin(TType::Struct, child_of.len());
        for &sid in child_of {
            w.write_struct_begin();
            for (id, v) in [(2, 1i64), (3, 0), (4, sid)] {
                w.write_field_begin(TType::I64, id);
                w.write_i64(v);
            }
            w.write_field_begin(TType::I32, 1);
            w.write_i32(0);
            w.write_field_stop();
            w.write_struct_end();
        }
        w.write_field_stop();
        w.write_struct_end();
        w.write_field_stop();
        w.write_struct_end();
        w.into_bytes()
    }

    #[test]
    fn parent_span_id_has_priority_over_references() {
        // parentSpanId 0x20 with a reference to another CHILD_OF first.
        let batch = decode_batch_binary(&batch_with_parent(0x20, &[0x10])).unwrap();
        let span = &batch.spans[0].span;
        assert_eq!(span.parent_span_id.as_u64(), 0x20);
        assert_eq!(span.links.len(), 1);
        assert_eq!(span.links[0].span_id.as_u64(), 0x10);
        assert_eq!(
            find_attr(&span.links[0].attributes, "opentracing.ref_type"),
            Some(&AnyValue::Str("child_of".into()))
        );
        // The parent also listed among the references (Java client style):
        // no link for it.
        let batch = decode_batch_binary(&batch_with_parent(0x20, &[0x20, 0x10])).unwrap();
        let span = &batch.spans[0].span;
        assert_eq!(span.parent_span_id.as_u64(), 0x20);
        assert_eq!(span.links.len(), 1);
        // No parentSpanId: the first CHILD_OF reference is the parent.
        let batch = decode_batch_binary(&batch_with_parent(0, &[0x10, 0x20])).unwrap();
        let span = &batch.spans[0].span;
        assert_eq!(span.parent_span_id.as_u64(), 0x10);
        assert_eq!(span.links[0].span_id.as_u64(), 0x20);
        // Reading keeps Jaeger's model: parent first, then the references.
        let jb = read_batch_binary(&batch_with_parent(0x20, &[0x10])).unwrap();
        let ids: Vec<u64> = jb.spans[0]
            .references
            .iter()
            .map(|r| r.span_id.as_u64())
            .collect();
        assert_eq!(ids, [0x20, 0x10]);
        // …and writing it back gives the same model.
        assert_eq!(read_batch_binary(&encode_batch_binary(&jb)).unwrap(), jb);
    }

    #[test]
    fn known_compact_bytes_of_a_minimal_emit_batch() {
        let p = Arc::new(JaegerProcess {
            service_name: "s".into(),
            tags: vec![],
        });
        let jb = JaegerBatch {
            process: Some((*p).clone()),
            spans: vec![JaegerSpan {
                trace_id: TraceId::from_halves(0, 1),
                span_id: SpanId::from_u64(2),
                operation_name: "o".into(),
                references: vec![],
                flags: 1,
                start_time_unix_nano: 3_000,
                duration_nanos: 4_000,
                tags: vec![],
                logs: vec![],
                process: p,
                warnings: vec![],
            }],
        };
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            0x82, 0x81, 0x00, 0x09, b'e', b'm', b'i', b't', b'B', b'a', b't', b'c', b'h',
            0x1c, // args field 1: struct
            0x1c, // Batch field 1: Process
            0x18, 0x01, b's', 0x00, // serviceName "s", stop
            0x19, 0x1c, // Batch field 2: list of 1 struct
            0x16, 0x02, // traceIdLow = 1
            0x16, 0x00, // traceIdHigh = 0
            0x16, 0x04, // spanId = 2
            0x16, 0x00, // parentSpanId = 0
            0x18, 0x01, b'o', // operationName
            0x25, 0x02, // flags (field 7, delta 2) = 1
            0x16, 0x06, // startTime = 3
            0x16, 0x08, // duration = 4
            0x00, // end Span
            0x00, // end Batch
            0x00, // end args
        ];
        assert_eq!(encode_emit_batch_compact(&jb), want);
        let batch = decode_emit_batch_compact(&want).unwrap();
        assert_eq!(batch.spans[0].span.start_time_unix_nano, 3_000);
        assert_eq!(batch.spans[0].span.end_time_unix_nano, 7_000);
    }

    #[test]
    fn unknown_fields_and_mistyped_fields_are_skipped() {
        // A Batch with seqNo (3) and stats (4) from newer clients, a Span
        // with `incomplete` (12) and an operationName sent as an i32 first.
        let mut w = BinaryWriter::new();
        w.write_struct_begin();
        w.write_field_begin(TType::Struct, 1);
        write_process(
            &mut w,
            &JaegerProcess {
                service_name: "svc".into(),
                tags: vec![],
            },
        );
        w.write_field_begin(TType::I64, 3);
        w.write_i64(42);
        w.write_field_begin(TType::Struct, 4);
        w.write_struct_begin();
        w.write_field_begin(TType::I64, 1);
        w.write_i64(0);
        w.write_field_stop();
        w.write_struct_end();
        w.write_field_begin(TType::List, 2);
        w.write_list_begin(TType::Struct, 1);
        w.write_struct_begin();
        w.write_field_begin(TType::I32, 5);
        w.write_i32(9);
        for (id, v) in [(1, 1i64), (2, 0), (3, 2), (4, 0), (8, 1), (9, 1)] {
            w.write_field_begin(TType::I64, id);
            w.write_i64(v);
        }
        w.write_field_begin(TType::String, 5);
        w.write_string("op");
        w.write_field_begin(TType::I32, 7);
        w.write_i32(0);
        w.write_field_begin(TType::Bool, 12);
        w.write_bool(true);
        w.write_field_stop();
        w.write_struct_end();
        w.write_field_stop();
        w.write_struct_end();
        let batch = decode_batch_binary(&w.into_bytes()).unwrap();
        assert_eq!(batch.spans.len(), 1);
        assert_eq!(batch.spans[0].span.name, "op");
        assert_eq!(batch.spans[0].span.flags, 0);
    }

    fn span_without(field: i16) -> Vec<u8> {
        let mut w = BinaryWriter::new();
        w.write_struct_begin();
        w.write_field_begin(TType::Struct, 1);
        write_process(&mut w, &JaegerProcess::default());
        w.write_field_begin(TType::List, 2);
        w.write_list_begin(TType::Struct, 1);
        w.write_struct_begin();
        for id in [1, 2, 3, 4, 8, 9] {
            if id != field {
                w.write_field_begin(TType::I64, id);
                w.write_i64(1);
            }
        }
        if field != 5 {
            w.write_field_begin(TType::String, 5);
            w.write_string("op");
        }
        if field != 7 {
            w.write_field_begin(TType::I32, 7);
            w.write_i32(1);
        }
        w.write_field_stop();
        w.write_struct_end();
        w.write_field_stop();
        w.write_struct_end();
        w.into_bytes()
    }

    #[test]
    fn missing_required_fields_are_errors() {
        decode_batch_binary(&span_without(0)).unwrap();
        // Without its IDs a span is left out alone, counted.
        for (field, why) in [
            (1, crate::reason::INVALID_TRACE_ID),
            (2, crate::reason::INVALID_TRACE_ID),
            (3, crate::reason::INVALID_SPAN_ID),
        ] {
            let mut report = DecodeReport::new();
            let batch = decode_batch_binary_reported(&span_without(field), &mut report).unwrap();
            assert!(batch.is_empty(), "field {field}");
            assert_eq!(report.rejected_by_reason(), &[(why, 1)], "field {field}");
        }
        for (field, name) in [
            (4, "Span.parentSpanId"),
            (5, "Span.operationName"),
            (7, "Span.flags"),
            (8, "Span.startTime"),
            (9, "Span.duration"),
        ] {
            let err = decode_batch_binary(&span_without(field)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid thrift: required field {name} is not set")
            );
        }
        // A batch without spans, or without a process.
        let mut w = BinaryWriter::new();
        w.write_struct_begin();
        w.write_field_begin(TType::Struct, 1);
        write_process(&mut w, &JaegerProcess::default());
        w.write_field_stop();
        w.write_struct_end();
        assert!(decode_batch_binary(&w.into_bytes()).is_err());
        // An empty struct: no process.
        assert!(decode_batch_binary(&[0]).is_err());
        // A Tag without vType.
        let mut w = BinaryWriter::new();
        w.write_struct_begin();
        w.write_field_begin(TType::String, 1);
        w.write_string("k");
        w.write_field_stop();
        w.write_struct_end();
        let bytes = w.into_bytes();
        assert!(read_tag(&mut BinaryReader::new(&bytes)).is_err());
    }

    #[test]
    fn unknown_tag_types_become_a_marker_string() {
        let mut w = BinaryWriter::new();
        w.write_struct_begin();
        w.write_field_begin(TType::String, 1);
        w.write_string("k");
        w.write_field_begin(TType::I32, 2);
        w.write_i32(9);
        w.write_field_stop();
        w.write_struct_end();
        let bytes = w.into_bytes();
        let tag = read_tag(&mut BinaryReader::new(&bytes)).unwrap();
        assert_eq!(
            tag.value,
            JaegerValue::Str("<Unknown Jaeger TagType \"<UNSET>\">".into())
        );
        // A STRING tag without vStr is an empty string.
        let mut w = BinaryWriter::new();
        w.write_struct_begin();
        w.write_field_begin(TType::String, 1);
        w.write_string("k");
        w.write_field_begin(TType::I32, 2);
        w.write_i32(0);
        w.write_field_stop();
        w.write_struct_end();
        let bytes = w.into_bytes();
        let tag = read_tag(&mut BinaryReader::new(&bytes)).unwrap();
        assert_eq!(tag.value, JaegerValue::Str(String::new()));
    }

    #[test]
    fn wrong_messages_are_refused() {
        let jb = python_like_batch();
        let mut w = CompactWriter::new();
        w.write_message_begin(EMIT_ZIPKIN_BATCH, MessageType::Oneway, 0);
        w.write_struct_begin();
        w.write_field_stop();
        w.write_struct_end();
        let err = decode_emit_batch_compact(&w.into_bytes()).unwrap_err();
        assert!(err.to_string().contains("emitZipkinBatch is not supported"));

        let mut w = CompactWriter::new();
        w.write_message_begin("other", MessageType::Call, 0);
        assert!(decode_emit_batch_compact(&w.into_bytes()).is_err());

        let mut w = BinaryWriter::new();
        w.write_message_begin(EMIT_BATCH, MessageType::Reply, 0);
        assert!(decode_emit_batch_binary(&w.into_bytes()).is_err());

        // CALL is accepted as well as ONEWAY.
        let mut w = BinaryWriter::new();
        w.write_message_begin(EMIT_BATCH, MessageType::Call, 3);
        w.write_struct_begin();
        w.write_field_begin(TType::Struct, 1);
        write_batch(&mut w, &jb);
        w.write_field_stop();
        w.write_struct_end();
        check_python_like(&decode_emit_batch_binary(&w.into_bytes()).unwrap());

        // The wrong protocol is an error, not a panic.
        assert!(decode_emit_batch_compact(&encode_emit_batch_binary(&jb)).is_err());
        assert!(decode_emit_batch_binary(&encode_emit_batch_compact(&jb)).is_err());
        // emitBatch without its batch argument.
        let mut w = CompactWriter::new();
        w.write_message_begin(EMIT_BATCH, MessageType::Oneway, 0);
        w.write_struct_begin();
        w.write_field_stop();
        w.write_struct_end();
        assert!(decode_emit_batch_compact(&w.into_bytes()).is_err());
    }

    #[test]
    fn malformed_inputs_are_errors_never_panics() {
        let jb = python_like_batch();
        let encoders: [fn(&JaegerBatch) -> Vec<u8>; 3] = [
            encode_emit_batch_compact,
            encode_emit_batch_binary,
            encode_batch_binary,
        ];
        type Decoder = fn(&[u8]) -> Result<SpanBatch, DecodeError>;
        let decoders: [Decoder; 3] = [
            decode_emit_batch_compact,
            decode_emit_batch_binary,
            decode_batch_binary,
        ];
        for (enc, dec) in encoders.iter().zip(decoders) {
            let bytes = enc(&jb);
            // Every truncation fails.
            for cut in 0..bytes.len() {
                assert!(dec(&bytes[..cut]).is_err(), "cut at {cut}");
            }
            // Every single-byte corruption either decodes or fails; no panic.
            for i in 0..bytes.len() {
                for v in [0x00, 0x7f, 0x80, 0xff] {
                    let mut b = bytes.clone();
                    b[i] = v;
                    let _ = dec(&b);
                }
            }
        }
        // Garbage and empty inputs.
        for dec in decoders {
            assert!(dec(&[]).is_err());
            assert!(dec(&[0xff; 64]).is_err());
        }
    }

    #[test]
    fn huge_lengths_and_deep_nesting_are_errors() {
        // Batch.spans claiming 2^31-1 elements in a small body.
        let mut w = BinaryWriter::new();
        w.write_struct_begin();
        w.write_field_begin(TType::Struct, 1);
        write_process(&mut w, &JaegerProcess::default());
        w.write_field_begin(TType::List, 2);
        w.write_list_begin(TType::Struct, i32::MAX as usize);
        let err = decode_batch_binary(&w.into_bytes()).unwrap_err();
        assert!(err.to_string().contains("cannot fit"), "{err}");

        // Compact: an unknown field of nested lists, 200 deep.
        let mut bytes = vec![0x82, 0x81, 0x00, 0x09];
        bytes.extend_from_slice(b"emitBatch");
        bytes.push(0x29); // args field 2: list
        bytes.extend(std::iter::repeat_n(0x19, 200)); // list of 1 list
        let err = decode_emit_batch_compact(&bytes).unwrap_err();
        assert!(err.to_string().contains("nesting deeper"), "{err}");

        // A list of spans whose element type is not a struct.
        let mut w = BinaryWriter::new();
        w.write_struct_begin();
        w.write_field_begin(TType::Struct, 1);
        write_process(&mut w, &JaegerProcess::default());
        w.write_field_begin(TType::List, 2);
        w.write_list_begin(TType::I64, 1);
        w.write_i64(1);
        w.write_field_stop();
        w.write_struct_end();
        let err = decode_batch_binary(&w.into_bytes()).unwrap_err();
        assert!(err.to_string().contains("list of structs"), "{err}");
    }

    #[test]
    fn model_spans_encode_one_body_per_resource() {
        let batch = decode_batch_binary(&encode_batch_binary(&python_like_batch())).unwrap();
        let bodies = encode_spans_binary(&batch.spans);
        assert_eq!(bodies.len(), 1);
        let again = decode_batch_binary(&bodies[0]).unwrap();
        assert_eq!(again.spans.len(), 2);
        assert_eq!(
            again.spans[1].span.parent_span_id,
            batch.spans[1].span.parent_span_id
        );
        assert_eq!(again.spans[0].service_name(), "frontend");
    }
}
