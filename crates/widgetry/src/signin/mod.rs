//! Session sign-in inside a widget (seed 002, done securely): `create_session`,
//! `authenticate` (renders the three-screen sign-in widget, or its success view) and
//! `auth_status`, plus the endpoint `POST /api/session/authenticate` the widget posts
//! credentials and the verification code to.
//!
//! Compiled with the `signin` cargo feature (on by default).
//!
//! Security properties:
//! - a session id is 64 hex digits: a public half (the store key, which the widget and
//!   its endpoint see) and a secret half stored only as a hash; the tools need the whole
//!   id and, on a stateful transport, the MCP session that created it, so knowing what the
//!   widget knows reveals neither who signed in nor the widget's nonce;
//! - per-session nonces are 128-bit random values; the nonce reaches only the widget (in
//!   the `authenticate` result's `_meta`), so knowing a session id is not enough to sign
//!   it in;
//! - passwords are checked against the user directory (argon2id in the embedded
//!   authorization server, at most a few at a time); the second factor is TOTP for
//!   enrolled users, otherwise a one-time code sent through a pluggable [`CodeSender`] and
//!   stored only as a hash;
//! - every answer is counted before it is checked: per session, and on the authorization
//!   server's guess throttle ([`widgetry_authz::throttle`]: lockouts per account and
//!   address pair, slow-downs past ceilings per account and per address, passwords and
//!   codes counted apart); starting sessions is limited per caller and overall;
//! - sessions expire (10 minutes by default), are swept in the background, and report
//!   "expired, sign in again". All state lives in a [`KvStore`](widgetry_store::KvStore), so several instances
//!   sharing PostgreSQL or Redis serve the same sessions.

mod bridge;
mod component;
mod config;
mod directory;
mod endpoint;
mod limits;
mod register;
mod session;
mod tools;

pub use component::{SignIn, META_KEY, SIGNIN_WIDGET_HTML};
pub use config::SignInConfig;
pub use directory::{Account, CodeSender, ConsoleSender, Directory, MemorySender};
