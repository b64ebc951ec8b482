//! `widgetry clients list|add|remove`: the OAuth clients of the app's embedded
//! authorization server. `add` pre-registers one (e.g. a ChatGPT connector with its
//! redirect URI); `list` also shows dynamically registered clients.

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;
use widgetry_authz::{Client, ClientKind, NewClient};

use super::users::{date, table, StoreArgs, STORE_HELP};
use super::CommandError;
use crate::cli::{Arg, Lexer, Parsed, UsageError};

/// `widgetry clients --help`.
pub fn help() -> String {
    format!(
        "Manage the OAuth clients of the app's embedded authorization server.

Usage: widgetry clients list [--json]
       widgetry clients add <NAME> --redirect-uri URI [--redirect-uri URI…] [--id ID]
                            [--confidential] [--scopes A,B] [--no-refresh-tokens]
       widgetry clients remove <CLIENT_ID>

add options:
      --redirect-uri URI   an exact redirect URI (https, or http on 127.0.0.1/localhost);
                           repeatable. ChatGPT's: https://chatgpt.com/connector_platform_oauth_redirect
      --id ID              the client_id (default: a random one)
      --confidential       give the client a secret (printed once)
      --scopes A,B         scopes it may request (default: any the app supports)
      --no-refresh-tokens  no refresh tokens for this client

{STORE_HELP}"
    )
}

#[derive(Debug)]
enum Action {
    List {
        json: bool,
    },
    Add {
        name: String,
        redirect_uris: Vec<String>,
        id: Option<String>,
        confidential: bool,
        scopes: Option<Vec<String>>,
        refresh: bool,
    },
    Remove {
        id: String,
    },
}

/// A validated `widgetry clients` invocation.
#[derive(Debug)]
pub struct Config {
    action: Action,
    store: StoreArgs,
}

/// Parses the arguments after `clients`.
pub fn parse(lexer: &mut Lexer) -> Result<Parsed<Config>, UsageError> {
    let mut store = StoreArgs::default();
    let mut positional = Vec::new();
    let mut redirect_uris = Vec::new();
    let (mut id, mut confidential, mut scopes, mut refresh, mut json) =
        (None, false, Vec::new(), true, false);
    let mut add_only = false;
    while let Some(arg) = lexer.next()? {
        if store.accept(&arg, lexer)? {
            continue;
        }
        match arg {
            Arg::Long(l) if l == "--redirect-uri" => {
                redirect_uris.push(lexer.value(&l)?);
                add_only = true;
            }
            Arg::Long(l) if l == "--id" => {
                id = Some(lexer.value(&l)?);
                add_only = true;
            }
            Arg::Long(l) if l == "--confidential" => {
                confidential = true;
                add_only = true;
            }
            Arg::Long(l) if l == "--scopes" || l == "--scope" => {
                scopes.push(lexer.value(&l)?);
                add_only = true;
            }
            Arg::Long(l) if l == "--no-refresh-tokens" => {
                refresh = false;
                add_only = true;
            }
            Arg::Long(l) if l == "--json" => json = true,
            Arg::Long(l) if l == "--help" => return Ok(Parsed::Help(help())),
            Arg::Short('h') => return Ok(Parsed::Help(help())),
            Arg::Positional(p) => positional.push(p),
            Arg::Long(l) => return Err(UsageError(format!("unknown option {l}"))),
            Arg::Short(c) => return Err(UsageError(format!("unknown option -{c}"))),
        }
    }
    let sub = positional.first().map(String::as_str);
    if add_only && sub != Some("add") {
        return Err(UsageError(
            "--redirect-uri, --id, --confidential, --scopes and --no-refresh-tokens go with `clients add`".into(),
        ));
    }
    let action = match sub {
        None => return Ok(Parsed::Help(help())),
        Some("list" | "ls") => {
            if positional.len() > 1 {
                return Err(UsageError(format!(
                    "unexpected argument {:?}",
                    positional[1]
                )));
            }
            Action::List { json }
        }
        Some("add") => {
            let [_, name] = positional.as_slice() else {
                return Err(UsageError(
                    "usage: widgetry clients add <NAME> --redirect-uri URI".into(),
                ));
            };
            if redirect_uris.is_empty() {
                return Err(UsageError(
                    "`clients add` needs at least one --redirect-uri".into(),
                ));
            }
            let scopes = super::add::split_scopes(&scopes);
            for s in &scopes {
                super::add::check_scope(s)?;
            }
            Action::Add {
                name: name.clone(),
                redirect_uris,
                id,
                confidential,
                scopes: (!scopes.is_empty()).then_some(scopes),
                refresh,
            }
        }
        Some("remove" | "rm") => {
            let [_, id] = positional.as_slice() else {
                return Err(UsageError(
                    "usage: widgetry clients remove <CLIENT_ID>".into(),
                ));
            };
            Action::Remove { id: id.clone() }
        }
        Some(other) => {
            return Err(UsageError(format!(
                "`widgetry clients {other}`: use list, add or remove"
            )))
        }
    };
    if json && !matches!(action, Action::List { .. }) {
        return Err(UsageError("--json goes with `clients list`".into()));
    }
    Ok(Parsed::Run(Config { action, store }))
}

fn kind(k: ClientKind) -> &'static str {
    match k {
        ClientKind::PreRegistered => "pre-registered",
        ClientKind::Dynamic => "dynamic",
        ClientKind::MetadataDocument => "metadata document",
    }
}

fn client_json(c: &Client) -> serde_json::Value {
    json!({
        "client_id": c.client_id,
        "name": c.name,
        "kind": kind(c.kind),
        "redirect_uris": c.redirect_uris,
        "grant_types": c.grant_types,
        "token_endpoint_auth_method": c.token_endpoint_auth_method,
        "scope": c.scope,
        "created_at": c.created_at,
        "last_used_at": c.last_used_at,
    })
}

/// Runs `widgetry clients`.
pub async fn run(config: Config) -> Result<ExitCode, CommandError> {
    let target = config.store.resolve()?;
    let failed = |e: widgetry_authz::AuthzError| CommandError::Failed(e.to_string());
    match config.action {
        Action::List { json } => {
            let server = target.open(false, &[]).await?;
            let clients = server.clients().list().await.map_err(failed)?;
            let mut out = std::io::stdout().lock();
            if json {
                let list: Vec<_> = clients.iter().map(client_json).collect();
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&json!({ "clients": list })).unwrap_or_default()
                )?;
            } else if clients.is_empty() {
                writeln!(
                    out,
                    "no clients (hosts register themselves, or add one with `widgetry clients add NAME --redirect-uri URI`)"
                )?;
            } else {
                let mut rows = vec![[
                    "CLIENT ID",
                    "NAME",
                    "KIND",
                    "AUTH",
                    "REDIRECT URIS",
                    "CREATED (UTC)",
                ]
                .map(String::from)
                .to_vec()];
                for c in &clients {
                    rows.push(vec![
                        c.client_id.clone(),
                        c.name.clone(),
                        kind(c.kind).into(),
                        c.token_endpoint_auth_method.clone(),
                        c.redirect_uris.join(" "),
                        date(c.created_at),
                    ]);
                }
                write!(out, "{}", table(&rows))?;
            }
        }
        Action::Add {
            name,
            redirect_uris,
            id,
            confidential,
            scopes,
            refresh,
        } => {
            if let Some(s) = &scopes {
                target.warn_undeclared(s);
            }
            let server = target
                .open(true, scopes.as_deref().unwrap_or_default())
                .await?;
            let mut new = NewClient::new(name, redirect_uris).confidential(confidential);
            new.refresh_tokens = refresh;
            if let Some(id) = id {
                new = new.client_id(id);
            }
            if let Some(s) = scopes {
                new = new.scopes(s);
            }
            let reg = server.clients().add(new).await.map_err(failed)?;
            println!("client_id: {}", reg.client.client_id);
            if let Some(secret) = reg.client_secret {
                println!("client_secret: {secret}");
                eprintln!("widgetry: the secret is shown once; only its hash is stored");
            }
            println!("redirect URIs: {}", reg.client.redirect_uris.join(" "));
            println!(
                "token endpoint auth: {}",
                reg.client.token_endpoint_auth_method
            );
        }
        Action::Remove { id } => {
            let server = target.open(false, &[]).await?;
            if server.clients().remove(&id).await.map_err(failed)? {
                println!("removed client {id} and revoked its grants");
            } else {
                return Err(CommandError::Failed(format!("no client with id {id:?}")));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
