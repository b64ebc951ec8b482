//! Finding out where to sign in: protected-resource metadata (RFC 9728) from the
//! challenge's `resource_metadata` or the well-known URIs (path-suffixed, then root),
//! then the authorization server's metadata (RFC 8414, then OpenID Connect discovery;
//! path-insertion before path-append for issuers with a path), with the checks the
//! MCP authorization spec asks of a client: the resource must be this server, the
//! issuer must be the one asked for, and PKCE S256 must be on offer.

use std::time::Duration;

use serde_json::Value;

use super::scope::ScopeSet;
use super::AuthError;
use crate::http::{HttpClient, HttpUrl, Request};

/// Largest metadata document accepted.
const MAX_METADATA_BYTES: usize = 256 * 1024;

/// Protected-resource metadata (RFC 9728 §2), the parts the client uses.
#[derive(Debug, Clone)]
pub struct ProtectedResource {
    /// Where it was read.
    pub metadata_url: HttpUrl,
    /// `resource`: the identifier to send as the RFC 8707 `resource` parameter.
    pub resource: Option<String>,
    /// `authorization_servers`: issuer identifiers, in the server's order.
    pub authorization_servers: Vec<String>,
    /// `scopes_supported`.
    pub scopes_supported: Option<ScopeSet>,
}

/// Authorization server metadata (RFC 8414 §2), the parts the client uses.
#[derive(Debug, Clone)]
pub struct AuthServer {
    /// `issuer`.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: HttpUrl,
    /// `token_endpoint`.
    pub token_endpoint: HttpUrl,
    /// `registration_endpoint` (RFC 7591).
    pub registration_endpoint: Option<HttpUrl>,
    /// `scopes_supported`.
    pub scopes_supported: Option<ScopeSet>,
    /// `token_endpoint_auth_methods_supported` (absent means `client_secret_basic`).
    pub token_endpoint_auth_methods: Option<Vec<String>>,
    /// `client_id_metadata_document_supported`.
    pub client_id_metadata_documents: bool,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    pub iss_parameter_supported: bool,
}

enum Fetched {
    Json(Value),
    Missing(String),
}

async fn fetch_json(
    http: &HttpClient,
    url: &HttpUrl,
    timeout: Duration,
) -> Result<Fetched, AuthError> {
    let req = Request::get(url).header(http::header::ACCEPT, "application/json");
    let resp = http.send(req, timeout).await?;
    let status = resp.status;
    if !status.is_success() {
        return Ok(Fetched::Missing(format!(
            "{url} → HTTP {}",
            status.as_u16()
        )));
    }
    let body = resp.bytes(MAX_METADATA_BYTES).await?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(v @ Value::Object(_)) => Ok(Fetched::Json(v)),
        _ => Ok(Fetched::Missing(format!("{url} → not a JSON object"))),
    }
}

/// Reads the protected-resource metadata of `server`. With `from_challenge` (the
/// `resource_metadata` of a challenge) only that URL is used; otherwise the
/// path-suffixed well-known URI, then the root one. `Ok(None)`: the server publishes
/// none (a 2025-03-26 server).
pub async fn protected_resource(
    http: &HttpClient,
    server: &HttpUrl,
    from_challenge: Option<&str>,
    timeout: Duration,
) -> Result<Option<ProtectedResource>, AuthError> {
    if let Some(named) = from_challenge {
        let url = server.join(named)?;
        return match fetch_json(http, &url, timeout).await? {
            Fetched::Json(v) => parse_protected_resource(url, &v).map(Some),
            Fetched::Missing(why) => Err(AuthError::Discovery(format!(
                "the protected-resource metadata named by the server's challenge is unavailable ({why})"
            ))),
        };
    }
    let mut candidates = Vec::new();
    let path = server.path_trimmed();
    if !path.is_empty() {
        candidates.push(server.with_path(&format!("/.well-known/oauth-protected-resource{path}")));
    }
    candidates.push(server.with_path("/.well-known/oauth-protected-resource"));
    for url in candidates {
        match fetch_json(http, &url, timeout).await? {
            Fetched::Json(v) => return parse_protected_resource(url, &v).map(Some),
            Fetched::Missing(why) => {
                if http.verbose() {
                    eprintln!("  no protected-resource metadata: {why}");
                }
            }
        }
    }
    Ok(None)
}

fn string_list(v: &Value, key: &str) -> Option<Vec<String>> {
    v.get(key)?.as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

fn parse_protected_resource(url: HttpUrl, v: &Value) -> Result<ProtectedResource, AuthError> {
    let authorization_servers = string_list(v, "authorization_servers").unwrap_or_default();
    if authorization_servers.is_empty() {
        return Err(AuthError::Discovery(format!(
            "the protected-resource metadata at {url} lists no authorization_servers"
        )));
    }
    Ok(ProtectedResource {
        resource: v
            .get("resource")
            .and_then(Value::as_str)
            .map(str::to_string),
        authorization_servers,
        scopes_supported: string_list(v, "scopes_supported").map(ScopeSet::from_iter),
        metadata_url: url,
    })
}

/// Checks that the metadata's `resource` is this server: same origin, and its path a
/// prefix (whole segments) of the server's path. A metadata document that speaks for
/// another resource must not send the user's token there.
pub fn check_resource(prm: &ProtectedResource, server: &HttpUrl) -> Result<(), AuthError> {
    let Some(resource) = &prm.resource else {
        return Ok(());
    };
    let mismatch = || AuthError::ResourceMismatch {
        resource: resource.clone(),
        server: server.to_string(),
    };
    let r = HttpUrl::parse(resource).map_err(|_| mismatch())?;
    let (rs, ss) = (r.path_segments(), server.path_segments());
    if r.origin() != server.origin()
        || rs.len() > ss.len()
        || rs.iter().zip(&ss).any(|(a, b)| a != b)
    {
        return Err(mismatch());
    }
    Ok(())
}

/// The metadata URLs for an issuer, in the order the MCP spec gives.
pub fn metadata_urls(issuer: &HttpUrl) -> Vec<HttpUrl> {
    let path = issuer.path_trimmed();
    if path.is_empty() {
        vec![
            issuer.with_path("/.well-known/oauth-authorization-server"),
            issuer.with_path("/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            issuer.with_path(&format!("/.well-known/oauth-authorization-server{path}")),
            issuer.with_path(&format!("/.well-known/openid-configuration{path}")),
            issuer.with_path(&format!("{path}/.well-known/openid-configuration")),
        ]
    }
}

/// Discovers the metadata of the authorization server `issuer` (from the
/// protected-resource metadata) and validates it.
pub async fn authorization_server(
    http: &HttpClient,
    issuer: &str,
    timeout: Duration,
) -> Result<AuthServer, AuthError> {
    let issuer_url = HttpUrl::parse(issuer)?;
    let mut tried = Vec::new();
    for url in metadata_urls(&issuer_url) {
        match fetch_json(http, &url, timeout).await? {
            Fetched::Json(v) => return parse_auth_server(&url, &v, Some(issuer)),
            Fetched::Missing(why) => tried.push(why),
        }
    }
    Err(AuthError::Discovery(format!(
        "no authorization server metadata for {issuer} (tried {})",
        tried.join("; ")
    )))
}

/// For servers without protected-resource metadata (MCP 2025-03-26): the metadata at
/// the MCP server's origin, else the default endpoints `/authorize`, `/token` and
/// `/register` there.
pub async fn legacy_authorization_server(
    http: &HttpClient,
    server: &HttpUrl,
    timeout: Duration,
) -> Result<AuthServer, AuthError> {
    let origin = server.with_path("");
    for url in metadata_urls(&origin) {
        if let Fetched::Json(v) = fetch_json(http, &url, timeout).await? {
            return parse_auth_server(&url, &v, None);
        }
    }
    Ok(AuthServer {
        issuer: origin.to_string(),
        authorization_endpoint: origin.with_path("/authorize"),
        token_endpoint: origin.with_path("/token"),
        registration_endpoint: Some(origin.with_path("/register")),
        scopes_supported: None,
        token_endpoint_auth_methods: None,
        client_id_metadata_documents: false,
        iss_parameter_supported: false,
    })
}

fn endpoint(meta_url: &HttpUrl, v: &Value, key: &str) -> Result<Option<HttpUrl>, AuthError> {
    let Some(s) = v.get(key).and_then(Value::as_str) else {
        return Ok(None);
    };
    let url = HttpUrl::parse(s).map_err(|e| {
        AuthError::Discovery(format!(
            "the metadata at {meta_url} has an unusable {key}: {e}"
        ))
    })?;
    if url.scheme() != "https" && !url.is_loopback() {
        return Err(AuthError::Insecure(format!(
            "the metadata at {meta_url} names a plain-HTTP {key} ({url}) on a non-loopback host; \
             OAuth endpoints must use HTTPS"
        )));
    }
    Ok(Some(url))
}

fn parse_auth_server(
    url: &HttpUrl,
    v: &Value,
    expected_issuer: Option<&str>,
) -> Result<AuthServer, AuthError> {
    let issuer = v
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(expected) = expected_issuer {
        if issuer.trim_end_matches('/') != expected.trim_end_matches('/') {
            return Err(AuthError::IssuerMismatch {
                url: url.to_string(),
                found: issuer,
                expected: expected.to_string(),
            });
        }
    }
    let required = |key: &str| -> Result<HttpUrl, AuthError> {
        endpoint(url, v, key)?
            .ok_or_else(|| AuthError::Discovery(format!("the metadata at {url} has no {key}")))
    };
    let authorization_endpoint = required("authorization_endpoint")?;
    let token_endpoint = required("token_endpoint")?;
    let pkce = string_list(v, "code_challenge_methods_supported").unwrap_or_default();
    if !pkce.iter().any(|m| m == "S256") {
        return Err(AuthError::NoPkce {
            issuer: if issuer.is_empty() {
                url.to_string()
            } else {
                issuer
            },
        });
    }
    Ok(AuthServer {
        authorization_endpoint,
        token_endpoint,
        registration_endpoint: endpoint(url, v, "registration_endpoint")?,
        scopes_supported: string_list(v, "scopes_supported").map(ScopeSet::from_iter),
        token_endpoint_auth_methods: string_list(v, "token_endpoint_auth_methods_supported"),
        client_id_metadata_documents: v
            .get("client_id_metadata_document_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        iss_parameter_supported: v
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        issuer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(urls: Vec<HttpUrl>) -> Vec<String> {
        urls.into_iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn issuer_with_a_path_tries_insertion_forms_before_path_append() {
        let urls = metadata_urls(&HttpUrl::parse("https://auth.example/tenant1/").unwrap());
        assert_eq!(
            strings(urls),
            [
                "https://auth.example/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example/.well-known/openid-configuration/tenant1",
                "https://auth.example/tenant1/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn issuer_without_a_path_tries_oauth_then_openid() {
        let urls = metadata_urls(&HttpUrl::parse("https://auth.example").unwrap());
        assert_eq!(
            strings(urls),
            [
                "https://auth.example/.well-known/oauth-authorization-server",
                "https://auth.example/.well-known/openid-configuration",
            ]
        );
    }

    fn prm(resource: &str) -> ProtectedResource {
        ProtectedResource {
            metadata_url: HttpUrl::parse("http://h/x").unwrap(),
            resource: Some(resource.into()),
            authorization_servers: vec!["http://a".into()],
            scopes_supported: None,
        }
    }

    #[test]
    fn resource_must_be_the_server_or_a_parent_path_on_the_same_origin() {
        let server = HttpUrl::parse("http://localhost:3000/mcp").unwrap();
        assert!(check_resource(&prm("http://localhost:3000/mcp"), &server).is_ok());
        assert!(check_resource(&prm("http://localhost:3000"), &server).is_ok());
        assert!(check_resource(&prm("https://evil.example.com/mcp"), &server).is_err());
        assert!(check_resource(&prm("http://localhost:3000/mcp/other"), &server).is_err());
        assert!(check_resource(&prm("http://localhost:3000/mc"), &server).is_err());
    }

    #[test]
    fn metadata_without_s256_or_with_another_issuer_is_refused() {
        let url = HttpUrl::parse("https://a/.well-known/oauth-authorization-server").unwrap();
        let base = serde_json::json!({
            "issuer": "https://a",
            "authorization_endpoint": "https://a/authorize",
            "token_endpoint": "https://a/token",
        });
        assert!(matches!(
            parse_auth_server(&url, &base, Some("https://a")),
            Err(AuthError::NoPkce { .. })
        ));
        let mut ok = base.clone();
        ok["code_challenge_methods_supported"] = serde_json::json!(["S256"]);
        assert!(parse_auth_server(&url, &ok, Some("https://a/")).is_ok());
        assert!(matches!(
            parse_auth_server(&url, &ok, Some("https://b")),
            Err(AuthError::IssuerMismatch { .. })
        ));
    }
}
