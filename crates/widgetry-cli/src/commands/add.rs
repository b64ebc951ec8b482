//! `widgetry add widget <name>` and `widgetry add tool <name>`: generate a tool module
//! (`src/tools/<name>.rs`, with its auth policy) and, for a widget, its folder
//! (`widgets/<name>/`, plain files or a React + Vite project), then register the module in
//! `src/tools/mod.rs` at the `// widgetry:` markers. The app itself says which tools and
//! widgets it has (`--describe`, see [`crate::describe`]): a name it already uses is
//! refused. Nothing is written unless every file can be: existing files are never
//! overwritten.
//!
//! The generators here are shared with `widgetry new`, which builds its starting points
//! from the same pieces.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::build::Project;
use super::CommandError;
use crate::options::UsageError;

const WIDGET_TOOL: &str = include_str!("../../templates/tool/widget_tool.rs");
const PLAIN_TOOL: &str = include_str!("../../templates/tool/plain_tool.rs");
const WIDGET_HTML: &str = include_str!("../../templates/widget/index.html");
const WIDGET_JS: &str = include_str!("../../templates/widget/widget.js");
const WIDGET_CSS: &str = include_str!("../../templates/widget/widget.css");

/// `widgetry add`: add a tool with a widget, or a tool alone, to the app in the current
/// folder.
#[derive(Debug, clap::Args)]
#[command(
    subcommand_required = true,
    arg_required_else_help = true,
    after_help = "`add widget orders` writes widgets/orders/ (index.html, widget.js, widget.css) and \
                  src/tools/orders.rs with the tool `show_orders` rendering it; `add tool ping` writes \
                  src/tools/ping.rs with the tool `ping`. Both register the module in src/tools/mod.rs; \
                  the app supports the scopes its tools ask for."
)]
pub struct Args {
    #[command(subcommand)]
    what: Kind,
}

/// What to add.
#[derive(Debug, clap::Subcommand)]
enum Kind {
    /// A tool that renders a new widget (plain files, or React + Vite with --react)
    Widget {
        /// The widget's name (lower-case letters, digits, '_' and '-')
        name: String,
        /// A React widget built by Vite (package.json; `widgetry build` runs npm)
        #[arg(long)]
        react: bool,
        /// The tool's name [default: show_<NAME>]
        #[arg(long, value_name = "TOOL")]
        tool: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// A tool without a widget
    Tool {
        /// The tool's name (lower-case letters, digits, '_' and '-')
        name: String,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// The options both kinds take.
#[derive(Debug, clap::Args)]
struct CommonArgs {
    /// Who may call the tool: none (anyone; the default without --scopes), optional
    /// (anyone; signed-in callers get more) or required (signed-in users with every
    /// scope; the default with --scopes)
    #[arg(long, value_name = "POLICY", value_parser = ["required", "optional", "none"])]
    auth: Option<String>,
    /// OAuth scopes the tool asks for (comma or space separated, repeatable); the app's
    /// authorization server supports every scope a tool asks for
    #[arg(long, alias = "scope", value_name = "A,B", value_parser = scope_arg)]
    scopes: Vec<String>,
    /// The app's folder [default: found upwards from the current one]
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
}

/// A tool's auth policy, as generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// `Auth::none()`.
    None,
    /// `Auth::optional([...])`.
    Optional(Vec<String>),
    /// `Auth::required([...])`.
    Required(Vec<String>),
}

impl Policy {
    /// The Rust expression building it.
    fn rust(&self) -> String {
        let list = |s: &[String]| {
            s.iter()
                .map(|x| format!("{x:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Policy::None => "Auth::none()".into(),
            Policy::Optional(s) if s.is_empty() => "Auth::Optional(Vec::new())".into(),
            Policy::Required(s) if s.is_empty() => "Auth::Required(Vec::new())".into(),
            Policy::Optional(s) => format!("Auth::optional([{}])", list(s)),
            Policy::Required(s) => format!("Auth::required([{}])", list(s)),
        }
    }

    /// One sentence for the module docs.
    fn doc(&self) -> String {
        let scopes = |s: &[String]| {
            if s.is_empty() {
                String::new()
            } else {
                format!(
                    " with {}",
                    s.iter()
                        .map(|x| format!("`{x}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        };
        match self {
            Policy::None => "public: anyone may call it (`Auth::none()`).".into(),
            Policy::Optional(s) => format!(
                "anyone may call it; signed-in callers{} get more (`Auth::optional`).",
                scopes(s)
            ),
            Policy::Required(s) => format!(
                "only signed-in users{} may call it (`Auth::required`).",
                scopes(s)
            ),
        }
    }

    /// The comment at the top of the handler.
    fn note(&self) -> &'static str {
        match self {
            Policy::None => "Public: `ctx.user()` is the caller when one is signed in anyway.",
            Policy::Optional(_) => {
                "Optional sign-in: `ctx.user()` is None for anonymous callers; give signed-in ones more."
            }
            Policy::Required(_) => {
                "Sign-in required: the framework rejects callers without a valid token and the scopes, so `ctx.user()` is set."
            }
        }
    }

    /// `none`, `optional (a, b)`, `required (a)`.
    pub fn describe(&self) -> String {
        match self {
            Policy::None => "public".into(),
            Policy::Optional(s) if s.is_empty() => "optional sign-in".into(),
            Policy::Required(s) if s.is_empty() => "sign-in required".into(),
            Policy::Optional(s) => format!("optional sign-in, scopes {}", s.join(" ")),
            Policy::Required(s) => format!("sign-in required, scopes {}", s.join(" ")),
        }
    }
}

/// Parses `--auth` and `--scopes` into a policy.
pub fn policy(auth: Option<&str>, scopes: Vec<String>) -> Result<Policy, UsageError> {
    for s in &scopes {
        check_scope(s)?;
    }
    match auth {
        None if scopes.is_empty() => Ok(Policy::None),
        None | Some("required") => Ok(Policy::Required(scopes)),
        Some("optional") => Ok(Policy::Optional(scopes)),
        Some("none") if scopes.is_empty() => Ok(Policy::None),
        Some("none") => Err(UsageError(
            "--scopes needs --auth required or optional (a public tool asks for no scopes)".into(),
        )),
        Some(other) => Err(UsageError(format!(
            "--auth: {other:?} is not one of required, optional, none"
        ))),
    }
}

/// Splits `a,b c` lists.
pub fn split_scopes(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in values
        .iter()
        .flat_map(|v| v.split([',', ' ']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !out.iter().any(|x| x == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// One `--scopes` value (`a,b c`), checked scope by scope ([`check_scope`]) as clap
/// parses it; [`split_scopes`] splits the values afterwards.
pub fn scope_arg(value: &str) -> Result<String, UsageError> {
    for s in split_scopes(&[value.to_string()]) {
        check_scope(&s)?;
    }
    Ok(value.to_string())
}

/// An OAuth scope token: printable ASCII without spaces, quotes or backslashes.
pub fn check_scope(s: &str) -> Result<(), UsageError> {
    if !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        Ok(())
    } else {
        Err(UsageError(format!(
            "{s:?} is not a valid scope (printable ASCII without spaces, quotes or backslashes)"
        )))
    }
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// A widget or tool name: lower-case letters, digits, `_` and `-`, starting with a letter,
/// and not a Rust keyword once `-` becomes `_` (it names a module).
pub fn check_name(kind: &str, name: &str) -> Result<(), UsageError> {
    let b = name.as_bytes();
    let shape = !b.is_empty()
        && b.len() <= 48
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-');
    if !shape {
        return Err(UsageError(format!(
            "{kind} name {name:?}: use lower-case letters, digits, '_' and '-', starting with a letter (at most 48)"
        )));
    }
    let module = module_name(name);
    if KEYWORDS.contains(&module.as_str()) || module == "mod" || module == "tests" {
        return Err(UsageError(format!(
            "{kind} name {name:?} is a Rust keyword (it names a module); pick another"
        )));
    }
    Ok(())
}

/// A tool name as MCP allows it: 1–64 of `A-Z a-z 0-9 _ - .`.
pub fn check_tool_name(name: &str) -> Result<(), UsageError> {
    if !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
    {
        Ok(())
    } else {
        Err(UsageError(format!(
            "tool name {name:?}: use 1 to 64 letters, digits, '_', '-' or '.'"
        )))
    }
}

/// The module for a name (`order-history` → `order_history`).
pub fn module_name(name: &str) -> String {
    name.replace('-', "_")
}

/// `order-history` → `Order history`.
pub fn title_of(name: &str) -> String {
    let words = name.replace(['-', '_'], " ");
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Fills `{{key}}` placeholders.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// Files to create and the new `src/tools/mod.rs`, computed before anything is written.
#[derive(Debug, Default)]
pub struct Plan {
    /// New files, relative to the app root.
    pub files: Vec<(PathBuf, String)>,
    /// The tools registered (name, widget, policy), for the summary.
    pub tools: Vec<(String, Option<String>, Policy)>,
    /// The modules to register.
    registrations: Vec<String>,
    /// The `widgetry` npm package React widgets depend on [default:
    /// `crate::react_widget::local_package`].
    npm_package: Option<PathBuf>,
}

impl Plan {
    /// React widgets depend on the `widgetry` npm package of the checkout at `root` (when it
    /// has one).
    pub fn use_checkout(&mut self, root: &Path) {
        self.npm_package = crate::react_widget::package_in(root);
    }

    /// A tool with a plain-files or React widget.
    pub fn widget(&mut self, widget: &str, tool: &str, policy: &Policy, react: bool) {
        let module = module_name(widget);
        let title = title_of(widget);
        let owned: Vec<(&str, String)> = vec![
            ("widget", widget.to_string()),
            ("widget_const", widgetry_bundle::const_name(widget)),
            ("tool", tool.to_string()),
            ("module", module.clone()),
            ("title", title.clone()),
            ("title_lower", title.to_lowercase()),
            ("auth", policy.rust()),
            ("doc_policy", policy.doc()),
            ("handler_note", policy.note().to_string()),
            (
                "widgetry_npm",
                crate::react_widget::npm_dependency(
                    self.npm_package
                        .clone()
                        .or_else(crate::react_widget::local_package)
                        .as_deref(),
                ),
            ),
        ];
        let vars: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.files.push((
            PathBuf::from(format!("src/tools/{module}.rs")),
            render(WIDGET_TOOL, &vars),
        ));
        let dir = PathBuf::from("widgets").join(widget);
        let react_files = crate::react_widget::files();
        let files: &[(&str, &str)] = if react {
            &react_files
        } else {
            &[
                ("index.html", WIDGET_HTML),
                ("widget.js", WIDGET_JS),
                ("widget.css", WIDGET_CSS),
            ]
        };
        for (name, text) in files {
            self.files.push((dir.join(name), render(text, &vars)));
        }
        self.registrations.push(module);
        self.tools
            .push((tool.to_string(), Some(widget.to_string()), policy.clone()));
    }

    /// A tool without a widget.
    pub fn tool(&mut self, tool: &str, policy: &Policy) {
        let module = module_name(tool);
        let title = title_of(tool);
        let owned: Vec<(&str, String)> = vec![
            ("tool", tool.to_string()),
            ("module", module.clone()),
            ("title", title.clone()),
            ("auth", policy.rust()),
            ("doc_policy", policy.doc()),
            ("handler_note", policy.note().to_string()),
        ];
        let vars: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.files.push((
            PathBuf::from(format!("src/tools/{module}.rs")),
            render(PLAIN_TOOL, &vars),
        ));
        self.registrations.push(module);
        self.tools.push((tool.to_string(), None, policy.clone()));
    }

    /// A ready-made module with its own files (the `actions` template).
    pub fn module(
        &mut self,
        module: &str,
        files: Vec<(PathBuf, String)>,
        tools: &[(&str, Option<&str>, Policy)],
    ) {
        self.files.extend(files);
        self.registrations.push(module.to_string());
        for (t, w, p) in tools {
            self.tools
                .push((t.to_string(), w.map(str::to_string), p.clone()));
        }
    }

    /// `mod_rs` with this plan's modules and registrations inserted at the markers.
    pub fn apply_to_mod_rs(&self, mod_rs: &str) -> Result<String, String> {
        let mut text = mod_rs.to_string();
        for module in &self.registrations {
            if text.contains(&format!("pub mod {module};")) {
                return Err(format!(
                    "src/tools/mod.rs already declares a module named {module}"
                ));
            }
            text = insert_module(&text, module)?;
            text = insert_before_marker(
                &text,
                "register",
                &format!("let b = {module}::register(b, &shared);"),
            )?;
        }
        Ok(text)
    }

    /// Checks that nothing exists yet, then writes the files and the new `mod.rs`.
    pub fn write(&self, root: &Path, mod_rs: Option<&str>) -> Result<Vec<PathBuf>, CommandError> {
        for (p, _) in &self.files {
            let full = root.join(p);
            if full.exists() {
                return Err(CommandError::Failed(format!(
                    "{} already exists; pick another name or remove it first",
                    full.display()
                )));
            }
        }
        let widget_dirs: Vec<PathBuf> = self
            .tools
            .iter()
            .filter_map(|(_, w, _)| w.as_ref().map(|w| root.join("widgets").join(w)))
            .collect();
        for d in &widget_dirs {
            if d.exists() && self.files.iter().any(|(p, _)| root.join(p).starts_with(d)) {
                return Err(CommandError::Failed(format!(
                    "the widget folder {} already exists; pick another name or remove it first",
                    d.display()
                )));
            }
        }
        let mut written = Vec::new();
        for (p, text) in &self.files {
            let full = root.join(p);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent).map_err(|e| write_err(parent, e))?;
            }
            std::fs::write(&full, text).map_err(|e| write_err(&full, e))?;
            written.push(p.clone());
        }
        if let Some(text) = mod_rs {
            let path = root.join("src/tools/mod.rs");
            std::fs::write(&path, text).map_err(|e| write_err(&path, e))?;
            written.push(PathBuf::from("src/tools/mod.rs"));
        }
        Ok(written)
    }
}

fn write_err(p: &Path, e: std::io::Error) -> CommandError {
    CommandError::Failed(format!("cannot write {}: {e}", p.display()))
}

/// Inserts `line` just above the `// widgetry:<marker>` line, with its indentation.
pub fn insert_before_marker(text: &str, marker: &str, line: &str) -> Result<String, String> {
    let tag = format!("// widgetry:{marker}");
    let mut out = String::with_capacity(text.len() + line.len() + 8);
    let mut done = false;
    for l in text.split_inclusive('\n') {
        if !done && l.trim_start().starts_with(&tag) {
            let indent = &l[..l.len() - l.trim_start().len()];
            out.push_str(indent);
            out.push_str(line);
            out.push('\n');
            done = true;
        }
        out.push_str(l);
    }
    if done {
        Ok(out)
    } else {
        Err(format!(
            "src/tools/mod.rs has no `{tag}` marker line; put `{line}` where it belongs by hand, or restore the marker"
        ))
    }
}

/// Declares `pub mod <module>;` in the block of declarations just above the
/// `// widgetry:modules` marker, in name order (as rustfmt orders them).
pub fn insert_module(text: &str, module: &str) -> Result<String, String> {
    let decl = format!("pub mod {module};");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(marker) = lines
        .iter()
        .position(|l| l.trim_start().starts_with("// widgetry:modules"))
    else {
        return insert_before_marker(text, "modules", &decl);
    };
    let mut start = marker;
    while start > 0 && lines[start - 1].trim_start().starts_with("pub mod ") {
        start -= 1;
    }
    let name_of = |l: &str| {
        l.trim()
            .trim_start_matches("pub mod ")
            .trim_end_matches(';')
            .to_string()
    };
    let at = (start..marker)
        .find(|&i| name_of(lines[i]).as_str() > module)
        .unwrap_or(marker);
    let indent = &lines[marker][..lines[marker].len() - lines[marker].trim_start().len()];
    let mut out = String::with_capacity(text.len() + decl.len() + 1);
    for (i, l) in lines.iter().enumerate() {
        if i == at {
            out.push_str(indent);
            out.push_str(&decl);
            out.push('\n');
        }
        out.push_str(l);
    }
    Ok(out)
}

/// What to add.
#[derive(Debug)]
enum What {
    Widget {
        name: String,
        tool: String,
        react: bool,
    },
    Tool {
        name: String,
    },
}

/// A validated `widgetry add` invocation.
#[derive(Debug)]
pub struct Config {
    what: What,
    policy: Policy,
    project: Option<PathBuf>,
}

/// Checks the options.
pub fn config(args: Args) -> Result<Config, UsageError> {
    let (what, common) = match args.what {
        Kind::Widget {
            name,
            react,
            tool,
            common,
        } => {
            check_name("widget", &name)?;
            let tool = tool.unwrap_or_else(|| format!("show_{}", module_name(&name)));
            check_tool_name(&tool)?;
            (What::Widget { name, tool, react }, common)
        }
        Kind::Tool { name, common } => {
            check_name("tool", &name)?;
            (What::Tool { name }, common)
        }
    };
    let policy = policy(common.auth.as_deref(), split_scopes(&common.scopes))?;
    Ok(Config {
        what,
        policy,
        project: common.project,
    })
}

/// Runs `widgetry add`.
pub async fn run(config: Config) -> Result<ExitCode, CommandError> {
    let project = Project::find(config.project.as_deref())?;
    let mut plan = Plan::default();
    let tool_name = match &config.what {
        What::Widget { name, tool, react } => {
            plan.widget(name, tool, &config.policy, *react);
            tool.clone()
        }
        What::Tool { name } => {
            plan.tool(name, &config.policy);
            name.clone()
        }
    };
    if let What::Widget { name, .. } = &config.what {
        let dir = project.widgets_dir().join(name);
        if dir.exists() {
            return Err(CommandError::Failed(format!(
                "the widget folder {} already exists; pick another name or remove it first",
                dir.display()
            )));
        }
    }
    let mod_path = project.tools_mod();
    let mod_rs = std::fs::read_to_string(&mod_path).map_err(|e| {
        CommandError::Failed(format!(
            "cannot read {} ({e}); `widgetry add` registers tools there",
            mod_path.display()
        ))
    })?;
    let mod_rs = plan
        .apply_to_mod_rs(&mod_rs)
        .map_err(CommandError::Failed)?;
    // The app says which names it uses (`--describe`); one that does not build yet is
    // not asked, and a clash then shows when it starts.
    eprintln!(
        "widgetry: asking the app which tools and widgets it has (cargo build, then --describe)…"
    );
    match crate::describe::describe(&project) {
        Ok(app) => {
            if app.has_tool(&tool_name) {
                return Err(CommandError::Failed(format!(
                    "a tool named {tool_name:?} already exists in the app (`{} --describe` lists it)",
                    app.name
                )));
            }
            if let What::Widget { name, .. } = &config.what {
                if app.widgets.iter().any(|w| &w.name == name) {
                    return Err(CommandError::Failed(format!(
                        "the app already has a widget named {name:?}"
                    )));
                }
            }
        }
        Err(e) => crate::output::warn(&format!(
            "cannot ask the app for its tools, so a tool named {tool_name:?} is not looked for ({e})"
        )),
    }
    let written = plan.write(&project.root, Some(&mod_rs))?;
    for p in &written {
        let verb = if p.ends_with("mod.rs") {
            "updated"
        } else {
            "created"
        };
        println!("  {verb} {}", p.display());
    }
    let (tool, widget, policy) = &plan.tools[0];
    match widget {
        Some(w) => println!(
            "added tool {tool} ({}) rendering widget {w}",
            policy.describe()
        ),
        None => println!("added tool {tool} ({})", policy.describe()),
    }
    if let What::Widget {
        react: true, name, ..
    } = &config.what
    {
        println!(
            "this widget is built with npm: `widgetry build` runs `npm install` and `npm run build` in widgets/{name}; \
             `npm run dev` there serves it with hot reload in the host page"
        );
        if crate::react_widget::local_package().is_none() {
            crate::output::warn(&format!(
                "no Widgetry checkout found for the `widgetry` npm package; set WIDGETRY_PATH \
                 to one, or edit the \"widgetry\" dependency in widgets/{name}/package.json"
            ));
        }
    }
    println!("next: `widgetry build`, or `widgetry dev` to run it");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOD_RS: &str = include_str!("../../templates/app/tools_mod.rs");

    fn skeleton() -> String {
        render(
            MOD_RS,
            &[
                ("modules", ""),
                ("registrations", ""),
                ("instructions", "x"),
            ],
        )
    }

    #[test]
    fn registrations_go_above_the_markers_with_their_indentation() {
        let mut plan = Plan::default();
        plan.widget(
            "orders",
            "show_orders",
            &Policy::Required(vec!["orders:read".into()]),
            false,
        );
        plan.tool("ping", &Policy::None);
        let text = plan.apply_to_mod_rs(&skeleton()).unwrap();
        assert!(
            text.contains("pub mod orders;\npub mod ping;\n// widgetry:modules"),
            "{text}"
        );
        let more = insert_module(&text, "alpha").unwrap();
        let more = insert_module(&more, "p2").unwrap();
        assert!(
            more.contains(
                "pub mod alpha;\npub mod orders;\npub mod p2;\npub mod ping;\n// widgetry:modules"
            ),
            "{more}"
        );
        assert!(
            text.contains("    let b = orders::register(b, &shared);\n    let b = ping::register(b, &shared);\n    // widgetry:register"),
            "{text}"
        );
        // The same module twice is refused.
        let mut again = Plan::default();
        again.tool("other", &Policy::Optional(vec!["orders:read".into()]));
        let text2 = again.apply_to_mod_rs(&text).unwrap();
        assert!(again.apply_to_mod_rs(&text2).is_err());
        // The tool names its widget by the generated constant.
        let orders = &plan.files[0];
        assert_eq!(orders.0, PathBuf::from("src/tools/orders.rs"));
        assert!(
            orders.1.contains(".widget(widgets::ORDERS)"),
            "{}",
            orders.1
        );
    }

    #[test]
    fn a_missing_marker_is_reported_with_the_line_to_add() {
        let e = insert_before_marker(
            "fn x() {}\n",
            "register",
            "let b = a::register(b, &shared);",
        )
        .unwrap_err();
        assert!(
            e.contains("// widgetry:register") && e.contains("a::register"),
            "{e}"
        );
    }

    #[test]
    fn auth_and_scopes_give_the_policy() {
        assert_eq!(policy(None, vec![]).unwrap(), Policy::None);
        assert_eq!(
            policy(None, vec!["a".into()]).unwrap(),
            Policy::Required(vec!["a".into()])
        );
        assert_eq!(
            policy(Some("optional"), vec!["a".into()]).unwrap(),
            Policy::Optional(vec!["a".into()])
        );
        assert!(policy(Some("none"), vec!["a".into()]).is_err());
        assert!(policy(Some("sometimes"), vec![]).is_err());
        assert_eq!(split_scopes(&["a,b".into(), "b c".into()]), ["a", "b", "c"]);
        assert!(check_scope("orders:read").is_ok());
        assert!(check_scope("bad\"scope").is_err());
        assert_eq!(
            Policy::Required(vec![]).rust(),
            "Auth::Required(Vec::new())"
        );
        assert_eq!(
            Policy::Required(vec!["orders:read".into()]).rust(),
            "Auth::required([\"orders:read\"])"
        );
    }

    #[test]
    fn names_must_make_modules() {
        assert!(check_name("widget", "order-history").is_ok());
        assert_eq!(module_name("order-history"), "order_history");
        assert_eq!(title_of("order-history"), "Order history");
        for bad in ["Orders", "1st", "", "a b", "type", "mod", "crate"] {
            assert!(check_name("widget", bad).is_err(), "{bad}");
        }
        assert!(check_tool_name("show.orders-v2").is_ok());
        assert!(check_tool_name("show orders").is_err());
    }
}
