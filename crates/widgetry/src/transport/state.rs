//! The state the HTTP transports share: the engine, the settings, the Streamable HTTP
//! sessions and the open legacy SSE sessions, with the sweeper of expired sessions.

use std::sync::Arc;

use super::config::HttpConfig;
#[cfg(feature = "legacy-sse")]
use super::legacy::LegacySessions;
use crate::protocol::jsonrpc;
use crate::server::{Server, SessionManager, SessionRuntime};

/// Shared state of the HTTP transports.
pub struct HttpState {
    pub(crate) server: Server,
    pub(crate) config: HttpConfig,
    pub(crate) sessions: SessionManager,
    #[cfg(feature = "legacy-sse")]
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
    /// Every session open in this process: Streamable HTTP sessions held in memory, and
    /// legacy SSE streams.
    pub(crate) fn open_sessions(&self) -> Vec<Arc<SessionRuntime>> {
        #[allow(unused_mut)]
        let mut all = self.sessions.live_sessions();
        #[cfg(feature = "legacy-sse")]
        all.extend(self.legacy.all());
        all
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
        self.open_sessions()
            .into_iter()
            .filter(|s| s.is_subscribed(uri))
            .filter(|s| s.send_standalone(&msg))
            .count()
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
