//! Request bodies: size-capped reading and capped decompression.

use std::io::Read;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use spoor_service::RefuseReason;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("decompressed request body exceeds {0} bytes")]
    DecompressedTooLarge(usize),
    #[error("unsupported Content-Encoding {0:?}")]
    UnsupportedEncoding(String),
    #[error("cannot decompress {encoding} body: {message}")]
    Corrupt {
        encoding: &'static str,
        message: String,
    },
    #[error("cannot read request body: {0}")]
    Read(String),
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) | BodyError::DecompressedTooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            BodyError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyError::Corrupt { .. } | BodyError::Read(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// Why the request is counted as refused.
    pub fn reason(&self) -> RefuseReason {
        match self {
            BodyError::TooLarge(_) | BodyError::DecompressedTooLarge(_) => RefuseReason::TooLarge,
            _ => RefuseReason::Malformed,
        }
    }
}

/// Reads a whole body (chunked or not), refusing more than `limit` bytes.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, BodyError> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(BodyError::TooLarge(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                Err(BodyError::TooLarge(limit))
            } else {
                Err(BodyError::Read(e.to_string()))
            }
        }
    }
}

/// Undoes `Content-Encoding` (gzip, deflate/zlib, identity), producing at most `limit` bytes.
pub fn decompress(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, BodyError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(BodyError::DecompressedTooLarge(limit));
            }
            Ok(body)
        }
        "gzip" | "x-gzip" => {
            read_capped(flate2::read::MultiGzDecoder::new(&body[..]), limit, "gzip")
        }
        "deflate" | "zlib" => {
            // HTTP "deflate" is zlib-wrapped, but some senders send raw deflate.
            match read_capped(flate2::read::ZlibDecoder::new(&body[..]), limit, "deflate") {
                Ok(b) => Ok(b),
                Err(BodyError::Corrupt { .. }) => read_capped(
                    flate2::read::DeflateDecoder::new(&body[..]),
                    limit,
                    "deflate",
                ),
                Err(e) => Err(e),
            }
        }
        other => Err(BodyError::UnsupportedEncoding(other.to_string())),
    }
}

fn read_capped(
    reader: impl Read,
    limit: usize,
    encoding: &'static str,
) -> Result<Bytes, BodyError> {
    let mut out = Vec::new();
    let mut limited = reader.take(limit as u64 + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Corrupt {
            encoding,
            message: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(BodyError::DecompressedTooLarge(limit));
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        Bytes::from(enc.finish().unwrap())
    }

    fn headers(enc: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, enc.parse().unwrap());
        h
    }

    #[test]
    fn gzip_round_trip_and_bomb_is_capped() {
        let out = decompress(&headers("gzip"), gzip(b"hello"), 100).unwrap();
        assert_eq!(&out[..], b"hello");
        let bomb = gzip(&vec![0u8; 10_000]);
        assert!(matches!(
            decompress(&headers("gzip"), bomb, 1_000),
            Err(BodyError::DecompressedTooLarge(1_000))
        ));
    }

    #[test]
    fn corrupt_and_unknown_encodings_are_errors() {
        let e = decompress(&headers("gzip"), Bytes::from_static(b"not gzip"), 100).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = decompress(&headers("br"), Bytes::from_static(b"x"), 100).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
