//! The storage conformance suite every Spoor backend runs.
//!
//! It ports Jaeger's storage integration suite (`internal/storage/integration`)
//! to Spoor's traits, protocol-neutrally: the caller decodes Jaeger's OTLP-JSON
//! fixture files (with whatever codec it has) and hands them to
//! [`load_fixtures`]; everything else is built from the model.
//!
//! [`run_all`] purges the backend, writes the whole corpus once (Jaeger's 32
//! trace fixtures and the synthetic traces below), runs every check against it
//! and purges again at the end:
//! - services (every service the corpus wrote) and the operations of
//!   `example-service-1` with their span kinds, also filtered by kind;
//! - get-trace of `example_trace` (with and without a time hint), of a
//!   10,008-span trace, of a 200-span trace in which every 20th span repeats a
//!   span ID (all 200 spans must come back, duplicates included), and of an
//!   unknown ID (`None`, not an error);
//! - Jaeger's 25 search cases ([`check_queries`]): each returns exactly the
//!   expected traces, each exactly once and with exactly the spans written,
//!   newest first; `find_trace_ids` returns the same IDs in the same order;
//! - search without a service (two services sharing an attribute), the limit
//!   and the newest-first order (start descending, then trace ID), and a limit
//!   of 0 rejected as an invalid query;
//! - dependencies over three windows; idempotent writes; purge;
//! - beyond Jaeger (`extended`): filter expressions (`AND`, `OR`, `NOT`,
//!   regexes, existence, every key kind), whole-trace duration bounds with
//!   the limit, Jaeger's tag cases rewritten as filters, and RED statistics
//!   (exact calls and errors, latency quantiles within 1 %);
//! - every tag the Jaeger JSON shows is searchable (`shown_tags`): the tags
//!   the OTLP → Jaeger mapping synthesizes (`otel.status_code`,
//!   `otel.scope.name`, `w3c.tracestate`, …), log fields and process tags,
//!   as Jaeger tags and in filter expressions.
//!
//! Backends must hold at least 100 traces for the suite to fit.

mod compare;
mod corpus;
mod extended;
mod fixtures;
mod report;
mod shown_tags;

use std::collections::BTreeMap;

use spoor_model::{DependencyLink, SpanBatch, SpanKind, Trace, TraceId, UnixNanos};

use crate::{
    DependencyReader, GetTraceQuery, Operation, OperationQuery, Purger, RedStatsReader, SpanWriter,
    StorageError, StorageErrorKind, TagFilter, TraceQuery, TraceReader,
};
use corpus::{Corpus, EXAMPLE_FIXTURE};

pub use compare::{
    CanonicalSpan, canonical_span, check_newest_first, compare_span_sets, compare_traces,
};
pub use fixtures::{CONFORMANCE_DIR_ENV, Fixtures, QueryCase, conformance_dir, load_fixtures};
pub use report::{CheckResult, Outcome, Report};

/// The backend under test, as the traits the suite drives.
#[derive(Clone, Copy)]
pub struct Backend<'a> {
    pub writer: &'a dyn SpanWriter,
    pub reader: &'a dyn TraceReader,
    /// `None` skips the dependency checks.
    pub dependencies: Option<&'a dyn DependencyReader>,
    /// `None` skips the RED statistics checks.
    pub metrics: Option<&'a dyn RedStatsReader>,
    pub purger: &'a dyn Purger,
}

impl<'a> Backend<'a> {
    /// A backend that implements every trait in one value.
    pub fn of<S>(store: &'a S) -> Self
    where
        S: SpanWriter + TraceReader + DependencyReader + RedStatsReader + Purger,
    {
        Backend {
            writer: store,
            reader: store,
            dependencies: Some(store),
            metrics: Some(store),
            purger: store,
        }
    }
}

const HOUR: u64 = 3_600 * 1_000_000_000;

fn storage_error(e: StorageError) -> String {
    format!("storage error ({:?}): {}", e.kind, e.message)
}

/// Groups batches into traces, sorted by trace ID.
fn traces_of<'a>(batches: impl IntoIterator<Item = &'a SpanBatch>) -> Vec<Trace> {
    let mut by_id: BTreeMap<TraceId, Trace> = BTreeMap::new();
    for record in batches.into_iter().flat_map(|b| b.spans.iter()) {
        by_id
            .entry(record.span.trace_id)
            .or_insert_with(|| Trace {
                trace_id: record.span.trace_id,
                ..Trace::default()
            })
            .spans
            .push(record.clone());
    }
    by_id.into_values().collect()
}

/// Trace IDs in the order a search must return them: start descending, then ID.
fn newest_first_ids(traces: &[Trace]) -> Vec<TraceId> {
    let mut keyed: Vec<(UnixNanos, TraceId)> = traces
        .iter()
        .map(|t| (t.start_time(), t.trace_id))
        .collect();
    keyed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    keyed.into_iter().map(|(_, id)| id).collect()
}

fn join_ids(ids: &[TraceId]) -> String {
    ids.iter()
        .map(TraceId::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn all_ok(results: impl IntoIterator<Item = Result<(), String>>) -> Result<(), String> {
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// Writes every fixture trace file as one batch, in file-stem order.
pub async fn write_fixtures(writer: &dyn SpanWriter, fixtures: &Fixtures) -> Result<(), String> {
    for (stem, batch) in &fixtures.traces {
        writer
            .write_spans(batch.clone())
            .await
            .map_err(|e| format!("writing fixture {stem}: {}", storage_error(e)))?;
    }
    Ok(())
}

/// Runs Jaeger's search cases against a reader that already holds the
/// fixtures (see [`write_fixtures`]): two checks per case, `find_traces: …`
/// and `find_trace_ids: …`.
pub async fn check_queries(reader: &dyn TraceReader, fixtures: &Fixtures) -> Report {
    let mut report = Report::new();
    for case in &fixtures.queries {
        let expected = case.expected_traces(fixtures);
        let expected_order = newest_first_ids(&expected);

        let found = reader.find_traces(&case.query).await.map_err(storage_error);
        let result = found.and_then(|actual| {
            all_ok([
                compare_traces(&expected, &actual),
                check_newest_first(&actual),
            ])
        });
        report.record(format!("find_traces: {}", case.caption), result);

        let found = reader
            .find_trace_ids(&case.query)
            .await
            .map_err(storage_error);
        let result = found.and_then(|ids| check_found_ids(&expected, &expected_order, &ids));
        report.record(format!("find_trace_ids: {}", case.caption), result);
    }
    report
}

fn check_found_ids(
    expected: &[Trace],
    expected_order: &[TraceId],
    found: &[crate::FoundTrace],
) -> Result<(), String> {
    let got: Vec<TraceId> = found.iter().map(|f| f.trace_id).collect();
    if got != expected_order {
        return Err(format!(
            "expected IDs [{}] (newest first), got [{}]",
            join_ids(expected_order),
            join_ids(&got)
        ));
    }
    for f in found {
        let Some(trace) = expected.iter().find(|t| t.trace_id == f.trace_id) else {
            continue;
        };
        if f.start > f.end || f.start < trace.start_time() || f.end > trace.end_time() {
            return Err(format!(
                "trace {}: range {}..{} is not inside the trace's {}..{}",
                f.trace_id,
                f.start,
                f.end,
                trace.start_time(),
                trace.end_time()
            ));
        }
    }
    Ok(())
}

/// Runs the whole suite. The backend is purged first and last.
pub async fn run_all(backend: &Backend<'_>, fixtures: &Fixtures) -> Report {
    let mut report = Report::new();
    let corpus = match Corpus::build(fixtures) {
        Ok(c) => c,
        Err(e) => {
            report.record("build corpus", Err(e));
            return report;
        }
    };
    let reader = backend.reader;
    let ext = extended::Extended::build(fixtures);
    let shown = shown_tags::ShownTags::build(fixtures);

    report.record(
        "purge before writing",
        backend.purger.purge().await.map_err(storage_error),
    );
    report.record(
        "write corpus",
        write_corpus(backend.writer, fixtures, &corpus, &ext, &shown).await,
    );

    report.record(
        "services",
        check_services(reader, fixtures, &corpus, &ext, &shown).await,
    );
    report.record("operations", check_operations(reader).await);
    report.record("get_trace", check_get_example(reader, &corpus).await);
    report.record(
        "get_trace of an unknown ID",
        check_get_unknown(reader, fixtures, &corpus).await,
    );
    report.record(
        "get_trace of a 10,008-span trace",
        check_get_whole(reader, &corpus.large).await,
    );
    report.record(
        "get_trace with duplicate span IDs",
        check_get_duplicates(reader, &corpus.duplicates).await,
    );
    report.extend(check_queries(reader, fixtures).await);
    if reader.capabilities().search_without_service {
        report.record(
            "search without a service",
            check_without_service(reader, fixtures, &corpus).await,
        );
    } else {
        report.skip(
            "search without a service",
            "the backend requires a service name",
        );
    }
    report.record(
        "limit and newest-first order",
        check_ordering(reader, &corpus).await,
    );
    report.record("limit 0 is rejected", check_limit_zero(reader).await);
    report.record(
        "filter expressions and trace duration",
        extended::check_search(reader, &ext).await,
    );
    report.record(
        "every tag the Jaeger JSON shows is searchable",
        shown_tags::check(reader, &shown).await,
    );
    report.record(
        "Jaeger's tag cases as filter expressions",
        extended::check_tags_as_filters(reader, fixtures).await,
    );
    match backend.metrics {
        Some(metrics) if reader.capabilities().metrics => {
            report.record(
                "RED statistics",
                extended::check_metrics(metrics, &ext).await,
            );
        }
        _ => report.skip("RED statistics", "the backend does not read metrics"),
    }
    match backend.dependencies {
        Some(deps) if reader.capabilities().dependencies => {
            report.record("dependencies", check_dependencies(deps, &corpus).await);
        }
        _ => report.skip("dependencies", "the backend does not read dependencies"),
    }
    report.record(
        "writes are idempotent",
        check_idempotent(backend.writer, reader, &corpus).await,
    );
    report.record("purge", check_purge(backend.purger, reader, &corpus).await);
    report
}

async fn write_corpus(
    writer: &dyn SpanWriter,
    fixtures: &Fixtures,
    corpus: &Corpus,
    ext: &extended::Extended,
    shown: &shown_tags::ShownTags,
) -> Result<(), String> {
    write_fixtures(writer, fixtures).await?;
    for batch in corpus
        .synthetic_batches()
        .chain(&ext.batches)
        .chain(&shown.batches)
    {
        writer
            .write_spans(batch.clone())
            .await
            .map_err(|e| format!("writing synthetic data: {}", storage_error(e)))?;
    }
    Ok(())
}

async fn check_services(
    reader: &dyn TraceReader,
    fixtures: &Fixtures,
    corpus: &Corpus,
    ext: &extended::Extended,
    shown: &shown_tags::ShownTags,
) -> Result<(), String> {
    let mut expected = corpus.services(fixtures);
    expected.extend(
        ext.batches
            .iter()
            .chain(&shown.batches)
            .flat_map(|b| b.spans.iter())
            .map(|r| r.service_name().to_owned()),
    );
    expected.sort();
    expected.dedup();
    let actual = reader.services().await.map_err(storage_error)?;
    if actual == expected {
        return Ok(());
    }
    let missing: Vec<&String> = expected.iter().filter(|s| !actual.contains(s)).collect();
    let extra: Vec<&String> = actual.iter().filter(|s| !expected.contains(s)).collect();
    Err(format!(
        "expected {} sorted services; missing {missing:?}, unexpected {extra:?}, got {actual:?}",
        expected.len()
    ))
}

async fn check_operations(reader: &dyn TraceReader) -> Result<(), String> {
    let op = |name: &str, span_kind| Operation {
        name: name.to_owned(),
        span_kind,
    };
    let cases = [
        (
            None,
            vec![
                op("example-operation-1", SpanKind::Unspecified),
                op("example-operation-3", SpanKind::Server),
                op("example-operation-4", SpanKind::Client),
            ],
        ),
        (
            Some(SpanKind::Server),
            vec![op("example-operation-3", SpanKind::Server)],
        ),
        (
            Some(SpanKind::Client),
            vec![op("example-operation-4", SpanKind::Client)],
        ),
    ];
    let mut errors = Vec::new();
    for (span_kind, expected) in cases {
        let query = OperationQuery {
            service: "example-service-1".into(),
            span_kind,
        };
        let actual = reader.operations(&query).await.map_err(storage_error)?;
        if actual != expected {
            errors.push(format!(
                "operations of example-service-1 (kind {span_kind:?}): expected {expected:?}, got {actual:?}"
            ));
        }
    }
    let query = OperationQuery {
        service: "no-such-service".into(),
        span_kind: None,
    };
    let actual = reader.operations(&query).await.map_err(storage_error)?;
    if !actual.is_empty() {
        errors.push(format!("operations of an unknown service: got {actual:?}"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// Fetches one trace and compares it with what was written.
async fn fetch_and_compare(
    reader: &dyn TraceReader,
    query: GetTraceQuery,
    expected: &Trace,
) -> Result<Trace, String> {
    let actual = reader
        .get_trace(query)
        .await
        .map_err(storage_error)?
        .ok_or_else(|| format!("trace {} not found", expected.trace_id))?;
    if actual.trace_id != expected.trace_id {
        return Err(format!(
            "asked for trace {}, got trace {}",
            expected.trace_id, actual.trace_id
        ));
    }
    compare_traces(
        std::slice::from_ref(expected),
        std::slice::from_ref(&actual),
    )?;
    if actual.spans.len() != expected.spans.len() {
        return Err(format!(
            "trace {}: wrote {} spans, got {}",
            expected.trace_id,
            expected.spans.len(),
            actual.spans.len()
        ));
    }
    Ok(actual)
}

fn single_trace(batch: &SpanBatch) -> Result<Trace, String> {
    let mut traces = traces_of([batch]);
    match (traces.pop(), traces.is_empty()) {
        (Some(trace), true) => Ok(trace),
        _ => Err("the dataset does not hold exactly one trace".into()),
    }
}

async fn check_get_example(reader: &dyn TraceReader, corpus: &Corpus) -> Result<(), String> {
    let expected = single_trace(&corpus.example)?;
    fetch_and_compare(reader, GetTraceQuery::new(expected.trace_id), &expected).await?;
    let hinted = GetTraceQuery {
        trace_id: expected.trace_id,
        start: Some(expected.start_time()),
        end: Some(expected.end_time()),
    };
    fetch_and_compare(reader, hinted, &expected)
        .await
        .map_err(|e| format!("with a time hint: {e}"))?;
    Ok(())
}

async fn check_get_unknown(
    reader: &dyn TraceReader,
    fixtures: &Fixtures,
    corpus: &Corpus,
) -> Result<(), String> {
    let id = corpus
        .absent_trace_id(fixtures)
        .ok_or("no absent trace ID left to probe with")?;
    match reader.get_trace(GetTraceQuery::new(id)).await {
        Ok(None) => Ok(()),
        Ok(Some(t)) => Err(format!(
            "trace {id} was never written, yet {} span(s) came back",
            t.spans.len()
        )),
        Err(e) => Err(format!(
            "an unknown ID must give None, not an error: {}",
            storage_error(e)
        )),
    }
}

async fn check_get_whole(reader: &dyn TraceReader, batch: &SpanBatch) -> Result<(), String> {
    let expected = single_trace(batch)?;
    fetch_and_compare(reader, GetTraceQuery::new(expected.trace_id), &expected)
        .await
        .map(|_| ())
}

async fn check_get_duplicates(reader: &dyn TraceReader, batch: &SpanBatch) -> Result<(), String> {
    let expected = single_trace(batch)?;
    let actual =
        fetch_and_compare(reader, GetTraceQuery::new(expected.trace_id), &expected).await?;
    let mut ids: Vec<_> = actual.spans.iter().map(|r| r.span.span_id).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    if ids.len() == before {
        return Err("duplicate span IDs should be present in the trace".into());
    }
    Ok(())
}

async fn check_without_service(
    reader: &dyn TraceReader,
    fixtures: &Fixtures,
    corpus: &Corpus,
) -> Result<(), String> {
    let query = TraceQuery {
        tags: vec![TagFilter::new(corpus::CROSS_SERVICE_MARKER, "yes")],
        start_min: Some(fixtures.now.saturating_sub(HOUR)),
        start_max: Some(fixtures.now + HOUR),
        limit: 10,
        ..TraceQuery::default()
    };
    let expected = traces_of(&corpus.cross_service);
    let actual = reader.find_traces(&query).await.map_err(storage_error)?;
    all_ok([
        compare_traces(&expected, &actual),
        check_newest_first(&actual),
    ])?;
    let services: Vec<&str> = actual
        .iter()
        .flat_map(|t| t.spans.iter().map(|r| r.service_name()))
        .collect();
    for want in corpus::CROSS_SERVICES {
        if !services.contains(&want) {
            return Err(format!("no span of service {want} came back"));
        }
    }
    Ok(())
}

async fn check_ordering(reader: &dyn TraceReader, corpus: &Corpus) -> Result<(), String> {
    let all = traces_of(&corpus.ordering);
    let order = newest_first_ids(&all);
    let (start_min, start_max) = corpus.ordering_window;
    let mut errors = Vec::new();
    for limit in [all.len() + 5, 4, 1] {
        let query = TraceQuery {
            service: Some(corpus::ORDERING_SERVICE.into()),
            start_min: Some(start_min),
            start_max: Some(start_max),
            limit,
            ..TraceQuery::default()
        };
        let want: Vec<TraceId> = order.iter().take(limit).copied().collect();
        let expected: Vec<Trace> = all
            .iter()
            .filter(|t| want.contains(&t.trace_id))
            .cloned()
            .collect();

        let actual = reader.find_traces(&query).await.map_err(storage_error)?;
        let got: Vec<TraceId> = actual.iter().map(|t| t.trace_id).collect();
        if got != want {
            errors.push(format!(
                "find_traces with limit {limit}: expected [{}], got [{}]",
                join_ids(&want),
                join_ids(&got)
            ));
        } else if let Err(e) = compare_traces(&expected, &actual) {
            errors.push(format!("find_traces with limit {limit}: {e}"));
        }

        let found = reader.find_trace_ids(&query).await.map_err(storage_error)?;
        let got: Vec<TraceId> = found.iter().map(|f| f.trace_id).collect();
        if got != want {
            errors.push(format!(
                "find_trace_ids with limit {limit}: expected [{}], got [{}]",
                join_ids(&want),
                join_ids(&got)
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

async fn check_limit_zero(reader: &dyn TraceReader) -> Result<(), String> {
    let query = TraceQuery {
        service: Some("example-service-1".into()),
        limit: 0,
        ..TraceQuery::default()
    };
    let expect_invalid = |what: &str, kind: Option<StorageErrorKind>| match kind {
        Some(StorageErrorKind::InvalidQuery) => Ok(()),
        Some(other) => Err(format!(
            "{what} with limit 0: expected InvalidQuery, got {other:?}"
        )),
        None => Err(format!(
            "{what} with limit 0 succeeded; it must be an InvalidQuery error"
        )),
    };
    let traces = reader.find_traces(&query).await.err().map(|e| e.kind);
    let ids = reader.find_trace_ids(&query).await.err().map(|e| e.kind);
    all_ok([
        expect_invalid("find_traces", traces),
        expect_invalid("find_trace_ids", ids),
    ])
}

async fn check_dependencies(deps: &dyn DependencyReader, corpus: &Corpus) -> Result<(), String> {
    let mut errors = Vec::new();
    for (start, end, expected) in &corpus.dependency_windows {
        let mut actual: Vec<DependencyLink> = deps
            .dependencies(*start, *end)
            .await
            .map_err(storage_error)?;
        actual.sort_by(|a, b| (&a.parent, &a.child).cmp(&(&b.parent, &b.child)));
        if &actual != expected {
            errors.push(format!(
                "window {start}..{end}: expected {expected:?}, got {actual:?}"
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

async fn check_idempotent(
    writer: &dyn SpanWriter,
    reader: &dyn TraceReader,
    corpus: &Corpus,
) -> Result<(), String> {
    writer
        .write_spans(corpus.example.clone())
        .await
        .map_err(storage_error)?;
    let expected = single_trace(&corpus.example)?;
    fetch_and_compare(reader, GetTraceQuery::new(expected.trace_id), &expected)
        .await
        .map(|_| ())
        .map_err(|e| format!("after writing {EXAMPLE_FIXTURE} a second time: {e}"))
}

async fn check_purge(
    purger: &dyn Purger,
    reader: &dyn TraceReader,
    corpus: &Corpus,
) -> Result<(), String> {
    purger.purge().await.map_err(storage_error)?;
    let mut errors = Vec::new();
    let services = reader.services().await.map_err(storage_error)?;
    if !services.is_empty() {
        errors.push(format!("services remain after purge: {services:?}"));
    }
    let example = single_trace(&corpus.example)?;
    if reader
        .get_trace(GetTraceQuery::new(example.trace_id))
        .await
        .map_err(storage_error)?
        .is_some()
    {
        errors.push(format!("trace {} remains after purge", example.trace_id));
    }
    let query = TraceQuery {
        service: Some("example-service-1".into()),
        limit: 10,
        ..TraceQuery::default()
    };
    let found = reader.find_traces(&query).await.map_err(storage_error)?;
    if !found.is_empty() {
        errors.push(format!("search finds {} trace(s) after purge", found.len()));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}
