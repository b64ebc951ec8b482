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

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SETUP_HINT: &str = "run ./scripts/test.sh (it installs chromium and the tests/node packages)";
const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "tests/browser/gallery_browser.mjs";
const DEMO_EMAIL: &str = "demo@widgetry.dev";

/// Kills the child process when dropped, so no server outlives a failed assertion.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("widgetry-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

fn node_dir(root: &Path) -> PathBuf {
    std::env::var_os("WIDGETRY_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("tests").join("node"))
}

/// Fails with the setup hint when a prerequisite is missing.
fn check_prerequisites(root: &Path) {
    let node_modules = node_dir(root).join("node_modules");
    for package in ["playwright-core", "@modelcontextprotocol/sdk"] {
        assert!(
            node_modules.join(package).join("package.json").is_file(),
            "{package} is not installed in {}: {SETUP_HINT}",
            node_modules.display()
        );
    }
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: {SETUP_HINT}"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        matches!(&node, Ok(out) if out.status.success()),
        "`node --version` failed ({node:?}): install Node.js >= 20, then {SETUP_HINT}"
    );
    assert!(root.join(DRIVER).is_file(), "{DRIVER} is missing");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Starts the showcase with `env` (stderr to `log`) and waits for
/// `listening on http://127.0.0.1:N/mcp`; returns it and its URL.
fn start_showcase(port: u16, env: &[(&str, &str)], log: &Path) -> (KillOnDrop, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_showcase"));
    cmd.args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(log).expect("create the server log"));
    // The test decides where data lives and which authorization server is used.
    for var in [
        "AUTHORIZATION_SERVER_URL",
        "RESOURCE_SERVER_URL",
        "AUTH_AUDIENCE",
        "WIDGETRY_DATABASE_URL",
        "WIDGETRY_SESSION_STORE_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("spawn the showcase binary");
    let stdout = child.stdout.take().expect("showcase stdout");
    let guard = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(rest) = line.trim().strip_prefix("listening on ") {
                    let _ = tx.send(rest.trim().to_string());
                    sent = true;
                }
            }
            // Keep draining stdout so the server never blocks on a full pipe.
        }
    });
    let url = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => url,
        Err(e) => panic!(
            "showcase --port {port} did not print `listening on …` ({e}); its stderr:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        ),
    };
    assert_eq!(
        url,
        format!("http://127.0.0.1:{port}/mcp"),
        "listen address"
    );
    (guard, url)
}

/// Runs a command to completion with a deadline; returns (success, stdout, stderr).
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> (bool, String, String) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let mut guard = KillOnDrop(child);
    let mut out_pipe = guard.0.stdout.take().expect("stdout");
    let mut err_pipe = guard.0.stderr.take().expect("stderr");
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = guard.0.try_wait().expect("wait for node") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(100));
    };
    drop(guard); // kills node if it is still running, which closes its pipes
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    match status {
        Some(status) => (status.success(), stdout, stderr),
        None => (
            false,
            stdout,
            format!("{stderr}\n(killed after {} s)", timeout.as_secs()),
        ),
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn gallery_likes_persist_and_survive_token_expiry_and_a_blocked_endpoint_in_chromium() {
    let root = workspace_root();
    check_prerequisites(&root);
    let artifacts = root.join("tests").join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("create tests/artifacts");
    let data = TempDir::new("gallery-browser");
    let log = data.0.join("showcase.stderr.log");
    let password = format!("gallery-{}", std::process::id());
    let data_dir = data.0.join("data");
    let (_server, url) = start_showcase(
        free_port(),
        &[
            (
                "WIDGETRY_DATA_DIR",
                data_dir.to_str().expect("utf-8 temp dir"),
            ),
            ("WIDGETRY_DEMO_PASSWORD", &password),
            ("WIDGETRY_WIDGET_TOKEN_TTL_SECS", "2"),
        ],
        &log,
    );

    let mut cmd = Command::new("node");
    cmd.current_dir(&root)
        .arg(root.join(DRIVER))
        .args([
            "--url",
            &url,
            "--email",
            DEMO_EMAIL,
            "--password",
            &password,
        ])
        .arg("--artifacts")
        .arg(&artifacts)
        .env("WIDGETRY_NODE_DIR", node_dir(&root));
    let (ok, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(85));
    assert!(
        ok,
        "gallery browser test failed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- showcase stderr (tail) ---\n{}",
        tail(&log, 40)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("the driver's last line is not JSON ({e}): {stdout}"));
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
