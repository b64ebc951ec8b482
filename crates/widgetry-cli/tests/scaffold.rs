//! End-to-end tests of the project commands with the real `widgetry` binary: `new`, `add`,
//! `build` and `dev` make and run real apps, and `users`, `clients` and `token` manage a
//! real embedded authorization server store whose tokens the running app accepts. The
//! apps describe themselves (`--describe`), a misspelt widget constant does not compile,
//! and the README's "by hand" app is built and run as the README shows it.
//!
//! Generated apps depend on this checkout by path and are built with CARGO_TARGET_DIR set
//! to this workspace's target folder, so the dependencies `cargo test` already compiled
//! are reused: only the Widgetry crates (built once more with the apps' `opt-level = 1`
//! for dependencies) and the app itself compile. The build time is printed
//! (`scaffold: …`; run with `--nocapture` to see it).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::{http, message_of, shared_target};

const WIDGETRY: &str = env!("CARGO_BIN_EXE_widgetry");

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A fresh folder under the system temp folder.
fn temp_dir(label: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "widgetry-scaffold-{label}-{}-{}",
        std::process::id(),
        unique()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The CLI in `dir`, with none of the caller's app settings leaking in.
fn cli(dir: &Path) -> Command {
    let mut c = Command::new(WIDGETRY);
    c.current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target())
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .stdin(Stdio::null());
    for k in [
        "WIDGETRY_DATA_DIR",
        "WIDGETRY_DATABASE_URL",
        "WIDGETRY_SESSION_STORE_URL",
        "WIDGETRY_KEY_ENCRYPTION_KEY",
        "WIDGETRY_PATH",
        "RESOURCE_SERVER_URL",
        "AUTHORIZATION_SERVER_URL",
        "WIDGETRY_URL",
    ] {
        c.env_remove(k);
    }
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    cli(dir).args(args).output().expect("run widgetry")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs the CLI and insists on success.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "widgetry {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The app made once for the tests that need a built binary: `new demo --template
/// actions`, `add widget orders --auth required --scopes orders:read`, `add tool ping`,
/// `build`.
struct Built {
    project: PathBuf,
    exe: PathBuf,
    build_output: String,
}

fn built_app() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = temp_dir("app");
        let started = Instant::now();
        ok(&root, &["new", "demo", "--template", "actions"]);
        let project = root.join("demo");
        ok(
            &project,
            &["add", "widget", "orders", "--auth", "required", "--scopes", "orders:read"],
        );
        ok(&project, &["add", "tool", "ping"]);
        let scaffolded = started.elapsed();
        let build_started = Instant::now();
        let build = run(&project, &["build"]);
        let (build_output, build_log) = (text(&build.stdout), text(&build.stderr));
        assert!(
            build.status.success(),
            "widgetry build failed:\n{build_output}\n{build_log}"
        );
        assert!(
            !build_log.contains("`demo` (bin \"demo\") generated"),
            "the generated app builds with warnings:\n{build_log}"
        );
        eprintln!(
            "scaffold: new + add took {:.1}s; widgetry build (widgets + cargo build, CARGO_TARGET_DIR={}) took {:.1}s",
            scaffolded.as_secs_f64(),
            shared_target().display(),
            build_started.elapsed().as_secs_f64()
        );
        let exe = build_output
            .lines()
            .find_map(|l| l.strip_prefix("built "))
            .and_then(|l| l.rsplit_once(" in "))
            .map(|(p, _)| PathBuf::from(p))
            .unwrap_or_else(|| panic!("no `built PATH in …` line in:\n{build_output}"));
        assert!(exe.is_file(), "{} is missing", exe.display());
        Built {
            project,
            exe,
            build_output,
        }
    })
}

/// A process killed when dropped.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line (from now on) starting with `prefix`.
    fn wait_for(&mut self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line starting with {prefix:?} within {within:?}; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

/// Starts the built app on a free port with its data in `data_dir`; returns it and its MCP URL.
fn start_app(built: &Built, data_dir: &Path) -> (Running, String) {
    let mut cmd = Command::new(&built.exe);
    cmd.args(["--port", "0"])
        .current_dir(&built.project)
        .env("WIDGETRY_DATA_DIR", data_dir)
        // Development mode (host page, demo user) is on only when asked for.
        .env("WIDGETRY_DEV", "1")
        .env("RUST_LOG", "warn")
        .env_remove("AUTHORIZATION_SERVER_URL")
        .env_remove("RESOURCE_SERVER_URL")
        .env_remove("WIDGETRY_DATABASE_URL")
        .env_remove("WIDGETRY_SESSION_STORE_URL");
    let mut app = Running::spawn(cmd);
    let url = app
        .wait_for("listening on ", Duration::from_secs(60))
        .trim_start_matches("listening on ")
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    (app, url)
}

/// One stateless (2026-07-28) MCP request; the JSON-RPC response.
fn mcp(url: &str, method: &str, params: Value, token: Option<&str>) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let extra: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("Authorization", b.as_str()))
        .collect();
    mcp_with(url, method, params, &extra)
}

/// [`mcp`] with more headers: its `_meta` carries the protocol version and client
/// capabilities (those of a widget host: the MCP Apps extension), and `Mcp-Method` /
/// `Mcp-Name` route it, as that revision asks.
fn mcp_with(url: &str, method: &str, params: Value, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {
            "extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}
        },
    });
    let name = params
        .get("name")
        .or_else(|| params.get("uri"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", method),
    ];
    if let Some(n) = &name {
        headers.push(("Mcp-Name", n.as_str()));
    }
    headers.extend_from_slice(extra);
    let (status, head, body) = http("POST", url, &headers, &body);
    // Not JSON-RPC (a refusal before the engine): the text, for the assertion messages.
    let message = match message_of(&head, &body) {
        Value::Null => Value::String(format!("{head}\n\n{body}")),
        m => m,
    };
    (status, message)
}

fn tools(url: &str) -> Vec<Value> {
    let (status, r) = mcp(url, "tools/list", json!({}), None);
    assert_eq!(status, 200, "{r}");
    r["result"]["tools"].as_array().expect("tools").clone()
}

fn tool<'a>(tools: &'a [Value], name: &str) -> &'a Value {
    tools
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool {name} in {tools:?}"))
}

/// The URI `widgetry build` reported for a widget.
fn built_uri(build_output: &str, widget: &str) -> String {
    let line = build_output
        .lines()
        .find(|l| l.contains(&format!("building widget {widget}… ok (")))
        .unwrap_or_else(|| panic!("no progress line for {widget} in:\n{build_output}"));
    line.split(", ")
        .find_map(|p| {
            p.strip_prefix("ui://")
                .map(|u| format!("ui://{}", u.trim_end_matches(')')))
        })
        .unwrap_or_else(|| panic!("no URI in {line:?}"))
}

/// Opens a host page's event stream (`GET …/_widgetry/host/events`) and sends the data of
/// its first `widgets-changed` event. Returns once the stream is open.
fn listen_for_widget_changes(url: &str) -> mpsc::Receiver<String> {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = TcpStream::connect(authority).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(s);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.contains(" 200 "), "{status}");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut changed = false;
        for line in reader.lines().map_while(Result::ok) {
            if line.contains("event: widgets-changed") {
                changed = true;
            } else if changed && line.contains("data:") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    rx
}

#[test]
fn new_add_and_build_make_an_app_whose_tools_carry_their_policies_and_widgets() {
    let built = built_app();
    let out = &built.build_output;
    assert!(out.contains("[1/3] building widget ideas… ok ("), "{out}");
    assert!(out.contains("[2/3] building widget orders… ok ("), "{out}");
    assert!(out.contains("[3/3] building widget welcome… ok ("), "{out}");
    let orders_uri = built_uri(out, "orders");
    let welcome_uri = built_uri(out, "welcome");
    assert!(orders_uri.starts_with("ui://widget/orders-") && orders_uri.ends_with(".html"));

    let project = &built.project;
    for f in [
        "README.md",
        ".gitignore",
        "build.rs",
        "src/main.rs",
        "src/tools/mod.rs",
        "src/tools/orders.rs",
        "src/tools/ping.rs",
        "widgets/orders/widget.js",
    ] {
        assert!(project.join(f).is_file(), "{f} missing");
    }
    let mod_rs = std::fs::read_to_string(project.join("src/tools/mod.rs")).unwrap();
    for module in ["ideas", "orders", "ping", "welcome"] {
        assert!(
            mod_rs.contains(&format!("let b = {module}::register(b, &shared);")),
            "{module} is not registered:\n{mod_rs}"
        );
    }
    // The generated main.rs is the app and its runner, nothing else.
    let main_rs = std::fs::read_to_string(project.join("src/main.rs")).unwrap();
    let lines = main_rs.lines().count();
    eprintln!("scaffold: the generated src/main.rs has {lines} lines");
    assert!(lines < 40, "src/main.rs has {lines} lines:\n{main_rs}");

    let data = temp_dir("data");
    let (mut app, url) = start_app(built, &data);
    app.wait_for("host page: ", Duration::from_secs(10));
    let demo = app.wait_for("demo user: ", Duration::from_secs(10));
    assert!(
        demo.starts_with("demo user: demo@example.com / demo-"),
        "{demo}"
    );

    let list = tools(&url);
    let orders = tool(&list, "show_orders");
    assert_eq!(
        orders["securitySchemes"],
        json!([{"type": "oauth2", "scopes": ["orders:read"]}])
    );
    assert_eq!(orders["_meta"]["ui"]["resourceUri"], json!(orders_uri));
    assert_eq!(orders["annotations"]["readOnlyHint"], json!(true));
    let welcome = tool(&list, "show_welcome");
    assert_eq!(welcome["securitySchemes"], json!([{"type": "noauth"}]));
    assert_eq!(welcome["_meta"]["ui"]["resourceUri"], json!(welcome_uri));
    let ideas = tool(&list, "show_ideas");
    assert_eq!(
        ideas["securitySchemes"],
        json!([{"type": "noauth"}, {"type": "oauth2", "scopes": ["ideas:like"]}])
    );
    assert_eq!(
        ideas["_meta"]["ui"]["resourceUri"],
        json!(built_uri(out, "ideas"))
    );
    assert_eq!(
        tool(&list, "like_idea")["securitySchemes"],
        json!([{"type": "oauth2", "scopes": ["ideas:like"]}])
    );
    let ping = tool(&list, "ping");
    assert_eq!(ping["securitySchemes"], json!([{"type": "noauth"}]));
    assert!(ping["_meta"]["ui"]["resourceUri"].is_null(), "{ping}");

    // The widget is served, with the runtime injected.
    let (_, read) = mcp(&url, "resources/read", json!({"uri": orders_uri}), None);
    let html = read["result"]["contents"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        html.contains("data-widgetry-runtime") && html.contains("show_orders"),
        "{read}"
    );

    // The public tools answer anonymous callers.
    let (_, r) = mcp(
        &url,
        "tools/call",
        json!({"name": "ping", "arguments": {"message": "hi"}}),
        None,
    );
    assert_eq!(r["result"]["structuredContent"]["message"], "hi", "{r}");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_token_minted_for_a_user_is_accepted_by_the_app_for_a_protected_tool() {
    let built = built_app();
    let data = temp_dir("token");
    let data_arg = data.display().to_string();
    let (_app, url) = start_app(built, &data);
    let call = json!({"name": "show_orders", "arguments": {}});

    // Signed out: the tool asks for sign-in.
    let (status, r) = mcp(&url, "tools/call", call.clone(), None);
    assert!(
        status == 401 || r["result"]["isError"] == json!(true),
        "anonymous call was let through: {status} {r}"
    );

    ok(
        &built.project,
        &[
            "users",
            "add",
            "alice@example.com",
            "--name",
            "Alice",
            "--password",
            "correct horse",
            "--scopes",
            "orders:read",
            "--data-dir",
            &data_arg,
        ],
    );
    let token = ok(
        &built.project,
        &[
            "token",
            "--user",
            "alice@example.com",
            "--url",
            &url,
            "--data-dir",
            &data_arg,
        ],
    );
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    let (status, r) = mcp(&url, "tools/call", call.clone(), Some(token));
    assert_eq!(status, 200, "{r}");
    assert_ne!(r["result"]["isError"], json!(true), "{r}");
    assert_eq!(
        r["result"]["structuredContent"]["viewer"]["name"], "Alice",
        "{r}"
    );
    assert_eq!(
        r["result"]["structuredContent"]["viewer"]["scopes"],
        json!(["orders:read"])
    );

    // --json shows the claims: the app's issuer and audience, the user's subject.
    let doc: Value = serde_json::from_str(&ok(
        &built.project,
        &[
            "token",
            "--user",
            "alice@example.com",
            "--url",
            &url,
            "--data-dir",
            &data_arg,
            "--json",
            "--ttl",
            "5m",
        ],
    ))
    .unwrap();
    assert_eq!(doc["claims"]["aud"], json!(url));
    assert_eq!(doc["claims"]["iss"], json!(url.trim_end_matches("/mcp")));
    assert_eq!(doc["claims"]["scope"], "orders:read");
    assert_eq!(doc["expires_in"], 300);

    // A token for another server's URL is refused by this app.
    let other = ok(
        &built.project,
        &[
            "token",
            "--user",
            "alice@example.com",
            "--url",
            "http://127.0.0.1:1/mcp",
            "--data-dir",
            &data_arg,
        ],
    );
    let (status, r) = mcp(&url, "tools/call", call, Some(other.trim()));
    assert!(
        status == 401 || r["result"]["isError"] == json!(true),
        "{status} {r}"
    );

    // The like action of the `actions` template acts for the token's user.
    ok(
        &built.project,
        &[
            "users",
            "add",
            "lin@example.com",
            "--password",
            "likes-a-lot",
            "--scopes",
            "ideas:like",
            "--data-dir",
            &data_arg,
        ],
    );
    let liker = ok(
        &built.project,
        &[
            "token",
            "--user",
            "lin@example.com",
            "--url",
            &url,
            "--data-dir",
            &data_arg,
        ],
    );
    let like = json!({"name": "like_idea", "arguments": {"idea_id": "offline"}});
    let (_, r) = mcp(&url, "tools/call", like.clone(), Some(liker.trim()));
    assert_eq!(
        r["result"]["structuredContent"],
        json!({"idea_id": "offline", "likes": 1, "liked": true}),
        "{r}"
    );
    let (status, r) = mcp(&url, "tools/call", like, Some(token));
    assert!(
        status == 403 || r["result"]["isError"] == json!(true),
        "alice has no ideas:like: {status} {r}"
    );

    // Scopes the user may not grant are refused.
    let out = run(
        &built.project,
        &[
            "token",
            "--user",
            "alice@example.com",
            "--scopes",
            "admin",
            "--url",
            &url,
            "--data-dir",
            &data_arg,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("may not grant admin"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn users_add_list_and_remove_manage_the_embedded_servers_users() {
    let dir = temp_dir("users");
    let data = dir.join("data");
    let data_arg = data.display().to_string();

    let out = run(&dir, &["users", "list", "--data-dir", &data_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("start the app once"),
        "{}",
        text(&out.stderr)
    );

    ok(
        &dir,
        &[
            "users",
            "add",
            "ada@example.com",
            "--name",
            "Ada Lovelace",
            "--password",
            "analytical-engine",
            "--scopes",
            "orders:read,orders:write",
            "--data-dir",
            &data_arg,
        ],
    );
    // Without --password and without a terminal, the password is one line of stdin.
    let mut child = cli(&dir)
        .args(["users", "add", "bob@example.com", "--data-dir", &data_arg])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hunter2hunter2\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("every scope the app supports"));

    let listed = ok(&dir, &["users", "list", "--data-dir", &data_arg]);
    let ada = listed
        .lines()
        .find(|l| l.starts_with("ada@example.com"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        ada.contains("Ada Lovelace") && ada.contains("orders:read orders:write"),
        "{ada}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("bob@example.com") && l.contains("(all)")),
        "{listed}"
    );
    let doc: Value = serde_json::from_str(&ok(
        &dir,
        &["users", "list", "--json", "--data-dir", &data_arg],
    ))
    .unwrap();
    assert_eq!(doc["users"].as_array().map(Vec::len), Some(2), "{doc}");

    // Duplicates and short passwords are refused with the reason.
    let out = run(
        &dir,
        &[
            "users",
            "add",
            "ADA@example.com",
            "--password",
            "whatever-long",
            "--data-dir",
            &data_arg,
        ],
    );
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &dir,
        &[
            "users",
            "add",
            "eve@example.com",
            "--password",
            "short",
            "--data-dir",
            &data_arg,
        ],
    );
    assert!(
        text(&out.stderr).contains("at least 8 characters"),
        "{}",
        text(&out.stderr)
    );

    let token = ok(
        &dir,
        &[
            "token",
            "--user",
            "ada@example.com",
            "--data-dir",
            &data_arg,
            "--json",
        ],
    );
    let doc: Value = serde_json::from_str(&token).unwrap();
    assert_eq!(doc["claims"]["scope"], "orders:read orders:write");
    assert_eq!(doc["claims"]["aud"], "http://127.0.0.1:8000/mcp");

    ok(
        &dir,
        &[
            "users",
            "remove",
            "ada@example.com",
            "--data-dir",
            &data_arg,
        ],
    );
    let listed = ok(&dir, &["users", "list", "--data-dir", &data_arg]);
    assert!(!listed.contains("ada@example.com"), "{listed}");
    let out = run(
        &dir,
        &[
            "users",
            "remove",
            "ada@example.com",
            "--data-dir",
            &data_arg,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no user named"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &dir,
        &[
            "token",
            "--user",
            "ada@example.com",
            "--data-dir",
            &data_arg,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn clients_add_list_and_remove_manage_pre_registered_clients() {
    let dir = temp_dir("clients");
    let data_arg = dir.join("data").display().to_string();
    let out = ok(
        &dir,
        &[
            "clients",
            "add",
            "ChatGPT",
            "--redirect-uri",
            "https://chatgpt.com/connector_platform_oauth_redirect",
            "--id",
            "chatgpt",
            "--confidential",
            "--data-dir",
            &data_arg,
        ],
    );
    assert!(out.contains("client_id: chatgpt"), "{out}");
    assert!(out.contains("client_secret: "), "{out}");
    let out = ok(
        &dir,
        &[
            "clients",
            "add",
            "Local tool",
            "--redirect-uri",
            "http://127.0.0.1:9000/callback",
            "--data-dir",
            &data_arg,
        ],
    );
    assert!(out.contains("token endpoint auth: none"), "{out}");
    // --json: what a script needs (the secret is in it, once).
    let doc: Value = serde_json::from_str(&ok(
        &dir,
        &[
            "clients",
            "add",
            "Deploy script",
            "--redirect-uri",
            "https://deploy.example.com/cb",
            "--confidential",
            "--json",
            "--data-dir",
            &data_arg,
        ],
    ))
    .expect("clients add --json prints JSON");
    let script_id = doc["client_id"].as_str().unwrap_or_default().to_string();
    assert!(!script_id.is_empty(), "{doc}");
    assert!(
        doc["client_secret"].as_str().is_some_and(|s| s.len() >= 16),
        "{doc}"
    );
    assert_eq!(doc["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        doc["redirect_uris"],
        json!(["https://deploy.example.com/cb"])
    );

    let listed = ok(&dir, &["clients", "list", "--data-dir", &data_arg]);
    let row = listed
        .lines()
        .find(|l| l.starts_with("chatgpt "))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        row.contains("pre-registered") && row.contains("client_secret_basic"),
        "{row}"
    );

    let out = run(
        &dir,
        &[
            "clients",
            "add",
            "Bad",
            "--redirect-uri",
            "http://example.com/cb",
            "--data-dir",
            &data_arg,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("non-loopback"),
        "{}",
        text(&out.stderr)
    );

    ok(
        &dir,
        &["clients", "remove", "chatgpt", "--data-dir", &data_arg],
    );
    let doc: Value = serde_json::from_str(&ok(
        &dir,
        &["clients", "list", "--json", "--data-dir", &data_arg],
    ))
    .unwrap();
    let ids: Vec<&str> = doc["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["client_id"].as_str())
        .collect();
    assert!(
        !ids.contains(&"chatgpt") && ids.len() == 2 && ids.contains(&script_id.as_str()),
        "{doc}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn add_widget_react_writes_a_vite_project_wired_to_its_tool() {
    let root = temp_dir("react");
    ok(&root, &["new", "charts", "--template", "auth"]);
    let project = root.join("charts");
    let out = ok(
        &project,
        &[
            "add",
            "widget",
            "sales-chart",
            "--react",
            "--auth",
            "optional",
            "--scopes",
            "sales:read",
        ],
    );
    assert!(out.contains("added tool show_sales_chart (optional sign-in, scopes sales:read) rendering widget sales-chart"), "{out}");
    let w = project.join("widgets/sales-chart");
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(w.join("package.json")).unwrap()).unwrap();
    assert_eq!(package["scripts"]["build"], "tsc --noEmit && vite build");
    assert!(package["dependencies"]["react"].is_string());
    let local = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../packages/widgetry")
        .canonicalize()
        .unwrap();
    assert_eq!(
        package["dependencies"]["widgetry"],
        format!("file:{}", local.display())
    );
    for f in [
        "vite.config.ts",
        "tsconfig.json",
        "index.html",
        "src/main.tsx",
        "src/styles.css",
        ".gitignore",
    ] {
        assert!(w.join(f).is_file(), "{f} missing");
    }
    assert!(std::fs::read_to_string(w.join("src/App.tsx"))
        .unwrap()
        .contains("'show_sales_chart'"));
    let tool = std::fs::read_to_string(project.join("src/tools/sales_chart.rs")).unwrap();
    assert!(
        tool.contains("Tool::new(\"show_sales_chart\", handle)"),
        "{tool}"
    );
    assert!(
        tool.contains(".auth(Auth::optional([\"sales:read\"]))"),
        "{tool}"
    );
    assert!(tool.contains(".widget(widgets::SALES_CHART)"), "{tool}");
    let mod_rs = std::fs::read_to_string(project.join("src/tools/mod.rs")).unwrap();
    for line in [
        "pub mod sales_chart;",
        "let b = sales_chart::register(b, &shared);",
        "let b = account::register(b, &shared);",
    ] {
        assert!(mod_rs.contains(line), "{line} missing from:\n{mod_rs}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn new_and_add_refuse_to_overwrite_and_explain_bad_names() {
    let root = temp_dir("refuse");
    ok(&root, &["new", "shop"]);
    let out = run(&root, &["new", "shop"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already exists and is not empty"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&root, &["new", "My App"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&root, &["new", "x", "--template", "fancy"]);
    assert!(
        text(&out.stderr).contains("[possible values: basic, auth, actions, react]"),
        "{}",
        text(&out.stderr)
    );

    let project = root.join("shop");
    let before = std::fs::read_to_string(project.join("src/tools/mod.rs")).unwrap();
    let out = run(&project, &["add", "widget", "welcome"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&project, &["add", "tool", "show_welcome"]);
    assert!(
        text(&out.stderr).contains("a tool named \"show_welcome\" already exists"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&project, &["add", "tool", "type"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(
        &project,
        &["add", "widget", "x", "--auth", "none", "--scopes", "a"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(project.join("src/tools/mod.rs")).unwrap(),
        before,
        "a refused add changed mod.rs"
    );
    let out = run(&root, &["add", "tool", "ping"]);
    assert!(
        text(&out.stderr).contains("no Widgetry app here"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn build_names_the_widget_file_and_reason_when_a_widget_fails() {
    let root = temp_dir("broken");
    ok(&root, &["new", "broken"]);
    let project = root.join("broken");
    let index = project.join("widgets/welcome/index.html");
    let html = std::fs::read_to_string(&index)
        .unwrap()
        .replace("widget.js", "missing.js");
    std::fs::write(&index, html).unwrap();
    let out = run(&project, &["build"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[1/1] building widget welcome… failed"),
        "{stdout}"
    );
    assert!(stdout.contains("widgets/welcome/missing.js"), "{stdout}");
    assert!(
        text(&out.stderr).contains("1 of 1 widgets failed to build: welcome"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !stdout.contains("compiling the app"),
        "cargo ran after a widget failed: {stdout}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn dev_runs_the_app_reloads_changed_widgets_and_restarts_on_rust_changes() {
    let root = temp_dir("dev");
    ok(&root, &["new", "devdemo"]);
    let project = root.join("devdemo");
    // --open runs $BROWSER with the host page; this one writes down what it was given.
    let opened = root.join("opened.txt");
    let browser = root.join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" >> '{}'\n", opened.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = cli(&project);
    cmd.args([
        "dev",
        "--port",
        "0",
        "--open",
        "--public-url",
        "https://tunnel.example.com",
    ])
    .env("RUST_LOG", "warn")
    .env("BROWSER", &browser);
    let mut dev = Running::spawn(cmd);
    dev.wait_for(
        "public URL: https://tunnel.example.com/mcp",
        Duration::from_secs(10),
    );
    let url = dev
        .wait_for("listening on ", Duration::from_secs(300))
        .trim_start_matches("listening on ")
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let host = dev.wait_for("host page: ", Duration::from_secs(10));
    dev.wait_for("demo user: demo@example.com / ", Duration::from_secs(10));
    let (status, _, page) = http("GET", host.trim_start_matches("host page: "), &[], "");
    assert_eq!(status, 200);
    assert!(page.contains("<html"), "{page}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !opened.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let later: Vec<String> = dev.lines.try_iter().collect();
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap_or_default().trim(),
        host.trim_start_matches("host page: ").trim(),
        "--open did not open the host page; widgetry dev said:\n{}\n{}",
        dev.seen.join("\n"),
        later.join("\n")
    );
    dev.seen.extend(later);

    // --public-url: the app names the tunnel's URL as its resource and accepts its Host.
    let prm_url = url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp");
    let (status, _, prm) = http("GET", &prm_url, &[("Host", "tunnel.example.com")], "");
    assert_eq!(status, 200, "{prm}");
    let prm: Value = serde_json::from_str(&prm).unwrap_or_else(|e| panic!("{e}: {prm}"));
    assert_eq!(prm["resource"], "https://tunnel.example.com/mcp", "{prm}");
    let through = |host: &str| mcp_with(&url, "tools/list", json!({}), &[("Host", host)]);
    let (status, body) = through("tunnel.example.com");
    assert_eq!(status, 200, "the tunnel's Host was refused: {body}");
    let (status, body) = through("other.example.com");
    assert_eq!(status, 403, "another Host got through: {body}");
    assert!(
        project.join(".widgetry/authz.sqlite3").is_file(),
        "the store is not under .widgetry"
    );
    let uri = tool(&tools(&url), "show_welcome")["_meta"]["ui"]["resourceUri"]
        .as_str()
        .unwrap()
        .to_string();

    // A widget edit: rebuilt and reported; the running app serves it under the same URI
    // and tells open host pages (their event stream) to re-render it.
    let events = listen_for_widget_changes(&format!(
        "{}/events",
        host.trim_start_matches("host page: ")
    ));
    let css = project.join("widgets/welcome/widget.css");
    let mut style = std::fs::read_to_string(&css).unwrap();
    style.push_str("\n.marker-from-dev-test { color: red; }\n");
    std::fs::write(&css, style).unwrap();
    dev.wait_for(
        "widget changed: building widget welcome… ok",
        Duration::from_secs(30),
    );
    let (_, read) = mcp(&url, "resources/read", json!({"uri": uri}), None);
    assert!(
        read["result"]["contents"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("marker-from-dev-test"),
        "the app still serves the old widget"
    );
    let event = events
        .recv_timeout(Duration::from_secs(15))
        .expect("no widgets-changed event reached the host page's stream");
    assert!(event.contains("\"welcome\""), "{event}");

    // A Rust change (a new tool): rebuilt and restarted, with the new tool.
    ok(&project, &["add", "tool", "ping"]);
    dev.wait_for("widgetry dev: restarting the app", Duration::from_secs(300));
    let url = dev
        .wait_for("listening on ", Duration::from_secs(60))
        .trim_start_matches("listening on ")
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    tool(&tools(&url), "ping");
    assert_eq!(
        std::fs::read_to_string(&opened)
            .unwrap_or_default()
            .lines()
            .count(),
        1,
        "the restart opened the host page again"
    );

    // Ctrl-C stops the app and the command.
    let status = Command::new("kill")
        .args(["-INT", &dev.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    dev.wait_for("widgetry dev: stopping the app", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Some(s) = dev.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "widgetry dev did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(code.success(), "{code}");
    let gone =
        TcpStream::connect(url.trim_start_matches("http://").trim_end_matches("/mcp")).is_err();
    assert!(gone, "the app still listens after widgetry dev stopped");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_app_describes_its_tools_widgets_and_scopes_without_touching_its_data() {
    let built = built_app();
    let data = temp_dir("describe").join("never-created");
    let out = Command::new(&built.exe)
        .arg("--describe")
        .current_dir(&built.project)
        .env("WIDGETRY_DATA_DIR", &data)
        .env_remove("AUTHORIZATION_SERVER_URL")
        .env_remove("WIDGETRY_DATABASE_URL")
        .output()
        .expect("run --describe");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let d: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(d["name"], "demo");
    assert_eq!(d["scopes"], json!(["ideas:like", "orders:read"]), "{d}");
    let tool = |name: &str| {
        d["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no tool {name} in {d}"))
            .clone()
    };
    let orders = tool("show_orders");
    assert_eq!(orders["auth"], "required");
    assert_eq!(orders["scopes"], json!(["orders:read"]));
    assert_eq!(orders["widget"], "orders");
    assert_eq!(tool("ping")["auth"], "none");
    assert!(tool("ping").get("widget").is_none(), "{d}");
    let ideas = tool("show_ideas");
    assert_eq!(ideas["auth"], "optional");
    assert_eq!(ideas["widget_actions"], json!(["like_idea", "unlike_idea"]));
    let actions: Vec<&str> = d["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(actions, ["like_idea", "unlike_idea"], "{d}");
    let widgets: Vec<&str> = d["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    assert_eq!(widgets, ["ideas", "orders", "welcome"], "{d}");
    assert!(
        !data.exists(),
        "--describe created the data folder {}",
        data.display()
    );

    // The CLI learns the app's scopes from it: a scope no tool asks for is pointed out.
    let store = temp_dir("describe-users");
    let out = run(
        &built.project,
        &[
            "users",
            "add",
            "kim@example.com",
            "--password",
            "kim-password-1",
            "--scopes",
            "orders:read,orders:wrte",
            "--data-dir",
            &store.display().to_string(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no tool of the app asks for orders:wrte "),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("orders:read "),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&store);
}

#[test]
fn a_tool_naming_a_widget_that_has_no_folder_does_not_compile() {
    let root = temp_dir("typo");
    ok(&root, &["new", "typo"]);
    let project = root.join("typo");
    let tool = project.join("src/tools/welcome.rs");
    let source = std::fs::read_to_string(&tool).unwrap();
    assert!(source.contains("widgets::WELCOME)"), "{source}");
    std::fs::write(
        &tool,
        source.replace("widgets::WELCOME)", "widgets::WELCOM)"),
    )
    .unwrap();
    let out = run(&project, &["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let errors = text(&out.stderr);
    assert!(
        errors.contains("error[E0425]") && errors.contains("`WELCOM`"),
        "rustc did not name the missing widget constant:\n{errors}"
    );
    assert!(
        errors.contains("cargo build failed"),
        "widgetry build did not report the failed compile:\n{errors}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// The fenced block of `readme` whose first line starts with `first`.
fn readme_block(readme: &str, first: &str) -> String {
    let mut blocks = readme.split("```").skip(1).step_by(2);
    let block = blocks
        .find_map(|b| {
            let body = b.split_once('\n')?.1;
            body.starts_with(first).then(|| body.to_string())
        })
        .unwrap_or_else(|| panic!("the README has no code block starting with {first:?}"));
    block
}

#[test]
fn the_readme_app_builds_runs_and_answers_a_signed_in_call() {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let checkout = std::fs::canonicalize(&checkout).unwrap();
    let readme = std::fs::read_to_string(checkout.join("README.md")).unwrap();
    let root = temp_dir("readme");
    let app = root.join("shop");
    let cargo_toml = readme_block(&readme, "# Cargo.toml");
    for dep in ["widgetry = \"0.1\"", "widgetry-bundle = \"0.1\""] {
        assert!(cargo_toml.contains(dep), "{dep} missing:\n{cargo_toml}");
    }
    // The README's crates.io dependencies, pointed at this checkout; and the profile and
    // lock file of the workspace, so the compiled dependencies in its target folder fit.
    let cargo_toml = cargo_toml
        .replace(
            "widgetry = \"0.1\"",
            &format!(
                "widgetry = {{ path = {:?} }}",
                checkout.join("crates/widgetry")
            ),
        )
        .replace(
            "widgetry-bundle = \"0.1\"",
            &format!(
                "widgetry-bundle = {{ path = {:?} }}",
                checkout.join("crates/widgetry-bundle")
            ),
        )
        + "\n[profile.dev.package.\"*\"]\nopt-level = 1\n\n[workspace]\n";
    for (path, text) in [
        ("Cargo.toml", cargo_toml),
        ("build.rs", readme_block(&readme, "// build.rs")),
        (
            "widgets/orders/index.html",
            readme_block(&readme, "<!-- widgets/orders/index.html"),
        ),
        ("src/main.rs", readme_block(&readme, "// src/main.rs")),
    ] {
        let full = app.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    std::fs::copy(checkout.join("Cargo.lock"), app.join("Cargo.lock")).unwrap();
    let build = ok(&app, &["build"]);
    let exe = build
        .lines()
        .find_map(|l| l.strip_prefix("built "))
        .and_then(|l| l.rsplit_once(" in "))
        .map(|(p, _)| PathBuf::from(p))
        .unwrap_or_else(|| panic!("no `built PATH in …` line in:\n{build}"));

    // Run as in production: no host page, no demo user; the embedded authorization server.
    let data = root.join("data");
    let mut cmd = Command::new(&exe);
    cmd.args(["--port", "0"])
        .current_dir(&app)
        .env("WIDGETRY_DATA_DIR", &data)
        .env("RUST_LOG", "warn")
        .env_remove("WIDGETRY_DEV")
        .env_remove("AUTHORIZATION_SERVER_URL")
        .env_remove("RESOURCE_SERVER_URL")
        .env_remove("WIDGETRY_DATABASE_URL")
        .env_remove("WIDGETRY_SESSION_STORE_URL");
    let mut running = Running::spawn(cmd);
    let url = running
        .wait_for("listening on ", Duration::from_secs(60))
        .trim_start_matches("listening on ")
        .to_string();
    let issuer = running.wait_for("authorization server: ", Duration::from_secs(10));
    assert_eq!(
        issuer,
        format!(
            "authorization server: {} (embedded)",
            url.trim_end_matches("/mcp")
        )
    );
    running.wait_for(
        "widget orders: ui://widget/orders-",
        Duration::from_secs(10),
    );
    assert!(
        !running
            .seen
            .iter()
            .any(|l| l.starts_with("demo user:") || l.starts_with("host page:")),
        "development extras outside development: {:?}",
        running.seen
    );
    // Its only tool needs sign-in, so the whole server does.
    let call = json!({"name": "show_orders", "arguments": {"limit": 2}});
    let (status, r) = mcp(&url, "tools/call", call.clone(), None);
    assert_eq!(status, 401, "an anonymous call got through: {r}");
    let data_arg = data.display().to_string();
    ok(
        &app,
        &[
            "users",
            "add",
            "ada@example.com",
            "--password",
            "analytical-engine",
            "--scopes",
            "orders:read",
            "--data-dir",
            &data_arg,
        ],
    );
    let token = ok(
        &app,
        &[
            "token",
            "--user",
            "ada@example.com",
            "--url",
            &url,
            "--data-dir",
            &data_arg,
        ],
    );
    let token = token.trim();
    let (status, r) = mcp(&url, "tools/list", json!({}), Some(token));
    assert_eq!(status, 200, "{r}");
    let orders = tool(
        r["result"]["tools"].as_array().expect("tools"),
        "show_orders",
    )
    .clone();
    assert_eq!(
        orders["securitySchemes"],
        json!([{"type": "oauth2", "scopes": ["orders:read"]}])
    );
    let uri = orders["_meta"]["ui"]["resourceUri"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, read) = mcp(&url, "resources/read", json!({"uri": uri}), Some(token));
    let html = read["result"]["contents"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        html.contains("data-widgetry-runtime") && html.contains("getElementById(\"orders\")"),
        "{read}"
    );
    let (status, r) = mcp(&url, "tools/call", call, Some(token));
    assert_eq!(status, 200, "{r}");
    let listed = r["result"]["structuredContent"]["orders"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(listed.len(), 2, "{r}");
    assert!(
        listed[0]
            .as_str()
            .unwrap_or_default()
            .starts_with("order 1 of "),
        "{r}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
