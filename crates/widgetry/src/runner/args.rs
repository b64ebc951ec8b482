//! The command line of an app run by [`Runner`](super::Runner): `--port N`, `--stdio`,
//! `--describe`, `--help` and `--version`, checked into [`Args`] before anything starts.

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Args {
    /// `--port N`: overrides `PORT` (0 picks a free port).
    pub port: Option<u16>,
    /// `--stdio`: speak MCP on stdin/stdout instead of HTTP.
    pub stdio: bool,
    /// `--describe`: print the app's [`Description`](crate::describe::Description) as
    /// JSON and exit.
    pub describe: bool,
    /// `--help` / `-h`.
    pub help: bool,
    /// `--version` / `-V`.
    pub version: bool,
}

/// A command line that cannot be used; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} (try --help)")]
pub struct UsageError(pub String);

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, UsageError> {
        let mut out = Args::default();
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (a.clone(), None),
            };
            if inline.is_some() && flag != "--port" {
                return Err(UsageError(format!("{flag} takes no value")));
            }
            match flag.as_str() {
                "--port" => {
                    let value = inline
                        .or_else(|| args.next())
                        .ok_or_else(|| UsageError("--port needs a number".into()))?;
                    let port = value.trim().parse().map_err(|_| {
                        UsageError(format!("--port: {value:?} is not a port number (0-65535)"))
                    })?;
                    out.port = Some(port);
                }
                "--stdio" => out.stdio = true,
                "--describe" => out.describe = true,
                "-h" | "--help" => out.help = true,
                "-V" | "--version" => out.version = true,
                other => return Err(UsageError(format!("unknown argument {other:?}"))),
            }
        }
        if out.stdio && out.port.is_some() {
            return Err(UsageError(
                "--stdio and --port exclude each other (stdio serves no port)".into(),
            ));
        }
        Ok(out)
    }

    /// The `--help` text for the program `name`.
    pub fn usage(name: &str) -> String {
        format!(
            "usage: {name} [--port N | --stdio] [--describe]\n\
             \n\
             Serves the app's MCP endpoint at http://127.0.0.1:N/mcp (N: --port, else PORT,\n\
             else 8000), with /healthz, /readyz and /metrics.\n\
             \n\
             options:\n\
             \x20 --port N     listen on port N (0 picks a free one)\n\
             \x20 --stdio      speak MCP on stdin/stdout instead\n\
             \x20 --describe   print the app's tools, widgets, actions and scopes as JSON, and exit\n\
             \x20 -h, --help   this text\n\
             \x20 -V, --version\n\
             \n\
             Everything else is configured by environment variables (the Widgetry README's\n\
             table): WIDGETRY_BIND, WIDGETRY_PUBLIC_URL, WIDGETRY_DATA_DIR, WIDGETRY_DATABASE_URL,\n\
             AUTHORIZATION_SERVER_URL (unset: the app runs its own authorization server),\n\
             WIDGETRY_DEV=1 (development: host page, demo user, widgets reloaded), RUST_LOG, …"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<Args, UsageError> {
        Args::parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn every_option_is_read_and_every_mistake_named() {
        assert_eq!(parse(&[]).unwrap(), Args::default());
        assert_eq!(parse(&["--port", "0"]).unwrap().port, Some(0));
        assert_eq!(parse(&["--port=9000"]).unwrap().port, Some(9000));
        let a = parse(&["--describe", "--stdio"]).unwrap();
        assert!(a.describe && a.stdio);
        assert!(parse(&["-h"]).unwrap().help);
        assert!(parse(&["--version"]).unwrap().version);
        for (bad, says) in [
            (&["--port"][..], "needs a number"),
            (&["--port", "http"], "not a port number"),
            (&["--port", "70000"], "not a port number"),
            (&["--stdio", "--port", "1"], "exclude each other"),
            (&["--stdio=yes"], "takes no value"),
            (&["--verbose"], "unknown argument \"--verbose\""),
            (&["serve"], "unknown argument \"serve\""),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(
                e.contains(says) && e.ends_with("(try --help)"),
                "{bad:?}: {e}"
            );
        }
    }
}
