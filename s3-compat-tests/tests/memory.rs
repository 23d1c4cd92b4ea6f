//! Bounded memory: a 1 GiB PUT and a 1 GiB GET through a real `folio standalone`
//! (gateway and its three bookies in one process) raise the server's peak RSS
//! (VmHWM in /proc/<pid>/status) by less than 256 MiB. The test streams the body from
//! a generator and hashes the download as it arrives, so it holds no more than a
//! megabyte either.

mod common;

use std::time::{Duration, Instant};

use common::{Conn, Signer, head, signed_headers};
use folio_s3_compat_tests::Server;
use md5::{Digest, Md5};
use tokio::io::AsyncReadExt;

const OBJECT_BYTES: u64 = 1 << 30;
const BLOCK_BYTES: usize = 1 << 20;
const LIMIT_BYTES: u64 = 256 << 20;

/// (VmHWM, VmRSS) of `pid`, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Block `i` of the object: a fixed pseudo-random megabyte stamped with its index.
fn block(base: &[u8], i: u64, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(base);
    out[..8].copy_from_slice(&i.to_le_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_put_and_get_in_bounded_memory() {
    let server = Server::start();
    let pid = server.pid();
    let s3 = common::client(&server);
    s3.create_bucket()
        .bucket("big")
        .send()
        .await
        .expect("create bucket");
    // Warm up every path (a few entries through PUT and GET) before the baseline.
    let warm = common::pattern(4 * BLOCK_BYTES, 1);
    s3.put_object()
        .bucket("big")
        .key("warm")
        .body(warm.clone().into())
        .send()
        .await
        .expect("warm-up put");
    let got = s3
        .get_object()
        .bucket("big")
        .key("warm")
        .send()
        .await
        .expect("warm-up get")
        .body
        .collect()
        .await
        .expect("warm-up body");
    assert_eq!(got.into_bytes().as_ref(), &warm[..]);
    let (baseline_hwm, baseline_rss) = memory(pid);

    // PUT 1 GiB with UNSIGNED-PAYLOAD, written as it is generated.
    let base = common::pattern(BLOCK_BYTES, 2);
    let signer = Signer::new();
    let headers = signed_headers(
        &server,
        &signer,
        "PUT",
        "/big/object",
        "UNSIGNED-PAYLOAD",
        &[("content-length", OBJECT_BYTES.to_string())],
    );
    let mut conn = Conn::open(server.s3_addr()).await;
    conn.send(head("PUT", "/big/object", &headers).as_bytes())
        .await
        .expect("send head");
    let started = Instant::now();
    let mut md5 = Md5::new();
    let mut buf = Vec::with_capacity(BLOCK_BYTES);
    for i in 0..OBJECT_BYTES / BLOCK_BYTES as u64 {
        block(&base, i, &mut buf);
        md5.update(&buf);
        conn.send(&buf).await.expect("send body");
    }
    let put = conn.response(false).await.expect("PUT response");
    let put_secs = started.elapsed().as_secs_f64();
    assert_eq!(put.status, 200, "{}", put.text());
    let etag = format!("\"{}\"", hex::encode(md5.finalize()));
    assert_eq!(put.header("etag"), Some(etag.as_str()));
    let (after_put_hwm, _) = memory(pid);

    // GET it back, hashing as it streams.
    let signer = Signer::new();
    let headers = signed_headers(
        &server,
        &signer,
        "GET",
        "/big/object",
        &common::sha256_hex(b""),
        &[],
    );
    let mut stream = tokio::net::TcpStream::connect(server.s3_addr())
        .await
        .expect("connect");
    tokio::io::AsyncWriteExt::write_all(
        &mut stream,
        head("GET", "/big/object", &headers).as_bytes(),
    )
    .await
    .expect("send GET");
    let started = Instant::now();
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.expect("read head");
        assert!(n > 0, "closed before the response head");
        pending.extend_from_slice(&chunk[..n]);
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let response_head = String::from_utf8_lossy(&pending[..header_end]).into_owned();
    assert!(response_head.starts_with("HTTP/1.1 200"), "{response_head}");
    assert!(
        response_head
            .to_ascii_lowercase()
            .contains(&format!("content-length: {OBJECT_BYTES}")),
        "{response_head}"
    );
    let mut md5 = Md5::new();
    let mut received = (pending.len() - header_end - 4) as u64;
    md5.update(&pending[header_end + 4..]);
    while received < OBJECT_BYTES {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut chunk))
            .await
            .expect("GET makes progress")
            .expect("read body");
        assert!(n > 0, "closed after {received} bytes");
        md5.update(&chunk[..n]);
        received += n as u64;
    }
    let get_secs = started.elapsed().as_secs_f64();
    assert_eq!(received, OBJECT_BYTES);
    assert_eq!(format!("\"{}\"", hex::encode(md5.finalize())), etag);
    let (after_get_hwm, after_get_rss) = memory(pid);

    let raised = after_get_hwm.saturating_sub(baseline_hwm.max(baseline_rss));
    eprintln!(
        "memory: baseline VmHWM {:.1} MiB VmRSS {:.1} MiB; after PUT VmHWM {:.1} MiB; after GET VmHWM {:.1} MiB VmRSS {:.1} MiB; peak raised by {:.1} MiB; PUT {:.1} s ({:.0} MiB/s), GET {:.1} s ({:.0} MiB/s)",
        mib(baseline_hwm),
        mib(baseline_rss),
        mib(after_put_hwm),
        mib(after_get_hwm),
        mib(after_get_rss),
        mib(raised),
        put_secs,
        mib(OBJECT_BYTES) / put_secs,
        get_secs,
        mib(OBJECT_BYTES) / get_secs,
    );
    assert!(
        raised < LIMIT_BYTES,
        "peak RSS rose by {:.1} MiB (limit {:.0} MiB)",
        mib(raised),
        mib(LIMIT_BYTES)
    );
}
