//! Running an app in one call: [`Runner`] reads the command line and the environment, opens
//! the stores, sets up the embedded (or an external) authorization server, creates the
//! [`DemoUser`] in development, prints where the app is, and serves it with graceful
//! shutdown; `--describe` prints the app's [`Description`](crate::describe::Description)
//! instead. Hooks add what an app customises: its tools once the stores are open
//! ([`Runner::app`]), what needs the embedded server ([`Runner::embedded_auth`]),
//! extra scopes, the demo user.

mod args;
#[cfg(feature = "authz")]
mod demo;
mod start;

pub use args::{Args, UsageError};
#[cfg(feature = "authz")]
pub use demo::DemoUser;
pub use start::{RunError, Runner, Setup};
