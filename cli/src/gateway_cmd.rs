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

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use folio_gateway::Gateway;
use folio_gateway::config::TlsConfig;
use folio_ledger::{BookieId, BookieSource, Candidate, LedgerClient, QuorumConfig};
use folio_namespace::Db;
use serde::Deserialize;

use crate::config_file;
use crate::s3_settings::{self, RawS3Toml, S3Args, S3Settings};
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
    #[command(flatten)]
    pub s3: S3Args,
}

/// The command's own TOML keys as written, before validation; the shared ones are
/// in [`RawS3Toml`], and [`config_file`] rejects keys that neither declares.
#[derive(Debug, Default, Deserialize)]
pub struct RawGatewayToml {
    metadata_dir: Option<PathBuf>,
    metadata: Option<String>,
    bookies: Option<Vec<String>>,
    ensemble_size: Option<usize>,
    write_quorum: Option<usize>,
    ack_quorum: Option<usize>,
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
    /// The settings shared with `folio standalone`.
    s3: S3Settings,
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

/// Merges flags over the file (its own keys and the shared ones) over defaults, and
/// validates.
pub fn resolve(
    args: &GatewayArgs,
    file: &RawGatewayToml,
    shared: &RawS3Toml,
) -> Result<GatewaySettings, ConfigError> {
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
    Ok(GatewaySettings {
        metadata,
        bookies,
        quorum,
        s3: s3_settings::resolve(&args.s3, shared)?,
    })
}

/// Runs `folio gateway`.
pub fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let (file, shared) = config_file::read(args.config.as_deref())?;
    let settings = resolve(&args, &file, &shared)?;
    let tls = settings.s3.load_tls()?;
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
    let ledgers = LedgerClient::new(
        db.clone(),
        source,
        s3_settings::client_config(settings.quorum),
    );
    let scheme = if tls.is_some() { "https" } else { "http" };
    let gateway_config = settings.s3.gateway_config(admin_token, access_key, tls);
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
    use folio_gateway::AutoRecoveryConfig;

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
        let (file, shared): (RawGatewayToml, RawS3Toml) = config_file::parse(
            "bookies = [\"a:1\", \"b:2\"]\nensemble_size = 2\nwrite_quorum = 2\nregion = \"eu-west-1\"\n",
        )
        .expect("valid toml");
        let args = GatewayArgs {
            metadata_dir: Some("ns".into()),
            ..GatewayArgs::default()
        };
        let c = resolve(&args, &file, &shared).expect("valid");
        assert_eq!(c.bookies, Some(vec!["a:1".to_owned(), "b:2".to_owned()]));
        assert_eq!(c.quorum, QuorumConfig::new(2, 2, 2).expect("quorum"));
        assert_eq!(c.s3.s3_listen, "127.0.0.1:9000".parse().expect("addr"));
        assert_eq!(c.s3.region, "eu-west-1");
        let c = resolve(&base(), &RawGatewayToml::default(), &RawS3Toml::default()).expect("valid");
        assert_eq!(c.bookies.map(|b| b.len()), Some(3));
        assert_eq!(c.metadata, Metadata::Dir("ns".into()));
    }

    #[test]
    fn bad_values_name_their_key() {
        // How to spoil the flags, and the key the error must name.
        type Case = (fn(&mut GatewayArgs), &'static str);
        let cases: [Case; 8] = [
            (|a| a.metadata_dir = None, "metadata_dir"),
            (
                |a| {
                    a.metadata = Some("redis://x".into());
                    a.metadata_dir = None;
                },
                "metadata",
            ),
            (|a| a.bookies = None, "bookies"),
            (|a| a.bookies = Some("nowhere".into()), "bookies"),
            (
                |a| {
                    a.ensemble_size = Some(4);
                    a.write_quorum = Some(4);
                },
                "ensemble_size",
            ),
            (|a| a.ack_quorum = Some(5), "ensemble_size"),
            // The shared keys are tested in s3_settings; these show they are checked.
            (|a| a.s3.s3_listen = Some("x".into()), "s3_listen"),
            (|a| a.s3.tls_cert = Some("c.pem".into()), "tls_key"),
        ];
        for (set, key) in cases {
            let mut args = base();
            set(&mut args);
            let err =
                resolve(&args, &RawGatewayToml::default(), &RawS3Toml::default()).expect_err(key);
            assert_eq!(err.key, key, "{err}");
        }
    }

    #[test]
    fn fdb_without_bookies_uses_the_registry() {
        let args = GatewayArgs {
            metadata: Some("fdb:///etc/foundationdb/fdb.cluster".into()),
            metadata_dir: None,
            bookies: None,
            ..base()
        };
        let c = resolve(&args, &RawGatewayToml::default(), &RawS3Toml::default()).expect("valid");
        assert_eq!(c.bookies, None);
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let text = include_str!("../../conf/gateway.toml");
        let (file, shared): (RawGatewayToml, RawS3Toml) =
            config_file::parse(text).expect("conf/gateway.toml parses");
        let c =
            resolve(&GatewayArgs::default(), &file, &shared).expect("conf/gateway.toml is valid");
        assert_eq!(
            c.s3.autorecovery,
            Some(AutoRecoveryConfig::default()),
            "conf/gateway.toml documents the [autorecovery] defaults"
        );
    }

    #[test]
    fn unknown_toml_keys_are_rejected() {
        let err = config_file::parse::<RawGatewayToml, RawS3Toml>("region = \"x\"\nbookie = []\n")
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("line 2, column 1"), "{err}");
        assert!(
            err.contains(
                "unknown field `bookie`, expected one of `metadata_dir`, `metadata`, `bookies`, \
                 `ensemble_size`, `write_quorum`, `ack_quorum`, `s3_listen`, `admin_listen`, \
                 `region`, `root_domain`, `entry_size`, `tls_cert`, `tls_key`, `autorecovery`, `gc`"
            ),
            "{err}"
        );
    }
}
