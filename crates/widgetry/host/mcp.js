/*! The host page's MCP client over Streamable HTTP (initialize, session header, JSON or SSE
 * answers, requests from the server) and the `WWW-Authenticate` parser its errors use. */
import { isObj, VERSION } from './util.js';
import { log } from './log.js';

export const MCP_PROTOCOL = '2025-11-25';
/** The stateless revision: no initialize, no session; every request carries its `_meta`. */
export const MCP_STATELESS = '2026-07-28';
export const MIME_MCP_APP = 'text/html;profile=mcp-app';

const CLIENT_INFO = { name: 'widgetry-host', title: 'Widgetry host page', version: VERSION };
const UI_EXTENSION = { 'io.modelcontextprotocol/ui': { mimeTypes: [MIME_MCP_APP] } };
/** Rounds of 2026-07-28 input a request may take before the page gives up. */
const MAX_INPUT_ROUNDS = 8;

/** A 2026-07-28 routing header value: as is when visible ASCII, else the Base64 sentinel. */
function headerValue(v) {
  const s = String(v);
  if (/^[\x20-\x7e]*$/.test(s) && s.trim() === s && !(s.startsWith('=?base64?') && s.endsWith('?='))) return s;
  let bin = '';
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return `=?base64?${btoa(bin)}?=`;
}

/** The `Mcp-Param-*` headers of a 2026-07-28 tool call: each argument whose property
 * (reached through `properties` from the schema root) says `x-mcp-header`, when it is a
 * string, an integer or a boolean. */
export function paramHeaders(schema, args) {
  const out = {};
  const walk = (s, a) => {
    const props = isObj(s) && isObj(s.properties) ? s.properties : null;
    if (!props) return;
    for (const [key, sub] of Object.entries(props)) {
      const v = isObj(a) ? a[key] : undefined;
      if (isObj(sub) && typeof sub['x-mcp-header'] === 'string' && v !== undefined && v !== null) {
        const text = typeof v === 'string' ? v : typeof v === 'boolean' || Number.isInteger(v) ? String(v) : null;
        if (text !== null) out[`mcp-param-${sub['x-mcp-header'].toLowerCase()}`] = headerValue(text);
      }
      walk(sub, v);
    }
  };
  walk(schema, args);
  return out;
}

export function parseChallenge(header) {
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

export class AuthChallengeError extends Error {
  constructor(status, header, message) {
    super(message || `HTTP ${status}`);
    this.name = 'AuthChallengeError';
    this.status = status;
    this.header = header || '';
    this.challenge = parseChallenge(header);
  }
}
/** The request was cancelled (its AbortSignal fired) before the answer arrived. */
export class CancelledError extends Error {
  constructor(method) {
    super(`${method} was cancelled`);
    this.name = 'CancelledError';
  }
}
export class RpcError extends Error {
  constructor(err) {
    super(`${err.message || 'error'} (code ${err.code})`);
    this.code = err.code;
    this.rpcMessage = err.message || 'error';
    this.data = err.data;
  }
}

function rpcMessageOf(text) {
  try { const b = JSON.parse(text); if (isObj(b) && isObj(b.error)) return b.error.message; } catch (_) { /* not JSON */ }
  return text ? text.slice(0, 300) : '';
}

export class McpClient {
  /**
   * `token()` gives the current access token (or null) for each request; `protocol` is
   * MCP_PROTOCOL (initialize and a session) or MCP_STATELESS (2026-07-28).
   */
  constructor(url, token, protocol = MCP_PROTOCOL) {
    this.url = url;
    this.token = token;
    this.protocol = protocol;
    /**
     * Answers a form elicitation (`elicitation/create` params → `{action, content?}`), or
     * null: then the page declares no elicitation capability and servers do not ask.
     */
    this.elicit = null;
    this.session = null;
    this.version = null;
    this.nextId = 1;
    this.ready = null;
    this.info = null;
    this.schemas = new Map(); // tool name → inputSchema, for Mcp-Param-* headers
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

  /** Speaks `protocol` from the next request on (a new session, or none). */
  use(protocol) {
    if (protocol === this.protocol) return;
    this.reset();
    this.protocol = protocol;
  }

  get stateless() { return this.protocol === MCP_STATELESS; }

  /** What the page declares: the UI extension, and form elicitation when it answers it. */
  capabilities() {
    const caps = { extensions: UI_EXTENSION };
    if (this.elicit) caps.elicitation = { form: {} };
    return caps;
  }

  /** Answers `elicit` on or off from the next request on (a new session: capabilities
   * are declared at initialize). */
  answerElicitation(fn) {
    if (!!fn === !!this.elicit) { this.elicit = fn; return; }
    this.elicit = fn;
    this.reset();
  }

  /**
   * The answer to a server's question: a 2026-07-28 input request or a server-to-client
   * request. Form elicitation goes to `elicit` (URL mode and anything undeclared throw).
   */
  async answerInput(method, params) {
    if (method === 'ping') return {};
    if (method === 'elicitation/create' && this.elicit) {
      const p = isObj(params) ? params : {};
      if (p.mode !== undefined && p.mode !== 'form') throw new RpcError({ code: -32602, message: `the host page answers form elicitation only (asked for mode ${p.mode})` });
      return this.elicit(p);
    }
    throw new RpcError({ code: -32601, message: `the Widgetry host page does not support ${method}` });
  }

  async init() {
    if (this.stateless) {
      this.version = MCP_STATELESS;
      log('mcp', `server/discover → ${this.url} (2026-07-28: no initialize, no session)`, undefined, { verbose: true });
      const r = await this.send(this.stateless2026({ jsonrpc: '2.0', id: this.nextId++, method: 'server/discover', params: {} }));
      const si = r.serverInfo || (isObj(r._meta) ? r._meta['io.modelcontextprotocol/serverInfo'] : null) || {};
      this.info = Object.assign({ serverInfo: si }, r);
      log('mcp', `discovered: ${si.name || 'server'} ${si.version || ''}, protocol ${MCP_STATELESS}`, r, { verbose: true });
      return this.info;
    }
    const params = {
      protocolVersion: MCP_PROTOCOL,
      capabilities: this.capabilities(),
      clientInfo: CLIENT_INFO,
    };
    log('mcp', `initialize → ${this.url}`, params, { verbose: true });
    const r = await this.send({ jsonrpc: '2.0', id: this.nextId++, method: 'initialize', params });
    this.version = (r && r.protocolVersion) || MCP_PROTOCOL;
    this.info = r || {};
    await this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    log('mcp', `initialized: ${(r.serverInfo || {}).name || 'server'} ${(r.serverInfo || {}).version || ''}, protocol ${this.version}${this.session ? ', session' : ', no session'}`, r, { verbose: true });
    return r;
  }

  /** A 2026-07-28 request: its `_meta` says who asks, with which capabilities. */
  stateless2026(msg) {
    const params = Object.assign({}, msg.params);
    params._meta = Object.assign({}, params._meta, {
      'io.modelcontextprotocol/protocolVersion': MCP_STATELESS,
      'io.modelcontextprotocol/clientCapabilities': this.capabilities(),
      'io.modelcontextprotocol/clientInfo': CLIENT_INFO,
    });
    return Object.assign({}, msg, { params });
  }

  /**
   * One request. `signal` (an AbortSignal) cancels it as a host's Stop does: the answer
   * is no longer awaited (its stream closes, so no further question arrives), a session
   * tells the server with `notifications/cancelled`, and 2026-07-28 input rounds stop.
   */
  async request(method, params, { signal } = {}) {
    await this.connect();
    if (this.stateless) return this.remember(method, await this.requestWithInput(method, params, signal));
    try {
      return this.remember(method, await this.sendCancellable({ jsonrpc: '2.0', id: this.nextId++, method, params }, signal));
    } catch (e) {
      if (e.status === 404 && this.session) { // session expired: start a new one, once
        log('mcp', 'session expired; reconnecting');
        this.session = null;
        this.ready = null;
        await this.connect();
        return this.remember(method, await this.sendCancellable({ jsonrpc: '2.0', id: this.nextId++, method, params }, signal));
      }
      throw e;
    }
  }

  /** `send`, given up when `signal` aborts (then the server hears of it in a session). */
  async sendCancellable(msg, signal) {
    if (!signal) return this.send(msg);
    if (signal.aborted) throw new CancelledError(msg.method);
    try {
      return await this.send(msg, signal);
    } catch (e) {
      if (!signal.aborted) throw e;
      if (this.session && msg.id !== undefined) {
        const note = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: msg.id, reason: 'cancelled by the user' } };
        log('mcp', `${msg.method} cancelled: notifications/cancelled for request ${msg.id}`, note.params);
        this.send(note).catch(() => {});
      }
      throw new CancelledError(msg.method);
    }
  }

  /**
   * A 2026-07-28 request and its input rounds: while the server answers `input_required`,
   * answer its `inputRequests` and send the request again with the `inputResponses` and
   * the `requestState` it handed out (opaque: sent back unchanged).
   */
  async requestWithInput(method, params, signal) {
    const base = isObj(params) ? params : {};
    let p = base;
    for (let round = 0; ; round++) {
      const r = await this.sendCancellable(this.stateless2026({ jsonrpc: '2.0', id: this.nextId++, method, params: p }), signal);
      if (!isObj(r) || r.resultType === undefined || r.resultType === 'complete') return r;
      if (r.resultType !== 'input_required') throw new Error(`${method}: the server answered an unknown resultType ${JSON.stringify(r.resultType)}`);
      if (round + 1 >= MAX_INPUT_ROUNDS) throw new Error(`${method}: the server asked for input more than ${MAX_INPUT_ROUNDS} times`);
      const asked = isObj(r.inputRequests) ? Object.entries(r.inputRequests) : [];
      if (!asked.length) throw new Error(`${method}: the server answered input_required without inputRequests`);
      const responses = {};
      for (const [key, q] of asked) {
        const m = isObj(q) ? q.method : undefined;
        log('mcp', `${method}: the server asks for input ${key} (${m})`, q);
        responses[key] = await this.answerInput(m, isObj(q) ? q.params : undefined);
        if (signal && signal.aborted) throw new CancelledError(method);
      }
      p = Object.assign({}, base, { inputResponses: responses });
      if ('requestState' in r) p.requestState = r.requestState;
    }
  }

  /** Keeps the input schemas a `tools/list` page shows (for 2026-07-28 Mcp-Param-*). */
  remember(method, r) {
    if (method === 'tools/list' && isObj(r) && Array.isArray(r.tools)) {
      for (const t of r.tools) if (isObj(t) && typeof t.name === 'string') this.schemas.set(t.name, t.inputSchema);
    }
    return r;
  }

  async send(msg, signal) {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    if (this.session) headers['mcp-session-id'] = this.session;
    if (this.version) headers['mcp-protocol-version'] = this.version;
    if (this.stateless && msg.method) {
      headers['mcp-method'] = msg.method;
      const p = isObj(msg.params) ? msg.params : {};
      const name = msg.method === 'resources/read' ? p.uri : (msg.method === 'tools/call' || msg.method === 'prompts/get') ? p.name : null;
      if (typeof name === 'string') headers['mcp-name'] = headerValue(name);
      if (msg.method === 'tools/call' && typeof name === 'string') {
        Object.assign(headers, paramHeaders(this.schemas.get(name), p.arguments));
      }
    }
    const token = await this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify(msg), credentials: 'omit', cache: 'no-store', signal });
    } catch (e) {
      if (signal && signal.aborted) throw e;
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

  /** A request from the server inside a session (ping, elicitation…): answered in its own POST. */
  async answerServer(req) {
    log('mcp', `server request ${req.method}`, req.params);
    let reply;
    try {
      reply = { jsonrpc: '2.0', id: req.id, result: await this.answerInput(req.method, req.params) };
    } catch (e) {
      reply = { jsonrpc: '2.0', id: req.id, error: e instanceof RpcError ? { code: e.code, message: e.rpcMessage } : { code: -32603, message: e.message } };
    }
    this.send(reply).catch((e) => log('error', `could not answer ${req.method}: ${e.message}`));
  }
}