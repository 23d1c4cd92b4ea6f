//! Placement: which bookies form a new ensemble, and which bookie replaces a failed one.
//!
//! Candidates are the writable bookies of the registry. The default policy picks at
//! random. The rack-aware policy also keeps the replicas of every write set in distinct
//! racks when the racks allow it: since write sets are the cyclic windows of Qw
//! consecutive ensemble positions, any Qw cyclically consecutive positions must sit in
//! distinct racks. When no such arrangement exists, it returns the arrangement with the
//! fewest shared racks, rather than refusing to write.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::BookieId;
use crate::quorum::QuorumConfig;

/// A writable bookie that placement may choose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Its identity.
    pub id: BookieId,
    /// Its rack, if the registry knows it.
    pub rack: Option<String>,
}

/// How bookies are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlacementPolicy {
    /// Uniformly at random among writable bookies.
    #[default]
    Random,
    /// At random, keeping every write set in distinct racks where possible.
    RackAware,
}

/// Not enough writable bookies.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not enough writable bookies: need {needed}, have {available}")]
pub struct NotEnoughBookies {
    /// How many were needed.
    pub needed: usize,
    /// How many writable candidates there were.
    pub available: usize,
}

/// How many random arrangements the rack-aware policy tries before settling.
const RACK_AWARE_ATTEMPTS: usize = 64;

impl PlacementPolicy {
    /// Chooses E distinct bookies for a new ledger.
    pub fn new_ensemble(
        self,
        quorum: QuorumConfig,
        candidates: &[Candidate],
        rng: &mut impl Rng,
    ) -> Result<Vec<BookieId>, NotEnoughBookies> {
        let e = quorum.ensemble_size();
        if candidates.len() < e {
            return Err(NotEnoughBookies {
                needed: e,
                available: candidates.len(),
            });
        }
        let mut best: Option<(usize, Vec<&Candidate>)> = None;
        let attempts = match self {
            PlacementPolicy::Random => 1,
            PlacementPolicy::RackAware => RACK_AWARE_ATTEMPTS,
        };
        let mut pool: Vec<&Candidate> = candidates.iter().collect();
        for _ in 0..attempts {
            pool.shuffle(rng);
            let pick: Vec<&Candidate> = pool[..e].to_vec();
            let shared = shared_racks(&pick, quorum.write_quorum());
            if best.as_ref().is_none_or(|(b, _)| shared < *b) {
                best = Some((shared, pick));
            }
            if shared == 0 {
                break;
            }
        }
        let (_, pick) = best.ok_or(NotEnoughBookies {
            needed: e,
            available: candidates.len(),
        })?;
        Ok(pick.into_iter().map(|c| c.id.clone()).collect())
    }

    /// Chooses a replacement for `position` of `ensemble`: a candidate not already in
    /// the ensemble and not in `exclude` (bookies known to have failed).
    pub fn replacement(
        self,
        quorum: QuorumConfig,
        ensemble: &[BookieId],
        position: usize,
        candidates: &[Candidate],
        exclude: &[BookieId],
        rng: &mut impl Rng,
    ) -> Result<BookieId, NotEnoughBookies> {
        let mut pool: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| !ensemble.contains(&c.id) && !exclude.contains(&c.id))
            .collect();
        if pool.is_empty() {
            return Err(NotEnoughBookies {
                needed: ensemble.len() + 1,
                available: candidates.len(),
            });
        }
        pool.shuffle(rng);
        if self == PlacementPolicy::Random {
            return Ok(pool[0].id.clone());
        }
        // Racks of the positions that share a write set with `position`.
        let e = ensemble.len();
        let neighbour_racks: Vec<Option<&String>> = (1..quorum.write_quorum())
            .flat_map(|d| [(position + d) % e, (position + e - d % e) % e])
            .filter(|p| *p != position)
            .map(|p| {
                candidates
                    .iter()
                    .find(|c| c.id == ensemble[p])
                    .and_then(|c| c.rack.as_ref())
            })
            .collect();
        let fits = |c: &&&Candidate| match &c.rack {
            Some(rack) => !neighbour_racks.contains(&Some(rack)),
            None => true,
        };
        let choice = pool.iter().find(fits).unwrap_or(&pool[0]);
        Ok(choice.id.clone())
    }
}

/// How many pairs of positions within one write-set window share a known rack.
fn shared_racks(ensemble: &[&Candidate], write_quorum: usize) -> usize {
    let e = ensemble.len();
    let mut shared = 0;
    for i in 0..e {
        for d in 1..write_quorum.min(e) {
            let j = (i + d) % e;
            if let (Some(a), Some(b)) = (&ensemble[i].rack, &ensemble[j].rack)
                && a == b
            {
                shared += 1;
            }
        }
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn candidates(racks: &[&str]) -> Vec<Candidate> {
        racks
            .iter()
            .enumerate()
            .map(|(i, r)| Candidate {
                id: BookieId::new(format!("b{i}")),
                rack: Some(r.to_string()),
            })
            .collect()
    }

    fn rack_of<'a>(cands: &'a [Candidate], id: &BookieId) -> &'a str {
        cands
            .iter()
            .find(|c| &c.id == id)
            .and_then(|c| c.rack.as_deref())
            .expect("known candidate")
    }

    #[test]
    fn refuses_too_few_bookies() {
        let q = QuorumConfig::STANDALONE;
        let mut rng = StdRng::seed_from_u64(1);
        let err = PlacementPolicy::Random
            .new_ensemble(q, &candidates(&["r", "r"]), &mut rng)
            .expect_err("two bookies for E=3");
        assert_eq!(
            err.to_string(),
            "not enough writable bookies: need 3, have 2"
        );
    }

    #[test]
    fn random_ensembles_are_distinct_bookies() {
        let q = QuorumConfig::new(4, 3, 2).expect("valid");
        let cands = candidates(&["a"; 6]);
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut e = PlacementPolicy::Random
                .new_ensemble(q, &cands, &mut rng)
                .expect("enough");
            e.sort();
            e.dedup();
            assert_eq!(e.len(), 4);
        }
    }

    #[test]
    fn rack_aware_keeps_write_sets_in_distinct_racks() {
        let q = QuorumConfig::new(4, 2, 2).expect("valid");
        // Two racks of three: an arrangement a,b,a,b exists.
        let cands = candidates(&["x", "x", "x", "y", "y", "y"]);
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            let e = PlacementPolicy::RackAware
                .new_ensemble(q, &cands, &mut rng)
                .expect("enough");
            for first in 0..4u64 {
                let racks: Vec<&str> = q
                    .write_set(first)
                    .positions()
                    .map(|p| rack_of(&cands, &e[p]))
                    .collect();
                assert_ne!(racks[0], racks[1], "seed {seed}: ensemble {e:?}");
            }
        }
    }

    #[test]
    fn rack_aware_replacement_avoids_neighbour_racks() {
        let q = QuorumConfig::new(3, 2, 2).expect("valid");
        let cands = candidates(&["x", "y", "z", "x", "y", "z"]);
        let ensemble: Vec<BookieId> = ["b0", "b1", "b2"].into_iter().map(BookieId::new).collect();
        for seed in 0..30 {
            let mut rng = StdRng::seed_from_u64(seed);
            // Position 1 (rack y) fails; its write-set neighbours are racks x and z.
            let r = PlacementPolicy::RackAware
                .replacement(q, &ensemble, 1, &cands, &[], &mut rng)
                .expect("a candidate");
            assert_eq!(rack_of(&cands, &r), "y", "seed {seed}");
        }
    }
}
