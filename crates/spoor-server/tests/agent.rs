//! `spoor agent`'s surfaces in one process: a Jaeger compact datagram sent to
//! the agent reaches a fake collector's `CollectorService/PostSpans`, the
//! agent's sampling endpoint answers from the collector's `SamplingManager`,
//! and its admin server reports the forwarder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spoor_model::sampling::SamplingStrategyResponse;
use spoor_model::testing;
use spoor_model::{SpanRecord, TraceId};
use spoor_proto::jaeger::api_v2::collector_service_server::{
    CollectorService, CollectorServiceServer,
};
use spoor_proto::jaeger::api_v2::{PostSpansRequest, PostSpansResponse};
use spoor_server::agent::{AgentConfig, AgentListeners, CollectorProtocol, run_agent};
use spoor_server::{Listener, ListenerAddrs, UdpConfig};
use spoor_service::Telemetry;
use spoor_service::forward::ForwarderOptions;
use spoor_service::sampling::{SamplingError, StrategyProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Collector {
    spans: Mutex<Vec<SpanRecord>>,
}

struct CollectorSvc(Arc<Collector>);

#[tonic::async_trait]
impl CollectorService for CollectorSvc {
    async fn post_spans(
        &self,
        request: tonic::Request<PostSpansRequest>,
    ) -> Result<tonic::Response<PostSpansResponse>, tonic::Status> {
        let batch = spoor_codec::jaeger_proto::from_post_spans(request.into_inner())
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        self.0.spans.lock().unwrap().extend(batch.spans);
        Ok(tonic::Response::new(PostSpansResponse {}))
    }
}

struct Quarter;

#[tonic::async_trait]
impl StrategyProvider for Quarter {
    async fn get_sampling_strategy(
        &self,
        _service: &str,
    ) -> Result<SamplingStrategyResponse, SamplingError> {
        Ok(SamplingStrategyResponse::probabilistic(0.25))
    }
}

/// A collector serving `CollectorService` and `SamplingManager` on one port.
async fn collector() -> (Arc<Collector>, SocketAddr, CancellationToken) {
    let state = Arc::new(Collector::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    let svc = CollectorServiceServer::new(CollectorSvc(state.clone()));
    let sampling = spoor_server::sampling::sampling_manager_server(Arc::new(Quarter));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .add_service(sampling)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                s.cancelled_owned(),
            )
            .await
            .unwrap();
    });
    (state, addr, stop)
}

fn local() -> Option<SocketAddr> {
    Some("127.0.0.1:0".parse().unwrap())
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

fn record() -> SpanRecord {
    testing::record()
        .service("agent-test-svc")
        .trace(0xabc)
        .id(7)
        .name("through-the-agent")
        .start(1_700_000_000_000_000_000)
        .end(1_700_000_000_001_000_000)
        .flags(1)
        .build()
}

#[tokio::test]
async fn udp_spans_are_forwarded_and_sampling_is_proxied() {
    let (collector, collector_addr, stop_collector) = collector().await;
    let mut listeners = ListenerAddrs::default();
    listeners[Listener::JaegerCompact] = local();
    listeners[Listener::JaegerBinary] = None;
    listeners[Listener::SamplingHttp] = local();
    listeners[Listener::AdminHttp] = local();
    let config = AgentConfig {
        listeners,
        udp: UdpConfig::default(),
        collector: collector_addr.to_string(),
        protocol: CollectorProtocol::Jaeger,
        collector_security: Default::default(),
        sampling_security: Default::default(),
        sampling_endpoint: collector_addr.to_string(),
        sampling_cache_ttl: Duration::from_secs(10),
        request_timeout: Duration::from_secs(5),
        forwarder: ForwarderOptions::default(),
    };
    let listeners = AgentListeners::bind(&config).await.unwrap();
    let addrs = listeners.addrs();
    let addr = |name: &str| addrs.iter().find(|(n, _)| *n == name).unwrap().1;
    let (compact, sampling, admin) = (
        addr("jaeger_compact"),
        addr("sampling_http"),
        addr("admin_http"),
    );
    let metrics = Arc::new(Telemetry::new("test"));
    let stop = CancellationToken::new();
    let agent = tokio::spawn(run_agent(config, listeners, metrics, stop.clone()));

    // A compact emitBatch datagram, as jaeger-client sends it.
    let batches = spoor_codec::jaeger::model_to_jaeger_batches(&[record()]);
    let datagram = spoor_codec::jaeger_thrift::encode_emit_batch_compact(&batches[0]);
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp.send_to(&datagram, compact).await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if !collector.spans.lock().unwrap().is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no span reached the collector"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    {
        let spans = collector.spans.lock().unwrap();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].service_name(), "agent-test-svc");
        assert_eq!(spans[0].span.name, "through-the-agent");
        assert_eq!(spans[0].span.trace_id, TraceId::from_halves(0, 0xabc));
    }

    let reply = http_get(sampling, "/sampling?service=agent-test-svc").await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.ends_with(
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}}"#
        ),
        "{reply}"
    );
    let reply = http_get(sampling, "/?service=agent-test-svc").await;
    assert!(
        reply.ends_with(r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.25}}"#),
        "{reply}"
    );

    let status = http_get(admin, "/status").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(status.contains("Server available"), "{status}");
    let text = http_get(admin, "/metrics").await;
    assert!(
        text.contains("spoor_forwarder_sent_spans_total 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "spoor_receiver_accepted_spans_total{receiver=\"jaeger\",transport=\"udp\",format=\"thrift_compact\"} 1"
        ),
        "{text}"
    );

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(20), agent)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    stop_collector.cancel();
}
