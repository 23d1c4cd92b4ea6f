//! `/v1/bookies`: every bookie the gateway knows (its configured list and the
//! registry), each asked for its state and disk space over the bookie protocol, with
//! the number of ledgers whose ensembles name it.
//!
//! Ledgers held are counted by a scan of ledger metadata, in pages of 1,000 ids (one
//! transaction each), of at most [`LEDGER_SCAN_LIMIT`] ledgers; `ledgers_complete`
//! is false when the scan stopped there.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use folio_ledger::BookieId;
use folio_namespace::NsError;
use folio_namespace::bookies::{self, BookieRecord, BookieState};
use folio_namespace::ledgers;
use folio_proto::BookieState as ReportedState;
use serde::Serialize;

use super::error::{ApiError, ns, ok};
use crate::app::App;
use crate::upload::now_ms;

/// Most ledgers one `/v1/bookies` request reads to count the ledgers each bookie holds.
pub(crate) const LEDGER_SCAN_LIMIT: usize = 100_000;
const LEDGER_PAGE: usize = 1000;

#[derive(Serialize)]
struct BookieView {
    address: String,
    /// `rw`, `ro`, `down`, or `decommissioned` (being drained: see
    /// `POST /v1/bookies/{address}/decommission`).
    state: &'static str,
    /// Whether it is in the gateway's configured list.
    configured: bool,
    /// Whether it is in the registry.
    registered: bool,
    rack: Option<String>,
    free_bytes: Option<u64>,
    total_bytes: Option<u64>,
    last_heartbeat_ms: Option<u64>,
    /// Ledgers whose ensembles name it (as far as the scan went).
    ledgers: u64,
    /// Whether every ledger was scanned.
    ledgers_complete: bool,
    /// Why GetBookieInfo failed, if it did.
    error: Option<String>,
}

/// Ledgers per bookie address, and whether the scan saw every ledger.
async fn ledgers_held(app: &App) -> Result<(BTreeMap<String, u64>, bool), ApiError> {
    let mut held: BTreeMap<String, u64> = BTreeMap::new();
    let mut after = None;
    let mut scanned = 0;
    while scanned < LEDGER_SCAN_LIMIT {
        let page = app
            .db
            .transact(move |tx, _| {
                let ids = ledgers::list_ids(tx, after, LEDGER_PAGE)?;
                let mut metas = Vec::with_capacity(ids.len());
                for id in &ids {
                    metas.extend(ledgers::get(tx, *id)?.map(|m| m.value));
                }
                Ok::<_, NsError>((ids.last().copied(), ids.len(), metas))
            })
            .await
            .map_err(|e| ns("scan ledgers", e))?;
        let (last, n, metas) = page;
        for meta in metas {
            let mut names: Vec<String> =
                meta.segments.into_iter().flat_map(|s| s.bookies).collect();
            names.sort();
            names.dedup();
            for name in names {
                *held.entry(name).or_default() += 1;
            }
        }
        scanned += n;
        if n < LEDGER_PAGE {
            return Ok((held, true));
        }
        after = last;
    }
    Ok((held, false))
}

async fn view(
    app: &App,
    address: String,
    configured: bool,
    rack: Option<String>,
    record: Option<BookieRecord>,
) -> BookieView {
    let info = app
        .ledgers
        .bookie_info(&BookieId::new(address.clone()))
        .await;
    let (state, free, total, error) = match info {
        Ok(i) => {
            let state = match i.state {
                ReportedState::ReadWrite => "rw",
                ReportedState::ReadOnly => "ro",
            };
            (state, Some(i.free_bytes), Some(i.total_bytes), None)
        }
        // Unreachable is down, whatever its last heartbeat said; a registered
        // bookie whose lease ran out is down even if it answers.
        Err(e) => (
            "down",
            record.as_ref().map(|r| r.free_bytes),
            record.as_ref().map(|r| r.capacity_bytes),
            Some(e.to_string()),
        ),
    };
    let registry_state = record.as_ref().map(|r| r.effective_state(now_ms()));
    let state = match registry_state {
        Some(BookieState::Decommissioned) => "decommissioned",
        Some(BookieState::Down) => "down",
        _ => state,
    };
    BookieView {
        address,
        state,
        configured,
        registered: record.is_some(),
        rack: rack.or_else(|| record.as_ref().and_then(|r| r.rack.clone())),
        free_bytes: free,
        total_bytes: total,
        last_heartbeat_ms: record.map(|r| r.last_heartbeat_ms),
        ledgers: 0,
        ledgers_complete: false,
        error,
    }
}

async fn all(app: &App) -> Result<Vec<BookieView>, ApiError> {
    let registered = app
        .db
        .transact(|tx, _| bookies::list(tx))
        .await
        .map_err(|e| ns("list bookies", e))?;
    // By address: (configured, rack, registry record).
    let mut known: BTreeMap<String, (bool, Option<String>, Option<BookieRecord>)> = BTreeMap::new();
    for c in app.ledgers.static_bookies() {
        known.insert(c.id.as_str().to_owned(), (true, c.rack.clone(), None));
    }
    for (_, record) in registered {
        let address = record.address.clone();
        known.entry(address).or_default().2 = Some(record);
    }
    let (held, complete) = ledgers_held(app).await?;
    let mut views =
        futures::future::join_all(known.into_iter().map(
            |(address, (configured, rack, record))| view(app, address, configured, rack, record),
        ))
        .await;
    for v in &mut views {
        v.ledgers = held.get(&v.address).copied().unwrap_or(0);
        v.ledgers_complete = complete;
    }
    Ok(views)
}

/// `GET /v1/bookies`.
pub(crate) async fn list(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct Answer {
        bookies: Vec<BookieView>,
    }
    ok(&Answer {
        bookies: all(&app).await?,
    })
}

/// `GET /v1/bookies/{address}`: one bookie the gateway knows.
pub(crate) async fn info(
    State(app): State<Arc<App>>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    let found = all(&app)
        .await?
        .into_iter()
        .find(|b| b.address == address)
        .ok_or_else(|| ApiError::NotFound(format!("no bookie {address:?}")))?;
    ok(&found)
}

/// The bookie named by an admin path, if the gateway knows it (configured or
/// registered): admin requests never reach arbitrary addresses.
async fn known(app: &App, address: &str) -> Result<BookieId, ApiError> {
    let configured = app
        .ledgers
        .static_bookies()
        .iter()
        .any(|c| c.id.as_str() == address);
    let registered = configured
        || app
            .db
            .transact(|tx, _| bookies::list(tx))
            .await
            .map_err(|e| ns("read the bookie registry", e))?
            .iter()
            .any(|(id, r)| r.address == address || id == address);
    if registered {
        Ok(BookieId::new(address.to_owned()))
    } else {
        Err(ApiError::NotFound(format!("no bookie {address:?}")))
    }
}

#[derive(Serialize)]
struct ScrubView {
    address: String,
    passes_completed: u64,
    entries_checked: u64,
    /// `[ledger_id, entry_id]` of copies that failed their check (at most 10,000).
    corrupt: Vec<(u64, u64)>,
}

/// `GET /v1/bookies/{address}/scrub`: what the bookie's scrubber has found.
pub(crate) async fn scrub_report(
    State(app): State<Arc<App>>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    let bookie = known(&app, &address).await?;
    let report = app
        .ledgers
        .scrub_report(&bookie)
        .await
        .map_err(|e| ApiError::Unavailable(format!("scrub report of {address}: {e}")))?;
    ok(&ScrubView {
        address,
        passes_completed: report.passes_completed,
        entries_checked: report.entries_checked,
        corrupt: report.corrupt,
    })
}

/// `POST /v1/bookies/{address}/scrub`: starts a scrub pass on the bookie now.
pub(crate) async fn scrub(
    State(app): State<Arc<App>>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    let bookie = known(&app, &address).await?;
    app.ledgers
        .start_scrub(&bookie)
        .await
        .map_err(|e| ApiError::Unavailable(format!("start a scrub on {address}: {e}")))?;
    #[derive(Serialize)]
    struct Answer {
        address: String,
        started: bool,
    }
    ok(&Answer {
        address,
        started: true,
    })
}

/// `POST /v1/bookies/{address}/decommission`: marks the bookie decommissioned (no new
/// ledgers are placed on it) and every ledger with a copy on it under-replicated, so
/// that the replication workers copy its data elsewhere. The bookie must be in the
/// registry. Poll `GET /v1/bookies/{address}` until `ledgers` is 0 (with
/// `ledgers_complete`): then nothing names it and it is safe to remove.
pub(crate) async fn decommission(
    State(app): State<Arc<App>>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    let bookie = known(&app, &address).await?;
    let db = app.db.clone();
    let id = bookie.as_str().to_owned();
    let marked = tokio::task::spawn_blocking(move || {
        bookies::decommission(&db, &id, DECOMMISSION_PAGE, now_ms())
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "decommission task failed");
        ApiError::Internal
    })?
    .map_err(|e| match e {
        NsError::BookieNotFound(_) => ApiError::NotFound(format!(
            "bookie {address:?} is not in the registry (is auto-recovery on?)"
        )),
        e => ns("decommission", e),
    })?;
    #[derive(Serialize)]
    struct Answer {
        address: String,
        ledgers_marked: u64,
    }
    ok(&Answer {
        address,
        ledgers_marked: marked,
    })
}

/// Ledgers marked per namespace transaction by a decommission.
const DECOMMISSION_PAGE: usize = 500;
