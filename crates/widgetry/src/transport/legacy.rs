//! The open sessions of the legacy HTTP+SSE transport, by id: each lives as long as its
//! stream, on this instance only, within the same session limits as Streamable HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::server::session::{CreateError, SessionLimits};
use crate::server::SessionRuntime;

/// Open legacy sessions by id.
#[derive(Default)]
pub(crate) struct LegacySessions {
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
}
