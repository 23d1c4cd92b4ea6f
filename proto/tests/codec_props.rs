//! Property tests for every codec in folio-proto (docs/protocol.md §Frames, §Entries):
//! encode → decode is the identity, and no input makes a decoder panic.

use bytes::{Bytes, BytesMut};
use folio_proto::*;
use proptest::prelude::*;

fn lac() -> impl Strategy<Value = i64> {
    prop_oneof![Just(NO_ENTRY), 0i64..i64::MAX]
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        any::<u64>(),
        0u64..(i64::MAX as u64),
        lac(),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..512),
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

fn master_key() -> impl Strategy<Value = MasterKey> {
    proptest::collection::vec(any::<u8>(), 0..=MAX_MASTER_KEY_BYTES)
        .prop_map(|k| MasterKey::new(k).expect("bounded length"))
}

fn target() -> impl Strategy<Value = ReadTarget> {
    prop_oneof![
        Just(ReadTarget::Last),
        (0u64..(i64::MAX as u64)).prop_map(ReadTarget::Entry)
    ]
}

fn status() -> impl Strategy<Value = Status> {
    proptest::sample::select(Status::ALL.to_vec())
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (master_key(), any::<bool>(), entry()).prop_map(|(master_key, recovery, entry)| {
            Request::AddEntry(AddEntry {
                master_key,
                recovery,
                entry,
            })
        }),
        (
            any::<u64>(),
            target(),
            any::<bool>(),
            master_key(),
            proptest::option::of((lac(), any::<u32>()))
        )
            .prop_map(|(ledger_id, target, fence, master_key, lp)| {
                Request::ReadEntry(ReadEntry {
                    ledger_id,
                    target,
                    fence,
                    master_key,
                    long_poll: lp.map(|(previous_lac, timeout_ms)| LongPoll {
                        previous_lac,
                        timeout_ms,
                    }),
                })
            }),
        any::<u64>().prop_map(|ledger_id| Request::ReadLac(ReadLac { ledger_id })),
        (any::<u64>(), lac(), master_key()).prop_map(|(ledger_id, lac, master_key)| {
            Request::WriteLac(WriteLac {
                ledger_id,
                lac,
                master_key,
            })
        }),
        Just(Request::GetBookieInfo),
        any::<u64>().prop_map(|ledger_id| Request::DeleteLedger(DeleteLedger { ledger_id })),
        (any::<u64>(), any::<u32>())
            .prop_map(|(start, limit)| Request::ListLedgers(ListLedgers { start, limit })),
        any::<u64>()
            .prop_map(|ledger_id| Request::GetLedgerEntries(GetLedgerEntries { ledger_id })),
        Just(Request::Scrub),
        Just(Request::GetScrubReport),
    ]
}

/// Sorted, disjoint, non-adjacent inclusive ranges built from (gap, length) steps.
fn ranges() -> impl Strategy<Value = Vec<(u64, u64)>> {
    proptest::collection::vec((1u64..1000, 0u64..1000), 0..32).prop_map(|steps| {
        let mut out = Vec::new();
        let mut next = 0u64;
        for (gap, len) in steps {
            let first = next + gap;
            out.push((first, first + len));
            next = first + len + 1;
        }
        out
    })
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (status(), any::<u64>(), any::<u64>()).prop_map(|(status, ledger_id, entry_id)| {
            Response::AddEntry(AddEntryResponse {
                status,
                ledger_id,
                entry_id,
            })
        }),
        (
            status(),
            any::<u64>(),
            target(),
            lac(),
            proptest::option::of(entry())
        )
            .prop_map(|(status, ledger_id, target, lac, entry)| {
                Response::ReadEntry(ReadEntryResponse {
                    status,
                    ledger_id,
                    target,
                    lac,
                    entry,
                })
            }),
        (status(), any::<u64>(), lac()).prop_map(|(status, ledger_id, lac)| {
            Response::ReadLac(ReadLacResponse {
                status,
                ledger_id,
                lac,
            })
        }),
        (status(), any::<u64>()).prop_map(|(status, ledger_id)| {
            Response::WriteLac(WriteLacResponse { status, ledger_id })
        }),
        (status(), any::<u64>(), any::<u64>(), any::<bool>()).prop_map(
            |(status, free_bytes, total_bytes, ro)| {
                Response::GetBookieInfo(BookieInfoResponse {
                    status,
                    free_bytes,
                    total_bytes,
                    state: if ro {
                        BookieState::ReadOnly
                    } else {
                        BookieState::ReadWrite
                    },
                })
            }
        ),
        (status(), any::<u64>()).prop_map(|(status, ledger_id)| {
            Response::DeleteLedger(DeleteLedgerResponse { status, ledger_id })
        }),
        (status(), proptest::collection::vec(any::<u64>(), 0..64)).prop_map(
            |(status, ledger_ids)| Response::ListLedgers(ListLedgersResponse {
                status,
                ledger_ids
            })
        ),
        (status(), ranges()).prop_map(|(status, ranges)| {
            Response::GetLedgerEntries(LedgerEntriesResponse { status, ranges })
        }),
        status().prop_map(|status| Response::Scrub(ScrubResponse { status })),
        (
            status(),
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec((any::<u64>(), any::<u64>()), 0..64)
        )
            .prop_map(|(status, passes_completed, entries_checked, corrupt)| {
                Response::GetScrubReport(ScrubReportResponse {
                    status,
                    passes_completed,
                    entries_checked,
                    corrupt,
                })
            }),
        status().prop_map(Response::Error),
    ]
}

proptest! {
    #[test]
    fn entry_round_trips_and_verifies(e in entry()) {
        let d = Entry::decode_verified(e.as_bytes().clone()).expect("valid");
        prop_assert_eq!(d, e);
    }

    #[test]
    fn request_frames_round_trip(id in any::<u64>(), req in request()) {
        let frame = Frame::new(id, req);
        let bytes = frame.to_bytes();
        let back = Frame::<Request>::decode_exact(&bytes, DEFAULT_MAX_FRAME_BYTES).expect("decodes");
        prop_assert_eq!(back, frame);
    }

    #[test]
    fn response_frames_round_trip(id in any::<u64>(), resp in response()) {
        let frame = Frame::new(id, resp);
        let bytes = frame.to_bytes();
        let back = Frame::<Response>::decode_exact(&bytes, DEFAULT_MAX_FRAME_BYTES).expect("decodes");
        prop_assert_eq!(back, frame);
    }

    /// Pipelined frames split off a stream in order, whatever the read boundaries.
    #[test]
    fn pipelined_frames_split_at_any_boundary(
        reqs in proptest::collection::vec(request(), 1..8),
        chunk in 1usize..64,
    ) {
        let mut wire = BytesMut::new();
        for (i, r) in reqs.iter().enumerate() {
            Frame::new(i as u64, r.clone()).encode(&mut wire);
        }
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(raw) = RawFrame::split(&mut buf, DEFAULT_MAX_FRAME_BYTES).expect("valid stream") {
                got.push(raw.decode::<Request>().expect("valid body"));
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got.len(), reqs.len());
        for (i, (f, r)) in got.iter().zip(reqs.iter()).enumerate() {
            prop_assert_eq!(f.request_id, i as u64);
            prop_assert_eq!(&f.body, r);
        }
    }

    /// Arbitrary bytes never panic a decoder: they give a frame, "need more", or an error.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Frame::<Request>::decode_exact(&data, DEFAULT_MAX_FRAME_BYTES);
        let _ = Frame::<Response>::decode_exact(&data, DEFAULT_MAX_FRAME_BYTES);
        let _ = Entry::decode_verified(Bytes::from(data.clone()));
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(raw)) = RawFrame::split(&mut buf, 4096) {
            let _ = raw.clone().decode::<Request>();
            let _ = raw.decode::<Response>();
        }
    }

    /// Valid frames with one byte mutated, or cut short, never panic a decoder either.
    #[test]
    fn mutated_frames_never_panic(req in request(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = Frame::new(1, req).to_bytes().to_vec();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        let _ = Frame::<Request>::decode_exact(&bytes, DEFAULT_MAX_FRAME_BYTES);
        let n = cut.index(bytes.len());
        let _ = Frame::<Request>::decode_exact(&bytes[..n], DEFAULT_MAX_FRAME_BYTES);
        let mut buf = BytesMut::from(&bytes[..n]);
        let _ = RawFrame::split(&mut buf, DEFAULT_MAX_FRAME_BYTES);
    }
}

#[test]
fn oversized_frame_is_rejected_before_its_body_arrives() {
    let mut buf = BytesMut::from(&(1u32 << 30).to_be_bytes()[..]);
    assert!(matches!(
        RawFrame::split(&mut buf, DEFAULT_MAX_FRAME_BYTES),
        Err(FrameError::TooLarge { .. })
    ));
}

#[test]
fn malformed_body_keeps_its_request_id() {
    let mut bytes = Frame::new(77, Request::ReadLac(ReadLac { ledger_id: 5 }))
        .to_bytes()
        .to_vec();
    bytes.pop(); // truncate the body by one byte and fix the length prefix
    let len = (bytes.len() - FRAME_LENGTH_BYTES) as u32;
    bytes[..4].copy_from_slice(&len.to_be_bytes());
    let mut buf = BytesMut::from(&bytes[..]);
    let raw = RawFrame::split(&mut buf, DEFAULT_MAX_FRAME_BYTES)
        .expect("frame ok")
        .expect("whole");
    assert_eq!(raw.request_id, 77);
    assert_eq!(raw.decode::<Request>(), Err(DecodeError::Truncated));
}

#[test]
fn wrong_version_closes_the_stream() {
    let mut bytes = Frame::new(1, Request::GetBookieInfo).to_bytes().to_vec();
    bytes[4] = 9;
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        RawFrame::split(&mut buf, DEFAULT_MAX_FRAME_BYTES),
        Err(FrameError::UnsupportedVersion { version: 9 })
    );
}

/// A response frame with `body` (status included) under the kind of `op`.
fn response_frame(op: Op, body: &[u8]) -> Vec<u8> {
    let mut bytes = Frame::new(3, Response::Scrub(ScrubResponse { status: Status::Ok }))
        .to_bytes()
        .to_vec();
    bytes.truncate(FRAME_HEADER_BYTES);
    bytes[5] = RESPONSE_KIND_BIT | op as u8;
    bytes.extend_from_slice(body);
    let len = (bytes.len() - FRAME_LENGTH_BYTES) as u32;
    bytes[..4].copy_from_slice(&len.to_be_bytes());
    bytes
}

#[test]
fn forged_list_counts_are_refused_without_allocating() {
    // Status Ok, then a count of 2^32 − 1 with no items behind it.
    let mut body = vec![0, 0];
    body.extend_from_slice(&u32::MAX.to_be_bytes());
    for op in [Op::ListLedgers, Op::GetLedgerEntries] {
        assert_eq!(
            Frame::<Response>::decode_exact(&response_frame(op, &body), DEFAULT_MAX_FRAME_BYTES),
            Err(ProtoError::Decode(DecodeError::Truncated)),
            "{op:?}"
        );
    }
    let mut report = vec![0, 0];
    report.extend_from_slice(&[0; 16]);
    report.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        Frame::<Response>::decode_exact(
            &response_frame(Op::GetScrubReport, &report),
            DEFAULT_MAX_FRAME_BYTES
        ),
        Err(ProtoError::Decode(DecodeError::Truncated))
    );
}

#[test]
fn unordered_or_overlapping_ranges_are_refused() {
    for bad in [
        vec![(5u64, 4u64)],
        vec![(0, 5), (5, 9)],
        vec![(10, 12), (0, 3)],
    ] {
        let frame = Frame::new(
            1,
            Response::GetLedgerEntries(LedgerEntriesResponse {
                status: Status::Ok,
                ranges: bad.clone(),
            }),
        );
        assert_eq!(
            Frame::<Response>::decode_exact(&frame.to_bytes(), DEFAULT_MAX_FRAME_BYTES),
            Err(ProtoError::Decode(DecodeError::BadRanges)),
            "{bad:?}"
        );
    }
}

#[test]
fn new_requests_refuse_short_or_long_bodies() {
    for (req, cut) in [
        (Request::ListLedgers(ListLedgers { start: 1, limit: 2 }), 1),
        (
            Request::GetLedgerEntries(GetLedgerEntries { ledger_id: 9 }),
            1,
        ),
    ] {
        let mut bytes = Frame::new(5, req).to_bytes().to_vec();
        bytes.truncate(bytes.len() - cut);
        let len = (bytes.len() - FRAME_LENGTH_BYTES) as u32;
        bytes[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            Frame::<Request>::decode_exact(&bytes, DEFAULT_MAX_FRAME_BYTES),
            Err(ProtoError::Decode(DecodeError::Truncated))
        );
    }
    for req in [Request::Scrub, Request::GetScrubReport] {
        let mut bytes = Frame::new(5, req).to_bytes().to_vec();
        bytes.push(0);
        let len = (bytes.len() - FRAME_LENGTH_BYTES) as u32;
        bytes[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            Frame::<Request>::decode_exact(&bytes, DEFAULT_MAX_FRAME_BYTES),
            Err(ProtoError::Decode(DecodeError::TrailingBytes { count: 1 }))
        );
    }
}
