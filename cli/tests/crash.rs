//! Crash test on a real process (docs/protocol.md §Durability, §Fencing): start
//! `folio bookie`, pipeline adds, `kill -9` it at a random moment, restart, and check
//! that every add acknowledged before the kill reads back with the same bytes, and
//! that a fence made in the first round still holds. Checkpoints are made frequent
//! so kills also land during checkpoints and journal trimming.
//!
//! The seed is printed; rerun one with `FOLIO_CRASH_SEED=<seed> cargo test -p folio --test crash`.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use folio_bookie::probe::ProbeClient;
use folio_proto::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

mod common;

use common::BookieProcess;

/// Starts the crash test's bookie on `data_dir`, logging to `log`.
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
            "crash-test",
        ])
        .args([
            "--checkpoint-interval",
            "150ms",
            "--write-cache-size",
            "512KiB",
        ])
        .args([
            "--journal-file-size",
            "2MiB",
            "--entry-log-file-size",
            "4MiB",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .stderr(log);
    BookieProcess::spawn(command)
}

fn key() -> MasterKey {
    MasterKey::new(&b"crash-key"[..]).expect("short")
}

fn entry(ledger_id: u64, entry_id: u64, len: usize) -> Entry {
    let payload: Vec<u8> = (0..len)
        .map(|i| (ledger_id as usize * 131 + entry_id as usize * 7 + i * 13) as u8)
        .collect();
    Entry::new(
        EntryHeader {
            ledger_id,
            entry_id,
            lac: entry_id as i64 - 1,
            length: entry_id * 65_536 + len as u64,
        },
        &payload,
    )
}

fn add(e: Entry) -> Request {
    Request::AddEntry(AddEntry {
        master_key: key(),
        recovery: false,
        entry: e,
    })
}

const FENCED_LEDGER: u64 = 999;

async fn verify(c: &ProbeClient, acked: &[(u64, u64, usize)]) {
    let mut pending = Vec::new();
    for (l, e, len) in acked {
        let req = Request::ReadEntry(ReadEntry {
            ledger_id: *l,
            target: ReadTarget::Entry(*e),
            fence: false,
            master_key: MasterKey::empty(),
            long_poll: None,
        });
        pending.push(((*l, *e, *len), c.send(req).await.expect("send read")));
        if pending.len() >= 64 {
            check(pending.drain(..)).await;
        }
    }
    check(pending.drain(..)).await;
}

async fn check(
    batch: impl Iterator<Item = ((u64, u64, usize), tokio::sync::oneshot::Receiver<Response>)>,
) {
    for ((l, e, len), rx) in batch {
        let resp = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("read answered within 30 s");
        match resp.expect("read answered") {
            Response::ReadEntry(r) => {
                assert_eq!(r.status, Status::Ok, "acknowledged entry {l}/{e} lost");
                let got = r.entry.expect("entry with Ok");
                assert_eq!(got, entry(l, e, len), "entry {l}/{e} changed");
                got.verify().expect("digest");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_adds_survive_kill_9() {
    let seed = common::seed("FOLIO_CRASH_SEED");
    eprintln!("crash test seed: {seed} (rerun with FOLIO_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let log = tmp.path().join("bookie.log");
    let acked: Arc<Mutex<Vec<(u64, u64, usize)>>> = Arc::default();
    let rounds = 6u64;
    for round in 0..rounds {
        let mut bookie = start_bookie(&data, &log);
        let client = Arc::new(ProbeClient::connect(bookie.addr).await.expect("connect"));
        let before = acked.lock().expect("lock").clone();
        verify(&client, &before).await;
        if round == 0 {
            assert_eq!(
                client
                    .call(add(entry(FENCED_LEDGER, 0, 10)))
                    .await
                    .expect("add")
                    .status(),
                Status::Ok
            );
            let fence = Request::ReadEntry(ReadEntry {
                ledger_id: FENCED_LEDGER,
                target: ReadTarget::Last,
                fence: true,
                master_key: key(),
                long_poll: None,
            });
            assert_eq!(
                client.call(fence).await.expect("fence").status(),
                Status::Ok
            );
        }
        let after_fence = client
            .call(add(entry(FENCED_LEDGER, 1, 10)))
            .await
            .expect("add");
        assert_eq!(
            after_fence.status(),
            Status::Fenced,
            "round {round}: fence lost"
        );

        // Pipeline adds (32 in flight) until the kill.
        let ledger = 100 + round;
        let sizes: Vec<usize> = (0..20_000)
            .map(|_| rng.random_range(1..=64 << 10))
            .collect();
        let (c, a) = (client.clone(), acked.clone());
        let writer = tokio::spawn(async move {
            let mut window = std::collections::VecDeque::new();
            for (e, len) in sizes.into_iter().enumerate() {
                let e = e as u64;
                let Ok(rx) = c.send(add(entry(ledger, e, len))).await else {
                    break;
                };
                window.push_back((e, len, rx));
                if window.len() >= 32 {
                    let Some((e, len, rx)) = window.pop_front() else {
                        break;
                    };
                    match tokio::time::timeout(Duration::from_secs(30), rx)
                        .await
                        .expect("add answered or connection closed within 30 s")
                    {
                        Ok(resp) => {
                            assert_eq!(resp.status(), Status::Ok, "add {ledger}/{e}");
                            a.lock().expect("lock").push((ledger, e, len));
                        }
                        Err(_) => break,
                    }
                }
            }
        });
        // Kill while adds are flowing: after this round's first acknowledgement
        // (at most 20 s), plus a random delay.
        let before_len = before.len();
        for _ in 0..2000 {
            if acked.lock().expect("lock").len() > before_len {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..500))).await;
        bookie.kill9();
        tokio::time::timeout(Duration::from_secs(20), writer)
            .await
            .expect("writer stops after the kill")
            .expect("writer task");
        let n = acked.lock().expect("lock").len();
        eprintln!("round {round}: killed; {n} adds acknowledged so far");
    }
    let bookie = start_bookie(&data, &log);
    let client = ProbeClient::connect(bookie.addr).await.expect("connect");
    let all = acked.lock().expect("lock").clone();
    assert!(
        all.len() >= 50,
        "too few adds acknowledged ({}) for a meaningful test",
        all.len()
    );
    let ledgers: std::collections::HashSet<_> = all.iter().map(|(l, _, _)| *l).collect();
    assert!(
        ledgers.len() as u64 >= rounds - 1,
        "most rounds acknowledged adds"
    );
    verify(&client, &all).await;
}

/// SIGTERM shuts the bookie down gracefully (exit 0) and everything acknowledged
/// before it is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let log = tmp.path().join("bookie.log");
    let mut bookie = start_bookie(&data, &log);
    let client = ProbeClient::connect(bookie.addr).await.expect("connect");
    let mut acked = Vec::new();
    for e in 0..20 {
        let resp = client.call(add(entry(5, e, 1000))).await.expect("add");
        assert_eq!(resp.status(), Status::Ok);
        acked.push((5, e, 1000));
    }
    let term = Command::new("kill")
        .args(["-TERM", &bookie.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(term.success());
    let mut exit = None;
    for _ in 0..600 {
        if let Some(status) = bookie.child.try_wait().expect("try_wait") {
            exit = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exit = exit.expect("exited within 30 s of SIGTERM");
    assert!(exit.success(), "exit status {exit}");
    drop(client);
    let bookie = start_bookie(&data, &log);
    let client = ProbeClient::connect(bookie.addr).await.expect("connect");
    verify(&client, &acked).await;
}
