//! # Widgetry
//!
//! A framework for ChatGPT Apps and MCP Apps: MCP servers whose tools render UI widgets
//! inside ChatGPT (and any MCP Apps host), with per-tool authentication.
//!
//! Most apps need only the root: [`App`] and its [`AppBuilder`], typed [`Tool`]s and
//! their [`Reply`], [`Widget`]s and widget [`Action`]s, the per-tool [`Auth`] policy and
//! the [`RequestContext`] a handler receives. The rest is grouped by job:
//!
//! | module | what a user finds there |
//! |---|---|
//! | [`app`] | the app builder and everything a tool or widget declares |
//! | [`auth`] | the resource server: [`AuthConfig`], verifiers, widget-token keys |
//! | `embedded` | the embedded OAuth 2.1 authorization server (feature `authz`) |
//! | `signin` | the session sign-in widget (feature `signin`) |
//! | [`ops`] | deployment settings, production serving (metrics, health) |
//! | [`protocol`] | the MCP wire types (tools, content, resources, JSON-RPC) |
//! | [`transport`] | the HTTP router and stdio for a bare [`Server`] |
//! | [`store`] | session and key-value stores (memory, SQLite, PostgreSQL, Redis) |
//! | [`guide`] | the guides: tools and widgets, auth, widget actions, session sign-in, stores |
//!
//! Below the app layer sits the MCP engine, [`Server`], for untyped tools, resources and
//! prompts:
//!
//! ```no_run
//! use widgetry::{Server, ToolError};
//! use widgetry::protocol::types::{CallToolResult, ToolDescriptor};
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::builder("hello", "1.0.0")
//!     .tool(ToolDescriptor::new("greet"), |_ctx, _args| async {
//!         Ok::<_, ToolError>(CallToolResult::text("hello"))
//!     })
//!     .build();
//! let (router, _state) = widgetry::transport::router(server, Default::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! widgetry::serve(listener, router).await
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(unnameable_types)]

// The public face: the modules below that are `pub` are curated facades (their own
// submodules are private and they re-export what a user needs); the engine's machinery
// (sessions, dispatch, the HTTP handlers, randomness, the outbound client) stays inside.
pub mod app;
pub mod auth;
pub mod describe;
#[cfg(feature = "authz")]
pub mod embedded;
pub mod guide;
mod http_client;
mod identity;
pub mod ops;
pub mod protocol;
mod random;
pub mod runner;
mod server;
#[cfg(feature = "signin")]
pub mod signin;
pub mod transport;

pub use app::{
    Action, App, AppBuilder, AppError, EmbeddedWidgets, FileParam, IntoReply, NoInput, Reply, Tool,
    Visibility, Widget,
};
pub use auth::{Auth, AuthConfig, Caller, ChallengeMode, User};
#[cfg(feature = "authz")]
pub use embedded::{AuthSetup, EmbeddedAuth};
pub use ops::Settings;
#[cfg(feature = "authz")]
pub use runner::DemoUser;
pub use runner::{Runner, Setup};
pub use server::{
    InputRequired, RequestContext, Server, ServerBuilder, ServerConfig, Step, ToolEntry, ToolError,
    ToolFuture, ToolHandler, UiClients,
};
pub use transport::HttpConfig;
pub use widgetry_store as store;

/// Serves a router on a listener with `TCP_NODELAY` on every accepted socket, until the
/// process receives Ctrl-C (SIGINT) or SIGTERM; then ends open SSE streams and drains
/// for at most 10 seconds.
pub async fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> std::io::Result<()> {
    ops::shutdown::serve(listener, router, std::time::Duration::from_secs(10)).await
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
