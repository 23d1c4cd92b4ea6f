//! The bookie's request handling as a synchronous, single-threaded state machine
//! ([`BookieCore`]), for deterministic simulation, plus the pieces of it that the
//! TCP server's handlers share.
//!
//! A [`BookieCore`] is the real ledger table ([`crate::fencing::LedgerTable`]: keys,
//! fences, LAC, admission), the real journal record codec and replay
//! ([`crate::journal`]) over any [`JournalDir`] (the simulation uses
//! [`crate::journal::MemJournalDir`], which knows written from synced bytes), and the
//! real [`LedgerStorage`] (write cache, entry logs, index, checkpoint mark, corrupt
//! copies) over any [`EntryIndex`], and the group commit's two synchronous steps
//! ([`crate::group_commit::JournalFiles::write`]: encode, roll files, append;
//! [`crate::group_commit::sync_and_apply`]: fsync, then apply and complete in
//! journal order). What it replaces is the threading: where the server's group
//! commit runs those steps on its writer and syncer threads, the core writes each
//! admitted request's records at once (a group of one) and fsyncs only when its
//! owner calls [`BookieCore::sync`], so a simulation decides when each fsync
//! completes and what a crash loses.
//!
//! The request flow is the server's (see `handler.rs`): verify the digest, admit
//! under the ledger table's rules, journal the records, and answer only once they
//! are fsynced and applied, in journal order; a fencing read makes its fence durable
//! before it reads. Not handled here: long polls (answered at once), write-cache
//! backpressure, disk-usage checks, scrub and bookie info (answered `BadRequest`).
//!
//! Shared with the server: [`apply_to_storage`] (what a durable record does to the
//! storage), [`read_answer`] (how a storage read becomes an answer: a doubtful copy
//! is `IoError`, never `NoSuchEntry`) and [`recover`] (start-up: metas, tombstones,
//! journal replay from the checkpoint mark).

use std::path::Path;
use std::sync::Arc;

use folio_proto::{
    AddEntry, AddEntryResponse, DeleteLedgerResponse, Entry, LedgerEntriesResponse,
    ListLedgersResponse, MAX_LIST_LEDGERS, NO_ENTRY, ReadEntry, ReadEntryResponse, ReadLacResponse,
    Request, Response, Status, WriteLacResponse,
};

use crate::error::{StartError, StorageError};
use crate::fencing::LedgerTable;
use crate::group_commit::{HasRecords, JournalFiles, SyncJob, sync_and_apply};
use crate::handler::refusal;
use crate::index::EntryIndex;
use crate::journal::{self, JOURNAL_HEADER_BYTES, JournalDir, JournalPos, JournalRecord};
use crate::storage::LedgerStorage;

/// Entry-log file size the core uses (small: simulations store little).
const CORE_ENTRY_LOG_BYTES: u64 = 1 << 20;
/// Read-ahead block size the core uses.
const CORE_READ_AHEAD_BYTES: usize = 4 << 10;
/// Journal file size the core rolls at (small, so journals span files).
const CORE_JOURNAL_FILE_BYTES: u64 = 2 << 10;

/// Applies a durable record to the storage (the ledger table is applied separately,
/// under its own lock in the server).
pub(crate) fn apply_to_storage(storage: &LedgerStorage, record: &JournalRecord) {
    match record {
        JournalRecord::Add(e) => storage.insert(e.clone()),
        JournalRecord::DeleteLedger { ledger_id } => {
            if let Err(e) = storage.delete_ledger(*ledger_id) {
                tracing::error!(error = %e, ledger_id, "delete ledger from storage failed");
            }
        }
        _ => {}
    }
}

/// The answer to a read, given the ledger's durable LAC and what the storage said:
/// a stored entry is `Ok`, a certain absence `NoSuchEntry`, and any doubt (an I/O
/// error, a copy that fails its check) `IoError`, never `NoSuchEntry`.
pub(crate) fn read_answer(
    r: &ReadEntry,
    lac: i64,
    result: Result<Option<Entry>, StorageError>,
) -> Response {
    let (status, entry) = match result {
        Ok(Some(entry)) => (Status::Ok, Some(entry)),
        Ok(None) => (Status::NoSuchEntry, None),
        Err(e) => {
            tracing::warn!(error = %e, ledger_id = r.ledger_id, target = ?r.target, "read entry failed; answering IoError");
            (Status::IoError, None)
        }
    };
    Response::ReadEntry(ReadEntryResponse {
        status,
        ledger_id: r.ledger_id,
        target: r.target,
        lac,
        entry,
    })
}

/// How to carry out a request that may change state, decided by [`plan`].
pub(crate) enum Plan {
    /// Answer now (a refusal).
    Reply(Response),
    /// Journal the records (queued under the table's lock), then, once durable,
    /// the [`Then`]; if the journal fails, [`failed`].
    Journal(Vec<JournalRecord>, Then),
    /// Read now (a plain read, or a fence that is durable already).
    Read(ReadEntry),
}

/// Refuses an add whose digest does not verify (checked before admission, outside
/// the table's lock).
pub(crate) fn check_digest(add: &AddEntry) -> Option<Response> {
    if let Err(e) = add.entry.verify() {
        tracing::debug!(error = %e, "add refused: bad digest");
        return Some(refusal(&Request::AddEntry(add.clone()), Status::BadRequest));
    }
    None
}

/// Admits an add, a read (fencing or not), an explicit LAC or a deletion under the
/// ledger table's rules, and says how to carry it out. Call it under the table's
/// lock and queue the records before releasing it, so the journal's order is the
/// admission order (a fence admitted before an add reaches the journal before it).
/// Other requests are answered `BadRequest`: they change nothing.
pub(crate) fn plan(table: &mut LedgerTable, req: Request) -> Plan {
    match req {
        Request::AddEntry(add) => {
            let reply = |status| {
                Response::AddEntry(AddEntryResponse {
                    status,
                    ledger_id: add.entry.ledger_id(),
                    entry_id: add.entry.entry_id(),
                })
            };
            match table.admit_add(&add) {
                Ok(records) => Plan::Journal(records, Then::Reply(reply(Status::Ok))),
                Err(status) => Plan::Reply(reply(status)),
            }
        }
        // The fence takes effect for adds at admission, and is durable before the
        // read is answered.
        Request::ReadEntry(r) if r.fence => match table.admit_fence(r.ledger_id, &r.master_key) {
            Ok(records) if records.is_empty() => Plan::Read(r),
            Ok(records) => Plan::Journal(records, Then::Read(r)),
            Err(status) => Plan::Reply(refusal(&Request::ReadEntry(r), status)),
        },
        Request::ReadEntry(r) => Plan::Read(r),
        Request::WriteLac(r) => match table.admit_write_lac(r.ledger_id, r.lac, &r.master_key) {
            Ok(records) => Plan::Journal(
                records,
                Then::Reply(Response::WriteLac(WriteLacResponse {
                    status: Status::Ok,
                    ledger_id: r.ledger_id,
                })),
            ),
            Err(status) => Plan::Reply(refusal(&Request::WriteLac(r), status)),
        },
        Request::DeleteLedger(r) => Plan::Journal(
            table.admit_delete(r.ledger_id),
            Then::Reply(Response::DeleteLedger(DeleteLedgerResponse {
                status: Status::Ok,
                ledger_id: r.ledger_id,
            })),
        ),
        other => Plan::Reply(refusal(&other, Status::BadRequest)),
    }
}

/// What start-up recovered from the storage and the journal.
pub(crate) struct Recovered {
    /// The ledger table: persisted metas, tombstones, then every replayed record.
    pub(crate) table: LedgerTable,
    /// The checkpoint mark replay started from.
    pub(crate) mark: JournalPos,
    /// The id the next journal file must take (above every existing one).
    pub(crate) first_file_id: u64,
    /// Records replayed.
    pub(crate) records: u64,
}

/// Start-up recovery: loads the persisted metas and tombstones, then replays the
/// journal from the checkpoint mark into the table and the storage (journal order;
/// replay stops at the newest file's torn tail, which was never acknowledged, and
/// cuts it off; damage to an older file refuses start-up).
pub(crate) fn recover(
    storage: &LedgerStorage,
    journal_dir: &dyn JournalDir,
) -> Result<Recovered, StartError> {
    let mark = storage.mark()?;
    let mut table = LedgerTable::from_metas(storage.metas()?);
    table.mark_deleted(storage.deleted_ledgers());
    let outcome = journal::replay(journal_dir, mark, |record, _| {
        apply_to_storage(storage, &record);
        table.apply(&record);
    })?;
    if let Some(tail) = &outcome.torn_tail {
        tracing::warn!(
            file_id = tail.file_id,
            end = ?tail.end,
            valid_end = tail.valid_end,
            "journal replay stopped at the newest file's torn tail (unacknowledged writes); cutting it off"
        );
        journal::repair_tail(journal_dir, tail)?;
    }
    let first_file_id = outcome
        .last_file_id
        .map_or(1, |id| id + 1)
        .max(mark.file_id + 1);
    Ok(Recovered {
        table,
        mark,
        first_file_id,
        records: outcome.records,
    })
}

/// How [`BookieCore::handle`] disposed of a request.
#[derive(Debug)]
pub enum Handled {
    /// The answer, now.
    Reply(Response),
    /// Journaled, not yet durable: the answer comes from a later
    /// [`BookieCore::sync`] under the request's token, or never if the bookie
    /// crashes first.
    Pending,
}

/// What to answer once a request's journal records are durable.
pub(crate) enum Then {
    Reply(Response),
    /// A fencing read: read once the fence is durable.
    Read(ReadEntry),
}

struct Pending {
    token: u64,
    records: Vec<JournalRecord>,
    then: Then,
}

impl HasRecords for Pending {
    fn records(&self) -> &[JournalRecord] {
        &self.records
    }
}

/// One bookie's request handling, synchronous and single-threaded (see the module
/// docs). Dropping it without [`BookieCore::sync`] is a crash: what was written to
/// the journal but not synced is only as durable as the [`JournalDir`] makes it.
pub struct BookieCore {
    table: LedgerTable,
    storage: LedgerStorage,
    journal_dir: Arc<dyn JournalDir>,
    files: JournalFiles,
    /// Everything up to here is durable and applied.
    applied: JournalPos,
    /// Written to the journal, not yet synced, in journal order.
    unsynced: Vec<SyncJob<Pending>>,
    /// An fsync failed: every later journaled request fails (as the server's group
    /// commit does; a failed write breaks [`JournalFiles`] itself).
    sync_broken: bool,
}

impl BookieCore {
    /// Opens a bookie core: storage (entry logs and checkpoint mark) in `data_dir`
    /// with `index`, the journal in `journal_dir`. Replays the journal from the
    /// checkpoint mark with the server's start-up code, then starts a new journal
    /// file.
    pub fn open(
        data_dir: &Path,
        index: Box<dyn EntryIndex>,
        journal_dir: Arc<dyn JournalDir>,
    ) -> Result<BookieCore, StartError> {
        let storage =
            LedgerStorage::open(data_dir, index, CORE_ENTRY_LOG_BYTES, CORE_READ_AHEAD_BYTES)?;
        let recovered = recover(&storage, journal_dir.as_ref())?;
        let file_id = recovered.first_file_id;
        let files = JournalFiles::create(journal_dir.clone(), file_id, CORE_JOURNAL_FILE_BYTES)?;
        tracing::debug!(records = recovered.records, mark = ?recovered.mark, file_id, "core replayed the journal");
        let applied = JournalPos {
            file_id,
            offset: JOURNAL_HEADER_BYTES,
        };
        Ok(BookieCore {
            table: recovered.table,
            storage,
            journal_dir,
            files,
            applied,
            unsynced: Vec::new(),
            sync_broken: false,
        })
    }

    /// The ledger table (durable and admitted views).
    pub fn table(&self) -> &LedgerTable {
        &self.table
    }

    /// The storage.
    pub fn storage(&self) -> &LedgerStorage {
        &self.storage
    }

    /// Whether some journaled request awaits an fsync.
    pub fn has_unsynced(&self) -> bool {
        !self.unsynced.is_empty()
    }

    /// Handles one request; `token` names it in the answers of a later
    /// [`BookieCore::sync`] if it must wait for the journal.
    pub fn handle(&mut self, token: u64, req: Request) -> Handled {
        match req {
            Request::AddEntry(add) => {
                if let Some(refused) = check_digest(&add) {
                    return Handled::Reply(refused);
                }
                self.carry_out(token, Request::AddEntry(add))
            }
            req @ (Request::ReadEntry(_) | Request::WriteLac(_) | Request::DeleteLedger(_)) => {
                self.carry_out(token, req)
            }
            Request::ReadLac(r) => {
                let lac = self.table.lac(r.ledger_id);
                Handled::Reply(Response::ReadLac(ReadLacResponse {
                    status: if lac.is_some() {
                        Status::Ok
                    } else {
                        Status::NoSuchLedger
                    },
                    ledger_id: r.ledger_id,
                    lac: lac.unwrap_or(NO_ENTRY),
                }))
            }
            Request::ListLedgers(r) => {
                let limit = r.limit.min(MAX_LIST_LEDGERS) as usize;
                Handled::Reply(match self.storage.list_ledgers(r.start, limit) {
                    Ok(ledger_ids) => Response::ListLedgers(ListLedgersResponse {
                        status: Status::Ok,
                        ledger_ids,
                    }),
                    Err(_) => refusal(&Request::ListLedgers(r), Status::IoError),
                })
            }
            Request::GetLedgerEntries(r) => {
                let req = Request::GetLedgerEntries(r);
                Handled::Reply(match self.storage.ledger_entries(r.ledger_id) {
                    Ok(ranges) if ranges.is_empty() => refusal(&req, Status::NoSuchLedger),
                    Ok(ranges) => Response::GetLedgerEntries(LedgerEntriesResponse {
                        status: Status::Ok,
                        ranges,
                    }),
                    Err(_) => refusal(&req, Status::IoError),
                })
            }
            other @ (Request::GetBookieInfo | Request::Scrub | Request::GetScrubReport) => {
                Handled::Reply(refusal(&other, Status::BadRequest))
            }
        }
    }

    /// Plans a request ([`plan`]) and journals its records, or answers at once.
    fn carry_out(&mut self, token: u64, req: Request) -> Handled {
        match plan(&mut self.table, req) {
            Plan::Reply(resp) => Handled::Reply(resp),
            Plan::Read(r) => Handled::Reply(self.read(&r)),
            Plan::Journal(records, then) => self.journal(token, records, then),
        }
    }

    /// The non-fencing part of a read, as the server answers it.
    fn read(&self, r: &ReadEntry) -> Response {
        let Some(lac) = self.table.lac(r.ledger_id) else {
            return refusal(&Request::ReadEntry(r.clone()), Status::NoSuchLedger);
        };
        read_answer(r, lac, self.storage.read(r.ledger_id, r.target))
    }

    /// Writes `records` to the journal (not yet synced) with the group-commit
    /// writer's code, and parks the answer until [`BookieCore::sync`].
    fn journal(&mut self, token: u64, records: Vec<JournalRecord>, then: Then) -> Handled {
        let bytes = records.iter().map(JournalRecord::encoded_len).sum();
        let written = if self.sync_broken {
            None
        } else {
            self.files.write(records.iter(), bytes)
        };
        let Some((file, end)) = written else {
            return Handled::Reply(failed(then));
        };
        self.unsynced.push(SyncJob {
            file,
            end,
            appends: vec![Pending {
                token,
                records,
                then,
            }],
        });
        Handled::Pending
    }

    /// Completes an fsync of the journal: everything written so far becomes
    /// durable, is applied to the table and the storage in journal order, and the
    /// waiting requests are answered, in that order, with their tokens (the group
    /// commit's syncer code). After a failed fsync every waiting request gets
    /// `IoError` and the journal is broken.
    pub fn sync(&mut self) -> Vec<(u64, Response)> {
        if self.unsynced.is_empty() {
            return Vec::new();
        }
        let jobs = std::mem::take(&mut self.unsynced);
        let mut done = Vec::with_capacity(jobs.len());
        let (storage, table, applied) = (&self.storage, &mut self.table, &mut self.applied);
        self.sync_broken = sync_and_apply(
            jobs,
            self.sync_broken,
            |r| {
                apply_to_storage(storage, r);
                table.apply(r);
            },
            |pos| *applied = pos,
            |_| {},
            |p, result| done.push((p, result)),
        );
        done.into_iter()
            .map(|(p, result)| {
                let resp = match (result, p.then) {
                    (Ok(()), Then::Reply(resp)) => resp,
                    (Ok(()), Then::Read(r)) => self.read(&r),
                    (Err(e), then) => {
                        tracing::warn!(error = %e, "journal append failed");
                        failed(then)
                    }
                };
                (p.token, resp)
            })
            .collect()
    }

    /// Runs a checkpoint as the server does: flushes the write cache to the entry
    /// log and index, moves the mark to the applied position, and deletes journal
    /// files before it. Unsynced journal records stay in the journal.
    pub fn checkpoint(&mut self) -> Result<(), StorageError> {
        let mark = self.applied;
        self.storage.checkpoint(mark, self.table.durable_metas())?;
        if let Ok(ids) = self.journal_dir.list() {
            for id in ids.into_iter().filter(|id| *id < mark.file_id) {
                if let Err(e) = self.journal_dir.remove(id) {
                    tracing::warn!(error = %e, id, "remove old journal file");
                }
            }
        }
        Ok(())
    }
}

/// The answer to a request whose journal write failed.
pub(crate) fn failed(then: Then) -> Response {
    match then {
        Then::Reply(resp) => with_status(resp, Status::IoError),
        Then::Read(r) => refusal(&Request::ReadEntry(r), Status::IoError),
    }
}

/// `resp` with its status replaced (for the answers of adds, LAC writes and
/// deletions, which carry nothing else that changes).
fn with_status(resp: Response, status: Status) -> Response {
    match resp {
        Response::AddEntry(r) => Response::AddEntry(AddEntryResponse { status, ..r }),
        Response::WriteLac(r) => Response::WriteLac(WriteLacResponse { status, ..r }),
        Response::DeleteLedger(r) => Response::DeleteLedger(DeleteLedgerResponse { status, ..r }),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::JournalError;
    use crate::index::MemIndex;
    use crate::journal::MemJournalDir;
    use bytes::Bytes;
    use folio_proto::{AddEntry, EntryHeader, MasterKey, ReadTarget};

    fn add(entry_id: u64, recovery: bool) -> Request {
        Request::AddEntry(AddEntry {
            master_key: MasterKey::new(&b"k"[..]).expect("short"),
            recovery,
            entry: Entry::new(
                EntryHeader {
                    ledger_id: 1,
                    entry_id,
                    lac: entry_id as i64 - 1,
                    length: 1,
                },
                b"x",
            ),
        })
    }

    fn read(entry_id: u64, fence: bool) -> Request {
        Request::ReadEntry(ReadEntry {
            ledger_id: 1,
            target: ReadTarget::Entry(entry_id),
            fence,
            master_key: MasterKey::new(&b"k"[..]).expect("short"),
            long_poll: None,
        })
    }

    fn status(resp: &Response) -> Status {
        resp.status()
    }

    #[test]
    fn acks_only_after_sync_and_a_crash_loses_the_unsynced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = Arc::new(MemIndex::default());
        let jdir = MemJournalDir::default();
        let mut core =
            BookieCore::open(dir.path(), Box::new(index.clone()), Arc::new(jdir.clone()))
                .expect("open");
        assert!(matches!(core.handle(1, add(0, false)), Handled::Pending));
        let answers = core.sync();
        assert_eq!(answers.len(), 1);
        assert_eq!(status(&answers[0].1), Status::Ok);
        assert!(matches!(core.handle(2, add(1, false)), Handled::Pending));
        // Crash before the fsync: entry 1 is gone after replay, entry 0 is not.
        drop(core);
        let crashed = jdir.crashed(|_, _| 0, 0);
        let mut core =
            BookieCore::open(dir.path(), Box::new(index), Arc::new(crashed)).expect("reopen");
        let Handled::Reply(r0) = core.handle(3, read(0, false)) else {
            panic!("plain reads answer at once")
        };
        assert_eq!(status(&r0), Status::Ok);
        let Handled::Reply(r1) = core.handle(4, read(1, false)) else {
            panic!("plain reads answer at once")
        };
        assert_eq!(status(&r1), Status::NoSuchEntry);
    }

    /// Start-up cuts the newest journal file's torn tail off before starting a new
    /// file, so a second crash and restart still replays (the torn file is no longer
    /// the newest); damage to an older, fsynced file refuses start-up instead.
    #[test]
    fn torn_tails_are_cut_at_start_up_and_older_damage_refuses_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = Arc::new(MemIndex::default());
        let mut jdir = MemJournalDir::default();
        for round in 0..3u64 {
            let mut core =
                BookieCore::open(dir.path(), Box::new(index.clone()), Arc::new(jdir.clone()))
                    .unwrap_or_else(|e| panic!("round {round}: reopen after a torn tail: {e}"));
            for e in 0..round {
                let Handled::Reply(r) = core.handle(10 + e, read(e, false)) else {
                    panic!("plain reads answer at once")
                };
                assert_eq!(status(&r), Status::Ok, "round {round}: entry {e}");
            }
            assert!(matches!(
                core.handle(1, add(round, false)),
                Handled::Pending
            ));
            assert_eq!(status(&core.sync()[0].1), Status::Ok);
            // An unsynced add whose bytes reach the disk as garbage, then a crash.
            assert!(matches!(
                core.handle(2, add(round + 1, false)),
                Handled::Pending
            ));
            drop(core);
            jdir = jdir.crashed(|_, n| n / 2, 0xA5);
        }
        // Damage a record in the oldest file, which a newer one follows.
        let ids = jdir.list().expect("list");
        assert!(ids.len() >= 3, "{ids:?}");
        let mut data = jdir.read(ids[0]).expect("read").to_vec();
        let last = data.len() - 1;
        data[last] ^= 1;
        jdir.remove(ids[0]).expect("remove");
        let file = jdir.create(ids[0]).expect("create");
        file.append(&[Bytes::copy_from_slice(
            &data[JOURNAL_HEADER_BYTES as usize..],
        )])
        .expect("append");
        file.sync().expect("sync");
        match BookieCore::open(dir.path(), Box::new(index), Arc::new(jdir)) {
            Err(StartError::Journal(JournalError::Damaged { file_id, .. })) => {
                assert_eq!(file_id, ids[0])
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("started on a damaged journal"),
        }
    }

    #[test]
    fn a_fence_refuses_adds_at_admission_and_answers_after_sync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut core = BookieCore::open(
            dir.path(),
            Box::new(MemIndex::default()),
            Arc::new(MemJournalDir::default()),
        )
        .expect("open");
        core.handle(1, add(0, false));
        assert!(matches!(core.handle(2, read(0, true)), Handled::Pending));
        let Handled::Reply(refused) = core.handle(3, add(1, false)) else {
            panic!("a fenced ledger refuses at once")
        };
        assert_eq!(status(&refused), Status::Fenced);
        assert!(matches!(core.handle(4, add(1, true)), Handled::Pending));
        let answers = core.sync();
        let tokens: Vec<u64> = answers.iter().map(|(t, _)| *t).collect();
        assert_eq!(tokens, vec![1, 2, 4]);
        assert!(answers.iter().all(|(_, r)| status(r) == Status::Ok));
        assert!(core.table().is_fenced(1));
    }

    #[test]
    fn a_damaged_stored_copy_reads_as_io_error_not_absent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut core = BookieCore::open(
            dir.path(),
            Box::new(MemIndex::default()),
            Arc::new(MemJournalDir::default()),
        )
        .expect("open");
        core.handle(1, add(0, false));
        core.sync();
        core.checkpoint().expect("checkpoint");
        assert!(core.storage().damage_stored_copy(1, 0).expect("damage"));
        let Handled::Reply(r) = core.handle(2, read(0, false)) else {
            panic!("plain reads answer at once")
        };
        assert_eq!(status(&r), Status::IoError);
    }
}
