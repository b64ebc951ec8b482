//! Widgets: bundled HTML documents registered as one `ui://` resource per widget (MCP Apps
//! `text/html;profile=mcp-app`, which ChatGPT, Claude and the other MCP Apps hosts all
//! render), with their CSP, domain and border preferences under both key sets (`ui.*` and
//! ChatGPT's `openai/*`). Host rules: `docs/hosts.md`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::protocol::types::{JsonObject, Resource, ResourceContents};

/// MIME type of MCP Apps widgets.
pub use crate::server::ui::MIME_MCP_APP;
/// The MCP Apps extension identifier, advertised by an app with widgets.
pub use crate::server::ui::UI_EXTENSION;
/// MIME type of Apps SDK (ChatGPT "skybridge") widgets. No host needs it any more (ChatGPT
/// renders [`MIME_MCP_APP`]); a `….skybridge.html` URI a host cached from an older version
/// still resolves, with this type.
pub const MIME_SKYBRIDGE: &str = "text/html+skybridge";

/// Claude's widget origin rule: `{first 32 hex digits of SHA-256(MCP server URL)}.claudemcpcontent.com`,
/// the only form Claude accepts in `_meta.ui.domain` (it blocks the widget otherwise).
pub fn claude_domain(mcp_url: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(mcp_url.as_bytes());
    let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{hex}.claudemcpcontent.com")
}

/// Content-Security-Policy domains a widget needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Csp {
    /// Origins the widget may `fetch`/XHR/WebSocket to.
    pub connect_domains: Vec<String>,
    /// Origins of images, fonts, scripts and styles.
    pub resource_domains: Vec<String>,
    /// Origins the widget may embed in iframes.
    pub frame_domains: Vec<String>,
    /// Origins allowed as `<base href>`.
    pub base_uri_domains: Vec<String>,
    /// Origins the host may open as redirects (`openExternal`) without confirmation.
    pub redirect_domains: Vec<String>,
}

/// A widget's host-facing settings. The HTML comes from the widget folder of the same name.
///
/// ```
/// use widgetry::app::Widget;
/// let w = Widget::new("orders")
///     .description("Your recent orders")
///     .prefers_border(true)
///     .connect_domain("https://api.example.com");
/// assert_eq!(w.name(), "orders");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widget {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) prefers_border: Option<bool>,
    /// ChatGPT's `openai/widgetDomain` (an https origin).
    pub(crate) domain: Option<String>,
    /// `_meta.ui.domain`, in the form of the hosts that read it (Claude's computed one);
    /// filled from the app's MCP URL at build unless set.
    pub(crate) ui_domain: Option<String>,
    pub(crate) csp: Csp,
}

impl Widget {
    /// Settings for the widget folder `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: None,
            prefers_border: None,
            domain: None,
            ui_domain: None,
            csp: Csp::default(),
        }
    }
    /// The widget name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// What the widget shows, for the model (`openai/widgetDescription`).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }
    /// Whether the host should draw a border around it.
    pub fn prefers_border(mut self, yes: bool) -> Self {
        self.prefers_border = Some(yes);
        self
    }
    /// The widget's dedicated origin in ChatGPT (`openai/widgetDomain`, an https origin
    /// such as `https://app.example.com`). Never copied to `ui.domain`, where Claude accepts
    /// only its own form (see [`ui_domain`](Self::ui_domain)).
    pub fn domain(mut self, origin: impl Into<String>) -> Self {
        self.domain = Some(origin.into());
        self
    }
    /// `_meta.ui.domain` as is. By default the app computes Claude's form
    /// ([`claude_domain`]) from its public MCP URL; set this only for a host with another rule.
    pub fn ui_domain(mut self, domain: impl Into<String>) -> Self {
        self.ui_domain = Some(domain.into());
        self
    }
    /// Allows `fetch` to an origin.
    pub fn connect_domain(mut self, origin: impl Into<String>) -> Self {
        self.csp.connect_domains.push(origin.into());
        self
    }
    /// Allows loading images/fonts/scripts from an origin.
    pub fn resource_domain(mut self, origin: impl Into<String>) -> Self {
        self.csp.resource_domains.push(origin.into());
        self
    }
    /// Allows embedding an origin in an iframe.
    pub fn frame_domain(mut self, origin: impl Into<String>) -> Self {
        self.csp.frame_domains.push(origin.into());
        self
    }
    /// Allows opening an origin without confirmation.
    pub fn redirect_domain(mut self, origin: impl Into<String>) -> Self {
        self.csp.redirect_domains.push(origin.into());
        self
    }
    /// Replaces the whole CSP.
    pub fn csp(mut self, csp: Csp) -> Self {
        self.csp = csp;
        self
    }

    /// The resource `_meta` under both key sets.
    pub(crate) fn resource_meta(&self) -> JsonObject {
        let c = &self.csp;
        let mut ui = JsonObject::new();
        ui.insert(
            "csp".into(),
            json!({
                "connectDomains": c.connect_domains,
                "resourceDomains": c.resource_domains,
                "frameDomains": c.frame_domains,
                "baseUriDomains": c.base_uri_domains,
            }),
        );
        let mut meta = JsonObject::new();
        meta.insert(
            "openai/widgetCSP".into(),
            json!({
                "connect_domains": c.connect_domains,
                "resource_domains": c.resource_domains,
                "frame_domains": c.frame_domains,
                "redirect_domains": c.redirect_domains,
            }),
        );
        if let Some(d) = &self.ui_domain {
            ui.insert("domain".into(), json!(d));
        }
        if let Some(d) = &self.domain {
            meta.insert("openai/widgetDomain".into(), json!(d));
        }
        if let Some(b) = self.prefers_border {
            ui.insert("prefersBorder".into(), json!(b));
            meta.insert("openai/widgetPrefersBorder".into(), json!(b));
        }
        if let Some(d) = &self.description {
            meta.insert("openai/widgetDescription".into(), json!(d));
        }
        meta.insert("ui".into(), Value::Object(ui));
        meta
    }
}

/// Declares one `pub const NAME: &str` per widget folder, generated at build time by
/// `widgetry_bundle::build_script` (`widgets/order-history/` → `ORDER_HISTORY`), so a tool
/// naming a widget that has no folder does not compile. Put it in a module of its own:
///
/// ```text
/// mod widgets {
///     widgetry::widget_names!();
/// }
/// // …
/// Tool::new("show_orders", orders).widget(crate::widgets::ORDERS)
/// ```
#[macro_export]
macro_rules! widget_names {
    () => {
        include!(concat!(env!("OUT_DIR"), "/widgetry_widget_names.rs"));
    };
}

/// Widgets embedded at build time by `widgetry_bundle::build_script`, as
/// `(name, html, source folder)`; see [`embed_widgets!`](crate::embed_widgets).
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedWidgets(pub &'static [(&'static str, &'static str, &'static str)]);

/// How long a built widget's reads may be cached (its URI carries its content hash).
pub const WIDGET_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// One widget's current build.
pub(crate) struct WidgetBuild {
    pub spec: Widget,
    pub hash: String,
    html: RwLock<Arc<str>>,
    source_dir: Option<PathBuf>,
    seen_mtime: Mutex<Option<SystemTime>>,
    dev: bool,
}

impl WidgetBuild {
    pub fn new(spec: Widget, html: String, source_dir: Option<PathBuf>, dev: bool) -> Self {
        let hash = widgetry_bundle::content_hash(&html);
        let seen = source_dir
            .as_deref()
            .and_then(widgetry_bundle::newest_mtime);
        Self {
            spec,
            hash,
            html: RwLock::new(html.into()),
            source_dir,
            seen_mtime: Mutex::new(seen),
            dev,
        }
    }

    /// `ui://widget/<name>-<hash>.html`: the one URI both `_meta.ui.resourceUri` and
    /// `openai/outputTemplate` name.
    pub fn uri(&self) -> String {
        format!("ui://widget/{}-{}.html", self.spec.name, self.hash)
    }

    /// The current HTML; in development, rebuilt from disk when the folder changed.
    pub fn html(&self) -> Arc<str> {
        if self.dev {
            if let Some(dir) = &self.source_dir {
                let now = widgetry_bundle::newest_mtime(dir);
                let mut seen = self.seen_mtime.lock().unwrap_or_else(|p| p.into_inner());
                if now.is_some() && now != *seen {
                    *seen = now;
                    match widgetry_bundle::bundle_dir(&self.spec.name, dir) {
                        Ok(b) => {
                            tracing::info!(widget = %self.spec.name, "widget rebuilt from {}", dir.display());
                            *self.html.write().unwrap_or_else(|p| p.into_inner()) = b.html.into();
                        }
                        Err(e) => {
                            tracing::warn!(widget = %self.spec.name, "widget rebuild failed: {e}")
                        }
                    }
                }
            }
        }
        self.html.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The widget's resource (`text/html;profile=mcp-app`).
    pub fn resource(&self) -> Resource {
        let mut r = Resource::new(self.uri(), self.spec.name.clone()).mime(MIME_MCP_APP);
        r.title = Some(format!("{} widget", self.spec.name));
        r.description = self.spec.description.clone();
        r.meta = Some(self.spec.resource_meta());
        r
    }

    /// How long hosts may cache this widget's reads: a URI names one content hash, so a
    /// built widget never changes under it (public, a year); in development the HTML is
    /// rebuilt under the same URI, so nothing is cached.
    pub fn cache_hint(&self) -> crate::protocol::cache::CacheHint {
        if self.dev {
            crate::protocol::cache::CacheHint::NONE
        } else {
            crate::protocol::cache::CacheHint::public(WIDGET_CACHE_TTL)
        }
    }

    /// The `resources/read` contents for a URI of this widget.
    pub fn contents(&self, uri: String, mime: &str) -> ResourceContents {
        let mut c = ResourceContents::text(uri, mime, &*self.html());
        c.meta = Some(self.spec.resource_meta());
        c
    }
}
