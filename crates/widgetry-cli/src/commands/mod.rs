//! The subcommands, one module each. A command declares its options (`Args`, parsed by
//! clap), checks them into a validated config (`config`), then runs it (`run`) and
//! returns the process exit code.
//! Shared here: connecting to an MCP server with sign-in, and the error type.

pub mod add;
pub mod build;
pub mod call;
pub mod clients;
pub mod completions;
pub mod conformance_client;
pub mod dev;
pub mod host;
pub mod new;
pub mod token;
pub mod tools;
pub mod users;

use std::process::ExitCode;

use crate::http::{HttpClient, HttpError};
use crate::mcp::{McpClient, McpError};
use crate::oauth::{AuthError, Authorizer, TokenStore};
use crate::options::{Connection, UsageError};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Bad arguments.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// Talking to the server.
    #[error(transparent)]
    Mcp(#[from] McpError),
    /// Signing in.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// HTTP set-up.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Writing the output.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// A project command failed; the message says what and where.
    #[error("{0}")]
    Failed(String),
}

impl CommandError {
    /// The exit code: 2 for usage mistakes, 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

/// Where tokens live for commands run by a person.
pub fn user_token_store() -> Result<TokenStore, CommandError> {
    match TokenStore::default_path() {
        Some(path) => Ok(TokenStore::open(path)?),
        None => {
            crate::output::warn("no HOME or XDG_CONFIG_HOME; sign-ins will not be remembered");
            Ok(TokenStore::in_memory())
        }
    }
}

/// Connects to the server, signing in if it asks.
pub async fn connect(conn: &Connection, store: TokenStore) -> Result<McpClient, CommandError> {
    let http = HttpClient::new(conn.verbose)?;
    let auth = Authorizer::new(http.clone(), conn.url.clone(), conn.oauth.clone(), store);
    Ok(McpClient::connect(
        http,
        conn.url.clone(),
        auth,
        conn.timeout,
        conn.client.clone(),
    )
    .await?)
}
