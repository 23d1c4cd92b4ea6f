//! Waiting for the signal to stop: SIGTERM or Ctrl-C.

use anyhow::Context as _;

/// Returns once SIGTERM or SIGINT (Ctrl-C) arrives.
pub async fn wait_for_shutdown() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r.context("wait for Ctrl-C")?,
    }
    Ok(())
}
