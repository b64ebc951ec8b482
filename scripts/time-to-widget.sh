#!/usr/bin/env bash
# Times a newcomer's path: `widgetry new` → `widgetry dev` → a signed-in protected widget
# on the host page (headless Chromium signs in as the demo user: tests/browser/first_widget.mjs).
#
#   ./scripts/time-to-widget.sh            a cold run (the app's own empty target dir), then
#                                          a warm run (a second app sharing that target dir)
#   ./scripts/time-to-widget.sh --warm-only
#
# "Cold" here means no compiled dependency of the app (crates.io downloads already cached,
# as after any first `cargo` use on a machine); "warm" means a second app on a machine
# that has built one. Prints one line per run and a JSON summary; also counts the lines of
# the generated app's Rust sources. Needs: the set-up of ./scripts/test.sh --setup-only
# (Chromium, tests/node). Everything on 127.0.0.1; each run bounded to 30 minutes.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

WARM_ONLY=0
case "${1:-}" in
  --warm-only) WARM_ONLY=1 ;;
  "") ;;
  -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
  *) die "unknown argument '$1' (see --help)" ;;
esac

need_cmd node "install Node.js >= 20"
[ -d "$NODE_DIR/node_modules/playwright-core" ] || die "tests/node is not installed: run ./scripts/test.sh --setup-only"

WORK="$(mktemp -d /tmp/widgetry-ttw.XXXXXX)"
DEV_PID=""
cleanup() {
  if [ -n "$DEV_PID" ]; then
    kill -TERM -- "-$DEV_PID" 2>/dev/null || kill -TERM "$DEV_PID" 2>/dev/null || true
    wait "$DEV_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log "building the widgetry CLI (not timed: it stands for \`cargo install\`)"
cargo build -q -p widgetry-cli --bin widgetry
CLI="${CARGO_TARGET_DIR:-$ROOT/target}/debug/widgetry"
[ -x "$CLI" ] || die "no CLI binary at $CLI"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run LABEL APP_NAME TARGET_DIR: appends "LABEL TOTAL_S READY_S" to $WORK/results.
run() {
  local label="$1" name="$2" target="$3"
  local port log start end
  port="$(free_port)"
  log="$WORK/$name.log"
  start="$(date +%s.%N)"
  (cd "$WORK" && "$CLI" new "$name" --template auth >/dev/null)
  (
    cd "$WORK/$name"
    export CARGO_TARGET_DIR="$target"
    exec setsid "$CLI" dev --port "$port" >"$log" 2>&1
  ) &
  DEV_PID=$!
  local deadline=$(($(date +%s) + 1800))
  until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && grep -q "demo user:" "$log"; do
    kill -0 "$DEV_PID" 2>/dev/null || { tail -20 "$log" >&2; die "$label: widgetry dev exited"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -20 "$log" >&2; die "$label: the app was not ready within 30 minutes"; }
    sleep 1
  done
  local ready
  ready="$(date +%s.%N)"
  node "$ROOT/tests/browser/first_widget.mjs" --url "http://127.0.0.1:$port/mcp" \
    --server-log "$log" --artifacts "$WORK/artifacts-$name" >"$WORK/$name.json" ||
    { cat "$WORK/$name.json" >&2; die "$label: the browser did not reach a signed-in widget"; }
  end="$(date +%s.%N)"
  kill -TERM -- "-$DEV_PID" 2>/dev/null || kill -TERM "$DEV_PID" 2>/dev/null || true
  wait "$DEV_PID" 2>/dev/null || true
  DEV_PID=""
  awk -v l="$label" -v s="$start" -v r="$ready" -v e="$end" \
    'BEGIN { printf "%s %.1f %.1f\n", l, e - s, r - s }' >>"$WORK/results"
}

TARGET="$WORK/target"
if [ "$WARM_ONLY" = 0 ]; then
  log "cold: widgetry new first-app, widgetry dev, sign in (builds every dependency)"
  run cold first-app "$TARGET"
else
  log "warm-only: building a first app to warm the target dir (not timed)"
  run warmup first-app "$TARGET"
fi
log "warm: widgetry new second-app with the same target dir"
run warm second-app "$TARGET"
mapfile -t RESULTS < <(grep -v '^warmup ' "$WORK/results")

LINES="$(wc -l <"$WORK/second-app/src/main.rs")"
TOOL_LINES="$(cat "$WORK/second-app/src/"tools/*.rs | wc -l)"
for r in "${RESULTS[@]}"; do
  read -r label total ready <<<"$r"
  log "$label: $total s from \`widgetry new\` to a signed-in widget ($ready s to a ready app)"
done
log "generated app: src/main.rs $LINES lines, src/tools/*.rs $TOOL_LINES lines"
node -e '
const [lines, toolLines, ...runs] = process.argv.slice(1);
const out = { main_rs_lines: +lines, tools_lines: +toolLines };
for (const r of runs) { const [k, total, ready] = r.split(" "); out[k] = { total_s: +total, ready_s: +ready }; }
console.log(JSON.stringify(out));
' "$LINES" "$TOOL_LINES" "${RESULTS[@]}"
