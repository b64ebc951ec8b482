//! [`Description`]: what an app is made of — its tools with their auth policy, scopes and
//! widget, its widget actions, its widgets and every scope it asks for — as an app run by
//! [`Runner`](crate::runner::Runner) prints it with `--describe` (JSON on stdout) and the
//! `widgetry` CLI reads it, so the CLI learns an app's tools from the app itself.
//!
//! ```
//! use widgetry::app::{App, NoInput, Tool};
//! use widgetry::{Auth, RequestContext, ToolError};
//!
//! async fn ping(_: RequestContext, _: NoInput) -> Result<String, ToolError> {
//!     Ok("pong".into())
//! }
//!
//! let d = App::builder("demo", "1.0.0")
//!     .tool(Tool::new("ping", ping).auth(Auth::required(["ping:use"])))
//!     .describe();
//! assert_eq!(d.tools[0].name, "ping");
//! assert_eq!(d.scopes, ["ping:use"]);
//! let json = serde_json::to_value(&d).unwrap();
//! assert_eq!(json["tools"][0]["auth"], "required");
//! ```

use serde::{Deserialize, Serialize};

use crate::identity::Auth;

/// An app's tools, actions, widgets and scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Description {
    /// The `serverInfo` name.
    pub name: String,
    /// The `serverInfo` version.
    pub version: String,
    /// The tools people and models call (widget actions are in `actions`).
    pub tools: Vec<ToolDescription>,
    /// The widget actions: each is a tool too, and `POST /widget/actions/<name>`.
    pub actions: Vec<ActionDescription>,
    /// The widgets, by name.
    pub widgets: Vec<WidgetDescription>,
    /// Every scope a tool or action asks for, plus the ones the app declares besides
    /// (sorted, once each): what its embedded authorization server supports.
    pub scopes: Vec<String>,
}

impl Description {
    /// Whether a tool or an action has this name.
    pub fn has_tool(&self, name: &str) -> bool {
        self.tools.iter().any(|t| t.name == name) || self.actions.iter().any(|a| a.name == name)
    }
}

/// Who may call a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthPolicy {
    /// Anyone ([`Auth::None`]).
    None,
    /// Anyone; signed-in callers get more ([`Auth::Optional`]).
    Optional,
    /// Signed-in callers holding every scope ([`Auth::Required`]).
    Required,
}

impl AuthPolicy {
    /// The policy of `auth` and its scopes.
    pub fn of(auth: &Auth) -> (Self, Vec<String>) {
        match auth {
            Auth::None => (Self::None, Vec::new()),
            Auth::Optional(s) => (Self::Optional, s.clone()),
            Auth::Required(s) => (Self::Required, s.clone()),
        }
    }
}

/// One tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolDescription {
    /// Its name.
    pub name: String,
    /// Its title, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Who may call it (a tool without its own policy gets the app's default).
    pub auth: AuthPolicy,
    /// The scopes its policy names.
    pub scopes: Vec<String>,
    /// The widget it renders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widget: Option<String>,
    /// The actions its widget may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub widget_actions: Vec<String>,
}

/// One widget action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ActionDescription {
    /// Its name.
    pub name: String,
    /// Its title, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Who may call it.
    pub auth: AuthPolicy,
    /// The scopes its policy names.
    pub scopes: Vec<String>,
}

/// One widget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WidgetDescription {
    /// Its name (its folder's).
    pub name: String,
    /// What it shows, if the app says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ToolDescription {
    /// A tool named `name` with policy `auth`.
    pub(crate) fn new(name: &str, title: Option<&str>, auth: &Auth) -> Self {
        let (auth, scopes) = AuthPolicy::of(auth);
        Self {
            name: name.to_string(),
            title: title.map(str::to_string),
            auth,
            scopes,
            widget: None,
            widget_actions: Vec::new(),
        }
    }
}

impl ActionDescription {
    /// An action named `name` with policy `auth`.
    pub(crate) fn new(name: &str, title: Option<&str>, auth: &Auth) -> Self {
        let (auth, scopes) = AuthPolicy::of(auth);
        Self {
            name: name.to_string(),
            title: title.map(str::to_string),
            auth,
            scopes,
        }
    }
}

impl WidgetDescription {
    /// A widget named `name`.
    pub(crate) fn new(name: &str, description: Option<&str>) -> Self {
        Self {
            name: name.to_string(),
            description: description.map(str::to_string),
        }
    }
}

impl Description {
    /// Adds scopes the app supports besides those its tools ask for.
    pub(crate) fn add_scopes(&mut self, extra: &[String]) {
        self.scopes.extend(extra.iter().cloned());
        self.scopes.sort();
        self.scopes.dedup();
    }

    /// An app's description; `scopes` is computed from the tools, actions and `extra`.
    pub(crate) fn new(
        name: &str,
        version: &str,
        tools: Vec<ToolDescription>,
        actions: Vec<ActionDescription>,
        widgets: Vec<WidgetDescription>,
        extra: &[String],
    ) -> Self {
        let mut scopes: Vec<String> = tools
            .iter()
            .flat_map(|t| t.scopes.iter())
            .chain(actions.iter().flat_map(|a| a.scopes.iter()))
            .chain(extra)
            .cloned()
            .collect();
        scopes.sort();
        scopes.dedup();
        Self {
            name: name.to_string(),
            version: version.to_string(),
            tools,
            actions,
            widgets,
            scopes,
        }
    }
}
