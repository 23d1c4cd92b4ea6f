//! The auto-recovery settings that `folio standalone` and `folio gateway` share: the
//! TOML table `[autorecovery]`, whose key `k` has the flag `--autorecovery-k` (with
//! dashes), merged flag over file over default and validated into the gateway's
//! [`AutoRecoveryConfig`]. `docs/operations.md` lists the keys.

use std::time::Duration;

use clap::Args;
use folio_ledger::autorecovery::AutoRecoveryConfig;
use serde::Deserialize;

use crate::units::{ConfigError, duration_setting, invalid, parse_size};

/// Flags of the `[autorecovery]` table.
#[derive(Debug, Args, Default)]
pub struct AutoRecoveryArgs {
    /// Run auto-recovery in this process: the bookie prober, the auditor (one per
    /// cluster, elected by a lease) and a replication worker [default: true in a
    /// gateway or standalone, false in a bookie]. `--autorecovery` alone means true.
    #[arg(
        long,
        value_name = "BOOL",
        alias = "autorecovery",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub autorecovery_enabled: Option<bool>,
    /// How long a bookie must have been down before its ledgers are re-replicated
    /// [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub autorecovery_lost_bookie_delay: Option<String>,
    /// Time between audits for lost bookies [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub autorecovery_audit_interval: Option<String>,
    /// Time between checks that every closed ledger's entries are on each of its
    /// bookies, and between reads of the bookies' scrub reports [default: 24h].
    #[arg(long, value_name = "DURATION")]
    pub autorecovery_check_interval: Option<String>,
    /// Time between scans for ledgers left on bookies after their deletion
    /// [default: 24h].
    #[arg(long, value_name = "DURATION")]
    pub autorecovery_orphan_scan_interval: Option<String>,
    /// Time between probes of each configured bookie (a bookie missing 3 probes reads
    /// as down) [default: 5s].
    #[arg(long, value_name = "DURATION")]
    pub autorecovery_probe_interval: Option<String>,
    /// Bytes per second one ledger's re-replication copies at most; 0 is unlimited
    /// [default: 64MiB].
    #[arg(long, value_name = "SIZE")]
    pub autorecovery_rate: Option<String>,
    /// How long an open ledger must have been under-replicated before its writer is
    /// presumed gone and the ledger is fenced and recovered [default: 5m].
    #[arg(long, value_name = "DURATION")]
    pub autorecovery_open_ledger_grace: Option<String>,
    /// How often the replication worker looks for work when the queue is idle
    /// [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub autorecovery_poll_interval: Option<String>,
}

/// The `[autorecovery]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoRecoveryToml {
    enabled: Option<bool>,
    lost_bookie_delay: Option<String>,
    audit_interval: Option<String>,
    check_interval: Option<String>,
    orphan_scan_interval: Option<String>,
    probe_interval: Option<String>,
    rate: Option<String>,
    open_ledger_grace: Option<String>,
    poll_interval: Option<String>,
}

fn positive(key: &'static str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        return Err(invalid(key, "must be longer than 0s"));
    }
    Ok(d)
}

/// Merges the flags over the `[autorecovery]` table over the defaults; `None` when
/// auto-recovery is off (`enabled` defaults to `default_enabled`).
pub fn resolve(
    args: &AutoRecoveryArgs,
    file: Option<&RawAutoRecoveryToml>,
    default_enabled: bool,
) -> Result<Option<AutoRecoveryConfig>, ConfigError> {
    let (config, enabled) = resolve_all(args, file, default_enabled)?;
    Ok(enabled.then_some(config))
}

/// The validated settings, and whether auto-recovery is on. A bookie uses the prober
/// settings for its own registration even with auto-recovery off.
pub fn resolve_all(
    args: &AutoRecoveryArgs,
    file: Option<&RawAutoRecoveryToml>,
    default_enabled: bool,
) -> Result<(AutoRecoveryConfig, bool), ConfigError> {
    let empty = RawAutoRecoveryToml::default();
    let file = file.unwrap_or(&empty);
    let mut config = AutoRecoveryConfig::default();
    let auditor = &mut config.auditor;
    auditor.tick = positive(
        "autorecovery.audit_interval",
        duration_setting(
            "autorecovery.audit_interval",
            &args.autorecovery_audit_interval,
            &file.audit_interval,
            auditor.tick,
        )?,
    )?;
    // Renewed every tick: long enough that one slow tick does not lose it.
    auditor.lease = auditor.lease.max(auditor.tick * 6);
    auditor.lost_bookie_recovery_delay = duration_setting(
        "autorecovery.lost_bookie_delay",
        &args.autorecovery_lost_bookie_delay,
        &file.lost_bookie_delay,
        auditor.lost_bookie_recovery_delay,
    )?;
    auditor.check_interval = positive(
        "autorecovery.check_interval",
        duration_setting(
            "autorecovery.check_interval",
            &args.autorecovery_check_interval,
            &file.check_interval,
            auditor.check_interval,
        )?,
    )?;
    auditor.orphan_scan_interval = positive(
        "autorecovery.orphan_scan_interval",
        duration_setting(
            "autorecovery.orphan_scan_interval",
            &args.autorecovery_orphan_scan_interval,
            &file.orphan_scan_interval,
            auditor.orphan_scan_interval,
        )?,
    )?;
    config.prober.interval = positive(
        "autorecovery.probe_interval",
        duration_setting(
            "autorecovery.probe_interval",
            &args.autorecovery_probe_interval,
            &file.probe_interval,
            config.prober.interval,
        )?,
    )?;
    config.prober.probe_timeout = config.prober.probe_timeout.min(config.prober.interval);
    let worker = &mut config.worker;
    if let Some(rate) = args.autorecovery_rate.as_ref().or(file.rate.as_ref()) {
        worker.max_bytes_per_sec = parse_size(rate).map_err(|m| invalid("autorecovery.rate", m))?;
    }
    worker.open_ledger_grace = duration_setting(
        "autorecovery.open_ledger_grace",
        &args.autorecovery_open_ledger_grace,
        &file.open_ledger_grace,
        worker.open_ledger_grace,
    )?;
    worker.poll_interval = positive(
        "autorecovery.poll_interval",
        duration_setting(
            "autorecovery.poll_interval",
            &args.autorecovery_poll_interval,
            &file.poll_interval,
            worker.poll_interval,
        )?,
    )?;
    // The remaining settings are derived or fixed, so a failure here is ours; it
    // still names the table rather than panicking.
    config
        .auditor
        .validate()
        .map_err(|e| invalid("autorecovery", e.to_string()))?;
    config
        .prober
        .validate()
        .map_err(|e| invalid("autorecovery", e.to_string()))?;
    config
        .worker
        .validate()
        .map_err(|e| invalid("autorecovery", e.to_string()))?;
    let enabled = args
        .autorecovery_enabled
        .or(file.enabled)
        .unwrap_or(default_enabled);
    Ok((config, enabled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_on_and_safe() {
        let config = resolve(&AutoRecoveryArgs::default(), None, true)
            .expect("valid")
            .expect("on by default");
        assert_eq!(config, AutoRecoveryConfig::default());
    }

    #[test]
    fn flags_override_the_table_and_errors_name_the_key() {
        let file: RawAutoRecoveryToml =
            toml::from_str("lost_bookie_delay = \"2m\"\nrate = \"1MiB\"\n").expect("toml");
        let args = AutoRecoveryArgs {
            autorecovery_lost_bookie_delay: Some("5s".into()),
            ..AutoRecoveryArgs::default()
        };
        let config = resolve(&args, Some(&file), true)
            .expect("valid")
            .expect("on");
        assert_eq!(
            config.auditor.lost_bookie_recovery_delay,
            Duration::from_secs(5)
        );
        assert_eq!(config.worker.max_bytes_per_sec, 1 << 20);

        let bad = AutoRecoveryArgs {
            autorecovery_audit_interval: Some("0s".into()),
            ..AutoRecoveryArgs::default()
        };
        let err = resolve(&bad, None, true).expect_err("zero interval");
        assert_eq!(err.key, "autorecovery.audit_interval");
        assert!(
            err.to_string().contains("--autorecovery-audit-interval"),
            "{err}"
        );
        let file: RawAutoRecoveryToml = toml::from_str("rate = \"fast\"\n").expect("toml");
        let err = resolve(&AutoRecoveryArgs::default(), Some(&file), true).expect_err("bad rate");
        assert_eq!(err.key, "autorecovery.rate");
        assert!(toml::from_str::<RawAutoRecoveryToml>("speed = 1\n").is_err());
    }

    #[test]
    fn it_can_be_turned_off() {
        let file: RawAutoRecoveryToml = toml::from_str("enabled = false\n").expect("toml");
        assert_eq!(
            resolve(&AutoRecoveryArgs::default(), Some(&file), true).expect("valid"),
            None
        );
    }
}
