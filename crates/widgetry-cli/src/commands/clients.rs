//! `widgetry clients list|add|remove`: the OAuth clients of the app's embedded
//! authorization server. `add` pre-registers one (e.g. a ChatGPT connector with its
//! redirect URI); `list` also shows dynamically registered clients.

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;
use widgetry_authz::{Client, ClientKind, NewClient};

use super::users::{date, StoreCommand};
use super::CommandError;
use crate::output::columns;

/// `widgetry clients`: manage the OAuth clients of the app's embedded authorization
/// server.
pub type Args = StoreCommand<Action>;

/// The subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the clients (pre-registered, dynamically registered, metadata documents)
    #[command(visible_alias = "ls")]
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Pre-register a client (e.g. a ChatGPT connector with its redirect URI)
    Add {
        /// The client's name, shown on the consent page
        name: String,
        /// An exact redirect URI (https, or http on 127.0.0.1/localhost); repeatable.
        /// ChatGPT's: https://chatgpt.com/connector_platform_oauth_redirect
        #[arg(long = "redirect-uri", value_name = "URI", required = true)]
        redirect_uris: Vec<String>,
        /// The client_id [default: a random one]
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// Give the client a secret (printed once)
        #[arg(long)]
        confidential: bool,
        /// Scopes it may request (comma or space separated, repeatable) [default: any the
        /// app supports]
        #[arg(long, alias = "scope", value_name = "A,B", value_parser = super::add::scope_arg)]
        scopes: Vec<String>,
        /// No refresh tokens for this client
        #[arg(long)]
        no_refresh_tokens: bool,
        /// Print the registration (client_id, client_secret, …) as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove a client and revoke its grants
    #[command(visible_alias = "rm")]
    Remove {
        /// The client_id
        client_id: String,
    },
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
pub async fn run(args: Args) -> Result<ExitCode, CommandError> {
    let target = args.store.resolve()?;
    let failed = |e: widgetry_authz::AuthzError| CommandError::Failed(e.to_string());
    match args.action {
        Action::List { json } => {
            let server = target.open(false, &[]).await?;
            let clients = server.clients().list().await.map_err(failed)?;
            let mut out = crate::output::stdout();
            if json {
                let list: Vec<_> = clients.iter().map(client_json).collect();
                crate::output::json(&json!({ "clients": list }))?;
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
                write!(out, "{}", columns(&rows))?;
            }
        }
        Action::Add {
            name,
            redirect_uris,
            id,
            confidential,
            scopes,
            no_refresh_tokens,
            json,
        } => {
            let scopes = super::add::split_scopes(&scopes);
            let scopes = (!scopes.is_empty()).then_some(scopes);
            let refresh = !no_refresh_tokens;
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
            if json {
                let mut doc = client_json(&reg.client);
                doc["client_secret"] = json!(reg.client_secret);
                crate::output::json(&doc)?;
                return Ok(ExitCode::SUCCESS);
            }
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
        Action::Remove { client_id: id } => {
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
