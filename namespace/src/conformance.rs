//! The conformance suite: the behaviour every [`KvStore`] backend must show. Each
//! function checks one claim and panics (as a test does) when the backend breaks it.
//!
//! `tests/conformance_embedded.rs` runs it on the embedded store and
//! `tests/conformance_fdb.rs` on FoundationDB (feature `fdb`, `FDB_CLUSTER_FILE`).
//! Every test works under its own random key prefix, so the suite can share a cluster.

use crate::kv::{KeyRange, KvStore, RangeOptions, Transaction, decode_counter};
use crate::{Db, KvError, RetryPolicy};
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A backend under test.
pub trait Backend: Sync {
    /// Opens a handle on the backend's store. [`durability_across_reopen`] drops every
    /// handle it opened before opening the next, so the embedded store can reopen its
    /// directory.
    fn open(&self) -> Arc<dyn KvStore>;
}

/// One check of the suite: its name and the function that runs it.
pub type Check = (&'static str, fn(&dyn Backend));

/// Every check of the suite, in order.
pub const CHECKS: &[Check] = &[
    ("ordering_and_range_edges", ordering_and_range_edges),
    ("range_continuation", range_continuation),
    (
        "scan_pages_across_transactions",
        scan_pages_across_transactions,
    ),
    ("prefix_ranges", prefix_ranges),
    ("read_your_writes_and_clears", read_your_writes_and_clears),
    ("write_skew_is_impossible", write_skew_is_impossible),
    ("phantoms_conflict", phantoms_conflict),
    ("disjoint_transactions_commit", disjoint_transactions_commit),
    ("retries_resolve_conflicts", retries_resolve_conflicts),
    ("retry_limit_and_errors", retry_limit_and_errors),
    ("atomic_add_under_concurrency", atomic_add_under_concurrency),
    ("limits_are_enforced", limits_are_enforced),
    ("durability_across_reopen", durability_across_reopen),
];

fn scope() -> Vec<u8> {
    let mut p = vec![0xFE];
    p.extend_from_slice(&rand::rng().random::<u64>().to_be_bytes());
    p
}

fn key(scope: &[u8], suffix: &[u8]) -> Vec<u8> {
    [scope, suffix].concat()
}

fn commit_set(store: &dyn KvStore, pairs: &[(Vec<u8>, Vec<u8>)]) {
    let mut tx = store.begin().expect("begin");
    for (k, v) in pairs {
        tx.set(k, v).expect("set");
    }
    tx.commit().expect("commit");
}

fn keys_of(tx: &mut dyn Transaction, range: &KeyRange, opts: RangeOptions) -> Vec<Vec<u8>> {
    let chunk = tx.get_range(range, opts).expect("get_range");
    chunk.kvs.into_iter().map(|kv| kv.key).collect()
}

/// Keys come back in byte order, forward and reverse; `begin` is included, `end`
/// excluded; limits cut the result and set `more`.
pub fn ordering_and_range_edges(backend: &dyn Backend) {
    let store = backend.open();
    let s = scope();
    let suffixes: [&[u8]; 8] = [
        b"b",
        b"\x00",
        b"a",
        b"\xff",
        b"ab",
        b"\x00\x00",
        b"a\x00",
        b"\x01",
    ];
    let pairs: Vec<_> = suffixes.iter().map(|x| (key(&s, x), x.to_vec())).collect();
    commit_set(&*store, &pairs);
    let mut sorted: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| k.clone()).collect();
    sorted.sort();

    let mut tx = store.begin().expect("begin");
    let all = KeyRange::prefix(&s);
    assert_eq!(keys_of(&mut *tx, &all, RangeOptions::forward(0)), sorted);
    let mut reversed = sorted.clone();
    reversed.reverse();
    assert_eq!(keys_of(&mut *tx, &all, RangeOptions::reverse(0)), reversed);

    let edges = KeyRange::new(key(&s, b"\x00\x00"), key(&s, b"ab"));
    let inside: Vec<_> = sorted
        .iter()
        .filter(|k| edges.contains(k))
        .cloned()
        .collect();
    assert_eq!(
        inside.first(),
        Some(&key(&s, b"\x00\x00")),
        "begin is included"
    );
    assert!(!inside.contains(&key(&s, b"ab")), "end is excluded");
    assert_eq!(keys_of(&mut *tx, &edges, RangeOptions::forward(0)), inside);

    let chunk = tx.get_range(&all, RangeOptions::forward(3)).expect("range");
    assert_eq!(chunk.kvs.len(), 3);
    assert!(chunk.more);
    assert_eq!(
        chunk.kvs[0].value,
        b"\x00".to_vec(),
        "values come with keys"
    );
    let chunk = tx.get_range(&all, RangeOptions::reverse(2)).expect("range");
    assert_eq!(
        chunk
            .kvs
            .iter()
            .map(|kv| kv.key.clone())
            .collect::<Vec<_>>(),
        reversed[..2]
    );
    assert!(chunk.more);
    let chunk = tx
        .get_range(&all, RangeOptions::forward(sorted.len()))
        .expect("range");
    assert!(!chunk.more, "no more past the last key");

    let empty = KeyRange::new(key(&s, b"a"), key(&s, b"a"));
    assert!(
        tx.get_range(&empty, RangeOptions::forward(0))
            .expect("empty")
            .kvs
            .is_empty()
    );
    let backwards = KeyRange::new(key(&s, b"b"), key(&s, b"a"));
    assert!(tx.get_range(&backwards, RangeOptions::forward(0)).is_err());
}

/// Paging a range with the continuation of each chunk visits every key once, in
/// both directions.
pub fn range_continuation(backend: &dyn Backend) {
    let store = backend.open();
    let s = scope();
    let pairs: Vec<_> = (0u16..50)
        .map(|i| (key(&s, &i.to_be_bytes()), vec![]))
        .collect();
    commit_set(&*store, &pairs);
    let expected: Vec<Vec<u8>> = pairs.into_iter().map(|(k, _)| k).collect();
    for reverse in [false, true] {
        let mut tx = store.begin().expect("begin");
        let mut range = KeyRange::prefix(&s);
        let mut seen = Vec::new();
        loop {
            let opts = RangeOptions { limit: 7, reverse };
            let chunk = tx.get_range(&range, opts).expect("range");
            seen.extend(chunk.kvs.iter().map(|kv| kv.key.clone()));
            match chunk.continuation(&range, reverse) {
                Some(next) => range = next,
                None => break,
            }
        }
        let mut want = expected.clone();
        if reverse {
            want.reverse();
        }
        assert_eq!(seen, want, "reverse={reverse}");
    }
}

/// [`Db::scan`] visits every key once across page-sized transactions, and stops when
/// told to.
pub fn scan_pages_across_transactions(backend: &dyn Backend) {
    let db = Db::new(backend.open());
    let s = scope();
    for batch in 0u16..5 {
        db.run(|tx, _| {
            for i in batch * 50..(batch + 1) * 50 {
                tx.set(&key(&s, &i.to_be_bytes()), &[])?;
            }
            Ok::<_, KvError>(())
        })
        .expect("write");
    }
    let mut seen = Vec::new();
    db.scan(&KeyRange::prefix(&s), 40, |kv| {
        seen.push(kv.key.clone());
        true
    })
    .expect("scan");
    let want: Vec<Vec<u8>> = (0u16..250).map(|i| key(&s, &i.to_be_bytes())).collect();
    assert_eq!(seen, want);
    let mut n = 0;
    db.scan(&KeyRange::prefix(&s), 40, |_| {
        n += 1;
        n < 45
    })
    .expect("scan");
    assert_eq!(n, 45);
}

/// A prefix range holds exactly the keys that start with the prefix, including
/// prefixes ending in `0xFF`.
pub fn prefix_ranges(backend: &dyn Backend) {
    let store = backend.open();
    let s = scope();
    let suffixes: [&[u8]; 7] = [
        b"a",
        b"a\xff",
        b"a\xff\x00",
        b"a\xff\xff",
        b"b",
        b"`",
        b"a\x00",
    ];
    let pairs: Vec<_> = suffixes.iter().map(|x| (key(&s, x), vec![])).collect();
    commit_set(&*store, &pairs);
    let mut tx = store.begin().expect("begin");
    for prefix in [&b"a"[..], b"a\xff", b"a\xff\xff", b"c"] {
        let p = key(&s, prefix);
        let mut want: Vec<_> = pairs
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| k.starts_with(&p))
            .collect();
        want.sort();
        assert_eq!(
            keys_of(&mut *tx, &KeyRange::prefix(&p), RangeOptions::forward(0)),
            want
        );
    }
}

/// A transaction reads its own writes, clears and range clears; other transactions
/// see them only after commit.
pub fn read_your_writes_and_clears(backend: &dyn Backend) {
    let store = backend.open();
    let s = scope();
    let pairs: Vec<_> = (0u8..10).map(|i| (key(&s, &[i]), vec![i])).collect();
    commit_set(&*store, &pairs);

    let mut tx = store.begin().expect("begin");
    tx.set(&key(&s, b"new"), b"v").expect("set");
    assert_eq!(tx.get(&key(&s, b"new")).expect("get"), Some(b"v".to_vec()));
    tx.clear(&key(&s, &[0])).expect("clear");
    assert_eq!(tx.get(&key(&s, &[0])).expect("get"), None);
    tx.clear_range(&KeyRange::new(key(&s, &[3]), key(&s, &[6])))
        .expect("clear_range");
    let mut other = store.begin().expect("begin");
    assert_eq!(
        other.get(&key(&s, &[4])).expect("get"),
        Some(vec![4]),
        "uncommitted clear is invisible"
    );
    assert_eq!(
        other.get(&key(&s, b"new")).expect("get"),
        None,
        "uncommitted set is invisible"
    );
    drop(other);
    tx.commit().expect("commit");

    let mut tx = store.begin().expect("begin");
    let left: Vec<_> = keys_of(&mut *tx, &KeyRange::prefix(&s), RangeOptions::forward(0));
    let mut want: Vec<_> = [1u8, 2, 6, 7, 8, 9]
        .iter()
        .map(|i| key(&s, &[*i]))
        .collect();
    want.push(key(&s, b"new"));
    assert_eq!(left, want);
}

/// Classic write skew: two transactions read x and y, one writes x, the other y.
/// Serializability lets at most one of them commit.
pub fn write_skew_is_impossible(backend: &dyn Backend) {
    let store = backend.open();
    let s = scope();
    let (x, y) = (key(&s, b"x"), key(&s, b"y"));
    commit_set(
        &*store,
        &[(x.clone(), b"1".to_vec()), (y.clone(), b"1".to_vec())],
    );
    let mut t1 = store.begin().expect("begin");
    let mut t2 = store.begin().expect("begin");
    for t in [&mut t1, &mut t2] {
        assert!(t.get(&x).expect("get").is_some());
        assert!(t.get(&y).expect("get").is_some());
    }
    t1.set(&x, b"0").expect("set");
    t2.set(&y, b"0").expect("set");
    t1.commit().expect("first commit succeeds");
    let err = t2.commit().expect_err("second must conflict");
    assert!(matches!(err, KvError::Conflict), "{err}");
    let mut tx = store.begin().expect("begin");
    assert_eq!(
        tx.get(&y).expect("get"),
        Some(b"1".to_vec()),
        "the loser wrote nothing"
    );
}

/// A key inserted into a range that a transaction read conflicts with it.
pub fn phantoms_conflict(backend: &dyn Backend) {
    let store = backend.open();
    let s = scope();
    commit_set(&*store, &[(key(&s, b"a"), vec![])]);
    let mut t1 = store.begin().expect("begin");
    let n = keys_of(
        &mut *t1,
        &KeyRange::prefix(&key(&s, b"r")),
        RangeOptions::forward(0),
    )
    .len();
    assert_eq!(n, 0);
    let mut t2 = store.begin().expect("begin");
    t2.set(&key(&s, b"r1"), b"").expect("set");
    t2.commit().expect("commit");
    t1.set(&key(&s, b"count"), &[0]).expect("set");
    assert!(matches!(t1.commit(), Err(KvError::Conflict)));
}

/// Transactions that touch different keys both commit.
pub fn disjoint_transactions_commit(backend: &dyn Backend) {
    let store = backend.open();
    let s = scope();
    let mut t1 = store.begin().expect("begin");
    let mut t2 = store.begin().expect("begin");
    assert!(t1.get(&key(&s, b"p")).expect("get").is_none());
    assert!(t2.get(&key(&s, b"q")).expect("get").is_none());
    t1.set(&key(&s, b"p"), b"1").expect("set");
    t2.set(&key(&s, b"q"), b"1").expect("set");
    t1.commit().expect("commit p");
    t2.commit().expect("commit q");
}

/// Read-modify-write increments from many threads through [`Db::run`]: conflicts are
/// detected and retried, and no increment is lost.
pub fn retries_resolve_conflicts(backend: &dyn Backend) {
    let db = Db::new(backend.open()).with_policy(RetryPolicy {
        max_attempts: 1000,
        ..RetryPolicy::default()
    });
    let counter = key(&scope(), b"n");
    let (threads, per_thread) = (8u64, 25u64);
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| {
                for _ in 0..per_thread {
                    db.run(|tx, _| {
                        let n = tx.get(&counter)?.map_or(0, |v| decode_counter(&v));
                        tx.set(&counter, &(n + 1).to_le_bytes())
                    })
                    .expect("increment");
                }
            });
        }
    });
    let n = db
        .run(|tx, _| tx.get(&counter))
        .expect("read")
        .map(|v| decode_counter(&v));
    assert_eq!(n, Some((threads * per_thread) as i64));
}

/// [`Db::run`] gives up after the policy's attempts, and passes non-retryable errors
/// through at once.
pub fn retry_limit_and_errors(backend: &dyn Backend) {
    let db = Db::new(backend.open()).with_policy(RetryPolicy {
        max_attempts: 3,
        timeout: Duration::from_secs(10),
        ..RetryPolicy::default()
    });
    let calls = AtomicU32::new(0);
    let err = db
        .run(|_, _| -> Result<(), KvError> {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(KvError::Conflict)
        })
        .expect_err("always conflicts");
    assert!(
        matches!(err, KvError::RetryLimitReached { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    calls.store(0, Ordering::SeqCst);
    let err = db
        .run(|_, _| -> Result<(), KvError> {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(KvError::InvalidArgument("not retryable"))
        })
        .expect_err("fails");
    assert!(matches!(err, KvError::InvalidArgument(_)));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let seen_maybe = db
        .run(|_, attempt| {
            if attempt.number == 0 {
                Err(KvError::CommitUnknownResult)
            } else {
                Ok(attempt.maybe_committed)
            }
        })
        .expect("second attempt succeeds");
    assert!(seen_maybe, "the retry after an unknown result is told so");
}

/// Concurrent atomic adds (positive and negative) lose nothing.
pub fn atomic_add_under_concurrency(backend: &dyn Backend) {
    let db = Db::new(backend.open()).with_policy(RetryPolicy {
        max_attempts: 1000,
        ..RetryPolicy::default()
    });
    let counter = key(&scope(), b"c");
    std::thread::scope(|sc| {
        for t in 0..8i64 {
            let (db, counter) = (&db, &counter);
            sc.spawn(move || {
                for _ in 0..25 {
                    let delta = if t % 2 == 0 { 3 } else { -1 };
                    db.run(|tx, _| tx.atomic_add(counter, delta)).expect("add");
                }
            });
        }
    });
    let v = db
        .run(|tx, _| tx.get(&counter))
        .expect("read")
        .expect("present");
    assert_eq!(decode_counter(&v), 4 * 25 * 3 - 4 * 25);
    // Adding reads back inside the same transaction.
    let inside = db
        .run(|tx, _| {
            tx.atomic_add(&counter, 10)?;
            tx.get(&counter)
        })
        .expect("add and read")
        .map(|v| decode_counter(&v));
    assert_eq!(inside, Some(210));
}

/// Keys, values and transactions over FoundationDB's limits are refused.
pub fn limits_are_enforced(backend: &dyn Backend) {
    let store = backend.open();
    let s = scope();
    let mut tx = store.begin().expect("begin");
    let big_key = key(&s, &vec![b'k'; crate::kv::MAX_KEY_BYTES + 1]);
    assert!(matches!(
        tx.set(&big_key, b""),
        Err(KvError::KeyTooLarge { .. })
    ));
    let big_value = vec![0u8; crate::kv::MAX_VALUE_BYTES + 1];
    assert!(matches!(
        tx.set(&key(&s, b"v"), &big_value),
        Err(KvError::ValueTooLarge { .. })
    ));
    let value = vec![0u8; crate::kv::MAX_VALUE_BYTES];
    let mut result = Ok(());
    for i in 0u32..120 {
        result = tx.set(&key(&s, &i.to_be_bytes()), &value);
        if result.is_err() {
            break;
        }
    }
    assert!(
        matches!(result, Err(KvError::TransactionTooLarge { .. })),
        "{result:?}"
    );
}

/// What a commit wrote is there after the store is closed and opened again.
pub fn durability_across_reopen(backend: &dyn Backend) {
    let s = scope();
    {
        let db = Db::new(backend.open());
        for i in 0u32..100 {
            db.run(|tx, _| tx.set(&key(&s, &i.to_be_bytes()), &i.to_le_bytes()))
                .expect("write");
        }
        db.run(|tx, _| tx.clear(&key(&s, &7u32.to_be_bytes())))
            .expect("clear");
    }
    let store = backend.open();
    let mut tx = store.begin().expect("begin");
    let chunk = tx
        .get_range(&KeyRange::prefix(&s), RangeOptions::forward(0))
        .expect("range");
    assert_eq!(chunk.kvs.len(), 99);
    for kv in chunk.kvs {
        let i = u32::from_be_bytes(kv.key[s.len()..].try_into().expect("4 bytes"));
        assert_ne!(i, 7);
        assert_eq!(kv.value, i.to_le_bytes());
    }
}
