//! Interop of the official MCP SDKs' OAuth clients with the showcase's embedded
//! authorization server, against the real `showcase` binary on loopback only.
//!
//! Each test starts `showcase --port N` (the embedded server: `AUTHORIZATION_SERVER_URL`
//! unset) with a fresh data directory and a chosen demo password, and runs one of
//!
//! - `tests/interop/py_oauth_client.py`: the Python `mcp` SDK's `OAuthClientProvider`;
//! - `tests/node/oauth_client.mjs`: the TypeScript SDK's `StreamableHTTPClientTransport`
//!   with an `authProvider`.
//!
//! The showcase runs with its default settings (no `AUTH_CHALLENGE` or
//! `AUTH_CHALLENGE_WITH_401`): the form of a challenge is decided per request. A sign-in
//! run first checks the ChatGPT shape on a session of its own: an anonymous `tools/call`
//! of the protected tool with `openai/*` in its `_meta` gets `isError: true` and
//! `_meta["mcp/www_authenticate"]`. Then it signs in the SDK's own way: on an SDK session
//! with the SDK's OAuth provider, the anonymous call of the protected tool gets an HTTP 401
//! with `WWW-Authenticate`, and the SDK's OAuth client does the rest by itself: metadata
//! discovery from the challenge, dynamic registration, PKCE authorization (the client
//! script fills in the sign-in and consent forms as a browser would), the code exchange,
//! the call with the new token (Python retries it itself; TypeScript finishes with
//! `finishAuth` and reconnects, as its examples do), a refresh, another call. A resume
//! run (`--token-file` written by an earlier run) reuses the stored tokens: the old access
//! token, then a refresh. Both print one JSON line that the tests check.
//!
//! The clients are installed by `./scripts/test.sh` (`.venv`, `tests/node/node_modules`);
//! `WIDGETRY_PYTHON` and `WIDGETRY_NODE_DIR` override where they are looked for. The
//! PostgreSQL test needs the server `./scripts/test.sh` starts on 127.0.0.1:5432 (user
//! `postgres`, trusted on loopback) and `psql`; it creates and drops its own database.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    free_port, node_dir, run_with_timeout, unique, workspace_root, Showcase, TempDir,
    DEMO_EMAIL as EMAIL,
};

const PASSWORD: &str = "interop-Demo-pw-7";
/// Every test finishes within this, whatever hangs.
const TEST_BUDGET: Duration = Duration::from_secs(60);
const SETUP_HINT: &str =
    "run ./scripts/test.sh (or ./scripts/test.sh --setup-only) to install the official SDK clients";
const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const POSTGRES_BASE_URL: &str = "postgres://postgres@127.0.0.1:5432";
/// Settings that change the form of a challenge; the showcase inherits this process's
/// environment, and these tests are about the default (`auto`).
const CHALLENGE_ENV: [&str; 2] = ["AUTH_CHALLENGE", "AUTH_CHALLENGE_WITH_401"];

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
        let name = unique("t");
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

/// Starts the showcase on a free port; retries on another port if the one picked was
/// taken before the showcase could bind it.
fn start_fresh(
    data_dir: &Path,
    database_url: Option<String>,
    deadline: Deadline,
) -> (Showcase, ShowcaseConfig) {
    let mut last = String::new();
    for _ in 0..3 {
        let config = ShowcaseConfig {
            port: free_port(),
            data_dir: data_dir.to_path_buf(),
            database_url: database_url.clone(),
        };
        match try_start(&config, deadline) {
            Ok(s) => return (s, config),
            Err(why) => last = why,
        }
    }
    panic!("the showcase did not start (3 tries): {last}");
}

/// Starts it again with the same configuration (same port: the resource URL, and so
/// every token's audience, contains it).
fn restart(config: &ShowcaseConfig, deadline: Deadline) -> Showcase {
    let mut last = String::new();
    for _ in 0..5 {
        match try_start(config, deadline) {
            Ok(s) => return s,
            Err(why) => {
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

/// Starts it (the embedded authorization server at the showcase's own origin, whatever
/// this shell has set) and waits for `listening on` and the demo user; `Err` when it
/// exited before (the port may have been taken meanwhile).
fn try_start(config: &ShowcaseConfig, deadline: Deadline) -> Result<Showcase, String> {
    for var in CHALLENGE_ENV {
        assert!(
            std::env::var_os(var).is_none(),
            "unset {var}: these tests run the showcase with its default challenge settings"
        );
    }
    let mut launch = Showcase::on_port(config.port)
        .env("WIDGETRY_DATA_DIR", &config.data_dir)
        .env("WIDGETRY_DEMO_PASSWORD", PASSWORD)
        .wait_for_demo_user()
        .timeout(deadline.left(Duration::from_secs(30), "the showcase started"));
    if let Some(url) = &config.database_url {
        launch = launch.env("WIDGETRY_DATABASE_URL", url);
    }
    let showcase = launch.try_start()?;
    assert_eq!(
        showcase.demo_user.as_deref(),
        Some(format!("{EMAIL} / {PASSWORD}").as_str()),
        "the showcase should print the demo user with WIDGETRY_DEMO_PASSWORD{}",
        output_tail(&showcase)
    );
    Ok(showcase)
}

fn output_tail(showcase: &Showcase) -> String {
    format!(
        "\n--- showcase output (last lines) ---\n{}\n---",
        showcase.tail(40)
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
                let node_dir = node_dir(&root);
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
        cmd.current_dir(workspace_root());
        let (ok, stdout, stderr) = run_with_timeout(cmd, limit);
        assert!(
            ok,
            "the {self:?} SDK client failed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}{}",
            output_tail(showcase)
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
    let origin = showcase.base().trim_start_matches("http://");
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

/// Where the first `traffic` entry matching `pred` is.
fn position(v: &Value, pred: impl Fn(&Value) -> bool) -> Option<usize> {
    v["traffic"].as_array()?.iter().position(pred)
}

fn is_mcp(t: &Value, by: &str, method: &str, status: u16, bearer: bool) -> bool {
    t["by"] == by
        && t["method"] == method
        && t["path"] == "/mcp"
        && t["status"] == status
        && t["bearer"] == bearer
}

/// An anonymous challenge: `Bearer` with the metadata URL and the tool's scopes, and no
/// `error=` (no token was sent, RFC 6750 section 3.1).
fn assert_challenge(challenge: &str, sdk: Sdk, showcase: &Showcase, what: &str) {
    let metadata = format!(
        "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
        showcase.base()
    );
    assert!(
        challenge.starts_with("Bearer ")
            && challenge.contains(&metadata)
            && challenge.contains("scope=\"user read:data\"")
            && !challenge.contains("error="),
        "{sdk:?}: {what} should name the metadata and the scopes, without error=: {challenge:?}"
    );
}

/// A sign-in run: the whole flow through the SDK's OAuth client; returns the user id.
fn assert_sign_in_run(v: &Value, sdk: Sdk, showcase: &Showcase) -> String {
    assert_eq!(v["mode"], "sign-in", "{sdk:?}: {v}");

    // ChatGPT (openai/* in the request's _meta): the challenge comes in the tool result.
    let chatgpt = &v["chatgpt"];
    assert_eq!(
        chatgpt["isError"], true,
        "{sdk:?}: ChatGPT-shaped call: {chatgpt}"
    );
    assert_challenge(
        chatgpt["wwwAuthenticate"][0].as_str().unwrap_or_default(),
        sdk,
        showcase,
        "the ChatGPT-shaped call's _meta[\"mcp/www_authenticate\"]",
    );
    assert!(
        position(v, |t| t["by"] == "chatgpt" && t["status"] == 401).is_none(),
        "{sdk:?}: the ChatGPT-shaped session got an HTTP 401:\n{}",
        traffic(v).join("\n")
    );

    // Any other client: HTTP 401 from the MCP endpoint, which starts the SDK's own flow.
    assert_eq!(v["anonymous"]["status"], 401, "{sdk:?}: {v}");
    assert_eq!(v["anonymous"]["bearer"], false, "{sdk:?}: {v}");
    assert_eq!(
        v["challenge"], v["anonymous"]["wwwAuthenticate"],
        "{sdk:?}: {v}"
    );
    assert_challenge(
        v["challenge"].as_str().unwrap_or_default(),
        sdk,
        showcase,
        "the 401's WWW-Authenticate",
    );
    let refused = position(v, |t| is_mcp(t, "sdk", "POST", 401, false));
    let discovery = position(v, |t| {
        t["by"] == "sdk" && t["path"] == "/.well-known/oauth-protected-resource/mcp"
    });
    let exchange = position(v, |t| t["grant_type"] == "authorization_code");
    let signed_in_call = exchange
        .and_then(|e| position(v, |t| is_mcp(t, "sdk", "POST", 200, true)).filter(|&c| c > e));
    assert!(
        refused.is_some()
            && refused < discovery
            && discovery < exchange
            && signed_in_call.is_some(),
        "{sdk:?}: expected the anonymous POST /mcp 401, then discovery, the code exchange and \
         a POST /mcp with the new bearer token:\n{}",
        traffic(v).join("\n")
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
    assert_eq!(ar["iss"], showcase.base(), "{sdk:?}: RFC 9207 iss: {ar}");
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
    let data = TempDir::new("oauth-py");
    let (showcase, _) = start_fresh(&data.0, None, deadline);
    let v = Sdk::Python.run(&showcase, None, deadline);
    assert_sign_in_run(&v, Sdk::Python, &showcase);
}

#[test]
fn typescript_sdk_oauth_client_signs_in_calls_the_protected_tool_and_refreshes() {
    Sdk::TypeScript.require();
    let deadline = Deadline::start();
    let data = TempDir::new("oauth-ts");
    let (showcase, _) = start_fresh(&data.0, None, deadline);
    let v = Sdk::TypeScript.run(&showcase, None, deadline);
    assert_sign_in_run(&v, Sdk::TypeScript, &showcase);
}

#[test]
fn python_sdk_oauth_flow_works_on_postgresql_and_its_grant_survives_a_restart() {
    Sdk::Python.require();
    let deadline = Deadline::start();
    let db = PgDatabase::create();
    let data = TempDir::new("oauth-pg");
    let tokens = data.0.join("py-tokens.json");
    let (mut showcase, config) = start_fresh(&data.0, Some(db.url()), deadline);
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
    let showcase = restart(&config, deadline);
    let v = Sdk::Python.run(&showcase, Some(&tokens), deadline);
    assert_resume_run(&v, Sdk::Python, &showcase, &user);
}

#[test]
fn restart_keeps_every_grant_working_for_both_sdk_clients() {
    Sdk::Python.require();
    Sdk::TypeScript.require();
    let deadline = Deadline::start();
    let data = TempDir::new("oauth-restart");
    let py_tokens = data.0.join("py-tokens.json");
    let ts_tokens = data.0.join("ts-tokens.json");
    let (mut showcase, config) = start_fresh(&data.0, None, deadline);
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
    let showcase = restart(&config, deadline);
    let py = Sdk::Python.run(&showcase, Some(&py_tokens), deadline);
    assert_resume_run(&py, Sdk::Python, &showcase, &py_user);
    let ts = Sdk::TypeScript.run(&showcase, Some(&ts_tokens), deadline);
    assert_resume_run(&ts, Sdk::TypeScript, &showcase, &ts_user);
}
