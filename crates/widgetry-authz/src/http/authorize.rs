//! The authorization endpoint (RFC 6749 §4.1 with OAuth 2.1 rules) and the sign-in,
//! second-factor and consent forms behind it.
//!
//! The validated request is stored server side as a [`PendingAuthorization`]; the
//! browser only carries its random id. Each rendered form carries a fresh CSRF token whose
//! hash is stored with the request, and the request is bound to a `SameSite=Lax`,
//! `HttpOnly` cookie: a POST must present the id, the current token and the cookie. Errors
//! are redirected to the client (with `state` and `iss`) only once the client and its
//! redirect URI are known and, before the user has signed in, only when that redirect URI
//! is trusted ([`crate::clients::redirect_trusted_before_sign_in`]); otherwise an error
//! page is shown.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};

use super::pages::{self, ConsentView, SecondFactorView, SignInView};
use super::{client_address, cookie, error_page, html_response, Params};
use super::{CONSENT_PATH, SECOND_FACTOR_PATH, SIGN_IN_PATH};
use crate::clients::{is_live, looks_like_url, redirect_trusted_before_sign_in};
use crate::crypto::{constant_time_eq, hash, random_token};
use crate::limits::admit_authorization_request;
use crate::store::{
    AuthorizationRequest, ClientRecord, CodeRecord, GrantRecord, PendingAuthorization,
    PendingStage, UserRecord,
};
use crate::throttle::{Admission, Guess, StoreCounters, Throttle};
use crate::url::Url;
use crate::users::{check_password, normalize_username, totp_context};
use crate::{now, Inner};

fn cookie_name(inner: &Inner) -> &'static str {
    if inner.config.issuer.starts_with("https://") {
        "__Host-widgetry_authz"
    } else {
        "widgetry_authz"
    }
}

fn set_cookie(inner: &Inner, value: &str) -> Option<HeaderValue> {
    let secure = if inner.config.issuer.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax{secure}",
        cookie_name(inner)
    ))
    .ok()
}

/// Where errors go once the redirect URI is trusted.
struct Redirect<'a> {
    uri: &'a str,
    state: Option<&'a str>,
    iss: &'a str,
}

impl Redirect<'_> {
    fn to(&self, status: StatusCode, params: &[(&str, &str)]) -> Response {
        let mut pairs: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", self.iss));
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        let sep = if self.uri.contains('?') { '&' } else { '?' };
        let location = format!("{}{sep}{query}", self.uri);
        match HeaderValue::from_str(&location) {
            Ok(v) => (
                status,
                [
                    (header::LOCATION, v),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response(),
            Err(_) => (StatusCode::BAD_REQUEST, "invalid redirect").into_response(),
        }
    }

    fn error(&self, code: &str, description: &str) -> Response {
        self.to(
            StatusCode::FOUND,
            &[
                ("error", code),
                ("error_description", &super::error_description(description)),
            ],
        )
    }
}

/// Finds a client: stored (and live), or described by a metadata document. The error
/// says why not, with the status to answer: 503 when the store could not be asked.
async fn find_client(inner: &Inner, client_id: &str) -> Result<ClientRecord, (StatusCode, String)> {
    let unknown = |msg: String| (StatusCode::BAD_REQUEST, msg);
    match inner.store.client(client_id).await {
        Ok(Some(c)) if is_live(&c, inner, now()) => return Ok(c),
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "The application could not be looked up. Try again in a moment.".into(),
            ));
        }
    }
    if looks_like_url(client_id) {
        return inner
            .documents
            .resolve(client_id)
            .await
            .map(|c| (*c).clone())
            .map_err(|e| {
                unknown(format!(
                    "The application's metadata document was refused: {e}."
                ))
            });
    }
    Err(unknown(format!(
        "No application is registered with the client_id {client_id:?}."
    )))
}

fn is_code_challenge(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /oauth/authorize`.
pub(super) async fn authorize(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    ext: Extensions,
    RawQuery(query): RawQuery,
) -> Response {
    let addr = client_address(&inner, &headers, &ext);
    let bad = |title: &str, msg: &str| error_page(&inner, StatusCode::BAD_REQUEST, title, msg);
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return bad("Invalid sign-in request", &e),
    };
    let client_id = match params.single("client_id") {
        Ok(Some(id)) => id.to_owned(),
        Ok(None) => return bad("Invalid sign-in request", "The request has no client_id."),
        Err(e) => return bad("Invalid sign-in request", &e),
    };
    let client = match find_client(&inner, &client_id).await {
        Ok(c) => c,
        Err((StatusCode::SERVICE_UNAVAILABLE, msg)) => {
            return error_page(
                &inner,
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again soon",
                &msg,
            )
        }
        Err((_, msg)) => return bad("Unknown application", &msg),
    };
    let redirect_uri =
        match params.single("redirect_uri") {
            Ok(Some(uri)) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_owned(),
            Ok(Some(_)) => return bad(
                "Redirect URI mismatch",
                "The redirect_uri of this request is not registered for the application, so the \
                 answer cannot be sent back to it.",
            ),
            Ok(None) if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            Ok(None) => {
                return bad(
                    "Invalid sign-in request",
                    "The request has no redirect_uri and the application registered several.",
                )
            }
            Err(e) => return bad("Invalid sign-in request", &e),
        };
    let redirect_uri_sent = matches!(params.single("redirect_uri"), Ok(Some(_)));
    let state = params.single("state").ok().flatten();
    let redirect = Redirect {
        uri: &redirect_uri,
        state,
        iss: &inner.config.issuer,
    };
    // Before the user has signed in, errors go back to the client only if its redirect
    // URI is trusted; otherwise they are shown here (no open redirector).
    let trusted = redirect_trusted_before_sign_in(&client, &redirect_uri);
    let fail = |code: &str, description: &str| {
        if trusted {
            redirect.error(code, description)
        } else {
            error_page(
                &inner,
                StatusCode::BAD_REQUEST,
                "Sign-in request refused",
                &format!(
                    "The application {:?} sent a sign-in request that cannot be completed: \
                     {description} (error {code}).",
                    client.name
                ),
            )
        }
    };
    if let Some(name) = params.repeated(&["resource"]) {
        return fail("invalid_request", &format!("parameter {name} is repeated"));
    }
    if params
        .single("prompt")
        .ok()
        .flatten()
        .is_some_and(|p| p.split(' ').any(|v| v == "none"))
    {
        return fail(
            "login_required",
            "prompt=none cannot be honoured: the user must sign in",
        );
    }
    match params.single("response_type") {
        Ok(Some("code")) => {}
        Ok(Some(_)) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            )
        }
        _ => return fail("invalid_request", "response_type=code is required"),
    }
    match params.single("code_challenge_method") {
        Ok(Some("S256")) => {}
        Ok(Some("plain")) => {
            return fail(
                "invalid_request",
                "PKCE method plain is not allowed; use code_challenge_method=S256",
            )
        }
        Ok(Some(_)) => return fail("invalid_request", "code_challenge_method must be S256"),
        _ => {
            return fail(
                "invalid_request",
                "PKCE is required: send code_challenge and code_challenge_method=S256",
            )
        }
    }
    let code_challenge =
        match params.single("code_challenge") {
            Ok(Some(c)) if is_code_challenge(c) => c.to_owned(),
            Ok(Some(_)) => return fail(
                "invalid_request",
                "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)",
            ),
            _ => return fail("invalid_request", "PKCE is required: send code_challenge"),
        };
    let client_scopes: Option<Vec<String>> = client.scope.as_deref().map(|s| {
        s.split(' ')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let scopes = match params.single("scope") {
        Ok(Some(s)) => match crate::scope::parse_scope(s) {
            Ok(scopes) => scopes,
            Err(e) => return fail("invalid_scope", &e),
        },
        _ => Vec::new(),
    };
    let scopes = if scopes.is_empty() {
        inner
            .config
            .default_scopes
            .iter()
            .filter(|s| {
                client_scopes
                    .as_ref()
                    .is_none_or(|allowed| allowed.contains(s))
            })
            .cloned()
            .collect()
    } else {
        if let Some(bad) = scopes
            .iter()
            .find(|s| !inner.config.scopes_supported.contains(s))
        {
            return fail("invalid_scope", &format!("scope {bad:?} is not supported"));
        }
        if let Some(allowed) = &client_scopes {
            if let Some(bad) = scopes.iter().find(|s| !allowed.contains(s)) {
                return fail(
                    "invalid_scope",
                    &format!("scope {bad:?} is not registered for this client"),
                );
            }
        }
        scopes
    };
    let resources = params.all("resource");
    let resource = match resources.as_slice() {
        [] => inner.config.resources[0].clone(),
        [r] if inner.config.resources.iter().any(|x| x == r) => (*r).to_owned(),
        [r] => {
            return fail(
                "invalid_target",
                &format!("resource {r:?} is not served by this authorization server"),
            )
        }
        _ => return fail("invalid_target", "give one resource per request"),
    };

    let (browser, new_cookie) = match cookie(&headers, cookie_name(&inner)) {
        Some(v) if v.len() == 43 => (v.to_owned(), None),
        _ => {
            let v = random_token();
            (v.clone(), Some(v))
        }
    };
    let csrf = random_token();
    let pending = PendingAuthorization {
        id: random_token(),
        browser_hash: hash(&browser),
        csrf_hash: hash(&csrf),
        stage: PendingStage::SignIn,
        user_id: None,
        request: AuthorizationRequest {
            client_id: client.client_id.clone(),
            client_name: client.name.clone(),
            redirect_uri: redirect_uri.clone(),
            redirect_uri_sent,
            state: state.map(str::to_owned),
            scopes,
            resource,
            code_challenge,
            refresh_allowed: client.grant_types.iter().any(|g| g == "refresh_token"),
        },
        expires_at: now() + inner.config.authorization_request_ttl.as_secs() as i64,
    };
    if let Err(msg) = admit_authorization_request(&inner, addr.as_deref()).await {
        return error_page(
            &inner,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in requests",
            &msg,
        );
    }
    if let Err(e) = inner.store.insert_pending(pending.clone()).await {
        tracing::error!(error = %e, "storing an authorization request failed");
        return fail(
            "temporarily_unavailable",
            "the request could not be stored; try again",
        );
    }
    let action = format!("{}{SIGN_IN_PATH}", inner.base_path);
    let mut res = html_response(
        StatusCode::OK,
        pages::sign_in(&SignInView {
            site: &inner.config.display_name,
            action: &action,
            request: &pending.id,
            csrf: &csrf,
            client_name: &client.name,
            username: "",
            error: None,
        }),
    );
    if let Some(v) = new_cookie.as_deref().and_then(|v| set_cookie(&inner, v)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// A verified form submission: its fields, its pending request, and the CSRF token it
/// carried (still the current one).
struct Submission {
    form: Params,
    pending: PendingAuthorization,
    csrf: String,
}

async fn verify_submission(
    inner: &Inner,
    headers: &HeaderMap,
    body: &[u8],
    stage: PendingStage,
) -> Result<Submission, Response> {
    let form = Params::parse(body)
        .map_err(|e| error_page(inner, StatusCode::BAD_REQUEST, "Invalid form", &e))?;
    let id = form
        .single("request")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned();
    let pending = match inner.store.pending(&id, now()).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Err(error_page(
                inner,
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                "This sign-in request has expired or is unknown.",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "loading an authorization request failed");
            return Err(error_page(
                inner,
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The sign-in service could not load your request. Try again in a moment.",
            ));
        }
    };
    let csrf = form
        .single("csrf")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned();
    let browser = cookie(headers, cookie_name(inner)).unwrap_or_default();
    let genuine = !csrf.is_empty()
        && !browser.is_empty()
        && constant_time_eq(&hash(browser), &pending.browser_hash)
        && constant_time_eq(&hash(&csrf), &pending.csrf_hash);
    if !genuine {
        return Err(error_page(
            inner,
            StatusCode::FORBIDDEN,
            "Form could not be verified",
            "The form's security token is missing or does not match this browser (it may have \
             been submitted twice or from another site).",
        ));
    }
    if pending.stage != stage {
        return Err(error_page(
            inner,
            StatusCode::BAD_REQUEST,
            "Out of order",
            "This step of the sign-in does not match where your request stands.",
        ));
    }
    Ok(Submission {
        form,
        pending,
        csrf,
    })
}

/// The page's message for a guess that has to wait.
fn wait_message(wait: std::time::Duration) -> String {
    format!(
        "Too many attempts from your network for this account. Try again in {}.",
        crate::throttle::wait_text(wait)
    )
}

/// Admits one guess of `throttle` for `account` from the request's address, or the page to
/// answer instead.
async fn admit_guess(
    inner: &Inner,
    throttle: &Throttle<StoreCounters>,
    account: &str,
    addr: Option<&str>,
) -> Result<Guess, (String, StatusCode)> {
    match throttle.admit(account, addr.unwrap_or("")).await {
        Ok(Admission::Go(guess)) => Ok(guess),
        Ok(Admission::Wait(wait)) => Err((wait_message(wait), StatusCode::TOO_MANY_REQUESTS)),
        Err(e) => {
            tracing::error!(error = %e, issuer = %inner.config.issuer, "the sign-in throttle is unavailable");
            Err((
                "Sign-in is unavailable right now; try again.".into(),
                StatusCode::SERVICE_UNAVAILABLE,
            ))
        }
    }
}

/// Reports a wrong guess; the page's message when it started a lockout.
async fn wrong_guess(throttle: &Throttle<StoreCounters>, guess: Guess) -> Option<String> {
    match throttle.failed(guess).await {
        Ok(lock) => lock.map(wait_message),
        Err(e) => {
            tracing::warn!(error = %e, "counting a sign-in failure failed");
            None
        }
    }
}

/// Reports a right guess (`remember`: the whole sign-in is done).
async fn right_guess(throttle: &Throttle<StoreCounters>, guess: Guess, remember: bool) {
    if let Err(e) = throttle.succeeded(guess, remember).await {
        tracing::warn!(error = %e, "clearing a sign-in counter failed");
    }
}

/// Moves the request to its next stage with a fresh CSRF token and renders that stage.
async fn advance(
    inner: &Inner,
    sub: Submission,
    user: &UserRecord,
    stage: PendingStage,
) -> Response {
    let csrf = random_token();
    let mut pending = sub.pending.clone();
    pending.stage = stage;
    pending.user_id = Some(user.id.clone());
    pending.csrf_hash = hash(&csrf);
    match inner
        .store
        .replace_pending(pending.clone(), &sub.pending.csrf_hash)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return error_page(
                inner,
                StatusCode::CONFLICT,
                "Already submitted",
                "This form was already submitted.",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "updating an authorization request failed");
            return error_page(
                inner,
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Your sign-in could not be saved. Try again in a moment.",
            );
        }
    }
    render_stage(inner, &pending, user, &csrf, None, StatusCode::OK)
}

fn render_stage(
    inner: &Inner,
    pending: &PendingAuthorization,
    user: &UserRecord,
    csrf: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let site = &inner.config.display_name;
    match pending.stage {
        PendingStage::SecondFactor => {
            let action = format!("{}{SECOND_FACTOR_PATH}", inner.base_path);
            html_response(
                status,
                pages::second_factor(&SecondFactorView {
                    site,
                    action: &action,
                    request: &pending.id,
                    csrf,
                    error,
                }),
            )
        }
        PendingStage::Consent => {
            let action = format!("{}{CONSENT_PATH}", inner.base_path);
            let r = &pending.request;
            let scopes = granted_scopes(&r.scopes, user);
            let redirect_host = Url::parse(&r.redirect_uri)
                .map(|u| u.host)
                .unwrap_or_default();
            let client_origin = if looks_like_url(&r.client_id) {
                Url::parse(&r.client_id).ok().map(|u| u.host)
            } else {
                None
            };
            html_response(
                status,
                pages::consent(&ConsentView {
                    site,
                    action: &action,
                    request: &pending.id,
                    csrf,
                    client_name: &r.client_name,
                    client_origin: client_origin.as_deref(),
                    user_name: &user.name,
                    scopes: &scopes,
                    resource: &r.resource,
                    redirect_host: &redirect_host,
                }),
            )
        }
        PendingStage::SignIn => {
            let action = format!("{}{SIGN_IN_PATH}", inner.base_path);
            html_response(
                status,
                pages::sign_in(&SignInView {
                    site,
                    action: &action,
                    request: &pending.id,
                    csrf,
                    client_name: &pending.request.client_name,
                    username: &user.username,
                    error,
                }),
            )
        }
    }
}

/// The requested scopes the user may grant.
fn granted_scopes(requested: &[String], user: &UserRecord) -> Vec<String> {
    requested
        .iter()
        .filter(|s| {
            user.scopes
                .as_ref()
                .is_none_or(|allowed| allowed.contains(s))
        })
        .cloned()
        .collect()
}

/// `POST /oauth/authorize/sign-in`: username and password.
pub(super) async fn sign_in(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    ext: Extensions,
    body: Bytes,
) -> Response {
    let sub = match verify_submission(&inner, &headers, &body, PendingStage::SignIn).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let typed = sub
        .form
        .single("username")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned();
    let password = sub
        .form
        .single("password")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned();
    let again = |error: &str, status: StatusCode| {
        let action = format!("{}{SIGN_IN_PATH}", inner.base_path);
        html_response(
            status,
            pages::sign_in(&SignInView {
                site: &inner.config.display_name,
                action: &action,
                request: &sub.pending.id,
                csrf: &sub.csrf,
                client_name: &sub.pending.request.client_name,
                username: &typed,
                error: Some(error),
            }),
        )
    };
    let Ok(username) = normalize_username(&typed) else {
        return again("Enter your username and password.", StatusCode::BAD_REQUEST);
    };
    if password.is_empty() {
        return again("Enter your username and password.", StatusCode::BAD_REQUEST);
    }
    let addr = client_address(&inner, &headers, &ext);
    let guess = match admit_guess(&inner, &inner.passwords, &username, addr.as_deref()).await {
        Ok(g) => g,
        Err((message, status)) => return again(&message, status),
    };
    let user = match inner.store.user_by_username(&username).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            return again(
                "Sign-in is unavailable right now; try again.",
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
    };
    let checked = match check_password(user, &password).await {
        Ok(checked) => checked,
        Err(busy) => return again(&busy.to_string(), StatusCode::SERVICE_UNAVAILABLE),
    };
    let Some(user) = checked else {
        if let Some(message) = wrong_guess(&inner.passwords, guess).await {
            return again(&message, StatusCode::TOO_MANY_REQUESTS);
        }
        return again(
            "The username or password is incorrect.",
            StatusCode::UNAUTHORIZED,
        );
    };
    right_guess(&inner.passwords, guess, user.totp_secret.is_none()).await;
    let next = if user.totp_secret.is_some() {
        PendingStage::SecondFactor
    } else {
        PendingStage::Consent
    };
    advance(&inner, sub, &user, next).await
}

async fn pending_user(
    inner: &Inner,
    pending: &PendingAuthorization,
) -> Result<UserRecord, Response> {
    let gone = || {
        error_page(
            inner,
            StatusCode::BAD_REQUEST,
            "Account unavailable",
            "The account you signed in with no longer exists.",
        )
    };
    let Some(id) = &pending.user_id else {
        return Err(gone());
    };
    match inner.store.user_by_id(id).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(gone()),
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            Err(error_page(
                inner,
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Try again in a moment.",
            ))
        }
    }
}

/// `POST /oauth/authorize/second-factor`: the TOTP code.
pub(super) async fn second_factor(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    ext: Extensions,
    body: Bytes,
) -> Response {
    let sub = match verify_submission(&inner, &headers, &body, PendingStage::SecondFactor).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let user = match pending_user(&inner, &sub.pending).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let again = |error: &str, status: StatusCode| {
        render_stage(&inner, &sub.pending, &user, &sub.csrf, Some(error), status)
    };
    let addr = client_address(&inner, &headers, &ext);
    let guess = match admit_guess(
        &inner,
        &inner.second_factors,
        &user.username,
        addr.as_deref(),
    )
    .await
    {
        Ok(g) => g,
        Err((message, status)) => return again(&message, status),
    };
    let code = sub
        .form
        .single("code")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned();
    let secret = user
        .totp_secret
        .as_deref()
        .and_then(|s| inner.sealer.open(s, &totp_context(&user.id)).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| crate::totp::decode_secret(&s).ok());
    let Some(secret) = secret else {
        tracing::error!(user = %user.id, "the user's TOTP secret cannot be read");
        return again(
            "Two-step verification is unavailable for this account.",
            StatusCode::SERVICE_UNAVAILABLE,
        );
    };
    let step = crate::totp::matching_step(&secret, &code, now());
    let fresh = match step {
        Some(step) => inner
            .store
            .use_totp_step(&user.id, step)
            .await
            .unwrap_or(false),
        None => false,
    };
    if !fresh {
        if let Some(message) = wrong_guess(&inner.second_factors, guess).await {
            return again(&message, StatusCode::TOO_MANY_REQUESTS);
        }
        let msg = if step.is_some() {
            "That code was already used. Wait for the next one."
        } else {
            "That code is not valid. Check your authenticator app and try again."
        };
        return again(msg, StatusCode::UNAUTHORIZED);
    }
    right_guess(&inner.second_factors, guess, true).await;
    advance(&inner, sub, &user, PendingStage::Consent).await
}

/// `POST /oauth/authorize/consent`: allow or deny; redirects to the client.
pub(super) async fn consent(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sub = match verify_submission(&inner, &headers, &body, PendingStage::Consent).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let decision = sub
        .form
        .single("decision")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned();
    if decision != "allow" && decision != "deny" {
        return error_page(
            &inner,
            StatusCode::BAD_REQUEST,
            "Invalid form",
            "Choose Allow or Deny.",
        );
    }
    let user = match pending_user(&inner, &sub.pending).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    match inner
        .store
        .take_pending(&sub.pending.id, &sub.pending.csrf_hash)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return error_page(
                &inner,
                StatusCode::CONFLICT,
                "Already submitted",
                "This form was already submitted.",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "consuming an authorization request failed");
            return error_page(
                &inner,
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Try again in a moment.",
            );
        }
    }
    let r = &sub.pending.request;
    let redirect = Redirect {
        uri: &r.redirect_uri,
        state: r.state.as_deref(),
        iss: &inner.config.issuer,
    };
    if decision == "deny" {
        return redirect.to(
            StatusCode::SEE_OTHER,
            &[
                ("error", "access_denied"),
                ("error_description", "the user denied access"),
            ],
        );
    }
    let now = now();
    let code = random_token();
    let grant = GrantRecord {
        id: random_token(),
        client_id: r.client_id.clone(),
        user_id: user.id.clone(),
        scope: granted_scopes(&r.scopes, &user).join(" "),
        resource: r.resource.clone(),
        refresh_allowed: r.refresh_allowed,
        created_at: now,
        revoked_at: None,
    };
    let code_record = CodeRecord {
        code_hash: hash(&code),
        grant_id: grant.id.clone(),
        redirect_uri: r.redirect_uri.clone(),
        redirect_uri_sent: r.redirect_uri_sent,
        code_challenge: r.code_challenge.clone(),
        expires_at: now + inner.config.code_ttl.as_secs() as i64,
        used_at: None,
    };
    if let Err(e) = inner.store.insert_grant_with_code(grant, code_record).await {
        tracing::error!(error = %e, "storing a grant failed");
        return redirect.to(
            StatusCode::SEE_OTHER,
            &[
                ("error", "server_error"),
                ("error_description", "the grant could not be stored"),
            ],
        );
    }
    // Keeps a dynamic registration from expiring as unused (no-op for other clients).
    if let Err(e) = inner.store.mark_client_used(&r.client_id, now).await {
        tracing::warn!(error = %e, "marking a client used failed");
    }
    redirect.to(StatusCode::SEE_OTHER, &[("code", &code)])
}
