//! Users: accounts, their passwords and second factors.

use super::authorizations::revoke_grants_where;
use super::{from_json, json, SqlStore};
use crate::store::backend::{vals, Row};
use crate::store::{BoxFuture, StoreResult, UserRecord};

fn user_from(r: &Row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: r.text(0)?,
        username: r.text(1)?,
        name: r.text(2)?,
        password_hash: r.text(3)?,
        scopes: r.opt_text(4)?.map(|s| from_json(&s)).transpose()?,
        totp_secret: r.opt_text(5)?,
        totp_last_step: r.int(6)?,
        created_at: r.int(7)?,
    })
}

pub(super) fn insert_user(st: &SqlStore, user: UserRecord) -> BoxFuture<'_, StoreResult<bool>> {
    Box::pin(async move {
        let scopes = user.scopes.as_ref().map(json).transpose()?;
        st.changed(
            insert!(
                "authz_users",
                user_cols,
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
            ),
            vals![
                user.id,
                user.username,
                user.name,
                user.password_hash,
                scopes,
                user.totp_secret,
                user.totp_last_step,
                user.created_at
            ],
        )
        .await
    })
}

pub(super) fn user_by_username<'a>(
    st: &'a SqlStore,
    username: &'a str,
) -> BoxFuture<'a, StoreResult<Option<UserRecord>>> {
    Box::pin(st.get_opt(
        select!(user_cols, "authz_users WHERE username = $1"),
        vals![username],
        user_from,
    ))
}

pub(super) fn user_by_id<'a>(
    st: &'a SqlStore,
    id: &'a str,
) -> BoxFuture<'a, StoreResult<Option<UserRecord>>> {
    Box::pin(st.get_opt(
        select!(user_cols, "authz_users WHERE id = $1"),
        vals![id],
        user_from,
    ))
}

pub(super) fn list_users(st: &SqlStore) -> BoxFuture<'_, StoreResult<Vec<UserRecord>>> {
    Box::pin(st.get_all(
        select!(user_cols, "authz_users ORDER BY username"),
        vals![],
        user_from,
    ))
}

pub(super) fn delete_user<'a>(
    st: &'a SqlStore,
    username: &'a str,
    now: i64,
) -> BoxFuture<'a, StoreResult<bool>> {
    Box::pin(async move {
        let mut s = st.db.session(true).await?;
        let Some(row) = s
            .query_opt(
                "SELECT id FROM authz_users WHERE username = $1",
                vals![username],
            )
            .await?
        else {
            return Ok(false);
        };
        let id = row.text(0)?;
        revoke_grants_where(&mut s, "user_id", &id, now).await?;
        s.execute("DELETE FROM authz_pending WHERE user_id = $1", vals![&id])
            .await?;
        s.execute("DELETE FROM authz_users WHERE id = $1", vals![&id])
            .await?;
        s.commit().await?;
        Ok(true)
    })
}

pub(super) fn use_totp_step<'a>(
    st: &'a SqlStore,
    user_id: &'a str,
    step: i64,
) -> BoxFuture<'a, StoreResult<bool>> {
    Box::pin(st.changed(
        "UPDATE authz_users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
        vals![user_id, step],
    ))
}
