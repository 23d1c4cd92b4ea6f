//! `folio ledger`: admin and debugging commands that talk to bookies directly through
//! the ledger client (`folio-ledger`).
//!
//! - `simpletest` writes N entries to a new ledger, pipelined, reads them back,
//!   verifies every byte, and reports throughput and append latency;
//! - `read` prints the entries of a ledger (a summary per entry, or raw bytes), from
//!   the bookies or, without --metadata-dir or --metadata-url, through the admin API;
//! - `recover` fences and closes a ledger whose writer is gone;
//! - `ls` and `show` (and `recover` without --metadata-dir or --metadata-url) ask a
//!   running server's admin API instead (`crate::admin::ledger`).
//!
//! Ledger metadata lives in the namespace. The embedded namespace is locked by the
//! process that serves it (a gateway or `folio standalone`), so `read` and `recover`
//! work against a stopped server's metadata directory or a cluster's metadata URL;
//! a running server's ledgers are reached through its admin API instead.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use folio_ledger::{
    BookieId, BookieSource, Candidate, ClientConfig, LedgerClient, OpenMode, QuorumConfig,
    WriterConfig,
};
use folio_namespace::{Db, EmbeddedOptions, EmbeddedStore, KvStore};

use crate::units::{parse_duration, parse_size};

/// Flags of `folio ledger`.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    command: LedgerCommand,
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Write N entries to a new ledger, read them back, verify them, and report
    /// throughput and append latency.
    ///
    /// Without --metadata-dir or --metadata-url the ledger's metadata goes to a
    /// throwaway embedded namespace in a temporary directory, and the ledger is
    /// deleted from the bookies at the end.
    Simpletest(SimpletestArgs),
    /// Print the entries of a ledger: one line per entry (id, length, first bytes in
    /// hex), or the raw payloads with --raw.
    ///
    /// Reads through a running server's admin API (--admin-url, --admin-token), or,
    /// with --metadata-dir (a stopped gateway's or standalone's namespace directory;
    /// a running one holds its lock) or --metadata-url, from the bookies directly. An
    /// open ledger is read up to the LAC the bookies report, without disturbing its
    /// writer, unless --recover is given.
    Read(ReadArgs),
    /// Recover a ledger: fence it on its bookies, find its last entry, re-replicate
    /// the tail and close it. A live writer of the ledger is stopped (Fenced).
    ///
    /// Needs the ledger's metadata: a stopped gateway's or standalone's namespace
    /// directory (--metadata-dir; a running one holds its lock), a cluster's
    /// metadata URL, or else a running server's admin API (--admin-url,
    /// --admin-token).
    Recover(RecoverArgs),
    /// List ledgers (id, state, quorum, length, links) through the admin API.
    Ls(crate::admin::ledger::LsArgs),
    /// Show a ledger's metadata, ensembles, state, LAC, length and links through the
    /// admin API.
    Show(crate::admin::ledger::ShowArgs),
}

/// How to reach the ledger metadata and the bookies. `read` and `recover` reach the
/// bookies recorded in the ledger's metadata.
#[derive(Debug, Args)]
struct Connection {
    /// Directory of an embedded namespace (for `folio standalone`:
    /// <data-dir>/namespace). It must not be in use by a running process.
    #[arg(long, value_name = "DIR")]
    metadata_dir: Option<PathBuf>,
    /// Metadata store URL instead of a directory: embedded:///dir or
    /// fdb:///path/to/fdb.cluster.
    #[arg(long, value_name = "URL", conflicts_with = "metadata_dir")]
    metadata_url: Option<String>,
    /// Timeout of one request to one bookie (also the add timeout that triggers an
    /// ensemble change).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    timeout: String,
}

/// Flags of `folio ledger simpletest`.
#[derive(Debug, Args)]
struct SimpletestArgs {
    /// Bookies to write to, as host:port[,host:port...]. Placement picks the
    /// ensemble, and any replacement, among them.
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        value_name = "HOST:PORT,..."
    )]
    bookies: Vec<String>,
    #[command(flatten)]
    connection: Connection,
    /// Number of entries to write.
    #[arg(long, default_value_t = 10_000)]
    entries: u64,
    /// Size of each entry (e.g. 1024, 1KiB, 1MiB; at most 16MiB).
    #[arg(long, default_value = "1KiB", value_name = "SIZE")]
    entry_size: String,
    /// Ensemble size E: bookies per ledger segment.
    #[arg(short = 'e', long, default_value_t = 3)]
    ensemble_size: usize,
    /// Write quorum Qw: copies of each entry (E ≥ Qw).
    #[arg(short = 'w', long, default_value_t = 3)]
    write_quorum: usize,
    /// Ack quorum Qa: copies stored before an entry is acknowledged (Qw ≥ Qa ≥ 1).
    #[arg(short = 'a', long, default_value_t = 2)]
    ack_quorum: usize,
    /// Most entries in flight (appended, not yet acknowledged).
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Leave the ledger OPEN at the end, as a crashed writer would (no close, no
    /// delete); the read-back goes up to the LAC. Needs --metadata-dir or
    /// --metadata-url, so that the ledger can be recovered later.
    #[arg(long)]
    keep_open: bool,
    /// Print `ledger <id>` and then `ack <entry id>` for every acknowledged entry on
    /// stdout as it happens (for tests that kill the writer).
    #[arg(long)]
    print_acks: bool,
}

/// Flags of `folio ledger read`.
#[derive(Debug, Args)]
struct ReadArgs {
    /// The ledger id.
    ledger_id: u64,
    #[command(flatten)]
    connection: Connection,
    /// First entry to read.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Last entry to read [default: the last readable entry].
    #[arg(long)]
    to: Option<u64>,
    /// Write the payloads, concatenated, to stdout instead of a summary per entry.
    #[arg(long)]
    raw: bool,
    /// Recover (fence and close) an open ledger before reading it.
    #[arg(long)]
    recover: bool,
    /// Without --metadata-dir or --metadata-url: read through a running server's
    /// admin API (--admin-url, --admin-token; --json prints one JSON object per
    /// entry).
    #[command(flatten)]
    admin: crate::admin::AdminConn,
}

/// Flags of `folio ledger recover`.
#[derive(Debug, Args)]
struct RecoverArgs {
    /// The ledger id.
    ledger_id: u64,
    #[command(flatten)]
    connection: Connection,
    /// Without --metadata-dir or --metadata-url: recover through a running server's
    /// admin API.
    #[command(flatten)]
    admin: crate::admin::AdminConn,
}

/// Runs `folio ledger`.
pub fn run(args: LedgerArgs) -> anyhow::Result<()> {
    // The admin API commands run their own client; the others need a runtime here.
    let command = match args.command {
        LedgerCommand::Ls(args) => return crate::admin::ledger::ls(args),
        LedgerCommand::Show(args) => return crate::admin::ledger::show(args),
        LedgerCommand::Recover(args)
            if args.connection.metadata_dir.is_none() && args.connection.metadata_url.is_none() =>
        {
            return crate::admin::ledger::recover(args.ledger_id, &args.admin);
        }
        LedgerCommand::Read(args)
            if args.connection.metadata_dir.is_none() && args.connection.metadata_url.is_none() =>
        {
            let request = crate::admin::ledger::ReadRequest {
                ledger_id: args.ledger_id,
                from: args.from,
                to: args.to,
                raw: args.raw,
                recover: args.recover,
            };
            return crate::admin::ledger::read(request, &args.admin);
        }
        other => other,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async move {
        match command {
            LedgerCommand::Simpletest(args) => simpletest(args).await,
            LedgerCommand::Read(args) => read(args).await,
            LedgerCommand::Recover(args) => recover(args).await,
            LedgerCommand::Ls(_) | LedgerCommand::Show(_) => {
                unreachable!("handled before the runtime starts")
            }
        }
    })
}

/// The namespace a command uses, and the temporary directory to remove afterwards.
struct Metadata {
    db: Db,
    throwaway: Option<PathBuf>,
}

impl Drop for Metadata {
    fn drop(&mut self) {
        if let Some(dir) = &self.throwaway {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn open_metadata(connection: &Connection, throwaway_allowed: bool) -> anyhow::Result<Metadata> {
    let busy_hint = "is a gateway or standalone using it? stop it first";
    if let Some(url) = &connection.metadata_url {
        let store = folio_namespace::kv::open_url(url)
            .with_context(|| format!("open the metadata store {url} ({busy_hint})"))?;
        return Ok(Metadata {
            db: Db::new(store),
            throwaway: None,
        });
    }
    let (dir, throwaway) = match &connection.metadata_dir {
        Some(dir) => (dir.clone(), None),
        None if throwaway_allowed => {
            let dir = std::env::temp_dir().join(format!(
                "folio-simpletest-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            (dir.clone(), Some(dir))
        }
        None => {
            bail!("--metadata-dir or --metadata-url is required: the ledger's metadata is there")
        }
    };
    if !throwaway_allowed && !dir.is_dir() {
        bail!("metadata directory {} does not exist", dir.display());
    }
    let store = EmbeddedStore::open(&dir, EmbeddedOptions::default())
        .with_context(|| format!("open the namespace in {} ({busy_hint})", dir.display()))?;
    let store: Arc<dyn KvStore> = Arc::new(store);
    Ok(Metadata {
        db: Db::new(store),
        throwaway,
    })
}

fn bookies(list: &[String]) -> anyhow::Result<Vec<Candidate>> {
    let mut out: Vec<Candidate> = Vec::new();
    for raw in list {
        let address = raw.trim();
        let valid = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            bail!("--bookies: {address:?} is not host:port");
        }
        if out.iter().any(|c| c.id.as_str() == address) {
            bail!("--bookies: {address} is listed twice");
        }
        out.push(Candidate {
            id: BookieId::new(address),
            rack: None,
        });
    }
    if out.is_empty() {
        bail!("--bookies: no bookie given");
    }
    Ok(out)
}

fn client(
    connection: &Connection,
    candidates: Vec<Candidate>,
    db: Db,
    quorum: QuorumConfig,
    window: usize,
) -> anyhow::Result<LedgerClient> {
    let timeout =
        parse_duration(&connection.timeout).map_err(|e| anyhow::anyhow!("--timeout: {e}"))?;
    if timeout.is_zero() {
        bail!("--timeout: must be more than 0");
    }
    let config = ClientConfig {
        quorum,
        writer: WriterConfig {
            max_in_flight_entries: window,
            add_timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            ..WriterConfig::default()
        },
        request_timeout: timeout,
        connect_timeout: timeout.min(Duration::from_secs(3)),
        read_ahead_entries: window.clamp(1, 64),
        ..ClientConfig::default()
    };
    Ok(LedgerClient::new(
        db,
        BookieSource::Static(candidates),
        config,
    ))
}

/// The payload of entry `entry_id`: `base` with the entry id stamped over its first
/// bytes, so that every entry differs and a misplaced entry is caught.
fn payload(base: &[u8], entry_id: u64) -> Bytes {
    let mut bytes = base.to_vec();
    let stamp = entry_id.to_le_bytes();
    let n = stamp.len().min(bytes.len());
    bytes[..n].copy_from_slice(&stamp[..n]);
    Bytes::from(bytes)
}

async fn simpletest(args: SimpletestArgs) -> anyhow::Result<()> {
    let quorum = QuorumConfig::new(args.ensemble_size, args.write_quorum, args.ack_quorum)
        .context("-e/-w/-a")?;
    let entry_size =
        parse_size(&args.entry_size).map_err(|e| anyhow::anyhow!("--entry-size: {e}"))?;
    if entry_size == 0 || entry_size > 16 << 20 {
        bail!("--entry-size: must be between 1 byte and 16MiB, got {entry_size}");
    }
    if args.entries == 0 {
        bail!("--entries: must be at least 1");
    }
    if args.window == 0 {
        bail!("--window: must be at least 1");
    }
    if args.keep_open
        && args.connection.metadata_dir.is_none()
        && args.connection.metadata_url.is_none()
    {
        bail!(
            "--keep-open needs --metadata-dir or --metadata-url: an open ledger's metadata must outlive the test"
        );
    }
    let candidates = bookies(&args.bookies)?;
    if candidates.len() < quorum.ensemble_size() {
        bail!(
            "-e {} needs at least {} bookies, --bookies lists {}",
            quorum.ensemble_size(),
            quorum.ensemble_size(),
            candidates.len()
        );
    }
    let metadata = open_metadata(&args.connection, true)?;
    let client = client(
        &args.connection,
        candidates,
        metadata.db.clone(),
        quorum,
        args.window,
    )?;
    let entry_size = entry_size as usize;
    let base: Vec<u8> = (0..entry_size).map(|_| rand::random::<u8>()).collect();

    // A throwaway namespace would hand out the same ids as every other fresh
    // namespace, and the bookies may hold a real ledger with that id: pick a random
    // id instead (a collision is as likely as guessing a 64-bit number).
    let ledger_id = match metadata.throwaway {
        Some(_) => rand::random::<u64>() >> 1,
        None => client.reserve_id().await.context("allocate a ledger id")?,
    };
    let writer = client
        .create_at(ledger_id, quorum, BTreeMap::new())
        .await
        .context("create a ledger")?;
    let mut stdout = std::io::stdout();
    if args.print_acks {
        writeln!(stdout, "ledger {ledger_id}")?;
        stdout.flush()?;
    }
    let progress = Progress::new(std::io::stderr().is_terminal(), args.entries);

    // Appends are submitted by this task; a second one awaits the acknowledgements in
    // entry order and records each append's latency (submitted → acknowledged).
    let (pending_tx, mut pending_rx) =
        tokio::sync::mpsc::channel::<(u64, Instant, folio_ledger::PendingAppend)>(args.window);
    let print_acks = args.print_acks;
    let acker = tokio::spawn(async move {
        let mut latencies_us: Vec<u64> = Vec::new();
        let mut stdout = std::io::stdout();
        while let Some((expected, submitted, pending)) = pending_rx.recv().await {
            let entry_id = pending.await?;
            if entry_id != expected {
                bail!("entry {expected} was acknowledged as entry {entry_id}");
            }
            latencies_us.push(u64::try_from(submitted.elapsed().as_micros()).unwrap_or(u64::MAX));
            if print_acks {
                writeln!(stdout, "ack {entry_id}")?;
                stdout.flush()?;
            }
        }
        anyhow::Ok(latencies_us)
    });
    let started = Instant::now();
    for entry_id in 0..args.entries {
        let submitted = Instant::now();
        let pending = match writer.submit(payload(&base, entry_id)).await {
            Ok(p) => p,
            Err(e) => {
                drop(pending_tx);
                // The acker usually holds the first error; prefer it.
                acker.await.context("join the acknowledgement task")??;
                return Err(e).with_context(|| format!("append entry {entry_id}"));
            }
        };
        if pending_tx
            .send((entry_id, submitted, pending))
            .await
            .is_err()
        {
            break; // the acker stopped with an error, reported below
        }
        progress.tick("written", entry_id + 1, entry_size, started);
    }
    drop(pending_tx);
    let mut latencies_us = acker
        .await
        .context("join the acknowledgement task")?
        .with_context(|| format!("append to ledger {ledger_id}"))?;
    let write_elapsed = started.elapsed();
    progress.done();
    let last = if args.keep_open {
        drop(writer);
        args.entries - 1
    } else {
        let closed = writer.close().await.context("close the ledger")?;
        if closed.last_entry_id != args.entries as i64 - 1 {
            bail!(
                "ledger {ledger_id} closed at entry {}, expected {}",
                closed.last_entry_id,
                args.entries - 1
            );
        }
        args.entries - 1
    };

    // Read back and verify.
    let reader = client
        .open(ledger_id, OpenMode::NoRecover)
        .await
        .context("open the ledger for reading")?;
    let read_last = if args.keep_open {
        // An open ledger is readable up to the LAC the bookies know, which trails the
        // writer's by at most the last entry.
        u64::try_from(reader.lac()).unwrap_or(0).min(last)
    } else {
        last
    };
    let chunk_entries = ((64usize << 20) / entry_size).max(1) as u64;
    let started_read = Instant::now();
    let mut next = 0u64;
    let mut read_entries = 0u64;
    if reader.lac() >= 0 {
        while next <= read_last {
            let to = (next + chunk_entries - 1).min(read_last);
            let payloads = reader
                .read_range(next, to)
                .await
                .with_context(|| format!("read entries {next}..={to}"))?;
            for (i, got) in payloads.iter().enumerate() {
                let entry_id = next + i as u64;
                if got != &payload(&base, entry_id) {
                    bail!(
                        "entry {entry_id} read back different bytes ({} bytes)",
                        got.len()
                    );
                }
            }
            read_entries += payloads.len() as u64;
            next = to + 1;
            progress.tick("read", next, entry_size, started_read);
        }
    }
    let read_elapsed = started_read.elapsed();
    progress.done();

    latencies_us.sort_unstable();
    let mib = |n: u64| (n * entry_size as u64) as f64 / (1 << 20) as f64;
    let secs = |d: Duration| d.as_secs_f64().max(1e-9);
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "ledger {ledger_id}: {} entries of {entry_size} B, {quorum}, window {}",
        args.entries, args.window
    );
    println!(
        "write: {:.1} MiB in {:.2} s: {:.1} MiB/s, {:.0} entries/s; append latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        mib(args.entries),
        secs(write_elapsed),
        mib(args.entries) / secs(write_elapsed),
        args.entries as f64 / secs(write_elapsed),
        ms(percentile(&latencies_us, 50.0)),
        ms(percentile(&latencies_us, 99.0)),
        ms(latencies_us.last().copied().unwrap_or(0)),
    );
    println!(
        "read:  {:.1} MiB in {:.2} s: {:.1} MiB/s, {:.0} entries/s; {read_entries} entries verified",
        mib(read_entries),
        secs(read_elapsed),
        mib(read_entries) / secs(read_elapsed),
        read_entries as f64 / secs(read_elapsed),
    );
    if args.keep_open {
        println!("ledger {ledger_id} left open (--keep-open)");
    } else if metadata.throwaway.is_some() {
        client
            .delete(ledger_id)
            .await
            .with_context(|| format!("delete ledger {ledger_id}"))?;
    }
    Ok(())
}

/// The `p`-th percentile of sorted `values` (nearest rank).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Progress on stderr, when stderr is a terminal, at most a few times a second.
struct Progress {
    enabled: bool,
    total: u64,
    last: std::sync::Mutex<Option<Instant>>,
}

impl Progress {
    fn new(enabled: bool, total: u64) -> Progress {
        Progress {
            enabled,
            total,
            last: std::sync::Mutex::new(None),
        }
    }

    fn tick(&self, what: &str, done: u64, entry_size: usize, started: Instant) {
        if !self.enabled {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if last.is_some_and(|t| t.elapsed() < Duration::from_millis(250)) && done < self.total {
            return;
        }
        *last = Some(Instant::now());
        let mib_s = (done * entry_size as u64) as f64
            / (1 << 20) as f64
            / started.elapsed().as_secs_f64().max(1e-9);
        eprint!(
            "\r{what} {done}/{} entries, {mib_s:.1} MiB/s   ",
            self.total
        );
    }

    fn done(&self) {
        if self.enabled {
            eprintln!();
            if let Ok(mut last) = self.last.lock() {
                *last = None;
            }
        }
    }
}

async fn read(args: ReadArgs) -> anyhow::Result<()> {
    let metadata = open_metadata(&args.connection, false)?;
    let client = client(
        &args.connection,
        Vec::new(),
        metadata.db.clone(),
        QuorumConfig::STANDALONE,
        64,
    )?;
    let mode = if args.recover {
        OpenMode::Recover
    } else {
        OpenMode::NoRecover
    };
    let reader = client
        .open(args.ledger_id, mode)
        .await
        .with_context(|| format!("open ledger {}", args.ledger_id))?;
    let lac = reader.lac();
    let Ok(last_readable) = u64::try_from(lac) else {
        eprintln!(
            "ledger {} has no readable entries{}",
            args.ledger_id,
            if reader.is_closed() {
                ""
            } else {
                " yet (open)"
            }
        );
        return Ok(());
    };
    let to = args.to.unwrap_or(last_readable);
    if args.from > to {
        bail!("--from {} is past --to {to}", args.from);
    }
    if to > last_readable {
        bail!(
            "--to {to} is past the last readable entry {last_readable} of ledger {}",
            args.ledger_id
        );
    }
    if !args.raw {
        eprintln!(
            "ledger {}: {}, entries {}..={to} of 0..={last_readable}",
            args.ledger_id,
            if reader.is_closed() {
                format!("closed, {} bytes", reader.length())
            } else {
                "open (read up to the LAC)".to_owned()
            },
            args.from
        );
    }
    let mut stdout = std::io::stdout().lock();
    let mut next = args.from;
    while next <= to {
        let chunk_to = (next + 255).min(to);
        let payloads = reader
            .read_range(next, chunk_to)
            .await
            .with_context(|| format!("read entries {next}..={chunk_to}"))?;
        for (i, p) in payloads.iter().enumerate() {
            if args.raw {
                stdout.write_all(p)?;
            } else {
                let shown = &p[..p.len().min(16)];
                let hex: String = shown.iter().map(|b| format!("{b:02x}")).collect();
                let more = if p.len() > shown.len() { "…" } else { "" };
                writeln!(
                    stdout,
                    "entry {}: {} bytes {hex}{more}",
                    next + i as u64,
                    p.len()
                )?;
            }
        }
        next = chunk_to + 1;
    }
    stdout.flush()?;
    Ok(())
}

async fn recover(args: RecoverArgs) -> anyhow::Result<()> {
    let metadata = open_metadata(&args.connection, false)?;
    let client = client(
        &args.connection,
        Vec::new(),
        metadata.db.clone(),
        QuorumConfig::STANDALONE,
        64,
    )?;
    let closed = client
        .recover(args.ledger_id)
        .await
        .with_context(|| format!("recover ledger {}", args.ledger_id))?;
    println!(
        "ledger {} closed: last entry {}, length {} bytes",
        closed.ledger_id, closed.last_entry_id, closed.length
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn payloads_differ_per_entry() {
        let base = vec![0xabu8; 32];
        assert_ne!(payload(&base, 1), payload(&base, 2));
        assert_eq!(payload(&base, 3).len(), 32);
        assert_eq!(payload(&[1, 2], 258).as_ref(), &[2, 1]);
    }
}
