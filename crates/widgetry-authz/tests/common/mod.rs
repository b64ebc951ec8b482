//! Shared test harness: a real server on 127.0.0.1:0, a small HTTP client, and a
//! "browser" that walks the sign-in and consent forms like a user would.
#![allow(dead_code)]

pub mod sign_in;

use std::net::SocketAddr;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use widgetry_authz::{AuthorizationServer, AuthzConfig, AuthzStore, NewUser};

pub const USER: &str = "ada";
pub const PASSWORD: &str = "correct horse battery";

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} body {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The query parameters of the Location header.
    pub fn location_params(&self) -> Vec<(String, String)> {
        let loc = self
            .header("location")
            .unwrap_or_else(|| panic!("no Location: status {} body {}", self.status, self.body));
        let query = loc.split_once('?').map(|(_, q)| q).unwrap_or("");
        serde_urlencoded::from_str(query).expect("location query")
    }

    pub fn location_param(&self, name: &str) -> Option<String> {
        self.location_params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// A hidden form field's value.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in page: {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').expect("closing quote") + start;
        self.body[start..end].to_owned()
    }
}

#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl Http {
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let mut req = hyper::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body))).expect("request");
        let resp = self
            .client
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Resp {
        self.request("GET", url, headers, Vec::new()).await
    }

    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        let body = serde_urlencoded::to_string(form).expect("form");
        let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
        h.extend_from_slice(headers);
        self.request("POST", url, &h, body.into_bytes()).await
    }

    pub async fn post_json(&self, url: &str, json: &Value) -> Resp {
        self.request(
            "POST",
            url,
            &[("content-type", "application/json")],
            json.to_string().into_bytes(),
        )
        .await
    }
}

pub struct TestServer {
    /// Where the server listens, e.g. http://127.0.0.1:1234.
    pub base: String,
    pub server: AuthorizationServer,
    pub http: Http,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, base)
}

/// The test configuration: issuer = base, resource = base/mcp, three scopes.
pub fn config(base: &str) -> AuthzConfig {
    let mut c = AuthzConfig::new(base, format!("{base}/mcp"));
    c.scopes_supported = vec![
        "orders:read".into(),
        "orders:write".into(),
        "profile".into(),
    ];
    c.default_scopes = vec!["orders:read".into()];
    c
}

pub async fn serve(
    listener: TcpListener,
    config: AuthzConfig,
    store: Arc<dyn AuthzStore>,
) -> TestServer {
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = AuthorizationServer::open(config, store)
        .await
        .expect("open server");
    let app = server
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestServer {
        base,
        server,
        http: Http::default(),
        task,
    }
}

/// A server with the test configuration (adjusted by `tweak`) and the user ada.
pub async fn start_with(
    store: Arc<dyn AuthzStore>,
    tweak: impl FnOnce(&mut AuthzConfig),
) -> TestServer {
    let (listener, base) = bind().await;
    let mut c = config(&base);
    tweak(&mut c);
    let ts = serve(listener, c, store).await;
    if ts.server.users().get(USER).await.expect("users").is_none() {
        ts.server
            .users()
            .add(NewUser::new(USER, PASSWORD).name("Ada Lovelace"))
            .await
            .expect("add user");
    }
    ts
}

pub async fn sqlite_store(dir: &tempfile::TempDir) -> Arc<dyn AuthzStore> {
    let path = dir.path().join("authz.sqlite3");
    widgetry_authz::open_store(path.to_str().expect("utf-8 path"))
        .await
        .expect("open store")
}

pub fn pkce() -> (String, String) {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("random");
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A client as the tests use it.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

impl TestClient {
    /// Adds the client's credentials: Basic for confidential clients, client_id otherwise.
    pub fn auth(&self, form: &mut Vec<(String, String)>) -> Vec<(String, String)> {
        match &self.secret {
            Some(secret) => {
                let basic = STANDARD.encode(format!("{}:{}", self.id, secret));
                vec![("authorization".into(), format!("Basic {basic}"))]
            }
            None => {
                form.push(("client_id".into(), self.id.clone()));
                Vec::new()
            }
        }
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn metadata(&self) -> Value {
        self.http
            .get(&self.url("/.well-known/oauth-authorization-server"), &[])
            .await
            .json()
    }

    /// Registers a client dynamically.
    pub async fn register(&self, redirect_uri: &str, confidential: bool) -> TestClient {
        let method = if confidential {
            "client_secret_basic"
        } else {
            "none"
        };
        let resp = self
            .http
            .post_json(
                &self.url("/oauth/register"),
                &serde_json::json!({
                    "client_name": "Test client",
                    "redirect_uris": [redirect_uri],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": method,
                }),
            )
            .await;
        assert_eq!(resp.status, 201, "registration: {}", resp.body);
        let doc = resp.json();
        TestClient {
            id: doc["client_id"].as_str().expect("client_id").to_owned(),
            secret: doc["client_secret"].as_str().map(str::to_owned),
            redirect_uri: redirect_uri.to_owned(),
        }
    }

    /// GET /oauth/authorize with the usual parameters (overridable by `extra`).
    pub async fn authorize(
        &self,
        client: &TestClient,
        challenge: &str,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &client.id),
            ("redirect_uri", &client.redirect_uri),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", "st-123"),
            ("scope", "orders:read profile"),
        ];
        for (k, v) in extra {
            params.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        let query = serde_urlencoded::to_string(&params).expect("query");
        self.http
            .get(&self.url(&format!("/oauth/authorize?{query}")), &[])
            .await
    }

    /// Submits the sign-in form of `page`.
    pub async fn sign_in(&self, page: &Resp, cookie: &str, username: &str, password: &str) -> Resp {
        let request = page.hidden("request");
        let csrf = page.hidden("csrf");
        self.http
            .post_form(
                &self.url("/oauth/authorize/sign-in"),
                &[
                    ("request", &request),
                    ("csrf", &csrf),
                    ("username", username),
                    ("password", password),
                ],
                &[("cookie", cookie)],
            )
            .await
    }

    /// Submits the consent form of `page`.
    pub async fn consent(&self, page: &Resp, cookie: &str, decision: &str) -> Resp {
        let request = page.hidden("request");
        let csrf = page.hidden("csrf");
        self.http
            .post_form(
                &self.url("/oauth/authorize/consent"),
                &[
                    ("request", &request),
                    ("csrf", &csrf),
                    ("decision", decision),
                ],
                &[("cookie", cookie)],
            )
            .await
    }

    /// Authorize → sign in → consent; returns the code and the PKCE verifier.
    pub async fn code_for(&self, client: &TestClient, extra: &[(&str, &str)]) -> (String, String) {
        let (verifier, challenge) = pkce();
        let page = self.authorize(client, &challenge, extra).await;
        assert_eq!(page.status, 200, "authorize: {}", page.body);
        let cookie = browser_cookie(&page);
        let consent_page = self.sign_in(&page, &cookie, USER, PASSWORD).await;
        assert_eq!(consent_page.status, 200, "sign-in: {}", consent_page.body);
        assert!(
            consent_page.body.contains("Allow access"),
            "{}",
            consent_page.body
        );
        let done = self.consent(&consent_page, &cookie, "allow").await;
        assert_eq!(done.status, 303, "consent: {}", done.body);
        assert_eq!(done.location_param("state").as_deref(), Some("st-123"));
        assert_eq!(
            done.location_param("iss").as_deref(),
            Some(self.server.issuer())
        );
        let code = done.location_param("code").expect("code in redirect");
        (code, verifier)
    }

    pub async fn token(&self, client: &TestClient, params: &[(&str, &str)]) -> Resp {
        let mut form: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let headers = client.auth(&mut form);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.http
            .post_form(&self.url("/oauth/token"), &form, &headers)
            .await
    }

    pub async fn exchange(&self, client: &TestClient, code: &str, verifier: &str) -> Resp {
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", verifier),
                ("redirect_uri", &client.redirect_uri),
            ],
        )
        .await
    }

    pub async fn refresh(&self, client: &TestClient, refresh_token: &str) -> Resp {
        self.token(
            client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    /// Full flow to tokens; returns the token response.
    pub async fn tokens_for(&self, client: &TestClient) -> Value {
        let (code, verifier) = self.code_for(client, &[]).await;
        let resp = self.exchange(client, &code, &verifier).await;
        assert_eq!(resp.status, 200, "token: {}", resp.body);
        resp.json()
    }

    pub async fn endpoint_with_client(&self, path: &str, client: &TestClient, token: &str) -> Resp {
        let mut form = vec![("token".to_owned(), token.to_owned())];
        let headers = client.auth(&mut form);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.http.post_form(&self.url(path), &form, &headers).await
    }

    pub async fn introspect(&self, client: &TestClient, token: &str) -> Value {
        let resp = self
            .endpoint_with_client("/oauth/introspect", client, token)
            .await;
        assert_eq!(resp.status, 200, "introspect: {}", resp.body);
        resp.json()
    }

    pub async fn revoke(&self, client: &TestClient, token: &str) {
        let resp = self
            .endpoint_with_client("/oauth/revoke", client, token)
            .await;
        assert_eq!(resp.status, 200, "revoke: {}", resp.body);
    }

    /// Verifies an access token against the published JWKS, as a resource server would.
    pub async fn verify_with_jwks(&self, token: &str) -> Value {
        let jwks_uri = self.metadata().await["jwks_uri"]
            .as_str()
            .expect("jwks_uri")
            .to_owned();
        let jwks_uri = jwks_uri.replace(self.server.issuer(), &self.base);
        let jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(&self.http.get(&jwks_uri, &[]).await.body).expect("jwks");
        verify_token(
            token,
            &jwks,
            self.server.issuer(),
            &format!("{}/mcp", self.server.issuer()),
        )
    }
}

pub fn verify_token(
    token: &str,
    jwks: &jsonwebtoken::jwk::JwkSet,
    issuer: &str,
    audience: &str,
) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let kid = header.kid.expect("kid");
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS"));
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("decoding key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("token verifies against the JWKS")
        .claims
}

/// The `name=value` of the browser-binding cookie set by an authorize page.
pub fn browser_cookie(page: &Resp) -> String {
    let set = page
        .header("set-cookie")
        .expect("set-cookie on the authorize page");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    set.split(';').next().expect("cookie").to_owned()
}

/// The PostgreSQL of the tests: 127.0.0.1:5432, database `test`, user `postgres`, or
/// `WIDGETRY_TEST_POSTGRES_URL`.
pub fn base_url() -> String {
    std::env::var("WIDGETRY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A plain connection to [`base_url`] for setting up and inspecting.
pub async fn admin() -> tokio_postgres::Client {
    let url = base_url();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is needed for this test and is not reachable at {url} ({e}); start it \
                 (trust auth, database `test`) or set WIDGETRY_TEST_POSTGRES_URL"
            )
        });
    tokio::spawn(conn);
    client
}

/// A schema of its own on the tests' PostgreSQL ([`base_url`]); drop it with
/// [`PgSchema::drop`].
pub struct PgSchema {
    /// A store URL whose search path is the schema.
    pub url: String,
    name: String,
    admin: tokio_postgres::Client,
}

impl PgSchema {
    /// Creates `authz_<tag>_<pid>_<random>`; panics with set-up advice when PostgreSQL
    /// is not reachable.
    pub async fn create(tag: &str) -> Self {
        let base = base_url();
        let admin = admin().await;
        let name = format!(
            "authz_{tag}_{}_{}",
            std::process::id(),
            pkce().0[..8].to_ascii_lowercase().replace(['-', '_'], "x")
        );
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{name}");
        Self { url, name, admin }
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        self.admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .unwrap();
    }
}
