//! Per-minute RED statistics of a block (calls, errors and a latency sketch
//! per service, operation and span kind), computed when the block is
//! written, so metrics queries read a few numbers instead of spans.
//!
//! Serialized form (`red.bin`, block format 2 and later):
//!
//! ```text
//! magic "SPOORRED" | version:u32le (=1) | crc32(body):u32le | body
//! body := strings rows
//! strings := count (len:varint utf8)*                 (services and operations)
//! rows := count row*                                  (sorted by minute, service,
//!                                                      operation, kind)
//! row := minute:varint service:varint operation:varint kind:u8
//!        calls:varint errors:varint zero:varint
//!        buckets:count (index_delta:varint count:varint)*
//! ```
//!
//! `minute` is unix time / 60 s of the spans' start; `service` and
//! `operation` index `strings`; `zero` counts zero durations; bucket
//! indexes are those of `spoor_storage::LatencySketch` (ascending, each
//! stored as the difference from the previous one, the first from 0).

use std::collections::HashMap;

use spoor_model::{SpanKind, SpanRecord};
use spoor_storage::red::MAX_SKETCH_INDEX;
use spoor_storage::{LatencySketch, RedAccumulator, RedQuery, RedRow, RedStats};

use crate::record::{Reader, RecordError, put_strings, put_varint};

const MAGIC: &[u8; 8] = b"SPOORRED";
/// The statistics format version this build writes and reads.
pub const RED_VERSION: u32 = 1;

/// Why a serialized statistics file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedError {
    #[error("not a statistics file (bad magic or too short)")]
    BadHeader,
    #[error("unsupported statistics version {0}")]
    Version(u32),
    #[error("statistics checksum mismatch")]
    BadChecksum,
    #[error("malformed statistics: {0}")]
    Malformed(#[from] RecordError),
    #[error("invalid statistics: {0}")]
    Invalid(&'static str),
}

impl From<super::frame::FrameError> for RedError {
    fn from(e: super::frame::FrameError) -> Self {
        match e {
            super::frame::FrameError::BadHeader => RedError::BadHeader,
            super::frame::FrameError::Version(v) => RedError::Version(v),
            super::frame::FrameError::BadChecksum => RedError::BadChecksum,
        }
    }
}

/// The statistics of spans (in any order), serialized.
pub(crate) fn encode(spans: &[&SpanRecord]) -> Vec<u8> {
    let mut acc = RedAccumulator::default();
    for r in spans {
        acc.add_span(r);
    }
    encode_rows(&acc.into_rows())
}

/// Sorted rows, serialized.
pub fn encode_rows(rows: &[RedRow]) -> Vec<u8> {
    fn intern<'a>(
        s: &'a str,
        strings: &mut Vec<&'a str>,
        index: &mut HashMap<&'a str, u64>,
    ) -> u64 {
        *index.entry(s).or_insert_with(|| {
            strings.push(s);
            strings.len() as u64 - 1
        })
    }
    let mut strings: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, u64> = HashMap::new();
    let mut ids = Vec::with_capacity(rows.len());
    for r in rows {
        let service = intern(&r.service, &mut strings, &mut index);
        let operation = intern(&r.operation, &mut strings, &mut index);
        ids.push((service, operation));
    }
    let mut body = Vec::new();
    put_strings(&mut body, &strings);
    put_varint(&mut body, rows.len() as u64);
    for (r, (service, operation)) in rows.iter().zip(ids) {
        put_varint(&mut body, r.minute);
        put_varint(&mut body, service);
        put_varint(&mut body, operation);
        body.push(r.span_kind as u8);
        put_varint(&mut body, r.stats.calls);
        put_varint(&mut body, r.stats.errors);
        put_varint(&mut body, r.stats.latency.zero_count());
        let buckets: Vec<(u16, u64)> = r.stats.latency.buckets().collect();
        put_varint(&mut body, buckets.len() as u64);
        let mut prev = 0u16;
        for (i, n) in buckets {
            put_varint(&mut body, u64::from(i - prev));
            put_varint(&mut body, n);
            prev = i;
        }
    }
    super::frame::seal(MAGIC, RED_VERSION, &body)
}

/// Parses the serialized form, keeping the rows `query` selects; never panics.
pub fn decode(bytes: &[u8], query: Option<&RedQuery>) -> Result<Vec<RedRow>, RedError> {
    let body = super::frame::open(bytes, MAGIC, RED_VERSION)?;
    let mut r = Reader::new(body);
    let strings = r.strings()?;
    let minutes = query.map(|q| {
        (
            spoor_storage::red::red_minute_of(q.start),
            spoor_storage::red::red_minute_of(q.end),
        )
    });
    let n = r.count(8)?;
    let mut rows = Vec::new();
    let mut last: Option<u64> = None;
    for _ in 0..n {
        let minute = r.varint()?;
        if last.is_some_and(|m| m > minute) {
            return Err(RedError::Invalid("rows are not sorted by minute"));
        }
        last = Some(minute);
        let service = r.varint()?;
        let operation = r.varint()?;
        let (Some(service), Some(operation)) = (
            strings.get(service as usize),
            strings.get(operation as usize),
        ) else {
            return Err(RedError::Invalid("string index out of range"));
        };
        let kind = r.u8()?;
        if kind > 5 {
            return Err(RedError::Invalid("unknown span kind"));
        }
        let span_kind = SpanKind::from_i32(i32::from(kind));
        let calls = r.varint()?;
        let errors = r.varint()?;
        let zero = r.varint()?;
        let nb = r.count(2)?;
        let mut buckets = Vec::with_capacity(nb);
        let mut index = 0u64;
        for _ in 0..nb {
            index = index.saturating_add(r.varint()?);
            if index > u64::from(MAX_SKETCH_INDEX) {
                return Err(RedError::Invalid("latency bucket out of range"));
            }
            buckets.push((index as u16, r.varint()?));
        }
        let selected = match (query, minutes) {
            (Some(q), Some((lo, hi))) => {
                minute >= lo && minute <= hi && q.selects_series(service, span_kind)
            }
            _ => true,
        };
        if !selected {
            continue;
        }
        let latency = LatencySketch::from_parts(zero, buckets)
            .ok_or(RedError::Invalid("latency bucket out of range"))?;
        rows.push(RedRow {
            minute,
            service: service.clone(),
            operation: operation.clone(),
            span_kind,
            stats: RedStats {
                calls,
                errors,
                latency,
            },
        });
    }
    if r.remaining() != 0 {
        return Err(RedError::Invalid("trailing bytes"));
    }
    Ok(rows)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use spoor_model::testing;
    use spoor_storage::red::RED_MINUTE;

    use super::*;

    fn rec(service: &str, name: &str, start: u64, dur: u64, error: bool) -> SpanRecord {
        testing::record()
            .service(service)
            .name(name)
            .kind(SpanKind::Server)
            .start(start)
            .duration(dur)
            .error(error)
            .build()
    }

    #[test]
    fn statistics_round_trip_and_damage_is_an_error() {
        let spans = [
            rec("a", "x", 0, 1_000, false),
            rec("a", "x", 10, 0, true),
            rec("b", "y", RED_MINUTE, 5_000_000, false),
            rec("a", "x", 2 * RED_MINUTE, 7, false),
        ];
        let refs: Vec<&SpanRecord> = spans.iter().collect();
        let bytes = encode(&refs);
        let rows = decode(&bytes, None).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].stats.calls, rows[0].stats.errors), (2, 1));
        assert_eq!(rows[0].stats.latency.zero_count(), 1);
        let mut acc = RedAccumulator::default();
        for r in &spans {
            acc.add_span(r);
        }
        assert_eq!(rows, acc.into_rows());
        let q = RedQuery {
            services: vec!["a".into()],
            span_kinds: vec![SpanKind::Server],
            start: 0,
            end: RED_MINUTE + 1,
        };
        let some = decode(&bytes, Some(&q)).unwrap();
        assert_eq!(some.len(), 1);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], None).is_err());
        }
        for i in 16..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x40;
            assert!(decode(&flipped, None).is_err());
        }
    }
}
