//! Jaeger `Agent.emitBatch` over UDP: Thrift compact (6831) or binary (6832).
//!
//! One task receives datagrams into a buffer one byte larger than the
//! largest accepted packet, so that a datagram the kernel truncated is
//! recognised and dropped rather than decoded. Packets go onto a bounded
//! queue (`try_send`: a full queue drops the packet at once, the receive loop
//! never waits); `workers` tasks decode them (large ones on the CPU pool) and
//! hand the batches to the sink.
//!
//! UDP has no way to answer, so every drop is counted in
//! `spoor_receiver_requests_total{result=<reason>}` (one request = one
//! datagram) and logged at debug level at most once per second per port,
//! with the number of drops that line stands for.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spoor_codec::{DecodeError, Decoded};
use spoor_service::{BatchSink, IngestError, ReceiverMetrics, RefuseReason, Source, Telemetry};
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ingest::{count_report, decode_reported};
use crate::{CpuPool, ServerError, UdpConfig};

/// The Thrift protocol a UDP port speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThriftProtocol {
    /// `TCompactProtocol`, Jaeger's port 6831.
    Compact,
    /// `TBinaryProtocol`, Jaeger's port 6832.
    Binary,
}

impl ThriftProtocol {
    /// The metric labels of this port's packets: receiver `jaeger`, transport
    /// `udp`, format `thrift_compact` or `thrift_binary`.
    pub fn source(self) -> Source {
        Source {
            receiver: "jaeger",
            transport: "udp",
            format: match self {
                ThriftProtocol::Compact => "thrift_compact",
                ThriftProtocol::Binary => "thrift_binary",
            },
        }
    }

    /// The listener its datagrams arrive on.
    pub fn listener(self) -> crate::Listener {
        match self {
            ThriftProtocol::Compact => crate::Listener::JaegerCompact,
            ThriftProtocol::Binary => crate::Listener::JaegerBinary,
        }
    }

    /// Decodes one `Agent.emitBatch` datagram; spans with zero IDs are
    /// left out and counted in the returned report.
    pub fn decode(self, packet: &[u8]) -> Result<Decoded, DecodeError> {
        use spoor_codec::jaeger_thrift as jt;
        match self {
            ThriftProtocol::Compact => {
                decode_reported(packet, jt::decode_emit_batch_compact_reported)
            }
            ThriftProtocol::Binary => {
                decode_reported(packet, jt::decode_emit_batch_binary_reported)
            }
        }
    }
}

/// Packets up to this size are decoded on the worker task itself (tens of
/// microseconds); larger ones go to the CPU pool.
const INLINE_DECODE_MAX_BYTES: usize = 8 * 1024;

/// Pause after a failed `recv_from`, so that a persistent socket error
/// cannot spin the receive loop.
const RECV_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// How often a dropped packet is logged at most, per port.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Receives `Agent.emitBatch` datagrams on `socket` until `shutdown`, decodes
/// them with `protocol` and hands each batch to `sink`, counting every
/// dropped packet in `metrics` under [`ThriftProtocol::source`].
///
/// Decoding of large packets runs on a CPU pool of `udp.workers` threads of
/// its own. On shutdown the receive loop stops, the queued packets are
/// processed, and the function returns once the workers are done.
pub async fn serve_udp(
    socket: UdpSocket,
    protocol: ThriftProtocol,
    udp: UdpConfig,
    sink: Arc<dyn BatchSink>,
    metrics: Arc<Telemetry>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let cpu = CpuPool::new(udp.workers);
    serve_udp_on_pool(socket, protocol, udp, sink, &metrics, cpu, shutdown).await
}

/// [`serve_udp`] decoding large packets on a shared CPU pool.
pub(crate) async fn serve_udp_on_pool(
    socket: UdpSocket,
    protocol: ThriftProtocol,
    udp: UdpConfig,
    sink: Arc<dyn BatchSink>,
    metrics: &Telemetry,
    cpu: CpuPool,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let source = protocol.source();
    let what = protocol.listener().spec().text;
    let port = Arc::new(Port {
        protocol,
        source,
        sink,
        counters: metrics.receiver(source),
        cpu,
        drops: DropLog::new(),
    });
    let (tx, rx) = mpsc::channel::<Packet>(udp.queue_size.max(1));
    let rx = Arc::new(Mutex::new(rx));
    let mut workers = JoinSet::new();
    for _ in 0..udp.workers.max(1) {
        workers.spawn(work(Arc::clone(&port), Arc::clone(&rx)));
    }
    tracing::debug!(
        addr = ?socket.local_addr().ok(),
        format = source.format,
        workers = udp.workers.max(1),
        queue_size = udp.queue_size.max(1),
        max_packet_bytes = udp.max_packet_bytes,
        "UDP receiver started"
    );
    receive(&socket, udp.max_packet_bytes, tx, &port, &shutdown).await;
    // The sender is gone: workers finish the queued packets and stop.
    let mut failure = None;
    while let Some(done) = workers.join_next().await {
        if let Err(e) = done {
            tracing::error!(format = source.format, error = %e, "UDP worker failed");
            failure = Some(ServerError::Serve {
                what,
                message: e.to_string(),
            });
        }
    }
    failure.map_or(Ok(()), Err)
}

/// One received datagram.
struct Packet {
    bytes: Vec<u8>,
    peer: SocketAddr,
}

/// What the receive loop and the workers of one port share.
struct Port {
    protocol: ThriftProtocol,
    source: Source,
    sink: Arc<dyn BatchSink>,
    counters: ReceiverMetrics,
    cpu: CpuPool,
    drops: DropLog,
}

impl Port {
    /// Counts a packet dropped before it reached the sink, and logs it.
    fn drop_packet(
        &self,
        reason: RefuseReason,
        peer: SocketAddr,
        bytes: usize,
        error: &dyn std::fmt::Display,
    ) {
        self.counters.request_refused(reason);
        self.drops.record(self.source, reason, peer, bytes, error);
    }

    /// Decodes one packet and submits its batch.
    async fn handle(&self, packet: Packet) {
        let Packet { bytes, peer } = packet;
        let len = bytes.len();
        let protocol = self.protocol;
        let decoded = if len <= INLINE_DECODE_MAX_BYTES {
            protocol.decode(&bytes)
        } else {
            match self.cpu.run(move || protocol.decode(&bytes)).await {
                Ok(result) => result,
                Err(e) => {
                    self.drop_packet(RefuseReason::Malformed, peer, len, &e);
                    return;
                }
            }
        };
        let batch = match decoded {
            Ok(Decoded { batch, report }) => {
                count_report(&self.counters, self.source, &report);
                batch
            }
            Err(e) => {
                self.drop_packet(RefuseReason::Malformed, peer, len, &e);
                return;
            }
        };
        // The sink counts what it accepts and what it refuses.
        if let Err(e) = self.sink.submit(batch, len, self.source).await {
            let reason = match e {
                IngestError::Overloaded => RefuseReason::Overloaded,
                IngestError::Storage(_) => RefuseReason::StorageError,
            };
            self.drops.record(self.source, reason, peer, len, &e);
        }
    }
}

/// The receive loop: datagrams onto the queue until `shutdown`.
async fn receive(
    socket: &UdpSocket,
    max_packet_bytes: usize,
    tx: mpsc::Sender<Packet>,
    port: &Port,
    shutdown: &CancellationToken,
) {
    // One spare byte: a datagram that fills it was longer than the limit
    // (and was truncated by the kernel).
    let mut buf = vec![0u8; max_packet_bytes.saturating_add(1)];
    loop {
        let received = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            r = socket.recv_from(&mut buf) => r,
        };
        let (len, peer) = match received {
            Ok(r) => r,
            Err(e) => {
                port.drops.record_recv_error(port.source, &e);
                tokio::time::sleep(RECV_ERROR_PAUSE).await;
                continue;
            }
        };
        if len > max_packet_bytes {
            let error = format!("datagram exceeds {max_packet_bytes} bytes");
            port.drop_packet(RefuseReason::TooLarge, peer, len, &error);
            continue;
        }
        let packet = Packet {
            bytes: buf[..len].to_vec(),
            peer,
        };
        match tx.try_send(packet) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(p)) => {
                port.drop_packet(
                    RefuseReason::Overloaded,
                    p.peer,
                    p.bytes.len(),
                    &"UDP queue is full",
                );
            }
            // Every worker is gone; nothing can process packets any more.
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

/// A worker: takes packets off the shared queue until it is closed and empty.
async fn work(port: Arc<Port>, rx: Arc<Mutex<mpsc::Receiver<Packet>>>) {
    loop {
        let next = rx.lock().await.recv().await;
        let Some(packet) = next else { return };
        port.handle(packet).await;
    }
}

/// Aggregated logging of drops: at most one debug line per
/// [`DROP_LOG_INTERVAL`], carrying how many drops went unlogged since the
/// previous line, so that a flood of bad packets cannot flood the log.
struct DropLog {
    epoch: Instant,
    /// Milliseconds since `epoch` before which nothing more is logged.
    next_ms: AtomicU64,
    /// Drops not logged since the last line.
    suppressed: AtomicU64,
}

impl DropLog {
    fn new() -> Self {
        DropLog {
            epoch: Instant::now(),
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether this event may be logged now; if not, it is counted as suppressed.
    fn admit(&self) -> Option<u64> {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        let interval = u64::try_from(DROP_LOG_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(interval),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    fn record(
        &self,
        source: Source,
        reason: RefuseReason,
        peer: SocketAddr,
        bytes: usize,
        error: &dyn std::fmt::Display,
    ) {
        if let Some(suppressed) = self.admit() {
            tracing::debug!(
                receiver = source.receiver,
                transport = source.transport,
                format = source.format,
                reason = reason.as_str(),
                %peer,
                bytes,
                error = %error,
                suppressed,
                "dropped UDP packet"
            );
        }
    }

    fn record_recv_error(&self, source: Source, error: &std::io::Error) {
        if let Some(suppressed) = self.admit() {
            tracing::warn!(
                format = source.format,
                error = %error,
                suppressed,
                "cannot receive UDP datagram"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::test_support::{Recorder, RecordingSink, eventually, names, requests, sample_spans};
    use tokio::task::JoinHandle;

    /// A UDP receiver on a loopback port feeding a recording sink, and a
    /// client socket connected to it.
    struct Harness {
        recorder: Arc<Recorder>,
        metrics: Arc<Telemetry>,
        protocol: ThriftProtocol,
        client: UdpSocket,
        shutdown: CancellationToken,
        task: JoinHandle<Result<(), ServerError>>,
    }

    impl Harness {
        async fn start(protocol: ThriftProtocol, udp: UdpConfig, recorder: Arc<Recorder>) -> Self {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = socket.local_addr().unwrap();
            let metrics = Arc::new(Telemetry::new("test"));
            let sink: Arc<dyn BatchSink> = Arc::new(RecordingSink {
                recorder: recorder.clone(),
                metrics: metrics.clone(),
            });
            let shutdown = CancellationToken::new();
            let task = tokio::spawn(serve_udp(
                socket,
                protocol,
                udp,
                sink,
                metrics.clone(),
                shutdown.clone(),
            ));
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            client.connect(addr).await.unwrap();
            Harness {
                recorder,
                metrics,
                protocol,
                client,
                shutdown,
                task,
            }
        }

        /// An `emitBatch` datagram of `n` spans from `service`.
        fn packet(&self, service: &str, n: usize) -> Vec<u8> {
            let spans = sample_spans(service, "op", n);
            let batches = spoor_codec::jaeger::model_to_jaeger_batches(&spans);
            assert_eq!(batches.len(), 1);
            match self.protocol {
                ThriftProtocol::Compact => {
                    spoor_codec::jaeger_thrift::encode_emit_batch_compact(&batches[0])
                }
                ThriftProtocol::Binary => {
                    spoor_codec::jaeger_thrift::encode_emit_batch_binary(&batches[0])
                }
            }
        }

        async fn send(&self, packet: &[u8]) {
            assert_eq!(self.client.send(packet).await.unwrap(), packet.len());
        }

        fn dropped(&self, reason: &str) -> f64 {
            requests(&self.metrics, self.protocol.source(), reason)
        }

        async fn stop(self) {
            self.shutdown.cancel();
            self.task.await.unwrap().unwrap();
        }
    }

    fn config(queue_size: usize, workers: usize, max_packet_bytes: usize) -> UdpConfig {
        UdpConfig {
            queue_size,
            workers,
            max_packet_bytes,
        }
    }

    #[tokio::test]
    async fn valid_packets_are_ingested_in_both_protocols() {
        for protocol in [ThriftProtocol::Compact, ThriftProtocol::Binary] {
            let h = Harness::start(protocol, UdpConfig::default(), Recorder::open()).await;
            h.send(&h.packet("udp-svc", 2)).await;
            eventually("batch recorded", || h.recorder.batches().len() == 1).await;
            let batches = h.recorder.batches();
            assert_eq!(batches[0].1, protocol.source());
            assert_eq!(
                names(&batches),
                vec![
                    ("udp-svc".to_string(), "op-0".to_string()),
                    ("udp-svc".to_string(), "op-1".to_string())
                ]
            );
            assert_eq!(h.dropped("ok"), 1.0);
            h.stop().await;
        }
    }

    #[tokio::test]
    async fn a_span_with_a_zero_trace_id_is_left_out_alone_and_counted() {
        for protocol in [ThriftProtocol::Compact, ThriftProtocol::Binary] {
            let h = Harness::start(protocol, UdpConfig::default(), Recorder::open()).await;
            let mut spans = sample_spans("udp-svc", "op", 2);
            spans[1].span.trace_id = spoor_model::TraceId::ZERO;
            let batch = &spoor_codec::jaeger::model_to_jaeger_batches(&spans)[0];
            let packet = match protocol {
                ThriftProtocol::Compact => {
                    spoor_codec::jaeger_thrift::encode_emit_batch_compact(batch)
                }
                ThriftProtocol::Binary => {
                    spoor_codec::jaeger_thrift::encode_emit_batch_binary(batch)
                }
            };
            h.send(&packet).await;
            eventually("batch recorded", || h.recorder.batches().len() == 1).await;
            assert_eq!(
                names(&h.recorder.batches()),
                vec![("udp-svc".to_string(), "op-0".to_string())]
            );
            assert_eq!(h.dropped("malformed"), 0.0);
            assert_eq!(
                crate::test_support::metric(
                    &h.metrics,
                    "spoor_receiver_spans_rejected_total",
                    &[
                        ("format", protocol.source().format),
                        ("reason", "invalid_trace_id")
                    ]
                ),
                1.0
            );
            h.stop().await;
        }
    }

    #[tokio::test]
    async fn garbage_and_oversize_packets_are_counted_and_the_next_one_gets_through() {
        let h = Harness::start(
            ThriftProtocol::Compact,
            config(10, 2, 2048),
            Recorder::open(),
        )
        .await;
        h.send(b"certainly not thrift").await;
        h.send(&[]).await;
        // The binary protocol's datagram is garbage to the compact port.
        let binary = {
            let spans = sample_spans("svc", "op", 1);
            let batch = &spoor_codec::jaeger::model_to_jaeger_batches(&spans)[0];
            spoor_codec::jaeger_thrift::encode_emit_batch_binary(batch)
        };
        h.send(&binary).await;
        // Longer than the limit: truncated by the kernel, then refused.
        let mut oversize = h.packet("svc", 60);
        assert!(oversize.len() > 2048, "{}", oversize.len());
        h.send(&oversize).await;
        // Exactly one byte over.
        oversize.truncate(2049);
        h.send(&oversize).await;
        eventually("drops counted", || {
            h.dropped("malformed") == 3.0 && h.dropped("too_large") == 2.0
        })
        .await;
        let valid = h.packet("survivor", 1);
        assert!(valid.len() <= 2048);
        h.send(&valid).await;
        eventually("valid packet recorded", || h.recorder.batches().len() == 1).await;
        assert_eq!(names(&h.recorder.batches())[0].0, "survivor");
        assert_eq!(h.dropped("ok"), 1.0);
        assert_eq!(h.dropped("malformed"), 3.0);
        h.stop().await;
    }

    #[tokio::test]
    async fn large_packets_decode_on_the_cpu_pool() {
        let h = Harness::start(
            ThriftProtocol::Binary,
            UdpConfig::default(),
            Recorder::open(),
        )
        .await;
        let big = h.packet("big", 200);
        assert!(
            big.len() > INLINE_DECODE_MAX_BYTES && big.len() <= 65_000,
            "{}",
            big.len()
        );
        h.send(&big).await;
        let mut garbage = vec![0xffu8; INLINE_DECODE_MAX_BYTES * 2];
        garbage[..big.len().min(100)].copy_from_slice(&big[..big.len().min(100)]);
        h.send(&garbage).await;
        eventually("big batch recorded and garbage counted", || {
            h.recorder.batches().len() == 1 && h.dropped("malformed") == 1.0
        })
        .await;
        assert_eq!(h.recorder.batches()[0].0.len(), 200);
        h.stop().await;
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts() {
        // One worker, one queue slot, and a sink that holds every batch.
        let recorder = Recorder::gated();
        let h = Harness::start(ThriftProtocol::Compact, config(1, 1, 65_000), recorder).await;
        let packet = h.packet("queued", 1);
        h.send(&packet).await;
        eventually("the worker holds packet 1", || h.recorder.entered() == 1).await;
        h.send(&packet).await; // queued
        h.send(&packet).await; // dropped
        h.send(&packet).await; // dropped
        eventually("two drops counted", || h.dropped("overloaded") == 2.0).await;
        h.recorder.release(10);
        eventually("packets 1 and 2 recorded", || {
            h.recorder.batches().len() == 2
        })
        .await;
        // Room again: the next packet is taken.
        h.send(&packet).await;
        eventually("packet 5 recorded", || h.recorder.batches().len() == 3).await;
        assert_eq!(h.dropped("overloaded"), 2.0);
        assert_eq!(h.dropped("ok"), 3.0);
        h.stop().await;
    }

    #[tokio::test]
    async fn shutdown_finishes_the_queued_packets() {
        let recorder = Recorder::gated();
        let h = Harness::start(ThriftProtocol::Binary, config(2, 1, 65_000), recorder).await;
        let packet = h.packet("drained", 1);
        h.send(&packet).await;
        eventually("the worker holds packet 1", || h.recorder.entered() == 1).await;
        for _ in 0..3 {
            h.send(&packet).await;
        }
        // Packet 4 found the queue full: packets 2 and 3 are queued.
        eventually("packet 4 dropped", || h.dropped("overloaded") == 1.0).await;
        h.shutdown.cancel();
        h.recorder.release(10);
        let Harness { task, recorder, .. } = h;
        task.await.unwrap().unwrap();
        assert_eq!(recorder.batches().len(), 3);
    }

    #[test]
    fn drop_log_admits_one_line_per_interval_and_counts_the_rest() {
        let log = DropLog::new();
        assert_eq!(log.admit(), Some(0));
        for _ in 0..5 {
            assert_eq!(log.admit(), None);
        }
        assert_eq!(log.suppressed.load(Ordering::Relaxed), 5);
        // Open the next window: the line reports what was held back.
        log.next_ms.store(0, Ordering::Relaxed);
        assert_eq!(log.admit(), Some(5));
        assert_eq!(log.admit(), None);
    }

    #[test]
    fn sources_name_the_format() {
        assert_eq!(ThriftProtocol::Compact.source().format, "thrift_compact");
        assert_eq!(ThriftProtocol::Binary.source().format, "thrift_binary");
        assert_eq!(ThriftProtocol::Binary.source().transport, "udp");
        assert_eq!(ThriftProtocol::Binary.source().receiver, "jaeger");
    }
}
