//! Interop of the official MCP SDKs' OAuth clients with the showcase's embedded
//! authorization server, against the real `showcase` binary on loopback only.
//!
//! Each test starts `showcase --port N` (the embedded server: `AUTHORIZATION_SERVER_URL`
//! unset) with a fresh data directory and a chosen demo password, and runs one of
//!
//! - `tests/interop/py_oauth_client.py`: the Python `mcp` SDK's `OAuthClientProvider`;
//! - `tests/node/oauth_client.mjs`: the TypeScript SDK's `auth()` / `authProvider`.
//!
//! A sign-in run connects anonymously, gets the protected tool's challenge
//! (`_meta["mcp/www_authenticate"]`: the showcase is a mixed server), and lets the SDK's
//! OAuth client do the rest: metadata discovery from the challenge, dynamic registration,
//! PKCE authorization (the client script fills in the sign-in and consent forms as a
//! browser would), the code exchange, the protected call, a refresh, another call. A
//! resume run (`--token-file` written by an earlier run) reuses the stored tokens: the
//! old access token, then a refresh. Both print one JSON line that the tests check.
//!
//! The clients are installed by `./scripts/test.sh` (`.venv`, `tests/node/node_modules`);
//! `WIDGETRY_PYTHON` and `WIDGETRY_NODE_DIR` override where they are looked for. The
//! PostgreSQL test needs the server `./scripts/test.sh` starts on 127.0.0.1:5432 (user
//! `postgres`, trusted on loopback) and `psql`; it creates and drops its own database.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const EMAIL: &str = "demo@widgetry.dev";
const PASSWORD: &str = "interop-Demo-pw-7";
/// Every test finishes within this, whatever hangs.
const TEST_BUDGET: Duration = Duration::from_secs(60);
const SETUP_HINT: &str =
    "run ./scripts/test.sh (or ./scripts/test.sh --setup-only) to install the official SDK clients";
const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const POSTGRES_BASE_URL: &str = "postgres://postgres@127.0.0.1:5432";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root (two levels above examples/showcase)")
}

fn random_suffix() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// The test's time budget.
#[derive(Clone, Copy)]
struct Deadline(Instant);

impl Deadline {
    fn start() -> Self {
        Deadline(Instant::now() + TEST_BUDGET)
    }

    /// What is left, at most `cap`; panics when nothing is.
    fn left(self, cap: Duration, what: &str) -> Duration {
        let left = self.0.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the test ran out of its {TEST_BUDGET:?} budget before {what}"
        );
        left.min(cap)
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("widgetry-oauth-{tag}-{}", random_suffix()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kills the child process when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ------------------------------------------------------------------------ PostgreSQL

/// A fresh database on the machine's PostgreSQL, dropped (with its connections) at the end.
struct PgDatabase {
    name: String,
}

fn psql(sql: &str) -> std::io::Result<std::process::Output> {
    Command::new("psql")
        .args([POSTGRES_ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
}

impl PgDatabase {
    fn create() -> Self {
        let name = format!("widgetry_t_{}", random_suffix());
        match psql(&format!("CREATE DATABASE {name}")) {
            Ok(out) if out.status.success() => PgDatabase { name },
            Ok(out) => panic!(
                "cannot create a test database on PostgreSQL at 127.0.0.1:5432 ({}): \
                 the server must be up with user postgres trusted on loopback; {SETUP_HINT} \
                 (it starts PostgreSQL)",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!("cannot run psql ({e}): install postgresql-client; {SETUP_HINT}"),
        }
    }

    fn url(&self) -> String {
        format!("{POSTGRES_BASE_URL}/{}", self.name)
    }

    fn tables(&self) -> Vec<String> {
        let out = Command::new("psql")
            .args([
                self.url().as_str(),
                "-Atc",
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            ])
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

// ------------------------------------------------------------------------ the showcase

/// How a showcase is started: its port (fixed, since the resource URL contains it), its
/// data directory and, optionally, its PostgreSQL database.
#[derive(Clone)]
struct ShowcaseConfig {
    port: u16,
    data_dir: PathBuf,
    database_url: Option<String>,
}

/// A running showcase; killed when dropped.
struct Showcase {
    guard: Option<KillOnDrop>,
    url: String,
    output: Arc<Mutex<Vec<String>>>,
}

enum StartError {
    /// It exited before listening (the port may have been taken meanwhile).
    Exited(String),
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

impl Showcase {
    /// Starts the showcase on a free port; retries on another port if the one picked was
    /// taken before the showcase could bind it.
    fn start_fresh(
        data_dir: &Path,
        database_url: Option<String>,
        deadline: Deadline,
    ) -> (Self, ShowcaseConfig) {
        let mut last = String::new();
        for _ in 0..3 {
            let config = ShowcaseConfig {
                port: free_port(),
                data_dir: data_dir.to_path_buf(),
                database_url: database_url.clone(),
            };
            match Showcase::try_start(&config, deadline) {
                Ok(s) => return (s, config),
                Err(StartError::Exited(why)) => last = why,
            }
        }
        panic!("the showcase did not start (3 tries): {last}");
    }

    /// Starts it again with the same configuration (same port: the resource URL, and so
    /// every token's audience, contains it).
    fn restart(config: &ShowcaseConfig, deadline: Deadline) -> Self {
        let mut last = String::new();
        for _ in 0..5 {
            match Showcase::try_start(config, deadline) {
                Ok(s) => return s,
                Err(StartError::Exited(why)) => {
                    last = why;
                    thread::sleep(Duration::from_millis(300));
                }
            }
        }
        panic!(
            "the showcase did not restart on port {}: {last}",
            config.port
        );
    }

    fn try_start(config: &ShowcaseConfig, deadline: Deadline) -> Result<Self, StartError> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_showcase"));
        cmd.args(["--port", &config.port.to_string()])
            .env("WIDGETRY_DATA_DIR", &config.data_dir)
            .env("WIDGETRY_DEMO_PASSWORD", PASSWORD);
        // The embedded server at the showcase's own origin, whatever this shell has set.
        for var in [
            "AUTHORIZATION_SERVER_URL",
            "RESOURCE_SERVER_URL",
            "AUTH_AUDIENCE",
            "AUTH_REQUIRED_SCOPES",
            "WIDGETRY_DATABASE_URL",
            "WIDGETRY_SESSION_STORE_URL",
        ] {
            cmd.env_remove(var);
        }
        if let Some(url) = &config.database_url {
            cmd.env("WIDGETRY_DATABASE_URL", url);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", env!("CARGO_BIN_EXE_showcase")));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut guard = KillOnDrop(child);
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        {
            let output = output.clone();
            thread::spawn(move || {
                let mut url = None;
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.trim().strip_prefix("listening on ") {
                        url = Some(rest.trim().to_string());
                    }
                    // The demo user's line comes after `listening on`: wait for both.
                    if let (Some(u), Some(demo)) = (&url, line.trim().strip_prefix("demo user: ")) {
                        let _ = tx.send((u.clone(), demo.to_string()));
                    }
                    output.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        {
            let output = output.clone();
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    output
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("[stderr] {line}"));
                }
            });
        }
        let tail = |output: &Arc<Mutex<Vec<String>>>| tail_of(output);
        let wait = deadline.left(Duration::from_secs(30), "the showcase started");
        match rx.recv_timeout(wait) {
            Ok((url, demo)) => {
                let expected = format!("http://127.0.0.1:{}/mcp", config.port);
                assert_eq!(
                    url,
                    expected,
                    "the showcase listens elsewhere{}",
                    tail(&output)
                );
                assert_eq!(
                    demo,
                    format!("{EMAIL} / {PASSWORD}"),
                    "the showcase should print the demo user with WIDGETRY_DEMO_PASSWORD{}",
                    tail(&output)
                );
                Ok(Showcase {
                    guard: Some(guard),
                    url,
                    output,
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = guard.0.wait();
                thread::sleep(Duration::from_millis(100));
                Err(StartError::Exited(format!(
                    "showcase --port {} exited before printing `listening on` and the demo user{}",
                    config.port,
                    tail(&output)
                )))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "showcase --port {} printed no `listening on` + `demo user:` within {wait:?}{}",
                config.port,
                tail(&output)
            ),
        }
    }

    fn issuer(&self) -> &str {
        self.url.trim_end_matches("/mcp")
    }

    /// Stops it (as a crash or a deploy would: SIGKILL) and waits until it is gone.
    fn stop(&mut self) {
        drop(self.guard.take());
    }

    fn tail(&self) -> String {
        tail_of(&self.output)
    }
}

fn tail_of(output: &Arc<Mutex<Vec<String>>>) -> String {
    let lines = output.lock().unwrap_or_else(|p| p.into_inner());
    let from = lines.len().saturating_sub(40);
    format!(
        "\n--- showcase output (last lines) ---\n{}\n---",
        lines[from..].join("\n")
    )
}

// ------------------------------------------------------------------------ the clients

#[derive(Clone, Copy, Debug)]
enum Sdk {
    Python,
    TypeScript,
}

impl Sdk {
    /// Fails now, with the set-up hint, when the client is not installed.
    fn require(self) -> Self {
        drop(self.command());
        self
    }

    fn command(self) -> Command {
        let root = workspace_root();
        match self {
            Sdk::Python => {
                let python = std::env::var_os("WIDGETRY_PYTHON")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| root.join(".venv/bin/python"));
                assert!(
                    python.exists(),
                    "the Python SDK client needs the venv python at {} (WIDGETRY_PYTHON): {SETUP_HINT}",
                    python.display()
                );
                let mut cmd = Command::new(python);
                cmd.arg(root.join("tests/interop/py_oauth_client.py"));
                cmd
            }
            Sdk::TypeScript => {
                let node_dir = std::env::var_os("WIDGETRY_NODE_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| root.join("tests/node"));
                let sdk = node_dir.join("node_modules/@modelcontextprotocol/sdk/package.json");
                assert!(
                    sdk.exists(),
                    "the TypeScript SDK client needs {} (WIDGETRY_NODE_DIR): {SETUP_HINT}",
                    sdk.display()
                );
                let mut cmd = Command::new("node");
                cmd.arg(node_dir.join("oauth_client.mjs"));
                cmd
            }
        }
    }

    /// Runs the client against `showcase`; returns the JSON line it printed.
    fn run(self, showcase: &Showcase, token_file: Option<&Path>, deadline: Deadline) -> Value {
        let mut cmd = self.command();
        cmd.args([
            "--url",
            &showcase.url,
            "--email",
            EMAIL,
            "--password",
            PASSWORD,
        ])
        .args(["--scope", "user read:data"]);
        if let Some(f) = token_file {
            cmd.arg("--token-file").arg(f);
        }
        let limit = deadline.left(Duration::from_secs(45), &format!("the {self:?} client ran"));
        let (ok, stdout, stderr) = run_with_timeout(cmd, limit);
        assert!(
            ok,
            "the {self:?} SDK client failed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}{}",
            showcase.tail()
        );
        let line = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|e| {
            panic!("the {self:?} client's last line is not JSON ({e}):\n{stdout}\n--- stderr ---\n{stderr}")
        })
    }
}

/// Runs a command to completion within `timeout`; returns (success, stdout, stderr).
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> (bool, String, String) {
    let child = cmd
        .current_dir(workspace_root())
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
        if let Some(status) = guard.0.try_wait().expect("wait for the client") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    drop(guard);
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    match status {
        Some(s) => (s.success(), stdout, stderr),
        None => (
            false,
            stdout,
            format!("{stderr}\n(killed after {timeout:?})"),
        ),
    }
}

// ------------------------------------------------------------------------ checks

/// The `traffic` entries as `by METHOD path status [grant_type]` strings.
fn traffic(v: &Value) -> Vec<String> {
    v["traffic"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    let mut s = format!(
                        "{} {} {} {}",
                        t["by"].as_str().unwrap_or("?"),
                        t["method"].as_str().unwrap_or("?"),
                        t["path"].as_str().unwrap_or("?"),
                        t["status"]
                    );
                    if let Some(g) = t["grant_type"].as_str() {
                        s.push(' ');
                        s.push_str(g);
                    }
                    s
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every request the client made (SDK and "browser") went to the showcase's own origin.
fn assert_loopback_only(v: &Value, sdk: Sdk, showcase: &Showcase) {
    let origin = showcase.issuer().trim_start_matches("http://");
    let entries = v["traffic"].as_array().cloned().unwrap_or_default();
    assert!(!entries.is_empty(), "{sdk:?}: no traffic recorded: {v}");
    for t in entries {
        assert_eq!(
            t["host"], origin,
            "{sdk:?}: a request left the showcase's loopback origin: {t}"
        );
    }
}

fn assert_traffic_has(v: &Value, sdk: Sdk, wanted: &[&str]) {
    let seen = traffic(v);
    for w in wanted {
        assert!(
            seen.iter().any(|s| s == w),
            "{sdk:?}: expected `{w}` in the client's traffic:\n{}",
            seen.join("\n")
        );
    }
}

fn assert_traffic_lacks(v: &Value, sdk: Sdk, unwanted: &[&str]) {
    let seen = traffic(v);
    for u in unwanted {
        assert!(
            !seen.iter().any(|s| s.contains(u)),
            "{sdk:?}: did not expect `{u}` in the client's traffic:\n{}",
            seen.join("\n")
        );
    }
}

/// The protected tool answered for the demo user; returns its user id.
fn assert_demo_user(call: &Value, sdk: Sdk, message: &str, what: &str) -> String {
    assert_eq!(
        call["isError"], false,
        "{sdk:?} {what}: the protected call failed: {call}"
    );
    let s = &call["structuredContent"];
    assert_eq!(s["email"], EMAIL, "{sdk:?} {what}: {call}");
    assert_eq!(s["has_read"], true, "{sdk:?} {what}: {call}");
    assert_eq!(s["message"], "Hello, Demo User!", "{sdk:?} {what}: {call}");
    assert_eq!(s["input_message"], message, "{sdk:?} {what}: {call}");
    let scopes: Vec<&str> = s["scopes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        scopes.contains(&"user") && scopes.contains(&"read:data"),
        "{sdk:?} {what}: the token should carry user and read:data: {call}"
    );
    let id = s["user_id"].as_str().unwrap_or_default();
    assert!(!id.is_empty(), "{sdk:?} {what}: no user_id: {call}");
    id.to_string()
}

fn assert_refreshed(v: &Value, sdk: Sdk) {
    let r = &v["refresh"];
    assert_eq!(
        r["requests"], 1,
        "{sdk:?}: one refresh request expected: {r}"
    );
    assert_eq!(r["ok"], true, "{sdk:?}: the refresh failed: {r}");
    assert_eq!(r["accessTokenChanged"], true, "{sdk:?}: {r}");
    assert_eq!(
        r["refreshTokenRotated"], true,
        "{sdk:?}: refresh tokens rotate: {r}"
    );
    assert_traffic_has(v, sdk, &["sdk POST /oauth/token 200 refresh_token"]);
    // Only the forced refresh: the access token in hand was never refused before it.
    let refreshes = traffic(v)
        .iter()
        .filter(|s| s.ends_with(" refresh_token"))
        .count();
    assert_eq!(refreshes, 1, "{sdk:?}: {:#?}", traffic(v));
}

/// A sign-in run: the whole flow through the SDK's OAuth client; returns the user id.
fn assert_sign_in_run(v: &Value, sdk: Sdk, showcase: &Showcase) -> String {
    assert_eq!(v["mode"], "sign-in", "{sdk:?}: {v}");
    assert_eq!(v["anonymous"]["isError"], true, "{sdk:?}: {v}");
    let challenge = v["challenge"].as_str().unwrap_or_default();
    let metadata = format!(
        "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
        showcase.issuer()
    );
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains(&metadata) && challenge.contains("scope=\"user read:data\""),
        "{sdk:?}: the anonymous call's challenge should name the metadata and the scopes: {challenge}"
    );
    assert!(
        v["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|n| n == "protected-widget")),
        "{sdk:?}: tools: {}",
        v["tools"]
    );
    // What the SDK did on the wire, in order of the flow.
    assert_traffic_has(
        v,
        sdk,
        &[
            "sdk GET /.well-known/oauth-protected-resource/mcp 200",
            "sdk GET /.well-known/oauth-authorization-server 200",
            "sdk POST /oauth/register 201",
            "browser GET /oauth/authorize 200",
            "browser POST /oauth/authorize/sign-in 200",
            "browser POST /oauth/authorize/consent 303",
            "sdk POST /oauth/token 200 authorization_code",
        ],
    );
    assert_eq!(v["signIns"], 1, "{sdk:?}: exactly one sign-in: {v}");
    assert_eq!(
        v["browserSteps"],
        serde_json::json!(["sign-in form", "consent form", "redirect to callback"]),
        "{sdk:?}"
    );
    let ar = &v["authorizationResponse"];
    assert_eq!(ar["iss"], showcase.issuer(), "{sdk:?}: RFC 9207 iss: {ar}");
    assert_eq!(ar["stateMatches"], true, "{sdk:?}: {ar}");
    assert_eq!(
        ar["requested"]["code_challenge_method"], "S256",
        "{sdk:?}: {ar}"
    );
    assert_eq!(ar["requested"]["resource"], showcase.url, "{sdk:?}: {ar}");
    assert_eq!(ar["requested"]["scope"], "user read:data", "{sdk:?}: {ar}");
    assert!(
        v["clientId"].as_str().is_some_and(|c| !c.is_empty()),
        "{sdk:?}: no registered client id: {v}"
    );
    let first = assert_demo_user(&v["first"], sdk, "hi", "first protected call");
    assert_refreshed(v, sdk);
    let second = assert_demo_user(
        &v["afterRefresh"],
        sdk,
        "hi again",
        "call after the refresh",
    );
    assert_eq!(
        first, second,
        "{sdk:?}: the refreshed token is for another user"
    );
    assert_eq!(v["hasRefreshToken"], true, "{sdk:?}: {v}");
    assert_loopback_only(v, sdk, showcase);
    first
}

/// A resume run: stored tokens only, no new sign-in, registration or code.
fn assert_resume_run(v: &Value, sdk: Sdk, showcase: &Showcase, user_id: &str) {
    assert_eq!(v["mode"], "resume", "{sdk:?}: {v}");
    assert_eq!(
        v["signIns"], 0,
        "{sdk:?}: the stored grant should need no new sign-in: {v}"
    );
    assert_traffic_lacks(
        v,
        sdk,
        &["/oauth/authorize", "/oauth/register", "authorization_code"],
    );
    let stored = assert_demo_user(
        &v["storedTokenCall"],
        sdk,
        "hi",
        "call with the stored access token",
    );
    assert_eq!(
        stored, user_id,
        "{sdk:?}: the stored access token is for another user"
    );
    assert_refreshed(v, sdk);
    let refreshed = assert_demo_user(
        &v["afterRefresh"],
        sdk,
        "hi again",
        "call after the refresh",
    );
    assert_eq!(
        refreshed, user_id,
        "{sdk:?}: the refreshed token is for another user"
    );
    assert_loopback_only(v, sdk, showcase);
}

// ------------------------------------------------------------------------ tests

#[test]
fn python_sdk_oauth_client_signs_in_calls_the_protected_tool_and_refreshes() {
    Sdk::Python.require();
    let deadline = Deadline::start();
    let data = TempDir::new("py");
    let (showcase, _) = Showcase::start_fresh(&data.0, None, deadline);
    let v = Sdk::Python.run(&showcase, None, deadline);
    assert_sign_in_run(&v, Sdk::Python, &showcase);
}

#[test]
fn typescript_sdk_oauth_client_signs_in_calls_the_protected_tool_and_refreshes() {
    Sdk::TypeScript.require();
    let deadline = Deadline::start();
    let data = TempDir::new("ts");
    let (showcase, _) = Showcase::start_fresh(&data.0, None, deadline);
    let v = Sdk::TypeScript.run(&showcase, None, deadline);
    assert_sign_in_run(&v, Sdk::TypeScript, &showcase);
}

#[test]
fn python_sdk_oauth_flow_works_on_postgresql_and_its_grant_survives_a_restart() {
    Sdk::Python.require();
    let deadline = Deadline::start();
    let db = PgDatabase::create();
    let data = TempDir::new("pg");
    let tokens = data.0.join("py-tokens.json");
    let (mut showcase, config) = Showcase::start_fresh(&data.0, Some(db.url()), deadline);
    let v = Sdk::Python.run(&showcase, Some(&tokens), deadline);
    let user = assert_sign_in_run(&v, Sdk::Python, &showcase);

    // Everything lives in the database: the authorization server's tables and the app's.
    let tables = db.tables();
    for t in [
        "authz_users",
        "authz_clients",
        "authz_grants",
        "authz_refresh_tokens",
        "authz_signing_keys",
        "mcp_sessions",
    ] {
        assert!(
            tables.iter().any(|x| x == t),
            "table {t} missing in {}: {tables:?}",
            db.name
        );
    }
    let files: Vec<_> = std::fs::read_dir(&data.0)
        .expect("read the data dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "py-tokens.json")
        .collect();
    assert!(
        files.is_empty(),
        "with WIDGETRY_DATABASE_URL nothing should be stored in the data dir: {files:?}"
    );

    showcase.stop();
    let showcase = Showcase::restart(&config, deadline);
    let v = Sdk::Python.run(&showcase, Some(&tokens), deadline);
    assert_resume_run(&v, Sdk::Python, &showcase, &user);
}

#[test]
fn restart_keeps_every_grant_working_for_both_sdk_clients() {
    Sdk::Python.require();
    Sdk::TypeScript.require();
    let deadline = Deadline::start();
    let data = TempDir::new("restart");
    let py_tokens = data.0.join("py-tokens.json");
    let ts_tokens = data.0.join("ts-tokens.json");
    let (mut showcase, config) = Showcase::start_fresh(&data.0, None, deadline);
    let py = Sdk::Python.run(&showcase, Some(&py_tokens), deadline);
    let py_user = assert_sign_in_run(&py, Sdk::Python, &showcase);
    let ts = Sdk::TypeScript.run(&showcase, Some(&ts_tokens), deadline);
    let ts_user = assert_sign_in_run(&ts, Sdk::TypeScript, &showcase);
    assert_eq!(py_user, ts_user, "both clients signed in as the demo user");
    assert_ne!(
        py["clientId"], ts["clientId"],
        "each client registered itself"
    );

    showcase.stop();
    let showcase = Showcase::restart(&config, deadline);
    let py = Sdk::Python.run(&showcase, Some(&py_tokens), deadline);
    assert_resume_run(&py, Sdk::Python, &showcase, &py_user);
    let ts = Sdk::TypeScript.run(&showcase, Some(&ts_tokens), deadline);
    assert_resume_run(&ts, Sdk::TypeScript, &showcase, &ts_user);
}
