//! Add throughput and latency against one real bookie over TCP, fsync on.
//!
//! Not a test: run it in release next to `../shared/bench/disk-limits.sh` on the same
//! disk, and report both in docs/benchmarks.md:
//!
//! ```sh
//! FOLIO_BENCH_DIR=/path/on/the/disk cargo bench -p folio-bookie --bench adds
//! FOLIO_BENCH_ONLY=1MiBx16,1KiBx1 cargo bench -p folio-bookie --bench adds   # a subset
//! ```
//!
//! For each entry size (1 KiB, 64 KiB, 1 MiB) and number of adds in flight (1, 16,
//! 128), it starts a fresh bookie on a new directory (so one row's leftover work —
//! a write cache to checkpoint, index compactions — does not run during the next
//! row; `FOLIO_BENCH_SHARED=1` keeps one bookie for every row instead), then `n`
//! client tasks on one connection, each sending adds back to back for
//! `FOLIO_BENCH_SECS` seconds (default 5), and prints a markdown table of adds/s,
//! MiB/s and p50/p99 latency (send to acknowledgement, which the bookie sends only
//! after the journal fsync covering the add).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use folio_bookie::probe::ProbeClient;
use folio_bookie::{Bookie, BookieConfig};
use folio_proto::{AddEntry, Entry, EntryHeader, MasterKey, Request, Status};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let secs: u64 = std::env::var("FOLIO_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let base = std::env::var("FOLIO_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target-bench")
        });
    std::fs::create_dir_all(&base).expect("create bench dir");
    let tmp = tempfile::tempdir_in(&base).expect("tempdir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let shared = std::env::var("FOLIO_BENCH_SHARED").is_ok_and(|v| v == "1");
        let start = |dir: std::path::PathBuf| async move {
            let mut config = BookieConfig::new(dir, "127.0.0.1:0".parse().expect("addr"));
            config.bookie_id = "bench".into();
            let bookie = Bookie::start(config).await.expect("start bookie");
            let client = Arc::new(
                ProbeClient::connect(bookie.local_addr())
                    .await
                    .expect("connect"),
            );
            (bookie, client)
        };
        let mut current = if shared {
            Some(start(tmp.path().to_path_buf()).await)
        } else {
            None
        };
        println!("| entry size | in flight | adds/s | MiB/s | p50 ms | p99 ms |");
        println!("|---|---|---|---|---|---|");
        let mut ledger_id = 0;
        let only = std::env::var("FOLIO_BENCH_ONLY").unwrap_or_default();
        for (size, label) in [(1 << 10, "1 KiB"), (64 << 10, "64 KiB"), (1 << 20, "1 MiB")] {
            for inflight in [1usize, 16, 128] {
                if !only.is_empty()
                    && !only
                        .split(',')
                        .any(|o| o == format!("{label}x{inflight}").replace(' ', ""))
                {
                    continue;
                }
                ledger_id += 1;
                if !shared {
                    if let Some((bookie, client)) = current.take() {
                        drop(client);
                        bookie.shutdown().await.expect("shutdown");
                        // The previous row's data: gigabytes for the 1 MiB rows.
                        let previous = tmp.path().join(format!("row-{}", ledger_id - 1));
                        std::fs::remove_dir_all(previous).expect("remove row dir");
                    }
                    let dir = tmp.path().join(format!("row-{ledger_id}"));
                    current = Some(start(dir).await);
                }
                let Some((_, client)) = current.as_ref() else {
                    unreachable!("a bookie was started above")
                };
                let payload = Arc::new(vec![0x5Au8; size]);
                let next = Arc::new(AtomicU64::new(0));
                let deadline = Instant::now() + Duration::from_secs(secs);
                let started = Instant::now();
                let mut tasks = Vec::new();
                for _ in 0..inflight {
                    let (c, p, n) = (client.clone(), payload.clone(), next.clone());
                    tasks.push(tokio::spawn(async move {
                        let mut lat = Vec::new();
                        while Instant::now() < deadline {
                            let entry_id = n.fetch_add(1, Ordering::Relaxed);
                            let entry = Entry::new(
                                EntryHeader {
                                    ledger_id,
                                    entry_id,
                                    lac: entry_id as i64 - 1,
                                    length: 0,
                                },
                                &p,
                            );
                            let req = Request::AddEntry(AddEntry {
                                master_key: MasterKey::empty(),
                                recovery: false,
                                entry,
                            });
                            let t0 = Instant::now();
                            let resp = c.call(req).await.expect("add answered");
                            assert_eq!(resp.status(), Status::Ok);
                            lat.push(t0.elapsed());
                        }
                        lat
                    }));
                }
                let mut lat = Vec::new();
                for t in tasks {
                    lat.extend(t.await.expect("task"));
                }
                let elapsed = started.elapsed().as_secs_f64();
                lat.sort_unstable();
                let adds = lat.len() as f64 / elapsed;
                println!(
                    "| {label} | {inflight} | {adds:.0} | {:.1} | {:.2} | {:.2} |",
                    adds * size as f64 / (1 << 20) as f64,
                    percentile(&lat, 0.50).as_secs_f64() * 1e3,
                    percentile(&lat, 0.99).as_secs_f64() * 1e3,
                );
            }
        }
        if let Some((bookie, client)) = current.take() {
            drop(client);
            bookie.shutdown().await.expect("shutdown");
        }
    });
}
