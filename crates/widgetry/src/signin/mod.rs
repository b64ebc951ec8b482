//! Session sign-in inside a widget (seed 002, done securely): `create_session`,
//! `authenticate` (renders the three-screen sign-in widget, or its success view) and
//! `auth_status`, plus the endpoint `POST /api/session/authenticate` the widget posts
//! credentials and the verification code to.
//!
//! Security properties:
//! - session ids and per-session nonces are 128-bit random values; the nonce reaches
//!   only the widget (in the `authenticate` result's `_meta`, and only on the MCP session
//!   that created the sign-in session), so knowing a session id is not enough to sign it in;
//! - passwords are checked against the user directory (argon2id in the embedded
//!   authorization server); the second factor is TOTP for enrolled users, otherwise a
//!   one-time code sent through a pluggable [`CodeSender`] and stored only as a hash;
//! - wrong passwords and codes are rate-limited per session, per account and per address;
//! - sessions expire (10 minutes by default), are swept in the background, and report
//!   "expired, sign in again". All state lives in a [`KvStore`], so several instances
//!   sharing PostgreSQL or Redis serve the same sessions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use http::{HeaderValue, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use widgetry_store::{KvStore, Namespace};

mod bridge;

use crate::app::origins::{read_body, widget_endpoint};
use crate::app::{AllowedOrigins, AppBuilder, NoInput, Reply, Tool, Visibility, Widget};
use crate::auth::{Auth, BoxFuture};
use crate::random::random_hex;
use crate::{RequestContext, ToolError};

/// The sign-in widget: credentials, a six-digit verification code, success.
pub const SIGNIN_WIDGET_HTML: &str = include_str!("../../widgets/signin.html");

static SESSIONS: Namespace = Namespace::from_static("widgetry.signin");
static LIMITS: Namespace = Namespace::from_static("widgetry.signin.limits");

/// `_meta` key of the widget-only sign-in data (session id, nonce, endpoint).
pub const META_KEY: &str = "widgetry/signin";

/// A user as the directory knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Stable id.
    pub subject: String,
    /// Sign-in email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Whether the user enrolled a TOTP authenticator.
    pub has_totp: bool,
}

/// Where credentials are checked (the embedded authorization server's users, or yours).
pub trait Directory: Send + Sync + 'static {
    /// The account when `password` is right, `None` when it is wrong or unknown.
    fn check_password<'a>(
        &'a self,
        email: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<Option<Account>, String>>;
    /// Whether `code` is the account's current TOTP code.
    fn check_totp<'a>(
        &'a self,
        account: &'a Account,
        code: &'a str,
    ) -> BoxFuture<'a, Result<bool, String>>;
}

/// Delivers one-time codes to users without TOTP.
pub trait CodeSender: Send + Sync + 'static {
    /// Sends `code` to `account`.
    fn send<'a>(&'a self, account: &'a Account, code: &'a str)
        -> BoxFuture<'a, Result<(), String>>;
    /// Where codes go, as the sign-in widget tells the user: `"email"` (default) or
    /// `"server-log"` (development: the code is only printed where the server runs).
    fn delivery(&self) -> &'static str {
        "email"
    }
}

/// Development sender: logs the code (never use in production).
#[derive(Debug, Default, Clone)]
pub struct ConsoleSender;

impl CodeSender for ConsoleSender {
    fn send<'a>(
        &'a self,
        account: &'a Account,
        code: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        eprintln!(
            "widgetry sign-in: verification code for {} is {code}",
            account.email
        );
        tracing::info!(email = %account.email, "sign-in verification code sent to the console");
        Box::pin(async { Ok(()) })
    }
    fn delivery(&self) -> &'static str {
        "server-log"
    }
}

/// Test sender: keeps the last code per email.
#[derive(Debug, Default, Clone)]
pub struct MemorySender {
    codes: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
}

impl MemorySender {
    /// The last code sent to `email`.
    pub fn last_code(&self, email: &str) -> Option<String> {
        self.codes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(email)
            .cloned()
    }
}

impl CodeSender for MemorySender {
    fn send<'a>(
        &'a self,
        account: &'a Account,
        code: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        self.codes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account.email.clone(), code.to_string());
        Box::pin(async { Ok(()) })
    }
}

/// Sign-in settings.
#[derive(Debug, Clone)]
pub struct SignInConfig {
    /// Name of the tool creating a session (default `create_session`).
    pub create_tool: String,
    /// Name of the tool rendering the widget (default `authenticate`).
    pub authenticate_tool: String,
    /// Name of the status tool (default `auth_status`).
    pub status_tool: String,
    /// The widget folder of the sign-in widget (default `signin`).
    pub widget: String,
    /// Session lifetime (default 10 minutes).
    pub session_ttl: Duration,
    /// Lifetime of an emailed code (default 5 minutes).
    pub code_ttl: Duration,
    /// Wrong answers allowed per session before it locks (default 5).
    pub max_session_failures: i64,
    /// Wrong answers allowed per account per window (default 10).
    pub max_account_failures: i64,
    /// Wrong answers allowed per client address per window (default 30).
    pub max_address_failures: i64,
    /// The rate-limit window (default 15 minutes).
    pub failure_window: Duration,
    /// The app's public origin, where the widget posts (e.g. `https://app.example.com`).
    pub public_url: String,
    /// How often expired sessions are swept from the store (default 1 minute).
    pub sweep_interval: Duration,
}

impl SignInConfig {
    /// Defaults for an app reachable at `public_url`.
    pub fn new(public_url: impl Into<String>) -> Self {
        Self {
            create_tool: "create_session".into(),
            authenticate_tool: "authenticate".into(),
            status_tool: "auth_status".into(),
            widget: "signin".into(),
            session_ttl: Duration::from_secs(600),
            code_ttl: Duration::from_secs(300),
            max_session_failures: 5,
            max_account_failures: 10,
            max_address_failures: 30,
            failure_window: Duration::from_secs(900),
            public_url: public_url.into().trim_end_matches('/').to_string(),
            sweep_interval: Duration::from_secs(60),
        }
    }
}

/// One sign-in session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    nonce_hash: String,
    /// `credentials` → `code` → `done`.
    state: String,
    owner: Option<String>,
    subject: Option<String>,
    email: Option<String>,
    name: Option<String>,
    method: Option<String>,
    code_hash: Option<String>,
    code_expires_ms: Option<u64>,
    expires_ms: u64,
    nonce_issued: bool,
}

fn hash(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn six_digits() -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the operating system's random source is unavailable");
    format!("{:06}", u32::from_le_bytes(b) % 1_000_000)
}

/// The sign-in component: tools, endpoint and widget, over a store and a directory.
#[derive(Clone)]
pub struct SignIn {
    inner: Arc<Inner>,
}

struct Inner {
    config: SignInConfig,
    kv: Arc<dyn KvStore>,
    directory: Arc<dyn Directory>,
    sender: Arc<dyn CodeSender>,
    origins: std::sync::RwLock<AllowedOrigins>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn err(status: StatusCode, code: &str, message: &str, extra: Value) -> Response {
    let mut body = json!({"error": code, "message": message});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn ok(body: Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SessionInput {
    /// The id returned by create_session.
    #[serde(rename = "sessionId")]
    session_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Created {
    #[serde(rename = "sessionId")]
    session_id: String,
    #[serde(rename = "expiresInSeconds")]
    expires_in_seconds: u64,
    message: String,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Status {
    authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    expired: bool,
    message: String,
}

/// One step the sign-in widget submits (HTTP body, or the input of the relay tool).
#[derive(Debug, Deserialize, JsonSchema)]
struct Submit {
    #[serde(rename = "sessionId")]
    session_id: String,
    nonce: String,
    step: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

impl SignIn {
    /// A sign-in component.
    pub fn new(
        config: SignInConfig,
        kv: Arc<dyn KvStore>,
        directory: Arc<dyn Directory>,
        sender: Arc<dyn CodeSender>,
    ) -> Self {
        let origins = AllowedOrigins {
            exact: vec![config.public_url.clone()],
            dev: false,
        };
        Self {
            inner: Arc::new(Inner {
                config,
                kv,
                directory,
                sender,
                origins: std::sync::RwLock::new(origins),
            }),
        }
    }

    /// Sweeps expired sessions and rate-limit counters from the store every
    /// [`SignInConfig::sweep_interval`] (expiry
    /// is also enforced on every read). Runs while the component is alive, inside a Tokio
    /// runtime; a no-op outside one.
    pub fn spawn_sweeper(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let every = self.config().sweep_interval.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                match inner.kv.sweep().await {
                    Ok(n) if n > 0 => {
                        tracing::debug!(removed = n, "swept expired sign-in sessions")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("sign-in sweep failed: {e}"),
                }
            }
        });
    }

    /// Allows the sandboxed-iframe `null` origin and loopback origins (development).
    pub fn allow_dev_origins(self, yes: bool) -> Self {
        self.inner
            .origins
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .dev = yes;
        self
    }

    fn config(&self) -> &SignInConfig {
        &self.inner.config
    }

    async fn load(&self, id: &str) -> Result<Option<Session>, String> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let raw = self
            .inner
            .kv
            .get(&SESSIONS, id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(raw
            .and_then(|b| serde_json::from_slice::<Session>(&b).ok())
            .filter(|s| s.expires_ms > widgetry_store::now_ms()))
    }

    async fn save(&self, id: &str, s: &Session) -> Result<(), String> {
        let left = s.expires_ms.saturating_sub(widgetry_store::now_ms()).max(1);
        let bytes = serde_json::to_vec(s).map_err(|e| e.to_string())?;
        self.inner
            .kv
            .put(&SESSIONS, id, &bytes, Some(Duration::from_millis(left)))
            .await
            .map_err(|e| e.to_string())
    }

    /// Adds the three tools and the sign-in widget (shipped with Widgetry) to an app, and
    /// the endpoint (see [`AppBuilder::router_extension`]).
    pub fn register(&self, b: AppBuilder) -> AppBuilder {
        self.spawn_sweeper();
        let c = self.config().clone();
        let (s1, s2, s3) = (self.clone(), self.clone(), self.clone());
        let relay = bridge::submit_tool(self.clone(), submit_tool_name(&c));
        let origin = c.public_url.clone();
        let endpoint = self.router();
        b.widget_html(c.widget.clone(), SIGNIN_WIDGET_HTML)
            .router_extension(endpoint)
            .widget(Widget::new(c.widget.clone()).description("Sign in with email, password and a verification code").prefers_border(true).connect_domain(origin))
            .tool(
                Tool::new(c.create_tool.clone(), move |ctx: RequestContext, _: NoInput| {
                    let s = s1.clone();
                    async move { s.create(ctx).await }
                })
                .title("Start a sign-in")
                .description("Creates a sign-in session; then call the authenticate tool with its sessionId.")
                .auth(Auth::none()),
            )
            .tool(
                Tool::new(c.authenticate_tool.clone(), move |ctx: RequestContext, i: SessionInput| {
                    let s = s2.clone();
                    async move { s.authenticate(ctx, i).await }
                })
                .title("Sign in")
                .description("Shows the sign-in widget for a session (or the signed-in view when done).")
                .invoking("Opening sign-in…")
                .invoked("Sign-in ready")
                .auth(Auth::none())
                .widget(c.widget.clone()),
            )
            .tool(
                Tool::new(c.status_tool.clone(), move |_ctx: RequestContext, i: SessionInput| {
                    let s = s3.clone();
                    async move { s.status(i).await }
                })
                .title("Sign-in status")
                .description("Whether a sign-in session is authenticated, and as whom.")
                .read_only()
                .visibility(Visibility::Both)
                .auth(Auth::none()),
            )
            .tool(relay)
    }

    async fn create(&self, ctx: RequestContext) -> Result<Created, ToolError> {
        let id = random_hex(16);
        let session = Session {
            nonce_hash: String::new(),
            state: "credentials".into(),
            owner: ctx.session_id().map(str::to_string),
            subject: None,
            email: None,
            name: None,
            method: None,
            code_hash: None,
            code_expires_ms: None,
            expires_ms: widgetry_store::now_ms() + self.config().session_ttl.as_millis() as u64,
            nonce_issued: false,
        };
        self.save(&id, &session)
            .await
            .map_err(|e| ToolError::msg(format!("cannot store the session: {e}")))?;
        Ok(Created {
            session_id: id,
            expires_in_seconds: self.config().session_ttl.as_secs(),
            message: "Session created. Call the authenticate tool with this sessionId to show the sign-in widget.".into(),
        })
    }

    async fn authenticate(
        &self,
        ctx: RequestContext,
        i: SessionInput,
    ) -> Result<Reply<Status>, ToolError> {
        let Some(mut s) = self.load(&i.session_id).await.map_err(ToolError::msg)? else {
            return Ok(Reply::new(expired())
                .text("This sign-in session expired. Create a new one and sign in again."));
        };
        if s.state == "done" {
            let st = Status {
                authenticated: true,
                email: s.email.clone(),
                name: s.name.clone(),
                expired: false,
                message: format!("Signed in as {}", s.name.clone().unwrap_or_default()),
            };
            return Ok(Reply::new(st).text("Already signed in."));
        }
        // The nonce goes only to the MCP session that created the sign-in session.
        if s.owner.is_some() && s.owner.as_deref() != ctx.session_id() {
            return Err(ToolError::msg(
                "this sign-in session belongs to another conversation",
            ));
        }
        let nonce = random_hex(16);
        s.nonce_hash = hash(&nonce);
        s.nonce_issued = true;
        self.save(&i.session_id, &s).await.map_err(ToolError::msg)?;
        let st = Status {
            authenticated: false,
            email: None,
            name: None,
            expired: false,
            message: "Sign in to continue".into(),
        };
        Ok(Reply::new(st)
            .text("The sign-in widget is shown; the user enters their credentials and a verification code.")
            .meta(
                META_KEY,
                json!({
                    "sessionId": i.session_id,
                    "nonce": nonce,
                    "endpoint": format!("{}/api/session/authenticate", self.config().public_url),
                    "submitTool": submit_tool_name(self.config()),
                    "expiresAt": s.expires_ms / 1000,
                }),
            ))
    }

    async fn status(&self, i: SessionInput) -> Result<Status, ToolError> {
        match self.load(&i.session_id).await.map_err(ToolError::msg)? {
            None => Ok(expired()),
            Some(s) if s.state == "done" => Ok(Status {
                authenticated: true,
                email: s.email,
                name: s.name.clone(),
                expired: false,
                message: format!("Signed in as {}", s.name.unwrap_or_default()),
            }),
            Some(_) => Ok(Status {
                authenticated: false,
                email: None,
                name: None,
                expired: false,
                message: "Not signed in yet".into(),
            }),
        }
    }

    async fn bump(&self, key: &str) -> Result<i64, String> {
        self.inner
            .kv
            .incr(&LIMITS, key, 1, Some(self.config().failure_window))
            .await
            .map_err(|e| e.to_string())
    }

    async fn count(&self, key: &str) -> Result<i64, String> {
        Ok(self
            .inner
            .kv
            .get(&LIMITS, key)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Whether any limit is exhausted for this session, account or address.
    async fn limited(
        &self,
        session: &str,
        account: Option<&str>,
        addr: &str,
    ) -> Result<bool, String> {
        let c = self.config();
        if self.count(&format!("s:{session}")).await? >= c.max_session_failures {
            return Ok(true);
        }
        if let Some(a) = account {
            if self.count(&format!("a:{a}")).await? >= c.max_account_failures {
                return Ok(true);
            }
        }
        Ok(self.count(&format!("ip:{addr}")).await? >= c.max_address_failures)
    }

    async fn fail(&self, session: &str, account: Option<&str>, addr: &str) -> Result<i64, String> {
        let n = self.bump(&format!("s:{session}")).await?;
        if let Some(a) = account {
            self.bump(&format!("a:{a}")).await?;
        }
        self.bump(&format!("ip:{addr}")).await?;
        Ok((self.config().max_session_failures - n).max(0))
    }

    /// Handles one widget submission.
    async fn submit(&self, body: Submit, addr: &str) -> Response {
        let unavailable = |e: String| {
            err(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                &format!("sign-in is unavailable right now: {e}"),
                Value::Null,
            )
        };
        let mut s = match self.load(&body.session_id).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return err(
                    StatusCode::GONE,
                    "expired",
                    "This sign-in expired; sign in again.",
                    Value::Null,
                )
            }
            Err(e) => return unavailable(e),
        };
        if !s.nonce_issued || !ct_eq(&hash(&body.nonce), &s.nonce_hash) {
            return err(
                StatusCode::FORBIDDEN,
                "invalid_nonce",
                "This sign-in form is not valid for this session; reopen it.",
                Value::Null,
            );
        }
        let account_key = s
            .email
            .clone()
            .or_else(|| body.email.as_ref().map(|e| e.trim().to_lowercase()));
        match self
            .limited(&body.session_id, account_key.as_deref(), addr)
            .await
        {
            Ok(true) => {
                return err(
                    StatusCode::TOO_MANY_REQUESTS,
                    "locked",
                    "Too many attempts. Wait a few minutes, then sign in again.",
                    Value::Null,
                )
            }
            Ok(false) => {}
            Err(e) => return unavailable(e),
        }
        match (body.step.as_str(), s.state.as_str()) {
            (_, "done") => ok(json!({"next": "done", "name": s.name, "email": s.email})),
            ("credentials", "credentials" | "code") => {
                let (Some(email), Some(password)) =
                    (body.email.as_deref(), body.password.as_deref())
                else {
                    return err(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "Enter your email and password.",
                        Value::Null,
                    );
                };
                let email = email.trim().to_lowercase();
                let account = match self.inner.directory.check_password(&email, password).await {
                    Ok(a) => a,
                    Err(e) => return unavailable(e),
                };
                let Some(account) = account else {
                    return match self.fail(&body.session_id, Some(&email), addr).await {
                        Ok(left) => err(
                            StatusCode::UNAUTHORIZED,
                            "invalid_credentials",
                            "The email or password is wrong.",
                            json!({"remaining": left}),
                        ),
                        Err(e) => unavailable(e),
                    };
                };
                s.subject = Some(account.subject.clone());
                s.email = Some(account.email.clone());
                s.name = Some(account.name.clone());
                s.state = "code".into();
                if account.has_totp {
                    s.method = Some("totp".into());
                    s.code_hash = None;
                } else {
                    let code = six_digits();
                    s.method = Some("email".into());
                    s.code_hash = Some(hash(&format!("{}:{code}", body.session_id)));
                    s.code_expires_ms =
                        Some(widgetry_store::now_ms() + self.config().code_ttl.as_millis() as u64);
                    if let Err(e) = self.inner.sender.send(&account, &code).await {
                        return unavailable(format!("could not send the code: {e}"));
                    }
                }
                if let Err(e) = self.save(&body.session_id, &s).await {
                    return unavailable(e);
                }
                ok(
                    json!({"next": "code", "method": s.method, "email": mask(&account.email), "delivery": self.inner.sender.delivery()}),
                )
            }
            ("code", "code") => {
                let code = body.code.as_deref().unwrap_or("").trim().to_string();
                if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    return err(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "Enter the 6-digit code.",
                        Value::Null,
                    );
                }
                let right = match s.method.as_deref() {
                    Some("totp") => {
                        let account = Account {
                            subject: s.subject.clone().unwrap_or_default(),
                            email: s.email.clone().unwrap_or_default(),
                            name: s.name.clone().unwrap_or_default(),
                            has_totp: true,
                        };
                        match self.inner.directory.check_totp(&account, &code).await {
                            Ok(b) => b,
                            Err(e) => return unavailable(e),
                        }
                    }
                    _ => {
                        let fresh = s
                            .code_expires_ms
                            .is_some_and(|t| t > widgetry_store::now_ms());
                        fresh
                            && s.code_hash.as_deref().is_some_and(|h| {
                                ct_eq(h, &hash(&format!("{}:{code}", body.session_id)))
                            })
                    }
                };
                if !right {
                    return match self.fail(&body.session_id, s.email.as_deref(), addr).await {
                        Ok(left) => err(
                            StatusCode::UNAUTHORIZED,
                            "invalid_code",
                            "That code is not right.",
                            json!({"remaining": left}),
                        ),
                        Err(e) => unavailable(e),
                    };
                }
                s.state = "done".into();
                s.code_hash = None;
                if let Err(e) = self.save(&body.session_id, &s).await {
                    return unavailable(e);
                }
                ok(json!({"next": "done", "name": s.name, "email": s.email}))
            }
            (step, state) => err(
                StatusCode::CONFLICT,
                "wrong_step",
                &format!("This sign-in is at the {state} step, not {step}."),
                json!({"state": state}),
            ),
        }
    }

    /// `POST /api/session/authenticate`, behind the widget-endpoint layers (origin
    /// refusal, CORS for widget origins, a 16 KiB body limit).
    pub fn router(&self) -> Router {
        let me = self.clone();
        let r = Router::new()
            .route("/api/session/authenticate", post(submit_route))
            .with_state(self.clone());
        widget_endpoint(
            r,
            Arc::new(move |o: &str| {
                me.inner
                    .origins
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .allows(o)
            }),
            vec![http::header::CONTENT_TYPE],
            MAX_SUBMIT_BODY,
        )
    }
}

fn expired() -> Status {
    Status {
        authenticated: false,
        email: None,
        name: None,
        expired: true,
        message: "This sign-in expired; sign in again.".into(),
    }
}

fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((u, d)) if !u.is_empty() => format!(
            "{}•••@{d}",
            &u[..u.chars().next().map(char::len_utf8).unwrap_or(1)]
        ),
        _ => "your email".into(),
    }
}

/// The relay tool's name: the authenticate tool's, with `_submit`.
fn submit_tool_name(c: &SignInConfig) -> String {
    format!("{}_submit", c.authenticate_tool)
}

fn client_addr(connect: Option<&ConnectInfo<SocketAddr>>) -> String {
    connect
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Largest sign-in request body.
const MAX_SUBMIT_BODY: usize = 16 * 1024;

async fn submit_route(State(s): State<SignIn>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let connect = parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned();
    let body = match read_body(body, MAX_SUBMIT_BODY).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match serde_json::from_slice::<Submit>(&body) {
        Ok(b) => s.submit(b, &client_addr(connect.as_ref())).await,
        Err(e) => err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("The request is malformed: {e}"),
            Value::Null,
        ),
    }
}
