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
use axum::routing::get;
use http::{StatusCode, header};
use subtle::ConstantTimeEq;

use crate::app::App;

/// The admin router.
pub(crate) fn router(app: Arc<App>) -> Router {
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_token))
        .with_state(app.clone());
    Router::new()
        .route("/health", get(health))
        .with_state(app)
        .merge(protected)
}

async fn health() -> &'static str {
    "ok\n"
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
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
