//! Key ranges, range-read options and results.

use crate::KvError;

/// A half-open key range `[begin, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// First key included.
    pub begin: Vec<u8>,
    /// First key excluded.
    pub end: Vec<u8>,
}

impl KeyRange {
    /// The range `[begin, end)`.
    pub fn new(begin: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> Self {
        Self {
            begin: begin.into(),
            end: end.into(),
        }
    }

    /// Every key that starts with `prefix`.
    ///
    /// An all-`0xFF` (or empty) prefix has no successor; the range then ends at
    /// `[0xFF; 10_001]`, above any key a backend accepts.
    pub fn prefix(prefix: &[u8]) -> Self {
        let end = strinc(prefix).unwrap_or_else(|| vec![0xFF; super::MAX_KEY_BYTES + 1]);
        Self::new(prefix, end)
    }

    /// Whether the range holds no key at all.
    pub fn is_empty(&self) -> bool {
        self.begin >= self.end
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.begin.as_slice() && key < self.end.as_slice()
    }

    /// The rest of this range after a chunk whose last key was `last_key`: the
    /// streaming continuation of a range read.
    pub fn after(&self, last_key: &[u8], reverse: bool) -> Self {
        if reverse {
            Self::new(self.begin.clone(), last_key)
        } else {
            let mut begin = last_key.to_vec();
            begin.push(0);
            Self::new(begin, self.end.clone())
        }
    }

    pub(crate) fn check(&self) -> Result<(), KvError> {
        if self.begin > self.end {
            return Err(KvError::InvalidArgument("range begin is after its end"));
        }
        Ok(())
    }
}

/// The first key after every key that starts with `prefix`: `prefix` with trailing
/// `0xFF` bytes removed and its last byte incremented. `None` if `prefix` is empty or
/// all `0xFF`.
pub fn strinc(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut out = prefix[..=last].to_vec();
    out[last] += 1;
    Some(out)
}

/// Options of one range read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeOptions {
    /// Most pairs to return; 0 means no limit.
    pub limit: usize,
    /// Read from the end of the range backwards.
    pub reverse: bool,
}

impl RangeOptions {
    /// Forward, at most `limit` pairs (0: no limit).
    pub fn forward(limit: usize) -> Self {
        Self {
            limit,
            reverse: false,
        }
    }

    /// Backward, at most `limit` pairs (0: no limit).
    pub fn reverse(limit: usize) -> Self {
        Self {
            limit,
            reverse: true,
        }
    }
}

/// One key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// The result of one range read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeChunk {
    /// Pairs in the order read.
    pub kvs: Vec<KeyValue>,
    /// Whether the range holds more pairs past the last one returned.
    pub more: bool,
}

impl RangeChunk {
    /// The range left to read after this chunk, if [`RangeChunk::more`].
    pub fn continuation(&self, range: &KeyRange, reverse: bool) -> Option<KeyRange> {
        let last = self.kvs.last()?;
        self.more.then(|| range.after(&last.key, reverse))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strinc_skips_trailing_ff() {
        assert_eq!(strinc(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(strinc(&[1, 0xFF, 0xFF]), Some(vec![2]));
        assert_eq!(strinc(&[0xFF]), None);
        assert_eq!(strinc(&[]), None);
    }

    #[test]
    fn prefix_range_holds_exactly_the_prefixed_keys() {
        let r = KeyRange::prefix(b"a\xFF");
        assert!(r.contains(b"a\xFF"));
        assert!(r.contains(b"a\xFF\xFF\x00"));
        assert!(!r.contains(b"b"));
        assert!(!r.contains(b"a\xFE"));
    }

    #[test]
    fn after_continues_past_last_key() {
        let r = KeyRange::new(b"a".to_vec(), b"z".to_vec());
        assert_eq!(
            r.after(b"m", false),
            KeyRange::new(b"m\0".to_vec(), b"z".to_vec())
        );
        assert_eq!(
            r.after(b"m", true),
            KeyRange::new(b"a".to_vec(), b"m".to_vec())
        );
    }
}
