//! The embedded authorization server, wired into an app: `AUTHORIZATION_SERVER_URL`
//! unset means the app runs its own OAuth 2.1 server (widgetry-authz), persisted in the
//! app's store; set, the app trusts that issuer (Auth0, Okta, Keycloak) instead.
//!
//! Compiled with the `authz` cargo feature (on by default).

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use widgetry_authz::{AuthorizationServer, AuthzConfig, TrustedProxies};
use widgetry_store::StoreLocation;

use crate::auth::{AuthConfig, AuthError, BoxFuture, ConfigError, User, Verifier};
use crate::ops::Settings;
#[cfg(feature = "signin")]
use crate::signin::{Account, Directory};

/// The embedded server and the resource-server configuration that trusts it.
#[derive(Clone)]
pub struct EmbeddedAuth {
    server: AuthorizationServer,
    resource: String,
}

impl std::fmt::Debug for EmbeddedAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedAuth")
            .field("issuer", &self.server.issuer())
            .field("resource", &self.resource)
            .finish()
    }
}

/// How an app authenticates: trusting an external issuer, or running its own.
#[derive(Debug, Clone)]
pub enum AuthSetup {
    /// `AUTHORIZATION_SERVER_URL` names an external issuer.
    External(AuthConfig),
    /// The app runs its own authorization server.
    Embedded(EmbeddedAuth),
}

impl AuthSetup {
    /// The resource-server configuration.
    pub fn config(&self, default_scopes: &[String]) -> AuthConfig {
        match self {
            AuthSetup::External(c) => c.clone(),
            AuthSetup::Embedded(e) => e
                .auth_config()
                .default_scopes(default_scopes.iter().cloned()),
        }
    }

    /// The embedded server, when there is one.
    pub fn embedded(&self) -> Option<&EmbeddedAuth> {
        match self {
            AuthSetup::Embedded(e) => Some(e),
            AuthSetup::External(_) => None,
        }
    }

    /// Like [`AuthSetup::from_env`], with the deployment [`Settings`]: the embedded server
    /// is reached at the public URL (its issuer; the resource is `<public>/mcp` unless
    /// `RESOURCE_SERVER_URL` says otherwise), keeps its data in the database of the
    /// settings when that is PostgreSQL, seals its keys with their key-encryption key,
    /// and believes their trusted proxies.
    pub async fn from_settings(
        settings: &Settings,
        local: std::net::SocketAddr,
        scopes_supported: &[&str],
    ) -> Result<Self, ConfigError> {
        if let Some(c) = AuthConfig::from_env()? {
            return Ok(AuthSetup::External(c));
        }
        let resource = std::env::var("RESOURCE_SERVER_URL")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| format!("{}/mcp", settings.public_origin(local)));
        let store = match &settings.stores.database {
            StoreLocation::Postgres(url) => url.clone(),
            _ => widgetry_authz::default_store_path(&settings.data_dir)
                .display()
                .to_string(),
        };
        let options = EmbeddedOptions {
            key_encryption_key: settings.key_encryption_key.clone(),
            trusted_proxies: settings.trusted_proxies.clone(),
        };
        EmbeddedAuth::open_with(&resource, &store, scopes_supported, options)
            .await
            .map(AuthSetup::Embedded)
    }

    /// Reads the environment: with `AUTHORIZATION_SERVER_URL` set, an external issuer
    /// (see [`AuthConfig::from_env`]); otherwise an embedded server whose resource is
    /// `RESOURCE_SERVER_URL` (default `default_resource`), with its data in
    /// `WIDGETRY_DATABASE_URL` (PostgreSQL) or `<data_dir>/authz.sqlite3`.
    pub async fn from_env(
        default_resource: &str,
        data_dir: &Path,
        scopes_supported: &[&str],
    ) -> Result<Self, ConfigError> {
        if let Some(c) = AuthConfig::from_env()? {
            return Ok(AuthSetup::External(c));
        }
        let resource =
            std::env::var("RESOURCE_SERVER_URL").unwrap_or_else(|_| default_resource.to_string());
        let store = match std::env::var("WIDGETRY_DATABASE_URL") {
            Ok(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => url,
            _ => widgetry_authz::default_store_path(data_dir)
                .display()
                .to_string(),
        };
        EmbeddedAuth::open(&resource, &store, scopes_supported)
            .await
            .map(AuthSetup::Embedded)
    }
}

/// Deployment options of the embedded authorization server.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EmbeddedOptions {
    /// Seals its signing keys and TOTP secrets at rest (32+ random characters).
    pub key_encryption_key: Option<String>,
    /// Proxies believed about the client address of its sign-in lockouts and limits.
    pub trusted_proxies: TrustedProxies,
}

fn origin_of(url: &str) -> &str {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find('/') {
        Some(p) => &url[..after + p],
        None => url,
    }
}

impl EmbeddedAuth {
    /// Opens the embedded server for the resource `resource` (this app's `/mcp` URL); the
    /// issuer is the resource's origin. `store` is a PostgreSQL URL or a SQLite path.
    /// The key-encryption key comes from `WIDGETRY_KEY_ENCRYPTION_KEY`.
    pub async fn open(
        resource: &str,
        store: &str,
        scopes_supported: &[&str],
    ) -> Result<Self, ConfigError> {
        let options = EmbeddedOptions {
            key_encryption_key: std::env::var("WIDGETRY_KEY_ENCRYPTION_KEY").ok(),
            ..EmbeddedOptions::default()
        };
        Self::open_with(resource, store, scopes_supported, options).await
    }

    /// [`EmbeddedAuth::open`] with explicit deployment options.
    pub async fn open_with(
        resource: &str,
        store: &str,
        scopes_supported: &[&str],
        options: EmbeddedOptions,
    ) -> Result<Self, ConfigError> {
        crate::auth::check_url("the resource (RESOURCE_SERVER_URL)", resource)?;
        let issuer = origin_of(resource).to_string();
        let mut config = AuthzConfig::new(issuer, resource.to_string());
        config.scopes_supported = scopes_supported.iter().map(|s| s.to_string()).collect();
        config.key_encryption_key = options.key_encryption_key;
        config.trusted_proxies = options.trusted_proxies;
        let store = widgetry_authz::open_store(store).await.map_err(|e| {
            ConfigError(format!("cannot open the authorization server's store: {e}"))
        })?;
        let server = AuthorizationServer::open(config, store)
            .await
            .map_err(|e| {
                ConfigError(format!(
                    "cannot start the embedded authorization server: {e}"
                ))
            })?;
        Ok(Self {
            server,
            resource: resource.to_string(),
        })
    }

    /// The authorization server (users, clients, keys, token minting).
    pub fn server(&self) -> &AuthorizationServer {
        &self.server
    }

    /// Its HTTP endpoints (`/oauth/*`, discovery documents), to merge into the app.
    pub fn router(&self) -> axum::Router {
        self.server.router()
    }

    /// A resource-server configuration verifying tokens in-process (signature, expiry,
    /// audience and the revocation deny-list).
    pub fn auth_config(&self) -> AuthConfig {
        let mut c = AuthConfig::new(self.server.issuer().to_string(), self.resource.clone())
            .expect("the embedded server's issuer and resource are validated URLs");
        c.verifier = Some(Arc::new(EmbeddedVerifier { auth: self.clone() }));
        // An unreadable AUTH_CHALLENGE falls back to the default, with a warning.
        c.challenge = crate::auth::ChallengeMode::from_vars(|k| std::env::var(k).ok())
            .unwrap_or_else(|e| {
                tracing::warn!("{e}; using AUTH_CHALLENGE=auto");
                crate::auth::ChallengeMode::Auto
            });
        c
    }

    /// The users as a sign-in [`Directory`] (argon2id passwords, TOTP).
    #[cfg(feature = "signin")]
    pub fn directory(&self) -> Arc<dyn Directory> {
        Arc::new(self.clone())
    }

    /// A fresh password for a development demo user: `demo-` and 12 random hex digits
    /// (48 bits from the operating system's generator).
    ///
    /// ```
    /// let p = widgetry::EmbeddedAuth::demo_password();
    /// assert!(p.starts_with("demo-") && p.len() == 17);
    /// assert_ne!(p, widgetry::EmbeddedAuth::demo_password());
    /// ```
    pub fn demo_password() -> String {
        format!("demo-{}", crate::random::random_hex(6))
    }

    /// Creates a user if no user has that name yet; returns whether it was created.
    pub async fn ensure_user(
        &self,
        email: &str,
        name: &str,
        password: &str,
        scopes: &[&str],
    ) -> Result<bool, String> {
        let users = self.server.users();
        if users.get(email).await.map_err(|e| e.to_string())?.is_some() {
            return Ok(false);
        }
        users
            .add(
                widgetry_authz::NewUser::new(email, password)
                    .name(name)
                    .scopes(scopes.iter().copied()),
            )
            .await
            .map(|_| true)
            .map_err(|e| e.to_string())
    }
}

struct EmbeddedVerifier {
    auth: EmbeddedAuth,
}

impl Verifier for EmbeddedVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<User, AuthError>> {
        Box::pin(async move {
            let claims = self
                .auth
                .server
                .verify_access_token(token)
                .await
                .map_err(|e| AuthError::Unavailable(e.to_string()))?
                .ok_or_else(|| AuthError::invalid("the token is invalid, expired or revoked"))?;
            if claims.aud != self.auth.resource {
                return Err(AuthError::invalid(format!(
                    "the token is not meant for this resource (aud must be {:?})",
                    self.auth.resource
                )));
            }
            let mut map: Map<String, Value> = match serde_json::to_value(&claims) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            // The user's profile, for handlers (name and email are not in the token).
            if let Ok(Some(u)) = self.auth.server.users().get_by_id(&claims.sub).await {
                map.insert("name".into(), json!(u.name));
                if u.username.contains('@') {
                    map.insert("email".into(), json!(u.username));
                }
                map.insert("preferred_username".into(), json!(u.username));
            }
            User::from_claims(map, Some(claims.exp.max(0) as u64))
        })
    }
}

#[cfg(feature = "signin")]
impl Directory for EmbeddedAuth {
    fn check_password<'a>(
        &'a self,
        email: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<Option<Account>, String>> {
        Box::pin(async move {
            let user = self
                .server
                .users()
                .verify_password(email, password)
                .await
                .map_err(|e| e.to_string())?;
            Ok(user.map(|u| Account {
                subject: u.id,
                email: u.username,
                name: u.name,
                has_totp: u.has_totp,
            }))
        })
    }

    fn check_totp<'a>(
        &'a self,
        account: &'a Account,
        code: &'a str,
    ) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move {
            self.server
                .users()
                .verify_totp(&account.email, code)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
