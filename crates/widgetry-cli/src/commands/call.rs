//! `widgetry call <tool> [json-args]`: calls a tool, signing in when the server (or
//! the tool's result) challenges, and prints the result: text content as text, other
//! content as one-line summaries, `structuredContent` as pretty JSON. A result with
//! `isError: true` exits with status 1.

use std::io::{Read, Write};
use std::process::ExitCode;

use serde_json::Value;

use super::{connect, user_token_store, CommandError};
use crate::options::{Connection, ConnectionArgs, UsageError};

/// `widgetry call`: call a tool of an MCP server and print its result; signs in when
/// the server asks.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 on success, 1 when the call fails or the tool reports an \
                        error (isError), 2 on a usage mistake."
)]
pub struct Args {
    /// The tool name
    tool: String,
    /// The arguments, a JSON object (`-` reads stdin)
    #[arg(value_name = "JSON-ARGS", default_value = "{}")]
    arguments: String,
    /// Print the whole result as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: ConnectionArgs,
}

/// A validated `widgetry call` invocation.
#[derive(Debug)]
pub struct Config {
    conn: Connection,
    tool: String,
    arguments: Value,
    json: bool,
}

/// Checks the options; `-` reads the arguments from standard input.
pub fn config(args: Args) -> Result<Config, UsageError> {
    let text = if args.arguments == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| UsageError(format!("cannot read the arguments from stdin: {e}")))?;
        s
    } else {
        args.arguments
    };
    let arguments: Value = serde_json::from_str(&text)
        .map_err(|e| UsageError(format!("the tool arguments are not valid JSON: {e}")))?;
    if !arguments.is_object() {
        return Err(UsageError(
            "the tool arguments must be a JSON object, like '{\"limit\": 3}'".into(),
        ));
    }
    Ok(Config {
        conn: args.conn.into_connection()?,
        tool: args.tool,
        arguments,
        json: args.json,
    })
}

/// Runs `widgetry call`.
pub async fn run(config: Config) -> Result<ExitCode, CommandError> {
    let mut client = connect(&config.conn, user_token_store()?).await?;
    let result = client.call_tool(&config.tool, &config.arguments).await;
    client.close().await;
    let result = result?;
    if config.json {
        crate::output::json(&result)?;
    } else {
        let mut out = std::io::stdout().lock();
        write!(out, "{}", render(&result))?;
        out.flush()?;
    }
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        crate::output::error(&format!("the tool {} reported an error", config.tool));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The human rendering of a `CallToolResult`.
pub fn render(result: &Value) -> String {
    let mut out = String::new();
    for item in result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let line = render_content(item);
        out.push_str(&line);
        if !line.ends_with('\n') {
            out.push('\n');
        }
    }
    if let Some(structured) = result.get("structuredContent") {
        if !out.is_empty() {
            out.push_str("\nstructuredContent:\n");
        }
        out.push_str(&serde_json::to_string_pretty(structured).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// One content item: text as is, anything else as a bracketed one-line summary.
fn render_content(item: &Value) -> String {
    let field = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let approx_bytes = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map_or(0, |d| d.len() / 4 * 3)
    };
    let bracket = |parts: Vec<Option<String>>| {
        format!(
            "[{}]",
            parts.into_iter().flatten().collect::<Vec<_>>().join(" ")
        )
    };
    match item.get("type").and_then(Value::as_str).unwrap_or("") {
        "text" => field(item, "text").unwrap_or_default(),
        kind @ ("image" | "audio") => format!(
            "[{kind}: {}, about {} bytes]",
            field(item, "mimeType").unwrap_or_else(|| "unknown type".into()),
            approx_bytes(item, "data")
        ),
        "resource" => {
            let r = item.get("resource").cloned().unwrap_or_default();
            let head = bracket(vec![
                Some("resource".into()),
                field(&r, "uri"),
                field(&r, "mimeType"),
            ]);
            match field(&r, "text") {
                Some(text) => format!("{head}\n{text}"),
                None => format!("{head} [blob, about {} bytes]", approx_bytes(&r, "blob")),
            }
        }
        "resource_link" => bracket(vec![
            Some("link".into()),
            field(item, "uri"),
            field(item, "name"),
        ]),
        other => format!("[{other} content]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_then_summaries_then_structured_content() {
        let r = json!({
            "content": [
                {"type": "text", "text": "hello"},
                {"type": "image", "mimeType": "image/png", "data": "AAAA"},
                {"type": "resource", "resource": {"uri": "test://x", "mimeType": "text/plain", "text": "body"}},
            ],
            "structuredContent": {"n": 1},
        });
        assert_eq!(
            render(&r),
            "hello\n[image: image/png, about 3 bytes]\n[resource test://x text/plain]\nbody\n\nstructuredContent:\n{\n  \"n\": 1\n}\n"
        );
    }
}
