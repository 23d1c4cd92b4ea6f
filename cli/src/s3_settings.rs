//! The settings `folio standalone` and `folio gateway` share: everything about the S3
//! gateway and admin API they both run. [`S3Args`] holds the flags (flattened into
//! each command's flags), [`RawS3Toml`] the TOML keys (read beside each command's own
//! keys by [`crate::config_file`]), and [`resolve`] merges them, flag over file over
//! default, into [`S3Settings`], naming the key in any error. That covers the listen
//! addresses, region, root domain, entry size, the TLS file pair, and the
//! `[autorecovery]` and `[gc]` tables. `docs/operations.md` lists the keys.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use folio_gateway::config::TlsConfig;
use folio_gateway::{AutoRecoveryConfig, GatewayConfig};
use folio_ledger::{ClientConfig, QuorumConfig};
use serde::Deserialize;

use crate::autorecovery_settings::{self, AutoRecoveryArgs, RawAutoRecoveryToml};
use crate::gc_settings::{self, GcArgs, GcSettings, RawGcToml};
use crate::units::{ConfigError, invalid, parse_size};

/// The shared flags; each is the TOML key of the same name with dashes.
#[derive(Debug, Args, Default)]
pub struct S3Args {
    /// Address of the S3 API [default: 127.0.0.1:9000].
    #[arg(long)]
    pub s3_listen: Option<String>,
    /// Address of the admin API; keep it on loopback [default: 127.0.0.1:9001].
    #[arg(long)]
    pub admin_listen: Option<String>,
    /// Region reported to clients and expected in signatures [default: us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// Domain for virtual-host-style requests (bucket.<domain>) [default: none].
    #[arg(long)]
    pub root_domain: Option<String>,
    /// Bytes per ledger entry of new objects [default: 1MiB].
    #[arg(long)]
    pub entry_size: Option<String>,
    /// PEM certificate chain for HTTPS on the S3 listener (with --tls-key)
    /// [default: none, plain HTTP].
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert [default: none].
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub autorecovery: AutoRecoveryArgs,
    #[command(flatten)]
    pub gc: GcArgs,
}

/// The shared TOML keys as written. Unknown top-level keys are not denied here but by
/// [`crate::config_file::parse`], which knows the command's own keys too; the tables
/// deny their own unknown keys.
#[derive(Debug, Default, Deserialize)]
pub struct RawS3Toml {
    s3_listen: Option<String>,
    admin_listen: Option<String>,
    region: Option<String>,
    root_domain: Option<String>,
    entry_size: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    autorecovery: Option<RawAutoRecoveryToml>,
    gc: Option<RawGcToml>,
}

/// The validated shared settings.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Settings {
    /// Where the S3 API listens.
    pub s3_listen: SocketAddr,
    /// Where the admin API listens.
    pub admin_listen: SocketAddr,
    /// The region clients sign for.
    pub region: String,
    /// The domain of virtual-host-style requests, if any.
    pub root_domain: Option<String>,
    /// Bytes per ledger entry of new objects.
    pub entry_size_bytes: u32,
    /// The certificate and key files, when the S3 listener speaks TLS.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// The `[autorecovery]` table; `None` when it is off.
    pub autorecovery: Option<AutoRecoveryConfig>,
    /// The `[gc]` table.
    pub gc: GcSettings,
}

/// Merges the shared flags over the file over the defaults, and validates.
pub fn resolve(args: &S3Args, file: &RawS3Toml) -> Result<S3Settings, ConfigError> {
    Ok(S3Settings {
        s3_listen: address(
            "s3_listen",
            &args.s3_listen,
            &file.s3_listen,
            "127.0.0.1:9000",
        )?,
        admin_listen: address(
            "admin_listen",
            &args.admin_listen,
            &file.admin_listen,
            "127.0.0.1:9001",
        )?,
        region: region(&args.region, &file.region)?,
        root_domain: args.root_domain.clone().or(file.root_domain.clone()),
        entry_size_bytes: entry_size(&args.entry_size, &file.entry_size)?,
        tls_files: tls_files(
            args.tls_cert.clone().or(file.tls_cert.clone()),
            args.tls_key.clone().or(file.tls_key.clone()),
        )?,
        autorecovery: autorecovery_settings::resolve(
            &args.autorecovery,
            file.autorecovery.as_ref(),
            true,
        )?,
        gc: gc_settings::resolve(&args.gc, file.gc.as_ref())?,
    })
}

impl S3Settings {
    /// Reads the TLS files, before anything starts; an error names tls_cert or
    /// tls_key.
    pub fn load_tls(&self) -> anyhow::Result<Option<TlsConfig>> {
        Ok(match &self.tls_files {
            Some((cert, key)) => Some(TlsConfig::from_pem_files(cert, key)?),
            None => None,
        })
    }

    /// The gateway's configuration from these settings, with the admin token, the
    /// root access key and the TLS configuration from [`S3Settings::load_tls`].
    pub fn gateway_config(
        &self,
        admin_token: String,
        root_access_key: String,
        tls: Option<TlsConfig>,
    ) -> GatewayConfig {
        let mut config = GatewayConfig::new(self.s3_listen, self.admin_listen, admin_token);
        config.region = self.region.clone();
        config.root_domain = self.root_domain.clone();
        config.entry_size_bytes = self.entry_size_bytes;
        config.root_access_key = Some(root_access_key);
        config.autorecovery = self.autorecovery;
        self.gc.apply(&mut config);
        config.tls = tls;
        config
    }
}

/// The ledger client configuration of a gateway writing with `quorum`.
pub fn client_config(quorum: QuorumConfig) -> ClientConfig {
    let mut config = ClientConfig {
        quorum,
        ..ClientConfig::default()
    };
    // Bounded memory per upload: this many entries in flight.
    config.writer.max_in_flight_entries = 8;
    config
}

/// A listen address: flag, else file, else `default`.
fn address(
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
fn entry_size(flag: &Option<String>, file: &Option<String>) -> Result<u32, ConfigError> {
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
fn region(flag: &Option<String>, file: &Option<String>) -> Result<String, ConfigError> {
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
fn tls_files(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_and_flags() {
        let c = resolve(&S3Args::default(), &RawS3Toml::default()).expect("defaults");
        assert_eq!(c.s3_listen, "127.0.0.1:9000".parse().expect("addr"));
        assert_eq!(c.admin_listen, "127.0.0.1:9001".parse().expect("addr"));
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.root_domain, None);
        assert_eq!(c.entry_size_bytes, 1 << 20);
        assert_eq!(c.tls_files, None);
        assert_eq!(c.autorecovery, Some(AutoRecoveryConfig::default()));
        let file: RawS3Toml = toml::from_str(
            "region = \"eu-west-1\"\nroot_domain = \"s3.local\"\nentry_size = \"64KiB\"\n\
             [gc]\ninterval = \"1s\"\n[autorecovery]\nenabled = false\n",
        )
        .expect("toml");
        let args = S3Args {
            region: Some("us-west-2".into()),
            ..S3Args::default()
        };
        let c = resolve(&args, &file).expect("valid");
        assert_eq!(c.region, "us-west-2");
        assert_eq!(c.root_domain.as_deref(), Some("s3.local"));
        assert_eq!(c.entry_size_bytes, 64 << 10);
        assert_eq!(c.autorecovery, None);
        let config = c.gateway_config("token".into(), "root".into(), None);
        assert_eq!(config.gc.interval, std::time::Duration::from_secs(1));
        assert_eq!(config.entry_size_bytes, 64 << 10);
        assert_eq!(config.root_access_key.as_deref(), Some("root"));
    }

    #[test]
    fn bad_values_name_their_key() {
        // How to spoil the flags, and the key the error must name.
        type Case = (fn(&mut S3Args), &'static str);
        let cases: [Case; 6] = [
            (|a| a.s3_listen = Some("nowhere".into()), "s3_listen"),
            (|a| a.admin_listen = Some("9001".into()), "admin_listen"),
            (|a| a.entry_size = Some("1KiB".into()), "entry_size"),
            (|a| a.region = Some("us east".into()), "region"),
            (|a| a.tls_cert = Some("cert.pem".into()), "tls_key"),
            (|a| a.tls_key = Some("key.pem".into()), "tls_cert"),
        ];
        for (set, key) in cases {
            let mut args = S3Args::default();
            set(&mut args);
            let err = resolve(&args, &RawS3Toml::default()).expect_err(key);
            assert_eq!(err.key, key, "{err}");
        }
        let file: RawS3Toml = toml::from_str("[gc]\ninterval = \"0s\"\n").expect("toml");
        let err = resolve(&S3Args::default(), &file).expect_err("zero interval");
        assert_eq!(err.key, "gc.interval");
    }
}
