//! The tools of the `spoor` binary, one module each. The binary (`crates/spoor`)
//! only parses the command line and calls a tool's `main`.
//!
//! - [`tracegen`]: `spoor tracegen`, a seeded Train-Ticket-like load
//!   generator over every ingest protocol.
//! - [`bench`]: `spoor bench`, the benchmark scenarios of BENCHMARKS.md
//!   against a child `spoor`.
//! - [`import`]: `spoor import`, trace files into a running Spoor (OTLP/HTTP)
//!   or a stopped one's data directory.
//! - [`export`]: `spoor export`, every trace of a search out to a file.
//! - [`common`]: what several tools share (progress line, streaming
//!   JSON/protobuf splitters, logging).
//!
//! Every request a tool sends to a Spoor goes through `spoor-client` (one
//! HTTP client construction, one sender, one retry policy; ADR 0019).
//!
//! To add a tool: a module here with a clap `Args` struct and a
//! `main(args) -> anyhow::Result<()>`, and one variant in
//! `spoor::Command` that calls it.

pub mod bench;
pub mod common;
pub mod export;
pub mod import;
pub mod tracegen;
