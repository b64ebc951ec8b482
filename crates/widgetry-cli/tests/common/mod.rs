//! Helpers shared by the CLI's integration tests: the binary, workspace servers to run
//! it against, and a minimal HTTP client.
#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub mod browser;

/// The `widgetry` binary under test.
pub const WIDGETRY: &str = env!("CARGO_BIN_EXE_widgetry");

/// A server process, killed when dropped.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its MCP URL.
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A workspace binary next to ours (`target/<profile>/<name>`).
pub fn sibling(name: &str) -> PathBuf {
    let path = PathBuf::from(WIDGETRY).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build -p {name}`, or run `cargo test --workspace`)",
        path.display()
    );
    path
}

/// The workspace's target folder (`target/<profile>/widgetry` → `target`): apps the tests
/// generate build there too, so the dependencies `cargo test` compiled are reused.
pub fn shared_target() -> PathBuf {
    PathBuf::from(WIDGETRY)
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the binary lives in target/<profile>/")
        .to_path_buf()
}

/// Starts `name --port 0 [args]` with `envs` and waits for its `listening on URL` line.
pub fn start(name: &str, args: &[&str], envs: &[(&str, &str)]) -> Server {
    let mut child = Command::new(sibling(name))
        .args(["--port", "0"])
        .args(args)
        .env_remove("AUTHORIZATION_SERVER_URL")
        .env("RUST_LOG", "warn")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // `listening on URL`, possibly followed by `(public URL …)`.
            if let Some(url) = line
                .strip_prefix("listening on ")
                .and_then(|rest| rest.split_whitespace().next())
            {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => url,
        Err(_) => {
            let _ = child.kill();
            panic!("{name} did not print `listening on …` within 30 s");
        }
    };
    Server { child, url }
}

/// A minimal HTTP/1.1 exchange (Connection: close): status, the header lines (names
/// lower-cased, values as sent), body.
/// A `Host` among `headers` replaces the one taken from the URL.
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = TcpStream::connect(authority).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {authority}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let head = head
        .lines()
        .map(|l| match l.split_once(':') {
            Some((name, value)) => format!("{}:{value}", name.to_ascii_lowercase()),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let body = if head.contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        out
    } else {
        body.to_string()
    };
    (status, head, body)
}

/// The JSON-RPC message in an MCP answer: the body itself, or (for an event stream) the
/// first `data:` line that carries an `id`. `Null` when there is none.
pub fn message_of(head: &str, body: &str) -> serde_json::Value {
    let json_text = if head.contains("content-type: text/event-stream") {
        body.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .find(|d| d.contains("\"id\""))
            .unwrap_or("null")
    } else {
        body
    };
    serde_json::from_str(json_text).unwrap_or(serde_json::Value::Null)
}

/// A finished command's standard output, as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A finished command's standard error, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
