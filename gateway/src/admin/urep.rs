//! `/v1/urep`: the under-replication queue.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use folio_namespace::under_replicated;
use serde::Serialize;

use super::error::{ApiError, ns, ok};
use super::query::Query;
use crate::app::App;

#[derive(Serialize)]
struct ClaimView {
    worker: String,
    until_ms: u64,
}

#[derive(Serialize)]
struct UrepView {
    ledger_id: u64,
    missing_bookies: Vec<String>,
    since_ms: u64,
    claim: Option<ClaimView>,
    /// Entries copied so far by the worker holding the claim, of `entries_total`.
    entries_copied: u64,
    entries_total: u64,
    /// The bookie the entries are being copied to.
    copying_to: Option<String>,
    /// Failed attempts so far, the last one's error, and when the next may start.
    attempts: u32,
    last_error: Option<String>,
    next_attempt_ms: u64,
}

/// `GET /v1/urep?after=&limit=`: under-replicated ledgers by id.
pub(crate) async fn list(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    let after = q.u64("after")?;
    let limit = q.limit(1000, 1000)?;
    let queued = app
        .db
        .transact(move |tx, _| under_replicated::list(tx, after, limit))
        .await
        .map_err(|e| ns("list under-replicated ledgers", e))?;
    let next_after = (queued.len() == limit)
        .then(|| queued.last().map(|(id, _)| *id))
        .flatten();
    #[derive(Serialize)]
    struct Answer {
        ledgers: Vec<UrepView>,
        next_after: Option<u64>,
    }
    ok(&Answer {
        ledgers: queued
            .into_iter()
            .map(|(ledger_id, u)| UrepView {
                ledger_id,
                missing_bookies: u.missing_bookies,
                since_ms: u.since_ms,
                claim: u.claim.map(|c| ClaimView {
                    worker: c.worker,
                    until_ms: c.until_ms,
                }),
                entries_copied: u.entries_copied,
                entries_total: u.entries_total,
                copying_to: u.copying_to,
                attempts: u.attempts,
                last_error: u.last_error,
                next_attempt_ms: u.next_attempt_ms,
            })
            .collect(),
        next_after,
    })
}
