//! Which clients see MCP Apps: the one rule that gives a client rendering widgets the
//! tools with their UI metadata, and every other client text-only tools.
//!
//! The MCP Apps extension (SEP-1865) is negotiated like any other (SEP-2133): a client
//! that renders widgets declares `extensions["io.modelcontextprotocol/ui"]` in its
//! capabilities (at `initialize`; on 2026-07-28 in every request's `_meta`), with the
//! `mimeTypes` it renders. A client that did not declare it gets tools without UI
//! `_meta` (no `ui`, no `ui/*`, no `openai/*` keys), no app-only tools (`_meta.ui.visibility`
//! without `"model"`), and a call of an app-only tool is refused. Hosts known to render
//! widgets without declaring the extension (ChatGPT, recognised by `openai/*` request
//! `_meta` or its `clientInfo` name) get the UI form; [`UiClients::All`] gives it to
//! every client. When the server cannot know what the client declared (no session on
//! an older protocol version), it lists the UI form.

use serde_json::Value;

use crate::protocol::types::{JsonObject, ToolDescriptor};

/// The MCP Apps extension identifier.
pub const UI_EXTENSION: &str = "io.modelcontextprotocol/ui";

/// The MIME type of MCP Apps widget resources.
pub const MIME_MCP_APP: &str = "text/html;profile=mcp-app";

/// Which clients get tools with UI metadata (`_meta.ui`, `openai/outputTemplate`, …) and
/// the app-only tools widgets call.
///
/// ```
/// use widgetry::{Server, UiClients};
///
/// // A deployment whose hosts render widgets without declaring the extension.
/// let server = Server::builder("demo", "1.0.0").ui_clients(UiClients::All).build();
/// assert_eq!(server.config().ui_clients, UiClients::All);
/// assert_eq!(UiClients::parse("declared"), Some(UiClients::Declared));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UiClients {
    /// Clients that declare the `io.modelcontextprotocol/ui` extension (with
    /// `text/html;profile=mcp-app` among its `mimeTypes`, or no `mimeTypes`), and ChatGPT,
    /// which renders widgets whether it declares it or not. The default;
    /// `WIDGETRY_UI_CLIENTS=declared`.
    #[default]
    Declared,
    /// Every client, declared or not (`WIDGETRY_UI_CLIENTS=all`): for hosts that render
    /// widgets without declaring the extension and are not recognised.
    All,
}

impl UiClients {
    /// Parses `declared` and `all`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "declared" | "auto" | "" => Some(Self::Declared),
            "all" => Some(Self::All),
            _ => None,
        }
    }
}

/// What a request says about its client: its declared capabilities (`None`: unknown),
/// its name and the request's `_meta`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientView<'a> {
    pub capabilities: Option<&'a JsonObject>,
    pub name: Option<&'a str>,
    pub meta: Option<&'a JsonObject>,
}

impl ClientView<'_> {
    /// Whether this client renders widgets, under `mode`.
    pub(crate) fn renders_ui(&self, mode: UiClients) -> bool {
        if mode == UiClients::All {
            return true;
        }
        let Some(caps) = self.capabilities else {
            return true;
        };
        declares_ui(caps) || crate::auth::is_chatgpt(self.meta, self.name)
    }
}

/// Whether `capabilities` declare the MCP Apps extension for our widgets' MIME type (the
/// rule of ext-apps' `getUiCapability(..)?.mimeTypes?.includes(RESOURCE_MIME_TYPE)`,
/// lenient about a declaration that lists no `mimeTypes`). The declaration is read from
/// `extensions`, or from `experimental` where a client's SDK has no `extensions` field
/// yet (the form an earlier draft of the extension proposed).
pub(crate) fn declares_ui(capabilities: &JsonObject) -> bool {
    let declared = ["extensions", "experimental"].iter().find_map(|k| {
        match capabilities.get(*k).and_then(|e| e.get(UI_EXTENSION)) {
            Some(Value::Object(ui)) => Some(ui),
            _ => None,
        }
    });
    let Some(ui) = declared else {
        return false;
    };
    match ui.get("mimeTypes") {
        None | Some(Value::Null) => true,
        Some(Value::Array(types)) => types.iter().any(|t| t == MIME_MCP_APP),
        Some(_) => false,
    }
}

/// Whether a tool is for widgets only: its `_meta.ui.visibility` does not name the model.
pub(crate) fn app_only(tool: &ToolDescriptor) -> bool {
    let visibility = tool
        .meta
        .as_ref()
        .and_then(|m| m.get("ui"))
        .and_then(|ui| ui.get("visibility"))
        .and_then(Value::as_array);
    visibility.is_some_and(|v| !v.iter().any(|s| s == "model"))
}

/// Whether a `_meta` key is UI metadata: MCP Apps' `ui` (and the flat `ui/…` keys of
/// older hosts) and the Apps SDK's `openai/…` keys.
fn is_ui_key(key: &str) -> bool {
    key == "ui" || key.starts_with("ui/") || key.starts_with("openai/")
}

/// The tool as a client without UI sees it: `None` for an app-only tool, else the
/// descriptor without UI metadata.
pub(crate) fn text_only(tool: &ToolDescriptor) -> Option<ToolDescriptor> {
    if app_only(tool) {
        return None;
    }
    let mut t = tool.clone();
    if let Some(meta) = &mut t.meta {
        meta.retain(|k, _| !is_ui_key(k));
        if meta.is_empty() {
            t.meta = None;
        }
    }
    Some(t)
}

/// Whether any tool looks different to a client without UI.
pub(crate) fn has_ui(tools: &[&ToolDescriptor]) -> bool {
    tools.iter().any(|t| {
        app_only(t)
            || t.meta
                .as_ref()
                .is_some_and(|m| m.keys().any(|k| is_ui_key(k)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn caps(v: Value) -> JsonObject {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_extension_counts_with_our_mime_type_or_none_listed() {
        assert!(declares_ui(&caps(
            json!({"extensions": {UI_EXTENSION: {"mimeTypes": [MIME_MCP_APP]}}})
        )));
        assert!(declares_ui(&caps(
            json!({"extensions": {UI_EXTENSION: {}}})
        )));
        assert!(!declares_ui(&caps(
            json!({"extensions": {UI_EXTENSION: {"mimeTypes": ["text/uri-list"]}}})
        )));
        assert!(!declares_ui(&caps(
            json!({"extensions": {UI_EXTENSION: true}})
        )));
        assert!(!declares_ui(&caps(json!({"extensions": {}}))));
        assert!(!declares_ui(&caps(json!({UI_EXTENSION: {}}))));
        assert!(declares_ui(&caps(
            json!({"experimental": {UI_EXTENSION: {"mimeTypes": [MIME_MCP_APP]}}})
        )));
        assert!(!declares_ui(&caps(
            json!({"experimental": {UI_EXTENSION: {"mimeTypes": ["text/uri-list"]}}})
        )));
        assert!(!declares_ui(&caps(
            json!({"extensions": {UI_EXTENSION: {"mimeTypes": MIME_MCP_APP}}})
        )));
    }

    #[test]
    fn chatgpt_and_unknown_clients_get_ui_others_by_declaration() {
        let none = caps(json!({}));
        let meta = caps(json!({"openai/locale": "en-US"}));
        let view = |capabilities, name, meta| ClientView {
            capabilities,
            name,
            meta,
        };
        assert!(view(None, None, None).renders_ui(UiClients::Declared));
        assert!(!view(Some(&none), Some("python-sdk"), None).renders_ui(UiClients::Declared));
        assert!(view(Some(&none), Some("openai-mcp"), None).renders_ui(UiClients::Declared));
        assert!(view(Some(&none), None, Some(&meta)).renders_ui(UiClients::Declared));
        assert!(view(Some(&none), None, None).renders_ui(UiClients::All));
    }

    #[test]
    fn text_only_tools_lose_ui_meta_and_app_only_tools_vanish() {
        let mut t = ToolDescriptor::new("show");
        t.meta = Some(caps(json!({
            "ui": {"resourceUri": "ui://widget/a.html", "visibility": ["model", "app"]},
            "ui/resourceUri": "ui://widget/a.html",
            "openai/outputTemplate": "ui://widget/a.html",
            "securitySchemes": [{"type": "noauth"}],
            "widgetry/action": true,
        })));
        let plain = text_only(&t).unwrap();
        assert_eq!(
            serde_json::to_value(plain.meta).unwrap(),
            json!({"securitySchemes": [{"type": "noauth"}], "widgetry/action": true})
        );
        let mut hidden = ToolDescriptor::new("refresh");
        hidden.meta = Some(caps(json!({"ui": {"visibility": ["app"]}})));
        assert!(app_only(&hidden));
        assert!(text_only(&hidden).is_none());
        assert!(has_ui(&[&t]));
        assert!(!has_ui(&[&ToolDescriptor::new("plain")]));
    }
}
