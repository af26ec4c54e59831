//! The storage conformance suite against the in-memory backend, with Jaeger's
//! fixtures decoded by `spoor_codec::otlp_json`.
//!
//! The fixtures are read from `SPOOR_CONFORMANCE_DIR` when set, else from the
//! shared `conformance/jaeger` folder next to the repository. A missing folder
//! fails the tests; nothing is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::SystemTime;

use async_trait::async_trait;
use spoor_model::{SpanBatch, Trace, TraceId};
use spoor_storage::conformance::{
    Backend, Fixtures, Outcome, Report, check_queries, load_fixtures, run_all, write_fixtures,
};
use spoor_storage::memory::MemoryStore;
use spoor_storage::{
    Capabilities, FoundTrace, GetTraceQuery, Operation, OperationQuery, Purger, SpanWriter,
    StorageError, TraceQuery, TraceReader,
};

fn fixture_dir() -> PathBuf {
    spoor_storage::conformance::conformance_dir().unwrap_or_else(|e| panic!("{e}"))
}

fn fixtures() -> Fixtures {
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

#[tokio::test]
async fn memory_store_passes_the_whole_suite() {
    let fixtures = fixtures();
    assert_eq!(fixtures.traces.len(), 32, "Jaeger ships 32 trace fixtures");
    assert_eq!(fixtures.queries.len(), 25, "Jaeger ships 25 search cases");

    let store = MemoryStore::new(1_000);
    let report = run_all(&Backend::of(&store), &fixtures).await;
    eprintln!("{report}");
    report.assert_all_passed();
    // Every search case ran twice, plus the other checks, and nothing was skipped.
    assert!(report.passed_count() >= 2 * 25 + 14, "{report}");
    assert_eq!(report.passed_count(), report.checks.len(), "{report}");
    // The suite purges at the end.
    assert_eq!(store.trace_count(), 0);
}

#[tokio::test]
async fn the_search_cases_run_alone_against_a_loaded_store() {
    let fixtures = fixtures();
    let store = MemoryStore::new(1_000);
    write_fixtures(&store, &fixtures).await.unwrap();
    assert_eq!(store.trace_count(), 32);
    let report = check_queries(&store, &fixtures).await;
    report.assert_all_passed();
    assert_eq!(report.checks.len(), 50);

    let multiple = fixtures
        .queries
        .iter()
        .find(|c| c.caption == "Multiple Traces")
        .unwrap();
    let ids: Vec<String> = multiple
        .expected_trace_ids(&fixtures)
        .iter()
        .map(TraceId::to_hex)
        .collect();
    assert_eq!(
        ids,
        vec![
            "00000000000000000000000000000221",
            "00000000000000000000000000000222",
            "00000000000000000000000000000223"
        ]
    );
}

#[test]
fn fixture_dates_are_recent() {
    let fixtures = fixtures();
    let day = 86_400 * 1_000_000_000u64;
    let today = fixtures.now / day;
    for (stem, batch) in &fixtures.traces {
        for record in &batch.spans {
            let d = record.span.start_time_unix_nano / day;
            assert!(
                d == today - 1 || d == today - 2,
                "{stem}: span starts on day {d}, today is {today}"
            );
        }
    }
    // The one span dated 2017-01-25 moved two days back, keeping 23:56:31.639875.
    let multi = &fixtures.traces["multi_index_trace"];
    let early = multi
        .spans
        .iter()
        .map(|r| r.span.start_time_unix_nano)
        .min()
        .unwrap();
    assert_eq!(early / day, today - 2);
    assert_eq!(
        early % day,
        ((23 * 60 + 56) * 60 + 31) * 1_000_000_000 + 639_875_000
    );
    for case in &fixtures.queries {
        let min = case.query.start_min.unwrap();
        assert_eq!(min / day, today - 1, "{}", case.caption);
    }
}

#[test]
fn a_missing_fixture_directory_fails_loudly() {
    let err = load_fixtures(
        &fixture_dir().join("no-such-folder"),
        |_| Ok(SpanBatch::default()),
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
}

/// A deliberately broken backend, to show the suite catches each fault.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// Search results come back oldest first.
    Reversed,
    /// Search ignores the service name.
    IgnoresService,
    /// Fetching a trace loses its last span.
    DropsLastSpan,
    /// Writing the same span twice stores it twice; purge keeps the services.
    NotIdempotent,
}

struct Faulty {
    store: MemoryStore,
    fault: Fault,
    /// Spans written again verbatim under `NotIdempotent`.
    again: parking_lot::Mutex<Vec<SpanBatch>>,
}

impl Faulty {
    fn new(fault: Fault) -> Self {
        Faulty {
            store: MemoryStore::new(1_000),
            fault,
            again: parking_lot::Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl SpanWriter for Faulty {
    async fn write_spans(&self, batch: SpanBatch) -> Result<(), StorageError> {
        if self.fault == Fault::NotIdempotent {
            let seen = self.again.lock().contains(&batch);
            self.again.lock().push(batch.clone());
            if seen {
                // Make every span distinct so the store keeps both copies.
                let mut copy = batch.clone();
                for r in &mut copy.spans {
                    r.span.flags ^= 0x100;
                }
                self.store.write_spans(copy).await?;
            }
        }
        self.store.write_spans(batch).await
    }
}

#[async_trait]
impl TraceReader for Faulty {
    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }

    async fn get_trace(&self, query: GetTraceQuery) -> Result<Option<Trace>, StorageError> {
        let mut trace = self.store.get_trace(query).await?;
        if self.fault == Fault::DropsLastSpan
            && let Some(t) = &mut trace
        {
            t.spans.pop();
        }
        Ok(trace)
    }

    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError> {
        let mut query = query.clone();
        if self.fault == Fault::IgnoresService {
            query.service = None;
        }
        let mut traces = self.store.find_traces(&query).await?;
        if self.fault == Fault::Reversed {
            traces.reverse();
        }
        Ok(traces)
    }

    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<FoundTrace>, StorageError> {
        let mut ids = self.store.find_trace_ids(query).await?;
        if self.fault == Fault::Reversed {
            ids.reverse();
        }
        Ok(ids)
    }

    async fn services(&self) -> Result<Vec<String>, StorageError> {
        self.store.services().await
    }

    async fn operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError> {
        self.store.operations(query).await
    }
}

#[async_trait]
impl Purger for Faulty {
    async fn purge(&self) -> Result<(), StorageError> {
        if self.fault == Fault::NotIdempotent {
            // Leave one trace behind.
            let keep = self.again.lock().first().cloned();
            self.store.purge().await?;
            if let Some(batch) = keep {
                self.store.write_spans(batch).await?;
            }
            return Ok(());
        }
        self.store.purge().await
    }
}

async fn run_faulty(fault: Fault, fixtures: &Fixtures) -> Report {
    let backend = Faulty::new(fault);
    let report = run_all(
        &Backend {
            writer: &backend,
            reader: &backend,
            dependencies: None,
            metrics: None,
            purger: &backend,
        },
        fixtures,
    )
    .await;
    assert_eq!(
        report
            .outcome("dependencies")
            .map(|o| matches!(o, Outcome::Skipped(_))),
        Some(true),
        "no dependency reader means the dependency check is skipped"
    );
    report
}

fn failed(report: &Report, name: &str) -> String {
    match report.outcome(name) {
        Some(Outcome::Failed(why)) => why.clone(),
        other => panic!("check {name:?} should have failed, got {other:?}\n{report}"),
    }
}

#[tokio::test]
async fn the_suite_catches_broken_backends() {
    let fixtures = fixtures();

    let report = run_faulty(Fault::Reversed, &fixtures).await;
    let why = failed(&report, "limit and newest-first order");
    assert!(why.contains("expected [") && why.contains("got ["), "{why}");
    failed(&report, "find_traces: Multiple Traces");
    failed(&report, "find_trace_ids: Multiple Traces");
    assert!(report.outcome("find_traces: default") == Some(&Outcome::Passed));

    let report = run_faulty(Fault::IgnoresService, &fixtures).await;
    let why = failed(&report, "find_traces: Multiple Traces");
    assert!(why.contains("unexpected trace(s)"), "{why}");

    let report = run_faulty(Fault::DropsLastSpan, &fixtures).await;
    failed(&report, "get_trace");
    failed(&report, "get_trace of a 10,008-span trace");
    let why = failed(&report, "get_trace with duplicate span IDs");
    assert!(why.contains("missing span"), "{why}");

    let report = run_faulty(Fault::NotIdempotent, &fixtures).await;
    let why = failed(&report, "writes are idempotent");
    assert!(
        why.contains("after writing example_trace a second time"),
        "{why}"
    );
    let why = failed(&report, "purge");
    assert!(why.contains("remain after purge"), "{why}");
}
