//! Interop: the official MCP SDK clients (Python `mcp`, TypeScript
//! `@modelcontextprotocol/sdk`) against the real `conformance` binary, over
//! Streamable HTTP (`/mcp`) and the legacy HTTP+SSE transport (`GET /sse`,
//! `POST /messages?sessionId=…`).
//!
//! Each test starts its own server on a free 127.0.0.1 port, runs one client
//! script (tests/interop/py_client.py or tests/node/interop_client.mjs) that
//! initializes, lists tools and calls one tool, and checks the JSON line the
//! client prints. The clients are installed by `./scripts/test.sh` (a venv at
//! .venv and tests/node/node_modules); `WIDGETRY_PYTHON` and
//! `WIDGETRY_NODE_DIR` override where they are looked for.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const SIMPLE_TEXT: &str = "This is a simple text response for testing.";
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);
/// The clients give up after 20 s themselves; this is the backstop.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root (two levels above examples/conformance) exists")
}

/// The `conformance` binary, running until dropped.
struct Server {
    child: Child,
    port: u16,
    streamable_url: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start() -> Server {
        let mut last_failure = String::new();
        // A port picked by binding :0 can be taken again before the server
        // binds it, and then the server exits: try again on another port.
        for _ in 0..3 {
            match Server::try_start(free_port()) {
                Ok(server) => return server,
                Err(StartFailure::Exited(failure)) => last_failure = failure,
                Err(StartFailure::Fatal(failure)) => {
                    panic!("could not start the conformance server: {failure}")
                }
            }
        }
        panic!("could not start the conformance server (3 tries): {last_failure}");
    }

    fn try_start(port: u16) -> Result<Server, StartFailure> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_conformance"))
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                StartFailure::Fatal(format!(
                    "spawning {}: {e}",
                    env!("CARGO_BIN_EXE_conformance")
                ))
            })?;

        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut child_stderr = child.stderr.take().expect("stderr is piped");
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = child_stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        // Read stdout on a thread (and keep draining it so the server never
        // blocks on a full pipe); hand back the first `listening on` line.
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        thread::spawn(move || {
            let mut announced = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !announced {
                    if let Some(at) = line.find("listening on ") {
                        announced = true;
                        let _ = tx.send(line[at + "listening on ".len()..].trim().to_string());
                    }
                }
            }
        });

        let mut server = Server {
            child,
            port,
            streamable_url: String::new(),
            stderr,
        };
        match rx.recv_timeout(SERVER_START_TIMEOUT) {
            Ok(url) => {
                let expected = format!("http://127.0.0.1:{port}/mcp");
                if url != expected {
                    return Err(StartFailure::Fatal(format!(
                        "server announced `listening on {url}`, expected {expected}{}",
                        server.stderr_tail()
                    )));
                }
                server.streamable_url = url;
                Ok(server)
            }
            // stdout closed without the line: the server is exiting.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server.wait_for_exit(Duration::from_secs(5));
                Err(StartFailure::Exited(format!(
                    "the server closed stdout without printing `listening on http://127.0.0.1:{port}/mcp` ({}){}",
                    status.map_or_else(|| "still running".to_string(), |s| s.to_string()),
                    server.stderr_tail()
                )))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(StartFailure::Fatal(format!(
                "no `listening on http://127.0.0.1:{port}/mcp` line on stdout within {SERVER_START_TIMEOUT:?}{}",
                server.stderr_tail()
            ))),
        }
    }

    /// Waits up to `limit` for the child to exit, then a moment more for
    /// the stderr reader to collect what it wrote.
    fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                thread::sleep(Duration::from_millis(100));
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn url(&self, transport: Transport) -> String {
        match transport {
            Transport::Streamable => self.streamable_url.clone(),
            Transport::Sse => format!("http://127.0.0.1:{}/sse", self.port),
        }
    }

    fn stderr_tail(&self) -> String {
        let text = self.stderr.lock().unwrap();
        if text.trim().is_empty() {
            return String::new();
        }
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("\n--- server stderr (last lines) ---\n{tail}\n---")
    }
}

enum StartFailure {
    /// The server exited before announcing itself (maybe the port was taken).
    Exited(String),
    /// Anything else: retrying will not help.
    Fatal(String),
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding 127.0.0.1:0 to find a free port")
        .port()
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Streamable,
    Sse,
}

impl Transport {
    fn arg(self) -> &'static str {
        match self {
            Transport::Streamable => "streamable",
            Transport::Sse => "sse",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Sdk {
    Python,
    Node,
}

const SETUP_HINT: &str =
    "run ./scripts/test.sh once (or ./scripts/test.sh --setup-only) to install the SDK clients";

impl Sdk {
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
                cmd.arg(root.join("tests/interop/py_client.py"));
                cmd
            }
            Sdk::Node => {
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
                cmd.arg(node_dir.join("interop_client.mjs"));
                cmd
            }
        }
    }
}

/// What a client printed: its JSON line.
struct ClientRun {
    out: Value,
}

/// Runs one SDK client against the server and returns its parsed JSON line;
/// panics with the client's stderr (and the server's) when it fails.
fn run_client(sdk: Sdk, server: &Server, transport: Transport, tool: &str) -> ClientRun {
    let url = server.url(transport);
    let mut cmd = sdk.command();
    cmd.args([
        "--url",
        &url,
        "--transport",
        transport.arg(),
        "--tool",
        tool,
        "--args",
        "{}",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let what = format!(
        "{sdk:?} SDK client ({} {url}, tool {tool})",
        transport.arg()
    );
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {what}: {e}; {SETUP_HINT}"));

    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the client") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();

    let Some(status) = status else {
        panic!(
            "the {what} did not finish within {CLIENT_TIMEOUT:?}\nstderr:\n{stderr}{}",
            server.stderr_tail()
        );
    };
    assert!(
        status.success(),
        "the {what} failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}{}",
        server.stderr_tail()
    );
    let line = stdout.lines().last().unwrap_or_default();
    let out: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("the {what} printed no JSON line ({e}):\n{stdout}\nstderr:\n{stderr}")
    });
    ClientRun { out }
}

impl ClientRun {
    fn assert_handshake(&self) {
        let version = self.out["protocolVersion"].as_str().unwrap_or_default();
        assert!(
            !version.is_empty(),
            "no negotiated protocolVersion in {}",
            self.out
        );
        let tools: Vec<&str> = self.out["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("no tools list in {}", self.out))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for name in ["test_simple_text", "test_error_handling"] {
            assert!(tools.contains(&name), "tools/list lacks {name}: {tools:?}");
        }
    }

    fn result(&self) -> &Value {
        &self.out["result"]
    }

    fn is_error(&self) -> Option<bool> {
        match &self.result()["isError"] {
            Value::Null => None,
            value => Some(
                value
                    .as_bool()
                    .unwrap_or_else(|| panic!("isError is not a boolean: {}", self.out)),
            ),
        }
    }
}

fn assert_simple_text(sdk: Sdk, transport: Transport) {
    let server = Server::start();
    let run = run_client(sdk, &server, transport, "test_simple_text");
    run.assert_handshake();
    let first = &run.result()["content"][0];
    assert_eq!(first["type"], "text", "content[0] is not text: {}", run.out);
    assert_eq!(first["text"], SIMPLE_TEXT, "unexpected text: {}", run.out);
    assert_ne!(
        run.is_error(),
        Some(true),
        "test_simple_text reported isError: {}",
        run.out
    );
}

fn assert_tool_error(sdk: Sdk, transport: Transport) {
    let server = Server::start();
    let run = run_client(sdk, &server, transport, "test_error_handling");
    run.assert_handshake();
    assert_eq!(
        run.is_error(),
        Some(true),
        "test_error_handling must return isError: true: {}",
        run.out
    );
    let has_text = run.result()["content"].as_array().is_some_and(|items| {
        items.iter().any(|item| {
            item["type"] == "text" && item["text"].as_str().is_some_and(|t| !t.is_empty())
        })
    });
    assert!(
        has_text,
        "the error result carries no text explaining the error: {}",
        run.out
    );
}

#[test]
fn python_sdk_client_calls_tool_over_streamable_http() {
    assert_simple_text(Sdk::Python, Transport::Streamable);
}

#[test]
fn python_sdk_client_gets_is_error_result_over_streamable_http() {
    assert_tool_error(Sdk::Python, Transport::Streamable);
}

#[test]
fn python_sdk_client_calls_tool_over_legacy_sse() {
    assert_simple_text(Sdk::Python, Transport::Sse);
}

#[test]
fn python_sdk_client_gets_is_error_result_over_legacy_sse() {
    assert_tool_error(Sdk::Python, Transport::Sse);
}

#[test]
fn node_sdk_client_calls_tool_over_streamable_http() {
    assert_simple_text(Sdk::Node, Transport::Streamable);
}

#[test]
fn node_sdk_client_gets_is_error_result_over_streamable_http() {
    assert_tool_error(Sdk::Node, Transport::Streamable);
}

#[test]
fn node_sdk_client_calls_tool_over_legacy_sse() {
    assert_simple_text(Sdk::Node, Transport::Sse);
}

#[test]
fn node_sdk_client_gets_is_error_result_over_legacy_sse() {
    assert_tool_error(Sdk::Node, Transport::Sse);
}
