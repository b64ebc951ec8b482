//! Session sign-in inside a widget (seed 002, done securely): `create_session`,
//! `authenticate` (renders the three-screen sign-in widget, or its success view) and
//! `auth_status`, plus the endpoint `POST /api/session/authenticate` the widget posts
//! credentials and the verification code to.
//!
//! Security properties:
//! - a session id is 64 hex digits: a public half (the store key, which the widget and
//!   its endpoint see) and a secret half stored only as a hash; the tools need the whole
//!   id and, on a stateful transport, the MCP session that created it, so knowing what the
//!   widget knows reveals neither who signed in nor the widget's nonce;
//! - per-session nonces are 128-bit random values; the nonce reaches only the widget (in
//!   the `authenticate` result's `_meta`), so knowing a session id is not enough to sign
//!   it in;
//! - passwords are checked against the user directory (argon2id in the embedded
//!   authorization server, at most a few at a time); the second factor is TOTP for
//!   enrolled users, otherwise a one-time code sent through a pluggable [`CodeSender`] and
//!   stored only as a hash;
//! - every answer is counted before it is checked: per session, and on the authorization
//!   server's guess throttle ([`widgetry_authz::throttle`]: lockouts per account and
//!   address pair, slow-downs past ceilings per account and per address, passwords and
//!   codes counted apart); starting sessions is limited per caller and overall;
//! - sessions expire (10 minutes by default), are swept in the background, and report
//!   "expired, sign in again". All state lives in a [`KvStore`], so several instances
//!   sharing PostgreSQL or Redis serve the same sessions.

mod bridge;
mod config;
mod directory;
mod endpoint;
mod limits;
mod session;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use widgetry_store::KvStore;

pub use config::SignInConfig;
pub use directory::{Account, CodeSender, ConsoleSender, Directory, MemorySender};

use crate::app::{AllowedOrigins, AppBuilder, NoInput, Tool, Visibility, Widget};
use crate::auth::Auth;
use crate::RequestContext;

/// The sign-in widget: credentials, a six-digit verification code, success.
pub const SIGNIN_WIDGET_HTML: &str = include_str!("../../widgets/signin.html");

/// `_meta` key of the widget-only sign-in data (session id, nonce, endpoint).
pub const META_KEY: &str = "widgetry/signin";

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
    limits: limits::Limits,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
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
        let limits = limits::Limits::new(kv.clone(), &config.throttle);
        Self {
            inner: Arc::new(Inner {
                config,
                kv,
                directory,
                sender,
                origins: std::sync::RwLock::new(origins),
                limits,
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

    /// Allows the sandboxed-iframe `null` origin and loopback origins (development only:
    /// pass [`crate::app::dev_requested`] or `false`).
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

    /// Adds the three tools and the sign-in widget (shipped with Widgetry) to an app, and
    /// the endpoint (see [`AppBuilder::router_extension`]).
    pub fn register(&self, b: AppBuilder) -> AppBuilder {
        self.spawn_sweeper();
        let c = self.config().clone();
        let (s1, s2, s3) = (self.clone(), self.clone(), self.clone());
        let relay = bridge::submit_tool(self.clone(), bridge::tool_name(&c));
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
                Tool::new(c.authenticate_tool.clone(), move |ctx: RequestContext, i: tools::SessionInput| {
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
                Tool::new(c.status_tool.clone(), move |ctx: RequestContext, i: tools::SessionInput| {
                    let s = s3.clone();
                    async move { s.status(ctx, i).await }
                })
                .title("Sign-in status")
                .description("Whether a sign-in session is authenticated, and as whom (only to the conversation that started it).")
                .read_only()
                .visibility(Visibility::Both)
                .auth(Auth::none()),
            )
            .tool(relay)
    }
}
