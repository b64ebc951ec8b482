//! What the store tests share: the real PostgreSQL and Redis of the machine (started
//! when down), unique names so runs never collide, and guards that clean up.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::RwLock;

pub use crate::private::{port_open, unique, wait_until, TempDir};

pub const PG_START: &str =
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";
pub const REDIS_START: &str = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
     --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log";

/// The PostgreSQL the tests use: `WIDGETRY_TEST_POSTGRES_URL`, default the machine's.
pub fn pg_url() -> String {
    std::env::var("WIDGETRY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub const REDIS_URL: &str = "redis://127.0.0.1:6379/0";
pub const REDIS_ADDR: &str = "127.0.0.1:6379";

/// Tests that use Redis hold this for reading; the outage test holds it for writing, so
/// that no other test of this binary sees Redis go down.
pub static REDIS_GATE: RwLock<()> = RwLock::const_new(());

fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether Redis answers PING on 127.0.0.1:6379.
pub fn redis_answers() -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &REDIS_ADDR.parse().expect("socket address"),
        Duration::from_millis(300),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// Makes sure PostgreSQL runs (starting it once if needed).
pub fn ensure_postgres() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        if pg_url().contains("127.0.0.1:5432") && !port_open("127.0.0.1:5432") {
            sh(PG_START);
            assert!(
                wait_until(Duration::from_secs(20), || port_open("127.0.0.1:5432")),
                "PostgreSQL is not running on 127.0.0.1:5432 and could not be started; \
                 start it with `{PG_START}` (trust auth, user postgres, database test)"
            );
        }
    });
}

/// Starts Redis with the machine's command and waits until it answers.
pub fn start_redis() {
    if redis_answers() {
        return;
    }
    sh(REDIS_START);
    assert!(
        wait_until(Duration::from_secs(10), redis_answers),
        "Redis is not running on {REDIS_ADDR} and could not be started; start it with `{REDIS_START}`"
    );
}

/// Makes sure Redis runs (starting it if needed).
pub fn ensure_redis() {
    start_redis();
}

/// Stops Redis (`redis-cli shutdown nosave`) and restarts it when `end` is called or,
/// whatever happens, when dropped: the outage never outlives the test.
pub struct RedisOutage {
    over: bool,
}

impl RedisOutage {
    pub fn begin() -> Self {
        let outage = Self { over: false };
        sh("redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1");
        assert!(
            wait_until(Duration::from_secs(5), || !port_open(REDIS_ADDR)),
            "Redis did not stop after `redis-cli shutdown nosave`"
        );
        outage
    }

    pub fn end(&mut self) {
        if !self.over {
            self.over = true;
            start_redis();
        }
    }
}

impl Drop for RedisOutage {
    fn drop(&mut self) {
        if !self.over {
            self.over = true;
            sh(REDIS_START);
            wait_until(Duration::from_secs(10), redis_answers);
        }
    }
}

/// Runs an async clean-up on a thread of its own (usable from `Drop`, inside or outside
/// a runtime).
fn cleanup(
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send + 'static,
) {
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(f());
        }
    })
    .join();
}

/// A PostgreSQL schema for one test, dropped with everything in it at the end.
pub struct PgSchema(pub String);

impl PgSchema {
    pub fn new(tag: &str) -> Self {
        ensure_postgres();
        Self(unique(tag))
    }

    /// Creates the schema now (for stores reached through a URL's `search_path`).
    pub async fn create(&self) {
        let (client, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", self.0))
            .await
            .expect("create schema");
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let schema = self.0.clone();
        cleanup(move || {
            Box::pin(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                        .await;
                }
            })
        });
    }
}

/// A Redis key prefix for one test; its keys are deleted at the end.
pub struct RedisPrefix(pub String);

impl RedisPrefix {
    pub fn new(tag: &str) -> Self {
        ensure_redis();
        Self(format!("{}:", unique(tag)))
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.0);
        cleanup(move || {
            Box::pin(async move {
                let Ok(client) = redis::Client::open(REDIS_URL) else {
                    return;
                };
                let Ok(mut c) = client.get_multiplexed_async_connection().await else {
                    return;
                };
                let mut cursor = 0u64;
                loop {
                    let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await
                    else {
                        return;
                    };
                    if !keys.is_empty() {
                        let _: Result<i64, _> =
                            redis::cmd("DEL").arg(&keys).query_async(&mut c).await;
                    }
                    if next == 0 {
                        return;
                    }
                    cursor = next;
                }
            })
        });
    }
}
