//! aws-sdk-s3 with its default settings over HTTPS: `folio standalone --tls-cert
//! --tls-key` with a self-signed certificate made here, and an SDK client whose only
//! trusted root is that certificate. Over HTTPS the SDK streams uploads as
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER` with a CRC trailer; the test records the
//! `x-amz-content-sha256` it sent to prove that path was taken.
//!
//! `api_checks_over_tls` runs the same `common::checks` bodies as `s3_api` (ranges,
//! copy, batch delete, listing, UploadPartCopy, each with its error cases by status
//! and code) through the HTTPS client, and sends hand-made aws-chunked uploads over a
//! raw TLS connection, one with a wrong CRC trailer.

mod common;

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{BehaviorVersion, ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use common::{Faults, Mode, TlsConn, assert_raw_error, checks, chunked_put, exists, pattern};
use folio_s3_compat_tests::{ACCESS_KEY, SECRET_KEY, Server};

/// Records the payload mode (`x-amz-content-sha256`) of every request the SDK sends.
#[derive(Debug, Default, Clone)]
struct PayloadModes(Arc<Mutex<Vec<(String, String)>>>);

impl Intercept for PayloadModes {
    fn name(&self) -> &'static str {
        "PayloadModes"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let request = context.request();
        let mode = request
            .headers()
            .get("x-amz-content-sha256")
            .unwrap_or("")
            .to_owned();
        let trailer = request
            .headers()
            .get("x-amz-trailer")
            .unwrap_or("")
            .to_owned();
        self.0
            .lock()
            .expect("lock")
            .push((format!("{mode} {trailer}"), request.method().to_owned()));
        Ok(())
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, written to `dir`; returns
/// the certificate's PEM and the two file paths.
fn self_signed(dir: &std::path::Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("generate a certificate");
    let cert_pem = certified.cert.pem();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, &cert_pem).expect("write cert");
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).expect("write key");
    (cert_pem, cert_path, key_path)
}

fn https_client(server: &Server, cert_pem: &str, modes: &PayloadModes) -> Client {
    let trust = TrustStore::empty().with_pem_certificate(cert_pem.as_bytes());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .expect("TLS context"),
        )
        .build_https();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.endpoint())
        .force_path_style(true)
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .http_client(http)
        .interceptor(modes.clone())
        .build();
    Client::from_conf(config)
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(59).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect()
}

async fn get(s3: &Client, key: &str) -> Vec<u8> {
    get_from(s3, "secure", key).await
}

/// A `folio standalone` serving HTTPS with a fresh self-signed certificate in
/// `certs`; returns it and the certificate's PEM.
fn tls_server(certs: &std::path::Path) -> (Server, String) {
    let (cert_pem, cert, key) = self_signed(certs);
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start_in(
        data,
        &[
            "--tls-cert",
            cert.to_str().expect("utf-8 path"),
            "--tls-key",
            key.to_str().expect("utf-8 path"),
        ],
    );
    assert!(
        server.endpoint().starts_with("https://"),
        "{}",
        server.endpoint()
    );
    (server, cert_pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_checks_over_tls() {
    let certs = tempfile::tempdir().expect("temp dir");
    let (server, cert_pem) = tls_server(certs.path());
    let s3 = https_client(&server, &cert_pem, &PayloadModes::default());
    checks::ranges(&s3).await;
    checks::copy(&s3).await;
    checks::delete_objects(&s3).await;
    checks::listing(&s3).await;
    checks::upload_part_copy(&s3).await;

    // Hand-made aws-chunked uploads over raw TLS: a good CRC trailer is stored, a
    // wrong one is 400 BadDigest and stores nothing.
    s3.create_bucket()
        .bucket("raw")
        .send()
        .await
        .expect("create bucket");
    let data = pattern(200 * 1024, 5);
    for (key, bad, status) in [("good", false, 200), ("bad-crc", true, 400)] {
        let faults = Faults {
            bad_trailer_checksum: bad,
            ..Faults::default()
        };
        let request = chunked_put(
            &server,
            &format!("/raw/{key}"),
            &data,
            64 * 1024,
            Mode::UnsignedTrailer,
            faults,
        );
        let mut conn = TlsConn::open_tls(server.s3_addr(), &cert_pem).await;
        conn.send(&request).await.expect("send over TLS");
        let response = conn.response(false).await.expect("response over TLS");
        if status == 200 {
            assert_eq!(response.status, 200, "{}", response.text());
        } else {
            assert_raw_error(&response, 400, "BadDigest");
        }
    }
    assert!(!exists(&s3, "raw", "bad-crc").await, "nothing stored");
    assert_eq!(get_from(&s3, "raw", "good").await, data);
}

async fn get_from(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    checks::body(
        s3.get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("get over TLS"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_defaults_over_tls_put_get_and_multipart() {
    let certs = tempfile::tempdir().expect("temp dir");
    let (server, cert_pem) = tls_server(certs.path());
    let modes = PayloadModes::default();
    let s3 = https_client(&server, &cert_pem, &modes);
    s3.create_bucket()
        .bucket("secure")
        .send()
        .await
        .expect("create bucket over TLS");

    // Single PUTs: small and empty from memory (the SDK signs their SHA-256), and a
    // few entries' worth streamed from a file (aws-chunked with a CRC trailer).
    for (key, size) in [("small", 1000), ("empty", 0), ("big", 3 * 1024 * 1024 + 17)] {
        let body = bytes(size, size as u8);
        let stream = if key == "big" {
            let path = certs.path().join("big.bin");
            std::fs::write(&path, &body).expect("write body file");
            ByteStream::from_path(&path).await.expect("open body file")
        } else {
            ByteStream::from(body.clone())
        };
        let out = s3
            .put_object()
            .bucket("secure")
            .key(key)
            .body(stream)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key} over TLS: {e:?}"));
        assert!(out.e_tag().is_some());
        assert_eq!(get(&s3, key).await, body, "{key} round-trips");
    }
    let puts: Vec<String> = modes
        .0
        .lock()
        .expect("lock")
        .iter()
        .filter(|(_, method)| method == "PUT")
        .map(|(mode, _)| mode.clone())
        .collect();
    assert!(
        puts.iter()
            .any(|m| m.starts_with("STREAMING-UNSIGNED-PAYLOAD-TRAILER x-amz-checksum-")),
        "the SDK used aws-chunked with a checksum trailer over HTTPS: {puts:?}"
    );

    // Multipart: two parts (the first at the 5 MiB minimum) and Complete.
    let part1 = bytes(5 * 1024 * 1024, 1);
    let part2 = bytes(1024 * 1024 + 3, 2);
    let upload = s3
        .create_multipart_upload()
        .bucket("secure")
        .key("multi")
        .send()
        .await
        .expect("create multipart upload");
    let upload_id = upload.upload_id().expect("upload id");
    let mut completed = Vec::new();
    for (n, part) in [(1, &part1), (2, &part2)] {
        let path = certs.path().join(format!("part{n}.bin"));
        std::fs::write(&path, part).expect("write part file");
        let out = s3
            .upload_part()
            .bucket("secure")
            .key("multi")
            .upload_id(upload_id)
            .part_number(n)
            .body(ByteStream::from_path(&path).await.expect("open part file"))
            .send()
            .await
            .expect("upload part over TLS");
        let mut part = CompletedPart::builder()
            .part_number(n)
            .e_tag(out.e_tag().expect("part etag"));
        if let Some(c) = out.checksum_crc32() {
            part = part.checksum_crc32(c);
        }
        completed.push(part.build());
    }
    let done = s3
        .complete_multipart_upload()
        .bucket("secure")
        .key("multi")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .expect("complete multipart upload over TLS");
    assert!(
        done.e_tag().expect("etag").ends_with("-2\""),
        "{:?}",
        done.e_tag()
    );
    let mut whole = part1.clone();
    whole.extend_from_slice(&part2);
    assert_eq!(get(&s3, "multi").await, whole);

    // Plain HTTP to the TLS port is refused and does not take the server down.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/secure", server.s3_addr()))
        .send()
        .await;
    assert!(
        plain
            .as_ref()
            .map(|r| r.status().as_u16() >= 400)
            .unwrap_or(true),
        "{plain:?}"
    );
    let listed = s3
        .list_objects_v2()
        .bucket("secure")
        .send()
        .await
        .expect("list after a failed handshake");
    assert_eq!(listed.key_count(), Some(4));
}
