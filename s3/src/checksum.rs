//! Object checksums: the five `x-amz-checksum-*` algorithms and MD5 for ETags.
//!
//! - [`ChecksumAlgorithm`] names an algorithm the way S3 does on the wire: as the
//!   value of `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm` (`CRC32`,
//!   `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`) and as a header or trailer name
//!   (`x-amz-checksum-crc32`, ...).
//! - [`Checksummer`] computes one of them over a stream of byte slices; [`Checksum`] is
//!   the result, whose base64 form ([`Checksum::to_base64`]) is what S3 sends and
//!   expects in headers, trailers and XML. [`Checksum::from_headers`] finds the one a
//!   request declares in its headers (trailers come from the aws-chunked decoder).
//! - [`Md5`] computes the MD5 of a body for its ETag (hex, [`etag_hex`]) and for the
//!   `Content-MD5` check (base64, [`parse_content_md5`]); [`multipart_etag`] builds the
//!   `md5(concat(part md5s))-N` ETag of a completed multipart upload.
//!
//! CRC values are sent big-endian (network order) before base64, as the SDKs do.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Digest as _;

/// A checksum algorithm that S3 clients may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC, as in zlib), 4 bytes.
    Crc32,
    /// CRC-32C (Castagnoli), 4 bytes.
    Crc32c,
    /// CRC-64/NVME, 8 bytes.
    Crc64Nvme,
    /// SHA-1, 20 bytes.
    Sha1,
    /// SHA-256, 32 bytes.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in the order S3 documents them.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The value used in `x-amz-checksum-algorithm` and in XML (`CRC32`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The header (or trailer) that carries a checksum of this algorithm.
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The length in bytes of a checksum of this algorithm.
    pub fn digest_len_bytes(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// Parses the value of `x-amz-checksum-algorithm` or `x-amz-sdk-checksum-algorithm`
    /// (case-insensitive, surrounding whitespace ignored).
    pub fn from_algorithm_value(value: &str) -> Option<Self> {
        let value = value.trim();
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str().eq_ignore_ascii_case(value))
    }

    /// Recognises a checksum header or trailer name (case-insensitive), e.g.
    /// `X-Amz-Checksum-CRC32C`.
    pub fn from_header_name(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|alg| alg.header_name().eq_ignore_ascii_case(name))
    }

    /// A fresh streaming checksummer for this algorithm.
    pub fn checksummer(self) -> Checksummer {
        Checksummer::new(self)
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A computed (or received and decoded) checksum: the algorithm and its raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checksum {
    algorithm: ChecksumAlgorithm,
    bytes: Vec<u8>,
}

/// A checksum value that is not base64 of the algorithm's digest length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {algorithm} checksum value is not base64 of {expected_len_bytes} bytes")]
pub struct InvalidChecksumValue {
    /// The algorithm the value was meant for.
    pub algorithm: ChecksumAlgorithm,
    /// The digest length the value should decode to.
    pub expected_len_bytes: usize,
}

impl Checksum {
    /// Decodes a base64 value as sent in an `x-amz-checksum-*` header or trailer.
    pub fn from_base64(
        algorithm: ChecksumAlgorithm,
        value: &str,
    ) -> Result<Self, InvalidChecksumValue> {
        let invalid = InvalidChecksumValue {
            algorithm,
            expected_len_bytes: algorithm.digest_len_bytes(),
        };
        let bytes = BASE64.decode(value.trim()).map_err(|_| invalid.clone())?;
        if bytes.len() != algorithm.digest_len_bytes() {
            return Err(invalid);
        }
        Ok(Checksum { algorithm, bytes })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// The raw digest bytes (big-endian for CRCs).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The base64 form S3 sends in headers, trailers and XML.
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.bytes)
    }
}

/// Why the `x-amz-checksum-*` headers of a request cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumHeaderError {
    /// More than one algorithm's header is present (S3: `InvalidRequest`, "Expecting a
    /// single x-amz-checksum- header").
    #[error("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")]
    Multiple,
    /// The value is not base64 of the right length (S3: `InvalidDigest`).
    #[error(transparent)]
    Invalid(#[from] InvalidChecksumValue),
}

impl Checksum {
    /// The checksum a request declares in an `x-amz-checksum-<algorithm>` header, if
    /// any. (`x-amz-checksum-algorithm`, `-type` and `-mode` are not checksums.)
    pub fn from_headers(headers: &http::HeaderMap) -> Result<Option<Self>, ChecksumHeaderError> {
        let mut found: Option<Checksum> = None;
        for (name, value) in headers {
            let Some(algorithm) = ChecksumAlgorithm::from_header_name(name.as_str()) else {
                continue;
            };
            let invalid = InvalidChecksumValue {
                algorithm,
                expected_len_bytes: algorithm.digest_len_bytes(),
            };
            let value = value.to_str().map_err(|_| invalid)?;
            let checksum = Checksum::from_base64(algorithm, value)?;
            if found.replace(checksum).is_some() {
                return Err(ChecksumHeaderError::Multiple);
            }
        }
        Ok(found)
    }
}

/// Computes one [`ChecksumAlgorithm`] over a stream of byte slices.
#[derive(Clone)]
pub struct Checksummer {
    state: State,
}

#[derive(Clone)]
enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Checksummer {
    /// A checksummer that has seen no bytes yet.
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let state = match algorithm {
            ChecksumAlgorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => State::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => State::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
        };
        Checksummer { state }
    }

    /// The algorithm being computed.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self.state {
            State::Crc32(_) => ChecksumAlgorithm::Crc32,
            State::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            State::Crc64Nvme(_) => ChecksumAlgorithm::Crc64Nvme,
            State::Sha1(_) => ChecksumAlgorithm::Sha1,
            State::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(bytes),
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, bytes),
            State::Crc64Nvme(d) => d.write(bytes),
            State::Sha1(h) => h.update(bytes),
            State::Sha256(h) => h.update(bytes),
        }
    }

    /// The checksum of every byte fed so far.
    pub fn finish(self) -> Checksum {
        let algorithm = self.algorithm();
        let bytes = match self.state {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            State::Crc64Nvme(d) => d.sum64().to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        };
        Checksum { algorithm, bytes }
    }
}

impl fmt::Debug for Checksummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checksummer")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// Streaming MD5, for ETags and `Content-MD5` checks.
#[derive(Clone, Default)]
pub struct Md5 {
    hasher: md5::Md5,
}

impl Md5 {
    /// An MD5 that has seen no bytes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// The digest of every byte fed so far.
    pub fn finish(self) -> [u8; 16] {
        self.hasher.finalize().into()
    }
}

impl fmt::Debug for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Md5").finish_non_exhaustive()
    }
}

/// The ETag of a single-part object: the lower-case hex MD5, without quotes.
pub fn etag_hex(md5: &[u8; 16]) -> String {
    hex::encode(md5)
}

/// The ETag of a completed multipart upload, without quotes:
/// `hex(md5(md5(part 1) ‖ … ‖ md5(part N)))-N`.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut outer = Md5::new();
    for part in part_md5s {
        outer.update(part);
    }
    format!("{}-{}", etag_hex(&outer.finish()), part_md5s.len())
}

/// Decodes a `Content-MD5` header value (base64 of 16 bytes). `None` means the value
/// is malformed, which S3 answers with `InvalidDigest`.
pub fn parse_content_md5(value: &str) -> Option<[u8; 16]> {
    let bytes = BASE64.decode(value.trim()).ok()?;
    bytes.try_into().ok()
}

/// The base64 form of an MD5, as in `Content-MD5`.
pub fn content_md5_base64(md5: &[u8; 16]) -> String {
    BASE64.encode(md5)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK_INPUT: &[u8] = b"123456789";

    fn checksum_of(algorithm: ChecksumAlgorithm, data: &[u8]) -> Checksum {
        let mut c = algorithm.checksummer();
        c.update(data);
        c.finish()
    }

    /// The catalogue "check" values (the checksum of "123456789") of each algorithm.
    #[test]
    fn check_values_of_123456789() {
        let cases = [
            (ChecksumAlgorithm::Crc32, "cbf43926"),
            (ChecksumAlgorithm::Crc32c, "e3069283"),
            (ChecksumAlgorithm::Crc64Nvme, "ae8b14860a799888"),
            (
                ChecksumAlgorithm::Sha1,
                "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
            ),
            (
                ChecksumAlgorithm::Sha256,
                "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
            ),
        ];
        for (alg, want) in cases {
            let got = checksum_of(alg, CHECK_INPUT);
            assert_eq!(hex::encode(got.as_bytes()), want, "{alg}");
            assert_eq!(got.as_bytes().len(), alg.digest_len_bytes());
        }
    }

    /// The AWS trailing-header example: 66560 bytes of 'a' have CRC32C `sOO8/Q==`.
    #[test]
    fn aws_trailer_example_crc32c() {
        let data = vec![b'a'; 66560];
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Crc32c, &data).to_base64(),
            "sOO8/Q=="
        );
    }

    #[test]
    fn streaming_equals_one_shot_for_every_split() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for alg in ChecksumAlgorithm::ALL {
            let whole = checksum_of(alg, &data);
            for split in [0, 1, 7, 500, 999, 1000] {
                let mut c = alg.checksummer();
                c.update(&data[..split]);
                c.update(&data[split..]);
                assert_eq!(c.finish(), whole, "{alg} split at {split}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for alg in ChecksumAlgorithm::ALL {
            assert_eq!(
                ChecksumAlgorithm::from_algorithm_value(alg.as_str()),
                Some(alg)
            );
            assert_eq!(
                ChecksumAlgorithm::from_algorithm_value(&alg.as_str().to_lowercase()),
                Some(alg)
            );
            assert_eq!(
                ChecksumAlgorithm::from_header_name(alg.header_name()),
                Some(alg)
            );
            assert_eq!(
                ChecksumAlgorithm::from_header_name(&alg.header_name().to_uppercase()),
                Some(alg)
            );
        }
        assert_eq!(ChecksumAlgorithm::from_algorithm_value("MD5"), None);
        assert_eq!(
            ChecksumAlgorithm::from_header_name("x-amz-checksum-md5"),
            None
        );
        assert_eq!(
            ChecksumAlgorithm::from_header_name("x-amz-checksum-algorithm"),
            None
        );
    }

    #[test]
    fn base64_values_round_trip_and_reject_wrong_lengths() {
        for alg in ChecksumAlgorithm::ALL {
            let c = checksum_of(alg, b"hello");
            assert_eq!(Checksum::from_base64(alg, &c.to_base64()), Ok(c));
        }
        assert!(Checksum::from_base64(ChecksumAlgorithm::Crc32, "AAAAAAA=").is_err());
        assert!(Checksum::from_base64(ChecksumAlgorithm::Crc32, "not base64!").is_err());
        assert!(Checksum::from_base64(ChecksumAlgorithm::Sha256, "sOO8/Q==").is_err());
    }

    #[test]
    fn checksum_headers_are_found_and_validated() {
        use http::{HeaderMap, HeaderValue};
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-checksum-algorithm",
            HeaderValue::from_static("CRC32C"),
        );
        h.insert(
            "x-amz-checksum-type",
            HeaderValue::from_static("FULL_OBJECT"),
        );
        assert_eq!(Checksum::from_headers(&h), Ok(None));
        h.insert(
            "x-amz-checksum-crc32c",
            HeaderValue::from_static("sOO8/Q=="),
        );
        let found = Checksum::from_headers(&h).unwrap().unwrap();
        assert_eq!(found.algorithm(), ChecksumAlgorithm::Crc32c);
        assert_eq!(
            found,
            checksum_of(ChecksumAlgorithm::Crc32c, &[b'a'; 66560])
        );
        h.insert("x-amz-checksum-sha1", HeaderValue::from_static("AAAA"));
        assert!(Checksum::from_headers(&h).is_err());
        h.remove("x-amz-checksum-sha1");
        h.insert("x-amz-checksum-crc32", HeaderValue::from_static("AAAA"));
        assert!(matches!(
            Checksum::from_headers(&h),
            Err(ChecksumHeaderError::Invalid(_) | ChecksumHeaderError::Multiple)
        ));
        h.remove("x-amz-checksum-crc32c");
        assert!(matches!(
            Checksum::from_headers(&h),
            Err(ChecksumHeaderError::Invalid(_))
        ));
    }

    #[test]
    fn md5_etag_and_content_md5() {
        let mut m = Md5::new();
        m.update(b"1234");
        m.update(b"56789");
        let digest = m.finish();
        assert_eq!(etag_hex(&digest), "25f9e794323b453885f5181f1b624d0b");
        // The empty body's MD5, as in the ETag of an empty object.
        assert_eq!(
            etag_hex(&Md5::new().finish()),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        let b64 = content_md5_base64(&digest);
        assert_eq!(parse_content_md5(&b64), Some(digest));
        assert_eq!(
            parse_content_md5("1B2M2Y8AsgTpgAmY7PhCfg=="),
            Some(Md5::new().finish())
        );
        assert_eq!(parse_content_md5("AAAA"), None);
        assert_eq!(parse_content_md5("%%%"), None);
    }

    #[test]
    fn multipart_etag_is_md5_of_part_md5s() {
        let p1 = {
            let mut m = Md5::new();
            m.update(b"part one");
            m.finish()
        };
        let p2 = Md5::new().finish();
        let mut concat = Vec::new();
        concat.extend_from_slice(&p1);
        concat.extend_from_slice(&p2);
        let mut outer = Md5::new();
        outer.update(&concat);
        assert_eq!(
            multipart_etag(&[p1, p2]),
            format!("{}-2", etag_hex(&outer.finish()))
        );
    }
}
