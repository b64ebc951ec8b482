#!/usr/bin/env bash
# Brings up the production topology natively on this machine and checks it end to end:
# two showcase instances (release build) sharing PostgreSQL (a fresh database) and Redis,
# behind nginx terminating TLS with a self-signed certificate, everything on 127.0.0.1.
# It drives every user flow through the proxy over verified https, each step served by
# both instances (OAuth 2.1 from the 401 to the tokens, the widget tool with the access
# token, widget actions, refresh rotation and revocation: scripts/lib/deploy_flows.py).
# Then it stops one instance with SIGTERM and checks the other carries on. It cleans up
# (processes, database, temporary files) whatever happens, unless --keep.
#
#   ./scripts/deploy-local.sh            bring up, check, tear down
#   ./scripts/deploy-local.sh --app new  the same with an app made by `widgetry new`
#                                        (the CLI built here, the app generated into a
#                                        temporary folder and built against this checkout;
#                                        configured only through the README's variables)
#   ./scripts/deploy-local.sh --keep     leave it running (prints the URL and how to stop)
#   ./scripts/deploy-local.sh --cert-only  only write a self-signed certificate to deploy/tls/
#                                          (what compose.yaml mounts)
#
# Needs: nginx (./scripts/test.sh --setup-only installs it), openssl, curl, python3, psql,
# PostgreSQL on 127.0.0.1:5432 (user postgres, trust), Redis on 127.0.0.1:6379.
# Configuration is the README's table; this script sets exactly what compose.yaml sets.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

KEEP=0
CERT_ONLY=0
APP=showcase
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1; shift ;;
    --app)
      [ $# -ge 2 ] || die "--app needs showcase or new"
      case "$2" in showcase | new) APP=$2 ;; *) die "--app: showcase or new, not '$2'" ;; esac
      shift 2
      ;;
    --cert-only) CERT_ONLY=1; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# make_cert DIR: a self-signed certificate for localhost and 127.0.0.1 (cert.pem, key.pem).
make_cert() {
  mkdir -p "$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null ||
    die "openssl could not make a self-signed certificate"
  chmod 600 "$1/key.pem"
}

need_cmd openssl "install openssl"
if [ "$CERT_ONLY" = 1 ]; then
  make_cert "$ROOT/deploy/tls"
  log "self-signed certificate in deploy/tls/ (cert.pem, key.pem)"
  exit 0
fi
NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || die "$NGINX is missing: run ./scripts/test.sh --setup-only (installs Debian's nginx)"
need_cmd curl "install curl"
need_cmd python3 "install python3 (the flows use its standard library only)"
need_cmd psql "install postgresql-client; PostgreSQL must run on 127.0.0.1:5432"
need_cmd redis-cli "install redis-tools; Redis must run on 127.0.0.1:6379"
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || die "Redis does not answer on 127.0.0.1:6379"

RUN="$(mktemp -d /tmp/widgetry-deploy.XXXXXX)"
DB="widgetry_deploy_$$"
PIDS=()
FAILED=0
# Stops everything this script started (nginx with SIGTERM, so it stops its workers),
# drops the database, and removes the files unless a check failed (then they stay).
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  if [ "$FAILED" = 0 ]; then rm -rf "$RUN"; else printf 'logs kept in %s\n' "$RUN" >&2; fi
}
if [ "$KEEP" = 0 ]; then trap cleanup EXIT; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "$APP" = showcase ]; then
  log "building the showcase (release)"
  cargo build --release --locked -p showcase >"$RUN/build.log" 2>&1 || { tail -n 30 "$RUN/build.log" >&2; die "cargo build failed"; }
  BIN="$TARGET/release/showcase"
  TOOL='"show_gallery"' # a tool every instance must list
  # What the flows drive: the widget tool (its result carries a widget token), the like
  # action (a widget action and a protected tool) with its input, the demo user's email.
  FLOW_TOOL=show_gallery
  FLOW_ACTION=like_image
  FLOW_INPUT='{"image_id":"sunrise"}'
  DEMO_EMAIL=demo@widgetry.dev
else
  log "building the widgetry CLI (release)"
  cargo build --release --locked -p widgetry-cli >"$RUN/build.log" 2>&1 || { tail -n 30 "$RUN/build.log" >&2; die "cargo build -p widgetry-cli failed"; }
  mkdir -p "$RUN/src"
  log "widgetry new deployapp --template actions (in $RUN/src)"
  (cd "$RUN/src" && "$TARGET/release/widgetry" new deployapp --template actions) >>"$RUN/build.log" 2>&1 ||
    { tail -n 30 "$RUN/build.log" >&2; die "widgetry new failed"; }
  log "building the generated app (release, sharing $TARGET)"
  (cd "$RUN/src/deployapp" && CARGO_TARGET_DIR="$TARGET" cargo build --release) >>"$RUN/build.log" 2>&1 ||
    { tail -n 30 "$RUN/build.log" >&2; die "the generated app does not build"; }
  BIN="$TARGET/release/deployapp"
  TOOL='"show_ideas"'
  FLOW_TOOL=show_ideas
  FLOW_ACTION=like_idea
  FLOW_INPUT='{"idea_id":"dark-mode"}'
  DEMO_EMAIL=demo@example.com
  # The generated app creates its demo user only in development or when asked.
  export WIDGETRY_DEMO_USER=1
fi

psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "CREATE DATABASE $DB" >/dev/null ||
  die "cannot create database $DB on PostgreSQL 127.0.0.1:5432 (user postgres)"
make_cert "$RUN/tls"

FRONT=$(free_port)
PUBLIC="https://localhost:$FRONT"
PASSWORD="deploy-$(openssl rand -hex 6)"
export WIDGETRY_PUBLIC_URL="$PUBLIC"
export WIDGETRY_TRUSTED_PROXIES=127.0.0.1
export WIDGETRY_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
export WIDGETRY_SESSION_STORE_URL="redis://127.0.0.1:6379/4"
WIDGETRY_KEY_ENCRYPTION_KEY="$(openssl rand -base64 48)"
export WIDGETRY_KEY_ENCRYPTION_KEY
export WIDGETRY_DEMO_PASSWORD="$PASSWORD"
export WIDGETRY_DATA_DIR="$RUN/data"
export RUST_LOG=info

# start_instance NAME: starts one instance on a free port; sets PORT_<NAME> and PID_<NAME>.
start_instance() {
  local name=$1 port
  port=$(free_port)
  "$BIN" --port "$port" >"$RUN/$name.out" 2>"$RUN/$name.log" &
  local pid=$!
  PIDS+=("$pid")
  local i
  # Ready when /healthz answers (whatever the app prints at start-up).
  for i in $(seq 1 300); do
    curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$RUN/$name.log" >&2; die "instance $name exited at start-up"; }
    sleep 0.1
  done
  curl -s -o /dev/null "http://127.0.0.1:$port/healthz" || die "instance $name did not answer /healthz within 30 s"
  printf -v "PORT_$name" '%s' "$port"
  printf -v "PID_$name" '%s' "$pid"
  log "instance $name on 127.0.0.1:$port (pid $pid)"
}
start_instance a # first: creates the schema, the keys and the demo user
start_instance b

tpl="$(cat "$ROOT/deploy/nginx.conf.template")"
tpl="${tpl//'${RUN_DIR}'/$RUN}"
tpl="${tpl//'${LISTEN}'/127.0.0.1:$FRONT ssl}"
tpl="${tpl//'${TLS}'/ssl_certificate $RUN/tls/cert.pem; ssl_certificate_key $RUN/tls/key.pem;}"
tpl="${tpl//'${UPSTREAMS}'/server 127.0.0.1:$PORT_a; server 127.0.0.1:$PORT_b;}"
printf '%s\n' "$tpl" >"$RUN/nginx.conf"
"$NGINX" -p "$RUN" -e "$RUN/error.log" -g 'daemon off;' -c "$RUN/nginx.conf" &
PIDS+=("$!")
for _ in $(seq 1 50); do
  curl -s --cacert "$RUN/tls/cert.pem" "$PUBLIC/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
log "nginx terminating TLS on $PUBLIC"

CHECKS=0
check() { # description, then a command that must succeed
  local what=$1
  shift
  if "$@"; then
    CHECKS=$((CHECKS + 1))
    printf '  ok   %s\n' "$what"
  else
    printf '  FAIL %s\n' "$what" >&2
    FAILED=1
    exit 1
  fi
}
CURL=(curl -sS --max-time 10 --cacert "$RUN/tls/cert.pem")

# upstreams_of PATH N: the X-Upstream of N GETs of PATH through nginx, sorted and unique.
upstreams_of() {
  local i
  for i in $(seq 1 "$2"); do
    "${CURL[@]}" -o /dev/null -D - "$PUBLIC$1" | tr -d '\r' | sed -n 's/^x-upstream: //Ip'
  done | sort -u | tr '\n' ' '
}
both_serve() {
  local seen
  seen="$(upstreams_of "$1" 6)"
  [[ "$seen" == *"127.0.0.1:$PORT_a"* && "$seen" == *"127.0.0.1:$PORT_b"* ]] ||
    { echo "       served by: $seen" >&2; return 1; }
}
status_is() { # expected status, URL, curl options...
  local want=$1 url=$2
  shift 2
  [ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$@" "$url")" = "$want" ]
}
json_field_is() { # URL, jq-free field check: "key": "value" in the body
  "${CURL[@]}" "$1" | grep -q "\"$2\":\"$3\"" ||
    "${CURL[@]}" "$1" | grep -q "\"$2\":\[\"$3\"\]"
}
mcp() { # session (or -), JSON body: prints headers and body
  local h=(-H 'content-type: application/json' -H 'accept: application/json, text/event-stream')
  [ "$1" != - ] && h+=(-H "mcp-session-id: $1" -H 'mcp-protocol-version: 2025-06-18')
  "${CURL[@]}" -D - "${h[@]}" --data "$2" "$PUBLIC/mcp"
}

log "checks over https"
check "the certificate verifies for localhost (no -k)" status_is 200 "$PUBLIC/healthz"
check "/healthz and /readyz are served by both instances" both_serve /readyz
check "protected-resource metadata names the public https resource" \
  json_field_is "$PUBLIC/.well-known/oauth-protected-resource/mcp" resource "$PUBLIC/mcp"
check "authorization-server metadata names the public https issuer" \
  json_field_is "$PUBLIC/.well-known/oauth-authorization-server" issuer "$PUBLIC"
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"deploy-local","version":"1"}}}'
SID="$(mcp - "$INIT" | tr -d '\r' | sed -n 's/^mcp-session-id: //Ip')"
check "initialize over https gives a session" test -n "$SID"
mcp "$SID" '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
tools_list_ok() {
  local i
  for i in 1 2 3 4; do
    mcp "$SID" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' | grep -q "$TOOL" || return 1
  done
}
check "the session works on both instances (4 x tools/list)" tools_list_ok

# Every user flow through nginx over verified https, each step served by both instances
# (OAuth 2.1 from the 401 to the tokens, the protected tool, widget actions, refresh
# rotation and revocation): scripts/lib/deploy_flows.py prints one "ok" line per check.
flows() {
  python3 "$ROOT/scripts/lib/deploy_flows.py" --public "$PUBLIC" --ca "$RUN/tls/cert.pem" \
    --instances "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --email "$DEMO_EMAIL" \
    --password "$PASSWORD" --tool "$FLOW_TOOL" --action "$FLOW_ACTION" \
    --action-input "$FLOW_INPUT" | tee "$RUN/flows.txt"
}
log "user flows across both instances"
flows || { printf '  FAIL user flows (logs: %s)\n' "$RUN" >&2; FAILED=1; exit 1; }
CHECKS=$((CHECKS + $(grep -c '^  ok ' "$RUN/flows.txt")))

check "/metrics is not served through the proxy" status_is 404 "$PUBLIC/metrics"
# Directly, from a loopback address that is not the proxy's (nginx connects from 127.0.0.1).
metrics_direct() {
  curl -s --interface 127.0.0.3 "http://127.0.0.1:$PORT_a/metrics" >"$RUN/metrics.txt" &&
    grep -q '^widgetry_http_requests_total{route="/mcp",tool="",status="200"}' "$RUN/metrics.txt"
}
check "/metrics is served directly (not via the proxy), with the requests counted" metrics_direct

log "SIGTERM to instance a"
kill -TERM "$PID_a"
gone_a() { for _ in $(seq 1 100); do kill -0 "$PID_a" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
check "instance a exits within 10 s of SIGTERM" gone_a
only_b() {
  local i
  for i in 1 2 3 4; do status_is 200 "$PUBLIC/readyz" || return 1; done
  tools_list_ok
}
check "instance b carries every request, the session included" only_b

log "deploy-local: OK ($CHECKS checks)"
if [ "$KEEP" = 1 ]; then
  log "left running: $PUBLIC/mcp (demo user $DEMO_EMAIL / $PASSWORD); stop with: kill ${PIDS[*]}; files in $RUN"
fi
