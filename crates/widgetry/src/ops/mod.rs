//! Running an app in production: the typed deployment configuration ([`Settings`]),
//! the observing request layer ([`Observe`]: a `request` span and metrics per request),
//! Prometheus metrics ([`metrics_recorder`], served at `/metrics`), health and readiness
//! endpoints, and graceful shutdown.
//!
//! [`App::serve_with`](crate::App::serve_with) puts them together.

mod health;
pub(crate) mod metrics;
pub(crate) mod observe;
mod settings;
pub(crate) mod shutdown;

pub(crate) use health::{router as ops_router, Ops};
pub use metrics::recorder as metrics_recorder;
pub use observe::{Observe, ObserveService};
pub use settings::{Settings, SettingsError};
