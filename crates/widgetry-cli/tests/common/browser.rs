//! Running the browser drivers of `tests/browser` (node + playwright-core + Debian's
//! chromium): where their packages are, starting one, and its JSON summary.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$WIDGETRY_NODE_DIR` (default tests/node), after checking that it has playwright-core and
/// that chromium is installed; panics with the setup command otherwise.
pub fn node_dir() -> PathBuf {
    let dir = std::env::var_os("WIDGETRY_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("tests/node"));
    let setup = "run ./scripts/test.sh --setup-only (it installs chromium and tests/node)";
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .is_file(),
        "playwright-core is not installed in {}: {setup}",
        dir.display()
    );
    assert!(
        Path::new("/usr/bin/chromium").is_file() || std::env::var_os("WIDGETRY_CHROMIUM").is_some(),
        "chromium is missing: {setup}"
    );
    dir
}

/// Starts `node tests/browser/<script> <args> --artifacts tests/artifacts`.
pub fn start_driver(script: &str, args: &[&OsStr]) -> Child {
    let root = root();
    let artifacts = root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).expect("tests/artifacts");
    Command::new("node")
        .current_dir(&root)
        .arg(root.join("tests/browser").join(script))
        .args(args)
        .arg("--artifacts")
        .arg(&artifacts)
        .env("WIDGETRY_NODE_DIR", node_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node (Node.js >= 20 is needed): {e}"))
}

/// Waits at most `secs` for the driver, then returns its summary (the last stdout line) and
/// whether it exited successfully; panics when it overruns or printed no summary.
pub fn driver_summary(mut driver: Child, script: &str, secs: u64) -> (Value, bool, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while driver.try_wait().expect("wait for node").is_none() {
        if Instant::now() > deadline {
            let _ = driver.kill();
            panic!("tests/browser/{script} did not finish within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = driver.wait_with_output().expect("driver output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no summary from {script} ({e}):\n{stdout}\n{stderr}"));
    (summary, out.status.success(), stderr)
}
