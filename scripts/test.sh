#!/usr/bin/env bash
# The project's test command: ./scripts/test.sh
#
# On a fresh machine it installs what the tests need, then builds and tests
# everything. Each install step is skipped when already done, so a second run
# goes straight to cargo.
#   1. PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) running
#   2. Debian's chromium at /usr/bin/chromium (for browser tests) and nginx at
#      /usr/sbin/nginx (the load balancer of the topology tests)
#   3. tests/node packages from package-lock.json (npm ci) and the Node 20
#      patch of the MCP conformance CLI
#   4. .venv with tests/interop/requirements.txt (official MCP Python SDK)
#   5. cargo fmt --check, cargo clippy -D warnings, cargo doc -D warnings
#      (the lints of [workspace.lints] in Cargo.toml); scripts/package-check.sh
#      (every crate packages, embedding only files inside its package);
#      scripts/features-check.sh (each cargo feature compiles alone and without
#      warnings; a minimal app builds without the default features)
#   6. cargo build --workspace --all-targets --locked; cargo test --workspace --locked
#   7. scripts/conformance.sh: the MCP conformance suite 0.1.16's active
#      scenarios, then 0.2.0-alpha.12's `--requirements 2026-07-28` and
#      `--suite all`
#   8. scripts/conformance-client.sh (the widgetry CLI's OAuth client against
#      the suite's client auth scenarios)
#   9. scripts/reliability.sh --no-build: the short reliability battery (~1 min;
#      the full one is ./scripts/reliability.sh --full, see RELIABILITY.md)
#
# Options:
#   --setup-only   do steps 1-4 and stop (then run cargo test yourself)
#
# The tests find the installs through WIDGETRY_PYTHON (the venv's python) and
# WIDGETRY_NODE_DIR (tests/node), exported here.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SETUP_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --setup-only) SETUP_ONLY=1; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

cd "$ROOT"
STARTED=$SECONDS

step() {
  printf '\n==> [%ss] %s\n' "$((SECONDS - STARTED))" "$*"
}

# Run as root, or through sudo when there is one.
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for: $* (run as root or install sudo)"
  fi
}

wait_until() { # seconds, command...
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

postgres_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_postgres() {
  need_cmd pg_isready "PostgreSQL's client tools are missing (Debian package postgresql-client)"
  if postgres_up; then
    log "PostgreSQL is up on 127.0.0.1:5432"
    return
  fi
  need_cmd pg_ctlcluster "PostgreSQL is down and pg_ctlcluster (Debian postgresql-common) is missing"
  local version
  version="$(ls /etc/postgresql 2>/dev/null || true)"
  [ -n "$version" ] || die "PostgreSQL is down and no cluster is configured under /etc/postgresql"
  log "starting PostgreSQL: pg_ctlcluster --skip-systemctl-redirect $version main start"
  # shellcheck disable=SC2086 # one version directory, as on this machine kind
  as_root pg_ctlcluster --skip-systemctl-redirect $version main start ||
    warn "pg_ctlcluster exited with status $? (waiting for the server anyway)"
  wait_until 30 postgres_up ||
    die "PostgreSQL is not ready on 127.0.0.1:5432 30 s after 'pg_ctlcluster --skip-systemctl-redirect $version main start'"
  log "PostgreSQL is up on 127.0.0.1:5432"
}

ensure_redis() {
  need_cmd redis-cli "Redis's client is missing (Debian package redis-tools)"
  if redis_up; then
    log "Redis is up on 127.0.0.1:6379"
    return
  fi
  need_cmd redis-server "Redis is down and redis-server is missing (Debian package redis-server)"
  log "starting Redis on 127.0.0.1:6379"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log ||
    die "could not start redis-server (log: /var/log/redis/ci.log)"
  wait_until 30 redis_up || die "Redis started but does not answer PING on 127.0.0.1:6379 after 30 s (log: /var/log/redis/ci.log)"
  log "Redis is up on 127.0.0.1:6379"
}

# ensure_debian_package BINARY PACKAGE PURPOSE: installs Debian's PACKAGE when BINARY is missing.
ensure_debian_package() {
  local bin="$1" pkg="$2" why="$3"
  if [ -x "$bin" ]; then
    log "$pkg present: $bin"
    return
  fi
  need_cmd apt-get "$bin is missing and there is no apt-get to install it"
  log "installing Debian's $pkg (apt-get update; apt-get install $pkg)"
  local apt_log="$ROOT/tests/artifacts/apt-$pkg.log"
  mkdir -p "$(dirname "$apt_log")"
  if ! as_root apt-get update -q >"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    die "apt-get update failed, so $pkg cannot be installed (is Debian's package mirror reachable? log: $apt_log)"
  fi
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "$pkg" >>"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    die "apt-get install $pkg failed; $why need $bin (log: $apt_log)"
  fi
  [ -x "$bin" ] || die "apt-get installed $pkg but $bin is missing"
  log "$pkg installed: $bin"
}

ensure_venv() {
  local venv="$ROOT/.venv" req="$ROOT/tests/interop/requirements.txt"
  [ -f "$req" ] || die "missing $req"
  local python="${PYTHON:-python3}"
  need_cmd "$python" "Python 3 is needed for the interop tests (the machine image ships 3.11)"
  local stamp="$venv/.widgetry-install-stamp" want
  want="$(files_digest "$req")-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "python venv already set up (.venv)"
    return
  fi
  if [ ! -x "$venv/bin/python" ]; then
    log "creating .venv ($("$python" --version 2>&1))"
    rm -rf "$venv"
    "$python" -m venv "$venv" || die "'$python -m venv .venv' failed (Debian: apt-get install python3-venv)"
  fi
  log "installing tests/interop/requirements.txt into .venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" ||
    die "pip install -r tests/interop/requirements.txt failed (is PyPI reachable? see pip's output above)"
  "$venv/bin/python" -c 'import mcp.client.sse, mcp.client.streamable_http' ||
    die "the venv's python cannot import the mcp SDK after install"
  printf '%s\n' "$want" >"$stamp"
}

step "services: PostgreSQL and Redis"
ensure_postgres
ensure_redis

step "browser: Debian chromium"
ensure_debian_package /usr/bin/chromium chromium "browser tests"
# nginx: the load balancer of the two-instance topology test (run as this user, its own conf).
ensure_debian_package /usr/sbin/nginx nginx "the topology tests"
# sqlite3: the reliability battery reads the stores it crashed.
ensure_debian_package /usr/bin/sqlite3 sqlite3 "the reliability battery"

step "node test packages (tests/node)"
ensure_node_deps
log "conformance CLI (Node 20 patched copy): ${CONFORMANCE_CLI#"$ROOT"/}"

step "python venv (.venv)"
ensure_venv

export WIDGETRY_PYTHON="$ROOT/.venv/bin/python"
export WIDGETRY_NODE_DIR="$NODE_DIR"

if [ "$SETUP_ONLY" = 1 ]; then
  step "setup done (--setup-only); now e.g.: WIDGETRY_PYTHON=$WIDGETRY_PYTHON WIDGETRY_NODE_DIR=$WIDGETRY_NODE_DIR cargo test --workspace"
  exit 0
fi

need_cmd cargo "install the Rust toolchain (rustup)"

step "lints: cargo fmt --check, clippy and doc with warnings denied"
cargo fmt --all --check || die "cargo fmt --check failed: run 'cargo fmt --all'"
cargo clippy --workspace --all-targets --locked -- -D warnings ||
  die "cargo clippy found warnings (denied in CI; see above)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --lib --locked ||
  die "cargo doc found warnings (denied in CI; see above)"
"$ROOT/scripts/package-check.sh" || die "a crate does not package (see above)"
"$ROOT/scripts/features-check.sh" || die "a cargo feature combination does not compile cleanly (see above)"

step "cargo build --workspace --all-targets --locked"
cargo build --workspace --all-targets --locked || die "cargo build failed (see the compiler output above)"

step "cargo test --workspace --locked"
cargo test --workspace --locked --no-fail-fast || die "cargo test failed (see the failing tests above)"

step "MCP conformance suite 0.1.16 (scripts/conformance.sh, active scenarios)"
"$ROOT/scripts/conformance.sh" --no-build || die "conformance suite failed (see above; expected failures go in examples/conformance/expected-failures.yml)"

step "MCP conformance suite 0.2 alpha, --requirements 2026-07-28 (scripts/conformance.sh --suite requirements)"
"$ROOT/scripts/conformance.sh" --no-build --suite requirements || die "2026-07-28 conformance failed (see above; expected failures go in examples/conformance/expected-failures-2026.yml)"

step "MCP conformance suite 0.2 alpha, --suite all (scripts/conformance.sh --suite all)"
"$ROOT/scripts/conformance.sh" --no-build --suite all || die "conformance --suite all failed (see above; expected failures go in examples/conformance/expected-failures-2026.yml)"

step "MCP conformance suite, client auth scenarios (scripts/conformance-client.sh)"
"$ROOT/scripts/conformance-client.sh" --no-build || die "conformance client auth suite failed (see above; expected failures go in crates/widgetry-cli/conformance-expected-failures.yml)"

step "reliability battery, short (scripts/reliability.sh --no-build)"
"$ROOT/scripts/reliability.sh" --no-build || die "the reliability battery failed (see the FAILED lines above)"

step "all tests passed in $((SECONDS - STARTED)) s"
# Keep the conformance totals as the closing line.
for suite in active requirements all; do
  tail -n 1 "$ROOT/tests/artifacts/conformance-$suite/report.txt"
done
