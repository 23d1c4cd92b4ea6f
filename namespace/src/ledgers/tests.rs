use super::*;
use crate::test_support::{db, faulty_db};

fn meta(state: LedgerState) -> LedgerMetadata {
    LedgerMetadata {
        ensemble_size: 3,
        write_quorum: 3,
        ack_quorum: 2,
        state,
        last_entry_id: None,
        length_bytes: 0,
        ctime_ms: 1_700_000_000_000,
        digest: DigestType::Crc32c,
        segments: vec![EnsembleSegment {
            first_entry_id: 0,
            bookies: vec!["b1".into(), "b2".into(), "b3".into()],
        }],
        custom: BTreeMap::from([("app".into(), b"folio".to_vec())]),
    }
}

#[test]
fn create_if_absent_then_cas_on_version() {
    let (_dir, db) = db();
    let m = meta(LedgerState::Open);
    let v = db.run(|tx, _| create(tx, 7, &m, OpId(1))).expect("create");
    assert_eq!(v, 1);
    let err = db
        .run(|tx, _| create(tx, 7, &m, OpId(2)))
        .expect_err("exists");
    assert!(matches!(err, NsError::LedgerExists(7)));

    let mut next = m.clone();
    next.segments.push(EnsembleSegment {
        first_entry_id: 10,
        bookies: vec!["b1".into(), "b4".into(), "b3".into()],
    });
    let v2 = db
        .run(|tx, _| compare_and_set(tx, 7, 1, &next, OpId(3)))
        .expect("cas");
    assert_eq!(v2, 2);
    let err = db
        .run(|tx, _| compare_and_set(tx, 7, 1, &m, OpId(4)))
        .expect_err("stale version");
    assert!(matches!(
        err,
        NsError::VersionMismatch {
            expected: 1,
            actual: 2
        }
    ));

    let got = db.run(|tx, _| get(tx, 7)).expect("get").expect("present");
    assert_eq!(
        got,
        Versioned {
            value: next.clone(),
            version: 2
        }
    );
    assert_eq!(got.value.ensemble_for(9).map(|s| s.first_entry_id), Some(0));
    assert_eq!(
        got.value.ensemble_for(10).map(|s| s.first_entry_id),
        Some(10)
    );
}

#[test]
fn states_only_move_forward_and_closed_is_final() {
    let (_dir, db) = db();
    db.run(|tx, _| create(tx, 1, &meta(LedgerState::Open), OpId(1)))
        .expect("create");
    let recovering = meta(LedgerState::InRecovery);
    db.run(|tx, _| compare_and_set(tx, 1, 1, &recovering, OpId(2)))
        .expect("open -> in recovery");
    let err = db
        .run(|tx, _| compare_and_set(tx, 1, 2, &meta(LedgerState::Open), OpId(3)))
        .expect_err("in recovery -> open");
    assert!(matches!(err, NsError::Invalid { .. }));
    let mut closed = meta(LedgerState::Closed);
    closed.last_entry_id = Some(41);
    closed.length_bytes = 42 * 1024;
    db.run(|tx, _| compare_and_set(tx, 1, 2, &closed, OpId(4)))
        .expect("in recovery -> closed");
    let mut changed = closed.clone();
    changed.last_entry_id = Some(40);
    let err = db
        .run(|tx, _| compare_and_set(tx, 1, 3, &changed, OpId(5)))
        .expect_err("closed is final");
    assert!(matches!(err, NsError::Invalid { .. }));
}

#[test]
fn invalid_metadata_is_refused() {
    let (_dir, db) = db();
    let mut m = meta(LedgerState::Open);
    m.ack_quorum = 4;
    assert!(matches!(
        db.run(|tx, _| create(tx, 1, &m, OpId(1))),
        Err(NsError::Invalid { .. })
    ));
    let mut m = meta(LedgerState::Open);
    m.segments[0].bookies.pop();
    assert!(db.run(|tx, _| create(tx, 1, &m, OpId(1))).is_err());
    let mut m = meta(LedgerState::Open);
    m.segments[0].first_entry_id = 5;
    assert!(db.run(|tx, _| create(tx, 1, &m, OpId(1))).is_err());
}

#[test]
fn concurrent_cas_from_one_version_has_one_winner() {
    let (_dir, db) = db();
    db.run(|tx, _| create(tx, 9, &meta(LedgerState::Open), OpId(1)))
        .expect("create");
    let winners: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u64)
            .map(|i| {
                let db = db.clone();
                s.spawn(move || {
                    let mut m = meta(LedgerState::Open);
                    m.custom.insert("writer".into(), vec![i as u8]);
                    db.run(|tx, _| compare_and_set(tx, 9, 1, &m, OpId(100 + i)))
                        .is_ok()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().expect("join")))
            .sum()
    });
    assert_eq!(winners, 1);
}

#[test]
fn create_and_cas_are_idempotent_under_unknown_results() {
    for seed in 0..20 {
        let (_dir, db) = faulty_db(seed);
        let m = meta(LedgerState::Open);
        assert_eq!(
            db.run(|tx, _| create(tx, 3, &m, OpId(1))).expect("create"),
            1
        );
        let mut closed = meta(LedgerState::Closed);
        closed.last_entry_id = Some(0);
        let v = db
            .run(|tx, _| compare_and_set(tx, 3, 1, &closed, OpId(2)))
            .expect("cas");
        assert_eq!(v, 2, "seed {seed}");
    }
}

#[test]
fn delete_and_list() {
    let (_dir, db) = db();
    for id in [5u64, 1, 300, 2] {
        db.run(|tx, _| create(tx, id, &meta(LedgerState::Open), OpId(id)))
            .expect("create");
    }
    assert_eq!(
        db.run(|tx, _| list_ids(tx, None, 0)).expect("list"),
        vec![1, 2, 5, 300]
    );
    assert_eq!(
        db.run(|tx, _| list_ids(tx, Some(2), 2)).expect("list"),
        vec![5, 300]
    );
    assert!(matches!(
        db.run(|tx, _| delete(tx, 5, Some(9))),
        Err(NsError::VersionMismatch { .. })
    ));
    assert!(db.run(|tx, _| delete(tx, 5, Some(1))).expect("delete"));
    assert!(!db.run(|tx, _| delete(tx, 5, None)).expect("delete again"));
    assert_eq!(db.run(|tx, _| get(tx, 5)).expect("get"), None);
}
