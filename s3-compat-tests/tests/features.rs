//! What folio answers for the S3 features it does not implement (or implements as a
//! stub), against a real `folio standalone`: every row of docs/s3-compatibility.md
//! that says "not supported" or "stub" is pinned here, so the table cannot claim less
//! than the server does, nor more.

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketCannedAcl, BucketVersioningStatus, CorsConfiguration, CorsRule, Permission, Tag, Tagging,
    VersioningConfiguration,
};
use common::{assert_error, assert_raw_error, client, raw_from_reqwest};
use folio_s3_compat_tests::{ACCESS_KEY, Server};

/// Asserts that a call failed with 501 NotImplemented.
fn assert_not_implemented<E: ProvideErrorMetadata + std::fmt::Debug, T: std::fmt::Debug>(
    what: &str,
    result: Result<T, SdkError<E>>,
) {
    let err = result.expect_err(what);
    let code = err
        .as_service_error()
        .and_then(|e| e.code())
        .map(str::to_owned);
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(
        (code.as_deref(), status),
        (Some("NotImplemented"), Some(501)),
        "{what}: {err:?}"
    );
}

async fn server_with_object(bucket: &str) -> (Server, Client) {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create");
    s3.put_object()
        .bucket(bucket)
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .expect("put");
    (server, s3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioning_is_reported_off_and_cannot_be_enabled() {
    let (_server, s3) = server_with_object("ver").await;
    let got = s3
        .get_bucket_versioning()
        .bucket("ver")
        .send()
        .await
        .expect("GetBucketVersioning");
    assert_eq!(got.status(), None, "a never-versioned bucket has no Status");
    assert_eq!(got.mfa_delete(), None);
    assert_not_implemented(
        "PutBucketVersioning Enabled",
        s3.put_bucket_versioning()
            .bucket("ver")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await,
    );
    // ListObjectVersions lists the one current object with version id "null".
    let versions = s3
        .list_object_versions()
        .bucket("ver")
        .send()
        .await
        .expect("ListObjectVersions");
    let listed: Vec<_> = versions
        .versions()
        .iter()
        .map(|v| (v.key(), v.version_id(), v.is_latest()))
        .collect();
    assert_eq!(listed, vec![(Some("k"), Some("null"), Some(true))]);
    assert!(versions.delete_markers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_are_read_only_owner_full_control() {
    let (_server, s3) = server_with_object("acl").await;
    let bucket_acl = s3
        .get_bucket_acl()
        .bucket("acl")
        .send()
        .await
        .expect("GetBucketAcl");
    let object_acl = s3
        .get_object_acl()
        .bucket("acl")
        .key("k")
        .send()
        .await
        .expect("GetObjectAcl");
    for (owner, grants) in [
        (bucket_acl.owner(), bucket_acl.grants()),
        (object_acl.owner(), object_acl.grants()),
    ] {
        assert_eq!(owner.and_then(|o| o.id()), Some(ACCESS_KEY));
        assert_eq!(grants.len(), 1, "{grants:?}");
        assert_eq!(grants[0].permission(), Some(&Permission::FullControl));
        assert_eq!(
            grants[0].grantee().and_then(|g| g.id()),
            Some(ACCESS_KEY),
            "{grants:?}"
        );
    }
    assert_not_implemented(
        "PutBucketAcl",
        s3.put_bucket_acl()
            .bucket("acl")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
    );
    assert_not_implemented(
        "PutObjectAcl",
        s3.put_object_acl()
            .bucket("acl")
            .key("k")
            .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
            .send()
            .await,
    );
    // A canned ACL on PutObject is accepted and ignored: the object stays private.
    s3.put_object()
        .bucket("acl")
        .key("public?")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .expect("PutObject with x-amz-acl");
    let anonymous = reqwest::get(format!("{}/acl/public%3F", _server.endpoint()))
        .await
        .expect("anonymous GET");
    assert_raw_error(&raw_from_reqwest(anonymous).await, 403, "AccessDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_subresources_that_are_not_implemented() {
    let (_server, s3) = server_with_object("sub").await;
    let b = "sub";
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("a").value("b").build().expect("tag"))
        .build()
        .expect("tagging");
    assert_not_implemented(
        "GetBucketTagging",
        s3.get_bucket_tagging().bucket(b).send().await,
    );
    assert_not_implemented(
        "PutBucketTagging",
        s3.put_bucket_tagging()
            .bucket(b)
            .tagging(tagging.clone())
            .send()
            .await,
    );
    assert_not_implemented(
        "PutObjectTagging",
        s3.put_object_tagging()
            .bucket(b)
            .key("k")
            .tagging(tagging)
            .send()
            .await,
    );
    assert_not_implemented(
        "GetBucketLifecycleConfiguration",
        s3.get_bucket_lifecycle_configuration()
            .bucket(b)
            .send()
            .await,
    );
    assert_not_implemented("GetBucketCors", s3.get_bucket_cors().bucket(b).send().await);
    assert_not_implemented(
        "PutBucketCors",
        s3.put_bucket_cors()
            .bucket(b)
            .cors_configuration(
                CorsConfiguration::builder()
                    .cors_rules(
                        CorsRule::builder()
                            .allowed_methods("GET")
                            .allowed_origins("*")
                            .build()
                            .expect("rule"),
                    )
                    .build()
                    .expect("cors"),
            )
            .send()
            .await,
    );
    assert_not_implemented(
        "GetBucketPolicy",
        s3.get_bucket_policy().bucket(b).send().await,
    );
    assert_not_implemented(
        "PutBucketPolicy",
        s3.put_bucket_policy().bucket(b).policy("{}").send().await,
    );
    assert_not_implemented(
        "GetObjectLockConfiguration",
        s3.get_object_lock_configuration().bucket(b).send().await,
    );
    assert_not_implemented(
        "GetObjectRetention",
        s3.get_object_retention().bucket(b).key("k").send().await,
    );
    assert_not_implemented(
        "GetObjectLegalHold",
        s3.get_object_legal_hold().bucket(b).key("k").send().await,
    );
    assert_not_implemented(
        "CreateBucket with object lock",
        s3.create_bucket()
            .bucket("locked")
            .object_lock_enabled_for_bucket(true)
            .send()
            .await,
    );
    assert_not_implemented(
        "GetBucketEncryption",
        s3.get_bucket_encryption().bucket(b).send().await,
    );
    assert_not_implemented(
        "GetObjectAttributes",
        s3.get_object_attributes()
            .bucket(b)
            .key("k")
            .object_attributes(aws_sdk_s3::types::ObjectAttributes::Etag)
            .send()
            .await,
    );
    assert_not_implemented(
        "GetBucketWebsite",
        s3.get_bucket_website().bucket(b).send().await,
    );
}

/// folio stores no tags: GetObjectTagging answers an empty TagSet (aws-cli asks for
/// it when it copies an object between keys), and setting tags is not implemented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_tagging_reads_an_empty_tag_set() {
    let (_server, s3) = server_with_object("tags").await;
    let got = s3
        .get_object_tagging()
        .bucket("tags")
        .key("k")
        .send()
        .await
        .expect("GetObjectTagging");
    assert!(got.tag_set().is_empty(), "{got:?}");
    let err = s3
        .get_object_tagging()
        .bucket("tags")
        .key("missing")
        .send()
        .await
        .expect_err("missing key");
    assert_error(&err, 404, "NoSuchKey");
    assert_not_implemented(
        "DeleteObjectTagging",
        s3.delete_object_tagging()
            .bucket("tags")
            .key("k")
            .send()
            .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_c_is_refused_before_anything_is_stored() {
    use base64::Engine as _;
    use md5::Digest as _;
    let (_server, s3) = server_with_object("ssec").await;
    let key = [7u8; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_not_implemented(
        "PutObject with SSE-C",
        s3.put_object()
            .bucket("ssec")
            .key("enc")
            .sse_customer_algorithm("AES256")
            .sse_customer_key(b64.encode(key))
            .sse_customer_key_md5(b64.encode(md5::Md5::digest(key)))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
    );
    let err = s3
        .head_object()
        .bucket("ssec")
        .key("enc")
        .send()
        .await
        .expect_err("nothing stored");
    assert_error(&err, 404, "NotFound");

    // SSE-S3 is accepted and not claimed: the object is stored, and neither the PUT
    // nor a HEAD says it is encrypted.
    let put = s3
        .put_object()
        .bucket("ssec")
        .key("sse-s3")
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("PutObject with x-amz-server-side-encryption");
    assert_eq!(put.server_side_encryption(), None);
    let head = s3
        .head_object()
        .bucket("ssec")
        .key("sse-s3")
        .send()
        .await
        .expect("head");
    assert_eq!(head.server_side_encryption(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_checksum_algorithm_is_stored_and_returned() {
    use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
    let (_server, s3) = server_with_object("sums").await;
    let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    for algorithm in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
        ChecksumAlgorithm::Crc64Nvme,
    ] {
        let key = format!("sum-{}", algorithm.as_str());
        let put = s3
            .put_object()
            .bucket("sums")
            .key(&key)
            .checksum_algorithm(algorithm.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put with {algorithm:?}: {e:?}"));
        let sent = [
            put.checksum_crc32(),
            put.checksum_crc32_c(),
            put.checksum_sha1(),
            put.checksum_sha256(),
            put.checksum_crc64_nvme(),
        ];
        let got = s3
            .get_object()
            .bucket("sums")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("get");
        let returned = [
            got.checksum_crc32(),
            got.checksum_crc32_c(),
            got.checksum_sha1(),
            got.checksum_sha256(),
            got.checksum_crc64_nvme(),
        ];
        assert_eq!(
            sent.iter().filter(|s| s.is_some()).count(),
            1,
            "{algorithm:?}: {sent:?}"
        );
        assert_eq!(sent, returned, "{algorithm:?}");
        let returned: Vec<String> = returned.iter().flatten().map(|s| s.to_string()).collect();
        let body = got
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .to_vec();
        assert_eq!(body, data, "{algorithm:?}: {returned:?}");
    }
}

/// TCP_NODELAY: without it, a small GET on a reused keep-alive connection waits about
/// 40 ms for Nagle's algorithm and the client's delayed ACK (S3-NOTES.md, Transport).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_gets_on_a_reused_connection_do_not_wait_for_nagle() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use std::time::{Duration, Instant};
    let (_server, s3) = server_with_object("nagle").await;
    s3.put_object()
        .bucket("nagle")
        .key("4k")
        .body(ByteStream::from(vec![7u8; 4096]))
        .send()
        .await
        .expect("put");
    let url = s3
        .get_object()
        .bucket("nagle")
        .key("4k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).expect("config"))
        .await
        .expect("presign")
        .uri()
        .to_owned();
    // One connection, reused: at most one idle connection per host.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let mut took = Vec::new();
    for _ in 0..41 {
        let start = Instant::now();
        let response = http.get(&url).send().await.expect("GET");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.bytes().await.expect("body").len(), 4096);
        took.push(start.elapsed());
    }
    took.sort();
    // With Nagle every request waits ~40 ms, so even the fastest tenth would; a loaded
    // machine slows some requests, not the fastest tenth.
    let p10 = took[took.len() / 10];
    assert!(
        p10 < Duration::from_millis(30),
        "the fastest tenth of 4 KiB GETs on a warm connection took {p10:?}: {took:?}"
    );
}
