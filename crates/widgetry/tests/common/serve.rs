//! Serving a built app on a listener the test bound first (so the app can know its URL).
//! Included with `#[path = "common/serve.rs"] mod serve;` next to `mod common;`.

use crate::common::TestServer;

/// Spawns `app`'s router on `listener` (inside the current runtime) and returns a client for it.
pub fn serve_app(listener: tokio::net::TcpListener, app: &widgetry::app::App) -> TestServer {
    let addr = listener.local_addr().unwrap();
    let (router, state) = app.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    TestServer {
        addr,
        client: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        state,
    }
}
