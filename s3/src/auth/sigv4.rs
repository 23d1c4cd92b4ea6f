//! SigV4 in the `Authorization` header, and the verification shared with presigned
//! URLs.
//!
//! ```text
//! Authorization: AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/s3/aws4_request,
//!     SignedHeaders=<h1;h2;...>, Signature=<64 hex>
//! ```

use time::OffsetDateTime;

use super::canonical::{self, QueryParam};
use super::chunked::{ChunkSigning, ChunkedDecoder};
use super::date;
use super::error::AuthError;
use super::payload::{self, ContentSha256};
use super::signing::{self, Scope, SigningKey};
use super::{AuthOptions, PayloadCheck, RequestParts};

/// A SigV4 request (header or presigned) whose signature is still to be checked.
#[derive(Debug, Clone)]
pub(crate) struct PendingV4 {
    /// Whether the credentials came in the query.
    pub presigned: bool,
    /// The credential scope.
    pub scope: Scope,
    /// The request timestamp as signed (`yyyymmddThhmmssZ`).
    amz_date: String,
    /// The strings to sign, one per canonical URI candidate.
    strings_to_sign: Vec<String>,
    /// The signature the client sent.
    signature: [u8; 32],
    /// The signature as sent, in hex: the seed of chunk signatures.
    signature_hex: String,
    /// What the client declared about the body.
    payload: ContentSha256,
    /// `x-amz-decoded-content-length`, for aws-chunked bodies.
    decoded_length: Option<u64>,
    /// The trailers declared in `x-amz-trailer`.
    trailers: Vec<String>,
}

/// The parsed `Credential=` value.
pub(crate) struct Credential {
    pub access_key_id: String,
    pub scope: Scope,
}

/// Parses `<key>/<yyyymmdd>/<region>/s3/aws4_request`. `malformed` builds the error
/// of the caller's mechanism (header or query).
pub(crate) fn parse_credential(
    value: &str,
    opts: &AuthOptions,
    malformed: fn(String) -> AuthError,
) -> Result<Credential, AuthError> {
    let mut parts = value.rsplitn(5, '/');
    let (Some(terminator), Some(service), Some(region), Some(date), Some(access_key_id)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed(format!(
            "the Credential '{value}' is not <key>/<date>/<region>/s3/aws4_request"
        )));
    };
    if access_key_id.is_empty() {
        return Err(malformed("the Credential has no access key id".into()));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(format!(
            "the Credential date '{date}' is not yyyymmdd"
        )));
    }
    if service != signing::SERVICE {
        return Err(malformed(format!(
            "the Credential service '{service}' is wrong; expecting 's3'"
        )));
    }
    if terminator != signing::TERMINATOR {
        return Err(malformed(format!(
            "the Credential terminator '{terminator}' is wrong; expecting 'aws4_request'"
        )));
    }
    if region.is_empty() {
        return Err(malformed("the Credential has no region".into()));
    }
    if let Some(expected) = &opts.region
        && region != expected
    {
        return Err(malformed(format!(
            "the region '{region}' is wrong; expecting '{expected}'"
        )));
    }
    Ok(Credential {
        access_key_id: access_key_id.to_owned(),
        scope: Scope {
            date: date.to_owned(),
            region: region.to_owned(),
        },
    })
}

/// Parses `h1;h2;...`: lower-case names, `host` among them.
pub(crate) fn parse_signed_headers(
    value: &str,
    malformed: fn(String) -> AuthError,
) -> Result<Vec<String>, AuthError> {
    let names: Vec<String> = value.split(';').map(|n| n.trim().to_owned()).collect();
    for name in &names {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase());
        if !valid {
            return Err(malformed(format!(
                "the signed header name '{name}' is not a lower-case header name"
            )));
        }
    }
    if !names.iter().any(|n| n == "host") {
        return Err(malformed("SignedHeaders must include host".into()));
    }
    Ok(names)
}

/// `AccessDenied` if an `x-amz-*` header of the request is not signed. Checksum
/// headers are exempt: they can only make a request fail, and some SDKs add them
/// after presigning. So is `x-amz-content-sha256`, which a header signature covers
/// anyway (its value is the canonical request's payload hash).
pub(crate) fn check_amz_headers_signed(
    req: &RequestParts<'_>,
    signed: &[String],
) -> Result<(), AuthError> {
    for name in req.headers.keys() {
        let name = name.as_str();
        let exempt = name == "x-amz-content-sha256"
            || name == "x-amz-sdk-checksum-algorithm"
            || name.starts_with("x-amz-checksum-");
        if name.starts_with("x-amz-") && !exempt && !signed.iter().any(|s| s == name) {
            return Err(AuthError::access_denied(format!(
                "There were headers present in the request which were not signed: {name}"
            )));
        }
    }
    Ok(())
}

/// Everything that goes into the strings to sign of a SigV4 request.
pub(crate) struct SignedParts<'a> {
    pub access_key_id: String,
    pub scope: Scope,
    pub amz_date: String,
    pub signed_headers: Vec<String>,
    pub query: &'a [QueryParam],
    pub query_exclude: &'a [&'a str],
    pub payload_hash: String,
    pub payload: ContentSha256,
    pub signature_hex: &'a str,
    pub presigned: bool,
}

/// Builds the pending request: canonical requests and strings to sign.
pub(crate) fn pending(
    req: &RequestParts<'_>,
    parts: SignedParts<'_>,
) -> Result<(String, PendingV4), AuthError> {
    let signature = signing::parse_signature_hex(parts.signature_hex)?;
    let query = canonical::canonical_query(parts.query, parts.query_exclude);
    let headers = canonical::canonical_headers(
        req.headers,
        &parts.signed_headers,
        req.uri.authority().map(|a| a.as_str()),
    );
    let signed_headers = parts.signed_headers.join(";");
    let strings_to_sign = canonical::canonical_uri_candidates(req.uri.path())
        .iter()
        .map(|uri| {
            let creq = canonical::canonical_request(
                req.method.as_str(),
                uri,
                &query,
                &headers,
                &signed_headers,
                &parts.payload_hash,
            );
            signing::request_string_to_sign(&parts.amz_date, &parts.scope, &creq)
        })
        .collect();
    let (decoded_length, trailers) = if parts.payload.is_streaming() {
        (
            payload::decoded_content_length(req.headers)?,
            payload::declared_trailers(req.headers)?,
        )
    } else {
        (None, Vec::new())
    };
    Ok((
        parts.access_key_id,
        PendingV4 {
            presigned: parts.presigned,
            scope: parts.scope,
            amz_date: parts.amz_date,
            strings_to_sign,
            signature,
            signature_hex: parts.signature_hex.trim().to_ascii_lowercase(),
            payload: parts.payload,
            decoded_length,
            trailers,
        },
    ))
}

impl PendingV4 {
    /// Checks the signature; on success, says how to check the body.
    pub(crate) fn verify(&self, secret_access_key: &str) -> Result<PayloadCheck, AuthError> {
        let key = SigningKey::derive(secret_access_key, &self.scope);
        let mut matched = false;
        for sts in &self.strings_to_sign {
            matched |= signing::constant_time_eq(&key.sign(sts.as_bytes()), &self.signature);
        }
        if !matched {
            return Err(AuthError::SignatureDoesNotMatch);
        }
        let signing = |key: SigningKey| ChunkSigning {
            key,
            amz_date: self.amz_date.clone(),
            scope: self.scope.to_scope_string(),
            seed_signature_hex: self.signature_hex.clone(),
        };
        Ok(match self.payload {
            ContentSha256::Hex(digest) => PayloadCheck::Sha256(digest),
            ContentSha256::Unsigned => PayloadCheck::Unsigned,
            ContentSha256::StreamingSigned => PayloadCheck::Chunked(Box::new(ChunkedDecoder::new(
                Some(signing(key)),
                false,
                &self.trailers,
                self.decoded_length,
            )?)),
            ContentSha256::StreamingSignedTrailer => {
                PayloadCheck::Chunked(Box::new(ChunkedDecoder::new(
                    Some(signing(key)),
                    true,
                    &self.trailers,
                    self.decoded_length,
                )?))
            }
            ContentSha256::StreamingUnsignedTrailer => PayloadCheck::Chunked(Box::new(
                ChunkedDecoder::new(None, false, &self.trailers, self.decoded_length)?,
            )),
        })
    }
}

/// Parses `Authorization: AWS4-HMAC-SHA256 ...`; `rest` follows the algorithm name.
pub(crate) fn parse_header(
    req: &RequestParts<'_>,
    rest: &str,
    now: OffsetDateTime,
    opts: &AuthOptions,
) -> Result<(String, PendingV4), AuthError> {
    let malformed = |reason: String| AuthError::AuthorizationHeaderMalformed { reason };
    if !rest.starts_with(' ') {
        return Err(malformed("the algorithm is not AWS4-HMAC-SHA256".into()));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',') {
        let component = component.trim();
        if component.is_empty() {
            continue;
        }
        let Some((key, value)) = component.split_once('=') else {
            return Err(malformed(format!("the component '{component}' has no '='")));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => return Err(malformed(format!("unknown component '{other}'"))),
        };
        if slot.replace(value.trim()).is_some() {
            return Err(malformed(format!("the component '{key}' is repeated")));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(malformed(
            "Credential, SignedHeaders and Signature are all required".into(),
        ));
    };
    let credential = parse_credential(credential, opts, malformed)?;
    let signed_headers = parse_signed_headers(signed_headers, malformed)?;

    let (amz_date, t) = request_date(req)?;
    if !amz_date.starts_with(&credential.scope.date) {
        return Err(malformed(format!(
            "Invalid credential date '{}'. Date is not the same as X-Amz-Date.",
            credential.scope.date
        )));
    }
    date::check_skew(t, now, opts.max_skew)?;
    check_amz_headers_signed(req, &signed_headers)?;

    let Some(content_sha256) = req.headers.get("x-amz-content-sha256") else {
        return Err(AuthError::invalid_request(
            "Missing required header for this request: x-amz-content-sha256",
        ));
    };
    let content_sha256 = content_sha256
        .to_str()
        .map_err(|_| AuthError::InvalidArgument {
            reason: "x-amz-content-sha256 is not ASCII".into(),
        })?;
    let payload = ContentSha256::parse(content_sha256)?;

    pending(
        req,
        SignedParts {
            access_key_id: credential.access_key_id,
            scope: credential.scope,
            amz_date,
            signed_headers,
            query: &canonical::parse_query(req.uri.query()),
            query_exclude: &[],
            payload_hash: content_sha256.trim().to_owned(),
            payload,
            signature_hex: signature,
            presigned: false,
        },
    )
}

/// The request timestamp: `x-amz-date`, else `Date` (ISO 8601 basic or an HTTP date),
/// as the string that was signed and as a time.
fn request_date(req: &RequestParts<'_>) -> Result<(String, OffsetDateTime), AuthError> {
    let missing = || {
        AuthError::access_denied("AWS authentication requires a valid Date or x-amz-date header")
    };
    if let Some(value) = req.headers.get("x-amz-date") {
        let value = value.to_str().map_err(|_| missing())?.trim();
        let t = date::parse_amz_date(value).ok_or_else(missing)?;
        return Ok((value.to_owned(), t));
    }
    let value = req
        .headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?
        .trim();
    let t = date::parse_amz_date(value)
        .or_else(|| date::parse_http_date(value))
        .ok_or_else(missing)?;
    Ok((date::format_amz_date(t), t))
}
