//! The forms of `x-amz-content-sha256`, and the streaming headers that go with them.

use http::HeaderMap;

use super::error::AuthError;

/// What a SigV4 request declares about its body in `x-amz-content-sha256` (or, for a
/// presigned URL, `X-Amz-Content-Sha256` in the query, `UNSIGNED-PAYLOAD` by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentSha256 {
    /// The hex SHA-256 of the body, to check once the body has been read.
    Hex([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, every chunk signed.
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks, then trailers
    /// signed with `x-amz-trailer-signature`.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked without chunk signatures,
    /// then (checksum) trailers. What the SDKs send by default over HTTPS.
    StreamingUnsignedTrailer,
}

impl ContentSha256 {
    /// Parses the header value. Unknown forms, and SigV4a or event-stream forms that
    /// folio does not implement, are errors.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let value = value.trim();
        match value {
            "UNSIGNED-PAYLOAD" => return Ok(ContentSha256::Unsigned),
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => return Ok(ContentSha256::StreamingSigned),
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => {
                return Ok(ContentSha256::StreamingSignedTrailer);
            }
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => {
                return Ok(ContentSha256::StreamingUnsignedTrailer);
            }
            "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
            | "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER" => {
                return Err(AuthError::NotImplemented {
                    feature: "SigV4a (AWS4-ECDSA-P256-SHA256) streaming payloads",
                });
            }
            "STREAMING-AWS4-HMAC-SHA256-EVENTS" => {
                return Err(AuthError::NotImplemented {
                    feature: "event-stream payloads",
                });
            }
            _ => {}
        }
        let mut digest = [0u8; 32];
        hex::decode_to_slice(value, &mut digest).map_err(|_| AuthError::InvalidArgument {
            reason: "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value or \
                     a hex SHA-256"
                .into(),
        })?;
        Ok(ContentSha256::Hex(digest))
    }

    /// Whether the body is aws-chunked.
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            ContentSha256::StreamingSigned
                | ContentSha256::StreamingSignedTrailer
                | ContentSha256::StreamingUnsignedTrailer
        )
    }
}

/// `x-amz-decoded-content-length`, if present.
pub(crate) fn decoded_content_length(headers: &HeaderMap) -> Result<Option<u64>, AuthError> {
    let Some(value) = headers.get("x-amz-decoded-content-length") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| AuthError::InvalidArgument {
            reason: "x-amz-decoded-content-length is not a number".into(),
        })
}

/// The lower-case trailer names declared in `x-amz-trailer` (comma-separated).
pub(crate) fn declared_trailers(headers: &HeaderMap) -> Result<Vec<String>, AuthError> {
    let mut names = Vec::new();
    for value in headers.get_all("x-amz-trailer") {
        let value = value.to_str().map_err(|_| AuthError::InvalidArgument {
            reason: "x-amz-trailer is not ASCII".into(),
        })?;
        for name in value.split(',') {
            let name = name.trim().to_ascii_lowercase();
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// The value of `Content-Encoding` to store with an object uploaded with `headers`:
/// `aws-chunked` describes the transfer, not the object, so it is removed from the
/// list. `None` when nothing is left.
pub fn stored_content_encoding(headers: &HeaderMap) -> Option<String> {
    let kept: Vec<&str> = headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(kept.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn five_forms_parse() {
        let hex = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
        assert!(matches!(
            ContentSha256::parse(hex),
            Ok(ContentSha256::Hex(_))
        ));
        assert_eq!(
            ContentSha256::parse("UNSIGNED-PAYLOAD"),
            Ok(ContentSha256::Unsigned)
        );
        assert_eq!(
            ContentSha256::parse("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            Ok(ContentSha256::StreamingSigned)
        );
        assert_eq!(
            ContentSha256::parse("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
            Ok(ContentSha256::StreamingSignedTrailer)
        );
        assert_eq!(
            ContentSha256::parse("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            Ok(ContentSha256::StreamingUnsignedTrailer)
        );
        assert_eq!(
            ContentSha256::parse("abc").map_err(|e| e.s3_code()),
            Err("InvalidArgument")
        );
        assert_eq!(
            ContentSha256::parse("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
                .map_err(|e| e.s3_code()),
            Err("NotImplemented")
        );
    }

    #[test]
    fn aws_chunked_is_not_stored_as_content_encoding() {
        let mut h = HeaderMap::new();
        h.insert("content-encoding", HeaderValue::from_static("aws-chunked"));
        assert_eq!(stored_content_encoding(&h), None);
        h.insert(
            "content-encoding",
            HeaderValue::from_static("aws-chunked, gzip"),
        );
        assert_eq!(stored_content_encoding(&h).as_deref(), Some("gzip"));
        h.insert("content-encoding", HeaderValue::from_static("gzip"));
        assert_eq!(stored_content_encoding(&h).as_deref(), Some("gzip"));
    }

    #[test]
    fn trailer_names_and_decoded_length() {
        let mut h = HeaderMap::new();
        assert_eq!(decoded_content_length(&h), Ok(None));
        h.insert(
            "x-amz-trailer",
            HeaderValue::from_static("X-Amz-Checksum-CRC32C, x-amz-checksum-crc32c"),
        );
        h.insert(
            "x-amz-decoded-content-length",
            HeaderValue::from_static("66560"),
        );
        assert_eq!(
            declared_trailers(&h),
            Ok(vec!["x-amz-checksum-crc32c".to_owned()])
        );
        assert_eq!(decoded_content_length(&h), Ok(Some(66560)));
        h.insert(
            "x-amz-decoded-content-length",
            HeaderValue::from_static("-1"),
        );
        assert!(decoded_content_length(&h).is_err());
    }
}
