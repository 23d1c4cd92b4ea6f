//! The write path of one ledger, as a state machine without I/O.
//!
//! [`Writer`] takes events in (an append, a bookie's answer, a tick of the clock, the
//! outcome of an ensemble change) and queues [`WriteAction`]s out (send this entry to
//! that bookie, this entry is acknowledged, change the ensemble). A tokio driver or the
//! deterministic simulation carries the actions out and feeds the answers back, so the
//! rules below are tested exactly as they run.
//!
//! The rules (DESIGN.md §2, `docs/protocol.md` "Ledger guarantees"):
//! - entry `e` goes to the write set of [`QuorumConfig::write_set`] in the current
//!   ensemble;
//! - it is acknowledged once Qa members of that write set have answered OK, and
//!   acknowledgements leave in entry order, so LAC only ever grows by one;
//! - every entry carries the LAC known when it was appended (piggybacked LAC);
//! - a failed or timed-out bookie triggers an ensemble change: the driver picks a
//!   replacement and compare-and-sets a new segment starting at LAC + 1 into the
//!   ledger's metadata, only while the ledger is OPEN. Acknowledgements are held while
//!   the change runs. Once it lands, OK answers from replaced bookies no longer count,
//!   and pending entries are sent again to the replacements;
//! - a Fenced answer means another client is recovering the ledger: the outcome of
//!   every unacknowledged entry is unknown, and the writer stops.

use std::collections::VecDeque;

use bytes::{BufMut, BytesMut};
use folio_proto::{ENTRY_OVERHEAD_BYTES, Entry, EntryHeader, NO_ENTRY};

use crate::BookieId;
use crate::quorum::{PositionSet, QuorumConfig};

/// Tunables of a [`Writer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterConfig {
    /// The most entries appended but not yet acknowledged. [`Writer::append`] refuses
    /// more, which is how backpressure reaches the application.
    pub max_in_flight_entries: usize,
    /// How long a bookie may take to answer an add before it counts as failed.
    pub add_timeout_ms: u64,
    /// How many ensemble changes one writer may make before giving up.
    pub max_ensemble_changes: u32,
    /// After this long without an append, an advanced LAC is written explicitly so
    /// that tailing readers see it.
    pub explicit_lac_interval_ms: u64,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_in_flight_entries: 64,
            add_timeout_ms: 10_000,
            max_ensemble_changes: 16,
            explicit_lac_interval_ms: 1_000,
        }
    }
}

/// How one bookie answered one add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    /// Stored durably.
    Ok,
    /// The ledger is fenced on that bookie.
    Fenced,
    /// Anything else: an error status, a broken connection, a timeout.
    Failed,
}

/// Why the writer cannot go on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The ledger was fenced by a recovering client. Unacknowledged entries may or may
    /// not survive recovery: their outcome is unknown, not failed.
    #[error(
        "ledger {ledger_id} was fenced by another client; the outcome of unacknowledged entries is unknown"
    )]
    Fenced {
        /// The ledger.
        ledger_id: u64,
    },
    /// The in-flight window is full; wait for an acknowledgement and append again.
    #[error("too many entries in flight ({max_in_flight_entries}); wait for acknowledgements")]
    WindowFull {
        /// The configured window.
        max_in_flight_entries: usize,
    },
    /// Replacing failed bookies did not succeed (no replacement, the cap was reached, or
    /// the metadata update was refused).
    #[error("ledger {ledger_id}: ensemble change failed: {reason}")]
    EnsembleChangeFailed {
        /// The ledger.
        ledger_id: u64,
        /// What went wrong.
        reason: String,
    },
    /// The writer was closed.
    #[error("ledger {ledger_id} is closed")]
    Closed {
        /// The ledger.
        ledger_id: u64,
    },
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteAction {
    /// Send `entry` as a normal add to `bookie`, which sits at `position` of the
    /// current ensemble. Answer with [`Writer::on_add_response`].
    Send {
        /// The ensemble position.
        position: usize,
        /// The bookie at that position when the action was made.
        bookie: BookieId,
        /// The encoded entry.
        entry: Entry,
    },
    /// Entries up to and including `entry_id` are acknowledged (LAC is now `entry_id`).
    Acknowledged {
        /// The new LAC.
        entry_id: u64,
    },
    /// Replace the bookies at `failed` positions, record the new ensemble as a segment
    /// starting at `segment_start` (compare-and-set, only while OPEN), then call
    /// [`Writer::ensemble_changed`] or [`Writer::ensemble_change_failed`].
    ChangeEnsemble {
        /// First entry id of the new segment: LAC + 1 when the change began.
        segment_start: u64,
        /// The ensemble as it stands.
        ensemble: Vec<BookieId>,
        /// The positions to replace.
        failed: Vec<usize>,
    },
    /// Write LAC explicitly to every bookie of the ensemble (the writer is idle).
    WriteLac {
        /// The LAC to write.
        lac: u64,
        /// The ensemble to write it to.
        ensemble: Vec<BookieId>,
    },
    /// The writer stopped; every unacknowledged entry shares this outcome.
    Stopped(WriteError),
}

#[derive(Debug)]
struct Pending {
    entry: Entry,
    /// Positions that answered OK (within the ensemble current for this entry).
    acked: PositionSet,
    /// Positions sent to and not yet answered.
    outstanding: PositionSet,
    /// When the outstanding sends went out.
    sent_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Writing,
    /// An ensemble change is running; `failed` are the positions it replaces, and
    /// `more_failed` are positions that failed since it began.
    ChangingEnsemble {
        failed: PositionSet,
        more_failed: PositionSet,
    },
    Stopped(WriteError),
}

/// The write path of one ledger. See the module documentation.
#[derive(Debug)]
pub struct Writer {
    ledger_id: u64,
    quorum: QuorumConfig,
    config: WriterConfig,
    ensemble: Vec<BookieId>,
    /// Entry id of the first pending entry: LAC + 1.
    next_entry_id: u64,
    /// Length in bytes of everything appended.
    appended_length: u64,
    /// Length in bytes of everything acknowledged.
    acked_length: u64,
    lac: i64,
    /// Unacknowledged entries in entry order; `pending[i]` is entry `lac + 1 + i`.
    pending: VecDeque<Pending>,
    state: State,
    ensemble_changes: u32,
    last_append_ms: u64,
    /// The LAC that bookies have seen, by piggyback or explicit write.
    lac_published: i64,
    actions: Vec<WriteAction>,
}

impl Writer {
    /// A writer for a new, empty ledger on `ensemble`.
    ///
    /// Panics if the ensemble size does not match the quorum configuration: that is a
    /// bug in the caller, not bad input.
    pub fn new(
        ledger_id: u64,
        quorum: QuorumConfig,
        ensemble: Vec<BookieId>,
        config: WriterConfig,
    ) -> Writer {
        assert_eq!(
            ensemble.len(),
            quorum.ensemble_size(),
            "ensemble size mismatch"
        );
        assert!(
            config.max_in_flight_entries > 0,
            "window must hold an entry"
        );
        Writer {
            ledger_id,
            quorum,
            config,
            ensemble,
            next_entry_id: 0,
            appended_length: 0,
            acked_length: 0,
            lac: NO_ENTRY,
            pending: VecDeque::new(),
            state: State::Writing,
            ensemble_changes: 0,
            last_append_ms: 0,
            lac_published: NO_ENTRY,
            actions: Vec::new(),
        }
    }

    /// The ledger this writer appends to.
    pub fn ledger_id(&self) -> u64 {
        self.ledger_id
    }

    /// The last add confirmed: every entry up to it is acknowledged ([`NO_ENTRY`] if
    /// none is).
    pub fn lac(&self) -> i64 {
        self.lac
    }

    /// Bytes acknowledged so far.
    pub fn acked_length(&self) -> u64 {
        self.acked_length
    }

    /// The current ensemble.
    pub fn ensemble(&self) -> &[BookieId] {
        &self.ensemble
    }

    /// Entries appended and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Why the writer stopped, if it did.
    pub fn stopped(&self) -> Option<&WriteError> {
        match &self.state {
            State::Stopped(err) => Some(err),
            _ => None,
        }
    }

    /// Takes the actions queued since the last call, in order.
    pub fn take_actions(&mut self) -> Vec<WriteAction> {
        std::mem::take(&mut self.actions)
    }

    /// Appends `payload` as the next entry and returns its entry id. The entry is
    /// acknowledged later, by a [`WriteAction::Acknowledged`] that covers it.
    pub fn append(&mut self, payload: &[u8], now_ms: u64) -> Result<u64, WriteError> {
        self.append_parts(&[payload], now_ms)
    }

    /// Appends the concatenation of `parts` as the next entry, like
    /// [`Writer::append`]. The parts are copied once, straight into the encoded entry,
    /// so a caller holding a payload in pieces (slices of network buffers) need not
    /// join them first.
    pub fn append_parts<P: AsRef<[u8]>>(
        &mut self,
        parts: &[P],
        now_ms: u64,
    ) -> Result<u64, WriteError> {
        if let State::Stopped(err) = &self.state {
            return Err(err.clone());
        }
        if self.pending.len() >= self.config.max_in_flight_entries {
            return Err(WriteError::WindowFull {
                max_in_flight_entries: self.config.max_in_flight_entries,
            });
        }
        let entry_id = self.next_entry_id;
        self.next_entry_id += 1;
        let payload_len: usize = parts.iter().map(|p| p.as_ref().len()).sum();
        self.appended_length += payload_len as u64;
        self.last_append_ms = now_ms;
        self.lac_published = self.lac;
        let entry = encode_entry(
            EntryHeader {
                ledger_id: self.ledger_id,
                entry_id,
                lac: self.lac,
                length: self.appended_length,
            },
            parts,
            payload_len,
        );
        self.pending.push_back(Pending {
            entry,
            acked: PositionSet::EMPTY,
            outstanding: PositionSet::EMPTY,
            sent_at_ms: now_ms,
        });
        if self.state == State::Writing {
            let index = self.pending.len() - 1;
            self.send_missing(index, now_ms);
        }
        Ok(entry_id)
    }

    /// Feeds the answer of the bookie at `position` to the add of `entry_id`.
    /// `bookie` must be the bookie the [`WriteAction::Send`] named; answers from a
    /// bookie that has since been replaced are ignored.
    pub fn on_add_response(
        &mut self,
        entry_id: u64,
        position: usize,
        bookie: &BookieId,
        outcome: AddOutcome,
    ) {
        if matches!(self.state, State::Stopped(_)) {
            return;
        }
        if self.ensemble.get(position) != Some(bookie) {
            return; // a replaced bookie's late answer
        }
        let Some(index) = self.pending_index(entry_id) else {
            return; // already acknowledged, or never sent
        };
        let pending = &mut self.pending[index];
        if !pending.outstanding.contains(position) {
            return; // a duplicate, or an answer to a send we gave up on
        }
        pending.outstanding.remove(position);
        match outcome {
            AddOutcome::Ok => {
                pending.acked.insert(position);
                self.advance_lac();
            }
            AddOutcome::Fenced => self.stop(WriteError::Fenced {
                ledger_id: self.ledger_id,
            }),
            AddOutcome::Failed => self.bookies_failed([position].into_iter().collect()),
        }
    }

    /// Advances the clock: adds unanswered for longer than the timeout count as failed,
    /// and an idle writer publishes its LAC.
    pub fn on_tick(&mut self, now_ms: u64) {
        if matches!(self.state, State::Stopped(_)) {
            return;
        }
        let timeout = self.config.add_timeout_ms;
        let mut timed_out = PositionSet::EMPTY;
        for pending in &mut self.pending {
            if !pending.outstanding.is_empty()
                && now_ms.saturating_sub(pending.sent_at_ms) >= timeout
            {
                for position in pending.outstanding.iter() {
                    timed_out.insert(position);
                }
                pending.outstanding = PositionSet::EMPTY;
            }
        }
        if !timed_out.is_empty() {
            self.bookies_failed(timed_out);
        }
        let idle =
            now_ms.saturating_sub(self.last_append_ms) >= self.config.explicit_lac_interval_ms;
        if idle && self.lac > self.lac_published && self.state == State::Writing {
            self.lac_published = self.lac;
            self.actions.push(WriteAction::WriteLac {
                lac: self.lac as u64,
                ensemble: self.ensemble.clone(),
            });
            self.last_append_ms = now_ms;
        }
    }

    /// The ensemble change asked for by [`WriteAction::ChangeEnsemble`] is recorded in
    /// the metadata: `ensemble` is the new ensemble (same size, replacements at the
    /// failed positions). Pending entries go to the replacements and held
    /// acknowledgements are released.
    pub fn ensemble_changed(&mut self, ensemble: Vec<BookieId>, now_ms: u64) {
        let State::ChangingEnsemble {
            failed,
            more_failed,
        } = self.state.clone()
        else {
            return;
        };
        assert_eq!(ensemble.len(), self.ensemble.len(), "ensemble size changed");
        let replaced: PositionSet = (0..ensemble.len())
            .filter(|p| ensemble[*p] != self.ensemble[*p])
            .collect();
        assert!(
            failed.iter().all(|p| replaced.contains(p)),
            "every failed position must be replaced"
        );
        self.ensemble = ensemble;
        self.ensemble_changes += 1;
        // Answers from the old occupants of replaced positions no longer count.
        for pending in &mut self.pending {
            for position in replaced.iter() {
                pending.acked.remove(position);
                pending.outstanding.remove(position);
            }
        }
        self.state = State::Writing;
        let still_failed: Vec<usize> = more_failed
            .iter()
            .filter(|p| !replaced.contains(*p))
            .collect();
        if still_failed.is_empty() {
            for index in 0..self.pending.len() {
                self.send_missing(index, now_ms);
            }
            self.advance_lac();
        } else {
            self.begin_change(still_failed.into_iter().collect());
        }
    }

    /// The ensemble change failed: the writer stops.
    pub fn ensemble_change_failed(&mut self, reason: String) {
        if matches!(self.state, State::ChangingEnsemble { .. }) {
            self.stop(WriteError::EnsembleChangeFailed {
                ledger_id: self.ledger_id,
                reason,
            });
        }
    }

    /// Stops the writer (the application closes the ledger). Unacknowledged entries
    /// get [`WriteError::Closed`]; the caller records LAC and [`Self::acked_length`]
    /// as the ledger's last entry and length.
    pub fn close(&mut self) {
        if !matches!(self.state, State::Stopped(_)) {
            self.stop(WriteError::Closed {
                ledger_id: self.ledger_id,
            });
        }
    }

    fn pending_index(&self, entry_id: u64) -> Option<usize> {
        let first = (self.lac + 1) as u64;
        let index = entry_id.checked_sub(first)? as usize;
        (index < self.pending.len()).then_some(index)
    }

    /// Sends pending entry `index` to every position of its write set that has neither
    /// acknowledged it nor has a send outstanding.
    fn send_missing(&mut self, index: usize, now_ms: u64) {
        let pending = &mut self.pending[index];
        let write_set = self.quorum.write_set(pending.entry.entry_id());
        let mut sent_any = false;
        for position in write_set.positions() {
            if pending.acked.contains(position) || pending.outstanding.contains(position) {
                continue;
            }
            pending.outstanding.insert(position);
            sent_any = true;
            self.actions.push(WriteAction::Send {
                position,
                bookie: self.ensemble[position].clone(),
                entry: pending.entry.clone(),
            });
        }
        if sent_any {
            pending.sent_at_ms = now_ms;
        }
    }

    /// Pops every entry at the head of the queue that has Qa acknowledgements, unless
    /// an ensemble change holds them.
    fn advance_lac(&mut self) {
        if self.state != State::Writing {
            return;
        }
        let mut advanced = false;
        while let Some(front) = self.pending.front() {
            if front.acked.len() < self.quorum.ack_quorum() {
                break;
            }
            let entry_id = front.entry.entry_id();
            self.acked_length = front.entry.header().length;
            assert_eq!(
                entry_id as i64,
                self.lac + 1,
                "acknowledgements out of order"
            );
            self.lac = entry_id as i64;
            self.pending.pop_front();
            advanced = true;
        }
        if advanced {
            self.actions.push(WriteAction::Acknowledged {
                entry_id: self.lac as u64,
            });
        }
    }

    fn bookies_failed(&mut self, positions: PositionSet) {
        match &mut self.state {
            State::Writing => self.begin_change(positions),
            State::ChangingEnsemble {
                failed,
                more_failed,
            } => {
                for position in positions.iter().filter(|p| !failed.contains(*p)) {
                    more_failed.insert(position);
                }
            }
            State::Stopped(_) => {}
        }
    }

    fn begin_change(&mut self, failed: PositionSet) {
        if self.ensemble_changes >= self.config.max_ensemble_changes {
            self.stop(WriteError::EnsembleChangeFailed {
                ledger_id: self.ledger_id,
                reason: format!(
                    "{} ensemble changes already made, the configured maximum",
                    self.ensemble_changes
                ),
            });
            return;
        }
        self.state = State::ChangingEnsemble {
            failed,
            more_failed: PositionSet::EMPTY,
        };
        self.actions.push(WriteAction::ChangeEnsemble {
            segment_start: (self.lac + 1) as u64,
            ensemble: self.ensemble.clone(),
            failed: failed.iter().collect(),
        });
    }

    fn stop(&mut self, err: WriteError) {
        self.state = State::Stopped(err.clone());
        self.actions.push(WriteAction::Stopped(err));
    }
}

/// The entry of `header` whose payload is the concatenation of `parts`
/// (`payload_len` bytes in all): byte for byte what [`Entry::new`] makes of the joined
/// payload (header, payload, CRC32C of both, big-endian), with one copy of the parts.
fn encode_entry<P: AsRef<[u8]>>(header: EntryHeader, parts: &[P], payload_len: usize) -> Entry {
    if let [one] = parts {
        return Entry::new(header, one.as_ref());
    }
    let mut buf = BytesMut::with_capacity(ENTRY_OVERHEAD_BYTES + payload_len);
    buf.put_slice(&header.to_bytes());
    for part in parts {
        buf.put_slice(part.as_ref());
    }
    let digest = crc32c::crc32c(&buf);
    buf.put_u32(digest);
    match Entry::decode(buf.freeze()) {
        Ok(entry) => entry,
        // Unreachable: the buffer holds a whole header made from an `EntryHeader` plus
        // the digest, which is all `decode` checks. Should it ever fail, the joined
        // payload still makes the same entry through the reference encoder.
        Err(_) => {
            let joined: Vec<u8> = parts.iter().flat_map(|p| p.as_ref()).copied().collect();
            Entry::new(header, &joined)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_from_parts_is_the_entry_of_the_joined_payload() {
        let header = EntryHeader {
            ledger_id: 9,
            entry_id: 3,
            lac: 2,
            length: 4096,
        };
        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let reference = Entry::new(header, &payload);
        for cuts in [
            vec![],
            vec![0],
            vec![1],
            vec![500],
            vec![1, 2, 999],
            vec![0, 1000],
        ] {
            let mut parts = Vec::new();
            let mut start = 0;
            for cut in cuts.iter().copied().chain([payload.len()]) {
                parts.push(&payload[start..cut]);
                start = cut;
            }
            let built = encode_entry(header, &parts, payload.len());
            assert_eq!(built, reference, "cuts {cuts:?}");
            built.verify().expect("digest is valid");
        }
        let none: [&[u8]; 0] = [];
        assert_eq!(encode_entry(header, &none, 0), Entry::new(header, b""));
    }

    #[test]
    fn append_parts_counts_the_joined_length() {
        let mut w = writer(3, 3, 2);
        assert_eq!(w.append_parts(&[&b"ab"[..], b"", b"cde"], 0), Ok(0));
        let entries: Vec<Entry> = w
            .take_actions()
            .into_iter()
            .filter_map(|a| match a {
                WriteAction::Send { entry, .. } => Some(entry),
                _ => None,
            })
            .collect();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].payload().as_ref(), b"abcde");
        assert_eq!(entries[0].header().length, 5);
    }

    fn ensemble(n: usize) -> Vec<BookieId> {
        (0..n).map(|i| BookieId::new(format!("b{i}"))).collect()
    }

    fn writer(e: usize, w: usize, a: usize) -> Writer {
        let quorum = QuorumConfig::new(e, w, a).expect("valid quorum");
        Writer::new(7, quorum, ensemble(e), WriterConfig::default())
    }

    fn sends(actions: &[WriteAction]) -> Vec<(u64, usize)> {
        actions
            .iter()
            .filter_map(|a| match a {
                WriteAction::Send {
                    position, entry, ..
                } => Some((entry.entry_id(), *position)),
                _ => None,
            })
            .collect()
    }

    fn acked(actions: &[WriteAction]) -> Vec<u64> {
        actions
            .iter()
            .filter_map(|a| match a {
                WriteAction::Acknowledged { entry_id } => Some(*entry_id),
                _ => None,
            })
            .collect()
    }

    fn ok(w: &mut Writer, entry: u64, position: usize) {
        let bookie = w.ensemble()[position].clone();
        w.on_add_response(entry, position, &bookie, AddOutcome::Ok);
    }

    #[test]
    fn sends_to_the_write_set_and_piggybacks_lac() {
        let mut w = writer(3, 2, 2);
        assert_eq!(w.append(b"a", 0), Ok(0));
        assert_eq!(sends(&w.take_actions()), vec![(0, 0), (0, 1)]);
        ok(&mut w, 0, 0);
        ok(&mut w, 0, 1);
        assert_eq!(acked(&w.take_actions()), vec![0]);
        assert_eq!(w.append(b"b", 0), Ok(1));
        let actions = w.take_actions();
        assert_eq!(sends(&actions), vec![(1, 1), (1, 2)]);
        let WriteAction::Send { entry, .. } = &actions[0] else {
            panic!("expected a send, got {actions:?}");
        };
        assert_eq!(entry.header().lac, 0, "LAC is piggybacked");
        assert_eq!(entry.header().length, 2);
        assert_eq!(w.acked_length(), 1);
    }

    #[test]
    fn acknowledgements_leave_in_entry_order() {
        let mut w = writer(3, 3, 2);
        for _ in 0..3 {
            w.append(b"x", 0).expect("window has room");
        }
        w.take_actions();
        // Entry 2 and 1 reach their ack quorum first: nothing is acknowledged yet.
        ok(&mut w, 2, 0);
        ok(&mut w, 2, 1);
        ok(&mut w, 1, 0);
        ok(&mut w, 1, 2);
        assert!(acked(&w.take_actions()).is_empty());
        assert_eq!(w.lac(), NO_ENTRY);
        ok(&mut w, 0, 1);
        ok(&mut w, 0, 2);
        assert_eq!(acked(&w.take_actions()), vec![2]);
        assert_eq!(w.lac(), 2);
        assert_eq!(w.in_flight(), 0);
    }

    #[test]
    fn the_window_bounds_entries_in_flight() {
        let quorum = QuorumConfig::new(3, 3, 2).expect("valid");
        let config = WriterConfig {
            max_in_flight_entries: 2,
            ..WriterConfig::default()
        };
        let mut w = Writer::new(1, quorum, ensemble(3), config);
        w.append(b"a", 0).expect("room");
        w.append(b"b", 0).expect("room");
        assert_eq!(
            w.append(b"c", 0),
            Err(WriteError::WindowFull {
                max_in_flight_entries: 2
            })
        );
        ok(&mut w, 0, 0);
        ok(&mut w, 0, 1);
        assert_eq!(w.append(b"c", 0), Ok(2));
    }

    #[test]
    fn a_failure_changes_the_ensemble_and_holds_acks() {
        let mut w = writer(3, 3, 2);
        w.append(b"a", 0).expect("room");
        w.take_actions();
        let b2 = w.ensemble()[2].clone();
        w.on_add_response(0, 2, &b2, AddOutcome::Failed);
        let actions = w.take_actions();
        assert_eq!(
            actions,
            vec![WriteAction::ChangeEnsemble {
                segment_start: 0,
                ensemble: ensemble(3),
                failed: vec![2]
            }]
        );
        // The other two acknowledge while the change runs: held.
        ok(&mut w, 0, 0);
        ok(&mut w, 0, 1);
        assert!(acked(&w.take_actions()).is_empty());
        let mut next = ensemble(3);
        next[2] = BookieId::new("b9");
        w.ensemble_changed(next, 6);
        let actions = w.take_actions();
        assert_eq!(
            sends(&actions),
            vec![(0, 2)],
            "only the replacement gets a resend"
        );
        assert_eq!(
            acked(&actions),
            vec![0],
            "held acknowledgements are released"
        );
        // A late answer from the replaced bookie is ignored.
        w.on_add_response(0, 2, &b2, AddOutcome::Ok);
        assert!(w.take_actions().is_empty());
    }

    #[test]
    fn acks_of_a_replaced_bookie_do_not_count() {
        let mut w = writer(3, 3, 3);
        w.append(b"a", 0).expect("room");
        w.take_actions();
        ok(&mut w, 0, 0);
        let b1 = w.ensemble()[1].clone();
        w.on_add_response(0, 1, &b1, AddOutcome::Failed);
        w.take_actions();
        let mut next = ensemble(3);
        next[1] = BookieId::new("b9");
        w.ensemble_changed(next, 2);
        assert_eq!(sends(&w.take_actions()), vec![(0, 1)]);
        ok(&mut w, 0, 2);
        assert!(acked(&w.take_actions()).is_empty(), "only 2 of Qa=3 so far");
        ok(&mut w, 0, 1);
        assert_eq!(acked(&w.take_actions()), vec![0]);
    }

    #[test]
    fn fenced_stops_with_an_unknown_outcome() {
        let mut w = writer(3, 3, 2);
        w.append(b"a", 0).expect("room");
        w.take_actions();
        let b0 = w.ensemble()[0].clone();
        w.on_add_response(0, 0, &b0, AddOutcome::Fenced);
        let err = WriteError::Fenced { ledger_id: 7 };
        assert_eq!(w.take_actions(), vec![WriteAction::Stopped(err.clone())]);
        assert_eq!(w.append(b"b", 2), Err(err));
    }

    #[test]
    fn a_timeout_counts_as_a_failure() {
        let mut w = writer(3, 3, 2);
        w.append(b"a", 100).expect("room");
        w.take_actions();
        ok(&mut w, 0, 0);
        w.on_tick(99 + WriterConfig::default().add_timeout_ms);
        assert!(w.take_actions().is_empty(), "not timed out yet");
        // Positions 1 and 2 never answered.
        w.on_tick(100 + WriterConfig::default().add_timeout_ms);
        let actions = w.take_actions();
        assert!(
            matches!(&actions[..], [WriteAction::ChangeEnsemble { failed, segment_start: 0, .. }] if failed == &vec![1, 2]),
            "{actions:?}"
        );
    }

    #[test]
    fn an_idle_writer_publishes_its_lac() {
        let mut w = writer(3, 3, 2);
        w.append(b"a", 0).expect("room");
        w.take_actions();
        ok(&mut w, 0, 0);
        ok(&mut w, 0, 1);
        w.take_actions();
        w.on_tick(10);
        assert!(w.take_actions().is_empty(), "not idle long enough");
        w.on_tick(WriterConfig::default().explicit_lac_interval_ms);
        assert_eq!(
            w.take_actions(),
            vec![WriteAction::WriteLac {
                lac: 0,
                ensemble: ensemble(3)
            }]
        );
        w.on_tick(10 * WriterConfig::default().explicit_lac_interval_ms);
        assert!(w.take_actions().is_empty(), "published once");
    }

    #[test]
    fn ensemble_changes_are_capped() {
        let quorum = QuorumConfig::new(3, 3, 2).expect("valid");
        let config = WriterConfig {
            max_ensemble_changes: 1,
            ..WriterConfig::default()
        };
        let mut w = Writer::new(1, quorum, ensemble(3), config);
        w.append(b"a", 0).expect("room");
        w.take_actions();
        let b0 = w.ensemble()[0].clone();
        w.on_add_response(0, 0, &b0, AddOutcome::Failed);
        w.take_actions();
        let mut next = ensemble(3);
        next[0] = BookieId::new("b8");
        w.ensemble_changed(next, 2);
        w.take_actions();
        let b8 = w.ensemble()[0].clone();
        w.on_add_response(0, 0, &b8, AddOutcome::Failed);
        let actions = w.take_actions();
        assert!(
            matches!(
                &actions[..],
                [WriteAction::Stopped(
                    WriteError::EnsembleChangeFailed { .. }
                )]
            ),
            "{actions:?}"
        );
    }
}
