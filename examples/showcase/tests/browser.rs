//! Browser test: the showcase's list widget in headless Chromium, through both widget bridges
//! (MCP Apps postMessage and ChatGPT's `window.openai`), against the real showcase binary.
//!
//! Starts `showcase --port N` on loopback and runs `node tests/browser/widget_browser.mjs`, which
//! reads the widget resources and calls the tools with the official MCP TypeScript SDK, renders
//! the widget in `/usr/bin/chromium` through `playwright-core`, clicks "Details" (a real
//! `item_details` call) and saves `tests/artifacts/widget-<bridge>.png`.
//! Needs node, `tests/node/node_modules` (or `$WIDGETRY_NODE_DIR`) and chromium: `./scripts/test.sh`
//! installs them.

mod support;

use support::driver_on_fresh_showcase;

const DRIVER: &str = "tests/browser/widget_browser.mjs";

#[test]
fn widget_renders_and_calls_tools_in_chromium_through_both_bridges() {
    let (summary, artifacts) =
        driver_on_fresh_showcase(DRIVER, &["playwright-core", "@modelcontextprotocol/sdk"]);
    for bridge in ["mcp-apps", "openai"] {
        let shot = artifacts.join(format!("widget-{bridge}.png"));
        assert!(shot.is_file(), "missing screenshot {}", shot.display());
        assert!(
            summary["bridges"][bridge]["items"].as_u64().unwrap_or(0) > 0,
            "no items rendered via {bridge}: {summary}"
        );
    }
}
