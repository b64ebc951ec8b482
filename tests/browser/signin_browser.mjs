#!/usr/bin/env node
// Browser test of the session sign-in widget (create_session / authenticate / auth_status and
// POST /api/session/authenticate) against a running showcase.
//
//   node tests/browser/signin_browser.mjs --url http://127.0.0.1:PORT/mcp --artifacts DIR \
//        --email E --password P --server-log FILE
//
// FILE is where the showcase's stderr goes: users without TOTP get their verification code
// from the ConsoleSender there (`widgetry sign-in: verification code for <email> is <code>`).
//
// With the official MCP TypeScript SDK client: tools/list, the authenticate widget
// (`text/html;profile=mcp-app`), create_session, auth_status (not yet), authenticate (its real
// result, `_meta["widgetry/signin"]` included). Then in headless Debian chromium
// (playwright-core) through the test harness (MCP Apps bridge):
// 1. light: a wrong password shows "The email or password is wrong." with the attempts left;
//    the right one leads to the code screen; the code (read from the server log) is typed
//    digit by digit, focus advancing on each, and submits itself; the success screen shows
//    the checkmark, "Welcome back, <name>!" and the email; auth_status then reports the user.
// 2. dark, a second session: the code is pasted into the first box (fills all six, submits);
//    success; auth_status reports the user.
// 3. the same widget in a frame sandboxed without allow-forms (see FORMS_SANDBOX_BUG).
// 4. a Claude-like host (the frame may fetch nothing: no connectDomains): the steps go
//    through the host as tools/call of the relay tool `authenticate_submit`; sign-in completes.
// The harness frame is sandboxed "allow-scripts allow-forms" like the Widgetry host page's.
// Screenshots: DIR/signin-error-light.png, signin-code-light.png, signin-done-light.png,
// signin-credentials-dark.png, signin-done-dark.png (signin-failure.png on failure).
// Prints one JSON line (the summary); on failure also the reason on stderr, exit status 1.
// Finds node packages in $WIDGETRY_NODE_DIR (default tests/node) and chromium at
// $WIDGETRY_CHROMIUM (default /usr/bin/chromium). Everything is loopback; bounded to 80 s.
import fs from 'node:fs';
import path from 'node:path';

import {
  check, cleanups, codeFrom, connectMcp, DEFAULT_ARTIFACTS, launchChromium, loadDeps, logSize,
  luminance, MIME_MCP_APP, parseArgs, poll, runDriver, sleep, startHarnessServer, STEP_MS,
} from './lib.mjs';

const OVERALL_MS = 80_000;
const ARGS = {
  script: 'signin_browser.mjs',
  usage: '--url URL --email E --password P --server-log FILE [--artifacts DIR]',
  flags: ['--email', '--password', '--server-log'],
  required: ['url', 'email', 'password', 'serverLog'],
  fromEnv: { email: 'WIDGETRY_DEMO_EMAIL', password: 'WIDGETRY_DEMO_PASSWORD' },
};
const META_KEY = 'widgetry/signin';

const summary = { ok: false, url: null, sessions: [], screenshots: [] };
let current = null; // the page to capture on failure
let artifactsDir = DEFAULT_ARTIFACTS;

// ---------------------------------------------------------------------------------- MCP
async function prepare(deps, url) {
  const client = await connectMcp(deps, url, { name: 'widgetry-signin-browser-test' });
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const n of ['create_session', 'authenticate', 'auth_status']) check(names.includes(n), `tools/list has no ${n} (tools: ${names.join(', ')}); the showcase registers sign-in with its embedded authorization server`);
  const tool = tools.find((t) => t.name === 'authenticate');
  const uri = tool._meta && tool._meta.ui && tool._meta.ui.resourceUri;
  check(typeof uri === 'string' && uri.startsWith('ui://'), `authenticate _meta.ui.resourceUri is ${JSON.stringify(uri)}`);
  const res = await client.readResource({ uri });
  const c = (res.contents || []).find((x) => x.mimeType === MIME_MCP_APP);
  check(c, `resources/read ${uri}: no ${MIME_MCP_APP} content`);
  const html = typeof c.text === 'string' ? c.text : Buffer.from(c.blob || '', 'base64').toString('utf8');
  check(html.includes('screen-credentials') && html.includes('ui/initialize'), `resources/read ${uri}: not the sign-in widget with the runtime`);
  const csp = c._meta && c._meta.ui && c._meta.ui.csp;
  return { client, html, csp };
}

// FIXME(server): `Status.expired` (crates/widgetry/src/signin/mod.rs) is left out of the JSON
// when false (`skip_serializing_if`) but the output schema lists it as required, so clients that
// validate structuredContent (the official TypeScript SDK's callTool) reject every
// authenticate/auth_status result that is not expired. Until that is fixed, the flow calls tools
// with the unvalidated tools/call request and `checkOutputSchemaBug` asserts the bug as it is;
// once fixed, set this to false (the check then asserts validated calls succeed).
const OUTPUT_SCHEMA_BUG = false;
let callToolResultSchema = null;

async function tool(client, name, args) {
  const r = await client.request({ method: 'tools/call', params: { name, arguments: args } }, callToolResultSchema);
  check(!r.isError, `${name} ${JSON.stringify(args)} returned isError: ${JSON.stringify(r.content)}`);
  return r;
}

async function newSignIn(client, origin) {
  const created = await tool(client, 'create_session', {});
  const sessionId = created.structuredContent && created.structuredContent.sessionId;
  check(/^[0-9a-f]{64}$/.test(sessionId || ''), `create_session should return a 64-hex sessionId (public and secret halves); got ${JSON.stringify(created.structuredContent)}`);
  const status = await tool(client, 'auth_status', { sessionId });
  check(status.structuredContent.authenticated === false && !status.structuredContent.expired,
    `auth_status of a new session should be not authenticated, not expired; got ${JSON.stringify(status.structuredContent)}`);
  const result = await tool(client, 'authenticate', { sessionId });
  const meta = result._meta && result._meta[META_KEY];
  check(meta && meta.sessionId === sessionId.slice(0, 32) && /^[0-9a-f]{32}$/.test(meta.nonce || '') && meta.endpoint === `${origin}/api/session/authenticate`,
    `authenticate's _meta["${META_KEY}"] should carry the public half of the sessionId, a nonce and the endpoint ${origin}/api/session/authenticate; got ${JSON.stringify(result._meta)}`);
  check(!JSON.stringify(result.structuredContent).includes(meta.nonce) && !JSON.stringify(result.content).includes(meta.nonce),
    'the nonce must reach only the widget (_meta), never structuredContent or content');
  return { sessionId, result };
}

/** The official SDK's validating callTool on auth_status (see OUTPUT_SCHEMA_BUG). */
async function checkOutputSchemaBug(client, sessionId) {
  let error = null;
  try {
    await client.callTool({ name: 'auth_status', arguments: { sessionId } });
  } catch (e) {
    error = e.message;
  }
  if (OUTPUT_SCHEMA_BUG) {
    check(error && error.includes("required property 'expired'"),
      `FIXME check: the TypeScript SDK's validating callTool('auth_status') was expected to fail on the missing "expired" field (output schema bug); it ${error ? `failed otherwise: ${error}` : 'succeeded: the bug is fixed, set OUTPUT_SCHEMA_BUG = false in tests/browser/signin_browser.mjs'}`);
    summary.knownBugs = ["auth_status/authenticate structuredContent omits 'expired' (false) but the outputSchema requires it; the TS SDK's callTool rejects it"];
  } else {
    check(!error, `the TypeScript SDK's validating callTool('auth_status') failed: ${error}`);
  }
}

async function expectSignedIn(client, sessionId, email, name, where) {
  const r = await tool(client, 'auth_status', { sessionId });
  const s = r.structuredContent;
  check(s && s.authenticated === true && s.email === email && s.name === name,
    `${where} auth_status should report authenticated as ${email} (${name}); got ${JSON.stringify(s)}`);
  return s;
}

// ------------------------------------------------------------------------ harness server
// ------------------------------------------------------------------------------- browser
// The Widgetry host page renders widgets in sandbox="allow-scripts allow-forms".
const SANDBOX = 'allow-scripts allow-forms';

// FIXME(widget): the sign-in widget (crates/widgetry/widgets/signin.html) only acts on the
// forms' `submit` events, which a frame sandboxed without allow-forms never fires (Chromium:
// "Blocked form submission … 'allow-forms' permission is not set"), so in such a host
// Continue and Verify do nothing. Asserted as it is; once the widget handles the buttons
// itself, set this to false (the check then asserts Continue works without allow-forms).
const FORMS_SANDBOX_BUG = false;

async function openWidget(browser, base, theme, html, result, label, sandbox = SANDBOX) {
  const context = await browser.newContext({ viewport: { width: 1040, height: 720 }, deviceScaleFactor: 1, colorScheme: theme });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const problems = [];
  const posts = []; // POST /api/session/authenticate: { step, status }
  page.on('pageerror', (e) => problems.push(`uncaught error: ${e.message}`));
  page.on('console', (m) => {
    // A refused credential is a 401 that Chromium logs as a failed resource load: expected.
    // Chromium also refuses the email field's `autofocus` in a cross-origin frame (the widget
    // focuses it from script instead).
    if (m.type() === 'error' && !/Failed to load resource|Blocked autofocusing/.test(m.text())
      && !(sandbox !== SANDBOX && /Blocked form submission/.test(m.text()))) problems.push(`console error: ${m.text()}`);
  });
  page.on('request', (req) => {
    if (!req.url().endsWith('/api/session/authenticate') || req.method() !== 'POST') return;
    let step = null;
    try { step = JSON.parse(req.postData() || '{}').step; } catch (_) { /* not JSON */ }
    posts.push({ req, step, status: null });
  });
  page.on('response', (res) => {
    const p = posts.find((x) => x.req === res.request());
    if (p) p.status = res.status();
  });
  await page.goto(`${base}/harness.html?${new URLSearchParams({ bridge: 'mcp-apps', theme, sandbox })}`);
  await page.evaluate((a) => window.harness.load(a), { html, toolName: 'authenticate', toolInput: { sessionId: result._meta[META_KEY].sessionId }, toolResult: result });
  const frame = page.frameLocator('#widget');
  const w = { page, frame, problems, posts, where: `[${label}, ${theme}]` };
  current = w;
  await poll(`${w.where} the credentials screen should show with the email field focused`, async () => {
    const visible = await frame.locator('#screen-credentials').isVisible();
    const focused = await frame.locator('html').evaluate(() => document.activeElement && document.activeElement.id);
    return { ok: visible && focused === 'email', got: { visible, focused } };
  });
  await poll(`${w.where} the widget should apply the ${theme} theme`, async () => {
    const got = await frame.locator('html').evaluate(() => ({ attr: document.documentElement.dataset.theme, bg: getComputedStyle(document.body).backgroundColor }));
    const lum = luminance(got.bg);
    return { ok: got.attr === theme && lum !== null && (theme === 'dark' ? lum < 0.35 : lum > 0.65), got };
  });
  return w;
}

const focusedId = (w) => w.frame.locator('html').evaluate(() => document.activeElement && document.activeElement.id);
const stepsSeen = (w) => w.posts.map((p) => `${p.step}:${p.status}`);

async function shot(w, name) {
  const file = path.join(artifactsDir, name);
  await w.page.screenshot({ path: file });
  summary.screenshots.push(file);
}

async function submitCredentials(w, email, password) {
  await w.frame.locator('#email').fill(email);
  await w.frame.locator('#password').fill(password);
  await w.frame.getByRole('button', { name: 'Continue' }).click();
}

async function toCodeScreen(w, opts) {
  const from = logSize(opts.serverLog);
  const n = w.posts.length;
  await submitCredentials(w, opts.email, opts.password);
  await poll(`${w.where} the right password should lead to the code screen with the first digit focused`, async () => {
    const visible = await w.frame.locator('#screen-code').isVisible();
    const focused = await focusedId(w);
    return { ok: visible && focused === 'digit-0', got: { visible, focused, posts: stepsSeen(w) } };
  });
  check(w.posts.slice(n).map((p) => `${p.step}:${p.status}`).join() === 'credentials:200', `${w.where} one credentials POST answered 200; saw ${stepsSeen(w)}`);
  const hint = await w.frame.locator('#code-hint').innerText();
  // The showcase's ConsoleSender only prints the code in the server log: the widget says so.
  check(/server's log/.test(hint) && !/We sent/.test(hint), `${w.where} the code hint should point to the server log (development sender), not claim a sent code: ${JSON.stringify(hint)}`);
  return codeFrom(opts.serverLog, from, opts.email);
}

async function expectDone(w, name, email) {
  await poll(`${w.where} the success screen should show the checkmark, "Welcome back, ${name}!" and "Signed in as ${email}"`, async () => {
    const visible = await w.frame.locator('#screen-done').isVisible();
    const check = await w.frame.locator('#screen-done .check svg').isVisible();
    const title = await w.frame.locator('#t-done').innerText();
    const sub = await w.frame.locator('#done-email').innerText();
    return { ok: visible && check && title.trim() === `Welcome back, ${name}!` && sub.trim() === `Signed in as ${email}`, got: { visible, check, title, sub, posts: stepsSeen(w) } };
  });
  check(!(await w.frame.locator('#screen-code').isVisible()) && !(await w.frame.locator('#screen-credentials').isVisible()), `${w.where} only the success screen should be visible`);
}

// ---------------------------------------------------------------------------------- main
const NAME = 'Demo User';

async function main() {
  const opts = parseArgs(process.argv.slice(2), ARGS);
  artifactsDir = opts.artifacts;
  summary.url = opts.url;
  fs.mkdirSync(opts.artifacts, { recursive: true });
  check(fs.existsSync(opts.serverLog), `--server-log ${opts.serverLog} does not exist (the showcase's stderr goes there)`);
  const deps = loadDeps();
  callToolResultSchema = deps.CallToolResultSchema;
  const origin = new URL(opts.url).origin;
  const { client, html, csp } = await prepare(deps, opts.url);
  check(csp && Array.isArray(csp.connectDomains) && csp.connectDomains.includes(origin),
    `the sign-in widget's _meta.ui.csp.connectDomains should include ${origin} (it posts there); got ${JSON.stringify(csp)}`);
  const calls = [];
  const base = await startHarnessServer(
    (call) => client.request({ method: 'tools/call', params: call }, callToolResultSchema),
    (call) => { calls.push({ name: call.name, arguments: call.arguments }); },
  );
  const browser = await launchChromium(deps);
  cleanups.push(() => browser.close());

  // 1. Light: wrong password, then the right one, then the code typed digit by digit.
  {
    const s = await newSignIn(client, origin);
    await checkOutputSchemaBug(client, s.sessionId);
    const w = await openWidget(browser, base, 'light', html, s.result, 'typed');
    await submitCredentials(w, opts.email, `${opts.password}-wrong`);
    const err = await poll(`${w.where} a wrong password should show "The email or password is wrong." with the attempts left`, async () => {
      const text = await w.frame.locator('#error-credentials').innerText();
      const still = await w.frame.locator('#screen-credentials').isVisible();
      return { ok: still && /^The email or password is wrong\. \d+ attempts? left\.$/.test(text.trim()), got: { text, still, posts: stepsSeen(w) } };
    });
    check(w.posts.map((p) => `${p.step}:${p.status}`).join() === 'credentials:401', `${w.where} the wrong password should be one POST answered 401; saw ${stepsSeen(w)}`);
    const role = await w.frame.locator('#error-credentials').getAttribute('role');
    check(role === 'alert', `${w.where} the error should be announced (role=alert); role=${role}`);
    await shot(w, 'signin-error-light.png');

    const code = await toCodeScreen(w, opts);
    check(await w.frame.locator('#error-credentials').innerText() === '', `${w.where} the error should be cleared after the right password`);
    const codePosts = w.posts.length;
    for (let i = 0; i < 6; i++) {
      const before = await focusedId(w);
      check(before === `digit-${i}`, `${w.where} before typing digit ${i + 1}, focus should be on digit-${i}; it is on ${before}`);
      await w.page.keyboard.type(code[i]);
      if (i < 5) {
        await poll(`${w.where} typing digit ${i + 1} should fill box ${i + 1} and move focus to box ${i + 2}`, async () => {
          const value = await w.frame.locator(`#digit-${i}`).inputValue();
          const focused = await focusedId(w);
          return { ok: value === code[i] && focused === `digit-${i + 1}`, got: { value, focused } };
        });
        if (i === 2) await shot(w, 'signin-code-light.png');
      }
    }
    check(w.posts.length >= codePosts, 'unreachable');
    await expectDone(w, NAME, opts.email);
    const steps = w.posts.slice(codePosts).map((p) => `${p.step}:${p.status}`);
    check(steps.join() === 'code:200', `${w.where} the sixth digit should submit the code once, answered 200; saw ${steps}`);
    await shot(w, 'signin-done-light.png');
    check(w.problems.length === 0, `${w.where} the page reported: ${w.problems.join(' | ')}`);
    const st = await expectSignedIn(client, s.sessionId, opts.email, NAME, w.where);
    const again = await tool(client, 'authenticate', { sessionId: s.sessionId });
    check(again.structuredContent.authenticated === true && !(again._meta && again._meta[META_KEY]),
      `${w.where} authenticate on a signed-in session should report it and issue no new nonce; got ${JSON.stringify({ sc: again.structuredContent, meta: again._meta })}`);
    summary.sessions.push({ how: 'typed', theme: 'light', status: st });
  }

  // 2. Dark, a second session: the code pasted into the first box.
  {
    const s = await newSignIn(client, origin);
    const w = await openWidget(browser, base, 'dark', html, s.result, 'pasted');
    await shot(w, 'signin-credentials-dark.png');
    const code = await toCodeScreen(w, opts);
    const codePosts = w.posts.length;
    const pasted = `${code.slice(0, 3)} ${code.slice(3)}`; // as a mail client might format it
    await w.frame.locator('#digit-0').evaluate((el, text) => {
      const data = new DataTransfer();
      data.setData('text/plain', text);
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    }, pasted);
    await expectDone(w, NAME, opts.email);
    const steps = w.posts.slice(codePosts).map((p) => `${p.step}:${p.status}`);
    check(steps.join() === 'code:200', `${w.where} pasting "${pasted}" should fill all six boxes and submit once, answered 200; saw ${steps}`);
    await shot(w, 'signin-done-dark.png');
    check(w.problems.length === 0, `${w.where} the page reported: ${w.problems.join(' | ')}`);
    const st = await expectSignedIn(client, s.sessionId, opts.email, NAME, w.where);
    summary.sessions.push({ how: 'pasted', theme: 'dark', status: st });
  }
  // 3. A host whose sandbox has no allow-forms (this harness's default).
  {
    const s = await newSignIn(client, origin);
    const w = await openWidget(browser, base, 'light', html, s.result, 'no allow-forms', 'allow-scripts');
    await submitCredentials(w, opts.email, opts.password);
    if (FORMS_SANDBOX_BUG) {
      await sleep(1500);
      const still = await w.frame.locator('#screen-credentials').isVisible();
      check(still && w.posts.length === 0,
        `FIXME check: without allow-forms, Continue was expected to do nothing (the form-submit bug); it ${w.posts.length ? `posted ${stepsSeen(w)}` : 'left the credentials screen'}: the bug is fixed, set FORMS_SANDBOX_BUG = false in tests/browser/signin_browser.mjs`);
      (summary.knownBugs = summary.knownBugs || []).push('the sign-in widget does nothing in a frame sandboxed without allow-forms (it relies on form submit events)');
    } else {
      await poll(`${w.where} without allow-forms, Continue should still post the credentials and show the code screen`, async () => {
        const visible = await w.frame.locator('#screen-code').isVisible();
        return { ok: visible, got: { visible, posts: stepsSeen(w) } };
      });
    }
    summary.noAllowForms = { posts: stepsSeen(w) };
  }
  check(calls.length === 0, `the sign-in widget should talk to its endpoint, not call tools; it called ${JSON.stringify(calls)}`);
  // 4. A Claude-like host: no connectDomains (the frame may not fetch anything), so every step
  //    goes through the host as tools/call of the app-only relay tool, and sign-in completes.
  {
    const s = await newSignIn(client, origin);
    const relay = s.result._meta[META_KEY].submitTool;
    check(relay === 'authenticate_submit', `the sign-in grant should name its relay tool; got ${JSON.stringify(relay)}`);
    const blocked = html.replace(/<head([^>]*)>/i, `<head$1><meta http-equiv="Content-Security-Policy" content="connect-src 'none'">`);
    check(blocked !== html, 'could not add the no-connect policy to the widget');
    const w = await openWidget(browser, base, 'light', blocked, s.result, 'claude (no connectDomains)');
    const from = calls.length;
    const code = await (async () => {
      const logFrom = logSize(opts.serverLog);
      await submitCredentials(w, opts.email, opts.password);
      await poll(`${w.where} the credentials should go through the relay tool and lead to the code screen`, async () => {
        const visible = await w.frame.locator('#screen-code').isVisible();
        return { ok: visible, got: { visible, calls: calls.slice(from).map((c) => c.name), posts: stepsSeen(w) } };
      });
      return codeFrom(opts.serverLog, logFrom, opts.email);
    })();
    await w.frame.locator('#digit-0').focus();
    await w.page.keyboard.type(code);
    await expectDone(w, NAME, opts.email);
    const relayed = calls.slice(from);
    check(relayed.length >= 2 && relayed.every((c) => c.name === relay) && relayed.some((c) => c.arguments.step === 'code'),
      `${w.where} every step should be a tools/call ${relay}; saw ${JSON.stringify(relayed.map((c) => [c.name, c.arguments.step]))}`);
    check(w.posts.every((p) => p.status === null), `${w.where} no request may reach the endpoint from the frame; saw ${stepsSeen(w)}`);
    const st = await expectSignedIn(client, s.sessionId, opts.email, NAME, w.where);
    summary.sessions.push({ how: 'relayed (claude-like host)', theme: 'light', status: st, relayCalls: relayed.length });
  }
  current = null;
  summary.ok = true;
}

runDriver({
  name: 'signin_browser',
  summary,
  overallMs: OVERALL_MS,
  main,
  async onFailure() {
    if (current) {
      await Promise.race([current.page.screenshot({ path: path.join(artifactsDir, 'signin-failure.png') }).catch(() => {}), sleep(3000)]);
      if (current.problems.length) summary.error += ` (page: ${current.problems.join(' | ')})`;
    }
  },
});
