//! The embedded authorization server's OAuth flow, driven over its real endpoints the way
//! a host does it: dynamic client registration, the authorization request (sign-in page),
//! password sign-in, consent, the code exchange with PKCE, and refresh-token rotation.

use std::net::{IpAddr, SocketAddr};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hyper::Method;
use serde_json::json;

use crate::client::{Conn, Resp};
use crate::showcase::DEMO_EMAIL;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
/// The scopes the battery asks for: the protected tool's and the likes action's.
pub const SCOPE: &str = "user read:data likes:write";

/// An access token and the refresh token that came with it.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The access token (a JWT).
    pub access: String,
    /// The refresh token.
    pub refresh: String,
}

/// What the token endpoint answered to a refresh.
#[derive(Debug)]
pub enum Refreshed {
    /// 200 with new tokens.
    Ok(Tokens),
    /// Any other answer.
    Refused(Resp),
}

fn form(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).unwrap_or_default()
}

async fn post_form(
    conn: &mut Conn,
    path: &str,
    fields: &[(&str, &str)],
    cookie: Option<&str>,
) -> Result<Resp, String> {
    let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(c) = cookie {
        h.push(("cookie", c));
    }
    conn.send(Method::POST, path, &h, form(fields).into()).await
}

fn hidden(page: &Resp, name: &str) -> Result<String, String> {
    let body = page.text();
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .ok_or_else(|| format!("no field {name} in the page: {}", page.brief()))?
        + marker.len();
    let end = body[start..].find('"').ok_or("unterminated field")? + start;
    Ok(body[start..end].to_string())
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn tokens(r: &Resp) -> Result<Tokens, String> {
    let v = r
        .json()
        .ok_or_else(|| format!("token answer not JSON: {}", r.brief()))?;
    Ok(Tokens {
        access: v["access_token"]
            .as_str()
            .ok_or("no access_token")?
            .to_string(),
        refresh: v["refresh_token"]
            .as_str()
            .ok_or("no refresh_token")?
            .to_string(),
    })
}

/// A public client registered with `POST /oauth/register`; returns its id.
pub async fn register(conn: &mut Conn) -> Result<String, String> {
    let body = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "client_name": "widgetry reliability battery"});
    let r = conn
        .send(
            Method::POST,
            "/oauth/register",
            &[("content-type", "application/json")],
            body.to_string().into(),
        )
        .await?;
    if r.status != 201 {
        return Err(format!("registration: {}", r.brief()));
    }
    let v = r.json().ok_or("registration answer not JSON")?;
    Ok(v["client_id"].as_str().ok_or("no client_id")?.to_string())
}

/// Authorization request, sign-in as the demo user, consent and code exchange, for the
/// registered `client_id` of an instance at `origin`.
pub async fn sign_in(
    conn: &mut Conn,
    origin: &str,
    client_id: &str,
    password: &str,
) -> Result<Tokens, String> {
    let verifier = random_hex(48);
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let resource = format!("{origin}/mcp");
    let query = form(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("state", "battery"),
        ("scope", SCOPE),
        ("resource", &resource),
    ]);
    let page = conn
        .send(
            Method::GET,
            &format!("/oauth/authorize?{query}"),
            &[],
            Default::default(),
        )
        .await?;
    if page.status != 200 {
        return Err(format!("authorize: {}", page.brief()));
    }
    let cookie = page
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .ok_or("the authorize page set no cookie")?
        .to_string();
    let consent = post_form(
        conn,
        "/oauth/authorize/sign-in",
        &[
            ("request", &hidden(&page, "request")?),
            ("csrf", &hidden(&page, "csrf")?),
            ("username", DEMO_EMAIL),
            ("password", password),
        ],
        Some(&cookie),
    )
    .await?;
    if consent.status != 200 {
        return Err(format!("sign-in: {}", consent.brief()));
    }
    let done = post_form(
        conn,
        "/oauth/authorize/consent",
        &[
            ("request", &hidden(&consent, "request")?),
            ("csrf", &hidden(&consent, "csrf")?),
            ("decision", "allow"),
        ],
        Some(&cookie),
    )
    .await?;
    if done.status != 303 {
        return Err(format!("consent: {}", done.brief()));
    }
    let location = done.header("location").ok_or("consent: no Location")?;
    let code = query_param(location, "code").ok_or_else(|| format!("no code in {location}"))?;
    let r = post_form(
        conn,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
        ],
        None,
    )
    .await?;
    if r.status != 200 {
        return Err(format!("code exchange: {}", r.brief()));
    }
    tokens(&r)
}

/// One refresh-token rotation.
pub async fn refresh(
    conn: &mut Conn,
    client_id: &str,
    refresh_token: &str,
) -> Result<Refreshed, String> {
    let r = post_form(
        conn,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
        None,
    )
    .await?;
    if r.status == 200 {
        Ok(Refreshed::Ok(tokens(&r)?))
    } else {
        Ok(Refreshed::Refused(r))
    }
}

/// A fresh client and a signed-in demo user's tokens, from source address `source`.
pub async fn client_and_tokens(
    source: IpAddr,
    target: SocketAddr,
    password: &str,
) -> Result<(String, Tokens), String> {
    let mut conn = Conn::open(source, target).await?;
    let client_id = register(&mut conn).await?;
    let t = sign_in(&mut conn, &format!("http://{target}"), &client_id, password).await?;
    Ok((client_id, t))
}

/// `bytes` random bytes from the system's generator, as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("the system's random generator failed");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
