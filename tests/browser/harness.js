// Widget test harness (test code, not product). A minimal widget host: loads a widget's HTML
// into a sandboxed iframe (sandbox="allow-scripts", srcdoc) and drives it through the host
// page's own bridge module (crates/widgetry/host/bridge.js, served here as /bridge.js):
//   ?bridge=mcp-apps  the MCP Apps bridge (SEP-1865): ui/initialize with a host context,
//                     tool-input + tool-result after initialized, tools/call, ui/message,
//                     ui/open-link, ui/update-model-context, ui/request-display-mode, sizes.
//   ?bridge=openai    a host with only ChatGPT's window.openai (the shim, no MCP Apps answers).
//   &theme=light|dark
//   &sandbox=TOKENS   the iframe's sandbox attribute (default "allow-scripts")
// Tool calls go to POST /call on the page's own origin (the node driver), which forwards them to
// the MCP server. The driver calls window.harness.load({...}) and reads window.harness.events.
import { injectHead, openaiShimSource, WidgetBridge } from './bridge.js';

const params = new URLSearchParams(location.search);
const frame = document.getElementById('widget');
const logEl = document.getElementById('log');
const statusEl = document.getElementById('status');
const MAX_HEIGHT = 640;

const h = {
  bridge: params.get('bridge') === 'openai' ? 'openai' : 'mcp-apps',
  theme: params.get('theme') === 'dark' ? 'dark' : 'light',
  displayMode: 'inline',
  events: [], // every message in both directions, for the driver's assertions
  widgetState: null,
  modelContext: [],
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
    displayMode: h.displayMode,
    availableDisplayModes: ['inline', 'fullscreen'],
    containerDimensions: { maxHeight: MAX_HEIGHT },
    locale: 'en-US',
    timeZone: 'UTC',
    platform: 'web',
    userAgent: 'widgetry-test-harness',
    toolInfo: { id: 1, tool: { name: h.toolName, inputSchema: { type: 'object' } } },
  };
}

function openaiGlobals() {
  const r = h.toolResult;
  return {
    toolInput: h.toolInput,
    toolOutput: r ? r.structuredContent ?? null : null,
    toolResponseMetadata: r ? r._meta ?? null : null,
    widgetState: null,
    theme: h.theme,
    displayMode: h.displayMode,
    maxHeight: MAX_HEIGHT,
    locale: 'en-US',
    userAgent: { device: { type: 'desktop' }, capabilities: { hover: true, touch: false } },
    safeArea: { insets: { top: 0, bottom: 0, left: 0, right: 0 } },
  };
}

const bridge = new WidgetBridge({
  frame,
  apps: h.bridge === 'mcp-apps',
  openai: h.bridge === 'openai',
  hostInfo: { name: 'widgetry-test-harness', version: '0.0.0' },
  capabilities: { openLinks: {}, serverTools: {}, logging: {}, message: { text: {} }, updateModelContext: { text: {}, structuredContent: {} } },
  context: hostContext,
  log,
  onInitialized() {
    bridge.sendInput(h.toolInput);
    if (h.toolResult) bridge.sendResult(h.toolResult);
  },
  handlers: {
    callTool: callServer,
    message: async () => ({}),
    openLink: async () => ({}),
    modelContext: async (p) => { h.modelContext.push(p); return {}; },
    widgetState: async (state) => { h.widgetState = state; },
    displayMode: async (mode) => {
      h.displayMode = mode === 'fullscreen' ? 'fullscreen' : 'inline';
      bridge.contextChanged({ displayMode: h.displayMode }, { displayMode: h.displayMode });
      return h.displayMode;
    },
    size: ({ height }) => {
      if (typeof height === 'number') frame.style.height = `${Math.min(Math.max(height, 60), MAX_HEIGHT)}px`;
    },
  },
}).attach();

// ------------------------------------------------------------------ driver API
h.load = ({ html, toolName, toolInput, toolResult }) => new Promise((resolve) => {
  h.toolName = toolName;
  h.toolInput = toolInput || {};
  h.toolResult = toolResult || null;
  const doc = h.bridge === 'openai' ? injectHead(html, openaiShimSource(openaiGlobals(), '*')) : html;
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
  bridge.contextChanged({ theme: h.theme }, { theme: h.theme });
};
