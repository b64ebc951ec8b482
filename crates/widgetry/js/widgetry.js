/*! widgetry.js, the Widgetry widget runtime: `window.widgetry` over the MCP Apps postMessage
 * bridge (SEP-1865, 'mcp-apps'), with ChatGPT's window.openai as extras on top (and as the
 * whole host, 'openai', when a host never answers `ui/initialize`), or none ('none').
 * Host facts it relies on: docs/hosts.md. Types: widgetry.d.ts. */
(() => {
'use strict';
if (window.widgetry && window.widgetry.version) return; // inlined twice: keep the first

const VERSION = '0.2.0';
const PROTOCOL_VERSION = '2026-01-26'; // MCP Apps protocol (ext-apps LATEST_PROTOCOL_VERSION)
// Requests the host answers by itself get a time limit; those a user may have to approve
// (tools/call, ui/message, ui/open-link) wait as long as the host lets them.
// A frame that also has window.openai waits less for ui/initialize: that host has a fallback.
const TIMEOUTS = { 'ui/initialize': 10000, 'ui/update-model-context': 30000, 'ui/request-display-mode': 30000 };
const INIT_WITH_OPENAI_MS = 2000;
const TEARDOWN_MS = 3000; // how long teardown hooks may delay the host's ui/resource-teardown
const KEYS = ['toolInput', 'toolOutput', 'toolResponseMetadata', 'widgetState', 'theme', 'displayMode', 'maxHeight', 'locale'];
const EVENTS = ['toolinput', 'toolinputpartial', 'toolresult', 'toolcancelled', 'teardown', 'theme', 'globals', 'auth'];
const subs = Object.fromEntries(EVENTS.map((e) => [e, new Set()]));
const st = {
  toolInput: null, toolInputPartial: null, toolOutput: null, toolResult: null, toolResponseMetadata: null, widgetState: null,
  theme: 'light', displayMode: 'inline', maxHeight: null, locale: null, hostContext: null,
};
let host = 'none';
let initError = null;
let hostInfo = null;
let hostCaps = null; // McpUiHostCapabilities from ui/initialize
let resolveReady;
const ready = new Promise((r) => { resolveReady = r; });

const warn = (...a) => console.warn('[widgetry]', ...a);
const isObj = (v) => v !== null && typeof v === 'object';
const same = (a, b) => { try { return a === b || JSON.stringify(a) === JSON.stringify(b); } catch (_) { return false; } };
const normTheme = (t) => (t === 'dark' ? 'dark' : 'light');
const toError = (e) => (e instanceof Error ? e : new Error(String(e)));
const openai = () => (isObj(window.openai) ? window.openai : null);
const openaiHas = (fn) => { const o = openai(); return !!o && typeof o[fn] === 'function'; };

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
  if (any) emit('globals', snapshot());
}

function snapshot() {
  const snap = { host };
  for (const k of KEYS.concat('toolResult')) snap[k] = st[k];
  return snap;
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

// ---- window.openai (ChatGPT): globals read on every openai:set_globals
function syncOpenAi(globals) {
  const o = openai() || {};
  const g = isObj(globals) ? globals : {};
  const patch = {};
  for (const k of KEYS) {
    const v = k in g ? g[k] : o[k];
    if (v === undefined || v === null) continue; // null: not delivered yet; never erase what the bridge gave
    patch[k] = k === 'theme' ? normTheme(v) : v;
  }
  update(patch);
}

// ---- the MCP Apps bridge (SEP-1865)
let nextId = 1;
const pending = new Map();
let storageKey = null;

const post = (msg) => window.parent.postMessage(msg, '*');

function rpc(method, params) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    const ms = method === 'ui/initialize' && openai() ? INIT_WITH_OPENAI_MS : TIMEOUTS[method];
    const timer = ms ? setTimeout(() => {
      pending.delete(id);
      reject(new Error(`widgetry: '${method}' got no answer from the host within ${ms / 1000} s`));
    }, ms) : null;
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
  if (!Object.keys(patch).some((k) => patch[k] !== undefined)) emit('globals', snapshot());
}

// The host asks the widget to go away: run the 'teardown' hooks (bounded), then answer.
async function teardown() {
  const hooks = [...subs.teardown].map((cb) => Promise.resolve().then(() => cb({})).catch((e) => warn('a teardown hook failed:', e)));
  await Promise.race([Promise.all(hooks), new Promise((r) => setTimeout(r, TEARDOWN_MS))]);
}

function onRequest(m) {
  const reply = (result) => post({ jsonrpc: '2.0', id: m.id, result });
  if (m.method === 'ping') return reply({});
  if (m.method === 'ui/resource-teardown') return void teardown().then(() => reply({}));
  return post({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: `Method not found: ${m.method}` } });
}

function onResponse(m) {
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
}

function onMessage(ev) {
  if (ev.source !== window.parent) return;
  const m = ev.data;
  if (!isObj(m) || m.jsonrpc !== '2.0') return;
  if (m.method === undefined) return onResponse(m);
  if (m.id != null) return onRequest(m);
  const params = isObj(m.params) ? m.params : {};
  switch (m.method) {
    case 'ui/notifications/tool-input': update({ toolInput: isObj(params.arguments) ? params.arguments : {} }); break;
    case 'ui/notifications/tool-input-partial': // kept: a framework that subscribes late still sees it
      st.toolInputPartial = isObj(params.arguments) ? params.arguments : {};
      emit('toolinputpartial', st.toolInputPartial);
      break;
    case 'ui/notifications/tool-result': update(resultPatch(params), true); break;
    case 'ui/notifications/tool-cancelled': emit('toolcancelled', { reason: typeof params.reason === 'string' ? params.reason : null }); break;
    case 'ui/notifications/host-context-changed': applyContext(params); break;
    default: break;
  }
  return undefined;
}

// Widget state under MCP Apps: kept in the frame's storage (when the sandbox grants one) per
// tool call, so a reload of the same call restores it.
function loadStoredState() {
  const info = st.hostContext && st.hostContext.toolInfo;
  const key = info ? (info.id ?? (info.tool && info.tool.name)) : null;
  storageKey = `widgetry:widgetState:${key ?? location.pathname}`;
  if (st.widgetState != null) return; // the host (window.openai) already restored it
  for (const store of storages()) {
    try {
      const raw = store.getItem(storageKey);
      if (raw) { update({ widgetState: JSON.parse(raw) }); return; }
    } catch (_) { /* unreadable: try the next */ }
  }
}

function storages() {
  const out = [];
  for (const name of ['sessionStorage', 'localStorage']) {
    try { if (window[name]) out.push(window[name]); } catch (_) { /* sandboxed without allow-same-origin */ }
  }
  return out;
}

function storeState(state) {
  if (!storageKey) return;
  for (const store of storages()) {
    try { store.setItem(storageKey, JSON.stringify(state)); } catch (_) { /* full or blocked */ }
  }
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
    if (openaiHas('notifyIntrinsicHeight')) try { openai().notifyIntrinsicHeight(height); } catch (_) { /* extra only */ }
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

async function startBridge() {
  host = 'mcp-apps';
  window.addEventListener('message', onMessage);
  try {
    const res = await rpc('ui/initialize', {
      appInfo: { name: 'widgetry', version: VERSION },
      appCapabilities: { availableDisplayModes: ['inline', 'fullscreen', 'pip'] },
      protocolVersion: PROTOCOL_VERSION,
    });
    hostInfo = isObj(res.hostInfo) ? res.hostInfo : null;
    hostCaps = isObj(res.hostCapabilities) ? res.hostCapabilities : {};
    applyContext(isObj(res.hostContext) ? res.hostContext : {});
    loadStoredState();
    notify('ui/notifications/initialized', {});
    watchSize();
  } catch (e) {
    initError = toError(e);
    if (openai()) { host = 'openai'; syncOpenAi(); watchSize(); } // a host with only the Apps SDK bridge
    else { host = 'none'; warn('MCP Apps handshake failed:', initError.message); }
  }
  resolveReady();
}

// ---- public API
const noHost = (what) => Promise.reject(new Error(`widgetry: ${what} needs a host (an MCP Apps host or ChatGPT); this page has none`));
const notOffered = (what, cap) => Promise.reject(new Error(`widgetry: the host does not offer ${what} (no '${cap}' in its hostCapabilities)`));
const viaOpenAi = (fn) => { try { return Promise.resolve(fn(openai())); } catch (e) { return Promise.reject(e); } };
const nothing = () => undefined;
const bridged = () => host === 'mcp-apps' && hostCaps !== null;
const can = (cap) => bridged() && isObj(hostCaps[cap]);
// ChatGPT-only extras: present only where window.openai offers them.
function extra(fn, what, call) {
  return ready.then(() => (openaiHas(fn) ? viaOpenAi(call) : Promise.reject(new Error(`widgetry: ${what} is a ChatGPT extra this host does not offer (window.openai.${fn})`))));
}
const hostRefused = (what) => (r) => {
  if (isObj(r) && r.isError) throw new Error(`widgetry: the host refused ${what}`);
};
// What of a widget state the model sees: ChatGPT's structured shape keeps privateContent private.
const modelPart = (s) => (isObj(s) && ('modelContent' in s || 'privateContent' in s) ? s.modelContent ?? null : s);

const api = {
  version: VERSION,
  get host() { return host; },
  get initError() { return initError; },
  get hostInfo() { return hostInfo; },
  get hostCapabilities() { return hostCaps; },
  /** Whether a ChatGPT extra (a window.openai function) is offered here. */
  hasExtra(fn) { return openaiHas(String(fn)); },
  get widgetSessionId() {
    const m = st.toolResponseMetadata;
    const o = openai();
    return (isObj(m) && typeof m['openai/widgetSessionId'] === 'string' && m['openai/widgetSessionId'])
      || (o && typeof o.widgetSessionId === 'string' && o.widgetSessionId) || null;
  },

  ready() { return ready; },

  on(event, cb) {
    if (!subs[event]) throw new Error(`widgetry.on: unknown event '${event}' (one of ${EVENTS.join(', ')})`);
    if (typeof cb !== 'function') throw new Error('widgetry.on: the callback must be a function');
    subs[event].add(cb);
    return () => { subs[event].delete(cb); };
  },

  async setWidgetState(state) {
    update({ widgetState: state });
    await ready;
    storeState(state);
    const jobs = [];
    if (openaiHas('setWidgetState')) jobs.push(viaOpenAi((o) => o.setWidgetState(state)));
    else if (can('updateModelContext')) {
      const seen = modelPart(state);
      jobs.push(rpc('ui/update-model-context', {
        content: [{ type: 'text', text: `Widget state: ${JSON.stringify(seen)}` }],
        structuredContent: { widgetState: seen },
      }));
    }
    await Promise.all(jobs);
  },

  async updateModelContext(ctx) {
    await ready;
    const c = isObj(ctx) ? ctx : {};
    const params = {};
    if (Array.isArray(c.content)) params.content = c.content;
    if (isObj(c.structuredContent)) params.structuredContent = c.structuredContent;
    if (can('updateModelContext')) return rpc('ui/update-model-context', params).then(nothing);
    if (openaiHas('setWidgetState')) return viaOpenAi((o) => o.setWidgetState(Object.assign({}, st.widgetState, { modelContent: params }))).then(nothing);
    return bridged() ? notOffered('model context updates', 'updateModelContext') : noHost('updateModelContext');
  },

  async callTool(name, args) {
    await ready;
    const a = isObj(args) ? args : {};
    if (can('serverTools')) return rpc('tools/call', { name, arguments: a }).then(normResult);
    if (openaiHas('callTool')) return viaOpenAi((o) => o.callTool(name, a)).then(normResult);
    return bridged() ? notOffered(`tool calls ('${name}')`, 'serverTools') : noHost(`callTool('${name}')`);
  },

  async sendFollowUpMessage(text) {
    await ready;
    const prompt = String(text);
    if (can('message')) return rpc('ui/message', { role: 'user', content: [{ type: 'text', text: prompt }] }).then(hostRefused('the message'));
    if (openaiHas('sendFollowUpMessage')) return viaOpenAi((o) => o.sendFollowUpMessage({ prompt })).then(nothing);
    return bridged() ? notOffered('messages', 'message') : noHost('sendFollowUpMessage');
  },

  async requestDisplayMode(mode) {
    await ready;
    const granted = (r) => {
      update({ displayMode: isObj(r) && typeof r.mode === 'string' ? r.mode : st.displayMode });
      return { mode: st.displayMode };
    };
    const modes = st.hostContext && st.hostContext.availableDisplayModes;
    if (bridged()) {
      if (Array.isArray(modes) && !modes.includes(mode)) return { mode: st.displayMode }; // the host said it cannot
      return rpc('ui/request-display-mode', { mode }).then(granted);
    }
    if (openaiHas('requestDisplayMode')) return viaOpenAi((o) => o.requestDisplayMode({ mode })).then(granted);
    return { mode: st.displayMode };
  },

  async openExternal(url) {
    await ready;
    const href = String(url);
    if (can('openLinks')) return rpc('ui/open-link', { url: href }).then(hostRefused(`to open ${href}`));
    if (openaiHas('openExternal')) return viaOpenAi((o) => o.openExternal({ href })).then(nothing);
    try { window.open(href, '_blank', 'noopener'); } catch (_) { /* blocked */ }
    return undefined;
  },

  /** Asks the host to close the widget (ChatGPT `requestClose`, else MCP Apps `request-teardown`). */
  async requestClose() {
    await ready;
    if (openaiHas('requestClose')) return viaOpenAi((o) => o.requestClose()).then(nothing);
    if (bridged()) return notify('ui/notifications/request-teardown', {});
    return noHost('requestClose');
  },

  uploadFile(file) { return extra('uploadFile', 'uploadFile', (o) => o.uploadFile(file)); },
  getFileDownloadUrl(fileId) { return extra('getFileDownloadUrl', 'getFileDownloadUrl', (o) => o.getFileDownloadUrl({ fileId: String(fileId) })); },
  requestModal(options) { return extra('requestModal', 'requestModal', (o) => o.requestModal(isObj(options) ? options : {})); },
  setOpenInAppUrl(href) { return extra('setOpenInAppUrl', 'setOpenInAppUrl', (o) => o.setOpenInAppUrl({ href: String(href) })).then(nothing); },

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
  // Missing scope: the host must see it (it is the one that can ask the user for more), so
  // the call goes through it; its refusal comes back as scope_lost.
  if (res.status === 403 && code === 'insufficient_scope') return viaTool(name, input);
  if (res.status === 400) throw new Error((isObj(body) && body.error_description) || 'invalid action input');
  return viaTool(name, input); // anything else (origin refused, 5xx, 401 after renewal): the host path
}

for (const k of KEYS.concat('toolResult', 'hostContext', 'toolInputPartial')) Object.defineProperty(api, k, { get: () => st[k], enumerable: true });

try {
  Object.defineProperty(window, 'widgetry', { value: api, configurable: true, enumerable: true });
  const init = isObj(window.__WIDGETRY_INITIAL__) ? window.__WIDGETRY_INITIAL__ : null;
  if (init) {
    const patch = init.toolResult ? resultPatch(init.toolResult) : {};
    for (const k of KEYS) if (init[k] !== undefined) patch[k] = k === 'theme' ? normTheme(init[k]) : init[k];
    update(patch);
  }
  applyTheme();
  // window.openai (ChatGPT) may appear after this script: its globals are merged whenever it
  // reports them, on top of the bridge (a fallback for a first tool-result the bridge missed).
  window.addEventListener('openai:set_globals', (ev) => {
    if (!openai()) return;
    syncOpenAi(ev && ev.detail && ev.detail.globals);
  });
  if (openai()) syncOpenAi();
  let inFrame = true;
  try { inFrame = window.parent !== window; } catch (_) { /* cross-origin parent */ }
  if (inFrame && !(init && init.host === 'none')) startBridge();
  else {
    if (openai()) host = 'openai';
    resolveReady();
  }
} catch (e) {
  initError = toError(e);
  warn('start-up failed:', e);
  resolveReady();
}
})();
