//! Reading a TOML configuration file whose top-level keys are split between two raw
//! structs: the command's own keys and the keys it shares with another command
//! ([`crate::s3_settings::RawS3Toml`]).
//!
//! Why not `#[serde(flatten)]`: serde's `deny_unknown_fields` does not work together
//! with `flatten`, and a flattened struct is read from a buffer, so toml's errors for
//! its keys lose their line and column. Instead the text is read three times, once per
//! struct (neither denies unknown keys at the top level, so each skips the other's
//! keys; their own tables still deny theirs) and once by [`check_keys`], which rejects
//! a key that neither struct declares, with the same message, line and column as
//! `deny_unknown_fields` would give. Configuration files are small; three reads cost
//! nothing that matters.

use std::fmt;
use std::path::Path;

use anyhow::Context as _;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor,
};

/// Reads `path` (or nothing: both structs default) into the command's own keys `T`
/// and the shared keys `S`, and rejects a key that neither declares. Errors name the
/// file. `T` and `S` must not declare the same key (see [`parse`]).
pub fn read<T, S>(path: Option<&Path>) -> anyhow::Result<(T, S)>
where
    T: DeserializeOwned + Default,
    S: DeserializeOwned + Default,
{
    let Some(path) = path else {
        return Ok((T::default(), S::default()));
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read config file {}", path.display()))?;
    parse(&text).with_context(|| format!("parse config file {}", path.display()))
}

/// Parses `text` as [`read`] does.
///
/// Panics if `T` and `S` declare the same key: that is a bug in their declarations.
pub fn parse<T, S>(text: &str) -> Result<(T, S), toml::de::Error>
where
    T: DeserializeOwned,
    S: DeserializeOwned,
{
    let mut keys = struct_fields::<T>();
    let shared = struct_fields::<S>();
    // An invariant of our own declarations, not of the input: a key read into both
    // structs would be two settings with one name.
    assert!(
        keys.iter().all(|k| !shared.contains(k)),
        "a key is declared by both {} and {}",
        std::any::type_name::<T>(),
        std::any::type_name::<S>()
    );
    keys.extend(shared);
    check_keys(text, &keys)?;
    Ok((toml::from_str(text)?, toml::from_str(text)?))
}

/// Fails on the first top-level key of `text` that is not in `known`.
fn check_keys(text: &str, known: &[&'static str]) -> Result<(), toml::de::Error> {
    KnownKeys(known).deserialize(toml::Deserializer::new(text))
}

/// The field names a derived `Deserialize` of a struct declares, in declaration
/// order: serde hands them to `deserialize_struct`, and this deserializer only
/// records them. Empty for a type that is not a struct.
fn struct_fields<T: DeserializeOwned>() -> Vec<&'static str> {
    struct Probe<'a>(&'a mut Vec<&'static str>);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.extend_from_slice(fields);
            // Stop here: only the names were wanted.
            Err(de::Error::custom("fields recorded"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    let mut fields = Vec::new();
    // The error is the probe's own stop signal (or "not a struct"); the names are
    // what it recorded.
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// A table whose keys must be among these; values are skipped.
struct KnownKeys<'a>(&'a [&'static str]);

impl<'de> DeserializeSeed<'de> for KnownKeys<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KnownKeys<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of settings")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // The key is checked while it is read, so the error carries its position.
        while map.next_key_seed(Key(self.0))?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// One key, which must be among these.
struct Key<'a>(&'a [&'static str]);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a setting name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        if self.0.contains(&key) {
            return Ok(());
        }
        // The same words as serde's `deny_unknown_fields`.
        let expected: Vec<String> = self.0.iter().map(|k| format!("`{k}`")).collect();
        Err(E::custom(format_args!(
            "unknown field `{key}`, expected one of {}",
            expected.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    struct Own {
        bookies: Option<usize>,
    }

    #[derive(Debug, Default, Deserialize)]
    struct Shared {
        region: Option<String>,
        gc: Option<Table>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Table {
        interval: Option<String>,
    }

    #[test]
    fn keys_go_to_their_struct() {
        let (own, shared): (Own, Shared) =
            parse("bookies = 3\nregion = \"x\"\n[gc]\ninterval = \"1s\"\n").expect("valid");
        assert_eq!(own.bookies, Some(3));
        assert_eq!(shared.region.as_deref(), Some("x"));
        assert_eq!(shared.gc.and_then(|t| t.interval).as_deref(), Some("1s"));
        assert_eq!(struct_fields::<Shared>(), ["region", "gc"]);
    }

    #[test]
    fn unknown_keys_are_rejected_where_they_stand() {
        let err = parse::<Own, Shared>("region = \"x\"\ns3_port = 1\n").expect_err("unknown");
        let text = err.to_string();
        assert!(text.contains("line 2, column 1"), "{text}");
        assert!(
            text.contains("unknown field `s3_port`, expected one of `bookies`, `region`, `gc`"),
            "{text}"
        );
        // Keys of a table are the table's own business, still denied with a position.
        let err = parse::<Own, Shared>("[gc]\nevery = \"1s\"\n").expect_err("unknown");
        assert!(err.to_string().contains("line 2"), "{err}");
        // A shared key's bad value keeps its position too.
        let err = parse::<Own, Shared>("bookies = 1\nregion = 5\n").expect_err("type");
        assert!(err.to_string().contains("line 2, column 10"), "{err}");
    }

    #[test]
    #[should_panic(expected = "a key is declared by both")]
    fn a_key_declared_twice_is_a_bug() {
        let _ = parse::<Own, Own>("bookies = 1\n");
    }
}
