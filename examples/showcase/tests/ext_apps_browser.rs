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

use support::driver_on_fresh_showcase;

const DRIVER: &str = "tests/browser/ext_apps_browser.mjs";

#[test]
fn list_widget_works_inside_the_official_ext_apps_host_bridge() {
    let (summary, artifacts) = driver_on_fresh_showcase(
        DRIVER,
        &[
            "playwright-core",
            "@modelcontextprotocol/sdk",
            "@modelcontextprotocol/ext-apps",
        ],
    );
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
        "ui/message + extras",
        "d.ts exact",
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
