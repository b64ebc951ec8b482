//! Browser test: the showcase's list widget in headless Chromium, through both widget bridges
//! (MCP Apps postMessage and ChatGPT's `window.openai`), against the real showcase binary.
//!
//! Starts `showcase --port N` on loopback and runs `node tests/browser/widget_browser.mjs`, which
//! reads the widget resources and calls the tools with the official MCP TypeScript SDK, renders
//! the widget in `/usr/bin/chromium` through `playwright-core`, clicks "Details" (a real
//! `item_details` call) and saves `tests/artifacts/widget-<bridge>.png`.
//! Needs node, `tests/node/node_modules` (or `$WIDGETRY_NODE_DIR`) and chromium: `./scripts/test.sh`
//! installs them.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const SETUP_HINT: &str = "run ./scripts/test.sh (it installs chromium and the tests/node packages)";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Kills the child process when dropped, so no server outlives a failed assertion.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
            "{} is not installed in {}: {SETUP_HINT}",
            package,
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
    assert!(
        root.join("tests/browser/widget_browser.mjs").is_file(),
        "tests/browser/widget_browser.mjs is missing"
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Starts the showcase and waits for `listening on http://127.0.0.1:N/mcp`; returns its URL.
fn start_showcase(port: u16) -> (KillOnDrop, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_showcase"))
        .args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the showcase binary");
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
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!(
                "showcase --port {port} exited (or closed stdout) before printing `listening on …`"
            )
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("showcase --port {port} did not print `listening on http://127.0.0.1:{port}/mcp` within 30 s")
        }
    };
    assert_eq!(
        url,
        format!("http://127.0.0.1:{port}/mcp"),
        "unexpected listen address"
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

#[test]
fn widget_renders_and_calls_tools_in_chromium_through_both_bridges() {
    let root = workspace_root();
    check_prerequisites(&root);
    let artifacts = root.join("tests").join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("create tests/artifacts");

    let (_server, url) = start_showcase(free_port());

    let mut cmd = Command::new("node");
    cmd.current_dir(&root)
        .arg(root.join("tests/browser/widget_browser.mjs"))
        .arg("--url")
        .arg(&url)
        .arg("--artifacts")
        .arg(&artifacts)
        .env("WIDGETRY_NODE_DIR", node_dir(&root));
    let (ok, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(90));
    assert!(
        ok,
        "widget browser test failed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );

    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("the driver's last line is not JSON ({e}): {stdout}"));
    assert_eq!(summary["ok"], true, "summary: {summary}");
    for bridge in ["mcp-apps", "openai"] {
        let shot = artifacts.join(format!("widget-{bridge}.png"));
        assert!(shot.is_file(), "missing screenshot {}", shot.display());
        assert!(
            summary["bridges"][bridge]["items"].as_u64().unwrap_or(0) > 0,
            "no items rendered via {bridge}: {summary}"
        );
    }
}
