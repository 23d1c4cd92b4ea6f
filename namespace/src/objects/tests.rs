use super::*;
use crate::gc;
use crate::test_support::{db, faulty_db};

fn record(ledgers: &[u64], etag: &str) -> ObjectRecord {
    ObjectRecord {
        size_bytes: ledgers.len() as u64 * 10,
        etag: format!("\"{etag}\""),
        checksums: vec![Checksum {
            algorithm: ChecksumAlgorithm::Crc32c,
            value: vec![1, 2, 3, 4],
            parts: None,
        }],
        content_type: Some("text/plain".into()),
        headers: StandardHeaders {
            cache_control: Some("no-cache".into()),
            ..StandardHeaders::default()
        },
        user_metadata: BTreeMap::from([("color".into(), "blue".into())]),
        mtime_ms: 1_700_000_000_000,
        segments: ledgers
            .iter()
            .map(|&ledger_id| Segment {
                ledger_id,
                length_bytes: 10,
                entry_size_bytes: 4,
            })
            .collect(),
    }
}

fn ctx(op: u64) -> WriteContext {
    WriteContext {
        op: OpId(op),
        gc_due_ms: 500,
    }
}

fn gc_ledgers(db: &crate::Db) -> Vec<u64> {
    let mut ids: Vec<u64> = db
        .run(|tx, _| gc::due(tx, u64::MAX, 0))
        .expect("due")
        .into_iter()
        .map(|i| i.ledger_id)
        .collect();
    ids.sort_unstable();
    ids
}

fn link_count(db: &crate::Db, ledger: u64) -> u64 {
    db.run(|tx, _| links::count(tx, ledger)).expect("count")
}

#[test]
fn put_get_and_replace_queues_old_ledgers_in_the_same_transaction() {
    let (_dir, db) = db();
    let first = record(&[10, 11], "a");
    db.run(|tx, _| put(tx, 1, "k", &first, &PutCondition::Always, ctx(1)))
        .expect("put");
    assert_eq!(db.run(|tx, _| get(tx, 1, "k")).expect("get"), Some(first));
    assert_eq!(db.run(|tx, _| get(tx, 2, "k")).expect("other bucket"), None);
    assert!(gc_ledgers(&db).is_empty());

    let second = record(&[12], "b");
    db.run(|tx, _| put(tx, 1, "k", &second, &PutCondition::Always, ctx(2)))
        .expect("replace");
    assert_eq!(gc_ledgers(&db), [10, 11]);
    assert_eq!((link_count(&db, 10), link_count(&db, 12)), (0, 1));
    assert_eq!(db.run(|tx, _| get(tx, 1, "k")).expect("get"), Some(second));

    assert!(db.run(|tx, _| delete(tx, 1, "k", 500)).expect("delete"));
    assert!(
        !db.run(|tx, _| delete(tx, 1, "k", 500))
            .expect("delete again")
    );
    assert_eq!(gc_ledgers(&db), [10, 11, 12]);
    assert_eq!(db.run(|tx, _| get(tx, 1, "k")).expect("get"), None);
}

#[test]
fn conditional_puts() {
    let (_dir, db) = db();
    let r = record(&[1], "e1");
    db.run(|tx, _| put(tx, 1, "k", &r, &PutCondition::IfAbsent, ctx(1)))
        .expect("absent");
    let err = db
        .run(|tx, _| {
            put(
                tx,
                1,
                "k",
                &record(&[2], "e2"),
                &PutCondition::IfAbsent,
                ctx(2),
            )
        })
        .expect_err("present");
    assert!(matches!(err, NsError::PreconditionFailed));
    let wrong = PutCondition::IfEtagMatches("\"nope\"".into());
    assert!(matches!(
        db.run(|tx, _| put(tx, 1, "k", &record(&[2], "e2"), &wrong, ctx(3))),
        Err(NsError::PreconditionFailed)
    ));
    let right = PutCondition::IfEtagMatches("e1".into()); // unquoted form matches too
    db.run(|tx, _| put(tx, 1, "k", &record(&[2], "e2"), &right, ctx(4)))
        .expect("etag matches");
    assert!(matches!(
        db.run(|tx, _| put(tx, 1, "absent", &record(&[3], "x"), &right, ctx(5))),
        Err(NsError::PreconditionFailed)
    ));
    // The refused puts linked nothing.
    assert_eq!(link_count(&db, 3), 0);
}

#[test]
fn concurrent_conditional_puts_of_one_key_have_exactly_one_winner() {
    let (_dir, db) = db();
    let results: Vec<(u64, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=16u64)
            .map(|i| {
                let db = db.clone();
                s.spawn(move || {
                    let r = record(&[100 + i], &format!("e{i}"));
                    let res =
                        db.run(|tx, _| put(tx, 1, "race", &r, &PutCondition::IfAbsent, ctx(i)));
                    match res {
                        Ok(()) => (i, true),
                        Err(NsError::PreconditionFailed) => (i, false),
                        Err(e) => panic!("unexpected {e}"),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("join"))
            .collect()
    });
    let winners: Vec<u64> = results
        .iter()
        .filter(|(_, won)| *won)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let w = winners[0];
    let stored = db
        .run(|tx, _| get(tx, 1, "race"))
        .expect("get")
        .expect("present");
    assert_eq!(stored.etag, format!("\"e{w}\""));
    for i in 1..=16u64 {
        assert_eq!(
            link_count(&db, 100 + i),
            u64::from(i == w),
            "ledger of writer {i}"
        );
    }
}

#[test]
fn long_segment_lists_are_chunked_and_cleaned_up() {
    let (_dir, db) = db();
    let ledgers: Vec<u64> = (1..=5000).collect();
    let long = record(&ledgers, "long");
    db.run(|tx, _| put(tx, 1, "big", &long, &PutCondition::Always, ctx(1)))
        .expect("put");
    assert_eq!(db.run(|tx, _| get(tx, 1, "big")).expect("get"), Some(long));
    let chunks = db
        .run(|tx, _| {
            Ok::<_, NsError>(
                tx.get_range(
                    &keys::object_segments_of(1, "big"),
                    RangeOptions::forward(0),
                )?
                .kvs
                .len(),
            )
        })
        .expect("chunks");
    assert_eq!(chunks, 3);
    let short = record(&[9999], "short");
    db.run(|tx, _| put(tx, 1, "big", &short, &PutCondition::Always, ctx(2)))
        .expect("replace");
    assert_eq!(db.run(|tx, _| get(tx, 1, "big")).expect("get"), Some(short));
    let chunks = db
        .run(|tx, _| {
            Ok::<_, NsError>(
                tx.get_range(
                    &keys::object_segments_of(1, "big"),
                    RangeOptions::forward(0),
                )?
                .kvs
                .len(),
            )
        })
        .expect("chunks");
    assert_eq!(chunks, 0);
    assert_eq!(gc_ledgers(&db).len(), 5000);
}

#[test]
fn copy_adds_a_link_and_the_last_delete_queues_gc() {
    let (_dir, db) = db();
    db.run(|tx, _| {
        put(
            tx,
            1,
            "src",
            &record(&[7], "e"),
            &PutCondition::Always,
            ctx(1),
        )
    })
    .expect("put");
    let copied = db
        .run(|tx, _| {
            copy(
                tx,
                (1, "src"),
                (2, "dst"),
                99,
                &PutCondition::Always,
                ctx(2),
                |r| {
                    r.content_type = Some("image/png".into());
                },
            )
        })
        .expect("copy");
    assert_eq!(
        (copied.mtime_ms, copied.content_type.as_deref()),
        (99, Some("image/png"))
    );
    assert_eq!(link_count(&db, 7), 2);
    db.run(|tx, _| delete(tx, 1, "src", 500))
        .expect("delete src");
    assert!(gc_ledgers(&db).is_empty(), "the copy still links ledger 7");
    db.run(|tx, _| delete(tx, 2, "dst", 500))
        .expect("delete dst");
    assert_eq!(gc_ledgers(&db), [7]);
    let err = db
        .run(|tx, _| {
            copy(
                tx,
                (1, "src"),
                (2, "x"),
                1,
                &PutCondition::Always,
                ctx(3),
                |_| {},
            )
        })
        .expect_err("source gone");
    assert!(matches!(err, NsError::ObjectNotFound));
}

#[test]
fn puts_are_idempotent_under_unknown_results() {
    for seed in 0..20 {
        let (_dir, db) = faulty_db(seed);
        for (op, ledger) in [(1u64, 10u64), (2, 11), (3, 12)] {
            db.run(|tx, _| {
                put(
                    tx,
                    1,
                    "k",
                    &record(&[ledger], "e"),
                    &PutCondition::Always,
                    ctx(op),
                )
            })
            .expect("put");
        }
        // Each replaced ledger queued exactly once, the live one linked exactly once.
        assert_eq!(gc_ledgers(&db), [10, 11], "seed {seed}");
        assert_eq!(link_count(&db, 12), 1, "seed {seed}");
    }
}

#[test]
fn locate_maps_offsets_to_entries() {
    let mut r = record(&[1, 2], "e");
    r.segments[1].entry_size_bytes = 3;
    // Segment 0: 10 bytes in entries of 4; segment 1: 10 bytes in entries of 3.
    let at = |o| {
        r.locate(o)
            .map(|l| (l.segment, l.entry_id, l.offset_in_entry))
    };
    assert_eq!(at(0), Some((0, 0, 0)));
    assert_eq!(at(9), Some((0, 2, 1)));
    assert_eq!(at(10), Some((1, 0, 0)));
    assert_eq!(at(19), Some((1, 3, 0)));
    assert_eq!(at(20), None);
}
