//! `widgetry new <name>`: a new app crate that builds and runs at once: `Cargo.toml`,
//! `build.rs` (bundles `widgets/` and names each with a constant), `src/main.rs` (the app
//! and `widgetry::Runner`, which does the rest: configuration, the embedded authorization
//! server, a demo user in development, `--port` / `--stdio` / `--describe`),
//! `src/tools/` (one module per tool, registered at marker comments that `widgetry add`
//! extends), a widget, a README and a `.gitignore`.
//!
//! Templates: `basic` (one public tool with a widget), `auth` (plus a tool that needs
//! sign-in), `actions` (plus a widget whose like buttons act for the signed-in user),
//! `react` (basic with its widget in React + TypeScript + Vite: `crate::react_widget`).
//!
//! The app depends on this checkout's crates by path when the CLI was built from one (or
//! `--widgetry-path` / `WIDGETRY_PATH` names one); the checkout's `Cargo.lock` seeds the
//! app's, so both resolve to the same dependency versions and can share a target folder.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::add::{check_name, render, Plan, Policy};
use super::build::absolute;
use super::CommandError;
use crate::options::UsageError;

const CARGO_TOML: &str = include_str!("../../templates/app/Cargo.toml.in");
const BUILD_RS: &str = include_str!("../../templates/app/build.rs");
const MAIN_RS: &str = include_str!("../../templates/app/main.rs");
const TOOLS_MOD: &str = include_str!("../../templates/app/tools_mod.rs");
const README: &str = include_str!("../../templates/app/README.md");
const GITIGNORE: &str = include_str!("../../templates/app/gitignore");
const IDEAS_RS: &str = include_str!("../../templates/actions/ideas.rs");
const IDEAS_HTML: &str = include_str!("../../templates/actions/index.html");
const IDEAS_JS: &str = include_str!("../../templates/actions/ideas.js");
const IDEAS_CSS: &str = include_str!("../../templates/actions/ideas.css");

/// The starting points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// One public tool (show_welcome) with a widget
    Basic,
    /// Basic, plus show_account: a widget tool that needs sign-in (scope account:read)
    Auth,
    /// Basic, plus show_ideas: a widget whose like buttons act for the signed-in user
    /// through widget actions (like_idea / unlike_idea, scope ideas:like)
    Actions,
    /// Basic, with the widget in React + TypeScript + Vite on the `widgetry` npm package
    /// (its hooks; `npm run dev` in the widget hot-reloads it in the host page)
    React,
}

impl Template {
    fn name(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Auth => "auth",
            Self::Actions => "actions",
            Self::React => "react",
        }
    }
}

/// `widgetry new`: create a new Widgetry app that builds and runs at once.
#[derive(Debug, clap::Args)]
#[command(after_help = "Then: cd NAME && widgetry dev")]
pub struct Args {
    /// The app's name (lower-case letters, digits, '_' and '-'); also its folder
    name: String,
    /// The starting point
    #[arg(long, value_enum, default_value_t = Template::Basic)]
    template: Template,
    /// Where to create the app (must be new or empty) [default: ./NAME]
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// A Widgetry checkout to depend on by path [env: WIDGETRY_PATH] [default: the
    /// checkout this CLI was built from, if present]
    #[arg(long, value_name = "DIR")]
    widgetry_path: Option<PathBuf>,
}

/// A validated `widgetry new` invocation.
#[derive(Debug)]
pub struct Config {
    name: String,
    dir: PathBuf,
    template: Template,
    widgetry_path: Option<PathBuf>,
}

/// Checks the options.
pub fn config(args: Args) -> Result<Config, UsageError> {
    let Args {
        name,
        template,
        path: dir,
        widgetry_path,
    } = args;
    check_name("app", &name)?;
    if [
        "test",
        "std",
        "core",
        "alloc",
        "proc_macro",
        "build",
        "widgetry",
    ]
    .contains(&name.as_str())
    {
        return Err(UsageError(format!(
            "{name:?} would clash with a crate cargo or Widgetry already uses; pick another name"
        )));
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
    let widgetry_path = widgetry_path.or_else(|| {
        std::env::var_os("WIDGETRY_PATH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    Ok(Config {
        name,
        dir,
        template,
        widgetry_path,
    })
}

/// Where the Widgetry crates come from.
enum Source {
    /// A checkout (its root).
    Checkout(PathBuf),
    /// crates.io.
    Registry,
}

fn is_checkout(p: &Path) -> bool {
    p.join("crates/widgetry/Cargo.toml").is_file()
        && p.join("crates/widgetry-bundle/Cargo.toml").is_file()
        && p.join("crates/widgetry-authz/Cargo.toml").is_file()
}

fn source(explicit: Option<&Path>) -> Result<Source, CommandError> {
    if let Some(p) = explicit {
        let p = absolute(p);
        return if is_checkout(&p) {
            Ok(Source::Checkout(std::fs::canonicalize(&p).unwrap_or(p)))
        } else {
            Err(CommandError::Failed(format!(
                "{} is not a Widgetry checkout (no crates/widgetry/Cargo.toml)",
                p.display()
            )))
        };
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Ok(match std::fs::canonicalize(&built_from) {
        Ok(p) if is_checkout(&p) => Source::Checkout(p),
        _ => Source::Registry,
    })
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn dependency(name: &str, source: &Source) -> String {
    match source {
        Source::Checkout(root) => {
            let path = root.join("crates").join(name);
            format!(
                "{name} = {{ path = {} }}",
                toml_str(&path.display().to_string())
            )
        }
        Source::Registry => format!("{name} = \"{}\"", env!("CARGO_PKG_VERSION")),
    }
}

/// Every file of the new app, relative to its folder.
fn files(
    name: &str,
    template: Template,
    source: &Source,
) -> Result<Vec<(PathBuf, String)>, String> {
    let widgetry_dep = dependency("widgetry", source);
    let mut out = vec![
        (
            PathBuf::from("Cargo.toml"),
            render(
                CARGO_TOML,
                &[
                    ("name", name),
                    ("widgetry_dep", &widgetry_dep),
                    ("bundle_dep", &dependency("widgetry-bundle", source)),
                ],
            ),
        ),
        (PathBuf::from("build.rs"), BUILD_RS.to_string()),
        (
            PathBuf::from("src/main.rs"),
            render(MAIN_RS, &[("name", name)]),
        ),
        (
            PathBuf::from("README.md"),
            render(README, &[("name", name)]),
        ),
        (PathBuf::from(".gitignore"), GITIGNORE.to_string()),
    ];
    let mut plan = Plan::default();
    if let Source::Checkout(root) = source {
        plan.use_checkout(root);
    }
    plan.widget(
        "welcome",
        "show_welcome",
        &Policy::None,
        template == Template::React,
    );
    let mut instructions = format!(
        "{name}, a Widgetry app. show_welcome shows the getting-started checklist as a widget."
    );
    match template {
        Template::Basic | Template::React => {}
        Template::Auth => {
            plan.widget(
                "account",
                "show_account",
                &Policy::Required(vec!["account:read".into()]),
                false,
            );
            instructions.push_str(" show_account needs the user to sign in.");
        }
        Template::Actions => {
            let like = Policy::Required(vec!["ideas:like".into()]);
            plan.module(
                "ideas",
                vec![
                    (PathBuf::from("src/tools/ideas.rs"), IDEAS_RS.to_string()),
                    (
                        PathBuf::from("widgets/ideas/index.html"),
                        IDEAS_HTML.to_string(),
                    ),
                    (
                        PathBuf::from("widgets/ideas/ideas.js"),
                        IDEAS_JS.to_string(),
                    ),
                    (
                        PathBuf::from("widgets/ideas/ideas.css"),
                        IDEAS_CSS.to_string(),
                    ),
                ],
                &[
                    (
                        "show_ideas",
                        Some("ideas"),
                        Policy::Optional(vec!["ideas:like".into()]),
                    ),
                    ("like_idea", None, like.clone()),
                    ("unlike_idea", None, like),
                ],
            );
            instructions.push_str(
                " show_ideas lists ideas; like_idea and unlike_idea like them for the signed-in user.",
            );
        }
    }
    let skeleton = render(
        TOOLS_MOD,
        &[
            ("modules", ""),
            ("registrations", ""),
            (
                "instructions",
                &instructions.replace('\\', "\\\\").replace('"', "\\\""),
            ),
        ],
    );
    let mod_rs = plan.apply_to_mod_rs(&skeleton)?;
    out.push((PathBuf::from("src/tools/mod.rs"), mod_rs));
    out.extend(plan.files);
    Ok(out)
}

/// Runs `widgetry new`.
pub async fn run(config: Config) -> Result<ExitCode, CommandError> {
    let dir = absolute(&config.dir);
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(CommandError::Failed(format!(
                "{} already exists and is not empty; pick another name or --path",
                dir.display()
            )));
        }
    }
    let source = source(config.widgetry_path.as_deref())?;
    let files = files(&config.name, config.template, &source).map_err(CommandError::Failed)?;
    for (rel, text) in &files {
        let full = dir.join(rel);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                CommandError::Failed(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        std::fs::write(&full, text)
            .map_err(|e| CommandError::Failed(format!("cannot write {}: {e}", full.display())))?;
    }
    match &source {
        Source::Checkout(root) => {
            // The same versions as the checkout: nothing new to download, and a shared
            // CARGO_TARGET_DIR reuses its compiled dependencies.
            let lock = root.join("Cargo.lock");
            if lock.is_file() {
                let _ = std::fs::copy(&lock, dir.join("Cargo.lock"));
            }
        }
        Source::Registry => eprintln!(
            "widgetry: warning: no Widgetry checkout found; the app depends on widgetry {} from crates.io (use --widgetry-path DIR to build against a checkout)",
            env!("CARGO_PKG_VERSION")
        ),
    }
    println!(
        "created {} ({} template){}",
        dir.display(),
        config.template.name(),
        match &source {
            Source::Checkout(root) => format!(", using the Widgetry crates in {}", root.display()),
            Source::Registry => String::new(),
        }
    );
    if config.template == Template::React {
        println!("widgets/welcome is a React + TypeScript widget: `widgetry build` runs npm in it, and `npm run dev` there serves it with hot reload in the host page");
        let package = match &source {
            Source::Checkout(root) => crate::react_widget::package_in(root),
            Source::Registry => None,
        };
        if package.is_none() {
            crate::output::warn("no Widgetry checkout found for the `widgetry` npm package; set WIDGETRY_PATH to one, or edit the \"widgetry\" dependency in widgets/welcome/package.json");
        }
    }
    let mut shown: Vec<&PathBuf> = files.iter().map(|(p, _)| p).collect();
    shown.sort();
    for p in shown {
        println!("  {}", p.display());
    }
    let cd = std::env::current_dir()
        .ok()
        .and_then(|c| dir.strip_prefix(&c).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.clone());
    println!(
        "\nnext:\n  cd {}\n  widgetry dev        # builds, runs, prints the MCP URL, the host page and the demo user",
        cd.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_registers_its_tools_with_their_policies() {
        let src = Source::Checkout(PathBuf::from("/opt/widgetry"));
        for (t, module, policy) in [
            (Template::Basic, "welcome", ".auth(Auth::none())"),
            (
                Template::Auth,
                "account",
                ".auth(Auth::required([\"account:read\"]))",
            ),
            (
                Template::Actions,
                "ideas",
                ".auth(Auth::required([LIKE_SCOPE]))",
            ),
            (Template::React, "welcome", ".auth(Auth::none())"),
        ] {
            let files = files("demo", t, &src).unwrap();
            let get = |p: &str| {
                files
                    .iter()
                    .find(|(f, _)| f == Path::new(p))
                    .map(|(_, t)| t.clone())
                    .unwrap_or_else(|| panic!("{p} missing"))
            };
            let mod_rs = get("src/tools/mod.rs");
            assert!(mod_rs.contains("let b = welcome::register(b, &shared);"));
            assert!(
                mod_rs.contains(&format!("let b = {module}::register(b, &shared);")),
                "{mod_rs}"
            );
            let tool = get(&format!("src/tools/{module}.rs"));
            assert!(tool.contains(policy), "{tool}");
            assert!(
                tool.contains(&format!(
                    ".widget(widgets::{})",
                    widgetry_bundle::const_name(module)
                )),
                "{tool}"
            );
            let cargo = get("Cargo.toml");
            assert!(
                cargo.contains("widgetry = { path = \"/opt/widgetry/crates/widgetry\" }"),
                "{cargo}"
            );
            assert!(cargo.contains("name = \"demo\""));
            assert!(!get("src/main.rs").contains("{{"));
            if t == Template::React {
                assert!(get("widgets/welcome/src/App.tsx").contains("'show_welcome'"));
                assert!(get("widgets/welcome/package.json").contains("\"widgetry\": \"file:"));
            } else {
                assert!(get("widgets/welcome/index.html").contains("<"));
            }
            for (p, text) in &files {
                assert!(
                    !text.contains("{{"),
                    "{} has an unfilled placeholder",
                    p.display()
                );
            }
        }
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_str(r#"C:\a "b""#), r#""C:\\a \"b\"""#);
    }
}
