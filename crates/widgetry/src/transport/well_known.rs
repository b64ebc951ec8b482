//! RFC 9728 protected-resource metadata at `/.well-known/oauth-protected-resource` and
//! its path-suffixed form (`…/mcp`), readable from any origin (CORS), as clients in a
//! browser need it to discover the authorization server.

use std::sync::Arc;

use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::{HeaderValue, Method};
use tower_http::cors::{Any, CorsLayer};

use crate::auth::AuthState;

/// The metadata routes of `auth`.
pub(crate) fn router(auth: &Arc<AuthState>) -> Router {
    let (_, path) = auth.config().split_resource();
    let doc = auth.metadata().to_string();
    let handler = move || {
        let doc = doc.clone();
        async move {
            (
                [(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                doc,
            )
                .into_response()
        }
    };
    let mut router = Router::new().route(
        "/.well-known/oauth-protected-resource",
        get(handler.clone()),
    );
    if !path.is_empty() {
        router = router.route(
            &format!("/.well-known/oauth-protected-resource{path}"),
            get(handler),
        );
    }
    router.layer(
        CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([Method::GET, Method::OPTIONS])
            .allow_headers([
                http::header::AUTHORIZATION,
                http::header::CONTENT_TYPE,
                http::HeaderName::from_static("mcp-protocol-version"),
            ])
            .max_age(std::time::Duration::from_secs(86400)),
    )
}
