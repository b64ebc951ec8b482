//! A real OAuth authorization server for tests, served on 127.0.0.1:0: RFC 8414 (or
//! OIDC) metadata, a JWKS with one RSA, one P-256 and one Ed25519 signing key, and an
//! RFC 7662 introspection endpoint (client_secret_basic) over in-memory opaque tokens.
//!
//! Tokens are signed by hand (header and claims are arbitrary JSON), so tests can mint
//! anything a broken or hostile issuer could: `alg: none`, HS256 with the RSA public
//! key, `crit`, wrong claim types.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Map, Value};

/// Test-only RSA keys (2048 bits, PKCS#8 PEM), generated once with `openssl genpkey`.
const RSA_FIXTURES: [(&str, &str); 3] = [
    ("rsa-1", include_str!("../fixtures/rsa1.pem")),
    ("rsa-2", include_str!("../fixtures/rsa2.pem")),
    ("rsa-3", include_str!("../fixtures/rsa3.pem")),
];
const RSA_ATTACKER: &str = include_str!("../fixtures/rsa-attacker.pem");
/// The SubjectPublicKeyInfo PEM of `rsa-1`, byte for byte as a client could download it.
pub const RSA1_PUBLIC_PEM: &str = include_str!("../fixtures/rsa1.pub.pem");

/// The kid of the attacker's RSA key: published in the JWKS with `"use": "enc"` only.
pub const ENC_KID: &str = "enc-1";
/// The kid of a symmetric (`kty: oct`) key published in the JWKS.
pub const OCT_KID: &str = "oct-1";
/// The secret of that symmetric key.
pub const OCT_SECRET: &[u8] = b"a-symmetric-secret-that-must-never-verify-anything";
/// The kid under which the attacker's key signs when asked by `mint_with_key`.
pub const ATTACKER: &str = "attacker";

/// Client credentials the introspection endpoint accepts.
pub const INTROSPECTION_CLIENT: (&str, &str) = ("resource-server", "s3cr3t:&=+ value");

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("fixture PEM is base64")
}

/// A signing algorithm for [`TestIssuer::mint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
    /// HMAC-SHA256 with this secret (never accepted by the resource server).
    HS256(Vec<u8>),
    /// `alg: none`, empty signature.
    None,
}

impl Alg {
    pub fn name(&self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
            Alg::HS256(_) => "HS256",
            Alg::None => "none",
        }
    }
}

enum KeyKind {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

struct SigningKey {
    kid: String,
    kind: KeyKind,
}

impl SigningKey {
    fn rsa(kid: &str, pem: &str) -> Self {
        let kp = RsaKeyPair::from_pkcs8(&pem_to_der(pem)).expect("fixture RSA key");
        Self {
            kid: kid.into(),
            kind: KeyKind::Rsa(kp),
        }
    }
    fn ec(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let doc = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Self {
            kid: kid.into(),
            kind: KeyKind::Ec(EcdsaKeyPair::from_pkcs8(alg, doc.as_ref(), &rng).unwrap()),
        }
    }
    fn ed(kid: &str) -> Self {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Self {
            kid: kid.into(),
            kind: KeyKind::Ed(Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()),
        }
    }
    fn alg(&self) -> Alg {
        match self.kind {
            KeyKind::Rsa(_) => Alg::RS256,
            KeyKind::Ec(_) => Alg::ES256,
            KeyKind::Ed(_) => Alg::EdDSA,
        }
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.kind {
            KeyKind::Rsa(kp) => {
                let mut sig = vec![0; kp.public().modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .unwrap();
                sig
            }
            KeyKind::Ec(kp) => kp.sign(&rng, msg).unwrap().as_ref().to_vec(),
            KeyKind::Ed(kp) => kp.sign(msg).as_ref().to_vec(),
        }
    }
    /// The public JWK.
    fn jwk(&self) -> Value {
        match &self.kind {
            KeyKind::Rsa(kp) => {
                let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(kp.public());
                json!({"kty":"RSA","kid":self.kid,"use":"sig","alg":"RS256","n":b64(&c.n),"e":b64(&c.e)})
            }
            KeyKind::Ec(kp) => {
                let p = kp.public_key().as_ref();
                assert_eq!(p.len(), 65, "uncompressed P-256 point");
                json!({"kty":"EC","crv":"P-256","kid":self.kid,"use":"sig","alg":"ES256",
                       "x":b64(&p[1..33]),"y":b64(&p[33..65])})
            }
            KeyKind::Ed(kp) => {
                json!({"kty":"OKP","crv":"Ed25519","kid":self.kid,"use":"sig","alg":"EdDSA",
                       "x":b64(kp.public_key().as_ref())})
            }
        }
    }
}

/// How the issuer publishes its metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Discovery {
    /// RFC 8414: `/.well-known/oauth-authorization-server{path}`.
    #[default]
    Rfc8414,
    /// OIDC only, appended to the issuer: `{issuer}/.well-known/openid-configuration`.
    OidcAppended,
}

/// Issuer settings.
#[derive(Debug, Clone, Default)]
pub struct IssuerOptions {
    /// The issuer identifier ends with `/` (as Auth0's do).
    pub trailing_slash: bool,
    /// A path after the origin, e.g. `/tenant-a` (empty: none).
    pub path: String,
    /// Where the metadata lives.
    pub discovery: Discovery,
    /// Start unreachable (connections are accepted and dropped) until [`TestIssuer::set_up`].
    pub start_down: bool,
}

struct Keys {
    /// Published signing keys: the current RSA, EC and Ed25519 keys.
    published: Vec<Arc<SigningKey>>,
    /// Keys that signed once and were rotated out (kept to mint stale tokens).
    retired: Vec<Arc<SigningKey>>,
    /// Fixture RSA keys not used yet, for `rotate`.
    spare: Vec<Arc<SigningKey>>,
    attacker: Arc<SigningKey>,
}

struct Inner {
    issuer: String,
    base: String,
    keys: Mutex<Keys>,
    up: Arc<AtomicBool>,
    jwks_down: AtomicBool,
    jwks_fetches: AtomicUsize,
    metadata_fetches: AtomicUsize,
    introspections: AtomicUsize,
    opaque: Mutex<HashMap<String, Value>>,
}

/// A running test issuer.
#[derive(Clone)]
pub struct TestIssuer {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

/// Accepts connections and, while the issuer is down, drops them unanswered (the
/// client sees the connection closed: the issuer is unreachable).
struct GatedListener {
    inner: tokio::net::TcpListener,
    up: Arc<AtomicBool>,
}

impl axum::serve::Listener for GatedListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((s, a)) if self.up.load(Ordering::SeqCst) => return (s, a),
                Ok((s, _)) => drop(s),
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

async fn metadata(State(s): State<Arc<Inner>>) -> Response {
    s.metadata_fetches.fetch_add(1, Ordering::SeqCst);
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": s.issuer,
            "authorization_endpoint": format!("{}/authorize", s.base),
            "token_endpoint": format!("{}/token", s.base),
            "jwks_uri": format!("{}/jwks", s.base),
            "introspection_endpoint": format!("{}/introspect", s.base),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
        }),
    )
}

async fn jwks(State(s): State<Arc<Inner>>) -> Response {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if s.jwks_down.load(Ordering::SeqCst) {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": "temporarily_unavailable"}),
        );
    }
    json_response(StatusCode::OK, &s.jwks_document())
}

async fn introspect(State(s): State<Arc<Inner>>, headers: HeaderMap, body: String) -> Response {
    s.introspections.fetch_add(1, Ordering::SeqCst);
    let authorized = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((form_decode(id), form_decode(secret)))
        })
        .is_some_and(|(id, secret)| {
            id == INTROSPECTION_CLIENT.0 && secret == INTROSPECTION_CLIENT.1
        });
    if !authorized {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client"}),
        );
    }
    let form = parse_form(&body);
    let Some(token) = form.get("token") else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request"}),
        );
    };
    let answer = s
        .opaque
        .lock()
        .unwrap()
        .get(token)
        .cloned()
        .unwrap_or_else(|| json!({"active": false}));
    json_response(StatusCode::OK, &answer)
}

impl Inner {
    fn jwks_document(&self) -> Value {
        let keys = self.keys.lock().unwrap();
        let mut list: Vec<Value> = keys.published.iter().map(|k| k.jwk()).collect();
        // A key that is not for signatures (the attacker holds its private half) and a
        // symmetric key: neither may ever verify a token.
        let mut enc = keys.attacker.jwk();
        enc["kid"] = json!(ENC_KID);
        enc["use"] = json!("enc");
        enc.as_object_mut().unwrap().remove("alg");
        list.push(enc);
        list.push(json!({"kty":"oct","kid":OCT_KID,"k":b64(OCT_SECRET),"alg":"HS256"}));
        json!({ "keys": list })
    }
}

impl TestIssuer {
    /// An issuer on 127.0.0.1:0 with RFC 8414 metadata, no trailing slash, up.
    pub async fn start() -> Self {
        Self::start_with(IssuerOptions::default()).await
    }

    pub async fn start_with(opts: IssuerOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let path = opts.path.trim_end_matches('/').to_string();
        let issuer = format!("{base}{path}{}", if opts.trailing_slash { "/" } else { "" });
        let mut spare: Vec<Arc<SigningKey>> = RSA_FIXTURES
            .iter()
            .map(|(kid, pem)| Arc::new(SigningKey::rsa(kid, pem)))
            .collect();
        let first = spare.remove(0);
        let keys = Keys {
            published: vec![
                first,
                Arc::new(SigningKey::ec("ec-1")),
                Arc::new(SigningKey::ed("ed-1")),
            ],
            retired: Vec::new(),
            spare,
            attacker: Arc::new(SigningKey::rsa(ATTACKER, RSA_ATTACKER)),
        };
        let up = Arc::new(AtomicBool::new(!opts.start_down));
        let inner = Arc::new(Inner {
            issuer,
            base,
            keys: Mutex::new(keys),
            up: up.clone(),
            jwks_down: AtomicBool::new(false),
            jwks_fetches: AtomicUsize::new(0),
            metadata_fetches: AtomicUsize::new(0),
            introspections: AtomicUsize::new(0),
            opaque: Mutex::new(HashMap::new()),
        });
        let metadata_path = match opts.discovery {
            Discovery::Rfc8414 => format!("/.well-known/oauth-authorization-server{path}"),
            Discovery::OidcAppended => format!("{path}/.well-known/openid-configuration"),
        };
        let router = Router::new()
            .route(&metadata_path, get(metadata))
            .route("/jwks", get(jwks))
            .route("/introspect", post(introspect))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(
                GatedListener {
                    inner: listener,
                    up,
                },
                router,
            )
            .await;
        });
        Self { addr, inner }
    }

    /// The exact issuer identifier (`iss`).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }
    /// `http://127.0.0.1:port`.
    pub fn base(&self) -> &str {
        &self.inner.base
    }
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.inner.base)
    }
    pub fn introspection_endpoint(&self) -> String {
        format!("{}/introspect", self.inner.base)
    }

    /// Makes the issuer reachable (or not).
    pub fn set_up(&self, up: bool) {
        self.inner.up.store(up, Ordering::SeqCst);
    }
    /// Makes the JWKS endpoint answer 503 (or recover).
    pub fn set_jwks_down(&self, down: bool) {
        self.inner.jwks_down.store(down, Ordering::SeqCst);
    }
    /// How many times the JWKS was requested (including 503 answers).
    pub fn jwks_fetches(&self) -> usize {
        self.inner.jwks_fetches.load(Ordering::SeqCst)
    }
    /// How many times the metadata document was requested.
    pub fn metadata_fetches(&self) -> usize {
        self.inner.metadata_fetches.load(Ordering::SeqCst)
    }
    /// How many introspection requests arrived (authorized or not).
    pub fn introspections(&self) -> usize {
        self.inner.introspections.load(Ordering::SeqCst)
    }
    /// The JWKS document as served.
    pub fn jwks(&self) -> Value {
        self.inner.jwks_document()
    }

    /// The current kid for `alg` (RS256, ES256, EdDSA).
    pub fn kid(&self, alg: &Alg) -> String {
        let keys = self.inner.keys.lock().unwrap();
        keys.published
            .iter()
            .find(|k| &k.alg() == alg)
            .map(|k| k.kid.clone())
            .unwrap_or_else(|| panic!("no published key for {alg:?}"))
    }

    /// Replaces the RSA signing key with a new one under a new kid; the old kid leaves
    /// the JWKS. Returns the new kid.
    pub fn rotate(&self) -> String {
        let mut keys = self.inner.keys.lock().unwrap();
        assert!(
            !keys.spare.is_empty(),
            "out of fixture RSA keys to rotate to"
        );
        let new = keys.spare.remove(0);
        let kid = new.kid.clone();
        let pos = keys
            .published
            .iter()
            .position(|k| k.alg() == Alg::RS256)
            .unwrap();
        let old = std::mem::replace(&mut keys.published[pos], new);
        keys.retired.push(old);
        kid
    }

    /// Valid claims for `aud`: iss, aud, sub, scope, iat = now, exp = now + 10 min.
    pub fn claims(&self, aud: &str, sub: &str, scope: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer(),
            "aud": aud,
            "sub": sub,
            "scope": scope,
            "iat": now,
            "exp": now + 600,
        })
    }

    fn find_key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        let keys = self.inner.keys.lock().unwrap();
        keys.published
            .iter()
            .chain(keys.retired.iter())
            .chain(keys.spare.iter())
            .chain(std::iter::once(&keys.attacker))
            .find(|k| k.kid == kid)
            .cloned()
    }

    /// Signs `claims` with `alg`. The header is `{"alg", "typ": "JWT", "kid"}` merged
    /// with `header` (a `null` member removes that member). RS256/ES256/EdDSA sign with
    /// the key named by the final `kid` when it is a known key of that algorithm
    /// (published, retired or spare), else with the current key of that algorithm.
    pub fn mint(&self, alg: Alg, claims: &Value, header: &Value) -> String {
        let mut h = Map::new();
        h.insert("alg".into(), json!(alg.name()));
        h.insert("typ".into(), json!("JWT"));
        if matches!(alg, Alg::RS256 | Alg::ES256 | Alg::EdDSA) {
            h.insert("kid".into(), json!(self.kid(&alg)));
        }
        merge(&mut h, header);
        let key = match &alg {
            Alg::RS256 | Alg::ES256 | Alg::EdDSA => {
                let named = h
                    .get("kid")
                    .and_then(Value::as_str)
                    .and_then(|k| self.find_key(k))
                    .filter(|k| k.alg() == alg);
                Some(named.unwrap_or_else(|| {
                    let kid = self.kid(&alg);
                    self.find_key(&kid).unwrap()
                }))
            }
            _ => None,
        };
        let signing_input = format!(
            "{}.{}",
            b64(Value::Object(h).to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = match (&alg, key) {
            (Alg::None, _) => Vec::new(),
            (Alg::HS256(secret), _) => {
                let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
                ring::hmac::sign(&k, signing_input.as_bytes())
                    .as_ref()
                    .to_vec()
            }
            (_, Some(key)) => key.sign(signing_input.as_bytes()),
            _ => unreachable!(),
        };
        format!("{signing_input}.{}", b64(&sig))
    }

    /// Signs with the key whose kid is `signer` (any key the issuer holds, including the
    /// attacker's [`ATTACKER`] key); the header's kid defaults to `signer` and can be
    /// overridden by `header`.
    pub fn mint_with_key(&self, signer: &str, claims: &Value, header: &Value) -> String {
        let key = self
            .find_key(signer)
            .unwrap_or_else(|| panic!("no key {signer:?}"));
        let mut h = Map::new();
        h.insert("alg".into(), json!(key.alg().name()));
        h.insert("typ".into(), json!("JWT"));
        h.insert("kid".into(), json!(signer));
        merge(&mut h, header);
        let signing_input = format!(
            "{}.{}",
            b64(Value::Object(h).to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64(&sig))
    }

    /// Registers an opaque token and the introspection answer for it.
    pub fn add_opaque(&self, token: &str, answer: Value) {
        self.inner
            .opaque
            .lock()
            .unwrap()
            .insert(token.to_string(), answer);
    }
}

fn merge(into: &mut Map<String, Value>, overrides: &Value) {
    if let Some(o) = overrides.as_object() {
        for (k, v) in o {
            if v.is_null() {
                into.remove(k);
            } else {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}
