//! `widgetry token --user <email> [--scopes A,B] [--ttl 1h] [--json]`: mints an access
//! token from the app's embedded authorization server for testing (`curl -H
//! "Authorization: Bearer …"`, `widgetry call`). The token is signed with the app's own
//! key, its issuer and audience are the app's (see `--url`), its subject is the user, and
//! its scopes must be ones the user may grant.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use super::users::StoreArgs;
use super::CommandError;
use crate::options::UsageError;

/// `widgetry token`: mint an access token for a user of the app's embedded
/// authorization server (for testing).
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Mint an access token for a user of the app's embedded authorization server \
                  (for testing).\n\nPrints the JWT alone on standard output, e.g. \
                  TOKEN=$(widgetry token --user ada@example.com).",
    after_help = "The token's issuer is the origin of --url and its audience --url itself: mint it \
                  for the URL the app serves (`widgetry dev` prints it)."
)]
pub struct Args {
    /// The user (see `widgetry users list`)
    #[arg(long, value_name = "EMAIL")]
    user: String,
    /// The token's scopes (comma or space separated, repeatable) [default: every scope
    /// the user may grant]; each must be one the user may grant
    #[arg(long, alias = "scope", value_name = "A,B", value_parser = super::add::scope_arg)]
    scopes: Vec<String>,
    /// Lifetime: 90, 90s, 15m, 2h or 1d (at most 30d)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    ttl: Duration,
    /// Print the token with its claims as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
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
    let n: u64 = num
        .parse()
        .map_err(|_| UsageError(format!("{s:?} is not a duration like 90s, 15m, 2h or 1d")))?;
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(UsageError(format!(
                "unknown unit {unit:?} (use s, m, h or d)"
            )))
        }
    };
    let secs = n.saturating_mul(unit_secs);
    if secs == 0 || secs > 30 * 86_400 {
        return Err(UsageError("between 1 second and 30 days".into()));
    }
    Ok(Duration::from_secs(secs))
}

/// Puts the options together.
pub fn config(args: Args) -> Config {
    let scopes = super::add::split_scopes(&args.scopes);
    Config {
        user: args.user,
        scopes: (!scopes.is_empty()).then_some(scopes),
        ttl: args.ttl,
        json: args.json,
        store: args.store,
    }
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
        crate::output::json(&doc)?;
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
        for bad in [
            "",
            "0",
            "5w",
            "h",
            "31d",
            "99999999999999999999",
            "999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(human(Duration::from_secs(7200)), "2h");
        assert_eq!(human(Duration::from_secs(90)), "90s");
    }
}
