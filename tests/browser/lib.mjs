// What the browser drivers in tests/browser share: where the node packages and chromium are,
// argument parsing, polling, the static harness server, launching chromium, and the driver's
// life cycle (one JSON summary line on stdout, cleanups, an overall time limit, exit status).
//
// Node packages are looked up in $WIDGETRY_NODE_DIR (default tests/node) and chromium at
// $WIDGETRY_CHROMIUM (default /usr/bin/chromium).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const NODE_DIR = process.env.WIDGETRY_NODE_DIR || path.join(ROOT, 'tests', 'node');
export const CHROMIUM = process.env.WIDGETRY_CHROMIUM || '/usr/bin/chromium';
export const DEFAULT_ARTIFACTS = path.join(ROOT, 'tests', 'artifacts');
export const STEP_MS = 15_000;
export const MIME_MCP_APP = 'text/html;profile=mcp-app';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Functions run (last first) before the driver exits, whatever happened. */
export const cleanups = [];

export class Failure extends Error {}
export function check(cond, message) {
  if (!cond) throw new Failure(message);
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Parses `--flag value` pairs: `--url`, `--artifacts` (default tests/artifacts) and `flags`
 * (`--server-log` becomes `opts.serverLog`); fills what is missing from the environment
 * variables in `fromEnv` ({ key: VAR }) and fails with the usage unless every `required` key
 * has a value. `usage` is the synopsis, `script` the driver's file name.
 */
export function parseArgs(argv, { script, usage, flags = [], required = ['url'], fromEnv = {} }) {
  const known = ['--url', '--artifacts', ...flags];
  const opts = { artifacts: DEFAULT_ARTIFACTS };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (!known.includes(flag)) throw new Failure(`unknown argument ${flag} (usage: ${usage})`);
    if (value === undefined) throw new Failure(`${flag} needs a value`);
    opts[flag.slice(2).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = value;
  }
  for (const [key, name] of Object.entries(fromEnv)) opts[key] = opts[key] || process.env[name];
  check(required.every((key) => opts[key]),
    `usage: node tests/browser/${script} ${usage.replace('--url URL', '--url http://127.0.0.1:PORT/mcp')}`);
  return opts;
}

/**
 * A driver's start: its arguments (see `parseArgs`), `summary.url` set, the artifacts folder
 * made, and its node dependencies (see `loadDeps`).
 */
export function startDriver(argv, args, summary, depsOptions) {
  const opts = parseArgs(argv, args);
  summary.url = opts.url;
  fs.mkdirSync(opts.artifacts, { recursive: true });
  return { opts, deps: loadDeps(depsOptions) };
}

/** playwright-core's chromium and, with `mcp`, the MCP TypeScript SDK's client classes. */
export function loadDeps({ mcp = true } = {}) {
  const require = createRequire(path.join(NODE_DIR, 'package.json'));
  try {
    const deps = { chromium: require('playwright-core').chromium };
    if (mcp) {
      deps.Client = require('@modelcontextprotocol/sdk/client/index.js').Client;
      deps.StreamableHTTPClientTransport = require('@modelcontextprotocol/sdk/client/streamableHttp.js').StreamableHTTPClientTransport;
      deps.CallToolResultSchema = require('@modelcontextprotocol/sdk/types.js').CallToolResultSchema;
    }
    return deps;
  } catch (e) {
    throw new Failure(`node packages missing in ${NODE_DIR} (${e.message.split('\n')[0]}): run ./scripts/test.sh (or npm ci in tests/node)`);
  }
}

/**
 * An MCP TypeScript SDK client (announcing the MCP Apps UI extension) connected to `url`,
 * with `bearer` as its Authorization if given; closed by the cleanups. `who` names it in errors.
 */
export async function connectMcp(deps, url, { name, bearer, who }) {
  const client = new deps.Client(
    { name, version: '0.1.0' },
    { capabilities: { extensions: { 'io.modelcontextprotocol/ui': { mimeTypes: [MIME_MCP_APP] } } } },
  );
  const requestInit = bearer ? { headers: { authorization: `Bearer ${bearer}` } } : undefined;
  try {
    await client.connect(new deps.StreamableHTTPClientTransport(new URL(url), { requestInit }));
  } catch (e) {
    throw new Failure(`could not connect to ${url} with the MCP TypeScript SDK${who ? ` (${who})` : ''}: ${e.message}`);
  }
  cleanups.push(() => client.close());
  return client;
}

/** Headless chromium (Debian's) with the standard flags. */
export function launchChromium(deps) {
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run ./scripts/test.sh (it installs Debian's chromium)`);
  return deps.chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20_000 });
}

/** Calls `fn` until it returns `{ ok: true }`; fails with `what` and the last `got` after the timeout. */
export async function poll(what, fn, timeoutMs = STEP_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last.ok) return last;
    } catch (e) {
      last = { got: `error: ${e.message.split('\n')[0]}` };
    }
    if (Date.now() > deadline) throw new Failure(`${what} (after ${timeoutMs / 1000} s; last seen: ${JSON.stringify(last && last.got)})`);
    await sleep(100);
  }
}

/** The relative luminance (0..1) of a CSS `rgb(...)` colour, or null. */
export function luminance(rgb) {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(rgb || '');
  return m ? (0.2126 * m[1] + 0.7152 * m[2] + 0.0722 * m[3]) / 255 : null;
}

/**
 * Serves tests/browser/harness.html, harness.js and the host page's bridge.js on 127.0.0.1:0; POST /call runs
 * `callTool({ name, arguments })` and answers `{ result }` (or 502 `{ error }`). `onCall(call)`
 * sees each call first and may return `(result, error) => …`, told how it ended.
 * Resolves to the server's origin; closed by the cleanups.
 */
export function startHarnessServer(callTool, onCall = () => {}) {
  const files = {
    '/harness.html': ['text/html; charset=utf-8', fs.readFileSync(path.join(HERE, 'harness.html'))],
    '/harness.js': ['text/javascript; charset=utf-8', fs.readFileSync(path.join(HERE, 'harness.js'))],
    // The host page's bridge module: the harness drives widgets with the same code.
    '/bridge.js': ['text/javascript; charset=utf-8', fs.readFileSync(path.join(ROOT, 'crates', 'widgetry', 'host', 'bridge.js'))],
  };
  const server = http.createServer((req, res) => {
    const send = (status, type, body) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const pathname = new URL(req.url, 'http://127.0.0.1').pathname;
    if (req.method === 'GET' && files[pathname]) return send(200, ...files[pathname]);
    if (req.method === 'GET' && pathname === '/favicon.ico') return send(204, 'text/plain', '');
    if (req.method !== 'POST' || pathname !== '/call') return send(404, 'text/plain', 'not found');
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 1_000_000) req.destroy();
    });
    req.on('end', async () => {
      let call;
      try {
        call = JSON.parse(body);
      } catch (e) {
        return send(400, 'application/json', JSON.stringify({ error: `bad JSON: ${e.message}` }));
      }
      const ended = onCall(call) || (() => {});
      try {
        const result = await callTool({ name: call.name, arguments: call.arguments || {} });
        ended(result, null);
        send(200, 'application/json', JSON.stringify({ result }));
      } catch (e) {
        ended(null, e);
        send(502, 'application/json', JSON.stringify({ error: `tools/call ${call.name} failed: ${e.message}` }));
      }
      return undefined;
    });
    return undefined;
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      cleanups.push(() => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }));
      resolve(`http://127.0.0.1:${server.address().port}`);
    });
  });
}

/**
 * Runs `main()` within `overallMs`, then the cleanups; prints `summary` (with `ok`, `ms` and,
 * on failure, `error`) as one JSON line and exits 0, or 1 with the reason on stderr.
 * `onFailure()` runs before the cleanups when it failed (a screenshot, say).
 */
export function runDriver({ name, summary, overallMs, main, onFailure = async () => {} }) {
  const started = Date.now();
  async function cleanup() {
    for (const fn of cleanups.reverse()) {
      await Promise.race([Promise.resolve().then(fn).catch(() => {}), sleep(3000)]);
    }
  }
  let finishing = false;
  async function finish(error) {
    // Once: a promise left pending by a failed step (a waitForResponse, a popup) rejects
    // when the cleanups close the browser; that must not crash the driver before it prints.
    if (finishing) return;
    finishing = true;
    summary.ms = Date.now() - started;
    if (error) {
      summary.ok = false;
      summary.error = error.message;
      await onFailure();
    }
    await cleanup();
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    if (error) {
      process.stderr.write(`${name}: FAILED: ${summary.error}\n`);
      if (!(error instanceof Failure) && error.stack) process.stderr.write(`${error.stack}\n`);
    }
    process.exit(error ? 1 : 0);
  }
  process.on('unhandledRejection', (e) => { if (!finishing) finish(e instanceof Error ? e : new Error(String(e))); });
  const overall = setTimeout(() => finish(new Failure(`timed out after ${overallMs / 1000} s`)), overallMs);
  main().then(() => { clearTimeout(overall); return finish(null); }, (e) => { clearTimeout(overall); return finish(e); });
}

// ------------------------------------------------------------------------ the host page
/** The host page's log (`window.widgetryHost.events`): kind, summary and detail of each step. */
export const hostEvents = (page) => page.evaluate(() => window.widgetryHost.events.map((e) => ({ kind: e.kind, summary: e.summary, detail: e.detail })));

/** The latest `result TOOL` the host page logged after event `after` (fails on logged errors). */
export async function lastResult(page, tool, after) {
  return poll(`the log should show the result of ${tool}`, async () => {
    const ev = (await hostEvents(page)).slice(after);
    const r = ev.filter((e) => e.kind === 'result' && e.summary.startsWith(`result ${tool}`)).pop();
    const errors = ev.filter((e) => e.kind === 'error').map((e) => e.summary);
    check(!errors.length, `the host page logged errors: ${errors.join(' | ')}`);
    return { ok: !!r, got: ev.map((e) => e.summary).slice(-6), result: r && r.detail };
  });
}

/** Selects `name` in the host page's tool picker. */
export async function pickTool(page, name) {
  await page.selectOption('#tool', name);
  await poll(`the tool picker should select ${name}`, async () => {
    const v = await page.$eval('#tool', (s) => s.value);
    return { ok: v === name, got: v };
  });
}

// ------------------------------------------------------------------------ signing in
// The authorization server's sign-in form, whatever it names its fields.
export const EMAIL_FIELD = 'input[type="email"], input[name="email"], input[name="username"], input[autocomplete="username"], input[autocomplete="email"]';
export const PASSWORD_FIELD = 'input[type="password"], input[name="password"]';
export const SUBMIT = 'button[type="submit"], input[type="submit"], button:not([type])';

/**
 * Fills the authorization server's sign-in form in `popup` (one or two steps) with
 * `creds` and submits it; saves a screenshot at `shot` when given. Returns the
 * authorization endpoint (without its query).
 */
export async function fillSignIn(popup, creds, shot) {
  await poll('the sign-in window should open the authorization endpoint', async () => {
    const u = popup.url();
    return { ok: /^https?:/.test(u) && !u.startsWith('about:'), got: u };
  }, 20_000);
  await popup.waitForLoadState('domcontentloaded');
  const authorizeUrl = popup.url().split('?')[0];
  const email = popup.locator(EMAIL_FIELD).first();
  const password = popup.locator(PASSWORD_FIELD).first();
  try {
    await email.waitFor({ state: 'visible', timeout: STEP_MS });
  } catch (_) {
    const text = (await popup.locator('body').innerText().catch(() => '')).slice(0, 400);
    throw new Failure(`the authorization endpoint ${popup.url()} shows no sign-in form with an email field; it shows: ${JSON.stringify(text)}`);
  }
  const submit = popup.locator(SUBMIT).first();
  await email.fill(creds.email);
  if (!(await password.isVisible())) { // a two-step form: email first, then the password
    if (await submit.count()) await submit.click();
    else await email.press('Enter');
    await password.waitFor({ state: 'visible', timeout: STEP_MS }).catch(async () => {
      const text = (await popup.locator('body').innerText().catch(() => '')).slice(0, 400);
      throw new Failure(`the sign-in form at ${popup.url()} shows no password field; it shows: ${JSON.stringify(text)}`);
    });
  }
  await password.fill(creds.password);
  if (shot) await popup.screenshot({ path: shot }).catch(() => {});
  if (await submit.count()) await submit.click();
  else await password.press('Enter');
  return authorizeUrl;
}

/** After the credentials: approves consent if shown, until the host page is signed in;
 * returns how many consent buttons it clicked. */
export async function finishSignIn(page, popup) {
  const consent = /^(allow|approve|authorize|authorise|accept|consent|continue|grant|yes)\b/i;
  const deadline = Date.now() + 30_000;
  let clicked = 0;
  let lastPopup = '';
  for (;;) {
    const signedIn = await page.$eval('#user-label', (e) => e.dataset.signedIn === 'true');
    if (signedIn) return clicked;
    const errors = (await hostEvents(page)).filter((e) => e.kind === 'error').map((e) => e.summary);
    check(!errors.some((e) => /sign-in failed/.test(e)), `sign-in failed in the host page: ${errors.join(' | ')}`);
    if (!popup.isClosed()) {
      try {
        lastPopup = `${popup.url().split('?')[0]}: ${(await popup.locator('body').innerText({ timeout: 1000 })).slice(0, 300)}`;
        const buttons = popup.locator('button, input[type="submit"]');
        const n = await buttons.count();
        for (let i = 0; i < n; i++) {
          const b = buttons.nth(i);
          const label = ((await b.innerText().catch(() => '')) || (await b.getAttribute('value')) || '').trim();
          if (consent.test(label) && await b.isVisible()) {
            await b.click();
            clicked++;
            await popup.waitForLoadState('domcontentloaded').catch(() => {});
            break;
          }
        }
      } catch (_) { /* navigating or closed */ }
    }
    if (Date.now() > deadline) {
      throw new Failure(`the host page did not get signed in within 30 s; sign-in window: ${popup.isClosed() ? 'closed' : JSON.stringify(lastPopup)}; host log: ${JSON.stringify((await hostEvents(page)).filter((e) => e.kind === 'auth' || e.kind === 'error').map((e) => e.summary).slice(-6))}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ------------------------------------------------------------------------ server log
/** The size of a file (0 when missing): where to start reading new lines of a server log. */
export const logSize = (file) => { try { return fs.statSync(file).size; } catch (_) { return 0; } };

/** The verification code sent to `email` after byte `from` of the server log. */
export function codeFrom(file, from, email) {
  const escaped = email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`widgetry sign-in: verification code for ${escaped} is (\\d{6})`, 'g');
  return poll(`the server log ${file} should show a verification code for ${email} (ConsoleSender)`, async () => {
    const text = fs.readFileSync(file, 'utf8').slice(from);
    const all = [...text.matchAll(re)];
    return { ok: all.length > 0, code: all.length ? all[all.length - 1][1] : null, got: `${text.length} new bytes` };
  }).then((r) => r.code);
}
