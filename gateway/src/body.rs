//! A request body as the handlers see it: a stream of decoded bytes, plus what must
//! be checked once it has all been read.
//!
//! The transport layer (aws-chunked decoding and chunk-signature checks, or the plain
//! body) produces the stream; [`RequestBody::finish`] then checks what can only be
//! checked at the end: the decoded length, the SHA-256 of `x-amz-content-sha256`, and
//! it hands over the trailers of a streaming upload.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use folio_s3::error::S3Error;
use futures::Stream;
use sha2::{Digest, Sha256};

/// The decoded bytes of a body.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, S3Error>> + Send>>;

/// Trailer headers of a streaming upload, filled in when the stream ends.
pub type Trailers = Arc<Mutex<Vec<(String, String)>>>;

/// A request body and its end-of-body checks.
pub struct RequestBody {
    /// The bytes.
    pub stream: BodyStream,
    /// The length the client declared (Content-Length, or
    /// `x-amz-decoded-content-length` for aws-chunked).
    pub declared_length: Option<u64>,
    /// The body's SHA-256 as signed in `x-amz-content-sha256`, when it was a digest.
    pub sha256: Option<[u8; 32]>,
    /// Trailers (aws-chunked with `x-amz-trailer`), available once the stream ended.
    pub trailers: Trailers,
}

/// What a handler measured while consuming a [`RequestBody`].
pub struct BodyTally {
    sha256: Option<Sha256>,
    length: u64,
}

impl RequestBody {
    /// Starts measuring: feed every chunk to [`BodyTally::update`].
    pub fn tally(&self) -> BodyTally {
        BodyTally {
            sha256: self.sha256.map(|_| Sha256::new()),
            length: 0,
        }
    }

    /// Checks, after the stream ended, the declared length and signed SHA-256, and
    /// returns the trailers.
    pub fn finish(&self, tally: BodyTally) -> Result<Vec<(String, String)>, S3Error> {
        if let Some(declared) = self.declared_length
            && declared != tally.length
        {
            return Err(S3Error::IncompleteBody);
        }
        if let (Some(expected), Some(hasher)) = (self.sha256, tally.sha256) {
            let got: [u8; 32] = hasher.finalize().into();
            if got != expected {
                return Err(S3Error::XAmzContentSHA256Mismatch);
            }
        }
        Ok(self
            .trailers
            .lock()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone()))
    }

    /// Reads the whole body into memory, up to `max_bytes` (for XML request bodies),
    /// and runs the end-of-body checks.
    pub async fn collect(mut self, max_bytes: usize) -> Result<Bytes, S3Error> {
        use futures::StreamExt;
        let mut tally = self.tally();
        let mut out = Vec::new();
        while let Some(chunk) = self.stream.next().await {
            let chunk = chunk?;
            tally.update(&chunk);
            if out.len() + chunk.len() > max_bytes {
                return Err(S3Error::MaxMessageLengthExceeded);
            }
            out.extend_from_slice(&chunk);
        }
        self.finish(tally)?;
        Ok(out.into())
    }
}

impl BodyTally {
    /// Counts and hashes one chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        self.length += chunk.len() as u64;
        if let Some(hasher) = &mut self.sha256 {
            hasher.update(chunk);
        }
    }
}
