//! `folio bookie`: run one bookie until SIGTERM or Ctrl-C.
//!
//! Configuration is read in two stages: the TOML file (if any) into [`RawBookieToml`]
//! and the flags into [`BookieArgs`], both raw; then [`resolve`] merges them (a flag
//! wins over the file, the file over the default) and validates every value into a
//! typed [`BookieConfig`]. A bad value is one error naming its key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use folio_bookie::{Bookie, BookieConfig};
use folio_ledger::autorecovery::{self, AutoRecoveryConfig, ProberConfig};
use folio_ledger::{BookieId, BookieProber, BookieSource, Candidate, ClientConfig, LedgerClient};
use folio_namespace::Db;
use serde::Deserialize;

use crate::autorecovery_settings::{self, AutoRecoveryArgs, RawAutoRecoveryToml};
use crate::units::{ConfigError, duration_setting, invalid, parse_size};

/// Flags of `folio bookie`. Every key of the TOML file has a flag of the same name
/// with dashes; a flag overrides the file.
#[derive(Debug, Args, Default)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BookieArgs {
    /// Admin commands (`folio bookie ls|info`) instead of running a bookie.
    #[command(subcommand)]
    pub admin: Option<crate::admin::bookie::BookieCommand>,
    /// TOML configuration file (see conf/bookie.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory for entry logs, index, checkpoint mark and cookie.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Directory for journal files [default: <data-dir>/journal]. Put it on its own
    /// disk to keep journal fsyncs away from entry-log writes.
    #[arg(long)]
    pub journal_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:3181].
    #[arg(long)]
    pub listen: Option<String>,
    /// The bookie's id, stamped into its cookies [default: the listen address].
    #[arg(long)]
    pub bookie_id: Option<String>,
    /// Cluster instance id the cookies must carry [default: accept what is on disk].
    #[arg(long)]
    pub instance_id: Option<String>,
    /// Longest time a journal group commit waits for more adds [default: 0ms: write
    /// as soon as the queue is empty; adds arriving during an fsync form the next group].
    #[arg(long)]
    pub journal_group_wait: Option<String>,
    /// A journal group is written once it holds this much [default: 4MiB].
    #[arg(long)]
    pub journal_group_size: Option<String>,
    /// Roll to a new journal file past this size [default: 512MiB].
    #[arg(long)]
    pub journal_file_size: Option<String>,
    /// Roll to a new entry log past this size [default: 1GiB].
    #[arg(long)]
    pub entry_log_file_size: Option<String>,
    /// Checkpoint when the write cache holds this much [default: 256MiB].
    #[arg(long)]
    pub write_cache_size: Option<String>,
    /// Checkpoint at least this often [default: 10s].
    #[arg(long)]
    pub checkpoint_interval: Option<String>,
    /// Entry-log bytes read per read-ahead block [default: 256KiB].
    #[arg(long)]
    pub read_ahead_size: Option<String>,
    /// Disk usage fraction (0–1) above which the bookie turns read-only [default: 0.95].
    #[arg(long)]
    pub disk_usage_threshold: Option<f64>,
    /// How often disk usage is checked [default: 5s].
    #[arg(long)]
    pub disk_check_interval: Option<String>,
    /// Start read-only: serve reads, fences and recovery adds only. `--read-only`
    /// alone means true; `--read-only false` overrides `read_only = true` in the
    /// file [default: false].
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub read_only: Option<bool>,
    /// Bytes one connection may hold (requests, unwritten answers) before the bookie stops reading it and refuses adds [default: 256MiB].
    #[arg(long)]
    pub max_inflight_per_connection: Option<String>,
    /// Bytes all connections together may hold (requests, unwritten answers, one
    /// max frame per read being handled) before the bookie stops reading every
    /// connection that holds something and refuses adds; at least
    /// --max-inflight-per-connection [default: 1GiB].
    #[arg(long, visible_alias = "max-inflight")]
    pub max_inflight_bytes: Option<String>,
    /// Largest frame accepted; a larger one closes the connection [default: 16MiB + 4KiB].
    #[arg(long)]
    pub max_frame_size: Option<String>,
    /// Close a connection whose answers a peer has not read for this long, releasing
    /// what it held ("0s": never) [default: 60s].
    #[arg(long)]
    pub response_write_timeout: Option<String>,
    /// Serve Prometheus metrics at http://<address>/metrics, without authentication
    /// (keep it on loopback or a private network) [default: off].
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// Bytes per second a scrub pass reads at most, 0 for unlimited [default: 8MiB].
    #[arg(long)]
    pub scrub_rate_bytes_per_sec: Option<String>,
    /// Time between periodic scrub passes, e.g. "24h"; "0s" disables them (a
    /// `Scrub` request still starts one) [default: 24h].
    #[arg(long, value_name = "DURATION")]
    pub scrub_interval: Option<String>,
    /// Deprecated: seconds between scrub passes; use --scrub-interval.
    #[arg(long, value_name = "SECONDS")]
    pub scrub_interval_secs: Option<u64>,
    /// Compact a sealed entry log whose live fraction is below this (0–1); 0
    /// disables compaction (dead logs are still deleted) [default: 0.5].
    #[arg(long)]
    pub compaction_threshold: Option<f64>,
    /// Bytes per second compaction copies at most, 0 for unlimited [default: 8MiB].
    #[arg(long)]
    pub compaction_rate_bytes_per_sec: Option<String>,
    /// Time between space reclamation passes (dead-log deletion and compaction,
    /// also run at start-up), e.g. "5m"; "0s" disables them [default: 5m].
    #[arg(long, value_name = "DURATION")]
    pub gc_interval: Option<String>,
    /// Deprecated: seconds between space reclamation passes; use --gc-interval.
    #[arg(long, value_name = "SECONDS")]
    pub gc_interval_secs: Option<u64>,
    /// The cluster's namespace URL (fdb:///path/to/fdb.cluster, or embedded:///dir
    /// when no other process opens that directory). With it the bookie registers
    /// itself in the bookie registry and heartbeats there [default: none: a gateway
    /// that lists this bookie heartbeats for it].
    #[arg(long)]
    pub metadata: Option<String>,
    /// The host:port clients reach this bookie at, as registered [default: the
    /// listen address; required when that is a wildcard such as 0.0.0.0].
    #[arg(long)]
    pub advertised_address: Option<String>,
    #[command(flatten)]
    pub autorecovery: AutoRecoveryArgs,
}

/// A size in TOML: a byte count or a string like "1MiB".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    /// Bytes.
    Bytes(u64),
    /// Human-readable.
    Text(String),
}

/// The TOML file as written, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBookieToml {
    data_dir: Option<PathBuf>,
    journal_dir: Option<PathBuf>,
    listen: Option<String>,
    bookie_id: Option<String>,
    instance_id: Option<String>,
    journal_group_wait: Option<String>,
    journal_group_size: Option<RawSize>,
    journal_file_size: Option<RawSize>,
    entry_log_file_size: Option<RawSize>,
    write_cache_size: Option<RawSize>,
    checkpoint_interval: Option<String>,
    read_ahead_size: Option<RawSize>,
    disk_usage_threshold: Option<f64>,
    disk_check_interval: Option<String>,
    read_only: Option<bool>,
    max_inflight_per_connection: Option<RawSize>,
    max_inflight_bytes: Option<RawSize>,
    max_frame_size: Option<RawSize>,
    response_write_timeout: Option<String>,
    metrics_listen: Option<String>,
    scrub_rate_bytes_per_sec: Option<RawSize>,
    scrub_interval: Option<String>,
    /// Deprecated alias of `scrub_interval`, in bare seconds.
    scrub_interval_secs: Option<u64>,
    compaction_threshold: Option<f64>,
    compaction_rate_bytes_per_sec: Option<RawSize>,
    gc_interval: Option<String>,
    /// Deprecated alias of `gc_interval`, in bare seconds.
    gc_interval_secs: Option<u64>,
    metadata: Option<String>,
    advertised_address: Option<String>,
    autorecovery: Option<RawAutoRecoveryToml>,
}

/// What a bookie does in the cluster's namespace, when it has one (`metadata`).
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    /// The namespace URL.
    metadata: String,
    /// The address registered, if not the listen address.
    advertised_address: Option<SocketAddr>,
    /// How the bookie heartbeats its registry record (`[autorecovery]
    /// probe_interval`).
    prober: ProberConfig,
    /// Auto-recovery in this process (`[autorecovery] enabled = true`, or
    /// `--autorecovery`); off by default on a bookie.
    autorecovery: Option<AutoRecoveryConfig>,
}

/// Resolves `metadata`, `advertised_address` and the `[autorecovery]` table; `None`
/// without `metadata` (auto-recovery then needs a namespace and is refused).
pub fn membership(
    args: &BookieArgs,
    file: &RawBookieToml,
    listen: SocketAddr,
) -> Result<Option<Membership>, ConfigError> {
    let (config, enabled) =
        autorecovery_settings::resolve_all(&args.autorecovery, file.autorecovery.as_ref(), false)?;
    let autorecovery = enabled.then_some(config);
    let advertised_address = match args
        .advertised_address
        .as_ref()
        .or(file.advertised_address.as_ref())
    {
        Some(text) => Some(text.parse::<SocketAddr>().map_err(|e| {
            invalid(
                "advertised_address",
                format!("{text:?} is not a host:port address: {e}"),
            )
        })?),
        None => None,
    };
    let Some(metadata) = args.metadata.clone().or_else(|| file.metadata.clone()) else {
        if autorecovery.is_some() {
            return Err(invalid(
                "autorecovery.enabled",
                "auto-recovery in a bookie needs the cluster's namespace: set metadata",
            ));
        }
        return Ok(None);
    };
    if advertised_address.is_none() && listen.ip().is_unspecified() {
        return Err(invalid(
            "advertised_address",
            format!(
                "required when listen ({listen}) is a wildcard: the registry needs an address clients can reach"
            ),
        ));
    }
    Ok(Some(Membership {
        metadata,
        advertised_address,
        prober: config.prober,
        autorecovery,
    }))
}

/// Registers the running bookie (and heartbeats it, through a prober of this bookie
/// alone), and starts auto-recovery if configured. The tasks stop when `stop` turns
/// true.
fn join_cluster(
    membership: &Membership,
    bound: SocketAddr,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let store = folio_namespace::kv::open_url(&membership.metadata)
        .with_context(|| format!("open the namespace {}", membership.metadata))?;
    let db = Db::new(store);
    let address = membership.advertised_address.unwrap_or(bound).to_string();
    let prober_config = membership.prober;
    let me = Candidate {
        id: BookieId::new(address.clone()),
        rack: None,
    };
    let self_client = LedgerClient::new(
        db.clone(),
        BookieSource::Static(vec![me]),
        ClientConfig::default(),
    );
    let mut tasks = vec![tokio::spawn(
        BookieProber::new(db.clone(), self_client, prober_config).run(stop.clone()),
    )];
    println!(
        "folio bookie registering as {address} in {}",
        membership.metadata
    );
    if let Some(config) = membership.autorecovery {
        let client = LedgerClient::new(db.clone(), BookieSource::Registry, ClientConfig::default());
        let id = format!("bookie-{address}/{}", std::process::id());
        tasks.extend(autorecovery::start(&db, &client, config, &id, stop).tasks);
        println!("folio bookie running auto-recovery as {id}");
    }
    Ok(tasks)
}

fn size(
    key: &'static str,
    flag: &Option<String>,
    file: &Option<RawSize>,
    default: u64,
) -> Result<u64, ConfigError> {
    match (flag, file) {
        (Some(s), _) | (None, Some(RawSize::Text(s))) => parse_size(s).map_err(|m| invalid(key, m)),
        (None, Some(RawSize::Bytes(b))) => Ok(*b),
        (None, None) => Ok(default),
    }
}

/// A duration key that also has a deprecated alias in bare seconds (`<key>_secs`,
/// flag `--<key>-secs`): a flag (either spelling) wins over the file (either
/// spelling), the file over `default`. Both spellings at one level is an error
/// naming `key`, rather than a silent choice.
struct SecsAlias<'a> {
    key: &'static str,
    flag: &'a Option<String>,
    flag_secs: Option<u64>,
    file: &'a Option<String>,
    file_secs: Option<u64>,
}

impl SecsAlias<'_> {
    fn resolve(&self, default: Duration) -> Result<Duration, ConfigError> {
        let key = self.key;
        let both = |place: &str| {
            invalid(
                key,
                format!(
                    "{place} sets both {key} and its deprecated alias {key}_secs; keep {key} only"
                ),
            )
        };
        if self.flag.is_some() && self.flag_secs.is_some() {
            return Err(both("the command line"));
        }
        if self.file.is_some() && self.file_secs.is_some() {
            return Err(both("the config file"));
        }
        if self.flag.is_some() {
            return duration_setting(key, self.flag, &None, default);
        }
        if let Some(secs) = self.flag_secs {
            return Ok(Duration::from_secs(secs));
        }
        if let Some(secs) = self.file_secs {
            return Ok(Duration::from_secs(secs));
        }
        duration_setting(key, &None, self.file, default)
    }
}

fn positive(key: &'static str, v: u64) -> Result<u64, ConfigError> {
    if v == 0 {
        return Err(invalid(key, "must be greater than zero"));
    }
    Ok(v)
}

fn usize_of(key: &'static str, v: u64) -> Result<usize, ConfigError> {
    usize::try_from(v).map_err(|_| invalid(key, "too large for this machine"))
}

/// Reads the TOML file.
pub fn read_toml(path: &Path) -> anyhow::Result<RawBookieToml> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parse config file {}", path.display()))
}

/// Merges flags over the file over defaults, and validates.
pub fn resolve(args: &BookieArgs, file: &RawBookieToml) -> Result<BookieConfig, ConfigError> {
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .ok_or_else(|| invalid("data_dir", "is required"))?;
    let listen_text = args
        .listen
        .clone()
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:3181".into());
    let listen: SocketAddr = listen_text.parse().map_err(|e| {
        invalid(
            "listen",
            format!("{listen_text:?} is not an address like 127.0.0.1:3181: {e}"),
        )
    })?;
    let mut c = BookieConfig::new(data_dir, listen);
    if let Some(j) = args
        .journal_dir
        .clone()
        .or_else(|| file.journal_dir.clone())
    {
        c.journal_dir = j;
    }
    if let Some(id) = args.bookie_id.clone().or_else(|| file.bookie_id.clone()) {
        if id.is_empty() || id.contains(['\n', ',']) {
            return Err(invalid(
                "bookie_id",
                "must be non-empty, without newlines or commas",
            ));
        }
        c.bookie_id = id;
    }
    if let Some(id) = args
        .instance_id
        .clone()
        .or_else(|| file.instance_id.clone())
    {
        if id.is_empty() || id.contains('\n') {
            return Err(invalid(
                "instance_id",
                "must be non-empty, without newlines",
            ));
        }
        c.instance_id = Some(id);
    }
    c.journal.group_wait = duration_setting(
        "journal_group_wait",
        &args.journal_group_wait,
        &file.journal_group_wait,
        c.journal.group_wait,
    )?;
    if c.journal.group_wait > Duration::from_secs(1) {
        return Err(invalid(
            "journal_group_wait",
            "must be at most 1s (it delays every add)",
        ));
    }
    c.journal.group_bytes = usize_of(
        "journal_group_size",
        positive(
            "journal_group_size",
            size(
                "journal_group_size",
                &args.journal_group_size,
                &file.journal_group_size,
                c.journal.group_bytes as u64,
            )?,
        )?,
    )?;
    c.journal.file_bytes = positive(
        "journal_file_size",
        size(
            "journal_file_size",
            &args.journal_file_size,
            &file.journal_file_size,
            c.journal.file_bytes,
        )?,
    )?;
    c.entry_log_file_bytes = positive(
        "entry_log_file_size",
        size(
            "entry_log_file_size",
            &args.entry_log_file_size,
            &file.entry_log_file_size,
            c.entry_log_file_bytes,
        )?,
    )?;
    c.write_cache_bytes = usize_of(
        "write_cache_size",
        positive(
            "write_cache_size",
            size(
                "write_cache_size",
                &args.write_cache_size,
                &file.write_cache_size,
                c.write_cache_bytes as u64,
            )?,
        )?,
    )?;
    c.checkpoint_interval = duration_setting(
        "checkpoint_interval",
        &args.checkpoint_interval,
        &file.checkpoint_interval,
        c.checkpoint_interval,
    )?;
    if c.checkpoint_interval.is_zero() {
        return Err(invalid("checkpoint_interval", "must be greater than zero"));
    }
    c.read_ahead_bytes = usize_of(
        "read_ahead_size",
        size(
            "read_ahead_size",
            &args.read_ahead_size,
            &file.read_ahead_size,
            c.read_ahead_bytes as u64,
        )?,
    )?;
    if let Some(t) = args.disk_usage_threshold.or(file.disk_usage_threshold) {
        if !(t > 0.0 && t <= 1.0) {
            return Err(invalid(
                "disk_usage_threshold",
                format!("{t} is not a fraction in (0, 1]"),
            ));
        }
        c.disk_usage_threshold = t;
    }
    c.disk_check_interval = duration_setting(
        "disk_check_interval",
        &args.disk_check_interval,
        &file.disk_check_interval,
        c.disk_check_interval,
    )?;
    if c.disk_check_interval.is_zero() {
        return Err(invalid("disk_check_interval", "must be greater than zero"));
    }
    c.read_only = args.read_only.or(file.read_only).unwrap_or(false);
    c.max_frame_bytes = usize_of(
        "max_frame_size",
        size(
            "max_frame_size",
            &args.max_frame_size,
            &file.max_frame_size,
            c.max_frame_bytes as u64,
        )?,
    )?;
    if c.max_frame_bytes < 1 << 16 || c.max_frame_bytes > u32::MAX as usize {
        return Err(invalid("max_frame_size", "must be between 64KiB and 4GiB"));
    }
    c.max_inflight_bytes_per_connection = usize_of(
        "max_inflight_per_connection",
        positive(
            "max_inflight_per_connection",
            size(
                "max_inflight_per_connection",
                &args.max_inflight_per_connection,
                &file.max_inflight_per_connection,
                c.max_inflight_bytes_per_connection as u64,
            )?,
        )?,
    )?;
    c.max_inflight_bytes = usize_of(
        "max_inflight_bytes",
        positive(
            "max_inflight_bytes",
            size(
                "max_inflight_bytes",
                &args.max_inflight_bytes,
                &file.max_inflight_bytes,
                c.max_inflight_bytes as u64,
            )?,
        )?,
    )?;
    if c.max_inflight_bytes < c.max_inflight_bytes_per_connection {
        // Refused rather than clamped: the operator asked for less than one
        // connection may hold, and should choose which of the two to change.
        return Err(invalid(
            "max_inflight_bytes",
            format!(
                "{} bytes is less than max_inflight_per_connection ({} bytes); the bookie-wide budget must hold at least one connection's",
                c.max_inflight_bytes, c.max_inflight_bytes_per_connection
            ),
        ));
    }
    c.response_write_timeout = duration_setting(
        "response_write_timeout",
        &args.response_write_timeout,
        &file.response_write_timeout,
        c.response_write_timeout,
    )?;
    c.scrub_rate_bytes_per_sec = size(
        "scrub_rate_bytes_per_sec",
        &args.scrub_rate_bytes_per_sec,
        &file.scrub_rate_bytes_per_sec,
        c.scrub_rate_bytes_per_sec,
    )?;
    c.scrub_interval = SecsAlias {
        key: "scrub_interval",
        flag: &args.scrub_interval,
        flag_secs: args.scrub_interval_secs,
        file: &file.scrub_interval,
        file_secs: file.scrub_interval_secs,
    }
    .resolve(c.scrub_interval)?;
    if let Some(t) = args.compaction_threshold.or(file.compaction_threshold) {
        if !(0.0..=1.0).contains(&t) {
            return Err(invalid(
                "compaction_threshold",
                format!("{t} is not a fraction in [0, 1]"),
            ));
        }
        c.compaction_threshold = t;
    }
    c.compaction_rate_bytes_per_sec = size(
        "compaction_rate_bytes_per_sec",
        &args.compaction_rate_bytes_per_sec,
        &file.compaction_rate_bytes_per_sec,
        c.compaction_rate_bytes_per_sec,
    )?;
    c.gc_interval = SecsAlias {
        key: "gc_interval",
        flag: &args.gc_interval,
        flag_secs: args.gc_interval_secs,
        file: &file.gc_interval,
        file_secs: file.gc_interval_secs,
    }
    .resolve(c.gc_interval)?;
    Ok(c)
}

/// The metrics listener's address (`metrics_listen`), if one is configured.
pub fn metrics_listen(
    args: &BookieArgs,
    file: &RawBookieToml,
) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(text) = args
        .metrics_listen
        .clone()
        .or_else(|| file.metrics_listen.clone())
    else {
        return Ok(None);
    };
    text.parse().map(Some).map_err(|e| {
        invalid(
            "metrics_listen",
            format!("{text:?} is not an address like 127.0.0.1:9181: {e}"),
        )
    })
}

/// Runs `folio bookie`.
pub fn run(args: BookieArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => read_toml(path)?,
        None => RawBookieToml::default(),
    };
    let config = resolve(&args, &file)?;
    let metrics_addr = metrics_listen(&args, &file)?;
    let membership = membership(&args, &file, config.listen)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bookie")
        .build()
        .context("start the tokio runtime")?;
    runtime.block_on(async move {
        let handle = Bookie::start(config).await?;
        // Scripts and tests read the bound address (useful with port 0) from stdout.
        println!("folio bookie listening on {}", handle.local_addr());
        let (stop_metrics, stopped) = tokio::sync::watch::channel(false);
        if let Some(addr) = metrics_addr {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("bind the metrics listener on {addr}"))?;
            println!(
                "folio bookie metrics on http://{}/metrics",
                listener.local_addr()?
            );
            let serve = folio_bookie::metrics::serve(listener, handle.metrics(), stopped);
            tokio::spawn(serve);
        }
        let cluster_tasks = match &membership {
            Some(m) => join_cluster(m, handle.local_addr(), &stop_metrics.subscribe())?,
            None => Vec::new(),
        };
        crate::signal::wait_for_shutdown().await?;
        tracing::info!("signal received; shutting down");
        let _ = stop_metrics.send(true);
        for task in cluster_tasks {
            let _ = task.await;
        }
        handle.shutdown().await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(data_dir: &str) -> BookieArgs {
        BookieArgs {
            data_dir: Some(data_dir.into()),
            ..BookieArgs::default()
        }
    }

    #[test]
    fn flags_override_file_and_file_overrides_defaults() {
        let file: RawBookieToml = toml::from_str(
            r#"
            data_dir = "/file"
            write_cache_size = "64MiB"
            journal_group_wait = "2ms"
            read_ahead_size = 4096
            "#,
        )
        .expect("toml");
        let mut a = args("/flag");
        a.write_cache_size = Some("1MiB".into());
        let c = resolve(&a, &file).expect("valid");
        assert_eq!(c.data_dir, PathBuf::from("/flag"));
        assert_eq!(c.write_cache_bytes, 1 << 20);
        assert_eq!(c.journal.group_wait, Duration::from_millis(2));
        assert_eq!(c.read_ahead_bytes, 4096);
        assert_eq!(c.journal_dir, PathBuf::from("/flag/journal"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let file = RawBookieToml::default();
        let mut a = args("/d");
        a.write_cache_size = Some("lots".into());
        assert_eq!(
            resolve(&a, &file).expect_err("invalid").key,
            "write_cache_size"
        );
        let mut a = args("/d");
        a.disk_usage_threshold = Some(1.5);
        assert_eq!(
            resolve(&a, &file).expect_err("invalid").key,
            "disk_usage_threshold"
        );
        let mut a = args("/d");
        a.listen = Some("nowhere".into());
        let e = resolve(&a, &file).expect_err("invalid");
        assert_eq!(e.key, "listen");
        assert!(e.to_string().contains("--listen"));
        assert_eq!(
            resolve(&BookieArgs::default(), &file)
                .expect_err("invalid")
                .key,
            "data_dir"
        );
        let mut a = args("/d");
        a.compaction_threshold = Some(-0.1);
        assert_eq!(
            resolve(&a, &file).expect_err("invalid").key,
            "compaction_threshold"
        );
        let mut a = args("/d");
        a.scrub_rate_bytes_per_sec = Some("fast".into());
        assert_eq!(
            resolve(&a, &file).expect_err("invalid").key,
            "scrub_rate_bytes_per_sec"
        );
        let mut a = args("/d");
        a.compaction_rate_bytes_per_sec = Some("-1".into());
        assert_eq!(
            resolve(&a, &file).expect_err("invalid").key,
            "compaction_rate_bytes_per_sec"
        );
        let mut a = args("/d");
        a.response_write_timeout = Some("soon".into());
        assert_eq!(
            resolve(&a, &file).expect_err("invalid").key,
            "response_write_timeout"
        );
    }

    #[test]
    fn response_write_timeout_resolves_from_flag_file_or_default() {
        let default = resolve(&args("/d"), &RawBookieToml::default()).expect("valid");
        assert_eq!(default.response_write_timeout, Duration::from_secs(60));
        let file: RawBookieToml = toml::from_str(r#"response_write_timeout = "0s""#).expect("toml");
        let off = resolve(&args("/d"), &file).expect("valid");
        assert_eq!(off.response_write_timeout, Duration::ZERO);
        let mut a = args("/d");
        a.response_write_timeout = Some("5s".into());
        assert_eq!(
            resolve(&a, &file).expect("valid").response_write_timeout,
            Duration::from_secs(5)
        );
    }

    #[test]
    fn max_inflight_bytes_resolves_from_flag_file_or_default() {
        let default = resolve(&args("/d"), &RawBookieToml::default()).expect("valid");
        assert_eq!(default.max_inflight_bytes, 1 << 30);
        let file: RawBookieToml = toml::from_str(
            r#"
            max_inflight_bytes = "512MiB"
            max_inflight_per_connection = "64MiB"
            "#,
        )
        .expect("toml");
        let c = resolve(&args("/d"), &file).expect("valid");
        assert_eq!(c.max_inflight_bytes, 512 << 20);
        assert_eq!(c.max_inflight_bytes_per_connection, 64 << 20);
        let bytes: RawBookieToml = toml::from_str("max_inflight_bytes = 300000000").expect("toml");
        assert_eq!(
            resolve(&args("/d"), &bytes)
                .expect("valid")
                .max_inflight_bytes,
            300_000_000
        );
        // The flag wins over the file, in either spelling.
        let a = parse(&["--data-dir", "/d", "--max-inflight", "2GiB"]);
        assert_eq!(
            resolve(&a, &file).expect("valid").max_inflight_bytes,
            2 << 30
        );
        let a = parse(&["--data-dir", "/d", "--max-inflight-bytes", "256MiB"]);
        assert_eq!(
            resolve(&a, &RawBookieToml::default())
                .expect("valid, equal to the per-connection default")
                .max_inflight_bytes,
            256 << 20
        );
    }

    #[test]
    fn invalid_max_inflight_bytes_names_the_key() {
        let none = RawBookieToml::default();
        for bad in ["lots", "0", "-1GiB"] {
            let flag = format!("--max-inflight={bad}");
            let a = parse(&["--data-dir", "/d", &flag]);
            let e = resolve(&a, &none).expect_err("invalid");
            assert_eq!(e.key, "max_inflight_bytes", "{bad}: {e}");
            assert!(e.to_string().contains("--max-inflight-bytes"), "{e}");
        }
        // Less than one connection's budget (default 256 MiB) is refused, not clamped.
        let a = parse(&["--data-dir", "/d", "--max-inflight", "128MiB"]);
        let e = resolve(&a, &none).expect_err("below the per-connection budget");
        assert_eq!(e.key, "max_inflight_bytes");
        assert!(e.to_string().contains("max_inflight_per_connection"), "{e}");
        let file: RawBookieToml = toml::from_str(
            r#"
            max_inflight_bytes = "1GiB"
            max_inflight_per_connection = "2GiB"
            "#,
        )
        .expect("toml");
        assert_eq!(
            resolve(&args("/d"), &file).expect_err("invalid").key,
            "max_inflight_bytes"
        );
        let file: RawBookieToml = toml::from_str("max_inflight_bytes = \"big\"").expect("toml");
        assert_eq!(
            resolve(&args("/d"), &file).expect_err("invalid").key,
            "max_inflight_bytes"
        );
    }

    #[test]
    fn space_and_scrub_keys_resolve() {
        let file: RawBookieToml = toml::from_str(
            r#"
            data_dir = "/file"
            scrub_rate_bytes_per_sec = "1MiB"
            scrub_interval_secs = 0
            compaction_threshold = 0.25
            compaction_rate_bytes_per_sec = 4096
            gc_interval_secs = 60
            "#,
        )
        .expect("toml");
        let c = resolve(&args("/d"), &file).expect("valid");
        assert_eq!(c.scrub_rate_bytes_per_sec, 1 << 20);
        assert_eq!(c.scrub_interval, Duration::ZERO);
        assert_eq!(c.compaction_threshold, 0.25);
        assert_eq!(c.compaction_rate_bytes_per_sec, 4096);
        assert_eq!(c.gc_interval, Duration::from_secs(60));
        let mut a = args("/d");
        a.gc_interval_secs = Some(0);
        a.compaction_threshold = Some(0.0);
        let c = resolve(&a, &file).expect("valid");
        assert_eq!(c.gc_interval, Duration::ZERO);
        assert_eq!(c.compaction_threshold, 0.0);
        let d = resolve(&args("/d"), &RawBookieToml::default()).expect("valid");
        assert_eq!(d.scrub_rate_bytes_per_sec, 8 << 20);
        assert_eq!(d.scrub_interval, Duration::from_secs(86_400));
        assert_eq!(d.compaction_threshold, 0.5);
        assert_eq!(d.compaction_rate_bytes_per_sec, 8 << 20);
        assert_eq!(d.gc_interval, Duration::from_secs(300));
    }

    /// `folio bookie ARGS...` as the real command line parses it.
    fn parse(argv: &[&str]) -> BookieArgs {
        use clap::Parser as _;
        let cli = crate::Cli::try_parse_from(["folio", "bookie"].iter().chain(argv))
            .unwrap_or_else(|e| panic!("{argv:?} parses: {e}"));
        match cli.command {
            crate::Command::Bookie(a) => *a,
            other => panic!("not a bookie command: {other:?}"),
        }
    }

    #[test]
    fn read_only_flag_overrides_the_file_both_ways() {
        let on: RawBookieToml = toml::from_str("read_only = true").expect("toml");
        let off: RawBookieToml = toml::from_str("read_only = false").expect("toml");
        let none = RawBookieToml::default();
        let read_only = |argv: &[&str], file: &RawBookieToml| {
            resolve(&parse(argv), file).expect("valid").read_only
        };
        assert!(!read_only(
            &["--data-dir", "/d", "--read-only", "false"],
            &on
        ));
        assert!(!read_only(&["--data-dir", "/d", "--read-only=false"], &on));
        assert!(read_only(
            &["--data-dir", "/d", "--read-only", "true"],
            &off
        ));
        assert!(read_only(&["--data-dir", "/d", "--read-only"], &off));
        assert!(read_only(&["--read-only", "--data-dir", "/d"], &none));
        assert!(read_only(&["--data-dir", "/d"], &on));
        assert!(!read_only(&["--data-dir", "/d"], &off));
        assert!(!read_only(&["--data-dir", "/d"], &none));
        use clap::Parser as _;
        assert!(crate::Cli::try_parse_from(["folio", "bookie", "--read-only", "maybe"]).is_err());
    }

    #[test]
    fn scrub_and_gc_intervals_are_durations_with_deprecated_secs_aliases() {
        let file: RawBookieToml = toml::from_str(
            r#"
            scrub_interval = "12h"
            gc_interval = "90s"
            "#,
        )
        .expect("toml");
        let c = resolve(&args("/d"), &file).expect("valid");
        assert_eq!(c.scrub_interval, Duration::from_secs(12 * 3600));
        assert_eq!(c.gc_interval, Duration::from_secs(90));
        // The flags win over the file, in either spelling.
        let a = parse(&[
            "--data-dir",
            "/d",
            "--scrub-interval",
            "0s",
            "--gc-interval",
            "5m",
        ]);
        let c = resolve(&a, &file).expect("valid");
        assert_eq!(c.scrub_interval, Duration::ZERO);
        assert_eq!(c.gc_interval, Duration::from_secs(300));
        let a = parse(&["--data-dir", "/d", "--gc-interval-secs", "7"]);
        assert_eq!(
            resolve(&a, &file).expect("valid").gc_interval,
            Duration::from_secs(7)
        );
        // The old keys still work, in bare seconds.
        let old: RawBookieToml =
            toml::from_str("scrub_interval_secs = 60\ngc_interval_secs = 0").expect("toml");
        let c = resolve(&args("/d"), &old).expect("valid");
        assert_eq!(c.scrub_interval, Duration::from_secs(60));
        assert_eq!(c.gc_interval, Duration::ZERO);
        let a = parse(&["--data-dir", "/d", "--scrub-interval", "1m 30s"]);
        assert_eq!(
            resolve(&a, &old).expect("valid").scrub_interval,
            Duration::from_secs(90)
        );
        // Errors name the key.
        let a = parse(&["--data-dir", "/d", "--gc-interval", "often"]);
        let e = resolve(&a, &RawBookieToml::default()).expect_err("invalid");
        assert_eq!(e.key, "gc_interval");
        assert!(e.to_string().contains("--gc-interval"), "{e}");
        let bad: RawBookieToml = toml::from_str("scrub_interval = \"daily\"").expect("toml");
        assert_eq!(
            resolve(&args("/d"), &bad).expect_err("invalid").key,
            "scrub_interval"
        );
        let both: RawBookieToml =
            toml::from_str("scrub_interval = \"1h\"\nscrub_interval_secs = 3600").expect("toml");
        let e = resolve(&args("/d"), &both).expect_err("ambiguous");
        assert_eq!(e.key, "scrub_interval");
        assert!(e.to_string().contains("scrub_interval_secs"), "{e}");
        let a = parse(&[
            "--data-dir",
            "/d",
            "--gc-interval",
            "1s",
            "--gc-interval-secs",
            "1",
        ]);
        assert_eq!(
            resolve(&a, &RawBookieToml::default())
                .expect_err("ambiguous")
                .key,
            "gc_interval"
        );
    }

    #[test]
    fn unknown_toml_keys_are_rejected() {
        assert!(toml::from_str::<RawBookieToml>("write_cash_size = 1").is_err());
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/bookie.toml");
        let file = read_toml(&path).expect("conf/bookie.toml parses");
        resolve(&BookieArgs::default(), &file).expect("conf/bookie.toml validates");
    }
}
