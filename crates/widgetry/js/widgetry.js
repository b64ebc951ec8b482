/*! widgetry.js, the Widgetry widget runtime: `window.widgetry` over ChatGPT's window.openai ('openai'),
 * the MCP Apps postMessage bridge (SEP-1865, 'mcp-apps') or none ('none'). Types: widgetry.d.ts. */
(() => {
'use strict';
if (window.widgetry && window.widgetry.version) return; // inlined twice: keep the first

const VERSION = '0.1.0';
const PROTOCOL_VERSION = '2026-01-26'; // MCP Apps protocol (ext-apps LATEST_PROTOCOL_VERSION)
const TIMEOUT_MS = 30000;
const KEYS = ['toolInput', 'toolOutput', 'toolResponseMetadata', 'widgetState', 'theme', 'displayMode', 'maxHeight', 'locale'];
const subs = { toolinput: new Set(), toolresult: new Set(), theme: new Set(), globals: new Set(), auth: new Set() };
const st = {
  toolInput: null, toolOutput: null, toolResult: null, toolResponseMetadata: null, widgetState: null,
  theme: 'light', displayMode: 'inline', maxHeight: null, locale: null, hostContext: null,
};
let host = 'none';
let initError = null;
let resolveReady;
const ready = new Promise((r) => { resolveReady = r; });

const warn = (...a) => console.warn('[widgetry]', ...a);
const isObj = (v) => v !== null && typeof v === 'object';
const same = (a, b) => { try { return a === b || JSON.stringify(a) === JSON.stringify(b); } catch (_) { return false; } };
const normTheme = (t) => (t === 'dark' ? 'dark' : 'light');
const toError = (e) => (e instanceof Error ? e : new Error(String(e)));

function emit(event, payload) {
  for (const cb of [...subs[event]]) try { cb(payload); } catch (e) { warn(`a '${event}' listener threw:`, e); }
}

function applyTheme() {
  const root = document.documentElement;
  root.dataset.theme = st.theme;
  root.style.colorScheme = st.theme;
}

// Merge changed globals and emit events; `fresh` marks a new tool result (emitted even if identical).
function update(patch, fresh) {
  const ch = {};
  let any = !!fresh;
  for (const k of Object.keys(patch)) {
    if (patch[k] === undefined || same(st[k], patch[k])) continue;
    st[k] = patch[k];
    ch[k] = any = true;
  }
  if (ch.theme) { applyTheme(); emit('theme', st.theme); }
  if (ch.toolInput) emit('toolinput', st.toolInput);
  if (fresh || ch.toolOutput || ch.toolResult || ch.toolResponseMetadata) {
    emit('toolresult', st.toolResult || { structuredContent: st.toolOutput, _meta: st.toolResponseMetadata || undefined });
  }
  if (any) {
    const snap = { host };
    for (const k of KEYS.concat('toolResult')) snap[k] = st[k];
    emit('globals', snap);
  }
}

function resultPatch(r) {
  r = isObj(r) ? r : {};
  return { toolResult: r, toolOutput: r.structuredContent ?? null, toolResponseMetadata: r._meta ?? null };
}

// Any host's answer to a tool call, in the CallToolResult shape.
function normResult(r) {
  if (!isObj(r)) return { content: r == null ? [] : [{ type: 'text', text: String(r) }] };
  if ('content' in r || 'structuredContent' in r || 'isError' in r || '_meta' in r) return r;
  if (typeof r.result === 'string') { // older Apps SDK typing: { result: string }
    let sc;
    try { sc = JSON.parse(r.result); } catch (_) { /* plain text */ }
    return { content: [{ type: 'text', text: r.result }], structuredContent: isObj(sc) ? sc : undefined };
  }
  return { content: [], structuredContent: r };
}

// ---- host 'openai' (ChatGPT Apps SDK)
function syncOpenAi(globals) {
  const o = window.openai || {};
  const g = isObj(globals) ? globals : {};
  const patch = {};
  for (const k of KEYS) {
    const v = k in g ? g[k] : o[k];
    if (v !== undefined) patch[k] = k === 'theme' ? normTheme(v) : v;
  }
  update(patch);
}

// ---- host 'mcp-apps' (SEP-1865)
let nextId = 1;
const pending = new Map();
let storageKey = null;

const post = (msg) => window.parent.postMessage(msg, '*');

function rpc(method, params) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`widgetry: '${method}' got no answer from the host within ${TIMEOUT_MS / 1000} s`));
    }, TIMEOUT_MS);
    pending.set(id, { resolve, reject, timer, method });
    try { post({ jsonrpc: '2.0', id, method, params }); } catch (e) {
      clearTimeout(timer);
      pending.delete(id);
      reject(new Error(`widgetry: could not send '${method}' to the host: ${e.message}`));
    }
  });
}

function notify(method, params) {
  try { post({ jsonrpc: '2.0', method, params }); } catch (e) { warn(`could not send ${method}:`, e); }
}

function applyContext(ctx) {
  if (!isObj(ctx)) return;
  st.hostContext = Object.assign({}, st.hostContext, ctx);
  const patch = { displayMode: ctx.displayMode, locale: ctx.locale };
  if (ctx.theme !== undefined) patch.theme = normTheme(ctx.theme);
  const d = ctx.containerDimensions;
  if (isObj(d)) patch.maxHeight = typeof d.maxHeight === 'number' ? d.maxHeight : typeof d.height === 'number' ? d.height : null;
  const vars = isObj(ctx.styles) && ctx.styles.variables; // host theming: --color-*, --font-*, ...
  if (isObj(vars)) {
    for (const [k, v] of Object.entries(vars)) if (typeof v === 'string' && k.startsWith('--')) document.documentElement.style.setProperty(k, v);
  }
  update(patch);
}

function onMessage(ev) {
  if (ev.source !== window.parent) return;
  const m = ev.data;
  if (!isObj(m) || m.jsonrpc !== '2.0') return;
  if (m.method === undefined) { // a response to one of our requests
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    clearTimeout(p.timer);
    if (isObj(m.error)) {
      const err = new Error(`widgetry: '${p.method}' failed: ${m.error.message || 'error'} (code ${m.error.code})`);
      err.code = m.error.code;
      err.data = m.error.data;
      p.reject(err);
    } else {
      p.resolve(m.result ?? {});
    }
    return;
  }
  if (m.id != null) { // a request from the host
    const ok = m.method === 'ping' || m.method === 'ui/resource-teardown';
    post(ok ? { jsonrpc: '2.0', id: m.id, result: {} }
      : { jsonrpc: '2.0', id: m.id, error: { code: -32601, message: `Method not found: ${m.method}` } });
    return;
  }
  const params = isObj(m.params) ? m.params : {};
  if (m.method === 'ui/notifications/tool-input') update({ toolInput: isObj(params.arguments) ? params.arguments : {} });
  else if (m.method === 'ui/notifications/tool-result') update(resultPatch(params), true);
  else if (m.method === 'ui/notifications/host-context-changed') applyContext(params);
  // tool-input-partial and tool-cancelled are not surfaced yet
}

function loadStoredState() {
  const info = st.hostContext && st.hostContext.toolInfo;
  const key = info ? (info.id ?? (info.tool && info.tool.name)) : null;
  storageKey = `widgetry:widgetState:${key ?? location.pathname}`;
  try {
    const raw = window.sessionStorage.getItem(storageKey);
    if (raw) update({ widgetState: JSON.parse(raw) });
  } catch (_) { /* sandboxed without allow-same-origin: no storage */ }
}

function watchSize() { // ui/notifications/size-changed, as the ext-apps App measures it
  if (typeof ResizeObserver !== 'function') return;
  let scheduled = false, lastW = 0, lastH = 0;
  const measure = () => {
    scheduled = false;
    const cs = getComputedStyle(document.body);
    const height = Math.ceil(document.body.scrollHeight + (parseFloat(cs.marginTop) || 0) + (parseFloat(cs.marginBottom) || 0));
    const width = Math.ceil(window.innerWidth);
    if (width === lastW && height === lastH) return;
    [lastW, lastH] = [width, height];
    notify('ui/notifications/size-changed', { width, height });
  };
  const schedule = () => { if (!scheduled) { scheduled = true; requestAnimationFrame(measure); } };
  const start = () => {
    const ro = new ResizeObserver(schedule);
    ro.observe(document.documentElement);
    ro.observe(document.body);
    schedule();
  };
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start, { once: true });
}

async function startMcpApps() {
  host = 'mcp-apps';
  window.addEventListener('message', onMessage);
  try {
    const res = await rpc('ui/initialize', {
      appInfo: { name: 'widgetry', version: VERSION },
      appCapabilities: { availableDisplayModes: ['inline', 'fullscreen', 'pip'] },
      protocolVersion: PROTOCOL_VERSION,
    });
    applyContext(isObj(res) && isObj(res.hostContext) ? res.hostContext : {});
    loadStoredState();
    notify('ui/notifications/initialized', {});
    watchSize();
  } catch (e) {
    initError = toError(e);
    warn('MCP Apps handshake failed:', initError.message);
  }
  resolveReady();
}

// ---- public API
const noHost = (what) => Promise.reject(new Error(`widgetry: ${what} needs a host (ChatGPT or MCP Apps); this page has none`));
const viaOpenAi = (fn) => { try { return Promise.resolve(fn(window.openai)); } catch (e) { return Promise.reject(e); } };
const nothing = () => undefined;

const api = {
  version: VERSION,
  get host() { return host; },
  get initError() { return initError; },

  ready() { return ready; },

  on(event, cb) {
    if (!subs[event]) throw new Error(`widgetry.on: unknown event '${event}' (one of ${Object.keys(subs).join(', ')})`);
    if (typeof cb !== 'function') throw new Error('widgetry.on: the callback must be a function');
    subs[event].add(cb);
    return () => { subs[event].delete(cb); };
  },

  setWidgetState(state) {
    update({ widgetState: state });
    if (host === 'openai') return viaOpenAi((o) => o.setWidgetState(state)).then(nothing);
    try { if (storageKey) window.sessionStorage.setItem(storageKey, JSON.stringify(state)); } catch (_) { /* no storage */ }
    return Promise.resolve();
  },

  callTool(name, args) {
    const a = isObj(args) ? args : {};
    if (host === 'openai') return viaOpenAi((o) => o.callTool(name, a)).then(normResult);
    if (host === 'mcp-apps') return rpc('tools/call', { name, arguments: a }).then(normResult);
    return noHost(`callTool('${name}')`);
  },

  sendFollowUpMessage(text) {
    const prompt = String(text);
    if (host === 'openai') return viaOpenAi((o) => o.sendFollowUpMessage({ prompt })).then(nothing);
    if (host === 'mcp-apps') return rpc('ui/message', { role: 'user', content: [{ type: 'text', text: prompt }] }).then(nothing);
    return noHost('sendFollowUpMessage');
  },

  requestDisplayMode(mode) {
    const granted = (r) => {
      update({ displayMode: isObj(r) && typeof r.mode === 'string' ? r.mode : st.displayMode });
      return { mode: st.displayMode };
    };
    if (host === 'openai') return viaOpenAi((o) => o.requestDisplayMode({ mode })).then(granted);
    if (host === 'mcp-apps') return rpc('ui/request-display-mode', { mode }).then(granted);
    return Promise.resolve({ mode: st.displayMode });
  },

  openExternal(url) {
    const href = String(url);
    if (host === 'openai') return viaOpenAi((o) => o.openExternal({ href })).then(nothing);
    if (host === 'mcp-apps') {
      return rpc('ui/open-link', { url: href }).then((r) => {
        if (isObj(r) && r.isError) throw new Error(`widgetry: the host refused to open ${href}`);
      });
    }
    try { window.open(href, '_blank', 'noopener'); } catch (_) { /* blocked */ }
    return Promise.resolve();
  },

  // Authenticated widget actions (DESIGN.md §5): resolves with the action's structuredContent.
  action(name, input) { return runAction(String(name), isObj(input) ? input : {}); },

  /** The current widget-token grant (without the token itself), or null. */
  get actionGrant() {
    const g = grant();
    return g ? { signedIn: g.signedIn !== false && !!g.token, actions: g.actions || [], expiresAt: g.expiresAt || null } : null;
  },
};

// ---- widget actions: widget token from the tool result's _meta, renewed through the host
const TOKEN_KEY = 'widgetry/widgetToken';
const RENEW_BEFORE_MS = 60000;
let wt = null; // the newest grant: { token, expiresAt, endpoint, refreshTool, actions, declared, signedIn }

function grant() {
  const m = st.toolResponseMetadata;
  const g = isObj(m) && isObj(m[TOKEN_KEY]) ? m[TOKEN_KEY] : null;
  // A fresh tool result brings a fresh grant; otherwise keep the renewed one.
  if (g && (!wt || wt.origin !== g)) wt = Object.assign({}, g, { origin: g });
  return wt;
}

function authError(message, reason) {
  const e = new Error(message);
  e.name = 'WidgetryAuthError';
  e.code = 'signin_required';
  e.reason = reason;
  emit('auth', { signedIn: false, reason });
  return e;
}

const resultText = (r) => (isObj(r) && Array.isArray(r.content) ? r.content.map((c) => c && c.text).filter(Boolean).join(' ') : '');

async function renew(g) {
  if (!g.refreshTool || !g.token) throw authError('Sign in to do this.', 'signed_out');
  let r;
  try { r = await api.callTool(g.refreshTool, { token: g.token }); } catch (e) { throw authError(`Could not renew sign-in: ${toError(e).message}`, 'renew_failed'); }
  const m = isObj(r) && isObj(r._meta) ? r._meta[TOKEN_KEY] : null;
  if (!isObj(r) || r.isError || !isObj(m) || !m.token) {
    const reason = isObj(m) && m.scopeLost ? 'scope_lost' : 'signed_out';
    wt = Object.assign({}, g, { token: null, signedIn: false });
    throw authError(resultText(r) || 'Sign in again to continue.', reason);
  }
  wt = Object.assign({}, m, { origin: g.origin });
  return wt;
}

function unwrap(r) {
  if (!isObj(r)) return r;
  if (r.isError) {
    const m = isObj(r._meta) ? r._meta['mcp/www_authenticate'] : null;
    if (m) throw authError(resultText(r) || 'Sign in to do this.', 'signed_out');
    throw new Error(resultText(r) || 'the action failed');
  }
  return r.structuredContent !== undefined ? r.structuredContent : r;
}

// A host that relays a tools/call the server refused with HTTP 401/403 (what generic MCP
// clients get instead of ChatGPT's isError challenge) reports it as a failed call: the
// widget is signed out (or lost a scope) either way.
const REFUSED = /\b40[13]\b|-32001|unauthori[sz]ed|insufficient_scope|forbidden/i;
const viaTool = (name, input) => api.callTool(name, input).then(unwrap, (e) => {
  const err = toError(e);
  if (err.name === 'WidgetryAuthError' || !REFUSED.test(err.message)) throw err;
  throw authError('Sign in to do this.', /insufficient_scope|\b403\b|forbidden/i.test(err.message) ? 'scope_lost' : 'signed_out');
});

async function postAction(g, name, input) {
  return fetch(`${g.endpoint}/${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${g.token}` },
    body: JSON.stringify(input),
  });
}

async function runAction(name, input) {
  let g = grant();
  // No grant (not a Widgetry action widget) or signed out: let the host run the tool.
  if (!g || !g.endpoint || !g.token) return viaTool(name, input);
  if (g.expiresAt && g.expiresAt * 1000 - Date.now() < RENEW_BEFORE_MS) g = await renew(g);
  let res;
  try { res = await postAction(g, name, input); } catch (_) { return viaTool(name, input); } // blocked: CSP, CORS, network
  if (res.status === 401) {
    g = await renew(g);
    try { res = await postAction(g, name, input); } catch (_) { return viaTool(name, input); }
  }
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (res.ok) return unwrap(body);
  const code = isObj(body) ? body.error : null;
  if (res.status === 403 && code === 'insufficient_scope') throw authError(body.error_description || 'Permission lost; sign in again.', 'scope_lost');
  if (res.status === 400) throw new Error((isObj(body) && body.error_description) || 'invalid action input');
  return viaTool(name, input); // anything else (origin refused, 5xx, 401 after renewal): the host path
}

for (const k of KEYS.concat('toolResult', 'hostContext')) Object.defineProperty(api, k, { get: () => st[k], enumerable: true });

try {
  Object.defineProperty(window, 'widgetry', { value: api, configurable: true, enumerable: true });
  const init = isObj(window.__WIDGETRY_INITIAL__) ? window.__WIDGETRY_INITIAL__ : null;
  if (init) {
    const patch = init.toolResult ? resultPatch(init.toolResult) : {};
    for (const k of KEYS) if (init[k] !== undefined) patch[k] = k === 'theme' ? normTheme(init[k]) : init[k];
    update(patch);
  }
  applyTheme();
  // ChatGPT may define window.openai after this script: switch to it on its first event.
  window.addEventListener('openai:set_globals', (ev) => {
    if (!window.openai) return;
    if (host !== 'openai') { host = 'openai'; resolveReady(); }
    syncOpenAi(ev && ev.detail && ev.detail.globals);
  });
  let inFrame = true;
  try { inFrame = window.parent !== window; } catch (_) { /* cross-origin parent */ }
  if (window.openai) { host = 'openai'; syncOpenAi(); resolveReady(); }
  else if (inFrame && !(init && init.host === 'none')) startMcpApps();
  else resolveReady();
} catch (e) {
  initError = toError(e);
  warn('start-up failed:', e);
  resolveReady();
}
})();
