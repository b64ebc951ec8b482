//! Running an app in production: the typed deployment configuration ([`Settings`]),
//! the observing request layer ([`observe`]), Prometheus metrics ([`metrics`]), health
//! and readiness endpoints, and graceful shutdown ([`shutdown`]).
//!
//! [`App::serve_with`](crate::App::serve_with) puts them together.

mod health;
pub mod metrics;
pub mod observe;
mod settings;
pub mod shutdown;

pub(crate) use health::{router as ops_router, Ops};
pub use settings::{Settings, SettingsError};
