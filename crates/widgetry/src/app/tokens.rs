//! Widget tokens on tool results: the wrapper that adds one to the result of a tool
//! declaring widget actions, and the app-only tool that renews it.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::action::{self, REFRESH_TOOL};
use super::tool::{Reply, Tool, Visibility};

/// Wraps a tool handler so its result `_meta` carries a widget token for `declared`.
pub(super) fn with_widget_token(
    inner: crate::server::ToolHandler,
    tokens: crate::auth::widget_token::WidgetTokens,
    declared: Vec<String>,
    scopes: Arc<HashMap<String, Vec<String>>>,
) -> crate::server::ToolHandler {
    Arc::new(move |ctx: crate::RequestContext, args| {
        let user = ctx.user().cloned();
        let fut = inner(ctx, args);
        let (tokens, declared, scopes) = (tokens.clone(), declared.clone(), scopes.clone());
        Box::pin(async move {
            let mut result = fut.await?;
            let wsid = crate::random::random_hex(12);
            let meta = action::token_meta(
                &tokens,
                user.as_ref(),
                &declared,
                &|a| scopes.get(a).cloned(),
                &wsid,
            );
            result
                .meta
                .get_or_insert_with(Default::default)
                .insert(crate::auth::widget_token::META_KEY.into(), meta);
            Ok(result)
        })
    })
}

/// The private, widget-accessible tool that renews a widget token. The host calls it
/// with the user's own authorization, which vouches for the renewal.
pub(super) fn refresh_tool(
    tokens: crate::auth::widget_token::WidgetTokens,
    scopes: Arc<HashMap<String, Vec<String>>>,
) -> Tool {
    use crate::protocol::types::CallToolResult;
    Tool::new(
        REFRESH_TOOL,
        move |ctx: crate::RequestContext, input: action::RefreshInput| {
            let (tokens, scopes) = (tokens.clone(), scopes.clone());
            async move {
                let Some(user) = ctx.user().cloned() else {
                    return Err(crate::ToolError::msg(
                        "sign in again to keep using this widget",
                    ));
                };
                let old = tokens
                    .verify(&input.token, true)
                    .map_err(|e| crate::ToolError::msg(format!("cannot renew: {e}")))?;
                if old.subject != user.subject {
                    return Err(crate::ToolError::msg(
                        "this widget token belongs to another user; reload the widget",
                    ));
                }
                let meta = action::token_meta(
                    &tokens,
                    Some(&user),
                    &old.declared,
                    &|a| scopes.get(a).cloned(),
                    &old.wsid,
                );
                let lost = meta
                    .get("actions")
                    .and_then(serde_json::Value::as_array)
                    .is_some_and(|a| a.is_empty())
                    && !old.declared.is_empty();
                if lost {
                    let mut r = CallToolResult::error(
                        "You no longer have permission for these actions; sign in again.",
                    );
                    r.meta = Some(serde_json::Map::from_iter([(
                        crate::auth::widget_token::META_KEY.to_string(),
                        json!({"signedIn": true, "scopeLost": true, "declared": old.declared}),
                    )]));
                    return Err(crate::ToolError::Result(Box::new(r)));
                }
                let mut reply = Reply::new(()).text("Widget token renewed.");
                reply = reply.meta(crate::auth::widget_token::META_KEY, meta);
                Ok(reply)
            }
        },
    )
    .title("Renew widget token")
    .description(
        "Renews the token a widget uses for its actions (called by widgets, not the model).",
    )
    .visibility(Visibility::App)
    .auth(crate::auth::Auth::Required(Vec::new()))
}
