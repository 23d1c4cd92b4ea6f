//! The admin API's one error type: a status code and a JSON body `{"error": "..."}`.
//!
//! Internal failures are logged where they are handled (here) and answered with a
//! generic message; client mistakes name what was wrong.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use folio_namespace::NsError;
use http::{StatusCode, header};
use serde::Serialize;

/// Why an admin request failed.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// A malformed parameter or body.
    BadRequest(String),
    /// The bucket, key, object or ledger does not exist.
    NotFound(String),
    /// The request conflicts with the current state (exists, not empty).
    Conflict(String),
    /// A bookie or the ledger layer failed; the message says which.
    Unavailable(String),
    /// Anything else; already logged.
    Internal,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> &str {
        match self {
            ApiError::BadRequest(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::Unavailable(m) => m,
            ApiError::Internal => "internal error (see the gateway log)",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
        }
        json(
            self.status(),
            &Body {
                error: self.message(),
            },
        )
    }
}

/// Logs an internal failure and turns it into [`ApiError::Internal`].
pub(crate) fn internal(context: &str, error: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(%error, "admin API: {context}");
    ApiError::Internal
}

/// Maps a namespace error: the ones a caller can cause become 404 or 409.
pub(crate) fn ns(context: &str, error: NsError) -> ApiError {
    match error {
        NsError::BucketNotFound(name) => ApiError::NotFound(format!("no bucket {name:?}")),
        NsError::BucketExists(name) => ApiError::Conflict(format!("bucket {name:?} exists")),
        NsError::BucketNotEmpty(name) => {
            ApiError::Conflict(format!("bucket {name:?} is not empty"))
        }
        NsError::AccessKeyNotFound(id) => ApiError::NotFound(format!("no access key {id:?}")),
        NsError::AccessKeyExists(id) => ApiError::Conflict(format!("access key {id:?} exists")),
        NsError::LedgerNotFound(id) => ApiError::NotFound(format!("no ledger {id}")),
        other => internal(context, &other),
    }
}

/// A response with `value` as its JSON body.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec_pretty(value) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => internal("encode JSON", &e).into_response(),
    }
}

/// A 200 response with `value` as its JSON body.
pub(crate) fn ok<T: Serialize>(value: &T) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, value))
}

/// Parses a JSON request body.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("request body: {e}")))
}
