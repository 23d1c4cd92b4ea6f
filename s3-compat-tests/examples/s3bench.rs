//! A small S3 load generator: PUT then GET of objects of one size at one concurrency,
//! reporting ops/s, MiB/s and latency percentiles. Not a test.
//!
//! ```sh
//! cargo run --release -p folio-s3-compat-tests --example s3bench -- \
//!     --endpoint http://127.0.0.1:9000 --size 1MiB --concurrency 16 --seconds 20
//! ```
//!
//! Credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`. It writes into
//! bucket `s3bench` (created if missing) under keys `obj-<worker>-<n>`.
//!
//! By default the SDK's own defaults apply: an in-memory body is signed with its real
//! SHA-256 in `x-amz-content-sha256` and carries an `x-amz-checksum-crc32` header, so
//! the server hashes every byte with SHA-256, MD5 (ETag) and CRC32. `--unsigned-payload
//! true` sends `UNSIGNED-PAYLOAD` instead, and `--checksum false` sends no checksum
//! (only when required), to measure those costs apart.

use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region, RequestChecksumCalculation};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

struct Args {
    endpoint: String,
    size: usize,
    concurrency: usize,
    seconds: u64,
    unsigned_payload: bool,
    checksum: bool,
}

fn parse_size(s: &str) -> Option<usize> {
    let (n, unit) = s
        .trim()
        .split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: usize = n.parse().ok()?;
    Some(match unit {
        "" | "B" => n,
        "KiB" => n << 10,
        "MiB" => n << 20,
        "GiB" => n << 30,
        _ => return None,
    })
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        endpoint: "http://127.0.0.1:9000".into(),
        size: 1 << 20,
        concurrency: 16,
        seconds: 20,
        unsigned_payload: false,
        checksum: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--endpoint" => out.endpoint = value,
            "--size" => out.size = parse_size(&value).ok_or(format!("bad --size {value}"))?,
            "--concurrency" => {
                out.concurrency = value
                    .parse()
                    .map_err(|_| format!("bad --concurrency {value}"))?
            }
            "--seconds" => {
                out.seconds = value
                    .parse()
                    .map_err(|_| format!("bad --seconds {value}"))?
            }
            "--unsigned-payload" => {
                out.unsigned_payload = value
                    .parse()
                    .map_err(|_| format!("bad --unsigned-payload {value} (true or false)"))?
            }
            "--checksum" => {
                out.checksum = value
                    .parse()
                    .map_err(|_| format!("bad --checksum {value} (true or false)"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if out.concurrency == 0 || out.seconds == 0 {
        return Err("--concurrency and --seconds must be positive".into());
    }
    Ok(out)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(phase: &str, a: &Args, mut lat: Vec<Duration>, elapsed: Duration) {
    lat.sort();
    let ops = lat.len() as f64 / elapsed.as_secs_f64();
    let mib = ops * a.size as f64 / (1 << 20) as f64;
    println!(
        "{phase} size={} concurrency={} unsigned_payload={} checksum={} ops={} ops/s={ops:.1} MiB/s={mib:.1} p50={:.2}ms p99={:.2}ms",
        a.size,
        a.concurrency,
        a.unsigned_payload,
        a.checksum,
        lat.len(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99)
    );
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let a = args()?;
    let key = std::env::var("AWS_ACCESS_KEY_ID").map_err(|_| "set AWS_ACCESS_KEY_ID")?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").map_err(|_| "set AWS_SECRET_ACCESS_KEY")?;
    let checksums = if a.checksum {
        RequestChecksumCalculation::WhenSupported
    } else {
        RequestChecksumCalculation::WhenRequired
    };
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .request_checksum_calculation(checksums)
        .region(Region::new("us-east-1"))
        .endpoint_url(&a.endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(key, secret, None, None, "s3bench"))
        .build();
    let s3 = Client::from_conf(config);
    let _ = s3.create_bucket().bucket("s3bench").send().await;
    let payload = Bytes::from(vec![0x5au8; a.size]);
    let deadline = Duration::from_secs(a.seconds);

    // PUT phase: each worker writes until the deadline and remembers its keys.
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..a.concurrency {
        let (s3, payload) = (s3.clone(), payload.clone());
        let unsigned = a.unsigned_payload;
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            while started.elapsed() < deadline {
                let t = Instant::now();
                let put = s3
                    .put_object()
                    .bucket("s3bench")
                    .key(format!("obj-{w}-{n}"))
                    .body(ByteStream::from(payload.clone()));
                let sent = if unsigned {
                    put.customize().disable_payload_signing().send().await
                } else {
                    put.send().await
                };
                sent.map_err(|e| format!("PUT failed: {e:?}"))?;
                lat.push(t.elapsed());
                n += 1;
            }
            Ok::<_, String>((lat, n))
        }));
    }
    let mut put_lat = Vec::new();
    let mut written = Vec::new();
    for w in workers {
        let (lat, n) = w.await.map_err(|e| e.to_string())??;
        put_lat.extend(lat);
        written.push(n);
    }
    report("PUT", &a, put_lat, started.elapsed());

    // GET phase: each worker reads back its own objects, round robin, until the deadline.
    let started = Instant::now();
    let mut workers = Vec::new();
    for (w, n) in written.into_iter().enumerate() {
        let s3 = s3.clone();
        let size = a.size;
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while n > 0 && started.elapsed() < deadline {
                let t = Instant::now();
                let got = s3
                    .get_object()
                    .bucket("s3bench")
                    .key(format!("obj-{w}-{}", i % n))
                    .send()
                    .await
                    .map_err(|e| format!("GET failed: {e:?}"))?;
                let body = got.body.collect().await.map_err(|e| e.to_string())?;
                if body.into_bytes().len() != size {
                    return Err("short GET".to_owned());
                }
                lat.push(t.elapsed());
                i += 1;
            }
            Ok::<_, String>(lat)
        }));
    }
    let mut get_lat = Vec::new();
    for w in workers {
        get_lat.extend(w.await.map_err(|e| e.to_string())??);
    }
    report("GET", &a, get_lat, started.elapsed());
    Ok(())
}
