//! Seeded, bounded in-test fuzzers for the parsers an attacker reaches first:
//!
//! - `jsonrpc::decode` on mutations of valid messages (byte flips, truncation, inserted
//!   brackets/quotes/escapes/huge numbers, deep nesting): never panics, every error
//!   carries a standard code, nothing that is not JSON is accepted;
//! - `parse_params` into a params struct: never panics, errors are `-32602`;
//! - the bearer/JWT path (`JwtVerifier` on a static JWKS, `AuthState::authenticate`) on
//!   mutations of one valid token: never panics, never accepts a token whose signature
//!   does not match what it presents, never accepts a token with an absurd `exp`.
//!
//! Every fuzzer uses a fixed seed and a fixed number of executions, and prints them.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

#[path = "common/signer.rs"]
mod signer;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use signer::{b64, now, Signer, KID};
use widgetry::auth::{AuthState, Caller, JwtVerifier, Verifier};
use widgetry::protocol::jsonrpc::{self, code, Message};
use widgetry::AuthConfig;

// ---------------------------------------------------------------------------------
// PRNG and mutations
// ---------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const INSERTS: &[&str] = &[
    "[",
    "{",
    "\"",
    "]",
    "}",
    ",",
    ":",
    "\\",
    "\\u0000",
    "\u{0}",
    "\\ud800",
    "\u{feff}",
    "1e999999",
    "18446744073709551616",
    "-9223372036854775809",
    "99999999999999999999999999999999999999",
    "-0",
    "1.5",
    "null",
    "\"params\":",
    "\"id\":",
    "\"method\":",
    "\"jsonrpc\":\"2.0\",",
    "\u{e9}",
    "\n",
];

/// One random edit of `b`.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>) {
    let len = b.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            b[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            b.truncate(rng.below(len));
        }
        2 | 3 => {
            let i = rng.below(len + 1);
            let ins = rng.pick(INSERTS).as_bytes();
            b.splice(i..i, ins.iter().copied());
        }
        4 if len > 0 => {
            let i = rng.below(len);
            let j = (i + 1 + rng.below(16)).min(len);
            b.drain(i..j);
        }
        5 if len > 0 => {
            let i = rng.below(len);
            let j = (i + 1 + rng.below(24)).min(len);
            let chunk: Vec<u8> = b[i..j].to_vec();
            let k = rng.below(len + 1);
            b.splice(k..k, chunk);
        }
        6 if len > 0 => {
            let i = rng.below(len);
            b[i] = rng.next_u64() as u8;
        }
        7 => {
            // Deep nesting somewhere in the message, up to a few thousand levels.
            let depth = 1 + rng.below(3000);
            let (open, close) = if rng.chance(50) {
                ("[", "]")
            } else {
                ("{\"a\":", "}")
            };
            let mut nest = open.repeat(depth);
            if rng.chance(70) {
                nest.push('1');
                nest.push_str(&close.repeat(depth));
            }
            let i = rng.below(len + 1);
            b.splice(i..i, nest.into_bytes());
        }
        _ => {
            // Replace a quoted token by another quoted token.
            let i = rng.below(len + 1);
            let tok = rng.pick(&["\"tools/call\"", "\"\"", "\"\\u0074\"", "[]", "{}", "0"]);
            b.splice(i..i, tok.bytes());
        }
    }
}

const VALID_MESSAGES: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"signin_tool","arguments":{}}}"#,
    r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":["signin_tool",{}]}"#,
    r#"{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"name":"x","arguments":{"q":[1,2,{"r":null}]},"_meta":{"progressToken":1,"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
    r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"x"}}"#,
    r#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"isError":false}}"#,
    r#"{"jsonrpc":"2.0","id":"s","error":{"code":-32601,"message":"nope","data":{"x":1}}}"#,
    r#"{"jsonrpc":"2.0","id":9223372036854775807,"method":"ping"}"#,
    r#"  {"method":"resources/read","params":{"uri":"ui://widget/a.html"},"id":-1,"jsonrpc":"2.0"}  "#,
    r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
];

fn is_json(b: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok()
}

// ---------------------------------------------------------------------------------
// (a) jsonrpc::decode
// ---------------------------------------------------------------------------------

const DECODE_RUNS: usize = 20_000;

#[test]
fn decode_survives_mutated_messages_and_answers_with_standard_codes() {
    let mut rng = Rng::new(0xdec0de);
    let mut seen = [0usize; 4]; // request, notification, response, error
    for run in 0..DECODE_RUNS {
        let mut body = rng.pick(VALID_MESSAGES).as_bytes().to_vec();
        for _ in 0..1 + rng.below(3) {
            mutate(&mut rng, &mut body);
        }
        let shown = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<usize, String> {
            match jsonrpc::decode(&body) {
                Err(e) => {
                    // -32602: params that are not an object (MCP's params always are).
                    if ![
                        code::PARSE_ERROR,
                        code::INVALID_REQUEST,
                        code::INVALID_PARAMS,
                    ]
                    .contains(&e.error.code)
                    {
                        return Err(format!("non-standard decode error code {}", e.error.code));
                    }
                    if e.error.message.is_empty() {
                        return Err("empty error message".into());
                    }
                    let wire = jsonrpc::encode_error(e.id.as_ref(), &e.error);
                    let v: Value = serde_json::from_slice(&wire)
                        .map_err(|x| format!("the error response is not JSON ({x})"))?;
                    if v["error"]["code"] != json!(e.error.code) {
                        return Err(format!("error response lost its code: {v}"));
                    }
                    Ok(3)
                }
                Ok(m) => {
                    if !is_json(&body) {
                        return Err("decode accepted a body that is not JSON".into());
                    }
                    match m {
                        Message::Request(r) | Message::Notification(r) => {
                            if r.method.is_empty() {
                                return Err("empty method accepted".into());
                            }
                            if let Some(p) = r.params {
                                if !p.get().starts_with('{') {
                                    return Err(format!("params accepted as {}", p.get()));
                                }
                            }
                            Ok(if r.id.is_some() { 0 } else { 1 })
                        }
                        Message::Response { .. } => Ok(2),
                    }
                }
            }
        }));
        match outcome {
            Ok(Ok(k)) => seen[k] += 1,
            Ok(Err(why)) => panic!("run {run}: {why}: {}", shown()),
            Err(_) => panic!("run {run}: decode panicked on {}", shown()),
        }
    }
    println!(
        "[fuzz] jsonrpc::decode: {DECODE_RUNS} executions: {} requests, {} notifications, {} responses, {} errors",
        seen[0], seen[1], seen[2], seen[3]
    );
    // The mutations must leave some messages valid, or the fuzzer tests nothing but errors.
    assert!(seen[0] > 100 && seen[3] > 100, "{seen:?}");
}

// ---------------------------------------------------------------------------------
// (b) parse_params
// ---------------------------------------------------------------------------------

/// A params struct like the engine's `tools/call` params.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct CallParams {
    name: String,
    #[serde(default)]
    arguments: Option<serde_json::Map<String, Value>>,
    #[serde(rename = "_meta", default)]
    meta: Option<Value>,
}

fn rand_json(rng: &mut Rng, depth: usize) -> String {
    let k = if depth > 4 {
        rng.below(5)
    } else {
        rng.below(8)
    };
    match k {
        0 => rng.pick(&["null", "true", "false"]).to_string(),
        1 => rng
            .pick(&[
                "0",
                "-1",
                "1.5e300",
                "18446744073709551616",
                "1e-400",
                "9223372036854775807",
            ])
            .to_string(),
        2..=4 => rng
            .pick(&[
                "\"signin_tool\"",
                "\"sig\\u006ein_tool\"",
                "\"\"",
                "\"\\ud83d\\ude00\"",
                "\"\\u0000\"",
                "\"a\\\"b\"",
            ])
            .to_string(),
        5 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| rand_json(rng, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let n = rng.below(5);
            let items: Vec<String> = (0..n)
                .map(|_| {
                    let key = rng.pick(&[
                        "\"name\"",
                        "\"name\"",
                        "\"arguments\"",
                        "\"_meta\"",
                        "\"n\\u0061me\"",
                        "\"x\"",
                        "\"\"",
                    ]);
                    format!("{key}:{}", rand_json(rng, depth + 1))
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

const PARAMS_RUNS: usize = 20_000;

#[test]
fn parse_params_survives_arbitrary_params_and_answers_invalid_params() {
    let mut rng = Rng::new(0x9a4a_3500);
    let (mut ok, mut err, mut not_json) = (0usize, 0usize, 0usize);
    for run in 0..PARAMS_RUNS {
        let mut text = rand_json(&mut rng, 0).into_bytes();
        if rng.chance(30) {
            mutate(&mut rng, &mut text);
        }
        let Ok(text) = String::from_utf8(text) else {
            not_json += 1;
            continue;
        };
        let Ok(raw) = serde_json::from_str::<Box<RawValue>>(&text) else {
            not_json += 1;
            continue;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let via_fn = jsonrpc::parse_params::<CallParams>(Some(&raw), "tools/call");
            let req = jsonrpc::Request {
                id: None,
                method: "tools/call".into(),
                params: Some(&raw),
            };
            let via_req = req.parse_params::<CallParams>();
            (via_fn, via_req)
        }));
        let Ok((via_fn, via_req)) = outcome else {
            panic!("run {run}: parse_params panicked on {text}");
        };
        assert_eq!(
            via_fn.is_ok(),
            via_req.is_ok(),
            "run {run}: the two entry points disagree on {text}"
        );
        match via_fn {
            Ok(p) => {
                ok += 1;
                // When the params are an object, the name read is the one a JSON reader sees.
                if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(&text) {
                    assert_eq!(
                        o.get("name").and_then(Value::as_str),
                        Some(p.name.as_str()),
                        "run {run}: {text}"
                    );
                }
            }
            Err(e) => {
                err += 1;
                assert_eq!(e.code, code::INVALID_PARAMS, "run {run}: {text}: {e}");
                assert!(e.message.contains("tools/call"), "run {run}: {e}");
            }
        }
    }
    // Absent and null params read as {}: no name, so invalid.
    assert_eq!(
        jsonrpc::parse_params::<CallParams>(None, "tools/call")
            .unwrap_err()
            .code,
        code::INVALID_PARAMS
    );
    println!(
        "[fuzz] parse_params: {PARAMS_RUNS} executions: {ok} parsed, {err} refused with -32602, {not_json} inputs not JSON (skipped)"
    );
    assert!(ok > 100 && err > 100, "ok {ok}, err {err}");
}

/// The root cause of the array-params bypass: serde's derived `Deserialize` fills a
/// struct from a JSON array positionally. MCP params are objects; a params struct must
/// never be filled from `["signin_tool", {}]`.
#[test]
fn positional_array_params_never_fill_a_params_struct() {
    let mut accepted = Vec::new();
    for text in [
        r#"["signin_tool",{}]"#,
        r#"["signin_tool"]"#,
        r#"["signin_tool",{},{}]"#,
        r#"["signin_tool",null,null]"#,
    ] {
        let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
        match jsonrpc::parse_params::<CallParams>(Some(&raw), "tools/call") {
            Ok(p) => accepted.push(format!("{text} → {p:?}")),
            Err(e) => assert_eq!(e.code, code::INVALID_PARAMS, "{text}: {e}"),
        }
    }
    assert!(
        accepted.is_empty(),
        "parse_params filled a params struct from a JSON array:\n  {}",
        accepted.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------
// (c) bearer tokens and JWT verification
// ---------------------------------------------------------------------------------

const ISS: &str = "https://issuer.example/";
const AUD: &str = "http://127.0.0.1:8000/mcp";

fn good_claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "user-1", "scope": "user", "exp": now() + 600, "iat": now()})
}

fn verifier(signer: &Signer) -> JwtVerifier {
    let v = JwtVerifier::builder(ISS, AUD)
        .leeway(Duration::from_secs(60))
        .jwks(signer.jwks())
        .build();
    assert!(v.has_keys(), "the static JWKS was not installed");
    v
}

const B64_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// One random edit of a compact JWS.
fn mutate_token(rng: &mut Rng, signer: &Signer, token: &str) -> (String, &'static str) {
    // Always three parts to work with (a previous mutation may have removed some).
    let mut parts: Vec<&str> = token.split('.').collect();
    parts.resize(parts.len().max(3), "");
    let mut b = token.as_bytes().to_vec();
    if b.is_empty() {
        b.push(b'.');
    }
    match rng.below(14) {
        0 => {
            // Replace one base64 character.
            let i = rng.below(b.len());
            if b[i] != b'.' {
                b[i] = *rng.pick(B64_CHARS);
            }
            (String::from_utf8(b).unwrap(), "char")
        }
        1 => {
            let i = rng.below(b.len());
            b.truncate(i);
            (String::from_utf8(b).unwrap(), "truncate")
        }
        2 => {
            let mut p = parts.clone();
            let (i, j) = (rng.below(3), rng.below(3));
            p.swap(i, j);
            (p.join("."), "swap")
        }
        3 => {
            let extras = ["", "x", parts[2], parts[0]];
            let extra = rng.pick(&extras);
            (format!("{token}.{extra}"), "4 parts")
        }
        4 => (format!("{}.{}", parts[0], parts[1]), "2 parts"),
        5 => {
            let i = rng.below(b.len() + 1);
            let ins = rng.pick(&[
                "=", "==", "+", "/", " ", ".", "\t", "%3D", "\u{e9}", "\u{0}",
            ]);
            b.splice(i..i, ins.bytes());
            (String::from_utf8_lossy(&b).into_owned(), "insert")
        }
        6 => {
            // Another header, the original claims and signature.
            let h = rng.pick(&[
                r#"{"alg":"none","typ":"JWT","kid":"k1"}"#,
                r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#,
                r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#,
                r#"{"alg":"ES256","typ":"JWT","kid":"k1"}"#,
                r#"{"alg":"eddsa","kid":"k1"}"#,
                r#"{"alg":"EdDSA"}"#,
                r#"{"alg":"EdDSA","kid":"k1","crit":["exp"]}"#,
                r#"{"alg":"EdDSA","kid":1}"#,
                r#"{"alg":"EdDSA","kid":"k1","typ":"JWT","typ":"at+jwt"}"#,
                r#"{"alg":"EdDSA","kid":"k1","alg":"none"}"#,
                r#"{"alg":["EdDSA"],"kid":"k1"}"#,
                r#"[]"#,
            ]);
            (
                format!("{}.{}.{}", b64(h.as_bytes()), parts[1], parts[2]),
                "header swap",
            )
        }
        7 => {
            // alg none with an empty signature.
            let h = b64(br#"{"alg":"none","typ":"JWT"}"#);
            (format!("{h}.{}.", parts[1]), "alg none")
        }
        8 => {
            // HS256 "signed" with the public key as the HMAC secret (key confusion).
            let h = b64(br#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#);
            let input = format!("{h}.{}", parts[1]);
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, signer.public());
            let tag = ring::hmac::sign(&key, input.as_bytes());
            (format!("{input}.{}", b64(tag.as_ref())), "hs256 confusion")
        }
        9 => {
            // Other claims under the original signature.
            let mut c = good_claims();
            c["scope"] = json!("user likes:write admin");
            (
                format!(
                    "{}.{}.{}",
                    parts[0],
                    b64(c.to_string().as_bytes()),
                    parts[2]
                ),
                "claims swap",
            )
        }
        10 => {
            // Signature of another message.
            let other =
                signer.sign(&json!({"iss": ISS, "aud": AUD, "sub": "other", "exp": now() + 600}));
            let sig = other.rsplit('.').next().unwrap();
            (
                format!("{}.{}.{sig}", parts[0], parts[1]),
                "foreign signature",
            )
        }
        11 => {
            // Padding and standard-alphabet variants of the same bytes.
            let p: Vec<String> = parts
                .iter()
                .map(|s| {
                    let mut s = s.replace('-', "+").replace('_', "/");
                    while s.len() % 4 != 0 {
                        s.push('=');
                    }
                    s
                })
                .collect();
            (p.join("."), "std alphabet")
        }
        12 => {
            // Flip one bit of the signature's decoded bytes.
            let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[2])
                .unwrap_or_else(|_| vec![0]);
            if sig.is_empty() {
                sig.push(0);
            }
            let i = rng.below(sig.len());
            sig[i] ^= 1 << rng.below(8);
            (
                format!("{}.{}.{}", parts[0], parts[1], b64(&sig)),
                "sig bit",
            )
        }
        _ => {
            // A huge token.
            (format!("{token}{}", "A".repeat(9000)), "huge")
        }
    }
}

/// Validly signed tokens with hostile claims.
fn hostile_claims(rng: &mut Rng) -> (String, &'static str) {
    let n = now();
    let base = format!(r#""iss":"{ISS}","aud":"{AUD}","sub":"user-1","scope":"user""#);
    let (claims, what) = match rng.below(16) {
        0 => (format!(r#"{{{base},"exp":1e30}}"#), "exp 1e30"),
        1 => (
            format!(r#"{{{base},"exp":18446744073709551616}}"#),
            "exp 2^64",
        ),
        2 => (format!(r#"{{{base},"exp":1e20}}"#), "exp 1e20"),
        3 => (format!(r#"{{{base},"exp":-1}}"#), "exp negative"),
        4 => (format!(r#"{{{base},"exp":"{}"}}"#, n + 600), "exp string"),
        5 => (format!(r#"{{{base},"exp":null}}"#), "exp null"),
        6 => (format!(r#"{{{base}}}"#), "no exp"),
        7 => (
            format!(r#"{{{base},"exp":{{"$numberLong":"{}"}}}}"#, n + 600),
            "exp object",
        ),
        8 => (format!(r#"{{{base},"exp":[{}]}}"#, n + 600), "exp array"),
        9 => (
            format!(
                r#"{{"iss":"{ISS}","aud":"{AUD}","sub":{{"sub":"user-1"}},"exp":{}}}"#,
                n + 600
            ),
            "sub nested",
        ),
        10 => (
            format!(
                r#"{{"iss":"{ISS}","aud":["x",{{"aud":"{AUD}"}}],"sub":"u","exp":{}}}"#,
                n + 600
            ),
            "aud nested",
        ),
        11 => (
            format!(
                r#"{{"iss":"{ISS}x","aud":"{AUD}","sub":"u","exp":{}}}"#,
                n + 600
            ),
            "wrong iss",
        ),
        12 => (
            format!(r#"{{{base},"exp":{},"nbf":1e30}}"#, n + 600),
            "nbf 1e30",
        ),
        13 => (
            format!(r#"{{{base},"exp":{},"exp":1e30}}"#, n + 600),
            "exp duplicated",
        ),
        14 => (format!(r#"{{{base},"exp":{}.5}}"#, n - 3600), "expired"),
        _ => (
            format!(
                r#"{{{base},"exp":{},"x":{}1{}}}"#,
                n + 600,
                "[".repeat(200),
                "]".repeat(200)
            ),
            "deeply nested claim",
        ),
    };
    (claims, what)
}

/// What a verified token's claims must satisfy, whatever the verifier's internals.
fn claims_are_acceptable(claims: &Value) -> bool {
    let n = now() as f64;
    claims["iss"] == json!(ISS)
        && (claims["aud"] == json!(AUD)
            || claims["aud"]
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string) && a.contains(&json!(AUD))))
        && claims["sub"].as_str().is_some_and(|s| !s.trim().is_empty())
        && claims["exp"].as_f64().is_some_and(|e| e + 60.0 > n)
}

fn decoded_claims(token: &str) -> Option<Value> {
    let p = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

const JWT_RUNS: usize = 20_000;

#[tokio::test]
async fn jwt_verification_survives_mutated_tokens_and_accepts_only_valid_signatures() {
    let signer = Signer::new();
    let v = verifier(&signer);
    let good = signer.sign(&good_claims());
    let user = v.verify(&good).await.expect("the unmutated token verifies");
    assert_eq!(user.subject, "user-1");

    let mut rng = Rng::new(0x1a7_70c3);
    let mut accepted = 0usize;
    let mut kinds: HashMap<&'static str, (usize, usize)> = HashMap::new();
    for run in 0..JWT_RUNS {
        let (token, what) = if rng.chance(15) {
            let (claims, what) = hostile_claims(&mut rng);
            let h = json!({"alg": "EdDSA", "typ": "JWT", "kid": KID}).to_string();
            (signer.sign_raw(&h, &claims), what)
        } else {
            let (mut t, mut what) = mutate_token(&mut rng, &signer, &good);
            if rng.chance(20) {
                let (t2, w2) = mutate_token(&mut rng, &signer, &t.clone().replace('\u{0}', ""));
                if t2.split('.').count() == 3 {
                    t = t2;
                    what = w2;
                }
            }
            (t, what)
        };
        let r = v.verify(&token).await;
        let slot = kinds.entry(what).or_default();
        slot.0 += 1;
        if let Ok(u) = r {
            slot.1 += 1;
            accepted += 1;
            assert!(
                signer.signature_matches(&token),
                "run {run} ({what}): accepted a token whose signature does not match it: {token}"
            );
            let claims = decoded_claims(&token).expect("accepted claims decode");
            assert!(
                claims_are_acceptable(&claims),
                "run {run} ({what}): accepted claims {claims} as {u:?}"
            );
        }
    }
    let mut table: Vec<_> = kinds.into_iter().collect();
    table.sort();
    println!("[fuzz] JwtVerifier: {JWT_RUNS} executions, {accepted} accepted");
    for (k, (n, a)) in table {
        println!("[fuzz]   {k:<20} {n:>6} tried {a:>5} accepted");
    }
}

/// A validly signed token whose `exp` lies past any real date (and past what `u64`
/// holds) is a token that never expires: refuse it.
#[tokio::test]
async fn a_validly_signed_token_with_an_absurd_exp_is_refused() {
    let signer = Signer::new();
    let v = verifier(&signer);
    let h = json!({"alg": "EdDSA", "typ": "JWT", "kid": KID}).to_string();
    let base = format!(r#""iss":"{ISS}","aud":"{AUD}","sub":"user-1","scope":"user""#);
    let mut accepted = Vec::new();
    // Reported, not asserted: large but representable values.
    for exp in [
        "253402300799",         // 9999-12-31
        "9223372036854775807",  // i64::MAX
        "18446744073709551615", // u64::MAX
        "1e19",
    ] {
        let t = signer.sign_raw(&h, &format!("{{{base},\"exp\":{exp}}}"));
        let r = v.verify(&t).await;
        println!(
            "[fuzz] exp {exp}: {}",
            match &r {
                Ok(u) => format!("accepted (expires_at {:?})", u.expires_at),
                Err(e) => format!("refused ({e})"),
            }
        );
    }
    for exp in [
        "18446744073709551616",
        "1.8446744073709552e19",
        "1e20",
        "1e30",
        "1.7976931348623157e308",
    ] {
        let t = signer.sign_raw(&h, &format!("{{{base},\"exp\":{exp}}}"));
        assert!(signer.signature_matches(&t));
        match v.verify(&t).await {
            Ok(u) => {
                println!("[fuzz] exp {exp}: ACCEPTED (expires_at {:?})", u.expires_at);
                accepted.push(format!(
                    "exp {exp} → accepted, expires_at {:?}",
                    u.expires_at
                ));
            }
            Err(e) => println!("[fuzz] exp {exp}: refused ({e})"),
        }
    }
    assert!(
        accepted.is_empty(),
        "validly signed tokens with an absurd exp were accepted:\n  {}",
        accepted.join("\n  ")
    );
}

const BEARER_RUNS: usize = 5_000;

#[tokio::test]
async fn bearer_headers_never_authenticate_anything_but_a_valid_token() {
    let signer = Signer::new();
    let v = verifier(&signer);
    let good = signer.sign(&good_claims());
    let config = AuthConfig::new(ISS, AUD).unwrap().verifier(v);
    let state = Arc::new(AuthState::new(config, []));

    let mut rng = Rng::new(0xbea7e7);
    let (mut users, mut refused) = (0usize, 0usize);
    for run in 0..BEARER_RUNS {
        let token = if rng.chance(50) {
            good.clone()
        } else {
            mutate_token(&mut rng, &signer, &good).0
        };
        let scheme = *rng.pick(&[
            "Bearer", "Bearer", "bearer", "BEARER", "Basic", "Bearer:", "Token", "",
        ]);
        let sep = *rng.pick(&[" ", " ", "  ", "\t", ",", ""]);
        let tail = *rng.pick(&["", "", " ", ", Bearer x", " x", "\u{0}"]);
        let head = *rng.pick(&["", "", " "]);
        let value = format!("{head}{scheme}{sep}{token}{tail}");
        let mut bytes = value.into_bytes();
        if rng.chance(5) {
            let i = rng.below(bytes.len() + 1);
            bytes.insert(i, 0x80 + rng.below(0x7f) as u8);
        }
        let Ok(hv) = http::HeaderValue::from_bytes(&bytes) else {
            continue; // not sendable as a header at all
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, hv.clone());
        let shown = String::from_utf8_lossy(&bytes).into_owned();
        match state.authenticate(&headers).await {
            Ok(Caller::User(u)) => {
                users += 1;
                // Only "Bearer <the valid token>" (any case, surrounding blanks) gets in.
                let s = hv.to_str().expect("an accepted header is ASCII");
                let (sch, rest) = s.split_once(' ').expect("scheme and token");
                assert!(
                    sch.eq_ignore_ascii_case("bearer") && rest.trim() == good,
                    "run {run}: {shown:?} authenticated as {}",
                    u.subject
                );
            }
            Ok(Caller::Anonymous) => {
                panic!("run {run}: a request with Authorization {shown:?} was treated as anonymous")
            }
            Ok(Caller::Unverifiable(why)) => {
                panic!("run {run}: {shown:?} unverifiable with static keys: {why}")
            }
            Err(refusal) => {
                refused += 1;
                assert_eq!(
                    refusal.status,
                    http::StatusCode::UNAUTHORIZED,
                    "run {run}: {shown:?}"
                );
                assert!(
                    refusal
                        .challenge
                        .as_deref()
                        .unwrap_or("")
                        .starts_with("Bearer "),
                    "run {run}"
                );
            }
        }
    }
    println!("[fuzz] bearer header: {BEARER_RUNS} executions: {users} users, {refused} refused");
    assert!(users > 100 && refused > 100);

    // Two Authorization headers are refused with 400 invalid_request, in either order,
    // even when one of them carries the valid token.
    for pair in [
        [format!("Bearer {good}"), "Bearer x".to_string()],
        ["Bearer x".to_string(), format!("Bearer {good}")],
        [format!("Bearer {good}"), format!("Bearer {good}")],
    ] {
        let mut headers = http::HeaderMap::new();
        for v in &pair {
            headers.append(http::header::AUTHORIZATION, v.parse().unwrap());
        }
        let refusal = state
            .authenticate(&headers)
            .await
            .expect_err("two Authorization headers must be refused");
        assert_eq!(refusal.status, http::StatusCode::BAD_REQUEST);
        assert!(
            refusal
                .challenge
                .as_deref()
                .unwrap_or("")
                .contains("error=\"invalid_request\""),
            "{refusal:?}"
        );
    }
}
