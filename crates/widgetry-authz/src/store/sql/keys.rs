//! Signing keys: the active key, keys still published, and their token horizons.

use super::SqlStore;
use crate::store::backend::{vals, Row};
use crate::store::{BoxFuture, SigningKeyRecord, StoreResult};

fn key_from(r: &Row) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: r.text(0)?,
        alg: r.text(1)?,
        private_key: r.text(2)?,
        public_jwk: r.text(3)?,
        created_at: r.int(4)?,
        active: r.flag(5)?,
        publish_until: r.opt_int(6)?,
        max_token_exp: r.int(7)?,
    })
}

pub(super) fn signing_keys(st: &SqlStore) -> BoxFuture<'_, StoreResult<Vec<SigningKeyRecord>>> {
    Box::pin(st.get_all(
        select!(key_cols, "authz_signing_keys ORDER BY created_at, kid"),
        vals![],
        key_from,
    ))
}

pub(super) fn activate_signing_key(
    st: &SqlStore,
    k: SigningKeyRecord,
    publish_until_floor: i64,
) -> BoxFuture<'_, StoreResult<()>> {
    Box::pin(async move {
        let mut s = st.db.session(true).await?;
        s.execute(
            "UPDATE authz_signing_keys SET active = 0, publish_until = \
             CASE WHEN max_token_exp > $1 THEN max_token_exp ELSE $1 END WHERE active = 1",
            vals![publish_until_floor],
        )
        .await?;
        s.execute(
            insert!(
                "authz_signing_keys",
                key_cols,
                "VALUES ($1, $2, $3, $4, $5, 1, NULL, $6)"
            ),
            vals![
                k.kid,
                k.alg,
                k.private_key,
                k.public_jwk,
                k.created_at,
                k.max_token_exp
            ],
        )
        .await?;
        s.commit().await
    })
}

pub(super) fn extend_key_token_exp<'a>(
    st: &'a SqlStore,
    kid: &'a str,
    exp: i64,
) -> BoxFuture<'a, StoreResult<()>> {
    Box::pin(st.run(
        "UPDATE authz_signing_keys SET max_token_exp = $2, publish_until = \
         CASE WHEN publish_until IS NOT NULL AND publish_until < $2 THEN $2 ELSE publish_until END \
         WHERE kid = $1 AND max_token_exp < $2",
        vals![kid, exp],
    ))
}
