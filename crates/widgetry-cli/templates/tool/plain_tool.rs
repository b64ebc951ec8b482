//! `{{tool}}`: {{doc_policy}}

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use widgetry::app::{AppBuilder, Reply, Tool};
use widgetry::{Auth, RequestContext, ToolError};

use super::Shared;

/// The tool's arguments (its `inputSchema`): the model fills them in.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Input {
    /// Text to send back.
    #[serde(default)]
    pub message: Option<String>,
}

/// What the tool returns (its `outputSchema`; the result's `structuredContent`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// The message, echoed.
    pub message: String,
    /// Who called, when signed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

async fn handle(ctx: RequestContext, input: Input) -> Result<Reply<Output>, ToolError> {
    // {{handler_note}}
    let message = input.message.unwrap_or_else(|| "pong".into());
    let user = ctx
        .user()
        .map(|u| u.name().unwrap_or(&u.subject).to_string());
    let text = match &user {
        Some(u) => format!("{message} (for {u})"),
        None => message.clone(),
    };
    Ok(Reply::new(Output { message, user }).text(text))
}

/// Adds the tool to the app.
pub fn register(b: AppBuilder, _shared: &Shared) -> AppBuilder {
    b.tool(
        Tool::new("{{tool}}", handle)
            .title("{{title}}")
            .description(
                "Answers with the message it is given (a starting point: edit src/tools/{{module}}.rs).",
            )
            .read_only()
            .auth({{auth}}),
    )
}
