//! The S3 request pipeline: request id → route → authenticate → authorize → handler →
//! response, with every failure turned into an S3 XML error in one place.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use folio_ledger::LedgerClient;
use folio_namespace::Db;
use folio_namespace::buckets::{self, BucketRecord};
use folio_s3::error::S3Error;
use folio_s3::router::{self, S3Op};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tracing::Instrument;

use crate::access::{self, Principal};
use crate::config::GatewayConfig;
use crate::metrics::Metrics;
use crate::{bucket, list, multipart, object};
use folio_namespace::ids::IdAllocator;

/// What every handler shares.
pub struct App {
    /// The namespace.
    pub db: Db,
    /// The ledger client.
    pub ledgers: LedgerClient,
    /// Settings.
    pub config: GatewayConfig,
    /// Request counters and latencies.
    pub metrics: Arc<Metrics>,
    /// Allocates bucket ids.
    pub bucket_ids: IdAllocator,
}

/// An internal failure: logged here, where it is handled, and shown to the client only
/// as InternalError with the request id.
pub(crate) fn internal(context: &str, error: &dyn std::fmt::Display) -> S3Error {
    tracing::error!(%error, "{context}");
    S3Error::InternalError
}

/// A 200 (or other) response with an XML body.
pub(crate) fn xml_response(status: StatusCode, xml: String) -> Result<Response<Body>, S3Error> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/xml")
        .body(Body::from(xml))
        .map_err(|e| internal("build response", &e))
}

/// An empty response with `status`.
pub(crate) fn empty(status: StatusCode) -> Result<Response<Body>, S3Error> {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .map_err(|e| internal("build response", &e))
}

/// The S3 owner element of an access key id.
pub(crate) fn owner(access_key_id: &str) -> folio_s3::xml::Owner {
    folio_s3::xml::Owner {
        id: access_key_id.to_owned(),
        display_name: access_key_id.to_owned(),
    }
}

fn request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

/// The axum handler for every S3 request.
pub async fn handle(State(app): State<Arc<App>>, request: Request<Body>) -> Response<Body> {
    let id = request_id();
    let method = request.method().clone();
    let resource = request.uri().path().to_owned();
    let span =
        tracing::info_span!("s3", request_id = %id, method = %method, op = tracing::field::Empty);
    let started = std::time::Instant::now();
    let mut op_name = "Unknown";
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, body) = request.into_parts();
    let tap = crate::server::BodyTap::new(body);
    let request = Request::from_parts(parts, tap.body());
    let result = pipeline(&app, request, &span, &mut op_name)
        .instrument(span.clone())
        .await;
    let mut response = match result {
        Ok(response) => response,
        Err(error) => error_response(&error, &method, &resource, &id),
    };
    // An answer sent before the body was read: drain a bounded rest, or tell the
    // client this connection closes (S3-NOTES, Transport).
    if !tap.settle(expects_continue).await {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    app.metrics
        .request(op_name, response.status().as_u16(), started.elapsed());
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-amz-request-id", v);
    }
    response
}

fn error_response(error: &S3Error, method: &Method, resource: &str, id: &str) -> Response<Body> {
    let mut builder = Response::builder().status(error.status());
    if let Some(range) = error.content_range() {
        builder = builder.header(header::CONTENT_RANGE, range);
    }
    let body = if error.has_body(method) {
        builder = builder.header(header::CONTENT_TYPE, "application/xml");
        Body::from(error.to_xml(resource, id))
    } else {
        Body::empty()
    };
    builder.body(body).unwrap_or_else(|_| {
        let mut fallback = Response::new(Body::empty());
        *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}

async fn pipeline(
    app: &Arc<App>,
    request: Request<Body>,
    span: &tracing::Span,
    op_name: &mut &'static str,
) -> Result<Response<Body>, S3Error> {
    let (parts, body) = request.into_parts();
    let route = router::route(
        &parts.method,
        &parts.uri,
        &parts.headers,
        app.config.root_domain.as_deref(),
    )?;
    let op = route.op;
    *op_name = op.name();
    span.record("op", op.name());
    let vhost_bucket = match route.addressing {
        router::Addressing::VirtualHost => op.bucket().map(str::to_owned),
        router::Addressing::Path => None,
    };
    let (principal, body) =
        access::authenticate(app, &parts, vhost_bucket.as_deref(), body).await?;
    dispatch(app, op, principal, &parts.headers, body).await
}

/// The bucket `name`, which `principal` may read (or write).
async fn bucket_for(
    app: &App,
    principal: &Principal,
    name: &str,
    write: bool,
) -> Result<BucketRecord, S3Error> {
    let n = name.to_owned();
    let record = app
        .db
        .transact(move |tx, _| buckets::get(tx, &n))
        .await
        .map_err(|e| internal("read bucket", &e))?
        .ok_or(S3Error::NoSuchBucket)?;
    access::authorize(app, principal, &record, write)?;
    Ok(record)
}

async fn dispatch(
    app: &App,
    op: S3Op,
    principal: Principal,
    headers: &http::HeaderMap,
    body: crate::body::RequestBody,
) -> Result<Response<Body>, S3Error> {
    let p = &principal;
    match op {
        S3Op::ListBuckets(_) => bucket::list_buckets(app, p).await,
        S3Op::CreateBucket { bucket } => bucket::create(app, p, &bucket, body).await,
        S3Op::DeleteBucket { bucket } => {
            let b = bucket_for(app, p, &bucket, true).await?;
            bucket::delete(app, p, &bucket, &b).await
        }
        S3Op::HeadBucket { bucket } => {
            bucket_for(app, p, &bucket, false).await?;
            empty(StatusCode::OK)
        }
        S3Op::GetBucketLocation { bucket } => {
            bucket_for(app, p, &bucket, false).await?;
            xml_response(
                StatusCode::OK,
                folio_s3::xml::location_constraint(&app.config.region),
            )
        }
        S3Op::GetBucketVersioning { bucket } => {
            bucket_for(app, p, &bucket, false).await?;
            xml_response(StatusCode::OK, folio_s3::xml::versioning_configuration())
        }
        S3Op::GetBucketAcl { bucket } => {
            let b = bucket_for(app, p, &bucket, false).await?;
            xml_response(
                StatusCode::OK,
                folio_s3::xml::access_control_policy(&owner(&b.owner)),
            )
        }
        S3Op::ListObjects(r) => {
            let b = bucket_for(app, p, &r.scope.bucket, false).await?;
            list::list_objects_v1(app, &b, r).await
        }
        S3Op::ListObjectsV2(r) => {
            let b = bucket_for(app, p, &r.scope.bucket, false).await?;
            list::list_objects_v2(app, &b, r).await
        }
        S3Op::ListObjectVersions(r) => {
            let b = bucket_for(app, p, &r.scope.bucket, false).await?;
            list::list_object_versions(app, &b, r).await
        }
        S3Op::ListMultipartUploads(r) => {
            let b = bucket_for(app, p, &r.scope.bucket, false).await?;
            multipart::list_uploads(app, &b, r).await
        }
        S3Op::DeleteObjects { bucket } => {
            let b = bucket_for(app, p, &bucket, true).await?;
            bucket::delete_objects(app, &b, headers, body).await
        }
        S3Op::PutObject(r) => {
            let b = bucket_for(app, p, &r.bucket, true).await?;
            object::put(app, b.id, r, headers, body).await
        }
        S3Op::CopyObject(r) => {
            let src = bucket_for(app, p, &r.source.bucket, false).await?;
            let dst = bucket_for(app, p, &r.bucket, true).await?;
            object::copy(app, &src, &dst, r).await
        }
        S3Op::GetObject(r) => {
            let b = bucket_for(app, p, &r.bucket, false).await?;
            object::get(app, b.id, r, false).await
        }
        S3Op::HeadObject(r) => {
            let b = bucket_for(app, p, &r.bucket, false).await?;
            object::get(app, b.id, r, true).await
        }
        S3Op::DeleteObject { bucket, key, .. } => {
            let b = bucket_for(app, p, &bucket, true).await?;
            object::delete(app, b.id, &key).await
        }
        S3Op::GetObjectAcl { bucket, key, .. } => {
            let b = bucket_for(app, p, &bucket, false).await?;
            object::exists(app, b.id, &key).await?;
            xml_response(
                StatusCode::OK,
                folio_s3::xml::access_control_policy(&owner(&b.owner)),
            )
        }
        S3Op::GetObjectTagging { bucket, key, .. } => {
            let b = bucket_for(app, p, &bucket, false).await?;
            object::exists(app, b.id, &key).await?;
            xml_response(StatusCode::OK, folio_s3::xml::empty_tagging())
        }
        S3Op::CreateMultipartUpload(r) => {
            let b = bucket_for(app, p, &r.bucket, true).await?;
            multipart::create(app, p, &b, r).await
        }
        S3Op::UploadPart(r) => {
            let b = bucket_for(app, p, &r.bucket, true).await?;
            multipart::upload_part(app, &b, r, headers, body).await
        }
        S3Op::UploadPartCopy(r) => {
            let src = bucket_for(app, p, &r.source.bucket, false).await?;
            let dst = bucket_for(app, p, &r.bucket, true).await?;
            multipart::upload_part_copy(app, &src, &dst, r).await
        }
        S3Op::CompleteMultipartUpload(r) => {
            let b = bucket_for(app, p, &r.bucket, true).await?;
            multipart::complete(app, &b, r, body).await
        }
        S3Op::AbortMultipartUpload {
            bucket,
            key,
            upload_id,
        } => {
            let b = bucket_for(app, p, &bucket, true).await?;
            multipart::abort(app, &b, &key, &upload_id).await
        }
        S3Op::ListParts(r) => {
            let b = bucket_for(app, p, &r.bucket, false).await?;
            multipart::list_parts(app, &b, r).await
        }
        S3Op::NotImplemented { operation, .. } => Err(S3Error::NotImplemented { operation }),
    }
}
