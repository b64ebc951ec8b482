//! The authorization server over real HTTP with a real SQLite file: the full flow, then
//! every refusal with the error code its RFC prescribes.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use widgetry_authz::{NewClient, NewUser};

const CALLBACK: &str = "http://127.0.0.1:9/callback";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_discovery_registration_sign_in_consent_token_and_refresh_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;

    // Discovery: RFC 8414 and OpenID, with CORS.
    let md = ts
        .http
        .get(&ts.url("/.well-known/oauth-authorization-server"), &[])
        .await;
    assert_eq!(md.status, 200);
    assert_eq!(
        md.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let md = md.json();
    let issuer = ts.server.issuer().to_owned();
    assert_eq!(md["issuer"], issuer);
    assert_eq!(
        md["authorization_endpoint"],
        format!("{issuer}/oauth/authorize")
    );
    assert_eq!(md["token_endpoint"], format!("{issuer}/oauth/token"));
    assert_eq!(
        md["registration_endpoint"],
        format!("{issuer}/oauth/register")
    );
    assert_eq!(md["jwks_uri"], format!("{issuer}/oauth/jwks"));
    assert_eq!(md["revocation_endpoint"], format!("{issuer}/oauth/revoke"));
    assert_eq!(
        md["introspection_endpoint"],
        format!("{issuer}/oauth/introspect")
    );
    assert_eq!(md["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        md["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        md["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        md["token_endpoint_auth_methods_supported"],
        serde_json::json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        md["scopes_supported"],
        serde_json::json!(["orders:read", "orders:write", "profile"])
    );
    assert_eq!(md["client_id_metadata_document_supported"], true);
    assert_eq!(md["authorization_response_iss_parameter_supported"], true);
    let oidc = ts
        .http
        .get(&ts.url("/.well-known/openid-configuration"), &[])
        .await
        .json();
    assert_eq!(oidc["issuer"], issuer);
    assert_eq!(oidc["token_endpoint"], md["token_endpoint"]);
    let preflight = ts
        .http
        .request(
            "OPTIONS",
            &ts.url("/oauth/jwks"),
            &[
                ("origin", "https://inspector.example"),
                ("access-control-request-method", "GET"),
            ],
            vec![],
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("GET"));

    // Dynamic registration of a public client, then the browser flow.
    let client = ts.register(CALLBACK, false).await;
    assert!(client.secret.is_none());
    let (verifier, challenge) = pkce();
    let page = ts.authorize(&client, &challenge, &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign in") && page.body.contains("Test client"));
    assert!(page.body.contains("prefers-color-scheme: dark"));
    assert!(page.body.contains("autofocus") && page.body.contains("<label for=\"password\">"));
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
    let cookie = browser_cookie(&page);
    let consent = ts.sign_in(&page, &cookie, "ADA", PASSWORD).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("Ada Lovelace") && consent.body.contains("orders:read"));
    assert_ne!(
        consent.hidden("csrf"),
        page.hidden("csrf"),
        "each form has its own token"
    );
    let done = ts.consent(&consent, &cookie, "allow").await;
    assert_eq!(done.status, 303);
    assert!(done.header("location").unwrap().starts_with(CALLBACK));
    assert_eq!(done.location_param("state").as_deref(), Some("st-123"));
    assert_eq!(done.location_param("iss").as_deref(), Some(issuer.as_str()));
    let code = done.location_param("code").unwrap();

    let resp = ts.exchange(&client, &code, &verifier).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    let tokens = resp.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["scope"], "orders:read profile");
    let access = tokens["access_token"].as_str().unwrap();
    let claims = ts.verify_with_jwks(access).await;
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["aud"], format!("{issuer}/mcp"));
    assert_eq!(claims["scope"], "orders:read profile");
    assert_eq!(claims["client_id"], client.id);
    let sub = claims["sub"].as_str().unwrap();
    assert_eq!(ts.server.users().get(USER).await.unwrap().unwrap().id, sub);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert!(ts
        .server
        .verify_access_token(access)
        .await
        .unwrap()
        .is_some());

    // Refresh rotation: each use returns a new refresh token.
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let resp = ts.refresh(&client, &r1).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let rotated = resp.json();
    let r2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    ts.verify_with_jwks(rotated["access_token"].as_str().unwrap())
        .await;
    let resp = ts.refresh(&client, &r2).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    // Narrowing the scope on refresh works; widening does not.
    let r3 = resp.json()["refresh_token"].as_str().unwrap().to_owned();
    let narrowed = ts
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r3),
                ("scope", "profile"),
            ],
        )
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(narrowed.json()["scope"], "profile");
    let r4 = narrowed.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let widened = ts
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r4),
                ("scope", "orders:write"),
            ],
        )
        .await;
    assert_eq!(widened.status, 400);
    assert_eq!(widened.json()["error"], "invalid_scope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pkce_verifier_is_invalid_grant() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(CALLBACK, false).await;
    let (code, _verifier) = ts.code_for(&client, &[]).await;
    let (other_verifier, _) = pkce();
    let resp = ts.exchange(&client, &code, &other_verifier).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"], "invalid_grant");
}

/// `(live grants, refresh tokens, active refresh tokens)` in the SQLite file.
fn grant_counts(dir: &tempfile::TempDir) -> (i64, i64, i64) {
    let db = rusqlite::Connection::open(dir.path().join("authz.sqlite3")).unwrap();
    let one = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    (
        one("SELECT count(*) FROM authz_grants WHERE revoked_at IS NULL"),
        one("SELECT count(*) FROM authz_refresh_tokens"),
        one("SELECT count(*) FROM authz_refresh_tokens WHERE state = 'active'"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_code_exchange_revokes_its_grant_and_a_good_one_stores_one_refresh_token() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(CALLBACK, false).await;
    // A wrong verifier spends the code; nothing of its grant stays usable.
    let (code, _verifier) = ts.code_for(&client, &[]).await;
    assert_eq!(
        grant_counts(&dir),
        (1, 0, 0),
        "the grant waits for its code"
    );
    let (other_verifier, _) = pkce();
    let resp = ts.exchange(&client, &code, &other_verifier).await;
    assert_eq!(resp.status, 400);
    assert_eq!(
        grant_counts(&dir),
        (0, 0, 0),
        "a refused exchange leaves no live grant"
    );
    // A good exchange: the code's grant and exactly one refresh token, stored together.
    let (code, verifier) = ts.code_for(&client, &[]).await;
    let resp = ts.exchange(&client, &code, &verifier).await;
    assert_eq!(resp.status, 200, "{:?}", resp.json());
    let refresh = resp.json()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(grant_counts(&dir), (1, 1, 1));
    let rotated = ts.refresh(&client, &refresh).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.json());
    assert_eq!(
        grant_counts(&dir),
        (1, 2, 1),
        "rotation retires the first token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_or_missing_pkce_is_invalid_request_redirected_with_state_and_iss() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(CALLBACK, false).await;
    let (verifier, _) = pkce();
    let plain = ts
        .authorize(&client, &verifier, &[("code_challenge_method", "plain")])
        .await;
    assert_eq!(plain.status, 302);
    assert!(plain.header("location").unwrap().starts_with(CALLBACK));
    assert_eq!(
        plain.location_param("error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(plain.location_param("state").as_deref(), Some("st-123"));
    assert_eq!(
        plain.location_param("iss").as_deref(),
        Some(ts.server.issuer())
    );
    let missing = ts
        .authorize(&client, "", &[("code_challenge_method", "")])
        .await;
    assert_eq!(
        missing.location_param("error").as_deref(),
        Some("invalid_request")
    );
    let token_flow = ts
        .authorize(&client, &verifier, &[("response_type", "token")])
        .await;
    assert_eq!(
        token_flow.location_param("error").as_deref(),
        Some("unsupported_response_type")
    );
    let scope = ts
        .authorize(&client, &pkce().1, &[("scope", "admin")])
        .await;
    assert_eq!(
        scope.location_param("error").as_deref(),
        Some("invalid_scope")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_code_is_invalid_grant_and_revokes_the_tokens_it_issued() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(CALLBACK, true).await;
    let (code, verifier) = ts.code_for(&client, &[]).await;
    let first = ts.exchange(&client, &code, &verifier).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let tokens = first.json();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(ts.introspect(&client, access).await["active"], true);

    let again = ts.exchange(&client, &code, &verifier).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_grant");
    assert_eq!(ts.introspect(&client, access).await["active"], false);
    let refresh = ts
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refresh.status, 400);
    assert_eq!(refresh.json()["error"], "invalid_grant");
    assert!(ts
        .server
        .verify_access_token(access)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_uri_mismatch_shows_an_error_page_and_never_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(CALLBACK, false).await;
    let (_, challenge) = pkce();
    for uri in [
        "http://127.0.0.1:9/other",
        "https://attacker.example/callback",
        "http://127.0.0.1:9/callback/",
    ] {
        let resp = ts
            .authorize(&client, &challenge, &[("redirect_uri", uri)])
            .await;
        assert_eq!(resp.status, 400, "{uri}");
        assert!(resp.header("location").is_none());
        assert!(resp.body.contains("Redirect URI mismatch"), "{}", resp.body);
        assert!(resp
            .header("content-type")
            .unwrap()
            .starts_with("text/html"));
    }
    // The token endpoint refuses a code presented with another redirect URI.
    let (code, verifier) = ts.code_for(&client, &[]).await;
    let resp = ts
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                ("redirect_uri", "http://127.0.0.1:9/other"),
            ],
        )
        .await;
    assert_eq!(resp.json()["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_client_is_refused_at_authorize_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let ghost = TestClient {
        id: "wc_not_registered".into(),
        secret: None,
        redirect_uri: CALLBACK.into(),
    };
    let (verifier, challenge) = pkce();
    let resp = ts.authorize(&ghost, &challenge, &[]).await;
    assert_eq!(resp.status, 400);
    assert!(resp.header("location").is_none());
    assert!(resp.body.contains("Unknown application"));
    let resp = ts.exchange(&ghost, "whatever", &verifier).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"], "invalid_client");
    assert!(resp.header("www-authenticate").is_some());
    // A confidential client with a wrong secret is invalid_client too.
    let real = ts.register(CALLBACK, true).await;
    let wrong = TestClient {
        secret: Some("nope".into()),
        ..real
    };
    let resp = ts.exchange(&wrong, "whatever", &verifier).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"], "invalid_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_code_is_invalid_grant() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.code_ttl = Duration::from_secs(1)
    })
    .await;
    let client = ts.register(CALLBACK, false).await;
    let (code, verifier) = ts.code_for(&client, &[]).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let resp = ts.exchange(&client, &code, &verifier).await;
    assert_eq!(resp.status, 400);
    let body = resp.json();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_refresh_race_is_tolerated_and_reuse_beyond_it_revokes_the_grant() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(CALLBACK, true).await;
    let tokens = ts.tokens_for(&client).await;
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();

    // The race: r1 is sent twice before either answer arrives; both succeed.
    let (a, b) = tokio::join!(ts.refresh(&client, &r1), ts.refresh(&client, &r1));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        b.status, 200,
        "the previous token stays valid until its successor is used: {}",
        b.body
    );
    let r2b = b.json()["refresh_token"].as_str().unwrap().to_owned();
    // The client keeps the last answer and uses it: r1 and the other successor are now superseded.
    let c = ts.refresh(&client, &r2b).await;
    assert_eq!(c.status, 200, "{}", c.body);
    let r3 = c.json()["refresh_token"].as_str().unwrap().to_owned();
    let access = c.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(ts.introspect(&client, &r3).await["active"], true);

    // Presenting r1 now is reuse: refused, and the whole grant is revoked.
    let reuse = ts.refresh(&client, &r1).await;
    assert_eq!(reuse.status, 400);
    assert_eq!(reuse.json()["error"], "invalid_grant");
    let after = ts.refresh(&client, &r3).await;
    assert_eq!(after.status, 400);
    assert_eq!(after.json()["error"], "invalid_grant");
    assert_eq!(ts.introspect(&client, &access).await["active"], false);
    assert_eq!(ts.introspect(&client, &r3).await["active"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_introspect_inactive_and_stop_working() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(CALLBACK, true).await;
    let tokens = ts.tokens_for(&client).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let active = ts.introspect(&client, access).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], client.id);
    assert_eq!(active["scope"], "orders:read profile");
    ts.revoke(&client, access).await;
    assert_eq!(ts.introspect(&client, access).await["active"], false);
    assert!(ts
        .server
        .verify_access_token(access)
        .await
        .unwrap()
        .is_none());
    // The refresh token is unaffected by revoking an access token ...
    assert_eq!(ts.introspect(&client, refresh).await["active"], true);
    // ... and revoking it ends the grant.
    ts.revoke(&client, refresh).await;
    assert_eq!(ts.introspect(&client, refresh).await["active"], false);
    assert_eq!(
        ts.refresh(&client, refresh).await.json()["error"],
        "invalid_grant"
    );
    // Unknown tokens: revocation answers 200, introspection active:false.
    ts.revoke(&client, "not-a-token").await;
    assert_eq!(
        ts.introspect(&client, "not-a-token").await,
        serde_json::json!({"active": false})
    );

    // Introspection needs an authenticated (confidential) client.
    let public = ts.register(CALLBACK, false).await;
    let resp = ts
        .endpoint_with_client("/oauth/introspect", &public, access)
        .await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"], "invalid_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_lock_the_account_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(CALLBACK, false).await;
    let (_, challenge) = pkce();
    let page = ts.authorize(&client, &challenge, &[]).await;
    let cookie = browser_cookie(&page);
    for attempt in 1..=4 {
        let resp = ts.sign_in(&page, &cookie, USER, "wrong password").await;
        assert_eq!(resp.status, 401, "attempt {attempt}");
        assert!(resp.body.contains("incorrect"));
    }
    let fifth = ts.sign_in(&page, &cookie, USER, "wrong password").await;
    assert_eq!(fifth.status, 429);
    assert!(fifth.body.contains("Too many attempts"), "{}", fifth.body);
    // The first lockout of a pair is a minute (they grow with each further one).
    assert!(fifth.body.contains("60 seconds"), "{}", fifth.body);
    // Locked: even the right password is refused now, from this address.
    let right = ts.sign_in(&page, &cookie, USER, PASSWORD).await;
    assert_eq!(right.status, 429);
    assert!(right.body.contains("Too many attempts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_form_with_missing_or_wrong_csrf_token_or_cookie_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(CALLBACK, false).await;
    let (_, challenge) = pkce();
    let page = ts.authorize(&client, &challenge, &[]).await;
    let cookie = browser_cookie(&page);
    let request = page.hidden("request");
    let csrf = page.hidden("csrf");
    let url = ts.url("/oauth/authorize/sign-in");
    type Form<'a> = Vec<(&'a str, &'a str)>;
    let cases: [(&str, Form<'_>, &str); 3] = [
        (
            "missing token",
            vec![
                ("request", &request),
                ("username", USER),
                ("password", PASSWORD),
            ],
            &cookie,
        ),
        (
            "wrong token",
            vec![
                ("request", &request),
                ("csrf", "forged"),
                ("username", USER),
                ("password", PASSWORD),
            ],
            &cookie,
        ),
        (
            "another browser",
            vec![
                ("request", &request),
                ("csrf", &csrf),
                ("username", USER),
                ("password", PASSWORD),
            ],
            "widgetry_authz=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
    ];
    for (what, form, cookie) in cases {
        let resp = ts.http.post_form(&url, &form, &[("cookie", cookie)]).await;
        assert_eq!(resp.status, 403, "{what}: {}", resp.body);
        assert!(resp.body.contains("Form could not be verified"), "{what}");
    }
    // The genuine form still works afterwards.
    let ok = ts.sign_in(&page, &cookie, USER, PASSWORD).await;
    assert_eq!(ok.status, 200);
    // A form token works once: replaying the sign-in form is refused.
    let replay = ts.sign_in(&page, &cookie, USER, PASSWORD).await;
    assert_eq!(replay.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_resource_is_invalid_target() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(CALLBACK, false).await;
    let (_, challenge) = pkce();
    let resp = ts
        .authorize(
            &client,
            &challenge,
            &[("resource", "https://elsewhere.example/mcp")],
        )
        .await;
    assert_eq!(resp.status, 302);
    assert_eq!(
        resp.location_param("error").as_deref(),
        Some("invalid_target")
    );
    assert_eq!(resp.location_param("state").as_deref(), Some("st-123"));
    // A known resource becomes the audience; the token request may repeat it, not change it.
    let resource = format!("{}/mcp", ts.server.issuer());
    let (code, verifier) = ts.code_for(&client, &[("resource", &resource)]).await;
    let resp = ts
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                ("redirect_uri", &client.redirect_uri),
                ("resource", "https://elsewhere.example/mcp"),
            ],
        )
        .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"], "invalid_target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_denied_redirects_with_access_denied() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(CALLBACK, false).await;
    let (_, challenge) = pkce();
    let page = ts.authorize(&client, &challenge, &[]).await;
    let cookie = browser_cookie(&page);
    let consent = ts.sign_in(&page, &cookie, USER, PASSWORD).await;
    let denied = ts.consent(&consent, &cookie, "deny").await;
    assert_eq!(denied.status, 303);
    assert_eq!(
        denied.location_param("error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(denied.location_param("state").as_deref(), Some("st-123"));
    assert!(denied.location_param("code").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_second_factor_is_asked_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let secret = widgetry_authz::generate_totp_secret();
    ts.server
        .users()
        .add(NewUser::new("grace", "compilers all the way").totp_secret(secret.clone()))
        .await
        .unwrap();
    let client = ts.register(CALLBACK, false).await;
    let (verifier, challenge) = pkce();
    let page = ts.authorize(&client, &challenge, &[]).await;
    let cookie = browser_cookie(&page);
    let second = ts
        .sign_in(&page, &cookie, "grace", "compilers all the way")
        .await;
    assert_eq!(second.status, 200);
    assert!(second.body.contains("one-time-code"), "{}", second.body);
    let submit = |code: String, page: &Resp| {
        let request = page.hidden("request");
        let csrf = page.hidden("csrf");
        let url = ts.url("/oauth/authorize/second-factor");
        let cookie = cookie.clone();
        let http = ts.http.clone();
        async move {
            http.post_form(
                &url,
                &[("request", &request), ("csrf", &csrf), ("code", &code)],
                &[("cookie", &cookie)],
            )
            .await
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let stale = widgetry_authz::totp_code(&secret, now - 300).unwrap();
    let wrong = submit(stale, &second).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("not valid"));
    let good = submit(widgetry_authz::totp_code(&secret, now).unwrap(), &wrong).await;
    assert_eq!(good.status, 200, "{}", good.body);
    assert!(good.body.contains("Allow access"));
    let done = ts.consent(&good, &cookie, "allow").await;
    let code = done.location_param("code").unwrap();
    assert_eq!(ts.exchange(&client, &code, &verifier).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_registration_validates_client_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let url = ts.url("/oauth/register");
    let cases = [
        (
            serde_json::json!({"redirect_uris": ["http://example.com/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            serde_json::json!({"redirect_uris": ["https://example.com/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (serde_json::json!({}), "invalid_redirect_uri"),
        (
            serde_json::json!({"redirect_uris": ["https://example.com/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            serde_json::json!({"redirect_uris": ["https://example.com/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            serde_json::json!({"redirect_uris": ["https://example.com/cb"], "scope": "admin"}),
            "invalid_client_metadata",
        ),
        (
            serde_json::json!(["not an object"]),
            "invalid_client_metadata",
        ),
    ];
    for (body, code) in cases {
        let resp = ts.http.post_json(&url, &body).await;
        assert_eq!(resp.status, 400, "{body}");
        assert_eq!(resp.json()["error"], code, "{body}");
    }
    // ChatGPT's redirect URIs are accepted; the default auth method yields a secret.
    let resp = ts
        .http
        .post_json(
            &url,
            &serde_json::json!({
                "client_name": "ChatGPT",
                "redirect_uris": [
                    "https://chatgpt.com/connector/oauth/abc123",
                    "https://chatgpt.com/connector_platform_oauth_redirect"
                ]
            }),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let doc: Value = resp.json();
    assert_eq!(doc["token_endpoint_auth_method"], "client_secret_basic");
    assert!(doc["client_secret"].as_str().is_some());
    assert_eq!(doc["client_secret_expires_at"], 0);
    assert_eq!(
        doc["grant_types"],
        serde_json::json!(["authorization_code"])
    );
    let listed = ts.server.clients().list().await.unwrap();
    assert!(listed
        .iter()
        .any(|c| c.client_id == doc["client_id"] && c.name == "ChatGPT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_registrations_never_used_expire() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.dcr_unused_ttl = Duration::from_secs(1)
    })
    .await;
    let used = ts.register(CALLBACK, false).await;
    ts.code_for(&used, &[]).await;
    let unused = ts.register(CALLBACK, false).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let resp = ts.authorize(&unused, &pkce().1, &[]).await;
    assert_eq!(resp.status, 400);
    assert!(resp.body.contains("Unknown application"));
    ts.server.sweep_expired().await.unwrap();
    let ids: Vec<String> = ts
        .server
        .clients()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert!(ids.contains(&used.id));
    assert!(!ids.contains(&unused.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_registered_confidential_client_authenticates_with_basic_or_post() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let added = ts
        .server
        .clients()
        .add(
            NewClient::new("Internal tool", [CALLBACK])
                .client_id("internal")
                .confidential(true),
        )
        .await
        .unwrap();
    let secret = added.client_secret.clone().unwrap();
    assert_eq!(
        added.client.token_endpoint_auth_method,
        "client_secret_basic"
    );
    let client = TestClient {
        id: "internal".into(),
        secret: Some(secret.clone()),
        redirect_uri: CALLBACK.into(),
    };
    let tokens = ts.tokens_for(&client).await;
    let access = tokens["access_token"].as_str().unwrap();
    // client_secret_post
    let resp = ts
        .http
        .post_form(
            &ts.url("/oauth/introspect"),
            &[
                ("token", access),
                ("client_id", "internal"),
                ("client_secret", &secret),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.json()["active"], true);
    // Both methods at once is a malformed request.
    let mut form = vec![
        ("token".to_owned(), access.to_owned()),
        ("client_secret".to_owned(), secret.clone()),
    ];
    let headers = client.auth(&mut form);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let resp = ts
        .http
        .post_form(
            &ts.url("/oauth/introspect"),
            &form,
            &[(headers[0].0.as_str(), headers[0].1.as_str())],
        )
        .await;
    assert_eq!(resp.json()["error"], "invalid_request");

    let duplicate = ts
        .server
        .clients()
        .add(NewClient::new("Again", [CALLBACK]).client_id("internal"))
        .await;
    assert!(matches!(
        duplicate,
        Err(widgetry_authz::AuthzError::ClientExists(_))
    ));
    assert!(ts.server.clients().remove("internal").await.unwrap());
    // Removing the client revoked its grants.
    assert_eq!(
        ts.refresh(&client, tokens["refresh_token"].as_str().unwrap())
            .await
            .status,
        401
    );
    assert!(ts
        .server
        .verify_access_token(access)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_with_a_path_serves_path_insertion_and_path_append_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, base) = bind().await;
    let mut config = config(&format!("{base}/tenant"));
    config.resources = vec![format!("{base}/mcp")];
    let ts = serve(listener, config, sqlite_store(&dir).await).await;
    let issuer = format!("{base}/tenant");
    for path in [
        "/.well-known/oauth-authorization-server/tenant",
        "/.well-known/openid-configuration/tenant",
        "/tenant/.well-known/openid-configuration",
        "/tenant/.well-known/oauth-authorization-server",
    ] {
        let resp = ts.http.get(&ts.url(path), &[]).await;
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(
            resp.header("access-control-allow-origin").as_deref(),
            Some("*")
        );
        let md = resp.json();
        assert_eq!(md["issuer"], issuer, "{path}");
        assert_eq!(md["token_endpoint"], format!("{issuer}/oauth/token"));
    }
    let jwks = ts.http.get(&ts.url("/tenant/oauth/jwks"), &[]).await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.json()["keys"].as_array().unwrap().len(), 1);
    assert_eq!(
        ts.http
            .get(&ts.url("/.well-known/oauth-authorization-server"), &[])
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_key_rotation_keeps_the_old_key_published() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let audience = format!("{}/mcp", ts.server.issuer());
    let scopes = vec!["orders:read".to_owned()];
    let old = ts
        .server
        .mint_access_token("user-1", &scopes, &audience, Duration::from_secs(60))
        .await
        .unwrap();
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let new_kid = ts.server.rotate_signing_key().await.unwrap();
    assert_ne!(old_kid, new_kid);
    let fresh = ts
        .server
        .mint_access_token("user-1", &scopes, &audience, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&fresh).unwrap().kid.unwrap(),
        new_kid
    );
    let claims = ts.verify_with_jwks(&old).await;
    assert_eq!(claims["client_id"], widgetry_authz::MINTED_TOKEN_CLIENT_ID);
    ts.verify_with_jwks(&fresh).await;
    assert_eq!(ts.server.jwks()["keys"].as_array().unwrap().len(), 2);
    // mint_access_token refuses what the server would never issue.
    assert!(ts
        .server
        .mint_access_token(
            "u",
            &scopes,
            "https://other.example",
            Duration::from_secs(60)
        )
        .await
        .is_err());
    assert!(ts
        .server
        .mint_access_token(
            "u",
            &["admin".to_owned()],
            &audience,
            Duration::from_secs(60)
        )
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_users_clients_grants_refresh_tokens_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, base) = bind().await;
    let config = config(&base);
    let first = serve(listener, config.clone(), sqlite_store(&dir).await).await;
    first
        .server
        .users()
        .add(NewUser::new(USER, PASSWORD).name("Ada Lovelace"))
        .await
        .unwrap();
    let client = first.register(CALLBACK, true).await;
    let tokens = first.tokens_for(&client).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let old_access = tokens["access_token"].as_str().unwrap().to_owned();
    let old_kid = jsonwebtoken::decode_header(&old_access)
        .unwrap()
        .kid
        .unwrap();
    let new_kid = first.server.rotate_signing_key().await.unwrap();
    drop(first);

    // A new server instance on a reopened store (same issuer).
    let (listener, _) = bind().await;
    let second = serve(listener, config, sqlite_store(&dir).await).await;
    assert!(second.server.users().get(USER).await.unwrap().is_some());
    assert!(second
        .server
        .clients()
        .get(&client.id)
        .await
        .unwrap()
        .is_some());
    let kids: Vec<String> = second.server.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    second.verify_with_jwks(&old_access).await;
    assert_eq!(
        second.introspect(&client, &old_access).await["active"],
        true
    );
    let resp = second.refresh(&client, &refresh).await;
    assert_eq!(resp.status, 200, "refresh after restart: {}", resp.body);
    let access = resp.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        jsonwebtoken::decode_header(&access).unwrap().kid.unwrap(),
        new_kid
    );
    second.verify_with_jwks(&access).await;
    // Signing in still works with the stored password hash.
    assert!(second
        .server
        .users()
        .verify_password(USER, PASSWORD)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_keys_need_the_same_key_encryption_key() {
    let dir = tempfile::tempdir().unwrap();
    let kek = "k".repeat(40);
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.key_encryption_key = Some(kek.clone())
    })
    .await;
    let jwks = ts.server.jwks();
    drop(ts);
    let conn = rusqlite::Connection::open(dir.path().join("authz.sqlite3")).unwrap();
    let stored: String = conn
        .query_row("SELECT private_key FROM authz_signing_keys", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(stored.starts_with("sealed:v1:"), "{stored}");
    let (listener, base) = bind().await;
    let err = widgetry_authz::AuthorizationServer::open(config(&base), sqlite_store(&dir).await)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("key_encryption_key"), "{err}");
    drop(listener);
    let mut c = config(&base);
    c.key_encryption_key = Some(kek);
    let reopened = widgetry_authz::AuthorizationServer::open(c, sqlite_store(&dir).await)
        .await
        .unwrap();
    assert_eq!(reopened.jwks(), jwks);
}
