//! Who may use a session, over real HTTP on 127.0.0.1: a Streamable HTTP session
//! belongs to the user who created it (or to the first signed-in user of an anonymous
//! one) and answers everyone else with the same 404 as an unknown session, for every
//! kind of message (requests, cancellations, responses to server-to-client requests,
//! GET streams, `Last-Event-ID` replay, DELETE); legacy SSE sessions likewise.
//! Server-to-client request ids are unguessable. Bounds: `initialize` params, sessions
//! per user and per server, subscriptions per session, the verified-token cache.
//! Hostile tokens: two `Authorization` headers, validly signed JWTs with absurd `exp`.

mod common;
#[path = "common/serve.rs"]
mod serve;
#[path = "common/signer.rs"]
mod signer;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{read_events_until, HttpClient, Reply, TestServer};
#[cfg(feature = "legacy-sse")]
use http_body_util::BodyExt;
use http_body_util::Full;
use hyper::body::Incoming;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};
use signer::{now, Signer};
use widgetry::app::{App, NoInput, Tool};
use widgetry::auth::{AuthError, AuthState, FnVerifier, JwtVerifier};
use widgetry::transport::{SessionLimits, MAX_SUBSCRIPTIONS};
use widgetry::{Auth, AuthConfig, ChallengeMode, HttpConfig, RequestContext, ToolError, User};

const ALICE: &str = "alice-token";
const BOB: &str = "bob-token";
const CAROL: &str = "carol-token";
const DAVE: &str = "dave-token";
const ERIN: &str = "erin-token";
const ISSUER: &str = "https://issuer.example/";
/// A well-formed session id nobody was given.
const UNKNOWN_SESSION: &str = "00000000000000000000000000000000";
/// How long the `slow` tool runs when nobody cancels it.
const SLOW: Duration = Duration::from_millis(1200);

/// Every test runs under this bound.
async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test exceeded its time bound");
}

// ---------------------------------------------------------------------------------
// The app under test
// ---------------------------------------------------------------------------------

#[derive(Serialize, JsonSchema)]
struct Said {
    text: String,
}

impl Said {
    fn new(text: impl Into<String>) -> Self {
        Said { text: text.into() }
    }
}

/// What the handlers did.
#[derive(Default)]
struct Probes {
    /// Runs of `count`.
    counted: AtomicUsize,
    /// Runs of `slow` that reached their end (not cancelled).
    slow_finished: AtomicUsize,
}

/// Maps `<name>-token` to the user `<name>` for a few known names; refuses the rest.
fn verify_token(token: String) -> std::future::Ready<Result<User, AuthError>> {
    let known = ["alice", "bob", "carol", "dave", "erin"];
    std::future::ready(match token.strip_suffix("-token") {
        Some(name) if known.contains(&name) => User::from_claims(
            json!({"sub": name, "scope": "user"})
                .as_object()
                .unwrap()
                .clone(),
            None,
        ),
        _ => Err(AuthError::invalid("unknown test token")),
    })
}

/// A mixed set of tools: public ones (`whoami`, `count`, `slow`, `ask`, which sends
/// `elicitation/create` to the client) and one that needs sign-in (`private`).
fn build_app(auth: AuthConfig, http: HttpConfig, probes: &Arc<Probes>) -> App {
    let counted = probes.clone();
    let finished = probes.clone();
    App::builder("sessions", "1.0.0")
        .dev(false)
        .auth(auth.challenge(ChallengeMode::Http))
        .http(http)
        .tool(
            Tool::new("whoami", |ctx: RequestContext, _: NoInput| async move {
                let who = ctx
                    .user()
                    .map(|u| u.subject.clone())
                    .unwrap_or_else(|| "anonymous".into());
                Ok::<_, ToolError>(Said::new(who))
            })
            .auth(Auth::none()),
        )
        .tool(
            Tool::new("count", move |_ctx: RequestContext, _: NoInput| {
                counted.counted.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, ToolError>(Said::new("counted")) }
            })
            .auth(Auth::none()),
        )
        .tool(
            Tool::new("slow", move |_ctx: RequestContext, _: NoInput| {
                let p = finished.clone();
                async move {
                    tokio::time::sleep(SLOW).await;
                    p.slow_finished.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ToolError>(Said::new("finished"))
                }
            })
            .auth(Auth::none()),
        )
        .tool(
            Tool::new("ask", |ctx: RequestContext, _: NoInput| async move {
                let answer = ctx
                    .request_client(
                        "elicitation/create",
                        json!({"message": "Your answer?", "requestedSchema": {
                            "type": "object", "properties": {"answer": {"type": "string"}}}}),
                    )
                    .await
                    .map_err(|e| ToolError::msg(e.message))?;
                Ok::<_, ToolError>(Said::new(format!(
                    "client said {}",
                    answer["content"]["answer"]
                )))
            })
            .auth(Auth::none()),
        )
        .tool(
            Tool::new("private", |ctx: RequestContext, _: NoInput| async move {
                let who = ctx.user().map(|u| u.subject.clone()).unwrap_or_default();
                Ok::<_, ToolError>(Said::new(who))
            })
            .auth(Auth::required(["user"])),
        )
        .build()
        .unwrap()
}

struct Served {
    s: TestServer,
    probes: Arc<Probes>,
}

/// Serves the app (trusting the fixed test tokens) with `http`; with `peer_addresses`
/// the server is told each connection's peer address, as `widgetry::serve` does.
async fn start_with(http: HttpConfig, peer_addresses: bool) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let auth = AuthConfig::new(ISSUER, &resource)
        .unwrap()
        .verifier(FnVerifier(verify_token));
    let probes = Arc::new(Probes::default());
    let app = build_app(auth, http, &probes);
    let s = if peer_addresses {
        serve_with_peer_addresses(listener, &app)
    } else {
        serve::serve_app(listener, &app)
    };
    Served { s, probes }
}

async fn start() -> Served {
    start_with(HttpConfig::default(), false).await
}

fn serve_with_peer_addresses(listener: tokio::net::TcpListener, app: &App) -> TestServer {
    let addr = listener.local_addr().unwrap();
    let (router, state) = app.router();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    TestServer {
        addr,
        client: client_from(None),
        state,
    }
}

/// An HTTP client whose connections leave from `local` (any loopback address works).
fn client_from(local: Option<IpAddr>) -> HttpClient {
    let mut c = hyper_util::client::legacy::connect::HttpConnector::new();
    c.set_local_address(local);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(c)
}

/// The same server seen from another source address.
fn from_address(s: &TestServer, ip: &str) -> TestServer {
    TestServer {
        addr: s.addr,
        client: client_from(Some(ip.parse().unwrap())),
        state: s.state.clone(),
    }
}

// ---------------------------------------------------------------------------------
// Client helpers
// ---------------------------------------------------------------------------------

fn builder(
    s: &TestServer,
    method: &str,
    path: &str,
    sid: Option<&str>,
    token: Option<&str>,
) -> http::request::Builder {
    let mut b = s.request(method, path);
    if let Some(sid) = sid {
        b = b
            .header("mcp-session-id", sid)
            .header("mcp-protocol-version", "2025-06-18");
    }
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b
}

/// POSTs one JSON-RPC message to `/mcp` as `token` (anonymous with `None`).
async fn post_as(s: &TestServer, sid: Option<&str>, token: Option<&str>, body: &Value) -> Reply {
    s.send(
        builder(s, "POST", "/mcp", sid, token)
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap(),
    )
    .await
}

/// Opens a POST whose answer may be a long-lived SSE stream.
async fn post_stream(
    s: &TestServer,
    sid: &str,
    token: Option<&str>,
    body: &Value,
) -> http::Response<Incoming> {
    s.stream(
        builder(s, "POST", "/mcp", Some(sid), token)
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap(),
    )
    .await
}

/// Opens the GET stream of a session (resuming after `last_event_id` when given).
async fn get_as(
    s: &TestServer,
    sid: &str,
    token: Option<&str>,
    last_event_id: Option<&str>,
) -> http::Response<Incoming> {
    let mut b = builder(s, "GET", "/mcp", Some(sid), token).header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        b = b.header("last-event-id", id);
    }
    s.stream(b.body(Full::new(Bytes::new())).unwrap()).await
}

async fn delete_as(s: &TestServer, sid: &str, token: Option<&str>) -> Reply {
    s.send(
        builder(s, "DELETE", "/mcp", Some(sid), token)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
}

fn init_body(client_info: Value, capabilities: Value) -> Value {
    json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":capabilities,"clientInfo":client_info}})
}

fn plain_init() -> Value {
    init_body(json!({"name":"test","version":"1"}), json!({}))
}

/// `initialize` as `token`, unchecked.
async fn try_init(s: &TestServer, token: Option<&str>) -> Reply {
    post_as(s, None, token, &plain_init()).await
}

/// Creates a session as `token` and returns its id.
async fn init_as(s: &TestServer, token: Option<&str>) -> String {
    let r = try_init(s, token).await;
    assert_eq!(r.status, 200, "initialize as {token:?}: {}", r.text());
    let sid = r.header("mcp-session-id").expect("session id").to_string();
    let n = post_as(
        s,
        Some(&sid),
        token,
        &json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    )
    .await;
    assert_eq!(n.status, 202, "{}", n.text());
    sid
}

fn call(id: i64, name: &str) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":{}}})
}

fn cancelled(request_id: i64) -> Value {
    json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":request_id,"reason":"stop"}})
}

fn elicitation_answer(id: &Value, answer: &str) -> Value {
    json!({"jsonrpc":"2.0","id":id,"result":{"action":"accept","content":{"answer":answer}}})
}

/// The `text` a `Said` tool result carries, from a JSON-RPC response.
fn said(v: &Value) -> String {
    v["result"]["structuredContent"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("not a tool result: {v}"))
        .to_string()
}

/// Asserts that `r` is exactly the answer for a session that does not exist.
fn assert_unknown_session(r: &Reply, unknown: &Reply, what: &str) {
    assert_eq!(r.status, 404, "{what}: {}", r.text());
    assert_eq!(
        r.body, unknown.body,
        "{what}: answered differently from an unknown session"
    );
}

/// Reads a response expected to be a refusal; a stream that opened instead is reported
/// at once (its body would never end).
async fn refusal(resp: http::Response<Incoming>, what: &str) -> Reply {
    assert_ne!(resp.status(), 200, "{what}: the stream opened");
    Reply::read(resp).await
}

/// Starts `ask` (request `id`) as `token` and reads up to its `elicitation/create`;
/// returns the open stream, its buffer, the event id and the request's id.
async fn start_ask(
    s: &TestServer,
    sid: &str,
    token: Option<&str>,
    id: i64,
) -> (Incoming, String, Option<String>, Value) {
    let resp = post_stream(s, sid, token, &call(id, "ask")).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut buf = String::new();
    let events =
        read_events_until(&mut body, &mut buf, |v| v["method"] == "elicitation/create").await;
    let (event_id, req) = events
        .into_iter()
        .find(|(_, v)| v["method"] == "elicitation/create")
        .expect("the tool asks the client");
    let rid = req["id"].clone();
    (body, buf, event_id, rid)
}

// ---------------------------------------------------------------------------------
// 1. Sessions belong to their creator
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn others_get_the_unknown_session_404_and_the_owner_keeps_the_session() {
    bounded(async {
        let Served { s, probes } = start().await;
        let sid = init_as(&s, Some(ALICE)).await;
        let unknown_post = post_as(&s, Some(UNKNOWN_SESSION), Some(BOB), &call(1, "count")).await;
        assert_eq!(unknown_post.status, 404);
        let unknown_get = Reply::read(get_as(&s, UNKNOWN_SESSION, Some(BOB), None).await).await;
        let unknown_delete = delete_as(&s, UNKNOWN_SESSION, Some(BOB)).await;

        for who in [Some(BOB), None] {
            let r = post_as(&s, Some(&sid), who, &call(2, "count")).await;
            assert_unknown_session(&r, &unknown_post, &format!("tools/call as {who:?}"));
            let r = post_as(
                &s,
                Some(&sid),
                who,
                &json!({"jsonrpc":"2.0","id":3,"method":"ping"}),
            )
            .await;
            assert_unknown_session(&r, &unknown_post, &format!("ping as {who:?}"));
            let what = format!("GET as {who:?}");
            let r = refusal(get_as(&s, &sid, who, None).await, &what).await;
            assert_unknown_session(&r, &unknown_get, &what);
            let r = delete_as(&s, &sid, who).await;
            assert_unknown_session(&r, &unknown_delete, &format!("DELETE as {who:?}"));
        }
        assert_eq!(
            probes.counted.load(Ordering::SeqCst),
            0,
            "a refused caller's tool call ran"
        );

        // The owner's session survived every attempt, and the owner can do it all.
        let r = post_as(&s, Some(&sid), Some(ALICE), &call(4, "whoami")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(said(&r.json()), "alice");
        let r = post_as(&s, Some(&sid), Some(ALICE), &call(5, "count")).await;
        assert_eq!(said(&r.json()), "counted");
        assert_eq!(probes.counted.load(Ordering::SeqCst), 1);
        let stream = get_as(&s, &sid, Some(ALICE), None).await;
        assert_eq!(stream.status(), 200);
        assert_eq!(
            stream.headers()["content-type"],
            "text/event-stream",
            "the owner gets the GET stream"
        );
        drop(stream);
        assert_eq!(delete_as(&s, &sid, Some(ALICE)).await.status, 204);
        let r = post_as(&s, Some(&sid), Some(ALICE), &call(6, "whoami")).await;
        assert_eq!(r.status, 404, "the owner's DELETE ended the session");
    })
    .await;
}

#[tokio::test]
async fn a_cancellation_from_another_caller_does_not_stop_the_owners_request() {
    bounded(async {
        let Served { s, probes } = start().await;
        let sid = init_as(&s, Some(ALICE)).await;
        let bob_sid = init_as(&s, Some(BOB)).await;

        let slow_call = call(77, "slow");
        let owners_call = post_as(&s, Some(&sid), Some(ALICE), &slow_call);
        let interfere = async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            for who in [Some(BOB), None] {
                let r = post_as(&s, Some(&sid), who, &cancelled(77)).await;
                assert_eq!(
                    r.status,
                    404,
                    "cancel of the owner's request as {who:?}: {}",
                    r.text()
                );
            }
            // Naming the request from elsewhere is accepted and does nothing.
            let r = post_as(&s, Some(&bob_sid), Some(BOB), &cancelled(77)).await;
            assert_eq!(r.status, 202);
            let r = post_as(&s, None, None, &cancelled(77)).await;
            assert_eq!(r.status, 202);
        };
        let (r, ()) = tokio::join!(owners_call, interfere);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            said(&r.json()),
            "finished",
            "the owner's request was cancelled by someone else: {}",
            r.text()
        );
        assert_eq!(probes.slow_finished.load(Ordering::SeqCst), 1);

        // The owner's own cancellation works.
        let started = Instant::now();
        let slow_call = call(78, "slow");
        let owners_call = post_as(&s, Some(&sid), Some(ALICE), &slow_call);
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            post_as(&s, Some(&sid), Some(ALICE), &cancelled(78)).await
        };
        let (r, c) = tokio::join!(owners_call, cancel);
        assert_eq!(c.status, 202);
        assert_eq!(r.json()["error"]["code"], -32800, "{}", r.text());
        assert!(started.elapsed() < SLOW, "the cancelled call ended early");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(probes.slow_finished.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn a_response_from_another_caller_does_not_answer_the_owners_pending_request() {
    bounded(async {
        let Served { s, .. } = start().await;
        let sid = init_as(&s, Some(ALICE)).await;
        let bob_sid = init_as(&s, Some(BOB)).await;
        let unknown = post_as(
            &s,
            Some(UNKNOWN_SESSION),
            Some(BOB),
            &elicitation_answer(&json!("x"), "x"),
        )
        .await;

        let (mut body, mut buf, _, rid) = start_ask(&s, &sid, Some(ALICE), 8).await;
        for who in [Some(BOB), None] {
            let r = post_as(
                &s,
                Some(&sid),
                who,
                &elicitation_answer(&rid, "from-an-intruder"),
            )
            .await;
            assert_unknown_session(&r, &unknown, &format!("response as {who:?}"));
        }
        // The id sent to the owner's session means nothing in another session.
        let r = post_as(
            &s,
            Some(&bob_sid),
            Some(BOB),
            &elicitation_answer(&rid, "from-bobs-session"),
        )
        .await;
        assert_eq!(r.status, 202);
        let r = post_as(&s, None, None, &elicitation_answer(&rid, "from-nowhere")).await;
        assert_eq!(r.status, 400, "a response needs a session: {}", r.text());

        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = post_as(
            &s,
            Some(&sid),
            Some(ALICE),
            &elicitation_answer(&rid, "from-alice"),
        )
        .await;
        assert_eq!(r.status, 202);
        let events = read_events_until(&mut body, &mut buf, |v| v["id"] == 8).await;
        let result = &events.iter().find(|(_, v)| v["id"] == 8).unwrap().1;
        assert_eq!(
            said(result),
            "client said \"from-alice\"",
            "the pending request was answered by someone else"
        );
    })
    .await;
}

#[tokio::test]
async fn last_event_id_replay_is_refused_to_everyone_but_the_owner() {
    bounded(async {
        let Served { s, .. } = start().await;
        let sid = init_as(&s, Some(ALICE)).await;
        let (body, _, event_id, rid) = start_ask(&s, &sid, Some(ALICE), 9).await;
        let event_id = event_id.expect("events of a session stream carry ids");
        let stream = event_id.split_once('-').expect("<stream>-<seq>").0;
        let from_start = format!("{stream}-0");
        drop(body); // the owner's connection drops mid-call

        let unknown =
            Reply::read(get_as(&s, UNKNOWN_SESSION, Some(BOB), Some(&from_start)).await).await;
        for who in [Some(BOB), None] {
            let what = format!("replay as {who:?}");
            let r = refusal(get_as(&s, &sid, who, Some(&from_start)).await, &what).await;
            assert_unknown_session(&r, &unknown, &what);
            assert!(
                !r.text().contains("elicitation/create"),
                "replayed the owner's events to {who:?}: {}",
                r.text()
            );
        }

        let resumed = get_as(&s, &sid, Some(ALICE), Some(&from_start)).await;
        assert_eq!(resumed.status(), 200);
        let mut body = resumed.into_body();
        let mut buf = String::new();
        let events =
            read_events_until(&mut body, &mut buf, |v| v["method"] == "elicitation/create").await;
        let (replayed_id, replayed) = events
            .iter()
            .find(|(_, v)| v["method"] == "elicitation/create")
            .unwrap();
        assert_eq!(replayed_id.as_deref(), Some(event_id.as_str()));
        assert_eq!(replayed["id"], rid);
        let r = post_as(
            &s,
            Some(&sid),
            Some(ALICE),
            &elicitation_answer(&rid, "resumed"),
        )
        .await;
        assert_eq!(r.status, 202);
        let events = read_events_until(&mut body, &mut buf, |v| v["id"] == 9).await;
        let result = &events.iter().find(|(_, v)| v["id"] == 9).unwrap().1;
        assert_eq!(said(result), "client said \"resumed\"");
    })
    .await;
}

// ---------------------------------------------------------------------------------
// 2. Anonymous sessions are claimed by their first signed-in user
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_anonymous_session_becomes_the_first_signed_in_users_and_then_refuses_everyone_else() {
    bounded(async {
        let Served { s, .. } = start().await;
        let unknown = post_as(&s, Some(UNKNOWN_SESSION), None, &call(1, "whoami")).await;

        // Until someone signs in, an anonymous session serves anonymous callers.
        let stays_anonymous = init_as(&s, None).await;
        for id in 1..=2 {
            let r = post_as(&s, Some(&stays_anonymous), None, &call(id, "whoami")).await;
            assert_eq!(said(&r.json()), "anonymous");
        }

        let sid = init_as(&s, None).await;
        let r = post_as(&s, Some(&sid), None, &call(2, "whoami")).await;
        assert_eq!(said(&r.json()), "anonymous");
        let r = post_as(&s, Some(&sid), Some(ALICE), &call(3, "whoami")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(said(&r.json()), "alice");

        for who in [None, Some(BOB)] {
            let r = post_as(&s, Some(&sid), who, &call(4, "whoami")).await;
            assert_unknown_session(&r, &unknown, &format!("after the claim, as {who:?}"));
            let what = format!("GET after the claim as {who:?}");
            let r = refusal(get_as(&s, &sid, who, None).await, &what).await;
            assert_eq!(r.status, 404, "{what}");
            let r = delete_as(&s, &sid, who).await;
            assert_eq!(r.status, 404, "DELETE after the claim as {who:?}");
        }
        let r = post_as(&s, Some(&sid), Some(ALICE), &call(5, "whoami")).await;
        assert_eq!(said(&r.json()), "alice");
        let r = post_as(&s, Some(&sid), Some(ALICE), &call(6, "private")).await;
        assert_eq!(said(&r.json()), "alice");
    })
    .await;
}

// ---------------------------------------------------------------------------------
// 3. Legacy SSE
// ---------------------------------------------------------------------------------

#[cfg(feature = "legacy-sse")]
#[tokio::test]
async fn a_legacy_sse_session_takes_messages_only_from_the_user_who_opened_it() {
    bounded(async {
        let Served { s, probes } = start().await;
        let resp = s
            .stream(
                http::Request::get(s.url("/sse"))
                    .header("accept", "text/event-stream")
                    .header("authorization", format!("Bearer {ALICE}"))
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut buf = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !buf.contains("\n\n") {
            let f = tokio::time::timeout_at(deadline, body.frame())
                .await
                .expect("endpoint event")
                .unwrap()
                .unwrap();
            buf.push_str(&String::from_utf8_lossy(f.data_ref().unwrap()));
        }
        let endpoint = buf
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("endpoint event")
            .to_string();
        assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
        buf.clear();
        let post = |token: Option<&'static str>, v: Value| {
            let mut b = s.request("POST", &endpoint);
            if let Some(t) = token {
                b = b.header("authorization", format!("Bearer {t}"));
            }
            s.send(b.body(Full::new(Bytes::from(v.to_string()))).unwrap())
        };

        for who in [Some(BOB), None] {
            let r = post(who, call(2, "count")).await;
            assert_eq!(r.status, 404, "legacy POST as {who:?}: {}", r.text());
            let r = post(who, cancelled(3)).await;
            assert_eq!(r.status, 404, "legacy notification as {who:?}");
        }
        let r = post(
            Some(ALICE),
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{}}}),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.text());
        let r = post(Some(ALICE), call(3, "whoami")).await;
        assert_eq!(r.status, 202);
        let events = read_events_until(&mut body, &mut buf, |v| v["id"] == 3).await;
        let answer = &events.iter().find(|(_, v)| v["id"] == 3).unwrap().1;
        assert_eq!(said(answer), "alice");
        assert!(
            !events.iter().any(|(_, v)| v["id"] == 2),
            "a refused caller's request was answered on the owner's stream"
        );
        assert_eq!(probes.counted.load(Ordering::SeqCst), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------------
// 4. Server-to-client request ids
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn server_to_client_request_ids_are_random_not_sequential() {
    bounded(async {
        let Served { s, .. } = start().await;
        let sids = [
            init_as(&s, Some(ALICE)).await,
            init_as(&s, Some(ALICE)).await,
        ];
        let mut ids: Vec<String> = Vec::new();
        for (n, sid) in [&sids[0], &sids[0], &sids[0], &sids[1]]
            .into_iter()
            .enumerate()
        {
            let call_id = 20 + n as i64;
            let (mut body, mut buf, _, rid) = start_ask(&s, sid, Some(ALICE), call_id).await;
            let id = rid
                .as_str()
                .unwrap_or_else(|| panic!("request id {rid} is not a string"))
                .to_string();
            let r = post_as(&s, Some(sid), Some(ALICE), &elicitation_answer(&rid, "ok")).await;
            assert_eq!(r.status, 202);
            read_events_until(&mut body, &mut buf, |v| v["id"] == call_id).await;
            ids.push(id);
        }
        let mut values = Vec::new();
        for id in &ids {
            let hex = id
                .strip_prefix("widgetry-")
                .unwrap_or_else(|| panic!("{id:?} does not look like widgetry-<hex>"));
            assert!(
                hex.len() >= 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "{id:?} carries fewer than 64 bits"
            );
            values.push(u128::from_str_radix(hex, 16).unwrap());
        }
        for i in 0..values.len() {
            for j in i + 1..values.len() {
                assert_ne!(ids[i], ids[j], "request ids repeat: {ids:?}");
                let bits = (values[i] ^ values[j]).count_ones();
                assert!(
                    bits >= 8,
                    "ids {} and {} differ in only {bits} bits: guessable",
                    ids[i],
                    ids[j]
                );
                assert!(
                    values[i].abs_diff(values[j]) > 1_000_000,
                    "ids {} and {} are close to sequential",
                    ids[i],
                    ids[j]
                );
            }
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------
// 5. Bounds
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn initialize_refuses_oversized_or_non_object_client_info_without_creating_a_session() {
    bounded(async {
        let Served { s, .. } = start().await;
        let live = || s.state.live_sessions();
        let before = live();
        // MAX_CLIENT_INFO_BYTES (4096) lives in a private module: sizes well past it.
        let pad = |n: usize| "x".repeat(n);
        let cases = [
            (
                "clientInfo of 5 KiB",
                init_body(
                    json!({"name":"t","version":"1","pad":pad(5 * 1024)}),
                    json!({}),
                ),
            ),
            (
                "clientInfo of 100 KiB",
                init_body(
                    json!({"name":"t","version":"1","pad":pad(100 * 1024)}),
                    json!({}),
                ),
            ),
            (
                "capabilities of 5 KiB",
                init_body(
                    json!({"name":"t","version":"1"}),
                    json!({"pad":pad(5 * 1024)}),
                ),
            ),
            (
                "capabilities of 100 KiB",
                init_body(
                    json!({"name":"t","version":"1"}),
                    json!({"x":{"pad":pad(100 * 1024)}}),
                ),
            ),
            ("clientInfo a string", init_body(json!("test"), json!({}))),
            (
                "clientInfo an array",
                init_body(json!(["test", "1"]), json!({})),
            ),
            ("clientInfo a number", init_body(json!(42), json!({}))),
            (
                "capabilities an array",
                init_body(json!({"name":"t"}), json!([])),
            ),
        ];
        for (what, body) in cases {
            for token in [None, Some(ALICE)] {
                let r = post_as(&s, None, token, &body).await;
                assert_eq!(
                    r.json()["error"]["code"],
                    -32602,
                    "{what} as {token:?}: {} {}",
                    r.status,
                    r.text()
                );
                assert!(
                    r.header("mcp-session-id").is_none(),
                    "{what}: a session id was issued"
                );
                assert_eq!(live(), before, "{what}: a session was created");
            }
        }
        // A reasonable clientInfo is fine.
        let r = post_as(
            &s,
            None,
            Some(ALICE),
            &init_body(
                json!({"name":"t","version":"1","pad":pad(2 * 1024)}),
                json!({"roots":{}}),
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.header("mcp-session-id").is_some());
        assert_eq!(live(), before + 1);
    })
    .await;
}

fn capped() -> HttpConfig {
    HttpConfig {
        session_limits: SessionLimits {
            total: 5,
            per_client: 2,
        },
        ..Default::default()
    }
}

/// Asserts a refused `initialize`: `status`, a JSON-RPC error, no session id.
fn assert_refused_session(r: &Reply, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    let v = r.json();
    assert_eq!(v["jsonrpc"], "2.0", "{what}: {v}");
    assert!(v["error"]["code"].is_i64(), "{what}: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too many sessions")),
        "{what}: {v}"
    );
    assert!(r.header("mcp-session-id").is_none(), "{what}");
}

#[tokio::test]
async fn a_users_third_session_is_429_and_a_full_server_is_503() {
    bounded(async {
        let Served { s, .. } = start_with(capped(), false).await;
        let a1 = init_as(&s, Some(ALICE)).await;
        init_as(&s, Some(ALICE)).await;
        assert_refused_session(&try_init(&s, Some(ALICE)).await, 429, "alice's third");
        init_as(&s, Some(BOB)).await;
        init_as(&s, Some(BOB)).await;
        assert_refused_session(&try_init(&s, Some(BOB)).await, 429, "bob's third");
        init_as(&s, Some(CAROL)).await;
        assert_eq!(s.state.live_sessions(), 5);
        assert_refused_session(
            &try_init(&s, Some(CAROL)).await,
            503,
            "carol's second, server full",
        );
        assert_refused_session(
            &try_init(&s, Some(DAVE)).await,
            503,
            "dave's first, server full",
        );
        assert_refused_session(&try_init(&s, None).await, 503, "anonymous, server full");
        // Ending a session frees its place.
        assert_eq!(delete_as(&s, &a1, Some(ALICE)).await.status, 204);
        init_as(&s, Some(DAVE)).await;
        assert_refused_session(&try_init(&s, Some(ERIN)).await, 503, "erin, full again");
        assert_eq!(s.state.live_sessions(), 5);
    })
    .await;
}

/// `tests/common/serve.rs` serves without `ConnectInfo`, so the server does not know
/// peer addresses: every anonymous caller shares one per-client key ("anonymous").
#[tokio::test]
async fn without_peer_addresses_all_anonymous_callers_share_one_session_cap() {
    bounded(async {
        let Served { s, .. } = start_with(capped(), false).await;
        init_as(&s, None).await;
        init_as(&s, None).await;
        assert_refused_session(&try_init(&s, None).await, 429, "third anonymous");
        let elsewhere = from_address(&s, "127.0.0.2");
        assert_refused_session(
            &try_init(&elsewhere, None).await,
            429,
            "anonymous from 127.0.0.2, same shared key",
        );
        init_as(&s, Some(ALICE)).await;
    })
    .await;
}

/// Served as `widgetry::serve` does (with `ConnectInfo`), anonymous callers are capped
/// per peer address: every caller from 127.0.0.1 shares one key, 127.0.0.2 has its own.
#[tokio::test]
async fn with_peer_addresses_anonymous_callers_are_capped_per_address() {
    bounded(async {
        let Served { s, .. } = start_with(capped(), true).await;
        init_as(&s, None).await;
        init_as(&s, None).await;
        assert_refused_session(
            &try_init(&s, None).await,
            429,
            "third anonymous from 127.0.0.1",
        );
        let elsewhere = from_address(&s, "127.0.0.2");
        init_as(&elsewhere, None).await;
        init_as(&elsewhere, None).await;
        assert_refused_session(
            &try_init(&elsewhere, None).await,
            429,
            "third anonymous from 127.0.0.2",
        );
        // A signed-in caller is keyed by user, wherever it connects from.
        init_as(&s, Some(ALICE)).await;
    })
    .await;
}

#[tokio::test]
async fn a_session_may_subscribe_to_at_most_64_resources() {
    bounded(async {
        assert_eq!(MAX_SUBSCRIPTIONS, 64);
        let Served { s, .. } = start().await;
        let sid = init_as(&s, Some(ALICE)).await;
        let sub = |method: &str, id: usize, uri: String| {
            json!({"jsonrpc":"2.0","id":id,"method":method,"params":{"uri":uri}})
        };
        for i in 0..64 {
            let r = post_as(
                &s,
                Some(&sid),
                Some(ALICE),
                &sub("resources/subscribe", i, format!("test://item/{i}")),
            )
            .await;
            assert_eq!(r.json()["result"], json!({}), "subscription {i}: {}", r.text());
        }
        let r = post_as(
            &s,
            Some(&sid),
            Some(ALICE),
            &sub("resources/subscribe", 64, "test://item/64".into()),
        )
        .await;
        let v = r.json();
        assert!(v.get("result").is_none(), "the 65th subscription was accepted: {v}");
        assert!(v["error"]["code"].is_i64(), "{v}");
        let msg = v["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains("64"), "the error does not name the limit: {msg}");

        // Subscribing again to a watched resource costs nothing; unsubscribing frees a place.
        let r = post_as(
            &s,
            Some(&sid),
            Some(ALICE),
            &sub("resources/subscribe", 65, "test://item/0".into()),
        )
        .await;
        assert_eq!(r.json()["result"], json!({}), "{}", r.text());
        let r = post_as(
            &s,
            Some(&sid),
            Some(ALICE),
            &sub("resources/unsubscribe", 66, "test://item/0".into()),
        )
        .await;
        assert_eq!(r.json()["result"], json!({}));
        let r = post_as(
            &s,
            Some(&sid),
            Some(ALICE),
            &sub("resources/subscribe", 67, "test://item/64".into()),
        )
        .await;
        assert_eq!(r.json()["result"], json!({}), "{}", r.text());
        // The limit is per session.
        let other = init_as(&s, Some(ALICE)).await;
        let r = post_as(
            &s,
            Some(&other),
            Some(ALICE),
            &sub("resources/subscribe", 1, "test://item/99".into()),
        )
        .await;
        assert_eq!(r.json()["result"], json!({}), "{}", r.text());
    })
    .await;
}

// ---------------------------------------------------------------------------------
// 6. Hostile tokens
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn two_authorization_headers_are_refused_with_400_invalid_request_and_nothing_runs() {
    bounded(async {
        let Served { s, probes } = start().await;
        let sid = init_as(&s, Some(ALICE)).await;
        let live = || s.state.live_sessions();
        let sessions = live();
        let valid = format!("Bearer {ALICE}");
        let other_valid = format!("Bearer {BOB}");
        let invalid = "Bearer nobody-token".to_string();
        let pairs = [
            [valid.clone(), invalid.clone()],
            [invalid.clone(), valid.clone()],
            [valid.clone(), valid.clone()],
            [valid.clone(), other_valid.clone()],
        ];
        let two = |method: &str, sid: Option<&str>, pair: &[String; 2], body: &Value| {
            let mut b = builder(&s, method, "/mcp", sid, None);
            for v in pair {
                b = b.header("authorization", v);
            }
            b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
        };
        let check = |r: &Reply, what: String| {
            assert_eq!(r.status, 400, "{what}: {}", r.text());
            let challenge = r.header("www-authenticate").unwrap_or("");
            assert!(
                challenge.contains("error=\"invalid_request\""),
                "{what}: WWW-Authenticate {challenge:?}"
            );
        };
        for pair in &pairs {
            let r = s
                .send(two("POST", Some(&sid), pair, &call(1, "count")))
                .await;
            check(&r, format!("tools/call with {pair:?}"));
            assert!(r.json()["error"]["code"].is_i64());
            let r = s.send(two("POST", None, pair, &plain_init())).await;
            check(&r, format!("initialize with {pair:?}"));
            assert!(r.header("mcp-session-id").is_none());
            let r = s.send(two("DELETE", Some(&sid), pair, &json!(null))).await;
            check(&r, format!("DELETE with {pair:?}"));
        }
        assert_eq!(
            probes.counted.load(Ordering::SeqCst),
            0,
            "the tool ran for a request with two Authorization headers"
        );
        assert_eq!(live(), sessions, "a session was created");

        // One header is fine, and the session survived the DELETEs.
        let r = post_as(&s, Some(&sid), Some(ALICE), &call(2, "count")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(probes.counted.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn validly_signed_jwts_with_an_absurd_exp_are_refused_with_401_invalid_token() {
    bounded(async {
        let signer = Signer::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
        let verifier = JwtVerifier::builder(ISSUER, &resource)
            .jwks(signer.jwks())
            .build();
        assert!(verifier.has_keys());
        let auth = AuthConfig::new(ISSUER, &resource)
            .unwrap()
            .verifier(verifier);
        let probes = Arc::new(Probes::default());
        let app = build_app(auth, HttpConfig::default(), &probes);
        let s = serve::serve_app(listener, &app);

        let base = format!(r#""iss":"{ISSUER}","aud":"{resource}","sub":"user-1","scope":"user""#);
        let good = signer.sign_claims(&format!("{{{base},\"exp\":{}}}", now() + 600));
        let sid = init_as(&s, Some(&good)).await;
        let r = post_as(&s, Some(&sid), Some(&good), &call(1, "whoami")).await;
        assert_eq!(said(&r.json()), "user-1");

        for (what, exp) in [
            ("2^64", "18446744073709551616".to_string()),
            ("1e20", "1e20".to_string()),
            ("1e30", "1e30".to_string()),
            ("a string", format!("\"{}\"", now() + 600)),
        ] {
            let token = signer.sign_claims(&format!("{{{base},\"exp\":{exp}}}"));
            let r = post_as(&s, Some(&sid), Some(&token), &call(2, "count")).await;
            assert_eq!(r.status, 401, "exp {what}: {}", r.text());
            let challenge = r.header("www-authenticate").unwrap_or("");
            assert!(
                challenge.contains("error=\"invalid_token\""),
                "exp {what}: WWW-Authenticate {challenge:?}"
            );
            let r = post_as(&s, None, Some(&token), &plain_init()).await;
            assert_eq!(r.status, 401, "initialize with exp {what}: {}", r.text());
        }
        assert_eq!(
            probes.counted.load(Ordering::SeqCst),
            0,
            "a refused token's call ran"
        );
        let r = post_as(&s, Some(&sid), Some(&good), &call(3, "count")).await;
        assert_eq!(said(&r.json()), "counted");
    })
    .await;
}

// ---------------------------------------------------------------------------------
// 7. The verified-token cache
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn the_verified_token_cache_never_holds_more_than_50000_tokens() {
    const BOUND: usize = 50_000;
    let asked = Arc::new(AtomicUsize::new(0));
    let a = asked.clone();
    let verifier = FnVerifier(move |token: String| {
        a.fetch_add(1, Ordering::Relaxed);
        std::future::ready(match token.strip_prefix("t-") {
            Some(n) => User::from_claims(
                json!({"sub": format!("u{n}")}).as_object().unwrap().clone(),
                None,
            ),
            None => Err(AuthError::invalid("not a test token")),
        })
    });
    let config = AuthConfig::new(ISSUER, "http://127.0.0.1:8000/mcp")
        .unwrap()
        .verifier(verifier);
    let state = AuthState::new(config, []);
    let started = Instant::now();
    let mut most = 0;
    let total = BOUND + 1_000;
    for i in 0..total {
        let u = state.verify(&format!("t-{i}")).await.unwrap();
        assert_eq!(u.subject, format!("u{i}"));
        let n = state.cached_tokens();
        assert!(n <= BOUND, "after {} tokens the cache holds {n}", i + 1);
        most = most.max(n);
    }
    println!(
        "[sessions] {total} distinct tokens verified in {:?}; the cache peaked at {most}",
        started.elapsed()
    );
    assert!(most > BOUND / 2, "the cache was hardly used (peak {most})");
    assert_eq!(asked.load(Ordering::Relaxed), total);
    // A token still cached is not verified again.
    let last = format!("t-{}", total - 1);
    state.verify(&last).await.unwrap();
    assert_eq!(
        asked.load(Ordering::Relaxed),
        total,
        "a cached token was re-verified"
    );
}

#[tokio::test]
async fn parallel_first_uses_of_an_anonymous_session_give_it_to_exactly_one_user() {
    bounded(async {
        let Served { s, .. } = start().await;
        for round in 0..5 {
            let sid = init_as(&s, None).await;
            // Alice and Bob race to be the first signed-in caller, ten requests each.
            let mut calls = Vec::new();
            for i in 0..20 {
                let who = if i % 2 == 0 { ALICE } else { BOB };
                let (s, sid) = (&s, sid.clone());
                calls.push(async move {
                    let r = post_as(s, Some(&sid), Some(who), &call(i, "whoami")).await;
                    (who, r.status)
                });
            }
            let results = futures_util::future::join_all(calls).await;
            let served: Vec<&str> = results
                .iter()
                .filter(|(_, st)| *st == 200)
                .map(|(w, _)| *w)
                .collect();
            let winner = served
                .first()
                .copied()
                .expect("someone must get the session");
            assert!(
                served.iter().all(|w| *w == winner),
                "round {round}: both users were served: {results:?}"
            );
            assert!(
                results.iter().all(|(w, st)| *w == winner || *st == 404),
                "round {round}: the loser must get 404: {results:?}"
            );
            // Afterwards the session stays the winner's.
            let loser = if winner == ALICE { BOB } else { ALICE };
            let r = post_as(&s, Some(&sid), Some(loser), &call(99, "whoami")).await;
            assert_eq!(r.status, 404, "round {round}");
            let r = post_as(&s, Some(&sid), Some(winner), &call(100, "whoami")).await;
            assert_eq!(r.status, 200, "round {round}: {}", r.text());
        }
    })
    .await;
}
