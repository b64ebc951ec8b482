//! `POST /api/session/authenticate`: where the widget posts credentials and the
//! verification code, behind the widget-endpoint layers (origin refusal, CORS for widget
//! origins, a 16 KiB body limit).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use widgetry_authz::throttle::{wait_text, Admission, Guess, Throttle};
use widgetry_authz::TrustedProxies;

use super::limits::KvCounters;
use super::session::{ct_eq, hash, mask, six_digits, Session};
use super::{Account, SignIn};
use crate::app::origins::{read_body, widget_endpoint};

/// The endpoint's path under the app's public URL.
pub(super) const PATH: &str = "/api/session/authenticate";

/// Largest sign-in request body.
const MAX_SUBMIT_BODY: usize = 16 * 1024;

/// One widget submission (HTTP body, or the input of the relay tool in `bridge.rs`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(super) struct Submit {
    /// The public half of the session id (from the widget's `_meta`).
    #[serde(rename = "sessionId")]
    session_id: String,
    nonce: String,
    step: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn err(status: StatusCode, code: &str, message: &str, extra: Value) -> Response {
    let mut body = json!({"error": code, "message": message});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    json_response(status, body)
}

fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, body)
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    err(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        &format!("sign-in is unavailable right now: {e}"),
        Value::Null,
    )
}

fn wait(retry_after: std::time::Duration) -> Response {
    let mut r = err(
        StatusCode::TOO_MANY_REQUESTS,
        "locked",
        &format!(
            "Too many attempts. Try again in {}.",
            wait_text(retry_after)
        ),
        json!({"retryAfter": retry_after.as_secs().max(1)}),
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
        r.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    r
}

/// The session-level and throttle checks of one answer, in the order they count.
enum Checked {
    Go(Guess),
    Answer(Response),
}

impl SignIn {
    /// The endpoint as a router, to add with [`crate::app::AppBuilder::router_extension`].
    pub fn router(&self) -> Router {
        let me = self.clone();
        let r = Router::new()
            .route(PATH, post(submit_route))
            .with_state(self.clone());
        widget_endpoint(
            r,
            Arc::new(move |o: &str| {
                me.inner
                    .origins
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .allows(o)
            }),
            vec![http::header::CONTENT_TYPE],
            MAX_SUBMIT_BODY,
        )
    }

    /// Counts the answer on its session, then on the throttle: both before checking it.
    async fn admit_answer(
        &self,
        session: &str,
        throttle: &Throttle<KvCounters>,
        account: &str,
        addr: &str,
    ) -> Checked {
        let c = self.config();
        match self.inner.limits.count_answer(session, c.session_ttl).await {
            Ok(n) if n > c.max_session_failures => {
                return Checked::Answer(err(
                    StatusCode::TOO_MANY_REQUESTS,
                    "locked",
                    "Too many wrong answers for this sign-in. Start a new sign-in.",
                    Value::Null,
                ))
            }
            Ok(_) => {}
            Err(e) => return Checked::Answer(unavailable(e)),
        }
        match throttle.admit(account, addr).await {
            Ok(Admission::Go(g)) => Checked::Go(g),
            Ok(Admission::Wait(w)) => {
                self.inner
                    .limits
                    .answer_was_right(session, c.session_ttl)
                    .await;
                Checked::Answer(wait(w))
            }
            Err(e) => Checked::Answer(unavailable(e)),
        }
    }

    /// Reports a wrong answer; the response.
    async fn wrong(
        &self,
        session: &str,
        throttle: &Throttle<KvCounters>,
        guess: Guess,
        code: &str,
        message: &str,
    ) -> Response {
        match throttle.failed(guess).await {
            Ok(Some(lock)) => return wait(lock),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "counting a sign-in failure failed"),
        }
        let used = self.inner.limits.answers(session).await.unwrap_or(0);
        let left = (self.config().max_session_failures - used).max(0);
        err(
            StatusCode::UNAUTHORIZED,
            code,
            message,
            json!({"remaining": left}),
        )
    }

    /// Reports a right answer.
    async fn right(
        &self,
        session: &str,
        throttle: &Throttle<KvCounters>,
        guess: Guess,
        done: bool,
    ) {
        if let Err(e) = throttle.succeeded(guess, done).await {
            tracing::warn!(error = %e, "clearing a sign-in counter failed");
        }
        self.inner
            .limits
            .answer_was_right(session, self.config().session_ttl)
            .await;
    }

    /// Handles one widget submission.
    pub(super) async fn submit(&self, body: Submit, addr: &str) -> Response {
        let mut s = match self.sessions().load(&body.session_id).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return err(
                    StatusCode::GONE,
                    "expired",
                    "This sign-in expired; sign in again.",
                    Value::Null,
                )
            }
            Err(e) => return unavailable(e),
        };
        if !s.nonce_issued || !ct_eq(&hash(&body.nonce), &s.nonce_hash) {
            return err(
                StatusCode::FORBIDDEN,
                "invalid_nonce",
                "This sign-in form is not valid for this session; reopen it.",
                Value::Null,
            );
        }
        match (body.step.as_str(), s.state.as_str()) {
            (_, "done") => ok(json!({"next": "done", "name": s.name, "email": s.email})),
            ("credentials", "credentials" | "code") => self.credentials(body, s, addr).await,
            ("code", "code") => {
                let code = body.code.as_deref().unwrap_or("").trim().to_string();
                if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    return err(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "Enter the 6-digit code.",
                        Value::Null,
                    );
                }
                self.code(&body.session_id, &mut s, &code, addr).await
            }
            (step, state) => err(
                StatusCode::CONFLICT,
                "wrong_step",
                &format!("This sign-in is at the {state} step, not {step}."),
                json!({"state": state}),
            ),
        }
    }

    async fn credentials(&self, body: Submit, mut s: Session, addr: &str) -> Response {
        let (Some(email), Some(password)) = (body.email.as_deref(), body.password.as_deref())
        else {
            return err(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Enter your email and password.",
                Value::Null,
            );
        };
        let email = email.trim().to_lowercase();
        let id = body.session_id.as_str();
        let throttle = &self.inner.limits.passwords;
        let guess = match self.admit_answer(id, throttle, &email, addr).await {
            Checked::Go(g) => g,
            Checked::Answer(r) => return r,
        };
        let account = match self.inner.directory.check_password(&email, password).await {
            Ok(a) => a,
            Err(e) => return unavailable(e),
        };
        let Some(account) = account else {
            return self
                .wrong(
                    id,
                    throttle,
                    guess,
                    "invalid_credentials",
                    "The email or password is wrong.",
                )
                .await;
        };
        self.right(id, throttle, guess, false).await;
        s.subject = Some(account.subject.clone());
        s.email = Some(account.email.clone());
        s.name = Some(account.name.clone());
        s.state = "code".into();
        if account.has_totp {
            s.method = Some("totp".into());
            s.code_hash = None;
        } else {
            let code = six_digits();
            s.method = Some("email".into());
            s.code_hash = Some(hash(&format!("{id}:{code}")));
            s.code_expires_ms =
                Some(widgetry_store::now_ms() + self.config().code_ttl.as_millis() as u64);
            if let Err(e) = self.inner.sender.send(&account, &code).await {
                return unavailable(format!("could not send the code: {e}"));
            }
        }
        if let Err(e) = self.sessions().save(id, &s).await {
            return unavailable(e);
        }
        ok(json!({
            "next": "code",
            "method": s.method,
            "email": mask(&account.email),
            "delivery": if self.inner.sender.delivers() { "email" } else { "console" },
        }))
    }

    async fn code(&self, id: &str, s: &mut Session, code: &str, addr: &str) -> Response {
        let email = s.email.clone().unwrap_or_default();
        let totp = s.method.as_deref() == Some("totp");
        let throttle = if totp {
            &self.inner.limits.second_factors
        } else {
            &self.inner.limits.email_codes
        };
        let guess = match self.admit_answer(id, throttle, &email, addr).await {
            Checked::Go(g) => g,
            Checked::Answer(r) => return r,
        };
        let right = if totp {
            let account = Account {
                subject: s.subject.clone().unwrap_or_default(),
                email: email.clone(),
                name: s.name.clone().unwrap_or_default(),
                has_totp: true,
            };
            match self.inner.directory.check_totp(&account, code).await {
                Ok(b) => b,
                Err(e) => return unavailable(e),
            }
        } else {
            let fresh = s
                .code_expires_ms
                .is_some_and(|t| t > widgetry_store::now_ms());
            fresh
                && s.code_hash
                    .as_deref()
                    .is_some_and(|h| ct_eq(h, &hash(&format!("{id}:{code}"))))
        };
        if !right {
            return self
                .wrong(
                    id,
                    throttle,
                    guess,
                    "invalid_code",
                    "That code is not right.",
                )
                .await;
        }
        self.right(id, throttle, guess, true).await;
        s.state = "done".into();
        s.code_hash = None;
        if let Err(e) = self.sessions().save(id, s).await {
            return unavailable(e);
        }
        ok(json!({"next": "done", "name": s.name, "email": s.email}))
    }
}

fn client_addr(proxies: &TrustedProxies, req: &http::request::Parts) -> String {
    proxies
        .client_ip_of(&req.headers, &req.extensions)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into())
}

async fn submit_route(State(s): State<SignIn>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let addr = client_addr(&s.config().trusted_proxies, &parts);
    let body = match read_body(body, MAX_SUBMIT_BODY).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match serde_json::from_slice::<Submit>(&body) {
        Ok(b) => s.submit(b, &addr).await,
        Err(_) => err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request is not a sign-in submission (a JSON object with sessionId, nonce and step).",
            Value::Null,
        ),
    }
}
