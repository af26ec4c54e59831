//! The one gRPC channel construction of the workspace, and a codec that
//! sends already encoded protobuf bytes (so the bytes counted are the bytes
//! sent, and one encoder per protocol lives in spoor-codec).

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint, Uri};

/// A channel to `uri` (`http://HOST:PORT`), connected on first use: an
/// absent target shows up as `UNAVAILABLE` answers, not here.
pub fn lazy_channel(uri: Uri, connect_timeout: Duration, request_timeout: Duration) -> Channel {
    Endpoint::from(uri)
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .tcp_nodelay(true)
        .connect_lazy()
}

/// A channel to `host_port` (`HOST:PORT`), connected on first use.
pub fn lazy_channel_to(
    host_port: &str,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<Channel, String> {
    let uri: Uri = format!("http://{host_port}")
        .parse()
        .map_err(|e| format!("invalid collector address {host_port:?}: {e}"))?;
    Ok(lazy_channel(uri, connect_timeout, request_timeout))
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
