//! Request bodies: read within a size cap and within the memory budget
//! (reserved before the bytes are read), and decompressed incrementally into
//! a reserved, capped buffer.

use std::io::Read;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use spoor_service::{BudgetError, RefuseReason, Reservation};

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
    /// The memory budget had no room (429) or can never hold the request (413).
    #[error("{0}")]
    Budget(BudgetError),
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_)
            | BodyError::DecompressedTooLarge(_)
            | BodyError::Budget(BudgetError::Exceeds { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Budget(BudgetError::Busy) => StatusCode::TOO_MANY_REQUESTS,
            BodyError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyError::Corrupt { .. } | BodyError::Read(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// Why the request is counted as refused.
    pub fn reason(&self) -> RefuseReason {
        match self {
            BodyError::TooLarge(_)
            | BodyError::DecompressedTooLarge(_)
            | BodyError::Budget(BudgetError::Exceeds { .. }) => RefuseReason::TooLarge,
            BodyError::Budget(BudgetError::Busy) => RefuseReason::Overloaded,
            _ => RefuseReason::Malformed,
        }
    }
}

/// The declared `Content-Length`, if any.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Reads a whole body (chunked or not), refusing more than `limit` bytes.
/// Every byte is reserved in `reservation` before it is buffered: the
/// declared `Content-Length` at once (so an over-budget request is refused
/// before its body is read), a chunked body frame by frame.
pub async fn read_reserved(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    reservation: &mut Reservation,
) -> Result<Bytes, BodyError> {
    let declared = content_length(headers);
    if let Some(len) = declared {
        if len > limit as u64 {
            return Err(BodyError::TooLarge(limit));
        }
        // `len <= limit`, a usize.
        reservation
            .grow(usize::try_from(len).unwrap_or(limit))
            .map_err(BodyError::Budget)?;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(declared.map_or(0, |l| l as usize));
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        let len = buf.len() + data.len();
        if declared.is_none() && len > buf.capacity() {
            // Grow by half, reserving the new buffer (and the old one while
            // it is copied) before allocating it.
            let old = buf.capacity();
            let cap = (old + old / 2).max(len).min(limit);
            reservation.grow(cap).map_err(BodyError::Budget)?;
            buf.reserve_exact(cap - buf.len());
            reservation.shrink_to(reservation.bytes() - old);
        }
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}

/// The `Content-Encoding` of a request, lower-cased (`""` when absent).
pub fn content_encoding(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Undoes `Content-Encoding` (gzip, deflate/zlib, zstd, identity), producing
/// at most `limit` bytes; the inflated bytes are reserved in `reservation`
/// as they are produced, so a decompression bomb is stopped by the cap or
/// the budget, whichever comes first.
pub fn decompress_reserved(
    encoding: &str,
    body: Bytes,
    limit: usize,
    reservation: &mut Reservation,
) -> Result<Bytes, BodyError> {
    match encoding {
        "" | "identity" => {
            if body.len() > limit {
                return Err(BodyError::DecompressedTooLarge(limit));
            }
            Ok(body)
        }
        "gzip" | "x-gzip" => read_capped(
            flate2::read::MultiGzDecoder::new(&body[..]),
            limit,
            "gzip",
            reservation,
            gzip_size_hint(&body),
        ),
        "deflate" | "zlib" => {
            // HTTP "deflate" is zlib-wrapped, but some senders send raw deflate.
            let held = reservation.bytes();
            match read_capped(
                flate2::read::ZlibDecoder::new(&body[..]),
                limit,
                "deflate",
                reservation,
                None,
            ) {
                Ok(b) => Ok(b),
                Err(BodyError::Corrupt { .. }) => {
                    reservation.shrink_to(held);
                    read_capped(
                        flate2::read::DeflateDecoder::new(&body[..]),
                        limit,
                        "deflate",
                        reservation,
                        None,
                    )
                }
                Err(e) => Err(e),
            }
        }
        "zstd" => {
            let decoder =
                zstd::stream::read::Decoder::new(&body[..]).map_err(|e| BodyError::Corrupt {
                    encoding: "zstd",
                    message: e.to_string(),
                })?;
            let hint = zstd::zstd_safe::get_frame_content_size(&body)
                .ok()
                .flatten()
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            read_capped(decoder, limit, "zstd", reservation, hint)
        }
        other => Err(BodyError::UnsupportedEncoding(other.to_string())),
    }
}

/// Undoes `Content-Encoding` within `limit` bytes, without a budget.
pub fn decompress(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, BodyError> {
    decompress_reserved(
        &content_encoding(headers),
        body,
        limit,
        &mut Reservation::unlimited(),
    )
}

/// Bytes inflated (and reserved) per step.
const INFLATE_STEP: usize = 64 << 10;

/// The size a gzip body declares for its last member (`ISIZE`, the
/// uncompressed length modulo 2³²): a lower bound of the inflated size.
fn gzip_size_hint(body: &[u8]) -> Option<usize> {
    let tail: [u8; 4] = body.get(body.len().checked_sub(4)?..)?.try_into().ok()?;
    (body.len() >= 18).then(|| u32::from_le_bytes(tail) as usize)
}

/// Inflates `reader` within `limit` bytes, reserving memory before it is
/// written. `at_least` is a lower bound of the inflated size declared by
/// the payload (gzip's `ISIZE`, zstd's frame content size): beyond the
/// limit or the whole budget it refuses at once, without inflating
/// anything.
///
/// The buffer is allocated once with room for the declared size, or for
/// `limit` bytes when none is declared (address space only: pages become
/// resident as they are written, and are reserved just before), and is
/// reallocated at most once, when the declared size was a lie.
fn read_capped(
    mut reader: impl Read,
    limit: usize,
    encoding: &'static str,
    reservation: &mut Reservation,
    at_least: Option<usize>,
) -> Result<Bytes, BodyError> {
    let mut reserved = 0usize;
    if let Some(n) = at_least {
        if n > limit {
            return Err(BodyError::DecompressedTooLarge(limit));
        }
        reservation.grow(n).map_err(BodyError::Budget)?;
        reserved = n;
    }
    let mut out: Vec<u8> = Vec::with_capacity(at_least.unwrap_or(limit));
    let mut step = vec![0u8; INFLATE_STEP];
    loop {
        let n = match reader.read(&mut step) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(BodyError::Corrupt {
                    encoding,
                    message: e.to_string(),
                });
            }
        };
        let len = out.len() + n;
        if len > limit {
            return Err(BodyError::DecompressedTooLarge(limit));
        }
        if len > reserved {
            let want = (len + INFLATE_STEP).min(limit);
            reservation
                .grow(want - reserved)
                .map_err(BodyError::Budget)?;
            reserved = want;
        }
        if len > out.capacity() {
            // The declared size was wrong: move to a buffer with room for
            // the limit. The copy is reserved while both buffers live.
            let old = out.len();
            reservation.grow(old).map_err(BodyError::Budget)?;
            out.reserve_exact(limit - old);
            reservation.shrink_to(reservation.bytes() - old);
        }
        out.extend_from_slice(&step[..n]);
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
    fn inflating_is_reserved_from_the_budget() {
        let budget = spoor_service::MemoryBudget::new(512 << 10);
        let data = vec![7u8; 200 << 10];
        let mut r = budget.empty();
        let out = decompress_reserved("gzip", gzip(&data), 1 << 20, &mut r).unwrap();
        assert_eq!(out.len(), data.len());
        assert!(r.bytes() >= data.len(), "{}", r.bytes());
        drop(r);
        // A bomb larger than the budget: stopped by the budget, not the cap.
        let bomb = gzip(&vec![0u8; 1 << 20]);
        let mut r = budget.empty();
        let e = decompress_reserved("gzip", bomb, 4 << 20, &mut r).unwrap_err();
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE, "{e}");
        drop(r);
        assert_eq!(budget.available(), Some(512 << 10));
        // While another request holds the budget: busy, retry later.
        let _held = budget.reserve(400 << 10).unwrap();
        let mut r = budget.empty();
        let e = decompress_reserved("gzip", gzip(&data), 1 << 20, &mut r).unwrap_err();
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS, "{e}");
        let mut r = budget.empty();
        let z = zstd::stream::encode_all(&data[..], 1).unwrap();
        let e = decompress_reserved("zstd", Bytes::from(z), 1 << 20, &mut r).unwrap_err();
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS, "{e}");
    }

    #[test]
    fn corrupt_and_unknown_encodings_are_errors() {
        let e = decompress(&headers("gzip"), Bytes::from_static(b"not gzip"), 100).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = decompress(&headers("br"), Bytes::from_static(b"x"), 100).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
