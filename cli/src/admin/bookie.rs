//! `folio bookie ls|info`: the bookies the gateway knows, with their state and disk
//! space as they report it.

use clap::Subcommand;
use serde_json::Value;

use super::bucket::encode;
use super::table::{Table, array, num, print_fields, size, text, time};
use super::{AdminConn, Client};

/// `folio bookie ls|info`.
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
}

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

/// Runs `folio bookie ls|info`.
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
    }
    Ok(())
}
