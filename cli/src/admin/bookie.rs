//! `folio bookie ls|info|scrub|decommission`: the bookies the gateway knows, with
//! their state and disk space as they report it; scrubbing one now; draining one
//! before it is removed.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::{Value, json};

use super::bucket::encode;
use super::table::{Table, array, num, print_fields, size, text, time};
use super::{AdminConn, Client};

/// `folio bookie ls|info|scrub|decommission`.
#[derive(Debug, Subcommand)]
pub enum BookieCommand {
    /// List bookies: address, state (rw, ro, down), free and total space, ledgers
    /// held, last heartbeat.
    Ls {
        #[command(flatten)]
        conn: AdminConn,
    },
    /// Show one bookie.
    Info {
        /// Its address, host:port.
        address: String,
        #[command(flatten)]
        conn: AdminConn,
    },
    /// Start a scrub pass on a bookie now (it re-reads every stored entry and checks
    /// its CRC32C), wait for it to finish, and list the corrupt copies it found. The
    /// auditor marks their ledgers and the replication workers repair them.
    Scrub {
        /// Its address, host:port.
        address: String,
        /// Start the pass and return without waiting for it.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this long (the pass goes on) [default: 1h].
        #[arg(long, default_value = "1h", value_parser = parse_wait)]
        timeout: Duration,
        #[command(flatten)]
        conn: AdminConn,
    },
    /// Drain a bookie: no new ledgers go to it, and every ledger with a copy on it is
    /// re-replicated elsewhere by the replication workers. Waits until no ledger names
    /// it, then reports it safe to remove. Needs auto-recovery running in the server.
    Decommission {
        /// Its address, host:port (as `folio bookie ls` shows it).
        address: String,
        /// Mark it and return without waiting for the copies.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this long (the draining goes on) [default: 24h].
        #[arg(long, default_value = "24h", value_parser = parse_wait)]
        timeout: Duration,
        #[command(flatten)]
        conn: AdminConn,
    },
}

fn parse_wait(s: &str) -> Result<Duration, String> {
    crate::units::parse_duration(s)
}

/// How often the long commands poll the server.
const POLL: Duration = Duration::from_secs(1);

fn used(b: &Value) -> String {
    match (num(b, "free_bytes"), num(b, "total_bytes")) {
        (Some(free), Some(total)) if total > 0 => {
            format!(
                "{:.0}%",
                100.0 * (total.saturating_sub(free)) as f64 / total as f64
            )
        }
        _ => "-".into(),
    }
}

/// Ledgers held, with `+` if the server's scan stopped before the last ledger.
fn ledgers(b: &Value) -> String {
    let more = b.get("ledgers_complete").and_then(Value::as_bool) == Some(false);
    format!("{}{}", text(b, "ledgers"), if more { "+" } else { "" })
}

/// Runs `folio bookie ls|info|scrub|decommission`.
pub fn run(command: BookieCommand) -> anyhow::Result<()> {
    match command {
        BookieCommand::Ls { conn } => {
            let client = Client::new(&conn)?;
            let answer = client.get("/v1/bookies", &[])?;
            if client.json {
                return client.print_json(&answer);
            }
            let mut table = Table::new(&[
                "ADDRESS",
                "STATE",
                "FREE",
                "TOTAL",
                "USED",
                "LEDGERS",
                "HEARTBEAT",
            ]);
            for b in array(&answer, "bookies") {
                table.row(vec![
                    text(b, "address"),
                    text(b, "state"),
                    size(b, "free_bytes"),
                    size(b, "total_bytes"),
                    used(b),
                    ledgers(b),
                    time(b, "last_heartbeat_ms"),
                ]);
            }
            table.print();
        }
        BookieCommand::Info { address, conn } => {
            let client = Client::new(&conn)?;
            let b = client.get(&format!("/v1/bookies/{}", encode(&address)), &[])?;
            if client.json {
                return client.print_json(&b);
            }
            print_fields(&[
                ("address", text(&b, "address")),
                ("state", text(&b, "state")),
                ("configured", text(&b, "configured")),
                ("registered", text(&b, "registered")),
                ("rack", text(&b, "rack")),
                ("free", size(&b, "free_bytes")),
                ("total", size(&b, "total_bytes")),
                ("used", used(&b)),
                ("ledgers", ledgers(&b)),
                ("last heartbeat", time(&b, "last_heartbeat_ms")),
                ("error", text(&b, "error")),
            ]);
        }
        BookieCommand::Scrub {
            address,
            no_wait,
            timeout,
            conn,
        } => scrub(&Client::new(&conn)?, &address, no_wait, timeout)?,
        BookieCommand::Decommission {
            address,
            no_wait,
            timeout,
            conn,
        } => decommission(&Client::new(&conn)?, &address, no_wait, timeout)?,
    }
    Ok(())
}

fn scrub(client: &Client, address: &str, no_wait: bool, timeout: Duration) -> anyhow::Result<()> {
    let path = format!("/v1/bookies/{}/scrub", encode(address));
    let before = client.get(&path, &[])?;
    let passes_before = num(&before, "passes_completed").unwrap_or(0);
    client.post(&path, &json!({}))?;
    if no_wait {
        if client.json {
            return client.print_json(&json!({"address": address, "started": true}));
        }
        println!("scrub started on {address}");
        return Ok(());
    }
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let report = loop {
        let report = client.get(&path, &[])?;
        if num(&report, "passes_completed").unwrap_or(0) > passes_before {
            break report;
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "the scrub of {address} did not finish within {timeout:?}; it goes on (see `folio bookie scrub {address} --no-wait` and its report)"
        );
        if tty {
            eprint!(
                "\rscrubbing {address}: {} entries checked so far…   ",
                num(&report, "entries_checked").unwrap_or(0)
            );
        }
        std::thread::sleep(POLL);
    };
    if tty {
        eprintln!();
    }
    if client.json {
        return client.print_json(&report);
    }
    let corrupt = array(&report, "corrupt");
    println!(
        "scrub of {address} finished: {} entries checked in all passes, {} corrupt",
        text(&report, "entries_checked"),
        corrupt.len()
    );
    if !corrupt.is_empty() {
        let mut table = Table::new(&["LEDGER", "ENTRY"]);
        for pair in corrupt {
            let at = |i: usize| pair.get(i).map_or_else(|| "-".into(), Value::to_string);
            table.row(vec![at(0), at(1)]);
        }
        table.print();
        println!("the auditor marks these ledgers; the replication workers repair them");
    }
    Ok(())
}

fn decommission(
    client: &Client,
    address: &str,
    no_wait: bool,
    timeout: Duration,
) -> anyhow::Result<()> {
    let path = format!("/v1/bookies/{}", encode(address));
    let marked = client
        .post(&format!("{path}/decommission"), &json!({}))
        .with_context(|| format!("decommission {address}"))?;
    let ledgers_marked = num(&marked, "ledgers_marked").unwrap_or(0);
    if no_wait {
        if client.json {
            return client.print_json(&marked);
        }
        println!(
            "{address} is decommissioned; {ledgers_marked} ledgers marked for re-replication (follow with `folio bookie info {address}` and `folio urep ls`)"
        );
        return Ok(());
    }
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    loop {
        let b = client.get(&path, &[])?;
        let left = num(&b, "ledgers").unwrap_or(u64::MAX);
        let complete = b.get("ledgers_complete").and_then(Value::as_bool) == Some(true);
        if left == 0 && complete {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "{address} still holds {left} ledgers after {timeout:?}; the draining goes on (see `folio urep ls`)"
        );
        if tty {
            eprint!("\rdraining {address}: {left} ledgers left…   ");
        }
        std::thread::sleep(POLL);
    }
    if tty {
        eprintln!();
    }
    if client.json {
        return client.print_json(&json!({
            "address": address,
            "ledgers_marked": ledgers_marked,
            "safe_to_remove": true,
        }));
    }
    println!(
        "{address} is drained: no ledger names it any more ({ledgers_marked} re-replicated). It is safe to remove."
    );
    Ok(())
}
