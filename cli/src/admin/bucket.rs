//! `folio bucket create|ls|info|rm`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::table::{Table, human_size, num, print_fields, text, time};
use super::{AdminConn, Client};

/// Flags of `folio bucket`.
#[derive(Debug, Args)]
pub struct BucketArgs {
    #[command(flatten)]
    conn: AdminConn,
    #[command(subcommand)]
    command: BucketCommand,
}

#[derive(Debug, Subcommand)]
enum BucketCommand {
    /// Create a bucket.
    Create {
        /// The bucket's name.
        name: String,
        /// Access key id of its owner (gets read, write and owner permission)
        /// [default: the root key].
        #[arg(long, value_name = "ACCESS_KEY_ID")]
        owner: Option<String>,
    },
    /// List buckets.
    Ls,
    /// Show a bucket: id, owner, creation time, object count and bytes (counted by a
    /// scan of at most 100,000 objects).
    Info {
        /// The bucket's name.
        name: String,
    },
    /// Delete an empty bucket.
    Rm {
        /// The bucket's name.
        name: String,
    },
}

/// Runs `folio bucket`.
pub fn run(args: BucketArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.conn)?;
    match args.command {
        BucketCommand::Create { name, owner } => {
            let answer = client.post("/v1/buckets", &json!({"name": name, "owner": owner}))?;
            if client.json {
                return client.print_json(&answer);
            }
            println!(
                "created bucket {} (id {}, owner {})",
                text(&answer, "name"),
                text(&answer, "id"),
                text(&answer, "owner")
            );
        }
        BucketCommand::Ls => {
            let answer = client.get("/v1/buckets", &[])?;
            if client.json {
                return client.print_json(&answer);
            }
            let mut table = Table::new(&["NAME", "ID", "OWNER", "CREATED"]);
            for b in super::table::array(&answer, "buckets") {
                table.row(vec![
                    text(b, "name"),
                    text(b, "id"),
                    text(b, "owner"),
                    time(b, "ctime_ms"),
                ]);
            }
            table.print();
        }
        BucketCommand::Info { name } => {
            let answer = client.get(&format!("/v1/buckets/{}", encode(&name)), &[])?;
            if client.json {
                return client.print_json(&answer);
            }
            let complete = answer.get("complete").and_then(|v| v.as_bool()) == Some(true);
            let more = if complete {
                ""
            } else {
                " (at least; scan stopped)"
            };
            print_fields(&[
                ("name", text(&answer, "name")),
                ("id", text(&answer, "id")),
                ("owner", text(&answer, "owner")),
                ("created", time(&answer, "ctime_ms")),
                ("objects", format!("{}{more}", text(&answer, "objects"))),
                (
                    "size",
                    format!(
                        "{} ({} bytes){more}",
                        human_size(num(&answer, "bytes").unwrap_or(0)),
                        text(&answer, "bytes")
                    ),
                ),
            ]);
        }
        BucketCommand::Rm { name } => {
            let answer = client.delete(&format!("/v1/buckets/{}", encode(&name)))?;
            if client.json {
                return client.print_json(&answer);
            }
            println!("deleted bucket {name}");
        }
    }
    Ok(())
}

/// Percent-encodes one path segment.
pub fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
