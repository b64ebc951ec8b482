//! Options shared by the commands that talk to an MCP server (`tools`, `call`, `host`,
//! `conformance-client`), validated into a [`Connection`] before anything runs, and the
//! usage error every command's validation returns.

use std::time::Duration;

use crate::http::HttpUrl;
use crate::mcp::{ClientOptions, Protocol, STATELESS_PROTOCOL_VERSION};
use crate::oauth::{OAuthOptions, ScopeSet, SignInMode};

/// The URL used when neither `--url` nor `WIDGETRY_URL` says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8000/mcp";

/// A usage mistake found after parsing (a value clap cannot check alone); exits with 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Options of the commands that talk to an MCP server, as parsed. Environment defaults
/// (`WIDGETRY_URL`, `WIDGETRY_CLIENT_ID`, …) are applied by [`Self::into_connection`],
/// where an empty variable counts as unset.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// The MCP endpoint [env: WIDGETRY_URL] [default: http://127.0.0.1:8000/mcp]
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Time limit for each request, in seconds [default: 120]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// Log HTTP exchanges and server log messages to stderr
    #[arg(short, long)]
    verbose: bool,
    /// The MCP protocol version: 2025-11-25 (initialize and a session, falling back to
    /// older versions) or 2026-07-28 (stateless: server/discover, no session)
    /// [env: WIDGETRY_PROTOCOL] [default: 2025-11-25]
    #[arg(long, value_name = "VERSION")]
    protocol: Option<String>,
    /// Do not declare the MCP Apps extension: see the tools as a client without UI does
    /// (no widget metadata, no app-only tools)
    #[arg(long)]
    text_only: bool,
    /// Answers to the server's form questions, as a JSON object by input key or message
    /// text: {"user_name": {"name": "Ada"}} (others are asked on the terminal)
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// Ask for SCOPE too when signing in (repeatable; space-separated lists work)
    #[arg(long = "scope", value_name = "SCOPE", help_heading = "Sign-in options")]
    scopes: Vec<String>,
    /// Print the sign-in URL instead of opening a browser
    #[arg(long, help_heading = "Sign-in options")]
    no_browser: bool,
    /// A pre-registered OAuth client [env: WIDGETRY_CLIENT_ID]
    #[arg(long, value_name = "ID", help_heading = "Sign-in options")]
    client_id: Option<String>,
    /// Its secret, for confidential clients [env: WIDGETRY_CLIENT_SECRET]
    #[arg(long, value_name = "SECRET", help_heading = "Sign-in options")]
    client_secret: Option<String>,
    /// A Client ID Metadata Document URL, used when the server supports them
    /// [env: WIDGETRY_CLIENT_METADATA_URL]
    #[arg(long, value_name = "URL", help_heading = "Sign-in options")]
    client_metadata_url: Option<String>,
    /// The loopback port for the sign-in redirect [default: any free port]
    #[arg(long, value_name = "PORT", help_heading = "Sign-in options")]
    callback_port: Option<u16>,
}

impl ConnectionArgs {
    /// Sets the URL (as `--url` would).
    pub fn set_url(&mut self, url: String) {
        self.url = Some(url);
    }

    /// Validates the options, filling in environment defaults.
    pub fn into_connection(self) -> Result<Connection, UsageError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let url = self
            .url
            .or_else(|| env("WIDGETRY_URL"))
            .unwrap_or_else(|| DEFAULT_URL.into());
        let url = HttpUrl::parse(&url).map_err(|e| UsageError(format!("--url: {e}")))?;
        let timeout = Duration::from_secs(self.timeout.unwrap_or(120));
        let callback_port = self.callback_port.unwrap_or(0);
        let client_id = self.client_id.or_else(|| env("WIDGETRY_CLIENT_ID"));
        let client_secret = self.client_secret.or_else(|| env("WIDGETRY_CLIENT_SECRET"));
        if client_secret.is_some() && client_id.is_none() {
            return Err(UsageError("--client-secret needs --client-id".into()));
        }
        let client_metadata_url = self
            .client_metadata_url
            .or_else(|| env("WIDGETRY_CLIENT_METADATA_URL"));
        if let Some(u) = &client_metadata_url {
            let parsed =
                HttpUrl::parse(u).map_err(|e| UsageError(format!("--client-metadata-url: {e}")))?;
            if parsed.scheme() != "https" || parsed.path_trimmed().is_empty() {
                return Err(UsageError(
                    "--client-metadata-url must be an https URL with a path (the client_id of a Client ID Metadata Document)".into(),
                ));
            }
        }
        let scopes = ScopeSet::from_iter(self.scopes.iter().flat_map(|s| s.split_whitespace()));
        let version = self
            .protocol
            .or_else(|| env("WIDGETRY_PROTOCOL"))
            .unwrap_or_else(|| crate::mcp::LATEST_PROTOCOL_VERSION.into());
        let protocol = Protocol::parse(&version).ok_or_else(|| {
            UsageError(format!(
                "--protocol {version:?}: use {STATELESS_PROTOCOL_VERSION} or one of {}",
                crate::mcp::SUPPORTED_PROTOCOL_VERSIONS.join(", ")
            ))
        })?;
        let inputs = match self.input {
            None => serde_json::Map::new(),
            Some(text) => match serde_json::from_str(&text) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => return Err(UsageError(
                    "--input must be a JSON object: {\"<input key or question>\": {<form answer>}}"
                        .into(),
                )),
            },
        };
        Ok(Connection {
            url,
            timeout,
            verbose: self.verbose,
            client: ClientOptions {
                protocol,
                ui: !self.text_only,
                inputs,
            },
            oauth: OAuthOptions {
                sign_in: if self.no_browser {
                    SignInMode::PrintUrl
                } else {
                    SignInMode::Browser
                },
                client_id,
                client_secret,
                client_metadata_url,
                scopes,
                callback_port,
                client_name: "Widgetry CLI".into(),
                http_timeout: Duration::from_secs(30),
                sign_in_timeout: Duration::from_secs(300),
            },
        })
    }
}

/// Validated connection settings.
#[derive(Debug)]
pub struct Connection {
    /// The MCP endpoint.
    pub url: HttpUrl,
    /// Time limit per request.
    pub timeout: Duration,
    /// Log exchanges.
    pub verbose: bool,
    /// The protocol, what the client declares and its answers to questions.
    pub client: ClientOptions,
    /// How to sign in.
    pub oauth: OAuthOptions,
}
