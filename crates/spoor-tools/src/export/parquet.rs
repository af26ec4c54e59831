//! Apache Parquet output of `spoor export`: one row per span, columns in
//! [`COLUMNS`] (documented in docs/export.md), written in row groups so
//! memory holds one row group at most.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use spoor_codec::export::{attributes_json, events_json, kind_name, links_json, status_name};
use spoor_model::{SpanRecord, Trace};

/// Column names and whether each is a 64-bit integer (else a UTF-8 string).
pub const COLUMNS: [(&str, bool, bool); 17] = [
    // (name, is_int, nullable)
    ("trace_id", false, false),
    ("span_id", false, false),
    ("parent_span_id", false, true),
    ("service", false, false),
    ("operation", false, false),
    ("kind", false, false),
    ("start_unix_nano", true, false),
    ("end_unix_nano", true, false),
    ("duration_nano", true, false),
    ("status_code", false, false),
    ("status_message", false, false),
    ("scope_name", false, false),
    ("scope_version", false, false),
    ("attributes", false, false),
    ("resource_attributes", false, false),
    ("events", false, false),
    ("links", false, false),
];

/// Rows buffered before they are handed to the Parquet writer.
const BATCH_ROWS: usize = 8 * 1024;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|(name, int, nullable)| {
                Field::new(
                    *name,
                    if *int {
                        DataType::Int64
                    } else {
                        DataType::Utf8
                    },
                    *nullable,
                )
            })
            .collect::<Vec<_>>(),
    ))
}

/// Writes spans to a Parquet file.
pub struct ParquetSink<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    strings: Vec<StringBuilder>,
    ints: Vec<Int64Builder>,
    rows: usize,
}

fn nanos(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl<W: Write + Send> ParquetSink<W> {
    /// A writer whose row groups hold at most `row_group_spans` rows.
    pub fn new(out: W, row_group_spans: usize) -> Result<Self> {
        let schema = schema();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(row_group_spans.max(1)))
            .set_created_by(format!("spoor export {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))
            .context("cannot start the Parquet file")?;
        let strings = COLUMNS
            .iter()
            .filter(|c| !c.1)
            .map(|_| StringBuilder::new())
            .collect();
        let ints = COLUMNS
            .iter()
            .filter(|c| c.1)
            .map(|_| Int64Builder::new())
            .collect();
        Ok(ParquetSink {
            writer,
            schema,
            strings,
            ints,
            rows: 0,
        })
    }

    fn row(&mut self, r: &SpanRecord) {
        let s = &r.span;
        let parent = (!s.parent_span_id.is_zero()).then(|| s.parent_span_id.to_hex());
        let strings: [Option<String>; 14] = [
            Some(s.trace_id.to_hex()),
            Some(s.span_id.to_hex()),
            parent,
            Some(r.service_name().to_string()),
            Some(s.name.clone()),
            Some(kind_name(s.kind).to_string()),
            Some(status_name(s.status.code).to_string()),
            Some(s.status.message.clone()),
            Some(r.scope.name.clone()),
            Some(r.scope.version.clone()),
            Some(attributes_json(&s.attributes)),
            Some(attributes_json(&r.resource.attributes)),
            Some(events_json(r)),
            Some(links_json(r)),
        ];
        for (builder, value) in self.strings.iter_mut().zip(strings) {
            builder.append_option(value);
        }
        let ints = [
            nanos(s.start_time_unix_nano),
            nanos(s.end_time_unix_nano),
            nanos(s.duration_nanos()),
        ];
        for (builder, value) in self.ints.iter_mut().zip(ints) {
            builder.append_value(value);
        }
        self.rows += 1;
    }

    /// Adds every span of a trace.
    pub fn trace(&mut self, trace: &Trace) -> Result<()> {
        for r in &trace.spans {
            self.row(r);
        }
        if self.rows >= BATCH_ROWS {
            self.flush_rows()?;
        }
        Ok(())
    }

    fn flush_rows(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut strings = self.strings.iter_mut();
        let mut ints = self.ints.iter_mut();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
        for (_, int, _) in COLUMNS {
            let array: Option<ArrayRef> = if int {
                ints.next().map(|b| Arc::new(b.finish()) as ArrayRef)
            } else {
                strings.next().map(|b| Arc::new(b.finish()) as ArrayRef)
            };
            columns.extend(array);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .context("cannot build a Parquet row batch")?;
        self.writer
            .write(&batch)
            .context("cannot write to the Parquet file")?;
        self.rows = 0;
        Ok(())
    }

    /// Writes what is buffered and the footer; returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.flush_rows()?;
        self.writer
            .into_inner()
            .context("cannot finish the Parquet file")
    }
}
