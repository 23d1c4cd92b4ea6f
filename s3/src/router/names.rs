//! Bucket name and object key rules.

use crate::error::S3Error;

/// The longest object key S3 accepts, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks a bucket name against the S3 general-purpose bucket naming rules:
/// 3 to 63 characters of lower-case letters, digits, `-` and `.`; starting and ending
/// with a letter or digit; no `..`; not an IPv4 address; none of the prefixes and
/// suffixes AWS reserves. Fails with [`S3Error::InvalidBucketName`].
pub fn validate_bucket_name(name: &str) -> Result<(), S3Error> {
    let bytes = name.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let valid = (3..=63).contains(&bytes.len())
        && bytes.iter().all(|&b| alnum(b) || b == b'-' || b == b'.')
        && bytes.first().copied().is_some_and(alnum)
        && bytes.last().copied().is_some_and(alnum)
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
        && !["xn--", "sthree-", "amzn-s3-demo-"]
            .iter()
            .any(|p| name.starts_with(p))
        && !["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|s| name.ends_with(s));
    if valid {
        Ok(())
    } else {
        Err(S3Error::InvalidBucketName)
    }
}

/// Checks an object key: at most [`MAX_KEY_BYTES`] bytes
/// ([`S3Error::KeyTooLongError`]). Any other UTF-8 is a valid key, including `//`,
/// `../`, spaces and `+`.
pub fn check_key(key: &str) -> Result<(), S3Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::KeyTooLongError);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_bucket_names() {
        for name in [
            "abc",
            "my-bucket",
            "my.bucket.example",
            "a1b2c3",
            "123",
            &"a".repeat(63),
            "docexamplebucket1",
            "log-delivery-march-2020",
            "1.2.3.4a",
        ] {
            assert_eq!(validate_bucket_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn invalid_bucket_names() {
        for name in [
            "",
            "ab",
            &"a".repeat(64),
            "My-Bucket",
            "my_bucket",
            "-bucket",
            "bucket-",
            ".bucket",
            "bucket.",
            "my..bucket",
            "192.168.5.4",
            "xn--bucket",
            "sthree-bucket",
            "bucket-s3alias",
            "bucket--ol-s3",
            "my bucket",
            "bücket",
        ] {
            assert_eq!(
                validate_bucket_name(name),
                Err(S3Error::InvalidBucketName),
                "{name}"
            );
        }
    }

    #[test]
    fn keys_up_to_1024_bytes() {
        assert_eq!(check_key(&"k".repeat(1024)), Ok(()));
        assert_eq!(check_key(&"k".repeat(1025)), Err(S3Error::KeyTooLongError));
        // 512 two-byte characters are 1024 bytes; one more is too long.
        assert_eq!(check_key(&"é".repeat(512)), Ok(()));
        assert_eq!(check_key(&"é".repeat(513)), Err(S3Error::KeyTooLongError));
        assert_eq!(check_key("a//b/../c d+e"), Ok(()));
    }
}
