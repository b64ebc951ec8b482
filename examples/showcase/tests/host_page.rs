//! Browser test of the local host page (`/_widgetry/host`) against the real showcase binary.
//!
//! Starts `showcase --port N` with `WIDGETRY_HOST_PAGE=1` and runs
//! `node tests/browser/host_page.mjs`, which in `/usr/bin/chromium` (through `playwright-core`)
//! lists the tools, runs `show_list` through both bridges (MCP Apps and `window.openai`),
//! clicks "Details" (the widget's own `item_details` call, checked in the log), follows a
//! theme switch, then signs in through the showcase's authorization server (the demo user
//! the showcase prints at start) and asserts the protected widget greets the user by name.
//! Screenshots land in `tests/artifacts/host-*.png`.
//! Needs node, `tests/node/node_modules` (or `$WIDGETRY_NODE_DIR`) and chromium: `./scripts/test.sh`
//! installs them.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
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
    assert!(
        node_modules
            .join("playwright-core")
            .join("package.json")
            .is_file(),
        "playwright-core is not installed in {}: {SETUP_HINT}",
        node_modules.display()
    );
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
        root.join("tests/browser/host_page.mjs").is_file(),
        "tests/browser/host_page.mjs is missing"
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A started showcase: its MCP URL and everything it printed (stdout and stderr).
struct Showcase {
    _guard: KillOnDrop,
    url: String,
    output: Arc<Mutex<Vec<String>>>,
}

impl Showcase {
    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }
}

/// Starts the showcase with the host page on and waits for `listening on http://…/mcp`.
fn start_showcase(port: u16) -> Showcase {
    // A fresh data directory per run, so the demo user is created (and its password
    // printed) every time.
    let data_dir =
        std::env::temp_dir().join(format!("widgetry-host-page-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_showcase"))
        .args(["--port", &port.to_string()])
        .env("WIDGETRY_HOST_PAGE", "1")
        .env("WIDGETRY_DATA_DIR", &data_dir)
        .env_remove("WIDGETRY_DATABASE_URL")
        .env_remove("WIDGETRY_SESSION_STORE_URL")
        .env_remove("AUTHORIZATION_SERVER_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the showcase binary");
    let stdout = child.stdout.take().expect("showcase stdout");
    let stderr = child.stderr.take().expect("showcase stderr");
    let guard = KillOnDrop(child);
    let output = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    {
        let output = output.clone();
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
                output.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
    }
    {
        let output = output.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[showcase] {line}");
                output.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
    }
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
    let showcase = Showcase {
        _guard: guard,
        url,
        output,
    };
    // The demo user's credentials may be printed around the `listening on` line.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !showcase.output().to_lowercase().contains("password") {
        thread::sleep(Duration::from_millis(50));
    }
    showcase
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
fn host_page_renders_widgets_through_both_bridges_and_signs_in() {
    let root = workspace_root();
    check_prerequisites(&root);
    let artifacts = root.join("tests").join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("create tests/artifacts");

    let showcase = start_showcase(free_port());

    let mut cmd = Command::new("node");
    cmd.current_dir(&root)
        .arg(root.join("tests/browser/host_page.mjs"))
        .arg("--url")
        .arg(&showcase.url)
        .arg("--artifacts")
        .arg(&artifacts)
        .env("WIDGETRY_NODE_DIR", node_dir(&root))
        .env("WIDGETRY_SERVER_OUTPUT", showcase.output());
    let (ok, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(150));
    assert!(
        ok,
        "host page browser test failed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );

    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("the driver's last line is not JSON ({e}): {stdout}"));
    assert_eq!(summary["ok"], true, "summary: {summary}");
    for bridge in ["mcp-apps", "openai"] {
        let shot = artifacts.join(format!("host-{bridge}.png"));
        assert!(shot.is_file(), "missing screenshot {}", shot.display());
        assert!(
            summary["bridges"][bridge]["items"].as_u64().unwrap_or(0) > 0,
            "no items rendered via {bridge}: {summary}"
        );
    }
    assert_eq!(summary["signIn"]["ok"], true, "sign-in: {summary}");
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
