//! Counters: the atomic numbers behind every rate limit and lockout.

use super::SqlStore;
use crate::store::backend::vals;
use crate::store::{BoxFuture, StoreError, StoreResult};

pub(super) fn counter<'a>(
    st: &'a SqlStore,
    key: &'a str,
    now: i64,
) -> BoxFuture<'a, StoreResult<Option<i64>>> {
    Box::pin(st.get_opt(
        "SELECT value FROM authz_counters WHERE key = $1 AND expires_at > $2",
        vals![key, now],
        |r| r.int(0),
    ))
}

pub(super) fn add_to_counter<'a>(
    st: &'a SqlStore,
    key: &'a str,
    by: i64,
    now: i64,
    expires_at: i64,
) -> BoxFuture<'a, StoreResult<i64>> {
    Box::pin(async move {
        // One statement: the row lock of the upsert orders racing callers, and an expired
        // row restarts as if it were missing.
        st.get_opt(
            "INSERT INTO authz_counters (key, value, expires_at) VALUES ($1, $2, $4) \
             ON CONFLICT (key) DO UPDATE SET \
               value = CASE WHEN authz_counters.expires_at <= $3 THEN $2 \
                       ELSE authz_counters.value + $2 END, \
               expires_at = CASE WHEN authz_counters.expires_at <= $3 THEN $4 \
                       ELSE authz_counters.expires_at END \
             RETURNING value",
            vals![key, by, now, expires_at],
            |r| r.int(0),
        )
        .await?
        .ok_or_else(|| StoreError::Unavailable("the counter was not stored".into()))
    })
}

pub(super) fn set_counter<'a>(
    st: &'a SqlStore,
    key: &'a str,
    value: i64,
    expires_at: i64,
) -> BoxFuture<'a, StoreResult<()>> {
    Box::pin(st.run(
        "INSERT INTO authz_counters (key, value, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = $2, expires_at = $3",
        vals![key, value, expires_at],
    ))
}

pub(super) fn delete_counter<'a>(st: &'a SqlStore, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
    Box::pin(st.run("DELETE FROM authz_counters WHERE key = $1", vals![key]))
}
