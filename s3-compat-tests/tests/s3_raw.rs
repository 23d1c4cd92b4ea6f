//! What aws-sdk-s3 cannot express, sent as raw HTTP signed by the independent signers
//! of `common`: SigV2 in the header and in presigned URLs, virtual-host-style
//! addressing, presigned expiry limits, clock skew, a wrong `x-amz-content-sha256`,
//! and the shape of error answers (the XML `<Error>` body; no body on HEAD).

mod common;

use common::checks::body;
use common::{
    Conn, Signer, assert_raw_error, client, exists, head, raw_from_reqwest, sha256_hex,
    signed_headers, signed_headers_for_host, sigv2_header, sigv2_presigned_query, unix_now,
    xml_tag,
};
use folio_s3_compat_tests::Server;

async fn server_with_object(bucket: &str, key: &str, data: &[u8]) -> Server {
    server_with_object_and(bucket, key, data, &[]).await
}

async fn server_with_object_and(bucket: &str, key: &str, data: &[u8], flags: &[&str]) -> Server {
    let server = Server::start_in(tempfile::tempdir().expect("data dir"), flags);
    let s3 = client(&server);
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(data.to_vec().into())
        .send()
        .await
        .expect("put");
    server
}

/// One request on a fresh connection.
async fn exchange(server: &Server, request: &[u8], no_body: bool) -> common::RawResponse {
    let mut conn = Conn::open(server.s3_addr()).await;
    conn.send(request).await.expect("send");
    conn.response(no_body).await.expect("response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv2_header_and_presigned_urls() {
    let server = server_with_object("sigv2", "obj", b"sigv2 data").await;
    let s3 = client(&server);
    let host = server.s3_addr().to_string();

    // GET and PUT with `Authorization: AWS key:signature`.
    let (authorization, date) = sigv2_header("GET", "/sigv2/obj");
    let response = exchange(
        &server,
        head(
            "GET",
            "/sigv2/obj",
            &[
                ("host", host.clone()),
                ("date", date.clone()),
                ("authorization", authorization.clone()),
            ],
        )
        .as_bytes(),
        false,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.body, b"sigv2 data");
    let (authorization, date) = sigv2_header("PUT", "/sigv2/put");
    let mut request = head(
        "PUT",
        "/sigv2/put",
        &[
            ("host", host.clone()),
            ("date", date),
            ("authorization", authorization),
            ("content-length", "9".to_owned()),
        ],
    )
    .into_bytes();
    request.extend_from_slice(b"v2 upload");
    let response = exchange(&server, &request, false).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let got = s3
        .get_object()
        .bucket("sigv2")
        .key("put")
        .send()
        .await
        .expect("get");
    assert_eq!(body(got).await, b"v2 upload");

    // A signature for another resource does not match.
    let (authorization, date) = sigv2_header("GET", "/sigv2/other");
    let response = exchange(
        &server,
        head(
            "GET",
            "/sigv2/obj",
            &[
                ("host", host.clone()),
                ("date", date),
                ("authorization", authorization),
            ],
        )
        .as_bytes(),
        false,
    )
    .await;
    assert_raw_error(&response, 403, "SignatureDoesNotMatch");

    // Presigned (AWSAccessKeyId, Expires, Signature): valid, then expired.
    let http = reqwest::Client::new();
    let query = sigv2_presigned_query("GET", "/sigv2/obj", unix_now() + 300);
    let response = http
        .get(format!("{}/sigv2/obj?{query}", server.endpoint()))
        .send()
        .await
        .expect("GET");
    let response = raw_from_reqwest(response).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.body, b"sigv2 data");
    let query = sigv2_presigned_query("GET", "/sigv2/obj", unix_now() - 60);
    let response = http
        .get(format!("{}/sigv2/obj?{query}", server.endpoint()))
        .send()
        .await
        .expect("GET");
    assert_raw_error(&raw_from_reqwest(response).await, 403, "AccessDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_host_style_addressing() {
    let server = server_with_object_and(
        "vhost",
        "existing",
        b"path style",
        &["--root-domain", "s3.folio.test"],
    )
    .await;
    let s3 = client(&server);
    let host = format!("vhost.s3.folio.test:{}", server.s3_addr().port());
    let signer = Signer::new();

    // PUT to bucket.root-domain with the key as the whole path.
    let data = b"virtual host";
    let headers = signed_headers_for_host(
        &host,
        &signer,
        "PUT",
        "/dir/new.txt",
        &sha256_hex(data),
        &[("content-length", data.len().to_string())],
    );
    let mut request = head("PUT", "/dir/new.txt", &headers).into_bytes();
    request.extend_from_slice(data);
    let response = exchange(&server, &request, false).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let got = s3
        .get_object()
        .bucket("vhost")
        .key("dir/new.txt")
        .send()
        .await
        .expect("the path-style client sees it");
    assert_eq!(body(got).await, data);

    // GET of an object written path style.
    let headers =
        signed_headers_for_host(&host, &signer, "GET", "/existing", &sha256_hex(b""), &[]);
    let response = exchange(
        &server,
        head("GET", "/existing", &headers).as_bytes(),
        false,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.body, b"path style");

    // GET / on the bucket's host lists the bucket.
    let headers = signed_headers_for_host(&host, &signer, "GET", "/", &sha256_hex(b""), &[]);
    let response = exchange(&server, head("GET", "/", &headers).as_bytes(), false).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let text = response.text();
    assert_eq!(xml_tag(&text, "Name").as_deref(), Some("vhost"), "{text}");
    assert!(text.contains("<Key>dir/new.txt</Key>"), "{text}");
    assert!(text.contains("<Key>existing</Key>"), "{text}");

    // A bucket that does not exist, by host.
    let other = format!("nobucket.s3.folio.test:{}", server.s3_addr().port());
    let headers =
        signed_headers_for_host(&other, &signer, "GET", "/existing", &sha256_hex(b""), &[]);
    let response = exchange(
        &server,
        head("GET", "/existing", &headers).as_bytes(),
        false,
    )
    .await;
    assert_raw_error(&response, 404, "NoSuchBucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_expiry_limit_and_clock_skew() {
    let server = server_with_object("limits", "obj", b"data").await;
    let host = server.s3_addr().to_string();
    let http = reqwest::Client::new();
    let signer = Signer::new();

    // X-Amz-Expires: a week is the most.
    let query = signer.presigned_query("GET", "/limits/obj", &host, 604_800);
    let response = http
        .get(format!("{}/limits/obj?{query}", server.endpoint()))
        .send()
        .await
        .expect("GET");
    let response = raw_from_reqwest(response).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.body, b"data");
    let query = signer.presigned_query("GET", "/limits/obj", &host, 604_801);
    let response = http
        .get(format!("{}/limits/obj?{query}", server.endpoint()))
        .send()
        .await
        .expect("GET");
    assert_raw_error(
        &raw_from_reqwest(response).await,
        400,
        "AuthorizationQueryParametersError",
    );
    // Signed two hours ago for an hour: expired.
    let old = Signer::at(unix_now() - 7200);
    let query = old.presigned_query("GET", "/limits/obj", &host, 3600);
    let response = http
        .get(format!("{}/limits/obj?{query}", server.endpoint()))
        .send()
        .await
        .expect("GET");
    assert_raw_error(&raw_from_reqwest(response).await, 403, "AccessDenied");

    // A header signature dated more than 15 minutes off either way.
    for offset in [-20 * 60, 20 * 60] {
        let skewed = Signer::at(unix_now() + offset);
        let headers = signed_headers(
            &server,
            &skewed,
            "GET",
            "/limits/obj",
            &sha256_hex(b""),
            &[],
        );
        let response = exchange(
            &server,
            head("GET", "/limits/obj", &headers).as_bytes(),
            false,
        )
        .await;
        assert_raw_error(&response, 403, "RequestTimeTooSkewed");
    }
    // Ten minutes off is within the bound.
    let near = Signer::at(unix_now() - 10 * 60);
    let headers = signed_headers(&server, &near, "GET", "/limits/obj", &sha256_hex(b""), &[]);
    let response = exchange(
        &server,
        head("GET", "/limits/obj", &headers).as_bytes(),
        false,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_payload_sha256_stores_nothing() {
    let server = server_with_object("sha", "kept", b"original").await;
    let s3 = client(&server);
    let signer = Signer::new();
    for (key, data) in [("new", &b"sent bytes"[..]), ("kept", b"replacement")] {
        let path = format!("/sha/{key}");
        let headers = signed_headers(
            &server,
            &signer,
            "PUT",
            &path,
            &sha256_hex(b"other bytes"),
            &[("content-length", data.len().to_string())],
        );
        let mut request = head("PUT", &path, &headers).into_bytes();
        request.extend_from_slice(data);
        let response = exchange(&server, &request, false).await;
        assert_raw_error(&response, 400, "XAmzContentSHA256Mismatch");
    }
    assert!(!exists(&s3, "sha", "new").await);
    let got = s3
        .get_object()
        .bucket("sha")
        .key("kept")
        .send()
        .await
        .expect("get");
    assert_eq!(body(got).await, b"original", "the old object is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_are_s3_xml_and_head_errors_have_none() {
    let server = server_with_object("errs", "obj", b"data").await;
    let signer = Signer::new();
    let empty = sha256_hex(b"");

    // GET errors: <Error> with Code, Message, Resource and the request id.
    for (path, status, code) in [
        ("/errs/missing", 404, "NoSuchKey"),
        ("/nobucket/obj", 404, "NoSuchBucket"),
    ] {
        let headers = signed_headers(&server, &signer, "GET", path, &empty, &[]);
        let response = exchange(&server, head("GET", path, &headers).as_bytes(), false).await;
        assert_raw_error(&response, status, code);
        assert_eq!(
            xml_tag(&response.text(), "Resource").as_deref(),
            Some(path),
            "{}",
            response.text()
        );
        assert!(
            response
                .header("content-type")
                .is_some_and(|t| t.contains("xml")),
            "{:?}",
            response.headers
        );
    }

    // HEAD errors: the status and the request id, no body. On one keep-alive
    // connection, a stray body would corrupt the next answer.
    let mut conn = Conn::open(server.s3_addr()).await;
    for (path, status) in [
        ("/errs/missing", 404),
        ("/nobucket/obj", 404),
        ("/errs/obj", 200),
    ] {
        let headers = signed_headers(&server, &signer, "HEAD", path, &empty, &[]);
        conn.send(head("HEAD", path, &headers).as_bytes())
            .await
            .expect("send");
        let response = conn.response(true).await.expect("response");
        assert_eq!(response.status, status, "{path}: {response:?}");
        assert!(
            response.header("x-amz-request-id").is_some(),
            "{path}: {response:?}"
        );
        if status != 200 {
            assert!(
                response
                    .header("content-length")
                    .is_none_or(|l| l.trim() == "0"),
                "a HEAD error announces no body: {path}: {response:?}"
            );
        }
    }
    // Nothing is left on the connection: a GET on it reads a clean answer.
    let headers = signed_headers(&server, &signer, "GET", "/errs/obj", &empty, &[]);
    conn.send(head("GET", "/errs/obj", &headers).as_bytes())
        .await
        .expect("send");
    let response = conn.response(false).await.expect("response");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, b"data");
}
