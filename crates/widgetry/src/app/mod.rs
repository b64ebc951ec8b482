//! The app layer: the [`App`] builder a developer touches every day. Typed tools,
//! widgets (bundled, versioned, embedded), `_meta` for both the Apps SDK and MCP Apps,
//! and the HTTP surface (`/mcp`, legacy `/sse`, the `/mcp/tools` debugging listing).
//!
//! ```no_run
//! use widgetry::app::{App, NoInput, Tool, Widget};
//! use widgetry::{RequestContext, ToolError};
//!
//! #[derive(serde::Serialize, schemars::JsonSchema)]
//! struct Greeting { message: String }
//!
//! async fn hello(_ctx: RequestContext, _: NoInput) -> Result<Greeting, ToolError> {
//!     Ok(Greeting { message: "hello".into() })
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let app = App::builder("hello", "1.0.0")
//!     .widgets_dir("widgets")
//!     .widget(Widget::new("greeting").description("A greeting card"))
//!     .tool(Tool::new("hello", hello).widget("greeting").read_only())
//!     .build()?;
//! app.serve("127.0.0.1:8000").await?;
//! # Ok(()) }
//! ```

mod action;
mod assemble;
mod builder;
mod describe;
#[cfg(feature = "host-page")]
mod host;
pub(crate) mod origins;
mod served;
mod tokens;
mod tool;
mod widget;

pub use action::{Action, REFRESH_TOOL};
pub use builder::{dev_requested, AppBuilder, AppError};
#[cfg(feature = "host-page")]
pub use host::host_page;
pub use served::App;
pub use tool::{FileParam, IntoReply, NoInput, Reply, Tool, Visibility, MAX_STATUS_TEXT};
pub use widget::{
    claude_domain, Csp, EmbeddedWidgets, Widget, MIME_MCP_APP, MIME_SKYBRIDGE, UI_EXTENSION,
};

/// Embeds the widgets built by `widgetry_bundle::build_script` in `build.rs`.
///
/// ```text
/// let app = App::builder("demo", "1.0.0").widgets(widgetry::embed_widgets!());
/// ```
#[macro_export]
macro_rules! embed_widgets {
    () => {
        $crate::app::EmbeddedWidgets(include!(concat!(env!("OUT_DIR"), "/widgetry_widgets.rs")))
    };
}
