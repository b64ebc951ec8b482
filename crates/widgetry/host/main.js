/*! Widgetry host page (/_widgetry/host): a local MCP Apps host for development that behaves
 * like the real ones (profiles ChatGPT, Claude, generic; docs/hosts.md). Pick a tool, fill
 * its input, run it: the widget renders in a sandbox on another origin, gets its input (after
 * your approval, for a tool that is not read-only, in the ChatGPT profile), optionally
 * streamed, then its result (optionally without `_meta`); the call can be cancelled and the
 * widget torn down. Sign-in runs the real OAuth 2.1 flow (auth.js).
 * Modules: util, log, state, mcp, server, auth, form, profiles, bridge, stage, main (this). */
import { $, compact, el, isObj, KEY, CHANNEL, plainError, store } from './util.js';
import { clearLog, events, log } from './log.js';
import { MCP_URL, REDIRECT_URI, S } from './state.js';
import { AuthChallengeError, MCP_PROTOCOL, MCP_STATELESS } from './mcp.js';
import { mcp, requestMeta, serverRequest } from './server.js';
import { auth, challengeFromResult, hideSignIn, loadProfile, offerSignIn, onCallbackMessage, renderAccount, resumeRedirectSignIn, startSignIn } from './auth.js';
import { applyJsonMode, currentArgs, renderForm, showFormError } from './form.js';
import { askUser, bindQuestions, dismissQuestions } from './elicit.js';
import { PROFILES, profileOf } from './profiles.js';
import { clearStage, current, forgetWidgets, layout, mount, pushContext, setDisplayMode, teardown } from './stage.js';
import { MODES } from './bridge.js';

let callSeq = 0;
window.widgetryHost = { events, state: S, get widget() { return current(); }, mcpUrl: MCP_URL, mcp };

window.addEventListener('securitypolicyviolation', (e) => {
  log('error', `CSP blocked ${e.violatedDirective}: ${e.blockedURI || 'inline'}`, { directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile });
});

// ================================================================== tools
const currentTool = () => S.tools.find((t) => t.name === S.toolName) || null;

function toolWidgetUri(tool) {
  const m = isObj(tool && tool._meta) ? tool._meta : {};
  if (isObj(m.ui) && typeof m.ui.resourceUri === 'string') return m.ui.resourceUri;
  if (typeof m['ui/resourceUri'] === 'string') return m['ui/resourceUri'];
  return typeof m['openai/outputTemplate'] === 'string' ? m['openai/outputTemplate'] : null;
}

/** Tools only widgets call: app-only ones (the token refresh, the sign-in relay) and widget actions. */
function appOnly(tool) {
  const m = isObj(tool._meta) ? tool._meta : {};
  const vis = isObj(m.ui) && Array.isArray(m.ui.visibility) ? m.ui.visibility : null;
  return (vis && !vis.includes('model')) || m['openai/visibility'] === 'private' || m['widgetry/action'] === true;
}

function schemes(tool) {
  const s = tool.securitySchemes || (isObj(tool._meta) ? tool._meta.securitySchemes : null);
  return Array.isArray(s) ? s : [];
}
const needsSignIn = (tool) => schemes(tool).some((s) => isObj(s) && s.type === 'oauth2') && !schemes(tool).some((s) => isObj(s) && s.type === 'noauth');
const readOnly = (tool) => !!(tool.annotations && tool.annotations.readOnlyHint);

function authLabel(tool) {
  const oauth = schemes(tool).find((s) => isObj(s) && s.type === 'oauth2');
  if (!oauth) return null;
  const scopes = Array.isArray(oauth.scopes) && oauth.scopes.length ? ` (${oauth.scopes.join(' ')})` : '';
  return needsSignIn(tool) ? `sign-in required${scopes}` : `sign-in optional${scopes}`;
}

function renderTools() {
  const sel = $('tool');
  sel.replaceChildren();
  const shown = S.tools.filter((t) => !appOnly(t));
  for (const t of shown) {
    const label = `${t.title || (t.annotations && t.annotations.title) || t.name}${t.title ? ` · ${t.name}` : ''}`;
    sel.append(el('option', { value: t.name, text: label }));
  }
  const hidden = S.tools.length - shown.length;
  $('tools-hidden').textContent = hidden ? `${hidden} app-only tool${hidden === 1 ? '' : 's'} (widget actions and helpers widgets call) not listed` : '';
  sel.disabled = !shown.length;
  if (!shown.some((t) => t.name === S.toolName)) {
    // A widget tool anyone can run first, then any widget tool, then anything.
    const pick = shown.find((t) => toolWidgetUri(t) && !needsSignIn(t)) || shown.find((t) => toolWidgetUri(t)) || shown[0];
    S.toolName = pick ? pick.name : null;
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
  else badges.append(el('span', { className: 'badge', text: 'asks approval (ChatGPT)' }));
  if (a.destructiveHint) badges.append(el('span', { className: 'badge', text: 'destructive' }));
  if (a.openWorldHint) badges.append(el('span', { className: 'badge', text: 'open world' }));
  const al = authLabel(tool);
  if (al) badges.append(el('span', { className: 'badge auth', text: al }));
  const uri = toolWidgetUri(tool);
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
function showRunError(text) {
  const e = $('run-error');
  e.textContent = text || '';
  e.hidden = !text;
}

function resultText(r) {
  return isObj(r) && Array.isArray(r.content) ? r.content.filter((c) => isObj(c) && c.type === 'text').map((c) => c.text).join('\n') : '';
}

function showResult(result) {
  const box = $('result');
  box.replaceChildren();
  if (!result) { $('result-summary').textContent = ''; $('result-box').open = false; return; }
  const text = resultText(result);
  if (text) box.append(el('p', { className: `result-text${result.isError ? ' is-error' : ''}`, text }));
  if (isObj(result) && result.structuredContent !== undefined) box.append(el('div', { className: 'muted', text: 'structuredContent' }), el('pre', { text: JSON.stringify(result.structuredContent, null, 2) }));
  if (isObj(result) && isObj(result._meta)) box.append(el('div', { className: 'muted', text: '_meta (widget only)' }), el('pre', { text: JSON.stringify(result._meta, null, 2) }));
  $('result-summary').textContent = isObj(result) && result.isError ? '· isError' : `· ${text ? text.slice(0, 80) : 'ok'}`;
}

/** A failed call: no stale widget, banner or result; the error where the user looks. */
function failed(tool, message) {
  clearStage(`${tool.name} failed.`);
  showResult(null);
  showRunError(`${tool.title || tool.name}: ${plainError(message)}`);
}

async function run() {
  const tool = currentTool();
  if (!tool) return;
  let args;
  try { args = currentArgs(); showFormError(''); } catch (e) { showFormError(e.message); return; }
  await runTool(tool, args);
}

/** Waits for Allow or Deny on the approval banner. */
function approve(tool, args) {
  $('approval-title').textContent = `Allow ${tool.title || tool.name}?`;
  $('approval-reason').textContent = `${tool.name} is not read-only: ChatGPT asks before it runs, and its widget gets the arguments only once you allow it.`;
  $('approval-args').textContent = JSON.stringify(args, null, 2);
  $('approval-banner').hidden = false;
  log('approval', `waiting for approval of ${tool.name}`, args);
  return new Promise((resolve) => {
    const done = (ok) => {
      $('approval-banner').hidden = true;
      $('approve').onclick = null;
      $('deny').onclick = null;
      log('approval', `${tool.name} ${ok ? 'allowed' : 'denied'}`);
      resolve(ok);
    };
    $('approve').onclick = () => done(true);
    $('deny').onclick = () => done(false);
  });
}

/** The arguments as a model would stream them: field by field, a string half-written first. */
function partials(args) {
  const keys = Object.keys(args);
  const out = [];
  for (let i = 0; i < keys.length; i++) {
    const done = Object.fromEntries(keys.slice(0, i).map((k) => [k, args[k]]));
    const v = args[keys[i]];
    if (typeof v === 'string' && v.length > 1) out.push(Object.assign(done, { [keys[i]]: v.slice(0, Math.ceil(v.length / 2)) }));
    else if (i > 0) out.push(done);
  }
  if (!out.length) out.push({});
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let lastRun = null;
let running = null; // { callId, cancelled }

/** Why a challenge asks for sign-in: a signed-in user missing a scope is asked for more permission. */
function challengeReason(what, ch, status) {
  const more = status === 403 || (ch && ch.error === 'insufficient_scope');
  if (!more) return `${what} needs you to sign in.`;
  const scope = ch && ch.scope ? ` (${ch.scope})` : '';
  return `${what} needs more permission${scope}: sign in again to grant it.`;
}

/** A call the widget makes (tools/call over the bridge, or window.openai.callTool). */
async function widgetCallTool(name, args, callId) {
  log('callTool', `callTool ${name} ${compact(args)}`, { name, arguments: args });
  let r;
  try {
    r = await serverRequest('tools/call', { name, arguments: args, _meta: requestMeta(callId) });
  } catch (e) {
    if (e instanceof AuthChallengeError) {
      const w = current();
      offerSignIn(e.challenge, challengeReason(`The widget's call to ${name}`, e.challenge, e.status), w ? () => runTool(w.tool, w.args) : null);
    }
    log('error', `callTool ${name} failed: ${e.message}`);
    throw e;
  }
  log('result', `result ${name}${r && r.isError ? ' (isError)' : ''} → ${compact(r && (r.structuredContent ?? r.content))}`, r);
  const ch = challengeFromResult(r);
  if (ch) {
    const w = current();
    offerSignIn(ch, challengeReason(`The widget's call to ${name}`, ch, 401), w ? () => runTool(w.tool, w.args) : null);
  }
  return r;
}

async function runTool(tool, args) {
  lastRun = { tool, args };
  const profile = profileOf(S.profile);
  const callId = ++callSeq;
  const run = { callId, cancelled: false, stop: new AbortController() };
  running = run;
  showRunError('');
  showResult(null);
  const btn = $('run');
  btn.disabled = true;
  btn.textContent = 'Running…';
  const uri = toolWidgetUri(tool);
  let w = null;
  try {
    // The widget first, as hosts do: it shows its loading state while the call runs.
    if (uri) {
      try {
        w = await mount(tool, uri, args, callId, (name, a) => widgetCallTool(name, a, callId));
      } catch (e) {
        failed(tool, `could not render the widget: ${e.message}`);
        return;
      }
    } else {
      clearStage(`${tool.name} has no widget; its result is below.`);
    }
    const initialized = w ? Promise.race([w.ready, sleep(10000).then(() => null)]) : Promise.resolve(null);
    if (profile.approval && !readOnly(tool) && !(await approve(tool, args))) {
      if (await initialized) w.bridge.sendCancelled('the user denied the call');
      showRunError(`${tool.title || tool.name}: you denied the call.`);
      return;
    }
    if (w && !(await initialized)) log('error', 'the widget did not finish the MCP Apps handshake within 10 s');
    if (w && S.streamInput) {
      for (const p of partials(args)) { w.bridge.sendPartial(p); await sleep(150); }
    }
    if (w) {
      w.inputSent = true;
      w.bridge.sendInput(args);
      if (profile.openai) w.bridge.setGlobals({ toolInput: args });
    }
    $('cancel').hidden = false;
    log('run', `tools/call ${tool.name} ${compact(args)}`, { name: tool.name, arguments: args });
    let result;
    try {
      result = await serverRequest('tools/call', { name: tool.name, arguments: args, _meta: requestMeta(callId) }, { signal: run.stop.signal });
    } catch (e) {
      if (run.cancelled) return;
      if (e instanceof AuthChallengeError) {
        log('auth', `HTTP ${e.status}: ${e.message}`);
        offerSignIn(e.challenge, challengeReason(tool.name, e.challenge, e.status), () => runTool(tool, args), { tool: tool.name, args });
        clearStage(`Sign in to run ${tool.name}.`);
      } else {
        log('error', `tools/call ${tool.name}: ${e.message}`);
        failed(tool, e.message);
      }
      return;
    }
    if (run.cancelled) { log('run', `${tool.name} finished after it was cancelled; its result is dropped`, result); return; }
    log('result', `result ${tool.name}${result && result.isError ? ' (isError)' : ''} → ${compact(result && (result.structuredContent ?? result.content))}`, result);
    showResult(result);
    const ch = challengeFromResult(result);
    if (ch) {
      offerSignIn(ch, challengeReason(tool.name, ch, 401), () => runTool(tool, args), { tool: tool.name, args });
      clearStage(`Sign in to run ${tool.name}.`);
      return;
    }
    hideSignIn();
    if (result && result.isError && !w) { showRunError(`${tool.title || tool.name}: ${plainError(resultText(result) || 'the tool failed')}`); return; }
    if (!w) { $('result-box').open = true; return; }
    const delivered = S.dropMeta && isObj(result) ? Object.fromEntries(Object.entries(result).filter(([k]) => k !== '_meta')) : result;
    if (S.dropMeta) log('run', 'dropping the result _meta, as some hosts do');
    w.bridge.sendResult(delivered);
    if (profile.openai) w.bridge.setGlobals({ toolOutput: delivered.structuredContent ?? null, toolResponseMetadata: delivered._meta ?? null });
  } finally {
    if (running === run) running = null;
    $('cancel').hidden = true;
    btn.disabled = false;
    btn.textContent = 'Run';
  }
}

function cancelRun() {
  const run = running;
  const w = current();
  if (!run) return;
  run.cancelled = true;
  log('run', 'call cancelled by the user');
  run.stop.abort();
  if (w && w.callId === run.callId) w.bridge.sendCancelled('cancelled by the user');
  dismissQuestions(); // a question the call asked is answered `cancel`
  $('cancel').hidden = true;
}

// Development reload: re-render the current widget when its files change on disk.
try {
  const changes = new EventSource(`${location.pathname.replace(/\/$/, '')}/events`);
  changes.addEventListener('widgets-changed', (ev) => {
    let changed = [];
    try { changed = JSON.parse(ev.data).widgets || []; } catch (_) { /* ignore */ }
    log('reload', `widget files changed: ${changed.join(', ')}`);
    forgetWidgets();
    if (lastRun) runTool(lastRun.tool, lastRun.args);
  });
} catch (_) { /* no EventSource */ }

// ================================================================== controls and start-up
function savePrefs() {
  store.set(KEY.prefs, { profile: S.profile, protocol: S.protocol, theme: S.theme, displayMode: S.displayMode, locale: S.locale, maxHeight: S.maxHeight, tool: S.toolName, jsonMode: S.jsonMode, dropMeta: S.dropMeta, streamInput: S.streamInput, elicit: S.elicit });
}

function loadPrefs() {
  const p = store.get(KEY.prefs) || {};
  const q = new URLSearchParams(location.search);
  const pick = (k, ok) => { const v = q.get(k) ?? p[k]; return v !== undefined && v !== null && ok(v) ? v : undefined; };
  S.profile = pick('profile', (v) => v in PROFILES) || S.profile;
  S.protocol = pick('protocol', (v) => v === MCP_PROTOCOL || v === MCP_STATELESS) || S.protocol;
  S.theme = pick('theme', (v) => v === 'light' || v === 'dark') || (window.matchMedia && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : S.theme);
  S.displayMode = pick('displayMode', (v) => MODES.includes(v)) || S.displayMode;
  S.locale = pick('locale', (v) => /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(v)) || S.locale;
  const mh = Number(pick('maxHeight', (v) => Number(v) >= 80));
  if (mh) S.maxHeight = mh;
  S.toolName = pick('tool', (v) => typeof v === 'string') || null;
  S.jsonMode = p.jsonMode === true;
  S.dropMeta = p.dropMeta === true;
  S.streamInput = p.streamInput === true;
  S.elicit = p.elicit !== false;
}

function bindControls() {
  $('profile').value = S.profile;
  $('protocol').value = S.protocol;
  $('theme').value = S.theme;
  $('display-mode').value = S.displayMode;
  $('locale').value = S.locale;
  $('max-height').value = String(S.maxHeight);
  $('drop-meta').checked = S.dropMeta;
  $('stream-input').checked = S.streamInput;
  $('elicit').checked = S.elicit;
  $('redirect-uri').textContent = REDIRECT_URI;
  document.documentElement.dataset.theme = S.theme;
  layout();

  $('tool').addEventListener('change', (e) => selectTool(e.target.value));
  $('input-form').addEventListener('submit', (e) => { e.preventDefault(); run(); });
  $('json-mode').addEventListener('change', () => { applyJsonMode(true); savePrefs(); });
  $('profile').addEventListener('change', (e) => {
    S.profile = e.target.value;
    savePrefs();
    log('host', `host profile → ${profileOf(S.profile).label}`);
    const w = current();
    if (w && lastRun) runTool(lastRun.tool, lastRun.args);
  });
  $('protocol').addEventListener('change', (e) => {
    S.protocol = e.target.value;
    savePrefs();
    log('mcp', `protocol → ${S.protocol}`);
    mcp.use(S.protocol);
    forgetWidgets();
    connect();
  });
  $('drop-meta').addEventListener('change', (e) => { S.dropMeta = e.target.checked; savePrefs(); });
  $('stream-input').addEventListener('change', (e) => { S.streamInput = e.target.checked; savePrefs(); });
  $('elicit').addEventListener('change', (e) => {
    S.elicit = e.target.checked;
    savePrefs();
    log('mcp', `form elicitation ${S.elicit ? 'declared and answered' : 'not declared'} from now on`);
    mcp.answerElicitation(S.elicit ? askUser : null);
    connect();
  });
  bindQuestions();
  $('cancel').addEventListener('click', cancelRun);
  $('teardown').addEventListener('click', () => teardown('host control'));
  $('theme').addEventListener('change', (e) => {
    S.theme = e.target.value;
    document.documentElement.dataset.theme = S.theme;
    savePrefs();
    log('display', `theme → ${S.theme}`);
    pushContext({ theme: S.theme });
  });
  $('display-mode').addEventListener('change', (e) => { setDisplayMode(e.target.value, 'host control'); savePrefs(); });
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
  $('clear-log').addEventListener('click', clearLog);
  window.addEventListener('message', (ev) => { if (ev.origin === location.origin) onCallbackMessage(ev.data, 'window.opener'); });
  try {
    const bc = new BroadcastChannel(CHANNEL);
    bc.onmessage = (ev) => onCallbackMessage(ev.data, 'BroadcastChannel');
  } catch (_) { /* opener.postMessage still works */ }
}

async function start() {
  loadPrefs();
  auth.load();
  bindControls();
  renderAccount();
  loadProfile(); // a sign-in kept from before this page load: its name, in the background
  log('info', `host page for ${MCP_URL}`);
  mcp.use(S.protocol);
  mcp.answerElicitation(S.elicit ? askUser : null);
  const resumed = await resumeRedirectSignIn();
  const ok = await connect();
  if (ok && isObj(resumed) && resumed.tool) {
    const tool = S.tools.find((t) => t.name === resumed.tool);
    if (tool) { S.toolName = tool.name; $('tool').value = tool.name; selectTool(tool.name); runTool(tool, resumed.args || {}); }
  }
}

start();
