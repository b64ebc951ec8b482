#!/usr/bin/env bash
# The cargo features compile on their own, and leaving them out makes an app smaller:
#   1. `cargo check` of widgetry with no default features, then with each feature alone
#      (signin, authz, host-page, legacy-sse, sqlite, postgres, redis); the same for
#      widgetry-store (sqlite, postgres, redis) and widgetry-authz (no `server`). Any
#      warning in our crates fails, as clippy's -D warnings does for the default build.
#      widgetry-store's unit test of a compiled-out backend runs without its features.
#   2. A minimal app outside the workspace (typed tool, reply, per-tool auth with an
#      external issuer, the SQLite store, `App::serve`) depending on widgetry with
#      `default-features = false, features = ["sqlite"]` compiles (`cargo check`, same
#      target dir), and its dependency graph has fewer crates than the full one; the
#      counts are printed (and written to $FEATURES_REPORT when set).
#   3. With --test: widgetry's own tests without its default features (the suites that
#      need a feature say so with required-features or #[cfg]); ~2 minutes more.
#
# Usage: scripts/features-check.sh [--test]   (test.sh runs it without --test: cargo
# check only, plus one small unit test)
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
run_tests=0
case "${1:-}" in
  --test) run_tests=1 ;;
  "") ;;
  *) die "usage: scripts/features-check.sh [--test]" ;;
esac

# cargo check with the given arguments; fails on an error or on a warning in our code.
check() {
  local out
  log "cargo check $*"
  if ! out="$(cargo check --locked --message-format short "$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "cargo check $* failed"
  fi
  if grep -E '^(crates|examples|bench)/[^:]+:[0-9]+:[0-9]+: warning' <<<"$out" >&2; then
    die "cargo check $* warns (see above): a feature combination must compile cleanly"
  fi
}

check -p widgetry --no-default-features
for f in signin authz host-page legacy-sse sqlite postgres redis; do
  check -p widgetry --no-default-features --features "$f"
done
check -p widgetry-store --no-default-features
for f in sqlite postgres redis; do
  check -p widgetry-store --no-default-features --features "$f"
done
check -p widgetry-authz --no-default-features
log "cargo test -p widgetry-store --no-default-features --lib (a compiled-out backend's URL fails naming its feature)"
cargo test --locked -q -p widgetry-store --no-default-features --lib a_backend_left_out >/dev/null ||
  die "widgetry-store without its backends does not refuse their URLs as it should (run: cargo test -p widgetry-store --no-default-features --lib)"

# Distinct packages in the normal (non-dev, non-build) dependency graph of widgetry.
crates_of() {
  cargo tree --locked -p widgetry -e normal --prefix none "$@" |
    sed -E 's/ \(\*\)$//; s/ \(proc-macro\)$//' | sort -u | wc -l
}
full="$(crates_of)"
minimal="$(crates_of --no-default-features --features sqlite)"
none="$(crates_of --no-default-features)"
log "crates in widgetry's dependency graph: $full with every feature, $minimal with only sqlite, $none with none"
[ "$minimal" -lt "$full" ] || die "leaving features out does not shrink the dependency graph ($minimal vs $full crates)"

app="$(mktemp -d)"
trap 'rm -rf "$app"' EXIT
mkdir -p "$app/src"
cat >"$app/Cargo.toml" <<EOF
[package]
name = "widgetry-minimal-app"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
widgetry = { path = "$ROOT/crates/widgetry", default-features = false, features = ["sqlite"] }
schemars = "1"
serde = { version = "1", features = ["derive"] }
tokio = { version = "1", features = ["rt-multi-thread", "macros"] }

[workspace]
EOF
cat >"$app/src/main.rs" <<'EOF'
//! The smallest useful app: one typed tool behind per-tool auth with an external issuer,
//! sessions in SQLite, served over HTTP.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use widgetry::{App, Auth, AuthConfig, HttpConfig, Reply, RequestContext, Tool, ToolError};

#[derive(Deserialize, JsonSchema)]
struct Input {
    name: String,
}

#[derive(Serialize, JsonSchema)]
struct Greeting {
    text: String,
}

async fn greet(ctx: RequestContext, input: Input) -> Result<Reply<Greeting>, ToolError> {
    let who = ctx.user().map(|u| u.subject.clone()).unwrap_or_default();
    let text = format!("hello {}, from {who}", input.name);
    Ok(Reply::new(Greeting { text: text.clone() }).text(text))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sessions = widgetry::store::open_session_store("sqlite://app.db").await?;
    let app = App::builder("minimal", "0.1.0")
        .auth(AuthConfig::new("https://issuer.example/", "http://127.0.0.1:8000/mcp")?)
        .http(HttpConfig::default().session_store(sessions))
        .tool(Tool::new("greet", greet).auth(Auth::required(["greet"])))
        .build()?;
    app.serve("127.0.0.1:8000").await?;
    Ok(())
}
EOF
# The workspace's lock file pins the same versions (cargo drops what the app does not use).
cp Cargo.lock "$app/Cargo.lock"
log "cargo check of a minimal app (widgetry with only the sqlite feature)"
(cd "$app" && cargo check --offline --message-format short 2>&1) >"$app/check.log" ||
  { cat "$app/check.log" >&2; die "the minimal app does not compile without widgetry's default features"; }
app_crates="$(cd "$app" && cargo tree --offline -e normal --prefix none |
  sed -E 's/ \(\*\)$//; s/ \(proc-macro\)$//' | sort -u | wc -l)"
log "the minimal app compiles; its dependency graph holds $app_crates crates"
if [ -n "${FEATURES_REPORT:-}" ]; then
  printf 'full=%s minimal=%s none=%s app=%s\n' "$full" "$minimal" "$none" "$app_crates" >"$FEATURES_REPORT"
fi

if [ "$run_tests" -eq 1 ]; then
  log "cargo test -p widgetry --no-default-features"
  cargo test --locked -p widgetry --no-default-features --no-fail-fast ||
    die "widgetry's tests fail without its default features (see above)"
fi
