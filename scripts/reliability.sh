#!/usr/bin/env bash
# The reliability battery (RELIABILITY.md): builds the showcase and the battery, raises
# the open-file limit, and runs `widgetry-reliability` against real showcase processes
# on 127.0.0.1, with a PostgreSQL cluster and a Redis server of its own (free ports, a
# temporary directory), so restarting them disturbs nothing else on the machine.
#
#   ./scripts/reliability.sh            the short battery (~1 min; a step of scripts/test.sh)
#   ./scripts/reliability.sh --full     the recorded one (~7 min after the release build):
#                                       1,000 clients for 60 s on SQLite and again on
#                                       PostgreSQL + Redis, 5 kill rounds per store,
#                                       a 3-minute issuer outage, PostgreSQL and Redis
#                                       restarted under 200 clients
#   --only mixed,shared,crash,jwks,outage  some parts only
#   --no-build                          use the binaries already built (debug for the
#                                       short battery, release for --full)
#
# Needs Debian's postgresql (initdb/pg_ctl, run as the postgres user when root),
# postgresql-client (psql), sqlite3, redis-server and redis-cli.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

FULL=0
BUILD=1
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --full) FULL=1; PASS+=(--full); shift ;;
    --no-build) BUILD=0; shift ;;
    --only) [ $# -ge 2 ] || die "--only needs a list"; PASS+=(--only "$2"); shift 2 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

for cmd in psql sqlite3 redis-server redis-cli; do
  need_cmd "$cmd" "the battery needs it (Debian: postgresql-client, sqlite3, redis-server, redis-tools)"
done
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || die "no /usr/lib/postgresql/*/bin/pg_ctl (Debian package postgresql)"

cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "$FULL" = 1 ]; then PROFILE=release; else PROFILE=debug; fi
if [ "$BUILD" = 1 ]; then
  need_cmd cargo "install the Rust toolchain (rustup)"
  if [ "$FULL" = 1 ]; then
    cargo build --release --locked -p showcase -p widgetry-bench --bin showcase --bin widgetry-reliability
  else
    cargo build --locked -p showcase -p widgetry-bench --bin showcase --bin widgetry-reliability
  fi
fi
for bin in showcase widgetry-reliability; do
  [ -x "$TARGET/$PROFILE/$bin" ] || die "$TARGET/$PROFILE/$bin is missing (run without --no-build)"
done

# 1,000 clients, each with a connection to the instance: two descriptors per client on
# this machine, plus the instance's stores.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge 4096 ] || die "the open-file limit is $(ulimit -n); the battery needs 4096 (raise the hard limit)"

log "widgetry-reliability ($PROFILE build, open-file limit $(ulimit -n))"
exec "$TARGET/$PROFILE/widgetry-reliability" --showcase "$TARGET/$PROFILE/showcase" "${PASS[@]}"
