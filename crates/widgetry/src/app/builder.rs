//! [`AppBuilder`]: what a developer declares (tools, widgets, actions, auth, HTTP
//! settings), gathered as is; [`AppBuilder::build`] (in `assemble`) checks and assembles
//! it.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;

use super::action::Action;
use super::served::App;
use super::tool::Tool;
use super::widget::{EmbeddedWidgets, Widget};
use crate::server::ServerBuilder;
use crate::transport::HttpConfig;

/// Whether development mode was asked for: `WIDGETRY_DEV=1` in the environment (as
/// `widgetry dev` sets it). Never on by itself, not even in debug builds: development mode
/// serves the host page, reloads widgets from disk and accepts the `null` origin of
/// sandboxed frames on widget endpoints.
pub fn dev_requested() -> bool {
    std::env::var("WIDGETRY_DEV").is_ok_and(|v| v == "1")
}

/// Why an app could not be built. Lists every problem found, not only the first.
#[derive(Debug, thiserror::Error)]
#[error("the app is misconfigured:\n  - {}", .0.join("\n  - "))]
pub struct AppError(pub Vec<String>);

/// Where widgets come from.
pub(super) enum WidgetSource {
    Embedded(EmbeddedWidgets),
    Dir(PathBuf),
    Html(String, String),
}

/// Builds an [`App`].
pub struct AppBuilder {
    pub(super) name: String,
    pub(super) version: String,
    pub(super) instructions: Option<String>,
    pub(super) tools: Vec<Tool>,
    pub(super) specs: Vec<Widget>,
    pub(super) sources: Vec<WidgetSource>,
    pub(super) http: HttpConfig,
    pub(super) dev: bool,
    pub(super) auth: Option<crate::auth::AuthConfig>,
    pub(super) actions: Vec<String>,
    pub(super) public_url: Option<String>,
    pub(super) widget_keys: Option<crate::auth::widget_keys::WidgetKeys>,
    pub(super) widget_token_ttl: std::time::Duration,
    pub(super) widget_origins: Vec<String>,
    pub(super) routers: Vec<Router>,
    pub(super) extend: Vec<Box<dyn FnOnce(ServerBuilder) -> ServerBuilder + Send>>,
    #[cfg(feature = "host-page")]
    pub(super) host_page: Option<bool>,
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
    /// DNS-rebinding guard, used for widget actions), the configured widget-token
    /// keys and which clients get UI. Keys from the shared store are set with
    /// [`AppBuilder::widget_token_keys`].
    pub fn settings(mut self, settings: &crate::ops::Settings) -> Self {
        self.http = settings.apply_http(self.http);
        if let Some(url) = &settings.public_url {
            self.public_url = Some(url.clone());
        }
        if let Some(keys) = &settings.widget_token_keys {
            self.widget_keys = Some(keys.clone());
        }
        self.ui_clients(settings.ui_clients)
    }

    /// Which clients get tools with UI metadata and the app-only tools (default: those
    /// declaring the MCP Apps extension, and ChatGPT; `docs/hosts.md`).
    pub fn ui_clients(self, clients: crate::server::UiClients) -> Self {
        self.extend(move |sb| sb.ui_clients(clients))
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

    #[cfg(feature = "host-page")]
    /// Serves the local host page at `/_widgetry/host` (default: in development mode only;
    /// `WIDGETRY_HOST_PAGE=1` forces it on). Cargo feature `host-page`, on by default.
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
            #[cfg(feature = "host-page")]
            host_page: None,
        }
    }
}
