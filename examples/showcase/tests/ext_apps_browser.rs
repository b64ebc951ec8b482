//! Proof against the official MCP Apps host: the showcase's list widget, unchanged, rendered
//! in headless Chromium inside `@modelcontextprotocol/ext-apps`' own host bridge
//! (`AppBridge` + `PostMessageTransport`), against the real showcase binary.
//!
//! Starts `showcase --port N` on loopback and runs `node tests/browser/ext_apps_browser.mjs`
//! (see its header for every check: handshake, tool input and partial input, result, host
//! context, `tools/call`, model context, display mode, size, cancellation, teardown).
//! Needs node, `tests/node/node_modules` (or `$WIDGETRY_NODE_DIR`) and chromium:
//! `./scripts/test.sh` installs them.

mod support;

use std::time::Duration;

use support::{browser_test, free_port, node_driver, run_with_timeout, summary_line, Showcase};

const DRIVER: &str = "tests/browser/ext_apps_browser.mjs";

#[test]
fn list_widget_works_inside_the_official_ext_apps_host_bridge() {
    let (root, artifacts) = browser_test(
        &[
            "playwright-core",
            "@modelcontextprotocol/sdk",
            "@modelcontextprotocol/ext-apps",
        ],
        DRIVER,
    );
    let data = support::TempDir::new("ext_apps_browser");
    let server = Showcase::on_port(free_port())
        .env("WIDGETRY_DATA_DIR", data.0.join("data"))
        .start();

    let cmd = node_driver(&root, DRIVER, &server.url, &artifacts);
    let (ok, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(90));
    assert!(
        ok,
        "ext-apps browser test failed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    let summary = summary_line(&stdout);
    assert_eq!(summary["ok"], true, "summary: {summary}");
    for check in [
        "handshake + tool-input",
        "tool-result",
        "tool-input-partial",
        "host-context-changed",
        "tools/call",
        "ui/update-model-context",
        "size-changed",
        "display mode",
        "tool-cancelled",
        "resource-teardown",
    ] {
        assert!(
            summary["checks"]
                .as_array()
                .is_some_and(|c| c.iter().any(|x| x == check)),
            "check {check:?} did not pass: {summary}"
        );
    }
    assert!(artifacts.join("ext-apps.png").is_file());
}
