//! Value encoding: one format-version byte, then the value in postcard (serde's
//! compact, stable binary format: varint integers, length-prefixed strings and
//! sequences, fields in declaration order).
//!
//! Postcard does not describe itself, so a change to any stored struct is a new format
//! version: bump [`FORMAT_VERSION`], keep a decoder for the old one, and note it in
//! `docs/format.md`. Counters written by atomic add are raw 8-byte integers instead
//! (see [`crate::kv::decode_counter`]).

use crate::NsError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The version byte of every value this build writes.
pub const FORMAT_VERSION: u8 = 1;

/// Encodes `value` behind the version byte.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, NsError> {
    postcard::to_extend(value, vec![FORMAT_VERSION]).map_err(|e| NsError::Invalid {
        what,
        reason: format!("cannot encode: {e}"),
    })
}

/// Decodes a value written by [`encode`]; `what` names it in errors.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, NsError> {
    let corrupt = |reason: String| NsError::Corrupt { what, reason };
    match bytes.split_first() {
        Some((&FORMAT_VERSION, rest)) => {
            let (value, tail) =
                postcard::take_from_bytes(rest).map_err(|e| corrupt(e.to_string()))?;
            if !tail.is_empty() {
                return Err(corrupt(format!("{} trailing bytes", tail.len())));
            }
            Ok(value)
        }
        Some((version, _)) => Err(corrupt(format!("unknown format version {version}"))),
        None => Err(corrupt("empty value".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let v = (7u64, "x".to_owned(), vec![1u8, 2]);
        let bytes = encode("test", &v).expect("encode");
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(
            decode::<(u64, String, Vec<u8>)>("test", &bytes).expect("decode"),
            v
        );
        assert!(decode::<(u64, String)>("test", &[]).is_err());
        assert!(decode::<(u64, String)>("test", &[9, 1, 2]).is_err());
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode::<(u64, String, Vec<u8>)>("test", &long).is_err());
        assert!(decode::<(u64, String, Vec<u8>)>("test", &bytes[..3]).is_err());
    }
}
