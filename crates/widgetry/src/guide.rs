//! Guides: how to build with Widgetry, one topic per page (the same text as
//! `crates/widgetry/docs/*.md` in the repository).

#[doc = include_str!("../docs/tools-and-widgets.md")]
pub mod tools_and_widgets {}

#[doc = include_str!("../docs/auth.md")]
pub mod auth {}

#[doc = include_str!("../docs/actions.md")]
pub mod actions {}

#[cfg(feature = "signin")]
#[doc = include_str!("../docs/signin.md")]
pub mod signin {}

#[doc = include_str!("../docs/stores.md")]
pub mod stores {}
