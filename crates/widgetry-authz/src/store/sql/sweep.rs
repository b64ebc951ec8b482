//! The periodic removal of expired records.

use super::SqlStore;
use crate::store::backend::vals;
use crate::store::{BoxFuture, StoreResult};

pub(super) fn sweep(
    st: &SqlStore,
    now: i64,
    unused_client_floor: i64,
) -> BoxFuture<'_, StoreResult<u64>> {
    Box::pin(async move {
        let mut s = st.db.session(true).await?;
        let mut n = 0;
        for sql in [
            "DELETE FROM authz_pending WHERE expires_at <= $1",
            "DELETE FROM authz_codes WHERE expires_at <= $1",
            "DELETE FROM authz_refresh_tokens WHERE expires_at <= $1",
            "DELETE FROM authz_access_tokens WHERE expires_at <= $1",
            "DELETE FROM authz_revoked_jtis WHERE expires_at <= $1",
            "DELETE FROM authz_signing_keys WHERE active = 0 AND publish_until IS NOT NULL \
             AND publish_until <= $1",
        ] {
            n += s.execute(sql, vals![now]).await?;
        }
        n += s
            .execute(
                "DELETE FROM authz_clients WHERE kind = 'dynamic' AND last_used_at IS NULL \
                 AND created_at <= $1",
                vals![unused_client_floor],
            )
            .await?;
        n += s
            .execute(
                "DELETE FROM authz_grants WHERE \
                 NOT EXISTS (SELECT 1 FROM authz_codes WHERE authz_codes.grant_id = authz_grants.id) \
                 AND NOT EXISTS (SELECT 1 FROM authz_refresh_tokens \
                                 WHERE authz_refresh_tokens.grant_id = authz_grants.id) \
                 AND NOT EXISTS (SELECT 1 FROM authz_access_tokens \
                                 WHERE authz_access_tokens.grant_id = authz_grants.id)",
                vals![],
            )
            .await?;
        s.commit().await?;
        Ok(n)
    })
}
