//! The Arrow schemas of a block's Parquet files (format version 1).
//!
//! See `docs/storage-format.md` for the documented form.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Attribute value types, as stored in an attribute's `type` field. The
/// numbers match the WAL's value tags; [`HOT`] means "the value is in the
/// span's dedicated column for this key".
pub(crate) mod value_type {
    pub(crate) const EMPTY: u8 = 0;
    pub(crate) const STR: u8 = 1;
    pub(crate) const BOOL: u8 = 2;
    pub(crate) const INT: u8 = 3;
    pub(crate) const DOUBLE: u8 = 4;
    pub(crate) const BYTES: u8 = 5;
    pub(crate) const ARRAY: u8 = 6;
    pub(crate) const MAP: u8 = 7;
    pub(crate) const HOT: u8 = 8;
}

/// The type of a dedicated hot-key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HotType {
    Str,
    Int,
}

/// Span attribute keys with a dedicated column: (key, column name, type).
/// The first span attribute with one of these keys and the matching value
/// type is stored in the column (and marked [`value_type::HOT`] in the
/// attribute list, which keeps its position).
pub(crate) const HOT_KEYS: &[(&str, &str, HotType)] = &[
    ("http.method", "attr_http_method", HotType::Str),
    (
        "http.request.method",
        "attr_http_request_method",
        HotType::Str,
    ),
    ("http.route", "attr_http_route", HotType::Str),
    ("http.target", "attr_http_target", HotType::Str),
    ("http.url", "attr_http_url", HotType::Str),
    ("url.full", "attr_url_full", HotType::Str),
    ("url.path", "attr_url_path", HotType::Str),
    ("http.status_code", "attr_http_status_code", HotType::Int),
    (
        "http.response.status_code",
        "attr_http_response_status_code",
        HotType::Int,
    ),
    ("server.address", "attr_server_address", HotType::Str),
    ("peer.service", "attr_peer_service", HotType::Str),
    ("db.system", "attr_db_system", HotType::Str),
    ("db.name", "attr_db_name", HotType::Str),
    ("db.namespace", "attr_db_namespace", HotType::Str),
    ("db.operation", "attr_db_operation", HotType::Str),
    ("db.statement", "attr_db_statement", HotType::Str),
    ("db.query.text", "attr_db_query_text", HotType::Str),
    ("rpc.system", "attr_rpc_system", HotType::Str),
    ("rpc.service", "attr_rpc_service", HotType::Str),
    ("rpc.method", "attr_rpc_method", HotType::Str),
    (
        "rpc.grpc.status_code",
        "attr_rpc_grpc_status_code",
        HotType::Int,
    ),
    ("messaging.system", "attr_messaging_system", HotType::Str),
    (
        "messaging.destination.name",
        "attr_messaging_destination_name",
        HotType::Str,
    ),
    ("error.type", "attr_error_type", HotType::Str),
];

/// Index of `key` in [`HOT_KEYS`].
pub(crate) fn hot_index(key: &str) -> Option<usize> {
    HOT_KEYS.iter().position(|(k, _, _)| *k == key)
}

/// Columns of `spans.parquet`, in order (hot columns follow).
pub(crate) mod col {
    pub(crate) const TRACE_ID: usize = 0;
    pub(crate) const SPAN_ID: usize = 1;
    pub(crate) const PARENT_SPAN_ID: usize = 2;
    pub(crate) const START: usize = 3;
    pub(crate) const DURATION: usize = 4;
    pub(crate) const NAME: usize = 6;
    pub(crate) const KIND: usize = 7;
    pub(crate) const STATUS_CODE: usize = 8;
    pub(crate) const STATUS_MESSAGE: usize = 9;
    pub(crate) const TRACE_STATE: usize = 10;
    pub(crate) const FLAGS: usize = 11;
    pub(crate) const RESOURCE_INDEX: usize = 12;
    pub(crate) const SCOPE_INDEX: usize = 13;
    pub(crate) const ATTRIBUTES: usize = 14;
    pub(crate) const DROPPED_ATTRIBUTES: usize = 15;
    pub(crate) const EVENTS: usize = 16;
    pub(crate) const DROPPED_EVENTS: usize = 17;
    pub(crate) const LINKS: usize = 18;
    pub(crate) const DROPPED_LINKS: usize = 19;
    /// The first hot-key column.
    pub(crate) const HOT: usize = 20;
}

pub(crate) fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The fields of one attribute.
pub(crate) fn attr_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("type", DataType::UInt8, false),
        Field::new("str", DataType::Utf8, true),
        Field::new("int", DataType::Int64, true),
        Field::new("double", DataType::Float64, true),
        Field::new("bool", DataType::Boolean, true),
        Field::new("bytes", DataType::Binary, true),
    ])
}

/// The element field of an attribute list.
pub(crate) fn attr_element() -> Arc<Field> {
    Arc::new(Field::new(
        "element",
        DataType::Struct(attr_fields()),
        false,
    ))
}

fn attr_list(name: &str) -> Field {
    Field::new(name, DataType::List(attr_element()), false)
}

pub(crate) fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("time_unix_nano", timestamp(), false),
        Field::new("name", DataType::Utf8, false),
        attr_list("attributes"),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
    ])
}

pub(crate) fn event_element() -> Arc<Field> {
    Arc::new(Field::new(
        "element",
        DataType::Struct(event_fields()),
        false,
    ))
}

pub(crate) fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("trace_state", DataType::Utf8, false),
        attr_list("attributes"),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
        Field::new("flags", DataType::UInt32, false),
    ])
}

pub(crate) fn link_element() -> Arc<Field> {
    Arc::new(Field::new(
        "element",
        DataType::Struct(link_fields()),
        false,
    ))
}

/// The schema of `spans.parquet`.
pub(crate) fn spans_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        let mut fields = vec![
            Field::new("trace_id", DataType::FixedSizeBinary(16), false),
            Field::new("span_id", DataType::FixedSizeBinary(8), false),
            Field::new("parent_span_id", DataType::FixedSizeBinary(8), false),
            Field::new("start_time_unix_nano", timestamp(), false),
            Field::new("duration_nanos", DataType::Int64, false),
            Field::new("service_name", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("kind", DataType::UInt8, false),
            Field::new("status_code", DataType::UInt8, false),
            Field::new("status_message", DataType::Utf8, false),
            Field::new("trace_state", DataType::Utf8, false),
            Field::new("flags", DataType::UInt32, false),
            Field::new("resource_index", DataType::UInt32, false),
            Field::new("scope_index", DataType::UInt32, false),
            attr_list("attributes"),
            Field::new("dropped_attributes_count", DataType::UInt32, false),
            Field::new("events", DataType::List(event_element()), false),
            Field::new("dropped_events_count", DataType::UInt32, false),
            Field::new("links", DataType::List(link_element()), false),
            Field::new("dropped_links_count", DataType::UInt32, false),
        ];
        for (_, column, ty) in HOT_KEYS {
            let dt = match ty {
                HotType::Str => DataType::Utf8,
                HotType::Int => DataType::Int64,
            };
            fields.push(Field::new(*column, dt, true));
        }
        Arc::new(Schema::new(fields))
    }))
}

/// Columns of `resources.parquet`.
pub(crate) mod resource_col {
    pub(crate) const INDEX: usize = 0;
    pub(crate) const ATTRIBUTES: usize = 2;
    pub(crate) const DROPPED: usize = 3;
    pub(crate) const SCHEMA_URL: usize = 4;
}

/// The schema of `resources.parquet`.
pub(crate) fn resources_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("resource_index", DataType::UInt32, false),
            Field::new("service_name", DataType::Utf8, false),
            attr_list("attributes"),
            Field::new("dropped_attributes_count", DataType::UInt32, false),
            Field::new("schema_url", DataType::Utf8, false),
        ]))
    }))
}

/// Columns of `scopes.parquet`.
pub(crate) mod scope_col {
    pub(crate) const INDEX: usize = 0;
    pub(crate) const NAME: usize = 1;
    pub(crate) const VERSION: usize = 2;
    pub(crate) const ATTRIBUTES: usize = 3;
    pub(crate) const DROPPED: usize = 4;
    pub(crate) const SCHEMA_URL: usize = 5;
}

/// The schema of `scopes.parquet`.
pub(crate) fn scopes_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("scope_index", DataType::UInt32, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("version", DataType::Utf8, false),
            attr_list("attributes"),
            Field::new("dropped_attributes_count", DataType::UInt32, false),
            Field::new("schema_url", DataType::Utf8, false),
        ]))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_constants_match_the_schema() {
        let schema = spans_schema();
        let name = |i: usize| schema.field(i).name().as_str();
        assert_eq!(name(col::TRACE_ID), "trace_id");
        assert_eq!(name(col::START), "start_time_unix_nano");
        assert_eq!(name(col::START + 2), "service_name");
        assert_eq!(name(col::SCOPE_INDEX), "scope_index");
        assert_eq!(name(col::DROPPED_LINKS), "dropped_links_count");
        assert_eq!(name(col::HOT), HOT_KEYS[0].1);
        assert_eq!(schema.fields().len(), col::HOT + HOT_KEYS.len());
        let mut names: Vec<&str> = HOT_KEYS.iter().map(|h| h.1).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), HOT_KEYS.len(), "hot column names are unique");
        assert_eq!(
            resources_schema().field(resource_col::SCHEMA_URL).name(),
            "schema_url"
        );
        assert_eq!(
            scopes_schema().field(scope_col::SCHEMA_URL).name(),
            "schema_url"
        );
        assert_eq!(
            hot_index("db.statement").map(|i| HOT_KEYS[i].1),
            Some("attr_db_statement")
        );
        assert_eq!(hot_index("nope"), None);
    }
}
