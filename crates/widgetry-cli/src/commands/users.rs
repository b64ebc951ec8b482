//! `widgetry users add|list|remove`: the users of an app's embedded authorization server.
//!
//! Also home of [`StoreArgs`] / [`AuthzTarget`], shared with `widgetry token` and
//! `widgetry clients`: they open the same store the app does (`WIDGETRY_DATABASE_URL` when
//! it is a PostgreSQL URL, else `<data dir>/authz.sqlite3`, the data directory being
//! `--data-dir`, `WIDGETRY_DATA_DIR`, or the app's `.widgetry`) with the same issuer and
//! resource (`--url`, `RESOURCE_SERVER_URL`, default `http://127.0.0.1:8000/mcp`), so
//! tokens minted here are the app's own.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use serde_json::json;
use widgetry_authz::{AuthorizationServer, AuthzConfig, NewUser, User};

use super::build::{absolute, Project};
use super::CommandError;
use crate::options::{UsageError, DEFAULT_URL};
use crate::output::columns;

/// The store options (the app's embedded authorization server), accepted before or
/// after a subcommand.
#[derive(Debug, Default, clap::Args)]
#[command(next_help_heading = "Store options (the app's embedded authorization server)")]
pub struct StoreArgs {
    /// The app's data folder [env: WIDGETRY_DATA_DIR] [default: .widgetry in the app found
    /// upwards from the current folder, else ./.widgetry]; the store is DIR/authz.sqlite3,
    /// or WIDGETRY_DATABASE_URL when it is a postgres:// URL
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The app's MCP URL, which gives the issuer and token audience
    /// [env: RESOURCE_SERVER_URL] [default: http://127.0.0.1:8000/mcp]
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    /// The app's folder (for its data folder, and its scopes: the app is built and asked
    /// with `--describe`)
    #[arg(long, global = true, value_name = "DIR")]
    project: Option<PathBuf>,
}

impl StoreArgs {
    /// Resolves the store, the resource and the app's declared scopes.
    pub fn resolve(self) -> Result<AuthzTarget, CommandError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let project = match &self.project {
            Some(p) => Some(Project::find(Some(p))?),
            None => Project::search(),
        };
        let data_dir = match (&self.data_dir, &project) {
            (Some(d), _) => absolute(d),
            (None, Some(p)) => p.data_dir(),
            (None, None) => absolute(Path::new(
                &env("WIDGETRY_DATA_DIR").unwrap_or_else(|| ".widgetry".into()),
            )),
        };
        let (store, sqlite) = match env("WIDGETRY_DATABASE_URL") {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => (u, None),
            _ => {
                let p = widgetry_authz::default_store_path(&data_dir);
                (p.display().to_string(), Some(p))
            }
        };
        let resource = self
            .url
            .or_else(|| env("RESOURCE_SERVER_URL"))
            .unwrap_or_else(|| DEFAULT_URL.into());
        let resource = resource.trim().to_string();
        let (scheme_end, rest) = match resource.find("://") {
            Some(i) => (i + 3, &resource[i + 3..]),
            None => {
                return Err(CommandError::Usage(UsageError(format!(
                    "--url: {resource:?} is not an http(s) URL"
                ))))
            }
        };
        let issuer = match rest.find('/') {
            Some(p) => resource[..scheme_end + p].to_string(),
            None => resource.clone(),
        };
        Ok(AuthzTarget {
            store,
            sqlite,
            issuer,
            resource,
            declared: project.as_ref().and_then(crate::describe::scopes),
        })
    }
}

/// Where the embedded authorization server's data is, and for which resource.
#[derive(Debug)]
pub struct AuthzTarget {
    /// A SQLite path or a PostgreSQL URL.
    pub store: String,
    /// The SQLite file, when it is one.
    pub sqlite: Option<PathBuf>,
    /// The issuer (the resource's origin, as the app derives it).
    pub issuer: String,
    /// The app's `/mcp` URL (the token audience).
    pub resource: String,
    /// The scopes the app's tools ask for (`--describe`), when it could be asked.
    pub declared: Option<Vec<String>>,
}

impl AuthzTarget {
    /// Opens the server. `create` allows creating a new SQLite store; otherwise a missing
    /// one is an error (a wrong folder should not silently get an empty store).
    /// `scopes` are supported on top of the app's declared ones.
    pub async fn open(
        &self,
        create: bool,
        scopes: &[String],
    ) -> Result<AuthorizationServer, CommandError> {
        if let (Some(p), false) = (&self.sqlite, create) {
            if !p.exists() {
                return Err(CommandError::Failed(format!(
                    "no authorization server data at {}: start the app once (`widgetry dev`), or pass --data-dir",
                    p.display()
                )));
            }
        }
        let mut config = AuthzConfig::new(self.issuer.clone(), self.resource.clone());
        let mut supported: Vec<String> = self.declared.clone().unwrap_or_default();
        for s in scopes {
            if !supported.contains(s) {
                supported.push(s.clone());
            }
        }
        config.scopes_supported = supported;
        config.sweep_interval = Duration::ZERO;
        if let Ok(key) = std::env::var("WIDGETRY_KEY_ENCRYPTION_KEY") {
            config.key_encryption_key = Some(key);
        }
        let store = widgetry_authz::open_store(&self.store).await.map_err(|e| {
            CommandError::Failed(format!("cannot open the store {}: {e}", self.store))
        })?;
        AuthorizationServer::open(config, store)
            .await
            .map_err(|e| CommandError::Failed(format!("cannot open the authorization server: {e}")))
    }

    /// Warns about scopes the app does not declare.
    pub fn warn_undeclared(&self, scopes: &[String]) {
        let Some(declared) = &self.declared else {
            return;
        };
        let missing: Vec<&str> = scopes
            .iter()
            .filter(|s| !declared.contains(s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "widgetry: warning: no tool of the app asks for {} (the app's authorization server supports only the scopes its tools ask for), so nothing grants {}",
                missing.join(", "),
                if missing.len() == 1 { "it" } else { "them" }
            );
        }
    }
}

/// A command on the app's embedded authorization server: a subcommand `A` and the store
/// options (`widgetry users`, `widgetry clients`).
#[derive(Debug, clap::Args)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct StoreCommand<A: clap::Subcommand> {
    /// The subcommand.
    #[command(subcommand)]
    pub action: A,
    /// Where the store is.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `widgetry users`: manage the users of the app's embedded authorization server.
pub type Args = StoreCommand<Action>;

/// The subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Add a user
    Add {
        /// The user's email (their sign-in name)
        email: String,
        /// Display name [default: the email]
        #[arg(long)]
        name: Option<String>,
        /// The password (at least 8 characters); without it the command asks for it
        /// (hidden, twice) on a terminal, or reads one line from standard input
        #[arg(long)]
        password: Option<String>,
        /// Scopes the user may grant (comma or space separated, repeatable) [default:
        /// every scope the app supports]
        #[arg(long, alias = "scope", value_name = "A,B", value_parser = super::add::scope_arg)]
        scopes: Vec<String>,
        /// Print the new user as JSON
        #[arg(long)]
        json: bool,
    },
    /// List the users
    #[command(visible_alias = "ls")]
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Remove a user and revoke the grants they made
    #[command(visible_alias = "rm")]
    Remove {
        /// The user's email
        email: String,
    },
}

/// Reads a password: hidden and twice on a terminal (through `stty -echo`), else one line
/// of standard input.
pub fn read_password(prompt: &str) -> Result<String, CommandError> {
    let stdin = std::io::stdin();
    let read_line = || -> Result<String, CommandError> {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    };
    if !stdin.is_terminal() {
        return read_line();
    }
    let stty = |arg: &str| {
        Command::new("stty")
            .arg(arg)
            .stdin(Stdio::inherit())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let ask = |p: &str| -> Result<String, CommandError> {
        eprint!("{p}");
        std::io::stderr().flush()?;
        let hidden = stty("-echo");
        let line = read_line();
        if hidden {
            stty("echo");
            eprintln!();
        }
        line
    };
    if !stty("-g") {
        eprintln!("widgetry: note: stty is unavailable, so the password will show as you type");
    }
    let first = ask(prompt)?;
    let second = ask("Again: ")?;
    if first != second {
        return Err(CommandError::Failed("the passwords differ".into()));
    }
    Ok(first)
}

/// `2024-05-01 12:30` (UTC) from seconds since the epoch.
pub fn date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn user_json(u: &User) -> serde_json::Value {
    json!({
        "id": u.id,
        "username": u.username,
        "name": u.name,
        "scopes": u.scopes,
        "totp": u.has_totp,
        "created_at": u.created_at,
    })
}

fn scopes_text(s: &Option<Vec<String>>) -> String {
    match s {
        None => "(all)".into(),
        Some(v) if v.is_empty() => "-".into(),
        Some(v) => v.join(" "),
    }
}

/// Runs `widgetry users`.
pub async fn run(args: Args) -> Result<ExitCode, CommandError> {
    let target = args.store.resolve()?;
    match args.action {
        Action::Add {
            email,
            name,
            password,
            scopes,
            json,
        } => {
            let scopes = super::add::split_scopes(&scopes);
            let scopes = (!scopes.is_empty()).then_some(scopes);
            if let Some(s) = &scopes {
                target.warn_undeclared(s);
            }
            let password = match password {
                Some(p) => p,
                None => read_password(&format!("Password for {email}: "))?,
            };
            let server = target
                .open(true, scopes.as_deref().unwrap_or_default())
                .await?;
            let mut new = NewUser::new(email.clone(), password);
            if let Some(n) = name {
                new = new.name(n);
            }
            if let Some(s) = scopes {
                new = new.scopes(s);
            }
            let user = server
                .users()
                .add(new)
                .await
                .map_err(|e| CommandError::Failed(e.to_string()))?;
            if json {
                crate::output::json(&user_json(&user))?;
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "added {} (subject {}), may grant: {}",
                user.username,
                user.id,
                match &user.scopes {
                    None => "every scope the app supports".to_string(),
                    Some(s) if s.is_empty() => "no scopes".to_string(),
                    Some(s) => s.join(" "),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::List { json } => {
            let server = target.open(false, &[]).await?;
            let users = server
                .users()
                .list()
                .await
                .map_err(|e| CommandError::Failed(e.to_string()))?;
            let mut out = crate::output::stdout();
            if json {
                let list: Vec<_> = users.iter().map(user_json).collect();
                crate::output::json(&json!({ "users": list }))?;
            } else if users.is_empty() {
                writeln!(out, "no users (add one with `widgetry users add EMAIL`)")?;
            } else {
                let mut rows = vec![[
                    "USER",
                    "NAME",
                    "MAY GRANT",
                    "TOTP",
                    "CREATED (UTC)",
                    "SUBJECT",
                ]
                .map(String::from)
                .to_vec()];
                for u in &users {
                    rows.push(vec![
                        u.username.clone(),
                        u.name.clone(),
                        scopes_text(&u.scopes),
                        if u.has_totp { "yes" } else { "no" }.into(),
                        date(u.created_at),
                        u.id.clone(),
                    ]);
                }
                write!(out, "{}", columns(&rows))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Remove { email } => {
            let server = target.open(false, &[]).await?;
            let removed = server
                .users()
                .remove(&email)
                .await
                .map_err(|e| CommandError::Failed(e.to_string()))?;
            if removed {
                println!("removed {email} and revoked the grants they made");
                Ok(ExitCode::SUCCESS)
            } else {
                Err(CommandError::Failed(format!("no user named {email:?}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(date(0), "1970-01-01 00:00");
        assert_eq!(date(1_714_566_600), "2024-05-01 12:30");
        assert_eq!(date(951_782_400), "2000-02-29 00:00");
    }

    #[test]
    fn the_issuer_is_the_origin_of_the_resource() {
        let t = StoreArgs {
            url: Some("http://127.0.0.1:9000/mcp".into()),
            data_dir: Some("/tmp/x".into()),
            project: None,
        }
        .resolve()
        .unwrap();
        assert_eq!(t.issuer, "http://127.0.0.1:9000");
        assert_eq!(t.resource, "http://127.0.0.1:9000/mcp");
    }
}
