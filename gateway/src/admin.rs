//! The admin HTTP API: `/health`, `/metrics` (Prometheus) and the versioned `/v1/...`
//! API, on their own listener (loopback by default).
//!
//! Every route except `/health` needs `Authorization: Bearer <admin token>`; a missing
//! or wrong token gets 401. The token is compared in constant time and never logged.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::{StatusCode, header};
use subtle::ConstantTimeEq;

use crate::app::App;

mod bookies;
mod buckets;
mod error;
mod keys;
mod ledgers;
mod ns;
mod query;
mod urep;

/// The admin router. `docs/admin-api.md` documents the `/v1` routes.
pub(crate) fn router(app: Arc<App>) -> Router {
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/buckets", get(buckets::list).post(buckets::create))
        .route(
            "/v1/buckets/{name}",
            get(buckets::info).delete(buckets::delete),
        )
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", delete(keys::delete))
        .route("/v1/keys/{id}/allow", post(keys::allow))
        .route("/v1/keys/{id}/deny", post(keys::deny))
        .route("/v1/ns/ls", get(ns::ls))
        .route("/v1/ns/stat", get(ns::stat))
        .route("/v1/ns/du", get(ns::du))
        .route("/v1/ledgers", get(ledgers::list))
        .route("/v1/ledgers/{id}", get(ledgers::show))
        .route("/v1/ledgers/{id}/entries", get(ledgers::entries))
        .route("/v1/ledgers/{id}/recover", post(ledgers::recover))
        .route("/v1/bookies", get(bookies::list))
        .route("/v1/bookies/{address}", get(bookies::info))
        .route(
            "/v1/bookies/{address}/scrub",
            get(bookies::scrub_report).post(bookies::scrub),
        )
        .route(
            "/v1/bookies/{address}/decommission",
            post(bookies::decommission),
        )
        .route("/v1/urep", get(urep::list))
        .fallback(not_found)
        // A layer, not a route layer: unknown paths need the token too.
        .layer(middleware::from_fn_with_state(app.clone(), require_token))
        .with_state(app.clone());
    Router::new()
        .route("/health", get(health))
        .with_state(app)
        .merge(protected)
}

async fn not_found() -> Response {
    error::ApiError::NotFound("no such admin route".into()).into_response()
}

async fn health() -> &'static str {
    "ok\n"
}

/// The gateway's metrics, then its ledger client's (`folio_ledger_*`), then those of
/// components the host added (`folio standalone`'s bookies, `folio_bookie_*`).
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut text = app.metrics.render();
    text.push_str(&app.ledgers.metrics().render());
    app.metrics.render_sources(&mut text);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn require_token(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = app.config.admin_token.as_bytes();
    let ok = !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected));
    if !ok {
        let mut response = Response::new(Body::from("missing or wrong admin token\n"));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    next.run(request).await
}
