//! Command-line parsing: a small argument lexer (`--flag value`, `--flag=value`, `-f`,
//! `--` ends options) and the connection options shared by the commands that talk to
//! a server, validated into a [`Connection`] before anything runs.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::time::Duration;

use crate::http::HttpUrl;
use crate::oauth::{OAuthOptions, ScopeSet, SignInMode};

/// The URL used when neither `--url` nor `WIDGETRY_URL` says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8000/mcp";

/// A usage mistake; printed with a pointer to `--help`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The outcome of parsing a command's arguments.
#[derive(Debug)]
pub enum Parsed<T> {
    /// Run with this config.
    Run(T),
    /// Print this help and exit successfully.
    Help(String),
}

/// One lexed argument.
#[derive(Debug, PartialEq, Eq)]
pub enum Arg {
    /// `--name` (a `=value` part is kept for [`Lexer::value`]).
    Long(String),
    /// `-x`.
    Short(char),
    /// Anything else, or everything after `--`.
    Positional(String),
}

/// Splits the arguments.
pub struct Lexer {
    args: VecDeque<String>,
    pending: Option<(String, String)>,
    only_positional: bool,
}

impl Lexer {
    /// Lexes `args` (the program name already removed). Non-UTF-8 arguments are refused.
    pub fn new(args: Vec<OsString>) -> Result<Self, UsageError> {
        let args = args
            .into_iter()
            .map(|a| {
                a.into_string()
                    .map_err(|a| UsageError(format!("argument {a:?} is not valid UTF-8")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            args,
            pending: None,
            only_positional: false,
        })
    }

    /// The next argument.
    pub fn next(&mut self) -> Result<Option<Arg>, UsageError> {
        if let Some((flag, _)) = self.pending.take() {
            return Err(UsageError(format!("{flag} takes no value")));
        }
        let Some(arg) = self.args.pop_front() else {
            return Ok(None);
        };
        if self.only_positional || arg == "-" || !arg.starts_with('-') {
            return Ok(Some(Arg::Positional(arg)));
        }
        if arg == "--" {
            self.only_positional = true;
            return self.next();
        }
        if let Some(long) = arg.strip_prefix("--") {
            if let Some((name, value)) = long.split_once('=') {
                let flag = format!("--{name}");
                self.pending = Some((flag.clone(), value.to_string()));
                return Ok(Some(Arg::Long(flag)));
            }
            return Ok(Some(Arg::Long(arg)));
        }
        let mut chars = arg.chars().skip(1);
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(Some(Arg::Short(c))),
            _ => Err(UsageError(format!(
                "unknown option {arg} (long options start with --)"
            ))),
        }
    }

    /// The value of the flag just returned.
    pub fn value(&mut self, flag: &str) -> Result<String, UsageError> {
        if let Some((_, v)) = self.pending.take() {
            return Ok(v);
        }
        match self.args.pop_front() {
            Some(v) if !v.starts_with("--") || v == "--" => Ok(v),
            _ => Err(UsageError(format!("{flag} needs a value"))),
        }
    }
}

/// Options of the commands that talk to an MCP server, as parsed.
#[derive(Debug, Default)]
pub struct ConnectionArgs {
    url: Option<String>,
    timeout: Option<String>,
    verbose: bool,
    no_browser: bool,
    scopes: Vec<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_metadata_url: Option<String>,
    callback_port: Option<String>,
}

/// The help text for [`ConnectionArgs`].
pub const CONNECTION_HELP: &str = "\
Connection options:
      --url URL                 the MCP endpoint [env WIDGETRY_URL; default http://127.0.0.1:8000/mcp]
      --timeout SECS            time limit for each request (default 120)
  -v, --verbose                 log HTTP exchanges and server log messages to stderr

Sign-in options (used when the server asks for OAuth):
      --scope SCOPE             ask for SCOPE too (repeatable; space-separated lists work)
      --no-browser              print the sign-in URL instead of opening a browser
      --client-id ID            a pre-registered client [env WIDGETRY_CLIENT_ID]
      --client-secret SECRET    its secret, for confidential clients [env WIDGETRY_CLIENT_SECRET]
      --client-metadata-url URL a Client ID Metadata Document, used when the server supports
                                them [env WIDGETRY_CLIENT_METADATA_URL]
      --callback-port PORT      the loopback port for the sign-in redirect (default: any free port)
";

impl ConnectionArgs {
    /// Consumes `arg` if it is a connection option; `Ok(false)` if it is not one.
    pub fn accept(&mut self, arg: &Arg, lexer: &mut Lexer) -> Result<bool, UsageError> {
        let name = match arg {
            Arg::Long(l) => l.as_str(),
            Arg::Short('v') => "--verbose",
            _ => return Ok(false),
        };
        match name {
            "--url" => self.url = Some(lexer.value(name)?),
            "--timeout" => self.timeout = Some(lexer.value(name)?),
            "--verbose" => self.verbose = true,
            "--no-browser" => self.no_browser = true,
            "--scope" => self.scopes.push(lexer.value(name)?),
            "--client-id" => self.client_id = Some(lexer.value(name)?),
            "--client-secret" => self.client_secret = Some(lexer.value(name)?),
            "--client-metadata-url" => self.client_metadata_url = Some(lexer.value(name)?),
            "--callback-port" => self.callback_port = Some(lexer.value(name)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Sets the URL (as `--url` would).
    pub fn set_url(&mut self, url: String) {
        self.url = Some(url);
    }

    /// Validates the options, filling in environment defaults.
    pub fn into_connection(self) -> Result<Connection, UsageError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let url = self
            .url
            .or_else(|| env("WIDGETRY_URL"))
            .unwrap_or_else(|| DEFAULT_URL.into());
        let url = HttpUrl::parse(&url).map_err(|e| UsageError(format!("--url: {e}")))?;
        let timeout = match self.timeout {
            None => Duration::from_secs(120),
            Some(t) => match t.parse::<u64>() {
                Ok(s) if s > 0 => Duration::from_secs(s),
                _ => {
                    return Err(UsageError(format!(
                        "--timeout: {t:?} is not a positive number of seconds"
                    )))
                }
            },
        };
        let callback_port = match self.callback_port {
            None => 0,
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| UsageError(format!("--callback-port: {p:?} is not a port number")))?,
        };
        let client_id = self.client_id.or_else(|| env("WIDGETRY_CLIENT_ID"));
        let client_secret = self.client_secret.or_else(|| env("WIDGETRY_CLIENT_SECRET"));
        if client_secret.is_some() && client_id.is_none() {
            return Err(UsageError("--client-secret needs --client-id".into()));
        }
        let client_metadata_url = self
            .client_metadata_url
            .or_else(|| env("WIDGETRY_CLIENT_METADATA_URL"));
        if let Some(u) = &client_metadata_url {
            let parsed =
                HttpUrl::parse(u).map_err(|e| UsageError(format!("--client-metadata-url: {e}")))?;
            if parsed.scheme() != "https" || parsed.path_trimmed().is_empty() {
                return Err(UsageError(
                    "--client-metadata-url must be an https URL with a path (the client_id of a Client ID Metadata Document)".into(),
                ));
            }
        }
        let scopes = ScopeSet::from_iter(self.scopes.iter().flat_map(|s| s.split_whitespace()));
        Ok(Connection {
            url,
            timeout,
            verbose: self.verbose,
            oauth: OAuthOptions {
                sign_in: if self.no_browser {
                    SignInMode::PrintUrl
                } else {
                    SignInMode::Browser
                },
                client_id,
                client_secret,
                client_metadata_url,
                scopes,
                callback_port,
                client_name: "Widgetry CLI".into(),
                http_timeout: Duration::from_secs(30),
                sign_in_timeout: Duration::from_secs(300),
            },
        })
    }
}

/// Validated connection settings.
#[derive(Debug)]
pub struct Connection {
    /// The MCP endpoint.
    pub url: HttpUrl,
    /// Time limit per request.
    pub timeout: Duration,
    /// Log exchanges.
    pub verbose: bool,
    /// How to sign in.
    pub oauth: OAuthOptions,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(args: &[&str]) -> Lexer {
        Lexer::new(args.iter().map(OsString::from).collect()).unwrap()
    }

    #[test]
    fn long_flags_take_values_inline_or_next() {
        let mut l = lex(&[
            "--url=http://a/mcp",
            "--scope",
            "x",
            "-v",
            "pos",
            "--",
            "--json",
        ]);
        assert_eq!(l.next().unwrap(), Some(Arg::Long("--url".into())));
        assert_eq!(l.value("--url").unwrap(), "http://a/mcp");
        assert_eq!(l.next().unwrap(), Some(Arg::Long("--scope".into())));
        assert_eq!(l.value("--scope").unwrap(), "x");
        assert_eq!(l.next().unwrap(), Some(Arg::Short('v')));
        assert_eq!(l.next().unwrap(), Some(Arg::Positional("pos".into())));
        assert_eq!(l.next().unwrap(), Some(Arg::Positional("--json".into())));
        assert_eq!(l.next().unwrap(), None);
    }

    #[test]
    fn a_value_on_a_switch_or_a_missing_value_is_a_usage_error() {
        let mut l = lex(&["--json=yes"]);
        l.next().unwrap();
        assert!(l.next().is_err());
        let mut l = lex(&["--url"]);
        l.next().unwrap();
        assert!(l.value("--url").is_err());
    }
}
