//! Durability of acknowledged writes: several writers PUT objects of random sizes into
//! a real `folio standalone`, which is killed with SIGKILL at a random moment, then
//! restarted on the same data directory. Every object that got a 200, in this round
//! and the earlier ones, must read back byte for byte, and every object that is
//! listed at all (a PUT cut by the kill may or may not have committed) must be whole.
//! Three rounds.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use common::{client, pattern};
use folio_s3_compat_tests::Server;
use rand::{Rng, SeedableRng};

const ROUNDS: usize = 3;
const WRITERS: usize = 4;

/// An acknowledged object: its key, and how to regenerate its bytes.
#[derive(Clone, Debug)]
struct Acked {
    key: String,
    seed: u64,
    size: usize,
}

fn random_size(rng: &mut impl Rng) -> usize {
    match rng.random_range(0..10) {
        0 => 0,
        1..=4 => rng.random_range(1..64 * 1024),
        _ => rng.random_range(64 * 1024..3 * 1024 * 1024),
    }
}

async fn verify(server: &Server, acked: &[Acked]) {
    let s3 = client(server);
    for a in acked {
        let got = s3
            .get_object()
            .bucket("crash")
            .key(&a.key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("acknowledged {} is missing after restart: {e:?}", a.key))
            .body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("read {}: {e:?}", a.key))
            .into_bytes();
        assert_eq!(got.len(), a.size, "{} size", a.key);
        assert!(
            got.as_ref() == pattern(a.size, a.seed).as_slice(),
            "{} content differs after restart",
            a.key
        );
    }
}

async fn list_keys(server: &Server) -> Vec<String> {
    let s3 = client(server);
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("crash")
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return keys;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_objects_survive_kill_9() {
    let mut server = Server::start();
    client(&server)
        .create_bucket()
        .bucket("crash")
        .send()
        .await
        .expect("create bucket");
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let attempted: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut rng = rand::rng();
    for round in 0..ROUNDS {
        let before = acked.lock().expect("lock").len();
        let s3 = client(&server);
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let s3 = s3.clone();
            let acked = acked.clone();
            let attempted = attempted.clone();
            let mut seed_rng = rand::rngs::StdRng::seed_from_u64(rng.random());
            writers.push(tokio::spawn(async move {
                for n in 0.. {
                    let key = format!("round{round}/writer{w}/{n}");
                    let seed: u64 = seed_rng.random();
                    let size = random_size(&mut seed_rng);
                    attempted.lock().expect("lock").push(Acked {
                        key: key.clone(),
                        seed,
                        size,
                    });
                    let result = s3
                        .put_object()
                        .bucket("crash")
                        .key(&key)
                        .body(ByteStream::from(pattern(size, seed)))
                        .send()
                        .await;
                    match result {
                        Ok(_) => acked.lock().expect("lock").push(Acked { key, seed, size }),
                        // The server is gone: this writer is done.
                        Err(_) => return,
                    }
                }
            }));
        }
        // Kill while PUTs are flowing: a random delay after the round's first
        // acknowledgement. (A delay counted from the start alone could end before
        // any PUT finished on a loaded machine, failing the check below.)
        let started = std::time::Instant::now();
        while acked.lock().expect("lock").len() == before {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "round {round}: no PUT acknowledged within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let kill_after = Duration::from_millis(rng.random_range(1500..4000));
        tokio::time::sleep(kill_after).await;
        let data = server.kill();
        // Writers fail on their next request; give them a bound anyway.
        for writer in writers {
            let _ = tokio::time::timeout(Duration::from_secs(30), writer).await;
        }
        let snapshot = acked.lock().expect("lock").clone();
        eprintln!(
            "round {round}: killed {kill_after:?} after its first acknowledgement; {} objects acknowledged this round, {} in all",
            snapshot.len() - before,
            snapshot.len()
        );
        assert!(
            snapshot.len() > before,
            "round {round}: no PUT was acknowledged before the kill"
        );
        server = Server::start_in(data, &[]);
        verify(&server, &snapshot).await;
        // Whatever is listed is whole: it is one of the attempted objects, intact.
        let listed = list_keys(&server).await;
        let attempts = attempted.lock().expect("lock").clone();
        let visible: Vec<Acked> = listed
            .iter()
            .map(|key| {
                attempts
                    .iter()
                    .find(|a| &a.key == key)
                    .unwrap_or_else(|| panic!("listed {key} was never written"))
                    .clone()
            })
            .collect();
        assert!(visible.len() >= snapshot.len());
        verify(&server, &visible).await;
    }
}
