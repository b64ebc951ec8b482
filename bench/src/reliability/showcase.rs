//! One showcase process: started with a chosen environment (nothing inherited that would
//! point it at other stores or issuers), its stderr in a log file, waited for until it
//! prints `listening on`; stopped with SIGKILL (the crash rounds) or on drop; its resident
//! memory read from `/proc`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Variables of the calling shell that would point the showcase elsewhere; each part of
/// the battery sets what it needs.
const CLEARED_ENV: &[&str] = &[
    "AUTH_CHALLENGE",
    "AUTH_CHALLENGE_WITH_401",
    "AUTHORIZATION_SERVER_URL",
    "RESOURCE_SERVER_URL",
    "AUTH_AUDIENCE",
    "AUTH_REQUIRED_SCOPES",
    "AUTH_JWKS_REFRESH_SECS",
    "WIDGETRY_DATABASE_URL",
    "WIDGETRY_SESSION_STORE_URL",
    "WIDGETRY_PUBLIC_URL",
    "WIDGETRY_TRUSTED_PROXIES",
    "WIDGETRY_DATA_DIR",
    "WIDGETRY_DEMO_PASSWORD",
    "WIDGETRY_BIND",
    "PORT",
];

/// The demo user every part signs in as (the showcase creates it).
pub const DEMO_EMAIL: &str = "demo@widgetry.dev";

/// How to start an instance.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The showcase binary.
    pub binary: PathBuf,
    /// The port (fixed, so a restarted instance is found at the same address).
    pub port: u16,
    /// Its environment on top of the cleaned one.
    pub env: Vec<(String, String)>,
    /// Where its stderr goes (appended, so restarts keep one log).
    pub log: PathBuf,
}

/// A running showcase; SIGKILLed on drop.
pub struct Showcase {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
    /// How long from spawn to `listening on`.
    pub started_in: Duration,
    log: PathBuf,
}

impl Launch {
    /// Spawns the instance and waits (up to 60 s) for `listening on`.
    pub fn start(&self) -> Result<Showcase, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let mut cmd = Command::new(&self.binary);
        for k in CLEARED_ENV {
            cmd.env_remove(k);
        }
        cmd.env("RUST_LOG", "warn")
            .args(["--port", &self.port.to_string()])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let begun = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut sent = false;
            while let Some(Ok(line)) = lines.next() {
                if !sent && line.starts_with("listening on") {
                    let _ = tx.send(());
                    sent = true;
                }
            }
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut s = Showcase {
            child,
            addr,
            started_in: Duration::ZERO,
            log: self.log.clone(),
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => {
                s.started_in = begun.elapsed();
                Ok(s)
            }
            Err(_) => Err(format!(
                "the showcase on port {} did not start within 60 s; its log:\n{}",
                self.port,
                s.log_tail(20)
            )),
        }
    }
}

impl Showcase {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reaps the process.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Resident memory in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }
}

impl Drop for Showcase {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A free port on 127.0.0.1.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}
