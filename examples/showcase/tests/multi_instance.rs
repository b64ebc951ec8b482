//! Several showcase instances: two processes on different loopback ports sharing their
//! stores serve the same MCP sessions and the same sign-in sessions, and a Redis restart
//! gives a clear 503 (not a hang; `/readyz` 503 too) and then recovers. Then the
//! production topology: two instances behind a real nginx (Debian's package, started by
//! the test as this user, round-robin, `X-Forwarded-For` from a trusted proxy) sharing
//! PostgreSQL and Redis, where the health checks, an MCP session, the sign-in widget, the
//! OAuth flow (registration, authorize, sign-in, consent, code exchange, refresh), a
//! protected call and widget actions each reach both instances (every answer names its
//! instance in `X-Upstream`), a refresh token revoked through one is refused by both at
//! once, and a session ended through one is refused by both within 2.5 s (the 1 s
//! revalidation bound of cached sessions, plus margin).
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
    code_from_logs(&[(inst, from)])
}

/// The verification code printed by whichever of `logs` (instance, from byte) sent it.
fn code_from_logs(logs: &[(&Instance, usize)]) -> String {
    let needle = format!("widgetry sign-in: verification code for {DEMO_EMAIL} is ");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for (inst, from) in logs {
            let text = std::fs::read_to_string(&inst.log).unwrap_or_default();
            let found = text
                .get(*from..)
                .and_then(|t| t.rfind(&needle))
                .map(|i| &text[from + i + needle.len()..])
                .map(|rest| rest.chars().take(6).collect::<String>())
                .filter(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()));
            if let Some(code) = found {
                return code;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no instance printed a verification code for {DEMO_EMAIL}; their stderr:\n{}",
            logs.iter()
                .map(|(i, _)| format!("{}:\n{}", i.name, i.stderr_tail()))
                .collect::<Vec<_>>()
                .join("\n")
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
    // The widget gets the public half of the id; create_session's caller holds all of it.
    let public_id = meta["sessionId"]
        .as_str()
        .filter(|p| !p.is_empty() && session_id.starts_with(p))
        .unwrap_or_else(|| {
            panic!("the widget's sessionId is not the public half of {session_id}: {auth}")
        })
        .to_string();
    assert_eq!(
        meta["endpoint"],
        format!("{}/api/session/authenticate", b.base),
        "the endpoint is the answering instance's public URL: {auth}"
    );

    // Credentials to B (which sends the code), the code to A.
    let from = log_len(b);
    let cred = post_json(
        &format!("{}/api/session/authenticate", b.base),
        &json!({"sessionId": public_id, "nonce": nonce, "step": "credentials",
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
        &json!({"sessionId": public_id, "nonce": nonce, "step": "code", "code": code}),
    );
    assert_eq!(done.status, 200, "code on A: {}", done.body);
    let done = done.json();
    assert_eq!(done["next"], "done", "{done}");
    assert_eq!(done["name"], DEMO_NAME, "{done}");
    // Another conversation is told the sign-in session is not its own.
    let foreign = rpc(
        b,
        &other,
        "tools/call",
        json!({"name": "auth_status", "arguments": {"sessionId": session_id}}),
    );
    assert_eq!(
        foreign.json()["result"]["isError"],
        true,
        "{}",
        foreign.body
    );
    for (inst, s) in [(a, &sid), (b, &sid)] {
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
/// copy is trusted for `widgetry::transport::REVALIDATE_AFTER` (1 s).
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
    // Readiness says so too (a load balancer stops sending), while liveness holds.
    let ready = http("GET", &format!("{}/readyz", app.base), &[], "", bound * 2)
        .unwrap_or_else(|e| panic!("/readyz while Redis is down hung or broke: {e}"));
    let live = http("GET", &format!("{}/healthz", app.base), &[], "", bound * 2)
        .unwrap_or_else(|e| panic!("/healthz while Redis is down: {e}"));
    outage.end(); // keep the outage short: other tests use this Redis
    assert_eq!(
        ready.status, 503,
        "/readyz while Redis is down: {}",
        ready.body
    );
    assert_eq!(ready.body, "session store unreachable\n");
    assert_eq!(
        live.status, 200,
        "/healthz while Redis is down: {}",
        live.body
    );
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
    let ready = http("GET", &format!("{}/readyz", app.base), &[], "", TIMEOUT).unwrap();
    assert_eq!(
        ready.status, 200,
        "/readyz after Redis came back: {}",
        ready.body
    );
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

// ------------------------------------------------------------------ behind real nginx

const NGINX: &str = "/usr/sbin/nginx";

/// nginx from Debian's package, run as this user with `deploy/nginx.conf.template` (the
/// configuration the deployment script and compose file use) rendered with its pid, logs
/// and temporary files in a temporary directory, listening on 127.0.0.1 only, balancing
/// round-robin over the instances. Each answer names its instance (`X-Upstream`).
struct Nginx {
    base: String,
    dir: TempDir,
    process: support::KillOnDrop,
}

impl Nginx {
    fn start(port: u16, upstreams: &[&Instance]) -> Self {
        assert!(
            Path::new(NGINX).exists(),
            "{NGINX} is missing: run ./scripts/test.sh --setup-only (installs Debian's nginx)"
        );
        let dir = TempDir::new("nginx");
        let d = dir.0.display();
        let servers: String = upstreams
            .iter()
            .map(|i| format!("server {}; ", i.base.trim_start_matches("http://")))
            .collect();
        let template = support::workspace_root().join("deploy/nginx.conf.template");
        let conf = std::fs::read_to_string(&template)
            .unwrap_or_else(|e| panic!("{}: {e}", template.display()))
            .replace("${RUN_DIR}", &d.to_string())
            .replace("${LISTEN}", &format!("127.0.0.1:{port}"))
            .replace("${TLS}", "")
            .replace("${UPSTREAMS}", &servers);
        let conf_path = dir.0.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(NGINX)
            .args(["-p", &d.to_string(), "-e", &format!("{d}/error.log")])
            .args(["-g", "daemon off;", "-c"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {NGINX}: {e}"));
        let nginx = Nginx {
            base: format!("http://127.0.0.1:{port}"),
            dir,
            process: support::KillOnDrop(child),
        };
        let addr = format!("127.0.0.1:{port}");
        assert!(
            wait_until(Duration::from_secs(10), || port_open(&addr)),
            "nginx did not start listening on {addr}; its error log:\n{}",
            support::tail(&nginx.dir.0.join("error.log"), 20)
        );
        nginx
    }
}

impl Drop for Nginx {
    /// SIGTERM first: the master stops its workers (a SIGKILLed master leaves them running).
    fn drop(&mut self) {
        let pid = self.process.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.process.0.try_wait(), Ok(None)) {
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The instances that served a flow, from each answer's `X-Upstream`.
#[derive(Default)]
struct Hops(std::collections::BTreeSet<String>);

impl Hops {
    fn saw(&mut self, r: &Resp) {
        if let Some(u) = r.header("x-upstream") {
            self.0.insert(u.to_string());
        }
    }

    /// Every instance took part.
    fn assert_all(&self, flow: &str, instances: &[&Instance]) {
        for i in instances {
            let addr = i.base.trim_start_matches("http://");
            assert!(
                self.0.contains(addr),
                "{flow}: instance {} ({addr}) served none of it; served by {:?}",
                i.name,
                self.0
            );
        }
    }
}

fn front_rpc(base: &str, sid: &str, method: &str, params: Value, hops: &mut Hops) -> Resp {
    let r = mcp_post(
        base,
        Some(sid),
        &json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}),
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{method} through nginx: {e}"));
    hops.saw(&r);
    r
}

fn front_tool(base: &str, sid: &str, name: &str, args: Value, hops: &mut Hops) -> Value {
    let r = front_rpc(
        base,
        sid,
        "tools/call",
        json!({"name": name, "arguments": args}),
        hops,
    );
    assert_eq!(
        r.status,
        200,
        "tools/call {name} through nginx: {}",
        short(&r.body)
    );
    let result = r.json()["result"].clone();
    assert!(
        result["isError"] != true,
        "tools/call {name} through nginx: {result}"
    );
    result
}

fn front_initialize(base: &str, hops: &mut Hops) -> String {
    let r = mcp_post(base, None, &init_msg(), TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    hops.saw(&r);
    assert_eq!(r.status, 200, "initialize through nginx: {}", r.body);
    let sid = r
        .header("mcp-session-id")
        .expect("Mcp-Session-Id")
        .to_string();
    let n = mcp_post(
        base,
        Some(&sid),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    hops.saw(&n);
    assert_eq!(
        n.status, 202,
        "notifications/initialized through nginx: {}",
        n.body
    );
    sid
}

fn form(url: &str, fields: &[(&str, &str)], headers: &[(&str, &str)], hops: &mut Hops) -> Resp {
    let body = serde_urlencoded::to_string(fields).expect("form");
    let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
    h.extend_from_slice(headers);
    let r = http("POST", url, &h, &body, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    hops.saw(&r);
    r
}

/// A hidden form field of an HTML page.
fn hidden(page: &Resp, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in page: {}", short(&page.body)))
        + marker.len();
    let end = page.body[start..].find('"').expect("closing quote") + start;
    page.body[start..end].to_string()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The OAuth flow through nginx, each request landing where nginx sends it: dynamic
/// registration, authorize (sign-in page), sign-in, consent, code exchange, refresh.
/// Returns the client id, the access token and the refresh token.
fn oauth_flow(base: &str, password: &str, hops: &mut Hops) -> (String, String, String) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let redirect = "http://127.0.0.1:9/callback";
    let reg = http(
        "POST",
        &format!("{base}/oauth/register"),
        &[("content-type", "application/json")],
        &json!({"redirect_uris": [redirect], "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"], "client_name": "topology test"})
        .to_string(),
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    hops.saw(&reg);
    assert_eq!(reg.status, 201, "registration: {}", reg.body);
    let client_id = reg.json()["client_id"]
        .as_str()
        .expect("client_id")
        .to_string();
    let verifier = format!("v{}", unique("pkce")).repeat(2);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", redirect),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "topology"),
        ("scope", "user likes:write"),
        ("resource", &format!("{base}/mcp")),
    ])
    .expect("query");
    let page = http(
        "GET",
        &format!("{base}/oauth/authorize?{query}"),
        &[],
        "",
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    hops.saw(&page);
    assert_eq!(page.status, 200, "authorize: {}", short(&page.body));
    let cookie = page
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("the authorize page sets its browser cookie")
        .to_string();
    let consent = form(
        &format!("{base}/oauth/authorize/sign-in"),
        &[
            ("request", &hidden(&page, "request")),
            ("csrf", &hidden(&page, "csrf")),
            ("username", DEMO_EMAIL),
            ("password", password),
        ],
        &[("cookie", &cookie)],
        hops,
    );
    assert_eq!(consent.status, 200, "sign-in: {}", short(&consent.body));
    let done = form(
        &format!("{base}/oauth/authorize/consent"),
        &[
            ("request", &hidden(&consent, "request")),
            ("csrf", &hidden(&consent, "csrf")),
            ("decision", "allow"),
        ],
        &[("cookie", &cookie)],
        hops,
    );
    assert_eq!(done.status, 303, "consent: {}", short(&done.body));
    let location = done.header("location").expect("redirect").to_string();
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        Some(base),
        "{location}"
    );
    let code = query_param(&location, "code").expect("code in the redirect");
    let token = |fields: &[(&str, &str)], hops: &mut Hops| {
        form(&format!("{base}/oauth/token"), fields, &[], hops)
    };
    let tokens = token(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", redirect),
            ("client_id", &client_id),
        ],
        hops,
    );
    assert_eq!(tokens.status, 200, "code exchange: {}", tokens.body);
    let first_refresh = tokens.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let refreshed = token(
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first_refresh),
            ("client_id", &client_id),
        ],
        hops,
    );
    assert_eq!(refreshed.status, 200, "refresh: {}", refreshed.body);
    let t = refreshed.json();
    (
        client_id,
        t["access_token"]
            .as_str()
            .expect("access_token")
            .to_string(),
        t["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_string(),
    )
}

#[test]
fn two_instances_behind_nginx_serve_every_flow_whichever_instance_each_request_reaches() {
    let _turn = REDIS.lock().unwrap_or_else(|p| p.into_inner());
    ensure_redis();
    let db = PgDatabase::create();
    let dir = TempDir::new("topology");
    let password = demo_password();
    let front_port = free_port();
    let public = format!("http://127.0.0.1:{front_port}");
    let url = db.url();
    let kek = "topology-test-key-encryption-key-0123456789";
    let env = [
        ("WIDGETRY_PUBLIC_URL", public.as_str()),
        ("WIDGETRY_TRUSTED_PROXIES", "127.0.0.1"),
        ("WIDGETRY_DATABASE_URL", url.as_str()),
        ("WIDGETRY_SESSION_STORE_URL", REDIS_SESSIONS),
        ("WIDGETRY_KEY_ENCRYPTION_KEY", kek),
        ("WIDGETRY_DEMO_PASSWORD", password.as_str()),
    ];
    // One after the other: the first creates the schema, the keys and the demo user.
    let a = Instance::start("a", &dir.0, &env);
    let b = Instance::start("b", &dir.0, &env);
    let nginx = Nginx::start(front_port, &[&a, &b]);
    let front = nginx.base.as_str();
    let both = [&a, &b];

    // Health through the balancer.
    let mut hops = Hops::default();
    for path in ["/healthz", "/readyz", "/healthz", "/readyz"] {
        let r = http("GET", &format!("{front}{path}"), &[], "", TIMEOUT).unwrap();
        hops.saw(&r);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    hops.assert_all("health", &both);
    // /metrics is not reachable through the proxy; directly, it is.
    let m = http("GET", &format!("{front}/metrics"), &[], "", TIMEOUT).unwrap();
    assert_eq!(m.status, 404, "/metrics through nginx: {}", short(&m.body));

    // An MCP session made on one instance and used on both.
    let mut hops = Hops::default();
    let sid = front_initialize(front, &mut hops);
    for _ in 0..4 {
        let r = front_rpc(front, &sid, "tools/list", json!({}), &mut hops);
        assert_eq!(r.status, 200, "tools/list: {}", short(&r.body));
        assert!(
            tool_names(&r).iter().any(|n| n == "show_gallery"),
            "{}",
            short(&r.body)
        );
    }
    hops.assert_all("MCP session", &both);

    // The sign-in widget: each step wherever it lands.
    let mut hops = Hops::default();
    let created = front_tool(front, &sid, "create_session", json!({}), &mut hops);
    let session_id = created["structuredContent"]["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    let auth = front_tool(
        front,
        &sid,
        "authenticate",
        json!({"sessionId": session_id}),
        &mut hops,
    );
    let meta = &auth["_meta"]["widgetry/signin"];
    assert_eq!(
        meta["endpoint"],
        format!("{public}/api/session/authenticate"),
        "{auth}"
    );
    let nonce = meta["nonce"].as_str().expect("nonce").to_string();
    let public_id = meta["sessionId"]
        .as_str()
        .expect("the widget's sessionId")
        .to_string();
    let (from_a, from_b) = (log_len(&a), log_len(&b));
    let endpoint = format!("{front}/api/session/authenticate");
    let cred = http(
        "POST",
        &endpoint,
        &[("content-type", "application/json"), ("origin", &public)],
        &json!({"sessionId": public_id, "nonce": nonce, "step": "credentials",
                "email": DEMO_EMAIL, "password": password})
        .to_string(),
        TIMEOUT,
    )
    .unwrap();
    hops.saw(&cred);
    assert_eq!(cred.status, 200, "credentials: {}", cred.body);
    let code = code_from_logs(&[(&a, from_a), (&b, from_b)]);
    let done = http(
        "POST",
        &endpoint,
        &[("content-type", "application/json"), ("origin", &public)],
        &json!({"sessionId": public_id, "nonce": nonce, "step": "code", "code": code}).to_string(),
        TIMEOUT,
    )
    .unwrap();
    hops.saw(&done);
    assert_eq!(done.status, 200, "code: {}", done.body);
    for _ in 0..2 {
        let st = front_tool(
            front,
            &sid,
            "auth_status",
            json!({"sessionId": session_id}),
            &mut hops,
        );
        assert_eq!(st["structuredContent"]["authenticated"], true, "{st}");
    }
    hops.assert_all("sign-in widget", &both);

    // The OAuth flow, then a protected call and widget actions with its token.
    let mut hops = Hops::default();
    let (client_id, access, refresh) = oauth_flow(front, &password, &mut hops);
    hops.assert_all("OAuth flow", &both);

    let mut hops = Hops::default();
    let bearer = format!("Bearer {access}");
    let init = http(
        "POST",
        &format!("{front}/mcp"),
        &[
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("authorization", &bearer),
        ],
        &init_msg().to_string(),
        TIMEOUT,
    )
    .unwrap();
    hops.saw(&init);
    assert_eq!(init.status, 200, "signed-in initialize: {}", init.body);
    let signed_sid = init.header("mcp-session-id").expect("session").to_string();
    let gallery = http(
        "POST",
        &format!("{front}/mcp"),
        &[
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("authorization", &bearer),
            ("mcp-session-id", &signed_sid),
            ("mcp-protocol-version", PROTOCOL),
        ],
        &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "show_gallery", "arguments": {}}})
        .to_string(),
        TIMEOUT,
    )
    .unwrap();
    hops.saw(&gallery);
    assert_eq!(
        gallery.status,
        200,
        "show_gallery: {}",
        short(&gallery.body)
    );
    let g = gallery.json();
    let wt = g["result"]["_meta"]["widgetry/widgetToken"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no widget token in show_gallery's _meta: {g}"))
        .to_string();
    let wt_bearer = format!("Bearer {wt}");
    for action in ["like_image", "unlike_image", "like_image", "unlike_image"] {
        let r = http(
            "POST",
            &format!("{front}/widget/actions/{action}"),
            &[
                ("content-type", "application/json"),
                ("authorization", &wt_bearer),
                ("origin", &public),
            ],
            &json!({"image_id": "sunrise"}).to_string(),
            TIMEOUT,
        )
        .unwrap();
        hops.saw(&r);
        assert_eq!(r.status, 200, "widget action {action}: {}", r.body);
    }
    hops.assert_all("widget actions", &both);

    // A refresh token revoked through one instance is refused by every instance at once
    // (the grant lives in the shared store; nothing about it is cached).
    let mut hops = Hops::default();
    let revoked = form(
        &format!("{front}/oauth/revoke"),
        &[("token", &refresh), ("client_id", &client_id)],
        &[],
        &mut hops,
    );
    assert_eq!(revoked.status, 200, "revoke: {}", revoked.body);
    for inst in both {
        let r = form(
            &format!("{}/oauth/token", inst.base),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", &client_id),
            ],
            &[],
            &mut hops,
        );
        assert_eq!(
            r.status, 400,
            "refresh with a revoked token on {}: {}",
            inst.name, r.body
        );
        assert_eq!(r.json()["error"], "invalid_grant", "{}", r.body);
    }

    // An MCP session ended through one instance is refused by both within the bound.
    let del = http(
        "DELETE",
        &format!("{front}/mcp"),
        &[("mcp-session-id", &sid), ("mcp-protocol-version", PROTOCOL)],
        "",
        TIMEOUT,
    )
    .unwrap();
    assert!(
        del.status == 200 || del.status == 204,
        "DELETE: {} {}",
        del.status,
        del.body
    );
    let ended = Instant::now();
    for inst in both {
        loop {
            let gone = rpc(inst, &sid, "tools/list", json!({}));
            if gone.status == 404 {
                break;
            }
            assert!(
                ended.elapsed() < REVALIDATE_WITHIN,
                "{} still serves the ended session after {:?}",
                inst.name,
                ended.elapsed()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
    drop(nginx);
    drop((a, b)); // before the database goes
}
