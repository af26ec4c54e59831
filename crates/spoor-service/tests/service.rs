//! The service layer end to end, over small in-test storage fakes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use spoor_model::testing::{self, record_of as rec};
use spoor_model::{
    AnyValue, DependencyLink, KeyValue, Resource, Span, SpanBatch, SpanKind, SpanRecord, Trace,
    TraceId, UnixNanos, find_attr,
};
use spoor_service::{
    AdjustOptions, IngestError, IngestOptions, Ingester, QueryOptions, QueryService, Source,
    Telemetry,
};
use spoor_storage::{
    Capabilities, DependencyReader, FoundTrace, GetTraceQuery, Operation, OperationQuery,
    SpanWriter, StorageError, StorageErrorKind, TraceQuery, TraceReader, matches_span,
};
use tokio::sync::Notify;

const SRC: Source = Source {
    receiver: "otlp",
    transport: "http",
    format: "protobuf",
};

// ---------------------------------------------------------------- fakes

/// Holds traces; returns shallow clones (sharing the `Arc`s) like a cache would.
struct FakeReader {
    traces: Mutex<Vec<Trace>>,
    caps: Capabilities,
}

impl FakeReader {
    fn new(traces: Vec<Trace>, search_without_service: bool) -> Arc<Self> {
        Arc::new(FakeReader {
            traces: Mutex::new(traces),
            caps: Capabilities {
                search_without_service,
                dependencies: false,
                metrics: false,
            },
        })
    }
}

#[async_trait]
impl TraceReader for FakeReader {
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
    async fn get_trace(&self, query: GetTraceQuery) -> Result<Option<Trace>, StorageError> {
        Ok(self
            .traces
            .lock()
            .iter()
            .find(|t| t.trace_id == query.trace_id)
            .cloned())
    }
    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError> {
        Ok(self
            .traces
            .lock()
            .iter()
            .filter(|t| t.spans.iter().any(|r| matches_span(r, query)))
            .take(query.limit)
            .cloned()
            .collect())
    }
    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<FoundTrace>, StorageError> {
        let traces = self.find_traces(query).await?;
        Ok(traces
            .iter()
            .map(|t| FoundTrace::new(t.trace_id, t.start_time(), t.end_time()))
            .collect())
    }
    async fn services(&self) -> Result<Vec<String>, StorageError> {
        Ok(vec!["a".into(), "b".into()])
    }
    async fn operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError> {
        Ok(vec![Operation {
            name: format!("{}-op", query.service),
            span_kind: SpanKind::Server,
        }])
    }
}

struct FakeDeps(Vec<DependencyLink>);

#[async_trait]
impl DependencyReader for FakeDeps {
    async fn dependencies(
        &self,
        _start: UnixNanos,
        _end: UnixNanos,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        Ok(self.0.clone())
    }
}

/// Records batches; can be told to fail, or to wait until released.
#[derive(Default)]
struct FakeWriter {
    batches: Mutex<Vec<SpanBatch>>,
    fail: bool,
    gate: Option<Arc<Notify>>,
    entered: Arc<Notify>,
}

#[async_trait]
impl SpanWriter for FakeWriter {
    async fn write_spans(&self, batch: SpanBatch) -> Result<(), StorageError> {
        self.entered.notify_one();
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        if self.fail {
            return Err(StorageError::new(
                StorageErrorKind::Unavailable,
                "disk full",
            ));
        }
        self.batches.lock().push(batch);
        Ok(())
    }
}

// ---------------------------------------------------------------- data

fn tid(n: u64) -> TraceId {
    TraceId::from_halves(0, n)
}

fn resource(service: &str, host: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![
            KeyValue::str("service.name", service),
            KeyValue::str("host.name", host),
        ],
        ..Default::default()
    })
}

fn span(trace: u64, id: u64, parent: u64, kind: SpanKind, start: u64, end: u64) -> Span {
    testing::record()
        .trace_id(tid(trace))
        .id(id)
        .parent(parent)
        .name(format!("op{id}"))
        .kind(kind)
        .start(start)
        .end(end)
        .span()
}

/// A Zipkin-style trace: client and server share span ID 1; the server's
/// resource has unsorted attributes and carries an SDK attribute on the span.
fn zipkin_trace() -> Trace {
    let front = resource("frontend", "h1");
    let back = Arc::new(Resource {
        attributes: vec![
            KeyValue::str("service.name", "backend"),
            KeyValue::str("host.name", "h2"),
            KeyValue::str("a.first", "x"),
        ],
        ..Default::default()
    });
    let mut server = span(1, 1, 0, SpanKind::Server, 120, 180);
    server
        .attributes
        .push(KeyValue::str("telemetry.sdk.language", "go"));
    Trace {
        trace_id: tid(1),
        spans: vec![
            rec(&front, span(1, 1, 0, SpanKind::Client, 100, 200)),
            rec(&back, server),
            rec(&back, span(1, 7, 1, SpanKind::Internal, 130, 140)),
        ],
        warnings: vec![],
    }
}

fn service(reader: Arc<FakeReader>, opts: QueryOptions) -> QueryService {
    QueryService::new(reader, None, opts)
}

fn metrics_value(m: &Telemetry, line_prefix: &str) -> f64 {
    m.render_prometheus()
        .lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit_once(' '))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or_else(|| panic!("no line {line_prefix}"))
}

// ---------------------------------------------------------------- query

#[tokio::test]
async fn get_trace_adjusts_unless_raw_and_never_mutates_storage() {
    let reader = FakeReader::new(vec![zipkin_trace()], true);
    let qs = service(Arc::clone(&reader), QueryOptions::default());

    let raw = qs
        .get_trace(GetTraceQuery::new(tid(1)), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw, zipkin_trace());

    let t = qs
        .get_trace(GetTraceQuery::new(tid(1)), false)
        .await
        .unwrap()
        .unwrap();
    let ids: Vec<(u64, u64)> = t
        .spans
        .iter()
        .map(|r| (r.span.span_id.as_u64(), r.span.parent_span_id.as_u64()))
        .collect();
    // server got ID 2 under the client; its child now hangs off the server
    assert_eq!(ids, vec![(1, 0), (2, 1), (7, 2)]);
    let server = &t.spans[1];
    assert_eq!(server.resource.attributes[0].key, "a.first", "sorted");
    assert_eq!(
        find_attr(&server.resource.attributes, "telemetry.sdk.language"),
        Some(&AnyValue::Str("go".into())),
        "library attribute moved to the resource"
    );
    assert!(Arc::ptr_eq(&t.spans[1].resource, &t.spans[2].resource));
    assert!(server.warnings.is_empty(), "{:?}", server.warnings);

    // the stored trace is exactly as it was
    assert_eq!(reader.traces.lock()[0], zipkin_trace());

    assert!(
        qs.get_trace(GetTraceQuery::new(tid(99)), false)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn clock_skew_is_reported_by_default_and_applied_when_enabled() {
    let front = resource("frontend", "h1");
    let back = resource("backend", "h2");
    let skewed = Trace {
        trace_id: tid(5),
        spans: vec![
            rec(&front, span(5, 1, 0, SpanKind::Client, 1_000, 2_000)),
            rec(&back, span(5, 2, 1, SpanKind::Server, 100, 600)),
        ],
        warnings: vec![],
    };
    let reader = FakeReader::new(vec![skewed], true);

    let qs = service(Arc::clone(&reader), QueryOptions::default());
    let t = qs
        .get_trace(GetTraceQuery::new(tid(5)), false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.spans[1].span.start_time_unix_nano, 100);
    assert_eq!(
        t.spans[1].warnings,
        vec!["clock skew adjustment disabled; not applying calculated delta of 1.15µs"]
    );

    let qs = service(
        reader,
        QueryOptions {
            adjust: AdjustOptions {
                max_clock_skew_adjust: Duration::from_secs(1),
            },
            max_trace_size: 0,
        },
    );
    let t = qs
        .get_trace(GetTraceQuery::new(tid(5)), false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.spans[1].span.start_time_unix_nano, 1_250);
    assert_eq!(t.spans[1].span.end_time_unix_nano, 1_750);
    assert_eq!(
        t.spans[1].warnings,
        vec!["This span's timestamps were adjusted by 1.15µs"]
    );
}

#[tokio::test]
async fn get_traces_skips_missing_and_repeated_ids() {
    let mut second = zipkin_trace();
    second.trace_id = tid(2);
    for r in &mut second.spans {
        r.span.trace_id = tid(2);
    }
    let reader = FakeReader::new(vec![zipkin_trace(), second], true);
    let qs = service(reader, QueryOptions::default());
    let ids = [tid(2), tid(42), tid(1), tid(2)].map(GetTraceQuery::new);
    let traces = qs.get_traces(&ids, false).await.unwrap();
    let got: Vec<TraceId> = traces.iter().map(|t| t.trace_id).collect();
    assert_eq!(got, vec![tid(2), tid(1)]);
}

#[tokio::test]
async fn max_trace_size_truncates_adjusted_traces_only() {
    let res = resource("svc", "h");
    // Big enough to take the blocking-pool path.
    let spans: Vec<SpanRecord> = (1..=6_000u64)
        .map(|i| {
            rec(
                &res,
                span(3, i, if i == 1 { 0 } else { 1 }, SpanKind::Internal, 10, 20),
            )
        })
        .collect();
    let trace = Trace {
        trace_id: tid(3),
        spans,
        warnings: vec![],
    };
    let reader = FakeReader::new(vec![trace], true);
    let qs = service(
        reader,
        QueryOptions {
            adjust: AdjustOptions::default(),
            max_trace_size: 5_500,
        },
    );
    let t = qs
        .get_trace(GetTraceQuery::new(tid(3)), false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.spans.len(), 5_500);
    assert_eq!(
        t.spans[0].warnings,
        vec!["trace has more than 5500 spans, showing first 5500 spans only"]
    );
    let raw = qs
        .get_trace(GetTraceQuery::new(tid(3)), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw.spans.len(), 6_000);
}

#[tokio::test]
async fn find_traces_and_summaries() {
    let reader = FakeReader::new(vec![zipkin_trace()], false);
    let qs = service(reader, QueryOptions::default());

    let q = TraceQuery {
        service: Some("backend".into()),
        limit: 10,
        ..Default::default()
    };
    let found = qs.find_traces(&q, false).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].spans[1].span.span_id.as_u64(), 2, "adjusted");
    let raw = qs.find_traces(&q, true).await.unwrap();
    assert_eq!(raw[0], zipkin_trace());

    let summaries = qs.find_trace_summaries(&q).await.unwrap();
    assert_eq!(summaries.len(), 1);
    let s = &summaries[0];
    assert_eq!(s.trace_id, tid(1));
    assert_eq!(s.root_service_name, "frontend");
    assert_eq!(s.root_operation_name, "op1");
    assert_eq!(
        (s.min_start_time_unix_nano, s.max_end_time_unix_nano),
        (100, 200)
    );
    // after de-duplicating the shared ID, no span is an orphan
    assert_eq!(
        (s.span_count, s.error_span_count, s.orphan_span_count),
        (3, 0, 0)
    );
    let names: Vec<&str> = s.services.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, vec!["backend", "frontend"]);

    // this reader cannot search without a service
    let anywhere = TraceQuery {
        limit: 10,
        ..Default::default()
    };
    let err = qs.find_traces(&anywhere, false).await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::InvalidQuery);
    assert_eq!(err.message, spoor_service::query::SERVICE_NAME_REQUIRED);
    assert!(qs.find_trace_summaries(&anywhere).await.is_err());
}

#[tokio::test]
async fn search_without_service_when_the_backend_can() {
    let reader = FakeReader::new(vec![zipkin_trace()], true);
    let qs = service(reader, QueryOptions::default());
    let q = TraceQuery {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(qs.find_traces(&q, false).await.unwrap().len(), 1);
}

#[tokio::test]
async fn services_operations_and_dependencies() {
    let reader = FakeReader::new(vec![], true);
    let qs = service(Arc::clone(&reader), QueryOptions::default());
    assert_eq!(qs.services().await.unwrap(), vec!["a", "b"]);
    let ops = qs
        .operations(&OperationQuery {
            service: "a".into(),
            span_kind: None,
        })
        .await
        .unwrap();
    assert_eq!(ops[0].name, "a-op");

    assert!(!qs.has_dependencies());
    let err = qs.dependencies(0, 10).await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Unsupported);

    let l = |p: &str, c: &str, n: u64| DependencyLink {
        parent: p.into(),
        child: c.into(),
        call_count: n,
    };
    let deps = Arc::new(FakeDeps(vec![
        l("b", "c", 2),
        l("a", "b", 1),
        l("b", "c", 5),
    ]));
    let qs = QueryService::new(reader, Some(deps), QueryOptions::default());
    assert_eq!(
        qs.dependencies(0, 10).await.unwrap(),
        vec![l("a", "b", 1), l("b", "c", 7)]
    );
}

// ---------------------------------------------------------------- ingest

fn batch_of(n: u64) -> SpanBatch {
    let res = resource("svc", "h");
    SpanBatch {
        spans: (1..=n)
            .map(|i| rec(&res, span(9, i, 0, SpanKind::Server, 10, 20)))
            .collect(),
    }
}

#[tokio::test]
async fn ingest_sanitizes_writes_and_counts() {
    let writer = Arc::new(FakeWriter::default());
    let metrics = Arc::new(Telemetry::new("test"));
    let ing = Ingester::new(
        Arc::clone(&writer) as Arc<dyn SpanWriter>,
        Arc::clone(&metrics),
        IngestOptions {
            max_bytes_in_flight: 1 << 20,
        },
    );
    let mut batch = batch_of(3);
    batch.spans[0].span.name.clear();
    batch.spans[1].resource = Arc::new(Resource::default());
    batch.spans[2].span.end_time_unix_nano = 5;
    let outcome = ing.submit(batch, 1_000, SRC).await.unwrap();
    assert_eq!(outcome.accepted_spans, 3);
    assert_eq!(outcome.sanitized_spans, 3);

    let written = writer.batches.lock();
    let spans = &written[0].spans;
    assert_eq!(spans[0].span.name, "empty-span-name");
    assert_eq!(spans[1].service_name(), "missing-service-name");
    assert_eq!(spans[2].span.end_time_unix_nano, 11);
    assert!(find_attr(&spans[2].span.attributes, "@jaeger@warnings").is_some());
    drop(written);

    let labels = r#"{receiver="otlp",transport="http",format="protobuf""#;
    assert_eq!(
        metrics_value(
            &metrics,
            &format!("spoor_receiver_accepted_spans_total{labels}}}")
        ),
        3.0
    );
    assert_eq!(
        metrics_value(
            &metrics,
            &format!("spoor_receiver_requests_total{labels},result=\"ok\"}}")
        ),
        1.0
    );
    // The spans start at the epoch: far in the past of their receive time,
    // counted and kept as sent.
    assert_eq!(
        metrics_value(
            &metrics,
            "spoor_ingest_spans_timestamp_skew_total{direction=\"past\"}"
        ),
        3.0
    );
    assert_eq!(
        metrics_value(
            &metrics,
            "spoor_ingest_spans_timestamp_skew_total{direction=\"future\"}"
        ),
        0.0
    );
    assert_eq!(ing.available_bytes(), Some(1 << 20), "budget released");
}

#[tokio::test]
async fn ingest_refuses_when_bytes_in_flight_exceed_the_budget() {
    let gate = Arc::new(Notify::new());
    let writer = Arc::new(FakeWriter {
        gate: Some(Arc::clone(&gate)),
        ..Default::default()
    });
    let entered = Arc::clone(&writer.entered);
    let metrics = Arc::new(Telemetry::new("test"));
    let ing = Ingester::new(
        Arc::clone(&writer) as Arc<dyn SpanWriter>,
        Arc::clone(&metrics),
        IngestOptions {
            max_bytes_in_flight: 1_000,
        },
    );

    // A batch bigger than the whole budget is still admitted (it takes it all).
    let first = tokio::spawn({
        let ing = ing.clone();
        async move { ing.submit(batch_of(2), 5_000, SRC).await }
    });
    entered.notified().await;
    assert_eq!(ing.available_bytes(), Some(0));

    // While it is being written, nothing else fits: refused without waiting.
    let err = ing.submit(batch_of(4), 10, SRC).await.unwrap_err();
    assert!(matches!(err, IngestError::Overloaded));

    gate.notify_one();
    assert_eq!(first.await.unwrap().unwrap().accepted_spans, 2);
    assert_eq!(ing.available_bytes(), Some(1_000));

    // Room again.
    let third = tokio::spawn({
        let ing = ing.clone();
        async move { ing.submit(batch_of(1), 600, SRC).await }
    });
    entered.notified().await;
    assert_eq!(ing.available_bytes(), Some(400));
    assert!(matches!(
        ing.submit(batch_of(1), 401, SRC).await,
        Err(IngestError::Overloaded)
    ));
    gate.notify_one();
    third.await.unwrap().unwrap();

    let labels = r#"{receiver="otlp",transport="http",format="protobuf""#;
    assert_eq!(
        metrics_value(
            &metrics,
            &format!("spoor_receiver_refused_spans_total{labels},reason=\"overloaded\"}}")
        ),
        5.0
    );
    assert_eq!(
        metrics_value(
            &metrics,
            &format!("spoor_receiver_accepted_spans_total{labels}}}")
        ),
        3.0
    );
    assert_eq!(
        metrics_value(
            &metrics,
            &format!("spoor_receiver_requests_total{labels},result=\"overloaded\"}}")
        ),
        2.0
    );
}

#[tokio::test]
async fn ingest_reports_storage_errors() {
    let writer = Arc::new(FakeWriter {
        fail: true,
        ..Default::default()
    });
    let metrics = Arc::new(Telemetry::new("test"));
    let ing = Ingester::new(
        writer as Arc<dyn SpanWriter>,
        Arc::clone(&metrics),
        IngestOptions {
            max_bytes_in_flight: 0,
        },
    );
    assert_eq!(ing.available_bytes(), None, "0 = unlimited");
    let err = ing.submit(batch_of(2), 100, SRC).await.unwrap_err();
    match err {
        IngestError::Storage(e) => assert_eq!(e.kind, StorageErrorKind::Unavailable),
        other => panic!("unexpected {other:?}"),
    }
    // Storage that cannot write right now is overload (the sender retries),
    // not a storage error (issue 12).
    let labels = r#"{receiver="otlp",transport="http",format="protobuf""#;
    assert_eq!(
        metrics_value(
            &metrics,
            &format!("spoor_receiver_refused_spans_total{labels},reason=\"overloaded\"}}")
        ),
        2.0
    );
    assert_eq!(
        metrics_value(
            &metrics,
            &format!("spoor_receiver_refused_spans_total{labels},reason=\"storage_error\"}}")
        ),
        0.0
    );
}

#[tokio::test]
async fn empty_batches_are_acknowledged_without_a_write() {
    let writer = Arc::new(FakeWriter::default());
    let ing = Ingester::new(
        Arc::clone(&writer) as Arc<dyn SpanWriter>,
        Arc::new(Telemetry::new("test")),
        IngestOptions {
            max_bytes_in_flight: 10,
        },
    );
    let outcome = ing.submit(SpanBatch::default(), 0, SRC).await.unwrap();
    assert_eq!(outcome.accepted_spans, 0);
    assert!(writer.batches.lock().is_empty());
}

// ---------------------------------------------------------------- memory backend

#[tokio::test]
async fn round_trip_through_the_memory_backend() {
    let store = Arc::new(spoor_storage::memory::MemoryStore::new(100));
    let ing = Ingester::new(
        Arc::clone(&store) as Arc<dyn SpanWriter>,
        Arc::new(Telemetry::new("test")),
        IngestOptions {
            max_bytes_in_flight: 1 << 20,
        },
    );
    let t = zipkin_trace();
    ing.submit(SpanBatch { spans: t.spans }, 500, SRC)
        .await
        .unwrap();
    let qs = QueryService::new(
        Arc::clone(&store) as Arc<dyn TraceReader>,
        Some(store as Arc<dyn DependencyReader>),
        QueryOptions::default(),
    );
    let got = qs
        .get_trace(GetTraceQuery::new(tid(1)), false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.spans.len(), 3);
    let mut ids: Vec<u64> = got.spans.iter().map(|r| r.span.span_id.as_u64()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 7]);
    assert_eq!(qs.services().await.unwrap(), vec!["backend", "frontend"]);
}
