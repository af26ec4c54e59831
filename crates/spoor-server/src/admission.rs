//! Admission of a request's decoded spans into the memory budget: count the
//! spans a payload will decode into without decoding it, refuse more than
//! the per-request cap, and reserve an estimate of the decoded model's
//! memory before the decoder allocates it (ADR 0017).

use spoor_service::Reservation;

/// Bytes reserved per decoded span before decoding. Measured: 500,000
/// minimal OTLP spans (14.6 MB of protobuf, 29 bytes each) grew the
/// process by 375 MB, about 750 bytes per span (the span, its ids, its
/// `Arc`s and the allocator's rounding); 1 KiB leaves some room.
pub const DECODED_SPAN_BYTES: usize = 1024;

/// Reserved per byte of a counted payload, on top of
/// [`DECODED_SPAN_BYTES`] per span: a span's content (names, attribute keys
/// and values) is copied into the model. Measured by the soak test
/// (`e2e_soak`): with 1 KiB per span alone, flood requests of 5,000
/// attribute-rich spans (2 MB) peaked about 20–30 % above their reservation.
pub const DECODED_CONTENT_FACTOR: usize = 1;

/// For payloads whose spans cannot be counted before decoding (Thrift),
/// the decoded model is estimated as this many times the plain bytes.
pub const DECODED_BYTES_FACTOR: usize = 4;

/// How to count the spans of a payload without decoding it.
#[derive(Debug, Clone, Copy)]
pub enum SpanCounter {
    /// Protobuf: the spans are the repeated field at the end of this path
    /// of field numbers (OTLP: `[1, 2, 2]`, Jaeger `PostSpans`: `[1, 1]`).
    Protobuf(&'static [u32]),
    /// JSON: every occurrence of this quoted key (e.g. `"spanId"`), an upper
    /// bound of the spans (a key inside a string value would be escaped).
    JsonKey(&'static [u8]),
    /// Cannot be counted before decoding.
    Unknown,
}

/// OTLP `ExportTraceServiceRequest`: resource_spans(1) → scope_spans(2) → spans(2).
pub const OTLP_PROTOBUF: SpanCounter = SpanCounter::Protobuf(&[1, 2, 2]);
/// OTLP/JSON: one `"spanId"` per span (and per link, an over-count).
pub const OTLP_JSON: SpanCounter = SpanCounter::JsonKey(b"\"spanId\"");
/// Jaeger `PostSpansRequest`: batch(1) → spans(1).
pub const JAEGER_PROTOBUF: SpanCounter = SpanCounter::Protobuf(&[1, 1]);
/// Zipkin v2 `ListOfSpans`: spans(1).
pub const ZIPKIN_PROTOBUF: SpanCounter = SpanCounter::Protobuf(&[1]);
/// Zipkin JSON (v1 and v2): one `"id"` per span.
pub const ZIPKIN_JSON: SpanCounter = SpanCounter::JsonKey(b"\"id\"");

impl SpanCounter {
    /// An upper bound of the spans in `bytes`, `None` when unknown (or the
    /// payload is malformed: the decoder will say how).
    pub fn count(self, bytes: &[u8]) -> Option<usize> {
        match self {
            SpanCounter::Protobuf(path) => count_protobuf(bytes, path),
            SpanCounter::JsonKey(key) => Some(count_key(bytes, key)),
            SpanCounter::Unknown => None,
        }
    }
}

/// Why a payload's spans were not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitError {
    /// More spans than `max` in one request.
    TooManySpans { spans: usize, max: usize },
    /// The budget had no room, or can never hold the request.
    Budget(spoor_service::BudgetError),
}

impl std::fmt::Display for AdmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdmitError::TooManySpans { spans, max } => write!(
                f,
                "request holds {spans} spans, more than the limit of {max} spans per request; send smaller batches"
            ),
            AdmitError::Budget(e) => e.fmt(f),
        }
    }
}

/// Counts the spans of `plain` (decompressed bytes), refuses more than
/// `max_spans`, and reserves the decoded model's estimated memory in
/// `reservation` (in addition to what it holds). Returns the estimate.
pub fn admit(
    plain: &[u8],
    counter: SpanCounter,
    max_spans: usize,
    reservation: &mut Reservation,
) -> Result<usize, AdmitError> {
    let estimate = match counter.count(plain) {
        Some(spans) => {
            check_spans(spans, max_spans)?;
            spans
                .saturating_mul(DECODED_SPAN_BYTES)
                .saturating_add(plain.len().saturating_mul(DECODED_CONTENT_FACTOR))
        }
        None => plain.len().saturating_mul(DECODED_BYTES_FACTOR),
    };
    reservation.grow(estimate).map_err(AdmitError::Budget)?;
    Ok(estimate)
}

/// Refuses more than `max_spans` (`0` = no cap).
pub fn check_spans(spans: usize, max_spans: usize) -> Result<(), AdmitError> {
    if max_spans > 0 && spans > max_spans {
        return Err(AdmitError::TooManySpans {
            spans,
            max: max_spans,
        });
    }
    Ok(())
}

fn count_key(bytes: &[u8], key: &[u8]) -> usize {
    if key.is_empty() || bytes.len() < key.len() {
        return 0;
    }
    let first = key[0];
    let mut n = 0;
    let mut i = 0;
    while i + key.len() <= bytes.len() {
        if bytes[i] == first && &bytes[i..i + key.len()] == key {
            n += 1;
            i += key.len();
        } else {
            i += 1;
        }
    }
    n
}

/// Reads a base-128 varint at `*pos`.
fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Counts the occurrences of the field at the end of `path`, descending
/// into the length-delimited fields named by the path. No allocation.
fn count_protobuf(bytes: &[u8], path: &[u32]) -> Option<usize> {
    let (&field, rest) = path.split_first()?;
    let mut pos = 0;
    let mut n = 0usize;
    while pos < bytes.len() {
        let key = varint(bytes, &mut pos)?;
        let number = u32::try_from(key >> 3).ok()?;
        match key & 7 {
            0 => {
                varint(bytes, &mut pos)?;
            }
            1 => pos = pos.checked_add(8)?,
            5 => pos = pos.checked_add(4)?,
            2 => {
                let len = usize::try_from(varint(bytes, &mut pos)?).ok()?;
                let end = pos.checked_add(len)?;
                let inner = bytes.get(pos..end)?;
                if number == field {
                    n += if rest.is_empty() {
                        1
                    } else {
                        count_protobuf(inner, rest)?
                    };
                }
                pos = end;
            }
            _ => return None,
        }
        if pos > bytes.len() {
            return None;
        }
    }
    Some(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_support::sample_spans;

    #[test]
    fn counts_spans_without_decoding() {
        let spans = sample_spans("svc", "op", 7);
        let otlp = spoor_codec::otlp::encode_request(&spans);
        assert_eq!(OTLP_PROTOBUF.count(&otlp), Some(7));
        let jaeger = spoor_codec::jaeger_proto::encode_post_spans(&spans);
        assert_eq!(JAEGER_PROTOBUF.count(&jaeger), Some(7));
        assert_eq!(OTLP_PROTOBUF.count(b"\xff\xff"), None);
        assert_eq!(
            OTLP_JSON.count(br#"[{"spanId":"a"},{"spanId":"b","parentSpanId":"a"}]"#),
            Some(2)
        );
        assert_eq!(SpanCounter::Unknown.count(b"x"), None);
    }

    #[test]
    fn admission_caps_spans_and_reserves_the_estimate() {
        let otlp = spoor_codec::otlp::encode_request(&sample_spans("svc", "op", 7));
        let estimate = 7 * DECODED_SPAN_BYTES + otlp.len() * DECODED_CONTENT_FACTOR;
        let budget = spoor_service::MemoryBudget::new(estimate + estimate / 2);
        let mut r = budget.empty();
        assert_eq!(
            admit(&otlp, OTLP_PROTOBUF, 6, &mut r),
            Err(AdmitError::TooManySpans { spans: 7, max: 6 })
        );
        assert_eq!(admit(&otlp, OTLP_PROTOBUF, 100, &mut r), Ok(estimate));
        assert_eq!(r.bytes(), estimate);
        let mut other = budget.empty();
        assert_eq!(
            admit(&otlp, OTLP_PROTOBUF, 0, &mut other),
            Err(AdmitError::Budget(spoor_service::BudgetError::Busy))
        );
    }
}
