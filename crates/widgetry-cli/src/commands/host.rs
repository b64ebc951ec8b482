//! `widgetry host --url <MCP URL>`: the local host page (the framework's own, from
//! [`widgetry::app::host_page`]) in front of any MCP server: pick a tool, run it, see its
//! widget, with sign-in through the server's OAuth done by the CLI's client.
//!
//! It connects once (signing in if the server asks at once), reads the server's widget
//! resources for the Content-Security-Policy their frames need, then serves on
//! 127.0.0.1: the page at `/_widgetry/host` and, at `/mcp`, the proxy
//! ([`crate::proxy`]) that forwards the page's MCP requests with the bearer token.
//! Tokens are remembered like `widgetry call`'s. Ctrl-C stops it.

use std::process::ExitCode;
use std::sync::Arc;

use axum::response::Redirect;
use axum::routing::get;
use serde_json::Value;

use super::{user_token_store, CommandError};
use crate::http::HttpClient;
use crate::mcp::McpClient;
use crate::oauth::Authorizer;
use crate::options::{Connection, ConnectionArgs, UsageError};
use crate::output::{paint, HEAD, LINK};
use crate::proxy::Proxy;

/// Where the page sends its MCP requests (the proxy).
const PROXY_PATH: &str = "/mcp";
/// The page.
const PAGE_PATH: &str = "/_widgetry/host";

/// `widgetry host`: open the local host page against any MCP server.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Open the local host page against any MCP server: pick a tool, fill its input, \
                  run it and see its widget render through the MCP Apps or ChatGPT bridge.\n\n\
                  The page talks to a proxy on 127.0.0.1 that forwards its MCP requests to --url \
                  with your token, so the server's CORS rules do not matter; when the server asks \
                  for sign-in, the CLI signs in through the server's OAuth (as `widgetry call` \
                  does) and remembers the token."
)]
pub struct Args {
    /// The local port for the page and the proxy (0 picks a free one)
    #[arg(long, value_name = "N", default_value_t = 0)]
    port: u16,
    /// Open the page in the browser
    #[arg(long)]
    open: bool,
    #[command(flatten)]
    conn: ConnectionArgs,
}

/// A validated `widgetry host` invocation.
#[derive(Debug)]
pub struct Config {
    conn: Connection,
    port: u16,
    open: bool,
}

/// Checks the options.
pub fn config(args: Args) -> Result<Config, UsageError> {
    Ok(Config {
        conn: args.conn.into_connection()?,
        port: args.port,
        open: args.open,
    })
}

/// Runs `widgetry host`.
pub async fn run(config: Config) -> Result<ExitCode, CommandError> {
    let conn = &config.conn;
    let http = HttpClient::new(conn.verbose)?;
    let auth = Authorizer::new(
        http.clone(),
        conn.url.clone(),
        conn.oauth.clone(),
        user_token_store()?,
    );
    let client = McpClient::connect(
        http.clone(),
        conn.url.clone(),
        auth,
        conn.timeout,
        conn.client.clone(),
    )
    .await?;
    let server = client
        .initialize_result()
        .pointer("/serverInfo/name")
        .and_then(Value::as_str)
        .unwrap_or("the server")
        .to_string();
    let auth = client.close().await;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
        .await
        .map_err(|e| {
            CommandError::Failed(format!("cannot listen on 127.0.0.1:{}: {e}", config.port))
        })?;
    let port = listener.local_addr()?.port();
    let proxy = Arc::new(Proxy::new(http, conn.url.clone(), auth, conn.timeout, port));
    let app = widgetry::app::host_page(PROXY_PATH)
        .merge(proxy.router(PROXY_PATH))
        .route("/", get(|| async { Redirect::to(PAGE_PATH) }));
    let page = format!("http://127.0.0.1:{port}{PAGE_PATH}");
    {
        use std::io::Write;
        let mut out = crate::output::stdout();
        writeln!(out, "host page: {}", paint(LINK, &page))?;
        writeln!(
            out,
            "proxying MCP to {} ({}); sign-in goes through its OAuth",
            paint(HEAD, &conn.url.to_string()),
            server
        )?;
        writeln!(out, "Ctrl-C to stop")?;
        out.flush()?;
    }
    if config.open && !crate::browser::open(&page) {
        crate::output::warn("no browser to open here (set BROWSER); open the page above yourself");
    }
    let serve = axum::serve(listener, app);
    tokio::select! {
        r = serve => r.map_err(|e| CommandError::Failed(format!("the host page server stopped: {e}")))?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}
