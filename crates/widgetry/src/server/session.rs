//! MCP sessions: the persisted record (in a [`SessionStore`]) and the live, per-instance
//! runtime (in-flight requests, pending server-to-client requests, open streams, the
//! event log that makes SSE streams resumable).
//!
//! Any instance sharing the store can serve a session another instance created: the
//! runtime is rebuilt from the record on first sight. A live runtime re-checks the store
//! at most once per [`REVALIDATE_AFTER`], so a session deleted elsewhere stops being
//! served within that window.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use widgetry_store::{now_ms, SessionRecord, SessionStore, StoreError};

use crate::identity::Caller;
use crate::protocol::jsonrpc::{Id, RpcError};
use crate::protocol::types::JsonObject;
use crate::protocol::ProtocolVersion;

/// How long a live runtime trusts its cached record before asking the store again.
pub const REVALIDATE_AFTER: Duration = Duration::from_secs(1);

/// How many SSE events a session keeps for replay after a disconnect.
const EVENT_LOG_CAP: usize = 512;

/// Most resources one session may subscribe to.
pub const MAX_SUBSCRIPTIONS: usize = 64;

/// Who may use a session: its creator's subject, or anyone until a signed-in caller
/// first uses a session created anonymously (then it is theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The caller may use the session.
    Allowed,
    /// The caller may use it and has just become its owner (persist the record).
    Claimed,
    /// Another user's session: answer as if it did not exist.
    Denied,
}

/// MCP logging levels, in increasing severity.
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// Index of a level name in [`LOG_LEVELS`].
pub fn log_level_index(level: &str) -> Option<u8> {
    LOG_LEVELS.iter().position(|l| *l == level).map(|i| i as u8)
}

/// A fresh, cryptographically random session id (32 hex characters, visible ASCII).
pub fn new_session_id() -> String {
    crate::random::random_hex(16)
}

/// A response awaited for a request this server sent to the client.
pub(crate) type PendingReply = oneshot::Sender<Result<Box<RawValue>, RpcError>>;

struct LoggedEvent {
    stream: u64,
    seq: u64,
    frame: Bytes,
}

/// The live state of one session on this instance.
pub struct SessionRuntime {
    id: Arc<str>,
    version: ProtocolVersion,
    owner: Mutex<Option<Arc<str>>>,
    /// The client's `clientInfo.name` (set once, like the capabilities).
    client_name: OnceLock<String>,
    /// The capabilities the client declared at `initialize` (set once: from the stored
    /// record, or at a connection-bound session's `initialize`).
    client_capabilities: OnceLock<JsonObject>,
    /// Who created it, for the per-client session cap (subject or address).
    creator: Arc<str>,
    log_level: AtomicU8,
    record: Mutex<SessionRecord>,
    checked_at: Mutex<Instant>,
    inflight: Mutex<HashMap<Id, CancellationToken>>,
    pending: Mutex<HashMap<Id, PendingReply>>,
    next_stream: AtomicU64,
    /// Open SSE connections by stream id (0 is the standalone GET stream).
    streams: Mutex<HashMap<u64, mpsc::UnboundedSender<Bytes>>>,
    events: Mutex<VecDeque<LoggedEvent>>,
    subscriptions: Mutex<HashSet<String>>,
    persistent: bool,
}

impl std::fmt::Debug for SessionRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRuntime")
            .field("id", &self.id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SessionRuntime {
    fn from_record(record: SessionRecord, persistent: bool) -> Self {
        let version = ProtocolVersion::parse(&record.protocol_version)
            .unwrap_or_else(|| ProtocolVersion::negotiate(&record.protocol_version));
        let level = record
            .log_level
            .as_deref()
            .and_then(log_level_index)
            .unwrap_or(0);
        let doc = ClientDoc::read(&record.client);
        Self {
            id: record.id.as_str().into(),
            version,
            owner: Mutex::new(doc.owner.map(Arc::from)),
            client_name: doc.name.map(OnceLock::from).unwrap_or_default(),
            client_capabilities: doc.capabilities.map(OnceLock::from).unwrap_or_default(),
            creator: doc.creator.unwrap_or_default().into(),
            log_level: AtomicU8::new(level),
            record: Mutex::new(record),
            checked_at: Mutex::new(Instant::now()),
            inflight: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(1),
            streams: Mutex::new(HashMap::new()),
            events: Mutex::new(VecDeque::new()),
            subscriptions: Mutex::new(HashSet::new()),
            persistent,
        }
    }

    /// A session that lives only in this process (stdio, legacy SSE connections),
    /// owned by `caller` when signed in.
    pub fn ephemeral(version: ProtocolVersion) -> Arc<Self> {
        Self::ephemeral_for(version, &Caller::Anonymous, "")
    }

    pub(crate) fn ephemeral_for(
        version: ProtocolVersion,
        caller: &Caller,
        creator: &str,
    ) -> Arc<Self> {
        let now = now_ms();
        Arc::new(Self::from_record(
            SessionRecord {
                id: new_session_id(),
                protocol_version: version.as_str().to_string(),
                client: ClientDoc::write("null", "null", caller.subject(), creator),
                log_level: None,
                created_at_ms: now,
                expires_at_ms: u64::MAX,
            },
            false,
        ))
    }

    /// The capabilities the client declared at `initialize` (empty when it declared
    /// none).
    pub fn client_capabilities(&self) -> &JsonObject {
        static NONE: OnceLock<JsonObject> = OnceLock::new();
        self.client_capabilities
            .get()
            .unwrap_or_else(|| NONE.get_or_init(JsonObject::new))
    }

    /// The capabilities the client declared at `initialize`; `None` when it sent none
    /// (or has not initialized), so what it supports is unknown.
    pub(crate) fn declared_capabilities(&self) -> Option<&JsonObject> {
        self.client_capabilities.get()
    }

    /// Records the `clientInfo` and capabilities a connection-bound session's client
    /// sent at `initialize` (JSON texts, checked by the caller). Only the first
    /// `initialize` counts, as for the session's other properties.
    pub(crate) fn set_client(&self, client_info: &str, capabilities: &str) {
        if let Ok(caps) = serde_json::from_str::<JsonObject>(capabilities) {
            let _ = self.client_capabilities.set(caps);
        }
        let name = serde_json::from_str::<serde_json::Value>(client_info)
            .ok()
            .and_then(|v| v.get("name")?.as_str().map(str::to_string));
        if let Some(name) = name {
            let _ = self.client_name.set(name);
        }
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The client's `clientInfo.name` from `initialize`.
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.get().map(String::as_str)
    }

    pub(crate) fn creator(&self) -> &str {
        &self.creator
    }

    /// Decides whether `caller` may use the session; a signed-in caller of an
    /// anonymous session becomes its owner.
    pub(crate) fn access(&self, caller: &Caller) -> Access {
        let mut owner = lock(&self.owner);
        match (owner.as_deref(), caller.subject()) {
            (Some(o), Some(s)) if o == s => Access::Allowed,
            (Some(_), _) => Access::Denied,
            (None, None) => Access::Allowed,
            (None, Some(s)) => {
                *owner = Some(s.into());
                let mut rec = lock(&self.record);
                rec.client = ClientDoc::with_owner(&rec.client, s);
                Access::Claimed
            }
        }
    }

    /// Adopts an owner another instance recorded.
    fn sync_owner(&self, record: &SessionRecord) {
        if let Some(o) = ClientDoc::read(&record.client).owner {
            let mut owner = lock(&self.owner);
            if owner.is_none() {
                *owner = Some(o.into());
                lock(&self.record).client = record.client.clone();
            }
        }
    }

    /// Whether a log message at `level` passes the level set by the client.
    pub fn log_enabled(&self, level: &str) -> bool {
        log_level_index(level).unwrap_or(0) >= self.log_level.load(Ordering::Relaxed)
    }

    pub(crate) fn set_log_level(&self, idx: u8) -> SessionRecord {
        self.log_level.store(idx, Ordering::Relaxed);
        let mut rec = lock(&self.record);
        rec.log_level = Some(LOG_LEVELS[idx as usize].to_string());
        rec.clone()
    }

    /// A copy of the persisted record (with the current log level).
    pub(crate) fn record(&self) -> SessionRecord {
        lock(&self.record).clone()
    }

    pub(crate) fn is_persistent(&self) -> bool {
        self.persistent
    }

    pub(crate) fn register_inflight(&self, id: Id, token: CancellationToken) {
        lock(&self.inflight).insert(id, token);
    }

    pub(crate) fn finish_inflight(&self, id: &Id) {
        lock(&self.inflight).remove(id);
    }

    /// Cancels an in-flight request; returns whether one was found.
    pub(crate) fn cancel(&self, id: &Id) -> bool {
        match lock(&self.inflight).remove(id) {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    /// An unguessable id for a request to the client, so nobody but the session's
    /// client can answer it.
    pub(crate) fn next_request_id(&self) -> Id {
        Id::Str(format!("widgetry-{}", crate::random::random_hex(12)).into())
    }

    pub(crate) fn add_pending(&self, id: Id, tx: PendingReply) {
        lock(&self.pending).insert(id, tx);
    }

    pub(crate) fn drop_pending(&self, id: &Id) {
        lock(&self.pending).remove(id);
    }

    /// Delivers a client's response to a request we sent; false when nobody waits for it.
    pub(crate) fn resolve_pending(
        &self,
        id: &Id,
        outcome: Result<Box<RawValue>, RpcError>,
    ) -> bool {
        match lock(&self.pending).remove(id) {
            Some(tx) => tx.send(outcome).is_ok(),
            None => false,
        }
    }

    /// Subscribes to `uri`; refused beyond [`MAX_SUBSCRIPTIONS`].
    pub(crate) fn subscribe(&self, uri: &str) -> Result<(), RpcError> {
        let mut subs = lock(&self.subscriptions);
        if subs.len() >= MAX_SUBSCRIPTIONS && !subs.contains(uri) {
            return Err(RpcError::invalid_request(format!(
                "too many subscriptions: a session may watch at most {MAX_SUBSCRIPTIONS} resources; unsubscribe from one first"
            )));
        }
        subs.insert(uri.to_string());
        Ok(())
    }

    pub(crate) fn unsubscribe(&self, uri: &str) {
        lock(&self.subscriptions).remove(uri);
    }

    pub(crate) fn is_subscribed(&self, uri: &str) -> bool {
        lock(&self.subscriptions).contains(uri)
    }

    /// Allocates a new SSE stream id.
    pub(crate) fn new_stream(&self) -> u64 {
        self.next_stream.fetch_add(1, Ordering::Relaxed)
    }

    /// Attaches a connection to a stream (replacing any earlier one).
    pub(crate) fn attach_stream(&self, stream: u64, tx: mpsc::UnboundedSender<Bytes>) {
        lock(&self.streams).insert(stream, tx);
    }

    pub(crate) fn detach_stream(&self, stream: u64) {
        lock(&self.streams).remove(&stream);
    }

    pub(crate) fn has_stream(&self, stream: u64) -> bool {
        lock(&self.streams).contains_key(&stream)
    }

    /// Sends one JSON-RPC message as an SSE event on `stream`, logging it for replay.
    /// Returns false when no connection is attached (the event is still logged).
    pub(crate) fn send_event(&self, stream: u64, seq: u64, message: &[u8]) -> bool {
        let frame = sse_frame(Some((stream, seq)), message);
        if self.persistent || stream != 0 {
            let mut log = lock(&self.events);
            if log.len() >= EVENT_LOG_CAP {
                log.pop_front();
            }
            log.push_back(LoggedEvent {
                stream,
                seq,
                frame: frame.clone(),
            });
        }
        match lock(&self.streams).get(&stream) {
            Some(tx) => tx.send(frame).is_ok(),
            None => false,
        }
    }

    /// Events of `stream` after `seq`, for a client resuming with `Last-Event-ID`.
    pub(crate) fn replay(&self, stream: u64, seq: u64) -> Vec<Bytes> {
        lock(&self.events)
            .iter()
            .filter(|e| e.stream == stream && e.seq > seq)
            .map(|e| e.frame.clone())
            .collect()
    }

    /// Next sequence number for the standalone stream.
    pub(crate) fn next_standalone_seq(&self) -> u64 {
        // Shares the stream counter space; uniqueness is all that matters.
        self.next_stream.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends a message on the standalone stream (GET stream, legacy SSE, stdio).
    pub(crate) fn send_standalone(&self, message: &[u8]) -> bool {
        let seq = self.next_standalone_seq();
        self.send_event(0, seq, message)
    }
}

/// The session record's `client` document: what the client said at `initialize`
/// (`clientInfo`, `capabilities`) and who the session belongs to (`owner`, the creator's
/// subject once signed in; `creator`, the key of the per-client session cap).
struct ClientDoc {
    name: Option<String>,
    capabilities: Option<JsonObject>,
    owner: Option<String>,
    creator: Option<String>,
}

impl ClientDoc {
    fn read(text: &str) -> Self {
        let v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).unwrap_or_default();
        let s = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
        Self {
            name: s(v.get("clientInfo").and_then(|c| c.get("name"))),
            capabilities: v.get("capabilities").and_then(|c| c.as_object()).cloned(),
            owner: s(v.get("owner")),
            creator: s(v.get("creator")),
        }
    }

    /// `client_info` and `capabilities` are JSON texts (checked by the caller).
    fn write(client_info: &str, capabilities: &str, owner: Option<&str>, creator: &str) -> String {
        format!(
            r#"{{"clientInfo":{client_info},"capabilities":{capabilities},"owner":{},"creator":{}}}"#,
            serde_json::Value::from(owner),
            serde_json::Value::from(creator),
        )
    }

    fn with_owner(text: &str, owner: &str) -> String {
        let mut v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).unwrap_or_default();
        v.insert("owner".into(), owner.into());
        serde_json::Value::Object(v).to_string()
    }
}

/// Formats one SSE event: optional `id:` line, `event: message`, `data:` line.
pub fn sse_frame(id: Option<(u64, u64)>, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 48);
    if let Some((stream, seq)) = id {
        out.extend_from_slice(format!("id: {stream}-{seq}\n").as_bytes());
    }
    out.extend_from_slice(b"event: message\ndata: ");
    // JSON from serde never contains raw newlines; guard anyway so a frame stays one event.
    for &b in data {
        if b == b'\n' {
            out.extend_from_slice(b"\ndata: ");
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// Parses an event id `"<stream>-<seq>"`.
pub fn parse_event_id(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.trim().split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Why a session could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This instance holds as many sessions as it may.
    #[error("too many sessions on this server (at most {0}); try again later")]
    Full(usize),
    /// This client (user or address) holds as many sessions as it may.
    #[error(
        "too many sessions for this client (at most {0}); end one with DELETE or let it expire"
    )]
    ClientFull(usize),
}

/// Limits on sessions (see [`HttpConfig`](crate::HttpConfig)).
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Sessions live on one instance.
    pub total: usize,
    /// Sessions live on one instance for one creator (user, else client address).
    pub per_client: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            total: 50_000,
            per_client: 1_000,
        }
    }
}

impl SessionLimits {
    /// Checks whether one more session may be created, given the creators of the live
    /// ones.
    pub(crate) fn admit<'a>(
        &self,
        creator: &str,
        live: impl ExactSizeIterator<Item = &'a str>,
    ) -> Result<(), CreateError> {
        if live.len() >= self.total {
            return Err(CreateError::Full(self.total));
        }
        if live.filter(|c| *c == creator).count() >= self.per_client {
            return Err(CreateError::ClientFull(self.per_client));
        }
        Ok(())
    }
}

/// Creates, finds and ends sessions, backed by a [`SessionStore`].
pub struct SessionManager {
    store: Arc<dyn SessionStore>,
    ttl: Duration,
    limits: SessionLimits,
    live: RwLock<HashMap<Arc<str>, Arc<SessionRuntime>>>,
}

impl std::fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SessionManager {
    /// A manager with explicit session limits.
    pub fn with_limits(store: Arc<dyn SessionStore>, ttl: Duration, limits: SessionLimits) -> Self {
        Self {
            store,
            ttl,
            limits,
            live: RwLock::new(HashMap::new()),
        }
    }

    /// Creates and persists a session for `caller` (its owner when signed in).
    /// `client_info` and `capabilities` are the JSON texts sent at `initialize`;
    /// `creator` keys the per-client limit (the caller's subject, else its address).
    pub(crate) async fn create(
        &self,
        version: ProtocolVersion,
        client_info: &str,
        capabilities: &str,
        caller: &Caller,
        creator: &str,
    ) -> Result<Arc<SessionRuntime>, CreateError> {
        {
            let live = self.live.read().unwrap_or_else(|p| p.into_inner());
            self.limits
                .admit(creator, live.values().map(|r| r.creator()))?;
        }
        let now = now_ms();
        let record = SessionRecord {
            id: new_session_id(),
            protocol_version: version.as_str().to_string(),
            client: ClientDoc::write(client_info, capabilities, caller.subject(), creator),
            log_level: None,
            created_at_ms: now,
            expires_at_ms: now + self.ttl.as_millis() as u64,
        };
        self.store.put(record.clone()).await?;
        let rt = Arc::new(SessionRuntime::from_record(record, true));
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rt.id.clone(), rt.clone());
        Ok(rt)
    }

    /// Finds a live session, from this instance's cache or the store.
    pub async fn get(&self, id: &str) -> Result<Option<Arc<SessionRuntime>>, StoreError> {
        let cached = self
            .live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        if let Some(rt) = &cached {
            if lock(&rt.checked_at).elapsed() < REVALIDATE_AFTER {
                return Ok(cached);
            }
        }
        let Some(record) = self.store.get(id).await? else {
            self.live
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
            return Ok(None);
        };
        let now = now_ms();
        let ttl_ms = self.ttl.as_millis() as u64;
        // Slide the expiry when a tenth of the TTL has passed since the last extension.
        if record.expires_at_ms < now + ttl_ms - ttl_ms / 10 {
            self.store.touch(id, now + ttl_ms).await?;
        }
        let rt = match cached {
            Some(rt) => {
                rt.sync_owner(&record);
                *lock(&rt.checked_at) = Instant::now();
                rt
            }
            None => {
                let rt = Arc::new(SessionRuntime::from_record(record, true));
                self.live
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(rt.id.clone())
                    .or_insert(rt)
                    .clone()
            }
        };
        Ok(Some(rt))
    }

    /// Persists a changed record (e.g. a new log level).
    pub async fn save(&self, record: SessionRecord) -> Result<(), StoreError> {
        self.store.put(record).await
    }

    /// Ends a session; returns whether it existed.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let rt = self
            .live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Some(rt) = rt {
            for (_, t) in lock(&rt.inflight).drain() {
                t.cancel();
            }
            lock(&rt.streams).clear();
        }
        self.store.delete(id).await
    }

    /// Every session live on this instance.
    pub fn live_sessions(&self) -> Vec<Arc<SessionRuntime>> {
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Removes expired sessions from the store and drops idle runtimes from memory.
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        let n = self.store.sweep().await?;
        let stale: Vec<Arc<str>> = self
            .live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, rt)| lock(&rt.checked_at).elapsed() > self.ttl)
            .map(|(k, _)| k.clone())
            .collect();
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        for k in stale {
            live.remove(&k);
        }
        Ok(n)
    }
}
