//! The aws-chunked body decoder, as a sans-IO state machine: [`ChunkedDecoder`].

use std::collections::VecDeque;
use std::fmt;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::error::AuthError;
use super::signing::{self, SigningKey};
use crate::checksum::{Checksum, ChecksumAlgorithm, Checksummer};

/// The longest chunk-header or trailer line accepted, CRLF excluded.
pub const MAX_CHUNK_LINE_BYTES: usize = 4096;
/// The most trailers accepted (the trailer signature included).
pub const MAX_TRAILERS: usize = 16;

/// What signs the chunks: the request's signing key, date and scope, and the seed
/// signature (the request's own).
#[derive(Clone)]
pub(crate) struct ChunkSigning {
    pub key: SigningKey,
    pub amz_date: String,
    pub scope: String,
    pub seed_signature_hex: String,
}

/// One step of a decoded aws-chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The next bytes of the object.
    Data(Bytes),
    /// The trailers (lower-case names, trimmed values), the trailer signature left
    /// out. Comes once, before [`Decoded::End`], if any trailer was sent.
    Trailers(Vec<(String, String)>),
    /// The body is complete and every check passed.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading `<hex size>[;chunk-signature=<sig>]\r\n`.
    SizeLine,
    /// Yielding chunk data.
    Data { remaining: u64 },
    /// Expecting the `\r` after the data.
    DataCr,
    /// Expecting the `\n` after the data.
    DataLf,
    /// After the final chunk: reading trailer lines up to an empty line.
    Trailers,
    /// Trailers checked; to yield them.
    TrailersReady,
    /// To yield `End`.
    EndReady,
    /// `End` was yielded.
    Done,
}

/// Decodes (and verifies) an aws-chunked body, as a sans-IO state machine.
///
/// ```text
/// signed:   <hex size>;chunk-signature=<64 hex>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n
/// unsigned: <hex size>\r\n<data>\r\n ... 0\r\n
/// then:     [<trailer name>:<value>\r\n ...] [x-amz-trailer-signature:<sig>\r\n] \r\n
/// ```
///
/// Each chunk signature is the HMAC, with the request's signing key, of
/// `AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous signature>\n<sha256("")>\n
/// <sha256(chunk data)>`, chained from the seed signature of the `Authorization` header.
/// The trailer signature chains from the final (empty) chunk's signature over
/// `AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<previous>\n<sha256(trailers)>`, where
/// the trailers are `name:value\n` each, sorted by name.
///
/// # Driving it
///
/// The gateway [`push`](ChunkedDecoder::push)es body bytes as they arrive, calls
/// [`next_decoded`](ChunkedDecoder::next_decoded) until it returns `Ok(None)` (more input needed), and
/// calls [`end_input`](ChunkedDecoder::end_input) when the HTTP body ends. The decoder
/// keeps only what was pushed and not yet consumed, plus at most one chunk-header or
/// trailer line ([`MAX_CHUNK_LINE_BYTES`]); data comes out as zero-copy slices of the
/// pushed [`Bytes`].
///
/// ```
/// use bytes::Bytes;
/// use folio_s3::auth::{ChunkedDecoder, Decoded};
///
/// # fn main() -> Result<(), folio_s3::auth::AuthError> {
/// // What `PayloadCheck::Chunked` hands over for a STREAMING-UNSIGNED-PAYLOAD-TRAILER
/// // upload that declared `x-amz-trailer: x-amz-checksum-crc32`.
/// let mut decoder =
///     ChunkedDecoder::unsigned(&["x-amz-checksum-crc32".to_owned()], Some(11))?;
/// let mut object = Vec::new();
/// let body: [&[u8]; 2] = [b"6\r\nhello \r\n5\r\nwor", b"ld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"];
/// for piece in body {
///     decoder.push(Bytes::from_static(piece));
///     while let Some(step) = decoder.next_decoded()? {
///         match step {
///             Decoded::Data(bytes) => object.extend_from_slice(&bytes), // to the ledger
///             Decoded::Trailers(_) => {}
///             Decoded::End => {} // now, and only now, commit the object
///         }
///     }
/// }
/// decoder.end_input();
/// assert_eq!(decoder.next_decoded()?, None);
/// assert_eq!(object, b"hello world");
/// assert_eq!(decoder.checksum().map(|c| c.to_base64()).as_deref(), Some("DUoRhQ=="));
/// # Ok(())
/// # }
/// ```
///
/// # What it checks, and when
///
/// - **Chunk signatures.** A chunk's data is yielded as it arrives, *before* its
///   signature can be checked (at the chunk's end). An error may therefore follow data:
///   nothing may be committed before [`Decoded::End`].
/// - **Trailers.** Only those declared in `x-amz-trailer` are accepted, and each
///   declared one must arrive. With `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` the
///   `x-amz-trailer-signature` must be present and valid.
/// - **Checksum trailer.** If `x-amz-trailer` declares an `x-amz-checksum-*` trailer,
///   the decoder computes that checksum over the decoded data and compares it with the
///   trailer (`BadDigest` on mismatch). The gateway need not hash it again: the
///   verified value is in [`ChunkedDecoder::checksum`] once [`Decoded::End`] is out.
/// - **Length.** The decoded total must equal `x-amz-decoded-content-length`, if the
///   request carried it.
///
/// Any error is sticky: every later call to `next_decoded` returns it again.
pub struct ChunkedDecoder {
    signing: Option<ChunkSigning>,
    previous_signature_hex: String,
    signed_trailer: bool,
    declared_trailers: Vec<String>,
    checksummer: Option<Checksummer>,
    checksum: Option<Checksum>,
    decoded_length: Option<u64>,
    decoded_total: u64,
    input: VecDeque<Bytes>,
    input_ended: bool,
    line: Vec<u8>,
    state: State,
    chunk_sha256: Sha256,
    chunk_signature: [u8; 32],
    chunk_signature_hex: String,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    failed: Option<AuthError>,
}

impl fmt::Debug for ChunkedDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkedDecoder")
            .field("signed", &self.signing.is_some())
            .field("signed_trailer", &self.signed_trailer)
            .field("declared_trailers", &self.declared_trailers)
            .field("decoded_length", &self.decoded_length)
            .field("decoded_total", &self.decoded_total)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ChunkedDecoder {
    /// A decoder for `STREAMING-UNSIGNED-PAYLOAD-TRAILER` bodies (no chunk
    /// signatures). `declared_trailers` are the lower-case names of `x-amz-trailer`.
    pub fn unsigned(
        declared_trailers: &[String],
        decoded_length: Option<u64>,
    ) -> Result<Self, AuthError> {
        Self::new(None, false, declared_trailers, decoded_length)
    }

    /// A decoder; `signing` is `None` for unsigned chunks. `signed_trailer` requires
    /// `x-amz-trailer-signature` (and `signing`).
    pub(crate) fn new(
        signing: Option<ChunkSigning>,
        signed_trailer: bool,
        declared_trailers: &[String],
        decoded_length: Option<u64>,
    ) -> Result<Self, AuthError> {
        let mut checksummer = None;
        for name in declared_trailers {
            if let Some(algorithm) = ChecksumAlgorithm::from_header_name(name)
                && checksummer.replace(algorithm.checksummer()).is_some()
            {
                return Err(AuthError::invalid_request(
                    "Expecting a single x-amz-checksum- trailer",
                ));
            }
        }
        let previous_signature_hex = signing
            .as_ref()
            .map(|s| s.seed_signature_hex.clone())
            .unwrap_or_default();
        Ok(ChunkedDecoder {
            signed_trailer: signed_trailer && signing.is_some(),
            signing,
            previous_signature_hex,
            declared_trailers: declared_trailers.to_vec(),
            checksummer,
            checksum: None,
            decoded_length,
            decoded_total: 0,
            input: VecDeque::new(),
            input_ended: false,
            line: Vec::new(),
            state: State::SizeLine,
            chunk_sha256: Sha256::new(),
            chunk_signature: [0; 32],
            chunk_signature_hex: String::new(),
            trailers: Vec::new(),
            trailer_signature: None,
            failed: None,
        })
    }

    /// Appends the next bytes of the HTTP body.
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.input.push_back(bytes);
        }
    }

    /// Marks the end of the HTTP body: from now on, running out of input is
    /// `IncompleteBody`.
    pub fn end_input(&mut self) {
        self.input_ended = true;
    }

    /// The next decoded step. `Ok(None)` means no progress is possible until more
    /// input is pushed (or, after [`Decoded::End`], ever).
    pub fn next_decoded(&mut self) -> Result<Option<Decoded>, AuthError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.step();
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// The verified value of the checksum trailer, once [`Decoded::End`] is out.
    pub fn checksum(&self) -> Option<&Checksum> {
        self.checksum.as_ref()
    }

    /// How many object bytes have been yielded so far.
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded_total
    }

    /// How many pushed bytes are held, not yet consumed (the line buffer included).
    pub fn buffered_bytes(&self) -> usize {
        self.input.iter().map(Bytes::len).sum::<usize>() + self.line.len()
    }

    /// Whether chunks carry signatures.
    pub fn is_signed(&self) -> bool {
        self.signing.is_some()
    }

    fn step(&mut self) -> Result<Option<Decoded>, AuthError> {
        loop {
            match self.state {
                State::SizeLine => match self.take_line()? {
                    Some(line) => self.on_size_line(&line)?,
                    None => return self.need_more(),
                },
                State::Data { remaining: 0 } => self.state = State::DataCr,
                State::Data { remaining } => {
                    let Some(front) = self.input.front_mut() else {
                        return self.need_more();
                    };
                    let n = usize::try_from(remaining).map_or(front.len(), |r| r.min(front.len()));
                    let data = front.split_to(n);
                    if front.is_empty() {
                        self.input.pop_front();
                    }
                    if self.signing.is_some() {
                        self.chunk_sha256.update(&data);
                    }
                    if let Some(c) = &mut self.checksummer {
                        c.update(&data);
                    }
                    self.decoded_total += data.len() as u64;
                    self.state = State::Data {
                        remaining: remaining - data.len() as u64,
                    };
                    return Ok(Some(Decoded::Data(data)));
                }
                State::DataCr | State::DataLf => {
                    let Some(byte) = self.take_byte() else {
                        return self.need_more();
                    };
                    if self.state == State::DataCr {
                        if byte != b'\r' {
                            return Err(AuthError::incomplete(
                                "chunk data is longer than its size or not followed by CRLF",
                            ));
                        }
                        self.state = State::DataLf;
                    } else {
                        if byte != b'\n' {
                            return Err(AuthError::incomplete("chunk data not followed by CRLF"));
                        }
                        self.verify_chunk()?;
                        self.state = State::SizeLine;
                    }
                }
                State::Trailers => match self.take_line()? {
                    Some(line) if line.is_empty() => self.finish_trailers()?,
                    Some(line) => self.on_trailer_line(&line)?,
                    None => {
                        // Some clients end the body right after the last trailer line,
                        // without the empty line.
                        let ended_after_trailers = self.input_ended
                            && self.input.is_empty()
                            && self.line.is_empty()
                            && (!self.trailers.is_empty() || self.trailer_signature.is_some());
                        if ended_after_trailers {
                            self.finish_trailers()?;
                        } else {
                            return self.need_more();
                        }
                    }
                },
                State::TrailersReady => {
                    self.state = State::EndReady;
                    if !self.trailers.is_empty() {
                        return Ok(Some(Decoded::Trailers(self.trailers.clone())));
                    }
                }
                State::EndReady => {
                    self.state = State::Done;
                    return Ok(Some(Decoded::End));
                }
                State::Done => {
                    if self.input.is_empty() {
                        return Ok(None);
                    }
                    return Err(AuthError::incomplete("bytes after the final chunk"));
                }
            }
        }
    }

    fn need_more(&self) -> Result<Option<Decoded>, AuthError> {
        if self.input_ended {
            Err(AuthError::incomplete(
                "the body ended before the final chunk",
            ))
        } else {
            Ok(None)
        }
    }

    fn take_byte(&mut self) -> Option<u8> {
        let front = self.input.front_mut()?;
        let byte = front.first().copied();
        let _ = front.split_to(1);
        if front.is_empty() {
            self.input.pop_front();
        }
        byte
    }

    /// The next complete line without its CRLF, or `None` if it has not all arrived.
    fn take_line(&mut self) -> Result<Option<Vec<u8>>, AuthError> {
        let too_long = || AuthError::incomplete("chunk header or trailer line too long");
        loop {
            let Some(front) = self.input.front_mut() else {
                return Ok(None);
            };
            match front.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let part = front.split_to(i + 1);
                    if front.is_empty() {
                        self.input.pop_front();
                    }
                    if self.line.len() + part.len() > MAX_CHUNK_LINE_BYTES + 2 {
                        return Err(too_long());
                    }
                    self.line.extend_from_slice(&part);
                    let mut line = std::mem::take(&mut self.line);
                    line.pop();
                    if line.pop() != Some(b'\r') {
                        return Err(AuthError::incomplete("line not terminated by CRLF"));
                    }
                    return Ok(Some(line));
                }
                None => {
                    if self.line.len() + front.len() > MAX_CHUNK_LINE_BYTES + 1 {
                        return Err(too_long());
                    }
                    self.line.extend_from_slice(front);
                    self.input.pop_front();
                }
            }
        }
    }

    fn on_size_line(&mut self, line: &[u8]) -> Result<(), AuthError> {
        let line = std::str::from_utf8(line)
            .map_err(|_| AuthError::incomplete("chunk header is not ASCII"))?;
        let (size, extension) = match line.split_once(';') {
            Some((size, extension)) => (size.trim(), Some(extension)),
            None => (line.trim(), None),
        };
        let valid_size =
            !size.is_empty() && size.len() <= 16 && size.bytes().all(|b| b.is_ascii_hexdigit());
        let size = u64::from_str_radix(size, 16)
            .ok()
            .filter(|_| valid_size)
            .ok_or_else(|| AuthError::incomplete("invalid chunk size"))?;
        if self.signing.is_some() {
            let signature = extension
                .and_then(|e| e.trim().strip_prefix("chunk-signature="))
                .ok_or_else(|| AuthError::incomplete("chunk without chunk-signature"))?;
            self.chunk_signature = signing::parse_signature_hex(signature)?;
            self.chunk_signature_hex = signature.trim().to_ascii_lowercase();
        }
        if let Some(limit) = self.decoded_length
            && self
                .decoded_total
                .checked_add(size)
                .is_none_or(|t| t > limit)
        {
            return Err(AuthError::incomplete(
                "more data than x-amz-decoded-content-length",
            ));
        }
        self.chunk_sha256 = Sha256::new();
        if size == 0 {
            self.verify_chunk()?;
            self.state = State::Trailers;
        } else {
            self.state = State::Data { remaining: size };
        }
        Ok(())
    }

    /// Checks the signature of the chunk just read, and chains on it.
    fn verify_chunk(&mut self) -> Result<(), AuthError> {
        let Some(signing) = &self.signing else {
            return Ok(());
        };
        let digest: [u8; 32] = std::mem::take(&mut self.chunk_sha256).finalize().into();
        let sts = signing::chunk_string_to_sign(
            &signing.amz_date,
            &signing.scope,
            &self.previous_signature_hex,
            &digest,
        );
        let computed = signing.key.sign(sts.as_bytes());
        if !signing::constant_time_eq(&computed, &self.chunk_signature) {
            return Err(AuthError::SignatureDoesNotMatch);
        }
        self.previous_signature_hex = std::mem::take(&mut self.chunk_signature_hex);
        Ok(())
    }

    fn on_trailer_line(&mut self, line: &[u8]) -> Result<(), AuthError> {
        let count = self.trailers.len() + usize::from(self.trailer_signature.is_some());
        if count >= MAX_TRAILERS {
            return Err(AuthError::invalid_request("too many trailers"));
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| AuthError::invalid_request("a trailer is not UTF-8"))?;
        let Some((name, value)) = line.split_once(':') else {
            return Err(AuthError::invalid_request("a trailer line has no ':'"));
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_owned();
        if name == "x-amz-trailer-signature" {
            if !self.signed_trailer {
                return Err(AuthError::invalid_request(
                    "x-amz-trailer-signature in a body whose trailers are not signed",
                ));
            }
            if self.trailer_signature.replace(value).is_some() {
                return Err(AuthError::invalid_request(
                    "x-amz-trailer-signature is repeated",
                ));
            }
            return Ok(());
        }
        if !self.declared_trailers.contains(&name) {
            return Err(AuthError::invalid_request(format!(
                "the trailer {name} is not declared in x-amz-trailer"
            )));
        }
        if self.trailers.iter().any(|(n, _)| *n == name) {
            return Err(AuthError::invalid_request(format!(
                "the trailer {name} is repeated"
            )));
        }
        self.trailers.push((name, value));
        Ok(())
    }

    /// After the empty line: every declared trailer present, the trailer signature,
    /// the checksum and the decoded length.
    fn finish_trailers(&mut self) -> Result<(), AuthError> {
        for declared in &self.declared_trailers {
            if !self.trailers.iter().any(|(n, _)| n == declared) {
                return Err(AuthError::invalid_request(format!(
                    "the trailer {declared} declared in x-amz-trailer is missing"
                )));
            }
        }
        if self.signed_trailer {
            self.verify_trailer_signature()?;
        }
        if let Some(checksummer) = self.checksummer.take() {
            let algorithm = checksummer.algorithm();
            let sent = self
                .trailers
                .iter()
                .find(|(n, _)| n == algorithm.header_name())
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            let sent =
                Checksum::from_base64(algorithm, sent).map_err(|e| AuthError::InvalidDigest {
                    reason: e.to_string(),
                })?;
            let computed = checksummer.finish();
            if computed != sent {
                return Err(AuthError::BadDigest {
                    algorithm: algorithm.as_str(),
                });
            }
            self.checksum = Some(computed);
        }
        if let Some(expected) = self.decoded_length
            && expected != self.decoded_total
        {
            return Err(AuthError::incomplete(
                "less data than x-amz-decoded-content-length",
            ));
        }
        self.state = State::TrailersReady;
        Ok(())
    }

    fn verify_trailer_signature(&self) -> Result<(), AuthError> {
        let Some(signing) = &self.signing else {
            return Ok(());
        };
        let Some(sent) = &self.trailer_signature else {
            return Err(AuthError::SignatureDoesNotMatch);
        };
        let sent = signing::parse_signature_hex(sent)?;
        let mut sorted: Vec<&(String, String)> = self.trailers.iter().collect();
        sorted.sort();
        let mut canonical = Vec::new();
        for (name, value) in sorted {
            canonical.extend_from_slice(name.as_bytes());
            canonical.push(b':');
            canonical.extend_from_slice(value.as_bytes());
            canonical.push(b'\n');
        }
        let sts = signing::trailer_string_to_sign(
            &signing.amz_date,
            &signing.scope,
            &self.previous_signature_hex,
            &canonical,
        );
        let computed = signing.key.sign(sts.as_bytes());
        if !signing::constant_time_eq(&computed, &sent) {
            return Err(AuthError::SignatureDoesNotMatch);
        }
        Ok(())
    }
}
