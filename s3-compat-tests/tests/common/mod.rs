//! Helpers shared by the end-to-end tests:
//!
//! - [`assert_error`] and [`assert_raw_error`]: every error assertion checks both the
//!   HTTP status and the S3 error code;
//! - a small, independent SigV4 signer (request, presigned query, aws-chunked chunk
//!   and trailer signatures) and a SigV2 signer, written from the AWS documentation
//!   rather than taken from folio;
//! - a raw HTTP/1.1 exchange over TCP or TLS ([`Conn`]) and a complete aws-chunked
//!   PUT builder ([`chunked_put`]);
//! - aws-sdk-s3 clients for setup and checks, and the `folio` CLI;
//! - [`checks`]: S3 API test bodies parameterised over the client, run over plain
//!   HTTP by `s3_api` and over HTTPS by `tls`.

#![allow(dead_code)]

pub mod checks;

use std::net::SocketAddr;

use base64::Engine as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use folio_s3_compat_tests::{ACCESS_KEY, ADMIN_TOKEN, SECRET_KEY, Server, folio_binary};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::process::{Command, Output};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An aws-sdk-s3 client for `server` with the root credentials.
pub fn client(server: &Server) -> Client {
    client_with(server, ACCESS_KEY, SECRET_KEY)
}

/// An aws-sdk-s3 client (defaults, path style) for `server` with these credentials.
pub fn client_with(server: &Server, access_key: &str, secret: &str) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.endpoint())
        .force_path_style(true)
        .credentials_provider(Credentials::new(access_key, secret, None, None, "test"))
        .build();
    Client::from_conf(config)
}

/// Asserts that an SDK call failed with this HTTP status and S3 error code (`<Code>`
/// of the XML body; for bodiless answers such as HEAD errors and 304, the name the
/// SDK gives them).
#[track_caller]
pub fn assert_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: &SdkError<E>,
    status: u16,
    code: &str,
) {
    let got_status = err.raw_response().map(|r| r.status().as_u16());
    let got_code = err.as_service_error().and_then(|e| e.code());
    assert_eq!(
        (got_status, got_code),
        (Some(status), Some(code)),
        "expected {status} {code}, got {err:?}"
    );
}

/// Asserts that an SDK call failed with this HTTP status and no S3 error code: the
/// answers that carry no body (HEAD errors, 304 Not Modified).
#[track_caller]
pub fn assert_bodyless_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: &SdkError<E>,
    status: u16,
) {
    let response = err.raw_response();
    assert_eq!(
        response.map(|r| r.status().as_u16()),
        Some(status),
        "{err:?}"
    );
    let body = response
        .and_then(|r| r.body().bytes())
        .map(<[u8]>::len)
        .unwrap_or(0);
    assert_eq!(body, 0, "a {status} answer has no body: {err:?}");
}

/// The text of the first `<tag>…</tag>` in `xml`.
pub fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].to_owned())
}

/// Asserts that a raw response is an S3 error with this status and `<Code>`, and an
/// `<Error>` body with a Message, a Resource and the request id of the
/// `x-amz-request-id` header.
#[track_caller]
pub fn assert_raw_error(response: &RawResponse, status: u16, code: &str) {
    let text = response.text();
    assert_eq!(
        (response.status, xml_tag(&text, "Code").as_deref()),
        (status, Some(code)),
        "expected {status} {code}, got {} {text}",
        response.status
    );
    assert!(text.contains("<Error>"), "{text}");
    assert!(xml_tag(&text, "Message").is_some(), "{text}");
    assert!(xml_tag(&text, "Resource").is_some(), "{text}");
    let id = xml_tag(&text, "RequestId");
    assert!(id.as_deref().is_some_and(|i| !i.is_empty()), "{text}");
    assert_eq!(id.as_deref(), response.header("x-amz-request-id"), "{text}");
}

/// Whether `key` exists in `bucket` (HEAD: 200 → true, 404 → false, anything else
/// panics).
pub async fn exists(s3: &Client, bucket: &str, key: &str) -> bool {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => true,
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            assert_eq!(status, Some(404), "HEAD {bucket}/{key}: {e:?}");
            false
        }
    }
}

/// Deterministic test bytes.
pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The hex MD5 of `data` (a single PUT's ETag, unquoted).
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(md5::Md5::digest(data))
}

/// A reqwest answer read in full as a [`RawResponse`].
pub async fn raw_from_reqwest(response: reqwest::Response) -> RawResponse {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.bytes().await.expect("read body").to_vec();
    RawResponse {
        status,
        headers,
        body,
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Seconds since 1970 (UTC).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// `YYYYMMDDTHHMMSSZ` for now (UTC).
pub fn amz_date_now() -> String {
    amz_date_at(unix_now())
}

/// `YYYYMMDDTHHMMSSZ` for `secs` since 1970 (UTC).
pub fn amz_date_at(secs: i64) -> String {
    let (year, month, day, rem) = civil(secs);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An RFC 7231 date (`Wed, 21 Oct 2015 07:28:00 GMT`) for `secs` since 1970.
pub fn http_date_at(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day, rem) = civil(secs);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[secs.div_euclid(86_400).rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// (year, month, day, seconds into the day) for `secs` since 1970 (UTC).
fn civil(secs: i64) -> (i64, i64, i64, i64) {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem)
}

/// Percent-encodes everything but the RFC 3986 unreserved characters (and `/` when
/// `keep_slash`), as S3 signing wants.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// SigV2 (HMAC-SHA1, base64) of `string_to_sign` with the root secret.
pub fn sigv2_signature(string_to_sign: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET_KEY.as_bytes()).expect("any key");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A SigV2 `Authorization` header and its `Date` for a request with no Content-MD5,
/// Content-Type or `x-amz-*` headers; `resource` is the CanonicalizedResource
/// (`/bucket/key` for path style).
pub fn sigv2_header(method: &str, resource: &str) -> (String, String) {
    let date = http_date_at(unix_now());
    let signature = sigv2_signature(&format!("{method}\n\n\n{date}\n{resource}"));
    (format!("AWS {ACCESS_KEY}:{signature}"), date)
}

/// The query of a SigV2 presigned URL for `resource` valid until `expires` (seconds
/// since 1970).
pub fn sigv2_presigned_query(method: &str, resource: &str, expires: i64) -> String {
    let signature = sigv2_signature(&format!("{method}\n\n\n{expires}\n{resource}"));
    format!(
        "AWSAccessKeyId={ACCESS_KEY}&Expires={expires}&Signature={}",
        uri_encode(&signature, false)
    )
}

/// SigV4 for the root credentials in us-east-1, service s3.
pub struct Signer {
    pub amz_date: String,
    pub scope: String,
    key: [u8; 32],
}

impl Signer {
    pub fn new() -> Signer {
        Signer::at(unix_now())
    }

    /// A signer whose requests claim to be made at `secs` since 1970.
    pub fn at(secs: i64) -> Signer {
        let amz_date = amz_date_at(secs);
        let date = &amz_date[..8];
        let k_date = hmac(format!("AWS4{SECRET_KEY}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, b"us-east-1");
        let k_service = hmac(&k_region, b"s3");
        let key = hmac(&k_service, b"aws4_request");
        Signer {
            scope: format!("{date}/us-east-1/s3/aws4_request"),
            amz_date,
            key,
        }
    }

    fn sign(&self, string_to_sign: &str) -> String {
        hex::encode(hmac(&self.key, string_to_sign.as_bytes()))
    }

    /// Signs a request whose path needs no encoding and which has no query. `headers`
    /// must include host, x-amz-date and x-amz-content-sha256 (lower-case names);
    /// all are signed. Returns the Authorization value and the signature (the seed
    /// of a chunked body).
    pub fn authorization(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        payload: &str,
    ) -> (String, String) {
        self.authorization_with_query(method, path, "", headers, payload)
    }

    /// As [`Signer::authorization`], with a canonical query string (sorted, encoded).
    pub fn authorization_with_query(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, String)],
        payload: &str,
    ) -> (String, String) {
        let mut sorted: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        sorted.sort();
        let canonical_headers: String = sorted.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed_headers = sorted
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical =
            format!("{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload}");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            sha256_hex(canonical.as_bytes())
        );
        let signature = self.sign(&to_sign);
        (
            format!(
                "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{}, SignedHeaders={signed_headers}, Signature={signature}",
                self.scope
            ),
            signature,
        )
    }

    /// The query of a SigV4 presigned URL (`X-Amz-*`, signing only `host`, with an
    /// unsigned payload) for `path` on `host`, valid `expires` seconds from the
    /// signer's date.
    pub fn presigned_query(&self, method: &str, path: &str, host: &str, expires: u64) -> String {
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host",
            uri_encode(&format!("{ACCESS_KEY}/{}", self.scope), false),
            self.amz_date
        );
        let (_, signature) = self.authorization_with_query(
            method,
            path,
            &query,
            &[("host", host.to_owned())],
            "UNSIGNED-PAYLOAD",
        );
        format!("{query}&X-Amz-Signature={signature}")
    }

    /// The signature of one aws-chunked chunk, chained from `previous`.
    pub fn chunk_signature(&self, previous: &str, data: &[u8]) -> String {
        self.sign(&format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{previous}\n{}\n{}",
            self.amz_date,
            self.scope,
            sha256_hex(b""),
            sha256_hex(data)
        ))
    }

    /// The trailer signature, chained from the final chunk's signature; `trailers`
    /// is `name:value\n` for each trailer.
    pub fn trailer_signature(&self, previous: &str, trailers: &str) -> String {
        self.sign(&format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{previous}\n{}",
            self.amz_date,
            self.scope,
            sha256_hex(trailers.as_bytes())
        ))
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the server said it closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A request head: `METHOD path HTTP/1.1`, the headers, and the blank line.
pub fn head(method: &str, path: &str, headers: &[(&str, String)]) -> String {
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out
}

/// A connection (plain TCP, or TLS) that reads responses with a buffer carried
/// between them.
pub struct Conn<S = TcpStream> {
    pub stream: S,
    buffer: Vec<u8>,
}

impl Conn<TcpStream> {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            buffer: Vec::new(),
        }
    }
}

/// A TLS connection to a server whose certificate is `cert_pem`.
pub type TlsConn = Conn<tokio_rustls::client::TlsStream<TcpStream>>;

impl TlsConn {
    /// Connects to `addr` over TLS, trusting only `cert_pem` (issued for 127.0.0.1).
    pub async fn open_tls(addr: SocketAddr, cert_pem: &str) -> TlsConn {
        use tokio_rustls::rustls;
        let mut roots = rustls::RootCertStore::empty();
        let der = pem_to_der(cert_pem);
        roots
            .add(rustls::pki_types::CertificateDer::from(der))
            .expect("trust the test certificate");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        Conn {
            stream,
            buffer: Vec::new(),
        }
    }
}

/// The DER bytes of the first certificate in a PEM text.
fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .expect("PEM base64")
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Conn<S> {
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads one response (a HEAD response, or `no_body`, has no body). Fails on EOF
    /// or after 60 s.
    pub async fn response(&mut self, no_body: bool) -> std::io::Result<RawResponse> {
        tokio::time::timeout(Duration::from_secs(60), self.read_response(no_body))
            .await
            .map_err(|_| std::io::Error::other("response timed out"))?
    }

    async fn read_response(&mut self, no_body: bool) -> std::io::Result<RawResponse> {
        read_http_response(&mut self.stream, &mut self.buffer, no_body).await
    }

    /// Reads until the peer closes (true) or `wait` passes (false).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let mut chunk = [0u8; 4096];
        matches!(
            tokio::time::timeout(wait, self.stream.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// Reads one HTTP/1.1 response from `reader`, with `buffer` holding what was read
/// past the previous one (a HEAD response, `no_body`, 100, 204 and 304 have no
/// body). For a connection split into halves, so a test can write a body while it
/// reads; [`Conn::response`] uses it too.
pub async fn read_http_response<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
    no_body: bool,
) -> std::io::Result<RawResponse> {
    async fn fill<R: tokio::io::AsyncRead + Unpin>(
        reader: &mut R,
        buffer: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }
    let end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        fill(reader, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    buffer.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let length = if no_body || status == 100 || status == 204 || status == 304 {
        0
    } else {
        length
    };
    while buffer.len() < length {
        fill(reader, buffer).await?;
    }
    let body = buffer.drain(..length).collect();
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// The standard signed headers of a request to `server` with `payload` as
/// `x-amz-content-sha256`, plus `extra`.
pub fn signed_headers(
    server: &Server,
    signer: &Signer,
    method: &str,
    path: &str,
    payload: &str,
    extra: &[(&str, String)],
) -> Vec<(&'static str, String)> {
    signed_headers_for_host(
        &server.s3_addr().to_string(),
        signer,
        method,
        path,
        payload,
        extra,
    )
}

/// As [`signed_headers`], with this `Host` (for virtual-host-style requests).
pub fn signed_headers_for_host(
    host: &str,
    signer: &Signer,
    method: &str,
    path: &str,
    payload: &str,
    extra: &[(&str, String)],
) -> Vec<(&'static str, String)> {
    let mut headers: Vec<(&str, String)> = vec![
        ("host", host.to_owned()),
        ("x-amz-date", signer.amz_date.clone()),
        ("x-amz-content-sha256", payload.to_owned()),
    ];
    headers.extend(extra.iter().cloned());
    let (authorization, _) = signer.authorization(method, path, &headers, payload);
    let mut out: Vec<(&'static str, String)> =
        headers.into_iter().map(|(k, v)| (leak(k), v)).collect();
    out.push(("authorization", authorization));
    out
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// Runs `folio <args>` against `server`'s admin API with the right token.
pub fn folio(server: &Server, args: &[&str]) -> Output {
    Command::new(folio_binary())
        .args(args)
        .env("FOLIO_ADMIN_URL", server.admin_endpoint())
        .env("FOLIO_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("run folio")
}

/// Runs `folio <args>`, which must succeed, and returns its stdout.
pub fn folio_ok(server: &Server, args: &[&str]) -> String {
    let out = folio(server, args);
    assert!(
        out.status.success(),
        "folio {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs `folio <args> --json` and parses its stdout.
pub fn folio_json(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = folio_ok(server, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("folio {args:?} --json: {e}: {out}"))
}

#[derive(Clone, Copy, Debug, PartialEq)]
/// How an aws-chunked body is signed.
pub enum Mode {
    Signed,
    SignedTrailer,
    UnsignedTrailer,
}

impl Mode {
    /// Its `x-amz-content-sha256` value.
    pub fn payload(self) -> &'static str {
        match self {
            Mode::Signed => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            Mode::SignedTrailer => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            Mode::UnsignedTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        }
    }
}

/// What to break in a chunked upload.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Flip the signature of this chunk (0-based).
    pub bad_chunk_signature: Option<usize>,
    /// Send a CRC32 trailer that does not match the data.
    pub bad_trailer_checksum: bool,
}

/// The base64 of the big-endian CRC32 of `data`, as `x-amz-checksum-crc32` carries it.
pub fn crc32_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(data).to_be_bytes())
}

/// A complete PUT request (head and aws-chunked body) of `data` to `path`.
pub fn chunked_put(
    server: &Server,
    path: &str,
    data: &[u8],
    chunk_size: usize,
    mode: Mode,
    faults: Faults,
) -> Vec<u8> {
    let signer = Signer::new();
    let trailer = mode != Mode::Signed;
    // The encoded body, built once with placeholder signatures to learn its length.
    let encode = |seed: Option<&str>| -> Vec<u8> {
        let mut out = Vec::new();
        let mut previous = seed.map(str::to_owned);
        let chunks: Vec<&[u8]> = data.chunks(chunk_size).chain([&[][..]]).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            match (&mut previous, mode) {
                (Some(prev), Mode::Signed | Mode::SignedTrailer) => {
                    let mut sig = signer.chunk_signature(prev, chunk);
                    *prev = sig.clone();
                    if faults.bad_chunk_signature == Some(i) {
                        let flipped = if sig.starts_with('0') { "1" } else { "0" };
                        sig.replace_range(0..1, flipped);
                    }
                    out.extend_from_slice(
                        format!("{:x};chunk-signature={sig}\r\n", chunk.len()).as_bytes(),
                    );
                }
                (None, Mode::Signed | Mode::SignedTrailer) => out.extend_from_slice(
                    format!("{:x};chunk-signature={}\r\n", chunk.len(), "0".repeat(64)).as_bytes(),
                ),
                (_, Mode::UnsignedTrailer) => {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes())
                }
            }
            if !chunk.is_empty() {
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
        }
        if trailer {
            let value = if faults.bad_trailer_checksum {
                crc32_base64(b"something else")
            } else {
                crc32_base64(data)
            };
            let line = format!("x-amz-checksum-crc32:{value}");
            out.extend_from_slice(format!("{line}\r\n").as_bytes());
            if mode == Mode::SignedTrailer {
                let sig = match &previous {
                    Some(prev) => signer.trailer_signature(prev, &format!("{line}\n")),
                    None => "0".repeat(64),
                };
                out.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    };
    let encoded_length = encode(None).len();
    let mut headers: Vec<(&str, String)> = vec![
        ("host", server.s3_addr().to_string()),
        ("x-amz-date", signer.amz_date.clone()),
        ("x-amz-content-sha256", mode.payload().to_owned()),
        ("content-encoding", "aws-chunked".to_owned()),
        ("x-amz-decoded-content-length", data.len().to_string()),
        ("content-length", encoded_length.to_string()),
    ];
    if trailer {
        headers.push(("x-amz-trailer", "x-amz-checksum-crc32".to_owned()));
    }
    let (authorization, seed) = signer.authorization("PUT", path, &headers, mode.payload());
    headers.push(("authorization", authorization));
    let body = encode(Some(&seed));
    assert_eq!(body.len(), encoded_length);
    let mut request = head("PUT", path, &headers).into_bytes();
    request.extend_from_slice(&body);
    request
}
