//! `folio ns ls|stat|du|tree`: browse a bucket's names like a file system, with `/`
//! as the directory separator.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::table::{Table, array, human_size, num, print_fields, size, text, time};
use super::{AdminConn, Client, split_target};

/// Flags of `folio ns`.
#[derive(Debug, Args)]
pub struct NsArgs {
    #[command(flatten)]
    conn: AdminConn,
    #[command(subcommand)]
    command: NsCommand,
}

#[derive(Debug, Subcommand)]
enum NsCommand {
    /// List buckets, or the objects and directories under BUCKET/PREFIX.
    ///
    /// The prefix is matched as given: `photos/2024/` lists that directory,
    /// `photos/2024` the names starting with `2024`.
    Ls {
        /// BUCKET or BUCKET/PREFIX; all buckets if absent.
        target: Option<String>,
        /// List every object under the prefix instead of stopping at `/`.
        #[arg(long, short = 'r')]
        recursive: bool,
        /// Show size, object count, modification time and ETag (directories are
        /// counted by a bounded scan).
        #[arg(long, short = 'l')]
        long: bool,
    },
    /// Show an object: size, ETag, checksums, content type, metadata, and its
    /// segments with each ledger's state and ensembles.
    Stat {
        /// BUCKET/KEY.
        target: String,
    },
    /// Count the objects and bytes under BUCKET[/PREFIX].
    Du {
        /// BUCKET or BUCKET/PREFIX.
        target: String,
    },
    /// Show the directories and objects under BUCKET[/PREFIX] as a tree.
    Tree {
        /// BUCKET or BUCKET/PREFIX.
        target: String,
        /// How many directory levels to descend.
        #[arg(long, default_value_t = 3)]
        depth: usize,
    },
}

/// Runs `folio ns`.
pub fn run(args: NsArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.conn)?;
    match args.command {
        NsCommand::Ls {
            target: None, long, ..
        } => ls_buckets(&client, long),
        NsCommand::Ls {
            target: Some(target),
            recursive,
            long,
        } => ls(&client, &target, recursive, long),
        NsCommand::Stat { target } => stat(&client, &target),
        NsCommand::Du { target } => du(&client, &target),
        NsCommand::Tree { target, depth } => tree(&client, &target, depth),
    }
}

fn ls_buckets(client: &Client, long: bool) -> anyhow::Result<()> {
    let answer = client.get("/v1/buckets", &[])?;
    if client.json {
        return client.print_json(&answer);
    }
    for b in array(&answer, "buckets") {
        if long {
            println!("{}  {}/", time(b, "ctime_ms"), text(b, "name"));
        } else {
            println!("{}/", text(b, "name"));
        }
    }
    Ok(())
}

/// Every page of `ls`, merged into one answer of the API's shape.
fn ls_all(
    client: &Client,
    bucket: &str,
    prefix: &str,
    recursive: bool,
    counts: bool,
) -> anyhow::Result<Value> {
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    let mut totals = serde_json::Map::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = vec![
            ("bucket", bucket.to_owned()),
            ("prefix", prefix.to_owned()),
            ("recursive", recursive.to_string()),
            ("counts", counts.to_string()),
        ];
        if let Some(a) = &after {
            query.push(("after", a.clone()));
        }
        let page = client.get("/v1/ns/ls", &query)?;
        objects.extend(array(&page, "objects").iter().cloned());
        prefixes.extend(array(&page, "prefixes").iter().cloned());
        if let Some(map) = page.get("prefix_totals").and_then(Value::as_object) {
            totals.extend(map.clone());
        }
        match page.get("next_after").and_then(Value::as_str) {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let mut merged = json!({
        "bucket": bucket,
        "prefix": prefix,
        "objects": objects,
        "prefixes": prefixes,
        "next_after": null,
    });
    if counts {
        merged["prefix_totals"] = Value::Object(totals);
    }
    Ok(merged)
}

/// Entries of a listing in name order: (name, object or `None` for a directory).
fn entries(listing: &Value) -> Vec<(String, Option<&Value>)> {
    let mut out: Vec<(String, Option<&Value>)> = array(listing, "objects")
        .iter()
        .map(|o| (text(o, "key"), Some(o)))
        .chain(
            array(listing, "prefixes")
                .iter()
                .filter_map(Value::as_str)
                .map(|p| (p.to_owned(), None)),
        )
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn ls(client: &Client, target: &str, recursive: bool, long: bool) -> anyhow::Result<()> {
    let (bucket, prefix) = split_target(target);
    let listing = ls_all(client, bucket, prefix, recursive, long)?;
    if client.json {
        return client.print_json(&listing);
    }
    if !long {
        for (name, _) in entries(&listing) {
            println!("{name}");
        }
        return Ok(());
    }
    let mut table = Table::new(&["SIZE", "OBJECTS", "MODIFIED", "ETAG", "NAME"]);
    let (mut count, mut bytes) = (0u64, 0u64);
    for (name, object) in entries(&listing) {
        match object {
            Some(o) => {
                count += 1;
                bytes += num(o, "size_bytes").unwrap_or(0);
                table.row(vec![
                    size(o, "size_bytes"),
                    "1".into(),
                    time(o, "mtime_ms"),
                    text(o, "etag"),
                    name,
                ]);
            }
            None => {
                // A directory: its totals, `+` when the server's count stopped early.
                let t = &listing["prefix_totals"][&name];
                let more = if t["complete"] == false { "+" } else { "" };
                table.row(vec![
                    format!("{}{more}", size(t, "bytes")),
                    format!("{}{more}", text(t, "objects")),
                    "DIR".into(),
                    "-".into(),
                    name,
                ]);
            }
        }
    }
    table.print();
    println!(
        "{count} objects, {}, {} directories",
        human_size(bytes),
        array(&listing, "prefixes").len()
    );
    Ok(())
}

fn stat(client: &Client, target: &str) -> anyhow::Result<()> {
    let (bucket, key) = split_target(target);
    if key.is_empty() {
        anyhow::bail!("ns stat: expected BUCKET/KEY, got {target:?}");
    }
    let answer = client.get(
        "/v1/ns/stat",
        &[("bucket", bucket.to_owned()), ("key", key.to_owned())],
    )?;
    if client.json {
        return client.print_json(&answer);
    }
    let mut fields = vec![
        ("bucket", text(&answer, "bucket")),
        ("key", text(&answer, "key")),
        (
            "size",
            format!(
                "{} ({} bytes)",
                size(&answer, "size_bytes"),
                text(&answer, "size_bytes")
            ),
        ),
        ("etag", text(&answer, "etag")),
        ("modified", time(&answer, "mtime_ms")),
        ("content-type", text(&answer, "content_type")),
    ];
    for c in array(&answer, "checksums") {
        fields.push((
            "checksum",
            format!("{} {}", text(c, "algorithm"), text(c, "value_base64")),
        ));
    }
    if let Some(map) = answer.get("headers").and_then(Value::as_object) {
        for (k, v) in map {
            fields.push(("header", format!("{k}: {}", v.as_str().unwrap_or("-"))));
        }
    }
    if let Some(map) = answer.get("metadata").and_then(Value::as_object) {
        for (k, v) in map {
            fields.push(("metadata", format!("{k}={}", v.as_str().unwrap_or("-"))));
        }
    }
    fields.push(("segments", array(&answer, "segments").len().to_string()));
    print_fields(&fields);
    println!();
    let mut table = Table::new(&["LEDGER", "LENGTH", "ENTRY SIZE", "STATE", "ENSEMBLES"]);
    for s in array(&answer, "segments") {
        let ledger = s.get("ledger").unwrap_or(&Value::Null);
        table.row(vec![
            text(s, "ledger_id"),
            size(s, "length_bytes"),
            size(s, "entry_size_bytes"),
            if ledger.is_null() {
                "missing".into()
            } else {
                text(ledger, "state")
            },
            ensembles(ledger),
        ]);
    }
    table.print();
    Ok(())
}

/// A ledger's ensembles on one line: `0:[a,b,c] 17:[a,d,c]`.
pub fn ensembles(ledger: &Value) -> String {
    array(ledger, "ensembles")
        .iter()
        .map(|e| {
            let bookies: Vec<String> = array(e, "bookies")
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            format!("{}:[{}]", text(e, "first_entry_id"), bookies.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn du(client: &Client, target: &str) -> anyhow::Result<()> {
    let (bucket, prefix) = split_target(target);
    let (mut objects, mut bytes) = (0u64, 0u64);
    let mut after: Option<String> = None;
    loop {
        let mut query = vec![("bucket", bucket.to_owned()), ("prefix", prefix.to_owned())];
        if let Some(a) = &after {
            query.push(("after", a.clone()));
        }
        let page = client.get("/v1/ns/du", &query)?;
        objects += num(&page, "objects").unwrap_or(0);
        bytes += num(&page, "bytes").unwrap_or(0);
        match page.get("next_after").and_then(Value::as_str) {
            Some(next) => {
                after = Some(next.to_owned());
                if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    eprint!("\r{objects} objects so far…");
                }
            }
            None => break,
        }
    }
    let total = json!({"bucket": bucket, "prefix": prefix, "objects": objects, "bytes": bytes});
    if client.json {
        return client.print_json(&total);
    }
    println!(
        "{}  {objects} objects  {bytes} bytes  {target}",
        human_size(bytes)
    );
    Ok(())
}

fn tree(client: &Client, target: &str, depth: usize) -> anyhow::Result<()> {
    let (bucket, prefix) = split_target(target);
    if client.json {
        let t = tree_json(client, bucket, prefix, depth)?;
        return client.print_json(&t);
    }
    println!("{target}");
    tree_print(client, bucket, prefix, depth, "")
}

fn tree_json(client: &Client, bucket: &str, prefix: &str, depth: usize) -> anyhow::Result<Value> {
    let listing = ls_all(client, bucket, prefix, false, false)?;
    let mut children = Vec::new();
    for p in array(&listing, "prefixes").iter().filter_map(Value::as_str) {
        children.push(if depth > 1 {
            tree_json(client, bucket, p, depth - 1)?
        } else {
            json!({ "prefix": p })
        });
    }
    Ok(json!({
        "prefix": prefix,
        "objects": array(&listing, "objects"),
        "children": children,
    }))
}

fn tree_print(
    client: &Client,
    bucket: &str,
    prefix: &str,
    depth: usize,
    indent: &str,
) -> anyhow::Result<()> {
    let listing = ls_all(client, bucket, prefix, false, false)?;
    let all = entries(&listing);
    for (i, (name, object)) in all.iter().enumerate() {
        let last = i + 1 == all.len();
        let short = name.strip_prefix(prefix).unwrap_or(name);
        let branch = if last { "└── " } else { "├── " };
        match object {
            Some(o) => println!("{indent}{branch}{short} ({})", size(o, "size_bytes")),
            None => {
                println!("{indent}{branch}{short}");
                if depth > 1 {
                    let deeper = format!("{indent}{}", if last { "    " } else { "│   " });
                    tree_print(client, bucket, name, depth - 1, &deeper)?;
                }
            }
        }
    }
    Ok(())
}
