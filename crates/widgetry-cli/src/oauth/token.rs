//! The token endpoint: exchanging an authorization code (with its PKCE verifier) and
//! refreshing, both with the RFC 8707 `resource` and the client's authentication.

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use super::registration::{ClientRegistration, TokenAuthMethod};
use super::scope::ScopeSet;
use super::AuthError;
use crate::http::{HttpClient, HttpUrl, Request};

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// `access_token`.
    pub access_token: String,
    /// `refresh_token`.
    pub refresh_token: Option<String>,
    /// `expires_in`, seconds.
    pub expires_in: Option<u64>,
    /// `scope`: what was granted (absent: what was asked for).
    pub scope: Option<ScopeSet>,
}

/// The grant being redeemed.
pub enum Grant<'a> {
    /// `authorization_code` with PKCE.
    AuthorizationCode {
        /// The code from the redirect.
        code: &'a str,
        /// The PKCE verifier.
        verifier: &'a str,
        /// The redirect URI used in the authorization request.
        redirect_uri: &'a str,
    },
    /// `refresh_token`.
    Refresh {
        /// The refresh token.
        refresh_token: &'a str,
    },
}

/// Why a token request failed.
#[derive(Debug)]
pub struct TokenError {
    /// The OAuth `error` code, if the server sent one.
    pub code: Option<String>,
    /// The whole problem, for people.
    pub error: AuthError,
}

impl From<crate::http::HttpError> for TokenError {
    fn from(e: crate::http::HttpError) -> Self {
        Self {
            code: None,
            error: e.into(),
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of one value (RFC 6749 Appendix B).
fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Posts a token request.
pub async fn request(
    http: &HttpClient,
    endpoint: &HttpUrl,
    client: &ClientRegistration,
    grant: Grant<'_>,
    resource: Option<&str>,
    timeout: Duration,
) -> Result<TokenResponse, TokenError> {
    // Built in a block: the serializer is not Send and must not live across an await
    // (the `widgetry host` proxy runs this inside Send futures).
    let (body, basic) = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        match grant {
            Grant::AuthorizationCode {
                code,
                verifier,
                redirect_uri,
            } => {
                form.append_pair("grant_type", "authorization_code")
                    .append_pair("code", code)
                    .append_pair("redirect_uri", redirect_uri)
                    .append_pair("code_verifier", verifier);
            }
            Grant::Refresh { refresh_token } => {
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", refresh_token);
            }
        }
        if let Some(r) = resource {
            form.append_pair("resource", r);
        }
        let mut basic = None;
        match (client.auth_method, &client.client_secret) {
            (TokenAuthMethod::ClientSecretBasic, Some(secret)) => {
                let pair = format!("{}:{}", form_encode(&client.client_id), form_encode(secret));
                basic = Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ));
            }
            (TokenAuthMethod::ClientSecretPost, Some(secret)) => {
                form.append_pair("client_id", &client.client_id)
                    .append_pair("client_secret", secret);
            }
            _ => {
                form.append_pair("client_id", &client.client_id);
            }
        }
        (form.finish(), basic)
    };
    let mut req = Request::post(endpoint, "application/x-www-form-urlencoded", body)
        .header(http::header::ACCEPT, "application/json");
    if let Some(b) = &basic {
        req = req.header_value(http::header::AUTHORIZATION, b);
    }
    let resp = http.send(req, timeout).await?;
    let status = resp.status;
    let body = resp.bytes(256 * 1024).await?;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let refused = |code: Option<String>, detail: String| TokenError {
        code,
        error: AuthError::Token {
            url: endpoint.to_string(),
            detail,
        },
    };
    if !status.is_success() {
        let code = json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let description = json
            .as_ref()
            .and_then(|j| j.get("error_description"))
            .and_then(Value::as_str);
        let detail = match (&code, description) {
            (Some(c), Some(d)) => format!("HTTP {}: {c}: {d}", status.as_u16()),
            (Some(c), None) => format!("HTTP {}: {c}", status.as_u16()),
            _ => format!("HTTP {}", status.as_u16()),
        };
        return Err(refused(code, detail));
    }
    let Some(json) = json else {
        return Err(refused(None, "the answer is not JSON".into()));
    };
    let access_token = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refused(None, "the answer has no access_token".into()))?
        .to_string();
    if let Some(t) = json.get("token_type").and_then(Value::as_str) {
        if !t.eq_ignore_ascii_case("bearer") {
            return Err(refused(
                None,
                format!("the token type is {t:?}; widgetry only uses Bearer tokens"),
            ));
        }
    }
    Ok(TokenResponse {
        access_token,
        refresh_token: json
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        expires_in: json.get("expires_in").and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        }),
        scope: json
            .get("scope")
            .and_then(Value::as_str)
            .map(ScopeSet::parse),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        assert_eq!(form_encode("a b:c/é"), "a+b%3Ac%2F%C3%A9");
    }
}
