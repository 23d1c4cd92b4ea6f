//! Deterministic simulation of the ledger protocol.
//!
//! What is real: the client cores ([`Writer`], [`Recovery`], [`EntryRead`]) and the
//! bookie's request handling, [`BookieCore`] from folio-bookie: its ledger table
//! (master keys, fences, recovery adds, LAC, admission), the request plan its TCP
//! handlers use too (what is journaled, what is answered once durable), journal
//! record codec and replay, the group commit's write and sync-then-apply steps,
//! write cache, entry logs, index, checkpoints and read path (a copy that fails its
//! check is `IoError`, never `NoSuchEntry`).
//!
//! What is simulated, all driven by one seeded RNG and a virtual clock: the network
//! (messages dropped, delayed, reordered); each bookie's disk, a
//! [`MemJournalDir`] that knows written from synced bytes, a shared in-memory index,
//! and entry logs and checkpoint marks in a temporary directory (on tmpfs when there
//! is one); the journal's fsyncs, whose completion the simulation schedules (the
//! group commit's threads are not run: [`BookieCore`] writes each request's records
//! at once, as a group of one, and answers after the fsync the simulation
//! completes); and the metadata store, a compare-and-set in memory.
//!
//! The faults: message drop, delay and reordering; bookie crashes that lose unsynced
//! journal bytes (or keep a torn prefix of them, padded with zeros or garbage), and
//! restarts that replay the journal through the bookie's own start-up code;
//! checkpoints at random moments (so restarts replay from a mark, and reads come
//! from entry logs); a bookie with a slow disk (slow fsyncs); a writer that dies mid-stream; two recoverers racing each other
//! and the writer; metadata compare-and-set conflicts between the writer's ensemble
//! changes and the recoverers; damaged stored copies, during the run (of
//! acknowledged entries with a good copy elsewhere, when Qa ≥ 2) and after the
//! close (on random replicas).
//!
//! Each run ends with every bookie healed and the ledger closed, then checks the
//! guarantees of `docs/protocol.md` ("Ledger guarantees"):
//! - an acknowledged entry is readable after recovery, with the bytes written, from
//!   at least Qa members of its write set;
//! - recovery never closes a ledger below an acknowledged entry, and no recoverer
//!   (the loser of a race included) even computes such a close;
//! - every copy of an entry has the same bytes (so two reads agree);
//! - no entry is acknowledged past the fence, above the closed last entry;
//! - the writer's LAC, and every piggybacked LAC, is at most the highest acknowledged
//!   entry;
//! - every entry up to the close reads back through the client's read core
//!   ([`EntryRead`]) with the bytes written, and with replicas failing, slow,
//!   corrupt in transit, damaged on disk or wrongly saying "no such entry", a read
//!   returns those bytes or `Unavailable`, never other bytes and never "no such
//!   entry"; a bookie whose stored copy is damaged answers `IoError`.
//!
//! Not simulated: the bookie's TCP server, its group-commit threads and batching,
//! long polls, write-cache backpressure and disk-full checks (the real-process tests
//! cover those).
//!
//! `FOLIO_SIM_SEEDS` (default 300) sets how many seeds run and `FOLIO_SIM_SEED_BASE`
//! (default 0) the first. A failure prints its seed and the command that replays it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use std::sync::Arc;

use folio_bookie::index::MemIndex;
use folio_bookie::journal::{JournalDir, MemJournalDir};
use folio_bookie::{BookieCore, Handled};
use folio_ledger::{
    AddOutcome, BookieId, EntryRead, QuorumConfig, ReadAction, ReadError, ReadOutcome, Recovery,
    RecoveryAction, Segment, WriteAction, Writer, WriterConfig,
};
use folio_proto::{
    AddEntry, Entry, GetLedgerEntries, MasterKey, NO_ENTRY, ReadEntry, ReadTarget, Request,
    Response, Status,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BOOKIES: usize = 5;
const REQUEST_TIMEOUT_MS: u64 = 50;
const MAX_EVENTS: usize = 200_000;
const FAULT_PHASE_MS: u64 = 800;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Writer,
    Recoverer(usize),
    Bookie(usize),
}

#[derive(Clone, Debug)]
enum Msg {
    Add {
        from: Node,
        position: usize,
        recovery: bool,
        entry: Entry,
    },
    AddResp {
        bookie: usize,
        position: usize,
        entry_id: u64,
        outcome: AddOutcome,
    },
    /// A fencing read; `entry_id` None means "your last entry".
    Read {
        from: Node,
        position: usize,
        entry_id: Option<u64>,
    },
    ReadResp {
        position: usize,
        entry_id: Option<u64>,
        outcome: ReadOutcome,
    },
}

#[derive(Debug)]
enum Event {
    Deliver(Node, Msg),
    /// A bookie's journal fsync completes, covering everything written before it.
    Fsync {
        bookie: usize,
        epoch: u64,
    },
    /// A bookie runs a checkpoint.
    Checkpoint(usize),
    /// A disk fault: a bookie's stored copy of an acknowledged entry is damaged.
    Damage(usize),
    WriterTick,
    WriterAppend,
    Crash(usize),
    Restart(usize),
    StartRecovery(usize),
    /// The end of the fault phase.
    Heal,
}

/// What a journaled request waits to answer.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Add(u64),
    Read(Option<u64>),
}

/// A request whose answer waits for an fsync.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    from: Node,
    position: usize,
    kind: Kind,
}

/// One simulated bookie: the real request handling over a simulated disk.
struct SimBookie {
    /// None while crashed.
    core: Option<BookieCore>,
    /// Bumped on crash, so that fsyncs scheduled before it are void.
    epoch: u64,
    /// The journal "device": survives crashes, minus what they lose.
    journal: MemJournalDir,
    /// The index: written only by checkpoints, which sync it before moving the mark.
    index: Arc<MemIndex>,
    /// Entry logs and the checkpoint mark.
    dir: tempfile::TempDir,
    /// Requests journaled and awaiting an fsync, by token.
    waiting: BTreeMap<u64, Waiting>,
    /// How long its journal fsyncs take, in ms (a slow disk makes a slow bookie).
    fsync_ms: std::ops::Range<u64>,
}

impl SimBookie {
    fn new() -> Result<SimBookie, String> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("folio-sim-bookie");
        // tmpfs keeps the entry logs' and marks' fsyncs cheap; any dir is correct.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            builder.tempdir_in(shm)
        } else {
            builder.tempdir()
        }
        .map_err(|e| format!("temp dir: {e}"))?;
        let mut bookie = SimBookie {
            core: None,
            epoch: 0,
            journal: MemJournalDir::default(),
            index: Arc::new(MemIndex::default()),
            dir,
            waiting: BTreeMap::new(),
            fsync_ms: 0..4,
        };
        bookie.start()?;
        Ok(bookie)
    }

    /// Starts (or restarts) the bookie: the real start-up replays the journal.
    fn start(&mut self) -> Result<(), String> {
        let core = BookieCore::open(
            self.dir.path(),
            Box::new(self.index.clone()),
            Arc::new(self.journal.clone()),
        )
        .map_err(|e| format!("bookie start: {e}"))?;
        self.core = Some(core);
        Ok(())
    }

    fn up(&self) -> bool {
        self.core.is_some()
    }

    /// A plain (non-fencing) read of entry `entry_id` of ledger 1 through the real
    /// handling: the entry, `Ok(None)` if the bookie says it has none, or the error
    /// status.
    fn stored(&mut self, entry_id: u64) -> Result<Option<Entry>, Status> {
        let Some(core) = self.core.as_mut() else {
            return Err(Status::IoError);
        };
        let req = Request::ReadEntry(ReadEntry {
            ledger_id: 1,
            target: ReadTarget::Entry(entry_id),
            fence: false,
            master_key: master_key(),
            long_poll: None,
        });
        match core.handle(0, req) {
            Handled::Reply(Response::ReadEntry(r)) => match (r.status, r.entry) {
                (Status::Ok, Some(entry)) => Ok(Some(entry)),
                (Status::NoSuchEntry | Status::NoSuchLedger, _) => Ok(None),
                (status, _) => Err(status),
            },
            _ => Err(Status::BadRequest),
        }
    }

    /// Every entry id of ledger 1 the bookie stores.
    fn entry_ids(&mut self) -> Vec<u64> {
        let Some(core) = self.core.as_mut() else {
            return Vec::new();
        };
        match core.handle(
            0,
            Request::GetLedgerEntries(GetLedgerEntries { ledger_id: 1 }),
        ) {
            Handled::Reply(Response::GetLedgerEntries(r)) => {
                r.ranges.iter().flat_map(|&(a, b)| a..=b).collect()
            }
            _ => Vec::new(),
        }
    }
}

fn master_key() -> MasterKey {
    MasterKey::new(&b"sim"[..]).expect("a short key")
}

/// The client's mapping of a read answer (as the real driver's `read_outcome`).
fn read_outcome(resp: &Response) -> ReadOutcome {
    match resp {
        Response::ReadEntry(r) => match (r.status, &r.entry) {
            (Status::Ok, Some(entry)) => ReadOutcome::Found(entry.clone()),
            (Status::NoSuchEntry | Status::NoSuchLedger, _) => ReadOutcome::Absent,
            _ => ReadOutcome::Failed,
        },
        _ => ReadOutcome::Failed,
    }
}

/// The client's mapping of an add answer (as the real write handle's).
fn add_outcome(resp: &Response) -> AddOutcome {
    match resp.status() {
        Status::Ok => AddOutcome::Ok,
        Status::Fenced => AddOutcome::Fenced,
        _ => AddOutcome::Failed,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LedgerState {
    Open,
    InRecovery,
    Closed { last_entry_id: i64, length: u64 },
}

struct Metadata {
    state: LedgerState,
    segments: Vec<Segment>,
}

struct RecovererState {
    core: Option<Recovery>,
    attempts: u32,
    /// What each completed attempt computed (last entry id, length), winner or not.
    computed: Vec<(i64, u64)>,
}

struct Sim {
    rng: StdRng,
    now_ms: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: Vec<Option<Event>>,
    quorum: QuorumConfig,
    bookies: Vec<SimBookie>,
    metadata: Metadata,
    writer: Writer,
    writer_alive: bool,
    to_append: u32,
    /// The writer's appends come at most this many ms apart: a slow writer keeps
    /// writing while recoverers fence, so fencing itself is put to the test.
    append_gap_ms: u64,
    appended: Vec<Vec<u8>>,
    /// Highest entry id the writer saw acknowledged.
    acknowledged: i64,
    recoverers: Vec<RecovererState>,
    drop_per_mille: u32,
    /// Per mille of messages that are slow (10–200 ms instead of 1–10 ms).
    slow_per_mille: u32,
    healed: bool,
    /// Names the next request a bookie may park until an fsync.
    next_token: u64,
    stats: Stats,
    /// Copies damaged during the fault phase: (bookie, entry).
    damaged: BTreeSet<(usize, u64)>,
}

/// What a run exercised (so the suite can check that the faults happen at all).
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    /// Restarts, each replaying the journal.
    restarts: u64,
    /// Checkpoints run during the fault phase.
    checkpoints: u64,
    /// Stored copies damaged, each answered `IoError`.
    damaged: u64,
    /// Stored copies damaged during the fault phase.
    damaged_mid_run: u64,
    /// Bookies whose journal spans more than one file at the end of the run.
    multi_file_journals: u64,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = StdRng::seed_from_u64(seed);
        let e = rng.random_range(1..=4usize);
        let w = rng.random_range(1..=e);
        let a = rng.random_range(1..=w);
        let quorum = QuorumConfig::new(e, w, a).expect("valid by construction");
        let ensemble: Vec<BookieId> = (0..e).map(bookie_id).collect();
        let config = WriterConfig {
            max_in_flight_entries: rng.random_range(1..=8),
            add_timeout_ms: REQUEST_TIMEOUT_MS,
            max_ensemble_changes: 8,
            explicit_lac_interval_ms: 20,
        };
        let writer = Writer::new(1, quorum, ensemble.clone(), config);
        let recoverers = rng.random_range(1..=2usize);
        // A quarter of the runs have a calm network: no losses and no slow messages,
        // so the writer never needs an ensemble change (which the metadata refuses
        // once recovery began) and keeps writing through the recovery: only the
        // bookies' fences stop it there.
        let calm = rng.random_ratio(1, 4);
        let drop_per_mille = if calm { 0 } else { rng.random_range(0..=100) };
        let slow_per_mille = if calm { 0 } else { 100 };
        let to_append = rng.random_range(0..=40);
        let append_gap_ms = if rng.random_ratio(1, 2) {
            5
        } else {
            rng.random_range(5..=25)
        };
        let mut sim = Sim {
            rng,
            now_ms: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            quorum,
            bookies: (0..BOOKIES)
                .map(|_| SimBookie::new().expect("create a simulated bookie"))
                .collect(),
            metadata: Metadata {
                state: LedgerState::Open,
                segments: vec![Segment {
                    first_entry_id: 0,
                    ensemble,
                }],
            },
            writer,
            writer_alive: true,
            to_append,
            append_gap_ms,
            appended: Vec::new(),
            acknowledged: NO_ENTRY,
            recoverers: (0..recoverers)
                .map(|_| RecovererState {
                    core: None,
                    attempts: 0,
                    computed: Vec::new(),
                })
                .collect(),
            drop_per_mille,
            slow_per_mille,
            healed: false,
            next_token: 1,
            stats: Stats::default(),
            damaged: BTreeSet::new(),
        };
        sim.schedule(0, Event::WriterAppend);
        sim.schedule(FAULT_PHASE_MS, Event::Heal);
        sim.schedule(1, Event::WriterTick);
        for r in 0..recoverers {
            let at = sim.rng.random_range(5..400);
            sim.schedule(at, Event::StartRecovery(r));
        }
        for _ in 0..sim.rng.random_range(0..=3) {
            let b = sim.rng.random_range(0..BOOKIES);
            let at = sim.rng.random_range(0..300);
            sim.schedule(at, Event::Crash(b));
            let down_for = sim.rng.random_range(10..200);
            sim.schedule(at + down_for, Event::Restart(b));
        }
        // Sometimes one bookie has a slow disk: its fsyncs take 10–100 ms, so its
        // acknowledgements lag (and may time out) while its journal fills.
        if sim.rng.random_ratio(1, 3) {
            let b = sim.rng.random_range(0..BOOKIES);
            sim.bookies[b].fsync_ms = 10..100;
        }
        for _ in 0..sim.rng.random_range(0..=4) {
            let b = sim.rng.random_range(0..BOOKIES);
            let at = sim.rng.random_range(0..FAULT_PHASE_MS);
            sim.schedule(at, Event::Checkpoint(b));
        }
        for _ in 0..sim.rng.random_range(0..=2) {
            let b = sim.rng.random_range(0..BOOKIES);
            let at = sim.rng.random_range(0..FAULT_PHASE_MS);
            sim.schedule(at, Event::Damage(b));
        }
        sim
    }

    fn schedule(&mut self, delay_ms: u64, event: Event) {
        self.seq += 1;
        self.events.push(Some(event));
        self.queue.push(Reverse((
            self.now_ms + delay_ms,
            self.seq,
            self.events.len() - 1,
        )));
    }

    /// Sends a message over the simulated network: delayed, reordered, maybe lost. A
    /// lost request to or from a recoverer surfaces as a failure after the request
    /// timeout, as the real driver's per-request timeout does; the writer's own
    /// timeouts handle its losses.
    fn send(&mut self, to: Node, msg: Msg) {
        if !self.healed && self.rng.random_range(0..1000) < self.drop_per_mille {
            self.time_out(to, &msg);
            return;
        }
        // Mostly fast, sometimes slow: slow messages reorder and open race windows.
        let delay = if self.rng.random_range(0..1000) < self.slow_per_mille {
            self.rng.random_range(10..200)
        } else {
            self.rng.random_range(1..10)
        };
        self.schedule(delay, Event::Deliver(to, msg));
    }

    /// A request that gets no answer: a recoverer's driver turns it into a failure
    /// after its per-request timeout. (The writer's core keeps its own timeouts.)
    fn time_out(&mut self, to: Node, msg: &Msg) {
        let failure = match (msg, to) {
            (
                Msg::Read {
                    from: Node::Recoverer(r),
                    position,
                    entry_id,
                },
                _,
            ) => Some((
                Node::Recoverer(*r),
                Msg::ReadResp {
                    position: *position,
                    entry_id: *entry_id,
                    outcome: ReadOutcome::Failed,
                },
            )),
            (
                Msg::Add {
                    from: Node::Recoverer(r),
                    position,
                    entry,
                    ..
                },
                Node::Bookie(b),
            ) => Some((
                Node::Recoverer(*r),
                Msg::AddResp {
                    bookie: b,
                    position: *position,
                    entry_id: entry.entry_id(),
                    outcome: AddOutcome::Failed,
                },
            )),
            // A lost answer looks the same to the recoverer as a lost request.
            (
                Msg::ReadResp {
                    position, entry_id, ..
                },
                Node::Recoverer(r),
            ) => Some((
                Node::Recoverer(r),
                Msg::ReadResp {
                    position: *position,
                    entry_id: *entry_id,
                    outcome: ReadOutcome::Failed,
                },
            )),
            (
                Msg::AddResp {
                    bookie,
                    position,
                    entry_id,
                    ..
                },
                Node::Recoverer(r),
            ) => Some((
                Node::Recoverer(r),
                Msg::AddResp {
                    bookie: *bookie,
                    position: *position,
                    entry_id: *entry_id,
                    outcome: AddOutcome::Failed,
                },
            )),
            _ => None,
        };
        if let Some((node, failure)) = failure {
            self.schedule(REQUEST_TIMEOUT_MS, Event::Deliver(node, failure));
        }
    }

    fn run(&mut self) -> Result<(), String> {
        self.run_events()?;
        for bookie in &self.bookies {
            if bookie.journal.list().map_or(0, |ids| ids.len()) > 1 {
                self.stats.multi_file_journals += 1;
            }
        }
        self.check()?;
        self.check_reads()
    }

    fn run_events(&mut self) -> Result<(), String> {
        let mut steps = 0;
        while let Some(Reverse((at, _, index))) = self.queue.pop() {
            steps += 1;
            if steps > MAX_EVENTS {
                return Err(format!("no quiescence after {MAX_EVENTS} events"));
            }
            self.now_ms = at;
            let event = self.events[index].take().expect("each event runs once");
            self.handle(event)?;
            if self.writer.lac() > self.acknowledged {
                return Err(format!(
                    "writer LAC {} above the highest acknowledged entry {}",
                    self.writer.lac(),
                    self.acknowledged
                ));
            }
            if self.queue.is_empty() && !self.healed {
                self.heal();
            }
        }
        Ok(())
    }

    /// Reads every entry of the closed ledger through the client's read core
    /// ([`EntryRead`]), twice: once with every bookie answering, once with random
    /// replicas failing, answering slowly (speculative reads), returning a copy with a
    /// flipped bit, or wrongly answering that they do not have it. Claims L1, L2 and L11: a read returns the bytes written or, when
    /// replicas fail, `Unavailable`; never other bytes and never "no such entry" at or
    /// below the last entry.
    fn check_reads(&mut self) -> Result<(), String> {
        let LedgerState::Closed { last_entry_id, .. } = self.metadata.state else {
            return Ok(());
        };
        for faulty in [false, true] {
            if faulty {
                self.damage_copies(last_entry_id)?;
            }
            for entry_id in 0..=last_entry_id.max(-1) {
                let entry_id = entry_id as u64;
                let result = self.read_entry(entry_id, last_entry_id, faulty);
                match result {
                    Ok(entry) if entry.payload() == self.appended[entry_id as usize] => {}
                    Ok(_) => return Err(format!("read of entry {entry_id} returned other bytes")),
                    Err(ReadError::Unavailable { .. }) if faulty => {}
                    Err(e) => {
                        return Err(format!(
                            "read of entry {entry_id} (last entry {last_entry_id}, faults: {faulty}): {e}"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Disk faults: damages the stored copy of random entries on one replica each
    /// (after a checkpoint has moved it to an entry log) and checks that the real
    /// bookie then answers `IoError` for it, never `NoSuchEntry` or other bytes.
    fn damage_copies(&mut self, last_entry_id: i64) -> Result<(), String> {
        for entry_id in 0..=last_entry_id.max(-1) {
            let entry_id = entry_id as u64;
            if !self.rng.random_ratio(1, 4) {
                continue;
            }
            let ensemble = self.ensemble_of(entry_id);
            let positions: Vec<usize> = self.quorum.write_set(entry_id).positions().collect();
            let position = positions[self.rng.random_range(0..positions.len())];
            let b = bookie_index(&ensemble[position]);
            let core = self.bookies[b]
                .core
                .as_mut()
                .expect("every bookie is up after healing");
            core.checkpoint()
                .map_err(|e| format!("bookie {b} checkpoint: {e}"))?;
            let damaged = core
                .storage()
                .damage_stored_copy(1, entry_id)
                .map_err(|e| format!("damage entry {entry_id} on bookie {b}: {e}"))?;
            if damaged {
                match self.bookies[b].stored(entry_id) {
                    Err(Status::IoError) => self.stats.damaged += 1,
                    other => {
                        return Err(format!(
                            "bookie {b} with a damaged copy of entry {entry_id} answered {other:?}, not IoError"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// A disk fault during the run: damages bookie `b`'s stored copy of an entry at
    /// or below the writer's LAC (acknowledged, so its segment no longer changes)
    /// when another member of its write set holds a good copy and no copy of it is
    /// damaged yet, and checks that `b` then answers `IoError`. Only when Qa ≥ 2: a
    /// fencing read of a damaged last entry fails, and with Qa = 1 recovery needs
    /// every bookie's fencing answer, so it could not finish (a liveness limit, not
    /// a safety one).
    fn damage_mid_run(&mut self, b: usize) -> Result<(), String> {
        if self.quorum.ack_quorum() < 2 || !self.bookies[b].up() {
            return Ok(());
        }
        let lac = self.writer.lac();
        let candidates: Vec<u64> = self.bookies[b]
            .entry_ids()
            .into_iter()
            .filter(|id| (*id as i64) <= lac && !self.damaged.iter().any(|(_, e)| e == id))
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let entry_id = candidates[self.rng.random_range(0..candidates.len())];
        let ensemble = self.ensemble_of(entry_id);
        let write_set: Vec<usize> = self
            .quorum
            .write_set(entry_id)
            .positions()
            .map(|p| bookie_index(&ensemble[p]))
            .collect();
        if !write_set.contains(&b) {
            return Ok(());
        }
        let good_elsewhere = write_set
            .iter()
            .filter(|o| **o != b)
            .any(|o| matches!(self.bookies[*o].stored(entry_id), Ok(Some(_))));
        if !good_elsewhere {
            return Ok(());
        }
        let core = self.bookies[b].core.as_mut().expect("checked up above");
        core.checkpoint()
            .map_err(|e| format!("bookie {b} checkpoint: {e}"))?;
        let damaged = core
            .storage()
            .damage_stored_copy(1, entry_id)
            .map_err(|e| format!("damage entry {entry_id} on bookie {b}: {e}"))?;
        if !damaged {
            return Ok(());
        }
        match self.bookies[b].stored(entry_id) {
            Err(Status::IoError) => {}
            other => {
                return Err(format!(
                    "bookie {b} with a damaged copy of entry {entry_id} answered {other:?}, not IoError"
                ));
            }
        }
        self.damaged.insert((b, entry_id));
        self.stats.damaged_mid_run += 1;
        Ok(())
    }

    /// The ensemble of the segment holding `entry_id`.
    fn ensemble_of(&self, entry_id: u64) -> Vec<BookieId> {
        self.metadata
            .segments
            .iter()
            .rev()
            .find(|s| s.first_entry_id <= entry_id)
            .expect("segment 0 starts at entry 0")
            .ensemble
            .clone()
    }

    /// One [`EntryRead`] against the bookies' real read handling, on a virtual clock.
    fn read_entry(&mut self, entry_id: u64, lac: i64, faulty: bool) -> Result<Entry, ReadError> {
        const SPECULATIVE_MS: u64 = 10;
        let segment = self
            .metadata
            .segments
            .iter()
            .rev()
            .find(|s| s.first_entry_id <= entry_id)
            .expect("segment 0 starts at entry 0");
        let ensemble = segment.ensemble.clone();
        let mut now = 0u64;
        let mut read =
            EntryRead::start(1, entry_id, lac, self.quorum, ensemble, SPECULATIVE_MS, now);
        // Answers in flight: (arrival time, position, outcome).
        let mut inflight: Vec<(u64, usize, ReadOutcome)> = Vec::new();
        for _ in 0..100 {
            for action in read.take_actions() {
                match action {
                    ReadAction::Done(result) => return result,
                    ReadAction::Send { position, bookie } => {
                        let b = bookie_index(&bookie);
                        let stored = self.bookies[b].stored(entry_id);
                        let mut delay = 1;
                        let outcome = match stored {
                            // A damaged copy (or any doubt): the bookie says IoError.
                            Err(_) => ReadOutcome::Failed,
                            Ok(stored) => match stored {
                                _ if faulty && self.rng.random_ratio(1, 4) => ReadOutcome::Failed,
                                Some(entry) if faulty && self.rng.random_ratio(1, 6) => {
                                    let mut bytes = entry.as_bytes().to_vec();
                                    let i = self.rng.random_range(0..bytes.len());
                                    bytes[i] ^= 1 << self.rng.random_range(0..8);
                                    match Entry::decode(bytes.into()) {
                                        Ok(corrupt) => ReadOutcome::Found(corrupt),
                                        Err(_) => ReadOutcome::Failed,
                                    }
                                }
                                // A replica that lost the entry and says so (what the
                                // bookie's cookies exist to prevent): the client must
                                // still not call an entry at or below the LAC absent.
                                Some(_) if faulty && self.rng.random_ratio(1, 5) => {
                                    ReadOutcome::Absent
                                }
                                Some(entry) => ReadOutcome::Found(entry),
                                None => ReadOutcome::Absent,
                            },
                        };
                        if faulty && self.rng.random_ratio(1, 3) {
                            delay = self.rng.random_range(SPECULATIVE_MS..5 * SPECULATIVE_MS);
                        }
                        inflight.push((now + delay, position, outcome));
                    }
                }
            }
            // Deliver the earliest answer, or tick if nothing is due before the next
            // speculative read.
            inflight.sort_by_key(|(at, _, _)| *at);
            if inflight.is_empty() {
                now += SPECULATIVE_MS;
                read.on_tick(now);
                continue;
            }
            let (at, position, outcome) = inflight.remove(0);
            if at > now + SPECULATIVE_MS {
                now += SPECULATIVE_MS;
                read.on_tick(now);
                inflight.insert(0, (at, position, outcome));
                continue;
            }
            now = now.max(at);
            read.on_response(position, outcome, now);
        }
        panic!("read of entry {entry_id} did not finish in 100 steps");
    }

    /// Ends the fault phase: every bookie comes back, no more losses, and a recoverer
    /// is (re)started if the ledger is not closed yet.
    fn heal(&mut self) {
        self.healed = true;
        for b in 0..BOOKIES {
            if !self.bookies[b].up() {
                self.schedule(1, Event::Restart(b));
            }
        }
        if !matches!(self.metadata.state, LedgerState::Closed { .. }) {
            self.recoverers[0].attempts = 0;
            self.schedule(2, Event::StartRecovery(0));
        }
    }

    fn handle(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Deliver(Node::Bookie(b), msg) => self.bookie_receive(b, msg)?,
            Event::Deliver(Node::Writer, msg) => self.writer_receive(msg)?,
            Event::Deliver(Node::Recoverer(r), msg) => self.recoverer_receive(r, msg)?,
            Event::Fsync { bookie, epoch } => {
                let b = &mut self.bookies[bookie];
                if b.epoch != epoch {
                    return Ok(());
                }
                let Some(core) = b.core.as_mut() else {
                    return Ok(());
                };
                for (token, resp) in core.sync() {
                    let Some(waiting) = self.bookies[bookie].waiting.remove(&token) else {
                        return Err(format!("bookie {bookie} answered unknown token {token}"));
                    };
                    self.answer(bookie, waiting, &resp);
                }
            }
            Event::Checkpoint(b) => {
                if let Some(core) = self.bookies[b].core.as_mut() {
                    core.checkpoint()
                        .map_err(|e| format!("bookie {b} checkpoint: {e}"))?;
                    self.stats.checkpoints += 1;
                }
            }
            Event::Damage(b) => self.damage_mid_run(b)?,
            Event::WriterTick => {
                if self.writer_alive && self.writer.stopped().is_none() {
                    self.writer.on_tick(self.now_ms);
                    self.drive_writer()?;
                    if !self.healed {
                        self.schedule(5, Event::WriterTick);
                    }
                }
            }
            Event::WriterAppend => self.writer_append()?,
            Event::Crash(b) => self.crash(b),
            Event::Restart(b) => {
                if !self.bookies[b].up() {
                    self.bookies[b].start()?;
                    self.stats.restarts += 1;
                }
            }
            Event::StartRecovery(r) => self.start_recovery(r),
            Event::Heal => {
                if !self.healed {
                    self.heal();
                }
            }
        }
        Ok(())
    }

    fn writer_append(&mut self) -> Result<(), String> {
        if !self.writer_alive || self.to_append == 0 || self.writer.stopped().is_some() {
            return Ok(());
        }
        // The writer process may die at any moment.
        if !self.healed && self.rng.random_range(0..100) < 3 {
            self.writer_alive = false;
            return Ok(());
        }
        let len = self.rng.random_range(0..64);
        let payload: Vec<u8> = (0..len).map(|_| self.rng.random()).collect();
        match self.writer.append(&payload, self.now_ms) {
            Ok(entry_id) => {
                assert_eq!(entry_id as usize, self.appended.len());
                self.appended.push(payload);
                self.to_append -= 1;
                self.drive_writer()?;
                let delay = self.rng.random_range(0..self.append_gap_ms);
                self.schedule(delay, Event::WriterAppend);
            }
            Err(_) => self.schedule(3, Event::WriterAppend),
        }
        Ok(())
    }

    fn writer_receive(&mut self, msg: Msg) -> Result<(), String> {
        if !self.writer_alive {
            return Ok(());
        }
        if let Msg::AddResp {
            bookie,
            position,
            entry_id,
            outcome,
        } = msg
        {
            self.writer
                .on_add_response(entry_id, position, &bookie_id(bookie), outcome);
            self.drive_writer()?;
        }
        Ok(())
    }

    fn drive_writer(&mut self) -> Result<(), String> {
        for action in self.writer.take_actions() {
            match action {
                WriteAction::Send {
                    position,
                    bookie,
                    entry,
                } => {
                    let b = bookie_index(&bookie);
                    self.send(
                        Node::Bookie(b),
                        Msg::Add {
                            from: Node::Writer,
                            position,
                            recovery: false,
                            entry,
                        },
                    );
                }
                WriteAction::Acknowledged { entry_id } => {
                    if (entry_id as i64) < self.acknowledged {
                        return Err(format!(
                            "acknowledgement went backwards: {entry_id} after {}",
                            self.acknowledged
                        ));
                    }
                    self.acknowledged = entry_id as i64;
                }
                WriteAction::ChangeEnsemble {
                    segment_start,
                    ensemble,
                    failed,
                } => self.change_ensemble(segment_start, ensemble, failed),
                WriteAction::WriteLac { .. } | WriteAction::Stopped(_) => {}
            }
        }
        Ok(())
    }

    /// The driver's ensemble change: pick replacements, then compare-and-set the new
    /// segment into the metadata, which succeeds only while the ledger is OPEN.
    fn change_ensemble(&mut self, start: u64, ensemble: Vec<BookieId>, failed: Vec<usize>) {
        let mut candidates: Vec<usize> = (0..BOOKIES)
            .filter(|b| !ensemble.contains(&bookie_id(*b)))
            .collect();
        let mut next = ensemble.clone();
        for position in failed {
            if candidates.is_empty() {
                self.writer
                    .ensemble_change_failed("no replacement bookie".into());
                return;
            }
            let pick = candidates.remove(self.rng.random_range(0..candidates.len()));
            next[position] = bookie_id(pick);
        }
        if self.metadata.state != LedgerState::Open {
            self.writer
                .ensemble_change_failed("ledger is no longer open".into());
            return;
        }
        let segments = &mut self.metadata.segments;
        match segments.last_mut() {
            Some(last) if last.first_entry_id == start => last.ensemble = next.clone(),
            _ => segments.push(Segment {
                first_entry_id: start,
                ensemble: next.clone(),
            }),
        }
        self.writer.ensemble_changed(next, self.now_ms);
    }

    /// A crash: the process is gone with every request waiting for an fsync (no
    /// answer ever comes), and the journal keeps its synced bytes plus, sometimes,
    /// a torn prefix of the unsynced ones, the rest reading back as zeros or garbage.
    fn crash(&mut self, b: usize) {
        if !self.bookies[b].up() {
            return;
        }
        let mut torn = StdRng::seed_from_u64(self.rng.random());
        let fill = if torn.random_ratio(1, 2) {
            0
        } else {
            torn.random()
        };
        let bookie = &mut self.bookies[b];
        bookie.core = None;
        bookie.epoch += 1;
        bookie.journal = bookie.journal.crashed(
            |_, unsynced| {
                if unsynced > 0 && torn.random_ratio(1, 3) {
                    torn.random_range(0..=unsynced)
                } else {
                    0
                }
            },
            fill,
        );
        let lost: Vec<Waiting> = std::mem::take(&mut bookie.waiting).into_values().collect();
        for w in lost {
            let msg = match w.kind {
                Kind::Add(entry_id) => Msg::AddResp {
                    bookie: b,
                    position: w.position,
                    entry_id,
                    outcome: AddOutcome::Ok,
                },
                Kind::Read(entry_id) => Msg::ReadResp {
                    position: w.position,
                    entry_id,
                    outcome: ReadOutcome::Failed,
                },
            };
            self.time_out(w.from, &msg);
        }
    }

    /// Sends a bookie's answer back to whoever asked.
    fn answer(&mut self, b: usize, w: Waiting, resp: &Response) {
        let msg = match w.kind {
            Kind::Add(entry_id) => Msg::AddResp {
                bookie: b,
                position: w.position,
                entry_id,
                outcome: add_outcome(resp),
            },
            Kind::Read(entry_id) => Msg::ReadResp {
                position: w.position,
                entry_id,
                outcome: read_outcome(resp),
            },
        };
        self.send(w.from, msg);
    }

    /// Hands a request to the bookie's real handling; an answer that must wait for
    /// the journal comes with a later fsync, which the simulation schedules.
    fn bookie_receive(&mut self, b: usize, msg: Msg) -> Result<(), String> {
        if !self.bookies[b].up() {
            self.time_out(Node::Bookie(b), &msg);
            return Ok(());
        }
        let (waiting, req) = match msg {
            Msg::Add {
                from,
                position,
                recovery,
                entry,
            } => (
                Waiting {
                    from,
                    position,
                    kind: Kind::Add(entry.entry_id()),
                },
                Request::AddEntry(AddEntry {
                    master_key: master_key(),
                    recovery,
                    entry,
                }),
            ),
            // Recovery's reads are fencing reads, as in the real driver.
            Msg::Read {
                from,
                position,
                entry_id,
            } => (
                Waiting {
                    from,
                    position,
                    kind: Kind::Read(entry_id),
                },
                Request::ReadEntry(ReadEntry {
                    ledger_id: 1,
                    target: entry_id.map_or(ReadTarget::Last, ReadTarget::Entry),
                    fence: true,
                    master_key: master_key(),
                    long_poll: None,
                }),
            ),
            Msg::AddResp { .. } | Msg::ReadResp { .. } => return Ok(()),
        };
        let token = self.next_token;
        self.next_token += 1;
        let bookie = &mut self.bookies[b];
        let core = bookie.core.as_mut().expect("checked up above");
        match core.handle(token, req) {
            Handled::Reply(resp) => self.answer(b, waiting, &resp),
            Handled::Pending => {
                bookie.waiting.insert(token, waiting);
                let epoch = bookie.epoch;
                let delay = self.rng.random_range(bookie.fsync_ms.clone());
                self.schedule(delay, Event::Fsync { bookie: b, epoch });
            }
        }
        Ok(())
    }

    fn start_recovery(&mut self, r: usize) {
        if self.recoverers[r].core.is_some() {
            return;
        }
        match self.metadata.state {
            LedgerState::Closed { .. } => return,
            LedgerState::Open | LedgerState::InRecovery => {
                self.metadata.state = LedgerState::InRecovery;
            }
        }
        self.recoverers[r].attempts += 1;
        let mut core = Recovery::start(1, self.quorum, self.metadata.segments.clone());
        let actions = core.take_actions();
        self.recoverers[r].core = Some(core);
        self.drive_recoverer(r, actions);
    }

    fn recoverer_receive(&mut self, r: usize, msg: Msg) -> Result<(), String> {
        let Some(core) = self.recoverers[r].core.as_mut() else {
            return Ok(());
        };
        match msg {
            Msg::ReadResp {
                position,
                entry_id: None,
                outcome,
            } => core.on_fence_response(position, outcome),
            Msg::ReadResp {
                position,
                entry_id: Some(id),
                outcome,
            } => core.on_read_response(id, position, outcome),
            Msg::AddResp {
                position,
                entry_id,
                outcome,
                ..
            } => core.on_add_response(entry_id, position, outcome == AddOutcome::Ok),
            Msg::Add { .. } | Msg::Read { .. } => {}
        }
        let actions = core.take_actions();
        self.drive_recoverer(r, actions);
        Ok(())
    }

    fn drive_recoverer(&mut self, r: usize, actions: Vec<RecoveryAction>) {
        for action in actions {
            match action {
                RecoveryAction::FenceRead { position, bookie } => self.send(
                    Node::Bookie(bookie_index(&bookie)),
                    Msg::Read {
                        from: Node::Recoverer(r),
                        position,
                        entry_id: None,
                    },
                ),
                RecoveryAction::Read {
                    entry_id,
                    position,
                    bookie,
                } => self.send(
                    Node::Bookie(bookie_index(&bookie)),
                    Msg::Read {
                        from: Node::Recoverer(r),
                        position,
                        entry_id: Some(entry_id),
                    },
                ),
                RecoveryAction::RecoveryAdd {
                    position,
                    bookie,
                    entry,
                } => self.send(
                    Node::Bookie(bookie_index(&bookie)),
                    Msg::Add {
                        from: Node::Recoverer(r),
                        position,
                        recovery: true,
                        entry,
                    },
                ),
                RecoveryAction::Close {
                    last_entry_id,
                    length,
                } => {
                    self.recoverers[r].core = None;
                    self.recoverers[r].computed.push((last_entry_id, length));
                    // Compare-and-set IN_RECOVERY → CLOSED; a loser adopts the winner's.
                    if self.metadata.state == LedgerState::InRecovery {
                        self.metadata.state = LedgerState::Closed {
                            last_entry_id,
                            length,
                        };
                    }
                }
                RecoveryAction::Failed(err) => {
                    if std::env::var_os("FOLIO_SIM_TRACE").is_some() {
                        eprintln!("t={} recoverer {r}: {err}", self.now_ms);
                    }
                    self.recoverers[r].core = None;
                    if self.recoverers[r].attempts < 20 {
                        let delay = self.rng.random_range(20..100);
                        self.schedule(delay, Event::StartRecovery(r));
                    }
                }
            }
        }
    }

    fn check(&mut self) -> Result<(), String> {
        let LedgerState::Closed {
            last_entry_id,
            length,
        } = self.metadata.state
        else {
            return Err(format!(
                "ledger not closed after healing: {:?}",
                self.metadata.state
            ));
        };
        if last_entry_id < self.acknowledged {
            return Err(format!(
                "closed at {last_entry_id}, below acknowledged entry {}",
                self.acknowledged
            ));
        }
        let expected_length: u64 = self.appended[..(last_entry_id + 1) as usize]
            .iter()
            .map(|p| p.len() as u64)
            .sum();
        if length != expected_length {
            return Err(format!(
                "closed length {length}, expected {expected_length}"
            ));
        }
        // Every recovery that completed, including losers of the CAS race whose result
        // was not adopted, computed a close at or above every acknowledged entry, with
        // the length of the entries it kept (L9, L10).
        for (r, recoverer) in self.recoverers.iter().enumerate() {
            for &(last, len) in &recoverer.computed {
                if last < self.acknowledged {
                    return Err(format!(
                        "recoverer {r} computed last entry {last}, below acknowledged entry {}",
                        self.acknowledged
                    ));
                }
                let kept: u64 = self.appended[..(last + 1) as usize]
                    .iter()
                    .map(|p| p.len() as u64)
                    .sum();
                if len != kept {
                    return Err(format!(
                        "recoverer {r} computed length {len} for last entry {last}, expected {kept}"
                    ));
                }
            }
        }
        for entry_id in 0..=last_entry_id.max(-1) {
            let entry_id = entry_id as u64;
            let ensemble = self.ensemble_of(entry_id);
            let mut copies = 0;
            let mut damaged = 0;
            for position in self.quorum.write_set(entry_id).positions() {
                let b = bookie_index(&ensemble[position]);
                let stored = match self.bookies[b].stored(entry_id) {
                    // A copy damaged during the run (and not rewritten since) is still
                    // there, and the bookie says so: IoError, not "no such entry".
                    Err(Status::IoError) if self.damaged.contains(&(b, entry_id)) => {
                        damaged += 1;
                        continue;
                    }
                    other => other.map_err(|status| {
                        format!("bookie {b} read of entry {entry_id}: {status:?}")
                    })?,
                };
                if let Some(entry) = stored {
                    if entry.verify().is_err()
                        || entry.payload() != self.appended[entry_id as usize]
                    {
                        return Err(format!("entry {entry_id} on bookie {b} has other bytes"));
                    }
                    let lac = entry.header().lac;
                    if lac >= entry_id as i64 || lac > self.acknowledged {
                        return Err(format!(
                            "entry {entry_id} carries LAC {}",
                            entry.header().lac
                        ));
                    }
                    copies += 1;
                }
            }
            // Acknowledged entries were fsynced on Qa members of their write set, and
            // recovered ones rewritten to Qa: crashes lose only unsynced writes.
            if copies + damaged < self.quorum.ack_quorum() || copies == 0 {
                return Err(format!(
                    "entry {entry_id} (≤ last entry {last_entry_id}) has {copies} readable copies, fewer than Qa"
                ));
            }
        }
        // Same bytes everywhere, for every copy of every entry, including those past
        // the end that a reader will never be served.
        let mut seen: BTreeMap<u64, Entry> = BTreeMap::new();
        for b in 0..BOOKIES {
            for id in self.bookies[b].entry_ids() {
                let entry = match self.bookies[b].stored(id) {
                    Err(Status::IoError) if self.damaged.contains(&(b, id)) => continue,
                    other => other,
                }
                .map_err(|status| format!("bookie {b} read of entry {id}: {status:?}"))?
                .ok_or_else(|| format!("bookie {b} lists entry {id} but has no copy"))?;
                if let Some(other) = seen.insert(id, entry.clone())
                    && other != entry
                {
                    return Err(format!("bookie {b} holds other bytes for entry {id}"));
                }
            }
        }
        let fenced = (0..BOOKIES).any(|b| {
            self.bookies[b]
                .core
                .as_ref()
                .is_some_and(|core| core.table().is_fenced(1))
        });
        if !fenced && last_entry_id >= 0 {
            return Err("ledger closed without fencing any bookie".into());
        }
        Ok(())
    }
}

fn bookie_id(index: usize) -> BookieId {
    BookieId::new(format!("bookie-{index}"))
}

fn bookie_index(id: &BookieId) -> usize {
    id.as_str()
        .strip_prefix("bookie-")
        .and_then(|n| n.parse().ok())
        .expect("simulated bookie ids are bookie-N")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn ledger_guarantees_hold_under_faults() {
    let seeds = env_u64("FOLIO_SIM_SEEDS", 300);
    let base = env_u64("FOLIO_SIM_SEED_BASE", 0);
    let mut closed_nonempty = 0;
    let mut total = Stats::default();
    for seed in base..base + seeds {
        let mut sim = Sim::new(seed);
        if let Err(failure) = sim.run() {
            panic!(
                "seed {seed}: {failure} (quorum {}, acknowledged {}, appended {})\n\
                 replay: FOLIO_SIM_SEED_BASE={seed} FOLIO_SIM_SEEDS=1 cargo test -p folio-ledger --test simulation",
                sim.quorum,
                sim.acknowledged,
                sim.appended.len()
            );
        }
        total.restarts += sim.stats.restarts;
        total.checkpoints += sim.stats.checkpoints;
        total.damaged += sim.stats.damaged;
        total.multi_file_journals += sim.stats.multi_file_journals;
        total.damaged_mid_run += sim.stats.damaged_mid_run;
        if matches!(sim.metadata.state, LedgerState::Closed { last_entry_id, .. } if last_entry_id >= 0)
        {
            closed_nonempty += 1;
        }
    }
    // The runs must exercise something: most ledgers close with entries in them.
    assert!(
        seeds < 20 || closed_nonempty * 2 > seeds,
        "only {closed_nonempty} of {seeds} runs closed a non-empty ledger"
    );
    assert!(
        seeds < 20
            || (total.restarts > 0
                && total.checkpoints > 0
                && total.damaged > 0
                && total.damaged_mid_run > 0
                && total.multi_file_journals > 0),
        "the faults did not happen: {total:?}"
    );
    eprintln!("{seeds} seeds from {base}: {closed_nonempty} closed non-empty; {total:?}");
}
