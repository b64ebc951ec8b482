//! The `widgetry` command. `main` only picks the subcommand; each one lives in
//! `commands/<name>.rs`, parses its own arguments into a validated config, and runs.
//! The MCP client is in [`mcp`], the OAuth client in [`oauth`], HTTP in [`http`].
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod http;
mod mcp;
mod oauth;

use std::process::ExitCode;

use cli::{Arg, Lexer, Parsed, UsageError};
use commands::CommandError;

const HELP: &str = "\
widgetry: build and use ChatGPT Apps / MCP servers.

Usage: widgetry <COMMAND> [OPTIONS]

Commands:
  new       Create a new app (templates: basic, auth, actions)
  add       Add a widget (with its tool) or a tool to the app
  build     Build the app's widgets, then the app
  dev       Run the app, rebuilding and restarting on changes
  tools     List the tools of an MCP server (auth policy, scopes, widget)
  call      Call a tool, signing in when the server asks
  users     Manage the users of the app's embedded authorization server
  clients   Manage its OAuth clients
  token     Mint an access token for a user (for testing)

Run `widgetry <COMMAND> --help` for a command's options.

Options:
  -h, --help     this help
  -V, --version  the version
";

/// A parsed command line.
enum Command {
    Help(String),
    New(commands::new::Config),
    Add(commands::add::Config),
    Build(commands::build::Config),
    Dev(commands::dev::Config),
    Users(commands::users::Config),
    Clients(commands::clients::Config),
    Token(commands::token::Config),
    Tools(commands::tools::Config),
    Call(commands::call::Config),
    ConformanceClient(commands::conformance_client::Config),
}

fn parse(args: Vec<std::ffi::OsString>) -> Result<Command, UsageError> {
    let mut lexer = Lexer::new(args)?;
    let first = match lexer.next()? {
        None => return Ok(Command::Help(HELP.into())),
        Some(a) => a,
    };
    let name = match first {
        Arg::Positional(name) => name,
        Arg::Long(l) if l == "--help" => return Ok(Command::Help(HELP.into())),
        Arg::Short('h') => return Ok(Command::Help(HELP.into())),
        Arg::Long(l) if l == "--version" => return Ok(Command::Help(version())),
        Arg::Short('V') => return Ok(Command::Help(version())),
        Arg::Long(l) => return Err(UsageError(format!("unknown option {l}"))),
        Arg::Short(c) => return Err(UsageError(format!("unknown option -{c}"))),
    };
    fn wrap<T>(parsed: Parsed<T>, run: impl FnOnce(T) -> Command) -> Command {
        match parsed {
            Parsed::Run(config) => run(config),
            Parsed::Help(text) => Command::Help(text),
        }
    }
    Ok(match name.as_str() {
        "help" => Command::Help(HELP.into()),
        "new" => wrap(commands::new::parse(&mut lexer)?, Command::New),
        "add" => wrap(commands::add::parse(&mut lexer)?, Command::Add),
        "build" => wrap(commands::build::parse(&mut lexer)?, Command::Build),
        "dev" => wrap(commands::dev::parse(&mut lexer)?, Command::Dev),
        "users" => wrap(commands::users::parse(&mut lexer)?, Command::Users),
        "clients" => wrap(commands::clients::parse(&mut lexer)?, Command::Clients),
        "token" => wrap(commands::token::parse(&mut lexer)?, Command::Token),
        "tools" => wrap(commands::tools::parse(&mut lexer)?, Command::Tools),
        "call" => wrap(commands::call::parse(&mut lexer)?, Command::Call),
        "conformance-client" => wrap(
            commands::conformance_client::parse(&mut lexer)?,
            Command::ConformanceClient,
        ),
        other => return Err(UsageError(format!("unknown command {other:?}"))),
    })
}

fn version() -> String {
    format!("widgetry {}\n", env!("CARGO_PKG_VERSION"))
}

fn main() -> ExitCode {
    let command = match parse(std::env::args_os().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("widgetry: {e}\nRun `widgetry --help` for usage.");
            return ExitCode::from(2);
        }
    };
    if let Command::Help(text) = command {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("widgetry: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome: Result<ExitCode, CommandError> = runtime.block_on(async {
        match command {
            Command::Help(_) => Ok(ExitCode::SUCCESS),
            Command::New(c) => commands::new::run(c).await,
            Command::Add(c) => commands::add::run(c).await,
            Command::Build(c) => commands::build::run(c).await,
            Command::Dev(c) => commands::dev::run(c).await,
            Command::Users(c) => commands::users::run(c).await,
            Command::Clients(c) => commands::clients::run(c).await,
            Command::Token(c) => commands::token::run(c).await,
            Command::Tools(c) => commands::tools::run(c).await,
            Command::Call(c) => commands::call::run(c).await,
            Command::ConformanceClient(c) => commands::conformance_client::run(c).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("widgetry: error: {e}");
            e.exit_code()
        }
    }
}
