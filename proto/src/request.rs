//! Requests a client sends to a bookie.

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::Reader;
use crate::{DecodeError, Entry, Message, NO_ENTRY};

/// The longest master key accepted, in bytes.
pub const MAX_MASTER_KEY_BYTES: usize = 255;

/// Operation codes, as carried in a frame's kind byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// [`AddEntry`].
    AddEntry = 1,
    /// [`ReadEntry`].
    ReadEntry = 2,
    /// [`ReadLac`].
    ReadLac = 3,
    /// [`WriteLac`].
    WriteLac = 4,
    /// [`Request::GetBookieInfo`].
    GetBookieInfo = 5,
    /// [`DeleteLedger`].
    DeleteLedger = 6,
    /// [`ListLedgers`].
    ListLedgers = 7,
    /// [`GetLedgerEntries`].
    GetLedgerEntries = 8,
    /// [`Request::Scrub`].
    Scrub = 9,
    /// [`Request::GetScrubReport`].
    GetScrubReport = 10,
}

impl Op {
    /// The op for a kind byte, or `None`.
    pub fn from_u8(v: u8) -> Option<Op> {
        Some(match v {
            1 => Op::AddEntry,
            2 => Op::ReadEntry,
            3 => Op::ReadLac,
            4 => Op::WriteLac,
            5 => Op::GetBookieInfo,
            6 => Op::DeleteLedger,
            7 => Op::ListLedgers,
            8 => Op::GetLedgerEntries,
            9 => Op::Scrub,
            10 => Op::GetScrubReport,
            _ => return None,
        })
    }
}

/// The ledger's secret that proves a request comes from its owner.
///
/// The first AddEntry, fencing read or WriteLac a bookie sees for a ledger records
/// the key (durably, in the journal); later ones with another key get
/// `Unauthorized`. The ledger client derives it from the ledger's password (as
/// BookKeeper sends SHA-1 of the password); the bookie treats it as opaque bytes of
/// at most [`MAX_MASTER_KEY_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MasterKey(Bytes);

impl MasterKey {
    /// Wraps `key`, or fails if it is longer than [`MAX_MASTER_KEY_BYTES`].
    pub fn new(key: impl Into<Bytes>) -> Result<MasterKey, DecodeError> {
        let key = key.into();
        if key.len() > MAX_MASTER_KEY_BYTES {
            return Err(DecodeError::MasterKeyTooLong { len: key.len() });
        }
        Ok(MasterKey(key))
    }

    /// The empty key (for ledgers without a password).
    pub fn empty() -> MasterKey {
        MasterKey(Bytes::new())
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    fn put(&self, dst: &mut BytesMut) {
        // The constructor bounds the length to a u8.
        dst.put_u8(u8::try_from(self.0.len()).unwrap_or(u8::MAX));
        dst.put_slice(&self.0[..self.0.len().min(MAX_MASTER_KEY_BYTES)]);
    }

    fn read(r: &mut Reader) -> Result<MasterKey, DecodeError> {
        let len = usize::from(r.u8()?);
        Ok(MasterKey(r.bytes(len)?))
    }
}

/// Store one entry. The entry carries its own ledger id, entry id, LAC and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddEntry {
    /// The ledger's master key.
    pub master_key: MasterKey,
    /// A recovery add: accepted even when the ledger is fenced or the bookie is
    /// read-only, because recovery re-replicates entries a writer already sent.
    pub recovery: bool,
    /// The encoded entry (verified by the bookie before it is stored).
    pub entry: Entry,
}

/// Which entry a [`ReadEntry`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadTarget {
    /// This entry id (below 2^63).
    Entry(u64),
    /// The highest entry id the bookie stores for the ledger (wire value −1).
    Last,
}

impl ReadTarget {
    fn to_wire(self) -> i64 {
        match self {
            ReadTarget::Entry(id) => i64::try_from(id).unwrap_or(i64::MIN),
            ReadTarget::Last => -1,
        }
    }

    fn from_wire(v: i64) -> Result<ReadTarget, DecodeError> {
        match v {
            -1 => Ok(ReadTarget::Last),
            v if v >= 0 => Ok(ReadTarget::Entry(v as u64)),
            v => Err(DecodeError::BadEntryId { entry_id: v }),
        }
    }
}

/// Delay a read until the bookie's LAC for the ledger passes `previous_lac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LongPoll {
    /// The LAC the reader already knows; the bookie waits until its LAC is above it.
    pub previous_lac: i64,
    /// The longest wait, in milliseconds; after it the read is served as it stands.
    pub timeout_ms: u32,
}

/// Read one entry, optionally fencing the ledger first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadEntry {
    /// The ledger.
    pub ledger_id: u64,
    /// The entry wanted.
    pub target: ReadTarget,
    /// Fence the ledger (durably) before answering: later normal adds get `Fenced`.
    pub fence: bool,
    /// The ledger's master key; checked only when `fence` is set.
    pub master_key: MasterKey,
    /// Wait for the LAC to advance before reading.
    pub long_poll: Option<LongPoll>,
}

/// Ask for the bookie's LAC of a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadLac {
    /// The ledger.
    pub ledger_id: u64,
}

/// Record an explicit LAC (an idle writer's way to advance readers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteLac {
    /// The ledger.
    pub ledger_id: u64,
    /// The new LAC; the bookie keeps the maximum it has seen.
    pub lac: i64,
    /// The ledger's master key.
    pub master_key: MasterKey,
}

/// Drop every entry of a ledger (sent by garbage collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeleteLedger {
    /// The ledger.
    pub ledger_id: u64,
}

/// The most ledger ids one [`ListLedgers`] answer carries, whatever its `limit`.
pub const MAX_LIST_LEDGERS: u32 = 10_000;

/// List the ledgers this bookie stores at least one entry of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListLedgers {
    /// The lowest ledger id wanted.
    pub start: u64,
    /// At most this many ids (and never more than [`MAX_LIST_LEDGERS`]); an answer
    /// with fewer than `min(limit, MAX_LIST_LEDGERS)` means there are no more.
    pub limit: u32,
}

/// Ask which entry ids of a ledger this bookie stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GetLedgerEntries {
    /// The ledger.
    pub ledger_id: u64,
}

/// A request to a bookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Store an entry.
    AddEntry(AddEntry),
    /// Read an entry.
    ReadEntry(ReadEntry),
    /// Read the LAC.
    ReadLac(ReadLac),
    /// Write an explicit LAC.
    WriteLac(WriteLac),
    /// Ask for free and total space and the bookie's state.
    GetBookieInfo,
    /// Delete a ledger.
    DeleteLedger(DeleteLedger),
    /// List stored ledgers.
    ListLedgers(ListLedgers),
    /// List a ledger's stored entry ids.
    GetLedgerEntries(GetLedgerEntries),
    /// Start a scrub pass now (a no-op if one is running).
    Scrub,
    /// Ask what the scrubber found.
    GetScrubReport,
}

const FLAG_RECOVERY: u8 = 1;
const FLAG_FENCE: u8 = 1;
const FLAG_LONG_POLL: u8 = 2;

impl Request {
    /// The operation of this request.
    pub fn op(&self) -> Op {
        match self {
            Request::AddEntry(_) => Op::AddEntry,
            Request::ReadEntry(_) => Op::ReadEntry,
            Request::ReadLac(_) => Op::ReadLac,
            Request::WriteLac(_) => Op::WriteLac,
            Request::GetBookieInfo => Op::GetBookieInfo,
            Request::DeleteLedger(_) => Op::DeleteLedger,
            Request::ListLedgers(_) => Op::ListLedgers,
            Request::GetLedgerEntries(_) => Op::GetLedgerEntries,
            Request::Scrub => Op::Scrub,
            Request::GetScrubReport => Op::GetScrubReport,
        }
    }

    /// The ledger the request concerns, if any.
    pub fn ledger_id(&self) -> Option<u64> {
        match self {
            Request::AddEntry(r) => Some(r.entry.ledger_id()),
            Request::ReadEntry(r) => Some(r.ledger_id),
            Request::ReadLac(r) => Some(r.ledger_id),
            Request::WriteLac(r) => Some(r.ledger_id),
            Request::GetBookieInfo => None,
            Request::DeleteLedger(r) => Some(r.ledger_id),
            Request::GetLedgerEntries(r) => Some(r.ledger_id),
            Request::ListLedgers(_) | Request::Scrub | Request::GetScrubReport => None,
        }
    }
}

impl Message for Request {
    fn kind(&self) -> u8 {
        self.op() as u8
    }

    fn encode_body(&self, dst: &mut BytesMut) {
        match self {
            Request::AddEntry(r) => {
                dst.put_u8(if r.recovery { FLAG_RECOVERY } else { 0 });
                r.master_key.put(dst);
                dst.put_slice(r.entry.as_bytes());
            }
            Request::ReadEntry(r) => {
                dst.put_u64(r.ledger_id);
                dst.put_i64(r.target.to_wire());
                let mut flags = 0;
                if r.fence {
                    flags |= FLAG_FENCE;
                }
                if r.long_poll.is_some() {
                    flags |= FLAG_LONG_POLL;
                }
                dst.put_u8(flags);
                r.master_key.put(dst);
                if let Some(lp) = r.long_poll {
                    dst.put_i64(lp.previous_lac);
                    dst.put_u32(lp.timeout_ms);
                }
            }
            Request::ReadLac(r) => dst.put_u64(r.ledger_id),
            Request::WriteLac(r) => {
                dst.put_u64(r.ledger_id);
                dst.put_i64(r.lac);
                r.master_key.put(dst);
            }
            Request::GetBookieInfo => {}
            Request::DeleteLedger(r) => dst.put_u64(r.ledger_id),
            Request::ListLedgers(r) => {
                dst.put_u64(r.start);
                dst.put_u32(r.limit);
            }
            Request::GetLedgerEntries(r) => dst.put_u64(r.ledger_id),
            Request::Scrub | Request::GetScrubReport => {}
        }
    }

    fn decode_body(kind: u8, body: Bytes) -> Result<Request, DecodeError> {
        let op = Op::from_u8(kind).ok_or(DecodeError::UnknownKind { kind })?;
        let mut r = Reader::new(body);
        let req = match op {
            Op::AddEntry => {
                let flags = r.u8()?;
                check_flags(flags, FLAG_RECOVERY)?;
                let master_key = MasterKey::read(&mut r)?;
                let entry = Entry::decode(r.rest())?;
                Request::AddEntry(AddEntry {
                    master_key,
                    recovery: flags & FLAG_RECOVERY != 0,
                    entry,
                })
            }
            Op::ReadEntry => {
                let ledger_id = r.u64()?;
                let target = ReadTarget::from_wire(r.i64()?)?;
                let flags = r.u8()?;
                check_flags(flags, FLAG_FENCE | FLAG_LONG_POLL)?;
                let master_key = MasterKey::read(&mut r)?;
                let long_poll = if flags & FLAG_LONG_POLL != 0 {
                    Some(LongPoll {
                        previous_lac: read_lac(&mut r)?,
                        timeout_ms: r.u32()?,
                    })
                } else {
                    None
                };
                Request::ReadEntry(ReadEntry {
                    ledger_id,
                    target,
                    fence: flags & FLAG_FENCE != 0,
                    master_key,
                    long_poll,
                })
            }
            Op::ReadLac => Request::ReadLac(ReadLac {
                ledger_id: r.u64()?,
            }),
            Op::WriteLac => Request::WriteLac(WriteLac {
                ledger_id: r.u64()?,
                lac: read_lac(&mut r)?,
                master_key: MasterKey::read(&mut r)?,
            }),
            Op::GetBookieInfo => Request::GetBookieInfo,
            Op::DeleteLedger => Request::DeleteLedger(DeleteLedger {
                ledger_id: r.u64()?,
            }),
            Op::ListLedgers => Request::ListLedgers(ListLedgers {
                start: r.u64()?,
                limit: r.u32()?,
            }),
            Op::GetLedgerEntries => Request::GetLedgerEntries(GetLedgerEntries {
                ledger_id: r.u64()?,
            }),
            Op::Scrub => Request::Scrub,
            Op::GetScrubReport => Request::GetScrubReport,
        };
        r.finish()?;
        Ok(req)
    }
}

fn check_flags(flags: u8, known: u8) -> Result<(), DecodeError> {
    if flags & !known != 0 {
        return Err(DecodeError::UnknownFlags { flags });
    }
    Ok(())
}

/// Reads a LAC field: an entry id or −1.
pub(crate) fn read_lac(r: &mut Reader) -> Result<i64, DecodeError> {
    let lac = r.i64()?;
    if lac < NO_ENTRY {
        return Err(DecodeError::BadLac { lac });
    }
    Ok(lac)
}
