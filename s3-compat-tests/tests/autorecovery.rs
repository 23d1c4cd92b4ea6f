//! Auto-recovery end to end, on real processes: `folio gateway` (embedded namespace,
//! auto-recovery on with short delays) in front of separate `folio bookie` processes,
//! objects written with aws-sdk-s3, bookies killed with `kill -9`, and the admin CLI
//! (`folio bookie info|scrub|decommission`, `folio urep ls`) watching the repair.
//!
//! - A bookie that dies for good: every ledger is back at 3 replicas on the survivors
//!   within a bounded time, and a second bookie can then die with every object still
//!   readable.
//! - A decommissioned bookie is drained, reported safe to remove, and can then go.
//! - Bytes flipped in one bookie's entry log: the scrubber finds the copy, the auditor
//!   marks the ledger, the worker repairs it in place, and a new scrub pass is clean.
//! - Objects written and deleted in a loop: GC deletes their ledgers, the bookies
//!   delete and compact their entry logs, disk use stays bounded by the live data,
//!   and every live object reads back.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use common::{client, folio_json, folio_ok, pattern};
use folio_s3_compat_tests::{ADMIN_TOKEN, BookieProcess, Server};
use serde_json::Value;

/// How long any repair may take before the test fails.
const REPAIR_BOUND: Duration = Duration::from_secs(240);

/// Starts `folio gateway` over `bookies` with E=3, Qw=3, Qa=2, 64 KiB entries and
/// auto-recovery tuned to react in seconds.
fn gateway(bookies: &[BookieProcess]) -> Server {
    gateway_with(bookies, &[])
}

/// [`gateway`] with `extra` flags.
fn gateway_with(bookies: &[BookieProcess], extra: &[&str]) -> Server {
    let fast = [
        "--autorecovery-lost-bookie-delay",
        "2s",
        "--autorecovery-audit-interval",
        "1s",
        "--autorecovery-probe-interval",
        "1s",
        "--autorecovery-poll-interval",
        "1s",
        "--autorecovery-check-interval",
        "1s",
    ];
    let all: Vec<&str> = fast.iter().chain(extra).copied().collect();
    Server::start_gateway(bookies, &all)
}

/// Object `i`'s bytes: 0 to ~200 KiB, so objects span one to four entries.
fn object(i: usize) -> Vec<u8> {
    pattern((i * 7919) % 200_000 + 1, i as u64)
}

async fn put_objects(s3: &Client, bucket: &str, n: usize) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
    for i in 0..n {
        s3.put_object()
            .bucket(bucket)
            .key(format!("obj-{i:03}"))
            .body(ByteStream::from(object(i)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put obj-{i:03}: {e:?}"));
    }
}

async fn check_objects(s3: &Client, bucket: &str, n: usize) {
    for i in 0..n {
        let key = format!("obj-{i:03}");
        let got = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {key}: {e:?}"))
            .body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("read {key}: {e:?}"))
            .into_bytes();
        assert!(
            got.as_ref() == object(i).as_slice(),
            "{key} reads back whole"
        );
    }
}

/// Polls `check` every 500 ms until it returns `Some`, failing after `bound`.
fn wait_for<T>(what: &str, bound: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(t) = check() {
            return t;
        }
        assert!(started.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn bookie_info(server: &Server, addr: &str) -> Value {
    folio_json(server, &["bookie", "info", addr])
}

/// Ledgers whose ensembles name `addr`, if the server's scan saw every ledger.
fn ledgers_on(server: &Server, addr: &str) -> Option<u64> {
    let b = bookie_info(server, addr);
    (b["ledgers_complete"] == Value::Bool(true)).then(|| b["ledgers"].as_u64().expect("count"))
}

fn urep_len(server: &Server) -> usize {
    folio_json(server, &["urep", "ls"])["ledgers"]
        .as_array()
        .expect("ledgers")
        .len()
}

fn ledger_count(server: &Server) -> u64 {
    folio_json(server, &["ledger", "ls"])["ledgers"]
        .as_array()
        .expect("ledgers")
        .len() as u64
}

/// Waits until the prober has registered every bookie as read-write.
fn wait_registered(server: &Server, n: usize) {
    wait_for(
        "every bookie registered rw",
        Duration::from_secs(60),
        || {
            let all = folio_json(server, &["bookie", "ls"]);
            let rw = all["bookies"]
                .as_array()
                .expect("bookies")
                .iter()
                .filter(|b| b["registered"] == Value::Bool(true) && b["state"] == "rw")
                .count();
            (rw == n).then_some(())
        },
    );
}

async fn metric(server: &Server, name: &str) -> f64 {
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", server.admin_endpoint()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .filter(|l| l.split([' ', '{']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_bookie_is_replaced_and_a_second_loss_loses_nothing() {
    let mut bookies: Vec<BookieProcess> = (0..4)
        .map(|i| BookieProcess::start(&format!("ar-lost-{i}")))
        .collect();
    let server = gateway(&bookies);
    let s3 = client(&server);
    wait_registered(&server, 4);
    const OBJECTS: usize = 200;
    put_objects(&s3, "survive", OBJECTS).await;
    let ledgers = ledger_count(&server);
    assert_eq!(ledgers, OBJECTS as u64, "one ledger per object");

    let victim = bookies[0].addr().to_string();
    let held = ledgers_on(&server, &victim).expect("complete scan");
    assert!(held > 0, "the victim holds ledgers");
    bookies[0].kill();

    // Every ledger that named the victim names a survivor instead, and the queue
    // drains.
    wait_for(
        "the lost bookie's ledgers re-replicated",
        REPAIR_BOUND,
        || (ledgers_on(&server, &victim) == Some(0) && urep_len(&server) == 0).then_some(()),
    );
    for survivor in &bookies[1..] {
        assert_eq!(
            ledgers_on(&server, &survivor.addr().to_string()),
            Some(ledgers),
            "with 3 bookies left and E=3, every ledger is on {}",
            survivor.addr()
        );
    }
    assert_eq!(
        bookie_info(&server, &victim)["state"],
        "down",
        "the killed bookie reads as down"
    );
    assert!(metric(&server, "folio_autorecovery_ledgers_repaired_total").await >= held as f64);
    assert!(metric(&server, "folio_autorecovery_replicated_bytes_total").await > 0.0);

    // A second loss: every object still has two copies.
    bookies[1].kill();
    check_objects(&s3, "survive", OBJECTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decommissioned_bookie_is_drained_and_safe_to_remove() {
    let mut bookies: Vec<BookieProcess> = (0..4)
        .map(|i| BookieProcess::start(&format!("ar-decom-{i}")))
        .collect();
    let server = gateway(&bookies);
    let s3 = client(&server);
    wait_registered(&server, 4);
    const OBJECTS: usize = 30;
    put_objects(&s3, "drain", OBJECTS).await;
    let leaving = bookies[2].addr().to_string();
    assert!(ledgers_on(&server, &leaving).expect("complete") > 0);

    let out = folio_ok(
        &server,
        &["bookie", "decommission", &leaving, "--timeout", "240s"],
    );
    assert!(out.contains("safe to remove"), "{out}");
    let info = bookie_info(&server, &leaving);
    assert_eq!(info["state"], "decommissioned");
    assert_eq!(info["ledgers"], 0);
    assert_eq!(urep_len(&server), 0);

    // New objects avoid it too.
    s3.put_object()
        .bucket("drain")
        .key("after")
        .body(ByteStream::from(object(7)))
        .send()
        .await
        .expect("put after decommission");
    assert_eq!(ledgers_on(&server, &leaving), Some(0));

    // It and one more bookie go: every object is still readable.
    bookies[2].kill();
    bookies[0].kill();
    check_objects(&s3, "drain", OBJECTS).await;
}

/// The entry-log files of a bookie's data directory.
fn entry_logs(dir: &Path) -> Vec<PathBuf> {
    let Ok(list) = std::fs::read_dir(dir.join("ledgers")) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = list
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    out.sort();
    out
}

fn scrub_report(server: &Server, addr: &str) -> Value {
    folio_json(server, &["bookie", "scrub", addr, "--timeout", "120s"])
}

fn corrupt_of(report: &Value) -> Vec<(u64, u64)> {
    report["corrupt"]
        .as_array()
        .expect("corrupt")
        .iter()
        .map(|p| {
            (
                p[0].as_u64().expect("ledger"),
                p[1].as_u64().expect("entry"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_copy_is_found_by_the_scrubber_and_repaired_in_place() {
    let bookies: Vec<BookieProcess> = (0..3)
        .map(|i| {
            BookieProcess::start_with(
                &format!("ar-scrub-{i}"),
                &["--checkpoint-interval", "200ms"],
            )
        })
        .collect();
    let server = gateway(&bookies);
    let s3 = client(&server);
    wait_registered(&server, 3);
    const OBJECTS: usize = 5;
    put_objects(&s3, "scrub", OBJECTS).await;

    let target = &bookies[1];
    let addr = target.addr().to_string();
    // Entries reach the entry log at the next checkpoint.
    let flipped = wait_for("an entry in the entry log", Duration::from_secs(60), || {
        folio_bookie::fault::corrupt_any_stored_entry(target.data_dir())
            .expect("read the entry logs")
    });

    // The scrubber finds exactly that copy. (The auditor may repair it as soon as it
    // reads the report, so the first pass is the one that must list it.)
    let report = scrub_report(&server, &addr);
    let found = corrupt_of(&report);
    let repaired_already = found.is_empty()
        && metric(&server, "folio_autorecovery_ledgers_repaired_total").await >= 1.0;
    assert!(
        found == vec![flipped] || repaired_already,
        "scrub found {found:?}, flipped {flipped:?}"
    );

    // The auditor marks the ledger, the worker re-adds the good bytes, and the
    // corrupt set empties.
    wait_for("the corrupt copy repaired", REPAIR_BOUND, || {
        let now = folio_json(&server, &["bookie", "scrub", &addr, "--no-wait"]);
        assert_eq!(now["started"], true);
        let report = scrub_report(&server, &addr);
        (corrupt_of(&report).is_empty() && urep_len(&server) == 0).then_some(())
    });
    assert!(metric(&server, "folio_autorecovery_ledgers_repaired_total").await >= 1.0);
    check_objects(&s3, "scrub", OBJECTS).await;
}

/// Bytes of entry-log files under a bookie's data directory.
fn entry_log_bytes(dir: &Path) -> u64 {
    entry_logs(dir)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_objects_give_their_space_back() {
    const LOG_BYTES: u64 = 256 << 10;
    let bookies: Vec<BookieProcess> = (0..3)
        .map(|i| {
            BookieProcess::start_with(
                &format!("space-{i}"),
                &[
                    "--gc-interval-secs",
                    "1",
                    "--compaction-threshold",
                    "0.8",
                    "--compaction-rate-bytes-per-sec",
                    "0",
                    "--entry-log-file-size",
                    "256KiB",
                    "--checkpoint-interval",
                    "200ms",
                ],
            )
        })
        .collect();
    let server = gateway_with(
        &bookies,
        &["--gc-interval", "1s", "--gc-unlinked-grace", "1s"],
    );
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("churn")
        .send()
        .await
        .expect("create bucket");
    const ROUNDS: usize = 8;
    const PER_ROUND: usize = 10;
    let body = |round: usize, i: usize| pattern(60_000 + i * 7_000, (round * 100 + i) as u64);
    let mut written = 0u64;
    for round in 0..ROUNDS {
        for i in 0..PER_ROUND {
            let data = body(round, i);
            written += data.len() as u64;
            s3.put_object()
                .bucket("churn")
                .key(format!("r{round}/{i}"))
                .body(ByteStream::from(data))
                .send()
                .await
                .expect("put");
        }
        // Keep the last two rounds; delete the one before.
        if round >= 2 {
            for i in 0..PER_ROUND {
                s3.delete_object()
                    .bucket("churn")
                    .key(format!("r{}/{i}", round - 2))
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
    let live: u64 = (ROUNDS - 2..ROUNDS)
        .flat_map(|round| (0..PER_ROUND).map(move |i| body(round, i).len() as u64))
        .sum();
    // E = Qw = 3: every bookie holds every live byte. Compaction keeps a sealed log
    // at least 80 % live, plus the log being written and one being sealed.
    let bound = live * 5 / 4 + 3 * LOG_BYTES;
    assert!(
        bound < written / 2,
        "the bound ({bound}) is meaningful against {written} written"
    );
    let sizes = wait_for(
        "entry logs shrink to the live data",
        Duration::from_secs(120),
        || {
            let sizes: Vec<u64> = bookies
                .iter()
                .map(|b| entry_log_bytes(b.data_dir()))
                .collect();
            sizes.iter().all(|s| *s <= bound).then_some(sizes)
        },
    );
    assert!(
        sizes.iter().all(|s| *s >= live),
        "no live byte was dropped: {sizes:?} vs {live} live"
    );
    for round in 0..ROUNDS {
        for i in 0..PER_ROUND {
            let key = format!("r{round}/{i}");
            let got = s3.get_object().bucket("churn").key(&key).send().await;
            if round + 2 < ROUNDS {
                assert!(got.is_err(), "{key} was deleted");
                continue;
            }
            let bytes = got
                .unwrap_or_else(|e| panic!("get {key}: {e:?}"))
                .body
                .collect()
                .await
                .expect("read")
                .into_bytes();
            assert!(bytes.as_ref() == body(round, i).as_slice(), "{key} intact");
        }
    }
}
