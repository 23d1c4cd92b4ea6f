//! The entry format: a fixed header, the payload, and a CRC32C digest over both.
//!
//! An entry is encoded once by the writer and then travels unchanged: in the
//! AddEntry request, in the bookie's journal and entry log, and in the ReadEntry
//! response. Every hop that can verify it does (`Entry::verify`).
//!
//! ```text
//! offset  size  field
//! 0       8     ledger id            u64 big-endian
//! 8       8     entry id             u64 big-endian
//! 16      8     LAC                  i64 big-endian (-1: nothing confirmed yet)
//! 24      8     length               u64 big-endian (ledger bytes up to and including this payload)
//! 32      n     payload
//! 32+n    4     CRC32C(header ‖ payload)   u32 big-endian
//! ```

use bytes::{BufMut, Bytes, BytesMut};

/// Size of the encoded [`EntryHeader`] in bytes.
pub const ENTRY_HEADER_BYTES: usize = 32;
/// Size of the trailing CRC32C digest in bytes.
pub const ENTRY_DIGEST_BYTES: usize = 4;
/// Bytes an entry adds around its payload (header and digest).
pub const ENTRY_OVERHEAD_BYTES: usize = ENTRY_HEADER_BYTES + ENTRY_DIGEST_BYTES;
/// The LAC value meaning "no entry of this ledger is confirmed yet".
pub const NO_ENTRY: i64 = -1;

/// Why bytes are not a valid entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Fewer bytes than a header and a digest.
    #[error("entry too short: {len} bytes, at least {ENTRY_OVERHEAD_BYTES} needed")]
    TooShort {
        /// Bytes available.
        len: usize,
    },
    /// The stored digest does not match the header and payload.
    #[error("entry digest mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    DigestMismatch {
        /// Digest carried by the entry.
        stored: u32,
        /// Digest computed over its header and payload.
        computed: u32,
    },
    /// The LAC field is below -1.
    #[error("entry LAC {lac} is below -1")]
    BadLac {
        /// The LAC field as decoded.
        lac: i64,
    },
}

/// The fixed header of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryHeader {
    /// Ledger the entry belongs to.
    pub ledger_id: u64,
    /// Position of the entry in its ledger, from 0.
    pub entry_id: u64,
    /// The writer's last add confirmed when it wrote this entry ([`NO_ENTRY`] for none).
    pub lac: i64,
    /// Total ledger length in bytes, up to and including this entry's payload.
    pub length: u64,
}

impl EntryHeader {
    fn put(&self, dst: &mut impl BufMut) {
        dst.put_u64(self.ledger_id);
        dst.put_u64(self.entry_id);
        dst.put_i64(self.lac);
        dst.put_u64(self.length);
    }

    /// Encodes the header into its 32 bytes.
    pub fn to_bytes(&self) -> [u8; ENTRY_HEADER_BYTES] {
        let mut out = [0u8; ENTRY_HEADER_BYTES];
        let mut cursor = &mut out[..];
        self.put(&mut cursor);
        out
    }

    /// Decodes a header from the first 32 bytes of `src`.
    pub fn from_bytes(src: &[u8]) -> Result<EntryHeader, EntryError> {
        if src.len() < ENTRY_HEADER_BYTES {
            return Err(EntryError::TooShort { len: src.len() });
        }
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&src[i * 8..i * 8 + 8]);
            b
        };
        let header = EntryHeader {
            ledger_id: u64::from_be_bytes(word(0)),
            entry_id: u64::from_be_bytes(word(1)),
            lac: i64::from_be_bytes(word(2)),
            length: u64::from_be_bytes(word(3)),
        };
        if header.lac < NO_ENTRY {
            return Err(EntryError::BadLac { lac: header.lac });
        }
        Ok(header)
    }
}

/// An encoded entry: header, payload and digest, held as one contiguous buffer.
///
/// The buffer is exactly what travels on the wire and what the bookie stores, so
/// cloning, sending and storing an `Entry` never re-encodes it. Construction by
/// [`Entry::decode`] checks the shape but not the digest; call [`Entry::verify`]
/// (or use [`Entry::decode_verified`]) before trusting the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    header: EntryHeader,
    bytes: Bytes,
}

impl Entry {
    /// Encodes `header` and `payload` into a new entry with its digest.
    pub fn new(header: EntryHeader, payload: &[u8]) -> Entry {
        let mut buf = BytesMut::with_capacity(ENTRY_OVERHEAD_BYTES + payload.len());
        Entry::encode(&header, payload, &mut buf);
        Entry {
            header,
            bytes: buf.freeze(),
        }
    }

    /// Appends the encoding of `header` and `payload`, digest included, to `dst`.
    pub fn encode(header: &EntryHeader, payload: &[u8], dst: &mut BytesMut) {
        let start = dst.len();
        dst.reserve(ENTRY_OVERHEAD_BYTES + payload.len());
        header.put(dst);
        dst.put_slice(payload);
        let digest = crc32c::crc32c(&dst[start..]);
        dst.put_u32(digest);
    }

    /// Parses an encoded entry without checking its digest.
    pub fn decode(bytes: Bytes) -> Result<Entry, EntryError> {
        if bytes.len() < ENTRY_OVERHEAD_BYTES {
            return Err(EntryError::TooShort { len: bytes.len() });
        }
        let header = EntryHeader::from_bytes(&bytes)?;
        Ok(Entry { header, bytes })
    }

    /// Parses an encoded entry and checks its digest.
    pub fn decode_verified(bytes: Bytes) -> Result<Entry, EntryError> {
        let entry = Entry::decode(bytes)?;
        entry.verify()?;
        Ok(entry)
    }

    /// Checks the digest against the header and payload.
    pub fn verify(&self) -> Result<(), EntryError> {
        let body_len = self.bytes.len() - ENTRY_DIGEST_BYTES;
        let computed = crc32c::crc32c(&self.bytes[..body_len]);
        let stored = self.digest();
        if computed == stored {
            Ok(())
        } else {
            Err(EntryError::DigestMismatch { stored, computed })
        }
    }

    /// The parsed header.
    pub fn header(&self) -> &EntryHeader {
        &self.header
    }

    /// The ledger id from the header.
    pub fn ledger_id(&self) -> u64 {
        self.header.ledger_id
    }

    /// The entry id from the header.
    pub fn entry_id(&self) -> u64 {
        self.header.entry_id
    }

    /// The payload, without header or digest (a cheap slice of the buffer).
    pub fn payload(&self) -> Bytes {
        self.bytes
            .slice(ENTRY_HEADER_BYTES..self.bytes.len() - ENTRY_DIGEST_BYTES)
    }

    /// The digest stored at the end of the entry.
    pub fn digest(&self) -> u32 {
        let n = self.bytes.len();
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.bytes[n - ENTRY_DIGEST_BYTES..]);
        u32::from_be_bytes(b)
    }

    /// The whole encoded entry: header, payload, digest.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Consumes the entry, returning its encoded bytes.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Length of the encoded entry in bytes.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> EntryHeader {
        EntryHeader {
            ledger_id: 7,
            entry_id: 3,
            lac: 2,
            length: 300,
        }
    }

    #[test]
    fn round_trip_and_verify() {
        let e = Entry::new(header(), b"hello");
        let d = Entry::decode_verified(e.as_bytes().clone()).expect("valid entry");
        assert_eq!(d.header(), &header());
        assert_eq!(&d.payload()[..], b"hello");
        assert_eq!(d.encoded_len(), ENTRY_OVERHEAD_BYTES + 5);
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        let e = Entry::new(header(), b"payload bytes");
        for i in 0..e.encoded_len() * 8 {
            let mut raw = e.as_bytes().to_vec();
            raw[i / 8] ^= 1 << (i % 8);
            let result = Entry::decode(Bytes::from(raw)).and_then(|d| d.verify());
            assert!(result.is_err(), "flip of bit {i} went unnoticed");
        }
    }

    #[test]
    fn short_input_is_an_error() {
        for n in 0..ENTRY_OVERHEAD_BYTES {
            assert_eq!(
                Entry::decode(Bytes::from(vec![0u8; n])),
                Err(EntryError::TooShort { len: n })
            );
        }
    }
}
