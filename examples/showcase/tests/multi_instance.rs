//! Several showcase instances behind one (imaginary) load balancer: two processes on
//! different loopback ports sharing their stores serve the same MCP sessions and the same
//! sign-in sessions, and a Redis restart gives a clear 503 (not a hang) and then recovers.
//!
//! - PostgreSQL: both instances use `WIDGETRY_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db>`
//!   (a database created for the test and dropped after it) for everything.
//! - Redis: both use `WIDGETRY_SESSION_STORE_URL=redis://127.0.0.1:6379/3` for MCP sessions and
//!   one shared data directory (SQLite) for the durable data.
//!
//! In each setup: `initialize` on A, `tools/list` on B with A's `Mcp-Session-Id` → 200 (and an
//! unknown id → 404); `create_session` on A and `authenticate` on B on that shared MCP session
//! (the nonce is bound to it); the credentials go to B's `/api/session/authenticate`, the code
//! (printed by B's ConsoleSender on its stderr) to A's; `auth_status` on both reports the user.
//! The Redis restart test stops Redis (`redis-cli shutdown nosave`), expects 503 with a
//! JSON-RPC error naming Redis within seconds, restarts it (always, in a Drop guard) and
//! expects a new `initialize` to work; the old session is gone, as this Redis keeps nothing.
//! Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) with `psql`, and Redis on
//! 127.0.0.1:6379 with `redis-cli`/`redis-server`; `./scripts/test.sh` starts both. Every
//! process the tests start is killed when they end, pass or fail.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{free_port, unique, Showcase, TempDir, DEMO_EMAIL};

const DEMO_NAME: &str = "Demo User";
const PROTOCOL: &str = "2025-06-18";
const PG_ADDR: &str = "127.0.0.1:5432";
const PG_START: &str = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";
const REDIS_ADDR: &str = "127.0.0.1:6379";
const REDIS_SESSIONS: &str = "redis://127.0.0.1:6379/3";
const REDIS_START: &str = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
     --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log";

/// The tests that use Redis take turns: the restart test must not pull Redis away from the
/// sharing test.
static REDIS: Mutex<()> = Mutex::new(());

// ------------------------------------------------------------------------- processes

/// One running showcase.
struct Instance {
    name: &'static str,
    base: String,
    log: PathBuf,
    _showcase: Showcase,
}

impl Instance {
    /// Starts `showcase --port N` with `env`, its stderr in `<logs>/<name>.log`, and waits for
    /// `listening on http://127.0.0.1:N/mcp`.
    fn start(name: &'static str, logs: &Path, env: &[(&str, &str)]) -> Self {
        let log = logs.join(format!("{name}.log"));
        let showcase = Showcase::on_port(free_port())
            .envs(env.iter().copied())
            .stderr_to(&log)
            .try_start()
            .unwrap_or_else(|e| panic!("instance {name}: {e}"));
        Instance {
            name,
            base: showcase.base().to_string(),
            log,
            _showcase: showcase,
        }
    }

    fn stderr_tail(&self) -> String {
        support::tail(&self.log, 30)
    }
}

fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn port_open(addr: &str) -> bool {
    let addr: SocketAddr = addr.parse().expect("socket address");
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    ok()
}

// ------------------------------------------------------------------------------ HTTP

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    took: Duration,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body, or the JSON-RPC message of an SSE answer.
    fn json(&self) -> Value {
        let sse = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let text = if sse {
            self.body
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .find(|d| d.contains("\"jsonrpc\""))
                .unwrap_or_default()
                .to_string()
        } else {
            self.body.clone()
        };
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} body {}", self.status, self.body))
    }
}

fn decode_chunked(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        raw = &raw[eol + 2..];
        if size == 0 || raw.len() < size {
            out.extend_from_slice(&raw[..size.min(raw.len())]);
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or_default();
    }
    out
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), bounded by `timeout`.
fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> Result<Resp, String> {
    let started = Instant::now();
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = authority.parse().map_err(|e| format!("{authority}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connect {authority}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("{method} {url}: write: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("{method} {url}: no complete answer within {timeout:?}: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            format!(
                "{method} {url}: malformed answer: {:?}",
                String::from_utf8_lossy(&raw)
            )
        })?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {url}: bad status line in {head:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut payload = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        payload = decode_chunked(&payload);
    }
    Ok(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&payload).into_owned(),
        took: started.elapsed(),
    })
}

const TIMEOUT: Duration = Duration::from_secs(15);

fn post_json(url: &str, body: &Value) -> Resp {
    http(
        "POST",
        url,
        &[("content-type", "application/json")],
        &body.to_string(),
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

// ------------------------------------------------------------------------------- MCP

fn mcp_post(
    base: &str,
    session: Option<&str>,
    msg: &Value,
    timeout: Duration,
) -> Result<Resp, String> {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", PROTOCOL),
    ];
    if let Some(s) = session {
        headers.push(("mcp-session-id", s));
    }
    http(
        "POST",
        &format!("{base}/mcp"),
        &headers,
        &msg.to_string(),
        timeout,
    )
}

/// `initialize` + `notifications/initialized`; returns the session id.
fn initialize(inst: &Instance) -> String {
    let r = mcp_post(&inst.base, None, &init_msg(), TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 200, "initialize on {}: {}", inst.name, r.body);
    let sid = r
        .header("mcp-session-id")
        .unwrap_or_else(|| panic!("initialize on {} gave no Mcp-Session-Id", inst.name))
        .to_string();
    assert_eq!(
        r.json()["result"]["protocolVersion"],
        PROTOCOL,
        "{}",
        r.body
    );
    let n = mcp_post(
        &inst.base,
        Some(&sid),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        n.status, 202,
        "notifications/initialized on {}: {}",
        inst.name, n.body
    );
    sid
}

fn init_msg() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "widgetry-multi-instance-test", "version": "0.1.0"}
    }})
}

fn rpc(inst: &Instance, sid: &str, method: &str, params: Value) -> Resp {
    mcp_post(
        &inst.base,
        Some(sid),
        &json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}),
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{method} on {}: {e}", inst.name))
}

/// `tools/call`; returns the result (asserting it is not an error).
fn call_tool(inst: &Instance, sid: &str, name: &str, args: Value) -> Value {
    let r = rpc(
        inst,
        sid,
        "tools/call",
        json!({"name": name, "arguments": args}),
    );
    assert_eq!(
        r.status, 200,
        "tools/call {name} on {}: {}",
        inst.name, r.body
    );
    let msg = r.json();
    let result = msg["result"].clone();
    assert!(
        result.is_object() && result["isError"] != true,
        "tools/call {name} on {} failed: {msg}",
        inst.name
    );
    result
}

fn tool_names(resp: &Resp) -> Vec<String> {
    resp.json()["result"]["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The verification code the ConsoleSender printed on `inst`'s stderr after byte `from`.
fn code_from_log(inst: &Instance, from: usize) -> String {
    let needle = format!("widgetry sign-in: verification code for {DEMO_EMAIL} is ");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&inst.log).unwrap_or_default();
        if let Some(i) = text
            .get(from..)
            .and_then(|t| t.rfind(&needle))
            .map(|i| i + from)
        {
            let code: String = text[i + needle.len()..].chars().take(6).collect();
            if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
                return code;
            }
        }
        assert!(
            Instant::now() < deadline,
            "instance {} printed no verification code for {DEMO_EMAIL}; its stderr:\n{}",
            inst.name,
            inst.stderr_tail()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn log_len(inst: &Instance) -> usize {
    std::fs::metadata(&inst.log)
        .map(|m| m.len() as usize)
        .unwrap_or(0)
}

/// The MCP session made on A is served by B, and a sign-in started on A completes on B.
fn shared_sessions_and_sign_in(a: &Instance, b: &Instance, password: &str) {
    // MCP session: initialize on A, use it on B.
    let sid = initialize(a);
    let listed = rpc(b, &sid, "tools/list", json!({}));
    assert_eq!(
        listed.status,
        200,
        "tools/list on B with A's session {sid}: {}",
        short(&listed.body)
    );
    let names = tool_names(&listed);
    for t in [
        "create_session",
        "authenticate",
        "auth_status",
        "show_gallery",
    ] {
        assert!(
            names.iter().any(|n| n == t),
            "tools/list on B lacks {t}: {names:?}"
        );
    }
    let bogus = rpc(
        b,
        "0123456789abcdef0123456789abcdef",
        "tools/list",
        json!({}),
    );
    assert_eq!(bogus.status, 404, "an unknown session on B: {}", bogus.body);

    // Sign-in: created on A, widget data (nonce) from B on the same MCP session.
    let created = call_tool(a, &sid, "create_session", json!({}));
    let session_id = created["structuredContent"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("create_session on A: {created}"))
        .to_string();
    let other = initialize(b);
    let stranger = rpc(
        b,
        &other,
        "tools/call",
        json!({"name": "authenticate", "arguments": {"sessionId": session_id}}),
    );
    let stranger = stranger.json();
    assert_eq!(
        stranger["result"]["isError"], true,
        "authenticate from another MCP session must not get the nonce: {stranger}"
    );
    let auth = call_tool(b, &sid, "authenticate", json!({"sessionId": session_id}));
    let meta = &auth["_meta"]["widgetry/signin"];
    let nonce = meta["nonce"]
        .as_str()
        .unwrap_or_else(|| panic!("authenticate on B (A's MCP session) issued no nonce: {auth}"));
    assert_eq!(meta["sessionId"], session_id.as_str(), "{auth}");
    assert_eq!(
        meta["endpoint"],
        format!("{}/api/session/authenticate", b.base),
        "the endpoint is the answering instance's public URL: {auth}"
    );

    // Credentials to B (which sends the code), the code to A.
    let from = log_len(b);
    let cred = post_json(
        &format!("{}/api/session/authenticate", b.base),
        &json!({"sessionId": session_id, "nonce": nonce, "step": "credentials",
                "email": DEMO_EMAIL, "password": password}),
    );
    assert_eq!(cred.status, 200, "credentials on B: {}", cred.body);
    assert_eq!(cred.json()["next"], "code", "{}", cred.body);
    let code = code_from_log(b, from);
    let status_a = call_tool(a, &sid, "auth_status", json!({"sessionId": session_id}));
    assert_eq!(
        status_a["structuredContent"]["authenticated"], false,
        "not signed in before the code: {status_a}"
    );
    let done = post_json(
        &format!("{}/api/session/authenticate", a.base),
        &json!({"sessionId": session_id, "nonce": nonce, "step": "code", "code": code}),
    );
    assert_eq!(done.status, 200, "code on A: {}", done.body);
    let done = done.json();
    assert_eq!(done["next"], "done", "{done}");
    assert_eq!(done["name"], DEMO_NAME, "{done}");
    for (inst, s) in [(a, &sid), (b, &other)] {
        let st = call_tool(inst, s, "auth_status", json!({"sessionId": session_id}));
        let sc = &st["structuredContent"];
        assert_eq!(
            sc["authenticated"], true,
            "auth_status on {}: {st}",
            inst.name
        );
        assert_eq!(
            sc["email"], DEMO_EMAIL,
            "auth_status on {}: {st}",
            inst.name
        );
        assert_eq!(sc["name"], DEMO_NAME, "auth_status on {}: {st}", inst.name);
    }
    // The session also ends everywhere.
    let del = http(
        "DELETE",
        &format!("{}/mcp", b.base),
        &[("mcp-session-id", &sid), ("mcp-protocol-version", PROTOCOL)],
        "",
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        del.status == 200 || del.status == 204,
        "DELETE /mcp on B: {} {}",
        del.status,
        del.body
    );
    // A trusts its cached copy of a session for REVALIDATE_AFTER (1 s), then asks the store.
    let ended = Instant::now();
    loop {
        let gone = rpc(a, &sid, "tools/list", json!({}));
        if gone.status == 404 {
            break;
        }
        assert!(
            ended.elapsed() < REVALIDATE_WITHIN,
            "A still serves the session {:?} after B ended it: {} {}",
            ended.elapsed(),
            gone.status,
            short(&gone.body)
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// How soon an instance notices a change another instance made to a session: its cached
/// copy is trusted for `widgetry::server::session::REVALIDATE_AFTER` (1 s).
const REVALIDATE_WITHIN: Duration = Duration::from_millis(2500);

fn short(body: &str) -> String {
    match body.char_indices().nth(400) {
        Some((i, _)) => format!("{}…", &body[..i]),
        None => body.to_string(),
    }
}

// -------------------------------------------------------------------------- services

fn need_tool(cmd: &str, hint: &str) {
    let ok = Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{cmd} --version` failed: {hint} (./scripts/test.sh sets the machine up)"
    );
}

fn ensure_postgres() {
    need_tool(
        "psql",
        "PostgreSQL's client is missing (Debian package postgresql-client)",
    );
    if !port_open(PG_ADDR) {
        sh(PG_START);
        assert!(
            wait_until(Duration::from_secs(20), || port_open(PG_ADDR)),
            "PostgreSQL is not running on {PG_ADDR} and could not be started; start it with `{PG_START}` (trust auth for user postgres)"
        );
    }
}

fn psql(sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A PostgreSQL database for one test, dropped (connections and all) at the end.
struct PgDatabase(String);

impl PgDatabase {
    fn create() -> Self {
        ensure_postgres();
        let name = unique("multi");
        psql(&format!("CREATE DATABASE {name}")).unwrap_or_else(|e| {
            panic!("CREATE DATABASE {name} failed (PostgreSQL on {PG_ADDR}, user postgres): {e}")
        });
        Self(name)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@{PG_ADDR}/{}", self.0)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0)) {
            eprintln!("could not drop the test database {}: {e}", self.0);
        }
    }
}

fn redis_answers() -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &REDIS_ADDR.parse().expect("socket address"),
        Duration::from_millis(300),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

fn start_redis() {
    if redis_answers() {
        return;
    }
    sh("mkdir -p /var/lib/redis /var/log/redis");
    sh(REDIS_START);
    assert!(
        wait_until(Duration::from_secs(10), redis_answers),
        "Redis is not running on {REDIS_ADDR} and could not be started; start it with `{REDIS_START}`"
    );
}

fn ensure_redis() {
    need_tool(
        "redis-cli",
        "Redis's client is missing (Debian package redis-tools)",
    );
    start_redis();
}

/// Stops Redis now and starts it again when `end` is called or, whatever happens, on drop.
struct RedisOutage {
    over: bool,
}

impl RedisOutage {
    fn begin() -> Self {
        let outage = Self { over: false };
        sh("redis-cli -h 127.0.0.1 -p 6379 shutdown nosave");
        assert!(
            wait_until(Duration::from_secs(5), || !port_open(REDIS_ADDR)),
            "Redis did not stop after `redis-cli shutdown nosave`"
        );
        outage
    }

    fn end(&mut self) {
        if !self.over {
            self.over = true;
            start_redis();
        }
    }
}

impl Drop for RedisOutage {
    fn drop(&mut self) {
        if !self.over {
            self.over = true;
            sh(REDIS_START);
            wait_until(Duration::from_secs(10), redis_answers);
        }
    }
}

fn demo_password() -> String {
    format!("multi-{}", std::process::id())
}

// ----------------------------------------------------------------------------- tests

#[test]
fn two_instances_sharing_postgres_serve_each_others_mcp_sessions_and_sign_ins() {
    let db = PgDatabase::create();
    let logs = TempDir::new("multi-pg");
    let password = demo_password();
    let url = db.url();
    let (dir_a, dir_b) = (
        logs.0.join("a").display().to_string(),
        logs.0.join("b").display().to_string(),
    );
    // One after the other: the first creates the schema, the keys and the demo user.
    let a = Instance::start(
        "a",
        &logs.0,
        &[
            ("WIDGETRY_DATABASE_URL", &url),
            ("WIDGETRY_DATA_DIR", &dir_a),
            ("WIDGETRY_DEMO_PASSWORD", &password),
        ],
    );
    let b = Instance::start(
        "b",
        &logs.0,
        &[
            ("WIDGETRY_DATABASE_URL", &url),
            ("WIDGETRY_DATA_DIR", &dir_b),
            ("WIDGETRY_DEMO_PASSWORD", &password),
        ],
    );
    shared_sessions_and_sign_in(&a, &b, &password);
    drop((a, b)); // before the database goes
}

#[test]
fn two_instances_sharing_redis_sessions_and_a_sqlite_file_serve_each_others_sessions() {
    let _turn = REDIS.lock().unwrap_or_else(|p| p.into_inner());
    ensure_redis();
    let dir = TempDir::new("multi-redis");
    let password = demo_password();
    let data = dir.0.join("data");
    let env = [
        ("WIDGETRY_SESSION_STORE_URL", REDIS_SESSIONS),
        ("WIDGETRY_DATA_DIR", data.to_str().expect("utf-8 temp dir")),
        ("WIDGETRY_DEMO_PASSWORD", password.as_str()),
    ];
    let a = Instance::start("a", &dir.0, &env);
    let b = Instance::start("b", &dir.0, &env);
    shared_sessions_and_sign_in(&a, &b, &password);
}

#[test]
fn redis_restart_gives_a_clear_503_then_new_sessions_work() {
    let _turn = REDIS.lock().unwrap_or_else(|p| p.into_inner());
    ensure_redis();
    let dir = TempDir::new("multi-redis-restart");
    let password = demo_password();
    let data = dir.0.join("data");
    let app = Instance::start(
        "app",
        &dir.0,
        &[
            ("WIDGETRY_SESSION_STORE_URL", REDIS_SESSIONS),
            ("WIDGETRY_DATA_DIR", data.to_str().expect("utf-8 temp dir")),
            ("WIDGETRY_DEMO_PASSWORD", password.as_str()),
        ],
    );
    let old = initialize(&app);
    assert_eq!(rpc(&app, &old, "tools/list", json!({})).status, 200);

    let last_use = Instant::now();
    let mut outage = RedisOutage::begin();
    let bound = Duration::from_secs(5);
    let fresh = mcp_post(&app.base, None, &init_msg(), bound * 2)
        .unwrap_or_else(|e| panic!("initialize while Redis is down hung or broke: {e}"));
    // A session used within the last second is served from the instance's cache (see
    // REVALIDATE_WITHIN); after that the instance asks Redis, which is down.
    if let Some(left) = Duration::from_millis(1200).checked_sub(last_use.elapsed()) {
        thread::sleep(left);
    }
    let existing = mcp_post(
        &app.base,
        Some(&old),
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}),
        bound * 2,
    )
    .unwrap_or_else(|e| panic!("tools/list while Redis is down hung or broke: {e}"));
    outage.end(); // keep the outage short: other tests use this Redis
    for (what, r) in [
        ("initialize", &fresh),
        ("tools/list on the old session", &existing),
    ] {
        eprintln!(
            "{what} while Redis was down: {} in {:?}: {}",
            r.status,
            r.took,
            short(&r.body)
        );
        assert_eq!(
            r.status,
            503,
            "{what} while Redis is down: {}",
            short(&r.body)
        );
        assert!(
            r.took < bound,
            "{what} took {:?} (more than {bound:?})",
            r.took
        );
        let msg = r.json();
        let text = msg["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg["error"]["code"].is_i64() && text.to_ascii_lowercase().contains("redis"),
            "{what}: the JSON-RPC error should say Redis is unreachable; got {msg}"
        );
    }

    // Recovery without restarting the app: a new session works.
    let deadline = Instant::now() + Duration::from_secs(15);
    let new = loop {
        let r = mcp_post(&app.base, None, &init_msg(), TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
        if r.status == 200 {
            break r
                .header("mcp-session-id")
                .expect("Mcp-Session-Id after recovery")
                .to_string();
        }
        assert!(
            Instant::now() < deadline,
            "initialize still fails 15 s after Redis came back: {} {}\n{}",
            r.status,
            r.body,
            app.stderr_tail()
        );
        thread::sleep(Duration::from_millis(200));
    };
    let n = mcp_post(
        &app.base,
        Some(&new),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n.status, 202, "{}", n.body);
    let listed = rpc(&app, &new, "tools/list", json!({}));
    assert_eq!(
        listed.status,
        200,
        "tools/list after recovery: {}",
        short(&listed.body)
    );
    assert!(tool_names(&listed).iter().any(|t| t == "show_gallery"));
    // This Redis keeps nothing (--save "" --appendonly no): the old session is gone.
    let lost = rpc(&app, &old, "tools/list", json!({}));
    assert_eq!(
        lost.status,
        404,
        "the session from before the restart should be unknown now: {}",
        short(&lost.body)
    );
}
