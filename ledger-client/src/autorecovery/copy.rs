//! Copying the entries of one ensemble position to one bookie.
//!
//! Entry `e` of a segment lives at positions `(e + i) mod E` for `i < Qw`
//! ([`QuorumConfig::write_set`]), so the entries a position must hold are those of the
//! segment's range whose write set contains it ([`entries_of_position`]). Each one is
//! read, whole (header, payload, CRC32C), from another member of its write set, its
//! digest and ids verified, and sent to the target as a **recovery** add with exactly
//! those bytes ([`copy_entry`]), the way recovery rewrites entries: a recovery add
//! passes the fence (the ledger is closed and its bookies fenced) and is accepted by a
//! read-only bookie. The target answers only once the entry is durable.
//!
//! [`RateLimit`] keeps the copy under a byte rate, so that re-replication does not
//! starve the bookies' foreground traffic.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use folio_proto::{AddEntry, Entry, MasterKey, ReadEntry, ReadTarget, Request, Response, Status};

use crate::BookieId;
use crate::bookie_client::BookiePool;
use crate::quorum::QuorumConfig;

/// The entries of `first..=last` that ensemble position `position` stores.
pub(crate) fn entries_of_position(
    quorum: QuorumConfig,
    first: u64,
    last: Option<u64>,
    position: usize,
) -> Vec<u64> {
    match last {
        Some(last) if first <= last => (first..=last)
            .filter(|e| quorum.write_set(*e).contains(position))
            .collect(),
        _ => Vec::new(),
    }
}

/// Of `entries`, those a bookie must be sent again: the ones outside `stored` (its
/// `GetLedgerEntries` answer: sorted, disjoint, inclusive ranges) and the ones in
/// `corrupt` (its scrub report's entries of this ledger).
pub(crate) fn lacking(entries: &[u64], stored: &[(u64, u64)], corrupt: &HashSet<u64>) -> Vec<u64> {
    entries
        .iter()
        .copied()
        .filter(|e| {
            let i = stored.partition_point(|(_, last)| last < e);
            let held = stored.get(i).is_some_and(|(first, _)| first <= e);
            !held || corrupt.contains(e)
        })
        .collect()
}

/// Why one entry could not be copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CopyFailure {
    /// No other replica returned the entry with a good digest.
    NoSource {
        /// What each replica answered.
        reason: String,
    },
    /// The target did not store it.
    Target {
        /// Its status, if it answered at all.
        status: Option<Status>,
        /// What went wrong.
        reason: String,
    },
}

/// What a copy needs to know about the ledger and where the data goes.
pub(crate) struct CopySpec<'a> {
    pub(crate) pool: &'a BookiePool,
    pub(crate) ledger_id: u64,
    pub(crate) quorum: QuorumConfig,
    /// The segment's ensemble, by position.
    pub(crate) ensemble: &'a [BookieId],
    /// The position being re-replicated (never read from).
    pub(crate) position: usize,
    /// Bookies known to have lost data: not trusted as a source.
    pub(crate) lost: &'a [BookieId],
    pub(crate) target: &'a BookieId,
    pub(crate) master_key: &'a MasterKey,
    pub(crate) timeout: Duration,
}

/// Copies entry `entry_id` to the target; returns its stored size in bytes.
pub(crate) async fn copy_entry(spec: &CopySpec<'_>, entry_id: u64) -> Result<u64, CopyFailure> {
    let entry = read_from_replicas(spec, entry_id).await?;
    let bytes = entry.encoded_len() as u64;
    let request = Request::AddEntry(AddEntry {
        master_key: spec.master_key.clone(),
        recovery: true,
        entry,
    });
    match spec.pool.call(spec.target, request, spec.timeout).await {
        Ok(Response::AddEntry(r)) if r.status.is_ok() => Ok(bytes),
        Ok(other) => Err(CopyFailure::Target {
            status: Some(other.status()),
            reason: format!("answered {}", other.status()),
        }),
        Err(e) => Err(CopyFailure::Target {
            status: None,
            reason: e.to_string(),
        }),
    }
}

/// Reads `entry_id` from the members of its write set other than the position being
/// repaired, in write-set order, until one returns it with a good digest.
async fn read_from_replicas(spec: &CopySpec<'_>, entry_id: u64) -> Result<Entry, CopyFailure> {
    let mut answers = Vec::new();
    for p in spec.quorum.write_set(entry_id).positions() {
        let source = &spec.ensemble[p];
        if p == spec.position || spec.lost.contains(source) {
            continue;
        }
        let request = Request::ReadEntry(ReadEntry {
            ledger_id: spec.ledger_id,
            target: ReadTarget::Entry(entry_id),
            fence: false,
            master_key: spec.master_key.clone(),
            long_poll: None,
        });
        let answer = match spec.pool.call(source, request, spec.timeout).await {
            Ok(Response::ReadEntry(r)) => match (r.status, r.entry) {
                (Status::Ok, Some(entry)) => match entry.verify() {
                    Ok(())
                        if entry.ledger_id() == spec.ledger_id && entry.entry_id() == entry_id =>
                    {
                        return Ok(entry);
                    }
                    Ok(()) => "returned another entry".to_owned(),
                    Err(e) => format!("bad entry: {e}"),
                },
                (status, _) => status.to_string(),
            },
            Ok(other) => format!("unexpected answer {}", other.status()),
            Err(e) => e.to_string(),
        };
        answers.push(format!("{source}: {answer}"));
    }
    Err(CopyFailure::NoSource {
        reason: if answers.is_empty() {
            "no other replica in the write set".to_owned()
        } else {
            answers.join("; ")
        },
    })
}

/// Keeps the bytes sent since `start` at or under `bytes_per_sec` (0 = no limit).
pub(crate) struct RateLimit {
    bytes_per_sec: u64,
    start: Instant,
    sent: u64,
}

impl RateLimit {
    pub(crate) fn new(bytes_per_sec: u64) -> RateLimit {
        RateLimit {
            bytes_per_sec,
            start: Instant::now(),
            sent: 0,
        }
    }

    /// Counts `bytes` sent and waits until the average rate is back under the limit.
    pub(crate) async fn consume(&mut self, bytes: u64) {
        self.sent = self.sent.saturating_add(bytes);
        if self.bytes_per_sec == 0 {
            return;
        }
        let due = Duration::from_secs_f64(self.sent as f64 / self.bytes_per_sec as f64);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_holds_the_entries_whose_write_set_names_it() {
        let q = QuorumConfig::new(4, 2, 2).expect("valid");
        // Entry e is on positions e mod 4 and (e + 1) mod 4.
        assert_eq!(entries_of_position(q, 0, Some(9), 0), vec![0, 3, 4, 7, 8]);
        assert_eq!(entries_of_position(q, 5, Some(9), 2), vec![5, 6, 9]);
        assert!(entries_of_position(q, 5, Some(4), 2).is_empty());
        assert!(entries_of_position(q, 0, None, 2).is_empty());
        let full = QuorumConfig::new(3, 3, 2).expect("valid");
        assert_eq!(entries_of_position(full, 2, Some(4), 1), vec![2, 3, 4]);
    }

    #[test]
    fn lacking_is_what_is_not_stored_or_is_corrupt() {
        let entries: Vec<u64> = (0..12).collect();
        let stored = [(0, 3), (5, 5), (8, 10)];
        let corrupt: HashSet<u64> = [2, 9].into_iter().collect();
        assert_eq!(
            lacking(&entries, &stored, &corrupt),
            vec![2, 4, 6, 7, 9, 11]
        );
        assert_eq!(lacking(&entries[..2], &[], &HashSet::new()), vec![0, 1]);
        assert!(lacking(&entries, &[(0, 20)], &HashSet::new()).is_empty());
    }
}
