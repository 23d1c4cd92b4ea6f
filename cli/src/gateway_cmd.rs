//! `folio gateway`: the S3 gateway and admin API in front of separate `folio bookie`
//! processes, until SIGTERM or Ctrl-C.
//!
//! The namespace is either embedded (`metadata_dir`, one gateway) or named by a URL
//! (`metadata = "fdb:///etc/foundationdb/fdb.cluster"`, for a build with the `fdb`
//! feature). The bookies are a static list (`bookies`); without one, a FoundationDB
//! namespace's bookie registry is used. Root credentials come from
//! `FOLIO_ROOT_ACCESS_KEY` / `FOLIO_ROOT_SECRET_KEY` and the admin token from
//! `FOLIO_ADMIN_TOKEN`: a gateway has no data directory of its own to keep generated
//! ones in, so they are required.
//!
//! Configuration is two-stage like `folio bookie`: TOML keys and flags of the same
//! names are read raw, merged (flag over file over default) and validated, and a bad
//! value is one error naming its key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use folio_gateway::config::TlsConfig;
use folio_gateway::{AutoRecoveryConfig, Gateway, GatewayConfig};
use folio_ledger::{BookieId, BookieSource, Candidate, ClientConfig, LedgerClient, QuorumConfig};
use folio_namespace::Db;
use serde::Deserialize;

use crate::autorecovery_settings::{self, AutoRecoveryArgs, RawAutoRecoveryToml};
use crate::gc_settings::{self, GcArgs, GcSettings, RawGcToml};
use crate::s3_settings;
use crate::units::{ConfigError, invalid};

/// Flags of `folio gateway`. Every key of the TOML file has a flag of the same name
/// with dashes; a flag overrides the file.
#[derive(Debug, Args, Default)]
pub struct GatewayArgs {
    /// TOML configuration file (see conf/gateway.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory of the embedded namespace (one gateway only). Exclusive with
    /// --metadata.
    #[arg(long)]
    pub metadata_dir: Option<PathBuf>,
    /// Namespace URL: fdb:///path/to/fdb.cluster (a build with the `fdb` feature) or
    /// embedded:///dir. Exclusive with --metadata-dir.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Bookie addresses, comma-separated (host:port,...) [default: the namespace's
    /// bookie registry, FoundationDB only].
    #[arg(long)]
    pub bookies: Option<String>,
    /// Bookies per ledger (E) [default: 3].
    #[arg(long)]
    pub ensemble_size: Option<usize>,
    /// Copies of each entry (Qw) [default: 3].
    #[arg(long)]
    pub write_quorum: Option<usize>,
    /// Acknowledgements an entry needs (Qa) [default: 2].
    #[arg(long)]
    pub ack_quorum: Option<usize>,
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

/// The TOML file as written, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGatewayToml {
    metadata_dir: Option<PathBuf>,
    metadata: Option<String>,
    bookies: Option<Vec<String>>,
    ensemble_size: Option<usize>,
    write_quorum: Option<usize>,
    ack_quorum: Option<usize>,
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

/// Where the namespace lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Metadata {
    /// The embedded store in this directory.
    Dir(PathBuf),
    /// A store URL for `folio_namespace::kv::open_url`.
    Url(String),
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySettings {
    metadata: Metadata,
    /// `None`: the namespace's bookie registry.
    bookies: Option<Vec<String>>,
    quorum: QuorumConfig,
    s3_listen: SocketAddr,
    admin_listen: SocketAddr,
    region: String,
    root_domain: Option<String>,
    entry_size_bytes: u32,
    tls_files: Option<(PathBuf, PathBuf)>,
    /// The `[autorecovery]` table; `None` when it is off.
    autorecovery: Option<AutoRecoveryConfig>,
    /// The `[gc]` table.
    gc: GcSettings,
}

/// A `host:port` bookie address.
fn bookie_address(text: &str) -> Result<String, ConfigError> {
    let text = text.trim();
    let valid = text
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(invalid(
            "bookies",
            format!("{text:?} is not a host:port address"),
        ))
    }
}

/// Merges flags over the file over defaults, and validates.
pub fn resolve(args: &GatewayArgs, file: &RawGatewayToml) -> Result<GatewaySettings, ConfigError> {
    let dir = args.metadata_dir.clone().or(file.metadata_dir.clone());
    let url = args.metadata.clone().or(file.metadata.clone());
    let metadata = match (dir, url) {
        (Some(dir), None) => Metadata::Dir(dir),
        (None, Some(url)) => {
            if !(url.starts_with("fdb://") || url.starts_with("embedded://")) {
                return Err(invalid(
                    "metadata",
                    format!("{url:?}: expected fdb:///path/to/fdb.cluster or embedded:///dir"),
                ));
            }
            Metadata::Url(url)
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "metadata",
                "set metadata or metadata_dir, not both",
            ));
        }
        (None, None) => {
            return Err(invalid(
                "metadata_dir",
                "required (or metadata = \"fdb:///path/to/fdb.cluster\")",
            ));
        }
    };
    let bookies = match (&args.bookies, &file.bookies) {
        (Some(flag), _) => Some(
            flag.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(bookie_address)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        (None, Some(list)) => Some(
            list.iter()
                .map(|s| bookie_address(s))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        (None, None) => None,
    };
    match (&bookies, &metadata) {
        (Some(list), _) if list.is_empty() => {
            return Err(invalid("bookies", "the list is empty"));
        }
        (None, m) if !matches!(m, Metadata::Url(u) if u.starts_with("fdb://")) => {
            return Err(invalid(
                "bookies",
                "required: only a FoundationDB namespace has a bookie registry",
            ));
        }
        _ => {}
    }
    let ensemble = args.ensemble_size.or(file.ensemble_size).unwrap_or(3);
    let write = args.write_quorum.or(file.write_quorum).unwrap_or(3);
    let ack = args.ack_quorum.or(file.ack_quorum).unwrap_or(2);
    let quorum = QuorumConfig::new(ensemble, write, ack).map_err(|e| {
        invalid(
            "ensemble_size",
            format!("E={ensemble} Qw={write} Qa={ack}: {e} (need E >= Qw >= Qa >= 1)"),
        )
    })?;
    if let Some(list) = &bookies
        && list.len() < ensemble
    {
        return Err(invalid(
            "ensemble_size",
            format!("{ensemble} is more than the {} bookies listed", list.len()),
        ));
    }
    let entry_size = s3_settings::entry_size(&args.entry_size, &file.entry_size)?;
    let region = s3_settings::region(&args.region, &file.region)?;
    let tls_files = s3_settings::tls_files(
        args.tls_cert.clone().or(file.tls_cert.clone()),
        args.tls_key.clone().or(file.tls_key.clone()),
    )?;
    let autorecovery =
        autorecovery_settings::resolve(&args.autorecovery, file.autorecovery.as_ref(), true)?;
    let gc = gc_settings::resolve(&args.gc, file.gc.as_ref())?;
    Ok(GatewaySettings {
        autorecovery,
        gc,
        metadata,
        bookies,
        quorum,
        s3_listen: s3_settings::address(
            "s3_listen",
            &args.s3_listen,
            &file.s3_listen,
            "127.0.0.1:9000",
        )?,
        admin_listen: s3_settings::address(
            "admin_listen",
            &args.admin_listen,
            &file.admin_listen,
            "127.0.0.1:9001",
        )?,
        region,
        root_domain: args.root_domain.clone().or(file.root_domain.clone()),
        entry_size_bytes: entry_size,
        tls_files,
    })
}

/// Runs `folio gateway`.
pub fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read config file {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("parse config file {}", path.display()))?
        }
        None => RawGatewayToml::default(),
    };
    let settings = resolve(&args, &file)?;
    let tls = match &settings.tls_files {
        Some((cert, key)) => Some(TlsConfig::from_pem_files(cert, key)?),
        None => None,
    };
    let access_key = required_env("FOLIO_ROOT_ACCESS_KEY", 1)?;
    let secret = required_env("FOLIO_ROOT_SECRET_KEY", 8)?;
    let admin_token = required_env("FOLIO_ADMIN_TOKEN", 16)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(serve(settings, tls, access_key, secret, admin_token))
}

fn required_env(name: &str, min_len: usize) -> anyhow::Result<String> {
    match std::env::var(name) {
        Ok(v) if v.len() >= min_len => Ok(v),
        Ok(_) => anyhow::bail!("{name} must be at least {min_len} characters"),
        Err(_) => anyhow::bail!("{name} must be set for folio gateway"),
    }
}

async fn serve(
    settings: GatewaySettings,
    tls: Option<TlsConfig>,
    access_key: String,
    secret: String,
    admin_token: String,
) -> anyhow::Result<()> {
    let store: Arc<dyn folio_namespace::KvStore> = match &settings.metadata {
        Metadata::Dir(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("create metadata directory {}", dir.display()))?;
            Arc::new(
                folio_namespace::EmbeddedStore::open(
                    dir,
                    folio_namespace::EmbeddedOptions::default(),
                )
                .with_context(|| format!("open the namespace in {}", dir.display()))?,
            )
        }
        Metadata::Url(url) => folio_namespace::kv::open_url(url)
            .with_context(|| format!("open the namespace at {url}"))?,
    };
    let db = Db::new(store);
    crate::standalone_cmd::ensure_root_key(&db, &access_key, &secret).await?;
    let source = match &settings.bookies {
        Some(list) => BookieSource::Static(
            list.iter()
                .map(|a| Candidate {
                    id: BookieId::new(a.clone()),
                    rack: None,
                })
                .collect(),
        ),
        None => BookieSource::Registry,
    };
    let mut client_config = ClientConfig {
        quorum: settings.quorum,
        ..ClientConfig::default()
    };
    // Bounded memory per upload: this many entries in flight.
    client_config.writer.max_in_flight_entries = 8;
    let ledgers = LedgerClient::new(db.clone(), source, client_config);

    let mut gateway_config =
        GatewayConfig::new(settings.s3_listen, settings.admin_listen, admin_token);
    gateway_config.region = settings.region.clone();
    gateway_config.root_domain = settings.root_domain.clone();
    gateway_config.entry_size_bytes = settings.entry_size_bytes;
    gateway_config.root_access_key = Some(access_key);
    gateway_config.autorecovery = settings.autorecovery;
    settings.gc.apply(&mut gateway_config);
    let scheme = if tls.is_some() { "https" } else { "http" };
    gateway_config.tls = tls;
    let gateway = Gateway::start(gateway_config, db, ledgers)
        .await
        .context("start the gateway")?;
    let bookies = match &settings.bookies {
        Some(list) => format!("{} bookies", list.len()),
        None => "bookies from the registry".to_owned(),
    };
    eprintln!(
        "folio gateway: S3 on {scheme}://{}, admin on http://{}, {bookies}",
        gateway.s3_addr(),
        gateway.admin_addr(),
    );
    crate::signal::wait_for_shutdown().await?;
    tracing::info!("signal received; shutting down");
    gateway.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> GatewayArgs {
        GatewayArgs {
            metadata_dir: Some("ns".into()),
            bookies: Some("127.0.0.1:3181,127.0.0.1:3182,127.0.0.1:3183".into()),
            ..GatewayArgs::default()
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let file: RawGatewayToml =
            toml::from_str("bookies = [\"a:1\", \"b:2\"]\nensemble_size = 2\nwrite_quorum = 2\n")
                .expect("valid toml");
        let args = GatewayArgs {
            metadata_dir: Some("ns".into()),
            ..GatewayArgs::default()
        };
        let c = resolve(&args, &file).expect("valid");
        assert_eq!(c.bookies, Some(vec!["a:1".to_owned(), "b:2".to_owned()]));
        assert_eq!(c.quorum, QuorumConfig::new(2, 2, 2).expect("quorum"));
        assert_eq!(c.s3_listen, "127.0.0.1:9000".parse().expect("addr"));
        let c = resolve(&base(), &RawGatewayToml::default()).expect("valid");
        assert_eq!(c.bookies.map(|b| b.len()), Some(3));
        assert_eq!(c.metadata, Metadata::Dir("ns".into()));
    }

    #[test]
    fn bad_values_name_their_key() {
        let file = RawGatewayToml::default();
        let bad = |args: GatewayArgs, key: &str| {
            let err = resolve(&args, &file).expect_err("invalid").to_string();
            assert!(err.contains(key), "{key}: {err}");
        };
        bad(
            GatewayArgs {
                metadata_dir: None,
                ..base()
            },
            "metadata_dir",
        );
        bad(
            GatewayArgs {
                metadata: Some("redis://x".into()),
                metadata_dir: None,
                ..base()
            },
            "metadata",
        );
        bad(
            GatewayArgs {
                bookies: None,
                ..base()
            },
            "bookies",
        );
        bad(
            GatewayArgs {
                bookies: Some("nowhere".into()),
                ..base()
            },
            "bookies",
        );
        bad(
            GatewayArgs {
                ensemble_size: Some(4),
                write_quorum: Some(4),
                ..base()
            },
            "ensemble_size",
        );
        bad(
            GatewayArgs {
                ack_quorum: Some(5),
                ..base()
            },
            "ensemble_size",
        );
        bad(
            GatewayArgs {
                s3_listen: Some("x".into()),
                ..base()
            },
            "s3_listen",
        );
        bad(
            GatewayArgs {
                tls_cert: Some("c.pem".into()),
                ..base()
            },
            "tls_key",
        );
    }

    #[test]
    fn fdb_without_bookies_uses_the_registry() {
        let args = GatewayArgs {
            metadata: Some("fdb:///etc/foundationdb/fdb.cluster".into()),
            metadata_dir: None,
            bookies: None,
            ..base()
        };
        let c = resolve(&args, &RawGatewayToml::default()).expect("valid");
        assert_eq!(c.bookies, None);
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let text = include_str!("../../conf/gateway.toml");
        let file: RawGatewayToml = toml::from_str(text).expect("conf/gateway.toml parses");
        resolve(&GatewayArgs::default(), &file).expect("conf/gateway.toml is valid");
    }

    #[test]
    fn unknown_toml_keys_are_rejected() {
        let err = toml::from_str::<RawGatewayToml>("bookie = []\n").expect_err("unknown key");
        assert!(err.to_string().contains("bookie"), "{err}");
    }
}
