//! The command line itself, through the real binary: help (`--help` and `help
//! <command>`), "did you mean" suggestions, usage errors, and shell completion scripts
//! (run in a real bash).

use std::process::{Command, Output, Stdio};

mod common;
use common::{stderr, stdout, WIDGETRY};

fn widgetry(args: &[&str]) -> Output {
    Command::new(WIDGETRY)
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null())
        .output()
        .expect("run widgetry")
}

#[test]
fn help_lists_every_command_and_no_arguments_shows_it_as_a_usage_error() {
    let out = widgetry(&["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for command in [
        "new",
        "add",
        "build",
        "dev",
        "host",
        "tools",
        "call",
        "users",
        "clients",
        "token",
        "completions",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "{command} missing from:\n{text}"
        );
    }
    assert!(
        !text.contains("conformance-client"),
        "hidden command listed"
    );
    let bare = widgetry(&[]);
    assert_eq!(bare.status.code(), Some(2));
    assert!(
        stderr(&bare).contains("Usage: widgetry"),
        "{}",
        stderr(&bare)
    );
}

#[test]
fn help_command_prints_the_same_help_as_the_commands_own_flag() {
    for path in [
        &["tools"][..],
        &["host"],
        &["users", "add"],
        &["clients", "add"],
    ] {
        let mut via_help = vec!["help"];
        via_help.extend_from_slice(path);
        let mut via_flag = path.to_vec();
        via_flag.push("--help");
        let a = widgetry(&via_help);
        let b = widgetry(&via_flag);
        assert!(a.status.success() && b.status.success(), "{path:?}");
        assert_eq!(stdout(&a), stdout(&b), "{path:?}");
        assert!(
            stdout(&a).contains(&format!("Usage: widgetry {}", path.join(" "))),
            "{}",
            stdout(&a)
        );
    }
    let out = widgetry(&["help", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn misspelled_commands_and_options_get_a_suggestion() {
    let out = widgetry(&["tols"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unrecognized subcommand 'tols'"), "{err}");
    assert!(
        err.contains("a similar subcommand exists: 'tools'"),
        "{err}"
    );

    let out = widgetry(&["tools", "--jsn"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a similar argument exists: '--json'"),
        "{}",
        stderr(&out)
    );

    let out = widgetry(&["users", "remov"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("'remove'"), "{}", stderr(&out));
}

#[test]
fn bad_values_are_usage_errors_naming_the_option() {
    let out = widgetry(&["new", "x", "--template", "fancy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("[possible values: basic, auth, actions, react]"),
        "{}",
        stderr(&out)
    );
    let out = widgetry(&["token", "--user", "a@example.com", "--ttl", "5w"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--ttl") && stderr(&out).contains("unknown unit"),
        "{}",
        stderr(&out)
    );
    let out = widgetry(&["tools", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = widgetry(&["dev", "--public-url", "http://tunnel.example.com"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("use the https URL the tunnel gives"),
        "{}",
        stderr(&out)
    );
    let out = widgetry(&["clients", "add", "Bot"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--redirect-uri"), "{}", stderr(&out));
}

#[test]
fn version_is_the_crates() {
    let out = widgetry(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        format!("widgetry {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Completes `words` (the last one being typed) with the bash script loaded in a real
/// bash; returns the candidates.
fn bash_complete(script: &str, words: &[&str]) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("widgetry-completions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("widgetry.bash");
    std::fs::write(&file, script).expect("write script");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n_widgetry widgetry '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        file.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash is needed for this test");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "bash: {}", stderr(&out));
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn bash_completion_completes_commands_options_and_values() {
    let out = widgetry(&["completions", "bash"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    let commands = bash_complete(&script, &["widgetry", "to"]);
    assert!(
        commands.contains(&"tools".to_string()) && commands.contains(&"token".to_string()),
        "{commands:?}"
    );
    assert!(!commands.contains(&"users".to_string()), "{commands:?}");
    let options = bash_complete(&script, &["widgetry", "tools", "--js"]);
    assert_eq!(options, ["--json"]);
    let templates = bash_complete(&script, &["widgetry", "new", "app", "--template", ""]);
    assert_eq!(templates, ["basic", "auth", "actions", "react"]);
}

#[test]
fn completion_scripts_exist_for_each_shell() {
    for (shell, marker) in [
        ("zsh", "#compdef widgetry"),
        ("fish", "complete -c widgetry"),
        ("elvish", "edit:completion:arg-completer[widgetry]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = widgetry(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains(marker), "{shell}: {}", stdout(&out));
        assert!(
            stdout(&out).contains("host"),
            "{shell} lacks the host command"
        );
    }
    let out = widgetry(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}
