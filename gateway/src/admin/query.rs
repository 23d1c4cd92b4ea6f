//! Query-string parameters of admin requests (`?bucket=b&prefix=a%2Fb&limit=10`).

use std::collections::BTreeMap;

use super::error::ApiError;

/// Decoded query parameters; a repeated name keeps its last value.
#[derive(Debug, Default)]
pub(crate) struct Query(BTreeMap<String, String>);

impl Query {
    /// Parses a raw query string.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut params = BTreeMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(decode(name)?, decode(value)?);
        }
        Ok(Query(params))
    }

    /// A parameter, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A parameter that must be given.
    pub(crate) fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::BadRequest(format!("missing query parameter {name:?}")))
    }

    /// A boolean parameter: absent, `false` or `0` is false; empty, `true` or `1` true.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("false" | "0") => Ok(false),
            Some("" | "true" | "1") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "{name}: expected true or false, got {other:?}"
            ))),
        }
    }

    /// An unsigned integer parameter.
    pub(crate) fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::BadRequest(format!("{name}: expected a number, got {v:?}"))
                })
            })
            .transpose()
    }

    /// A page size: `default` when absent, at least 1, at most `max`.
    pub(crate) fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        let limit = self.u64("limit")?.map_or(default, |n| n as usize);
        if limit == 0 || limit > max {
            return Err(ApiError::BadRequest(format!(
                "limit: must be between 1 and {max}"
            )));
        }
        Ok(limit)
    }
}

/// Percent-decoding, with `+` as a space.
fn decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ApiError::BadRequest("bad percent-encoding in query".into()))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::BadRequest("query is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_types_parameters() {
        let q = Query::parse(Some("bucket=b&prefix=a%2Fb+c&recursive&limit=5")).expect("parse");
        assert_eq!(q.get("prefix"), Some("a/b c"));
        assert!(q.flag("recursive").expect("flag"));
        assert!(!q.flag("absent").expect("flag"));
        assert_eq!(q.limit(10, 100).expect("limit"), 5);
        assert!(Query::parse(Some("x=%zz")).is_err());
        assert!(q.required("after").is_err());
    }
}
