//! Attack-shaped request bodies for `tools/call` and the transports to send them over.
//!
//! `generate` builds, from a seed, many bodies an attacker could send: `params` as an
//! array, a string, a number, `null`, nested objects, objects with `name` duplicated or
//! escaped or not a string, odd `arguments` and `_meta`, method and id variants,
//! batches, BOMs, duplicate envelope keys. Each shape records what a correct server must
//! answer when that can be told from the shape alone (`Expect`).
//!
//! `Link` sends one body over one transport as one caller and returns what came back;
//! `Harness` owns the app (three tools with run counters) and checks the invariant: a
//! tool whose policy refuses the caller never runs.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use widgetry::app::{App, NoInput, Tool};
use widgetry::auth::{AuthError, FnVerifier};
use widgetry::protocol::jsonrpc::{self, Id, Message};
use widgetry::{Auth, AuthConfig, RequestContext, ToolError, User};

use crate::common::TestServer;

pub const PUBLIC: &str = "public_tool";
pub const SIGNIN: &str = "signin_tool";
pub const SCOPED: &str = "scoped_tool";
pub const TOOLS: [&str; 3] = [PUBLIC, SIGNIN, SCOPED];

/// How long one answer may take before the run is declared stuck.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------
// A tiny deterministic PRNG (xorshift64)
// ---------------------------------------------------------------------------------

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------

/// What a correct server answers to a shape, when the shape alone decides it.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Nothing beyond the invariant.
    Any,
    /// A JSON-RPC error whose code is one of these.
    ErrorCode(&'static [i64]),
}

/// The JSON kind of the `params` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamsKind {
    Object,
    Array,
    Scalar,
    Null,
    Absent,
}

#[derive(Debug, Clone)]
pub struct Shape {
    /// What the generator chose, for failure messages.
    pub label: String,
    pub body: String,
    /// The tool the attacker is after (sent as `Mcp-Name` when routing headers are on).
    pub target: &'static str,
    pub params: ParamsKind,
    /// The envelope is a plain, valid JSON-RPC request whose method is `tools/call`
    /// (possibly spelled with escapes), with a valid id and no duplicate or extra keys.
    pub pristine_call: bool,
}

impl Shape {
    /// What a correct server must answer. With `routed` (2026-07-28 `Mcp-Name` and
    /// `Mcp-Method` headers sent), a header/body mismatch error (-32020, HeaderMismatch)
    /// is also correct.
    pub fn expect(&self, routed: bool) -> Expect {
        if !self.pristine_call {
            return Expect::Any;
        }
        match (self.params, routed) {
            // Not an object: invalid params (the fix's required behaviour).
            (ParamsKind::Array | ParamsKind::Null | ParamsKind::Absent, false) => {
                Expect::ErrorCode(&[-32602])
            }
            (ParamsKind::Array | ParamsKind::Null | ParamsKind::Absent, true) => {
                Expect::ErrorCode(&[-32602, -32020])
            }
            // JSON-RPC itself forbids scalar params: invalid request or invalid params.
            (ParamsKind::Scalar, _) => Expect::ErrorCode(&[-32600, -32602]),
            (ParamsKind::Object, _) => Expect::Any,
        }
    }
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// `s` as a JSON string with one character written as `\uXXXX`.
fn escape_one(rng: &mut Rng, s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let i = rng.below(chars.len());
    let mut out = String::from("\"");
    for (k, c) in chars.iter().enumerate() {
        if k == i {
            write!(out, "\\u{:04x}", *c as u32).unwrap();
        } else {
            out.push(*c);
        }
    }
    out.push('"');
    out
}

fn escape_all(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        write!(out, "\\u{:04X}", c as u32).unwrap();
    }
    out.push('"');
    out
}

/// The `name` value: mostly the target spelled plainly or with escapes (the same
/// string once decoded), sometimes a near miss or not a string at all.
fn name_text(rng: &mut Rng, t: &str) -> (String, &'static str) {
    match rng.below(20) {
        0..=8 => (js(t), "plain"),
        9 | 10 => (escape_one(rng, t), "escaped1"),
        11 => (escape_all(t), "escaped"),
        12 => (js(&t.to_uppercase()), "upper"),
        13 => (js(&format!(" {t}")), "lead-space"),
        14 => (format!("\"{t}\\u0000\""), "nul-suffix"),
        15 => (format!("[{}]", js(t)), "name-array"),
        16 => (format!("{{\"name\":{}}}", js(t)), "name-object"),
        17 => (
            rng.pick(&["1", "null", "true", "0.5", "\"\"", "-0", "1e999999"])
                .to_string(),
            "name-scalar",
        ),
        18 => (format!("\"{t}\\u200b\""), "zwsp"),
        _ => (js(&format!("{t} ")), "trail-space"),
    }
}

const ARGS: &[&str] = &[
    "{}",
    "{}",
    "{}",
    "[]",
    "\"x\"",
    "null",
    "1",
    "{\"a\":[1,{\"b\":null}]}",
    "[{}]",
    "{\"arguments\":{}}",
    "{\"name\":\"public_tool\"}",
];

const METAS: &[&str] = &[
    "{}",
    "null",
    "[]",
    "\"x\"",
    r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}"#,
    r#"{"io.modelcontextprotocol/protocolVersion":"2025-06-18"}"#,
    r#"{"io.modelcontextprotocol/protocolVersion":["2026-07-28"]}"#,
    r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/protocolVersion":"2025-06-18"}"#,
    r#"{"progressToken":"p1"}"#,
    r#"{"_meta":{"_meta":{"name":"public_tool"}}}"#,
    r#"{"openai/subject":"a"}"#,
];

const EXTRA_FIELDS: &[&str] = &[
    "\"extra\":1",
    "\"tool\":\"public_tool\"",
    "\"Name\":\"public_tool\"",
    "\"name \":\"public_tool\"",
    "\"params\":{\"name\":\"public_tool\"}",
    "\"uri\":\"public_tool\"",
    "\"task\":{\"ttl\":1}",
    "\"\":\"public_tool\"",
];

/// Object params: `name`, usually `arguments`, sometimes `_meta` and extras, in any order;
/// or an object with `name` duplicated (plainly or through an escaped key).
fn object_params(rng: &mut Rng, t: &str, label: &mut String) -> String {
    if rng.chance(25) {
        // Duplicate `name`: a public tool and the target, either order, maybe the key
        // itself escaped so a naive duplicate check misses it.
        let key2 = *rng.pick(&["\"name\"", "\"n\\u0061me\"", "\"\\u006eame\""]);
        let (a, b) = if rng.chance(50) {
            (js(PUBLIC), js(t))
        } else {
            (js(t), js(PUBLIC))
        };
        label.push_str("obj-dup-name");
        let mut s = format!("{{\"name\":{a},{key2}:{b}");
        if rng.chance(60) {
            s.push_str(",\"arguments\":{}");
        }
        s.push('}');
        return s;
    }
    if rng.chance(10) {
        label.push_str("obj-nested");
        return rng
            .pick(&[
                format!("{{\"params\":{{\"name\":{},\"arguments\":{{}}}}}}", js(t)),
                format!("{{\"name\":{{\"name\":{}}},\"arguments\":{{}}}}", js(t)),
                format!("{{\"0\":{},\"1\":{{}}}}", js(t)),
                format!("{{\"\":{}}}", js(t)),
                format!("{{\"arguments\":{{\"name\":{}}}}}", js(t)),
            ])
            .clone();
    }
    let (name, how) = name_text(rng, t);
    write!(label, "obj name={how}").unwrap();
    let mut fields = vec![format!("\"name\":{name}")];
    if rng.chance(70) {
        let a = *rng.pick(ARGS);
        fields.push(format!("\"arguments\":{a}"));
        write!(label, " args={a}").unwrap();
    }
    if rng.chance(40) {
        let m = *rng.pick(METAS);
        fields.push(format!("\"_meta\":{m}"));
        label.push_str(" meta");
    }
    if rng.chance(25) {
        fields.push(rng.pick(EXTRA_FIELDS).to_string());
        label.push_str(" extra");
    }
    rng.shuffle(&mut fields);
    format!("{{{}}}", fields.join(","))
}

/// Array params: positional `[name, arguments, _meta, ...]` and friends.
fn array_params(rng: &mut Rng, t: &str, label: &mut String) -> String {
    let (n, how) = if rng.chance(75) {
        (js(t), "plain")
    } else {
        name_text(rng, t)
    };
    let a = *rng.pick(ARGS);
    let m = *rng.pick(METAS);
    let (s, what) = match rng.below(12) {
        0 => (format!("[{n}]"), "[N]"),
        1..=3 => (format!("[{n},{a}]"), "[N,A]"),
        4 => (format!("[{n},{a},{m}]"), "[N,A,M]"),
        5 => (format!("[{n},{a},{m},\"extra\"]"), "[N,A,M,x]"),
        6 => ("[]".to_string(), "[]"),
        7 => (format!("[[{n},{a}]]"), "[[N,A]]"),
        8 => (format!("[{{\"name\":{n},\"arguments\":{{}}}}]"), "[{name}]"),
        9 => (format!("[{n},null,null]"), "[N,null,null]"),
        10 => (format!("[ {n} ,\n\t{a} ]"), "[N,A]-ws"),
        _ => (
            format!("[{n},{{}},{{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}]"),
            "[N,{},meta]",
        ),
    };
    write!(label, "array {what} name={how}").unwrap();
    s
}

fn scalar_params(rng: &mut Rng, t: &str, label: &mut String) -> String {
    label.push_str("scalar");
    rng.pick(&[
        js(t),
        js(&format!("{{\"name\":\"{t}\",\"arguments\":{{}}}}")),
        "5".to_string(),
        "-1.5e300".to_string(),
        "true".to_string(),
        "false".to_string(),
        "0".to_string(),
    ])
    .clone()
}

const CLEAN_METHODS: &[&str] = &[
    "\"tools/call\"",
    "\"tools/call\"",
    "\"tools/call\"",
    "\"tools/call\"",
    "\"tools\\/call\"",
    "\"tools\\u002fcall\"",
    "\"\\u0074ools/call\"",
];

const ODD_METHODS: &[&str] = &[
    "\"Tools/call\"",
    "\"TOOLS/CALL\"",
    "\"tools/call \"",
    "\" tools/call\"",
    "\"tools/call\\u0000\"",
    "\"tools/calls\"",
    "\"tools.call\"",
    "\"tools/call\\n\"",
    "\"tools//call\"",
    "\"/tools/call\"",
    "5",
    "null",
    "[\"tools/call\"]",
    "\"\"",
];

const VALID_IDS: &[&str] = &[
    "5",
    "5",
    "1",
    "\"5\"",
    "\"x-1\"",
    "0",
    "-7",
    "9223372036854775807",
    "\"\"",
    "\"\\u00e9\"",
];

const INVALID_IDS: &[&str] = &[
    "null",
    "1.5",
    "1e3",
    "[1]",
    "{}",
    "true",
    "9223372036854775808",
    "-9223372036854775809",
];

/// One random shape.
pub fn random_shape(rng: &mut Rng) -> Shape {
    let target = *rng.pick(&[SIGNIN, SIGNIN, SCOPED, SCOPED, PUBLIC]);
    let mut label = String::new();
    let (params, mut kind) = match rng.below(20) {
        0..=6 => (
            Some(object_params(rng, target, &mut label)),
            ParamsKind::Object,
        ),
        7..=14 => (
            Some(array_params(rng, target, &mut label)),
            ParamsKind::Array,
        ),
        15 | 16 => (
            Some(scalar_params(rng, target, &mut label)),
            ParamsKind::Scalar,
        ),
        17 => {
            label.push_str("null");
            (Some("null".to_string()), ParamsKind::Null)
        }
        _ => {
            label.push_str("absent");
            (None, ParamsKind::Absent)
        }
    };

    let mut pristine = true;
    let method = if rng.chance(85) {
        *rng.pick(CLEAN_METHODS)
    } else {
        pristine = false;
        *rng.pick(ODD_METHODS)
    };
    let id = match rng.below(20) {
        0..=16 => Some(*rng.pick(VALID_IDS)),
        17 | 18 => {
            pristine = false;
            Some(*rng.pick(INVALID_IDS))
        }
        _ => {
            pristine = false;
            None // a notification
        }
    };
    let jsonrpc = if rng.chance(95) {
        "\"2.0\""
    } else {
        pristine = false;
        *rng.pick(&["\"2.00\"", "2.0", "\"1.0\"", "\"\\u0032.0\"", "null"])
    };
    write!(label, " | method={method} id={}", id.unwrap_or("-")).unwrap();

    let mut fields: Vec<String> = Vec::new();
    if !rng.chance(2) {
        fields.push(format!("\"jsonrpc\":{jsonrpc}"));
    } else {
        pristine = false;
    }
    if let Some(id) = id {
        fields.push(format!("\"id\":{id}"));
    }
    fields.push(format!("\"method\":{method}"));
    if let Some(p) = &params {
        let key = if rng.chance(8) {
            label.push_str(" key=p\\u0061rams");
            "\"p\\u0061rams\""
        } else {
            "\"params\""
        };
        fields.push(format!("{key}:{p}"));
    }
    // Envelope oddities.
    if rng.chance(12) {
        pristine = false;
        let extra = match rng.below(7) {
            0 => format!("\"params\":{{\"name\":{},\"arguments\":{{}}}}", js(PUBLIC)),
            1 => format!("\"params\":[{},{{}}]", js(target)),
            2 => "\"method\":\"ping\"".to_string(),
            3 => "\"method\":\"tools/call\"".to_string(),
            4 => "\"result\":{}".to_string(),
            5 => "\"error\":{\"code\":1,\"message\":\"x\"}".to_string(),
            _ => "\"extra\":{\"params\":{}}".to_string(),
        };
        write!(label, " +{extra}").unwrap();
        if params.is_none() && extra.starts_with("\"params\"") {
            // The only params member: its kind is what counts.
            kind = if extra.contains('[') {
                ParamsKind::Array
            } else {
                ParamsKind::Object
            };
        }
        fields.push(extra);
    }
    rng.shuffle(&mut fields);
    let envelope = format!("{{{}}}", fields.join(","));

    let body = match rng.below(30) {
        0 => {
            pristine = false;
            label.push_str(" +bom");
            format!("\u{feff}{envelope}")
        }
        1 => {
            label.push_str(" +ws");
            format!(" \r\n\t {envelope} \n")
        }
        2 => {
            pristine = false;
            label.push_str(" +batch1");
            format!("[{envelope}]")
        }
        3 => {
            pristine = false;
            label.push_str(" +batch2");
            format!("[{envelope},{envelope}]")
        }
        4 => {
            pristine = false;
            label.push_str(" +trailing");
            format!("{envelope}{}", rng.pick(&["x", "}", "{}", ",", "\u{0}"]))
        }
        5 => {
            pristine = false;
            label.push_str(" +wrapped");
            format!("{{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\",\"params\":{envelope}}}")
        }
        _ => envelope,
    };
    Shape {
        label,
        body,
        target,
        params: kind,
        pristine_call: pristine,
    }
}

fn fixed(label: &str, target: &'static str, params: Option<&str>, kind: ParamsKind) -> Shape {
    let body = match params {
        Some(p) => {
            format!("{{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{p}}}")
        }
        None => "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\"}".to_string(),
    };
    Shape {
        label: format!("fixed: {label}"),
        body,
        target,
        params: kind,
        pristine_call: true,
    }
}

/// The hand-written shapes every run includes (the report's reproducer first).
pub fn fixed_shapes() -> Vec<Shape> {
    use ParamsKind::*;
    let mut v = Vec::new();
    for t in [SIGNIN, SCOPED] {
        v.push(fixed(
            "reproducer [name,{}]",
            t,
            Some(&format!("[\"{t}\",{{}}]")),
            Array,
        ));
        v.push(fixed("[name]", t, Some(&format!("[\"{t}\"]")), Array));
        v.push(fixed(
            "[name,{},{}]",
            t,
            Some(&format!("[\"{t}\",{{}},{{}}]")),
            Array,
        ));
        v.push(fixed(
            "[name,null]",
            t,
            Some(&format!("[\"{t}\",null]")),
            Array,
        ));
        v.push(fixed(
            "[name,{},meta-version]",
            t,
            Some(&format!(
                "[\"{t}\",{{}},{{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}]"
            )),
            Array,
        ));
        v.push(fixed(
            "dup name public first",
            t,
            Some(&format!(
                "{{\"name\":\"public_tool\",\"name\":\"{t}\",\"arguments\":{{}}}}"
            )),
            Object,
        ));
        v.push(fixed(
            "dup name public last",
            t,
            Some(&format!(
                "{{\"name\":\"{t}\",\"name\":\"public_tool\",\"arguments\":{{}}}}"
            )),
            Object,
        ));
        v.push(fixed(
            "dup name via escaped key",
            t,
            Some(&format!(
                "{{\"name\":\"public_tool\",\"n\\u0061me\":\"{t}\"}}"
            )),
            Object,
        ));
        v.push(fixed(
            "well-formed",
            t,
            Some(&format!("{{\"name\":\"{t}\",\"arguments\":{{}}}}")),
            Object,
        ));
        v.push(fixed("name as string params", t, Some(&js(t)), Scalar));
    }
    v.push(fixed(
        "unicode-escaped name",
        SIGNIN,
        Some("{\"name\":\"sig\\u006ein_tool\",\"arguments\":{}}"),
        Object,
    ));
    v.push(fixed(
        "unicode-escaped name in array",
        SIGNIN,
        Some("[\"sig\\u006ein_tool\",{}]"),
        Array,
    ));
    v.push(fixed(
        "arguments as array",
        SCOPED,
        Some("{\"name\":\"scoped_tool\",\"arguments\":[]}"),
        Object,
    ));
    v.push(fixed("null params", SIGNIN, Some("null"), Null));
    v.push(fixed("absent params", SIGNIN, None, Absent));
    v.push(fixed("number params", SIGNIN, Some("7"), Scalar));
    v.push(Shape {
        label: "fixed: envelope params duplicated (object, then array)".into(),
        body: "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"public_tool\",\"arguments\":{}},\"params\":[\"signin_tool\",{}]}".into(),
        target: SIGNIN,
        params: Array,
        pristine_call: false,
    });
    v.push(Shape {
        label: "fixed: envelope method duplicated".into(),
        body: "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"method\":\"tools/call\",\"params\":[\"signin_tool\",{}]}".into(),
        target: SIGNIN,
        params: Array,
        pristine_call: false,
    });
    v.push(Shape {
        label: "fixed: batch of the reproducer".into(),
        body: "[{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":[\"signin_tool\",{}]}]".into(),
        target: SIGNIN,
        params: Array,
        pristine_call: false,
    });
    v.push(Shape {
        label: "fixed: BOM + reproducer".into(),
        body: "\u{feff}{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":[\"signin_tool\",{}]}".into(),
        target: SIGNIN,
        params: Array,
        pristine_call: false,
    });
    v
}

/// The fixed shapes followed by `n` random ones from `seed`.
pub fn generate(seed: u64, n: usize) -> Vec<Shape> {
    let mut rng = Rng::new(seed);
    let mut v = fixed_shapes();
    for _ in 0..n {
        v.push(random_shape(&mut rng));
    }
    v
}

// ---------------------------------------------------------------------------------
// The app under attack
// ---------------------------------------------------------------------------------

/// Who sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Anonymous,
    /// "tok-a": user a, scope `user`.
    TokA,
    /// "tok-b": user b, scopes `user likes:write`.
    TokB,
}

impl Who {
    pub fn token(self) -> Option<&'static str> {
        match self {
            Who::Anonymous => None,
            Who::TokA => Some("tok-a"),
            Who::TokB => Some("tok-b"),
        }
    }
    /// Whether the tool's policy lets this caller run it.
    pub fn may_run(self, tool: &str) -> bool {
        match tool {
            PUBLIC => true,
            SIGNIN => self != Who::Anonymous,
            SCOPED => self == Who::TokB,
            _ => false,
        }
    }
}

/// How often each tool's handler ran.
#[derive(Clone, Default)]
pub struct Counters {
    runs: [Arc<AtomicUsize>; 3],
}

impl Counters {
    pub fn snapshot(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| self.runs[i].load(Ordering::SeqCst))
    }
}

/// What every test tool answers.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Ran {
    tool: String,
    subject: Option<String>,
}

/// A tool that counts how often its handler runs.
fn counting_tool(name: &'static str, runs: Arc<AtomicUsize>) -> Tool {
    Tool::new(name, move |ctx: RequestContext, _: NoInput| {
        runs.fetch_add(1, Ordering::SeqCst);
        let ran = Ran {
            tool: name.into(),
            subject: ctx.user().map(|u| u.subject.clone()),
        };
        async move { Ok::<_, ToolError>(ran) }
    })
}

fn user(sub: &str, scope: &str) -> Result<User, AuthError> {
    User::from_claims(
        json!({"sub": sub, "scope": scope})
            .as_object()
            .unwrap()
            .clone(),
        None,
    )
}

/// The mixed app: one public tool, one needing sign-in, one needing `likes:write`.
pub fn app(resource: &str, c: &Counters) -> App {
    let verifier = FnVerifier(|token: String| async move {
        match token.as_str() {
            "tok-a" => user("a", "user"),
            "tok-b" => user("b", "user likes:write"),
            _ => Err(AuthError::invalid("unknown test token")),
        }
    });
    App::builder("request-shapes", "1.0.0")
        .dev(false)
        .auth(
            AuthConfig::new("https://issuer.example/", resource)
                .unwrap()
                .verifier(verifier),
        )
        .tool(counting_tool(PUBLIC, c.runs[0].clone()).auth(Auth::none()))
        .tool(counting_tool(SIGNIN, c.runs[1].clone()).auth(Auth::required(Vec::<String>::new())))
        .tool(counting_tool(SCOPED, c.runs[2].clone()).auth(Auth::required(["likes:write"])))
        .build()
        .expect("the test app builds")
}

// ---------------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------------

/// What came back for one body.
#[derive(Debug, Default)]
pub struct Answer {
    /// The HTTP status of the POST (none on stdio).
    pub status: Option<u16>,
    /// The JSON-RPC response, from the POST body or the stream.
    pub message: Option<Value>,
    /// Something went wrong in the harness (timeout, stream closed).
    pub stuck: Option<String>,
}

impl Answer {
    pub fn error_code(&self) -> Option<i64> {
        self.message.as_ref()?.get("error")?.get("code")?.as_i64()
    }
    pub fn describe(&self) -> String {
        let msg = self
            .message
            .as_ref()
            .map(|m| cut(&m.to_string(), 220))
            .unwrap_or_else(|| "-".into());
        match (&self.stuck, self.status) {
            (Some(s), _) => format!("STUCK ({s})"),
            (None, Some(st)) => format!("HTTP {st} {msg}"),
            (None, None) => msg,
        }
    }
}

pub fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

fn id_json(id: Option<&Id>) -> Value {
    match id {
        Some(Id::Num(n)) => json!(n),
        Some(Id::Str(s)) => json!(&**s),
        None => Value::Null,
    }
}

/// The id of the answer a connection-bound transport (stdio, legacy SSE) will send for
/// `body`, or `None` when it sends none (notification, response). Used only to know
/// what to wait for.
fn awaited_id(body: &[u8]) -> Option<Value> {
    match jsonrpc::decode(body) {
        Ok(Message::Request(r)) => Some(id_json(r.id.as_ref())),
        Ok(_) => None,
        Err(e) => Some(id_json(e.id.as_ref())),
    }
}

fn is_answer(v: &Value) -> bool {
    v.get("method").is_none() && (v.get("result").is_some() || v.get("error").is_some())
}

/// Incremental reader of an SSE body.
pub struct SseReader {
    body: Incoming,
    buf: String,
}

impl SseReader {
    pub fn new(body: Incoming) -> Self {
        Self {
            body,
            buf: String::new(),
        }
    }

    /// The next event: `(event name, data)`.
    pub async fn next_event(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Result<(String, String), String> {
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..pos + 2).collect();
                let mut event = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() {
                    continue; // a comment (keep-alive)
                }
                return Ok((event, data));
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return Err("timed out waiting for an SSE event".into()),
                Ok(None) => return Err("the SSE stream ended".into()),
                Ok(Some(Err(e))) => return Err(format!("the SSE stream failed: {e}")),
                Ok(Some(Ok(f))) => {
                    if let Some(d) = f.data_ref() {
                        self.buf.push_str(&String::from_utf8_lossy(d));
                    }
                }
            }
        }
    }

    /// Reads messages until the answer with `id`.
    pub async fn answer_to(&mut self, id: &Value) -> Result<Value, String> {
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        loop {
            let (_, data) = self.next_event(deadline).await?;
            if let Ok(v) = serde_json::from_str::<Value>(&data) {
                if is_answer(&v) && v["id"] == *id {
                    return Ok(v);
                }
            }
        }
    }
}

type StdioLines =
    tokio::io::Lines<tokio::io::BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>;

/// One caller's connection over one transport.
pub enum Link {
    /// Streamable HTTP with a session (2025-06-18).
    Session {
        s: Arc<TestServer>,
        sid: String,
        who: Who,
    },
    /// Streamable HTTP, stateless 2026-07-28; `routed` adds `Mcp-Method`/`Mcp-Name`.
    Stateless {
        s: Arc<TestServer>,
        who: Who,
        routed: bool,
    },
    /// Legacy HTTP+SSE: POSTs to `endpoint`, answers on `stream`.
    Sse {
        s: Arc<TestServer>,
        endpoint: String,
        stream: SseReader,
        who: Who,
    },
    /// stdio over an in-memory pipe (no tokens on stdio: always anonymous).
    Stdio {
        w: tokio::io::WriteHalf<tokio::io::DuplexStream>,
        lines: StdioLines,
    },
}

static BARRIER: AtomicUsize = AtomicUsize::new(0);

fn with_token(mut b: http::request::Builder, who: Who) -> http::request::Builder {
    if let Some(t) = who.token() {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b
}

impl Link {
    pub async fn session(s: &Arc<TestServer>, who: Who) -> Link {
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"attacker","version":"1"}}});
        let r = s
            .send(
                with_token(s.request("POST", "/mcp"), who)
                    .body(Full::new(Bytes::from(init.to_string())))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 200, "initialize failed: {}", r.text());
        let sid = r
            .header("mcp-session-id")
            .expect("a session id")
            .to_string();
        let n = s
            .send(
                with_token(s.request("POST", "/mcp"), who)
                    .header("mcp-session-id", &sid)
                    .header("mcp-protocol-version", "2025-06-18")
                    .body(Full::new(Bytes::from(
                        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                    )))
                    .unwrap(),
            )
            .await;
        assert_eq!(n.status, 202, "notifications/initialized: {}", n.text());
        Link::Session {
            s: s.clone(),
            sid,
            who,
        }
    }

    pub fn stateless(s: &Arc<TestServer>, who: Who, routed: bool) -> Link {
        Link::Stateless {
            s: s.clone(),
            who,
            routed,
        }
    }

    pub async fn sse(s: &Arc<TestServer>, who: Who) -> Link {
        let resp = s
            .stream(
                with_token(http::Request::get(s.url("/sse")), who)
                    .header("accept", "text/event-stream")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await;
        assert_eq!(resp.status(), 200, "GET /sse");
        let mut stream = SseReader::new(resp.into_body());
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        let (event, endpoint) = stream
            .next_event(deadline)
            .await
            .expect("an endpoint event");
        assert_eq!(event, "endpoint");
        assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
        let mut link = Link::Sse {
            s: s.clone(),
            endpoint,
            stream,
            who,
        };
        let a = link
            .send(r#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"attacker","version":"1"}}}"#, None)
            .await;
        assert!(
            a.message
                .as_ref()
                .is_some_and(|m| m["result"]["protocolVersion"].is_string()),
            "legacy initialize: {}",
            a.describe()
        );
        link.send(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            None,
        )
        .await;
        link
    }

    /// Serves `server` over stdio on an in-memory pipe; returns the link and the task.
    pub async fn stdio(
        server: widgetry::Server,
    ) -> (Link, tokio::task::JoinHandle<std::io::Result<()>>) {
        let (client, server_io) = tokio::io::duplex(1 << 20);
        let (sr, sw) = tokio::io::split(server_io);
        let task = tokio::spawn(widgetry::transport::serve_io(server, sr, sw));
        let (cr, w) = tokio::io::split(client);
        let mut link = Link::Stdio {
            w,
            lines: tokio::io::BufReader::new(cr).lines(),
        };
        let a = link
            .send(r#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"attacker","version":"1"}}}"#, None)
            .await;
        assert!(
            a.message
                .as_ref()
                .is_some_and(|m| m["result"]["protocolVersion"].is_string()),
            "stdio initialize: {}",
            a.describe()
        );
        link.send(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            None,
        )
        .await;
        (link, task)
    }

    pub fn who(&self) -> Who {
        match self {
            Link::Session { who, .. } | Link::Stateless { who, .. } | Link::Sse { who, .. } => *who,
            Link::Stdio { .. } => Who::Anonymous,
        }
    }

    /// Sends one body (`target`: the tool named in routing headers) and returns the
    /// answer once the server is done with it.
    pub async fn send(&mut self, body: &str, target: Option<&str>) -> Answer {
        match self {
            Link::Session { s, sid, who } => {
                let req = with_token(s.request("POST", "/mcp"), *who)
                    .header("mcp-session-id", sid.as_str())
                    .header("mcp-protocol-version", "2025-06-18")
                    .body(Full::new(Bytes::from(body.to_string())))
                    .unwrap();
                http_answer(s.send(req).await)
            }
            Link::Stateless { s, who, routed } => {
                let mut b = with_token(s.request("POST", "/mcp"), *who)
                    .header("mcp-protocol-version", "2026-07-28");
                if *routed {
                    b = b.header("mcp-method", "tools/call");
                    if let Some(t) = target {
                        b = b.header("mcp-name", t);
                    }
                }
                http_answer(
                    s.send(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
                        .await,
                )
            }
            Link::Sse {
                s,
                endpoint,
                stream,
                who,
            } => {
                let req = with_token(s.request("POST", endpoint), *who)
                    .body(Full::new(Bytes::from(body.to_string())))
                    .unwrap();
                let r = s.send(req).await;
                if r.status != 202 {
                    return http_answer(r);
                }
                let status = Some(202);
                match awaited_id(body.as_bytes()) {
                    Some(id) => match stream.answer_to(&id).await {
                        Ok(m) => Answer {
                            status,
                            message: Some(m),
                            stuck: None,
                        },
                        Err(e) => Answer {
                            status,
                            message: None,
                            stuck: Some(e),
                        },
                    },
                    None => {
                        // No answer comes: make sure the server is done with it.
                        let id = barrier_id();
                        let ping =
                            format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}");
                        let r = s
                            .send(
                                with_token(s.request("POST", endpoint), *who)
                                    .body(Full::new(Bytes::from(ping)))
                                    .unwrap(),
                            )
                            .await;
                        let stuck = if r.status != 202 {
                            Some(format!("barrier ping got HTTP {}", r.status))
                        } else {
                            stream.answer_to(&id).await.err()
                        };
                        Answer {
                            status,
                            message: None,
                            stuck,
                        }
                    }
                }
            }
            Link::Stdio { w, lines } => {
                // One message per line: JSON whitespace newlines become spaces.
                let line: String = body
                    .chars()
                    .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
                    .collect();
                let trimmed = line.trim_ascii();
                let awaited = if trimmed.is_empty() {
                    None
                } else {
                    awaited_id(trimmed.as_bytes())
                };
                let write = async {
                    w.write_all(line.as_bytes()).await?;
                    w.write_all(b"\n").await?;
                    w.flush().await
                };
                if let Err(e) = write.await {
                    return Answer {
                        stuck: Some(format!("stdio write failed: {e}")),
                        ..Default::default()
                    };
                }
                let (id, message_wanted) = match awaited {
                    Some(id) => (id, true),
                    None => {
                        let id = barrier_id();
                        let ping =
                            format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n");
                        if let Err(e) = w.write_all(ping.as_bytes()).await {
                            return Answer {
                                stuck: Some(format!("stdio write failed: {e}")),
                                ..Default::default()
                            };
                        }
                        (id, false)
                    }
                };
                let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
                loop {
                    match tokio::time::timeout_at(deadline, lines.next_line()).await {
                        Err(_) => {
                            return Answer {
                                stuck: Some(format!("no stdio answer with id {id}")),
                                ..Default::default()
                            }
                        }
                        Ok(Err(e)) => {
                            return Answer {
                                stuck: Some(format!("stdio read failed: {e}")),
                                ..Default::default()
                            }
                        }
                        Ok(Ok(None)) => {
                            return Answer {
                                stuck: Some("stdio closed".into()),
                                ..Default::default()
                            }
                        }
                        Ok(Ok(Some(l))) => {
                            let Ok(v) = serde_json::from_str::<Value>(&l) else {
                                continue;
                            };
                            if is_answer(&v) && v["id"] == id {
                                return Answer {
                                    status: None,
                                    message: message_wanted.then_some(v),
                                    stuck: None,
                                };
                            }
                        }
                    }
                }
            }
        }
    }
}

fn barrier_id() -> Value {
    json!(format!(
        "barrier-{}",
        BARRIER.fetch_add(1, Ordering::SeqCst)
    ))
}

fn http_answer(r: crate::common::Reply) -> Answer {
    let is_sse = r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/event-stream"));
    let message = if is_sse {
        r.sse_messages()
            .into_iter()
            .map(|(_, v)| v)
            .rfind(is_answer)
    } else if r.body.is_empty() {
        None
    } else {
        serde_json::from_slice(&r.body).ok()
    };
    Answer {
        status: Some(r.status),
        message,
        stuck: None,
    }
}

// ---------------------------------------------------------------------------------
// The invariant
// ---------------------------------------------------------------------------------

/// Findings of one transport's run.
pub struct Report {
    pub transport: String,
    pub requests: usize,
    pub per_who: Vec<(Who, usize)>,
    /// A tool ran although its policy refuses the caller.
    pub bypasses: Vec<String>,
    /// Bypasses by caller, tool and kind of `params`.
    pub bypass_kinds: std::collections::BTreeMap<String, usize>,
    /// An answer other than the one a correct server gives (wrong error code).
    pub wrong_answers: Vec<String>,
    /// A well-formed call that should run (or be refused) did not behave so.
    pub control_failures: Vec<String>,
    /// 5xx, timeouts, closed streams.
    pub broken: Vec<String>,
    /// Runs per tool per caller, over the whole run.
    pub runs: Vec<(Who, [usize; 3])>,
}

impl Report {
    pub fn new(transport: impl Into<String>) -> Self {
        Report {
            transport: transport.into(),
            requests: 0,
            per_who: Vec::new(),
            bypasses: Vec::new(),
            bypass_kinds: Default::default(),
            wrong_answers: Vec::new(),
            control_failures: Vec::new(),
            broken: Vec::new(),
            runs: Vec::new(),
        }
    }

    fn count(&mut self, who: Who, n: usize) {
        self.requests += n;
        match self.per_who.iter_mut().find(|(w, _)| *w == who) {
            Some((_, c)) => *c += n,
            None => self.per_who.push((who, n)),
        }
    }

    fn add_runs(&mut self, who: Who, d: [usize; 3]) {
        let slot = match self.runs.iter().position(|(w, _)| *w == who) {
            Some(i) => i,
            None => {
                self.runs.push((who, [0; 3]));
                self.runs.len() - 1
            }
        };
        for (total, n) in self.runs[slot].1.iter_mut().zip(d) {
            *total += n;
        }
    }

    /// Prints the counts and panics with every finding (first few of each kind).
    pub fn finish(self) {
        let per: Vec<String> = self
            .per_who
            .iter()
            .map(|(w, n)| format!("{w:?}: {n}"))
            .collect();
        println!(
            "[request_shapes] {}: {} requests ({})",
            self.transport,
            self.requests,
            per.join(", ")
        );
        for (w, r) in &self.runs {
            println!(
                "[request_shapes] {}: runs as {w:?}: {PUBLIC}={} {SIGNIN}={} {SCOPED}={}",
                self.transport, r[0], r[1], r[2]
            );
        }
        let mut out = String::new();
        if !self.bypass_kinds.is_empty() {
            writeln!(out, "\nbypasses by caller, tool and params kind:").unwrap();
            for (k, n) in &self.bypass_kinds {
                writeln!(out, "  {k}: {n}").unwrap();
            }
        }
        for (what, list) in [
            (
                "a tool ran although its policy refuses the caller",
                &self.bypasses,
            ),
            (
                "a well-formed control call misbehaved",
                &self.control_failures,
            ),
            (
                "wrong answer (non-object params for tools/call must be -32602)",
                &self.wrong_answers,
            ),
            ("server error, timeout or broken stream", &self.broken),
        ] {
            if list.is_empty() {
                continue;
            }
            writeln!(out, "\n{} × {what}:", list.len()).unwrap();
            for f in list.iter().take(8) {
                writeln!(out, "  - {f}").unwrap();
            }
            if list.len() > 8 {
                writeln!(out, "  … and {} more", list.len() - 8).unwrap();
            }
        }
        if !out.is_empty() {
            panic!("{} ({} requests):{out}", self.transport, self.requests);
        }
    }
}

/// Sends every shape over `link` and checks, after each, that only tools the caller
/// may use ran, and that the answer is the required one.
pub async fn attack(link: &mut Link, shapes: &[Shape], counters: &Counters, report: &mut Report) {
    let who = link.who();
    let routed = matches!(link, Link::Stateless { routed: true, .. });
    let start = counters.snapshot();
    let mut attributed = [0usize; 3];
    let mut stuck = 0;
    for shape in shapes {
        let before = counters.snapshot();
        let answer = link.send(&shape.body, Some(shape.target)).await;
        let after = counters.snapshot();
        let delta = [0, 1, 2].map(|i| after[i] - before[i]);
        report.count(who, 1);
        report.add_runs(who, delta);
        for i in 0..3 {
            attributed[i] += delta[i];
        }
        let where_ = || {
            format!(
                "{who:?} [{}] {} → {}",
                shape.label,
                cut(&shape.body, 200),
                answer.describe()
            )
        };
        for (i, tool) in TOOLS.iter().enumerate() {
            if delta[i] > 0 && !who.may_run(tool) {
                report.bypasses.push(format!("ran {tool}: {}", where_()));
                let routing = if routed {
                    " (Mcp-Name/Mcp-Method sent)"
                } else {
                    ""
                };
                *report
                    .bypass_kinds
                    .entry(format!(
                        "{who:?} ran {tool}, params {:?}{routing}",
                        shape.params
                    ))
                    .or_default() += 1;
            }
        }
        if let Some(s) = &answer.stuck {
            report.broken.push(format!("{s}: {}", where_()));
            stuck += 1;
            if stuck >= 3 {
                report
                    .broken
                    .push("giving up on this link after 3 stuck requests".into());
                return;
            }
            continue;
        }
        if answer.status.is_some_and(|s| s >= 500) {
            report.broken.push(where_());
        }
        if let Expect::ErrorCode(codes) = shape.expect(routed) {
            if !answer.error_code().is_some_and(|c| codes.contains(&c)) {
                report
                    .wrong_answers
                    .push(format!("expected error {codes:?}: {}", where_()));
            }
        }
    }
    // Late runs (a handler finishing after its answer was read) are caught here.
    let _ = link
        .send(r#"{"jsonrpc":"2.0","id":"final","method":"ping"}"#, None)
        .await;
    let end = counters.snapshot();
    for (i, tool) in TOOLS.iter().enumerate() {
        let late = (end[i] - start[i]) - attributed[i];
        if late > 0 && !who.may_run(tool) {
            report
                .bypasses
                .push(format!("{late} late run(s) of {tool} as {who:?}"));
        }
    }
}

/// What a well-formed control call must do.
#[derive(Debug, Clone, Copy)]
pub enum Control {
    /// The tool runs once and answers a non-error result.
    Runs,
    /// Sent as ChatGPT sends it (`openai/*` request `_meta`): the tool does not run; a
    /// tool result with `isError` and the sign-in challenge.
    ChallengeResult,
    /// The tool does not run; the POST is refused with this HTTP status.
    Refused(u16),
    /// The tool does not run (any answer).
    DoesNotRun,
}

/// Sends one well-formed `tools/call` and checks it against `expect`.
pub async fn control(
    link: &mut Link,
    tool: &'static str,
    expect: Control,
    counters: &Counters,
    report: &mut Report,
) {
    let who = link.who();
    let mut meta = serde_json::Map::new();
    if let Control::ChallengeResult = expect {
        meta.insert("openai/locale".into(), json!("en-US"));
    }
    // A 2026-07-28 request carries the `_meta` that revision requires; the others
    // name no 2026 version (their version comes from the session or the transport).
    if matches!(link, Link::Stateless { .. }) {
        meta.insert(
            "io.modelcontextprotocol/protocolVersion".into(),
            json!("2026-07-28"),
        );
        meta.insert(
            "io.modelcontextprotocol/clientCapabilities".into(),
            json!({}),
        );
    }
    let body = json!({"jsonrpc": "2.0", "id": "control", "method": "tools/call",
        "params": {"name": tool, "arguments": {}, "_meta": meta}})
    .to_string();
    let i = TOOLS.iter().position(|t| *t == tool).unwrap();
    let before = counters.snapshot()[i];
    let a = link.send(&body, Some(tool)).await;
    let ran = counters.snapshot()[i] - before;
    report.count(who, 1);
    let result = a.message.as_ref().map(|m| &m["result"]);
    let ok = match expect {
        Control::Runs => {
            ran == 1 && result.is_some_and(|r| r.is_object() && r["isError"] != json!(true))
        }
        Control::ChallengeResult => {
            ran == 0
                && result.is_some_and(|r| {
                    r["isError"] == json!(true) && r["_meta"]["mcp/www_authenticate"].is_array()
                })
        }
        Control::Refused(st) => ran == 0 && a.status == Some(st),
        Control::DoesNotRun => ran == 0,
    };
    if !ok {
        report.control_failures.push(format!(
            "{who:?} calling {tool} (expected {expect:?}; ran {ran}×) → {}",
            a.describe()
        ));
    }
}
