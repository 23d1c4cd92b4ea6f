//! Human-readable configuration values: sizes ("64KiB", "1MiB", "1.5GB", "4096")
//! and durations ("5ms", "10s", "0s"), and the error that names the offending key.

use std::time::Duration;

/// An invalid configuration value, naming its key.
#[derive(Debug)]
pub struct ConfigError {
    /// The TOML key (the flag is the same with dashes; a key in a table, `table.key`,
    /// has the flag `--table-key`).
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid configuration: `{}` (flag --{}): {}",
            self.key,
            self.key.replace(['_', '.'], "-"),
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Makes a [`ConfigError`] for `key`.
pub fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        message: message.into(),
    }
}

/// Parses a size: a number with an optional unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use B, KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    if num.is_empty() {
        return Err(format!("{s:?} is not a size like \"64KiB\" or \"1MiB\""));
    }
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like \"64KiB\""))?;
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(bytes.round() as u64)
}

/// A duration setting: the flag over the file over `default`, an error naming `key`.
pub fn duration_setting(
    key: &'static str,
    flag: &Option<String>,
    file: &Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match flag.as_ref().or(file.as_ref()) {
        Some(s) => parse_duration(s).map_err(|m| invalid(key, m)),
        None => Ok(default),
    }
}

/// Parses a duration such as "5ms", "10s" or "1m 30s".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration like \"5ms\" or \"10s\": {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1 MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
    }
}
