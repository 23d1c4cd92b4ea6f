//! SigV4 signing primitives: the credential scope, the signing key, strings to sign
//! (request, chunk, trailer) and constant-time comparison.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::AuthError;

/// The algorithm of SigV4 requests.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The only service folio answers for.
pub(crate) const SERVICE: &str = "s3";
/// The terminator of every credential scope.
pub(crate) const TERMINATOR: &str = "aws4_request";
/// Hex SHA-256 of the empty string.
pub(crate) const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The credential scope `<yyyymmdd>/<region>/s3/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The date, `yyyymmdd`.
    pub date: String,
    /// The region the client signed for.
    pub region: String,
}

impl Scope {
    /// The scope as it appears in strings to sign.
    pub fn to_scope_string(&self) -> String {
        format!("{}/{}/{SERVICE}/{TERMINATOR}", self.date, self.region)
    }
}

/// A SigV4 signing key, derived from a secret for one date and region. Its bytes never
/// appear in `Debug` output.
#[derive(Clone)]
pub(crate) struct SigningKey([u8; 32]);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request")`.
    pub(crate) fn derive(secret_access_key: &str, scope: &Scope) -> Self {
        let mut k_secret = Vec::with_capacity(4 + secret_access_key.len());
        k_secret.extend_from_slice(b"AWS4");
        k_secret.extend_from_slice(secret_access_key.as_bytes());
        let k_date = hmac_sha256(&k_secret, scope.date.as_bytes());
        let k_region = hmac_sha256(&k_date, scope.region.as_bytes());
        let k_service = hmac_sha256(&k_region, SERVICE.as_bytes());
        SigningKey(hmac_sha256(&k_service, TERMINATOR.as_bytes()))
    }

    /// The signature of a string to sign.
    pub(crate) fn sign(&self, string_to_sign: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.0, string_to_sign)
    }
}

/// HMAC-SHA256.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The string to sign of a request: algorithm, timestamp, scope and the hash of the
/// canonical request.
pub(crate) fn request_string_to_sign(
    amz_date: &str,
    scope: &Scope,
    canonical_request: &[u8],
) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope.to_scope_string(),
        sha256_hex(canonical_request)
    )
}

/// The string to sign of one aws-chunked chunk, chained on the previous signature.
pub(crate) fn chunk_string_to_sign(
    amz_date: &str,
    scope: &str,
    previous_signature_hex: &str,
    chunk_sha256: &[u8; 32],
) -> String {
    format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous_signature_hex}\n\
         {EMPTY_SHA256_HEX}\n{}",
        hex::encode(chunk_sha256)
    )
}

/// The string to sign of the trailers, chained on the final chunk's signature.
pub(crate) fn trailer_string_to_sign(
    amz_date: &str,
    scope: &str,
    previous_signature_hex: &str,
    canonical_trailers: &[u8],
) -> String {
    format!(
        "AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous_signature_hex}\n{}",
        sha256_hex(canonical_trailers)
    )
}

/// Parses a hex SHA-256-sized signature; anything else cannot match.
pub(crate) fn parse_signature_hex(value: &str) -> Result<[u8; 32], AuthError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(value.trim(), &mut out).map_err(|_| AuthError::SignatureDoesNotMatch)?;
    Ok(out)
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing key of the AWS SigV4 documentation ("Deriving the signing key"
    /// example uses IAM; here we check the S3 examples' key through a known signature
    /// instead, in `sigv4` tests). This checks derivation is deterministic and that
    /// `Debug` leaks nothing.
    #[test]
    fn signing_key_debug_is_redacted() {
        let scope = Scope {
            date: "20130524".into(),
            region: "us-east-1".into(),
        };
        let key = SigningKey::derive("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &scope);
        let debug = format!("{key:?}");
        assert_eq!(debug, "SigningKey(<redacted>)");
        assert_eq!(
            key.sign(b"x"),
            SigningKey::derive("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &scope).sign(b"x")
        );
    }

    #[test]
    fn signature_hex_must_be_32_bytes() {
        assert!(parse_signature_hex(&"ab".repeat(32)).is_ok());
        assert_eq!(
            parse_signature_hex("abc"),
            Err(AuthError::SignatureDoesNotMatch)
        );
        assert_eq!(
            parse_signature_hex(&"zz".repeat(32)),
            Err(AuthError::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
