//! Graceful shutdown: on Ctrl-C or SIGTERM the instance stops accepting connections,
//! reports not ready (`/readyz` answers 503, so a load balancer stops sending), ends
//! every open SSE stream at once (clients reconnect, to another instance), lets
//! in-flight requests finish, and exits after a grace period at the latest.

use std::future::IntoFuture;
use std::sync::OnceLock;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio_util::sync::CancellationToken;

/// The process's shutdown token: cancelled when the process is asked to stop (or by
/// [`begin_shutdown`]). SSE streams end when it is cancelled.
pub fn token() -> &'static CancellationToken {
    static TOKEN: OnceLock<CancellationToken> = OnceLock::new();
    TOKEN.get_or_init(CancellationToken::new)
}

/// Starts the shutdown by hand (what SIGTERM does).
pub fn begin_shutdown() {
    token().cancel();
}

/// Whether the shutdown has begun.
pub fn is_shutting_down() -> bool {
    token().is_cancelled()
}

/// Serves `router` on `listener` (with `TCP_NODELAY` and the peer address of each
/// connection) until the process is asked to stop; then drains for at most `grace`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    grace: Duration,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async {
        crate::shutdown_signal().await;
        tracing::info!("shutdown requested: draining");
        begin_shutdown();
    });
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(token().clone().cancelled_owned());
    let deadline = async {
        token().cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = server.into_future() => r,
        _ = deadline => {
            tracing::warn!(grace_secs = grace.as_secs(), "connections still open after the shutdown grace period; exiting");
            Ok(())
        }
    }
}
