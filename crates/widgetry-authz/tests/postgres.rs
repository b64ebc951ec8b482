//! The core flow against a real PostgreSQL (127.0.0.1:5432, database `test`, user
//! `postgres`, or `WIDGETRY_TEST_POSTGRES_URL`), in a schema created for this run and
//! dropped afterwards.

mod common;

use common::*;
use widgetry_authz::{open_store, NewUser};

const CALLBACK: &str = "http://127.0.0.1:9/callback";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_runs_the_core_flow_and_survives_a_restart() {
    let pg = PgSchema::create("test").await;
    let url = pg.url.clone();
    let outcome = tokio::spawn(core_flow(url)).await;
    pg.drop().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn core_flow(url: String) {
    let (listener, base) = bind().await;
    let config = config(&base);
    let ts = serve(
        listener,
        config.clone(),
        open_store(&url).await.expect("postgres store"),
    )
    .await;
    ts.server
        .users()
        .add(NewUser::new(USER, PASSWORD).name("Ada Lovelace"))
        .await
        .unwrap();
    assert_eq!(ts.metadata().await["issuer"], base);

    // Registration, sign-in, consent, code, tokens verified against the JWKS.
    let client = ts.register(CALLBACK, true).await;
    let tokens = ts.tokens_for(&client).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let claims = ts.verify_with_jwks(&access).await;
    assert_eq!(claims["aud"], format!("{base}/mcp"));
    assert_eq!(ts.introspect(&client, &access).await["active"], true);

    // Rotation, the double-refresh race, and reuse beyond it revoking the grant.
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (a, b) = tokio::join!(ts.refresh(&client, &r1), ts.refresh(&client, &r1));
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.body, b.body);
    let r2 = b.json()["refresh_token"].as_str().unwrap().to_owned();
    let c = ts.refresh(&client, &r2).await;
    assert_eq!(c.status, 200, "{}", c.body);
    let r3 = c.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        ts.refresh(&client, &r1).await.json()["error"],
        "invalid_grant"
    );
    assert_eq!(
        ts.refresh(&client, &r3).await.json()["error"],
        "invalid_grant"
    );
    assert_eq!(ts.introspect(&client, &access).await["active"], false);

    // A reused code is refused and revokes its grant.
    let (code, verifier) = ts.code_for(&client, &[]).await;
    let first = ts.exchange(&client, &code, &verifier).await.json();
    assert_eq!(
        ts.exchange(&client, &code, &verifier).await.json()["error"],
        "invalid_grant"
    );
    assert_eq!(
        ts.refresh(&client, first["refresh_token"].as_str().unwrap())
            .await
            .json()["error"],
        "invalid_grant"
    );

    // Access token revocation.
    let tokens = ts.tokens_for(&client).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    ts.revoke(&client, &access).await;
    assert_eq!(ts.introspect(&client, &access).await["active"], false);

    // Lockout counters live in the store too.
    let (_, challenge) = pkce();
    let page = ts.authorize(&client, &challenge, &[]).await;
    let cookie = browser_cookie(&page);
    let mut last = 0;
    for _ in 0..5 {
        last = ts
            .sign_in(&page, &cookie, USER, "wrong password")
            .await
            .status;
    }
    assert_eq!(last, 429);
    assert_eq!(ts.sign_in(&page, &cookie, USER, PASSWORD).await.status, 429);

    // Restart: a new instance on a new connection keeps users, clients, grants, refresh
    // tokens and keys.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let old_kid = jsonwebtoken::decode_header(&access).unwrap().kid.unwrap();
    let new_kid = ts.server.rotate_signing_key().await.unwrap();
    drop(ts);
    let (listener, _) = bind().await;
    let ts = serve(listener, config, open_store(&url).await.expect("reopen")).await;
    assert!(ts.server.users().get(USER).await.unwrap().is_some());
    assert!(ts.server.clients().get(&client.id).await.unwrap().is_some());
    let jwks = ts.server.jwks().to_string();
    assert!(jwks.contains(&old_kid) && jwks.contains(&new_kid));
    let resp = ts.refresh(&client, &refresh).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let access = resp.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        jsonwebtoken::decode_header(&access).unwrap().kid.unwrap(),
        new_kid
    );
    ts.verify_with_jwks(&access).await;
    assert!(ts.server.sweep_expired().await.is_ok());
}
