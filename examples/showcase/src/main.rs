//! The Widgetry showcase: the app the README's run command starts.
//!
//! `showcase [--port N] [--stdio]` — serves `http://127.0.0.1:N/mcp` (default 8000).

use schemars::JsonSchema;
mod gallery;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use widgetry::app::{App, NoInput, Reply, Tool, Visibility, Widget};
use widgetry::auth::WidgetKeys;
use widgetry::embedded::AuthSetup;
use widgetry::ops::Settings;
use widgetry::signin::{ConsoleSender, SignIn, SignInConfig};
use widgetry::{Auth, RequestContext, ToolError};

/// One entry of the launch checklist.
#[derive(Debug, Clone, Serialize, JsonSchema)]
struct Item {
    id: String,
    title: String,
    subtitle: String,
    done: bool,
}

/// What `show_list` returns (the widget renders it).
#[derive(Debug, Serialize, JsonSchema)]
struct ListOutput {
    title: String,
    items: Vec<Item>,
}

/// Filters for `show_list`.
#[derive(Debug, Deserialize, JsonSchema)]
struct ListInput {
    /// Show only items still to do.
    #[serde(default)]
    only_open: bool,
    /// At most this many items (1–50).
    #[serde(default)]
    limit: Option<u8>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct DetailsInput {
    /// The item id, as shown in the list. Mirrored into the `Mcp-Param-Item` header by
    /// 2026-07-28 clients (`x-mcp-header`), so a gateway can route on it.
    #[schemars(extend("x-mcp-header" = "Item"))]
    id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Details {
    id: String,
    detail: String,
}

const ITEMS: &[(&str, &str, &str, bool, &str)] = &[
    (
        "design",
        "Design the widget",
        "Light and dark, keyboard friendly",
        true,
        "Uses CSS variables and follows the host theme.",
    ),
    (
        "tools",
        "Type the tools",
        "Input and output schemas from Rust types",
        true,
        "serde + schemars give inputSchema and outputSchema.",
    ),
    (
        "auth",
        "Add per-tool auth",
        "Required, optional or none",
        false,
        "Each tool declares its policy and scopes.",
    ),
    (
        "actions",
        "Widget actions",
        "Like buttons that act for the user",
        false,
        "Short-lived widget tokens that renew themselves.",
    ),
    (
        "ship",
        "Ship it",
        "One binary, SQLite by default",
        false,
        "Widgets are embedded in the release binary.",
    ),
];

fn items() -> Vec<Item> {
    ITEMS
        .iter()
        .map(|(id, title, subtitle, done, _)| Item {
            id: id.to_string(),
            title: title.to_string(),
            subtitle: subtitle.to_string(),
            done: *done,
        })
        .collect()
}

async fn show_list(ctx: RequestContext, input: ListInput) -> Result<Reply<ListOutput>, ToolError> {
    let limit = input.limit.unwrap_or(50);
    if !(1..=50).contains(&limit) {
        return Err(ToolError::invalid_params(
            "field `limit`: must be between 1 and 50",
        ));
    }
    let items: Vec<Item> = items()
        .into_iter()
        .filter(|i| !input.only_open || !i.done)
        .take(limit as usize)
        .collect();
    let open = items.iter().filter(|i| !i.done).count();
    let summary = format!("{} items, {open} still open.", items.len());
    Ok(Reply::new(ListOutput {
        title: "Launch checklist".into(),
        items,
    })
    .text(summary)
    .meta(
        "showcase/locale",
        serde_json::json!(ctx.locale().unwrap_or("en")),
    ))
}

async fn item_details(_ctx: RequestContext, input: DetailsInput) -> Result<Details, ToolError> {
    let found = ITEMS.iter().find(|(id, ..)| *id == input.id);
    match found {
        Some((id, .., detail)) => Ok(Details {
            id: id.to_string(),
            detail: detail.to_string(),
        }),
        None => Err(ToolError::msg(format!("no item with id {:?}", input.id))),
    }
}

async fn server_time(_ctx: RequestContext, _: NoInput) -> Result<Reply<()>, ToolError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(Reply::new(()).text(format!("Unix time on the server: {secs}")))
}

/// Input of the protected widget.
#[derive(Debug, Deserialize, JsonSchema)]
struct MessageInput {
    /// A message echoed back by the widget.
    #[serde(default = "hello")]
    message: String,
}

fn hello() -> String {
    "Hello".into()
}

#[derive(Debug, Serialize, JsonSchema)]
struct ProtectedView {
    message: String,
    user_id: String,
    email: String,
    scopes: Vec<String>,
    has_read: bool,
    has_write: bool,
    has_admin: bool,
    input_message: String,
}

#[derive(Debug, Serialize, JsonSchema)]
struct PublicView {
    message: String,
    authenticated: bool,
    note: String,
}

#[derive(Debug, Serialize, JsonSchema)]
struct FlexibleView {
    tier: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    features: Vec<String>,
    personalized: bool,
}

/// Seed 003's protected widget: only signed-in users with `user` and `read:data`.
async fn protected_widget(
    ctx: RequestContext,
    input: MessageInput,
) -> Result<ProtectedView, ToolError> {
    let user = ctx
        .user()
        .ok_or_else(|| ToolError::msg("sign-in required"))?;
    Ok(ProtectedView {
        message: format!("Hello, {}!", user.name().unwrap_or("User")),
        user_id: user.subject.clone(),
        email: user.email().unwrap_or("N/A").to_string(),
        scopes: user.scopes.clone(),
        has_read: user.has_scope("read:data"),
        has_write: user.has_scope("write:data"),
        has_admin: user.has_scope("admin"),
        input_message: input.message,
    })
}

/// Seed 003's public widget: anyone; notes whether the caller is signed in.
async fn public_widget(ctx: RequestContext, _: NoInput) -> Result<PublicView, ToolError> {
    Ok(PublicView {
        message: "This is public content".into(),
        authenticated: ctx.user().is_some(),
        note: "Anyone can access this widget".into(),
    })
}

/// Seed 003's flexible widget: premium features when signed in, free tier otherwise.
async fn flexible_widget(ctx: RequestContext, _: NoInput) -> Result<FlexibleView, ToolError> {
    Ok(match ctx.user() {
        Some(user) => FlexibleView {
            tier: "premium".into(),
            message: format!("Welcome back, {}!", user.name().unwrap_or("User")),
            user_id: Some(user.subject.clone()),
            features: ["basic", "advanced", "export", "share"]
                .map(String::from)
                .to_vec(),
            personalized: true,
        },
        None => FlexibleView {
            tier: "free".into(),
            message: "Welcome! Sign in to unlock premium features.".into(),
            user_id: None,
            features: vec!["basic".into()],
            personalized: false,
        },
    })
}

/// Adds the seed-003 trio (protected / public / flexible) to an app with auth.
fn with_auth_trio(b: widgetry::app::AppBuilder) -> widgetry::app::AppBuilder {
    b.widget(
        Widget::new("account")
            .description("Who is signed in, and what they may do")
            .prefers_border(true),
    )
    .tool(
        Tool::new("protected-widget", protected_widget)
            .title("Protected Widget")
            .description("This widget requires authentication with user and read:data scopes")
            .invoking("Loading protected widget...")
            .invoked("Protected widget loaded!")
            .auth(Auth::required(["user", "read:data"]))
            .widget("account"),
    )
    .tool(
        Tool::new("public-widget", public_widget)
            .title("Public Widget")
            .description("This widget is public - no authentication required")
            .invoking("Loading public widget...")
            .invoked("Public widget loaded!")
            .auth(Auth::none())
            .widget("account"),
    )
    .tool(
        Tool::new("flexible-widget", flexible_widget)
            .title("Flexible Widget")
            .description("This widget works for both authenticated and anonymous users")
            .invoking("Loading flexible widget...")
            .invoked("Flexible widget loaded!")
            .auth(Auth::optional(["user"]))
            .widget("account"),
    )
}

/// Scopes the showcase's embedded authorization server knows.
const SCOPES: &[&str] = &["user", "read:data", "write:data", "admin", "likes:write"];

/// Builds the showcase app: the list widget, the seed-003 auth trio, the likes gallery,
/// and (with the embedded authorization server) the session sign-in widget.
fn app(
    setup: &AuthSetup,
    stores: widgetry::store::Stores,
    settings: &Settings,
    widget_keys: WidgetKeys,
    public_origin: &str,
) -> Result<App, widgetry::app::AppError> {
    let mut b = App::builder("widgetry-showcase", env!("CARGO_PKG_VERSION"))
        .http(widgetry::HttpConfig::default().session_store(stores.sessions))
        .settings(settings)
        .widget_token_keys(widget_keys);
    b = gallery::add(
        with_auth_trio(b.auth(setup.config(&[]))),
        gallery::Likes::new(stores.kv.clone()),
    );
    if let Some(embedded) = setup.embedded() {
        let dev = widgetry::app::dev_requested();
        let mut config = SignInConfig::new(public_origin);
        config.trusted_proxies = settings.trusted_proxies.clone();
        let signin = SignIn::new(
            config,
            stores.kv.clone(),
            embedded.directory(),
            Arc::new(ConsoleSender),
        )
        .allow_dev_origins(dev);
        b = signin.register(b).router_extension(embedded.router());
    }
    b.instructions("Widgetry showcase. `show_list` renders the launch checklist widget.")
        .widgets(widgetry::embed_widgets!())
        .widget(
            Widget::new("list")
                .description("A checklist with items and their status")
                .prefers_border(true),
        )
        .tool(
            Tool::new("show_list", show_list)
                .title("Show the launch checklist")
                .description("Shows the launch checklist as a list widget.")
                .read_only()
                .invoking("Loading the checklist…")
                .invoked("Checklist ready")
                .auth(Auth::none())
                .widget("list"),
        )
        .tool(
            Tool::new("item_details", item_details)
                .title("Item details")
                .description("Details of one checklist item (used by the widget's Details button).")
                .read_only()
                .visibility(Visibility::App)
                .auth(Auth::none()),
        )
        .tool(
            Tool::new("server_time", server_time)
                .title("Server time")
                .description("The server's clock.")
                .read_only(),
        )
        .build()
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => fail(&e.to_string()),
    };
    let mut stdio = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => settings.bind.set_port(p),
                None => fail("--port needs a number"),
            },
            "--stdio" => stdio = true,
            "-h" | "--help" => {
                println!("usage: showcase [--port N] [--stdio]");
                return;
            }
            other => fail(&format!("unknown argument {other:?} (try --help)")),
        }
    }
    let listener = if stdio {
        None
    } else {
        match tokio::net::TcpListener::bind(settings.bind).await {
            Ok(l) => Some(l),
            Err(e) => fail(&format!("cannot listen on {}: {e}", settings.bind)),
        }
    };
    let bound = listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .unwrap_or(settings.bind);
    let local = format!("http://{bound}");
    let public_origin = settings.public_origin(bound);
    let setup = match AuthSetup::from_settings(&settings, bound, SCOPES).await {
        Ok(s) => s,
        Err(e) => fail(&e.to_string()),
    };
    let demo = match setup.embedded() {
        Some(e) => match demo_user(e).await {
            Ok(d) => Some(d),
            Err(e) => fail(&format!("cannot create the demo user: {e}")),
        },
        None => None,
    };
    let stores = match settings.open_stores().await {
        Ok(s) => s,
        Err(e) => fail(&format!("cannot open the data store: {e}")),
    };
    let widget_keys = match settings.widget_keys(stores.kv.as_ref()).await {
        Ok(k) => k,
        Err(e) => fail(&e.to_string()),
    };
    let kv = stores.kv.clone();
    let app = match app(&setup, stores, &settings, widget_keys, &public_origin) {
        Ok(a) => a,
        Err(e) => fail(&e.to_string()),
    };
    let result = match listener {
        None => app.serve_stdio().await,
        Some(listener) => {
            println!("listening on {local}/mcp");
            match &setup {
                AuthSetup::Embedded(e) => {
                    println!("authorization server: {} (embedded)", e.server().issuer())
                }
                AuthSetup::External(c) => println!("authorization server: {} (external)", c.issuer),
            }
            match &demo {
                Some((email, Some(password))) => println!("demo user: {email} / {password}"),
                Some((email, None)) => println!("demo user: {email} (password shown when it was created; set WIDGETRY_DEMO_PASSWORD to choose it)"),
                None => {}
            }
            println!("host page: {local}/_widgetry/host");
            for (name, uri) in app.widget_uris() {
                println!("widget {name}: {uri}");
            }
            use std::io::Write;
            let _ = std::io::stdout().flush();
            app.serve_with(listener, &settings, Some(kv)).await
        }
    };
    if let Err(e) = result {
        fail(&e.to_string());
    }
}

/// Creates the demo user on first start; returns its email and, when just created (or
/// set through `WIDGETRY_DEMO_PASSWORD`), its password.
async fn demo_user(
    e: &widgetry::embedded::EmbeddedAuth,
) -> Result<(String, Option<String>), String> {
    let email = "demo@widgetry.dev".to_string();
    let fixed = std::env::var("WIDGETRY_DEMO_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let password = fixed
        .clone()
        .unwrap_or_else(widgetry::EmbeddedAuth::demo_password);
    let created = e
        .ensure_user(&email, "Demo User", &password, SCOPES)
        .await?;
    Ok((email, (created || fixed.is_some()).then_some(password)))
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1)
}
