//! Asking an app what it is made of: build it (`cargo build`, quietly), run its binary with
//! `--describe`, and read the [`Description`] it prints: its tools with their auth
//! policies and scopes, its widgets and actions. `widgetry add` checks names against it,
//! and `users`, `token` and `clients` learn the app's scopes from it.

use std::process::{Command, Stdio};

use widgetry::describe::Description;

use crate::commands::build::{cargo_build_quietly, Project};
use crate::commands::CommandError;

/// The description of the app in `project`, from its own binary.
pub fn describe(project: &Project) -> Result<Description, CommandError> {
    let built = cargo_build_quietly(project)?;
    let out = Command::new(&built.executable)
        .arg("--describe")
        .current_dir(&project.root)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| {
            CommandError::Failed(format!("cannot run {}: {e}", built.executable.display()))
        })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(CommandError::Failed(format!(
            "`{} --describe` failed ({}): {}",
            built.executable.display(),
            out.status,
            why.trim()
        )));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        CommandError::Failed(format!(
            "`{} --describe` printed no app description ({e}); is it a Widgetry app run by widgetry::Runner?",
            built.executable.display()
        ))
    })
}

/// The scopes of the app in `project`; `None` (with a warning saying why) when it cannot
/// be asked.
pub fn scopes(project: &Project) -> Option<Vec<String>> {
    match describe(project) {
        Ok(d) => Some(d.scopes),
        Err(e) => {
            crate::output::warn(&format!(
                "cannot ask the app for its scopes, so they are not checked ({e})"
            ));
            None
        }
    }
}
