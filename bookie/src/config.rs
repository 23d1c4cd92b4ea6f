//! The bookie's typed configuration. The `folio` binary builds it from TOML and CLI
//! flags and validates every value before calling [`crate::Bookie::start`]; code that
//! starts bookies in-process builds it with [`BookieConfig::new`] and adjusts fields.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::group_commit::GroupCommitConfig;

/// Default of [`BookieConfig::max_inflight_bytes`]: 1 GiB, four connections at their
/// full default budget of 256 MiB (a gateway keeps one connection per bookie), and
/// about what the bookie already spends on its write cache (256 MiB, twice that
/// while a checkpoint runs) and read-ahead, so that hundreds of connections cannot
/// make it hold hundreds of times 256 MiB.
pub const DEFAULT_MAX_INFLIGHT_BYTES: usize = 1 << 30;

/// Everything a bookie needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct BookieConfig {
    /// The bookie's id, stamped into its cookies (default: the listen address).
    pub bookie_id: String,
    /// The cluster instance id the cookies must carry; `None` accepts what is on
    /// disk (and generates one for fresh directories).
    pub instance_id: Option<String>,
    /// Entry logs, index, checkpoint mark and cookie live here.
    pub data_dir: PathBuf,
    /// Journal files live here (default `data_dir/journal`); a separate disk here
    /// keeps journal fsyncs apart from entry-log writes.
    pub journal_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Journal group commit.
    pub journal: GroupCommitConfig,
    /// Roll to a new entry log past this size.
    pub entry_log_file_bytes: u64,
    /// Checkpoint when the write cache holds this many bytes.
    pub write_cache_bytes: usize,
    /// Checkpoint at least this often.
    pub checkpoint_interval: Duration,
    /// Bytes read from the entry log per read-ahead block.
    pub read_ahead_bytes: usize,
    /// Fraction of the disk in use (0.0–1.0) above which the bookie turns read-only.
    pub disk_usage_threshold: f64,
    /// How often disk usage is checked.
    pub disk_check_interval: Duration,
    /// Start (and stay) read-only.
    pub read_only: bool,
    /// Bytes one connection may hold (requests being handled, answers not yet
    /// written) before the bookie stops reading it and refuses adds with
    /// TooManyRequests.
    pub max_inflight_bytes_per_connection: usize,
    /// Bytes all connections together may hold (requests being handled, answers not
    /// yet written, and one `max_frame_bytes` reserved per read being handled)
    /// before the bookie stops reading every connection that holds something and
    /// refuses adds past it with TooManyRequests; a connection holding nothing is
    /// still admitted one request. Meant to be at least
    /// `max_inflight_bytes_per_connection` (the `folio` binary refuses less).
    pub max_inflight_bytes: usize,
    /// Largest frame accepted; a larger one closes the connection.
    pub max_frame_bytes: usize,
    /// How long the answers to one connection may wait on a peer that does not read
    /// them before the bookie closes the connection, releasing what it held (zero:
    /// wait as long as the connection lives). BookKeeper's
    /// `waitTimeoutOnResponseBackpressureMs`.
    pub response_write_timeout: Duration,
    /// Bytes per second a scrub pass reads at most (0: unlimited).
    pub scrub_rate_bytes_per_sec: u64,
    /// Time between periodic scrub passes (zero: only on a `Scrub` request).
    pub scrub_interval: Duration,
    /// Compact a sealed entry log whose live fraction is below this (0.0–1.0;
    /// 0 disables compaction; dead logs are still deleted).
    pub compaction_threshold: f64,
    /// Bytes per second compaction copies at most (0: unlimited).
    pub compaction_rate_bytes_per_sec: u64,
    /// Time between space reclamation passes (zero: none, not even at start-up).
    pub gc_interval: Duration,
}

impl BookieConfig {
    /// Defaults for a bookie on `data_dir` listening on `listen`.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> BookieConfig {
        let data_dir = data_dir.into();
        BookieConfig {
            bookie_id: listen.to_string(),
            instance_id: None,
            journal_dir: data_dir.join("journal"),
            data_dir,
            listen,
            journal: GroupCommitConfig {
                group_wait: Duration::ZERO,
                group_bytes: 4 << 20,
                file_bytes: 512 << 20,
            },
            entry_log_file_bytes: 1 << 30,
            write_cache_bytes: 256 << 20,
            checkpoint_interval: Duration::from_secs(10),
            read_ahead_bytes: 256 << 10,
            disk_usage_threshold: 0.95,
            disk_check_interval: Duration::from_secs(5),
            read_only: false,
            max_inflight_bytes_per_connection: 256 << 20,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
            max_frame_bytes: folio_proto::DEFAULT_MAX_FRAME_BYTES,
            response_write_timeout: Duration::from_secs(60),
            scrub_rate_bytes_per_sec: 8 << 20,
            scrub_interval: Duration::from_secs(86_400),
            compaction_threshold: 0.5,
            compaction_rate_bytes_per_sec: 8 << 20,
            gc_interval: Duration::from_secs(300),
        }
    }
}
