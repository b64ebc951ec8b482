#!/usr/bin/env bash
# Run the official MCP conformance suite against the examples/conformance
# fixture server.
#
#   scripts/conformance.sh                 build, start the server, run the active
#                                          suite of conformance 0.1.16; fail on any
#                                          check not listed in
#                                          examples/conformance/expected-failures.yml
#   scripts/conformance.sh --suite requirements
#                                          conformance 0.2.0-alpha.12's
#                                          `--requirements 2026-07-28`: exactly the
#                                          scenarios the 2026-07-28 revision requires
#   scripts/conformance.sh --suite all     conformance 0.2.0-alpha.12's whole suite
#                                          (pending, draft and extension scenarios)
# The two 0.2 alpha runs fail on any check not listed in
# examples/conformance/expected-failures-2026.yml.
# Options:
#   --suite active|requirements|all   which scenarios (default: active)
#   --release            build and run the release profile (default: debug)
#   --no-build           use the already-built target/<profile>/conformance
#   --bin PATH           start this server executable instead (it must take
#                        --port N and print "listening on http://127.0.0.1:N/mcp")
#   --url URL            test a server that is already running; start nothing
#   -o, --output DIR     where results go (default: tests/artifacts/conformance-<suite>)
#
# The last line printed is `conformance: N passed, M failed`.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SUITE=active
PROFILE=debug
BUILD=1
BIN=""
URL=""
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) SUITE="${2:?--suite needs a value}"; shift 2 ;;
    --release) PROFILE=release; shift ;;
    --no-build) BUILD=0; shift ;;
    --bin) BIN="${2:?--bin needs a path}"; BUILD=0; shift 2 ;;
    --url) URL="${2:?--url needs a value}"; BUILD=0; shift 2 ;;
    -o | --output) OUT="${2:?--output needs a directory}"; shift 2 ;;
    -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
ensure_node_deps
case "$SUITE" in
  active)
    CLI="$CONFORMANCE_CLI"
    SELECT=(--suite active)
    EXPECTED="$ROOT/examples/conformance/expected-failures.yml"
    ;;
  requirements)
    CLI="$CONFORMANCE_NEXT_CLI"
    SELECT=(--requirements 2026-07-28)
    EXPECTED="$ROOT/examples/conformance/expected-failures-2026.yml"
    ;;
  all)
    CLI="$CONFORMANCE_NEXT_CLI"
    SELECT=(--suite all)
    EXPECTED="$ROOT/examples/conformance/expected-failures-2026.yml"
    ;;
  *) die "--suite must be 'active', 'requirements' or 'all', not '$SUITE'" ;;
esac

[ -f "$EXPECTED" ] || die "missing $EXPECTED"
OUT="${OUT:-$ROOT/tests/artifacts/conformance-$SUITE}"

need_cmd curl "needed to check that the server answers (apt-get install curl)"

SERVER_PID=""
# shellcheck disable=SC2317 # called from the EXIT trap
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_server_log() {
  if [ -s "$OUT/server.log" ]; then
    echo "---- last lines of the server's output ($OUT/server.log) ----" >&2
    tail -n 40 "$OUT/server.log" >&2
    echo "----" >&2
  fi
}

free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# Start $BIN on a free port; sets SERVER_PID and URL. Retries when the port
# was taken in between (the server then exits before saying it listens).
start_server() {
  local attempt port deadline line
  for attempt in 1 2 3; do
    port="$(free_port)"
    log "starting $BIN --port $port"
    "$BIN" --port "$port" >"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    deadline=$((SECONDS + 60))
    line=""
    while [ $SECONDS -lt $deadline ]; do
      line="$(grep -m1 -o 'listening on http://[^[:space:]]*' "$OUT/server.log" || true)"
      [ -n "$line" ] && break
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if [ -n "$line" ]; then
      URL="${line#listening on }"
      break
    fi
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      show_server_log
      die "the server did not print 'listening on http://127.0.0.1:$port/mcp' within 60 s"
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    warn "the server exited before listening (attempt $attempt)"
    show_server_log
  done
  [ -n "$URL" ] || die "could not start the server ($BIN); see its output above"
  case "$URL" in
    http://127.0.0.1:*/mcp | http://localhost:*/mcp) ;;
    *) die "the server says it listens on '$URL'; expected http://127.0.0.1:<port>/mcp" ;;
  esac

  # Listening line seen; now wait until it answers HTTP at all (any status).
  deadline=$((SECONDS + 30))
  local code=000
  while [ $SECONDS -lt $deadline ]; do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST \
      -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
      --data '{"jsonrpc":"2.0","id":0,"method":"ping"}' "$URL" || true)"
    [ "$code" != 000 ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { show_server_log; die "the server exited right after it started listening"; }
    sleep 0.1
  done
  [ "$code" != 000 ] || { show_server_log; die "the server at $URL did not answer HTTP within 30 s"; }
  log "server up at $URL (pid $SERVER_PID)"
}

rm -rf "$OUT"
mkdir -p "$OUT"

# Check expected-failures.yml before spending time on a build and a run.
node "$CLI" list --server | sed -n 's/^  - \([^ ]*\).*$/\1/p' >"$OUT/known-scenarios.txt"
[ -s "$OUT/known-scenarios.txt" ] || die "'conformance list --server' listed no scenarios"
node "$NODE_DIR/conformance_report.mjs" --validate-only --expected "$EXPECTED" --known "$OUT/known-scenarios.txt" ||
  die "fix $EXPECTED (format: see the comment at its top)"

if [ -z "$URL" ]; then
  TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
  if [ -z "$BIN" ]; then
    BIN="$TARGET_DIR/$PROFILE/conformance"
    if [ "$BUILD" = 1 ]; then
      need_cmd cargo "install the Rust toolchain (rustup)"
      PROFILE_FLAG=()
      [ "$PROFILE" = release ] && PROFILE_FLAG=(--release)
      log "cargo build --locked -p conformance ${PROFILE_FLAG[*]}"
      (cd "$ROOT" && cargo build --locked -p conformance "${PROFILE_FLAG[@]}") ||
        die "cargo build of the conformance fixture server failed"
    fi
  fi
  [ -x "$BIN" ] || die "server executable not found: $BIN (build it: cargo build -p conformance)"
  start_server
fi

log "running the conformance suite ($SUITE) against $URL"
set +e
# Full output goes to suite.log; the terminal gets it without the three
# progress lines per scenario.
timeout 900 node "$CLI" server --url "$URL" "${SELECT[@]}" -o "$OUT/results" 2>&1 |
  tee "$OUT/suite.log" |
  grep --line-buffered -v -E '^(=== Running scenario: .* ===|Running client scenario .*|Results saved to .*|)$'
suite_status=${PIPESTATUS[0]}
set -e
if [ "$suite_status" = 124 ]; then
  show_server_log
  die "the conformance suite timed out after 900 s"
fi
# Exit status 1 just means failed checks; the report below judges them.
# Anything else is the CLI itself failing.
case "$suite_status" in
  0 | 1) ;;
  *) show_server_log; die "the conformance CLI exited with status $suite_status (see its output above)" ;;
esac
if [ -n "$SERVER_PID" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
  show_server_log
  die "the server died during the conformance run"
fi

log "results in $OUT (suite.log, results/*/checks.json, server.log)"
set +e
node "$NODE_DIR/conformance_report.mjs" --log "$OUT/suite.log" --results "$OUT/results" \
  --expected "$EXPECTED" --known "$OUT/known-scenarios.txt" |
  tee "$OUT/report.txt"
report_status=${PIPESTATUS[0]}
set -e
if [ "$report_status" != 0 ]; then
  show_server_log
  # Keep the summary as the last line.
  tail -n 1 "$OUT/report.txt"
fi
exit "$report_status"
