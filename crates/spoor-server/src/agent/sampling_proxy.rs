//! Sampling strategies for the agent's tracers, asked from the collector's
//! gRPC `SamplingManager` and cached briefly; served on the agent's
//! sampling HTTP port by `crate::sampling::http_router`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use spoor_client::grpc::GrpcChannel;
use spoor_model::sampling::SamplingStrategyResponse;
use spoor_proto::jaeger::api_v2 as pb;
use spoor_proto::jaeger::api_v2::sampling_manager_client::SamplingManagerClient;
use spoor_service::sampling::{SamplingError, StrategyProvider};
use tokio::time::Instant;

/// Sampling strategies asked from a collector's `SamplingManager`, each kept
/// for `ttl`. When the collector cannot be reached, the last strategy it gave
/// for the service (however old) is served instead of an error.
pub struct CollectorSamplingProxy {
    client: SamplingManagerClient<GrpcChannel>,
    target: String,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, SamplingStrategyResponse)>>,
}

/// Most services remembered by the proxy's cache.
const MAX_CACHED_SERVICES: usize = 10_000;

impl CollectorSamplingProxy {
    /// A proxy over `channel` to `target` (for messages) caching for `ttl`.
    pub fn new(channel: GrpcChannel, target: impl Into<String>, ttl: Duration) -> Self {
        CollectorSamplingProxy {
            client: SamplingManagerClient::new(channel),
            target: target.into(),
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, (Instant, SamplingStrategyResponse)>> {
        // The map stays consistent even if a holder panicked.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, service: &str, strategy: &SamplingStrategyResponse) {
        let mut cache = self.cache();
        if cache.len() >= MAX_CACHED_SERVICES && !cache.contains_key(service) {
            let ttl = self.ttl;
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= MAX_CACHED_SERVICES {
                cache.clear();
            }
        }
        cache.insert(service.to_string(), (Instant::now(), strategy.clone()));
    }
}

#[tonic::async_trait]
impl StrategyProvider for CollectorSamplingProxy {
    async fn get_sampling_strategy(
        &self,
        service: &str,
    ) -> Result<SamplingStrategyResponse, SamplingError> {
        let cached = self.cache().get(service).cloned();
        if let Some((at, strategy)) = &cached
            && at.elapsed() < self.ttl
        {
            return Ok(strategy.clone());
        }
        let asked = self
            .client
            .clone()
            .get_sampling_strategy(pb::SamplingStrategyParameters {
                service_name: service.to_string(),
            })
            .await;
        let failure = match asked {
            Ok(resp) => match spoor_codec::sampling_json::from_proto(resp.into_inner()) {
                Ok(strategy) => {
                    self.remember(service, &strategy);
                    return Ok(strategy);
                }
                Err(e) => format!("invalid answer from {}: {e}", self.target),
            },
            Err(status) => format!(
                "{} answered {:?}: {}",
                self.target,
                status.code(),
                status.message()
            ),
        };
        match cached {
            Some((_, stale)) => {
                tracing::warn!(service, error = %failure, "collector unavailable; serving the last known sampling strategy");
                Ok(stale)
            }
            None => Err(SamplingError::Upstream(failure)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::agent::exporter::JaegerGrpcExporter;
    use crate::agent::lazy_channel;
    use spoor_proto::jaeger::api_v2::sampling_manager_server::SamplingManager;
    use spoor_service::forward::{ExportError, Exporter};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tokio::net::TcpListener;
    use tokio_util::sync::CancellationToken;

    /// A collector `SamplingManager` counting calls; fails while `down`.
    struct Upstream {
        calls: AtomicUsize,
        down: AtomicBool,
    }

    struct UpstreamSvc(Arc<Upstream>);

    #[tonic::async_trait]
    impl SamplingManager for UpstreamSvc {
        async fn get_sampling_strategy(
            &self,
            request: tonic::Request<pb::SamplingStrategyParameters>,
        ) -> Result<tonic::Response<pb::SamplingStrategyResponse>, tonic::Status> {
            self.0.calls.fetch_add(1, Ordering::SeqCst);
            if self.0.down.load(Ordering::SeqCst) {
                return Err(tonic::Status::unavailable("down for maintenance"));
            }
            let rate = if request.into_inner().service_name == "a" {
                0.25
            } else {
                0.75
            };
            Ok(tonic::Response::new(spoor_codec::sampling_json::to_proto(
                &SamplingStrategyResponse::probabilistic(rate),
            )))
        }
    }

    async fn upstream() -> (Arc<Upstream>, String, CancellationToken) {
        let up = Arc::new(Upstream {
            calls: AtomicUsize::new(0),
            down: AtomicBool::new(false),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = CancellationToken::new();
        let svc = pb::sampling_manager_server::SamplingManagerServer::new(UpstreamSvc(up.clone()));
        let s = stop.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    s.cancelled_owned(),
                )
                .await
                .unwrap();
        });
        (up, addr, stop)
    }

    #[tokio::test]
    async fn the_sampling_proxy_caches_and_serves_stale_answers_when_the_collector_is_down() {
        let (up, addr, stop) = upstream().await;
        let channel = lazy_channel(&addr, Duration::from_secs(5), &Default::default()).unwrap();
        let proxy = CollectorSamplingProxy::new(channel, &addr, Duration::from_secs(1));
        let rate = |s: SamplingStrategyResponse| s.probabilistic.unwrap().sampling_rate;
        assert_eq!(rate(proxy.get_sampling_strategy("a").await.unwrap()), 0.25);
        assert_eq!(rate(proxy.get_sampling_strategy("a").await.unwrap()), 0.25);
        assert_eq!(
            up.calls.load(Ordering::SeqCst),
            1,
            "second answer from the cache"
        );
        assert_eq!(rate(proxy.get_sampling_strategy("b").await.unwrap()), 0.75);
        assert_eq!(up.calls.load(Ordering::SeqCst), 2);

        tokio::time::sleep(Duration::from_millis(1100)).await;
        up.down.store(true, Ordering::SeqCst);
        // Expired, collector down: the stale answer.
        assert_eq!(rate(proxy.get_sampling_strategy("a").await.unwrap()), 0.25);
        assert_eq!(up.calls.load(Ordering::SeqCst), 3);
        // Never seen, collector down: an error naming the collector.
        let err = proxy.get_sampling_strategy("c").await.unwrap_err();
        assert!(
            matches!(&err, SamplingError::Upstream(m) if m.contains("down for maintenance")),
            "{err}"
        );
        stop.cancel();
    }

    #[tokio::test]
    async fn an_unreachable_collector_is_an_upstream_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let channel = lazy_channel(&addr, Duration::from_secs(2), &Default::default()).unwrap();
        let proxy = CollectorSamplingProxy::new(channel, &addr, Duration::from_secs(10));
        let err = proxy.get_sampling_strategy("x").await.unwrap_err();
        assert!(matches!(err, SamplingError::Upstream(_)), "{err}");
        let exporter = JaegerGrpcExporter::new(
            lazy_channel(&addr, Duration::from_secs(2), &Default::default()).unwrap(),
            &addr,
            Duration::from_secs(2),
        );
        assert!(matches!(
            exporter.export(&[]).await,
            Err(ExportError::Retryable(_))
        ));
    }
}
