//! Decoding a block's Arrow record batches back into spans. Every column is
//! type-checked and every offset bounds-checked: a damaged file gives an
//! error, never a panic.

use std::sync::Arc;

use arrow_array::{
    Array, BinaryArray, BooleanArray, FixedSizeBinaryArray, Float64Array, Int64Array, ListArray,
    RecordBatch, StringArray, StructArray, TimestampNanosecondArray, UInt8Array, UInt32Array,
};
use spoor_model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, SpanRecord, Status,
    StatusCode, TraceId,
};

use super::schema::{self, HOT_KEYS, HotType, resource_col, scope_col, value_type};
use crate::record::decode_value;

/// A block's resources and scopes, by index.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    pub(crate) resources: Vec<Arc<Resource>>,
    pub(crate) scopes: Vec<Arc<Scope>>,
}

fn typed<'a, T: Array + 'static>(array: &'a dyn Array, what: &str) -> Result<&'a T, String> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| format!("column {what} has type {}", array.data_type()))
}

fn column<'a, T: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<Option<&'a T>, String> {
    match batch.column_by_name(name) {
        Some(c) => typed::<T>(c.as_ref(), name).map(Some),
        None => Ok(None),
    }
}

fn child<'a, T: Array + 'static>(s: &'a StructArray, name: &str) -> Result<&'a T, String> {
    let c = s
        .column_by_name(name)
        .ok_or_else(|| format!("struct field {name} is missing"))?;
    typed::<T>(c.as_ref(), name)
}

fn check_row(array: &dyn Array, row: usize, what: &str) -> Result<(), String> {
    if row < array.len() {
        Ok(())
    } else {
        Err(format!("row {row} is past the end of {what}"))
    }
}

/// The item range of `row` in a list column.
fn list_range(
    list: &ListArray,
    row: usize,
    values_len: usize,
) -> Result<std::ops::Range<usize>, String> {
    let offsets = list.value_offsets();
    let (Some(&start), Some(&end)) = (offsets.get(row), offsets.get(row + 1)) else {
        return Err(format!("row {row} is past the end of a list column"));
    };
    let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
        return Err("negative list offset".into());
    };
    if start > end || end > values_len {
        return Err("list offsets out of range".into());
    }
    Ok(start..end)
}

fn fixed<const N: usize>(
    array: &FixedSizeBinaryArray,
    row: usize,
    what: &str,
) -> Result<[u8; N], String> {
    check_row(array, row, what)?;
    array
        .value(row)
        .try_into()
        .map_err(|_| format!("{what} has the wrong width"))
}

/// An attribute-list column.
struct AttrList<'a> {
    list: &'a ListArray,
    key: &'a StringArray,
    ty: &'a UInt8Array,
    s: &'a StringArray,
    i: &'a Int64Array,
    d: &'a Float64Array,
    b: &'a BooleanArray,
    bytes: &'a BinaryArray,
}

impl<'a> AttrList<'a> {
    fn new(list: &'a ListArray) -> Result<Self, String> {
        let values = typed::<StructArray>(list.values().as_ref(), "attributes")?;
        Ok(AttrList {
            list,
            key: child(values, "key")?,
            ty: child(values, "type")?,
            s: child(values, "str")?,
            i: child(values, "int")?,
            d: child(values, "double")?,
            b: child(values, "bool")?,
            bytes: child(values, "bytes")?,
        })
    }

    /// The attributes of `row`; `hot` supplies values stored in dedicated columns.
    fn decode(
        &self,
        row: usize,
        hot: &dyn Fn(&str) -> Option<AnyValue>,
    ) -> Result<Vec<KeyValue>, String> {
        let range = list_range(self.list, row, self.key.len())?;
        for a in [
            self.ty as &dyn Array,
            self.s,
            self.i,
            self.d,
            self.b,
            self.bytes,
        ] {
            if a.len() < range.end {
                return Err("attribute fields are shorter than their keys".into());
            }
        }
        let mut out = Vec::with_capacity(range.len());
        for j in range {
            let key = self.key.value(j);
            let missing = || format!("attribute {key:?} has no value");
            let value = match self.ty.value(j) {
                value_type::EMPTY => AnyValue::Empty,
                value_type::STR if self.s.is_valid(j) => AnyValue::Str(self.s.value(j).to_owned()),
                value_type::BOOL if self.b.is_valid(j) => AnyValue::Bool(self.b.value(j)),
                value_type::INT if self.i.is_valid(j) => AnyValue::Int(self.i.value(j)),
                value_type::DOUBLE if self.d.is_valid(j) => AnyValue::Double(self.d.value(j)),
                value_type::BYTES if self.bytes.is_valid(j) => {
                    AnyValue::Bytes(self.bytes.value(j).to_vec())
                }
                value_type::ARRAY | value_type::MAP if self.bytes.is_valid(j) => {
                    decode_value(self.bytes.value(j))
                        .map_err(|e| format!("attribute {key:?}: {e}"))?
                }
                value_type::HOT => hot(key).ok_or_else(missing)?,
                value_type::STR
                | value_type::BOOL
                | value_type::INT
                | value_type::DOUBLE
                | value_type::BYTES
                | value_type::ARRAY
                | value_type::MAP => return Err(missing()),
                other => return Err(format!("attribute {key:?} has unknown type {other}")),
            };
            out.push(KeyValue {
                key: key.to_owned(),
                value,
            });
        }
        Ok(out)
    }
}

fn no_hot(_: &str) -> Option<AnyValue> {
    None
}

enum HotColumn<'a> {
    Str(&'a StringArray),
    Int(&'a Int64Array),
}

struct EventList<'a> {
    list: &'a ListArray,
    time: &'a TimestampNanosecondArray,
    name: &'a StringArray,
    attrs: AttrList<'a>,
    dropped: &'a UInt32Array,
}

struct LinkList<'a> {
    list: &'a ListArray,
    trace_id: &'a FixedSizeBinaryArray,
    span_id: &'a FixedSizeBinaryArray,
    state: &'a StringArray,
    attrs: AttrList<'a>,
    dropped: &'a UInt32Array,
    flags: &'a UInt32Array,
}

/// The columns of a `spans.parquet` record batch; any may be absent
/// (projected away), and the fields they feed keep their defaults.
pub(crate) struct SpanColumns<'a> {
    len: usize,
    trace_id: Option<&'a FixedSizeBinaryArray>,
    span_id: Option<&'a FixedSizeBinaryArray>,
    parent: Option<&'a FixedSizeBinaryArray>,
    start: Option<&'a TimestampNanosecondArray>,
    duration: Option<&'a Int64Array>,
    name: Option<&'a StringArray>,
    kind: Option<&'a UInt8Array>,
    status_code: Option<&'a UInt8Array>,
    status_message: Option<&'a StringArray>,
    trace_state: Option<&'a StringArray>,
    flags: Option<&'a UInt32Array>,
    resource_index: Option<&'a UInt32Array>,
    scope_index: Option<&'a UInt32Array>,
    attributes: Option<AttrList<'a>>,
    dropped_attributes: Option<&'a UInt32Array>,
    events: Option<EventList<'a>>,
    dropped_events: Option<&'a UInt32Array>,
    links: Option<LinkList<'a>>,
    dropped_links: Option<&'a UInt32Array>,
    hot: Vec<Option<HotColumn<'a>>>,
}

impl<'a> SpanColumns<'a> {
    /// Type-checks the columns present in `batch`.
    pub(crate) fn new(batch: &'a RecordBatch) -> Result<Self, String> {
        let schema = schema::spans_schema();
        let name = |i: usize| schema.field(i).name().clone();
        use schema::col;
        let attributes = column::<ListArray>(batch, &name(col::ATTRIBUTES))?
            .map(AttrList::new)
            .transpose()?;
        let events = match column::<ListArray>(batch, &name(col::EVENTS))? {
            Some(list) => {
                let v = typed::<StructArray>(list.values().as_ref(), "events")?;
                Some(EventList {
                    list,
                    time: child(v, "time_unix_nano")?,
                    name: child(v, "name")?,
                    attrs: AttrList::new(child(v, "attributes")?)?,
                    dropped: child(v, "dropped_attributes_count")?,
                })
            }
            None => None,
        };
        let links = match column::<ListArray>(batch, &name(col::LINKS))? {
            Some(list) => {
                let v = typed::<StructArray>(list.values().as_ref(), "links")?;
                Some(LinkList {
                    list,
                    trace_id: child(v, "trace_id")?,
                    span_id: child(v, "span_id")?,
                    state: child(v, "trace_state")?,
                    attrs: AttrList::new(child(v, "attributes")?)?,
                    dropped: child(v, "dropped_attributes_count")?,
                    flags: child(v, "flags")?,
                })
            }
            None => None,
        };
        let mut hot = Vec::with_capacity(HOT_KEYS.len());
        for (_, column_name, ty) in HOT_KEYS {
            hot.push(match ty {
                HotType::Str => column::<StringArray>(batch, column_name)?.map(HotColumn::Str),
                HotType::Int => column::<Int64Array>(batch, column_name)?.map(HotColumn::Int),
            });
        }
        Ok(SpanColumns {
            len: batch.num_rows(),
            trace_id: column(batch, &name(col::TRACE_ID))?,
            span_id: column(batch, &name(col::SPAN_ID))?,
            parent: column(batch, &name(col::PARENT_SPAN_ID))?,
            start: column(batch, &name(col::START))?,
            duration: column(batch, &name(col::DURATION))?,
            name: column(batch, &name(col::NAME))?,
            kind: column(batch, &name(col::KIND))?,
            status_code: column(batch, &name(col::STATUS_CODE))?,
            status_message: column(batch, &name(col::STATUS_MESSAGE))?,
            trace_state: column(batch, &name(col::TRACE_STATE))?,
            flags: column(batch, &name(col::FLAGS))?,
            resource_index: column(batch, &name(col::RESOURCE_INDEX))?,
            scope_index: column(batch, &name(col::SCOPE_INDEX))?,
            attributes,
            dropped_attributes: column(batch, &name(col::DROPPED_ATTRIBUTES))?,
            events,
            dropped_events: column(batch, &name(col::DROPPED_EVENTS))?,
            links,
            dropped_links: column(batch, &name(col::DROPPED_LINKS))?,
            hot,
        })
    }

    /// Rows in the batch.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn hot_value(&self, row: usize, key: &str) -> Option<AnyValue> {
        let h = schema::hot_index(key)?;
        match self.hot.get(h)?.as_ref()? {
            HotColumn::Str(a) if row < a.len() && a.is_valid(row) => {
                Some(AnyValue::Str(a.value(row).to_owned()))
            }
            HotColumn::Int(a) if row < a.len() && a.is_valid(row) => {
                Some(AnyValue::Int(a.value(row)))
            }
            _ => None,
        }
    }

    /// Decodes one row. With `detail` false, attributes, events and links are
    /// left empty (a cheaper record for predicates that do not need them).
    pub(crate) fn record(
        &self,
        row: usize,
        tables: &Tables,
        detail: bool,
    ) -> Result<SpanRecord, String> {
        if row >= self.len {
            return Err(format!("row {row} is past the end of the batch"));
        }
        let u32_at = |a: Option<&UInt32Array>, what: &str| -> Result<u32, String> {
            match a {
                Some(a) => check_row(a, row, what).map(|()| a.value(row)),
                None => Ok(0),
            }
        };
        let str_at = |a: Option<&StringArray>, what: &str| -> Result<String, String> {
            match a {
                Some(a) => check_row(a, row, what).map(|()| a.value(row).to_owned()),
                None => Ok(String::new()),
            }
        };
        let u8_at = |a: Option<&UInt8Array>, what: &str| -> Result<u8, String> {
            match a {
                Some(a) => check_row(a, row, what).map(|()| a.value(row)),
                None => Ok(0),
            }
        };
        let mut span = Span {
            trace_id: match self.trace_id {
                Some(a) => TraceId(fixed(a, row, "trace_id")?),
                None => TraceId::ZERO,
            },
            span_id: match self.span_id {
                Some(a) => SpanId(fixed(a, row, "span_id")?),
                None => SpanId::ZERO,
            },
            parent_span_id: match self.parent {
                Some(a) => SpanId(fixed(a, row, "parent_span_id")?),
                None => SpanId::ZERO,
            },
            trace_state: str_at(self.trace_state, "trace_state")?,
            flags: u32_at(self.flags, "flags")?,
            name: str_at(self.name, "name")?,
            kind: SpanKind::from_i32(i32::from(u8_at(self.kind, "kind")?)),
            dropped_attributes_count: u32_at(self.dropped_attributes, "dropped_attributes_count")?,
            dropped_events_count: u32_at(self.dropped_events, "dropped_events_count")?,
            dropped_links_count: u32_at(self.dropped_links, "dropped_links_count")?,
            status: Status {
                code: StatusCode::from_i32(i32::from(u8_at(self.status_code, "status_code")?)),
                message: str_at(self.status_message, "status_message")?,
            },
            ..Span::default()
        };
        if let Some(a) = self.start {
            check_row(a, row, "start_time_unix_nano")?;
            span.start_time_unix_nano = a.value(row) as u64;
        }
        if let Some(a) = self.duration {
            check_row(a, row, "duration_nanos")?;
            span.end_time_unix_nano = span.start_time_unix_nano.wrapping_add(a.value(row) as u64);
        }
        if detail {
            if let Some(attrs) = &self.attributes {
                span.attributes = attrs.decode(row, &|key| self.hot_value(row, key))?;
            }
            if let Some(ev) = &self.events {
                let range = list_range(ev.list, row, ev.name.len())?;
                for j in range {
                    check_row(ev.time, j, "event time")?;
                    check_row(ev.dropped, j, "event dropped count")?;
                    span.events.push(Event {
                        time_unix_nano: ev.time.value(j) as u64,
                        name: ev.name.value(j).to_owned(),
                        attributes: ev.attrs.decode(j, &no_hot)?,
                        dropped_attributes_count: ev.dropped.value(j),
                    });
                }
            }
            if let Some(ln) = &self.links {
                let range = list_range(ln.list, row, ln.state.len())?;
                for j in range {
                    check_row(ln.dropped, j, "link dropped count")?;
                    check_row(ln.flags, j, "link flags")?;
                    span.links.push(Link {
                        trace_id: TraceId(fixed(ln.trace_id, j, "link trace_id")?),
                        span_id: SpanId(fixed(ln.span_id, j, "link span_id")?),
                        trace_state: ln.state.value(j).to_owned(),
                        attributes: ln.attrs.decode(j, &no_hot)?,
                        dropped_attributes_count: ln.dropped.value(j),
                        flags: ln.flags.value(j),
                    });
                }
            }
        }
        let resource = match self.resource_index {
            Some(a) => {
                check_row(a, row, "resource_index")?;
                let i = a.value(row) as usize;
                Arc::clone(
                    tables
                        .resources
                        .get(i)
                        .ok_or_else(|| format!("resource index {i} out of range"))?,
                )
            }
            None => Arc::new(Resource::default()),
        };
        let scope = match self.scope_index {
            Some(a) => {
                check_row(a, row, "scope_index")?;
                let i = a.value(row) as usize;
                Arc::clone(
                    tables
                        .scopes
                        .get(i)
                        .ok_or_else(|| format!("scope index {i} out of range"))?,
                )
            }
            None => Arc::new(Scope::default()),
        };
        Ok(SpanRecord::new(resource, scope, span))
    }
}

fn index_column(batch: &RecordBatch, at: usize, expected_start: usize) -> Result<(), String> {
    let a = typed::<UInt32Array>(batch.column(at).as_ref(), "index")?;
    for (k, v) in a.values().iter().enumerate() {
        if *v as usize != expected_start + k {
            return Err("table indexes are not consecutive".into());
        }
    }
    Ok(())
}

fn required<T: Array + 'static>(batch: &RecordBatch, at: usize) -> Result<&T, String> {
    if at >= batch.num_columns() {
        return Err(format!("column {at} is missing"));
    }
    typed::<T>(batch.column(at).as_ref(), batch.schema().field(at).name())
}

/// Decodes `resources.parquet` batches (all columns, in file order).
pub(crate) fn decode_resources(batches: &[RecordBatch]) -> Result<Vec<Arc<Resource>>, String> {
    let mut out = Vec::new();
    for batch in batches {
        if batch.schema().fields() != schema::resources_schema().fields() {
            return Err("resources.parquet has an unexpected schema".into());
        }
        index_column(batch, resource_col::INDEX, out.len())?;
        let attrs = AttrList::new(required::<ListArray>(batch, resource_col::ATTRIBUTES)?)?;
        let dropped = required::<UInt32Array>(batch, resource_col::DROPPED)?;
        let url = required::<StringArray>(batch, resource_col::SCHEMA_URL)?;
        for row in 0..batch.num_rows() {
            check_row(dropped, row, "dropped_attributes_count")?;
            check_row(url, row, "schema_url")?;
            out.push(Arc::new(Resource {
                attributes: attrs.decode(row, &no_hot)?,
                dropped_attributes_count: dropped.value(row),
                schema_url: url.value(row).to_owned(),
            }));
        }
    }
    Ok(out)
}

/// Decodes `scopes.parquet` batches (all columns, in file order).
pub(crate) fn decode_scopes(batches: &[RecordBatch]) -> Result<Vec<Arc<Scope>>, String> {
    let mut out = Vec::new();
    for batch in batches {
        if batch.schema().fields() != schema::scopes_schema().fields() {
            return Err("scopes.parquet has an unexpected schema".into());
        }
        index_column(batch, scope_col::INDEX, out.len())?;
        let name = required::<StringArray>(batch, scope_col::NAME)?;
        let version = required::<StringArray>(batch, scope_col::VERSION)?;
        let attrs = AttrList::new(required::<ListArray>(batch, scope_col::ATTRIBUTES)?)?;
        let dropped = required::<UInt32Array>(batch, scope_col::DROPPED)?;
        let url = required::<StringArray>(batch, scope_col::SCHEMA_URL)?;
        for row in 0..batch.num_rows() {
            for (a, what) in [(name, "name"), (version, "version"), (url, "schema_url")] {
                check_row(a, row, what)?;
            }
            check_row(dropped, row, "dropped_attributes_count")?;
            out.push(Arc::new(Scope {
                name: name.value(row).to_owned(),
                version: version.value(row).to_owned(),
                attributes: attrs.decode(row, &no_hot)?,
                dropped_attributes_count: dropped.value(row),
                schema_url: url.value(row).to_owned(),
            }));
        }
    }
    Ok(out)
}
