#!/usr/bin/env node
// Proof against a host no one here wrote: the showcase's list widget, unchanged, inside the
// official MCP Apps host bridge (`AppBridge` + `PostMessageTransport` from
// @modelcontextprotocol/ext-apps/app-bridge, as its examples use it), against a running
// Widgetry server.
//
//   node tests/browser/ext_apps_browser.mjs --url http://127.0.0.1:PORT/mcp --artifacts DIR
//
// 1. With the official MCP TypeScript SDK client: tools/list, the widget URI found by ext-apps'
//    own getToolUiResourceUri(show_list), resources/read of it (mimeType must be ext-apps'
//    RESOURCE_MIME_TYPE), a real show_list result and an item_details answer.
// 2. Two loopback origins, as real hosts use: the host page on one (it loads the ext-apps
//    module and the SDK it needs from tests/node/node_modules through an import map) and the
//    widget document, byte for byte what resources/read returned, on another, under a CSP
//    built from the resource's `_meta.ui.csp`, in `sandbox="allow-scripts allow-same-origin"`.
//    The host's oncalltool forwards to the server through the SDK client (POST /call).
// 3. In headless Debian chromium, checks: the handshake (host "mcp-apps", ext-apps' hostInfo
//    in the widget), tool input (sendToolInput, seen as widgetry.toolInput), streaming input
//    (sendToolInputPartial → 'toolinputpartial'), the result (the real items render), a
//    host-context change (theme), tools/call (Details → item_details through oncalltool, the
//    real detail text shows), widget state reaching the model (onupdatemodelcontext gets the
//    open item), display mode (widget asks fullscreen → onrequestdisplaymode; the granted mode
//    lands in the widget), size changes (onsizechange, taller after Details opens), a cancelled
//    call ('toolcancelled') and teardown (teardownResource resolves after the widget's hook).
// Prints one JSON summary line; on failure the reason on stderr and exit status 1.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

import {
  check, cleanups, connectMcp, launchChromium, loadDeps, NODE_DIR, parseArgs, poll,
  runDriver, STEP_MS,
} from './lib.mjs';

const OVERALL_MS = 60_000;
const ARGS = { script: 'ext_apps_browser.mjs', usage: '--url URL [--artifacts DIR]' };
const summary = { ok: false, url: null, resourceUri: null, extApps: null, checks: [] };
const passed = (what) => summary.checks.push(what);

// The modules the browser may load: ext-apps' app-bridge and what it imports.
const IMPORT_MAP = {
  imports: {
    '@modelcontextprotocol/ext-apps/app-bridge': '/nm/@modelcontextprotocol/ext-apps/dist/src/app-bridge.js',
    '@modelcontextprotocol/sdk/': '/nm/@modelcontextprotocol/sdk/dist/esm/',
    'zod/v3': '/nm/zod/v3/index.js',
    'zod/v4': '/nm/zod/v4/index.js',
    'zod/v4-mini': '/nm/zod/v4-mini/index.js',
    'zod-to-json-schema': '/nm/zod-to-json-schema/dist/esm/index.js',
  },
};
const SERVED = ['@modelcontextprotocol/ext-apps/', '@modelcontextprotocol/sdk/', 'zod/', 'zod-to-json-schema/'];

// The host page: ext-apps' AppBridge, set up the way its basic-host example does.
const HOST_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ext-apps host</title>
<script type="importmap">${JSON.stringify(IMPORT_MAP)}</script>
<style>body{font:14px system-ui;margin:16px}iframe{width:720px;border:1px solid #888;height:200px}</style>
</head><body><h1>ext-apps AppBridge host</h1><iframe id="app" sandbox="allow-scripts allow-same-origin"></iframe>
<script type="module">
import { AppBridge, PostMessageTransport } from '@modelcontextprotocol/ext-apps/app-bridge';
const seen = window.seen = { calls: [], modes: [], sizes: [], modelContext: [], messages: [], initialized: 0 };
window.start = async ({ src, tool, input, result }) => {
  const iframe = document.getElementById('app');
  let ctx = { theme: 'dark', displayMode: 'inline', availableDisplayModes: ['inline', 'fullscreen'],
    containerDimensions: { maxHeight: 640 }, locale: 'en-US', platform: 'web', toolInfo: { id: 'call-1', tool } };
  const bridge = window.bridge = new AppBridge(null, { name: 'ext-apps-proof-host', version: '1.0.0' },
    { openLinks: {}, serverTools: {}, logging: {}, message: { text: {} }, updateModelContext: { text: {}, structuredContent: {} } },
    { hostContext: ctx });
  window.setContext = (patch) => { ctx = Object.assign({}, ctx, patch); bridge.setHostContext(ctx); };
  bridge.oncalltool = async (params) => {
    seen.calls.push(params);
    const res = await fetch('/call', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error);
    return body.result;
  };
  bridge.onrequestdisplaymode = async ({ mode }) => {
    seen.modes.push(mode);
    window.setContext({ displayMode: mode });
    return { mode };
  };
  bridge.onsizechange = ({ width, height }) => {
    seen.sizes.push({ width, height });
    if (typeof height === 'number') iframe.style.height = Math.min(height, 640) + 'px';
  };
  bridge.onupdatemodelcontext = async (params) => { seen.modelContext.push(params); return {}; };
  bridge.onmessage = async (params) => { seen.messages.push(params); return {}; };
  bridge.oninitialized = () => {
    seen.initialized += 1;
    bridge.sendToolInput({ arguments: input });
    bridge.sendToolResult(result);
  };
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.src = src;
};
</script></body></html>`;

function cspOf(meta) {
  const csp = (meta && meta.ui && meta.ui.csp) || {};
  const list = (k) => (Array.isArray(csp[k]) ? csp[k].filter((d) => /^https?:\/\/[^\s;'"]+$/.test(d)) : []);
  return [
    "default-src 'none'",
    `script-src 'unsafe-inline' ${list('resourceDomains').join(' ')}`,
    `style-src 'unsafe-inline' ${list('resourceDomains').join(' ')}`,
    `img-src data: blob: ${list('resourceDomains').join(' ')}`,
    `font-src data: ${list('resourceDomains').join(' ')}`,
    `connect-src ${list('connectDomains').join(' ') || "'none'"}`,
    `frame-src ${list('frameDomains').join(' ') || "'none'"}`,
    "base-uri 'none'",
  ].join('; ');
}

function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      cleanups.push(() => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }));
      resolve(server.address().port);
    });
  });
}

function send(res, status, type, body, extra = {}) {
  if (status === 404 && res.req && res.req.url === '/favicon.ico') status = 204;
  res.writeHead(status, Object.assign({ 'content-type': type, 'cache-control': 'no-store' }, extra));
  res.end(body);
}

/** The host origin: the page, the allowed node modules, POST /call. */
function startHost(client) {
  const nm = path.join(NODE_DIR, 'node_modules');
  return listen((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    if (req.method === 'GET' && pathname === '/host.html') return send(res, 200, 'text/html; charset=utf-8', HOST_PAGE);
    if (req.method === 'GET' && pathname.startsWith('/nm/')) {
      const rel = pathname.slice(4);
      const file = path.resolve(nm, rel);
      if (!SERVED.some((p) => rel.startsWith(p)) || !file.startsWith(nm + path.sep) || !file.endsWith('.js') || !fs.existsSync(file)) {
        return send(res, 404, 'text/plain', 'not found');
      }
      return send(res, 200, 'text/javascript; charset=utf-8', fs.readFileSync(file));
    }
    if (req.method === 'POST' && pathname === '/call') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => { body += c; if (body.length > 1_000_000) req.destroy(); });
      req.on('end', async () => {
        try {
          const call = JSON.parse(body);
          const result = await client.callTool({ name: call.name, arguments: call.arguments || {} });
          send(res, 200, 'application/json', JSON.stringify({ result }));
        } catch (e) {
          send(res, 502, 'application/json', JSON.stringify({ error: e.message }));
        }
      });
      return undefined;
    }
    return send(res, 404, 'text/plain', 'not found');
  });
}

/** The widget origin: the document exactly as resources/read returned it. */
function startSandbox(html, csp) {
  return listen((req, res) => {
    const pathname = new URL(req.url, 'http://127.0.0.1').pathname;
    if (req.method === 'GET' && pathname === '/widget.html') {
      return send(res, 200, 'text/html; charset=utf-8', html, { 'content-security-policy': csp });
    }
    return send(res, 404, 'text/plain', 'not found');
  });
}

async function prepare(deps, url) {
  const require = createRequire(path.join(NODE_DIR, 'package.json'));
  const ext = await import(pathToFileURL(require.resolve('@modelcontextprotocol/ext-apps/app-bridge')).href);
  summary.extApps = JSON.parse(fs.readFileSync(path.join(NODE_DIR, 'node_modules/@modelcontextprotocol/ext-apps/package.json'), 'utf8')).version;
  const client = await connectMcp(deps, url, { name: 'ext-apps-proof' });
  const { tools } = await client.listTools();
  const tool = tools.find((t) => t.name === 'show_list');
  check(tool, `tools/list has no show_list (tools: ${tools.map((t) => t.name).join(', ')})`);
  const uri = ext.getToolUiResourceUri(tool);
  check(typeof uri === 'string', `ext-apps getToolUiResourceUri(show_list) found no UI resource in ${JSON.stringify(tool._meta)}`);
  summary.resourceUri = uri;
  const read = await client.readResource({ uri });
  const c = (read.contents || [])[0];
  check(c && c.mimeType === ext.RESOURCE_MIME_TYPE, `resources/read ${uri}: mimeType ${c && c.mimeType}, want ext-apps' RESOURCE_MIME_TYPE ${ext.RESOURCE_MIME_TYPE}`);
  const result = await client.callTool({ name: 'show_list', arguments: {} });
  check(!result.isError && result.structuredContent && result.structuredContent.items.length > 0, `show_list failed: ${JSON.stringify(result)}`);
  const first = result.structuredContent.items[0];
  const details = await client.callTool({ name: 'item_details', arguments: { id: first.id } });
  const detail = details.structuredContent && details.structuredContent.detail;
  check(typeof detail === 'string' && detail, `item_details gave no detail: ${JSON.stringify(details)}`);
  return { client, tool, html: c.text, meta: c._meta, result, first, detail };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), ARGS);
  summary.url = opts.url;
  fs.mkdirSync(opts.artifacts, { recursive: true });
  const deps = loadDeps();
  const data = await prepare(deps, opts.url);
  const hostPort = await startHost(data.client);
  const sandboxPort = await startSandbox(data.html, cspOf(data.meta));
  // 127.0.0.1 and localhost on two ports: two origins, neither the app's.
  const hostUrl = `http://127.0.0.1:${hostPort}/host.html`;
  const src = `http://localhost:${sandboxPort}/widget.html`;

  const browser = await launchChromium(deps);
  cleanups.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 900, height: 800 } });
  page.setDefaultTimeout(STEP_MS);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`uncaught error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  cleanups.push(async () => {
    if (!summary.ok) await page.screenshot({ path: path.join(opts.artifacts, 'ext-apps-failure.png') }).catch(() => {});
  });
  await page.goto(hostUrl);
  await poll('the host page should load ext-apps AppBridge', async () => ({ ok: await page.evaluate(() => typeof window.start === 'function'), got: problems }));
  const input = { filter: 'all', requestedBy: 'ext-apps-proof' };
  await page.evaluate((a) => window.start(a), { src, tool: data.tool, input, result: data.result });
  const frame = await poll('the widget frame should load from the sandbox origin', async () => {
    const f = page.frames().find((x) => x.url() === src);
    return { ok: !!f, got: page.frames().map((x) => x.url()), frame: f };
  }).then((r) => r.frame);
  const seen = () => page.evaluate(() => JSON.parse(JSON.stringify(window.seen)));
  const w = (fn, arg) => frame.evaluate(fn, arg);

  // Handshake and tool input.
  await poll('the widget should finish the ext-apps handshake and get the tool input', async () => {
    const got = await w(() => ({ host: widgetry.host, version: widgetry.version, hostInfo: widgetry.hostInfo || null, caps: widgetry.hostCapabilities, input: widgetry.toolInput, origin: location.origin }));
    const ok = got.host === 'mcp-apps' && got.hostInfo && got.hostInfo.name === 'ext-apps-proof-host'
      && JSON.stringify(got.input) === JSON.stringify(input);
    return { ok, got };
  });
  check((await seen()).initialized === 1, 'AppBridge should see ui/notifications/initialized exactly once');
  passed('handshake + tool-input');

  // Result: the real items, in order.
  const items = page.frameLocator('#app').getByRole('list').getByRole('listitem');
  const expected = data.result.structuredContent.items.map((i) => i.title);
  await poll(`the widget should render ${JSON.stringify(expected)}`, async () => {
    const texts = await items.allInnerTexts();
    return { ok: texts.length === expected.length && expected.every((t, i) => texts[i].includes(t)), got: texts };
  });
  passed('tool-result');

  // Streaming input and a host-context change.
  await w(() => {
    window.__proof = { partial: [], cancelled: [], teardown: 0 };
    widgetry.on('toolinputpartial', (a) => window.__proof.partial.push(a));
    widgetry.on('toolcancelled', (c) => window.__proof.cancelled.push(c));
    widgetry.on('teardown', () => new Promise((r) => setTimeout(() => { window.__proof.teardown += 1; r(); }, 200)));
  });
  await page.evaluate(() => window.bridge.sendToolInputPartial({ arguments: { filter: 'al' } }));
  await poll('tool-input-partial should reach the widget', async () => {
    const got = await w(() => window.__proof.partial);
    return { ok: got.length === 1 && got[0].filter === 'al', got };
  });
  passed('tool-input-partial');
  check(await w(() => document.documentElement.dataset.theme) === 'dark', 'the initial host context (dark) should apply');
  await page.evaluate(() => window.setContext({ theme: 'light' }));
  await poll('a host-context change (theme light) should reach the widget', async () => {
    const got = await w(() => document.documentElement.dataset.theme);
    return { ok: got === 'light', got };
  });
  passed('host-context-changed');

  // tools/call through oncalltool, the real detail text, widget state reaching the model, size.
  const before = (await seen()).sizes;
  check(before.length > 0 && before.every((s) => s.height > 0), `AppBridge onsizechange should have seen a height; got ${JSON.stringify(before)}`);
  const firstItem = items.first();
  await firstItem.getByRole('button', { name: 'Details' }).click();
  await poll(`Details should show ${JSON.stringify(data.detail)}`, async () => {
    const got = await firstItem.innerText();
    return { ok: got.includes(data.detail), got };
  });
  const after = await seen();
  check(after.calls.some((c) => c.name === 'item_details' && c.arguments && c.arguments.id === data.first.id),
    `oncalltool should have run item_details {id: ${data.first.id}}; got ${JSON.stringify(after.calls)}`);
  passed('tools/call');
  await poll('setWidgetState should reach the model through onupdatemodelcontext', async () => {
    const got = (await seen()).modelContext;
    const ok = got.some((p) => p.structuredContent && p.structuredContent.widgetState
      && Array.isArray(p.structuredContent.widgetState.open) && p.structuredContent.widgetState.open.includes(data.first.id));
    return { ok, got };
  });
  passed('ui/update-model-context');
  await poll('the widget should report a taller size once Details is open', async () => {
    const sizes = (await seen()).sizes;
    const last = sizes[sizes.length - 1];
    return { ok: last.height > before[before.length - 1].height, got: sizes };
  });
  passed('size-changed');

  // Display mode: the widget asks, the host grants, the widget knows.
  const granted = await w(() => widgetry.requestDisplayMode('fullscreen'));
  check(granted.mode === 'fullscreen', `requestDisplayMode should resolve with fullscreen; got ${JSON.stringify(granted)}`);
  check((await seen()).modes.includes('fullscreen'), 'onrequestdisplaymode should have seen fullscreen');
  await poll('the granted display mode should land in the widget', async () => {
    const got = await w(() => widgetry.displayMode);
    return { ok: got === 'fullscreen', got };
  });
  const pip = await w(() => widgetry.requestDisplayMode('pip'));
  check(pip.mode === 'fullscreen' && !(await seen()).modes.includes('pip'),
    `a mode outside availableDisplayModes should not be asked for; got ${JSON.stringify(pip)} / ${JSON.stringify((await seen()).modes)}`);
  passed('display mode');

  // Cancellation and teardown.
  await page.evaluate(() => window.bridge.sendToolCancelled({ reason: 'user stopped it' }));
  await poll('tool-cancelled should reach the widget', async () => {
    const got = await w(() => window.__proof.cancelled);
    return { ok: got.length === 1 && got[0].reason === 'user stopped it', got };
  });
  passed('tool-cancelled');
  await page.evaluate(() => window.bridge.teardownResource({}));
  check(await w(() => window.__proof.teardown) === 1, 'teardownResource should resolve only after the widget teardown hook ran');
  passed('resource-teardown');

  check(problems.length === 0, `the page reported: ${problems.join(' | ')}`);
  await page.screenshot({ path: path.join(opts.artifacts, 'ext-apps.png') });
  summary.ok = true;
}

runDriver({ name: 'ext_apps_browser', summary, overallMs: OVERALL_MS, main });
