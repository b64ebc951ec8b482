#!/usr/bin/env node
// Judge one run of the MCP conformance suite (used by scripts/conformance.sh).
//
// The suite's exit code is not to be trusted, so this reads what it wrote:
//   - the suite's stdout (--log): "Running <suite> suite (N scenarios)" (or
//     "Running requirements <revision> (N scenarios)"), one
//     "✓|✗ <scenario>: N passed, M failed" line per scenario and the
//     "Total: N passed, M failed" line;
//   - <results>/server-<scenario>-<timestamp>/checks.json: every check with
//     its id, status (SUCCESS, FAILURE, WARNING, INFO, ...) and errorMessage.
// A scenario that crashed has a summary line but no checks.json; it counts as
// one failed check named after the scenario.
//
// SUCCESS checks pass; FAILURE and WARNING checks fail (the suite's own
// baseline logic treats a WARNING as failing too); INFO and others are ignored.
// A failed check is expected when examples/conformance/expected-failures.yml
// lists it (or its whole scenario); an entry that no longer matches a failure
// is stale. The run fails on any unexpected failure or stale entry, unless
// --informational.
//
// Prints the failed checks, then `conformance: N passed, M failed` as the last
// line. Exit: 0 ok, 1 failed checks / stale entries, 2 unusable input.
//
// Usage: node conformance_report.mjs --log FILE --results DIR --expected FILE
//          [--known FILE] [--informational]
//        node conformance_report.mjs --validate-only --expected FILE [--known FILE]
// (--known: file with one valid scenario name per line, to catch typos)
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";

function fatal(message) {
  console.error(`conformance: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { informational: false, validateOnly: false };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    if (flag === "--informational" || flag === "--validate-only") {
      opts[flag === "--informational" ? "informational" : "validateOnly"] = true;
      continue;
    }
    if (!["--log", "--results", "--expected", "--known"].includes(flag)) fatal(`unknown argument ${flag}`);
    if (argv[i + 1] === undefined) fatal(`${flag} needs a value`);
    opts[flag.slice(2)] = argv[i + 1];
    i += 1;
  }
  for (const required of opts.validateOnly ? ["expected"] : ["log", "results", "expected"]) {
    if (!opts[required]) fatal(`--${required} is required`);
  }
  return opts;
}

// The suite's stdout: declared scenario count, per-scenario lines, totals.
function parseLog(text) {
  const declared =
    text.match(/^Running (\S+) suite \((\d+) scenarios\)/m) ??
    text.match(/^Running (requirements \S+) \((\d+) scenarios\)/m);
  const scenarios = new Map();
  for (const m of text.matchAll(/^[✓✗] (\S+): (\d+) passed, (\d+) failed$/gmu)) {
    scenarios.set(m[1], { passed: Number(m[2]), failed: Number(m[3]) });
  }
  const total = text.match(/^Total: (\d+) passed, (\d+) failed$/m);
  return {
    suite: declared?.[1],
    declaredCount: declared ? Number(declared[2]) : undefined,
    scenarios,
    total: total ? { passed: Number(total[1]), failed: Number(total[2]) } : undefined,
  };
}

// <results>/server-<scenario>-<ISO timestamp with : and . replaced by ->/checks.json
function readChecks(resultsDir) {
  const byScenario = new Map();
  if (!existsSync(resultsDir)) return byScenario;
  for (const entry of readdirSync(resultsDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const m = entry.name.match(/^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/);
    if (!m) continue;
    const file = join(resultsDir, entry.name, "checks.json");
    if (!existsSync(file)) continue;
    let checks;
    try {
      checks = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      fatal(`cannot parse ${file}: ${e.message}`);
    }
    if (!Array.isArray(checks)) fatal(`${file} is not a JSON array of checks`);
    byScenario.set(m[1], checks);
  }
  return byScenario;
}

function readExpected(file, known) {
  if (!existsSync(file)) fatal(`expected-failures file not found: ${file}`);
  let doc;
  try {
    doc = YAML.parse(readFileSync(file, "utf8"));
  } catch (e) {
    fatal(`${file} is not valid YAML: ${e.message}`);
  }
  const list = doc?.expected_failures;
  if (!doc || typeof doc !== "object" || !Array.isArray(list)) {
    fatal(`${file} must be a mapping with a list 'expected_failures' (use 'expected_failures: []' for none)`);
  }
  return list.map((entry, i) => {
    const where = `${file}: expected_failures[${i}]`;
    if (!entry || typeof entry !== "object" || Array.isArray(entry)) fatal(`${where} must be a mapping`);
    for (const key of Object.keys(entry)) {
      if (!["scenario", "check", "reason"].includes(key)) fatal(`${where} has unknown key '${key}' (allowed: scenario, check, reason)`);
    }
    if (typeof entry.scenario !== "string" || !entry.scenario) fatal(`${where} needs 'scenario' (a scenario name)`);
    if (entry.check !== undefined && (typeof entry.check !== "string" || !entry.check)) fatal(`${where}: 'check' must be a check id`);
    if (typeof entry.reason !== "string" || !entry.reason.trim()) fatal(`${where} needs a non-empty 'reason'`);
    if (known && !known.has(entry.scenario)) fatal(`${where}: unknown scenario '${entry.scenario}' (see: conformance list --server)`);
    return { ...entry, matched: 0 };
  });
}

const opts = parseArgs(process.argv.slice(2));
const known = opts.known
  ? new Set(readFileSync(opts.known, "utf8").split("\n").map((s) => s.trim()).filter(Boolean))
  : undefined;
const expected = readExpected(opts.expected, known);
if (opts.validateOnly) process.exit(0);
const log = parseLog(readFileSync(opts.log, "utf8"));
if (!log.total) fatal(`the suite printed no 'Total: N passed, M failed' line; it did not finish (see ${opts.log})`);
if (log.declaredCount !== undefined && log.scenarios.size !== log.declaredCount) {
  fatal(`the suite announced ${log.declaredCount} scenarios but summarised ${log.scenarios.size}`);
}
const checksByScenario = readChecks(opts.results);

let passed = 0;
const failures = [];
for (const [scenario, summary] of log.scenarios) {
  let checks = checksByScenario.get(scenario);
  if (!checks) {
    if (summary.failed === 0 && summary.passed === 0) continue;
    if (summary.failed === 0) fatal(`no checks.json for scenario ${scenario} in ${opts.results}`);
    // Crashed before writing checks.json: the suite made up one failed check.
    checks = [{ id: scenario, status: "FAILURE", errorMessage: "scenario crashed (no checks.json); see the suite output above" }];
  }
  const ok = checks.filter((c) => c.status === "SUCCESS").length;
  const bad = checks.filter((c) => c.status === "FAILURE").length;
  if (ok !== summary.passed || bad !== summary.failed) {
    console.log(`note: ${scenario}: checks.json has ${ok} passed, ${bad} failed; the suite summary says ${summary.passed}, ${summary.failed}`);
  }
  passed += ok;
  for (const check of checks) {
    if (check.status !== "FAILURE" && check.status !== "WARNING") continue;
    const entry =
      expected.find((e) => e.scenario === scenario && e.check === check.id) ??
      expected.find((e) => e.scenario === scenario && e.check === undefined);
    if (entry) entry.matched += 1;
    failures.push({ scenario, check, entry });
  }
}

const unexpected = failures.filter((f) => !f.entry);
const stale = expected.filter((e) => e.matched === 0 && log.scenarios.has(e.scenario));
const notRun = expected.filter((e) => !log.scenarios.has(e.scenario));

if (failures.length > 0) {
  console.log(`\nfailed checks (${failures.length}):`);
  for (const { scenario, check, entry } of failures) {
    const tag = check.status === "WARNING" ? " [WARNING]" : "";
    console.log(`  ${entry ? "~" : "✗"} ${scenario} / ${check.id}${tag}: ${check.errorMessage ?? check.description ?? ""}`);
    if (entry) console.log(`      expected: ${entry.reason}`);
  }
}
if (stale.length > 0) {
  console.log("\nstale entries in expected-failures.yml (these now pass; delete them):");
  for (const e of stale) console.log(`  ✓ ${e.scenario}${e.check ? ` / ${e.check}` : ""}`);
}
if (notRun.length > 0) {
  console.log(`\nexpected-failures entries for scenarios not in the ${log.suite ?? "this"} suite: ${notRun.map((e) => e.scenario).join(", ")}`);
}

const verdictFailed = unexpected.length > 0 || stale.length > 0;
console.log(
  `\nconformance (${log.suite ?? "?"} suite, ${log.scenarios.size} scenarios): ` +
    `${failures.length - unexpected.length} expected failures, ${unexpected.length} unexpected, ${stale.length} stale` +
    (opts.informational ? " [informational run, not gating]" : verdictFailed ? " => FAILED" : " => OK"),
);
console.log(`conformance: ${passed} passed, ${failures.length} failed`);
process.exit(verdictFailed && !opts.informational ? 1 : 0);
