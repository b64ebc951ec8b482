//! Browser test of the local host page (`/_widgetry/host`) against the real showcase binary.
//!
//! Starts `showcase --port N` with `WIDGETRY_HOST_PAGE=1` and runs
//! `node tests/browser/host_page.mjs`, which in `/usr/bin/chromium` (through `playwright-core`)
//! lists the tools (app-only ones hidden, a public default), runs `show_list` in each host
//! profile (ChatGPT, generic, Claude) with the widget on its own sandbox origin, clicks
//! "Details" (the widget's own `item_details` call, checked in the log), follows a theme
//! switch and tears the widget down; gates a write tool behind approval (ChatGPT); completes
//! the sign-in widget in the Claude profile (the code read from the showcase's stderr log);
//! shows a failed call plainly; signs in through the showcase's authorization server (the
//! demo user the showcase prints at start) and asserts the protected widget greets the user
//! by name; likes in the gallery with the result `_meta` dropped (through the host), and,
//! asked for more permission, signs in again for the wider scope in the same tab.
//! Screenshots land in `tests/artifacts/host-*.png`.
//! Needs node, `tests/node/node_modules` (or `$WIDGETRY_NODE_DIR`) and chromium: `./scripts/test.sh`
//! installs them.

mod support;

use std::time::Duration;

use support::{browser_test, free_port, node_driver, passing, Showcase, TempDir};

const DRIVER: &str = "tests/browser/host_page.mjs";

#[test]
fn host_page_behaves_like_each_host_and_signs_in() {
    let (root, artifacts) = browser_test(&["playwright-core"], DRIVER);
    // A fresh data directory per run, so the demo user is created (and its password
    // printed) every time.
    let data = TempDir::new("host_page");

    // The demo user's credentials are printed after the `listening on` line.
    let log = data.0.join("showcase.stderr.log");
    let showcase = Showcase::on_port(free_port())
        .env("WIDGETRY_HOST_PAGE", "1")
        .env("WIDGETRY_DATA_DIR", data.0.join("data"))
        .stderr_to(&log)
        .wait_for_demo_user()
        .start();

    let mut cmd = node_driver(&root, DRIVER, &showcase.url, &artifacts);
    cmd.env("WIDGETRY_SERVER_OUTPUT", showcase.output())
        .arg("--server-log")
        .arg(&log);
    let summary = passing(cmd, Duration::from_secs(150));
    for profile in ["chatgpt", "generic", "claude"] {
        let shot = artifacts.join(format!("host-{profile}.png"));
        assert!(shot.is_file(), "missing screenshot {}", shot.display());
        assert!(
            summary["profiles"][profile]["items"].as_u64().unwrap_or(0) > 0,
            "no items rendered in the {profile} profile: {summary}"
        );
    }
    assert_eq!(summary["approval"]["approved"], true, "{summary}");
    assert_eq!(summary["approval"]["denied"], true, "{summary}");
    assert_eq!(summary["claudeSignIn"]["ok"], true, "{summary}");
    assert_eq!(summary["droppedMeta"], true, "{summary}");
    assert_eq!(summary["stateless2026"], true, "{summary}");
    if summary["droppedMetaOutcome"] != "liked" {
        assert_eq!(
            summary["scopeUpgrade"], true,
            "asked for more permission, the page should get it in the same tab: {summary}"
        );
    }
    eprintln!(
        "host page: default tool {}, dropped _meta → {}, failed call shown as {}",
        summary["defaultTool"], summary["droppedMetaOutcome"], summary["failedCall"]
    );
    assert_eq!(summary["signIn"]["ok"], true, "sign-in: {summary}");
    // The header names the user from the issuer's userinfo, and falls back to the subject.
    assert_eq!(summary["account"]["ok"], true, "account header: {summary}");
    assert_eq!(
        summary["account"]["widgetToken"]["widget"]["status"], 401,
        "userinfo must refuse a widget token: {summary}"
    );
    assert_eq!(
        summary["account"]["label"], "Signed in as Demo User (demo@widgetry.dev)",
        "{summary}"
    );
    let name = summary["signIn"]["name"].as_str().unwrap_or_default();
    assert!(
        !name.is_empty() && name != "User",
        "the protected widget should greet the signed-in user by name: {summary}"
    );
    assert!(
        artifacts.join("host-signed-in.png").is_file(),
        "missing screenshot host-signed-in.png"
    );
}
