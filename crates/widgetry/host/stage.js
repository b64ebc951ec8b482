/*! The widget on stage: rendered from its `ui://` resource in a frame on another real origin
 * (the sandbox at /_widgetry/host/sandbox under the other loopback name), under the CSP the
 * resource declares as the chosen host profile applies it, driven through the shared bridge
 * (bridge.js). Display modes, size, host-context changes and teardown live here. */
import { injectHead, MODES, openaiShimSource, WidgetBridge } from './bridge.js';
import { $, BASE, compact, el, isObj, utf8FromB64, VERSION } from './util.js';
import { log } from './log.js';
import { profileOf } from './profiles.js';
import { S } from './state.js';
import { serverRequest } from './server.js';
import { devServerFor } from './devserver.js';

let W = null; // { frame, bridge, tool, args, callId, height, widgetState, ready, uri, profile }
export const current = () => W;

/** The sandbox origin: this app under its other loopback name (never the page's origin). */
export function sandboxOrigin() {
  const port = location.port ? `:${location.port}` : '';
  const other = location.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
  return `${location.protocol}//${other}${port}`;
}

const resourceCache = new Map();

export async function readWidget(uri) {
  if (resourceCache.has(uri)) return resourceCache.get(uri);
  const r = await serverRequest('resources/read', { uri });
  log('mcp', `resources/read ${uri}`, { contents: (r.contents || []).map((c) => ({ uri: c.uri, mimeType: c.mimeType, _meta: c._meta })) }, { verbose: true });
  resourceCache.set(uri, r);
  return r;
}

export function forgetWidgets() { resourceCache.clear(); }

/** The widget's declared CSP, as MCP Apps names it. */
function declaredCsp(meta) {
  const m = isObj(meta) ? meta : {};
  if (isObj(m.ui) && isObj(m.ui.csp)) return m.ui.csp;
  const o = m['openai/widgetCSP'];
  if (isObj(o)) return { connectDomains: o.connect_domains, resourceDomains: o.resource_domains, frameDomains: o.frame_domains, baseUriDomains: o.base_uri_domains };
  return {};
}

function cspSources(list) {
  return (Array.isArray(list) ? list : [])
    .filter((x) => typeof x === 'string' && /^[a-z][a-z0-9+.-]*:(\/\/[^\s;,'"<>]+)?$/i.test(x.trim()))
    .map((x) => x.trim().replace(/\/+$/, ''));
}

/** The widget's policy: inline code and what it declares, as the profile honours it. */
export function widgetPolicy(csp, profile) {
  const res = cspSources(csp.resourceDomains).join(' ');
  const con = profile.connect ? cspSources(csp.connectDomains).join(' ') : '';
  const fr = profile.frames ? cspSources(csp.frameDomains).join(' ') : '';
  const base = cspSources(csp.baseUriDomains).join(' ');
  return [
    "default-src 'none'",
    `script-src 'unsafe-inline' ${res}`.trim(),
    `style-src 'unsafe-inline' ${res}`.trim(),
    `img-src data: blob: ${res}`.trim(),
    `font-src data: ${res}`.trim(),
    `media-src data: blob: ${res}`.trim(),
    `connect-src ${con || "'none'"}`,
    `frame-src ${fr || "'none'"}`,
    `base-uri ${base || "'none'"}`,
    "object-src 'none'",
  ].join('; ');
}

const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

export function effectiveMaxHeight() {
  if (S.displayMode === 'fullscreen') {
    const slot = $('frame-slot');
    return Math.max(100, Math.floor(slot && slot.clientHeight ? slot.clientHeight : window.innerHeight - 40));
  }
  return S.maxHeight;
}

function openaiGlobals(w) {
  return {
    toolInput: w.inputSent ? w.args || {} : null, // nothing before approval
    toolOutput: null,
    toolResponseMetadata: null,
    widgetState: w.widgetState,
    theme: S.theme,
    displayMode: S.displayMode,
    maxHeight: effectiveMaxHeight(),
    locale: S.locale,
    userAgent: { device: { type: 'desktop' }, capabilities: { hover: true, touch: false } },
    safeArea: { insets: { top: 0, bottom: 0, left: 0, right: 0 } },
    view: { mode: S.displayMode },
    widgetSessionId: `host-${w.callId}`,
  };
}

export function hostContext() {
  const dims = S.displayMode === 'fullscreen'
    ? { height: effectiveMaxHeight(), maxHeight: effectiveMaxHeight() }
    : { maxHeight: S.maxHeight };
  let timeZone = 'UTC';
  try { timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (_) { /* default */ }
  return {
    theme: S.theme,
    displayMode: S.displayMode,
    availableDisplayModes: MODES.slice(),
    containerDimensions: dims,
    locale: S.locale,
    timeZone,
    platform: 'web',
    userAgent: `widgetry-host/${VERSION}`,
    deviceCapabilities: { touch: false, hover: true },
    safeAreaInsets: { top: 0, right: 0, bottom: 0, left: 0 },
    toolInfo: W ? { id: W.callId, tool: W.tool } : undefined,
  };
}

export function layout() {
  const stage = $('stage');
  stage.dataset.mode = S.displayMode;
  $('stage-inline').hidden = S.displayMode === 'inline';
  $('stage-mode-name').textContent = S.displayMode;
  $('teardown').hidden = !W;
  if (!W || !W.frame) return;
  if (S.displayMode === 'fullscreen') W.frame.style.height = '';
  else W.frame.style.height = `${Math.min(Math.max(W.height || 120, 40), S.maxHeight)}px`;
}

function applyHeight(h) {
  if (!W || typeof h !== 'number' || !Number.isFinite(h)) return;
  W.height = Math.ceil(h);
  layout();
}

/** Tells the widget that host settings changed (`patch` names them). */
export function pushContext(patch) {
  if (!W) return;
  const ctx = {};
  const g = {};
  if ('theme' in patch) { ctx.theme = S.theme; g.theme = S.theme; }
  if ('displayMode' in patch) { ctx.displayMode = S.displayMode; g.displayMode = S.displayMode; g.view = { mode: S.displayMode }; }
  if ('locale' in patch) { ctx.locale = S.locale; g.locale = S.locale; }
  if ('displayMode' in patch || 'maxHeight' in patch) { ctx.containerDimensions = hostContext().containerDimensions; g.maxHeight = effectiveMaxHeight(); }
  W.bridge.contextChanged(ctx, g);
}

export function setDisplayMode(mode, why) {
  if (!MODES.includes(mode)) return false;
  const changed = S.displayMode !== mode;
  S.displayMode = mode;
  $('display-mode').value = mode;
  layout();
  if (changed) {
    log('display', `display mode → ${mode}${why ? ` (${why})` : ''}`);
    pushContext({ displayMode: mode });
  }
  return true;
}

function openLink(url) {
  let u;
  try { u = new URL(String(url)); } catch (_) { throw new Error(`not a URL: ${url}`); }
  if (!/^https?:$/.test(u.protocol) && u.protocol !== 'mailto:') throw new Error(`refusing to open ${u.protocol} links`);
  window.open(u.href, '_blank', 'noopener,noreferrer');
}

export function clearStage(message) {
  if (W) W.bridge.detach();
  W = null;
  $('frame-slot').replaceChildren(el('p', { className: 'placeholder', text: message }));
  $('stage-title').textContent = 'No widget';
  layout();
}

/**
 * Renders `tool`'s widget for call `callId` and resolves with it once the widget finished
 * the handshake (or at once for a widget without the bridge). `callTool(name, args)` runs
 * the widget's own tool calls.
 */
export async function mount(tool, uri, args, callId, callTool) {
  const profile = profileOf(S.profile);
  const r = await readWidget(uri);
  const contents = Array.isArray(r && r.contents) ? r.contents : [];
  const c = contents.find((x) => /^text\/html/i.test(x.mimeType || '')) || contents[0];
  if (!c) throw new Error(`resources/read ${uri} returned no contents`);
  const html = typeof c.text === 'string' ? c.text : (typeof c.blob === 'string' ? utf8FromB64(c.blob) : '');
  if (!html) throw new Error(`resources/read ${uri}: empty widget`);
  const meta = isObj(c._meta) ? c._meta : {};
  const csp = declaredCsp(meta);
  const policy = widgetPolicy(csp, profile);
  const prefersBorder = isObj(meta.ui) && typeof meta.ui.prefersBorder === 'boolean' ? meta.ui.prefersBorder : meta['openai/widgetPrefersBorder'] === true;
  // Served live by a dev server (?dev=NAME=URL): its page, with the runtime its plugin
  // injects, instead of the built resource; no CSP <meta> nor window.openai can be added to it.
  const dev = devServerFor(uri);
  const origin = dev ? dev.origin : sandboxOrigin();

  if (W) W.bridge.detach();
  const w = { tool, args, callId, uri, profile, height: 0, widgetState: null, inputSent: false, policy, origin };
  let ready;
  w.ready = new Promise((r2) => { ready = r2; });
  const frame = el('iframe', {
    id: 'widget-frame', title: `${tool.name} widget`, src: dev ? dev.href : `${origin}${BASE}/sandbox`,
    sandbox: 'allow-scripts allow-same-origin allow-forms allow-popups', referrerpolicy: 'no-referrer',
  });
  w.frame = frame;
  w.bridge = new WidgetBridge({
    frame,
    apps: true,
    openai: profile.openai && !dev,
    hostInfo: profile.hostInfo,
    capabilities: profile.capabilities,
    context: hostContext,
    targetOrigin: origin,
    log: (dir, what, detail) => log('bridge', `${dir} ${what} ${compact(detail, 120)}`, detail, { verbose: true }),
    onInitialized: () => ready(w),
    handlers: {
      callTool: (name, a) => callTool(name, a),
      message: async (p) => {
        const text = Array.isArray(p.content) ? p.content.map((x) => (isObj(x) ? x.text : '')).filter(Boolean).join('\n') : '';
        log('message', `follow-up message (${p.role || 'user'}): ${text}`, p);
        return {};
      },
      openLink: async (url) => {
        log('link', `open link ${url}`);
        try { openLink(url); return {}; } catch (e) { log('error', e.message); return { isError: true }; }
      },
      modelContext: async (p) => { log('state', `model context update ${compact(p)}`, p); return {}; },
      widgetState: async (state) => { w.widgetState = state; log('state', `widget state ${compact(state)}`, state); },
      displayMode: async (mode) => { log('display', `widget requests display mode ${mode}`); setDisplayMode(mode, 'requested by the widget'); return S.displayMode; },
      size: ({ height }) => applyHeight(height),
      requestClose: () => { log('display', 'widget asks to close'); teardown('the widget asked to close'); },
      other: async (op) => { log('bridge', `window.openai.${op} is a ChatGPT extra this page does not emulate`); throw new Error(`window.openai.${op} is not available in the Widgetry host page`); },
    },
  }).attach();
  W = w;
  // The sandbox says when it listens; then it gets the document.
  const onReady = (ev) => {
    if (ev.source !== frame.contentWindow || ev.origin !== origin || !isObj(ev.data) || ev.data.type !== 'widgetry-sandbox-ready') return;
    window.removeEventListener('message', onReady);
    let doc = `<meta http-equiv="Content-Security-Policy" content="${attr(policy)}">`;
    if (profile.openai) doc += openaiShimSource(openaiGlobals(w), location.origin);
    frame.contentWindow.postMessage({ type: 'widgetry-sandbox-render', html: injectHead(html, doc) }, origin);
  };
  if (!dev) window.addEventListener('message', onReady);
  $('stage').dataset.border = String(!!prefersBorder);
  $('stage-title').textContent = `${tool.title || tool.name} · ${profile.label} · ${dev ? `live from ${dev.href}` : uri.replace(/^ui:\/\/widget\//, '')}`;
  $('frame-slot').replaceChildren(frame);
  layout();
  if (dev) log('reload', `render ${uri} live from the dev server ${dev.href} (hot reload; its CSP and window.openai are not applied)`, { uri, dev: dev.href });
  else log('bridge', `render ${uri} as ${profile.label} in ${origin} (CSP: ${policy})`, { uri, mimeType: c.mimeType, csp, origin }, { verbose: true });
  return w;
}

/** ui/resource-teardown, then the frame goes. */
export async function teardown(why) {
  const w = W;
  if (!w) return;
  log('display', `tearing the widget down${why ? ` (${why})` : ''}`);
  try {
    await w.bridge.teardown(5000);
    log('bridge', 'the widget answered ui/resource-teardown');
  } catch (e) {
    log('error', `teardown: ${e.message}`);
  }
  if (W === w) clearStage('The widget was torn down.');
}
