#!/usr/bin/env node
// Browser test of the showcase list widget, through both widget bridges, against a running
// Widgetry server.
//
//   node tests/browser/widget_browser.mjs --url http://127.0.0.1:PORT/mcp --artifacts DIR
//
// 1. Connects with the official MCP TypeScript SDK client (Streamable HTTP), lists the tools,
//    finds `show_list` and its `_meta.ui.resourceUri` = `_meta["openai/outputTemplate"]` (one
//    URI), reads it with resources/read (MIME `text/html;profile=mcp-app`), calls
//    `show_list` {} and `item_details` {id} for the expected data.
// 2. Serves tests/browser/harness.html on 127.0.0.1:0; POST /call forwards tool calls from the
//    harness to the server through the same SDK client.
// 3. In headless Debian chromium (playwright-core), for mcp-apps (dark) and openai (light): loads
//    the widget HTML + the real tool result into the harness, asserts the items render with the
//    real titles and the theme attribute and colours apply, follows a host theme change, clicks
//    the first "Details" and asserts the real item_details text appears, checks the bridge
//    messages, and saves DIR/widget-<bridge>.png.
// Prints one JSON line (the summary); on failure also the reason on stderr, exit status 1.
// Finds node packages in $WIDGETRY_NODE_DIR (default tests/node) and chromium at
// $WIDGETRY_CHROMIUM (default /usr/bin/chromium). Everything is loopback; the run is bounded
// to 55 s.
import fs from 'node:fs';
import path from 'node:path';

import {
  check, cleanups, connectMcp, Failure, launchChromium, loadDeps, luminance, MIME_MCP_APP,
  parseArgs, poll, runDriver, startHarnessServer, STEP_MS,
} from './lib.mjs';

const OVERALL_MS = 55_000;
const ARGS = { script: 'widget_browser.mjs', usage: '--url URL [--artifacts DIR]' };
const BRIDGES = [
  { bridge: 'mcp-apps', theme: 'dark', htmlKey: 'mcpApp' },
  { bridge: 'openai', theme: 'light', htmlKey: 'skybridge' },
];

const summary = { ok: false, url: null, tools: [], resourceUri: null, outputTemplate: null, items: 0, bridges: {} };

// ---------------------------------------------------------------------------------- MCP side
async function readWidget(client, uri, mime, field) {
  let res;
  try {
    res = await client.readResource({ uri });
  } catch (e) {
    throw new Failure(`resources/read ${uri} (${field}) failed: ${e.message}`);
  }
  const contents = Array.isArray(res.contents) ? res.contents : [];
  const c = contents.find((x) => x.mimeType === mime);
  check(c, `resources/read ${uri} (${field}): no content with mimeType ${JSON.stringify(mime)}; got ${JSON.stringify(contents.map((x) => x.mimeType))}`);
  const html = typeof c.text === 'string' ? c.text : Buffer.from(c.blob || '', 'base64').toString('utf8');
  check(/<html|<!doctype/i.test(html), `resources/read ${uri}: the ${mime} content is not an HTML document`);
  check(html.includes('ui/initialize') && html.includes('openai:set_globals'),
    `resources/read ${uri}: the widget HTML does not contain the inlined widgetry.js runtime`);
  return html;
}

async function prepare(deps, url) {
  const client = await connectMcp(deps, url, { name: 'widgetry-browser-test' });

  const { tools } = await client.listTools();
  summary.tools = tools.map((t) => t.name);
  const tool = tools.find((t) => t.name === 'show_list');
  check(tool, `tools/list has no show_list (tools: ${summary.tools.join(', ')})`);
  check(tools.some((t) => t.name === 'item_details'), `tools/list has no item_details (tools: ${summary.tools.join(', ')})`);
  const meta = tool._meta || {};
  const uiUri = meta.ui && meta.ui.resourceUri;
  const oaUri = meta['openai/outputTemplate'];
  check(typeof uiUri === 'string' && uiUri.startsWith('ui://'), `show_list _meta.ui.resourceUri is ${JSON.stringify(uiUri)}; want a ui:// URI`);
  check(oaUri === uiUri, `show_list _meta["openai/outputTemplate"] is ${JSON.stringify(oaUri)}; want the same URI as _meta.ui.resourceUri (${uiUri})`);
  summary.resourceUri = uiUri;
  summary.outputTemplate = oaUri;

  const html = {
    mcpApp: await readWidget(client, uiUri, MIME_MCP_APP, '_meta.ui.resourceUri'),
    skybridge: await readWidget(client, oaUri, MIME_MCP_APP, '_meta["openai/outputTemplate"]'),
  };

  const result = await client.callTool({ name: 'show_list', arguments: {} });
  check(!result.isError, `show_list {} returned isError: ${JSON.stringify(result.content)}`);
  const sc = result.structuredContent;
  check(sc && Array.isArray(sc.items) && sc.items.length > 0,
    `show_list structuredContent must have a non-empty items array; got ${JSON.stringify(sc)}`);
  for (const item of sc.items) {
    check(typeof item.id === 'string' && typeof item.title === 'string', `show_list item without string id/title: ${JSON.stringify(item)}`);
  }
  summary.items = sc.items.length;

  const first = sc.items[0];
  const details = await client.callTool({ name: 'item_details', arguments: { id: first.id } });
  check(!details.isError, `item_details {id: ${JSON.stringify(first.id)}} returned isError: ${JSON.stringify(details.content)}`);
  const detail = details.structuredContent && details.structuredContent.detail;
  check(typeof detail === 'string' && detail.length > 0,
    `item_details structuredContent.detail must be a non-empty string; got ${JSON.stringify(details.structuredContent)}`);
  return { client, html, result, first, detail };
}

// ------------------------------------------------------------------------ harness server
// ------------------------------------------------------------------------------- browser
async function runBridge(browser, base, spec, data, calls, artifacts) {
  const { bridge, theme } = spec;
  const out = { theme, items: 0, detail: null, screenshot: null };
  summary.bridges[bridge] = out;
  const context = await browser.newContext({ viewport: { width: 1040, height: 720 }, deviceScaleFactor: 1, colorScheme: theme });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`uncaught error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  const shot = path.join(artifacts, `widget-${bridge}.png`);
  const where = `[${bridge}, ${theme}]`;
  try {
    await page.goto(`${base}/harness.html?bridge=${bridge}&theme=${theme}`);
    await page.evaluate((a) => window.harness.load(a), {
      html: data.html[spec.htmlKey], toolName: 'show_list', toolInput: {}, toolResult: data.result,
    });
    const frame = await (await page.$('#widget')).contentFrame();
    check(frame, `${where} the widget iframe has no frame`);
    const w = page.frameLocator('#widget');

    // The real items render, in order, with the real title.
    const expected = data.result.structuredContent.items.map((i) => i.title);
    const items = w.getByRole('list').getByRole('listitem');
    const seen = await poll(`${where} the widget should list ${expected.length} items titled ${JSON.stringify(expected)}`, async () => {
      const texts = await items.allInnerTexts();
      const ok = texts.length === expected.length && expected.every((t, i) => texts[i].includes(t));
      return { ok, got: texts };
    });
    out.items = seen.got.length;
    if (typeof data.result.structuredContent.title === 'string') {
      await poll(`${where} the widget heading should be ${JSON.stringify(data.result.structuredContent.title)}`, async () => {
        const got = await w.getByRole('heading', { level: 1 }).innerText();
        return { ok: got.trim() === data.result.structuredContent.title, got };
      });
    }

    // Theme: attribute and real colours, then a host-side theme change and back.
    const themeState = () => frame.evaluate(() => ({
      attr: document.documentElement.dataset.theme,
      bg: getComputedStyle(document.body).backgroundColor,
    }));
    const expectTheme = (t) => poll(`${where} the widget should apply theme ${t} (html[data-theme] and body colours)`, async () => {
      const got = await themeState();
      const lum = luminance(got.bg);
      return { ok: got.attr === t && lum !== null && (t === 'dark' ? lum < 0.35 : lum > 0.65), got };
    });
    await expectTheme(theme);
    const other = theme === 'dark' ? 'light' : 'dark';
    await page.evaluate((t) => window.harness.setTheme(t), other);
    await expectTheme(other);
    await page.evaluate((t) => window.harness.setTheme(t), theme);
    await expectTheme(theme);

    // "Refresh" calls show_list again and re-renders from its result.
    const refreshFrom = calls.length;
    await w.getByRole('button', { name: 'Refresh' }).click();
    await poll(`${where} Refresh should call show_list and render ${expected.length} items again`, async () => {
      const called = calls.slice(refreshFrom).some((c) => c.name === 'show_list');
      const enabled = await w.getByRole('button', { name: 'Refresh' }).isEnabled();
      const texts = await items.allInnerTexts();
      return { ok: called && enabled && texts.length === expected.length, got: { called, enabled, texts } };
    });

    // "Details" on the first item calls item_details for real and shows its text.
    const callsBefore = calls.length;
    const firstItem = items.first();
    const button = firstItem.getByRole('button', { name: 'Details' });
    await button.click();
    await poll(`${where} after clicking Details, the first item should show ${JSON.stringify(data.detail)}`, async () => {
      const got = await firstItem.innerText();
      return { ok: got.includes(data.detail), got };
    });
    check(await button.getAttribute('aria-expanded') === 'true', `${where} the Details button should have aria-expanded=true once open`);
    const call = calls.slice(callsBefore).find((c) => c.name === 'item_details');
    check(call && call.arguments && call.arguments.id === data.first.id,
      `${where} the widget should have called item_details {id: ${JSON.stringify(data.first.id)}}; calls: ${JSON.stringify(calls.slice(callsBefore))}`);
    out.detail = data.detail;

    // The bridge messages the host saw.
    const events = await page.evaluate(() => window.harness.events.map((e) => ({ dir: e.dir, what: e.what, detail: e.detail })));
    const fromWidget = (what) => events.filter((e) => e.dir === '← widget' && e.what === what);
    if (bridge === 'mcp-apps') {
      const init = fromWidget('ui/initialize')[0];
      check(init && init.detail && typeof init.detail.protocolVersion === 'string' && init.detail.appInfo,
        `${where} the widget should send ui/initialize with protocolVersion and appInfo; saw ${JSON.stringify(events.map((e) => e.what))}`);
      check(fromWidget('ui/notifications/initialized').length === 1, `${where} the widget should send ui/notifications/initialized once`);
      check(fromWidget('ui/notifications/size-changed').length > 0, `${where} the widget should report its size (ui/notifications/size-changed)`);
      check(fromWidget('tools/call').some((e) => e.detail && e.detail.name === 'item_details'), `${where} the widget should send tools/call item_details`);
    } else {
      check(fromWidget('openai.callTool').some((e) => e.detail && e.detail.name === 'item_details'), `${where} the widget should call window.openai.callTool('item_details', …)`);
      const state = await page.evaluate(() => window.harness.widgetState);
      check(state && Array.isArray(state.open) && state.open.includes(data.first.id),
        `${where} the widget should save the open item in window.openai.setWidgetState; got ${JSON.stringify(state)}`);
    }
    check(problems.length === 0, `${where} the page reported: ${problems.join(' | ')}`);

    await page.screenshot({ path: shot });
    out.screenshot = shot;
  } catch (e) {
    try {
      await page.screenshot({ path: path.join(artifacts, `widget-${bridge}-failure.png`) });
    } catch (_) { /* best effort */ }
    if (problems.length && !(e instanceof Failure && e.message.includes('the page reported'))) {
      e.message += ` (page: ${problems.join(' | ')})`;
    }
    throw e;
  } finally {
    await context.close().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------- main
async function main() {
  const opts = parseArgs(process.argv.slice(2), ARGS);
  summary.url = opts.url;
  fs.mkdirSync(opts.artifacts, { recursive: true });
  const deps = loadDeps();
  const data = await prepare(deps, opts.url);
  const calls = [];
  const base = await startHarnessServer((call) => data.client.callTool(call), (call) => {
    calls.push({ name: call.name, arguments: call.arguments });
  });
  const browser = await launchChromium(deps);
  cleanups.push(() => browser.close());
  for (const spec of BRIDGES) await runBridge(browser, base, spec, data, calls, opts.artifacts);
  summary.ok = true;
}

runDriver({ name: 'widget_browser', summary, overallMs: OVERALL_MS, main });
