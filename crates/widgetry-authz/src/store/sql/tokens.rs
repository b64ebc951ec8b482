//! Tokens: refresh-token families, issued access tokens and revoked token ids.

use super::authorizations::{consume_code_in, grant_from, revoke_grant_in};
use super::{fetch_opt, SqlStore};
use crate::store::backend::{vals, Row, Session};
use crate::store::{
    BoxFuture, CodeUse, GrantRecord, RefreshRotation, RefreshTokenRecord, RefreshTokenState,
    StoreError, StoreResult,
};

fn refresh_from(r: &Row) -> StoreResult<RefreshTokenRecord> {
    let state = r.text(3)?;
    Ok(RefreshTokenRecord {
        token_hash: r.text(0)?,
        grant_id: r.text(1)?,
        parent_hash: r.opt_text(2)?,
        state: RefreshTokenState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown token state {state:?}")))?,
        issued_at: r.int(4)?,
        expires_at: r.int(5)?,
    })
}

pub(super) async fn insert_refresh_in(
    s: &mut Session<'_>,
    t: &RefreshTokenRecord,
) -> StoreResult<()> {
    s.execute(
        insert!(
            "authz_refresh_tokens",
            refresh_cols,
            "VALUES ($1, $2, $3, $4, $5, $6)"
        ),
        vals![
            &t.token_hash,
            &t.grant_id,
            t.parent_hash.clone(),
            t.state.as_str(),
            t.issued_at,
            t.expires_at
        ],
    )
    .await?;
    Ok(())
}

pub(super) fn insert_refresh_token(
    st: &SqlStore,
    t: RefreshTokenRecord,
) -> BoxFuture<'_, StoreResult<()>> {
    Box::pin(async move {
        let mut s = st.db.session(false).await?;
        insert_refresh_in(&mut s, &t).await
    })
}

/// Marks a code used and, when its grant allows refresh, stores the grant's first
/// refresh token, in one transaction: a crash leaves either both or neither.
pub(super) fn consume_code<'a>(
    st: &'a SqlStore,
    code_hash: &'a str,
    now: i64,
    first_refresh: Option<RefreshTokenRecord>,
) -> BoxFuture<'a, StoreResult<CodeUse>> {
    Box::pin(async move {
        let mut s = st.db.session(true).await?;
        let used = consume_code_in(st, &mut s, code_hash, now).await?;
        let CodeUse::Fresh(code) = &used else {
            return Ok(used);
        };
        if let Some(mut token) = first_refresh {
            let allowed = s
                .query_opt(
                    "SELECT refresh_allowed FROM authz_grants WHERE id = $1 AND revoked_at IS NULL",
                    vals![&code.grant_id],
                )
                .await?
                .map(|r| r.int(0))
                .transpose()?
                .unwrap_or(0);
            if allowed != 0 {
                token.grant_id = code.grant_id.clone();
                token.parent_hash = None;
                token.state = RefreshTokenState::Active;
                insert_refresh_in(&mut s, &token).await?;
            }
        }
        s.commit().await?;
        Ok(used)
    })
}

pub(super) fn refresh_token<'a>(
    st: &'a SqlStore,
    token_hash: &'a str,
    now: i64,
) -> BoxFuture<'a, StoreResult<Option<(RefreshTokenRecord, GrantRecord)>>> {
    Box::pin(async move {
        let mut s = st.db.session(false).await?;
        let Some(token) = fetch_opt(
            &mut s,
            select!(
                refresh_cols,
                "authz_refresh_tokens WHERE token_hash = $1 AND expires_at > $2"
            ),
            vals![token_hash, now],
            refresh_from,
        )
        .await?
        else {
            return Ok(None);
        };
        let grant = fetch_opt(
            &mut s,
            select!(
                grant_cols,
                "authz_grants WHERE id = $1 AND revoked_at IS NULL"
            ),
            vals![&token.grant_id],
            grant_from,
        )
        .await?;
        Ok(grant.map(|grant| (token, grant)))
    })
}

pub(super) fn rotate_refresh_token<'a>(
    st: &'a SqlStore,
    presented_hash: &'a str,
    mut successor: RefreshTokenRecord,
    now: i64,
    grace_floor: i64,
) -> BoxFuture<'a, StoreResult<RefreshRotation>> {
    Box::pin(async move {
        let mut s = st.db.session(true).await?;
        let sql = st.locking(locking!(select!(
            refresh_cols,
            "authz_refresh_tokens WHERE token_hash = $1"
        )));
        let Some(token) = fetch_opt(&mut s, sql, vals![presented_hash], refresh_from).await? else {
            return Ok(RefreshRotation::Invalid);
        };
        let Some(grant) = fetch_opt(
            &mut s,
            select!(grant_cols, "authz_grants WHERE id = $1"),
            vals![&token.grant_id],
            grant_from,
        )
        .await?
        else {
            return Ok(RefreshRotation::Invalid);
        };
        if grant.revoked_at.is_some() {
            return Ok(RefreshRotation::Invalid);
        }
        let grace_over = if token.state == RefreshTokenState::Used {
            let used_at = s
                .query_opt(
                    "SELECT used_at FROM authz_refresh_tokens WHERE token_hash = $1",
                    vals![presented_hash],
                )
                .await?
                .map(|r| r.opt_int(0))
                .transpose()?
                .flatten();
            used_at.is_none_or(|t| t <= grace_floor)
        } else {
            false
        };
        if token.state == RefreshTokenState::Superseded || grace_over {
            revoke_grant_in(&mut s, &grant.id, now).await?;
            s.commit().await?;
            return Ok(RefreshRotation::Reused { grant_id: grant.id });
        }
        if token.expires_at <= now {
            return Ok(RefreshRotation::Invalid);
        }
        if token.state == RefreshTokenState::Active {
            s.execute(
                "UPDATE authz_refresh_tokens SET state = 'used', used_at = $2 WHERE token_hash = $1",
                vals![presented_hash, now],
            )
            .await?;
            if let Some(parent) = &token.parent_hash {
                // Its first use settles the race: the predecessor and the other
                // successors of the predecessor are now superseded.
                s.execute(
                    "UPDATE authz_refresh_tokens SET state = 'superseded' \
                     WHERE token_hash = $1 OR (parent_hash = $1 AND token_hash <> $2)",
                    vals![parent, presented_hash],
                )
                .await?;
            }
        }
        successor.grant_id = grant.id.clone();
        successor.parent_hash = Some(presented_hash.to_owned());
        successor.state = RefreshTokenState::Active;
        insert_refresh_in(&mut s, &successor).await?;
        s.commit().await?;
        Ok(RefreshRotation::Rotated(grant))
    })
}

pub(super) fn record_access_token<'a>(
    st: &'a SqlStore,
    jti: &'a str,
    grant_id: &'a str,
    expires_at: i64,
) -> BoxFuture<'a, StoreResult<()>> {
    Box::pin(st.run(
        "INSERT INTO authz_access_tokens (jti, grant_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (jti) DO NOTHING",
        vals![jti, grant_id, expires_at],
    ))
}

pub(super) fn revoke_jti<'a>(
    st: &'a SqlStore,
    jti: &'a str,
    expires_at: i64,
) -> BoxFuture<'a, StoreResult<()>> {
    Box::pin(st.run(
        "INSERT INTO authz_revoked_jtis (jti, expires_at) VALUES ($1, $2) \
         ON CONFLICT (jti) DO NOTHING",
        vals![jti, expires_at],
    ))
}

pub(super) fn jti_revoked<'a>(st: &'a SqlStore, jti: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
    Box::pin(async move {
        let found = st
            .get_opt(
                "SELECT jti FROM authz_revoked_jtis WHERE jti = $1",
                vals![jti],
                |_| Ok(()),
            )
            .await?;
        Ok(found.is_some())
    })
}
