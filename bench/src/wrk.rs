//! The wrk mode (`--wrk`): every server runs in a child process of this benchmark
//! (`widgetry-bench serve <server>`), pinned to CPU 0 with `taskset`, on a one-worker
//! Tokio runtime; Debian's `wrk` loads it from CPU 1 (`wrk -t1 -c<N>`), with a Lua script
//! that sends the scenario's exact request and counts every answer with an unexpected
//! status (or, for a 200 scenario, without the echoed text). This process pins itself
//! to CPU 1 too; it only reads /proc while wrk runs.
//!
//! It also measures the time from spawning a protected server to its first 200 on a
//! protected `tools/call`, the servers' resident memory (idle and under load), and their
//! CPU time per request (/proc/<pid>/stat).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::{auth_apps, child, median, opt, Args, ACTION_BODY, CALL_BODY, EXPECTED_TEXT};

const TICKS_PER_SEC: f64 = 100.0;
const PROTOCOL_VERSION: &str = "2025-06-18";

pub const BASE_PUBLIC: &str = "baseline-public";
pub const PUBLIC: &str = "widgetry-public";
pub const SESSION: &str = "widgetry-session";
pub const SESSION_REDIS: &str = "widgetry-session-redis";
pub const SESSION_PG: &str = "widgetry-session-postgres";
pub const BASE_401: &str = "baseline-401";
pub const W401: &str = "widgetry-401";
pub const PROTECTED: &str = "widgetry-protected";
pub const VERIFY: &str = "baseline-verify-per-call";
pub const ACTION: &str = "widgetry-action";
/// `widgetry-session` served as `App::serve_with` serves: the observing layer (a span and
/// metrics per request) with the Prometheus recorder and a log subscriber installed.
pub const OBSERVED: &str = "widgetry-observed";

#[derive(Clone, Copy, PartialEq)]
enum Cred {
    None,
    Access,
    Widget,
}

#[derive(Clone, Copy)]
struct Scn {
    name: &'static str,
    /// The child server kind (see `child::KINDS`).
    server: &'static str,
    path: &'static str,
    body: &'static str,
    cred: Cred,
    session: bool,
    status: u16,
}

#[rustfmt::skip]
const SCENARIOS: &[Scn] = &[
    Scn { name: BASE_PUBLIC, server: "baseline", path: "/mcp", body: CALL_BODY, cred: Cred::None, session: false, status: 200 },
    Scn { name: PUBLIC, server: "widgetry-stateless", path: "/mcp", body: CALL_BODY, cred: Cred::None, session: false, status: 200 },
    Scn { name: SESSION, server: "widgetry-session", path: "/mcp", body: CALL_BODY, cred: Cred::None, session: true, status: 200 },
    Scn { name: SESSION_REDIS, server: "widgetry-session-redis", path: "/mcp", body: CALL_BODY, cred: Cred::None, session: true, status: 200 },
    Scn { name: SESSION_PG, server: "widgetry-session-postgres", path: "/mcp", body: CALL_BODY, cred: Cred::None, session: true, status: 200 },
    Scn { name: BASE_401, server: "baseline-verify-per-call", path: "/mcp", body: CALL_BODY, cred: Cred::None, session: false, status: 401 },
    Scn { name: W401, server: "widgetry-protected", path: "/mcp", body: CALL_BODY, cred: Cred::None, session: false, status: 401 },
    Scn { name: PROTECTED, server: "widgetry-protected", path: "/mcp", body: CALL_BODY, cred: Cred::Access, session: false, status: 200 },
    Scn { name: VERIFY, server: "baseline-verify-per-call", path: "/mcp", body: CALL_BODY, cred: Cred::Access, session: false, status: 200 },
    Scn { name: OBSERVED, server: "widgetry-session-observed", path: "/mcp", body: CALL_BODY, cred: Cred::None, session: true, status: 200 },
    Scn { name: ACTION, server: "widgetry-action", path: "/widget/actions/echo_action", body: ACTION_BODY, cred: Cred::Widget, session: false, status: 200 },
];

/// The scenarios `spec` selects, plus the baselines their ratios need, in table order.
fn select(spec: &str) -> Result<Vec<Scn>, String> {
    let mut want: Vec<&str> = vec![BASE_PUBLIC];
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let add: &[&str] = match part {
            "all" => &[
                PUBLIC, SESSION, OBSERVED, BASE_401, W401, PROTECTED, VERIFY, ACTION,
            ],
            "public" | "stateless" | "widgetry-stateless" | PUBLIC => &[PUBLIC],
            "session" | SESSION => &[SESSION],
            "stores" => &[SESSION, SESSION_REDIS, SESSION_PG],
            SESSION_REDIS => &[SESSION, SESSION_REDIS],
            SESSION_PG => &[SESSION, SESSION_PG],
            "observed" | "metrics" | OBSERVED => &[SESSION, OBSERVED],
            "401" | "anonymous" | W401 => &[W401, BASE_401],
            BASE_401 => &[BASE_401],
            "auth" | "protected" | PROTECTED => &[PROTECTED, VERIFY],
            VERIFY => &[VERIFY],
            "action" | ACTION => &[ACTION],
            "baseline" | BASE_PUBLIC => &[],
            other => return Err(format!("unknown wrk scenario {other:?}")),
        };
        want.extend_from_slice(add);
    }
    Ok(SCENARIOS
        .iter()
        .filter(|s| want.contains(&s.name))
        .copied()
        .collect())
}

// ---- tools --------------------------------------------------------------------------

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn check_tools() -> Result<(), String> {
    if on_path("wrk").is_none() {
        return Err(
            "`wrk` was not found on PATH. The wrk mode needs Debian's package `wrk`: \
                    apt-get install -y wrk"
                .into(),
        );
    }
    if on_path("taskset").is_none() {
        return Err("`taskset` was not found on PATH (Debian package `util-linux`)".into());
    }
    Ok(())
}

// ---- /proc --------------------------------------------------------------------------

/// The fields of a /proc `stat` file after the command name; index 0 is field 3 (state).
fn stat_fields(path: &str) -> Option<Vec<u64>> {
    let s = fs::read_to_string(path).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(
        rest.split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0))
            .collect(),
    )
}

/// utime + stime of a process, in ticks.
fn proc_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(&format!("/proc/{pid}/stat"))?;
    Some(f.get(11)? + f.get(12)?)
}

/// (own utime + stime, reaped children's cutime + cstime) of this process, in ticks.
fn self_ticks() -> Option<(u64, u64)> {
    let f = stat_fields("/proc/self/stat")?;
    Some((f.get(11)? + f.get(12)?, f.get(13)? + f.get(14)?))
}

/// Busy ticks of the whole machine.
fn machine_busy() -> Option<u64> {
    let s = fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = s
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let all: u64 = v.iter().take(8).sum();
    Some(all - v.get(3).copied().unwrap_or(0) - v.get(4).copied().unwrap_or(0))
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

// ---- a tiny blocking HTTP/1.1 client (setup, probes, start-time polls) ----------------

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(400)]).into_owned()
    }
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&b[..eol])
            .ok()?
            .split(';')
            .next()?
            .trim();
        let n = usize::from_str_radix(size, 16).ok()?;
        b = &b[eol + 2..];
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..n)?);
        b = b.get(n + 2..)?;
    }
}

/// POSTs `body` to `127.0.0.1:port` with `Connection: close` and reads the whole answer.
fn post(port: u16, path: &str, headers: &[(String, String)], body: &str) -> Result<Resp, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer has no header end")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut r = Resp {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if r.header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        r.body = dechunk(&r.body).ok_or("a malformed chunked body")?;
    }
    Ok(r)
}

// ---- servers ------------------------------------------------------------------------

struct Keys {
    n: String,
    e: String,
    access_token: String,
}

struct ServerProc {
    kind: &'static str,
    child: Child,
    pid: u32,
    port: u16,
    widget_token: Option<String>,
    _stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `taskset -c 0 <this binary> serve <kind> --port 0` and reads its port. Returns
/// the server and the instant just before the spawn.
fn spawn_server(kind: &'static str, keys: &Keys) -> Result<(ServerProc, Instant), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let t0 = Instant::now();
    let mut child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(&exe)
        .args(["serve", kind, "--port", "0"])
        .env(child::ENV_N, &keys.n)
        .env(child::ENV_E, &keys.e)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the {kind} server: {e}"))?;
    let pid = child.id();
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{kind}: no pipes to the server"));
    };
    let mut proc = ServerProc {
        kind,
        child,
        pid,
        port: 0,
        widget_token: None,
        _stdin: stdin,
        stdout: BufReader::new(stdout),
    };
    let mut line = String::new();
    loop {
        line.clear();
        let n = proc
            .stdout
            .read_line(&mut line)
            .map_err(|e| format!("{kind} server: {e}"))?;
        if n == 0 {
            return Err(format!("the {kind} server exited before it was ready"));
        }
        let l = line.trim();
        if l == "ready" {
            break;
        } else if let Some(p) = l.strip_prefix("port ") {
            proc.port = p
                .parse()
                .map_err(|_| format!("{kind}: bad port line {l:?}"))?;
        } else if let Some(t) = l.strip_prefix("widget-token ") {
            proc.widget_token = Some(t.to_string());
        }
    }
    if proc.port == 0 {
        return Err(format!("the {kind} server reported no port"));
    }
    Ok((proc, t0))
}

/// The headers of a scenario's request (besides Host and Content-Length).
fn headers(
    s: &Scn,
    keys: &Keys,
    server: &ServerProc,
    session: Option<&str>,
) -> Vec<(String, String)> {
    let mut h = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        (
            "Accept".to_string(),
            "application/json, text/event-stream".to_string(),
        ),
        (
            "MCP-Protocol-Version".to_string(),
            PROTOCOL_VERSION.to_string(),
        ),
    ];
    let token = match s.cred {
        Cred::None => None,
        Cred::Access => Some(keys.access_token.as_str()),
        Cred::Widget => server.widget_token.as_deref(),
    };
    if let Some(t) = token {
        h.push(("Authorization".to_string(), format!("Bearer {t}")));
    }
    if let Some(id) = session {
        h.push(("Mcp-Session-Id".to_string(), id.to_string()));
    }
    h
}

/// `initialize` + `notifications/initialized` on the session server; the session id.
fn open_session(server: &ServerProc) -> Result<String, String> {
    let base = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        (
            "Accept".to_string(),
            "application/json, text/event-stream".to_string(),
        ),
        (
            "MCP-Protocol-Version".to_string(),
            PROTOCOL_VERSION.to_string(),
        ),
    ];
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"widgetry-bench","version":"0.1.0"}}}"#;
    let r = post(server.port, "/mcp", &base, init)?;
    if r.status != 200 {
        return Err(format!("initialize answered {}: {}", r.status, r.text()));
    }
    let id = r
        .header("mcp-session-id")
        .ok_or("initialize returned no Mcp-Session-Id")?
        .to_string();
    let mut h = base;
    h.push(("Mcp-Session-Id".to_string(), id.clone()));
    let r = post(
        server.port,
        "/mcp",
        &h,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )?;
    if r.status != 202 {
        return Err(format!(
            "notifications/initialized answered {}: {}",
            r.status,
            r.text()
        ));
    }
    Ok(id)
}

/// A Lua long string that cannot be closed by its content.
fn lua_str(s: &str) -> String {
    let mut eq = String::from("=");
    while s.contains(&format!("]{eq}]")) {
        eq.push('=');
    }
    format!("[{eq}[{s}]{eq}]")
}

/// The wrk script: the static request (wrk formats it once), and a `response` callback
/// counting answers with another status than `status` (or, for 200, without the echoed
/// text); `done` prints the count on one line this benchmark parses.
fn lua_script(s: &Scn, headers: &[(String, String)]) -> String {
    let mut l = String::new();
    l.push_str("wrk.method = \"POST\"\n");
    l.push_str(&format!("wrk.body = {}\n", lua_str(s.body)));
    for (k, v) in headers {
        l.push_str(&format!("wrk.headers[ {} ] = {}\n", lua_str(k), lua_str(v)));
    }
    let needle = if s.status == 200 {
        lua_str(EXPECTED_TEXT)
    } else {
        "nil".into()
    };
    l.push_str(&format!(
        r#"local expected_status = {status}
local needle = {needle}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) unexpected = 0; first_unexpected = "" end
function response(status, headers, body)
  if status ~= expected_status or (needle and not string.find(body or "", needle, 1, true)) then
    unexpected = unexpected + 1
    if first_unexpected == "" then first_unexpected = status .. " " .. string.sub(body or "", 1, 200) end
  end
end
function done(summary, latency, requests)
  local n, first = 0, ""
  for _, t in ipairs(threads) do
    n = n + (t:get("unexpected") or 0)
    local f = t:get("first_unexpected")
    if first == "" and f then first = f end
  end
  io.write(string.format("widgetry-bench-lua: unexpected=%d first=%s\n", n, (string.gsub(first, "[\r\n]", " "))))
end
"#,
        status = s.status
    ));
    l
}

/// Checks one answer of a scenario (before loading it).
fn probe(s: &Scn, server: &ServerProc, h: &[(String, String)]) -> Result<Resp, String> {
    let r = post(server.port, s.path, h, s.body).map_err(|e| format!("{}: {e}", s.name))?;
    if r.status != s.status {
        return Err(format!(
            "{}: the probe answered {} (expected {}): {}",
            s.name,
            r.status,
            s.status,
            r.text()
        ));
    }
    if s.status == 200 && !String::from_utf8_lossy(&r.body).contains(EXPECTED_TEXT) {
        return Err(format!(
            "{}: the answer lacks the echoed text: {}",
            s.name,
            r.text()
        ));
    }
    if s.status == 401 && r.header("www-authenticate").is_none() {
        return Err(format!("{}: a 401 without WWW-Authenticate", s.name));
    }
    Ok(r)
}

// ---- wrk ----------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct WrkOut {
    requests: u64,
    rps: f64,
    /// p50, p75, p90, p99 in µs.
    pct: [f64; 4],
    non_2xx: u64,
    socket_errors: u64,
    unexpected: Option<u64>,
    first_unexpected: String,
    /// wrk's standard output and error, for error messages.
    raw: String,
}

fn parse_latency_us(v: &str) -> Option<f64> {
    let v = v.trim();
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = v.split_at(split);
    let x: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => x,
        "ms" => x * 1e3,
        "s" => x * 1e6,
        "m" => x * 60e6,
        _ => return None,
    })
}

fn parse_wrk(out: &str) -> Result<WrkOut, String> {
    let mut w = WrkOut::default();
    let mut got = (false, false);
    for line in out.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            w.rps = v.trim().parse().map_err(|_| format!("bad line {t:?}"))?;
            got.0 = true;
        } else if t.contains(" requests in ") {
            w.requests = t
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("bad line {t:?}"))?;
            got.1 = true;
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            w.non_2xx = v.trim().parse().unwrap_or(u64::MAX);
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            w.socket_errors = v
                .split(',')
                .filter_map(|p| p.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
        } else if let Some(v) = t.strip_prefix("widgetry-bench-lua: unexpected=") {
            let (n, first) = v.split_once(" first=").unwrap_or((v, ""));
            w.unexpected = n.trim().parse().ok();
            w.first_unexpected = first.to_string();
        } else {
            for (i, p) in ["50%", "75%", "90%", "99%"].iter().enumerate() {
                if let Some(v) = t.strip_prefix(p) {
                    if let Some(us) = parse_latency_us(v) {
                        w.pct[i] = us;
                    }
                }
            }
        }
    }
    if !(got.0 && got.1) {
        return Err(format!("cannot read wrk's output:\n{out}"));
    }
    Ok(w)
}

/// Runs `taskset -c 1 wrk -t1 -c<N> -d<S>s --latency -s <script> <url>`, sampling the
/// server's VmRSS while it runs. Returns wrk's figures and the largest RSS seen.
fn wrk(
    connections: usize,
    seconds: u64,
    script: &Path,
    url: &str,
    server_pid: u32,
) -> Result<(WrkOut, Option<u64>), String> {
    let mut c = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let mut rss_max: Option<u64> = None;
    let status = loop {
        if let Some(st) = c.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if let Some(r) = rss_kib(server_pid) {
            rss_max = Some(rss_max.map_or(r, |m| m.max(r)));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = c.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = c.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    if !status.success() {
        return Err(format!("wrk failed ({status}):\n{out}{err}"));
    }
    let mut w = parse_wrk(&out)?;
    w.raw = format!("{out}{err}");
    Ok((w, rss_max))
}

#[derive(Debug, Clone, Default)]
struct Run {
    w: WrkOut,
    server_pct: Option<f64>,
    /// Server CPU time per request, µs.
    server_us: Option<f64>,
    wrk_pct: Option<f64>,
    other_pct: Option<f64>,
    rss_load_kib: Option<u64>,
}

struct Ctx<'a> {
    args: &'a Args,
    keys: &'a Keys,
    dir: PathBuf,
    servers: Vec<ServerProc>,
}

impl Ctx<'_> {
    fn server(&self, kind: &str) -> &ServerProc {
        self.servers
            .iter()
            .find(|p| p.kind == kind)
            .expect("every selected scenario's server was started")
    }

    /// One measured run of a scenario (after `--warmup` seconds of unmeasured load).
    fn run(&self, s: &Scn) -> Result<Run, String> {
        let server = self.server(s.server);
        let session = if s.session {
            Some(open_session(server).map_err(|e| format!("{}: {e}", s.name))?)
        } else {
            None
        };
        let h = headers(s, self.keys, server, session.as_deref());
        let script = self.dir.join(format!("{}.lua", s.name));
        fs::write(&script, lua_script(s, &h)).map_err(|e| format!("{}: {e}", script.display()))?;
        let url = format!("http://127.0.0.1:{}{}", server.port, s.path);
        let check = |w: &WrkOut, what: &str| -> Result<(), String> {
            let bad = match w.unexpected {
                None => {
                    return Err(format!(
                        "{}: {what}: wrk's script reported nothing (is it wrk 4?); wrk said:\n{}",
                        s.name, w.raw
                    ))
                }
                Some(n) => n,
            };
            if bad > 0
                || w.socket_errors > 0
                || (s.status == 200 && w.non_2xx > 0)
                || w.requests == 0
            {
                return Err(format!(
                    "{}: {what}: {bad} answers with an unexpected status or body (first: {}), {} non-2xx/3xx, {} socket errors, {} requests",
                    s.name,
                    if w.first_unexpected.is_empty() { "-" } else { &w.first_unexpected },
                    w.non_2xx,
                    w.socket_errors,
                    w.requests
                ));
            }
            Ok(())
        };
        let warm = self.args.warmup.round() as u64;
        if warm > 0 {
            let (w, _) = wrk(self.args.connections, warm, &script, &url, server.pid)?;
            check(&w, "warm-up")?;
        }
        let pids: Vec<u32> = self.servers.iter().map(|p| p.pid).collect();
        let servers_ticks = || -> Option<u64> { pids.iter().map(|p| proc_ticks(*p)).sum() };
        let t0 = Instant::now();
        let (srv0, all0, me0, mach0) = (
            proc_ticks(server.pid),
            servers_ticks(),
            self_ticks(),
            machine_busy(),
        );
        let (w, rss) = wrk(
            self.args.connections,
            self.args.seconds.round() as u64,
            &script,
            &url,
            server.pid,
        )?;
        let (srv1, all1, me1, mach1) = (
            proc_ticks(server.pid),
            servers_ticks(),
            self_ticks(),
            machine_busy(),
        );
        let secs = t0.elapsed().as_secs_f64();
        check(&w, "measured run")?;
        let pct = |a: Option<u64>, b: Option<u64>| {
            Some(b?.saturating_sub(a?) as f64 / TICKS_PER_SEC / secs * 100.0)
        };
        let server_pct = pct(srv0, srv1);
        let server_us = (|| {
            Some(
                srv1?.saturating_sub(srv0?) as f64 / TICKS_PER_SEC * 1e6 / w.requests.max(1) as f64,
            )
        })();
        let wrk_pct = pct(me0.map(|m| m.1), me1.map(|m| m.1));
        let other_pct = (|| {
            let (a, b) = (me0?, me1?);
            let mine = (b.0 + b.1).saturating_sub(a.0 + a.1) + all1?.saturating_sub(all0?);
            Some(
                mach1?.saturating_sub(mach0?).saturating_sub(mine) as f64 / TICKS_PER_SEC / secs
                    * 100.0,
            )
        })();
        Ok(Run {
            w,
            server_pct,
            server_us,
            wrk_pct,
            other_pct,
            rss_load_kib: rss,
        })
    }
}

// ---- start → first protected 200 ------------------------------------------------------

/// Spawns the server and polls with a protected `tools/call` (a fresh connection each
/// time) until the first 200 that carries the echoed text. Returns (ms to `ready`, ms to
/// the first 200).
fn start_time(kind: &'static str, keys: &Keys) -> Result<(f64, f64), String> {
    let (server, t0) = spawn_server(kind, keys)?;
    let ready = t0.elapsed().as_secs_f64() * 1e3;
    let scn = SCENARIOS
        .iter()
        .find(|s| s.server == kind && s.cred == Cred::Access)
        .expect("a protected scenario per protected server");
    let h = headers(scn, keys, &server, None);
    let deadline = t0 + Duration::from_secs(10);
    let mut last: String;
    loop {
        match post(server.port, scn.path, &h, scn.body) {
            Ok(r)
                if r.status == 200
                    && String::from_utf8_lossy(&r.body).contains(EXPECTED_TEXT)
                    && !String::from_utf8_lossy(&r.body).contains("\"isError\":true") =>
            {
                return Ok((ready, t0.elapsed().as_secs_f64() * 1e3));
            }
            Ok(r) => last = format!("{} {}", r.status, r.text()),
            Err(e) => last = e,
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{kind}: no protected 200 within 10 s; last answer: {last}"
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

// ---- the mode -----------------------------------------------------------------------

struct Summary {
    scn: Scn,
    rounds: Vec<Run>,
    rss_idle_kib: Option<u64>,
}

impl Summary {
    fn med(&self, f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.rounds.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(v))
    }
    fn rps(&self) -> f64 {
        self.med(|r| Some(r.w.rps)).unwrap_or(f64::NAN)
    }
}

/// Pins this process (every thread) to CPU 1, next to wrk.
fn pin_self() {
    let ok = Command::new("taskset")
        .args(["-a", "-p", "-c", "1"])
        .arg(std::process::id().to_string())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("warning: could not pin the benchmark process to CPU 1");
    }
}

pub fn main(args: &Args) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, String> {
    check_tools()?;
    let scns = select(&args.scenario)?;
    if args.seconds.fract() != 0.0 || args.warmup.fract() != 0.0 {
        return Err("the wrk mode takes whole seconds for --seconds and --warmup".into());
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    if cpus < 2 {
        return Err(format!(
            "the wrk mode needs 2 CPUs (one for the server, one for wrk); {cpus} available"
        ));
    }
    pin_self();
    let (access_token, n, e) = auth_apps::rs256_token_and_components();
    let keys = Keys { n, e, access_token };
    let dir = std::env::temp_dir().join(format!("widgetry-bench-wrk-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = run_in(args, &scns, &keys, dir.clone());
    let _ = fs::remove_dir_all(&dir);
    result
}

fn run_in(args: &Args, scns: &[Scn], keys: &Keys, dir: PathBuf) -> Result<ExitCode, String> {
    let mut kinds: Vec<&'static str> = Vec::new();
    for s in scns {
        if !kinds.contains(&s.server) {
            kinds.push(s.server);
        }
    }
    let mut servers = Vec::new();
    for k in &kinds {
        servers.push(spawn_server(k, keys)?.0);
    }
    let mut ctx = Ctx {
        args,
        keys,
        dir,
        servers,
    };

    let wrk_version = Command::new("wrk")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default();
    let total = (args.warmup + args.seconds) * (args.rounds * scns.len()) as f64;
    println!(
        "widgetry-bench (wrk mode): {} connections, {:.0} s warm-up + {} s measured per run, {} rounds of [{}] (~{:.0} s + start-up runs)",
        args.connections,
        args.warmup,
        args.seconds,
        args.rounds,
        scns.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
        total
    );
    println!("servers: one child process each (`widgetry-bench serve`), pinned to CPU 0, 1 worker thread; load: `taskset -c 1 wrk -t1 -c{}` ({wrk_version})", args.connections);

    // Probe every scenario; widgetry's public answers must be the baseline's bytes.
    let mut reference: Option<Vec<u8>> = None;
    let mut summaries = Vec::new();
    for s in scns {
        let server = ctx.server(s.server);
        let session = if s.session {
            Some(open_session(server)?)
        } else {
            None
        };
        let h = headers(s, keys, server, session.as_deref());
        let r = probe(s, server, &h)?;
        match s.name {
            BASE_PUBLIC => reference = Some(r.body.clone()),
            PUBLIC | SESSION | SESSION_REDIS | SESSION_PG | PROTECTED => {
                if let Some(b) = &reference {
                    if *b != r.body {
                        return Err(format!(
                            "{} answers different bytes than the baseline:\n  baseline: {}\n  {}: {}",
                            s.name,
                            String::from_utf8_lossy(b),
                            s.name,
                            r.text()
                        ));
                    }
                }
            }
            BASE_401 | W401 => println!(
                "{:<26} 401, WWW-Authenticate: {}; body: {} bytes",
                s.name,
                r.header("www-authenticate").unwrap_or(""),
                r.body.len()
            ),
            _ => {}
        }
        summaries.push(Summary {
            scn: *s,
            rounds: Vec::new(),
            rss_idle_kib: rss_kib(server.pid),
        });
    }
    println!();

    for round in 1..=args.rounds {
        for sm in summaries.iter_mut() {
            let r = match ctx.run(&sm.scn) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("bench: {e}");
                    eprintln!("bench: aborting: a benchmark with wrong answers measures nothing");
                    ctx.servers.clear();
                    return Ok(ExitCode::FAILURE);
                }
            };
            println!(
                "round {round} {:<26} {:>9.0} req/s  p50 {:>6.0} µs  p99 {:>6.0} µs  server cpu {:>4}%  {:>5} µs/req  wrk cpu {:>4}%  other {:>4}%  rss {:>6} KiB",
                sm.scn.name,
                r.w.rps,
                r.w.pct[0],
                r.w.pct[3],
                opt(r.server_pct, 0),
                opt(r.server_us, 1),
                opt(r.wrk_pct, 0),
                opt(r.other_pct, 0),
                r.rss_load_kib.map_or("-".into(), |k| k.to_string()),
            );
            sm.rounds.push(r);
        }
    }
    ctx.servers.clear();

    // Start → first protected 200, interleaved.
    let mut starts: Vec<(&'static str, Vec<(f64, f64)>)> = vec![
        ("widgetry-protected", Vec::new()),
        ("baseline-verify-per-call", Vec::new()),
    ];
    for i in 1..=args.start_runs {
        for (kind, v) in starts.iter_mut() {
            let (ready, first) = start_time(kind, keys)?;
            println!("start run {i} {kind:<26} ready {ready:>6.1} ms  first protected 200 {first:>6.1} ms");
            v.push((ready, first));
        }
    }

    let summaries = drop_disturbed(summaries, args.max_other);
    report(&summaries, &starts);
    Ok(ExitCode::SUCCESS)
}

fn drop_disturbed(summaries: Vec<Summary>, max_other: f64) -> Vec<Summary> {
    let other: Vec<Vec<Option<f64>>> = summaries
        .iter()
        .map(|s| s.rounds.iter().map(|r| r.other_pct).collect())
        .collect();
    let Some(kept) = crate::rounds::kept_rounds(&other, max_other) else {
        return summaries;
    };
    summaries
        .into_iter()
        .map(|s| Summary {
            rounds: crate::rounds::keep(s.rounds, &kept),
            ..s
        })
        .collect()
}

fn report(summaries: &[Summary], starts: &[(&'static str, Vec<(f64, f64)>)]) {
    let find = |n: &str| summaries.iter().find(|s| s.scn.name == n);
    // Each scenario's reference: 401s against the bare 401, sessions in a shared store
    // against in-memory sessions, the rest against the public baseline.
    let reference = |n: &str| {
        if n == W401 || n == BASE_401 {
            BASE_401
        } else if n == SESSION_REDIS || n == SESSION_PG {
            SESSION
        } else {
            BASE_PUBLIC
        }
    };
    println!();
    println!(
        "median of {} rounds (server CPU/req: the server process's CPU time per request; wrk CPU: wrk's process; RSS: VmRSS before any load / the largest seen under load):",
        summaries[0].rounds.len()
    );
    println!(
        "| {:<26} | {:>9} | {:>7} | {:>7} | {:>7} | {:>14} | {:>10} | {:>7} | {:>9} | {:>12} | {:>12} | {:>22} |",
        "scenario", "req/s", "p50 µs", "p90 µs", "p99 µs", "server CPU/req", "server CPU", "wrk CPU", "other CPU", "RSS idle KiB", "RSS load KiB", "vs reference"
    );
    println!(
        "|{:-<28}|{:->11}|{:->9}|{:->9}|{:->9}|{:->16}|{:->12}|{:->9}|{:->11}|{:->14}|{:->14}|{:->24}|",
        "", ":", ":", ":", ":", ":", ":", ":", ":", ":", ":", ":"
    );
    for s in summaries {
        let refn = reference(s.scn.name);
        let ratio = find(refn).map(|b| s.rps() / b.rps());
        println!(
            "| {:<26} | {:>9.0} | {:>7.0} | {:>7.0} | {:>7.0} | {:>11} µs | {:>9}% | {:>6}% | {:>8}% | {:>12} | {:>12} | {:>22} |",
            s.scn.name,
            s.rps(),
            s.med(|r| Some(r.w.pct[0])).unwrap_or(f64::NAN),
            s.med(|r| Some(r.w.pct[2])).unwrap_or(f64::NAN),
            s.med(|r| Some(r.w.pct[3])).unwrap_or(f64::NAN),
            opt(s.med(|r| r.server_us), 1),
            opt(s.med(|r| r.server_pct), 0),
            opt(s.med(|r| r.wrk_pct), 0),
            opt(s.med(|r| r.other_pct), 0),
            s.rss_idle_kib.map_or("-".into(), |k| k.to_string()),
            opt(s.med(|r| r.rss_load_kib.map(|k| k as f64)), 0),
            format!("{} × {refn}", opt(ratio, 2)),
        );
    }
    println!();
    let ratio = |a: &str, b: &str| -> Option<f64> {
        let (a, b) = (find(a)?, find(b)?);
        Some(a.rps() / b.rps())
    };
    let per_round = |a: &str, b: &str| -> String {
        let (Some(a), Some(b)) = (find(a), find(b)) else {
            return String::new();
        };
        a.rounds
            .iter()
            .zip(&b.rounds)
            .map(|(x, y)| format!("{:.2}", x.w.rps / y.w.rps))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let cpu_ratio = |a: &str, b: &str| -> Option<f64> {
        Some(find(b)?.med(|r| r.server_us)? / find(a)?.med(|r| r.server_us)?)
    };
    for (a, b, goal) in [
        (PUBLIC, BASE_PUBLIC, Some(0.8)),
        (SESSION, BASE_PUBLIC, Some(0.6)),
        (SESSION_REDIS, SESSION, Some(0.9)),
        (SESSION_PG, SESSION, Some(0.9)),
        (PROTECTED, BASE_PUBLIC, Some(0.7)),
        (PROTECTED, VERIFY, None),
        (W401, BASE_401, None),
        (ACTION, BASE_PUBLIC, Some(0.6)),
        (OBSERVED, SESSION, Some(0.9)),
    ] {
        if let Some(r) = ratio(a, b) {
            let g = match goal {
                Some(g) if r >= g => format!(" (goal >= {g:.1}: met)"),
                Some(g) => format!(" (goal >= {g:.1}: NOT met)"),
                None => String::new(),
            };
            println!(
                "{a} / {b}: {r:.2}{g}; per round: {}; server CPU per request ratio: {}",
                per_round(a, b),
                opt(cpu_ratio(a, b), 2)
            );
        }
    }
    let mut start_ms = [None, None];
    for (i, (kind, v)) in starts.iter().enumerate() {
        if v.is_empty() {
            continue;
        }
        let ready = median(v.iter().map(|x| x.0).collect());
        let first = median(v.iter().map(|x| x.1).collect());
        start_ms[i] = Some(first);
        let goal = if i == 0 {
            format!(
                " (goal <= 15 ms: {})",
                if first <= 15.0 { "met" } else { "NOT met" }
            )
        } else {
            String::new()
        };
        println!(
            "start -> first protected 200, {kind}: median {first:.1} ms over {} runs (ready line {ready:.1} ms){goal}",
            v.len()
        );
    }
    let busy = summaries
        .iter()
        .filter_map(|s| s.med(|r| r.other_pct))
        .fold(0.0, f64::max);
    if busy >= 10.0 {
        println!(
            "warning: other processes used {busy:.0}% of a core during the runs: figures are noisy"
        );
    }
    for s in summaries {
        if let Some(w) = s.med(|r| r.wrk_pct) {
            if w >= 90.0 {
                println!(
                    "warning: {}: wrk used {w:.0}% of its core: wrk, not the server, may have set the pace (compare server CPU/req)",
                    s.scn.name
                );
            }
        }
    }
    let f3 = |x: Option<f64>| x.map_or("n/a".into(), |v| format!("{v:.3}"));
    let f1 = |x: Option<f64>| x.map_or("n/a".into(), |v| format!("{v:.1}"));
    println!(
        "bench: mode=wrk public_ratio={} session_ratio={} protected_ratio={} protected_vs_verify_ratio={} anon_401_ratio={} action_ratio={} start_first_200_ms={} baseline_start_first_200_ms={}",
        f3(ratio(PUBLIC, BASE_PUBLIC)),
        f3(ratio(SESSION, BASE_PUBLIC)),
        f3(ratio(PROTECTED, BASE_PUBLIC)),
        f3(ratio(PROTECTED, VERIFY)),
        f3(ratio(W401, BASE_401)),
        f3(ratio(ACTION, BASE_PUBLIC)),
        f1(start_ms[0]),
        f1(start_ms[1]),
    );
    let stores = [
        ("session_redis_vs_memory", ratio(SESSION_REDIS, SESSION)),
        ("session_postgres_vs_memory", ratio(SESSION_PG, SESSION)),
        ("cpu_redis", cpu_ratio(SESSION_REDIS, SESSION)),
        ("cpu_postgres", cpu_ratio(SESSION_PG, SESSION)),
    ];
    let stores: Vec<String> = stores
        .iter()
        .map(|(name, v)| format!("{name}={}", f3(*v)))
        .collect();
    println!("bench: mode=wrk-stores {}", stores.join(" "));
    // The same ratios from server CPU time per request (reference / scenario): what the
    // throughput ratios would be with a core to itself; steadier on a shared machine.
    println!(
        "bench: mode=wrk-cpu public_ratio={} session_ratio={} protected_ratio={} protected_vs_verify_ratio={} anon_401_ratio={} action_ratio={}",
        f3(cpu_ratio(PUBLIC, BASE_PUBLIC)),
        f3(cpu_ratio(SESSION, BASE_PUBLIC)),
        f3(cpu_ratio(PROTECTED, BASE_PUBLIC)),
        f3(cpu_ratio(PROTECTED, VERIFY)),
        f3(cpu_ratio(W401, BASE_401)),
        f3(cpu_ratio(ACTION, BASE_PUBLIC)),
    );
    // Observability's price: the observed session server over the plain one.
    println!(
        "bench: mode=wrk-observed observed_vs_session_ratio={} observed_vs_session_cpu_ratio={}",
        f3(ratio(OBSERVED, SESSION)),
        f3(cpu_ratio(OBSERVED, SESSION)),
    );
}
