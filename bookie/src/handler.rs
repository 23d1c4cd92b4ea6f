//! Request handling: one async function per operation, driving the pure ledger table
//! ([`crate::fencing`]), the journal and the storage. Which requests change state,
//! what they journal and what they answer once durable is decided by
//! [`crate::machine::plan`], which the deterministic simulation's
//! [`crate::machine::BookieCore`] runs too; this module adds the async waiting,
//! write-cache backpressure, long polls and the requests that change nothing.
//!
//! Ordering rule: a request that changes state is admitted and its journal records
//! queued under the same lock, so the journal's order is the admission order. A
//! fence admitted before an add therefore reaches the journal before it, and no add
//! admitted after a fence is ever acknowledged.

use std::time::Duration;

use folio_proto::{
    AddEntry, AddEntryResponse, BookieInfoResponse, BookieState, DeleteLedgerResponse,
    LedgerEntriesResponse, ListLedgersResponse, MAX_LIST_LEDGERS, MAX_SCRUB_REPORT_ENTRIES,
    NO_ENTRY, ReadEntry, ReadEntryResponse, ReadLacResponse, Request, Response,
    ScrubReportResponse, ScrubResponse, Status, WriteLacResponse,
};

use crate::bookie::Shared;
use crate::error::StorageError;
use crate::group_commit::AppendWaiter;
use crate::machine::{Plan, Then, check_digest, failed, plan, read_answer};

/// How long an add waits for a full write cache to drain before TooManyRequests.
const CACHE_FULL_WAIT: Duration = Duration::from_secs(5);

/// The response to `req` carrying only `status` (for refusals).
pub(crate) fn refusal(req: &Request, status: Status) -> Response {
    match req {
        Request::AddEntry(r) => Response::AddEntry(AddEntryResponse {
            status,
            ledger_id: r.entry.ledger_id(),
            entry_id: r.entry.entry_id(),
        }),
        Request::ReadEntry(r) => Response::ReadEntry(ReadEntryResponse {
            status,
            ledger_id: r.ledger_id,
            target: r.target,
            lac: NO_ENTRY,
            entry: None,
        }),
        Request::ReadLac(r) => Response::ReadLac(ReadLacResponse {
            status,
            ledger_id: r.ledger_id,
            lac: NO_ENTRY,
        }),
        Request::WriteLac(r) => Response::WriteLac(WriteLacResponse {
            status,
            ledger_id: r.ledger_id,
        }),
        Request::GetBookieInfo => Response::GetBookieInfo(BookieInfoResponse {
            status,
            free_bytes: 0,
            total_bytes: 0,
            state: BookieState::ReadOnly,
        }),
        Request::DeleteLedger(r) => Response::DeleteLedger(DeleteLedgerResponse {
            status,
            ledger_id: r.ledger_id,
        }),
        Request::ListLedgers(_) => Response::ListLedgers(ListLedgersResponse {
            status,
            ledger_ids: Vec::new(),
        }),
        Request::GetLedgerEntries(_) => Response::GetLedgerEntries(LedgerEntriesResponse {
            status,
            ranges: Vec::new(),
        }),
        Request::Scrub => Response::Scrub(ScrubResponse { status }),
        Request::GetScrubReport => Response::GetScrubReport(ScrubReportResponse {
            status,
            passes_completed: 0,
            entries_checked: 0,
            corrupt: Vec::new(),
        }),
    }
}

/// Handles one request.
pub(crate) async fn handle(shared: &Shared, req: Request) -> Response {
    match req {
        Request::AddEntry(r) => shared.state.metrics.timed(add_entry(shared, r)).await,
        Request::ReadEntry(r) => shared.state.metrics.timed(read_entry(shared, r)).await,
        Request::ReadLac(r) => {
            let lac = shared.state.table().lac(r.ledger_id);
            Response::ReadLac(ReadLacResponse {
                status: if lac.is_some() {
                    Status::Ok
                } else {
                    Status::NoSuchLedger
                },
                ledger_id: r.ledger_id,
                lac: lac.unwrap_or(NO_ENTRY),
            })
        }
        Request::WriteLac(r) => carry_out(shared, Request::WriteLac(r)).await,
        Request::GetBookieInfo => {
            let read_only = shared.state.table().read_only();
            let state = if read_only {
                BookieState::ReadOnly
            } else {
                BookieState::ReadWrite
            };
            match shared.disk.space() {
                Ok(space) => Response::GetBookieInfo(BookieInfoResponse {
                    status: Status::Ok,
                    free_bytes: space.free_bytes,
                    total_bytes: space.total_bytes,
                    state,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "read disk space");
                    refusal(&Request::GetBookieInfo, Status::IoError)
                }
            }
        }
        // Under the table's lock, like adds, so that no add is journaled after it.
        Request::DeleteLedger(r) => carry_out(shared, Request::DeleteLedger(r)).await,
        Request::ListLedgers(r) => {
            let limit = r.limit.min(MAX_LIST_LEDGERS) as usize;
            let state = shared.state.clone();
            let req = Request::ListLedgers(r);
            match blocking(move || state.storage.list_ledgers(r.start, limit)).await {
                Ok(ledger_ids) => Response::ListLedgers(ListLedgersResponse {
                    status: Status::Ok,
                    ledger_ids,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "list ledgers failed; answering IoError");
                    refusal(&req, Status::IoError)
                }
            }
        }
        Request::GetLedgerEntries(r) => {
            let state = shared.state.clone();
            let req = Request::GetLedgerEntries(r);
            match blocking(move || state.storage.ledger_entries(r.ledger_id)).await {
                Ok(ranges) if ranges.is_empty() => refusal(&req, Status::NoSuchLedger),
                Ok(ranges) => Response::GetLedgerEntries(LedgerEntriesResponse {
                    status: Status::Ok,
                    ranges,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, ledger_id = r.ledger_id, "list entries failed; answering IoError");
                    refusal(&req, Status::IoError)
                }
            }
        }
        Request::Scrub => {
            shared.scrubber.request_pass();
            Response::Scrub(ScrubResponse { status: Status::Ok })
        }
        Request::GetScrubReport => {
            let stats = shared.scrubber.stats(&shared.state.storage);
            Response::GetScrubReport(ScrubReportResponse {
                status: Status::Ok,
                passes_completed: stats.passes_completed,
                entries_checked: stats.entries_checked,
                corrupt: shared
                    .state
                    .storage
                    .corrupt_entries(MAX_SCRUB_REPORT_ENTRIES),
            })
        }
    }
}

/// Runs storage work off the async threads; a failed task is a storage error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Corrupt(format!("storage task failed: {e}")))?
}

/// Waits for a journal append; any failure is an I/O error to the client.
async fn durable(waiter: AppendWaiter) -> Status {
    match waiter.await {
        Ok(Ok(())) => Status::Ok,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "journal append failed");
            Status::IoError
        }
        Err(_) => Status::IoError,
    }
}

async fn add_entry(shared: &Shared, add: AddEntry) -> Response {
    if let Some(refused) = check_digest(&add) {
        return refused;
    }
    if !shared.state.wait_for_cache_room(CACHE_FULL_WAIT).await {
        tracing::warn!("write cache still full after {CACHE_FULL_WAIT:?}; refusing add");
        return refusal(&Request::AddEntry(add), Status::TooManyRequests);
    }
    carry_out(shared, Request::AddEntry(add)).await
}

/// What to do after admission (decided under the table's lock).
enum Next {
    Done(Response),
    Read(ReadEntry),
    Wait(AppendWaiter, Then),
}

/// Admits a request under the ledger table's lock ([`plan`], shared with
/// [`crate::machine::BookieCore`]) and queues its journal records before the lock
/// is released, so the journal's order is the admission order; then waits for
/// them to be durable before answering (a fencing read reads only then).
async fn carry_out(shared: &Shared, req: Request) -> Response {
    let next = {
        let mut table = shared.state.table();
        match plan(&mut table, req) {
            Plan::Reply(resp) => Next::Done(resp),
            Plan::Read(r) => Next::Read(r),
            Plan::Journal(records, then) => Next::Wait(shared.journal.append(records), then),
        }
    };
    match next {
        Next::Done(resp) => resp,
        Next::Read(r) => read_now(shared, r).await,
        Next::Wait(waiter, then) => match (durable(waiter).await, then) {
            (Status::Ok, Then::Reply(resp)) => resp,
            (Status::Ok, Then::Read(r)) => read_now(shared, r).await,
            (_, then) => failed(then),
        },
    }
}

async fn read_entry(shared: &Shared, r: ReadEntry) -> Response {
    if !r.fence {
        // Nothing to admit: skip the table's lock.
        return read_now(shared, r).await;
    }
    carry_out(shared, Request::ReadEntry(r)).await
}

/// The part of a read after any fence is durable: the long poll, then the read.
async fn read_now(shared: &Shared, r: ReadEntry) -> Response {
    if let Some(lp) = r.long_poll {
        wait_for_lac(
            shared,
            r.ledger_id,
            lp.previous_lac,
            Duration::from_millis(u64::from(lp.timeout_ms)),
        )
        .await;
    }
    let Some(lac) = shared.state.table().lac(r.ledger_id) else {
        return refusal(&Request::ReadEntry(r), Status::NoSuchLedger);
    };
    let state = shared.state.clone();
    let ledger_id = r.ledger_id;
    let target = r.target;
    let result = tokio::task::spawn_blocking(move || state.storage.read(ledger_id, target))
        .await
        .unwrap_or_else(|e| Err(StorageError::Corrupt(format!("read task failed: {e}"))));
    read_answer(&r, lac, result)
}

/// Waits until the ledger's durable LAC exceeds `previous_lac`, or `timeout`.
async fn wait_for_lac(shared: &Shared, ledger_id: u64, previous_lac: i64, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut changes = shared.state.lac_changes();
    loop {
        if shared
            .state
            .table()
            .lac(ledger_id)
            .is_some_and(|lac| lac > previous_lac)
        {
            return;
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return,
        }
    }
}
