//! Responses a bookie sends back, one per request, under the request's id.

use bytes::{BufMut, Bytes, BytesMut};

use crate::request::read_lac;
use crate::wire::Reader;
use crate::{DecodeError, Entry, Message, Op, ReadTarget, Status};

/// Kind bit marking a response.
pub const RESPONSE_KIND_BIT: u8 = 0x80;

/// Whether a bookie accepts new adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BookieState {
    /// Accepts every request.
    ReadWrite = 0,
    /// Disk full or configured read-only: serves reads, fences and recovery adds only.
    ReadOnly = 1,
}

/// Answer to [`crate::AddEntry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddEntryResponse {
    /// Ok once the entry is durable (journaled and fsynced).
    pub status: Status,
    /// The entry's ledger.
    pub ledger_id: u64,
    /// The entry's id.
    pub entry_id: u64,
}

/// Answer to [`crate::ReadEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadEntryResponse {
    /// Ok with an entry, or why there is none.
    pub status: Status,
    /// The ledger.
    pub ledger_id: u64,
    /// The target as requested.
    pub target: ReadTarget,
    /// The bookie's LAC for the ledger when it answered (−1 if none known).
    pub lac: i64,
    /// The entry, present exactly when `status` is Ok.
    pub entry: Option<Entry>,
}

/// Answer to [`crate::ReadLac`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadLacResponse {
    /// Ok, or why the LAC is unknown.
    pub status: Status,
    /// The ledger.
    pub ledger_id: u64,
    /// The highest LAC the bookie has seen for the ledger (−1 if none).
    pub lac: i64,
}

/// Answer to [`crate::WriteLac`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriteLacResponse {
    /// Ok once the LAC is durable.
    pub status: Status,
    /// The ledger.
    pub ledger_id: u64,
}

/// Answer to [`crate::Request::GetBookieInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BookieInfoResponse {
    /// Ok, or why the info is unavailable.
    pub status: Status,
    /// Free bytes on the bookie's data disk.
    pub free_bytes: u64,
    /// Total bytes of the bookie's data disk.
    pub total_bytes: u64,
    /// Whether the bookie accepts new adds.
    pub state: BookieState,
}

/// Answer to [`crate::DeleteLedger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeleteLedgerResponse {
    /// Ok once the deletion is durable.
    pub status: Status,
    /// The ledger.
    pub ledger_id: u64,
}

/// The most corrupt entries one [`ScrubReportResponse`] lists.
pub const MAX_SCRUB_REPORT_ENTRIES: usize = 10_000;

/// Answer to [`crate::ListLedgers`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListLedgersResponse {
    /// Ok, or why the list is unavailable.
    pub status: Status,
    /// Ledger ids `>= start`, ascending; fewer than the limit means no more.
    pub ledger_ids: Vec<u64>,
}

/// Answer to [`crate::GetLedgerEntries`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LedgerEntriesResponse {
    /// Ok; `NoSuchLedger` when the bookie stores no entry of the ledger.
    pub status: Status,
    /// Stored entry ids as sorted, disjoint, non-adjacent inclusive ranges
    /// `(first, last)`. Corrupt stored copies count as stored.
    pub ranges: Vec<(u64, u64)>,
}

/// Answer to [`crate::Request::Scrub`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScrubResponse {
    /// Ok once a pass is started (or one was already running).
    pub status: Status,
}

/// Answer to [`crate::Request::GetScrubReport`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScrubReportResponse {
    /// Ok, or why the report is unavailable.
    pub status: Status,
    /// Scrub passes finished since the bookie started.
    pub passes_completed: u64,
    /// Entries checked by scrub passes since the bookie started.
    pub entries_checked: u64,
    /// `(ledger_id, entry_id)` of stored copies that failed their CRC32C or header
    /// check (by the scrubber or a read), sorted, at most
    /// [`MAX_SCRUB_REPORT_ENTRIES`].
    pub corrupt: Vec<(u64, u64)>,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// To AddEntry.
    AddEntry(AddEntryResponse),
    /// To ReadEntry.
    ReadEntry(ReadEntryResponse),
    /// To ReadLac.
    ReadLac(ReadLacResponse),
    /// To WriteLac.
    WriteLac(WriteLacResponse),
    /// To GetBookieInfo.
    GetBookieInfo(BookieInfoResponse),
    /// To DeleteLedger.
    DeleteLedger(DeleteLedgerResponse),
    /// To ListLedgers.
    ListLedgers(ListLedgersResponse),
    /// To GetLedgerEntries.
    GetLedgerEntries(LedgerEntriesResponse),
    /// To Scrub.
    Scrub(ScrubResponse),
    /// To GetScrubReport.
    GetScrubReport(ScrubReportResponse),
    /// To a request whose body could not be decoded (status BadRequest), so its
    /// operation is unknown.
    Error(Status),
}

impl Response {
    /// The status, whatever the operation.
    pub fn status(&self) -> Status {
        match self {
            Response::AddEntry(r) => r.status,
            Response::ReadEntry(r) => r.status,
            Response::ReadLac(r) => r.status,
            Response::WriteLac(r) => r.status,
            Response::GetBookieInfo(r) => r.status,
            Response::DeleteLedger(r) => r.status,
            Response::ListLedgers(r) => r.status,
            Response::GetLedgerEntries(r) => r.status,
            Response::Scrub(r) => r.status,
            Response::GetScrubReport(r) => r.status,
            Response::Error(s) => *s,
        }
    }
}

const HAS_ENTRY: u8 = 1;

impl Message for Response {
    fn kind(&self) -> u8 {
        RESPONSE_KIND_BIT
            | match self {
                Response::AddEntry(_) => Op::AddEntry as u8,
                Response::ReadEntry(_) => Op::ReadEntry as u8,
                Response::ReadLac(_) => Op::ReadLac as u8,
                Response::WriteLac(_) => Op::WriteLac as u8,
                Response::GetBookieInfo(_) => Op::GetBookieInfo as u8,
                Response::DeleteLedger(_) => Op::DeleteLedger as u8,
                Response::ListLedgers(_) => Op::ListLedgers as u8,
                Response::GetLedgerEntries(_) => Op::GetLedgerEntries as u8,
                Response::Scrub(_) => Op::Scrub as u8,
                Response::GetScrubReport(_) => Op::GetScrubReport as u8,
                Response::Error(_) => 0,
            }
    }

    fn encode_body(&self, dst: &mut BytesMut) {
        dst.put_u16(self.status().code());
        match self {
            Response::AddEntry(r) => {
                dst.put_u64(r.ledger_id);
                dst.put_u64(r.entry_id);
            }
            Response::ReadEntry(r) => {
                dst.put_u64(r.ledger_id);
                dst.put_i64(match r.target {
                    ReadTarget::Entry(id) => i64::try_from(id).unwrap_or(i64::MIN),
                    ReadTarget::Last => -1,
                });
                dst.put_i64(r.lac);
                match &r.entry {
                    Some(e) => {
                        dst.put_u8(HAS_ENTRY);
                        dst.put_slice(e.as_bytes());
                    }
                    None => dst.put_u8(0),
                }
            }
            Response::ReadLac(r) => {
                dst.put_u64(r.ledger_id);
                dst.put_i64(r.lac);
            }
            Response::WriteLac(r) => dst.put_u64(r.ledger_id),
            Response::GetBookieInfo(r) => {
                dst.put_u64(r.free_bytes);
                dst.put_u64(r.total_bytes);
                dst.put_u8(r.state as u8);
            }
            Response::DeleteLedger(r) => dst.put_u64(r.ledger_id),
            Response::ListLedgers(r) => {
                put_count(dst, r.ledger_ids.len());
                for id in &r.ledger_ids {
                    dst.put_u64(*id);
                }
            }
            Response::GetLedgerEntries(r) => put_pairs(dst, &r.ranges),
            Response::Scrub(_) => {}
            Response::GetScrubReport(r) => {
                dst.put_u64(r.passes_completed);
                dst.put_u64(r.entries_checked);
                put_pairs(dst, &r.corrupt);
            }
            Response::Error(_) => {}
        }
    }

    fn decode_body(kind: u8, body: Bytes) -> Result<Response, DecodeError> {
        if kind & RESPONSE_KIND_BIT == 0 {
            return Err(DecodeError::UnknownKind { kind });
        }
        let mut r = Reader::new(body);
        let code = r.u16()?;
        let status = Status::from_code(code).ok_or(DecodeError::UnknownStatus { code })?;
        let op = kind & !RESPONSE_KIND_BIT;
        if op == 0 {
            r.finish()?;
            return Ok(Response::Error(status));
        }
        let op = Op::from_u8(op).ok_or(DecodeError::UnknownKind { kind })?;
        let resp = match op {
            Op::AddEntry => Response::AddEntry(AddEntryResponse {
                status,
                ledger_id: r.u64()?,
                entry_id: r.u64()?,
            }),
            Op::ReadEntry => {
                let ledger_id = r.u64()?;
                let target = match r.i64()? {
                    -1 => ReadTarget::Last,
                    v if v >= 0 => ReadTarget::Entry(v as u64),
                    v => return Err(DecodeError::BadEntryId { entry_id: v }),
                };
                let lac = read_lac(&mut r)?;
                let entry = match r.u8()? {
                    0 => None,
                    HAS_ENTRY => Some(Entry::decode(r.rest())?),
                    flags => return Err(DecodeError::UnknownFlags { flags }),
                };
                Response::ReadEntry(ReadEntryResponse {
                    status,
                    ledger_id,
                    target,
                    lac,
                    entry,
                })
            }
            Op::ReadLac => Response::ReadLac(ReadLacResponse {
                status,
                ledger_id: r.u64()?,
                lac: read_lac(&mut r)?,
            }),
            Op::WriteLac => Response::WriteLac(WriteLacResponse {
                status,
                ledger_id: r.u64()?,
            }),
            Op::GetBookieInfo => Response::GetBookieInfo(BookieInfoResponse {
                status,
                free_bytes: r.u64()?,
                total_bytes: r.u64()?,
                state: match r.u8()? {
                    0 => BookieState::ReadWrite,
                    1 => BookieState::ReadOnly,
                    state => return Err(DecodeError::UnknownBookieState { state }),
                },
            }),
            Op::DeleteLedger => Response::DeleteLedger(DeleteLedgerResponse {
                status,
                ledger_id: r.u64()?,
            }),
            Op::ListLedgers => {
                let n = read_count(&mut r, 8)?;
                let mut ledger_ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ledger_ids.push(r.u64()?);
                }
                Response::ListLedgers(ListLedgersResponse { status, ledger_ids })
            }
            Op::GetLedgerEntries => {
                let ranges = read_pairs(&mut r)?;
                let ordered = ranges.iter().all(|(a, b)| a <= b)
                    && ranges.windows(2).all(|w| w[0].1 < w[1].0);
                if !ordered {
                    return Err(DecodeError::BadRanges);
                }
                Response::GetLedgerEntries(LedgerEntriesResponse { status, ranges })
            }
            Op::Scrub => Response::Scrub(ScrubResponse { status }),
            Op::GetScrubReport => Response::GetScrubReport(ScrubReportResponse {
                status,
                passes_completed: r.u64()?,
                entries_checked: r.u64()?,
                corrupt: read_pairs(&mut r)?,
            }),
        };
        r.finish()?;
        Ok(resp)
    }
}

/// Writes a list length as u32 BE (lists are bounded far below 2^32 by the bookie).
fn put_count(dst: &mut BytesMut, n: usize) {
    dst.put_u32(u32::try_from(n).unwrap_or(u32::MAX));
}

/// Writes a u32 count, then each pair as two u64 BE.
fn put_pairs(dst: &mut BytesMut, pairs: &[(u64, u64)]) {
    put_count(dst, pairs.len());
    for (a, b) in pairs {
        dst.put_u64(*a);
        dst.put_u64(*b);
    }
}

/// Reads a u32 count of items of `item_bytes` each, refusing a count the rest of
/// the body cannot hold (so a forged count never drives a huge allocation).
fn read_count(r: &mut Reader, item_bytes: usize) -> Result<usize, DecodeError> {
    let n = r.u32()? as usize;
    if n.saturating_mul(item_bytes) > r.remaining() {
        return Err(DecodeError::Truncated);
    }
    Ok(n)
}

fn read_pairs(r: &mut Reader) -> Result<Vec<(u64, u64)>, DecodeError> {
    let n = read_count(r, 16)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push((r.u64()?, r.u64()?));
    }
    Ok(out)
}
