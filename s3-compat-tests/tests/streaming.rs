//! aws-chunked uploads crafted by hand (signed, signed with a trailer, unsigned with a
//! trailer), their failure modes (a bad chunk signature, a bad trailer checksum, a
//! truncated body), and the transport rules of S3-NOTES: `Expect: 100-continue`
//! answered only after authentication, and an error sent before the body is read
//! leaves the connection usable or closes it cleanly. Every failure must leave no
//! object behind.

mod common;

use std::time::Duration;

use common::{
    Conn, Faults, Mode, Signer, assert_raw_error, chunked_put, client, crc32_base64, exists, head,
    pattern, signed_headers,
};
use folio_s3_compat_tests::Server;

async fn setup(bucket: &str) -> (Server, aws_sdk_s3::Client) {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
    (server, s3)
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e:?}"))
        .body
        .collect()
        .await
        .expect("read body")
        .into_bytes()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_uploads_signed_and_with_trailers() {
    let (server, s3) = setup("chunks").await;
    let data = pattern(300 * 1024 + 123, 7);
    for (i, mode) in [Mode::Signed, Mode::SignedTrailer, Mode::UnsignedTrailer]
        .into_iter()
        .enumerate()
    {
        let key = format!("ok-{i}");
        let path = format!("/chunks/{key}");
        let mut conn = Conn::open(server.s3_addr()).await;
        conn.send(&chunked_put(
            &server,
            &path,
            &data,
            64 * 1024,
            mode,
            Faults::default(),
        ))
        .await
        .expect("send");
        let response = conn.response(false).await.expect("response");
        assert_eq!(response.status, 200, "{mode:?}: {}", response.text());
        if mode != Mode::Signed {
            assert_eq!(
                response.header("x-amz-checksum-crc32"),
                Some(crc32_base64(&data).as_str()),
                "{mode:?}"
            );
        }
        assert_eq!(get(&s3, "chunks", &key).await, data, "{mode:?}");
        let headers = s3
            .head_object()
            .bucket("chunks")
            .key(&key)
            .send()
            .await
            .expect("head");
        assert_eq!(
            headers.content_encoding(),
            None,
            "aws-chunked is not stored as the object's Content-Encoding"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chunk_signature_and_bad_trailer_checksum_leave_no_object() {
    let (server, s3) = setup("chunks").await;
    let data = pattern(200 * 1024, 9);
    let cases = [
        (
            "bad-sig-first",
            Mode::Signed,
            Faults {
                bad_chunk_signature: Some(0),
                ..Faults::default()
            },
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "bad-sig-last",
            Mode::SignedTrailer,
            Faults {
                bad_chunk_signature: Some(3),
                ..Faults::default()
            },
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "bad-crc-unsigned",
            Mode::UnsignedTrailer,
            Faults {
                bad_trailer_checksum: true,
                ..Faults::default()
            },
            400,
            "BadDigest",
        ),
        (
            "bad-crc-signed",
            Mode::SignedTrailer,
            Faults {
                bad_trailer_checksum: true,
                ..Faults::default()
            },
            400,
            "BadDigest",
        ),
    ];
    for (key, mode, faults, status, code) in cases {
        let path = format!("/chunks/{key}");
        let mut conn = Conn::open(server.s3_addr()).await;
        conn.send(&chunked_put(&server, &path, &data, 64 * 1024, mode, faults))
            .await
            .expect("send");
        let response = conn.response(false).await.expect("response");
        assert_raw_error(&response, status, code);
        assert!(!exists(&s3, "chunks", key).await, "{key} must not exist");
    }
    // An object that exists is not replaced by a failed upload.
    let mut conn = Conn::open(server.s3_addr()).await;
    conn.send(&chunked_put(
        &server,
        "/chunks/kept",
        &data,
        64 * 1024,
        Mode::Signed,
        Faults::default(),
    ))
    .await
    .expect("send");
    assert_eq!(conn.response(false).await.expect("response").status, 200);
    let other = pattern(100 * 1024, 10);
    let mut conn = Conn::open(server.s3_addr()).await;
    conn.send(&chunked_put(
        &server,
        "/chunks/kept",
        &other,
        64 * 1024,
        Mode::Signed,
        Faults {
            bad_chunk_signature: Some(1),
            ..Faults::default()
        },
    ))
    .await
    .expect("send");
    assert_raw_error(
        &conn.response(false).await.expect("response"),
        403,
        "SignatureDoesNotMatch",
    );
    assert_eq!(get(&s3, "chunks", "kept").await, data);
}

/// Sends the head and part of the body of a request, then closes the socket.
async fn send_truncated(server: &Server, request: &[u8], keep: usize) {
    let mut conn = Conn::open(server.s3_addr()).await;
    conn.send(&request[..keep]).await.expect("send");
    // Let the server start streaming into a ledger before the close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_bodies_leave_no_object() {
    let (server, s3) = setup("trunc").await;
    let data = pattern(3 * 1024 * 1024, 11);
    // A plain body: Content-Length larger than what is sent.
    let signer = Signer::new();
    let headers = signed_headers(
        &server,
        &signer,
        "PUT",
        "/trunc/plain",
        "UNSIGNED-PAYLOAD",
        &[("content-length", data.len().to_string())],
    );
    let mut request = head("PUT", "/trunc/plain", &headers).into_bytes();
    let head_len = request.len();
    request.extend_from_slice(&data);
    send_truncated(&server, &request, head_len + 2 * 1024 * 1024 + 5).await;
    // aws-chunked bodies cut in a chunk's data, and after the final chunk but before
    // the trailer.
    let chunked = chunked_put(
        &server,
        "/trunc/chunked",
        &data,
        256 * 1024,
        Mode::Signed,
        Faults::default(),
    );
    send_truncated(&server, &chunked, chunked.len() / 2).await;
    let trailer = chunked_put(
        &server,
        "/trunc/trailer",
        &data,
        256 * 1024,
        Mode::UnsignedTrailer,
        Faults::default(),
    );
    send_truncated(&server, &trailer, trailer.len() - 20).await;
    // Give the server time to notice; the objects must never appear.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for key in ["plain", "chunked", "trailer"] {
            assert!(!exists(&s3, "trunc", key).await, "{key} must not exist");
        }
    }
    let listed = s3
        .list_objects_v2()
        .bucket("trunc")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.key_count(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_upload_part_leaves_no_part() {
    let (server, s3) = setup("trunc").await;
    let upload = s3
        .create_multipart_upload()
        .bucket("trunc")
        .key("multi")
        .send()
        .await
        .expect("create multipart upload");
    let upload_id = upload.upload_id().expect("upload id").to_owned();
    let data = pattern(2 * 1024 * 1024, 21);
    let signer = Signer::new();
    let encoded_id: String = upload_id
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let query = format!("partNumber=1&uploadId={encoded_id}");
    let mut headers: Vec<(&str, String)> = vec![
        ("host", server.s3_addr().to_string()),
        ("x-amz-date", signer.amz_date.clone()),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD".to_owned()),
        ("content-length", data.len().to_string()),
    ];
    let (authorization, _) = signer.authorization_with_query(
        "PUT",
        "/trunc/multi",
        &query,
        &headers,
        "UNSIGNED-PAYLOAD",
    );
    headers.push(("authorization", authorization));
    let mut request = head("PUT", &format!("/trunc/multi?{query}"), &headers).into_bytes();
    let head_len = request.len();
    request.extend_from_slice(&data);
    // The truncated request first, then the same request whole, which proves it was
    // well-formed.
    send_truncated(&server, &request, head_len + data.len() / 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let parts = s3
        .list_parts()
        .bucket("trunc")
        .key("multi")
        .upload_id(&upload_id)
        .send()
        .await
        .expect("list parts");
    assert!(parts.parts().is_empty(), "{:?}", parts.parts());
    let mut conn = Conn::open(server.s3_addr()).await;
    conn.send(&request).await.expect("send whole part");
    let response = conn.response(false).await.expect("response");
    assert_eq!(response.status, 200, "{}", response.text());
    let parts = s3
        .list_parts()
        .bucket("trunc")
        .key("multi")
        .upload_id(&upload_id)
        .send()
        .await
        .expect("list parts");
    assert_eq!(parts.parts().len(), 1);
    assert_eq!(parts.parts()[0].size(), Some(data.len() as i64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_continue_only_after_authentication() {
    let (server, s3) = setup("expect").await;
    let data = pattern(512 * 1024, 13);
    let signer = Signer::new();

    // Valid: 100 Continue, then the body, then 200.
    let headers = signed_headers(
        &server,
        &signer,
        "PUT",
        "/expect/good",
        "UNSIGNED-PAYLOAD",
        &[
            ("content-length", data.len().to_string()),
            ("expect", "100-continue".to_owned()),
        ],
    );
    let mut conn = Conn::open(server.s3_addr()).await;
    conn.send(head("PUT", "/expect/good", &headers).as_bytes())
        .await
        .expect("send head");
    let interim = conn.response(true).await.expect("interim response");
    assert_eq!(interim.status, 100, "{interim:?}");
    conn.send(&data).await.expect("send body");
    let done = conn.response(false).await.expect("final response");
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(get(&s3, "expect", "good").await, data);

    // A bad signature: the error comes without 100 Continue and before any body.
    let mut headers = signed_headers(
        &server,
        &signer,
        "PUT",
        "/expect/bad",
        "UNSIGNED-PAYLOAD",
        &[
            ("content-length", data.len().to_string()),
            ("expect", "100-continue".to_owned()),
        ],
    );
    for (k, v) in headers.iter_mut() {
        if *k == "authorization" {
            *v = v
                .replace("Signature=", "Signature=f")
                .split_at(v.len())
                .0
                .to_owned();
        }
    }
    let mut conn = Conn::open(server.s3_addr()).await;
    conn.send(head("PUT", "/expect/bad", &headers).as_bytes())
        .await
        .expect("send head");
    let response = conn.response(false).await.expect("error response");
    assert_raw_error(&response, 403, "SignatureDoesNotMatch");
    // The body was never invited, so the connection cannot be reused: say so.
    assert!(response.closes(), "{:?}", response.headers);
    assert!(conn.closed_within(Duration::from_secs(30)).await);
    assert!(!exists(&s3, "expect", "bad").await);

    // A missing bucket, with If-None-Match: the error comes before the body too.
    let headers = signed_headers(
        &server,
        &signer,
        "PUT",
        "/nobucket/key",
        "UNSIGNED-PAYLOAD",
        &[
            ("content-length", data.len().to_string()),
            ("expect", "100-continue".to_owned()),
        ],
    );
    let mut conn = Conn::open(server.s3_addr()).await;
    conn.send(head("PUT", "/nobucket/key", &headers).as_bytes())
        .await
        .expect("send head");
    let response = conn.response(false).await.expect("error response");
    assert_raw_error(&response, 404, "NoSuchBucket");

    // A conditional PUT that cannot succeed (If-None-Match: * on an existing key):
    // 412 before the body, and the object is unchanged.
    for (name, value) in [
        ("if-none-match", "*".to_owned()),
        (
            "if-match",
            "\"0123456789abcdef0123456789abcdef\"".to_owned(),
        ),
    ] {
        let headers = signed_headers(
            &server,
            &signer,
            "PUT",
            "/expect/good",
            "UNSIGNED-PAYLOAD",
            &[
                ("content-length", "5".to_owned()),
                ("expect", "100-continue".to_owned()),
                (name, value),
            ],
        );
        let mut conn = Conn::open(server.s3_addr()).await;
        conn.send(head("PUT", "/expect/good", &headers).as_bytes())
            .await
            .expect("send head");
        let response = conn.response(false).await.expect("error response");
        assert_raw_error(&response, 412, "PreconditionFailed");
        assert!(response.closes(), "{name}: {:?}", response.headers);
    }
    assert_eq!(get(&s3, "expect", "good").await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_before_the_body_keep_the_connection_sane() {
    let (server, s3) = setup("keep").await;
    let signer = Signer::new();
    for size in [1000usize, 256 * 1024, 4 * 1024 * 1024] {
        let data = pattern(size, size as u64);
        // A PUT to a missing bucket with its whole body sent at once, no Expect.
        let headers = signed_headers(
            &server,
            &signer,
            "PUT",
            "/missing/key",
            "UNSIGNED-PAYLOAD",
            &[("content-length", data.len().to_string())],
        );
        let mut request = head("PUT", "/missing/key", &headers).into_bytes();
        request.extend_from_slice(&data);
        // Then a valid request on the same connection.
        let next_headers = signed_headers(
            &server,
            &signer,
            "HEAD",
            "/keep",
            &common::sha256_hex(b""),
            &[],
        );
        let mut conn = Conn::open(server.s3_addr()).await;
        // Write the request in the background: the server may answer before it has
        // read all of it.
        let (mut reader, mut writer) = conn.stream.into_split();
        let writing = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let result = writer.write_all(&request).await;
            (writer, result)
        });
        conn.stream = {
            // Read the first response through a temporary Conn over the reader half.
            let mut buffer = Vec::new();
            let response = read_one(&mut reader, &mut buffer).await;
            assert_raw_error(&response, 404, "NoSuchBucket");
            let (writer, sent) = writing.await.expect("writer task");
            // Bodies up to the gateway's drain bound are read and dropped, so the
            // connection stays in step.
            assert!(!response.closes(), "size {size}: {:?}", response.headers);
            sent.expect("the server read the whole body of a kept-alive connection");
            let mut writer = writer;
            use tokio::io::AsyncWriteExt;
            writer
                .write_all(head("HEAD", "/keep", &next_headers).as_bytes())
                .await
                .expect("send the next request");
            let mut rest = read_one_head(&mut reader, &mut buffer).await;
            assert_eq!(rest.status, 200, "size {size}: next request {rest:?}");
            rest.body.clear();
            reader.reunite(writer).expect("same stream")
        };
        drop(conn);
    }
    assert!(s3.head_bucket().bucket("keep").send().await.is_ok());
}

async fn read_one(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    buffer: &mut Vec<u8>,
) -> common::RawResponse {
    read_response(reader, buffer, false).await
}

async fn read_one_head(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    buffer: &mut Vec<u8>,
) -> common::RawResponse {
    read_response(reader, buffer, true).await
}

async fn read_response(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    buffer: &mut Vec<u8>,
    no_body: bool,
) -> common::RawResponse {
    tokio::time::timeout(
        Duration::from_secs(30),
        common::read_http_response(reader, buffer, no_body),
    )
    .await
    .expect("response in time")
    .expect("read a response")
}
