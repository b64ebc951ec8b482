//! `widgetry dev`: builds the app and runs it in development mode with the embedded
//! authorization server and SQLite stores under the app's data folder (`.widgetry/`), the
//! local host page on, and the app's own lines (MCP URL, host page, demo user) passed
//! through. It then watches (polling every 500 ms):
//!
//! - `widgets/<name>/`: rebuilds that widget and reports it (or why it fails). The app
//!   reloads widget HTML from disk in development without a restart, and open host pages
//!   re-render it (they listen to `/_widgetry/host/events` for `widgets-changed`);
//! - `src/`, `Cargo.toml`, `build.rs`, and widgets added or removed: `cargo build`, then
//!   restarts the app; when the build fails the running app stays up.
//!
//! Ctrl-C stops the app and the command.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::build::{build_widget, build_widgets, cargo_build, Project};
use super::CommandError;
use crate::http::HttpUrl;
use crate::options::UsageError;

/// How often the sources are checked.
const POLL: Duration = Duration::from_millis(500);

/// `widgetry dev`: run the app for development.
///
/// The app runs with WIDGETRY_DEV=1 (widgets reload from disk), WIDGETRY_HOST_PAGE=1 (the
/// local host page at /_widgetry/host) and WIDGETRY_DATA_DIR=<app>/.widgetry (the embedded
/// authorization server's SQLite store, the app's data and the demo user's password),
/// unless WIDGETRY_DATA_DIR is already set.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run the app for development: rebuild widgets on change, rebuild and restart \
                  on Rust changes.\n\nThe app runs with WIDGETRY_DEV=1 (widgets reload from disk), \
                  WIDGETRY_HOST_PAGE=1 (the local host page at /_widgetry/host) and \
                  WIDGETRY_DATA_DIR=<app>/.widgetry (the embedded authorization server's store, the \
                  app's data and the demo user's password), unless WIDGETRY_DATA_DIR is already set."
)]
pub struct Args {
    /// The port (0 picks a free one)
    #[arg(long, value_name = "N", default_value_t = 8000)]
    port: u16,
    /// The app's folder [default: found upwards from the current one]
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Open the host page in the browser once the app is up
    #[arg(long)]
    open: bool,
    /// The public URL a tunnel (cloudflared, ngrok, …) gives the app, e.g.
    /// https://abc.trycloudflare.com: the app gets it as WIDGETRY_PUBLIC_URL (its issuer,
    /// resource and token audience; its Host and Origin allowed)
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
}

/// A validated `widgetry dev` invocation.
#[derive(Debug)]
pub struct Config {
    project: Option<PathBuf>,
    port: u16,
    open: bool,
    public: Option<PublicUrl>,
    /// Set once the host page was opened (only the first start opens it).
    opened: Arc<AtomicBool>,
}

/// Checks the options.
pub fn config(args: Args) -> Result<Config, UsageError> {
    Ok(Config {
        project: args.project,
        port: args.port,
        open: args.open,
        public: args
            .public_url
            .as_deref()
            .map(PublicUrl::parse)
            .transpose()?,
        opened: Arc::new(AtomicBool::new(false)),
    })
}

/// The app's public address behind a tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `https://host[:port]` (`WIDGETRY_PUBLIC_URL`, and `WIDGETRY_ALLOWED_ORIGINS` for apps
    /// that do not read it).
    pub origin: String,
    /// Its MCP endpoint, `https://host/mcp` (`RESOURCE_SERVER_URL`, for the same apps).
    pub mcp: String,
    /// `host` (without a port), for `WIDGETRY_ALLOWED_HOSTS`.
    pub host: String,
}

impl PublicUrl {
    /// `https://abc.trycloudflare.com` (or the same with `/mcp`, as hosts are given it).
    /// Plain http is accepted only for loopback hosts: ChatGPT and other hosts reach apps
    /// over https.
    pub fn parse(raw: &str) -> Result<Self, UsageError> {
        let bad = |why: &str| UsageError(format!("--public-url {raw:?}: {why}"));
        let url = HttpUrl::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "https" && !url.is_loopback() {
            return Err(bad(
                "use the https URL the tunnel gives (hosts refuse plain http)",
            ));
        }
        if !url.query_pairs().is_empty() || raw.contains(['#', '?', '@']) {
            return Err(bad("a public URL has no query, fragment or user"));
        }
        if !matches!(url.path_trimmed(), "" | "/mcp") {
            return Err(bad(
                "give the tunnel's origin (the app serves /mcp at its root), like https://abc.trycloudflare.com",
            ));
        }
        let origin = url.origin();
        Ok(Self {
            mcp: format!("{origin}/mcp"),
            host: url.host().to_string(),
            origin,
        })
    }

    /// `list` (a comma-separated environment value) with `item` added.
    fn append(list: Option<std::ffi::OsString>, item: &str) -> String {
        match list.map(|l| l.to_string_lossy().trim().to_string()) {
            Some(l) if !l.is_empty() => format!("{l},{item}"),
            _ => item.to_string(),
        }
    }
}

/// The running app.
struct Running {
    child: Child,
}

impl Running {
    /// SIGTERM (through `kill`), up to 5 s to shut down, then SIGKILL.
    fn stop(mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Newest change among the Rust sources and manifests (not Cargo.lock: cargo writes it).
fn rust_mtime(project: &Project) -> Option<SystemTime> {
    [
        widgetry_bundle::newest_mtime(&project.root.join("src")),
        mtime(&project.root.join("Cargo.toml")),
        mtime(&project.root.join("build.rs")),
    ]
    .into_iter()
    .flatten()
    .max()
}

/// Each widget folder and its newest change.
fn widget_mtimes(project: &Project) -> BTreeMap<String, (PathBuf, Option<SystemTime>)> {
    widgetry_bundle::widget_dirs(&project.widgets_dir())
        .unwrap_or_default()
        .into_iter()
        .map(|(name, dir)| {
            let m = widgetry_bundle::newest_mtime(&dir);
            (name, (dir, m))
        })
        .collect()
}

fn say(line: &str) {
    let mut out = crate::output::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Builds everything and starts the app; on failure reports and returns None.
fn build_and_start(project: &Project, config: &Config, data_dir: &Path) -> Option<Running> {
    let outcomes = {
        let mut out = crate::output::stdout();
        match build_widgets(project, &mut out) {
            Ok(o) => o,
            Err(e) => {
                drop(out);
                say(&format!("widgetry dev: {e}"));
                return None;
            }
        }
    };
    if outcomes.iter().any(|o| o.result.is_err()) {
        say("widgetry dev: fix the widget errors above; waiting for changes…");
        return None;
    }
    say("compiling the app (cargo build)…");
    let built = match cargo_build(project, false) {
        Ok(b) => b,
        Err(e) => {
            say(&format!("widgetry dev: {e}; waiting for changes…"));
            return None;
        }
    };
    match start(&built.executable, project, config, data_dir) {
        Ok(r) => Some(r),
        Err(e) => {
            say(&format!("widgetry dev: {e}"));
            None
        }
    }
}

fn start(
    exe: &Path,
    project: &Project,
    config: &Config,
    data_dir: &Path,
) -> Result<Running, CommandError> {
    let mut command = Command::new(exe);
    command
        .arg("--port")
        .arg(config.port.to_string())
        .current_dir(&project.root)
        .env("WIDGETRY_DEV", "1")
        .env("WIDGETRY_HOST_PAGE", "1")
        .env("WIDGETRY_DATA_DIR", data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(public) = &config.public {
        command
            .env("WIDGETRY_PUBLIC_URL", &public.origin)
            .env("RESOURCE_SERVER_URL", &public.mcp)
            .env(
                "WIDGETRY_ALLOWED_HOSTS",
                PublicUrl::append(std::env::var_os("WIDGETRY_ALLOWED_HOSTS"), &public.host),
            )
            .env(
                "WIDGETRY_ALLOWED_ORIGINS",
                PublicUrl::append(std::env::var_os("WIDGETRY_ALLOWED_ORIGINS"), &public.origin),
            );
    }
    let mut child = command
        .spawn()
        .map_err(|e| CommandError::Failed(format!("cannot start {}: {e}", exe.display())))?;
    let open = config.open.then(|| config.opened.clone());
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                say(&line);
                let Some(page) = line.strip_prefix("host page: ") else {
                    continue;
                };
                if let Some(flag) = &open {
                    if !flag.swap(true, Ordering::SeqCst) && !crate::browser::open(page.trim()) {
                        say("widgetry dev: no browser to open here (set BROWSER); open the host page above yourself");
                    }
                }
            }
        });
    }
    Ok(Running { child })
}

/// The watch loop; returns when `stop` is set.
fn dev_loop(
    project: Project,
    config: Config,
    stop: Arc<AtomicBool>,
) -> Result<ExitCode, CommandError> {
    let data_dir = project.data_dir();
    say(&format!(
        "widgetry dev: {} (data in {})",
        project.root.display(),
        data_dir.display()
    ));
    if let Some(public) = &config.public {
        say(&format!(
            "public URL: {} (give it to ChatGPT or another host; the tunnel forwards it to the app's port below)",
            public.mcp
        ));
    }
    let mut rust_seen = rust_mtime(&project);
    let mut widgets_seen = widget_mtimes(&project);
    let mut app = build_and_start(&project, &config, &data_dir);
    say("watching widgets/, src/, Cargo.toml and build.rs (Ctrl-C to stop)");
    'watch: loop {
        let until = Instant::now() + POLL;
        while Instant::now() < until {
            if stop.load(Ordering::SeqCst) {
                break 'watch;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(r) = &mut app {
            if let Ok(Some(status)) = r.child.try_wait() {
                say(&format!(
                    "widgetry dev: the app exited ({status}); it restarts on the next change"
                ));
                app = None;
            }
        }
        let rust_now = rust_mtime(&project);
        let widgets_now = widget_mtimes(&project);
        let added_or_removed = !widgets_now.keys().eq(widgets_seen.keys());
        if rust_now != rust_seen || added_or_removed {
            let what = if added_or_removed {
                "a widget was added or removed"
            } else {
                "the Rust sources changed"
            };
            say(&format!("widgetry dev: {what}; rebuilding…"));
            rust_seen = rust_now;
            widgets_seen = widgets_now;
            // Build while the old app keeps serving; swap only when the build works.
            let outcomes = {
                let mut out = crate::output::stdout();
                build_widgets(&project, &mut out).unwrap_or_default()
            };
            if outcomes.iter().any(|o| o.result.is_err()) {
                say("widgetry dev: fix the widget errors above; the running app is unchanged");
                continue;
            }
            say("compiling the app (cargo build)…");
            match cargo_build(&project, false) {
                Ok(built) => {
                    if let Some(old) = app.take() {
                        old.stop();
                    }
                    say("widgetry dev: restarting the app");
                    app = match start(&built.executable, &project, &config, &data_dir) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            say(&format!("widgetry dev: {e}"));
                            None
                        }
                    };
                }
                Err(e) => say(&format!(
                    "widgetry dev: {e}; {}",
                    if app.is_some() {
                        "the running app is unchanged"
                    } else {
                        "waiting for changes"
                    }
                )),
            }
            // Edits made during the build are picked up on the next round.
            continue;
        }
        for (name, (dir, m)) in &widgets_now {
            if widgets_seen.get(name).map(|(_, s)| s) != Some(m) {
                let mut out = crate::output::stdout();
                if let Ok(o) = build_widget(&mut out, "widget changed: ", name, dir) {
                    if o.result.is_ok() {
                        let _ = writeln!(
                            out,
                            "      the app serves the new build now; open host pages re-render it"
                        );
                    }
                }
            }
        }
        widgets_seen = widgets_now;
    }
    say("widgetry dev: stopping the app");
    if let Some(r) = app {
        r.stop();
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `widgetry dev`.
pub async fn run(config: Config) -> Result<ExitCode, CommandError> {
    let project = Project::find(config.project.as_deref())?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let mut task = tokio::task::spawn_blocking(move || dev_loop(project, config, flag));
    let joined = tokio::select! {
        r = &mut task => r,
        _ = tokio::signal::ctrl_c() => {
            stop.store(true, Ordering::SeqCst);
            task.await
        }
    };
    joined.map_err(|e| CommandError::Failed(format!("the watcher failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_gives_the_mcp_endpoint_host_and_origin() {
        let p = PublicUrl::parse("https://abc.trycloudflare.com").unwrap();
        assert_eq!(p.mcp, "https://abc.trycloudflare.com/mcp");
        assert_eq!(p.host, "abc.trycloudflare.com");
        assert_eq!(p.origin, "https://abc.trycloudflare.com");
        let p = PublicUrl::parse("https://x.ngrok.app:8443/mcp/").unwrap();
        assert_eq!(p.mcp, "https://x.ngrok.app:8443/mcp");
        assert_eq!(p.host, "x.ngrok.app");
        assert_eq!(p.origin, "https://x.ngrok.app:8443");
        assert!(PublicUrl::parse("http://127.0.0.1:9000").is_ok());
        for bad in [
            "http://abc.example.com",
            "abc.example.com",
            "https://a.example/mcp?x=1",
            "ftp://a",
            "https://a.example/apps/mcp",
            "https://u@a.example",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allowed_lists_are_extended_not_replaced() {
        assert_eq!(PublicUrl::append(None, "a.example"), "a.example");
        assert_eq!(
            PublicUrl::append(Some("b.example".into()), "a.example"),
            "b.example,a.example"
        );
    }
}
