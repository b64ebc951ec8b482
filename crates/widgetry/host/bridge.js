/*! The host side of one widget frame, shared by the Widgetry host page and the browser test
 * harness (tests/browser/harness.js): the MCP Apps bridge (SEP-1865, JSON-RPC 2.0 over
 * postMessage) and/or a ChatGPT-style `window.openai` shim injected into the widget.
 * Everything host-specific (what a call does, what the host context is) comes in through
 * the constructor's options; see docs/hosts.md for what real hosts do. */

export const APPS_PROTOCOL = '2026-01-26';
export const MODES = ['inline', 'fullscreen', 'pip'];

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Inserts `snippet` at the start of the document's <head> (or as early as possible). */
export function injectHead(html, snippet) {
  const head = /<head(\s[^>]*)?>/i.exec(html);
  if (head) return html.slice(0, head.index + head[0].length) + snippet + html.slice(head.index + head[0].length);
  const start = /<html(\s[^>]*)?>/i.exec(html) || /<!doctype[^>]*>/i.exec(html);
  if (start) return html.slice(0, start.index + start[0].length) + snippet + html.slice(start.index + start[0].length);
  return snippet + html;
}

/**
 * A <script> defining `window.openai` (with `globals`) before the widget's own scripts, the
 * way ChatGPT does; its calls reach the host as `{__openaiShim: 'call'}` messages. `hostOrigin`
 * is where it posts ('*' for a null-origin host).
 */
export function openaiShimSource(globals, hostOrigin) {
  const json = JSON.stringify(globals).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  return `<script>(function () {
  var HOST = ${JSON.stringify(hostOrigin || '*')}, seq = 0, pending = {};
  function call(op, args) {
    return new Promise(function (resolve, reject) {
      var id = ++seq;
      pending[id] = { resolve: resolve, reject: reject };
      parent.postMessage({ __openaiShim: 'call', id: id, op: op, args: args }, HOST);
    });
  }
  var openai = ${json};
  ['callTool', 'sendFollowUpMessage', 'requestDisplayMode', 'openExternal', 'notifyIntrinsicHeight', 'requestModal', 'requestClose', 'uploadFile', 'getFileDownloadUrl', 'setOpenInAppUrl'].forEach(function (op) {
    openai[op] = function (a, b) { return call(op, op === 'callTool' ? { name: a, args: b } : a); };
  });
  openai.setWidgetState = function (state) { openai.widgetState = state; return call('setWidgetState', { state: state }); };
  window.openai = openai;
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

/**
 * The host side of one widget frame.
 *
 * options:
 * - frame: the <iframe>; messages from any other window are ignored.
 * - apps: answer the MCP Apps bridge (ui/initialize, …); openai: the widget has the shim.
 * - hostInfo, capabilities: what ui/initialize answers (capabilities: McpUiHostCapabilities).
 * - context(): the current McpUiHostContext.
 * - handlers: async callTool(name, args), message(params), openLink(url), displayMode(mode)
 *   (→ granted mode), modelContext(params), widgetState(state), size({width, height}),
 *   requestClose(), other(op, args) for shim calls it does not know; any may be missing.
 * - onInitialized(): after ui/notifications/initialized (send input and result then).
 * - log(direction, what, detail): traffic, for the host's log.
 * - targetOrigin: the frame's origin ('*' for a srcdoc frame).
 */
export class WidgetBridge {
  constructor(options) {
    this.o = Object.assign({ apps: true, openai: false, targetOrigin: '*', handlers: {}, log() {}, onInitialized() {} }, options);
    this.initialized = false;
    this.nextId = 1;
    this.pending = new Map();
    this.listener = (ev) => {
      if (!this.o.frame || ev.source !== this.o.frame.contentWindow) return;
      const m = ev.data;
      if (isObj(m) && m.__openaiShim) { if (this.o.openai) this.onShim(m); return; }
      if (this.o.apps) this.onApps(m);
    };
  }

  attach() { window.addEventListener('message', this.listener); return this; }

  detach() {
    window.removeEventListener('message', this.listener);
    for (const p of this.pending.values()) p.reject(new Error('the widget is gone'));
    this.pending.clear();
  }

  post(msg) {
    const w = this.o.frame && this.o.frame.contentWindow;
    if (w) w.postMessage(msg, this.o.targetOrigin);
  }

  // ---- host → widget
  notify(method, params) {
    this.o.log('→ widget', method, params);
    this.post({ jsonrpc: '2.0', method, params });
  }

  sendInput(args) { if (this.o.apps) this.notify('ui/notifications/tool-input', { arguments: isObj(args) ? args : {} }); }
  sendPartial(args) { if (this.o.apps) this.notify('ui/notifications/tool-input-partial', { arguments: isObj(args) ? args : {} }); }
  sendResult(result) { if (this.o.apps) this.notify('ui/notifications/tool-result', isObj(result) ? result : {}); }
  sendCancelled(reason) { if (this.o.apps) this.notify('ui/notifications/tool-cancelled', reason ? { reason } : {}); }

  /** Tells the widget what changed: `patch` is a partial host context (and, for the shim, globals). */
  contextChanged(patch, globals) {
    if (this.o.apps && this.initialized) this.notify('ui/notifications/host-context-changed', patch);
    if (this.o.openai && globals) this.setGlobals(globals);
  }

  setGlobals(globals) {
    this.o.log('→ widget', 'openai:set_globals', globals);
    this.post({ __openaiShim: 'globals', globals });
  }

  /** A request to the widget; resolves with its result (rejects on an error or after `ms`). */
  request(method, params, ms) {
    return new Promise((resolve, reject) => {
      const id = `host-${this.nextId++}`;
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`the widget did not answer ${method} within ${ms / 1000} s`)); }, ms);
      this.pending.set(id, { resolve: (r) => { clearTimeout(timer); resolve(r); }, reject: (e) => { clearTimeout(timer); reject(e); } });
      this.o.log('→ widget', method, params);
      this.post({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** ui/resource-teardown: resolves once the widget answered (its teardown hooks ran). */
  teardown(ms = 5000) {
    return this.o.apps && this.initialized ? this.request('ui/resource-teardown', {}, ms) : Promise.resolve({});
  }

  // ---- widget → host, MCP Apps
  reply(id, result) { this.post({ jsonrpc: '2.0', id, result }); }
  replyError(id, code, message) { this.post({ jsonrpc: '2.0', id, error: { code, message } }); }

  onApps(m) {
    if (!isObj(m) || m.jsonrpc !== '2.0') return;
    this.o.log('← widget', m.method || `response ${m.id}`, m.params ?? m.result ?? m.error);
    if (m.method === undefined) {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (isObj(m.error)) p.reject(new Error(m.error.message || 'error')); else p.resolve(m.result ?? {});
      return;
    }
    if (m.id !== undefined && m.id !== null) { this.onRequest(m); return; }
    const p = isObj(m.params) ? m.params : {};
    const h = this.o.handlers;
    if (m.method === 'ui/notifications/initialized') {
      this.initialized = true;
      this.o.onInitialized();
    } else if (m.method === 'ui/notifications/size-changed') {
      if (h.size) h.size({ width: p.width, height: p.height });
    } else if (m.method === 'ui/notifications/request-teardown') {
      if (h.requestClose) h.requestClose();
    }
  }

  async onRequest(m) {
    const p = isObj(m.params) ? m.params : {};
    const h = this.o.handlers;
    const caps = this.o.capabilities || {};
    const run = async (fn) => {
      try { this.reply(m.id, (await fn()) ?? {}); } catch (e) { this.replyError(m.id, -32603, e && e.message ? e.message : String(e)); }
    };
    const offered = (cap) => isObj(caps[cap]);
    switch (m.method) {
      case 'ui/initialize':
        this.reply(m.id, {
          protocolVersion: typeof p.protocolVersion === 'string' ? p.protocolVersion : APPS_PROTOCOL,
          hostInfo: this.o.hostInfo || { name: 'widgetry-host', version: '0' },
          hostCapabilities: caps,
          hostContext: this.o.context ? this.o.context() : {},
        });
        return;
      case 'ping':
        this.reply(m.id, {});
        return;
      case 'tools/call':
        if (!offered('serverTools') || !h.callTool) break;
        await run(() => h.callTool(p.name, isObj(p.arguments) ? p.arguments : {}));
        return;
      case 'ui/message':
        if (!offered('message') || !h.message) break;
        await run(() => h.message(p));
        return;
      case 'ui/open-link':
        if (!offered('openLinks') || !h.openLink) break;
        await run(() => h.openLink(p.url));
        return;
      case 'ui/update-model-context':
        if (!offered('updateModelContext') || !h.modelContext) break;
        await run(() => h.modelContext(p));
        return;
      case 'ui/request-display-mode': {
        const mode = MODES.includes(p.mode) && h.displayMode ? await h.displayMode(p.mode) : null;
        this.reply(m.id, { mode: mode || (this.o.context ? this.o.context().displayMode : 'inline') });
        return;
      }
      default:
        break;
    }
    this.replyError(m.id, -32601, `Method not found: ${m.method}`);
  }

  // ---- widget → host, window.openai shim
  async onShim(m) {
    const h = this.o.handlers;
    if (m.__openaiShim !== 'call') return;
    const a = isObj(m.args) ? m.args : {};
    this.o.log('← widget', `openai.${m.op}`, a);
    const answer = (result, error) => this.post({ __openaiShim: 'reply', id: m.id, result, error });
    try {
      switch (m.op) {
        case 'callTool': answer(await h.callTool(a.name, isObj(a.args) ? a.args : {})); return;
        case 'setWidgetState': if (h.widgetState) await h.widgetState(a.state); answer(undefined); return;
        case 'sendFollowUpMessage': if (h.message) await h.message({ role: 'user', content: [{ type: 'text', text: String(a.prompt ?? '') }] }); answer(undefined); return;
        case 'openExternal': if (h.openLink) await h.openLink(a.href); answer(undefined); return;
        case 'requestDisplayMode': answer({ mode: MODES.includes(a.mode) && h.displayMode ? await h.displayMode(a.mode) : 'inline' }); return;
        case 'notifyIntrinsicHeight': if (h.size) h.size({ height: Number(m.args) || a.height }); answer(undefined); return;
        case 'requestClose': if (h.requestClose) h.requestClose(); answer(undefined); return;
        default:
          if (h.other) { answer(await h.other(m.op, m.args)); return; }
          answer(undefined, `window.openai.${m.op} is not supported by this host`);
      }
    } catch (e) {
      answer(undefined, e && e.message ? e.message : String(e));
    }
  }
}
