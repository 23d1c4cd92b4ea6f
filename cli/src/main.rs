//! The `folio` binary: one executable for every role.
//!
//! Each subcommand lives in its own module with its clap arguments and its run
//! function; `main` only parses, sets up logging and dispatches. Shared helpers for
//! configuration (human-readable sizes and durations, key-naming errors) are in
//! [`units`].
//!
//! Subcommands today: `folio standalone` and `folio bookie`. `gateway` and the admin
//! groups are added as sibling modules.

mod bookie_cmd;
mod gateway_cmd;
mod ledger_cmd;
mod signal;
mod standalone_cmd;
mod units;

use clap::{Parser, Subcommand};

/// folio: an S3-compatible object store on replicated ledgers.
#[derive(Debug, Parser)]
#[command(name = "folio", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything on one machine: embedded namespace, bookies, S3 and admin API.
    Standalone(Box<standalone_cmd::StandaloneArgs>),
    /// Run the S3 gateway and admin API in front of separate bookies.
    Gateway(Box<gateway_cmd::GatewayArgs>),
    /// Run a bookie: the storage server that keeps ledger entries durably.
    Bookie(Box<bookie_cmd::BookieArgs>),
    /// Ledger tools that talk to bookies directly: simpletest, read, recover.
    Ledger(ledger_cmd::LedgerArgs),
}

fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FOLIO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The ledger tools print results; only warnings and errors join them by default.
    init_tracing(match cli.command {
        Command::Ledger(_) => "warn",
        _ => "info",
    });
    let result = match cli.command {
        Command::Standalone(args) => standalone_cmd::run(*args),
        Command::Bookie(args) => bookie_cmd::run(*args),
        Command::Gateway(args) => gateway_cmd::run(*args),
        Command::Ledger(args) => ledger_cmd::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("folio: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
