//! `folio key create|ls|rm|allow|deny`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::bucket::encode;
use super::table::{Table, array, text, time};
use super::{AdminConn, Client};

/// Flags of `folio key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(flatten)]
    conn: AdminConn,
    #[command(subcommand)]
    command: KeyCommand,
}

/// Which permissions `allow` or `deny` changes.
#[derive(Debug, Args)]
struct Change {
    /// The access key id.
    id: String,
    /// The bucket.
    bucket: String,
    /// GET, HEAD and listing.
    #[arg(long)]
    read: bool,
    /// PUT, DELETE and multipart uploads.
    #[arg(long)]
    write: bool,
    /// Deleting the bucket.
    #[arg(long)]
    owner: bool,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create an access key. Its secret is printed now and never again.
    Create {
        /// A human name for the key.
        name: String,
    },
    /// List access keys and their bucket permissions (no secrets).
    Ls,
    /// Delete an access key.
    Rm {
        /// The access key id.
        id: String,
    },
    /// Give a key permissions in a bucket (adds to what it has).
    Allow(Change),
    /// Take permissions in a bucket away from a key (all of them if no flag is given).
    Deny(Change),
}

fn perms(grant: &Value) -> String {
    let flag = |f: &str, c: char| {
        if grant.get(f).and_then(Value::as_bool) == Some(true) {
            c
        } else {
            '-'
        }
    };
    [flag("read", 'r'), flag("write", 'w'), flag("owner", 'o')]
        .iter()
        .collect()
}

/// Runs `folio key`.
pub fn run(args: KeyArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.conn)?;
    match args.command {
        KeyCommand::Create { name } => {
            let answer = client.post("/v1/keys", &json!({ "name": name }))?;
            if client.json {
                return client.print_json(&answer);
            }
            println!("access key id  {}", text(&answer, "access_key_id"));
            println!("secret key     {}", text(&answer, "secret"));
            println!("name           {}", text(&answer, "name"));
            eprintln!("The secret is shown only now: store it.");
        }
        KeyCommand::Ls => {
            let answer = client.get("/v1/keys", &[])?;
            if client.json {
                return client.print_json(&answer);
            }
            let mut table = Table::new(&["ACCESS KEY ID", "NAME", "CREATED", "BUCKETS"]);
            for k in array(&answer, "keys") {
                let grants: Vec<String> = array(k, "buckets")
                    .iter()
                    .map(|g| format!("{}:{}", text(g, "bucket"), perms(g)))
                    .collect();
                table.row(vec![
                    text(k, "access_key_id"),
                    text(k, "name"),
                    time(k, "created_ms"),
                    grants.join(","),
                ]);
            }
            table.print();
        }
        KeyCommand::Rm { id } => {
            let answer = client.delete(&format!("/v1/keys/{}", encode(&id)))?;
            if client.json {
                return client.print_json(&answer);
            }
            println!("deleted access key {id}");
        }
        KeyCommand::Allow(c) => change(&client, c, "allow")?,
        KeyCommand::Deny(c) => change(&client, c, "deny")?,
    }
    Ok(())
}

fn change(client: &Client, c: Change, verb: &str) -> anyhow::Result<()> {
    let answer = client.post(
        &format!("/v1/keys/{}/{verb}", encode(&c.id)),
        &json!({"bucket": c.bucket, "read": c.read, "write": c.write, "owner": c.owner}),
    )?;
    if client.json {
        return client.print_json(&answer);
    }
    println!(
        "{} in {}: {} (r read, w write, o owner)",
        c.id,
        text(&answer, "bucket"),
        perms(&answer)
    );
    Ok(())
}
