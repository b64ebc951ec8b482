//! {{name}}: a Widgetry app (ChatGPT Apps / MCP Apps).
//!
//! `{{name}} [--port N] [--stdio]` serves `http://127.0.0.1:N/mcp` (default: `PORT`, else
//! 8000; `WIDGETRY_BIND=0.0.0.0` in a container, `WIDGETRY_PUBLIC_URL` behind a proxy),
//! with `/healthz`, `/readyz` and `/metrics`, or speaks MCP on stdin/stdout. While developing, run `widgetry dev` instead: it
//! rebuilds and restarts the app on changes and serves the local host page.
//!
//! Sign-in: with `AUTHORIZATION_SERVER_URL` unset the app runs its own OAuth 2.1
//! authorization server (users, clients and keys in `<data dir>/authz.sqlite3`, or
//! `WIDGETRY_DATABASE_URL`); set it (and `RESOURCE_SERVER_URL`) to trust Auth0, Okta or
//! Keycloak instead. The data directory is `WIDGETRY_DATA_DIR` (default `.widgetry`).

mod tools;

use std::io::Write;
use std::path::{Path, PathBuf};

use widgetry::app::App;
use widgetry::embedded::{AuthSetup, EmbeddedAuth};

/// The demo user created in development (see `demo_user`).
const DEMO_EMAIL: &str = "demo@example.com";

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    // The deployment configuration (every variable: the Widgetry README's table).
    let mut settings = widgetry::ops::Settings::from_env().unwrap_or_else(|e| fail(&e.to_string()));
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
                println!("usage: {} [--port N] [--stdio]", env!("CARGO_PKG_NAME"));
                return;
            }
            other => fail(&format!("unknown argument {other:?} (try --help)")),
        }
    }
    let dev = widgetry::app::dev_requested();
    let data_dir = settings.data_dir.clone();

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
    let public = settings.public_origin(bound);

    // The embedded authorization server (or the external issuer named by
    // AUTHORIZATION_SERVER_URL); tools declare their own policy with `.auth(..)`.
    let setup = AuthSetup::from_settings(&settings, bound, tools::SCOPES)
        .await
        .unwrap_or_else(|e| fail(&e.to_string()));
    let demo = match setup.embedded() {
        Some(e)
            if env_is("WIDGETRY_DEMO_USER", "1") || (dev && !env_is("WIDGETRY_DEMO_USER", "0")) =>
        {
            Some(
                demo_user(e, &data_dir)
                    .await
                    .unwrap_or_else(|e| fail(&format!("cannot create the demo user: {e}"))),
            )
        }
        _ => None,
    };
    let stores = settings
        .open_stores()
        .await
        .unwrap_or_else(|e| fail(&format!("cannot open the data store: {e}")));
    // Widget tokens are signed with the configured keys, else the key in the shared
    // store: every instance verifies what another minted.
    let widget_keys = settings
        .widget_keys(stores.kv.as_ref())
        .await
        .unwrap_or_else(|e| fail(&e.to_string()));
    let shared = tools::Shared {
        kv: stores.kv.clone(),
    };

    let mut builder = App::builder(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
        .instructions(tools::INSTRUCTIONS)
        .http(widgetry::HttpConfig::default().session_store(stores.sessions))
        .settings(&settings)
        .widget_token_keys(widget_keys)
        .auth(setup.config(&[]))
        .widgets(widgetry::embed_widgets!());
    if let Some(embedded) = setup.embedded() {
        // /oauth/* and the discovery documents of the embedded authorization server.
        builder = builder.router_extension(embedded.router());
    }
    let app = tools::register(builder, &shared)
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));

    let result = match listener {
        None => app.serve_stdio().await,
        Some(listener) => {
            println!("listening on {local}/mcp (public URL {public}/mcp)");
            if dev || env_is("WIDGETRY_HOST_PAGE", "1") {
                println!("host page: {local}/_widgetry/host");
            }
            match &setup {
                AuthSetup::Embedded(e) => {
                    println!("authorization server: {} (embedded)", e.server().issuer())
                }
                AuthSetup::External(c) => println!("authorization server: {} (external)", c.issuer),
            }
            match &demo {
                Some((email, Some(password))) => println!("demo user: {email} / {password}"),
                Some((email, None)) => println!(
                    "demo user: {email} (its password is not known here: remove {} and the user to start over)",
                    demo_password_file(&data_dir).display()
                ),
                None => {}
            }
            for (name, uri) in app.widget_uris() {
                println!("widget {name}: {uri}");
            }
            let _ = std::io::stdout().flush();
            app.serve_with(listener, &settings, Some(stores.kv.clone())).await
        }
    };
    if let Err(e) = result {
        fail(&e.to_string());
    }
}

fn env_is(name: &str, value: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.trim() == value)
}

fn demo_password_file(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-password")
}

/// Creates the demo user on first start (it may grant every scope in `tools::SCOPES`)
/// and returns its email and, when known, its password. The password is
/// `WIDGETRY_DEMO_PASSWORD`, else a random one kept in `<data dir>/demo-password`.
async fn demo_user(e: &EmbeddedAuth, data_dir: &Path) -> Result<(String, Option<String>), String> {
    let file = demo_password_file(data_dir);
    let password = std::env::var("WIDGETRY_DEMO_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| {
            std::fs::read_to_string(&file)
                .ok()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
        })
        .unwrap_or_else(EmbeddedAuth::demo_password);
    let users = e.server().users();
    let known = match users.get(DEMO_EMAIL).await.map_err(|e| e.to_string())? {
        None => {
            // No scope list: the user may grant every scope the app supports, including
            // the ones `widgetry add` declares later.
            users
                .add(demo_new_user(&password))
                .await
                .map_err(|e| e.to_string())?;
            true
        }
        Some(_) => users
            .verify_password(DEMO_EMAIL, &password)
            .await
            .map_err(|e| e.to_string())?
            .is_some(),
    };
    if known {
        let _ = std::fs::create_dir_all(data_dir);
        let _ = write_private(&file, &password);
    }
    Ok((DEMO_EMAIL.to_string(), known.then_some(password)))
}

/// Writes a file only its owner can read (on Unix).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

fn demo_new_user(password: &str) -> widgetry_authz::NewUser {
    widgetry_authz::NewUser::new(DEMO_EMAIL, password).name("Demo User")
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1)
}
