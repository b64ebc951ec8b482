//! The battery's own PostgreSQL cluster and Redis server, on free loopback ports in a
//! temporary directory, so that restarting them under load disturbs nothing else on the
//! machine (the shared services on 5432 and 6379 serve other test runs). PostgreSQL is
//! Debian's (`initdb`/`pg_ctl` under `/usr/lib/postgresql/<version>/bin`, run as the
//! `postgres` user when the battery runs as root); Redis is started exactly as
//! `scripts/test.sh` starts the shared one (no persistence), on another port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::showcase::free_port;

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

fn pg_bin() -> Result<PathBuf, String> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("/usr/lib/postgresql: {e} (install Debian's postgresql)"))?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .ok_or_else(|| "no pg_ctl under /usr/lib/postgresql/*/bin".into())
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Waits up to `limit` for `ok`.
pub fn wait_for(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ok()
}

/// A PostgreSQL cluster of the battery's own; stopped and removed on drop.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Postgres {
    /// `initdb` (trust authentication, user `postgres`) and start.
    pub fn start(tmp: &Path) -> Result<Self, String> {
        let bin = pg_bin()?;
        let dir = tmp.join("pg");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir))?;
        }
        let pg = Self {
            bin,
            dir,
            port: free_port()?,
        };
        run(pg
            .as_owner(&pg.bin.join("initdb"))
            .arg("-D")
            .arg(pg.dir.join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync"]))?;
        pg.up()?;
        Ok(pg)
    }

    fn as_owner(&self, program: &Path) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn pg_ctl(&self) -> Command {
        let mut c = self.as_owner(&self.bin.join("pg_ctl"));
        c.arg("-D").arg(self.dir.join("data"));
        c
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.dir.display()
        );
        run(self
            .pg_ctl()
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-o", &opts, "-w", "-t", "60", "start"]))?;
        if wait_for(Duration::from_secs(30), || port_open(self.port)) {
            Ok(())
        } else {
            Err(format!(
                "PostgreSQL did not listen on {} after start",
                self.port
            ))
        }
    }

    /// Stops the server the way `pg_ctlcluster … restart` does (fast shutdown: open
    /// sessions are ended, transactions in flight rolled back).
    pub fn down(&self) -> Result<(), String> {
        run(self.pg_ctl().args(["-m", "fast", "-w", "stop"]))
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`, creating the database.
    pub fn database(&self, name: &str) -> Result<String, String> {
        run(Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ]))?;
        Ok(self.url(name))
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .pg_ctl()
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// A Redis server of the battery's own, without persistence (as `scripts/test.sh` runs
/// the shared one); stopped on drop.
pub struct Redis {
    dir: PathBuf,
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Redis {
    /// Starts it.
    pub fn start(tmp: &Path) -> Result<Self, String> {
        let dir = tmp.join("redis");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut r = Self {
            dir,
            child: None,
            port: free_port()?,
        };
        r.up()?;
        Ok(r)
    }

    /// Starts the server (again) and waits until it answers.
    pub fn up(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server: {e} (install Debian's redis-server)"))?;
        self.child = Some(child);
        if wait_for(Duration::from_secs(10), || port_open(self.port)) {
            Ok(())
        } else {
            Err(format!("redis-server did not listen on {}", self.port))
        }
    }

    /// `redis-cli shutdown nosave`, and waits for the process to end.
    pub fn down(&mut self) -> Result<(), String> {
        run(Command::new("redis-cli").args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "shutdown",
            "nosave",
        ]))
        .or_else(|e| if port_open(self.port) { Err(e) } else { Ok(()) })?;
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        Ok(())
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
