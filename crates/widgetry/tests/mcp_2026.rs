//! MCP 2026-07-28 over Streamable HTTP, from the outside: a real server on 127.0.0.1
//! and raw HTTP requests, thinking like a sloppy client and like an attacker.
//!
//! - Request `_meta` shapes, generated (missing, not an object, each required field
//!   absent or of every wrong JSON type, extra keys, no `clientInfo`) on every method:
//!   a valid one runs, an invalid one is `-32602` with HTTP 400 and the request's id,
//!   and never reaches a handler.
//! - Header combinations, generated (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`
//!   absent, equal, different, case-changed, padded, Base64-encoded, badly encoded):
//!   the expected status and code come from a model of the specification's rules, and a
//!   refused request never runs its tool.
//! - Input-required results: the sealed `requestState` comes back to the handler only
//!   intact, for the same user, tool and arguments, before it expires; every flipped
//!   character, another user's replay, another tool or argument set, and a late retry are
//!   refused with `-32602` without running the handler's second round.
//! - Capabilities: asking for input the client did not declare is `-32021` (HTTP 400)
//!   naming the capability.
//! - Caching hints on every cacheable result, from the server's configuration, and
//!   none on input-required results or on older versions.
//! - The same input-asking tool on 2025-06-18, driven by the engine over the session.

mod common;
mod shapes;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};
use widgetry::auth::{AuthError, FnVerifier};
use widgetry::protocol::cache::{CacheHint, CacheScope};
use widgetry::protocol::types::{CallToolResult, Resource, ToolDescriptor};
use widgetry::{
    Auth, AuthConfig, HttpConfig, InputRequired, RequestContext, Server, ServerConfig, ToolEntry,
    ToolError, User,
};

use common::{read_events_until, Reply, TestServer};
use shapes::Rng;

const V: &str = "2026-07-28";
const SEED: u64 = 0x2026_0728_5eed;

/// How often each handler (and each second round) ran.
#[derive(Default)]
struct Runs {
    echo: AtomicUsize,
    ask_first: AtomicUsize,
    ask_second: AtomicUsize,
}

fn user(sub: &str) -> Result<User, AuthError> {
    User::from_claims(
        json!({"sub": sub, "scope": "user"})
            .as_object()
            .unwrap()
            .clone(),
        None,
    )
}

/// `echo {text}`; `ask {seat}` which asks for a confirmation with a state naming the
/// seat and answers with the state it got back; a resource with a long public cache.
/// Tokens "tok-a" and "tok-b" are users a and b; anonymous callers are allowed too.
fn app(resource: &str, runs: Arc<Runs>, config: ServerConfig) -> Server {
    let verifier = FnVerifier(|token: String| async move {
        match token.as_str() {
            "tok-a" => user("a"),
            "tok-b" => user("b"),
            _ => Err(AuthError::invalid("unknown test token")),
        }
    });
    let mut b = Server::builder("mcp-2026", "1.0.0").config(config).auth(
        AuthConfig::new("https://issuer.example/", resource)
            .unwrap()
            .verifier(verifier),
    );
    let r = runs.clone();
    let mut echo = ToolDescriptor::new("echo");
    echo.input_schema = json!({"type": "object", "properties": {"text": {"type": "string"}}});
    b = b.tool(echo, move |_ctx, args| {
        r.echo.fetch_add(1, Ordering::SeqCst);
        let text = args
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        async move { Ok::<_, ToolError>(CallToolResult::text(text)) }
    });
    let r = runs.clone();
    b.add_tool(ToolEntry {
        descriptor: ToolDescriptor::new("ask"),
        policy: Auth::optional(Vec::<String>::new()),
        handler: Arc::new(move |ctx: RequestContext, args| {
            let r = r.clone();
            Box::pin(async move {
                let args: Value = serde_json::from_str(args.get()).unwrap();
                match (ctx.input_response("ok"), ctx.input_state()) {
                    (Some(answer), Some(state)) => {
                        r.ask_second.fetch_add(1, Ordering::SeqCst);
                        Ok(CallToolResult::text(
                            json!({"state": state, "answer": answer}).to_string(),
                        ))
                    }
                    _ => {
                        r.ask_first.fetch_add(1, Ordering::SeqCst);
                        Err(InputRequired::new()
                            .elicit(
                                "ok",
                                "Book this seat?",
                                json!({"type": "object", "properties": {"ok": {"type": "boolean"}}}),
                            )
                            .state(json!({"seat": args["seat"], "who": ctx.user().map(|u| u.subject.clone())}))
                            .into())
                    }
                }
            })
        }),
    });
    b.text_resource(
        Resource::new("ui://widget/x-abc123.html", "x").mime("text/html;profile=mcp-app"),
        "<p>x</p>",
    )
    .resource_cache(
        "ui://widget/x-abc123.html",
        CacheHint::public(Duration::from_secs(86_400)),
    )
    .text_resource(Resource::new("test://private", "p"), "private")
    .build()
}

async fn start_with(config: ServerConfig) -> (TestServer, Arc<Runs>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    drop(listener);
    let runs = Arc::new(Runs::default());
    let server = app(&resource, runs.clone(), config);
    (TestServer::start(server, HttpConfig::default()).await, runs)
}

async fn start() -> (TestServer, Arc<Runs>) {
    start_with(ServerConfig::default()).await
}

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    })
}

/// A 2026-07-28 POST: version header, `Mcp-Method`, `Mcp-Name` when given, a token.
async fn post(s: &TestServer, body: &Value, name: Option<&str>, token: Option<&str>) -> Reply {
    let mut b = s
        .request("POST", "/mcp")
        .header("mcp-protocol-version", V)
        .header("mcp-method", body["method"].as_str().unwrap_or(""));
    if let Some(n) = name {
        b = b.header("mcp-name", n);
    }
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    s.send(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
}

fn request(id: i64, method: &str, mut params: Value) -> Value {
    if params.get("_meta").is_none() {
        params["_meta"] = meta();
    }
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// The methods of the revision, with the params and `Mcp-Name` of a valid request.
fn methods() -> Vec<(&'static str, Value, Option<&'static str>)> {
    vec![
        ("server/discover", json!({}), None),
        ("tools/list", json!({}), None),
        ("resources/list", json!({}), None),
        ("resources/templates/list", json!({}), None),
        ("prompts/list", json!({}), None),
        (
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
            Some("echo"),
        ),
        (
            "resources/read",
            json!({"uri": "test://private"}),
            Some("test://private"),
        ),
    ]
}

/// A JSON value of every type but the one named.
fn wrong_types(except: &str) -> Vec<Value> {
    [
        ("null", Value::Null),
        ("bool", json!(true)),
        ("number", json!(7)),
        ("string", json!("2026-07-28")),
        ("array", json!([V])),
        ("object", json!({"v": V})),
    ]
    .into_iter()
    .filter(|(t, _)| *t != except)
    .map(|(_, v)| v)
    .collect()
}

/// Request `_meta` shapes with whether each is valid.
fn meta_shapes(rng: &mut Rng) -> Vec<(Option<Value>, bool)> {
    let mut out: Vec<(Option<Value>, bool)> = vec![(None, false)];
    for v in wrong_types("object") {
        out.push((Some(v), false));
    }
    for v in wrong_types("string") {
        let mut m = meta();
        m["io.modelcontextprotocol/protocolVersion"] = v;
        out.push((Some(m), false));
    }
    for v in wrong_types("object") {
        let mut m = meta();
        m["io.modelcontextprotocol/clientCapabilities"] = v;
        out.push((Some(m), false));
    }
    for key in [
        "io.modelcontextprotocol/protocolVersion",
        "io.modelcontextprotocol/clientCapabilities",
    ] {
        let mut m = meta();
        m.as_object_mut().unwrap().remove(key);
        out.push((Some(m), false));
    }
    // Valid: without clientInfo, with extra keys, with odd but legal extras.
    let mut m = meta();
    m.as_object_mut()
        .unwrap()
        .remove("io.modelcontextprotocol/clientInfo");
    out.push((Some(m), true));
    for _ in 0..20 {
        let mut m = meta();
        let extra = format!("com.example/k{}", rng.below(1000));
        m[extra] = rng.pick(&wrong_types("")).clone();
        if rng.chance(50) {
            m.as_object_mut()
                .unwrap()
                .remove("io.modelcontextprotocol/clientInfo");
        }
        out.push((Some(m), true));
    }
    out
}

#[tokio::test]
async fn every_request_meta_shape_is_validated_before_any_handler_runs() {
    let (s, runs) = start().await;
    let mut rng = Rng::new(SEED);
    let mut id = 100;
    for (method, params, name) in methods() {
        for (shape, valid) in meta_shapes(&mut rng) {
            id += 1;
            let mut params = params.clone();
            let obj = params.as_object_mut().unwrap();
            match &shape {
                Some(m) => obj.insert("_meta".into(), m.clone()),
                None => obj.remove("_meta"),
            };
            let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            let before = runs.echo.load(Ordering::SeqCst);
            let r = post(&s, &body, name, None).await;
            let v = r.json();
            assert_eq!(
                v["id"], id,
                "{method} {shape:?}: the error keeps the id: {v}"
            );
            if valid {
                assert_eq!(r.status, 200, "{method} {shape:?}: {v}");
                assert_eq!(v["result"]["resultType"], "complete", "{method}: {v}");
            } else {
                assert_eq!(r.status, 400, "{method} {shape:?}: {v}");
                assert_eq!(v["error"]["code"], -32602, "{method} {shape:?}: {v}");
                assert_eq!(runs.echo.load(Ordering::SeqCst), before, "{method} ran");
            }
        }
    }
}

/// What the specification says about one header combination: (HTTP status, JSON-RPC
/// error code or `None` for a result).
fn expected(version: &Hdr, method: &Hdr, name: &Hdr, needs_name: bool) -> (u16, Option<i64>) {
    match version {
        Hdr::Unsupported => return (400, Some(-32022)),
        Hdr::Absent | Hdr::Other => return (400, Some(-32020)),
        _ => {}
    }
    let bad = |h: &Hdr, required: bool| match h {
        Hdr::Absent => required,
        Hdr::Same | Hdr::Padded | Hdr::Encoded => false,
        Hdr::Other | Hdr::CaseChanged | Hdr::BadEncoding | Hdr::Unsupported => true,
    };
    if bad(method, true) || bad(name, needs_name) || (!needs_name && *name != Hdr::Absent) {
        return (400, Some(-32020));
    }
    (200, None)
}

/// One header's variant relative to the body.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hdr {
    Absent,
    Same,
    Padded,
    Encoded,
    Other,
    CaseChanged,
    BadEncoding,
    Unsupported,
}

fn render(h: Hdr, value: &str) -> Option<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    match h {
        Hdr::Absent => None,
        Hdr::Same => Some(value.to_string()),
        Hdr::Padded => Some(format!("  {value}\t")),
        Hdr::Encoded => Some(format!("=?base64?{}?=", b64.encode(value))),
        Hdr::Other => Some(format!("{value}x")),
        Hdr::CaseChanged => Some(value.to_uppercase()),
        Hdr::BadEncoding => Some("=?base64?not*base64?=".into()),
        Hdr::Unsupported => Some("1999-01-01".into()),
    }
}

#[tokio::test]
async fn header_combinations_get_the_status_and_code_the_spec_gives_and_refused_ones_never_run() {
    let (s, runs) = start().await;
    let all = [
        Hdr::Absent,
        Hdr::Same,
        Hdr::Padded,
        Hdr::Encoded,
        Hdr::Other,
        Hdr::CaseChanged,
        Hdr::BadEncoding,
    ];
    let mut rng = Rng::new(SEED ^ 0x4ead);
    let cases: Vec<(Hdr, Hdr, Hdr, usize)> = (0..400)
        .map(|_| {
            let version = *rng.pick(&[
                Hdr::Same,
                Hdr::Same,
                Hdr::Same,
                Hdr::Absent,
                Hdr::Other,
                Hdr::Unsupported,
            ]);
            (version, *rng.pick(&all), *rng.pick(&all), rng.below(2))
        })
        .collect();
    for (i, (version, method, name, which)) in cases.into_iter().enumerate() {
        let id = i as i64 + 1;
        let (m, body, real_name) = if which == 0 {
            (
                "tools/call",
                request(
                    id,
                    "tools/call",
                    json!({"name": "echo", "arguments": {"text": "h"}}),
                ),
                "echo",
            )
        } else {
            ("tools/list", request(id, "tools/list", json!({})), "echo")
        };
        let needs_name = m == "tools/call";
        let mut b = s.request("POST", "/mcp");
        let version_value = match version {
            Hdr::Other => Some("2025-06-18".to_string()),
            v => render(v, V),
        };
        for (header, value) in [
            ("mcp-protocol-version", version_value),
            ("mcp-method", render(method, m)),
            ("mcp-name", render(name, real_name)),
        ] {
            if let Some(v) = value {
                b = b.header(header, v);
            }
        }
        let before = runs.echo.load(Ordering::SeqCst);
        let r = s
            .send(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
            .await;
        let v = r.json();
        let (status, code) = expected(&version, &method, &name, needs_name);
        let case = format!("version {version:?}, method {method:?}, name {name:?}, {m}: {v}");
        assert_eq!(r.status, status, "{case}");
        assert_eq!(v["error"]["code"].as_i64(), code, "{case}");
        assert_eq!(v["id"], id, "{case}");
        let ran = runs.echo.load(Ordering::SeqCst) - before;
        assert_eq!(ran, usize::from(status == 200 && needs_name), "{case}");
        if code == Some(-32022) {
            assert_eq!(v["error"]["data"]["requested"], "1999-01-01");
            assert!(v["error"]["data"]["supported"]
                .as_array()
                .unwrap()
                .contains(&json!(V)));
        }
    }
}

#[tokio::test]
async fn removed_and_unknown_methods_are_404_with_method_not_found() {
    let (s, _) = start().await;
    for (i, m) in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
        "nope/nothing",
    ]
    .into_iter()
    .enumerate()
    {
        let r = post(
            &s,
            &request(i as i64, m, json!({"uri": "test://private"})),
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 404, "{m}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], -32601, "{m}");
        assert_eq!(r.json()["id"], i as i64, "{m}");
    }
}

/// Calls `ask` with `seat`, optionally retrying with `state` and an answer.
async fn ask(
    s: &TestServer,
    id: i64,
    seat: &str,
    retry: Option<&str>,
    token: Option<&str>,
    tool: &str,
) -> Reply {
    let mut params = json!({"name": tool, "arguments": {"seat": seat}});
    if let Some(state) = retry {
        params["requestState"] = json!(state);
        params["inputResponses"] = json!({"ok": {"action": "accept", "content": {"ok": true}}});
    }
    post(s, &request(id, "tools/call", params), Some(tool), token).await
}

#[tokio::test]
async fn sealed_request_state_comes_back_only_intact_for_the_same_user_tool_and_arguments() {
    let (s, runs) = start().await;
    let first = ask(&s, 1, "12A", None, Some("tok-a"), "ask").await.json();
    let result = &first["result"];
    assert_eq!(result["resultType"], "input_required", "{first}");
    assert_eq!(
        result["inputRequests"]["ok"]["method"],
        "elicitation/create"
    );
    assert!(result.get("ttlMs").is_none() && result.get("cacheScope").is_none());
    let state = result["requestState"].as_str().unwrap().to_string();
    assert!(!state.contains("12A"), "the state is opaque: {state}");

    // The genuine retry completes with the state the handler sealed.
    let done = ask(&s, 2, "12A", Some(&state), Some("tok-a"), "ask")
        .await
        .json();
    let text: Value =
        serde_json::from_str(done["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text["state"], json!({"seat": "12A", "who": "a"}));
    assert_eq!(done["result"]["resultType"], "complete");
    let seconds = runs.ask_second.load(Ordering::SeqCst);
    assert_eq!(seconds, 1);

    // Replays elsewhere: another user, anonymous, other arguments, another tool.
    let refused = |r: &Reply| {
        let v = r.json();
        v["error"]["code"] == -32602
            && v["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("requestState")
    };
    assert!(refused(
        &ask(&s, 3, "12A", Some(&state), Some("tok-b"), "ask").await
    ));
    assert!(refused(&ask(&s, 4, "12A", Some(&state), None, "ask").await));
    assert!(refused(
        &ask(&s, 5, "1A", Some(&state), Some("tok-a"), "ask").await
    ));
    // Another tool (echo ignores state, but the engine checks it first).
    let r = ask(&s, 6, "12A", Some(&state), Some("tok-a"), "echo").await;
    assert!(refused(&r), "{}", r.text());

    // Every position of the state changed, one at a time (sampled): refused.
    let mut rng = Rng::new(SEED ^ 0x7a3);
    let positions: Vec<usize> = (0..60).map(|_| rng.below(state.len())).collect();
    for (i, p) in positions.into_iter().enumerate() {
        let mut t = state.clone().into_bytes();
        t[p] = if t[p] == b'x' { b'y' } else { b'x' };
        let t = String::from_utf8(t).unwrap();
        if t == state {
            continue;
        }
        let r = ask(&s, 100 + i as i64, "12A", Some(&t), Some("tok-a"), "ask").await;
        assert!(refused(&r), "flip at {p}: {}", r.text());
    }
    for junk in ["", "x", "{\"seat\":\"12A\"}", &"A".repeat(100_000)] {
        let r = ask(&s, 7, "12A", Some(junk), Some("tok-a"), "ask").await;
        assert!(refused(&r), "{junk:.20}: {}", r.text());
    }
    assert_eq!(
        runs.ask_second.load(Ordering::SeqCst),
        seconds,
        "no refused retry reached the handler's second round"
    );
}

#[tokio::test]
async fn an_expired_request_state_is_refused() {
    let (s, runs) = start_with(ServerConfig {
        input_state_ttl: Duration::from_millis(1),
        ..Default::default()
    })
    .await;
    let first = ask(&s, 1, "3C", None, Some("tok-a"), "ask").await.json();
    let state = first["result"]["requestState"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = ask(&s, 2, "3C", Some(&state), Some("tok-a"), "ask")
        .await
        .json();
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("expired"),
        "{r}"
    );
    assert_eq!(runs.ask_second.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn asking_for_an_undeclared_capability_is_32021_with_http_400() {
    let (s, runs) = start().await;
    let mut m = meta();
    m["io.modelcontextprotocol/clientCapabilities"] = json!({"sampling": {}});
    let body = request(
        1,
        "tools/call",
        json!({"name": "ask", "arguments": {"seat": "1"}, "_meta": m}),
    );
    let r = post(&s, &body, Some("ask"), None).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], -32021);
    assert_eq!(
        v["error"]["data"]["requiredCapabilities"],
        json!({"elicitation": {}})
    );
    assert_eq!(v["id"], 1);
    assert_eq!(
        runs.ask_first.load(Ordering::SeqCst),
        1,
        "the handler ran and asked"
    );
}

#[tokio::test]
async fn cacheable_results_carry_the_configured_hints_and_others_do_not() {
    let list = CacheHint::private(Duration::from_millis(1234));
    let (s, _) = start_with(ServerConfig {
        list_cache: list,
        ..Default::default()
    })
    .await;
    for (i, (method, params, name)) in methods().into_iter().enumerate() {
        let r = post(&s, &request(i as i64, method, params), name, None)
            .await
            .json();
        let res = &r["result"];
        let (ttl, scope) = match method {
            "tools/call" => {
                assert!(
                    res.get("ttlMs").is_none() && res.get("cacheScope").is_none(),
                    "{r}"
                );
                continue;
            }
            "resources/read" => (0, "private"),
            _ => (1234, "private"),
        };
        assert_eq!(res["ttlMs"], ttl, "{method}: {r}");
        assert_eq!(res["cacheScope"], scope, "{method}: {r}");
    }
    let r = post(
        &s,
        &request(
            9,
            "resources/read",
            json!({"uri": "ui://widget/x-abc123.html"}),
        ),
        Some("ui://widget/x-abc123.html"),
        None,
    )
    .await
    .json();
    assert_eq!(r["result"]["ttlMs"], 86_400_000);
    assert_eq!(r["result"]["cacheScope"], "public");
    let d = post(&s, &request(10, "server/discover", json!({})), None, None)
        .await
        .json();
    assert_eq!(
        d["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcp-2026"
    );
    assert!(d["result"].get("serverInfo").is_none());
    assert_eq!(serde_json::to_value(CacheScope::Public).unwrap(), "public");

    // Older versions: no resultType, no caching fields.
    let sid = s.initialize().await;
    let r = s
        .post(
            Some(&sid),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await
        .json();
    assert!(r["result"].get("ttlMs").is_none() && r["result"].get("resultType").is_none());
}

#[tokio::test]
async fn on_2025_06_18_the_engine_asks_the_client_over_the_session_and_reruns_the_tool() {
    let (s, runs) = start().await;
    let init = s
        .post(
            None,
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                "protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},
                "clientInfo":{"name":"t","version":"1"}}}),
        )
        .await;
    let sid = init.header("mcp-session-id").unwrap().to_string();
    let resp = s
        .stream(
            s.request("POST", "/mcp")
                .header("mcp-session-id", &sid)
                .header("mcp-protocol-version", "2025-06-18")
                .body(Full::new(Bytes::from(
                    json!({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"ask","arguments":{"seat":"9F"}}})
                        .to_string(),
                )))
                .unwrap(),
        )
        .await;
    let mut body = resp.into_body();
    let mut buf = String::new();
    let events =
        read_events_until(&mut body, &mut buf, |v| v["method"] == "elicitation/create").await;
    let req = &events
        .iter()
        .find(|(_, v)| v["method"] == "elicitation/create")
        .unwrap()
        .1;
    assert_eq!(req["params"]["message"], "Book this seat?");
    assert!(
        req["params"].get("mode").is_none(),
        "2025-06-18 has no elicitation mode"
    );
    let answer =
        json!({"jsonrpc":"2.0","id":req["id"],"result":{"action":"accept","content":{"ok":true}}});
    assert_eq!(s.post(Some(&sid), answer).await.status, 202);
    let events = read_events_until(&mut body, &mut buf, |v| v["id"] == 8).await;
    let result = &events.iter().find(|(_, v)| v["id"] == 8).unwrap().1;
    let text: Value =
        serde_json::from_str(result["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text["state"], json!({"seat": "9F", "who": null}));
    assert_eq!(text["answer"]["content"]["ok"], true);
    assert_eq!(runs.ask_first.load(Ordering::SeqCst), 1);
    assert_eq!(runs.ask_second.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn stdio_serves_2026_requests_by_their_meta_version() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let runs = Arc::new(Runs::default());
    let server = app(
        "http://127.0.0.1:1/mcp",
        runs.clone(),
        ServerConfig::default(),
    );
    let (client, server_io) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_io);
    let task = tokio::spawn(widgetry::transport::serve_io(server, sr, sw));
    let (cr, mut cw) = tokio::io::split(client);
    let mut lines = tokio::io::BufReader::new(cr).lines();
    let mut send = async |body: Value| -> Value {
        cw.write_all(format!("{body}\n").as_bytes()).await.unwrap();
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        serde_json::from_str(&line).unwrap()
    };
    let d = send(request(1, "server/discover", json!({}))).await;
    assert_eq!(d["result"]["resultType"], "complete", "{d}");
    assert_eq!(
        d["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcp-2026"
    );
    let first = send(request(
        2,
        "tools/call",
        json!({"name": "ask", "arguments": {"seat": "4D"}}),
    ))
    .await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    let state = first["result"]["requestState"]
        .as_str()
        .unwrap()
        .to_string();
    let done = send(request(
        3,
        "tools/call",
        json!({
            "name": "ask", "arguments": {"seat": "4D"}, "requestState": state,
            "inputResponses": {"ok": {"action": "accept", "content": {"ok": true}}},
        }),
    ))
    .await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(runs.ask_second.load(Ordering::SeqCst), 1);
    let mut m = meta();
    m["io.modelcontextprotocol/protocolVersion"] = json!("1999-01-01");
    let bad = send(request(4, "tools/list", json!({"_meta": m}))).await;
    assert_eq!(bad["error"]["code"], -32022, "{bad}");
    assert_eq!(bad["error"]["data"]["requested"], "1999-01-01");
    let gone = send(request(5, "initialize", json!({}))).await;
    assert_eq!(gone["error"]["code"], -32601, "{gone}");
    let no_meta = send(json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": V}}})).await;
    assert_eq!(no_meta["error"]["code"], -32602, "{no_meta}");
    // Without a 2026 `_meta`, the same connection still speaks the handshake versions.
    let old = send(json!({"jsonrpc": "2.0", "id": 7, "method": "ping"})).await;
    assert_eq!(old["result"], json!({}), "{old}");
    drop(cw);
    drop(lines);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}
