//! Crash test of space reclamation on a real `folio bookie` process
//! (bookie/src/compaction.rs, docs/operations.md §Space reclamation and scrubbing):
//! each round writes ledgers, deletes every other one so the entry logs turn sparse,
//! waits until compaction is visibly under way (the log being written grows with no
//! adds, or a log file disappears), `kill -9`s the bookie after a random delay,
//! restarts it, and checks that every entry of every live ledger reads back intact
//! and every deleted ledger stays deleted. Compaction is slowed down so kills land in
//! the middle of copying.
//!
//! The seed is printed; rerun one with
//! `FOLIO_COMPACTION_SEED=<seed> cargo test -p folio --test compaction_crash`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use folio_bookie::probe::ProbeClient;
use folio_proto::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

mod common;

use common::BookieProcess;

const ENTRIES: u64 = 40;
const PAYLOAD: usize = 2048;

fn start_bookie(data_dir: &Path, log: &Path) -> BookieProcess {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_folio"));
    command
        .args([
            "bookie",
            "--listen",
            "127.0.0.1:0",
            "--bookie-id",
            "gc-crash",
        ])
        .args(["--checkpoint-interval", "100ms"])
        .args(["--entry-log-file-size", "128KiB"])
        .args(["--gc-interval-secs", "1", "--compaction-threshold", "0.9"])
        .args(["--compaction-rate-bytes-per-sec", "192KiB"])
        .args(["--scrub-interval-secs", "0"])
        .arg("--data-dir")
        .arg(data_dir)
        .stderr(log);
    BookieProcess::spawn(command)
}

fn entry(ledger_id: u64, entry_id: u64) -> Entry {
    let payload: Vec<u8> = (0..PAYLOAD)
        .map(|i| (ledger_id as usize * 131 + entry_id as usize * 7 + i * 13) as u8)
        .collect();
    Entry::new(
        EntryHeader {
            ledger_id,
            entry_id,
            lac: entry_id as i64 - 1,
            length: (entry_id + 1) * PAYLOAD as u64,
        },
        &payload,
    )
}

async fn call(c: &ProbeClient, req: Request) -> Response {
    tokio::time::timeout(Duration::from_secs(30), c.call(req))
        .await
        .expect("answered within 30 s")
        .expect("answered")
}

/// Every entry of each live ledger reads back byte for byte; deleted ledgers store
/// nothing.
async fn verify(c: &ProbeClient, ledgers: &BTreeMap<u64, bool>) {
    for (l, live) in ledgers {
        let req = Request::GetLedgerEntries(GetLedgerEntries { ledger_id: *l });
        let Response::GetLedgerEntries(r) = call(c, req).await else {
            panic!("unexpected response");
        };
        if !*live {
            assert_eq!(
                r.status,
                Status::NoSuchLedger,
                "deleted ledger {l} came back"
            );
            continue;
        }
        assert_eq!(r.ranges, vec![(0, ENTRIES - 1)], "ledger {l} lost entries");
        let mut pending = Vec::new();
        for e in 0..ENTRIES {
            let req = Request::ReadEntry(ReadEntry {
                ledger_id: *l,
                target: ReadTarget::Entry(e),
                fence: false,
                master_key: MasterKey::empty(),
                long_poll: None,
            });
            pending.push((e, c.send(req).await.expect("send read")));
        }
        for (e, rx) in pending {
            let resp = tokio::time::timeout(Duration::from_secs(30), rx)
                .await
                .expect("read answered within 30 s")
                .expect("read answered");
            let Response::ReadEntry(r) = resp else {
                panic!("unexpected response");
            };
            assert_eq!(r.status, Status::Ok, "live entry {l}/{e} lost");
            assert_eq!(
                r.entry.expect("entry"),
                entry(*l, e),
                "entry {l}/{e} changed"
            );
        }
    }
}

/// (id, size) of every entry log, by id.
fn logs(data_dir: &Path) -> BTreeMap<u64, u64> {
    let Ok(dir) = std::fs::read_dir(data_dir.join("ledgers")) else {
        return BTreeMap::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let id = e
                .file_name()
                .to_str()?
                .strip_suffix(".log")
                .and_then(|s| u64::from_str_radix(s, 16).ok())?;
            Some((id, e.metadata().ok()?.len()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_compaction_loses_no_live_entry() {
    let seed = common::seed("FOLIO_COMPACTION_SEED");
    eprintln!("compaction crash seed: {seed} (rerun with FOLIO_COMPACTION_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let log = tmp.path().join("bookie.log");
    let mut ledgers: BTreeMap<u64, bool> = BTreeMap::new();
    let rounds = 4u64;
    let mut kills_during_gc = 0;
    for round in 0..rounds {
        let mut bookie = start_bookie(&data, &log);
        let c = ProbeClient::connect(bookie.addr).await.expect("connect");
        verify(&c, &ledgers).await;
        // Six ledgers of 40 × 2 KiB: about four 128 KiB logs.
        let first = round * 10 + 1;
        for l in first..first + 6 {
            let mut pending = Vec::new();
            for e in 0..ENTRIES {
                let req = Request::AddEntry(AddEntry {
                    master_key: MasterKey::empty(),
                    recovery: false,
                    entry: entry(l, e),
                });
                pending.push(c.send(req).await.expect("send add"));
            }
            for rx in pending {
                let r = tokio::time::timeout(Duration::from_secs(30), rx)
                    .await
                    .expect("add answered within 30 s")
                    .expect("add answered");
                assert_eq!(r.status(), Status::Ok);
            }
            ledgers.insert(l, true);
        }
        // Let checkpoints write them to the entry logs, then make every log sparse.
        tokio::time::sleep(Duration::from_millis(400)).await;
        for l in (first..first + 6).step_by(2) {
            let r = call(&c, Request::DeleteLedger(DeleteLedger { ledger_id: l })).await;
            assert_eq!(r.status(), Status::Ok);
            ledgers.insert(l, false);
        }
        // Wait (at most 30 s) for reclamation to show: with no adds, the log being
        // written grows only by compaction copies, and files go only by GC.
        let before = logs(&data);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = false;
        while Instant::now() < deadline {
            let now = logs(&data);
            let grew = now
                .iter()
                .any(|(id, len)| before.get(id).is_none_or(|b| len > b));
            let went = before.keys().any(|id| !now.contains_key(id));
            if grew || went {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if seen {
            kills_during_gc += 1;
            let delay = rng.random_range(0..400);
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        drop(c);
        bookie.kill9();
    }
    assert!(
        kills_during_gc >= rounds - 1,
        "compaction was seen in only {kills_during_gc} of {rounds} rounds"
    );
    // Restart, check everything, and let reclamation finish: disk use ends bounded.
    let bookie = start_bookie(&data, &log);
    let c = ProbeClient::connect(bookie.addr).await.expect("connect");
    verify(&c, &ledgers).await;
    let live_bytes = ledgers.values().filter(|l| **l).count() as u64
        * ENTRIES
        * (PAYLOAD + ENTRY_OVERHEAD_BYTES + 4) as u64;
    let bound = live_bytes * 10 / 9 + 3 * (128 << 10);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let on_disk: u64 = logs(&data).values().sum();
        if on_disk <= bound {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "entry logs hold {on_disk} bytes for {live_bytes} live after 60 s (bound {bound})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    verify(&c, &ledgers).await;
}
