//! Per-tool OAuth over real HTTP, against a real issuer on loopback: policies and
//! `securitySchemes`, the verified user, challenges (401 / 403 / `mcp/www_authenticate`),
//! JWT verification (algorithms, claims, keys, rotation, caching, an issuer that is down
//! at start), introspection, custom verifiers, RFC 9728 metadata, configuration by env.

mod common;
#[path = "common/issuer.rs"]
mod issuer;
#[path = "common/serve.rs"]
mod serve;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Reply as HttpReply, TestServer};
use http_body_util::Full;
use issuer::{now, Alg, Discovery, IssuerOptions, TestIssuer};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};
use widgetry::app::{App, AppBuilder, NoInput, Tool};
use widgetry::auth::{AuthError, FnVerifier, IntrospectionVerifier, JwtVerifier};
use widgetry::{Auth, AuthConfig, RequestContext, ToolError, User};

const PROTECTED: &str = "protected-widget";
const PUBLIC: &str = "public-widget";
const FLEXIBLE: &str = "flexible-widget";
const TENANT_CLAIM: &str = "https://widgetry.test/tenant";

/// Every test runs under this bound.
async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(90), f)
        .await
        .expect("test exceeded its time bound");
}

// ---------------------------------------------------------------------------------
// The app under test
// ---------------------------------------------------------------------------------

/// What a handler saw of the caller.
#[derive(Serialize, JsonSchema)]
struct Who {
    tool: String,
    signed_in: bool,
    subject: Option<String>,
    scopes: Vec<String>,
    has_user: bool,
    has_read_data: bool,
    client_id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    expires_at: Option<u64>,
    tenant: Option<String>,
}

impl Who {
    fn of(tool: &str, u: Option<&User>) -> Self {
        Who {
            tool: tool.into(),
            signed_in: u.is_some(),
            subject: u.map(|u| u.subject.clone()),
            scopes: u.map(|u| u.scopes.clone()).unwrap_or_default(),
            has_user: u.is_some_and(|u| u.has_scope("user")),
            has_read_data: u.is_some_and(|u| u.has_scope("read:data")),
            client_id: u.and_then(|u| u.client_id.clone()),
            name: u.and_then(|u| u.name().map(str::to_string)),
            email: u.and_then(|u| u.email().map(str::to_string)),
            expires_at: u.and_then(|u| u.expires_at),
            tenant: u
                .and_then(|u| u.claim(TENANT_CLAIM))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }
}

/// A tool reporting its caller; `runs` counts how often its handler actually ran.
fn who_tool(name: &'static str, runs: Arc<AtomicUsize>) -> Tool {
    Tool::new(name, move |ctx: RequestContext, _: NoInput| {
        runs.fetch_add(1, Ordering::SeqCst);
        let w = Who::of(name, ctx.user());
        async move { Ok::<_, ToolError>(w) }
    })
}

/// Seed 003's trio: protected (user + read:data), public, flexible (optional user).
fn trio(b: AppBuilder, runs: &Arc<AtomicUsize>) -> AppBuilder {
    b.tool(who_tool(PROTECTED, runs.clone()).auth(Auth::required(["user", "read:data"])))
        .tool(who_tool(PUBLIC, Arc::new(AtomicUsize::new(0))).auth(Auth::none()))
        .tool(who_tool(FLEXIBLE, Arc::new(AtomicUsize::new(0))).auth(Auth::optional(["user"])))
}

struct Served {
    s: TestServer,
    resource: String,
    metadata_url: String,
    /// Runs of the protected tool's handler.
    runs: Arc<AtomicUsize>,
}

/// Binds 127.0.0.1:0, builds the app for `http://{addr}/mcp` and serves it.
async fn serve(build: impl FnOnce(&str, &Arc<AtomicUsize>) -> App) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let runs = Arc::new(AtomicUsize::new(0));
    let app = build(&resource, &runs);
    Served {
        s: serve::serve_app(listener, &app),
        metadata_url: format!("http://{addr}/.well-known/oauth-protected-resource/mcp"),
        resource,
        runs,
    }
}

/// The trio behind `config(resource)`.
async fn serve_trio(config: impl FnOnce(&str) -> AuthConfig) -> Served {
    serve(|resource, runs| {
        trio(App::builder("auth-trio", "1.0.0").dev(false), runs)
            .auth(config(resource))
            .build()
            .unwrap()
    })
    .await
}

/// The trio trusting `issuer` through the default (discovering) JWT verifier.
async fn serve_trio_for(issuer: &TestIssuer) -> Served {
    let iss = issuer.issuer().to_string();
    serve_trio(move |resource| AuthConfig::new(iss, resource).unwrap()).await
}

fn rpc(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// POSTs a JSON-RPC message with an optional session and `Authorization` value.
async fn post(
    s: &TestServer,
    sid: Option<&str>,
    authorization: Option<&str>,
    body: Value,
) -> HttpReply {
    let mut b = s.request("POST", "/mcp");
    if let Some(sid) = sid {
        b = b
            .header("mcp-session-id", sid)
            .header("mcp-protocol-version", "2025-06-18");
    }
    if let Some(a) = authorization {
        b = b.header("authorization", a);
    }
    s.send(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
}

fn init_body() -> Value {
    rpc(
        0,
        "initialize",
        json!({"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}),
    )
}

/// Initializes a session (with `authorization` when given) and returns its id.
async fn init(s: &TestServer, authorization: Option<&str>) -> String {
    let r = post(s, None, authorization, init_body()).await;
    assert_eq!(r.status, 200, "initialize failed: {}", r.text());
    let sid = r.header("mcp-session-id").expect("session id").to_string();
    let n = post(
        s,
        Some(&sid),
        authorization,
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    )
    .await;
    assert_eq!(n.status, 202, "{}", n.text());
    sid
}

/// `tools/call` of `tool` (id 7).
async fn call(s: &TestServer, sid: &str, authorization: Option<&str>, tool: &str) -> HttpReply {
    call_id(s, Some(sid), authorization, 7, tool).await
}

/// Sessions belong to the user who first uses them: a call made with another user's
/// token than the one the test's session was created for goes to a session of that
/// user's own (created once per server and `Authorization` value). When no session can
/// be created with that header (a bad token), the given session is used, so the
/// request reaches the server as the test wrote it.
async fn session_of(
    s: &TestServer,
    sid: Option<&str>,
    authorization: Option<&str>,
) -> Option<String> {
    use std::sync::Mutex;
    static OWNED: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());
    let (Some(sid), Some(a)) = (sid, authorization) else {
        return sid.map(str::to_string);
    };
    let key = (s.addr.to_string(), a.to_string());
    if let Some((_, _, id)) = OWNED
        .lock()
        .unwrap()
        .iter()
        .find(|(k, h, _)| (k, h) == (&key.0, &key.1))
    {
        return Some(id.clone());
    }
    let r = post(s, None, Some(a), init_body()).await;
    let id = match r.header("mcp-session-id").filter(|_| r.status == 200) {
        Some(id) => id.to_string(),
        None => sid.to_string(),
    };
    OWNED.lock().unwrap().push((key.0, key.1, id.clone()));
    Some(id)
}

/// `tools/call` of `tool` with JSON-RPC id `id`, in session `sid` if any (see
/// [`session_of`]).
async fn call_id(
    s: &TestServer,
    sid: Option<&str>,
    authorization: Option<&str>,
    id: i64,
    tool: &str,
) -> HttpReply {
    let sid = session_of(s, sid, authorization).await;
    post(
        s,
        sid.as_deref(),
        authorization,
        rpc(id, "tools/call", json!({"name": tool, "arguments": {}})),
    )
    .await
}

/// `tools/call` of `tool` (id 7) with `Authorization: Bearer {token}`.
async fn call_as(s: &TestServer, sid: &str, token: &str, tool: &str) -> HttpReply {
    call(s, sid, Some(&bearer(token)), tool).await
}

/// `tools/list` (id `id`) in session `sid`.
async fn list_tools(s: &TestServer, sid: &str, authorization: Option<&str>, id: i64) -> HttpReply {
    let sid = session_of(s, Some(sid), authorization).await;
    post(
        s,
        sid.as_deref(),
        authorization,
        rpc(id, "tools/list", json!({})),
    )
    .await
}

/// The entry of `tool` in a `tools/list` answer.
fn listed<'a>(list: &'a Value, tool: &str) -> &'a Value {
    list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == tool)
        .unwrap()
}

/// A plain GET of `url` (absolute).
async fn get(s: &TestServer, url: &str) -> HttpReply {
    s.send(
        http::Request::get(url)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
}

/// A successful tool call's `structuredContent`; panics with the whole answer otherwise.
fn ok_content(r: &HttpReply) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["result"]["isError"], json!(null), "tool failed: {v}");
    v["result"]["structuredContent"].clone()
}

/// Parses `Bearer k="v", k2="v2"` strictly: a scheme, then comma-separated auth-params
/// whose values are quoted strings (with `\` escapes). Panics on anything else.
fn parse_challenge(h: &str) -> (String, HashMap<String, String>) {
    let (scheme, rest) = h
        .split_once(' ')
        .unwrap_or_else(|| panic!("no auth-params in {h:?}"));
    let mut params = HashMap::new();
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i] == ' ' {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '-')
        {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        assert!(!key.is_empty(), "empty parameter name at {i} in {h:?}");
        assert_eq!(chars.get(i), Some(&'='), "no '=' after {key} in {h:?}");
        i += 1;
        assert_eq!(
            chars.get(i),
            Some(&'"'),
            "value of {key} is not quoted in {h:?}"
        );
        i += 1;
        let mut value = String::new();
        loop {
            match chars.get(i) {
                None => panic!("unterminated value of {key} in {h:?}"),
                Some('\\') => {
                    value.push(*chars.get(i + 1).expect("dangling escape"));
                    i += 2;
                }
                Some('"') => {
                    i += 1;
                    break;
                }
                Some(c) => {
                    value.push(*c);
                    i += 1;
                }
            }
        }
        assert!(
            params.insert(key.clone(), value).is_none(),
            "{key} appears twice in {h:?}"
        );
        skip_ws(&mut i);
        match chars.get(i) {
            None => break,
            Some(',') => i += 1,
            Some(c) => panic!("expected ',' after {key}, found {c:?} in {h:?}"),
        }
    }
    (scheme.to_string(), params)
}

/// The parsed `WWW-Authenticate` header of a reply.
fn challenge_of(r: &HttpReply) -> HashMap<String, String> {
    let h = r
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("no WWW-Authenticate on {} {}", r.status, r.text()));
    let (scheme, params) = parse_challenge(h);
    assert_eq!(scheme, "Bearer", "{h}");
    params
}

/// A header's bytes as text, whatever they are.
fn raw_header(r: &HttpReply, name: &str) -> Option<String> {
    r.headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn scope_list(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.split(' ').filter(|x| !x.is_empty()).collect();
    v.sort();
    v
}

/// Polls the protected tool with `token` until it answers successfully (keys loaded).
async fn until_keys_loaded(s: &TestServer, sid: &str, token: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = call(s, sid, Some(&bearer(token)), PROTECTED).await;
        if r.status == 200 && r.json()["result"]["isError"].is_null() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the issuer's keys never loaded: {} {}",
            r.status,
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The decoded JOSE header of a compact JWS.
fn header_of(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, h).unwrap();
    serde_json::from_slice(&raw).unwrap()
}

/// A full-scope token for `aud`.
fn good_token(issuer: &TestIssuer, alg: Alg, aud: &str, sub: &str) -> String {
    token_with(issuer, alg, aud, sub, "user read:data", json!({}))
}

/// A token for `aud` and `sub` granting `scope`, with extra JOSE `header` members.
fn token_with(
    issuer: &TestIssuer,
    alg: Alg,
    aud: &str,
    sub: &str,
    scope: &str,
    header: Value,
) -> String {
    issuer.mint(alg, &issuer.claims(aud, sub, scope), &header)
}

/// Polls until the app's keys verify a `warmup` token of `alg`.
async fn warm_up(app: &Served, sid: &str, issuer: &TestIssuer, alg: Alg) {
    until_keys_loaded(
        &app.s,
        sid,
        &good_token(issuer, alg, &app.resource, "warmup"),
    )
    .await;
}

/// The trio trusting `issuer`, an anonymous session, and the issuer's keys loaded: polls
/// until a full-scope token of `alg` for `sub` verifies. Returns that token as well.
async fn trio_with_keys(issuer: &TestIssuer, alg: Alg, sub: &str) -> (Served, String, String) {
    let app = serve_trio_for(issuer).await;
    let sid = init(&app.s, None).await;
    let token = good_token(issuer, alg, &app.resource, sub);
    until_keys_loaded(&app.s, &sid, &token).await;
    (app, sid, token)
}

/// An issuer whose identifier ends in `/` (Auth0 style).
async fn trailing_slash_issuer() -> TestIssuer {
    TestIssuer::start_with(IssuerOptions {
        trailing_slash: true,
        ..Default::default()
    })
    .await
}

/// The trio behind an introspection verifier at `issuer`, authenticating with client
/// secret `secret`; with `check_issuer`, the verifier also requires the issuer's `iss`.
async fn serve_trio_introspecting(issuer: &TestIssuer, secret: &str, check_issuer: bool) -> Served {
    let (endpoint, iss) = (issuer.introspection_endpoint(), issuer.issuer().to_string());
    serve_trio(|resource| {
        let v =
            IntrospectionVerifier::new(endpoint, issuer::INTROSPECTION_CLIENT.0, secret, resource);
        let v = if check_issuer {
            v.issuer(iss.clone())
        } else {
            v
        };
        AuthConfig::new(iss, resource).unwrap().verifier(v)
    })
    .await
}

// ---------------------------------------------------------------------------------
// Policies, users, challenges
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn valid_tokens_of_every_algorithm_reach_every_policy_with_the_user() {
    bounded(async {
        let issuer = trailing_slash_issuer().await;
        let (app, sid, _) = trio_with_keys(&issuer, Alg::RS256, "warmup").await;
        let s = &app.s;

        for alg in [Alg::RS256, Alg::ES256, Alg::EdDSA] {
            let mut claims = issuer.claims(
                &app.resource,
                &format!("user-{}", alg.name()),
                "read:data user",
            );
            claims["name"] = json!("Ada Lovelace");
            claims["email"] = json!("ada@example.com");
            claims["client_id"] = json!("chatgpt-connector");
            claims[TENANT_CLAIM] = json!("acme");
            let exp = claims["exp"].as_u64().unwrap();
            let token = issuer.mint(alg.clone(), &claims, &json!({}));
            for tool in [PROTECTED, PUBLIC, FLEXIBLE] {
                let who = ok_content(&call_as(s, &sid, &token, tool).await);
                assert_eq!(who["tool"], tool);
                assert_eq!(who["signed_in"], true, "{alg:?} {tool}: {who}");
                assert_eq!(who["subject"], format!("user-{}", alg.name()));
                assert_eq!(who["scopes"], json!(["read:data", "user"]));
                assert_eq!(who["has_user"], true);
                assert_eq!(who["has_read_data"], true);
                assert_eq!(who["client_id"], "chatgpt-connector");
                assert_eq!(who["name"], "Ada Lovelace");
                assert_eq!(who["email"], "ada@example.com");
                assert_eq!(who["tenant"], "acme");
                assert_eq!(who["expires_at"], exp);
            }
        }

        // Auth0 style: no `scope`, RBAC `permissions`, the client in `azp`.
        let mut claims = issuer.claims(&app.resource, "auth0|42", "");
        claims.as_object_mut().unwrap().remove("scope");
        claims["permissions"] = json!(["read:data", "user", "write:data"]);
        claims["azp"] = json!("auth0-client");
        let token = issuer.mint(Alg::RS256, &claims, &json!({}));
        let who = ok_content(&call_as(s, &sid, &token, PROTECTED).await);
        assert_eq!(who["subject"], "auth0|42");
        assert_eq!(who["scopes"], json!(["read:data", "user", "write:data"]));
        assert_eq!(who["client_id"], "auth0-client");
        assert_eq!(who["name"], json!(null));

        // `at+jwt` (RFC 9068) is an access token type; the scheme name is case-insensitive.
        let token = token_with(
            &issuer,
            Alg::ES256,
            &app.resource,
            "rfc9068",
            "user read:data",
            json!({"typ": "at+jwt"}),
        );
        let who = ok_content(&call(s, &sid, Some(&format!("bearer {token}")), PROTECTED).await);
        assert_eq!(who["subject"], "rfc9068");
        assert!(app.runs.load(Ordering::SeqCst) >= 5);
    })
    .await;
}

#[tokio::test]
async fn anonymous_callers_get_public_and_free_tier_and_a_challenge_for_protected() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let app = serve_trio_for(&issuer).await;
        let s = &app.s;
        // A mixed server lets anonymous clients connect and list tools.
        let sid = init(s, None).await;
        let list = list_tools(s, &sid, None, 1).await;
        assert_eq!(list.status, 200, "{}", list.text());

        let public = ok_content(&call(s, &sid, None, PUBLIC).await);
        assert_eq!(public["signed_in"], false);
        assert_eq!(public["subject"], json!(null));
        let flexible = ok_content(&call(s, &sid, None, FLEXIBLE).await);
        assert_eq!(flexible["signed_in"], false, "free tier: {flexible}");

        // A generic MCP client (no ChatGPT hints) gets the HTTP 401 the official SDKs
        // start OAuth on; no `error` since it sent no credentials (RFC 6750 §3.1).
        let r = call(s, &sid, None, PROTECTED).await;
        assert_eq!(r.status, 401, "{}", r.text());
        let c = challenge_of(&r);
        assert_eq!(c["resource_metadata"], app.metadata_url);
        assert!(!c.contains_key("error"), "{c:?}");
        assert_eq!(scope_list(&c["scope"]), ["read:data", "user"]);

        // ChatGPT (request `_meta` with `openai/*` hints) gets the isError result with
        // `mcp/www_authenticate` that makes it show its sign-in.
        let r = post(
            s,
            Some(&sid),
            None,
            rpc(7, "tools/call", json!({"name": PROTECTED, "arguments": {}, "_meta": {"openai/locale": "en-US", "openai/userAgent": "ChatGPT"}})),
        )
        .await;
        assert_eq!(
            r.status,
            200,
            "a tool result, not an HTTP refusal: {}",
            r.text()
        );
        assert!(r.header("www-authenticate").is_none());
        let v = r.json();
        assert_eq!(v["id"], 7);
        assert_eq!(v["result"]["isError"], true, "{v}");
        assert!(v["result"].get("structuredContent").is_none(), "{v}");
        let text = v["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.to_lowercase().contains("sign in"), "{text}");
        let list = v["result"]["_meta"]["mcp/www_authenticate"]
            .as_array()
            .unwrap_or_else(|| panic!("no mcp/www_authenticate array: {v}"));
        assert_eq!(list.len(), 1, "{v}");
        let (scheme, params) = parse_challenge(list[0].as_str().unwrap());
        assert_eq!(scheme, "Bearer");
        assert_eq!(params["resource_metadata"], app.metadata_url);
        assert!(
            !params.contains_key("error"),
            "RFC 6750 §3.1: no error code for a request without credentials: {params:?}"
        );
        if let Some(scope) = params.get("scope") {
            assert_eq!(scope_list(scope), ["read:data", "user"], "{params:?}");
        }
        assert_eq!(
            app.runs.load(Ordering::SeqCst),
            0,
            "the protected handler must not run for an anonymous caller"
        );

        // The challenge's metadata URL is the live RFC 9728 document for this resource.
        let meta = get(s, &params["resource_metadata"]).await;
        assert_eq!(meta.status, 200);
        assert_eq!(meta.json()["resource"], app.resource);
    })
    .await;
}

fn all_protected_app(resource: &str, runs: &Arc<AtomicUsize>, config: AuthConfig) -> App {
    let _ = resource;
    App::builder("locked", "1.0.0")
        .dev(false)
        .auth(config)
        // No policy: inherits Required(default scopes).
        .tool(who_tool("inherits", runs.clone()))
        .tool(who_tool("admin-only", Arc::new(AtomicUsize::new(0))).auth(Auth::required(["admin"])))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_fully_protected_server_answers_401_with_resource_metadata_and_scope_without_a_token() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let iss = issuer.issuer().to_string();
        let app = serve(|resource, runs| {
            all_protected_app(
                resource,
                runs,
                AuthConfig::new(iss, resource)
                    .unwrap()
                    .default_scopes(["user", "read:data"]),
            )
        })
        .await;
        let s = &app.s;

        // initialize itself is refused, so the client discovers auth before anything else.
        let r = post(s, None, None, init_body()).await;
        assert_eq!(r.status, 401, "{}", r.text());
        let c = challenge_of(&r);
        assert_eq!(c["resource_metadata"], app.metadata_url);
        assert_eq!(scope_list(&c["scope"]), ["read:data", "user"]);
        assert!(
            !c.contains_key("error"),
            "RFC 6750 §3.1: no error code when the request had no credentials: {c:?}"
        );
        // Refused by the bearer layer before the body is read: no id to echo.
        let body = r.json();
        assert_eq!(body["id"], json!(null), "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");

        // Every other method and endpoint as well.
        let r = post(s, None, None, rpc(1, "tools/list", json!({}))).await;
        assert_eq!(r.status, 401);
        assert_eq!(challenge_of(&r)["resource_metadata"], app.metadata_url);
        let r = call_id(s, None, None, 2, "inherits").await;
        assert_eq!(r.status, 401);
        let r = s
            .send(
                s.request("GET", "/mcp")
                    .header("accept", "text/event-stream")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 401, "GET /mcp: {}", r.text());
        assert_eq!(app.runs.load(Ordering::SeqCst), 0);

        // With a token: connect, list, call.
        let token = good_token(&issuer, Alg::EdDSA, &app.resource, "grace");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let sid = init(s, Some(&bearer(&token))).await;
        loop {
            let r = call_id(s, Some(&sid), Some(&bearer(&token)), 3, "inherits").await;
            if r.status == 200 && r.json()["result"]["isError"].is_null() {
                assert_eq!(r.json()["result"]["structuredContent"]["subject"], "grace");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{}", r.text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let list = list_tools(s, &sid, Some(&bearer(&token)), 4).await;
        let list = list.json();
        let inherits = listed(&list, "inherits");
        assert_eq!(
            inherits["securitySchemes"],
            json!([{"type":"oauth2","scopes":["user","read:data"]}]),
            "a tool without a policy inherits Required(default scopes)"
        );
        // The token lacks `admin`: 403 for that tool only.
        let r = call_id(s, Some(&sid), Some(&bearer(&token)), 5, "admin-only").await;
        assert_eq!(r.status, 403, "{}", r.text());
    })
    .await;
}

#[tokio::test]
async fn a_fully_protected_server_without_default_scopes_still_names_the_scopes_its_tools_need() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let iss = issuer.issuer().to_string();
        let app = serve(|resource, runs| {
            App::builder("locked", "1.0.0")
                .dev(false)
                .auth(AuthConfig::new(iss, resource).unwrap())
                .tool(who_tool(PROTECTED, runs.clone()).auth(Auth::required(["user", "read:data"])))
                .tool(
                    who_tool("reports", Arc::new(AtomicUsize::new(0)))
                        .auth(Auth::required(["reports:read"])),
                )
                .build()
                .unwrap()
        })
        .await;
        let r = post(&app.s, None, None, init_body()).await;
        assert_eq!(r.status, 401, "{}", r.text());
        let c = challenge_of(&r);
        assert_eq!(c["resource_metadata"], app.metadata_url);
        let scope = c.get("scope").unwrap_or_else(|| {
            panic!("the 401 challenge must carry scope=\"…\" (the scopes the tools need): {c:?}")
        });
        for needed in ["user", "read:data", "reports:read"] {
            assert!(
                scope_list(scope).contains(&needed),
                "{needed} missing from {scope:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn insufficient_scope_is_403_naming_the_needed_scopes() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let (app, sid, _) = trio_with_keys(&issuer, Alg::ES256, "warmup").await;
        let s = &app.s;
        let runs_before = app.runs.load(Ordering::SeqCst);

        for (granted, missing) in [
            ("user", "read:data"),
            ("read:data write:data", "user"),
            ("", "read:data user"),
        ] {
            let token = token_with(
                &issuer,
                Alg::RS256,
                &app.resource,
                "limited",
                granted,
                json!({}),
            );
            let r = call_as(s, &sid, &token, PROTECTED).await;
            assert_eq!(r.status, 403, "granted {granted:?}: {}", r.text());
            let c = challenge_of(&r);
            assert_eq!(c["error"], "insufficient_scope", "{c:?}");
            assert_eq!(c["resource_metadata"], app.metadata_url);
            let scope = scope_list(&c["scope"]);
            for needed in ["user", "read:data"] {
                assert!(
                    scope.contains(&needed),
                    "scope {scope:?} must list {needed}"
                );
            }
            for m in missing.split(' ') {
                assert!(c["error_description"].contains(m), "{c:?} should name {m}");
            }
            let body = r.json();
            assert_eq!(body["id"], 7, "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(missing.split(' ').next().unwrap()),
                "{body}"
            );

            // The same token is fine where the policy allows it.
            let who = ok_content(&call_as(s, &sid, &token, FLEXIBLE).await);
            assert_eq!(who["signed_in"], true);
            assert_eq!(who["subject"], "limited");
            ok_content(&call_as(s, &sid, &token, PUBLIC).await);
        }
        assert_eq!(
            app.runs.load(Ordering::SeqCst),
            runs_before,
            "the protected handler never ran"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------
// JWT verification: the battery of bad tokens
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn bad_tokens_are_refused_with_401_invalid_token_and_the_reason() {
    bounded(async {
        // A trailing-slash issuer (Auth0 style), so "no slash" is a different issuer.
        let issuer = trailing_slash_issuer().await;
        let (app, sid, _) = trio_with_keys(&issuer, Alg::RS256, "warmup").await;
        let s = &app.s;
        let aud = app.resource.clone();

        let now = now();
        let base = || issuer.claims(&aud, "mallory", "user read:data");
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = base();
            f(&mut c);
            c
        };
        let rs = |c: &Value| issuer.mint(Alg::RS256, c, &json!({}));
        let rs_h = |c: &Value, h: Value| issuer.mint(Alg::RS256, c, &h);
        let valid = rs(&base());
        let (h, p, sig) = {
            let mut it = valid.split('.');
            (
                it.next().unwrap().to_string(),
                it.next().unwrap().to_string(),
                it.next().unwrap().to_string(),
            )
        };
        let tampered_payload = {
            let mut c = base();
            c["sub"] = json!("admin");
            format!("{h}.{}.{sig}", issuer::b64(c.to_string().as_bytes()))
        };
        let tampered_sig = {
            let mut raw =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &sig)
                    .unwrap();
            raw[10] ^= 0x01;
            format!("{h}.{p}.{}", issuer::b64(&raw))
        };
        let rsa_kid = issuer.kid(&Alg::RS256);
        let ec_kid = issuer.kid(&Alg::ES256);
        let oversized = rs(&with(&|c| c["pad"] = json!("x".repeat(9 * 1024))));
        assert!(oversized.len() > 8 * 1024);

        // (what, Authorization header value, a word the reason must contain)
        let b = |t: String| bearer(&t);
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "alg none",
                b(issuer.mint(Alg::None, &base(), &json!({}))),
                "none",
            ),
            (
                "alg none, kid of a real key",
                b(issuer.mint(Alg::None, &base(), &json!({"kid": rsa_kid}))),
                "none",
            ),
            (
                "HS256 keyed with the RSA public key PEM (algorithm confusion)",
                b(issuer.mint(
                    Alg::HS256(issuer::RSA1_PUBLIC_PEM.as_bytes().to_vec()),
                    &base(),
                    &json!({"kid": rsa_kid}),
                )),
                "HS256",
            ),
            (
                "HS256 with a random secret",
                b(issuer.mint(
                    Alg::HS256(b"random secret 123".to_vec()),
                    &base(),
                    &json!({}),
                )),
                "HS256",
            ),
            (
                "HS256 with the symmetric key published in the JWKS",
                b(issuer.mint(
                    Alg::HS256(issuer::OCT_SECRET.to_vec()),
                    &base(),
                    &json!({"kid": issuer::OCT_KID}),
                )),
                "HS256",
            ),
            (
                "RS512 (not accepted)",
                b(rs_h(&base(), json!({"alg": "RS512"}))),
                "RS512",
            ),
            (
                "wrong iss",
                b(rs(&with(&|c| c["iss"] = json!("https://evil.example/")))),
                "issuer",
            ),
            (
                "missing iss",
                b(rs(&with(&|c| {
                    c.as_object_mut().unwrap().remove("iss");
                }))),
                "iss",
            ),
            (
                "iss without the trailing slash",
                b(rs(&with(&|c| {
                    c["iss"] = json!(issuer.issuer().trim_end_matches('/'))
                }))),
                "issuer",
            ),
            (
                "iss not a string",
                b(rs(&with(&|c| c["iss"] = json!([issuer.issuer()])))),
                "iss",
            ),
            (
                "wrong aud",
                b(rs(&with(&|c| {
                    c["aud"] = json!("https://other.example/mcp")
                }))),
                "aud",
            ),
            (
                "missing aud",
                b(rs(&with(&|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }))),
                "aud",
            ),
            (
                "aud array without us",
                b(rs(&with(&|c| {
                    c["aud"] = json!(["https://a.example", "https://b.example"])
                }))),
                "aud",
            ),
            (
                "aud of a wrong type",
                b(rs(&with(&|c| c["aud"] = json!({"resource": aud})))),
                "aud",
            ),
            (
                "aud array with a non-string",
                b(rs(&with(&|c| c["aud"] = json!([aud, 7])))),
                "aud",
            ),
            (
                "aud as a prefix of the resource",
                b(rs(&with(&|c| {
                    c["aud"] = json!(aud.trim_end_matches("/mcp"))
                }))),
                "aud",
            ),
            (
                "expired beyond the leeway",
                b(rs(&with(&|c| c["exp"] = json!(now - 120)))),
                "expired",
            ),
            (
                "expired long ago",
                b(rs(&with(&|c| {
                    c["exp"] = json!(now - 86_400);
                    c["iat"] = json!(now - 90_000);
                }))),
                "expired",
            ),
            (
                "exp missing",
                b(rs(&with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }))),
                "exp",
            ),
            (
                "exp as a string",
                b(rs(&with(&|c| c["exp"] = json!((now + 600).to_string())))),
                "exp",
            ),
            (
                "nbf in the future beyond the leeway",
                b(rs(&with(&|c| c["nbf"] = json!(now + 300)))),
                "nbf",
            ),
            (
                "nbf as a string",
                b(rs(&with(&|c| c["nbf"] = json!(now.to_string())))),
                "nbf",
            ),
            (
                "iat far in the future",
                b(rs(&with(&|c| c["iat"] = json!(now + 3600)))),
                "iat",
            ),
            (
                "unknown kid",
                b(rs_h(&base(), json!({"kid": "no-such-key"}))),
                "kid",
            ),
            (
                "kid not a string",
                b(rs_h(&base(), json!({"kid": 1}))),
                "kid",
            ),
            (
                "kid with quotes, commas and non-ASCII",
                b(rs_h(&base(), json!({"kid": "a\"b, error=\"x\", é"}))),
                "kid",
            ),
            (
                "ES256 header with the RSA kid",
                b(issuer.mint(Alg::ES256, &base(), &json!({"kid": rsa_kid}))),
                "alg",
            ),
            (
                "RS256 header with the EC kid",
                b(issuer.mint(Alg::RS256, &base(), &json!({"kid": ec_kid}))),
                "alg",
            ),
            (
                "a real kid, signed by another key",
                b(issuer.mint_with_key(issuer::ATTACKER, &base(), &json!({"kid": rsa_kid}))),
                "signature",
            ),
            (
                "signed by an encryption-only key of the JWKS",
                b(issuer.mint_with_key(
                    issuer::ATTACKER,
                    &base(),
                    &json!({"kid": issuer::ENC_KID}),
                )),
                "key",
            ),
            (
                "the attacker's key embedded in the header (jwk)",
                b(issuer.mint_with_key(
                    issuer::ATTACKER,
                    &base(),
                    &json!({"kid": null, "jwk": issuer.jwks()["keys"][3].clone()}),
                )),
                "",
            ),
            ("tampered payload", b(tampered_payload), "signature"),
            ("tampered signature", b(tampered_sig), "signature"),
            ("signature stripped", b(format!("{h}.{p}.")), ""),
            (
                "truncated token",
                b(valid[..valid.len() - 12].to_string()),
                "",
            ),
            ("two parts", b(format!("{h}.{p}")), "three"),
            ("four parts", b(format!("{valid}.{sig}")), "three"),
            ("garbage base64", b("@@@.###.$$$".into()), "base64"),
            (
                "duplicate alg member (RS256 then HS256)",
                b(format!(
                    "{}.{p}.{sig}",
                    issuer::b64(
                        format!(r#"{{"alg":"RS256","kid":"{rsa_kid}","alg":"HS256"}}"#).as_bytes()
                    )
                )),
                "",
            ),
            (
                "duplicate alg member (HS256 then RS256)",
                b(format!(
                    "{}.{p}.{sig}",
                    issuer::b64(
                        format!(r#"{{"alg":"HS256","kid":"{rsa_kid}","alg":"RS256"}}"#).as_bytes()
                    )
                )),
                "",
            ),
            (
                "header not JSON",
                b(format!("{}.{p}.{sig}", issuer::b64(b"not json"))),
                "header",
            ),
            ("oversized token", b(oversized), "larger"),
            ("typ JWE", b(rs_h(&base(), json!({"typ": "JWE"}))), "type"),
            (
                "typ dpop+jwt",
                b(rs_h(&base(), json!({"typ": "dpop+jwt"}))),
                "type",
            ),
            (
                "typ not a string",
                b(rs_h(&base(), json!({"typ": 1}))),
                "type",
            ),
            (
                "missing sub",
                b(rs(&with(&|c| {
                    c.as_object_mut().unwrap().remove("sub");
                }))),
                "sub",
            ),
            (
                "sub not a string",
                b(rs(&with(&|c| c["sub"] = json!(42)))),
                "sub",
            ),
            ("empty sub", b(rs(&with(&|c| c["sub"] = json!("")))), "sub"),
            (
                "scope as an array",
                b(rs(&with(&|c| c["scope"] = json!(["user", "read:data"])))),
                "scope",
            ),
            (
                "permissions as a string",
                b(rs(&with(&|c| c["permissions"] = json!("user read:data")))),
                "permissions",
            ),
            (
                "client_id not a string",
                b(rs(&with(&|c| c["client_id"] = json!(5)))),
                "client_id",
            ),
            (
                "crit header",
                b(rs_h(&base(), json!({"crit": ["exp"], "exp": now + 600}))),
                "critical",
            ),
            ("scheme Basic", "Basic dXNlcjpwYXNz".into(), "Bearer"),
            ("scheme Token", format!("Token {valid}"), "Bearer"),
            ("scheme DPoP", format!("DPoP {valid}"), "Bearer"),
            ("empty bearer", "Bearer ".into(), "Bearer"),
            ("bearer of spaces", "Bearer     ".into(), "Bearer"),
            ("scheme only", "Bearer".into(), "Bearer"),
        ];
        assert!(cases.len() >= 40, "{}", cases.len());

        let mut failures = Vec::new();
        for (what, authorization, reason) in &cases {
            let r = call(s, &sid, Some(authorization), PUBLIC).await;
            let problem = (|| {
                if r.status != 401 {
                    return Some(format!("status {} (want 401): {}", r.status, r.text()));
                }
                // Read leniently (non-ASCII included); the RFC 6750 character set is
                // checked by its own test.
                let h = raw_header(&r, "www-authenticate")?;
                let (scheme, c) = parse_challenge(&h);
                if scheme != "Bearer" || c.get("error").map(String::as_str) != Some("invalid_token")
                {
                    return Some(format!("challenge {h}"));
                }
                if c.get("resource_metadata") != Some(&app.metadata_url) {
                    return Some(format!("resource_metadata in {h}"));
                }
                let desc = c.get("error_description").cloned().unwrap_or_default();
                if desc.is_empty() || !desc.to_lowercase().contains(&reason.to_lowercase()) {
                    return Some(format!(
                        "error_description {desc:?} should mention {reason:?}"
                    ));
                }
                let body = r.json();
                // The JSON-RPC body names the reason too (it need not be byte-equal
                // to the header's description, which has a restricted character set).
                // The bearer layer refuses before reading the body: no id to echo.
                if !body["id"].is_null()
                    || !body["error"]["message"]
                        .as_str()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(&reason.to_lowercase())
                {
                    return Some(format!("body {body}"));
                }
                None
            })();
            let problem = match (problem, raw_header(&r, "www-authenticate")) {
                (None, None) => Some("no WWW-Authenticate".to_string()),
                (p, _) => p,
            };
            if let Some(p) = problem {
                failures.push(format!("{what}: {p}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} bad tokens were not refused properly:\n  {}",
            failures.len(),
            cases.len(),
            failures.join("\n  ")
        );

        // An invalid token is refused on initialize too, even on a mixed server.
        let r = post(
            s,
            None,
            Some(&bearer(&issuer.mint(Alg::None, &base(), &json!({})))),
            init_body(),
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(challenge_of(&r)["error"], "invalid_token");
        // And the issuer-side state did not change: the good token still works.
        ok_content(&call_as(s, &sid, &valid, PROTECTED).await);
    })
    .await;
}

#[tokio::test]
async fn clock_skew_within_the_leeway_is_accepted() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let (app, sid, _) = trio_with_keys(&issuer, Alg::RS256, "warmup").await;
        let s = &app.s;
        let now = now();
        for (what, patch) in [
            ("exp 30 s ago", json!({"exp": now - 30})),
            ("nbf 30 s ahead", json!({"nbf": now + 30})),
            ("iat 30 s ahead", json!({"iat": now + 30})),
            ("fractional exp", json!({"exp": (now + 600) as f64 + 0.5})),
            (
                "aud array containing us",
                json!({"aud": ["https://other.example", app.resource]}),
            ),
        ] {
            let mut c = issuer.claims(&app.resource, "skewed", "user read:data");
            for (k, v) in patch.as_object().unwrap() {
                c[k] = v.clone();
            }
            let token = issuer.mint(Alg::ES256, &c, &json!({}));
            let r = call_as(s, &sid, &token, PROTECTED).await;
            assert_eq!(r.status, 200, "{what}: {}", r.text());
            assert_eq!(
                r.json()["result"]["structuredContent"]["subject"],
                "skewed",
                "{what}: {}",
                r.text()
            );
        }
        // Just beyond the leeway is refused (the boundary is the leeway, not zero).
        let mut c = issuer.claims(&app.resource, "skewed", "user read:data");
        c["exp"] = json!(now - 75);
        let r = call_as(s, &sid, &issuer.mint(Alg::ES256, &c, &json!({})), PROTECTED).await;
        assert_eq!(r.status, 401);
    })
    .await;
}

// ---------------------------------------------------------------------------------
// Keys: caching, rotation, an unreachable issuer
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn cached_keys_keep_verifying_new_tokens_while_the_jwks_endpoint_is_down() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let (app, sid, token) = trio_with_keys(&issuer, Alg::RS256, "repeat").await;
        let s = &app.s;
        let (jwks, meta) = (issuer.jwks_fetches(), issuer.metadata_fetches());
        assert_eq!(jwks, 1, "one JWKS fetch at start");
        assert_eq!(meta, 1, "one discovery at start");

        // The same token again: answered without the issuer.
        for _ in 0..3 {
            let who = ok_content(&call_as(s, &sid, &token, PROTECTED).await);
            assert_eq!(who["subject"], "repeat");
        }
        assert_eq!(
            (issuer.jwks_fetches(), issuer.metadata_fetches()),
            (jwks, meta)
        );

        issuer.set_jwks_down(true);
        for (i, alg) in [Alg::RS256, Alg::ES256, Alg::EdDSA].into_iter().enumerate() {
            let t = good_token(&issuer, alg.clone(), &app.resource, &format!("fresh-{i}"));
            let who = ok_content(&call_as(s, &sid, &t, PROTECTED).await);
            assert_eq!(
                who["subject"],
                format!("fresh-{i}"),
                "{alg:?} with cached keys"
            );
        }
        // An unknown kid cannot be resolved now: refused, and the known keys survive.
        let ghost = token_with(
            &issuer,
            Alg::RS256,
            &app.resource,
            "ghost",
            "user read:data",
            json!({"kid": "ghost"}),
        );
        let r = call_as(s, &sid, &ghost, PROTECTED).await;
        assert!(
            r.status == 401 || r.json()["result"]["isError"] == true,
            "{}",
            r.text()
        );
        let t = good_token(&issuer, Alg::EdDSA, &app.resource, "after-failed-refetch");
        assert_eq!(
            ok_content(&call_as(s, &sid, &t, PROTECTED).await)["subject"],
            "after-failed-refetch"
        );
        assert_eq!(
            issuer.metadata_fetches(),
            meta,
            "the jwks_uri is remembered"
        );
    })
    .await;
}

/// The trio with a JWT verifier whose unknown-kid refetch interval is `interval`.
async fn serve_trio_with_interval(issuer: &TestIssuer, interval: Duration) -> Served {
    let iss = issuer.issuer().to_string();
    serve_trio(move |resource| {
        let v = JwtVerifier::builder(iss.clone(), resource)
            .refetch_interval(interval)
            .build();
        AuthConfig::new(iss, resource).unwrap().verifier(v)
    })
    .await
}

#[tokio::test]
async fn rotation_refetches_the_jwks_once_and_retires_the_old_kid() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let interval = Duration::from_millis(2500);
        let app = serve_trio_with_interval(&issuer, interval).await;
        let s = &app.s;
        let sid = init(s, None).await;
        let before_rotation = good_token(&issuer, Alg::RS256, &app.resource, "before");
        until_keys_loaded(s, &sid, &before_rotation).await;
        let old_kid = issuer.kid(&Alg::RS256);
        tokio::time::sleep(interval + Duration::from_millis(200)).await;
        let fetches = issuer.jwks_fetches();

        let new_kid = issuer.rotate();
        assert_ne!(new_kid, old_kid);
        let rotated = good_token(&issuer, Alg::RS256, &app.resource, "after");
        assert_eq!(header_of(&rotated)["kid"], new_kid);
        let who = ok_content(&call_as(s, &sid, &rotated, PROTECTED).await);
        assert_eq!(who["subject"], "after");
        assert_eq!(
            issuer.jwks_fetches(),
            fetches + 1,
            "exactly one refetch for the new kid"
        );
        // Again: no more fetches.
        ok_content(&call_as(s, &sid, &rotated, PROTECTED).await);
        let t = good_token(&issuer, Alg::RS256, &app.resource, "after-2");
        ok_content(&call_as(s, &sid, &t, PROTECTED).await);
        assert_eq!(issuer.jwks_fetches(), fetches + 1);

        // A fresh token under the retired kid no longer verifies...
        let stale = token_with(
            &issuer,
            Alg::RS256,
            &app.resource,
            "stale",
            "user read:data",
            json!({"kid": old_kid}),
        );
        let r = call_as(s, &sid, &stale, PROTECTED).await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert!(
            challenge_of(&r)["error_description"].contains(&old_kid),
            "{:?}",
            challenge_of(&r)
        );
        // ...while the token verified before the rotation stays valid from the cache.
        assert_eq!(
            ok_content(&call_as(s, &sid, &before_rotation, PROTECTED).await)["subject"],
            "before"
        );
        // EC and Ed25519 keys were not rotated.
        let t = good_token(&issuer, Alg::ES256, &app.resource, "ec");
        ok_content(&call_as(s, &sid, &t, PROTECTED).await);
        assert!(issuer.jwks_fetches() <= fetches + 2);
    })
    .await;
}

#[tokio::test]
async fn a_burst_of_unknown_kids_refetches_the_jwks_at_most_once_per_interval() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let interval = Duration::from_secs(3);
        let app = serve_trio_with_interval(&issuer, interval).await;
        let s = &app.s;
        let sid = init(s, None).await;
        warm_up(&app, &sid, &issuer, Alg::RS256).await;
        tokio::time::sleep(interval + Duration::from_millis(200)).await;

        let burst = |round: usize| {
            let tokens: Vec<String> = (0..25)
                .map(|i| {
                    issuer.mint(
                        Alg::RS256,
                        &issuer.claims(&app.resource, "burst", "user read:data"),
                        &json!({"kid": format!("ghost-{round}-{i}")}),
                    )
                })
                .collect();
            let sid = sid.clone();
            async move {
                let calls = tokens.iter().map(|t| {
                    let auth = bearer(t);
                    let sid = sid.clone();
                    async move { call(s, &sid, Some(&auth), PUBLIC).await.status }
                });
                futures_util::future::join_all(calls).await
            }
        };

        let start = issuer.jwks_fetches();
        let statuses = burst(0).await;
        assert!(statuses.iter().all(|&st| st == 401), "{statuses:?}");
        assert_eq!(
            issuer.jwks_fetches(),
            start + 1,
            "25 unknown kids at once: one refetch"
        );
        let statuses = burst(1).await;
        assert!(statuses.iter().all(|&st| st == 401), "{statuses:?}");
        assert_eq!(
            issuer.jwks_fetches(),
            start + 1,
            "within the interval: no refetch"
        );

        tokio::time::sleep(interval + Duration::from_millis(200)).await;
        let statuses = burst(2).await;
        assert!(statuses.iter().all(|&st| st == 401), "{statuses:?}");
        assert_eq!(
            issuer.jwks_fetches(),
            start + 2,
            "a new interval allows one more refetch"
        );
    })
    .await;
}

#[tokio::test]
async fn by_default_unknown_kids_trigger_at_most_one_refetch_per_30_seconds() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let (app, sid, _) = trio_with_keys(&issuer, Alg::RS256, "warmup").await;
        let s = &app.s;
        let start = issuer.jwks_fetches();
        for i in 0..30 {
            let t = issuer.mint(
                Alg::EdDSA,
                &issuer.claims(&app.resource, "x", "user"),
                &json!({"kid": format!("unknown-{i}")}),
            );
            assert_eq!(call_as(s, &sid, &t, PUBLIC).await.status, 401);
        }
        assert!(
            issuer.jwks_fetches() <= start + 1,
            "{} fetches",
            issuer.jwks_fetches() - start
        );
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_issuer_at_start_leaves_public_tools_working_until_its_keys_arrive() {
    bounded(async {
        let issuer = TestIssuer::start_with(IssuerOptions {
            start_down: true,
            ..Default::default()
        })
        .await;
        let app = serve_trio_for(&issuer).await;
        let s = &app.s;
        let sid = init(s, None).await;
        let token = good_token(&issuer, Alg::ES256, &app.resource, "patient");
        tokio::time::sleep(Duration::from_millis(300)).await;

        // Public tools work, with or without a token.
        assert_eq!(
            ok_content(&call(s, &sid, None, PUBLIC).await)["signed_in"],
            false
        );
        ok_content(&call_as(s, &sid, &token, PUBLIC).await);
        ok_content(&call_as(s, &sid, &token, FLEXIBLE).await);
        // A protected call with a (good) token: a tool error saying why, not a 401.
        let r = call_as(s, &sid, &token, PROTECTED).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["result"]["isError"], true, "{v}");
        let text = v["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("unavailable"), "{text}");
        assert_eq!(app.runs.load(Ordering::SeqCst), 0);
        // A token that is invalid on its face is still refused.
        let none = token_with(&issuer, Alg::None, &app.resource, "x", "user", json!({}));
        assert_eq!(call_as(s, &sid, &none, PUBLIC).await.status, 401);
        assert_eq!(issuer.jwks_fetches(), 0);

        // The issuer comes up: the background retry loads the keys, the same call succeeds.
        issuer.set_up(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let r = call_as(s, &sid, &token, PROTECTED).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let v = r.json();
            if v["result"]["isError"].is_null() {
                assert_eq!(v["result"]["structuredContent"]["subject"], "patient");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "keys never arrived: {v}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(issuer.metadata_fetches() >= 1 && issuer.jwks_fetches() >= 1);
    })
    .await;
}

#[tokio::test]
async fn discovery_follows_rfc8414_path_insertion_and_oidc_metadata() {
    bounded(async {
        for (path, discovery) in [
            ("/tenant-a", Discovery::Rfc8414),
            ("/realms/demo", Discovery::OidcAppended),
            ("", Discovery::OidcAppended),
        ] {
            let issuer = TestIssuer::start_with(IssuerOptions {
                path: path.into(),
                discovery,
                ..Default::default()
            })
            .await;
            let _served = trio_with_keys(&issuer, Alg::EdDSA, "discovered").await;
            assert_eq!(issuer.jwks_fetches(), 1, "{path} {discovery:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_token_without_kid_verifies_when_its_algorithm_has_exactly_one_key() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let (app, sid, _) = trio_with_keys(&issuer, Alg::RS256, "warmup").await;
        let s = &app.s;
        for alg in [Alg::RS256, Alg::ES256, Alg::EdDSA] {
            let t = token_with(
                &issuer,
                alg.clone(),
                &app.resource,
                "kidless",
                "user read:data",
                json!({"kid": null}),
            );
            assert!(header_of(&t).get("kid").is_none());
            let r = call_as(s, &sid, &t, PROTECTED).await;
            assert_eq!(ok_content(&r)["subject"], "kidless", "{alg:?}");
        }
    })
    .await;
}

/// RFC 6750 §3: `error_description` values MUST NOT include characters outside
/// %x20-21 / %x23-5B / %x5D-7E (no `"`, no `\`, ASCII only); the header itself must be
/// readable as visible ASCII by ordinary clients.
#[tokio::test]
async fn challenge_descriptions_use_only_the_characters_rfc6750_allows() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let (app, sid, _) = trio_with_keys(&issuer, Alg::RS256, "warmup").await;
        let s = &app.s;
        let aud = app.resource.clone();
        let mut wrong_iss = issuer.claims(&aud, "x", "user read:data");
        wrong_iss["iss"] = json!("https://evil.example/");
        let user_only = |header: Value| {
            Some(bearer(&token_with(
                &issuer,
                Alg::RS256,
                &aud,
                "x",
                "user",
                header,
            )))
        };
        let cases: Vec<(&str, Option<String>, &str)> = vec![
            (
                "wrong issuer",
                Some(bearer(&issuer.mint(Alg::RS256, &wrong_iss, &json!({})))),
                PUBLIC,
            ),
            (
                "hostile kid",
                user_only(json!({"kid": "k\"ey\\ é"})),
                PUBLIC,
            ),
            ("scheme Basic", Some("Basic dXNlcjpwYXNz".into()), PUBLIC),
            ("insufficient scope", user_only(json!({})), PROTECTED),
        ];
        let mut failures = Vec::new();
        for (what, authorization, tool) in &cases {
            let r = call(s, &sid, authorization.as_deref(), tool).await;
            let Some(h) = raw_header(&r, "www-authenticate") else {
                failures.push(format!("{what}: no challenge ({} {})", r.status, r.text()));
                continue;
            };
            if r.header("www-authenticate").is_none() {
                failures.push(format!("{what}: the header is not visible ASCII: {h}"));
                continue;
            }
            let desc = parse_challenge(&h)
                .1
                .remove("error_description")
                .unwrap_or_default();
            let bad: Vec<char> = desc
                .chars()
                .filter(|&c| {
                    !(c == ' ' || c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c))
                })
                .collect();
            if desc.is_empty() || !bad.is_empty() {
                failures.push(format!("{what}: error_description {desc:?} has {bad:?}"));
            }
        }
        // The challenge in a tool result (ChatGPT's form) follows the same rule.
        let v = post(
            s,
            session_of(s, Some(&sid), user_only(json!({})).as_deref())
                .await
                .as_deref(),
            user_only(json!({})).as_deref(),
            rpc(
                7,
                "tools/call",
                json!({"name": PROTECTED, "arguments": {}, "_meta": {"openai/locale": "en-US"}}),
            ),
        )
        .await
        .json();
        let ch = v["result"]["_meta"]["mcp/www_authenticate"][0]
            .as_str()
            .unwrap_or("")
            .to_string();
        let desc = parse_challenge(&ch)
            .1
            .remove("error_description")
            .unwrap_or_default();
        if desc.is_empty() || desc.contains(['"', '\\']) || !desc.is_ascii() {
            failures.push(format!("result form: {desc:?} in {v}"));
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    })
    .await;
}

/// Apps are often built in a synchronous `main` before the runtime starts; the JWKS
/// must still be fetched once the server runs.
#[test]
fn an_app_built_outside_a_runtime_still_loads_the_issuer_keys() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let issuer = rt.block_on(TestIssuer::start());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let runs = Arc::new(AtomicUsize::new(0));
    // Built here, outside any runtime.
    assert!(tokio::runtime::Handle::try_current().is_err());
    let app = trio(App::builder("sync-main", "1").dev(false), &runs)
        .auth(AuthConfig::new(issuer.issuer(), resource.as_str()).unwrap())
        .build()
        .unwrap();
    rt.block_on(bounded(async {
        let s = serve::serve_app(listener, &app);
        let sid = init(&s, None).await;
        let token = good_token(&issuer, Alg::RS256, &resource, "sync");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let r = call_as(&s, &sid, &token, PROTECTED).await;
            if r.json()["result"]["isError"].is_null() {
                assert_eq!(r.json()["result"]["structuredContent"]["subject"], "sync");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "keys never loaded (JWKS fetches: {}): {}",
                issuer.jwks_fetches(),
                r.text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }));
}

#[cfg(feature = "legacy-sse")]
#[tokio::test]
async fn the_legacy_sse_transport_applies_the_same_policies() {
    bounded(async {
        use http_body_util::BodyExt;
        let issuer = TestIssuer::start().await;
        let (app, _, token) = trio_with_keys(&issuer, Alg::ES256, "legacy").await;
        let s = &app.s;

        let resp = s
            .stream(
                http::Request::get(s.url("/sse"))
                    .header("accept", "text/event-stream")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut buf = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let endpoint = loop {
            if let Some(line) = buf.lines().find(|l| l.starts_with("data: /messages")) {
                break line["data: ".len()..].to_string();
            }
            let frame = tokio::time::timeout_at(deadline, body.frame())
                .await
                .expect("no endpoint event")
                .expect("stream ended")
                .unwrap();
            if let Some(d) = frame.data_ref() {
                buf.push_str(&String::from_utf8_lossy(d));
            }
        };
        let post_legacy = |id: i64, tool: &str, authorization: Option<String>| {
            let mut b = s.request("POST", &endpoint);
            if let Some(a) = authorization {
                b = b.header("authorization", a);
            }
            let body = rpc(id, "tools/call", json!({"name": tool, "arguments": {}})).to_string();
            s.send(b.body(Full::new(Bytes::from(body))).unwrap())
        };

        // Anonymous, a generic client → 401 with the challenge on the POST itself.
        let r = post_legacy(100, PROTECTED, None).await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert!(!challenge_of(&r).contains_key("error"));
        // Anonymous ChatGPT → the challenge result arrives on the stream.
        let chatgpt = {
            let b = s.request("POST", &endpoint);
            let body = rpc(
                101,
                "tools/call",
                json!({"name": PROTECTED, "arguments": {}, "_meta": {"openai/locale": "en-US"}}),
            )
            .to_string();
            s.send(b.body(Full::new(Bytes::from(body))).unwrap()).await
        };
        assert_eq!(chatgpt.status, 202, "{}", chatgpt.text());
        let events = common::read_events_until(&mut body, &mut buf, |v| v["id"] == 101).await;
        let v = &events.iter().find(|(_, v)| v["id"] == 101).unwrap().1;
        assert_eq!(v["result"]["isError"], true, "{v}");
        let ch = v["result"]["_meta"]["mcp/www_authenticate"][0]
            .as_str()
            .unwrap();
        assert_eq!(parse_challenge(ch).1["resource_metadata"], app.metadata_url);
        // A bad token → 401 on the POST itself.
        let none = token_with(&issuer, Alg::None, &app.resource, "x", "user", json!({}));
        let r = post_legacy(102, PUBLIC, Some(bearer(&none))).await;
        assert_eq!(r.status, 401);
        assert_eq!(challenge_of(&r)["error"], "invalid_token");
        // Not enough scope → 403 (the session becomes this user's on first use).
        let partial = token_with(
            &issuer,
            Alg::RS256,
            &app.resource,
            "legacy",
            "user",
            json!({}),
        );
        assert_eq!(
            post_legacy(103, PROTECTED, Some(bearer(&partial)))
                .await
                .status,
            403
        );
        // A good token → the handler runs with the user.
        assert_eq!(
            post_legacy(104, PROTECTED, Some(bearer(&token)))
                .await
                .status,
            202
        );
        let events = common::read_events_until(&mut body, &mut buf, |v| v["id"] == 104).await;
        let v = &events.iter().find(|(_, v)| v["id"] == 104).unwrap().1;
        assert_eq!(v["result"]["structuredContent"]["subject"], "legacy", "{v}");
        // The session is now the user's: another user, or nobody, cannot post to it.
        let intruder = good_token(&issuer, Alg::RS256, &app.resource, "intruder");
        assert_eq!(
            post_legacy(105, PUBLIC, Some(bearer(&intruder)))
                .await
                .status,
            404
        );
        assert_eq!(post_legacy(106, PUBLIC, None).await.status, 404);
    })
    .await;
}

// ---------------------------------------------------------------------------------
// Other verifiers
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn introspection_accepts_active_tokens_and_refuses_inactive_or_foreign_ones() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let app = serve_trio_introspecting(&issuer, issuer::INTROSPECTION_CLIENT.1, true).await;
        let s = &app.s;
        let sid = init(s, None).await;
        let now = now();
        let active = |sub: &str| {
            json!({"active": true, "sub": sub, "scope": "user read:data", "client_id": "chatgpt",
                   "aud": app.resource, "iss": issuer.issuer(), "exp": now + 600, "token_type": "Bearer"})
        };
        issuer.add_opaque("opaque-good", active("carol"));
        issuer.add_opaque("opaque-inactive", json!({"active": false}));
        issuer.add_opaque("opaque-foreign", {
            let mut a = active("dave");
            a["aud"] = json!("https://other.example/mcp");
            a
        });
        issuer.add_opaque("opaque-expired", {
            let mut a = active("erin");
            a["exp"] = json!(now - 5);
            a
        });
        issuer.add_opaque("opaque-other-issuer", {
            let mut a = active("frank");
            a["iss"] = json!("https://evil.example");
            a
        });

        let who = ok_content(&call_as(s, &sid, "opaque-good", PROTECTED).await);
        assert_eq!(who["subject"], "carol");
        assert_eq!(who["client_id"], "chatgpt");
        assert_eq!(who["scopes"], json!(["read:data", "user"]));
        assert_eq!(who["expires_at"], now + 600);
        let n = issuer.introspections();
        assert_eq!(n, 1);
        ok_content(&call_as(s, &sid, "opaque-good", FLEXIBLE).await);
        assert_eq!(issuer.introspections(), 1, "the second use is answered from the cache");

        for (token, reason) in [
            ("opaque-inactive", "not active"),
            ("opaque-unknown", "not active"),
            ("opaque-foreign", "not meant"),
            ("opaque-expired", "expired"),
            ("opaque-other-issuer", "issuer"),
        ] {
            let r = call_as(s, &sid, token, PUBLIC).await;
            assert_eq!(r.status, 401, "{token}: {}", r.text());
            let c = challenge_of(&r);
            assert_eq!(c["error"], "invalid_token", "{token}");
            assert!(c["error_description"].contains(reason), "{token}: {c:?}");
        }
        // Refusals are remembered for a few seconds: repeating a bad token costs no call.
        let n = issuer.introspections();
        assert_eq!(call_as(s, &sid, "opaque-inactive", PUBLIC).await.status, 401);
        assert_eq!(issuer.introspections(), n);
    })
    .await;
}

#[tokio::test]
async fn introspection_with_wrong_client_credentials_is_unavailable_not_a_401() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let app = serve_trio_introspecting(&issuer, "wrong", false).await;
        let s = &app.s;
        let sid = init(s, None).await;
        issuer.add_opaque(
            "opaque-good",
            json!({"active": true, "sub": "carol", "scope": "user read:data"}),
        );
        let r = call_as(s, &sid, "opaque-good", PROTECTED).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["result"]["isError"], true);
        ok_content(&call_as(s, &sid, "opaque-good", PUBLIC).await);
        assert!(issuer.introspections() >= 1);
    })
    .await;
}

#[tokio::test]
async fn a_custom_fn_verifier_decides_who_gets_in_and_is_asked_once_per_token() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let iss = issuer.issuer().to_string();
        let asked = Arc::new(AtomicUsize::new(0));
        let a = asked.clone();
        let verifier = FnVerifier(move |token: String| {
            a.fetch_add(1, Ordering::SeqCst);
            async move {
                match token.as_str() {
                    "let-me-in" => User::from_claims(
                        json!({"sub": "alice", "scope": "user read:data", "name": "Alice", "client_id": "cli"})
                            .as_object()
                            .unwrap()
                            .clone(),
                        Some(now() + 600),
                    ),
                    "only-user" => User::from_claims(
                        json!({"sub": "bob", "scope": "user"}).as_object().unwrap().clone(),
                        None,
                    ),
                    "later" => Err(AuthError::Unavailable("the user directory is down".into())),
                    _ => Err(AuthError::invalid("this verifier does not know that token")),
                }
            }
        });
        let app = serve_trio(|resource| AuthConfig::new(iss, resource).unwrap().verifier(verifier)).await;
        let s = &app.s;
        let sid = init(s, None).await;

        let who = ok_content(&call_as(s, &sid, "let-me-in", PROTECTED).await);
        assert_eq!(who["subject"], "alice");
        assert_eq!(who["name"], "Alice");
        assert_eq!(who["client_id"], "cli");
        ok_content(&call_as(s, &sid, "let-me-in", PROTECTED).await);
        ok_content(&call_as(s, &sid, "let-me-in", PUBLIC).await);
        assert_eq!(asked.load(Ordering::SeqCst), 1, "one verification for three uses");

        let r = call_as(s, &sid, "only-user", PROTECTED).await;
        assert_eq!(r.status, 403, "{}", r.text());
        let r = call_as(s, &sid, "who-knows", PUBLIC).await;
        assert_eq!(r.status, 401);
        assert!(challenge_of(&r)["error_description"].contains("does not know that token"));
        let r = call_as(s, &sid, "later", PROTECTED).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["result"]["isError"], true);
        assert!(r.text().contains("user directory is down"), "{}", r.text());
        assert_eq!(issuer.jwks_fetches() + issuer.metadata_fetches(), 0, "the JWT verifier is not used");
    })
    .await;
}

// ---------------------------------------------------------------------------------
// Metadata and tool listing
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn protected_resource_metadata_is_served_at_both_paths_with_cors() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let iss = issuer.issuer().to_string();
        let app = serve_trio(|resource| {
            AuthConfig::new(iss, resource)
                .unwrap()
                .default_scopes(["openid"])
                .resource_name("Auth trio")
        })
        .await;
        let s = &app.s;
        for path in [
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/mcp",
        ] {
            let r = s
                .send(
                    http::Request::get(s.url(path))
                        .header("origin", "https://chatgpt.com")
                        .body(Full::new(Bytes::new()))
                        .unwrap(),
                )
                .await;
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            assert!(
                r.header("content-type")
                    .unwrap()
                    .starts_with("application/json"),
                "{path}"
            );
            assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
            let m = r.json();
            assert_eq!(m["resource"], app.resource, "{path}");
            assert_eq!(
                m["authorization_servers"],
                json!([issuer.issuer()]),
                "{path}"
            );
            assert_eq!(m["bearer_methods_supported"], json!(["header"]), "{path}");
            assert_eq!(m["resource_name"], "Auth trio");
            let scopes: Vec<&str> = m["scopes_supported"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            for needed in ["user", "read:data", "openid"] {
                assert!(
                    scopes.contains(&needed),
                    "{path}: {scopes:?} lacks {needed}"
                );
            }

            let r = s
                .send(
                    http::Request::builder()
                        .method("OPTIONS")
                        .uri(s.url(path))
                        .header("origin", "https://chatgpt.com")
                        .header("access-control-request-method", "GET")
                        .header("access-control-request-headers", "mcp-protocol-version")
                        .body(Full::new(Bytes::new()))
                        .unwrap(),
                )
                .await;
            assert!(
                (200..300).contains(&r.status),
                "{path} preflight: {}",
                r.status
            );
            assert_eq!(r.header("access-control-allow-origin"), Some("*"));
            assert!(r
                .header("access-control-allow-methods")
                .unwrap()
                .contains("GET"));
            assert!(r
                .header("access-control-allow-headers")
                .unwrap()
                .to_lowercase()
                .contains("mcp-protocol-version"));
        }
    })
    .await;
}

#[tokio::test]
async fn the_trio_advertises_seed_003_security_schemes_in_tools_list_and_the_listing() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let app = serve_trio_for(&issuer).await;
        let s = &app.s;
        let expected = HashMap::from([
            (
                PROTECTED,
                json!([{"type":"oauth2","scopes":["user","read:data"]}]),
            ),
            (PUBLIC, json!([{"type":"noauth"}])),
            (
                FLEXIBLE,
                json!([{"type":"noauth"},{"type":"oauth2","scopes":["user"]}]),
            ),
        ]);
        let sid = init(s, None).await;
        let list = list_tools(s, &sid, None, 1).await.json();
        let listing = get(s, &s.url("/mcp/tools")).await;
        assert_eq!(listing.status, 200);
        let listing = listing.json();
        for (source, tools) in [
            ("tools/list", &list["result"]["tools"]),
            ("GET /mcp/tools", &listing["tools"]),
        ] {
            let tools = tools
                .as_array()
                .unwrap_or_else(|| panic!("{source}: no tools"));
            assert_eq!(tools.len(), 3, "{source}");
            for t in tools {
                let name = t["name"].as_str().unwrap();
                let want = &expected[name];
                assert_eq!(&t["securitySchemes"], want, "{source} {name} top level");
                assert_eq!(
                    &t["_meta"]["securitySchemes"], want,
                    "{source} {name} _meta"
                );
            }
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------
// Configuration from the environment
// ---------------------------------------------------------------------------------

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[tokio::test]
async fn configuration_from_variables_is_validated() {
    bounded(async {
        assert!(
            AuthConfig::from_vars(vars(&[])).unwrap().is_none(),
            "no issuer, no auth"
        );
        assert!(
            AuthConfig::from_vars(vars(&[("AUTHORIZATION_SERVER_URL", " ")]))
                .unwrap()
                .is_none()
        );
        // (variables, the variable the error must name)
        let bad = [
            (
                vec![("AUTHORIZATION_SERVER_URL", "https://id.example")],
                "RESOURCE_SERVER_URL",
            ),
            (
                vec![
                    ("AUTHORIZATION_SERVER_URL", "id.example"),
                    ("RESOURCE_SERVER_URL", "https://app.example/mcp"),
                ],
                "AUTHORIZATION_SERVER_URL",
            ),
            (
                vec![
                    ("AUTHORIZATION_SERVER_URL", "https://id.example"),
                    ("RESOURCE_SERVER_URL", "app.example/mcp"),
                ],
                "RESOURCE_SERVER_URL",
            ),
            (
                vec![
                    ("AUTHORIZATION_SERVER_URL", "ftp://id.example"),
                    ("RESOURCE_SERVER_URL", "https://app.example/mcp"),
                ],
                "AUTHORIZATION_SERVER_URL",
            ),
            (
                vec![
                    ("AUTHORIZATION_SERVER_URL", "https://"),
                    ("RESOURCE_SERVER_URL", "https://app.example/mcp"),
                ],
                "AUTHORIZATION_SERVER_URL",
            ),
            (
                vec![
                    ("AUTHORIZATION_SERVER_URL", "https://id.example"),
                    ("RESOURCE_SERVER_URL", "https://app.example/mcp"),
                    ("AUTH_AUDIENCE", ""),
                ],
                "AUTH_AUDIENCE",
            ),
        ];
        for (b, name) in bad {
            let e = AuthConfig::from_vars(vars(&b)).expect_err(&format!("{b:?} must be refused"));
            assert!(
                e.to_string().contains(name),
                "the error for {b:?} names {name}: {e}"
            );
        }
        let c = AuthConfig::from_vars(vars(&[
            ("AUTHORIZATION_SERVER_URL", "https://id.example/"),
            ("RESOURCE_SERVER_URL", "https://app.example/mcp"),
            ("AUTH_REQUIRED_SCOPES", "user, read:data"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            c.issuer, "https://id.example/",
            "the trailing slash is kept"
        );
        assert_eq!(c.audience, "https://app.example/mcp");
        assert_eq!(c.default_scopes, ["user", "read:data"]);
        assert_eq!(
            c.metadata_url(),
            "https://app.example/.well-known/oauth-protected-resource/mcp"
        );
    })
    .await;
}

#[tokio::test]
async fn tools_without_a_policy_inherit_the_default_scopes_from_the_environment() {
    bounded(async {
        let issuer = trailing_slash_issuer().await;
        let iss = issuer.issuer().to_string();
        let app = serve(|resource, runs| {
            let c = AuthConfig::from_vars(vars(&[
                ("AUTHORIZATION_SERVER_URL", iss.as_str()),
                ("RESOURCE_SERVER_URL", resource),
                ("AUTH_REQUIRED_SCOPES", "user,read:data"),
            ]))
            .unwrap()
            .unwrap();
            App::builder("env", "1")
                .dev(false)
                .auth(c)
                .tool(who_tool("inherits", runs.clone()))
                .tool(who_tool(PUBLIC, Arc::new(AtomicUsize::new(0))).auth(Auth::none()))
                .build()
                .unwrap()
        })
        .await;
        let s = &app.s;
        let sid = init(s, None).await;
        let list = list_tools(s, &sid, None, 1).await.json();
        let inherits = listed(&list, "inherits");
        let want = json!([{"type":"oauth2","scopes":["user","read:data"]}]);
        assert_eq!(inherits["securitySchemes"], want);
        assert_eq!(inherits["_meta"]["securitySchemes"], want);

        let r = call_id(s, Some(&sid), None, 2, "inherits").await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(app.runs.load(Ordering::SeqCst), 0);

        let token = good_token(&issuer, Alg::RS256, &app.resource, "env-user");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = call_id(s, Some(&sid), Some(&bearer(&token)), 3, "inherits").await;
            assert_eq!(r.status, 200, "{}", r.text());
            if r.json()["result"]["isError"].is_null() {
                assert_eq!(
                    r.json()["result"]["structuredContent"]["subject"],
                    "env-user"
                );
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{}", r.text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let partial = token_with(
            &issuer,
            Alg::RS256,
            &app.resource,
            "env-user",
            "user",
            json!({}),
        );
        let r = call_id(s, Some(&sid), Some(&bearer(&partial)), 4, "inherits").await;
        assert_eq!(r.status, 403, "{}", r.text());
    })
    .await;
}

#[tokio::test]
async fn a_configured_audience_replaces_the_resource_url_as_the_required_aud() {
    bounded(async {
        let issuer = TestIssuer::start().await;
        let iss = issuer.issuer().to_string();
        let app = serve_trio(|resource| {
            AuthConfig::from_vars(vars(&[
                ("AUTHORIZATION_SERVER_URL", iss.as_str()),
                ("RESOURCE_SERVER_URL", resource),
                ("AUTH_AUDIENCE", "https://api.widgetry.test"),
            ]))
            .unwrap()
            .unwrap()
        })
        .await;
        let s = &app.s;
        let sid = init(s, None).await;
        until_keys_loaded(
            s,
            &sid,
            &good_token(&issuer, Alg::RS256, "https://api.widgetry.test", "aud-ok"),
        )
        .await;
        let r = call_as(
            s,
            &sid,
            &good_token(&issuer, Alg::RS256, &app.resource, "aud-resource"),
            PROTECTED,
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(challenge_of(&r)["error"], "invalid_token");
        // The metadata still names the resource URL.
        let m = get(s, &s.url("/.well-known/oauth-protected-resource/mcp"))
            .await
            .json();
        assert_eq!(m["resource"], app.resource);
    })
    .await;
}
