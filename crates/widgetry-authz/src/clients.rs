//! OAuth clients: the three ways a client becomes known (pre-registered through
//! [`Clients`], RFC 7591 dynamic registration, Client ID Metadata Documents), the rules
//! their metadata must follow, and client authentication at the token endpoint.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::crypto::{constant_time_eq, hash, random_id, random_token};
use crate::store::{ClientKind, ClientRecord};
use crate::url::Url;
use crate::{now, AuthzError, Inner};

/// `token_endpoint_auth_method` values this server supports.
pub const TOKEN_ENDPOINT_AUTH_METHODS: [&str; 3] =
    ["none", "client_secret_basic", "client_secret_post"];

/// A client to pre-register with [`Clients::add`].
///
/// ```
/// let client = widgetry_authz::NewClient::new("ChatGPT", ["https://chatgpt.com/connector_platform_oauth_redirect"])
///     .confidential(true);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewClient {
    /// The `client_id`; a random one when `None`.
    pub client_id: Option<String>,
    /// Name shown on the consent page.
    pub name: String,
    /// Redirect URIs (exact; `https`, or `http` on a loopback host).
    pub redirect_uris: Vec<String>,
    /// A confidential client gets a secret (returned once by [`Clients::add`]) and
    /// authenticates with `client_secret_basic` or `client_secret_post`.
    pub confidential: bool,
    /// Scopes the client may request; `None` means any supported scope.
    pub scopes: Option<Vec<String>>,
    /// Whether the client receives refresh tokens (default true).
    pub refresh_tokens: bool,
}

impl NewClient {
    /// A public client (PKCE only, no secret) with refresh tokens.
    pub fn new<I, S>(name: impl Into<String>, redirect_uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            client_id: None,
            name: name.into(),
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
            confidential: false,
            scopes: None,
            refresh_tokens: true,
        }
    }

    /// Sets the `client_id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Makes the client confidential (it gets a secret).
    pub fn confidential(mut self, confidential: bool) -> Self {
        self.confidential = confidential;
        self
    }

    /// Limits the scopes the client may request.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }
}

/// A client as the API shows it (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The `client_id`.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// How it authenticates at the token endpoint.
    pub token_endpoint_auth_method: String,
    /// Registered scopes (space separated), if limited.
    pub scope: Option<String>,
    /// How it was registered.
    pub kind: ClientKind,
    /// Registration time.
    pub created_at: i64,
    /// When it last received an authorization code.
    pub last_used_at: Option<i64>,
}

impl From<&ClientRecord> for Client {
    fn from(r: &ClientRecord) -> Self {
        Self {
            client_id: r.client_id.clone(),
            name: r.name.clone(),
            redirect_uris: r.redirect_uris.clone(),
            grant_types: r.grant_types.clone(),
            token_endpoint_auth_method: r.auth_method.clone(),
            scope: r.scope.clone(),
            kind: r.kind,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// What [`Clients::add`] returns: the client and, for a confidential client, its secret
/// (shown once, stored only as a hash).
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    /// The client.
    pub client: Client,
    /// The secret, for confidential clients.
    pub client_secret: Option<String>,
}

/// Manages pre-registered (and lists dynamically registered) clients; from
/// [`crate::AuthorizationServer::clients`].
#[derive(Clone)]
pub struct Clients {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients").finish_non_exhaustive()
    }
}

impl Clients {
    /// Pre-registers a client. Fails with [`AuthzError::ClientExists`] when the id is taken.
    pub async fn add(&self, new: NewClient) -> Result<RegisteredClient, AuthzError> {
        let client_id = match new.client_id {
            Some(id) => {
                let id = id.trim().to_owned();
                if id.is_empty() || id.len() > 255 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(AuthzError::InvalidInput(
                        "a client_id has 1 to 255 printable ASCII characters".into(),
                    ));
                }
                if looks_like_url(&id) {
                    return Err(AuthzError::InvalidInput(
                        "a pre-registered client_id must not be a URL (URLs are Client ID Metadata Documents)".into(),
                    ));
                }
                id
            }
            None => format!("wc_{}", random_id()),
        };
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AuthzError::InvalidInput(
                "a client name has 1 to 200 characters".into(),
            ));
        }
        if new.redirect_uris.is_empty() {
            return Err(AuthzError::InvalidInput(
                "a client needs at least one redirect URI".into(),
            ));
        }
        for uri in &new.redirect_uris {
            validate_redirect_uri(uri).map_err(AuthzError::InvalidInput)?;
        }
        let scope = match new.scopes {
            Some(scopes) => {
                for s in &scopes {
                    if !self.inner.config.scopes_supported.contains(s) {
                        return Err(AuthzError::UnknownScope(s.clone()));
                    }
                }
                Some(scopes.join(" "))
            }
            None => None,
        };
        let secret = new.confidential.then(random_token);
        let mut grant_types = vec!["authorization_code".to_owned()];
        if new.refresh_tokens {
            grant_types.push("refresh_token".into());
        }
        let record = ClientRecord {
            client_id: client_id.clone(),
            secret_hash: secret.as_deref().map(hash),
            name,
            redirect_uris: new.redirect_uris,
            grant_types,
            auth_method: if secret.is_some() {
                "client_secret_basic"
            } else {
                "none"
            }
            .into(),
            scope,
            client_uri: None,
            kind: ClientKind::PreRegistered,
            created_at: now(),
            last_used_at: None,
        };
        if !self.inner.store.insert_client(record.clone()).await? {
            return Err(AuthzError::ClientExists(client_id));
        }
        Ok(RegisteredClient {
            client: Client::from(&record),
            client_secret: secret,
        })
    }

    /// Every stored client (pre-registered and dynamic), by id.
    pub async fn list(&self) -> Result<Vec<Client>, AuthzError> {
        Ok(self
            .inner
            .store
            .list_clients()
            .await?
            .iter()
            .map(Client::from)
            .collect())
    }

    /// One stored client.
    pub async fn get(&self, client_id: &str) -> Result<Option<Client>, AuthzError> {
        Ok(self
            .inner
            .store
            .client(client_id)
            .await?
            .as_ref()
            .map(Client::from))
    }

    /// Removes a client and revokes its grants; `false` when unknown.
    pub async fn remove(&self, client_id: &str) -> Result<bool, AuthzError> {
        Ok(self.inner.store.delete_client(client_id, now()).await?)
    }
}

/// Whether a `client_id` has the shape of a Client ID Metadata Document URL.
pub(crate) fn looks_like_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Redirect URI rules: absolute, no fragment, no user info, `https` or `http` on a
/// loopback host (RFC 8252 §7.3). ChatGPT's are plain `https` URLs and pass.
pub(crate) fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let u = Url::parse(uri).map_err(|e| format!("redirect URI {uri:?}: {e}"))?;
    if u.fragment.is_some() {
        return Err(format!("redirect URI {uri:?} must not have a fragment"));
    }
    if u.userinfo {
        return Err(format!("redirect URI {uri:?} must not carry user info"));
    }
    match u.scheme.as_str() {
        "https" => Ok(()),
        "http" if u.is_loopback_host() => Ok(()),
        "http" => Err(format!(
            "redirect URI {uri:?} uses http on a non-loopback host; use https (http only on 127.0.0.1, [::1] or localhost)"
        )),
        other => Err(format!("redirect URI {uri:?} uses scheme {other:?}; only https (or loopback http) is allowed")),
    }
}

/// An RFC 7591 §3.2.2 registration error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistrationError {
    pub code: &'static str,
    pub description: String,
}

fn metadata_error(description: impl Into<String>) -> RegistrationError {
    RegistrationError {
        code: "invalid_client_metadata",
        description: description.into(),
    }
}

fn opt_string(
    m: &Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Option<String>, RegistrationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(metadata_error(format!(
            "{key} is longer than {max} characters"
        ))),
        Some(_) => Err(metadata_error(format!("{key} must be a string"))),
    }
}

fn string_array(
    m: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, RegistrationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| metadata_error(format!("{key} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(metadata_error(format!("{key} must be an array of strings"))),
    }
}

/// The metadata shared by dynamic registration and metadata documents, validated.
pub(crate) struct ClientMetadata {
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub auth_method: String,
    pub name: Option<String>,
    pub client_uri: Option<String>,
    pub scope: Option<String>,
}

/// Validates client metadata (RFC 7591 §2) against what this server supports.
pub(crate) fn validate_metadata(
    m: &Map<String, Value>,
    scopes_supported: &[String],
    default_auth_method: &str,
) -> Result<ClientMetadata, RegistrationError> {
    let redirect_uris = string_array(m, "redirect_uris")?.unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(RegistrationError {
            code: "invalid_redirect_uri",
            description: "redirect_uris is required and must list at least one URI".into(),
        });
    }
    if redirect_uris.len() > 20 {
        return Err(RegistrationError {
            code: "invalid_redirect_uri",
            description: "at most 20 redirect URIs".into(),
        });
    }
    for uri in &redirect_uris {
        validate_redirect_uri(uri).map_err(|description| RegistrationError {
            code: "invalid_redirect_uri",
            description,
        })?;
    }
    let grant_types =
        string_array(m, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    for g in &grant_types {
        if g != "authorization_code" && g != "refresh_token" {
            return Err(metadata_error(format!(
                "grant type {g:?} is not supported; use authorization_code and refresh_token"
            )));
        }
    }
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(metadata_error(
            "grant_types must include authorization_code",
        ));
    }
    if let Some(rt) = string_array(m, "response_types")? {
        if rt.iter().any(|r| r != "code") {
            return Err(metadata_error(
                "only the response type \"code\" is supported",
            ));
        }
    }
    let auth_method = opt_string(m, "token_endpoint_auth_method", 64)?
        .unwrap_or_else(|| default_auth_method.to_owned());
    if !TOKEN_ENDPOINT_AUTH_METHODS.contains(&auth_method.as_str()) {
        return Err(metadata_error(format!(
            "token_endpoint_auth_method {auth_method:?} is not supported; use none, client_secret_basic or client_secret_post"
        )));
    }
    let scope = match opt_string(m, "scope", 2000)? {
        Some(s) => {
            let scopes = crate::scope::parse_scope(&s).map_err(metadata_error)?;
            if let Some(bad) = scopes.iter().find(|s| !scopes_supported.contains(s)) {
                return Err(metadata_error(format!("scope {bad:?} is not supported")));
            }
            Some(scopes.join(" "))
        }
        None => None,
    };
    let client_uri = opt_string(m, "client_uri", 2000)?;
    if let Some(uri) = &client_uri {
        let ok = Url::parse(uri).is_ok_and(|u| u.scheme == "https" || u.scheme == "http");
        if !ok {
            return Err(metadata_error("client_uri must be an http(s) URL"));
        }
    }
    let name = opt_string(m, "client_name", 200)?
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    Ok(ClientMetadata {
        redirect_uris,
        grant_types,
        auth_method,
        name,
        client_uri,
        scope,
    })
}

/// Handles an RFC 7591 registration request; returns the response body.
pub(crate) async fn register(inner: &Inner, body: &[u8]) -> Result<Value, RegistrationError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| metadata_error(format!("the body is not JSON: {e}")))?;
    let Value::Object(m) = value else {
        return Err(metadata_error("the body must be a JSON object"));
    };
    let md = validate_metadata(&m, &inner.config.scopes_supported, "client_secret_basic")?;
    let client_id = format!("wc_{}", random_id());
    let secret = (md.auth_method != "none").then(random_token);
    let now = now();
    let record = ClientRecord {
        client_id: client_id.clone(),
        secret_hash: secret.as_deref().map(hash),
        name: md.name.clone().unwrap_or_else(|| {
            md.client_uri
                .as_deref()
                .and_then(|u| Url::parse(u).ok())
                .map(|u| u.host)
                .unwrap_or_else(|| "Unnamed client".into())
        }),
        redirect_uris: md.redirect_uris,
        grant_types: md.grant_types,
        auth_method: md.auth_method,
        scope: md.scope,
        client_uri: md.client_uri,
        kind: ClientKind::Dynamic,
        created_at: now,
        last_used_at: None,
    };
    let stored = inner
        .store
        .insert_client(record.clone())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "storing a dynamic registration failed");
            RegistrationError {
                code: "server_error",
                description: "the registration could not be stored; try again".into(),
            }
        })?;
    if !stored {
        return Err(RegistrationError {
            code: "server_error",
            description: "client id collision; try again".into(),
        });
    }
    let mut out = json!({
        "client_id": record.client_id,
        "client_id_issued_at": now,
        "client_name": record.name,
        "redirect_uris": record.redirect_uris,
        "grant_types": record.grant_types,
        "response_types": ["code"],
        "token_endpoint_auth_method": record.auth_method,
    });
    if let Some(secret) = secret {
        out["client_secret"] = json!(secret);
        out["client_secret_expires_at"] = json!(0);
    }
    if let Some(scope) = record.scope {
        out["scope"] = json!(scope);
    }
    if let Some(uri) = record.client_uri {
        out["client_uri"] = json!(uri);
    }
    Ok(out)
}

/// Whether errors found before the user has signed in and consented may be redirected to
/// `redirect_uri` (RFC 9700 §4.11.2: only to a trusted redirect URI, or the server is an
/// open redirector). Trusted are:
/// - every redirect URI of a pre-registered client (the operator added it), and
/// - loopback redirect URIs (`http` on `127.0.0.1`, `[::1]` or `localhost`, as native
///   apps and the `widgetry` CLI use, RFC 8252 §7.3): they lead back to the user's own
///   machine, never to someone else's site.
///
/// Other redirect URIs of dynamic registrations and metadata-document clients are not:
/// anyone can create those, so their errors are shown on an error page instead.
pub(crate) fn redirect_trusted_before_sign_in(client: &ClientRecord, redirect_uri: &str) -> bool {
    client.kind == ClientKind::PreRegistered
        || Url::parse(redirect_uri).is_ok_and(|u| u.scheme == "http" && u.is_loopback_host())
}

/// Whether a stored client is still valid (dynamic registrations never used expire).
pub(crate) fn is_live(client: &ClientRecord, inner: &Inner, now: i64) -> bool {
    !(client.kind == ClientKind::Dynamic
        && client.last_used_at.is_none()
        && client.created_at + inner.config.dcr_unused_ttl.as_secs() as i64 <= now)
}

/// Credentials presented at the token, revocation or introspection endpoint.
#[derive(Debug, Default)]
pub(crate) struct PresentedCredentials {
    pub basic: Option<(String, String)>,
    pub body_id: Option<String>,
    pub body_secret: Option<String>,
}

/// The client a request was authenticated as.
#[derive(Debug, Clone)]
pub(crate) struct AuthenticatedClient {
    pub client_id: String,
    /// Authenticated with a secret.
    pub confidential: bool,
}

/// Why client authentication failed: `invalid_request` (malformed) or `invalid_client`.
#[derive(Debug)]
pub(crate) struct ClientAuthError {
    pub code: &'static str,
    pub description: &'static str,
}

/// Authenticates a client (RFC 6749 §2.3; OAuth 2.1 public clients identify by
/// `client_id`). Clients identified by a metadata document URL are public.
pub(crate) async fn authenticate(
    inner: &Inner,
    creds: PresentedCredentials,
) -> Result<AuthenticatedClient, ClientAuthError> {
    let invalid_client = |d| ClientAuthError {
        code: "invalid_client",
        description: d,
    };
    if creds.basic.is_some() && creds.body_secret.is_some() {
        return Err(ClientAuthError {
            code: "invalid_request",
            description: "use one client authentication method, not both Basic and client_secret",
        });
    }
    let (client_id, secret) = match creds.basic {
        Some((id, secret)) => {
            if creds.body_id.as_deref().is_some_and(|b| b != id) {
                return Err(ClientAuthError {
                    code: "invalid_request",
                    description: "client_id differs from the Basic credentials",
                });
            }
            (id, Some(secret))
        }
        None => match creds.body_id {
            Some(id) => (id, creds.body_secret),
            None => {
                return Err(invalid_client(
                    "client authentication is required (client_id)",
                ))
            }
        },
    };
    let record = match inner.store.client(&client_id).await {
        Ok(r) => r.filter(|c| is_live(c, inner, now())),
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            return Err(ClientAuthError {
                code: "server_error",
                description: "the client could not be looked up; try again",
            });
        }
    };
    match record {
        Some(c) => match (&c.secret_hash, secret) {
            (Some(expected), Some(given)) if constant_time_eq(expected, &hash(&given)) => {
                Ok(AuthenticatedClient {
                    client_id,
                    confidential: true,
                })
            }
            (Some(_), _) => Err(invalid_client("client authentication failed")),
            (None, None) => Ok(AuthenticatedClient {
                client_id,
                confidential: false,
            }),
            (None, Some(_)) => Err(invalid_client("this client is public and has no secret")),
        },
        None if looks_like_url(&client_id) && secret.is_none() => Ok(AuthenticatedClient {
            client_id,
            confidential: false,
        }),
        None => Err(invalid_client("unknown client")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://chatgpt.com/connector/oauth/abc123",
            "https://chatgpt.com/connector_platform_oauth_redirect",
            "http://127.0.0.1:33418/callback",
            "http://localhost:8080/cb",
            "http://[::1]/cb",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "https://example.com/cb#frag",
            "javascript:alert(1)",
            "com.example.app:/cb",
            "https://user@example.com/cb",
            "/relative",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
