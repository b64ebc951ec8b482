//! Widget actions: one typed handler that is both an MCP tool (for chat and voice) and an
//! HTTP endpoint `POST /widget/actions/<name>` that widgets call directly with a widget
//! token. Same handler, same validation, same user.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http::{HeaderMap, HeaderValue, StatusCode};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::tool::{IntoReply, Tool};
use crate::auth::widget_token::{WidgetTokenError, WidgetTokens};
use crate::identity::{Auth, Caller, User};
use crate::protocol::ProtocolVersion;
use crate::server::context::Env;
use crate::server::dispatch::Failure;
use crate::server::{RequestContext, Server, ToolError};

/// Name of the private tool through which widgets renew their tokens.
pub const REFRESH_TOOL: &str = "widgetry_refresh_widget_token";

/// Largest action request body.
const MAX_ACTION_BODY: usize = 1024 * 1024;

/// An action a widget (and the model) can perform for the signed-in user.
///
/// ```
/// use widgetry::app::Action;
/// use widgetry::{Auth, RequestContext, ToolError};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Like { image_id: String }
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Liked { image_id: String, likes: u64 }
///
/// async fn like(_ctx: RequestContext, i: Like) -> Result<Liked, ToolError> {
///     Ok(Liked { image_id: i.image_id, likes: 1 })
/// }
///
/// let action = Action::new("like_image", like)
///     .description("Likes an image for the signed-in user")
///     .auth(Auth::required(["likes:write"]));
/// assert_eq!(action.name(), "like_image");
/// ```
#[derive(Debug, Clone)]
pub struct Action {
    pub(crate) tool: Tool,
}

impl Action {
    /// An action named `name` running `handler` (the same signature as a [`Tool`]).
    pub fn new<I, R, F, Fut>(name: impl Into<String>, handler: F) -> Self
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        R: IntoReply,
        F: Fn(RequestContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    {
        Self {
            tool: Tool::new(name, handler),
        }
    }
    /// The action's name (also its tool name).
    pub fn name(&self) -> &str {
        self.tool.name()
    }
    /// Sets the title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.tool = self.tool.title(t);
        self
    }
    /// Sets the description the model reads.
    pub fn description(mut self, t: impl Into<String>) -> Self {
        self.tool = self.tool.description(t);
        self
    }
    /// Sets the auth policy (required scopes become the widget token's scopes).
    pub fn auth(mut self, a: Auth) -> Self {
        self.tool = self.tool.auth(a);
        self
    }
    /// Marks the action destructive.
    pub fn destructive(mut self) -> Self {
        self.tool = self.tool.destructive();
        self
    }
    /// Marks the action idempotent.
    pub fn idempotent(mut self) -> Self {
        self.tool = self.tool.idempotent();
        self
    }
    /// Status text while running.
    pub fn invoking(mut self, t: impl Into<String>) -> Self {
        self.tool = self.tool.invoking(t);
        self
    }
    /// Status text when done.
    pub fn invoked(mut self, t: impl Into<String>) -> Self {
        self.tool = self.tool.invoked(t);
        self
    }
}

/// What the action endpoints need at run time.
pub(crate) struct ActionState {
    pub server: Server,
    pub tokens: Option<WidgetTokens>,
    pub policies: HashMap<String, Auth>,
    pub origins: AllowedOrigins,
}

/// Origins allowed to call the action endpoints (CORS).
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    /// Exact origins.
    pub exact: Vec<String>,
    /// Allow any loopback origin and the sandboxed-iframe `null` origin (development).
    pub dev: bool,
}

impl AllowedOrigins {
    /// Whether `origin` may call the endpoints.
    pub fn allows(&self, origin: &str) -> bool {
        let o = origin.trim_end_matches('/').to_ascii_lowercase();
        if self
            .exact
            .iter()
            .any(|e| e.trim_end_matches('/').eq_ignore_ascii_case(&o))
        {
            return true;
        }
        // ChatGPT renders widgets on sandbox subdomains of oaiusercontent.com.
        if let Some(host) = o.strip_prefix("https://") {
            let host = crate::transport::guard::host_name(host);
            if host == "chatgpt.com" || host.ends_with(".oaiusercontent.com") {
                return true;
            }
        }
        if self.dev {
            if o == "null" {
                return true;
            }
            if let Some((_, authority)) = o.split_once("://") {
                return crate::transport::guard::is_loopback_host(
                    crate::transport::guard::host_name(authority),
                );
            }
        }
        false
    }
}

fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut r = Response::new(Body::from(
        json!({"error": code, "error_description": description}).to_string(),
    ));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn with_cors(mut r: Response, origin: Option<&str>) -> Response {
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        let h = r.headers_mut();
        h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(http::header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        h.insert(
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            http::header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    r
}

/// The `/widget/actions/{name}` routes.
pub(crate) fn router(state: Arc<ActionState>) -> Router {
    Router::new()
        .route(
            "/widget/actions/{name}",
            post(call_action).options(preflight),
        )
        .with_state(state)
}

fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
}

async fn preflight(State(st): State<Arc<ActionState>>, headers: HeaderMap) -> Response {
    match origin_of(&headers) {
        Some(o) if st.origins.allows(o) => {
            with_cors(StatusCode::NO_CONTENT.into_response(), Some(o))
        }
        Some(_) => json_error(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this origin may not call widget actions",
        ),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn call_action(
    State(st): State<Arc<ActionState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let origin = origin_of(&headers).map(str::to_string);
    if let Some(o) = &origin {
        if !st.origins.allows(o) {
            return json_error(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                &format!("origin {o} may not call widget actions"),
            );
        }
    }
    let resp = run_action(&st, &name, &headers, body).await;
    with_cors(resp, origin.as_deref())
}

async fn run_action(st: &ActionState, name: &str, headers: &HeaderMap, body: Body) -> Response {
    let Some(policy) = st.policies.get(name) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "unknown_action",
            &format!("no action named {name:?}"),
        );
    };
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let user: Option<Arc<User>> = match (&token, policy) {
        (Some(_), _) if st.tokens.is_none() => {
            return json_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "this app issues no widget tokens",
            )
        }
        (Some(t), _) => match st
            .tokens
            .as_ref()
            .map(|k| k.authorize(t, name, policy.scopes()))
            .unwrap_or(Err(WidgetTokenError::Invalid(String::new())))
        {
            Ok(c) => Some(Arc::new(c.to_user())),
            Err(e @ WidgetTokenError::Insufficient(_)) => {
                return json_error(StatusCode::FORBIDDEN, e.code(), &e.to_string())
            }
            Err(e) => return json_error(StatusCode::UNAUTHORIZED, e.code(), &e.to_string()),
        },
        (None, Auth::Required(_)) => {
            return json_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "this action needs a widget token (Authorization: Bearer <token>)",
            )
        }
        (None, _) => None,
    };
    let bytes =
        match http_body_util::BodyExt::collect(http_body_util::Limited::new(body, MAX_ACTION_BODY))
            .await
        {
            Ok(c) => c.to_bytes(),
            Err(_) => {
                return json_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    "the request body is too large or unreadable",
                )
            }
        };
    let args = if bytes.iter().all(u8::is_ascii_whitespace) {
        crate::server::empty_args()
    } else {
        let raw = match serde_json::from_slice::<&serde_json::value::RawValue>(&bytes) {
            Ok(r) => r,
            Err(e) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &format!("the body is not JSON: {e}"),
                )
            }
        };
        match crate::server::dispatch::object_args(Some(raw)) {
            Ok(a) => a,
            Err(m) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &format!("the body must be a JSON object: {m}"),
                )
            }
        }
    };
    let caller = user.map(Caller::User).unwrap_or_default();
    // The engine's one check, as for `tools/call`: the widget token's scopes against the
    // action's policy.
    let authorized = match st
        .server
        .parse_tool_call(name, args)
        .and_then(|p| st.server.authorize(p, &caller, None))
    {
        Ok(a) => a,
        Err(Failure::Refused(r)) => {
            let code = if r.status == StatusCode::FORBIDDEN {
                "insufficient_scope"
            } else {
                "invalid_token"
            };
            return json_error(r.status, code, &r.message);
        }
        Err(Failure::Rpc(e)) => {
            return json_error(StatusCode::BAD_REQUEST, "invalid_request", &e.message)
        }
    };
    let env = Env {
        caller,
        session: None,
        out: None,
        version: ProtocolVersion::negotiate(crate::protocol::LATEST_HANDSHAKE_VERSION),
        cancel: CancellationToken::new(),
        extensions: http::Extensions::new(),
        client_request_timeout: Duration::from_secs(30),
    };
    match st.server.run(authorized, env).await {
        Ok(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => json_error(StatusCode::BAD_REQUEST, "invalid_request", &e.message),
    }
}

/// Input of the renewal tool.
#[derive(Debug, serde::Deserialize, JsonSchema)]
pub(crate) struct RefreshInput {
    /// The widget's current (possibly expired) widget token.
    pub token: String,
}

/// The token metadata a widget receives in a tool result's `_meta`.
pub(crate) fn token_meta(
    tokens: &WidgetTokens,
    user: Option<&User>,
    declared: &[String],
    scopes_of: &dyn Fn(&str) -> Option<Vec<String>>,
    wsid: &str,
) -> Value {
    let endpoint = tokens.audience().to_string();
    match user {
        None => json!({
            "signedIn": false,
            "endpoint": endpoint,
            "refreshTool": REFRESH_TOOL,
            "declared": declared,
        }),
        Some(u) => match tokens.mint(u, declared, scopes_of, wsid) {
            Some((token, exp, actions)) => json!({
                "signedIn": true,
                "token": token,
                "expiresAt": exp,
                "endpoint": endpoint,
                "refreshTool": REFRESH_TOOL,
                "actions": actions,
                "declared": declared,
            }),
            None => json!({"signedIn": true, "error": "could not mint a widget token"}),
        },
    }
}
