//! `folio ledger ls|show|recover|read`: ledgers through the admin API (`read` and
//! `recover` talk to bookies directly when given --metadata-dir or --metadata-url;
//! see `ledger_cmd`).

use std::io::Write;

use anyhow::{Context as _, anyhow, bail};
use bytes::{Buf as _, BytesMut};
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

/// What `folio ledger read` asks of the admin API.
pub struct ReadRequest {
    /// The ledger id.
    pub ledger_id: u64,
    /// First entry.
    pub from: u64,
    /// Last entry (default: the last readable one).
    pub to: Option<u64>,
    /// Payloads concatenated on stdout instead of a summary per entry.
    pub raw: bool,
    /// Recover (fence and close) the ledger first.
    pub recover: bool,
}

/// Largest frame payload accepted from the entries stream (a bookie's frame limit is
/// 16 MiB plus headers), so a corrupt length cannot make the CLI allocate without
/// bound.
const MAX_ENTRY_BYTES: usize = 64 << 20;

/// Runs `folio ledger read ID` through the admin API
/// (`GET /v1/ledgers/{id}/entries`): streams the entries, printing each as it
/// arrives (bounded memory), in the same form as a read with --metadata-dir; with
/// --json, one JSON object per entry and line (`entry_id`, `length_bytes`,
/// `payload_hex`).
pub fn read(req: ReadRequest, conn: &AdminConn) -> anyhow::Result<()> {
    let token = conn
        .admin_token
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            anyhow!(
                "no admin token: set FOLIO_ADMIN_TOKEN or pass --admin-token (or read from the bookies with --metadata-dir or --metadata-url)"
            )
        })?;
    if req.recover {
        recover(
            req.ledger_id,
            &AdminConn {
                json: false,
                ..conn.clone()
            },
        )?;
    }
    let base = conn.admin_url.trim_end_matches('/').to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async move {
        let mut query = vec![("first", req.from.to_string())];
        if let Some(to) = req.to {
            query.push(("last", to.to_string()));
        }
        let url = format!("{base}/v1/ledgers/{}/entries", req.ledger_id);
        let mut response = reqwest::Client::new()
            .get(&url)
            .query(&query)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| anyhow!("cannot reach the admin API at {base}: {e}"))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            bail!(
                "the admin API at {base} refused the token (401 Unauthorized): check FOLIO_ADMIN_TOKEN or --admin-token"
            );
        }
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
            bail!("{message} ({status})");
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let closed = header("x-folio-ledger-state").as_deref() == Some("closed");
        let lac = header("x-folio-ledger-lac").unwrap_or_else(|| "?".into());
        let range = header("x-folio-first-entry").zip(header("x-folio-last-entry"));
        let Some((first, last)) = range else {
            eprintln!(
                "ledger {} has no readable entries{}",
                req.ledger_id,
                if closed { "" } else { " yet (open)" }
            );
            return Ok(());
        };
        let first: u64 = first.parse().context("x-folio-first-entry")?;
        let last: u64 = last.parse().context("x-folio-last-entry")?;
        if !req.raw && !conn.json {
            eprintln!(
                "ledger {}: {}, entries {first}..={last} of 0..={lac}",
                req.ledger_id,
                if closed {
                    format!(
                        "closed, {} bytes",
                        header("x-folio-ledger-length").unwrap_or_default()
                    )
                } else {
                    "open (read up to the LAC)".to_owned()
                },
            );
        }
        let mut stdout = std::io::stdout().lock();
        let mut buf = BytesMut::new();
        let mut expected = first;
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| anyhow!("read entries of ledger {} from the admin API: {e}", req.ledger_id))?;
            let Some(chunk) = chunk else { break };
            buf.extend_from_slice(&chunk);
            while buf.len() >= 12 {
                let entry_id = u64::from_be_bytes(buf[..8].try_into()?);
                let len = u32::from_be_bytes(buf[8..12].try_into()?) as usize;
                if len > MAX_ENTRY_BYTES || entry_id != expected {
                    bail!("malformed entries stream: entry {entry_id} of {len} bytes where entry {expected} was expected");
                }
                if buf.len() < 12 + len {
                    break;
                }
                buf.advance(12);
                let payload = buf.split_to(len);
                print_entry(&mut stdout, entry_id, &payload, req.raw, conn.json)?;
                expected += 1;
            }
        }
        if !buf.is_empty() || expected != last + 1 {
            bail!(
                "the entries stream of ledger {} ended after entry {} of {first}..={last}",
                req.ledger_id,
                expected as i128 - 1
            );
        }
        stdout.flush()?;
        Ok(())
    })
}

/// One entry as `folio ledger read` prints it.
fn print_entry(
    out: &mut impl Write,
    entry_id: u64,
    payload: &[u8],
    raw: bool,
    json: bool,
) -> anyhow::Result<()> {
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    if raw {
        out.write_all(payload)?;
    } else if json {
        let line = json!({
            "entry_id": entry_id,
            "length_bytes": payload.len(),
            "payload_hex": hex(payload),
        });
        writeln!(out, "{line}")?;
    } else {
        let shown = &payload[..payload.len().min(16)];
        let more = if payload.len() > shown.len() {
            "…"
        } else {
            ""
        };
        writeln!(
            out,
            "entry {entry_id}: {} bytes {}{more}",
            payload.len(),
            hex(shown)
        )?;
    }
    Ok(())
}
