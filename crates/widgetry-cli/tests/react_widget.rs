//! The React + TypeScript widget template end to end, with real npm, tsc, Vite and Chromium:
//! `widgetry new` + `widgetry add widget list --react` write a Vite project whose
//! package.json names this checkout's `packages/widgetry` by a `file:` path; `npm install`
//! links it (vite, react and typescript come from the registry); `npm run typecheck` passes
//! and catches a misuse of the hooks' types; `widgetry build --widgets-only` builds it with
//! progress lines, then (`--json`) reports it as up to date without building it again; its
//! bundle renders on its own in Chromium; and `tests/browser/react_widget.mjs` runs its dev
//! server against the showcase's host page:
//! the widget renders live from it, hot-reloads an edit without a page reload, and every
//! hook of `widgetry/react` reports what the host sends.
//!
//! Needs node and npm (Node 20+), the npm registry, chromium and tests/node (`./scripts/test.sh
//! --setup-only` installs them); fails with a clear message without them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use serde_json::{json, Value};

mod common;
use common::{start, WIDGETRY};

fn checkout() -> PathBuf {
    common::browser::root()
        .canonicalize()
        .expect("the checkout")
}

fn temp_dir(label: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("widgetry-react-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `program args` in `dir`; panics with its output unless the outcome is `success`.
fn expect(dir: &Path, program: &str, args: &[&str], success: bool) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_remove("WIDGETRY_PATH")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e} (install Node.js 20+ and npm; ./scripts/test.sh --setup-only)")
        });
    assert_eq!(
        out.status.success(),
        success,
        "{program} {args:?} in {}: {}\nstdout:\n{}\nstderr:\n{}",
        dir.display(),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// `widgetry new demo` + `add widget list --react`, installed: the widget's folder.
fn generated_widget(root: &Path) -> PathBuf {
    expect(root, WIDGETRY, &["new", "demo"], true);
    let app = root.join("demo");
    let added = expect(&app, WIDGETRY, &["add", "widget", "list", "--react"], true);
    assert!(
        text(&added.stdout).contains("`npm run dev` there serves it with hot reload"),
        "{}",
        text(&added.stdout)
    );
    let widget = app.join("widgets/list");
    for f in [
        "package.json",
        "tsconfig.json",
        "vite.config.ts",
        "index.html",
        "src/main.tsx",
        "src/App.tsx",
    ] {
        assert!(widget.join(f).is_file(), "{f} missing");
    }
    let app_tsx = std::fs::read_to_string(widget.join("src/App.tsx")).unwrap();
    assert!(app_tsx.contains("from 'widgetry/react'") && app_tsx.contains("'show_list'"));
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(widget.join("package.json")).unwrap())
            .unwrap();
    let package_dir = checkout().join("packages/widgetry");
    assert_eq!(
        package["dependencies"]["widgetry"],
        format!("file:{}", package_dir.display())
    );
    let started = Instant::now();
    expect(
        &widget,
        "npm",
        &["install", "--no-audit", "--no-fund"],
        true,
    );
    eprintln!(
        "react_widget: npm install {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        widget.join("node_modules/widgetry").canonicalize().unwrap(),
        package_dir,
        "npm should link the checkout's package, not fetch one"
    );
    widget
}

fn typecheck(widget: &Path) {
    expect(widget, "npm", &["run", "typecheck"], true);
    // Every hook, as the browser test's probe uses them, passes the strict check.
    let probe = widget.join("src/Probe.tsx");
    std::fs::copy(
        checkout().join("tests/browser/fixtures/hooks_probe.tsx"),
        &probe,
    )
    .unwrap();
    expect(widget, "npm", &["run", "typecheck"], true);
    std::fs::remove_file(&probe).unwrap();
    // The hooks' types are real: a wrong use fails the check.
    let misuse = widget.join("src/misuse.ts");
    std::fs::write(
        &misuse,
        "import { useDisplayMode, useToolOutput } from 'widgetry/react';\n\
         export function misuse(): number {\n\
         \x20 const output = useToolOutput<{ title: string }>();\n\
         \x20 const [, request] = useDisplayMode();\n\
         \x20 void request('sideways');\n\
         \x20 return output ? output.title : 0;\n\
         }\n",
    )
    .unwrap();
    let out = expect(widget, "npm", &["run", "typecheck"], false);
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(said.contains("src/misuse.ts(5,"), "{said}");
    assert!(said.contains("\"sideways\""), "{said}");
    assert!(said.contains("src/misuse.ts(6,"), "{said}");
    std::fs::remove_file(&misuse).unwrap();
}

fn build_once(widget: &Path) {
    let app = widget.parent().and_then(Path::parent).unwrap();
    let out = expect(app, WIDGETRY, &["build", "--widgets-only"], true);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("building widget list (npm run build)… ok ("),
        "{stdout}"
    );
    assert!(stdout.contains("building widget welcome… ok ("), "{stdout}");
    assert!(stdout.contains("widgets built in"), "{stdout}");
    let built = widget.join("dist/index.html");
    let when = std::fs::metadata(&built).unwrap().modified().unwrap();
    // Again, as JSON: up to date, not built a second time.
    let out = expect(app, WIDGETRY, &["build", "--widgets-only", "--json"], true);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json: {e}: {}", text(&out.stdout)));
    assert_eq!(report["ok"], true, "{report}");
    let list = report["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "list")
        .unwrap_or_else(|| panic!("no list widget in {report}"));
    assert_eq!(list["how"], "npm: dist up to date", "{report}");
    assert!(list["uri"]
        .as_str()
        .unwrap()
        .starts_with("ui://widget/list-"));
    assert!(list["bytes"].as_u64().unwrap() > 10_000, "{report}");
    assert!(text(&out.stderr).contains("building widget list (npm: dist up to date)… ok"));
    assert_eq!(
        std::fs::metadata(&built).unwrap().modified().unwrap(),
        when,
        "dist/ was rebuilt"
    );
}

/// The bundle `widgetry build` and the app's build.rs make of the widget, with a standalone
/// start (`window.__WIDGETRY_INITIAL__`, before the inlined runtime), as a file.
fn standalone_bundle(widget: &Path) -> PathBuf {
    let bundle = widgetry_bundle::bundle_dir("list", widget).expect("bundle");
    assert!(bundle.html.contains("data-widgetry-runtime"));
    assert!(
        !bundle.html.contains("src=\"./assets/"),
        "the script should be inlined"
    );
    let initial = json!({
        "host": "none",
        "toolOutput": {
            "title": "Built bundle",
            "items": [
                { "id": "a", "title": "Inlined script", "done": true },
                { "id": "b", "title": "Injected runtime", "done": false },
            ],
        },
    });
    let html = bundle.html.replacen(
        "<head>",
        &format!("<head><script>window.__WIDGETRY_INITIAL__ = {initial};</script>"),
        1,
    );
    assert_ne!(html, bundle.html, "the bundle has a <head>");
    let file = widget.join("standalone.html");
    std::fs::write(&file, html).unwrap();
    file
}

fn hot_reload_in_chromium(widget: &Path, built: &Path) {
    common::browser::node_dir();
    let data = temp_dir("showcase");
    let app = start(
        "showcase",
        &[],
        &[
            ("WIDGETRY_DATA_DIR", &data.display().to_string()),
            ("WIDGETRY_HOST_PAGE", "1"),
        ],
    );
    let driver = common::browser::start_driver(
        "react_widget.mjs",
        &[
            "--url".as_ref(),
            app.url.as_ref(),
            "--widget".as_ref(),
            widget.as_os_str(),
            "--built".as_ref(),
            built.as_os_str(),
        ],
    );
    let (summary, success, stderr) =
        common::browser::driver_summary(driver, "react_widget.mjs", 170);
    assert!(success, "{summary}\n{stderr}");
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["built"]["h1"], "Built bundle", "{summary}");
    eprintln!(
        "react_widget: hot update shown {} ms after the edit",
        summary["hotReloadMs"]
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn react_widget_installs_typechecks_builds_once_and_hot_reloads_in_the_host_page() {
    let root = temp_dir("app");
    let widget = generated_widget(&root);
    typecheck(&widget);
    build_once(&widget);
    let built = standalone_bundle(&widget);
    hot_reload_in_chromium(&widget, &built);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn new_with_the_react_template_writes_a_typescript_welcome_widget_on_the_local_package() {
    let root = temp_dir("new");
    let out = expect(
        &root,
        WIDGETRY,
        &["new", "hello", "--template", "react"],
        true,
    );
    let said = text(&out.stdout);
    assert!(said.contains("(react template)"), "{said}");
    assert!(
        said.contains("`npm run dev` there serves it with hot reload"),
        "{said}"
    );
    let widget = root.join("hello/widgets/welcome");
    let app = std::fs::read_to_string(widget.join("src/App.tsx")).unwrap();
    assert!(app.contains("'show_welcome'") && app.contains("from 'widgetry/react'"));
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(widget.join("package.json")).unwrap())
            .unwrap();
    assert_eq!(
        package["dependencies"]["widgetry"],
        format!("file:{}", checkout().join("packages/widgetry").display())
    );
    let tool = std::fs::read_to_string(root.join("hello/src/tools/welcome.rs")).unwrap();
    assert!(tool.contains("Tool::new(\"show_welcome\""), "{tool}");
    let _ = std::fs::remove_dir_all(&root);
}
