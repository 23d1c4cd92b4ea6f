//! `folio standalone`: the whole store in one process, for one machine.
//!
//! It runs the embedded namespace, N bookies (each on its own TCP port and data
//! directory), the S3 gateway and the admin API, until SIGTERM or Ctrl-C. Layout of
//! the data directory:
//!
//! ```text
//! <data-dir>/namespace/      the embedded namespace (locked: one process at a time)
//! <data-dir>/bookie-<i>/     bookie i's entry logs, index, journal and cookie
//! <data-dir>/standalone.toml the bookie addresses chosen at first start
//! <data-dir>/credentials     the generated root access key and secret (mode 0600)
//! <data-dir>/admin-token     the generated admin token (mode 0600)
//! ```
//!
//! Configuration is two-stage like `folio bookie`: TOML keys and flags of the same
//! names are read raw, merged (flag over file over default) and validated, and a bad
//! value is one error naming its key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use folio_bookie::{Bookie, BookieConfig, BookieHandle, BookieMetrics};
use folio_gateway::Gateway;
use folio_gateway::config::TlsConfig;
use folio_ledger::{BookieId, BookieSource, Candidate, LedgerClient, QuorumConfig};
use folio_namespace::access_keys::{self, AccessKeyRecord};
use folio_namespace::{Db, EmbeddedOptions, EmbeddedStore};
use serde::{Deserialize, Serialize};

use crate::config_file;
use crate::s3_settings::{self, RawS3Toml, S3Args, S3Settings};
use crate::units::{ConfigError, invalid, parse_size};

/// Flags of `folio standalone`. Every key of the TOML file has a flag of the same
/// name with dashes; a flag overrides the file.
#[derive(Debug, Args, Default)]
pub struct StandaloneArgs {
    /// TOML configuration file (see conf/standalone.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where everything is stored [default: ./folio-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// How many bookies to run [default: 3]. Ledgers use E=Qw=min(3, N), Qa=min(2, N).
    #[arg(long)]
    pub bookies: Option<usize>,
    /// Port of the first bookie; the others follow [default: 3181]. 0 picks free ports
    /// at first start and keeps them in <data-dir>/standalone.toml.
    #[arg(long)]
    pub bookie_port_base: Option<u16>,
    /// Bytes of recent entries each bookie keeps in memory before it writes them to its
    /// entry log [default: 16MiB]. All bookies share this process's memory.
    #[arg(long)]
    pub bookie_write_cache: Option<String>,
    #[command(flatten)]
    pub s3: S3Args,
}

/// The command's own TOML keys as written, before validation; the shared ones are
/// in [`RawS3Toml`], and [`config_file`] rejects keys that neither declares.
#[derive(Debug, Default, Deserialize)]
pub struct RawStandaloneToml {
    data_dir: Option<PathBuf>,
    bookies: Option<usize>,
    bookie_port_base: Option<u16>,
    bookie_write_cache: Option<String>,
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StandaloneConfig {
    data_dir: PathBuf,
    bookies: usize,
    bookie_port_base: u16,
    bookie_write_cache_bytes: usize,
    /// The settings shared with `folio gateway`.
    s3: S3Settings,
}

/// Merges flags over the file (its own keys and the shared ones) over defaults, and
/// validates.
pub fn resolve(
    args: &StandaloneArgs,
    file: &RawStandaloneToml,
    shared: &RawS3Toml,
) -> Result<StandaloneConfig, ConfigError> {
    let bookies = args.bookies.or(file.bookies).unwrap_or(3);
    if bookies == 0 || bookies > 16 {
        return Err(invalid(
            "bookies",
            format!("{bookies} is not between 1 and 16"),
        ));
    }
    let bookie_write_cache_bytes = match args
        .bookie_write_cache
        .as_ref()
        .or(file.bookie_write_cache.as_ref())
    {
        Some(s) => parse_size(s).map_err(|m| invalid("bookie_write_cache", m))?,
        None => 16 << 20,
    };
    if !(1 << 20..=1 << 30).contains(&bookie_write_cache_bytes) {
        return Err(invalid(
            "bookie_write_cache",
            "must be between 1MiB and 1GiB",
        ));
    }
    Ok(StandaloneConfig {
        bookie_write_cache_bytes: bookie_write_cache_bytes as usize,
        data_dir: args
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("folio-data")),
        bookies,
        bookie_port_base: args
            .bookie_port_base
            .or(file.bookie_port_base)
            .unwrap_or(3181),
        s3: s3_settings::resolve(&args.s3, shared)?,
    })
}

/// What a first start chose and later starts reuse.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    bookie_addresses: Vec<String>,
}

/// Runs `folio standalone`.
pub fn run(args: StandaloneArgs) -> anyhow::Result<()> {
    let (file, shared) = config_file::read(args.config.as_deref())?;
    let config = resolve(&args, &file, &shared)?;
    // The files are read before anything starts; an error names tls_cert or tls_key.
    let tls = config.s3.load_tls()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(serve(config, tls))
}

async fn serve(config: StandaloneConfig, tls: Option<TlsConfig>) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("create data directory {}", dir.display()))?;
    let store = EmbeddedStore::open(dir.join("namespace"), EmbeddedOptions::default())
        .with_context(|| format!("open the namespace in {}", dir.join("namespace").display()))?;
    let db = Db::new(Arc::new(store));

    let (access_key, secret) = root_credentials(dir)?;
    ensure_root_key(&db, &access_key, &secret).await?;
    let admin_token = admin_token(dir)?;

    let addresses = bookie_addresses(&config)?;
    let mut bookies: Vec<BookieHandle> = Vec::new();
    for (i, (address, listener)) in addresses.into_iter().enumerate() {
        let mut bookie = BookieConfig::new(dir.join(format!("bookie-{i}")), address);
        bookie.bookie_id = format!("standalone-bookie-{i}");
        // N bookies share this process: keep each one's cache of unflushed entries
        // small, so an upload's memory stays bounded.
        bookie.write_cache_bytes = config.bookie_write_cache_bytes;
        let started = match listener {
            Some(listener) => Bookie::start_on(bookie, listener).await,
            None => Bookie::start(bookie).await,
        };
        let handle = started.with_context(|| format!("start bookie {i} on {address}"))?;
        bookies.push(handle);
    }
    let candidates = bookies
        .iter()
        .map(|b| Candidate {
            id: BookieId::new(b.local_addr().to_string()),
            rack: None,
        })
        .collect();
    let n = config.bookies;
    let quorum =
        QuorumConfig::new(n.min(3), n.min(3), n.min(2)).context("quorum for the bookie count")?;
    let ledgers = LedgerClient::new(
        db.clone(),
        BookieSource::Static(candidates),
        s3_settings::client_config(quorum),
    );
    let scheme = if tls.is_some() { "https" } else { "http" };
    let gateway_config = config.s3.gateway_config(admin_token, access_key, tls);
    let gateway = Gateway::start(gateway_config, db, ledgers)
        .await
        .context("start the gateway")?;
    // The bookies' metrics join the gateway's /metrics, one `bookie` label each.
    let bookie_metrics: Vec<(String, Arc<BookieMetrics>)> = bookies
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("standalone-bookie-{i}"), b.metrics()))
        .collect();
    gateway
        .metrics()
        .add_source(Arc::new(move |out: &mut String| {
            let labels: Vec<[(&str, &str); 1]> = bookie_metrics
                .iter()
                .map(|(id, _)| [("bookie", id.as_str())])
                .collect();
            let all: Vec<_> = labels
                .iter()
                .zip(&bookie_metrics)
                .map(|(l, (_, m))| (&l[..], m.as_ref()))
                .collect();
            folio_bookie::metrics::render_all(out, &all);
        }));
    eprintln!(
        "folio standalone: S3 on {scheme}://{}, admin on http://{}, {} bookies, data in {}",
        gateway.s3_addr(),
        gateway.admin_addr(),
        bookies.len(),
        dir.display()
    );

    crate::signal::wait_for_shutdown().await?;
    tracing::info!("signal received; shutting down");
    gateway.shutdown().await;
    for bookie in bookies {
        bookie.shutdown().await.context("stop bookie")?;
    }
    Ok(())
}

/// The bookie addresses: from the state file if this data directory has run before,
/// else from the port base (0: free ports, chosen now and remembered).
///
/// A free port chosen now comes with its listener, still bound, so that the bookie
/// serves on exactly that socket.
fn bookie_addresses(
    config: &StandaloneConfig,
) -> anyhow::Result<Vec<(SocketAddr, Option<std::net::TcpListener>)>> {
    let path = config.data_dir.join("standalone.toml");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let state: State =
            toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
        let addresses: Vec<SocketAddr> = state
            .bookie_addresses
            .iter()
            .map(|a| a.parse())
            .collect::<Result<_, _>>()
            .with_context(|| format!("bookie address in {}", path.display()))?;
        if addresses.len() != config.bookies {
            anyhow::bail!(
                "{} holds {} bookies but bookies = {}; the bookie count of a data directory cannot change",
                path.display(),
                addresses.len(),
                config.bookies
            );
        }
        return Ok(addresses.into_iter().map(|a| (a, None)).collect());
    }
    let mut addresses = Vec::new();
    for i in 0..config.bookies {
        if config.bookie_port_base == 0 {
            let listener =
                std::net::TcpListener::bind("127.0.0.1:0").context("bind a free port")?;
            let address = listener.local_addr().context("read a free port")?;
            addresses.push((address, Some(listener)));
        } else {
            let port = config
                .bookie_port_base
                .checked_add(i as u16)
                .context("bookie_port_base + bookies exceeds 65535")?;
            addresses.push((SocketAddr::from(([127, 0, 0, 1], port)), None));
        }
    }
    let state = State {
        bookie_addresses: addresses.iter().map(|(a, _)| a.to_string()).collect(),
    };
    write_private(
        &path,
        &toml::to_string(&state).context("encode standalone state")?,
    )?;
    Ok(addresses)
}

/// The root credentials: from FOLIO_ROOT_ACCESS_KEY / FOLIO_ROOT_SECRET_KEY, else from
/// the data directory, else generated now and printed once.
fn root_credentials(dir: &Path) -> anyhow::Result<(String, String)> {
    if let (Ok(key), Ok(secret)) = (
        std::env::var("FOLIO_ROOT_ACCESS_KEY"),
        std::env::var("FOLIO_ROOT_SECRET_KEY"),
    ) {
        anyhow::ensure!(
            !key.is_empty() && secret.len() >= 8,
            "FOLIO_ROOT_ACCESS_KEY must be set and FOLIO_ROOT_SECRET_KEY at least 8 characters"
        );
        return Ok((key, secret));
    }
    let path = dir.join("credentials");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut lines = text.lines();
        if let (Some(key), Some(secret)) = (lines.next(), lines.next()) {
            return Ok((key.trim().to_owned(), secret.trim().to_owned()));
        }
        anyhow::bail!(
            "{} is malformed: expected the access key and the secret on two lines",
            path.display()
        );
    }
    let key = format!(
        "FOLIO{}",
        random_text(15, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    );
    let secret = random_text(
        40,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    );
    write_private(&path, &format!("{key}\n{secret}\n"))?;
    println!("Generated root credentials (kept in {}):", path.display());
    println!("  AWS_ACCESS_KEY_ID={key}");
    println!("  AWS_SECRET_ACCESS_KEY={secret}");
    Ok((key, secret))
}

/// The admin token: from FOLIO_ADMIN_TOKEN, else the data directory, else generated
/// now and printed once.
fn admin_token(dir: &Path) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var("FOLIO_ADMIN_TOKEN") {
        anyhow::ensure!(
            token.len() >= 16,
            "FOLIO_ADMIN_TOKEN must be at least 16 characters"
        );
        return Ok(token);
    }
    let path = dir.join("admin-token");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(text.trim().to_owned());
    }
    let token = random_text(32, b"abcdefghijklmnopqrstuvwxyz0123456789");
    write_private(&path, &format!("{token}\n"))?;
    println!(
        "Generated admin token (kept in {}): FOLIO_ADMIN_TOKEN={token}",
        path.display()
    );
    Ok(token)
}

/// Records (or updates) the root access key in the namespace.
pub(crate) async fn ensure_root_key(db: &Db, key: &str, secret: &str) -> anyhow::Result<()> {
    let (key, secret) = (key.to_owned(), secret.to_owned());
    db.transact(move |tx, _| {
        let mut record = access_keys::get(tx, &key)?.unwrap_or(AccessKeyRecord {
            secret: secret.clone(),
            name: "root".to_owned(),
            created_ms: now_ms(),
            allow_create_bucket: true,
            buckets: Default::default(),
        });
        record.secret = secret.clone();
        record.allow_create_bucket = true;
        access_keys::put(tx, &key, &record)
    })
    .await
    .context("record the root access key in the namespace")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn random_text(len: usize, alphabet: &[u8]) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use folio_gateway::AutoRecoveryConfig;

    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let (file, shared): (RawStandaloneToml, RawS3Toml) =
            config_file::parse("bookies = 1\nregion = \"eu-west-1\"\n").expect("valid toml");
        let args = StandaloneArgs {
            s3: S3Args {
                region: Some("us-west-2".into()),
                ..S3Args::default()
            },
            ..StandaloneArgs::default()
        };
        let c = resolve(&args, &file, &shared).expect("valid");
        assert_eq!(c.bookies, 1);
        assert_eq!(c.s3.region, "us-west-2");
        assert_eq!(c.s3.s3_listen, "127.0.0.1:9000".parse().expect("addr"));
        assert_eq!(c.s3.entry_size_bytes, 1 << 20);
    }

    #[test]
    fn bad_values_name_their_key() {
        // How to spoil the flags, and the key the error must name.
        type Case = (fn(&mut StandaloneArgs), &'static str);
        let cases: [Case; 4] = [
            (|a| a.bookies = Some(0), "bookies"),
            (|a| a.bookies = Some(17), "bookies"),
            (
                |a| a.bookie_write_cache = Some("100KiB".into()),
                "bookie_write_cache",
            ),
            // The shared keys are tested in s3_settings; this shows they are checked.
            (|a| a.s3.s3_listen = Some("nowhere".into()), "s3_listen"),
        ];
        for (set, key) in cases {
            let mut args = StandaloneArgs::default();
            set(&mut args);
            let err = resolve(&args, &RawStandaloneToml::default(), &RawS3Toml::default())
                .expect_err(key);
            assert_eq!(err.key, key, "{err}");
        }
    }

    #[test]
    fn unreadable_tls_files_name_their_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.pem");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").expect("write");
        let err = TlsConfig::from_pem_files(&missing, &garbage).expect_err("missing cert");
        assert!(err.to_string().starts_with("tls_cert:"), "{err}");
        let err = TlsConfig::from_pem_files(&garbage, &garbage).expect_err("no cert");
        assert!(err.to_string().starts_with("tls_cert:"), "{err}");
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let text = include_str!("../../conf/standalone.toml");
        let (file, shared): (RawStandaloneToml, RawS3Toml) =
            config_file::parse(text).expect("conf/standalone.toml parses");
        let config = resolve(&StandaloneArgs::default(), &file, &shared)
            .expect("conf/standalone.toml is valid");
        assert_eq!(
            config.s3.autorecovery,
            Some(AutoRecoveryConfig::default()),
            "conf/standalone.toml documents the [autorecovery] defaults"
        );
    }

    #[test]
    fn unknown_toml_keys_are_rejected() {
        let err = config_file::parse::<RawStandaloneToml, RawS3Toml>("s3_port = 9000\n")
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("line 1, column 1"), "{err}");
        assert!(
            err.contains(
                "unknown field `s3_port`, expected one of `data_dir`, `bookies`, \
                 `bookie_port_base`, `bookie_write_cache`, `s3_listen`, `admin_listen`, \
                 `region`, `root_domain`, `entry_size`, `tls_cert`, `tls_key`, `autorecovery`, `gc`"
            ),
            "{err}"
        );
    }
}
