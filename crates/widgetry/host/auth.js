/*! Signing in like ChatGPT's account linking, as an OAuth 2.1 public client in the page:
 * RFC 9728 resource metadata → RFC 8414 discovery → RFC 7591 registration (per scope set) →
 * PKCE S256 → authorization in a popup → code back through /_widgetry/host/callback → token;
 * refresh, sign-out, the header's account label (the user's name or email from the
 * issuer's `userinfo_endpoint`, else the token's claims, else its subject) and the
 * "Sign in" banner. */
import { $, b64url, CHANNEL, compact, isObj, jwtClaims, KEY, randomToken, store } from './util.js';
import { log } from './log.js';
import { parseChallenge } from './mcp.js';
import { MCP_URL, REDIRECT_URI, S } from './state.js';

export function challengeFromResult(result) {
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

export const auth = {
  /** Runs after every sign-in and sign-out (the MCP session must start over). */
  onChange: () => {},

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
    this.onChange();
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

/** Who is signed in: the issuer's userinfo answer when it has one, else the token's
 * claims (decoded for display only), else its subject. */
export function signedInUser() {
  const t = auth.tokens;
  if (!t) return null;
  const p = isObj(t.profile) ? t.profile : {};
  const c = jwtClaims(t.id_token) || jwtClaims(t.access_token) || {};
  const a = jwtClaims(t.access_token) || {};
  const name = p.name || c.name || a.name || p.preferred_username || c.preferred_username || a.preferred_username || c.nickname || null;
  const email = p.email || c.email || a.email || null;
  const sub = p.sub || a.sub || c.sub || null;
  return { name, email, sub, scope: t.scope || a.scope || null, label: name || email || sub || 'signed in' };
}

/** Asks the issuer's userinfo endpoint who the token belongs to (for the header), when it
 * advertises one; keeps the answer with the tokens. Without one, or when it refuses, the
 * header shows what the token says. */
export async function loadProfile() {
  const t = auth.tokens;
  if (!t || !t.userinfo_endpoint || isObj(t.profile)) return;
  let res;
  try {
    res = await fetch(t.userinfo_endpoint, {
      headers: { authorization: `Bearer ${t.access_token}`, accept: 'application/json' },
      credentials: 'omit', cache: 'no-store',
    });
  } catch (e) {
    log('auth', `userinfo: could not reach ${t.userinfo_endpoint} (${e.message}); showing the token's subject`);
    return;
  }
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok || !isObj(body) || typeof body.sub !== 'string') {
    log('auth', `userinfo: ${t.userinfo_endpoint} answered HTTP ${res.status}${isObj(body) && body.error ? ` (${body.error})` : ''}; showing the token's subject`);
    return;
  }
  const claims = jwtClaims(t.access_token) || {};
  if (claims.sub && claims.sub !== body.sub) {
    log('auth', `userinfo: the answer is about ${body.sub}, not the token's ${claims.sub}; ignored`);
    return;
  }
  if (auth.tokens !== t) return; // signed out or in again meanwhile
  const profile = {};
  for (const k of ['sub', 'name', 'email', 'preferred_username']) if (typeof body[k] === 'string') profile[k] = body[k];
  auth.save(Object.assign({}, t, { profile }));
  log('auth', `userinfo: ${profile.name || profile.email || profile.sub}`, profile);
}

export function renderAccount() {
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
export function offerSignIn(challenge, reason, retry, resume) {
  S.challenge = challenge || { raw: '' };
  S.retry = retry || null;
  S.resume = resume || null;
  $('signin-reason').textContent = reason || 'This tool needs you to sign in.';
  $('signin-banner').hidden = false;
  $('signin').disabled = false;
  $('signin').textContent = 'Sign in';
  log('auth', `challenge: ${challenge && challenge.raw ? challenge.raw : '(none)'}`, challenge);
}

export function hideSignIn() {
  $('signin-banner').hidden = true;
}

/** Click on "Sign in": opens the popup now (inside the click), then runs the flow. */
export function startSignIn() {
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
    userinfo_endpoint: typeof as.userinfo_endpoint === 'string' ? as.userinfo_endpoint : null,
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

/** Drops the client registered for `issuer` (the next sign-in registers a new one). */
function forgetClient(issuer) {
  const clients = store.get(KEY.clients) || {};
  delete clients[`${issuer} ${REDIRECT_URI}`];
  store.set(KEY.clients, clients);
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
  // A client registered for fewer scopes gets invalid_scope for more: register again then.
  const covers = (c) => !scope || !isObj(c) || typeof c.scope !== 'string' || scope.split(/\s+/).every((x) => c.scope.split(/\s+/).includes(x));
  if (isObj(cached) && cached.client_id && (!cached.client_secret_expires_at || cached.client_secret_expires_at * 1000 > Date.now()) && covers(cached)) {
    log('auth', `client ${cached.client_id} (registered earlier in this tab)`);
    return cached;
  }
  if (isObj(cached) && cached.client_id && !covers(cached)) log('auth', `client ${cached.client_id} was registered for "${cached.scope}"; registering one for "${scope}"`);
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
  if (typeof body.scope !== 'string' && scope) body.scope = scope; // what it was registered for
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

export function onCallbackMessage(msg, via) {
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
    if (msg.error === 'invalid_scope' || msg.error === 'unauthorized_client') forgetClient(pending.issuer);
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
      client_id: pending.client_id, client_secret: pending.client_secret, userinfo_endpoint: pending.userinfo_endpoint || null,
    }, tokenFields(r, null)));
    await loadProfile();
    const u = signedInUser();
    log('auth', `signed in as ${u ? u.label : '?'}: access token${r.expires_in ? ` for ${r.expires_in} s` : ''}, scope "${r.scope || pending.scope}"${r.refresh_token ? ', refresh token' : ''}`,
      { token_type: r.token_type, expires_in: r.expires_in, scope: r.scope, claims: jwtClaims(r.access_token) });
    ack(true);
    auth.onChange(); // a new session carrying the token
    return true;
  } catch (e) {
    ack(false, e.message);
    throw e;
  }
}

/** Finishes a same-window sign-in (the callback page came back through sessionStorage). */
export async function resumeRedirectSignIn() {
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