//! `/v1/ns/...`: browse a bucket's names like a file system (`ls`, `stat`, `du`).
//!
//! Directories come from the `/` delimiter. Each answer is read in bounded pages of
//! the S3 listing (`folio_namespace::list::list_page`), one transaction each, so no
//! request holds a transaction open across a large bucket.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use base64::Engine as _;
use folio_namespace::list::{self, ListEntry, ListRequest};
use folio_namespace::objects::{self, ChecksumAlgorithm};
use folio_namespace::{NsError, buckets, ledgers, links};
use serde::Serialize;

use super::error::{ApiError, ns, ok};
use super::ledgers::LedgerView;
use super::query::Query;
use crate::app::App;

/// Most objects `GET /v1/buckets/{name}` counts.
pub(crate) const INFO_SCAN_LIMIT_OBJECTS: usize = 100_000;
/// Default and largest number of objects one `du` request scans.
const DU_DEFAULT_OBJECTS: usize = 100_000;
const DU_MAX_OBJECTS: usize = 1_000_000;
/// With `counts=true`, most objects `ls` counts under one directory, and in all.
const COUNT_PER_PREFIX_OBJECTS: usize = 10_000;
const COUNT_PER_REQUEST_OBJECTS: usize = 100_000;

/// Object count and bytes of a scan.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Totals {
    pub(crate) objects: u64,
    pub(crate) bytes: u64,
    /// Where the scan stopped, if it stopped before the end: pass as `after`.
    pub(crate) next_after: Option<String>,
}

async fn bucket_id(app: &App, name: &str) -> Result<u64, ApiError> {
    let n = name.to_owned();
    app.db
        .transact(move |tx, _| buckets::get(tx, &n))
        .await
        .map_err(|e| ns("read bucket", e))?
        .map(|b| b.id)
        .ok_or_else(|| ApiError::NotFound(format!("no bucket {name:?}")))
}

/// Counts objects and bytes under `prefix` after `after`, at most `limit` objects,
/// in pages of [`list::MAX_KEYS_LIMIT`] keys.
pub(crate) async fn scan_totals(
    app: &App,
    bucket_id: u64,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Totals, ApiError> {
    let mut totals = Totals::default();
    let mut marker = after.map(str::to_owned);
    loop {
        let want = (limit - totals.objects as usize).min(list::MAX_KEYS_LIMIT);
        let (p, m) = (prefix.to_owned(), marker.clone());
        let page = app
            .db
            .transact(move |tx, _| {
                let req = ListRequest {
                    prefix: &p,
                    delimiter: None,
                    start_after: m.as_deref(),
                    max_keys: want,
                };
                list::list_page(tx, bucket_id, &req)
            })
            .await
            .map_err(|e| ns("scan objects", e))?;
        for entry in &page.entries {
            if let ListEntry::Object(o) = entry {
                totals.objects += 1;
                totals.bytes += o.size_bytes;
            }
        }
        marker = page.next_start_after;
        if marker.is_none() {
            return Ok(totals);
        }
        if totals.objects as usize >= limit {
            totals.next_after = marker;
            return Ok(totals);
        }
    }
}

#[derive(Serialize)]
struct ObjectEntry {
    key: String,
    size_bytes: u64,
    etag: String,
    mtime_ms: u64,
}

/// `GET /v1/ns/ls?bucket=&prefix=&recursive=&after=&limit=`.
pub(crate) async fn ls(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    let bucket = q.required("bucket")?.to_owned();
    let prefix = q.get("prefix").unwrap_or("").to_owned();
    let recursive = q.flag("recursive")?;
    let after = q.get("after").map(str::to_owned);
    let limit = q.limit(list::MAX_KEYS_LIMIT, list::MAX_KEYS_LIMIT)?;
    let counts = q.flag("counts")?;
    let id = bucket_id(&app, &bucket).await?;
    let p = prefix.clone();
    let page = app
        .db
        .transact(move |tx, _| {
            let req = ListRequest {
                prefix: &p,
                delimiter: (!recursive).then_some("/"),
                start_after: after.as_deref(),
                max_keys: limit,
            };
            list::list_page(tx, id, &req)
        })
        .await
        .map_err(|e| ns("list objects", e))?;
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    for entry in page.entries {
        match entry {
            ListEntry::Object(o) => objects.push(ObjectEntry {
                key: o.key,
                size_bytes: o.size_bytes,
                etag: o.etag,
                mtime_ms: o.mtime_ms,
            }),
            ListEntry::CommonPrefix(p) => prefixes.push(p),
        }
    }
    let prefix_totals = if counts {
        Some(count_prefixes(&app, id, &prefixes).await?)
    } else {
        None
    };
    #[derive(Serialize)]
    struct Answer {
        bucket: String,
        prefix: String,
        objects: Vec<ObjectEntry>,
        prefixes: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        prefix_totals: Option<BTreeMap<String, PrefixTotals>>,
        next_after: Option<String>,
    }
    ok(&Answer {
        bucket,
        prefix,
        objects,
        prefixes,
        prefix_totals,
        next_after: page.next_start_after,
    })
}

/// Objects and bytes under one directory of a listing.
#[derive(Serialize)]
struct PrefixTotals {
    objects: u64,
    bytes: u64,
    /// False when the count stopped at its bound: the totals are lower bounds.
    complete: bool,
}

/// Counts each directory of a listing, at most [`COUNT_PER_PREFIX_OBJECTS`] objects
/// each and [`COUNT_PER_REQUEST_OBJECTS`] in all.
async fn count_prefixes(
    app: &App,
    bucket_id: u64,
    prefixes: &[String],
) -> Result<BTreeMap<String, PrefixTotals>, ApiError> {
    let mut budget = COUNT_PER_REQUEST_OBJECTS;
    let mut out = BTreeMap::new();
    for p in prefixes {
        let bound = budget.min(COUNT_PER_PREFIX_OBJECTS);
        let totals = if bound == 0 {
            Totals {
                next_after: Some(String::new()),
                ..Totals::default()
            }
        } else {
            scan_totals(app, bucket_id, p, None, bound).await?
        };
        budget -= totals.objects as usize;
        out.insert(
            p.clone(),
            PrefixTotals {
                objects: totals.objects,
                bytes: totals.bytes,
                complete: totals.next_after.is_none(),
            },
        );
    }
    Ok(out)
}

#[derive(Serialize)]
struct ChecksumView {
    algorithm: &'static str,
    value_base64: String,
    parts: Option<u32>,
}

#[derive(Serialize)]
struct SegmentView {
    ledger_id: u64,
    length_bytes: u64,
    entry_size_bytes: u32,
    /// The ledger's metadata; `None` if it is gone (which would be a bug).
    ledger: Option<LedgerView>,
}

fn algorithm_name(a: ChecksumAlgorithm) -> &'static str {
    match a {
        ChecksumAlgorithm::Crc32 => "CRC32",
        ChecksumAlgorithm::Crc32c => "CRC32C",
        ChecksumAlgorithm::Sha1 => "SHA1",
        ChecksumAlgorithm::Sha256 => "SHA256",
        ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
    }
}

/// `GET /v1/ns/stat?bucket=&key=`: the object record and its ledgers.
pub(crate) async fn stat(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    let bucket = q.required("bucket")?.to_owned();
    let key = q.required("key")?.to_owned();
    let id = bucket_id(&app, &bucket).await?;
    let k = key.clone();
    let found = app
        .db
        .transact(move |tx, _| {
            let Some(record) = objects::get(tx, id, &k)? else {
                return Ok(None);
            };
            let mut segments = Vec::with_capacity(record.segments.len());
            for s in &record.segments {
                let meta = ledgers::get(tx, s.ledger_id)?;
                let links = links::count(tx, s.ledger_id)?;
                segments.push(SegmentView {
                    ledger_id: s.ledger_id,
                    length_bytes: s.length_bytes,
                    entry_size_bytes: s.entry_size_bytes,
                    ledger: meta.map(|m| LedgerView::new(s.ledger_id, m, links)),
                });
            }
            Ok::<_, NsError>(Some((record, segments)))
        })
        .await
        .map_err(|e| ns("read object", e))?;
    let (record, segments) =
        found.ok_or_else(|| ApiError::NotFound(format!("no object {key:?} in {bucket:?}")))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let h = record.headers;
    let headers: BTreeMap<&str, String> = [
        ("content-disposition", h.content_disposition),
        ("cache-control", h.cache_control),
        ("content-encoding", h.content_encoding),
        ("content-language", h.content_language),
        ("expires", h.expires),
    ]
    .into_iter()
    .filter_map(|(n, v)| v.map(|v| (n, v)))
    .collect();
    #[derive(Serialize)]
    struct Answer<'a> {
        bucket: String,
        key: String,
        size_bytes: u64,
        etag: String,
        mtime_ms: u64,
        content_type: Option<String>,
        headers: BTreeMap<&'a str, String>,
        metadata: BTreeMap<String, String>,
        checksums: Vec<ChecksumView>,
        segments: Vec<SegmentView>,
    }
    ok(&Answer {
        bucket,
        key,
        size_bytes: record.size_bytes,
        etag: record.etag,
        mtime_ms: record.mtime_ms,
        content_type: record.content_type,
        headers,
        metadata: record.user_metadata,
        checksums: record
            .checksums
            .iter()
            .map(|c| ChecksumView {
                algorithm: algorithm_name(c.algorithm),
                value_base64: b64.encode(&c.value),
                parts: c.parts,
            })
            .collect(),
        segments,
    })
}

/// `GET /v1/ns/du?bucket=&prefix=&after=&limit=`: object count and bytes under a
/// prefix. One request scans at most `limit` objects (default 100,000); when
/// `next_after` is set, ask again with `after` set to it and add the totals.
pub(crate) async fn du(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    let bucket = q.required("bucket")?.to_owned();
    let prefix = q.get("prefix").unwrap_or("").to_owned();
    let limit = q.limit(DU_DEFAULT_OBJECTS, DU_MAX_OBJECTS)?;
    let id = bucket_id(&app, &bucket).await?;
    let totals = scan_totals(&app, id, &prefix, q.get("after"), limit).await?;
    #[derive(Serialize)]
    struct Answer {
        bucket: String,
        prefix: String,
        #[serde(flatten)]
        totals: Totals,
    }
    ok(&Answer {
        bucket,
        prefix,
        totals,
    })
}
