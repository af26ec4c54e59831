//! Building a block: spans → Arrow record batches → Parquet bytes, plus the
//! trace index, the Bloom filter and the metadata.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, Float64Builder,
    Int64Builder, StringBuilder, UInt8Builder, UInt32Builder,
};
use arrow_array::{
    ArrayRef, Int64Array, ListArray, RecordBatch, StringArray, StructArray,
    TimestampNanosecondArray, UInt8Array, UInt32Array,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;
use spoor_model::group::ArcIndex;
use spoor_model::{AnyValue, KeyValue, Resource, Scope, SpanRecord};

use super::edges::BlockEdges;
use super::index::{IndexBuilder, TraceIndex};
use super::schema::{
    self, HOT_KEYS, HotType, attr_element, attr_fields, event_element, event_fields, link_element,
    link_fields, value_type,
};
use super::{BlockMeta, FORMAT_VERSION, OperationMeta, files};
use crate::bloom::TraceBloom;
use crate::record::{encode_value, put_value};

/// Rows per Arrow record batch handed to the Parquet writer.
const CHUNK_ROWS: usize = 8 * 1024;
/// Most attribute keys listed in `meta.json` (beyond, the list is omitted).
const MAX_LISTED_KEYS: usize = 4_096;

/// Settings for writing blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockWriteOptions {
    /// zstd level of the Parquet pages.
    pub zstd_level: i32,
    /// Rows per Parquet row group. Smaller row groups mean smaller
    /// dictionaries to decode when a trace lookup reads a few rows.
    pub row_group_rows: usize,
    /// Rows per Parquet data page: a trace lookup decodes whole pages, so
    /// smaller pages make lookups cheaper (and compression a little worse).
    pub page_rows: usize,
}

impl Default for BlockWriteOptions {
    fn default() -> Self {
        BlockWriteOptions {
            zstd_level: 3,
            row_group_rows: 32 * 1024,
            page_rows: 1024,
        }
    }
}

/// A block built in memory, ready to upload.
pub(crate) struct BuiltBlock {
    /// `(file name, bytes)`, in upload order; `meta.json` is not among them.
    pub(crate) files: Vec<(&'static str, Bytes)>,
    pub(crate) meta: BlockMeta,
    pub(crate) index: TraceIndex,
    pub(crate) bloom: TraceBloom,
    pub(crate) edges: BlockEdges,
}

fn arrow_err(e: ArrowError) -> String {
    e.to_string()
}

/// Builds one list-of-attributes column.
struct AttrsBuilder {
    offsets: Vec<i32>,
    key: StringBuilder,
    ty: UInt8Builder,
    s: StringBuilder,
    i: Int64Builder,
    d: Float64Builder,
    b: BooleanBuilder,
    bytes: BinaryBuilder,
    len: usize,
}

impl AttrsBuilder {
    fn new() -> Self {
        AttrsBuilder {
            offsets: vec![0],
            key: StringBuilder::new(),
            ty: UInt8Builder::new(),
            s: StringBuilder::new(),
            i: Int64Builder::new(),
            d: Float64Builder::new(),
            b: BooleanBuilder::new(),
            bytes: BinaryBuilder::new(),
            len: 0,
        }
    }

    fn push(&mut self, key: &str, ty: u8, value: Option<&AnyValue>) {
        self.key.append_value(key);
        self.ty.append_value(ty);
        let mut s = None;
        let mut i = None;
        let mut d = None;
        let mut b = None;
        let mut bytes: Option<Vec<u8>> = None;
        match value {
            Some(AnyValue::Str(v)) => s = Some(v.as_str()),
            Some(AnyValue::Int(v)) => i = Some(*v),
            Some(AnyValue::Double(v)) => d = Some(*v),
            Some(AnyValue::Bool(v)) => b = Some(*v),
            Some(AnyValue::Bytes(v)) => bytes = Some(v.clone()),
            Some(v @ (AnyValue::Array(_) | AnyValue::KvList(_))) => bytes = Some(encode_value(v)),
            Some(AnyValue::Empty) | None => {}
        }
        self.s.append_option(s);
        self.i.append_option(i);
        self.d.append_option(d);
        self.b.append_option(b);
        self.bytes.append_option(bytes);
        self.len += 1;
    }

    fn push_value(&mut self, kv: &KeyValue) {
        let ty = match &kv.value {
            AnyValue::Empty => value_type::EMPTY,
            AnyValue::Str(_) => value_type::STR,
            AnyValue::Bool(_) => value_type::BOOL,
            AnyValue::Int(_) => value_type::INT,
            AnyValue::Double(_) => value_type::DOUBLE,
            AnyValue::Bytes(_) => value_type::BYTES,
            AnyValue::Array(_) => value_type::ARRAY,
            AnyValue::KvList(_) => value_type::MAP,
        };
        self.push(&kv.key, ty, Some(&kv.value));
    }

    fn push_all(&mut self, attrs: &[KeyValue]) -> Result<(), String> {
        for kv in attrs {
            self.push_value(kv);
        }
        self.end_list()
    }

    fn end_list(&mut self) -> Result<(), String> {
        let end = i32::try_from(self.len).map_err(|_| "too many attributes in one chunk")?;
        self.offsets.push(end);
        Ok(())
    }

    fn finish(mut self) -> Result<ListArray, String> {
        let values = StructArray::try_new(
            attr_fields(),
            vec![
                Arc::new(self.key.finish()) as ArrayRef,
                Arc::new(self.ty.finish()),
                Arc::new(self.s.finish()),
                Arc::new(self.i.finish()),
                Arc::new(self.d.finish()),
                Arc::new(self.b.finish()),
                Arc::new(self.bytes.finish()),
            ],
            None,
        )
        .map_err(arrow_err)?;
        list(attr_element(), self.offsets, Arc::new(values))
    }
}

fn list(
    field: arrow_schema::FieldRef,
    offsets: Vec<i32>,
    values: ArrayRef,
) -> Result<ListArray, String> {
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    ListArray::try_new(field, offsets, values, None).map_err(arrow_err)
}

fn offset(n: usize) -> Result<i32, String> {
    i32::try_from(n).map_err(|_| "too many list items in one chunk".to_string())
}

/// Resources and scopes of a block, deduplicated by content.
#[derive(Default)]
struct Tables<'a> {
    resources: Vec<&'a Resource>,
    resource_by_ptr: ArcIndex<Resource>,
    resource_by_content: HashMap<Vec<u8>, u32>,
    scopes: Vec<&'a Scope>,
    scope_by_ptr: ArcIndex<Scope>,
    scope_by_content: HashMap<Vec<u8>, u32>,
}

fn resource_key(r: &Resource) -> Vec<u8> {
    let mut out = Vec::new();
    put_value(&mut out, &AnyValue::KvList(r.attributes.clone()));
    out.extend_from_slice(&r.dropped_attributes_count.to_le_bytes());
    out.extend_from_slice(r.schema_url.as_bytes());
    out
}

fn scope_key(s: &Scope) -> Vec<u8> {
    let mut out = Vec::new();
    put_value(
        &mut out,
        &AnyValue::Array(vec![
            AnyValue::Str(s.name.clone()),
            AnyValue::Str(s.version.clone()),
            AnyValue::KvList(s.attributes.clone()),
            AnyValue::Int(i64::from(s.dropped_attributes_count)),
            AnyValue::Str(s.schema_url.clone()),
        ]),
    );
    out
}

impl<'a> Tables<'a> {
    fn resource(&mut self, r: &'a Arc<Resource>) -> u32 {
        let Tables {
            resources,
            resource_by_ptr,
            resource_by_content,
            ..
        } = self;
        let seen = resource_by_ptr.index_by(r, |next| {
            *resource_by_content
                .entry(resource_key(r))
                .or_insert(next as u32) as usize
        });
        if seen.is_new() {
            resources.push(r);
        }
        seen.index() as u32
    }

    fn scope(&mut self, s: &'a Arc<Scope>) -> u32 {
        let Tables {
            scopes,
            scope_by_ptr,
            scope_by_content,
            ..
        } = self;
        let seen = scope_by_ptr.index_by(s, |next| {
            *scope_by_content.entry(scope_key(s)).or_insert(next as u32) as usize
        });
        if seen.is_new() {
            scopes.push(s);
        }
        seen.index() as u32
    }
}

fn props(options: &BlockWriteOptions, spans: bool) -> Result<WriterProperties, String> {
    let level = ZstdLevel::try_new(options.zstd_level).map_err(|e| e.to_string())?;
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::ZSTD(level))
        .set_created_by(format!("spoor-engine {}", env!("CARGO_PKG_VERSION")));
    if spans {
        b = b
            .set_max_row_group_row_count(Some(options.row_group_rows.max(1)))
            .set_data_page_row_count_limit(options.page_rows.max(1))
            .set_write_batch_size(options.page_rows.clamp(1, 1024))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_sorting_columns(Some(vec![
                // Leaf column indexes; the first leaves are the top-level columns.
                SortingColumn {
                    column_idx: schema::col::TRACE_ID as i32,
                    descending: false,
                    nulls_first: false,
                },
                SortingColumn {
                    column_idx: schema::col::START as i32,
                    descending: false,
                    nulls_first: false,
                },
            ]));
        // Random IDs do not compress as a dictionary; times and durations
        // delta-encode well.
        let path = |p: &str| ColumnPath::new(p.split('.').map(str::to_owned).collect());
        for p in ["span_id", "parent_span_id"] {
            b = b.set_column_dictionary_enabled(path(p), false);
        }
        for p in [
            "start_time_unix_nano",
            "duration_nanos",
            "events.list.element.time_unix_nano",
        ] {
            b = b
                .set_column_dictionary_enabled(path(p), false)
                .set_column_encoding(path(p), Encoding::DELTA_BINARY_PACKED);
        }
    }
    Ok(b.build())
}

fn parquet_bytes(
    schema: SchemaRef,
    batches: impl IntoIterator<Item = Result<RecordBatch, String>>,
    props: WriterProperties,
) -> Result<Bytes, String> {
    let mut writer =
        ArrowWriter::try_new(Vec::new(), schema, Some(props)).map_err(|e| e.to_string())?;
    for batch in batches {
        writer.write(&batch?).map_err(|e| e.to_string())?;
    }
    let out = writer.into_inner().map_err(|e| e.to_string())?;
    Ok(Bytes::from(out))
}

/// Builds the span columns of rows `spans`.
fn span_batch(
    spans: &[&SpanRecord],
    resource_ids: &[u32],
    scope_ids: &[u32],
) -> Result<RecordBatch, String> {
    let n = spans.len();
    let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut parent = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut start = Vec::with_capacity(n);
    let mut duration = Vec::with_capacity(n);
    let mut service = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut kind = Vec::with_capacity(n);
    let mut status_code = Vec::with_capacity(n);
    let mut status_message = StringBuilder::new();
    let mut trace_state = StringBuilder::new();
    let mut flags = Vec::with_capacity(n);
    let mut dropped_attrs = Vec::with_capacity(n);
    let mut dropped_events = Vec::with_capacity(n);
    let mut dropped_links = Vec::with_capacity(n);
    let mut attrs = AttrsBuilder::new();
    let mut hot_str: Vec<StringBuilder> = Vec::new();
    let mut hot_int: Vec<Int64Builder> = Vec::new();
    for (_, _, ty) in HOT_KEYS {
        match ty {
            HotType::Str => hot_str.push(StringBuilder::new()),
            HotType::Int => hot_int.push(Int64Builder::new()),
        }
    }
    // Events.
    let mut ev_offsets = vec![0i32];
    let mut ev_time = Vec::new();
    let mut ev_name = StringBuilder::new();
    let mut ev_attrs = AttrsBuilder::new();
    let mut ev_dropped = UInt32Builder::new();
    // Links.
    let mut ln_offsets = vec![0i32];
    let mut ln_trace = FixedSizeBinaryBuilder::new(16);
    let mut ln_span = FixedSizeBinaryBuilder::new(8);
    let mut ln_state = StringBuilder::new();
    let mut ln_attrs = AttrsBuilder::new();
    let mut ln_dropped = UInt32Builder::new();
    let mut ln_flags = UInt32Builder::new();

    let mut hot_values: Vec<Option<&AnyValue>> = vec![None; HOT_KEYS.len()];
    for record in spans {
        let s = &record.span;
        trace_id.append_value(s.trace_id.0).map_err(arrow_err)?;
        span_id.append_value(s.span_id.0).map_err(arrow_err)?;
        parent.append_value(s.parent_span_id.0).map_err(arrow_err)?;
        start.push(s.start_time_unix_nano as i64);
        duration.push(s.end_time_unix_nano.wrapping_sub(s.start_time_unix_nano) as i64);
        service.append_value(record.service_name());
        name.append_value(&s.name);
        kind.push(s.kind as u8);
        status_code.push(s.status.code as u8);
        status_message.append_value(&s.status.message);
        trace_state.append_value(&s.trace_state);
        flags.push(s.flags);
        dropped_attrs.push(s.dropped_attributes_count);
        dropped_events.push(s.dropped_events_count);
        dropped_links.push(s.dropped_links_count);

        hot_values.iter_mut().for_each(|v| *v = None);
        for kv in &s.attributes {
            let hot = schema::hot_index(&kv.key).filter(|&h| {
                hot_values[h].is_none()
                    && matches!(
                        (HOT_KEYS[h].2, &kv.value),
                        (HotType::Str, AnyValue::Str(_)) | (HotType::Int, AnyValue::Int(_))
                    )
            });
            match hot {
                Some(h) => {
                    hot_values[h] = Some(&kv.value);
                    attrs.push(&kv.key, value_type::HOT, None);
                }
                None => attrs.push_value(kv),
            }
        }
        attrs.end_list()?;
        let (mut si, mut ii) = (0, 0);
        for (h, (_, _, ty)) in HOT_KEYS.iter().enumerate() {
            match ty {
                HotType::Str => {
                    let v = match hot_values[h] {
                        Some(AnyValue::Str(v)) => Some(v.as_str()),
                        _ => None,
                    };
                    hot_str[si].append_option(v);
                    si += 1;
                }
                HotType::Int => {
                    let v = match hot_values[h] {
                        Some(AnyValue::Int(v)) => Some(*v),
                        _ => None,
                    };
                    hot_int[ii].append_option(v);
                    ii += 1;
                }
            }
        }

        for e in &s.events {
            ev_time.push(e.time_unix_nano as i64);
            ev_name.append_value(&e.name);
            ev_attrs.push_all(&e.attributes)?;
            ev_dropped.append_value(e.dropped_attributes_count);
        }
        ev_offsets.push(offset(ev_time.len())?);
        for l in &s.links {
            ln_trace.append_value(l.trace_id.0).map_err(arrow_err)?;
            ln_span.append_value(l.span_id.0).map_err(arrow_err)?;
            ln_state.append_value(&l.trace_state);
            ln_attrs.push_all(&l.attributes)?;
            ln_dropped.append_value(l.dropped_attributes_count);
            ln_flags.append_value(l.flags);
        }
        ln_offsets.push(offset(ln_state.len())?);
    }

    let events = StructArray::try_new(
        event_fields(),
        vec![
            Arc::new(TimestampNanosecondArray::from(ev_time).with_timezone("UTC")) as ArrayRef,
            Arc::new(ev_name.finish()),
            Arc::new(ev_attrs.finish()?),
            Arc::new(ev_dropped.finish()),
        ],
        None,
    )
    .map_err(arrow_err)?;
    let links = StructArray::try_new(
        link_fields(),
        vec![
            Arc::new(ln_trace.finish()) as ArrayRef,
            Arc::new(ln_span.finish()),
            Arc::new(ln_state.finish()),
            Arc::new(ln_attrs.finish()?),
            Arc::new(ln_dropped.finish()),
            Arc::new(ln_flags.finish()),
        ],
        None,
    )
    .map_err(arrow_err)?;

    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent.finish()),
        Arc::new(TimestampNanosecondArray::from(start).with_timezone("UTC")),
        Arc::new(Int64Array::from(duration)),
        Arc::new(service.finish()),
        Arc::new(name.finish()),
        Arc::new(UInt8Array::from(kind)),
        Arc::new(UInt8Array::from(status_code)),
        Arc::new(status_message.finish()),
        Arc::new(trace_state.finish()),
        Arc::new(UInt32Array::from(flags)),
        Arc::new(UInt32Array::from(resource_ids.to_vec())),
        Arc::new(UInt32Array::from(scope_ids.to_vec())),
        Arc::new(attrs.finish()?),
        Arc::new(UInt32Array::from(dropped_attrs)),
        Arc::new(list(event_element(), ev_offsets, Arc::new(events))?),
        Arc::new(UInt32Array::from(dropped_events)),
        Arc::new(list(link_element(), ln_offsets, Arc::new(links))?),
        Arc::new(UInt32Array::from(dropped_links)),
    ];
    let (mut si, mut ii) = (hot_str.into_iter(), hot_int.into_iter());
    for (_, _, ty) in HOT_KEYS {
        let col: ArrayRef = match ty {
            HotType::Str => Arc::new(si.next().ok_or("hot columns")?.finish()),
            HotType::Int => Arc::new(ii.next().ok_or("hot columns")?.finish()),
        };
        columns.push(col);
    }
    RecordBatch::try_new(schema::spans_schema(), columns).map_err(arrow_err)
}

fn resources_batch(resources: &[&Resource]) -> Result<RecordBatch, String> {
    let mut attrs = AttrsBuilder::new();
    for r in resources {
        attrs.push_all(&r.attributes)?;
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(0..resources.len() as u32)),
        Arc::new(StringArray::from_iter_values(
            resources.iter().map(|r| r.service_name()),
        )),
        Arc::new(attrs.finish()?),
        Arc::new(UInt32Array::from_iter_values(
            resources.iter().map(|r| r.dropped_attributes_count),
        )),
        Arc::new(StringArray::from_iter_values(
            resources.iter().map(|r| r.schema_url.as_str()),
        )),
    ];
    RecordBatch::try_new(schema::resources_schema(), columns).map_err(arrow_err)
}

fn scopes_batch(scopes: &[&Scope]) -> Result<RecordBatch, String> {
    let mut attrs = AttrsBuilder::new();
    for s in scopes {
        attrs.push_all(&s.attributes)?;
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(0..scopes.len() as u32)),
        Arc::new(StringArray::from_iter_values(
            scopes.iter().map(|s| s.name.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            scopes.iter().map(|s| s.version.as_str()),
        )),
        Arc::new(attrs.finish()?),
        Arc::new(UInt32Array::from_iter_values(
            scopes.iter().map(|s| s.dropped_attributes_count),
        )),
        Arc::new(StringArray::from_iter_values(
            scopes.iter().map(|s| s.schema_url.as_str()),
        )),
    ];
    RecordBatch::try_new(schema::scopes_schema(), columns).map_err(arrow_err)
}

/// Inputs that identify a block.
pub(crate) struct BlockIdentity {
    pub(crate) id: String,
    pub(crate) created_unix_nano: u64,
    pub(crate) level: u32,
    pub(crate) wal_seq: u64,
    pub(crate) replaces: Vec<String>,
    /// Earliest and latest time Spoor received the spans.
    pub(crate) ingest: Option<(u64, u64)>,
}

/// Builds a block from `spans` (in any order; sorted here by trace ID, then
/// start time, keeping the input order of ties).
pub(crate) fn build_block(
    spans: &mut [&SpanRecord],
    identity: BlockIdentity,
    options: &BlockWriteOptions,
) -> Result<BuiltBlock, String> {
    spans.sort_by(|a, b| {
        (a.span.trace_id, a.span.start_time_unix_nano)
            .cmp(&(b.span.trace_id, b.span.start_time_unix_nano))
    });
    if spans.len() > u32::MAX as usize {
        return Err("too many spans for one block".into());
    }
    let mut tables = Tables::default();
    let mut resource_ids = Vec::with_capacity(spans.len());
    let mut scope_ids = Vec::with_capacity(spans.len());
    let mut index = IndexBuilder::default();
    let mut bloom_ids = Vec::new();
    let mut services = BTreeSet::new();
    let mut operations = BTreeSet::new();
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    let (mut min_start, mut max_start, mut max_end) = (u64::MAX, 0, 0);
    for (row, record) in spans.iter().enumerate() {
        let s = &record.span;
        resource_ids.push(tables.resource(&record.resource));
        scope_ids.push(tables.scope(&record.scope));
        index.push(row as u32, record);
        if bloom_ids.last() != Some(&s.trace_id) {
            bloom_ids.push(s.trace_id);
        }
        let service = record.service_name();
        if !services.contains(service) {
            services.insert(service.to_owned());
        }
        operations.insert((service, s.name.as_str(), s.kind as u8));
        min_start = min_start.min(s.start_time_unix_nano);
        max_start = max_start.max(s.start_time_unix_nano);
        max_end = max_end.max(s.end_time_unix_nano);
        if keys.len() <= MAX_LISTED_KEYS {
            keys.extend(s.attributes.iter().map(|kv| kv.key.as_str()));
            for e in &s.events {
                keys.extend(e.attributes.iter().map(|kv| kv.key.as_str()));
            }
            for l in &s.links {
                keys.extend(l.attributes.iter().map(|kv| kv.key.as_str()));
            }
        }
    }
    for r in &tables.resources {
        keys.extend(r.attributes.iter().map(|kv| kv.key.as_str()));
    }
    for s in &tables.scopes {
        keys.extend(s.attributes.iter().map(|kv| kv.key.as_str()));
    }
    let index = index.finish();
    let mut bloom = TraceBloom::with_capacity(bloom_ids.len());
    for id in &bloom_ids {
        bloom.insert(id);
    }

    let chunks = spans.chunks(CHUNK_ROWS).zip(
        resource_ids
            .chunks(CHUNK_ROWS)
            .zip(scope_ids.chunks(CHUNK_ROWS)),
    );
    let mut span_batches = Vec::new();
    for (chunk, (r, s)) in chunks {
        span_batches.push(span_batch(chunk, r, s));
    }
    let spans_parquet = parquet_bytes(schema::spans_schema(), span_batches, props(options, true)?)?;
    let resources_parquet = parquet_bytes(
        schema::resources_schema(),
        [resources_batch(&tables.resources)],
        props(options, false)?,
    )?;
    let scopes_parquet = parquet_bytes(
        schema::scopes_schema(),
        [scopes_batch(&tables.scopes)],
        props(options, false)?,
    )?;
    let edges = BlockEdges::compute(spans);
    let index_bytes = Bytes::from(index.to_bytes());
    let bloom_bytes = Bytes::from(bloom.to_bytes());
    let edges_bytes = Bytes::from(edges.to_bytes());
    let red_bytes = Bytes::from(super::red::encode(spans));

    let files_list: Vec<(&'static str, Bytes)> = vec![
        (files::SPANS, spans_parquet),
        (files::RESOURCES, resources_parquet),
        (files::SCOPES, scopes_parquet),
        (files::INDEX, index_bytes),
        (files::BLOOM, bloom_bytes),
        (files::EDGES, edges_bytes),
        (files::RED, red_bytes),
    ];
    let meta = BlockMeta {
        format_version: FORMAT_VERSION,
        id: identity.id,
        created_unix_nano: identity.created_unix_nano,
        level: identity.level,
        wal_seq: identity.wal_seq,
        min_start_unix_nano: if spans.is_empty() { 0 } else { min_start },
        max_start_unix_nano: max_start,
        max_end_unix_nano: max_end,
        spans: spans.len() as u64,
        traces: index.len() as u64,
        services: services.into_iter().collect(),
        operations: operations
            .into_iter()
            .map(|(service, name, kind)| OperationMeta {
                service: service.to_owned(),
                name: name.to_owned(),
                kind,
            })
            .collect(),
        attribute_keys: (keys.len() <= MAX_LISTED_KEYS)
            .then(|| keys.into_iter().map(str::to_owned).collect()),
        files: files_list
            .iter()
            .map(|(name, bytes)| ((*name).to_owned(), bytes.len() as u64))
            .collect::<BTreeMap<_, _>>(),
        replaces: identity.replaces,
        min_ingest_unix_nano: identity.ingest.map(|(lo, _)| lo),
        max_ingest_unix_nano: identity.ingest.map(|(_, hi)| hi),
        checksums: files_list
            .iter()
            .map(|(name, bytes)| ((*name).to_owned(), crc32fast::hash(bytes)))
            .collect(),
    };
    Ok(BuiltBlock {
        files: files_list,
        meta,
        index,
        bloom,
        edges,
    })
}
