//! What the showcase's integration tests share: starting the real `showcase` binary on
//! loopback and waiting until it listens, killing child processes on drop, temporary
//! directories, free ports, finding the workspace, node, `tests/node/node_modules` and
//! chromium (with the `./scripts/test.sh` hint), and running a driver script with a deadline.
//!
//! Included from each test file with `mod support;`; not every test uses every item.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const SETUP_HINT: &str =
    "run ./scripts/test.sh (it installs chromium and the tests/node packages)";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const DEMO_EMAIL: &str = "demo@widgetry.dev";

/// Variables of the calling shell that would point the showcase at other servers or stores;
/// every test decides those itself.
const CLEARED_ENV: [&str; 8] = [
    "AUTH_CHALLENGE",
    "AUTH_CHALLENGE_WITH_401",
    "AUTHORIZATION_SERVER_URL",
    "RESOURCE_SERVER_URL",
    "AUTH_AUDIENCE",
    "AUTH_REQUIRED_SCOPES",
    "WIDGETRY_DATABASE_URL",
    "WIDGETRY_SESSION_STORE_URL",
];

// ------------------------------------------------------------------------- processes

/// Kills the child process when dropped, so no server outlives a failed assertion.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A name no other run (or call in this run) uses: `widgetry_<tag>_<pid>_<nanos>_<n>`; also a
/// valid PostgreSQL identifier when `tag` is one.
pub fn unique(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("widgetry_{tag}_{}_{nanos}_{n}", std::process::id())
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last `n` lines of the file at `path` (empty if it cannot be read).
pub fn tail(path: &Path, n: usize) -> String {
    last_lines(&std::fs::read_to_string(path).unwrap_or_default(), n)
}

/// Runs a command to completion with a deadline; returns (success, stdout, stderr).
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> (bool, String, String) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}: {SETUP_HINT}"));
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
        if let Some(status) = guard.0.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    drop(guard); // kills the child if it is still running, which closes its pipes
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    match status {
        Some(status) => (status.success(), stdout, stderr),
        None => (
            false,
            stdout,
            format!("{stderr}\n(killed after {timeout:?})"),
        ),
    }
}

// ------------------------------------------------------------------- workspace, node

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .canonicalize()
        .expect("workspace root (two levels above examples/showcase)")
}

/// Where the node packages are: `$WIDGETRY_NODE_DIR`, else `tests/node`.
pub fn node_dir(root: &Path) -> PathBuf {
    std::env::var_os("WIDGETRY_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("tests").join("node"))
}

/// Fails with the setup hint when a browser test's prerequisite is missing: the node
/// `packages`, chromium, node itself, or the `driver` script.
pub fn check_browser_prerequisites(root: &Path, packages: &[&str], driver: &str) {
    let node_modules = node_dir(root).join("node_modules");
    for package in packages {
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
    assert!(root.join(driver).is_file(), "{driver} is missing");
}

/// A browser test's start: checks its prerequisites (see [`check_browser_prerequisites`]) and
/// returns the workspace root and `tests/artifacts` (created).
pub fn browser_test(packages: &[&str], driver: &str) -> (PathBuf, PathBuf) {
    let root = workspace_root();
    check_browser_prerequisites(&root, packages, driver);
    let artifacts = root.join("tests").join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("create tests/artifacts");
    (root, artifacts)
}

/// `node <driver> --url <url> --artifacts <artifacts>`, run in the workspace root with
/// `WIDGETRY_NODE_DIR` set; add the driver's own arguments.
pub fn node_driver(root: &Path, driver: &str, url: &str, artifacts: &Path) -> Command {
    let mut cmd = Command::new("node");
    cmd.current_dir(root)
        .arg(root.join(driver))
        .arg("--url")
        .arg(url)
        .arg("--artifacts")
        .arg(artifacts)
        .env("WIDGETRY_NODE_DIR", node_dir(root));
    cmd
}

/// The driver's summary: the JSON on its last line of stdout.
pub fn summary_line(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the driver's last line is not JSON ({e}): {stdout}"))
}

// ---------------------------------------------------------------------- the showcase

/// How to start `showcase --port N`: its environment (on top of a cleaned one, see
/// [`CLEARED_ENV`]), where its stderr goes and what to wait for.
pub struct Launch {
    port: u16,
    env: Vec<(OsString, OsString)>,
    stderr_log: Option<PathBuf>,
    wait_for_demo_user: bool,
    timeout: Duration,
}

/// A running showcase; killed when dropped.
pub struct Showcase {
    guard: Option<KillOnDrop>,
    pub port: u16,
    /// `http://127.0.0.1:N/mcp`.
    pub url: String,
    /// What followed `demo user: ` on stdout, when the launch waited for it.
    pub demo_user: Option<String>,
    /// The file its stderr goes to, if one was chosen.
    pub log: Option<PathBuf>,
    output: Arc<Mutex<Vec<String>>>,
}

impl Showcase {
    /// A launch on `port`; `start()` it.
    pub fn on_port(port: u16) -> Launch {
        Launch {
            port,
            env: Vec::new(),
            stderr_log: None,
            wait_for_demo_user: false,
            timeout: Duration::from_secs(30),
        }
    }

    /// `http://127.0.0.1:N`, the URL without `/mcp`.
    pub fn base(&self) -> &str {
        self.url.trim_end_matches("/mcp")
    }

    /// Everything it printed on stdout (and stderr, unless that goes to a log file).
    pub fn output(&self) -> String {
        lock(&self.output).join("\n")
    }

    /// Its last `n` lines of output (of the log file, if its stderr goes to one).
    pub fn tail(&self, n: usize) -> String {
        match &self.log {
            Some(log) => tail(log, n),
            None => last_lines(&self.output(), n),
        }
    }

    /// Asks it to stop as an orchestrator does (SIGTERM) and waits up to `within` for it to
    /// exit; its exit status, or `None` if it is still running then (it is killed on drop).
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let guard = self.guard.as_mut()?;
        let pid = guard.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid} failed");
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = guard.0.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Stops it (as a crash or a deploy would: SIGKILL) and waits until it is gone.
    pub fn stop(&mut self) {
        drop(self.guard.take());
    }
}

fn lock(output: &Mutex<Vec<String>>) -> std::sync::MutexGuard<'_, Vec<String>> {
    output.lock().unwrap_or_else(|p| p.into_inner())
}

impl Launch {
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn envs<K: Into<OsString>, V: Into<OsString>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Its stderr goes to this file (else it is collected with stdout and echoed).
    pub fn stderr_to(mut self, log: &Path) -> Self {
        self.stderr_log = Some(log.to_path_buf());
        self
    }

    /// Also waits for the `demo user: …` line, which follows `listening on`.
    pub fn wait_for_demo_user(mut self) -> Self {
        self.wait_for_demo_user = true;
        self
    }

    /// How long to wait for it to be ready (30 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Starts it and waits until it is ready; panics if it does not get there.
    pub fn start(&self) -> Showcase {
        self.try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts it and waits until it is ready; `Err` when it exited before (the port may have
    /// been taken meanwhile); panics when it is still not ready after the timeout.
    pub fn try_start(&self) -> Result<Showcase, String> {
        let port = self.port;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_showcase"));
        cmd.args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        match &self.stderr_log {
            Some(log) => cmd.stderr(File::create(log).expect("create the server log")),
            None => cmd.stderr(Stdio::piped()),
        };
        for var in CLEARED_ENV {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", env!("CARGO_BIN_EXE_showcase")));
        let stdout = child.stdout.take().expect("showcase stdout");
        let stderr = child.stderr.take();
        let mut guard = KillOnDrop(child);
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let want_demo = self.wait_for_demo_user;
        {
            let output = output.clone();
            thread::spawn(move || {
                let mut url = None;
                let mut sent = false;
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let trimmed = line.trim();
                    if url.is_none() {
                        if let Some(rest) = trimmed.strip_prefix("listening on ") {
                            url = Some(rest.trim().to_string());
                        }
                    }
                    let demo = trimmed.strip_prefix("demo user: ").map(str::to_string);
                    // Recorded before it is reported, so `output()` has it once ready.
                    lock(&output).push(line);
                    if let (false, Some(u)) = (sent, &url) {
                        if !want_demo || demo.is_some() {
                            let _ = tx.send((u.clone(), demo));
                            sent = true;
                        }
                    }
                    // Keep draining stdout so the server never blocks on a full pipe.
                }
            });
        }
        if let Some(stderr) = stderr {
            let output = output.clone();
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("[showcase] {line}");
                    lock(&output).push(line);
                }
            });
        }
        let waited_for = if want_demo {
            "`listening on …` and `demo user: …`"
        } else {
            "`listening on …`"
        };
        let mut showcase = Showcase {
            guard: None,
            port,
            url: String::new(),
            demo_user: None,
            log: self.stderr_log.clone(),
            output,
        };
        match rx.recv_timeout(self.timeout) {
            Ok((url, demo_user)) => {
                assert_eq!(
                    url,
                    format!("http://127.0.0.1:{port}/mcp"),
                    "unexpected listen address\n{}",
                    showcase.tail(40)
                );
                showcase.url = url;
                showcase.demo_user = demo_user;
                showcase.guard = Some(guard);
                Ok(showcase)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = guard.0.wait();
                thread::sleep(Duration::from_millis(100));
                Err(format!(
                    "showcase --port {port} exited (or closed stdout) before printing {waited_for}; its output:\n{}",
                    showcase.tail(40)
                ))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "showcase --port {port} did not print {waited_for} within {:?}; its output:\n{}",
                self.timeout,
                showcase.tail(40)
            ),
        }
    }
}
