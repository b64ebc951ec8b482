//! The MCP server engine: registries of tools (each with its auth policy), resources and
//! prompts, and the one request path that answers every MCP method (parse → authorize →
//! run, in `dispatch`). Transports (HTTP, legacy SSE, stdio) decode messages, resolve
//! the session and call that path; nothing here knows about HTTP.

pub(crate) mod context;
pub(crate) mod dispatch;
pub(crate) mod input;
pub(crate) mod request_state;
pub(crate) mod session;
pub(crate) mod ui;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::value::RawValue;
use serde_json::{json, Value};

pub use context::RequestContext;
pub use input::{InputRequired, Step};
pub(crate) use session::{SessionManager, SessionRuntime};
pub use ui::UiClients;

use crate::auth::{AuthConfig, AuthState};
use crate::identity::Auth;
use crate::protocol::cache::CacheHint;
use crate::protocol::json_type;
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::types::*;
use crate::protocol::{ProtocolVersion, META_SERVER_INFO, SUPPORTED_VERSIONS};
use request_state::StateKey;

/// Why a tool call did not produce a normal result.
///
/// Any error type that displays converts into a [`ToolError::Failed`], so handlers can
/// use `?` freely; the message becomes an `isError: true` result the model can read.
#[derive(Debug)]
pub enum ToolError {
    /// The arguments are invalid: answered as a JSON-RPC `-32602` error.
    InvalidParams(String),
    /// The tool failed: answered as a result with `isError: true` and this message.
    Failed(String),
    /// The tool failed with a fully formed result (e.g. an auth challenge in `_meta`).
    Result(Box<CallToolResult>),
    /// The tool needs input from the user or the client first: the engine gets it (see
    /// [`InputRequired`]) and calls the tool again.
    InputRequired(Box<InputRequired>),
}

impl ToolError {
    /// A failure with a message.
    pub fn msg(message: impl Into<String>) -> Self {
        ToolError::Failed(message.into())
    }
    /// Invalid arguments.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        ToolError::InvalidParams(message.into())
    }
    /// The message of this error.
    pub fn message(&self) -> String {
        match self {
            ToolError::InvalidParams(m) | ToolError::Failed(m) => m.clone(),
            ToolError::InputRequired(_) => "input required".to_string(),
            ToolError::Result(r) => r
                .content
                .iter()
                .find_map(|c| match c {
                    Content::Text { text, .. } => Some(text.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
        }
    }
}

impl From<InputRequired> for ToolError {
    fn from(i: InputRequired) -> Self {
        ToolError::InputRequired(Box::new(i))
    }
}

impl<E: std::fmt::Display> From<E> for ToolError {
    fn from(e: E) -> Self {
        ToolError::Failed(e.to_string())
    }
}

/// Boxed future returned by tool handlers.
pub type ToolFuture = BoxFuture<'static, Result<CallToolResult, ToolError>>;
/// A tool handler over raw JSON arguments.
/// A tool handler over the raw JSON text of the arguments (always a JSON object), so
/// typed tools deserialize it in one pass.
pub type ToolHandler = Arc<dyn Fn(RequestContext, Box<RawValue>) -> ToolFuture + Send + Sync>;

/// The empty arguments object.
pub(crate) fn empty_args() -> Box<RawValue> {
    RawValue::from_string("{}".to_string()).unwrap_or_else(|_| unreachable!("{{}} is JSON"))
}

/// Reads a resource: `(ctx, uri, template variables)` → contents.
pub type ResourceReader = Arc<
    dyn Fn(
            RequestContext,
            String,
            HashMap<String, String>,
        ) -> BoxFuture<'static, Result<Vec<ResourceContents>, RpcError>>
        + Send
        + Sync,
>;
/// Renders a prompt from its arguments (or asks for input first).
pub type PromptHandler = Arc<
    dyn Fn(
            RequestContext,
            HashMap<String, String>,
        ) -> BoxFuture<'static, Result<Step<GetPromptResult>, RpcError>>
        + Send
        + Sync,
>;
/// Answers `completion/complete`.
pub type CompletionHandler = Arc<
    dyn Fn(RequestContext, CompleteRequest) -> BoxFuture<'static, Result<Completion, RpcError>>
        + Send
        + Sync,
>;

/// A registered tool: its descriptor, its auth policy and its handler.
#[derive(Clone)]
pub struct ToolEntry {
    /// What `tools/list` shows.
    pub descriptor: ToolDescriptor,
    /// Who may call it, checked by the engine between the tool's lookup and its
    /// handler, on every transport. [`Auth::None`] for raw tools.
    pub policy: Auth,
    /// The handler.
    pub handler: ToolHandler,
}

impl std::fmt::Debug for ToolEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolEntry")
            .field("descriptor", &self.descriptor)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

struct ResourceEntry {
    resource: Resource,
    read: ResourceReader,
    /// Its reads' caching hint (else [`ServerConfig::resource_cache`]).
    cache: Option<CacheHint>,
}

struct TemplateEntry {
    template: ResourceTemplate,
    read: ResourceReader,
    cache: Option<CacheHint>,
}

struct PromptEntry {
    prompt: Prompt,
    handler: PromptHandler,
}

/// Engine settings that do not depend on the transport.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Items per page for `tools/list`, `resources/list` and `prompts/list`.
    pub page_size: usize,
    /// How long a handler waits for the client to answer a server-to-client request.
    pub client_request_timeout: Duration,
    /// The caching hint of `server/discover` and of the `tools/list`, `prompts/list`,
    /// `resources/list` and `resources/templates/list` pages (2026-07-28 `ttlMs` and
    /// `cacheScope`). The lists are built once and are the same for every caller, so the
    /// default is public for five minutes; a redeployment that changes them is seen by
    /// clients within that time.
    pub list_cache: CacheHint,
    /// The caching hint of `resources/read` results of resources registered without one
    /// ([`ServerBuilder::resource_cache`]). Default: [`CacheHint::NONE`] (immediately
    /// stale, private), since a reader may answer each caller differently.
    pub resource_cache: CacheHint,
    /// How long a sealed `requestState` (2026-07-28 input-required results) stays valid:
    /// the time a user has to answer before the request must start over.
    pub input_state_ttl: Duration,
    /// Which clients get tools with UI metadata and the app-only tools (see
    /// [`UiClients`] and `docs/hosts.md`): by default those that declare the MCP Apps
    /// extension, and ChatGPT.
    pub ui_clients: UiClients,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            page_size: 100,
            client_request_timeout: Duration::from_secs(120),
            list_cache: CacheHint::public(Duration::from_secs(300)),
            resource_cache: CacheHint::NONE,
            input_state_ttl: Duration::from_secs(600),
            ui_clients: UiClients::default(),
        }
    }
}

/// Builds a [`Server`].
///
/// ```
/// use widgetry::{Server, ToolError};
/// use widgetry::protocol::types::{CallToolResult, ToolDescriptor};
///
/// let server = Server::builder("demo", "1.0.0")
///     .tool(ToolDescriptor::new("hello"), |_ctx, _args| async {
///         Ok::<_, ToolError>(CallToolResult::text("hi"))
///     })
///     .build();
/// assert_eq!(server.tools().len(), 1);
/// ```
pub struct ServerBuilder {
    info: Implementation,
    instructions: Option<String>,
    tools: Vec<ToolEntry>,
    resources: Vec<ResourceEntry>,
    templates: Vec<TemplateEntry>,
    prompts: Vec<PromptEntry>,
    completion: Option<CompletionHandler>,
    config: ServerConfig,
    auth: Option<AuthConfig>,
    extensions: JsonObject,
    state_key: Option<StateKey>,
}

impl ServerBuilder {
    /// Sets the secret that seals 2026-07-28 `requestState` values (input-required
    /// results, see [`InputRequired`]). Every instance serving one MCP endpoint must use
    /// the same secret, so that a retry landing on another instance still opens its
    /// state; without it each process draws a random key at start-up (right for a single
    /// instance).
    ///
    /// # Panics
    /// When `secret` is shorter than 32 bytes (a programming error caught at start-up).
    pub fn request_state_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        let secret = secret.as_ref();
        assert!(
            secret.len() >= 32,
            "the request state secret must be at least 32 bytes of random data, got {}",
            secret.len()
        );
        self.state_key = Some(StateKey::from_secret(secret));
        self
    }

    /// Sets the caching hint of the reads of the resource, or resource template,
    /// registered under `uri` (its URI or URI template): the `ttlMs` and `cacheScope` of
    /// its 2026-07-28 `resources/read` results. Content-addressed resources (a widget
    /// URI carrying a hash of its contents) never change and can be cached for long and
    /// publicly; a reader whose answer depends on the caller must stay private.
    ///
    /// ```
    /// use std::time::Duration;
    /// use widgetry::protocol::cache::CacheHint;
    /// use widgetry::protocol::types::Resource;
    /// use widgetry::Server;
    ///
    /// let server = Server::builder("demo", "1.0.0")
    ///     .text_resource(Resource::new("ui://widget/list-3f2a.html", "list"), "<div></div>")
    ///     .resource_cache("ui://widget/list-3f2a.html", CacheHint::public(Duration::from_secs(86_400)))
    ///     .build();
    /// # let _ = server;
    /// ```
    ///
    /// # Panics
    /// When no resource or template is registered under `uri` (register it first).
    pub fn resource_cache(mut self, uri: &str, hint: CacheHint) -> Self {
        if let Some(r) = self.resources.iter_mut().find(|r| r.resource.uri == uri) {
            r.cache = Some(hint);
        } else if let Some(t) = self
            .templates
            .iter_mut()
            .find(|t| t.template.uri_template == uri)
        {
            t.cache = Some(hint);
        } else {
            panic!("resource_cache: no resource or template is registered under {uri:?}");
        }
        self
    }

    /// Advertises support for the MCP extension `name` with its `settings` object: the
    /// server's capabilities (in the `initialize` result and in `server/discover`) then
    /// carry `"extensions": {name: settings}`, as SEP-2133 defines. An empty object
    /// (`json!({})`) means no settings. What the client declared for an extension is
    /// read in a handler with [`RequestContext::client_extension`].
    ///
    /// ```
    /// use serde_json::json;
    /// use widgetry::Server;
    ///
    /// let server = Server::builder("demo", "1.0.0")
    ///     .extension("io.modelcontextprotocol/ui", json!({}))
    ///     .build();
    /// assert_eq!(
    ///     server.capabilities()["extensions"]["io.modelcontextprotocol/ui"],
    ///     json!({})
    /// );
    /// ```
    ///
    /// # Panics
    /// When `name` is not an extension identifier (`{vendor-prefix}/{name}`, see
    /// [`is_extension_id`](crate::protocol::is_extension_id)), when `settings` is not a
    /// JSON object, or when the extension is advertised twice: programming errors caught
    /// at start-up, never at request time.
    pub fn extension(mut self, name: impl Into<String>, settings: Value) -> Self {
        let name = name.into();
        assert!(
            crate::protocol::is_extension_id(&name),
            "extension identifier {name:?} is not of the form {{vendor-prefix}}/{{extension-name}}"
        );
        assert!(
            settings.is_object(),
            "the settings of extension {name:?} must be a JSON object, not {}",
            json_type(&settings)
        );
        assert!(
            !self.extensions.contains_key(&name),
            "extension {name:?} is advertised twice"
        );
        self.extensions.insert(name, settings);
        self
    }

    /// Makes the server an OAuth 2.1 resource server trusting `config`'s issuer: each
    /// tool's [`ToolEntry::policy`] is then enforced against the caller's verified token.
    /// Without it, a tool whose policy is not [`Auth::None`] always refuses (fail closed).
    pub fn auth(mut self, config: AuthConfig) -> Self {
        self.auth = Some(config);
        self
    }

    /// Sets the `instructions` sent at initialization.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Some(text.into());
        self
    }

    /// Sets which clients get tools with UI metadata and the app-only tools
    /// ([`ServerConfig::ui_clients`]).
    pub fn ui_clients(mut self, clients: UiClients) -> Self {
        self.config.ui_clients = clients;
        self
    }

    /// Sets engine settings.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Registers a tool with a handler over raw JSON arguments.
    ///
    /// # Panics
    /// When a tool with the same name is already registered (a programming error caught
    /// at start-up, never at request time).
    pub fn tool<F, Fut>(mut self, descriptor: ToolDescriptor, handler: F) -> Self
    where
        F: Fn(RequestContext, JsonObject) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallToolResult, ToolError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.add_tool(ToolEntry {
            descriptor,
            policy: Auth::None,
            handler: Arc::new(move |ctx, args: Box<RawValue>| {
                match serde_json::from_str::<JsonObject>(args.get()) {
                    Ok(map) => Box::pin(handler(ctx, map)),
                    Err(e) => Box::pin(std::future::ready(Err(ToolError::InvalidParams(
                        e.to_string(),
                    )))),
                }
            }),
        });
        self
    }

    /// Registers a prepared [`ToolEntry`].
    ///
    /// # Panics
    /// When a tool with the same name is already registered.
    pub fn add_tool(&mut self, entry: ToolEntry) {
        assert!(
            !self
                .tools
                .iter()
                .any(|t| t.descriptor.name == entry.descriptor.name),
            "tool {:?} is registered twice",
            entry.descriptor.name
        );
        self.tools.push(entry);
    }

    /// Registers a static resource with a reader.
    pub fn resource<F, Fut>(mut self, resource: Resource, read: F) -> Self
    where
        F: Fn(RequestContext, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<ResourceContents>, RpcError>> + Send + 'static,
    {
        self.resources.push(ResourceEntry {
            resource,
            read: Arc::new(move |ctx, uri, _| Box::pin(read(ctx, uri))),
            cache: None,
        });
        self
    }

    /// Registers a resource with fixed text contents.
    pub fn text_resource(self, resource: Resource, text: impl Into<String>) -> Self {
        let text: Arc<str> = text.into().into();
        let mime = resource
            .mime_type
            .clone()
            .unwrap_or_else(|| "text/plain".into());
        let meta = resource.meta.clone();
        self.resource(resource, move |_ctx, uri| {
            let mut c = ResourceContents::text(uri, mime.clone(), &*text);
            c.meta = meta.clone();
            async move { Ok(vec![c]) }
        })
    }

    /// Registers a resource template (`{var}` segments) with a reader receiving the variables.
    pub fn resource_template<F, Fut>(mut self, template: ResourceTemplate, read: F) -> Self
    where
        F: Fn(RequestContext, String, HashMap<String, String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<ResourceContents>, RpcError>> + Send + 'static,
    {
        self.templates.push(TemplateEntry {
            template,
            read: Arc::new(move |ctx, uri, vars| Box::pin(read(ctx, uri, vars))),
            cache: None,
        });
        self
    }

    /// Registers a prompt.
    pub fn prompt<F, Fut>(self, prompt: Prompt, handler: F) -> Self
    where
        F: Fn(RequestContext, HashMap<String, String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<GetPromptResult, RpcError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.prompt_with_input(prompt, move |ctx, args| {
            let fut = handler(ctx, args);
            async move { fut.await.map(Step::Done) }
        })
    }

    /// Registers a prompt whose handler may ask for input before it renders
    /// ([`Step::Input`]); it is called again with the answers (see [`InputRequired`]).
    pub fn prompt_with_input<F, Fut>(mut self, prompt: Prompt, handler: F) -> Self
    where
        F: Fn(RequestContext, HashMap<String, String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Step<GetPromptResult>, RpcError>> + Send + 'static,
    {
        self.prompts.push(PromptEntry {
            prompt,
            handler: Arc::new(move |ctx, args| Box::pin(handler(ctx, args))),
        });
        self
    }

    /// Sets the `completion/complete` handler (default: no suggestions).
    pub fn completion<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(RequestContext, CompleteRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Completion, RpcError>> + Send + 'static,
    {
        self.completion = Some(Arc::new(move |ctx, req| Box::pin(handler(ctx, req))));
        self
    }

    /// Finishes the server, pre-serializing everything that never changes.
    pub fn build(self) -> Server {
        let page = self.config.page_size.max(1);
        let tool_pages = Pages::new(&self.tools, page, "tools", &self.config, |t| {
            serde_json::to_value(&t.descriptor).unwrap_or(Value::Null)
        });
        // What clients without the MCP Apps extension see (only when it differs).
        let descriptors: Vec<&ToolDescriptor> = self.tools.iter().map(|t| &t.descriptor).collect();
        let text_tool_pages = ui::has_ui(&descriptors).then(|| {
            let plain: Vec<ToolDescriptor> = descriptors
                .iter()
                .filter_map(|d| ui::text_only(d))
                .collect();
            Pages::new(&plain, page, "tools", &self.config, |t| {
                serde_json::to_value(t).unwrap_or(Value::Null)
            })
        });
        let resource_pages = Pages::new(&self.resources, page, "resources", &self.config, |r| {
            serde_json::to_value(&r.resource).unwrap_or(Value::Null)
        });
        let template_pages = Pages::new(
            &self.templates,
            page,
            "resourceTemplates",
            &self.config,
            |t| serde_json::to_value(&t.template).unwrap_or(Value::Null),
        );
        let prompt_pages = Pages::new(&self.prompts, page, "prompts", &self.config, |p| {
            serde_json::to_value(&p.prompt).unwrap_or(Value::Null)
        });
        let mut capabilities = json!({
            "tools": {"listChanged": false},
            "resources": {"subscribe": true, "listChanged": false},
            "logging": {},
            "completions": {},
        });
        if !self.prompts.is_empty() {
            capabilities["prompts"] = json!({"listChanged": false});
        }
        if !self.extensions.is_empty() {
            capabilities["extensions"] = Value::Object(self.extensions);
        }
        let tool_index = self
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.descriptor.name.clone(), i))
            .collect();
        let auth = self
            .auth
            .map(|c| Arc::new(AuthState::new(c, self.tools.iter().map(|t| &t.policy))));
        let mut discover = json!({
            "supportedVersions": SUPPORTED_VERSIONS,
            "capabilities": capabilities,
            "serverInfo": self.info,
        });
        if let Some(i) = &self.instructions {
            discover["instructions"] = json!(i);
        }
        // 2026-07-28: no resource subscriptions (resources/subscribe is gone), server
        // info in the result `_meta`, caching fields.
        let mut capabilities_2026 = capabilities.clone();
        capabilities_2026["resources"] = json!({});
        let mut discover_2026 = json!({
            "resultType": "complete",
            "supportedVersions": SUPPORTED_VERSIONS,
            "capabilities": capabilities_2026,
            "_meta": {META_SERVER_INFO: self.info},
            "ttlMs": self.config.list_cache.ttl_ms(),
            "cacheScope": self.config.list_cache.scope,
        });
        if let Some(i) = &self.instructions {
            discover_2026["instructions"] = json!(i);
        }
        Server {
            inner: Arc::new(Inner {
                discover: serde_json::to_vec(&discover).unwrap_or_default(),
                discover_2026: serde_json::to_vec(&discover_2026).unwrap_or_default(),
                state_key: self.state_key.unwrap_or_else(StateKey::random),
                auth,
                info: self.info,
                instructions: self.instructions,
                capabilities,
                tools: self.tools,
                tool_index,
                resources: self.resources,
                templates: self.templates,
                prompts: self.prompts,
                completion: self.completion,
                tool_pages,
                text_tool_pages,
                resource_pages,
                template_pages,
                prompt_pages,
                config: self.config,
            }),
        }
    }
}

/// A list's pre-serialized pages, as older versions and as 2026-07-28 (with
/// `resultType` and the caching fields) see them.
pub(crate) struct Pages {
    pub(crate) classic: Vec<Vec<u8>>,
    pub(crate) stateless: Vec<Vec<u8>>,
}

impl Pages {
    fn new<T>(
        items: &[T],
        page: usize,
        key: &str,
        config: &ServerConfig,
        f: impl Fn(&T) -> Value,
    ) -> Self {
        let classic = paginate(items, page, key, &f);
        let fields = format!(r#""resultType":"complete",{},"#, config.list_cache.fields());
        let stateless = classic
            .iter()
            .map(|p| {
                let mut out = Vec::with_capacity(p.len() + fields.len());
                out.push(b'{');
                out.extend_from_slice(fields.as_bytes());
                out.extend_from_slice(&p[1..]);
                out
            })
            .collect();
        Self { classic, stateless }
    }

    /// The pages a request of this kind sees.
    pub(crate) fn for_version(&self, stateless: bool) -> &[Vec<u8>] {
        if stateless {
            &self.stateless
        } else {
            &self.classic
        }
    }
}

/// Pre-serializes list results page by page; page `i` links to `i+1` by cursor.
fn paginate<T>(items: &[T], page: usize, key: &str, f: impl Fn(&T) -> Value) -> Vec<Vec<u8>> {
    let chunks: Vec<&[T]> = if items.is_empty() {
        vec![&items[..0]]
    } else {
        items.chunks(page).collect()
    };
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut obj = serde_json::Map::new();
            obj.insert(key.into(), Value::Array(chunk.iter().map(&f).collect()));
            if i + 1 < n {
                obj.insert("nextCursor".into(), Value::String(encode_cursor(i + 1)));
            }
            serde_json::to_vec(&obj).unwrap_or_default()
        })
        .collect()
}

fn encode_cursor(page: usize) -> String {
    format!("page-{page}")
}

fn decode_cursor(cursor: &str, pages: usize) -> Result<usize, RpcError> {
    cursor
        .strip_prefix("page-")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n < pages)
        .ok_or_else(|| {
            RpcError::invalid_params(format!(
                "invalid cursor {cursor:?}: pass back a nextCursor from an earlier list result"
            ))
        })
}

struct Inner {
    auth: Option<Arc<AuthState>>,
    discover: Vec<u8>,
    discover_2026: Vec<u8>,
    state_key: StateKey,
    info: Implementation,
    instructions: Option<String>,
    capabilities: Value,
    tools: Vec<ToolEntry>,
    tool_index: HashMap<String, usize>,
    resources: Vec<ResourceEntry>,
    templates: Vec<TemplateEntry>,
    prompts: Vec<PromptEntry>,
    completion: Option<CompletionHandler>,
    tool_pages: Pages,
    /// `tools/list` for clients without UI, when it differs from `tool_pages`.
    text_tool_pages: Option<Pages>,
    resource_pages: Pages,
    template_pages: Pages,
    prompt_pages: Pages,
    config: ServerConfig,
}

/// The MCP server engine. Cheap to clone; share one across transports.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("info", &self.inner.info)
            .field("tools", &self.inner.tools.len())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts building a server with its `serverInfo`.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> ServerBuilder {
        ServerBuilder {
            info: Implementation {
                name: name.into(),
                version: version.into(),
                title: None,
            },
            instructions: None,
            tools: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
            completion: None,
            config: ServerConfig::default(),
            auth: None,
            extensions: JsonObject::new(),
            state_key: None,
        }
    }

    /// The resource-server state, when the server was built with
    /// [`ServerBuilder::auth`].
    pub fn auth(&self) -> Option<&Arc<AuthState>> {
        self.inner.auth.as_ref()
    }

    /// The server's `serverInfo`.
    pub fn info(&self) -> &Implementation {
        &self.inner.info
    }

    /// Every registered tool, in registration order.
    pub fn tools(&self) -> &[ToolEntry] {
        &self.inner.tools
    }

    /// Finds a tool by name.
    pub fn tool(&self, name: &str) -> Option<&ToolEntry> {
        self.inner
            .tool_index
            .get(name)
            .map(|i| &self.inner.tools[*i])
    }

    /// The engine settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The server's capabilities, as sent at `initialize` and in `server/discover`.
    pub fn capabilities(&self) -> &Value {
        &self.inner.capabilities
    }

    /// The `initialize` result for a negotiated version.
    pub(crate) fn initialize_result(&self, version: ProtocolVersion) -> Vec<u8> {
        let mut v = json!({
            "protocolVersion": version.as_str(),
            "capabilities": self.inner.capabilities,
            "serverInfo": self.inner.info,
        });
        if let Some(i) = &self.inner.instructions {
            v["instructions"] = json!(i);
        }
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

/// Matches a level-1 URI template (`{var}` expressions) against a URI.
pub fn match_template(template: &str, uri: &str) -> Option<HashMap<String, String>> {
    let mut vars = HashMap::new();
    let mut rest = uri;
    let mut t = template;
    while !t.is_empty() {
        if let Some(after) = t.strip_prefix('{') {
            let end = after.find('}')?;
            let name = &after[..end];
            t = &after[end + 1..];
            // The variable runs to the next literal (or the end); it never spans '/'.
            let next_lit_end = t.find('{').unwrap_or(t.len());
            let lit = &t[..next_lit_end];
            let stop = if lit.is_empty() {
                rest.find('/').unwrap_or(rest.len())
            } else {
                rest.find(lit)?
            };
            let value = &rest[..stop];
            if value.is_empty() || value.contains('/') {
                return None;
            }
            vars.insert(name.to_string(), value.to_string());
            rest = &rest[stop..];
        } else {
            let lit_end = t.find('{').unwrap_or(t.len());
            let lit = &t[..lit_end];
            rest = rest.strip_prefix(lit)?;
            t = &t[lit_end..];
        }
    }
    rest.is_empty().then_some(vars)
}

/// Encodes the JSON-RPC response for a dispatch outcome.
pub(crate) fn encode_outcome(id: &jsonrpc::Id, outcome: &Result<Vec<u8>, RpcError>) -> Vec<u8> {
    match outcome {
        Ok(result) => jsonrpc::encode_result(id, result),
        Err(e) => jsonrpc::encode_error(Some(id), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_matching() {
        let v = match_template("test://template/{id}/data", "test://template/42/data").unwrap();
        assert_eq!(v["id"], "42");
        assert!(match_template("test://template/{id}/data", "test://template/42/other").is_none());
        assert!(match_template("test://template/{id}/data", "test://template//data").is_none());
        let v = match_template("ui://widget/{name}.html", "ui://widget/list-ab12.html").unwrap();
        assert_eq!(v["name"], "list-ab12");
        assert!(match_template("a://{x}", "a://b/c").is_none());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(2), 3).unwrap(), 2);
        assert!(decode_cursor("page-3", 3).is_err());
        assert!(decode_cursor("zzz", 3).is_err());
    }
}
