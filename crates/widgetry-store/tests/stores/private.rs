//! Servers of a test's own, so that TLS and outages never touch the machine's main
//! PostgreSQL and Redis: a certificate authority made with the `openssl` CLI, a
//! PostgreSQL cluster made with `initdb` and run with `pg_ctl` as the `postgres` user, and
//! a `redis-server` child process, each on a free port of 127.0.0.1 and removed at the end.
//!
//! Self-contained (the authorization server's tests include it too), with the small
//! helpers every store test uses: unique names, scratch directories, port probes.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A name no other test or run uses: lower-case, fit for a PostgreSQL schema.
pub fn unique(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "wt_{tag}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether something accepts TCP connections at `addr`.
pub fn port_open(addr: &str) -> bool {
    let addr: SocketAddr = addr.parse().expect("socket address");
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// Polls `ok` every 50 ms until it holds or `deadline` passes; whether it held.
pub fn wait_until(deadline: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ok()
}

fn run(what: &str, cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {cmd:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port of 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A CA, a server certificate it signed for `localhost` only (not for 127.0.0.1, so
/// that host-name checks can be seen to work), and an unrelated CA.
pub struct Certs {
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl Certs {
    pub fn new(dir: &Path) -> Self {
        let p = |name: &str| dir.join(name);
        let openssl = |args: &[&str]| {
            run(
                "openssl",
                Command::new("openssl").args(args).current_dir(dir),
            );
        };
        for ca in ["ca", "other-ca"] {
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=widgetry test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
        }
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(
            p("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n",
        )
        .expect("write extensions");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]);
        Self {
            ca: p("ca.pem"),
            other_ca: p("other-ca.pem"),
            server_cert: p("server.pem"),
            server_key: p("server.key"),
        }
    }
}

/// The newest PostgreSQL binaries of the machine (`/usr/lib/postgresql/<n>/bin`).
fn pg_bin(tool: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries in /usr/lib/postgresql (apt-get install postgresql)")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .last()
        .expect("a PostgreSQL version in /usr/lib/postgresql")
        .join("bin")
        .join(tool)
}

/// A command run as the `postgres` user (PostgreSQL refuses to run as root).
fn as_postgres(tool: &str) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(pg_bin(tool));
    cmd
}

/// A PostgreSQL cluster of this test: trust authentication, database `postgres`.
pub struct PrivatePg {
    _dir: TempDir,
    data: PathBuf,
    pub port: u16,
    /// `-c` settings the server starts with.
    settings: String,
}

impl PrivatePg {
    /// Creates and starts a cluster; with `certs`, TLS is on with their server certificate.
    pub fn start(tag: &str, certs: Option<&Certs>) -> Self {
        let dir = TempDir::new(tag);
        let data = dir.0.join("data");
        run(
            "chown",
            Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(&dir.0),
        );
        run(
            "initdb",
            as_postgres("initdb").arg("-D").arg(&data).args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "--no-instructions",
            ]),
        );
        let port = free_port();
        let mut settings = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off",
            dir.0.display()
        );
        if let Some(c) = certs {
            for (from, to) in [
                (&c.server_cert, "server.crt"),
                (&c.server_key, "server.key"),
            ] {
                std::fs::copy(from, data.join(to)).expect("copy the server certificate");
            }
            run(
                "chown",
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(data.join("server.crt"))
                    .arg(data.join("server.key")),
            );
            run(
                "chmod",
                Command::new("chmod")
                    .arg("600")
                    .arg(data.join("server.key")),
            );
            settings.push_str(" -c ssl=on");
        }
        let pg = Self {
            _dir: dir,
            data,
            port,
            settings,
        };
        pg.resume();
        pg
    }

    /// The URL of database `postgres` on this cluster, with `options` as its query.
    pub fn url(&self, host: &str, options: &str) -> String {
        format!(
            "postgres://postgres@{host}:{}/postgres?{options}",
            self.port
        )
    }

    fn log(&self) -> PathBuf {
        self.data.join("server.log")
    }

    /// Stops the server at once, as a crash or `kill` would (connections drop).
    pub fn stop(&self) {
        run(
            "pg_ctl stop",
            as_postgres("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "stop"]),
        );
        assert!(
            wait_until(Duration::from_secs(10), || !port_open(&self.addr())),
            "the private PostgreSQL still listens after pg_ctl stop"
        );
    }

    /// Starts the (stopped) server again.
    pub fn resume(&self) {
        run(
            "pg_ctl start",
            as_postgres("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(self.log())
                .arg("-o")
                .arg(&self.settings)
                .args(["-w", "-t", "30", "start"]),
        );
    }

    /// Restarts the server with TLS off (the certificates stay, unused).
    pub fn restart_without_tls(&mut self) {
        self.stop();
        self.settings = self.settings.replace(" -c ssl=on", " -c ssl=off");
        self.resume();
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A `redis-server` of this test, serving TLS only, on a port of its own.
pub struct PrivateRedis {
    _dir: TempDir,
    child: Child,
    pub port: u16,
}

impl PrivateRedis {
    pub fn start_tls(tag: &str, certs: &Certs) -> Self {
        let dir = TempDir::new(tag);
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--tls-port")
            .arg(port.to_string())
            .arg("--tls-cert-file")
            .arg(&certs.server_cert)
            .arg("--tls-key-file")
            .arg(&certs.server_key)
            .arg("--tls-ca-cert-file")
            .arg(&certs.ca)
            .args(["--tls-auth-clients", "no"])
            .arg("--dir")
            .arg(&dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        let redis = Self {
            _dir: dir,
            child,
            port,
        };
        assert!(
            wait_until(Duration::from_secs(10), || port_open(&format!(
                "127.0.0.1:{port}"
            ))),
            "the private redis-server did not listen on 127.0.0.1:{port} (is it built with TLS?)"
        );
        redis
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
