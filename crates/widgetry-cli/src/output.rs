//! What the commands print: colored text and JSON documents.
//!
//! Colors go through `anstream`, which drops them when the stream is not a terminal,
//! when `NO_COLOR` is set (and forces them with `CLICOLOR_FORCE`), or as `--color`
//! says; so a painted string must be written through [`stdout`] / [`stderr`], never
//! with `print!`.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

/// Success words (`ok`).
pub const OK: Style = AnsiColor::Green.on_default().bold();
/// Failure words (`failed`, `error:`).
pub const BAD: Style = AnsiColor::Red.on_default().bold();
/// Warnings.
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();
/// Table headers and headlines.
pub const HEAD: Style = Style::new().bold();
/// URLs worth clicking.
pub const LINK: Style = AnsiColor::Cyan.on_default();

/// `--color`: when to color the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorWhen {
    /// When writing to a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Applies `--color` for the whole process.
pub fn set_color(when: ColorWhen) {
    let choice = match when {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

/// `text` in `style` (the codes are dropped on output where colors are off).
pub fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Standard output, coloring as configured.
pub fn stdout() -> anstream::AutoStream<std::io::StdoutLock<'static>> {
    anstream::AutoStream::auto(std::io::stdout().lock())
}

/// Standard error, coloring as configured.
pub fn stderr() -> anstream::AutoStream<std::io::StderrLock<'static>> {
    anstream::AutoStream::auto(std::io::stderr().lock())
}

/// Prints `widgetry: error: {message}` on standard error.
pub fn error(message: &str) {
    let _ = writeln!(stderr(), "widgetry: {} {message}", paint(BAD, "error:"));
}

/// Prints `widgetry: warning: {message}` on standard error.
pub fn warn(message: &str) {
    let _ = writeln!(stderr(), "widgetry: {} {message}", paint(WARN, "warning:"));
}

/// Prints `value` as pretty JSON on standard output (never colored: it is for scripts).
pub fn json(value: &impl Serialize) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// Rows as left-aligned columns two spaces apart, the first row (the header) in bold.
/// Widths count characters of the plain text, so colors never shift a column.
pub fn columns(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let mut widths = vec![0; cols];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        let line = cells.join("  ");
        let line = line.trim_end();
        if i == 0 {
            out.push_str(&paint(HEAD, line));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painted_text_strips_back_to_the_plain_text() {
        let s = paint(OK, "ok");
        assert_ne!(s, "ok");
        assert_eq!(anstream::adapter::strip_str(&s).to_string(), "ok");
    }

    #[test]
    fn columns_align_on_the_plain_text() {
        let rows = vec![
            vec!["USER".to_string(), "NAME".to_string()],
            vec!["ada@example.com".to_string(), "Ada".to_string()],
        ];
        let text = anstream::adapter::strip_str(&columns(&rows)).to_string();
        assert_eq!(text, "USER             NAME\nada@example.com  Ada\n");
    }
}
