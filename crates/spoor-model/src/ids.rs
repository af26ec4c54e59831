use std::fmt;

/// Why an identifier could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("trace ID must be 1 to 32 hex characters, got {0} characters")]
    TraceIdLength(usize),
    #[error("span ID must be 1 to 16 hex characters, got {0} characters")]
    SpanIdLength(usize),
    #[error("invalid hex character in ID")]
    NotHex,
    #[error("ID must be {expected} bytes, got {got}")]
    ByteLength { expected: usize, got: usize },
}

/// A 128-bit trace identifier, big-endian as on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// A 64-bit span identifier, big-endian as on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

fn parse_hex_into(s: &str, out: &mut [u8]) -> Result<(), IdError> {
    // Right-align: a short ID is the low-order end of the value.
    let bytes = s.as_bytes();
    let total = out.len() * 2;
    out.fill(0);
    for (i, &c) in bytes.iter().enumerate() {
        let nib = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(IdError::NotHex),
        };
        let pos = total - bytes.len() + i;
        out[pos / 2] |= if pos.is_multiple_of(2) { nib << 4 } else { nib };
    }
    Ok(())
}

impl TraceId {
    pub const ZERO: TraceId = TraceId([0; 16]);

    /// Builds a trace ID from Jaeger's high and low halves.
    pub fn from_halves(high: u64, low: u64) -> Self {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&high.to_be_bytes());
        b[8..].copy_from_slice(&low.to_be_bytes());
        TraceId(b)
    }

    pub fn high(&self) -> u64 {
        let mut h = [0u8; 8];
        h.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(h)
    }

    pub fn low(&self) -> u64 {
        let mut l = [0u8; 8];
        l.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(l)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }

    /// Parses 1 to 32 hex characters (Jaeger's `TraceIDFromString`).
    pub fn from_hex(s: &str) -> Result<Self, IdError> {
        if s.is_empty() || s.len() > 32 {
            return Err(IdError::TraceIdLength(s.len()));
        }
        let mut b = [0u8; 16];
        parse_hex_into(s, &mut b)?;
        Ok(TraceId(b))
    }

    /// Builds a trace ID from exactly 16 bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self, IdError> {
        let arr: [u8; 16] = b.try_into().map_err(|_| IdError::ByteLength {
            expected: 16,
            got: b.len(),
        })?;
        Ok(TraceId(arr))
    }

    /// Always 32 lowercase hex characters (OTLP and api_v3 form).
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Jaeger's form: 16 hex characters when the high half is zero, else 32.
    pub fn to_jaeger_hex(&self) -> String {
        if self.high() == 0 {
            hex(&self.0[8..])
        } else {
            hex(&self.0)
        }
    }
}

impl SpanId {
    pub const ZERO: SpanId = SpanId([0; 8]);

    pub fn from_u64(v: u64) -> Self {
        SpanId(v.to_be_bytes())
    }

    pub fn as_u64(&self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    /// Parses 1 to 16 hex characters.
    pub fn from_hex(s: &str) -> Result<Self, IdError> {
        if s.is_empty() || s.len() > 16 {
            return Err(IdError::SpanIdLength(s.len()));
        }
        let mut b = [0u8; 8];
        parse_hex_into(s, &mut b)?;
        Ok(SpanId(b))
    }

    /// Builds a span ID from exactly 8 bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self, IdError> {
        let arr: [u8; 8] = b.try_into().map_err(|_| IdError::ByteLength {
            expected: 8,
            got: b.len(),
        })?;
        Ok(SpanId(arr))
    }

    /// Always 16 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.to_hex())
    }
}
impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({})", self.to_hex())
    }
}
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaeger_hex_is_short_when_high_half_is_zero() {
        let id = TraceId::from_halves(0, 1);
        assert_eq!(id.to_jaeger_hex(), "0000000000000001");
        assert_eq!(id.to_hex(), "00000000000000000000000000000001");
        let id = TraceId::from_halves(5, 1);
        assert_eq!(id.to_jaeger_hex(), "00000000000000050000000000000001");
    }

    #[test]
    fn hex_parsing_right_aligns_and_rejects_bad_input() {
        assert_eq!(
            TraceId::from_hex("1").unwrap_or_default(),
            TraceId::from_halves(0, 1)
        );
        assert_eq!(
            TraceId::from_hex("10000000000000002").unwrap_or_default(),
            TraceId::from_halves(1, 2)
        );
        assert_eq!(TraceId::from_hex("abcg"), Err(IdError::NotHex));
        assert_eq!(TraceId::from_hex(""), Err(IdError::TraceIdLength(0)));
        assert_eq!(
            TraceId::from_hex(&"1".repeat(33)),
            Err(IdError::TraceIdLength(33))
        );
        assert_eq!(SpanId::from_hex("ff").map(|s| s.as_u64()), Ok(255));
        assert!(SpanId::from_hex(&"f".repeat(17)).is_err());
    }
}
