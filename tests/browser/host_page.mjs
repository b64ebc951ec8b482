#!/usr/bin/env node
// Browser test of the local host page (`/_widgetry/host`) served by a running Widgetry app.
//
//   node tests/browser/host_page.mjs --url http://127.0.0.1:PORT/mcp --artifacts DIR \
//        [--email E --password P]
//
// In headless Debian chromium (playwright-core):
// 1. Opens the host page (checks its CSP and no-store headers), waits for tools/list.
//    App-only tools (item_details, the token refresh, the sign-in relay) are not offered, and
//    the tool selected first needs no sign-in.
// 2. For each host profile (ChatGPT dark, generic light, Claude light): picks `show_list`,
//    presses Run, asserts the list widget renders the tool's items in a frame on its own
//    loopback origin (the sandbox), with its CSP <meta> first (Claude: connect-src 'none'),
//    the MCP Apps handshake done, window.openai only under ChatGPT; clicks "Details" (the
//    widget's item_details call in the widget and the log; its widget state reaching the host:
//    ChatGPT's setWidgetState, else ui/update-model-context), follows a theme switch, tears
//    the widget down (ui/resource-teardown answered), saves DIR/host-<profile>.png.
// 3. Approval (ChatGPT): create_session and authenticate wait for Allow; before it the
//    sign-in widget is on stage without input; after it the form shows; Deny → no call and
//    tool-cancelled to the widget; with streaming on, tool-input-partial precede tool-input.
// 4. Claude: the sign-in widget completes (code from --server-log) through the relay tool.
// 4b. 2026-07-28: the page reconnects statelessly (server/discover), the widget renders and
//    its own call works, without a session; then back to 2025-11-25.
//    The widget's Details call carries Mcp-Param-Item (item_details' id says x-mcp-header).
// 5. A failed call (a wrong argument type) leaves no widget or result and says so in plain words.
// 6. Sign-in: picks `protected-widget`, presses Run, expects "Sign in" (the tool answers with
//    mcp/www_authenticate), clicks it, fills the authorization server's sign-in form in the
//    popup (email + password of the demo user), approves consent if asked, and asserts the
//    page is signed in and the protected widget greets the user by name. Screenshots:
//    host-signin-required.png, host-signin-form.png, host-signed-in.png.
// 7. A host that drops result _meta (generic + the toggle): the gallery gets no widget token
//    and Like goes through the host as tools/call; refused for a missing scope, the page says
//    "more permission", registers a client for the wider scope, signs in again in the same
//    tab, and the like then works.
// 8. The header names the user (name and email from the issuer's userinfo endpoint), falls
//    back to the token's subject when userinfo fails, and names the user again after.
// Credentials: --email/--password, else $WIDGETRY_DEMO_EMAIL/$WIDGETRY_DEMO_PASSWORD, else
// parsed from $WIDGETRY_SERVER_OUTPUT (what the server printed at start).
// Prints one JSON line (the summary); on failure also the reason on stderr, exit status 1.
// Finds node packages in $WIDGETRY_NODE_DIR (default tests/node) and chromium at
// $WIDGETRY_CHROMIUM (default /usr/bin/chromium). Everything is loopback; bounded to 110 s.
import fs from 'node:fs';
import path from 'node:path';

import {
  check, cleanups, codeFrom, EMAIL_FIELD, fillSignIn, finishSignIn, Failure, hostEvents,
  lastResult, launchChromium, loadDeps, logSize, luminance, parseArgs, PASSWORD_FIELD, pickTool,
  poll, runDriver, STEP_MS, SUBMIT,
} from './lib.mjs';

const OVERALL_MS = 110_000;
const ARGS = {
  script: 'host_page.mjs',
  usage: '--url URL [--artifacts DIR] [--email E --password P] [--server-log FILE]',
  flags: ['--email', '--password', '--server-log'],
};
const PROFILES = [
  { profile: 'chatgpt', theme: 'dark' },
  { profile: 'generic', theme: 'light' },
  { profile: 'claude', theme: 'light' },
];

const summary = { ok: false, url: null, page: null, tools: [], profiles: {}, signIn: { ok: false } };

/** The demo user's credentials: flags, environment, or the server's start-up output. */
function demoCredentials(opts) {
  let email = opts.email || process.env.WIDGETRY_DEMO_EMAIL || null;
  let password = opts.password || process.env.WIDGETRY_DEMO_PASSWORD || null;
  const output = process.env.WIDGETRY_SERVER_OUTPUT || '';
  const lines = output.split(/\r?\n/);
  if (!email) {
    const ranked = [...lines.filter((l) => /demo|user|sign|password/i.test(l)), ...lines];
    for (const l of ranked) {
      const m = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/.exec(l);
      if (m) { email = m[0]; break; }
    }
  }
  if (!password) {
    for (const l of lines) {
      const m = /password\s*(?:[:=]|is)?\s*["'`]?([^\s"'`,;)]+)/i.exec(l);
      if (m && !/^(and|for|of|the)$/i.test(m[1])) { password = m[1]; break; }
    }
  }
  if (!password && email) { // "demo@example.com / s3cret"
    for (const l of lines) {
      const i = l.indexOf(email);
      if (i < 0) continue;
      const m = /^\s*[/:|]\s*["'`]?([^\s"'`,;)]+)/.exec(l.slice(i + email.length));
      if (m) { password = m[1]; break; }
    }
  }
  return { email, password };
}

// ------------------------------------------------------------------------------ page helpers
async function runTool(page) {
  const before = (await hostEvents(page)).length;
  await page.click('#run');
  return before;
}

async function logText(page, kind) {
  return page.$$eval(`#log li[data-kind="${kind}"]`, (lis) => lis.map((li) => li.childNodes[2] ? li.childNodes[2].textContent : li.textContent));
}

async function widgetTheme(page) {
  const handle = await page.$('#widget-frame');
  const frame = handle && await handle.contentFrame();
  check(frame, 'the widget iframe has no frame');
  return frame.evaluate(() => ({ attr: document.documentElement.dataset.theme, bg: getComputedStyle(document.body).backgroundColor }));
}

async function expectTheme(page, where, t) {
  return poll(`${where} the widget should apply theme ${t} (html[data-theme] and body colours)`, async () => {
    const got = await widgetTheme(page);
    const lum = luminance(got.bg);
    return { ok: got.attr === t && lum !== null && (t === 'dark' ? lum < 0.35 : lum > 0.65), got };
  });
}

// ------------------------------------------------------------------------------- the steps
async function openPage(context, origin) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`uncaught error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  const res = await page.goto(`${origin}/_widgetry/host`);
  check(res && res.status() === 200, `GET /_widgetry/host answered ${res && res.status()}: is the host page enabled (dev mode or WIDGETRY_HOST_PAGE=1)?`);
  const headers = res.headers();
  const csp = headers['content-security-policy'] || '';
  check(/default-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp), `the host page should send its own Content-Security-Policy; got ${JSON.stringify(csp)}`);
  check(/no-store/.test(headers['cache-control'] || ''), `the host page should be Cache-Control: no-store; got ${headers['cache-control']}`);
  summary.page = { csp };
  await poll('the host page should connect and list the tools', async () => {
    const conn = await page.$eval('#conn', (e) => ({ state: e.dataset.state, text: e.textContent }));
    const tools = await page.$$eval('#tool option', (os) => os.map((o) => o.value));
    check(conn.state !== 'error', `the host page could not connect: ${conn.text}; log: ${JSON.stringify((await hostEvents(page)).slice(-4))}`);
    return { ok: conn.state === 'ok' && tools.includes('show_list'), got: { conn, tools } };
  });
  summary.tools = await page.$$eval('#tool option', (os) => os.map((o) => o.value));
  // Tools only widgets call are not offered; the first tool offered needs no sign-in.
  for (const hidden of ['item_details', 'widgetry_refresh_widget_token', 'authenticate_submit', 'like_image', 'unlike_image']) {
    check(!summary.tools.includes(hidden), `the app-only tool ${hidden} should not be listed; got ${summary.tools.join(', ')}`);
  }
  check(/app-only tool/.test(await page.locator('#tools-hidden').innerText()), 'the page should say app-only tools are not listed');
  const first = await page.$eval('#tool', (s) => s.value);
  const badges = await page.locator('#tool-info .badges').innerText();
  check(!/sign-in required/.test(badges), `the default tool (${first}) should not need sign-in; badges: ${badges}`);
  summary.defaultTool = first;
  return { page, problems };
}

/** The widget frame's document (a frame on the sandbox origin). */
async function widgetFrame(page) {
  const handle = await page.$('#widget-frame');
  const frame = handle && await handle.contentFrame();
  check(frame, 'the widget iframe has no frame');
  return frame;
}

async function runProfile(page, problems, spec, artifacts, origin) {
  const { profile, theme } = spec;
  const where = `[${profile}]`;
  const out = { theme, items: 0, detail: null, screenshot: null };
  summary.profiles[profile] = out;
  await page.selectOption('#profile', profile);
  await page.selectOption('#theme', theme);
  await pickTool(page, 'show_list');
  const from = await runTool(page);
  const { result } = await lastResult(page, 'show_list', from);
  const sc = result && result.structuredContent;
  check(sc && Array.isArray(sc.items) && sc.items.length > 0, `${where} show_list should return items; got ${JSON.stringify(result)}`);

  const w = page.frameLocator('#widget-frame');
  const items = w.getByRole('list').getByRole('listitem');
  const expected = sc.items.map((i) => i.title);
  const seen = await poll(`${where} the widget should list ${expected.length} items titled ${JSON.stringify(expected)}`, async () => {
    const texts = await items.allInnerTexts();
    return { ok: texts.length === expected.length && expected.every((t, i) => texts[i].includes(t)), got: texts };
  });
  out.items = seen.got.length;

  // A real origin of its own (the sandbox), under the widget's CSP as the profile applies it.
  const frame = await widgetFrame(page);
  const inside = await frame.evaluate(() => ({
    origin: location.origin,
    csp: (document.querySelector('meta[http-equiv="Content-Security-Policy"]') || {}).content || null,
    cspFirst: document.head.firstElementChild && document.head.firstElementChild.getAttribute('http-equiv'),
    openai: typeof window.openai === 'object' && window.openai !== null,
    host: window.widgetry.host,
    hostInfo: window.widgetry.hostInfo,
  }));
  const pageOrigin = new URL(page.url()).origin;
  check(inside.origin !== pageOrigin && inside.origin !== 'null' && /^http:\/\/(localhost|127\.0\.0\.1):\d+$/.test(inside.origin),
    `${where} the widget should run on its own loopback origin (not ${pageOrigin}); it runs on ${inside.origin}`);
  const sandbox = await page.$eval('#widget-frame', (f) => f.getAttribute('sandbox'));
  check(sandbox === 'allow-scripts allow-same-origin allow-forms allow-popups', `${where} the sandbox attribute: ${sandbox}`);
  check(inside.csp && /^default-src 'none'; script-src 'unsafe-inline'/.test(inside.csp), `${where} the widget document should carry its CSP <meta>; got ${inside.csp}`);
  check(inside.cspFirst === 'Content-Security-Policy', `${where} the CSP <meta> should come first in <head>`);
  check(inside.host === 'mcp-apps', `${where} the runtime should finish the MCP Apps handshake in every profile; host = ${inside.host}`);
  check(inside.openai === (profile === 'chatgpt'), `${where} window.openai should exist only in the ChatGPT profile; it ${inside.openai ? 'exists' : 'does not'}`);
  if (profile === 'claude') check(/connect-src 'none'/.test(inside.csp), `${where} Claude ignores connectDomains: connect-src should be 'none'; got ${inside.csp}`);
  out.origin = inside.origin;
  out.hostInfo = inside.hostInfo;

  await expectTheme(page, where, theme);

  // Details → the widget's own item_details call, shown in the widget and in the log.
  const first = sc.items[0];
  const before = (await hostEvents(page)).length;
  const firstItem = items.first();
  await firstItem.getByRole('button', { name: 'Details' }).click();
  const { result: details } = await lastResult(page, 'item_details', before);
  const detail = details && details.structuredContent && details.structuredContent.detail;
  check(typeof detail === 'string' && detail, `${where} item_details should return a detail; got ${JSON.stringify(details)}`);
  await poll(`${where} after clicking Details, the first item should show ${JSON.stringify(detail)}`, async () => {
    const got = await firstItem.innerText();
    return { ok: got.includes(detail), got };
  });
  out.detail = detail;
  const calls = await logText(page, 'callTool');
  check(calls.some((t) => t.includes('callTool item_details') && t.includes(`"id":${JSON.stringify(first.id)}`)),
    `${where} the log should show the widget's callTool item_details {"id":${JSON.stringify(first.id)}}; callTool entries: ${JSON.stringify(calls)}`);
  // Widget state: ChatGPT keeps it (window.openai.setWidgetState); other hosts see it as model context.
  await poll(`${where} the log should show the widget state reaching the host`, async () => {
    const states = (await logText(page, 'state')).slice(-4);
    const want = profile === 'chatgpt' ? 'widget state' : 'model context update';
    return { ok: states.some((t) => t.includes(want) && t.includes(first.id)), got: states };
  });

  // The host theme control: the widget follows it live.
  const other = theme === 'dark' ? 'light' : 'dark';
  await page.selectOption('#theme', other);
  await expectTheme(page, where, other);
  out.followedTheme = other;

  // Teardown: the widget answers ui/resource-teardown, then the frame goes.
  const tdFrom = (await hostEvents(page)).length;
  await page.click('#teardown');
  await poll(`${where} Tear down should end with the widget's answer and no frame`, async () => {
    const ev = (await hostEvents(page)).slice(tdFrom).map((e) => e.summary);
    const gone = (await page.$('#widget-frame')) === null;
    return { ok: gone && ev.some((x) => x.includes('answered ui/resource-teardown')), got: { gone, ev } };
  });

  check(problems.length === 0, `${where} the page reported: ${problems.join(' | ')}`);
  await runTool(page); // render it again for the screenshot
  await page.frameLocator('#widget-frame').getByRole('list').getByRole('listitem').first().waitFor();
  const shot = path.join(artifacts, `host-${profile}.png`);
  await page.waitForTimeout(400); // let the widget's colour transitions finish
  await page.screenshot({ path: shot });
  out.screenshot = shot;
}

/** The stateless revision: discover, no session; the widget renders and its calls work. */
async function stateless2026(page, problems) {
  const from = (await hostEvents(page)).length;
  await page.selectOption('#protocol', '2026-07-28');
  await poll('the page should reconnect with 2026-07-28 (server/discover, no session)', async () => {
    const conn = await page.$eval('#conn', (e) => ({ state: e.dataset.state, text: e.textContent }));
    const ev = (await hostEvents(page)).slice(from).map((e) => e.summary);
    return { ok: conn.state === 'ok' && /stateless/.test(conn.text) && ev.some((x) => x.startsWith('discovered:')), got: { conn, ev: ev.slice(-3) } };
  });
  await page.selectOption('#profile', 'generic');
  await pickTool(page, 'show_list');
  const run = await runTool(page);
  const { result } = await lastResult(page, 'show_list', run);
  check(result && result.resultType === 'complete', `a 2026-07-28 result should say resultType complete; got ${JSON.stringify(result && result.resultType)}`);
  const items = page.frameLocator('#widget-frame').getByRole('list').getByRole('listitem');
  await items.first().waitFor();
  const before = (await hostEvents(page)).length;
  // item_details mirrors its id into Mcp-Param-Item (x-mcp-header): the server refuses
  // the widget's call without the header, so the result proves the page sent it.
  const sent = page.waitForRequest((r) => r.method() === 'POST' && /"name":"item_details"/.test(r.postData() || ''));
  await items.first().getByRole('button', { name: 'Details' }).click();
  const details = await lastResult(page, 'item_details', before);
  const headers = (await sent).headers();
  check(headers['mcp-param-item'] === 'design' && headers['mcp-name'] === 'item_details' && headers['mcp-method'] === 'tools/call',
    `the widget's 2026-07-28 call should carry Mcp-Method, Mcp-Name and Mcp-Param-Item; sent ${JSON.stringify(headers)}`);
  check(details.result && details.result.structuredContent && details.result.structuredContent.id === 'design',
    `item_details should answer for design; got ${JSON.stringify(details.result)}`);
  summary.paramHeaders = headers['mcp-param-item'];
  const sessions = await page.evaluate(() => window.widgetryHost.mcp.session);
  check(sessions === null, `2026-07-28 needs no session; the page holds ${sessions}`);
  summary.stateless2026 = true;
  await page.selectOption('#protocol', '2025-11-25');
  await poll('back on 2025-11-25 with a session', async () => {
    const conn = await page.$eval('#conn', (e) => e.textContent);
    return { ok: conn === 'connected', got: conn };
  });
  check(problems.length === 0, `[2026-07-28] the page reported: ${problems.join(' | ')}`);
}

/** Sets the arguments of the selected tool as JSON. */
async function setArgs(page, args) {
  if (!(await page.isChecked('#json-mode'))) await page.check('#json-mode');
  await page.fill('#json-input', JSON.stringify(args));
}

/** A new sign-in session: create_session (approved when `approval`), its sessionId. */
async function createSession(page, approval) {
  await pickTool(page, 'create_session');
  const from = await runTool(page);
  if (approval) {
    await page.locator('#approval-banner').waitFor({ state: 'visible' });
    await page.click('#approve');
  }
  const { result } = await lastResult(page, 'create_session', from);
  const id = result && result.structuredContent && result.structuredContent.sessionId;
  check(/^[0-9a-f]{64}$/.test(id || ''), `create_session should give a 64-hex sessionId; got ${JSON.stringify(result)}`);
  return id;
}

/** ChatGPT: a tool that is not read-only waits for approval, and its widget gets no input before. */
async function approvalStep(page, problems, artifacts) {
  const out = summary.approval = {};
  await page.selectOption('#profile', 'chatgpt');
  await page.selectOption('#theme', 'light');
  const sessionId = await createSession(page, true);
  await pickTool(page, 'authenticate');
  await setArgs(page, { sessionId });
  const from = await runTool(page);
  await page.locator('#approval-banner').waitFor({ state: 'visible' });
  const shown = await page.locator('#approval-args').innerText();
  check(shown.includes(sessionId), `the approval should show the arguments; got ${shown}`);
  await poll('before approval, the widget is on stage, past its handshake, without input', async () => {
    const frame = await widgetFrame(page);
    const got = await frame.evaluate(() => ({ host: window.widgetry.host, input: window.widgetry.toolInput }));
    return { ok: got.host === 'mcp-apps' && got.input === null, got };
  });
  check(!(await hostEvents(page)).slice(from).some((e) => e.kind === 'run' && e.summary.startsWith('tools/call authenticate')), 'the call must wait for approval');
  await page.screenshot({ path: path.join(artifacts, 'host-approval.png') });
  await page.click('#approve');
  await lastResult(page, 'authenticate', from);
  await poll('after approval, the widget gets its input and the sign-in form shows', async () => {
    const frame = await widgetFrame(page);
    const got = await frame.evaluate(() => ({ input: window.widgetry.toolInput, form: !document.getElementById('screen-credentials').hidden }));
    return { ok: got.input && got.input.sessionId === sessionId && got.form, got };
  });
  out.approved = true;
  // Denied: the widget is told (tool-cancelled), the call never runs.
  const from2 = await runTool(page);
  await page.locator('#approval-banner').waitFor({ state: 'visible' });
  await page.click('#deny');
  await poll('a denied call shows why and never runs', async () => {
    const err = await page.locator('#run-error').innerText();
    const ev = (await hostEvents(page)).slice(from2);
    const told = ev.some((e) => e.kind === 'bridge' && e.summary.includes('→ widget ui/notifications/tool-cancelled'));
    return { ok: /denied/.test(err) && told && !ev.some((e) => e.kind === 'run' && e.summary.startsWith('tools/call')), got: { err, told, ev: ev.map((e) => e.summary) } };
  });
  out.denied = true;
  // Streamed input: partial arguments first (one field more each time), then the whole.
  await page.check('#stream-input');
  const from3 = await runTool(page);
  await page.locator('#approval-banner').waitFor({ state: 'visible' });
  await page.click('#approve');
  await lastResult(page, 'authenticate', from3);
  const order = (await hostEvents(page)).slice(from3).filter((e) => e.kind === 'bridge' && /→ widget ui\/notifications\/tool-input/.test(e.summary)).map((e) => e.summary.split(' ')[2]);
  check(order.length >= 2 && order[0] === 'ui/notifications/tool-input-partial' && order[order.length - 1] === 'ui/notifications/tool-input',
    `with streaming on, partial input should come before the input; saw ${JSON.stringify(order)}`);
  await page.uncheck('#stream-input');
  out.streamed = order.length;
  check(problems.length === 0, `[approval] the page reported: ${problems.join(' | ')}`);
}

/** Claude: the sign-in widget cannot fetch (no connectDomains) and completes through the relay tool. */
async function claudeSignIn(page, problems, opts, artifacts) {
  const out = summary.claudeSignIn = { ok: false };
  const creds = demoCredentials(opts);
  check(opts.serverLog, 'the Claude sign-in step needs --server-log (the verification code is printed there)');
  await page.selectOption('#profile', 'claude');
  const sessionId = await createSession(page, false);
  await pickTool(page, 'authenticate');
  await setArgs(page, { sessionId });
  const from = await runTool(page);
  await lastResult(page, 'authenticate', from);
  const w = page.frameLocator('#widget-frame');
  await w.locator('#email').waitFor({ state: 'visible' });
  const logFrom = logSize(opts.serverLog);
  await w.locator('#email').fill(creds.email);
  await w.locator('#password').fill(creds.password);
  await w.getByRole('button', { name: 'Continue' }).click();
  await w.locator('#screen-code').waitFor({ state: 'visible' });
  const code = await codeFrom(opts.serverLog, logFrom, creds.email);
  await w.locator('#digit-0').focus();
  await page.keyboard.type(code);
  await poll('the sign-in widget should complete in the Claude profile', async () => {
    const done = await w.locator('#screen-done').isVisible();
    return { ok: done, got: { done, log: (await logText(page, 'callTool')).slice(-3) } };
  });
  const relayed = (await logText(page, 'callTool')).filter((t) => t.includes('callTool authenticate_submit'));
  check(relayed.length >= 2, `every step should go through the relay tool in Claude; callTool entries: ${relayed.length}`);
  out.relayCalls = relayed.length;
  await page.screenshot({ path: path.join(artifacts, 'host-claude-signin.png') });
  out.ok = true;
  // Not a problem of the page: Claude's CSP refusing the direct fetch is expected here.
  for (let i = problems.length - 1; i >= 0; i--) if (/Refused to connect|Content Security Policy/.test(problems[i])) problems.splice(i, 1);
}

/** A failed call: no stale widget or result, the error at the top in plain words. */
async function failedCall(page) {
  await page.selectOption('#profile', 'generic');
  await pickTool(page, 'authenticate');
  await setArgs(page, { sessionId: 12 });
  await runTool(page);
  const err = await poll('a failed call should show its error at the top', async () => {
    const text = await page.locator('#run-error').innerText().catch(() => '');
    return { ok: !!text, got: text };
  });
  check(!/line \d+ column \d+/.test(err.got) && /expected text|sessionId/.test(err.got), `the error should be in plain words; got ${JSON.stringify(err.got)}`);
  check((await page.$('#widget-frame')) === null, 'a failed call should leave no widget on stage');
  check((await page.locator('#result').innerText()) === '', 'a failed call should leave no result');
  summary.failedCall = err.got;
}

/** A host that drops the result's _meta: the gallery still likes (no widget token: tools/call). */
/** "More permission": sign in again for the wider scope in the same tab, then the like works. */
async function upgradeScope(page, creds) {
  const from = (await hostEvents(page)).length;
  const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#signin')]);
  cleanups.push(() => (popup.isClosed() ? null : popup.close()));
  const consent = /^(allow|approve|authorize|authorise|accept|consent|continue|grant|yes)\b/i;
  await poll('signing in again for more scope should succeed in the same tab', async () => {
    const ev = (await hostEvents(page)).slice(from);
    const failed = ev.find((e) => e.kind === 'error' && /sign-in failed/.test(e.summary));
    check(!failed, `the scope upgrade failed: ${failed && failed.summary}`);
    if (ev.some((e) => e.kind === 'auth' && e.summary.startsWith('signed in as'))) return { ok: true };
    if (!popup.isClosed()) {
      try {
        const email = popup.locator(EMAIL_FIELD).first();
        if (await email.isVisible({ timeout: 200 }) && !(await email.inputValue())) {
          await email.fill(creds.email);
          await popup.locator(PASSWORD_FIELD).first().fill(creds.password);
          await popup.locator(SUBMIT).first().click();
        } else {
          const buttons = popup.locator('button, input[type="submit"]');
          for (let i = 0; i < await buttons.count(); i++) {
            const b = buttons.nth(i);
            const label = ((await b.innerText().catch(() => '')) || (await b.getAttribute('value')) || '').trim();
            if (consent.test(label) && await b.isVisible()) { await b.click(); break; }
          }
        }
      } catch (_) { /* navigating */ }
    }
    const shown = popup.isClosed() ? 'closed' : `${popup.url().split('?')[0]}: ${(await popup.locator('body').innerText({ timeout: 500 }).catch(() => '')).slice(0, 200)}`;
    return { ok: false, got: { popup: shown, log: ev.filter((e) => e.kind === 'auth' || e.kind === 'error').map((e) => e.summary).slice(-2) } };
  }, 30_000);
  const authLog = (await hostEvents(page)).slice(from).filter((e) => e.kind === 'auth').map((e) => e.summary);
  check(authLog.some((x) => /registering one for|registered client/.test(x)),
    `the page should register a client for the wider scope (not reuse the first one); auth log: ${JSON.stringify(authLog)}`);
  // The retry re-renders the gallery; a like now works.
  const w = page.frameLocator('#widget-frame');
  const before = (await hostEvents(page)).length;
  await w.getByRole('button', { name: /like/i }).first().click();
  await poll('after the scope upgrade the like should succeed', async () => {
    const ev = (await hostEvents(page)).slice(before);
    return { ok: ev.some((e) => e.kind === 'result' && /^result (like|unlike)_image/.test(e.summary) && !/isError/.test(e.summary)), got: ev.map((e) => e.summary).slice(-4) };
  });
  summary.scopeUpgrade = true;
}

async function droppedMeta(page, problems, creds) {
  await page.selectOption('#profile', 'generic');
  await page.check('#drop-meta');
  await pickTool(page, 'show_gallery');
  await page.uncheck('#json-mode').catch(() => {});
  const from = await runTool(page);
  await lastResult(page, 'show_gallery', from);
  const w = page.frameLocator('#widget-frame');
  const like = w.getByRole('button', { name: /like/i }).first();
  await like.waitFor({ state: 'visible' });
  const frame = await widgetFrame(page);
  const meta = await frame.evaluate(() => ({ meta: window.widgetry.toolResponseMetadata, grant: window.widgetry.actionGrant }));
  check(meta.meta === null && meta.grant === null, `with _meta dropped the widget should have no _meta and no grant; got ${JSON.stringify(meta)}`);
  const before = (await hostEvents(page)).length;
  await like.click();
  await poll('Like should go through the host (tools/call) without a widget token', async () => {
    const ev = (await hostEvents(page)).slice(before).filter((e) => e.kind === 'callTool').map((e) => e.summary);
    return { ok: ev.some((x) => /callTool (like|unlike)_image/.test(x)), got: ev };
  });
  // Either it is liked, or (a token without likes:write) the host asks for more permission.
  const outcome = await poll('the like should succeed or the host should offer sign-in for more permission', async () => {
    const ev = (await hostEvents(page)).slice(before);
    const liked = ev.some((e) => e.kind === 'result' && /^result (like|unlike)_image/.test(e.summary) && !/isError/.test(e.summary));
    const banner = await page.locator('#signin-banner').isVisible() ? await page.locator('#signin-reason').innerText() : '';
    return { ok: liked || /more permission/.test(banner), got: { liked, banner }, liked, banner };
  });
  summary.droppedMetaOutcome = outcome.liked ? 'liked' : `asked for more permission: ${outcome.banner}`;
  if (!outcome.liked) await upgradeScope(page, creds);
  await page.uncheck('#drop-meta');
  summary.droppedMeta = true;
  check(problems.length === 0, `[drop _meta] the page reported: ${problems.join(' | ')}`);
}

async function signIn(page, problems, opts, artifacts) {
  const out = summary.signIn;
  check(summary.tools.includes('protected-widget'),
    `tools/list has no protected-widget (tools: ${summary.tools.join(', ')}): the showcase is not running with its authorization server wired, so there is nothing to sign in to`);
  const creds = demoCredentials(opts);
  check(creds.email && creds.password,
    `no demo user credentials: pass --email/--password, set WIDGETRY_DEMO_EMAIL/WIDGETRY_DEMO_PASSWORD, or have the server print them at start (found email=${JSON.stringify(creds.email)}, password ${creds.password ? 'found' : 'not found'})`);
  out.email = creds.email;
  await page.selectOption('#profile', 'generic');
  await page.selectOption('#theme', 'light');
  await pickTool(page, 'protected-widget');
  await runTool(page);
  await page.locator('#signin-banner').waitFor({ state: 'visible' });
  const reason = await page.locator('#signin-reason').innerText();
  out.challenge = reason;
  const challenge = (await hostEvents(page)).filter((e) => e.kind === 'auth' && e.summary.startsWith('challenge:')).pop();
  check(challenge && /resource_metadata=/.test(challenge.summary), `the protected tool should answer with an mcp/www_authenticate challenge naming resource_metadata; log: ${JSON.stringify(challenge)}`);
  await page.screenshot({ path: path.join(artifacts, 'host-signin-required.png') });

  const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#signin')]);
  cleanups.push(() => (popup.isClosed() ? null : popup.close()));
  out.authorizeUrl = await fillSignIn(popup, creds, path.join(artifacts, 'host-signin-form.png'));
  out.consentClicks = await finishSignIn(page, popup);
  out.user = await page.locator('#user-label').innerText();

  // The tool re-runs with the token: the protected widget greets the user by name.
  const w = page.frameLocator('#widget-frame');
  const greeting = await poll('after sign-in, the protected widget should render "Hello, <name>!"', async () => {
    const title = (await w.locator('#ac-title').innerText({ timeout: 2000 })).trim();
    const m = /^Hello, (.+)!$/.exec(title);
    return { ok: !!m && m[1] !== 'User', got: title, name: m && m[1] };
  }, 20_000);
  out.name = greeting.name;
  const facts = await w.locator('#ac-facts').innerText();
  out.widgetFacts = facts.replace(/\s+/g, ' ').slice(0, 300);
  const authLog = (await hostEvents(page)).filter((e) => e.kind === 'auth').map((e) => e.summary);
  for (const step of ['resource metadata (RFC 9728)', 'authorization server metadata', 'PKCE S256', 'signed in as']) {
    check(authLog.some((s) => s.includes(step)), `the log should show the auth step ${JSON.stringify(step)}; auth log: ${JSON.stringify(authLog)}`);
  }
  check(authLog.some((s) => /registered client|pre-registered client|registered earlier/.test(s)), `the log should show the client registration; auth log: ${JSON.stringify(authLog)}`);
  check(problems.length === 0, `[sign-in] the page reported: ${problems.join(' | ')}`);
  await page.screenshot({ path: path.join(artifacts, 'host-signed-in.png') });
  out.ok = true;
}

// ---------------------------------------------------------------------------------- main
/** The header names the signed-in user (the issuer's userinfo answer: name and email), not
 * the opaque subject; with a userinfo endpoint that fails, it falls back to the subject. */
async function accountHeader(page, creds) {
  const out = summary.account = {};
  const label = () => page.locator('#user-label').innerText();
  out.label = (await poll('the header should show the user\'s email (from userinfo), not the subject', async () => {
    const got = await label();
    return { ok: got.includes(creds.email), got };
  })).got;
  const sub = await page.evaluate(() => {
    const t = JSON.parse(sessionStorage.getItem('widgetry-host:tokens'));
    return JSON.parse(atob(t.access_token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sub;
  });
  check(sub && !out.label.includes(sub), `the header should not show the subject ${sub}: ${out.label}`);
  const userinfo = (await hostEvents(page)).filter((e) => e.kind === 'auth' && e.summary.startsWith('userinfo:'));
  check(userinfo.length > 0, 'the log should show the userinfo answer');
  // A real widget token (the gallery's grant) is no access token: userinfo refuses it.
  await page.uncheck('#drop-meta');
  await pickTool(page, 'show_gallery');
  const from = await runTool(page);
  await lastResult(page, 'show_gallery', from);
  const frame = await widgetFrame(page);
  const grant = await poll('the gallery should get a widget token', async () => {
    const g = await frame.evaluate(() => (window.widgetry.toolResponseMetadata || {})['widgetry/widgetToken'] || null);
    return { ok: !!(g && g.token), got: g && Object.keys(g), token: g && g.token };
  });
  out.widgetToken = await page.evaluate(async (widgetToken) => {
    const t = JSON.parse(sessionStorage.getItem('widgetry-host:tokens'));
    const ask = async (bearer) => {
      const r = await fetch(t.userinfo_endpoint, { headers: { authorization: `Bearer ${bearer}` } });
      return { status: r.status, challenge: r.headers.get('www-authenticate'), body: await r.json().catch(() => null) };
    };
    return { widget: await ask(widgetToken), access: await ask(t.access_token) };
  }, grant.token);
  check(out.widgetToken.widget.status === 401 && /invalid_token/.test(out.widgetToken.widget.challenge || ''),
    `userinfo should refuse a widget token with 401 invalid_token; got ${JSON.stringify(out.widgetToken.widget)}`);
  check(out.widgetToken.access.status === 200 && out.widgetToken.access.body && out.widgetToken.access.body.sub === sub,
    `userinfo should answer the page's own access token; got ${JSON.stringify(out.widgetToken.access)}`);
  // An issuer whose userinfo endpoint fails: the page shows the token's subject.
  const forget = () => page.evaluate(() => {
    const t = JSON.parse(sessionStorage.getItem('widgetry-host:tokens'));
    delete t.profile;
    sessionStorage.setItem('widgetry-host:tokens', JSON.stringify(t));
  });
  await page.route('**/oauth/userinfo', (r) => r.fulfill({ status: 404, contentType: 'text/plain', body: 'no userinfo here' }));
  await forget();
  await page.reload();
  out.fallback = (await poll('with a failing userinfo endpoint, the header should fall back to the subject', async () => {
    const got = await label();
    const logged = (await hostEvents(page)).some((e) => e.kind === 'auth' && /showing the token's subject/.test(e.summary));
    return { ok: got.includes(sub) && logged, got };
  })).got;
  await page.unroute('**/oauth/userinfo');
  await forget();
  await page.reload();
  out.again = (await poll('with userinfo back, a reload should show the user again', async () => {
    const got = await label();
    return { ok: got.includes(creds.email), got };
  })).got;
  out.ok = true;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), ARGS);
  summary.url = opts.url;
  const origin = new URL(opts.url).origin;
  fs.mkdirSync(opts.artifacts, { recursive: true });
  const browser = await launchChromium(loadDeps({ mcp: false }));
  cleanups.push(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  cleanups.push(() => context.close());
  const { page, problems } = await openPage(context, origin);
  try {
    for (const spec of PROFILES) await runProfile(page, problems, spec, opts.artifacts, origin);
    await stateless2026(page, problems);
    await approvalStep(page, problems, opts.artifacts);
    await claudeSignIn(page, problems, opts, opts.artifacts);
    await failedCall(page);
    await signIn(page, problems, opts, opts.artifacts);
    await droppedMeta(page, problems, demoCredentials(opts));
    await accountHeader(page, demoCredentials(opts));
  } catch (e) {
    await page.screenshot({ path: path.join(opts.artifacts, 'host-failure.png') }).catch(() => {});
    if (problems.length && !(e instanceof Failure && e.message.includes('the page reported'))) e.message += ` (page: ${problems.join(' | ')})`;
    throw e;
  }
  summary.ok = true;
}

runDriver({ name: 'host_page', summary, overallMs: OVERALL_MS, main });
