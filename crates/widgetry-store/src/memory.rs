//! The in-memory stores: one process, nothing survives a restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use crate::kv::{self, check_key, check_prefix, expiry, KvEntry, KvStore, Namespace};
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

/// One value of a [`MemoryKvStore`].
#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    expires_at_ms: Option<u64>,
}

impl Entry {
    fn live(&self, now: u64) -> bool {
        self.expires_at_ms.is_none_or(|e| e > now)
    }
}

/// App data held in a process-local map. For tests and single-process development.
#[derive(Debug, Default)]
pub struct MemoryKvStore {
    map: Mutex<HashMap<Namespace, BTreeMap<String, Entry>>>,
}

impl MemoryKvStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<Namespace, BTreeMap<String, Entry>>) -> T) -> T {
        let mut guard = self.map.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

fn ready<'a, T: Send + 'a>(v: StoreResult<T>) -> BoxFuture<'a, StoreResult<T>> {
    Box::pin(async move { v })
}

impl KvStore for MemoryKvStore {
    fn get<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        let now = now_ms();
        ready(check_key(key).map(|()| {
            self.with(|m| {
                m.get(ns)
                    .and_then(|n| n.get(key))
                    .filter(|e| e.live(now))
                    .map(|e| e.value.clone())
            })
        }))
    }

    fn put<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        ready(check_key(key).map(|()| {
            let entry = Entry {
                value: value.to_vec(),
                expires_at_ms: expiry(ttl),
            };
            self.with(|m| {
                m.entry(ns.clone())
                    .or_default()
                    .insert(key.to_owned(), entry)
            });
        }))
    }

    fn delete<'a>(&'a self, ns: &'a Namespace, key: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        let now = now_ms();
        ready(check_key(key).map(|()| {
            self.with(|m| {
                m.get_mut(ns)
                    .and_then(|n| n.remove(key))
                    .is_some_and(|e| e.live(now))
            })
        }))
    }

    fn incr<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        by: i64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        let now = now_ms();
        ready(check_key(key).and_then(|()| {
            self.with(|m| {
                let n = m.entry(ns.clone()).or_default();
                let current = match n.get(key).filter(|e| e.live(now)) {
                    Some(e) => Some((kv::parse_counter(ns, key, &e.value)?, e.expires_at_ms)),
                    None => None,
                };
                let (next, expires_at_ms) = match current {
                    Some((v, exp)) => (
                        v.checked_add(by).ok_or_else(|| kv::overflow(ns, key, by))?,
                        exp,
                    ),
                    None => (by, expiry(ttl)),
                };
                n.insert(
                    key.to_owned(),
                    Entry {
                        value: next.to_string().into_bytes(),
                        expires_at_ms,
                    },
                );
                Ok(next)
            })
        }))
    }

    fn list<'a>(
        &'a self,
        ns: &'a Namespace,
        prefix: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<KvEntry>>> {
        let now = now_ms();
        ready(check_prefix(prefix).map(|()| {
            self.with(|m| {
                let Some(n) = m.get(ns) else {
                    return Vec::new();
                };
                n.range::<str, _>((
                    std::ops::Bound::Included(prefix),
                    std::ops::Bound::Unbounded,
                ))
                .take_while(|(k, _)| k.starts_with(prefix))
                .filter(|(_, e)| e.live(now))
                .take(limit)
                .map(|(k, e)| (k.clone(), e.value.clone()))
                .collect()
            })
        }))
    }

    fn put_if_absent<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let now = now_ms();
        ready(check_key(key).map(|()| {
            self.with(|m| {
                let n = m.entry(ns.clone()).or_default();
                if n.get(key).is_some_and(|e| e.live(now)) {
                    return false;
                }
                let entry = Entry {
                    value: value.to_vec(),
                    expires_at_ms: expiry(ttl),
                };
                n.insert(key.to_owned(), entry);
                true
            })
        }))
    }

    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>> {
        let now = now_ms();
        let removed = self.with(|m| {
            let mut removed = 0u64;
            for n in m.values_mut() {
                let before = n.len();
                n.retain(|_, e| e.live(now));
                removed += (before - n.len()) as u64;
            }
            m.retain(|_, n| !n.is_empty());
            removed
        });
        ready(Ok(removed))
    }
}
