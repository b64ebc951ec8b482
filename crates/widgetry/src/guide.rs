//! Guides: how to build with Widgetry, one topic per page. They are the repository's
//! `docs/*.md` (this crate's `docs` folder links there), so the same text reads on the
//! repository's pages and here.
//!
//! Start with [`tools_and_widgets`], then [`auth`]; [`deploy`] and [`chatgpt`] when the
//! app goes live.

#[doc = include_str!("../docs/tools-and-widgets.md")]
pub mod tools_and_widgets {}

#[doc = include_str!("../docs/widgets.md")]
pub mod widgets {}

#[doc = include_str!("../docs/auth.md")]
pub mod auth {}

#[doc = include_str!("../docs/actions.md")]
pub mod actions {}

#[cfg(feature = "signin")]
#[doc = include_str!("../docs/signin.md")]
pub mod signin {}

#[doc = include_str!("../docs/stores.md")]
pub mod stores {}

#[doc = include_str!("../docs/protocol.md")]
pub mod protocol {}

#[doc = include_str!("../docs/hosts.md")]
pub mod hosts {}

#[doc = include_str!("../docs/deploy.md")]
pub mod deploy {}

#[doc = include_str!("../docs/chatgpt.md")]
pub mod chatgpt {}

#[doc = include_str!("../docs/identity-providers.md")]
pub mod identity_providers {}
