//! The app's tools, one module each. `widgetry add widget <name>` and
//! `widgetry add tool <name>` add a module, its scopes and its registration just above
//! the `widgetry:` marker comments below: keep the markers.

use std::sync::Arc;

use widgetry::app::AppBuilder;
use widgetry::store::KvStore;

{{modules}}// widgetry:modules (`widgetry add` declares new modules above this line)

/// The OAuth scopes the tools use. The embedded authorization server offers them, the
/// demo user may grant all of them, and `widgetry users add --scopes` checks against them.
pub const SCOPES: &[&str] = &[
{{scopes}}    // widgetry:scopes (`widgetry add` adds scopes above this line)
];

/// What the model reads when it connects (the MCP `instructions`).
pub const INSTRUCTIONS: &str = "{{instructions}}";

/// What the tools share.
#[derive(Clone)]
pub struct Shared {
    /// Durable key-value data: SQLite under the data directory, or `WIDGETRY_DATABASE_URL`
    /// (PostgreSQL, Redis) when set.
    #[allow(dead_code)] // until a tool keeps data
    pub kv: Arc<dyn KvStore>,
}

/// Registers every tool (and its widget) with the app.
pub fn register(b: AppBuilder, shared: &Shared) -> AppBuilder {
{{registrations}}    // widgetry:register (`widgetry add` registers new tools above this line)
    b
}
