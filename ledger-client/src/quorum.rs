//! Quorum arithmetic: which ensemble positions store an entry, when an add is
//! acknowledged, when a set of answers covers every write set, and when an entry may be
//! declared absent.
//!
//! Everything here is pure and is the single place these rules are written down; the
//! write path, recovery and the simulation all call it. See `docs/protocol.md`
//! ("Ledger guarantees") for the claims these functions implement.

use std::fmt;

/// Ensemble size E, write quorum Qw and ack quorum Qa of a ledger.
///
/// Invariant (checked by [`QuorumConfig::new`]): `E ≥ Qw ≥ Qa ≥ 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuorumConfig {
    ensemble_size: usize,
    write_quorum: usize,
    ack_quorum: usize,
}

/// A quorum configuration that violates `E ≥ Qw ≥ Qa ≥ 1`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid quorum: ensemble size {ensemble_size}, write quorum {write_quorum}, ack quorum \
     {ack_quorum}; need ensemble size >= write quorum >= ack quorum >= 1"
)]
pub struct InvalidQuorum {
    /// The requested ensemble size E.
    pub ensemble_size: usize,
    /// The requested write quorum Qw.
    pub write_quorum: usize,
    /// The requested ack quorum Qa.
    pub ack_quorum: usize,
}

impl QuorumConfig {
    /// The standalone default: E=3, Qw=3, Qa=2.
    pub const STANDALONE: QuorumConfig = QuorumConfig {
        ensemble_size: 3,
        write_quorum: 3,
        ack_quorum: 2,
    };

    /// The largest ensemble a ledger may have. Write sets are tracked in a `u64` bit set.
    pub const MAX_ENSEMBLE_SIZE: usize = 64;

    /// Validates `E ≥ Qw ≥ Qa ≥ 1` (and E ≤ [`Self::MAX_ENSEMBLE_SIZE`]).
    pub fn new(
        ensemble_size: usize,
        write_quorum: usize,
        ack_quorum: usize,
    ) -> Result<Self, InvalidQuorum> {
        let valid = ensemble_size <= Self::MAX_ENSEMBLE_SIZE
            && ensemble_size >= write_quorum
            && write_quorum >= ack_quorum
            && ack_quorum >= 1;
        if valid {
            Ok(QuorumConfig {
                ensemble_size,
                write_quorum,
                ack_quorum,
            })
        } else {
            Err(InvalidQuorum {
                ensemble_size,
                write_quorum,
                ack_quorum,
            })
        }
    }

    /// Ensemble size E.
    pub fn ensemble_size(&self) -> usize {
        self.ensemble_size
    }

    /// Write quorum Qw: how many bookies store each entry.
    pub fn write_quorum(&self) -> usize {
        self.write_quorum
    }

    /// Ack quorum Qa: how many durable stores acknowledge an entry.
    pub fn ack_quorum(&self) -> usize {
        self.ack_quorum
    }

    /// The ensemble positions that store `entry_id`: `(entry_id + i) mod E` for `i` in
    /// `0..Qw`, in that order (the order readers try them in).
    pub fn write_set(&self, entry_id: u64) -> WriteSet {
        let e = self.ensemble_size as u64;
        let first = (entry_id % e) as usize;
        let mut bits = 0u64;
        let mut order = [0u8; Self::MAX_ENSEMBLE_SIZE];
        for (i, slot) in order.iter_mut().enumerate().take(self.write_quorum) {
            let position = (first + i) % self.ensemble_size;
            bits |= 1 << position;
            *slot = position as u8;
        }
        WriteSet {
            bits,
            order,
            len: self.write_quorum as u8,
        }
    }

    /// How many explicit "no such entry" answers from an entry's write set prove that
    /// the entry was never acknowledged: Qw − Qa + 1. With fewer, an ack quorum could
    /// still hide among the bookies that did not answer or answered with an error.
    pub fn absent_threshold(&self) -> usize {
        self.write_quorum - self.ack_quorum + 1
    }

    /// Whether the positions in `answered` cover every write set of the ensemble: in
    /// each of the E distinct write sets, at most Qa − 1 positions remain unanswered, so
    /// no ack quorum can exist entirely among bookies that have not answered.
    ///
    /// Recovery waits for this after fencing: once it holds, no writer can get a new
    /// entry acknowledged, because every possible ack quorum contains a fenced bookie.
    pub fn covered_by(&self, answered: PositionSet) -> bool {
        (0..self.ensemble_size as u64).all(|first| {
            let set = self.write_set(first);
            let unanswered = set.positions().filter(|p| !answered.contains(*p)).count();
            unanswered < self.ack_quorum
        })
    }
}

impl fmt::Display for QuorumConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "E={} Qw={} Qa={}",
            self.ensemble_size, self.write_quorum, self.ack_quorum
        )
    }
}

/// The ensemble positions that store one entry, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteSet {
    bits: u64,
    order: [u8; QuorumConfig::MAX_ENSEMBLE_SIZE],
    len: u8,
}

impl WriteSet {
    /// Positions in try order.
    pub fn positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.order[..self.len as usize].iter().map(|p| *p as usize)
    }

    /// Whether `position` stores this entry.
    pub fn contains(&self, position: usize) -> bool {
        position < 64 && self.bits & (1 << position) != 0
    }

    /// The positions as a set.
    pub fn as_set(&self) -> PositionSet {
        PositionSet(self.bits)
    }
}

/// A set of ensemble positions (at most [`QuorumConfig::MAX_ENSEMBLE_SIZE`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PositionSet(u64);

impl PositionSet {
    /// The empty set.
    pub const EMPTY: PositionSet = PositionSet(0);

    /// Adds a position; returns whether it was new.
    pub fn insert(&mut self, position: usize) -> bool {
        assert!(
            position < QuorumConfig::MAX_ENSEMBLE_SIZE,
            "position {position} out of range"
        );
        let new = self.0 & (1 << position) == 0;
        self.0 |= 1 << position;
        new
    }

    /// Removes a position.
    pub fn remove(&mut self, position: usize) {
        if position < QuorumConfig::MAX_ENSEMBLE_SIZE {
            self.0 &= !(1 << position);
        }
    }

    /// Whether the set holds `position`.
    pub fn contains(&self, position: usize) -> bool {
        position < QuorumConfig::MAX_ENSEMBLE_SIZE && self.0 & (1 << position) != 0
    }

    /// Number of positions in the set.
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The positions in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..QuorumConfig::MAX_ENSEMBLE_SIZE).filter(|p| self.contains(*p))
    }
}

impl FromIterator<usize> for PositionSet {
    fn from_iter<T: IntoIterator<Item = usize>>(iter: T) -> Self {
        let mut set = PositionSet::EMPTY;
        for p in iter {
            set.insert(p);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config() -> impl Strategy<Value = QuorumConfig> {
        (1usize..=8)
            .prop_flat_map(|e| (Just(e), 1..=e))
            .prop_flat_map(|(e, w)| (Just(e), Just(w), 1..=w))
            .prop_map(|(e, w, a)| QuorumConfig::new(e, w, a).expect("valid by construction"))
    }

    #[test]
    fn rejects_invalid_quorums() {
        assert!(QuorumConfig::new(3, 4, 2).is_err());
        assert!(QuorumConfig::new(3, 2, 3).is_err());
        assert!(QuorumConfig::new(3, 3, 0).is_err());
        assert!(QuorumConfig::new(0, 0, 0).is_err());
        assert!(QuorumConfig::new(65, 3, 2).is_err());
        let err = QuorumConfig::new(2, 3, 2).expect_err("Qw > E");
        assert!(err.to_string().contains("write quorum 3"), "{err}");
    }

    #[test]
    fn striping_follows_the_design() {
        // DESIGN.md §2: entry e goes to positions (e + i) mod E, i in 0..Qw.
        let q = QuorumConfig::new(5, 3, 2).expect("valid");
        let got: Vec<usize> = q.write_set(4).positions().collect();
        assert_eq!(got, vec![4, 0, 1]);
        let got: Vec<usize> = q.write_set(7).positions().collect();
        assert_eq!(got, vec![2, 3, 4]);
    }

    #[test]
    fn coverage_needs_all_but_qa_minus_one_in_every_write_set() {
        let q = QuorumConfig::new(3, 3, 2).expect("valid");
        // Two of three answered: every write set (all three) has one unanswered < Qa.
        assert!(q.covered_by([0, 1].into_iter().collect()));
        // One answered: two unanswered could form an ack quorum.
        assert!(!q.covered_by([0].into_iter().collect()));

        let q = QuorumConfig::new(5, 2, 2).expect("valid");
        // Write sets {0,1},{1,2},{2,3},{3,4},{4,0}: need at least one of each pair.
        assert!(q.covered_by([0, 2, 4].into_iter().collect()));
        assert!(q.covered_by([1, 3, 4].into_iter().collect()));
        assert!(!q.covered_by([0, 2].into_iter().collect()));
    }

    proptest! {
        #[test]
        fn write_set_has_qw_distinct_positions(q in config(), entry in any::<u64>()) {
            let set = q.write_set(entry);
            let positions: Vec<usize> = set.positions().collect();
            prop_assert_eq!(positions.len(), q.write_quorum());
            prop_assert_eq!(set.as_set().len(), q.write_quorum());
            prop_assert_eq!(positions[0], (entry % q.ensemble_size() as u64) as usize);
            for p in positions {
                prop_assert!(p < q.ensemble_size());
                prop_assert!(set.contains(p));
            }
        }

        /// Coverage is exactly "no ack quorum hides among the unanswered": checked
        /// against a brute-force enumeration of every ack quorum of every write set.
        #[test]
        fn coverage_matches_brute_force(q in config(), answered_bits in any::<u64>()) {
            let answered = PositionSet(answered_bits & ((1u64 << q.ensemble_size()) - 1));
            let mut hidden_quorum = false;
            for first in 0..q.ensemble_size() as u64 {
                let set: Vec<usize> = q.write_set(first).positions().collect();
                for subset in 0u32..(1 << set.len()) {
                    let members: Vec<usize> = set
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| subset & (1 << i) != 0)
                        .map(|(_, p)| *p)
                        .collect();
                    if members.len() == q.ack_quorum()
                        && members.iter().all(|p| !answered.contains(*p))
                    {
                        hidden_quorum = true;
                    }
                }
            }
            prop_assert_eq!(q.covered_by(answered), !hidden_quorum);
        }

        /// With Qw − Qa + 1 explicit absences in a write set, at most Qa − 1 members can
        /// hold the entry, so it cannot have been acknowledged; with one fewer, it can.
        #[test]
        fn absent_threshold_is_tight(q in config()) {
            let holders_if_threshold = q.write_quorum() - q.absent_threshold();
            prop_assert!(holders_if_threshold < q.ack_quorum());
            let holders_if_one_fewer = q.write_quorum() - (q.absent_threshold() - 1);
            prop_assert!(holders_if_one_fewer >= q.ack_quorum());
        }
    }
}
