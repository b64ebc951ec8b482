//! `{{tool}}`: {{doc_policy}} Renders the `{{widget}}` widget (`widgets/{{widget}}/`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use widgetry::app::{AppBuilder, Reply, Tool, Widget};
use widgetry::{Auth, RequestContext, ToolError};

use super::Shared;
use crate::widgets;

/// The tool's arguments (its `inputSchema`): the model fills them in.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Input {
    /// Show only items whose title contains this text.
    #[serde(default)]
    pub filter: Option<String>,
}

/// One row of the widget.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Item {
    /// Stable id.
    pub id: String,
    /// Main line.
    pub title: String,
    /// Second line.
    pub detail: String,
    /// Whether it is done.
    pub done: bool,
}

/// Who called the tool (absent when nobody is signed in).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Viewer {
    /// Display name.
    pub name: String,
    /// Scopes granted to this app.
    pub scopes: Vec<String>,
}

/// What the tool returns. It becomes `structuredContent`: the model reads it, and the
/// widget gets it as `widgetry.toolOutput`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// Widget heading.
    pub title: String,
    /// The rows.
    pub items: Vec<Item>,
    /// The signed-in user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub viewer: Option<Viewer>,
}

/// Sample rows: replace them with your data.
const ITEMS: &[(&str, &str, &str, bool)] = &[
    (
        "data",
        "Return your own data",
        "src/tools/{{module}}.rs builds these rows",
        false,
    ),
    (
        "widget",
        "Shape the widget",
        "widgets/{{widget}}/widget.js renders them; widget.css styles them",
        false,
    ),
    (
        "run",
        "Run it",
        "widgetry dev, then open the host page and run {{tool}}",
        true,
    ),
];

async fn handle(ctx: RequestContext, input: Input) -> Result<Reply<Output>, ToolError> {
    // {{handler_note}}
    let viewer = ctx.user().map(|u| Viewer {
        name: u.name().or(u.email()).unwrap_or(&u.subject).to_string(),
        scopes: u.scopes.clone(),
    });
    let filter = input.filter.unwrap_or_default().to_lowercase();
    let items: Vec<Item> = ITEMS
        .iter()
        .filter(|(_, title, _, _)| title.to_lowercase().contains(&filter))
        .map(|(id, title, detail, done)| Item {
            id: id.to_string(),
            title: title.to_string(),
            detail: detail.to_string(),
            done: *done,
        })
        .collect();
    let open = items.iter().filter(|i| !i.done).count();
    let summary = format!("{} items, {open} still open.", items.len());
    Ok(Reply::new(Output {
        title: "{{title}}".into(),
        items,
        viewer,
    })
    .text(summary))
}

/// Adds the widget and the tool to the app. `widgets::{{widget_const}}` is `"{{widget}}"`,
/// generated from the folder `widgets/{{widget}}/`.
pub fn register(b: AppBuilder, _shared: &Shared) -> AppBuilder {
    b.widget(
        Widget::new(widgets::{{widget_const}})
            .description("{{title}}: a list of items with their status")
            .prefers_border(true),
    )
    .tool(
        Tool::new("{{tool}}", handle)
            .title("Show {{title_lower}}")
            .description("Shows {{title_lower}} as a list widget.")
            .read_only()
            .invoking("Loading {{title_lower}}…")
            .invoked("{{title}} ready")
            .auth({{auth}})
            .widget(widgets::{{widget_const}}),
    )
}
