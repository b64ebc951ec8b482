//! [`App`], the built app, and how it is served: over HTTP (with or without the
//! production layers) or stdio.

use std::sync::Arc;

use axum::Router;

use super::action::{self, ActionState};
#[cfg(feature = "host-page")]
use super::host;
use super::widget::WidgetBuild;
use crate::server::Server;
use crate::transport::{HttpConfig, HttpState};

/// A built app: the MCP engine, its widgets and its HTTP settings.
pub struct App {
    pub(super) server: Server,
    pub(super) http: HttpConfig,
    pub(super) widgets: Vec<Arc<WidgetBuild>>,
    pub(super) actions: Option<Arc<ActionState>>,
    #[cfg(feature = "host-page")]
    pub(super) host_page: bool,
    pub(super) routers: Vec<Router>,
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
    /// Whether the app serves the local host page (`/_widgetry/host`).
    pub fn serves_host_page(&self) -> bool {
        #[cfg(feature = "host-page")]
        return self.host_page;
        #[cfg(not(feature = "host-page"))]
        false
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
        #[cfg(feature = "host-page")]
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
