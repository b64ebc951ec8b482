//! The `widgetry` command. [`cli`] declares the grammar (clap); `main` parses it, has the
//! chosen command check its options into a validated config (`commands/<name>.rs`), and
//! runs it. The MCP client is in [`mcp`], the OAuth client in [`oauth`], HTTP in [`http`],
//! the local MCP proxy behind `widgetry host` in [`proxy`], asking an app for its tools
//! (`--describe`) in [`describe`].
#![forbid(unsafe_code)]

mod browser;
mod cli;
mod commands;
mod describe;
mod http;
mod mcp;
mod oauth;
mod options;
mod output;
mod prompt;
mod proxy;
mod react_widget;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command};
use commands::CommandError;

async fn run(command: Command) -> Result<ExitCode, CommandError> {
    use commands as c;
    match command {
        Command::New(a) => c::new::run(c::new::config(a)?).await,
        Command::Add(a) => c::add::run(c::add::config(a)?).await,
        Command::Build(a) => c::build::run(c::build::config(a)).await,
        Command::Dev(a) => c::dev::run(c::dev::config(a)?).await,
        Command::Host(a) => c::host::run(c::host::config(a)?).await,
        Command::Tools(a) => c::tools::run(c::tools::config(a)?).await,
        Command::Call(a) => c::call::run(c::call::config(a)?).await,
        Command::Users(a) => c::users::run(a).await,
        Command::Clients(a) => c::clients::run(a).await,
        Command::Token(a) => c::token::run(c::token::config(a)).await,
        Command::Completions(a) => c::completions::run(a, Cli::command()),
        Command::ConformanceClient(a) => {
            c::conformance_client::run(c::conformance_client::config(a)?).await
        }
    }
}

fn main() -> ExitCode {
    // Help, version and clap's usage errors (with suggestions) print and exit here.
    let cli = Cli::try_parse().unwrap_or_else(|e| e.exit());
    output::set_color(cli.color);
    let name = cli.command.name();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(CommandError::Usage(e)) => {
            output::error(&format!(
                "{e}\n\nFor more information, try 'widgetry {name} --help'."
            ));
            ExitCode::from(2)
        }
        Err(e) => {
            output::error(&e.to_string());
            e.exit_code()
        }
    }
}
