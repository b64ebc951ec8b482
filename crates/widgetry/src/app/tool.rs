//! Typed tools: `async fn(ctx, Input) -> Result<Output, ToolError>`, where the input type
//! gives `inputSchema` and the output type gives `outputSchema` and `structuredContent`.

use std::future::Future;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::protocol::types::{
    CallToolResult, Content, JsonObject, ToolAnnotations, ToolDescriptor,
};
use crate::server::{RequestContext, ToolEntry, ToolError, ToolHandler};

/// Longest invoking/invoked status text ChatGPT shows.
pub const MAX_STATUS_TEXT: usize = 64;

/// Who may call a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    /// The model and the widget (default).
    #[default]
    Both,
    /// Only the model: widgets may not call it.
    Model,
    /// Only widgets (hidden from the model), e.g. a "load more" button's tool. Not
    /// listed to, and refused for, clients without the MCP Apps extension
    /// ([`UiClients`](crate::server::UiClients)).
    App,
}

impl Visibility {
    pub(crate) fn ui(&self) -> Value {
        match self {
            Visibility::Both => json!(["model", "app"]),
            Visibility::Model => json!(["model"]),
            Visibility::App => json!(["app"]),
        }
    }
    pub(crate) fn widget_accessible(&self) -> bool {
        !matches!(self, Visibility::Model)
    }
    pub(crate) fn openai(&self) -> &'static str {
        match self {
            Visibility::App => "private",
            _ => "public",
        }
    }
}

/// A file the user gives a tool (ChatGPT's file parameter shape): a top-level input field
/// of this type is listed in the tool's `openai/fileParams`, so ChatGPT fills it with an
/// uploaded file (`download_url` to fetch it, `file_id` to refer to it).
///
/// ```
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Input { photo: widgetry::app::FileParam, caption: Option<String> }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileParam {
    /// A short-lived URL the server downloads the file from.
    pub download_url: String,
    /// The host's id of the file.
    pub file_id: String,
}

/// Marks [`FileParam`]'s schema so [`file_params`] recognises it after schemars moves it to `$defs`.
const FILE_MARK: &str = "x-widgetry-file";

impl JsonSchema for FileParam {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FileParam".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "A file: download_url to fetch it, file_id to refer to it",
            "properties": {
                "download_url": { "type": "string" },
                "file_id": { "type": "string" }
            },
            "required": ["download_url", "file_id"],
            FILE_MARK: true
        })
    }
}

/// The top-level input fields typed [`FileParam`] (or `Option<FileParam>`).
fn file_params(input_schema: &Value) -> Vec<String> {
    let defs = input_schema.get("$defs");
    let resolve = |s: &Value| -> Option<Value> {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => r
                .strip_prefix("#/$defs/")
                .and_then(|name| defs?.get(name))
                .cloned(),
            None => Some(s.clone()),
        }
    };
    let is_file = |s: &Value| -> bool {
        let alts = ["anyOf", "oneOf", "allOf"]
            .iter()
            .filter_map(|k| s.get(*k).and_then(Value::as_array))
            .flatten()
            .cloned();
        std::iter::once(s.clone())
            .chain(alts)
            .filter_map(|x| resolve(&x))
            .any(|x| x.get(FILE_MARK) == Some(&Value::Bool(true)))
    };
    input_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .filter(|(_, s)| is_file(s))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The input of a tool that takes no arguments.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
pub struct NoInput {}

/// A tool's answer: typed data (→ `structuredContent`), optional text content for the
/// model, and widget-only `_meta`.
///
/// ```
/// # use widgetry::app::Reply;
/// # #[derive(serde::Serialize, schemars::JsonSchema)] struct Items { count: u32 }
/// let reply = Reply::new(Items { count: 3 })
///     .text("Found 3 items")
///     .meta("private/cursor", serde_json::json!("abc"));
/// ```
#[derive(Debug, Clone)]
pub struct Reply<T> {
    data: T,
    content: Vec<Content>,
    meta: JsonObject,
}

impl<T> Reply<T> {
    /// A reply carrying `data`.
    pub fn new(data: T) -> Self {
        Self {
            data,
            content: Vec::new(),
            meta: JsonObject::new(),
        }
    }
    /// Adds a text content item (what the model reads; without one, the JSON of the data
    /// is sent as text).
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.content.push(Content::text(text));
        self
    }
    /// Adds any content item.
    pub fn content(mut self, item: Content) -> Self {
        self.content.push(item);
        self
    }
    /// Adds a widget-only `_meta` entry: the widget sees it, the model never does.
    pub fn meta(mut self, key: impl Into<String>, value: Value) -> Self {
        self.meta.insert(key.into(), value);
        self
    }
}

/// What a tool handler may return: its data type directly, or a [`Reply`] around it.
pub trait IntoReply: Send + 'static {
    /// The structured data type (gives `outputSchema`).
    type Data: Serialize + JsonSchema;
    /// Converts into a [`Reply`].
    fn into_reply(self) -> Reply<Self::Data>;
}

impl<T: Serialize + JsonSchema + Send + 'static> IntoReply for T {
    type Data = T;
    fn into_reply(self) -> Reply<T> {
        Reply::new(self)
    }
}

impl<T: Serialize + JsonSchema + Send + 'static> IntoReply for Reply<T> {
    type Data = T;
    fn into_reply(self) -> Reply<T> {
        self
    }
}

/// The JSON Schema of `T` as a value, with every subschema an object (see [`objects_only`]).
pub fn schema_of<T: JsonSchema>() -> Value {
    let mut v =
        serde_json::to_value(schemars::SchemaGenerator::default().into_root_schema_for::<T>())
            .unwrap_or_else(|_| json!({"type": "object"}));
    objects_only(&mut v);
    v
}

/// Replaces boolean subschemas (`true` for a `serde_json::Value` field, `false`) by their
/// object forms (`{}`, `{"not": {}}`): the official TypeScript SDK rejects a `tools/list`
/// whose schemas have a boolean under `properties`, `items` or the like.
fn objects_only(schema: &mut Value) {
    let fix = |v: &mut Value| {
        if let Value::Bool(b) = v {
            *v = if *b { json!({}) } else { json!({"not": {}}) };
        }
        objects_only(v);
    };
    let Value::Object(map) = schema else { return };
    for (key, v) in map.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" | "definitions" | "patternProperties" | "dependentSchemas" => {
                if let Value::Object(m) = v {
                    m.values_mut().for_each(fix);
                }
            }
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                if let Value::Array(a) = v {
                    a.iter_mut().for_each(fix);
                }
            }
            "items" | "not" | "if" | "then" | "else" | "contains" | "propertyNames" => fix(v),
            _ => {}
        }
    }
}

fn is_object_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
}

fn is_unit_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// Formats a deserialization failure with the path of the offending field.
fn describe_input_error(e: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.into_inner().to_string();
    if path == "." || path.is_empty() {
        inner
    } else {
        format!("field `{path}`: {inner}")
    }
}

/// A typed tool, registered with [`AppBuilder::tool`](super::AppBuilder::tool).
///
/// ```
/// use widgetry::app::{Tool, Visibility};
/// use widgetry::{RequestContext, ToolError};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Input { city: String }
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Forecast { city: String, celsius: f32 }
///
/// async fn forecast(_ctx: RequestContext, i: Input) -> Result<Forecast, ToolError> {
///     Ok(Forecast { city: i.city, celsius: 21.5 })
/// }
///
/// let tool = Tool::new("forecast", forecast)
///     .title("Forecast")
///     .description("Today's forecast for a city")
///     .read_only()
///     .invoking("Checking the sky…")
///     .invoked("Forecast ready");
/// assert_eq!(tool.name(), "forecast");
/// ```
#[derive(Clone)]
pub struct Tool {
    pub(crate) descriptor: ToolDescriptor,
    pub(crate) handler: ToolHandler,
    pub(crate) widget: Option<String>,
    pub(crate) visibility: Visibility,
    pub(crate) invoking: Option<String>,
    pub(crate) invoked: Option<String>,
    pub(crate) auth: Option<crate::auth::Auth>,
    pub(crate) widget_actions: Vec<String>,
    pub(crate) problems: Vec<String>,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("descriptor", &self.descriptor)
            .field("widget", &self.widget)
            .field("visibility", &self.visibility)
            .finish_non_exhaustive()
    }
}

impl Tool {
    /// A tool named `name` running `handler`.
    pub fn new<I, R, F, Fut>(name: impl Into<String>, handler: F) -> Self
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        R: IntoReply,
        F: Fn(RequestContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    {
        let name = name.into();
        let mut problems = Vec::new();
        let input_schema = schema_of::<I>();
        if !is_object_schema(&input_schema) {
            problems.push(format!(
                "tool {name:?}: its input type must be a struct (an object schema); use NoInput for no arguments"
            ));
        }
        let out = schema_of::<R::Data>();
        let output_schema = if is_unit_schema(&out) {
            None
        } else if is_object_schema(&out) {
            Some(out)
        } else {
            problems.push(format!(
                "tool {name:?}: its output type must serialize to a JSON object (structuredContent); wrap it in a struct"
            ));
            None
        };
        let structured = output_schema.is_some();
        let handler: ToolHandler = Arc::new(move |ctx, args: Box<serde_json::value::RawValue>| {
            let mut de = serde_json::Deserializer::from_str(args.get());
            let input: Result<I, _> = serde_path_to_error::deserialize(&mut de);
            match input {
                Err(e) => Box::pin(std::future::ready(Err(ToolError::InvalidParams(
                    describe_input_error(e),
                )))),
                Ok(input) => {
                    let fut = handler(ctx, input);
                    Box::pin(async move { reply_to_result(fut.await?.into_reply(), structured) })
                }
            }
        });
        let mut descriptor = ToolDescriptor::new(name);
        descriptor.input_schema = input_schema;
        descriptor.output_schema = output_schema;
        Self {
            descriptor,
            handler,
            widget: None,
            visibility: Visibility::default(),
            invoking: None,
            invoked: None,
            auth: None,
            widget_actions: Vec::new(),
            problems,
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.descriptor.name
    }

    /// Sets the human-readable title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.descriptor.title = Some(title.into());
        self
    }

    /// Sets the description the model reads.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.descriptor.description = Some(text.into());
        self
    }

    fn annotations(&mut self) -> &mut ToolAnnotations {
        self.descriptor
            .annotations
            .get_or_insert_with(Default::default)
    }

    /// `readOnlyHint: true` (and `destructiveHint: false`).
    pub fn read_only(mut self) -> Self {
        let a = self.annotations();
        a.read_only_hint = Some(true);
        a.destructive_hint = Some(false);
        self
    }

    /// `destructiveHint: true`.
    pub fn destructive(mut self) -> Self {
        self.annotations().destructive_hint = Some(true);
        self
    }

    /// `idempotentHint: true`.
    pub fn idempotent(mut self) -> Self {
        self.annotations().idempotent_hint = Some(true);
        self
    }

    /// `openWorldHint` (true when the tool reaches outside systems).
    pub fn open_world(mut self, yes: bool) -> Self {
        self.annotations().open_world_hint = Some(yes);
        self
    }

    /// Status text while the tool runs (≤ 64 characters, checked at build).
    pub fn invoking(mut self, text: impl Into<String>) -> Self {
        self.invoking = Some(text.into());
        self
    }

    /// Status text once the tool has run (≤ 64 characters, checked at build).
    pub fn invoked(mut self, text: impl Into<String>) -> Self {
        self.invoked = Some(text.into());
        self
    }

    /// Who may call the tool (model, widget or both).
    pub fn visibility(mut self, v: Visibility) -> Self {
        self.visibility = v;
        self
    }

    /// The tool's auth policy (default: the server default).
    pub fn auth(mut self, policy: crate::auth::Auth) -> Self {
        self.auth = Some(policy);
        self
    }

    /// The actions its widget may perform for the user: the result's `_meta` then
    /// carries a widget token covering them (see [`Action`](super::Action)).
    pub fn widget_actions<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        actions: I,
    ) -> Self {
        self.widget_actions = actions.into_iter().map(Into::into).collect();
        self
    }

    /// The widget this tool renders (a widget name registered with the app).
    pub fn widget(mut self, name: impl Into<String>) -> Self {
        self.widget = Some(name.into());
        self
    }

    /// Adds a custom `_meta` entry to the descriptor.
    pub fn meta(mut self, key: impl Into<String>, value: Value) -> Self {
        self.descriptor
            .meta
            .get_or_insert_with(JsonObject::new)
            .insert(key.into(), value);
        self
    }

    /// Checks the static rules (status text length, schema shapes).
    pub(crate) fn validate(&self) -> Vec<String> {
        let mut problems = self.problems.clone();
        for (what, text) in [("invoking", &self.invoking), ("invoked", &self.invoked)] {
            if let Some(t) = text {
                let n = t.chars().count();
                if n > MAX_STATUS_TEXT {
                    problems.push(format!(
                        "tool {:?}: {what} text is {n} characters; the limit is {MAX_STATUS_TEXT}",
                        self.descriptor.name
                    ));
                }
            }
        }
        problems
    }

    /// The engine-level entry, with `_meta` for both host styles: one widget URI under
    /// `ui.resourceUri`, its alias `openai/outputTemplate` and the legacy flat
    /// `ui/resourceUri` (hosts from before the nested form).
    pub(crate) fn into_entry(
        self,
        widget_uri: Option<&str>,
        policy: &crate::auth::Auth,
    ) -> ToolEntry {
        let mut d = self.descriptor;
        let schemes = policy.security_schemes();
        d.security_schemes = Some(schemes.clone());
        let files = file_params(&d.input_schema);
        let meta = d.meta.get_or_insert_with(JsonObject::new);
        meta.insert("securitySchemes".into(), schemes);
        if !files.is_empty() {
            meta.insert("openai/fileParams".into(), json!(files));
        }
        let mut ui = JsonObject::new();
        if let Some(uri) = widget_uri {
            ui.insert("resourceUri".into(), json!(uri));
            meta.insert("openai/outputTemplate".into(), json!(uri));
            meta.insert("ui/resourceUri".into(), json!(uri));
        }
        ui.insert("visibility".into(), self.visibility.ui());
        meta.insert("ui".into(), Value::Object(ui));
        meta.insert(
            "openai/widgetAccessible".into(),
            json!(self.visibility.widget_accessible()),
        );
        meta.insert("openai/visibility".into(), json!(self.visibility.openai()));
        if let Some(t) = self.invoking {
            meta.insert("openai/toolInvocation/invoking".into(), json!(t));
        }
        if let Some(t) = self.invoked {
            meta.insert("openai/toolInvocation/invoked".into(), json!(t));
        }
        ToolEntry {
            descriptor: d,
            policy: policy.clone(),
            handler: self.handler,
        }
    }
}

fn reply_to_result<T: Serialize>(
    reply: Reply<T>,
    structured: bool,
) -> Result<CallToolResult, ToolError> {
    let mut result = CallToolResult {
        content: reply.content,
        ..Default::default()
    };
    if structured {
        let data = serde_json::to_value(&reply.data)
            .map_err(|e| ToolError::msg(format!("cannot serialize the tool's output: {e}")))?;
        if result.content.is_empty() {
            result.content.push(Content::text(data.to_string()));
        }
        result.structured_content = Some(data);
    }
    if !reply.meta.is_empty() {
        result.meta = Some(reply.meta);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, JsonSchema)]
    #[allow(dead_code)]
    struct Loose {
        body: Value,
        list: Vec<Value>,
        maybe: Option<Value>,
    }

    #[test]
    fn boolean_subschemas_become_objects() {
        let s = schema_of::<Loose>();
        let text = s.to_string();
        assert!(
            !text.contains(":true") && !text.contains(":false"),
            "{text}"
        );
        assert_eq!(s["properties"]["body"], json!({}));
        assert_eq!(s["properties"]["list"]["items"], json!({}));
    }
}
