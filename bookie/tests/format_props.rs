//! Property tests for the bookie's on-disk codecs (docs/format.md §Bookie storage):
//! the journal record codec and `journal::scan`, the index's `Location` and
//! `LedgerMeta` encodings, the checkpoint mark and the cookie. Encode → decode is the
//! identity, damage is detected rather than misread, and no input makes a decoder
//! panic.

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use folio_bookie::checkpoint;
use folio_bookie::cookie::Cookie;
use folio_bookie::entry_log::Location;
use folio_bookie::fencing::LedgerMeta;
use folio_bookie::journal::{
    self, JOURNAL_HEADER_BYTES, JournalPos, JournalRecord, RECORD_HEADER_BYTES, ScanEnd,
};
use folio_proto::{Entry, EntryHeader, MAX_MASTER_KEY_BYTES, MasterKey, NO_ENTRY};
use proptest::prelude::*;

fn master_key() -> impl Strategy<Value = MasterKey> {
    proptest::collection::vec(any::<u8>(), 0..=MAX_MASTER_KEY_BYTES)
        .prop_map(|k| MasterKey::new(k).expect("bounded length"))
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        any::<u64>(),
        0u64..(i64::MAX as u64),
        prop_oneof![Just(NO_ENTRY), 0i64..i64::MAX],
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(ledger_id, entry_id, lac, length, payload)| {
            Entry::new(
                EntryHeader {
                    ledger_id,
                    entry_id,
                    lac,
                    length,
                },
                &payload,
            )
        })
}

fn record() -> impl Strategy<Value = JournalRecord> {
    prop_oneof![
        entry().prop_map(JournalRecord::Add),
        any::<u64>().prop_map(|ledger_id| JournalRecord::Fence { ledger_id }),
        (any::<u64>(), any::<i64>())
            .prop_map(|(ledger_id, lac)| JournalRecord::Lac { ledger_id, lac }),
        (any::<u64>(), master_key())
            .prop_map(|(ledger_id, key)| JournalRecord::MasterKey { ledger_id, key }),
        any::<u64>().prop_map(|ledger_id| JournalRecord::DeleteLedger { ledger_id }),
    ]
}

/// A journal file holding `records`, and the offset just after each.
fn journal_file(records: &[JournalRecord]) -> (Bytes, Vec<u64>) {
    let mut buf = BytesMut::from(&journal::file_header()[..]);
    let mut ends = Vec::with_capacity(records.len());
    for r in records {
        let before = buf.len();
        r.encode(&mut buf);
        assert_eq!(buf.len() - before, r.encoded_len());
        ends.push(buf.len() as u64);
    }
    (buf.freeze(), ends)
}

fn scanned(data: &Bytes) -> Vec<JournalRecord> {
    journal::scan(data, 0)
        .records
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

fn ledger_meta() -> impl Strategy<Value = LedgerMeta> {
    (
        proptest::option::of(master_key()),
        any::<bool>(),
        prop_oneof![Just(NO_ENTRY), any::<i64>()],
    )
        .prop_map(|(master_key, fenced, lac)| LedgerMeta {
            master_key,
            fenced,
            lac,
        })
}

/// Values the cookie can hold: what a configuration produces (ids without line
/// breaks, absolute directories without commas).
fn cookie() -> impl Strategy<Value = Cookie> {
    (
        "[A-Za-z0-9.:_=-]{0,40}",
        "[0-9a-f]{0,32}",
        proptest::collection::vec("/[A-Za-z0-9._ /=-]{0,30}", 1..4),
    )
        .prop_map(|(bookie_id, instance_id, dirs)| Cookie {
            bookie_id,
            instance_id,
            dirs: dirs.into_iter().map(PathBuf::from).collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every record reads back as written, with the offset just after it.
    #[test]
    fn journal_records_round_trip(records in proptest::collection::vec(record(), 0..20)) {
        let (data, ends) = journal_file(&records);
        let scan = journal::scan(&data, 0);
        prop_assert_eq!(scan.end, ScanEnd::Clean);
        prop_assert_eq!(scan.valid_end, data.len() as u64);
        let got_ends: Vec<u64> = scan.records.iter().map(|(_, e)| *e).collect();
        prop_assert_eq!(got_ends, ends.clone());
        prop_assert_eq!(scanned(&data), records.clone());
        // Scanning from a record boundary reads the records after it.
        if !ends.is_empty() {
            let k = ends.len() / 2;
            let from = journal::scan(&data, ends[k]);
            let rest: Vec<_> = from.records.into_iter().map(|(r, _)| r).collect();
            prop_assert_eq!(&rest[..], &records[k + 1..]);
        }
    }

    /// A file cut anywhere keeps exactly the records wholly before the cut.
    #[test]
    fn journal_truncation_keeps_whole_records(
        records in proptest::collection::vec(record(), 1..10),
        cut in any::<proptest::sample::Index>(),
    ) {
        let (data, ends) = journal_file(&records);
        let cut = JOURNAL_HEADER_BYTES as usize
            + cut.index(data.len() - JOURNAL_HEADER_BYTES as usize + 1);
        let scan = journal::scan(&data.slice(..cut), 0);
        let whole = ends.iter().filter(|e| **e as usize <= cut).count();
        prop_assert_eq!(scan.records.len(), whole);
        let valid_end = if whole == 0 { JOURNAL_HEADER_BYTES } else { ends[whole - 1] };
        prop_assert_eq!(scan.valid_end, valid_end);
        let expected = if cut == valid_end as usize { ScanEnd::Clean } else { ScanEnd::Truncated };
        prop_assert_eq!(scan.end, expected);
    }

    /// Records followed by zeros (a preallocated file) or by garbage (a torn write):
    /// the records come back, and nothing is read past them unless it is a whole
    /// record with a good CRC.
    #[test]
    fn journal_tail_never_hides_records(
        records in proptest::collection::vec(record(), 0..10),
        zeros in 0usize..200,
        garbage in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let (data, _) = journal_file(&records);
        let mut padded = data.to_vec();
        padded.extend(std::iter::repeat_n(0u8, zeros));
        let padded = Bytes::from(padded);
        let scan = journal::scan(&padded, 0);
        prop_assert_eq!(scan.valid_end, data.len() as u64);
        let end = if zeros == 0 {
            ScanEnd::Clean
        } else if zeros < RECORD_HEADER_BYTES {
            ScanEnd::Truncated
        } else {
            ScanEnd::Zeroed
        };
        prop_assert_eq!(scan.end, end);
        prop_assert_eq!(scanned(&padded), records.clone());

        let mut torn = data.to_vec();
        torn.extend_from_slice(&garbage);
        let got = scanned(&Bytes::from(torn));
        prop_assert!(got.len() >= records.len());
        prop_assert_eq!(&got[..records.len()], &records[..]);
    }

    /// One flipped bit inside a record stops the scan at that record: the records
    /// before it come back, and neither it nor any after it does.
    #[test]
    fn journal_bit_flip_stops_at_the_damaged_record(
        records in proptest::collection::vec(record(), 1..10),
        at in any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let (data, ends) = journal_file(&records);
        let body = data.len() - JOURNAL_HEADER_BYTES as usize;
        let pos = JOURNAL_HEADER_BYTES as usize + at.index(body);
        let mut damaged = data.to_vec();
        damaged[pos] ^= 1 << bit;
        let damaged_record = ends.iter().filter(|e| **e as usize <= pos).count();
        let got = scanned(&Bytes::from(damaged));
        prop_assert_eq!(&got[..], &records[..damaged_record]);
    }

    /// Any bytes from any offset: no panic, and what is read is consistent.
    #[test]
    fn journal_scan_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        from in prop_oneof![any::<u64>(), (u64::MAX - 16)..=u64::MAX],
    ) {
        let data = Bytes::from(data);
        for from in [0, from, from % 64] {
            let scan = journal::scan(&data, from);
            prop_assert!(scan.valid_end >= from.max(JOURNAL_HEADER_BYTES) || scan.records.is_empty());
            let mut last = from.max(JOURNAL_HEADER_BYTES);
            for (_, end) in &scan.records {
                prop_assert!(*end > last && *end <= data.len() as u64);
                last = *end;
            }
        }
    }

    #[test]
    fn location_round_trips(log_id in any::<u64>(), offset in any::<u64>(), len in any::<u32>()) {
        let loc = Location { log_id, offset, len };
        prop_assert_eq!(Location::from_bytes(&loc.to_bytes()), Some(loc));
    }

    #[test]
    fn location_decodes_any_bytes_without_panic(b in proptest::collection::vec(any::<u8>(), 0..40)) {
        let loc = Location::from_bytes(&b);
        prop_assert_eq!(loc.is_some(), b.len() == Location::ENCODED_BYTES);
        if let Some(loc) = loc {
            prop_assert_eq!(&loc.to_bytes()[..], &b[..]);
        }
    }

    #[test]
    fn ledger_meta_round_trips(meta in ledger_meta()) {
        prop_assert_eq!(LedgerMeta::from_bytes(&meta.to_bytes()), Some(meta));
    }

    /// Any bytes: no panic, and whatever decodes is the canonical encoding of what
    /// it decodes to (so nothing stored is silently dropped).
    #[test]
    fn ledger_meta_decodes_any_bytes_canonically(
        b in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            ledger_meta().prop_map(|m| m.to_bytes()).prop_flat_map(|b| {
                let n = b.len();
                (Just(b), 0..n, any::<u8>()).prop_map(|(mut b, i, x)| { b[i] = x; b })
            }),
            // The flags byte, where a wrong bit could drop a stored key.
            (ledger_meta(), 0u8..8).prop_map(|(m, flags)| {
                let mut b = m.to_bytes();
                b[0] = flags;
                b
            }),
        ],
    ) {
        if let Some(meta) = LedgerMeta::from_bytes(&b) {
            prop_assert_eq!(meta.to_bytes(), b);
        }
    }

    #[test]
    fn checkpoint_mark_round_trips(file_id in any::<u64>(), offset in any::<u64>()) {
        let pos = JournalPos { file_id, offset };
        prop_assert_eq!(checkpoint::decode(&checkpoint::encode(pos)), Some(pos));
    }

    /// Every single-bit error in a mark is detected; any bytes decode without panic.
    #[test]
    fn checkpoint_mark_detects_damage(
        file_id in any::<u64>(),
        offset in any::<u64>(),
        at in 0..checkpoint::MARK_BYTES,
        bit in 0u8..8,
        junk in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut mark = checkpoint::encode(JournalPos { file_id, offset });
        mark[at] ^= 1 << bit;
        prop_assert_eq!(checkpoint::decode(&mark), None);
        if let Some(pos) = checkpoint::decode(&junk) {
            prop_assert_eq!(&checkpoint::encode(pos)[..], &junk[..]);
        }
    }

    #[test]
    fn cookie_round_trips(c in cookie()) {
        prop_assert_eq!(Cookie::parse(&c.to_text()), Ok(c));
    }

    /// Any text, and any one character of a real cookie changed: no panic.
    /// (Damage that still parses reads as a different cookie, which the bookie
    /// refuses as a mismatch.)
    #[test]
    fn cookie_parses_any_text_without_panic(
        text in ".{0,200}",
        c in cookie(),
        at in any::<proptest::sample::Index>(),
        x in any::<char>(),
    ) {
        let _ = Cookie::parse(&text);
        let mut damaged: Vec<char> = c.to_text().chars().collect();
        let i = at.index(damaged.len());
        damaged[i] = x;
        let damaged: String = damaged.into_iter().collect();
        if let Ok(parsed) = Cookie::parse(&damaged) {
            prop_assert!(parsed == c || damaged != c.to_text());
        }
    }
}
