//! Namespace benchmark (not a test): durable commits per second of single-object puts
//! from 1, 16 and 64 concurrent tasks, and listing throughput over 1M keys, flat and
//! with a delimiter, on the embedded store.
//!
//! Run: `cargo bench -p folio-namespace --bench namespace [-- DIR]`. DIR (default: a
//! directory under the target dir) should be on the disk under test, the same one that
//! `shared/bench/disk-limits.sh` measures. Set `FOLIO_BENCH_LIST_KEYS` to list over
//! fewer keys, `FOLIO_BENCH_PUTS_ONLY` to skip listing, and `FOLIO_BENCH_CONCURRENCY`
//! to override `Db::with_concurrency` (default 2 per core).

use folio_namespace::list::{ListRequest, list_page};
use folio_namespace::objects::{
    ObjectRecord, PutCondition, Segment, StandardHeaders, WriteContext, put,
};
use folio_namespace::{Db, EmbeddedOptions, EmbeddedStore, NsError, OpId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn record(ledger_id: u64) -> ObjectRecord {
    ObjectRecord {
        size_bytes: 1 << 20,
        etag: "\"0123456789abcdef0123456789abcdef\"".into(),
        checksums: vec![],
        content_type: Some("application/octet-stream".into()),
        headers: StandardHeaders::default(),
        user_metadata: BTreeMap::new(),
        mtime_ms: 1_700_000_000_000,
        segments: vec![Segment {
            ledger_id,
            length_bytes: 1 << 20,
            entry_size_bytes: 1 << 20,
        }],
    }
}

fn open(dir: &Path, sync_commits: bool) -> (Db, Arc<EmbeddedStore>) {
    let options = EmbeddedOptions {
        sync_commits,
        ..EmbeddedOptions::default()
    };
    let store = Arc::new(EmbeddedStore::open(dir, options).expect("open store"));
    let mut db = Db::new(store.clone());
    if let Some(n) = std::env::var("FOLIO_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        db = db.with_concurrency(n);
    }
    (db, store)
}

/// Puts from `tasks` concurrent tokio tasks for about `run_for`; returns commits/s
/// and fsyncs per commit.
async fn puts(db: &Db, store: &EmbeddedStore, tasks: u64, run_for: Duration) -> (f64, f64) {
    let before = store.commit_stats();
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while started.elapsed() < run_for {
                    let key = format!("bench/{tasks}/{t}/{n:08}");
                    let ledger = (tasks << 40) | (t << 24) | n;
                    let ctx = WriteContext {
                        op: OpId::random(),
                        gc_due_ms: 0,
                    };
                    db.transact(move |tx, _| {
                        put(tx, 1, &key, &record(ledger), &PutCondition::Always, ctx)
                    })
                    .await
                    .expect("put");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut commits = 0u64;
    for h in handles {
        commits += h.await.expect("task");
    }
    let secs = started.elapsed().as_secs_f64();
    let after = store.commit_stats();
    let fsyncs = (after.fsyncs - before.fsyncs) as f64;
    (commits as f64 / secs, fsyncs / commits.max(1) as f64)
}

fn load(db: &Db, keys: u64) {
    let batch = 5_000u64;
    for start in (0..keys).step_by(batch as usize) {
        db.run(|tx, _| {
            for i in start..(start + batch).min(keys) {
                let key = format!("dir{:04}/file{:07}", i % 1000, i);
                let ctx = WriteContext {
                    op: OpId(i),
                    gc_due_ms: 0,
                };
                put(tx, 2, &key, &record(i + 1), &PutCondition::Always, ctx)?;
            }
            Ok::<_, NsError>(())
        })
        .expect("load");
    }
}

/// Pages through the whole listing; returns (entries, seconds, pages).
fn list_all(db: &Db, delimiter: Option<&'static str>) -> (u64, f64, u64) {
    let started = Instant::now();
    let (mut entries, mut pages) = (0u64, 0u64);
    let mut marker: Option<String> = None;
    loop {
        let req_marker = marker.clone();
        let page = db
            .run(|tx, _| {
                let req = ListRequest {
                    prefix: "",
                    delimiter,
                    start_after: req_marker.as_deref(),
                    max_keys: 1000,
                };
                list_page(tx, 2, &req)
            })
            .expect("list");
        entries += page.entries.len() as u64;
        pages += 1;
        match page.next_start_after {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    (entries, started.elapsed().as_secs_f64(), pages)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let base: PathBuf = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target-ns/bench-ns"),
            PathBuf::from,
        );
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("create bench dir");
    println!("namespace benchmark in {}", base.display());

    let run_for = Duration::from_secs(5);
    for sync_commits in [true, false] {
        let dir = base.join(if sync_commits {
            "commits"
        } else {
            "commits-nosync"
        });
        let (db, store) = open(&dir, sync_commits);
        let mode = if sync_commits {
            "durable"
        } else {
            "no fsync (CPU ceiling)"
        };
        let mut serial = 0.0;
        for tasks in [1u64, 16, 64] {
            let (rate, fsyncs) = puts(&db, &store, tasks, run_for).await;
            if tasks == 1 {
                serial = rate;
            }
            println!(
                "puts  {mode}, {tasks:>2} tasks: {rate:>9.0} commits/s  {fsyncs:.3} fsyncs/commit  {:.1}x serial",
                rate / serial
            );
        }
    }
    if std::env::var_os("FOLIO_BENCH_PUTS_ONLY").is_some() {
        return;
    }

    let keys: u64 = std::env::var("FOLIO_BENCH_LIST_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (db, _store) = open(&base.join("list"), false);
    let started = Instant::now();
    load(&db, keys);
    println!(
        "load  {keys} keys: {:.1} s ({:.0} keys/s, 5000 puts per transaction)",
        started.elapsed().as_secs_f64(),
        keys as f64 / started.elapsed().as_secs_f64()
    );
    let (n, secs, pages) = list_all(&db, None);
    println!(
        "list  flat:            {n} keys in {secs:.2} s = {:>9.0} keys/s ({pages} pages of 1000)",
        n as f64 / secs
    );
    let (n, secs, pages) = list_all(&db, Some("/"));
    println!(
        "list  delimiter '/':    {n} common prefixes over {keys} keys in {secs:.3} s = {:>9.0} entries/s ({pages} pages)",
        n as f64 / secs
    );
    let started = Instant::now();
    let page = db
        .run(|tx, _| {
            let req = ListRequest {
                prefix: "dir0007/",
                delimiter: Some("/"),
                start_after: None,
                max_keys: 1000,
            };
            list_page(tx, 2, &req)
        })
        .expect("list");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "list  prefix+delimiter: {} keys of one directory in {:.2} ms = {:>9.0} keys/s",
        page.entries.len(),
        secs * 1e3,
        page.entries.len() as f64 / secs
    );
}
