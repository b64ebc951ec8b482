//! Thinking like an attacker about `tools/call`: hundreds of request shapes (params as
//! an array, a string, a number, `null`; `name` duplicated, escaped, not a string; odd
//! `arguments`/`_meta`; method and id variants; batches; BOMs; duplicate envelope keys)
//! sent anonymously and with a token lacking a scope, over every transport. After each
//! request the tools' run counters are read: a tool whose policy refuses the caller
//! must never have run. Well-formed control calls check that the counters do move when
//! they should, and `tools/call` with non-object `params` must be answered `-32602`.
//!
//! The shapes come from a fixed seed, so a failure reproduces; the helper module
//! `shapes` holds the generator, the app (three tools with run counters and a verifier
//! mapping "tok-a"/"tok-b" to users) and the transport clients.

mod common;
#[path = "common/serve.rs"]
mod serve;
mod shapes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use shapes::{attack, control, Control, Counters, Link, Report, Who, PUBLIC, SCOPED, SIGNIN};

/// The generator's seed (change it to explore; failures name the shape).
const SEED: u64 = 0x5eed_a77a_c4e5_2025;
/// Random shapes per run, on top of the fixed ones.
const RANDOM_SHAPES: usize = 1000;

async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(240), f)
        .await
        .expect("test exceeded its time bound");
}

/// The mixed app served on loopback.
async fn start() -> (Arc<TestServer>, Counters) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let counters = Counters::default();
    let app = shapes::app(&resource, &counters);
    (Arc::new(serve::serve_app(listener, &app)), counters)
}

/// Well-formed calls over an HTTP transport: what may run runs, what may not is refused
/// the documented way.
async fn http_controls(anon: &mut Link, a: &mut Link, b: &mut Link, c: &Counters, r: &mut Report) {
    control(anon, PUBLIC, Control::Runs, c, r).await;
    // A generic client gets the HTTP 401 the SDKs sign in on; ChatGPT (request
    // `_meta` with `openai/*` hints) the isError challenge result.
    control(anon, SIGNIN, Control::Refused(401), c, r).await;
    control(anon, SCOPED, Control::Refused(401), c, r).await;
    control(anon, SIGNIN, Control::ChallengeResult, c, r).await;
    control(anon, SCOPED, Control::ChallengeResult, c, r).await;
    control(a, SCOPED, Control::ChallengeResult, c, r).await;
    control(a, PUBLIC, Control::Runs, c, r).await;
    control(a, SIGNIN, Control::Runs, c, r).await;
    control(a, SCOPED, Control::Refused(403), c, r).await;
    control(b, SIGNIN, Control::Runs, c, r).await;
    control(b, SCOPED, Control::Runs, c, r).await;
}

/// The controls, then every shape as the anonymous caller and as tok-a, over one
/// transport's three links (anonymous, tok-a, tok-b).
async fn attack_links(
    links: [&mut Link; 3],
    shapes: &[shapes::Shape],
    c: &Counters,
    report: &mut Report,
) {
    let [anon, a, b] = links;
    http_controls(anon, a, b, c, report).await;
    attack(anon, shapes, c, report).await;
    attack(a, shapes, c, report).await;
}

#[tokio::test]
async fn no_request_shape_reaches_a_refused_tool_over_streamable_http_sessions() {
    bounded(async {
        let (s, c) = start().await;
        let shapes = shapes::generate(SEED, RANDOM_SHAPES);
        let mut report = Report::new("Streamable HTTP with a session (2025-06-18)");
        let mut anon = Link::session(&s, Who::Anonymous).await;
        let mut a = Link::session(&s, Who::TokA).await;
        let mut b = Link::session(&s, Who::TokB).await;
        attack_links([&mut anon, &mut a, &mut b], &shapes, &c, &mut report).await;
        report.finish();
    })
    .await;
}

#[tokio::test]
async fn no_request_shape_reaches_a_refused_tool_over_stateless_http() {
    bounded(async {
        let (s, c) = start().await;
        let shapes = shapes::generate(SEED ^ 0x2026_0728, RANDOM_SHAPES);
        let mut report = Report::new("Streamable HTTP stateless (2026-07-28)");
        for routed in [false, true] {
            let mut anon = Link::stateless(&s, Who::Anonymous, routed);
            let mut a = Link::stateless(&s, Who::TokA, routed);
            let mut b = Link::stateless(&s, Who::TokB, routed);
            if routed {
                attack_links([&mut anon, &mut a, &mut b], &shapes, &c, &mut report).await;
            } else {
                // 2026-07-28 requires the Mcp-Method header: without it nothing runs,
                // whoever calls (HTTP 400, -32020).
                control(&mut anon, PUBLIC, Control::Refused(400), &c, &mut report).await;
                control(&mut b, SCOPED, Control::Refused(400), &c, &mut report).await;
                attack(&mut anon, &shapes, &c, &mut report).await;
                attack(&mut a, &shapes, &c, &mut report).await;
            }
        }
        report.finish();
    })
    .await;
}

#[cfg(feature = "legacy-sse")]
#[tokio::test]
async fn no_request_shape_reaches_a_refused_tool_over_legacy_sse() {
    bounded(async {
        let (s, c) = start().await;
        let shapes = shapes::generate(SEED ^ 0x2024_1105, RANDOM_SHAPES);
        let mut report = Report::new("legacy HTTP+SSE (2024-11-05)");
        let mut anon = Link::sse(&s, Who::Anonymous).await;
        let mut a = Link::sse(&s, Who::TokA).await;
        let mut b = Link::sse(&s, Who::TokB).await;
        attack_links([&mut anon, &mut a, &mut b], &shapes, &c, &mut report).await;
        report.finish();
    })
    .await;
}

#[tokio::test]
async fn no_request_shape_reaches_a_refused_tool_over_stdio() {
    bounded(async {
        // stdio carries no token: every caller there is anonymous.
        let c = Counters::default();
        let app = shapes::app("http://127.0.0.1:9/mcp", &c);
        let (mut link, task) = Link::stdio(app.server().clone()).await;
        let shapes = shapes::generate(SEED ^ 0x57d10, RANDOM_SHAPES);
        let mut report = Report::new("stdio");
        control(&mut link, PUBLIC, Control::Runs, &c, &mut report).await;
        control(&mut link, SIGNIN, Control::DoesNotRun, &c, &mut report).await;
        control(&mut link, SCOPED, Control::DoesNotRun, &c, &mut report).await;
        attack(&mut link, &shapes, &c, &mut report).await;
        drop(link);
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        report.finish();
    })
    .await;
}

/// The generator really produces the shapes the report is about (so a change to it
/// cannot silently stop testing them).
#[test]
fn the_generator_covers_the_attack_shapes() {
    let shapes = shapes::generate(SEED, RANDOM_SHAPES);
    let has = |pred: &dyn Fn(&shapes::Shape) -> bool| shapes.iter().filter(|s| pred(s)).count();
    let arrays = has(&|s| s.params == shapes::ParamsKind::Array);
    let pristine_arrays = has(&|s| s.params == shapes::ParamsKind::Array && s.pristine_call);
    let dup = has(&|s| s.label.contains("dup"));
    let escaped = has(&|s| s.body.contains("\\u00"));
    let batches = has(&|s| s.body.trim_start().starts_with('['));
    let notifications = has(&|s| !s.body.contains("\"id\""));
    println!(
        "[request_shapes] {} shapes: {arrays} array params ({pristine_arrays} in a clean envelope), {dup} duplicate names, {escaped} with \\u escapes, {batches} batches, {notifications} notifications",
        shapes.len()
    );
    assert!(shapes.len() >= RANDOM_SHAPES);
    assert!(pristine_arrays >= 100, "{pristine_arrays}");
    assert!(dup >= 20 && escaped >= 50 && batches >= 10 && notifications >= 10);
    assert_eq!(
        shapes[0].body,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":["signin_tool",{}]}"#
    );
    // Deterministic: the same seed gives the same shapes.
    let again = shapes::generate(SEED, RANDOM_SHAPES);
    assert!(shapes.iter().zip(&again).all(|(a, b)| a.body == b.body));
}
