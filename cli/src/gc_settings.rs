//! The ledger GC settings that `folio standalone` and `folio gateway` share: the TOML
//! table `[gc]`, whose key `k` has the flag `--gc-k` (with dashes).

use std::time::Duration;

use clap::Args;
use folio_gateway::GatewayConfig;
use serde::Deserialize;

use crate::units::{ConfigError, duration_setting, invalid};

/// Flags of the `[gc]` table.
#[derive(Debug, Args, Default)]
pub struct GcArgs {
    /// How often the GC worker deletes the ledgers of deleted and replaced objects
    /// [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub gc_interval: Option<String>,
    /// How long a deleted or replaced object's ledgers stay readable (for GETs still
    /// streaming them) before GC deletes them [default: 5m].
    #[arg(long, value_name = "DURATION")]
    pub gc_unlinked_grace: Option<String>,
    /// How long the ledger of an upload that never completed is kept before GC
    /// deletes it; longer than the slowest upload [default: 24h].
    #[arg(long, value_name = "DURATION")]
    pub gc_orphan_grace: Option<String>,
}

/// The `[gc]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGcToml {
    interval: Option<String>,
    unlinked_grace: Option<String>,
    orphan_grace: Option<String>,
}

/// The validated `[gc]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcSettings {
    interval: Duration,
    unlinked_grace: Duration,
    orphan_grace: Duration,
}

impl GcSettings {
    /// Puts these settings into a gateway's configuration.
    pub fn apply(&self, config: &mut GatewayConfig) {
        config.gc.interval = self.interval;
        config.unlinked_grace = self.unlinked_grace;
        config.orphan_grace = self.orphan_grace;
    }
}

/// Merges the flags over the `[gc]` table over the gateway's defaults.
pub fn resolve(args: &GcArgs, file: Option<&RawGcToml>) -> Result<GcSettings, ConfigError> {
    let empty = RawGcToml::default();
    let file = file.unwrap_or(&empty);
    // The defaults live in one place: the gateway's own configuration.
    let defaults = GatewayConfig::new(
        ([127, 0, 0, 1], 0).into(),
        ([127, 0, 0, 1], 0).into(),
        String::new(),
    );
    let interval = duration_setting(
        "gc.interval",
        &args.gc_interval,
        &file.interval,
        defaults.gc.interval,
    )?;
    if interval.is_zero() {
        return Err(invalid("gc.interval", "must be longer than 0s"));
    }
    let unlinked_grace = duration_setting(
        "gc.unlinked_grace",
        &args.gc_unlinked_grace,
        &file.unlinked_grace,
        defaults.unlinked_grace,
    )?;
    let orphan_grace = duration_setting(
        "gc.orphan_grace",
        &args.gc_orphan_grace,
        &file.orphan_grace,
        defaults.orphan_grace,
    )?;
    // An upload links its ledger only if GC has not claimed the orphan record first;
    // a grace shorter than a minute would fail ordinary slow uploads.
    if orphan_grace < Duration::from_secs(60) {
        return Err(invalid(
            "gc.orphan_grace",
            "must be at least 60s: an upload still writing its ledger after it fails",
        ));
    }
    Ok(GcSettings {
        interval,
        unlinked_grace,
        orphan_grace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_flags_and_errors() {
        let config = resolve(&GcArgs::default(), None).expect("defaults");
        assert_eq!(config.interval, Duration::from_secs(10));
        assert_eq!(config.unlinked_grace, Duration::from_secs(300));
        let file: RawGcToml = toml::from_str("unlinked_grace = \"1s\"\n").expect("toml");
        let args = GcArgs {
            gc_interval: Some("2s".into()),
            ..GcArgs::default()
        };
        let config = resolve(&args, Some(&file)).expect("valid");
        assert_eq!(config.interval, Duration::from_secs(2));
        assert_eq!(config.unlinked_grace, Duration::from_secs(1));
        let bad = GcArgs {
            gc_orphan_grace: Some("1s".into()),
            ..GcArgs::default()
        };
        let err = resolve(&bad, None).expect_err("too short");
        assert_eq!(err.key, "gc.orphan_grace");
        assert!(err.to_string().contains("--gc-orphan-grace"), "{err}");
        assert!(toml::from_str::<RawGcToml>("every = \"1s\"\n").is_err());
    }
}
