# Shared helpers for scripts/*.sh. Source it; it does nothing on its own.
# shellcheck shell=bash
#
# Sets ROOT (the repository root) and NODE_DIR (tests/node), and provides
# logging, a failure helper and the idempotent install of the Node test
# dependencies (npm ci + the Node 20 patch of the conformance CLI).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NODE_DIR="$ROOT/tests/node"
CONFORMANCE_PKG="$NODE_DIR/node_modules/@modelcontextprotocol/conformance"
# The 0.2 alpha (the 2026-07-28 revision's scenarios), installed under an npm alias.
CONFORMANCE_NEXT_PKG="$NODE_DIR/node_modules/@modelcontextprotocol/conformance-next"

# Where rustup puts cargo when the shell was not set up for it.
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
  PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  export PATH
fi

log() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH: $2"
}

# Checksum of the given files' contents, for "is it already installed?" stamps.
files_digest() {
  cat "$@" | sha256sum | cut -d' ' -f1
}

# Install tests/node's packages exactly as package-lock.json pins them (npm ci),
# unless the stamp says this lockfile is already installed with this Node, then
# write the Node 20 patched copies of the conformance CLIs (0.1.16 as
# CONFORMANCE_CLI, the 0.2 alpha as CONFORMANCE_NEXT_CLI). Never downloads a
# browser (playwright-core has no install script; the variable is belt and braces).
ensure_node_deps() {
  need_cmd node "install Node.js >= 20 (the machine image ships it)"
  need_cmd npm "install npm (it comes with Node.js)"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || die "Node.js >= 20 is required, found $(node --version)"

  local stamp="$NODE_DIR/node_modules/.widgetry-install-stamp"
  local want
  if [ -f "$NODE_DIR/package-lock.json" ]; then
    want="$(files_digest "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json")-node$major"
  else
    want="$(files_digest "$NODE_DIR/package.json")-node$major"
  fi
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$CONFORMANCE_PKG" ] && [ -d "$CONFORMANCE_NEXT_PKG" ]; then
    log "node test packages already installed (tests/node)"
  else
    local cmd=(npm ci)
    [ -f "$NODE_DIR/package-lock.json" ] || cmd=(npm install)
    log "installing node test packages: (cd tests/node && ${cmd[*]})"
    (
      cd "$NODE_DIR" &&
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "${cmd[@]}" --no-audit --no-fund --loglevel=error
    ) || die "'${cmd[*]}' failed in tests/node (is the npm registry reachable? see the npm output above)"
    [ -d "$CONFORMANCE_PKG" ] || die "npm finished but $CONFORMANCE_PKG is missing"
    [ -d "$CONFORMANCE_NEXT_PKG" ] || die "npm finished but $CONFORMANCE_NEXT_PKG is missing"
    printf '%s\n' "$want" >"$stamp"
  fi

  CONFORMANCE_CLI="$(node "$ROOT/scripts/lib/patch-conformance.mjs" "$CONFORMANCE_PKG")" ||
    die "could not write the Node 20 patched copy of the conformance CLI (scripts/lib/patch-conformance.mjs)"
  export CONFORMANCE_CLI
  CONFORMANCE_NEXT_CLI="$(node "$ROOT/scripts/lib/patch-conformance.mjs" "$CONFORMANCE_NEXT_PKG")" ||
    die "could not write the Node 20 patched copy of the 0.2 alpha conformance CLI (scripts/lib/patch-conformance.mjs)"
  export CONFORMANCE_NEXT_CLI
}
