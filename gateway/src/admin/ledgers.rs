//! `/v1/ledgers`: ledger metadata, its ensembles and links, its entries (a binary
//! stream), and recovery.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::{BufMut as _, BytesMut};
use folio_ledger::{LedgerError, OpenMode};
use folio_namespace::ledgers::{self, LedgerMetadata, LedgerState, Versioned};
use folio_namespace::{NsError, links};
use serde::Serialize;

use super::error::{ApiError, ns, ok};
use super::query::Query;
use crate::app::App;

/// The name of a ledger state in the API (`open`, `in_recovery`, `closed`).
pub(crate) fn state_name(state: LedgerState) -> &'static str {
    match state {
        LedgerState::Open => "open",
        LedgerState::InRecovery => "in_recovery",
        LedgerState::Closed => "closed",
    }
}

#[derive(Serialize)]
pub(crate) struct EnsembleView {
    first_entry_id: u64,
    bookies: Vec<String>,
}

/// A ledger's metadata as the API shows it.
#[derive(Serialize)]
pub(crate) struct LedgerView {
    ledger_id: u64,
    state: &'static str,
    /// Metadata version: 1 at creation, +1 per change.
    version: u64,
    ensemble_size: u32,
    write_quorum: u32,
    ack_quorum: u32,
    /// Last entry id once closed.
    last_entry_id: Option<u64>,
    /// Payload bytes once closed.
    length_bytes: u64,
    ctime_ms: u64,
    /// Names that refer to the ledger.
    links: u64,
    ensembles: Vec<EnsembleView>,
}

impl LedgerView {
    pub(crate) fn new(ledger_id: u64, m: Versioned<LedgerMetadata>, links: u64) -> LedgerView {
        let meta = m.value;
        LedgerView {
            ledger_id,
            state: state_name(meta.state),
            version: m.version,
            ensemble_size: meta.ensemble_size,
            write_quorum: meta.write_quorum,
            ack_quorum: meta.ack_quorum,
            last_entry_id: meta.last_entry_id,
            length_bytes: meta.length_bytes,
            ctime_ms: meta.ctime_ms,
            links,
            ensembles: meta
                .segments
                .into_iter()
                .map(|s| EnsembleView {
                    first_entry_id: s.first_entry_id,
                    bookies: s.bookies,
                })
                .collect(),
        }
    }
}

fn parse_state(s: &str) -> Result<LedgerState, ApiError> {
    match s {
        "open" => Ok(LedgerState::Open),
        "in_recovery" => Ok(LedgerState::InRecovery),
        "closed" => Ok(LedgerState::Closed),
        other => Err(ApiError::BadRequest(format!(
            "state: expected open, in_recovery or closed, got {other:?}"
        ))),
    }
}

/// `GET /v1/ledgers?state=&after=&limit=`: a page of ledgers by id. `limit` ledgers
/// are read per page and those not in `state` are left out, so a filtered page may be
/// short; `next_after` is set while more ledgers follow.
pub(crate) async fn list(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    let state = q.get("state").map(parse_state).transpose()?;
    let after = q.u64("after")?;
    let limit = q.limit(100, 1000)?;
    let (views, next_after) = app
        .db
        .transact(move |tx, _| {
            let ids = ledgers::list_ids(tx, after, limit)?;
            let next_after = (ids.len() == limit).then(|| ids.last().copied()).flatten();
            let mut views = Vec::new();
            for id in ids {
                let Some(meta) = ledgers::get(tx, id)? else {
                    continue;
                };
                if state.is_some_and(|s| s != meta.value.state) {
                    continue;
                }
                let links = links::count(tx, id)?;
                views.push(LedgerView::new(id, meta, links));
            }
            Ok::<_, NsError>((views, next_after))
        })
        .await
        .map_err(|e| ns("list ledgers", e))?;
    #[derive(Serialize)]
    struct Answer {
        ledgers: Vec<LedgerView>,
        next_after: Option<u64>,
    }
    ok(&Answer {
        ledgers: views,
        next_after,
    })
}

fn parse_id(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::BadRequest(format!("ledger id: expected a number, got {s:?}")))
}

/// `GET /v1/ledgers/{id}`: metadata, plus for a ledger not yet closed the LAC its
/// bookies report (read without fencing; `lac_error` if they cannot be asked).
pub(crate) async fn show(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ledger_id = parse_id(&id)?;
    let (meta, links) = app
        .db
        .transact(move |tx, _| {
            let meta = ledgers::get(tx, ledger_id)?;
            Ok::<_, NsError>((meta, links::count(tx, ledger_id)?))
        })
        .await
        .map_err(|e| ns("read ledger", e))?;
    let meta = meta.ok_or_else(|| ApiError::NotFound(format!("no ledger {ledger_id}")))?;
    let closed = meta.value.state == LedgerState::Closed;
    let (lac, lac_error) = if closed {
        (
            meta.value.last_entry_id.map(|e| e as i64).or(Some(-1)),
            None,
        )
    } else {
        match app.ledgers.open(ledger_id, OpenMode::NoRecover).await {
            Ok(reader) => (Some(reader.lac()), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    #[derive(Serialize)]
    struct Answer {
        #[serde(flatten)]
        ledger: LedgerView,
        /// Last add confirmed: the last entry readers may read (-1: none).
        lac: Option<i64>,
        lac_error: Option<String>,
    }
    ok(&Answer {
        ledger: LedgerView::new(ledger_id, meta, links),
        lac,
        lac_error,
    })
}

/// `POST /v1/ledgers/{id}/recover`: fences and closes the ledger (a live writer is
/// stopped); a closed ledger is answered as it is.
pub(crate) async fn recover(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ledger_id = parse_id(&id)?;
    let closed = match app.ledgers.recover(ledger_id).await {
        Ok(closed) => closed,
        Err(LedgerError::NoSuchLedger(_)) => {
            return Err(ApiError::NotFound(format!("no ledger {ledger_id}")));
        }
        Err(e) => {
            tracing::warn!(ledger_id, error = %e, "admin API: recover ledger");
            return Err(ApiError::Unavailable(format!(
                "recover ledger {ledger_id}: {e}"
            )));
        }
    };
    tracing::info!(ledger_id, "admin API recovered ledger");
    #[derive(Serialize)]
    struct Answer {
        ledger_id: u64,
        last_entry_id: i64,
        length_bytes: u64,
    }
    ok(&Answer {
        ledger_id,
        last_entry_id: closed.last_entry_id,
        length_bytes: closed.length,
    })
}

/// Entries read from the bookies per step of an entries stream: the most payload
/// bytes the stream holds at once is this many entries.
const ENTRIES_PER_READ: u64 = 8;

/// `GET /v1/ledgers/{id}/entries?first=&last=`: the entries `first..=last` (default:
/// all readable) as a binary stream of frames `entry_id: u64 BE, length: u32 BE,
/// payload`, read a few entries at a time (bounded memory). An open ledger is read
/// up to the LAC its bookies report, without fencing its writer. Headers say what
/// was read: `x-folio-ledger-state` (`open` or `closed`), `x-folio-ledger-lac` (last
/// readable entry, -1 for none), `x-folio-ledger-length` (bytes, once closed),
/// `x-folio-first-entry` and `x-folio-last-entry` (the range streamed; absent when
/// nothing is readable). A failure mid-stream aborts the response, so a client never
/// takes a cut stream for a whole one: frames are complete or the read fails.
pub(crate) async fn entries(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let ledger_id = parse_id(&id)?;
    let q = Query::parse(raw.as_deref())?;
    let first = q.u64("first")?.unwrap_or(0);
    let last = q.u64("last")?;
    let reader = match app.ledgers.open(ledger_id, OpenMode::NoRecover).await {
        Ok(reader) => reader,
        Err(LedgerError::NoSuchLedger(_)) => {
            return Err(ApiError::NotFound(format!("no ledger {ledger_id}")));
        }
        Err(e) => {
            tracing::warn!(ledger_id, error = %e, "admin API: open ledger for reading");
            return Err(ApiError::Unavailable(format!(
                "open ledger {ledger_id}: {e}"
            )));
        }
    };
    let lac = reader.lac();
    let mut response = Response::builder()
        .header(http::header::CONTENT_TYPE, "application/octet-stream")
        .header(
            "x-folio-ledger-state",
            if reader.is_closed() { "closed" } else { "open" },
        )
        .header("x-folio-ledger-lac", lac.to_string());
    if reader.is_closed() {
        response = response.header("x-folio-ledger-length", reader.length().to_string());
    }
    let range = match u64::try_from(lac) {
        Err(_) => None, // nothing readable yet
        Ok(readable) => {
            let last = last.unwrap_or(readable);
            if last > readable {
                return Err(ApiError::BadRequest(format!(
                    "last: {last} is past the last readable entry {readable} of ledger {ledger_id}"
                )));
            }
            if first > last {
                return Err(ApiError::BadRequest(format!(
                    "first: {first} is past last {last}"
                )));
            }
            Some((first, last))
        }
    };
    let Some((first, last)) = range else {
        return response
            .body(Body::empty())
            .map_err(|e| super::error::internal("build response", &e));
    };
    response = response
        .header("x-folio-first-entry", first.to_string())
        .header("x-folio-last-entry", last.to_string());
    let frames = futures::stream::try_unfold(
        (reader, Some(first)),
        move |(reader, next)| async move {
            let Some(from) = next else {
                return Ok(None);
            };
            let to = from.saturating_add(ENTRIES_PER_READ - 1).min(last);
            let payloads = reader.read_range(from, to).await.map_err(|e| {
                tracing::warn!(ledger_id, from, to, error = %e, "admin API: read ledger entries; aborting the stream");
                std::io::Error::other(format!("read entries {from}..={to}: {e}"))
            })?;
            let mut frame = BytesMut::new();
            for (entry_id, p) in (from..).zip(&payloads) {
                let len = u32::try_from(p.len())
                    .map_err(|_| std::io::Error::other("entry longer than 4 GiB"))?;
                frame.put_u64(entry_id);
                frame.put_u32(len);
                frame.put_slice(p);
            }
            let next = (to < last).then_some(to + 1);
            Ok::<_, std::io::Error>(Some((frame.freeze(), (reader, next))))
        },
    );
    response
        .body(Body::from_stream(frames))
        .map_err(|e| super::error::internal("build response", &e))
}
