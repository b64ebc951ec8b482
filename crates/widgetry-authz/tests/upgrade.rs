//! Upgrading the authorization store: a store at schema version 2, as the previous
//! release wrote it (a fixture), opens with this code on SQLite and PostgreSQL, reaches
//! the current version in one go and keeps its users, clients, grants, tokens and keys; a
//! store newer than the code is refused and left as it is; instances opening a fresh
//! PostgreSQL store together all succeed.

mod common;

use std::sync::Arc;

use common::{admin, base_url};
use widgetry_authz::{open_store, AuthzStore, ClientKind, RefreshTokenState, StoreError};

const V2_FIXTURE: &str = include_str!("fixtures/authz_schema_v2.sql");
/// The schema version this code writes.
const CURRENT: &str = "3";

/// Everything the fixture holds, read back through the store; then writes of each kind.
async fn v2_data_survives(store: &dyn AuthzStore) {
    let alice = store
        .user_by_username("alice")
        .await
        .unwrap()
        .expect("alice");
    assert_eq!(alice.id, "u-alice");
    assert_eq!(alice.name, "Alice Example");
    assert!(alice.password_hash.starts_with("$argon2id$"));
    assert_eq!(
        alice.scopes.as_deref(),
        Some(&["gallery:read".to_owned(), "gallery:write".to_owned()][..])
    );
    let client = store
        .client("c-chatgpt")
        .await
        .unwrap()
        .expect("the client");
    assert_eq!(client.kind, ClientKind::Dynamic);
    assert_eq!(
        client.redirect_uris,
        vec!["https://chatgpt.com/connector_platform_oauth_redirect".to_owned()]
    );
    assert_eq!(client.last_used_at, Some(1_764_000_200));
    let (token, grant) = store
        .refresh_token("rt-hash-2", 1_764_100_000)
        .await
        .unwrap()
        .expect("the active refresh token and its grant");
    assert_eq!(token.state, RefreshTokenState::Active);
    assert_eq!(token.parent_hash.as_deref(), Some("rt-hash-1"));
    assert_eq!(
        (grant.id.as_str(), grant.user_id.as_str()),
        ("g-1", "u-alice")
    );
    assert!(grant.revoked_at.is_none());
    assert!(store.jti_revoked("jti-0").await.unwrap());
    assert!(!store.jti_revoked("jti-1").await.unwrap());
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0].kid.as_str(), keys[0].active), ("kid-1", true));

    // The tables of version 3 work: counters, and codes with `redirect_uri_sent`.
    assert_eq!(
        store
            .add_to_counter("signin:alice", 1, 1_764_100_000, 1_764_200_000)
            .await
            .unwrap(),
        1,
        "failure windows of version 2 are not carried over"
    );
    assert!(store.revoke_grant("g-1", 1_764_100_001).await.unwrap());
    assert_eq!(
        store.grant("g-1").await.unwrap().unwrap().revoked_at,
        Some(1_764_100_001)
    );
}

fn refused_as_newer<T>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Corrupt(m)) => {
            assert!(m.contains("schema version 4") && m.contains(CURRENT), "{m}")
        }
        Err(other) => panic!("expected a refusal of version 4, got {other}"),
        Ok(_) => panic!("a store at version 4 was opened"),
    }
}

fn sqlite_version(path: &std::path::Path) -> String {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT value FROM authz_meta WHERE name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_at_version_2_is_upgraded_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authz.sqlite3");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(V2_FIXTURE)
        .unwrap();
    let location = path.display().to_string();

    let store = open_store(&location).await.unwrap();
    assert_eq!(sqlite_version(&path), CURRENT);
    v2_data_survives(&*store).await;
    drop(store);
    let tables: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'authz_attempts'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the table version 3 replaced is gone");

    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("UPDATE authz_meta SET value = '4' WHERE name = 'schema_version'")
        .unwrap();
    refused_as_newer(open_store(&location).await);
    assert_eq!(sqlite_version(&path), "4", "a refused store is left alone");
}

/// A schema of this test on the test PostgreSQL, dropped at the end, and the store URL
/// that uses it.
struct PgSchema {
    name: String,
}

impl PgSchema {
    async fn new(tag: &str) -> Self {
        let name = format!(
            "authz_{tag}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        admin()
            .await
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Self { name }
    }

    fn url(&self) -> String {
        let sep = if base_url().contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", base_url(), self.name)
    }

    async fn version(&self) -> String {
        admin()
            .await
            .query_one(
                &format!(
                    "SELECT value FROM {}.authz_meta WHERE name = 'schema_version'",
                    self.name
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0)
    }

    async fn drop_it(self) {
        admin()
            .await
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_store_at_version_2_is_upgraded_with_its_data() {
    let schema = PgSchema::new("upgrade").await;
    admin()
        .await
        .batch_execute(&format!("SET search_path TO {}; {V2_FIXTURE}", schema.name))
        .await
        .unwrap();
    let url = schema.url();
    let outcome = tokio::spawn({
        let url = url.clone();
        async move {
            let store = open_store(&url).await.unwrap();
            v2_data_survives(&*store).await;
        }
    })
    .await;
    let upgraded = schema.version().await;
    admin()
        .await
        .batch_execute(&format!(
            "UPDATE {}.authz_meta SET value = '4' WHERE name = 'schema_version'",
            schema.name
        ))
        .await
        .unwrap();
    let newer = open_store(&url).await;
    let after = schema.version().await;
    schema.drop_it().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    assert_eq!(upgraded, CURRENT);
    refused_as_newer(newer);
    assert_eq!(after, "4", "a refused store is left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_opening_a_fresh_postgres_store_together_all_succeed() {
    let schema = PgSchema::new("race").await;
    let url = Arc::new(schema.url());
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { open_store(&url).await.map(|_| ()) })
        })
        .collect();
    let mut results = Vec::new();
    for o in opens {
        results.push(o.await.unwrap());
    }
    let version = schema.version().await;
    schema.drop_it().await;
    for r in results {
        r.expect("every instance opens the store");
    }
    assert_eq!(version, CURRENT);
}
