//! The bookie wire protocol and the entry format.
//!
//! This crate is pure code: no I/O, no async. It defines the frames that clients and
//! bookies exchange over TCP, the request and response types, the status codes, and
//! the entry format (header, payload, CRC32C digest) that is stored on disk and sent
//! over the wire unchanged. See `docs/protocol.md` for the specification.
//!
//! - [`entry`]: [`Entry`] and [`EntryHeader`], with `encode`, `decode` and `verify`.
//! - [`frame`]: the length-prefixed envelope. [`RawFrame::split`] cuts whole frames
//!   off a read buffer; [`RawFrame::decode`] parses one into a [`Frame`] of
//!   [`Request`] or [`Response`]; [`Frame::encode`] writes one.
//! - [`request`] and [`response`]: the messages, one struct per operation.
//! - [`status`]: [`Status`], the outcome codes.
//!
//! A client's loop, in short:
//!
//! ```
//! use bytes::BytesMut;
//! use folio_proto::*;
//!
//! let entry = Entry::new(EntryHeader { ledger_id: 1, entry_id: 0, lac: NO_ENTRY, length: 3 }, b"abc");
//! let add = Request::AddEntry(AddEntry { master_key: MasterKey::empty(), recovery: false, entry });
//! let mut wire = BytesMut::new();
//! Frame::new(42, add.clone()).encode(&mut wire);
//!
//! // ... the bytes cross the network; the receiver:
//! let raw = RawFrame::split(&mut wire, DEFAULT_MAX_FRAME_BYTES).unwrap().unwrap();
//! let frame: Frame<Request> = raw.decode().unwrap();
//! assert_eq!(frame.request_id, 42);
//! assert_eq!(frame.body, add);
//! ```

pub mod entry;
pub mod frame;
pub mod request;
pub mod response;
pub mod status;
mod wire;

pub use entry::{
    ENTRY_DIGEST_BYTES, ENTRY_HEADER_BYTES, ENTRY_OVERHEAD_BYTES, Entry, EntryError, EntryHeader,
    NO_ENTRY,
};
pub use frame::{
    DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FRAME_LENGTH_BYTES, Frame, FrameError,
    PROTOCOL_VERSION, RawFrame,
};
pub use request::{
    AddEntry, DeleteLedger, GetLedgerEntries, ListLedgers, LongPoll, MAX_LIST_LEDGERS,
    MAX_MASTER_KEY_BYTES, MasterKey, Op, ReadEntry, ReadLac, ReadTarget, Request, WriteLac,
};
pub use response::{
    AddEntryResponse, BookieInfoResponse, BookieState, DeleteLedgerResponse, LedgerEntriesResponse,
    ListLedgersResponse, MAX_SCRUB_REPORT_ENTRIES, RESPONSE_KIND_BIT, ReadEntryResponse,
    ReadLacResponse, Response, ScrubReportResponse, ScrubResponse, WriteLacResponse,
};
pub use status::Status;

use bytes::{Bytes, BytesMut};

/// A frame body that is not a valid message. The frame itself was well delimited, so
/// a bookie answers it with `BadRequest` under the frame's request id and carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body ended before a field did.
    #[error("body truncated")]
    Truncated,
    /// Bytes were left after the last field.
    #[error("{count} unexpected bytes after the body")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The kind byte names no known operation (or a response where a request was
    /// expected, or the reverse).
    #[error("unknown message kind {kind:#04x}")]
    UnknownKind {
        /// The kind byte.
        kind: u8,
    },
    /// A flags byte has bits this version does not define.
    #[error("unknown flag bits in {flags:#04x}")]
    UnknownFlags {
        /// The flags byte.
        flags: u8,
    },
    /// A status code this version does not define.
    #[error("unknown status code {code}")]
    UnknownStatus {
        /// The code.
        code: u16,
    },
    /// A bookie state this version does not define.
    #[error("unknown bookie state {state}")]
    UnknownBookieState {
        /// The state byte.
        state: u8,
    },
    /// An entry id below −1.
    #[error("invalid entry id {entry_id}")]
    BadEntryId {
        /// The value received.
        entry_id: i64,
    },
    /// A LAC below −1.
    #[error("invalid LAC {lac}")]
    BadLac {
        /// The value received.
        lac: i64,
    },
    /// A master key above [`MAX_MASTER_KEY_BYTES`].
    #[error("master key of {len} bytes is too long")]
    MasterKeyTooLong {
        /// Its length.
        len: usize,
    },
    /// A list of ranges that is not sorted, disjoint and with `first <= last`.
    #[error("ranges are not sorted, disjoint inclusive pairs")]
    BadRanges,
    /// The entry carried by the message is malformed.
    #[error("bad entry: {0}")]
    Entry(#[from] EntryError),
}

/// Any failure to decode one whole frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The envelope is unusable.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The body is not a valid message.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// A message that travels in a [`Frame`]: [`Request`] or [`Response`].
pub trait Message: Sized {
    /// The frame's kind byte for this message.
    fn kind(&self) -> u8;
    /// Appends the body (everything after the frame header) to `dst`.
    fn encode_body(&self, dst: &mut BytesMut);
    /// Parses a body of the given kind.
    fn decode_body(kind: u8, body: Bytes) -> Result<Self, DecodeError>;
}
