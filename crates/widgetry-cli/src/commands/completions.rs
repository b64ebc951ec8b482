//! `widgetry completions <shell>`: prints the completion script clap derives from the
//! grammar (commands, subcommands, options and their fixed values).

use std::process::ExitCode;

use clap_complete::Shell;

use super::CommandError;

/// `widgetry completions`: print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(after_help = "Install, for example:\n  \
    bash: widgetry completions bash > ~/.local/share/bash-completion/completions/widgetry\n  \
    zsh:  widgetry completions zsh > ~/.zfunc/_widgetry  (with `fpath+=~/.zfunc` before compinit)\n  \
    fish: widgetry completions fish > ~/.config/fish/completions/widgetry.fish")]
pub struct Args {
    /// The shell
    #[arg(value_enum)]
    shell: Shell,
}

/// Writes the script for `args.shell` to standard output. `grammar` is the whole
/// `widgetry` command (passed in so this module does not depend on the grammar).
pub fn run(args: Args, mut grammar: clap::Command) -> Result<ExitCode, CommandError> {
    let name = grammar.get_name().to_string();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut grammar, name, &mut out);
    Ok(ExitCode::SUCCESS)
}
