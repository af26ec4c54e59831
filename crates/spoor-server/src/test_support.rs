//! Helpers for the receivers' tests: an app state over a recording writer,
//! a recording sink, a raw HTTP/1.1 client and a metrics reader.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spoor_model::SpanBatch;
use spoor_service::{
    BatchSink, IngestError, IngestOptions, IngestOutcome, Ingester, QueryOptions, QueryService,
    Source, Telemetry,
};
use spoor_storage::memory::MemoryStore;
use spoor_storage::{SpanWriter, StorageError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::{AppState, Limits, ServerConfig};

/// How long a test waits for something to happen.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Records what it is given; optionally holds every call until released.
#[derive(Default)]
pub struct Recorder {
    batches: Mutex<Vec<(SpanBatch, Source)>>,
    /// Calls that started (before waiting on the gate).
    entered: std::sync::atomic::AtomicUsize,
    gate: Option<Arc<Semaphore>>,
}

impl Recorder {
    /// A recorder that lets every call through.
    pub fn open() -> Arc<Self> {
        Arc::new(Recorder::default())
    }

    /// A recorder whose calls wait until [`Recorder::release`].
    pub fn gated() -> Arc<Self> {
        Arc::new(Recorder {
            gate: Some(Arc::new(Semaphore::new(0))),
            ..Recorder::default()
        })
    }

    /// Lets `n` waiting (or future) calls through.
    pub fn release(&self, n: usize) {
        if let Some(g) = &self.gate {
            g.add_permits(n);
        }
    }

    /// Calls that started so far.
    pub fn entered(&self) -> usize {
        self.entered.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The batches recorded so far.
    pub fn batches(&self) -> Vec<(SpanBatch, Source)> {
        self.batches.lock().unwrap().clone()
    }

    async fn record(&self, batch: SpanBatch, source: Source) {
        self.entered
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(g) = &self.gate {
            g.acquire().await.unwrap().forget();
        }
        self.batches.lock().unwrap().push((batch, source));
    }
}

#[async_trait::async_trait]
impl SpanWriter for Recorder {
    async fn write_spans(&self, batch: SpanBatch) -> Result<(), StorageError> {
        let source = Source {
            receiver: "",
            transport: "",
            format: "",
        };
        self.record(batch, source).await;
        Ok(())
    }
}

/// A [`BatchSink`] that records batches and counts like the ingester does.
pub struct RecordingSink {
    pub recorder: Arc<Recorder>,
    pub metrics: Arc<Telemetry>,
}

#[async_trait::async_trait]
impl BatchSink for RecordingSink {
    async fn submit(
        &self,
        batch: SpanBatch,
        _wire_bytes: usize,
        source: Source,
    ) -> Result<IngestOutcome, IngestError> {
        let spans = batch.len();
        // Counted first, so that a recorded batch is always already counted.
        let counters = self.metrics.receiver(source);
        counters.accepted(spans as u64);
        counters.request_ok();
        self.recorder.record(batch, source).await;
        Ok(IngestOutcome {
            accepted_spans: spans,
            sanitized_spans: 0,
        })
    }
}

/// A memory budget with room for one small request whose spans are counted
/// before decoding (its bytes plus one span's decoded estimate), not for two.
pub const ONE_SMALL_REQUEST: usize = 1800;

/// An app state whose ingester writes into `recorder`.
pub fn state_with(
    recorder: Arc<Recorder>,
    limits: Limits,
    max_bytes_in_flight: usize,
) -> Arc<AppState> {
    let metrics = Arc::new(Telemetry::new("test"));
    let ingester = Arc::new(Ingester::new(
        recorder,
        metrics.clone(),
        IngestOptions {
            max_bytes_in_flight,
        },
    ));
    let query = Arc::new(QueryService::new(
        Arc::new(MemoryStore::new(10)),
        None,
        QueryOptions::default(),
    ));
    let config = ServerConfig {
        limits,
        retry_after_secs: 7,
        ..ServerConfig::default()
    };
    Arc::new(AppState::new(query, ingester, metrics, &config))
}

/// An app state with these query limits (and no ingest budget).
pub fn state_with_query_limits(query_limits: crate::QueryLimits) -> Arc<AppState> {
    let metrics = Arc::new(Telemetry::new("test"));
    let ingester = Arc::new(Ingester::new(
        Recorder::open(),
        metrics.clone(),
        IngestOptions {
            max_bytes_in_flight: 0,
        },
    ));
    let query = Arc::new(QueryService::new(
        Arc::new(MemoryStore::new(10)),
        None,
        QueryOptions::default(),
    ));
    let config = ServerConfig {
        query_limits,
        ..ServerConfig::default()
    };
    Arc::new(AppState::new(query, ingester, metrics, &config))
}

/// Serves `router` on an ephemeral loopback port for the rest of the test.
pub async fn serve_router(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Waits until `cond` holds, failing the test after [`PATIENCE`].
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One sample of `name` whose labels include `labels`, 0 when absent.
pub fn metric(metrics: &Telemetry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = metrics.render_prometheus();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            series.strip_prefix(name).is_some_and(|rest| {
                rest.starts_with('{')
                    && labels
                        .iter()
                        .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            })
        })
        .map(|(_, v)| v.parse::<f64>().unwrap())
        .sum()
}

/// `spoor_receiver_requests_total` of one source and result.
pub fn requests(metrics: &Telemetry, source: Source, result: &str) -> f64 {
    metric(
        metrics,
        "spoor_receiver_requests_total",
        &[
            ("receiver", source.receiver),
            ("transport", source.transport),
            ("format", source.format),
            ("result", result),
        ],
    )
}

/// An HTTP response as read off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How a request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    ContentLength,
    Chunked,
}

/// Sends one HTTP/1.1 request over a fresh connection and reads the reply.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    framing: Framing,
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let mut req = Vec::new();
    match framing {
        Framing::ContentLength => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            req.extend_from_slice(head.as_bytes());
            req.extend_from_slice(body);
        }
        Framing::Chunked => {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            req.extend_from_slice(head.as_bytes());
            for chunk in body.chunks(100) {
                req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                req.extend_from_slice(chunk);
                req.extend_from_slice(b"\r\n");
            }
            req.extend_from_slice(b"0\r\n\r\n");
        }
    }
    // The server may answer (and close) before reading everything it refuses.
    let _ = stream.write_all(&req).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut raw)).await;
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// gzip-compresses `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// zlib-compresses `data` (HTTP `deflate`).
pub fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// `n` spans of one fresh trace from `service`, named `name-0`, `name-1`, ….
pub fn sample_spans(service: &str, name: &str, n: usize) -> Vec<spoor_model::SpanRecord> {
    use spoor_model::{KeyValue, Resource, Scope, Span, SpanId, SpanKind, SpanRecord, TraceId};
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::str("service.name", service)],
        ..Resource::default()
    });
    let scope = Arc::new(Scope::default());
    let start = 1_700_000_000_000_000_000u64;
    let trace_id = TraceId::from_halves(0x1234, 0x5678 + n as u64);
    (0..n)
        .map(|i| {
            let span = Span {
                trace_id,
                span_id: SpanId::from_u64(0x1000 + i as u64),
                name: format!("{name}-{i}"),
                kind: SpanKind::Server,
                start_time_unix_nano: start + i as u64 * 1_000,
                end_time_unix_nano: start + i as u64 * 1_000 + 5_000_000,
                attributes: vec![KeyValue::str("padding", "x".repeat(40))],
                ..Span::default()
            };
            SpanRecord::new(Arc::clone(&resource), Arc::clone(&scope), span)
        })
        .collect()
}

/// The service and span names of recorded batches, flattened.
pub fn names(batches: &[(SpanBatch, Source)]) -> Vec<(String, String)> {
    batches
        .iter()
        .flat_map(|(b, _)| b.spans.iter())
        .map(|r| (r.service_name().to_string(), r.span.name.clone()))
        .collect()
}
