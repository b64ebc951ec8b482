//! Widget actions and widget tokens over real HTTP: minting, the action endpoint's
//! refusals, renewal through the private tool, CORS.

mod common;
#[path = "common/serve.rs"]
mod serve;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{Reply as HttpReply, TestServer};
use http_body_util::Full;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use widgetry::app::{Action, App, NoInput, Tool, Widget};
use widgetry::auth::{AuthError, FnVerifier};
use widgetry::{Auth, AuthConfig, RequestContext, ToolError, User};

#[derive(Deserialize, JsonSchema)]
struct LikeInput {
    image_id: String,
}

#[derive(Serialize, JsonSchema)]
struct Liked {
    image_id: String,
    likes: u64,
    by: String,
}

#[derive(Serialize, JsonSchema)]
struct Gallery {
    images: Vec<String>,
}

/// Users the fake verifier knows, by bearer token; tests change scopes on the fly.
type Users = Arc<Mutex<HashMap<String, (String, Vec<String>)>>>;

struct Fixture {
    server: TestServer,
    sid: String,
    likes: Arc<AtomicU64>,
    users: Users,
    origin: String,
}

async fn start(ttl: Duration) -> Fixture {
    start_with(ttl, false).await
}

async fn start_with(ttl: Duration, challenge_with_401: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("gallery")).unwrap();
    std::fs::write(
        dir.path().join("gallery/index.html"),
        "<html><head></head><body>gallery</body></html>",
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let origin = format!("http://{addr}");
    let users: Users = Arc::new(Mutex::new(HashMap::from([
        (
            "alice-token".to_string(),
            ("alice".to_string(), vec!["likes:write".to_string()]),
        ),
        (
            "bob-token".to_string(),
            ("bob".to_string(), vec!["likes:write".to_string()]),
        ),
    ])));
    let u = users.clone();
    let verifier = FnVerifier(move |token: String| {
        let found = u.lock().unwrap().get(&token).cloned();
        async move {
            let (sub, scopes) = found.ok_or_else(|| AuthError::invalid("unknown test token"))?;
            let claims = json!({"sub": sub, "scope": scopes.join(" "), "name": sub.to_uppercase()});
            User::from_claims(claims.as_object().unwrap().clone(), None)
        }
    });
    let likes = Arc::new(AtomicU64::new(0));
    let l = likes.clone();
    let like = move |ctx: RequestContext, i: LikeInput| {
        let l = l.clone();
        async move {
            let by = ctx
                .user()
                .map(|u| u.subject.clone())
                .ok_or_else(|| ToolError::msg("no user"))?;
            let likes = l.fetch_add(1, Ordering::SeqCst) + 1;
            Ok::<_, ToolError>(Liked {
                image_id: i.image_id,
                likes,
                by,
            })
        }
    };
    let gallery = |_ctx: RequestContext, _: NoInput| async {
        Ok::<_, ToolError>(Gallery {
            images: vec!["a".into(), "b".into()],
        })
    };
    let app = App::builder("gallery", "1")
        .dev(true)
        .widgets_dir(dir.path())
        .widget(Widget::new("gallery"))
        .auth({
            let mut c = AuthConfig::new("https://issuer.example", format!("{origin}/mcp"))
                .unwrap()
                .verifier(verifier);
            c.challenge = if challenge_with_401 {
                widgetry::ChallengeMode::Http
            } else {
                widgetry::ChallengeMode::ToolResult
            };
            c
        })
        .widget_token_ttl(ttl)
        .action(
            Action::new("like_image", like)
                .description("Like an image")
                .auth(Auth::required(["likes:write"])),
        )
        .action(
            Action::new(
                "delete_image",
                |_ctx: RequestContext, i: LikeInput| async move {
                    Ok::<_, ToolError>(Liked {
                        image_id: i.image_id,
                        likes: 0,
                        by: String::new(),
                    })
                },
            )
            .auth(Auth::required(["admin"])),
        )
        .tool(
            Tool::new("show_gallery", gallery)
                .auth(Auth::optional(["likes:write"]))
                .widget("gallery")
                .widget_actions(["like_image", "delete_image"]),
        )
        .build()
        .unwrap();
    let server = serve::serve_app(listener, &app);
    let sid = initialize(&server, Some("alice-token")).await;
    std::mem::forget(dir);
    Fixture {
        server,
        sid,
        likes,
        users,
        origin,
    }
}

/// `initialize` as a widget host sends it: declaring the MCP Apps extension (the
/// renewal tool is app-only).
fn host_initialize() -> Value {
    json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",
        "capabilities":{"extensions":{"io.modelcontextprotocol/ui":{"mimeTypes":["text/html;profile=mcp-app"]}}}}})
}

async fn initialize(s: &TestServer, bearer: Option<&str>) -> String {
    let mut b = s.request("POST", "/mcp");
    if let Some(t) = bearer {
        b = b.header("authorization", bearer_value(t));
    }
    let body = host_initialize();
    let r = s
        .send(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("mcp-session-id").unwrap().to_string()
}

/// A session of the caller's own: sessions belong to the user who created them (the
/// fixture's is alice's). A bearer that cannot open one (refused) uses alice's session,
/// so the request reaches the server as written.
async fn session_for(f: &Fixture, bearer: Option<&str>) -> String {
    if bearer == Some("alice-token") {
        return f.sid.clone();
    }
    let mut b = f.server.request("POST", "/mcp");
    if let Some(t) = bearer {
        b = b.header("authorization", bearer_value(t));
    }
    let body = host_initialize();
    let r = f
        .server
        .send(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await;
    match r.header("mcp-session-id") {
        Some(id) if r.status == 200 => id.to_string(),
        _ => f.sid.clone(),
    }
}

async fn call_tool(f: &Fixture, bearer: Option<&str>, name: &str, args: Value) -> HttpReply {
    let sid = session_for(f, bearer).await;
    let mut b = f
        .server
        .request("POST", "/mcp")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "2025-06-18");
    if let Some(t) = bearer {
        b = b.header("authorization", bearer_value(t));
    }
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":name,"arguments":args}});
    f.server
        .send(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
}

async fn act(
    f: &Fixture,
    token: Option<&str>,
    action: &str,
    origin: Option<&str>,
    body: Value,
) -> HttpReply {
    let mut b = http::Request::post(f.server.url(&format!("/widget/actions/{action}")))
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", bearer_value(t));
    }
    if let Some(o) = origin {
        b = b.header("origin", o);
    }
    f.server
        .send(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
}

fn grant_of(r: &HttpReply) -> Value {
    let v = r.json();
    v["result"]["_meta"]["widgetry/widgetToken"].clone()
}

fn bearer_value(token: &str) -> String {
    format!("Bearer {token}")
}

/// The widget token `show_gallery` hands alice.
async fn alice_widget_token(f: &Fixture) -> String {
    grant_of(&call_tool(f, Some("alice-token"), "show_gallery", json!({})).await)["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `like_image` of image "a" through the action endpoint.
async fn like_a(f: &Fixture, token: Option<&str>, origin: Option<&str>) -> HttpReply {
    act(f, token, "like_image", origin, json!({"image_id": "a"})).await
}

/// The private renewal tool asked, as `bearer`, to renew widget token `token`.
async fn renew(f: &Fixture, bearer: Option<&str>, token: &str) -> HttpReply {
    call_tool(
        f,
        bearer,
        "widgetry_refresh_widget_token",
        json!({"token": token}),
    )
    .await
}

#[tokio::test]
async fn a_signed_in_tool_result_carries_a_scoped_widget_token_only_in_meta() {
    let f = start(Duration::from_secs(600)).await;
    let r = call_tool(&f, Some("alice-token"), "show_gallery", json!({})).await;
    let v = r.json();
    let grant = grant_of(&r);
    let token = grant["token"].as_str().expect("a widget token");
    assert_eq!(
        grant["actions"],
        json!(["like_image"]),
        "delete_image needs admin, which alice lacks"
    );
    assert_eq!(grant["endpoint"], format!("{}/widget/actions", f.origin));
    assert_eq!(grant["refreshTool"], "widgetry_refresh_widget_token");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let exp = grant["expiresAt"].as_f64().unwrap();
    assert!(exp > now + 590.0 && exp < now + 610.0, "10 minute lifetime");
    let visible = format!(
        "{}{}",
        v["result"]["content"], v["result"]["structuredContent"]
    );
    assert!(
        !visible.contains(token),
        "the token never reaches content or structuredContent"
    );
    // Anonymous viewers get no token, and know they are signed out.
    let anon = call_tool(&f, None, "show_gallery", json!({})).await;
    assert_eq!(grant_of(&anon)["signedIn"], false);
    assert!(grant_of(&anon).get("token").is_none());
    // The widget's CSP lets it reach the app's origin.
    let list = f
        .server
        .send(
            f.server
                .request("POST", "/mcp")
                .header("mcp-session-id", &f.sid)
                .header("authorization", "Bearer alice-token")
                .body(Full::new(Bytes::from(
                    r#"{"jsonrpc":"2.0","id":2,"method":"resources/list"}"#,
                )))
                .unwrap(),
        )
        .await
        .json();
    let csp = &list["result"]["resources"][0]["_meta"]["ui"]["csp"]["connectDomains"];
    assert_eq!(csp, &json!([f.origin]));
}

#[tokio::test]
async fn the_action_endpoint_and_the_tool_run_the_same_handler_for_the_same_user() {
    let f = start(Duration::from_secs(600)).await;
    let token = alice_widget_token(&f).await;
    let r = like_a(&f, Some(&token), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["structuredContent"],
        json!({"image_id":"a","likes":1,"by":"alice"})
    );
    let t = call_tool(
        &f,
        Some("alice-token"),
        "like_image",
        json!({"image_id":"b"}),
    )
    .await
    .json();
    assert_eq!(
        t["result"]["structuredContent"],
        json!({"image_id":"b","likes":2,"by":"alice"})
    );
    assert_eq!(f.likes.load(Ordering::SeqCst), 2);
    // Same validation on both paths.
    let bad = act(&f, Some(&token), "like_image", None, json!({"image_id": 5})).await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("image_id"));
}

#[tokio::test]
async fn the_action_endpoint_refuses_everything_but_a_valid_widget_token_for_that_action() {
    let f = start(Duration::from_secs(600)).await;
    let token = alice_widget_token(&f).await;
    let no = like_a(&f, None, None).await;
    assert_eq!(
        (no.status, no.json()["error"].clone()),
        (401, json!("invalid_token"))
    );
    let access = like_a(&f, Some("alice-token"), None).await;
    assert_eq!(
        access.status, 401,
        "a user's access token is not a widget token"
    );
    assert!(access.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("not a widget token"));
    let other = act(
        &f,
        Some(&token),
        "delete_image",
        None,
        json!({"image_id":"a"}),
    )
    .await;
    assert_eq!(
        (other.status, other.json()["error"].clone()),
        (403, json!("insufficient_scope"))
    );
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    assert_eq!(like_a(&f, Some(&tampered), None).await.status, 401);
    let unknown = act(&f, Some(&token), "no_such_action", None, json!({})).await;
    assert_eq!(unknown.status, 404);
    // A token minted by another app (another key) is refused.
    let other_app = start(Duration::from_secs(600)).await;
    let foreign = alice_widget_token(&other_app).await;
    assert_eq!(like_a(&f, Some(&foreign), None).await.status, 401);
    assert_eq!(
        f.likes.load(Ordering::SeqCst),
        0,
        "no refused call ran the handler"
    );
}

#[tokio::test]
async fn expired_tokens_are_refused_and_renewed_through_the_private_tool() {
    let f = start(Duration::from_secs(1)).await;
    let token = alice_widget_token(&f).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = like_a(&f, Some(&token), None).await;
    assert_eq!(r.status, 401);
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
    // The host calls the renewal tool with the user's own authorization.
    let renewed = renew(&f, Some("alice-token"), &token).await;
    let new = grant_of(&renewed)["token"]
        .as_str()
        .expect("renewed token")
        .to_string();
    assert_ne!(new, token);
    let ok = like_a(&f, Some(&new), None).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    // Another user cannot renew alice's token.
    let stolen = renew(&f, Some("bob-token"), &token).await.json();
    assert_eq!(stolen["result"]["isError"], true);
    assert!(stolen["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("another user"));
    // Signed out: the host gets a sign-in challenge.
    let anon = renew(&f, None, &token).await.json();
    assert_eq!(anon["result"]["isError"], true, "{anon}");
    assert!(anon["result"]["_meta"]["mcp/www_authenticate"][0]
        .as_str()
        .unwrap()
        .starts_with("Bearer "));
    // Lost scope (alice's new access token no longer grants likes:write): renewal says so.
    f.users
        .lock()
        .unwrap()
        .insert("alice-token-2".into(), ("alice".into(), vec![]));
    let lost = renew(&f, Some("alice-token-2"), &new).await.json();
    assert_eq!(lost["result"]["isError"], true);
    assert_eq!(
        lost["result"]["_meta"]["widgetry/widgetToken"]["scopeLost"],
        true
    );
}

#[tokio::test]
async fn cors_allows_widget_origins_only() {
    let f = start(Duration::from_secs(600)).await;
    let token = alice_widget_token(&f).await;
    let preflight = |origin: &str| {
        http::Request::builder()
            .method("OPTIONS")
            .uri(f.server.url("/widget/actions/like_image"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    for allowed in [
        "https://abc123.web-sandbox.oaiusercontent.com",
        "null",
        "http://localhost:5173",
    ] {
        let r = f.server.send(preflight(allowed)).await;
        assert!(matches!(r.status, 200 | 204), "{allowed}: {}", r.status);
        assert_eq!(r.header("access-control-allow-origin"), Some(allowed));
        assert!(r
            .header("access-control-allow-headers")
            .unwrap()
            .contains("authorization"));
    }
    let evil = f.server.send(preflight("https://evil.example")).await;
    assert_eq!(evil.status, 403);
    assert!(evil.header("access-control-allow-origin").is_none());
    let r = like_a(&f, Some(&token), Some("https://evil.example")).await;
    assert_eq!(r.status, 403);
    let r = like_a(
        &f,
        Some(&token),
        Some("https://x.web-sandbox.oaiusercontent.com"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://x.web-sandbox.oaiusercontent.com")
    );
}

#[tokio::test]
async fn generic_clients_can_ask_for_a_real_401_on_protected_tools() {
    let f = start_with(Duration::from_secs(600), true).await;
    let r = call_tool(&f, None, "like_image", json!({"image_id": "a"})).await;
    assert_eq!(r.status, 401);
    let challenge = r
        .header("www-authenticate")
        .expect("a WWW-Authenticate challenge");
    assert!(
        challenge.starts_with("Bearer resource_metadata=")
            && challenge.contains("scope=\"likes:write\""),
        "{challenge}"
    );
    // Public and optional tools still answer anonymous callers.
    assert_eq!(
        call_tool(&f, None, "show_gallery", json!({})).await.status,
        200
    );
}
