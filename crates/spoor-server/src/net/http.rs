//! The HTTP accept loop used by every HTTP listener instead of `axum::serve`
//! (which has no header, body or idle timeout): hyper's connection builder
//! over [`GuardedIo`], a body deadline per request, graceful shutdown.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Request, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::conn::GuardedBody;
use super::origin::{Refusal, Verdict, add_cors};
use super::tls::PeerCertificate;
use super::{ListenerGuard, Mode, PeerAddr, ProtectedListener, ServerIo};

/// How long in-flight requests may take to finish after shutdown begins,
/// before their connections are dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(9);

/// The body read deadline was exceeded.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(Duration);

/// A request body that fails once its deadline has passed.
pub struct TimedBody {
    inner: Incoming,
    timer: Pin<Box<Sleep>>,
    limit: Duration,
    timed_out: Arc<AtomicBool>,
    listener: Arc<ListenerGuard>,
    done: bool,
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(r)) => Poll::Ready(Some(r.map_err(Into::into))),
            Poll::Pending => {
                if self.timer.as_mut().poll(cx).is_ready() {
                    self.done = true;
                    self.timed_out.store(true, Ordering::Relaxed);
                    self.listener.body_timed_out();
                    tracing::debug!(listener = self.listener.name, "request body timed out");
                    return Poll::Ready(Some(Err(Box::new(BodyTimeout(self.limit)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

use std::future::Future as _;

/// Serves `router` on `listener` until `shutdown`, then lets in-flight
/// requests finish (for at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: ProtectedListener,
    router: axum::Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let ProtectedListener {
        listener,
        guard,
        config,
        access,
        tls,
        ..
    } = listener;
    let tls = tls.map(|t| t.acceptor(super::tls::Alpn::Http));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // The connection deadlines are enforced by `GuardedIo`; hyper's own
    // header timer would also close idle keep-alive connections early.
    builder.http1().header_read_timeout(None).keep_alive(true);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(256);
    let builder = Arc::new(builder);
    // Every connection task holds a sender; all dropped = all finished.
    let (alive, mut finished) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let io = tokio::select! {
            _ = shutdown.cancelled() => break,
            io = guard.accept(&listener, Mode::Http) => io,
        };
        let Some(io) = io else { continue };
        let router = router.clone();
        let guard = guard.clone();
        let access = access.clone();
        let tls = tls.clone();
        let builder = builder.clone();
        let shutdown = shutdown.clone();
        let alive = alive.clone();
        let body_timeout = config.body_timeout;
        let header_timeout = config.header_timeout;
        tokio::spawn(async move {
            // The handshake runs here, in the connection's task: a slow or
            // silent client never holds up the accept loop.
            let io = match tls {
                None => ServerIo::Plain(io),
                Some(acceptor) => {
                    let handshake = super::tls_handshake(io, acceptor, header_timeout);
                    let io = tokio::select! {
                        io = handshake => io,
                        _ = shutdown.cancelled() => None,
                    };
                    match io {
                        Some(io) => io,
                        None => {
                            drop(alive);
                            return;
                        }
                    }
                }
            };
            let service = service(&io, router, guard, access, body_timeout);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                }
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
                }
            }
            drop(alive);
        });
    }
    drop(listener);
    drop(alive);
    let _ = finished.recv().await;
    Ok(())
}

/// The per-connection service: marks requests busy, checks Host and Origin,
/// bounds the body in time, and puts the connection's [`PeerAddr`] and
/// [`PeerCertificate`] in every request's extensions.
fn service(
    io: &ServerIo,
    router: axum::Router,
    guard: Arc<ListenerGuard>,
    access: Option<Arc<super::origin::AccessPolicy>>,
    body_timeout: Duration,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = http::Response<GuardedBody<Body>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    let shared = io.guarded().shared().clone();
    let peer_addr = io.guarded().peer_addr().ok().map(PeerAddr);
    let peer_cert: Option<PeerCertificate> = io.peer_certificate().cloned();
    hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let busy = shared.request_started();
        if let Some(addr) = peer_addr {
            req.extensions_mut().insert(addr);
        }
        if let Some(cert) = &peer_cert {
            req.extensions_mut().insert(cert.clone());
        }
        let verdict = access.as_ref().map(|a| a.check(&req));
        let cors = match verdict {
            Some(Verdict::Answer(resp, why)) => {
                match why {
                    Refusal::Host => guard.host_refused(),
                    Refusal::Origin => guard.origin_refused(),
                    Refusal::None => {}
                }
                return futures::future::Either::Left(futures::future::ready(Ok::<_, Infallible>(
                    resp.map(|b| GuardedBody::new(b, busy)),
                )));
            }
            Some(Verdict::Pass(cors)) => cors,
            None => None,
        };
        let timed_out = Arc::new(AtomicBool::new(false));
        let req = req.map(|inner| {
            Body::new(TimedBody {
                inner,
                timer: Box::pin(tokio::time::sleep_until(Instant::now() + body_timeout)),
                limit: body_timeout,
                timed_out: timed_out.clone(),
                listener: guard.clone(),
                done: false,
            })
        });
        let router = router.clone();
        futures::future::Either::Right(async move {
            let Ok(mut resp) = router.oneshot(req).await;
            if let Some(origin) = cors {
                add_cors(resp.headers_mut(), origin);
            }
            if timed_out.load(Ordering::Relaxed) {
                // The rest of the body is unread: do not reuse the connection.
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, Infallible>(resp.map(|b| GuardedBody::new(b, busy)))
        })
    })
}
