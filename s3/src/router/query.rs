//! The query string, decoded, with typed getters.

use percent_encoding::percent_decode;

use crate::error::S3Error;

use super::op::EncodingType;

/// The decoded query parameters of a request, in order. Names and values are
/// percent-decoded once, `+` meaning a space as in HTML forms (as S3 reads them); a
/// parameter without `=` has an empty value.
#[derive(Debug, Default)]
pub(crate) struct Query {
    params: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (without the `?`).
    pub(crate) fn parse(raw: Option<&str>) -> Result<Query, S3Error> {
        let mut params = Vec::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((form_decode(name)?, form_decode(value)?));
        }
        Ok(Query { params })
    }

    /// Whether the parameter is present (with or without a value).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.params.iter().any(|(n, _)| n == name)
    }

    /// The first value of the parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value as an owned string.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// The value, or empty if absent.
    pub(crate) fn string_or_empty(&self, name: &str) -> String {
        self.string(name).unwrap_or_default()
    }

    /// The value, with an empty value counting as absent.
    pub(crate) fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// A required non-empty parameter (e.g. `uploadId`).
    pub(crate) fn required(&self, name: &str) -> Result<String, S3Error> {
        self.non_empty(name)
            .ok_or_else(|| S3Error::invalid_argument(format!("{name} must not be empty")))
    }

    /// A non-negative integer in `min..=max`, or `default` if absent.
    pub(crate) fn number(
        &self,
        name: &str,
        default: u32,
        min: u32,
        max: u32,
    ) -> Result<u32, S3Error> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_number(name, v, min, max),
        }
    }

    /// An optional integer in `min..=max`.
    pub(crate) fn optional_number(
        &self,
        name: &str,
        min: u32,
        max: u32,
    ) -> Result<Option<u32>, S3Error> {
        self.get(name)
            .map(|v| parse_number(name, v, min, max))
            .transpose()
    }

    /// `encoding-type`: absent, or `url`.
    pub(crate) fn encoding_type(&self) -> Result<Option<EncodingType>, S3Error> {
        match self.get("encoding-type") {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("url") => Ok(Some(EncodingType::Url)),
            Some(_) => Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified in Request",
            )),
        }
    }

    /// A boolean parameter: `true` or `false` (any case), `default` if absent.
    pub(crate) fn boolean(&self, name: &str, default: bool) -> Result<bool, S3Error> {
        match self.get(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(S3Error::invalid_argument(format!(
                "{name} must be true or false"
            ))),
        }
    }
}

/// `partNumber`: an integer in 1..=10000.
pub(crate) fn parse_part_number(value: &str) -> Result<u32, S3Error> {
    parse_number("partNumber", value, 1, super::MAX_PART_NUMBER).map_err(|_| {
        S3Error::invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
    })
}

fn parse_number(name: &str, value: &str, min: u32, max: u32) -> Result<u32, S3Error> {
    let out_of_range =
        || S3Error::invalid_argument(format!("{name} must be an integer between {min} and {max}"));
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(out_of_range());
    }
    // Clamp absurdly long numbers rather than failing: S3 caps max-keys at 1000 anyway.
    let n: u64 = value.parse().unwrap_or(u64::MAX);
    if n < u64::from(min) {
        return Err(out_of_range());
    }
    if n > u64::from(max) {
        return Err(out_of_range());
    }
    u32::try_from(n).map_err(|_| out_of_range())
}

fn form_decode(s: &str) -> Result<String, S3Error> {
    let bytes: Vec<u8> = s
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&bytes)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| S3Error::InvalidURI)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_names_values_and_plus() {
        let q = Query::parse(Some("prefix=a%2Fb+c%2B&uploads&delimiter=&x=1&x=2")).unwrap();
        assert_eq!(q.get("prefix"), Some("a/b c+"));
        assert!(q.has("uploads"));
        assert_eq!(q.get("uploads"), Some(""));
        assert_eq!(q.non_empty("delimiter"), None);
        assert_eq!(q.get("x"), Some("1"));
        assert!(!q.has("marker"));
    }

    #[test]
    fn numbers_are_checked() {
        let q = Query::parse(Some("a=5&b=-1&c=abc&d=&e=99999999999999999999999")).unwrap();
        assert_eq!(q.number("a", 1000, 0, 1000), Ok(5));
        assert_eq!(q.number("missing", 1000, 0, 1000), Ok(1000));
        for name in ["b", "c", "d", "e"] {
            assert_eq!(
                q.number(name, 1000, 0, 1000).map_err(|e| e.code()),
                Err("InvalidArgument"),
                "{name}"
            );
        }
        assert!(q.number("a", 0, 6, 10).is_err());
    }

    #[test]
    fn invalid_utf8_is_invalid_uri() {
        assert_eq!(
            Query::parse(Some("prefix=%FF")).map(|_| ()),
            Err(S3Error::InvalidURI)
        );
    }
}
