//! The Redis stores, for several instances sharing sessions and app data.
//!
//! One multiplexed connection per store, re-established on the first operation after it
//! broke: while Redis is down every operation fails within the configured timeouts with
//! [`StoreError::Unavailable`] ("cannot reach Redis at …"), and once it is back the next
//! operation reconnects. An operation that is safe to repeat (a read, a `put`) is resent
//! once when its connection turns out to be dead; one that is not (`incr`,
//! `put_if_absent`, `delete`) is preceded by a `PING` when the connection has been idle,
//! so a restart while the app was quiet does not fail it. Plain TCP, a Unix socket or TLS
//! (`rediss://`, rustls, certificate and host name always checked); no cluster. One
//! multiplexed connection carries any number of concurrent commands, so there is no pool
//! to size: the bounds are the connect and response timeouts.
//!
//! Layout, under a key prefix (default `widgetry:`):
//! - `{prefix}session:{id}`: a hash per MCP session, with `PXAT` expiry, so Redis drops
//!   expired sessions by itself and [`SessionStore::sweep`] has nothing to do;
//! - `{prefix}kv:{ns}:{key}`: a string per app-data value, with `PX` expiry;
//! - `{prefix}kvidx:{ns}`: a sorted set of the namespace's keys, so listing by prefix is a
//!   range read rather than a scan of the whole keyspace. Members whose value expired are
//!   pruned when a listing meets them and by [`KvStore::sweep`];
//! - `{prefix}schema_version`: a hash of the layout version per component
//!   (`mcp_sessions`, `widgetry_kv`), recorded on first use; a store refuses a Redis whose
//!   layout is newer than it writes.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, FromRedisValue, Pipeline, RedisError};
use tokio::sync::Mutex as AsyncMutex;

use crate::kv::{self, check_key, check_prefix, ttl_ms, KvEntry, KvStore, Namespace};
use crate::schema::check_known;
use crate::tls::Roots;
use crate::url_options::UrlOptions;
use crate::{now_ms, BoxFuture, Retry, SessionRecord, SessionStore, StoreError, StoreResult};

/// Where and how to connect to Redis.
///
/// ```
/// use std::time::Duration;
/// use widgetry_store::RedisConfig;
/// let cfg = RedisConfig::new("redis://127.0.0.1:6379/0")
///     .key_prefix("myapp:")
///     .response_timeout(Duration::from_millis(500));
/// # let _ = cfg;
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    key_prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &crate::redact::redact(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

impl RedisConfig {
    /// A configuration for `url` (`redis://[:password@]host[:port][/db]`,
    /// `rediss://…` for TLS, or `redis+unix:///path/redis.sock`), with the key prefix
    /// `widgetry:`, a 1 s connect timeout and a 1 s response timeout.
    ///
    /// The URL may carry `tls_ca_file` (a PEM file of the CAs trusted for `rediss://`;
    /// default Mozilla's roots), `connect_timeout_ms` and `response_timeout_ms`, which
    /// win over the builder methods. TLS always checks that the certificate names the
    /// host: there is no `#insecure`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "widgetry:".into(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
        }
    }

    /// Puts every key under this prefix, so that several apps can share one Redis.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long to wait for a new connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for the answer to one command.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }
}

/// A multiplexed connection that is replaced after it breaks.
struct Link {
    client: redis::Client,
    /// `host:port`, for messages.
    addr: String,
    conn_cfg: AsyncConnectionConfig,
    connect_timeout: Duration,
    /// The bound on one whole operation, reconnecting included.
    deadline: Duration,
    /// The current connection and its generation.
    slot: AsyncMutex<(u64, Option<MultiplexedConnection>)>,
    /// When the last answer came, in milliseconds since `epoch`.
    last_answer_ms: AtomicU64,
    epoch: Instant,
}

/// After this long without an answer, a connection is checked with `PING` before an
/// operation that cannot be retried is sent on it: a Redis restart while the store was
/// idle then costs a reconnect rather than a failed increment.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// One request: a command or an atomic pipeline.
enum Req<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

/// URL option: a PEM file of the CAs trusted for `rediss://` (default: Mozilla's roots).
const TLS_CA_FILE: &str = "tls_ca_file";
/// URL option: milliseconds to wait for a new connection.
const CONNECT_TIMEOUT: &str = "connect_timeout_ms";
/// URL option: milliseconds to wait for the answer to one command.
const RESPONSE_TIMEOUT: &str = "response_timeout_ms";

/// The Redis client for `url` (the driver's part of it) and the CA file option.
fn client(shown: &str, options: &UrlOptions) -> StoreResult<redis::Client> {
    let invalid = |why: String| StoreError::InvalidConfig(format!("Redis URL {shown}: {why}"));
    let tls = options.rest.to_ascii_lowercase().starts_with("rediss:");
    if options.rest.contains('#') {
        // `#insecure` would turn certificate checks off: not offered.
        return Err(invalid(
            "a `#…` fragment is not accepted; to trust a private CA, name its PEM file with \
             ?tls_ca_file=/path/ca.pem"
                .into(),
        ));
    }
    let parsed = match options.get(TLS_CA_FILE) {
        Some(_) if !tls => {
            return Err(invalid(format!(
                "`{TLS_CA_FILE}` needs TLS: write rediss:// instead of redis://"
            )))
        }
        Some(path) => redis::Client::build_with_tls(
            options.rest.as_str(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(Roots::pem(Path::new(path))?),
            },
        ),
        None => redis::Client::open(options.rest.as_str()),
    };
    parsed.map_err(|e| invalid(format!("cannot parse it: {e}")))
}

impl Link {
    async fn open(cfg: &RedisConfig) -> StoreResult<Self> {
        let shown = crate::redact::redact(&cfg.url);
        let options = UrlOptions::take(&cfg.url, &[TLS_CA_FILE, CONNECT_TIMEOUT, RESPONSE_TIMEOUT]);
        let client = client(&shown, &options)?;
        let connect_timeout = options
            .millis(CONNECT_TIMEOUT)?
            .unwrap_or(cfg.connect_timeout);
        let response_timeout = options
            .millis(RESPONSE_TIMEOUT)?
            .unwrap_or(cfg.response_timeout);
        let addr = client.get_connection_info().addr().to_string();
        let link = Self {
            client,
            addr,
            conn_cfg: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(response_timeout)),
            connect_timeout,
            deadline: connect_timeout + response_timeout,
            slot: AsyncMutex::new((0, None)),
            last_answer_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        };
        // Fail at start-up on a wrong address, password or certificate, not at the first
        // request.
        link.query::<String>(Req::Cmd(&redis::cmd("PING")), Retry::Idempotent)
            .await?;
        Ok(link)
    }

    /// Records `component`'s key-format version under `{prefix}schema_version` when the
    /// Redis holds none, and refuses one newer than this code writes.
    async fn check_key_format(&self, prefix: &str, component: &str) -> StoreResult<()> {
        let mut cmd = eval(KEY_FORMAT, &[&format!("{prefix}schema_version")]);
        cmd.arg(component).arg(KEY_FORMAT_VERSION);
        let current: i64 = self.query(Req::Cmd(&cmd), Retry::Idempotent).await?;
        let where_ = format!("Redis at {} under `{prefix}`", self.addr);
        check_known(component, &where_, current, KEY_FORMAT_VERSION)
    }

    /// The current connection, connecting when there is none.
    async fn connection(&self) -> Result<(u64, MultiplexedConnection), RedisError> {
        let mut slot = self.slot.lock().await;
        if let Some(conn) = &slot.1 {
            return Ok((slot.0, conn.clone()));
        }
        let conn = tokio::time::timeout(
            self.connect_timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&self.conn_cfg),
        )
        .await
        .map_err(|_| RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))??;
        slot.0 += 1;
        slot.1 = Some(conn.clone());
        Ok((slot.0, conn))
    }

    fn answered(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_answer_ms.store(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_answer_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// Drops generation `generation` of the connection, unless it was already replaced.
    async fn forget(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot.0 == generation {
            slot.1 = None;
        }
    }

    /// Sends `req`; on a broken connection, reconnects and, when `retry` allows, sends it
    /// once more. The whole operation is bounded by the connect and response timeouts.
    async fn query<T: FromRedisValue>(&self, req: Req<'_>, retry: Retry) -> StoreResult<T> {
        let attempt = async {
            if retry == Retry::Never && self.idle() > IDLE_CHECK {
                let (generation, mut conn) = self.connection().await?;
                match redis::cmd("PING").query_async::<()>(&mut conn).await {
                    Err(e) if connection_lost(&e) => self.forget(generation).await,
                    Err(e) => return Err(e),
                    Ok(()) => self.answered(),
                }
            }
            let mut retried = false;
            loop {
                let (generation, mut conn) = self.connection().await?;
                let result = match req {
                    Req::Cmd(cmd) => cmd.query_async::<T>(&mut conn).await,
                    Req::Pipe(pipe) => pipe.query_async::<T>(&mut conn).await,
                };
                if result.is_ok() {
                    self.answered();
                }
                match result {
                    Err(e) if connection_lost(&e) => {
                        self.forget(generation).await;
                        if retry == Retry::Idempotent && !retried {
                            retried = true;
                            continue;
                        }
                        return Err(e);
                    }
                    other => return other,
                }
            }
        };
        match tokio::time::timeout(self.deadline, attempt).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "cannot reach Redis at {}: no answer within {:?}",
                self.addr, self.deadline
            ))),
        }
    }

    fn error(&self, e: RedisError) -> StoreError {
        if e.kind() == redis::ErrorKind::AuthenticationFailed {
            StoreError::Unavailable(format!(
                "Redis at {} refused the credentials of the URL: {e}",
                self.addr
            ))
        } else if connection_lost(&e) || e.is_io_error() {
            let hint = if e.is_connection_refusal() {
                " (is redis-server running?)"
            } else {
                ""
            };
            StoreError::Unavailable(format!("cannot reach Redis at {}: {e}{hint}", self.addr))
        } else {
            StoreError::Unavailable(format!("Redis at {} refused the command: {e}", self.addr))
        }
    }
}

/// Whether the connection that produced `e` is unusable (so the next operation must
/// reconnect).
fn connection_lost(e: &RedisError) -> bool {
    e.is_unrecoverable_error() || e.is_connection_dropped() || e.is_timeout() || e.is_io_error()
}

/// The version of the key layout described in the module docs. Version 1 is the layout
/// as first released; a store from before versions were recorded is at version 1.
const KEY_FORMAT_VERSION: i64 = 1;

/// Returns the recorded version of component `ARGV[1]` in the hash `KEYS[1]`, recording
/// `ARGV[2]` first when there is none.
const KEY_FORMAT: &str = r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return tonumber(ARGV[2])
end
return tonumber(v) or -1
";

// ------------------------------------------------------------------ sessions

/// MCP transport sessions in Redis, shared by every instance that connects to it.
///
/// Each session is a hash that Redis expires by itself at `expires_at_ms`, so
/// [`SessionStore::sweep`] returns 0. Without persistence (`--save ""`, no AOF), a
/// Redis restart drops every session: clients then start a new one.
///
/// ```no_run
/// # async fn demo() -> widgetry_store::StoreResult<()> {
/// use widgetry_store::{RedisSessionStore, SessionStore};
/// let store = RedisSessionStore::connect("redis://127.0.0.1:6379").await?;
/// assert!(store.get("unknown").await?.is_none());
/// # Ok(()) }
/// ```
pub struct RedisSessionStore {
    link: Link,
    prefix: String,
}

impl fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("addr", &self.link.addr)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Moves a live session's expiry: `KEYS[1]` the hash, `ARGV[1]` the new expiry,
/// `ARGV[2]` now.
const TOUCH_SESSION: &str = r"
local e = redis.call('HGET', KEYS[1], 'expires_at_ms')
if not e or tonumber(e) <= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'expires_at_ms', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
";

/// Deletes a session and tells whether it was live: `KEYS[1]` the hash, `ARGV[1]` now.
const DELETE_SESSION: &str = r"
local e = redis.call('HGET', KEYS[1], 'expires_at_ms')
redis.call('DEL', KEYS[1])
if e and tonumber(e) > tonumber(ARGV[1]) then return 1 end
return 0
";

fn eval(script: &str, keys: &[&str]) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(keys.len());
    for k in keys {
        cmd.arg(*k);
    }
    cmd
}

impl RedisSessionStore {
    /// Connects with the default [`RedisConfig`] for `url`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::with_config(RedisConfig::new(url)).await
    }

    /// Connects, checks the server answers, and checks the key format.
    pub async fn with_config(cfg: RedisConfig) -> StoreResult<Self> {
        let link = Link::open(&cfg).await?;
        link.check_key_format(&cfg.key_prefix, "mcp_sessions")
            .await?;
        Ok(Self {
            link,
            prefix: cfg.key_prefix,
        })
    }

    fn key(&self, id: &str) -> String {
        format!("{}session:{id}", self.prefix)
    }
}

fn field<'a>(h: &'a HashMap<String, String>, name: &str) -> StoreResult<&'a String> {
    h.get(name)
        .ok_or_else(|| StoreError::Corrupt(format!("Redis session hash lacks `{name}`")))
}

fn field_ms(h: &HashMap<String, String>, name: &str) -> StoreResult<u64> {
    field(h, name)?
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("Redis session field `{name}` is not a number")))
}

impl SessionStore for RedisSessionStore {
    fn put(&self, r: SessionRecord) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            let key = self.key(&r.id);
            let mut pipe = redis::pipe();
            pipe.atomic().del(&key).ignore();
            // A record that has already expired is simply not stored.
            if r.expires_at_ms > now_ms() {
                let mut fields = vec![
                    ("id", r.id.clone()),
                    ("protocol_version", r.protocol_version),
                    ("client", r.client),
                    ("created_at_ms", r.created_at_ms.to_string()),
                    ("expires_at_ms", r.expires_at_ms.to_string()),
                ];
                if let Some(level) = r.log_level {
                    fields.push(("log_level", level));
                }
                pipe.hset_multiple(&key, &fields).ignore();
                pipe.cmd("PEXPIREAT")
                    .arg(&key)
                    .arg(r.expires_at_ms)
                    .ignore();
            }
            self.link
                .query::<()>(Req::Pipe(&pipe), Retry::Idempotent)
                .await
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<SessionRecord>>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("HGETALL");
            cmd.arg(self.key(id));
            let h: HashMap<String, String> =
                self.link.query(Req::Cmd(&cmd), Retry::Idempotent).await?;
            if h.is_empty() {
                return Ok(None);
            }
            let expires_at_ms = field_ms(&h, "expires_at_ms")?;
            // Redis expires the key itself; this also covers clock skew between hosts.
            if expires_at_ms <= now_ms() {
                return Ok(None);
            }
            Ok(Some(SessionRecord {
                id: id.to_owned(),
                protocol_version: field(&h, "protocol_version")?.clone(),
                client: field(&h, "client")?.clone(),
                log_level: h.get("log_level").cloned(),
                created_at_ms: field_ms(&h, "created_at_ms")?,
                expires_at_ms,
            }))
        })
    }

    fn touch<'a>(&'a self, id: &'a str, expires_at_ms: u64) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let key = self.key(id);
            let mut cmd = eval(TOUCH_SESSION, &[&key]);
            cmd.arg(expires_at_ms).arg(now_ms());
            let n: i64 = self.link.query(Req::Cmd(&cmd), Retry::Idempotent).await?;
            Ok(n == 1)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let key = self.key(id);
            let mut cmd = eval(DELETE_SESSION, &[&key]);
            cmd.arg(now_ms());
            let n: i64 = self.link.query(Req::Cmd(&cmd), Retry::Never).await?;
            Ok(n == 1)
        })
    }

    /// Redis expires sessions by itself: nothing to sweep.
    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async { Ok(0) })
    }
}

// ------------------------------------------------------------------ key-value

/// App data in Redis, shared by every instance that connects to it.
///
/// Values expire through Redis's own `PX` expiry; [`KvStore::sweep`] only prunes the
/// per-namespace key indexes of members whose value is gone, and returns how many it
/// pruned. Redis keeps app data only as durably as its persistence settings say: for
/// data that must survive a Redis restart, enable AOF or use PostgreSQL.
///
/// ```no_run
/// # async fn demo() -> widgetry_store::StoreResult<()> {
/// use std::time::Duration;
/// use widgetry_store::{KvStore, Namespace, RedisKvStore};
/// let kv = RedisKvStore::connect("redis://127.0.0.1:6379").await?;
/// static RATE: Namespace = Namespace::from_static("ratelimit");
/// let hits = kv.incr(&RATE, "ip:10.0.0.1", 1, Some(Duration::from_secs(60))).await?;
/// # let _ = hits;
/// # Ok(()) }
/// ```
pub struct RedisKvStore {
    link: Link,
    prefix: String,
}

impl fmt::Debug for RedisKvStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisKvStore")
            .field("addr", &self.link.addr)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Lists live entries of one namespace by key prefix, pruning index members whose value
/// expired. `KEYS[1]` the index; `ARGV[1]` the value-key base, `ARGV[2]` the prefix,
/// `ARGV[3]` the limit. Returns `[key, value, key, value, …]`.
const LIST: &str = r"
local idx, base, prefix, limit = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local out, n, from = {}, 0, '[' .. prefix
while n < limit do
  local batch = redis.call('ZRANGEBYLEX', idx, from, '+', 'LIMIT', 0, limit - n)
  if #batch == 0 then break end
  for _, m in ipairs(batch) do
    if string.sub(m, 1, #prefix) ~= prefix then return out end
    local v = redis.call('GET', base .. m)
    if v then
      out[#out + 1] = m
      out[#out + 1] = v
      n = n + 1
    else
      redis.call('ZREM', idx, m)
    end
    from = '(' .. m
  end
end
return out
";

/// Prunes one batch of an index: `KEYS[1]` the index; `ARGV[1]` the value-key base,
/// `ARGV[2]` where to start (a `ZRANGEBYLEX` bound), `ARGV[3]` the batch size. Returns
/// `[pruned, last member or '']`.
const PRUNE: &str = r"
local batch = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], '+', 'LIMIT', 0, tonumber(ARGV[3]))
local pruned = 0
for _, m in ipairs(batch) do
  if redis.call('EXISTS', ARGV[1] .. m) == 0 then
    redis.call('ZREM', KEYS[1], m)
    pruned = pruned + 1
  end
end
return {pruned, batch[#batch] or ''}
";

const PRUNE_BATCH: usize = 500;

impl RedisKvStore {
    /// Connects with the default [`RedisConfig`] for `url`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::with_config(RedisConfig::new(url)).await
    }

    /// Connects, checks the server answers, and checks the key format.
    pub async fn with_config(cfg: RedisConfig) -> StoreResult<Self> {
        let link = Link::open(&cfg).await?;
        link.check_key_format(&cfg.key_prefix, "widgetry_kv")
            .await?;
        Ok(Self {
            link,
            prefix: cfg.key_prefix,
        })
    }

    /// The value-key prefix of a namespace (`{prefix}kv:{ns}:`).
    fn base(&self, ns: &Namespace) -> String {
        format!("{}kv:{ns}:", self.prefix)
    }

    fn index(&self, ns: &Namespace) -> String {
        format!("{}kvidx:{ns}", self.prefix)
    }

    /// `SET key value [PX ttl] [NX]` plus the index entry, as one transaction.
    fn set_pipe(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        nx: bool,
    ) -> Pipeline {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let set = pipe
            .cmd("SET")
            .arg(format!("{}{key}", self.base(ns)))
            .arg(value);
        if let Some(ttl) = ttl {
            set.arg("PX").arg(ttl_ms(ttl).max(1));
        }
        if nx {
            set.arg("NX");
        } else {
            set.ignore();
        }
        pipe.zadd(self.index(ns), key, 0).ignore();
        pipe
    }

    fn redis_error_to_counter(
        &self,
        ns: &Namespace,
        key: &str,
        by: i64,
        e: StoreError,
    ) -> StoreError {
        match e {
            StoreError::Unavailable(m) if m.contains("refused the command") => {
                if m.contains("overflow") {
                    kv::overflow(ns, key, by)
                } else if m.contains("not an integer") {
                    kv::not_a_counter(ns, key)
                } else {
                    StoreError::Unavailable(m)
                }
            }
            other => other,
        }
    }
}

/// Escapes a string for a `SCAN MATCH` glob.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl KvStore for RedisKvStore {
    fn get<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            check_key(key)?;
            let mut cmd = redis::cmd("GET");
            cmd.arg(format!("{}{key}", self.base(ns)));
            self.link.query(Req::Cmd(&cmd), Retry::Idempotent).await
        })
    }

    fn put<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            check_key(key)?;
            let pipe = self.set_pipe(ns, key, value, ttl, false);
            self.link
                .query::<()>(Req::Pipe(&pipe), Retry::Idempotent)
                .await
        })
    }

    fn delete<'a>(&'a self, ns: &'a Namespace, key: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            check_key(key)?;
            let mut pipe = redis::pipe();
            pipe.atomic()
                .del(format!("{}{key}", self.base(ns)))
                .zrem(self.index(ns), key)
                .ignore();
            let (n,): (i64,) = self.link.query(Req::Pipe(&pipe), Retry::Never).await?;
            Ok(n > 0)
        })
    }

    fn incr<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        by: i64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(async move {
            check_key(key)?;
            let k = format!("{}{key}", self.base(ns));
            // SET NX creates a missing counter at 0 with its expiry; INCRBY keeps the
            // expiry. MULTI makes the three steps one.
            let mut pipe = redis::pipe();
            pipe.atomic();
            let init = pipe.cmd("SET").arg(&k).arg("0").arg("NX");
            if let Some(ttl) = ttl {
                init.arg("PX").arg(ttl_ms(ttl).max(1));
            }
            init.ignore();
            pipe.incr(&k, by).zadd(self.index(ns), key, 0).ignore();
            let (n,): (i64,) = self
                .link
                .query(Req::Pipe(&pipe), Retry::Never)
                .await
                .map_err(|e| self.redis_error_to_counter(ns, key, by, e))?;
            Ok(n)
        })
    }

    fn list<'a>(
        &'a self,
        ns: &'a Namespace,
        prefix: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<KvEntry>>> {
        Box::pin(async move {
            check_prefix(prefix)?;
            if limit == 0 {
                return Ok(Vec::new());
            }
            let index = self.index(ns);
            let mut cmd = eval(LIST, &[&index]);
            // Lua numbers are doubles: keep the limit well inside their integers.
            cmd.arg(self.base(ns)).arg(prefix).arg(limit.min(1 << 31));
            let flat: Vec<Vec<u8>> = self.link.query(Req::Cmd(&cmd), Retry::Idempotent).await?;
            let mut out = Vec::with_capacity(flat.len() / 2);
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                let k = String::from_utf8(k).map_err(|_| {
                    StoreError::Corrupt(format!(
                        "Redis index {index} holds a key that is not UTF-8"
                    ))
                })?;
                out.push((k, v));
            }
            Ok(out)
        })
    }

    fn put_if_absent<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            check_key(key)?;
            let pipe = self.set_pipe(ns, key, value, ttl, true);
            let (set,): (Option<String>,) = self.link.query(Req::Pipe(&pipe), Retry::Never).await?;
            Ok(set.is_some())
        })
    }

    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            let idx_prefix = format!("{}kvidx:", self.prefix);
            let pattern = format!("{}*", glob_escape(&idx_prefix));
            let mut pruned = 0u64;
            let mut cursor = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000);
                let (next, indexes): (u64, Vec<String>) =
                    self.link.query(Req::Cmd(&scan), Retry::Idempotent).await?;
                for index in indexes {
                    let Some(ns) = index.strip_prefix(&idx_prefix) else {
                        continue;
                    };
                    let base = format!("{}kv:{ns}:", self.prefix);
                    let mut from = "-".to_owned();
                    loop {
                        let mut cmd = eval(PRUNE, &[&index]);
                        cmd.arg(&base).arg(&from).arg(PRUNE_BATCH);
                        let (n, last): (u64, Vec<u8>) =
                            self.link.query(Req::Cmd(&cmd), Retry::Idempotent).await?;
                        pruned += n;
                        if last.is_empty() {
                            break;
                        }
                        let mut bound = b"(".to_vec();
                        bound.extend_from_slice(&last);
                        from = String::from_utf8_lossy(&bound).into_owned();
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            Ok(pruned)
        })
    }
}
