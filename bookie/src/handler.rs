//! Request handling: one async function per operation, driving the pure ledger table
//! ([`crate::fencing`]), the journal and the storage.
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
    ScrubReportResponse, ScrubResponse, Status, WriteLac, WriteLacResponse,
};

use crate::bookie::Shared;
use crate::error::StorageError;
use crate::group_commit::AppendWaiter;
use crate::machine::read_answer;

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
        Request::WriteLac(r) => write_lac(shared, r).await,
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
        Request::DeleteLedger(r) => {
            // Under the table's lock, like adds, so that no add is journaled after it.
            let waiter = {
                let mut table = shared.state.table();
                shared.journal.append(table.admit_delete(r.ledger_id))
            };
            Response::DeleteLedger(DeleteLedgerResponse {
                status: durable(waiter).await,
                ledger_id: r.ledger_id,
            })
        }
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
    let reply = |status| {
        Response::AddEntry(AddEntryResponse {
            status,
            ledger_id: add.entry.ledger_id(),
            entry_id: add.entry.entry_id(),
        })
    };
    if let Err(e) = add.entry.verify() {
        tracing::debug!(error = %e, "add refused: bad digest");
        return reply(Status::BadRequest);
    }
    if !shared.state.wait_for_cache_room(CACHE_FULL_WAIT).await {
        tracing::warn!("write cache still full after {CACHE_FULL_WAIT:?}; refusing add");
        return reply(Status::TooManyRequests);
    }
    let waiter = {
        let mut table = shared.state.table();
        match table.admit_add(&add) {
            Ok(records) => shared.journal.append(records),
            Err(status) => return reply(status),
        }
    };
    reply(durable(waiter).await)
}

async fn write_lac(shared: &Shared, r: WriteLac) -> Response {
    let waiter = {
        let mut table = shared.state.table();
        match table.admit_write_lac(r.ledger_id, r.lac, &r.master_key) {
            Ok(records) => shared.journal.append(records),
            Err(status) => {
                return Response::WriteLac(WriteLacResponse {
                    status,
                    ledger_id: r.ledger_id,
                });
            }
        }
    };
    Response::WriteLac(WriteLacResponse {
        status: durable(waiter).await,
        ledger_id: r.ledger_id,
    })
}

async fn read_entry(shared: &Shared, r: ReadEntry) -> Response {
    let reply = |status, lac, entry| {
        Response::ReadEntry(ReadEntryResponse {
            status,
            ledger_id: r.ledger_id,
            target: r.target,
            lac,
            entry,
        })
    };
    if r.fence {
        // The fence takes effect for adds at admission, and is durable before the
        // read below is answered.
        let waiter = {
            let mut table = shared.state.table();
            match table.admit_fence(r.ledger_id, &r.master_key) {
                Ok(records) if records.is_empty() => None,
                Ok(records) => Some(shared.journal.append(records)),
                Err(status) => return reply(status, NO_ENTRY, None),
            }
        };
        if let Some(w) = waiter {
            let status = durable(w).await;
            if status != Status::Ok {
                return reply(status, NO_ENTRY, None);
            }
        }
    }
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
        return reply(Status::NoSuchLedger, NO_ENTRY, None);
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
