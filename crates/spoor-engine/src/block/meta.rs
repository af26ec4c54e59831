//! A block's metadata (`meta.json`): what it holds, which format version
//! wrote it and which versions this build reads, the file names of a block
//! folder and the per-file size and checksum policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spoor_model::SpanKind;

use crate::EngineError;

/// The block format version this build writes. It reads this version and
/// the ones before it: version 4 keeps each trace's search result summary
/// and its facts in `index.bin` (index version 2; the traces of an older
/// block are summarized by reading them); version 3 added the ingest times and per-file
/// checksums to `meta.json` (a version 1 or 2 block has neither: its ingest
/// time is taken to be its creation time, and its files are not verified);
/// version 2 added `red.bin` (RED statistics); a version 1 block has none,
/// and its statistics are absent until compaction rewrites it.
pub const FORMAT_VERSION: u32 = 4;
pub(crate) const OLDEST_READABLE_VERSION: u32 = 1;

/// File names inside a block folder.
pub mod files {
    /// Spans, one row each, sorted by trace ID then start time.
    pub const SPANS: &str = "spans.parquet";
    /// Resources referenced by `spans.parquet`'s `resource_index`.
    pub const RESOURCES: &str = "resources.parquet";
    /// Instrumentation scopes referenced by `scope_index`.
    pub const SCOPES: &str = "scopes.parquet";
    /// Trace index and summaries.
    pub const INDEX: &str = "index.bin";
    /// Trace-ID Bloom filter.
    pub const BLOOM: &str = "bloom.bin";
    /// Per-minute service dependency edges.
    pub const EDGES: &str = "edges.bin";
    /// Per-minute RED statistics (format 2 and later).
    pub const RED: &str = "red.bin";
    /// Block metadata, written after every other file.
    pub const META: &str = "meta.json";
    /// Written first and removed after `meta.json` (format 3 and later): a
    /// folder holding it and no `meta.json` is a write that never finished.
    pub const WRITING: &str = "WRITING";
    /// Every data file of a block this build writes, in upload order.
    pub const DATA: [&str; 7] = [SPANS, RESOURCES, SCOPES, INDEX, BLOOM, EDGES, RED];
}

/// One operation of a service in a block.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OperationMeta {
    pub service: String,
    pub name: String,
    /// OTLP span kind number (0 unspecified … 5 consumer).
    pub kind: u8,
}

/// The contents of `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Block format version.
    pub format_version: u32,
    /// The block's folder name.
    pub id: String,
    pub created_unix_nano: u64,
    /// 0 for a block cut from the head; compaction adds one to the highest input level.
    pub level: u32,
    /// Every WAL segment up to and including this sequence number is in
    /// this block or an older one.
    pub wal_seq: u64,
    /// Earliest and latest span start, latest span end.
    pub min_start_unix_nano: u64,
    pub max_start_unix_nano: u64,
    pub max_end_unix_nano: u64,
    pub spans: u64,
    pub traces: u64,
    /// Service names, sorted.
    pub services: Vec<String>,
    /// (service, operation, kind), sorted.
    pub operations: Vec<OperationMeta>,
    /// Every attribute key in the block (span, event, link, resource and
    /// scope attributes), sorted; absent when there are too many to list.
    pub attribute_keys: Option<Vec<String>>,
    /// File name → size in bytes.
    pub files: BTreeMap<String, u64>,
    /// Blocks this one replaces (compaction); they are deleted once it exists.
    #[serde(default)]
    pub replaces: Vec<String>,
    /// Wall-clock time (Unix nanoseconds) at which Spoor received the
    /// block's first and last span (format 3; compaction keeps the earliest
    /// and the latest of its inputs). Retention counts from the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ingest_unix_nano: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ingest_unix_nano: Option<u64>,
    /// File name → CRC-32 (IEEE) of its bytes (format 3), verified when the
    /// file is first read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, u32>,
}

impl BlockMeta {
    /// When Spoor received the block's newest span: `max_ingest_unix_nano`,
    /// or, for a block written before format 3, its creation time (never
    /// earlier than the arrival of any of its spans).
    pub fn newest_ingest_unix_nano(&self) -> u64 {
        self.max_ingest_unix_nano.unwrap_or(self.created_unix_nano)
    }

    /// When Spoor received the block's oldest span (see
    /// [`BlockMeta::newest_ingest_unix_nano`]).
    pub fn oldest_ingest_unix_nano(&self) -> u64 {
        self.min_ingest_unix_nano.unwrap_or(self.created_unix_nano)
    }

    /// Can a span starting in `[min, max]` be in this block?
    pub(crate) fn overlaps_starts(&self, min: Option<u64>, max: Option<u64>) -> bool {
        !(min.is_some_and(|m| m > self.max_start_unix_nano)
            || max.is_some_and(|m| m < self.min_start_unix_nano))
    }

    /// Operations of `service` (optionally of one kind).
    pub(crate) fn operations_of<'a>(
        &'a self,
        service: &'a str,
        kind: Option<SpanKind>,
    ) -> impl Iterator<Item = (&'a str, SpanKind)> + 'a {
        let from = self
            .operations
            .partition_point(|o| o.service.as_str() < service);
        self.operations[from..]
            .iter()
            .take_while(move |o| o.service == service)
            .map(|o| (o.name.as_str(), SpanKind::from_i32(i32::from(o.kind))))
            .filter(move |(_, k)| kind.is_none_or(|want| want == *k))
    }

    pub(crate) fn has_service(&self, service: &str) -> bool {
        self.services
            .binary_search_by(|s| s.as_str().cmp(service))
            .is_ok()
    }

    pub(crate) fn has_operation(&self, service: &str, name: &str) -> bool {
        self.operations_of(service, None).any(|(n, _)| n == name)
    }

    /// False when attribute key `key` certainly appears nowhere in the block.
    pub(crate) fn may_have_key(&self, key: &str) -> bool {
        match &self.attribute_keys {
            Some(keys) => keys.binary_search_by(|k| k.as_str().cmp(key)).is_ok(),
            None => true,
        }
    }
}
/// Parses a block's `meta.json` and checks it against the format versions
/// this build reads and against the folder it was found in.
pub(crate) fn parse_meta(block: &str, bytes: &[u8]) -> Result<BlockMeta, EngineError> {
    let meta: BlockMeta = serde_json::from_slice(bytes)
        .map_err(|e| damaged_err(block, format!("parsing meta.json: {e}")))?;
    if meta.format_version < OLDEST_READABLE_VERSION || meta.format_version > FORMAT_VERSION {
        return Err(EngineError::UnsupportedVersion {
            what: format!("block {block}"),
            version: meta.format_version,
        });
    }
    if meta.format_version >= 3 && meta.files.keys().any(|f| !meta.checksums.contains_key(f)) {
        return Err(damaged_err(
            block,
            "meta.json of a format 3 block lacks a checksum for some of its files",
        ));
    }
    if meta.id != block {
        return Err(damaged_err(
            block,
            format!("meta.json names block {}", meta.id),
        ));
    }
    Ok(meta)
}

/// The block's stored bytes are not what was written (they fail to decode
/// or contradict `meta.json`): the block is damaged.
pub(crate) fn damaged_err(block: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Damaged {
        block: block.to_owned(),
        message: e.to_string(),
    }
}

/// Checks a file of `len` bytes against what `meta.json` records about it.
/// `crc` is only computed when a checksum is recorded (format 3).
pub(crate) fn verify(
    meta: &BlockMeta,
    file: &str,
    len: u64,
    crc: impl FnOnce() -> u32,
) -> Result<(), EngineError> {
    let Some(&want) = meta.checksums.get(file) else {
        return Ok(());
    };
    let damaged = |message: String| EngineError::Damaged {
        block: meta.id.clone(),
        message,
    };
    if let Some(&size) = meta.files.get(file)
        && size != len
    {
        return Err(damaged(format!(
            "{file} holds {len} bytes, meta.json records {size}"
        )));
    }
    let got = crc();
    if got != want {
        return Err(damaged(format!(
            "{file} fails its checksum (crc32 {got:08x}, meta.json records {want:08x})"
        )));
    }
    Ok(())
}
