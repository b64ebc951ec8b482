// Widget test harness (test code, not product). A minimal widget host: loads a widget's HTML
// into a sandboxed iframe (sandbox="allow-scripts", srcdoc) and drives it through one bridge:
//   ?bridge=mcp-apps  MCP Apps (SEP-1865): answers ui/initialize with a host context, sends
//                     ui/notifications/tool-input + tool-result, answers tools/call, ui/message,
//                     ui/open-link, ui/request-display-mode; resizes on size-changed.
//   ?bridge=openai    ChatGPT style: prepends a shim that defines window.openai inside the iframe,
//                     backed by postMessage to this page, and dispatches openai:set_globals.
//   &theme=light|dark
//   &sandbox=TOKENS   the iframe's sandbox attribute (default "allow-scripts"; e.g.
//                     "allow-scripts allow-forms", as the Widgetry host page sets it)
// Tool calls go to POST /call on the page's own origin (the node driver), which forwards them to
// the MCP server. The driver calls window.harness.load({...}) and reads window.harness.events.
(() => {
  'use strict';
  const params = new URLSearchParams(location.search);
  const frame = document.getElementById('widget');
  const logEl = document.getElementById('log');
  const statusEl = document.getElementById('status');
  const MAX_HEIGHT = 640;

  const h = {
    bridge: params.get('bridge') === 'openai' ? 'openai' : 'mcp-apps',
    theme: params.get('theme') === 'dark' ? 'dark' : 'light',
    events: [], // every message in both directions, for the driver's assertions
    widgetState: null,
    toolName: null,
    toolInput: {},
    toolResult: null,
  };
  window.harness = h;
  if (params.has('sandbox')) frame.setAttribute('sandbox', params.get('sandbox'));
  document.documentElement.dataset.theme = h.theme;
  document.getElementById('widget-heading').textContent = `Widget · ${h.bridge} · ${h.theme}`;

  function log(dir, what, detail) {
    h.events.push({ dir, what, detail, t: Date.now() });
    const li = document.createElement('li');
    const d = document.createElement('span');
    d.className = 'dir';
    d.textContent = dir;
    li.appendChild(d);
    let text = what;
    if (detail !== undefined) {
      let json = JSON.stringify(detail);
      if (json && json.length > 220) json = `${json.slice(0, 220)}…`;
      text += ` ${json}`;
    }
    li.appendChild(document.createTextNode(text));
    logEl.appendChild(li);
    logEl.scrollTop = logEl.scrollHeight;
  }

  const toWidget = (msg) => frame.contentWindow.postMessage(msg, '*');

  async function callServer(name, args) {
    log('→ server', `tools/call ${name}`, args);
    const res = await fetch('/call', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, arguments: args || {} }),
    });
    const body = await res.json();
    if (!res.ok || body.error) throw new Error(body.error || `HTTP ${res.status}`);
    log('← server', `result ${name}`, body.result.structuredContent ?? body.result.content);
    return body.result;
  }

  function hostContext() {
    return {
      theme: h.theme,
      displayMode: 'inline',
      availableDisplayModes: ['inline', 'fullscreen'],
      containerDimensions: { maxHeight: MAX_HEIGHT },
      locale: 'en-US',
      timeZone: 'UTC',
      platform: 'web',
      userAgent: 'widgetry-test-harness',
      toolInfo: { id: 1, tool: { name: h.toolName, inputSchema: { type: 'object' } } },
    };
  }

  // ------------------------------------------------------------------ MCP Apps bridge
  function reply(id, result) { toWidget({ jsonrpc: '2.0', id, result }); }
  function replyError(id, code, message) { toWidget({ jsonrpc: '2.0', id, error: { code, message } }); }
  function notifyWidget(method, p) {
    log('→ widget', method, p);
    toWidget({ jsonrpc: '2.0', method, params: p });
  }

  async function onMcpRequest(m) {
    const p = m.params || {};
    switch (m.method) {
      case 'ui/initialize':
        reply(m.id, {
          protocolVersion: p.protocolVersion || '2026-01-26',
          hostInfo: { name: 'widgetry-test-harness', version: '0.0.0' },
          hostCapabilities: { openLinks: {}, serverTools: {}, logging: {}, message: { text: {} } },
          hostContext: hostContext(),
        });
        return;
      case 'tools/call':
        try {
          reply(m.id, await callServer(p.name, p.arguments));
        } catch (e) {
          replyError(m.id, -32603, e.message);
        }
        return;
      case 'ui/message':
      case 'ui/open-link':
      case 'ui/update-model-context':
        reply(m.id, {});
        return;
      case 'ui/request-display-mode': {
        const mode = p.mode === 'fullscreen' ? 'fullscreen' : 'inline';
        reply(m.id, { mode });
        notifyWidget('ui/notifications/host-context-changed', { displayMode: mode });
        return;
      }
      case 'ping':
        reply(m.id, {});
        return;
      default:
        replyError(m.id, -32601, `Method not found: ${m.method}`);
    }
  }

  function onMcpNotification(m) {
    const p = m.params || {};
    if (m.method === 'ui/notifications/initialized') {
      notifyWidget('ui/notifications/tool-input', { arguments: h.toolInput });
      if (h.toolResult) notifyWidget('ui/notifications/tool-result', h.toolResult);
    } else if (m.method === 'ui/notifications/size-changed' && typeof p.height === 'number') {
      frame.style.height = `${Math.min(Math.max(p.height, 60), MAX_HEIGHT)}px`;
    }
  }

  function onMcpMessage(m) {
    if (!m || m.jsonrpc !== '2.0') return;
    log('← widget', m.method || `response ${m.id}`, m.params ?? m.result ?? m.error);
    if (m.method && m.id != null) onMcpRequest(m);
    else if (m.method) onMcpNotification(m);
  }

  // ------------------------------------------------------------------ openai shim bridge
  // Runs inside the iframe, before the widget's own scripts (the way ChatGPT's sandbox
  // defines window.openai before the widget runs).
  function shimSource(globals) {
    const json = JSON.stringify(globals).replace(/</g, '\\u003c');
    return `<script>(function () {
  var seq = 0, pending = {};
  function call(op, args) {
    return new Promise(function (resolve, reject) {
      var id = ++seq;
      pending[id] = { resolve: resolve, reject: reject };
      parent.postMessage({ __openaiShim: 'call', id: id, op: op, args: args }, '*');
    });
  }
  var openai = ${json};
  openai.callTool = function (name, args) { return call('callTool', { name: name, args: args }); };
  openai.sendFollowUpMessage = function (o) { return call('sendFollowUpMessage', o); };
  openai.requestDisplayMode = function (o) { return call('requestDisplayMode', o); };
  openai.openExternal = function (o) { call('openExternal', o); };
  openai.setWidgetState = function (state) { openai.widgetState = state; return call('setWidgetState', { state: state }); };
  window.openai = openai;
  // ChatGPT sizes the widget frame to its content; report the height so the harness can too.
  var lastHeight = 0;
  function reportSize() {
    var h = document.body ? Math.ceil(document.body.scrollHeight) : 0;
    if (h && h !== lastHeight) { lastHeight = h; parent.postMessage({ __openaiShim: 'size', height: h }, '*'); }
  }
  document.addEventListener('DOMContentLoaded', function () {
    new ResizeObserver(reportSize).observe(document.body);
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

  function withShim(html, globals) {
    const shim = shimSource(globals);
    const head = /<head(\s[^>]*)?>/i.exec(html);
    if (head) return html.slice(0, head.index + head[0].length) + shim + html.slice(head.index + head[0].length);
    const start = /<html(\s[^>]*)?>/i.exec(html) || /<!doctype[^>]*>/i.exec(html);
    if (start) return html.slice(0, start.index + start[0].length) + shim + html.slice(start.index + start[0].length);
    return shim + html;
  }

  function setGlobals(globals) {
    log('→ widget', 'openai:set_globals', globals);
    toWidget({ __openaiShim: 'globals', globals });
  }

  async function onShimMessage(m) {
    if (m && m.__openaiShim === 'size' && typeof m.height === 'number') {
      frame.style.height = `${Math.min(Math.max(m.height, 60), MAX_HEIGHT)}px`;
      return;
    }
    if (!m || m.__openaiShim !== 'call') return;
    const a = m.args || {};
    log('← widget', `openai.${m.op}`, a);
    const answer = (result, error) => toWidget({ __openaiShim: 'reply', id: m.id, result, error });
    try {
      switch (m.op) {
        case 'callTool':
          answer(await callServer(a.name, a.args));
          return;
        case 'setWidgetState':
          h.widgetState = a.state;
          answer(undefined);
          return;
        case 'requestDisplayMode': {
          const mode = a.mode === 'fullscreen' ? 'fullscreen' : 'inline';
          answer({ mode });
          setGlobals({ displayMode: mode });
          return;
        }
        default: // sendFollowUpMessage, openExternal
          answer(undefined);
      }
    } catch (e) {
      answer(undefined, e.message);
    }
  }

  window.addEventListener('message', (ev) => {
    if (ev.source !== frame.contentWindow) return;
    if (h.bridge === 'openai') onShimMessage(ev.data);
    else onMcpMessage(ev.data);
  });

  // ------------------------------------------------------------------ driver API
  h.load = ({ html, toolName, toolInput, toolResult }) => new Promise((resolve) => {
    h.toolName = toolName;
    h.toolInput = toolInput || {};
    h.toolResult = toolResult || null;
    let doc = html;
    if (h.bridge === 'openai') {
      doc = withShim(html, {
        toolInput: h.toolInput,
        toolOutput: toolResult ? toolResult.structuredContent ?? null : null,
        toolResponseMetadata: toolResult ? toolResult._meta ?? null : null,
        widgetState: null,
        theme: h.theme,
        displayMode: 'inline',
        maxHeight: MAX_HEIGHT,
        locale: 'en-US',
        userAgent: { device: { type: 'desktop' }, capabilities: { hover: true, touch: false } },
        safeArea: { insets: { top: 0, bottom: 0, left: 0, right: 0 } },
      });
    }
    frame.addEventListener('load', () => {
      statusEl.textContent = `loaded ${toolName} through ${h.bridge}`;
      resolve();
    }, { once: true });
    log('host', `load ${toolName} (${h.bridge}, ${h.theme})`);
    frame.srcdoc = doc;
  });

  h.setTheme = (theme) => {
    h.theme = theme === 'dark' ? 'dark' : 'light';
    document.documentElement.dataset.theme = h.theme;
    if (h.bridge === 'openai') setGlobals({ theme: h.theme });
    else notifyWidget('ui/notifications/host-context-changed', { theme: h.theme });
  };
})();
