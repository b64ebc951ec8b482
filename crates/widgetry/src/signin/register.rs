//! [`SignIn::register`]: the tools, the widget and the endpoint, added to an app.

use super::bridge;
use super::component::{SignIn, SIGNIN_WIDGET_HTML};
use super::tools::SessionInput;
use crate::app::{AppBuilder, NoInput, Tool, Visibility, Widget};
use crate::auth::Auth;
use crate::RequestContext;

impl SignIn {
    /// Adds the three tools and the sign-in widget (shipped with Widgetry) to an app, and
    /// the endpoint (see [`AppBuilder::router_extension`]).
    pub fn register(&self, b: AppBuilder) -> AppBuilder {
        self.spawn_sweeper();
        let c = self.config().clone();
        let (s1, s2, s3) = (self.clone(), self.clone(), self.clone());
        let relay = bridge::submit_tool(self.clone(), bridge::tool_name(&c));
        let origin = c.public_url.clone();
        let endpoint = self.router();
        b.widget_html(c.widget.clone(), SIGNIN_WIDGET_HTML)
            .router_extension(endpoint)
            .widget(Widget::new(c.widget.clone()).description("Sign in with email, password and a verification code").prefers_border(true).connect_domain(origin))
            .tool(
                Tool::new(c.create_tool.clone(), move |ctx: RequestContext, _: NoInput| {
                    let s = s1.clone();
                    async move { s.create(ctx).await }
                })
                .title("Start a sign-in")
                .description("Creates a sign-in session; then call the authenticate tool with its sessionId.")
                .auth(Auth::none()),
            )
            .tool(
                Tool::new(c.authenticate_tool.clone(), move |ctx: RequestContext, i: SessionInput| {
                    let s = s2.clone();
                    async move { s.authenticate(ctx, i).await }
                })
                .title("Sign in")
                .description("Shows the sign-in widget for a session (or the signed-in view when done).")
                .invoking("Opening sign-in…")
                .invoked("Sign-in ready")
                .auth(Auth::none())
                .widget(c.widget.clone()),
            )
            .tool(
                Tool::new(c.status_tool.clone(), move |ctx: RequestContext, i: SessionInput| {
                    let s = s3.clone();
                    async move { s.status(ctx, i).await }
                })
                .title("Sign-in status")
                .description("Whether a sign-in session is authenticated, and as whom (only to the conversation that started it).")
                .read_only()
                .visibility(Visibility::Both)
                .auth(Auth::none()),
            )
            .tool(relay)
    }
}
