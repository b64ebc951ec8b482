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
mod describe;
mod host;
pub(crate) mod origins;
mod tool;
mod widget;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use serde_json::json;

pub use action::{Action, REFRESH_TOOL};
pub use host::host_page;
pub use origins::AllowedOrigins;
pub use tool::{FileParam, IntoReply, NoInput, Reply, Tool, Visibility, MAX_STATUS_TEXT};
use widget::WidgetBuild;
pub use widget::{claude_domain, Csp, EmbeddedWidgets, Widget, MIME_MCP_APP, MIME_SKYBRIDGE};

/// Whether development mode was asked for: `WIDGETRY_DEV=1` in the environment (as
/// `widgetry dev` sets it). Never on by itself, not even in debug builds: development mode
/// serves the host page, reloads widgets from disk and accepts the `null` origin of
/// sandboxed frames on widget endpoints.
pub fn dev_requested() -> bool {
    std::env::var("WIDGETRY_DEV").is_ok_and(|v| v == "1")
}

use crate::protocol::jsonrpc::{code, RpcError};
use crate::protocol::types::{ResourceContents, ResourceTemplate};
use crate::server::{Server, ServerBuilder};
use crate::transport::HttpState;
use crate::HttpConfig;

/// The MCP Apps extension identifier, advertised by an app with widgets.
pub const UI_EXTENSION: &str = "io.modelcontextprotocol/ui";

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
    Html(String, String),
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
    actions: Vec<String>,
    public_url: Option<String>,
    widget_keys: Option<crate::auth::widget_keys::WidgetKeys>,
    widget_token_ttl: std::time::Duration,
    widget_origins: Vec<String>,
    routers: Vec<Router>,
    extend: Vec<Box<dyn FnOnce(ServerBuilder) -> ServerBuilder + Send>>,
    host_page: Option<bool>,
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

    /// Registers a widget action: an MCP tool and `POST /widget/actions/<name>`.
    pub fn action(mut self, action: Action) -> Self {
        self.actions.push(action.name().to_string());
        // Marked, so hosts and the host page can tell it from the tools people run.
        self.tools
            .push(action.tool.meta("widgetry/action", serde_json::json!(true)));
        self
    }

    /// The app's public origin (e.g. `https://app.example.com`), where widgets reach the
    /// action endpoints. Default: the origin of the auth resource URL.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into().trim_end_matches('/').to_string());
        self
    }

    /// The PKCS#8 P-256 key signing widget tokens (default: generated at start-up, so a
    /// restart makes widgets renew their tokens). Share one key between instances.
    pub fn widget_token_key(mut self, pkcs8: Vec<u8>) -> Self {
        self.widget_keys = Some(crate::auth::widget_keys::WidgetKeys::from_pkcs8_unchecked(
            pkcs8,
        ));
        self
    }

    /// The keys of widget tokens: the first signs, all verify (rotation). Give every
    /// instance the same ones, from configuration or the shared store
    /// ([`crate::auth::widget_keys::WidgetKeys`]).
    pub fn widget_token_keys(mut self, keys: crate::auth::widget_keys::WidgetKeys) -> Self {
        self.widget_keys = Some(keys);
        self
    }

    /// Applies the deployment [`Settings`](crate::ops::Settings) (call it after
    /// [`AppBuilder::http`]): trusted proxies, the public URL (allowed by the
    /// DNS-rebinding guard, used for widget actions), and the configured widget-token
    /// keys. Keys from the shared store are set with [`AppBuilder::widget_token_keys`].
    pub fn settings(mut self, settings: &crate::ops::Settings) -> Self {
        self.http = settings.apply_http(self.http);
        if let Some(url) = &settings.public_url {
            self.public_url = Some(url.clone());
        }
        if let Some(keys) = &settings.widget_token_keys {
            self.widget_keys = Some(keys.clone());
        }
        self
    }

    /// Lifetime of widget tokens (default 10 minutes).
    pub fn widget_token_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.widget_token_ttl = ttl;
        self
    }

    /// Allows an extra origin to call the action endpoints (CORS).
    pub fn widget_origin(mut self, origin: impl Into<String>) -> Self {
        self.widget_origins.push(origin.into());
        self
    }

    /// Sets a widget's host-facing settings (description, CSP, domain, border).
    pub fn widget(mut self, widget: Widget) -> Self {
        self.specs.push(widget);
        self
    }

    /// Uses widgets embedded at build time ([`embed_widgets!`](crate::embed_widgets)).
    /// In development ([`dev_requested`], or [`AppBuilder::dev`]) they are reloaded from their
    /// source folders when these change.
    pub fn widgets(mut self, embedded: EmbeddedWidgets) -> Self {
        self.sources.push(WidgetSource::Embedded(embedded));
        self
    }

    /// Adds a widget from a self-contained HTML document (the runtime is injected).
    pub fn widget_html(mut self, name: impl Into<String>, html: impl Into<String>) -> Self {
        self.sources
            .push(WidgetSource::Html(name.into(), html.into()));
        self
    }

    /// Merges extra routes into the app's router (e.g. a component's endpoints).
    pub fn router_extension(mut self, router: Router) -> Self {
        self.routers.push(router);
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

    /// Keeps MCP transport sessions in `store` (see [`HttpConfig::session_store`]).
    pub fn session_store(mut self, store: Arc<dyn widgetry_store::SessionStore>) -> Self {
        self.http = self.http.session_store(store);
        self
    }

    /// Turns development mode (widget reload from disk) on or off.
    pub fn dev(mut self, yes: bool) -> Self {
        self.dev = yes;
        self
    }

    /// Serves the local host page at `/_widgetry/host` (default: in development mode only;
    /// `WIDGETRY_HOST_PAGE=1` forces it on).
    pub fn host_page(mut self, yes: bool) -> Self {
        self.host_page = Some(yes);
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
                WidgetSource::Html(name, source) => {
                    match widgetry_bundle::bundle_html(source, std::path::Path::new(".")) {
                        Ok(html) => out.push((name.clone(), html, None)),
                        Err(e) => problems.push(format!("widget {name}: {e}")),
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
    pub fn build(mut self) -> Result<App, AppError> {
        let mut problems = Vec::new();
        let loaded = self.load_widgets(&mut problems);
        let public_origin: Option<String> = self.public_url.clone().or_else(|| {
            self.auth.as_ref().map(|a| {
                let r = a.resource.as_str();
                let after = r.find("://").map(|i| i + 3).unwrap_or(0);
                match r[after..].find('/') {
                    Some(p) => r[..after + p].to_string(),
                    None => r.to_string(),
                }
            })
        });
        let acting_widgets: std::collections::HashSet<String> = self
            .tools
            .iter()
            .filter(|t| !t.widget_actions.is_empty())
            .filter_map(|t| t.widget.clone())
            .collect();
        // Claude's widget origin for this server, when its public MCP URL is known.
        let claude = public_origin
            .as_ref()
            .map(|o| claude_domain(&format!("{o}{}", self.http.path)));
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
            let mut spec = spec;
            if spec.ui_domain.is_none() {
                spec.ui_domain = claude.clone();
            }
            if let (true, Some(o)) = (acting_widgets.contains(&name), &public_origin) {
                if !spec.csp.connect_domains.contains(o) {
                    spec.csp.connect_domains.push(o.clone());
                }
            }
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
        for t in &self.tools {
            for a in &t.widget_actions {
                if !self.actions.contains(a) {
                    problems.push(format!(
                        "tool {:?} declares widget action {a:?}, which is not registered with AppBuilder::action",
                        t.name()
                    ));
                }
            }
        }
        let declares_actions = self.tools.iter().any(|t| !t.widget_actions.is_empty());
        let tokens = if declares_actions && self.auth.is_some() {
            match &public_origin {
                None => {
                    problems.push("widget actions need the app's public URL: set RESOURCE_SERVER_URL or AppBuilder::public_url".into());
                    None
                }
                Some(origin) => {
                    let keys = self
                        .widget_keys
                        .clone()
                        .unwrap_or_else(crate::auth::widget_keys::WidgetKeys::generate);
                    match crate::auth::widget_token::WidgetTokens::with_keys(
                        keys.all(),
                        origin.clone(),
                        format!("{origin}/widget/actions"),
                        self.widget_token_ttl,
                    ) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            problems.push(e);
                            None
                        }
                    }
                }
            }
        } else {
            None
        };
        use crate::auth::Auth;
        let action_policy = |tools: &[Tool], default: &Auth, name: &str| -> Option<Vec<String>> {
            tools.iter().find(|t| t.name() == name).map(|t| {
                t.auth
                    .clone()
                    .unwrap_or_else(|| default.clone())
                    .scopes()
                    .to_vec()
            })
        };
        if let Some(tk) = &tokens {
            let default = match &self.auth {
                Some(a) => Auth::Required(a.default_scopes.clone()),
                None => Auth::None,
            };
            let scopes: Arc<HashMap<String, Vec<String>>> = Arc::new(
                self.actions
                    .iter()
                    .filter_map(|a| action_policy(&self.tools, &default, a).map(|s| (a.clone(), s)))
                    .collect(),
            );
            self.tools.push(refresh_tool(tk.clone(), scopes));
        }
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
        if let Some(origin) = &public_origin {
            // The public host (behind a proxy or a tunnel) is a legitimate Host header.
            if let Some((_, authority)) = origin.split_once("://") {
                if !crate::transport::guard::is_loopback_host(crate::transport::guard::host_name(
                    authority,
                )) {
                    http.guard.allow_host(authority);
                }
            }
        }
        let mut sb = Server::builder(self.name, self.version);
        if let Some(a) = self.auth {
            sb = sb.auth(a);
        }
        if let Some(i) = self.instructions {
            sb = sb.instructions(i);
        }
        if !builds.is_empty() {
            // MCP Apps (SEP-1865): this server has UI resources of this type, in initialize
            // and server/discover alike.
            sb = sb.extension(UI_EXTENSION, json!({ "mimeTypes": [MIME_MCP_APP] }));
        }
        let action_scopes: Arc<HashMap<String, Vec<String>>> = Arc::new(
            self.actions
                .iter()
                .map(|a| {
                    (
                        a.clone(),
                        policies
                            .get(a)
                            .map(|p| p.scopes().to_vec())
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        );
        let action_names = self.actions.clone();
        for t in self.tools {
            let declared = t.widget_actions.clone();
            let uris = t
                .widget
                .as_ref()
                .and_then(|w| builds.iter().find(|b| &b.spec.name == w))
                .map(|b| b.uri());
            let policy = policies.get(t.name()).cloned().unwrap_or(Auth::None);
            let mut entry = t.into_entry(uris.as_deref(), &policy);
            if let (false, Some(tk)) = (declared.is_empty(), &tokens) {
                entry.handler =
                    with_widget_token(entry.handler, tk.clone(), declared, action_scopes.clone());
            }
            sb.add_tool(entry);
        }
        for b in &builds {
            let uri = b.uri();
            let build = b.clone();
            sb = sb
                .resource(b.resource(), move |_ctx, uri| {
                    let c = build.contents(uri, MIME_MCP_APP);
                    async move { Ok(vec![c]) }
                })
                .resource_cache(&uri, b.cache_hint());
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
        let server = sb.build();
        let actions = (!action_names.is_empty()).then(|| {
            let mut exact = self.widget_origins.clone();
            exact.extend(public_origin.iter().cloned());
            exact.extend(builds.iter().filter_map(|b| b.spec.domain.clone()));
            // Claude's sandbox origin (it ignores connectDomains today; the widget then falls
            // back to tools/call, but a Claude that honours them finds CORS ready).
            exact.extend(
                builds
                    .iter()
                    .filter_map(|b| b.spec.ui_domain.as_ref())
                    .map(|d| match d.contains("://") {
                        true => d.clone(),
                        false => format!("https://{d}"),
                    }),
            );
            Arc::new(action::ActionState {
                server: server.clone(),
                tokens: tokens.clone(),
                policies: action_names
                    .iter()
                    .map(|a| (a.clone(), policies.get(a).cloned().unwrap_or(Auth::None)))
                    .collect(),
                origins: AllowedOrigins {
                    exact,
                    dev: self.dev,
                },
            })
        });
        Ok(App {
            server,
            http,
            widgets: builds,
            actions,
            routers: self.routers,
            host_page: host::enabled(self.host_page, self.dev),
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
    actions: Option<Arc<action::ActionState>>,
    host_page: bool,
    routers: Vec<Router>,
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
            dev: dev_requested(),
            auth: None,
            actions: Vec::new(),
            public_url: None,
            widget_keys: None,
            // WIDGETRY_WIDGET_TOKEN_TTL_SECS overrides the 10-minute default (e.g. in tests).
            widget_token_ttl: std::time::Duration::from_secs(
                std::env::var("WIDGETRY_WIDGET_TOKEN_TTL_SECS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .filter(|s: &u64| *s > 0)
                    .unwrap_or(600),
            ),
            widget_origins: Vec::new(),
            routers: Vec::new(),
            extend: Vec::new(),
            host_page: None,
        }
    }

    /// Whether the app serves the local host page (`/_widgetry/host`).
    pub fn serves_host_page(&self) -> bool {
        self.host_page
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

    /// The HTTP router: `/mcp`, legacy `/sse` + `/messages`, `GET /mcp/tools`, the
    /// protected-resource metadata, widget actions, extensions and the host page.
    pub fn router(&self) -> (Router, Arc<HttpState>) {
        let (mut router, state) = crate::transport::router(self.server.clone(), self.http.clone());
        if let Some(a) = &self.actions {
            router = router.merge(action::router(a.clone()));
        }
        for r in &self.routers {
            router = router.merge(r.clone());
        }
        if self.host_page {
            router = router.merge(host::router(&self.http, &self.server, &self.widgets));
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

    /// Serves the app in production on `listener`: the app's routes plus `/healthz`,
    /// `/readyz` (probing the session store and `kv`) and `/metrics`, behind the
    /// observing layer (a span and metrics per request), with graceful shutdown within
    /// [`Settings::shutdown_grace`](crate::ops::Settings::shutdown_grace).
    pub async fn serve_with(
        &self,
        listener: tokio::net::TcpListener,
        settings: &crate::ops::Settings,
        kv: Option<Arc<dyn widgetry_store::KvStore>>,
    ) -> std::io::Result<()> {
        crate::ops::metrics::recorder();
        let (router, state) = self.router();
        let ops = crate::ops::Ops {
            sessions: self.http.session_store.clone(),
            kv,
            state,
            proxies: settings.trusted_proxies.clone(),
            metrics_allow: settings.metrics_allow.clone(),
        };
        let router =
            router
                .merge(crate::ops::ops_router(ops))
                .layer(crate::ops::observe::Observe::new(
                    settings.trusted_proxies.clone(),
                ));
        crate::ops::shutdown::serve(listener, router, settings.shutdown_grace).await
    }

    /// Serves the app on stdin/stdout.
    pub async fn serve_stdio(&self) -> std::io::Result<()> {
        crate::transport::stdio::serve_stdio(self.server.clone()).await
    }
}

/// Wraps a tool handler so its result `_meta` carries a widget token for `declared`.
fn with_widget_token(
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
fn refresh_tool(
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
