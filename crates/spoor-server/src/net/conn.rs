//! One accepted TCP connection: its phase (waiting for a request, reading a
//! request head, serving requests), the deadline that phase imposes, and the
//! I/O wrapper that enforces it.
//!
//! The deadline is enforced inside `poll_read`: every HTTP/1 and HTTP/2
//! connection keeps a read pending while it waits for the next request, so a
//! timer registered there closes a connection that sends nothing, sends its
//! head too slowly (slowloris) or sits idle. While a request is being served
//! there is no connection deadline (the body has its own, see
//! [`super::http::TimedBody`]).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::ListenerGuard;
use super::tls::PeerCertificate;

/// How a connection's protocol signals "waiting for the next request".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// HTTP/1 (or h2c) listener: bytes arriving on an idle connection start a
    /// request head, which must be complete within the header timeout.
    Http,
    /// gRPC listener (HTTP/2 only): frames such as PING or SETTINGS may arrive
    /// at any time; the connection is idle while no request is in flight.
    Grpc,
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Accepted, nothing read yet.
    New { since: Instant },
    /// Between requests (keep-alive).
    Idle { since: Instant },
    /// Reading a request head (HTTP mode only).
    Head { since: Instant },
    /// Serving `n > 0` requests.
    Busy { n: usize },
}

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeoutKind {
    /// No complete request head within the header timeout.
    Header,
    /// No request within the idle timeout.
    Idle,
    /// The peer read nothing of an answer for the idle timeout (slow read).
    Write,
}

/// State shared by a connection's I/O, its requests and its listener.
pub(crate) struct ConnShared {
    pub(crate) id: u64,
    mode: Mode,
    header_timeout: Duration,
    idle_timeout: Duration,
    phase: Mutex<Phase>,
    killed: AtomicBool,
    waker: AtomicWaker,
}

impl std::fmt::Debug for ConnShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnShared")
            .field("id", &self.id)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ConnShared {
    pub(crate) fn new(
        id: u64,
        mode: Mode,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        ConnShared {
            id,
            mode,
            header_timeout,
            idle_timeout,
            phase: Mutex::new(Phase::New {
                since: Instant::now(),
            }),
            killed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // A poisoned lock only means a panic elsewhere; the phase stays usable.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection must be closed unless something happens, and why.
    fn deadline(&self) -> Option<(Instant, TimeoutKind)> {
        match *self.phase() {
            Phase::New { since } | Phase::Head { since } => {
                Some((since + self.header_timeout, TimeoutKind::Header))
            }
            Phase::Idle { since } => Some((since + self.idle_timeout, TimeoutKind::Idle)),
            Phase::Busy { .. } => None,
        }
    }

    /// Bytes arrived from the peer.
    fn on_read(&self) {
        if self.mode == Mode::Grpc {
            // The HTTP/2 preface and SETTINGS do not make a request; an
            // idle gRPC connection is measured from accept or its last request.
            let mut phase = self.phase();
            if let Phase::New { since } = *phase {
                *phase = Phase::Idle { since };
            }
            return;
        }
        let mut phase = self.phase();
        match *phase {
            // The first request's head is timed from accept.
            Phase::New { since } => *phase = Phase::Head { since },
            Phase::Idle { .. } => {
                *phase = Phase::Head {
                    since: Instant::now(),
                }
            }
            Phase::Head { .. } | Phase::Busy { .. } => {}
        }
    }

    /// Bytes of an answer left: a connection still delivering its last
    /// answer is not idle.
    fn on_write(&self) {
        let mut phase = self.phase();
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::Idle {
                since: Instant::now(),
            };
        }
    }

    /// A request's head was read: no connection deadline until it is answered.
    pub(crate) fn request_started(self: &Arc<Self>) -> BusyGuard {
        {
            let mut phase = self.phase();
            *phase = match *phase {
                Phase::Busy { n } => Phase::Busy { n: n + 1 },
                _ => Phase::Busy { n: 1 },
            };
        }
        BusyGuard {
            shared: self.clone(),
        }
    }

    fn request_finished(&self) {
        {
            let mut phase = self.phase();
            *phase = match *phase {
                Phase::Busy { n } if n > 1 => Phase::Busy { n: n - 1 },
                _ => Phase::Idle {
                    since: Instant::now(),
                },
            };
        }
        // The reader may be parked without a timer (it was busy): re-arm it.
        self.waker.wake();
    }

    /// Whether the connection may be closed to make room for a new one: it
    /// serves no request. Returns how long it has been in that state.
    pub(crate) fn evictable_since(&self) -> Option<Instant> {
        if self.killed.load(Ordering::Relaxed) {
            return None;
        }
        match *self.phase() {
            Phase::New { since } | Phase::Idle { since } | Phase::Head { since } => Some(since),
            Phase::Busy { .. } => None,
        }
    }

    /// Closes the connection at its next read or write.
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.waker.wake();
    }

    pub(crate) fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }
}

/// Marks a request in flight on its connection until dropped (when the
/// response body has been sent or abandoned).
#[derive(Debug)]
pub(crate) struct BusyGuard {
    shared: Arc<ConnShared>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.shared.request_finished();
    }
}

/// A response body that keeps its request counted as in flight until it is
/// dropped.
pub struct GuardedBody<B> {
    inner: B,
    _busy: BusyGuard,
}

impl<B> GuardedBody<B> {
    pub(crate) fn new(inner: B, busy: BusyGuard) -> Self {
        GuardedBody { inner, _busy: busy }
    }
}

impl<B> hyper::body::Body for GuardedBody<B>
where
    B: hyper::body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A TCP stream counted against its listener's connection limit and closed
/// by its phase's deadline or by eviction.
pub struct GuardedIo {
    inner: TcpStream,
    shared: Arc<ConnShared>,
    listener: Arc<ListenerGuard>,
    timer: Pin<Box<Sleep>>,
    /// Since when writes have been blocked (the peer does not read).
    write_blocked_since: Option<Instant>,
    write_timer: Pin<Box<Sleep>>,
}

impl std::fmt::Debug for GuardedIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedIo")
            .field("conn", &self.shared.id)
            .field("listener", &self.listener.name)
            .finish_non_exhaustive()
    }
}

impl GuardedIo {
    pub(crate) fn new(
        inner: TcpStream,
        shared: Arc<ConnShared>,
        listener: Arc<ListenerGuard>,
    ) -> Self {
        GuardedIo {
            inner,
            shared,
            listener,
            timer: Box::pin(tokio::time::sleep(Duration::from_secs(0))),
            write_blocked_since: None,
            write_timer: Box::pin(tokio::time::sleep(Duration::from_secs(0))),
        }
    }

    /// Tracks a write's progress: a peer that reads nothing of an answer for
    /// the idle timeout (slow-read attack) gets its connection closed.
    fn write_progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.write_blocked_since = None;
            return poll;
        }
        if self.shared.is_killed() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection closed",
            )));
        }
        let now = Instant::now();
        let since = *self.write_blocked_since.get_or_insert(now);
        let deadline = since + self.shared.idle_timeout;
        if now >= deadline {
            self.listener.timed_out(TimeoutKind::Write);
            self.shared.kill();
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer read nothing for longer than the idle timeout",
            )));
        }
        if self.write_timer.deadline() != deadline {
            self.write_timer.as_mut().reset(deadline);
        }
        if self.write_timer.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    pub(crate) fn shared(&self) -> &Arc<ConnShared> {
        &self.shared
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.peer_addr()
    }

    pub(crate) fn listener(&self) -> &Arc<ListenerGuard> {
        &self.listener
    }

    /// Err when the connection was evicted or its deadline passed; otherwise
    /// arms the timer (and the eviction waker) to wake the reader.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        self.shared.waker.register(cx.waker());
        if self.shared.is_killed() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection closed to make room for a new one",
            ));
        }
        if self.write_blocked_since.is_some() {
            // An answer is waiting for the peer to read: the write deadline
            // governs (see `write_progress`).
            return Ok(());
        }
        let Some((deadline, kind)) = self.shared.deadline() else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            self.listener.timed_out(kind);
            self.shared.kill();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                match kind {
                    TimeoutKind::Header => "no complete request head within the header timeout",
                    TimeoutKind::Idle | TimeoutKind::Write => {
                        "connection idle longer than the idle timeout"
                    }
                },
            ));
        }
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        // Registers the waker; the deadline is in the future, so not ready
        // (or, rarely, ready at the very edge: the next poll sees it passed).
        if self.timer.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        Ok(())
    }
}

use std::future::Future as _;

impl AsyncRead for GuardedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.shared.on_read();
                }
                if self.shared.is_killed() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "connection closed to make room for a new one",
                    )));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.check(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll
            && n > 0
        {
            self.shared.on_write();
        }
        self.write_progress(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.write_progress(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll
            && n > 0
        {
            self.shared.on_write();
        }
        self.write_progress(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl Drop for GuardedIo {
    fn drop(&mut self) {
        self.listener.release(self.shared.id);
    }
}

/// What gRPC handlers find in their request extensions: the connection, so
/// that a request in flight keeps it from being closed as idle.
#[derive(Debug, Clone)]
pub struct GrpcConnInfo {
    pub(crate) shared: Arc<ConnShared>,
    /// Addresses, as tonic's own `TcpConnectInfo`.
    pub tcp: tonic::transport::server::TcpConnectInfo,
    /// The verified client certificate (mTLS), if the connection presented one.
    pub peer_certificate: Option<PeerCertificate>,
}

impl tonic::transport::server::Connected for GuardedIo {
    type ConnectInfo = GrpcConnInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        GrpcConnInfo {
            shared: self.shared.clone(),
            tcp: self.inner.connect_info(),
            peer_certificate: None,
        }
    }
}

/// An accepted connection, plain or TLS: what HTTP and gRPC servers read
/// and write. Either way the [`GuardedIo`] underneath keeps enforcing the
/// connection limit, the timeouts and busy tracking.
pub enum ServerIo {
    /// Plain TCP.
    Plain(GuardedIo),
    /// TLS over TCP (the handshake is done), with the client certificate's
    /// names when one was verified.
    Tls(
        Box<tokio_rustls::server::TlsStream<GuardedIo>>,
        Option<PeerCertificate>,
    ),
}

impl std::fmt::Debug for ServerIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerIo::Plain(io) => f.debug_tuple("Plain").field(io).finish(),
            ServerIo::Tls(tls, peer) => f
                .debug_tuple("Tls")
                .field(tls.get_ref().0)
                .field(peer)
                .finish(),
        }
    }
}

impl ServerIo {
    /// The guarded TCP connection underneath.
    pub fn guarded(&self) -> &GuardedIo {
        match self {
            ServerIo::Plain(io) => io,
            ServerIo::Tls(tls, _) => tls.get_ref().0,
        }
    }

    /// The verified client certificate, if any.
    pub fn peer_certificate(&self) -> Option<&PeerCertificate> {
        match self {
            ServerIo::Plain(_) => None,
            ServerIo::Tls(_, peer) => peer.as_ref(),
        }
    }
}

impl AsyncRead for ServerIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerIo::Plain(io) => Pin::new(io).poll_read(cx, buf),
            ServerIo::Tls(tls, _) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerIo::Plain(io) => Pin::new(io).poll_write(cx, buf),
            ServerIo::Tls(tls, _) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerIo::Plain(io) => Pin::new(io).poll_flush(cx),
            ServerIo::Tls(tls, _) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerIo::Plain(io) => Pin::new(io).poll_shutdown(cx),
            ServerIo::Tls(tls, _) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerIo::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            ServerIo::Tls(tls, _) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ServerIo::Plain(io) => io.is_write_vectored(),
            ServerIo::Tls(tls, _) => tls.is_write_vectored(),
        }
    }
}

impl tonic::transport::server::Connected for ServerIo {
    type ConnectInfo = GrpcConnInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        let mut info = self.guarded().connect_info();
        info.peer_certificate = self.peer_certificate().cloned();
        info
    }
}
