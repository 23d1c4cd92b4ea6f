//! The ledger client against real `folio bookie` processes (docs/protocol.md
//! §"Ledger guarantees"):
//!
//! - L7 (ensemble change): a writer in this process appends 10,000 entries while
//!   one bookie of its ensemble is `kill -9`ed; every append completes and every
//!   acknowledged entry reads back with its bytes (L1), acknowledged in order (L3);
//! - L8–L10 (recovery) and L5 (fencing): a `folio ledger simpletest --keep-open
//!   --print-acks` writer process is `kill -9`ed mid-stream; a second client recovers
//!   the ledger, which closes at or above the last entry the writer reported
//!   acknowledged, every bookie of the ledger then refuses the old writer's next add
//!   with Fenced, and an in-process writer recovered under its feet gets
//!   `WriteError::Fenced`;
//! - the `folio ledger` commands' exit codes and one-line errors.
//!
//! Every wait is bounded in time and every loop in count.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use folio_bookie::probe::ProbeClient;
use folio_ledger::{
    BookieId, BookieSource, Candidate, ClientConfig, LedgerClient, LedgerError, OpenMode,
    QuorumConfig, WriteError, WriterConfig,
};
use folio_namespace::{Db, EmbeddedOptions, EmbeddedStore, ledgers};
use folio_proto::{AddEntry, Entry, EntryHeader, MasterKey, Request, Status};

const FOLIO: &str = env!("CARGO_BIN_EXE_folio");

mod common;

use common::BookieProcess;

/// Starts bookie `name` with its data and log under `dir`.
fn start_bookie(dir: &Path, name: &str) -> BookieProcess {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("create log");
    let mut command = Command::new(FOLIO);
    command
        .args(["bookie", "--listen", "127.0.0.1:0", "--bookie-id", name])
        .arg("--data-dir")
        .arg(dir.join(name))
        .stderr(log);
    BookieProcess::spawn(command)
}

/// Any child process, killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_bookies(dir: &Path, n: usize) -> Vec<BookieProcess> {
    (0..n)
        .map(|i| start_bookie(dir, &format!("bookie-{i}")))
        .collect()
}

fn addresses(bookies: &[BookieProcess]) -> String {
    bookies
        .iter()
        .map(|b| b.addr.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn open_db(dir: &Path) -> Db {
    let store = EmbeddedStore::open(dir, EmbeddedOptions::default()).expect("namespace opens");
    Db::new(Arc::new(store))
}

fn ledger_client(db: &Db, bookies: &[BookieProcess]) -> LedgerClient {
    let candidates = bookies
        .iter()
        .map(|b| Candidate {
            id: BookieId::new(b.addr.to_string()),
            rack: None,
        })
        .collect();
    // A killed bookie resets its connections and refuses new ones, so it is noticed
    // at once; 10 s timeouts keep a live bookie that is slow on a loaded machine (a
    // multi-second fsync) from being replaced, or, with no spare left after the
    // kill, from failing the write.
    let config = ClientConfig {
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(1),
        speculative_read_delay: Duration::from_millis(50),
        writer: WriterConfig {
            add_timeout_ms: 10_000,
            ..WriterConfig::default()
        },
        read_ahead_entries: 32,
        ..ClientConfig::default()
    };
    LedgerClient::new(db.clone(), BookieSource::Static(candidates), config)
}

fn payload(i: u64) -> Bytes {
    let len = 512 + (i % 7) as usize * 100;
    (0..len)
        .map(|j| (i as usize * 31 + j * 7) as u8)
        .collect::<Vec<u8>>()
        .into()
}

async fn metadata(db: &Db, ledger_id: u64) -> ledgers::LedgerMetadata {
    db.transact(move |tx, _| ledgers::get(tx, ledger_id))
        .await
        .expect("namespace read")
        .expect("ledger exists")
        .value
}

/// Protocol §"Ledger guarantees" L7 (ensemble change), L1 and L3: 10,000 appends
/// through a `kill -9` of an ensemble bookie all complete, and all read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_survive_kill_9_of_an_ensemble_bookie() {
    const ENTRIES: u64 = 10_000;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut bookies = start_bookies(tmp.path(), 4);
    let db = open_db(&tmp.path().join("ns"));
    let client = ledger_client(&db, &bookies);
    let writer = client
        .create_with(QuorumConfig::new(3, 3, 2).expect("quorum"), BTreeMap::new())
        .await
        .expect("create");
    let ledger_id = writer.ledger_id();
    let first_ensemble = metadata(&db, ledger_id).await.segments[0].bookies.clone();

    // Submit every entry; a second task awaits the acknowledgements in order.
    let (pending_tx, mut pending_rx) = tokio::sync::mpsc::channel(64);
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let acker = {
        let acked = acked.clone();
        tokio::spawn(async move {
            let mut next = 0u64;
            while let Some((i, pending)) = pending_rx.recv().await {
                let pending: folio_ledger::PendingAppend = pending;
                let id = pending
                    .await
                    .unwrap_or_else(|e| panic!("entry {i} failed: {e}"));
                assert_eq!(id, next, "acknowledgements leave in entry order (L3)");
                next += 1;
                acked.store(next, std::sync::atomic::Ordering::SeqCst);
            }
            next
        })
    };
    let submitter = tokio::spawn(async move {
        for i in 0..ENTRIES {
            let pending = writer.submit(payload(i)).await.expect("submit");
            if pending_tx.send((i, pending)).await.is_err() {
                panic!("acker stopped");
            }
        }
        writer
    });

    // Kill a bookie of the ensemble once a fifth of the entries are acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(std::sync::atomic::Ordering::SeqCst) < ENTRIES / 5 {
        assert!(Instant::now() < deadline, "2,000 appends within 60 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let victim_address = first_ensemble[1].clone();
    let victim = bookies
        .iter()
        .position(|b| b.addr.to_string() == victim_address)
        .expect("the ensemble is made of our bookies");
    bookies[victim].kill9();
    let at_kill = acked.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!("killed {victim_address} after {at_kill} acknowledgements");

    let writer = tokio::time::timeout(Duration::from_secs(120), submitter)
        .await
        .expect("all submitted within 120 s")
        .expect("submitter");
    let acked_count = tokio::time::timeout(Duration::from_secs(120), acker)
        .await
        .expect("all acknowledged within 120 s")
        .expect("acker");
    assert_eq!(acked_count, ENTRIES, "every append completed");
    assert!(
        at_kill < ENTRIES,
        "the kill landed before the last acknowledgement ({at_kill})"
    );
    let closed = writer.close().await.expect("close");
    assert_eq!(closed.last_entry_id, ENTRIES as i64 - 1);
    let expected_length: u64 = (0..ENTRIES).map(|i| payload(i).len() as u64).sum();
    assert_eq!(closed.length, expected_length);

    let meta = metadata(&db, ledger_id).await;
    assert!(meta.segments.len() >= 2, "an ensemble change: {meta:?}");
    let last = meta.segments.last().expect("segments");
    assert!(
        !last.bookies.contains(&victim_address),
        "the killed bookie was replaced: {meta:?}"
    );
    assert!(
        last.first_entry_id > 0 && last.first_entry_id < ENTRIES,
        "the new segment starts mid-ledger: {meta:?}"
    );

    // A fresh client reads every entry back (entries before the change from the two
    // surviving replicas of the first segment).
    let reader_client = ledger_client(&db, &bookies);
    let reader = reader_client
        .open(ledger_id, OpenMode::NoRecover)
        .await
        .expect("open");
    assert_eq!(reader.lac(), ENTRIES as i64 - 1);
    let mut next = 0u64;
    while next < ENTRIES {
        let to = (next + 999).min(ENTRIES - 1);
        let got = reader.read_range(next, to).await.expect("read back");
        for (k, bytes) in got.iter().enumerate() {
            let i = next + k as u64;
            assert_eq!(bytes, &payload(i), "entry {i} reads back with its bytes");
        }
        next = to + 1;
    }
}

/// What the killed writer process reported before it died.
struct WriterReport {
    ledger_id: u64,
    last_acked: Option<u64>,
    acks: u64,
}

/// Runs `folio ledger simpletest --keep-open --print-acks`, kills it with SIGKILL
/// once it has reported `kill_after` acknowledgements, and returns what it reported.
fn run_and_kill_writer(bookies: &str, metadata_dir: &Path, kill_after: u64) -> WriterReport {
    let mut child = Killed(
        Command::new(FOLIO)
            .args(["ledger", "simpletest", "--keep-open", "--print-acks"])
            .args(["--entries", "1000000", "--entry-size", "1KiB"])
            .args(["--timeout", "3s", "--bookies", bookies])
            .arg("--metadata-dir")
            .arg(metadata_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn folio ledger simpletest"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut report = WriterReport {
        ledger_id: u64::MAX,
        last_acked: None,
        acks: 0,
    };
    let record = |line: &str, report: &mut WriterReport| {
        if let Some(id) = line.strip_prefix("ledger ") {
            if report.ledger_id == u64::MAX {
                report.ledger_id = id.trim().parse().expect("ledger id");
            }
        } else if let Some(id) = line.strip_prefix("ack ") {
            let id: u64 = id.trim().parse().expect("entry id");
            assert_eq!(
                Some(id),
                report.last_acked.map_or(Some(0), |l| l.checked_add(1)),
                "acks are printed in entry order"
            );
            report.last_acked = Some(id);
            report.acks += 1;
        }
    };
    while report.acks < kill_after {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("writer reported {kill_after} acks within 60 s: {e}"));
        record(&line, &mut report);
    }
    // kill -9 mid-stream, then take every line it managed to print.
    let _ = child.0.kill();
    let _ = child.0.wait();
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(line) = rx.recv_timeout(drain_deadline.saturating_duration_since(Instant::now())) {
        record(&line, &mut report);
    }
    let _ = reader.join();
    assert_ne!(
        report.ledger_id,
        u64::MAX,
        "the writer printed its ledger id"
    );
    report
}

/// Protocol §"Ledger guarantees" L8–L10 (recovery) and L5 (fencing): a writer
/// process killed mid-stream; a second client recovers its ledger at or above the
/// last entry it reported acknowledged; the bookies then refuse its next add with
/// Fenced; an in-process writer recovered under its feet gets `WriteError::Fenced`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writers_ledger_recovers_at_or_above_its_last_ack_and_is_fenced() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bookies = start_bookies(tmp.path(), 4);
    let ns = tmp.path().join("ns");
    let list = addresses(&bookies);
    let report = tokio::task::spawn_blocking({
        let ns = ns.clone();
        move || run_and_kill_writer(&list, &ns, 1_500)
    })
    .await
    .expect("writer run");
    let last_acked = report.last_acked.expect("acks were reported") as i64;
    eprintln!(
        "writer of ledger {} killed after {} acks (last {last_acked})",
        report.ledger_id, report.acks
    );

    // The killed process released the namespace lock.
    let db = open_db(&ns);
    let recoverer = ledger_client(&db, &bookies);
    let meta = metadata(&db, report.ledger_id).await;
    assert_eq!(
        meta.state,
        ledgers::LedgerState::Open,
        "the writer never closed it"
    );
    let closed = tokio::time::timeout(Duration::from_secs(60), recoverer.recover(report.ledger_id))
        .await
        .expect("recovery within 60 s")
        .expect("recover");
    assert!(
        closed.last_entry_id >= last_acked,
        "closed at {} below the last acknowledged entry {last_acked}",
        closed.last_entry_id
    );
    assert_eq!(closed.length, (closed.last_entry_id + 1) as u64 * 1024);
    let meta = metadata(&db, report.ledger_id).await;
    assert_eq!(meta.state, ledgers::LedgerState::Closed);
    assert_eq!(meta.last_entry_id, Some(closed.last_entry_id as u64));

    // Every entry up to the close reads back: 1 KiB, the writer's entry id stamped
    // over a body common to all entries.
    let reader = recoverer
        .open(report.ledger_id, OpenMode::NoRecover)
        .await
        .expect("open");
    let last = closed.last_entry_id as u64;
    let first = reader.read(0).await.expect("entry 0");
    let mut next = 0u64;
    while next <= last {
        let to = (next + 999).min(last);
        for (k, bytes) in reader
            .read_range(next, to)
            .await
            .expect("read")
            .iter()
            .enumerate()
        {
            let i = next + k as u64;
            assert_eq!(bytes.len(), 1024, "entry {i}");
            assert_eq!(&bytes[..8], &i.to_le_bytes(), "entry {i} carries its id");
            assert_eq!(&bytes[8..], &first[8..], "entry {i} body");
        }
        next = to + 1;
    }

    // The old writer's next add (a normal add of the next entry, with its key) is
    // refused by every bookie of the last ensemble: the ledger is fenced there.
    let ensemble = meta.segments.last().expect("segments").bookies.clone();
    let next_entry = Entry::new(
        EntryHeader {
            ledger_id: report.ledger_id,
            entry_id: last + 1,
            lac: last as i64,
            length: closed.length + 1024,
        },
        &first[..],
    );
    for bookie in &ensemble {
        let probe = ProbeClient::connect(bookie.parse().expect("address"))
            .await
            .expect("connect");
        let answer = probe
            .call(Request::AddEntry(AddEntry {
                master_key: MasterKey::empty(),
                recovery: false,
                entry: next_entry.clone(),
            }))
            .await
            .expect("add answered");
        assert_eq!(
            answer.status(),
            Status::Fenced,
            "bookie {bookie} fenced the ledger"
        );
    }

    // Recovering again agrees (L10).
    let again = recoverer
        .recover(report.ledger_id)
        .await
        .expect("recover again");
    assert_eq!(again, closed);

    // The same through an in-process writer that is still alive: a second client
    // recovers its ledger and the writer's next append is Fenced, an unknown outcome.
    let writer = recoverer.create(BTreeMap::new()).await.expect("create");
    let mut last_ack = -1i64;
    for i in 0..100 {
        last_ack = writer.append(payload(i)).await.expect("append") as i64;
    }
    let other = ledger_client(&db, &bookies);
    let closed = other
        .recover(writer.ledger_id())
        .await
        .expect("recover live");
    assert!(closed.last_entry_id >= last_ack);
    let err = writer.append(payload(100)).await.expect_err("fenced");
    assert!(
        matches!(err, LedgerError::Write(WriteError::Fenced { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("unknown"), "{err}");

    // `folio ledger read/recover` against the same metadata, once this process lets
    // go of the namespace.
    drop((writer, recoverer, other, reader, db));
    let ledger = report.ledger_id.to_string();
    // Background tasks of the dropped clients may hold the store for a moment (at
    // most 30 s here).
    let mut out = run_folio(&["ledger", "recover", &ledger, "--metadata-dir"], &ns);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if !String::from_utf8_lossy(&out.stderr).contains("in use by another process") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        out = run_folio(&["ledger", "recover", &ledger, "--metadata-dir"], &ns);
    }
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("last entry {last}, length {}", (last + 1) * 1024)),
        "{stdout}"
    );
    let last_s = last.to_string();
    let out = run_folio(
        &[
            "ledger",
            "read",
            &ledger,
            "--from",
            &last_s,
            "--metadata-dir",
        ],
        &ns,
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("entry {last}: 1024 bytes ")),
        "{stdout}"
    );
    let out = run_folio(
        &[
            "ledger",
            "read",
            &ledger,
            "--from",
            &last_s,
            "--raw",
            "--metadata-dir",
        ],
        &ns,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout.len(), 1024);
    assert_eq!(&out.stdout[..8], &last.to_le_bytes());
}

fn run_folio(args: &[&str], last_arg: &Path) -> std::process::Output {
    let mut child = Killed(
        Command::new(FOLIO)
            .args(args)
            .arg(last_arg)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn folio"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(_)) = child.0.try_wait() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "folio {args:?} finished within 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read as _;
    if let Some(mut s) = child.0.stdout.take() {
        let _ = s.read_to_end(&mut stdout);
    }
    if let Some(mut s) = child.0.stderr.take() {
        let _ = s.read_to_end(&mut stderr);
    }
    let status = child.0.wait().expect("wait");
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

/// `folio ledger simpletest` against real bookies, and the commands' errors: a bad
/// quorum (E ≥ Qw ≥ Qa ≥ 1), too few bookies, missing metadata, an unknown ledger.
#[test]
fn simpletest_runs_and_errors_are_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bookies = start_bookies(tmp.path(), 3);
    let list = addresses(&bookies);
    let out = Command::new(FOLIO)
        .args([
            "ledger",
            "simpletest",
            "--entries",
            "300",
            "--entry-size",
            "4KiB",
        ])
        .args(["--bookies", &list])
        .output()
        .expect("run simpletest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("300 entries verified"), "{stdout}");
    assert!(stdout.contains("append latency p50"), "{stdout}");

    let ns = tmp.path().join("ns");
    std::fs::create_dir_all(&ns).expect("mkdir");
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "ledger",
                "simpletest",
                "-e",
                "2",
                "-w",
                "3",
                "-a",
                "1",
                "--bookies",
                &list,
            ],
            "need ensemble size >= write quorum >= ack quorum >= 1",
        ),
        (
            &["ledger", "simpletest", "-a", "0", "--bookies", &list],
            "need ensemble size >= write quorum >= ack quorum >= 1",
        ),
        (
            &["ledger", "simpletest", "-e", "4", "--bookies", &list],
            "-e 4 needs at least 4 bookies, --bookies lists 3",
        ),
        (
            &[
                "ledger",
                "recover",
                "7",
                "--metadata-dir",
                ns.to_str().expect("utf-8"),
            ],
            "ledger 7 does not exist",
        ),
        (
            &["ledger", "read", "7"],
            "(or read from the bookies with --metadata-dir or --metadata-url)",
        ),
        (
            &["ledger", "simpletest", "--keep-open", "--bookies", &list],
            "--keep-open needs --metadata-dir",
        ),
    ];
    for (args, expected) in cases {
        let out = Command::new(FOLIO).args(args).output().expect("run folio");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} fails");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{args:?}: one line: {stderr}"
        );
    }
}
