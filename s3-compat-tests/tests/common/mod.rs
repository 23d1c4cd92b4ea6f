//! Helpers shared by the raw-protocol tests: a small, independent SigV4 signer
//! (request, aws-chunked chunk and trailer signatures, written from the AWS
//! documentation rather than taken from folio), a raw HTTP/1.1 exchange over TCP, and
//! an aws-sdk-s3 client for setup and checks.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use folio_s3_compat_tests::{ACCESS_KEY, ADMIN_TOKEN, SECRET_KEY, Server, folio_binary};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::process::{Command, Output};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An aws-sdk-s3 client for `server` with the root credentials.
pub fn client(server: &Server) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.endpoint())
        .force_path_style(true)
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .build();
    Client::from_conf(config)
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

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `YYYYMMDDTHHMMSSZ` for now (UTC).
pub fn amz_date_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
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
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
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
        let amz_date = amz_date_now();
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

/// A connection that reads responses with a buffer carried between them.
pub struct Conn {
    pub stream: TcpStream,
    buffer: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            buffer: Vec::new(),
        }
    }

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

    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn read_response(&mut self, no_body: bool) -> std::io::Result<RawResponse> {
        let end = loop {
            if let Some(i) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
        self.buffer.drain(..end + 4);
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
        while self.buffer.len() < length {
            self.fill().await?;
        }
        let body = self.buffer.drain(..length).collect();
        Ok(RawResponse {
            status,
            headers,
            body,
        })
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
    let mut headers: Vec<(&str, String)> = vec![
        ("host", server.s3_addr().to_string()),
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
