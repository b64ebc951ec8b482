//! `widgetry build`: builds every widget of the app (running `npm run build` first where a
//! widget has a `package.json`, once: the app's build.rs reuses a fresh `dist/`), with one
//! progress line per widget and the file and reason when one fails, then `cargo build`;
//! `--json` prints the outcome as one JSON document (progress then goes to stderr). Also
//! home of [`Project`] (finding the app a command runs in) and the widget and cargo steps
//! `widgetry dev` reuses.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use serde_json::Value;

use super::CommandError;
use crate::output::{paint, BAD, OK};

/// `widgetry build`: bundle every widget (npm builds included), then `cargo build`.
/// Cargo's own settings apply (CARGO_TARGET_DIR, CARGO_NET_OFFLINE, …).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// cargo build --release
    #[arg(long)]
    release: bool,
    /// Bundle the widgets and stop (no cargo build)
    #[arg(long)]
    widgets_only: bool,
    /// Print the outcome as JSON on stdout (the progress lines go to stderr)
    #[arg(long)]
    json: bool,
    /// The app's folder [default: the folder holding Cargo.toml and widgets/, searched
    /// upwards from the current one]
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
}

/// A validated `widgetry build` invocation.
#[derive(Debug)]
pub struct Config {
    project: Option<PathBuf>,
    release: bool,
    widgets_only: bool,
    json: bool,
}

/// Checks the options (nothing to check beyond what clap did).
pub fn config(args: Args) -> Config {
    Config {
        project: args.project,
        release: args.release,
        widgets_only: args.widgets_only,
        json: args.json,
    }
}

/// A Widgetry app on disk: a folder with `Cargo.toml` and `widgets/`.
#[derive(Debug, Clone)]
pub struct Project {
    /// The folder holding `Cargo.toml`.
    pub root: PathBuf,
}

impl Project {
    /// The app at `dir`, or (without one) the nearest folder upwards from the current one
    /// that holds both `Cargo.toml` and `widgets/`.
    pub fn find(dir: Option<&Path>) -> Result<Self, CommandError> {
        if let Some(d) = dir {
            return if is_project(d) {
                Ok(Self { root: absolute(d) })
            } else {
                Err(CommandError::Failed(format!(
                    "{} is not a Widgetry app: it needs a Cargo.toml and a widgets/ folder",
                    d.display()
                )))
            };
        }
        Self::search().ok_or_else(|| {
            CommandError::Failed(
                "no Widgetry app here: run this inside an app made by `widgetry new` (a folder with Cargo.toml and widgets/), or pass --project DIR".into(),
            )
        })
    }

    /// The nearest app upwards from the current folder, if any.
    pub fn search() -> Option<Self> {
        let cwd = std::env::current_dir().ok()?;
        cwd.ancestors().find(|d| is_project(d)).map(|d| Self {
            root: d.to_path_buf(),
        })
    }

    /// `widgets/`.
    pub fn widgets_dir(&self) -> PathBuf {
        self.root.join("widgets")
    }

    /// `src/tools/mod.rs`.
    pub fn tools_mod(&self) -> PathBuf {
        self.root.join("src").join("tools").join("mod.rs")
    }

    /// Where `widgetry dev` keeps the app's data: `WIDGETRY_DATA_DIR`, else `.widgetry`.
    pub fn data_dir(&self) -> PathBuf {
        match std::env::var_os("WIDGETRY_DATA_DIR").filter(|v| !v.is_empty()) {
            Some(d) => absolute(Path::new(&d)),
            None => self.root.join(".widgetry"),
        }
    }
}

fn is_project(d: &Path) -> bool {
    d.join("Cargo.toml").is_file() && d.join("widgets").is_dir()
}

/// `p` made absolute against the current folder (not canonicalized).
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// How a widget is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Plain files, bundled as they are.
    Files,
    /// An npm widget without `node_modules`: `npm install`, then `npm run build`.
    NpmInstallAndBuild,
    /// An npm widget: `npm run build`.
    NpmBuild,
    /// An npm widget whose `dist/` is newer than its sources: bundled as it is.
    NpmUpToDate,
}

impl How {
    /// What the widget folder `dir` needs.
    pub fn of(dir: &Path) -> Self {
        if !dir.join("package.json").exists() {
            Self::Files
        } else if !dir.join("node_modules").exists() {
            Self::NpmInstallAndBuild
        } else if widgetry_bundle::npm_dist_fresh(dir) {
            Self::NpmUpToDate
        } else {
            Self::NpmBuild
        }
    }

    /// As the progress line and `--json` say it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Files => "files",
            Self::NpmInstallAndBuild => "npm install, npm run build",
            Self::NpmBuild => "npm run build",
            Self::NpmUpToDate => "npm: dist up to date",
        }
    }
}

/// One widget's build outcome.
pub struct WidgetOutcome {
    /// The widget (folder) name.
    pub name: String,
    /// What ran for it.
    pub how: How,
    /// How long it took.
    pub seconds: f64,
    /// The bundle, or why it failed.
    pub result: Result<widgetry_bundle::Bundle, widgetry_bundle::BundleError>,
}

/// `12.4 KiB`.
pub fn human_size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// The URI an app built from this bundle gives the widget.
pub fn widget_uri(b: &widgetry_bundle::Bundle) -> String {
    format!("ui://widget/{}-{}.html", b.name, b.hash)
}

/// Builds one widget and prints `building widget NAME… ok (SIZE, URI)` or `failed` with
/// the reason, after `prefix` (e.g. `[1/3] `).
pub fn build_widget(
    out: &mut impl Write,
    prefix: &str,
    name: &str,
    dir: &Path,
) -> std::io::Result<WidgetOutcome> {
    let how = How::of(dir);
    let shown = match how {
        How::Files => String::new(),
        npm => format!(" ({})", npm.label()),
    };
    write!(out, "{prefix}building widget {name}{shown}… ")?;
    out.flush()?;
    let started = Instant::now();
    let result = widgetry_bundle::bundle_dir(name, dir);
    let seconds = started.elapsed().as_secs_f64();
    match &result {
        Ok(b) => {
            let time = if seconds >= 1.0 {
                format!(", {seconds:.1}s")
            } else {
                String::new()
            };
            writeln!(
                out,
                "{} ({}, {}{time})",
                paint(OK, "ok"),
                human_size(b.html.len()),
                widget_uri(b)
            )?
        }
        Err(e) => writeln!(out, "{}\n      {}", paint(BAD, "failed"), explain(e, dir))?,
    }
    out.flush()?;
    Ok(WidgetOutcome {
        name: name.to_string(),
        how,
        seconds,
        result,
    })
}

/// The bundler's error, with a hint where one helps.
fn explain(e: &widgetry_bundle::BundleError, dir: &Path) -> String {
    use widgetry_bundle::BundleError as E;
    let text = e.to_string().replace('\n', "\n      ");
    match e {
        E::Npm(_, m) if m.contains("cannot run npm") => format!(
            "{text}\n      (this widget has a package.json: install Node.js and npm, or remove {} to use plain files)",
            dir.join("package.json").display()
        ),
        _ => text,
    }
}

/// Builds every widget under `widgets/`, one progress line each.
pub fn build_widgets(
    project: &Project,
    out: &mut impl Write,
) -> Result<Vec<WidgetOutcome>, CommandError> {
    let dir = project.widgets_dir();
    let widgets = widgetry_bundle::widget_dirs(&dir)
        .map_err(|e| CommandError::Failed(format!("cannot list the widgets: {e}")))?;
    if widgets.is_empty() {
        writeln!(
            out,
            "no widgets in {} (add one with `widgetry add widget NAME`)",
            dir.display()
        )?;
    }
    let n = widgets.len();
    let mut outcomes = Vec::new();
    for (i, (name, wdir)) in widgets.iter().enumerate() {
        outcomes.push(build_widget(out, &format!("[{}/{n}] ", i + 1), name, wdir)?);
    }
    Ok(outcomes)
}

/// The executable built by `cargo build`.
#[derive(Debug, Clone)]
pub struct Built {
    /// Its path.
    pub executable: PathBuf,
}

/// Runs `cargo build` in the app (cargo's progress and diagnostics go to stderr) and
/// returns the app's executable.
pub fn cargo_build(project: &Project, release: bool) -> Result<Built, CommandError> {
    cargo_build_with(project, release, false)
}

/// [`cargo_build`] (debug) without cargo's progress lines: only its diagnostics show.
pub fn cargo_build_quietly(project: &Project) -> Result<Built, CommandError> {
    cargo_build_with(project, false, true)
}

fn cargo_build_with(project: &Project, release: bool, quiet: bool) -> Result<Built, CommandError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    if quiet {
        cmd.arg("--quiet");
    }
    cmd.arg("build")
        .arg("--message-format=json-render-diagnostics")
        .current_dir(&project.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if release {
        cmd.arg("--release");
    }
    // Run from `cargo run` or a test, we inherit the variables cargo sets for one crate.
    // Build scripts (ring's, for one) ask to rerun when they change, so passing them on
    // would rebuild those crates and everything above them on every switch.
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        let per_crate = [
            "OUT_DIR",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_MANIFEST_LINKS",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
        ]
        .contains(&k)
            || ["CARGO_PKG_", "CARGO_CFG_", "CARGO_BIN_EXE_"]
                .iter()
                .any(|p| k.starts_with(p));
        if per_crate {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().map_err(|e| {
        CommandError::Failed(format!(
            "cannot run {}: {e} (is Rust installed? https://rustup.rs)",
            Path::new(&cargo).display()
        ))
    })?;
    let manifest = std::fs::canonicalize(project.root.join("Cargo.toml")).ok();
    let mut executable = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if msg["reason"] != "compiler-artifact" {
                continue;
            }
            let Some(exe) = msg["executable"].as_str() else {
                continue;
            };
            let same = msg["manifest_path"]
                .as_str()
                .and_then(|m| std::fs::canonicalize(m).ok())
                .is_some_and(|m| Some(&m) == manifest.as_ref());
            let is_bin = msg["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
            if same && is_bin {
                executable = Some(PathBuf::from(exe));
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| CommandError::Failed(format!("cargo build: {e}")))?;
    if !status.success() {
        return Err(CommandError::Failed(
            "cargo build failed (the compiler's messages are above)".into(),
        ));
    }
    executable
        .map(|executable| Built { executable })
        .ok_or_else(|| {
            CommandError::Failed(format!(
                "cargo build succeeded but produced no executable for {}",
                project.root.join("Cargo.toml").display()
            ))
        })
}

/// What `widgetry build --json` prints.
#[derive(Debug, serde::Serialize)]
struct Report {
    ok: bool,
    widgets: Vec<WidgetReport>,
    /// The app's executable (null with `--widgets-only` or when something failed).
    executable: Option<PathBuf>,
    seconds: f64,
}

/// One widget in the report.
#[derive(Debug, serde::Serialize)]
struct WidgetReport {
    name: String,
    ok: bool,
    how: &'static str,
    seconds: f64,
    bytes: Option<usize>,
    uri: Option<String>,
    error: Option<String>,
}

impl From<&WidgetOutcome> for WidgetReport {
    fn from(o: &WidgetOutcome) -> Self {
        let (bytes, uri, error) = match &o.result {
            Ok(b) => (Some(b.html.len()), Some(widget_uri(b)), None),
            Err(e) => (None, None, Some(e.to_string())),
        };
        Self {
            name: o.name.clone(),
            ok: o.result.is_ok(),
            how: o.how.label(),
            seconds: o.seconds,
            bytes,
            uri,
            error,
        }
    }
}

/// Runs `widgetry build`.
pub async fn run(config: Config) -> Result<ExitCode, CommandError> {
    let project = Project::find(config.project.as_deref())?;
    let started = Instant::now();
    // With --json, stdout carries the report alone.
    let mut out: Box<dyn Write> = if config.json {
        Box::new(crate::output::stderr())
    } else {
        Box::new(crate::output::stdout())
    };
    let outcomes = build_widgets(&project, &mut out)?;
    let mut report = Report {
        ok: false,
        widgets: outcomes.iter().map(WidgetReport::from).collect(),
        executable: None,
        seconds: 0.0,
    };
    let finish = |report: &mut Report, ok: bool| -> Result<(), CommandError> {
        report.ok = ok;
        report.seconds = started.elapsed().as_secs_f64();
        if config.json {
            crate::output::json(report)?;
        }
        Ok(())
    };
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.name.as_str())
        .collect();
    if !failed.is_empty() {
        finish(&mut report, false)?;
        return Err(CommandError::Failed(format!(
            "{} of {} widgets failed to build: {}",
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        )));
    }
    if config.widgets_only {
        writeln!(
            out,
            "widgets built in {:.1}s",
            started.elapsed().as_secs_f64()
        )?;
        finish(&mut report, true)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "compiling the app (cargo build{})…",
        if config.release { " --release" } else { "" }
    )?;
    out.flush()?;
    let built = match cargo_build(&project, config.release) {
        Ok(b) => b,
        Err(e) => {
            finish(&mut report, false)?;
            return Err(e);
        }
    };
    writeln!(
        out,
        "built {} in {:.1}s",
        built.executable.display(),
        started.elapsed().as_secs_f64()
    )?;
    out.flush()?;
    drop(out);
    report.executable = Some(built.executable);
    finish(&mut report, true)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_person_would_write_them() {
        assert_eq!(human_size(900), "900 B");
        assert_eq!(human_size(12_698), "12.4 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
    }
}
