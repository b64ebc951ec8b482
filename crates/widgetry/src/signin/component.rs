//! The sign-in component itself: its state, construction and background sweeper.

use std::sync::Arc;
use std::time::Duration;

use widgetry_store::KvStore;

use super::config::SignInConfig;
use super::directory::{CodeSender, Directory};
use super::limits::Limits;
use crate::app::origins::AllowedOrigins;

/// The sign-in widget: credentials, a six-digit verification code, success.
pub const SIGNIN_WIDGET_HTML: &str = include_str!("../../widgets/signin.html");

/// `_meta` key of the widget-only sign-in data (session id, nonce, endpoint).
pub const META_KEY: &str = "widgetry/signin";

/// The sign-in component: tools, endpoint and widget, over a store and a directory.
#[derive(Clone)]
pub struct SignIn {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) config: SignInConfig,
    pub(super) kv: Arc<dyn KvStore>,
    pub(super) directory: Arc<dyn Directory>,
    pub(super) sender: Arc<dyn CodeSender>,
    pub(super) origins: std::sync::RwLock<AllowedOrigins>,
    pub(super) limits: Limits,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl SignIn {
    /// A sign-in component.
    pub fn new(
        config: SignInConfig,
        kv: Arc<dyn KvStore>,
        directory: Arc<dyn Directory>,
        sender: Arc<dyn CodeSender>,
    ) -> Self {
        let origins = AllowedOrigins {
            exact: vec![config.public_url.clone()],
            dev: false,
        };
        let limits = Limits::new(kv.clone(), &config.throttle);
        Self {
            inner: Arc::new(Inner {
                config,
                kv,
                directory,
                sender,
                origins: std::sync::RwLock::new(origins),
                limits,
            }),
        }
    }

    /// Sweeps expired sessions and rate-limit counters from the store every
    /// [`SignInConfig::sweep_interval`] (expiry
    /// is also enforced on every read). Runs while the component is alive, inside a Tokio
    /// runtime; a no-op outside one.
    pub fn spawn_sweeper(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let every = self.config().sweep_interval.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                match inner.kv.sweep().await {
                    Ok(n) if n > 0 => {
                        tracing::debug!(removed = n, "swept expired sign-in sessions")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("sign-in sweep failed: {e}"),
                }
            }
        });
    }

    /// Allows the sandboxed-iframe `null` origin and loopback origins (development only:
    /// pass [`crate::app::dev_requested`] or `false`).
    pub fn allow_dev_origins(self, yes: bool) -> Self {
        self.inner
            .origins
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .dev = yes;
        self
    }

    pub(super) fn config(&self) -> &SignInConfig {
        &self.inner.config
    }
}
