//! Ledger metadata: `(ledger, ledger_id)` → versioned [`LedgerMetadata`].
//!
//! Creation is create-if-absent; every change is a compare-and-set on the version,
//! which starts at 1 and grows by one per change. The ledger client builds ensemble
//! changes, recovery and close on these (DESIGN.md §2).

use crate::codec;
use crate::keys::{self, Subspace};
use crate::kv::{RangeOptions, Transaction};
use crate::{NsError, OpId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The state of a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerState {
    /// A writer may add entries.
    Open,
    /// A recoverer is fencing and closing it.
    InRecovery,
    /// Final: last entry id and length never change again.
    Closed,
}

/// The digest each entry carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DigestType {
    /// CRC32C over header and payload.
    Crc32c,
}

/// One ensemble: the bookies that store entries from `first_entry_id` up to the next
/// segment's first entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnsembleSegment {
    /// First entry id this ensemble stores.
    pub first_entry_id: u64,
    /// Bookie ids, one per ensemble position (E of them).
    pub bookies: Vec<String>,
}

/// The metadata of a ledger (DESIGN.md §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerMetadata {
    /// E: bookies per ensemble.
    pub ensemble_size: u32,
    /// Qw: bookies each entry is written to.
    pub write_quorum: u32,
    /// Qa: acknowledgements an entry needs.
    pub ack_quorum: u32,
    /// Open, in recovery or closed.
    pub state: LedgerState,
    /// Last entry id once closed; `None` while open, or if closed empty.
    pub last_entry_id: Option<u64>,
    /// Total payload bytes once closed.
    pub length_bytes: u64,
    /// Creation time, milliseconds since the Unix epoch.
    pub ctime_ms: u64,
    /// Entry digest.
    pub digest: DigestType,
    /// Ensembles by first entry id, ascending; the first starts at entry 0.
    pub segments: Vec<EnsembleSegment>,
    /// Application metadata.
    pub custom: BTreeMap<String, Vec<u8>>,
}

impl LedgerMetadata {
    /// Checks the invariants: E ≥ Qw ≥ Qa ≥ 1; at least one segment, the first at
    /// entry 0, first entry ids strictly ascending, E bookies each.
    pub fn validate(&self) -> Result<(), NsError> {
        let invalid = |reason: String| NsError::Invalid {
            what: "ledger metadata",
            reason,
        };
        let (e, qw, qa) = (self.ensemble_size, self.write_quorum, self.ack_quorum);
        if !(e >= qw && qw >= qa && qa >= 1) {
            return Err(invalid(format!(
                "need E >= Qw >= Qa >= 1, got {e}/{qw}/{qa}"
            )));
        }
        match self.segments.first() {
            Some(first) if first.first_entry_id == 0 => {}
            _ => return Err(invalid("the first segment must start at entry 0".into())),
        }
        for pair in self.segments.windows(2) {
            if pair[1].first_entry_id <= pair[0].first_entry_id {
                return Err(invalid("segment first entry ids must ascend".into()));
            }
        }
        let e_len = usize::try_from(e).unwrap_or(usize::MAX);
        if let Some(bad) = self.segments.iter().find(|s| s.bookies.len() != e_len) {
            return Err(invalid(format!(
                "segment at entry {} has {} bookies, E is {e}",
                bad.first_entry_id,
                bad.bookies.len()
            )));
        }
        Ok(())
    }

    /// The ensemble that stores `entry_id`.
    pub fn ensemble_for(&self, entry_id: u64) -> Option<&EnsembleSegment> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.first_entry_id <= entry_id)
    }

    fn check_transition(&self, next: &LedgerMetadata) -> Result<(), NsError> {
        use LedgerState::*;
        let ok = match (self.state, next.state) {
            (Open, _) | (InRecovery, InRecovery | Closed) => true,
            (Closed, Closed) => {
                self.last_entry_id == next.last_entry_id && self.length_bytes == next.length_bytes
            }
            (InRecovery, Open) | (Closed, _) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(NsError::Invalid {
                what: "ledger state change",
                reason: format!(
                    "{:?} -> {:?} (a closed ledger's last entry and length are final)",
                    self.state, next.state
                ),
            })
        }
    }
}

/// A value with the version a compare-and-set must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version: 1 at creation, +1 per change.
    pub version: u64,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u64,
    op: OpId,
    meta: LedgerMetadata,
}

const WHAT: &str = "ledger metadata";

fn read(tx: &mut dyn Transaction, ledger_id: u64) -> Result<Option<Stored>, NsError> {
    tx.get(&keys::ledger(ledger_id))?
        .map(|v| codec::decode(WHAT, &v))
        .transpose()
}

fn write(tx: &mut dyn Transaction, ledger_id: u64, stored: &Stored) -> Result<(), NsError> {
    tx.set(&keys::ledger(ledger_id), &codec::encode(WHAT, stored)?)?;
    Ok(())
}

/// Creates a ledger's metadata at version 1, unless the id exists
/// ([`NsError::LedgerExists`]). Returns the version.
pub fn create(
    tx: &mut dyn Transaction,
    ledger_id: u64,
    meta: &LedgerMetadata,
    op: OpId,
) -> Result<u64, NsError> {
    meta.validate()?;
    if let Some(existing) = read(tx, ledger_id)? {
        if existing.op == op && existing.version == 1 {
            return Ok(1); // our own earlier attempt was applied
        }
        return Err(NsError::LedgerExists(ledger_id));
    }
    let stored = Stored {
        version: 1,
        op,
        meta: meta.clone(),
    };
    write(tx, ledger_id, &stored)?;
    Ok(1)
}

/// Reads a ledger's metadata.
pub fn get(
    tx: &mut dyn Transaction,
    ledger_id: u64,
) -> Result<Option<Versioned<LedgerMetadata>>, NsError> {
    Ok(read(tx, ledger_id)?.map(|s| Versioned {
        value: s.meta,
        version: s.version,
    }))
}

/// Replaces a ledger's metadata if its version is still `expected_version`. Returns
/// the new version. Fails with [`NsError::VersionMismatch`] if another change came
/// first, and refuses state changes that go backwards (closed → open).
pub fn compare_and_set(
    tx: &mut dyn Transaction,
    ledger_id: u64,
    expected_version: u64,
    meta: &LedgerMetadata,
    op: OpId,
) -> Result<u64, NsError> {
    meta.validate()?;
    let current = read(tx, ledger_id)?.ok_or(NsError::LedgerNotFound(ledger_id))?;
    if current.op == op && current.version == expected_version + 1 {
        return Ok(current.version); // our own earlier attempt was applied
    }
    if current.version != expected_version {
        return Err(NsError::VersionMismatch {
            expected: expected_version,
            actual: current.version,
        });
    }
    current.meta.check_transition(meta)?;
    let stored = Stored {
        version: expected_version + 1,
        op,
        meta: meta.clone(),
    };
    write(tx, ledger_id, &stored)?;
    Ok(stored.version)
}

/// Deletes a ledger's metadata (after GC dropped its entries). With
/// `expected_version`, only if the version matches. Returns whether it existed.
pub fn delete(
    tx: &mut dyn Transaction,
    ledger_id: u64,
    expected_version: Option<u64>,
) -> Result<bool, NsError> {
    let Some(current) = read(tx, ledger_id)? else {
        return Ok(false);
    };
    if let Some(expected) = expected_version.filter(|&v| v != current.version) {
        return Err(NsError::VersionMismatch {
            expected,
            actual: current.version,
        });
    }
    tx.clear(&keys::ledger(ledger_id))?;
    Ok(true)
}

/// Up to `limit` ledger ids after `after` (from the first if `None`), ascending.
pub fn list_ids(
    tx: &mut dyn Transaction,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<u64>, NsError> {
    let mut range = Subspace::Ledger.range();
    if let Some(after) = after {
        range = range.after(&keys::ledger(after), false);
    }
    let chunk = tx.get_range(&range, RangeOptions::forward(limit))?;
    chunk
        .kvs
        .iter()
        .map(|kv| keys::unpack::<(u64,)>(Subspace::Ledger, &kv.key).map(|(id,)| id))
        .collect()
}

#[cfg(test)]
mod tests;
