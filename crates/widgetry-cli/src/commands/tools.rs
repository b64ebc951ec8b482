//! `widgetry tools`: lists a server's tools with their auth policy (from
//! `securitySchemes`, top level or `_meta`), scopes and widget (`_meta.ui.resourceUri`
//! or `openai/outputTemplate`), as a table or as JSON. Works with any MCP server.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{json, Value};

use super::{connect, user_token_store, CommandError};
use crate::options::{Connection, ConnectionArgs, UsageError};
use crate::output::{paint, HEAD, LINK, OK, WARN};

/// `widgetry tools`: list the tools of an MCP server: name, auth policy, scopes and
/// widget.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: ConnectionArgs,
}

/// A validated `widgetry tools` invocation.
#[derive(Debug)]
pub struct Config {
    conn: Connection,
    json: bool,
}

/// Checks the options.
pub fn config(args: Args) -> Result<Config, UsageError> {
    Ok(Config {
        conn: args.conn.into_connection()?,
        json: args.json,
    })
}

/// A tool's auth policy, from its `securitySchemes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthPolicy {
    /// Only `noauth`.
    Public,
    /// Only `oauth2`.
    Required,
    /// `noauth` and `oauth2`: works signed out, does more signed in.
    Optional,
    /// No (recognised) `securitySchemes`: the server's default applies.
    Unspecified,
}

impl AuthPolicy {
    fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Required => "required",
            Self::Optional => "optional",
            Self::Unspecified => "unspecified",
        }
    }
}

/// What the listing shows of one tool.
#[derive(Debug, Serialize)]
pub struct ToolSummary {
    /// `name`.
    pub name: String,
    /// `title` (or `annotations.title`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `description`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The auth policy.
    pub auth: AuthPolicy,
    /// The OAuth scopes the tool asks for.
    pub scopes: Vec<String>,
    /// The widget template URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub widget: Option<String>,
}

/// Summarises a tool descriptor from `tools/list`.
pub fn summarize(tool: &Value) -> ToolSummary {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let schemes = tool
        .get("securitySchemes")
        .or_else(|| tool.pointer("/_meta/securitySchemes"))
        .and_then(Value::as_array);
    let mut noauth = false;
    let mut oauth = false;
    let mut scopes: Vec<String> = Vec::new();
    for scheme in schemes.into_iter().flatten() {
        match scheme.get("type").and_then(Value::as_str) {
            Some("noauth") => noauth = true,
            Some("oauth2") => {
                oauth = true;
                for s in scheme
                    .get("scopes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(s) = s.as_str() {
                        if !scopes.iter().any(|k| k == s) {
                            scopes.push(s.to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let auth = match (noauth, oauth) {
        (true, false) => AuthPolicy::Public,
        (false, true) => AuthPolicy::Required,
        (true, true) => AuthPolicy::Optional,
        (false, false) => AuthPolicy::Unspecified,
    };
    ToolSummary {
        name: text(tool.get("name")).unwrap_or_default(),
        title: text(tool.get("title")).or_else(|| text(tool.pointer("/annotations/title"))),
        description: text(tool.get("description")),
        auth,
        scopes,
        widget: text(tool.pointer("/_meta/ui/resourceUri")).or_else(|| {
            text(
                tool.get("_meta")
                    .and_then(|m| m.get("openai/outputTemplate")),
            )
        }),
    }
}

/// Renders the summaries as an aligned Markdown table.
pub fn table(tools: &[ToolSummary]) -> String {
    let header = ["Tool", "Auth", "Scopes", "Widget"];
    let rows: Vec<[String; 4]> = tools
        .iter()
        .map(|t| {
            [
                t.name.clone(),
                t.auth.as_str().to_string(),
                if t.scopes.is_empty() {
                    "-".into()
                } else {
                    t.scopes.join(", ")
                },
                t.widget.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4], head: bool| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = " ".repeat(w - c.chars().count());
                let style = match (head, i, *c) {
                    (true, _, _) => HEAD,
                    (false, 1, "public") => OK,
                    (false, 1, "required") => WARN,
                    (false, 1, "optional") => LINK,
                    _ => return format!("{c}{pad}"),
                };
                format!("{}{pad}", paint(style, c))
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header, true);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3]], false));
    }
    out
}

/// Runs `widgetry tools`.
pub async fn run(config: Config) -> Result<ExitCode, CommandError> {
    let mut client = connect(&config.conn, user_token_store()?).await?;
    let tools = client.list_tools().await?;
    let init = client.initialize_result().clone();
    let protocol_version = client.protocol_version().to_string();
    client.close().await;

    let summaries: Vec<ToolSummary> = tools.iter().map(summarize).collect();
    let server_name = init
        .pointer("/serverInfo/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let server_version = init
        .pointer("/serverInfo/version")
        .and_then(Value::as_str)
        .unwrap_or("?");
    if config.json {
        crate::output::json(&json!({
            "server": {
                "url": config.conn.url.to_string(),
                "name": server_name,
                "version": server_version,
                "protocolVersion": protocol_version,
            },
            "tools": summaries,
        }))?;
    } else {
        let mut out = crate::output::stdout();
        writeln!(
            out,
            "{} {server_version} at {} (MCP {protocol_version}): {} tool{}\n",
            paint(HEAD, server_name),
            paint(LINK, &config.conn.url.to_string()),
            summaries.len(),
            if summaries.len() == 1 { "" } else { "s" }
        )?;
        if !summaries.is_empty() {
            write!(out, "{}", table(&summaries))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_schemes_give_the_policy_and_scopes() {
        let t = |schemes: Value| {
            summarize(&json!({"name": "t", "_meta": {"securitySchemes": schemes}}))
        };
        assert_eq!(t(json!([{"type": "noauth"}])).auth, AuthPolicy::Public);
        let required = t(json!([{"type": "oauth2", "scopes": ["user", "read:data"]}]));
        assert_eq!(
            (required.auth, required.scopes.join(" ")),
            (AuthPolicy::Required, "user read:data".into())
        );
        assert_eq!(
            t(json!([{"type": "noauth"}, {"type": "oauth2", "scopes": ["user"]}])).auth,
            AuthPolicy::Optional
        );
        assert_eq!(
            summarize(&json!({"name": "t"})).auth,
            AuthPolicy::Unspecified
        );
        let top = summarize(&json!({"name": "t", "securitySchemes": [{"type": "noauth"}]}));
        assert_eq!(top.auth, AuthPolicy::Public);
    }

    #[test]
    fn widget_comes_from_ui_resource_uri_or_the_openai_alias() {
        let a = summarize(
            &json!({"name": "a", "_meta": {"ui": {"resourceUri": "ui://widget/a.html"}}}),
        );
        let b = summarize(
            &json!({"name": "b", "_meta": {"openai/outputTemplate": "ui://widget/b.html"}}),
        );
        assert_eq!(a.widget.as_deref(), Some("ui://widget/a.html"));
        assert_eq!(b.widget.as_deref(), Some("ui://widget/b.html"));
    }

    #[test]
    fn table_columns_are_aligned() {
        let rows = [summarize(
            &json!({"name": "protected-widget", "_meta": {"securitySchemes": [{"type": "oauth2", "scopes": ["user"]}]}}),
        )];
        let text = anstream::adapter::strip_str(&table(&rows)).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "| Tool             | Auth     | Scopes | Widget |"
        );
        assert_eq!(
            lines[1],
            "|------------------|----------|--------|--------|"
        );
        assert_eq!(
            lines[2],
            "| protected-widget | required | user   | -      |"
        );
    }
}
