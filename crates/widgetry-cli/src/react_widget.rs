//! The React + TypeScript + Vite widget template (`widgetry add widget NAME --react`): its
//! files, and where its `widgetry` npm package comes from. The package
//! (`packages/widgetry` in a Widgetry checkout: the runtime's types, React hooks and the
//! Vite plugin) is not published to a registry, so the widget names it by a `file:` path
//! into the checkout the Rust crates come from.

use std::path::{Path, PathBuf};

const PACKAGE: &str = include_str!("../templates/react/package.json");
const VITE: &str = include_str!("../templates/react/vite.config.ts");
const TSCONFIG: &str = include_str!("../templates/react/tsconfig.json");
const HTML: &str = include_str!("../templates/react/index.html");
const GITIGNORE: &str = include_str!("../templates/react/gitignore");
const MAIN: &str = include_str!("../templates/react/src/main.tsx");
const APP: &str = include_str!("../templates/react/src/App.tsx");
const CSS: &str = include_str!("../templates/react/src/styles.css");

/// The template's files (relative to the widget folder) with their placeholders (`{{widget}}`,
/// `{{tool}}`, `{{title}}`, `{{widgetry_npm}}`) still in them.
pub fn files() -> [(&'static str, &'static str); 8] {
    [
        ("package.json", PACKAGE),
        ("vite.config.ts", VITE),
        ("tsconfig.json", TSCONFIG),
        ("index.html", HTML),
        (".gitignore", GITIGNORE),
        ("src/main.tsx", MAIN),
        ("src/App.tsx", APP),
        ("src/styles.css", CSS),
    ]
}

/// The `widgetry` npm package in the checkout at `root`, if it has one.
pub fn package_in(root: &Path) -> Option<PathBuf> {
    let p = root.join("packages").join("widgetry");
    p.join("package.json")
        .is_file()
        .then(|| std::fs::canonicalize(&p).unwrap_or(p))
}

/// The checkout's `packages/widgetry`: `WIDGETRY_PATH`'s, else the one this CLI was built
/// from; None without either.
pub fn local_package() -> Option<PathBuf> {
    if let Some(root) = std::env::var_os("WIDGETRY_PATH").filter(|v| !v.is_empty()) {
        return package_in(Path::new(&root));
    }
    package_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The `widgetry` dependency of a widget's package.json, escaped for its JSON string: `file:`
/// and the package's folder, or (without a checkout) a `file:` path that says what to put
/// there.
pub fn npm_dependency(package: Option<&Path>) -> String {
    match package {
        Some(p) => format!("file:{}", p.display())
            .replace('\\', "/")
            .replace('"', "\\\""),
        None => "file:PATH-TO-A-WIDGETRY-CHECKOUT/packages/widgetry".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_checkout_has_the_package_and_the_dependency_points_at_it() {
        let p = package_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap();
        assert!(p.join("react.js").is_file() && p.join("vite.js").is_file());
        let dep = npm_dependency(Some(&p));
        assert!(
            dep.starts_with("file:/") && dep.ends_with("/packages/widgetry"),
            "{dep}"
        );
        assert!(npm_dependency(None).contains("WIDGETRY-CHECKOUT"));
        assert!(package_in(Path::new("/nonexistent")).is_none());
    }

    #[test]
    fn every_template_file_is_listed() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/react");
        let mut on_disk = Vec::new();
        for sub in ["", "src"] {
            for e in std::fs::read_dir(dir.join(sub)).unwrap().flatten() {
                if e.path().is_file() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    on_disk.push(if sub.is_empty() {
                        name
                    } else {
                        format!("{sub}/{name}")
                    });
                }
            }
        }
        let mut listed: Vec<String> = files()
            .iter()
            .map(|(n, _)| n.trim_start_matches('.').to_string())
            .collect();
        on_disk.sort();
        listed.sort();
        assert_eq!(listed, on_disk);
    }
}
