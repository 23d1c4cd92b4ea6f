//! The `Range` header of GetObject: one byte range, resolved against the object size.

use crate::error::S3Error;

/// One byte range of a `Range: bytes=…` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last`, both inclusive (`last` may lie past the end).
    FromTo {
        /// The first byte.
        first: u64,
        /// The last byte, inclusive.
        last: u64,
    },
    /// `bytes=first-`: from `first` to the end.
    From {
        /// The first byte.
        first: u64,
    },
    /// `bytes=-n`: the last `n` bytes.
    Suffix {
        /// How many bytes from the end.
        len: u64,
    },
}

impl ByteRange {
    /// Parses a `Range` header value. Returns `None` for anything but one
    /// syntactically valid range (several ranges included): S3 then ignores the header
    /// and serves the whole object.
    pub fn parse(value: &str) -> Option<ByteRange> {
        let spec = value.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let (first, last) = (first.trim(), last.trim());
        let number = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        match (first.is_empty(), last.is_empty()) {
            (true, true) => None,
            (true, false) => Some(ByteRange::Suffix { len: number(last)? }),
            (false, true) => Some(ByteRange::From {
                first: number(first)?,
            }),
            (false, false) => {
                let (first, last) = (number(first)?, number(last)?);
                (first <= last).then_some(ByteRange::FromTo { first, last })
            }
        }
    }

    /// The range within an object of `size` bytes, as `start..end` (end exclusive),
    /// or [`S3Error::InvalidRange`] if no byte of it exists (a range starting at or
    /// past the end, or a zero-length suffix).
    pub fn resolve(&self, size: u64) -> Result<std::ops::Range<u64>, S3Error> {
        let unsatisfiable = S3Error::InvalidRange { size };
        match *self {
            ByteRange::FromTo { first, last } => {
                if first >= size {
                    return Err(unsatisfiable);
                }
                Ok(first..last.saturating_add(1).min(size))
            }
            ByteRange::From { first } => {
                if first >= size {
                    return Err(unsatisfiable);
                }
                Ok(first..size)
            }
            ByteRange::Suffix { len } => {
                if len == 0 || size == 0 {
                    return Err(unsatisfiable);
                }
                Ok(size.saturating_sub(len)..size)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            ByteRange::parse("bytes=0-9"),
            Some(ByteRange::FromTo { first: 0, last: 9 })
        );
        assert_eq!(
            ByteRange::parse("bytes=100-"),
            Some(ByteRange::From { first: 100 })
        );
        assert_eq!(
            ByteRange::parse("bytes=-500"),
            Some(ByteRange::Suffix { len: 500 })
        );
    }

    #[test]
    fn invalid_or_multiple_ranges_are_ignored() {
        for v in [
            "bytes=",
            "bytes=-",
            "bytes=9-0",
            "bytes=a-b",
            "bytes=0-1,3-4",
            "items=0-1",
            "0-1",
            "bytes=+1-2",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(ByteRange::parse(v), None, "{v}");
        }
    }

    #[test]
    fn resolves_against_the_size() {
        let r = |s| ByteRange::parse(s).unwrap();
        assert_eq!(r("bytes=0-9").resolve(100), Ok(0..10));
        assert_eq!(r("bytes=90-200").resolve(100), Ok(90..100));
        assert_eq!(r("bytes=50-").resolve(100), Ok(50..100));
        assert_eq!(r("bytes=-10").resolve(100), Ok(90..100));
        assert_eq!(r("bytes=-1000").resolve(100), Ok(0..100));
        assert_eq!(r("bytes=0-18446744073709551615").resolve(5), Ok(0..5));
    }

    #[test]
    fn unsatisfiable_ranges_are_invalid_range_with_the_size() {
        let r = |s| ByteRange::parse(s).unwrap();
        for (range, size) in [
            ("bytes=100-200", 100),
            ("bytes=100-", 100),
            ("bytes=-0", 100),
            ("bytes=0-0", 0),
            ("bytes=-5", 0),
        ] {
            assert_eq!(
                r(range).resolve(size),
                Err(S3Error::InvalidRange { size }),
                "{range}"
            );
        }
    }
}
