//! Browser test of the likes gallery (widget actions with widget tokens) against the real
//! showcase binary, in headless Chromium on the test harness.
//!
//! Starts `showcase --port N` on loopback with a fresh data directory, a known demo password
//! and `WIDGETRY_WIDGET_TOKEN_TTL_SECS=2`, then runs `node tests/browser/gallery_browser.mjs`,
//! which signs the demo user in with a real OAuth flow over HTTP (register, PKCE authorize,
//! sign-in and consent forms, token exchange), forwards the widget's tool calls with that
//! bearer (as ChatGPT does after account linking) and checks: a like goes straight to
//! `POST /widget/actions/like_image` and shows; after the 2 s token expired the next like still
//! works through renewal (`widgetry_refresh_widget_token`), also when the host thinks the token
//! is fresh (401, one renewal, one retry); with the endpoint blocked the like goes through
//! `callTool`; `show_gallery` over MCP then reports the likes persisted (liked for the user,
//! counts for a signed-out viewer, who sees the sign-in prompt). Screenshots land in
//! `tests/artifacts/gallery-*.png`.
//! Needs node, `tests/node/node_modules` (or `$WIDGETRY_NODE_DIR`) and chromium: `./scripts/test.sh`
//! installs them.

mod support;

use std::time::Duration;

use support::{
    browser_test, free_port, node_driver, run_with_timeout, summary_line, tail, Showcase, TempDir,
    DEMO_EMAIL,
};

const DRIVER: &str = "tests/browser/gallery_browser.mjs";

#[test]
fn gallery_likes_persist_and_survive_token_expiry_and_a_blocked_endpoint_in_chromium() {
    let (root, artifacts) = browser_test(&["playwright-core", "@modelcontextprotocol/sdk"], DRIVER);
    let data = TempDir::new("gallery-browser");
    let log = data.0.join("showcase.stderr.log");
    let password = format!("gallery-{}", std::process::id());
    let server = Showcase::on_port(free_port())
        .env("WIDGETRY_DATA_DIR", data.0.join("data"))
        .env("WIDGETRY_DEMO_PASSWORD", &password)
        .env("WIDGETRY_WIDGET_TOKEN_TTL_SECS", "2")
        // The harness frame has the null origin, which widget endpoints allow only in
        // development.
        .env("WIDGETRY_DEV", "1")
        .stderr_to(&log)
        .start();

    let mut cmd = node_driver(&root, DRIVER, &server.url, &artifacts);
    cmd.args(["--email", DEMO_EMAIL, "--password", &password]);
    let (ok, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(85));
    assert!(
        ok,
        "gallery browser test failed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- showcase stderr (tail) ---\n{}",
        tail(&log, 40)
    );
    let summary = summary_line(&stdout);
    assert_eq!(summary["ok"], true, "summary: {summary}");
    assert_eq!(summary["tokenTtl"], 2, "widget token lifetime: {summary}");
    for step in [
        "signedOut",
        "direct",
        "renewedBeforeCall",
        "renewedOn401",
        "fallback",
        "persisted",
        "openai",
    ] {
        assert_eq!(summary["steps"][step]["ok"], true, "step {step}: {summary}");
    }
    let statuses = summary["steps"]["renewedOn401"]["statuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        statuses.first() == Some(&serde_json::json!(401))
            && statuses.last() == Some(&serde_json::json!(200)),
        "the expired token should get a 401, then the renewed one a 200: {summary}"
    );
    for shot in [
        "gallery-signed-out.png",
        "gallery-liked.png",
        "gallery-fallback.png",
        "gallery-openai-dark.png",
    ] {
        let path = artifacts.join(shot);
        assert!(path.is_file(), "missing screenshot {}", path.display());
    }
}
