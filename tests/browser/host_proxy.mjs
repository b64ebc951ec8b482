#!/usr/bin/env node
// Browser test of `widgetry host --url`: the host page served by the CLI in front of
// another MCP server, every MCP request of the page going through the CLI's local proxy.
//
//   node tests/browser/host_proxy.mjs --url http://127.0.0.1:PORT/mcp [--artifacts DIR]
//
// --url is the proxy's endpoint; the page is `/_widgetry/host` on the same origin. In
// headless Debian chromium (playwright-core):
// 1. Opens the page and waits until it lists the tools (tools/list through the proxy).
// 2. Runs `show_list` (public): the list widget renders its items in the widget frame.
// 2b. Switches to 2026-07-28 (stateless): runs `show_list` again and the widget's Details
//    call (item_details, whose id goes into Mcp-Param-Item) answers through the proxy.
// 3. Runs `protected-widget` in the generic profile (no approval step): the call waits while the CLI signs in through the server's
//    OAuth (the calling test plays the person at the sign-in page), then the widget greets
//    the signed-in user. The page itself never asks for sign-in.
// Screenshot: DIR/host-proxy-signed-in.png. Prints one JSON line (the summary); on
// failure also the reason on stderr, exit status 1. Bounded to 150 s.
import {
  check, cleanups, launchChromium, loadDeps, parseArgs, poll, runDriver, STEP_MS,
} from './lib.mjs';

const SIGN_IN_MS = 90_000;
const summary = { ok: false, tools: [], listItems: 0, stateless: null, greeting: null, pageSignIn: false };

async function main() {
  const opts = parseArgs(process.argv.slice(2), {
    script: 'host_proxy.mjs',
    usage: '--url URL [--artifacts DIR]',
  });
  const deps = loadDeps({ mcp: false });
  const browser = await launchChromium(deps);
  cleanups.push(() => browser.close());
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(STEP_MS);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`uncaught error: ${e.message}`));

  const origin = new URL(opts.url).origin;
  const res = await page.goto(`${origin}/_widgetry/host`);
  check(res && res.status() === 200, `GET ${origin}/_widgetry/host answered ${res && res.status()}`);
  await poll('the page should list the tools through the proxy', async () => {
    const conn = await page.$eval('#conn', (e) => ({ state: e.dataset.state, text: e.textContent }));
    check(conn.state !== 'error', `the page could not connect: ${conn.text}`);
    const tools = await page.$$eval('#tool option', (os) => os.map((o) => o.value));
    return { ok: conn.state === 'ok' && tools.includes('show_list') && tools.includes('protected-widget'), got: { conn, tools } };
  });
  summary.tools = await page.$$eval('#tool option', (os) => os.map((o) => o.value));

  // The generic MCP Apps profile: no approval step before tools that are not read-only.
  await page.selectOption('#profile', 'generic');
  const frame = page.frameLocator('#widget-frame');
  await page.selectOption('#tool', 'show_list');
  await page.click('#run');
  const list = await poll('the list widget should render its items', async () => {
    const items = await frame.getByRole('listitem').allInnerTexts();
    return { ok: items.length > 0, got: items };
  });
  summary.listItems = list.got.length;

  // 2026-07-28 through the proxy: server/discover, no session, and the widget's Details
  // call (item_details mirrors its id into Mcp-Param-Item) with its routing headers; the
  // server refuses a call whose Mcp-Method, Mcp-Name or Mcp-Param-Item did not arrive.
  await page.selectOption('#protocol', '2026-07-28');
  await poll('the page should reconnect statelessly through the proxy', async () => {
    const conn = await page.$eval('#conn', (e) => ({ state: e.dataset.state, text: e.textContent }));
    check(conn.state !== 'error', `the page could not connect with 2026-07-28: ${conn.text}`);
    return { ok: conn.state === 'ok' && /stateless/.test(conn.text), got: conn };
  });
  await page.selectOption('#tool', 'show_list');
  await page.click('#run');
  // The widget of the first run stays on screen until this run mounts its own: wait for
  // the run to end (the button reads Run again) so the click lands in the new widget.
  await poll('the stateless show_list run should finish', async () => {
    const run = await page.$eval('#run', (b) => ({ text: b.textContent, disabled: b.disabled }));
    return { ok: run.text === 'Run' && !run.disabled, got: run };
  });
  const first = frame.getByRole('list').getByRole('listitem').first();
  await first.waitFor();
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && /"name":"item_details"/.test(r.request().postData() || '')),
    first.getByRole('button', { name: 'Details' }).click(),
  ]);
  const body = await answer.json().catch(() => null);
  summary.stateless = {
    status: answer.status(),
    param: answer.request().headers()['mcp-param-item'] || null,
    detail: body && body.result && body.result.structuredContent ? body.result.structuredContent.id : null,
  };
  check(summary.stateless.status === 200 && summary.stateless.detail === 'design',
    `item_details over 2026-07-28 through the proxy should answer for design; got HTTP ${answer.status()} ${JSON.stringify(body)}`);
  await page.selectOption('#protocol', '2025-11-25');
  await poll('back on 2025-11-25', async () => {
    const conn = await page.$eval('#conn', (e) => e.textContent);
    return { ok: conn === 'connected', got: conn };
  });

  await page.selectOption('#tool', 'protected-widget');
  await page.click('#run');
  // Generic profile (selected above): the write tool runs without an approval step.
  const greeted = await poll('the protected widget should greet the user once the CLI has signed in', async () => {
    const offered = await page.$$eval('button', (bs) => bs.some((b) => /^\s*Sign in\s*$/.test(b.textContent) && b.offsetParent !== null));
    summary.pageSignIn = summary.pageSignIn || offered;
    const text = await frame.locator('#ac-title').innerText().catch(() => '');
    return { ok: /^Hello, /.test(text), got: text };
  }, SIGN_IN_MS);
  summary.greeting = greeted.got;
  check(!summary.pageSignIn, 'the page offered its own sign-in: the proxy should have signed in');
  check(!problems.length, `the page had errors: ${problems.join(' | ')}`);
  await page.screenshot({ path: `${opts.artifacts}/host-proxy-signed-in.png`, fullPage: true });
  summary.ok = true;
}

runDriver({ name: 'host_proxy.mjs', summary, overallMs: 150_000, main });
