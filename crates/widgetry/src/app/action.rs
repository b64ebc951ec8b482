//! Widget actions: one typed handler that is both an MCP tool (for chat and voice) and an
//! HTTP endpoint `POST /widget/actions/<name>` that widgets call directly with a widget
//! token. Same handler, same validation, same user.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use http::{HeaderMap, HeaderValue, StatusCode};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::origins::{json_error, read_body, widget_endpoint, AllowedOrigins};
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

/// The `/widget/actions/{name}` routes, behind the widget-endpoint layers (origin
/// refusal, CORS, body limit).
pub(crate) fn router(state: Arc<ActionState>) -> Router {
    let origins = state.origins.clone();
    let r = Router::new()
        .route("/widget/actions/{name}", post(call_action))
        .with_state(state);
    widget_endpoint(
        r,
        Arc::new(move |o: &str| origins.allows(o)),
        vec![http::header::AUTHORIZATION, http::header::CONTENT_TYPE],
        MAX_ACTION_BODY,
    )
}

async fn call_action(
    State(st): State<Arc<ActionState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run_action(&st, &name, &headers, body).await
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
    let bytes = match read_body(body, MAX_ACTION_BODY).await {
        Ok(b) => b,
        Err(r) => return r,
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
        Err(Failure::Rpc(e) | Failure::BadRequest(e) | Failure::NotFound(e)) => {
            return json_error(StatusCode::BAD_REQUEST, "invalid_request", &e.message)
        }
    };
    let env = Env {
        caller,
        session: None,
        out: None,
        version: ProtocolVersion::negotiate(crate::protocol::LATEST_HANDSHAKE_VERSION),
        cancel: Some(CancellationToken::new()),
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
