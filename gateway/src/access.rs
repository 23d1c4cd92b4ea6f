//! Authentication against the namespace's access keys, and per-bucket authorization.
//!
//! [`authenticate`] parses the request's signature (`folio_s3::auth`), looks the access
//! key up, verifies the signature with its secret, and wraps the body so that what
//! the signature promises about it is checked as it streams: a signed SHA-256 at the
//! end, or every chunk signature and trailer of an aws-chunked body. Anonymous
//! requests are refused: folio has no public buckets yet.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use bytes::Bytes;
use folio_namespace::access_keys::{self, AccessKeyRecord};
use folio_namespace::buckets::BucketRecord;
use folio_s3::auth::{self, AuthOptions, ChunkedDecoder, Decoded, PayloadCheck, RequestParts};
use folio_s3::error::S3Error;
use futures::{Stream, StreamExt};
use http::request::Parts;

use crate::app::{App, internal};
use crate::body::{RequestBody, Trailers};

/// Who sent a request.
#[derive(Clone, Debug)]
pub(crate) enum Principal {
    /// A verified access key.
    Key {
        /// Its id.
        id: String,
        /// Its record (permissions).
        record: AccessKeyRecord,
    },
}

impl Principal {
    /// The access key id.
    pub(crate) fn id(&self) -> &str {
        match self {
            Principal::Key { id, .. } => id,
        }
    }

    /// Whether this is the root key, allowed on every bucket.
    pub(crate) fn is_root(&self, app: &App) -> bool {
        app.config.root_access_key.as_deref() == Some(self.id())
    }

    /// Whether it may create buckets.
    pub(crate) fn may_create_buckets(&self, app: &App) -> bool {
        match self {
            Principal::Key { record, .. } => self.is_root(app) || record.allow_create_bucket,
        }
    }
}

/// Authenticates a request and wraps its body with the checks its signature implies.
pub(crate) async fn authenticate(
    app: &App,
    parts: &Parts,
    virtual_host_bucket: Option<&str>,
    body: Body,
) -> Result<(Principal, RequestBody), S3Error> {
    let mut request = RequestParts::new(&parts.method, &parts.uri, &parts.headers);
    if let Some(bucket) = virtual_host_bucket {
        request = request.with_virtual_host_bucket(bucket);
    }
    let options = AuthOptions {
        region: Some(app.config.region.clone()),
        ..AuthOptions::default()
    };
    let now = time::OffsetDateTime::now_utc();
    let Some(pending) = auth::parse(&request, now, &options)? else {
        return Err(S3Error::access_denied());
    };
    let id = pending.access_key_id().to_owned();
    let lookup = id.clone();
    let record = app
        .db
        .transact(move |tx, _| access_keys::get(tx, &lookup))
        .await
        .map_err(|e| internal("read access key", &e))?
        .ok_or(S3Error::InvalidAccessKeyId)?;
    let verified = pending.verify(&record.secret)?;
    let declared_length = header_u64(parts, "content-length");
    let raw = body
        .into_data_stream()
        .map(|r| r.map_err(|_| S3Error::IncompleteBody));
    let body = match verified.payload {
        PayloadCheck::Sha256(digest) => RequestBody {
            stream: Box::pin(raw),
            declared_length,
            sha256: Some(digest),
            trailers: Trailers::default(),
        },
        PayloadCheck::Unsigned => RequestBody {
            stream: Box::pin(raw),
            declared_length,
            sha256: None,
            trailers: Trailers::default(),
        },
        PayloadCheck::Chunked(decoder) => {
            let trailers = Trailers::default();
            RequestBody {
                stream: Box::pin(dechunk(raw, decoder, trailers.clone())),
                declared_length: header_u64(parts, "x-amz-decoded-content-length"),
                sha256: None,
                trailers,
            }
        }
    };
    Ok((Principal::Key { id, record }, body))
}

fn header_u64(parts: &Parts, name: &str) -> Option<u64> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Decodes an aws-chunked body as it streams, verifying every chunk; the trailers are
/// left in `trailers` when the body ends.
fn dechunk(
    raw: impl Stream<Item = Result<Bytes, S3Error>> + Send + Unpin + 'static,
    decoder: Box<ChunkedDecoder>,
    trailers: Arc<Mutex<Vec<(String, String)>>>,
) -> impl Stream<Item = Result<Bytes, S3Error>> + Send + 'static {
    struct State<R> {
        raw: R,
        decoder: Box<ChunkedDecoder>,
        trailers: Trailers,
        done: bool,
    }
    let state = State {
        raw,
        decoder,
        trailers,
        done: false,
    };
    futures::stream::unfold(state, |mut s| async move {
        loop {
            if s.done {
                return None;
            }
            match s.decoder.next_decoded() {
                Err(e) => {
                    s.done = true;
                    return Some((Err(S3Error::from(e)), s));
                }
                Ok(Some(Decoded::Data(data))) => return Some((Ok(data), s)),
                Ok(Some(Decoded::Trailers(t))) => {
                    if let Ok(mut slot) = s.trailers.lock() {
                        *slot = t;
                    }
                }
                Ok(Some(Decoded::End)) => return None,
                Ok(None) => match s.raw.next().await {
                    Some(Ok(bytes)) => s.decoder.push(bytes),
                    Some(Err(e)) => {
                        s.done = true;
                        return Some((Err(e), s));
                    }
                    // The decoder now reports End, or an error for a truncated body.
                    None => s.decoder.end_input(),
                },
            }
        }
    })
}

/// Whether `principal` may read (or, with `write`, write) in `bucket`.
pub(crate) fn authorize(
    app: &App,
    principal: &Principal,
    bucket: &BucketRecord,
    write: bool,
) -> Result<(), S3Error> {
    if principal.is_root(app) {
        return Ok(());
    }
    let Principal::Key { record, .. } = principal;
    let p = record.permission(bucket.id);
    let allowed = if write {
        p.write || p.owner
    } else {
        p.read || p.owner
    };
    if allowed {
        Ok(())
    } else {
        Err(S3Error::access_denied())
    }
}

/// Whether `principal` owns `bucket` (may delete it).
pub(crate) fn authorize_owner(
    app: &App,
    principal: &Principal,
    bucket: &BucketRecord,
) -> Result<(), S3Error> {
    if principal.is_root(app) {
        return Ok(());
    }
    let Principal::Key { record, .. } = principal;
    if record.permission(bucket.id).owner {
        Ok(())
    } else {
        Err(S3Error::access_denied())
    }
}
