//! `widgetry call <tool> [json-args]`: calls a tool, signing in when the server (or
//! the tool's result) challenges, and prints the result: text content as text, other
//! content as one-line summaries, `structuredContent` as pretty JSON. A result with
//! `isError: true` exits with status 1.

use std::io::{Read, Write};
use std::process::ExitCode;

use serde_json::Value;

use super::{connect, user_token_store, CommandError};
use crate::cli::{Arg, Connection, ConnectionArgs, Lexer, Parsed, UsageError, CONNECTION_HELP};

/// `widgetry call --help`.
pub fn help() -> String {
    format!(
        "Call a tool of an MCP server and print its result; signs in when the server asks.

Usage: widgetry call <TOOL> [JSON-ARGS] [--url URL] [--scope S]... [--no-browser] [options]

Arguments:
  <TOOL>                        the tool name
  [JSON-ARGS]                   the arguments, a JSON object (default {{}}; `-` reads stdin)

Options:
      --json                    print the whole result as JSON
  -h, --help                    this help

Exit status: 0 on success, 1 when the call fails or the tool reports an error
(isError), 2 on a usage mistake.

{CONNECTION_HELP}"
    )
}

/// A validated `widgetry call` invocation.
#[derive(Debug)]
pub struct Config {
    conn: Connection,
    tool: String,
    arguments: Value,
    json: bool,
}

/// Parses the arguments after `call`.
pub fn parse(lexer: &mut Lexer) -> Result<Parsed<Config>, UsageError> {
    let mut conn = ConnectionArgs::default();
    let mut json = false;
    let mut positional = Vec::new();
    while let Some(arg) = lexer.next()? {
        if conn.accept(&arg, lexer)? {
            continue;
        }
        match arg {
            Arg::Long(l) if l == "--json" => json = true,
            Arg::Long(l) if l == "--help" => return Ok(Parsed::Help(help())),
            Arg::Short('h') => return Ok(Parsed::Help(help())),
            Arg::Positional(p) => positional.push(p),
            Arg::Long(l) => return Err(UsageError(format!("unknown option {l}"))),
            Arg::Short(c) => return Err(UsageError(format!("unknown option -{c}"))),
        }
    }
    let mut positional = positional.into_iter();
    let tool = positional
        .next()
        .ok_or_else(|| UsageError("which tool? usage: widgetry call <TOOL> [JSON-ARGS]".into()))?;
    let raw = positional.next();
    if let Some(extra) = positional.next() {
        return Err(UsageError(format!(
            "unexpected argument {extra:?} (quote the JSON arguments as one argument)"
        )));
    }
    let text = match raw.as_deref() {
        None => "{}".to_string(),
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| UsageError(format!("cannot read the arguments from stdin: {e}")))?;
            s
        }
        Some(s) => s.to_string(),
    };
    let arguments: Value = serde_json::from_str(&text)
        .map_err(|e| UsageError(format!("the tool arguments are not valid JSON: {e}")))?;
    if !arguments.is_object() {
        return Err(UsageError(
            "the tool arguments must be a JSON object, like '{\"limit\": 3}'".into(),
        ));
    }
    Ok(Parsed::Run(Config {
        conn: conn.into_connection()?,
        tool,
        arguments,
        json,
    }))
}

/// Runs `widgetry call`.
pub async fn run(config: Config) -> Result<ExitCode, CommandError> {
    let mut client = connect(&config.conn, user_token_store()?).await?;
    let result = client.call_tool(&config.tool, &config.arguments).await;
    client.close().await;
    let result = result?;
    let mut out = std::io::stdout().lock();
    if config.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        )?;
    } else {
        write!(out, "{}", render(&result))?;
    }
    out.flush()?;
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        eprintln!("widgetry: the tool {} reported an error", config.tool);
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
