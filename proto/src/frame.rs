//! Frames: the length-prefixed envelope around every request and response.
//!
//! ```text
//! offset  size  field
//! 0       4     length of the rest of the frame    u32 big-endian
//! 4       1     protocol version                   currently 1
//! 5       1     kind                               request op, or 0x80 | op for a response
//! 6       8     request id                         u64 big-endian, chosen by the client
//! 14      n     body                               depends on kind
//! ```
//!
//! Reading is two steps, so that a server can answer a malformed body with
//! BadRequest under the right request id: [`RawFrame::split`] cuts a whole frame off
//! a buffer (its errors, [`FrameError`], mean the stream is unusable and the
//! connection must close), then [`RawFrame::decode`] parses the body (its errors,
//! [`DecodeError`], concern that one request).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{DecodeError, Message};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// Size of the length prefix.
pub const FRAME_LENGTH_BYTES: usize = 4;
/// Size of the fixed frame header: length, version, kind, request id.
pub const FRAME_HEADER_BYTES: usize = FRAME_LENGTH_BYTES + 1 + 1 + 8;
/// The default cap on a whole frame (length prefix included): room for a 16 MiB
/// entry plus headers.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024 + 4096;

/// A frame that cannot be cut from the stream: the connection must close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces a frame above the cap.
    #[error("frame of {len} bytes exceeds the cap of {max} bytes")]
    TooLarge {
        /// Announced frame size, prefix included.
        len: usize,
        /// The cap in force.
        max: usize,
    },
    /// The length prefix is too small to hold the frame header.
    #[error("frame of {len} bytes is shorter than the {FRAME_HEADER_BYTES}-byte header")]
    TooShort {
        /// Announced frame size, prefix included.
        len: usize,
    },
    /// The peer speaks another protocol version.
    #[error("unsupported protocol version {version}")]
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
    },
}

/// A whole frame whose body is not parsed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The request id the frame carries.
    pub request_id: u64,
    /// The kind byte: a request op, or `0x80 | op` for a response.
    pub kind: u8,
    /// The body, shared with the read buffer.
    pub body: Bytes,
}

impl RawFrame {
    /// Cuts the first whole frame off the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` does not yet hold a whole frame (read more and
    /// call again). A length prefix above `max_frame_bytes` fails at once, before its
    /// body arrives, so a peer cannot make the reader buffer an oversized frame.
    pub fn split(
        buf: &mut BytesMut,
        max_frame_bytes: usize,
    ) -> Result<Option<RawFrame>, FrameError> {
        if buf.len() < FRAME_LENGTH_BYTES {
            return Ok(None);
        }
        let mut prefix = [0u8; FRAME_LENGTH_BYTES];
        prefix.copy_from_slice(&buf[..FRAME_LENGTH_BYTES]);
        let len = usize::try_from(u32::from_be_bytes(prefix))
            .unwrap_or(usize::MAX)
            .saturating_add(FRAME_LENGTH_BYTES);
        if len > max_frame_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: max_frame_bytes,
            });
        }
        if len < FRAME_HEADER_BYTES {
            return Err(FrameError::TooShort { len });
        }
        if buf.len() < len {
            buf.reserve(len - buf.len());
            return Ok(None);
        }
        let mut frame = buf.split_to(len);
        frame.advance(FRAME_LENGTH_BYTES);
        let version = frame.get_u8();
        if version != PROTOCOL_VERSION {
            return Err(FrameError::UnsupportedVersion { version });
        }
        let kind = frame.get_u8();
        let request_id = frame.get_u64();
        Ok(Some(RawFrame {
            request_id,
            kind,
            body: frame.freeze(),
        }))
    }

    /// Parses the body as a message of type `M` ([`crate::Request`] or [`crate::Response`]).
    pub fn decode<M: Message>(self) -> Result<Frame<M>, DecodeError> {
        let body = M::decode_body(self.kind, self.body)?;
        Ok(Frame {
            request_id: self.request_id,
            body,
        })
    }
}

/// A request or response with the id that pairs them.
///
/// A client picks a fresh `request_id` per request; the bookie copies it into the
/// response. Responses on one connection may come in any order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<M> {
    /// Pairs a response with its request.
    pub request_id: u64,
    /// The message.
    pub body: M,
}

impl<M: Message> Frame<M> {
    /// A frame carrying `body` under `request_id`.
    pub fn new(request_id: u64, body: M) -> Frame<M> {
        Frame { request_id, body }
    }

    /// Appends the encoded frame to `dst`.
    ///
    /// The encoder does not enforce the peer's frame cap: a body above it gets the
    /// connection closed by the peer. Entries are bounded well below
    /// [`DEFAULT_MAX_FRAME_BYTES`] by the client's configuration.
    pub fn encode(&self, dst: &mut BytesMut) {
        let start = dst.len();
        dst.put_u32(0);
        dst.put_u8(PROTOCOL_VERSION);
        dst.put_u8(self.body.kind());
        dst.put_u64(self.request_id);
        self.body.encode_body(dst);
        let len = dst.len() - start - FRAME_LENGTH_BYTES;
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        dst[start..start + FRAME_LENGTH_BYTES].copy_from_slice(&len.to_be_bytes());
    }

    /// The encoded frame as a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.freeze()
    }

    /// Decodes `src`, which must hold exactly one whole frame.
    ///
    /// Convenient for tests and fuzzing; a stream reader uses [`RawFrame::split`].
    pub fn decode_exact(src: &[u8], max_frame_bytes: usize) -> Result<Frame<M>, crate::ProtoError> {
        let mut buf = BytesMut::from(src);
        let raw = RawFrame::split(&mut buf, max_frame_bytes)?.ok_or(DecodeError::Truncated)?;
        if !buf.is_empty() {
            return Err(DecodeError::TrailingBytes { count: buf.len() }.into());
        }
        Ok(raw.decode()?)
    }
}
