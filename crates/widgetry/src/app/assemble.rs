//! [`AppBuilder::build`]: from what the developer declared to a built [`App`], in steps.
//!
//! 1. [load the widgets](AppBuilder::load_widgets) from their sources (embedded, folders,
//!    HTML documents);
//! 2. find the app's [public origin](AppBuilder::public_origin);
//! 3. [pair each widget with its settings](AppBuilder::widget_builds);
//! 4. [check the tools](AppBuilder::check_tools) against the widgets and actions;
//! 5. set up [widget tokens](AppBuilder::widget_tokens) when tools declare actions, with
//!    the [scopes of each action](AppBuilder::action_scopes) and the renewal tool;
//! 6. resolve every tool's [effective auth policy](AppBuilder::policies);
//!
//! and only when no step found a problem (all problems are reported at once):
//!
//! 7. [allow the public host](public_http) in the DNS-rebinding guard;
//! 8. [register everything with the engine](AppBuilder::engine): tools, widget resources,
//!    the resolver of earlier widget versions, raw extensions;
//! 9. [prepare the action endpoints](AppBuilder::action_state) and their CORS origins.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::action::ActionState;
use super::builder::{AppBuilder, AppError, WidgetSource};
#[cfg(feature = "host-page")]
use super::host;
use super::origins::AllowedOrigins;
use super::served::App;
use super::tokens::{refresh_tool, with_widget_token};
use super::widget::{
    claude_domain, Widget, WidgetBuild, MIME_MCP_APP, MIME_SKYBRIDGE, UI_EXTENSION,
};
use crate::auth::widget_keys::WidgetKeys;
use crate::auth::widget_token::WidgetTokens;
use crate::identity::Auth;
use crate::protocol::jsonrpc::{code, RpcError};
use crate::protocol::types::{ResourceContents, ResourceTemplate};
use crate::server::{Server, ServerBuilder};
use crate::transport::guard::{host_name, is_loopback_host};
use crate::transport::HttpConfig;

/// A widget as loaded from its source: name, bundled HTML, and the folder to reload it
/// from in development.
struct Loaded {
    name: String,
    html: String,
    dir: Option<PathBuf>,
}

/// The effective auth policy of every tool, by tool name.
type Policies = HashMap<String, Auth>;

/// The scopes each widget action needs, by action name.
type ActionScopes = Arc<HashMap<String, Vec<String>>>;

impl AppBuilder {
    /// Validates everything and builds the app. Every problem found is reported, not
    /// only the first: widgets provided twice or configured without a folder, tools
    /// registered twice or rendering an unknown widget, undeclared widget actions, auth
    /// policies without auth, widget actions without a public URL.
    pub fn build(mut self) -> Result<App, AppError> {
        let mut problems = Vec::new();
        let loaded = self.load_widgets(&mut problems);
        let public_origin = self.public_origin();
        let builds = self.widget_builds(loaded, public_origin.as_deref(), &mut problems);
        self.check_tools(&builds, &mut problems);
        let tokens = self.widget_tokens(public_origin.as_deref(), &mut problems);
        let scopes = self.action_scopes();
        if let Some(tk) = &tokens {
            self.tools.push(refresh_tool(tk.clone(), scopes.clone()));
        }
        let policies = self.policies(&mut problems);
        if !problems.is_empty() {
            return Err(AppError(problems));
        }
        let http = public_http(std::mem::take(&mut self.http), public_origin.as_deref());
        let server = self.engine(&builds, &policies, tokens.as_ref(), &scopes);
        let actions = self.action_state(&server, tokens, &policies, public_origin, &builds);
        Ok(App {
            server,
            http,
            widgets: builds,
            actions,
            routers: std::mem::take(&mut self.routers),
            #[cfg(feature = "host-page")]
            host_page: host::enabled(self.host_page, self.dev),
        })
    }

    /// Step 1: bundles every widget source; a source that fails is a problem.
    fn load_widgets(&self, problems: &mut Vec<String>) -> Vec<Loaded> {
        let mut out = Vec::new();
        for src in &self.sources {
            match src {
                WidgetSource::Embedded(e) => {
                    for (name, html, dir) in e.0 {
                        let dir = PathBuf::from(dir);
                        out.push(Loaded {
                            name: name.to_string(),
                            html: html.to_string(),
                            dir: (self.dev && dir.exists()).then_some(dir),
                        });
                    }
                }
                WidgetSource::Html(name, source) => {
                    match widgetry_bundle::bundle_html(source, Path::new(".")) {
                        Ok(html) => out.push(Loaded {
                            name: name.clone(),
                            html,
                            dir: None,
                        }),
                        Err(e) => problems.push(format!("widget {name}: {e}")),
                    }
                }
                WidgetSource::Dir(d) => match widgetry_bundle::bundle_all(d) {
                    Ok(bundles) => out.extend(bundles.into_iter().map(|b| Loaded {
                        dir: Some(d.join(&b.name)),
                        name: b.name,
                        html: b.html,
                    })),
                    Err(e) => problems.push(format!("widgets in {}: {e}", d.display())),
                },
            }
        }
        out
    }

    /// Step 2: where the app is reached from outside: the configured public URL, or else
    /// the origin of the auth resource URL (`https://app.example` of
    /// `https://app.example/mcp`).
    fn public_origin(&self) -> Option<String> {
        self.public_url.clone().or_else(|| {
            self.auth.as_ref().map(|a| {
                let r = a.resource.as_str();
                let after = r.find("://").map(|i| i + 3).unwrap_or(0);
                match r[after..].find('/') {
                    Some(p) => r[..after + p].to_string(),
                    None => r.to_string(),
                }
            })
        })
    }

    /// Step 3: pairs each loaded widget with its settings ([`Widget`], or the defaults),
    /// gives it Claude's widget domain for this server when the public URL is known, and
    /// lets widgets with actions connect to the app's origin. A widget provided twice, and
    /// settings for a widget that does not exist, are problems.
    fn widget_builds(
        &self,
        loaded: Vec<Loaded>,
        public_origin: Option<&str>,
        problems: &mut Vec<String>,
    ) -> Vec<Arc<WidgetBuild>> {
        let acting_widgets: HashSet<&str> = self
            .tools
            .iter()
            .filter(|t| !t.widget_actions.is_empty())
            .filter_map(|t| t.widget.as_deref())
            .collect();
        // Claude's widget origin for this server, when its public MCP URL is known.
        let claude = public_origin.map(|o| claude_domain(&format!("{o}{}", self.http.path)));
        let mut builds: Vec<Arc<WidgetBuild>> = Vec::new();
        for Loaded { name, html, dir } in loaded {
            if builds.iter().any(|b| b.spec.name == name) {
                problems.push(format!("widget {name:?} is provided twice"));
                continue;
            }
            let mut spec = self
                .specs
                .iter()
                .find(|s| s.name == name)
                .cloned()
                .unwrap_or_else(|| Widget::new(name.clone()));
            if spec.ui_domain.is_none() {
                spec.ui_domain = claude.clone();
            }
            if let (true, Some(o)) = (acting_widgets.contains(name.as_str()), public_origin) {
                if !spec.csp.connect_domains.iter().any(|d| d == o) {
                    spec.csp.connect_domains.push(o.to_string());
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
        builds
    }

    /// Step 4: each tool is valid, registered once, renders a widget that exists, and
    /// declares only widget actions registered with [`AppBuilder::action`].
    fn check_tools(&self, builds: &[Arc<WidgetBuild>], problems: &mut Vec<String>) {
        let mut seen = HashSet::new();
        for t in &self.tools {
            problems.extend(t.validate());
            if !seen.insert(t.name()) {
                problems.push(format!("tool {:?} is registered twice", t.name()));
            }
            if let Some(w) = &t.widget {
                if !builds.iter().any(|b| &b.spec.name == w) {
                    problems.push(format!(
                        "tool {:?} renders widget {w:?}, which does not exist; available: {}",
                        t.name(),
                        names(builds)
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
    }

    /// Step 5: the issuer of widget tokens, when a tool declares widget actions and the
    /// app has auth (without auth, actions run without tokens). Tokens are bound to the
    /// public origin, so a missing public URL is a problem; so is an unusable key.
    fn widget_tokens(
        &self,
        public_origin: Option<&str>,
        problems: &mut Vec<String>,
    ) -> Option<WidgetTokens> {
        let declares_actions = self.tools.iter().any(|t| !t.widget_actions.is_empty());
        if !declares_actions || self.auth.is_none() {
            return None;
        }
        let Some(origin) = public_origin else {
            problems.push("widget actions need the app's public URL: set RESOURCE_SERVER_URL or AppBuilder::public_url".into());
            return None;
        };
        let keys = self
            .widget_keys
            .clone()
            .unwrap_or_else(WidgetKeys::generate);
        WidgetTokens::with_keys(
            keys.all(),
            origin.to_string(),
            format!("{origin}/widget/actions"),
            self.widget_token_ttl,
        )
        .map_err(|e| problems.push(e))
        .ok()
    }

    /// The policy a tool runs under: its own, or the app's default (sign-in with the
    /// default scopes when the app has auth, none otherwise).
    fn policy_of(&self, tool: &super::tool::Tool) -> Auth {
        tool.auth.clone().unwrap_or_else(|| match &self.auth {
            Some(a) => Auth::Required(a.default_scopes.clone()),
            None => Auth::None,
        })
    }

    /// Step 5 (continued): the scopes each registered action needs (its tool's policy),
    /// carried in widget tokens and checked at the action endpoint.
    fn action_scopes(&self) -> ActionScopes {
        Arc::new(
            self.actions
                .iter()
                .map(|a| {
                    let scopes = self
                        .tools
                        .iter()
                        .find(|t| t.name() == a)
                        .map(|t| self.policy_of(t).scopes().to_vec())
                        .unwrap_or_default();
                    (a.clone(), scopes)
                })
                .collect(),
        )
    }

    /// Step 6: every tool's effective policy. A policy other than [`Auth::None`] in an
    /// app without auth is a problem (nobody could ever call the tool).
    fn policies(&self, problems: &mut Vec<String>) -> Policies {
        let mut policies = HashMap::new();
        for t in &self.tools {
            let p = self.policy_of(t);
            if self.auth.is_none() && p != Auth::None {
                problems.push(format!(
                    "tool {:?} has an auth policy but the app has no auth configured: set AUTHORIZATION_SERVER_URL and RESOURCE_SERVER_URL, or call AppBuilder::auth",
                    t.name()
                ));
            }
            policies.insert(t.name().to_string(), p);
        }
        policies
    }

    /// Step 8: the MCP engine with the app's tools (each under its policy, those with
    /// widget actions returning a widget token), one resource per widget, the resolver
    /// of earlier widget versions, and the raw registrations of [`AppBuilder::extend`].
    fn engine(
        &mut self,
        builds: &[Arc<WidgetBuild>],
        policies: &Policies,
        tokens: Option<&WidgetTokens>,
        scopes: &ActionScopes,
    ) -> Server {
        let mut sb = Server::builder(self.name.clone(), self.version.clone());
        if let Some(a) = self.auth.take() {
            sb = sb.auth(a);
        }
        if let Some(i) = self.instructions.take() {
            sb = sb.instructions(i);
        }
        if !builds.is_empty() {
            // MCP Apps (SEP-1865): this server has UI resources of this type, in initialize
            // and server/discover alike.
            sb = sb.extension(UI_EXTENSION, json!({ "mimeTypes": [MIME_MCP_APP] }));
        }
        for t in std::mem::take(&mut self.tools) {
            let declared = t.widget_actions.clone();
            let uri = t
                .widget
                .as_ref()
                .and_then(|w| builds.iter().find(|b| &b.spec.name == w))
                .map(|b| b.uri());
            let policy = policies.get(t.name()).cloned().unwrap_or(Auth::None);
            let mut entry = t.into_entry(uri.as_deref(), &policy);
            if let (false, Some(tk)) = (declared.is_empty(), tokens) {
                entry.handler =
                    with_widget_token(entry.handler, tk.clone(), declared, scopes.clone());
            }
            sb.add_tool(entry);
        }
        sb = register_widgets(sb, builds);
        for f in std::mem::take(&mut self.extend) {
            sb = f(sb);
        }
        sb.build()
    }

    /// Step 9: the state of the action endpoints (`POST /widget/actions/<name>`), when
    /// the app has actions: the engine that runs them, their policies, and the origins
    /// allowed to call them (declared ones, the public origin, the widgets' own domains
    /// and Claude's sandbox origins).
    fn action_state(
        &self,
        server: &Server,
        tokens: Option<WidgetTokens>,
        policies: &Policies,
        public_origin: Option<String>,
        builds: &[Arc<WidgetBuild>],
    ) -> Option<Arc<ActionState>> {
        if self.actions.is_empty() {
            return None;
        }
        let mut exact = self.widget_origins.clone();
        exact.extend(public_origin);
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
        Some(Arc::new(ActionState {
            server: server.clone(),
            tokens,
            policies: self
                .actions
                .iter()
                .map(|a| (a.clone(), policies.get(a).cloned().unwrap_or(Auth::None)))
                .collect(),
            origins: AllowedOrigins {
                exact,
                dev: self.dev,
            },
        }))
    }
}

/// Step 7: the HTTP settings with the public host (behind a proxy or a tunnel) accepted
/// as a legitimate `Host` header by the DNS-rebinding guard.
fn public_http(mut http: HttpConfig, public_origin: Option<&str>) -> HttpConfig {
    if let Some((_, authority)) = public_origin.and_then(|o| o.split_once("://")) {
        if !is_loopback_host(host_name(authority)) {
            http.guard.allow_host(authority);
        }
    }
    http
}

/// Step 8 (widgets): one `ui://` resource per widget, and a template under which earlier
/// versions of a widget URI (cached by a host) resolve to the current build.
fn register_widgets(mut sb: ServerBuilder, builds: &[Arc<WidgetBuild>]) -> ServerBuilder {
    for b in builds {
        let uri = b.uri();
        let build = b.clone();
        sb = sb
            .resource(b.resource(), move |_ctx, uri| {
                let c = build.contents(uri, MIME_MCP_APP);
                async move { Ok(vec![c]) }
            })
            .resource_cache(&uri, b.cache_hint());
    }
    if builds.is_empty() {
        return sb;
    }
    let by_name: HashMap<String, Arc<WidgetBuild>> = builds
        .iter()
        .map(|b| (b.spec.name.clone(), b.clone()))
        .collect();
    sb.resource_template(
        ResourceTemplate {
            uri_template: "ui://widget/{file}".into(),
            name: "widget versions".into(),
            title: None,
            description: Some("Any version of a widget URI resolves to its current build".into()),
            mime_type: Some(MIME_MCP_APP.into()),
        },
        move |_ctx, uri, vars| {
            let found =
                resolve_widget_file(&by_name, vars.get("file").map(String::as_str).unwrap_or(""))
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
    )
}

/// The widget names, for problems that list what is available.
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
