#!/usr/bin/env node
// A newcomer's first signed-in widget, in headless Chromium, against any Widgetry app's
// host page (used by scripts/time-to-widget.sh to time `widgetry new` → signed-in widget).
//
//   node tests/browser/first_widget.mjs --url http://127.0.0.1:PORT/mcp --server-log FILE \
//        [--artifacts DIR] [--tool NAME]
//
// 1. Opens `/_widgetry/host` and waits for the tool list.
// 2. Picks --tool, else the first tool the page marks "sign-in required".
// 3. Runs it, expects the sign-in banner, clicks "Sign in", fills the authorization
//    server's form with the demo user printed in FILE ("demo user: EMAIL / PASSWORD"),
//    approves consent if asked, and waits until the page is signed in.
// 4. Waits for the tool's widget to render in its sandbox frame with visible text and the
//    MCP Apps handshake done, and for no sign-in banner; saves DIR/first-widget.png.
// Prints one JSON line (the summary); exit status 1 with the reason on failure. Bounded to 90 s.
import fs from 'node:fs';
import path from 'node:path';

import {
  check, cleanups, fillSignIn, finishSignIn, launchChromium, loadDeps, parseArgs, poll, runDriver, STEP_MS,
} from './lib.mjs';

const ARGS = {
  script: 'first_widget.mjs',
  usage: '--url URL --server-log FILE [--artifacts DIR] [--tool NAME]',
  flags: ['--server-log', '--tool'],
};
const summary = { ok: false, url: null, tool: null, user: null, widgetText: null };

/** "demo user: EMAIL / PASSWORD", as Widgetry apps print it at start. */
function demoUser(file) {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const m = /demo user: (\S+@\S+) \/ (\S+)/.exec(text);
  check(m, `the server output ${file} names no demo user ("demo user: EMAIL / PASSWORD"); it says: ${JSON.stringify(text.slice(-600))}`);
  return { email: m[1], password: m[2] };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), ARGS);
  check(opts.serverLog, '--server-log FILE is required');
  summary.url = opts.url;
  const artifacts = opts.artifacts;
  fs.mkdirSync(artifacts, { recursive: true });
  const creds = demoUser(opts.serverLog);
  const browser = await launchChromium(loadDeps({ mcp: false }));
  cleanups.push(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const res = await page.goto(`${new URL(opts.url).origin}/_widgetry/host`);
  check(res && res.status() === 200, `GET /_widgetry/host answered ${res && res.status()}`);
  await poll('the host page should connect and list the tools', async () => {
    const conn = await page.$eval('#conn', (e) => e.dataset.state);
    const n = await page.$$eval('#tool option', (os) => os.length);
    return { ok: conn === 'ok' && n > 0, got: { conn, n } };
  });

  // The tool: the one asked for, else the first the page marks as needing sign-in.
  let tool = opts.tool;
  if (!tool) {
    const names = await page.$$eval('#tool option', (os) => os.map((o) => o.value));
    for (const name of names) {
      await page.selectOption('#tool', name);
      const badges = await page.locator('#tool-info .badges').innerText();
      if (/sign-in required/.test(badges)) { tool = name; break; }
    }
  }
  check(tool, 'no tool of this app needs sign-in (nothing to sign in to)');
  summary.tool = tool;
  // The generic MCP Apps profile: no approval step before a tool that is not read-only.
  await page.selectOption('#profile', 'generic');
  await page.selectOption('#tool', tool);
  await page.click('#run');
  await page.locator('#signin-banner').waitFor({ state: 'visible' });

  const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#signin')]);
  cleanups.push(() => (popup.isClosed() ? null : popup.close()));
  await fillSignIn(popup, creds);
  await finishSignIn(page, popup);
  summary.user = await page.locator('#user-label').innerText();

  // The tool ran again with the token: its widget renders, the banner is gone.
  const text = await poll('the widget should render in its sandbox frame after sign-in', async () => {
    const handle = await page.$('#widget-frame');
    const frame = handle && await handle.contentFrame();
    if (!frame) return { ok: false, got: 'no frame' };
    const state = await frame.evaluate(() => ({
      host: window.widgetry && window.widgetry.host,
      text: document.body ? document.body.innerText.trim() : '',
      origin: location.origin,
    })).catch((e) => ({ error: e.message }));
    const banner = await page.locator('#signin-banner').isVisible();
    return { ok: !banner && state.host === 'mcp-apps' && state.text.length > 0, got: { banner, ...state } };
  }, 30_000);
  summary.widgetText = text.got.text.replace(/\s+/g, ' ').slice(0, 200);
  await page.screenshot({ path: path.join(artifacts, 'first-widget.png') });
  summary.ok = true;
}

runDriver({ name: 'first_widget', summary, overallMs: 90_000, main });
