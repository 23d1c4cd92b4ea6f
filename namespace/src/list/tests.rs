use super::*;
use crate::kv::{KvStore, RangeChunk, Transaction};
use crate::objects::{ObjectRecord, PutCondition, StandardHeaders, WriteContext, put};
use crate::test_support::db;
use crate::{Db, KvError, OpId};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

fn record(size: u64) -> ObjectRecord {
    ObjectRecord {
        size_bytes: size,
        etag: "\"e\"".into(),
        checksums: vec![],
        content_type: None,
        headers: StandardHeaders::default(),
        user_metadata: BTreeMap::new(),
        mtime_ms: 1,
        segments: vec![],
    }
}

fn insert(db: &Db, bucket_id: u64, keys: &[String]) {
    for batch in keys.chunks(2000) {
        db.run(|tx, _| {
            for k in batch {
                let ctx = WriteContext {
                    op: OpId(0),
                    gc_due_ms: 0,
                };
                put(
                    tx,
                    bucket_id,
                    k,
                    &record(k.len() as u64),
                    &PutCondition::Always,
                    ctx,
                )?;
            }
            Ok::<_, NsError>(())
        })
        .expect("insert");
    }
}

fn names(page: &ListPage) -> Vec<String> {
    page.entries.iter().map(|e| e.name().to_owned()).collect()
}

/// The naive model: walk every key, collapse, drop the marker, cut at max_keys.
fn model(keys: &BTreeSet<String>, req: &ListRequest<'_>) -> (Vec<String>, Option<String>) {
    let mut entries: Vec<String> = Vec::new();
    for k in keys {
        if !k.starts_with(req.prefix) || req.start_after.is_some_and(|m| k.as_str() <= m) {
            continue;
        }
        let rest = &k[req.prefix.len()..];
        let name = match req.delimiter.and_then(|d| rest.find(d).map(|i| (i, d))) {
            Some((i, d)) => k[..req.prefix.len() + i + d.len()].to_owned(),
            None => k.clone(),
        };
        if Some(name.as_str()) == req.start_after || entries.last() == Some(&name) {
            continue;
        }
        entries.push(name);
    }
    let max = req.max_keys;
    if entries.len() > max {
        entries.truncate(max);
        let next = entries.last().cloned();
        (entries, next)
    } else {
        (entries, None)
    }
}

#[test]
fn aws_documentation_example() {
    let (_dir, db) = db();
    let keys: Vec<String> = [
        "sample.jpg",
        "photos/2006/January/sample.jpg",
        "photos/2006/February/sample2.jpg",
        "photos/2006/February/sample3.jpg",
        "photos/2006/February/sample4.jpg",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    insert(&db, 1, &keys);
    let req = ListRequest {
        prefix: "",
        delimiter: Some("/"),
        start_after: None,
        max_keys: 1000,
    };
    let page = db.run(|tx, _| list_page(tx, 1, &req)).expect("list");
    assert_eq!(names(&page), ["photos/", "sample.jpg"]);
    assert!(matches!(page.entries[0], ListEntry::CommonPrefix(_)));
    match &page.entries[1] {
        ListEntry::Object(o) => assert_eq!((o.size_bytes, o.etag.as_str()), (10, "\"e\"")),
        other => panic!("expected an object, got {other:?}"),
    }
    let req = ListRequest {
        prefix: "photos/2006/",
        delimiter: Some("/"),
        start_after: None,
        max_keys: 1000,
    };
    let page = db.run(|tx, _| list_page(tx, 1, &req)).expect("list");
    assert_eq!(
        names(&page),
        ["photos/2006/February/", "photos/2006/January/"]
    );
    let req = ListRequest {
        prefix: "photos/",
        delimiter: None,
        start_after: None,
        max_keys: 2,
    };
    let page = db.run(|tx, _| list_page(tx, 1, &req)).expect("list");
    assert_eq!(
        page.next_start_after.as_deref(),
        Some("photos/2006/February/sample3.jpg")
    );
    let req = ListRequest {
        start_after: page.next_start_after.as_deref(),
        ..req
    };
    let page = db.run(|tx, _| list_page(tx, 1, &req)).expect("list");
    assert_eq!(
        names(&page),
        [
            "photos/2006/February/sample4.jpg",
            "photos/2006/January/sample.jpg"
        ]
    );
    assert_eq!(page.next_start_after, None);
    // Other buckets do not leak in.
    let page = db
        .run(|tx, _| {
            list_page(
                tx,
                2,
                &ListRequest {
                    max_keys: 10,
                    ..req
                },
            )
        })
        .expect("list");
    assert!(page.entries.is_empty());
}

/// Counts the pairs that range reads return.
struct Counting<'a> {
    inner: Box<dyn Transaction + 'a>,
    read: &'a AtomicUsize,
}

impl Transaction for Counting<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.inner.get(key)
    }
    fn get_range(&mut self, range: &KeyRange, opts: RangeOptions) -> Result<RangeChunk, KvError> {
        let chunk = self.inner.get_range(range, opts)?;
        self.read.fetch_add(chunk.kvs.len(), Ordering::SeqCst);
        Ok(chunk)
    }
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.inner.set(key, value)
    }
    fn clear(&mut self, key: &[u8]) -> Result<(), KvError> {
        self.inner.clear(key)
    }
    fn clear_range(&mut self, range: &KeyRange) -> Result<(), KvError> {
        self.inner.clear_range(range)
    }
    fn atomic_add(&mut self, key: &[u8], delta: i64) -> Result<(), KvError> {
        self.inner.atomic_add(key, delta)
    }
    fn commit(self: Box<Self>) -> Result<(), KvError> {
        self.inner.commit()
    }
}

#[test]
fn common_prefixes_are_skipped_not_scanned() {
    let (_dir, db) = db();
    let mut keys: Vec<String> = (0..20_000).map(|i| format!("big/{i:06}")).collect();
    keys.extend([
        "a".to_owned(),
        "big0".to_owned(),
        "huge/x/y".to_owned(),
        "z".to_owned(),
    ]);
    insert(&db, 1, &keys);
    let read = AtomicUsize::new(0);
    let store: &dyn KvStore = &**db.store();
    let mut tx = Counting {
        inner: store.begin().expect("begin"),
        read: &read,
    };
    let req = ListRequest {
        prefix: "",
        delimiter: Some("/"),
        start_after: None,
        max_keys: 1000,
    };
    let page = list_page(&mut tx, 1, &req).expect("list");
    assert_eq!(names(&page), ["a", "big/", "big0", "huge/", "z"]);
    assert!(
        read.load(Ordering::SeqCst) < 100,
        "read {} pairs",
        read.load(Ordering::SeqCst)
    );
}

const KEY_COUNT: usize = 100_000;

/// 100k keys of up to four `/`-separated components, inserted once for all cases.
fn dataset() -> &'static (tempfile::TempDir, Db, BTreeSet<String>) {
    static DATA: OnceLock<(tempfile::TempDir, Db, BTreeSet<String>)> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(42);
        let mut keys = BTreeSet::new();
        let parts = ["a", "b", "c", "ab", "b.", "x", "é", "a b"];
        while keys.len() < KEY_COUNT {
            let depth = rng.random_range(1..=4);
            let mut k: Vec<String> = (0..depth)
                .map(|_| parts[rng.random_range(0..parts.len())].to_owned())
                .collect();
            k.push(format!("{}", rng.random_range(0..60)));
            let sep = if rng.random_bool(0.9) { "/" } else { "" };
            keys.insert(k.join(sep));
        }
        let (dir, db) = db();
        insert(&db, 1, &keys.iter().cloned().collect::<Vec<_>>());
        (dir, db, keys)
    })
}

fn prefixes() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[abcx/]{1,4}",
        "(a|b|c|ab|é)/(a|b|x)/?"
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn listing_matches_a_naive_model_over_100k_keys(
        prefix in prefixes(),
        delimiter in prop_oneof![Just(None), Just(Some("/")), Just(Some("b")), Just(Some("/a"))],
        start_after in prop_oneof![Just(None), "[abcx/0-9]{0,6}".prop_map(Some)],
        max_keys in prop_oneof![1usize..5, 5usize..200, Just(1000), Just(5000)],
    ) {
        let (_dir, db, keys) = dataset();
        let mut marker = start_after;
        for _page in 0..4 {
            let req = ListRequest { prefix: &prefix, delimiter, start_after: marker.as_deref(), max_keys };
            let page = db.run(|tx, _| list_page(tx, 1, &req)).expect("list");
            let (want, want_next) = model(keys, &ListRequest { max_keys: max_keys.min(MAX_KEYS_LIMIT), ..req });
            prop_assert_eq!(names(&page), want);
            prop_assert_eq!(&page.next_start_after, &want_next);
            match want_next {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
    }
}

#[test]
fn full_walks_with_a_delimiter_visit_every_entry_once() {
    let (_dir, db, keys) = dataset();
    for (prefix, delimiter) in [
        ("", Some("/")),
        ("a/", Some("/")),
        ("b", Some("/")),
        ("c/", None),
    ] {
        let full = model(
            keys,
            &ListRequest {
                prefix,
                delimiter,
                start_after: None,
                max_keys: usize::MAX,
            },
        )
        .0;
        let mut seen = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = ListRequest {
                prefix,
                delimiter,
                start_after: marker.as_deref(),
                max_keys: 37,
            };
            let page = db.run(|tx, _| list_page(tx, 1, &req)).expect("list");
            seen.extend(names(&page));
            match page.next_start_after {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        assert_eq!(
            seen.len(),
            full.len(),
            "prefix {prefix:?} delimiter {delimiter:?}"
        );
        assert!(
            seen == full,
            "prefix {prefix:?} delimiter {delimiter:?}: walk differs from model"
        );
    }
}
