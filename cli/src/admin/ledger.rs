//! `folio ledger ls|show`: ledger metadata through the admin API (the other `folio
//! ledger` commands talk to bookies directly; see `ledger_cmd`).

use clap::Args;
use serde_json::{Value, json};

use super::ns::ensembles;
use super::table::{Table, array, num, print_fields, size, text, time};
use super::{AdminConn, Client};

/// Flags of `folio ledger ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only ledgers in this state: open, in_recovery or closed.
    #[arg(long, value_name = "STATE")]
    state: Option<String>,
    /// Most ledgers to show.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    #[command(flatten)]
    conn: AdminConn,
}

/// Flags of `folio ledger show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The ledger id.
    id: u64,
    #[command(flatten)]
    conn: AdminConn,
}

fn quorum(l: &Value) -> String {
    format!(
        "{}/{}/{}",
        text(l, "ensemble_size"),
        text(l, "write_quorum"),
        text(l, "ack_quorum")
    )
}

/// Runs `folio ledger ls`.
pub fn ls(args: LsArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.conn)?;
    let mut ledgers: Vec<Value> = Vec::new();
    let mut after: Option<u64> = None;
    while ledgers.len() < args.limit {
        let mut query = vec![("limit", "1000".to_owned())];
        if let Some(s) = &args.state {
            query.push(("state", s.clone()));
        }
        if let Some(a) = after {
            query.push(("after", a.to_string()));
        }
        let page = client.get("/v1/ledgers", &query)?;
        ledgers.extend(array(&page, "ledgers").iter().cloned());
        match num(&page, "next_after") {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    ledgers.truncate(args.limit);
    if client.json {
        return client.print_json(&json!({ "ledgers": ledgers }));
    }
    let mut table = Table::new(&[
        "LEDGER",
        "STATE",
        "E/QW/QA",
        "LENGTH",
        "LAST ENTRY",
        "LINKS",
        "CREATED",
    ]);
    for l in &ledgers {
        table.row(vec![
            text(l, "ledger_id"),
            text(l, "state"),
            quorum(l),
            size(l, "length_bytes"),
            text(l, "last_entry_id"),
            text(l, "links"),
            time(l, "ctime_ms"),
        ]);
    }
    table.print();
    Ok(())
}

/// Runs `folio ledger recover ID` through the admin API.
pub fn recover(ledger_id: u64, conn: &AdminConn) -> anyhow::Result<()> {
    let client = Client::new(conn)?;
    let answer = client.post(&format!("/v1/ledgers/{ledger_id}/recover"), &json!({}))?;
    if client.json {
        return client.print_json(&answer);
    }
    println!(
        "ledger {ledger_id} closed: last entry {}, length {} bytes",
        text(&answer, "last_entry_id"),
        text(&answer, "length_bytes")
    );
    Ok(())
}

/// Runs `folio ledger show`.
pub fn show(args: ShowArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.conn)?;
    let l = client.get(&format!("/v1/ledgers/{}", args.id), &[])?;
    if client.json {
        return client.print_json(&l);
    }
    let mut lac = text(&l, "lac");
    if let Some(e) = l.get("lac_error").and_then(Value::as_str) {
        lac = format!("unknown ({e})");
    }
    print_fields(&[
        ("ledger", text(&l, "ledger_id")),
        ("state", text(&l, "state")),
        ("metadata version", text(&l, "version")),
        ("quorum (E/Qw/Qa)", quorum(&l)),
        ("created", time(&l, "ctime_ms")),
        ("last entry", text(&l, "last_entry_id")),
        ("lac", lac),
        (
            "length",
            format!(
                "{} ({} bytes)",
                size(&l, "length_bytes"),
                text(&l, "length_bytes")
            ),
        ),
        ("links", text(&l, "links")),
        ("ensembles", ensembles(&l)),
    ]);
    println!();
    let mut table = Table::new(&["FIRST ENTRY", "BOOKIES"]);
    for e in array(&l, "ensembles") {
        let bookies: Vec<&str> = array(e, "bookies")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        table.row(vec![text(e, "first_entry_id"), bookies.join(" ")]);
    }
    table.print();
    Ok(())
}
