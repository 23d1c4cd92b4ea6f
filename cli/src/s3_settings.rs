//! Validation of the settings `folio standalone` and `folio gateway` share: listen
//! addresses, entry size, region and the TLS file pair. Each takes the flag and the
//! TOML value (the flag wins) and names its key in any error.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::units::{ConfigError, invalid, parse_size};

/// A listen address: flag, else file, else `default`.
pub fn address(
    key: &'static str,
    flag: &Option<String>,
    file: &Option<String>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let text = flag.as_deref().or(file.as_deref()).unwrap_or(default);
    text.parse()
        .map_err(|_| invalid(key, format!("{text:?} is not an IP address and port")))
}

/// `entry_size`: bytes per ledger entry of new objects, 4KiB–8MiB [default 1MiB].
pub fn entry_size(flag: &Option<String>, file: &Option<String>) -> Result<u32, ConfigError> {
    let bytes = match flag.as_ref().or(file.as_ref()) {
        Some(s) => parse_size(s).map_err(|m| invalid("entry_size", m))?,
        None => 1 << 20,
    };
    if !(4096..=8 << 20).contains(&bytes) {
        return Err(invalid("entry_size", "must be between 4KiB and 8MiB"));
    }
    Ok(bytes as u32)
}

/// `region`: letters, digits and dashes [default us-east-1].
pub fn region(flag: &Option<String>, file: &Option<String>) -> Result<String, ConfigError> {
    let region = flag
        .clone()
        .or(file.clone())
        .unwrap_or_else(|| "us-east-1".into());
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(invalid(
            "region",
            format!("{region:?} is not a region name"),
        ));
    }
    Ok(region)
}

/// `tls_cert` and `tls_key`: both or neither.
pub fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(invalid("tls_key", "must be set when tls_cert is")),
        (None, Some(_)) => Err(invalid("tls_cert", "must be set when tls_key is")),
    }
}
