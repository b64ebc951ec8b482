//! The command-line grammar: the `widgetry` command and its subcommands, declared with
//! clap (help, `help <command>`, "did you mean" suggestions, shell completions). Each
//! subcommand's options live with the command (`commands/<name>.rs`, its `Args`); here
//! they are only put together.

use clap::{Parser, Subcommand};

use crate::commands;
use crate::output::ColorWhen;

/// Build and use ChatGPT Apps / MCP Apps servers.
#[derive(Debug, Parser)]
#[command(
    name = "widgetry",
    version,
    propagate_version = true,
    arg_required_else_help = true,
    after_help = "Run `widgetry help <COMMAND>` for a command's options.\n\
                  Shell completions: `widgetry completions bash|zsh|fish|elvish|powershell`."
)]
pub struct Cli {
    /// When to color the output (colors are also off when NO_COLOR is set)
    #[arg(long, value_enum, global = true, value_name = "WHEN", default_value_t)]
    pub color: ColorWhen,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new app (templates: basic, auth, actions, react)
    New(commands::new::Args),
    /// Add a widget (with its tool) or a tool to the app
    Add(commands::add::Args),
    /// Build the app's widgets, then the app
    Build(commands::build::Args),
    /// Run the app, rebuilding and restarting on changes
    Dev(commands::dev::Args),
    /// Open the local host page against any MCP server, signing in through its OAuth
    Host(commands::host::Args),
    /// List the tools of an MCP server (auth policy, scopes, widget)
    Tools(commands::tools::Args),
    /// Call a tool, signing in when the server asks
    Call(commands::call::Args),
    /// Manage the users of the app's embedded authorization server
    Users(commands::users::Args),
    /// Manage the OAuth clients of the app's embedded authorization server
    Clients(commands::clients::Args),
    /// Mint an access token for a user (for testing)
    Token(commands::token::Args),
    /// Print a shell completion script
    Completions(commands::completions::Args),
    /// Run as the client under test of the MCP conformance suite
    #[command(hide = true)]
    ConformanceClient(commands::conformance_client::Args),
}

impl Command {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Self::New(_) => "new",
            Self::Add(_) => "add",
            Self::Build(_) => "build",
            Self::Dev(_) => "dev",
            Self::Host(_) => "host",
            Self::Tools(_) => "tools",
            Self::Call(_) => "call",
            Self::Users(_) => "users",
            Self::Clients(_) => "clients",
            Self::Token(_) => "token",
            Self::Completions(_) => "completions",
            Self::ConformanceClient(_) => "conformance-client",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }
}
