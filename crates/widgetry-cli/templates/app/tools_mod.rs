//! The app's tools, one module each. `widgetry add widget <name>` and
//! `widgetry add tool <name>` add a module and its registration just above the
//! `widgetry:` marker comments below: keep the markers. The OAuth scopes the app
//! supports are the ones its tools ask for (`.auth(Auth::required([...]))`).

use std::sync::Arc;

use widgetry::app::AppBuilder;
use widgetry::store::KvStore;
use widgetry::Setup;

{{modules}}// widgetry:modules (`widgetry add` declares new modules above this line)

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

/// Registers every tool (and its widget) with the app, once its stores are open.
pub fn register(b: AppBuilder, setup: &Setup) -> AppBuilder {
    let shared = Shared { kv: setup.kv() };
{{registrations}}    // widgetry:register (`widgetry add` registers new tools above this line)
    b
}
