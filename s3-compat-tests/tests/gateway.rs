//! `folio gateway` in front of three separate `folio bookie` processes, with an
//! embedded namespace: aws-sdk-s3 PUTs and GETs through it (empty, small, and an
//! object spanning many 64 KiB ledger entries, whole and by range), and a listing.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::{client, pattern};
use folio_s3_compat_tests::{BookieProcess, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_with_three_bookie_processes() {
    let bookies: Vec<BookieProcess> = (0..3)
        .map(|i| BookieProcess::start(&format!("gw-bookie-{i}")))
        .collect();
    let server = Server::start_gateway(&bookies, &[]);
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("cluster")
        .send()
        .await
        .expect("create bucket");
    for (key, size) in [("empty", 0usize), ("small", 1234), ("entries", 1_000_000)] {
        let data = pattern(size, size as u64);
        s3.put_object()
            .bucket("cluster")
            .key(key)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
        let got = s3
            .get_object()
            .bucket("cluster")
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {key}: {e:?}"))
            .body
            .collect()
            .await
            .expect("read body")
            .into_bytes();
        assert!(got.as_ref() == data.as_slice(), "{key} round-trips");
    }
    let ranged = s3
        .get_object()
        .bucket("cluster")
        .key("entries")
        .range("bytes=65530-131080")
        .send()
        .await
        .expect("ranged get")
        .body
        .collect()
        .await
        .expect("read range")
        .into_bytes();
    assert!(ranged.as_ref() == &pattern(1_000_000, 1_000_000)[65530..=131080]);
    let listed = s3
        .list_objects_v2()
        .bucket("cluster")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.key_count(), Some(3));
    drop(server);
    drop(bookies);
}
