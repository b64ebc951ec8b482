//! Clients: registered, dynamic and metadata-document clients.

use super::authorizations::revoke_grants_where;
use super::{from_json, json, SqlStore};
use crate::store::backend::{vals, Row};
use crate::store::{BoxFuture, ClientKind, ClientRecord, StoreError, StoreResult};

fn client_from(r: &Row) -> StoreResult<ClientRecord> {
    let kind = r.text(8)?;
    Ok(ClientRecord {
        client_id: r.text(0)?,
        secret_hash: r.opt_text(1)?,
        name: r.text(2)?,
        redirect_uris: from_json(&r.text(3)?)?,
        grant_types: from_json(&r.text(4)?)?,
        auth_method: r.text(5)?,
        scope: r.opt_text(6)?,
        client_uri: r.opt_text(7)?,
        kind: ClientKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown client kind {kind:?}")))?,
        created_at: r.int(9)?,
        last_used_at: r.opt_int(10)?,
    })
}

pub(super) fn insert_client(st: &SqlStore, c: ClientRecord) -> BoxFuture<'_, StoreResult<bool>> {
    Box::pin(async move {
        let redirect_uris = json(&c.redirect_uris)?;
        let grant_types = json(&c.grant_types)?;
        st.changed(
            insert!(
                "authz_clients",
                client_cols,
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING"
            ),
            vals![
                c.client_id,
                c.secret_hash,
                c.name,
                redirect_uris,
                grant_types,
                c.auth_method,
                c.scope,
                c.client_uri,
                c.kind.as_str(),
                c.created_at,
                c.last_used_at
            ],
        )
        .await
    })
}

pub(super) fn client<'a>(
    st: &'a SqlStore,
    client_id: &'a str,
) -> BoxFuture<'a, StoreResult<Option<ClientRecord>>> {
    Box::pin(st.get_opt(
        select!(client_cols, "authz_clients WHERE client_id = $1"),
        vals![client_id],
        client_from,
    ))
}

pub(super) fn list_clients(st: &SqlStore) -> BoxFuture<'_, StoreResult<Vec<ClientRecord>>> {
    Box::pin(st.get_all(
        select!(client_cols, "authz_clients ORDER BY client_id"),
        vals![],
        client_from,
    ))
}

pub(super) fn delete_client<'a>(
    st: &'a SqlStore,
    client_id: &'a str,
    now: i64,
) -> BoxFuture<'a, StoreResult<bool>> {
    Box::pin(async move {
        let mut s = st.db.session(true).await?;
        revoke_grants_where(&mut s, "client_id", client_id, now).await?;
        let n = s
            .execute(
                "DELETE FROM authz_clients WHERE client_id = $1",
                vals![client_id],
            )
            .await?;
        s.commit().await?;
        Ok(n > 0)
    })
}

pub(super) fn mark_client_used<'a>(
    st: &'a SqlStore,
    client_id: &'a str,
    now: i64,
) -> BoxFuture<'a, StoreResult<()>> {
    Box::pin(st.run(
        "UPDATE authz_clients SET last_used_at = $2 WHERE client_id = $1",
        vals![client_id, now],
    ))
}

pub(super) fn count_unused_registrations(
    st: &SqlStore,
    created_after: i64,
) -> BoxFuture<'_, StoreResult<u64>> {
    Box::pin(st.count(
        "SELECT COUNT(*) FROM authz_clients WHERE kind = 'dynamic' \
         AND last_used_at IS NULL AND created_at > $1",
        vals![created_after],
    ))
}
