//! The `folio` binary: one executable for every role.
//!
//! Each subcommand lives in its own module with its clap arguments and its run
//! function; `main` only parses, sets up logging and dispatches. Shared helpers for
//! configuration (human-readable sizes and durations, key-naming errors) are in
//! [`units`]; the settings `standalone` and `gateway` share are declared once in
//! [`s3_settings`] (with [`gc_settings`] and [`autorecovery_settings`]), and
//! [`config_file`] reads a TOML file whose keys are split between a command's own
//! raw struct and the shared one.
//!
//! Servers: `folio standalone`, `folio gateway`, `folio bookie`. Tools: `folio ledger`
//! (bookies directly) and the admin groups in [`admin`] (`bucket`, `key`, `ns`,
//! `bookie ls|info`, `ledger ls|show`, `urep`), clients of the admin HTTP API.

mod admin;
mod autorecovery_settings;
mod bookie_cmd;
mod config_file;
mod gateway_cmd;
mod gc_settings;
mod ledger_cmd;
mod s3_settings;
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
    /// Ledger tools: ls and show through the admin API; simpletest, read and recover
    /// talk to bookies directly.
    Ledger(ledger_cmd::LedgerArgs),
    /// Manage buckets through the admin API: create, ls, info, rm.
    Bucket(admin::bucket::BucketArgs),
    /// Manage access keys through the admin API: create, ls, rm, allow, deny.
    Key(admin::key::KeyArgs),
    /// Browse the namespace through the admin API: ls, stat, du, tree.
    Ns(admin::ns::NsArgs),
    /// Under-replicated ledgers, through the admin API.
    Urep(admin::urep::UrepArgs),
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
        Command::Ledger(_)
        | Command::Bucket(_)
        | Command::Key(_)
        | Command::Ns(_)
        | Command::Urep(_) => "warn",
        Command::Bookie(ref args) if args.admin.is_some() => "warn",
        _ => "info",
    });
    let result = match cli.command {
        Command::Standalone(args) => standalone_cmd::run(*args),
        Command::Bookie(mut args) => match args.admin.take() {
            Some(command) => admin::bookie::run(command),
            None => bookie_cmd::run(*args),
        },
        Command::Gateway(args) => gateway_cmd::run(*args),
        Command::Ledger(args) => ledger_cmd::run(args),
        Command::Bucket(args) => admin::bucket::run(args),
        Command::Key(args) => admin::key::run(args),
        Command::Ns(args) => admin::ns::run(args),
        Command::Urep(args) => admin::urep::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("folio: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
