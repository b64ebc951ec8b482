//! # Widgetry
//!
//! A framework for ChatGPT Apps and MCP Apps: MCP servers whose tools render UI widgets
//! inside ChatGPT (and any MCP Apps host), with per-tool authentication.
//!
//! This crate holds the MCP engine ([`server`]), its wire types ([`protocol`]) and its
//! transports ([`transport`]: Streamable HTTP, legacy HTTP+SSE, stdio).
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

pub mod app;
pub mod auth;
pub mod describe;
pub mod embedded;
pub mod http_client;
pub mod identity;
pub mod ops;
pub mod protocol;
pub mod random;
pub mod runner;
pub mod server;
pub mod signin;
pub mod transport;

pub use app::{App, NoInput, Reply, Tool, Visibility, Widget};
pub use auth::{AuthConfig, ChallengeMode};
pub use embedded::{AuthSetup, EmbeddedAuth};
pub use identity::{Auth, Caller, User};
pub use runner::{DemoUser, Runner, Setup};
pub use server::{RequestContext, Server, ServerBuilder, ToolError};
pub use transport::HttpConfig;
pub use widgetry_store as store;

/// Serves a router on a listener with `TCP_NODELAY` on every accepted socket, until the
/// process receives Ctrl-C (SIGINT) or SIGTERM; then ends open SSE streams and drains
/// for at most 10 seconds ([`ops::shutdown`]).
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
