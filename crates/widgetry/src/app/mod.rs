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

mod tool;
mod widget;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::HeaderMap;
use serde_json::json;

pub use tool::{IntoReply, NoInput, Reply, Tool, Visibility, MAX_STATUS_TEXT};
use widget::WidgetBuild;
pub use widget::{Csp, EmbeddedWidgets, Widget, MIME_MCP_APP, MIME_SKYBRIDGE};

use crate::protocol::jsonrpc::{code, RpcError};
use crate::protocol::types::{ResourceContents, ResourceTemplate};
use crate::server::{Server, ServerBuilder};
use crate::transport::http::HttpState;
use crate::HttpConfig;

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

/// Why an app could not be built. Lists every problem found, not only the first.
#[derive(Debug, thiserror::Error)]
#[error("the app is misconfigured:\n  - {}", .0.join("\n  - "))]
pub struct AppError(pub Vec<String>);

enum WidgetSource {
    Embedded(EmbeddedWidgets),
    Dir(PathBuf),
}

/// Builds an [`App`].
pub struct AppBuilder {
    name: String,
    version: String,
    instructions: Option<String>,
    tools: Vec<Tool>,
    specs: Vec<Widget>,
    sources: Vec<WidgetSource>,
    http: HttpConfig,
    dev: bool,
    auth: Option<crate::auth::AuthConfig>,
    extend: Vec<Box<dyn FnOnce(ServerBuilder) -> ServerBuilder + Send>>,
}

impl AppBuilder {
    /// Makes the app an OAuth 2.1 resource server trusting `config`'s issuer. Tools
    /// without their own [`Auth`](crate::auth::Auth) policy then require sign-in with
    /// the default scopes.
    pub fn auth(mut self, config: crate::auth::AuthConfig) -> Self {
        self.auth = Some(config);
        self
    }

    /// Sets the `instructions` the model receives at initialization.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Some(text.into());
        self
    }

    /// Registers a typed tool.
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Sets a widget's host-facing settings (description, CSP, domain, border).
    pub fn widget(mut self, widget: Widget) -> Self {
        self.specs.push(widget);
        self
    }

    /// Uses widgets embedded at build time ([`embed_widgets!`](crate::embed_widgets)).
    /// In development (debug builds, or `WIDGETRY_DEV=1`) they are reloaded from their
    /// source folders when these change.
    pub fn widgets(mut self, embedded: EmbeddedWidgets) -> Self {
        self.sources.push(WidgetSource::Embedded(embedded));
        self
    }

    /// Builds widgets from a folder at start-up (each subfolder is a widget).
    pub fn widgets_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.sources.push(WidgetSource::Dir(dir.into()));
        self
    }

    /// Sets the HTTP transport settings.
    pub fn http(mut self, config: HttpConfig) -> Self {
        self.http = config;
        self
    }

    /// Turns development mode (widget reload from disk) on or off.
    pub fn dev(mut self, yes: bool) -> Self {
        self.dev = yes;
        self
    }

    /// Adds raw engine registrations (untyped tools, resources, prompts).
    pub fn extend(
        mut self,
        f: impl FnOnce(ServerBuilder) -> ServerBuilder + Send + 'static,
    ) -> Self {
        self.extend.push(Box::new(f));
        self
    }

    fn load_widgets(&self, problems: &mut Vec<String>) -> Vec<(String, String, Option<PathBuf>)> {
        let mut out = Vec::new();
        for src in &self.sources {
            match src {
                WidgetSource::Embedded(e) => {
                    for (name, html, dir) in e.0 {
                        let dir = PathBuf::from(dir);
                        let dir = (self.dev && dir.exists()).then_some(dir);
                        out.push((name.to_string(), html.to_string(), dir));
                    }
                }
                WidgetSource::Dir(d) => match widgetry_bundle::bundle_all(d) {
                    Ok(bundles) => {
                        for b in bundles {
                            let dir = d.join(&b.name);
                            out.push((b.name, b.html, Some(dir)));
                        }
                    }
                    Err(e) => problems.push(format!("widgets in {}: {e}", d.display())),
                },
            }
        }
        out
    }

    /// Validates everything and builds the app.
    pub fn build(self) -> Result<App, AppError> {
        let mut problems = Vec::new();
        let loaded = self.load_widgets(&mut problems);
        let mut builds: Vec<Arc<WidgetBuild>> = Vec::new();
        for (name, html, dir) in loaded {
            if builds.iter().any(|b| b.spec.name == name) {
                problems.push(format!("widget {name:?} is provided twice"));
                continue;
            }
            let spec = self
                .specs
                .iter()
                .find(|s| s.name == name)
                .cloned()
                .unwrap_or_else(|| Widget::new(name.clone()));
            builds.push(Arc::new(WidgetBuild::new(spec, html, dir, self.dev)));
        }
        for s in &self.specs {
            if !builds.iter().any(|b| b.spec.name == s.name) {
                problems.push(format!(
                    "widget {:?} has settings but no folder; available: {}",
                    s.name,
                    names(&builds)
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.tools {
            problems.extend(t.validate());
            if !seen.insert(t.name().to_string()) {
                problems.push(format!("tool {:?} is registered twice", t.name()));
            }
            if let Some(w) = &t.widget {
                if !builds.iter().any(|b| &b.spec.name == w) {
                    problems.push(format!(
                        "tool {:?} renders widget {w:?}, which does not exist; available: {}",
                        t.name(),
                        names(&builds)
                    ));
                }
            }
        }
        use crate::auth::Auth;
        let default_policy = match &self.auth {
            Some(a) => Auth::Required(a.default_scopes.clone()),
            None => Auth::None,
        };
        let mut policies = HashMap::new();
        for t in &self.tools {
            let p = t.auth.clone().unwrap_or_else(|| default_policy.clone());
            if self.auth.is_none() && p != Auth::None {
                problems.push(format!(
                    "tool {:?} has an auth policy but the app has no auth configured: set AUTHORIZATION_SERVER_URL and RESOURCE_SERVER_URL, or call AppBuilder::auth",
                    t.name()
                ));
            }
            policies.insert(t.name().to_string(), p);
        }
        if !problems.is_empty() {
            return Err(AppError(problems));
        }
        let mut http = self.http;
        if let Some(a) = self.auth {
            http.auth = Some(Arc::new(crate::auth::AuthState::new(a, policies.clone())));
        }

        let mut sb = Server::builder(self.name, self.version);
        if let Some(i) = self.instructions {
            sb = sb.instructions(i);
        }
        for t in self.tools {
            let uris = t
                .widget
                .as_ref()
                .and_then(|w| builds.iter().find(|b| &b.spec.name == w))
                .map(|b| (b.uri(), b.skybridge_uri()));
            let policy = policies.get(t.name()).cloned().unwrap_or(Auth::None);
            let entry = t.into_entry(
                uris.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                &policy,
            );
            sb.add_tool(entry);
        }
        for b in &builds {
            for (resource, mime) in b.resources() {
                let b = b.clone();
                sb = sb.resource(resource, move |_ctx, uri| {
                    let c = b.contents(uri, mime);
                    async move { Ok(vec![c]) }
                });
            }
        }
        if !builds.is_empty() {
            // Earlier versions of a widget URI (cached by a host) resolve to the current build.
            let by_name: HashMap<String, Arc<WidgetBuild>> = builds
                .iter()
                .map(|b| (b.spec.name.clone(), b.clone()))
                .collect();
            sb = sb.resource_template(
                ResourceTemplate {
                    uri_template: "ui://widget/{file}".into(),
                    name: "widget versions".into(),
                    title: None,
                    description: Some(
                        "Any version of a widget URI resolves to its current build".into(),
                    ),
                    mime_type: Some(MIME_MCP_APP.into()),
                },
                move |_ctx, uri, vars| {
                    let found = resolve_widget_file(
                        &by_name,
                        vars.get("file").map(String::as_str).unwrap_or(""),
                    )
                    .map(|(b, mime)| (b.clone(), mime));
                    async move {
                        match found {
                            Some((b, mime)) => Ok(vec![b.contents(uri, mime)]),
                            None => Err::<Vec<ResourceContents>, _>(
                                RpcError::new(
                                    code::RESOURCE_NOT_FOUND,
                                    format!("resource not found: {uri:?}"),
                                )
                                .with_data(json!({ "uri": uri })),
                            ),
                        }
                    }
                },
            );
        }
        for f in self.extend {
            sb = f(sb);
        }
        Ok(App {
            server: sb.build(),
            http,
            widgets: builds,
        })
    }
}

fn names(builds: &[Arc<WidgetBuild>]) -> String {
    if builds.is_empty() {
        "none (add widgets_dir(..) or widgets(embed_widgets!()))".into()
    } else {
        builds
            .iter()
            .map(|b| b.spec.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `list-0123456789ab.html` / `list-….skybridge.html` → the widget and its MIME type.
fn resolve_widget_file<'a>(
    by_name: &'a HashMap<String, Arc<WidgetBuild>>,
    file: &str,
) -> Option<(&'a Arc<WidgetBuild>, &'static str)> {
    let (stem, mime) = if let Some(s) = file.strip_suffix(".skybridge.html") {
        (s, MIME_SKYBRIDGE)
    } else {
        (file.strip_suffix(".html")?, MIME_MCP_APP)
    };
    let (name, hash) = stem.rsplit_once('-')?;
    (hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| by_name.get(name))
        .flatten()
        .map(|b| (b, mime))
}

/// A built app: the MCP engine, its widgets and its HTTP settings.
pub struct App {
    server: Server,
    http: HttpConfig,
    widgets: Vec<Arc<WidgetBuild>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("server", &self.server)
            .field("widgets", &self.widget_uris())
            .finish()
    }
}

impl App {
    /// Starts building an app with its `serverInfo` name and version.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> AppBuilder {
        AppBuilder {
            name: name.into(),
            version: version.into(),
            instructions: None,
            tools: Vec::new(),
            specs: Vec::new(),
            sources: Vec::new(),
            http: HttpConfig::default(),
            dev: cfg!(debug_assertions) || std::env::var("WIDGETRY_DEV").is_ok_and(|v| v == "1"),
            auth: None,
            extend: Vec::new(),
        }
    }

    /// The MCP engine.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// `(widget name, MCP Apps URI)` for every widget.
    pub fn widget_uris(&self) -> Vec<(String, String)> {
        self.widgets
            .iter()
            .map(|b| (b.spec.name.clone(), b.uri()))
            .collect()
    }

    /// The HTTP router: `/mcp`, legacy `/sse` + `/messages`, and `GET /mcp/tools`.
    pub fn router(&self) -> (Router, Arc<HttpState>) {
        let (mcp, state) = crate::transport::http::router(self.server.clone(), self.http.clone());
        let listing_path = format!("{}/tools", self.http.path.trim_end_matches('/'));
        let debug = Router::new()
            .route(&listing_path, get(tool_listing))
            .with_state(state.clone());
        let mut router = mcp.merge(debug);
        if let Some(auth) = &self.http.auth {
            router = router.merge(auth.metadata_router());
        }
        (router, state)
    }

    /// Serves the app over HTTP on `addr` until Ctrl-C/SIGTERM; prints the MCP URL.
    pub async fn serve(&self, addr: &str) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        self.serve_on(listener).await
    }

    /// Serves the app on an already bound listener.
    pub async fn serve_on(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let (router, _state) = self.router();
        crate::serve(listener, router).await
    }

    /// Serves the app on stdin/stdout.
    pub async fn serve_stdio(&self) -> std::io::Result<()> {
        crate::transport::stdio::serve_stdio(self.server.clone()).await
    }
}

/// `GET /mcp/tools`: every tool with its `securitySchemes` and `_meta`, for `curl`.
async fn tool_listing(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
    if let Err(r) = crate::transport::http::guard(&state, &headers) {
        return r;
    }
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
