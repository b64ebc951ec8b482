#!/usr/bin/env node
// Browser test of a React + TypeScript widget made by `widgetry add widget list --react`, served
// live by its Vite dev server (`widgetry/vite`) inside the host page of a running app (the
// showcase, whose `show_list` renders the widget named `list`):
//
//   node tests/browser/react_widget.mjs --url http://127.0.0.1:PORT/mcp --widget DIR \
//        [--built FILE] [--artifacts DIR]
//
// DIR is the widget's folder with its node_modules installed. In headless Debian chromium:
// 0. With --built: FILE is the widget's bundle (what `widgetry build` makes of dist/, the
//    runtime inlined) with `window.__WIDGETRY_INITIAL__` set first: standalone (host "none"),
//    it renders that output.
// 1. Starts the dev server (vite, 127.0.0.1, a free port) with WIDGETRY_APP_URL set to the app
//    and opens the host page URL the plugin prints (`?dev=list=<dev server>`).
// 2. Runs show_list: the widget renders from the dev server (its frame's origin), with the
//    runtime the plugin injected, the title and items of the tool's real result (asked of the
//    app by the MCP SDK); its star button persists widget state (the host logs the model
//    context update), its fullscreen button changes the host's display mode, Refresh calls the
//    tool again through the host.
// 3. Hot reload: marks the frame's window, edits src/App.tsx (the Refresh label); the widget
//    shows the new label without reloading (the mark survives, the starred item stays).
// 4. Hooks: swaps in tests/browser/fixtures/hooks_probe.tsx (hot), runs show_list again with
//    streamed partial input and reads what every hook reports: tool input (and partials: the
//    host page's stream, and two the test posts as the host while a call waits for approval),
//    output, result, metadata, theme (and its event), locale, max height, host context, safe
//    area, display mode (requested by the widget), widget state (two updaters in a row),
//    useCallTool (data; a missing tool's error) and useAction (signed out: signInRequired).
// 5. A `?dev=` naming another site, or the page's own origin, is ignored (the built widget).
// Prints one JSON line (the summary); on failure also the reason on stderr, exit status 1.
// Bounded to 150 s; everything is loopback.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import {
  check, cleanups, connectMcp, Failure, HERE, launchChromium, poll, runDriver, startDriver, STEP_MS,
} from './lib.mjs';

const OVERALL_MS = 150_000;
const ARGS = { script: 'react_widget.mjs', usage: '--url URL --widget DIR [--built FILE] [--artifacts DIR]', flags: ['--widget', '--built'], required: ['url', 'widget'] };
const summary = { ok: false, url: null, built: null, devServer: null, hotReloadMs: null, hooks: null };

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** `vite` in `dir` on a free loopback port; resolves with the host page URL its plugin prints. */
async function startDevServer(dir, appOrigin) {
  const vite = path.join(dir, 'node_modules', 'vite', 'bin', 'vite.js');
  check(fs.existsSync(vite), `${vite} is missing: run npm install in ${dir}`);
  const port = await freePort();
  const child = spawn(process.execPath, [vite, '--port', String(port), '--strictPort', '--clearScreen', 'false'], {
    cwd: dir, env: { ...process.env, WIDGETRY_APP_URL: appOrigin, NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); setTimeout(r, 2000); }));
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const { url } = await poll('the dev server should print the host page URL (widgetry/vite)', async () => {
    const m = /live in the host page[^\n]*\n\s*(\S+)/.exec(out);
    return { ok: !!m, url: m && m[1], got: out.slice(-400) };
  }, 30_000);
  return { url, port, log: () => out };
}

const hostEvents = (page) => page.evaluate(() => window.widgetryHost.events.map((e) => ({ kind: e.kind, summary: e.summary, detail: e.detail })));

async function widgetFrame(page, devOrigin) {
  const { frame } = await poll('the widget frame should load from the dev server', async () => {
    const handle = await page.$('#widget-frame');
    const f = handle && await handle.contentFrame();
    const url = f ? f.url() : null;
    return { ok: !!url && url.startsWith(devOrigin), frame: f, got: url };
  });
  return frame;
}

async function run(page, args) {
  if (!(await page.isChecked('#json-mode'))) await page.check('#json-mode');
  await page.fill('#json-input', JSON.stringify(args));
  await page.click('#run');
}

/** 0. The bundle alone (host "none"): renders the output its page starts with. */
async function builtBundle(browser, file) {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`file://${file}`);
  const got = await poll('the built widget should render its initial output', async () => {
    const seen = await page.evaluate(() => ({
      host: window.widgetry && window.widgetry.host,
      initial: window.__WIDGETRY_INITIAL__ && window.__WIDGETRY_INITIAL__.toolOutput,
      h1: document.querySelector('h1') && document.querySelector('h1').textContent,
      items: [...document.querySelectorAll('ul.list > li .title')].map((e) => e.textContent),
    }));
    const want = seen.initial || {};
    return {
      ok: seen.host === 'none' && !!want.title && seen.h1 === want.title
        && JSON.stringify(seen.items) === JSON.stringify((want.items || []).map((i) => i.title)),
      got: seen,
    };
  });
  check(problems.length === 0, `the built widget threw: ${problems.join(' | ')}`);
  await page.close();
  return got.got;
}

async function main() {
  const { opts, deps } = startDriver(process.argv.slice(2), ARGS, summary);
  const appOrigin = new URL(opts.url).origin;
  const widget = path.resolve(opts.widget);
  const client = await connectMcp(deps, opts.url, { name: 'react-widget-test' });
  const expected = (await client.callTool({ name: 'show_list', arguments: {} })).structuredContent;
  check(expected && expected.title && expected.items.length > 0, `show_list returned no items: ${JSON.stringify(expected)}`);
  const firstDetail = (await client.callTool({ name: 'item_details', arguments: { id: expected.items[0].id } })).structuredContent.detail;

  const browser = await launchChromium(deps);
  cleanups.push(() => browser.close());
  if (opts.built) summary.built = await builtBundle(browser, path.resolve(opts.built));

  const dev = await startDevServer(widget, appOrigin);
  const devOrigin = `http://127.0.0.1:${dev.port}`;
  const page0 = new URL(dev.url);
  check(page0.origin === appOrigin && page0.pathname === '/_widgetry/host', `the plugin printed ${dev.url}, not the app's host page`);
  check(page0.searchParams.get('dev') === `list=${devOrigin}/`, `the printed URL names ${page0.searchParams.get('dev')}`);
  summary.devServer = devOrigin;

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`uncaught error: ${e.message}`));
  try {
    page0.searchParams.set('profile', 'generic');
    page0.searchParams.set('tool', 'show_list');
    page0.searchParams.set('theme', 'light');
    await page.goto(page0.href);
    await page.waitForSelector('#tool option[value="show_list"]', { state: 'attached' });
    await run(page, {});

    // 2. The template widget, live from the dev server.
    const frame = await widgetFrame(page, devOrigin);
    const w = page.frameLocator('#widget-frame');
    await poll('the widget should render the tool output', async () => {
      const h1 = await w.locator('h1').innerText().catch(() => null);
      const n = await w.locator('ul.list > li').count();
      return { ok: h1 === expected.title && n === expected.items.length, got: { h1, n } };
    });
    const rt = await frame.evaluate(() => ({ host: window.widgetry && window.widgetry.host, origin: location.origin }));
    check(rt.host === 'mcp-apps' && rt.origin === devOrigin, `the dev page's runtime should speak the MCP Apps bridge from ${devOrigin}: ${JSON.stringify(rt)}`);
    const title = await page.locator('#stage-title').innerText();
    check(title.includes(`live from ${devOrigin}/`), `the stage should say the widget is live: ${title}`);

    const star = w.getByRole('button', { name: `Star ${expected.items[0].title}` });
    await star.click();
    await poll('the star should persist as widget state and reach the host', async () => {
      const pressed = await star.getAttribute('aria-pressed');
      const state = await frame.evaluate(() => window.widgetry.widgetState);
      const logged = (await hostEvents(page)).some((e) => e.kind === 'state' && e.summary.includes(expected.items[0].id));
      return { ok: pressed === 'true' && JSON.stringify(state) === JSON.stringify([expected.items[0].id]) && logged, got: { pressed, state, logged } };
    });
    await w.getByRole('button', { name: 'Fullscreen' }).click();
    await poll('Fullscreen should switch the host to fullscreen and the button to Exit', async () => {
      const mode = await page.$eval('#display-mode', (s) => s.value);
      const label = await w.getByRole('button', { name: 'Exit fullscreen' }).count();
      return { ok: mode === 'fullscreen' && label === 1, got: { mode, label } };
    });
    await w.getByRole('button', { name: 'Exit fullscreen' }).click();
    const callsBefore = (await hostEvents(page)).filter((e) => /show_list/.test(e.summary)).length;
    await w.getByRole('button', { name: 'Refresh' }).click();
    await poll('Refresh should call show_list through the host and end', async () => {
      const calls = (await hostEvents(page)).filter((e) => /show_list/.test(e.summary)).length;
      const idle = await w.getByRole('button', { name: 'Refresh' }).isEnabled().catch(() => false);
      const err = await w.locator('.error').count();
      return { ok: calls > callsBefore && idle && err === 0, got: { calls, idle, err } };
    });

    // 3. Hot reload: edit the component; the frame updates without reloading.
    await frame.evaluate(() => { window.__notReloaded = true; });
    const appFile = path.join(widget, 'src', 'App.tsx');
    const original = fs.readFileSync(appFile, 'utf8');
    check(original.includes("'Refresh'"), 'the template App.tsx should label its button Refresh');
    const edited = Date.now();
    fs.writeFileSync(appFile, original.replace("'Refresh'", "'Reload the list'"));
    await poll('the edit should show in the widget without a reload', async () => {
      const n = await w.getByRole('button', { name: 'Reload the list' }).count();
      return { ok: n === 1, got: { n } };
    }, 30_000);
    summary.hotReloadMs = Date.now() - edited;
    const kept = await frame.evaluate(() => ({ mark: window.__notReloaded === true, state: window.widgetry.widgetState }));
    check(kept.mark, 'the frame reloaded: hot module replacement should have kept the page');
    check(JSON.stringify(kept.state) === JSON.stringify([expected.items[0].id]), `the widget state was lost: ${JSON.stringify(kept.state)}`);
    const starStill = await star.getAttribute('aria-pressed');
    check(starStill === 'true', 'the starred item should stay starred across the hot update');
    await page.screenshot({ path: path.join(opts.artifacts, 'react-widget-hot.png') });

    // 4. Every hook, through the probe.
    fs.copyFileSync(path.join(HERE, 'fixtures', 'hooks_probe.tsx'), appFile);
    await w.locator('#hooks').waitFor({ timeout: 30_000 });
    await page.check('#stream-input');
    const args = { limit: 3, only_open: false };
    await run(page, args);
    await widgetFrame(page, devOrigin);
    const hooks = async () => JSON.parse(await w.locator('#hooks').innerText());
    await poll('the probe should see partial input, then the input and the output', async () => {
      const h = await hooks().catch(() => null);
      return { ok: !!h && h.outputTitle === expected.title && h.items === 3 && JSON.stringify(h.input) === JSON.stringify(args), got: h };
    }, 20_000);
    let h = await hooks();
    const rtPartial = await (await widgetFrame(page, devOrigin)).evaluate(() => window.widgetry.toolInputPartial);
    check(JSON.stringify(rtPartial) === JSON.stringify({ limit: 3 }), `the runtime should keep the last partial input: ${JSON.stringify(rtPartial)}`);
    check(h.partials.length >= 1 && h.partials[h.partials.length - 1] === JSON.stringify(args)
      && h.partials.every((p) => p === JSON.stringify({ limit: 3 }) || p === JSON.stringify(args)),
    `usePartialToolInput should report partial arguments, then the final ones: ${JSON.stringify(h.partials)}`);
    check(h.resultHasContent && h.metaLocale !== null, `useToolResult / useToolResponseMetadata: ${JSON.stringify(h)}`);
    check(h.theme === 'light' && h.globalTheme === 'light' && h.platform === 'web' && h.locale === await page.inputValue('#locale'),
      `theme / host context / locale: ${JSON.stringify(h)}`);
    check(typeof h.maxHeight === 'number' && h.insets && h.insets.top === 0, `max height / safe area: ${JSON.stringify(h)}`);

    await page.selectOption('#theme', 'dark');
    await page.fill('#locale', 'fr-FR');
    await page.press('#locale', 'Enter');
    await page.locator('#locale').blur();
    await poll('useTheme / useLocale should follow the host', async () => {
      const x = await hooks();
      return { ok: x.theme === 'dark' && x.globalTheme === 'dark' && x.themeEvents >= 1 && x.locale === 'fr-FR', got: x };
    });
    await w.locator('#fullscreen').click();
    await poll('useDisplayMode should report the mode the widget asked for', async () => {
      const x = await hooks();
      const mode = await page.$eval('#display-mode', (s) => s.value);
      return { ok: x.mode === 'fullscreen' && mode === 'fullscreen', got: { hook: x.mode, host: mode } };
    });
    await w.locator('#count-twice').click();
    await poll('useWidgetState updaters should each see the previous state', async () => {
      const x = await hooks();
      const state = await (await widgetFrame(page, devOrigin)).evaluate(() => window.widgetry.widgetState);
      return { ok: x.count === 2 && state === 2, got: { hook: x.count, runtime: state } };
    });
    await w.locator('#details').click();
    await w.locator('#missing').click();
    await w.locator('#like').click();
    h = await poll('useCallTool / useAction should settle with data or an error', async () => {
      const x = await hooks();
      const done = !x.details.pending && !x.missing.pending && !x.like.pending && x.details.detail !== null && x.missing.error !== null && x.like.error !== null;
      return { ok: done, got: x, h: x };
    }, 20_000);
    h = h.h;
    check(h.details.detail === firstDetail, `useCallTool('item_details') data: ${JSON.stringify(h.details)} (the app says ${firstDetail})`);
    check(h.like.signInRequired === true && h.like.data === null, `useAction('like_image') signed out should ask for sign-in: ${JSON.stringify(h.like)}`);
    summary.hooks = h;

    // Partial input while a call waits for approval (ChatGPT profile; authenticate renders the
    // widget `signin`, here the probe too): the test, as the host page, streams two partials.
    const held = new URL(page0.href);
    held.searchParams.append('dev', `signin=${devOrigin}/`);
    held.searchParams.set('profile', 'chatgpt');
    held.searchParams.set('tool', 'authenticate');
    await page.goto(held.href);
    await page.waitForSelector('#tool option[value="authenticate"]', { state: 'attached' });
    await page.uncheck('#stream-input');
    await run(page, { sessionId: '0'.repeat(64) });
    await page.locator('#approval-banner').waitFor({ state: 'visible' });
    await widgetFrame(page, devOrigin);
    await poll('the probe should be up, without input, before approval', async () => {
      const x = await hooks().catch(() => null);
      return { ok: !!x && x.input === null && x.partials.length === 0, got: x };
    }, 20_000);
    const partials = [{ limit: 1 }, { limit: 1, only_open: true }];
    for (const p of partials) {
      await page.evaluate((args) => document.getElementById('widget-frame').contentWindow.postMessage(
        { jsonrpc: '2.0', method: 'ui/notifications/tool-input-partial', params: { arguments: args } }, '*'), p);
      await poll(`usePartialToolInput should report ${JSON.stringify(p)}`, async () => {
        const x = await hooks();
        return { ok: x.partials[x.partials.length - 1] === JSON.stringify(p) && x.input === null, got: x.partials };
      });
    }
    check(JSON.stringify((await hooks()).partials) === JSON.stringify(partials.map((p) => JSON.stringify(p))), 'each partial should be reported once, in order');
    await page.click('#deny');

    // 5. Only a loopback dev server on another origin is taken: a link naming another site, or
    //    the page's own origin, renders the built widget in the sandbox as usual.
    for (const bad of ['https://example.com/', `${appOrigin}/`]) {
      const url = new URL(`${appOrigin}/_widgetry/host`);
      url.searchParams.append('dev', `list=${bad}`);
      url.searchParams.set('profile', 'generic');
      url.searchParams.set('tool', 'show_list');
      await page.goto(url.href);
      await page.waitForSelector('#tool option[value="show_list"]', { state: 'attached' });
      await run(page, {});
      const got = await poll(`?dev=list=${bad} should be ignored`, async () => {
        const handle = await page.$('#widget-frame');
        const src = handle && await handle.getAttribute('src');
        const items = await w.locator('ul > li').count().catch(() => 0);
        return { ok: !!src && src.endsWith('/_widgetry/host/sandbox') && items === expected.items.length, got: { src, items } };
      });
      check(!got.got.src.startsWith(bad), `the frame loaded ${got.got.src}`);
    }
    await page.screenshot({ path: path.join(opts.artifacts, 'react-widget-hooks.png') });
    check(problems.length === 0, `the page reported: ${problems.join(' | ')}`);
  } catch (e) {
    await page.screenshot({ path: path.join(opts.artifacts, 'react-widget-failure.png') }).catch(() => {});
    if (e instanceof Failure) e.message += ` (dev server: ${dev.log().slice(-600)})`;
    throw e;
  }
  summary.ok = true;
}

runDriver({ name: 'react_widget', summary, overallMs: OVERALL_MS, main });
