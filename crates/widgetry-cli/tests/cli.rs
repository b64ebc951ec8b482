//! End-to-end tests of the `widgetry` binary against real widgetry servers: the
//! conformance fixture (`target/<profile>/conformance`) and the showcase
//! (`target/<profile>/showcase`), both built by `cargo test --workspace`.
//! The OAuth side is tested by the official conformance suite
//! (`scripts/conformance-client.sh`).

use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;
use common::{free_port, start, stderr, stdout, WIDGETRY};

/// Runs the CLI with a private config directory (no token store is shared).
fn widgetry(args: &[&str]) -> Output {
    let config = std::env::temp_dir().join(format!(
        "widgetry-cli-test-{}-{}",
        std::process::id(),
        unique()
    ));
    std::fs::create_dir_all(&config).expect("temp dir");
    let out = Command::new(WIDGETRY)
        .args(args)
        .env("XDG_CONFIG_HOME", &config)
        .env_remove("WIDGETRY_URL")
        .env_remove("WIDGETRY_CLIENT_ID")
        .env_remove("WIDGETRY_CLIENT_SECRET")
        .env_remove("WIDGETRY_CLIENT_METADATA_URL")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .output()
        .expect("run widgetry");
    let _ = std::fs::remove_dir_all(&config);
    out
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn tools_lists_every_tool_of_the_server_in_a_table() {
    let server = start("conformance", &[], &[]);
    let out = widgetry(&["tools", "--url", &server.url]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    assert!(first.starts_with("widgetry-conformance "), "{first}");
    assert!(first.contains("(MCP 2025-11-25)"), "{first}");
    assert!(text.contains("| Tool "), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("| test_simple_text "))
        .unwrap_or_else(|| panic!("no test_simple_text row in:\n{text}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(
        cells[1..5],
        ["test_simple_text", "unspecified", "-", "-"],
        "{row}"
    );
}

#[test]
fn tools_json_gives_auth_policy_scopes_and_widget_per_tool() {
    let server = start("showcase", &[], &[]);
    let out = widgetry(&["tools", "--json", "--url", &server.url]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["server"]["name"], "widgetry-showcase");
    let tools = doc["tools"].as_array().expect("tools array");
    let show_list = tools
        .iter()
        .find(|t| t["name"] == "show_list")
        .expect("show_list listed");
    assert_eq!(show_list["auth"], "public");
    assert_eq!(show_list["scopes"], serde_json::json!([]));
    let widget = show_list["widget"].as_str().unwrap_or_default();
    assert!(widget.starts_with("ui://widget/list"), "{widget}");
    let details = tools
        .iter()
        .find(|t| t["name"] == "item_details")
        .expect("item_details listed");
    assert!(details.get("widget").is_none(), "{details}");
}

#[test]
fn tools_works_with_a_stateless_server() {
    let server = start("conformance", &["--stateless"], &[]);
    let out = widgetry(&["tools", "--url", &server.url]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(stdout(&out).contains("| test_simple_text "));
}

#[test]
fn call_prints_the_text_content_of_the_result() {
    let server = start("conformance", &[], &[]);
    let out = widgetry(&["call", "test_simple_text", "--url", &server.url]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "This is a simple text response for testing.\n"
    );
}

#[test]
fn call_summarises_non_text_content() {
    let server = start("conformance", &[], &[]);
    let out = widgetry(&[
        "call",
        "test_multiple_content_types",
        "{}",
        "--url",
        &server.url,
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("Multiple content types test:\n[image: image/png, about "),
        "{text}"
    );
    assert!(text.contains("[resource test://mixed-content-resource application/json]\n{\"test\":\"data\",\"value\":123}"), "{text}");
}

#[test]
fn call_prints_structured_content_as_pretty_json() {
    let server = start("showcase", &[], &[]);
    let out = widgetry(&["call", "show_list", r#"{"limit": 2}"#, "--url", &server.url]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    let json_part = text.split("structuredContent:\n").nth(1).unwrap_or(&text);
    let structured: Value =
        serde_json::from_str(json_part).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        structured["items"].as_array().map(Vec::len),
        Some(2),
        "{text}"
    );
    assert!(
        json_part.contains("\n  \"items\": ["),
        "not pretty-printed: {json_part}"
    );
}

#[test]
fn call_json_prints_the_whole_result() {
    let server = start("conformance", &[], &[]);
    let out = widgetry(&["call", "test_simple_text", "--json", "--url", &server.url]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(
        result["content"][0]["text"],
        "This is a simple text response for testing."
    );
}

#[test]
fn tool_error_result_exits_with_status_1() {
    let server = start("conformance", &[], &[]);
    let out = widgetry(&["call", "test_error_handling", "--url", &server.url]);
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(&out));
    assert!(
        stdout(&out).contains("intentionally returns an error"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("the tool test_error_handling reported an error"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn streamed_answers_with_log_notifications_are_read_to_the_result() {
    let server = start("conformance", &[], &[]);
    let out = widgetry(&["call", "test_tool_with_logging", "-v", "--url", &server.url]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "Tool with logging executed successfully\n");
}

#[test]
fn server_to_client_requests_are_declined_instead_of_hanging() {
    let server = start("conformance", &[], &[]);
    let out = widgetry(&[
        "call",
        "test_sampling",
        r#"{"prompt": "hi"}"#,
        "--timeout",
        "20",
        "--url",
        &server.url,
    ]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert!(
        stdout(&out).contains("does not support sampling/createMessage"),
        "stdout: {} stderr: {}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn unknown_tool_reports_the_servers_error() {
    let server = start("conformance", &[], &[]);
    let out = widgetry(&["call", "no_such_tool", "--url", &server.url]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("widgetry: error:") || err.contains("reported an error"),
        "{err}"
    );
    assert!(
        format!("{}{err}", stdout(&out)).contains("no_such_tool"),
        "{err}"
    );
}

#[test]
fn arguments_that_are_not_a_json_object_are_a_usage_error() {
    let out = widgetry(&["call", "x", "[1, 2]"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("must be a JSON object"),
        "{}",
        stderr(&out)
    );
    let out = widgetry(&["call", "x", "{nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not valid JSON"), "{}", stderr(&out));
}

#[test]
fn an_unreachable_server_gives_a_connection_error() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let out = widgetry(&["tools", "--url", &url, "--timeout", "5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("cannot reach {url}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn tools_table_is_colored_only_when_asked_or_on_a_terminal() {
    let server = start("conformance", &[], &[]);
    let plain = widgetry(&["tools", "--url", &server.url]);
    assert!(plain.status.success(), "stderr: {}", stderr(&plain));
    assert!(
        !stdout(&plain).contains('\x1b'),
        "escape codes in piped output: {:?}",
        stdout(&plain)
    );
    let colored = widgetry(&["tools", "--color", "always", "--url", &server.url]);
    assert!(colored.status.success(), "stderr: {}", stderr(&colored));
    let text = stdout(&colored);
    assert!(
        text.contains("\x1b["),
        "no colors with --color always: {text:?}"
    );
    // The colors wrap cells; without them the table is the same, still aligned.
    assert_eq!(strip_ansi(&text), stdout(&plain));
}

#[test]
fn errors_are_colored_with_color_always_and_never_under_no_color() {
    let forced = widgetry(&["call", "x", "[1]", "--color", "always"]);
    assert_eq!(forced.status.code(), Some(2));
    assert!(stderr(&forced).contains("\x1b["), "{:?}", stderr(&forced));
    let out = Command::new(WIDGETRY)
        .args(["call", "x", "[1]"])
        .env("NO_COLOR", "1")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .expect("run widgetry");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("widgetry: error: the tool arguments must be a JSON object"),
        "{err}"
    );
    assert!(!err.contains('\x1b'), "NO_COLOR ignored: {err:?}");
}

/// `text` without ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ------------------------------------------------------------------ 2026-07-28, UI

#[test]
fn tools_over_2026_07_28_discovers_and_lists_without_a_session() {
    let server = start("showcase", &[], &[]);
    let out = widgetry(&[
        "tools",
        "--json",
        "--protocol",
        "2026-07-28",
        "--url",
        &server.url,
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["server"]["name"], "widgetry-showcase", "{doc}");
    let tools = doc["tools"].as_array().expect("tools array");
    let show_list = tools.iter().find(|t| t["name"] == "show_list").unwrap();
    assert!(show_list["widget"]
        .as_str()
        .unwrap_or_default()
        .starts_with("ui://widget/list"));
    assert!(tools.iter().any(|t| t["name"] == "item_details"));
    let table = widgetry(&["tools", "--protocol", "2026-07-28", "--url", &server.url]);
    assert!(
        stdout(&table)
            .lines()
            .next()
            .unwrap_or_default()
            .contains("(MCP 2026-07-28)"),
        "{}",
        stdout(&table)
    );
}

#[test]
fn text_only_sees_the_tools_as_a_client_without_ui_in_both_protocols() {
    let server = start("showcase", &[], &[]);
    for protocol in ["2025-11-25", "2026-07-28"] {
        let out = widgetry(&[
            "tools",
            "--json",
            "--text-only",
            "--protocol",
            protocol,
            "--url",
            &server.url,
        ]);
        assert!(out.status.success(), "{protocol}: {}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        let tools = doc["tools"].as_array().expect("tools array");
        assert!(tools.iter().any(|t| t["name"] == "show_list"), "{doc}");
        assert!(!tools.iter().any(|t| t["name"] == "item_details"), "{doc}");
        assert!(tools.iter().all(|t| t.get("widget").is_none()), "{doc}");
        let refused = widgetry(&[
            "call",
            "item_details",
            r#"{"id": "design"}"#,
            "--text-only",
            "--protocol",
            protocol,
            "--url",
            &server.url,
        ]);
        assert_eq!(refused.status.code(), Some(1), "{protocol}");
        assert!(
            stderr(&refused).contains("io.modelcontextprotocol/ui"),
            "{protocol}: {}",
            stderr(&refused)
        );
    }
}

#[test]
fn call_over_2026_07_28_runs_widget_and_app_only_tools_of_the_showcase() {
    let server = start("showcase", &[], &[]);
    let out = widgetry(&[
        "call",
        "show_list",
        r#"{"limit": 1}"#,
        "--json",
        "--protocol",
        "2026-07-28",
        "--url",
        &server.url,
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(result["resultType"], "complete", "{result}");
    assert_eq!(
        result["structuredContent"]["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let details = widgetry(&[
        "call",
        "item_details",
        r#"{"id": "design"}"#,
        "--json",
        "--protocol",
        "2026-07-28",
        "--url",
        &server.url,
    ]);
    assert!(details.status.success(), "stderr: {}", stderr(&details));
    let d: Value = serde_json::from_slice(&details.stdout).expect("JSON on stdout");
    assert_eq!(d["structuredContent"]["id"], "design", "{d}");
}

#[test]
fn call_over_2026_07_28_mirrors_annotated_arguments_into_param_headers() {
    // The server refuses a call whose Mcp-Param-Region header is missing or differs.
    let server = start("conformance", &[], &[]);
    for region in ["us-west1", "Zürich 北", "=?base64?literal?="] {
        let args = serde_json::json!({"region": region, "query": "q"}).to_string();
        let out = widgetry(&[
            "call",
            "test_custom_header",
            &args,
            "--protocol",
            "2026-07-28",
            "--url",
            &server.url,
        ]);
        assert!(out.status.success(), "{region}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("region={region}\n"));
    }
}

#[test]
fn input_required_results_are_answered_and_retried() {
    let server = start("conformance", &[], &[]);
    let run = |tool: &str, input: &str, protocol: &str| {
        widgetry(&[
            "call",
            tool,
            "--input",
            input,
            "--protocol",
            protocol,
            "--url",
            &server.url,
        ])
    };
    // 2026-07-28 input rounds (answers by input key), and the same handlers asking over
    // a 2025-11-25 session (a server-to-client request has no key: by its message).
    for (protocol, input) in [
        ("2026-07-28", r#"{"user_name": {"name": "Ada"}}"#),
        ("2025-11-25", r#"{"What is your name?": {"name": "Ada"}}"#),
    ] {
        let out = run("test_input_required_result_elicitation", input, protocol);
        assert!(out.status.success(), "{protocol}: {}", stderr(&out));
        assert_eq!(stdout(&out), "Hello, Ada!\n", "{protocol}");
        let roots = run("test_input_required_result_list_roots", "{}", protocol);
        assert!(roots.status.success(), "{protocol}: {}", stderr(&roots));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            stdout(&roots),
            format!("Client roots: file://{}\n", cwd.display()),
            "{protocol}"
        );
    }
    let state = run(
        "test_input_required_result_request_state",
        r#"{"confirm": {"ok": true}}"#,
        "2026-07-28",
    );
    assert!(state.status.success(), "{}", stderr(&state));
    assert_eq!(
        stdout(&state),
        "state-ok: the request state came back intact\n"
    );
    // Unanswered (no terminal here): declined, so the tool keeps asking, up to a limit.
    let declined = run("test_input_required_result_elicitation", "{}", "2026-07-28");
    assert_eq!(declined.status.code(), Some(1));
    assert!(
        stderr(&declined).contains("asked for input more than"),
        "{}",
        stderr(&declined)
    );
}

#[test]
fn an_unknown_protocol_version_is_a_usage_error() {
    let out = widgetry(&["tools", "--protocol", "2030-01-01"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--protocol"), "{}", stderr(&out));
}
