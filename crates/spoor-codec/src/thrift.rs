//! Apache Thrift's binary and compact protocols, read from a byte slice and
//! written to a `Vec<u8>`.
//!
//! Jaeger clients send `Agent.emitBatch` over UDP in the compact protocol
//! (port 6831) or the binary protocol (6832), and POST bare binary-protocol
//! `Batch` structs to 14268; Zipkin v1 accepts a binary-protocol
//! `list<Span>`. The readers here are schema-less: the caller walks the
//! structure it expects ([`ThriftReader::read_field_begin`] until it returns
//! `None`, skipping unknown fields with [`ThriftReader::skip`]).
//!
//! The readers are written for hostile input:
//!
//! - every length (string, binary, list, set, map) is checked against the
//!   bytes that remain before anything is allocated: a container claims at
//!   least its minimum encoded size per element, so a list of 2^31 elements
//!   in a 10-byte packet is an error, not an allocation;
//! - structs and containers nest at most [`DEFAULT_MAX_DEPTH`] levels (the
//!   `*_begin` methods count, the `*_end` methods release);
//! - nothing panics; every failure is a [`ThriftError`], which converts into
//!   [`DecodeError`].
//!
//! Strings are decoded as UTF-8 with invalid sequences replaced (as Go keeps
//! such bytes rather than rejecting the batch).

use crate::DecodeError;

/// How deep structs and containers may nest before a reader gives up.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// Why Thrift bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThriftError {
    /// The input ended in the middle of a value.
    #[error("unexpected end of input at byte {offset}: need {needed} bytes, {remaining} remain")]
    Truncated {
        offset: usize,
        needed: usize,
        remaining: usize,
    },
    /// A length or size was negative.
    #[error("negative {what} length {len}")]
    NegativeLength { what: &'static str, len: i64 },
    /// A container claims more elements than the remaining bytes can hold.
    #[error("{what} of {len} elements cannot fit in the {remaining} bytes that remain")]
    TooLong {
        what: &'static str,
        len: u64,
        remaining: usize,
    },
    /// A type id that Thrift does not define (or that is not allowed here).
    #[error("invalid type id {0}")]
    InvalidType(u8),
    /// Structs and containers nest deeper than the limit.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// A varint longer than its type allows.
    #[error("varint too long at byte {0}")]
    VarintTooLong(usize),
    /// A message header with a wrong protocol id, version or message type.
    #[error("bad message header: {0}")]
    BadMessageHeader(String),
    /// Well-formed Thrift, but not the structure the caller expects
    /// (a required field missing, an unexpected message, …).
    #[error("{0}")]
    Invalid(String),
}

impl From<ThriftError> for DecodeError {
    fn from(e: ThriftError) -> Self {
        DecodeError::invalid("thrift", e.to_string())
    }
}

/// A Thrift value type, as the binary protocol numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TType {
    /// End of a struct's fields.
    Stop,
    /// No value (only in method results).
    Void,
    /// `bool`.
    Bool,
    /// `byte` / `i8`.
    I8,
    /// `double`.
    Double,
    /// `i16`.
    I16,
    /// `i32` (and enums).
    I32,
    /// `i64`.
    I64,
    /// `string` and `binary`.
    String,
    /// A struct.
    Struct,
    /// `map<K, V>`.
    Map,
    /// `set<T>`.
    Set,
    /// `list<T>`.
    List,
    /// 16 raw bytes.
    Uuid,
}

impl TType {
    /// The binary protocol's type id.
    pub fn to_binary(self) -> u8 {
        match self {
            TType::Stop => 0,
            TType::Void => 1,
            TType::Bool => 2,
            TType::I8 => 3,
            TType::Double => 4,
            TType::I16 => 6,
            TType::I32 => 8,
            TType::I64 => 10,
            TType::String => 11,
            TType::Struct => 12,
            TType::Map => 13,
            TType::Set => 14,
            TType::List => 15,
            TType::Uuid => 16,
        }
    }

    /// Parses a binary-protocol type id.
    pub fn from_binary(id: u8) -> Result<TType, ThriftError> {
        Ok(match id {
            0 => TType::Stop,
            1 => TType::Void,
            2 => TType::Bool,
            3 => TType::I8,
            4 => TType::Double,
            6 => TType::I16,
            8 => TType::I32,
            10 => TType::I64,
            11 => TType::String,
            12 => TType::Struct,
            13 => TType::Map,
            14 => TType::Set,
            15 => TType::List,
            16 => TType::Uuid,
            other => return Err(ThriftError::InvalidType(other)),
        })
    }

    /// The compact protocol's type nibble (booleans as "true", 1).
    fn to_compact(self) -> u8 {
        match self {
            TType::Stop | TType::Void => 0,
            TType::Bool => 1,
            TType::I8 => 3,
            TType::I16 => 4,
            TType::I32 => 5,
            TType::I64 => 6,
            TType::Double => 7,
            TType::String => 8,
            TType::List => 9,
            TType::Set => 10,
            TType::Map => 11,
            TType::Struct => 12,
            TType::Uuid => 13,
        }
    }

    fn from_compact(nibble: u8) -> Result<TType, ThriftError> {
        Ok(match nibble {
            0 => TType::Stop,
            1 | 2 => TType::Bool,
            3 => TType::I8,
            4 => TType::I16,
            5 => TType::I32,
            6 => TType::I64,
            7 => TType::Double,
            8 => TType::String,
            9 => TType::List,
            10 => TType::Set,
            11 => TType::Map,
            12 => TType::Struct,
            13 => TType::Uuid,
            other => return Err(ThriftError::InvalidType(other)),
        })
    }

    /// The fewest bytes one value of this type takes in the binary protocol.
    fn min_binary_size(self) -> usize {
        match self {
            TType::Stop | TType::Void => 0,
            TType::Bool | TType::I8 | TType::Struct => 1,
            TType::I16 => 2,
            TType::I32 | TType::String => 4,
            TType::I64 | TType::Double => 8,
            TType::Map => 6,
            TType::Set | TType::List => 5,
            TType::Uuid => 16,
        }
    }

    /// The fewest bytes one value of this type takes in the compact protocol.
    fn min_compact_size(self) -> usize {
        match self {
            TType::Stop | TType::Void => 0,
            TType::Double => 8,
            TType::Uuid => 16,
            _ => 1,
        }
    }

    /// Whether a value of this type may appear as a container element.
    fn is_value(self) -> bool {
        !matches!(self, TType::Stop | TType::Void)
    }
}

/// The kind of a Thrift RPC message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A call that expects a reply.
    Call = 1,
    /// A reply to a call.
    Reply = 2,
    /// An error reply.
    Exception = 3,
    /// A call that expects no reply (`Agent.emitBatch`).
    Oneway = 4,
}

impl MessageType {
    fn from_u8(v: u8) -> Result<MessageType, ThriftError> {
        Ok(match v {
            1 => MessageType::Call,
            2 => MessageType::Reply,
            3 => MessageType::Exception,
            4 => MessageType::Oneway,
            other => {
                return Err(ThriftError::BadMessageHeader(format!(
                    "unknown message type {other}"
                )));
            }
        })
    }
}

/// The header of an RPC message: method name, kind and sequence id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    /// The method name.
    pub name: String,
    /// Call, reply, exception or oneway.
    pub message_type: MessageType,
    /// The sender's sequence number.
    pub sequence_id: i32,
}

/// The header of a list or set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListHeader {
    /// The type of every element.
    pub element_type: TType,
    /// Checked against the remaining input: at most one element per byte.
    pub len: usize,
}

/// The header of a map. For an empty map the compact protocol sends no
/// types; both are then [`TType::Stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapHeader {
    /// The type of every key.
    pub key_type: TType,
    /// The type of every value.
    pub value_type: TType,
    /// Checked against the remaining input.
    pub len: usize,
}

/// Reading one Thrift protocol from a byte slice. Implemented by
/// [`BinaryReader`] and [`CompactReader`], so that a decoder written once
/// (generic over `R: ThriftReader`) reads both.
///
/// Every `*_begin` for a struct or container must be matched by its `*_end`:
/// the pair tracks nesting depth (and, in the compact protocol, field ids).
pub trait ThriftReader {
    /// Reads an RPC message header.
    fn read_message_begin(&mut self) -> Result<MessageHeader, ThriftError>;
    /// Ends an RPC message (nothing to read in either protocol).
    fn read_message_end(&mut self) -> Result<(), ThriftError> {
        Ok(())
    }
    /// Enters a struct.
    fn read_struct_begin(&mut self) -> Result<(), ThriftError>;
    /// Leaves a struct (after `read_field_begin` returned `None`).
    fn read_struct_end(&mut self) -> Result<(), ThriftError>;
    /// The next field's type and id, or `None` at the end of the struct.
    fn read_field_begin(&mut self) -> Result<Option<(TType, i16)>, ThriftError>;
    /// Ends a field (nothing to read in either protocol).
    fn read_field_end(&mut self) -> Result<(), ThriftError> {
        Ok(())
    }
    /// A boolean (in the compact protocol, a boolean field's value comes
    /// with its header).
    fn read_bool(&mut self) -> Result<bool, ThriftError>;
    /// A signed byte.
    fn read_i8(&mut self) -> Result<i8, ThriftError>;
    /// A 16-bit integer.
    fn read_i16(&mut self) -> Result<i16, ThriftError>;
    /// A 32-bit integer.
    fn read_i32(&mut self) -> Result<i32, ThriftError>;
    /// A 64-bit integer.
    fn read_i64(&mut self) -> Result<i64, ThriftError>;
    /// A 64-bit float.
    fn read_double(&mut self) -> Result<f64, ThriftError>;
    /// 16 raw bytes.
    fn read_uuid(&mut self) -> Result<[u8; 16], ThriftError>;
    /// A length-prefixed byte string.
    fn read_binary(&mut self) -> Result<Vec<u8>, ThriftError>;
    /// A length-prefixed string; invalid UTF-8 is replaced, not rejected.
    fn read_string(&mut self) -> Result<String, ThriftError> {
        let bytes = self.read_binary()?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }
    /// Enters a list.
    fn read_list_begin(&mut self) -> Result<ListHeader, ThriftError>;
    /// Leaves a list.
    fn read_list_end(&mut self) -> Result<(), ThriftError>;
    /// Enters a set.
    fn read_set_begin(&mut self) -> Result<ListHeader, ThriftError>;
    /// Leaves a set.
    fn read_set_end(&mut self) -> Result<(), ThriftError>;
    /// Enters a map.
    fn read_map_begin(&mut self) -> Result<MapHeader, ThriftError>;
    /// Leaves a map.
    fn read_map_end(&mut self) -> Result<(), ThriftError>;
    /// Bytes not read yet.
    fn remaining(&self) -> usize;

    /// Reads and discards one value of type `ttype`, however deeply nested
    /// (up to the reader's depth limit).
    fn skip(&mut self, ttype: TType) -> Result<(), ThriftError> {
        match ttype {
            TType::Stop | TType::Void => return Err(ThriftError::InvalidType(ttype.to_binary())),
            TType::Bool => {
                self.read_bool()?;
            }
            TType::I8 => {
                self.read_i8()?;
            }
            TType::I16 => {
                self.read_i16()?;
            }
            TType::I32 => {
                self.read_i32()?;
            }
            TType::I64 => {
                self.read_i64()?;
            }
            TType::Double => {
                self.read_double()?;
            }
            TType::Uuid => {
                self.read_uuid()?;
            }
            TType::String => {
                self.read_binary()?;
            }
            TType::Struct => {
                self.read_struct_begin()?;
                while let Some((t, _)) = self.read_field_begin()? {
                    self.skip(t)?;
                    self.read_field_end()?;
                }
                self.read_struct_end()?;
            }
            TType::List => {
                let h = self.read_list_begin()?;
                for _ in 0..h.len {
                    self.skip(h.element_type)?;
                }
                self.read_list_end()?;
            }
            TType::Set => {
                let h = self.read_set_begin()?;
                for _ in 0..h.len {
                    self.skip(h.element_type)?;
                }
                self.read_set_end()?;
            }
            TType::Map => {
                let h = self.read_map_begin()?;
                for _ in 0..h.len {
                    self.skip(h.key_type)?;
                    self.skip(h.value_type)?;
                }
                self.read_map_end()?;
            }
        }
        Ok(())
    }
}

/// A cursor over the input with bounds-checked reads.
#[derive(Debug, Clone)]
struct Input<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ThriftError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(ThriftError::Truncated {
                offset: self.pos,
                needed: n,
                remaining,
            });
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..start + n])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ThriftError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, ThriftError> {
        Ok(self.array::<1>()?[0])
    }

    /// An unsigned LEB128 varint of at most `max_bytes` bytes.
    fn varint(&mut self, max_bytes: usize) -> Result<u64, ThriftError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ThriftError::VarintTooLong(start))
    }

    /// Checks that `len` elements of at least `min_size` bytes each fit.
    fn check_elements(
        &self,
        what: &'static str,
        len: u64,
        min_size: usize,
    ) -> Result<usize, ThriftError> {
        let remaining = self.remaining();
        let too_long = ThriftError::TooLong {
            what,
            len,
            remaining,
        };
        let n = usize::try_from(len).map_err(|_| too_long.clone())?;
        match n.checked_mul(min_size) {
            Some(bytes) if bytes <= remaining => Ok(n),
            _ => Err(too_long),
        }
    }
}

/// Depth accounting shared by both readers.
#[derive(Debug, Clone)]
struct Depth {
    current: usize,
    max: usize,
}

impl Depth {
    fn enter(&mut self) -> Result<(), ThriftError> {
        if self.current >= self.max {
            return Err(ThriftError::TooDeep(self.max));
        }
        self.current += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.current = self.current.saturating_sub(1);
    }
}

/// Reads the Thrift binary protocol (big-endian fixed-width integers,
/// 4-byte lengths). Message headers may be strict (versioned) or old-style.
#[derive(Debug, Clone)]
pub struct BinaryReader<'a> {
    input: Input<'a>,
    depth: Depth,
}

impl<'a> BinaryReader<'a> {
    /// A reader over `buf` with the default depth limit.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_max_depth(buf, DEFAULT_MAX_DEPTH)
    }

    /// A reader over `buf` allowing `max_depth` nested structs and containers.
    pub fn with_max_depth(buf: &'a [u8], max_depth: usize) -> Self {
        BinaryReader {
            input: Input { buf, pos: 0 },
            depth: Depth {
                current: 0,
                max: max_depth,
            },
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.input.pos
    }

    fn read_len(&mut self, what: &'static str) -> Result<usize, ThriftError> {
        let len = self.read_i32()?;
        usize::try_from(len).map_err(|_| ThriftError::NegativeLength {
            what,
            len: i64::from(len),
        })
    }

    fn read_collection(&mut self, what: &'static str) -> Result<ListHeader, ThriftError> {
        let element_type = TType::from_binary(self.input.byte()?)?;
        if !element_type.is_value() {
            return Err(ThriftError::InvalidType(element_type.to_binary()));
        }
        let len = self.read_len(what)?;
        let len = self
            .input
            .check_elements(what, len as u64, element_type.min_binary_size())?;
        self.depth.enter()?;
        Ok(ListHeader { element_type, len })
    }
}

impl ThriftReader for BinaryReader<'_> {
    fn read_message_begin(&mut self) -> Result<MessageHeader, ThriftError> {
        let first = self.read_i32()?;
        if first < 0 {
            // Strict: 0x8001 version in the high half, message type in the low byte.
            let version = (first as u32) & 0xffff_0000;
            if version != 0x8001_0000 {
                return Err(ThriftError::BadMessageHeader(format!(
                    "unsupported binary protocol version {version:#010x}"
                )));
            }
            let message_type = MessageType::from_u8((first & 0xff) as u8)?;
            let name = self.read_string()?;
            let sequence_id = self.read_i32()?;
            Ok(MessageHeader {
                name,
                message_type,
                sequence_id,
            })
        } else {
            // Old style: the name's length came first.
            let len = usize::try_from(first).unwrap_or(usize::MAX);
            let name = String::from_utf8_lossy(self.input.take(len)?).into_owned();
            let message_type = MessageType::from_u8(self.input.byte()?)?;
            let sequence_id = self.read_i32()?;
            Ok(MessageHeader {
                name,
                message_type,
                sequence_id,
            })
        }
    }

    fn read_struct_begin(&mut self) -> Result<(), ThriftError> {
        self.depth.enter()
    }

    fn read_struct_end(&mut self) -> Result<(), ThriftError> {
        self.depth.leave();
        Ok(())
    }

    fn read_field_begin(&mut self) -> Result<Option<(TType, i16)>, ThriftError> {
        let t = TType::from_binary(self.input.byte()?)?;
        if t == TType::Stop {
            return Ok(None);
        }
        let id = self.read_i16()?;
        Ok(Some((t, id)))
    }

    fn read_bool(&mut self) -> Result<bool, ThriftError> {
        Ok(self.input.byte()? != 0)
    }

    fn read_i8(&mut self) -> Result<i8, ThriftError> {
        Ok(i8::from_be_bytes(self.input.array()?))
    }

    fn read_i16(&mut self) -> Result<i16, ThriftError> {
        Ok(i16::from_be_bytes(self.input.array()?))
    }

    fn read_i32(&mut self) -> Result<i32, ThriftError> {
        Ok(i32::from_be_bytes(self.input.array()?))
    }

    fn read_i64(&mut self) -> Result<i64, ThriftError> {
        Ok(i64::from_be_bytes(self.input.array()?))
    }

    fn read_double(&mut self) -> Result<f64, ThriftError> {
        Ok(f64::from_be_bytes(self.input.array()?))
    }

    fn read_uuid(&mut self) -> Result<[u8; 16], ThriftError> {
        self.input.array()
    }

    fn read_binary(&mut self) -> Result<Vec<u8>, ThriftError> {
        let len = self.read_len("binary")?;
        Ok(self.input.take(len)?.to_vec())
    }

    fn read_list_begin(&mut self) -> Result<ListHeader, ThriftError> {
        self.read_collection("list")
    }

    fn read_list_end(&mut self) -> Result<(), ThriftError> {
        self.depth.leave();
        Ok(())
    }

    fn read_set_begin(&mut self) -> Result<ListHeader, ThriftError> {
        self.read_collection("set")
    }

    fn read_set_end(&mut self) -> Result<(), ThriftError> {
        self.depth.leave();
        Ok(())
    }

    fn read_map_begin(&mut self) -> Result<MapHeader, ThriftError> {
        let key_type = TType::from_binary(self.input.byte()?)?;
        let value_type = TType::from_binary(self.input.byte()?)?;
        if !key_type.is_value() || !value_type.is_value() {
            let bad = if key_type.is_value() {
                value_type
            } else {
                key_type
            };
            return Err(ThriftError::InvalidType(bad.to_binary()));
        }
        let len = self.read_len("map")?;
        let len = self.input.check_elements(
            "map",
            len as u64,
            key_type.min_binary_size() + value_type.min_binary_size(),
        )?;
        self.depth.enter()?;
        Ok(MapHeader {
            key_type,
            value_type,
            len,
        })
    }

    fn read_map_end(&mut self) -> Result<(), ThriftError> {
        self.depth.leave();
        Ok(())
    }

    fn remaining(&self) -> usize {
        self.input.remaining()
    }
}

/// The compact protocol's protocol id, the first byte of a message.
const COMPACT_PROTOCOL_ID: u8 = 0x82;
/// The compact protocol version this module reads and writes.
const COMPACT_VERSION: u8 = 1;

fn zigzag_decode(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

fn zigzag_encode(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// Reads the Thrift compact protocol (zigzag varints, delta-encoded field
/// ids, booleans folded into field headers, little-endian doubles).
#[derive(Debug, Clone)]
pub struct CompactReader<'a> {
    input: Input<'a>,
    depth: Depth,
    /// Field id of the last field read in the current struct.
    last_field_id: i16,
    /// Saved `last_field_id` of the enclosing structs.
    field_id_stack: Vec<i16>,
    /// The value of a boolean field, carried in its field header.
    pending_bool: Option<bool>,
}

impl<'a> CompactReader<'a> {
    /// A reader over `buf` with the default depth limit.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_max_depth(buf, DEFAULT_MAX_DEPTH)
    }

    /// A reader over `buf` allowing `max_depth` nested structs and containers.
    pub fn with_max_depth(buf: &'a [u8], max_depth: usize) -> Self {
        CompactReader {
            input: Input { buf, pos: 0 },
            depth: Depth {
                current: 0,
                max: max_depth,
            },
            last_field_id: 0,
            field_id_stack: Vec::new(),
            pending_bool: None,
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.input.pos
    }

    fn read_varint32(&mut self) -> Result<u32, ThriftError> {
        Ok(self.input.varint(5)? as u32)
    }

    fn read_size(&mut self, what: &'static str) -> Result<u64, ThriftError> {
        let raw = self.read_varint32()? as i32;
        if raw < 0 {
            return Err(ThriftError::NegativeLength {
                what,
                len: i64::from(raw),
            });
        }
        Ok(raw as u64)
    }

    fn read_collection(&mut self, what: &'static str) -> Result<ListHeader, ThriftError> {
        let header = self.input.byte()?;
        let element_type = TType::from_compact(header & 0x0f)?;
        if !element_type.is_value() {
            return Err(ThriftError::InvalidType(header & 0x0f));
        }
        let short_len = u64::from(header >> 4);
        let len = if short_len == 15 {
            self.read_size(what)?
        } else {
            short_len
        };
        let len = self
            .input
            .check_elements(what, len, element_type.min_compact_size())?;
        self.depth.enter()?;
        Ok(ListHeader { element_type, len })
    }
}

impl ThriftReader for CompactReader<'_> {
    fn read_message_begin(&mut self) -> Result<MessageHeader, ThriftError> {
        let protocol_id = self.input.byte()?;
        if protocol_id != COMPACT_PROTOCOL_ID {
            return Err(ThriftError::BadMessageHeader(format!(
                "expected compact protocol id {COMPACT_PROTOCOL_ID:#04x}, got {protocol_id:#04x}"
            )));
        }
        let version_and_type = self.input.byte()?;
        let version = version_and_type & 0x1f;
        if version != COMPACT_VERSION {
            return Err(ThriftError::BadMessageHeader(format!(
                "unsupported compact protocol version {version}"
            )));
        }
        let message_type = MessageType::from_u8(version_and_type >> 5)?;
        let sequence_id = self.read_varint32()? as i32;
        let name = self.read_string()?;
        Ok(MessageHeader {
            name,
            message_type,
            sequence_id,
        })
    }

    fn read_struct_begin(&mut self) -> Result<(), ThriftError> {
        self.depth.enter()?;
        self.field_id_stack.push(self.last_field_id);
        self.last_field_id = 0;
        Ok(())
    }

    fn read_struct_end(&mut self) -> Result<(), ThriftError> {
        self.depth.leave();
        self.last_field_id = self.field_id_stack.pop().unwrap_or(0);
        Ok(())
    }

    fn read_field_begin(&mut self) -> Result<Option<(TType, i16)>, ThriftError> {
        let header = self.input.byte()?;
        let nibble = header & 0x0f;
        let t = TType::from_compact(nibble)?;
        if t == TType::Stop {
            return Ok(None);
        }
        let delta = header >> 4;
        let id = if delta == 0 {
            self.read_i16()?
        } else {
            self.last_field_id.wrapping_add(i16::from(delta))
        };
        self.last_field_id = id;
        self.pending_bool = if t == TType::Bool {
            Some(nibble == 1)
        } else {
            None
        };
        Ok(Some((t, id)))
    }

    fn read_bool(&mut self) -> Result<bool, ThriftError> {
        match self.pending_bool.take() {
            Some(v) => Ok(v),
            // Container elements: one byte, 1 for true.
            None => Ok(self.input.byte()? == 1),
        }
    }

    fn read_i8(&mut self) -> Result<i8, ThriftError> {
        Ok(i8::from_be_bytes(self.input.array()?))
    }

    fn read_i16(&mut self) -> Result<i16, ThriftError> {
        Ok(zigzag_decode(self.input.varint(3)?) as i16)
    }

    fn read_i32(&mut self) -> Result<i32, ThriftError> {
        Ok(zigzag_decode(self.input.varint(5)?) as i32)
    }

    fn read_i64(&mut self) -> Result<i64, ThriftError> {
        Ok(zigzag_decode(self.input.varint(10)?))
    }

    fn read_double(&mut self) -> Result<f64, ThriftError> {
        Ok(f64::from_le_bytes(self.input.array()?))
    }

    fn read_uuid(&mut self) -> Result<[u8; 16], ThriftError> {
        self.input.array()
    }

    fn read_binary(&mut self) -> Result<Vec<u8>, ThriftError> {
        let len = self.read_size("binary")?;
        let len = self.input.check_elements("binary", len, 1)?;
        Ok(self.input.take(len)?.to_vec())
    }

    fn read_list_begin(&mut self) -> Result<ListHeader, ThriftError> {
        self.read_collection("list")
    }

    fn read_list_end(&mut self) -> Result<(), ThriftError> {
        self.depth.leave();
        Ok(())
    }

    fn read_set_begin(&mut self) -> Result<ListHeader, ThriftError> {
        self.read_collection("set")
    }

    fn read_set_end(&mut self) -> Result<(), ThriftError> {
        self.depth.leave();
        Ok(())
    }

    fn read_map_begin(&mut self) -> Result<MapHeader, ThriftError> {
        let len = self.read_size("map")?;
        if len == 0 {
            self.depth.enter()?;
            return Ok(MapHeader {
                key_type: TType::Stop,
                value_type: TType::Stop,
                len: 0,
            });
        }
        let types = self.input.byte()?;
        let key_type = TType::from_compact(types >> 4)?;
        let value_type = TType::from_compact(types & 0x0f)?;
        if !key_type.is_value() {
            return Err(ThriftError::InvalidType(types >> 4));
        }
        if !value_type.is_value() {
            return Err(ThriftError::InvalidType(types & 0x0f));
        }
        let len = self.input.check_elements(
            "map",
            len,
            key_type.min_compact_size() + value_type.min_compact_size(),
        )?;
        self.depth.enter()?;
        Ok(MapHeader {
            key_type,
            value_type,
            len,
        })
    }

    fn read_map_end(&mut self) -> Result<(), ThriftError> {
        self.depth.leave();
        Ok(())
    }

    fn remaining(&self) -> usize {
        self.input.remaining()
    }
}

/// Writing one Thrift protocol into a `Vec<u8>`. Implemented by
/// [`BinaryWriter`] and [`CompactWriter`]. Writers cannot fail; lengths
/// beyond `i32::MAX` (which Thrift cannot express) are clamped.
pub trait ThriftWriter {
    /// Writes an RPC message header (strict form in the binary protocol).
    fn write_message_begin(&mut self, name: &str, message_type: MessageType, sequence_id: i32);
    /// Ends an RPC message.
    fn write_message_end(&mut self) {}
    /// Starts a struct.
    fn write_struct_begin(&mut self);
    /// Ends a struct (after [`ThriftWriter::write_field_stop`]).
    fn write_struct_end(&mut self);
    /// Starts a field. For a `Bool` field, follow with [`ThriftWriter::write_bool`].
    fn write_field_begin(&mut self, field_type: TType, id: i16);
    /// Ends a field.
    fn write_field_end(&mut self) {}
    /// Marks the end of a struct's fields.
    fn write_field_stop(&mut self);
    /// A boolean: a field's value (after `write_field_begin(Bool, id)`) or
    /// a container element.
    fn write_bool(&mut self, v: bool);
    /// A signed byte.
    fn write_i8(&mut self, v: i8);
    /// A 16-bit integer.
    fn write_i16(&mut self, v: i16);
    /// A 32-bit integer.
    fn write_i32(&mut self, v: i32);
    /// A 64-bit integer.
    fn write_i64(&mut self, v: i64);
    /// A 64-bit float.
    fn write_double(&mut self, v: f64);
    /// 16 raw bytes.
    fn write_uuid(&mut self, v: &[u8; 16]);
    /// A length-prefixed byte string.
    fn write_binary(&mut self, v: &[u8]);
    /// A length-prefixed UTF-8 string.
    fn write_string(&mut self, v: &str) {
        self.write_binary(v.as_bytes());
    }
    /// Starts a list of `len` elements.
    fn write_list_begin(&mut self, element_type: TType, len: usize);
    /// Ends a list.
    fn write_list_end(&mut self) {}
    /// Starts a set of `len` elements.
    fn write_set_begin(&mut self, element_type: TType, len: usize);
    /// Ends a set.
    fn write_set_end(&mut self) {}
    /// Starts a map of `len` entries.
    fn write_map_begin(&mut self, key_type: TType, value_type: TType, len: usize);
    /// Ends a map.
    fn write_map_end(&mut self) {}
}

fn clamp_len(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// Writes the Thrift binary protocol.
#[derive(Debug, Clone, Default)]
pub struct BinaryWriter {
    buf: Vec<u8>,
}

impl BinaryWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

impl ThriftWriter for BinaryWriter {
    fn write_message_begin(&mut self, name: &str, message_type: MessageType, sequence_id: i32) {
        let version = 0x8001_0000u32 | message_type as u32;
        self.buf.extend_from_slice(&version.to_be_bytes());
        self.write_string(name);
        self.write_i32(sequence_id);
    }

    fn write_struct_begin(&mut self) {}

    fn write_struct_end(&mut self) {}

    fn write_field_begin(&mut self, field_type: TType, id: i16) {
        self.buf.push(field_type.to_binary());
        self.write_i16(id);
    }

    fn write_field_stop(&mut self) {
        self.buf.push(0);
    }

    fn write_bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    fn write_i8(&mut self, v: i8) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn write_i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn write_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn write_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn write_double(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn write_uuid(&mut self, v: &[u8; 16]) {
        self.buf.extend_from_slice(v);
    }

    fn write_binary(&mut self, v: &[u8]) {
        let len = clamp_len(v.len());
        self.write_i32(len);
        self.buf.extend_from_slice(&v[..len as usize]);
    }

    fn write_list_begin(&mut self, element_type: TType, len: usize) {
        self.buf.push(element_type.to_binary());
        self.write_i32(clamp_len(len));
    }

    fn write_set_begin(&mut self, element_type: TType, len: usize) {
        self.write_list_begin(element_type, len);
    }

    fn write_map_begin(&mut self, key_type: TType, value_type: TType, len: usize) {
        self.buf.push(key_type.to_binary());
        self.buf.push(value_type.to_binary());
        self.write_i32(clamp_len(len));
    }
}

/// Writes the Thrift compact protocol.
#[derive(Debug, Clone, Default)]
pub struct CompactWriter {
    buf: Vec<u8>,
    last_field_id: i16,
    field_id_stack: Vec<i16>,
    /// A boolean field whose header waits for its value.
    pending_bool_field: Option<i16>,
}

impl CompactWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn write_varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(b);
                return;
            }
            self.buf.push(b | 0x80);
        }
    }

    fn write_field_header(&mut self, type_nibble: u8, id: i16) {
        let delta = i32::from(id) - i32::from(self.last_field_id);
        if (1..=15).contains(&delta) {
            self.buf.push(((delta as u8) << 4) | type_nibble);
        } else {
            self.buf.push(type_nibble);
            self.write_varint(zigzag_encode(i64::from(id)) & 0xffff_ffff);
        }
        self.last_field_id = id;
    }
}

impl ThriftWriter for CompactWriter {
    fn write_message_begin(&mut self, name: &str, message_type: MessageType, sequence_id: i32) {
        self.buf.push(COMPACT_PROTOCOL_ID);
        self.buf.push(COMPACT_VERSION | ((message_type as u8) << 5));
        self.write_varint(u64::from(sequence_id as u32));
        self.write_string(name);
    }

    fn write_struct_begin(&mut self) {
        self.field_id_stack.push(self.last_field_id);
        self.last_field_id = 0;
    }

    fn write_struct_end(&mut self) {
        self.last_field_id = self.field_id_stack.pop().unwrap_or(0);
    }

    fn write_field_begin(&mut self, field_type: TType, id: i16) {
        if field_type == TType::Bool {
            self.pending_bool_field = Some(id);
        } else {
            self.write_field_header(field_type.to_compact(), id);
        }
    }

    fn write_field_stop(&mut self) {
        self.buf.push(0);
    }

    fn write_bool(&mut self, v: bool) {
        let nibble = if v { 1 } else { 2 };
        match self.pending_bool_field.take() {
            Some(id) => self.write_field_header(nibble, id),
            None => self.buf.push(nibble),
        }
    }

    fn write_i8(&mut self, v: i8) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn write_i16(&mut self, v: i16) {
        self.write_varint(zigzag_encode(i64::from(v)));
    }

    fn write_i32(&mut self, v: i32) {
        self.write_varint(zigzag_encode(i64::from(v)));
    }

    fn write_i64(&mut self, v: i64) {
        self.write_varint(zigzag_encode(v));
    }

    fn write_double(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn write_uuid(&mut self, v: &[u8; 16]) {
        self.buf.extend_from_slice(v);
    }

    fn write_binary(&mut self, v: &[u8]) {
        let len = clamp_len(v.len());
        self.write_varint(len as u64);
        self.buf.extend_from_slice(&v[..len as usize]);
    }

    fn write_list_begin(&mut self, element_type: TType, len: usize) {
        let len = clamp_len(len);
        let nibble = element_type.to_compact();
        if len < 15 {
            self.buf.push(((len as u8) << 4) | nibble);
        } else {
            self.buf.push(0xf0 | nibble);
            self.write_varint(len as u64);
        }
    }

    fn write_set_begin(&mut self, element_type: TType, len: usize) {
        self.write_list_begin(element_type, len);
    }

    fn write_map_begin(&mut self, key_type: TType, value_type: TType, len: usize) {
        let len = clamp_len(len);
        if len == 0 {
            self.buf.push(0);
        } else {
            self.write_varint(len as u64);
            self.buf
                .push((key_type.to_compact() << 4) | value_type.to_compact());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Writes a struct exercising every type: fields 1..=13 (and a jump to 300).
    fn write_everything<W: ThriftWriter>(w: &mut W) {
        w.write_struct_begin();
        w.write_field_begin(TType::Bool, 1);
        w.write_bool(true);
        w.write_field_begin(TType::Bool, 2);
        w.write_bool(false);
        w.write_field_begin(TType::I8, 3);
        w.write_i8(-7);
        w.write_field_begin(TType::I16, 4);
        w.write_i16(-300);
        w.write_field_begin(TType::I32, 5);
        w.write_i32(i32::MIN);
        w.write_field_begin(TType::I64, 6);
        w.write_i64(i64::MAX);
        w.write_field_begin(TType::Double, 7);
        w.write_double(-2.5);
        w.write_field_begin(TType::String, 8);
        w.write_string("héllo");
        w.write_field_begin(TType::List, 9);
        w.write_list_begin(TType::Bool, 20);
        for i in 0..20 {
            w.write_bool(i % 3 == 0);
        }
        w.write_list_end();
        w.write_field_begin(TType::Set, 10);
        w.write_set_begin(TType::I64, 2);
        w.write_i64(1);
        w.write_i64(-1);
        w.write_set_end();
        w.write_field_begin(TType::Map, 11);
        w.write_map_begin(TType::String, TType::Struct, 1);
        w.write_string("k");
        w.write_struct_begin();
        w.write_field_begin(TType::I32, 1);
        w.write_i32(42);
        w.write_field_stop();
        w.write_struct_end();
        w.write_map_end();
        w.write_field_begin(TType::Map, 12);
        w.write_map_begin(TType::I32, TType::I32, 0);
        w.write_map_end();
        w.write_field_begin(TType::Uuid, 13);
        w.write_uuid(&[9; 16]);
        w.write_field_begin(TType::I16, 300);
        w.write_i16(5);
        w.write_field_begin(TType::Bool, 299);
        w.write_bool(true);
        w.write_field_stop();
        w.write_struct_end();
    }

    fn read_everything<R: ThriftReader>(r: &mut R) {
        r.read_struct_begin().unwrap();
        let mut seen = Vec::new();
        while let Some((t, id)) = r.read_field_begin().unwrap() {
            seen.push(id);
            match (id, t) {
                (1, TType::Bool) => assert!(r.read_bool().unwrap()),
                (2, TType::Bool) => assert!(!r.read_bool().unwrap()),
                (3, TType::I8) => assert_eq!(r.read_i8().unwrap(), -7),
                (4, TType::I16) => assert_eq!(r.read_i16().unwrap(), -300),
                (5, TType::I32) => assert_eq!(r.read_i32().unwrap(), i32::MIN),
                (6, TType::I64) => assert_eq!(r.read_i64().unwrap(), i64::MAX),
                (7, TType::Double) => assert_eq!(r.read_double().unwrap(), -2.5),
                (8, TType::String) => assert_eq!(r.read_string().unwrap(), "héllo"),
                (9, TType::List) => {
                    let h = r.read_list_begin().unwrap();
                    assert_eq!((h.element_type, h.len), (TType::Bool, 20));
                    for i in 0..20 {
                        assert_eq!(r.read_bool().unwrap(), i % 3 == 0);
                    }
                    r.read_list_end().unwrap();
                }
                (10, TType::Set) => {
                    let h = r.read_set_begin().unwrap();
                    assert_eq!((h.element_type, h.len), (TType::I64, 2));
                    assert_eq!(r.read_i64().unwrap(), 1);
                    assert_eq!(r.read_i64().unwrap(), -1);
                    r.read_set_end().unwrap();
                }
                (11, TType::Map) => {
                    let h = r.read_map_begin().unwrap();
                    assert_eq!(
                        (h.key_type, h.value_type, h.len),
                        (TType::String, TType::Struct, 1)
                    );
                    assert_eq!(r.read_string().unwrap(), "k");
                    r.read_struct_begin().unwrap();
                    assert_eq!(r.read_field_begin().unwrap(), Some((TType::I32, 1)));
                    assert_eq!(r.read_i32().unwrap(), 42);
                    assert_eq!(r.read_field_begin().unwrap(), None);
                    r.read_struct_end().unwrap();
                    r.read_map_end().unwrap();
                }
                (12, TType::Map) => {
                    let h = r.read_map_begin().unwrap();
                    assert_eq!(h.len, 0);
                    r.read_map_end().unwrap();
                }
                (13, TType::Uuid) => assert_eq!(r.read_uuid().unwrap(), [9; 16]),
                (300, TType::I16) => assert_eq!(r.read_i16().unwrap(), 5),
                (299, TType::Bool) => assert!(r.read_bool().unwrap()),
                other => panic!("unexpected field {other:?}"),
            }
        }
        r.read_struct_end().unwrap();
        assert_eq!(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 300, 299]);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn binary_round_trip_of_every_type() {
        let mut w = BinaryWriter::new();
        write_everything(&mut w);
        let bytes = w.into_bytes();
        read_everything(&mut BinaryReader::new(&bytes));
        // skip() consumes exactly the same bytes.
        let mut r = BinaryReader::new(&bytes);
        r.skip(TType::Struct).unwrap();
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn compact_round_trip_of_every_type() {
        let mut w = CompactWriter::new();
        write_everything(&mut w);
        let bytes = w.into_bytes();
        read_everything(&mut CompactReader::new(&bytes));
        let mut r = CompactReader::new(&bytes);
        r.skip(TType::Struct).unwrap();
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn binary_known_bytes() {
        // struct { 1: i32 = 1, 2: string = "ab", 3: bool = true, 4: double 1.0 }
        let bytes = [
            0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, // i32 field 1
            0x0b, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, b'a', b'b', // string field 2
            0x02, 0x00, 0x03, 0x01, // bool field 3
            0x04, 0x00, 0x04, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, // double field 4
            0x00,
        ];
        let mut w = BinaryWriter::new();
        w.write_struct_begin();
        w.write_field_begin(TType::I32, 1);
        w.write_i32(1);
        w.write_field_begin(TType::String, 2);
        w.write_string("ab");
        w.write_field_begin(TType::Bool, 3);
        w.write_bool(true);
        w.write_field_begin(TType::Double, 4);
        w.write_double(1.0);
        w.write_field_stop();
        w.write_struct_end();
        assert_eq!(w.into_bytes(), bytes);

        let mut r = BinaryReader::new(&bytes);
        r.read_struct_begin().unwrap();
        assert_eq!(r.read_field_begin().unwrap(), Some((TType::I32, 1)));
        assert_eq!(r.read_i32().unwrap(), 1);
        assert_eq!(r.read_field_begin().unwrap(), Some((TType::String, 2)));
        assert_eq!(r.read_string().unwrap(), "ab");
        assert_eq!(r.read_field_begin().unwrap(), Some((TType::Bool, 3)));
        assert!(r.read_bool().unwrap());
        assert_eq!(r.read_field_begin().unwrap(), Some((TType::Double, 4)));
        assert_eq!(r.read_double().unwrap(), 1.0);
        assert_eq!(r.read_field_begin().unwrap(), None);
        r.read_struct_end().unwrap();
    }

    #[test]
    fn binary_message_headers_strict_and_old_style() {
        let strict = [
            0x80, 0x01, 0x00, 0x04, // version 1, ONEWAY
            0x00, 0x00, 0x00, 0x03, b'a', b'b', b'c', // name
            0x00, 0x00, 0x00, 0x07, // seqid
        ];
        let mut w = BinaryWriter::new();
        w.write_message_begin("abc", MessageType::Oneway, 7);
        assert_eq!(w.into_bytes(), strict);
        let h = BinaryReader::new(&strict).read_message_begin().unwrap();
        assert_eq!(
            h,
            MessageHeader {
                name: "abc".into(),
                message_type: MessageType::Oneway,
                sequence_id: 7
            }
        );

        let old = [
            0x00, 0x00, 0x00, 0x02, b'h', b'i', 0x01, 0x00, 0x00, 0x00, 0x09,
        ];
        let h = BinaryReader::new(&old).read_message_begin().unwrap();
        assert_eq!(h.name, "hi");
        assert_eq!(h.message_type, MessageType::Call);
        assert_eq!(h.sequence_id, 9);

        let bad_version = [0x80, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            BinaryReader::new(&bad_version).read_message_begin(),
            Err(ThriftError::BadMessageHeader(_))
        ));
        let bad_type = [0x80, 0x01, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            BinaryReader::new(&bad_type).read_message_begin(),
            Err(ThriftError::BadMessageHeader(_))
        ));
    }

    #[test]
    fn compact_known_bytes() {
        // Message emitBatch ONEWAY seq 1, then a struct with
        // field 1 i64 = -1 (delta 1), field 5 bool true (delta 4),
        // field 20 i32 = 3 (delta 15), field 40 string "x" (long form), stop.
        let bytes = [
            0x82, 0x81, 0x01, 0x01,
            b'e', // protocol id, version 1 | ONEWAY<<5, seq 1, name "e"
            0x16, 0x01, // field 1 type i64 (6), zigzag(-1) = 1
            0x41, // field 5 (delta 4), BOOLEAN_TRUE
            0xf5, 0x06, // field 20 (delta 15), i32 (5), zigzag(3) = 6
            0x08, 0x50, 0x01, b'x', // type binary, id zigzag(40) = 80, len 1, "x"
            0x00,
        ];
        let mut w = CompactWriter::new();
        w.write_message_begin("e", MessageType::Oneway, 1);
        w.write_struct_begin();
        w.write_field_begin(TType::I64, 1);
        w.write_i64(-1);
        w.write_field_begin(TType::Bool, 5);
        w.write_bool(true);
        w.write_field_begin(TType::I32, 20);
        w.write_i32(3);
        w.write_field_begin(TType::String, 40);
        w.write_string("x");
        w.write_field_stop();
        w.write_struct_end();
        assert_eq!(w.into_bytes(), bytes);

        let mut r = CompactReader::new(&bytes);
        let h = r.read_message_begin().unwrap();
        assert_eq!(
            (h.name.as_str(), h.message_type, h.sequence_id),
            ("e", MessageType::Oneway, 1)
        );
        r.read_struct_begin().unwrap();
        assert_eq!(r.read_field_begin().unwrap(), Some((TType::I64, 1)));
        assert_eq!(r.read_i64().unwrap(), -1);
        assert_eq!(r.read_field_begin().unwrap(), Some((TType::Bool, 5)));
        assert!(r.read_bool().unwrap());
        assert_eq!(r.read_field_begin().unwrap(), Some((TType::I32, 20)));
        assert_eq!(r.read_i32().unwrap(), 3);
        assert_eq!(r.read_field_begin().unwrap(), Some((TType::String, 40)));
        assert_eq!(r.read_string().unwrap(), "x");
        assert_eq!(r.read_field_begin().unwrap(), None);
        r.read_struct_end().unwrap();
    }

    #[test]
    fn compact_list_headers_short_and_long() {
        // 3 i32 elements: size in the high nibble.
        let mut w = CompactWriter::new();
        w.write_list_begin(TType::I32, 3);
        for v in [0, -1, 1] {
            w.write_i32(v);
        }
        assert_eq!(w.into_bytes(), [0x35, 0x00, 0x01, 0x02]);
        // 15 i8 elements: 0xf nibble, then a varint size.
        let mut w = CompactWriter::new();
        w.write_list_begin(TType::I8, 15);
        let mut bytes = w.into_bytes();
        assert_eq!(bytes, [0xf3, 0x0f]);
        bytes.extend_from_slice(&[0; 15]);
        let mut r = CompactReader::new(&bytes);
        let h = r.read_list_begin().unwrap();
        assert_eq!((h.element_type, h.len), (TType::I8, 15));
        // Map: varint size, then key and value types in one byte.
        let mut w = CompactWriter::new();
        w.write_map_begin(TType::String, TType::I64, 2);
        assert_eq!(w.into_bytes(), [0x02, 0x86]);
    }

    #[test]
    fn compact_varints_and_zigzag() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(zigzag_decode(zigzag_encode(v)), v);
            let mut w = CompactWriter::new();
            w.write_i64(v);
            let bytes = w.into_bytes();
            assert_eq!(CompactReader::new(&bytes).read_i64().unwrap(), v);
        }
        // 300 zigzags to 600 = 0xd8 0x04.
        let mut w = CompactWriter::new();
        w.write_i32(300);
        assert_eq!(w.into_bytes(), [0xd8, 0x04]);
        // An i32 varint of more than 5 bytes is refused.
        let long = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(
            CompactReader::new(&long).read_i32(),
            Err(ThriftError::VarintTooLong(0))
        );
    }

    #[test]
    fn huge_lengths_are_refused_before_allocating() {
        // A binary list claiming 2^31-1 structs in 10 bytes.
        let bytes = [0x0c, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0];
        assert!(matches!(
            BinaryReader::new(&bytes).read_list_begin(),
            Err(ThriftError::TooLong { what: "list", .. })
        ));
        // 5 i64 elements need 40 bytes.
        let bytes = [0x0a, 0x00, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0];
        assert!(matches!(
            BinaryReader::new(&bytes).read_list_begin(),
            Err(ThriftError::TooLong { .. })
        ));
        // Negative lengths.
        let bytes = [0xff, 0xff, 0xff, 0xfe];
        assert!(matches!(
            BinaryReader::new(&bytes).read_binary(),
            Err(ThriftError::NegativeLength { .. })
        ));
        let bytes = [0x0b, 0x0b, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            BinaryReader::new(&bytes).read_map_begin(),
            Err(ThriftError::NegativeLength { .. })
        ));
        // A binary string longer than the input.
        let bytes = [0x00, 0x00, 0x01, 0x00, b'a'];
        assert!(matches!(
            BinaryReader::new(&bytes).read_binary(),
            Err(ThriftError::Truncated {
                needed: 256,
                remaining: 1,
                ..
            })
        ));
        // Compact: list of 2^31-1 structs, map of 2^28 entries, long binary.
        let bytes = [0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
        assert!(matches!(
            CompactReader::new(&bytes).read_list_begin(),
            Err(ThriftError::TooLong { .. })
        ));
        let bytes = [0x80, 0x80, 0x80, 0x80, 0x01, 0x88, 0x00];
        assert!(matches!(
            CompactReader::new(&bytes).read_map_begin(),
            Err(ThriftError::TooLong { .. })
        ));
        let bytes = [0x80, 0x80, 0x04, b'a'];
        assert!(matches!(
            CompactReader::new(&bytes).read_binary(),
            Err(ThriftError::TooLong { .. })
        ));
        // Compact negative size (varint32 with the sign bit).
        let bytes = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            CompactReader::new(&bytes).read_binary(),
            Err(ThriftError::NegativeLength { .. })
        ));
    }

    #[test]
    fn nesting_is_limited() {
        // Binary: lists of lists, 100 deep.
        let mut bytes = Vec::new();
        for _ in 0..100 {
            bytes.extend_from_slice(&[0x0f, 0, 0, 0, 1]);
        }
        let mut r = BinaryReader::new(&bytes);
        assert_eq!(
            r.skip(TType::List),
            Err(ThriftError::TooDeep(DEFAULT_MAX_DEPTH))
        );
        // Compact: structs whose field 1 is a struct, 100 deep.
        let bytes = vec![0x1c; 100];
        let mut r = CompactReader::new(&bytes);
        assert_eq!(
            r.skip(TType::Struct),
            Err(ThriftError::TooDeep(DEFAULT_MAX_DEPTH))
        );
        // Within the limit is fine.
        let mut bytes = vec![0x1c; 10];
        bytes.extend_from_slice(&[0; 11]);
        let mut r = CompactReader::new(&bytes);
        r.skip(TType::Struct).unwrap();
        assert_eq!(r.remaining(), 0);
        // A custom limit.
        let mut r = CompactReader::with_max_depth(&bytes, 5);
        assert_eq!(r.skip(TType::Struct), Err(ThriftError::TooDeep(5)));
    }

    #[test]
    fn invalid_types_are_errors() {
        // Binary field type 5 does not exist.
        assert_eq!(
            BinaryReader::new(&[0x05, 0, 1]).read_field_begin(),
            Err(ThriftError::InvalidType(5))
        );
        // Compact field type 14 does not exist.
        assert_eq!(
            CompactReader::new(&[0x1e]).read_field_begin(),
            Err(ThriftError::InvalidType(14))
        );
        // A list of STOP elements.
        assert_eq!(
            BinaryReader::new(&[0x00, 0, 0, 0, 1]).read_list_begin(),
            Err(ThriftError::InvalidType(0))
        );
        // Skipping VOID.
        assert!(BinaryReader::new(&[]).skip(TType::Void).is_err());
        // Compact message with a wrong protocol id or version.
        assert!(matches!(
            CompactReader::new(&[0x80, 0x21, 0, 0]).read_message_begin(),
            Err(ThriftError::BadMessageHeader(_))
        ));
        assert!(matches!(
            CompactReader::new(&[0x82, 0x22, 0, 0]).read_message_begin(),
            Err(ThriftError::BadMessageHeader(_))
        ));
    }

    #[test]
    fn every_prefix_of_a_valid_struct_is_an_error_not_a_panic() {
        for compact in [false, true] {
            let bytes = if compact {
                let mut w = CompactWriter::new();
                write_everything(&mut w);
                w.into_bytes()
            } else {
                let mut w = BinaryWriter::new();
                write_everything(&mut w);
                w.into_bytes()
            };
            for cut in 0..bytes.len() {
                let prefix = &bytes[..cut];
                let result = if compact {
                    CompactReader::new(prefix).skip(TType::Struct)
                } else {
                    BinaryReader::new(prefix).skip(TType::Struct)
                };
                assert!(
                    result.is_err(),
                    "prefix of {cut} bytes (compact: {compact})"
                );
            }
        }
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let bytes = [0x00, 0x00, 0x00, 0x02, 0xff, b'a'];
        assert_eq!(
            BinaryReader::new(&bytes).read_string().unwrap(),
            "\u{fffd}a"
        );
    }

    #[test]
    fn thrift_errors_become_decode_errors() {
        let e: DecodeError = ThriftError::TooDeep(3).into();
        assert_eq!(
            e.to_string(),
            "invalid thrift: nesting deeper than 3 levels"
        );
    }
}
