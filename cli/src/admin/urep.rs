//! `folio urep ls`: the under-replication queue.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::table::{Table, array, num, text, time};
use super::{AdminConn, Client};

/// Flags of `folio urep`.
#[derive(Debug, Args)]
pub struct UrepArgs {
    #[command(flatten)]
    conn: AdminConn,
    #[command(subcommand)]
    command: UrepCommand,
}

#[derive(Debug, Subcommand)]
enum UrepCommand {
    /// List under-replicated ledgers: missing bookies, since when, the worker
    /// re-replicating each and its progress, failed attempts and the last error.
    Ls,
}

/// Runs `folio urep`.
pub fn run(args: UrepArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.conn)?;
    match args.command {
        UrepCommand::Ls => {
            let mut ledgers: Vec<Value> = Vec::new();
            let mut after: Option<u64> = None;
            loop {
                let mut query = Vec::new();
                if let Some(a) = after {
                    query.push(("after", a.to_string()));
                }
                let page = client.get("/v1/urep", &query)?;
                ledgers.extend(array(&page, "ledgers").iter().cloned());
                match num(&page, "next_after") {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            if client.json {
                return client.print_json(&json!({ "ledgers": ledgers }));
            }
            let mut table = Table::new(&[
                "LEDGER",
                "MISSING",
                "SINCE",
                "CLAIMED BY",
                "PROGRESS",
                "ATTEMPTS",
                "LAST ERROR",
            ]);
            for u in &ledgers {
                let missing: Vec<&str> = array(u, "missing_bookies")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let claim = u.get("claim").filter(|c| !c.is_null()).map_or_else(
                    || "-".to_owned(),
                    |c| format!("{} until {}", text(c, "worker"), time(c, "until_ms")),
                );
                let progress = match (num(u, "entries_total"), u.get("copying_to")) {
                    (Some(total), Some(Value::String(to))) if total > 0 => format!(
                        "{}/{} entries → {to}",
                        num(u, "entries_copied").unwrap_or(0),
                        total
                    ),
                    _ => "-".to_owned(),
                };
                table.row(vec![
                    text(u, "ledger_id"),
                    missing.join(","),
                    time(u, "since_ms"),
                    claim,
                    progress,
                    text(u, "attempts"),
                    text(u, "last_error"),
                ]);
            }
            table.print();
            if ledgers.is_empty() {
                eprintln!("no under-replicated ledgers");
            }
        }
    }
    Ok(())
}
