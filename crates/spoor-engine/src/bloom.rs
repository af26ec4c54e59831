//! A trace-ID Bloom filter, one per block, held in memory so a trace lookup
//! opens only the blocks that may hold the trace.
//!
//! Serialized form (`bloom.bin`, little-endian):
//!
//! ```text
//! magic "SPOORBLM" | version:u32 (=1) | hashes:u32 | bits:u64 | crc32(words):u32 | words:u64*
//! ```
//!
//! Bit positions use double hashing over two 64-bit mixes of the trace ID:
//! `(h1 + i·h2) mod bits` for `i` in `0..hashes`. With 10 bits per trace and
//! 7 hashes the false-positive rate is about 1%.

use spoor_model::TraceId;

const MAGIC: &[u8; 8] = b"SPOORBLM";
/// The Bloom filter format version this build writes and reads.
pub const BLOOM_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 4;
const BITS_PER_ITEM: u64 = 10;
const HASHES: u32 = 7;
/// Largest filter accepted when reading (2^34 bits = 2 GiB).
const MAX_BITS: u64 = 1 << 34;

/// Why a serialized filter was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BloomError {
    #[error("not a Bloom filter (bad magic or too short)")]
    BadHeader,
    #[error("unsupported Bloom filter version {0}")]
    Version(u32),
    #[error("Bloom filter size does not match its header")]
    BadSize,
    #[error("Bloom filter checksum mismatch")]
    BadChecksum,
}

/// A Bloom filter over trace IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceBloom {
    hashes: u32,
    bits: u64,
    words: Vec<u64>,
}

fn mix(mut z: u64) -> u64 {
    // splitmix64 finalizer
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hashes_of(id: &TraceId) -> (u64, u64) {
    let h1 = mix(id.low() ^ mix(id.high()));
    let h2 = mix(id.high().wrapping_add(0x9e37_79b9_7f4a_7c15) ^ id.low().rotate_left(32)) | 1;
    (h1, h2)
}

impl TraceBloom {
    /// An empty filter sized for `items` trace IDs.
    pub fn with_capacity(items: usize) -> Self {
        let bits = (items as u64 * BITS_PER_ITEM).clamp(64, MAX_BITS);
        let words = bits.div_ceil(64);
        TraceBloom {
            hashes: HASHES,
            bits: words * 64,
            words: vec![0; words as usize],
        }
    }

    fn positions(&self, id: &TraceId) -> impl Iterator<Item = u64> + use<> {
        let (h1, h2) = hashes_of(id);
        let bits = self.bits;
        (0..u64::from(self.hashes)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
    }

    /// Adds a trace ID.
    pub fn insert(&mut self, id: &TraceId) {
        for p in self.positions(id) {
            self.words[(p / 64) as usize] |= 1 << (p % 64);
        }
    }

    /// False when the ID was certainly never inserted.
    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.positions(id)
            .all(|p| self.words[(p / 64) as usize] & (1 << (p % 64)) != 0)
    }

    /// The serialized form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.words.len() * 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&BLOOM_VERSION.to_le_bytes());
        out.extend_from_slice(&self.hashes.to_le_bytes());
        out.extend_from_slice(&self.bits.to_le_bytes());
        let body: Vec<u8> = self.words.iter().flat_map(|w| w.to_le_bytes()).collect();
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses the serialized form; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BloomError> {
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(BloomError::BadHeader);
        }
        let u32_at = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[at..at + 4]);
            u32::from_le_bytes(b)
        };
        let version = u32_at(8);
        if version != BLOOM_VERSION {
            return Err(BloomError::Version(version));
        }
        let hashes = u32_at(12);
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[16..24]);
        let bits = u64::from_le_bytes(b);
        let crc = u32_at(24);
        let body = &bytes[HEADER_LEN..];
        if bits == 0
            || bits > MAX_BITS
            || !bits.is_multiple_of(64)
            || hashes == 0
            || hashes > 64
            || body.len() as u64 != bits / 8
        {
            return Err(BloomError::BadSize);
        }
        if crc32fast::hash(body) != crc {
            return Err(BloomError::BadChecksum);
        }
        let words = body
            .chunks_exact(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect();
        Ok(TraceBloom {
            hashes,
            bits,
            words,
        })
    }

    /// Bytes held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn inserted_ids_are_found_and_few_others_are() {
        let mut bloom = TraceBloom::with_capacity(10_000);
        for i in 0..10_000u64 {
            bloom.insert(&TraceId::from_halves(i * 31, i));
        }
        for i in 0..10_000u64 {
            assert!(bloom.may_contain(&TraceId::from_halves(i * 31, i)));
        }
        let false_positives = (0..100_000u64)
            .filter(|i| bloom.may_contain(&TraceId::from_halves(7, 1_000_000 + i)))
            .count();
        assert!(false_positives < 2_000, "{false_positives} false positives");
        let back = TraceBloom::from_bytes(&bloom.to_bytes()).unwrap();
        assert_eq!(back, bloom);
    }

    #[test]
    fn damaged_filters_are_rejected_without_panicking() {
        let mut bloom = TraceBloom::with_capacity(3);
        bloom.insert(&TraceId::from_halves(1, 2));
        let bytes = bloom.to_bytes();
        for cut in 0..bytes.len() {
            assert!(TraceBloom::from_bytes(&bytes[..cut]).is_err());
        }
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            TraceBloom::from_bytes(&flipped),
            Err(BloomError::BadChecksum)
        );
        let mut version = bytes.clone();
        version[8] = 9;
        assert_eq!(
            TraceBloom::from_bytes(&version),
            Err(BloomError::Version(9))
        );
        let mut huge = bytes;
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(TraceBloom::from_bytes(&huge), Err(BloomError::BadSize));
    }
}
