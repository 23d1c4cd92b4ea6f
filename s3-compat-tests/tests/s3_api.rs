//! The S3 API through aws-sdk-s3 with its default settings, against a real
//! `folio standalone` process. Each test starts its own server.

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use folio_s3_compat_tests::{ACCESS_KEY, SECRET_KEY, Server};

fn client_with(server: &Server, access_key: &str, secret: &str) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.endpoint())
        .force_path_style(true)
        .credentials_provider(Credentials::new(access_key, secret, None, None, "test"))
        .build();
    Client::from_conf(config)
}

fn client(server: &Server) -> Client {
    client_with(server, ACCESS_KEY, SECRET_KEY)
}

/// The S3 error code of a failed call.
fn code<E: ProvideErrorMetadata + std::fmt::Debug>(err: &aws_sdk_s3::error::SdkError<E>) -> String {
    err.as_service_error()
        .and_then(|e| e.code())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{err:?}"))
}

/// The HTTP status of a failed call.
fn status<E>(err: &aws_sdk_s3::error::SdkError<E>) -> u16 {
    err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn body(output: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    output
        .body
        .collect()
        .await
        .expect("read body")
        .into_bytes()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_lifecycle_and_errors() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("create");
    let err = s3
        .create_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect_err("exists");
    assert_eq!(code(&err), "BucketAlreadyOwnedByYou");
    assert_eq!(status(&err), 409);
    let err = s3
        .create_bucket()
        .bucket("Bad_Name")
        .send()
        .await
        .expect_err("invalid");
    assert_eq!(code(&err), "InvalidBucketName");
    s3.head_bucket().bucket("alpha").send().await.expect("head");
    let err = s3
        .head_bucket()
        .bucket("nope")
        .send()
        .await
        .expect_err("missing");
    assert_eq!(status(&err), 404);
    let buckets = s3.list_buckets().send().await.expect("list");
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, vec!["alpha"]);
    let location = s3
        .get_bucket_location()
        .bucket("alpha")
        .send()
        .await
        .expect("location");
    // S3 reports us-east-1 as an empty LocationConstraint.
    assert_eq!(location.location_constraint().map(|c| c.as_str()), Some(""));

    s3.put_object()
        .bucket("alpha")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let err = s3
        .delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect_err("not empty");
    assert_eq!(code(&err), "BucketNotEmpty");
    s3.delete_object()
        .bucket("alpha")
        .key("k")
        .send()
        .await
        .expect("delete object");
    s3.delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("delete bucket");
    let err = s3
        .delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(&err), "NoSuchBucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_head_delete_with_metadata_and_ranges() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("data")
        .send()
        .await
        .expect("create");
    // 2.5 MiB: three ledger entries of 1 MiB, the last partial.
    let payload = bytes(5 << 19, 7);
    let put = s3
        .put_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .body(ByteStream::from(payload.clone()))
        .content_type("application/x-test")
        .cache_control("no-cache")
        .metadata("Color", "blue")
        .send()
        .await
        .expect("put");
    let etag = put.e_tag().expect("etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");

    let got = s3
        .get_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .send()
        .await
        .expect("get");
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.cache_control(), Some("no-cache"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("blue")
    );
    assert_eq!(body(got).await, payload);

    let head = s3
        .head_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(payload.len() as i64));

    // A range across an entry boundary, an open range and a suffix.
    for (range, first, last) in [
        ("bytes=1048570-1048590", 1048570usize, 1048590usize),
        ("bytes=2621000-", 2621000, payload.len() - 1),
        ("bytes=-10", payload.len() - 10, payload.len() - 1),
    ] {
        let got = s3
            .get_object()
            .bucket("data")
            .key("dir/a b+c.bin")
            .range(range)
            .send()
            .await
            .expect("range");
        assert_eq!(
            got.content_range(),
            Some(format!("bytes {first}-{last}/{}", payload.len()).as_str())
        );
        assert_eq!(body(got).await, payload[first..=last], "{range}");
    }
    let err = s3
        .get_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .range(format!("bytes={}-", payload.len()))
        .send()
        .await
        .expect_err("unsatisfiable");
    assert_eq!(code(&err), "InvalidRange");
    assert_eq!(status(&err), 416);

    let err = s3
        .get_object()
        .bucket("data")
        .key("missing")
        .send()
        .await
        .expect_err("missing");
    assert_eq!(code(&err), "NoSuchKey");
    s3.delete_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .send()
        .await
        .expect("delete");
    s3.delete_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .send()
        .await
        .expect("delete is idempotent");
    let err = s3
        .head_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(status(&err), 404);

    // An empty object.
    s3.put_object()
        .bucket("data")
        .key("empty")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .expect("put empty");
    let got = s3
        .get_object()
        .bucket("data")
        .key("empty")
        .send()
        .await
        .expect("get empty");
    assert!(body(got).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_with_prefix_delimiter_and_pages() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("list")
        .send()
        .await
        .expect("create");
    let keys = ["a/1", "a/2", "a/b/3", "b/4", "c", "d"];
    for k in keys {
        s3.put_object()
            .bucket("list")
            .key(k)
            .body(ByteStream::from_static(b"1"))
            .send()
            .await
            .expect("put");
    }
    let top = s3
        .list_objects_v2()
        .bucket("list")
        .delimiter("/")
        .send()
        .await
        .expect("list");
    let prefixes: Vec<&str> = top
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    let objects: Vec<&str> = top.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(prefixes, vec!["a/", "b/"]);
    assert_eq!(objects, vec!["c", "d"]);
    assert_eq!(top.key_count(), Some(4));

    let under_a = s3
        .list_objects_v2()
        .bucket("list")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .expect("list a/");
    let objects: Vec<&str> = under_a.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(objects, vec!["a/1", "a/2"]);

    // Pages of two, following continuation tokens.
    let mut seen = Vec::new();
    let mut token = None;
    for _ in 0..10 {
        let page = s3
            .list_objects_v2()
            .bucket("list")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("page");
        seen.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
    }
    assert_eq!(seen, keys);

    let v1 = s3
        .list_objects()
        .bucket("list")
        .marker("b/4")
        .send()
        .await
        .expect("v1");
    let objects: Vec<&str> = v1.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(objects, vec!["c", "d"]);

    let versions = s3
        .list_object_versions()
        .bucket("list")
        .send()
        .await
        .expect("versions");
    assert_eq!(versions.versions().len(), keys.len());
    assert!(
        versions
            .versions()
            .iter()
            .all(|v| v.version_id() == Some("null"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_and_its_errors() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("mpu")
        .send()
        .await
        .expect("create");
    let upload = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("big")
        .content_type("video/mp4")
        .send()
        .await
        .expect("create upload");
    let id = upload.upload_id().expect("upload id").to_owned();
    let part1 = bytes(5 << 20, 1);
    let part2 = bytes(1 << 20, 2);
    let mut parts = Vec::new();
    for (n, data) in [(1, &part1), (2, &part2)] {
        let out = s3
            .upload_part()
            .bucket("mpu")
            .key("big")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("upload part");
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("etag"))
                .build(),
        );
    }
    let listed = s3
        .list_parts()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .expect("list parts");
    assert_eq!(listed.parts().len(), 2);
    let uploads = s3
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .expect("list uploads");
    assert_eq!(uploads.uploads().len(), 1);

    // Out of order: InvalidPartOrder.
    let reversed = CompletedMultipartUpload::builder()
        .set_parts(Some(parts.iter().rev().cloned().collect()))
        .build();
    let err = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(reversed)
        .send()
        .await
        .expect_err("order");
    assert_eq!(code(&err), "InvalidPartOrder");

    let done = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts.clone()))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    assert!(
        done.e_tag().expect("etag").ends_with("-2\""),
        "{:?}",
        done.e_tag()
    );
    let got = s3
        .get_object()
        .bucket("mpu")
        .key("big")
        .send()
        .await
        .expect("get");
    assert_eq!(got.content_type(), Some("video/mp4"));
    let all = body(got).await;
    assert_eq!(all.len(), part1.len() + part2.len());
    assert_eq!(&all[..part1.len()], &part1[..]);
    assert_eq!(&all[part1.len()..], &part2[..]);

    let err = s3
        .list_parts()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .expect_err("completed");
    assert_eq!(code(&err), "NoSuchUpload");

    // A small first part: EntityTooSmall at Complete; then abort.
    let small = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("small")
        .send()
        .await
        .expect("create");
    let sid = small.upload_id().expect("id").to_owned();
    let mut small_parts = Vec::new();
    for n in 1..=2 {
        let out = s3
            .upload_part()
            .bucket("mpu")
            .key("small")
            .upload_id(&sid)
            .part_number(n)
            .body(ByteStream::from_static(b"tiny"))
            .send()
            .await
            .expect("part");
        small_parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("etag"))
                .build(),
        );
    }
    let err = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&sid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(small_parts))
                .build(),
        )
        .send()
        .await
        .expect_err("too small");
    assert_eq!(code(&err), "EntityTooSmall");
    s3.abort_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&sid)
        .send()
        .await
        .expect("abort");
    let err = s3
        .abort_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&sid)
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(&err), "NoSuchUpload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_delete_objects_and_conditions() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("src")
        .send()
        .await
        .expect("create");
    s3.create_bucket()
        .bucket("dst")
        .send()
        .await
        .expect("create");
    let put = s3
        .put_object()
        .bucket("src")
        .key("orig")
        .body(ByteStream::from_static(b"hello"))
        .metadata("a", "1")
        .send()
        .await
        .expect("put");
    let etag = put.e_tag().expect("etag").to_owned();
    s3.copy_object()
        .bucket("dst")
        .key("copy")
        .copy_source("src/orig")
        .send()
        .await
        .expect("copy");
    let got = s3
        .get_object()
        .bucket("dst")
        .key("copy")
        .send()
        .await
        .expect("get copy");
    assert_eq!(
        got.metadata().and_then(|m| m.get("a")).map(String::as_str),
        Some("1")
    );
    assert_eq!(body(got).await, b"hello");
    // The copy shares the source's ledger: deleting the source keeps the copy.
    s3.delete_object()
        .bucket("src")
        .key("orig")
        .send()
        .await
        .expect("delete source");
    let got = s3
        .get_object()
        .bucket("dst")
        .key("copy")
        .send()
        .await
        .expect("copy survives");
    assert_eq!(body(got).await, b"hello");

    // Conditional GETs.
    let err = s3
        .get_object()
        .bucket("dst")
        .key("copy")
        .if_none_match(&etag)
        .send()
        .await
        .expect_err("304");
    assert_eq!(status(&err), 304);
    let err = s3
        .get_object()
        .bucket("dst")
        .key("copy")
        .if_match("\"0000\"")
        .send()
        .await
        .expect_err("412");
    assert_eq!(status(&err), 412);

    // Conditional PUT: If-None-Match: * refuses an existing key.
    let err = s3
        .put_object()
        .bucket("dst")
        .key("copy")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("exists");
    assert_eq!(code(&err), "PreconditionFailed");
    s3.put_object()
        .bucket("dst")
        .key("fresh")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("absent key");

    // DeleteObjects: a missing key is reported deleted.
    let delete = Delete::builder()
        .objects(ObjectIdentifier::builder().key("copy").build().expect("id"))
        .objects(
            ObjectIdentifier::builder()
                .key("never-existed")
                .build()
                .expect("id"),
        )
        .build()
        .expect("delete");
    let out = s3
        .delete_objects()
        .bucket("dst")
        .delete(delete)
        .send()
        .await
        .expect("delete objects");
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, vec!["copy", "never-existed"]);
    assert!(out.errors().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conditional_puts_have_one_winner() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("race")
        .send()
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            s3.put_object()
                .bucket("race")
                .key("lock")
                .if_none_match("*")
                .body(ByteStream::from(vec![i; 100]))
                .send()
                .await
                .is_ok()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.expect("task") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_required_and_checked() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("auth")
        .send()
        .await
        .expect("create");
    let wrong = client_with(&server, ACCESS_KEY, "not-the-secret");
    let err = wrong.list_buckets().send().await.expect_err("bad secret");
    assert_eq!(code(&err), "SignatureDoesNotMatch");
    assert_eq!(status(&err), 403);
    let unknown = client_with(&server, "NOSUCHKEY", "whatever-secret");
    let err = unknown
        .list_buckets()
        .send()
        .await
        .expect_err("unknown key");
    assert_eq!(code(&err), "InvalidAccessKeyId");

    // Anonymous: 403 AccessDenied with an XML body.
    let response = reqwest::get(format!("{}/auth/x", server.endpoint()))
        .await
        .expect("anonymous GET");
    assert_eq!(response.status().as_u16(), 403);
    assert!(response.headers().contains_key("x-amz-request-id"));
    let text = response.text().await.expect("body");
    assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_get_and_put_with_plain_http() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use std::time::Duration;
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("pre")
        .send()
        .await
        .expect("create");
    let put = s3
        .put_object()
        .bucket("pre")
        .key("up")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).expect("config"))
        .await
        .expect("presign put");
    let http = reqwest::Client::new();
    let response = http
        .put(put.uri())
        .body("presigned body")
        .send()
        .await
        .expect("PUT");
    assert_eq!(
        response.status().as_u16(),
        200,
        "{:?}",
        response.text().await
    );
    let get = s3
        .get_object()
        .bucket("pre")
        .key("up")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).expect("config"))
        .await
        .expect("presign get");
    let response = http.get(get.uri()).send().await.expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("body"), "presigned body");
    // Tampering with the key breaks the signature.
    let tampered = get.uri().replace("/pre/up", "/pre/other");
    let response = http.get(tampered).send().await.expect("GET");
    assert_eq!(response.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_health_and_metrics_need_the_token() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("metrics")
        .send()
        .await
        .expect("create");
    s3.put_object()
        .bucket("metrics")
        .key("k")
        .body(ByteStream::from(vec![7u8; 1000]))
        .send()
        .await
        .expect("put");
    let got = s3
        .get_object()
        .bucket("metrics")
        .key("k")
        .send()
        .await
        .expect("get");
    assert_eq!(body(got).await.len(), 1000);

    let http = reqwest::Client::new();
    let admin = server.admin_endpoint();
    let health = http
        .get(format!("{admin}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 200);
    let denied = http
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(denied.status().as_u16(), 401);
    let wrong = http
        .get(format!("{admin}/metrics"))
        .bearer_auth("wrong-token")
        .send()
        .await
        .expect("metrics");
    assert_eq!(wrong.status().as_u16(), 401);
    let metrics = http
        .get(format!("{admin}/metrics"))
        .bearer_auth(folio_s3_compat_tests::ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains("folio_gateway_requests_total{op=\"PutObject\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("folio_gateway_requests_total{op=\"GetObject\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("folio_gateway_received_bytes_total 1000"),
        "{text}"
    );
    assert!(
        text.contains("folio_gateway_sent_bytes_total 1000"),
        "{text}"
    );
}
