//! [`AuthzConfig`]: everything the authorization server needs to know, validated once by
//! [`crate::AuthorizationServer::open`].

use std::time::Duration;

use crate::{AuthzError, TrustedProxies};

/// Configuration of the embedded authorization server.
///
/// Start from [`AuthzConfig::new`] and change the fields you need:
///
/// ```
/// use std::time::Duration;
/// let mut config = widgetry_authz::AuthzConfig::new(
///     "https://gallery.example.com",
///     "https://gallery.example.com/mcp",
/// );
/// config.scopes_supported = vec!["orders:read".into(), "orders:write".into()];
/// config.default_scopes = vec!["orders:read".into()];
/// config.access_token_ttl = Duration::from_secs(600);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthzConfig {
    /// The issuer identifier: an `https` URL (or `http` on a loopback host, for
    /// development) without query or fragment. A trailing `/` is removed. Endpoints live
    /// under `{issuer}/oauth/`.
    pub issuer: String,
    /// The resources (RFC 8707) tokens may be issued for, e.g. the app's
    /// `https://host/mcp`; each becomes an allowed `aud`. The first is the default when an
    /// authorization request names none.
    pub resources: Vec<String>,
    /// Scopes clients may request (advertised as `scopes_supported`).
    pub scopes_supported: Vec<String>,
    /// Scopes granted when a request names none.
    pub default_scopes: Vec<String>,
    /// Lifetime of access tokens (default 15 minutes).
    pub access_token_ttl: Duration,
    /// Lifetime of each refresh token; every rotation starts a new one (default 30 days).
    pub refresh_token_ttl: Duration,
    /// How long a refresh token, once used, still works for the double-refresh race (the
    /// client sent it twice before the first answer arrived; default 30 s). It stops
    /// working earlier, as soon as one of its successors is used; presented after either,
    /// it is token reuse and revokes the grant. Zero allows no second use at all.
    pub refresh_token_grace: Duration,
    /// Lifetime of authorization codes (default 2 minutes).
    pub code_ttl: Duration,
    /// How long a user has to sign in and consent (default 15 minutes).
    pub authorization_request_ttl: Duration,
    /// Dynamic registrations never used within this time are deleted (default 24 hours).
    pub dcr_unused_ttl: Duration,
    /// Ceiling on dynamic registrations not used yet (default 1,000): beyond it the
    /// registration endpoint answers 429 until some are used or expire
    /// ([`AuthzConfig::dcr_unused_ttl`]).
    pub max_unused_registrations: u64,
    /// Dynamic registrations one client address may make per
    /// [`AuthzConfig::creation_rate_window`] (default 20); beyond it, 429.
    pub registrations_per_address: u32,
    /// Ceiling on authorization requests in progress (signed in and consented or not yet;
    /// default 10,000): beyond it the authorization endpoint shows a "too many requests"
    /// page (429) until some finish or expire.
    pub max_pending_authorizations: u64,
    /// Authorization requests one client address may start per
    /// [`AuthzConfig::creation_rate_window`] (default 200); beyond it, 429.
    pub pending_authorizations_per_address: u32,
    /// The window of the per-address creation limits (default 1 hour). Behind a proxy,
    /// set [`AuthzConfig::trusted_proxies`], or every caller shares one address.
    pub creation_rate_window: Duration,
    /// Whether the RFC 7591 registration endpoint is open (default true).
    pub dynamic_registration: bool,
    /// Accept Client ID Metadata Documents served over `http` from `127.0.0.1`, `[::1]` or
    /// `localhost` (development and tests only; default false).
    pub allow_loopback_metadata_documents: bool,
    /// Time limit for fetching a Client ID Metadata Document (default 5 s).
    pub metadata_document_timeout: Duration,
    /// Size limit of a Client ID Metadata Document (default 5 KiB).
    pub metadata_document_max_bytes: usize,
    /// How many fetched metadata documents are cached (default 256).
    pub metadata_document_cache_entries: usize,
    /// Longest a metadata document is cached, whatever its `Cache-Control` says
    /// (default 24 hours); documents without `max-age` are cached 5 minutes.
    pub metadata_document_max_age: Duration,
    /// How long a document that could not be fetched or was invalid is answered from
    /// memory instead of fetched again (default 1 minute).
    pub metadata_document_failure_ttl: Duration,
    /// Lockouts and slow-downs of password and second-factor guesses on the sign-in page
    /// (per account and address pair, with ceilings per account and per address; see
    /// [`crate::throttle`]).
    pub sign_in_throttle: crate::throttle::ThrottleRules,
    /// Secret (at least 32 random characters) from which the key that seals private
    /// signing keys and TOTP secrets in the store is derived. `None` stores them unsealed,
    /// protected only by the store's access control (the SQLite file is created `0600`).
    pub key_encryption_key: Option<String>,
    /// The reverse proxies whose `X-Forwarded-For` (or `Forwarded`) header gives the
    /// client address used by the sign-in lockouts and creation limits (default none:
    /// the TCP peer address is used). See [`TrustedProxies`].
    pub trusted_proxies: TrustedProxies,
    /// How often expired records are swept (default 5 minutes; zero disables the sweeper).
    pub sweep_interval: Duration,
    /// The name shown on the sign-in and consent pages (default "Widgetry").
    pub display_name: String,
}

impl AuthzConfig {
    /// A configuration with the defaults documented on each field, one resource, and no
    /// scopes.
    pub fn new(issuer: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            resources: vec![resource.into()],
            scopes_supported: Vec::new(),
            default_scopes: Vec::new(),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_token_grace: Duration::from_secs(30),
            code_ttl: Duration::from_secs(120),
            authorization_request_ttl: Duration::from_secs(15 * 60),
            dcr_unused_ttl: Duration::from_secs(24 * 3600),
            max_unused_registrations: 1_000,
            registrations_per_address: 20,
            max_pending_authorizations: 10_000,
            pending_authorizations_per_address: 200,
            creation_rate_window: Duration::from_secs(3600),
            dynamic_registration: true,
            allow_loopback_metadata_documents: false,
            metadata_document_timeout: Duration::from_secs(5),
            metadata_document_max_bytes: 5 * 1024,
            metadata_document_cache_entries: 256,
            metadata_document_max_age: Duration::from_secs(24 * 3600),
            metadata_document_failure_ttl: Duration::from_secs(60),
            sign_in_throttle: crate::throttle::ThrottleRules::default(),
            key_encryption_key: None,
            trusted_proxies: TrustedProxies::none(),
            sweep_interval: Duration::from_secs(5 * 60),
            display_name: "Widgetry".into(),
        }
    }

    /// Checks every field and normalizes the issuer; what `open` runs.
    pub(crate) fn validate(mut self) -> Result<Self, AuthzError> {
        let bad = |m: String| Err(AuthzError::Config(m));
        while self.issuer.ends_with('/') {
            self.issuer.pop();
        }
        let issuer = crate::url::Url::parse(&self.issuer)
            .map_err(|e| AuthzError::Config(format!("issuer {:?}: {e}", self.issuer)))?;
        if issuer.query.is_some() || issuer.fragment.is_some() || issuer.userinfo {
            return bad(format!(
                "issuer {:?} must not have a query, fragment or user info",
                self.issuer
            ));
        }
        if issuer.scheme != "https" && !(issuer.scheme == "http" && issuer.is_loopback_host()) {
            return bad(format!(
                "issuer {:?} must be an https URL (http is allowed on 127.0.0.1, [::1] and localhost)",
                self.issuer
            ));
        }
        if self.resources.is_empty() {
            return bad(
                "resources is empty; list the URL of the protected app, e.g. https://host/mcp"
                    .into(),
            );
        }
        for r in &self.resources {
            let u = crate::url::Url::parse(r)
                .map_err(|e| AuthzError::Config(format!("resource {r:?}: {e}")))?;
            if u.fragment.is_some() {
                return bad(format!("resource {r:?} must not have a fragment"));
            }
        }
        for s in &self.scopes_supported {
            if !crate::scope::is_scope_token(s) {
                return bad(format!(
                    "scope {s:?} is not a valid scope token (printable ASCII without spaces, quotes or backslashes)"
                ));
            }
        }
        for s in &self.default_scopes {
            if !self.scopes_supported.contains(s) {
                return bad(format!("default scope {s:?} is not in scopes_supported"));
            }
        }
        for (name, d) in [
            ("access_token_ttl", self.access_token_ttl),
            ("refresh_token_ttl", self.refresh_token_ttl),
            ("code_ttl", self.code_ttl),
            ("authorization_request_ttl", self.authorization_request_ttl),
            ("metadata_document_timeout", self.metadata_document_timeout),
            ("creation_rate_window", self.creation_rate_window),
        ] {
            if d.as_secs() == 0 {
                return bad(format!("{name} must be at least one second"));
            }
        }
        if self.registrations_per_address == 0
            || self.pending_authorizations_per_address == 0
            || self.max_unused_registrations == 0
            || self.max_pending_authorizations == 0
        {
            return bad(
                "the creation limits (registrations_per_address, max_unused_registrations, \
                 pending_authorizations_per_address, max_pending_authorizations) must be at \
                 least 1"
                    .into(),
            );
        }
        if let Err(e) = self.sign_in_throttle.validate() {
            return bad(format!("sign_in_throttle: {e}"));
        }
        Ok(self)
    }

    /// The issuer's path ("" or "/tenant"), under which the endpoints are routed.
    pub(crate) fn issuer_path(&self) -> String {
        crate::url::Url::parse(&self.issuer)
            .map(|u| u.path)
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned()
    }
}
