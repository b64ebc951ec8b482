/*! Widgetry host page (/_widgetry/host): a local MCP Apps / ChatGPT Apps host for development.
 *
 * - An MCP client over Streamable HTTP to this origin's MCP endpoint (initialize, session
 *   header, tools/list, tools/call, resources/read; JSON or SSE answers).
 * - A tool picker and a form generated from the tool's inputSchema (raw JSON as fallback).
 * - Widgets render in <iframe sandbox="allow-scripts allow-forms" srcdoc> with a CSP <meta>
 *   built from the resource's declared CSP, driven through the MCP Apps postMessage bridge
 *   (SEP-1865) or a ChatGPT-style window.openai shim.
 * - Sign-in like ChatGPT's account linking: a 401 challenge or a result with
 *   _meta["mcp/www_authenticate"] offers "Sign in", which runs OAuth 2.1 in the page:
 *   RFC 9728 resource metadata → RFC 8414 discovery → RFC 7591 registration → PKCE S256 →
 *   authorization in a popup → code back through /_widgetry/host/callback → token.
 * Plain ES2020, no build step, nothing from outside this origin.
 */
(() => {
'use strict';

const BASE = '/_widgetry/host';
const VERSION = '0.1.0';
const CHANNEL = 'widgetry-host-oauth';
const KEY = {
  prefs: 'widgetry-host:prefs',
  tokens: 'widgetry-host:tokens',
  clients: 'widgetry-host:clients',
  pending: 'widgetry-host:pending:',
  callback: 'widgetry-host:callback',
  resume: 'widgetry-host:resume',
};
const MCP_PROTOCOL = '2025-11-25';
const APPS_PROTOCOL = '2026-01-26';
const MIME_MCP_APP = 'text/html;profile=mcp-app';
const MIME_SKYBRIDGE = 'text/html+skybridge';
const MODES = ['inline', 'fullscreen', 'pip'];

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'className') n.className = v;
    else if (k === 'text') n.textContent = v;
    else if (k === 'dataset') Object.assign(n.dataset, v);
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) n.append(c);
  return n;
}

function compact(v, max = 180) {
  let s;
  try { s = JSON.stringify(v); } catch (_) { s = String(v); }
  if (s === undefined) s = String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

const store = {
  get(key) { try { const s = sessionStorage.getItem(key); return s ? JSON.parse(s) : null; } catch (_) { return null; } },
  set(key, v) { try { sessionStorage.setItem(key, JSON.stringify(v)); } catch (_) { /* storage off */ } },
  del(key) { try { sessionStorage.removeItem(key); } catch (_) { /* storage off */ } },
};

function b64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
const randomToken = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

function utf8FromB64(b64) {
  const bin = atob(b64.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((b64.length + 3) % 4));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/** The payload of a JWT, for display only (never trusted). */
function jwtClaims(token) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try { const c = JSON.parse(utf8FromB64(parts[1])); return isObj(c) ? c : null; } catch (_) { return null; }
}

// ================================================================== OAuth callback page
if (location.pathname.replace(/\/+$/, '') === `${BASE}/callback`) {
  callbackPage();
  return;
}

function callbackPage() {
  const q = new URLSearchParams(location.search);
  const msg = {
    type: 'widgetry-oauth-callback',
    code: q.get('code'), state: q.get('state'), iss: q.get('iss'),
    error: q.get('error'), error_description: q.get('error_description'),
  };
  const status = () => $('callback-status');
  const say = (t) => { const s = status(); if (s) s.textContent = t; };
  // Take the code out of the address bar and history.
  try { history.replaceState(null, '', location.pathname); } catch (_) { /* ignore */ }
  let acked = false;
  let bc = null;
  try {
    bc = new BroadcastChannel(CHANNEL);
    bc.onmessage = (ev) => {
      const m = ev.data;
      if (!isObj(m) || m.type !== 'widgetry-oauth-ack' || m.state !== msg.state) return;
      acked = true; // the page that started the sign-in has the code
      if (m.phase !== 'done') return;
      say(m.ok === false ? `Sign-in failed: ${m.error || 'unknown error'}` : 'Signed in. You can close this window.');
      if (m.ok !== false) setTimeout(() => { try { window.close(); } catch (_) { /* ignore */ } }, 150);
    };
    bc.postMessage(msg);
  } catch (_) { /* no BroadcastChannel */ }
  try { if (window.opener && window.opener !== window) window.opener.postMessage(msg, location.origin); } catch (_) { /* severed */ }
  say(msg.error ? `The authorization server answered: ${msg.error}${msg.error_description ? ` (${msg.error_description})` : ''}` : 'Finishing sign-in…');
  // No host page listening (same-window sign-in): hand over through sessionStorage.
  setTimeout(() => {
    if (acked) return;
    store.set(KEY.callback, msg);
    location.replace(BASE);
  }, 1500);
}

// ================================================================== host page state
const MCP_PATH = (document.querySelector('meta[name="widgetry-mcp-path"]') || {}).content || '/mcp';
const MCP_URL = new URL(MCP_PATH.startsWith('/') ? MCP_PATH : '/mcp', location.origin).href;
const REDIRECT_URI = `${location.origin}${BASE}/callback`;

const S = {
  bridge: 'mcp-apps', theme: 'light', displayMode: 'inline', locale: 'en-US', maxHeight: 500,
  tools: [], toolName: null, jsonMode: false,
  challenge: null, retry: null, signingIn: false,
};
let W = null; // the widget on stage: { frame, bridge, tool, args, result, widgetState, height, callId, initialized }
let callSeq = 0;

// ================================================================== log
const events = [];
window.widgetryHost = { events, state: S, get widget() { return W; }, mcpUrl: MCP_URL };

function log(kind, summary, detail, opts) {
  const verbose = !!(opts && opts.verbose);
  events.push({ kind, summary, detail, verbose, t: Date.now() });
  const list = $('log');
  if (!list) return;
  const d = new Date();
  const t = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}:${String(d.getSeconds()).padStart(2, '0')}`;
  const li = el('li', { className: verbose ? 'verbose' : '', dataset: { kind } },
    el('span', { className: 't', text: t }), el('span', { className: 'k', text: kind }), summary);
  if (detail !== undefined) {
    let pretty;
    try { pretty = JSON.stringify(detail, null, 2); } catch (_) { pretty = String(detail); }
    if (pretty && pretty.length > 20000) pretty = `${pretty.slice(0, 20000)}\n…`;
    li.append(el('details', {}, el('summary', { text: 'details' }), el('pre', { text: pretty })));
  }
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

window.addEventListener('securitypolicyviolation', (e) => {
  log('error', `CSP blocked ${e.violatedDirective}: ${e.blockedURI || 'inline'}`, { directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile });
});

// ================================================================== MCP client (Streamable HTTP)
class AuthChallengeError extends Error {
  constructor(status, header, message) {
    super(message || `HTTP ${status}`);
    this.name = 'AuthChallengeError';
    this.status = status;
    this.header = header || '';
    this.challenge = parseChallenge(header);
  }
}
class RpcError extends Error {
  constructor(err) {
    super(`${err.message || 'error'} (code ${err.code})`);
    this.code = err.code;
    this.data = err.data;
  }
}

function rpcMessageOf(text) {
  try { const b = JSON.parse(text); if (isObj(b) && isObj(b.error)) return b.error.message; } catch (_) { /* not JSON */ }
  return text ? text.slice(0, 300) : '';
}

class McpClient {
  constructor(url) {
    this.url = url;
    this.session = null;
    this.version = null;
    this.nextId = 1;
    this.ready = null;
    this.info = null;
  }

  reset() {
    const old = this.session;
    this.session = null;
    this.version = null;
    this.ready = null;
    if (old) { // end the old session; best effort
      fetch(this.url, { method: 'DELETE', headers: { 'mcp-session-id': old }, credentials: 'omit' }).catch(() => {});
    }
  }

  connect() {
    if (!this.ready) this.ready = this.init().catch((e) => { this.ready = null; throw e; });
    return this.ready;
  }

  async init() {
    const params = {
      protocolVersion: MCP_PROTOCOL,
      capabilities: { extensions: { 'io.modelcontextprotocol/ui': { mimeTypes: [MIME_MCP_APP] } } },
      clientInfo: { name: 'widgetry-host', title: 'Widgetry host page', version: VERSION },
    };
    log('mcp', `initialize → ${this.url}`, params, { verbose: true });
    const r = await this.send({ jsonrpc: '2.0', id: this.nextId++, method: 'initialize', params });
    this.version = (r && r.protocolVersion) || MCP_PROTOCOL;
    this.info = r || {};
    await this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    log('mcp', `initialized: ${(r.serverInfo || {}).name || 'server'} ${(r.serverInfo || {}).version || ''}, protocol ${this.version}${this.session ? ', session' : ', no session'}`, r, { verbose: true });
    return r;
  }

  async request(method, params) {
    await this.connect();
    try {
      return await this.send({ jsonrpc: '2.0', id: this.nextId++, method, params });
    } catch (e) {
      if (e.status === 404 && this.session) { // session expired: start a new one, once
        log('mcp', 'session expired; reconnecting');
        this.session = null;
        this.ready = null;
        await this.connect();
        return this.send({ jsonrpc: '2.0', id: this.nextId++, method, params });
      }
      throw e;
    }
  }

  async send(msg) {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    if (this.session) headers['mcp-session-id'] = this.session;
    if (this.version) headers['mcp-protocol-version'] = this.version;
    const token = await auth.accessToken();
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify(msg), credentials: 'omit', cache: 'no-store' });
    } catch (e) {
      throw new Error(`could not reach ${this.url}: ${e.message}`);
    }
    if (msg.method === 'initialize') {
      const sid = res.headers.get('mcp-session-id');
      if (sid) this.session = sid;
    }
    if (res.status === 401 || res.status === 403) {
      const text = await res.text().catch(() => '');
      throw new AuthChallengeError(res.status, res.headers.get('www-authenticate'), rpcMessageOf(text) || `HTTP ${res.status}`);
    }
    if (res.status === 202 || msg.id === undefined) return null;
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      const e = new Error(`${msg.method}: HTTP ${res.status} ${rpcMessageOf(text)}`.trim());
      e.status = res.status;
      throw e;
    }
    const ct = (res.headers.get('content-type') || '').toLowerCase();
    let reply;
    if (ct.includes('text/event-stream')) reply = await this.readSse(res, msg.id);
    else {
      const body = await res.json();
      reply = Array.isArray(body) ? body.find((m) => isObj(m) && m.id === msg.id) : body;
    }
    if (!isObj(reply)) throw new Error(`${msg.method}: no JSON-RPC response`);
    if (isObj(reply.error)) throw new RpcError(reply.error);
    return reply.result;
  }

  async readSse(res, id) {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let data = [];
    const dispatch = () => {
      if (!data.length) return null;
      const text = data.join('\n');
      data = [];
      let m;
      try { m = JSON.parse(text); } catch (_) { return null; }
      for (const one of Array.isArray(m) ? m : [m]) {
        if (!isObj(one)) continue;
        if (one.id === id && ('result' in one || 'error' in one)) return one;
        if (one.method && one.id !== undefined && one.id !== null) this.answerServer(one);
        else if (one.method) log('mcp', `server: ${one.method}`, one.params, { verbose: one.method !== 'notifications/message' });
      }
      return null;
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      buf = buf.replace(/\r\n?/g, '\n');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line === '') {
          const found = dispatch();
          if (found) { reader.cancel().catch(() => {}); return found; }
          continue;
        }
        if (line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let v = c < 0 ? '' : line.slice(c + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'data') data.push(v);
      }
    }
    const last = dispatch();
    if (last) return last;
    throw new Error('the SSE stream ended without a response');
  }

  answerServer(req) { // requests from the server (ping, sampling, elicitation…)
    const reply = req.method === 'ping'
      ? { jsonrpc: '2.0', id: req.id, result: {} }
      : { jsonrpc: '2.0', id: req.id, error: { code: -32601, message: `the Widgetry host page does not support ${req.method}` } };
    log('mcp', `server request ${req.method}`, req.params);
    this.send(reply).catch(() => {});
  }
}

const mcp = new McpClient(MCP_URL);
window.widgetryHost.mcp = mcp; // for the devtools console: widgetryHost.mcp.request('tools/list', {})

/** An MCP request with sign-in handling: refreshes an expired token once, else throws. */
async function serverRequest(method, params) {
  try {
    return await mcp.request(method, params);
  } catch (e) {
    if (e instanceof AuthChallengeError && e.status === 401 && auth.tokens && auth.tokens.refresh_token) {
      if (await auth.refresh()) return mcp.request(method, params);
    }
    throw e;
  }
}

function requestMeta() {
  return {
    'openai/locale': S.locale,
    'openai/userAgent': navigator.userAgent,
    'openai/widgetSessionId': W ? `host-${W.callId}` : undefined,
  };
}

// ================================================================== auth (OAuth 2.1 client)
/** Parses `WWW-Authenticate` (possibly several challenges) into the Bearer one's parameters. */
function parseChallenge(header) {
  if (typeof header !== 'string' || !header.trim()) return null;
  const challenges = [];
  let cur = null;
  let pos = 0;
  const s = header.trim();
  while (pos < s.length) {
    // A parameter first (key=value), else a scheme name.
    const param = /\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?\s*/y;
    param.lastIndex = pos;
    let m = param.exec(s);
    if (m && cur) {
      let v = m[2];
      if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
      cur.params[m[1].toLowerCase()] = v;
      pos = param.lastIndex;
      continue;
    }
    const scheme = /\s*,?\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s*/y;
    scheme.lastIndex = pos;
    m = scheme.exec(s);
    if (!m || scheme.lastIndex === pos) break;
    cur = { scheme: m[1], params: {} };
    challenges.push(cur);
    pos = scheme.lastIndex;
  }
  const bearer = challenges.find((c) => c.scheme.toLowerCase() === 'bearer') || challenges[0];
  return bearer ? Object.assign({ raw: header }, bearer.params) : null;
}

function challengeFromResult(result) {
  if (!isObj(result) || !isObj(result._meta)) return null;
  const v = result._meta['mcp/www_authenticate'];
  const list = Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  for (const h of list) {
    const c = parseChallenge(h);
    if (c) return c;
  }
  return null;
}

async function getJson(url, what) {
  let res;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    throw new Error(`${what}: could not fetch ${url} (${e.message}; a cross-origin server must allow CORS, and the page's CSP must list it)`);
  }
  if (!res.ok) throw new Error(`${what}: ${url} answered HTTP ${res.status}`);
  try { return await res.json(); } catch (e) { throw new Error(`${what}: ${url} is not JSON`); }
}

async function postForm(url, fields, what) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== null && v !== '') body.set(k, v);
  let res;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body, credentials: 'omit', cache: 'no-store',
    });
  } catch (e) {
    throw new Error(`${what}: could not reach ${url} (${e.message})`);
  }
  let json = null;
  try { json = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok || !isObj(json)) {
    const why = isObj(json) ? `${json.error || ''}${json.error_description ? `: ${json.error_description}` : ''}` : `HTTP ${res.status}`;
    const e = new Error(`${what} failed: ${why || `HTTP ${res.status}`}`);
    e.oauth = json;
    throw e;
  }
  return json;
}

/** RFC 8414 metadata (then OpenID Connect discovery), path-insertion first. */
async function discoverAuthServer(issuer) {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/+$/, '');
  const urls = path
    ? [`${u.origin}/.well-known/oauth-authorization-server${path}`, `${u.origin}/.well-known/openid-configuration${path}`, `${u.origin}${path}/.well-known/openid-configuration`]
    : [`${u.origin}/.well-known/oauth-authorization-server`, `${u.origin}/.well-known/openid-configuration`];
  const errors = [];
  for (const url of urls) {
    try {
      const m = await getJson(url, 'authorization server metadata');
      if (!isObj(m)) continue;
      if (m.issuer !== issuer) log('auth', `warning: ${url} names issuer ${m.issuer}, expected ${issuer}`);
      log('auth', `authorization server metadata: ${url}`, m);
      return m;
    } catch (e) {
      errors.push(e.message);
    }
  }
  throw new Error(`no authorization server metadata for ${issuer}: ${errors.join('; ')}`);
}

const auth = {
  tokens: null,

  load() {
    const t = store.get(KEY.tokens);
    this.tokens = isObj(t) && t.access_token && t.mcp === MCP_URL ? t : null;
  },

  save(t) {
    this.tokens = t;
    if (t) store.set(KEY.tokens, t); else store.del(KEY.tokens);
    renderAccount();
  },

  async accessToken() {
    const t = this.tokens;
    if (!t) return null;
    if (t.expires_at && t.refresh_token && Date.now() > t.expires_at - 30000 && !this.refreshing) {
      await this.refresh();
    }
    return this.tokens ? this.tokens.access_token : null;
  },

  async refresh() {
    const t = this.tokens;
    if (!t || !t.refresh_token || !t.token_endpoint) return false;
    if (this.refreshing) return this.refreshing;
    log('auth', 'refreshing the access token (refresh_token grant)');
    this.refreshing = (async () => {
      try {
        const r = await postForm(t.token_endpoint, {
          grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: t.client_id,
          client_secret: t.client_secret, resource: t.resource,
        }, 'token refresh');
        this.save(Object.assign({}, t, tokenFields(r, t)));
        log('auth', `token refreshed${r.refresh_token ? ' (refresh token rotated)' : ''}`);
        return true;
      } catch (e) {
        log('auth', `refresh failed: ${e.message}; sign in again`);
        this.save(null);
        return false;
      } finally {
        setTimeout(() => { this.refreshing = null; }, 0);
      }
    })();
    return this.refreshing;
  },

  signOut() {
    this.save(null);
    mcp.reset();
    log('auth', 'signed out');
  },
};

function tokenFields(r, prev) {
  const now = Date.now();
  return {
    access_token: r.access_token,
    token_type: r.token_type || 'Bearer',
    refresh_token: r.refresh_token || (prev && prev.refresh_token) || null,
    id_token: r.id_token || (prev && prev.id_token) || null,
    scope: r.scope || (prev && prev.scope) || null,
    expires_at: typeof r.expires_in === 'number' ? now + r.expires_in * 1000 : null,
  };
}

/** Who is signed in, from the token's claims (decoded for display only). */
function signedInUser() {
  const t = auth.tokens;
  if (!t) return null;
  const c = jwtClaims(t.id_token) || jwtClaims(t.access_token) || {};
  const a = jwtClaims(t.access_token) || {};
  const name = c.name || a.name || c.preferred_username || a.preferred_username || c.nickname || null;
  const email = c.email || a.email || null;
  return { name, email, sub: a.sub || c.sub || null, scope: t.scope || a.scope || null, label: name || email || a.sub || c.sub || 'signed in' };
}

function renderAccount() {
  const label = $('user-label');
  if (!label) return;
  const u = signedInUser();
  label.dataset.signedIn = String(!!u);
  label.textContent = u ? `Signed in as ${u.label}${u.email && u.email !== u.label ? ` (${u.email})` : ''}` : 'not signed in';
  label.title = u ? `sub: ${u.sub || '?'}\nscope: ${u.scope || '?'}` : '';
  $('signout').hidden = !u;
}

/** Shows "Sign in" for a challenge; `retry` runs after a successful sign-in (in this page),
 * `resume` ({tool, args}) after a same-window sign-in that reloaded the page. */
function offerSignIn(challenge, reason, retry, resume) {
  S.challenge = challenge || { raw: '' };
  S.retry = retry || null;
  S.resume = resume || null;
  $('signin-reason').textContent = reason || 'This tool needs you to sign in.';
  $('signin-banner').hidden = false;
  $('signin').disabled = false;
  $('signin').textContent = 'Sign in';
  log('auth', `challenge: ${challenge && challenge.raw ? challenge.raw : '(none)'}`, challenge);
}

function hideSignIn() {
  $('signin-banner').hidden = true;
}

/** Click on "Sign in": opens the popup now (inside the click), then runs the flow. */
function startSignIn() {
  if (S.signingIn) return;
  S.signingIn = true;
  $('signin').disabled = true;
  $('signin').textContent = 'Signing in…';
  let popup = null;
  try { popup = window.open('', 'widgetry-signin', 'popup=yes,width=520,height=720'); } catch (_) { popup = null; }
  if (popup) {
    try {
      popup.document.title = 'Sign in';
      popup.document.body.style.font = '14px system-ui, sans-serif';
      popup.document.body.textContent = 'Preparing sign-in…';
    } catch (_) { /* cross-origin already */ }
  }
  signIn(S.challenge, popup).then((ok) => {
    S.signingIn = false;
    if (!ok) return;
    hideSignIn();
    const retry = S.retry;
    S.retry = null;
    if (retry) retry();
  }, (e) => {
    S.signingIn = false;
    try { if (popup && !popup.closed) popup.close(); } catch (_) { /* ignore */ }
    log('error', `sign-in failed: ${e.message}`);
    $('signin').disabled = false;
    $('signin').textContent = 'Try again';
    $('signin-reason').textContent = `Sign-in failed: ${e.message}`;
  });
}

const waiters = new Map(); // state → { resolve, reject }

async function signIn(challenge, popup) {
  if (!window.crypto || !crypto.subtle) {
    throw new Error('PKCE needs crypto.subtle, which browsers only offer on secure origins: open the page at http://127.0.0.1 or http://localhost');
  }
  const ch = challenge || {};
  // 1. RFC 9728 protected resource metadata.
  const mcpU = new URL(MCP_URL);
  const rmUrl = ch.resource_metadata || `${mcpU.origin}/.well-known/oauth-protected-resource${mcpU.pathname.replace(/\/+$/, '')}`;
  log('auth', `resource metadata (RFC 9728): ${rmUrl}`);
  const rm = await getJson(rmUrl, 'protected resource metadata');
  log('auth', `resource ${rm.resource}: authorization servers ${compact(rm.authorization_servers)}`, rm);
  const resource = typeof rm.resource === 'string' ? rm.resource : MCP_URL;
  if (resource.replace(/\/+$/, '') !== MCP_URL.replace(/\/+$/, '')) {
    log('auth', `note: the resource is ${resource}, the page talks to ${MCP_URL} (RESOURCE_SERVER_URL differs from this address)`);
  }
  const issuer = Array.isArray(rm.authorization_servers) ? rm.authorization_servers[0] : null;
  if (!issuer) throw new Error(`${rmUrl} lists no authorization_servers`);
  // 2. RFC 8414 authorization server metadata.
  const as = await discoverAuthServer(issuer);
  if (!as.authorization_endpoint || !as.token_endpoint) throw new Error('the authorization server metadata has no authorization_endpoint or token_endpoint');
  const methods = as.code_challenge_methods_supported;
  if (!Array.isArray(methods) || !methods.includes('S256')) {
    throw new Error('the authorization server does not advertise PKCE S256 (code_challenge_methods_supported); MCP clients must refuse it');
  }
  // 3. The client: pre-registered, or RFC 7591 dynamic registration (cached per issuer).
  const scope = ch.scope || (Array.isArray(rm.scopes_supported) ? rm.scopes_supported.join(' ') : '');
  const client = await ensureClient(as, issuer, scope);
  // 4. PKCE S256, state, the authorization request.
  const verifier = randomToken(48);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const codeChallenge = b64url(new Uint8Array(digest));
  const state = randomToken(24);
  const pending = {
    state, verifier, issuer, resource, scope, client_id: client.client_id, client_secret: client.client_secret || null,
    token_endpoint: as.token_endpoint, iss_required: as.authorization_response_iss_parameter_supported === true,
    created: Date.now(), resume: S.resume || null,
  };
  store.set(KEY.pending + state, pending);
  const url = new URL(as.authorization_endpoint);
  const q = {
    response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT_URI, scope: scope || undefined,
    state, code_challenge: codeChallenge, code_challenge_method: 'S256', resource,
  };
  for (const [k, v] of Object.entries(q)) if (v) url.searchParams.set(k, v);
  log('auth', `PKCE S256 ready; authorizing at ${as.authorization_endpoint} (scope "${scope}", resource ${resource})`, { ...q, code_challenge: `${codeChallenge.slice(0, 8)}…` });
  if (!popup || popup.closed) {
    log('auth', 'popup blocked: continuing in this window');
    store.set(KEY.resume, { state, resume: pending.resume });
    location.assign(url.href);
    return new Promise(() => {}); // the page navigates away
  }
  popup.location.href = url.href;
  const msg = await new Promise((resolve, reject) => {
    waiters.set(state, { resolve, reject });
    const started = Date.now();
    const timer = setInterval(() => {
      if (!waiters.has(state)) { clearInterval(timer); return; }
      let closed = false;
      try { closed = popup.closed; } catch (_) { closed = false; }
      if (closed && Date.now() - started > 1000 && !S.popupClosedLogged) {
        S.popupClosedLogged = true;
        log('auth', 'the sign-in window is closed (or detached); waiting for its answer…');
      }
      if (Date.now() - started > 10 * 60 * 1000) {
        clearInterval(timer);
        waiters.delete(state);
        reject(new Error('no answer from the sign-in window within 10 minutes'));
      }
    }, 500);
  });
  S.popupClosedLogged = false;
  return finishSignIn(pending, msg);
}

async function ensureClient(as, issuer, scope) {
  const manual = $('client-id').value.trim();
  if (manual) {
    log('auth', `using the pre-registered client ${manual}`);
    return { client_id: manual };
  }
  const clients = store.get(KEY.clients) || {};
  const key = `${issuer} ${REDIRECT_URI}`;
  const cached = clients[key];
  if (isObj(cached) && cached.client_id && (!cached.client_secret_expires_at || cached.client_secret_expires_at * 1000 > Date.now())) {
    log('auth', `client ${cached.client_id} (registered earlier in this tab)`);
    return cached;
  }
  if (!as.registration_endpoint) {
    throw new Error('the authorization server offers no dynamic client registration (registration_endpoint): enter a pre-registered client id under "OAuth client"');
  }
  const meta = {
    client_name: 'Widgetry host page',
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    scope: scope || undefined,
  };
  let res;
  try {
    res = await fetch(as.registration_endpoint, {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(meta), credentials: 'omit', cache: 'no-store',
    });
  } catch (e) {
    throw new Error(`client registration: could not reach ${as.registration_endpoint} (${e.message})`);
  }
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok || !isObj(body) || !body.client_id) {
    throw new Error(`client registration (RFC 7591) failed: HTTP ${res.status} ${isObj(body) ? `${body.error || ''} ${body.error_description || ''}` : ''}`.trim());
  }
  log('auth', `registered client ${body.client_id} (RFC 7591) for ${REDIRECT_URI}`, body);
  clients[key] = body;
  store.set(KEY.clients, clients);
  return body;
}

function ackCallback(state, fields) {
  try {
    const bc = new BroadcastChannel(CHANNEL);
    bc.postMessage(Object.assign({ type: 'widgetry-oauth-ack', state }, fields));
    bc.close();
  } catch (_) { /* no BroadcastChannel: the callback page falls back to a redirect */ }
}

function onCallbackMessage(msg, via) {
  if (!isObj(msg) || msg.type !== 'widgetry-oauth-callback' || typeof msg.state !== 'string') return;
  const pending = store.get(KEY.pending + msg.state);
  if (!pending) return; // another tab's sign-in
  const w = waiters.get(msg.state);
  if (!w) return;
  waiters.delete(msg.state);
  ackCallback(msg.state, { phase: 'received' });
  log('auth', `authorization response received (${via}): ${msg.error ? `error ${msg.error}` : 'code'}`);
  w.resolve(msg);
}

async function finishSignIn(pending, msg) {
  const ack = (ok, error) => ackCallback(pending.state, { phase: 'done', ok, error });
  store.del(KEY.pending + pending.state);
  try {
    if (msg.error) throw new Error(`the authorization server refused: ${msg.error}${msg.error_description ? ` (${msg.error_description})` : ''}`);
    if (msg.state !== pending.state) throw new Error('state mismatch');
    if (msg.iss && msg.iss !== pending.issuer) throw new Error(`iss mismatch (RFC 9207): got ${msg.iss}, expected ${pending.issuer}`);
    if (!msg.iss && pending.iss_required) throw new Error('the authorization response has no iss (RFC 9207) although the server promises one');
    if (!msg.code) throw new Error('the authorization response has no code');
    log('auth', `state ok${msg.iss ? ', iss ok' : ''}; exchanging the code at ${pending.token_endpoint}`);
    const r = await postForm(pending.token_endpoint, {
      grant_type: 'authorization_code', code: msg.code, redirect_uri: REDIRECT_URI, client_id: pending.client_id,
      client_secret: pending.client_secret, code_verifier: pending.verifier, resource: pending.resource,
    }, 'token request');
    if (!r.access_token) throw new Error('the token response has no access_token');
    if (r.token_type && String(r.token_type).toLowerCase() !== 'bearer') log('auth', `warning: token_type ${r.token_type}`);
    auth.save(Object.assign({
      mcp: MCP_URL, issuer: pending.issuer, resource: pending.resource, token_endpoint: pending.token_endpoint,
      client_id: pending.client_id, client_secret: pending.client_secret,
    }, tokenFields(r, null)));
    const u = signedInUser();
    log('auth', `signed in as ${u ? u.label : '?'}: access token${r.expires_in ? ` for ${r.expires_in} s` : ''}, scope "${r.scope || pending.scope}"${r.refresh_token ? ', refresh token' : ''}`,
      { token_type: r.token_type, expires_in: r.expires_in, scope: r.scope, claims: jwtClaims(r.access_token) });
    ack(true);
    mcp.reset(); // a new session carrying the token
    return true;
  } catch (e) {
    ack(false, e.message);
    throw e;
  }
}

// ================================================================== input form from inputSchema
function deref(s, root) {
  for (let i = 0; i < 20 && isObj(s) && typeof s.$ref === 'string'; i++) {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(s.$ref);
    const name = m ? decodeURIComponent(m[2]).replace(/~1/g, '/').replace(/~0/g, '~') : null;
    const target = m && isObj(root) && isObj(root[m[1]]) ? root[m[1]][name] : null;
    if (!isObj(target)) break;
    const rest = Object.assign({}, s);
    delete rest.$ref;
    s = Object.assign({}, target, rest);
  }
  return s;
}

/** What kind of field a property schema gets. */
function fieldKind(schema, root) {
  let s = deref(schema, root);
  if (!isObj(s)) return { kind: 'json', s: {} };
  let nullable = false;
  for (const k of ['anyOf', 'oneOf']) {
    if (!Array.isArray(s[k])) continue;
    const branches = s[k].map((b) => deref(b, root));
    const isNull = (b) => isObj(b) && (b.type === 'null' || b.const === null);
    const rest = branches.filter((b) => !isNull(b));
    if (rest.length === 1) {
      const merged = Object.assign({}, rest[0], { description: s.description || rest[0].description, title: s.title || rest[0].title });
      if ('default' in s) merged.default = s.default;
      const inner = fieldKind(merged, root);
      inner.nullable = inner.nullable || rest.length < branches.length;
      return inner;
    }
    if (rest.length && rest.every((b) => isObj(b) && 'const' in b && ['string', 'number', 'boolean'].includes(typeof b.const))) {
      return { kind: 'enum', values: rest.map((b) => b.const), labels: rest.map((b) => b.title || b.description || String(b.const)), s, nullable: rest.length < branches.length };
    }
    return { kind: 'json', s };
  }
  let type = s.type;
  if (Array.isArray(type)) {
    nullable = type.includes('null');
    const t = type.filter((x) => x !== 'null');
    if (t.length !== 1) return { kind: 'json', s, nullable };
    type = t[0];
  }
  if (Array.isArray(s.enum) && s.enum.length && s.enum.every((v) => v === null || ['string', 'number', 'boolean'].includes(typeof v))) {
    const values = s.enum.filter((v) => v !== null);
    return { kind: 'enum', values, labels: values.map(String), s, nullable: nullable || values.length < s.enum.length };
  }
  if ('const' in s && ['string', 'number', 'boolean'].includes(typeof s.const)) return { kind: 'enum', values: [s.const], labels: [String(s.const)], s, nullable };
  if (['string', 'number', 'integer', 'boolean'].includes(type)) return { kind: type, s, nullable };
  if (type === 'array') {
    const it = fieldKind(s.items || {}, root);
    if (it.kind === 'string' || (it.kind === 'enum' && it.values.every((v) => typeof v === 'string'))) return { kind: 'string-array', s, nullable };
  }
  return { kind: 'json', s, nullable };
}

const form = { fields: [], formable: true };

function renderForm(tool) {
  const fs = $('fields');
  fs.replaceChildren(el('legend', { text: 'Input' }));
  form.fields = [];
  const root = isObj(tool && tool.inputSchema) ? tool.inputSchema : { type: 'object' };
  const props = isObj(root.properties) ? root.properties : {};
  const required = new Set(Array.isArray(root.required) ? root.required : []);
  form.formable = (root.type === undefined || root.type === 'object') && !root.anyOf && !root.oneOf && !root.allOf;
  if (form.formable && !Object.keys(props).length) fs.append(el('p', { className: 'hint', text: 'This tool takes no input.' }));
  if (form.formable) {
    for (const [name, schema] of Object.entries(props)) {
      const f = fieldKind(schema, root);
      f.name = name;
      f.required = required.has(name);
      f.id = `f-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      form.fields.push(f);
      fs.append(renderField(f));
    }
  } else {
    fs.append(el('p', { className: 'hint', text: 'This input schema is too complex for a form: edit the arguments as JSON.' }));
  }
  const forceJson = !form.formable;
  $('json-mode').checked = forceJson || S.jsonMode;
  $('json-mode').disabled = forceJson;
  $('json-input').value = JSON.stringify(defaultArgs(), null, 2);
  applyJsonMode(false);
  showFormError('');
}

function typeLabel(f) {
  const s = f.s || {};
  if (f.kind === 'string-array') return 'string[]';
  if (f.kind === 'enum') return 'enum';
  if (f.kind === 'json') return Array.isArray(s.type) ? s.type.join('|') : (s.type || 'json');
  let t = f.kind;
  if (s.format) t += ` (${s.format})`;
  if (f.nullable) t += ' | null';
  return t;
}

function renderField(f) {
  const s = f.s || {};
  const wrap = el('div', { className: 'field', dataset: { name: f.name, kind: f.kind } });
  const label = el('label', { for: f.id }, s.title && s.title !== f.name ? `${s.title} (${f.name})` : f.name);
  if (f.required) label.append(el('span', { className: 'req', 'aria-hidden': 'true', text: '*' }));
  label.append(el('span', { className: 'type', text: typeLabel(f) }));
  wrap.append(label);
  const hasDefault = 'default' in s && s.default !== null;
  const descId = s.description ? `${f.id}-desc` : null;
  let input;
  const common = { id: f.id, name: f.name, 'aria-describedby': descId, 'aria-required': f.required ? 'true' : null };
  switch (f.kind) {
    case 'boolean':
      if (f.required || hasDefault) {
        input = el('input', Object.assign({ type: 'checkbox' }, common));
        input.checked = s.default === true;
      } else {
        input = el('select', common, el('option', { value: '', text: '— (not set)' }), el('option', { value: 'true', text: 'true' }), el('option', { value: 'false', text: 'false' }));
      }
      break;
    case 'enum':
      input = el('select', common);
      if (!f.required || !hasDefault) input.append(el('option', { value: '', text: f.required ? '— choose —' : '— (not set)' }));
      f.values.forEach((v, i) => input.append(el('option', { value: String(i), text: f.labels[i] })));
      if (hasDefault) { const i = f.values.indexOf(s.default); if (i >= 0) input.value = String(i); }
      break;
    case 'integer':
    case 'number':
      input = el('input', Object.assign({ type: 'number', step: f.kind === 'integer' ? '1' : 'any', min: s.minimum, max: s.maximum, inputmode: f.kind === 'integer' ? 'numeric' : 'decimal' }, common));
      if (hasDefault) input.value = String(s.default);
      break;
    case 'string':
      if ((s.maxLength || 0) > 200 || s.format === 'textarea') input = el('textarea', Object.assign({ rows: 4 }, common));
      else input = el('input', Object.assign({ type: s.format === 'email' ? 'email' : s.format === 'uri' ? 'url' : 'text', maxlength: s.maxLength, minlength: s.minLength, pattern: s.pattern, placeholder: Array.isArray(s.examples) && typeof s.examples[0] === 'string' ? s.examples[0] : null }, common));
      if (hasDefault) input.value = String(s.default);
      break;
    case 'string-array':
      input = el('textarea', Object.assign({ rows: 3, placeholder: 'one value per line' }, common));
      if (Array.isArray(s.default)) input.value = s.default.join('\n');
      break;
    default:
      input = el('textarea', Object.assign({ rows: 4, spellcheck: 'false', placeholder: 'JSON' }, common));
      if ('default' in s) input.value = JSON.stringify(s.default, null, 2);
  }
  wrap.append(input);
  if (s.description) wrap.append(el('p', { className: 'hint', id: descId, text: s.description }));
  f.input = input;
  return wrap;
}

function defaultArgs() {
  const out = {};
  for (const f of form.fields) {
    const s = f.s || {};
    if ('default' in s && s.default !== null) out[f.name] = s.default;
  }
  return out;
}

/** The form's values as tool arguments; throws with every problem found. */
function formArgs() {
  const out = {};
  const problems = [];
  for (const f of form.fields) {
    const input = f.input;
    const wrap = input.closest('.field');
    wrap.classList.remove('invalid');
    const bad = (msg) => { problems.push(`${f.name}: ${msg}`); wrap.classList.add('invalid'); };
    const v = input.type === 'checkbox' ? input.checked : input.value;
    switch (f.kind) {
      case 'boolean':
        if (input.type === 'checkbox') out[f.name] = v;
        else if (v !== '') out[f.name] = v === 'true';
        else if (f.required) bad('required');
        break;
      case 'enum':
        if (v !== '') out[f.name] = f.values[Number(v)];
        else if (f.required) bad('choose a value');
        break;
      case 'integer':
      case 'number': {
        const t = String(v).trim();
        if (t === '') { if (f.required) bad('required'); break; }
        const n = Number(t);
        if (!Number.isFinite(n)) bad('not a number');
        else if (f.kind === 'integer' && !Number.isInteger(n)) bad('must be a whole number');
        else out[f.name] = n;
        break;
      }
      case 'string':
        if (v === '') { if (f.required) bad('required'); break; }
        out[f.name] = v;
        break;
      case 'string-array': {
        const items = String(v).split('\n').map((x) => x.trim()).filter(Boolean);
        if (items.length || f.required) out[f.name] = items;
        break;
      }
      default: {
        const t = String(v).trim();
        if (t === '') { if (f.required) bad('required'); break; }
        try { out[f.name] = JSON.parse(t); } catch (e) { bad(`invalid JSON (${e.message})`); }
      }
    }
  }
  if (problems.length) throw new Error(problems.join('\n'));
  return out;
}

function setFormValues(args) {
  const unknown = Object.keys(args).filter((k) => !form.fields.some((f) => f.name === k));
  for (const f of form.fields) {
    const input = f.input;
    const has = Object.prototype.hasOwnProperty.call(args, f.name);
    const v = args[f.name];
    switch (f.kind) {
      case 'boolean':
        if (input.type === 'checkbox') input.checked = v === true;
        else input.value = has && typeof v === 'boolean' ? String(v) : '';
        break;
      case 'enum': { const i = has ? f.values.indexOf(v) : -1; input.value = i >= 0 ? String(i) : ''; break; }
      case 'string-array': input.value = Array.isArray(v) ? v.join('\n') : ''; break;
      case 'json': input.value = has ? JSON.stringify(v, null, 2) : ''; break;
      default: input.value = has && v !== null ? String(v) : '';
    }
  }
  return unknown;
}

function applyJsonMode(sync) {
  const on = $('json-mode').checked;
  if (sync) {
    if (on) {
      try { $('json-input').value = JSON.stringify(formArgs(), null, 2); showFormError(''); } catch (e) { showFormError(e.message); }
    } else {
      try {
        const args = JSON.parse($('json-input').value || '{}');
        if (!isObj(args)) throw new Error('the arguments must be a JSON object');
        const unknown = setFormValues(args);
        showFormError(unknown.length ? `not in the form (dropped): ${unknown.join(', ')}` : '');
      } catch (e) {
        $('json-mode').checked = true;
        showFormError(`keep editing as JSON: ${e.message}`);
        return;
      }
    }
  }
  S.jsonMode = $('json-mode').checked && form.formable;
  $('json-editor').hidden = !$('json-mode').checked;
  $('fields').hidden = $('json-mode').checked;
}

function currentArgs() {
  if ($('json-mode').checked) {
    let args;
    try { args = JSON.parse($('json-input').value || '{}'); } catch (e) { throw new Error(`the arguments are not valid JSON: ${e.message}`); }
    if (!isObj(args)) throw new Error('the arguments must be a JSON object');
    return args;
  }
  return formArgs();
}

function showFormError(text) {
  const e = $('form-error');
  e.textContent = text || '';
  e.hidden = !text;
}

// ================================================================== tools
function currentTool() { return S.tools.find((t) => t.name === S.toolName) || null; }

function toolWidgetUri(tool, bridge) {
  const m = isObj(tool && tool._meta) ? tool._meta : {};
  const ui = isObj(m.ui) && typeof m.ui.resourceUri === 'string' ? m.ui.resourceUri : (typeof m['ui/resourceUri'] === 'string' ? m['ui/resourceUri'] : null);
  const oa = typeof m['openai/outputTemplate'] === 'string' ? m['openai/outputTemplate'] : null;
  return bridge === 'openai' ? (oa || ui) : (ui || oa);
}

function appOnly(tool) {
  const m = isObj(tool._meta) ? tool._meta : {};
  const vis = isObj(m.ui) && Array.isArray(m.ui.visibility) ? m.ui.visibility : null;
  return (vis && !vis.includes('model')) || m['openai/visibility'] === 'private';
}

function authLabel(tool) {
  const schemes = tool.securitySchemes || (isObj(tool._meta) ? tool._meta.securitySchemes : null);
  if (!Array.isArray(schemes) || !schemes.length) return null;
  const oauth = schemes.find((s) => isObj(s) && s.type === 'oauth2');
  const none = schemes.some((s) => isObj(s) && s.type === 'noauth');
  if (!oauth) return null;
  const scopes = Array.isArray(oauth.scopes) && oauth.scopes.length ? ` (${oauth.scopes.join(' ')})` : '';
  return none ? `sign-in optional${scopes}` : `sign-in required${scopes}`;
}

function renderTools() {
  const sel = $('tool');
  sel.replaceChildren();
  for (const t of S.tools) {
    const label = `${t.title || (t.annotations && t.annotations.title) || t.name}${t.title ? ` · ${t.name}` : ''}${appOnly(t) ? ' (app only)' : ''}`;
    sel.append(el('option', { value: t.name, text: label }));
  }
  sel.disabled = !S.tools.length;
  if (!S.tools.some((t) => t.name === S.toolName)) {
    const firstWidget = S.tools.find((t) => toolWidgetUri(t, S.bridge) && !appOnly(t));
    S.toolName = (firstWidget || S.tools[0] || {}).name || null;
  }
  sel.value = S.toolName || '';
  selectTool(S.toolName);
}

function selectTool(name) {
  S.toolName = name;
  savePrefs();
  const tool = currentTool();
  const info = $('tool-info');
  info.replaceChildren();
  $('run').disabled = !tool;
  if (!tool) { renderForm(null); return; }
  info.append(el('div', { className: 'title', text: tool.title || tool.name }));
  if (tool.description) info.append(el('p', { text: tool.description }));
  const badges = el('div', { className: 'badges' });
  const a = tool.annotations || {};
  if (a.readOnlyHint) badges.append(el('span', { className: 'badge', text: 'read-only' }));
  if (a.destructiveHint) badges.append(el('span', { className: 'badge', text: 'destructive' }));
  if (a.openWorldHint) badges.append(el('span', { className: 'badge', text: 'open world' }));
  if (appOnly(tool)) badges.append(el('span', { className: 'badge', text: 'app only' }));
  const al = authLabel(tool);
  if (al) badges.append(el('span', { className: 'badge auth', text: al }));
  const uri = toolWidgetUri(tool, S.bridge);
  badges.append(el('span', { className: 'badge', text: uri ? `widget ${uri.replace(/^ui:\/\/widget\//, '')}` : 'no widget' }));
  info.append(badges);
  renderForm(tool);
}

async function loadTools() {
  const all = [];
  let cursor;
  for (let i = 0; i < 50; i++) {
    const r = await serverRequest('tools/list', cursor ? { cursor } : {});
    all.push(...(Array.isArray(r && r.tools) ? r.tools : []));
    cursor = r && r.nextCursor;
    if (!cursor) break;
  }
  S.tools = all;
  log('mcp', `tools/list: ${all.map((t) => t.name).join(', ') || 'no tools'}`, all.map((t) => ({ name: t.name, _meta: t._meta })), { verbose: true });
  renderTools();
}

function setConn(state, text) {
  const c = $('conn');
  c.dataset.state = state;
  c.textContent = text;
}

async function connect() {
  setConn('connecting', 'connecting…');
  try {
    const info = await mcp.connect();
    const si = info.serverInfo || {};
    $('server-info').textContent = `${si.title || si.name || 'server'} ${si.version || ''} · ${MCP_URL} · MCP ${mcp.version}`;
    setConn('ok', mcp.session ? 'connected' : 'connected (stateless)');
    await loadTools();
    return true;
  } catch (e) {
    if (e instanceof AuthChallengeError) {
      setConn('auth', 'sign-in required');
      offerSignIn(e.challenge, `The server requires sign-in to connect (${e.message}).`, () => connect());
      return false;
    }
    setConn('error', 'not connected');
    log('error', `connect: ${e.message}`);
    return false;
  }
}

// ================================================================== running a tool
async function run() {
  const tool = currentTool();
  if (!tool) return;
  let args;
  try { args = currentArgs(); showFormError(''); } catch (e) { showFormError(e.message); return; }
  await runTool(tool, args);
}

let lastRun = null;

// Development reload: re-render the current widget when its files change on disk.
try {
  const events = new EventSource(`${location.pathname.replace(/\/$/, '')}/events`);
  events.addEventListener('widgets-changed', (ev) => {
    let changed = [];
    try { changed = JSON.parse(ev.data).widgets || []; } catch (_) { /* ignore */ }
    log('reload', `widget files changed: ${changed.join(', ')}`);
    if (lastRun) runTool(lastRun.tool, lastRun.args);
  });
} catch (_) { /* no EventSource */ }

async function runTool(tool, args) {
  lastRun = { tool, args };
  const btn = $('run');
  btn.disabled = true;
  btn.textContent = 'Running…';
  const callId = ++callSeq;
  log('run', `tools/call ${tool.name} ${compact(args)}`, { name: tool.name, arguments: args });
  let result;
  try {
    result = await serverRequest('tools/call', { name: tool.name, arguments: args, _meta: requestMeta() });
  } catch (e) {
    if (e instanceof AuthChallengeError) {
      log('auth', `HTTP ${e.status}: ${e.message}`);
      offerSignIn(e.challenge, e.status === 403 ? `More permission needed for ${tool.name}: ${e.challenge && e.challenge.error_description ? e.challenge.error_description : e.message}` : `${tool.name} needs you to sign in.`, () => runTool(tool, args), { tool: tool.name, args });
      clearStage(`Sign in to run ${tool.name}.`);
    } else {
      log('error', `tools/call ${tool.name}: ${e.message}`);
      showResult(null, e.message);
    }
    return;
  } finally {
    btn.disabled = false;
    btn.textContent = 'Run';
  }
  log('result', `result ${tool.name}${result && result.isError ? ' (isError)' : ''} → ${compact(result && (result.structuredContent ?? result.content))}`, result);
  showResult(result);
  const ch = challengeFromResult(result);
  if (ch) {
    offerSignIn(ch, `${tool.name}: ${ch.error_description || resultText(result) || 'sign in to use this tool'}`, () => runTool(tool, args), { tool: tool.name, args });
    clearStage(`Sign in to run ${tool.name}.`);
    return;
  }
  hideSignIn();
  try {
    await showWidget(tool, args, result, callId);
  } catch (e) {
    log('error', `widget: ${e.message}`);
    clearStage(`Could not render the widget: ${e.message}`);
  }
}

function resultText(r) {
  return isObj(r) && Array.isArray(r.content) ? r.content.filter((c) => isObj(c) && c.type === 'text').map((c) => c.text).join('\n') : '';
}

function showResult(result, error) {
  const box = $('result');
  box.replaceChildren();
  if (error) {
    box.append(el('p', { className: 'result-text is-error', text: error }));
    $('result-summary').textContent = '· error';
    $('result-box').open = true;
    return;
  }
  const text = resultText(result);
  if (text) box.append(el('p', { className: `result-text${result.isError ? ' is-error' : ''}`, text }));
  if (isObj(result) && result.structuredContent !== undefined) box.append(el('div', { className: 'muted', text: 'structuredContent' }), el('pre', { text: JSON.stringify(result.structuredContent, null, 2) }));
  if (isObj(result) && isObj(result._meta)) box.append(el('div', { className: 'muted', text: '_meta (widget only)' }), el('pre', { text: JSON.stringify(result._meta, null, 2) }));
  $('result-summary').textContent = isObj(result) && result.isError ? '· isError' : `· ${text ? text.slice(0, 80) : 'ok'}`;
}

function clearStage(message) {
  W = null;
  $('frame-slot').replaceChildren(el('p', { className: 'placeholder', text: message }));
  $('stage-title').textContent = 'No widget';
}

// ================================================================== widget rendering
const resourceCache = new Map();

async function readWidget(uri) {
  if (resourceCache.has(uri)) return resourceCache.get(uri);
  const r = await serverRequest('resources/read', { uri });
  log('mcp', `resources/read ${uri}`, { contents: (r.contents || []).map((c) => ({ uri: c.uri, mimeType: c.mimeType, _meta: c._meta })) }, { verbose: true });
  resourceCache.set(uri, r);
  return r;
}

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

/** The policy for a srcdoc widget: inline code, declared domains, nothing else. */
function widgetPolicy(csp) {
  const res = cspSources(csp.resourceDomains).join(' ');
  const con = cspSources(csp.connectDomains).join(' ');
  const fr = cspSources(csp.frameDomains).join(' ');
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

function injectHead(html, snippet) {
  const head = /<head(\s[^>]*)?>/i.exec(html);
  if (head) return html.slice(0, head.index + head[0].length) + snippet + html.slice(head.index + head[0].length);
  const start = /<html(\s[^>]*)?>/i.exec(html) || /<!doctype[^>]*>/i.exec(html);
  if (start) return html.slice(0, start.index + start[0].length) + snippet + html.slice(start.index + start[0].length);
  return snippet + html;
}

const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

async function showWidget(tool, args, result, callId) {
  const bridge = S.bridge;
  const uri = toolWidgetUri(tool, bridge);
  if (!uri) {
    clearStage(`${tool.name} has no widget; its result is below.`);
    $('result-box').open = true;
    return;
  }
  const r = await readWidget(uri);
  const contents = Array.isArray(r && r.contents) ? r.contents : [];
  const want = bridge === 'openai' ? MIME_SKYBRIDGE : MIME_MCP_APP;
  const c = contents.find((x) => x.mimeType === want) || contents.find((x) => /^text\/html/i.test(x.mimeType || '')) || contents[0];
  if (!c) throw new Error(`resources/read ${uri} returned no contents`);
  const html = typeof c.text === 'string' ? c.text : (typeof c.blob === 'string' ? utf8FromB64(c.blob) : '');
  if (!html) throw new Error(`resources/read ${uri}: empty widget`);
  const meta = isObj(c._meta) ? c._meta : {};
  const csp = declaredCsp(meta);
  const policy = widgetPolicy(csp);
  const prefersBorder = isObj(meta.ui) && typeof meta.ui.prefersBorder === 'boolean' ? meta.ui.prefersBorder : meta['openai/widgetPrefersBorder'] === true;

  const w = {
    frame: null, bridge, tool, args, result, uri, widgetState: null, height: 0, callId, initialized: false, policy,
  };
  let doc = `<meta http-equiv="Content-Security-Policy" content="${attr(policy)}">`;
  if (bridge === 'openai') doc += shimSource(openaiGlobals(w));
  doc = injectHead(html, doc);

  const frame = el('iframe', { id: 'widget-frame', title: `${tool.name} widget`, sandbox: 'allow-scripts allow-forms', referrerpolicy: 'no-referrer' });
  w.frame = frame;
  W = w;
  $('stage').dataset.border = String(!!prefersBorder);
  $('stage-title').textContent = `${tool.title || tool.name} · ${bridge === 'openai' ? 'window.openai' : 'MCP Apps'} · ${uri.replace(/^ui:\/\/widget\//, '')}`;
  $('frame-slot').replaceChildren(frame);
  layout();
  log('bridge', `render ${uri} via ${bridge} (CSP: ${policy})`, { uri, mimeType: c.mimeType, csp }, { verbose: true });
  frame.srcdoc = doc;
}

// The window.openai shim runs inside the iframe before the widget's own scripts, the way
// ChatGPT defines window.openai; it talks to this page over postMessage.
function shimSource(globals) {
  const json = JSON.stringify(globals).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  const origin = JSON.stringify(location.origin);
  return `<script>(function () {
  var HOST = ${origin}, seq = 0, pending = {};
  function call(op, args) {
    return new Promise(function (resolve, reject) {
      var id = ++seq;
      pending[id] = { resolve: resolve, reject: reject };
      parent.postMessage({ __openaiShim: 'call', id: id, op: op, args: args }, HOST);
    });
  }
  var openai = ${json};
  openai.callTool = function (name, args) { return call('callTool', { name: name, args: args }); };
  openai.sendFollowUpMessage = function (o) { return call('sendFollowUpMessage', o); };
  openai.requestDisplayMode = function (o) { return call('requestDisplayMode', o); };
  openai.openExternal = function (o) { return call('openExternal', o); };
  openai.setWidgetState = function (state) { openai.widgetState = state; return call('setWidgetState', { state: state }); };
  openai.notifyIntrinsicHeight = function (h) { return call('notifyIntrinsicHeight', { height: h }); };
  openai.requestModal = function (o) { return call('requestModal', o); };
  openai.requestClose = function () { return call('requestClose', {}); };
  window.openai = openai;
  var lastHeight = 0;
  function reportSize() {
    var b = document.body;
    if (!b) return;
    var cs = getComputedStyle(b);
    var h = Math.ceil(b.scrollHeight + (parseFloat(cs.marginTop) || 0) + (parseFloat(cs.marginBottom) || 0));
    if (h && h !== lastHeight) { lastHeight = h; parent.postMessage({ __openaiShim: 'size', height: h }, HOST); }
  }
  document.addEventListener('DOMContentLoaded', function () {
    if (typeof ResizeObserver === 'function') { var ro = new ResizeObserver(reportSize); ro.observe(document.documentElement); ro.observe(document.body); }
    reportSize();
  });
  window.addEventListener('message', function (ev) {
    if (ev.source !== parent || !ev.data || !ev.data.__openaiShim) return;
    var m = ev.data;
    if (m.__openaiShim === 'reply') {
      var p = pending[m.id];
      delete pending[m.id];
      if (p) { if (m.error) p.reject(new Error(m.error)); else p.resolve(m.result); }
    } else if (m.__openaiShim === 'globals') {
      for (var k in m.globals) openai[k] = m.globals[k];
      window.dispatchEvent(new CustomEvent('openai:set_globals', { detail: { globals: m.globals } }));
    }
  });
})();</script>`;
}

function effectiveMaxHeight() {
  if (S.displayMode === 'fullscreen') {
    const slot = $('frame-slot');
    return Math.max(100, Math.floor(slot && slot.clientHeight ? slot.clientHeight : window.innerHeight - 40));
  }
  return S.maxHeight;
}

function openaiGlobals(w) {
  const r = w.result || {};
  return {
    toolInput: w.args || {},
    toolOutput: r.structuredContent ?? null,
    toolResponseMetadata: r._meta ?? null,
    widgetState: w.widgetState,
    theme: S.theme,
    displayMode: S.displayMode,
    maxHeight: effectiveMaxHeight(),
    locale: S.locale,
    userAgent: { device: { type: 'desktop' }, capabilities: { hover: true, touch: false } },
    safeArea: { insets: { top: 0, bottom: 0, left: 0, right: 0 } },
    view: { mode: S.displayMode },
  };
}

function hostContext() {
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

function toWidget(msg) {
  if (W && W.frame && W.frame.contentWindow) W.frame.contentWindow.postMessage(msg, '*');
}

function layout() {
  const stage = $('stage');
  stage.dataset.mode = S.displayMode;
  $('stage-inline').hidden = S.displayMode === 'inline';
  $('stage-mode-name').textContent = S.displayMode;
  if (!W || !W.frame) return;
  if (S.displayMode === 'fullscreen') W.frame.style.height = '';
  else W.frame.style.height = `${Math.min(Math.max(W.height || 120, 40), S.maxHeight)}px`;
}

function applyHeight(h) {
  if (!W || typeof h !== 'number' || !Number.isFinite(h)) return;
  W.height = Math.ceil(h);
  layout();
}

/** Pushes changed host globals to the widget through its bridge. */
function pushContext(patch) {
  if (!W) return;
  if (W.bridge === 'openai') {
    const g = {};
    if ('theme' in patch) g.theme = S.theme;
    if ('displayMode' in patch) { g.displayMode = S.displayMode; g.view = { mode: S.displayMode }; g.maxHeight = effectiveMaxHeight(); }
    if ('locale' in patch) g.locale = S.locale;
    if ('maxHeight' in patch) g.maxHeight = effectiveMaxHeight();
    if ('widgetState' in patch) g.widgetState = W.widgetState;
    log('bridge', `→ openai:set_globals ${compact(g)}`, g, { verbose: true });
    toWidget({ __openaiShim: 'globals', globals: g });
  } else {
    if (!W.initialized) return;
    const ctx = {};
    if ('theme' in patch) ctx.theme = S.theme;
    if ('displayMode' in patch) ctx.displayMode = S.displayMode;
    if ('locale' in patch) ctx.locale = S.locale;
    if ('displayMode' in patch || 'maxHeight' in patch) ctx.containerDimensions = hostContext().containerDimensions;
    notifyWidget('ui/notifications/host-context-changed', ctx);
  }
}

function setDisplayMode(mode, why) {
  if (!MODES.includes(mode)) return false;
  const changed = S.displayMode !== mode;
  S.displayMode = mode;
  $('display-mode').value = mode;
  savePrefs();
  layout();
  if (changed) {
    log('display', `display mode → ${mode}${why ? ` (${why})` : ''}`);
    pushContext({ displayMode: mode }); // reading the new size forces the layout: no need to wait
  }
  return true;
}

/** A tools/call asked for by the widget. */
async function widgetCallTool(name, args, via) {
  const a = isObj(args) ? args : {};
  log('callTool', `callTool ${name} ${compact(a)}`, { name, arguments: a, via });
  let r;
  try {
    r = await serverRequest('tools/call', { name, arguments: a, _meta: requestMeta() });
  } catch (e) {
    if (e instanceof AuthChallengeError) {
      const current = W;
      offerSignIn(e.challenge, `The widget's call to ${name} needs sign-in.`, current ? () => runTool(current.tool, current.args) : null);
    }
    log('error', `callTool ${name} failed: ${e.message}`);
    throw e;
  }
  log('result', `result ${name}${r && r.isError ? ' (isError)' : ''} → ${compact(r && (r.structuredContent ?? r.content))}`, r);
  const ch = challengeFromResult(r);
  if (ch) {
    const current = W;
    offerSignIn(ch, `The widget's call to ${name} needs sign-in.`, current ? () => runTool(current.tool, current.args) : null);
  }
  return r;
}

function openLink(url) {
  let u;
  try { u = new URL(String(url)); } catch (_) { throw new Error(`not a URL: ${url}`); }
  if (!/^https?:$/.test(u.protocol) && u.protocol !== 'mailto:') throw new Error(`refusing to open ${u.protocol} links`);
  window.open(u.href, '_blank', 'noopener,noreferrer');
}

// ---------------------------------------------------------------- MCP Apps bridge (host side)
function notifyWidget(method, params) {
  log('bridge', `→ widget ${method} ${compact(params, 120)}`, params, { verbose: true });
  toWidget({ jsonrpc: '2.0', method, params });
}
function reply(id, result) { toWidget({ jsonrpc: '2.0', id, result }); }
function replyError(id, code, message) { toWidget({ jsonrpc: '2.0', id, error: { code, message } }); }

async function onAppsRequest(m) {
  const p = isObj(m.params) ? m.params : {};
  switch (m.method) {
    case 'ui/initialize':
      reply(m.id, {
        protocolVersion: typeof p.protocolVersion === 'string' ? p.protocolVersion : APPS_PROTOCOL,
        hostInfo: { name: 'widgetry-host', version: VERSION },
        hostCapabilities: { openLinks: {}, serverTools: {}, serverResources: {}, logging: {}, message: { text: {} }, updateModelContext: { text: {} } },
        hostContext: hostContext(),
      });
      return;
    case 'tools/call':
      try { reply(m.id, await widgetCallTool(p.name, p.arguments, 'mcp-apps tools/call')); } catch (e) { replyError(m.id, -32603, e.message); }
      return;
    case 'resources/read':
      try { reply(m.id, await serverRequest('resources/read', { uri: p.uri })); } catch (e) { replyError(m.id, -32603, e.message); }
      return;
    case 'ui/message': {
      const text = Array.isArray(p.content) ? p.content.map((c) => (isObj(c) ? c.text : '')).filter(Boolean).join('\n') : '';
      log('message', `follow-up message (${p.role || 'user'}): ${text}`, p);
      reply(m.id, {});
      return;
    }
    case 'ui/open-link':
      log('link', `open link ${p.url}`, p);
      try { openLink(p.url); reply(m.id, {}); } catch (e) { reply(m.id, { isError: true }); log('error', e.message); }
      return;
    case 'ui/request-display-mode': {
      log('display', `widget requests display mode ${p.mode}`, p);
      const ok = MODES.includes(p.mode);
      if (ok) setDisplayMode(p.mode, 'requested by the widget');
      reply(m.id, { mode: S.displayMode });
      return;
    }
    case 'ui/update-model-context':
      log('state', `model context update ${compact(p)}`, p);
      reply(m.id, {});
      return;
    case 'ping':
      reply(m.id, {});
      return;
    default:
      log('bridge', `unsupported request ${m.method}`, p);
      replyError(m.id, -32601, `Method not found: ${m.method}`);
  }
}

function onAppsNotification(m) {
  const p = isObj(m.params) ? m.params : {};
  switch (m.method) {
    case 'ui/notifications/initialized':
      W.initialized = true;
      notifyWidget('ui/notifications/tool-input', { arguments: W.args || {} });
      notifyWidget('ui/notifications/tool-result', W.result || {});
      return;
    case 'ui/notifications/size-changed':
      applyHeight(p.height);
      return;
    case 'notifications/message':
      log('widget', `log ${p.level || ''}: ${compact(p.data)}`, p);
      return;
    default:
  }
}

function onAppsMessage(m) {
  if (!isObj(m) || m.jsonrpc !== '2.0') return;
  const what = m.method || `response ${m.id}`;
  log('bridge', `← widget ${what} ${compact(m.params ?? m.result ?? m.error, 120)}`, m, { verbose: true });
  if (m.method && m.id !== undefined && m.id !== null) onAppsRequest(m);
  else if (m.method) onAppsNotification(m);
}

// ---------------------------------------------------------------- window.openai shim (host side)
async function onShimMessage(m) {
  if (!isObj(m) || !m.__openaiShim) return;
  if (m.__openaiShim === 'size') { applyHeight(m.height); return; }
  if (m.__openaiShim !== 'call') return;
  const a = isObj(m.args) ? m.args : {};
  log('bridge', `← widget openai.${m.op} ${compact(a, 120)}`, a, { verbose: true });
  const answer = (result, error) => toWidget({ __openaiShim: 'reply', id: m.id, result, error });
  try {
    switch (m.op) {
      case 'callTool':
        answer(await widgetCallTool(a.name, a.args, 'window.openai.callTool'));
        return;
      case 'setWidgetState':
        W.widgetState = a.state;
        log('state', `widget state ${compact(a.state)}`, a.state);
        answer(undefined);
        return;
      case 'sendFollowUpMessage':
        log('message', `follow-up message: ${a.prompt}`, a);
        answer(undefined);
        return;
      case 'openExternal':
        log('link', `open link ${a.href}`, a);
        openLink(a.href);
        answer(undefined);
        return;
      case 'requestDisplayMode': {
        log('display', `widget requests display mode ${a.mode}`, a);
        if (MODES.includes(a.mode)) setDisplayMode(a.mode, 'requested by the widget');
        answer({ mode: S.displayMode });
        return;
      }
      case 'notifyIntrinsicHeight':
        applyHeight(a.height);
        answer(undefined);
        return;
      case 'requestClose':
        log('display', 'widget asks to close');
        answer(undefined);
        return;
      default:
        log('bridge', `unsupported window.openai.${m.op}`, a);
        answer(undefined, `window.openai.${m.op} is not supported by the Widgetry host page`);
    }
  } catch (e) {
    answer(undefined, e.message);
  }
}

window.addEventListener('message', (ev) => {
  if (W && W.frame && ev.source === W.frame.contentWindow) {
    if (W.bridge === 'openai') onShimMessage(ev.data);
    else onAppsMessage(ev.data);
    return;
  }
  if (ev.origin === location.origin) onCallbackMessage(ev.data, 'window.opener');
});

// ================================================================== controls and start-up
function savePrefs() {
  store.set(KEY.prefs, { bridge: S.bridge, theme: S.theme, displayMode: S.displayMode, locale: S.locale, maxHeight: S.maxHeight, tool: S.toolName, jsonMode: S.jsonMode });
}

function loadPrefs() {
  const p = store.get(KEY.prefs) || {};
  const q = new URLSearchParams(location.search);
  const pick = (k, ok) => { const v = q.get(k) ?? p[k]; return v !== undefined && v !== null && ok(v) ? v : undefined; };
  S.bridge = pick('bridge', (v) => v === 'openai' || v === 'mcp-apps') || S.bridge;
  S.theme = pick('theme', (v) => v === 'light' || v === 'dark') || (window.matchMedia && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : S.theme);
  S.displayMode = pick('displayMode', (v) => MODES.includes(v)) || S.displayMode;
  S.locale = pick('locale', (v) => /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(v)) || S.locale;
  const mh = Number(pick('maxHeight', (v) => Number(v) >= 80));
  if (mh) S.maxHeight = mh;
  S.toolName = pick('tool', (v) => typeof v === 'string') || null;
  S.jsonMode = p.jsonMode === true;
}

function applyTheme() {
  document.documentElement.dataset.theme = S.theme;
}

function bindControls() {
  $('bridge').value = S.bridge;
  $('theme').value = S.theme;
  $('display-mode').value = S.displayMode;
  $('locale').value = S.locale;
  $('max-height').value = String(S.maxHeight);
  $('redirect-uri').textContent = REDIRECT_URI;
  applyTheme();
  layout();

  $('tool').addEventListener('change', (e) => selectTool(e.target.value));
  $('input-form').addEventListener('submit', (e) => { e.preventDefault(); run(); });
  $('json-mode').addEventListener('change', () => applyJsonMode(true));
  $('bridge').addEventListener('change', (e) => {
    S.bridge = e.target.value;
    savePrefs();
    log('bridge', `bridge → ${S.bridge}`);
    selectTool(S.toolName);
    if (W) showWidget(W.tool, W.args, W.result, W.callId).catch((err) => log('error', `widget: ${err.message}`));
  });
  $('theme').addEventListener('change', (e) => {
    S.theme = e.target.value;
    applyTheme();
    savePrefs();
    log('display', `theme → ${S.theme}`);
    pushContext({ theme: S.theme });
  });
  $('display-mode').addEventListener('change', (e) => setDisplayMode(e.target.value, 'host control'));
  $('stage-inline').addEventListener('click', () => setDisplayMode('inline', 'host control'));
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && S.displayMode !== 'inline') setDisplayMode('inline', 'Escape'); });
  $('locale').addEventListener('change', (e) => {
    const v = e.target.value.trim();
    if (!/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(v)) { e.target.value = S.locale; return; }
    S.locale = v;
    savePrefs();
    log('display', `locale → ${S.locale}`);
    pushContext({ locale: S.locale });
  });
  $('max-height').addEventListener('change', (e) => {
    const v = Math.round(Number(e.target.value));
    if (!(v >= 80)) { e.target.value = String(S.maxHeight); return; }
    S.maxHeight = v;
    savePrefs();
    layout();
    log('display', `max height → ${S.maxHeight}px`);
    pushContext({ maxHeight: S.maxHeight });
  });
  window.addEventListener('resize', () => { if (S.displayMode === 'fullscreen') pushContext({ maxHeight: true }); });
  $('signin').addEventListener('click', startSignIn);
  $('signout').addEventListener('click', () => { auth.signOut(); connect(); });
  $('verbose').addEventListener('change', (e) => $('log').classList.toggle('show-verbose', e.target.checked));
  $('clear-log').addEventListener('click', () => { $('log').replaceChildren(); events.length = 0; });
  try {
    const bc = new BroadcastChannel(CHANNEL);
    bc.onmessage = (ev) => onCallbackMessage(ev.data, 'BroadcastChannel');
  } catch (_) { /* opener.postMessage still works */ }
}

/** Finishes a same-window sign-in (the callback page came back through sessionStorage). */
async function resumeRedirectSignIn() {
  const msg = store.get(KEY.callback);
  if (!msg) return false;
  store.del(KEY.callback);
  const pending = store.get(KEY.pending + msg.state);
  if (!pending) { log('auth', 'an authorization response arrived for a sign-in this tab did not start; ignored'); return false; }
  try {
    await finishSignIn(pending, msg);
    hideSignIn();
    const resume = store.get(KEY.resume);
    store.del(KEY.resume);
    return resume && resume.state === msg.state ? resume.resume || true : true;
  } catch (e) {
    log('error', `sign-in failed: ${e.message}`);
    return false;
  }
}

async function start() {
  loadPrefs();
  auth.load();
  bindControls();
  renderAccount();
  log('info', `host page for ${MCP_URL}`);
  const resumed = await resumeRedirectSignIn();
  const ok = await connect();
  if (ok && isObj(resumed) && resumed.tool) {
    const tool = S.tools.find((t) => t.name === resumed.tool);
    if (tool) { S.toolName = tool.name; $('tool').value = tool.name; selectTool(tool.name); runTool(tool, resumed.args || {}); }
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
})();
