//! The one gRPC channel construction of the workspace, and a codec that
//! sends already encoded protobuf bytes (so the bytes counted are the bytes
//! sent, and one encoder per protocol lives in spoor-codec). TLS (for
//! `https://` endpoints) and credentials (on every call) come from a
//! [`ClientSecurity`].

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use hyper_util::rt::TokioIo;
use tonic::codec::{DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Endpoint, Uri};

use crate::ClientError;
use crate::credentials::{ClientSecurity, Credentials};

/// A gRPC channel that adds its client's [`Credentials`] to every call;
/// what generated clients and `tonic::client::Grpc` are built over.
/// Cheap to clone (connections are shared).
#[derive(Debug, Clone)]
pub struct GrpcChannel {
    inner: tonic::transport::Channel,
    credentials: Credentials,
}

impl GrpcChannel {
    /// `channel` with `credentials` added to every call.
    pub fn new(inner: tonic::transport::Channel, credentials: Credentials) -> GrpcChannel {
        GrpcChannel { inner, credentials }
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for GrpcChannel {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = tonic::transport::channel::ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        self.credentials.apply(request.headers_mut());
        tower::Service::call(&mut self.inner, request)
    }
}

/// A channel to `uri` (`http://HOST:PORT` or `https://HOST:PORT`),
/// connected on first use: an absent target shows up as `UNAVAILABLE`
/// answers, not here. `https://` means TLS as [`crate::tls`] builds it
/// from `security`'s options, offering `h2`; `http://` is plain.
pub fn lazy_channel(
    uri: Uri,
    connect_timeout: Duration,
    request_timeout: Duration,
    security: &ClientSecurity,
) -> Result<GrpcChannel, ClientError> {
    let credentials = Credentials::new(&security.credentials)?;
    let tls = uri.scheme_str() == Some("https");
    let endpoint_uri = if tls {
        // tonic sees plain `http://`: the TLS is this crate's connector's,
        // whichever TLS features tonic was built with.
        let mut parts = uri.clone().into_parts();
        parts.scheme = Some(http::uri::Scheme::HTTP);
        Uri::from_parts(parts)
            .map_err(|e| ClientError::Config(format!("invalid endpoint {uri}: {e}")))?
    } else {
        uri.clone()
    };
    let endpoint = Endpoint::from(endpoint_uri)
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .tcp_nodelay(true);
    let channel = if tls {
        let host = uri
            .host()
            .ok_or_else(|| ClientError::Config(format!("endpoint {uri} has no host")))?;
        let connector = TlsConnector {
            config: Arc::new(crate::tls::client_config(&security.tls, &[b"h2"])?),
            server_name: crate::tls::server_name(&security.tls, host)?,
        };
        endpoint.connect_with_connector_lazy(connector)
    } else {
        endpoint.connect_lazy()
    };
    Ok(GrpcChannel::new(channel, credentials))
}

/// A channel to `target`: `HOST:PORT` (TLS when `security` has any TLS
/// option), `http://HOST:PORT` or `https://HOST:PORT`, connected on first
/// use.
pub fn lazy_channel_to(
    target: &str,
    connect_timeout: Duration,
    request_timeout: Duration,
    security: &ClientSecurity,
) -> Result<GrpcChannel, String> {
    let with_scheme = if target.contains("://") {
        target.to_string()
    } else if security.tls.any_set() {
        format!("https://{target}")
    } else {
        format!("http://{target}")
    };
    let uri: Uri = with_scheme
        .parse()
        .map_err(|e| format!("invalid collector address {target:?}: {e}"))?;
    lazy_channel(uri, connect_timeout, request_timeout, security).map_err(|e| e.to_string())
}

/// Connects TCP to the URI's authority and does a TLS handshake (server
/// verified, `h2` offered) for tonic.
#[derive(Clone)]
struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
    server_name: rustls::pki_types::ServerName<'static>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Uri> for TlsConnector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;
    type Error = BoxError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let server_name = self.server_name.clone();
        Box::pin(async move {
            let host = uri.host().ok_or("the endpoint has no host")?;
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            let port = uri.port_u16().unwrap_or(443);
            let tcp = tokio::net::TcpStream::connect((host, port)).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(server_name, tcp).await?;
            Ok(TokioIo::new(tls))
        })
    }
}

/// A gRPC codec that sends already encoded protobuf bytes and returns the
/// response's bytes undecoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
