#!/usr/bin/env bash
# Run the official MCP conformance suite's client auth scenarios against the
# widgetry CLI: the suite starts a mock MCP server and authorization server per
# scenario and runs `widgetry conformance-client <url>` as the client under test.
#
#   scripts/conformance-client.sh          build the CLI, run the auth suite (14
#                                          scenarios); fail on any failed check not
#                                          listed in crates/widgetry-cli/conformance-expected-failures.yml
# Options:
#   --scenario NAME      run one client scenario instead of the auth suite
#   --release            build and run the release profile (default: debug)
#   --no-build           use the already-built target/<profile>/widgetry
#   --bin PATH           use this widgetry executable (implies --no-build)
#   -o, --output DIR     where results go (default: tests/artifacts/conformance-client)
#
# The suite's mock servers listen on all interfaces: as root the suite runs in a
# new network namespace with only loopback (unshare -n). Needs no network once the
# Node packages in tests/node are installed.
#
# The last line printed is `conformance-client: N passed, M failed`.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PROFILE=debug
BUILD=1
BIN=""
OUT=""
SCENARIO=""
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) SCENARIO="${2:?--scenario needs a name}"; shift 2 ;;
    --release) PROFILE=release; shift ;;
    --no-build) BUILD=0; shift ;;
    --bin) BIN="${2:?--bin needs a path}"; BUILD=0; shift 2 ;;
    -o | --output) OUT="${2:?--output needs a directory}"; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

EXPECTED="$ROOT/crates/widgetry-cli/conformance-expected-failures.yml"
[ -f "$EXPECTED" ] || die "missing $EXPECTED"
OUT="${OUT:-$ROOT/tests/artifacts/conformance-client}"

ensure_node_deps
export NODE_DIR

# Judges one run from what the suite wrote: its stdout (per-scenario summary lines
# and the Total line) and <results>/<scenario>-<timestamp>/checks.json. SUCCESS
# passes; FAILURE and WARNING fail (the suite's own verdict counts warnings too);
# INFO is ignored. A scenario without checks.json counts as one failed check.
# Usage: report validate EXPECTED KNOWN | report judge LOG RESULTS EXPECTED KNOWN
# shellcheck disable=SC2016 # JavaScript, not shell: nothing here should expand
REPORT_JS='
const fs = require("fs");
const path = require("path");
const YAML = require("module").createRequire(path.join(process.env.NODE_DIR, "package.json"))("yaml");
const [mode, ...args] = process.argv.slice(1);
const fatal = (m) => { console.error(`conformance-client: ${m}`); process.exit(2); };

function readExpected(file, known) {
  let doc;
  try { doc = YAML.parse(fs.readFileSync(file, "utf8")); } catch (e) { fatal(`${file} is not valid YAML: ${e.message}`); }
  const list = doc && doc.expected_failures;
  if (!Array.isArray(list)) fatal(`${file} must be a mapping with a list expected_failures (use "expected_failures: []" for none)`);
  return list.map((e, i) => {
    const where = `${file}: expected_failures[${i}]`;
    if (!e || typeof e !== "object" || Array.isArray(e)) fatal(`${where} must be a mapping`);
    for (const k of Object.keys(e)) if (!["scenario", "check", "reason"].includes(k)) fatal(`${where} has unknown key ${k} (allowed: scenario, check, reason)`);
    if (typeof e.scenario !== "string" || !e.scenario) fatal(`${where} needs a scenario`);
    if (e.check !== undefined && (typeof e.check !== "string" || !e.check)) fatal(`${where}: check must be a check id`);
    if (typeof e.reason !== "string" || !e.reason.trim()) fatal(`${where} needs a non-empty reason`);
    if (!known.has(e.scenario)) fatal(`${where}: unknown scenario ${e.scenario} (see: conformance list --client)`);
    return { ...e, matched: 0 };
  });
}

function readChecks(dir) {
  const out = new Map();
  const walk = (d) => {
    if (!fs.existsSync(d)) return;
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      if (!ent.isDirectory()) continue;
      const full = path.join(d, ent.name);
      const rel = path.relative(dir, full).split(path.sep).join("/");
      const m = rel.match(/^(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/);
      const file = path.join(full, "checks.json");
      if (m && fs.existsSync(file)) {
        let checks;
        try { checks = JSON.parse(fs.readFileSync(file, "utf8")); } catch (e) { fatal(`cannot parse ${file}: ${e.message}`); }
        if (!Array.isArray(checks)) fatal(`${file} is not a JSON array`);
        out.set(m[1], { checks, dir: full });
      } else {
        walk(full);
      }
    }
  };
  walk(dir);
  return out;
}

if (mode === "validate") {
  const [expectedFile, knownFile] = args;
  const known = new Set(fs.readFileSync(knownFile, "utf8").split("\n").map((s) => s.trim()).filter(Boolean));
  readExpected(expectedFile, known);
  process.exit(0);
}

const [logFile, resultsDir, expectedFile, knownFile] = args;
const known = new Set(fs.readFileSync(knownFile, "utf8").split("\n").map((s) => s.trim()).filter(Boolean));
const expected = readExpected(expectedFile, known);
const log = fs.readFileSync(logFile, "utf8");
const summaries = new Map();
for (const m of log.matchAll(/^[✓✗] (\S+): (\d+) passed, (\d+) failed(?:, (\d+) warnings)?$/gmu)) {
  summaries.set(m[1], { passed: +m[2], failed: +m[3], warnings: +(m[4] || 0) });
}
const single = log.match(/^Passed: (\d+)\/(\d+), (\d+) failed, (\d+) warnings$/m);
const declared = log.match(/^Running (\S+) suite \((\d+) scenarios\)/m);
const byScenario = readChecks(resultsDir);
if (!declared && !single) fatal(`the suite printed no results; it did not finish (see ${logFile})`);
if (declared && !/^Total: \d+ passed, \d+ failed/m.test(log)) fatal(`the suite printed no Total line; it did not finish (see ${logFile})`);
if (declared && summaries.size !== +declared[2]) fatal(`the suite announced ${declared[2]} scenarios but summarised ${summaries.size}`);
const scenarios = declared ? [...summaries.keys()] : [...byScenario.keys()];
if (scenarios.length === 0) fatal(`no scenario results in ${resultsDir}`);

let passed = 0;
const failures = [];
console.log("per scenario:");
for (const scenario of scenarios) {
  const found = byScenario.get(scenario);
  const checks = found ? found.checks : [{ id: scenario, status: "FAILURE", errorMessage: "no checks.json (the scenario crashed); see the suite output" }];
  const ok = checks.filter((c) => c.status === "SUCCESS").length;
  const bad = checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING");
  passed += ok;
  console.log(`  ${bad.length === 0 ? "✓" : "✗"} ${scenario}: ${ok} passed, ${bad.length} failed`);
  for (const check of bad) {
    const entry = expected.find((e) => e.scenario === scenario && e.check === check.id) ??
      expected.find((e) => e.scenario === scenario && e.check === undefined);
    if (entry) entry.matched += 1;
    failures.push({ scenario, check, entry, dir: found && found.dir });
  }
}
const unexpected = failures.filter((f) => !f.entry);
const stale = expected.filter((e) => e.matched === 0 && scenarios.includes(e.scenario));
if (failures.length > 0) {
  console.log(`\nfailed checks (${failures.length}):`);
  for (const { scenario, check, entry } of failures) {
    const tag = check.status === "WARNING" ? " [WARNING]" : "";
    console.log(`  ${entry ? "~" : "✗"} ${scenario} / ${check.id}${tag}: ${check.errorMessage ?? check.description ?? ""}`);
    if (entry) console.log(`      expected: ${entry.reason}`);
  }
  const dirs = [...new Set(unexpected.map((f) => f.dir).filter(Boolean))];
  for (const d of dirs) {
    const stderr = path.join(d, "stderr.txt");
    if (fs.existsSync(stderr)) {
      const text = fs.readFileSync(stderr, "utf8").trim().split("\n").slice(-15).join("\n");
      console.log(`\n---- client stderr (${path.relative(resultsDir, d)}) ----\n${text}`);
    }
  }
}
if (stale.length > 0) {
  console.log("\nstale entries in conformance-expected-failures.yml (these now pass; delete them):");
  for (const e of stale) console.log(`  ✓ ${e.scenario}${e.check ? ` / ${e.check}` : ""}`);
}
const failed = unexpected.length > 0 || stale.length > 0;
console.log(`\nconformance-client (${scenarios.length} scenarios): ${failures.length - unexpected.length} expected failures, ` +
  `${unexpected.length} unexpected, ${stale.length} stale => ${failed ? "FAILED" : "OK"}`);
console.log(`conformance-client: ${passed} passed, ${failures.length} failed`);
process.exit(failed ? 1 : 0);
'

rm -rf "$OUT"
mkdir -p "$OUT"

# Check the expected-failures file before spending time on a build and a run.
node "$CONFORMANCE_CLI" list --client | sed -n 's/^  - \([^ ]*\).*$/\1/p' >"$OUT/known-scenarios.txt"
[ -s "$OUT/known-scenarios.txt" ] || die "'conformance list --client' listed no scenarios"
node -e "$REPORT_JS" validate "$EXPECTED" "$OUT/known-scenarios.txt" ||
  die "fix $EXPECTED (format: see the comment at its top)"
if [ -n "$SCENARIO" ]; then
  grep -qxF "$SCENARIO" "$OUT/known-scenarios.txt" || die "unknown client scenario '$SCENARIO' (see: conformance list --client)"
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -z "$BIN" ]; then
  BIN="$TARGET_DIR/$PROFILE/widgetry"
  if [ "$BUILD" = 1 ]; then
    need_cmd cargo "install the Rust toolchain (rustup)"
    PROFILE_FLAG=()
    [ "$PROFILE" = release ] && PROFILE_FLAG=(--release)
    log "cargo build --locked -p widgetry-cli ${PROFILE_FLAG[*]}"
    (cd "$ROOT" && cargo build --locked -p widgetry-cli "${PROFILE_FLAG[@]}") ||
      die "cargo build of the widgetry CLI failed"
  fi
fi
[ -x "$BIN" ] || die "widgetry executable not found: $BIN (build it: cargo build -p widgetry-cli)"
case "$BIN" in
  *[[:space:]]*) die "the suite splits --command on spaces; use a widgetry path without spaces (not '$BIN')" ;;
esac

SELECT=(--suite auth)
[ -n "$SCENARIO" ] && SELECT=(--scenario "$SCENARIO")
RUN=(node "$CONFORMANCE_CLI" client --command "$BIN conformance-client" "${SELECT[@]}" -o "$OUT/results")

# The mock servers listen on all interfaces; keep them off the network.
if [ "$(id -u)" = 0 ]; then
  need_cmd unshare "needed to isolate the suite's mock servers (apt-get install util-linux)"
  need_cmd ip "needed to bring up loopback in the suite's network namespace (apt-get install iproute2)"
  unshare -n true 2>/dev/null || die "unshare -n failed (no CAP_SYS_ADMIN?); cannot isolate the suite's mock servers"
  RUN=(unshare -n sh -c 'ip link set lo up && exec "$@"' sh "${RUN[@]}")
  log "running the client auth suite in a loopback-only network namespace"
else
  warn "not root: the suite's mock servers will listen on all interfaces while it runs"
fi

log "running the conformance client suite (${SELECT[*]}) against $BIN conformance-client"
set +e
# Full output goes to suite.log; the terminal gets the summary part.
timeout 900 "${RUN[@]}" >"$OUT/suite.log" 2>&1
suite_status=$?
set -e
grep -E '^([✓✗] |Total: |Passed: |Running )' "$OUT/suite.log" || true
if [ "$suite_status" = 124 ]; then
  die "the conformance suite timed out after 900 s (see $OUT/suite.log)"
fi
# Status 1 just means failed checks; the report below judges them.
case "$suite_status" in
  0 | 1) ;;
  *) tail -n 40 "$OUT/suite.log" >&2; die "the conformance CLI exited with status $suite_status (see $OUT/suite.log)" ;;
esac

log "results in $OUT (suite.log, results/**/checks.json, stdout.txt, stderr.txt)"
set +e
node -e "$REPORT_JS" judge "$OUT/suite.log" "$OUT/results" "$EXPECTED" "$OUT/known-scenarios.txt" | tee "$OUT/report.txt"
report_status=${PIPESTATUS[0]}
set -e
if [ "$report_status" != 0 ]; then
  # Keep the summary as the last line.
  tail -n 1 "$OUT/report.txt"
fi
exit "$report_status"
