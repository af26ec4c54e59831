//! Jaeger gRPC on 14250: `jaeger.api_v2.CollectorService/PostSpans`, served
//! with `jaeger.api_v2.SamplingManager` as Jaeger v1's collector did.

use std::sync::Arc;

use spoor_codec::{DecodeError, Decoded};
use spoor_proto::jaeger::api_v2::PostSpansResponse;
use spoor_proto::jaeger::api_v2::collector_service_server::CollectorServiceServer;
use spoor_service::Source;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;

use crate::admission::{JAEGER_PROTOBUF, SpanCounter};
use crate::grpc_ingest::{GrpcIngest, IngestMethod};
use crate::ingest::{Accepted, decode_reported};
use crate::{AppState, ServerError};

/// The metric labels of `PostSpans`.
pub const GRPC_SOURCE: Source = Source {
    receiver: "jaeger",
    transport: "grpc",
    format: "protobuf",
};

/// The gRPC `CollectorService/PostSpans` method (the service on the batch's
/// process or on each span's), served through the receivers' admission
/// ([`crate::grpc_ingest`]).
pub struct JaegerPostSpans;

impl IngestMethod for JaegerPostSpans {
    const SERVICE: &'static str = <CollectorServiceServer<()> as NamedService>::NAME;
    const PATH: &'static str = "/jaeger.api_v2.CollectorService/PostSpans";
    const SOURCE: Source = GRPC_SOURCE;
    const COUNTER: SpanCounter = JAEGER_PROTOBUF;
    type Response = PostSpansResponse;

    fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
        decode_reported(bytes, spoor_codec::jaeger_proto::decode_post_spans_reported)
    }

    fn respond(_accepted: &Accepted) -> PostSpansResponse {
        PostSpansResponse {}
    }
}

/// The `CollectorService` server: gzip, deflate and zstd requests accepted,
/// messages capped at `state.limits.max_request_bytes`.
pub fn collector_service(state: Arc<AppState>) -> GrpcIngest<JaegerPostSpans> {
    GrpcIngest::new(state)
}

/// Serves Jaeger gRPC on `listener` until `shutdown`: `CollectorService`
/// and `SamplingManager`.
pub async fn serve_grpc(
    listener: impl Into<crate::net::ProtectedListener>,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let listener = listener.into();
    listener
        .grpc_server()
        .add_service(crate::tenancy::TenantGrpc::new(&state, collector_service))
        .add_service(crate::sampling::sampling_manager_service(state))
        .serve_with_incoming_shutdown(listener.grpc_incoming(), shutdown.cancelled_owned())
        .await
        .map_err(|e| ServerError::Serve {
            what: "Jaeger gRPC",
            message: e.to_string(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::net::SocketAddr;

    use spoor_proto::jaeger::api_v2::SamplingStrategyParameters;
    use spoor_proto::jaeger::api_v2::collector_service_client::CollectorServiceClient;
    use spoor_proto::jaeger::api_v2::sampling_manager_client::SamplingManagerClient;
    use tonic::transport::Channel;

    use super::*;
    use crate::Limits;
    use crate::test_support::{
        ONE_SMALL_REQUEST, Recorder, eventually, names, requests, sample_spans, state_with,
    };

    async fn start(state: Arc<AppState>) -> (SocketAddr, CancellationToken) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(serve_grpc(listener, state, shutdown.clone()));
        (addr, shutdown)
    }

    async fn client(addr: SocketAddr) -> CollectorServiceClient<Channel> {
        CollectorServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn post_spans_is_ingested_plain_and_gzipped() {
        let recorder = Recorder::open();
        let state = state_with(recorder.clone(), Limits::default(), 0);
        let (addr, shutdown) = start(state.clone()).await;
        let mut client = client(addr).await;
        let req = spoor_codec::jaeger_proto::to_post_spans(&sample_spans("grpc-svc", "op", 2));
        client.post_spans(req.clone()).await.unwrap();
        let mut gz = client
            .clone()
            .send_compressed(tonic::codec::CompressionEncoding::Gzip);
        gz.post_spans(req).await.unwrap();
        let batches = recorder.batches();
        assert_eq!(batches.len(), 2);
        assert_eq!(
            names(&batches[..1]),
            vec![
                ("grpc-svc".to_string(), "op-0".to_string()),
                ("grpc-svc".to_string(), "op-1".to_string())
            ]
        );
        assert_eq!(requests(&state.metrics, GRPC_SOURCE, "ok"), 2.0);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_bad_span_is_left_out_alone_and_counted() {
        let recorder = Recorder::open();
        let state = state_with(recorder.clone(), Limits::default(), 0);
        let (addr, _shutdown) = start(state.clone()).await;
        let mut client = client(addr).await;
        let mut req = spoor_codec::jaeger_proto::to_post_spans(&sample_spans("svc", "op", 2));
        req.batch.as_mut().unwrap().spans[0].trace_id = vec![1, 2, 3];
        client.post_spans(req).await.unwrap();
        let batches = recorder.batches();
        assert_eq!(
            names(&batches),
            vec![("svc".to_string(), "op-1".to_string())]
        );
        assert_eq!(requests(&state.metrics, GRPC_SOURCE, "ok"), 1.0);
        assert_eq!(
            crate::test_support::metric(
                &state.metrics,
                "spoor_receiver_spans_rejected_total",
                &[
                    ("receiver", "jaeger"),
                    ("transport", "grpc"),
                    ("reason", "invalid_trace_id")
                ]
            ),
            1.0
        );
    }

    #[tokio::test]
    async fn a_full_pipeline_is_resource_exhausted() {
        let recorder = Recorder::gated();
        let state = state_with(recorder.clone(), Limits::default(), ONE_SMALL_REQUEST);
        let (addr, _shutdown) = start(state.clone()).await;
        let req = spoor_codec::jaeger_proto::to_post_spans(&sample_spans("svc", "op", 1));
        let first = {
            let mut client = client(addr).await;
            let req = req.clone();
            tokio::spawn(async move { client.post_spans(req).await })
        };
        eventually("the first batch holds the budget", || {
            recorder.entered() == 1
        })
        .await;
        let status = client(addr).await.post_spans(req).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        // With RetryInfo: OTLP-style clients retry only then.
        use prost::Message;
        let details = crate::error::GrpcStatusDetails::decode(status.details()).unwrap();
        assert_eq!(
            details.details[0].type_url,
            crate::error::RETRY_INFO_TYPE_URL
        );
        let info = crate::error::RetryInfo::decode(&details.details[0].value[..]).unwrap();
        assert_eq!(info.retry_delay.unwrap().seconds, 7);
        assert_eq!(requests(&state.metrics, GRPC_SOURCE, "overloaded"), 1.0);
        recorder.release(1);
        first.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn oversized_messages_are_refused() {
        let limits = Limits {
            max_request_bytes: 1024,
            ..Limits::default()
        };
        let state = state_with(Recorder::open(), limits, 0);
        let (addr, _shutdown) = start(state).await;
        let req = spoor_codec::jaeger_proto::to_post_spans(&sample_spans("svc", "op", 50));
        let status = client(addr).await.post_spans(req).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }

    #[tokio::test]
    async fn sampling_manager_is_served_on_the_same_port() {
        let state = state_with(Recorder::open(), Limits::default(), 0);
        let (addr, _shutdown) = start(state).await;
        let mut client = SamplingManagerClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let resp = client
            .get_sampling_strategy(SamplingStrategyParameters {
                service_name: "any".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let p = resp.probabilistic_sampling.unwrap();
        assert_eq!(p.sampling_rate, 1.0);
    }
}
