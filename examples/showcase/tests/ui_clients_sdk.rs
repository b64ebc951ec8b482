//! The official MCP SDK clients (Python `mcp`, TypeScript `@modelcontextprotocol/sdk`)
//! against the real `showcase` binary, with and without declaring the MCP Apps extension
//! (`capabilities.extensions["io.modelcontextprotocol/ui"]`): a client that declares it
//! sees `show_list` with its widget (`_meta.ui.resourceUri`, `openai/outputTemplate`)
//! and may call the app-only `item_details`; a client that does not sees `show_list`
//! without UI metadata, no `item_details`, and its call of it is refused (`-32602`).
//! A client named like ChatGPT gets the UI form without declaring; with
//! `WIDGETRY_UI_CLIENTS=all` every client does.
//!
//! Neither SDK speaks the stateless 2026-07-28 revision yet; that path is covered by
//! `crates/widgetry/tests/ui_clients.rs` and the CLI's `--protocol 2026-07-28` tests.
//! The clients are installed by `./scripts/test.sh`; `WIDGETRY_PYTHON` and
//! `WIDGETRY_NODE_DIR` override where they are looked for.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::{free_port, node_dir, run_with_timeout, workspace_root, Showcase, TempDir};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
const SETUP_HINT: &str =
    "run ./scripts/test.sh (or ./scripts/test.sh --setup-only) to install the official SDK clients";

#[derive(Clone, Copy, Debug)]
enum Sdk {
    Python,
    TypeScript,
}

/// A showcase on a fresh data directory, with `ui_clients` as `WIDGETRY_UI_CLIENTS`.
fn showcase(ui_clients: &str) -> (Showcase, TempDir) {
    let data = TempDir::new("ui-clients");
    let mut last = String::new();
    for _ in 0..3 {
        let launch = Showcase::on_port(free_port())
            .env("WIDGETRY_DATA_DIR", &data.0)
            .env("WIDGETRY_UI_CLIENTS", ui_clients);
        match launch.try_start() {
            Ok(s) => return (s, data),
            Err(e) => last = e,
        }
    }
    panic!("the showcase did not start (3 tries): {last}");
}

/// How a client introduces itself.
#[derive(Clone, Copy)]
struct As<'a> {
    declare_ui: bool,
    name: Option<&'a str>,
}

/// Runs one SDK client: initialize (declaring the UI extension or not), list every
/// tool, call `tool` with `args`; its JSON line.
fn run(sdk: Sdk, url: &str, tool: &str, args: &str, who: As<'_>) -> Value {
    let root = workspace_root();
    let mut cmd = match sdk {
        Sdk::Python => {
            let python = std::env::var_os("WIDGETRY_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(".venv/bin/python"));
            assert!(
                python.exists(),
                "the Python SDK client needs {} (WIDGETRY_PYTHON): {SETUP_HINT}",
                python.display()
            );
            let mut c = Command::new(python);
            c.arg(root.join("tests/interop/py_client.py"));
            c
        }
        Sdk::TypeScript => {
            let dir = node_dir(&root);
            assert!(
                dir.join("node_modules/@modelcontextprotocol/sdk").exists(),
                "the TypeScript SDK client needs {}/node_modules: {SETUP_HINT}",
                dir.display()
            );
            let mut c = Command::new("node");
            c.arg(dir.join("interop_client.mjs"));
            c
        }
    };
    cmd.args([
        "--url",
        url,
        "--transport",
        "streamable",
        "--tool",
        tool,
        "--args",
        args,
    ]);
    if who.declare_ui {
        cmd.arg("--declare-ui");
    }
    if let Some(n) = who.name {
        cmd.args(["--client-name", n]);
    }
    let (ok, stdout, stderr) = run_with_timeout(cmd, CLIENT_TIMEOUT);
    assert!(ok, "{sdk:?} client failed:\n{stderr}\n{stdout}");
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{sdk:?} printed {stdout:?}: {e}"))
}

/// The app-only tool, called as the widget's Details button calls it.
fn details(sdk: Sdk, url: &str, who: As<'_>) -> Value {
    run(sdk, url, "item_details", r#"{"id":"design"}"#, who)
}

fn assert_ui(out: &Value) {
    let tools = out["tools"].as_array().unwrap();
    assert!(tools.contains(&json!("item_details")), "{out}");
    let meta = &out["toolMeta"]["show_list"];
    let uri = meta["ui"]["resourceUri"].as_str().unwrap_or_default();
    assert!(uri.starts_with("ui://widget/list-"), "{out}");
    assert_eq!(meta["openai/outputTemplate"], uri, "{out}");
    assert_eq!(
        out["toolMeta"]["item_details"]["ui"]["visibility"],
        json!(["app"])
    );
    assert!(out.get("callError").is_none(), "{out}");
    assert_eq!(out["result"]["structuredContent"]["id"], "design", "{out}");
}

fn assert_text_only(out: &Value) {
    let tools = out["tools"].as_array().unwrap();
    assert!(tools.contains(&json!("show_list")), "{out}");
    assert!(tools.contains(&json!("server_time")), "{out}");
    assert!(!tools.contains(&json!("item_details")), "{out}");
    for (name, meta) in out["toolMeta"].as_object().unwrap() {
        let keys: Vec<&String> = meta
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        let ui: Vec<&&String> = keys
            .iter()
            .filter(|k| **k == "ui" || k.starts_with("ui/") || k.starts_with("openai/"))
            .collect();
        assert!(ui.is_empty(), "{name} keeps UI metadata {ui:?}: {out}");
    }
    assert_eq!(out["callError"]["code"], -32602, "{out}");
    assert!(
        out["callError"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("io.modelcontextprotocol/ui"),
        "{out}"
    );
}

fn both(f: impl Fn(Sdk)) {
    for sdk in [Sdk::Python, Sdk::TypeScript] {
        f(sdk);
    }
}

#[test]
fn sdk_clients_declaring_the_ui_extension_get_widgets_and_app_tools() {
    let (s, _data) = showcase("declared");
    let who = As {
        declare_ui: true,
        name: None,
    };
    both(|sdk| assert_ui(&details(sdk, &s.url, who)));
}

#[test]
fn sdk_clients_without_the_ui_extension_get_text_only_tools() {
    let (s, _data) = showcase("declared");
    let who = As {
        declare_ui: false,
        name: None,
    };
    both(|sdk| {
        assert_text_only(&details(sdk, &s.url, who));
        // The widget tool still answers, as text and structured content.
        let shown = run(sdk, &s.url, "show_list", "{}", who);
        assert_ne!(shown["result"]["isError"], json!(true), "{shown}");
        assert!(
            shown["result"]["structuredContent"]["items"].is_array(),
            "{shown}"
        );
    });
}

#[test]
fn a_client_named_like_chatgpt_and_the_all_setting_get_widgets_undeclared() {
    let (s, _data) = showcase("declared");
    let chatgpt = As {
        declare_ui: false,
        name: Some("openai-mcp"),
    };
    both(|sdk| assert_ui(&details(sdk, &s.url, chatgpt)));
    let (all, _data) = showcase("all");
    let plain = As {
        declare_ui: false,
        name: None,
    };
    both(|sdk| assert_ui(&details(sdk, &all.url, plain)));
}
