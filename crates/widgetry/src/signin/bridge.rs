//! The sign-in widget's path through the host: `tools/call` of an app-only tool that takes
//! the body the widget would `POST` to `/api/session/authenticate` and answers with that
//! endpoint's status and JSON. Hosts whose widgets cannot reach the app — Claude ignores
//! `connectDomains`, and its widget origin is not in the endpoint's CORS list — relay it
//! instead; the checks (nonce, rate limits, expiry) are the endpoint's own, run by the same
//! code. The client address for rate limits is the MCP request's peer (the host's relay).

use http_body_util::BodyExt;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::endpoint::Submit;
use super::{SignIn, SignInConfig};
use crate::app::{Tool, Visibility};
use crate::auth::Auth;
use crate::{RequestContext, ToolError};

/// What the endpoint answered: its HTTP status and JSON body.
#[derive(Debug, Serialize, JsonSchema)]
struct Relayed {
    status: u16,
    body: Value,
}

/// The relay tool's name: the authenticate tool's, with `_submit`.
pub(super) fn tool_name(c: &SignInConfig) -> String {
    format!("{}_submit", c.authenticate_tool)
}

/// The app-only tool `name` relaying sign-in submissions to `signin`.
pub(super) fn submit_tool(signin: SignIn, name: String) -> Tool {
    Tool::new(name, move |ctx: RequestContext, body: Submit| {
        let s = signin.clone();
        async move {
            let addr = crate::transport::layers::context_client_ip(ctx.extensions())
                .map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
            let response = s.submit(body, &addr).await;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ToolError::msg(format!("sign-in answer unreadable: {e}")))?
                .to_bytes();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok::<_, ToolError>(Relayed { status, body })
        }
    })
    .title("Submit a sign-in step")
    .description("Used by the sign-in widget when it cannot reach the app directly.")
    .visibility(Visibility::App)
    .auth(Auth::none())
}
