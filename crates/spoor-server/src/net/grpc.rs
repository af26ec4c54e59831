//! Protection of the gRPC listeners (tonic): the same guarded connections as
//! HTTP, fed to tonic as its incoming stream, a layer that marks requests in
//! flight, and tonic's request timeout as the body deadline.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt as _};
use tower::{Layer, Service};

use super::conn::GuardedBody;
use super::{GrpcConnInfo, ListenerGuard, Mode, ProtectedListener, ServerIo};

impl ProtectedListener {
    /// A tonic server builder with this listener's timeouts: a request (its
    /// body included) must finish within the body timeout; and its group's
    /// authentication ([`crate::auth::layer`]).
    pub fn grpc_server(
        &self,
    ) -> tonic::transport::Server<
        tower::layer::util::Stack<
            crate::auth::layer::AuthLayer,
            tower::layer::util::Stack<BusyLayer, tower::layer::util::Identity>,
        >,
    > {
        tonic::transport::Server::builder()
            .timeout(self.config.body_timeout)
            .layer(BusyLayer)
            .layer(crate::auth::layer::AuthLayer::new(self.auth.clone()))
    }

    /// The accepted, guarded connections, for `serve_with_incoming_shutdown`.
    /// With TLS, each connection's handshake runs in its own task and the
    /// finished ones reach tonic through a channel, so that a slow client
    /// never holds up the others.
    pub fn grpc_incoming(
        self,
    ) -> impl Stream<Item = Result<ServerIo, std::io::Error>> + Send + 'static {
        let ProtectedListener {
            listener,
            guard,
            tls,
            config,
            ..
        } = self;
        match tls {
            None => futures::stream::unfold(
                (listener, guard),
                |(listener, guard): (tokio::net::TcpListener, Arc<ListenerGuard>)| async move {
                    loop {
                        if let Some(io) = guard.accept(&listener, Mode::Grpc).await {
                            return Some((
                                Ok::<_, std::io::Error>(ServerIo::Plain(io)),
                                (listener, guard),
                            ));
                        }
                    }
                },
            )
            .left_stream(),
            Some(tls) => {
                let acceptor = tls.acceptor(super::tls::Alpn::Grpc);
                let header_timeout = config.header_timeout;
                let (tx, rx) = tokio::sync::mpsc::channel::<ServerIo>(64);
                tokio::spawn(async move {
                    loop {
                        let io = tokio::select! {
                            // tonic dropped the stream: the server stopped.
                            _ = tx.closed() => break,
                            io = guard.accept(&listener, Mode::Grpc) => io,
                        };
                        let Some(io) = io else { continue };
                        let tx = tx.clone();
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let handshake = super::tls_handshake(io, acceptor, header_timeout);
                            let io = tokio::select! {
                                io = handshake => io,
                                _ = tx.closed() => None,
                            };
                            if let Some(io) = io {
                                let _ = tx.send(io).await;
                            }
                        });
                    }
                });
                futures::stream::unfold(rx, |mut rx| async move {
                    let io = rx.recv().await?;
                    Some((Ok::<_, std::io::Error>(io), rx))
                })
                .right_stream()
            }
        }
    }
}

/// Marks each gRPC request in flight on its connection (so that it is not
/// closed as idle or evicted) until its response body is dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct BusyLayer;

impl<S> Layer<S> for BusyLayer {
    type Service = BusyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BusyService { inner }
    }
}

/// The service of [`BusyLayer`].
#[derive(Debug, Clone)]
pub struct BusyService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for BusyService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: hyper::body::Body + Unpin,
{
    type Response = http::Response<MaybeGuarded<ResBody>>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let info = req.extensions().get::<GrpcConnInfo>().cloned();
        let busy = info.as_ref().map(|info| info.shared.request_started());
        if let Some(info) = info {
            // The contract of every listener: the peer's address and its
            // verified client certificate in the request's extensions.
            if let Some(addr) = info.tcp.remote_addr() {
                req.extensions_mut().insert(super::PeerAddr(addr));
            }
            if let Some(cert) = info.peer_certificate {
                req.extensions_mut().insert(cert);
            }
        }
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            Ok(resp.map(|b| match busy {
                Some(busy) => MaybeGuarded::Guarded(GuardedBody::new(b, busy)),
                None => MaybeGuarded::Plain(b),
            }))
        })
    }
}

/// A response body, guarded when the request came through a [`GuardedIo`].
pub enum MaybeGuarded<B> {
    Guarded(GuardedBody<B>),
    Plain(B),
}

impl<B> hyper::body::Body for MaybeGuarded<B>
where
    B: hyper::body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        match self.get_mut() {
            MaybeGuarded::Guarded(b) => std::pin::Pin::new(b).poll_frame(cx),
            MaybeGuarded::Plain(b) => std::pin::Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            MaybeGuarded::Guarded(b) => b.is_end_stream(),
            MaybeGuarded::Plain(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            MaybeGuarded::Guarded(b) => b.size_hint(),
            MaybeGuarded::Plain(b) => b.size_hint(),
        }
    }
}
