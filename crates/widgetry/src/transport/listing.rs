//! `GET <mcp path>/tools`: every tool with its `securitySchemes` and `_meta`, for `curl`
//! and the CLI. Behind the same layers as `/mcp`: a server whose every tool needs
//! sign-in lists nothing to anonymous callers.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::HttpState;

pub(crate) async fn tool_listing(State(state): State<Arc<HttpState>>) -> Response {
    let tools: Vec<_> = state
        .server()
        .tools()
        .iter()
        .map(|t| {
            let d = &t.descriptor;
            json!({
                "name": d.name,
                "title": d.title,
                "description": d.description,
                "securitySchemes": d.security_schemes.clone().unwrap_or_else(|| json!([{"type": "noauth"}])),
                "annotations": d.annotations,
                "inputSchema": d.input_schema,
                "outputSchema": d.output_schema,
                "_meta": d.meta,
            })
        })
        .collect();
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        json!({ "tools": tools }).to_string(),
    )
        .into_response()
}
