//! [`Runner`]: runs an app the way `widgetry dev` and production both need, in one call.
//! In order: the command line ([`Args`]), the deployment [`Settings`] from the
//! environment, the listener, the stores, the app's own tools (the [`Runner::app`]
//! hooks), the authorization server (embedded unless `AUTHORIZATION_SERVER_URL` names an
//! external one, supporting every scope the tools ask for), the [`Runner::embedded_auth`]
//! hooks, the demo user, the start-up lines, then serving until SIGTERM or Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use widgetry_store::{KvStore, StoreConfig, Stores};

use super::args::{Args, UsageError};
#[cfg(feature = "authz")]
use super::demo::{password_file, DemoUser};
use crate::app::{dev_requested, App, AppBuilder, AppError};
use crate::auth::widget_keys::WidgetKeyError;
use crate::auth::ConfigError;
#[cfg(not(feature = "authz"))]
use crate::describe::AuthPolicy;
use crate::describe::Description;
#[cfg(feature = "authz")]
use crate::embedded::{AuthSetup, EmbeddedAuth};
use crate::ops::{Settings, SettingsError};

/// A hook adding the app's tools, widgets and routes.
type AppHook = Box<dyn FnOnce(AppBuilder, &Setup) -> AppBuilder + Send>;
/// A hook using the embedded authorization server (the sign-in widget, say).
#[cfg(feature = "authz")]
type EmbeddedHook = Box<dyn FnOnce(AppBuilder, &Setup, &EmbeddedAuth) -> AppBuilder + Send>;

/// Runs an app: configuration from the environment, `--port N`, `--stdio`, `--describe`,
/// `--help`; logging (`RUST_LOG`, default `info`, on stderr); the embedded authorization
/// server unless `AUTHORIZATION_SERVER_URL` is set; development mode only when asked
/// (`WIDGETRY_DEV=1`, with a [`DemoUser`]); the stores and data directory of the
/// [`Settings`]; a start-up line per URL; graceful shutdown; a one-line error and exit
/// status 1 (2 for a bad command line) instead of a panic.
///
/// ```no_run
/// use widgetry::app::{App, AppBuilder, NoInput, Tool};
/// use widgetry::runner::Setup;
/// use widgetry::{Auth, RequestContext, ToolError};
///
/// async fn hello(_: RequestContext, _: NoInput) -> Result<String, ToolError> {
///     Ok("hello".into())
/// }
///
/// /// Tools that need the app's stores are added once they are open.
/// fn tools(app: AppBuilder, setup: &Setup) -> AppBuilder {
///     let _kv = setup.kv();
///     app.tool(Tool::new("hello", hello).auth(Auth::required(["hello:read"])))
/// }
///
/// fn main() -> std::process::ExitCode {
///     App::builder("hello", "1.0.0").runner().app(tools).run()
/// }
/// ```
pub struct Runner {
    builder: AppBuilder,
    app: Vec<AppHook>,
    #[cfg(feature = "authz")]
    embedded: Vec<EmbeddedHook>,
    scopes: Vec<String>,
    #[cfg(feature = "authz")]
    demo: DemoUser,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("app_hooks", &self.app.len())
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// What the runner has set up, for the hooks: the settings, the open stores, the public
/// origin, and whether this is development or a `--describe` run.
pub struct Setup {
    settings: Settings,
    stores: Stores,
    public_origin: String,
    dev: bool,
    describing: bool,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("public_origin", &self.public_origin)
            .field("dev", &self.dev)
            .field("describing", &self.describing)
            .finish()
    }
}

impl Setup {
    /// The deployment settings (after `--port`).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The app's durable key-value store (SQLite in the data directory, or
    /// `WIDGETRY_DATABASE_URL`).
    pub fn kv(&self) -> Arc<dyn KvStore> {
        self.stores.kv.clone()
    }

    /// The session and key-value stores.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The origin users and hosts reach the app at (`https://app.example.com`, or
    /// `http://<bound address>`).
    pub fn public_origin(&self) -> &str {
        &self.public_origin
    }

    /// Whether development mode was asked for (`WIDGETRY_DEV=1`).
    pub fn dev(&self) -> bool {
        self.dev
    }

    /// Whether this is a `--describe` run: the stores are throwaway ones in a temporary
    /// folder and nothing will be served.
    pub fn describing(&self) -> bool {
        self.describing
    }
}

/// Why an app could not run. Each message is one line naming what to fix (an
/// [`AppError`] lists every problem it found).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The command line.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// A configuration variable.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source} (set PORT or --port, or stop what uses it)")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A store cannot be opened.
    #[error("cannot open the data store: {0}")]
    Store(#[from] widgetry_store::StoreError),
    /// The authorization set-up.
    #[error(transparent)]
    Auth(#[from] ConfigError),
    /// The widget-token keys.
    #[error("widget-token keys: {0}")]
    WidgetKeys(#[from] WidgetKeyError),
    /// The demo user.
    #[error("cannot create the demo user: {0}")]
    DemoUser(String),
    /// A tool needs sign-in, no external issuer is configured, and this build has no
    /// embedded authorization server.
    #[error("a tool needs sign-in: set AUTHORIZATION_SERVER_URL (this build has no embedded authorization server: cargo feature `authz`)")]
    NoAuthorizationServer,
    /// The app is misconfigured.
    #[error(transparent)]
    App(#[from] AppError),
    /// Serving failed, or the output could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The async runtime cannot start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl RunError {
    /// The exit status: 2 for a bad command line, 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            RunError::Usage(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

impl AppBuilder {
    /// A [`Runner`] for this app, to add hooks to.
    pub fn runner(self) -> Runner {
        Runner::new(self)
    }

    /// Runs this app with [`Runner::run`] (no hooks): for apps whose tools need none of
    /// the runner's stores.
    pub fn run(self) -> ExitCode {
        self.runner().run()
    }
}

impl Runner {
    /// Runs `builder` (its name, version, instructions, widgets, and tools so far).
    pub fn new(builder: AppBuilder) -> Self {
        Self {
            builder,
            app: Vec::new(),
            #[cfg(feature = "authz")]
            embedded: Vec::new(),
            scopes: Vec::new(),
            #[cfg(feature = "authz")]
            demo: DemoUser::default(),
        }
    }

    /// Adds tools, widgets, actions or routes once the stores are open (hooks run in the
    /// order they were added).
    pub fn app(
        mut self,
        hook: impl FnOnce(AppBuilder, &Setup) -> AppBuilder + Send + 'static,
    ) -> Self {
        self.app.push(Box::new(hook));
        self
    }

    /// Adds what needs the embedded authorization server (feature `authz`) (e.g. the sign-in widget, with
    /// its users as the [`Directory`](crate::signin::Directory)); skipped when the app
    /// trusts an external issuer. Its routes are merged by the runner. Scopes asked for
    /// by tools added here are not seen before the server starts: list them with
    /// [`Runner::scopes`].
    #[cfg(feature = "authz")]
    pub fn embedded_auth(
        mut self,
        hook: impl FnOnce(AppBuilder, &Setup, &EmbeddedAuth) -> AppBuilder + Send + 'static,
    ) -> Self {
        self.embedded.push(Box::new(hook));
        self
    }

    /// Scopes the embedded authorization server supports besides those the tools ask for
    /// (e.g. ones a handler checks with `has_scope`).
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The demo user (default: `demo@example.com`, in development only; feature `authz`).
    #[cfg(feature = "authz")]
    pub fn demo_user(mut self, demo: DemoUser) -> Self {
        self.demo = demo;
        self
    }

    /// Runs the app with the process's command line: sets up logging, starts a
    /// multi-threaded runtime and [`serves`](Runner::serve) until asked to stop. On
    /// failure prints `error: <why>` on stderr and returns status 1 (2 for usage).
    pub fn run(self) -> ExitCode {
        let argv = std::env::args_os().skip(1);
        let args = match Args::parse(argv.map(|a| a.to_string_lossy().into_owned())) {
            Ok(a) => a,
            Err(e) => return fail(&e.into()),
        };
        // A description is for a program to read: only warnings and errors on stderr.
        init_logging(if args.describe { "warn" } else { "info" });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(RunError::Runtime);
        match runtime.and_then(|rt| rt.block_on(self.serve(args))) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        }
    }

    /// Does what `args` ask: prints the help, the version or the app's
    /// [`Description`], or serves the app (HTTP or stdio) until SIGTERM, Ctrl-C or the end
    /// of stdin. Logging is the caller's (see [`Runner::run`]).
    pub async fn serve(self, args: Args) -> Result<(), RunError> {
        if args.help || args.version {
            let about = self.builder.describe();
            match args.help {
                true => println!("{}", Args::usage(&program_name().unwrap_or(about.name))),
                false => println!("{} {}", about.name, about.version),
            }
            return Ok(());
        }
        let mut settings = Settings::from_env()?;
        if let Some(port) = args.port {
            settings.bind.set_port(port);
        }
        if args.describe {
            let scratch = Scratch::new()?;
            settings.data_dir = scratch.0.clone();
            settings.stores = StoreConfig::from_values(None, None, &scratch.0)?;
            let description = self.describe(settings).await;
            drop(scratch);
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &description?).map_err(std::io::Error::from)?;
            writeln!(out)?;
            return Ok(());
        }
        let listener = match args.stdio {
            true => None,
            false => Some(tokio::net::TcpListener::bind(settings.bind).await.map_err(
                |source| RunError::Listen {
                    addr: settings.bind,
                    source,
                },
            )?),
        };
        let bound = listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .unwrap_or(settings.bind);
        let Started {
            builder,
            setup,
            auth,
            demo,
        } = self.start(settings, bound, false).await?;
        let app = builder.build()?;
        let up = Up {
            app: &app,
            setup: &setup,
            auth: auth.as_deref(),
            demo: demo.as_deref(),
        };
        let lines = up.lines(bound, listener.is_some());
        let Some(listener) = listener else {
            // stdout carries MCP: the start-up lines go to stderr.
            let mut err = std::io::stderr().lock();
            for l in &lines {
                writeln!(err, "{l}")?;
            }
            drop(err);
            return Ok(app.serve_stdio().await?);
        };
        {
            let mut out = std::io::stdout().lock();
            for l in &lines {
                writeln!(out, "{l}")?;
            }
            out.flush()?;
        }
        let kv = setup.kv();
        Ok(app.serve_with(listener, &setup.settings, Some(kv)).await?)
    }

    /// The app's description, set up as for serving but on the throwaway stores of
    /// `settings` (a `--describe` run).
    async fn describe(self, settings: Settings) -> Result<Description, RunError> {
        let bound = settings.bind;
        let scopes = self.scopes.clone();
        let started = self.start(settings, bound, true).await?;
        let mut d = started.builder.describe();
        d.add_scopes(&scopes);
        Ok(d)
    }

    /// Everything up to building the app: stores, hooks, authorization, demo user.
    async fn start(
        self,
        settings: Settings,
        bound: SocketAddr,
        describing: bool,
    ) -> Result<Started, RunError> {
        let stores = settings.open_stores().await?;
        let setup = Setup {
            public_origin: settings.public_origin(bound),
            dev: dev_requested(),
            describing,
            stores,
            settings,
        };
        let mut b = self
            .builder
            .session_store(setup.stores.sessions.clone())
            .settings(&setup.settings);
        if !describing {
            // Signed with the configured keys, else the key in the shared store: every
            // instance verifies what another minted.
            b = b.widget_token_keys(setup.settings.widget_keys(setup.stores.kv.as_ref()).await?);
        }
        for hook in self.app {
            b = hook(b, &setup);
        }
        let mut wanted = b.describe();
        wanted.add_scopes(&self.scopes);
        #[cfg(feature = "authz")]
        let (b, auth, demo) = {
            let scopes: Vec<&str> = wanted.scopes.iter().map(String::as_str).collect();
            let auth = AuthSetup::from_settings(&setup.settings, bound, &scopes).await?;
            b = b.auth(auth.config(&[]));
            let mut demo = None;
            if let Some(embedded) = auth.embedded() {
                for hook in self.embedded {
                    b = hook(b, &setup, embedded);
                }
                // /oauth/* and the discovery documents.
                b = b.router_extension(embedded.router());
                let var = std::env::var("WIDGETRY_DEMO_USER").ok();
                if !describing && self.demo.wanted(setup.dev, var.as_deref()) {
                    let password = self
                        .demo
                        .ensure(embedded, &setup.settings.data_dir)
                        .await
                        .map_err(RunError::DemoUser)?;
                    demo = Some(demo_line(&self.demo, password, &setup.settings.data_dir));
                }
            }
            let auth = match &auth {
                AuthSetup::Embedded(e) => {
                    format!("authorization server: {} (embedded)", e.server().issuer())
                }
                AuthSetup::External(c) => {
                    format!("authorization server: {} (external)", c.issuer)
                }
            };
            (b, Some(auth), demo)
        };
        #[cfg(not(feature = "authz"))]
        let (b, auth, demo) = {
            let _ = (bound, describing);
            match crate::auth::AuthConfig::from_env()? {
                Some(c) => {
                    let line = format!("authorization server: {} (external)", c.issuer);
                    (b.auth(c), Some(line), None::<String>)
                }
                None if wanted.tools.iter().any(|t| t.auth != AuthPolicy::None)
                    || wanted.actions.iter().any(|a| a.auth != AuthPolicy::None) =>
                {
                    return Err(RunError::NoAuthorizationServer);
                }
                None => (b, None, None),
            }
        };
        Ok(Started {
            builder: b,
            setup,
            auth,
            demo,
        })
    }
}

/// An app set up and ready to build.
struct Started {
    builder: AppBuilder,
    setup: Setup,
    /// The start-up line naming the authorization server, when there is one.
    auth: Option<String>,
    /// The start-up line naming the demo user, when there is one.
    demo: Option<String>,
}

/// The start-up line of the demo user: its email and, when known, its password.
#[cfg(feature = "authz")]
fn demo_line(demo: &DemoUser, password: Option<String>, data_dir: &std::path::Path) -> String {
    let email = demo.email();
    match password {
        Some(password) => format!("demo user: {email} / {password}"),
        None => format!(
            "demo user: {email} (its password is not known here: set WIDGETRY_DEMO_PASSWORD, or remove {} and the user to start over)",
            password_file(data_dir).display()
        ),
    }
}

/// A built app with what it was set up with.
struct Up<'a> {
    app: &'a App,
    setup: &'a Setup,
    /// The start-up line naming the authorization server.
    auth: Option<&'a str>,
    /// The start-up line naming the demo user.
    demo: Option<&'a str>,
}

impl Up<'_> {
    /// What the app prints once it is up: where it listens (HTTP only), its public URL
    /// when another, the host page, the authorization server, the demo user, the widgets.
    fn lines(&self, bound: SocketAddr, http: bool) -> Vec<String> {
        let Up {
            app,
            setup,
            auth,
            demo,
        } = self;
        let local = format!("http://{bound}");
        let mut lines = Vec::new();
        if http {
            lines.push(format!("listening on {local}/mcp"));
            if setup.public_origin != local {
                lines.push(format!("public URL: {}/mcp", setup.public_origin));
            }
            if app.serves_host_page() {
                lines.push(format!("host page: {local}/_widgetry/host"));
            }
        }
        lines.extend(auth.iter().chain(demo).map(|l| l.to_string()));
        for (name, uri) in app.widget_uris() {
            lines.push(format!("widget {name}: {uri}"));
        }
        lines
    }
}

/// A temporary folder for the throwaway stores of a `--describe` run, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("widgetry-describe-{}-{nanos}", std::process::id()));
        // A new folder of our own (never one that exists already), readable by us only.
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (else `default`); keeps a subscriber already set.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The file name this program was started as.
fn program_name() -> Option<String> {
    let argv0 = std::env::args_os().next()?;
    Some(
        std::path::Path::new(&argv0)
            .file_name()?
            .to_string_lossy()
            .into_owned(),
    )
}

fn fail(e: &RunError) -> ExitCode {
    eprintln!("error: {e}");
    e.exit_code()
}
