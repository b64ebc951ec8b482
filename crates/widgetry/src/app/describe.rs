//! [`AppBuilder::describe`]: the app's [`Description`] read off its builder, before
//! anything is opened or built (no store, no widget bundling, no listener).

use crate::describe::{ActionDescription, Description, ToolDescription, WidgetDescription};
use crate::identity::Auth;

impl super::AppBuilder {
    /// What the app is made of: its tools (auth policy, scopes, widget), widget actions,
    /// widgets and the scopes they ask for. A tool without its own policy is described
    /// with the app's default (sign-in with the default scopes once [`auth`] is set,
    /// else public). Widgets come from the embedded set, the widget folders and the
    /// HTML added so far, plus those with settings.
    ///
    /// [`auth`]: super::AppBuilder::auth
    pub fn describe(&self) -> Description {
        let default = match &self.auth {
            Some(a) => Auth::Required(a.default_scopes.clone()),
            None => Auth::None,
        };
        let mut tools = Vec::new();
        let mut actions = Vec::new();
        for t in &self.tools {
            let auth = t.auth.as_ref().unwrap_or(&default);
            let title = t.descriptor.title.as_deref();
            if self.actions.iter().any(|a| a == t.name()) {
                actions.push(ActionDescription::new(t.name(), title, auth));
            } else {
                let mut d = ToolDescription::new(t.name(), title, auth);
                d.widget = t.widget.clone();
                d.widget_actions = t.widget_actions.clone();
                tools.push(d);
            }
        }
        let mut names: Vec<String> = Vec::new();
        for source in &self.sources {
            match source {
                super::builder::WidgetSource::Embedded(e) => {
                    names.extend(e.0.iter().map(|(n, _, _)| n.to_string()))
                }
                super::builder::WidgetSource::Html(n, _) => names.push(n.clone()),
                super::builder::WidgetSource::Dir(d) => names.extend(
                    widgetry_bundle::widget_dirs(d)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(n, _)| n),
                ),
            }
        }
        names.extend(self.specs.iter().map(|s| s.name.clone()));
        let mut widgets: Vec<WidgetDescription> = Vec::new();
        for n in names {
            if widgets.iter().any(|w| w.name == n) {
                continue;
            }
            let spec = self.specs.iter().find(|s| s.name == n);
            widgets.push(WidgetDescription::new(
                &n,
                spec.and_then(|s| s.description.as_deref()),
            ));
        }
        let extra = match &self.auth {
            Some(a) => a.default_scopes.clone(),
            None => Vec::new(),
        };
        Description::new(&self.name, &self.version, tools, actions, widgets, &extra)
    }
}
