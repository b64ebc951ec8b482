//! Builds a widget folder into one self-contained HTML document.
//!
//! A widget is a folder with an `index.html` and optional local scripts, styles and
//! assets. Hosts render widgets in sandboxed iframes that cannot fetch the app's files,
//! so the bundler inlines local `<script src>` and `<link rel=stylesheet>` files, turns
//! small local images (and `url(...)` references in CSS) into data URIs, and injects the
//! Widgetry runtime (`widgetry.js`) at the top of `<head>`. The result's content hash
//! versions the widget's `ui://` URI, so hosts never serve stale HTML.
//!
//! A folder with a `package.json` that has a `build` script (Vite, React, …) is built
//! with `npm run build` first; its `dist/index.html` is then bundled the same way.
//!
//! Used at run time by `widgetry` (reloading in development) and at build time from a
//! `build.rs` through [`build_script`], which embeds the bundles in the binary.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use sha2::{Digest, Sha256};

// `js/` holds symbolic links to the runtime's sources in `crates/widgetry/js/`, so the
// runtime has one home in the repository while this crate's package carries a copy (cargo
// packages what a link points to): a crate may embed only files inside its package.

/// The widget runtime injected into every widget.
pub const RUNTIME_JS: &str = include_str!("../js/widgetry.js");

/// TypeScript declarations of the runtime, for TypeScript widgets.
pub const RUNTIME_DTS: &str = include_str!("../js/widgetry.d.ts");

/// Largest asset inlined as a data URI.
pub const MAX_INLINE_ASSET: u64 = 256 * 1024;

/// A built widget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The widget name (its folder name).
    pub name: String,
    /// The self-contained HTML document.
    pub html: String,
    /// The first 12 hex digits of the SHA-256 of `html`.
    pub hash: String,
}

/// Why a widget could not be built.
#[derive(Debug)]
pub enum BundleError {
    /// A file could not be read.
    Io(PathBuf, std::io::Error),
    /// The folder has no `index.html` (nor a `package.json` build producing one).
    NoIndex(PathBuf),
    /// A local asset is too large to inline.
    TooLarge(PathBuf, u64),
    /// A referenced local file escapes the widget folder.
    OutsideWidget(String),
    /// `npm run build` failed.
    Npm(PathBuf, String),
    /// Two widget folders would get the same Rust constant (their names and it).
    NameClash(String, String, String),
}

impl std::fmt::Display for BundleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BundleError::Io(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            BundleError::NoIndex(p) => write!(
                f,
                "widget folder {} has no index.html (and no package.json build that produces dist/index.html)",
                p.display()
            ),
            BundleError::TooLarge(p, n) => write!(
                f,
                "{} is {n} bytes, over the {MAX_INLINE_ASSET}-byte inline limit: host it and list its origin in the widget's resource domains",
                p.display()
            ),
            BundleError::OutsideWidget(r) => {
                write!(f, "{r:?} points outside the widget folder; keep widget files inside it")
            }
            BundleError::Npm(p, msg) => write!(f, "npm build in {} failed: {msg}", p.display()),
            BundleError::NameClash(a, b, c) => write!(
                f,
                "the widget folders {a:?} and {b:?} would both be named {c} in Rust; rename one"
            ),
        }
    }
}

impl std::error::Error for BundleError {}

fn read(path: &Path) -> Result<Vec<u8>, BundleError> {
    std::fs::read(path).map_err(|e| BundleError::Io(path.to_path_buf(), e))
}

/// Whether a reference is a local relative path (not a URL, protocol-relative or data URI).
fn is_local(reference: &str) -> bool {
    let r = reference.trim();
    !(r.is_empty()
        || r.starts_with("//")
        || r.starts_with('#')
        || r.contains("://")
        || r.starts_with("data:")
        || r.starts_with("blob:")
        || r.starts_with("mailto:"))
}

fn resolve(base: &Path, reference: &str) -> Result<PathBuf, BundleError> {
    let clean = reference
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_start_matches("./");
    let clean = clean.trim_start_matches('/');
    let mut out = base.to_path_buf();
    for part in clean.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(BundleError::OutsideWidget(reference.to_string())),
            p => out.push(p),
        }
    }
    Ok(out)
}

fn mime_for(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        Some("css") => "text/css",
        Some("js" | "mjs") => "text/javascript",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn data_uri(path: &Path) -> Result<String, BundleError> {
    let meta = std::fs::metadata(path).map_err(|e| BundleError::Io(path.to_path_buf(), e))?;
    if meta.len() > MAX_INLINE_ASSET {
        return Err(BundleError::TooLarge(path.to_path_buf(), meta.len()));
    }
    let bytes = read(path)?;
    Ok(format!(
        "data:{};base64,{}",
        mime_for(path),
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// One parsed start tag: its attributes in order, and where it ends in the source.
struct Tag {
    attrs: Vec<(String, Option<String>)>,
    end: usize,
}

impl Tag {
    fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }
    fn render_without(&self, tag: &str, skip: &[&str]) -> String {
        let mut s = format!("<{tag}");
        for (k, v) in &self.attrs {
            if skip.iter().any(|x| k.eq_ignore_ascii_case(x)) {
                continue;
            }
            match v {
                Some(v) => {
                    let _ = write!(s, " {k}=\"{}\"", v.replace('"', "&quot;"));
                }
                None => {
                    let _ = write!(s, " {k}");
                }
            }
        }
        s.push('>');
        s
    }
}

/// Parses the attributes of a start tag beginning at `start` (just after `<name`).
fn parse_tag(src: &str, start: usize) -> Option<Tag> {
    let b = src.as_bytes();
    let mut i = start;
    let mut attrs = Vec::new();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        if b[i] == b'>' {
            return Some(Tag { attrs, end: i + 1 });
        }
        let ks = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let key = src[ks..i].to_string();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= b.len() {
                return None;
            }
            let value = if b[i] == b'"' || b[i] == b'\'' {
                let q = b[i];
                let vs = i + 1;
                let ve = vs + src[vs..].bytes().position(|c| c == q)?;
                i = ve + 1;
                src[vs..ve].to_string()
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                src[vs..i].to_string()
            };
            attrs.push((key, Some(value)));
        } else if !key.is_empty() {
            attrs.push((key, None));
        }
    }
}

fn find_ci(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    (from..h.len().saturating_sub(n.len() - 1)).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Inlines `url(...)` references of a stylesheet.
fn inline_css_urls(css: &str, base: &Path) -> Result<String, BundleError> {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(pos) = rest.find("url(") {
        out.push_str(&rest[..pos + 4]);
        rest = &rest[pos + 4..];
        let Some(close) = rest.find(')') else { break };
        let raw = rest[..close].trim();
        let unq = raw.trim_matches(|c| c == '"' || c == '\'');
        if is_local(unq) {
            out.push('"');
            out.push_str(&data_uri(&resolve(base, unq)?)?);
            out.push('"');
        } else {
            out.push_str(&rest[..close]);
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Builds the HTML of a widget from its source `index.html` text and folder.
pub fn bundle_html(source: &str, base: &Path) -> Result<String, BundleError> {
    let mut out = String::with_capacity(source.len() + RUNTIME_JS.len() + 256);
    let mut i = 0;
    while let Some(lt) = source[i..].find('<').map(|p| p + i) {
        out.push_str(&source[i..lt]);
        let after = &source[lt + 1..];
        let name_end = after
            .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .unwrap_or(after.len());
        let name = after[..name_end].to_ascii_lowercase();
        let tag = if ["script", "link", "img"].contains(&name.as_str()) {
            parse_tag(source, lt + 1 + name_end)
        } else {
            None
        };
        match (name.as_str(), tag) {
            ("script", Some(tag)) if tag.get("src").is_some_and(is_local) => {
                let src = tag.get("src").unwrap_or_default();
                let path = resolve(base, src)?;
                let code = String::from_utf8_lossy(&read(&path)?).replace("</script", "<\\/script");
                out.push_str(&tag.render_without("script", &["src", "defer", "async"]));
                out.push_str(&code);
                out.push_str("</script>");
                // Skip the original (empty) body and its closing tag.
                i = match find_ci(source, "</script>", tag.end) {
                    Some(close) => close + "</script>".len(),
                    None => tag.end,
                };
            }
            ("link", Some(tag))
                if tag
                    .get("rel")
                    .is_some_and(|r| r.eq_ignore_ascii_case("stylesheet"))
                    && tag.get("href").is_some_and(is_local) =>
            {
                let href = tag.get("href").unwrap_or_default();
                let path = resolve(base, href)?;
                let css = String::from_utf8_lossy(&read(&path)?).into_owned();
                let css_base = path.parent().unwrap_or(base).to_path_buf();
                out.push_str("<style>");
                out.push_str(&inline_css_urls(&css, &css_base)?.replace("</style", "<\\/style"));
                out.push_str("</style>");
                i = tag.end;
            }
            ("img", Some(tag)) if tag.get("src").is_some_and(is_local) => {
                let uri = data_uri(&resolve(base, tag.get("src").unwrap_or_default())?)?;
                let mut t = tag.render_without("img", &["src"]);
                t.insert_str(4, &format!(" src=\"{uri}\""));
                out.push_str(&t);
                i = tag.end;
            }
            _ => {
                out.push('<');
                i = lt + 1;
            }
        }
    }
    out.push_str(&source[i..]);
    Ok(inject_runtime(&out))
}

/// Puts the runtime at the start of `<head>` (or of the document when it has none).
fn inject_runtime(html: &str) -> String {
    let script = format!(
        "<script data-widgetry-runtime>{}</script>",
        RUNTIME_JS.replace("</script", "<\\/script")
    );
    if let Some(h) = find_ci(html, "<head", 0) {
        if let Some(end) = html[h..].find('>') {
            let at = h + end + 1;
            return format!("{}{}{}", &html[..at], script, &html[at..]);
        }
    }
    format!("{script}{html}")
}

/// SHA-256 of `html`, first 12 hex digits.
pub fn content_hash(html: &str) -> String {
    let d = Sha256::digest(html.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn npm_build(dir: &Path) -> Result<PathBuf, BundleError> {
    let pkg = read(&dir.join("package.json"))?;
    let pkg = String::from_utf8_lossy(&pkg);
    if !pkg.contains("\"build\"") {
        return Err(BundleError::Npm(
            dir.to_path_buf(),
            "package.json has no \"build\" script".into(),
        ));
    }
    let run = |args: &[&str]| -> Result<(), BundleError> {
        let out = Command::new("npm")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| BundleError::Npm(dir.to_path_buf(), format!("cannot run npm: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            let mut msg = String::from_utf8_lossy(&out.stderr).into_owned();
            msg.truncate(2000);
            Err(BundleError::Npm(dir.to_path_buf(), msg))
        }
    };
    if !dir.join("node_modules").exists() {
        run(&["install", "--no-audit", "--no-fund"])?;
    }
    // Built already (by `widgetry build` before cargo runs the app's build.rs, say): once.
    if !npm_dist_fresh(dir) {
        run(&["run", "build"])?;
    }
    let dist = dir.join("dist");
    if !dist.join("index.html").exists() {
        return Err(BundleError::NoIndex(dist));
    }
    Ok(dist)
}

/// Whether the npm widget in `dir` has a `dist/index.html` newer than every one of its own
/// files (`node_modules` and `dist` aside) and of the packages linked into its
/// `node_modules` (`file:` dependencies such as the `widgetry` package), so `npm run build`
/// would make the same again.
pub fn npm_dist_fresh(dir: &Path) -> bool {
    let built = std::fs::metadata(dir.join("dist").join("index.html")).and_then(|m| m.modified());
    let Ok(built) = built else { return false };
    let sources =
        std::iter::once(dir.to_path_buf()).chain(linked_packages(&dir.join("node_modules")));
    let mut any = false;
    for source in sources {
        match newest_mtime(&source) {
            Some(newest) if newest >= built => return false,
            Some(_) => any = true,
            None => {}
        }
    }
    any
}

/// The packages `npm install` linked into `node_modules` (symbolic links, `@scope/` ones too).
fn linked_packages(node_modules: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![node_modules.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            let name = e.file_name();
            if kind.is_symlink() {
                out.push(e.path());
            } else if kind.is_dir() && d == node_modules && name.to_string_lossy().starts_with('@')
            {
                dirs.push(e.path());
            }
        }
    }
    out
}

/// Builds the widget in `dir` (running its npm build first when it has a package.json).
pub fn bundle_dir(name: &str, dir: &Path) -> Result<Bundle, BundleError> {
    let base = if dir.join("package.json").exists() {
        npm_build(dir)?
    } else {
        dir.to_path_buf()
    };
    let index = base.join("index.html");
    if !index.exists() {
        return Err(BundleError::NoIndex(dir.to_path_buf()));
    }
    let source = String::from_utf8_lossy(&read(&index)?).into_owned();
    let html = bundle_html(&source, &base)?;
    Ok(Bundle {
        name: name.to_string(),
        hash: content_hash(&html),
        html,
    })
}

/// The widget folders under `widgets_dir` (each subfolder with an index.html or package.json).
pub fn widget_dirs(widgets_dir: &Path) -> Result<Vec<(String, PathBuf)>, BundleError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(widgets_dir)
        .map_err(|e| BundleError::Io(widgets_dir.to_path_buf(), e))?;
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && (p.join("index.html").exists() || p.join("package.json").exists()) {
            if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
                out.push((name.to_string(), p.clone()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Builds every widget under `widgets_dir`.
pub fn bundle_all(widgets_dir: &Path) -> Result<Vec<Bundle>, BundleError> {
    widget_dirs(widgets_dir)?
        .into_iter()
        .map(|(name, dir)| bundle_dir(&name, &dir))
        .collect()
}

/// Newest modification time of any file under `dir` (for change detection), ignoring
/// `node_modules` and `dist`.
pub fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let p = e.path();
            let name = e.file_name();
            if name == "node_modules" || name == "dist" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                newest = Some(newest.map_or(m, |n: std::time::SystemTime| n.max(m)));
            }
        }
    }
    newest
}

/// The Rust constant naming a widget in the generated `widgetry_widget_names.rs`
/// (`order-history` → `ORDER_HISTORY`): ASCII letters and digits upper-cased, anything
/// else `_`, and `W_` in front of a name that would not start like an identifier.
///
/// ```
/// assert_eq!(widgetry_bundle::const_name("order-history"), "ORDER_HISTORY");
/// assert_eq!(widgetry_bundle::const_name("3d.view"), "W_3D_VIEW");
/// ```
pub fn const_name(widget: &str) -> String {
    let mut out: String = widget
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => c.to_ascii_uppercase(),
            _ => '_',
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_uppercase()) {
        out.insert_str(0, "W_");
    }
    out
}

/// The source of `widgetry_widget_names.rs`: one documented `pub const NAME: &str` per
/// widget, or an error naming two folders that would get the same constant.
pub fn names_source(names: &[String]) -> Result<String, BundleError> {
    let mut code = String::new();
    let mut seen: Vec<(String, &str)> = Vec::new();
    for name in names {
        let constant = const_name(name);
        if let Some((_, other)) = seen.iter().find(|(c, _)| *c == constant) {
            return Err(BundleError::NameClash(
                other.to_string(),
                name.clone(),
                constant,
            ));
        }
        let _ = writeln!(
            code,
            "/// The widget in `widgets/{name}/`.\n#[allow(dead_code)]\npub const {constant}: &str = {name:?};"
        );
        seen.push((constant, name));
    }
    Ok(code)
}

/// For `build.rs`: bundles every widget under `widgets_dir` (relative to the crate),
/// writes them to `OUT_DIR`, and generates `widgetry_widgets.rs` for
/// `widgetry::embed_widgets!()` and `widgetry_widget_names.rs` (one constant per widget,
/// see [`const_name`]) for `widgetry::widget_names!()`, so a tool naming a widget that has
/// no folder does not compile. Tells cargo to rebuild when the folder changes.
///
/// ```no_run
/// // in build.rs, inside `fn main`:
/// widgetry_bundle::build_script("widgets").expect("widgets build");
/// ```
pub fn build_script(widgets_dir: &str) -> Result<(), BundleError> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    let src = Path::new(&manifest).join(widgets_dir);
    println!("cargo:rerun-if-changed={}", src.display());
    let dirs = widget_dirs(&src)?;
    let names: Vec<String> = dirs.iter().map(|(n, _)| n.clone()).collect();
    let names_file = out_dir.join("widgetry_widget_names.rs");
    std::fs::write(&names_file, names_source(&names)?)
        .map_err(|e| BundleError::Io(names_file, e))?;
    let mut code = String::from("&[\n");
    for (name, dir) in dirs {
        println!("cargo:rerun-if-changed={}", dir.display());
        let b = bundle_dir(&name, &dir)?;
        let file = out_dir.join(format!("widget-{name}.html"));
        std::fs::write(&file, &b.html).map_err(|e| BundleError::Io(file.clone(), e))?;
        let _ = writeln!(
            code,
            "    ({:?}, include_str!({:?}), {:?}),",
            name,
            file.display().to_string(),
            dir.display().to_string()
        );
    }
    code.push_str("]\n");
    let gen = out_dir.join("widgetry_widgets.rs");
    std::fs::write(&gen, code).map_err(|e| BundleError::Io(gen, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wb-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn inlines_scripts_styles_and_images_and_injects_the_runtime() {
        let d = tmp("inline");
        std::fs::write(d.join("app.js"), "console.log('</script>')").unwrap();
        std::fs::write(d.join("style.css"), "body{background:url('dot.png')}").unwrap();
        std::fs::write(d.join("dot.png"), [137u8, 80, 78, 71]).unwrap();
        std::fs::write(
            d.join("index.html"),
            r#"<!doctype html><html><head><link rel="stylesheet" href="style.css"></head>
<body><img alt="x" src="./dot.png"><script src="app.js" defer></script>
<script src="https://cdn.example.com/lib.js"></script></body></html>"#,
        )
        .unwrap();
        let b = bundle_dir("demo", &d).unwrap();
        assert!(b.html.contains("console.log('<\\/script>')"), "{}", b.html);
        assert!(!b.html.contains("src=\"app.js\""));
        assert!(
            b.html.contains(
                "<style>body{background:url(\"data:image/png;base64,iVBORw==\")}</style>"
            ),
            "{}",
            b.html
        );
        assert!(
            b.html
                .contains("<img src=\"data:image/png;base64,iVBORw==\" alt=\"x\">"),
            "{}",
            b.html
        );
        assert!(
            b.html.contains("src=\"https://cdn.example.com/lib.js\""),
            "remote scripts stay"
        );
        let rt = b.html.find("data-widgetry-runtime").unwrap();
        assert!(
            rt < b.html.find("<style>").unwrap(),
            "runtime comes first in head"
        );
        assert_eq!(b.hash.len(), 12);
    }

    #[test]
    fn widget_names_become_constants_and_clashes_are_refused() {
        let code = names_source(&["order-history".into(), "list".into(), "3d".into()]).unwrap();
        assert!(
            code.contains("pub const ORDER_HISTORY: &str = \"order-history\";"),
            "{code}"
        );
        assert!(code.contains("pub const LIST: &str = \"list\";"), "{code}");
        assert!(code.contains("pub const W_3D: &str = \"3d\";"), "{code}");
        assert_eq!(code.matches("pub const").count(), 3, "{code}");
        let e = names_source(&["a-b".into(), "a_b".into()]).unwrap_err();
        assert!(
            matches!(&e, BundleError::NameClash(a, b, c) if a == "a-b" && b == "a_b" && c == "A_B"),
            "{e}"
        );
        assert!(e.to_string().contains("rename one"), "{e}");
    }

    #[test]
    fn a_change_changes_the_hash() {
        let d = tmp("hash");
        std::fs::write(
            d.join("index.html"),
            "<html><head></head><body>a</body></html>",
        )
        .unwrap();
        let a = bundle_dir("w", &d).unwrap();
        std::fs::write(
            d.join("index.html"),
            "<html><head></head><body>b</body></html>",
        )
        .unwrap();
        let b = bundle_dir("w", &d).unwrap();
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn an_npm_build_is_fresh_until_a_source_file_changes() {
        use std::time::{Duration, SystemTime};
        let d = tmp("fresh");
        let at = |p: &Path, secs: u64| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
            let f = std::fs::File::options().write(true).open(p).unwrap();
            f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs))
                .unwrap();
        };
        at(&d.join("package.json"), 0);
        at(&d.join("src/App.tsx"), 10);
        assert!(!npm_dist_fresh(&d), "no dist yet");
        at(&d.join("dist/index.html"), 20);
        assert!(npm_dist_fresh(&d));
        at(&d.join("node_modules/react/index.js"), 30);
        assert!(npm_dist_fresh(&d), "installed packages are not sources");
        #[cfg(unix)]
        {
            let linked = tmp("fresh-linked");
            at(&linked.join("react.js"), 5);
            std::os::unix::fs::symlink(&linked, d.join("node_modules/widgetry")).unwrap();
            assert!(npm_dist_fresh(&d), "a linked package older than the build");
            at(&linked.join("react.js"), 25);
            assert!(
                !npm_dist_fresh(&d),
                "a linked package edited after the build"
            );
            at(&linked.join("react.js"), 5);
        }
        at(&d.join("src/App.tsx"), 40);
        assert!(!npm_dist_fresh(&d), "an edit after the build");
    }

    #[test]
    fn refuses_paths_outside_the_folder_and_missing_files() {
        let d = tmp("outside");
        std::fs::write(
            d.join("index.html"),
            r#"<script src="../secret.js"></script>"#,
        )
        .unwrap();
        assert!(matches!(
            bundle_dir("w", &d),
            Err(BundleError::OutsideWidget(_))
        ));
        std::fs::write(
            d.join("index.html"),
            r#"<script src="missing.js"></script>"#,
        )
        .unwrap();
        let e = bundle_dir("w", &d).unwrap_err().to_string();
        assert!(e.contains("missing.js"), "{e}");
        let empty = tmp("empty");
        assert!(matches!(
            bundle_dir("w", &empty),
            Err(BundleError::NoIndex(_))
        ));
    }
}
