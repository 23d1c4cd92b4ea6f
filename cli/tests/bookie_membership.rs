//! `folio bookie --metadata URL` on real processes: a bookie that knows the cluster's
//! namespace registers and heartbeats itself, and one started with `--autorecovery`
//! runs the auditor and a replication worker that re-replicate a lost bookie's
//! ledgers.
//!
//! The namespace here is an embedded directory, which only one process may open at a
//! time, so the test and the bookie take turns: the test writes ledgers and closes
//! the store, the bookie runs, stops (SIGTERM, so it releases its auditor lease), and
//! the test reads the outcome. On FoundationDB they would share it live.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use folio_ledger::{
    BookieId, BookieSource, Candidate, ClientConfig, LedgerClient, OpenMode, QuorumConfig,
};
use folio_namespace::bookies::{self, BookieRecord, BookieState};
use folio_namespace::{Db, EmbeddedOptions, EmbeddedStore, ledgers, under_replicated};

mod common;

use common::BookieProcess;

const FOLIO: &str = env!("CARGO_BIN_EXE_folio");

/// Starts bookie `name` on `listen` with its data and log under `dir`. A fixed
/// `listen` port (a restart on the bookie's old address) may be held for a moment
/// by another socket: see `common::retry_while_port_in_use`.
fn start_bookie(dir: &Path, name: &str, listen: &str) -> BookieProcess {
    let log_path = dir.join(format!("{name}.log"));
    common::retry_while_port_in_use(&log_path, || {
        let log = std::fs::File::create(&log_path).expect("create log");
        let mut command = Command::new(FOLIO);
        command
            .args(["bookie", "--listen", listen, "--bookie-id", name])
            .arg("--data-dir")
            .arg(dir.join(name))
            .stderr(log);
        BookieProcess::try_spawn(command)
    })
}

fn open_db(dir: &Path) -> Db {
    let store = EmbeddedStore::open(dir, EmbeddedOptions::default()).expect("namespace opens");
    Db::new(Arc::new(store))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

/// Runs `folio bookie` with `--metadata` until its stdout shows `line`, then
/// returns it running. A fixed `listen` port (a restart on the bookie's old
/// address) may be held for a moment by another socket: see
/// `common::retry_while_port_in_use`.
fn start_member(
    dir: &Path,
    name: &str,
    listen: &str,
    ns: &Path,
    extra: &[&str],
    line: &str,
) -> Member {
    let log_path = dir.join(format!("{name}.log"));
    common::retry_while_port_in_use(&log_path, || {
        try_start_member(dir, name, listen, ns, extra, line)
    })
}

/// One attempt of [`start_member`]: `Err` if the process exits before printing
/// `line`.
fn try_start_member(
    dir: &Path,
    name: &str,
    listen: &str,
    ns: &Path,
    extra: &[&str],
    line: &str,
) -> Result<Member, String> {
    let url = format!("embedded://{}", ns.display());
    let mut args = vec!["--metadata", url.as_str()];
    args.extend_from_slice(extra);
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("create log");
    let mut command = Command::new(FOLIO);
    command
        .args(["bookie", "--listen", listen, "--bookie-id", name])
        .args(&args)
        .arg("--data-dir")
        .arg(dir.join(name))
        .env("FOLIO_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log);
    let mut child = command.spawn().expect("spawn folio bookie");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut member = Member(child, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let got = match rx.recv_timeout(left) {
            Ok(got) => got,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // Stdout closed before `line`: the process is exiting.
                let status = member.0.wait().expect("reap folio bookie");
                return Err(format!("{name} exited ({status}) before printing {line:?}"));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("{name} did not print {line:?} within 30 s")
            }
        };
        if let Some(addr) = got.strip_prefix("folio bookie listening on ") {
            member.1 = Some(addr.trim().to_owned());
        }
        if got.starts_with(line) {
            return Ok(member);
        }
    }
}

/// A bookie process started with `--metadata`, and its address.
struct Member(Child, Option<String>);

impl Member {
    fn addr(&self) -> String {
        self.1.clone().expect("address printed")
    }

    fn terminate(&mut self) {
        common::terminate(&mut self.0);
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_bookie_with_metadata_registers_and_heartbeats_itself() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = tmp.path().join("ns");
    let started = now_ms();
    let mut member = start_member(
        tmp.path(),
        "member",
        "127.0.0.1:0",
        &ns,
        &["--autorecovery-probe-interval", "200ms"],
        "folio bookie registering as",
    );
    let addr = member.addr();
    // A few heartbeats.
    std::thread::sleep(Duration::from_millis(1500));
    member.terminate();

    let db = open_db(&ns);
    let records = db.run(|tx, _| bookies::list(tx)).expect("registry");
    let (_, record) = records
        .iter()
        .find(|(_, r)| r.address == addr)
        .unwrap_or_else(|| panic!("{addr} registered: {records:?}"));
    assert_eq!(record.state, BookieState::ReadWrite);
    assert!(
        record.last_heartbeat_ms > started + 200,
        "heartbeats after the first: {record:?}"
    );
    assert!(record.capacity_bytes > 0, "reports its disk: {record:?}");
}

#[test]
fn autorecovery_without_metadata_is_refused_naming_the_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(FOLIO)
        .args(["bookie", "--listen", "127.0.0.1:0", "--autorecovery"])
        .arg("--data-dir")
        .arg(tmp.path())
        .output()
        .expect("run folio bookie");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("autorecovery.enabled"), "{err}");
    assert!(err.contains("metadata"), "{err}");
}

fn payload(ledger: usize, entry: usize) -> Bytes {
    (0..300 + entry * 13)
        .map(|j| (ledger * 31 + entry * 7 + j) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Registers `address` as a read-write bookie whose heartbeat is `age` old and
/// valid for `lease`.
fn register(db: &Db, address: &str, age: Duration, lease: Duration) {
    let record = BookieRecord {
        address: address.to_owned(),
        rack: None,
        state: BookieState::ReadWrite,
        last_heartbeat_ms: now_ms() - age.as_millis() as u64,
        lease_ms: lease.as_millis() as u64,
        capacity_bytes: 1 << 30,
        free_bytes: 1 << 29,
    };
    db.run(|tx, _| bookies::register(tx, address, &record))
        .expect("register");
}

#[test]
fn a_bookie_started_with_autorecovery_re_replicates_a_lost_bookie() {
    const LEDGERS: usize = 16;
    const ENTRIES: usize = 20;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = tmp.path().join("ns");
    let mut bookies: Vec<BookieProcess> = (0..4)
        .map(|i| start_bookie(tmp.path(), &format!("b{i}"), "127.0.0.1:0"))
        .collect();
    let lost = bookies[3].addr.to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Register the four bookies alive (as their prober would), write closed ledgers
    // over them, then age the fourth's heartbeat as if it stopped long ago.
    let mut ids = Vec::new();
    let mut on_lost = 0;
    {
        let db = open_db(&ns);
        for b in &bookies {
            register(
                &db,
                &b.addr.to_string(),
                Duration::ZERO,
                Duration::from_secs(3600),
            );
        }
        let candidates = bookies
            .iter()
            .map(|b| Candidate {
                id: BookieId::new(b.addr.to_string()),
                rack: None,
            })
            .collect();
        let client = LedgerClient::new(
            db.clone(),
            BookieSource::Static(candidates),
            ClientConfig::default(),
        );
        runtime.block_on(async {
            for l in 0..LEDGERS {
                let writer = client
                    .create_with(QuorumConfig::new(3, 3, 2).expect("quorum"), BTreeMap::new())
                    .await
                    .expect("create");
                for e in 0..ENTRIES {
                    writer.append(payload(l, e)).await.expect("append");
                }
                ids.push(writer.ledger_id());
                writer.close().await.expect("close");
            }
        });
        register(&db, &lost, Duration::from_secs(600), Duration::from_secs(1));
        for id in &ids {
            let meta = db
                .run(|tx, _| ledgers::get(tx, *id))
                .expect("read")
                .expect("exists")
                .value;
            if meta.segments.iter().any(|s| s.bookies.contains(&lost)) {
                on_lost += 1;
            }
        }
    }
    assert!(on_lost > 0, "some ledgers use the bookie that will be lost");
    bookies[3].kill9();

    // A fifth bookie joins with auto-recovery: it registers itself, wins the auditor
    // lease, marks the lost bookie's ledgers and copies them. It runs in rounds so
    // that the test can look at the namespace in between.
    let args = [
        "--autorecovery",
        "--autorecovery-lost-bookie-delay",
        "1s",
        "--autorecovery-audit-interval",
        "500ms",
        "--autorecovery-poll-interval",
        "500ms",
        "--autorecovery-probe-interval",
        "500ms",
    ];
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut rounds = 0;
    // The joiner keeps the address of its first round, as a restarted bookie would.
    let mut listen = "127.0.0.1:0".to_owned();
    let replacement = loop {
        rounds += 1;
        let mut member = start_member(
            tmp.path(),
            "joiner",
            &listen,
            &ns,
            &args,
            "folio bookie running auto-recovery",
        );
        let addr = member.addr();
        listen = addr.clone();
        std::thread::sleep(Duration::from_secs(4));
        member.terminate();
        let db = open_db(&ns);
        let left = ids
            .iter()
            .filter(|id| {
                db.run(|tx, _| ledgers::get(tx, **id))
                    .expect("read")
                    .expect("exists")
                    .value
                    .segments
                    .iter()
                    .any(|s| s.bookies.contains(&lost))
            })
            .count();
        let queued = db
            .run(|tx, _| under_replicated::list(tx, None, 1000))
            .expect("queue")
            .len();
        if left == 0 && queued == 0 {
            break addr;
        }
        assert!(
            Instant::now() < deadline,
            "after {rounds} rounds, {left} ledgers still name the lost bookie and {queued} are queued"
        );
    };

    // Every ledger reads back whole with one more bookie gone. The joiner runs on as
    // a plain bookie, on the address it registered (its cookie names it "joiner").
    let mut joiner = start_bookie(tmp.path(), "joiner", &replacement);
    assert_eq!(joiner.addr.to_string(), replacement);
    common::terminate(&mut bookies[0].child);
    let db = open_db(&ns);
    let client = LedgerClient::new(db.clone(), BookieSource::Registry, ClientConfig::default());
    runtime.block_on(async {
        for (l, id) in ids.iter().enumerate() {
            let reader = client.open(*id, OpenMode::NoRecover).await.expect("open");
            let got = reader
                .read_range(0, ENTRIES as u64 - 1)
                .await
                .unwrap_or_else(|e| panic!("ledger {id}: {e}"));
            for (e, bytes) in got.iter().enumerate() {
                assert_eq!(bytes, &payload(l, e), "ledger {id} entry {e}");
            }
        }
    });
    joiner.kill9();
}
