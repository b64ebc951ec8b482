//! Authorizations: pending requests, grants and their codes.

use super::{fetch_opt, from_json, json, SqlStore};
use crate::store::backend::{vals, Row, Session};
use crate::store::{
    AuthorizationRequest, BoxFuture, CodeRecord, CodeUse, GrantRecord, PendingAuthorization,
    PendingStage, StoreError, StoreResult,
};

fn pending_from(r: &Row) -> StoreResult<PendingAuthorization> {
    let stage = r.text(3)?;
    let request: AuthorizationRequest = from_json(&r.text(5)?)?;
    Ok(PendingAuthorization {
        id: r.text(0)?,
        browser_hash: r.text(1)?,
        csrf_hash: r.text(2)?,
        stage: PendingStage::parse(&stage)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown stage {stage:?}")))?,
        user_id: r.opt_text(4)?,
        request,
        expires_at: r.int(6)?,
    })
}

pub(super) fn grant_from(r: &Row) -> StoreResult<GrantRecord> {
    Ok(GrantRecord {
        id: r.text(0)?,
        client_id: r.text(1)?,
        user_id: r.text(2)?,
        scope: r.text(3)?,
        resource: r.text(4)?,
        refresh_allowed: r.flag(5)?,
        created_at: r.int(6)?,
        revoked_at: r.opt_int(7)?,
    })
}

fn code_from(r: &Row) -> StoreResult<CodeRecord> {
    Ok(CodeRecord {
        code_hash: r.text(0)?,
        grant_id: r.text(1)?,
        redirect_uri: r.text(2)?,
        code_challenge: r.text(3)?,
        expires_at: r.int(4)?,
        used_at: r.opt_int(5)?,
        redirect_uri_sent: r.flag(6)?,
    })
}

pub(super) async fn revoke_grant_in(
    s: &mut Session<'_>,
    grant_id: &str,
    now: i64,
) -> StoreResult<bool> {
    let changed = s
        .execute(
            "UPDATE authz_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            vals![grant_id, now],
        )
        .await?;
    s.execute(
        "INSERT INTO authz_revoked_jtis (jti, expires_at) \
         SELECT jti, expires_at FROM authz_access_tokens WHERE grant_id = $1 AND expires_at > $2 \
         ON CONFLICT (jti) DO NOTHING",
        vals![grant_id, now],
    )
    .await?;
    s.execute(
        "DELETE FROM authz_access_tokens WHERE grant_id = $1",
        vals![grant_id],
    )
    .await?;
    s.execute(
        "DELETE FROM authz_refresh_tokens WHERE grant_id = $1",
        vals![grant_id],
    )
    .await?;
    Ok(changed > 0)
}

/// Revokes every live grant whose `column` (a fixed column name) is `value`.
pub(super) async fn revoke_grants_where(
    s: &mut Session<'_>,
    column: &'static str,
    value: &str,
    now: i64,
) -> StoreResult<()> {
    let sql = format!("SELECT id FROM authz_grants WHERE {column} = $1 AND revoked_at IS NULL");
    let ids = s.query(&sql, vals![value]).await?;
    for row in ids {
        revoke_grant_in(s, &row.text(0)?, now).await?;
    }
    Ok(())
}

pub(super) fn count_pending(st: &SqlStore, now: i64) -> BoxFuture<'_, StoreResult<u64>> {
    Box::pin(st.count(
        "SELECT COUNT(*) FROM authz_pending WHERE expires_at > $1",
        vals![now],
    ))
}

pub(super) fn insert_pending(
    st: &SqlStore,
    p: PendingAuthorization,
) -> BoxFuture<'_, StoreResult<()>> {
    Box::pin(async move {
        let request = json(&p.request)?;
        st.run(
            insert!(
                "authz_pending",
                pending_cols,
                "VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            vals![
                p.id,
                p.browser_hash,
                p.csrf_hash,
                p.stage.as_str(),
                p.user_id,
                request,
                p.expires_at
            ],
        )
        .await
    })
}

pub(super) fn pending<'a>(
    st: &'a SqlStore,
    id: &'a str,
    now: i64,
) -> BoxFuture<'a, StoreResult<Option<PendingAuthorization>>> {
    Box::pin(st.get_opt(
        select!(
            pending_cols,
            "authz_pending WHERE id = $1 AND expires_at > $2"
        ),
        vals![id, now],
        pending_from,
    ))
}

pub(super) fn replace_pending<'a>(
    st: &'a SqlStore,
    p: PendingAuthorization,
    expected_csrf_hash: &'a str,
) -> BoxFuture<'a, StoreResult<bool>> {
    Box::pin(async move {
        let request = json(&p.request)?;
        st.changed(
            "UPDATE authz_pending SET browser_hash = $2, csrf_hash = $3, stage = $4, \
             user_id = $5, request = $6, expires_at = $7 WHERE id = $1 AND csrf_hash = $8",
            vals![
                p.id,
                p.browser_hash,
                p.csrf_hash,
                p.stage.as_str(),
                p.user_id,
                request,
                p.expires_at,
                expected_csrf_hash
            ],
        )
        .await
    })
}

pub(super) fn take_pending<'a>(
    st: &'a SqlStore,
    id: &'a str,
    expected_csrf_hash: &'a str,
) -> BoxFuture<'a, StoreResult<bool>> {
    Box::pin(st.changed(
        "DELETE FROM authz_pending WHERE id = $1 AND csrf_hash = $2",
        vals![id, expected_csrf_hash],
    ))
}

pub(super) fn insert_grant_with_code(
    st: &SqlStore,
    g: GrantRecord,
    c: CodeRecord,
) -> BoxFuture<'_, StoreResult<()>> {
    Box::pin(async move {
        let mut s = st.db.session(true).await?;
        s.execute(
            insert!(
                "authz_grants",
                grant_cols,
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            vals![
                g.id,
                g.client_id,
                g.user_id,
                g.scope,
                g.resource,
                g.refresh_allowed,
                g.created_at,
                g.revoked_at
            ],
        )
        .await?;
        s.execute(
            insert!(
                "authz_codes",
                code_cols,
                "VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            vals![
                c.code_hash,
                c.grant_id,
                c.redirect_uri,
                c.code_challenge,
                c.expires_at,
                c.used_at,
                c.redirect_uri_sent
            ],
        )
        .await?;
        s.commit().await
    })
}

pub(super) fn grant<'a>(
    st: &'a SqlStore,
    id: &'a str,
) -> BoxFuture<'a, StoreResult<Option<GrantRecord>>> {
    Box::pin(st.get_opt(
        select!(grant_cols, "authz_grants WHERE id = $1"),
        vals![id],
        grant_from,
    ))
}

/// Marks a code used inside the session's transaction (the caller commits).
pub(super) async fn consume_code_in(
    st: &SqlStore,
    s: &mut Session<'_>,
    code_hash: &str,
    now: i64,
) -> StoreResult<CodeUse> {
    let sql = st.locking(locking!(select!(
        code_cols,
        "authz_codes WHERE code_hash = $1"
    )));
    let Some(mut code) = fetch_opt(s, sql, vals![code_hash], code_from).await? else {
        return Ok(CodeUse::Unknown);
    };
    if code.used_at.is_some() {
        return Ok(CodeUse::Reused(code));
    }
    s.execute(
        "UPDATE authz_codes SET used_at = $2 WHERE code_hash = $1",
        vals![code_hash, now],
    )
    .await?;
    code.used_at = Some(now);
    Ok(CodeUse::Fresh(code))
}

pub(super) fn revoke_grant<'a>(
    st: &'a SqlStore,
    grant_id: &'a str,
    now: i64,
) -> BoxFuture<'a, StoreResult<bool>> {
    Box::pin(async move {
        let mut s = st.db.session(true).await?;
        let changed = revoke_grant_in(&mut s, grant_id, now).await?;
        s.commit().await?;
        Ok(changed)
    })
}
