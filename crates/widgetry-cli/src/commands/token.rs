//! `widgetry token --user <email> [--scopes A,B] [--ttl 1h] [--json]`: mints an access
//! token from the app's embedded authorization server for testing (`curl -H
//! "Authorization: Bearer …"`, `widgetry call`). The token is signed with the app's own
//! key, its issuer and audience are the app's (see `--url`), its subject is the user, and
//! its scopes must be ones the user may grant.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use super::users::{StoreArgs, STORE_HELP};
use super::CommandError;
use crate::cli::{Arg, Lexer, Parsed, UsageError};

/// `widgetry token --help`.
pub fn help() -> String {
    format!(
        "Mint an access token for a user of the app's embedded authorization server (for testing).

Usage: widgetry token --user <EMAIL> [--scopes A,B] [--ttl DURATION] [--json]

Prints the JWT alone on standard output, e.g. TOKEN=$(widgetry token --user ada@example.com).

Options:
      --user EMAIL     the user (see `widgetry users list`)
      --scopes A,B     the token's scopes (default: every scope the user may grant); each
                       must be one the user may grant
      --ttl DURATION   lifetime: 90, 90s, 15m, 2h or 1d (default 1h, at most 30d)
      --json           print the token with its claims as JSON
  -h, --help           this help

The token's issuer is the origin of --url and its audience --url itself: mint it for
the URL the app serves (`widgetry dev` prints it).

{STORE_HELP}"
    )
}

/// A validated `widgetry token` invocation.
#[derive(Debug)]
pub struct Config {
    user: String,
    scopes: Option<Vec<String>>,
    ttl: Duration,
    json: bool,
    store: StoreArgs,
}

/// `90`, `90s`, `15m`, `2h`, `1d`.
pub fn parse_duration(s: &str) -> Result<Duration, UsageError> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| {
        UsageError(format!(
            "--ttl: {s:?} is not a duration like 90s, 15m, 2h or 1d"
        ))
    })?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(UsageError(format!(
                "--ttl: unknown unit {unit:?} (use s, m, h or d)"
            )))
        }
    };
    if secs == 0 || secs > 30 * 86_400 {
        return Err(UsageError("--ttl: between 1 second and 30 days".into()));
    }
    Ok(Duration::from_secs(secs))
}

/// Parses the arguments after `token`.
pub fn parse(lexer: &mut Lexer) -> Result<Parsed<Config>, UsageError> {
    let mut store = StoreArgs::default();
    let (mut user, mut scopes, mut ttl, mut json) = (None, Vec::new(), None, false);
    while let Some(arg) = lexer.next()? {
        if store.accept(&arg, lexer)? {
            continue;
        }
        match arg {
            Arg::Long(l) if l == "--user" => user = Some(lexer.value(&l)?),
            Arg::Long(l) if l == "--scopes" || l == "--scope" => scopes.push(lexer.value(&l)?),
            Arg::Long(l) if l == "--ttl" => ttl = Some(parse_duration(&lexer.value(&l)?)?),
            Arg::Long(l) if l == "--json" => json = true,
            Arg::Long(l) if l == "--help" => return Ok(Parsed::Help(help())),
            Arg::Short('h') => return Ok(Parsed::Help(help())),
            Arg::Positional(p) => return Err(UsageError(format!("unexpected argument {p:?}"))),
            Arg::Long(l) => return Err(UsageError(format!("unknown option {l}"))),
            Arg::Short(c) => return Err(UsageError(format!("unknown option -{c}"))),
        }
    }
    let Some(user) = user else {
        return Err(UsageError(
            "`widgetry token` needs --user EMAIL (see `widgetry users list`)".into(),
        ));
    };
    let scopes = super::add::split_scopes(&scopes);
    for s in &scopes {
        super::add::check_scope(s)?;
    }
    Ok(Parsed::Run(Config {
        user,
        scopes: (!scopes.is_empty()).then_some(scopes),
        ttl: ttl.unwrap_or(Duration::from_secs(3600)),
        json,
        store,
    }))
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Runs `widgetry token`.
pub async fn run(config: Config) -> Result<ExitCode, CommandError> {
    if std::env::var("AUTHORIZATION_SERVER_URL").is_ok_and(|v| !v.trim().is_empty()) {
        eprintln!(
            "widgetry: warning: AUTHORIZATION_SERVER_URL is set, so the app trusts that issuer and not its embedded server: tokens minted here will be refused"
        );
    }
    let target = config.store.resolve()?;
    // Open once to read the user's allowed scopes, then with them supported.
    let server = target.open(false, &[]).await?;
    let user = server
        .users()
        .get(&config.user)
        .await
        .map_err(|e| CommandError::Failed(e.to_string()))?
        .ok_or_else(|| {
            CommandError::Failed(format!(
                "no user named {:?} (add one with `widgetry users add {}`)",
                config.user, config.user
            ))
        })?;
    let allowed = user.scopes.clone();
    let scopes: Vec<String> = match (&config.scopes, &allowed) {
        (Some(asked), Some(allowed)) => {
            let refused: Vec<&str> = asked
                .iter()
                .filter(|s| !allowed.contains(s))
                .map(String::as_str)
                .collect();
            if !refused.is_empty() {
                return Err(CommandError::Failed(format!(
                    "{} may not grant {} (may grant: {})",
                    user.username,
                    refused.join(", "),
                    if allowed.is_empty() {
                        "nothing".into()
                    } else {
                        allowed.join(" ")
                    }
                )));
            }
            asked.clone()
        }
        (Some(asked), None) => {
            target.warn_undeclared(asked);
            asked.clone()
        }
        (None, Some(allowed)) => allowed.clone(),
        (None, None) => target.declared.clone().unwrap_or_default(),
    };
    let server = if scopes
        .iter()
        .all(|s| server.config().scopes_supported.contains(s))
    {
        server
    } else {
        drop(server);
        target.open(false, &scopes).await?
    };
    let token = server
        .mint_access_token(&user.id, &scopes, &target.resource, config.ttl)
        .await
        .map_err(|e| CommandError::Failed(format!("cannot mint the token: {e}")))?;
    if config.json {
        let claims = server
            .verify_access_token(&token)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?
            .map(|c| serde_json::to_value(c).unwrap_or_default())
            .unwrap_or_default();
        let doc = json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": config.ttl.as_secs(),
            "scope": scopes.join(" "),
            "claims": claims,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!("{token}");
        eprintln!(
            "widgetry: token for {} (sub {}), scopes: {}, valid {}, audience {}",
            user.username,
            user.id,
            if scopes.is_empty() {
                "none".into()
            } else {
                scopes.join(" ")
            },
            human(config.ttl),
            target.resource
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("15m").unwrap().as_secs(), 900);
        assert_eq!(parse_duration("2h").unwrap().as_secs(), 7200);
        assert_eq!(parse_duration("1d").unwrap().as_secs(), 86_400);
        for bad in ["", "0", "5w", "h", "31d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(human(Duration::from_secs(7200)), "2h");
        assert_eq!(human(Duration::from_secs(90)), "90s");
    }
}
