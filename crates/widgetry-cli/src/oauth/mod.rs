//! The OAuth 2.1 client, doing what ChatGPT does when an MCP server challenges: read
//! the challenge, discover the protected resource and its authorization server,
//! obtain a client identity, run the authorization-code flow with PKCE and the RFC 8707
//! `resource`, keep the tokens, refresh them, and step up scopes on
//! `insufficient_scope`, with retry limits so it never loops.
//!
//! The MCP client ([`crate::mcp`]) asks [`Authorizer::bearer`] for a token before each
//! request and calls [`Authorizer::on_unauthorized`] / [`Authorizer::on_insufficient_scope`]
//! when the server says no; an [`Attempts`] per request bounds the retries.

pub mod challenge;
pub mod discovery;
pub mod flow;
pub mod registration;
pub mod scope;
pub mod store;
pub mod token;

use std::time::Duration;

pub use challenge::Challenge;
pub use flow::SignInMode;
pub use scope::ScopeSet;
pub use store::TokenStore;

use discovery::{AuthServer, ProtectedResource};
use flow::CallbackListener;
use registration::{ClientRegistration, RegistrationKind};
use store::StoredToken;
use token::Grant;

use crate::http::{HttpClient, HttpError, HttpUrl};

/// Sign-ins one request may trigger on 401: a server that rejects the token it just
/// had issued will not accept the next one either.
const MAX_SIGN_INS_PER_REQUEST: u32 = 1;
/// Step-ups (sign-ins on 403 `insufficient_scope`) one request may trigger.
const MAX_STEP_UPS_PER_REQUEST: u32 = 2;
/// Sign-ins one run may trigger in total.
const MAX_SIGN_INS_PER_RUN: u32 = 4;
/// Tokens this close to expiry (seconds) are refreshed before use.
const EXPIRY_MARGIN_SECS: u64 = 30;

/// What can go wrong signing in.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Transport.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Metadata could not be found or read.
    #[error("{0}")]
    Discovery(String),
    /// The protected-resource metadata speaks for another resource.
    #[error(
        "the protected-resource metadata is for {resource}, not for this server ({server}); \
         refusing to sign in there"
    )]
    ResourceMismatch {
        /// The metadata's `resource`.
        resource: String,
        /// The MCP server.
        server: String,
    },
    /// The authorization server metadata names another issuer (RFC 8414 §3.3).
    #[error("the authorization server metadata at {url} is for issuer {found:?}, not {expected:?}; refusing to use it")]
    IssuerMismatch {
        /// Where the metadata was read.
        url: String,
        /// Its `issuer`.
        found: String,
        /// The issuer that was asked for.
        expected: String,
    },
    /// No PKCE S256 at the authorization server.
    #[error(
        "the authorization server {issuer} does not list S256 in code_challenge_methods_supported; \
         MCP requires PKCE with S256, so widgetry will not sign in there"
    )]
    NoPkce {
        /// The issuer.
        issuer: String,
    },
    /// A plain-HTTP endpoint on a non-loopback host.
    #[error("{0}")]
    Insecure(String),
    /// No client identity could be had.
    #[error("{0}")]
    Registration(String),
    /// The authorization step failed.
    #[error("sign-in failed: {0}")]
    Authorization(String),
    /// The token endpoint refused.
    #[error("the token endpoint {url} refused: {detail}")]
    Token {
        /// The token endpoint.
        url: String,
        /// What it said.
        detail: String,
    },
    /// The server keeps answering 401.
    #[error("the server still answers 401 after signing in ({0}); giving up")]
    StillUnauthorized(String),
    /// The server keeps answering 403 insufficient_scope.
    #[error(
        "the server refuses with insufficient_scope (needs: {needed}; the token has: {granted}); \
         signing in again would not change that, so widgetry gives up"
    )]
    ScopeRefused {
        /// What the challenge asks for.
        needed: String,
        /// What the token carries.
        granted: String,
    },
    /// The token file could not be used.
    #[error("cannot use the token store {path}: {reason}")]
    Store {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// How to sign in, from the command line.
#[derive(Debug, Clone)]
pub struct OAuthOptions {
    /// Browser, printed URL, or headless.
    pub sign_in: SignInMode,
    /// A pre-registered client id (with its secret, for confidential clients).
    pub client_id: Option<String>,
    /// The pre-registered client's secret.
    pub client_secret: Option<String>,
    /// A Client ID Metadata Document URL, used when the server supports them.
    pub client_metadata_url: Option<String>,
    /// Scopes to ask for on top of what the server asks for.
    pub scopes: ScopeSet,
    /// The loopback callback port (0: any).
    pub callback_port: u16,
    /// `client_name` for dynamic registration.
    pub client_name: String,
    /// Bound on each HTTP exchange with the authorization server.
    pub http_timeout: Duration,
    /// How long to wait for the user to finish signing in.
    pub sign_in_timeout: Duration,
}

/// Retry bookkeeping for one MCP request.
#[derive(Debug, Default)]
pub struct Attempts {
    sign_ins: u32,
    step_ups: u32,
    refreshed: bool,
}

/// What discovery found for the server.
#[derive(Debug, Clone)]
struct Discovered {
    resource: Option<ProtectedResource>,
    auth_server: AuthServer,
}

/// The OAuth client for one MCP server.
pub struct Authorizer {
    http: HttpClient,
    server: HttpUrl,
    key: String,
    options: OAuthOptions,
    store: TokenStore,
    token: Option<StoredToken>,
    discovered: Option<Discovered>,
    sign_ins: u32,
}

impl Authorizer {
    /// An authorizer for `server`, starting from what `store` remembers.
    pub fn new(
        http: HttpClient,
        server: HttpUrl,
        options: OAuthOptions,
        store: TokenStore,
    ) -> Self {
        let key = server.to_string();
        let token = store.token(&key).cloned();
        Self {
            http,
            server,
            key,
            options,
            store,
            token,
            discovered: None,
            sign_ins: 0,
        }
    }

    /// The access token to send, refreshed first when it is about to expire. `None`:
    /// send the request without one (the server will say whether it needs one).
    pub async fn bearer(&mut self) -> Result<Option<String>, AuthError> {
        let Some(token) = &self.token else {
            return Ok(None);
        };
        if token.expires_within(EXPIRY_MARGIN_SECS) && !self.refresh().await? {
            self.forget_token()?;
            return Ok(None);
        }
        Ok(self.token.as_ref().map(|t| t.access_token.clone()))
    }

    /// The server answered 401: refresh once if a token was sent, else sign in.
    pub async fn on_unauthorized(
        &mut self,
        challenge: &Challenge,
        sent_token: bool,
        attempts: &mut Attempts,
    ) -> Result<(), AuthError> {
        if sent_token && !attempts.refreshed {
            attempts.refreshed = true;
            if self.refresh().await? {
                return Ok(());
            }
        }
        if attempts.sign_ins >= MAX_SIGN_INS_PER_REQUEST {
            return Err(AuthError::StillUnauthorized(challenge.describe()));
        }
        let previous = self
            .token
            .as_ref()
            .map(|t| t.requested_scope.clone())
            .unwrap_or_default();
        self.forget_token()?;
        let discovered = self.discover(challenge).await?;
        let scopes = scope::select(
            challenge.scope.as_ref(),
            discovered
                .resource
                .as_ref()
                .and_then(|r| r.scopes_supported.as_ref()),
            &previous,
            &self.options.scopes,
            discovered.auth_server.scopes_supported.as_ref(),
        );
        attempts.sign_ins += 1;
        self.sign_in(&discovered, scopes).await
    }

    /// The server answered 403 `insufficient_scope`: sign in again asking for the
    /// union of the scopes asked before and the ones the challenge names, unless that
    /// cannot help (nothing new to ask for and the token already carries them).
    pub async fn on_insufficient_scope(
        &mut self,
        challenge: &Challenge,
        attempts: &mut Attempts,
    ) -> Result<(), AuthError> {
        let needed = challenge.scope.clone().unwrap_or_default();
        let (asked, granted) = match &self.token {
            Some(t) => (t.requested_scope.clone(), t.scope.clone()),
            None => (ScopeSet::default(), ScopeSet::default()),
        };
        let refused = || AuthError::ScopeRefused {
            needed: if needed.is_empty() {
                "unspecified".into()
            } else {
                needed.to_string()
            },
            granted: if granted.is_empty() {
                "none".into()
            } else {
                granted.to_string()
            },
        };
        let hopeless =
            needed.is_empty() || (asked.contains_all(&needed) && granted.contains_all(&needed));
        if hopeless || attempts.step_ups >= MAX_STEP_UPS_PER_REQUEST {
            return Err(refused());
        }
        let discovered = self.discover(challenge).await?;
        let scopes = scope::select(
            Some(&needed),
            None,
            &asked,
            &self.options.scopes,
            discovered.auth_server.scopes_supported.as_ref(),
        );
        eprintln!("widgetry: the server needs more permissions ({needed}); signing in again");
        attempts.step_ups += 1;
        self.forget_token()?;
        self.sign_in(&discovered, scopes).await
    }

    /// A tool result carried `_meta["mcp/www_authenticate"]`: the same as an HTTP
    /// challenge, for one tool.
    pub async fn on_tool_challenge(
        &mut self,
        challenge: &Challenge,
        attempts: &mut Attempts,
    ) -> Result<(), AuthError> {
        if challenge.is_insufficient_scope() && self.token.is_some() {
            self.on_insufficient_scope(challenge, attempts).await
        } else {
            let sent = self.token.is_some();
            self.on_unauthorized(challenge, sent, attempts).await
        }
    }

    fn forget_token(&mut self) -> Result<(), AuthError> {
        if self.token.take().is_some() {
            self.store.set_token(&self.key, None)?;
        }
        Ok(())
    }

    /// Uses the refresh token; `Ok(false)` when there is none or it was refused.
    async fn refresh(&mut self) -> Result<bool, AuthError> {
        let Some(old) = self.token.clone() else {
            return Ok(false);
        };
        let Some(refresh_token) = old.refresh_token.as_deref() else {
            return Ok(false);
        };
        let endpoint = HttpUrl::parse(&old.token_endpoint)?;
        let grant = Grant::Refresh { refresh_token };
        let answer = token::request(
            &self.http,
            &endpoint,
            &old.client,
            grant,
            old.resource.as_deref(),
            self.options.http_timeout,
        )
        .await;
        match answer {
            Ok(t) => {
                let fresh = StoredToken {
                    access_token: t.access_token,
                    // Rotation: a new refresh token replaces the old; none keeps it.
                    refresh_token: t.refresh_token.or(old.refresh_token.clone()),
                    expires_at: t.expires_in.map(|s| store::now() + s),
                    scope: t.scope.unwrap_or_else(|| old.scope.clone()),
                    ..old
                };
                self.store.set_token(&self.key, Some(fresh.clone()))?;
                self.token = Some(fresh);
                Ok(true)
            }
            Err(e) => {
                if self.http.verbose() {
                    eprintln!("widgetry: refreshing the token failed: {}", e.error);
                }
                Ok(false)
            }
        }
    }

    /// Protected-resource and authorization-server metadata, cached for the run (and
    /// read again when a challenge names another metadata document).
    async fn discover(&mut self, challenge: &Challenge) -> Result<Discovered, AuthError> {
        if let Some(d) = &self.discovered {
            let same = match (&challenge.resource_metadata, &d.resource) {
                (None, _) => true,
                (Some(named), Some(r)) => {
                    self.server.join(named).is_ok_and(|u| u == r.metadata_url)
                }
                (Some(_), None) => false,
            };
            if same {
                return Ok(d.clone());
            }
        }
        let timeout = self.options.http_timeout;
        let resource = discovery::protected_resource(
            &self.http,
            &self.server,
            challenge.resource_metadata.as_deref(),
            timeout,
        )
        .await?;
        let auth_server = match &resource {
            Some(prm) => {
                discovery::check_resource(prm, &self.server)?;
                let mut last_error = None;
                let mut found = None;
                for issuer in &prm.authorization_servers {
                    match discovery::authorization_server(&self.http, issuer, timeout).await {
                        Ok(a) => {
                            found = Some(a);
                            break;
                        }
                        Err(e) => last_error = Some(e),
                    }
                }
                match (found, last_error) {
                    (Some(a), _) => a,
                    (None, Some(e)) => return Err(e),
                    (None, None) => {
                        return Err(AuthError::Discovery("no authorization server".into()))
                    }
                }
            }
            None => {
                eprintln!(
                    "widgetry: {} publishes no protected-resource metadata; using the MCP 2025-03-26 \
                     fallback (authorization server at the server's origin)",
                    self.server
                );
                discovery::legacy_authorization_server(&self.http, &self.server, timeout).await?
            }
        };
        let d = Discovered {
            resource,
            auth_server,
        };
        self.discovered = Some(d.clone());
        Ok(d)
    }

    /// A client identity at `server` and the listener its redirect URI points to.
    async fn client(
        &mut self,
        server: &AuthServer,
    ) -> Result<(ClientRegistration, CallbackListener), AuthError> {
        let port = self.options.callback_port;
        let bind = |port: u16| async move {
            CallbackListener::bind(port).await.map_err(|e| {
                AuthError::Authorization(format!(
                    "cannot listen on 127.0.0.1:{port} for the sign-in callback: {e}"
                ))
            })
        };
        if let Some(id) = &self.options.client_id {
            let client =
                registration::pre_registered(server, id, self.options.client_secret.as_deref())?;
            return Ok((client, bind(port).await?));
        }
        if let (Some(url), true) = (
            &self.options.client_metadata_url,
            server.client_id_metadata_documents,
        ) {
            return Ok((registration::metadata_document(url), bind(port).await?));
        }
        // Reuse an earlier registration when its redirect port is free again.
        if let Some(known) = self.store.client(&server.issuer).cloned() {
            let known_port = known
                .redirect_uri
                .as_deref()
                .and_then(|u| HttpUrl::parse(u).ok())
                .and_then(|u| u.port());
            if let Some(p) = known_port.filter(|p| port == 0 || *p == port) {
                if let Ok(listener) = CallbackListener::bind(p).await {
                    if Some(listener.redirect_uri().as_str()) == known.redirect_uri.as_deref() {
                        return Ok((known, listener));
                    }
                }
            }
        }
        let listener = bind(port).await?;
        let client = registration::register(
            &self.http,
            server,
            &listener.redirect_uri(),
            &self.options.client_name,
            self.options.http_timeout,
        )
        .await?;
        self.store
            .set_client(&server.issuer, Some(client.clone()))?;
        Ok((client, listener))
    }

    /// One authorization-code flow, ending with a stored token.
    async fn sign_in(&mut self, d: &Discovered, scopes: ScopeSet) -> Result<(), AuthError> {
        self.sign_ins += 1;
        if self.sign_ins > MAX_SIGN_INS_PER_RUN {
            return Err(AuthError::Authorization(format!(
                "{MAX_SIGN_INS_PER_RUN} sign-ins in one run did not satisfy the server; giving up"
            )));
        }
        let server = &d.auth_server;
        // RFC 8707 `resource`: the metadata's identifier; none for 2025-03-26 servers.
        let resource = d.resource.as_ref().map(|prm| {
            prm.resource
                .clone()
                .unwrap_or_else(|| self.server.to_string())
        });
        let (client, listener) = self.client(server).await?;
        let redirect_uri = listener.redirect_uri();
        let pkce = flow::Pkce::new()?;
        let state = flow::random_token(16)?;
        let scope_param = scopes.to_param();
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", &redirect_uri),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("state", &state),
        ];
        if let Some(s) = &scope_param {
            params.push(("scope", s));
        }
        if let Some(r) = &resource {
            params.push(("resource", r));
        }
        let url = server.authorization_endpoint.with_query_pairs(params);
        eprintln!(
            "widgetry: signing in to {} at {}{}",
            self.server,
            server.issuer,
            scope_param
                .as_deref()
                .map(|s| format!(" (scope: {s})"))
                .unwrap_or_default()
        );
        let answer = flow::authorize(
            self.options.sign_in,
            &self.http,
            &url,
            listener,
            &state,
            self.options.http_timeout,
            self.options.sign_in_timeout,
        )
        .await?;
        // RFC 9207: an `iss` must be the issuer we started with; a server that
        // promises one must send it (mix-up attack defence).
        match &answer.iss {
            Some(iss) if iss != &server.issuer => {
                return Err(AuthError::Authorization(format!(
                    "the answer comes from issuer {iss:?}, not {:?} (RFC 9207); refusing it",
                    server.issuer
                )))
            }
            None if server.iss_parameter_supported => {
                return Err(AuthError::Authorization(
                    "the authorization server promises an iss parameter (RFC 9207) but sent none; refusing the answer"
                        .into(),
                ))
            }
            _ => {}
        }
        let grant = Grant::AuthorizationCode {
            code: &answer.code,
            verifier: &pkce.verifier,
            redirect_uri: &redirect_uri,
        };
        let issued = token::request(
            &self.http,
            &server.token_endpoint,
            &client,
            grant,
            resource.as_deref(),
            self.options.http_timeout,
        )
        .await;
        let t = match issued {
            Ok(t) => t,
            Err(e) => {
                if e.code.as_deref() == Some("invalid_client")
                    && client.kind == RegistrationKind::Dynamic
                {
                    // The server forgot our registration: register anew next time.
                    self.store.set_client(&server.issuer, None)?;
                }
                return Err(e.error);
            }
        };
        let stored = StoredToken {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at: t.expires_in.map(|s| store::now() + s),
            scope: t.scope.unwrap_or_else(|| scopes.clone()),
            requested_scope: scopes,
            resource,
            issuer: server.issuer.clone(),
            token_endpoint: server.token_endpoint.to_string(),
            client,
        };
        self.store.set_token(&self.key, Some(stored.clone()))?;
        self.token = Some(stored);
        if let Some(path) = self.store.path() {
            eprintln!("widgetry: signed in (token saved in {})", path.display());
        } else {
            eprintln!("widgetry: signed in");
        }
        Ok(())
    }
}
