use super::*;
use crate::links;
use crate::test_support::{db, faulty_db};

fn upload() -> UploadRecord {
    UploadRecord {
        initiated_ms: 1,
        initiator: "AKID".into(),
        content_type: Some("video/mp4".into()),
        headers: StandardHeaders::default(),
        user_metadata: BTreeMap::from([("k".into(), "v".into())]),
        checksum_algorithm: None,
    }
}

fn part(ledger_id: u64) -> PartRecord {
    PartRecord {
        ledger_id,
        size_bytes: 100 + ledger_id,
        entry_size_bytes: 64,
        etag: format!("\"p{ledger_id}\""),
        checksums: vec![],
        mtime_ms: 2,
    }
}

fn ctx(op: u64) -> WriteContext {
    WriteContext {
        op: OpId(op),
        gc_due_ms: 9,
    }
}

fn gc_ledgers(db: &crate::Db) -> Vec<u64> {
    let mut v: Vec<u64> = db
        .run(|tx, _| gc::due(tx, u64::MAX - 1, 0))
        .expect("due")
        .iter()
        .map(|i| i.ledger_id)
        .collect();
    v.sort_unstable();
    v
}

fn completion(parts: &[(u32, String)]) -> Completion<'_> {
    Completion {
        parts,
        etag: "\"abc-2\"".into(),
        checksums: vec![],
        mtime_ms: 3,
        condition: PutCondition::Always,
    }
}

#[test]
fn complete_assembles_chosen_parts_and_collects_the_rest() {
    let (_dir, db) = db();
    let id = new_upload_id();
    assert_eq!(id.len(), 32);
    db.run(|tx, _| create(tx, 1, "movie", &id, &upload()))
        .expect("create");
    for (n, ledger) in [(1u32, 11u64), (2, 12), (3, 13)] {
        db.run(|tx, _| put_part(tx, 1, "movie", &id, n, &part(ledger), 9))
            .expect("part");
    }
    // Part 2 uploaded again: the first copy's ledger is collected.
    db.run(|tx, _| put_part(tx, 1, "movie", &id, 2, &part(22), 9))
        .expect("part again");
    assert_eq!(gc_ledgers(&db), [12]);
    let (parts, more) = db
        .run(|tx, _| list_parts(tx, &id, Some(1), 1))
        .expect("list");
    assert_eq!((parts[0].0, parts[0].1.ledger_id, more), (2, 22, true));

    let chosen = [(1u32, "\"p11\"".to_owned()), (2, "p22".to_owned())];
    let record = db
        .run(|tx, _| complete(tx, 1, "movie", &id, &completion(&chosen), ctx(1)))
        .expect("complete");
    assert_eq!(record.size_bytes, 111 + 122);
    assert_eq!(
        record
            .segments
            .iter()
            .map(|s| s.ledger_id)
            .collect::<Vec<_>>(),
        [11, 22]
    );
    assert_eq!(record.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(
        db.run(|tx, _| objects::get(tx, 1, "movie")).expect("get"),
        Some(record)
    );
    assert_eq!(gc_ledgers(&db), [12, 13], "part 3 was left out");
    assert_eq!(db.run(|tx, _| links::count(tx, 22)).expect("count"), 1);
    assert_eq!(db.run(|tx, _| get(tx, 1, "movie", &id)).expect("get"), None);
    assert!(
        db.run(|tx, _| list_parts(tx, &id, None, 0))
            .expect("parts")
            .0
            .is_empty()
    );
}

#[test]
fn complete_checks_parts() {
    let (_dir, db) = db();
    db.run(|tx, _| create(tx, 1, "k", "u", &upload()))
        .expect("create");
    db.run(|tx, _| put_part(tx, 1, "k", "u", 1, &part(1), 9))
        .expect("part");
    db.run(|tx, _| put_part(tx, 1, "k", "u", 2, &part(2), 9))
        .expect("part");
    let bad_etag = [(1u32, "\"x\"".to_owned())];
    assert!(matches!(
        db.run(|tx, _| complete(tx, 1, "k", "u", &completion(&bad_etag), ctx(1))),
        Err(NsError::InvalidPart { part_number: 1, .. })
    ));
    let missing = [(5u32, "\"p5\"".to_owned())];
    assert!(matches!(
        db.run(|tx, _| complete(tx, 1, "k", "u", &completion(&missing), ctx(1))),
        Err(NsError::InvalidPart { part_number: 5, .. })
    ));
    let order = [(2u32, "\"p2\"".to_owned()), (1, "\"p1\"".to_owned())];
    assert!(matches!(
        db.run(|tx, _| complete(tx, 1, "k", "u", &completion(&order), ctx(1))),
        Err(NsError::InvalidPartOrder)
    ));
    assert!(matches!(
        db.run(|tx, _| put_part(tx, 1, "k", "nope", 1, &part(3), 9)),
        Err(NsError::UploadNotFound(_))
    ));
}

#[test]
fn abort_collects_every_part_and_uploads_list_in_order() {
    let (_dir, db) = db();
    for (key, id) in [("b", "u2"), ("a", "u9"), ("b", "u1"), ("c", "u3")] {
        db.run(|tx, _| create(tx, 1, key, id, &upload()))
            .expect("create");
    }
    let (all, more) = db
        .run(|tx, _| list_uploads(tx, 1, "", None, 0))
        .expect("list");
    let ids: Vec<(&str, &str)> = all
        .iter()
        .map(|u| (u.key.as_str(), u.upload_id.as_str()))
        .collect();
    assert_eq!(
        (ids, more),
        (
            vec![("a", "u9"), ("b", "u1"), ("b", "u2"), ("c", "u3")],
            false
        )
    );
    let (after, _) = db
        .run(|tx, _| list_uploads(tx, 1, "", Some(("b", Some("u1"))), 0))
        .expect("list");
    assert_eq!(
        after
            .iter()
            .map(|u| u.upload_id.as_str())
            .collect::<Vec<_>>(),
        ["u2", "u3"]
    );
    let (after, _) = db
        .run(|tx, _| list_uploads(tx, 1, "", Some(("b", None)), 0))
        .expect("list");
    assert_eq!(
        after
            .iter()
            .map(|u| u.upload_id.as_str())
            .collect::<Vec<_>>(),
        ["u3"]
    );
    let (prefixed, _) = db
        .run(|tx, _| list_uploads(tx, 1, "b", None, 1))
        .expect("list");
    assert_eq!((prefixed.len(), prefixed[0].upload_id.as_str()), (1, "u1"));

    db.run(|tx, _| put_part(tx, 1, "b", "u1", 1, &part(41), 9))
        .expect("part");
    db.run(|tx, _| put_part(tx, 1, "b", "u1", 2, &part(42), 9))
        .expect("part");
    db.run(|tx, _| abort(tx, 1, "b", "u1", 9)).expect("abort");
    assert_eq!(gc_ledgers(&db), [41, 42]);
    assert!(matches!(
        db.run(|tx, _| abort(tx, 1, "b", "u1", 9)),
        Err(NsError::UploadNotFound(_))
    ));
}

#[test]
fn complete_is_idempotent_under_unknown_results() {
    for seed in 0..15 {
        let (_dir, db) = faulty_db(seed);
        db.run(|tx, _| create(tx, 1, "k", "u", &upload()))
            .expect("create");
        db.run(|tx, _| put_part(tx, 1, "k", "u", 1, &part(1), 9))
            .expect("part");
        db.run(|tx, _| put_part(tx, 1, "k", "u", 2, &part(2), 9))
            .expect("part");
        let chosen = [(1u32, "\"p1\"".to_owned())];
        let r = db
            .run(|tx, _| complete(tx, 1, "k", "u", &completion(&chosen), ctx(7)))
            .expect("complete");
        assert_eq!(r.size_bytes, 101, "seed {seed}");
        assert_eq!(gc_ledgers(&db), [2], "seed {seed}");
        assert_eq!(
            db.run(|tx, _| links::count(tx, 1)).expect("count"),
            1,
            "seed {seed}"
        );
    }
}
