//! Browser test of the session sign-in widget against the real showcase binary, in headless
//! Chromium on the test harness.
//!
//! Starts `showcase --port N` on loopback with a fresh data directory and a known demo
//! password, its stderr in a file, and runs `node tests/browser/signin_browser.mjs`, which
//! calls `create_session` and `authenticate` over MCP, renders the widget with the real result
//! (its `_meta["widgetry/signin"]` nonce included), types a wrong password (the error shows),
//! then the demo credentials, reads the verification code the ConsoleSender printed on the
//! showcase's stderr, types it digit by digit (focus advances, the sixth digit submits), sees
//! the success screen with the checkmark and the name, and asks `auth_status` over MCP, which
//! reports the demo user; a second session does the same in dark with the code pasted.
//! Screenshots land in `tests/artifacts/signin-*.png`.
//! Needs node, `tests/node/node_modules` (or `$WIDGETRY_NODE_DIR`) and chromium: `./scripts/test.sh`
//! installs them.

mod support;

use std::time::Duration;

use support::{
    browser_test, free_port, node_driver, run_with_timeout, summary_line, tail, Showcase, TempDir,
    DEMO_EMAIL,
};

const DRIVER: &str = "tests/browser/signin_browser.mjs";

#[test]
fn signin_widget_signs_in_with_password_and_typed_or_pasted_code_in_chromium() {
    let (root, artifacts) = browser_test(&["playwright-core", "@modelcontextprotocol/sdk"], DRIVER);
    let data = TempDir::new("signin-browser");
    let log = data.0.join("showcase.stderr.log");
    let password = format!("signin-{}", std::process::id());
    let server = Showcase::on_port(free_port())
        .env("WIDGETRY_DATA_DIR", data.0.join("data"))
        // The harness frame has the null origin, which the sign-in endpoint allows only in
        // development; the Claude-like step shows the path that needs no origin at all.
        .env("WIDGETRY_DEV", "1")
        .env("WIDGETRY_DEMO_PASSWORD", &password)
        .stderr_to(&log)
        .start();

    let mut cmd = node_driver(&root, DRIVER, &server.url, &artifacts);
    cmd.args(["--email", DEMO_EMAIL, "--password", &password])
        .arg("--server-log")
        .arg(&log);
    let (ok, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(85));
    assert!(
        ok,
        "sign-in browser test failed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- showcase stderr (tail) ---\n{}",
        tail(&log, 40)
    );
    let summary = summary_line(&stdout);
    assert_eq!(summary["ok"], true, "summary: {summary}");
    let sessions = summary["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        sessions.len(),
        3,
        "three sessions signed in (typed, pasted, relayed through a Claude-like host): {summary}"
    );
    assert!(
        sessions[2]["relayCalls"].as_u64().unwrap_or(0) >= 2,
        "the Claude-like sign-in went through the relay tool: {summary}"
    );
    for s in &sessions {
        assert_eq!(s["status"]["authenticated"], true, "{summary}");
        assert_eq!(s["status"]["email"], DEMO_EMAIL, "{summary}");
        assert_eq!(s["status"]["name"], "Demo User", "{summary}");
    }
    if let Some(bugs) = summary["knownBugs"].as_array() {
        for bug in bugs {
            eprintln!("FIXME (known, asserted as-is by the driver): {bug}");
        }
    }
    for shot in [
        "signin-error-light.png",
        "signin-code-light.png",
        "signin-done-light.png",
        "signin-credentials-dark.png",
        "signin-done-dark.png",
    ] {
        let path = artifacts.join(shot);
        assert!(path.is_file(), "missing screenshot {}", path.display());
    }
}
