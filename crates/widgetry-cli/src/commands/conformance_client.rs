//! `widgetry conformance-client <url>` (hidden): the CLI as the client under test of
//! the official MCP conformance suite (`conformance client --command … --suite auth`).
//! The harness appends the server URL and sets `MCP_CONFORMANCE_SCENARIO` and, where a
//! scenario needs pre-registered credentials, `MCP_CONFORMANCE_CONTEXT` (JSON with
//! `client_id`/`client_secret`).
//!
//! What it does is what the suite's reference client does: connect, list the tools and
//! call one (`test-tool` in the auth scenarios), signing in on the way exactly as
//! `widgetry call` would, except that sign-in is headless (the mock authorization server
//! approves without a page), tokens stay in memory, and the suite's Client ID Metadata
//! Document URL is offered.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{connect, CommandError};
use crate::oauth::{SignInMode, TokenStore};
use crate::options::{Connection, ConnectionArgs, UsageError};

/// The Client ID Metadata Document URL the suite expects (`auth/basic-cimd`).
pub const CONFORMANCE_CIMD_URL: &str = "https://conformance-test.local/client-metadata.json";

/// `widgetry conformance-client`: run as the client under test of the MCP conformance
/// suite (used by scripts/conformance-client.sh). Reads MCP_CONFORMANCE_SCENARIO and
/// MCP_CONFORMANCE_CONTEXT from the environment.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server URL (the harness appends it; the last one wins)
    #[arg(value_name = "URL", required = true)]
    urls: Vec<String>,
    #[command(flatten)]
    conn: ConnectionArgs,
}

/// A validated invocation.
#[derive(Debug)]
pub struct Config {
    conn: Connection,
    scenario: String,
}

/// Checks the options and reads the harness's environment.
pub fn config(args: Args) -> Result<Config, UsageError> {
    let mut conn = args.conn;
    if let Some(url) = args.urls.last() {
        conn.set_url(url.clone());
    }
    let mut conn = conn.into_connection()?;
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let context: Value = match std::env::var("MCP_CONFORMANCE_CONTEXT") {
        Ok(raw) => serde_json::from_str(&raw)
            .map_err(|e| UsageError(format!("MCP_CONFORMANCE_CONTEXT is not JSON: {e}")))?,
        Err(_) => Value::Null,
    };
    let text = |k: &str| context.get(k).and_then(Value::as_str).map(str::to_string);
    if let Some(id) = text("client_id") {
        conn.oauth.client_id = Some(id);
        conn.oauth.client_secret = text("client_secret");
    }
    conn.oauth.sign_in = SignInMode::Headless;
    conn.oauth.client_metadata_url = Some(CONFORMANCE_CIMD_URL.into());
    conn.oauth.client_name = "widgetry conformance client".into();
    conn.timeout = Duration::from_secs(20);
    conn.oauth.http_timeout = Duration::from_secs(10);
    Ok(Config { conn, scenario })
}

/// Arguments that satisfy a tool's `inputSchema`: each required property gets a
/// simple value of its type.
fn sample_arguments(tool: &Value) -> Value {
    let mut args = Map::new();
    let schema = tool.get("inputSchema").cloned().unwrap_or_default();
    let props = schema.get("properties").cloned().unwrap_or_default();
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = name.as_str() else { continue };
        let value = match props
            .pointer(&format!("/{name}/type"))
            .and_then(Value::as_str)
        {
            Some("number" | "integer") => json!(1),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => json!("test"),
        };
        args.insert(name.to_string(), value);
    }
    Value::Object(args)
}

/// Runs the scenario.
pub async fn run(config: Config) -> Result<ExitCode, CommandError> {
    eprintln!(
        "widgetry conformance client: scenario {:?} against {}",
        config.scenario, config.conn.url
    );
    let mut client = connect(&config.conn, TokenStore::in_memory()).await?;
    let tools = client.list_tools().await?;
    let chosen = tools
        .iter()
        .find(|t| t.get("name").and_then(Value::as_str) == Some("test-tool"))
        .or_else(|| tools.first());
    if let (Some(tool), false) = (chosen, config.scenario == "initialize") {
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let result = client.call_tool(&name, &sample_arguments(tool)).await?;
        eprintln!(
            "called {name}: {}",
            crate::commands::call::render(&result).trim_end()
        );
    }
    client.close().await;
    Ok(ExitCode::SUCCESS)
}
