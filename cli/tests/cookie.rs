//! Cookies on a real `folio bookie` process (docs/protocol.md §Cookies): a bookie
//! whose cookie does not match its configuration, or whose non-empty directory has
//! no cookie, exits non-zero with a message naming the directory, and changes
//! nothing on disk: started again as before, it serves its data.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use folio_bookie::probe::ProbeClient;
use folio_proto::*;

mod common;

use common::{BookieProcess, terminate};

/// `folio bookie` on `data_dir` and `journal_dir` as `bookie_id`, on a free port.
fn bookie(data_dir: &Path, journal_dir: &Path, bookie_id: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_folio"));
    command
        .args([
            "bookie",
            "--listen",
            "127.0.0.1:0",
            "--bookie-id",
            bookie_id,
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--journal-dir")
        .arg(journal_dir)
        .env("FOLIO_LOG", "warn");
    command
}

/// Runs a bookie that must refuse to start: waits at most 30 s for it to exit and
/// returns its stderr. Fails if it exits zero or is still running (then killed).
fn refused(mut command: Command) -> String {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn folio bookie");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("folio bookie still running after 30 s: it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(
        !status.success(),
        "exited {status} but should refuse: {stderr}"
    );
    stderr
}

fn key() -> MasterKey {
    MasterKey::new(&b"cookie-test"[..]).expect("short key")
}

fn entry() -> Entry {
    Entry::new(
        EntryHeader {
            ledger_id: 5,
            entry_id: 0,
            lac: -1,
            length: 5,
        },
        b"hello",
    )
}

/// Starts the bookie, checks it serves entry 5/0, and stops it cleanly.
fn serves_entry(data_dir: &Path, journal_dir: &Path, add: bool) {
    let mut command = bookie(data_dir, journal_dir, "b1");
    command.stderr(Stdio::inherit());
    let mut b = BookieProcess::spawn(command);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let c = ProbeClient::connect(b.addr).await.expect("connect");
        if add {
            let r = c
                .call(Request::AddEntry(AddEntry {
                    master_key: key(),
                    recovery: false,
                    entry: entry(),
                }))
                .await
                .expect("add answered");
            assert_eq!(r.status(), Status::Ok);
        }
        let r = c
            .call(Request::ReadEntry(ReadEntry {
                ledger_id: 5,
                target: ReadTarget::Entry(0),
                fence: false,
                master_key: key(),
                long_poll: None,
            }))
            .await
            .expect("read answered");
        match r {
            Response::ReadEntry(r) => {
                assert_eq!(r.status, Status::Ok);
                assert_eq!(r.entry, Some(entry()));
            }
            other => panic!("unexpected {other:?}"),
        }
    });
    terminate(&mut b.child);
}

#[test]
fn mismatched_or_missing_cookies_stop_the_process_with_the_directory_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let journal = tmp.path().join("journal");
    serves_entry(&data, &journal, true);

    // Another bookie id: the first directory checked (the data dir) is named.
    let err = refused(bookie(&data, &journal, "b2"));
    assert!(err.contains(&data.display().to_string()), "{err}");
    assert!(err.contains("bookie_id") && err.contains("\"b1\""), "{err}");
    assert!(err.contains("refusing to start"), "{err}");

    // Another journal dir: the directory set in the data dir's cookie differs.
    let other_journal = tmp.path().join("other-journal");
    let err = refused(bookie(&data, &other_journal, "b1"));
    assert!(err.contains(&data.display().to_string()), "{err}");
    assert!(err.contains("dirs"), "{err}");
    assert!(
        !other_journal.join("COOKIE").exists(),
        "a refusal writes nothing"
    );

    // The journal dir wiped (a lost disk): it is named, and not taken as fresh.
    let wiped = tmp.path().join("wiped");
    std::fs::rename(&journal, &wiped).expect("move journal away");
    let err = refused(bookie(&data, &journal, "b1"));
    assert!(err.contains(&journal.display().to_string()), "{err}");
    assert!(err.contains("no cookie"), "{err}");
    std::fs::remove_dir_all(&journal).ok();
    std::fs::rename(&wiped, &journal).expect("put journal back");

    // A non-empty data dir with no cookie (someone else's files).
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("000000000001.log"), b"not ours").expect("write");
    let err = refused(bookie(&foreign, &tmp.path().join("foreign-journal"), "b1"));
    assert!(err.contains(&foreign.display().to_string()), "{err}");
    assert!(err.contains("not empty but has no cookie"), "{err}");
    assert!(!foreign.join("COOKIE").exists());

    // None of the refusals changed the bookie's directories: it starts and serves.
    serves_entry(&data, &journal, false);
}
