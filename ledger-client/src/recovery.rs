//! Ledger recovery, as a state machine without I/O.
//!
//! A client that opens a ledger whose writer may have crashed must close it at exactly
//! the right entry: at or above every acknowledged entry, and never at an entry that
//! is not fully readable. [`Recovery`] implements DESIGN.md §2 step by step, after the
//! driver has compare-and-set the ledger's state to IN_RECOVERY:
//!
//! 1. **Fence.** Send fencing reads of "your last entry" to every bookie of the last
//!    ensemble, and wait until the answers cover every write set
//!    ([`QuorumConfig::covered_by`]). From then on no ack quorum can form for the old
//!    writer, so the set of acknowledged entries is frozen. The highest LAC seen in the
//!    answers is where reading starts.
//! 2. **Read forward** from that LAC, one entry at a time, with fencing reads to the
//!    entry's write set. An entry is found once one replica returns it with a good
//!    digest. It is absent only when Qw − Qa + 1 members of its write set say so
//!    explicitly ([`QuorumConfig::absent_threshold`]). If every member has answered and
//!    neither holds, recovery fails rather than truncating.
//! 3. **Rewrite** every recovered entry to its full write set with recovery adds
//!    (which pass the fence), each needing Qa acknowledgements.
//! 4. **Close**: the driver compare-and-sets the metadata to CLOSED with the last entry
//!    and length of [`RecoveryAction::Close`]. Of concurrent recoverers, one CAS wins;
//!    the others read the winner's result back, so every client converges on it.

use std::collections::BTreeMap;

use folio_proto::{Entry, NO_ENTRY};

use crate::BookieId;
use crate::quorum::{PositionSet, QuorumConfig};

/// One segment of a ledger: entries from `first_entry_id` on live on `ensemble`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The first entry id stored on this ensemble.
    pub first_entry_id: u64,
    /// The bookies, by ensemble position.
    pub ensemble: Vec<BookieId>,
}

/// How one bookie answered a (fencing) read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The bookie returned this entry (its digest is checked by [`Recovery`]).
    Found(Entry),
    /// The bookie says explicitly that it holds no such entry, or nothing of the
    /// ledger at all (NoSuchEntry or NoSuchLedger).
    Absent,
    /// Anything else: an error status, a bad digest, a broken connection, a timeout.
    Failed,
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryAction {
    /// Send a fencing read of the last entry to `bookie` (at `position` of the last
    /// ensemble); answer with [`Recovery::on_fence_response`].
    FenceRead {
        /// Position in the last ensemble.
        position: usize,
        /// The bookie there.
        bookie: BookieId,
    },
    /// Send a fencing read of `entry_id` to `bookie`; answer with
    /// [`Recovery::on_read_response`].
    Read {
        /// The entry to read.
        entry_id: u64,
        /// Position in the entry's ensemble.
        position: usize,
        /// The bookie there.
        bookie: BookieId,
    },
    /// Send `entry` as a recovery add to `bookie`; answer with
    /// [`Recovery::on_add_response`].
    RecoveryAdd {
        /// Position in the entry's ensemble.
        position: usize,
        /// The bookie there.
        bookie: BookieId,
        /// The entry, exactly as it was read.
        entry: Entry,
    },
    /// Recovery succeeded: close the ledger with this last entry and length.
    Close {
        /// The last entry of the ledger ([`NO_ENTRY`] if it is empty).
        last_entry_id: i64,
        /// Its length in bytes.
        length: u64,
    },
    /// Recovery cannot decide safely; the ledger stays IN_RECOVERY and a later attempt
    /// may succeed.
    Failed(RecoveryError),
}

/// Why recovery stopped without closing the ledger.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// Too few bookies of the last ensemble answered the fencing reads to cover every
    /// write set.
    #[error(
        "ledger {ledger_id}: too few bookies answered the fencing reads to cover every write set"
    )]
    NotFenced {
        /// The ledger.
        ledger_id: u64,
    },
    /// An entry could be neither found nor proven absent.
    #[error(
        "ledger {ledger_id}: entry {entry_id} is neither readable nor proven absent; refusing to truncate"
    )]
    Undecided {
        /// The ledger.
        ledger_id: u64,
        /// The entry.
        entry_id: u64,
    },
    /// An entry at or below the LAC is missing: an acknowledged entry was lost.
    #[error("ledger {ledger_id}: acknowledged entry {entry_id} is proven absent")]
    AcknowledgedEntryMissing {
        /// The ledger.
        ledger_id: u64,
        /// The entry.
        entry_id: u64,
    },
    /// A recovered entry could not be rewritten to an ack quorum.
    #[error("ledger {ledger_id}: could not rewrite entry {entry_id} to an ack quorum")]
    RewriteFailed {
        /// The ledger.
        ledger_id: u64,
        /// The entry.
        entry_id: u64,
    },
}

#[derive(Debug)]
enum Phase {
    Fencing {
        answered: PositionSet,
        unanswered: PositionSet,
        max_lac: i64,
    },
    Reading {
        entry_id: u64,
        absent: usize,
        outstanding: PositionSet,
    },
    Rewriting {
        /// Per entry being rewritten: acknowledged positions and outstanding ones.
        adds: BTreeMap<u64, (PositionSet, PositionSet)>,
    },
    Done,
}

/// Recovery of one ledger. See the module documentation.
#[derive(Debug)]
pub struct Recovery {
    ledger_id: u64,
    quorum: QuorumConfig,
    segments: Vec<Segment>,
    phase: Phase,
    /// The acknowledged floor: entries up to it are known acknowledged.
    floor: i64,
    recovered: BTreeMap<u64, Entry>,
    actions: Vec<RecoveryAction>,
}

impl Recovery {
    /// Starts recovery of a ledger with these segments (in entry order, at least one,
    /// each ensemble of the quorum's size). Queues the fencing reads.
    pub fn start(ledger_id: u64, quorum: QuorumConfig, segments: Vec<Segment>) -> Recovery {
        assert!(!segments.is_empty(), "a ledger has at least one segment");
        assert!(
            segments
                .iter()
                .all(|s| s.ensemble.len() == quorum.ensemble_size()),
            "ensemble size mismatch"
        );
        let last = segments
            .last()
            .map(|s| s.ensemble.clone())
            .unwrap_or_default();
        // The writer changed ensembles only at LAC + 1, so every entry before the last
        // segment was acknowledged.
        let floor = segments
            .last()
            .map_or(NO_ENTRY, |s| s.first_entry_id as i64 - 1);
        let mut recovery = Recovery {
            ledger_id,
            quorum,
            segments,
            phase: Phase::Fencing {
                answered: PositionSet::EMPTY,
                unanswered: (0..last.len()).collect(),
                max_lac: NO_ENTRY,
            },
            floor,
            recovered: BTreeMap::new(),
            actions: Vec::new(),
        };
        for (position, bookie) in last.into_iter().enumerate() {
            recovery
                .actions
                .push(RecoveryAction::FenceRead { position, bookie });
        }
        recovery
    }

    /// Takes the actions queued since the last call, in order.
    pub fn take_actions(&mut self) -> Vec<RecoveryAction> {
        std::mem::take(&mut self.actions)
    }

    /// Feeds the answer to the fencing read sent to `position` of the last ensemble.
    pub fn on_fence_response(&mut self, position: usize, outcome: ReadOutcome) {
        let Phase::Fencing {
            answered,
            unanswered,
            max_lac,
        } = &mut self.phase
        else {
            return;
        };
        if !unanswered.contains(position) {
            return;
        }
        unanswered.remove(position);
        match outcome {
            ReadOutcome::Found(entry) => {
                if entry.verify().is_ok() && entry.ledger_id() == self.ledger_id {
                    answered.insert(position);
                    *max_lac = (*max_lac).max(entry.header().lac);
                }
            }
            ReadOutcome::Absent => {
                answered.insert(position);
            }
            ReadOutcome::Failed => {}
        }
        let (answered, unanswered, max_lac) = (*answered, *unanswered, *max_lac);
        if self.quorum.covered_by(answered) {
            self.floor = self.floor.max(max_lac);
            let start = self.floor.max(0) as u64;
            self.read(start);
        } else if unanswered.is_empty() {
            self.fail(RecoveryError::NotFenced {
                ledger_id: self.ledger_id,
            });
        }
    }

    /// Feeds the answer to a read of `entry_id` sent to `position`.
    pub fn on_read_response(&mut self, entry_id: u64, position: usize, outcome: ReadOutcome) {
        let Phase::Reading {
            entry_id: reading,
            absent,
            outstanding,
        } = &mut self.phase
        else {
            return;
        };
        if *reading != entry_id || !outstanding.contains(position) {
            return;
        }
        outstanding.remove(position);
        match outcome {
            ReadOutcome::Found(entry)
                if entry.verify().is_ok()
                    && entry.ledger_id() == self.ledger_id
                    && entry.entry_id() == entry_id =>
            {
                self.recovered.insert(entry_id, entry);
                self.read(entry_id + 1);
            }
            ReadOutcome::Found(_) | ReadOutcome::Failed => self.check_undecided(entry_id),
            ReadOutcome::Absent => {
                *absent += 1;
                if *absent >= self.quorum.absent_threshold() {
                    self.end_of_ledger(entry_id);
                } else {
                    self.check_undecided(entry_id);
                }
            }
        }
    }

    /// Feeds the answer to a recovery add of `entry_id` sent to `position`.
    pub fn on_add_response(&mut self, entry_id: u64, position: usize, ok: bool) {
        let Phase::Rewriting { adds } = &mut self.phase else {
            return;
        };
        let Some((acked, outstanding)) = adds.get_mut(&entry_id) else {
            return;
        };
        if !outstanding.contains(position) {
            return;
        }
        outstanding.remove(position);
        if ok {
            acked.insert(position);
        }
        let need = self.quorum.ack_quorum();
        if acked.len() + outstanding.len() < need {
            self.fail(RecoveryError::RewriteFailed {
                ledger_id: self.ledger_id,
                entry_id,
            });
            return;
        }
        if adds.values().all(|(acked, _)| acked.len() >= need) {
            self.close();
        }
    }

    /// The ensemble that stores `entry_id`.
    fn ensemble_for(&self, entry_id: u64) -> &[BookieId] {
        let segment = self
            .segments
            .iter()
            .rev()
            .find(|s| s.first_entry_id <= entry_id)
            .unwrap_or(&self.segments[0]);
        &segment.ensemble
    }

    fn read(&mut self, entry_id: u64) {
        let write_set = self.quorum.write_set(entry_id);
        let ensemble = self.ensemble_for(entry_id).to_vec();
        self.phase = Phase::Reading {
            entry_id,
            absent: 0,
            outstanding: write_set.as_set(),
        };
        for position in write_set.positions() {
            self.actions.push(RecoveryAction::Read {
                entry_id,
                position,
                bookie: ensemble[position].clone(),
            });
        }
    }

    fn check_undecided(&mut self, entry_id: u64) {
        if let Phase::Reading { outstanding, .. } = &self.phase
            && outstanding.is_empty()
        {
            self.fail(RecoveryError::Undecided {
                ledger_id: self.ledger_id,
                entry_id,
            });
        }
    }

    /// `entry_id` is proven absent: the ledger ends just before it.
    fn end_of_ledger(&mut self, entry_id: u64) {
        if entry_id as i64 <= self.floor {
            self.fail(RecoveryError::AcknowledgedEntryMissing {
                ledger_id: self.ledger_id,
                entry_id,
            });
            return;
        }
        if self.recovered.is_empty() {
            // Nothing at all (an empty ledger): there is nothing to rewrite.
            self.close();
            return;
        }
        let mut adds = BTreeMap::new();
        let mut sends = Vec::new();
        for (id, entry) in &self.recovered {
            let write_set = self.quorum.write_set(*id);
            let ensemble = self.ensemble_for(*id);
            adds.insert(*id, (PositionSet::EMPTY, write_set.as_set()));
            for position in write_set.positions() {
                sends.push(RecoveryAction::RecoveryAdd {
                    position,
                    bookie: ensemble[position].clone(),
                    entry: entry.clone(),
                });
            }
        }
        self.phase = Phase::Rewriting { adds };
        self.actions.extend(sends);
    }

    fn close(&mut self) {
        let (last_entry_id, length) = match self.recovered.last_key_value() {
            Some((id, entry)) => (*id as i64, entry.header().length),
            None => (NO_ENTRY, 0),
        };
        self.phase = Phase::Done;
        self.actions.push(RecoveryAction::Close {
            last_entry_id,
            length,
        });
    }

    fn fail(&mut self, err: RecoveryError) {
        self.phase = Phase::Done;
        self.actions.push(RecoveryAction::Failed(err));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_proto::EntryHeader;

    fn ensemble(names: &[&str]) -> Vec<BookieId> {
        names.iter().map(|n| BookieId::new(*n)).collect()
    }

    fn entry(entry_id: u64, lac: i64) -> Entry {
        Entry::new(
            EntryHeader {
                ledger_id: 1,
                entry_id,
                lac,
                length: (entry_id + 1) * 10,
            },
            b"0123456789",
        )
    }

    fn recovery(e: usize, w: usize, a: usize) -> Recovery {
        let quorum = QuorumConfig::new(e, w, a).expect("valid");
        let names: Vec<String> = (0..e).map(|i| format!("b{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        Recovery::start(
            1,
            quorum,
            vec![Segment {
                first_entry_id: 0,
                ensemble: ensemble(&refs),
            }],
        )
    }

    fn reads(actions: &[RecoveryAction]) -> Vec<(u64, usize)> {
        actions
            .iter()
            .filter_map(|a| match a {
                RecoveryAction::Read {
                    entry_id, position, ..
                } => Some((*entry_id, *position)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn fences_every_bookie_then_reads_from_the_highest_lac() {
        let mut r = recovery(3, 3, 2);
        let fences = r.take_actions();
        assert_eq!(fences.len(), 3);
        r.on_fence_response(0, ReadOutcome::Found(entry(5, 3)));
        assert!(r.take_actions().is_empty(), "one answer does not cover");
        r.on_fence_response(2, ReadOutcome::Found(entry(4, 2)));
        assert_eq!(reads(&r.take_actions()), vec![(3, 0), (3, 1), (3, 2)]);
    }

    #[test]
    fn an_empty_ledger_closes_empty() {
        let mut r = recovery(3, 3, 2);
        r.take_actions();
        r.on_fence_response(0, ReadOutcome::Absent);
        r.on_fence_response(1, ReadOutcome::Absent);
        assert_eq!(reads(&r.take_actions()), vec![(0, 0), (0, 1), (0, 2)]);
        r.on_read_response(0, 0, ReadOutcome::Absent);
        r.on_read_response(0, 1, ReadOutcome::Absent);
        assert_eq!(
            r.take_actions(),
            vec![RecoveryAction::Close {
                last_entry_id: NO_ENTRY,
                length: 0
            }]
        );
    }

    #[test]
    fn one_absent_answer_is_not_enough() {
        // Qw=3, Qa=2: absence needs 2 explicit answers; an error plus one absence is
        // undecided, not a truncation.
        let mut r = recovery(3, 3, 2);
        r.take_actions();
        r.on_fence_response(0, ReadOutcome::Absent);
        r.on_fence_response(1, ReadOutcome::Absent);
        r.take_actions();
        r.on_read_response(0, 0, ReadOutcome::Absent);
        r.on_read_response(0, 1, ReadOutcome::Failed);
        assert!(r.take_actions().is_empty());
        r.on_read_response(0, 2, ReadOutcome::Failed);
        assert_eq!(
            r.take_actions(),
            vec![RecoveryAction::Failed(RecoveryError::Undecided {
                ledger_id: 1,
                entry_id: 0
            })]
        );
    }

    #[test]
    fn recovered_entries_are_rewritten_then_the_ledger_closes() {
        let mut r = recovery(3, 3, 2);
        r.take_actions();
        r.on_fence_response(0, ReadOutcome::Found(entry(1, 0)));
        r.on_fence_response(1, ReadOutcome::Found(entry(0, NO_ENTRY)));
        assert_eq!(reads(&r.take_actions())[0], (0, 0));
        r.on_read_response(0, 1, ReadOutcome::Found(entry(0, NO_ENTRY)));
        assert_eq!(reads(&r.take_actions())[0], (1, 1));
        r.on_read_response(1, 1, ReadOutcome::Found(entry(1, 0)));
        r.take_actions();
        r.on_read_response(2, 2, ReadOutcome::Absent);
        r.on_read_response(2, 0, ReadOutcome::Absent);
        let adds: Vec<(u64, usize)> = r
            .take_actions()
            .iter()
            .filter_map(|a| match a {
                RecoveryAction::RecoveryAdd {
                    position, entry, ..
                } => Some((entry.entry_id(), *position)),
                _ => None,
            })
            .collect();
        assert_eq!(adds, vec![(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (1, 0)]);
        for (id, position) in [(0, 0), (0, 1), (1, 1)] {
            r.on_add_response(id, position, true);
        }
        assert!(r.take_actions().is_empty(), "entry 1 has one ack of two");
        r.on_add_response(1, 0, true);
        assert_eq!(
            r.take_actions(),
            vec![RecoveryAction::Close {
                last_entry_id: 1,
                length: 20
            }]
        );
    }

    #[test]
    fn a_corrupt_replica_is_not_trusted() {
        let mut r = recovery(3, 3, 2);
        r.take_actions();
        r.on_fence_response(0, ReadOutcome::Absent);
        r.on_fence_response(1, ReadOutcome::Absent);
        r.take_actions();
        let good = entry(0, NO_ENTRY);
        let mut bytes = good.as_bytes().to_vec();
        bytes[33] ^= 1;
        let corrupt = Entry::decode(bytes.into()).expect("shape is fine");
        r.on_read_response(0, 0, ReadOutcome::Found(corrupt));
        assert!(r.take_actions().is_empty(), "a bad digest is not a find");
        r.on_read_response(0, 1, ReadOutcome::Found(good));
        assert_eq!(reads(&r.take_actions())[0], (1, 1));
    }

    #[test]
    fn entries_before_the_last_segment_are_acknowledged() {
        let quorum = QuorumConfig::new(3, 3, 2).expect("valid");
        let mut r = Recovery::start(
            1,
            quorum,
            vec![
                Segment {
                    first_entry_id: 0,
                    ensemble: ensemble(&["a", "b", "c"]),
                },
                Segment {
                    first_entry_id: 5,
                    ensemble: ensemble(&["a", "b", "d"]),
                },
            ],
        );
        let fences: Vec<BookieId> = r
            .take_actions()
            .into_iter()
            .filter_map(|a| match a {
                RecoveryAction::FenceRead { bookie, .. } => Some(bookie),
                _ => None,
            })
            .collect();
        assert_eq!(
            fences,
            ensemble(&["a", "b", "d"]),
            "fence the last ensemble"
        );
        r.on_fence_response(0, ReadOutcome::Absent);
        r.on_fence_response(1, ReadOutcome::Absent);
        // Reading starts at entry 4, the last of the old segment, on the old ensemble.
        let actions = r.take_actions();
        assert!(
            matches!(&actions[0], RecoveryAction::Read { entry_id: 4, bookie, .. } if bookie.as_str() == "b"),
            "{actions:?}"
        );
        // If entry 4 were proven absent, an acknowledged entry was lost.
        r.on_read_response(4, 1, ReadOutcome::Absent);
        r.on_read_response(4, 2, ReadOutcome::Absent);
        assert_eq!(
            r.take_actions(),
            vec![RecoveryAction::Failed(
                RecoveryError::AcknowledgedEntryMissing {
                    ledger_id: 1,
                    entry_id: 4
                }
            )]
        );
    }
}
