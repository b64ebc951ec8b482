//! Transports: Streamable HTTP (`/mcp`), legacy HTTP+SSE (`/sse` + `/messages`) and
//! stdio. All of them decode JSON-RPC, resolve the session and hand each request to the
//! same engine path ([`crate::server::Server`]: parse → authorize → run); they only
//! render what it answers.
//!
//! [`router`] assembles the HTTP endpoints behind their tower layers: the Host/Origin
//! guard, the body limit and the bearer check are applied once, here, to every MCP
//! route.

mod config;
pub(crate) mod guard;
mod headers;
pub(crate) mod http;
pub(crate) mod layers;
#[cfg(feature = "legacy-sse")]
mod legacy;
mod listing;
pub(crate) mod messages;
pub(crate) mod response;
#[cfg(feature = "legacy-sse")]
pub(crate) mod sse;
mod state;
pub(crate) mod stdio;
pub(crate) mod well_known;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

pub use crate::server::session::{SessionLimits, MAX_SUBSCRIPTIONS, REVALIDATE_AFTER};
pub use config::{HttpConfig, DEFAULT_MAX_BODY_BYTES};
pub use guard::Guard;
pub use headers::{METHOD_HEADER, NAME_HEADER, SESSION_HEADER, VERSION_HEADER};
pub use state::HttpState;
pub use stdio::{serve_io, serve_stdio};
pub use widgetry_authz::TrustedProxies;

use crate::server::{Server, SessionManager};

/// Builds the router of the MCP endpoints (Streamable HTTP at `config.path`, the
/// `GET <path>/tools` listing and, when enabled, legacy SSE) behind the guard,
/// body-limit and bearer layers, plus the RFC 9728 metadata routes when the server has
/// auth, and starts a background sweeper of expired sessions.
pub fn router(server: Server, config: HttpConfig) -> (Router, Arc<HttpState>) {
    let state = Arc::new(HttpState {
        sessions: SessionManager::with_limits(
            config.session_store.clone(),
            config.session_ttl,
            config.session_limits,
        ),
        server,
        #[cfg(feature = "legacy-sse")]
        legacy: Default::default(),
        config,
    });
    state::spawn_sweeper(&state);
    let listing = format!("{}/tools", state.config.path.trim_end_matches('/'));
    #[allow(unused_mut)]
    let mut r = Router::new()
        .route(
            &state.config.path,
            get(http::get_stream)
                .post(http::post_message)
                .delete(http::delete_session),
        )
        .route(&listing, get(listing::tool_listing));
    #[cfg(feature = "legacy-sse")]
    if state.config.legacy_sse {
        r = r
            .route("/sse", get(sse::get_sse))
            .route("/messages", axum::routing::post(sse::post_messages));
    }
    let auth = state.server.auth().cloned();
    let r = r.layer(layers::Edge::new(
        state.config.guard.clone(),
        state.config.max_body_bytes,
        auth.clone(),
    ));
    let mut r = r.with_state(state.clone());
    if let Some(auth) = &auth {
        r = r.merge(well_known::router(auth));
    }
    (r, state)
}
