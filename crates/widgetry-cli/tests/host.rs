//! `widgetry host --url` end to end: the real binary in front of a real widgetry app
//! (the showcase, with its embedded authorization server), driven as its page drives it
//! through a real HTTP client: the page and its assets, MCP through the local proxy, a
//! protected tool that makes the CLI sign in through the app's OAuth (the test plays the
//! person at the sign-in and consent pages), and the proxy's refusals of other sites; and
//! once in headless Chromium (`tests/browser/host_proxy.mjs`), the page itself rendering
//! widgets and a protected widget after the CLI's sign-in.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

mod common;
use common::{free_port, http, message_of, start, Server, WIDGETRY};

const DEMO_USER: &str = "demo@widgetry.dev";
const DEMO_PASSWORD: &str = "host-test-password-1";

/// `widgetry host`, killed when dropped; its stderr lines arrive on `stderr`.
struct Host {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    base: String,
    stderr: mpsc::Receiver<String>,
    config: std::path::PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.config);
    }
}

fn temp(label: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("widgetry-host-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn showcase(data: &std::path::Path) -> Server {
    start(
        "showcase",
        &[],
        &[
            ("WIDGETRY_DATA_DIR", &data.display().to_string()),
            ("WIDGETRY_DEMO_PASSWORD", DEMO_PASSWORD),
        ],
    )
}

/// Starts `widgetry host --url URL --no-browser` and waits for its page URL.
fn host(url: &str) -> Host {
    let config = temp("config");
    let mut child = Command::new(WIDGETRY)
        .args(["host", "--url", url, "--port", "0", "--no-browser"])
        .env("XDG_CONFIG_HOME", &config)
        .env_remove("WIDGETRY_CLIENT_ID")
        .env_remove("WIDGETRY_CLIENT_SECRET")
        .env_remove("WIDGETRY_CLIENT_METADATA_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start widgetry host");
    let (tx, page) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(u) = line.strip_prefix("host page: ") {
                let _ = tx.send(u.trim().to_string());
            }
        }
    });
    let (etx, stderr) = mpsc::channel();
    let err = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = etx.send(line);
        }
    });
    let page = page
        .recv_timeout(Duration::from_secs(30))
        .expect("widgetry host printed its page URL");
    let base = page
        .strip_suffix("/_widgetry/host")
        .unwrap_or_else(|| panic!("unexpected page URL {page}"))
        .to_string();
    Host {
        child,
        base,
        stderr,
        config,
    }
}

/// One MCP request through the proxy, as the page sends it; (status, headers, message).
fn rpc(base: &str, session: Option<&str>, body: Value) -> (u16, String, Value) {
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2025-11-25"),
    ];
    headers.push(("Origin", base));
    if let Some(s) = session {
        headers.push(("Mcp-Session-Id", s));
    }
    let (status, head, text) = http("POST", &format!("{base}/mcp"), &headers, &body.to_string());
    let message = message_of(&head, &text);
    (status, head, message)
}

/// `tools/call` through the proxy.
fn call(base: &str, session: &str, id: u64, tool: &str, arguments: Value) -> (u16, Value) {
    let (status, _, answer) = rpc(
        base,
        Some(session),
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": tool, "arguments": arguments}}),
    );
    (status, answer)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

/// `application/x-www-form-urlencoded`.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A hidden form field's value in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in page: {page}"))
        + marker.len();
    let end = page[start..].find('"').expect("closing quote") + start;
    page[start..end].replace("&amp;", "&")
}

/// Plays the person: opens the authorization URL the CLI printed, signs in as the demo
/// user, allows access, and follows the redirect to the CLI's loopback callback.
fn sign_in_as_demo_user(authorization_url: &str) {
    let (status, head, page) = http("GET", authorization_url, &[], "");
    assert_eq!(status, 200, "authorize page: {page}");
    let cookie = header(&head, "set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("the authorize page sets its browser cookie")
        .to_string();
    let origin = authorization_url
        .split("/oauth/")
        .next()
        .expect("issuer origin")
        .to_string();
    let body = form(&[
        ("request", &hidden(&page, "request")),
        ("csrf", &hidden(&page, "csrf")),
        ("username", DEMO_USER),
        ("password", DEMO_PASSWORD),
    ]);
    let form_headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Cookie", cookie.as_str()),
    ];
    let (status, head, page) = http(
        "POST",
        &format!("{origin}/oauth/authorize/sign-in"),
        &form_headers,
        &body,
    );
    let redirect = if status == 200 {
        assert!(page.contains("Allow access"), "consent page: {page}");
        let body = form(&[
            ("request", &hidden(&page, "request")),
            ("csrf", &hidden(&page, "csrf")),
            ("decision", "allow"),
        ]);
        let (status, head, page) = http(
            "POST",
            &format!("{origin}/oauth/authorize/consent"),
            &form_headers,
            &body,
        );
        assert_eq!(status, 303, "consent: {page}");
        header(&head, "location").expect("redirect").to_string()
    } else {
        assert_eq!(status, 303, "sign-in: {page}");
        header(&head, "location").expect("redirect").to_string()
    };
    assert!(
        redirect.starts_with("http://127.0.0.1:") && redirect.contains("/callback?"),
        "{redirect}"
    );
    let (status, _, page) = http("GET", &redirect, &[], "");
    assert_eq!(status, 200, "callback: {page}");
    assert!(page.contains("Signed in"), "{page}");
}

/// Waits for the sign-in URL the CLI prints (`--no-browser`).
fn authorization_url(host: &Host) -> String {
    loop {
        let line = host
            .stderr
            .recv_timeout(Duration::from_secs(60))
            .expect("widgetry host asked for sign-in within 60 s");
        let t = line.trim();
        if t.starts_with("http") && t.contains("/oauth/authorize?") {
            return t.to_string();
        }
    }
}

#[test]
fn host_serves_the_page_and_signs_in_through_the_servers_oauth_for_a_protected_tool() {
    let data = temp("data");
    let app = showcase(&data);
    let host = host(&app.url);

    // The page and its assets, wired to the local proxy.
    let (status, head, page) = http("GET", &format!("{}/_widgetry/host", host.base), &[], "");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(r#"name="widgetry-mcp-path" content="/mcp""#),
        "{page}"
    );
    let csp = header(&head, "content-security-policy").expect("CSP on the page");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // The page's script, as the page names it, comes from the framework through the CLI.
    let src = page
        .split("<script")
        .filter_map(|tag| tag.split("src=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .find(|src| src.starts_with("/_widgetry/host/"))
        .unwrap_or_else(|| panic!("no host page script in: {page}"))
        .to_string();
    let (status, head, script) = http("GET", &format!("{}{src}", host.base), &[], "");
    assert_eq!(status, 200, "{src}: {script}");
    assert!(head.contains("content-type: text/javascript"), "{head}");
    assert!(!script.trim().is_empty(), "{src} is empty");
    let (status, head, _) = http("GET", &format!("{}/", host.base), &[], "");
    assert!((300..400).contains(&status), "{status}");
    assert_eq!(header(&head, "location"), Some("/_widgetry/host"));

    // MCP through the proxy: a session of the app's, public tools without sign-in.
    let (status, head, init) = rpc(
        &host.base,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "test-page", "version": "1"}}}),
    );
    assert_eq!(status, 200, "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "widgetry-showcase");
    let session = header(&head, "mcp-session-id")
        .expect("the app's session id comes through")
        .to_string();
    let (status, _, _) = rpc(
        &host.base,
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(status, 202);
    let (_, _, list) = rpc(
        &host.base,
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    );
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"protected-widget"), "{names:?}");
    let (_, public) = call(&host.base, &session, 3, "public-widget", json!({}));
    assert_eq!(
        public["result"]["structuredContent"]["authenticated"], false,
        "{public}"
    );

    // A protected tool: the proxy holds the call, the CLI signs in, the call succeeds.
    let pending = {
        let base = host.base.clone();
        let session = session.clone();
        std::thread::spawn(move || {
            call(
                &base,
                &session,
                4,
                "protected-widget",
                json!({"message": "hi"}),
            )
        })
    };
    sign_in_as_demo_user(&authorization_url(&host));
    let (status, answer) = pending.join().expect("the call thread");
    assert_eq!(status, 200, "{answer}");
    let result = &answer["result"];
    assert_ne!(result["isError"], true, "{answer}");
    assert_eq!(result["structuredContent"]["has_read"], true, "{answer}");
    assert_eq!(
        result["structuredContent"]["input_message"], "hi",
        "{answer}"
    );

    // Signed in now: the next calls carry the token without asking again.
    let (_, public) = call(&host.base, &session, 5, "public-widget", json!({}));
    assert_eq!(
        public["result"]["structuredContent"]["authenticated"], true,
        "{public}"
    );
    let (_, again) = call(
        &host.base,
        &session,
        6,
        "protected-widget",
        json!({"message": "again"}),
    );
    assert_eq!(
        again["result"]["structuredContent"]["input_message"], "again",
        "{again}"
    );
    assert!(
        host.stderr
            .try_iter()
            .all(|l| !l.contains("/oauth/authorize?")),
        "a second sign-in was asked for"
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn the_proxy_answers_only_its_own_page() {
    let data = temp("guard");
    let app = showcase(&data);
    let host = host(&app.url);
    let url = format!("{}/mcp", host.base);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "evil", "version": "1"}}})
    .to_string();
    let json_type = ("Content-Type", "application/json");
    // Another site's page (CORS would hide the answer, not stop the request).
    let (status, _, body) = http(
        "POST",
        &url,
        &[json_type, ("Origin", "https://evil.example")],
        &init,
    );
    assert_eq!(status, 403, "{body}");
    // DNS rebinding: a name that resolves to 127.0.0.1.
    let port = host.base.rsplit(':').next().expect("port");
    let rebound = format!("rebind.example:{port}");
    let (status, _, body) = http("POST", &url, &[json_type, ("Host", &rebound)], &init);
    assert_eq!(status, 403, "{body}");
    // A form post (no preflight) is not MCP.
    let (status, _, body) = http("POST", &url, &[("Content-Type", "text/plain")], &init);
    assert_eq!(status, 415, "{body}");
    // Its own page gets through (localhost works as well as 127.0.0.1).
    let own = format!("http://localhost:{port}");
    let (status, _, body) = http(
        "POST",
        &url,
        &[
            json_type,
            ("Origin", &own),
            ("Host", &format!("localhost:{port}")),
        ],
        &init,
    );
    assert_eq!(status, 200, "{body}");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn an_unreachable_target_is_reported_before_serving() {
    let port = free_port();
    let out = Command::new(WIDGETRY)
        .args([
            "host",
            "--url",
            &format!("http://127.0.0.1:{port}/mcp"),
            "--timeout",
            "5",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run widgetry host");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach"), "{err}");
}

#[test]
fn host_page_in_chromium_renders_widgets_through_the_proxy_and_the_clis_sign_in() {
    common::browser::node_dir();
    let data = temp("browser");
    let app = showcase(&data);
    let host = host(&app.url);
    let mcp = format!("{}/mcp", host.base);
    let mut driver =
        common::browser::start_driver("host_proxy.mjs", &["--url".as_ref(), mcp.as_ref()]);
    // The page runs the protected tool; the CLI asks for sign-in; the person signs in.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let signed_in = loop {
        match host.stderr.recv_timeout(Duration::from_millis(500)) {
            Ok(line) if line.trim().starts_with("http") && line.contains("/oauth/authorize?") => {
                break Some(line.trim().to_string());
            }
            Ok(_) => {}
            Err(_) => {
                let ended = driver.try_wait().expect("wait for node").is_some();
                if ended || std::time::Instant::now() > deadline {
                    break None;
                }
            }
        }
    };
    if let Some(url) = &signed_in {
        sign_in_as_demo_user(url);
    }
    let (summary, success, stderr) = common::browser::driver_summary(driver, "host_proxy.mjs", 170);
    assert!(success, "{summary}\n{stderr}");
    assert!(
        signed_in.is_some(),
        "the CLI never asked for sign-in: {summary}"
    );
    assert_eq!(summary["ok"], true, "{summary}");
    assert!(summary["listItems"].as_u64().unwrap_or(0) > 0, "{summary}");
    // 2026-07-28 through the proxy: the routing and Mcp-Param-* headers reached the server.
    assert_eq!(summary["stateless"]["param"], "design", "{summary}");
    assert_eq!(summary["stateless"]["detail"], "design", "{summary}");
    let greeting = summary["greeting"].as_str().unwrap_or_default();
    assert!(greeting.starts_with("Hello, "), "{summary}");
    assert_eq!(summary["pageSignIn"], false, "{summary}");
    let _ = std::fs::remove_dir_all(&data);
}

/// The page answers a server's questions (form elicitation) on both revisions: a
/// server-to-client request inside a 2025-11-25 session and 2026-07-28 `input_required`
/// rounds; with "Answer elicitation" off it declares nothing and the server refuses;
/// stopping a call that waits on a question ends it and tells the server.
#[test]
fn host_page_in_chromium_answers_elicitation_on_both_revisions() {
    common::browser::node_dir();
    let server = start("conformance", &[], &[]);
    let host = host(&server.url);
    let mcp = format!("{}/mcp", host.base);
    let driver =
        common::browser::start_driver("host_elicit.mjs", &["--url".as_ref(), mcp.as_ref()]);
    let (summary, success, stderr) =
        common::browser::driver_summary(driver, "host_elicit.mjs", 140);
    assert!(success, "{summary}\n{stderr}");
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["session"]["text"], "Hello, Ada!", "{summary}");
    assert_eq!(summary["session"]["serverRequests"], 1, "{summary}");
    assert_eq!(summary["stateless"]["text"], "Ada likes green", "{summary}");
    assert_eq!(summary["stateless"]["rounds"], 2, "{summary}");
    assert_eq!(summary["undeclared"]["asked"], false, "{summary}");
    let refusal = summary["undeclared"]["error"].as_str().unwrap_or_default();
    assert!(refusal.contains("elicitation"), "{summary}");
    assert_eq!(summary["declined"]["sent"], 1, "{summary}");
    assert_eq!(summary["stopped"]["notified"], true, "{summary}");
    assert_eq!(summary["stopped"]["askedAgain"], false, "{summary}");
    assert_eq!(summary["stopped"]["next"], "Hello, Grace!", "{summary}");
}
