//! A stand-in external issuer (what Auth0, Okta or Keycloak are to an app configured with
//! `AUTHORIZATION_SERVER_URL`): its discovery document and JWKS on 127.0.0.1, RS256
//! tokens signed with the repository's RSA test fixtures (never real keys), and an
//! outage that is real: the listener closes and every open connection is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hyper_util::rt::TokioIo;
use ring::rand::SystemRandom;
use ring::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const KEY_1: &str = include_str!("../../../crates/widgetry/tests/fixtures/rsa1.pem");
const KEY_2: &str = include_str!("../../../crates/widgetry/tests/fixtures/rsa2.pem");

/// A signing key and its `kid`.
pub struct Key {
    kid: &'static str,
    pair: RsaKeyPair,
}

fn pem_der(pem: &str) -> Result<Vec<u8>, String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD
        .decode(body)
        .map_err(|e| format!("fixture PEM: {e}"))
}

impl Key {
    fn load(kid: &'static str, pem: &str) -> Result<Self, String> {
        let pair =
            RsaKeyPair::from_pkcs8(&pem_der(pem)?).map_err(|e| format!("fixture key: {e}"))?;
        Ok(Self { kid, pair })
    }

    /// The first key (published from the start).
    pub fn first() -> Result<Self, String> {
        Self::load("battery-1", KEY_1)
    }

    /// The second key (published only after the outage: unknown until then).
    pub fn second() -> Result<Self, String> {
        Self::load("battery-2", KEY_2)
    }

    fn jwk(&self) -> Value {
        let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
               "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e)})
    }

    /// An RS256 access token from `issuer` for `audience` with `user read:data`.
    pub fn token(&self, issuer: &str, audience: &str, subject: &str) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let claims = json!({"iss": issuer, "aud": audience, "sub": subject, "scope": "user read:data",
                            "iat": now, "exp": now + 3600});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|e| format!("signing: {e}"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// The issuer: serving or down.
pub struct Issuer {
    /// Its address (the same across outages).
    pub addr: SocketAddr,
    jwks: Arc<Mutex<Value>>,
    server: Option<JoinHandle<()>>,
}

impl Issuer {
    /// Starts serving on a free port, publishing `keys`.
    pub async fn start(keys: &[&Key]) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let mut issuer = Self {
            addr,
            jwks: Arc::new(Mutex::new(json!({"keys": []}))),
            server: None,
        };
        issuer.publish(keys);
        issuer.serve(listener);
        Ok(issuer)
    }

    /// `http://127.0.0.1:<port>` (the `iss` of its tokens).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Publishes exactly `keys` from now on.
    pub fn publish(&mut self, keys: &[&Key]) {
        *self.jwks.lock().unwrap_or_else(|p| p.into_inner()) =
            json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
    }

    fn serve(&mut self, listener: TcpListener) {
        let url = self.url();
        let jwks = self.jwks.clone();
        let meta = json!({"issuer": url, "jwks_uri": format!("{url}/jwks"),
            "authorization_endpoint": format!("{url}/authorize"), "token_endpoint": format!("{url}/token"),
            "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"]});
        let router = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get({
                    let m = meta.clone();
                    move || async move { Json(m) }
                }),
            )
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(meta) }),
            )
            .route(
                "/jwks",
                get(move || {
                    let j = jwks.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    async move { Json(j) }
                }),
            );
        // Each connection is a task of this one: aborting it drops every connection.
        self.server = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let svc = hyper_util::service::TowerToHyperService::new(router.clone());
                conns.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        }));
    }

    /// The outage: the port closes, open connections drop.
    pub async fn stop(&mut self) {
        if let Some(h) = self.server.take() {
            h.abort();
            let _ = h.await;
        }
    }

    /// Back on the same port.
    pub async fn resume(&mut self) -> Result<(), String> {
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|e| format!("rebind {}: {e}", self.addr))?;
        self.serve(listener);
        Ok(())
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}
