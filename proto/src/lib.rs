//! The bookie wire protocol and the entry format.
//!
//! This crate is pure code: no I/O, no async. It defines the frames that clients and
//! bookies exchange over TCP, the request and response types, the status codes, and
//! the entry format (header, payload, CRC32C digest) that is stored on disk and sent
//! over the wire unchanged. See `docs/protocol.md` for the specification.
