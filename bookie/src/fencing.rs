//! The ledger table: each ledger's master key, fence and LAC, and the rules that
//! admit or refuse a change. Pure state, no I/O.
//!
//! Two views of each ledger are kept apart:
//! - the **admitted** view, changed the moment a request is admitted, under the lock
//!   that also queues its journal records. A fence takes effect here at once, so no
//!   normal add admitted after it can be journaled after it;
//! - the **durable** view, changed by [`LedgerTable::apply`] once the journal has
//!   fsynced the record. It is what checkpoints persist and what answers reads.
//!
//! Rules (docs/protocol.md §Fencing):
//! - the first add, fencing read or WriteLac for a ledger records its master key;
//!   a later request with another key gets `Unauthorized`;
//! - after a fence, a normal add gets `Fenced`; a recovery add is accepted;
//! - a read-only bookie refuses normal adds with `ReadOnly` and accepts recovery
//!   adds, fences and explicit LACs.

use std::collections::{HashMap, HashSet};

use folio_proto::{AddEntry, MasterKey, NO_ENTRY, Status};

use crate::journal::JournalRecord;

/// What the bookie persists about a ledger besides its entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerMeta {
    /// The master key recorded on first contact.
    pub master_key: Option<MasterKey>,
    /// Whether the ledger is fenced.
    pub fenced: bool,
    /// Highest LAC seen (from entry headers and explicit LAC writes), −1 for none.
    pub lac: i64,
}

impl LedgerMeta {
    fn new() -> LedgerMeta {
        LedgerMeta {
            master_key: None,
            fenced: false,
            lac: NO_ENTRY,
        }
    }

    /// Encodes the meta: flags u8 (bit 0 fenced, bit 1 has key), LAC i64 BE, key
    /// length u8, key.
    pub fn to_bytes(&self) -> Vec<u8> {
        let key = self
            .master_key
            .as_ref()
            .map(|k| &k.as_bytes()[..])
            .unwrap_or(&[]);
        let mut out = Vec::with_capacity(10 + key.len());
        let flags = u8::from(self.fenced) | (u8::from(self.master_key.is_some()) << 1);
        out.push(flags);
        out.extend_from_slice(&self.lac.to_be_bytes());
        out.push(u8::try_from(key.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(key);
        out
    }

    /// Decodes [`LedgerMeta::to_bytes`], or `None` if malformed.
    pub fn from_bytes(b: &[u8]) -> Option<LedgerMeta> {
        let flags = *b.first()?;
        let lac = i64::from_be_bytes(b.get(1..9)?.try_into().ok()?);
        let klen = usize::from(*b.get(9)?);
        let key = b.get(10..10 + klen)?;
        // A key without the "has key" flag is damage, not a keyless ledger: dropping
        // the key would let any writer claim the ledger.
        if b.len() != 10 + klen || flags & !3 != 0 || (flags & 2 == 0 && klen != 0) {
            return None;
        }
        Some(LedgerMeta {
            master_key: if flags & 2 != 0 {
                Some(MasterKey::new(bytes::Bytes::copy_from_slice(key)).ok()?)
            } else {
                None
            },
            fenced: flags & 1 != 0,
            lac,
        })
    }
}

#[derive(Debug, Clone)]
struct Ledger {
    admitted: LedgerMeta,
    durable: LedgerMeta,
    /// True once the ledger has a durable record (so reads may say NoSuchEntry).
    durable_known: bool,
}

/// Every ledger the bookie knows, and whether it is read-only.
#[derive(Debug, Default)]
pub struct LedgerTable {
    ledgers: HashMap<u64, Ledger>,
    read_only: bool,
    /// Ledgers deleted since start-up. Adds to them are refused: storage drops a
    /// deleted ledger's entries at the next checkpoint, so acknowledging one would
    /// lose an acknowledged entry.
    deleted: HashSet<u64>,
}

impl LedgerTable {
    /// A table loaded from persisted metas (at start-up, before journal replay).
    pub fn from_metas(metas: impl IntoIterator<Item = (u64, LedgerMeta)>) -> LedgerTable {
        let ledgers = metas
            .into_iter()
            .map(|(id, m)| {
                (
                    id,
                    Ledger {
                        admitted: m.clone(),
                        durable: m,
                        durable_known: true,
                    },
                )
            })
            .collect();
        LedgerTable {
            ledgers,
            read_only: false,
            deleted: HashSet::new(),
        }
    }

    /// Marks ledgers as deleted (their tombstones, at start-up): adds to them are
    /// refused from now on.
    pub fn mark_deleted(&mut self, ledger_ids: impl IntoIterator<Item = u64>) {
        for id in ledger_ids {
            self.ledgers.remove(&id);
            self.deleted.insert(id);
        }
    }

    /// Sets read-only mode.
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }

    /// Whether the bookie is read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    fn ledger(&mut self, ledger_id: u64) -> &mut Ledger {
        self.ledgers.entry(ledger_id).or_insert_with(|| Ledger {
            admitted: LedgerMeta::new(),
            durable: LedgerMeta::new(),
            durable_known: false,
        })
    }

    /// Checks `key` against the ledger's, recording it (and a journal record for it)
    /// if the ledger has none yet.
    fn authorize(
        &mut self,
        ledger_id: u64,
        key: &MasterKey,
        records: &mut Vec<JournalRecord>,
    ) -> Result<(), Status> {
        let ledger = self.ledger(ledger_id);
        match &ledger.admitted.master_key {
            Some(k) if k == key => Ok(()),
            Some(_) => Err(Status::Unauthorized),
            None => {
                ledger.admitted.master_key = Some(key.clone());
                records.push(JournalRecord::MasterKey {
                    ledger_id,
                    key: key.clone(),
                });
                Ok(())
            }
        }
    }

    /// Admits an add whose digest was verified, returning the records to journal.
    pub fn admit_add(&mut self, add: &AddEntry) -> Result<Vec<JournalRecord>, Status> {
        let ledger_id = add.entry.ledger_id();
        if self.deleted.contains(&ledger_id) {
            return Err(Status::NoSuchLedger);
        }
        if self.read_only && !add.recovery {
            return Err(Status::ReadOnly);
        }
        if let Some(l) = self.ledgers.get(&ledger_id)
            && l.admitted.fenced
            && !add.recovery
        {
            // Check the key first so a foreign writer learns nothing about the fence.
            if l.admitted
                .master_key
                .as_ref()
                .is_some_and(|k| k != &add.master_key)
            {
                return Err(Status::Unauthorized);
            }
            return Err(Status::Fenced);
        }
        let mut records = Vec::with_capacity(2);
        self.authorize(ledger_id, &add.master_key, &mut records)?;
        records.push(JournalRecord::Add(add.entry.clone()));
        Ok(records)
    }

    /// Admits a deletion: from now on adds to the ledger are refused, so none can be
    /// journaled after the deletion record. Returns the record to journal.
    pub fn admit_delete(&mut self, ledger_id: u64) -> Vec<JournalRecord> {
        self.deleted.insert(ledger_id);
        vec![JournalRecord::DeleteLedger { ledger_id }]
    }

    /// Admits a fence. Returns the records to journal, or none if the fence is
    /// already durable. From this call on, normal adds to the ledger are refused.
    pub fn admit_fence(
        &mut self,
        ledger_id: u64,
        key: &MasterKey,
    ) -> Result<Vec<JournalRecord>, Status> {
        let mut records = Vec::new();
        self.authorize(ledger_id, key, &mut records)?;
        let ledger = self.ledger(ledger_id);
        ledger.admitted.fenced = true;
        if !ledger.durable.fenced || !records.is_empty() {
            records.push(JournalRecord::Fence { ledger_id });
        }
        Ok(records)
    }

    /// Admits an explicit LAC write.
    pub fn admit_write_lac(
        &mut self,
        ledger_id: u64,
        lac: i64,
        key: &MasterKey,
    ) -> Result<Vec<JournalRecord>, Status> {
        let mut records = Vec::new();
        self.authorize(ledger_id, key, &mut records)?;
        let ledger = self.ledger(ledger_id);
        ledger.admitted.lac = ledger.admitted.lac.max(lac);
        records.push(JournalRecord::Lac { ledger_id, lac });
        Ok(records)
    }

    /// Applies a durable record. Returns true if the ledger's LAC advanced.
    pub fn apply(&mut self, record: &JournalRecord) -> bool {
        // A replayed record of a ledger deleted since (its tombstone was loaded at
        // start-up) must not bring the ledger back.
        let deleted_since = match record {
            JournalRecord::Add(e) => self.deleted.contains(&e.ledger_id()),
            JournalRecord::Lac { ledger_id, .. }
            | JournalRecord::Fence { ledger_id }
            | JournalRecord::MasterKey { ledger_id, .. } => self.deleted.contains(ledger_id),
            JournalRecord::DeleteLedger { .. } => false,
        };
        if deleted_since {
            return false;
        }
        let (ledger_id, lac) = match record {
            JournalRecord::Add(e) => (e.ledger_id(), e.header().lac),
            JournalRecord::Lac { ledger_id, lac } => (*ledger_id, *lac),
            JournalRecord::Fence { ledger_id } => {
                let l = self.ledger(*ledger_id);
                l.durable.fenced = true;
                l.admitted.fenced = true;
                l.durable_known = true;
                return false;
            }
            JournalRecord::MasterKey { ledger_id, key } => {
                let l = self.ledger(*ledger_id);
                l.durable.master_key = Some(key.clone());
                if l.admitted.master_key.is_none() {
                    l.admitted.master_key = Some(key.clone());
                }
                l.durable_known = true;
                return false;
            }
            JournalRecord::DeleteLedger { ledger_id } => {
                self.ledgers.remove(ledger_id);
                self.deleted.insert(*ledger_id);
                return false;
            }
        };
        let l = self.ledger(ledger_id);
        l.durable_known = true;
        l.admitted.lac = l.admitted.lac.max(lac);
        if lac > l.durable.lac {
            l.durable.lac = lac;
            true
        } else {
            false
        }
    }

    /// Whether the ledger has durable state here (reads may then say NoSuchEntry).
    pub fn knows(&self, ledger_id: u64) -> bool {
        self.ledgers
            .get(&ledger_id)
            .is_some_and(|l| l.durable_known)
    }

    /// The durable LAC of a ledger, if known.
    pub fn lac(&self, ledger_id: u64) -> Option<i64> {
        self.ledgers
            .get(&ledger_id)
            .filter(|l| l.durable_known)
            .map(|l| l.durable.lac)
    }

    /// Whether the ledger is durably fenced.
    pub fn is_fenced(&self, ledger_id: u64) -> bool {
        self.ledgers
            .get(&ledger_id)
            .is_some_and(|l| l.durable.fenced)
    }

    /// The durable metas, for a checkpoint.
    pub fn durable_metas(&self) -> Vec<(u64, LedgerMeta)> {
        self.ledgers
            .iter()
            .filter(|(_, l)| l.durable_known)
            .map(|(id, l)| (*id, l.durable.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_proto::{Entry, EntryHeader};

    fn add(ledger_id: u64, entry_id: u64, key: &str, recovery: bool) -> AddEntry {
        AddEntry {
            master_key: MasterKey::new(key.as_bytes().to_vec()).expect("short"),
            recovery,
            entry: Entry::new(
                EntryHeader {
                    ledger_id,
                    entry_id,
                    lac: entry_id as i64 - 1,
                    length: 1,
                },
                b"x",
            ),
        }
    }

    fn key(k: &str) -> MasterKey {
        MasterKey::new(k.as_bytes().to_vec()).expect("short")
    }

    #[test]
    fn first_add_records_the_key_and_others_are_unauthorized() {
        let mut t = LedgerTable::default();
        let recs = t.admit_add(&add(1, 0, "k", false)).expect("admitted");
        assert!(matches!(recs[0], JournalRecord::MasterKey { .. }));
        assert_eq!(recs.len(), 2);
        assert_eq!(t.admit_add(&add(1, 1, "k", false)).map(|r| r.len()), Ok(1));
        assert_eq!(
            t.admit_add(&add(1, 2, "other", false)),
            Err(Status::Unauthorized)
        );
        assert_eq!(t.admit_fence(1, &key("other")), Err(Status::Unauthorized));
    }

    #[test]
    fn fence_refuses_normal_adds_at_once_and_admits_recovery_adds() {
        let mut t = LedgerTable::default();
        t.admit_add(&add(1, 0, "k", false)).expect("admitted");
        let recs = t.admit_fence(1, &key("k")).expect("fence admitted");
        assert_eq!(recs, vec![JournalRecord::Fence { ledger_id: 1 }]);
        // Not durable yet, but adds are already refused.
        assert_eq!(t.admit_add(&add(1, 1, "k", false)), Err(Status::Fenced));
        assert!(t.admit_add(&add(1, 1, "k", true)).is_ok());
        assert!(!t.is_fenced(1));
        t.apply(&JournalRecord::Fence { ledger_id: 1 });
        assert!(t.is_fenced(1));
        // A second fence on a durably fenced ledger needs no journal write.
        assert_eq!(t.admit_fence(1, &key("k")), Ok(vec![]));
    }

    #[test]
    fn fence_of_an_unknown_ledger_makes_it_known() {
        let mut t = LedgerTable::default();
        assert!(!t.knows(9));
        let recs = t.admit_fence(9, &key("k")).expect("admitted");
        for r in &recs {
            t.apply(r);
        }
        assert!(t.knows(9));
        assert!(t.is_fenced(9));
        assert_eq!(t.lac(9), Some(NO_ENTRY));
    }

    #[test]
    fn read_only_refuses_normal_adds_only() {
        let mut t = LedgerTable::default();
        t.set_read_only(true);
        assert_eq!(t.admit_add(&add(1, 0, "k", false)), Err(Status::ReadOnly));
        assert!(t.admit_add(&add(1, 0, "k", true)).is_ok());
        assert!(t.admit_fence(2, &key("k")).is_ok());
    }

    #[test]
    fn lac_is_the_maximum_seen() {
        let mut t = LedgerTable::default();
        assert!(t.apply(&JournalRecord::Lac {
            ledger_id: 1,
            lac: 5
        }));
        assert!(!t.apply(&JournalRecord::Lac {
            ledger_id: 1,
            lac: 3
        }));
        assert_eq!(t.lac(1), Some(5));
    }

    #[test]
    fn meta_round_trips() {
        for m in [
            LedgerMeta::new(),
            LedgerMeta {
                master_key: Some(key("secret")),
                fenced: true,
                lac: 42,
            },
        ] {
            assert_eq!(LedgerMeta::from_bytes(&m.to_bytes()), Some(m));
        }
        assert_eq!(LedgerMeta::from_bytes(&[0xff; 3]), None);
    }
}
