//! The admin commands (`folio bucket|key|ns|bookie ls|urep`, `folio ledger ls|show`):
//! clients of the gateway's admin HTTP API (`docs/admin-api.md`).
//!
//! [`AdminConn`] holds the flags every admin command shares (`--admin-url`,
//! `--admin-token`, `--json`) and [`Client`] makes the requests and turns every
//! failure into one line. Each group is a module under `admin/`; [`table`] prints
//! aligned tables, human-readable sizes and RFC 3339 times.

pub mod bookie;
pub mod bucket;
pub mod key;
pub mod ledger;
pub mod ns;
pub mod table;
pub mod urep;

use anyhow::{Context as _, anyhow};
use clap::Args;
use serde_json::Value;

/// How to reach the admin API, and how to print answers.
#[derive(Debug, Args, Clone)]
pub struct AdminConn {
    /// The admin API's URL.
    #[arg(
        long,
        env = "FOLIO_ADMIN_URL",
        default_value = "http://127.0.0.1:9001",
        global = true,
        value_name = "URL"
    )]
    pub admin_url: String,
    /// The admin API's bearer token.
    #[arg(
        long,
        env = "FOLIO_ADMIN_TOKEN",
        hide_env_values = true,
        global = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,
    /// Print the API's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A blocking client of the admin API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    runtime: tokio::runtime::Runtime,
    /// Print JSON instead of tables.
    pub json: bool,
}

impl Client {
    /// A client for `conn`; fails without a token.
    pub fn new(conn: &AdminConn) -> anyhow::Result<Client> {
        let token = conn
            .admin_token
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                anyhow!("no admin token: set FOLIO_ADMIN_TOKEN or pass --admin-token")
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("start the async runtime")?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .context("build the HTTP client")?;
        Ok(Client {
            http,
            base: conn.admin_url.trim_end_matches('/').to_owned(),
            token,
            runtime,
            json: conn.json,
        })
    }

    /// `GET path?query`.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(self.http.get(self.url(path)).query(query))
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(self.url(path))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string()),
        )
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.delete(self.url(path)))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let request = request.bearer_auth(&self.token);
        self.runtime.block_on(async {
            let response = request.send().await.map_err(|e| {
                anyhow!(
                    "cannot reach the admin API at {}: {}",
                    self.base,
                    root_cause(&e)
                )
            })?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| {
                anyhow!("read the admin API's answer: {}", root_cause(&e))
            })?;
            if status == reqwest::StatusCode::UNAUTHORIZED {
                return Err(anyhow!(
                    "the admin API at {} refused the token (401 Unauthorized): check FOLIO_ADMIN_TOKEN or --admin-token",
                    self.base
                ));
            }
            let value: Option<Value> = serde_json::from_slice(&body).ok();
            if !status.is_success() {
                let message = value
                    .as_ref()
                    .and_then(|v| v.get("error"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
                return Err(anyhow!("{message} ({status})"));
            }
            value.ok_or_else(|| anyhow!("the admin API answered {status} without JSON"))
        })
    }

    /// Prints `value` as pretty JSON (for `--json`).
    pub fn print_json(&self, value: &Value) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Splits `BUCKET[/PREFIX]` at the first `/`.
pub fn split_target(target: &str) -> (&str, &str) {
    target.split_once('/').unwrap_or((target, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_at_the_first_slash() {
        assert_eq!(split_target("photos"), ("photos", ""));
        assert_eq!(split_target("photos/2024/a.jpg"), ("photos", "2024/a.jpg"));
        assert_eq!(split_target("photos/"), ("photos", ""));
    }
}
