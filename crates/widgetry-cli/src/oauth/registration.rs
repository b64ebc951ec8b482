//! Who the CLI is at an authorization server: pre-registered credentials, a Client ID
//! Metadata Document URL, or a client registered on the spot (RFC 7591); and how it
//! authenticates at the token endpoint (`client_secret_basic`, `client_secret_post`
//! or `none`), chosen from what the server supports.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::discovery::AuthServer;
use super::AuthError;
use crate::http::{HttpClient, Request};

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    /// HTTP Basic with the URL-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` in the body, no secret.
    None,
}

impl TokenAuthMethod {
    fn name(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// Where the client identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationKind {
    /// Given by the user (`--client-id`).
    PreRegistered,
    /// A Client ID Metadata Document URL (`--client-metadata-url`).
    MetadataDocument,
    /// Registered with RFC 7591 dynamic client registration.
    Dynamic,
}

/// A client identity at one authorization server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRegistration {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, for confidential clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Token endpoint authentication.
    pub auth_method: TokenAuthMethod,
    /// The redirect URI registered with it (dynamic registrations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// Where it came from.
    pub kind: RegistrationKind,
}

/// The methods the server accepts (RFC 8414: absent means `client_secret_basic`).
fn supported(server: &AuthServer) -> Vec<&str> {
    match &server.token_endpoint_auth_methods {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => vec!["client_secret_basic"],
    }
}

/// Credentials the user was given out of band.
pub fn pre_registered(
    server: &AuthServer,
    client_id: &str,
    client_secret: Option<&str>,
) -> Result<ClientRegistration, AuthError> {
    let methods = supported(server);
    let auth_method = match client_secret {
        None => TokenAuthMethod::None,
        Some(_) if methods.contains(&"client_secret_basic") => TokenAuthMethod::ClientSecretBasic,
        Some(_) if methods.contains(&"client_secret_post") => TokenAuthMethod::ClientSecretPost,
        Some(_) if methods.contains(&"none") => TokenAuthMethod::None,
        Some(_) => {
            return Err(AuthError::Registration(format!(
                "the authorization server {} supports none of the token endpoint authentication \
                 methods widgetry has (client_secret_basic, client_secret_post, none); it lists: {}",
                server.issuer,
                methods.join(", ")
            )))
        }
    };
    Ok(ClientRegistration {
        client_id: client_id.to_string(),
        client_secret: client_secret.map(str::to_string),
        auth_method,
        redirect_uri: None,
        kind: RegistrationKind::PreRegistered,
    })
}

/// A Client ID Metadata Document: the URL is the `client_id`; a public client.
pub fn metadata_document(url: &str) -> ClientRegistration {
    ClientRegistration {
        client_id: url.to_string(),
        client_secret: None,
        auth_method: TokenAuthMethod::None,
        redirect_uri: None,
        kind: RegistrationKind::MetadataDocument,
    }
}

/// Registers a native client with `redirect_uri` (RFC 7591 §3).
pub async fn register(
    http: &HttpClient,
    server: &AuthServer,
    redirect_uri: &str,
    client_name: &str,
    timeout: Duration,
) -> Result<ClientRegistration, AuthError> {
    let Some(endpoint) = &server.registration_endpoint else {
        return Err(AuthError::Registration(format!(
            "the authorization server {} offers no dynamic client registration (no registration_endpoint); \
             pass a pre-registered client with --client-id/--client-secret (or WIDGETRY_CLIENT_ID/\
             WIDGETRY_CLIENT_SECRET){}",
            server.issuer,
            if server.client_id_metadata_documents {
                ", or a Client ID Metadata Document URL with --client-metadata-url"
            } else {
                ""
            }
        )));
    };
    // A CLI is a public client: ask for `none` when offered; otherwise the first
    // secret-based method the server lists; with no list, let the server decide.
    let requested = server.token_endpoint_auth_methods.as_ref().map(|list| {
        if list.iter().any(|m| m == "none") {
            TokenAuthMethod::None
        } else if list.iter().any(|m| m == "client_secret_basic") {
            TokenAuthMethod::ClientSecretBasic
        } else if list.iter().any(|m| m == "client_secret_post") {
            TokenAuthMethod::ClientSecretPost
        } else {
            TokenAuthMethod::None
        }
    });
    let mut body = json!({
        "client_name": client_name,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "native",
    });
    if let Some(m) = requested {
        body["token_endpoint_auth_method"] = json!(m.name());
    }
    let req = Request::post(endpoint, "application/json", body.to_string())
        .header(http::header::ACCEPT, "application/json");
    let resp = http.send(req, timeout).await?;
    let status = resp.status;
    if !status.is_success() {
        let detail = resp.text_snippet(300).await;
        return Err(AuthError::Registration(format!(
            "dynamic client registration at {endpoint} failed with HTTP {}: {detail}",
            status.as_u16()
        )));
    }
    let answer: Value = serde_json::from_slice(&resp.bytes(64 * 1024).await?).map_err(|e| {
        AuthError::Registration(format!(
            "dynamic client registration at {endpoint} answered non-JSON: {e}"
        ))
    })?;
    let client_id = answer
        .get("client_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            AuthError::Registration(format!(
                "the registration answer of {endpoint} has no client_id"
            ))
        })?
        .to_string();
    let client_secret = answer
        .get("client_secret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let granted = answer
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .and_then(TokenAuthMethod::from_name);
    let auth_method = match (granted, requested, &client_secret) {
        (Some(m), _, _) => m,
        (None, Some(m), _) => m,
        (None, None, Some(_)) => TokenAuthMethod::ClientSecretBasic,
        (None, None, None) => TokenAuthMethod::None,
    };
    if auth_method != TokenAuthMethod::None && client_secret.is_none() {
        return Err(AuthError::Registration(format!(
            "the registration answer of {endpoint} asks for {} but gives no client_secret",
            auth_method.name()
        )));
    }
    Ok(ClientRegistration {
        client_id,
        client_secret,
        auth_method,
        redirect_uri: Some(redirect_uri.to_string()),
        kind: RegistrationKind::Dynamic,
    })
}
