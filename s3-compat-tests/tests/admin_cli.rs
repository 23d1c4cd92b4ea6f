//! The `folio` admin CLI against a real `folio standalone` (issue 7): objects seeded
//! with aws-sdk-s3, then what `folio ns ls`, `ns stat`, `ns du`, `ledger show` and
//! `bookie ls` print, as tables and as `--json`; a key made by `folio key create`
//! with read access only; a wrong admin token; `/metrics` as Prometheus text, with
//! the bookies' metrics and the GC queue depth; `folio ledger read` through the
//! admin API.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use common::{assert_error, client, client_with, folio, folio_json, folio_ok, pattern};
use folio_s3_compat_tests::{ADMIN_TOKEN, Server, folio_binary};
use serde_json::Value;

const PHOTO_BYTES: usize = 3 << 19; // 1.5 MiB: more than one 1 MiB ledger entry

async fn seed(s3: &Client) {
    s3.create_bucket()
        .bucket("photos")
        .send()
        .await
        .expect("create bucket");
    s3.put_object()
        .bucket("photos")
        .key("2024/a.jpg")
        .content_type("image/jpeg")
        .metadata("camera", "x100")
        .body(ByteStream::from(pattern(PHOTO_BYTES, 1)))
        .send()
        .await
        .expect("put a.jpg");
    for (key, body) in [("2024/b.jpg", &b"0123456789"[..]), ("top.txt", b"hello")] {
        s3.put_object()
            .bucket("photos")
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .expect("put");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ns_ledger_and_bookie_commands_print_tables_and_json() {
    let server = Server::start();
    // The objects are written on this day or, if the test runs over midnight (UTC),
    // the next.
    let day_before = rfc3339_today();
    seed(&client(&server)).await;

    // ns ls: directories from the '/' delimiter, in name order.
    assert_eq!(
        folio_ok(&server, &["ns", "ls", "photos"]),
        "2024/\ntop.txt\n"
    );
    let ls = folio_json(&server, &["ns", "ls", "photos"]);
    assert_eq!(ls["prefixes"], serde_json::json!(["2024/"]));
    assert_eq!(ls["objects"][0]["key"], "top.txt");
    assert_eq!(ls["objects"][0]["size_bytes"], 5);
    assert_eq!(
        folio_ok(&server, &["ns", "ls", "photos", "--recursive"]),
        "2024/a.jpg\n2024/b.jpg\ntop.txt\n"
    );
    let long = folio_ok(&server, &["ns", "ls", "photos/2024/", "--long"]);
    let lines: Vec<&str> = long.lines().collect();
    assert!(lines[0].starts_with("SIZE"), "{long}");
    assert!(
        lines[1].starts_with("1.5 MiB") && lines[1].ends_with("2024/a.jpg"),
        "{long}"
    );
    assert!(lines[2].starts_with("10 B ") && lines[2].ends_with("2024/b.jpg"));
    assert!(
        lines[1].contains(&format!("{day_before}T"))
            || lines[1].contains(&format!("{}T", rfc3339_today())),
        "{long}"
    );
    assert_eq!(lines[3], "2 objects, 1.5 MiB, 0 directories");
    // A directory shows its total size and object count.
    let long = folio_ok(&server, &["ns", "ls", "photos", "--long"]);
    let dir: Vec<&str> = long
        .lines()
        .nth(1)
        .expect("2024/ row")
        .split_whitespace()
        .collect();
    assert_eq!(dir, ["1.5", "MiB", "2", "DIR", "-", "2024/"], "{long}");
    let ls = folio_json(&server, &["ns", "ls", "photos", "--long"]);
    assert_eq!(ls["prefix_totals"]["2024/"]["objects"], 2);
    assert_eq!(ls["prefix_totals"]["2024/"]["bytes"], PHOTO_BYTES + 10);
    assert_eq!(ls["prefix_totals"]["2024/"]["complete"], true);

    // ns stat: the record and its ledgers.
    let stat = folio_json(&server, &["ns", "stat", "photos/2024/a.jpg"]);
    assert_eq!(stat["size_bytes"], PHOTO_BYTES);
    assert_eq!(stat["content_type"], "image/jpeg");
    assert_eq!(stat["metadata"]["camera"], "x100");
    let segments = stat["segments"].as_array().expect("segments");
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0]["length_bytes"], PHOTO_BYTES);
    let ledger = &segments[0]["ledger"];
    assert_eq!(ledger["state"], "closed");
    assert_eq!(ledger["links"], 1);
    let ensemble = ledger["ensembles"][0]["bookies"]
        .as_array()
        .expect("ensemble");
    assert_eq!(ensemble.len(), 3);
    let ledger_id = segments[0]["ledger_id"].as_u64().expect("ledger id");
    let human = folio_ok(&server, &["ns", "stat", "photos/2024/a.jpg"]);
    assert!(
        human.contains("size          1.5 MiB (1572864 bytes)"),
        "{human}"
    );
    assert!(human.contains("content-type  image/jpeg"), "{human}");
    assert!(human.contains("metadata      camera=x100"), "{human}");
    let row = human
        .lines()
        .find(|l| l.starts_with(&ledger_id.to_string()))
        .unwrap_or_else(|| panic!("no segment row for ledger {ledger_id}: {human}"));
    assert!(row.contains("1.5 MiB") && row.contains("closed"), "{row}");
    assert!(row.contains(ensemble[0].as_str().expect("bookie")), "{row}");

    // ns du and bucket info: totals.
    let du = folio_json(&server, &["ns", "du", "photos/2024/"]);
    assert_eq!(
        (du["objects"].clone(), du["bytes"].clone()),
        (2.into(), (PHOTO_BYTES + 10).into())
    );
    assert_eq!(
        folio_ok(&server, &["ns", "du", "photos"]),
        "1.5 MiB  3 objects  1572879 bytes  photos\n"
    );
    let info = folio_json(&server, &["bucket", "info", "photos"]);
    assert_eq!(
        (info["objects"].clone(), info["complete"].clone()),
        (3.into(), true.into())
    );

    // ledger show: metadata, state, LAC, length, links.
    let id = ledger_id.to_string();
    let show = folio_json(&server, &["ledger", "show", &id]);
    assert_eq!(show["ledger_id"], ledger_id);
    assert_eq!(show["state"], "closed");
    assert_eq!(show["length_bytes"], PHOTO_BYTES);
    assert_eq!(
        show["last_entry_id"], 1,
        "1.5 MiB in 1 MiB entries is entries 0 and 1"
    );
    assert_eq!(show["lac"], 1);
    assert_eq!(show["links"], 1);
    let human = folio_ok(&server, &["ledger", "show", &id]);
    let fields: BTreeMap<&str, &str> = human
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    assert_eq!(fields.get("state"), Some(&"closed"), "{human}");
    assert_eq!(fields.get("lac"), Some(&"1"), "{human}");
    assert_eq!(fields.get("links"), Some(&"1"), "{human}");
    assert_eq!(
        fields.get("length"),
        Some(&"1.5 MiB (1572864 bytes)"),
        "{human}"
    );
    let ls = folio_json(&server, &["ledger", "ls", "--state", "closed"]);
    assert!(
        ls["ledgers"]
            .as_array()
            .expect("ledgers")
            .iter()
            .any(|l| l["ledger_id"] == ledger_id)
    );

    // bookie ls: the standalone's three bookies, all read-write, with disk space.
    let bookies = folio_json(&server, &["bookie", "ls"]);
    let bookies = bookies["bookies"].as_array().expect("bookies");
    assert_eq!(bookies.len(), 3);
    for b in bookies {
        assert_eq!(b["state"], "rw", "{b}");
        assert!(b["total_bytes"].as_u64().expect("total") > 0);
        assert!(ensemble.contains(&b["address"]), "{b} not in {ensemble:?}");
        // Three objects, three ledgers, each on all three bookies (E = 3).
        assert_eq!(b["ledgers"], 3, "{b}");
        assert_eq!(b["ledgers_complete"], true, "{b}");
    }
    let human = folio_ok(&server, &["bookie", "ls"]);
    let lines: Vec<&str> = human.lines().collect();
    assert!(
        lines[0].starts_with("ADDRESS") && lines[0].contains("STATE"),
        "{human}"
    );
    assert_eq!(lines.len(), 4, "{human}");
    for line in &lines[1..] {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], "rw", "{line}");
        assert!(
            cols[2].parse::<f64>().is_ok() && cols[3].ends_with("iB"),
            "{line}"
        );
        assert_eq!(cols[7], "3", "LEDGERS column: {line}");
    }
    assert!(lines[0].contains("LEDGERS"), "{human}");
}

/// Today as `YYYY-MM-DD` (UTC), as `folio` prints it.
fn rfc3339_today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_read_access_can_get_but_not_put() {
    let server = Server::start();
    seed(&client(&server)).await;

    let created = folio_json(&server, &["key", "create", "reader"]);
    let id = created["access_key_id"].as_str().expect("id").to_owned();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    folio_ok(&server, &["key", "allow", &id, "photos", "--read"]);

    // The secret is shown at creation only.
    let keys = folio_ok(&server, &["key", "ls", "--json"]);
    assert!(!keys.contains(&secret));
    let keys: Value = serde_json::from_str(&keys).expect("JSON");
    let key = keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["access_key_id"] == id.as_str())
        .expect("the new key is listed");
    assert_eq!(key["name"], "reader");
    assert_eq!(key["buckets"][0]["bucket"], "photos");
    assert_eq!(
        (
            key["buckets"][0]["read"].clone(),
            key["buckets"][0]["write"].clone()
        ),
        (true.into(), false.into())
    );
    let table = folio_ok(&server, &["key", "ls"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&id) && l.ends_with("photos:r--")),
        "{table}"
    );

    let reader = client_with(&server, &id, &secret);
    let got = reader
        .get_object()
        .bucket("photos")
        .key("top.txt")
        .send()
        .await
        .expect("GET with read access");
    let body = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(&body[..], b"hello");
    let denied = reader
        .put_object()
        .bucket("photos")
        .key("new.txt")
        .body(ByteStream::from_static(b"nope"))
        .send()
        .await
        .expect_err("PUT without write access");
    assert_error(&denied, 403, "AccessDenied");

    // Deny takes it away again; rm deletes the key.
    folio_ok(&server, &["key", "deny", &id, "photos"]);
    let err = reader
        .get_object()
        .bucket("photos")
        .key("top.txt")
        .send()
        .await
        .expect_err("GET after deny");
    assert_error(&err, 403, "AccessDenied");
    folio_ok(&server, &["key", "rm", &id]);
    let out = folio(&server, &["key", "rm", &id]);
    assert!(!out.status.success());
}

/// A key made with `folio key create` and its secret.
fn new_key(server: &Server, name: &str) -> (String, String) {
    let created = folio_json(server, &["key", "create", name]);
    (
        created["access_key_id"].as_str().expect("id").to_owned(),
        created["secret"].as_str().expect("secret").to_owned(),
    )
}

/// Per-bucket permissions through S3: --write lets a key PUT and DELETE objects but
/// not delete the bucket; --owner lets it delete the bucket; a key made by the admin
/// API may not create buckets; and a bucket name taken by another key is 409
/// BucketAlreadyExists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_bucket_write_and_owner_permissions() {
    let server = Server::start();
    let root = client(&server);
    for bucket in ["shared", "owned"] {
        root.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket");
    }

    // --write only: objects yes, the bucket no, and no reading.
    let (writer_id, writer_secret) = new_key(&server, "writer");
    folio_ok(&server, &["key", "allow", &writer_id, "shared", "--write"]);
    let writer = client_with(&server, &writer_id, &writer_secret);
    writer
        .put_object()
        .bucket("shared")
        .key("w.txt")
        .body(ByteStream::from_static(b"written"))
        .send()
        .await
        .expect("PUT with write access");
    let err = writer
        .get_object()
        .bucket("shared")
        .key("w.txt")
        .send()
        .await
        .expect_err("GET without read access");
    assert_error(&err, 403, "AccessDenied");
    let err = writer
        .delete_bucket()
        .bucket("shared")
        .send()
        .await
        .expect_err("DeleteBucket without owner permission");
    assert_error(&err, 403, "AccessDenied");
    let err = writer
        .put_object()
        .bucket("owned")
        .key("w.txt")
        .body(ByteStream::from_static(b"nope"))
        .send()
        .await
        .expect_err("PUT to a bucket without a grant");
    assert_error(&err, 403, "AccessDenied");
    writer
        .delete_object()
        .bucket("shared")
        .key("w.txt")
        .send()
        .await
        .expect("DELETE with write access");
    root.head_bucket()
        .bucket("shared")
        .send()
        .await
        .expect("the bucket is still there");

    // --owner: DeleteBucket is allowed.
    let (owner_id, owner_secret) = new_key(&server, "owner");
    folio_ok(&server, &["key", "allow", &owner_id, "owned", "--owner"]);
    let owner = client_with(&server, &owner_id, &owner_secret);
    owner
        .delete_bucket()
        .bucket("owned")
        .send()
        .await
        .expect("DeleteBucket with owner permission");
    let err = root
        .head_bucket()
        .bucket("owned")
        .send()
        .await
        .expect_err("deleted");
    assert_error(&err, 404, "NotFound");

    // Keys made by the admin API may not create buckets.
    let err = writer
        .create_bucket()
        .bucket("writers-own")
        .send()
        .await
        .expect_err("CreateBucket without allow_create_bucket");
    assert_error(&err, 403, "AccessDenied");
    let err = root
        .head_bucket()
        .bucket("writers-own")
        .send()
        .await
        .expect_err("not created");
    assert_error(&err, 404, "NotFound");

    // A bucket owned by another key: 409 BucketAlreadyExists (not ...OwnedByYou).
    folio_ok(
        &server,
        &["bucket", "create", "theirs", "--owner", &owner_id],
    );
    let err = root
        .create_bucket()
        .bucket("theirs")
        .send()
        .await
        .expect_err("taken by another key");
    assert_error(&err, 409, "BucketAlreadyExists");
    let err = root
        .create_bucket()
        .bucket("shared")
        .send()
        .await
        .expect_err("taken by this key");
    assert_error(&err, 409, "BucketAlreadyOwnedByYou");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_admin_token_is_refused() {
    let server = Server::start();
    let out = Command::new(folio_binary())
        .args(["bookie", "ls"])
        .env("FOLIO_ADMIN_URL", server.admin_endpoint())
        .env("FOLIO_ADMIN_TOKEN", "not-the-admin-token")
        .output()
        .expect("run folio");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("refused the token (401 Unauthorized)"),
        "{stderr}"
    );

    let http = reqwest::Client::new();
    let url = format!("{}/v1/buckets", server.admin_endpoint());
    let missing = http.get(&url).send().await.expect("GET");
    assert_eq!(missing.status(), 401);
    let wrong = http
        .get(&url)
        .bearer_auth("not-the-admin-token")
        .send()
        .await
        .expect("GET");
    assert_eq!(wrong.status(), 401);
    let right = http
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(right.status(), 200);
    // Unknown paths need the token too; /health does not.
    let unknown = format!("{}/v1/nope", server.admin_endpoint());
    assert_eq!(http.get(&unknown).send().await.expect("GET").status(), 401);
    let known = http
        .get(&unknown)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(known.status(), 404);
    let health = http
        .get(format!("{}/health", server.admin_endpoint()))
        .send()
        .await
        .expect("GET /health");
    assert_eq!(health.status(), 200);

    // API errors are JSON and the CLI prints them as one line.
    let missing_bucket = http
        .get(format!("{url}/nope"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(missing_bucket.status(), 404);
    let body: Value =
        serde_json::from_slice(&missing_bucket.bytes().await.expect("body")).expect("JSON error");
    assert_eq!(body["error"], "no bucket \"nope\"");
    let out = folio(&server, &["bucket", "info", "nope"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "folio: no bucket \"nope\" (404 Not Found)\n"
    );
}

/// One sample of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text exposition format strictly enough to catch a malformed
/// line: `# HELP`/`# TYPE` comments, then `name{label="value",...} number`.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut samples = Vec::new();
    let mut typed = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let kind = parts.next().expect("comment kind");
            let name = parts.next().expect("metric name");
            assert!(is_name(name), "bad name in {line:?}");
            if kind == "TYPE" {
                assert!(typed.insert(name.to_owned()), "second TYPE line: {line:?}");
                let t = parts.next().expect("type");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                    "bad type in {line:?}"
                );
            } else {
                assert_eq!(kind, "HELP", "{line:?}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("labels end with }");
                let labels = inner
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').expect("label=value");
                        assert!(is_name(k), "bad label in {line:?}");
                        let v = v
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .expect("quoted label value");
                        (k.to_owned(), v.to_owned())
                    })
                    .collect();
                (name, labels)
            }
        };
        assert!(is_name(name), "bad name in {line:?}");
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

fn total(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k).map(String::as_str) == Some(v)))
        .map(|s| s.value)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_move_after_traffic() {
    let server = Server::start();
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", server.admin_endpoint());
    let scrape = || async {
        let response = http
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        parse_prometheus(&response.text().await.expect("text"))
    };
    let before = scrape().await;
    let put_before = total(
        &before,
        "folio_gateway_requests_total",
        Some(("op", "PutObject")),
    );

    let s3 = client(&server);
    seed(&s3).await;
    s3.get_object()
        .bucket("photos")
        .key("2024/a.jpg")
        .send()
        .await
        .expect("GET")
        .body
        .collect()
        .await
        .expect("body");

    let after = scrape().await;
    assert_eq!(
        total(
            &after,
            "folio_gateway_requests_total",
            Some(("op", "PutObject"))
        ) - put_before,
        3.0
    );
    assert!(
        total(
            &after,
            "folio_gateway_requests_total",
            Some(("op", "GetObject"))
        ) >= 1.0
    );
    assert!(
        total(&after, "folio_gateway_received_bytes_total", None)
            - total(&before, "folio_gateway_received_bytes_total", None)
            >= PHOTO_BYTES as f64
    );
    assert!(
        total(&after, "folio_gateway_sent_bytes_total", None)
            - total(&before, "folio_gateway_sent_bytes_total", None)
            >= PHOTO_BYTES as f64
    );
    let count = total(
        &after,
        "folio_gateway_request_duration_seconds_count",
        Some(("op", "PutObject")),
    );
    let inf = after
        .iter()
        .find(|s| {
            s.name == "folio_gateway_request_duration_seconds_bucket"
                && s.labels.get("op").map(String::as_str) == Some("PutObject")
                && s.labels.get("le").map(String::as_str) == Some("+Inf")
        })
        .expect("+Inf bucket");
    assert_eq!(inf.value, count);

    // The ledger client's histograms moved too: the PUTs appended entries and the
    // GET read two.
    let appends = |s: &[Sample]| total(s, "folio_ledger_append_duration_seconds_count", None);
    let reads = |s: &[Sample]| total(s, "folio_ledger_read_duration_seconds_count", None);
    assert!(
        appends(&after) - appends(&before) >= 4.0,
        "1.5 MiB is two entries, plus two small objects"
    );
    assert!(reads(&after) - reads(&before) >= 2.0);
    assert_eq!(
        total(&after, "folio_ledger_ensemble_changes_total", None),
        0.0
    );

    // Every in-process bookie reports its own series, labelled with its id; the PUTs
    // moved the add and journal fsync histograms (E = Qw = 3: every bookie stores
    // every entry, though the third copy may still be on its way).
    let bookie = |i: usize| format!("standalone-bookie-{i}");
    for i in 0..3 {
        let b = bookie(i);
        for name in [
            "folio_bookie_journal_fsync_duration_seconds_count",
            "folio_bookie_add_duration_seconds_count",
            "folio_bookie_read_duration_seconds_count",
            "folio_bookie_disk_used_bytes",
            "folio_bookie_disk_total_bytes",
            "folio_bookie_compaction_reclaimed_bytes_total",
            "folio_bookie_entry_log_bytes",
            "folio_bookie_scrub_entries_checked_total",
            "folio_bookie_corrupt_entries_found_total",
            "folio_bookie_corrupt_entries",
        ] {
            assert!(
                after
                    .iter()
                    .any(|s| s.name == name && s.labels.get("bookie") == Some(&b)),
                "no {name} for {b}"
            );
        }
        assert!(
            total(
                &after,
                "folio_bookie_disk_total_bytes",
                Some(("bookie", &b))
            ) > 0.0,
            "the disk check ran at start-up"
        );
    }
    let adds = |s: &[Sample]| total(s, "folio_bookie_add_duration_seconds_count", None);
    let fsyncs = |s: &[Sample]| total(s, "folio_bookie_journal_fsync_duration_seconds_count", None);
    assert!(
        adds(&after) - adds(&before) >= 2.0 * 4.0,
        "4 entries acknowledged by at least 2 bookies each: {} → {}",
        adds(&before),
        adds(&after)
    );
    assert!(fsyncs(&after) > fsyncs(&before));
    assert!(
        total(&after, "folio_bookie_read_duration_seconds_count", None) >= 2.0,
        "the GET read two entries from the bookies"
    );
    let add_inf: f64 = after
        .iter()
        .filter(|s| {
            s.name == "folio_bookie_add_duration_seconds_bucket"
                && s.labels.get("le").map(String::as_str) == Some("+Inf")
        })
        .map(|s| s.value)
        .sum();
    assert_eq!(add_inf, adds(&after));
    let depth = after
        .iter()
        .find(|s| s.name == "folio_gateway_gc_queue_depth")
        .expect("GC queue depth gauge");
    assert!(depth.labels.is_empty());
    assert!(depth.value >= 0.0 && depth.value <= 100_000.0);
    // Auto-recovery runs in standalone; nothing is under-replicated or corrupt here.
    for name in [
        "folio_autorecovery_under_replicated_ledgers",
        "folio_autorecovery_replicated_bytes_total",
        "folio_autorecovery_ledgers_repaired_total",
    ] {
        let sample = after
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(sample.value, 0.0, "{name}");
    }
    assert_eq!(
        total(&after, "folio_bookie_corrupt_entries_found_total", None),
        0.0
    );

    // Deleting an object queues its ledger for GC; the worker counts the queue
    // before each pass (every 10 s), so the gauge shows it within one interval.
    s3.delete_object()
        .bucket("photos")
        .key("top.txt")
        .send()
        .await
        .expect("DELETE");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = scrape().await;
        if total(&now, "folio_gateway_gc_queue_depth", None) >= 1.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the GC queue depth stayed 0 for 60 s after a DELETE"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_read_through_the_admin_api_prints_an_objects_entries() {
    let server = Server::start();
    let s3 = client(&server);
    seed(&s3).await;
    let stat = folio_json(&server, &["ns", "stat", "photos/2024/a.jpg"]);
    let id = stat["segments"][0]["ledger_id"]
        .as_u64()
        .expect("ledger id")
        .to_string();

    // --raw: the payloads, concatenated, are the object's bytes.
    let raw = folio(&server, &["ledger", "read", &id, "--raw"]);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert!(
        raw.stdout == pattern(PHOTO_BYTES, 1),
        "--raw differs from the PUT body"
    );

    // A summary line per entry (1.5 MiB in 1 MiB entries), the range on stderr.
    let out = folio(&server, &["ledger", "read", &id]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<&str> = stdout.lines().collect();
    let body = pattern(PHOTO_BYTES, 1);
    let hex16 = |b: &[u8]| -> String { b[..16].iter().map(|x| format!("{x:02x}")).collect() };
    assert_eq!(
        lines,
        [
            format!("entry 0: 1048576 bytes {}…", hex16(&body)),
            format!("entry 1: 524288 bytes {}…", hex16(&body[1 << 20..])),
        ],
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!("ledger {id}: closed, {PHOTO_BYTES} bytes, entries 0..=1 of 0..=1\n")
    );

    // --json: one object per entry; a sub-range; past the end is refused.
    let out = folio_ok(&server, &["ledger", "read", &id, "--from", "1", "--json"]);
    let entries: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["entry_id"], 1);
    assert_eq!(entries[0]["length_bytes"], PHOTO_BYTES - (1 << 20));
    assert_eq!(
        entries[0]["payload_hex"].as_str().map(str::len),
        Some(2 * (PHOTO_BYTES - (1 << 20)))
    );
    let past = folio(&server, &["ledger", "read", &id, "--to", "2"]);
    assert!(!past.status.success());
    let err = String::from_utf8_lossy(&past.stderr);
    assert!(err.contains("past the last readable entry 1"), "{err}");
    let missing = folio(&server, &["ledger", "read", "999999"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no ledger 999999 (404"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    // The token is required, as on every admin route.
    let refused = Command::new(folio_binary())
        .args(["ledger", "read", &id])
        .env("FOLIO_ADMIN_URL", server.admin_endpoint())
        .env("FOLIO_ADMIN_TOKEN", "not-the-admin-token")
        .output()
        .expect("run folio");
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("refused the token (401 Unauthorized)")
    );
    let http = reqwest::Client::new();
    let url = format!("{}/v1/ledgers/{id}/entries", server.admin_endpoint());
    assert_eq!(http.get(&url).send().await.expect("GET").status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_tree_recover_bookie_info_and_urep() {
    let server = Server::start();
    let s3 = client(&server);

    let created = folio_ok(&server, &["bucket", "create", "docs"]);
    assert!(
        created.starts_with("created bucket docs (id ")
            && created.ends_with("owner FOLIOTESTROOTKEY)\n"),
        "{created}"
    );
    let ls = folio_json(&server, &["bucket", "ls"]);
    assert_eq!(ls["buckets"][0]["name"], "docs");
    let out = folio(&server, &["bucket", "create", "docs"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "folio: bucket \"docs\" exists (409 Conflict)\n"
    );
    for key in ["a/b/c.txt", "a/d.txt", "e.txt"] {
        s3.put_object()
            .bucket("docs")
            .key(key)
            .body(ByteStream::from_static(b"abc"))
            .send()
            .await
            .expect("put");
    }
    assert_eq!(
        folio_ok(&server, &["ns", "tree", "docs"]),
        "docs\n├── a/\n│   ├── b/\n│   │   └── c.txt (3 B)\n│   └── d.txt (3 B)\n└── e.txt (3 B)\n"
    );
    assert_eq!(
        folio_ok(&server, &["ns", "tree", "docs/a/", "--depth", "1"]),
        "docs/a/\n├── b/\n└── d.txt (3 B)\n"
    );

    // Recover through the admin API: a closed ledger answers as it is.
    let stat = folio_json(&server, &["ns", "stat", "docs/e.txt"]);
    let id = stat["segments"][0]["ledger_id"]
        .as_u64()
        .expect("ledger id");
    assert_eq!(
        folio_ok(&server, &["ledger", "recover", &id.to_string()]),
        format!("ledger {id} closed: last entry 0, length 3 bytes\n")
    );

    // A bookie by address.
    let address = stat["segments"][0]["ledger"]["ensembles"][0]["bookies"][0]
        .as_str()
        .expect("bookie")
        .to_owned();
    let info = folio_json(&server, &["bookie", "info", &address]);
    assert_eq!(
        (info["address"].as_str(), info["state"].as_str()),
        (Some(address.as_str()), Some("rw"))
    );
    let human = folio_ok(&server, &["bookie", "info", &address]);
    assert!(human.contains("state           rw\n"), "{human}");
    assert!(
        !folio(&server, &["bookie", "info", "127.0.0.1:1"])
            .status
            .success()
    );

    // Nothing is under-replicated.
    assert_eq!(
        folio_json(&server, &["urep", "ls"])["ledgers"],
        serde_json::json!([])
    );
    assert_eq!(
        folio_ok(&server, &["urep", "ls"]),
        "LEDGER  MISSING  SINCE  CLAIMED BY  PROGRESS  ATTEMPTS  LAST ERROR\n"
    );

    // Only an empty bucket is deleted.
    let out = folio(&server, &["bucket", "rm", "docs"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "folio: bucket \"docs\" is not empty (409 Conflict)\n"
    );
    for key in ["a/b/c.txt", "a/d.txt", "e.txt"] {
        s3.delete_object()
            .bucket("docs")
            .key(key)
            .send()
            .await
            .expect("delete");
    }
    assert_eq!(
        folio_ok(&server, &["bucket", "rm", "docs"]),
        "deleted bucket docs\n"
    );
    assert!(!folio(&server, &["bucket", "info", "docs"]).status.success());
}

/// Kills the child on drop, so a failed assertion leaves no process behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_bookie_serves_its_metrics_when_asked() {
    use std::io::BufRead as _;
    let data = tempfile::tempdir().expect("temp dir");
    let mut child = Child(
        Command::new(folio_binary())
            .args([
                "bookie",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start folio bookie"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    // The two address lines come right after start-up; a bounded number of lines.
    let lines = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .take(2)
            .map(|l| l.expect("stdout line"))
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(std::time::Duration::from_secs(120), lines)
        .await
        .expect("the bookie starts within 120 s")
        .expect("read stdout");
    let url = lines
        .iter()
        .find_map(|l| l.strip_prefix("folio bookie metrics on "))
        .unwrap_or_else(|| panic!("no metrics address in {lines:?}"))
        .to_owned();
    let http = reqwest::Client::new();
    let text = http
        .get(&url)
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    let samples = parse_prometheus(&text);
    for name in [
        "folio_bookie_journal_fsync_duration_seconds_count",
        "folio_bookie_add_duration_seconds_count",
        "folio_bookie_read_duration_seconds_count",
    ] {
        assert!(samples.iter().any(|s| s.name == name), "no {name}: {text}");
    }
    assert!(total(&samples, "folio_bookie_disk_total_bytes", None) > 0.0);
    let other = http
        .get(url.replace("/metrics", "/v1/nope"))
        .send()
        .await
        .expect("GET");
    assert_eq!(other.status(), 404);
}
