//! The block format: what the files of an immutable block hold and how they
//! are encoded — `meta.json` and the format versions (`meta`), the Parquet
//! schema of spans, resources and scopes (`schema`, written by `write`, read
//! back by `read`), the trace index with per-trace summaries (`index`),
//! per-minute dependency edges (`edges`), RED statistics (`red`) and the
//! framing of the binary files (`frame`). Nothing here does I/O: bytes come
//! from and go to the block store (`crate::store`); a loaded, readable block
//! and its scans are `crate::scan`.
//!
//! A block is the folder `<block id>/` in the block store (an `object_store`;
//! by default the local directory `<data_dir>/blocks`). See
//! `docs/storage-format.md` for every file's layout.

pub(crate) mod edges;
pub(crate) mod frame;
pub(crate) mod index;
mod meta;
pub(crate) mod read;
/// Public only to the fuzz targets (`cargo fuzz` sets `--cfg fuzzing`).
#[cfg(fuzzing)]
pub mod red;
#[cfg(not(fuzzing))]
pub(crate) mod red;
pub(crate) mod schema;
pub mod tools;
pub(crate) mod write;

pub use meta::{BlockMeta, FORMAT_VERSION, OperationMeta, files};
pub(crate) use meta::{damaged_err, parse_meta, verify};
