//! Session sign-in over real HTTP: tools, the nonce-protected endpoint, rate limits,
//! expiry, concurrent sessions, and a restart over SQLite.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Reply, TestServer};
use http_body_util::Full;
use serde_json::{json, Value};
use widgetry::app::App;
use widgetry::auth::BoxFuture;
use widgetry::signin::{Account, Directory, MemorySender, SignIn, SignInConfig};
use widgetry::store::{KvStore, MemoryKvStore, SqliteKvStore};

/// Users by email: (password, name, TOTP code that is "current" for them), and how many
/// passwords were checked.
struct TestDirectory(
    HashMap<&'static str, (&'static str, &'static str, Option<&'static str>)>,
    Arc<std::sync::atomic::AtomicUsize>,
);

impl Directory for TestDirectory {
    fn check_password<'a>(
        &'a self,
        email: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<Option<Account>, String>> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let found = self
            .0
            .get(email)
            .filter(|(p, _, _)| *p == password)
            .map(|(_, name, totp)| Account {
                subject: format!("user-{email}"),
                email: email.to_string(),
                name: name.to_string(),
                has_totp: totp.is_some(),
            });
        Box::pin(async move { Ok(found) })
    }
    fn check_totp<'a>(
        &'a self,
        account: &'a Account,
        code: &'a str,
    ) -> BoxFuture<'a, Result<bool, String>> {
        let ok = self
            .0
            .get(account.email.as_str())
            .and_then(|u| u.2)
            .is_some_and(|c| c == code);
        Box::pin(async move { Ok(ok) })
    }
}

fn directory(checks: Arc<std::sync::atomic::AtomicUsize>) -> Arc<TestDirectory> {
    Arc::new(TestDirectory(
        HashMap::from([
            (
                "lauren@example.com",
                ("correct horse", "Lauren Bailey", None),
            ),
            (
                "sam@example.com",
                ("battery staple", "Sam Otp", Some("123456")),
            ),
        ]),
        checks,
    ))
}

struct Fx {
    s: TestServer,
    sid: String,
    sender: MemorySender,
    /// Passwords the directory checked.
    checks: Arc<std::sync::atomic::AtomicUsize>,
}

async fn start_with(kv: Arc<dyn KvStore>, ttl: Duration) -> Fx {
    start_swept(kv, ttl, Duration::from_secs(60)).await
}

async fn start_swept(kv: Arc<dyn KvStore>, ttl: Duration, sweep: Duration) -> Fx {
    start_configured(kv, |c| {
        c.session_ttl = ttl;
        c.sweep_interval = sweep;
    })
    .await
}

async fn start_configured(kv: Arc<dyn KvStore>, tweak: impl FnOnce(&mut SignInConfig)) -> Fx {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sender = MemorySender::default();
    let mut config = SignInConfig::new(format!("http://{addr}"));
    tweak(&mut config);
    // The test client is its own proxy: an X-Forwarded-For it sends names the client.
    config.trusted_proxies = widgetry_authz::TrustedProxies::parse("127.0.0.1").unwrap();
    let checks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let signin = SignIn::new(
        config,
        kv,
        directory(checks.clone()),
        Arc::new(sender.clone()),
    );
    let app = signin
        .register(App::builder("signin-test", "1").dev(true))
        .build()
        .unwrap();
    let (router, state) = app.router();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    let s = TestServer {
        addr,
        client: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        state,
    };
    let sid = s.initialize().await;
    Fx {
        s,
        sid,
        sender,
        checks,
    }
}

async fn start() -> Fx {
    start_with(Arc::new(MemoryKvStore::new()), Duration::from_secs(600)).await
}

async fn tool(f: &Fx, mcp_session: &str, name: &str, args: Value) -> Value {
    let r = f.s.post(Some(mcp_session), json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":name,"arguments":args}})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["result"].clone()
}

/// Creates a sign-in session and opens the widget; returns (session id, nonce, endpoint).
async fn open(f: &Fx) -> (String, String, String) {
    let created = tool(f, &f.sid, "create_session", json!({})).await;
    let id = created["structuredContent"]["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = tool(f, &f.sid, "authenticate", json!({"sessionId": id})).await;
    let meta = &shown["_meta"]["widgetry/signin"];
    assert!(
        !shown
            .to_string()
            .replace(&meta.to_string(), "")
            .contains(meta["nonce"].as_str().unwrap()),
        "nonce only in _meta"
    );
    (
        id,
        meta["nonce"].as_str().unwrap().to_string(),
        meta["endpoint"].as_str().unwrap().to_string(),
    )
}

/// Posts to the endpoint as the widget does: with the public half of the session id
/// (the first 32 characters, which is what the widget gets in `_meta`).
async fn submit(f: &Fx, endpoint: &str, body: Value) -> Reply {
    submit_from(f, endpoint, "127.0.0.1", body).await
}

/// [`submit`] from the client address `addr` (through the test's trusted proxy).
async fn submit_from(f: &Fx, endpoint: &str, addr: &str, mut body: Value) -> Reply {
    if let Some(id) = body["sessionId"].as_str().filter(|id| id.len() == 64) {
        body["sessionId"] = json!(id[..32]);
    }
    let req = http::Request::post(endpoint)
        .header("x-forwarded-for", addr)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    f.s.send(req).await
}

#[tokio::test]
async fn the_full_flow_signs_in_with_a_real_code_and_reports_the_user() {
    let f = start().await;
    let (id, nonce, ep) = open(&f).await;
    assert_eq!(id.len(), 64);
    let status = tool(&f, &f.sid, "auth_status", json!({"sessionId": id})).await;
    assert_eq!(status["structuredContent"]["authenticated"], false);
    let r = submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "Lauren@Example.com", "password": "correct horse"})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["next"], "code");
    assert_eq!(r.json()["method"], "email");
    let code = f
        .sender
        .last_code("lauren@example.com")
        .expect("a code was sent");
    assert_eq!(code.len(), 6);
    let r = submit(
        &f,
        &ep,
        json!({"sessionId": id, "nonce": nonce, "step": "code", "code": code}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "Lauren Bailey");
    let status = tool(&f, &f.sid, "auth_status", json!({"sessionId": id})).await;
    assert_eq!(
        status["structuredContent"],
        json!({"authenticated": true, "email": "lauren@example.com", "name": "Lauren Bailey", "message": "Signed in as Lauren Bailey"})
    );
    let again = tool(&f, &f.sid, "authenticate", json!({"sessionId": id})).await;
    assert_eq!(
        again["structuredContent"]["authenticated"], true,
        "the success view"
    );
    assert!(
        again["_meta"]["widgetry/signin"].is_null(),
        "no new nonce once signed in"
    );
}

#[tokio::test]
async fn totp_users_verify_with_their_authenticator() {
    let f = start().await;
    let (id, nonce, ep) = open(&f).await;
    let r = submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "sam@example.com", "password": "battery staple"})).await;
    assert_eq!(r.json()["method"], "totp");
    assert!(
        f.sender.last_code("sam@example.com").is_none(),
        "no code is sent to TOTP users"
    );
    let bad = submit(
        &f,
        &ep,
        json!({"sessionId": id, "nonce": nonce, "step": "code", "code": "654321"}),
    )
    .await;
    assert_eq!(bad.status, 401);
    let ok = submit(
        &f,
        &ep,
        json!({"sessionId": id, "nonce": nonce, "step": "code", "code": "123456"}),
    )
    .await;
    assert_eq!(ok.json()["next"], "done");
}

#[tokio::test]
async fn knowing_the_session_id_is_not_enough_to_sign_it_in() {
    let f = start().await;
    let (id, nonce, ep) = open(&f).await;
    let creds = |n: &str| json!({"sessionId": id, "nonce": n, "step": "credentials", "email": "lauren@example.com", "password": "correct horse"});
    let r = submit(&f, &ep, creds("00000000000000000000000000000000")).await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (403, json!("invalid_nonce"))
    );
    let r = submit(&f, &ep, json!({"sessionId": id, "step": "credentials"})).await;
    assert_eq!(r.status, 400, "the nonce is required");
    // Another MCP session (another conversation) cannot obtain the nonce.
    let other = f.s.initialize().await;
    let stolen = tool(&f, &other, "authenticate", json!({"sessionId": id})).await;
    assert_eq!(stolen["isError"], true);
    assert!(stolen
        .get("_meta")
        .is_none_or(|m| m.get("widgetry/signin").is_none()));
    // The real widget's nonce still works.
    assert_eq!(submit(&f, &ep, creds(&nonce)).await.status, 200);
}

#[tokio::test]
async fn wrong_passwords_and_codes_lock_the_session() {
    let f = start().await;
    let (id, nonce, ep) = open(&f).await;
    for expected_left in (1..5).rev() {
        let r = submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "lauren@example.com", "password": "nope"})).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["remaining"], expected_left);
    }
    // The fifth wrong answer starts a lockout.
    let r = submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "lauren@example.com", "password": "nope"})).await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (429, json!("locked"))
    );
    let r = submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "lauren@example.com", "password": "correct horse"})).await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (429, json!("locked")),
        "locked even with the right password"
    );
    // Codes are limited the same way on a fresh session.
    let (id, nonce, ep) = open(&f).await;
    submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "sam@example.com", "password": "battery staple"})).await;
    for n in 1..=5 {
        assert_eq!(
            submit(
                &f,
                &ep,
                json!({"sessionId": id, "nonce": nonce, "step": "code", "code": "000000"})
            )
            .await
            .status,
            if n < 5 { 401 } else { 429 }
        );
    }
    let r = submit(
        &f,
        &ep,
        json!({"sessionId": id, "nonce": nonce, "step": "code", "code": "123456"}),
    )
    .await;
    assert_eq!(r.status, 429);
}

#[tokio::test]
async fn sessions_expire_and_say_sign_in_again() {
    let f = start_with(Arc::new(MemoryKvStore::new()), Duration::from_secs(1)).await;
    let (id, nonce, ep) = open(&f).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let status = tool(&f, &f.sid, "auth_status", json!({"sessionId": id})).await;
    assert_eq!(status["structuredContent"]["expired"], true);
    assert!(status["structuredContent"]["message"]
        .as_str()
        .unwrap()
        .contains("sign in again"));
    let r = submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "lauren@example.com", "password": "correct horse"})).await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (410, json!("expired"))
    );
}

#[tokio::test]
async fn concurrent_sessions_never_interfere() {
    let f = start().await;
    let (a, na, ep) = open(&f).await;
    let (b, nb, _) = open(&f).await;
    assert_ne!(a, b);
    let cross = submit(&f, &ep, json!({"sessionId": a, "nonce": nb, "step": "credentials", "email": "lauren@example.com", "password": "correct horse"})).await;
    assert_eq!(
        cross.status, 403,
        "one session's nonce does not open another"
    );
    let (ra, rb) = tokio::join!(
        submit(
            &f,
            &ep,
            json!({"sessionId": a, "nonce": na, "step": "credentials", "email": "lauren@example.com", "password": "correct horse"})
        ),
        submit(
            &f,
            &ep,
            json!({"sessionId": b, "nonce": nb, "step": "credentials", "email": "sam@example.com", "password": "battery staple"})
        ),
    );
    assert_eq!((ra.status, rb.status), (200, 200));
    let code = f.sender.last_code("lauren@example.com").unwrap();
    let (ra, rb) = tokio::join!(
        submit(
            &f,
            &ep,
            json!({"sessionId": a, "nonce": na, "step": "code", "code": code})
        ),
        submit(
            &f,
            &ep,
            json!({"sessionId": b, "nonce": nb, "step": "code", "code": "123456"})
        ),
    );
    assert_eq!(
        (ra.json()["name"].clone(), rb.json()["name"].clone()),
        (json!("Lauren Bailey"), json!("Sam Otp"))
    );
    let sa = tool(&f, &f.sid, "auth_status", json!({"sessionId": a})).await;
    let sb = tool(&f, &f.sid, "auth_status", json!({"sessionId": b})).await;
    assert_eq!(sa["structuredContent"]["email"], "lauren@example.com");
    assert_eq!(sb["structuredContent"]["email"], "sam@example.com");
}

#[tokio::test]
async fn a_session_survives_a_restart_over_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let (id, nonce) = {
        let f = start_with(
            Arc::new(SqliteKvStore::open(&path).unwrap()),
            Duration::from_secs(600),
        )
        .await;
        let (id, nonce, ep) = open(&f).await;
        let r = submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "sam@example.com", "password": "battery staple"})).await;
        assert_eq!(r.status, 200);
        (id, nonce)
    };
    // A new process: new server, same database file.
    let f = start_with(
        Arc::new(SqliteKvStore::open(&path).unwrap()),
        Duration::from_secs(600),
    )
    .await;
    let ep = format!("http://{}/api/session/authenticate", f.s.addr);
    let r = submit(
        &f,
        &ep,
        json!({"sessionId": id, "nonce": nonce, "step": "code", "code": "123456"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["next"], "done");
    // The session kept its owner across the restart: this new conversation is not it.
    let status = tool(&f, &f.sid, "auth_status", json!({"sessionId": id})).await;
    assert_eq!(status["isError"], true, "{status}");
}

#[tokio::test]
async fn expired_sessions_are_swept_from_the_store_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(SqliteKvStore::open(dir.path().join("app.db")).unwrap());
    let f = start_swept(
        kv.clone(),
        Duration::from_millis(300),
        Duration::from_millis(100),
    )
    .await;
    let (id, _, _) = open(&f).await;
    let ns = widgetry::store::Namespace::new("widgetry.signin").unwrap();
    let stored = |kv: Arc<dyn KvStore>, ns: widgetry::store::Namespace| async move {
        kv.list(&ns, "", 100).await.unwrap().len()
    };
    assert_eq!(
        stored(kv.clone(), ns.clone()).await,
        1,
        "the session {id} is stored"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        stored(kv.clone(), ns.clone()).await,
        0,
        "expired sessions are never read"
    );
    // Reads hide expired rows; a manual sweep finding nothing left proves the background
    // sweeper already removed them.
    assert_eq!(
        kv.sweep().await.unwrap(),
        0,
        "the background sweeper removed the expired session"
    );
}

#[tokio::test]
async fn the_widget_half_of_the_id_opens_nothing_and_status_tells_only_the_owner() {
    let f = start().await;
    let (id, nonce, ep) = open(&f).await;
    let r = submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "sam@example.com", "password": "battery staple"})).await;
    assert_eq!(r.status, 200);
    let r = submit(
        &f,
        &ep,
        json!({"sessionId": id, "nonce": nonce, "step": "code", "code": "123456"}),
    )
    .await;
    assert_eq!(r.json()["next"], "done");
    let public = &id[..32];
    // What the widget (and its endpoint, and any log of it) knows is not the id.
    for probe in [public.to_string(), format!("{public}{}", "0".repeat(32))] {
        let st = tool(&f, &f.sid, "auth_status", json!({"sessionId": probe})).await;
        assert_eq!(st["structuredContent"]["authenticated"], false, "{st}");
        assert!(st["structuredContent"].get("email").is_none(), "{st}");
        let again = tool(&f, &f.sid, "authenticate", json!({"sessionId": probe})).await;
        assert!(again["structuredContent"].get("email").is_none(), "{again}");
    }
    // Another conversation with the whole id learns nothing either.
    let other = f.s.initialize().await;
    let st = tool(&f, &other, "auth_status", json!({"sessionId": id})).await;
    assert_eq!(st["isError"], true, "{st}");
    assert!(!st.to_string().contains("sam@example.com"), "{st}");
    // The owner does.
    let st = tool(&f, &f.sid, "auth_status", json!({"sessionId": id})).await;
    assert_eq!(st["structuredContent"]["email"], "sam@example.com");
}

#[tokio::test]
async fn parallel_wrong_answers_are_counted_before_they_are_checked() {
    let f = start().await;
    let (id, nonce, ep) = open(&f).await;
    let burst = (0..24).map(|_| {
        submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "lauren@example.com", "password": "nope"}))
    });
    let replies = futures_util::future::join_all(burst).await;
    let checked = f.checks.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        checked, 5,
        "exactly five of 24 parallel guesses were checked"
    );
    let wrong = replies.iter().filter(|r| r.status == 401).count();
    let refused = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!(
        (wrong, refused),
        (4, 20),
        "four wrong, the fifth locks, the rest wait"
    );
}

#[tokio::test]
async fn wrong_passwords_on_fresh_sessions_still_lock_the_account_from_this_address_only() {
    let f = start().await;
    for _ in 0..5 {
        let (id, nonce, ep) = open(&f).await;
        let r = submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "lauren@example.com", "password": "nope"})).await;
        assert!(r.status == 401 || r.status == 429, "{}", r.text());
    }
    let (id, nonce, ep) = open(&f).await;
    let r = submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "lauren@example.com", "password": "correct horse"})).await;
    assert_eq!(
        r.status, 429,
        "a new session does not reset the pair's count"
    );
    assert!(r.json()["retryAfter"]
        .as_u64()
        .is_some_and(|s| s > 0 && s <= 60));
    // Another account from the same address is not affected.
    let r = submit(&f, &ep, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "sam@example.com", "password": "battery staple"})).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn starting_sign_ins_is_limited_per_caller() {
    let f = start().await;
    for n in 0..20 {
        let created = tool(&f, &f.sid, "create_session", json!({})).await;
        assert!(
            created["structuredContent"]["sessionId"].is_string(),
            "session {n}: {created}"
        );
    }
    let over = tool(&f, &f.sid, "create_session", json!({})).await;
    assert_eq!(over["isError"], true, "{over}");
    assert!(over.to_string().contains("too many sign-ins"), "{over}");
}

/// The relay tool (hosts whose widgets cannot reach the endpoint, e.g. Claude): the same
/// checks as the endpoint, answered as `{status, body}`; the model never sees the tool.
#[tokio::test]
async fn the_relay_tool_signs_in_through_the_host_with_the_endpoints_checks() {
    let f = start().await;
    let (id, nonce, _) = open(&f).await;
    let public = &id[..32]; // what the widget holds
    let list =
        f.s.post(
            Some(&f.sid),
            json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        )
        .await
        .json();
    let relay = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "authenticate_submit")
        .expect("the relay tool is listed")
        .clone();
    assert_eq!(relay["_meta"]["ui"]["visibility"], json!(["app"]));
    assert_eq!(relay["_meta"]["openai/visibility"], "private");
    let shown = tool(&f, &f.sid, "authenticate", json!({"sessionId": id})).await;
    assert_eq!(
        shown["_meta"]["widgetry/signin"]["submitTool"],
        "authenticate_submit"
    );
    let nonce = shown["_meta"]["widgetry/signin"]["nonce"]
        .as_str()
        .map(str::to_string)
        .unwrap_or(nonce);

    let forged = tool(&f, &f.sid, "authenticate_submit", json!({"sessionId": public, "nonce": "0".repeat(32), "step": "credentials", "email": "lauren@example.com", "password": "correct horse"})).await;
    assert_eq!(forged["structuredContent"]["status"], 403, "{forged}");
    assert_eq!(
        forged["structuredContent"]["body"]["error"],
        "invalid_nonce"
    );
    assert!(f.sender.last_code("lauren@example.com").is_none());

    let wrong = tool(&f, &f.sid, "authenticate_submit", json!({"sessionId": public, "nonce": nonce, "step": "credentials", "email": "lauren@example.com", "password": "nope"})).await;
    assert_eq!(wrong["structuredContent"]["status"], 401, "{wrong}");
    let r = tool(&f, &f.sid, "authenticate_submit", json!({"sessionId": public, "nonce": nonce, "step": "credentials", "email": "lauren@example.com", "password": "correct horse"})).await;
    assert_eq!(r["structuredContent"]["status"], 200, "{r}");
    assert_eq!(r["structuredContent"]["body"]["next"], "code");
    assert_eq!(
        r["structuredContent"]["body"]["delivery"], "email",
        "a real sender: the widget may say the code was sent"
    );
    let code = f.sender.last_code("lauren@example.com").unwrap();
    let done = tool(
        &f,
        &f.sid,
        "authenticate_submit",
        json!({"sessionId": public, "nonce": nonce, "step": "code", "code": code}),
    )
    .await;
    assert_eq!(done["structuredContent"]["status"], 200, "{done}");
    assert_eq!(done["structuredContent"]["body"]["name"], "Lauren Bailey");
    let status = tool(&f, &f.sid, "auth_status", json!({"sessionId": id})).await;
    assert_eq!(status["structuredContent"]["authenticated"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_answers_are_counted_before_they_are_checked_in_every_store() {
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<(&str, Arc<dyn KvStore>)> = vec![
        (
            "sqlite",
            Arc::new(SqliteKvStore::open(dir.path().join("kv.db")).unwrap()),
        ),
        (
            "redis",
            widgetry::store::open_kv_store("redis://127.0.0.1:6379/")
                .await
                .expect("Redis on 127.0.0.1:6379 (the test command starts it)"),
        ),
        (
            "postgres",
            widgetry::store::open_kv_store("postgres://postgres@127.0.0.1:5432/test")
                .await
                .expect("PostgreSQL on 127.0.0.1:5432 (the test command starts it)"),
        ),
    ];
    for (name, kv) in stores {
        // Runs share the account's counters in Redis and PostgreSQL: only the pair's
        // limit is under test here.
        let f = start_configured(kv, |c| {
            c.throttle.account_ceiling = 1_000_000;
            c.throttle.address_ceiling = 1_000_000;
        })
        .await;
        // A client address of this run only: counters in shared stores outlive a run.
        let addr = format!("2001:db8::{:x}", rand_u16());
        let (id, nonce, ep) = open(&f).await;
        let burst = (0..16).map(|_| {
            submit_from(&f, &ep, &addr, json!({"sessionId": id, "nonce": nonce, "step": "credentials", "email": "lauren@example.com", "password": "nope"}))
        });
        let replies = futures_util::future::join_all(burst).await;
        let checked = f.checks.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(checked, 5, "{name}: five of 16 parallel guesses checked");
        assert_eq!(
            replies.iter().filter(|r| r.status == 429).count(),
            12,
            "{name}: the fifth locks, eleven wait"
        );
    }
}

fn rand_u16() -> u16 {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    u16::from_le_bytes(b)
}
