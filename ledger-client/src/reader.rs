//! Reading one entry, as a state machine without I/O.
//!
//! [`EntryRead`] tries the members of the entry's write set in order. If the current
//! replica has not answered after the speculative delay, it also asks the next one;
//! whichever returns the entry with a good digest first wins. A replica that answers
//! with an error, an absence or a bad digest makes it move on at once.
//!
//! What it promises (`docs/protocol.md`, "Ledger guarantees"):
//! - every entry it returns has a verified CRC32C digest and the expected ledger and
//!   entry id;
//! - it never reports an entry at or below the LAC as absent: if no replica returns
//!   it, that is [`ReadError::Unavailable`], an error to retry, not a "no such entry";
//! - above the LAC it reports [`ReadError::NoSuchEntry`] only on Qw − Qa + 1 explicit
//!   absences, the same proof recovery uses.

use folio_proto::Entry;

use crate::BookieId;
use crate::quorum::{PositionSet, QuorumConfig};
use crate::recovery::ReadOutcome;

/// Why an entry could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// No replica returned the entry, and it cannot be proven absent (or it is at or
    /// below the LAC, where absence would mean data loss). Retry later.
    #[error("ledger {ledger_id} entry {entry_id}: no replica returned it")]
    Unavailable {
        /// The ledger.
        ledger_id: u64,
        /// The entry.
        entry_id: u64,
    },
    /// The entry is beyond the LAC and proven absent.
    #[error("ledger {ledger_id} has no entry {entry_id}")]
    NoSuchEntry {
        /// The ledger.
        ledger_id: u64,
        /// The entry.
        entry_id: u64,
    },
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadAction {
    /// Ask `bookie` (at `position`) for the entry; answer with
    /// [`EntryRead::on_response`].
    Send {
        /// Position in the entry's ensemble.
        position: usize,
        /// The bookie there.
        bookie: BookieId,
    },
    /// The read is over.
    Done(Result<Entry, ReadError>),
}

/// One entry read. See the module documentation.
#[derive(Debug)]
pub struct EntryRead {
    ledger_id: u64,
    entry_id: u64,
    lac: i64,
    quorum: QuorumConfig,
    ensemble: Vec<BookieId>,
    /// Write set positions in try order.
    order: Vec<usize>,
    /// How many of `order` have been asked.
    asked: usize,
    outstanding: PositionSet,
    absent: usize,
    last_send_ms: u64,
    speculative_delay_ms: u64,
    done: bool,
    actions: Vec<ReadAction>,
}

impl EntryRead {
    /// Starts reading `entry_id` of `ledger_id` from `ensemble` (the ensemble of the
    /// segment holding it). `lac` is the highest entry known to be acknowledged.
    pub fn start(
        ledger_id: u64,
        entry_id: u64,
        lac: i64,
        quorum: QuorumConfig,
        ensemble: Vec<BookieId>,
        speculative_delay_ms: u64,
        now_ms: u64,
    ) -> EntryRead {
        assert_eq!(
            ensemble.len(),
            quorum.ensemble_size(),
            "ensemble size mismatch"
        );
        let order = quorum.write_set(entry_id).positions().collect();
        let mut read = EntryRead {
            ledger_id,
            entry_id,
            lac,
            quorum,
            ensemble,
            order,
            asked: 0,
            outstanding: PositionSet::EMPTY,
            absent: 0,
            last_send_ms: now_ms,
            speculative_delay_ms,
            done: false,
            actions: Vec::new(),
        };
        read.ask_next(now_ms);
        read
    }

    /// Takes the actions queued since the last call, in order.
    pub fn take_actions(&mut self) -> Vec<ReadAction> {
        std::mem::take(&mut self.actions)
    }

    /// Whether the read has finished.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds the answer of the bookie at `position`.
    pub fn on_response(&mut self, position: usize, outcome: ReadOutcome, now_ms: u64) {
        if self.done || !self.outstanding.contains(position) {
            return;
        }
        self.outstanding.remove(position);
        match outcome {
            ReadOutcome::Found(entry)
                if entry.verify().is_ok()
                    && entry.ledger_id() == self.ledger_id
                    && entry.entry_id() == self.entry_id =>
            {
                self.finish(Ok(entry));
                return;
            }
            ReadOutcome::Absent => self.absent += 1,
            ReadOutcome::Found(_) | ReadOutcome::Failed => {}
        }
        if self.entry_id as i64 > self.lac && self.absent >= self.quorum.absent_threshold() {
            self.finish(Err(ReadError::NoSuchEntry {
                ledger_id: self.ledger_id,
                entry_id: self.entry_id,
            }));
            return;
        }
        if self.asked < self.order.len() {
            self.ask_next(now_ms);
        } else if self.outstanding.is_empty() {
            self.finish(Err(ReadError::Unavailable {
                ledger_id: self.ledger_id,
                entry_id: self.entry_id,
            }));
        }
    }

    /// Advances the clock: if the replicas asked so far are slow, ask the next one too.
    pub fn on_tick(&mut self, now_ms: u64) {
        if !self.done
            && self.asked < self.order.len()
            && now_ms.saturating_sub(self.last_send_ms) >= self.speculative_delay_ms
        {
            self.ask_next(now_ms);
        }
    }

    fn ask_next(&mut self, now_ms: u64) {
        let position = self.order[self.asked];
        self.asked += 1;
        self.outstanding.insert(position);
        self.last_send_ms = now_ms;
        self.actions.push(ReadAction::Send {
            position,
            bookie: self.ensemble[position].clone(),
        });
    }

    fn finish(&mut self, result: Result<Entry, ReadError>) {
        self.done = true;
        self.actions.push(ReadAction::Done(result));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_proto::{EntryHeader, NO_ENTRY};

    fn ensemble() -> Vec<BookieId> {
        ["a", "b", "c"].into_iter().map(BookieId::new).collect()
    }

    fn entry(entry_id: u64) -> Entry {
        Entry::new(
            EntryHeader {
                ledger_id: 9,
                entry_id,
                lac: NO_ENTRY,
                length: 3,
            },
            b"abc",
        )
    }

    fn start(entry_id: u64, lac: i64) -> EntryRead {
        let quorum = QuorumConfig::new(3, 3, 2).expect("valid");
        EntryRead::start(9, entry_id, lac, quorum, ensemble(), 50, 0)
    }

    fn sent(actions: &[ReadAction]) -> Vec<usize> {
        actions
            .iter()
            .filter_map(|a| match a {
                ReadAction::Send { position, .. } => Some(*position),
                ReadAction::Done(_) => None,
            })
            .collect()
    }

    #[test]
    fn tries_replicas_in_write_set_order() {
        let mut r = start(1, 5);
        assert_eq!(sent(&r.take_actions()), vec![1]);
        r.on_response(1, ReadOutcome::Failed, 1);
        assert_eq!(sent(&r.take_actions()), vec![2]);
        r.on_response(2, ReadOutcome::Found(entry(1)), 2);
        assert_eq!(r.take_actions(), vec![ReadAction::Done(Ok(entry(1)))]);
    }

    #[test]
    fn a_slow_replica_gets_a_speculative_read() {
        let mut r = start(0, 5);
        assert_eq!(sent(&r.take_actions()), vec![0]);
        r.on_tick(49);
        assert!(r.take_actions().is_empty());
        r.on_tick(50);
        assert_eq!(sent(&r.take_actions()), vec![1]);
        // The first answer wins; a late one is ignored.
        r.on_response(1, ReadOutcome::Found(entry(0)), 60);
        assert_eq!(r.take_actions(), vec![ReadAction::Done(Ok(entry(0)))]);
        r.on_response(0, ReadOutcome::Found(entry(0)), 70);
        assert!(r.take_actions().is_empty());
    }

    #[test]
    fn never_absent_at_or_below_lac() {
        let mut r = start(2, 2);
        r.take_actions();
        for position in [2, 0, 1] {
            r.on_response(position, ReadOutcome::Absent, 1);
        }
        let actions = r.take_actions();
        assert_eq!(
            actions.last(),
            Some(&ReadAction::Done(Err(ReadError::Unavailable {
                ledger_id: 9,
                entry_id: 2
            })))
        );
    }

    #[test]
    fn absent_above_lac_needs_the_threshold() {
        let mut r = start(3, 2);
        r.take_actions();
        r.on_response(0, ReadOutcome::Absent, 1);
        assert_eq!(sent(&r.take_actions()), vec![1]);
        r.on_response(1, ReadOutcome::Absent, 2);
        assert_eq!(
            r.take_actions(),
            vec![ReadAction::Done(Err(ReadError::NoSuchEntry {
                ledger_id: 9,
                entry_id: 3
            }))]
        );
    }

    #[test]
    fn a_bad_digest_moves_on() {
        let mut r = start(0, 0);
        r.take_actions();
        let mut bytes = entry(0).as_bytes().to_vec();
        bytes[32] ^= 0xff;
        let corrupt = Entry::decode(bytes.into()).expect("shape is fine");
        r.on_response(0, ReadOutcome::Found(corrupt), 1);
        assert_eq!(sent(&r.take_actions()), vec![1]);
        r.on_response(1, ReadOutcome::Found(entry(0)), 2);
        assert_eq!(r.take_actions(), vec![ReadAction::Done(Ok(entry(0)))]);
    }
}
