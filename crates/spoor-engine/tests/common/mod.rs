//! Helpers shared by the engine's integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use spoor_model::{
    AnyValue, KeyValue, Resource, Scope, Span, SpanBatch, SpanId, SpanKind, SpanRecord, TraceId,
};
use spoor_storage::conformance::{Fixtures, load_fixtures};

/// A fresh, empty directory under Cargo's per-test temporary folder.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "spoor-engine-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture_dir() -> PathBuf {
    spoor_storage::conformance::conformance_dir().unwrap_or_else(|e| panic!("{e}"))
}

/// Jaeger's storage fixtures, decoded with the OTLP JSON codec.
pub fn fixtures() -> Fixtures {
    let dir = fixture_dir();
    let decode = |bytes: &[u8]| spoor_codec::otlp_json::decode(bytes).map_err(|e| e.to_string());
    load_fixtures(&dir, decode, SystemTime::now()).unwrap_or_else(|e| {
        panic!(
            "cannot load the conformance fixtures from {}: {e}\n\
             (set SPOOR_CONFORMANCE_DIR to the conformance/jaeger folder)",
            dir.display()
        )
    })
}

/// A deterministic batch: `spans` spans of trace (`writer`, `seq`), with
/// attributes of every simple type and an event.
pub fn numbered_batch(writer: u64, seq: u64, spans: u64) -> SpanBatch {
    let resource = Arc::new(Resource {
        attributes: vec![
            KeyValue::str("service.name", format!("writer-{writer}")),
            KeyValue::new("host.id", AnyValue::Int(writer as i64)),
        ],
        ..Resource::default()
    });
    let scope = Arc::new(Scope {
        name: "crash-test".into(),
        ..Scope::default()
    });
    let trace_id = TraceId::from_halves(writer + 1, seq);
    let base = 1_700_000_000_000_000_000 + seq * 1_000_000;
    let records = (0..spans)
        .map(|i| {
            SpanRecord::new(
                Arc::clone(&resource),
                Arc::clone(&scope),
                Span {
                    trace_id,
                    span_id: SpanId::from_u64(i + 1),
                    parent_span_id: SpanId::from_u64(i),
                    name: format!("op-{}", i % 3),
                    kind: SpanKind::Server,
                    start_time_unix_nano: base + i,
                    end_time_unix_nano: base + i + 1_000,
                    attributes: vec![
                        KeyValue::str("http.method", "GET"),
                        KeyValue::new("seq", AnyValue::Int(seq as i64)),
                        KeyValue::new("ratio", AnyValue::Double(i as f64 / 3.0)),
                        KeyValue::new("flag", AnyValue::Bool(i % 2 == 0)),
                    ],
                    events: vec![spoor_model::Event {
                        time_unix_nano: base + i + 5,
                        name: "ev".into(),
                        attributes: vec![KeyValue::str("k", "v")],
                        dropped_attributes_count: 0,
                    }],
                    ..Span::default()
                },
            )
        })
        .collect();
    SpanBatch { spans: records }
}

/// Writes through the engine and cuts the head into a block after every
/// write; with `compact_every`, also compacts after every that many writes.
pub struct CutEveryWrite {
    engine: Arc<spoor_engine::Engine>,
    compact_every: Option<usize>,
    writes: std::sync::atomic::AtomicUsize,
}

impl CutEveryWrite {
    pub fn new(engine: &Arc<spoor_engine::Engine>, compact_every: Option<usize>) -> Self {
        CutEveryWrite {
            engine: Arc::clone(engine),
            compact_every,
            writes: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl CutEveryWrite {
    /// Writes and cuts, panicking on an error.
    pub async fn write_spans_checked(&self, batch: SpanBatch) {
        spoor_storage::SpanWriter::write_spans(self, batch)
            .await
            .unwrap();
    }
}

#[async_trait::async_trait]
impl spoor_storage::SpanWriter for CutEveryWrite {
    async fn write_spans(&self, batch: SpanBatch) -> Result<(), spoor_storage::StorageError> {
        spoor_storage::SpanWriter::write_spans(&*self.engine, batch).await?;
        self.engine
            .cut()
            .await
            .map_err(spoor_storage::StorageError::from)?;
        let n = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if let Some(every) = self.compact_every
            && n.is_multiple_of(every)
        {
            self.engine
                .compact()
                .await
                .map_err(spoor_storage::StorageError::from)?;
        }
        Ok(())
    }
}

/// An in-memory object store whose writes can be made to fail: all of
/// them (`fail_writes`), or from the `fail_from_put`-th put on (counting
/// from 1; 0 = never), as a process dying mid-upload would leave it.
#[derive(Debug, Default)]
pub struct FlakyStore {
    pub inner: object_store::memory::InMemory,
    pub fail_writes: std::sync::atomic::AtomicBool,
    pub fail_from_put: AtomicU64,
    /// Puts seen so far (failed ones included).
    pub puts: AtomicU64,
}

impl std::fmt::Display for FlakyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlakyStore")
    }
}

mod flaky {
    use std::ops::Range;
    use std::sync::atomic::Ordering;

    use async_trait::async_trait;
    use bytes::Bytes;
    use futures::stream::BoxStream;
    use object_store::path::Path;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
        PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
    };

    use super::FlakyStore;

    impl FlakyStore {
        fn check(&self) -> Result<()> {
            let n = self.puts.fetch_add(1, Ordering::Relaxed) + 1;
            let from = self.fail_from_put.load(Ordering::Relaxed);
            if self.fail_writes.load(Ordering::Relaxed) || (from > 0 && n >= from) {
                return Err(object_store::Error::Generic {
                    store: "FlakyStore",
                    source: "injected write failure".into(),
                });
            }
            Ok(())
        }
    }

    #[async_trait]
    impl ObjectStore for FlakyStore {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> Result<PutResult> {
            self.check()?;
            self.inner.put_opts(location, payload, opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            self.check()?;
            self.inner.put_multipart_opts(location, opts).await
        }

        async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
            self.inner.get_opts(location, options).await
        }

        async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
            self.inner.get_ranges(location, ranges).await
        }

        fn delete_stream(
            &self,
            locations: BoxStream<'static, Result<Path>>,
        ) -> BoxStream<'static, Result<Path>> {
            self.inner.delete_stream(locations)
        }

        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.inner.list(prefix)
        }

        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }

        async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
            self.check()?;
            self.inner.copy_opts(from, to, options).await
        }
    }
}

/// The default configuration without background compaction, for tests that
/// count blocks: their old-timestamped blocks would otherwise be merged by
/// the maintenance task as soon as a slow machine lets a tick pass.
pub fn quiet_config(dir: &std::path::Path) -> spoor_engine::EngineConfig {
    spoor_engine::EngineConfig {
        compaction: false,
        ..spoor_engine::EngineConfig::new(dir)
    }
}

/// The system time, Unix nanoseconds.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A clock that runs the returned number of nanoseconds behind the system
/// clock (0 at first; store into it to move the clock back).
pub fn lagging_clock() -> (spoor_engine::Clock, Arc<AtomicU64>) {
    let lag = Arc::new(AtomicU64::new(0));
    let read = Arc::clone(&lag);
    let clock =
        spoor_engine::Clock::new(move || now_nanos().saturating_sub(read.load(Ordering::Relaxed)));
    (clock, lag)
}

/// Every object's name under `store`, sorted.
pub async fn object_names(store: &dyn object_store::ObjectStore) -> Vec<String> {
    use futures::TryStreamExt;
    let mut names: Vec<String> = store
        .list(None)
        .map_ok(|o| o.location.to_string())
        .try_collect()
        .await
        .unwrap();
    names.sort();
    names
}

/// Runs the whole conformance suite on `engine` with every write cut into
/// a block, and checks that it passed, that each write made a block and
/// that the suite's purge left none; returns the writer.
pub async fn assert_suite_passes_cutting_every_write(
    engine: &Arc<spoor_engine::Engine>,
    fixtures: &Fixtures,
) -> CutEveryWrite {
    use spoor_storage::conformance::{Backend, run_all};
    let writer = CutEveryWrite::new(engine, None);
    let backend = Backend {
        writer: &writer,
        reader: &**engine,
        dependencies: Some(&**engine),
        metrics: Some(&**engine),
        purger: &**engine,
    };
    let report = run_all(&backend, fixtures).await;
    eprintln!("{report}");
    report.assert_all_passed();
    assert_eq!(report.passed_count(), report.checks.len(), "{report}");
    let stats = engine.stats();
    assert!(stats.blocks_cut > 40, "one block per write: {stats:?}");
    assert_eq!(
        (stats.blocks, stats.head_spans),
        (0, 0),
        "purged: {stats:?}"
    );
    writer
}
