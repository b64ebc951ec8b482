//! The framework's modules form a DAG: a request goes down through the layers and back
//! up, never sideways in a circle. This test reads `src/`, finds every module a file
//! names (`crate::…`, `super::…`, and a `mod.rs` naming its own children), and fails on
//! any cycle, printing it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`crate::a::b`) → file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            let name = std::iter::once("crate".to_string())
                .chain(parts)
                .collect::<Vec<_>>()
                .join("::");
            out.insert(name, path);
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path that starts at `crate`, `super` or one of `children` in `text`, as
/// segment lists (brace groups expanded one level, `self` dropped).
fn paths(text: &str, children: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if !is_ident(bytes[i]) || (i > 0 && (is_ident(bytes[i - 1]) || bytes[i - 1] == ':')) {
            i += 1;
            continue;
        }
        // Read `a::b::c` (and a trailing `::{…}` group).
        let mut segs = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < bytes.len() && is_ident(bytes[j]) {
                j += 1;
            }
            segs.push(bytes[start..j].iter().collect::<String>());
            if j + 2 < bytes.len() && bytes[j] == ':' && bytes[j + 1] == ':' {
                j += 2;
                if bytes[j] == '{' {
                    let end = bytes[j..].iter().position(|&c| c == '}').map(|p| j + p);
                    if let Some(end) = end {
                        let group: String = bytes[j + 1..end].iter().collect();
                        for item in group.split(',') {
                            let first: String =
                                item.trim().chars().take_while(|&c| is_ident(c)).collect();
                            if !first.is_empty() && first != "self" {
                                let mut p = segs.clone();
                                p.push(first);
                                out.push(p);
                            }
                        }
                        out.push(segs.clone());
                        j = end;
                    }
                    break;
                }
                if j < bytes.len() && is_ident(bytes[j]) {
                    continue;
                }
            }
            break;
        }
        let head = segs[0].as_str();
        if segs.len() > 1 && (head == "crate" || head == "super" || children.contains(&head)) {
            out.push(segs);
        }
        i = j.max(i + 1);
    }
    out
}

/// The deepest known module a path names, seen from module `from`.
fn resolve(
    from: &str,
    is_mod_file: bool,
    path: &[String],
    known: &BTreeMap<String, PathBuf>,
) -> Option<String> {
    let mut base: Vec<String> = from.split("::").map(str::to_string).collect();
    // `super` in `a/b.rs` (module a::b) is `a`; in `a/b/mod.rs` it is `a` too.
    let _ = is_mod_file;
    let mut rest = path;
    match path[0].as_str() {
        "crate" => {
            base = vec!["crate".into()];
            rest = &path[1..];
        }
        "super" => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => {}
    }
    let mut found = None;
    for seg in rest {
        base.push(seg.clone());
        let name = base.join("::");
        if known.contains_key(&name) {
            found = Some(name);
        } else {
            break;
        }
    }
    found.or_else(|| {
        (path[0] == "super" || path[0] == "crate").then(|| {
            let b: Vec<String> = from.split("::").map(str::to_string).collect();
            if path[0] == "crate" {
                "crate".to_string()
            } else {
                b[..b.len().saturating_sub(1)].join("::")
            }
        })
    })
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, file) in &known {
        let text = std::fs::read_to_string(file).unwrap();
        let prefix = format!("{name}::");
        let children: Vec<&str> = known
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains("::"))
            .collect();
        let is_mod = file.ends_with("mod.rs") || file.ends_with("lib.rs");
        for p in paths(&text, &children) {
            if let Some(to) = resolve(name, is_mod, &p, &known) {
                if &to != name && !to.is_empty() {
                    edges.entry(name.clone()).or_default().insert(to);
                }
            }
        }
    }
    assert!(
        edges
            .get("crate::transport::http")
            .is_some_and(|e| e.contains("crate::server")),
        "the scanner must see the transport's use of the engine: {edges:#?}"
    );
    // The crate root re-exports everything: it is the facade, not a layer.
    edges.remove("crate");
    for e in edges.values_mut() {
        e.remove("crate");
    }
    let mut cycles = Vec::new();
    for start in edges.keys() {
        // Depth-first search for a path back to `start`.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if next == start {
                    let mut c = trail.clone();
                    c.push(start.clone());
                    cycles.push(c.join(" → "));
                } else if seen.insert(next.clone()) {
                    let mut t = trail.clone();
                    t.push(next.clone());
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    cycles.sort();
    cycles.dedup();
    assert!(
        cycles.is_empty(),
        "import cycles:\n  {}",
        cycles.join("\n  ")
    );
}
