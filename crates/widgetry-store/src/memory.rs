//! The in-memory session store: one process, nothing survives a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{now_ms, BoxFuture, SessionRecord, SessionStore, StoreResult};

/// Sessions held in a process-local map. For tests and single-process development.
#[derive(Debug, Default)]
pub struct MemorySessionStore {
    map: Mutex<HashMap<String, SessionRecord>>,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, SessionRecord>) -> T) -> T {
        let mut guard = self.map.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

impl SessionStore for MemorySessionStore {
    fn put(&self, record: SessionRecord) -> BoxFuture<'_, StoreResult<()>> {
        self.with(|m| m.insert(record.id.clone(), record));
        Box::pin(async { Ok(()) })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<SessionRecord>>> {
        let now = now_ms();
        let r = self.with(|m| m.get(id).filter(|r| r.expires_at_ms > now).cloned());
        Box::pin(async move { Ok(r) })
    }

    fn touch<'a>(&'a self, id: &'a str, expires_at_ms: u64) -> BoxFuture<'a, StoreResult<bool>> {
        let now = now_ms();
        let ok = self.with(|m| match m.get_mut(id) {
            Some(r) if r.expires_at_ms > now => {
                r.expires_at_ms = expires_at_ms;
                true
            }
            _ => false,
        });
        Box::pin(async move { Ok(ok) })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        let now = now_ms();
        let ok = self.with(|m| m.remove(id).is_some_and(|r| r.expires_at_ms > now));
        Box::pin(async move { Ok(ok) })
    }

    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>> {
        let now = now_ms();
        let n = self.with(|m| {
            let before = m.len();
            m.retain(|_, r| r.expires_at_ms > now);
            (before - m.len()) as u64
        });
        Box::pin(async move { Ok(n) })
    }
}
