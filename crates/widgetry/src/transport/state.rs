//! The state the HTTP transports share: the engine, the settings, the Streamable HTTP
//! sessions and the open legacy SSE sessions, with the sweeper of expired sessions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::config::HttpConfig;
use crate::protocol::jsonrpc;
use crate::server::session::{CreateError, SessionLimits};
use crate::server::{Server, SessionManager, SessionRuntime};

/// Shared state of the HTTP transports.
pub struct HttpState {
    pub(crate) server: Server,
    pub(crate) config: HttpConfig,
    pub(crate) sessions: SessionManager,
    pub(crate) legacy: LegacySessions,
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpState {
    /// The engine.
    pub fn server(&self) -> &Server {
        &self.server
    }
    /// The session manager.
    pub(crate) fn sessions(&self) -> &SessionManager {
        &self.sessions
    }

    /// How many Streamable HTTP sessions are live in this process (held in memory; the
    /// store may know more, from other instances or not yet resumed here).
    pub fn live_sessions(&self) -> usize {
        self.sessions.live_sessions().len()
    }

    /// Sends `notifications/resources/updated` to every session on this instance that
    /// subscribed to `uri`; returns how many were notified.
    pub fn notify_resource_updated(&self, uri: &str) -> usize {
        let msg = jsonrpc::encode_notification(
            "notifications/resources/updated",
            &serde_json::json!({ "uri": uri }),
        );
        self.sessions
            .live_sessions()
            .into_iter()
            .chain(self.legacy.all())
            .filter(|s| s.is_subscribed(uri))
            .filter(|s| s.send_standalone(&msg))
            .count()
    }
}

/// Open legacy sessions by id.
#[derive(Default)]
pub struct LegacySessions {
    map: Mutex<HashMap<String, Arc<SessionRuntime>>>,
}

impl LegacySessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<SessionRuntime>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Inserts a session if the limits allow one more for `creator`.
    pub(crate) fn insert(
        &self,
        s: Arc<SessionRuntime>,
        limits: &SessionLimits,
    ) -> Result<(), CreateError> {
        let mut map = self.lock();
        limits.admit(s.creator(), map.values().map(|r| r.creator()))?;
        map.insert(s.id().to_string(), s);
        Ok(())
    }
    pub(crate) fn get(&self, id: &str) -> Option<Arc<SessionRuntime>> {
        self.lock().get(id).cloned()
    }
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
    pub(crate) fn all(&self) -> Vec<Arc<SessionRuntime>> {
        self.lock().values().cloned().collect()
    }
    /// How many legacy streams are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Sweeps expired sessions in the background while the state lives.
pub(crate) fn spawn_sweeper(state: &Arc<HttpState>) {
    let weak = Arc::downgrade(state);
    let period = (state.config.session_ttl / 4).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    );
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            if let Err(e) = state.sessions.sweep().await {
                tracing::warn!("session sweep failed: {e}");
            }
        }
    });
}
