//! The envelope shared by a block's small binary files (trace index, edges,
//! RED statistics): `magic:8 | version:u32le | crc32(body):u32le | body`.

const HEADER_LEN: usize = 16;

/// Why an envelope was rejected; each file maps it to its own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Too short, or another file's magic.
    BadHeader,
    /// A version this build does not read.
    Version(u32),
    /// The body does not match its checksum.
    BadChecksum,
}

/// `body` wrapped in the envelope.
pub(crate) fn seal(magic: &[u8; 8], version: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// The body inside the envelope, once magic, version and checksum hold.
pub(crate) fn open<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    version: u32,
) -> Result<&'a [u8], FrameError> {
    open_versions(bytes, magic, version..=version).map(|(_, body)| body)
}

/// The version and the body inside the envelope, once magic, a version in
/// `versions` and checksum hold.
pub(crate) fn open_versions<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    versions: std::ops::RangeInclusive<u32>,
) -> Result<(u32, &'a [u8]), FrameError> {
    let (Some(head), Some(body)) = (bytes.get(..HEADER_LEN), bytes.get(HEADER_LEN..)) else {
        return Err(FrameError::BadHeader);
    };
    let word = |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    if &head[..8] != magic {
        return Err(FrameError::BadHeader);
    }
    let found = word(8);
    if !versions.contains(&found) {
        return Err(FrameError::Version(found));
    }
    if crc32fast::hash(body) != word(12) {
        return Err(FrameError::BadChecksum);
    }
    Ok((found, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bodies_open_and_damage_is_named() {
        let sealed = seal(b"SPOORTST", 3, b"body");
        assert_eq!(open(&sealed, b"SPOORTST", 3), Ok(&b"body"[..]));
        assert_eq!(open(&sealed, b"SPOOROTH", 3), Err(FrameError::BadHeader));
        assert_eq!(open(&sealed, b"SPOORTST", 4), Err(FrameError::Version(3)));
        assert_eq!(
            open(&sealed[..15], b"SPOORTST", 3),
            Err(FrameError::BadHeader)
        );
        let mut bad = sealed.clone();
        bad[17] ^= 1;
        assert_eq!(open(&bad, b"SPOORTST", 3), Err(FrameError::BadChecksum));
        assert_eq!(
            open(&seal(b"SPOORTST", 3, b""), b"SPOORTST", 3),
            Ok(&b""[..])
        );
    }
}
