//! The one-call runner (`widgetry::Runner`) as the real `showcase` binary shows it: its
//! command line (`--help`, a bad argument), one-line errors for a bad setting and a taken
//! port, `--describe` (the tools of the embedded or external set-up, on throwaway stores:
//! the data folder is never created) and `--stdio` (MCP on stdout, nothing else there).

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::TempDir;

/// Variables of the calling shell that would change the showcase's set-up.
const CLEARED: [&str; 6] = [
    "AUTHORIZATION_SERVER_URL",
    "RESOURCE_SERVER_URL",
    "WIDGETRY_DATABASE_URL",
    "WIDGETRY_SESSION_STORE_URL",
    "WIDGETRY_DEV",
    "PORT",
];

fn showcase(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_showcase"));
    cmd.args(args).env("RUST_LOG", "warn").stdin(Stdio::null());
    for k in CLEARED {
        cmd.env_remove(k);
    }
    cmd.envs(envs.iter().copied());
    cmd
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    showcase(args, envs).output().expect("run the showcase")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn bad_arguments_and_settings_end_with_one_line_naming_the_fix() {
    let data = TempDir::new("runner-errors");
    let dir = data.0.display().to_string();
    let help = run(&["--help"], &[]);
    assert!(help.status.success());
    let usage = text(&help.stdout);
    assert!(
        usage.starts_with("usage: showcase [--port N | --stdio] [--describe]"),
        "{usage}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for (args, envs, code, says) in [
        (
            vec!["--verbose"],
            vec![],
            2,
            "error: unknown argument \"--verbose\" (try --help)".to_string(),
        ),
        (
            vec!["--port", "eighty"],
            vec![],
            2,
            "error: --port: \"eighty\" is not a port number (0-65535) (try --help)".into(),
        ),
        (
            vec![],
            vec![("PORT", "http")],
            1,
            "error: PORT: \"http\" is not a port number (0-65535)".into(),
        ),
        (
            vec!["--port", port.as_str()],
            vec![],
            1,
            format!("error: cannot listen on 127.0.0.1:{port}: "),
        ),
        (
            vec!["--port", "0"],
            vec![("AUTHORIZATION_SERVER_URL", "https://issuer.example.com")],
            1,
            "error: auth configuration: AUTHORIZATION_SERVER_URL is set but RESOURCE_SERVER_URL"
                .into(),
        ),
    ] {
        let mut envs = envs;
        envs.push(("WIDGETRY_DATA_DIR", dir.as_str()));
        let out = run(&args, &envs);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?} {envs:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?} {envs:?}: not one line:\n{stderr}");
        assert!(
            lines[0].starts_with(&says),
            "{args:?} {envs:?}: {stderr:?} does not start with {says:?}"
        );
        assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    }
    drop(taken);
}

/// The names of the described tools.
fn tool_names(d: &Value) -> Vec<String> {
    d["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn describe_reports_the_set_up_the_environment_asks_for_without_touching_the_data_folder() {
    let parent = TempDir::new("runner-describe");
    let data = parent.0.join("data");
    let dir = data.display().to_string();
    let out = run(&["--describe"], &[("WIDGETRY_DATA_DIR", &dir)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let embedded: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(embedded["name"], "widgetry-showcase");
    let names = tool_names(&embedded);
    for t in [
        "protected-widget",
        "show_gallery",
        "show_list",
        "authenticate",
    ] {
        assert!(names.iter().any(|n| n == t), "{t} missing: {names:?}");
    }
    // The scopes the tools ask for, and the two the runner was given besides.
    assert_eq!(
        embedded["scopes"],
        serde_json::json!(["admin", "likes:write", "read:data", "user", "write:data"])
    );
    let actions: Vec<&str> = embedded["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(actions, ["like_image", "unlike_image"]);
    assert!(
        !data.exists(),
        "--describe created the data folder {}",
        data.display()
    );

    // Trusting an external issuer: no embedded server, so no sign-in widget.
    let out = run(
        &["--describe"],
        &[
            ("WIDGETRY_DATA_DIR", &dir),
            ("AUTHORIZATION_SERVER_URL", "https://issuer.example.com"),
            ("RESOURCE_SERVER_URL", "https://app.example.com/mcp"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let external: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = tool_names(&external);
    assert!(names.iter().any(|n| n == "show_list"), "{names:?}");
    assert!(!names.iter().any(|n| n == "authenticate"), "{names:?}");
    assert!(!data.exists());
}

#[test]
fn stdio_speaks_mcp_on_stdout_and_nothing_else() {
    let data = TempDir::new("runner-stdio");
    let mut child = showcase(
        &["--stdio"],
        &[("WIDGETRY_DATA_DIR", &data.0.display().to_string())],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("start the showcase");
    let request = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "runner-test", "version": "1"}},
    });
    {
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{request}").unwrap();
        // Closing stdin ends the session and the process.
    }
    let out = child.wait_with_output().expect("wait for the showcase");
    let stdout = text(&out.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    let answer: Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: stdout was {stdout:?}"));
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(
        answer["result"]["serverInfo"]["name"], "widgetry-showcase",
        "{answer}"
    );
    for line in stdout.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "a line that is not JSON-RPC on stdout: {line:?}"
        );
    }
}

#[test]
fn instances_starting_together_on_one_store_share_one_demo_user() {
    let data = TempDir::new("runner-demo-race");
    let dir = data.0.display().to_string();
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                support::Showcase::on_port(support::free_port())
                    .env("WIDGETRY_DATA_DIR", dir)
                    .env("WIDGETRY_DEMO_PASSWORD", "race-demo-password")
                    .wait_for_demo_user()
                    .start()
            })
        })
        .collect();
    for s in starts {
        let showcase = s.join().expect("an instance failed to start");
        assert_eq!(
            showcase.demo_user.as_deref(),
            Some("demo@widgetry.dev / race-demo-password"),
            "{}",
            showcase.tail(20)
        );
    }
}
