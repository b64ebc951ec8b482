//! [`SignInConfig`]: tool names, lifetimes and limits of the sign-in widget.

use std::time::Duration;

use widgetry_authz::throttle::ThrottleRules;
use widgetry_authz::TrustedProxies;

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
    /// Lockouts and slow-downs of password and code guesses, per (account, address) pair
    /// with ceilings per account and per address (see [`widgetry_authz::throttle`]).
    pub throttle: ThrottleRules,
    /// Sign-in sessions one caller (a signed-in user, or else a client address) may start
    /// per [`SignInConfig::creation_window`] (default 20).
    pub sessions_per_caller: i64,
    /// Sign-in sessions all callers together may start per window (default 10,000).
    pub sessions_per_window: i64,
    /// The window of the two creation limits (default 10 minutes).
    pub creation_window: Duration,
    /// The app's public origin, where the widget posts (e.g. `https://app.example.com`).
    pub public_url: String,
    /// How often expired sessions are swept from the store (default 1 minute).
    pub sweep_interval: Duration,
    /// The reverse proxies whose `X-Forwarded-For` gives the client address of the
    /// per-address limits (default none: the TCP peer is the client).
    pub trusted_proxies: TrustedProxies,
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
            throttle: ThrottleRules::default(),
            sessions_per_caller: 20,
            sessions_per_window: 10_000,
            creation_window: Duration::from_secs(600),
            public_url: public_url.into().trim_end_matches('/').to_string(),
            sweep_interval: Duration::from_secs(60),
            trusted_proxies: TrustedProxies::none(),
        }
    }
}
