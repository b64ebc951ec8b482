//! Graceful shutdown of the real `showcase` binary: with SSE streams open (legacy
//! `/sse` and Streamable HTTP `GET /mcp`), SIGTERM ends every stream at once (the
//! client sees the end of the body, not a hung connection), the process exits with
//! status 0 well within its grace period, and nothing is left listening.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use support::{free_port, Showcase, TempDir};

/// Opens a streaming GET on a fresh connection and returns it once the answer's head
/// (and the first event) has arrived.
fn open_stream(port: u16, path: &str, headers: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n{headers}\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).expect("read the stream's head"),
            1,
            "closed early"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    assert!(head.contains("text/event-stream"), "GET {path}: {head}");
    s
}

/// Reads until the server ends the body; how long that took.
fn wait_for_end(mut s: TcpStream) -> Result<Duration, String> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(start.elapsed()),
            Ok(n) if buf[..n].ends_with(b"0\r\n\r\n") => return Ok(start.elapsed()),
            Ok(_) => continue,
            Err(e) => return Err(format!("the stream did not end: {e}")),
        }
    }
}

fn initialize(port: u16) -> String {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"shutdown-test","version":"1"}}}"#;
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("initialize answer");
    out.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("mcp-session-id:")
                .then(|| l.split_once(':').map(|(_, v)| v.trim().to_string()))
                .flatten()
        })
        .unwrap_or_else(|| panic!("no Mcp-Session-Id in {out}"))
}

#[test]
fn sigterm_ends_open_sse_streams_and_exits_within_the_grace_period() {
    let dir = TempDir::new("shutdown");
    let port = free_port();
    let mut app = Showcase::on_port(port)
        .env("WIDGETRY_DATA_DIR", dir.0.join("data"))
        .env("WIDGETRY_SHUTDOWN_GRACE_SECS", "5")
        .start();
    let mut streams = Vec::new();
    for _ in 0..8 {
        streams.push(open_stream(port, "/sse", ""));
    }
    for _ in 0..4 {
        let sid = initialize(port);
        let h = format!("Mcp-Session-Id: {sid}\r\nMcp-Protocol-Version: 2025-06-18\r\n");
        streams.push(open_stream(port, "/mcp", &h));
    }
    let readers: Vec<_> = streams
        .into_iter()
        .map(|s| thread::spawn(move || wait_for_end(s)))
        .collect();
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let status = app
        .terminate(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", app.tail(30)));
    let exited = started.elapsed();
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}\n{}",
        app.tail(30)
    );
    assert!(
        exited < Duration::from_secs(3),
        "took {exited:?} to exit with streams open (they must end at once, not at the 5 s grace)"
    );
    for r in readers {
        let took = r.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            took < Duration::from_secs(5),
            "a stream ended only after {took:?}"
        );
    }
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "something still listens on {port} after exit"
    );
}
